//! The public API: compile a kernel once, apply it to many arrays, or hand its scipy-ABI
//! callback to scipy.
//!
//! By concern: [`options`] (engines, options, cancelling), `apply` (running a kernel over arrays:
//! stages, passes, the setup of a run), `region` (parts of a larger array: which positions a
//! part needs), `scipy` (the callback's context for scipy).

use crate::auto::{KeyedRow, Row};
use crate::bind::{Binding, Inputs, Made};
use crate::boundary::Mode;
use crate::check;
use crate::codegen::{self, CallbackFn, Code, RowCode, RowFn, Target};
use crate::dtype::Element;
use crate::error::{Error, ExprError};
use crate::footprint::{Footprint, MAX_DIMS};
use crate::fusion;
use crate::ir::{At, Builtin, Op, ParamDecl, Program, Sample, AXES, MAIN};
use crate::limits::{Limit, Limits};
use crate::native::Native;
use crate::plan::Plan;
use crate::planner::Planner;
use crate::runtime::CallbackContext;
use crate::schedule::{Schedule, Trace};
use crate::syntax;
use crate::window::{self, Geometry, Span};
use ndarray::{Array, ArrayD, ArrayView, ArrayViewMutD, Axis, Dimension, IxDyn, Slice};
use std::ops::Range;
use std::os::raw::c_void;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

mod apply;
pub(crate) use apply::check_origin;
mod options;
mod region;
mod scipy;

pub use options::{Cancel, Engine, Options};
pub(crate) use scipy::context_for;
pub use scipy::ScipyContext;

/// A compiled kernel expression. Compile once, apply many times, from any number of threads.
///
/// ```
/// use jitfilter::{Footprint, Kernel, Options};
/// use ndarray::Array2;
///
/// let k = Kernel::compile("let m = mean(w); (c - m) / (std(w) + 1e-9)")?;
/// let image = Array2::from_shape_fn((64, 64), |(y, x)| ((x * y) % 7) as f64);
/// let out = k.filter(image.view(), &Footprint::disk(3), &Options::default())?;
/// assert_eq!(out.dim(), (64, 64));
/// # Ok::<(), jitfilter::Error>(())
/// ```
pub struct Kernel {
    program: Arc<Program>,
    /// The callback's plan (every reduction from the window).
    plan: Arc<Plan>,
    /// The default row function's plan (planned reductions read as planes).
    row_plan: Arc<Plan>,
    /// The planes the results are, when they are nothing else: no row function is compiled.
    plane_roots: Option<Arc<[usize]>>,
    planner: Arc<Planner>,
    /// Set when the whole program is one order statistic that integer images run natively, with
    /// the input whose window it reads.
    native: Option<(Native, usize)>,
    /// The pass's code, compiled with the kernel — or on first use, for a stage that whole-array
    /// filters make in a fused pass (only pass-by-pass runs and views of the stage need it).
    code: Arc<OnceLock<Result<PassCode, Error>>>,
    /// The planner's point maps, as a program of one result each.
    map_plan: Option<Arc<Plan>>,
    /// The row function without planned reductions, compiled on first use by `Engine::Fused`.
    fused: Arc<OnceLock<Result<Code, Error>>>,
    /// The scipy-ABI callback, compiled on first use.
    callback: Arc<OnceLock<Result<Code, Error>>>,
    /// The row plan with split `exp`s, when it has values worth looking up in keyed tables on
    /// integer images, and its row function, compiled on first use.
    keyed_plan: Option<Arc<Plan>>,
    /// The keys of its keyed tables, whose ranges each stripe works out from its data, and the
    /// inputs they read.
    keys: Arc<Vec<usize>>,
    key_inputs: Arc<Vec<usize>>,
    keyed: Arc<OnceLock<Result<Code, Error>>>,
    /// The kernels of the program's stages, by name, run in order before this one.
    stages: Arc<Vec<(String, Kernel)>>,
    /// The runs of stages that fuse ([`crate::fusion`]): the stages, the range of each one's
    /// results among the fused kernel's, and that kernel. A whole-array application runs them
    /// instead of their stages.
    fused_stages: Arc<Vec<Fused>>,
    /// What it was compiled under; the footprint and code size limits also apply later.
    limits: Limits,
}

