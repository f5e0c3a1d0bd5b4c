//! The window loop: visits every output element of an array (of planes of rows: see
//! [`crate::outer`] for arrays of more than three axes) in stripes of rows and
//! hands each stripe, with its padded input block, to a stripe function (or gathers each window in
//! footprint order for a per-pixel function).
//!
//! Rows come from a [`Source`] and go to a [`Sink`], never from whole arrays: a stripe needs only
//! its own rows plus the halo, which it copies into a padded block (f64, or the input's own type
//! for native paths) with the boundary mode applied, so that gathering a window is a list of
//! fixed offsets with no bounds checks, and memory stays bounded by the stripe size. An in-memory
//! array is one source and one sink; a streaming decoder or encoder is another.

use crate::boundary::Mode;
use crate::dtype::Element;
use crate::footprint::{unflatten_into, Resolved, MAX_DIMS};
use crate::outer::Outer;
use crate::spare::Blocks;
use rayon::prelude::*;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};

/// Output rows per stripe. Fixed, so that results never depend on the thread count or on how
/// the array is cut into bands or chunks (the planner's sums run per stripe): a band of rows
/// that starts on a multiple of it computes exactly the rows the whole array would.
pub const STRIPE_ROWS: usize = 64;

/// Output columns per tile: a stripe is computed a tile at a time, on a grid fixed to the whole
/// array's columns, for the same reason (a chunk of columns starting on a multiple of it
/// computes exactly the columns the whole array would).
pub const TILE_COLS: usize = 512;

/// The grid each axis (z, y, x) is computed on: planes, stripes of rows, tiles of columns.
pub const UNITS: [usize; 3] = [1, STRIPE_ROWS, TILE_COLS];

/// [`UNITS`] for each axis of an array of `ndim` axes: every axis before the last two is one of
/// planes, computed a position at a time.
pub fn units(ndim: usize) -> Vec<usize> {
    (0..ndim).map(|a| UNITS[3 - (ndim - a).min(3)]).collect()
}

/// Where an array lies along one axis of a larger one, for filtering a band or chunk of an array
/// too large to filter whole (row streaming, Dask chunks): the inputs hold the positions `held`
/// of an axis of `len`, and only the positions `out` are computed. The result equals those
/// positions of the whole array's, bit for bit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// The whole axis's length.
    pub len: usize,
    /// The positions the inputs hold, one range after another as they are stored, in any order
    /// (a chunk's wrapped halo may come first), overlapping or not (a position held twice is
    /// read where it is first). [`crate::Kernel::needed`] says which a part needs.
    pub held: Vec<Range<usize>>,
    /// The positions to compute: whole units of [`UNITS`] for the axis (from a multiple of
    /// the unit, to one or to the axis's end), within one held range; or empty.
    pub out: Range<usize>,
}

impl Span {
    /// All of an axis of `len`.
    pub fn whole(len: usize) -> Span {
        Span {
            len,
            held: std::iter::once(0..len).collect(),
            out: 0..len,
        }
    }

    /// How many positions the inputs hold.
    pub fn held_len(&self) -> usize {
        self.held.iter().map(|r| r.len()).sum()
    }

    /// Where position `p` is stored, of storage holding `held` (empty: the whole axis in
    /// order); a part is checked to hold every position its stripes read before it runs.
    pub(crate) fn stored_at(held: &[Range<usize>], p: usize) -> usize {
        match held {
            [] => p,
            held => Span::index(held, p).expect("a part holds every position its stripes read"),
        }
    }

    /// Where position `p` sits among the held positions (`None`: not held).
    pub fn index(held: &[Range<usize>], p: usize) -> Option<usize> {
        let mut before = 0;
        for r in held {
            if r.contains(&p) {
                return Some(before + p - r.start);
            }
            before += r.len();
        }
        None
    }
}

