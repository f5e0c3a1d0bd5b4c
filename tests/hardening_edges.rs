//! Edge arrays through every engine, against scipy: 0×N, 1×1, 1-D of length 1, footprints larger
//! than the array in every mode, even footprints, origins at both of scipy's limits, all-NaN
//! windows (tests/fixtures/edge_cases.json, made by tests/fixtures/gen_edge_fixtures.py with
//! scipy.ndimage.generic_filter). Origins one past either limit are errors, as in scipy.

mod golden;

use golden::close;
use jitfilter::{Engine, Error, Footprint, Kernel, Mode, Options};
use ndarray::{Array1, Array2, ArrayD, Dimension, IxDyn};

const ENGINES: [Engine; 4] = [
    Engine::Interpreter,
    Engine::Callback,
    Engine::Fused,
    Engine::Auto,
];

#[test]
fn interpreter_matches_scipy_on_edge_arrays() {
    golden::run_all("edge_cases.json", 100, Engine::Interpreter);
}

#[test]
fn callback_matches_scipy_on_edge_arrays() {
    golden::run_all("edge_cases.json", 100, Engine::Callback);
}

#[test]
fn fused_matches_scipy_on_edge_arrays() {
    golden::run_all("edge_cases.json", 100, Engine::Fused);
}

#[test]
fn auto_matches_scipy_on_edge_arrays() {
    golden::run_all("edge_cases.json", 100, Engine::Auto);
}

/// scipy's limits are `-(f//2) <= o <= (f-1)//2`; both limits work (covered by the fixtures),
/// one past either is an error naming the axis, in every engine, for 1-D, 2-D and 3-D.
#[test]
fn origin_one_past_either_limit_is_an_error() {
    let k = Kernel::compile("sum(w)").unwrap();
    for f in 1..=6usize {
        let (lo, hi) = (-((f / 2) as isize), (f as isize - 1) / 2);
        for engine in ENGINES {
            let opts = |o: &[isize]| Options::default().origin(o).engine(engine);
            let a1 = Array1::<f64>::ones(7);
            for o in [lo, hi] {
                assert!(k
                    .filter(a1.view(), &Footprint::cube(f), &opts(&[o]))
                    .is_ok());
            }
            for o in [lo - 1, hi + 1] {
                let err = k
                    .filter(a1.view(), &Footprint::cube(f), &opts(&[o]))
                    .unwrap_err();
                assert!(matches!(err, Error::Origin { .. }), "f={f} o={o}: {err}");
                let a2 = Array2::<u8>::ones((4, 5));
                // Per axis: only the second axis is out of range.
                let err = k
                    .filter(a2.view(), &Footprint::cube(f), &opts(&[0, o]))
                    .unwrap_err();
                assert!(matches!(err, Error::Origin { axis: 1, .. }), "{err}");
                let a3 = ArrayD::<f32>::ones(IxDyn(&[2, 3, 4]));
                let err = k
                    .filter(a3.view(), &Footprint::cube(f), &opts(&[o]))
                    .unwrap_err();
                assert!(matches!(err, Error::Origin { .. }), "{err}");
            }
        }
    }
}

/// Arrays and footprints scipy has no fixture for: empty along any axis with a huge footprint,
/// 1-element arrays with even footprints, footprints of more dimensions than the array, an
/// empty footprint, 4-D arrays: all an answer or a typed error, identical across engines.
#[test]
fn odd_shapes_agree_across_engines_or_fail_cleanly() {
    let k = Kernel::compile("sum(w * (i + 1)) + 10 * c").unwrap();
    let shapes: &[&[usize]] = &[
        &[0],
        &[1],
        &[0, 0],
        &[1, 0],
        &[1, 1],
        &[3, 1],
        &[1, 1, 1],
        &[0, 3, 3],
    ];
    let footprints = [
        Footprint::cube(1),
        Footprint::cube(2),
        Footprint::cube(9),
        Footprint::from_weights(ArrayD::zeros(IxDyn(&[3, 3])).view()),
        Footprint::from_weights(ArrayD::ones(IxDyn(&[2, 2, 2])).view()),
    ];
    for shape in shapes {
        let input = ArrayD::from_shape_fn(IxDyn(shape), |i| i.slice().iter().sum::<usize>() as f64);
        for fp in &footprints {
            for mode in Mode::NAMES {
                let results: Vec<_> = ENGINES
                    .iter()
                    .map(|&e| {
                        let opts = Options::default()
                            .mode(mode.parse().unwrap())
                            .cval(-1.0)
                            .engine(e);
                        k.filter(input.view(), fp, &opts).map_err(|e| e.to_string())
                    })
                    .collect();
                for r in &results[1..] {
                    match (&results[0], r) {
                        (Ok(a), Ok(b)) => assert!(
                            a.iter().zip(b.iter()).all(|(x, y)| close(*y, *x)),
                            "{shape:?} {fp:?} {mode}: {a} vs {b}"
                        ),
                        (Err(a), Err(b)) => assert_eq!(a, b),
                        (a, b) => panic!("{shape:?} {fp:?} {mode}: {a:?} vs {b:?}"),
                    }
                }
            }
        }
    }
    let too_many = ArrayD::<f64>::zeros(IxDyn(&[1; 33]));
    for e in ENGINES {
        let err = k
            .filter(
                too_many.view(),
                &Footprint::cube(1),
                &Options::default().engine(e),
            )
            .unwrap_err();
        assert!(err.to_string().contains("1 to 32 dimensions"), "{err}");
    }
}

