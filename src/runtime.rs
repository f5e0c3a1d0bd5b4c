//! What compiled kernels see at run time: the `#[repr(C)]` callback context (scipy's `user_data`)
//! and the helper functions the generated code calls (libm, sort-based reductions, scratch space).

use crate::ir::{Func, AXES};
use crate::outer::Outer;
use crate::plan::SortKind;
use std::cell::RefCell;

/// The `user_data` of the scipy-ABI callback.
///
/// All pointers may be null when the program does not need them. With a null `user_data` the
/// callback uses the params' defaults and fails (returns 0) if the program needs `c`, `k`,
/// `dx`/`dy`/`dz`, a position or size name or `channels`.
#[repr(C)]
#[derive(Debug, Clone)]
pub struct CallbackContext {
    /// Param values in declaration order, or null for the defaults.
    pub params: *const f64,
    /// Number of values at `params`; must equal the kernel's param count when `params` is set.
    pub n_params: isize,
    /// The window size the tables below describe; the callback returns 0 if `filter_size`
    /// differs (and the program uses them). -1 when there are no tables.
    pub footprint_size: isize,
    /// Footprint weights, and offsets along the last, second-last and third-last axes.
    pub k: *const f64,
    pub dx: *const f64,
    pub dy: *const f64,
    pub dz: *const f64,
    /// `pos(j)`'s and `d(j)`'s tables, by slot (see `Setup::axes`); `pos(j)` of an axis folded
    /// into planes reads a position set per plane (by [`jf_track`] under scipy's loop).
    pub axes: *mut f64,
    pub d: *const *const f64,
    /// Index in the window buffer of the element at the output position (`c`), or -1.
    pub c_index: isize,
    /// Current output position (x, y, z); array size (width, height, depth) and the main
    /// input's channel count (`channels`, 1 for a plain array).
    pub pos: [f64; 3],
    pub size: [f64; 4],
    /// Array shape (depth, height, width) for tracking; nonzero `has_shape` makes positions valid.
    pub shape: [isize; 3],
    /// Linear index of the next output element, when `track` is nonzero.
    pub counter: isize,
    /// Nonzero: before each call, set `pos` from `counter` (C order) and advance it, wrapping
    /// after a full pass. This is how kernels know their position under scipy's loop.
    pub track: isize,
    pub has_shape: isize,
    /// For an array of N > 3 axes, how its first N − 2 make `shape`'s planes (null otherwise).
    pub outer: *const Outer,
}

impl Default for CallbackContext {
    fn default() -> Self {
        CallbackContext {
            params: std::ptr::null(),
            n_params: 0,
            footprint_size: -1,
            k: std::ptr::null(),
            dx: std::ptr::null(),
            dy: std::ptr::null(),
            dz: std::ptr::null(),
            axes: std::ptr::null_mut(),
            d: std::ptr::null(),
            c_index: -1,
            pos: [0.0; 3],
            size: [1.0; 4],
            shape: [1; 3],
            counter: 0,
            track: 0,
            has_shape: 0,
            outer: std::ptr::null(),
        }
    }
}

/// Pointers to `d(j)`'s tables by slot (`Setup::d`), null for the axes the program does not
/// name, so that a wrong slot is a null pointer (which the callback checks), not a dangling one.
pub fn table_pointers(tables: &[Vec<f64>]) -> impl Iterator<Item = *const f64> + '_ {
    (tables.iter()).map(|t| match t.is_empty() {
        true => std::ptr::null(),
        false => t.as_ptr(),
    })
}

