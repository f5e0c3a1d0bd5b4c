//! A uniform filter's pair of passes over unsigned integer data, in integers: scipy adds a
//! window's values in doubles and divides by its size, and its separable filter keeps the first
//! pass's means in the output's type; sums of integers below 2⁵³ are exact in any order, and the
//! truncated quotient of an exact sum is its integer quotient. So column sums, prefix sums along
//! rows and a division by a multiply-high give scipy's bits, in u32 lanes (eight to a vector
//! where doubles take four), without a running sum's carried order, and a row's means down the
//! columns go along the row at once, in L1.

use super::{Line, Lines};
use crate::dtype::Element;
use rayon::prelude::*;

/// Rows a task makes at least (a task's first row sums a whole window down the columns).
const SPAN: usize = 32;

/// `x / d` rounded down for `0 ≤ x ≤ top` (`top · d ≤ 2³²`), by a multiply-high: with `2ˢ ≥
/// top · d` and `m = ⌈2ˢ / d⌉ = (2ˢ + e) / d`, `e < d`, `x · m / 2ˢ = x / d + x · e / (d · 2ˢ)`
/// adds less than `1 / d` to a quotient whose fraction is at most `1 − 1 / d`. In u32 lanes
/// when `top · m < 2³²` (byte windows up to 256: a plain 32-bit product, 1.4× faster than the
/// 64-bit one over the camera), else in u64.
#[derive(Clone, Copy)]
struct Quotient {
    m: u64,
    s: u32,
    narrow: bool,
}

impl Quotient {
    fn new(d: usize, top: u64) -> Self {
        let s = (top * d as u64).next_power_of_two().trailing_zeros();
        let m = (1u64 << s).div_ceil(d as u64);
        Quotient {
            m,
            s,
            narrow: top * m < 1 << 32,
        }
    }

    #[inline(always)]
    fn of(self, x: u32) -> u32 {
        if self.narrow {
            x.wrapping_mul(self.m as u32) >> self.s
        } else {
            ((x as u64 * self.m) >> self.s) as u32
        }
    }
}

/// The output of scipy's `uniform_filter1d` along axis −2 (window `d0`), then along axis −1
/// (window `d1`) of those means as the output's type holds them, for an output of the input's
/// unsigned type whose results are truncated (`Line::truncate`) and a cval, where read, that is
/// one of the type's values; `false` (nothing written) for anything else, which the caller
/// makes in doubles.
pub(super) fn uniform_pair<T: Element, O: Element>(
    down: &Lines<'_, T>,
    along: &Lines<'_, T>,
    dst: &mut [O],
    (d0, line0): (usize, &Line),
    (d1, line1): (usize, &Line),
) -> bool {
    // The largest value of the type: sums of at most `d` of them, times `d`, below 2³².
    let top = T::HIGHEST.to_f64();
    let unsigned = T::NAME == O::NAME && T::KEYS > 0 && T::LOWEST.to_f64() == 0.0;
    let cval_ok = |lines: &Lines<'_, T>, cval: f64| {
        lines.ext.iter().all(Option::is_some)
            || (cval.fract() == 0.0 && (0.0..=top).contains(&cval))
    };
    let small = |d: usize| top * (d * d) as f64 <= u32::MAX as f64;
    if !(unsigned
        && line0.truncate
        && line1.truncate
        && small(d0)
        && small(d1)
        && cval_ok(down, line0.cval)
        && cval_ok(along, line1.cval))
    {
        return false;
    }
    let (h, w) = (down.n, along.n);
    let top_sum = |d: usize| top as u64 * d as u64;
    let (q0, q1) = (
        Quotient::new(d0, top_sum(d0)),
        Quotient::new(d1, top_sum(d1)),
    );
    let (c0, c1) = (line0.cval as u32, line1.cval as u32);
    let planes = dst.len() / (h * w);
    let spans = (4 * rayon::current_num_threads())
        .div_ceil(planes)
        .min(h.div_ceil(SPAN));
    let rows = h.div_ceil(spans);
    let tasks: Vec<_> = (dst.chunks_mut(h * w).enumerate())
        .flat_map(|(p, plane)| {
            plane
                .chunks_mut(rows * w)
                .enumerate()
                .map(move |(s, out)| (p, s * rows, out))
        })
        .collect();
    tasks.into_par_iter().for_each_init(
        || (Vec::new(), Vec::new()),
        |(sums, prefix), (p, r0, out)| {
            let plane = &down.src[p * h * w..][..h * w];
            let row = |e: Option<usize>| e.map(|r| &plane[r * w..][..w]);
            crate::simd::avx2(
                #[inline(always)]
                || {
                    sums.clear();
                    sums.resize(w, 0u32);
                    for &e in &down.ext[r0..r0 + d0] {
                        add_row(sums, row(e), c0, true);
                    }
                    for (i, out) in out.chunks_mut(w).enumerate() {
                        let r = r0 + i;
                        if i > 0 {
                            add_row(sums, row(down.ext[r + d0 - 1]), c0, true);
                            add_row(sums, row(down.ext[r - 1]), c0, false);
                        }
                        means_along(sums, q0, prefix, along, c1, d1, q1, out);
                    }
                },
            )
        },
    );
    true
}