/// A pass's compiled code: `[row function (unless the results are planes), point maps (if
/// any)]`, and the row function of the planner's point maps, one result each (a pointer into
/// `code`).
struct PassCode {
    code: Code,
    map: Option<RowFn>,
}

/// A run of stages fused into one pass ([`crate::fusion`]).
struct Fused {
    /// The stages it makes (indices into the program's).
    stages: Range<usize>,
    /// Per stage, the range of its results among the kernel's.
    results: Vec<Range<usize>>,
    kernel: Kernel,
}

impl Clone for Kernel {
    fn clone(&self) -> Self {
        Kernel {
            program: self.program.clone(),
            plan: self.plan.clone(),
            row_plan: self.row_plan.clone(),
            plane_roots: self.plane_roots.clone(),
            planner: self.planner.clone(),
            native: self.native,
            code: self.code.clone(),
            map_plan: self.map_plan.clone(),
            fused: self.fused.clone(),
            callback: self.callback.clone(),
            keyed_plan: self.keyed_plan.clone(),
            keys: self.keys.clone(),
            key_inputs: self.key_inputs.clone(),
            keyed: self.keyed.clone(),
            stages: self.stages.clone(),
            fused_stages: self.fused_stages.clone(),
            limits: self.limits,
        }
    }
}

impl std::fmt::Debug for Kernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kernel")
            .field("source", &self.program.source)
            .finish()
    }
}

impl Kernel {
    /// Parses, checks and compiles `source` to native code, within the default [`Limits`].
    pub fn compile(source: &str) -> Result<Kernel, Error> {
        Kernel::compile_with(source, &Limits::default())
    }

    /// Parses, checks and compiles `source` to native code within `limits`, which the kernel
    /// keeps: [`Kernel::filter`] refuses footprints over `limits.max_footprint`.
    pub fn compile_with(source: &str, limits: &Limits) -> Result<Kernel, Error> {
        Kernel::compile_for(source, &[], limits)
    }

    /// Like [`Kernel::compile_with`], for a program that also reads the named `inputs` (given
    /// to [`Kernel::apply`] with [`Inputs::with`]); each name is that input's window, as `w` is
    /// the main input's.
    pub fn compile_for(source: &str, inputs: &[&str], limits: &Limits) -> Result<Kernel, Error> {
        for (i, name) in inputs.iter().enumerate() {
            check_input_name(name)?;
            if inputs[..i].contains(name) {
                return Err(Error::Input(format!("input `{name}` is named twice")));
            }
        }
        let depth = syntax::measure(source, limits)?;
        let program = depth.run(|| Ok(check::compile_program(source, inputs, limits)?))?;
        Kernel::from_program(program, limits)
    }

