//! The auto engine's stripe loop: the planner's planes for the stripe first (computed by
//! [`crate::planes`]), then the JIT's row function per output row, reading those planes, with
//! the keyed-table variant on integer stripes of a small range. The fused engine is the same loop
//! with no planes.

use crate::codegen::{RowCode, RowFn};
use crate::dtype::Element;
use crate::order;
use crate::outer::Outer;
use crate::plan::{Plan, P};
use crate::planes;
use crate::planner::Planner;
use crate::runtime::RowArgs;
use crate::window::{Stripe, StripeFn};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Tables a row function reads, borrowed from the kernel's setup.
pub struct RowTables<'a> {
    pub k: &'a [f64],
    pub dx: &'a [f64],
    pub dy: &'a [f64],
    pub dz: &'a [f64],
    pub params: &'a [f64],
    pub size: [f64; 4],
    /// `pos(j)`'s and `d(j)`'s (see `Setup::axes`), and the axes folded into planes, whose
    /// positions `pos(j)` reads per plane.
    pub axes: &'a [f64],
    pub d: &'a [Vec<f64>],
    pub outer: Option<&'a Outer>,
}

impl RowTables<'_> {
    /// Pointers to `d(j)`'s tables, by slot.
    pub fn d_pointers(&self, into: &mut Vec<*const f64>) {
        into.clear();
        into.extend(crate::runtime::table_pointers(self.d));
    }
}

/// The row function with keyed tables, its plan and the keys its tables are indexed by.
#[derive(Clone, Copy)]
pub struct KeyedRow<'a> {
    pub code: RowCode,
    pub plan: &'a Plan,
    pub keys: &'a [P],
    /// The inputs the keys read, whose integer spans bound them.
    pub inputs: &'a [usize],
}

impl KeyedRow<'_> {
    /// The key values the stripe's data gives, lowest first, if all its keys' inputs are
    /// integers in a small enough range.
    fn range(&self, s: &Stripe) -> Option<(i64, i64)> {
        let mut spans = vec![None; s.blocks.len()];
        for &i in self.inputs {
            spans[i] = Some(integer_span(s.input(i))?);
        }
        self.keys
            .iter()
            .try_fold(None, |acc: Option<(i64, i64)>, &k| {
                let (lo, hi) = self.plan.key_range(k, &spans)?;
                Some(Some(acc.map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi)))))
            })?
    }
}

/// How an output row is made from the planes: by the JIT's row function, or, when every result
/// is a plane (`max(w)`, `mean(w)`, a stage that is one reduction), by copying those planes, so
/// that such a program compiles no row function at all.
#[derive(Clone, Copy)]
pub enum Row<'a> {
    Code(RowCode),
    Planes(&'a [usize]),
}

pub struct RowStripe<'a> {
    pub row: Row<'a>,
    /// The variant with keyed tables, for stripes of integers in a small range.
    pub keyed: Option<KeyedRow<'a>>,
    pub tables: RowTables<'a>,
    /// The planner whose planes the row function reads (none for the fused engine).
    pub planner: Option<&'a Planner>,
    /// The row function of the planner's point maps.
    pub map: Option<RowFn>,
    /// Stripes run with keyed tables, and without (for the run's trace).
    pub counts: &'a [AtomicUsize; 2],
    /// The row function's results per pixel.
    pub outputs: usize,
}

/// The most key values a keyed table may have (64 KiB): `w - c` for data spanning 4095.
const MAX_KEYS: i64 = 8191;

#[derive(Default)]
pub struct RowState {
    out: Vec<f64>,
    offs: Vec<i64>,
    planes: Vec<crate::spare::Spare>,
    scratch: order::Scratch<f64>,
    plane_rows: Vec<*const f64>,
    input_rows: Vec<*const f64>,
    output_rows: Vec<*mut f64>,
    tables: Vec<f64>,
    luts: Vec<f64>,
    axes: Vec<f64>,
    d: Vec<*const f64>,
}

