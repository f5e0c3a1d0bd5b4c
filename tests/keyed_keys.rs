//! Keyed tables over any integer key: a sum, difference, absolute value, minimum or maximum of
//! samples of any input (`abs(w[0]-c[0]) + abs(w[1]-c[1]) + abs(w[2]-c[2])`, `abs(w - g)`),
//! against the interpreter, with the trace proving the tables were used on integer data and
//! not on other data.

use jitfilter::{Engine, Footprint, Inputs, Kernel, Limits, Mode, Options, Trace};
use ndarray::{Array2, Array3, ArrayD};

fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan())
        || a == b
        || (a.is_finite() && b.is_finite() && (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0))
}

/// Runs `src` on `inputs` with the auto engine and the interpreter; asserts they agree and
/// returns the auto engine's trace.
fn agree<T: jitfilter::Element>(
    src: &str,
    names: &[&str],
    inputs: &Inputs<T>,
    fp: &Footprint,
    opts: &Options,
) -> Trace {
    let k = Kernel::compile_for(src, names, &Limits::default()).unwrap();
    let (fast, trace) = k.apply_traced::<T, f64>(inputs, fp, opts).unwrap();
    let slow: ArrayD<f64> = k
        .apply(inputs, fp, &opts.clone().engine(Engine::Interpreter))
        .unwrap();
    for (i, (a, b)) in fast.iter().zip(slow.iter()).enumerate() {
        assert!(close(*a, *b), "`{src}` {opts:?} at {i}: {a} vs {b}");
    }
    trace
}

fn rgb(h: usize, w: usize, seed: usize) -> Array3<u8> {
    Array3::from_shape_fn((h, w, 3), |(y, x, j)| {
        ((x * 37 + y * 11 + j * 71 + seed) * 2654435761 % 251) as u8
    })
}

#[test]
fn colour_distances_are_looked_up() {
    let img = rgb(70, 45, 3);
    let inputs = Inputs::new(img.view()).channels();
    let programs = [
        // OpenCV's colour bilateral (L1 distance) and the L2 form.
        "let d = abs(w[0]-c[0]) + abs(w[1]-c[1]) + abs(w[2]-c[2]); let q = exp(-(dx^2+dy^2)/242 - d^2/1800); (sum(q*w[0])/sum(q), sum(q*w[1])/sum(q), sum(q*w[2])/sum(q))",
        "let d2 = (w[0]-c[0])^2 + (w[1]-c[1])^2 + (w[2]-c[2])^2; let q = exp(-(dx^2+dy^2)/242 - d2/1800); sum(q*w[1])/sum(q)",
        "sum(exp(-abs(max(w[0], w[1]) - min(c[2], 100) + 3) / 50))",
    ];
    for (i, src) in programs.iter().enumerate() {
        for mode in [Mode::Reflect, Mode::Constant, Mode::Wrap] {
            let opts = Options::default().mode(mode).cval(7.0);
            let trace = agree(src, &[], &inputs, &Footprint::disk(4), &opts);
            // The L2 form's key would be each squared difference apart: not one key.
            if i != 1 {
                assert!(trace.keyed_stripes > 0, "`{src}` {trace:?}");
                assert_eq!(trace.direct_stripes, 0, "`{src}` {trace:?}");
            }
        }
    }
}

#[test]
fn keys_across_named_inputs() {
    let w = Array2::from_shape_fn((50, 40), |(y, x)| ((x * 7 + y * 3) % 41) as f64);
    let g = Array2::from_shape_fn((50, 40), |(y, x)| ((x * 5 + y * 13) % 29) as f64 - 10.0);
    let inputs = Inputs::new(w.view()).with("g", g.view());
    let src = "let q = exp(-abs(w - at(g)) / 9 - dx^2/20); sum(q * g) / sum(q)";
    let trace = agree(
        src,
        &["g"],
        &inputs,
        &Footprint::disk(3),
        &Options::default(),
    );
    assert!(trace.keyed_stripes > 0, "{trace:?}");
    // Not integers: the same program computes every value.
    let g = g.mapv(|v| v + 0.25);
    let inputs = Inputs::new(w.view()).with("g", g.view());
    let trace = agree(
        src,
        &["g"],
        &inputs,
        &Footprint::disk(3),
        &Options::default(),
    );
    assert_eq!(trace.keyed_stripes, 0, "{trace:?}");
}

