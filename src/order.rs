//! Order statistics of every window of a stripe, computed from the footprint's chords and
//! generic over the block's element type: f64 for the planner's planes, or the image's own
//! integer type for whole-program native paths (`max(w)` on u8 works on 16 pixels per SSE
//! register). Two algorithms:
//!
//! - extremes (max/min) by doubling along each block row: the extreme of 1, 2, 4, … consecutive
//!   cells, then any chord as two overlapping power-of-two runs. Work goes one block row at a
//!   time into small reused buffers, so everything stays in cache (whole-block tables per chord
//!   length cost more in page faults than in arithmetic);
//! - ranks (median/percentile) by a sliding histogram of keys along each output row.

/// A chord: a run of consecutive footprint cells in one block row. `row` is the block row
/// offset (planes included), `col` the column offset, `len` the run length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chord {
    pub row: usize,
    pub col: usize,
    pub len: usize,
}

/// Splits a footprint's block offsets (ascending) into chords; `bw` is the block width.
pub fn chords(offs: &[usize], bw: usize) -> Vec<Chord> {
    let mut out: Vec<Chord> = Vec::new();
    for &o in offs {
        let (row, col) = (o / bw, o % bw);
        match out.last_mut() {
            Some(c) if c.row == row && c.col + c.len == col => c.len += 1,
            _ => out.push(Chord { row, col, len: 1 }),
        }
    }
    out
}

/// The block offsets of the cells of `chords` (the inverse of [`chords`]).
pub fn cells(chords: &[Chord], bw: usize) -> Vec<usize> {
    (chords.iter())
        .flat_map(|c| (0..c.len).map(move |i| c.row * bw + c.col + i))
        .collect()
}

/// The chords split into rectangles of the footprint (a box, a line down the rows), which sums
/// take down a running sum rather than chord by chord, and the chords left. A rectangle is a
/// run of identical chords (same column and length) in consecutive block rows, as (the first,
/// rows), for which `rect(len, rows)` says it pays.
pub fn rectangles(
    chords: &[Chord],
    rect: impl Fn(usize, usize) -> bool,
) -> (Vec<(Chord, usize)>, Vec<Chord>) {
    let mut runs: Vec<(Chord, usize)> = Vec::new();
    for &c in chords {
        match runs.last_mut() {
            Some((first, rows))
                if first.row + *rows == c.row && (first.col, first.len) == (c.col, c.len) =>
            {
                *rows += 1
            }
            _ => runs.push((c, 1)),
        }
    }
    let (mut rects, mut singles) = (Vec::new(), Vec::new());
    for (c, rows) in runs {
        if rect(c.len, rows) {
            rects.push((c, rows));
        } else {
            singles.extend((0..rows).map(|r| Chord {
                row: c.row + r,
                ..c
            }));
        }
    }
    (rects, singles)
}

/// Reused buffers of [`extremes`]: `levels[k][i]` is the extreme of `row[i .. i + 2^k]`.
pub struct Scratch<B> {
    levels: Vec<Vec<B>>,
}

impl<B> Default for Scratch<B> {
    fn default() -> Self {
        Scratch { levels: Vec::new() }
    }
}

/// For `nrows` output rows, `out[ry * width + x]` = the max (or min) over the chords of the
/// `len` cells from `block[(ry + row) * bw + col + x]`. `identity` is the identity of the chosen
/// extreme (the type's lowest value for max). NaN is not handled here: `a > b` comparisons pass it over, so callers
/// with float data treat NaN windows separately.
#[allow(clippy::too_many_arguments)]
pub fn extremes<B: Copy + PartialOrd>(
    block: &[B],
    bw: usize,
    nrows: usize,
    width: usize,
    chords: &[Chord],
    max: bool,
    identity: B,
    scratch: &mut Scratch<B>,
    out: &mut [B],
) {
    out[..nrows * width].fill(identity);
    let geometry = (bw, nrows, width);
    let (gt, lt) = (
        |a: B, b: B| if b > a { b } else { a },
        |a: B, b: B| if b < a { b } else { a },
    );
    crate::simd::avx2(
        #[inline(always)]
        || match max {
            true => extremes_by(block, geometry, chords, scratch, out, gt),
            false => extremes_by(block, geometry, chords, scratch, out, lt),
        },
    )
}