/// `var`/`std` with a NaN `ddof` (a param set to NaN): numpy's divisor is
/// `np.maximum(n - ddof, 0)` = NaN, so the result is NaN, which the callback, fused and auto
/// engines give. The interpreter (src/interp.rs `variance`, `(n - ddof).max(0.0)`) gives `inf`,
/// because `f64::max` drops the NaN.
#[test]
fn variance_with_nan_ddof_is_nan_in_every_engine() {
    let input = Array1::<f64>::from(vec![1.0, 2.0, 4.0, 8.0, 3.0]);
    for src in ["var(w, t)", "std(w, t)", "nanvar(w, t)", "nanstd(w, t)"] {
        let k = Kernel::compile(&format!("param t = 0; {src}")).unwrap();
        for engine in ENGINES {
            let opts = Options::default().param("t", f64::NAN).engine(engine);
            let out = k.filter(input.view(), &Footprint::cube(3), &opts).unwrap();
            assert!(out.iter().all(|v| v.is_nan()), "{src} {engine:?}: {out}");
        }
    }
}

/// numpy: `var(x, ddof)` with `ddof >= n` is inf (0/0 aside), `-inf` ddof gives 0; every engine
/// agrees with that.
#[test]
fn variance_ddof_edges_match_numpy() {
    let input = Array1::<f64>::from(vec![2.0, 4.0, 8.0]);
    // (expression, ddof, numpy at the middle element, window [2, 4, 8])
    let cases = [
        ("var(w, t)", 3.0, f64::INFINITY),
        ("var(w, t)", 7.0, f64::INFINITY),
        ("var(w, t)", f64::INFINITY, f64::INFINITY),
        ("var(w, t)", f64::NEG_INFINITY, 0.0),
        ("std(w, t)", 3.0, f64::INFINITY),
        ("var(w * 0, t)", 3.0, f64::NAN),
    ];
    for (src, ddof, want) in cases {
        let k = Kernel::compile(&format!("param t = 0; {src}")).unwrap();
        for engine in ENGINES {
            let opts = Options::default().param("t", ddof).engine(engine);
            let got = k
                .filter_as::<f64, f64, _>(input.view(), &Footprint::cube(3), &opts)
                .unwrap()[1];
            assert!(
                close(got, want),
                "{src} ddof {ddof} {engine:?}: {got}, numpy {want}"
            );
        }
    }
}

/// One huge finite value (|x| > 1.3e154, whose square overflows) poisons the planned `var`/`std`
/// of every window in its stripe, not only the windows that contain it: the auto engine gives
/// NaN where the interpreter, callback and fused engines (and numpy) give the variance. The
/// planner's prefix sums of squares (src/planes.rs, "Non-finite values are counted separately")
/// count NaN/±inf inputs separately, but not finite inputs whose *square* is infinite, so
/// `P[j] − P[i]` is `inf − inf`.
#[test]
fn huge_finite_values_only_affect_their_own_windows() {
    let input = Array1::<f64>::from(vec![1e300, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    for src in ["var(w)", "std(w)", "var(w, 1)", "mean(w)", "sum(w)"] {
        let k = Kernel::compile(src).unwrap();
        let want = k
            .filter(
                input.view(),
                &Footprint::cube(3),
                &Options::default().engine(Engine::Interpreter),
            )
            .unwrap();
        for engine in ENGINES {
            let got = k
                .filter(
                    input.view(),
                    &Footprint::cube(3),
                    &Options::default().engine(engine),
                )
                .unwrap();
            // Windows 3.. do not contain the 1e300: var of three consecutive integers is 2/3.
            for i in 3..input.len() {
                assert!(
                    close(got[i], want[i]),
                    "{src} {engine:?} at {i}: {} vs {}",
                    got[i],
                    want[i]
                );
            }
        }
    }
}

/// numpy's `np.minimum(a, b)`/`np.maximum(a, b)` return `b` when `a == b`, so signed zeros are
/// kept in that order: `1 / min(0, -0)` is `-inf`, `1 / min(-0, 0)` is `inf`. The JIT engines
/// agree with numpy; the interpreter (src/ir.rs `nan_min`/`nan_max`, `f64::min`/`f64::max`,
/// whose result for ±0 is unspecified) gives `+0` for `min(0, -0)`.
#[test]
fn min_max_of_signed_zeros_follow_numpy() {
    let input = Array1::<f64>::zeros(2);
    for (src, want) in [
        ("1 / min(0, -0)", f64::NEG_INFINITY),
        ("1 / min(-0, 0)", f64::INFINITY),
        ("1 / max(0, -0)", f64::NEG_INFINITY),
        ("1 / max(-0, 0)", f64::INFINITY),
        ("1 / min(c, -c)", f64::NEG_INFINITY),
        ("1 / max(-c, c)", f64::INFINITY),
    ] {
        let k = Kernel::compile(src).unwrap();
        for engine in ENGINES {
            let got = k
                .filter(
                    input.view(),
                    &Footprint::cube(1),
                    &Options::default().engine(engine),
                )
                .unwrap()[0];
            assert_eq!(got, want, "{src} {engine:?}");
        }
    }
}
