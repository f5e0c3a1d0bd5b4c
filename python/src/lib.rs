//! `jitfilter._jitfilter`: the native half of the Python package.
//!
//! This module is deliberately thin and strict. It takes arrays of the engine's six dtypes, a
//! footprint as a float64 weights array, and a validated mode string; the Python half
//! (`jitfilter/__init__.py`) turns scipy's keyword conventions (`size`, `footprint`, `output`,
//! `origin`, other dtypes) into these. Filtering runs with the GIL released.

use jitfilter::window::Span;
use jitfilter::{
    Engine, Error, ExprError, Footprint, Inputs, Kernel, Limits, Mode, Options, ScipyContext,
};
use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn};
use numpy::{
    Element as NpElement, IntoPyArray, PyArrayDescrMethods, PyArrayDyn, PyArrayMethods,
    PyReadonlyArrayDyn, PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyDict};
use std::ffi::{c_void, CStr};
use std::ptr::NonNull;
use std::sync::Mutex;

pyo3::create_exception!(
    jitfilter,
    KernelError,
    PyValueError,
    "An error in a kernel expression. The message shows the offending line with a caret under \
     the column, and a hint. Attributes: source, message, hint, lineno, offset, end_offset \
     (1-based, in characters, like SyntaxError), text (the offending line), start, end (character \
     offsets into source)."
);

/// The capsule name scipy reads as the callback's signature (one of those `generic_filter`
/// accepts).
const SIGNATURE: &CStr = c"int (double *, npy_intp, double *, void *)";
const USER_DATA: &CStr = c"jitfilter.user_data";

/// Renders an expression error rustc-style: message, the offending line with its number, carets
/// under the span, and the hint. Returns the text and the location attributes.
struct Rendered {
    text: String,
    message: String,
    hint: Option<String>,
    lineno: usize,
    offset: usize,
    end_offset: usize,
    line: String,
    start: usize,
    end: usize,
}

fn render(source: &str, e: &ExprError) -> Rendered {
    let at = e.span().locate(source);
    let message = e.to_string();
    let hint = e.hint();
    let num = at.line.to_string();
    let pad = " ".repeat(num.len());
    let mut text = format!(
        "{message}\n{pad} --> line {num}, column {}\n{pad} |\n{num} | {}\n{pad} | {}{}",
        at.column + 1,
        at.text,
        at.indent(),
        "^".repeat(at.width)
    );
    if let Some(h) = &hint {
        text.push_str(&format!("\n{pad} = hint: {h}"));
    }
    if let ExprError::UnknownName { name, .. } = e {
        // The one error a Python caller fixes outside the program: an input image it forgot to
        // declare.
        text.push_str(&format!(
            "\n{pad} = note: if `{name}` is an input image, declare it when compiling: \
             jitfilter.compile(source, inputs=(\"{name}\",)) and pass it with \
             filter(..., inputs={{\"{name}\": array}})"
        ));
    }
    Rendered {
        text,
        message,
        hint,
        lineno: at.line,
        offset: at.column + 1,
        end_offset: at.column + 1 + at.width,
        line: at.text.to_string(),
        start: source[..at.span.start].chars().count(),
        end: source[..at.span.end].chars().count(),
    }
}

fn kernel_error(py: Python<'_>, source: &str, e: &ExprError) -> PyErr {
    let r = render(source, e);
    let err = KernelError::new_err(r.text);
    let v = err.value(py);
    let set = || -> PyResult<()> {
        v.setattr("source", source)?;
        v.setattr("message", r.message)?;
        v.setattr("hint", r.hint)?;
        v.setattr("lineno", r.lineno)?;
        v.setattr("offset", r.offset)?;
        v.setattr("end_offset", r.end_offset)?;
        v.setattr("text", r.line)?;
        v.setattr("start", r.start)?;
        v.setattr("end", r.end)?;
        Ok(())
    };
    match set() {
        Ok(()) => err,
        Err(e) => e,
    }
}

fn to_py(py: Python<'_>, source: &str, e: Error) -> PyErr {
    match e {
        Error::Expr(x) => kernel_error(py, source, &x),
        Error::Codegen(_) => PyRuntimeError::new_err(e.to_string()),
        _ => PyValueError::new_err(e.to_string()),
    }
}

