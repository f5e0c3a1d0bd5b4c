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
