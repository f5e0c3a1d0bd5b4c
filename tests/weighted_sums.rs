//! Weighted sums (`sum(W * f(w))`, `W` made of the footprint alone: `k`, `dx`, `dy`, `dz`, `i`,
//! numbers, params) are planned: two 1-D passes when the weights factor over a full box, else
//! one pass per cell. Checked against the interpreter (the oracle) on random data with NaN and
//! infinities, in every mode, for separable and non-separable weights, 1-D to 3-D.

use jitfilter::planner::Planned;
use jitfilter::{Engine, Footprint, Kernel, Mode, Options, Path};
use ndarray::{ArrayD, IxDyn};

/// A small deterministic generator (no dependency on test order).
fn data(shape: &[usize], seed: u64, specials: bool) -> ArrayD<f64> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    ArrayD::from_shape_fn(IxDyn(shape), |_| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let u = (x >> 11) as f64 / (1u64 << 53) as f64;
        match (specials, (x >> 3) % 97) {
            (true, 0) => f64::NAN,
            (true, 1) => f64::INFINITY,
            (true, 2) => f64::NEG_INFINITY,
            _ => u * 200.0 - 100.0,
        }
    })
}

fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn weighted_sums_are_planned_and_equal_the_interpreter() {
    let cases: &[(&str, &str, &[usize])] = &[
        // Separable: Gaussian weights, Sobel, a box, a parametrised product of 1-D weights.
        ("sum(k * w)", "gauss:1.5", &[23, 31]),
        ("sum(k * w)", "gauss:1,2", &[19, 40]),
        ("sum(w * dx * (2 - abs(dy)))", "box:3", &[17, 29]),
        ("sum(w * dy * (2 - abs(dx)))", "box:3", &[17, 29]),
        (
            "param s = 3; sum(exp(-(dx^2 + dy^2) / s) * (w * w))",
            "rect:7x5",
            &[21, 33],
        ),
        ("mean(2 * w * k)", "gauss:2", &[40, 37]),
        ("sum(k * w)", "box:5", &[9, 11, 13]),
        ("sum(dz * w)", "box:3", &[7, 9, 8]),
        ("sum((i + 1) * w)", "box:7", &[50]),
        ("mean(w * dx * dy) + c", "box:3", &[15, 18]),
        // Not separable: a disk (not a full box), weights that are not a product.
        ("sum(w * (dx^2 + dy^2))", "disk:3", &[25, 27]),
        ("sum(w * (dx + dy))", "box:5", &[25, 27]),
    ];
    for &(src, fp, shape) in cases {
        let k = Kernel::compile(src).unwrap();
        let fp: Footprint = fp.parse().unwrap();
        for specials in [false, true] {
            let img = data(shape, shape.iter().sum::<usize>() as u64, specials);
            for mode in ["reflect", "mirror", "nearest", "wrap", "constant"] {
                let opts = Options::default()
                    .mode(mode.parse::<Mode>().unwrap())
                    .cval(2.5);
                let opts = if src.contains("param") {
                    opts.param("s", 4.5)
                } else {
                    opts
                };
                let want: ArrayD<f64> = k
                    .filter(img.view(), &fp, &opts.clone().engine(Engine::Interpreter))
                    .unwrap();
                let (got, trace) = k
                    .filter_traced::<f64, f64, _>(img.view(), &fp, &opts)
                    .unwrap();
                assert!(
                    (trace.reductions.iter()).any(|(_, p)| *p == Path::Planned(Planned::Weighted)),
                    "{src}: {:?}",
                    trace.reductions
                );
                for (i, (g, w)) in got.iter().zip(want.iter()).enumerate() {
                    assert!(
                        close(*g, *w),
                        "{src} {fp} {mode} specials={specials} at {i}: {g} vs {w}"
                    );
                }
            }
        }
    }
}

#[test]
fn what_is_not_a_weighted_sum_is_not_planned_as_one() {
    // Weights that vary per pixel (`x`, `c`), or two window factors.
    for src in ["sum(w * x * k)", "sum(w * c * dx)", "sum(w * w * dx * w)"] {
        let k = Kernel::compile(src).unwrap();
        assert!(
            !k.plan_summary().iter().any(|l| l.contains("weighted sum")),
            "{src}: {:?}",
            k.plan_summary()
        );
    }
}

/// Weights that do not factor are summed in window order from -0, as the interpreter and the
/// fused row do: the same bits, not just close. Disks of random weights (and a box of weights
/// that are not a product), wide enough for the 32-pixel register tiles and their remainder,
/// with and without NaN and infinities.
#[test]
fn window_order_weighted_sums_equal_the_interpreter_bit_for_bit() {
    for (r, shape) in [(11usize, [29usize, 77]), (3, [40, 33]), (1, [5, 70])] {
        let side = 2 * r + 1;
        let mut x = 7u64;
        let weights = ArrayD::from_shape_fn(IxDyn(&[side, side]), |ix| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let (dy, dx) = (ix[0] as f64 - r as f64, ix[1] as f64 - r as f64);
            let inside = dy * dy + dx * dx <= (r * r) as f64 || r == 1;
            let v = (x >> 11) as f64 / (1u64 << 53) as f64 - 0.3;
            if inside {
                v
            } else {
                0.0
            }
        });
        let fp = Footprint::from_weights(weights.view());
        let k = Kernel::compile("sum(k * w)").unwrap();
        for specials in [false, true] {
            let img = data(&shape, r as u64 + 40, specials);
            for mode in ["reflect", "wrap", "constant"] {
                let opts = Options::default().mode(mode.parse::<Mode>().unwrap());
                let (got, trace) = k
                    .filter_traced::<f64, f64, _>(img.view(), &fp, &opts)
                    .unwrap();
                assert!(
                    (trace.reductions.iter()).any(|(_, p)| *p == Path::Planned(Planned::Weighted)),
                    "{:?}",
                    trace.reductions
                );
                for engine in [Engine::Interpreter, Engine::Fused] {
                    let want: ArrayD<f64> = k
                        .filter(img.view(), &fp, &opts.clone().engine(engine))
                        .unwrap();
                    for (i, (g, w)) in got.iter().zip(want.iter()).enumerate() {
                        assert!(
                            g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()),
                            "r={r} {mode} specials={specials} {engine:?} at {i}: {g} vs {w}"
                        );
                    }
                }
            }
        }
    }
}