/// `"auto"` (the core's default: the planner, else the fused row function), `"fused"`,
/// `"callback"` (our window loop calling the scipy-ABI callback, bit-identical to scipy's
/// `generic_filter` with it) or `"interpreter"` (the slow reference).
fn parse_engine(s: &str) -> PyResult<Engine> {
    s.parse::<Engine>()
        .map_err(|e| PyValueError::new_err(e.to_string()))
}

#[allow(clippy::too_many_arguments)]
fn options(
    py: Python<'_>,
    source: &str,
    mode: &str,
    cval: f64,
    origin: Vec<isize>,
    params: Vec<(String, f64)>,
    threads: Option<usize>,
    engine: &str,
) -> PyResult<Options> {
    // One mode, or one per axis joined by commas (the Python side checks the count).
    let modes = jitfilter::boundary::parse_modes(mode).map_err(|e| to_py(py, source, e))?;
    let o = match modes.as_slice() {
        [mode] => Options::default().mode(*mode),
        modes => Options::default().modes(modes),
    };
    let mut o = o.cval(cval).origin(&origin);
    o.params = params;
    o.threads = threads;
    o.engine = parse_engine(engine)?;
    Ok(o)
}

fn footprint(weights: &PyReadonlyArrayDyn<'_, f64>) -> Footprint {
    Footprint::from_weights(weights.as_array())
}

/// One axis of `Options::region`: the axis's length, the ranges held, the range computed.
type PySpan = (usize, Vec<(usize, usize)>, (usize, usize));

/// A compiled kernel (the native object behind `jitfilter.Kernel`), or one pass of one
/// (`passes()`).
#[pyclass(name = "_Kernel", module = "jitfilter._jitfilter", frozen)]
struct PyKernel {
    kernel: Kernel,
    /// The named inputs it is given: those declared when compiling, in order, then (for a pass)
    /// the names of the passes before it.
    inputs: Vec<String>,
    /// For a pass: the names of the passes before it, whose results it reads as inputs.
    stages: Vec<String>,
}

/// The engine's element types, as numpy names, in the order `filter` dispatches on.
const DTYPES: [&str; 6] = ["uint8", "uint16", "int16", "int32", "float32", "float64"];

/// The arrays of one application: the main input and the named inputs (all of one dtype, which
/// the Python half ensures), whether the main input's last axis is channels, and the names of
/// earlier passes' results among the named inputs (a result with an axis more than the image
/// holds its values per pixel along it, as the core hands them from pass to pass).
struct Arrays<'a, 'py> {
    main: &'a Given<'py>,
    named: &'a [(String, Given<'py>)],
    /// The grid the arrays given in pieces are cut on (their first axes).
    grid: &'a [usize],
    channels: bool,
    stages: &'a [String],
    /// The array to write the result into (of the output dtype; it must not overlap the
    /// inputs), or none for a new one.
    into: Option<&'a Bound<'py, PyUntypedArray>>,
}

/// An input as given: one array, or the pieces of one on the grid (a list of arrays in C order
/// over it: a Dask chunk and its neighbours' edges, read where they lie).
enum Given<'py> {
    One(Bound<'py, PyUntypedArray>),
    Pieces(Vec<Bound<'py, PyUntypedArray>>),
}

impl<'py> Given<'py> {
    fn new(obj: &Bound<'py, PyAny>, what: &str) -> PyResult<Self> {
        if let Ok(a) = obj.cast::<PyUntypedArray>() {
            return Ok(Given::One(a.clone()));
        }
        let parts: Vec<Bound<'py, PyAny>> = obj.extract().map_err(|_| {
            PyTypeError::new_err(format!(
                "{what} must be a numpy array or a list of its pieces"
            ))
        })?;
        let parts = (parts.iter())
            .map(|p| p.cast::<PyUntypedArray>().cloned())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| {
                PyTypeError::new_err(format!("the pieces of {what} must be numpy arrays"))
            })?;
        if parts.is_empty() {
            return Err(PyValueError::new_err(format!("{what} has no pieces")));
        }
        Ok(Given::Pieces(parts))
    }

    /// The array, or the first piece (all share the dtype).
    fn first(&self) -> &Bound<'py, PyUntypedArray> {
        match self {
            Given::One(a) => a,
            Given::Pieces(p) => &p[0],
        }
    }

    /// Its arrays, read as `T` (`what` names it in the error for another dtype).
    fn read<T: NpElement + jitfilter::Element>(
        &self,
        what: impl Fn() -> String,
    ) -> PyResult<Vec<PyReadonlyArrayDyn<'py, T>>> {
        let all = match self {
            Given::One(a) => std::slice::from_ref(a),
            Given::Pieces(p) => &p[..],
        };
        (all.iter())
            .map(|a| {
                let typed = a.cast::<PyArrayDyn<T>>().map_err(|_| {
                    PyTypeError::new_err(format!("{} has dtype {}", what(), a.dtype()))
                })?;
                Ok(typed.try_readonly()?)
            })
            .collect()
    }
}

