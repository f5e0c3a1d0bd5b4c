//! Runtime CPU dispatch for the Rust-side hot loops (the planner's chord sums and running
//! extremes). The crate is built for baseline x86-64 (SSE2) so the binary runs anywhere; a loop
//! run through [`avx2`] is compiled a second time with AVX2 enabled and picked when the CPU has
//! it, doubling the lanes of the vectorised loops. (JIT code already targets the host CPU.)

/// Runs `f`, compiled with AVX2 when the CPU supports it. The wider code applies only to what
/// is inlined here: pass an `#[inline(always)]` closure calling `#[inline(always)]` loops.
#[inline(always)]
pub fn avx2<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2")]
        fn wide<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU was just checked to support AVX2.
            return unsafe { wide(f) };
        }
    }
    f()
}
