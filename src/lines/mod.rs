//! scipy's 1-D line filters in scipy's own arithmetic, for `jitfilter.ndimage`: the running
//! sum of `uniform_filter1d` and the weighted sums of `correlate1d` (under scipy's Gaussian,
//! Sobel, Prewitt and other separable filters). Lines are read in f64 as scipy's line buffers
//! hold them, extended by scipy's boundary modes ([`Mode::map`]).
//!
//! Per line scipy's running sum adds the first window's values from +0 in order, then per
//! position adds the entering value minus the leaving one (`tmp += in − out`) and divides by the
//! size; doing exactly that gives its results bit for bit, with one subtraction, one addition
//! and one division per value. The planner's sliding sums are more accurate (the running sum's
//! error grows along the line) but they are not scipy's bits, and cost two to three times as
//! much.
//!
//! Per position `correlate1d` adds, for an odd window whose weights are symmetric (or
//! antisymmetric) to within `DBL_EPSILON`, the centre's product and then each pair of cells
//! from the outside in, `(left ± right) × weight`; for any other, the last cell's product and
//! then the others in order. Doing that a vector of positions at a time gives its bits, without
//! a JIT kernel per set of weights. Two passes over the last two axes (a uniform filter's, a
//! Gaussian's, a Sobel's) run as one [`pair`] per band of rows, the band's intermediate values
//! kept in cache; a uniform filter's over unsigned integers runs in integers
//! (`lines/integer.rs`).

use crate::boundary::Mode;
use crate::dtype::Element;
use crate::error::Error;
use ndarray::{ArrayViewD, ArrayViewMutD};
use rayon::prelude::*;

mod integer;

/// The most columns a task runs down when lines cross rows (the running sums of a block stay
/// in L1); fewer when that would leave threads idle.
const BLOCK: usize = 256;
/// Rows of at most this many values are run down whole (see [`columns`]).
const WHOLE_ROWS: usize = 2048;
/// Lines a task runs side by side when lines are rows: one value of each per vector.
const LANES: usize = 8;
/// The most columns a weighted task runs down: its extended block of lines (the column's
/// length plus the window, in f64) stays within L2.
const WEIGHED_BLOCK: usize = 256;
/// The most rows a band of a pair of weighted passes holds (see [`pair`]): 64
/// rows of 512 f64 are 256 KiB, within L2.
const BAND: usize = 64;
/// Columns a band's pass down the rows takes at a time: the window's rows in the block (23 of
/// 512 bytes for scipy's Gaussian of σ 2.75) stay in L1 (256 columns: 5% slower, 512: 40%).
const BAND_COLUMNS: usize = 64;
/// Bytes of output rows a band of running sums down the rows makes at a time (kept in L2 for
/// the pass along them).
const RUNNING_BAND: usize = 64 << 10;
/// Positions a weighted sum makes at a time: two AVX-512 vectors of f64 (four AVX2), all in
/// registers.
const POSITIONS: usize = 16;

/// How a line filter reads the array: along `axis`, with the window's origin, the mode and
/// its cval.
#[derive(Debug, Clone, Copy)]
pub struct Line {
    pub axis: usize,
    pub mode: Mode,
    pub cval: f64,
    pub origin: isize,
    /// Write each result truncated toward zero (C's cast into an integer output, for results
    /// known to lie within its range); else converted by [`Element::from_f64`].
    pub truncate: bool,
    /// Worker threads; `None` uses rayon's global pool.
    pub threads: Option<usize>,
}

/// `output` = scipy's `uniform_filter1d(input, size, axis, mode, cval, origin)`, bit for bit
/// (with float outputs, and with integer outputs when `truncate` is set for results within
/// their range). Both arrays are C-contiguous and of one shape.
///
/// ```
/// use jitfilter::lines::{uniform_filter1d, Line};
/// use jitfilter::Mode;
/// let a = ndarray::array![[1.0f64, 2.0, 3.0, 4.0]].into_dyn();
/// let mut out = ndarray::Array2::<f64>::zeros((1, 4)).into_dyn();
/// let line = Line { axis: 1, mode: Mode::Nearest, cval: 0.0, origin: 0, truncate: false,
///                   threads: Some(1) };
/// uniform_filter1d(a.view(), out.view_mut(), 3, &line).unwrap();
/// assert_eq!(out.as_slice().unwrap(), &[4.0 / 3.0, 2.0, 3.0, 11.0 / 3.0]);
/// ```
pub fn uniform_filter1d<T: Element, O: Element>(
    input: ArrayViewD<'_, T>,
    mut output: ArrayViewMutD<'_, O>,
    size: usize,
    line: &Line,
) -> Result<(), Error> {
    let Some(lines) = Lines::new(&input, output.shape(), size, line)? else {
        return Ok(());
    };
    let dst = values(&mut output)?;
    crate::schedule::in_pool(line.threads, move || {
        if lines.inner == 1 {
            rows(&lines, dst, size, line)
        } else {
            columns(&lines, dst, size, line)
        }
    })
}

/// `output` = scipy's `correlate1d(input, weights, axis, mode, cval, origin)`, bit for bit
/// (as [`uniform_filter1d`]'s).
///
/// ```
/// use jitfilter::lines::{correlate1d, Line};
/// use jitfilter::Mode;
/// let a = ndarray::array![[1.0f64, 2.0, 4.0, 8.0]].into_dyn();
/// let mut out = ndarray::Array2::<f64>::zeros((1, 4)).into_dyn();
/// let line = Line { axis: 1, mode: Mode::Constant, cval: 0.0, origin: 0, truncate: false,
///                   threads: Some(1) };
/// correlate1d(a.view(), out.view_mut(), &[-1.0, 0.0, 1.0], &line).unwrap();
/// assert_eq!(out.as_slice().unwrap(), &[2.0, 3.0, 6.0, -4.0]);
/// ```
pub fn correlate1d<T: Element, O: Element>(
    input: ArrayViewD<'_, T>,
    mut output: ArrayViewMutD<'_, O>,
    weights: &[f64],
    line: &Line,
) -> Result<(), Error> {
    let Some(lines) = Lines::new(&input, output.shape(), weights.len(), line)? else {
        return Ok(());
    };
    let dst = values(&mut output)?;
    let taps = Taps::new(weights);
    crate::schedule::in_pool(line.threads, move || {
        if lines.inner == 1 {
            weighed_rows(&lines, dst, &taps, line)
        } else {
            weighed_columns(&lines, dst, &taps, line)
        }
    })
}

/// An array seen as lines along an axis: `n` values each, `inner` apart.
struct Lines<'a, T> {
    src: &'a [T],
    n: usize,
    inner: usize,
    /// Where each position of a line's extended buffer reads: scipy's line buffer holds the
    /// line extended by `size / 2 + origin` values before it and the rest after it.
    ext: Vec<Option<usize>>,
    /// `size / 2 + origin`: the line's own values lie in order in `ext` from here.
    lead: usize,
}

