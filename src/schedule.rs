//! The schedule: what one application of a kernel runs, decided before any pixel is read. A
//! schedule is a list of passes — today exactly one, reading input 0 and writing output 0 — each
//! with its geometry and tables, its inputs and outputs (as lists), its halo, the engine that
//! computes its stripes and the path each of its reductions takes. [`Kernel::filter_as`] asks for
//! a schedule and runs it; the window loop reads a pass's input from a [`Source`] and writes its
//! output to a [`Sink`], so more inputs, stages and streaming become new passes, sources and sinks
//! here rather than special cases in the engines.
//!
//! [`Kernel::filter_as`]: crate::Kernel::filter_as

use crate::auto::{KeyedRow, Row, RowStripe, RowTables};
use crate::codegen::{CallbackFn, RowFn};
use crate::dtype::Element;
use crate::error::Error;
use crate::interp;
use crate::ir::{NodeId, Program};
use crate::kernel::{context_for, Cancel, Engine, Kernel, Options, Setup};
use crate::native::{Native, NativeStripe};
use crate::planner::{Planned, Planner};
use crate::runtime::CallbackContext;
use crate::window::{self, Gather, Halo, PixelFn, Sink, Source, Stripe, StripeFn};
use std::os::raw::c_void;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

/// How one reduction is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// The whole program natively in the image's integer type.
    Native,
    /// By the plane kernels, a whole stripe at once.
    Planned(Planned),
    /// In the fused row function, one pass over the window per pixel.
    Fused,
    /// In the scipy-ABI callback, on each gathered window.
    Callback,
    /// By the reference interpreter.
    Interpreter,
}

/// What a run did: the path each reduction took, and how many stripes of the auto engine's row
/// function read keyed tables. Tests assert it, so that a silent fallback to a slower path fails.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Trace {
    /// Per reduction of the program, in order: its source text and its path.
    pub reductions: Vec<(String, Path)>,
    /// Stripes whose row function looked values up in keyed tables.
    pub keyed_stripes: usize,
    /// Stripes whose row function ran without keyed tables (none compiled, data out of range, or
    /// split `exp` factors refused).
    pub direct_stripes: usize,
}

impl Trace {
    /// Adds what another run did (a stage's) to this trace.
    pub fn add(&mut self, other: Trace) {
        self.reductions.extend(other.reductions);
        self.keyed_stripes += other.keyed_stripes;
        self.direct_stripes += other.direct_stripes;
    }
}

/// How a pass computes its stripes.
enum StripeEngine<'k, T> {
    /// One order statistic of an input's window in the image's type, blocks padded with `T`.
    Native(Native, usize, T),
    /// The row function per output row, after the planner's planes (none for the fused engine).
    Rows {
        row: Row<'k>,
        keyed: Option<KeyedRow<'k>>,
        planner: Option<&'k Planner>,
    },
    /// Each window gathered and passed to the scipy-ABI callback.
    Callback(CallbackFn),
    Interpreter,
}

impl<T> StripeEngine<'_, T> {
    /// How this engine computes reduction node `id`.
    fn path(&self, id: NodeId) -> Path {
        match self {
            StripeEngine::Native(..) => Path::Native,
            StripeEngine::Rows {
                planner: Some(p), ..
            } => p.planned(id).map_or(Path::Fused, Path::Planned),
            StripeEngine::Rows { planner: None, .. } => Path::Fused,
            StripeEngine::Callback(_) => Path::Callback,
            StripeEngine::Interpreter => Path::Interpreter,
        }
    }
}

/// One window pass over the whole array.
pub struct Pass<'k, T> {
    program: &'k Program,
    setup: Setup,
    /// Indices of the arrays the pass reads (0: the main input) and writes (0: the result).
    pub inputs: Vec<usize>,
    pub outputs: Vec<usize>,
    engine: StripeEngine<'k, T>,
}

impl<T> Pass<'_, T> {
    /// How far the pass reads around each output position.
    pub fn halo(&self) -> Halo {
        self.setup.geo.halo
    }

    /// Per reduction node, the path it takes.
    pub fn paths(&self) -> impl Iterator<Item = (NodeId, Path)> + '_ {
        (self.program.reductions()).map(|id| (id, self.engine.path(id)))
    }
}

/// The passes of one application, in order.
pub struct Schedule<'k, T> {
    pub passes: Vec<Pass<'k, T>>,
    map: Option<RowFn>,
    cval: f64,
    threads: Option<usize>,
    cancel: Option<Cancel>,
}

