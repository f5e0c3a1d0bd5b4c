//! The plane kernels: compute a stripe's planned reductions (decided by [`crate::planner`]) from
//! the footprint's runs of consecutive cells (chords): sums from prefix sums and rectangles in
//! two 1-D passes, extremes and ranks by the chord algorithms of [`crate::order`], absolute
//! deviations in one pass over the window. Their cost grows with the footprint's height, not
//! its area.
//!
//! Accuracy: sums run over the stripe's padded block. Integer data sums exactly. Float data:
//! prefix sums are double-doubles, accurate to about ε of each window's magnitude; a box's sums
//! and means go by rectangles, off by about `(box width + stripe rows)·ε` of the magnitudes
//! added, the order of a window-order sum's own error. A reduction's value depends only on its
//! point map and footprint, never on what else the stripe computes (which lets
//! [`crate::fusion`] fuse stages without changing a bit). Variance is
//! `(Σd² − (Σd)²/n)/(n − ddof)` of the data `d` shifted by one of its values, clamped at 0. Non-finite values are counted separately so that one NaN or ∞ affects
//! only the windows that contain it, with numpy's results (NaN, ±∞).

use crate::auto::RowTables;
use crate::codegen::RowFn;
use crate::ir::{At, Sample};
use crate::order::{self, Chord};
use crate::planner::{Center, Item, Kind, Map, Planner, Term};
use crate::runtime::RowArgs;
use crate::select::{self, Selection};
use crate::spare::Spare;
use crate::window::Stripe;
use std::cell::OnceCell;

/// Computes this stripe's planes (one `nrows × width` buffer per item of `planner`). `map` is
/// the compiled row function of [`Planner::map_program`]. `dest`: a plane (read by no other
/// item) and the caller's `nrows × width` values to write it into instead of its buffer (the
/// result rows themselves, when the plane is the result: no copy).
pub(crate) fn compute(
    planner: &Planner,
    s: &Stripe,
    map: Option<RowFn>,
    tables: &RowTables,
    planes: &mut Vec<Spare>,
    scratch: &mut order::Scratch<f64>,
    mut dest: Option<(usize, &mut [f64])>,
) {
    let size = s.nrows * s.width;
    // Where plane `p` (its buffer `plane`) is written: `dest`'s values, or the buffer sized
    // (every value is written by its user).
    fn target<'a>(
        plane: &'a mut Spare,
        dest: &'a mut Option<(usize, &mut [f64])>,
        p: usize,
        size: usize,
    ) -> &'a mut [f64] {
        match dest {
            Some((d, values)) if *d == p => values,
            _ => sized(plane, size),
        }
    }
    let params = tables.params;
    debug_assert!(dest
        .as_ref()
        .is_none_or(|(d, _)| (planner.items.iter()).all(|it| {
            !matches!(it.kind, Kind::AbsDev { center: Center::Plane(c), .. } if c == *d)
        })));
    planes.resize_with(planner.items.len(), Spare::default);
    if planner.items.is_empty() {
        return;
    }
    let chords = order::chords(s.offs, s.bw);
    let sums = SumChords::new(&chords, s);
    let n = s.offs.len() as f64;
    // The kernel compiles `map` exactly when the planner has a map program.
    let made = match (map, planner.map_program()) {
        (Some(f), Some(p)) => apply_map(f, p.roots.len(), s.blocks, params),
        _ => Vec::new(),
    };
    let mut made = made.iter();
    let mapped: Vec<&[f64]> = (planner.maps.iter())
        .map(|m| match m {
            Map::Input(i) => s.input(*i),
            Map::Program(_) => &made.next().expect("one result per map")[..],
        })
        .collect();
    let dependent = |it: &Item| {
        matches!(
            it.kind,
            Kind::AbsDev { .. } | Kind::Weighted { .. } | Kind::Linear(_)
        )
    };
    for (m, f) in mapped.iter().enumerate() {
        let items: Vec<(usize, &Item)> = (planner.items.iter().enumerate())
            .filter(|(_, it)| it.map == Some(m) && !dependent(it))
            .collect();
        // The per-value loops of the block's statistics and of each item's rows in AVX2 (the
        // rest of this function is bookkeeping).
        let stats = crate::simd::avx2(
            #[inline(always)]
            || BlockStats::new(f, &items, &sums),
        );
        // A sum or mean beside a variance of the same map is made from the variance's window
        // sums when those are exact (the same values as its own), and no value needs NaN or ∞
        // handling.
        let moments = (items.iter())
            .find(|(_, it)| matches!(it.kind, Kind::Var(_) | Kind::Std(_)))
            .map(|&(plane, _)| plane);
        let shares = |it: &Item| {
            moments.is_some() && stats.means_share() && matches!(it.kind, Kind::Sum | Kind::Mean)
        };
        // The variance's window sums, one per output pixel pushed row by row, when there is a
        // variance (grown by doubling, they cost a third of what a mean beside it adds).
        let mut window_sums = Vec::with_capacity(if moments.is_some() { size } else { 0 });
        for &(plane, item) in items.iter().filter(|(_, it)| !shares(it)) {
            let out = target(&mut planes[plane], &mut dest, plane, size);
            let sums_out = (Some(plane) == moments).then_some(&mut window_sums);
            crate::simd::avx2(
                #[inline(always)]
                || stats.fill(item.kind, &chords, n, s, scratch, out, sums_out),
            );
        }
        for &(plane, item) in items.iter().filter(|(_, it)| shares(it)) {
            let out = target(&mut planes[plane], &mut dest, plane, size);
            let to = stats.sum_to(item.kind, n);
            crate::simd::avx2(
                #[inline(always)]
                || (out.iter_mut().zip(&window_sums)).for_each(|(o, &v)| *o = to(v)),
            );
        }
    }
    // Items that read other planes, after those are filled (a center's item comes first), and
    // the linear sums.
    for (plane, item) in planner
        .items
        .iter()
        .enumerate()
        .filter(|(_, it)| dependent(it))
    {
        // Taken out while written, as a deviation reads its center's plane. Every value is
        // written below.
        let mut own = std::mem::take(&mut planes[plane]);
        let out = target(&mut own, &mut dest, plane, size);
        let map = item.map.map(|m| mapped[m]);
        let (center, mean) = match item.kind {
            Kind::AbsDev { center, mean } => (center, mean),
            Kind::Linear(i) => {
                linear_sums(s, &planner.linears[i], out);
                planes[plane] = own;
                continue;
            }
            Kind::Weighted { weights, mean } => {
                let w = weights_of(&planner.weights[weights], tables);
                weighted_sums(map.expect("a weighted sum's map"), s, &w, tables, out);
                if mean {
                    out.iter_mut().for_each(|v| *v /= n);
                }
                planes[plane] = own;
                continue;
            }
            _ => unreachable!("only deviations, weighted and linear sums are apart"),
        };
        let (w, bw) = (s.width, s.bw);
        for ry in 0..s.nrows {
            let center: &[f64] = match center {
                Center::Plane(i) => &planes[i][ry * w..(ry + 1) * w],
                Center::At(i) => &s.input(i)[ry * bw + s.coff..ry * bw + s.coff + w],
            };
            let row = &mut out[ry * w..(ry + 1) * w];
            let map = map.expect("a deviation's map");
            abs_deviations(map, ry * bw, &sums.all, center, row);
            if mean {
                row.iter_mut().for_each(|v| *v /= n);
            }
        }
        planes[plane] = own;
    }
}