impl<'a, T: Element> Lines<'a, T> {
    /// The input's lines, after the checks scipy makes of a line filter's arguments against
    /// the output's shape; `None` for an empty array.
    fn new(
        input: &'a ArrayViewD<'_, T>,
        output: &[usize],
        size: usize,
        line: &Line,
    ) -> Result<Option<Self>, Error> {
        let shape = input.shape().to_vec();
        if output != shape.as_slice() {
            return Err(Error::Shape(format!(
                "output shape {output:?} differs from the input's {shape:?}"
            )));
        }
        if line.axis >= shape.len() {
            return Err(Error::Shape(format!(
                "axis {} is out of range for a {}-D array",
                line.axis,
                shape.len()
            )));
        }
        if size == 0 {
            return Err(Error::Footprint("a window of size 0".into()));
        }
        // The bound on a footprint's cells: the line buffers grow with the window.
        let limits = crate::limits::Limits::default();
        if size > limits.max_footprint {
            let what = format!("the window has {size} values");
            return Err(crate::limits::Limit::Footprint
                .exceeded(&limits, what)
                .into());
        }
        crate::kernel::check_origin(line.axis, line.origin, size)?;
        let src = input.as_slice().ok_or_else(|| contiguous("input"))?;
        if src.is_empty() {
            return Ok(None);
        }
        let n = shape[line.axis];
        let first = -((size / 2) as isize) - line.origin;
        let ext: Vec<Option<usize>> = (0..n + size - 1)
            .map(|i| line.mode.map(first + i as isize, n))
            .collect();
        let lead = ((size / 2) as isize + line.origin) as usize;
        debug_assert!((0..n).all(|j| ext[lead + j] == Some(j)));
        Ok(Some(Lines {
            src,
            n,
            inner: shape[line.axis + 1..].iter().product(),
            ext,
            lead,
        }))
    }
}

impl<T> Lines<'_, T> {
    /// `row` = `line` (of `n` values, each taken by `at`) extended as scipy's line buffer
    /// extends it: `cval` where the mode reads none.
    #[inline(always)]
    fn extend<X, V: Copy>(&self, row: &mut [V], line: &[X], cval: V, at: impl Fn(&X) -> V) {
        let (edge, rest) = row.split_at_mut(self.lead);
        let (body, after) = rest.split_at_mut(self.n);
        let value = |p: &Option<usize>| p.map_or(cval, |p| at(&line[p]));
        edge.iter_mut()
            .zip(&self.ext)
            .for_each(|(c, p)| *c = value(p));
        body.iter_mut().zip(line).for_each(|(c, v)| *c = at(v));
        let tail = &self.ext[self.lead + self.n..];
        after.iter_mut().zip(tail).for_each(|(c, p)| *c = value(p));
    }
}

fn contiguous(what: &str) -> Error {
    Error::Shape(format!("the {what} must be C-contiguous"))
}

/// The output's values, in order.
fn values<'a, O: Element>(output: &'a mut ArrayViewMutD<'_, O>) -> Result<&'a mut [O], Error> {
    output.as_slice_mut().ok_or_else(|| contiguous("output"))
}

#[inline(always)]
pub(crate) fn store<O: Element>(v: f64, truncate: bool) -> O {
    O::from_f64(if truncate { v.trunc() } else { v })
}

/// Lines down the rows (`inner` values per row): `task(scratch, o, x0, r0, rows)` runs down a
/// block of `block` columns (see [`block`]), from column `x0`, of run `o` of `n` rows, writing its part
/// of output rows `r0..`; several whole runs of short rows per task. `spans(n, tasks)`: where
/// the spans of rows a block is cut into start, after row 0 (none: the block is one task).
fn column_tasks<T: Element, O: Element>(
    lines: &Lines<'_, T>,
    dst: &mut [O],
    block: usize,
    spans: impl Fn(usize, usize) -> Vec<usize>,
    task: impl Fn(&mut Vec<f64>, usize, usize, usize, Vec<&mut [O]>) + Sync,
) {
    let (n, inner) = (lines.n, lines.inner);
    let outer = dst.len() / (n * inner);
    if inner <= block && outer >= rayon::current_num_threads() {
        // Rows of one block: whole runs of rows per task, several when they are short (a
        // task per run of two rows of two values cost more than the sums).
        let per = (4096 / (n * inner)).max(1);
        dst.par_chunks_mut(n * inner * per)
            .enumerate()
            .for_each_init(Vec::new, |scratch, (t, runs)| {
                for (i, run) in runs.chunks_mut(n * inner).enumerate() {
                    task(scratch, t * per + i, 0, 0, run.chunks_mut(inner).collect());
                }
            });
        return;
    }
    let block = block.min(inner);
    let cuts = spans(n, outer * inner.div_ceil(block));
    // Per task (a run of rows, a block of columns, a span of rows): its slice of each output
    // row.
    let mut tasks: Vec<(usize, usize, usize, Vec<&mut [O]>)> = Vec::new();
    for (o, run) in dst.chunks_mut(n * inner).enumerate() {
        let first = tasks.len();
        let blocks = inner.div_ceil(block);
        for (r, row) in run.chunks_mut(inner).enumerate() {
            let s = cuts.partition_point(|&c| c <= r);
            let r0 = if s == 0 { 0 } else { cuts[s - 1] };
            for (b, part) in row.chunks_mut(block).enumerate() {
                if r == r0 {
                    tasks.push((o, b * block, r0, Vec::new()));
                }
                tasks[first + s * blocks + b].3.push(part);
            }
        }
    }
    tasks
        .into_par_iter()
        .for_each_init(Vec::new, |scratch, (o, x0, r0, out)| {
            task(scratch, o, x0, r0, out)
        });
}

/// Columns per block down the rows of `lines` into `dst`: four tasks per thread at least, of
/// whole vectors, at most `most`.
fn block<T: Element>(lines: &Lines<'_, T>, dst: usize, most: usize) -> usize {
    let share = dst / lines.n / (4 * rayon::current_num_threads());
    (share.div_ceil(8) * 8).clamp(32, most)
}

/// Where the spans of running sums down `n` rows start, after row 0, when `tasks` blocks
/// would leave threads idle: each span's sums are first brought to its start by replaying the
/// additions before it (a subtraction and an addition per value, about a third of a step's
/// cost), so later spans are shorter, each thread's work about equal.
fn replay_spans(n: usize, tasks: usize) -> Vec<usize> {
    let threads = rayon::current_num_threads();
    if tasks >= 2 * threads || n < 64 {
        return Vec::new();
    }
    let spans = threads.div_ceil(tasks);
    // A span from `s` to `t` costs `REPLAY × s + (t − s)`: equal costs τ give
    // `s_{k+1} = (1 − REPLAY) × s_k + τ`, whose last is `n`.
    const REPLAY: f64 = 0.3;
    let tau = n as f64 * REPLAY / (1.0 - (1.0 - REPLAY).powi(spans as i32));
    let mut starts = Vec::new();
    let mut s = 0.0;
    for _ in 1..spans {
        s = (1.0 - REPLAY) * s + tau;
        starts.push((s.round() as usize).clamp(1, n - 1));
    }
    starts.dedup();
    starts
}