/// The arrays `ro` guards, as views.
fn views<'a, T: NpElement>(ro: &'a [PyReadonlyArrayDyn<'_, T>]) -> Vec<ArrayViewD<'a, T>> {
    ro.iter().map(|r| r.as_array()).collect()
}

/// The planes of `a` along its last axis.
fn planes<'a, T>(a: ArrayViewD<'a, T>) -> Vec<ArrayViewD<'a, T>> {
    let last = Axis(a.ndim() - 1);
    (0..a.len_of(last))
        .map(|j| a.clone().index_axis_move(last, j))
        .collect()
}

fn run_typed<'py, T, O>(
    py: Python<'py>,
    k: &Kernel,
    arrays: &Arrays<'_, 'py>,
    fp: &Footprint,
    opts: &Options,
) -> PyResult<Bound<'py, PyAny>>
where
    T: jitfilter::Element + NpElement,
    O: jitfilter::Element + NpElement,
{
    let main = arrays.main.read::<T>(|| "the image".into())?;
    let image_dtype = arrays.main.first().dtype();
    let mut named = Vec::with_capacity(arrays.named.len());
    for (name, a) in arrays.named {
        let ro = a.read::<T>(|| {
            format!("input `{name}` has dtype {}, but the image has {image_dtype} (all inputs share one dtype)", a.first().dtype())
        })?;
        named.push((name.as_str(), matches!(a, Given::Pieces(_)), ro));
    }
    let fail = |e: Error| to_py(py, k.source(), e);
    let image_ndim = main[0].ndim() - usize::from(arrays.channels);
    let mut inputs = match arrays.main {
        Given::One(_) => Inputs::new(main[0].as_array()),
        Given::Pieces(_) => Inputs::pieces(arrays.grid, views(&main)).map_err(fail)?,
    };
    for (name, pieces, ro) in &named {
        let stage = arrays.stages.iter().any(|s| s == name);
        inputs = if *pieces {
            inputs
                .with_pieces(name, arrays.grid, views(ro))
                .map_err(fail)?
        } else if stage && ro[0].ndim() == image_ndim + 1 {
            inputs.with_planes(name, planes(ro[0].as_array()))
        } else {
            inputs.with(name, ro[0].as_array())
        };
    }
    if arrays.channels {
        inputs = inputs.channels();
    }
    let result = match arrays.into {
        None => py
            .detach(|| k.apply::<T, O>(&inputs, fp, opts))
            .map_err(fail)
            .and_then(|a| recycled(py, a)),
        Some(dest) => {
            let typed = dest.cast::<PyArrayDyn<O>>()?;
            let mut rw = typed.try_readwrite()?;
            let view = rw.as_array_mut();
            py.detach(|| k.apply_into::<T, O>(&inputs, fp, opts, view))
                .map(|_| dest.clone().into_any())
                .map_err(fail)
        }
    };
    drop(inputs);
    drop(named);
    drop(main);
    result
}

/// The base object of a result array made here: when numpy frees the array, its values go
/// back to the core's kept results (`Element::recycle`), so that the next result of its size
/// is neither allocated nor faulted in afresh (under Dask's workers every freed result went
/// back to the system).
#[pyclass(name = "_Result", module = "jitfilter._jitfilter", frozen)]
struct Recycled(Mutex<Option<Box<dyn FnOnce() + Send>>>);

impl Drop for Recycled {
    fn drop(&mut self) {
        let give_back = self.0.get_mut().map(Option::take);
        if let Ok(Some(give_back)) = give_back {
            give_back();
        }
    }
}