/// Sorted, merged ranges covering `ranges`.
pub(crate) fn merge(mut ranges: Vec<Range<usize>>) -> Vec<Range<usize>> {
    ranges.retain(|r| !r.is_empty());
    ranges.sort_by_key(|r| r.start);
    let mut out: Vec<Range<usize>> = Vec::new();
    for r in ranges {
        match out.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

/// The positions (of an axis of `len`) that computing positions `out` reads, through a halo of
/// `lo..=hi` and the boundary mode of the axis.
pub(crate) fn positions_read(
    out: &[Range<usize>],
    (lo, hi): (isize, isize),
    mode: Mode,
    len: usize,
) -> Vec<Range<usize>> {
    let mut ranges = Vec::new();
    for r in out.iter().filter(|r| !r.is_empty()) {
        let (a, b) = (r.start as isize + lo, r.end as isize + hi);
        ranges.push(a.max(0) as usize..b.min(len as isize).max(0) as usize);
        // Beyond the edges: each position the mode maps to (at most the halo's).
        for y in (a..b.min(0)).chain(a.max(len as isize)..b) {
            if let Some(m) = mode.map(y, len) {
                ranges.push(m..m + 1);
            }
        }
    }
    merge(ranges)
}

/// `ranges` widened to whole units of `unit` (on an axis of `len`).
pub(crate) fn whole_units(ranges: &[Range<usize>], unit: usize, len: usize) -> Vec<Range<usize>> {
    merge(
        ranges
            .iter()
            .map(|r| r.start / unit * unit..r.end.div_ceil(unit).saturating_mul(unit).min(len))
            .collect(),
    )
}

/// How far a pass reads around its output position: the lowest and highest offset per axis
/// (z, y, x), always including 0 (so `c` is in every block).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Halo {
    pub lo: [isize; 3],
    pub hi: [isize; 3],
}

impl Halo {
    /// The halo that covers every offset of `offsets`, and 0.
    pub fn of(offsets: &[[isize; 3]]) -> Halo {
        offsets
            .iter()
            .fold(Halo::default(), |h, o| h.union(Halo { lo: *o, hi: *o }))
    }

    /// The halo covering both.
    pub fn union(self, other: Halo) -> Halo {
        Halo {
            lo: std::array::from_fn(|a| self.lo[a].min(other.lo[a])),
            hi: std::array::from_fn(|a| self.hi[a].max(other.hi[a])),
        }
    }
}

/// The geometry of one filter application, in 3-D: leading axes of size 1 for 1-D and 2-D, and
/// the first N − 2 axes folded into the plane axis for N > 3 ([`Outer`]).
#[derive(Debug, Clone)]
pub struct Geometry {
    /// Array shape (planes, height, width).
    pub shape: [usize; 3],
    /// The array's own number of axes.
    pub ndim: usize,
    /// Per window element, its offset (plane, y, x) from the output position, origin included;
    /// along the plane axis a slot of [`Outer`] when there is one.
    pub offsets: Vec<[isize; 3]>,
    /// The rows and columns around the output a stripe's block holds.
    pub halo: Halo,
    /// The axes folded into the plane axis, for arrays of more than three.
    pub outer: Option<Outer>,
    /// The columns the sources hold (as [`Span::held`]; empty: all) and the columns computed
    /// (whole tiles: see [`Span::out`]).
    pub held_x: Vec<Range<usize>>,
    pub out_x: Range<usize>,
}

impl Geometry {
    /// The geometry of footprint `fp` over an array of `shape` (any number of axes, as `fp`),
    /// `origin` per axis (already validated against the footprint), reaching `points` too
    /// (`at()` offsets, along the last three axes); `modes` per axis.
    pub fn new(
        shape: &[usize],
        fp: &Resolved,
        origin: &[isize],
        points: &[[isize; 3]],
        modes: &[Mode],
    ) -> Geometry {
        let nd = shape.len();
        // Per window element its offset along each axis, `nd` values each (one allocation:
        // a run's setup is part of every filter call).
        let mut offsets = Vec::with_capacity(fp.cells.len() * nd);
        let mut cell = vec![0; nd];
        for &c in &fp.cells {
            unflatten_into(c, &fp.shape, &mut cell);
            offsets
                .extend((0..nd).map(|a| cell[a] as isize - (fp.shape[a] / 2) as isize - origin[a]));
        }
        let (outer, offsets) = if nd > 3 {
            let (outer, folded) = Outer::fold(&shape[..nd - 2], &modes[..nd - 2], &offsets, points);
            (Some(outer), folded)
        } else {
            let pad =
                |v: &[isize]| std::array::from_fn(|a| if a < 3 - nd { 0 } else { v[a + nd - 3] });
            (None, offsets.chunks_exact(nd).map(pad).collect())
        };
        let shape3 = fold3(shape);
        let mut halo = Halo::of(&offsets).union(Halo::of(points));
        if let Some(o) = &outer {
            (halo.lo[0], halo.hi[0]) = o.halo();
        }
        Geometry {
            shape: shape3,
            ndim: nd,
            halo,
            offsets,
            outer,
            held_x: Vec::new(),
            out_x: 0..shape3[2],
        }
    }

    /// Per array axis, the lowest and highest offset the window reaches (0 included).
    pub fn reach(&self) -> Vec<(isize, isize)> {
        let Halo { lo, hi } = self.halo;
        match &self.outer {
            None => (3 - self.ndim..3).map(|a| (lo[a], hi[a])).collect(),
            Some(o) => {
                let z = o.lens.len() - 1;
                let along = |a: usize| {
                    let offs = o.prefixes.iter().map(|p| p[a]);
                    offs.fold((0, 0), |(l, h), v| (v.min(l), v.max(h)))
                };
                let mut r: Vec<(isize, isize)> = (0..z).map(along).collect();
                r.push((o.zlo, o.zlo + o.zspan as isize - 1));
                r.extend((1..3).map(|a| (lo[a], hi[a])));
                r
            }
        }
    }

    /// Index in footprint order of the element at offset 0, if the footprint has it.
    pub fn center_index(&self) -> Option<usize> {
        self.offsets.iter().position(|o| *o == [0, 0, 0])
    }

    /// Each element's offset along array axis `a`, as f64 (`d(j)`).
    pub fn axis_offsets(&self, a: usize) -> Vec<f64> {
        let from_last = self.ndim - a;
        match &self.outer {
            Some(o) if from_last > 3 => (self.offsets.iter())
                .map(|f| o.offset(f[0], a) as f64)
                .collect(),
            _ => self.offset_table(from_last),
        }
    }

    /// The offset tables (x, y, z) as f64, for `dx`, `dy`, `dz`.
    pub fn offset_table(&self, axis_from_last: usize) -> Vec<f64> {
        let along = |o: &[isize; 3]| match (&self.outer, axis_from_last) {
            (Some(outer), 3) => outer.z_offset(o[0]),
            _ => o[3 - axis_from_last],
        };
        self.offsets.iter().map(|o| along(o) as f64).collect()
    }
}

/// The window loop's shape (planes, rows, columns) of an array of `shape`: axes of 1 in front
/// of fewer than three, the first N − 2 of N > 3 as one (C order: the same data).
pub fn fold3(shape: &[usize]) -> [usize; 3] {
    let nd = shape.len();
    let mut s3 = [1usize; 3];
    if nd > 3 {
        s3 = [
            shape[..nd - 2].iter().product(),
            shape[nd - 2],
            shape[nd - 1],
        ];
    } else {
        s3[3 - nd..].copy_from_slice(shape);
    }
    s3
}

/// A function evaluated once per output element, on a gathered window.
pub trait PixelFn: Sync {
    type State;
    fn state(&self) -> Self::State;
    /// `buf` holds the window values in footprint order, followed by `c`. `pos` is (x, y, z)
    /// and the plane ([`Stripe::plane`]).
    fn eval(&self, state: &mut Self::State, buf: &[f64], pos: [usize; 4]) -> f64;
}

/// One stripe of output rows and the padded input blocks they read.
pub struct Stripe<'a, B = f64> {
    /// Per input, its padded block, `bd × bh × bw`, starting at offset `lo` from the stripe's
    /// first row (every input has the pass's geometry).
    pub blocks: &'a [Vec<B>],
    /// Window element j of output pixel (row r, column x) is `block[r * bw + x + offs[j]]`.
    pub offs: &'a [usize],
    /// Likewise for `c`.
    pub coff: usize,
    pub bw: usize,
    pub bh: usize,
    pub nrows: usize,
    pub width: usize,
    /// Where output row `r` starts in the stripe function's `out`: at `r * out_stride` (its
    /// `width` pixels, [`StripeFn::outputs`] values each, one after another).
    pub out_stride: usize,
    /// First output column and row of the stripe, and its position along the third-last axis
    /// (in the whole array).
    pub x0: usize,
    pub y0: usize,
    pub z: usize,
    /// The plane of the window loop's array (of the first N − 2 axes together when N > 3).
    pub plane: usize,
}