/// [`extremes`] for one comparison, monomorphised so that the loops vectorise (pmaxub, maxpd…);
/// inlined into [`crate::simd::avx2`].
#[inline(always)]
fn extremes_by<B: Copy>(
    block: &[B],
    (bw, nrows, width): (usize, usize, usize),
    chords: &[Chord],
    scratch: &mut Scratch<B>,
    out: &mut [B],
    pick: impl Fn(B, B) -> B + Copy,
) {
    let Some(top) = chords.iter().map(|c| c.row).max() else {
        return;
    };
    for b in 0..nrows + top {
        let row = &block[b * bw..(b + 1) * bw];
        // The chords that read this block row, for some output row.
        let reading = chords.iter().filter(|c| c.row <= b && b - c.row < nrows);
        let Some(longest) = reading.clone().map(|c| c.len).max() else {
            continue;
        };
        let depth = longest.ilog2() as usize;
        scratch.levels.resize_with(depth.max(1), Vec::new);
        for k in 1..=depth {
            let half = 1usize << (k - 1);
            let m = bw + 1 - (1 << k);
            let (done, rest) = scratch.levels.split_at_mut(k - 1);
            let prev: &[B] = if k == 1 { row } else { &done[k - 2] };
            let next = &mut rest[0];
            next.clear();
            next.extend(
                prev[..m]
                    .iter()
                    .zip(&prev[half..half + m])
                    .map(|(&a, &b)| pick(a, b)),
            );
        }
        for c in reading {
            let k = c.len.ilog2() as usize;
            let level: &[B] = if k == 0 { row } else { &scratch.levels[k - 1] };
            let (a, z) = (c.col, c.col + c.len - (1 << k));
            let dst = &mut out[(b - c.row) * width..][..width];
            // Indexed over three slices of one length (no bounds checks left): the zipped form
            // compiled to a slower loop in some builds, as inlining around it changed.
            let (l, r) = (&level[a..a + width], &level[z..z + width]);
            for i in 0..width {
                dst[i] = pick(pick(dst[i], l[i]), r[i]);
            }
        }
    }
}

/// Which order statistic [`ranks`] computes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rank {
    /// numpy's median; `skip_nan` for `nanmedian`.
    Median { skip_nan: bool },
    /// numpy's linear percentile with a constant `q`.
    Percentile(f64),
    /// `kth` with a constant `r`: element r of the window sorted with NaN last.
    Kth(f64),
}

/// The sorted position `kth(v, r)` reads, for a window of `all` elements of which `numbers` are
/// not NaN (NaN sort last, as in `np.sort`): r from the bottom, or from the top when negative;
/// `None` (the result is NaN) when r is not a whole number in -all..all or lands on a NaN.
pub fn kth_index(r: f64, all: usize, numbers: usize) -> Option<usize> {
    let k = if r < 0.0 { r + all as f64 } else { r };
    (k >= 0.0 && k < numbers as f64 && k.fract() == 0.0).then_some(k as usize)
}

/// A histogram of keys with a cursor that finds the k-th smallest by walking from where the
/// last query ended. Large key ranges (`C`: float ranks, 16-bit data) also keep a bitmap of
/// the occupied bins, so the walk steps from one occupied bin to the next, 64 empty bins per
/// word: its cost is then the number of elements the median moved past, not the keys between.
///
/// Each bin is split into `L` lanes (`fine[k * L + lane]`; a bin's count is the sum of its
/// lanes), and the sliding step sends consecutive chords to different lanes: in flat areas
/// every update hits the same bin, and with one counter each increment would wait for the
/// previous one to be stored (a store-to-load chain), so the lanes turn one chain into `L`
/// independent ones. The bitmap (`C`) needs one counter per bin: `L` is then 1.
///
/// The bins are indexed without bounds checks (these updates are the whole cost of a median):
/// every key passed in must be below the `bins` given to [`Hist::new`] or be [`NAN_KEY`], which
/// [`ranks`] verifies once per block before any update.
struct Hist<const L: usize> {
    fine: Vec<u32>,
    /// Bit `k % 64` of word `k / 64`: bin `k` is occupied (kept only if `C`).
    occupied: Vec<u64>,
    /// Cursor bin, and how many elements lie in bins below it.
    pos: usize,
    below: u32,
    count: u32,
    nan: u32,
}

