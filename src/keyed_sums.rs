//! Sums of a weight looked up by a key of each pixel and its neighbour, computed natively for a
//! whole row. The bilateral filter is the example: `sum(g * w) / sum(g)` with `g = exp(spatial
//! − range)` split into an element table (one value per window element) and a keyed table (one
//! per value of the key `w − c`). A generated row function has 128-bit vectors and reads the
//! keyed table for two pixels through lane extracts; here four pixels share each AVX2 operation
//! and sixteen (eight with more than two sums) keep their sums in registers. `codegen/keyed.rs` decides which passes of a keyed
//! row function come here and builds the [`KeyedSums`] in the function's frame.
//!
//! The arithmetic is the row function's own, operation for operation (keys are exact integers,
//! `g = e · t`, each sum `s + g` or `s + g · v` from `-0` in footprint order, no fused
//! multiply-adds), so a pixel's results are the same bits whichever code computes them.

/// Most key terms and sums one pass may have to run here (more stay in generated code).
pub const MAX_TERMS: usize = 4;
pub const MAX_SUMS: usize = 4;

/// One term of a key: `w − c` (or `abs(w − c)`, see [`KeyedSums::abs`]) or `w`, of an input's
/// window `w` and an input's value `c` at the pixel.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Term {
    /// The window's base for column 0: element j of pixel x is `window[x + offs[j]]`.
    pub window: *const f64,
    /// The value at pixel x is `center[x]`; null when the term is the window value alone.
    pub center: *const f64,
}

/// What [`jf_keyed_sums`] computes: for each pixel x of the row and each sum s,
/// `out[s · width + x] = Σ_j g_j · v_s,j` (or `Σ_j g_j` when sum s has no window), where
/// `g_j = element[j] · keyed[key_j]` (or `keyed[key_j]` without element weights) and `key_j` is
/// the sum of the terms at element j.
#[repr(C)]
#[derive(Debug)]
pub struct KeyedSums {
    pub width: i64,
    /// Window elements, and each one's offset from the pixel in its block row.
    pub n: i64,
    pub offs: *const i64,
    /// One weight per window element, or null for none.
    pub element: *const f64,
    /// The keyed table, at the entry of key 0 (the row function's tables start at the lowest
    /// key of the stripe, which its keys never go below).
    pub keyed: *const f64,
    pub terms: i64,
    pub term: [Term; MAX_TERMS],
    /// Nonzero: every term is `abs(w − c)`.
    pub abs: i64,
    pub sums: i64,
    /// Per sum, the window base of the values it weights, or null for the weights alone.
    pub sum: [*const f64; MAX_SUMS],
    /// `sums` rows of `width` values.
    pub out: *mut f64,
}

/// Computes the sums of `a` for its whole row.
///
/// # Safety
/// Every pointer of `a` must be valid for what it describes: windows and centers readable at
/// every pixel of the row and every offset, keys inside the keyed table, `out` writable for
/// `sums × width` values.
pub unsafe extern "C" fn jf_keyed_sums(a: *const KeyedSums) {
    // SAFETY: the caller's contract.
    let a = unsafe { &*a };
    let width = a.width.max(0) as usize;
    #[allow(unused_mut)]
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 was just detected; the pointers are the caller's.
        done = unsafe { wide::dispatch(a, width) };
    }
    for x in done..width {
        // SAFETY: x is a pixel of the row.
        unsafe { pixel(a, x) };
    }
}