/// `a` as a numpy array owning its values through a [`Recycled`].
fn recycled<'py, O: jitfilter::Element + NpElement>(
    py: Python<'py>,
    a: ArrayD<O>,
) -> PyResult<Bound<'py, PyAny>> {
    if a.is_empty() || !a.is_standard_layout() {
        return Ok(a.into_pyarray(py).into_any());
    }
    let (shape, first) = (a.raw_dim(), a.as_ptr());
    let (values, _) = a.into_raw_vec_and_offset();
    // SAFETY: the view is the array's own (a standard-layout array of `shape` from its first
    // element, inside `values`); the vector's heap memory stays where it is when the vector
    // moves into the owner, which frees (recycles) it only when numpy drops its array.
    let view = unsafe { ArrayViewD::from_shape_ptr(shape, first) };
    let owner = Bound::new(
        py,
        Recycled(Mutex::new(Some(Box::new(move || O::recycle(values))))),
    )?;
    // SAFETY: `owner` becomes the array's base object, which keeps the values alive.
    Ok(unsafe { PyArrayDyn::borrow_from_array(&view, owner.into_any()) }.into_any())
}

macro_rules! dispatch_out {
    ($py:expr, $k:expr, $arrays:expr, $fp:expr, $opts:expr, $T:ty, $out:expr) => {
        match $out {
            "uint8" => run_typed::<$T, u8>($py, $k, $arrays, $fp, $opts),
            "uint16" => run_typed::<$T, u16>($py, $k, $arrays, $fp, $opts),
            "int16" => run_typed::<$T, i16>($py, $k, $arrays, $fp, $opts),
            "int32" => run_typed::<$T, i32>($py, $k, $arrays, $fp, $opts),
            "float32" => run_typed::<$T, f32>($py, $k, $arrays, $fp, $opts),
            "float64" => run_typed::<$T, f64>($py, $k, $arrays, $fp, $opts),
            other => Err(PyTypeError::new_err(format!(
                "output dtype {other} is not one of {DTYPES:?}"
            ))),
        }
    };
}

fn dtype_name<'py>(py: Python<'py>, a: &Bound<'py, PyUntypedArray>) -> Option<&'static str> {
    let d = a.dtype();
    macro_rules! check {
        ($($t:ty => $n:expr),*) => {$(
            if d.is_equiv_to(&numpy::dtype::<$t>(py)) { return Some($n); }
        )*};
    }
    check!(u8 => "uint8", u16 => "uint16", i16 => "int16", i32 => "int32", f32 => "float32",
           f64 => "float64");
    None
}

#[pymethods]
impl PyKernel {
    /// Parses, checks and compiles `source`, which may read the named `inputs` besides `w`.
    /// Raises KernelError with the caret text.
    #[new]
    #[pyo3(signature = (source, inputs = Vec::new()))]
    fn new(py: Python<'_>, source: &str, inputs: Vec<String>) -> PyResult<Self> {
        let names: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let kernel = py
            .detach(|| Kernel::compile_for(source, &names, &Limits::default()))
            .map_err(|e| to_py(py, source, e))?;
        Ok(PyKernel {
            kernel,
            inputs,
            stages: Vec::new(),
        })
    }

    #[getter]
    fn source(&self) -> &str {
        self.kernel.source()
    }

    /// The named inputs declared when compiling, in order.
    #[getter]
    fn inputs(&self) -> Vec<String> {
        self.inputs.clone()
    }

    /// The declared params as (name, default) pairs, in declaration order.
    #[getter]
    fn params(&self) -> Vec<(String, f64)> {
        self.kernel
            .params()
            .iter()
            .map(|p| (p.name.clone(), p.default))
            .collect()
    }

    /// The declared ranges of the params declared with one (`param k = 0.3 in 0 .. 1;`), by
    /// name: values outside them are refused.
    #[getter]
    fn param_ranges(&self) -> std::collections::HashMap<String, (f64, f64)> {
        (self.kernel.params().iter())
            .filter_map(|p| Some((p.name.clone(), p.range?)))
            .collect()
    }

    /// The names of the language the program reads, in order of first use (`w`, `c`, `k`,
    /// `dx`, `x`, `width`, a named input `g`, `w[0]`, `at(g, 1, 0)`, ...).
    #[getter]
    fn builtins(&self) -> Vec<String> {
        self.kernel.program().names_used()
    }

    /// The input planes the program reads, as (name, channel or None); the first is `w`.
    #[getter]
    fn planes(&self) -> Vec<(String, Option<usize>)> {
        (self.kernel.program().inputs.iter())
            .map(|p| (p.name.clone(), p.channel))
            .collect()
    }

    /// Values per pixel (the items of a tuple result; 1 otherwise).
    #[getter]
    fn outputs(&self) -> usize {
        self.kernel.program().roots.len()
    }

    /// Whether the program indexes channels (`w[j]`, `c[j]`): it then sees them jointly.
    #[getter]
    fn indexes_channels(&self) -> bool {
        self.kernel.program().indexes_channels()
    }