    /// Compiles a checked program, and each of its stages as a kernel of its own, each on a
    /// thread: every pass is a Cranelift module of its own, so a staged program (Harris, a
    /// guided filter) compiles in about the time of its largest pass when cores are free.
    fn from_program(program: Program, limits: &Limits) -> Result<Kernel, Error> {
        if program.stages.is_empty() {
            return Kernel::from_pass(program, limits);
        }
        let (runs, fused): (Vec<_>, Vec<_>) = fusion::groups(&program.stages)
            .into_iter()
            .filter_map(|r| {
                let (p, results) = fusion::fuse(&program.stages[r.clone()])?;
                Some((r, (p, results)))
            })
            .unzip();
        // Every stage and every fused run of stages compiles on a thread of its own.
        // A stage a fused pass makes compiles on first use (whole-array filters run the fused
        // pass; only pass-by-pass runs and views of the stage need it alone).
        let in_run = |i: usize| runs.iter().any(|r| r.contains(&i));
        let programs: Vec<(&Program, bool)> = (program.stages.iter().enumerate())
            .map(|(i, s)| (&s.program, !in_run(i)))
            .chain(fused.iter().map(|(p, _)| (p, true)))
            .collect();
        std::thread::scope(|scope| {
            let threads: Vec<_> = (programs.iter())
                .filter(|(_, now)| *now)
                .map(|&(p, _)| {
                    let compile = || Kernel::from_program(p.clone(), limits);
                    // The main thread's stack size: compiling checks what is left of it.
                    std::thread::Builder::new()
                        .name("jitfilter-compile".into())
                        .stack_size(8 << 20)
                        .spawn_scoped(scope, compile)
                        .map_err(|e| Error::Resources(format!("cannot start a thread ({e})")))
                })
                .collect::<Result<_, _>>()?;
            let mut kernel = Kernel::from_pass(program.clone(), limits)?;
            let mut compiled = (threads.into_iter())
                .map(|t| t.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
            let mut kernels: Vec<Result<Kernel, Error>> = (programs.iter())
                .map(|&(p, now)| match now {
                    true => compiled.next().expect("one result per program compiled"),
                    false => Ok(Kernel::planned(p.clone(), limits)),
                })
                .collect();
            let fused_kernels = kernels.split_off(program.stages.len());
            // A fused pass that does not compile (its code over the size limit, say) is dropped:
            // its stages run apart, compiled now, so that their own errors are reported here.
            let mut fused_runs = Vec::new();
            for ((stages, (_, results)), k) in runs.into_iter().zip(&fused).zip(fused_kernels) {
                match k {
                    Ok(kernel) => fused_runs.push(Fused {
                        stages,
                        results: results.clone(),
                        kernel,
                    }),
                    Err(_) => {
                        for i in stages {
                            let p = program.stages[i].program.clone();
                            kernels[i] = Kernel::from_program(p, limits);
                        }
                    }
                }
            }
            let kernels = kernels.into_iter().collect::<Result<Vec<_>, Error>>()?;
            let names = program.stages.iter().map(|s| s.name.clone());
            kernel.stages = Arc::new(names.zip(kernels).collect());
            kernel.fused_stages = Arc::new(fused_runs);
            Ok(kernel)
        })
    }

    /// Compiles one pass of a program: its own reductions (its stages are compiled apart, and
    /// set by the caller).
    fn from_pass(program: Program, limits: &Limits) -> Result<Kernel, Error> {
        let kernel = Kernel::planned(program, limits);
        kernel.pass_code()?;
        Ok(kernel)
    }

    /// One pass of a program, planned, its code compiled on first use.
    fn planned(program: Program, limits: &Limits) -> Kernel {
        let plan = Plan::new(&program);
        let planner = Planner::new(&program);
        let native = Native::with_input(&program);
        let row_plan = Plan::with_planes(&program, planner.planes());
        let map_plan: Option<Plan> = planner.map_program().map(Plan::new);
        let plane_roots = row_plan.plane_roots();
        let keyed_plan = row_plan.split_exps();
        let mut keys: Vec<usize> = (codegen::tables(&keyed_plan, true).keyed.iter())
            .map(|&(_, k)| k)
            .collect();
        keys.sort_unstable();
        keys.dedup();
        let key_inputs = keyed_plan.key_inputs(&keys);
        let keyed_plan = (!keys.is_empty()).then(|| Arc::new(keyed_plan));
        Kernel {
            program: Arc::new(program),
            plan: Arc::new(plan),
            row_plan: Arc::new(row_plan),
            plane_roots: plane_roots.map(Arc::from),
            planner: Arc::new(planner),
            native,
            code: Arc::new(OnceLock::new()),
            map_plan: map_plan.map(Arc::new),
            fused: Arc::new(OnceLock::new()),
            callback: Arc::new(OnceLock::new()),
            keyed_plan,
            keys: Arc::new(keys),
            key_inputs: Arc::new(key_inputs),
            keyed: Arc::new(OnceLock::new()),
            stages: Arc::new(Vec::new()),
            fused_stages: Arc::new(Vec::new()),
            limits: *limits,
        }
    }

    /// The pass's row function (unless the results are planes) and point maps, compiled on
    /// first use. The callback (scipy's ABI) is compiled apart, on its first use: `apply` never
    /// needs it.
    fn pass_code(&self) -> Result<&PassCode, Error> {
        let compile = || {
            let mut functions = Vec::new();
            if self.plane_roots.is_none() {
                functions.push((&*self.row_plan, Target::Row));
            }
            functions.extend(self.map_plan.iter().map(|p| (&**p, Target::Row)));
            let defaults: Vec<f64> = self.program.params.iter().map(|p| p.default).collect();
            let depth = codegen::depth(functions.iter().map(|(p, _)| *p));
            let code = depth.run(|| codegen::compile(&functions, &defaults, &self.limits))?;
            // Point maps (of w, numbers and params) have no element-only vectors, so their row
            // functions never read tables, which the planner does not pass them.
            let first_map = usize::from(self.plane_roots.is_none());
            let map = self.map_plan.as_ref().map(|_| code.row(first_map));
            assert!(map.iter().all(|m| m.element == 0 && m.keyed == 0));
            Ok(PassCode {
                map: map.map(|m| m.f),
                code,
            })
        };
        let code = self.code.get_or_init(compile);
        code.as_ref().map_err(Clone::clone)
    }

    /// Bytes of machine code of the kernel's row function and point maps (the callback and the
    /// fused row function, compiled on first use, are checked on their own),
    /// which `Limits::max_code_bytes` bounds.
    pub fn code_bytes(&self) -> usize {
        self.pass_code().map_or(0, |c| c.code.bytes())
    }

    /// What the planner does with each reduction, one line each (for `check` and `bench`).
    pub fn plan_summary(&self) -> Vec<String> {
        let mut lines: Vec<String> = Vec::new();
        let mut i = 0;
        while i < self.stages.len() {
            let stage = &self.program.stages[i];
            let (head, kernel, next) = match self.fused_at(i) {
                Some(f) => {
                    let names: Vec<String> = (self.program.stages[f.stages.clone()].iter())
                        .map(|s| s.name.clone())
                        .collect();
                    let over = (stage.program.footprint.as_ref())
                        .map_or(String::new(), |fp| format!(" over {fp}"));
                    let head = format!(
                        "stages {}{over}: one fused pass (shared reductions once; colour \
                         per channel runs them apart), whole images read as inputs",
                        names.join(", ")
                    );
                    (head, &f.kernel, f.stages.end)
                }
                None => {
                    let head = format!(
                        "stage {}: a whole image, then read as an input",
                        stage.heading()
                    );
                    (head, &self.stages[i].1, i + 1)
                }
            };
            lines.push(head);
            lines.extend(kernel.pass_summary().into_iter().map(|l| format!("  {l}")));
            i = next;
        }
        match &self.program.footprint {
            Some(fp) => lines.push(format!("result over {fp}:")),
            None if !self.stages.is_empty() => lines.push("result:".into()),
            None => {}
        }
        lines.extend(self.pass_summary());
        lines
    }

    /// The fused run of stages that starts at stage `i`, if one does.
    fn fused_at(&self, i: usize) -> Option<&Fused> {
        self.fused_stages.iter().find(|f| f.stages.start == i)
    }

    /// [`Kernel::plan_summary`] of this kernel's own pass (without its stages).
    fn pass_summary(&self) -> Vec<String> {
        let mut lines = self.planner.describe(&self.program);
        lines.extend(self.native.map(|(n, _)| n.describe().to_string()));
        if let Some(plan) = &self.keyed_plan {
            let t = codegen::tables(plan, true);
            lines.push(format!(
                "integer images: {} value(s) looked up in tables over the range of their key{} ({}), {} element-only value(s) tabulated",
                t.keyed.len(),
                if self.keys.len() == 1 { "" } else { "s" },
                (self.keys.iter())
                    .map(|&k| describe_key(plan, &self.program, k))
                    .collect::<Vec<_>>()
                    .join(", "),
                t.element.len()
            ));
            let native = codegen::native_passes(plan, &t).len();
            if native > 0 {
                lines.push(format!(
                    "integer images: {native} pass(es) of sums of a looked-up weight run natively, \
                     four pixels per AVX2 vector"
                ));
            }
        }
        lines
    }

    /// Per pass over the array, in order (each stage, then the result), the `at()` offsets it
    /// reads: a pass reads its footprint and these around each position, and passes add up
    /// (what a chunk of a larger array needs from its neighbours).
    pub fn pass_points(&self) -> Vec<Vec<[isize; 3]>> {
        (self.stages.iter())
            .map(|(_, k)| k.program.points())
            .chain(std::iter::once(self.program.points()))
            .collect()
    }

    /// The passes one application runs, in order: each stage (by name), then the result (named
    /// `""`), each a kernel of its own with no stages, which reads the results of the passes
    /// before it as named inputs. Running them one after another over the whole array is what
    /// [`Kernel::apply`] does (what a chunked runner needs, pass by pass).
    pub fn passes(&self) -> Vec<(String, Kernel)> {
        let mut alone = self.clone();
        let mut program = (*self.program).clone();
        program.stages.clear();
        alone.program = Arc::new(program);
        alone.stages = Arc::new(Vec::new());
        let mut passes: Vec<(String, Kernel)> = self.stages.to_vec();
        passes.push((String::new(), alone));
        passes
    }

    /// A kernel that makes stage `name` (as its result, in f64) after the stages before it.
    pub fn stage(&self, name: &str) -> Option<Kernel> {
        let i = self.stages.iter().position(|(n, _)| n == name)?;
        let mut k = self.stages[i].1.clone();
        let mut program = (*k.program).clone();
        program.stages = self.program.stages[..i].to_vec();
        k.program = Arc::new(program);
        k.stages = Arc::new(self.stages[..i].to_vec());
        Some(k)
    }

    /// The footprint the program sets for itself with `over` (`None`: the one it is applied
    /// with). Each pass of [`Kernel::passes`] has its own.
    pub fn footprint(&self) -> Option<&Footprint> {
        self.program.footprint.as_ref()
    }

    /// The footprint and options this kernel's own pass runs with: its own footprint when `over`
    /// sets one (without the origin, which is the command footprint's), else the command's.
    fn pass_footprint(&self, footprint: &Footprint, options: &Options) -> (Footprint, Options) {
        match &self.program.footprint {
            Some(own) => (own.clone(), options.clone().origin(&[])),
            None => (footprint.clone(), options.clone()),
        }
    }

    /// Whether any pass reads positions or the array's size (`x`, `width`, …): such a result
    /// changes when the array is cropped.
    pub fn reads_positions(&self) -> bool {
        (self.passes().iter()).any(|(_, pass)| {
            (pass.program.builtins_used().iter()).any(|(b, _)| {
                use crate::ir::Builtin::*;
                matches!(b, X | Y | Z | Pos(_) | Width | Height | Depth)
            })
        })
    }

    /// Whether any pass reads values at offsets (`at(X, ox, oy)`).
    fn reads_offsets(&self) -> bool {
        (self.passes().iter()).any(|(_, pass)| !pass.program.points().is_empty())
    }

    /// How far one application on an array of `shape` reads around each output position through
    /// all its passes, per axis the lowest and highest offset: a stage read at an offset reads
    /// its own footprint around there, so the passes' halos add up. Over the footprint limit
    /// (as a box) is an error: the blocks a pass reads span that box.
    pub fn reach(
        &self,
        shape: &[usize],
        footprint: &Footprint,
        options: &Options,
    ) -> Result<Vec<(isize, isize)>, Error> {
        let mut total = vec![(0, 0); shape.len()];
        for (_, pass) in self.passes() {
            let (fp, options) = pass.pass_footprint(footprint, options);
            let reach = pass.setup(shape, &fp, &options)?.geo.reach();
            for (t, (lo, hi)) in total.iter_mut().zip(reach) {
                *t = (t.0 + lo, t.1 + hi);
            }
        }
        let side = |(lo, hi): &(isize, isize)| (hi - lo) as usize + 1;
        let cells = (total.iter()).try_fold(1usize, |acc, r| acc.checked_mul(side(r)));
        if cells.is_none_or(|c| c > self.limits.max_footprint) {
            let dims: Vec<String> = total.iter().map(|r| side(r).to_string()).collect();
            return Err(Limit::Footprint
                .exceeded(
                    &self.limits,
                    format!(
                        "{} a {} box around each pixel",
                        match self.stages.is_empty() {
                            true => "the program reads",
                            false => "the passes together read",
                        },
                        dims.join("x")
                    ),
                )
                .into());
        }
        Ok(total)
    }

    pub fn source(&self) -> &str {
        &self.program.source
    }

    /// The checked program (typed IR).
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// The loop plan the code was generated from.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    pub fn params(&self) -> &[ParamDecl] {
        &self.program.params
    }

