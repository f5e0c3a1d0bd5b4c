//! Order statistics of small windows by selection networks, many pixels per vector. A sliding
//! histogram ([`crate::order::ranks`]) pays per pixel for every chord it slides and every bin
//! its cursor walks: for a 3×3 median of real-valued data (a bin per distinct value of the
//! block) that was 9 ms for a 512² image. A sorting network instead orders the window with a
//! fixed list of compare-exchanges (`min` and `max` of two cells), the same for every pixel, so
//! each runs over a whole row of pixels at once as vector `min`/`max` (32 u8 or 4 f64 pixels an
//! instruction under AVX2). Only the sorted positions the statistic reads are kept: the
//! exchanges that cannot reach them are dropped, and those that reach them by one side only
//! become a single `min` or `max`.
//!
//! The network is Batcher's odd–even merge sort of the next power of two, cut to the window's
//! size (the cells beyond hold +∞ in effect, and an exchange with +∞ changes nothing).
//! Comparisons are `<` of the element type, which is the order of `sort` only where no two
//! different values compare equal: integers, and floats without NaN and without `-0` beside
//! `+0` — [`plain`] says whether a block qualifies; others keep the histogram.

use crate::dtype::Element;
use crate::order::{kth_index, Rank};

/// One step of a network over the window's cells ("wires"): wire `a` < wire `b`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Step {
    /// Both sides: `a` gets the smaller value, `b` the larger.
    Exchange(usize, usize),
    /// Only the smaller is needed later: `a` gets it.
    Min(usize, usize),
    /// Only the larger is needed later: `b` gets it.
    Max(usize, usize),
}

/// A selection network for windows of `n` cells: after its steps, wire `at[i]` holds sorted
/// position `at[i]` of the window.
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    n: usize,
    steps: Vec<Step>,
    at: Vec<usize>,
}

/// How a statistic is made from the sorted positions it reads.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Finish {
    /// The value at the one position.
    One,
    /// The mean of the two (the median of an even count).
    Mean,
    /// numpy's linear interpolation between the two, at `t`.
    Lerp(f64),
}

/// A network for one order statistic of windows of `n` NaN-free values, and how its value is
/// made from the positions it reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    net: Network,
    finish: Finish,
}

impl Network {
    /// The network of `n` wires keeping sorted positions `at`.
    fn new(n: usize, at: &[usize]) -> Network {
        let mut needed = vec![false; n];
        for &p in at {
            needed[p] = true;
        }
        // Backwards from the outputs: a step is kept for the sides read later.
        let mut steps = Vec::new();
        for (a, b) in batcher(n).into_iter().rev() {
            let step = match (needed[a], needed[b]) {
                (true, true) => Step::Exchange(a, b),
                (true, false) => Step::Min(a, b),
                (false, true) => Step::Max(a, b),
                (false, false) => continue,
            };
            needed[a] = true;
            needed[b] = true;
            steps.push(step);
        }
        steps.reverse();
        Network {
            n,
            steps,
            at: at.to_vec(),
        }
    }

    /// `min`/`max` operations per group of pixels.
    pub fn cost(&self) -> usize {
        (self.steps.iter())
            .map(|s| {
                if matches!(s, Step::Exchange(..)) {
                    2
                } else {
                    1
                }
            })
            .sum()
    }
}

/// Batcher's odd–even merge sort of `n` wires as compare-exchanges `(a, b)`, `a < b`: the network
/// of the next power of two without the exchanges that reach past `n`.
fn batcher(n: usize) -> Vec<(usize, usize)> {
    let p2 = n.next_power_of_two();
    let mut out = Vec::new();
    let mut p = 1;
    while p < p2 {
        let mut k = p;
        while k >= 1 {
            let mut j = k % p;
            while j + k < p2 {
                for i in 0..k.min(p2 - j - k) {
                    let (a, b) = (i + j, i + j + k);
                    if a / (2 * p) == b / (2 * p) && b < n {
                        out.push((a, b));
                    }
                }
                j += 2 * k;
            }
            k /= 2;
        }
        p *= 2;
    }
    out
}

