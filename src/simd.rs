//! Runtime CPU dispatch for the Rust-side hot loops (the planner's chord sums and running
//! extremes). The crate is built for baseline x86-64 (SSE2) so the binary runs anywhere; a loop
//! run through [`avx2`] is compiled a second time with AVX2 enabled and picked when the CPU has
//! it, doubling the lanes of the vectorised loops. (JIT code already targets the host CPU.)
//! Prefix sums, which no compiler vectorises (each depends on the last), are written here with
//! AVX2 intrinsics: a vector's prefix by shifted adds, then the total so far, so that the chain
//! of dependent additions is one per vector instead of one per value.

use crate::dtype::Element;

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

/// Values each line of [`running_means`] has after its own (any values but subnormal ones,
/// which are slow): its last block of four positions is made whole.
pub(crate) const PAST: usize = 3;

/// Running means along eight lines, in scipy's `uniform_filter1d` arithmetic: line `k` is
/// `ext[k × el..]` (the line extended by the window: `n + size − 1` values, then [`PAST`]
/// more), its means go to `means[k × n..][..n]`. Per line the sum `t` is the first `size`
/// values added in order from +0, then per position `t += enter − leave`; each mean is
/// `t / d`. The lines advance side by side: 4×4 transposes of AVX2 registers turn four positions of four lines into four vectors
/// of one position each (each sum's additions depend on the last; the lines do not), and back.
/// Each mean is stored as [`crate::lines::store`] stores it (`truncate`).
pub(crate) fn running_means<O: Element>(
    ext: &[f64],
    el: usize,
    n: usize,
    size: usize,
    means: &mut [O],
    truncate: bool,
) {
    let d = size as f64;
    assert!(n >= 1 && size >= 1 && el >= n + size - 1 + PAST);
    assert!(ext.len() >= 8 * el && means.len() >= 8 * n);
    let (add, store) = (crate::lines::add, crate::lines::store::<O>);
    let mut t = [0.0f64; 8];
    for (k, t) in t.iter_mut().enumerate() {
        *t = ext[k * el..][..size].iter().fold(0.0, |t, v| add(t, *v));
        means[k * n] = store(*t / d, truncate);
    }
    let mut done = 1;
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2; the bounds were checked above.
        done = unsafe { running_means_avx2(ext, el, n, size, means, truncate, &mut t) };
    }
    for (k, t) in t.iter_mut().enumerate() {
        let line = &ext[k * el..];
        for j in done..n {
            *t = add(*t, line[j + size - 1] - line[j - 1]);
            means[k * n + j] = store(*t / d, truncate);
        }
    }
}

/// [`running_means`] over blocks of four positions from position 1 (the last one's means
/// past `n` not stored), the sums `t` carried in and out: the position it stopped at.
///
/// # Safety
/// [`running_means`]'s bounds hold.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn running_means_avx2<O: Element>(
    ext: &[f64],
    el: usize,
    n: usize,
    size: usize,
    means: &mut [O],
    truncate: bool,
    t: &mut [f64; 8],
) -> usize {
    use std::arch::x86_64::*;
    let (src, dst) = (ext.as_ptr(), means.as_mut_ptr());
    let dv = _mm256_set1_pd(size as f64);
    // SAFETY: `t` holds eight values.
    let mut sums = unsafe {
        [
            _mm256_loadu_pd(t.as_ptr()),
            _mm256_loadu_pd(t.as_ptr().add(4)),
        ]
    };
    let mut j = 1;
    while j < n {
        for (h, sum) in sums.iter_mut().enumerate() {
            // Lines 4h..4h + 4, positions j..j + 4: entering minus leaving values. (No
            // closures: they are not compiled with this function's AVX2.)
            let mut r = [_mm256_setzero_pd(); 4];
            for (i, r) in r.iter_mut().enumerate() {
                // SAFETY: line 4h + i < 8 holds values up to j + 3 + size − 1 < n + size − 1
                // + PAST.
                unsafe {
                    let line = src.add((h * 4 + i) * el);
                    *r = _mm256_sub_pd(
                        _mm256_loadu_pd(line.add(j + size - 1)),
                        _mm256_loadu_pd(line.add(j - 1)),
                    );
                }
            }
            let mut v = transpose4(r);
            for v in &mut v {
                // A NaN sum stays the NaN it is (x86 keeps the first operand's NaN, as
                // scipy's `tmp += …` does; the compiler may swap an addition's operands).
                let nan = _mm256_cmp_pd::<_CMP_UNORD_Q>(*sum, *sum);
                *sum = _mm256_blendv_pd(_mm256_add_pd(*sum, *v), *sum, nan);
                *v = *sum;
            }
            for (i, m) in transpose4(v).into_iter().enumerate() {
                let mut q = [0.0f64; 4];
                // SAFETY: four values.
                unsafe { _mm256_storeu_pd(q.as_mut_ptr(), _mm256_div_pd(m, dv)) };
                // SAFETY: means of line 4h + i < 8 at positions j + x < n.
                let at = |x: usize| unsafe { dst.add((h * 4 + i) * n + j + x) };
                if j + 4 <= n {
                    // A whole block: four stores of a constant count, which compile to one
                    // vector store (a count that varies compiled to a call of `memcpy`, a
                    // fifth of the pass's time).
                    for (x, q) in q.into_iter().enumerate() {
                        unsafe { *at(x) = crate::lines::store(q, truncate) };
                    }
                } else {
                    for (x, q) in q.into_iter().enumerate().take(n - j) {
                        unsafe { *at(x) = crate::lines::store(q, truncate) };
                    }
                }
            }
        }
        j += 4;
    }
    // SAFETY: `t` holds eight values.
    unsafe {
        _mm256_storeu_pd(t.as_mut_ptr(), sums[0]);
        _mm256_storeu_pd(t.as_mut_ptr().add(4), sums[1]);
    }
    j
}

/// Rows of a 4×4 block of f64 into its columns (and back: it is its own inverse).
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx2")]
fn transpose4(v: [std::arch::x86_64::__m256d; 4]) -> [std::arch::x86_64::__m256d; 4] {
    use std::arch::x86_64::*;
    // [a0 b0 a2 b2], [a1 b1 a3 b3], [c0 d0 c2 d2], [c1 d1 c3 d3]; then their halves.
    let (t0, t1) = (
        _mm256_unpacklo_pd(v[0], v[1]),
        _mm256_unpackhi_pd(v[0], v[1]),
    );
    let (t2, t3) = (
        _mm256_unpacklo_pd(v[2], v[3]),
        _mm256_unpackhi_pd(v[2], v[3]),
    );
    [
        _mm256_permute2f128_pd::<0x20>(t0, t2),
        _mm256_permute2f128_pd::<0x20>(t1, t3),
        _mm256_permute2f128_pd::<0x31>(t0, t2),
        _mm256_permute2f128_pd::<0x31>(t1, t3),
    ]
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
}