    /// The Cranelift IR of the kernel's callback, default row function and (when it has
    /// keyed tables) the row function for integer images, as text.
    pub fn cranelift_ir(&self) -> Result<String, Error> {
        codegen::depth([&*self.plan, &*self.row_plan]).run(|| {
            let callback = match self.callback_fits() {
                Ok(()) => codegen::ir_text(&self.plan, Target::Callback)?,
                Err(why) => format!("; none: {why}\n"),
            };
            let mut text = format!(
                "; scipy callback\n{callback}\n; fused row function\n{}",
                codegen::ir_text(&self.row_plan, Target::Row)?
            );
            if let Some(plan) = &self.keyed_plan {
                let keyed = codegen::ir_text(plan, Target::RowKeyed)?;
                text.push_str(&format!(
                    "\n; row function with keyed tables (integer images)\n{keyed}"
                ));
            }
            Ok(text)
        })
    }

    /// The native callback with scipy's `generic_filter` signature, compiled on the first call.
    /// Valid while this kernel (or a clone) lives. Pass a [`ScipyContext`] as `user_data`, or
    /// null when the program uses only `w`, `n`, `i` and params (which then take their
    /// defaults).
    pub fn callback(&self) -> Result<CallbackFn, Error> {
        self.callback_fits()?;
        self.lazy(&self.callback, &self.plan, Target::Callback)
            .map(|c| c.callback(0))
    }

