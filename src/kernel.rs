//! The public API: compile a kernel once, apply it to many arrays, or hand its scipy-ABI
//! callback to scipy.

use crate::auto::{KeyedRow, Row};
use crate::bind::{Binding, Inputs, Made};
use crate::boundary::Mode;
use crate::check;
use crate::codegen::{self, CallbackFn, Code, RowCode, RowFn, Target};
use crate::dtype::Element;
use crate::error::{Error, ExprError};
use crate::footprint::Footprint;
use crate::fusion;
use crate::ir::{At, Op, ParamDecl, Program, Sample, MAIN};
use crate::limits::{Limit, Limits};
use crate::native::Native;
use crate::plan::Plan;
use crate::planner::Planner;
use crate::runtime::CallbackContext;
use crate::schedule::{Schedule, Trace};
use crate::syntax;
use crate::window::{self, Geometry, Halo, Span, UNITS};
use ndarray::{Array, ArrayD, ArrayView, ArrayViewMutD, Axis, Dimension, IxDyn, Slice};
use std::ops::Range;
use std::os::raw::c_void;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// Which implementation evaluates the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Engine {
    /// The fastest: planned reductions as planes, the rest in the fused row function.
    #[default]
    Auto,
    /// The fused row function alone (every reduction from the window, SIMD across pixels).
    Fused,
    /// Our window loop gathering each window and calling the scipy-ABI callback.
    Callback,
    /// The reference interpreter (slow; the oracle for tests).
    Interpreter,
}

impl Engine {
    pub const ALL: [Engine; 4] = [
        Engine::Auto,
        Engine::Fused,
        Engine::Callback,
        Engine::Interpreter,
    ];
    /// The names [`FromStr`](std::str::FromStr) accepts, in the order of [`Engine::ALL`].
    pub const NAMES: [&'static str; 4] = ["auto", "fused", "callback", "interpreter"];

    pub fn name(self) -> &'static str {
        Engine::NAMES[self as usize]
    }
}

impl std::str::FromStr for Engine {
    type Err = Error;

    fn from_str(s: &str) -> Result<Engine, Error> {
        (Engine::ALL.into_iter().find(|e| e.name() == s)).ok_or_else(|| {
            Error::Shape(format!(
                "unknown engine `{s}` (expected auto, fused, callback or interpreter)"
            ))
        })
    }
}

/// The name [`FromStr`](std::str::FromStr) parses back.
impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How to apply a kernel: boundary mode, origin, params, threads.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Options {
    pub mode: Mode,
    /// Empty: `mode` on every axis; else one mode per axis of the array (scipy's mode
    /// sequences), e.g. `[Mode::Reflect, Mode::Wrap]` for a 2-D array; with `axes`, one per
    /// listed axis.
    pub modes: Vec<Mode>,
    /// Empty: the footprint applies along the array's last axes (all of them when it has the
    /// array's rank). Else the axes it applies along (scipy's `axes=`): the footprint has one
    /// dimension per listed axis (in increasing axis order, as scipy expands it), origins and
    /// modes one entry each (in the listed order); windows never cross the other axes.
    pub axes: Vec<usize>,
    /// The value outside the array for [`Mode::Constant`].
    pub cval: f64,
    /// Empty: 0 on every axis; one value: the same on every axis; else one per axis.
    pub origin: Vec<isize>,
    /// Param values by name; params not given keep their defaults.
    pub params: Vec<(String, f64)>,
    /// Worker threads; `None` uses rayon's global pool (one per core).
    pub threads: Option<usize>,
    pub engine: Engine,
    /// Set from any thread to stop the run early: it then returns [`Error::Cancelled`].
    pub cancel: Option<Cancel>,
    /// Empty: the inputs are whole arrays. Else, one entry per array axis: the inputs are a
    /// part of a larger array (a band of rows when streaming, see [`crate::stream`]; a chunk
    /// with its halo under Dask), which along axes with a [`Span`] holds the span's positions
    /// of the whole axis and computes only its `out` positions (`None`: all of the axis as
    /// given). The result equals that part of the whole array's, bit for bit.
    pub region: Vec<Option<Span>>,
}

/// A flag that stops runs early (e.g. a request superseded by a newer one): once set, the stripes
/// not yet started are skipped and the run returns [`Error::Cancelled`]. Clones share the flag.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn new() -> Cancel {
        Cancel::default()
    }
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
    pub(crate) fn flag(&self) -> &AtomicBool {
        &self.0
    }
}