/// The key of a NaN (never stored in a bin).
pub const NAN_KEY: u32 = u32::MAX;

impl<const L: usize> Hist<L> {
    fn new(bins: usize) -> Hist<L> {
        let words = bins.div_ceil(64) + 1;
        Hist {
            fine: vec![0; words * 64 * L],
            occupied: vec![0; words],
            pos: 0,
            below: 0,
            count: 0,
            nan: 0,
        }
    }

    /// The number of elements in bin `k`. A lane alone may wrap below zero (an element can
    /// leave by another lane than the one it came in by); the sum is exact.
    #[inline(always)]
    fn bin(&self, k: usize) -> u32 {
        self.fine[k * L..k * L + L]
            .iter()
            .fold(0, |a, &b| a.wrapping_add(b))
    }

    /// Adds `d` (±1) to lane `lane` of the bin of finite key `k`; `below` (the caller's
    /// running count of elements below the cursor) changes with it.
    #[inline(always)]
    fn bump<const C: bool>(&mut self, k: usize, d: u32, lane: usize, below: &mut u32) {
        debug_assert!(k * L + lane < self.fine.len() && lane < L && (!C || L == 1));
        // SAFETY: k < bins and lane < L, so k * L + lane < fine.len() (see the type's doc);
        // k / 64 < occupied.len() because fine.len() == occupied.len() * 64 * L.
        unsafe {
            let f = self.fine.get_unchecked_mut(k * L + lane);
            *f = f.wrapping_add(d);
            if C {
                // L == 1 with the bitmap: this lane is the whole bin.
                let (bit, word) = (1u64 << (k % 64), self.occupied.get_unchecked_mut(k / 64));
                *word = if *f == 0 { *word & !bit } else { *word | bit };
            }
        }
        *below = below.wrapping_add(d * (k < self.pos) as u32);
    }

    #[inline]
    fn add<const C: bool>(&mut self, key: u32, lane: usize, below: &mut u32) {
        if key == NAN_KEY {
            self.nan += 1;
        } else {
            self.count += 1;
            self.bump::<C>(key as usize, 1, lane, below);
        }
    }

    #[inline]
    fn remove<const C: bool>(&mut self, key: u32, lane: usize, below: &mut u32) {
        if key == NAN_KEY {
            self.nan -= 1;
        } else {
            self.count -= 1;
            self.bump::<C>(key as usize, u32::MAX, lane, below);
        }
    }

    /// Replaces one element `out` by `new` in one lane: the sliding step. Without NaN keys
    /// (`!N`) the count cannot change.
    #[inline(always)]
    fn replace<const C: bool, const N: bool>(
        &mut self,
        out: u32,
        new: u32,
        lane: usize,
        below: &mut u32,
    ) {
        if N && (out == NAN_KEY || new == NAN_KEY) {
            self.remove::<C>(out, lane, below);
            self.add::<C>(new, lane, below);
        } else {
            self.bump::<C>(out as usize, u32::MAX, lane, below);
            self.bump::<C>(new as usize, 1, lane, below);
        }
    }

    /// Adds (`add`) or removes the keys of `keys`, the i-th by lane `i % L`.
    fn fill<const C: bool, K: Copy>(&mut self, keys: &[K], key: impl Fn(K) -> u32, add: bool) {
        let mut below = self.below;
        for (i, &k) in keys.iter().enumerate() {
            match add {
                true => self.add::<C>(key(k), i % L, &mut below),
                false => self.remove::<C>(key(k), i % L, &mut below),
            }
        }
        self.below = below;
    }

    /// The first occupied bin at or after `p` (one exists when walking up to an element).
    fn next_occupied(&self, p: usize) -> usize {
        let mut i = p / 64;
        let mut word = self.occupied[i] & (u64::MAX << (p % 64));
        while word == 0 {
            i += 1;
            word = self.occupied[i];
        }
        i * 64 + word.trailing_zeros() as usize
    }