/// `plane` resized to `n` values, those it holds (of the last stripe, or of a buffer reused)
/// left in place: its user writes every value, so clearing would be a wasted pass.
fn sized(plane: &mut Spare, n: usize) -> &mut Spare {
    if plane.capacity() < n {
        *plane = Spare::dirty(n);
    }
    crate::spare::set_unwritten(plane, n);
    plane
}

/// The weight of each window element: the product of the vectors `program` computes (its
/// results) from the footprint's tables and the params.
fn weights_of(program: &crate::ir::Program, t: &RowTables) -> Vec<f64> {
    let no_point = |_: usize, _: [isize; 3]| 0.0;
    let win = crate::interp::Window {
        w: &[],
        point: &no_point,
        k: t.k,
        dx: t.dx,
        dy: t.dy,
        dz: t.dz,
        pos: [0.0; 3],
        axes: t.axes,
        d: t.d,
        size: t.size,
        params: t.params,
    };
    let factors = crate::interp::vectors(program, &win);
    (0..t.k.len())
        .map(|j| factors.iter().fold(1.0, |p, f| p * f[j]))
        .collect()
}

/// `out` = Σ_j weights[j] · f at window element j, for every pixel of the stripe. Weights that
/// factor over a full box (`gauss:`, boxes, Sobel's `dx * (2 - abs(dy))`) as row weight times
/// column weight run as two 1-D passes (cost ∝ height + width, not their product): along each
/// row of the block, then across rows. Otherwise, or when the block holds values that are not
/// finite (whose NaN and ∞ must come out as the window-order sum gives them), one pass per cell
/// in window order.
fn weighted_sums(f: &[f64], s: &Stripe, weights: &[f64], t: &RowTables, out: &mut [f64]) {
    let (w, bw, n) = (s.width, s.bw, s.offs.len());
    // The flat span of the block the windows read.
    let lo = s.offs.iter().copied().min().unwrap_or(0);
    let hi = s.offs.iter().copied().max().unwrap_or(0) + (s.nrows - 1) * bw + w;
    let finite = Scan::finite_only(&f[lo..hi]).finite;
    let split = if finite {
        separable(s, weights, t)
    } else {
        None
    };
    crate::simd::avx2(
        #[inline(always)]
        || {
            if weights.is_empty() {
                // The empty sum, as the interpreter's (which starts from -0).
                return out.fill(-0.0);
            }
            let Some((rows, cols)) = split else {
                let cells: Vec<(usize, f64)> = (s.offs.iter().copied())
                    .zip(weights.iter().copied())
                    .collect();
                for ry in 0..s.nrows {
                    window_sums(&f[ry * bw..], &cells, &mut out[ry * w..(ry + 1) * w]);
                }
                return;
            };
            // Along rows: tmp[p] = Σ_c b_c · f[rlo + p + δ_c], for every row start the windows
            // need; then out = Σ_r a_r · tmp[row r's start − rlo + …]. Both passes hold their
            // sums in registers across the taps (a pass over `tmp` per tap loads and stores
            // every sum once per tap).
            let rlo = rows.iter().map(|r| r.0).min().unwrap_or(0);
            let rhi = rows.iter().map(|r| r.0).max().unwrap_or(0);
            let len = rhi - rlo + (s.nrows - 1) * bw + w;
            let mut tmp = Spare::dirty(len);
            window_sums(&f[rlo..], &cols, &mut tmp[..len]);
            let rows: Vec<(usize, f64)> = rows.iter().map(|&(r, a)| (r - rlo, a)).collect();
            for ry in 0..s.nrows {
                window_sums(&tmp[ry * bw..], &rows, &mut out[ry * w..(ry + 1) * w]);
            }
        },
    );
    debug_assert_eq!(n, weights.len());
}

/// `out[x] = Σ_j k_j · f[x + off_j]` over `cells` (`(off_j, k_j)`), added in their order from
/// -0 (the window order's sum, to the bit), 32 pixels at a time held in registers across the
/// whole window: a pass over `out` per cell would load and store every sum once per cell.
#[inline(always)]
fn window_sums(f: &[f64], cells: &[(usize, f64)], out: &mut [f64]) {
    #[inline(always)]
    fn tile<const T: usize>(f: &[f64], cells: &[(usize, f64)], out: &mut [f64]) {
        let mut acc = [-0.0f64; T];
        for &(off, k) in cells {
            let v: &[f64; T] = f[off..off + T].try_into().expect("a tile of T");
            for i in 0..T {
                acc[i] += k * v[i];
            }
        }
        out[..T].copy_from_slice(&acc);
    }
    let mut x = 0;
    while x + 32 <= out.len() {
        tile::<32>(&f[x..], cells, &mut out[x..]);
        x += 32;
    }
    while x < out.len() {
        tile::<1>(&f[x..], cells, &mut out[x..]);
        x += 1;
    }
}

