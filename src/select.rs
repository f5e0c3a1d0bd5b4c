//! Order statistics of small windows by selection networks, many pixels per vector. A sliding
//! histogram ([`crate::order::ranks`]) pays per pixel for every chord it slides and every bin
//! its cursor walks: for a 3×3 median of real-valued data (a bin per distinct value of the
//! block) that was 9 ms for a 512² image. A sorting network instead orders the window with a
//! fixed list of compare-exchanges (`min` and `max` of two cells), the same for every pixel, so
//! each runs on a vector of pixels at once (32 u8 or 4 f64 pixels an instruction under AVX2).
//! Only the sorted positions the statistic reads are kept: the exchanges that cannot reach them
//! are dropped, and those that reach them by one side only become a single `min` or `max`.
//!
//! The network is Batcher's odd–even merge sort of the next power of two, cut to the window's
//! size (the cells beyond hold +∞ in effect, and an exchange with +∞ changes nothing). The
//! medians of the common windows (3, 5, 9, 13, 25 and 27 cells: lines, crosses, 3×3, disks,
//! 5×5, 3×3×3) have their networks built at compile time by the same function and unrolled, so
//! that a group of pixels goes through the whole network in registers (the 3×3 median of a
//! u8 image at 0.26 ns a pixel on one thread, where a step at a time over a row took 3); other
//! windows and ranks run the network a step at a time over segments of a row.
//!
//! Comparisons are `<` of the element type, which is the order of `sort` only where no two
//! different values compare equal: integers, and floats without NaN and without `-0` beside
//! `+0` — [`Selection::run_f64`] checks a block; others keep the histogram.

use crate::dtype::{convert, Element};
use crate::order::{kth_index, Rank};

/// The most cells a network takes, and the most steps it may have (Batcher's network of 64
/// wires has 543).
const WIRES: usize = 64;
const MOST_STEPS: usize = 1024;

/// One step of a network over the window's cells ("wires"): wire `a` < wire `b`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Step {
    /// Both sides: `a` gets the smaller value, `b` the larger.
    Exchange(u8, u8),
    /// Only the smaller is needed later: `a` gets it.
    Min(u8, u8),
    /// Only the larger is needed later: `b` gets it.
    Max(u8, u8),
}

/// A selection network for windows of `n` cells: after its `len` steps, wire `at[i]` holds
/// sorted position `at[i]` of the window (`at[0] == at[1]` when one position is read).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Network {
    n: usize,
    at: [usize; 2],
    steps: [Step; MOST_STEPS],
    len: usize,
}

impl Network {
    /// The network of `n` ≤ [`WIRES`] wires keeping sorted positions `at`. A `const fn`, so
    /// that the fixed networks are built by the compiler with the code that builds the others.
    const fn new(n: usize, at: [usize; 2]) -> Network {
        assert!(n <= WIRES && at[0] < n && at[1] < n);
        let (exchanges, count) = batcher(n);
        let mut needed = [false; WIRES];
        needed[at[0]] = true;
        needed[at[1]] = true;
        // Backwards from the outputs: a step is kept for the sides read later.
        let mut backwards = [Step::Min(0, 0); MOST_STEPS];
        let mut len = 0;
        let mut i = count;
        while i > 0 {
            i -= 1;
            let (a, b) = exchanges[i];
            let (na, nb) = (needed[a as usize], needed[b as usize]);
            if na || nb {
                backwards[len] = match (na, nb) {
                    (true, true) => Step::Exchange(a, b),
                    (true, false) => Step::Min(a, b),
                    _ => Step::Max(a, b),
                };
                len += 1;
                needed[a as usize] = true;
                needed[b as usize] = true;
            }
        }
        let mut steps = [Step::Min(0, 0); MOST_STEPS];
        let mut j = 0;
        while j < len {
            steps[j] = backwards[len - 1 - j];
            j += 1;
        }
        Network { n, at, steps, len }
    }

    fn steps(&self) -> &[Step] {
        &self.steps[..self.len]
    }