/// The argument of a row function: everything needed to compute one output row.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RowArgs {
    /// Per input, its padded block, positioned so that window element j of output pixel x is
    /// `inputs[i][x + offs[j]]` and its value here is `inputs[i][x + c_off]`.
    pub inputs: *const *const f64,
    pub offs: *const i64,
    pub n: i64,
    pub c_off: i64,
    /// How far apart the blocks' planes and rows are, for `at()` offsets.
    pub strides: [i64; 2],
    pub k: *const f64,
    pub dx: *const f64,
    pub dy: *const f64,
    pub dz: *const f64,
    /// `pos(j)`'s and `d(j)`'s tables, by slot (see `Setup::axes`).
    pub axes: *const f64,
    pub d: *const *const f64,
    pub params: *const f64,
    /// Per planned reduction, a pointer to this row's precomputed values.
    pub planes: *const *const f64,
    /// Per output, the row of `width` values to write.
    pub outputs: *const *mut f64,
    pub width: i64,
    /// The row's first column (of the whole array), row and plane.
    pub x0: f64,
    pub y: f64,
    pub z: f64,
    /// Width, height, depth and the main input's channel count.
    pub size: [f64; 4],
    /// The row function's tables (see `Plan::tables`): element tables, `n` values each, then
    /// keyed tables, `lut_len` values each for keys `lut_lo ..`. Filled when `fill` is
    /// nonzero (the first row of a stripe), read by every row.
    pub tables: *mut f64,
    pub luts: *mut f64,
    pub lut_lo: i64,
    pub lut_len: i64,
    pub fill: i64,
    /// Set by a filling call of a row function with keyed tables: 1 when its split `exp`
    /// factors are all normal numbers or all 0 or normal and at most 1 (so their products are
    /// accurate); 0 means this function must not be used for the stripe.
    pub ok: i64,
}

impl RowArgs {
    /// Arguments with no tables, for windows `inputs[i][x + offs[j]]` of `width` pixels into
    /// `outputs`. The two lists must outlive every call made with these arguments.
    pub fn new(inputs: &[*const f64], offs: &[i64], width: usize, outputs: &[*mut f64]) -> RowArgs {
        RowArgs {
            inputs: inputs.as_ptr(),
            offs: offs.as_ptr(),
            n: offs.len() as i64,
            c_off: 0,
            strides: [0; 2],
            k: std::ptr::null(),
            dx: std::ptr::null(),
            dy: std::ptr::null(),
            dz: std::ptr::null(),
            axes: std::ptr::null(),
            d: std::ptr::null(),
            params: std::ptr::null(),
            planes: std::ptr::null(),
            outputs: outputs.as_ptr(),
            width: width as i64,
            x0: 0.0,
            y: 0.0,
            z: 0.0,
            size: [1.0; 4],
            tables: std::ptr::null_mut(),
            luts: std::ptr::null_mut(),
            lut_lo: 0,
            lut_len: 0,
            fill: 0,
            ok: 0,
        }
    }
}

/// Sets `pos` from `counter` and advances it (called by kernels that use positions when `track`
/// is set).
///
/// # Safety
/// `ctx` must point to a valid, exclusively borrowed context.
pub unsafe extern "C" fn jf_track(ctx: *mut CallbackContext) {
    // SAFETY: generated code passes the non-null context it was given.
    let ctx = unsafe { &mut *ctx };
    let [d, h, w] = ctx.shape.map(|s| s.max(1));
    let total = d * h * w;
    let i = ctx.counter.rem_euclid(total);
    let plane = i / (w * h);
    ctx.pos = [(i % w) as f64, ((i / w) % h) as f64, plane as f64];
    ctx.counter = (i + 1) % total;
    // SAFETY: a context's `outer` is null or points to the setup's, which outlives it.
    if let Some(outer) = unsafe { ctx.outer.as_ref() } {
        ctx.pos[2] = (plane as usize % outer.lens[outer.lens.len() - 1]) as f64;
        if !ctx.axes.is_null() && i % (w * h) == 0 {
            // SAFETY: a non-null `axes` points to a table of `AXES` slots of the context's own.
            let axes = unsafe { std::slice::from_raw_parts_mut(ctx.axes, AXES * 5) };
            outer.place(plane as usize, axes);
        }
    }
}

macro_rules! unary_helpers {
    ($($name:ident => $func:ident $body:expr),* $(,)?) => {
        $(extern "C" fn $name(x: f64) -> f64 { $body(x) })*
        /// The helper symbol implementing a one-argument function, if it needs one.
        pub fn unary_helper(f: Func) -> Option<(&'static str, *const u8)> {
            match f {
                $(Func::$func => Some((stringify!($name), $name as *const u8)),)*
                _ => None,
            }
        }
    };
}