    /// The constant offsets of `at()`, as (z, y, x): (third-last, second-last, last axis).
    #[getter]
    fn points(&self) -> Vec<(isize, isize, isize)> {
        (self.kernel.program().points().iter())
            .map(|p| (p[0], p[1], p[2]))
            .collect()
    }

    /// Per pass over the array (each `stage`, then the result), its `at()` offsets as (z, y, x):
    /// passes' halos add up.
    #[getter]
    fn pass_points(&self) -> Vec<Vec<(isize, isize, isize)>> {
        (self.kernel.pass_points().iter())
            .map(|pass| pass.iter().map(|p| (p[0], p[1], p[2])).collect())
            .collect()
    }

    /// The passes of one application, in order, as (name, kernel): each stage by its name
    /// (`mean(w) over box:3` for one `over` made), then the result (named ""). Each pass is a
    /// kernel without stages that reads the results of the passes before it as named inputs
    /// (by their names; a result with several values per pixel as an array with a last axis of
    /// them). A program without stages is one pass.
    fn passes(&self) -> Vec<(String, PyKernel)> {
        let passes = self.kernel.passes();
        let names: Vec<String> = passes.iter().map(|(n, _)| n.clone()).collect();
        (passes.into_iter().enumerate())
            .map(|(i, (name, kernel))| {
                let mut inputs = self.inputs.clone();
                inputs.extend(names[..i].iter().cloned());
                let stages = [self.stages.as_slice(), &names[..i]].concat();
                (
                    name,
                    PyKernel {
                        kernel,
                        inputs,
                        stages,
                    },
                )
            })
            .collect()
    }

    /// The footprint the program sets for itself with `over`, as its spec (`disk:5`), or None
    /// (the one given when filtering). For a staged program: the result's.
    #[getter]
    fn footprint(&self) -> Option<String> {
        self.kernel.footprint().map(|f| f.to_string())
    }