    /// `min`/`max` operations per group of pixels.
    fn cost(&self) -> usize {
        (self.steps().iter())
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
/// of the next power of two without the exchanges that reach past `n`; and their count.
const fn batcher(n: usize) -> ([(u8, u8); MOST_STEPS], usize) {
    let mut out = [(0u8, 0u8); MOST_STEPS];
    let mut count = 0;
    let p2 = n.next_power_of_two();
    let mut p = 1;
    while p < p2 {
        let mut k = p;
        while k >= 1 {
            let mut j = k % p;
            while j + k < p2 {
                let mut i = 0;
                while i < k && i < p2 - j - k {
                    let (a, b) = (i + j, i + j + k);
                    if a / (2 * p) == b / (2 * p) && b < n {
                        out[count] = (a as u8, b as u8);
                        count += 1;
                    }
                    i += 1;
                }
                j += 2 * k;
            }
            k /= 2;
        }
        p *= 2;
    }
    (out, count)
}

/// Passes the window sizes whose median networks are built at compile time to macro `$m`.
macro_rules! fixed_sizes {
    ($m:ident) => {
        $m!(3 5 9 13 25 27)
    };
}

/// Whether the network keeping positions `at` of `n` cells is built at compile time (then it
/// runs in registers, and beats the histogram whatever its size).
fn fixed(n: usize, at: [usize; 2]) -> bool {
    macro_rules! any {
        ($($n:literal)*) => {
            matches!(n, $($n)|*)
        };
    }
    at == median_at(n) && fixed_sizes!(any)
}

/// The sorted positions a median of `n` values reads.
const fn median_at(n: usize) -> [usize; 2] {
    if n % 2 == 1 {
        [n / 2, n / 2]
    } else {
        [n / 2 - 1, n / 2]
    }
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

impl Selection {
    /// The network computing `rank` over windows of `n` NaN-free values, if it is built at
    /// compile time or costs at most `budget` operations; `None` also when the statistic is NaN for every window (a `kth`
    /// beyond the window, a percentile outside 0..=100), which the histogram path gives.
    pub fn new(rank: Rank, n: usize, budget: usize) -> Option<Selection> {
        if n == 0 || n > WIRES {
            return None;
        }
        let (at, finish) = match rank {
            Rank::Kth(r) => {
                let k = kth_index(r, n, n)?;
                ([k, k], Finish::One)
            }
            Rank::Median { .. } if n % 2 == 1 => (median_at(n), Finish::One),
            Rank::Median { .. } => (median_at(n), Finish::Mean),
            Rank::Percentile(q) if !(0.0..=100.0).contains(&q) => return None,
            Rank::Percentile(q) => {
                // As the histogram path and numpy: positions floor(pos) and the next.
                let pos = q / 100.0 * (n - 1) as f64;
                let lo = pos.floor() as usize;
                ([lo, (lo + 1).min(n - 1)], Finish::Lerp(pos - lo as f64))
            }
        };
        let net = Network::new(n, at);
        (net.cost() <= budget || fixed(n, at)).then_some(Selection { net, finish })
    }

    /// The statistic of every window of a stripe: window cell `j` of output pixel (row `r`,
    /// column `x`) is `block[r * bw + x + offs[j]]`; output row `r` goes to `out[r * stride..]`
    /// (`width` values). Floats must be ordered by `<` as `sort` orders them ([`Selection::run_f64`] checks). `wires` is scratch.
    #[allow(clippy::too_many_arguments)]
    pub fn run<T: Element, O: Element>(
        &self,
        block: &[T],
        offs: &[usize],
        (bw, nrows, width): (usize, usize, usize),
        wires: &mut Vec<T>,
        out: &mut [O],
        stride: usize,
    ) {
        assert_eq!(offs.len(), self.net.n, "one wire per window cell");
        let reach = offs.iter().max().map_or(0, |&o| o + 1);
        assert!(nrows == 0 || (nrows - 1) * bw + width - 1 + reach <= block.len());
        assert!(nrows == 0 || (nrows - 1) * stride + width <= out.len());
        // Pixels per pass over the steps: the wires of a segment stay in L1 (16 KiB).
        let seg = (16384 / (offs.len() * std::mem::size_of::<T>())).clamp(32, 4096) / 32 * 32;
        // Wires, then the row's values at the two positions read.
        wires.resize(offs.len() * seg + 2 * width, T::LOWEST);
        let (wires, picked) = wires.split_at_mut(offs.len() * seg);
        let (first, second) = picked.split_at_mut(width);
        crate::simd::avx2(
            #[inline(always)]
            || {
                for ry in 0..nrows {
                    let row = &block[ry * bw..];
                    if !self.fixed(row, offs, first, second) {
                        for x0 in (0..width).step_by(seg) {
                            let len = seg.min(width - x0);
                            let at = (&mut first[x0..x0 + len], &mut second[x0..x0 + len]);
                            self.segment(&row[x0..], offs, seg, wires, at);
                        }
                    }
                    self.finish(first, second, &mut out[ry * stride..][..width]);
                }
            },
        );
    }

    /// One row by a network built at compile time, if the window is one of those: sorted
    /// positions `at` of each pixel's window into `first` and `second`.
    #[inline(always)]
    fn fixed<T: Element>(
        &self,
        row: &[T],
        offs: &[usize],
        first: &mut [T],
        second: &mut [T],
    ) -> bool {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && first.len() >= T::L {
            macro_rules! medians {
                ($($n:literal)*) => {
                    match self.net.n {
                        $($n if self.net.at == median_at($n) => {
                            // SAFETY: the CPU has AVX2, and `run` checked that every window
                            // of the row lies in it.
                            unsafe { unrolled::<T, $n>(row, offs.try_into().unwrap(), first, second) };
                            return true;
                        })*
                        _ => {}
                    }
                };
            }
            fixed_sizes!(medians);
        }
        false
    }

    /// One segment of a row (`first.len()` pixels from `row[0]`), a step at a time over all
    /// its pixels (wire `j` at `wires[j * seg..]`).
    #[inline(always)]
    fn segment<T: Element>(
        &self,
        row: &[T],
        offs: &[usize],
        seg: usize,
        wires: &mut [T],
        (first, second): (&mut [T], &mut [T]),
    ) {
        let len = first.len();
        for (j, &o) in offs.iter().enumerate() {
            wires[j * seg..][..len].copy_from_slice(&row[o..o + len]);
        }
        for &step in self.net.steps() {
            let (Step::Exchange(a, b) | Step::Min(a, b) | Step::Max(a, b)) = step;
            let (a, b) = (a as usize, b as usize);
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
        first.copy_from_slice(&wires[self.net.at[0] * seg..][..len]);
        // The second position only where the statistic reads two.
        if self.finish != Finish::One {
            second.copy_from_slice(&wires[self.net.at[1] * seg..][..len]);
        }
    }

    /// The statistic from the values at the positions read.
    #[inline(always)]
    fn finish<T: Element, O: Element>(&self, first: &[T], second: &[T], out: &mut [O]) {
        match self.finish {
            Finish::One => convert(first, out),
            Finish::Mean => {
                for (o, (a, b)) in out.iter_mut().zip(first.iter().zip(second)) {
                    *o = O::from_f64((a.to_f64() + b.to_f64()) / 2.0);
                }
            }
            Finish::Lerp(t) => {
                for (o, (a, b)) in out.iter_mut().zip(first.iter().zip(second)) {
                    *o = O::from_f64(crate::runtime::lerp(a.to_f64(), b.to_f64(), t));
                }
            }
        }
    }
}

/// The median network of `N` cells over a row (`first.len()` ≥ [`Lane::L`] pixels), a vector
/// of pixels at a time with every step unrolled: the network is a constant, so each step's
/// wires are known and the wires live in registers. The last vector overlaps the one before
/// when the width is not a whole number of vectors (a pixel's value depends on its window
/// only).
///
/// # Safety
/// The CPU has AVX2, and every window `row[x + offs[j]]` of `x < first.len()` lies in `row`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn unrolled<T: Element, const N: usize>(
    row: &[T],
    offs: &[usize; N],
    first: &mut [T],
    second: &mut [T],
) {
    const { assert!(Median::<N>::NET.len <= 128, "the slots unrolled below") };
    let width = first.len();
    debug_assert!(width >= T::L && second.len() == width);
    let (p, a, b) = (row.as_ptr(), first.as_mut_ptr(), second.as_mut_ptr());
    let group = |x: usize| {
        // SAFETY: the windows lie in `row` (the caller's promise), x + L ≤ width.
        let mut w: [T::V; N] = std::array::from_fn(|j| unsafe { T::load(p.add(x + offs[j])) });
        macro_rules! steps {
            ($($i:literal)*) => {$(
                if $i < const { Median::<N>::NET.len } {
                    match const { Median::<N>::NET.steps[$i] } {
                        Step::Exchange(a, b) => {
                            let (u, v) = (w[a as usize], w[b as usize]);
                            w[a as usize] = unsafe { T::vmin(u, v) };
                            w[b as usize] = unsafe { T::vmax(u, v) };
                        }
                        Step::Min(a, b) => {
                            w[a as usize] = unsafe { T::vmin(w[a as usize], w[b as usize]) };
                        }
                        Step::Max(a, b) => {
                            w[b as usize] = unsafe { T::vmax(w[a as usize], w[b as usize]) };
                        }
                    }
                }
            )*};
        }
        steps!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63 64 65 66 67 68 69 70 71 72 73 74 75 76 77 78 79 80 81 82 83 84 85 86 87 88 89 90 91 92 93 94 95 96 97 98 99 100 101 102 103 104 105 106 107 108 109 110 111 112 113 114 115 116 117 118 119 120 121 122 123 124 125 126 127);
        unsafe {
            T::store(w[const { Median::<N>::NET.at[0] }], a.add(x));
            // An odd count's median reads one position: folded away.
            if const { Median::<N>::NET.at[0] != Median::<N>::NET.at[1] } {
                T::store(w[const { Median::<N>::NET.at[1] }], b.add(x));
            }
        }
    };
    let mut x = 0;
    while x + T::L <= width {
        group(x);
        x += T::L;
    }
    if x < width {
        group(width - T::L);
    }
}

/// The median network of `N` cells, built once by the compiler.
struct Median<const N: usize>;

impl<const N: usize> Median<N> {
    const NET: Network = Network::new(N, median_at(N));
}

/// An element type the networks order with `<`, and its vector: `L` lanes of an AVX2
/// register. Every [`Element`] is one.
pub trait Lane: Copy + PartialOrd {
    const L: usize;
    type V: Copy;
    /// `L` values from `p`.
    ///
    /// # Safety
    /// The CPU has AVX2; `p` points to `L` values.
    unsafe fn load(p: *const Self) -> Self::V;
    /// `v` to the `L` values at `p`.
    ///
    /// # Safety
    /// As [`Lane::load`].
    unsafe fn store(v: Self::V, p: *mut Self);
    /// The lanes' minima (floats: of values without NaN or both zeros, where every `min` instruction agrees).
    ///
    /// # Safety
    /// The CPU has AVX2.
    unsafe fn vmin(a: Self::V, b: Self::V) -> Self::V;
    /// The lanes' maxima.
    ///
    /// # Safety
    /// The CPU has AVX2.
    unsafe fn vmax(a: Self::V, b: Self::V) -> Self::V;
}

#[cfg(target_arch = "x86_64")]
macro_rules! lane {
    ($($t:ty: $l:literal, $v:ident, $load:ident, $store:ident, $min:ident, $max:ident;)*) => {$(
        impl Lane for $t {
            const L: usize = $l;
            type V = std::arch::x86_64::$v;
            #[inline(always)]
            unsafe fn load(p: *const Self) -> Self::V {
                unsafe { std::arch::x86_64::$load(p as *const _) }
            }
            #[inline(always)]
            unsafe fn store(v: Self::V, p: *mut Self) {
                unsafe { std::arch::x86_64::$store(p as *mut _, v) }
            }
            #[inline(always)]
            unsafe fn vmin(a: Self::V, b: Self::V) -> Self::V {
                unsafe { std::arch::x86_64::$min(a, b) }
            }
            #[inline(always)]
            unsafe fn vmax(a: Self::V, b: Self::V) -> Self::V {
                unsafe { std::arch::x86_64::$max(a, b) }
            }
        }
    )*};
}
#[cfg(target_arch = "x86_64")]
lane! {
    u8: 32, __m256i, _mm256_loadu_si256, _mm256_storeu_si256, _mm256_min_epu8, _mm256_max_epu8;
    u16: 16, __m256i, _mm256_loadu_si256, _mm256_storeu_si256, _mm256_min_epu16, _mm256_max_epu16;
    i16: 16, __m256i, _mm256_loadu_si256, _mm256_storeu_si256, _mm256_min_epi16, _mm256_max_epi16;
    i32: 8, __m256i, _mm256_loadu_si256, _mm256_storeu_si256, _mm256_min_epi32, _mm256_max_epi32;
    f32: 8, __m256, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_min_ps, _mm256_max_ps;
    f64: 4, __m256d, _mm256_loadu_pd, _mm256_storeu_pd, _mm256_min_pd, _mm256_max_pd;
}

/// Elsewhere the unrolled networks are not used: a lane is a value.
#[cfg(not(target_arch = "x86_64"))]
impl<T: Copy + PartialOrd> Lane for T {
    const L: usize = 1;
    type V = T;
    unsafe fn load(p: *const Self) -> Self::V {
        unsafe { *p }
    }
    unsafe fn store(v: Self::V, p: *mut Self) {
        unsafe { *p = v }
    }
    unsafe fn vmin(a: Self::V, b: Self::V) -> Self::V {
        min(a, b)
    }
    unsafe fn vmax(a: Self::V, b: Self::V) -> Self::V {
        max(a, b)
    }
}

/// The most operations a network may cost for elements of type `T` (where it beats the
/// histogram): 16 per pixel, at one AVX2 vector's lanes per operation.
pub fn budget<T: Element>() -> usize {
    16 * (32 / std::mem::size_of::<T>())
}

/// The smaller of two values by `<`, written as a select, which compiles to a vector `min`
/// instruction (for floats `minpd`: `sort`'s order on values without NaN or both zeros).
#[inline(always)]
fn min<T: PartialOrd>(a: T, b: T) -> T {
    if b < a {
        b
    } else {
        a
    }
}

/// The larger, likewise.
#[inline(always)]
fn max<T: PartialOrd>(a: T, b: T) -> T {
    if a < b {
        b
    } else {
        a
    }
}

/// Whether `<` orders `values` as `sort` does (by `total_cmp`): no NaN (a comparison with NaN
/// is false) and not both zeros (`-0 < +0` is false, though `sort` puts `-0` first); and
/// whether every value is a float32's.
fn plain(values: &[f64]) -> (bool, bool) {
    let (mut nan, mut neg_zero, mut zero, mut narrow) = (false, false, false, true);
    for &v in values {
        nan |= v.is_nan();
        neg_zero |= v.to_bits() == (-0.0f64).to_bits();
        zero |= v.to_bits() == 0;
        narrow &= (v as f32) as f64 == v;
    }
    (!(nan || (neg_zero && zero)), narrow)
}

thread_local! {
    /// A block narrowed to f32, kept per thread.
    static NARROW: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Selection {
    /// [`Selection::run`] over a block of f64 values if `<` orders them as `sort` does, in f32
    /// lanes (twice as many a vector) when every value is a float32 (an f32 image's, or whole
    /// numbers): `false`, and nothing done, when `<` would not order them so.
    pub fn run_f64(
        &self,
        block: &[f64],
        offs: &[usize],
        geometry: (usize, usize, usize),
        out: &mut [f64],
        stride: usize,
    ) -> bool {
        let (plain, narrow) = crate::simd::avx2(
            #[inline(always)]
            || plain(block),
        );
        if !plain {
            return false;
        }
        if narrow {
            NARROW.with_borrow_mut(|narrowed| {
                narrowed.clear();
                narrowed.extend(block.iter().map(|&v| v as f32));
                self.run(narrowed, offs, geometry, &mut Vec::new(), out, stride);
            });
        } else {
            self.run(block, offs, geometry, &mut Vec::new(), out, stride);
        }
        true
    }
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
        // All the inputs side by side as one row of pixels: cell j of pixel x at j * len + x;
        // and the first three alone (a row narrower than a vector).
        let run = |inputs: &[Vec<f64>]| {
            let len = inputs.len();
            let block: Vec<f64> = (0..n)
                .flat_map(|j| inputs.iter().map(move |v| v[j]))
                .collect();
            let offs: Vec<usize> = (0..n).map(|j| j * len).collect();
            let mut out = vec![0.0; len];
            let geometry = (block.len(), 1, len);
            sel.run(&block, &offs, geometry, &mut Vec::new(), &mut out, len);
            out
        };
        let mut out: Vec<f64> = run(&inputs);
        out.truncate(inputs.len() - 3);
        out.extend(run(&inputs[inputs.len() - 3..]));
        for (v, got) in inputs.iter().zip(&out) {
            let want = match rank {
                Rank::Kth(r) => crate::interp::kth(v, n, r),
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
        let net = Network::new(9, [4, 4]);
        assert_eq!(batcher(9).1, 28);
        assert!(net.cost() < 45, "{}", net.cost());
        // The lowest of two needs one `min`.
        assert_eq!(Network::new(2, [0, 0]).steps(), [Step::Min(0, 1)]);
    }

    #[test]
    fn plain_blocks_are_those_sort_agrees_with() {
        assert_eq!(plain(&[1.0, -2.0, 0.0, f64::INFINITY]), (true, true));
        assert_eq!(plain(&[-0.0, -0.0, 3.0, 0.1]), (true, false));
        assert!(!plain(&[-0.0, 0.0]).0);
        assert!(!plain(&[1.0, f64::NAN]).0);
        assert_eq!(plain(&[1e300, 0.5]), (true, false));
    }
}