    /// The last occupied bin before `p` (one exists when elements lie below `p`).
    fn prev_occupied(&self, p: usize) -> usize {
        let mut i = (p - 1) / 64;
        let mut word = self.occupied[i] & (u64::MAX >> (63 - (p - 1) % 64));
        while word == 0 {
            i -= 1;
            word = self.occupied[i];
        }
        i * 64 + 63 - word.leading_zeros() as usize
    }

    /// The key of the k-th smallest element (0-based, k < count).
    fn kth<const C: bool>(&mut self, k: u32) -> usize {
        while self.below > k {
            self.pos = if C {
                self.prev_occupied(self.pos)
            } else {
                self.pos - 1
            };
            self.below -= self.bin(self.pos);
        }
        loop {
            let here = self.bin(self.pos);
            if self.below + here > k {
                return self.pos;
            }
            self.below += here;
            self.pos = if C {
                self.next_occupied(self.pos + 1)
            } else {
                self.pos + 1
            };
        }
    }
}

/// Per block value a histogram key (NaN: [`NAN_KEY`]), and each key's value. Integer data in
/// 0..65536 keys by value; anything else by rank among the block's distinct values (-0 before
/// +0, as the interpreter's sort orders them).
pub fn keys_of(f: &[f64]) -> (Vec<u32>, Vec<f64>) {
    let integral = f.iter().all(|&v| {
        v.is_nan()
            || (crate::planes::is_integer(v)
                && (0.0..65536.0).contains(&v)
                && v.to_bits() != (-0.0f64).to_bits())
    });
    if integral {
        let top = f
            .iter()
            .filter(|v| !v.is_nan())
            .fold(0.0f64, |m, &v| m.max(v)) as usize;
        let keys = f
            .iter()
            .map(|&v| if v.is_nan() { NAN_KEY } else { v as u32 })
            .collect();
        return (keys, (0..=top).map(|k| k as f64).collect());
    }
    // The values' bits made to order as unsigned integers do as `f64::total_cmp` orders the
    // values (negative ones flipped whole, positive ones above them), each with its index.
    let (mut bits, mut index): (Vec<u64>, Vec<u32>) = (f.iter().enumerate())
        .filter(|(_, v)| !v.is_nan())
        .map(|(i, &v)| {
            let b = v.to_bits();
            (if b >> 63 == 1 { !b } else { b | 1 << 63 }, i as u32)
        })
        .unzip();
    radix_sort(&mut bits, &mut index);
    let mut keys = vec![NAN_KEY; f.len()];
    let mut values: Vec<f64> = Vec::new();
    let mut last = None;
    for (&b, &i) in bits.iter().zip(&index) {
        if last != Some(b) {
            values.push(f[i as usize]);
            last = Some(b);
        }
        keys[i as usize] = (values.len() - 1) as u32;
    }
    (keys, values)
}

/// Sorts `bits` ascending, moving `index` alongside: least significant digit first, 13 bits a
/// digit, skipping the digits every value shares (data converted from float32 has 29 zero bits
/// at the bottom). About three times as fast as a comparison sort of indices by value, which is
/// most of what a median of float data costs per block.
fn radix_sort(bits: &mut Vec<u64>, index: &mut Vec<u32>) {
    const DIGIT: usize = 13;
    const BINS: usize = 1 << DIGIT;
    const DIGITS: usize = 64usize.div_ceil(DIGIT);
    let n = bits.len();
    let digit = |b: u64, d: usize| (b >> (d * DIGIT)) as usize & (BINS - 1);
    let mut counts = vec![[0u32; BINS]; DIGITS];
    for &b in bits.iter() {
        for (d, c) in counts.iter_mut().enumerate() {
            c[digit(b, d)] += 1;
        }
    }
    // Every slot is written by a pass before the next reads it (a pass moves all n values).
    let (mut bits2, mut index2) = (crate::spare::unwritten(n), crate::spare::unwritten(n));
    for (d, starts) in counts.iter_mut().enumerate() {
        if starts.iter().any(|&c| c as usize == n) {
            continue;
        }
        let mut at = 0;
        for c in starts.iter_mut() {
            (*c, at) = (at, at + *c);
        }
        for (&b, &i) in bits.iter().zip(index.iter()) {
            let slot = &mut starts[digit(b, d)];
            bits2[*slot as usize] = b;
            index2[*slot as usize] = i;
            *slot += 1;
        }
        std::mem::swap(bits, &mut bits2);
        std::mem::swap(index, &mut index2);
    }
}