    /// The program's own footprint (`over`) made concrete for an array of `ndim` axes, as a
    /// float64 weights array (0 outside the footprint; a 2-D footprint in 3-D has a leading axis
    /// of 1), or None when it has none.
    fn own_footprint<'py>(
        &self,
        py: Python<'py>,
        ndim: usize,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let Some(fp) = self.kernel.footprint() else {
            return Ok(None);
        };
        if !(1..=jitfilter::footprint::MAX_DIMS).contains(&ndim) {
            return Err(PyValueError::new_err(format!(
                "arrays must have 1 to {} dimensions, got {ndim}",
                jitfilter::footprint::MAX_DIMS
            )));
        }
        let r = fp
            .resolve(ndim, &Limits::default())
            .map_err(|e| to_py(py, self.kernel.source(), e))?;
        let mut dense = vec![0.0; r.shape.iter().product()];
        for (&cell, &w) in r.cells.iter().zip(&r.weights) {
            dense[cell] = w;
        }
        let dense = ArrayD::from_shape_vec(IxDyn(&r.shape), dense).expect("the box's cells");
        Ok(Some(dense.into_pyarray(py).into_any()))
    }

    /// What the planner does with each reduction, one line each.
    #[getter]
    fn plan_summary(&self) -> Vec<String> {
        self.kernel.plan_summary()
    }

    /// The address of the native callback `int f(double *, npy_intp, double *, void *)`.
    #[getter]
    fn callback_address(&self, py: Python<'_>) -> PyResult<usize> {
        let k = &self.kernel;
        Ok(k.callback().map_err(|e| to_py(py, k.source(), e))? as usize)
    }

    /// Cranelift IR of the kernel, as text.
    fn cranelift_ir(&self, py: Python<'_>) -> PyResult<String> {
        // A safety net: should the core's IR dump panic, a Python caller gets a RuntimeError
        // instead of an abort.
        let k = &self.kernel;
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| k.cranelift_ir())) {
            Ok(r) => r.map_err(|e| to_py(py, k.source(), e)),
            Err(p) => Err(PyRuntimeError::new_err(format!(
                "the core panicked while printing the IR: {}",
                p.downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_default()
            ))),
        }
    }

    /// Filters `input` (an array of one of the engine's dtypes, 1-D to 3-D, any strides) into a
    /// new array of dtype `out`. `footprint` is a float64 weights array (nonzero = in the window;
    /// the values are `k`). `inputs` are the named inputs as (name, array) pairs, of `input`'s
    /// dtype; with `channels`, `input`'s last axis is channels (and a named input's, when it has
    /// one more axis than the image). The result has the image's shape, plus a last axis when
    /// there are several values per pixel or `channels` is set. `region`, if not empty, says
    /// per image axis which part of a larger array the inputs are (`None`: all of the axis), as
    /// `(length, held ranges, computed range)` (see `Options::region`); the result is then the
    /// computed part. `into`, if given, is an array of dtype `out` and the result's shape, in C
    /// order and not overlapping the inputs: the result is written there and it is returned.
    /// `input` and each named input may be given in pieces, as a list of arrays in C order over
    /// a grid of `grid[a]` pieces along axis `a` (see `Inputs::pieces`): a part of a larger array
    /// read where its pieces lie (a Dask chunk and its neighbours' edges).
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (input, footprint, out, mode, cval, origin, params, threads, engine, inputs = Vec::new(), channels = false, axes = Vec::new(), region = Vec::new(), into = None, grid = Vec::new()))]
    fn filter<'py>(
        &self,
        py: Python<'py>,
        input: &Bound<'py, PyAny>,
        footprint: PyReadonlyArrayDyn<'py, f64>,
        out: &str,
        mode: &str,
        cval: f64,
        origin: Vec<isize>,
        params: Vec<(String, f64)>,
        threads: Option<usize>,
        engine: &str,
        inputs: Vec<(String, Bound<'py, PyAny>)>,
        channels: bool,
        axes: Vec<usize>,
        region: Vec<Option<PySpan>>,
        into: Option<Bound<'py, PyUntypedArray>>,
        grid: Vec<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let input = Given::new(input, "the image")?;
        let inputs = (inputs.iter())
            .map(|(n, a)| Ok((n.clone(), Given::new(a, &format!("input `{n}`"))?)))
            .collect::<PyResult<Vec<_>>>()?;
        let k = &self.kernel;
        let opts = options(py, k.source(), mode, cval, origin, params, threads, engine)?;
        let range = |(a, b): (usize, usize)| a..b;
        let region = (region.into_iter())
            .map(|s| {
                s.map(|(len, held, out)| Span {
                    len,
                    held: held.into_iter().map(range).collect(),
                    out: range(out),
                })
            })
            .collect();
        let opts = opts.axes(&axes).region(region);
        let fp = self::footprint(&footprint);
        let inp = dtype_name(py, input.first()).ok_or_else(|| {
            PyTypeError::new_err(format!(
                "input dtype {} is not one of {DTYPES:?} (native byte order)",
                input.first().dtype()
            ))
        })?;
        let arrays = Arrays {
            main: &input,
            named: &inputs,
            grid: &grid,
            channels,
            stages: &self.stages,
            into: into.as_ref(),
        };
        let a = &arrays;
        match inp {
            "uint8" => dispatch_out!(py, k, a, &fp, &opts, u8, out),
            "uint16" => dispatch_out!(py, k, a, &fp, &opts, u16, out),
            "int16" => dispatch_out!(py, k, a, &fp, &opts, i16, out),
            "int32" => dispatch_out!(py, k, a, &fp, &opts, i32, out),
            "float32" => dispatch_out!(py, k, a, &fp, &opts, f32, out),
            _ => dispatch_out!(py, k, a, &fp, &opts, f64, out),
        }
    }

    /// A context for the callback under scipy's `generic_filter` on an array of `shape`.
    #[pyo3(signature = (shape, footprint, origin, params))]
    fn scipy_context(
        &self,
        py: Python<'_>,
        shape: Vec<usize>,
        footprint: PyReadonlyArrayDyn<'_, f64>,
        origin: Vec<isize>,
        params: Vec<(String, f64)>,
    ) -> PyResult<PyScipyContext> {
        let k = &self.kernel;
        let opts = options(py, k.source(), "reflect", 0.0, origin, params, None, "auto")?;
        let fp = self::footprint(&footprint);
        let mut ctx = k
            .scipy_context(&shape, &fp, &opts)
            .map_err(|e| to_py(py, k.source(), e))?;
        let address = ctx.as_ptr() as usize;
        Ok(PyScipyContext {
            kernel: k.clone(),
            ctx: Mutex::new(ctx),
            address,
        })
    }

    fn __repr__(&self) -> String {
        format!("_Kernel({:?})", self.kernel.source())
    }
}