/// Two `Cancel`s are equal when they share the one flag.
impl PartialEq for Cancel {
    fn eq(&self, other: &Cancel) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Options {
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }
    /// One boundary mode per axis of the array (overrides [`Options::mode`]).
    pub fn modes(mut self, modes: &[Mode]) -> Self {
        self.modes = modes.to_vec();
        self
    }
    /// The axes the footprint applies along (see [`Options::axes`]).
    pub fn axes(mut self, axes: &[usize]) -> Self {
        self.axes = axes.to_vec();
        self
    }
    pub fn cval(mut self, cval: f64) -> Self {
        self.cval = cval;
        self
    }
    pub fn origin(mut self, origin: &[isize]) -> Self {
        self.origin = origin.to_vec();
        self
    }
    pub fn param(mut self, name: &str, value: f64) -> Self {
        self.params.push((name.to_string(), value));
        self
    }
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = Some(threads);
        self
    }
    pub fn engine(mut self, engine: Engine) -> Self {
        self.engine = engine;
        self
    }
    /// Runs stop early once `cancel` is set (see [`Cancel`]).
    pub fn cancel(mut self, cancel: &Cancel) -> Self {
        self.cancel = Some(cancel.clone());
        self
    }
    /// The inputs are a band of rows of a taller 2-D image (see [`Options::region`]).
    pub fn rows(mut self, rows: Span) -> Self {
        self.region = vec![Some(rows), None];
        self
    }
    /// The inputs are a part of a larger array (see [`Options::region`]).
    pub fn region(mut self, region: Vec<Option<Span>>) -> Self {
        self.region = region;
        self
    }
}

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
                matches!(b, X | Y | Z | Width | Height | Depth)
            })
        })
    }

    /// How far one application on an array of `shape` reads around each output position through
    /// all its passes: a stage read at an offset reads its own footprint around there, so the
    /// passes' halos add up. Over the footprint limit (as a box) is an error.
    pub fn reach(
        &self,
        shape: &[usize],
        footprint: &Footprint,
        options: &Options,
    ) -> Result<Halo, Error> {
        let mut total = Halo::default();
        for (_, pass) in self.passes() {
            let (fp, options) = pass.pass_footprint(footprint, options);
            let h = pass.setup(shape, &fp, &options)?.geo.halo;
            total = Halo {
                lo: std::array::from_fn(|a| total.lo[a] + h.lo[a]),
                hi: std::array::from_fn(|a| total.hi[a] + h.hi[a]),
            };
        }
        let cells = (0..3).try_fold(1usize, |acc, a| {
            acc.checked_mul((total.hi[a] - total.lo[a]) as usize + 1)
        });
        if cells.is_none_or(|c| c > self.limits.max_footprint) {
            let dims: Vec<String> = (3 - shape.len().min(3)..3)
                .map(|a| ((total.hi[a] - total.lo[a]) + 1).to_string())
                .collect();
            return Err(Limit::Footprint
                .exceeded(
                    &self.limits,
                    format!(
                        "the passes together read a {} box around each pixel",
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

    /// Filters `input`, producing the same element type (rounded and saturated for integers).
    pub fn filter<T: Element, D: Dimension>(
        &self,
        input: ArrayView<T, D>,
        footprint: &Footprint,
        options: &Options,
    ) -> Result<Array<T, D>, Error> {
        self.filter_as(input, footprint, options)
    }

    /// Filters `input` into an array of element type `O` (e.g. f64 for the unrounded result).
    pub fn filter_as<T: Element, O: Element, D: Dimension>(
        &self,
        input: ArrayView<T, D>,
        footprint: &Footprint,
        options: &Options,
    ) -> Result<Array<O, D>, Error> {
        Ok(self.filter_traced(input, footprint, options)?.0)
    }

    /// [`Kernel::filter_as`], also returning what the run did: the path each reduction took.
    /// A program with several results or reading named inputs needs [`Kernel::apply`].
    pub fn filter_traced<T: Element, O: Element, D: Dimension>(
        &self,
        input: ArrayView<T, D>,
        footprint: &Footprint,
        options: &Options,
    ) -> Result<(Array<O, D>, Trace), Error> {
        let dim = input.raw_dim();
        let (out, trace) = self.apply_traced(&Inputs::new(input), footprint, options)?;
        let out = out.into_dimensionality::<D>().map_err(|_| {
            Error::Input(format!(
                "the program returns {} values per pixel: use Kernel::apply, whose result has a channel axis",
                self.program.roots.len()
            ))
        })?;
        debug_assert!(!options.region.is_empty() || out.raw_dim() == dim);
        Ok((out, trace))
    }

    /// Filters `inputs` (the main input, named inputs, channels) into an array of element type
    /// `O`. The result has the image's shape, plus a last axis when there are several values per
    /// pixel (a tuple result, or each channel of a multi-channel input filtered in turn).
    pub fn apply<T: Element, O: Element>(
        &self,
        inputs: &Inputs<T>,
        footprint: &Footprint,
        options: &Options,
    ) -> Result<ArrayD<O>, Error> {
        Ok(self.apply_traced(inputs, footprint, options)?.0)
    }

    /// [`Kernel::apply`], also returning what the run did (of its last run, when each channel
    /// runs in turn).
    pub fn apply_traced<T: Element, O: Element>(
        &self,
        inputs: &Inputs<T>,
        footprint: &Footprint,
        options: &Options,
    ) -> Result<(ArrayD<O>, Trace), Error> {
        self.apply_dest(inputs, footprint, options, None)
    }

    /// [`Kernel::apply_traced`] writing the result into `out` instead of a new array: no
    /// allocation, and no copy when the caller keeps its results in an array of its own (as
    /// `scipy.ndimage`'s `output=`). `out` must have the result's shape and be in C order;
    /// it must not overlap the inputs (they are read while it is written). A wrong shape or
    /// order is refused before anything is written; a run cancelled through
    /// [`Options::cancel`] leaves `out` partly written.
    ///
    /// ```
    /// use jitfilter::{Footprint, Inputs, Kernel, Options};
    /// use ndarray::Array2;
    /// let k = Kernel::compile("max(w)")?;
    /// let image = Array2::from_shape_fn((8, 8), |(y, x)| (x * y) as f64);
    /// let mut out = Array2::<f64>::zeros((8, 8));
    /// k.apply_into(&Inputs::new(image.view()), &Footprint::rect(3, 3), &Options::default(), out.view_mut().into_dyn())?;
    /// assert_eq!(out, k.filter(image.view(), &Footprint::rect(3, 3), &Options::default())?);
    /// # Ok::<(), jitfilter::Error>(())
    /// ```
    pub fn apply_into<T: Element, O: Element>(
        &self,
        inputs: &Inputs<T>,
        footprint: &Footprint,
        options: &Options,
        out: ArrayViewMutD<O>,
    ) -> Result<Trace, Error> {
        Ok(self.apply_dest(inputs, footprint, options, Some(out))?.1)
    }

    /// [`Kernel::apply_traced`], into `dest` when given (the array returned is then empty).
    fn apply_dest<T: Element, O: Element>(
        &self,
        inputs: &Inputs<T>,
        footprint: &Footprint,
        options: &Options,
        dest: Option<ArrayViewMutD<O>>,
    ) -> Result<(ArrayD<O>, Trace), Error> {
        // A pass of `passes()` reads stages `over` made by their names (`mean(w) over box:3`).
        let stage = |name: &str| (self.program.inputs.iter()).any(|p| p.name == name);
        for name in inputs.names() {
            if !stage(name) {
                check_input_name(name)?;
            }
        }
        // In a part of a larger array, per pass the positions it computes (the stages', whole
        // units of the positions their readers read).
        let outs = if options.region.is_empty() {
            if !self.stages.is_empty() {
                self.reach(inputs.shape(), footprint, options)?;
            }
            None
        } else {
            let (image, region) = region_of(&options.region, inputs.shape())?;
            let out = region.iter().map(|s| s.out.clone()).collect();
            let (held, outs) = self.region_plan(&image, footprint, options, out)?;
            for (a, (need, span)) in held.iter().zip(&region).enumerate() {
                let has = window::merge(span.held.clone());
                if let Some(r) =
                    (need.iter()).find(|r| (has.iter()).all(|h| h.start > r.start || h.end < r.end))
                {
                    return Err(Error::Shape(format!(
                        "the part does not hold positions {r:?} of axis {a}, which it reads (Kernel::needed says which)"
                    )));
                }
            }
            self.reach(&image, footprint, options)?;
            Some(outs)
        };
        if self.stages.is_empty() {
            return self.run(inputs, footprint, options, dest);
        }
        let outs = |i: usize| outs.as_ref().map(|o| &o[i][..]);
        self.param_values(&options.params)?;
        // Stages that each pick a value of their window (`min`, `max`) of an integer image are
        // exact in its type: kept in it, they run natively, and so may the pass reading them
        // (an opening's `max(e)`).
        let exact = (self.stages.iter()).all(|(_, s)| {
            s.native()
                .is_some_and(|(n, _)| n.picks_a_value() && n.pad::<T>(options.cval).is_some())
        });
        if exact && options.engine == Engine::Auto {
            let mut made: Vec<Made<T>> = Vec::new();
            let mut trace = Trace::default();
            for (i, (name, stage)) in self.stages.iter().enumerate() {
                let opts = stage.own_params(options);
                let (out, t) =
                    stage.run_over::<T, T>(&inputs.and_made(&made), footprint, &opts, outs(i))?;
                trace.add(t);
                made.push(Made::whole(name, out));
            }
            let (out, t) = self.run(&inputs.and_made(&made), footprint, options, dest)?;
            trace.add(t);
            return Ok((out, trace));
        }
        // Each stage over the whole array in turn, its result an input of what follows; in f64
        // throughout, so nothing is rounded between stages.
        let wide = inputs.to_f64();
        let mut made: Vec<Made<f64>> = Vec::new();
        let mut trace = Trace::default();
        // Fused runs of stages make all their results in one pass over the whole array (the
        // auto engine's; the others run each stage alone), when their stages all run once:
        // each indexes channels, or the image has one (per channel, each stage runs per
        // channel of its own).
        let fused = |i: usize| {
            self.fused_at(i).filter(|f| {
                let joint = (self.program.stages[f.stages.clone()].iter())
                    .all(|s| s.program.indexes_channels());
                let one_run = joint || inputs.main_channels() == 1;
                options.region.is_empty() && options.engine == Engine::Auto && one_run
            })
        };
        let mut i = 0;
        while i < self.stages.len() {
            let run = fused(i);
            let (kernel, names) = match run {
                Some(f) => (&f.kernel, f.stages.clone()),
                None => (&self.stages[i].1, i..i + 1),
            };
            let opts = kernel.own_params(options);
            // A pass of the inputs alone reads them in their own type (native paths and all).
            let reads_stages =
                (kernel.program.inputs.iter()).any(|p| made.iter().any(|m| m.name == p.name));
            let (out, t) = if reads_stages {
                kernel.run_over::<f64, f64>(&wide.view(&made), footprint, &opts, outs(i))?
            } else {
                kernel.run_over::<T, f64>(inputs, footprint, &opts, outs(i))?
            };
            trace.add(t);
            match run {
                Some(f) => {
                    let out = Rc::new(out);
                    for (k, results) in f.stages.clone().zip(&f.results) {
                        made.push(Made {
                            name: &self.stages[k].0,
                            result: out.clone(),
                            channels: Some(results.clone()),
                        });
                    }
                }
                None => made.push(Made::whole(&self.stages[i].0, out)),
            }
            i = names.end;
        }
        let (out, t) = self.run(&wide.view(&made), footprint, options, dest)?;
        trace.add(t);
        // The stages' results, read no more, serve the next application's.
        for m in made {
            if let Ok(result) = Rc::try_unwrap(m.result) {
                crate::spare::keep(result.into_raw_vec_and_offset().0);
            }
        }
        Ok((out, trace))
    }

    /// `options` with only the params this kernel declares (a stage declares those it reads).
    fn own_params(&self, options: &Options) -> Options {
        let mut opts = options.clone();
        (opts.params).retain(|(p, _)| self.params().iter().any(|d| &d.name == p));
        opts
    }

    /// The rows of the inputs that computing rows `out` of a 2-D image of `shape` reads, through
    /// every pass: a band holding them, with [`Options::rows`], computes those rows exactly as
    /// filtering the whole image would. `out` starts on a multiple of [`window::STRIPE_ROWS`].
    pub fn rows_needed(
        &self,
        shape: &[usize],
        footprint: &Footprint,
        options: &Options,
        out: Range<usize>,
    ) -> Result<Vec<Range<usize>>, Error> {
        let &[_, w] = shape else {
            return Err(Error::Shape(format!(
                "bands of rows are of 2-D images, not {}-D arrays",
                shape.len()
            )));
        };
        Ok(self
            .needed(shape, footprint, options, vec![out, 0..w])?
            .swap_remove(0))
    }

    /// Per axis, the positions of the inputs that computing positions `out` (per axis) of an
    /// array of `shape` reads, through every pass: a part holding them, with
    /// [`Options::region`], computes those positions exactly as filtering the whole array
    /// would. Each range of `out` is whole units of [`UNITS`] (from and to multiples of
    /// the unit, or to the axis's end).
    pub fn needed(
        &self,
        shape: &[usize],
        footprint: &Footprint,
        options: &Options,
        out: Vec<Range<usize>>,
    ) -> Result<Vec<Vec<Range<usize>>>, Error> {
        if out.len() != shape.len() {
            return Err(Error::Shape(format!(
                "{} ranges for a {}-D array",
                out.len(),
                shape.len()
            )));
        }
        Ok(self.region_plan(shape, footprint, options, out)?.0)
    }

    /// For the positions `out` (per axis) of an array of `shape`: per axis the positions the
    /// inputs must hold, and per pass (stages, then the result) per axis the positions it
    /// computes. A stage computes whole units ([`UNITS`]) covering the positions its readers
    /// read, so that its values equal the whole array's.
    #[allow(clippy::type_complexity)]
    fn region_plan(
        &self,
        shape: &[usize],
        footprint: &Footprint,
        options: &Options,
        out: Vec<Range<usize>>,
    ) -> Result<(Vec<Vec<Range<usize>>>, Vec<Vec<Vec<Range<usize>>>>), Error> {
        let nd = shape.len();
        let units = grid(nd)?;
        for (a, o) in out.iter().enumerate() {
            check_out(o, a, shape[a], units[a])?;
        }
        let passes = self.passes();
        let n = passes.len();
        // Per pass, per axis.
        let mut outs = vec![vec![Vec::new(); nd]; n];
        let mut needs = vec![vec![Vec::new(); nd]; n];
        outs[n - 1] = out.into_iter().map(|o| vec![o]).collect();
        for i in (0..n).rev() {
            let (name, pass) = &passes[i];
            let (fp, opts) = pass.pass_footprint(footprint, options);
            let s = pass.setup(shape, &fp, &opts)?;
            for a in 0..nd {
                if i + 1 < n {
                    let read = (i + 1..n)
                        .filter(|&j| (passes[j].1.program.inputs.iter()).any(|p| &p.name == name))
                        .flat_map(|j| needs[j][a].iter().cloned())
                        .collect();
                    outs[i][a] = window::whole_units(&window::merge(read), units[a], shape[a]);
                }
                let g = 3 + a - nd;
                let halo = (s.geo.halo.lo[g], s.geo.halo.hi[g]);
                needs[i][a] = window::positions_read(&outs[i][a], halo, s.modes[g], shape[a]);
            }
        }
        let held = (0..nd)
            .map(|a| {
                let all = needs.iter().chain(&outs).flat_map(|p| p[a].iter().cloned());
                window::merge(all.collect())
            })
            .collect();
        Ok((held, outs))
    }

    /// [`Kernel::run`]; in a part of a larger array, over each combination of `outs`' ranges
    /// per axis in turn, into an array of the part's held positions (those not computed are 0,
    /// and no reader reads them).
    fn run_over<T: Element, O: Element>(
        &self,
        inputs: &Inputs<T>,
        footprint: &Footprint,
        options: &Options,
        outs: Option<&[Vec<Range<usize>>]>,
    ) -> Result<(ArrayD<O>, Trace), Error> {
        let Some(outs) = outs else {
            return self.run(inputs, footprint, options, None);
        };
        let (_, region) = region_of(&options.region, inputs.shape())?;
        // Every combination of one range per axis (one empty run when some axis has none).
        let mut parts: Vec<Vec<Range<usize>>> = vec![Vec::new()];
        for ranges in outs {
            let ranges: Vec<Range<usize>> = match &ranges[..] {
                [] => std::iter::once(0..0).collect(),
                r => r.to_vec(),
            };
            parts = (parts.iter())
                .flat_map(|p| {
                    ranges
                        .iter()
                        .map(move |r| [&p[..], std::slice::from_ref(r)].concat())
                })
                .collect();
        }
        let mut whole: Option<ArrayD<O>> = None;
        let mut trace = Trace::default();
        for part_out in parts {
            let part_region = (region.iter().zip(&part_out))
                .map(|(s, o)| {
                    Some(Span {
                        out: o.clone(),
                        ..s.clone()
                    })
                })
                .collect();
            let part_options = options.clone().region(part_region);
            let (part, t) = self.run(inputs, footprint, &part_options, None)?;
            let whole = whole.get_or_insert_with(|| {
                let mut shape = part.shape().to_vec();
                for (d, s) in shape.iter_mut().zip(&region) {
                    *d = s.held_len();
                }
                ArrayD::from_elem(shape, O::from_f64(0.0))
            });
            let mut view = whole.view_mut();
            for (a, (s, o)) in region.iter().zip(&part_out).enumerate() {
                let at = Span::index(&s.held, o.start).unwrap_or(0);
                view.slice_axis_inplace(Axis(a), Slice::from(at..at + o.len()));
            }
            view.assign(&part);
            trace = t;
        }
        Ok((whole.expect("one run at least"), trace))
    }

    /// Applies this kernel alone (its stages' results among `inputs`), into `dest` when given
    /// (the array returned is then empty).
    fn run<T: Element, O: Element>(
        &self,
        inputs: &Inputs<T>,
        footprint: &Footprint,
        options: &Options,
        mut dest: Option<ArrayViewMutD<O>>,
    ) -> Result<(ArrayD<O>, Trace), Error> {
        let bound = Binding::new(&self.program, inputs)?;
        let (footprint, options) = &self.pass_footprint(footprint, options);
        let nd = bound.shape.len();
        let (image, region) = match &options.region[..] {
            [] => (bound.shape.clone(), Vec::new()),
            r => region_of(r, &bound.shape)?,
        };
        let mut setup = self.setup(&image, footprint, options)?;
        setup.size[3] = bound.channels as f64;
        // In a part: per axis (z, y, x) the positions held, and those computed.
        let mut held: [&[Range<usize>]; 3] = [&[]; 3];
        let mut out3: [Range<usize>; 3] = setup.geo.shape.map(|n| 0..n);
        let mut dims = [1; 3];
        dims[3 - nd..].copy_from_slice(&bound.shape);
        for (a, s) in region.iter().enumerate() {
            held[3 + a - nd] = &s.held;
            out3[3 + a - nd] = s.out.clone();
        }
        setup.geo.held_x = held[2].to_vec();
        setup.geo.out_x = out3[2].clone();
        let schedule = Schedule::<T>::new(self, setup, options)?;
        let out_dims = out3.clone().map(|r| r.len());
        let pixels = out_dims.iter().product::<usize>();
        let values = bound.runs.len() * bound.outputs;
        let mut out_shape = bound.out_shape;
        out_shape[..nd].copy_from_slice(&out_dims[3 - nd..]);
        // Every value is written by the schedule's run.
        let mut owned = Vec::new();
        let out: &mut [O] = match dest.as_mut() {
            None => {
                owned = O::buffer(pixels * values);
                &mut owned
            }
            Some(d) if d.shape() != out_shape => {
                return Err(Error::Shape(format!(
                    "the output array has shape {:?}; the result's is {out_shape:?}",
                    d.shape()
                )))
            }
            Some(d) => d.as_slice_mut().ok_or_else(|| {
                Error::Shape("the output array must be contiguous in C order".into())
            })?,
        };
        let mut trace = Trace::default();
        let mut part = Vec::new();
        for (r, planes) in bound.runs.iter().enumerate() {
            let arrays: Vec<window::Array<T>> = (planes.iter())
                .map(|p| window::Array {
                    data: &p.data,
                    step: p.step,
                    dims,
                    held: [held[0], held[1]],
                })
                .collect();
            let sources: Vec<&dyn window::Source<T>> =
                arrays.iter().map(|a| a as &dyn window::Source<T>).collect();
            // One run writes the result in place; runs per channel each fill their column.
            let target = if bound.runs.len() == 1 {
                &mut *out
            } else {
                part.resize(pixels, O::from_f64(0.0));
                &mut part
            };
            let mut sink = window::ArrayMut {
                data: target,
                shape: out_dims,
                channels: bound.outputs,
                first: [out3[0].start, out3[1].start],
            };
            trace = schedule.run(&sources, &mut sink)?;
            if bound.runs.len() > 1 {
                for (o, v) in out.iter_mut().skip(r).step_by(values).zip(&part) {
                    *o = *v;
                }
            }
        }
        if dest.is_some() {
            return Ok((
                ArrayD::from_shape_vec(IxDyn(&[0]), owned).expect("empty"),
                trace,
            ));
        }
        let out = Array::from_shape_vec(IxDyn(&out_shape), owned)
            .expect("the result has the bound shape");
        Ok((out, trace))
    }

    /// Validates shape, footprint, origin and params, and builds the tables a run needs.
    fn setup(
        &self,
        shape: &[usize],
        footprint: &Footprint,
        options: &Options,
    ) -> Result<Setup, Error> {
        let ndim = shape.len();
        grid(ndim)?;
        for (b, span) in self.program.builtins_used() {
            if let Some(axis) = b.axis_needed() {
                if axis > ndim {
                    let axis = ["x (last)", "y (second-last)", "z (third-last)"][axis - 1];
                    return Err(ExprError::NoPosition {
                        span,
                        name: b.name().into(),
                        axis,
                        ndim,
                    }
                    .into());
                }
            }
        }
        for node in &self.program.nodes {
            if let Op::Sample(Sample {
                at: At::Offset(o), ..
            }) = node.op
            {
                // o is (z, y, x): an array of ndim dimensions has the last ndim of them.
                if let Some(a) = (0..3 - ndim).find(|&a| o[a] != 0) {
                    return Err(ExprError::Type {
                        span: node.span,
                        message: format!(
                            "this offset moves along the {} axis, which a {ndim}-D array does not have",
                            ["z (third-last)", "y (second-last)"][a]
                        ),
                        hint: Some("give offsets only along the array's axes".into()),
                    }
                    .into());
                }
            }
        }
        let (fp, origin, modes) = if options.axes.is_empty() {
            let fp = footprint.resolve(ndim, &self.limits)?;
            (fp, options.origin.clone(), options.modes.clone())
        } else {
            let axes = &options.axes;
            let n = axes.len();
            if let Some(&a) = axes.iter().find(|&&a| a >= ndim) {
                return Err(Error::Shape(format!(
                    "axis {a} is out of range for a {ndim}-D array"
                )));
            }
            if (1..n).any(|i| axes[..i].contains(&axes[i])) {
                return Err(Error::Shape(format!("axes {axes:?} name an axis twice")));
            }
            let fp = footprint.resolve(n, &self.limits)?.along(axes, ndim);
            let origin = spread(&options.origin, axes, ndim, 0, "origins")?;
            let modes = spread(&options.modes, axes, ndim, options.mode, "boundary modes")?;
            (fp, origin, modes)
        };
        let origin = origin3(&origin, &fp.shape, ndim)?;
        let mut s3 = [1usize; 3];
        s3[3 - ndim..].copy_from_slice(shape);
        let geo = Geometry::new(s3, &fp, origin).reaching(&self.program.points());
        let params = self.param_values(&options.params)?;
        let modes = crate::boundary::axis_modes(options.mode, &modes, ndim)?;
        Ok(Setup {
            modes,
            dx: geo.offset_table(1),
            dy: geo.offset_table(2),
            dz: geo.offset_table(3),
            k: fp.weights,
            size: [s3[2] as f64, s3[1] as f64, s3[0] as f64, 1.0],
            geo,
            params,
        })
    }

    /// A context for using [`Kernel::callback`] under scipy's `generic_filter` on an array of
    /// `shape` with `footprint`: it carries params, the `k`/`dx`/`dy`/`dz` tables, where `c` sits
    /// in the buffer, and tracks the output position as scipy visits elements in C order.
    pub fn scipy_context(
        &self,
        shape: &[usize],
        footprint: &Footprint,
        options: &Options,
    ) -> Result<ScipyContext, Error> {
        let s = self.setup(shape, footprint, options)?;
        Ok(ScipyContext::new(s, true))
    }
}

/// The whole array's shape, and a span for every axis, of a part described by `region` whose
/// inputs are of shape `data`.
fn region_of(region: &[Option<Span>], data: &[usize]) -> Result<(Vec<usize>, Vec<Span>), Error> {
    let nd = data.len();
    let units = grid(nd)?;
    if region.len() != nd {
        return Err(Error::Shape(format!(
            "the region describes {} axes, but the inputs have {nd}",
            region.len()
        )));
    }
    let spans: Vec<Span> = (region.iter().zip(data))
        .map(|(s, &n)| s.clone().unwrap_or_else(|| Span::whole(n)))
        .collect();
    for (a, (s, &n)) in spans.iter().zip(data).enumerate() {
        if n != s.held_len() || s.held.iter().any(|r| r.end > s.len) {
            return Err(Error::Shape(format!(
                "the inputs have {n} positions along axis {a}, but the part holds {:?} of {}",
                s.held, s.len
            )));
        }
        check_out(&s.out, a, s.len, units[a])?;
        // Computed positions are read and written from where their first one is held on.
        let first = s.held.iter().find(|r| r.contains(&s.out.start));
        if !s.out.is_empty() && first.is_none_or(|r| r.end < s.out.end) {
            return Err(Error::Shape(format!(
                "the part computes positions {:?} of axis {a}, which it does not hold in one piece (the first range holding {} must hold them all)",
                s.out, s.out.start
            )));
        }
    }
    Ok((spans.iter().map(|s| s.len).collect(), spans))
}

/// The grid ([`UNITS`]) of each axis of an array of `ndim` dimensions, which must be 1 to 3.
fn grid(ndim: usize) -> Result<&'static [usize], Error> {
    if !(1..=3).contains(&ndim) {
        return Err(Error::Shape(format!(
            "arrays must have 1 to 3 dimensions, got {ndim}"
        )));
    }
    Ok(&UNITS[3 - ndim..])
}

/// Checks that `out` is whole units of `unit` of an axis of `len`.
fn check_out(out: &Range<usize>, axis: usize, len: usize, unit: usize) -> Result<(), Error> {
    let whole = |p: usize| p % unit == 0 || p == len;
    if out.end > len || !(out.is_empty() || whole(out.start) && whole(out.end)) {
        return Err(Error::Shape(format!(
            "a part computes positions of axis {axis} from and to multiples of {unit} (or the axis's end, {len}), not {out:?}"
        )));
    }
    Ok(())
}

/// Everything one application needs besides the data.
pub(crate) struct Setup {
    pub geo: Geometry,
    /// The boundary mode of each geometry axis (z, y, x).
    pub modes: [Mode; 3],
    pub k: Vec<f64>,
    pub dx: Vec<f64>,
    pub dy: Vec<f64>,
    pub dz: Vec<f64>,
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

/// Converts the user's origin (none, one for all axes, or one per axis) to 3-D, checking scipy's
/// limits: for a footprint of size f, `-(f/2) <= origin <= (f-1)/2`.
/// Values given per listed axis (none, one for all, or one each) spread over an array's `ndim`
/// axes, `fill` on the others — scipy's `_expand_origin`/`_expand_mode`, which keep a list that
/// names every axis as given.
fn spread<T: Copy>(
    given: &[T],
    axes: &[usize],
    ndim: usize,
    fill: T,
    what: &str,
) -> Result<Vec<T>, Error> {
    let n = axes.len();
    match given.len() {
        0 => Ok(Vec::new()),
        l if l == n && n == ndim => Ok(given.to_vec()),
        l if l == 1 || l == n => {
            let mut out = vec![fill; ndim];
            for (j, &a) in axes.iter().enumerate() {
                out[a] = given[if l == 1 { 0 } else { j }];
            }
            Ok(out)
        }
        l => Err(Error::Shape(format!("{l} {what} given for {n} axes"))),
    }
}

fn origin3(origin: &[isize], fshape: &[usize; 3], ndim: usize) -> Result<[isize; 3], Error> {
    let per_axis: Vec<isize> = match origin.len() {
        0 => vec![0; ndim],
        1 => vec![origin[0]; ndim],
        l if l == ndim => origin.to_vec(),
        l => {
            return Err(Error::Shape(format!(
                "{l} origins given for a {ndim}-D array"
            )))
        }
    };
    let mut o3 = [0isize; 3];
    for (a, &o) in per_axis.iter().enumerate() {
        let size = fshape[3 - ndim + a];
        let (min, max) = (-((size / 2) as isize), ((size as isize) - 1) / 2);
        if o < min || o > max {
            return Err(Error::Origin {
                axis: a,
                origin: o,
                size,
                min,
                max,
            });
        }
        o3[3 - ndim + a] = o;
    }
    Ok(o3)
}

/// The `user_data` for the scipy callback, with the tables it points to.
pub struct ScipyContext {
    ctx: Box<CallbackContext>,
    _setup: Box<Setup>,
}

// SAFETY: the raw pointers in `ctx` point into `_setup`, which is owned, immutable and moves
// with it.
unsafe impl Send for ScipyContext {}

impl ScipyContext {
    fn new(setup: Setup, track: bool) -> ScipyContext {
        let setup = Box::new(setup);
        let ctx = Box::new(context_for(
            &setup,
            setup.geo.center_index().map_or(-1, |c| c as isize),
            track,
        ));
        ScipyContext { ctx, _setup: setup }
    }

    /// The pointer to pass as `user_data`.
    pub fn as_ptr(&mut self) -> *mut c_void {
        (&mut *self.ctx) as *mut CallbackContext as *mut c_void
    }

    /// Restarts position tracking at the first element.
    pub fn reset(&mut self) {
        self.ctx.counter = 0;
    }
}

pub(crate) fn context_for(s: &Setup, c_index: isize, track: bool) -> CallbackContext {
    let [d, h, w] = s.geo.shape;
    CallbackContext {
        params: s.params.as_ptr(),
        n_params: s.params.len() as isize,
        footprint_size: s.k.len() as isize,
        k: s.k.as_ptr(),
        dx: s.dx.as_ptr(),
        dy: s.dy.as_ptr(),
        dz: s.dz.as_ptr(),
        c_index,
        pos: [0.0; 3],
        size: s.size,
        shape: [d as isize, h as isize, w as isize],
        counter: 0,
        track: track as isize,
        has_shape: 1,
    }
}

#[allow(dead_code)]
fn assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<Kernel>();
}