/// `out` = each of the stripe's pixels' linear sum `terms` (see [`Term`]), added in their order
/// from -0 (the program's order: the row function's and the interpreter's result, to the bit),
/// 16 pixels at a time held in registers across the terms.
fn linear_sums(s: &Stripe, terms: &[Term], out: &mut [f64]) {
    // Where each value of pixel (0, 0) lies in its input's block.
    let flat = |v: Sample| {
        let [z, y, x] = match v.at {
            At::Offset(o) => o,
            _ => [0; 3],
        };
        let (plane, row) = ((s.bh * s.bw) as isize, s.bw as isize);
        let at = s.coff as isize + z * plane + y * row + x;
        (
            v.input,
            usize::try_from(at).expect("the block holds every offset read"),
        )
    };
    let located: Vec<_> = (terms.iter())
        .map(|t| (flat(t.a), t.b.map(|(b, minus)| (flat(b), minus)), t.k))
        .collect();
    crate::simd::avx2(
        #[inline(always)]
        || {
            // One term's slices from the current row on: `a`, and `b` with its sign.
            type Cell<'a> = (&'a [f64], Option<(&'a [f64], bool)>, f64);
            #[inline(always)]
            fn tile<const T: usize>(cells: &[Cell], x: usize, out: &mut [f64]) {
                let mut acc = [-0.0f64; T];
                let at = |v: &[f64]| -> [f64; T] { v[x..x + T].try_into().expect("T values") };
                for &(a, b, k) in cells {
                    let a = at(a);
                    match b {
                        None => (0..T).for_each(|i| acc[i] += a[i] * k),
                        Some((b, false)) => {
                            let b = at(b);
                            (0..T).for_each(|i| acc[i] += (a[i] + b[i]) * k);
                        }
                        Some((b, true)) => {
                            let b = at(b);
                            (0..T).for_each(|i| acc[i] += (a[i] - b[i]) * k);
                        }
                    }
                }
                out[x..x + T].copy_from_slice(&acc);
            }
            let mut cells: Vec<Cell> = Vec::with_capacity(located.len());
            let w = s.width;
            for ry in 0..s.nrows {
                let from = |(i, at): (usize, usize)| &s.input(i)[ry * s.bw + at..];
                cells.clear();
                cells.extend(
                    (located.iter())
                        .map(|&(a, b, k)| (from(a), b.map(|(b, minus)| (from(b), minus)), k)),
                );
                let row = &mut out[ry * w..(ry + 1) * w];
                let mut x = 0;
                while x + 16 <= w {
                    tile::<16>(&cells, x, row);
                    x += 16;
                }
                while x < w {
                    tile::<1>(&cells, x, row);
                    x += 1;
                }
            }
        },
    );
}

/// Row and column factors of `weights` when the footprint is a full box and its weights are a
/// product `a[row] · b[column]` (to rounding): per row its flat start in the block and `a`,
/// per column its offset from the row start and `b`.
#[allow(clippy::type_complexity)]
fn separable(
    s: &Stripe,
    weights: &[f64],
    t: &RowTables,
) -> Option<(Vec<(usize, f64)>, Vec<(usize, f64)>)> {
    let n = weights.len();
    // A row of the block: where its cells start (planes folded from more than three axes
    // included), not their `dz` and `dy`.
    let row_of = |j: usize| s.offs[j] as i64 - t.dx[j] as i64;
    let mut rows: Vec<i64> = Vec::new();
    let mut cols: Vec<i64> = Vec::new();
    for j in 0..n {
        if !rows.contains(&row_of(j)) {
            rows.push(row_of(j));
        }
        if !cols.contains(&(t.dx[j] as i64)) {
            cols.push(t.dx[j] as i64);
        }
    }
    if rows.len() * cols.len() != n || rows.len() < 2 || cols.len() < 2 {
        return None;
    }
    // Cell (r, c) → element j (a full box has each once).
    let mut at = vec![usize::MAX; n];
    for j in 0..n {
        let r = rows.iter().position(|&q| q == row_of(j))?;
        let c = cols.iter().position(|&q| q == t.dx[j] as i64)?;
        at[r * cols.len() + c] = j;
    }
    let (mut r0, mut c0, mut big) = (0, 0, 0.0f64);
    for r in 0..rows.len() {
        for c in 0..cols.len() {
            let v = weights[at[r * cols.len() + c]].abs();
            if v > big {
                (r0, c0, big) = (r, c, v);
            }
        }
    }
    if !(big.is_finite() && big > 0.0) {
        return None;
    }
    let pivot = weights[at[r0 * cols.len() + c0]];
    let a: Vec<f64> = (0..rows.len())
        .map(|r| weights[at[r * cols.len() + c0]] / pivot)
        .collect();
    let b: Vec<f64> = (0..cols.len())
        .map(|c| weights[at[r0 * cols.len() + c]])
        .collect();
    let off = |r: usize, c: usize| s.offs[at[r * cols.len() + c]];
    for r in 0..rows.len() {
        for c in 0..cols.len() {
            let j = at[r * cols.len() + c];
            let rank1 = (a[r] * b[c] - weights[j]).abs() <= 1e-13 * big;
            // The block's layout: each cell's offset is its row's start plus its column's.
            let flat = off(r, c) + off(r0, c0) == off(r, c0) + off(r0, c);
            if !rank1 || !flat {
                return None;
            }
        }
    }
    // off(r, c) = R_r + C_c with the smallest C_c = 0, both ≥ 0.
    let cmin = (0..cols.len()).map(|c| off(r0, c)).min().unwrap_or(0);
    let rows = (0..rows.len()).map(|r| (off(r, c0) + cmin - off(r0, c0), a[r]));
    let cols = (0..cols.len()).map(|c| (off(r0, c) - cmin, b[c]));
    Some((rows.collect(), cols.collect()))
}

/// `out[x]` = Σ over the chords' cells of `|f[base + x + cell] − center[x]|`, summed in
/// footprint order as the interpreter does (so the result is the same to the bit). Pixels go
/// 24 at a time, their centers and sums held in 12 AVX registers across the whole window.
fn abs_deviations(
    f: &[f64],
    base: usize,
    chords: &[(usize, usize)],
    center: &[f64],
    out: &mut [f64],
) {
    crate::simd::avx2(
        #[inline(always)]
        || {
            let mut x = 0;
            while x + 24 <= out.len() {
                deviation_tile::<24>(f, base + x, chords, &center[x..], &mut out[x..]);
                x += 24;
            }
            while x + 4 <= out.len() {
                deviation_tile::<4>(f, base + x, chords, &center[x..], &mut out[x..]);
                x += 4;
            }
            while x < out.len() {
                deviation_tile::<1>(f, base + x, chords, &center[x..], &mut out[x..]);
                x += 1;
            }
        },
    )
}

/// [`abs_deviations`] for the `T` pixels from `base`.
#[inline(always)]
fn deviation_tile<const T: usize>(
    f: &[f64],
    base: usize,
    chords: &[(usize, usize)],
    center: &[f64],
    out: &mut [f64],
) {
    let s: [f64; T] = center[..T].try_into().expect("T centers");
    let mut acc = [-0.0f64; T];
    for &(start, len) in chords {
        for v in f[base + start..base + start + len + T - 1].windows(T) {
            let v: &[f64; T] = v.try_into().expect("windows of T");
            for i in 0..T {
                acc[i] += (v[i] - s[i]).abs();
            }
        }
    }
    out[..T].copy_from_slice(&acc);
}

/// Runs the maps' row function over the whole blocks (all of one length) as one row of
/// one-element windows: its `n` results, one block each.
fn apply_map(f: RowFn, n: usize, blocks: &[Vec<f64>], params: &[f64]) -> Vec<Spare> {
    let len = blocks[0].len();
    let mut out: Vec<Spare> = (0..n).map(|_| Spare::dirty(len)).collect();
    let inputs: Vec<*const f64> = blocks.iter().map(|b| b.as_ptr()).collect();
    let outputs: Vec<*mut f64> = out.iter_mut().map(|o| o.as_mut_ptr()).collect();
    let mut args = RowArgs::new(&inputs, &[0], len, &outputs);
    args.params = params.as_ptr();
    // SAFETY: a point map reads only inputs[i][x] for x < width (every block has `len`
    // values), and params, and writes `len` values to each of its `n` outputs; the lists
    // live until the call returns.
    crate::simd::clean_upper();
    unsafe { f(&mut args) };
    out
}

/// Prefix sums and running extremes of one mapped block, as the planned items need them.
struct BlockStats<'a> {
    shift: f64,
    /// Prefix sums of finite values minus `shift`, and of their squares.
    p1: Prefix,
    p2: Prefix,
    /// Sums and means beside a variance, when `p1` would not give them exactly as they come
    /// alone (shifted, or summed otherwise): the finite values' own sums. A reduction's value
    /// never depends on what else the program computes, so a pass that also makes another
    /// stage's values gives the same bits as that stage alone.
    own: Option<Prefix>,
    /// Prefix counts of nonzero values.
    p0: Prefix,
    /// Prefix counts of NaN, +inf, -inf (empty when the block is all finite).
    nan: Prefix,
    pinf: Prefix,
    ninf: Prefix,
    /// The mapped values, for extremes, ranks and `huge` blocks.
    f: &'a [f64],
    /// Histogram keys of `f` and their values, made once for all rank items of the block.
    keys: OnceCell<(Vec<u32>, Vec<f64>)>,
    sc: &'a SumChords,
    /// Some finite value is so large that its square overflows: moments are computed per
    /// window (two passes) instead of from prefix sums for this block.
    huge: bool,
    /// The one sum or mean is summed into its plane by [`rect_sums_into`] (`p1` is not built).
    direct: bool,
}

/// The footprint's chords as the sums read them: every chord as (block offset, length), and the
/// same split into single chords and rectangles — runs of 3 or more identical chords in
/// consecutive rows, not much wider than tall — which are summed in two 1-D passes (along block
/// rows, then down a running sum) instead of from prefix sums (a 9×9 box: about 12 additions
/// per pixel and no prefix at all, instead of 18 prefix reads after a scan of the block).
struct SumChords {
    /// Every chord as (block offset, length).
    all: Vec<(usize, usize)>,
    /// Every chord, and the single chords alone, as (offset in a [`Prefix`], length): prefixes
    /// have one more column than the block (see [`Prefix`]).
    all_p: Vec<(usize, usize)>,
    singles_p: Vec<(usize, usize)>,
    /// (first block row, rows, column, length).
    rects: Vec<(usize, usize, usize, usize)>,
    bw: usize,
    nrows: usize,
    width: usize,
}