/// The running sums down the rows, a block of columns per task: whole rows when they are
/// short (a block's rows then lie one after another in memory, which the prefetchers follow;
/// rows of 512 f64 cut in two blocks ran 1.6× slower), else blocks whose sums stay in L1.
fn columns<T: Element, O: Element>(lines: &Lines<'_, T>, dst: &mut [O], size: usize, line: &Line) {
    let inner = lines.inner;
    let width = if inner <= WHOLE_ROWS {
        inner
    } else {
        block(lines, dst.len(), BLOCK)
    };
    column_tasks(lines, dst, width, replay_spans, |sums, o, x0, r0, out| {
        let width = out[0].len();
        let plane = &lines.src[o * lines.n * inner..];
        let row = |p: Option<usize>| p.map(|r| &plane[r * inner + x0..r * inner + x0 + width]);
        running_down(sums, row, r0, true, out, &lines.ext, size, line);
    });
}

/// `sum + delta` with scipy's NaN: x86 keeps the first operand's NaN when both are NaN (a NaN
/// sum stays the NaN it is; scipy's `tmp += …`), where the compiler may swap the operands of an
/// addition.
#[inline(always)]
pub(crate) fn add(sum: f64, delta: f64) -> f64 {
    // A NaN sum plus zero is itself in either order: no choice of results, which the compiler
    // made a store under a mask (the sum left in memory as it was) of every step.
    sum + if sum.is_nan() { 0.0 } else { delta }
}

/// Output rows `out` (of line positions `r0..`) = the running means down the rows `row(p)`,
/// `p` from `ext`. `sums` hold position `r0 − 1`'s sums, or when `fresh` are made: the first
/// window's sum, then the steps to `r0` replayed without output.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn column_block<'a, T: Element, O: Element>(
    sums: &mut Vec<f64>,
    row: impl Fn(Option<usize>) -> Option<&'a [T]>,
    r0: usize,
    fresh: bool,
    mut out: Vec<&mut [O]>,
    ext: &[Option<usize>],
    size: usize,
    line: &Line,
) {
    let (cval, truncate) = (line.cval, line.truncate);
    let d = size as f64;
    let mut from = r0;
    if fresh {
        sums.clear();
        sums.resize(out[0].len(), 0.0);
        for &p in &ext[..size] {
            match row(p) {
                Some(r) => (sums.iter_mut().zip(r)).for_each(|(s, v)| *s = add(*s, v.to_f64())),
                None => sums.iter_mut().for_each(|s| *s = add(*s, cval)),
            }
        }
        if r0 == 0 {
            for (o, s) in out[0].iter_mut().zip(sums.iter()) {
                *o = store(*s / d, truncate);
            }
        }
        from = 1;
    }
    for ll in from..r0 + out.len() {
        let (enter, leave) = (row(ext[ll + size - 1]), row(ext[ll - 1]));
        let line = if ll >= r0 {
            Some(&mut *out[ll - r0])
        } else {
            None
        };
        // One loop per kind of operand, so that each compiles to plain vector code.
        match (enter, leave) {
            (Some(a), Some(b)) => step(sums, line, |x| a[x].to_f64() - b[x].to_f64(), d, truncate),
            (Some(a), None) => step(sums, line, |x| a[x].to_f64() - cval, d, truncate),
            (None, Some(b)) => step(sums, line, |x| cval - b[x].to_f64(), d, truncate),
            // scipy subtracts them too: NaN for an infinite cval.
            #[allow(clippy::eq_op)]
            (None, None) => step(sums, line, |_| cval - cval, d, truncate),
        }
    }
}

/// [`column_block`], compiled with AVX2 where the CPU has it. (Compiled with AVX-512 and its
/// quotients by fused multiply-adds instead of divisions, it ran 1.2× slower down 256³ float32
/// and 2.3× down planes of 32×32: the divisions do not bound this pass.)
#[allow(clippy::too_many_arguments)]
fn running_down<'a, T: Element, O: Element>(
    sums: &mut Vec<f64>,
    row: impl Fn(Option<usize>) -> Option<&'a [T]>,
    r0: usize,
    fresh: bool,
    out: Vec<&mut [O]>,
    ext: &[Option<usize>],
    size: usize,
    line: &Line,
) {
    crate::simd::avx2(
        #[inline(always)]
        || column_block(sums, row, r0, fresh, out, ext, size, line),
    )
}

/// `sums[x] += delta(x); line[x] = sums[x] / d`, over a block (the sums alone without a
/// line).
#[inline(always)]
fn step<O: Element>(
    sums: &mut [f64],
    line: Option<&mut [O]>,
    delta: impl Fn(usize) -> f64,
    d: f64,
    truncate: bool,
) {
    let Some(line) = line else {
        sums.iter_mut()
            .enumerate()
            .for_each(|(x, s)| *s = add(*s, delta(x)));
        return;
    };
    let w = sums.len().min(line.len());
    let (sums, line) = (&mut sums[..w], &mut line[..w]);
    for x in 0..w {
        sums[x] = add(sums[x], delta(x));
        line[x] = store(sums[x] / d, truncate);
    }
}

/// Lines along rows (each row a line of `n`): each task takes [`LANES`] lines, extended (as
/// scipy's line buffer) into rows of a buffer, whose running means advance side by side
/// ([`crate::simd::running_means`]).
fn rows<T: Element, O: Element>(lines: &Lines<'_, T>, dst: &mut [O], size: usize, line: &Line) {
    let n = lines.n;
    dst.par_chunks_mut(n * LANES).enumerate().for_each_init(
        || (Vec::new(), Vec::new()),
        |(flat, means), (g, out)| {
            let src = &lines.src[g * LANES * n..][..out.len()];
            mean_rows(flat, means, src, lines, out, size, line);
        },
    );
}

/// `out` (rows of `n`, at most [`LANES`]) = the running means along the rows `src`, read as
/// `lines` reads its lines, through the buffers `flat` and `means`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn mean_rows<X: Element, O: Element>(
    flat: &mut Vec<f64>,
    means: &mut Vec<f64>,
    src: &[X],
    lines: &Lines<'_, impl Element>,
    out: &mut [O],
    size: usize,
    line: &Line,
) {
    let (n, ext) = (lines.n, &lines.ext);
    let (cval, truncate) = (line.cval, line.truncate);
    // Each line extended, then values for the last block of its running means.
    let el = ext.len() + crate::simd::PAST;
    let count = out.len() / n;
    if count < LANES {
        // Lines of no line: zeros (stale values might be subnormal, which the adder takes
        // slowly; any value is correct).
        flat.clear();
    }
    flat.resize(el * LANES, 0.0f64);
    means.resize(n * LANES, 0.0f64);
    crate::simd::avx2(
        #[inline(always)]
        || {
            // Each line extended in a row of `flat`.
            for (k, row) in flat.chunks_exact_mut(el).take(count).enumerate() {
                let (row, past) = row.split_at_mut(ext.len());
                lines.extend(row, &src[k * n..][..n], cval, |v| v.to_f64());
                past.fill(0.0);
            }
        },
    );
    if count == LANES {
        crate::simd::running_means(flat, el, n, size, out, truncate);
        return;
    }
    crate::simd::running_means(flat, el, n, size, means, false);
    for (o, m) in out.iter_mut().zip(means.iter()) {
        *o = store(*m, truncate);
    }
}

