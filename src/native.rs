//! Whole-program native paths. A program that is exactly one order statistic of the window —
//! `max(w)`, `min(w)`, `median(w)`, `nanmedian(w)` or `percentile(w, q)` with a constant `q` —
//! runs on an integer image in the image's own type: the padded blocks hold u8/u16/i16/i32, so
//! extremes compare 16 u8 pixels per SSE instruction and medians key a histogram by value
//! directly. So does one sum or mean of the window (`mean(w)`, `trunc(mean(w))`…), in i32
//! lanes ([`crate::int_sums`]). Floats stay on the planner's f64 path, which handles NaN.

use crate::dtype::Element;
use crate::int_sums::{self, Finish, Geometry};
use crate::ir::{At, Func, Op, Program, Reduction, Sample};
use crate::order::{self, Rank};
use crate::select::{self, Selection};
use crate::window::{Stripe, StripeFn};

/// The order statistic a native program computes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Native {
    Max,
    Min,
    Rank(Rank),
    /// The window's sum or mean, maybe rounded: exact in i32 lanes.
    Sum(Finish),
}

impl Native {
    /// The native form of `program`, if it is one order statistic of an input's window (`w`,
    /// or a named input or stage: an opening's second pass is `max(e)`).
    pub fn of(program: &Program) -> Option<Native> {
        Native::with_input(program).map(|(n, _)| n)
    }

    /// [`Native::of`], and the input whose window it reads.
    pub fn with_input(program: &Program) -> Option<(Native, usize)> {
        let [root] = program.roots[..] else {
            return None;
        };
        // A mean rounded to a whole number (integer outputs of `jitfilter.ndimage`).
        let (round, root) = match &program.nodes[root].op {
            Op::Call(f @ (Func::Trunc | Func::Floor | Func::Ceil | Func::Round), args) => {
                (Some(*f), args[0])
            }
            _ => (None, root),
        };
        let Op::Reduce(red, arg, extra, _) = program.nodes[root].op else {
            return None;
        };
        let Op::Sample(Sample {
            input,
            at: At::Window,
        }) = program.nodes[arg].op
        else {
            return None;
        };
        let q = extra.map(|e| &program.nodes[e].op);
        let native = match (red, q) {
            (Reduction::Sum | Reduction::Mean, None) => Native::Sum(Finish {
                mean: red == Reduction::Mean,
                round,
            }),
            _ if round.is_some() => return None,
            (Reduction::Max, None) => Native::Max,
            (Reduction::Min, None) => Native::Min,
            (Reduction::Median, None) => Native::Rank(Rank::Median { skip_nan: false }),
            (Reduction::NanMedian, None) => Native::Rank(Rank::Median { skip_nan: true }),
            (Reduction::Percentile, Some(Op::Const(q))) => Native::Rank(Rank::Percentile(*q)),
            (Reduction::Kth, Some(Op::Const(r))) => Native::Rank(Rank::Kth(*r)),
            _ => return None,
        };
        Some((native, input))
    }

    /// Whether its result is always one of the window's values, so that it is exact in an
    /// integer input's type (a median of an even count or a percentile may fall between two).
    pub fn picks_a_value(&self) -> bool {
        matches!(self, Native::Max | Native::Min | Native::Rank(Rank::Kth(_)))
    }

    /// Whether its result is one value of the window or between two (an order statistic), so
    /// that written in the image's type it loses at most a rounding.
    pub fn orders(&self) -> bool {
        !matches!(self, Native::Sum(_))
    }

    /// The padding value for element type `T` and `cval`, if `T` can run this natively: an
    /// integer type holding `cval` exactly, with histogram keys for ranks.
    pub fn pad<T: Element>(&self, cval: f64) -> Option<T> {
        match self {
            Native::Rank(_) if T::KEYS == 0 => None,
            _ => T::exact(cval),
        }
    }

