//! The window loop: visits every output element of a (up to 3-D) array, gathers its window in
//! footprint order into a buffer and hands it to a per-pixel function.
//!
//! Output rows are processed in stripes, in parallel. Each stripe first copies the input rows it
//! needs into a padded block (f64, or the input's own type for native paths), with the boundary
//! mode applied, so that gathering a window is a list of fixed offsets with no bounds checks,
//! and memory stays bounded by the stripe size.

use crate::boundary::Mode;
use crate::dtype::Element;
use crate::footprint::Resolved;
use rayon::prelude::*;

/// The geometry of one filter application, in 3-D (leading axes of size 1 for 1-D and 2-D).
#[derive(Debug, Clone)]
pub struct Geometry {
    /// Array shape (depth, height, width).
    pub shape: [usize; 3],
    /// Per window element, its offset (z, y, x) from the output position, origin included.
    pub offsets: Vec<[isize; 3]>,
    /// Lowest and highest offset per axis, always including 0 (so `c` is in every block).
    lo: [isize; 3],
    hi: [isize; 3],
}

impl Geometry {
    /// `origin` is per axis (z, y, x), already validated against the footprint.
    pub fn new(shape: [usize; 3], fp: &Resolved, origin: [isize; 3]) -> Geometry {
        let offsets: Vec<[isize; 3]> = fp
            .cells
            .iter()
            .map(|cell| {
                std::array::from_fn(|a| cell[a] as isize - (fp.shape[a] / 2) as isize - origin[a])
            })
            .collect();
        let mut lo = [0isize; 3];
        let mut hi = [0isize; 3];
        for o in &offsets {
            for a in 0..3 {
                lo[a] = lo[a].min(o[a]);
                hi[a] = hi[a].max(o[a]);
            }
        }
        Geometry {
            shape,
            offsets,
            lo,
            hi,
        }
    }

    /// Index in footprint order of the element at offset 0, if the footprint has it.
    pub fn center_index(&self) -> Option<usize> {
        self.offsets.iter().position(|o| *o == [0, 0, 0])
    }

    /// The offset tables (x, y, z) as f64, for `dx`, `dy`, `dz`.
    pub fn offset_table(&self, axis_from_last: usize) -> Vec<f64> {
        self.offsets
            .iter()
            .map(|o| o[3 - axis_from_last] as f64)
            .collect()
    }
}

/// A function evaluated once per output element, on a gathered window.
pub trait PixelFn: Sync {
    type State;
    fn state(&self) -> Self::State;
    /// `buf` holds the window values in footprint order, followed by `c`. `pos` is (x, y, z).
    fn eval(&self, state: &mut Self::State, buf: &[f64], pos: [usize; 3]) -> f64;
}

/// One stripe of output rows and the padded input block they read.
pub struct Stripe<'a, B = f64> {
    /// Padded block, `bd × bh × bw`, starting at offset `lo` from the stripe's first row.
    pub block: &'a [B],
    /// Window element j of output pixel (row r, column x) is `block[r * bw + x + offs[j]]`.
    pub offs: &'a [usize],
    /// Likewise for `c`.
    pub coff: usize,
    pub bw: usize,
    pub bh: usize,
    pub nrows: usize,
    pub width: usize,
    /// First output row and plane of the stripe.
    pub y0: usize,
    pub z: usize,
}

/// Computes a stripe of output rows from its padded block of `B`.
pub trait StripeFn<B = f64>: Sync {
    type State;
    fn state(&self) -> Self::State;
    fn stripe<O: Element>(&self, state: &mut Self::State, s: &Stripe<B>, out: &mut [O]);
}

/// Adapts a per-pixel function: gathers each window into a buffer, then calls it.
pub struct Gather<F>(pub F);

impl<F: PixelFn> StripeFn for Gather<F> {
    type State = (Vec<f64>, F::State);

    fn state(&self) -> Self::State {
        (Vec::new(), self.0.state())
    }

    fn stripe<O: Element>(&self, (buf, state): &mut Self::State, s: &Stripe, out: &mut [O]) {
        let n = s.offs.len();
        buf.resize(n + 1, 0.0);
        for ry in 0..s.nrows {
            for x in 0..s.width {
                let base = ry * s.bw + x;
                for (b, &o) in buf.iter_mut().zip(s.offs) {
                    *b = s.block[base + o];
                }
                buf[n] = s.block[base + s.coff];
                out[ry * s.width + x] = O::from_f64(self.0.eval(state, buf, [x, s.y0 + ry, s.z]));
            }
        }
    }
}

