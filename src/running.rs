//! scipy's running-sum line filter, `uniform_filter1d`, in scipy's own arithmetic, for
//! `jitfilter.ndimage`. Per line scipy adds the first window's values from +0 in order, then per
//! position adds the entering value minus the leaving one (`tmp += in − out`) and divides by the
//! size; doing exactly that gives its results bit for bit, with one subtraction, one addition
//! and one division per value. The planner's sliding sums are more accurate (the running sum's
//! error grows along the line) but they are not scipy's bits, and cost two to three times as
//! much. Lines are read in f64 as scipy's line buffers hold them, with scipy's boundary modes
//! ([`Mode::map`]).

use crate::boundary::Mode;
use crate::dtype::Element;
use crate::error::Error;
use ndarray::{ArrayViewD, ArrayViewMutD};
use rayon::prelude::*;

/// The most columns a task runs down when lines cross rows (the running sums of a block stay
/// in L1); fewer when that would leave threads idle.
const BLOCK: usize = 256;
/// Lines a task runs side by side when lines are rows: one value of each per vector.
const LANES: usize = 8;

/// How a run reads the array: the window's size and origin along `axis`, and the mode.
#[derive(Debug, Clone, Copy)]
pub struct Running {
    pub size: usize,
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
/// use jitfilter::running::{uniform_filter1d, Running};
/// use jitfilter::Mode;
/// let a = ndarray::array![[1.0f64, 2.0, 3.0, 4.0]].into_dyn();
/// let mut out = ndarray::Array2::<f64>::zeros((1, 4)).into_dyn();
/// let run = Running { size: 3, axis: 1, mode: Mode::Nearest, cval: 0.0, origin: 0,
///                     truncate: false, threads: Some(1) };
/// uniform_filter1d(a.view(), out.view_mut(), &run).unwrap();
/// assert_eq!(out.as_slice().unwrap(), &[4.0 / 3.0, 2.0, 3.0, 11.0 / 3.0]);
/// ```
pub fn uniform_filter1d<T: Element, O: Element>(
    input: ArrayViewD<'_, T>,
    mut output: ArrayViewMutD<'_, O>,
    run: &Running,
) -> Result<(), Error> {
    let shape = input.shape().to_vec();
    if output.shape() != shape.as_slice() {
        return Err(Error::Shape(format!(
            "output shape {:?} differs from the input's {shape:?}",
            output.shape()
        )));
    }
    if run.axis >= shape.len() {
        return Err(Error::Shape(format!(
            "axis {} is out of range for a {}-D array",
            run.axis,
            shape.len()
        )));
    }
    if run.size == 0 {
        return Err(Error::Footprint("a window of size 0".into()));
    }
    // The bound on a footprint's cells: the line buffers grow with the window.
    let limits = crate::limits::Limits::default();
    if run.size > limits.max_footprint {
        let what = format!("the window has {} values", run.size);
        return Err(crate::limits::Limit::Footprint
            .exceeded(&limits, what)
            .into());
    }
    crate::kernel::check_origin(run.axis, run.origin, run.size)?;
    let half = (run.size / 2) as isize;
    let contiguous = |what: &str| Error::Shape(format!("the {what} must be C-contiguous"));
    let src = input.as_slice().ok_or_else(|| contiguous("input"))?;
    let dst = output.as_slice_mut().ok_or_else(|| contiguous("output"))?;
    let n = shape[run.axis];
    let inner: usize = shape[run.axis + 1..].iter().product();
    if src.is_empty() {
        return Ok(());
    }
    // Where each position of a line reads its window: scipy's line buffer holds the line
    // extended by `size / 2 + origin` values before it and the rest after it.
    let first = -half - run.origin;
    let ext: Vec<Option<usize>> = (0..n + run.size - 1)
        .map(|i| run.mode.map(first + i as isize, n))
        .collect();
    crate::schedule::in_pool(run.threads, move || {
        if inner == 1 {
            rows(src, dst, n, &ext, run)
        } else {
            columns(src, dst, n, inner, &ext, run)
        }
    })
}

#[inline(always)]
fn store<O: Element>(v: f64, truncate: bool) -> O {
    O::from_f64(if truncate { v.trunc() } else { v })
}

/// Lines down the rows (`inner` values per row): each task runs down a block of columns of one
/// run of `n` rows, its sums one per column.
fn columns<T: Element, O: Element>(
    src: &[T],
    dst: &mut [O],
    n: usize,
    inner: usize,
    ext: &[Option<usize>],
    run: &Running,
) {
    // Four tasks per thread at least, of whole vectors.
    let outer = dst.len() / (n * inner);
    let share = inner * outer / (4 * rayon::current_num_threads());
    let block = (share.div_ceil(8) * 8).clamp(32, BLOCK);
    let run_block = |sums: &mut Vec<f64>, o: usize, x0: usize, width: usize, rows| {
        let plane = &src[o * n * inner..(o + 1) * n * inner];
        let row = |p: Option<usize>| p.map(|r| &plane[r * inner + x0..r * inner + x0 + width]);
        crate::simd::avx2(
            #[inline(always)]
            || column_block(sums, row, rows, ext, width, run),
        );
    };
    if inner <= block {
        // Rows of one block: whole runs of rows per task, several when they are short (a
        // task per run of two rows of two values cost more than the sums).
        let per = (4096 / (n * inner)).max(1);
        dst.par_chunks_mut(n * inner * per)
            .enumerate()
            .for_each_init(Vec::new, |sums, (t, lines)| {
                for (i, lines) in lines.chunks_mut(n * inner).enumerate() {
                    run_block(
                        sums,
                        t * per + i,
                        0,
                        inner,
                        lines.chunks_mut(inner).collect(),
                    );
                }
            });
        return;
    }
    // Per task (a run of rows, a block of columns): its slice of each output row.
    let mut tasks: Vec<(usize, usize, Vec<&mut [O]>)> = Vec::new();
    for (o, lines) in dst.chunks_mut(n * inner).enumerate() {
        let first = tasks.len();
        for (r, row) in lines.chunks_mut(inner).enumerate() {
            for (b, part) in row.chunks_mut(block).enumerate() {
                if r == 0 {
                    tasks.push((o, b * block, Vec::with_capacity(n)));
                }
                tasks[first + b].2.push(part);
            }
        }
    }
    tasks
        .into_par_iter()
        .for_each_init(Vec::new, |sums, (o, x0, out)| {
            let width = out[0].len();
            run_block(sums, o, x0, width, out)
        });
}

/// `sum + delta` with scipy's NaN: x86 keeps the first operand's NaN when both are NaN (a NaN
/// sum stays the NaN it is; scipy's `tmp += …`), where the compiler may swap the operands of an
/// addition.
#[inline(always)]
fn add(sum: f64, delta: f64) -> f64 {
    if sum.is_nan() {
        sum
    } else {
        sum + delta
    }
}

#[inline(always)]
fn column_block<'a, T: Element, O: Element>(
    sums: &mut Vec<f64>,
    row: impl Fn(Option<usize>) -> Option<&'a [T]>,
    mut out: Vec<&mut [O]>,
    ext: &[Option<usize>],
    width: usize,
    run: &Running,
) {
    let (size, cval, truncate) = (run.size, run.cval, run.truncate);
    let d = size as f64;
    sums.clear();
    sums.resize(width, 0.0);
    for &p in &ext[..size] {
        match row(p) {
            Some(r) => (sums.iter_mut().zip(r)).for_each(|(s, v)| *s = add(*s, v.to_f64())),
            None => sums.iter_mut().for_each(|s| *s = add(*s, cval)),
        }
    }
    for (o, s) in out[0].iter_mut().zip(sums.iter()) {
        *o = store(*s / d, truncate);
    }
    for (ll, line) in out.iter_mut().enumerate().skip(1) {
        let (enter, leave) = (row(ext[ll + size - 1]), row(ext[ll - 1]));
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

/// `sums[x] += delta(x); line[x] = sums[x] / d`, over a block.
#[inline(always)]
fn step<O: Element>(
    sums: &mut [f64],
    line: &mut [O],
    delta: impl Fn(usize) -> f64,
    d: f64,
    truncate: bool,
) {
    let w = sums.len().min(line.len());
    let (sums, line) = (&mut sums[..w], &mut line[..w]);
    for x in 0..w {
        sums[x] = add(sums[x], delta(x));
        line[x] = store(sums[x] / d, truncate);
    }
}

/// Lines along rows (each row a line of `n`): each task takes [`LANES`] lines side by side,
/// extended (as scipy's line buffer) into a buffer one vector of lanes per position, so that
/// their running sums advance as vectors — each sum's additions depend on the one before, and
/// the lanes are independent.
fn rows<T: Element, O: Element>(
    src: &[T],
    dst: &mut [O],
    n: usize,
    ext: &[Option<usize>],
    run: &Running,
) {
    let (size, cval, truncate) = (run.size, run.cval, run.truncate);
    let d = size as f64;
    let el = ext.len();
    // The positions that read the line in order: its `n` values, after the first window's
    // `size / 2 + origin` positions before it.
    let lead = ((size / 2) as isize + run.origin) as usize;
    debug_assert!((0..n).all(|j| ext[lead + j] == Some(j)));
    dst.par_chunks_mut(n * LANES).enumerate().for_each_init(
        || (Vec::new(), Vec::new()),
        |(buf, means), (g, out)| {
            let lines = out.len() / n;
            let base = g * LANES * n;
            if lines < LANES {
                // Lanes of no line: zeros (stale values might be subnormal, which the adder
                // takes slowly; any value is correct).
                buf.clear();
            }
            buf.resize(el * LANES, 0.0f64);
            means.resize(n * LANES, 0.0f64);
            crate::simd::avx2(
                #[inline(always)]
                || {
                    // Copies in registers: the captured originals are memory the stores below
                    // might alias, as far as the compiler knows (it divided value by value).
                    let (d, cval, truncate) = (d, cval, truncate);
                    for k in 0..lines {
                        let line = &src[base + k * n..base + (k + 1) * n];
                        // The line in order first (the edges then read what is in cache).
                        let cells = buf[lead * LANES + k..].iter_mut().step_by(LANES);
                        cells.zip(line).for_each(|(c, v)| *c = v.to_f64());
                        for i in (0..lead).chain(lead + n..el) {
                            buf[i * LANES + k] = ext[i].map_or(cval, |p| line[p].to_f64());
                        }
                    }
                    let mut t = [0.0f64; LANES];
                    for cell in buf.chunks_exact(LANES).take(size) {
                        (0..LANES).for_each(|k| t[k] = add(t[k], cell[k]));
                    }
                    (0..LANES).for_each(|k| means[k] = t[k] / d);
                    let (enter, leave) = (&buf[size * LANES..], &buf[..]);
                    let steps = enter.chunks_exact(LANES).zip(leave.chunks_exact(LANES));
                    for ((a, b), m) in steps.zip(means.chunks_exact_mut(LANES).skip(1)) {
                        (0..LANES).for_each(|k| t[k] = add(t[k], a[k] - b[k]));
                        (0..LANES).for_each(|k| m[k] = t[k] / d);
                    }
                    for (k, line) in out.chunks_exact_mut(n).enumerate() {
                        let m = means[k..].iter().step_by(LANES);
                        line.iter_mut()
                            .zip(m)
                            .for_each(|(o, m)| *o = store(*m, truncate));
                    }
                },
            );
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{ArrayD, IxDyn};

    /// scipy's loop as written in its C source (NI_UniformFilter1D), one line at a time.
    fn scipy_line(line: &[f64], run: &Running) -> Vec<f64> {
        let n = line.len();
        let first = -((run.size / 2) as isize) - run.origin;
        let ext: Vec<f64> = (0..n + run.size - 1)
            .map(|i| {
                run.mode
                    .map(first + i as isize, n)
                    .map_or(run.cval, |p| line[p])
            })
            .collect();
        let d = run.size as f64;
        // C's `tmp += v` on x86 (`addsd tmp, v`): of two NaNs, tmp's.
        let c_add = |tmp: &mut f64, v: f64| {
            *tmp = if tmp.is_nan() { *tmp } else { *tmp + v };
        };
        let mut tmp = 0.0;
        for &v in &ext[..run.size] {
            c_add(&mut tmp, v);
        }
        let mut out = vec![tmp / d];
        for ll in 1..n {
            c_add(&mut tmp, ext[ll + run.size - 1] - ext[ll - 1]);
            out.push(tmp / d);
        }
        out
    }

    fn reference(a: &ArrayD<f64>, run: &Running) -> ArrayD<f64> {
        let mut out = a.clone();
        for (mut o, i) in out
            .lanes_mut(ndarray::Axis(run.axis))
            .into_iter()
            .zip(a.lanes(ndarray::Axis(run.axis)))
        {
            let line: Vec<f64> = i.iter().copied().collect();
            o.iter_mut()
                .zip(scipy_line(&line, run))
                .for_each(|(o, v)| *o = v);
        }
        out
    }

    /// Values that make the order of additions show in the last bits.
    fn data(shape: &[usize], seed: u64) -> ArrayD<f64> {
        let mut s = seed;
        ArrayD::from_shape_fn(IxDyn(shape), |_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            // NaNs of both signs and infinities now and then: a NaN sum (-NaN from ∞ − ∞) meeting
            // a data NaN keeps its own, as scipy's.
            match (s >> 58) % 32 {
                0 => f64::NAN,
                1 => -f64::NAN,
                2 => f64::INFINITY,
                3 => f64::NEG_INFINITY,
                _ => ((s >> 11) as f64 / (1u64 << 53) as f64 - 0.3) * 1e3,
            }
        })
    }

    #[test]
    fn every_axis_mode_origin_and_size_equals_scipys_loop() {
        let shapes: [&[usize]; 5] = [&[7], &[5, 9], &[3, 300, 2], &[2, 3, 4, 5], &[1, 1]];
        let mut seed = 1;
        for shape in shapes {
            for axis in 0..shape.len() {
                for mode in [
                    Mode::Reflect,
                    Mode::Mirror,
                    Mode::Nearest,
                    Mode::Wrap,
                    Mode::Constant,
                ] {
                    // An infinite cval: scipy's sums subtract it from itself (NaN).
                    let cval = if mode == Mode::Constant && shape.len() == 2 {
                        f64::INFINITY
                    } else {
                        -2.5
                    };
                    for size in [1, 2, 3, 4, 11, 23] {
                        let half = (size / 2) as isize;
                        for origin in [-half, 0, (size as isize - 1) - half] {
                            seed += 1;
                            let a = data(shape, seed);
                            let run = Running {
                                size,
                                axis,
                                mode,
                                cval,
                                origin,
                                truncate: false,
                                threads: Some(2),
                            };
                            let mut out = ArrayD::<f64>::zeros(IxDyn(shape));
                            uniform_filter1d(a.view(), out.view_mut(), &run).unwrap();
                            let want = reference(&a, &run);
                            let same = (out.iter().zip(want.iter()))
                                .all(|(x, y)| x.to_bits() == y.to_bits());
                            assert!(
                                same,
                                "{shape:?} axis {axis} {mode:?} size {size} origin {origin}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn integer_data_reads_and_writes_in_its_type() {
        let a = ArrayD::from_shape_fn(IxDyn(&[4, 37]), |i| ((i[0] * 37 + i[1]) * 7 % 256) as u8);
        let wide = a.mapv(|v| v as f64);
        for axis in 0..2 {
            let run = Running {
                size: 5,
                axis,
                mode: Mode::Wrap,
                cval: 0.0,
                origin: 1,
                truncate: true,
                threads: None,
            };
            let mut out = ArrayD::<u8>::zeros(IxDyn(&[4, 37]));
            uniform_filter1d(a.view(), out.view_mut(), &run).unwrap();
            let want = reference(&wide, &run).mapv(|v| v.trunc() as u8);
            assert_eq!(out, want, "axis {axis}");
        }
    }

    #[test]
    fn bad_arguments_are_errors() {
        let a = ArrayD::<f64>::zeros(IxDyn(&[3, 4]));
        let run = Running {
            size: 3,
            axis: 2,
            mode: Mode::Reflect,
            cval: 0.0,
            origin: 0,
            truncate: false,
            threads: None,
        };
        let mut out = ArrayD::<f64>::zeros(IxDyn(&[3, 4]));
        let err = |r: &Running, out: &mut ArrayD<f64>| {
            uniform_filter1d(a.view(), out.view_mut(), r)
                .unwrap_err()
                .to_string()
        };
        assert!(err(&run, &mut out).contains("axis 2"));
        // Along axis 0, with one field changed.
        let along = |size: usize, origin: isize| Running {
            axis: 0,
            size,
            origin,
            ..run
        };
        assert!(err(&along(0, 0), &mut out).contains("size 0"));
        assert!(err(&along(1 << 40, 0), &mut out).contains("1099511627776 values"));
        assert!(err(&along(3, 2), &mut out).contains("origin 2"));
        let mut wrong = ArrayD::<f64>::zeros(IxDyn(&[4, 3]));
        assert!(err(&along(3, 0), &mut wrong).contains("differs"));
        // A transposed view: not C-contiguous.
        assert!(uniform_filter1d(a.t(), wrong.view_mut(), &along(3, 0))
            .unwrap_err()
            .to_string()
            .contains("C-contiguous"));
    }
}
