//! How a kernel runs: its engine, the options of one application, and cancelling a run.

use super::*;

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
