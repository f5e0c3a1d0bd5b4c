//! Runtime CPU dispatch for the Rust-side hot loops (the planner's chord sums and running
//! extremes). The crate is built for baseline x86-64 (SSE2) so the binary runs anywhere; a loop
//! run through [`avx2`] is compiled a second time with AVX2 enabled and picked when the CPU has
//! it, doubling the lanes of the vectorised loops. (JIT code already targets the host CPU.)
//! Prefix sums, which no compiler vectorises (each depends on the last), are written here with
//! AVX2 intrinsics: a vector's prefix by shifted adds, then the total so far, so that the chain
//! of dependent additions is one per vector instead of one per value.

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

/// Runs `f`, compiled with AVX-512 when the CPU supports it, else as [`avx2`] does.
#[inline(always)]
pub fn avx512<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f")]
        fn wide<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU was just checked to support AVX-512F.
            return unsafe { wide(f) };
        }
    }
    avx2(f)
}

/// Clears the upper halves of the vector registers (`vzeroupper`) before entering compiled
/// kernel code. Cranelift mixes legacy SSE encodings (`movdqa`, `movsd`) into its AVX code, and
/// each of those waits on a merge with the upper halves while they are marked in use — which
/// they were on entry to the row functions here, by nothing the row loop ran (every AVX2 section
/// of ours ends with `vzeroupper`): the fused `sum(w)` over three cells of a float32 image took
/// 5.3 ms instead of 0.23 ms. Called per row function call; not per pixel (the callback
/// engine's per-pixel calls showed no such wait, and paid 16% for the check). A no-op without
/// AVX.
#[inline(always)]
pub fn clean_upper() {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: the CPU supports AVX; the instruction changes no value a caller holds (Rust
        // code keeps nothing in the upper halves across this call).
        unsafe { std::arch::x86_64::_mm256_zeroupper() };
    }
}

/// `v[i] = v[0] + … + v[i]`, wrapping.
pub fn prefix_i32(v: &mut [i32]) {
    let (mut done, mut s) = (0, 0i32);
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2.
        (done, s) = unsafe { prefix_i32_avx2(v) };
    }
    for x in &mut v[done..] {
        s = s.wrapping_add(*x);
        *x = s;
    }
}

/// [`prefix_i32`] over the whole vectors of eight lanes at the start of `v`: how many values it
/// summed, and their total.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn prefix_i32_avx2(v: &mut [i32]) -> (usize, i32) {
    use std::arch::x86_64::*;
    let n = v.len() / 8 * 8;
    let p = v.as_mut_ptr();
    let mut carry = _mm256_setzero_si256();
    let last = _mm256_set1_epi32(7);
    let mut i = 0;
    while i < n {
        // SAFETY: i + 8 <= n <= v.len().
        let at = unsafe { p.add(i) } as *mut __m256i;
        let mut x = unsafe { _mm256_loadu_si256(at) };
        // Shifted adds within each 128-bit half, then the low half's total (its last lane,
        // broadcast over the high half) added to the high half.
        x = _mm256_add_epi32(x, _mm256_slli_si256::<4>(x));
        x = _mm256_add_epi32(x, _mm256_slli_si256::<8>(x));
        let low = _mm256_shuffle_epi32::<0xFF>(_mm256_permute2x128_si256::<0x08>(x, x));
        x = _mm256_add_epi32(_mm256_add_epi32(x, low), carry);
        // SAFETY: as above.
        unsafe { _mm256_storeu_si256(at, x) };
        carry = _mm256_permutevar8x32_epi32(x, last);
        i += 8;
    }
    (n, _mm256_cvtsi256_si32(carry))
}

/// `dst[i] = src[0] + … + src[i]` for values whose every partial sum, in any order, is exact
/// (integers whose magnitudes total below 2⁵³): vectors add in another order than one by one.
pub fn prefix_exact_f64(src: &[f64], dst: &mut [std::mem::MaybeUninit<f64>]) {
    assert_eq!(src.len(), dst.len());
    let (mut done, mut s) = (0, 0.0);
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2.
        (done, s) = unsafe { prefix_exact_f64_avx2(src, dst) };
    }
    for (d, v) in dst[done..].iter_mut().zip(&src[done..]) {
        s += v;
        d.write(s);
    }
}