impl<B> Stripe<'_, B> {
    /// The padded block of input `i` (0: the main input, whose window is `w`).
    #[inline]
    pub fn input(&self, i: usize) -> &[B] {
        &self.blocks[i]
    }
}

/// Computes a stripe of output rows from its padded blocks of `B`.
pub trait StripeFn<B = f64>: Sync {
    type State;
    fn state(&self) -> Self::State;
    /// Values per output pixel, stored next to each other.
    fn outputs(&self) -> usize {
        1
    }
    /// Whether its values may depend on where a block starts and ends (sums that round, or
    /// choices made per block): then stripes are computed in tiles of [`TILE_COLS`] on the
    /// whole array's grid, so that a part of the array computes exactly the whole array's
    /// values. A function of each window alone runs over whole rows (fewer, longer loops).
    fn tiled(&self) -> bool {
        true
    }
    /// Computes the stripe `s` into `out` (rows [`Stripe::out_stride`] apart).
    fn stripe<O: Element>(&self, state: &mut Self::State, s: &Stripe<B>, out: &mut [O]);
}

/// Adapts a per-pixel function: gathers each window into a buffer, then calls it.
pub struct Gather<F>(pub F);

impl<F: PixelFn> StripeFn for Gather<F> {
    type State = (Vec<f64>, F::State);