/// Median / percentile of every window by a sliding histogram along each output row: moving
/// one pixel right removes the first and adds the next element of every chord. `key` maps a
/// block element to its histogram key (< `bins`, or [`NAN_KEY`]), `value` a key back to its
/// value; `out` gets `nrows × width` results.
#[allow(clippy::too_many_arguments)]
pub fn ranks<K: Copy>(
    keys: &[K],
    key: impl Fn(K) -> u32,
    bins: usize,
    value: impl Fn(usize) -> f64,
    rank: Rank,
    chords: &[Chord],
    bw: usize,
    nrows: usize,
    width: usize,
    out: &mut [f64],
) {
    // Hist's bins are unchecked: refuse keys out of range before any update.
    let mut nan = false;
    for &k in keys {
        let k = key(k);
        assert!(
            k < bins as u32 || k == NAN_KEY,
            "histogram key out of range"
        );
        nan |= k == NAN_KEY;
    }
    // The sliding loop reads keys unchecked: base + end + x for x < width - 1 must be in the
    // block for every row and chord.
    let ends: Vec<(usize, usize)> = chords
        .iter()
        .map(|c| (c.row * bw + c.col, c.row * bw + c.col + c.len))
        .collect();
    let reach = ends.iter().map(|&(_, z)| z).max().unwrap_or(0);
    assert!(nrows == 0 || (nrows - 1) * bw + reach + width <= keys.len() + 1);
    let g = (bins, nrows, width, bw);
    // Small histograms walk bin by bin: keeping the bitmap costs more than it saves, unless
    // the window's values are spread thin over many bins (a 3×3 median of real-valued data:
    // a key per distinct value of the block, the median moving hundreds of bins a step).
    let cells: usize = ends.iter().map(|&(a, z)| z - a).sum();
    match (bins > 4096 || bins > 32 * cells, nan) {
        (true, true) => ranks_by::<K, true, true, 1>(keys, key, value, rank, &ends, g, out),
        (true, false) => ranks_by::<K, true, false, 1>(keys, key, value, rank, &ends, g, out),
        (false, true) => ranks_by::<K, false, true, 2>(keys, key, value, rank, &ends, g, out),
        (false, false) => ranks_by::<K, false, false, 2>(keys, key, value, rank, &ends, g, out),
    }
}