/// `correlate1d`'s weights and the order scipy adds their products in.
struct Taps {
    weights: Vec<f64>,
    order: Order,
}

/// How scipy adds a window's products.
#[derive(Clone, Copy)]
enum Order {
    /// An odd window symmetric to within `DBL_EPSILON` as scipy tests it (a NaN difference
    /// passes): the centre, then `(left + right) × weight` from the outside in.
    Sums,
    /// Antisymmetric: `(left − right) × weight`.
    Differences,
    /// Any other: the last cell, then the others in order.
    Sequence,
}

impl Taps {
    fn new(weights: &[f64]) -> Self {
        let (size, half) = (weights.len(), weights.len() / 2);
        // scipy's test: a pair fails when it differs by more than DBL_EPSILON.
        let fails = |f: fn(f64, f64) -> f64| {
            (1..=half).any(|i| f(weights[half + i], weights[half - i]).abs() > f64::EPSILON)
        };
        let order = if size % 2 == 0 {
            Order::Sequence
        } else if !fails(|a, b| a - b) {
            Order::Sums
        } else if !fails(|a, b| a + b) {
            Order::Differences
        } else {
            Order::Sequence
        };
        Taps {
            weights: weights.to_vec(),
            order,
        }
    }

    /// The sums of `L` neighbouring positions, from the first at `buf[x]`: cell `k` of each
    /// window lies `k × step` further on.
    #[inline(always)]
    fn sums<const L: usize>(&self, buf: &[f64], x: usize, step: usize) -> [f64; L] {
        let w = &self.weights[..];
        let window = &buf[x..x + (w.len() - 1) * step + L];
        // Read unchecked: a check per cell (two per pair of a window) took the ports the
        // vector arithmetic needs (the sums ran 1.3× slower).
        let cell = |k: usize| -> [f64; L] {
            debug_assert!(k < w.len());
            // SAFETY: cell `k < w.len()` is `window[k × step..][..L]`, within the window.
            unsafe {
                window
                    .as_ptr()
                    .add(k * step)
                    .cast::<[f64; L]>()
                    .read_unaligned()
            }
        };
        match self.order {
            Order::Sums => pair_sums::<L, false>(cell, w),
            Order::Differences => pair_sums::<L, true>(cell, w),
            Order::Sequence => {
                let last = w.len() - 1;
                let mut acc = cell(last).map(|v| v * w[last]);
                for (k, &wk) in w[..last].iter().enumerate() {
                    let c = cell(k);
                    (0..L).for_each(|l| acc[l] += c[l] * wk);
                }
                acc
            }
        }
    }

    /// `out[x]` = the weighted sum of the window from `buf[x]` (cells `step` apart).
    #[inline(always)]
    fn weigh<O: Element>(&self, buf: &[f64], step: usize, out: &mut [O], truncate: bool) {
        let done = out.len() / POSITIONS * POSITIONS;
        for (i, part) in out[..done].chunks_exact_mut(POSITIONS).enumerate() {
            let sums = self.sums::<POSITIONS>(buf, i * POSITIONS, step);
            (part.iter_mut().zip(sums)).for_each(|(o, v)| *o = store(v, truncate));
        }
        for (x, o) in out.iter_mut().enumerate().skip(done) {
            *o = store(self.sums::<1>(buf, x, step)[0], truncate);
        }
    }
}

/// The centre's product, then each pair's from the outside in: `(left + right) × weight`, or
/// `(left − right) × weight` when `MINUS`.
#[inline(always)]
fn pair_sums<const L: usize, const MINUS: bool>(
    cell: impl Fn(usize) -> [f64; L],
    w: &[f64],
) -> [f64; L] {
    let h = w.len() / 2;
    let mut acc = cell(h).map(|v| v * w[h]);
    for j in (1..=h).rev() {
        let (a, b, wj) = (cell(h - j), cell(h + j), w[h - j]);
        if MINUS {
            (0..L).for_each(|l| acc[l] += (a[l] - b[l]) * wj);
        } else {
            (0..L).for_each(|l| acc[l] += (a[l] + b[l]) * wj);
        }
    }
    acc
}

/// Weighted sums along rows: each line extended into a buffer, its sums made from there.
fn weighed_rows<T: Element, O: Element>(
    lines: &Lines<'_, T>,
    dst: &mut [O],
    taps: &Taps,
    line: &Line,
) {
    let n = lines.n;
    let per = (4096 / n).max(1);
    dst.par_chunks_mut(n * per)
        .enumerate()
        .for_each_init(Vec::new, |buf, (t, out)| {
            for (k, out) in out.chunks_mut(n).enumerate() {
                let src = &lines.src[(t * per + k) * n..][..n];
                weigh_line(buf, src, lines, out, taps, line);
            }
        });
}

/// `out` = the weighted sums along the line `src` (read as `lines` reads its lines), from its
/// extension into `buf`: the line's own values copied as a block, the edges value by value.
#[inline(always)]
fn weigh_line<X: Element, O: Element>(
    buf: &mut Vec<f64>,
    src: &[X],
    lines: &Lines<'_, impl Element>,
    out: &mut [O],
    taps: &Taps,
    line: &Line,
) {
    // The line's conversion too in the wide code: from bytes, a quarter of the pair's time in
    // baseline code.
    crate::simd::avx512(
        #[inline(always)]
        || {
            // Every value is written before it is read: the buffer is not cleared.
            buf.resize(lines.ext.len(), 0.0);
            lines.extend(buf, src, line.cval, |v| v.to_f64());
            taps.weigh(buf, 1, out, line.truncate)
        },
    );
}

/// Weighted sums down the rows, a block of columns per task (see [`weigh_down`]).
fn weighed_columns<T: Element, O: Element>(
    lines: &Lines<'_, T>,
    dst: &mut [O],
    taps: &Taps,
    line: &Line,
) {
    let (n, inner) = (lines.n, lines.inner);
    let width = block(lines, dst.len(), WEIGHED_BLOCK);
    column_tasks(
        lines,
        dst,
        width,
        |_, _| Vec::new(),
        |buf, o, x0, _, out| {
            let width = out[0].len();
            let row = |r: usize| &lines.src[o * n * inner + r * inner + x0..][..width];
            weigh_down(buf, row, &lines.ext, out, taps, line);
        },
    );
}