unary_helpers! {
    jf_cbrt => Cbrt f64::cbrt, jf_exp => Exp f64::exp, jf_exp2 => Exp2 f64::exp2,
    jf_ln => Ln f64::ln, jf_log2 => Log2 f64::log2, jf_log10 => Log10 f64::log10,
    jf_sin => Sin f64::sin, jf_cos => Cos f64::cos, jf_tan => Tan f64::tan,
    jf_asin => Asin f64::asin, jf_acos => Acos f64::acos, jf_atan => Atan f64::atan,
    jf_sinh => Sinh f64::sinh, jf_cosh => Cosh f64::cosh, jf_tanh => Tanh f64::tanh,
    jf_sign => Sign sign,
}

/// `np.sign`: ±1, keeping 0, -0 and NaN.
fn sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        x
    }
}

/// numpy's `np.mod` for floats: the result takes the divisor's sign.
fn floored_mod(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        return f64::NAN;
    }
    let r = a % b;
    if r != 0.0 {
        if (r < 0.0) != (b < 0.0) {
            r + b
        } else {
            r
        }
    } else {
        0.0f64.copysign(b)
    }
}

/// numpy's `_lerp`: exact at both ends for finite values, monotone in t.
pub fn lerp(a: f64, b: f64, t: f64) -> f64 {
    let d = b - a;
    if t >= 0.5 {
        b - d * (1.0 - t)
    } else {
        a + d * t
    }
}

extern "C" fn jf_pow(a: f64, b: f64) -> f64 {
    a.powf(b)
}
extern "C" fn jf_atan2(a: f64, b: f64) -> f64 {
    a.atan2(b)
}
extern "C" fn jf_hypot(a: f64, b: f64) -> f64 {
    a.hypot(b)
}
extern "C" fn jf_mod(a: f64, b: f64) -> f64 {
    floored_mod(a, b)
}

/// The two-argument helpers: pow, atan2, hypot and floored mod.
pub fn binary_helper(name: &str) -> (&'static str, *const u8) {
    match name {
        "pow" => ("jf_pow", jf_pow as *const u8),
        "atan2" => ("jf_atan2", jf_atan2 as *const u8),
        "hypot" => ("jf_hypot", jf_hypot as *const u8),
        "mod" => ("jf_mod", jf_mod as *const u8),
        other => unreachable!("no helper {other}"),
    }
}

thread_local! {
    static SCRATCH: RefCell<Vec<Vec<f64>>> = const { RefCell::new(Vec::new()) };
}

/// A per-thread buffer of at least `n` doubles for sort-based reduction `slot` (or the rows of a
/// native pass's sums, see `codegen/keyed.rs`). It stays valid until the same thread asks for
/// the same slot again, which generated code does once per call.
pub extern "C" fn jf_scratch(slot: i64, n: i64) -> *mut f64 {
    SCRATCH.with(|s| {
        let mut s = s.borrow_mut();
        let slot = slot as usize;
        if s.len() <= slot {
            s.resize_with(slot + 1, Vec::new);
        }
        let buf = &mut s[slot];
        let n = n.max(1) as usize;
        if buf.len() < n {
            buf.resize(n, 0.0);
        }
        buf.as_mut_ptr()
    })
}