impl<'k, T: Element> Schedule<'k, T> {
    /// Decides how `options.engine` runs `kernel` on an array of element type `T` under
    /// `setup`, compiling (on first use) the functions the choice needs.
    pub(crate) fn new(
        kernel: &'k Kernel,
        setup: Setup,
        options: &Options,
    ) -> Result<Schedule<'k, T>, Error> {
        let cval = options.cval;
        let has_window = !setup.geo.offsets.is_empty();
        let native = match (options.engine, kernel.native()) {
            (Engine::Auto, Some((op, input)))
                if has_window && op.holds::<T>(setup.geo.offsets.len()) =>
            {
                op.pad::<T>(cval).map(|pad| (op, input, pad))
            }
            _ => None,
        };
        // A footprint across planes alone (its cells in one row and column: a line in z)
        // makes every chord one cell in a plane of its own: the planner's sums and chord
        // statistics then scan each plane's block rows for one cell apiece, where the fused
        // row reads each cell once (`mean(w)` over 11×1×1 on a 128³ volume took 5× the fused
        // row's time, `std(w)` 9×, `median(w)` 3×).
        let offsets = &setup.geo.offsets;
        let z_line = offsets.len() > 1 && offsets.iter().all(|o| o[1..] == offsets[0][1..]);
        let planned = options.engine == Engine::Auto && !z_line;
        let engine = match options.engine {
            _ if native.is_some() => {
                let (op, input, pad) = native.expect("checked");
                StripeEngine::Native(op, input, pad)
            }
            Engine::Auto if planned => StripeEngine::Rows {
                row: kernel.auto_row()?,
                keyed: kernel.keyed_row()?,
                planner: Some(kernel.planner()),
            },
            Engine::Auto | Engine::Fused => StripeEngine::Rows {
                row: Row::Code(kernel.fused_row()?),
                keyed: None,
                planner: None,
            },
            Engine::Callback => StripeEngine::Callback(kernel.callback()?),
            Engine::Interpreter => StripeEngine::Interpreter,
        };
        let program = kernel.program();
        let pass = Pass {
            program,
            setup,
            inputs: (0..program.inputs.len()).collect(),
            outputs: (0..program.roots.len()).collect(),
            engine,
        };
        Ok(Schedule {
            passes: vec![pass],
            // The planner's point maps serve the planner alone.
            map: if planned { kernel.map()? } else { None },
            cval,
            threads: options.threads,
            cancel: options.cancel.clone(),
        })
    }

    /// Runs every pass: the inputs from `sources` (by index), the result into `sink`.
    pub fn run<O: Element>(
        &self,
        sources: &[&dyn Source<T>],
        sink: &mut (impl Sink<O> + Send),
    ) -> Result<Trace, Error> {
        let [pass] = &self.passes[..] else {
            unreachable!("one pass per schedule until stages exist")
        };
        let counts = [AtomicUsize::new(0), AtomicUsize::new(0)];
        let sources: Vec<&dyn Source<T>> = pass.inputs.iter().map(|&i| sources[i]).collect();
        let never = AtomicBool::new(false);
        let stop = self.cancel.as_ref().map_or(&never, |c| c.flag());
        let mut sink = window::Stoppable { sink, stop };
        let run = || self.run_pass(pass, &sources, &mut sink, &counts);
        in_pool(self.threads, run)?;
        if stop.load(Ordering::Relaxed) {
            return Err(Error::Cancelled);
        }
        let [keyed, direct] = counts.map(AtomicUsize::into_inner);
        Ok(Trace {
            reductions: (pass.paths())
                .map(|(id, p)| (pass.program.text(id).to_string(), p))
                .collect(),
            keyed_stripes: keyed,
            direct_stripes: direct,
        })
    }

    fn run_pass<O: Element>(
        &self,
        pass: &Pass<T>,
        sources: &[&dyn Source<T>],
        sink: &mut impl Sink<O>,
        counts: &[AtomicUsize; 2],
    ) {
        let (s, modes, cval) = (&pass.setup, pass.setup.modes, self.cval);
        let geo = &s.geo;
        match &pass.engine {
            StripeEngine::Native(op, input, pad) => {
                let f = NativeStripe(*op, *input);
                window::run_in(sources, geo, modes, *pad, |t| t, &f, sink)
            }
            StripeEngine::Rows {
                row,
                keyed,
                planner,
            } => {
                let tables = RowTables {
                    k: &s.k,
                    dx: &s.dx,
                    dy: &s.dy,
                    dz: &s.dz,
                    params: &s.params,
                    size: s.size,
                    axes: &s.axes,
                    d: &s.d,
                    outer: s.geo.outer.as_ref(),
                };
                let f = RowStripe {
                    row: *row,
                    keyed: *keyed,
                    tables,
                    planner: *planner,
                    map: self.map,
                    counts,
                    outputs: pass.outputs.len(),
                };
                window::run(sources, geo, modes, cval, &f, sink)
            }
            StripeEngine::Callback(f) => {
                let f = Gather(JitPixel { f: *f, s });
                window::run(sources, geo, modes, cval, &f, sink)
            }
            StripeEngine::Interpreter => {
                let f = InterpStripe {
                    program: pass.program,
                    s,
                };
                window::run(sources, geo, modes, cval, &f, sink)
            }
        }
    }
}

/// Runs `run` on a pool of `threads` workers. Pools are kept for later calls (building one
/// costs a thread start per worker; a few are kept, the oldest dropped first), but a pool is
/// taken out while it runs, so that calls made at the same time (Dask's worker threads) each
/// get workers of their own rather than queueing on one pool.
/// Runs `run` on `threads` workers ([`on_pool`]), or on rayon's global pool for `None`.
pub(crate) fn in_pool<R: Send>(
    threads: Option<usize>,
    run: impl FnOnce() -> R + Send,
) -> Result<R, Error> {
    match threads {
        Some(t) => on_pool(t, run),
        None => Ok(run()),
    }
}

