//! Exact window sums of integer images. A program that is one sum or mean of the window —
//! `sum(w)`, `mean(w)`, or a mean rounded by `trunc`, `floor`, `ceil` or `round` (as
//! `jitfilter.ndimage` asks for integer outputs) — runs natively on the image's padded blocks
//! in i32 lanes: eight per AVX2 register where the planner's f64 planes hold four, with no
//! conversion of the block to f64 and no double-double prefixes, as integer sums are exact in
//! any order. Rectangles of the footprint (a box, a line down the rows) run down the rows as
//! running sums; the other chords are differences of each block row's prefix sums.
//!
//! Sums wrap modulo 2³² on the way (a row's prefix may pass i32's range); a window's true sum
//! fits in an i32 (see [`fits`]), so the wrapped differences are exact.

use crate::dtype::Element;
use crate::ir::Func;
use crate::order::{self, Chord};

/// What a window's sum becomes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Finish {
    /// Divided by the window's cell count (the mean), as the interpreter divides its sum.
    pub mean: bool,
    /// Then rounded by `trunc`, `floor`, `ceil` or `round`.
    pub round: Option<Func>,
}

/// Whether a window of `cells` values of `T` sums within an i32 (so that every sum is exact).
pub fn fits<T: Element>(cells: usize) -> bool {
    cells as f64 * top::<T>() <= i32::MAX as f64
}

/// The largest magnitude of a `T`.
fn top<T: Element>() -> f64 {
    T::LOWEST.to_f64().abs().max(T::HIGHEST.to_f64())
}

/// Per-worker buffers.
#[derive(Default)]
pub struct Scratch {
    /// Per block row, its `bw + 1` prefix sums (0 first).
    prefix: Vec<i32>,
    /// Per rectangle, its running sums for the current output row.
    downs: Vec<i32>,
    /// The current output row's sums.
    acc: Vec<i32>,
}

/// The geometry of a stripe's padded block: `bw` values per block row, `nrows` output rows of
/// `width` pixels; output row `ry` goes to `out[ry * stride..]`.
#[derive(Debug, Clone, Copy)]
pub struct Geometry {
    pub bw: usize,
    pub nrows: usize,
    pub width: usize,
    pub stride: usize,
}

/// Writes, for every output pixel of a stripe, `finish` of the sum of the block's values under
/// the `chords` (each as `block[(ry + row) * bw + col + x ..][..len]`).
pub fn sums<T: Element, O: Element>(
    block: &[T],
    g: Geometry,
    chords: &[Chord],
    finish: Finish,
    scratch: &mut Scratch,
    out: &mut [O],
) {
    let cells = chords.iter().map(|c| c.len).sum::<usize>();
    let d = if finish.mean { cells as f64 } else { 1.0 };
    // A rounded mean of T's values is a whole number within T's range. Where the sums stay
    // below 2²³ in magnitude, f32 division gives the same whole number as f64's (the quotient's
    // rounding error, under 1/(2·cells), cannot cross an integer or a half), eight lanes at a
    // time, and a whole number within O's range converts to O as it is.
    let whole = finish.mean
        && cells as f64 * top::<T>() < (1 << 23) as f64
        && O::LOWEST.to_f64() <= T::LOWEST.to_f64()
        && T::HIGHEST.to_f64() <= O::HIGHEST.to_f64();
    let q = cells as f32;
    // SAFETY (every `to_int_unchecked`): the value is a whole number within T's range.
    let lane = |v: f32| O::from_lane(unsafe { v.to_int_unchecked::<i32>() });
    crate::simd::avx2(
        #[inline(always)]
        || match (finish.round, whole) {
            (Some(Func::Trunc), true) => stripe(block, g, chords, scratch, out, |s| {
                lane((s as f32 / q).trunc())
            }),
            (Some(Func::Floor), true) => stripe(block, g, chords, scratch, out, |s| {
                lane((s as f32 / q).floor())
            }),
            (Some(Func::Ceil), true) => stripe(block, g, chords, scratch, out, |s| {
                lane((s as f32 / q).ceil())
            }),
            (Some(Func::Round), true) => stripe(block, g, chords, scratch, out, |s| {
                lane((s as f32 / q).round_ties_even())
            }),
            (None, _) => stripe(block, g, chords, scratch, out, |s| {
                O::from_f64(s as f64 / d)
            }),
            (Some(Func::Trunc), _) => stripe(block, g, chords, scratch, out, |s| {
                O::from_f64((s as f64 / d).trunc())
            }),
            (Some(Func::Floor), _) => stripe(block, g, chords, scratch, out, |s| {
                O::from_f64((s as f64 / d).floor())
            }),
            (Some(Func::Ceil), _) => stripe(block, g, chords, scratch, out, |s| {
                O::from_f64((s as f64 / d).ceil())
            }),
            (Some(_), _) => stripe(block, g, chords, scratch, out, |s| {
                O::from_f64((s as f64 / d).round_ties_even())
            }),
        },
    )
}