    fn tiled(&self) -> bool {
        false
    }

    fn state(&self) -> Self::State {
        (Vec::new(), self.0.state())
    }

    fn stripe<O: Element>(&self, (buf, state): &mut Self::State, s: &Stripe, out: &mut [O]) {
        let n = s.offs.len();
        let block = s.input(0);
        buf.resize(n + 1, 0.0);
        for ry in 0..s.nrows {
            for x in 0..s.width {
                let base = ry * s.bw + x;
                for (b, &o) in buf.iter_mut().zip(s.offs) {
                    *b = block[base + o];
                }
                buf[n] = block[base + s.coff];
                out[ry * s.out_stride + x] =
                    O::from_f64(self.0.eval(state, buf, [s.x0 + x, s.y0 + ry, s.z, s.plane]));
            }
        }
    }
}

/// Where a pass reads its input rows: row `y` of plane `z`, the columns [`Geometry::held_x`] says.
/// The window loop asks only for the rows a stripe and its halo cover, stripe by stripe.
pub trait Source<T>: Sync {
    /// The row's values, as stored.
    fn row(&self, z: usize, y: usize) -> Row<'_, T>;
    /// How far apart a row's values lie: 1, or the channel count of pixel-interleaved
    /// channels read where they lie.
    fn step(&self) -> usize {
        1
    }
}

/// One row of a source as stored, its values [`Source::step`] apart.
pub enum Row<'a, T> {
    /// In one piece.
    One(&'a [T]),
    /// In pieces along x.
    Pieces(RowInPieces<'a, T>),
}

/// Row `index` of each of `pieces` (each piece's rows, as [`Array::data`] holds them), the
/// pieces along x one after another in storage: `cuts` says where each begins, and ends last.
pub struct RowInPieces<'a, T> {
    pub pieces: &'a [Vec<&'a [T]>],
    pub cuts: &'a [usize],
    pub index: usize,
}

impl<'a, T: Copy> RowInPieces<'a, T> {
    /// The stored columns from `x` on that one piece holds: their values, and how many.
    #[inline]
    fn from(&self, x: usize, st: usize) -> (&'a [T], usize) {
        let k = self.cuts.partition_point(|&c| c <= x) - 1;
        let from = (x - self.cuts[k]) * st;
        (&self.pieces[k][self.index][from..], self.cuts[k + 1] - x)
    }
}

/// Where a pass writes its output rows.
pub trait Sink<O> {
    /// Calls `f(state, z, y0, rows)` for every stripe of at most `stripe_rows` output rows (one
    /// plane `z`, from row `y0`), with per-worker state from `init`; `rows` is where the
    /// stripe's output goes, `width` pixels per row of the pass's outputs each.
    fn stripes<S, I, F>(&mut self, stripe_rows: usize, init: I, f: F)
    where
        I: Fn() -> S + Sync + Send,
        F: Fn(&mut S, usize, usize, &mut [O]) + Sync + Send;
}

