//! The default engine: drives the JIT's fused row function over each stripe, after the planner
//! has computed the planned reductions of the stripe as planes.

use crate::codegen::RowFn;
use crate::dtype::Element;
use crate::order;
use crate::planner::Planner;
use crate::runtime::RowArgs;
use crate::window::{Stripe, StripeFn};

/// Tables a row function reads, borrowed from the kernel's setup.
pub struct RowTables<'a> {
    pub k: &'a [f64],
    pub dx: &'a [f64],
    pub dy: &'a [f64],
    pub dz: &'a [f64],
    pub params: &'a [f64],
    pub size: [f64; 3],
}

pub struct RowStripe<'a> {
    pub row: RowFn,
    pub tables: RowTables<'a>,
    pub planner: &'a Planner,
    /// Row functions of the planner's point maps.
    pub maps: &'a [RowFn],
}

#[derive(Default)]
pub struct RowState {
    out: Vec<f64>,
    offs: Vec<i64>,
    planes: Vec<Vec<f64>>,
    scratch: order::Scratch<f64>,
    plane_rows: Vec<*const f64>,
}

impl StripeFn for RowStripe<'_> {
    type State = RowState;

    fn state(&self) -> RowState {
        RowState::default()
    }

    fn stripe<O: Element>(&self, st: &mut RowState, s: &Stripe, out: &mut [O]) {
        let w = s.width;
        st.out.resize(w, 0.0);
        st.offs.clear();
        st.offs.extend(s.offs.iter().map(|&o| o as i64));
        let t = &self.tables;
        let planes = &mut st.planes;
        self.planner
            .compute(s, self.maps, t.params, planes, &mut st.scratch);
        for ry in 0..s.nrows {
            st.plane_rows.clear();
            st.plane_rows
                .extend(st.planes.iter().map(|p| p[ry * w..].as_ptr()));
            let args = RowArgs {
                base: s.block[ry * s.bw..].as_ptr(),
                offs: st.offs.as_ptr(),
                n: s.offs.len() as i64,
                c_off: s.coff as i64,
                k: t.k.as_ptr(),
                dx: t.dx.as_ptr(),
                dy: t.dy.as_ptr(),
                dz: t.dz.as_ptr(),
                params: t.params.as_ptr(),
                planes: st.plane_rows.as_ptr(),
                out: st.out.as_mut_ptr(),
                width: w as i64,
                y: (s.y0 + ry) as f64,
                z: s.z as f64,
                size: t.size,
            };
            // SAFETY: every window read base[x + offs[j]] for x < width stays inside the block
            // (the block is padded by the footprint's extent); the tables have n entries; each
            // plane row has `width` values; `out` has `width`.
            unsafe { (self.row)(&args) };
            for (o, v) in out[ry * w..(ry + 1) * w].iter_mut().zip(&st.out) {
                *o = O::from_f64(*v);
            }
        }
    }
}