impl SumChords {
    /// Rectangles cover the footprint: no single chords are left to sum from prefixes.
    fn rects_cover(&self) -> bool {
        !self.rects.is_empty() && self.singles_p.is_empty()
    }

    fn new(chords: &[Chord], s: &Stripe) -> SumChords {
        let bw = s.bw;
        // A rectangle costs about `len + 2` additions per pixel, its chords `2 · rows` prefix
        // reads.
        let (rects, singles) =
            order::rectangles(chords, |len, rows| rows >= 3 && len + 2 <= 2 * rows);
        let rects = (rects.iter())
            .map(|&(c, rows)| (c.row, rows, c.col, c.len))
            .collect();
        let at = |cs: &[Chord], stride: usize| -> Vec<(usize, usize)> {
            cs.iter().map(|c| (c.row * stride + c.col, c.len)).collect()
        };
        SumChords {
            all: at(chords, bw),
            all_p: at(chords, bw + 1),
            singles_p: at(&singles, bw + 1),
            rects,
            bw,
            nrows: s.nrows,
            width: s.width,
        }
    }
}

/// Window sums of one sequence of block values: prefix sums along each block row, kept as
/// double-doubles (`hi + lo`, TwoSum), so that a window's sum, a difference of two prefixes, is
/// accurate to about ε of the window's own magnitude, not of the row's; and the rectangles'
/// sums, when exact. A row of `bw` values has `bw + 1` prefixes (0 first), so every chord's end
/// lies in its own row; rows are independent, which lets the scan run several rows at once
/// (one row alone is a chain of dependent additions).
struct Prefix {
    hi: Spare,
    lo: Spare,
    /// All `lo` are zero (e.g. integer data): the high parts alone are exact.
    exact: bool,
    /// The rectangles' sums for every output pixel of the stripe (`nrows × width`), when the
    /// chords have rectangles and the values are integers whose total magnitude stays below
    /// 2⁵³, so that sums in any order are exact, or the caller accepts rounding; empty
    /// otherwise.
    rects: Spare,
}

/// Rows scanned at once by [`Prefix::new`]: enough independent addition chains to cover an
/// addition's latency.
const SCAN_ROWS: usize = 4;

impl Prefix {
    /// `integers`: the values are integers whose total magnitude stays below 2⁵³ (so that
    /// sums in any order are exact); `rounded`: rectangles may also sum values that are not
    /// (then with rounding errors of the order of the interpreter's own).
    fn new(values: &[f64], sc: &SumChords, integers: bool, rounded: bool) -> Prefix {
        let rects = if sc.rects.is_empty() || !(integers || rounded) {
            Spare::default()
        } else {
            rect_sums(values, sc)
        };
        if !rects.is_empty() && sc.rects_cover() {
            // Rectangles cover the footprint: no prefix needed.
            return Prefix {
                exact: true,
                rects,
                ..Prefix::none()
            };
        }
        let bw = sc.bw;
        debug_assert_eq!(values.len() % bw, 0);
        let size = values.len() / bw * (bw + 1);
        let mut hi = Spare::with_capacity(size);
        if integers {
            // Every partial sum is an exact integer, in any order: plain prefix sums by
            // vectors, no low parts.
            let rows = hi.spare_capacity_mut()[..size].chunks_exact_mut(bw + 1);
            for (src, dst) in values.chunks_exact(bw).zip(rows) {
                dst[0].write(0.0);
                crate::simd::prefix_exact_f64(src, &mut dst[1..]);
            }
            // SAFETY: every row's `bw + 1` entries were written, i.e. all `size`.
            unsafe { hi.set_len(size) };
            return Prefix {
                hi,
                exact: true,
                rects,
                ..Prefix::none()
            };
        }
        let mut lo = Spare::with_capacity(size);
        scan_rows(values, bw, &mut hi, &mut lo);
        let exact = lo.iter().all(|&l| l == 0.0);
        Prefix {
            hi,
            lo,
            exact,
            rects,
        }
    }

    /// None built.
    fn none() -> Prefix {
        Prefix {
            hi: Spare::default(),
            lo: Spare::default(),
            exact: true,
            rects: Spare::default(),
        }
    }

    /// Not built (the block needs no such sums).
    fn is_empty(&self) -> bool {
        self.hi.is_empty() && self.rects.is_empty()
    }

    /// Writes, for each of the `out.len()` windows of output row `ry`, the sum of the values
    /// under the chords (no clearing of `out` needed).
    fn chord_sums(&self, sc: &SumChords, ry: usize, out: &mut [f64]) {
        self.chord_sums_then(sc, ry, out, |v| v)
    }

    /// [`Prefix::chord_sums`], each sum `v` written as `finish(v)` (a mean's division, in the
    /// same pass).
    fn chord_sums_then(
        &self,
        sc: &SumChords,
        ry: usize,
        out: &mut [f64],
        finish: impl Fn(f64) -> f64 + Copy,
    ) {
        crate::simd::avx2(
            #[inline(always)]
            || self.chord_sums_in(sc, ry, out, finish),
        )
    }

    /// [`Prefix::chord_sums_then`]'s loops, inlined into [`crate::simd::avx2`]: 16 windows at
    /// a time held in registers across all chords, so that each chord costs its two prefix
    /// reads and not also a read and a write of the sums.
    #[inline(always)]
    fn chord_sums_in(
        &self,
        sc: &SumChords,
        ry: usize,
        out: &mut [f64],
        finish: impl Fn(f64) -> f64 + Copy,
    ) {
        let (w, base) = (out.len(), ry * (sc.bw + 1));
        let (rects, chords) = if self.rects.is_empty() {
            (None, &sc.all_p)
        } else {
            (Some(&self.rects[ry * w..(ry + 1) * w]), &sc.singles_p)
        };
        if chords.is_empty() {
            // The rectangles' sums alone, written as `r`, not `0 + r`: the same, as rectangle
            // sums start from +0 and are never -0.
            match rects {
                Some(r) => (out.iter_mut().zip(r)).for_each(|(o, r)| *o = finish(*r)),
                None => out.fill(finish(0.0)),
            }
            return;
        }
        // The one bounds check of the tiles' prefix reads: the farthest, of the last pixel.
        let reach = (chords.iter()).map(|&(s, l)| s + l).max().unwrap_or(0);
        assert!(base + w + reach <= self.hi.len());
        assert!(self.exact || self.lo.len() == self.hi.len());
        #[inline(always)]
        fn tile<const T: usize>(
            p: &Prefix,
            chords: &[(usize, usize)],
            at: usize,
            out: &mut [f64],
            rects: Option<&[f64]>,
            finish: impl Fn(f64) -> f64,
        ) {
            let mut acc = [0.0; T];
            if let Some(r) = rects {
                let r: &[f64; T] = r[..T].try_into().expect("a tile");
                for i in 0..T {
                    acc[i] += r[i];
                }
            }
            // Every chord's prefixes lie in the stripe's (checked once by the caller).
            for &(s, l) in chords {
                let (a, b) = (at + s, at + s + l);
                // SAFETY: see above: a < b and b + T <= hi.len() (and lo's, of hi's length).
                let (ha, hb) = unsafe { (window::<T>(&p.hi, a), window::<T>(&p.hi, b)) };
                if p.exact {
                    for i in 0..T {
                        acc[i] += hb[i] - ha[i];
                    }
                } else {
                    // SAFETY: as above.
                    let (la, lb) = unsafe { (window::<T>(&p.lo, a), window::<T>(&p.lo, b)) };
                    for i in 0..T {
                        acc[i] += (hb[i] - ha[i]) + (lb[i] - la[i]);
                    }
                }
            }
            for (o, v) in out[..T].iter_mut().zip(acc) {
                *o = finish(v);
            }
        }
        let at = |x: usize| rects.map(|r| &r[x..]);
        let mut x = 0;
        while x + 16 <= w {
            tile::<16>(self, chords, base + x, &mut out[x..], at(x), finish);
            x += 16;
        }
        while x < w {
            tile::<1>(self, chords, base + x, &mut out[x..], at(x), finish);
            x += 1;
        }
    }
}