/// The axes folded into the window loop's plane axis (`z` alone for up to three axes, the first
/// N − 2 of N > 3) as a part of a larger array holds them: per axis its whole length, the
/// positions held (as [`Span::held`]; empty: all) and those computed. Planes are numbered as
/// in the whole array (C order over these axes); the part stores and computes some of them.
#[derive(Debug, Clone)]
pub struct Planes<'a> {
    pub lens: Vec<usize>,
    pub held: Vec<&'a [Range<usize>]>,
    pub out: Vec<Range<usize>>,
}

impl Planes<'_> {
    /// How many planes the part computes.
    pub fn computed(&self) -> usize {
        self.out.iter().map(|r| r.len()).product()
    }

    /// Where (whole-array) plane `plane` is stored in the part.
    pub fn stored(&self, plane: usize) -> usize {
        if let [held] = self.held[..] {
            return Span::stored_at(held, plane);
        }
        if self.held.iter().all(|h| h.is_empty()) {
            return plane;
        }
        let mut at = plane;
        let mut index = 0;
        let mut stride = 1;
        for (&n, held) in self.lens.iter().zip(&self.held).rev() {
            let (p, rest) = (at % n, at / n);
            at = rest;
            let kept = match held {
                [] => n,
                held => held.iter().map(|r| r.len()).sum(),
            };
            index += Span::stored_at(held, p) * stride;
            stride *= kept;
        }
        index
    }

    /// Where (whole-array) plane `plane` is stored along each folded axis, into `at`.
    fn stored_each(&self, plane: usize, at: &mut [usize]) {
        let mut rest = plane;
        for ((&n, held), a) in self.lens.iter().zip(&self.held).zip(at).rev() {
            *a = Span::stored_at(held, rest % n);
            rest /= n;
        }
    }

    /// The (whole-array) plane that the part's `i`-th computed plane is.
    pub fn computed_plane(&self, i: usize) -> usize {
        let (mut at, mut plane, mut stride) = (i, 0, 1);
        for (&n, out) in self.lens.iter().zip(&self.out).rev() {
            let (k, rest) = (at % out.len().max(1), at / out.len().max(1));
            at = rest;
            plane += (out.start + k) * stride;
            stride *= n;
        }
        plane
    }
}

/// A C-contiguous array in memory, of shape `dims` (3-D): all of an array, or of a larger one
/// the planes `planes` and rows `held_y` (as [`Span::held`]; empty: all) hold, and some of its
/// columns; in one piece, or in pieces on a grid (a chunk and its neighbours' edges, read where
/// they lie instead of copied into one array).
pub struct Array<'a, T> {
    pub data: Data<'a, T>,
    /// How far apart a row's values lie (see [`Source::step`]).
    pub step: usize,
    pub dims: [usize; 3],
    pub planes: &'a Planes<'a>,
    pub held_y: &'a [Range<usize>],
}

/// An [`Array`]'s values.
pub enum Data<'a, T> {
    /// In C order: value `i` at `data[i * step]`.
    One(&'a [T]),
    /// In pieces on a grid: per piece (in C order over the grid) its rows in C order, and
    /// per axis (those folded into planes, then rows and columns) where each piece along it
    /// begins in storage, and the stored length last.
    Pieces(&'a [Vec<&'a [T]>], &'a [Vec<usize>]),
}

impl<T: Sync> Source<T> for Array<'_, T> {
    #[inline]
    fn row(&self, z: usize, y: usize) -> Row<'_, T> {
        let Data::One(one) = self.data else {
            return self.row_in_pieces(z, y);
        };
        let [_, h, w] = self.dims;
        let i = self.planes.stored(z) * h + Span::stored_at(self.held_y, y);
        let st = self.step;
        Row::One(&one[i * w * st..][..(w * st).saturating_sub(st - 1)])
    }

    fn step(&self) -> usize {
        self.step
    }
}

impl<T> Array<'_, T> {
    /// [`Source::row`] of an array in pieces (apart, so that the one-piece path stays lean).
    #[inline(never)]
    fn row_in_pieces(&self, z: usize, y: usize) -> Row<'_, T> {
        let Data::Pieces(pieces, cuts) = self.data else {
            unreachable!("an array in one piece");
        };
        // The piece holding the row, and the row's place in it, from the stored position along
        // each axis.
        let rows = cuts.len() - 1;
        let mut at = [0; MAX_DIMS];
        self.planes.stored_each(z, &mut at[..rows - 1]);
        at[rows - 1] = Span::stored_at(self.held_y, y);
        let (mut g, mut index) = (0, 0);
        for (cuts, &s) in cuts.iter().zip(&at[..rows]) {
            let k = cuts.partition_point(|&c| c <= s) - 1;
            g = g * (cuts.len() - 1) + k;
            index = index * (cuts[k + 1] - cuts[k]) + s - cuts[k];
        }
        let nx = cuts[rows].len() - 1;
        Row::Pieces(RowInPieces {
            pieces: &pieces[g * nx..(g + 1) * nx],
            cuts: &cuts[rows],
            index,
        })
    }
}