    /// Whether the scipy ABI can carry the program: one window of `w`, one result.
    fn callback_fits(&self) -> Result<(), Error> {
        let p = &self.program;
        let why = if !p.stages.is_empty() {
            "has stages (whole images made before the result)".to_string()
        } else if let Some(f) = &p.footprint {
            format!("sets its own footprint (`over {f}`): drop the `over` and give scipy that footprint")
        } else if p.roots.len() > 1 {
            format!("returns {} values per pixel", p.roots.len())
        } else if let Some(plane) = (p.inputs.iter().skip(1)).find(|q| q.name != MAIN) {
            format!("reads the named input `{}`", plane.name)
        } else if p.indexes_channels() {
            "reads channels (`w[j]`)".to_string()
        } else if !p.points().is_empty() {
            "reads values outside the window (`at()` with an offset)".to_string()
        } else {
            return Ok(());
        };
        Err(Error::Callback(why))
    }

    /// How the auto engine makes a row: the row function reading planned reductions as planes,
    /// or a copy of the planes that are the results.
    pub(crate) fn auto_row(&self) -> Result<Row<'_>, Error> {
        Ok(match &self.plane_roots {
            Some(planes) => Row::Planes(planes),
            None => Row::Code(self.pass_code()?.code.row(0)),
        })
    }

    /// The planner's decisions, and the row functions of its point maps.
    pub(crate) fn planner(&self) -> &Planner {
        &self.planner
    }

    pub(crate) fn map(&self) -> Result<Option<RowFn>, Error> {
        Ok(self.pass_code()?.map)
    }

    /// The native form of the whole program, if it has one.
    pub(crate) fn native(&self) -> Option<(Native, usize)> {
        self.native
    }

    /// The row function without planned reductions.
    pub(crate) fn fused_row(&self) -> Result<RowCode, Error> {
        if self.planner.is_empty() {
            return Ok(self.pass_code()?.code.row(0));
        }
        Ok(self.lazy(&self.fused, &self.plan, Target::Row)?.row(0))
    }

    /// The row function with keyed tables, if the program has values worth looking up.
    pub(crate) fn keyed_row(&self) -> Result<Option<KeyedRow<'_>>, Error> {
        let Some(plan) = &self.keyed_plan else {
            return Ok(None);
        };
        Ok(Some(KeyedRow {
            code: self.lazy(&self.keyed, plan, Target::RowKeyed)?.row(0),
            plan,
            keys: &self.keys,
            inputs: &self.key_inputs,
        }))
    }

    /// The code in `cell`: `plan` compiled for `target` on first use.
    fn lazy<'a>(
        &self,
        cell: &'a OnceLock<Result<Code, Error>>,
        plan: &Plan,
        target: Target,
    ) -> Result<&'a Code, Error> {
        let code = cell.get_or_init(|| {
            let defaults: Vec<f64> = self.program.params.iter().map(|p| p.default).collect();
            codegen::depth([plan])
                .run(|| codegen::compile(&[(plan, target)], &defaults, &self.limits))
        });
        code.as_ref().map_err(Clone::clone)
    }

    /// Param values in declaration order, from defaults overridden by `given`.
    pub fn param_values(&self, given: &[(String, f64)]) -> Result<Vec<f64>, Error> {
        let mut values: Vec<f64> = self.program.params.iter().map(|p| p.default).collect();
        for (name, v) in given {
            match self.program.params.iter().position(|p| &p.name == name) {
                Some(i) => match self.program.params[i].range {
                    Some((lo, hi)) if !(lo..=hi).contains(v) => {
                        return Err(Error::ParamRange {
                            name: name.clone(),
                            value: *v,
                            lo,
                            hi,
                        })
                    }
                    _ => values[i] = *v,
                },
                None => {
                    return Err(Error::UnknownParam {
                        name: name.clone(),
                        known: self.program.params.iter().map(|p| p.name.clone()).collect(),
                    })
                }
            }
        }
        Ok(values)
    }
}