/// Passes whose every accumulator sums one looked-up weight, alone or times a window, run in
/// the native loop (`src/keyed_sums.rs`): the plan says so, and every result agrees with the
/// interpreter, in the AVX2 part of a row and in its tail (widths 45 and 13), at every mode.
/// Keys the native loop does not take (`c - w`) stay in generated code and agree too.
#[test]
fn sums_of_a_looked_up_weight_run_natively() {
    let grey = Array2::from_shape_fn((41, 45), |(y, x)| {
        ((x * 37 + y * 11) * 2654435761 % 251) as u8
    });
    let colour = rgb(33, 45, 5);
    let g = Array2::from_shape_fn((41, 45), |(y, x)| ((x * 5 + y * 13) % 29) as u8);
    let grey_inputs = Inputs::new(grey.view()).with("p", g.view());
    let colour_inputs = Inputs::new(colour.view()).channels();
    let cases: [(&str, bool, bool); 9] = [
        // The bilateral filter: element and keyed table, Σ g·w and Σ g.
        ("let g = exp(-(dx^2+dy^2)/242 - (w-c)^2/1800); sum(g*w)/sum(g)", false, true),
        // OpenCV's colour bilateral: three abs terms, four sums.
        ("let d = abs(w[0]-c[0]) + abs(w[1]-c[1]) + abs(w[2]-c[2]); let q = exp(-(dx^2+dy^2)/242 - d^2/1800); (sum(q*w[0])/sum(q), sum(q*w[1])/sum(q), sum(q*w[2])/sum(q))", true, true),
        // No element factor; abs(c - w); a mean.
        ("mean(exp(-abs(c - w) / 9) * w)", false, true),
        // `k` as the element factor, a weighted sum only.
        ("sum(k * exp(-(w - c)^2 / 50) * w)", false, true),
        // A window value alone as a term (alone, the planner plans the point map).
        ("sum(exp(-(w[0] - c[0] + w[1])^2 / 900) * w[1])", true, true),
        // A named input's window weighted, the key against its value here.
        ("let q = exp(-abs(w - at(p)) / 9 - dx^2/20); sum(q * p) / sum(q)", false, true),
        // Beside a planned sum (the planner's plane).
        ("let q = exp(-(w-c)^2/300); sum(q*w) / sum(w)", false, true),
        // Not taken: two weights in one pass; `c - w` as a key.
        ("let q = exp(-(w-c)^2/300); sum(q*w)/sum(q) + sum(exp(-(w-c)^2/90) * w)", false, false),
        ("sum(exp(-(c - w)^2 / 50) * w)", false, false),
    ];
    for (src, is_colour, native) in cases {
        let k =
            Kernel::compile_for(src, &["p"][..(!is_colour) as usize], &Limits::default()).unwrap();
        let said = k.plan_summary().iter().any(|l| l.contains("run natively"));
        assert_eq!(said, native, "`{src}`: {:?}", k.plan_summary());
        for (mode, fp) in [
            (Mode::Reflect, Footprint::disk(4)),
            (Mode::Constant, Footprint::rect(5, 3)),
            (Mode::Wrap, Footprint::disk(2)),
        ] {
            let opts = Options::default().mode(mode).cval(7.0);
            let names: &[&str] = if is_colour { &[] } else { &["p"] };
            let trace = if is_colour {
                agree(src, names, &colour_inputs, &fp, &opts)
            } else {
                agree(src, names, &grey_inputs, &fp, &opts)
            };
            assert!(trace.keyed_stripes > 0, "`{src}` {trace:?}");
        }
        // A tail only: narrower than one block of pixels.
        let narrow = grey.slice(ndarray::s![.., ..13]).to_owned();
        let g_narrow = g.slice(ndarray::s![.., ..13]).to_owned();
        if !is_colour {
            let inputs = Inputs::new(narrow.view()).with("p", g_narrow.view());
            agree(
                src,
                &["p"],
                &inputs,
                &Footprint::disk(3),
                &Options::default(),
            );
        }
    }
}