impl StripeFn for RowStripe<'_> {
    type State = RowState;

    fn state(&self) -> RowState {
        RowState::default()
    }

    fn outputs(&self) -> usize {
        self.outputs
    }

    fn stripe<O: Element>(&self, st: &mut RowState, s: &Stripe, out: &mut [O]) {
        let (w, n, nout) = (s.width, s.offs.len(), self.outputs);
        st.out.resize(w * nout, 0.0);
        st.offs.clear();
        st.offs.extend(s.offs.iter().map(|&o| o as i64));
        let t = &self.tables;
        // One plane as the result, of f64 rows one after another (the stripe's whole rows):
        // the planes write it there (no copy).
        let rows = s.nrows * w;
        let straight = match self.row {
            Row::Planes(&[p]) if nout == 1 && s.out_stride == w && self.planner.is_some() => {
                O::as_f64_mut(&mut out[..rows]).map(|o| (p, o))
            }
            _ => None,
        };
        let written = straight.is_some();
        if let Some(planner) = self.planner {
            let (planes, scratch) = (&mut st.planes, &mut st.scratch);
            planes::compute(planner, s, self.map, t, planes, scratch, straight);
        }
        // Filling a table should cost less than the lookups it serves.
        let keyed = self.keyed.and_then(|k| {
            let (first, last) = k.range(s)?;
            let len = last - first + 1;
            let worth = (len as usize) <= s.nrows * w * n;
            (len <= MAX_KEYS && worth).then_some((k.code, first, len))
        });
        let row = match self.row {
            Row::Code(code) => code,
            Row::Planes(_) if written => {
                self.counts[1].fetch_add(1, Ordering::Relaxed);
                return;
            }
            Row::Planes(planes) => {
                for ry in 0..s.nrows {
                    let row = &mut out[ry * s.out_stride..][..w * nout];
                    let at = |p: usize| &st.planes[p][ry * w..][..w];
                    // One result or a pair: straight from their planes.
                    match *planes {
                        [p] => write_row(at(p), row, w, 1),
                        [p, q] => write_pair(at(p), at(q), row),
                        _ => {
                            for (k, &p) in planes.iter().enumerate() {
                                st.out[k * w..(k + 1) * w].copy_from_slice(at(p));
                            }
                            write_row(&st.out, row, w, nout);
                        }
                    }
                }
                self.counts[1].fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        let mut code = keyed.map_or(row, |(k, ..)| k);
        let (lut_lo, lut_len) = keyed.map_or((0, 0), |(_, lo, len)| (lo, len));
        st.tables.resize(n * row.element.max(code.element), 0.0);
        st.luts.resize(lut_len as usize * code.keyed, 0.0);
        t.d_pointers(&mut st.d);
        let axes = crate::outer::axes_at(t.axes, t.outer, s.plane, &mut st.axes);
        for ry in 0..s.nrows {
            st.plane_rows.clear();
            st.plane_rows
                .extend(st.planes.iter().map(|p| p[ry * w..].as_ptr()));
            st.input_rows.clear();
            (st.input_rows).extend(s.blocks.iter().map(|b| b[ry * s.bw..].as_ptr()));
            st.output_rows.clear();
            let row_out = &mut out[ry * s.out_stride..][..w * nout];
            // One f64 result: the row function writes the output row itself (no copy).
            let direct = match O::as_f64_mut(&mut *row_out) {
                Some(r) if nout == 1 => Some(r.as_mut_ptr()),
                _ => None,
            };
            match direct {
                Some(r) => st.output_rows.push(r),
                None => {
                    let base = st.out.as_mut_ptr();
                    // SAFETY: `out` holds `nout` rows of `w` values.
                    (st.output_rows).extend((0..nout).map(|k| unsafe { base.add(k * w) }));
                }
            }
            let mut args = RowArgs::new(&st.input_rows, &st.offs, w, &st.output_rows);
            args.c_off = s.coff as i64;
            args.strides = [(s.bh * s.bw) as i64, s.bw as i64];
            args.k = t.k.as_ptr();
            args.dx = t.dx.as_ptr();
            args.dy = t.dy.as_ptr();
            args.dz = t.dz.as_ptr();
            args.axes = axes.as_ptr();
            args.d = st.d.as_ptr();
            args.params = t.params.as_ptr();
            args.planes = st.plane_rows.as_ptr();
            args.x0 = s.x0 as f64;
            args.y = (s.y0 + ry) as f64;
            args.z = s.z as f64;
            args.size = t.size;
            args.tables = st.tables.as_mut_ptr();
            args.luts = st.luts.as_mut_ptr();
            args.lut_lo = lut_lo;
            args.lut_len = lut_len;
            args.fill = (ry == 0) as i64;
            // SAFETY: every window read inputs[i][x + offs[j]] for x < width stays inside input
            // i's block (each is padded by the footprint's extent); the tables k/dx/dy/dz have n
            // entries; each plane row has `width` values; the output row has `width`, and the
            // input and output lists outlive both calls; `tables` holds n
            // values per element table and `luts` lut_len per keyed table, whose keys `w - c`
            // lie in lut_lo .. lut_lo + lut_len because the block's values are integers in
            // lo..=hi.
            crate::simd::clean_upper();
            unsafe { (code.f)(&mut args) };
            if ry == 0 && code.keyed > 0 && args.ok == 0 {
                // Split `exp` factors out of range: the direct row function, for this stripe.
                code = row;
                args.fill = 1;
                // SAFETY: as above, for the row function without keyed tables.
                unsafe { (code.f)(&mut args) };
            }
            if direct.is_none() {
                write_row(&st.out, row_out, w, nout);
            }
        }
        self.counts[(code.keyed == 0) as usize].fetch_add(1, Ordering::Relaxed);
    }
}

/// One output row from its results (`nout` runs of `w` values), interleaved per pixel.
fn write_row<O: Element>(results: &[f64], row: &mut [O], w: usize, nout: usize) {
    if nout == 1 {
        crate::dtype::convert(&results[..w], row);
    } else if nout == 2 {
        let (a, b) = results[..2 * w].split_at(w);
        write_pair(a, b, row);
    } else {
        // Pixel by pixel, writing each pixel's values together (a strided pass per result
        // cost a tenth of a two-result `(mean(w), std(w))`).
        let results = &results[..w * nout];
        for (x, px) in row.chunks_exact_mut(nout).take(w).enumerate() {
            for (k, o) in px.iter_mut().enumerate() {
                *o = O::from_f64(results[k * w + x]);
            }
        }
    }
}

/// One output row of two results (the common pair, `(mean(w), std(w))`), interleaved per
/// pixel: zipped, so no index is checked per value.
fn write_pair<O: Element>(a: &[f64], b: &[f64], row: &mut [O]) {
    crate::simd::avx2(
        #[inline(always)]
        || {
            for ((px, a), b) in row.chunks_exact_mut(2).zip(a).zip(b) {
                px[0] = O::from_f64(*a);
                px[1] = O::from_f64(*b);
            }
        },
    )
}

/// The least and greatest values of `block`, if all are integers of magnitude below 2^31 and
/// none is -0: keys are rebuilt from integers, so a key -0 would be looked up as +0, which
/// `atan2`, `pow` and `%` tell apart (without -0 in the data, `w - c` is never -0).
fn integer_span(block: &[f64]) -> Option<(i64, i64)> {
    let (lo, hi, integral) = block.iter().fold(
        (f64::INFINITY, f64::NEG_INFINITY, true),
        |(lo, hi, i), &v| {
            let plain = crate::planes::is_integer(v) && v.to_bits() != (-0.0f64).to_bits();
            (lo.min(v), hi.max(v), i & plain)
        },
    );
    let small = -2_147_483_648.0 < lo && hi < 2_147_483_648.0;
    (integral && small).then_some((lo as i64, hi as i64))
}