/// Double-double prefix sums (TwoSum) along each row of `values` (`bw` per row) into the empty
/// `hi` and `lo`, `bw + 1` per row starting at 0, [`SCAN_ROWS`] rows at a time. Every entry is
/// written once, so the vectors are filled without zeroing them first.
fn scan_rows(values: &[f64], bw: usize, hi: &mut Vec<f64>, lo: &mut Vec<f64>) {
    use std::mem::MaybeUninit;
    #[inline(always)]
    fn rows<const K: usize>(
        src: &[f64],
        bw: usize,
        hi: &mut [MaybeUninit<f64>],
        lo: &mut [MaybeUninit<f64>],
    ) {
        let (mut h, mut l) = ([0.0f64; K], [0.0f64; K]);
        for k in 0..K {
            hi[k * (bw + 1)].write(0.0);
            lo[k * (bw + 1)].write(0.0);
        }
        for c in 0..bw {
            for k in 0..K {
                let v = src[k * bw + c];
                let s = h[k] + v;
                let bp = s - h[k];
                l[k] += (h[k] - (s - bp)) + (v - bp);
                h[k] = s;
                hi[k * (bw + 1) + c + 1].write(h[k]);
                lo[k * (bw + 1) + c + 1].write(l[k]);
            }
        }
    }
    let rows_n = values.len() / bw;
    let size = rows_n * (bw + 1);
    let ready = |v: &Vec<f64>| v.is_empty() && v.capacity() >= size;
    assert!(ready(hi) && ready(lo));
    let (hi_all, lo_all) = (
        &mut hi.spare_capacity_mut()[..size],
        &mut lo.spare_capacity_mut()[..size],
    );
    let mut r = 0;
    while r < rows_n {
        let k = if r + SCAN_ROWS <= rows_n {
            SCAN_ROWS
        } else {
            1
        };
        let (a, z) = (r * (bw + 1), (r + k) * (bw + 1));
        let src = &values[r * bw..(r + k) * bw];
        match k {
            SCAN_ROWS => rows::<SCAN_ROWS>(src, bw, &mut hi_all[a..z], &mut lo_all[a..z]),
            _ => rows::<1>(src, bw, &mut hi_all[a..z], &mut lo_all[a..z]),
        }
        r += k;
    }
    // SAFETY: the loop above wrote entries 0..=bw of every row, i.e. all `size` entries.
    unsafe {
        hi.set_len(size);
        lo.set_len(size);
    }
}

/// The sums of the chords' rectangles for every output pixel of the stripe, all rectangles
/// added, `nrows × width`: along each block row a direct sum of `len` values, then down the
/// rows a running sum (add the row entering, subtract the row leaving). Exact for integers
/// summing exactly; otherwise each sum is off by at most about `(len + nrows)·ε` of the
/// magnitudes it adds, as a sum in window order is by `len · rows · ε`.
fn rect_sums(v: &[f64], sc: &SumChords) -> Spare {
    let mut out = Spare::dirty(sc.nrows * sc.width);
    rect_sums_into(v, sc, &mut out, |v| v);
    out
}

/// [`rect_sums`] into `out` (`nrows × width`, every value written), each sum `v` written as
/// `finish(v)` (a mean's division, in the same pass).
fn rect_sums_into(v: &[f64], sc: &SumChords, out: &mut [f64], finish: impl Fn(f64) -> f64 + Copy) {
    let (bw, nrows, w) = (sc.bw, sc.nrows, sc.width);
    debug_assert_eq!(out.len(), nrows * w);
    // Every slot of the ring is written (a block row's sums) before it is read.
    let mut ring = Spare::dirty(0);
    let mut down = Spare::dirty(w);
    crate::simd::avx2(
        #[inline(always)]
        || {
            let last = sc.rects.len() - 1;
            for (i, &(row, rows, col, len)) in sc.rects.iter().enumerate() {
                // The sums along the last `rows + 1` block rows, row b in slot b % (rows + 1):
                // a few rows of the image, so they stay in the core's cache.
                let slots = rows + 1;
                if ring.len() < slots * w {
                    ring = Spare::dirty(slots * w);
                }
                // (A closure here would be compiled apart, without AVX2: a function inlines.)
                #[inline(always)]
                fn along(v: &[f64], from: usize, len: usize, slot: &mut [f64]) {
                    run_sums(&v[from..], len, slot);
                }
                let slot = |b: usize| (b % slots) * w..(b % slots + 1) * w;
                let from = |b: usize| (row + b) * bw + col;
                // Each rectangle's sums run down `down` (each row the last plus the row
                // entering minus the row leaving), added to the output rows; the last one's
                // total is finished as it is written.
                #[inline(always)]
                fn put(
                    out: &mut [f64],
                    down: &[f64],
                    first: bool,
                    last: bool,
                    finish: impl Fn(f64) -> f64,
                ) {
                    match (first, last) {
                        (true, false) => out.copy_from_slice(down),
                        (true, true) => {
                            (out.iter_mut().zip(down)).for_each(|(o, d)| *o = finish(*d))
                        }
                        (false, false) => add(out, down),
                        (false, true) => {
                            (out.iter_mut().zip(down)).for_each(|(o, d)| *o = finish(*o + d))
                        }
                    }
                }
                let (first, last) = (i == 0, i == last);
                // A row's sums of one cell (a line down the rows) are the block row itself.
                let one = len == 1;
                for b in 0..rows {
                    let r = if one {
                        &v[from(b)..][..w]
                    } else {
                        along(v, from(b), len, &mut ring[slot(b)]);
                        &ring[slot(b)]
                    };
                    if b == 0 {
                        down.copy_from_slice(r);
                    } else {
                        add(&mut down, r);
                    }
                }
                put(&mut out[..w], &down, first, last, finish);
                for ry in 1..nrows {
                    let (enter, leave) = (ry + rows - 1, ry - 1);
                    let (enter, leave) = if one {
                        (&v[from(enter)..][..w], &v[from(leave)..][..w])
                    } else {
                        along(v, from(enter), len, &mut ring[slot(enter)]);
                        (&ring[slot(enter)], &ring[slot(leave)])
                    };
                    for ((d, e), l) in down.iter_mut().zip(enter).zip(leave) {
                        *d += e - l;
                    }
                    put(&mut out[ry * w..(ry + 1) * w], &down, first, last, finish);
                }
            }
        },
    );
}

#[inline(always)]
fn add(dst: &mut [f64], src: &[f64]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d += s;
    }
}