fn on_pool<R: Send>(threads: usize, run: impl FnOnce() -> R + Send) -> Result<R, Error> {
    const KEPT: usize = 4;
    static IDLE: Mutex<Vec<(usize, rayon::ThreadPool)>> = Mutex::new(Vec::new());
    let threads = threads.max(1);
    let idle = || IDLE.lock().unwrap_or_else(|e| e.into_inner());
    let taken = {
        let mut pools = idle();
        let i = pools.iter().rposition(|(t, _)| *t == threads);
        i.map(|i| pools.remove(i).1)
    };
    let pool = match taken {
        Some(p) => p,
        None => rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| Error::Shape(format!("cannot start {threads} threads: {e}")))?,
    };
    let out = pool.install(run);
    let mut pools = idle();
    if pools.len() == KEPT {
        pools.remove(0);
    }
    pools.push((threads, pool));
    Ok(out)
}

struct JitPixel<'a> {
    f: CallbackFn,
    s: &'a Setup,
}

/// The callback's context, its `pos(j)` table and plane and pointers to `d(j)`'s (see
/// [`Setup::axes`]).
pub struct PixelContext(CallbackContext, Vec<f64>, Option<usize>, Vec<*const f64>);

impl PixelFn for JitPixel<'_> {
    type State = PixelContext;

    fn state(&self) -> PixelContext {
        // The window loop appends `c` after the window values.
        let ctx = context_for(self.s, self.s.k.len() as isize, false);
        let d = crate::runtime::table_pointers(&self.s.d).collect();
        PixelContext(ctx, self.s.axes.clone(), None, d)
    }

    #[inline]
    fn eval(&self, state: &mut PixelContext, buf: &[f64], pos: [usize; 4]) -> f64 {
        let PixelContext(ctx, axes, plane, d) = state;
        if let Some(outer) = &self.s.geo.outer {
            if *plane != Some(pos[3]) {
                outer.place(pos[3], axes);
                *plane = Some(pos[3]);
            }
        }
        (ctx.axes, ctx.d) = (axes.as_mut_ptr(), d.as_ptr());
        ctx.pos = [pos[0], pos[1], pos[2]].map(|p| p as f64);
        let mut out = f64::NAN;
        let n = buf.len() as isize - 1;
        // SAFETY: `buf` has n window values plus `c`; the context's tables have n entries and
        // outlive the call; the function has exactly this signature.
        let ok = unsafe { (self.f)(buf.as_ptr(), n, &mut out, ctx as *mut _ as *mut c_void) };
        debug_assert_eq!(ok, 1, "the window loop always passes a complete context");
        out
    }
}

/// The interpreter on each pixel: every input's window gathered in footprint order, values at
/// `at()` offsets read from the blocks.
struct InterpStripe<'a> {
    program: &'a Program,
    s: &'a Setup,
}

impl StripeFn for InterpStripe<'_> {
    type State = (Vec<Vec<f64>>, Vec<f64>, Vec<f64>);

    fn tiled(&self) -> bool {
        false
    }

    fn state(&self) -> Self::State {
        Default::default()
    }

    fn outputs(&self) -> usize {
        self.program.roots.len()
    }

    fn stripe<O: Element>(&self, (w, vals, axes): &mut Self::State, st: &Stripe, out: &mut [O]) {
        let nout = self.outputs();
        let (s, outer) = (self.s, self.s.geo.outer.as_ref());
        let axes = crate::outer::axes_at(&s.axes, outer, st.plane, axes);
        w.resize_with(st.blocks.len(), Vec::new);
        vals.resize(nout, 0.0);
        let plane = (st.bh * st.bw) as isize;
        for ry in 0..st.nrows {
            for x in 0..st.width {
                let base = ry * st.bw + x;
                for (wi, block) in w.iter_mut().zip(st.blocks) {
                    wi.clear();
                    wi.extend(st.offs.iter().map(|&o| block[base + o]));
                }
                let point = |i: usize, [z, y, dx]: [isize; 3]| {
                    let at = (base + st.coff) as isize + z * plane + y * st.bw as isize + dx;
                    st.input(i)[at as usize]
                };
                let win = interp::Window {
                    w,
                    point: &point,
                    k: &self.s.k,
                    dx: &self.s.dx,
                    dy: &self.s.dy,
                    dz: &self.s.dz,
                    pos: [st.x0 + x, st.y0 + ry, st.z].map(|p| p as f64),
                    axes,
                    d: &s.d,
                    size: self.s.size,
                    params: &self.s.params,
                };
                interp::eval(self.program, &win, vals);
                let o = &mut out[ry * st.out_stride + x * nout..][..nout];
                for (o, v) in o.iter_mut().zip(vals.iter()) {
                    *o = O::from_f64(*v);
                }
            }
        }
    }
}