/// The sums of pixel `x`, one element after another.
///
/// # Safety
/// As [`jf_keyed_sums`], for a pixel `x` of the row.
unsafe fn pixel(a: &KeyedSums, x: usize) {
    let mut acc = [-0.0f64; MAX_SUMS];
    let (terms, sums) = (&a.term[..a.terms as usize], &a.sum[..a.sums as usize]);
    // SAFETY (the whole body): the caller's contract.
    unsafe {
        let centers: [f64; MAX_TERMS] = std::array::from_fn(|t| match terms.get(t) {
            Some(t) if !t.center.is_null() => *t.center.add(x),
            _ => 0.0,
        });
        for j in 0..a.n as usize {
            let o = (*a.offs.add(j) as isize) + x as isize;
            let mut key = 0.0;
            for (t, c) in terms.iter().zip(centers) {
                let d = *t.window.offset(o) - c;
                key += if a.abs != 0 { d.abs() } else { d };
            }
            // `keyed` may point outside the table (its lowest key need not be 0).
            let t = *a.keyed.wrapping_offset(key as isize);
            let g = if a.element.is_null() {
                t
            } else {
                *a.element.add(j) * t
            };
            for (s, &v) in acc.iter_mut().zip(sums) {
                *s += if v.is_null() { g } else { g * *v.offset(o) };
            }
        }
        for (s, v) in acc.iter().take(sums.len()).enumerate() {
            *a.out.add(s * a.width as usize + x) = *v;
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod wide {
    use super::{KeyedSums, MAX_SUMS, MAX_TERMS};
    use crate::codegen::SHIFTER;
    use std::arch::x86_64::*;

    const SHIFTER_BITS: i64 = SHIFTER.to_bits() as i64;

    thread_local! {
        /// Element weights of 1, for passes without any: `1 · t` is `t`, bit for bit.
        static ONES: std::cell::RefCell<Vec<f64>> = const { std::cell::RefCell::new(Vec::new()) };
    }

    /// Runs the AVX2 loop fitted to the pass's numbers of terms and sums; returns how many
    /// pixels (from column 0) it did.
    ///
    /// # Safety
    /// AVX2 must be available; as [`super::jf_keyed_sums`].
    pub(super) unsafe fn dispatch(a: &KeyedSums, width: usize) -> usize {
        // The weighted sums first, then the weights' own sum (at most one: the plan shares it).
        let sums = &a.sum[..a.sums as usize];
        let mut rows = [0; MAX_SUMS];
        let mut bases = [std::ptr::null(); MAX_SUMS];
        let mut weighted = 0;
        for (s, v) in sums.iter().enumerate().filter(|(_, v)| !v.is_null()) {
            (rows[weighted], bases[weighted]) = (s, *v);
            weighted += 1;
        }
        let plain = sums.len() - weighted;
        if let Some(s) = sums.iter().position(|v| v.is_null()) {
            rows[weighted] = s;
        }
        macro_rules! pick {
            ($($t:literal, $p:literal, $q:literal, $g:literal);*) => {
                match (a.terms, weighted, plain, a.abs != 0) {
                    // SAFETY: the caller's contract.
                    $(($t, $p, $q, false) => unsafe {
                        run::<$t, $p, $q, $g, false>(a, &bases, &rows, width)
                    },
                    ($t, $p, $q, true) => unsafe {
                        run::<$t, $p, $q, $g, true>(a, &bases, &rows, width)
                    },)*
                    _ => 0,
                }
            };
        }
        // Four vectors of four pixels keep two sums each in registers; more sums take two.
        pick!(1, 1, 0, 4; 1, 2, 0, 4; 1, 3, 0, 2; 1, 4, 0, 2; 1, 0, 1, 4; 1, 1, 1, 4; 1, 2, 1, 2; 1, 3, 1, 2;
              2, 1, 0, 4; 2, 2, 0, 4; 2, 3, 0, 2; 2, 4, 0, 2; 2, 0, 1, 4; 2, 1, 1, 4; 2, 2, 1, 2; 2, 3, 1, 2;
              3, 1, 0, 4; 3, 2, 0, 4; 3, 3, 0, 2; 3, 4, 0, 2; 3, 0, 1, 4; 3, 1, 1, 4; 3, 2, 1, 2; 3, 3, 1, 2;
              4, 1, 0, 4; 4, 2, 0, 4; 4, 3, 0, 2; 4, 4, 0, 2; 4, 0, 1, 4; 4, 1, 1, 4; 4, 2, 1, 2; 4, 3, 1, 2)
    }

    /// `G` vectors of four pixels at a time, `T` key terms (absolute when `ABS`), `P` weighted
    /// sums (of the windows at `bases`) and `Q` (0 or 1) sums of the weights alone; sum `i` goes
    /// to row `rows[i]`.
    #[target_feature(enable = "avx2")]
    unsafe fn run<
        const T: usize,
        const P: usize,
        const Q: usize,
        const G: usize,
        const ABS: bool,
    >(
        a: &KeyedSums,
        bases: &[*const f64; MAX_SUMS],
        rows: &[usize; MAX_SUMS],
        width: usize,
    ) -> usize {
        const { assert!(T <= MAX_TERMS && P + Q <= MAX_SUMS && Q <= 1) };
        let step = 4 * G;
        let n = a.n as usize;
        let sign = _mm256_set1_pd(-0.0);
        let shifter = _mm256_set1_pd(SHIFTER);
        // The entry of key k is at `biased + bits(k + SHIFTER)`.
        let biased = a.keyed.wrapping_offset(-SHIFTER_BITS as isize);
        let term = &a.term;
        let element = match a.element.is_null() {
            true => ONES.with_borrow_mut(|ones| {
                if ones.len() < n {
                    ones.resize(n, 1.0);
                }
                ones.as_ptr()
            }),
            false => a.element,
        };
        let mut x = 0;
        // SAFETY (the whole loop): the caller's contract, for pixels x .. x + step of the row.
        unsafe {
            while x + step <= width {
                let centers: [[__m256d; G]; T] = std::array::from_fn(|t| {
                    let c = term[t].center;
                    std::array::from_fn(|g| {
                        if c.is_null() {
                            _mm256_setzero_pd()
                        } else {
                            _mm256_loadu_pd(c.add(x + 4 * g))
                        }
                    })
                });
                // Without abs, key + SHIFTER = Σ w + (SHIFTER − Σ c): one addition per element
                // fewer, and the same bits (every value here is an integer below 2^31 in
                // magnitude, so every sum is exact).
                let shifted: [__m256d; G] = std::array::from_fn(|g| {
                    (0..T).fold(shifter, |s, t| _mm256_sub_pd(s, centers[t][g]))
                });
                let mut weighted = [[sign; G]; P];
                let mut plain = [[sign; G]; Q];
                for j in 0..n {
                    let o = *a.offs.add(j) as isize + x as isize;
                    let e = _mm256_set1_pd(*element.add(j));
                    for g in 0..G {
                        let at = o + 4 * g as isize;
                        let mut key = _mm256_setzero_pd();
                        for t in 0..T {
                            let w = _mm256_loadu_pd(term[t].window.offset(at));
                            let d = if ABS {
                                _mm256_andnot_pd(sign, _mm256_sub_pd(w, centers[t][g]))
                            } else {
                                w
                            };
                            key = if t == 0 { d } else { _mm256_add_pd(key, d) };
                        }
                        // The key's bits after adding SHIFTER, less SHIFTER's, are the key: read
                        // as 64-bit lanes they index the table with no conversion.
                        let key = if ABS {
                            _mm256_add_pd(key, shifter)
                        } else {
                            _mm256_add_pd(key, shifted[g])
                        };
                        let bits = _mm256_castpd_si256(key);
                        let (b01, b23) = (
                            _mm256_castsi256_si128(bits),
                            _mm256_extracti128_si256::<1>(bits),
                        );
                        let entry = |b: i64| biased.wrapping_offset(b as isize);
                        let lo = _mm_loadh_pd(
                            _mm_load_sd(entry(_mm_cvtsi128_si64(b01))),
                            entry(_mm_extract_epi64::<1>(b01)),
                        );
                        let hi = _mm_loadh_pd(
                            _mm_load_sd(entry(_mm_cvtsi128_si64(b23))),
                            entry(_mm_extract_epi64::<1>(b23)),
                        );
                        let t = _mm256_insertf128_pd::<1>(_mm256_castpd128_pd256(lo), hi);
                        let w = _mm256_mul_pd(e, t);
                        for (sums, base) in weighted.iter_mut().zip(bases) {
                            let v = _mm256_loadu_pd(base.offset(at));
                            sums[g] = _mm256_add_pd(sums[g], _mm256_mul_pd(w, v));
                        }
                        for sums in &mut plain {
                            sums[g] = _mm256_add_pd(sums[g], w);
                        }
                    }
                }
                for (row, sums) in rows.iter().zip(weighted.iter().chain(&plain)) {
                    for (g, v) in sums.iter().enumerate() {
                        _mm256_storeu_pd(a.out.add(row * width + x + 4 * g), *v);
                    }
                }
                x += step;
            }
        }
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bilateral-shaped pass over a random integer row, by this module and by a direct
    /// evaluation in the same operation order: the same bits, in the AVX2 part and the tail.
    #[test]
    fn sums_equal_a_direct_evaluation_bit_for_bit() {
        let mut seed = 7u64;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as f64
        };
        let (width, pad) = (37usize, 3i64);
        let offs: Vec<i64> = (-pad..=pad).flat_map(|d| [d - 40, d, d + 40]).collect();
        let len = 200;
        let blocks: Vec<Vec<f64>> = (0..3)
            .map(|_| (0..len).map(|_| (next() as u64 % 50) as f64).collect())
            .collect();
        let element: Vec<f64> = offs.iter().map(|_| next() / 1e9).collect();
        // Keys from −150 to 150: the table at key 0 is 150 entries in.
        let table: Vec<f64> = (-150..=150)
            .map(|k| (-(k * k) as f64 / 900.0).exp())
            .collect();
        let base = 80; // column 0 of the row in each block
        let at = |b: &Vec<f64>| b[base..].as_ptr();
        // (block, with a center) per term, abs, element weights: the bilateral filter's key, the
        // colour distance's, and a window value alone without element weights.
        for (spec, abs, element_weights) in [
            (vec![(0, true)], false, true),
            (vec![(0, true), (1, true), (2, true)], true, true),
            (vec![(1, false)], false, false),
        ] {
            let terms: Vec<Term> = (spec.iter())
                .map(|&(b, centered)| Term {
                    window: at(&blocks[b]),
                    center: if centered {
                        at(&blocks[b])
                    } else {
                        std::ptr::null()
                    },
                })
                .collect();
            let sums = [at(&blocks[0]), std::ptr::null(), at(&blocks[2])];
            let mut out = vec![0.0; sums.len() * width];
            let mut a = KeyedSums {
                width: width as i64,
                n: offs.len() as i64,
                offs: offs.as_ptr(),
                element: if element_weights {
                    element.as_ptr()
                } else {
                    std::ptr::null()
                },
                keyed: table[150..].as_ptr(),
                terms: terms.len() as i64,
                term: [terms[0]; MAX_TERMS],
                abs: abs as i64,
                sums: sums.len() as i64,
                sum: [std::ptr::null(); MAX_SUMS],
                out: out.as_mut_ptr(),
            };
            a.term[..terms.len()].copy_from_slice(&terms);
            a.sum[..sums.len()].copy_from_slice(&sums);
            unsafe { jf_keyed_sums(&a) };
            for x in 0..width {
                let mut want = [-0.0f64; 3];
                for (j, &o) in offs.iter().enumerate() {
                    let i = (base as i64 + x as i64 + o) as usize;
                    let c = base + x;
                    let key: f64 = (spec.iter())
                        .map(|&(b, centered)| {
                            let d = blocks[b][i] - if centered { blocks[b][c] } else { 0.0 };
                            if abs {
                                d.abs()
                            } else {
                                d
                            }
                        })
                        .sum();
                    let t = table[(key as i64 + 150) as usize];
                    let g = if element_weights { element[j] * t } else { t };
                    want[0] += g * blocks[0][i];
                    want[1] += g;
                    want[2] += g * blocks[2][i];
                }
                for s in 0..3 {
                    assert_eq!(
                        out[s * width + x].to_bits(),
                        want[s].to_bits(),
                        "sum {s} at {x} with {} terms",
                        terms.len()
                    );
                }
            }
        }
    }
}