/// A C-contiguous output array in memory, `channels` values per pixel, of shape `shape`: the
/// planes `planes` computes, from row `y0` of the whole array: stripes run in parallel on
/// rayon's pool.
pub struct ArrayMut<'a, O> {
    pub data: &'a mut [O],
    pub shape: [usize; 3],
    pub channels: usize,
    pub planes: &'a Planes<'a>,
    pub y0: usize,
}

impl<O: Send> Sink<O> for ArrayMut<'_, O> {
    fn stripes<S, I, F>(&mut self, stripe_rows: usize, init: I, f: F)
    where
        I: Fn() -> S + Sync + Send,
        F: Fn(&mut S, usize, usize, &mut [O]) + Sync + Send,
    {
        let [_, h, w] = self.shape;
        let (w, y0, planes) = (w * self.channels, self.y0, self.planes);
        if self.data.is_empty() {
            // Nothing to compute (a band's stage that nothing reads).
            return;
        }
        self.data
            .par_chunks_mut(h * w)
            .enumerate()
            .for_each(|(i, plane)| {
                let z = planes.computed_plane(i);
                plane
                    .par_chunks_mut(stripe_rows * w)
                    .enumerate()
                    .for_each_init(&init, |state, (stripe, rows)| {
                        f(state, z, y0 + stripe * stripe_rows, rows)
                    });
            });
    }
}

/// A sink whose stripes not yet started are skipped once `stop` is set (the run is then
/// discarded by whoever set it).
pub struct Stoppable<'a, K> {
    pub sink: &'a mut K,
    pub stop: &'a AtomicBool,
}

impl<O, K: Sink<O>> Sink<O> for Stoppable<'_, K> {
    fn stripes<S, I, F>(&mut self, stripe_rows: usize, init: I, f: F)
    where
        I: Fn() -> S + Sync + Send,
        F: Fn(&mut S, usize, usize, &mut [O]) + Sync + Send,
    {
        let stop = self.stop;
        self.sink.stripes(stripe_rows, init, |state, z, y0, rows| {
            if !stop.load(Ordering::Relaxed) {
                f(state, z, y0, rows)
            }
        })
    }
}

/// Applies `f` to every stripe of `sources` (each of `geo.shape`) read as f64, writing `sink`.
pub fn run<T: Element, O: Element, F: StripeFn>(
    sources: &[&dyn Source<T>],
    geo: &Geometry,
    modes: [Mode; 3],
    cval: f64,
    f: &F,
    sink: &mut impl Sink<O>,
) {
    run_in(sources, geo, modes, cval, T::to_f64, f, sink)
}