    /// Whether windows of `cells` values of `T` can run this natively: sums must fit in i32.
    pub fn holds<T: Element>(&self, cells: usize) -> bool {
        !matches!(self, Native::Sum(_)) || int_sums::fits::<T>(cells)
    }

    /// How `check` and `bench` describe it.
    pub fn describe(&self) -> &'static str {
        match self {
            Native::Max | Native::Min => {
                "whole program native on integer images: running extremes in the image's type"
            }
            Native::Rank(_) => {
                "whole program native on 8/16-bit images: sliding histogram keyed by value"
            }
            Native::Sum(_) => {
                "whole program native on 8/16-bit images: exact window sums in i32 lanes"
            }
        }
    }
}

/// Computes a native program over stripes of `T`: the order statistic of input `.1`'s window.
pub struct NativeStripe(pub Native, pub usize);

/// Per-worker buffers.
pub struct NativeState<T> {
    scratch: order::Scratch<T>,
    extremes: Vec<T>,
    ranks: Vec<f64>,
    wires: Vec<T>,
    sums: int_sums::Scratch,
}

impl<T: Element> StripeFn<T> for NativeStripe {
    type State = NativeState<T>;

    /// Order statistics and integer sums are exact: a window's value never depends on the
    /// block around it.
    fn tiled(&self) -> bool {
        false
    }

    fn state(&self) -> NativeState<T> {
        NativeState {
            scratch: order::Scratch::default(),
            extremes: Vec::new(),
            ranks: Vec::new(),
            wires: Vec::new(),
            sums: int_sums::Scratch::default(),
        }
    }

    fn stripe<O: Element>(&self, st: &mut NativeState<T>, s: &Stripe<T>, out: &mut [O]) {
        let chords = order::chords(s.offs, s.bw);
        let (bw, nrows, w) = (s.bw, s.nrows, s.width);
        match self.0 {
            Native::Max | Native::Min => {
                let max = self.0 == Native::Max;
                let identity = if max { T::LOWEST } else { T::HIGHEST };
                let ext = &mut st.extremes;
                ext.resize(nrows * w, identity);
                order::extremes(
                    s.input(self.1),
                    bw,
                    nrows,
                    w,
                    &chords,
                    max,
                    identity,
                    &mut st.scratch,
                    ext,
                );
                for (ext, out) in ext.chunks_exact(w).zip(out.chunks_mut(s.out_stride)) {
                    crate::dtype::convert(ext, &mut out[..w]);
                }
            }
            Native::Sum(finish) => {
                let g = Geometry {
                    bw,
                    nrows,
                    width: w,
                    stride: s.out_stride,
                };
                int_sums::sums(s.input(self.1), g, &chords, finish, &mut st.sums, out);
            }
            Native::Rank(rank) => {
                if let Some(sel) = Selection::new(rank, s.offs.len(), select::budget::<T>()) {
                    let (block, geometry) = (s.input(self.1), (bw, nrows, w));
                    return sel.run(block, s.offs, geometry, &mut st.wires, out, s.out_stride);
                }
                st.ranks.resize(nrows * w, 0.0);
                self.histogram(rank, s, &chords, &mut st.ranks);
                for (r, out) in st.ranks.chunks_exact(w).zip(out.chunks_mut(s.out_stride)) {
                    for (o, v) in out.iter_mut().zip(r) {
                        *o = O::from_f64(*v);
                    }
                }
            }
        }
    }
}

impl NativeStripe {
    /// A rank of every window by a sliding histogram keyed by value.
    fn histogram<T: Element>(
        &self,
        rank: Rank,
        s: &Stripe<T>,
        chords: &[order::Chord],
        r: &mut [f64],
    ) {
        let (bw, nrows, w) = (s.bw, s.nrows, s.width);
        let low = T::LOWEST.to_f64();
        let value = |k: usize| k as f64 + low;
        order::ranks(
            s.input(self.1),
            T::key,
            T::KEYS,
            value,
            rank,
            chords,
            bw,
            nrows,
            w,
            r,
        );
    }
}