/// Selects the median/percentile/k-th element of `n` stored values (reordering them in place).
///
/// # Safety
/// `ptr` must point to `n` initialised doubles that nothing else accesses during the call.
pub unsafe extern "C" fn jf_sorted(kind: i64, ptr: *mut f64, n: i64, q: f64) -> f64 {
    // SAFETY: generated code passes a scratch buffer of at least n values filled by this call.
    let v = unsafe { std::slice::from_raw_parts_mut(ptr, n.max(0) as usize) };
    let kind = match kind {
        0 => SortKind::Median,
        1 => SortKind::NanMedian,
        2 => SortKind::Percentile,
        _ => SortKind::Kth,
    };
    let all = v.len();
    let v: &mut [f64] = if matches!(kind, SortKind::NanMedian | SortKind::Kth) {
        // The NaN to the end, where `np.sort` puts them.
        let mut m = 0;
        for j in 0..v.len() {
            if !v[j].is_nan() {
                v.swap(m, j);
                m += 1;
            }
        }
        &mut v[..m]
    } else if v.iter().any(|x| x.is_nan()) {
        return f64::NAN;
    } else {
        v
    };
    if kind == SortKind::Kth {
        return match crate::order::kth_index(q, all, v.len()) {
            Some(k) => *v.select_nth_unstable_by(k, f64::total_cmp).1,
            None => f64::NAN,
        };
    }
    if v.is_empty() {
        return f64::NAN;
    }
    if kind != SortKind::Percentile {
        // numpy's median: the middle element, or the mean of the middle two.
        let m = v.len() / 2;
        let odd = v.len() % 2 == 1;
        let (lower, &mut b, _) = v.select_nth_unstable_by(m, f64::total_cmp);
        if odd {
            return b;
        }
        // The largest of the lower part in the sort's own order (-0 before +0; `f64::max`
        // may take either zero).
        let a = lower.iter().copied().max_by(f64::total_cmp).unwrap_or(b);
        return (a + b) / 2.0;
    }
    if !(0.0..=100.0).contains(&q) {
        return f64::NAN;
    }
    let pos = q / 100.0 * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let t = pos - lo as f64;
    let (_, &mut a, rest) = v.select_nth_unstable_by(lo, f64::total_cmp);
    // The next order statistic is the smallest of the upper part in the sort's order (-0 before
    // +0; `f64::min` may take either zero), or `a` itself at the end; numpy interpolates even at
    // t = 0, so an infinite neighbour gives NaN there too.
    let b = rest.iter().copied().min_by(f64::total_cmp).unwrap_or(a);
    lerp(a, b, t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_matches_numpy() {
        let mut v = [4.0, 1.0, 3.0, 2.0];
        assert_eq!(unsafe { jf_sorted(0, v.as_mut_ptr(), 4, 0.0) }, 2.5);
        let mut v = [4.0, 1.0, 3.0, 2.0];
        assert_eq!(unsafe { jf_sorted(2, v.as_mut_ptr(), 4, 25.0) }, 1.75);
        let mut v = [f64::NAN, 1.0, 3.0];
        assert!(unsafe { jf_sorted(0, v.as_mut_ptr(), 3, 0.0) }.is_nan());
        let mut v = [f64::NAN, 1.0, 3.0];
        assert_eq!(unsafe { jf_sorted(1, v.as_mut_ptr(), 3, 0.0) }, 2.0);
        // kth: np.sort(v)[r], NaN last.
        for (r, want) in [(0.0, 1.0), (1.0, 3.0), (-2.0, 3.0), (-3.0, 1.0)] {
            let mut v = [3.0, f64::NAN, 1.0];
            assert_eq!(unsafe { jf_sorted(3, v.as_mut_ptr(), 3, r) }, want, "{r}");
        }
        for r in [-1.0, 2.0, 3.0, -4.0, 0.5] {
            let mut v = [3.0, f64::NAN, 1.0];
            assert!(
                unsafe { jf_sorted(3, v.as_mut_ptr(), 3, r) }.is_nan(),
                "{r}"
            );
        }
    }

    #[test]
    fn tracking_walks_c_order_and_wraps() {
        let mut ctx = CallbackContext {
            shape: [1, 2, 3],
            track: 1,
            has_shape: 1,
            ..Default::default()
        };
        let mut seen = Vec::new();
        for _ in 0..7 {
            // SAFETY: a valid context we own.
            unsafe { jf_track(&mut ctx) };
            seen.push((ctx.pos[0], ctx.pos[1]));
        }
        assert_eq!(
            seen,
            [
                (0., 0.),
                (1., 0.),
                (2., 0.),
                (0., 1.),
                (1., 1.),
                (2., 1.),
                (0., 0.)
            ]
        );
    }
}