/// The `T` values of `v` from `at`, unchecked.
///
/// # Safety
/// `at + T <= v.len()`.
#[inline(always)]
unsafe fn window<const T: usize>(v: &[f64], at: usize) -> &[f64; T] {
    debug_assert!(at + T <= v.len());
    // SAFETY: the caller's bound.
    unsafe { &*v.as_ptr().add(at).cast::<[f64; T]>() }
}

/// `dst[x] = Σ_{c < len} src[x + c]`, 16 pixels at a time held in registers across the run.
#[inline(always)]
fn run_sums(src: &[f64], len: usize, dst: &mut [f64]) {
    #[inline(always)]
    fn tile<const T: usize>(src: &[f64], len: usize, dst: &mut [f64]) {
        let mut acc = [0.0f64; T];
        let src = &src[..len + T - 1];
        for c in 0..len {
            // SAFETY: c + T <= len + T - 1 = src.len(), checked once above (a checked window
            // per step cost a third of a box sum's instructions).
            let v = unsafe { window::<T>(src, c) };
            for i in 0..T {
                acc[i] += v[i];
            }
        }
        dst[..T].copy_from_slice(&acc);
    }
    let mut x = 0;
    while x + 16 <= dst.len() {
        tile::<16>(&src[x..], len, &mut dst[x..]);
        x += 16;
    }
    while x < dst.len() {
        tile::<1>(&src[x..], len, &mut dst[x..]);
        x += 1;
    }
}

/// Whether `v` is an integer (from 2⁵² up, odd ones count as not: callers only need "small
/// integer, or refuse"). Adding and removing 2⁵² rounds to an integer with plain float ops that
/// vectorise, where `fract` is a libm call per value without SSE4.1.
#[inline]
pub(crate) fn is_integer(v: f64) -> bool {
    (v.abs() + BIG) - BIG == v.abs()
}

/// What one pass over a block's values finds.
struct Scan {
    /// Every value is finite.
    finite: bool,
    /// The largest finite magnitude, and the sum of all finite magnitudes.
    largest: f64,
    total: f64,
    /// Every finite value is an integer.
    integral: bool,
}

impl Scan {
    /// Whether `f` is all finite, and nothing else (magnitudes 0, not integral): the exponent
    /// bits of every value or-ed together in integer lanes, which vectorise.
    fn finite_only(f: &[f64]) -> Scan {
        const EXP: u64 = 0x7ff0_0000_0000_0000;
        let bad = crate::simd::avx2(
            #[inline(always)]
            || {
                f.iter()
                    .fold(0u64, |a, v| a | u64::from(v.to_bits() & EXP == EXP))
            },
        );
        Scan {
            finite: bad == 0,
            largest: 0.0,
            total: 0.0,
            integral: false,
        }
    }
}

/// [`Scan`] of `f`: with AVX2 by [`scan_avx2`], otherwise by [`scan_lanes`].
fn scan(f: &[f64]) -> Scan {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU was just checked to support AVX2.
        return unsafe { scan_avx2(f) };
    }
    scan_lanes(f)
}

/// 2⁵²: added to and taken from a magnitude below it, rounds it to an integer.
const BIG: f64 = 4_503_599_627_370_496.0;

/// [`Scan`] from its lanes: the largest magnitudes, their sums, the counts of non-finite
/// values, the sums of fractional parts.
fn scan_of(largest: &[f64], total: &[f64], bad: &[f64], frac: &[f64]) -> Scan {
    Scan {
        finite: bad.iter().all(|&n| n == 0.0),
        largest: largest.iter().fold(0.0f64, |m, &v| m.max(v)),
        total: total.iter().sum(),
        integral: frac.iter().all(|&d| d == 0.0),
    }
}

/// [`Scan`] of `f`, in eight independent lanes of f64 sums and maxima (no early exit, no
/// boolean lanes): a count of non-finite values and a sum of fractional parts stand for "all
/// finite" and "all integers". Portable; LLVM leaves it scalar.
fn scan_lanes(f: &[f64]) -> Scan {
    const L: usize = 8;
    let (mut largest, mut total) = ([0.0f64; L], [0.0f64; L]);
    let (mut bad, mut frac) = ([0.0f64; L], [0.0f64; L]);
    for (j, &v) in f.iter().enumerate() {
        let i = j % L;
        let a = v.abs();
        let ok = a < f64::INFINITY;
        let fa = if ok { a } else { 0.0 };
        largest[i] = if fa > largest[i] { fa } else { largest[i] };
        total[i] += fa;
        bad[i] += if ok { 0.0 } else { 1.0 };
        // Nonzero exactly when `is_integer` says no (a sum of such is nonzero too).
        frac[i] += (((fa + BIG) - BIG) - fa).abs();
    }
    scan_of(&largest, &total, &bad, &frac)
}

/// [`scan_lanes`] in AVX2 registers, the same steps on the same lanes (two vectors of four): a
/// pass over every block of float data, ~3.5× faster than the scalar code.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn scan_avx2(f: &[f64]) -> Scan {
    use std::arch::x86_64::*;
    let abs = _mm256_castsi256_pd(_mm256_set1_epi64x(i64::MAX));
    let (inf, one, big) = (
        _mm256_set1_pd(f64::INFINITY),
        _mm256_set1_pd(1.0),
        _mm256_set1_pd(BIG),
    );
    // Per half of the eight lanes: largest, total, bad, frac.
    let mut acc = [[_mm256_setzero_pd(); 4]; 2];
    let step = |acc: &mut [__m256d; 4], v: __m256d| {
        let a = _mm256_and_pd(v, abs);
        let ok = _mm256_cmp_pd::<_CMP_LT_OQ>(a, inf);
        let fa = _mm256_and_pd(a, ok);
        acc[0] = _mm256_max_pd(acc[0], fa);
        acc[1] = _mm256_add_pd(acc[1], fa);
        acc[2] = _mm256_add_pd(acc[2], _mm256_andnot_pd(ok, one));
        let r = _mm256_sub_pd(_mm256_sub_pd(_mm256_add_pd(fa, big), big), fa);
        acc[3] = _mm256_add_pd(acc[3], _mm256_and_pd(r, abs));
    };
    let chunks = f.chunks_exact(8);
    // Zeros are finite integers and add nothing.
    let mut rest = [0.0; 8];
    rest[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    for c in chunks.chain([&rest[..]]) {
        // SAFETY: every chunk holds 8 values, two loads of 4.
        let (lo, hi) = unsafe {
            (
                _mm256_loadu_pd(c.as_ptr()),
                _mm256_loadu_pd(c.as_ptr().add(4)),
            )
        };
        step(&mut acc[0], lo);
        step(&mut acc[1], hi);
    }
    let mut lanes = [[0.0; 8]; 4];
    for (k, lane) in lanes.iter_mut().enumerate() {
        // SAFETY: each half writes 4 of the 8 values.
        unsafe {
            _mm256_storeu_pd(lane.as_mut_ptr(), acc[0][k]);
            _mm256_storeu_pd(lane.as_mut_ptr().add(4), acc[1][k]);
        }
    }
    let [largest, total, bad, frac] = lanes;
    scan_of(&largest, &total, &bad, &frac)
}

/// Below this, sums of integers are exact in any order.
const EXACT: f64 = 9_007_199_254_740_992.0;