impl Selection {
    /// The network computing `rank` over windows of `n` NaN-free values, if it costs at most
    /// `budget` operations; `None` also when the statistic is NaN for every window (a `kth`
    /// beyond the window, a percentile outside 0..=100), which the histogram path gives.
    pub fn new(rank: Rank, n: usize, budget: usize) -> Option<Selection> {
        if n == 0 {
            return None;
        }
        let (at, finish) = match rank {
            Rank::Kth(r) => (vec![kth_index(r, n, n)?], Finish::One),
            Rank::Median { .. } if n % 2 == 1 => (vec![n / 2], Finish::One),
            Rank::Median { .. } => (vec![n / 2 - 1, n / 2], Finish::Mean),
            Rank::Percentile(q) if !(0.0..=100.0).contains(&q) => return None,
            Rank::Percentile(q) => {
                // As the histogram path and numpy: positions floor(pos) and the next.
                let pos = q / 100.0 * (n - 1) as f64;
                let lo = pos.floor() as usize;
                (vec![lo, (lo + 1).min(n - 1)], Finish::Lerp(pos - lo as f64))
            }
        };
        let net = Network::new(n, &at);
        (net.cost() <= budget).then_some(Selection { net, finish })
    }

    /// The statistic of every window of a stripe: window cell `j` of output pixel (row `r`,
    /// column `x`) is `block[r * bw + x + offs[j]]`; `out` gets `nrows × width` values. The
    /// block's values must be [`plain`].
    pub fn run<T: Element>(
        &self,
        block: &[T],
        offs: &[usize],
        (bw, nrows, width): (usize, usize, usize),
        wires: &mut Vec<T>,
        out: &mut [f64],
    ) {
        assert_eq!(offs.len(), self.net.n, "one wire per window cell");
        let reach = offs.iter().max().map_or(0, |&o| o + 1);
        assert!(nrows == 0 || (nrows - 1) * bw + width - 1 + reach <= block.len());
        assert!(out.len() >= nrows * width);
        // Pixels per pass over the steps: the wires of a segment stay in L1 (16 KiB).
        let seg = (16384 / (offs.len() * std::mem::size_of::<T>())).clamp(32, 4096) / 32 * 32;
        wires.resize(offs.len() * seg, T::LOWEST);
        crate::simd::avx2(
            #[inline(always)]
            || {
                for ry in 0..nrows {
                    for x0 in (0..width).step_by(seg) {
                        let len = seg.min(width - x0);
                        let base = ry * bw + x0;
                        let o = &mut out[ry * width + x0..][..len];
                        self.segment(&block[base..], offs, seg, len, wires, o);
                    }
                }
            },
        );
    }

    /// One segment of `len` pixels starting at `block[0]` (wire `j` at `wires[j * seg..]`).
    #[inline(always)]
    fn segment<T: Element>(
        &self,
        block: &[T],
        offs: &[usize],
        seg: usize,
        len: usize,
        wires: &mut [T],
        out: &mut [f64],
    ) {
        for (j, &o) in offs.iter().enumerate() {
            wires[j * seg..][..len].copy_from_slice(&block[o..o + len]);
        }
        for &step in &self.net.steps {
            let (Step::Exchange(a, b) | Step::Min(a, b) | Step::Max(a, b)) = step;
            // a < b: wire a lies wholly before wire b.
            let (lo, hi) = wires.split_at_mut(b * seg);
            let (wa, wb) = (&mut lo[a * seg..][..len], &mut hi[..len]);
            match step {
                Step::Exchange(..) => {
                    for (p, q) in wa.iter_mut().zip(wb.iter_mut()) {
                        let (u, v) = (*p, *q);
                        *p = min(u, v);
                        *q = max(u, v);
                    }
                }
                Step::Min(..) => {
                    for (p, q) in wa.iter_mut().zip(wb.iter()) {
                        *p = min(*p, *q);
                    }
                }
                Step::Max(..) => {
                    for (p, q) in wa.iter().zip(wb.iter_mut()) {
                        *q = max(*p, *q);
                    }
                }
            }
        }
        let wire = |i: usize| &wires[self.net.at[i] * seg..][..len];
        match self.finish {
            Finish::One => {
                for (o, v) in out.iter_mut().zip(wire(0)) {
                    *o = v.to_f64();
                }
            }
            Finish::Mean => {
                for (o, (a, b)) in out.iter_mut().zip(wire(0).iter().zip(wire(1))) {
                    *o = (a.to_f64() + b.to_f64()) / 2.0;
                }
            }
            Finish::Lerp(t) => {
                for (o, (a, b)) in out.iter_mut().zip(wire(0).iter().zip(wire(1))) {
                    *o = crate::runtime::lerp(a.to_f64(), b.to_f64(), t);
                }
            }
        }
    }
}

