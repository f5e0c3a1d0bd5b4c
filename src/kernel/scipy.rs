//! The scipy callback's `user_data`: params, tables and the output position scipy visits.

use super::*;
use crate::outer::Outer;

impl Kernel {
    /// A context for using [`Kernel::callback`] under scipy's `generic_filter` on an array of
    /// `shape` with `footprint`: it carries params, the `k`/`dx`/`dy`/`dz` tables, where `c` sits
    /// in the buffer, and tracks the output position as scipy visits elements in C order.
    pub fn scipy_context(
        &self,
        shape: &[usize],
        footprint: &Footprint,
        options: &Options,
    ) -> Result<ScipyContext, Error> {
        let s = self.setup(shape, footprint, options)?;
        Ok(ScipyContext::new(s, true))
    }
}

/// The `user_data` for the scipy callback, with the tables it points to.
pub struct ScipyContext {
    ctx: Box<CallbackContext>,
    _setup: Box<Setup>,
    /// `pos(j)`'s table, whose positions along folded axes tracking sets, and pointers to
    /// `d(j)`'s.
    _axes: Vec<f64>,
    _d: Vec<*const f64>,
}

// SAFETY: the raw pointers in `ctx` point into `_setup`, which is owned, immutable and moves
// with it, and into `_axes` and `_d`, owned too; `_axes` is written only by the callback
// through `ctx` (tracking positions), which needs `&mut self` (`as_ptr`) to reach: one
// `generic_filter` call at a time per context, as for its position counter.
unsafe impl Send for ScipyContext {}

impl ScipyContext {
    fn new(setup: Setup, track: bool) -> ScipyContext {
        let setup = Box::new(setup);
        let mut ctx = Box::new(context_for(
            &setup,
            setup.geo.center_index().map_or(-1, |c| c as isize),
            track,
        ));
        let mut axes = setup.axes.clone();
        let d: Vec<*const f64> = crate::runtime::table_pointers(&setup.d).collect();
        (ctx.axes, ctx.d) = (axes.as_mut_ptr(), d.as_ptr());
        ScipyContext {
            ctx,
            _setup: setup,
            _axes: axes,
            _d: d,
        }
    }

    /// The pointer to pass as `user_data`.
    pub fn as_ptr(&mut self) -> *mut c_void {
        (&mut *self.ctx) as *mut CallbackContext as *mut c_void
    }

    /// Restarts position tracking at the first element.
    pub fn reset(&mut self) {
        self.ctx.counter = 0;
    }
}

pub(crate) fn context_for(s: &Setup, c_index: isize, track: bool) -> CallbackContext {
    let [d, h, w] = s.geo.shape;
    CallbackContext {
        params: s.params.as_ptr(),
        n_params: s.params.len() as isize,
        footprint_size: s.k.len() as isize,
        k: s.k.as_ptr(),
        dx: s.dx.as_ptr(),
        dy: s.dy.as_ptr(),
        dz: s.dz.as_ptr(),
        axes: std::ptr::null_mut(),
        d: std::ptr::null(),
        c_index,
        pos: [0.0; 3],
        size: s.size,
        shape: [d as isize, h as isize, w as isize],
        counter: 0,
        track: track as isize,
        has_shape: 1,
        outer: s
            .geo
            .outer
            .as_ref()
            .map_or(std::ptr::null(), |o| o as *const Outer),
    }
}