/// [`sums`] for one way of making an output value from a window's sum, inlined into
/// [`crate::simd::avx2`].
#[inline(always)]
fn stripe<T: Element, O: Element>(
    block: &[T],
    g: Geometry,
    chords: &[Chord],
    scratch: &mut Scratch,
    out: &mut [O],
    finish: impl Fn(i32) -> O + Copy,
) {
    let Geometry {
        bw,
        nrows,
        width,
        stride,
    } = g;
    // A rectangle costs the same per output row however tall (a row enters, a row leaves);
    // its chords apart would cost one difference of prefixes per row.
    let (rects, singles) = order::rectangles(chords, |_, rows| rows >= 3);
    let Scratch { prefix, downs, acc } = scratch;
    if chords.iter().any(|c| c.len > 1) {
        prefixes(block, bw, prefix);
    }
    downs.resize(rects.len() * width, 0);
    acc.resize(width, 0);
    // The sums of the `len` cells from column `col + x` of block row `b`, for x < width: the
    // cells themselves when `len` is 1, else two prefixes to subtract.
    let run = |b: usize, c: &Chord| -> Run<'_, T> {
        match c.len {
            1 => Run::Cells(&block[b * bw + c.col..][..width]),
            len => {
                let p = &prefix[b * (bw + 1) + c.col..];
                Run::Prefix(&p[len..len + width], &p[..width])
            }
        }
    };
    // One rectangle alone (a box, a line down the rows) is finished from its running sums.
    let alone = rects.len() == 1 && singles.is_empty();
    for ry in 0..nrows {
        let mut first = true;
        for (i, (c, rows)) in rects.iter().enumerate() {
            let down = &mut downs[i * width..(i + 1) * width];
            if ry == 0 {
                run(c.row, c).write_to(down, |d, v| *d = v);
                for b in 1..*rows {
                    run(c.row + b, c).write_to(down, |d, v| *d = d.wrapping_add(v));
                }
            } else {
                slide(down, run(c.row + ry + rows - 1, c), run(c.row + ry - 1, c));
            }
            match (first, alone) {
                (_, true) => {}
                (true, _) => acc.copy_from_slice(down),
                _ => (acc.iter_mut().zip(&*down)).for_each(|(a, d)| *a = a.wrapping_add(*d)),
            }
            first = false;
        }
        for c in &singles {
            match first {
                true => run(ry + c.row, c).write_to(acc, |a, v| *a = v),
                false => run(ry + c.row, c).write_to(acc, |a, v| *a = a.wrapping_add(v)),
            }
            first = false;
        }
        let dst = &mut out[ry * stride..][..width];
        let total = if alone { &downs[..] } else { &acc[..] };
        for (o, &s) in dst.iter_mut().zip(total) {
            *o = finish(s);
        }
    }
}

/// One chord's sums along an output row.
enum Run<'a, T> {
    Cells(&'a [T]),
    /// The prefixes at the chord's end and at its start.
    Prefix(&'a [i32], &'a [i32]),
}

impl<T: Element> Run<'_, T> {
    /// `put(dst[x], sum x)` for every x.
    #[inline(always)]
    fn write_to(self, dst: &mut [i32], put: impl Fn(&mut i32, i32)) {
        match self {
            Run::Cells(v) => (dst.iter_mut().zip(v)).for_each(|(d, v)| put(d, v.lane())),
            Run::Prefix(hi, lo) => (dst.iter_mut().zip(hi.iter().zip(lo)))
                .for_each(|(d, (h, l))| put(d, h.wrapping_sub(*l))),
        }
    }
}

/// A rectangle's running sums one row down: the row entering added, the row leaving taken away.
#[inline(always)]
fn slide<T: Element>(down: &mut [i32], enter: Run<'_, T>, leave: Run<'_, T>) {
    match (enter, leave) {
        (Run::Cells(e), Run::Cells(l)) => {
            for (d, (e, l)) in down.iter_mut().zip(e.iter().zip(l)) {
                *d = d.wrapping_add(e.lane().wrapping_sub(l.lane()));
            }
        }
        (Run::Prefix(eh, el), Run::Prefix(lh, ll)) => {
            let (enter, leave) = (eh.iter().zip(el), lh.iter().zip(ll));
            for (d, ((eh, el), (lh, ll))) in down.iter_mut().zip(enter.zip(leave)) {
                let e = eh.wrapping_sub(*el);
                *d = d.wrapping_add(e.wrapping_sub(lh.wrapping_sub(*ll)));
            }
        }
        _ => unreachable!("a rectangle's rows are chords of one length"),
    }
}