/// [`prefix_exact_f64`] over the whole vectors of four lanes at the start of `src`: how many
/// values it summed, and their total.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn prefix_exact_f64_avx2(
    src: &[f64],
    dst: &mut [std::mem::MaybeUninit<f64>],
) -> (usize, f64) {
    use std::arch::x86_64::*;
    let n = src.len() / 4 * 4;
    let zero = _mm256_setzero_pd();
    let mut carry = zero;
    let mut i = 0;
    while i < n {
        // SAFETY: i + 4 <= n <= src.len() = dst.len().
        let mut x = unsafe { _mm256_loadu_pd(src.as_ptr().add(i)) };
        // [a, b, c, d] + [0, a, b, c], then + [0, 0, a, a + b].
        let one = _mm256_blend_pd::<0b0001>(_mm256_permute4x64_pd::<0b10_01_00_00>(x), zero);
        x = _mm256_add_pd(x, one);
        x = _mm256_add_pd(x, _mm256_permute2f128_pd::<0x08>(x, x));
        x = _mm256_add_pd(x, carry);
        // SAFETY: as above.
        unsafe { _mm256_storeu_pd(dst.as_mut_ptr().add(i).cast::<f64>(), x) };
        carry = _mm256_permute4x64_pd::<0xFF>(x);
        i += 4;
    }
    (n, _mm256_cvtsd_f64(carry))
}

/// `lanes[i × 8 + k] = rows[k × stride + i]` for `i < n`: eight rows side by side, a vector of
/// the eight per position — the layout in which running sums along rows advance eight lines at
/// once (`crate::lines`).
pub fn to_lanes(rows: &[f64], stride: usize, n: usize, lanes: &mut [f64]) {
    assert!(stride >= n && rows.len() >= 7 * stride + n && lanes.len() >= 8 * n);
    // SAFETY: the bounds were just checked; `rows` is only read.
    unsafe {
        transpose8(
            rows.as_ptr().cast_mut(),
            stride,
            lanes.as_mut_ptr(),
            n,
            true,
        )
    }
}

/// The inverse of [`to_lanes`]: `rows[k × stride + i] = lanes[i × 8 + k]` for `i < n`.
pub fn from_lanes(lanes: &[f64], rows: &mut [f64], stride: usize, n: usize) {
    assert!(stride >= n && rows.len() >= 7 * stride + n && lanes.len() >= 8 * n);
    // SAFETY: the bounds were just checked; `lanes` is only read.
    unsafe {
        transpose8(
            rows.as_mut_ptr(),
            stride,
            lanes.as_ptr().cast_mut(),
            n,
            false,
        )
    }
}

/// [`to_lanes`] (`into_lanes`) or [`from_lanes`]: blocks of four positions by 4×4 transposes
/// of AVX2 registers (values moved one by one took a third of a running sum's time), the rest
/// one by one.
///
/// # Safety
/// Rows `0..8` of `n` values `stride` apart from `rows`, and `8 × n` values from `lanes`, are
/// valid; the one read is not written.
unsafe fn transpose8(rows: *mut f64, stride: usize, lanes: *mut f64, n: usize, into_lanes: bool) {
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2; the caller's bounds.
        done = unsafe { transpose8_avx2(rows, stride, lanes, n, into_lanes) };
    }
    for i in done..n {
        for k in 0..8 {
            // SAFETY: i < n, k < 8: within the caller's bounds.
            unsafe {
                let (row, lane) = (rows.add(k * stride + i), lanes.add(i * 8 + k));
                if into_lanes {
                    *lane = *row;
                } else {
                    *row = *lane;
                }
            }
        }
    }
}