/// Everything one application needs besides the data.
pub(crate) struct Setup {
    pub geo: Geometry,
    /// The boundary mode of each geometry axis (z, y, x), and of each array axis.
    pub modes: [Mode; 3],
    pub axis_modes: Vec<Mode>,
    pub k: Vec<f64>,
    pub dx: Vec<f64>,
    pub dy: Vec<f64>,
    pub dz: Vec<f64>,
    /// Per axis `j` the program names (`pos(j)`, `d(j)`; at [`Builtin::axis_slot`]): five
    /// values — 1 or 0 for whether it is the last, second-last or third-last axis, the
    /// position along it when it is none of them (set per plane), and which of the axes
    /// folded into planes it is (-1: none) — and the offsets along it.
    ///
    /// [`Builtin::axis_slot`]: crate::ir::Builtin::axis_slot
    pub axes: Vec<f64>,
    pub d: Vec<Vec<f64>>,
    /// Width, height, depth, and the main input's channels.
    pub size: [f64; 4],
    pub params: Vec<f64>,
}

/// How a key of the keyed plan reads, e.g. `abs(w[0] - c[0]) + abs(w[1] - c[1])`.
fn describe_key(plan: &Plan, program: &Program, k: usize) -> String {
    use crate::plan::POp;
    let text = |p| describe_key(plan, program, p);
    match &plan.nodes[k].op {
        POp::Sample(s) => program.sample_text(*s),
        POp::Const(v) => format!("{v}"),
        POp::Bin(op, a, b) => format!("{} {} {}", text(*a), op.symbol(), text(*b)),
        POp::Call(f, args) => format!(
            "{}({})",
            f.name(),
            args.iter().map(|&a| text(a)).collect::<Vec<_>>().join(", ")
        ),
        _ => "?".into(),
    }
}

/// An input name must be a name of the language that means nothing else.
pub fn check_input_name(name: &str) -> Result<(), Error> {
    let ident = check::is_identifier(name);
    let reserved = check::known_names().contains(&name)
        || check::known_functions().contains(&name)
        || check::KEYWORDS.contains(&name);
    if !ident || reserved {
        return Err(Error::Input(format!(
            "`{name}` cannot name an input: {}",
            if ident {
                "it is a name of the language"
            } else {
                "use letters, digits and `_`, starting with a letter"
            }
        )));
    }
    Ok(())
}

#[allow(dead_code)]
fn assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<Kernel>();
}