/// The prefix sums of every block row of `block` (`bw` per row) into `prefix`, `bw + 1` per row
/// starting at 0: each row widened to i32 lanes, then summed in place.
#[inline(always)]
fn prefixes<T: Element>(block: &[T], bw: usize, prefix: &mut Vec<i32>) {
    let rows = block.len() / bw;
    prefix.resize(rows * (bw + 1), 0);
    for (src, p) in block.chunks_exact(bw).zip(prefix.chunks_exact_mut(bw + 1)) {
        p[0] = 0;
        (p[1..].iter_mut().zip(src)).for_each(|(q, v)| *q = v.lane());
        crate::simd::prefix_i32(&mut p[1..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every window's sum, mean and rounded mean against sums taken cell by cell, for a
    /// footprint with a rectangle (rows 0–3 of width 3), single chords and a line down the rows,
    /// on u8 and i16 data.
    #[test]
    fn sums_match_cell_by_cell() {
        let (bw, nrows, width) = (13, 5, 7);
        let chords = [
            (0, 1, 3),
            (1, 1, 3),
            (2, 1, 3),
            (3, 1, 3),
            (4, 0, 5),
            (5, 4, 1),
        ]
        .map(|(row, col, len)| Chord { row, col, len });
        let rows = nrows + 5;
        let data: Vec<i64> = (0..rows * bw).map(|i| (i * 7919 % 251) as i64).collect();
        fn check<T: Element>(data: &[T], bw: usize, nrows: usize, width: usize, chords: &[Chord]) {
            let g = Geometry {
                bw,
                nrows,
                width,
                stride: width + 2,
            };
            for finish in [
                Finish {
                    mean: false,
                    round: None,
                },
                Finish {
                    mean: true,
                    round: None,
                },
                Finish {
                    mean: true,
                    round: Some(Func::Floor),
                },
            ] {
                let mut out = vec![f64::NAN; nrows * g.stride];
                sums(data, g, chords, finish, &mut Scratch::default(), &mut out);
                let cells: usize = chords.iter().map(|c| c.len).sum();
                for ry in 0..nrows {
                    for x in 0..width {
                        let s: f64 = (chords.iter())
                            .flat_map(|c| (0..c.len).map(move |i| (c, i)))
                            .map(|(c, i)| data[(ry + c.row) * bw + c.col + x + i].to_f64())
                            .sum();
                        let want = match (finish.mean, finish.round) {
                            (false, _) => s,
                            (true, None) => s / cells as f64,
                            (true, Some(_)) => (s / cells as f64).floor(),
                        };
                        assert_eq!(out[ry * g.stride + x], want, "{finish:?} at {ry},{x}");
                    }
                }
            }
        }
        let u8s: Vec<u8> = data.iter().map(|&v| v as u8).collect();
        let i16s: Vec<i16> = data.iter().map(|&v| (v * 130 - 16000) as i16).collect();
        check(&u8s, bw, nrows, width, &chords);
        check(&i16s, bw, nrows, width, &chords);
    }

    /// Rounded means into u8 where sums come nearest 2²³ (the f32 route's bound): one chord of
    /// 32895 cells of u8, the windows' sums 255 · len − x just below a multiple of the count
    /// (where a quotient rounded up would be caught), against integer arithmetic.
    #[test]
    fn rounded_means_near_the_f32_bound_are_exact() {
        let (len, width) = (32_895usize, 3000);
        let data: Vec<u8> = (0..len + width)
            .map(|i| if i < len { 255 } else { 254 })
            .collect();
        let chords = [Chord {
            row: 0,
            col: 0,
            len,
        }];
        let g = Geometry {
            bw: len + width,
            nrows: 1,
            width,
            stride: width,
        };
        for round in [Func::Trunc, Func::Ceil, Func::Round] {
            let finish = Finish {
                mean: true,
                round: Some(round),
            };
            let mut out = vec![0u8; width];
            sums(&data, g, &chords, finish, &mut Scratch::default(), &mut out);
            let (n, mut s) = (
                len as i64,
                data[..len].iter().map(|&v| v as i64).sum::<i64>(),
            );
            for x in 0..width {
                if x > 0 {
                    s += data[x + len - 1] as i64 - data[x - 1] as i64;
                }
                let (q, r) = (s / n, s % n);
                let want = match round {
                    Func::Trunc => q,
                    Func::Ceil => q + (r > 0) as i64,
                    _ => q + (2 * r > n || (2 * r == n && q % 2 == 1)) as i64,
                };
                assert_eq!(out[x] as i64, want, "{round:?} of {s}/{n} at {x}");
            }
        }
    }

    #[test]
    fn window_sums_fit_in_i32() {
        assert!(fits::<u8>(8_000_000));
        assert!(!fits::<u8>(9_000_000));
        assert!(fits::<u16>(32_768));
        assert!(!fits::<i32>(1));
    }
}