/// The most operations a network may cost for elements of type `T` (where it beats the
/// histogram): 16 per pixel, at one AVX2 vector's lanes per operation.
pub fn budget<T>() -> usize {
    16 * (32 / std::mem::size_of::<T>())
}

/// The smaller of two values by `<`, written as a select, which compiles to a vector `min`
/// instruction (for floats `minpd`: `sort`'s order on [`plain`] values).
#[inline(always)]
fn min<T: Element>(a: T, b: T) -> T {
    if b < a {
        b
    } else {
        a
    }
}

/// The larger, likewise.
#[inline(always)]
fn max<T: Element>(a: T, b: T) -> T {
    if a < b {
        b
    } else {
        a
    }
}

/// Whether `<` orders `values` as `sort` does (by `total_cmp`): no NaN (a comparison with NaN
/// is false) and not both zeros (`-0 < +0` is false, though `sort` puts `-0` first).
pub fn plain(values: &[f64]) -> bool {
    let (mut nan, mut neg_zero, mut zero) = (false, false, false);
    for &v in values {
        nan |= v.is_nan();
        neg_zero |= v.to_bits() == (-0.0f64).to_bits();
        zero |= v.to_bits() == 0;
    }
    !(nan || (neg_zero && zero))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every 0/1 input of `n` wires (the 0–1 principle: a comparator network sorts every input
    /// when it sorts every 0/1 input), plus random values with ties.
    fn check(rank: Rank, n: usize) {
        let Some(sel) = Selection::new(rank, n, usize::MAX) else {
            return;
        };
        let mut inputs: Vec<Vec<f64>> = Vec::new();
        if n <= 14 {
            for bits in 0u32..1 << n {
                inputs.push((0..n).map(|i| ((bits >> i) & 1) as f64).collect());
            }
        }
        let mut seed = 0x9e37_79b9_u64;
        for _ in 0..500 {
            inputs.push(
                (0..n)
                    .map(|_| {
                        seed = seed
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        ((seed >> 33) % 7) as f64 - 3.0
                    })
                    .collect(),
            );
        }
        // All the inputs side by side as one row of pixels: cell j of pixel x at j * len + x.
        let len = inputs.len();
        let block: Vec<f64> = (0..n)
            .flat_map(|j| inputs.iter().map(move |v| v[j]))
            .collect();
        let offs: Vec<usize> = (0..n).map(|j| j * len).collect();
        let mut out = vec![0.0; len];
        // As one "row" of `len` pixels whose cells lie `len` apart.
        sel.run(
            &block,
            &offs,
            (block.len(), 1, len),
            &mut Vec::new(),
            &mut out,
        );
        for (v, got) in inputs.iter().zip(&out) {
            let non_nan: Vec<f64> = v.clone();
            let want = match rank {
                Rank::Kth(r) => crate::interp::kth(&non_nan, n, r),
                Rank::Median { .. } => {
                    let mut s = v.clone();
                    s.sort_by(f64::total_cmp);
                    if n % 2 == 1 {
                        s[n / 2]
                    } else {
                        (s[n / 2 - 1] + s[n / 2]) / 2.0
                    }
                }
                Rank::Percentile(q) => crate::interp::percentile(v, q),
            };
            assert_eq!(got.to_bits(), want.to_bits(), "{rank:?} of {v:?}");
        }
    }

    #[test]
    fn networks_select_what_sorting_does() {
        for n in 1..=27 {
            check(Rank::Median { skip_nan: false }, n);
            for r in [0.0, 1.0, (n / 3) as f64, -1.0, -2.0] {
                check(Rank::Kth(r), n);
            }
            for q in [0.0, 10.0, 37.5, 50.0, 99.0, 100.0] {
                check(Rank::Percentile(q), n);
            }
        }
    }

    #[test]
    fn unused_exchanges_are_dropped() {
        // The median of 9 needs fewer operations than Batcher's 28 exchanges (56).
        let net = Network::new(9, &[4]);
        assert_eq!(batcher(9).len(), 28);
        assert!(net.cost() < 45, "{}", net.cost());
        // Nothing asked, nothing done.
        assert_eq!(Network::new(5, &[]).cost(), 0);
    }

    #[test]
    fn plain_blocks_are_those_sort_agrees_with() {
        assert!(plain(&[1.0, -2.0, 0.0, f64::INFINITY]));
        assert!(plain(&[-0.0, -0.0, 3.0]));
        assert!(!plain(&[-0.0, 0.0]));
        assert!(!plain(&[1.0, f64::NAN]));
    }
}