/// Output rows `out` (a block of columns each) = the weighted sums down the rows `row(r)`,
/// the first output row's window at `ext[0]`: the block extended down into `buf` in f64, each
/// output row made from its window's rows there. (Read in place, the rows of a wide array lie
/// a multiple of 4 KiB apart: the window's rows then share L1's sets and evict each other —
/// twice as slow on 512² f64.)
#[inline(always)]
fn weigh_down<'a, X: Element + 'a, O: Element>(
    buf: &mut Vec<f64>,
    row: impl Fn(usize) -> &'a [X],
    ext: &[Option<usize>],
    mut out: Vec<&mut [O]>,
    taps: &Taps,
    line: &Line,
) {
    let width = out[0].len();
    let ext = &ext[..out.len() + taps.weights.len() - 1];
    buf.clear();
    // Rows start on cache lines when their width is one of whole lines (loads across a line's
    // end cost two: 5–10% faster on 512² f64).
    buf.reserve(ext.len() * width + 8);
    let skip = buf.as_ptr().align_offset(64).min(7);
    buf.extend(std::iter::repeat_n(0.0, skip));
    crate::simd::avx512(
        #[inline(always)]
        || {
            for p in ext {
                match p {
                    Some(r) => buf.extend(row(*r).iter().map(|v| v.to_f64())),
                    None => buf.extend(std::iter::repeat_n(line.cval, width)),
                }
            }
            for (ll, out) in out.iter_mut().enumerate() {
                taps.weigh(&buf[skip + ll * width..], width, out, line.truncate)
            }
        },
    );
}

/// One of scipy's 1-D passes, for [`pair`].
#[derive(Debug, Clone, Copy)]
pub enum Pass<'a> {
    /// `uniform_filter1d` over a window of this size.
    Uniform(usize),
    /// `correlate1d` with these weights.
    Correlate(&'a [f64]),
}

/// A plane's rows (of `w` values) cut at rows `cuts`: each span's first row and its values.
fn spans<'a, O>(plane: &'a mut [O], cuts: &[usize], w: usize) -> Vec<(usize, &'a mut [O])> {
    let mut rest = plane;
    let mut spans = Vec::with_capacity(cuts.len() + 1);
    let mut at = 0;
    for &c in cuts {
        let (span, more) = rest.split_at_mut((c - at) * w);
        spans.push((at, span));
        (rest, at) = (more, c);
    }
    spans.push((at, rest));
    spans
}

/// A [`Pass`] made ready to run.
enum Stage {
    Running(usize),
    Weighted(Taps),
}

impl Pass<'_> {
    fn size(&self) -> usize {
        match self {
            Pass::Uniform(size) => *size,
            Pass::Correlate(w) => w.len(),
        }
    }

    fn stage(&self) -> Stage {
        match self {
            Pass::Uniform(size) => Stage::Running(*size),
            Pass::Correlate(w) => Stage::Weighted(Taps::new(w)),
        }
    }
}

