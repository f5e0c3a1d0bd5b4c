//! Element types the engine reads and writes, and the conversion rules between them and f64.

use std::fmt;

/// The element types the engine reads and writes, as a run-time value (the [`Element`]
/// implementations are the same types at compile time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    U8,
    U16,
    I16,
    I32,
    F32,
    F64,
}

impl DType {
    pub const ALL: [DType; 6] = [
        DType::U8,
        DType::U16,
        DType::I16,
        DType::I32,
        DType::F32,
        DType::F64,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DType::U8 => "u8",
            DType::U16 => "u16",
            DType::I16 => "i16",
            DType::I32 => "i32",
            DType::F32 => "f32",
            DType::F64 => "f64",
        }
    }
}

impl DType {
    /// Bytes per value.
    pub fn size(self) -> usize {
        match self {
            DType::U8 => 1,
            DType::U16 | DType::I16 => 2,
            DType::I32 | DType::F32 => 4,
            DType::F64 => 8,
        }
    }

    /// The lowest and highest values of an integer type; `None` for floats.
    pub fn integer_range(self) -> Option<(f64, f64)> {
        match self {
            DType::U8 => Some((0.0, u8::MAX as f64)),
            DType::U16 => Some((0.0, u16::MAX as f64)),
            DType::I16 => Some((i16::MIN as f64, i16::MAX as f64)),
            DType::I32 => Some((i32::MIN as f64, i32::MAX as f64)),
            DType::F32 | DType::F64 => None,
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Converts `src` into `dst` element by element (through f64, as [`Element::from_f64`] rounds
/// and saturates); a plain copy when both have the same type, as a native min or max of u8 into
/// u8, where the round trip would cost more than the filter.
pub fn convert<T: Element, O: Element>(src: &[T], dst: &mut [O]) {
    use std::any::TypeId;
    if TypeId::of::<T>() == TypeId::of::<O>() {
        // SAFETY: T and O are the same type, so `src` is a valid slice of O.
        let same = unsafe { std::slice::from_raw_parts(src.as_ptr() as *const O, src.len()) };
        dst.copy_from_slice(&same[..dst.len()]);
        return;
    }
    crate::simd::avx2(
        #[inline(always)]
        || {
            for (o, v) in dst.iter_mut().zip(src) {
                *o = O::from_f64(v.to_f64());
            }
        },
    )
}

/// An array element type: u8, u16, i16, i32, f32 or f64.
///
/// Conversion from the kernel's f64 result to an integer type rounds half to even (as numpy's
/// `rint`) and saturates at the type's limits; NaN becomes 0. (scipy truncates instead.)
pub trait Element:
    crate::select::Lane + Copy + Send + Sync + PartialOrd + std::fmt::Debug + 'static
{
    const NAME: &'static str;
    /// The lowest and highest values: the identities of `max` and `min`.
    const LOWEST: Self;
    const HIGHEST: Self;
    /// Histogram keys of an integer type ([`Element::key`] is below it); 0 when the type has
    /// too many values to histogram (i32) or is a float.
    const KEYS: usize;
    fn to_f64(self) -> f64;
    fn from_f64(v: f64) -> Self;
    /// `a` itself when this type is f64: read as f64 without a copy.
    fn as_f64<'a>(_a: &ndarray::ArrayViewD<'a, Self>) -> Option<ndarray::ArrayViewD<'a, f64>> {
        None
    }
    /// `s` itself when this type is f64: results written into it in place of a copy.
    fn as_f64_mut(_s: &mut [Self]) -> Option<&mut [f64]> {
        None
    }
    /// `v` in this type if it is an integer type that holds `v` exactly (native paths pad with
    /// it); `None` for floats, which stay on the f64 paths that handle NaN.
    fn exact(v: f64) -> Option<Self>;
    /// `self − LOWEST`, the histogram key of an integer with `KEYS > 0`.
    fn key(self) -> u32;
    /// The value in an i32 lane of the native window sums, which run on integer types of at
    /// most 32 bits alone (floats never reach them).
    #[inline]
    fn lane(self) -> i32 {
        self.to_f64() as i32
    }
    /// A whole number within this type's range, from an i32 lane: a plain conversion (no
    /// rounding or saturation to do).
    #[inline]
    fn from_lane(v: i32) -> Self {
        Self::from_f64(v as f64)
    }
    /// A result array's `n` values, every one of which the caller writes before reading any:
    /// zeros here; for the number types not cleared, and a result's buffer kept from an
    /// earlier application where one of about this size is ([`Element::recycle`]).
    fn buffer(n: usize) -> Vec<Self> {
        vec![Self::from_f64(0.0); n]
    }
    /// Hands back a result's values that nothing reads any more (a binding's array being
    /// freed), for [`Element::buffer`] to reuse: large buffers are kept, within a bound (256
    /// MiB in all), and so are not faulted in again where the allocator would give their memory
    /// back to the system. Dropped here.
    ///
    /// ```
    /// use jitfilter::Element;
    /// let big = f64::buffer(1 << 20);
    /// let at = big.as_ptr();
    /// f64::recycle(big);
    /// assert_eq!(f64::buffer(1 << 20).as_ptr(), at);
    /// ```
    fn recycle(v: Vec<Self>) {
        drop(v);
    }
}

/// 2^52: adding it to a smaller magnitude drops the fraction, rounding half to even.
const BIG: f64 = 4_503_599_627_370_496.0;

macro_rules! int_element {
    ($($t:ty: $keys:expr),*) => {$(
        impl Element for $t {
            const NAME: &'static str = stringify!($t);
            const LOWEST: Self = <$t>::MIN;
            const HIGHEST: Self = <$t>::MAX;
            const KEYS: usize = $keys;
            #[inline]
            fn to_f64(self) -> f64 { self as f64 }
            #[inline]
            fn from_f64(v: f64) -> Self {
                // Clamped first, then rounded: the same as rounding then saturating (the
                // limits are integers), and branch-free, so that whole rows convert in SIMD
                // registers. NaN (which `max` passes over) becomes 0.
                let c = v.max(<$t>::MIN as f64).min(<$t>::MAX as f64);
                let r = ((c.abs() + BIG) - BIG).copysign(c);
                let r = if v.is_nan() { 0.0 } else { r };
                // SAFETY: r is a whole number within the type's range.
                unsafe { r.to_int_unchecked::<$t>() }
            }
            fn exact(v: f64) -> Option<Self> {
                let t = v as $t;
                (t as f64 == v).then_some(t)
            }
            #[inline]
            fn key(self) -> u32 { (self as i64 - <$t>::MIN as i64) as u32 }
            #[inline]
            fn lane(self) -> i32 { self as i32 }
            #[inline]
            fn from_lane(v: i32) -> Self { v as $t }
            fn buffer(n: usize) -> Vec<Self> { crate::spare::reuse(n) }
            fn recycle(v: Vec<Self>) { crate::spare::keep(v) }
        }
    )*};
}
int_element!(u8: 1 << 8, u16: 1 << 16, i16: 1 << 16, i32: 0);

impl Element for f32 {
    const NAME: &'static str = "f32";
    const LOWEST: Self = f32::NEG_INFINITY;
    const HIGHEST: Self = f32::INFINITY;
    const KEYS: usize = 0;
    #[inline]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline]
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn exact(_: f64) -> Option<Self> {
        None
    }
    fn key(self) -> u32 {
        0
    }
    fn buffer(n: usize) -> Vec<Self> {
        crate::spare::reuse(n)
    }
    fn recycle(v: Vec<Self>) {
        crate::spare::keep(v)
    }
}

impl Element for f64 {
    const NAME: &'static str = "f64";
    const LOWEST: Self = f64::NEG_INFINITY;
    const HIGHEST: Self = f64::INFINITY;
    const KEYS: usize = 0;
    #[inline]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline]
    fn from_f64(v: f64) -> Self {
        v
    }
    fn as_f64<'a>(a: &ndarray::ArrayViewD<'a, f64>) -> Option<ndarray::ArrayViewD<'a, f64>> {
        Some(a.clone())
    }
    fn as_f64_mut(s: &mut [f64]) -> Option<&mut [f64]> {
        Some(s)
    }
    fn exact(_: f64) -> Option<Self> {
        None
    }
    fn key(self) -> u32 {
        0
    }
    fn buffer(n: usize) -> Vec<f64> {
        crate::spare::reuse(n)
    }
    fn recycle(v: Vec<f64>) {
        crate::spare::keep(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_conversion_rounds_half_even_and_saturates() {
        assert_eq!(u8::from_f64(2.5), 2);
        assert_eq!(u8::from_f64(3.5), 4);
        assert_eq!(u8::from_f64(-3.0), 0);
        assert_eq!(u8::from_f64(300.0), 255);
        assert_eq!(u8::from_f64(f64::NAN), 0);
        assert_eq!(i16::from_f64(f64::NEG_INFINITY), i16::MIN);
        assert_eq!(i32::from_f64(-2.5), -2);
        assert_eq!(u8::exact(7.0), Some(7));
        assert_eq!(
            (u8::exact(-1.0), u8::exact(0.5), u8::exact(f64::NAN)),
            (None, None, None)
        );
        assert_eq!(
            (i16::key(-32768), i16::key(0), u16::key(65535)),
            (0, 32768, 65535)
        );
        // Against rounding half to even, then Rust's saturating cast (NaN to 0): halves,
        // near-halves, the types' limits and beyond, huge values, infinities.
        let mut values: Vec<f64> = (-2000..2000)
            .map(|i| i as f64 * 0.25 + 1e-3 * (i % 3) as f64)
            .collect();
        for m in [
            255.0,
            65535.0,
            32767.0,
            -32768.0,
            2147483647.0,
            -2147483648.0,
        ] {
            values.extend([m - 0.5, m + 0.5, m + 0.49, m - 0.51, m + 1.0, m - 1.0]);
        }
        values.extend([
            1e300,
            -1e300,
            4.5e15,
            -4.5e15,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ]);
        values.extend([f64::NAN, -0.0, 0.5, -0.5, 1.5]);
        for v in values {
            let r = v.round_ties_even();
            assert_eq!(u8::from_f64(v), r as u8, "{v}");
            assert_eq!(u16::from_f64(v), r as u16, "{v}");
            assert_eq!(i16::from_f64(v), r as i16, "{v}");
            assert_eq!(i32::from_f64(v), r as i32, "{v}");
        }
    }
}