/// [`ranks`] with the occupancy bitmap or not (`C`), NaN keys possible or not (`N`), and `L`
/// lanes per bin.
fn ranks_by<K: Copy, const C: bool, const N: bool, const L: usize>(
    keys: &[K],
    key: impl Fn(K) -> u32,
    value: impl Fn(usize) -> f64,
    rank: Rank,
    ends: &[(usize, usize)],
    (bins, nrows, width, bw): (usize, usize, usize, usize),
    out: &mut [f64],
) {
    let mut hist = Hist::<L>::new(bins);
    let skip_nan = rank == Rank::Median { skip_nan: true };
    for ry in 0..nrows {
        let base = ry * bw;
        for &(a, z) in ends {
            hist.fill::<C, K>(&keys[base + a..base + z], &key, true);
        }
        let row = &keys[base..];
        for x in 0..width {
            let cnt = hist.count;
            out[ry * width + x] = if let Rank::Kth(r) = rank {
                kth_index(r, (cnt + hist.nan) as usize, cnt as usize)
                    .map_or(f64::NAN, |k| value(hist.kth::<C>(k as u32)))
            } else if (hist.nan > 0 && !skip_nan) || cnt == 0 {
                f64::NAN
            } else {
                match rank {
                    Rank::Percentile(q) if !(0.0..=100.0).contains(&q) => f64::NAN,
                    Rank::Percentile(q) => {
                        let pos = q / 100.0 * (cnt - 1) as f64;
                        let lo = pos.floor() as u32;
                        let a = value(hist.kth::<C>(lo));
                        let b = value(hist.kth::<C>((lo + 1).min(cnt - 1)));
                        crate::runtime::lerp(a, b, pos - lo as f64)
                    }
                    _ if cnt % 2 == 1 => value(hist.kth::<C>(cnt / 2)),
                    _ => (value(hist.kth::<C>(cnt / 2 - 1)) + value(hist.kth::<C>(cnt / 2))) / 2.0,
                }
            };
            if x + 1 < width {
                // One running `below` per lane: the lanes' updates are independent chains.
                let mut below = [0u32; L];
                let mut slide = |lane: usize, (a, z): (usize, usize)| {
                    // SAFETY: a + x < z + x ≤ z + width - 2, inside `row` by the assert in
                    // `ranks`.
                    let (o, n) = unsafe { (*row.get_unchecked(a + x), *row.get_unchecked(z + x)) };
                    hist.replace::<C, N>(key(o), key(n), lane, &mut below[lane]);
                };
                // Whole groups of L chords with each lane known at compile time, then the rest.
                let mut chunks = ends.chunks_exact(L);
                for chunk in &mut chunks {
                    for (lane, &end) in chunk.iter().enumerate() {
                        slide(lane, end);
                    }
                }
                for (lane, &end) in chunks.remainder().iter().enumerate() {
                    slide(lane, end);
                }
                hist.below = below.iter().fold(hist.below, |b, &l| b.wrapping_add(l));
            }
        }
        // Empty the histogram by removing the last window.
        let last = base + width - 1;
        for &(a, z) in ends {
            hist.fill::<C, K>(&keys[last + a..last + z], &key, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A block of `rows × bw` pseudo-random small integers.
    fn block(rows: usize, bw: usize) -> Vec<i32> {
        (0..rows * bw)
            .map(|i| ((i * 7919 + 13) % 23) as i32 - 11)
            .collect()
    }

    #[test]
    fn chords_split_runs_and_rows() {
        let c = |row, col, len| Chord { row, col, len };
        assert_eq!(
            chords(&[0, 1, 2, 10, 11, 20], 5),
            [c(0, 0, 3), c(2, 0, 2), c(4, 0, 1)]
        );
        // Consecutive offsets across a row end are two chords.
        assert_eq!(chords(&[3, 4, 5, 6], 5), [c(0, 3, 2), c(1, 0, 2)]);
    }

    #[test]
    fn extremes_match_brute_force() {
        let (bw, nrows, width) = (40, 5, 12);
        let offs: Vec<usize> = [(0, 3, 17), (1, 0, 28), (2, 5, 6), (4, 1, 1), (6, 0, 20)]
            .iter()
            .flat_map(|&(r, c, l)| (0..l).map(move |i| r * bw + c + i))
            .collect();
        let cs = chords(&offs, bw);
        let b = block(nrows + 7, bw);
        let mut scratch = Scratch::default();
        let mut out = vec![0; nrows * width];
        for max in [true, false] {
            let identity = if max { i32::MIN } else { i32::MAX };
            extremes(
                &b,
                bw,
                nrows,
                width,
                &cs,
                max,
                identity,
                &mut scratch,
                &mut out,
            );
            for ry in 0..nrows {
                for x in 0..width {
                    let vals = offs.iter().map(|o| b[ry * bw + x + o]);
                    let want = if max { vals.max() } else { vals.min() };
                    assert_eq!(out[ry * width + x], want.unwrap(), "{max} {ry} {x}");
                }
            }
        }
    }

    /// Runs of equal values (flat areas): elements enter and leave a bin by different lanes,
    /// so single lanes wrap below zero while the bins' sums stay exact.
    #[test]
    fn ranks_match_sorting_on_flat_runs() {
        let (bw, nrows, width) = (30, 6, 14);
        let offs: Vec<usize> = (0..5)
            .flat_map(|r| (r % 3..7 - r % 2).map(move |c| r * bw + c))
            .collect();
        let cs = chords(&offs, bw);
        let b: Vec<i32> = (0..(nrows + 5) * bw)
            .map(|i| ((i / 9) % 3) as i32)
            .collect();
        let mut out = vec![0.0; nrows * width];
        let rank = Rank::Median { skip_nan: false };
        ranks(
            &b,
            |v| v as u32,
            3,
            |k| k as f64,
            rank,
            &cs,
            bw,
            nrows,
            width,
            &mut out,
        );
        for ry in 0..nrows {
            for x in 0..width {
                let mut v: Vec<i32> = offs.iter().map(|o| b[ry * bw + x + o]).collect();
                v.sort_unstable();
                let n = v.len();
                let want = if n % 2 == 1 {
                    v[n / 2] as f64
                } else {
                    (v[n / 2 - 1] + v[n / 2]) as f64 / 2.0
                };
                assert_eq!(out[ry * width + x], want, "{ry} {x}");
            }
        }
    }

    #[test]
    fn ranks_match_sorting() {
        let (bw, nrows, width) = (20, 4, 9);
        let offs: Vec<usize> = vec![0, 1, 2, 5, bw + 3, bw + 4, 2 * bw, 3 * bw + 11];
        let cs = chords(&offs, bw);
        let b = block(nrows + 4, bw);
        let mut out = vec![0.0; nrows * width];
        // 23 bins walk bin by bin; 1000 (more than 32 per cell of the window) and 5000 use
        // the occupancy bitmap.
        for (rank, bins) in [
            (Rank::Median { skip_nan: false }, 23),
            (Rank::Percentile(30.0), 23),
            (Rank::Median { skip_nan: false }, 1000),
            (Rank::Kth(3.0), 1000),
            (Rank::Median { skip_nan: false }, 5000),
            (Rank::Percentile(30.0), 5000),
            (Rank::Kth(2.0), 23),
            (Rank::Kth(-1.0), 5000),
        ] {
            let key = |v: i32| (v + 11) as u32;
            let value = |k: usize| k as f64 - 11.0;
            ranks(&b, key, bins, value, rank, &cs, bw, nrows, width, &mut out);
            for ry in 0..nrows {
                for x in 0..width {
                    let mut v: Vec<f64> = offs.iter().map(|o| b[ry * bw + x + o] as f64).collect();
                    v.sort_by(f64::total_cmp);
                    let pos = match rank {
                        Rank::Percentile(q) => q / 100.0 * 7.0,
                        Rank::Kth(r) if r < 0.0 => 8.0 + r,
                        Rank::Kth(r) => r,
                        _ => 3.5,
                    };
                    let (lo, t) = (pos.floor() as usize, pos.fract());
                    let want = crate::runtime::lerp(v[lo], v[(lo + 1).min(7)], t);
                    assert_eq!(out[ry * width + x], want, "{rank:?} {ry} {x}");
                }
            }
        }
    }

    #[test]
    fn keys_order_values_as_total_cmp() {
        // Pseudo-random doubles of every magnitude and sign, float32-like ones (29 zero bits:
        // skipped digits), repeats, ±0, ±∞, NaN; and integer data keyed by value.
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let f: Vec<f64> = (0..3000)
            .map(|i| match i % 6 {
                0 => f64::from_bits(next()),
                1 => (next() % 1000) as f64 / 8.0 - 60.0,
                2 => ((next() % 100_000) as f32 / 7.0) as f64,
                _ => [
                    0.0,
                    -0.0,
                    f64::INFINITY,
                    f64::NEG_INFINITY,
                    f64::NAN,
                    1e-310,
                ][i % 6],
            })
            .collect();
        for data in [
            f.clone(),
            f.iter().map(|v| (v.abs() % 300.0).floor()).collect(),
            vec![],
        ] {
            let (keys, values) = keys_of(&data);
            for (i, &v) in data.iter().enumerate() {
                if v.is_nan() {
                    assert_eq!(keys[i], NAN_KEY);
                    continue;
                }
                assert_eq!(values[keys[i] as usize].to_bits(), v.to_bits(), "{v}");
                for (j, &u) in data.iter().enumerate().step_by(7) {
                    if !u.is_nan() {
                        assert_eq!(keys[i].cmp(&keys[j]), v.total_cmp(&u), "{v} {u}");
                    }
                }
            }
            assert!(values.windows(2).all(|p| p[0].total_cmp(&p[1]).is_lt()) || values.len() < 2);
        }
    }
}