/// Like [`run`], with blocks of `B` made by `conv` (the constant mode pads with `cval`).
pub fn run_in<T: Element, B: Copy + Send + Sync + 'static, O: Element, F: StripeFn<B>>(
    sources: &[&dyn Source<T>],
    geo: &Geometry,
    modes: [Mode; 3],
    cval: B,
    conv: impl Fn(T) -> B + Sync,
    f: &F,
    sink: &mut impl Sink<O>,
) {
    let [d, h, w] = geo.shape;
    let out_x = geo.out_x.clone();
    if d * h * out_x.len() == 0 {
        return;
    }
    let Halo { lo, hi } = geo.halo;
    // 64 rows keep the padding overhead small for large footprints.
    let rows = h.clamp(1, STRIPE_ROWS);
    let held = |x: usize| Span::stored_at(&geo.held_x, x);
    // The tiles of the computed columns, each with the source column every block column reads
    // (None: the constant).
    let tile = if f.tiled() { TILE_COLS } else { w.max(1) };
    let tiles: Vec<Tile> = (out_x.start / tile..out_x.end.div_ceil(tile))
        .map(|t| {
            let x0 = (t * tile).max(out_x.start);
            let width = ((t + 1) * tile).min(out_x.end) - x0;
            let bw = (width as isize + hi[2] - lo[2]) as usize;
            let mut xmap: Vec<Option<usize>> = (0..bw)
                .map(|cx| modes[2].map(x0 as isize + lo[2] + cx as isize, w).map(held))
                .collect();
            // Block rows a multiple of 2 KiB apart fall in a few sets of the L1 cache, so a
            // window down many rows evicts its own lines (a 23-row column of a 512-wide f64
            // image ran at half speed). A cache line more of the last column spreads them; no
            // window reads it, and as values the block holds already it leaves the block's
            // extremes, integrality and finiteness as they were.
            let size = std::mem::size_of::<B>().max(1);
            if bw > 0 && (bw * size) % 2048 == 0 {
                xmap.extend(std::iter::repeat_n(xmap[bw - 1], 64usize.div_ceil(size)));
            }
            Tile {
                x0,
                width,
                first: held(x0),
                xmap,
            }
        })
        .collect();
    let wo = out_x.len();
    sink.stripes(
        rows,
        || (Blocks::<B>::take(), Vec::new(), f.state()),
        |(Blocks(blocks), offs, state), z, y0, out_rows| {
            let nrows = out_rows.len() / (wo * f.outputs());
            let bd = (hi[0] - lo[0] + 1) as usize;
            let bh = nrows + (hi[1] - lo[1]) as usize;
            for tile in &tiles {
                let bw = tile.xmap.len();
                let dims = [bd, bh, bw];
                blocks.resize_with(sources.len(), Vec::new);
                for (block, source) in blocks.iter_mut().zip(sources) {
                    fill_block(
                        block,
                        *source,
                        geo,
                        modes,
                        (cval, &conv),
                        tile,
                        [z, y0],
                        dims,
                    );
                }
                let lin = |o: &[isize; 3]| {
                    (o[0] - lo[0]) as usize * bh * bw
                        + (o[1] - lo[1]) as usize * bw
                        + (o[2] - lo[2]) as usize
                };
                offs.clear();
                offs.extend(geo.offsets.iter().map(lin));
                let s = Stripe {
                    blocks,
                    offs,
                    coff: lin(&[0, 0, 0]),
                    bw,
                    bh,
                    nrows,
                    width: tile.width,
                    out_stride: wo * f.outputs(),
                    x0: tile.x0,
                    y0,
                    z: geo
                        .outer
                        .as_ref()
                        .map_or(z, |o| z % o.lens[o.lens.len() - 1]),
                    plane: z,
                };
                // The tile's columns of the stripe's rows.
                let at = (tile.x0 - out_x.start) * f.outputs();
                f.stripe(state, &s, &mut out_rows[at..]);
            }
        },
    );
}

/// Some columns of a stripe, computed together.
struct Tile {
    /// The first column (of the whole array) and how many.
    x0: usize,
    width: usize,
    /// Where column `x0` sits in the sources' rows.
    first: usize,
    /// Per block column, the column of the sources' rows it reads (None: the constant).
    xmap: Vec<Option<usize>>,
}

/// `dst[i] = conv(src[i * step])`. With `N == step` a pixel's channels go at a time, whole (a
/// loop of a known step vectorises; a stepping iterator compiles to a slow loop); `N = 0`: any
/// step, value by value.
#[inline(always)]
fn every<const N: usize, T: Copy, B>(dst: &mut [B], src: &[T], step: usize, conv: impl Fn(T) -> B) {
    if N == 0 {
        for (i, d) in dst.iter_mut().enumerate() {
            *d = conv(src[i * step]);
        }
        return;
    }
    let whole = (src.len() / N).min(dst.len());
    let (head, tail) = dst.split_at_mut(whole);
    for (d, px) in head.iter_mut().zip(src.chunks_exact(N)) {
        *d = conv(px[0]);
    }
    // The last pixel may lack channels after the one read.
    for (d, i) in tail.iter_mut().zip(whole..) {
        *d = conv(src[i * N]);
    }
}