/// Owns a `ScipyContext` (params, `k`/`dx`/`dy`/`dz` tables, position counter) and a reference
/// to the kernel's code, and hands out the capsules scipy's `LowLevelCallable` takes. Each capsule
/// keeps this object alive.
#[pyclass(name = "_ScipyContext", module = "jitfilter._jitfilter", frozen)]
struct PyScipyContext {
    kernel: Kernel,
    ctx: Mutex<ScipyContext>,
    /// The context's address (stable: it is boxed inside `ctx`).
    address: usize,
}

/// Capsule destructor: drops the strong reference to the owner stored as the capsule's context.
unsafe extern "C" fn release_owner(capsule: *mut pyo3::ffi::PyObject) {
    // SAFETY: called by Python with the GIL held, on a capsule we made with an owned reference
    // (or null) as its context.
    unsafe {
        let owner = pyo3::ffi::PyCapsule_GetContext(capsule);
        if !owner.is_null() {
            pyo3::ffi::Py_DecRef(owner as *mut pyo3::ffi::PyObject);
        }
    }
}

fn owning_capsule<'py>(
    slf: &Bound<'py, PyScipyContext>,
    pointer: *mut c_void,
    name: &'static CStr,
) -> PyResult<Bound<'py, PyCapsule>> {
    let py = slf.py();
    let ptr = NonNull::new(pointer).ok_or_else(|| PyRuntimeError::new_err("null pointer"))?;
    // SAFETY: the pointer stays valid while the owner lives, and the capsule holds a strong
    // reference to the owner (released by `release_owner`).
    let cap =
        unsafe { PyCapsule::new_with_pointer_and_destructor(py, ptr, name, Some(release_owner))? };
    let owner = slf.clone().unbind().into_ptr();
    // SAFETY: `cap` is a valid capsule; on failure we release the reference ourselves.
    let rc = unsafe { pyo3::ffi::PyCapsule_SetContext(cap.as_ptr(), owner as *mut c_void) };
    if rc != 0 {
        // SAFETY: `owner` is the reference we just took.
        unsafe { pyo3::ffi::Py_DecRef(owner) };
        return Err(PyErr::fetch(py));
    }
    Ok(cap)
}

#[pymethods]
impl PyScipyContext {
    /// The callback as a PyCapsule named with its C signature (scipy's LowLevelCallable
    /// `function`). It keeps this context, and so the compiled code, alive.
    fn function_capsule<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyCapsule>> {
        let k = &slf.get().kernel;
        let f = k.callback().map_err(|e| to_py(slf.py(), k.source(), e))? as *mut c_void;
        owning_capsule(slf, f, SIGNATURE)
    }

    /// The context as a PyCapsule (scipy's LowLevelCallable `user_data`). It keeps this context
    /// alive.
    fn user_data_capsule<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyCapsule>> {
        let p = slf.get().address as *mut c_void;
        owning_capsule(slf, p, USER_DATA)
    }

    #[getter]
    fn address(&self) -> usize {
        self.address
    }

    #[getter]
    fn function_address(&self, py: Python<'_>) -> PyResult<usize> {
        let k = &self.kernel;
        Ok(k.callback().map_err(|e| to_py(py, k.source(), e))? as usize)
    }

    /// Restarts position tracking at the first element.
    fn reset(&self) {
        self.ctx.lock().unwrap_or_else(|e| e.into_inner()).reset();
    }
}

/// A second line pass, as `line_filter` takes it: `(size, weights, mode, cval, origin,
/// truncate)`.
type SecondPass = (usize, Option<Vec<f64>>, String, f64, isize, bool);