/// `output` = scipy's pass `second` along the last axis of its pass `first` along the
/// second-last, the intermediate values written into an array of the output's type (as scipy's
/// separable filters chain their passes through the output), bit for bit: the passes of
/// scipy's `uniform_filter`, `gaussian_filter`, `sobel` or `prewitt` over the last two axes.
/// Made per band of rows, the band's intermediate values kept in cache (two passes over a 512²
/// float64 image, each on its own, write and read 2 MiB between them). A running sum down the
/// rows carries its sums from band to band: a thread's span of bands starts by replaying the
/// sums before it. Two uniform passes over unsigned integers into their own type, truncated,
/// run in integers where that gives the same bits (`lines/integer.rs`). The threads are
/// `first`'s.
///
/// ```
/// use jitfilter::lines::{correlate1d, pair, uniform_filter1d, Line, Pass};
/// use jitfilter::Mode;
/// let a = ndarray::Array2::from_shape_fn((5, 6), |(y, x)| (y * 6 + x * x) as f64).into_dyn();
/// let line = |axis| Line { axis, mode: Mode::Reflect, cval: 0.0, origin: 0, truncate: false,
///                          threads: Some(1) };
/// let w = [-1.0, 0.0, 1.0];
/// let mut both = ndarray::Array2::<f64>::zeros((5, 6)).into_dyn();
/// pair(a.view(), both.view_mut(), (Pass::Uniform(3), &line(0)), (Pass::Correlate(&w), &line(1)))
///     .unwrap();
/// let (mut mid, mut two) = (both.clone(), both.clone());
/// uniform_filter1d(a.view(), mid.view_mut(), 3, &line(0)).unwrap();
/// correlate1d(mid.view(), two.view_mut(), &w, &line(1)).unwrap();
/// assert_eq!(both, two);
/// ```
pub fn pair<T: Element, O: Element>(
    input: ArrayViewD<'_, T>,
    mut output: ArrayViewMutD<'_, O>,
    (first, line0): (Pass<'_>, &Line),
    (second, line1): (Pass<'_>, &Line),
) -> Result<(), Error> {
    let ndim = input.ndim();
    if ndim < 2 || line0.axis != ndim - 2 || line1.axis != ndim - 1 {
        return Err(Error::Shape(format!(
            "a pair of passes runs along axes -2 and -1, not {} and {} of a {ndim}-D array",
            line0.axis, line1.axis
        )));
    }
    let Some(down) = Lines::new(&input, output.shape(), first.size(), line0)? else {
        return Ok(());
    };
    let Some(along) = Lines::new(&input, output.shape(), second.size(), line1)? else {
        return Ok(());
    };
    let dst = values(&mut output)?;
    let (s0, s1) = (first.stage(), second.stage());
    let (h, w) = (down.n, along.n);
    crate::schedule::in_pool(line0.threads, move || {
        if let (Pass::Uniform(d0), Pass::Uniform(d1)) = (first, second) {
            if integer::uniform_pair(&down, &along, dst, (d0, line0), (d1, line1)) {
                return;
            }
        }
        let planes = dst.len() / (h * w);
        // Weighted bands stand alone: four per thread at least. Running sums carry on from
        // band to band: spans of bands per thread, bands of whole groups of lines along rows
        // whose values stay in L2.
        let (band, cuts) = match s0 {
            Stage::Weighted(_) => {
                let rows = dst.len() / w;
                let band = (rows / (4 * rayon::current_num_threads()))
                    .clamp(8, BAND)
                    .min(h);
                (band, (band..h).step_by(band).collect())
            }
            Stage::Running(_) => {
                let band = (RUNNING_BAND / (w * std::mem::size_of::<O>())).clamp(1, 2 * LANES);
                (band, replay_spans(h, planes))
            }
        };
        let tasks: Vec<_> = (dst.chunks_mut(h * w).enumerate())
            .flat_map(|(p, plane)| {
                spans(plane, &cuts, w)
                    .into_iter()
                    .map(move |(r0, s)| (p, r0, s))
            })
            .collect();
        tasks.into_par_iter().for_each_init(
            || (Vec::new(), Vec::new(), Vec::new(), Vec::new()),
            |(buf, mid, sums, means), (p, r0, out)| {
                let plane = &down.src[p * h * w..][..h * w];
                for (b, out) in out.chunks_mut(band * w).enumerate() {
                    let (rb, rows) = (r0 + b * band, out.len() / w);
                    // Every value is written before it is read: the buffer is not cleared.
                    if mid.len() < rows * w {
                        mid.resize(rows * w, O::from_f64(0.0));
                    }
                    let mid = &mut mid[..rows * w];
                    match &s0 {
                        Stage::Weighted(taps) => {
                            // A block of columns at a time (its window's rows in L1).
                            for x0 in (0..w).step_by(BAND_COLUMNS) {
                                let cols = BAND_COLUMNS.min(w - x0);
                                let row = |r: usize| &plane[r * w + x0..][..cols];
                                let block =
                                    mid.chunks_mut(w).map(|m| &mut m[x0..x0 + cols]).collect();
                                weigh_down(buf, row, &down.ext[rb..], block, taps, line0);
                            }
                        }
                        Stage::Running(size) => {
                            let row = |p: Option<usize>| p.map(|r| &plane[r * w..][..w]);
                            let block = mid.chunks_mut(w).collect();
                            running_down(sums, row, rb, b == 0, block, &down.ext, *size, line0)
                        }
                    }
                    match &s1 {
                        Stage::Weighted(taps) => {
                            for (m, o) in mid.chunks(w).zip(out.chunks_mut(w)) {
                                weigh_line(buf, m, &along, o, taps, line1);
                            }
                        }
                        Stage::Running(size) => {
                            for (m, o) in mid.chunks(w * LANES).zip(out.chunks_mut(w * LANES)) {
                                mean_rows(buf, means, m, &along, o, *size, line1);
                            }
                        }
                    }
                }
            },
        );
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{ArrayD, IxDyn};

    /// A line extended as scipy's line buffer holds it for a window of `size`.
    fn extended(line: &[f64], size: usize, l: &Line) -> Vec<f64> {
        let n = line.len();
        let first = -((size / 2) as isize) - l.origin;
        (0..n + size - 1)
            .map(|i| {
                l.mode
                    .map(first + i as isize, n)
                    .map_or(l.cval, |p| line[p])
            })
            .collect()
    }

    /// scipy's loop as written in its C source (NI_UniformFilter1D), one line at a time.
    fn scipy_uniform(line: &[f64], size: usize, l: &Line) -> Vec<f64> {
        let ext = extended(line, size, l);
        let d = size as f64;
        // C's `tmp += v` on x86 (`addsd tmp, v`): of two NaNs, tmp's.
        let c_add = |tmp: &mut f64, v: f64| {
            *tmp = if tmp.is_nan() { *tmp } else { *tmp + v };
        };
        let mut tmp = 0.0;
        for &v in &ext[..size] {
            c_add(&mut tmp, v);
        }
        let mut out = vec![tmp / d];
        for ll in 1..line.len() {
            c_add(&mut tmp, ext[ll + size - 1] - ext[ll - 1]);
            out.push(tmp / d);
        }
        out
    }

    /// scipy's NI_Correlate1D as written in its C source, one line at a time: `fw` and
    /// `iline` point at the window's centre.
    fn scipy_correlate(line: &[f64], w: &[f64], l: &Line) -> Vec<f64> {
        let ext = extended(line, w.len(), l);
        let (size1, size2) = (w.len() / 2, w.len() - w.len() / 2 - 1);
        let (size1, size2) = (size1 as isize, size2 as isize);
        let fw = |j: isize| w[(size1 + j) as usize];
        let mut symmetric = 0;
        if w.len() % 2 == 1 {
            symmetric = 1;
            if (1..=size1).any(|ii| (fw(ii) - fw(-ii)).abs() > f64::EPSILON) {
                symmetric = -1;
                if (1..=size1).any(|ii| (fw(ii) + fw(-ii)).abs() > f64::EPSILON) {
                    symmetric = 0;
                }
            }
        }
        (0..line.len())
            .map(|ll| {
                let iline = |j: isize| ext[(ll as isize + size1 + j) as usize];
                let mut o;
                if symmetric > 0 {
                    o = iline(0) * fw(0);
                    for jj in -size1..0 {
                        o += (iline(jj) + iline(-jj)) * fw(jj);
                    }
                } else if symmetric < 0 {
                    o = iline(0) * fw(0);
                    for jj in -size1..0 {
                        o += (iline(jj) - iline(-jj)) * fw(jj);
                    }
                } else {
                    o = iline(size2) * fw(size2);
                    for jj in -size1..size2 {
                        o += iline(jj) * fw(jj);
                    }
                }
                o
            })
            .collect()
    }

    /// `filter` applied to every line of `a` along the axis.
    fn reference(a: &ArrayD<f64>, axis: usize, filter: impl Fn(&[f64]) -> Vec<f64>) -> ArrayD<f64> {
        let mut out = a.clone();
        for (mut o, i) in out
            .lanes_mut(ndarray::Axis(axis))
            .into_iter()
            .zip(a.lanes(ndarray::Axis(axis)))
        {
            let line: Vec<f64> = i.iter().copied().collect();
            o.iter_mut().zip(filter(&line)).for_each(|(o, v)| *o = v);
        }
        out
    }

    /// Values that make the order of additions show in the last bits.
    /// Values in ±1000, with NaNs and infinities now and then when `seed` is even (a line's
    /// sums stay NaN from its first: odd seeds test the arithmetic of long lines), tiny and
    /// huge values now and then when it is 3 modulo 4.
    fn data(shape: &[usize], seed: u64) -> ArrayD<f64> {
        let mut s = seed;
        let specials = seed % 2 == 0;
        ArrayD::from_shape_fn(IxDyn(shape), |_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            // NaNs of both signs and infinities now and then: a NaN sum (-NaN from ∞ − ∞) meeting
            // a data NaN keeps its own, as scipy's.
            let kind = (s >> 58) % 32;
            match if specials { kind } else { kind + 4 } {
                0 => f64::NAN,
                1 => -f64::NAN,
                2 => f64::INFINITY,
                3 => f64::NEG_INFINITY,
                // Now and then in a quarter of the others: tiny and huge values (sums whose
                // quotients are subnormal or near overflow).
                4 if seed % 4 == 3 => ((s >> 11) as f64 - 2e18) * 1e-300,
                5 if seed % 4 == 3 => ((s >> 11) as f64 - 2e18) * 1e290,
                _ => ((s >> 11) as f64 / (1u64 << 53) as f64 - 0.3) * 1e3,
            }
        })
    }

    const SHAPES: [&[usize]; 6] = [
        &[7],
        &[5, 9],
        &[3, 300, 2],
        &[2, 3, 4, 5],
        &[1, 1],
        &[70, 150],
    ];

    /// Every shape, axis, mode and origin `check(array, line, origin range)` is given.
    fn every_line(check: impl Fn(&ArrayD<f64>, &Line, isize) -> Result<(), String>) {
        let mut seed = 0;
        for shape in SHAPES {
            for axis in 0..shape.len() {
                for (mode, clean) in Mode::ALL.into_iter().flat_map(|m| [(m, false), (m, true)]) {
                    // An infinite cval: scipy's sums subtract it from itself (NaN).
                    let cval = if mode == Mode::Constant && shape.len() == 2 && !clean {
                        f64::INFINITY
                    } else {
                        -2.5
                    };
                    seed += 2;
                    let a = data(shape, seed + clean as u64);
                    let line = Line {
                        axis,
                        mode,
                        cval,
                        origin: 0,
                        truncate: false,
                        threads: Some(2),
                    };
                    check(&a, &line, seed as isize)
                        .unwrap_or_else(|e| panic!("{shape:?} axis {axis} {mode:?}: {e}"));
                }
            }
        }
    }

    /// The origins a window of `size` can have: its first, none and its last.
    fn origins(size: usize) -> [isize; 3] {
        let half = (size / 2) as isize;
        [-half, 0, (size as isize - 1) - half]
    }

    fn same_bits(out: &ArrayD<f64>, want: &ArrayD<f64>) -> bool {
        (out.iter().zip(want.iter())).all(|(x, y)| x.to_bits() == y.to_bits())
    }

    #[test]
    fn every_axis_mode_origin_and_size_equals_scipys_running_sum() {
        every_line(|a, line, _| {
            for size in [1, 2, 3, 4, 11, 23] {
                for origin in origins(size) {
                    let line = Line { origin, ..*line };
                    let mut out = ArrayD::<f64>::zeros(a.raw_dim());
                    uniform_filter1d(a.view(), out.view_mut(), size, &line).unwrap();
                    let want = reference(a, line.axis, |l| scipy_uniform(l, size, &line));
                    if !same_bits(&out, &want) {
                        return Err(format!("size {size} origin {origin}"));
                    }
                }
            }
            Ok(())
        });
    }

    #[test]
    fn every_axis_mode_origin_and_weights_equals_scipys_correlate() {
        // Symmetric (a Gaussian), antisymmetric, neither, even, one cell; symmetric to
        // within DBL_EPSILON only (scipy then reads the left weights of each pair); a NaN on
        // the right of a pair, which scipy's test lets pass as symmetric and never reads.
        let gauss: Vec<f64> = (-5..=5)
            .map(|i: i32| (-(i * i) as f64 / 8.0).exp())
            .collect();
        let near = [0.25, 0.5 + 1e-17, 0.25 + 2e-17, 0.5, 0.25];
        let weights: [&[f64]; 7] = [
            &gauss,
            &[-1.0, -0.5, 0.0, 0.5, 1.0],
            &[0.3, -1.7, 2.9, 0.1],
            &[1.0, 2.0, -3.5, 0.125, 7.0],
            &[3.25],
            &near,
            &[0.25, 0.5, f64::NAN],
        ];
        every_line(|a, line, seed| {
            for w in weights {
                for origin in origins(w.len()) {
                    let line = Line { origin, ..*line };
                    let mut out = ArrayD::<f64>::zeros(a.raw_dim());
                    correlate1d(a.view(), out.view_mut(), w, &line).unwrap();
                    let want = reference(a, line.axis, |l| scipy_correlate(l, w, &line));
                    // NaN's sign and payload are not scipy's to promise here: the order of a
                    // sum's operands may differ from its C compiler's.
                    let same = (out.iter().zip(want.iter()))
                        .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()));
                    if !same {
                        return Err(format!("weights {w:?} origin {origin} (seed {seed})"));
                    }
                }
            }
            Ok(())
        });
    }

    #[test]
    fn a_pair_of_passes_equals_scipys_two_passes() {
        let gauss: Vec<f64> = (-11..=11)
            .map(|i: i32| (-(i * i) as f64 / 15.0).exp())
            .collect();
        let weights: [&[f64]; 4] = [&gauss, &[-1.0, 0.0, 1.0], &[0.3, -1.7, 2.9, 0.1], &[3.25]];
        let sizes = [23, 2, 4, 1];
        // scipy's pass along `axis` of `a`.
        let scipy = |a: &ArrayD<f64>, pass: Pass<'_>, line: &Line| match pass {
            Pass::Uniform(size) => reference(a, line.axis, |l| scipy_uniform(l, size, line)),
            Pass::Correlate(w) => reference(a, line.axis, |l| scipy_correlate(l, w, line)),
        };
        // Bands of rows and blocks of columns that do not divide the shape, spans of running
        // sums (tall planes), planes.
        let shapes: [&[usize]; 7] = [
            &[5, 9],
            &[130, 600],
            &[300, 21],
            &[3, 300, 2],
            &[2, 3, 4, 5],
            &[1, 1],
            &[9, 1],
        ];
        let mut seed = 100;
        for shape in shapes {
            let nd = shape.len();
            for (i, mode) in Mode::ALL.into_iter().enumerate() {
                // Each kind of pair meets each kind of data (see `data`).
                seed += 1;
                for kinds in 0..4 {
                    seed += 1;
                    let a = data(shape, seed);
                    let (w0, w1) = (weights[i % 4], weights[(i + 1) % 4]);
                    let passes = [
                        if kinds & 1 == 0 {
                            Pass::Correlate(w0)
                        } else {
                            Pass::Uniform(sizes[i % 4])
                        },
                        if kinds & 2 == 0 {
                            Pass::Correlate(w1)
                        } else {
                            Pass::Uniform(sizes[(i + 1) % 4])
                        },
                    ];
                    let line = |axis, mode, origin| Line {
                        axis,
                        mode,
                        cval: -2.5,
                        origin,
                        truncate: false,
                        threads: Some(2),
                    };
                    let first = line(nd - 2, mode, origins(passes[0].size())[i % 3]);
                    let second = line(
                        nd - 1,
                        Mode::ALL[(i + 2) % 5],
                        origins(passes[1].size())[(i + 1) % 3],
                    );
                    let mut out = ArrayD::<f64>::zeros(a.raw_dim());
                    pair(
                        a.view(),
                        out.view_mut(),
                        (passes[0], &first),
                        (passes[1], &second),
                    )
                    .unwrap();
                    let mid = scipy(&a, passes[0], &first);
                    let want = scipy(&mid, passes[1], &second);
                    // Weighted sums keep some NaN of a window with several, not always scipy's.
                    let running = kinds == 3;
                    let same = (out.iter().zip(want.iter())).all(|(x, y)| {
                        x.to_bits() == y.to_bits() || (!running && x.is_nan() && y.is_nan())
                    });
                    assert!(same, "{shape:?} {mode:?} {passes:?}");
                    // Integers, the intermediate values truncated into the output's type.
                    let bytes = a.mapv(|v| if v.is_finite() { v.abs() as u8 } else { 7 });
                    let wide = bytes.mapv(f64::from);
                    let smooth = [0.25, 0.5, 0.25];
                    let g: f64 = gauss.iter().sum();
                    let gauss: Vec<f64> = gauss.iter().map(|v| v / g).collect();
                    let passes = [
                        if kinds & 1 == 0 {
                            Pass::Correlate(&gauss)
                        } else {
                            Pass::Uniform(7)
                        },
                        if kinds & 2 == 0 {
                            Pass::Correlate(&smooth)
                        } else {
                            Pass::Uniform(3)
                        },
                    ];
                    let (first, second) = (
                        Line {
                            truncate: true,
                            origin: origins(passes[0].size())[i % 3],
                            ..first
                        },
                        Line {
                            truncate: true,
                            origin: origins(passes[1].size())[(i + 1) % 3],
                            ..second
                        },
                    );
                    let mut out = ArrayD::<u8>::zeros(a.raw_dim());
                    pair(
                        bytes.view(),
                        out.view_mut(),
                        (passes[0], &first),
                        (passes[1], &second),
                    )
                    .unwrap();
                    // Held in the output's type: truncated, saturated.
                    let mid = scipy(&wide, passes[0], &first).mapv(|v| v.trunc() as u8 as f64);
                    let want = scipy(&mid, passes[1], &second);
                    assert_eq!(out, want.mapv(|v| v.trunc() as u8), "{shape:?} {mode:?} u8");
                }
            }
        }
        let a = data(&[4, 5], 1);
        let mut out = ArrayD::<f64>::zeros(a.raw_dim());
        let line = |axis| Line {
            axis,
            mode: Mode::Reflect,
            cval: 0.0,
            origin: 0,
            truncate: false,
            threads: None,
        };
        let one = Pass::Correlate(&[1.0]);
        let err = pair(a.view(), out.view_mut(), (one, &line(1)), (one, &line(0)));
        assert!(matches!(err, Err(Error::Shape(_))), "{err:?}");
    }

    /// The integer pair of uniform passes against scipy's two passes in doubles (the first's
    /// means truncated into the type): u8 and u16 data up to their largest values, every mode,
    /// origins, windows up to the largest it takes, cvals it takes and cvals it leaves to the
    /// doubles (not whole, out of range), planes, spans of rows.
    fn integer_pairs_equal_scipys_two_passes<T: Element>(top: f64, sizes: [usize; 6]) {
        let shapes: [&[usize]; 6] = [
            &[5, 9],
            &[130, 70],
            &[3, 67, 2],
            &[2, 3, 4, 5],
            &[1, 1],
            &[9, 1],
        ];
        let mut seed = 7u64;
        for shape in shapes {
            let nd = shape.len();
            for (i, mode) in Mode::ALL.into_iter().enumerate() {
                seed += 1;
                let mut s = seed;
                let a = ArrayD::from_shape_fn(IxDyn(shape), |_| {
                    s = s
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    // A third of the values the type's largest, the rest any.
                    if (s >> 60) % 3 == 0 {
                        top
                    } else {
                        ((s >> 11) % (top as u64 + 1)) as f64
                    }
                });
                let typed = a.mapv(T::from_f64);
                for (k, cval) in [0.0, top, 3.0, -1.0, 2.5].into_iter().enumerate() {
                    let (d0, d1) = (sizes[(i + k) % 6], sizes[(i + 2 * k + 1) % 6]);
                    let line = |axis, mode, size| Line {
                        axis,
                        mode,
                        cval,
                        origin: origins(size)[(i + k + axis) % 3],
                        truncate: true,
                        threads: Some(2),
                    };
                    let (first, second) = (
                        line(nd - 2, mode, d0),
                        line(nd - 1, Mode::ALL[(i + k) % 5], d1),
                    );
                    let mid =
                        reference(&a, nd - 2, |l| scipy_uniform(l, d0, &first)).mapv(f64::trunc);
                    let want =
                        reference(&mid, nd - 1, |l| scipy_uniform(l, d1, &second)).mapv(f64::trunc);
                    let view = typed.view();
                    let down = Lines::new(&view, shape, d0, &first).unwrap().unwrap();
                    let along = Lines::new(&view, shape, d1, &second).unwrap().unwrap();
                    let mut out = ArrayD::from_elem(IxDyn(shape), T::from_f64(0.0));
                    let dst = out.as_slice_mut().unwrap();
                    let taken = crate::schedule::in_pool(Some(2), || {
                        integer::uniform_pair(&down, &along, dst, (d0, &first), (d1, &second))
                    })
                    .unwrap();
                    let constant = first.mode == Mode::Constant || second.mode == Mode::Constant;
                    assert_eq!(taken, k < 3 || !constant, "{shape:?} {mode:?} cval {cval}");
                    if taken {
                        assert_eq!(
                            out.mapv(T::to_f64),
                            want,
                            "{shape:?} {mode:?} {d0} {d1} cval {cval}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn integer_pairs_of_bytes_and_u16_equal_scipys() {
        // Byte windows past 256 take the 64-bit quotient.
        integer_pairs_equal_scipys_two_passes::<u8>(255.0, [1, 2, 3, 7, 23, 300]);
        integer_pairs_equal_scipys_two_passes::<u16>(65535.0, [1, 2, 3, 7, 23, 64]);
    }

    #[test]
    fn integer_data_reads_and_writes_in_its_type() {
        let a = ArrayD::from_shape_fn(IxDyn(&[4, 37]), |i| ((i[0] * 37 + i[1]) * 7 % 256) as u8);
        let wide = a.mapv(|v| v as f64);
        let w = [0.25, 0.5, 0.25];
        for axis in 0..2 {
            let line = Line {
                axis,
                mode: Mode::Wrap,
                cval: 0.0,
                origin: 1,
                truncate: true,
                threads: None,
            };
            let mut out = ArrayD::<u8>::zeros(IxDyn(&[4, 37]));
            uniform_filter1d(a.view(), out.view_mut(), 5, &line).unwrap();
            let want = reference(&wide, axis, |l| scipy_uniform(l, 5, &line));
            assert_eq!(out, want.mapv(|v| v.trunc() as u8), "axis {axis}");
            correlate1d(a.view(), out.view_mut(), &w, &line).unwrap();
            let want = reference(&wide, axis, |l| scipy_correlate(l, &w, &line));
            assert_eq!(out, want.mapv(|v| v.trunc() as u8), "axis {axis}");
        }
    }

    #[test]
    fn bad_arguments_are_errors() {
        let a = ArrayD::<f64>::zeros(IxDyn(&[3, 4]));
        let line = Line {
            axis: 2,
            mode: Mode::Reflect,
            cval: 0.0,
            origin: 0,
            truncate: false,
            threads: None,
        };
        let mut out = ArrayD::<f64>::zeros(IxDyn(&[3, 4]));
        let err = |size: usize, l: &Line, out: &mut ArrayD<f64>| {
            let u = uniform_filter1d(a.view(), out.view_mut(), size, l);
            let u = u.unwrap_err().to_string();
            // The weighted filter's checks are the same ones.
            if size < 64 {
                let w = correlate1d(a.view(), out.view_mut(), &vec![0.5; size], l);
                assert_eq!(w.unwrap_err().to_string(), u);
            }
            u
        };
        assert!(err(3, &line, &mut out).contains("axis 2"));
        // Along axis 0, with one field changed.
        let along = |origin: isize| Line {
            axis: 0,
            origin,
            ..line
        };
        assert!(err(0, &along(0), &mut out).contains("size 0"));
        assert!(err(1 << 40, &along(0), &mut out).contains("1099511627776 values"));
        assert!(err(3, &along(2), &mut out).contains("origin 2"));
        let mut wrong = ArrayD::<f64>::zeros(IxDyn(&[4, 3]));
        assert!(err(3, &along(0), &mut wrong).contains("differs"));
        // A transposed view: not C-contiguous.
        assert!(uniform_filter1d(a.t(), wrong.view_mut(), 3, &along(0))
            .unwrap_err()
            .to_string()
            .contains("C-contiguous"));
    }
}