/// Copies source planes z+lo0..=z+hi0 and rows y0+lo1.. of the tile's columns into `block`
/// (dims `[bd, bh, bw]`), applying each axis's boundary mode.
#[allow(clippy::too_many_arguments)]
fn fill_block<T: Element, B: Copy>(
    block: &mut Vec<B>,
    source: &dyn Source<T>,
    geo: &Geometry,
    modes: [Mode; 3],
    (cval, conv): (B, &impl Fn(T) -> B),
    tile: &Tile,
    [z, y0]: [usize; 2],
    [bd, bh, bw]: [usize; 3],
) {
    let [d, h, _] = geo.shape;
    let lo = geo.halo.lo;
    let step = source.step();
    // Every value is written below, once: no clearing of a block reused from the last stripe.
    block.resize(bd * bh * bw, cval);
    // The block columns that read the tile's own columns in order.
    let inner = (-lo[2]) as usize;
    let tw = tile.width;
    for bz in 0..bd {
        let sz = match &geo.outer {
            Some(outer) => outer.source(z, bz),
            None => modes[0].map(z as isize + lo[0] + bz as isize, d),
        };
        for by in 0..bh {
            let dst = &mut block[(bz * bh + by) * bw..][..bw];
            let sy = modes[1].map(y0 as isize + lo[1] + by as isize, h);
            let (Some(sz), Some(sy)) = (sz, sy) else {
                dst.fill(cval);
                continue;
            };
            let row = source.row(sz, sy);
            // The tile's columns, then only the halo columns (a test per column of the row
            // would cost more than the copy).
            let src = match row {
                Row::One(src) => src,
                Row::Pieces(row) => {
                    fill_row_from_pieces(dst, &row, step, tile, inner, (cval, conv));
                    continue;
                }
            };
            put(
                &mut dst[inner..inner + tw],
                &src[tile.first * step..],
                step,
                conv,
            );
            for cx in (0..inner).chain(inner + tw..bw) {
                dst[cx] = tile.xmap[cx].map_or(cval, |sx| conv(src[sx * step]));
            }
        }
    }
}

/// `to[i] = conv(from[i * step])`, with AVX2 at twice SSE2's width.
#[inline(always)]
fn put<T: Copy, B>(to: &mut [B], from: &[T], step: usize, conv: &impl Fn(T) -> B) {
    crate::simd::avx2(
        #[inline(always)]
        || match step {
            1 => every::<1, _, _>(to, from, 1, conv),
            2 => every::<2, _, _>(to, from, 2, conv),
            3 => every::<3, _, _>(to, from, 3, conv),
            4 => every::<4, _, _>(to, from, 4, conv),
            _ => every::<0, _, _>(to, from, step, conv),
        },
    )
}

/// [`fill_block`]'s work for one row of a source in pieces: the tile's columns from each piece
/// holding some, then the halo columns. Apart, so that the one-piece path stays lean.
#[inline(never)]
fn fill_row_from_pieces<T: Copy, B: Copy>(
    dst: &mut [B],
    row: &RowInPieces<T>,
    step: usize,
    tile: &Tile,
    inner: usize,
    (cval, conv): (B, &impl Fn(T) -> B),
) {
    let tw = tile.width;
    let (mut done, mut x) = (inner, tile.first);
    while done < inner + tw {
        let (from, held) = row.from(x, step);
        let n = held.min(inner + tw - done);
        put(&mut dst[done..done + n], from, step, conv);
        (done, x) = (done + n, x + n);
    }
    for cx in (0..inner).chain(inner + tw..dst.len()) {
        dst[cx] = tile.xmap[cx].map_or(cval, |sx| conv(row.from(sx, step).0[0]));
    }
}

#[cfg(test)]
mod tests {
    use super::every;

    #[test]
    fn every_steps_through_pixels_as_a_plain_loop_does() {
        for step in 1usize..7 {
            for n in 0usize..20 {
                // Pixels' channels, the last pixel cut after the channel read (as a channel's
                // slice of an interleaved row is).
                let src: Vec<u32> = (0..(n * step).saturating_sub(step - 1) as u32).collect();
                let want: Vec<u64> = (0..n).map(|i| src[i * step] as u64 * 3).collect();
                let mut got = vec![0u64; n];
                let conv = |v: u32| v as u64 * 3;
                match step {
                    1 => every::<1, _, _>(&mut got, &src, 1, conv),
                    2 => every::<2, _, _>(&mut got, &src, 2, conv),
                    3 => every::<3, _, _>(&mut got, &src, 3, conv),
                    4 => every::<4, _, _>(&mut got, &src, 4, conv),
                    s => every::<0, _, _>(&mut got, &src, s, conv),
                }
                assert_eq!(got, want, "step {step}, {n} pixels");
            }
        }
    }
}