impl<'a> BlockStats<'a> {
    #[inline(always)]
    fn new(f: &'a [f64], items: &[(usize, &Item)], sc: &'a SumChords) -> BlockStats<'a> {
        let kinds: Vec<Kind> = items.iter().map(|(_, it)| it.kind).collect();
        let moments = kinds
            .iter()
            .any(|k| matches!(k, Kind::Sum | Kind::Mean | Kind::Var(_) | Kind::Std(_)));
        let second = kinds
            .iter()
            .any(|k| matches!(k, Kind::Var(_) | Kind::Std(_)));
        // Magnitudes and integrality choose how moments are summed: by prefixes (exact or
        // double-double) or, when rectangles cover the footprint and may round (sums and means
        // alone: `Prefix::new`'s `rounded`), by rectangles alone, which need neither. Without
        // them only finiteness is needed.
        let stats = if second || (moments && !sc.rects_cover()) {
            scan(f)
        } else {
            Scan::finite_only(f)
        };
        let huge = stats.largest > 1e150;
        // Shifting by a data value keeps sums of squares small (with huge values around, the
        // double-double prefix alone keeps small windows exact); sums and means alone need no
        // shift, and then read finite data as it is.
        let shift = if huge || !second {
            0.0
        } else {
            f.iter().copied().find(|v| v.is_finite()).unwrap_or(0.0)
        };
        let finite = |v: f64| if v.is_finite() { v - shift } else { 0.0 };
        let len = f.len() as f64;
        // Integers stay integers when shifted by one of them; bounds of the shifted sums.
        let spread = stats.largest + shift.abs();
        let exact1 = stats.integral && stats.total + len * shift.abs() < EXACT;
        let exact2 = stats.integral && len * spread * spread < EXACT;
        let count = |pred: fn(f64) -> bool| {
            let ones = f.iter().map(|&v| if pred(v) { 1.0 } else { 0.0 });
            Prefix::new(&Spare::of(f.len(), ones), sc, true, false)
        };
        let none = Prefix::none;
        // Beside a variance, `p1` sums shifted values without rounding freedom; alone, sums
        // and means read the values as they are (`Prefix::new`'s `rounded`). The two agree when
        // both are exact.
        let means = kinds.iter().any(|k| matches!(k, Kind::Sum | Kind::Mean));
        let exact_alone = stats.integral && stats.total < EXACT;
        // Sums of the finite values minus `shift` (the data itself when it is all finite and
        // unshifted).
        let first_moments = |shift: f64, exact: bool, rounded: bool| {
            if stats.finite && shift == 0.0 {
                Prefix::new(f, sc, exact, rounded)
            } else {
                let finite = |v: f64| if v.is_finite() { v - shift } else { 0.0 };
                let shifted = Spare::of(f.len(), f.iter().map(|&v| finite(v)));
                Prefix::new(&shifted, sc, exact, rounded)
            }
        };
        let own = (second && means && !(exact1 && exact_alone && !huge))
            .then(|| first_moments(0.0, exact_alone, true));
        // One sum or mean alone of finite values, by rectangles covering the footprint: summed
        // straight into its plane by `fill`, no sums kept here.
        let single = kinds.iter().filter(|k| matches!(k, Kind::Sum | Kind::Mean));
        let direct = !second && stats.finite && sc.rects_cover() && single.count() == 1;
        BlockStats {
            own,
            shift,
            direct,
            p1: if moments && !direct {
                // First moments alone round as a window-order sum would; beside a variance
                // they must stay as accurate as the squares (the variance is their difference),
                // and sums and means then have their own (`own`) unless both are exact.
                first_moments(shift, exact1, !second)
            } else {
                none()
            },
            p2: if second {
                let squares = f.iter().map(|&v| finite(v) * finite(v));
                Prefix::new(&Spare::of(f.len(), squares), sc, exact2, false)
            } else {
                none()
            },
            p0: if kinds.contains(&Kind::Count) {
                count(|v| v != 0.0)
            } else {
                none()
            },
            nan: if stats.finite {
                none()
            } else {
                count(f64::is_nan)
            },
            pinf: if stats.finite {
                none()
            } else {
                count(|v| v == f64::INFINITY)
            },
            ninf: if stats.finite {
                none()
            } else {
                count(|v| v == f64::NEG_INFINITY)
            },
            f,
            keys: OnceCell::new(),
            sc,
            huge,
        }
    }

    /// A `sum` or `mean` (`kind`) of `n` values from the sum of those values minus `shift`.
    fn sum_to(&self, kind: Kind, n: f64) -> impl Fn(f64) -> f64 + Copy {
        let shift = if self.own.is_some() { 0.0 } else { self.shift };
        let (shift, div) = (n * shift, if kind == Kind::Mean { n } else { 1.0 });
        move |v| (v + shift) / div
    }

    /// Whether sums and means may be made from a variance's window sums: the same values as
    /// their own sums give (no NaN or ∞ to mark, no per-window moments, no sums of their own).
    fn means_share(&self) -> bool {
        self.nan.is_empty() && !self.huge && self.own.is_none()
    }

    /// Per window of output row `ry` (`w` of them), the counts of +∞ and of -∞.
    fn infinities(&self, ry: usize, w: usize) -> (Vec<f64>, Vec<f64>) {
        let (mut pinf, mut ninf) = (vec![0.0; w], vec![0.0; w]);
        self.pinf.chord_sums(self.sc, ry, &mut pinf);
        self.ninf.chord_sums(self.sc, ry, &mut ninf);
        (pinf, ninf)
    }

    /// Fills `out` with item `kind` of every pixel of the stripe; a variance also keeps its
    /// window sums in `sums` when asked (for a mean beside it).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn fill(
        &self,
        kind: Kind,
        chords: &[Chord],
        n: f64,
        s: &Stripe,
        scratch: &mut order::Scratch<f64>,
        out: &mut [f64],
        mut sums: Option<&mut Vec<f64>>,
    ) {
        if let Some(v) = sums.as_deref_mut() {
            v.clear();
        }
        let w = s.width;
        match kind {
            Kind::Rank(rank) => {
                // Small windows: a selection network over whole rows, where `<` is `sort`'s
                // order on this block.
                let cells = order::cells(chords, s.bw);
                if let Some(sel) = Selection::new(rank, cells.len(), select::budget::<f64>()) {
                    if sel.run_f64(self.f, &cells, (s.bw, s.nrows, w), out, w) {
                        return;
                    }
                }
                let (keys, values) = self.keys.get_or_init(|| order::keys_of(self.f));
                let value = |k: usize| values[k];
                let (bw, nrows) = (s.bw, s.nrows);
                return order::ranks(
                    keys,
                    |k| k,
                    values.len(),
                    value,
                    rank,
                    chords,
                    bw,
                    nrows,
                    w,
                    out,
                );
            }
            Kind::Max | Kind::Min => {
                let max = kind == Kind::Max;
                let identity = if max {
                    f64::NEG_INFINITY
                } else {
                    f64::INFINITY
                };
                order::extremes(
                    self.f, s.bw, s.nrows, w, chords, max, identity, scratch, out,
                );
            }
            Kind::Sum | Kind::Mean if self.direct => {
                return rect_sums_into(self.f, self.sc, out, self.sum_to(kind, n));
            }
            _ => {}
        }
        let mut s1 = vec![0.0; w];
        let mut s2 = vec![0.0; w];
        let mut bad = vec![0.0; w];
        for ry in 0..s.nrows {
            let base = ry * s.bw;
            let row = &mut out[ry * w..(ry + 1) * w];
            // Windows holding a NaN (or, for sums, infinities of both signs) are NaN.
            if !self.nan.is_empty() {
                self.nan.chord_sums(self.sc, ry, &mut bad);
            }
            match kind {
                // Filled above; only NaN windows are left to mark.
                Kind::Max | Kind::Min => {}
                Kind::Count => self.p0.chord_sums(self.sc, ry, row),
                Kind::Rank(_) | Kind::AbsDev { .. } | Kind::Weighted { .. } | Kind::Linear(_) => {
                    unreachable!(
                        "ranks fill by histogram, deviations, weighted and linear sums apart"
                    )
                }
                Kind::Sum | Kind::Mean => {
                    (self.own.as_ref().unwrap_or(&self.p1)).chord_sums_then(
                        self.sc,
                        ry,
                        row,
                        self.sum_to(kind, n),
                    );
                    if !self.nan.is_empty() {
                        // Non-finite windows: what a sum in window order gives (the division
                        // keeps NaN and infinities as they are).
                        let (pinf, ninf) = self.infinities(ry, w);
                        for x in 0..w {
                            row[x] = match (bad[x] > 0.0, pinf[x] > 0.0, ninf[x] > 0.0) {
                                (true, _, _) | (_, true, true) => f64::NAN,
                                (_, true, _) => f64::INFINITY,
                                (_, _, true) => f64::NEG_INFINITY,
                                _ => row[x],
                            };
                        }
                    }
                }
                Kind::Var(ddof) | Kind::Std(ddof) => {
                    self.p1.chord_sums(self.sc, ry, &mut s1);
                    self.p2.chord_sums(self.sc, ry, &mut s2);
                    if let Some(v) = sums.as_deref_mut() {
                        v.extend_from_slice(&s1);
                    }
                    if !self.nan.is_empty() {
                        // Any non-finite value makes the variance NaN.
                        let (pinf, ninf) = self.infinities(ry, w);
                        for ((b, p), m) in bad.iter_mut().zip(&pinf).zip(&ninf) {
                            *b += p + m;
                        }
                    }
                    // max(n - ddof, 0), keeping a NaN ddof NaN as numpy does.
                    let dof = if n - ddof < 0.0 { 0.0 } else { n - ddof };
                    if self.huge {
                        for (x, o) in row.iter_mut().enumerate() {
                            let v: Vec<f64> = self
                                .sc
                                .all
                                .iter()
                                .flat_map(|&(st, l)| {
                                    self.f[base + x + st..base + x + st + l].iter().copied()
                                })
                                .collect();
                            let mean = v.iter().sum::<f64>() / n;
                            let var = v.iter().map(|a| (a - mean) * (a - mean)).sum::<f64>() / dof;
                            *o = if matches!(kind, Kind::Std(_)) {
                                var.sqrt()
                            } else {
                                var
                            };
                        }
                        continue;
                    }
                    for x in 0..w {
                        // Below the rounding error of the one-pass formula the deviation is
                        // zero (a flat window gives exactly 0, as numpy's two-pass formula).
                        let ss = s2[x] - s1[x] * s1[x] / n;
                        let ss = if ss <= (n + 2.0) * f64::EPSILON * s2[x] {
                            0.0
                        } else {
                            ss
                        };
                        let var = ss / dof;
                        row[x] = if matches!(kind, Kind::Std(_)) {
                            var.sqrt()
                        } else {
                            var
                        };
                    }
                }
            }
            if !self.nan.is_empty() && kind != Kind::Count {
                for (o, b) in row.iter_mut().zip(&bad) {
                    if *b > 0.0 {
                        *o = f64::NAN;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_agrees_with_plain_tests() {
        let specials = [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.5,
            -3.0,
            1e300,
            5e-324,
        ];
        for n in [0usize, 1, 7, 8, 9, 30] {
            for special in specials {
                for at in [0, n / 2, n.saturating_sub(1)] {
                    let mut f: Vec<f64> = (0..n).map(|i| (i as f64 * 3.0) - 11.0).collect();
                    if n > 0 {
                        f[at] = special;
                    }
                    let s = scan(&f);
                    // The vector and portable scans agree to the bit (same lanes, same order).
                    let p = scan_lanes(&f);
                    assert_eq!(
                        (s.finite, s.integral, s.largest.to_bits(), s.total.to_bits()),
                        (p.finite, p.integral, p.largest.to_bits(), p.total.to_bits())
                    );
                    let finite: Vec<f64> = f.iter().copied().filter(|v| v.is_finite()).collect();
                    assert_eq!(s.finite, finite.len() == n, "{f:?}");
                    assert_eq!(Scan::finite_only(&f).finite, s.finite, "{f:?}");
                    assert_eq!(s.integral, finite.iter().all(|&v| is_integer(v)), "{f:?}");
                    let largest = finite.iter().fold(0.0f64, |m, v| m.max(v.abs()));
                    assert_eq!(s.largest, largest, "{f:?}");
                    let total: f64 = finite.iter().map(|v| v.abs()).sum();
                    assert!((s.total - total).abs() <= 1e-12 * total, "{f:?}");
                }
            }
        }
    }

    #[test]
    fn rectangle_sums_finish_as_they_are_written() {
        // Two rectangles (an L of 3 rows × 4 and 4 rows × 2 under it), widths around the tile.
        let (bw, nrows) = (40, 6);
        let f: Vec<f64> = (0..bw * (nrows + 7))
            .map(|i| ((i * 37) % 101) as f64 * 0.37 - 11.0)
            .collect();
        for width in [1, 16, 17, 30] {
            let sc = SumChords {
                all: Vec::new(),
                all_p: Vec::new(),
                singles_p: Vec::new(),
                rects: vec![(0, 3, 0, 4), (3, 4, 1, 2)],
                bw,
                nrows,
                width,
            };
            let plain = rect_sums(&f, &sc);
            let mut finished = vec![f64::NAN; nrows * width];
            rect_sums_into(&f, &sc, &mut finished, |v| v / 7.0);
            for (i, (p, m)) in plain.iter().zip(&finished).enumerate() {
                let (ry, x) = (i / width, i % width);
                let cells = (sc.rects.iter()).flat_map(|&(row, rows, col, len)| {
                    (0..rows)
                        .flat_map(move |b| (0..len).map(move |c| (row + ry + b) * bw + col + x + c))
                });
                let want: f64 = cells.map(|j| f[j]).sum();
                assert!(
                    (p - want).abs() <= 1e-12 * 200.0,
                    "width {width}, {ry},{x}: {p} vs {want}"
                );
                assert_eq!(m.to_bits(), (p / 7.0).to_bits(), "width {width}, {ry},{x}");
            }
        }
    }

    #[test]
    fn deviation_tiles_match_a_plain_sum() {
        // Widths around the 16-pixel tile, a two-chord footprint, NaN and infinities.
        let bw = 40;
        let f: Vec<f64> = (0..bw * 3)
            .map(|i| match i {
                50 => f64::NAN,
                77 => f64::INFINITY,
                _ => ((i * 37) % 11) as f64 * 0.5 - 2.0,
            })
            .collect();
        let chords = [(0, 3), (bw + 1, 2)];
        for w in [1, 15, 16, 17, 33] {
            let center: Vec<f64> = (0..w).map(|x| x as f64 * 0.25).collect();
            let mut out = vec![0.0; w];
            abs_deviations(&f, 2, &chords, &center, &mut out);
            for x in 0..w {
                let cells = chords.iter().flat_map(|&(s, l)| s..s + l);
                let want = cells.fold(-0.0, |a, c| a + (f[2 + x + c] - center[x]).abs());
                assert_eq!(out[x].to_bits(), want.to_bits(), "w {w}, x {x}");
            }
        }
    }
}