/// Applies `f` to every stripe of `input` (C-contiguous, `geo.shape`) read as f64, writing `out`.
pub fn run<T: Element, O: Element, F: StripeFn>(
    input: &[T],
    geo: &Geometry,
    mode: Mode,
    cval: f64,
    f: &F,
    out: &mut [O],
) {
    run_in(input, geo, mode, cval, T::to_f64, f, out)
}

/// Like [`run`], with blocks of `B` made by `conv` (the constant mode pads with `cval`).
pub fn run_in<T: Element, B: Copy + Send + Sync, O: Element, F: StripeFn<B>>(
    input: &[T],
    geo: &Geometry,
    mode: Mode,
    cval: B,
    conv: impl Fn(T) -> B + Sync,
    f: &F,
    out: &mut [O],
) {
    let [d, h, w] = geo.shape;
    if d * h * w == 0 {
        return;
    }
    // A fixed stripe height: results never depend on the thread count (the planner's sums run
    // per stripe), and 64 rows keep the padding overhead small for large footprints.
    let rows = h.clamp(1, 64);
    let bw = (w as isize + geo.hi[2] - geo.lo[2]) as usize;
    // Which source column each block column reads (None: the constant).
    let xmap: Vec<Option<usize>> = (0..bw)
        .map(|cx| mode.map(cx as isize + geo.lo[2], w))
        .collect();
    out.par_chunks_mut(h * w)
        .enumerate()
        .for_each(|(z, plane)| {
            plane.par_chunks_mut(rows * w).enumerate().for_each_init(
                || (Vec::new(), Vec::new(), f.state()),
                |(block, offs, state), (stripe, out_rows)| {
                    let y0 = stripe * rows;
                    let nrows = out_rows.len() / w;
                    let bd = (geo.hi[0] - geo.lo[0] + 1) as usize;
                    let bh = nrows + (geo.hi[1] - geo.lo[1]) as usize;
                    let dims = [bd, bh, bw];
                    fill_block(block, input, geo, mode, (cval, &conv), &xmap, [z, y0], dims);
                    let lin = |o: &[isize; 3]| {
                        (o[0] - geo.lo[0]) as usize * bh * bw
                            + (o[1] - geo.lo[1]) as usize * bw
                            + (o[2] - geo.lo[2]) as usize
                    };
                    offs.clear();
                    offs.extend(geo.offsets.iter().map(lin));
                    let s = Stripe {
                        block,
                        offs,
                        coff: lin(&[0, 0, 0]),
                        bw,
                        bh,
                        nrows,
                        width: w,
                        y0,
                        z,
                    };
                    f.stripe(state, &s, out_rows);
                },
            );
        });
}

/// Copies input planes z+lo0..=z+hi0 and rows y0+lo1.. into `block` (dims `[bd, bh, bw]`),
/// applying the boundary mode.
#[allow(clippy::too_many_arguments)]
fn fill_block<T: Element, B: Copy>(
    block: &mut Vec<B>,
    input: &[T],
    geo: &Geometry,
    mode: Mode,
    (cval, conv): (B, &impl Fn(T) -> B),
    xmap: &[Option<usize>],
    [z, y0]: [usize; 2],
    [bd, bh, bw]: [usize; 3],
) {
    let [d, h, w] = geo.shape;
    block.clear();
    block.resize(bd * bh * bw, cval);
    // The block columns that read the row's own columns in order.
    let inner = (-geo.lo[2]) as usize;
    for bz in 0..bd {
        let Some(sz) = mode.map(z as isize + geo.lo[0] + bz as isize, d) else {
            continue;
        };
        for by in 0..bh {
            let Some(sy) = mode.map(y0 as isize + geo.lo[1] + by as isize, h) else {
                continue;
            };
            let src = &input[(sz * h + sy) * w..][..w];
            let dst = &mut block[(bz * bh + by) * bw..][..bw];
            for (dv, sv) in dst[inner..inner + w].iter_mut().zip(src) {
                *dv = conv(*sv);
            }
            for (cx, dv) in dst.iter_mut().enumerate() {
                if cx < inner || cx >= inner + w {
                    if let Some(sx) = xmap[cx] {
                        *dv = conv(src[sx]);
                    }
                }
            }
        }
    }
}