/// scipy's `uniform_filter1d` (`weights` None, `size` values) or `correlate1d` (`weights`) in
/// scipy's own arithmetic (see `jitfilter::lines`), from `input` into `output`: both
/// C-contiguous, of one shape and of the engine's dtypes. `truncate`: results go into an
/// integer output truncated (C's cast, for results within its range). `then`, with the first
/// pass along the second-last axis: a second pass along the last axis, `(size, weights, mode,
/// cval, origin, truncate)` as the first's, of the first's results held in the output's type
/// (scipy's two passes; made per band of rows, see `jitfilter::lines::pair`).
#[pyfunction]
#[allow(clippy::too_many_arguments)]
#[pyo3(signature = (input, output, size, weights, axis, mode, cval, origin, truncate, threads, then=None))]
fn line_filter<'py>(
    py: Python<'py>,
    input: &Bound<'py, PyUntypedArray>,
    output: &Bound<'py, PyUntypedArray>,
    size: usize,
    weights: Option<Vec<f64>>,
    axis: usize,
    mode: &str,
    cval: f64,
    origin: isize,
    truncate: bool,
    threads: Option<usize>,
    then: Option<SecondPass>,
) -> PyResult<()> {
    use jitfilter::lines::{correlate1d, pair, uniform_filter1d, Line, Pass};
    let mode_of = |name: &str| {
        name.parse::<Mode>()
            .map_err(|e: Error| PyValueError::new_err(e.to_string()))
    };
    let line = Line {
        axis,
        mode: mode_of(mode)?,
        cval,
        origin,
        truncate,
        threads,
    };
    let then = match &then {
        Some((size, w, name, cval, origin, truncate)) => {
            let last = Line {
                axis: input.ndim().saturating_sub(1),
                mode: mode_of(name)?,
                cval: *cval,
                origin: *origin,
                truncate: *truncate,
                threads,
            };
            let pass = match w {
                Some(w) => Pass::Correlate(w),
                None => Pass::Uniform(*size),
            };
            Some((pass, last))
        }
        None => None,
    };
    let weights = weights.as_deref();
    type Passes<'a> = (usize, Option<&'a [f64]>, &'a Line, Option<(Pass<'a>, Line)>);
    fn typed<'py, T, O>(
        py: Python<'py>,
        input: &Bound<'py, PyUntypedArray>,
        output: &Bound<'py, PyUntypedArray>,
        (size, weights, line, then): Passes<'_>,
    ) -> PyResult<()>
    where
        T: jitfilter::Element + NpElement,
        O: jitfilter::Element + NpElement,
    {
        let src = input.cast::<PyArrayDyn<T>>()?.try_readonly()?;
        let dst = output.cast::<PyArrayDyn<O>>()?;
        let mut rw = dst.try_readwrite()?;
        let (a, b) = (src.as_array(), rw.as_array_mut());
        let first = match weights {
            Some(w) => Pass::Correlate(w),
            None => Pass::Uniform(size),
        };
        py.detach(|| match (first, then) {
            (first, Some((second, last))) => pair(a, b, (first, line), (second, &last)),
            (Pass::Correlate(w), None) => correlate1d(a, b, w, line),
            (Pass::Uniform(size), None) => uniform_filter1d(a, b, size, line),
        })
        .map_err(|e| PyValueError::new_err(e.to_string()))
    }
    let how = (size, weights, &line, then);
    macro_rules! out {
        ($T:ty) => {
            match dtype_name(py, output) {
                Some("uint8") => typed::<$T, u8>(py, input, output, how),
                Some("uint16") => typed::<$T, u16>(py, input, output, how),
                Some("int16") => typed::<$T, i16>(py, input, output, how),
                Some("int32") => typed::<$T, i32>(py, input, output, how),
                Some("float32") => typed::<$T, f32>(py, input, output, how),
                Some("float64") => typed::<$T, f64>(py, input, output, how),
                _ => Err(PyTypeError::new_err(format!(
                    "output dtype {} is not one of {DTYPES:?} (native byte order)",
                    output.dtype()
                ))),
            }
        };
    }
    match dtype_name(py, input) {
        Some("uint8") => out!(u8),
        Some("uint16") => out!(u16),
        Some("int16") => out!(i16),
        Some("int32") => out!(i32),
        Some("float32") => out!(f32),
        Some("float64") => out!(f64),
        _ => Err(PyTypeError::new_err(format!(
            "input dtype {} is not one of {DTYPES:?} (native byte order)",
            input.dtype()
        ))),
    }
}

/// Names of the scipy boundary modes the engine accepts.
#[pyfunction]
fn modes() -> Vec<&'static str> {
    Mode::NAMES.to_vec()
}

#[pymodule]
fn _jitfilter(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<PyKernel>()?;
    m.add_class::<PyScipyContext>()?;
    m.add("KernelError", py.get_type::<KernelError>())?;
    m.add("SIGNATURE", SIGNATURE.to_str().expect("ascii"))?;
    m.add("DTYPES", DTYPES.to_vec())?;
    // The grid parts of an array are computed on, per axis (z, y, x): see `Options::region`.
    m.add("UNITS", jitfilter::window::UNITS.to_vec())?;
    m.add_function(wrap_pyfunction!(modes, m)?)?;
    m.add_function(wrap_pyfunction!(line_filter, m)?)?;
    let info = PyDict::new(py);
    info.set_item("core_version", env!("CARGO_PKG_VERSION"))?;
    m.add("build_info", info)?;
    Ok(())
}