/// [`transpose8`]'s whole blocks of four positions: how many positions it moved.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn transpose8_avx2(
    rows: *mut f64,
    stride: usize,
    lanes: *mut f64,
    n: usize,
    into_lanes: bool,
) -> usize {
    use std::arch::x86_64::*;
    let mut i = 0;
    while i + 4 <= n {
        for half in 0..2 {
            // (read, written) for vector j: row half × 4 + j < 8 at positions i..i + 4 <= n,
            // and the lanes of position i + j < n, within the caller's bounds. (No closures:
            // they are not compiled with this function's AVX2.)
            let mut at = [(rows, lanes); 4];
            for (j, at) in at.iter_mut().enumerate() {
                // SAFETY: as above.
                let (row, lane) = unsafe {
                    (
                        rows.add((half * 4 + j) * stride + i),
                        lanes.add((i + j) * 8 + half * 4),
                    )
                };
                *at = if into_lanes { (row, lane) } else { (lane, row) };
            }
            // SAFETY: as above.
            let v = unsafe {
                [
                    _mm256_loadu_pd(at[0].0),
                    _mm256_loadu_pd(at[1].0),
                    _mm256_loadu_pd(at[2].0),
                    _mm256_loadu_pd(at[3].0),
                ]
            };
            // [a0 b0 a2 b2], [a1 b1 a3 b3], [c0 d0 c2 d2], [c1 d1 c3 d3]; then their halves.
            let (t0, t1) = (
                _mm256_unpacklo_pd(v[0], v[1]),
                _mm256_unpackhi_pd(v[0], v[1]),
            );
            let (t2, t3) = (
                _mm256_unpacklo_pd(v[2], v[3]),
                _mm256_unpackhi_pd(v[2], v[3]),
            );
            // SAFETY: as above.
            unsafe {
                _mm256_storeu_pd(at[0].1, _mm256_permute2f128_pd::<0x20>(t0, t2));
                _mm256_storeu_pd(at[1].1, _mm256_permute2f128_pd::<0x20>(t1, t3));
                _mm256_storeu_pd(at[2].1, _mm256_permute2f128_pd::<0x31>(t0, t2));
                _mm256_storeu_pd(at[3].1, _mm256_permute2f128_pd::<0x31>(t1, t3));
            }
        }
        i += 4;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector scans against one-by-one sums, for every length around their steps; i32 sums
    /// that wrap, f64 integers (exact in any order).
    #[test]
    fn prefix_sums_match_one_by_one() {
        for n in 0..40 {
            let v: Vec<i32> = (0..n).map(|i| (i as i32 - 7) * 300_000_007).collect();
            let mut want = v.clone();
            for i in 1..n {
                want[i] = want[i].wrapping_add(want[i - 1]);
            }
            let mut got = v.clone();
            prefix_i32(&mut got);
            assert_eq!(got, want, "i32, length {n}");
            let f: Vec<f64> = (0..n).map(|i| ((i * 7919) % 201) as f64 - 100.0).collect();
            let mut out = vec![std::mem::MaybeUninit::uninit(); n];
            prefix_exact_f64(&f, &mut out);
            let mut s = 0.0;
            for i in 0..n {
                s += f[i];
                // SAFETY: every entry was written.
                assert_eq!(unsafe { out[i].assume_init() }, s, "f64, length {n} at {i}");
            }
        }
    }

    /// Rows into lanes and back, against the definition, for every length around the blocks.
    #[test]
    fn lanes_are_rows_side_by_side() {
        for n in 0..13 {
            let stride = n + 3;
            let rows: Vec<f64> = (0..8 * stride).map(|v| v as f64 * 1.5 - 7.0).collect();
            let mut lanes = vec![f64::NAN; 8 * n];
            to_lanes(&rows, stride, n, &mut lanes);
            for i in 0..n {
                for k in 0..8 {
                    assert_eq!(
                        lanes[i * 8 + k],
                        rows[k * stride + i],
                        "length {n}, {i}, {k}"
                    );
                }
            }
            let mut back = vec![-1.0; 8 * stride];
            from_lanes(&lanes, &mut back, stride, n);
            for (j, (b, r)) in back.iter().zip(&rows).enumerate() {
                let want = if j % stride < n { *r } else { -1.0 };
                assert_eq!(*b, want, "length {n}, back at {j}");
            }
        }
    }
}
