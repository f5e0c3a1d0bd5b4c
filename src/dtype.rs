//! Element types the engine reads and writes, and the conversion rules between them and f64.

/// An array element type: u8, u16, i16, i32, f32 or f64.
///
/// Conversion from the kernel's f64 result to an integer type rounds half to even (as numpy's
/// `rint`) and saturates at the type's limits; NaN becomes 0. (scipy truncates instead.)
pub trait Element: Copy + Send + Sync + std::fmt::Debug + 'static {
    const NAME: &'static str;
    fn to_f64(self) -> f64;
    fn from_f64(v: f64) -> Self;
}

macro_rules! int_element {
    ($($t:ty),*) => {$(
        impl Element for $t {
            const NAME: &'static str = stringify!($t);
            #[inline]
            fn to_f64(self) -> f64 { self as f64 }
            #[inline]
            // `as` from float saturates and maps NaN to 0.
            fn from_f64(v: f64) -> Self { v.round_ties_even() as $t }
        }
    )*};
}
int_element!(u8, u16, i16, i32);

impl Element for f32 {
    const NAME: &'static str = "f32";
    #[inline]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline]
    fn from_f64(v: f64) -> Self {
        v as f32
    }
}

impl Element for f64 {
    const NAME: &'static str = "f64";
    #[inline]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline]
    fn from_f64(v: f64) -> Self {
        v
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
    }
}