/// `sums ± row` (the cval's row for `None`), wrapping: the sums after both of a step's rows are
/// exact.
#[inline(always)]
fn add_row<T: Element>(sums: &mut [u32], row: Option<&[T]>, cval: u32, plus: bool) {
    match (row, plus) {
        (Some(r), true) => {
            (sums.iter_mut().zip(r)).for_each(|(s, v)| *s = s.wrapping_add(v.lane() as u32))
        }
        (Some(r), false) => {
            (sums.iter_mut().zip(r)).for_each(|(s, v)| *s = s.wrapping_sub(v.lane() as u32))
        }
        (None, true) => sums.iter_mut().for_each(|s| *s = s.wrapping_add(cval)),
        (None, false) => sums.iter_mut().for_each(|s| *s = s.wrapping_sub(cval)),
    }
}

/// One output row: the means down the columns (`sums` by `q0`, as the output's type holds
/// them: whole numbers in range), extended along the row as `along` reads its lines, their
/// prefix sums in `prefix`, and each window's sum by `q1`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn means_along<T: Element, O: Element>(
    sums: &[u32],
    q0: Quotient,
    prefix: &mut Vec<u32>,
    along: &Lines<'_, T>,
    cval: u32,
    d1: usize,
    q1: Quotient,
    out: &mut [O],
) {
    let w = sums.len();
    // prefix[0] = 0, prefix[i + 1] = the extended row's value i; then its prefix sums.
    prefix.resize(along.ext.len() + 1, 0);
    prefix[0] = 0;
    along.extend(&mut prefix[1..], sums, cval, |s| q0.of(*s));
    crate::simd::prefix_i32(bytemuck_i32(&mut prefix[1..]));
    let (hi, lo) = (&prefix[d1..d1 + w], &prefix[..w]);
    for ((o, hi), lo) in out.iter_mut().zip(hi).zip(lo) {
        *o = O::from_lane(q1.of(hi.wrapping_sub(*lo)) as i32);
    }
}

/// The u32 values as i32 (the same bits: the prefix sums wrap alike).
fn bytemuck_i32(v: &mut [u32]) -> &mut [i32] {
    // SAFETY: u32 and i32 have one size and alignment, and every bit pattern is valid in both.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast(), v.len()) }
}

#[cfg(test)]
mod tests {
    use super::Quotient;

    /// Every sum of byte windows up to 300 values, and of u16 windows up to 16 values, then
    /// sampled sums of u16 windows up to the largest taken (256), against integer division.
    #[test]
    fn quotients_are_integer_divisions() {
        let check = |d: usize, top: u64, xs: &mut dyn Iterator<Item = u64>| {
            let q = Quotient::new(d, top * d as u64);
            for x in xs {
                assert_eq!(q.of(x as u32) as u64, x / d as u64, "{x} / {d}");
            }
        };
        for d in 1..=300 {
            check(d, 255, &mut (0..=255 * d as u64));
        }
        for d in 1..=16 {
            check(d, 65535, &mut (0..=65535 * d as u64));
        }
        for d in 17..=256 {
            let top = 65535 * d as u64;
            check(
                d,
                65535,
                &mut (0..=top).step_by(997).chain(top - 5000..=top),
            );
        }
    }
}
