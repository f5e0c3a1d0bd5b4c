//! Several inputs, channels, `at()` and tuple results (docs/language.md, "Several inputs,
//! channels, neighbours and several results"), on crops of the sample images in tests/data.
//!
//! Each example of the docs is checked against an oracle written here as a plain Rust loop over
//! the arrays, with its own boundary extension (`extend`, from scipy's documentation, not
//! src/boundary.rs) — not against the interpreter, which shares the engines' padded blocks.
//! Every engine then also agrees with the interpreter (1e-9 relative), the scipy callback
//! refuses what its ABI cannot carry, and traces show which reductions the planner takes.

mod cli_support;

use cli_support::extend;
use jitfilter::planner::Planned;
use jitfilter::{
    Element, Engine, Error, ExprError, Footprint, Inputs, Kernel, Limits, Mode, Options, Path,
    Trace,
};
use ndarray::{Array2, Array3, ArrayD, ArrayView2, Axis, IxDyn};
use std::path::PathBuf;

// The five examples of docs/language.md, verbatim (`docs_examples_are_these` checks the doc).
const BILATERAL: &str = "let d2 = (w[0]-c[0])^2 + (w[1]-c[1])^2 + (w[2]-c[2])^2; let q = exp(-(dx^2+dy^2)/242 - d2/1800); (sum(q*w[0])/sum(q), sum(q*w[1])/sum(q), sum(q*w[2])/sum(q))";
const NCC: &str = "let a = w - mean(w); let b = g - mean(g); sum(a*b) / sqrt(sum(a^2) * sum(b^2))";
const MASKED_MEDIAN: &str = "if at(m) > 0 then median(w) else c";
const MEAN_STD: &str = "(mean(w), std(w))";
const CENTRAL_DIFFERENCE: &str = "at(w, 1, 0) - at(w, -1, 0)";

/// Every boundary mode, with the `cval` used for `constant`.
const MODES: [(Mode, f64); 5] = [
    (Mode::Reflect, 0.0),
    (Mode::Mirror, 0.0),
    (Mode::Nearest, 0.0),
    (Mode::Wrap, 0.0),
    (Mode::Constant, 40.0),
];

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// Rows `y0..y0+h`, columns `x0..x0+w` of an RGB sample image, channels last.
fn rgb_crop(name: &str, y0: usize, x0: usize, h: usize, w: usize) -> Array3<f64> {
    let img = image::open(data(name)).unwrap().to_rgb8();
    Array3::from_shape_fn((h, w, 3), |(y, x, j)| {
        img.get_pixel((x0 + x) as u32, (y0 + y) as u32)[j] as f64
    })
}

/// Rows `y0..y0+h`, columns `x0..x0+w` of a grey sample image.
fn grey_crop(name: &str, y0: usize, x0: usize, h: usize, w: usize) -> Array2<f64> {
    let img = image::open(data(name)).unwrap().to_luma8();
    Array2::from_shape_fn((h, w), |(y, x)| {
        img.get_pixel((x0 + x) as u32, (y0 + y) as u32)[0] as f64
    })
}

/// `img[y, x]` with the boundary mode applied outside.
fn px(img: ArrayView2<f64>, y: isize, x: isize, mode: Mode, cval: f64) -> f64 {
    let (h, w) = img.dim();
    match (extend(mode, y, h), extend(mode, x, w)) {
        (Some(y), Some(x)) => img[[y, x]],
        _ => cval,
    }
}

/// A 2-D footprint mask and its cells' (dy, dx) offsets in C order (origin 0).
struct Fp {
    mask: Array2<bool>,
}

impl Fp {
    fn disk(r: isize) -> Fp {
        let s = (2 * r + 1) as usize;
        Fp {
            mask: Array2::from_shape_fn((s, s), |(y, x)| {
                let (dy, dx) = (y as isize - r, x as isize - r);
                dx * dx + dy * dy <= r * r
            }),
        }
    }
    fn rect(h: usize, w: usize) -> Fp {
        Fp {
            mask: Array2::from_elem((h, w), true),
        }
    }
    fn footprint(&self) -> Footprint {
        Footprint::from_mask(self.mask.view().into_dyn())
    }
    fn offsets(&self) -> Vec<(isize, isize)> {
        let (h, w) = self.mask.dim();
        let mut v = Vec::new();
        for y in 0..h {
            for x in 0..w {
                if self.mask[[y, x]] {
                    v.push((y as isize - (h / 2) as isize, x as isize - (w / 2) as isize));
                }
            }
        }
        v
    }
    /// The window of `img` at (y, x), in footprint order.
    fn window(&self, img: ArrayView2<f64>, y: usize, x: usize, mode: Mode, cval: f64) -> Vec<f64> {
        (self.offsets().iter())
            .map(|(dy, dx)| px(img, y as isize + dy, x as isize + dx, mode, cval))
            .collect()
    }
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn std(v: &[f64]) -> f64 {
    let m = mean(v);
    (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / v.len() as f64).sqrt()
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let m = s.len() / 2;
    if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    }
}

/// Equal, both NaN, or within `rel` of the larger magnitude (at least 1).
fn close(a: f64, b: f64, rel: f64) -> bool {
    (a.is_nan() && b.is_nan())
        || a == b
        || (a.is_finite() && b.is_finite() && (a - b).abs() <= rel * a.abs().max(b.abs()).max(1.0))
}

fn assert_close(got: &ArrayD<f64>, want: &ArrayD<f64>, rel: f64, what: &str) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    for ((idx, g), w) in got.indexed_iter().zip(want.iter()) {
        assert!(close(*g, *w, rel), "{what} at {idx:?}: got {g}, want {w}");
    }
}

fn opts(mode: Mode, cval: f64) -> Options {
    Options::default().mode(mode).cval(cval)
}

/// Auto, Fused and Interpreter each equal `want` (the hand oracle) within `rel` and the
/// interpreter within 1e-9; the callback refuses the program. Returns Auto's trace.
fn engines_match<T: Element>(
    k: &Kernel,
    inputs: &Inputs<T>,
    fp: &Footprint,
    opts: &Options,
    want: &ArrayD<f64>,
    rel: f64,
    what: &str,
) -> Trace {
    let run = |e: Engine| k.apply_traced::<T, f64>(inputs, fp, &opts.clone().engine(e));
    let (reference, _) = run(Engine::Interpreter).unwrap();
    assert_close(&reference, want, rel, &format!("{what} interpreter"));
    let mut auto = None;
    for e in [Engine::Auto, Engine::Fused] {
        let (got, trace) = run(e).unwrap_or_else(|err| panic!("{what} {e}: {err}"));
        assert_close(&got, want, rel, &format!("{what} {e}"));
        assert_close(
            &got,
            &reference,
            1e-9,
            &format!("{what} {e} vs interpreter"),
        );
        if e == Engine::Auto {
            auto = Some(trace);
        }
    }
    match run(Engine::Callback) {
        Err(Error::Callback(_)) => {}
        other => panic!("{what}: the callback engine gives {other:?}"),
    }
    assert!(matches!(k.callback(), Err(Error::Callback(_))), "{what}");
    auto.unwrap()
}

/// Maps an oracle over every pixel of an `h`×`w` image into an array of `shape`.
fn oracle(
    h: usize,
    w: usize,
    shape: &[usize],
    f: impl Fn(usize, usize) -> Vec<f64>,
) -> ArrayD<f64> {
    let mut out = Vec::with_capacity(shape.iter().product());
    for y in 0..h {
        for x in 0..w {
            out.extend(f(y, x));
        }
    }
    ArrayD::from_shape_vec(IxDyn(shape), out).unwrap()
}

fn paths(trace: &Trace) -> Vec<(&str, Path)> {
    (trace.reductions.iter())
        .map(|(s, p)| (s.as_str(), *p))
        .collect()
}

#[test]
fn colour_bilateral_matches_a_direct_loop() {
    let rgb = rgb_crop("astronaut.png", 90, 190, 30, 37);
    let (h, w, _) = rgb.dim();
    let fp = Fp::disk(5);
    let k = Kernel::compile(BILATERAL).unwrap();
    for (mode, cval) in MODES {
        let planes: Vec<ArrayView2<f64>> = (0..3).map(|j| rgb.index_axis(Axis(2), j)).collect();
        let want = oracle(h, w, &[h, w, 3], |y, x| {
            let centre: Vec<f64> = (0..3).map(|j| planes[j][[y, x]]).collect();
            let (mut sq, mut sums) = (0.0, [0.0; 3]);
            for (dy, dx) in fp.offsets() {
                let v: Vec<f64> = (0..3)
                    .map(|j| px(planes[j], y as isize + dy, x as isize + dx, mode, cval))
                    .collect();
                let d2: f64 = (0..3).map(|j| (v[j] - centre[j]).powi(2)).sum();
                let q = (-((dx * dx + dy * dy) as f64) / 242.0 - d2 / 1800.0).exp();
                sq += q;
                for j in 0..3 {
                    sums[j] += q * v[j];
                }
            }
            sums.iter().map(|s| s / sq).collect()
        });
        let what = format!("bilateral {mode}");
        let inputs = Inputs::new(rgb.view()).channels();
        engines_match(
            &k,
            &inputs,
            &fp.footprint(),
            &opts(mode, cval),
            &want,
            1e-12,
            &what,
        );
        // The image's own type: u8 pixels (keyed tables when the keys fit).
        let rgb8 = rgb.mapv(|v| v as u8);
        let inputs = Inputs::new(rgb8.view()).channels();
        let what = format!("{what} u8");
        engines_match(
            &k,
            &inputs,
            &fp.footprint(),
            &opts(mode, cval),
            &want,
            1e-12,
            &what,
        );
        // A u8 result is the f64 one rounded.
        let got = k
            .apply::<u8, u8>(&inputs, &fp.footprint(), &opts(mode, cval))
            .unwrap();
        for (g, v) in got.iter().zip(want.iter()) {
            assert!((*g as f64 - v).abs() <= 0.5 + 1e-9, "{what}: {g} vs {v}");
        }
    }
}

#[test]
fn local_normalised_cross_correlation() {
    // The same scene and the same scene 3 rows and 5 columns on: correlated, not equal.
    let (h, w) = (32, 41);
    let img = grey_crop("camera.png", 180, 200, h, w);
    let guide = grey_crop("camera.png", 183, 205, h, w);
    let other = grey_crop("coins.png", 100, 120, h, w);
    let fp = Fp::rect(5, 7);
    let k = Kernel::compile_for(NCC, &["g"], &Limits::default()).unwrap();
    for g in [&guide, &other, &img] {
        for (mode, cval) in MODES {
            let want = oracle(h, w, &[h, w], |y, x| {
                let a = fp.window(img.view(), y, x, mode, cval);
                let b = fp.window(g.view(), y, x, mode, cval);
                let (ma, mb) = (mean(&a), mean(&b));
                let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
                for (p, q) in a.iter().zip(&b) {
                    ab += (p - ma) * (q - mb);
                    aa += (p - ma) * (p - ma);
                    bb += (q - mb) * (q - mb);
                }
                vec![ab / (aa * bb).sqrt()]
            });
            let inputs = Inputs::new(img.view()).with("g", g.view());
            let what = format!("ncc {mode}");
            let trace = engines_match(
                &k,
                &inputs,
                &fp.footprint(),
                &opts(mode, cval),
                &want,
                1e-9,
                &what,
            );
            // Both means are planned box sums; the sums of products read them per pixel.
            let planned: Vec<&str> = (trace.reductions.iter())
                .filter(|(_, p)| *p == Path::Planned(Planned::Sums))
                .map(|(s, _)| s.as_str())
                .collect();
            assert_eq!(planned, ["mean(w)", "mean(g)"], "{trace:?}");
            let (u8img, u8g) = (img.mapv(|v| v as u8), g.mapv(|v| v as u8));
            let inputs = Inputs::new(u8img.view()).with("g", u8g.view());
            let what = format!("{what} u8");
            engines_match(
                &k,
                &inputs,
                &fp.footprint(),
                &opts(mode, cval),
                &want,
                1e-9,
                &what,
            );
        }
    }
    // Against itself: 1 wherever the window is not flat.
    let inputs = Inputs::new(img.view()).with("g", img.view());
    let got = k
        .apply::<f64, f64>(&inputs, &fp.footprint(), &Options::default())
        .unwrap();
    assert!(got.iter().all(|v| v.is_nan() || (v - 1.0).abs() < 1e-12));
}

#[test]
fn masked_median() {
    let (h, w) = (29, 34);
    let img = grey_crop("coins.png", 40, 60, h, w);
    // The mask: the bright coins, from another threshold of the same crop, as u8 0/1.
    let mask = img.mapv(|v| if v > 120.0 { 1.0 } else { 0.0 });
    assert!(mask.iter().any(|m| *m > 0.0) && mask.iter().any(|m| *m == 0.0));
    let k = Kernel::compile_for(MASKED_MEDIAN, &["m"], &Limits::default()).unwrap();
    for fp in [Fp::rect(5, 5), Fp::disk(2), Fp::rect(2, 4)] {
        for (mode, cval) in MODES {
            let want = oracle(h, w, &[h, w], |y, x| {
                vec![if mask[[y, x]] > 0.0 {
                    median(&fp.window(img.view(), y, x, mode, cval))
                } else {
                    img[[y, x]]
                }]
            });
            let inputs = Inputs::new(img.view()).with("m", mask.view());
            let what = format!("masked median {mode} {:?}", fp.mask.dim());
            let trace = engines_match(
                &k,
                &inputs,
                &fp.footprint(),
                &opts(mode, cval),
                &want,
                0.0,
                &what,
            );
            assert_eq!(
                paths(&trace),
                [("median(w)", Path::Planned(Planned::Histogram))]
            );
            // u8 in, u8 out: the median of an even count is a half, rounded to even.
            let (img8, mask8) = (img.mapv(|v| v as u8), mask.mapv(|v| v as u8));
            let inputs = Inputs::new(img8.view()).with("m", mask8.view());
            engines_match(
                &k,
                &inputs,
                &fp.footprint(),
                &opts(mode, cval),
                &want,
                0.0,
                &what,
            );
        }
    }
}

#[test]
fn mean_and_std_in_one_pass() {
    let (h, w) = (33, 40);
    let img = grey_crop("page.png", 60, 100, h, w);
    let pair = Kernel::compile(MEAN_STD).unwrap();
    let mean_k = Kernel::compile("mean(w)").unwrap();
    let std_k = Kernel::compile("std(w)").unwrap();
    for fp in [Fp::disk(3), Fp::rect(4, 6)] {
        for (mode, cval) in MODES {
            let o = opts(mode, cval);
            let want = oracle(h, w, &[h, w, 2], |y, x| {
                let v = fp.window(img.view(), y, x, mode, cval);
                vec![mean(&v), std(&v)]
            });
            let what = format!("(mean, std) {mode}");
            let inputs = Inputs::new(img.view());
            let trace = engines_match(&pair, &inputs, &fp.footprint(), &o, &want, 1e-9, &what);
            assert_eq!(
                paths(&trace),
                [
                    ("mean(w)", Path::Planned(Planned::Sums)),
                    ("std(w)", Path::Planned(Planned::Moments))
                ]
            );
            // Each item equals its own program run alone, engine by engine.
            for e in [Engine::Auto, Engine::Fused, Engine::Interpreter] {
                let o = o.clone().engine(e);
                let both = pair
                    .apply::<f64, f64>(&inputs, &fp.footprint(), &o)
                    .unwrap();
                let m = mean_k
                    .apply::<f64, f64>(&inputs, &fp.footprint(), &o)
                    .unwrap();
                let s = std_k
                    .apply::<f64, f64>(&inputs, &fp.footprint(), &o)
                    .unwrap();
                assert_close(
                    &both.index_axis(Axis(2), 0).to_owned(),
                    &m,
                    1e-12,
                    &format!("{what} {e} mean"),
                );
                assert_close(
                    &both.index_axis(Axis(2), 1).to_owned(),
                    &s,
                    1e-12,
                    &format!("{what} {e} std"),
                );
            }
        }
    }
    // The mean made from the variance's window sums is the mean run alone, to the bit, and so
    // with NaN and ∞ in the data (where it is made apart).
    let mut odd = img.clone();
    odd[[5, 5]] = f64::NAN;
    odd[[20, 30]] = f64::INFINITY;
    for data in [&img, &odd] {
        let inputs = Inputs::new(data.view());
        let o = opts(Mode::Reflect, 0.0);
        let both = pair
            .apply::<f64, f64>(&inputs, &Fp::disk(3).footprint(), &o)
            .unwrap();
        let m = mean_k
            .apply::<f64, f64>(&inputs, &Fp::disk(3).footprint(), &o)
            .unwrap();
        let same = (both.index_axis(Axis(2), 0).iter().zip(m.iter()))
            .all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same, "shared window sums");
    }
    // Jointly over channels: the mean of red and the spread of blue.
    let rgb = rgb_crop("astronaut.png", 300, 250, 20, 23);
    let fp = Fp::disk(2);
    let k = Kernel::compile("(mean(w[0]), std(w[2]), channels)").unwrap();
    let want = oracle(20, 23, &[20, 23, 3], |y, x| {
        let r = fp.window(rgb.index_axis(Axis(2), 0), y, x, Mode::Reflect, 0.0);
        let b = fp.window(rgb.index_axis(Axis(2), 2), y, x, Mode::Reflect, 0.0);
        vec![mean(&r), std(&b), 3.0]
    });
    let inputs = Inputs::new(rgb.view()).channels();
    let trace = engines_match(
        &k,
        &inputs,
        &fp.footprint(),
        &Options::default(),
        &want,
        1e-9,
        "rgb (mean, std)",
    );
    assert_eq!(
        paths(&trace),
        [
            ("mean(w[0])", Path::Planned(Planned::Sums)),
            ("std(w[2])", Path::Planned(Planned::Moments))
        ]
    );
}

#[test]
fn central_difference_in_each_mode() {
    let k = Kernel::compile(CENTRAL_DIFFERENCE).unwrap();
    let crop = grey_crop("camera.png", 250, 250, 9, 11);
    // A tiny array too, where the offsets reach past the far side.
    let tiny = Array2::from_shape_fn((2, 1), |(y, x)| (10 * y + x) as f64 + 1.0);
    let row = Array2::from_shape_fn((1, 3), |(_, x)| [5.0, -2.0, 9.5][x]);
    for img in [&crop, &tiny, &row] {
        let (h, w) = img.dim();
        for (mode, cval) in MODES.into_iter().chain([(Mode::Constant, -7.5)]) {
            let want = oracle(h, w, &[h, w], |y, x| {
                let (y, x) = (y as isize, x as isize);
                vec![px(img.view(), y, x + 1, mode, cval) - px(img.view(), y, x - 1, mode, cval)]
            });
            // The footprint does not matter to `at()`: one cell (the offsets reach beyond it), a
            // box, and a box shifted by an origin (which moves windows, not `at()`).
            for (fp, origin) in [
                (Fp::rect(1, 1), vec![0, 0]),
                (Fp::rect(3, 3), vec![0, 0]),
                (Fp::rect(3, 4), vec![1, -1]),
            ] {
                let what =
                    format!("central difference {h}x{w} {mode} cval {cval} origin {origin:?}");
                let o = opts(mode, cval).origin(&origin);
                let trace = engines_match(
                    &k,
                    &Inputs::new(img.view()),
                    &fp.footprint(),
                    &o,
                    &want,
                    0.0,
                    &what,
                );
                assert!(trace.reductions.is_empty());
            }
        }
    }
}

#[test]
fn offsets_past_the_array_in_each_mode() {
    // Offsets larger than the array: scipy's extension is periodic for every mode.
    let k = Kernel::compile("(at(w, 3, -2), at(w, -5, 4), at(w, 0, 7))").unwrap();
    let img = Array2::from_shape_fn((3, 4), |(y, x)| (y * 4 + x) as f64 * 1.5 - 2.0);
    for (mode, cval) in MODES {
        let want = oracle(3, 4, &[3, 4, 3], |y, x| {
            let (y, x) = (y as isize, x as isize);
            let p = |oy: isize, ox: isize| px(img.view(), y + oy, x + ox, mode, cval);
            vec![p(-2, 3), p(4, -5), p(7, 0)]
        });
        let what = format!("far offsets {mode}");
        let fp = Fp::rect(3, 3);
        engines_match(
            &k,
            &Inputs::new(img.view()),
            &fp.footprint(),
            &opts(mode, cval),
            &want,
            0.0,
            &what,
        );
    }
}

#[test]
fn offsets_along_the_third_axis() {
    // A 3-D stack of four crops: `at(w, 0, 0, 1)` reads the next plane, `at(w, 1, -1, -2)`
    // one column on, one row up and two planes back.
    let planes: Vec<Array2<f64>> = (0..4)
        .map(|z| grey_crop("camera.png", 100 + 7 * z, 300, 6, 7))
        .collect();
    let img = ndarray::Array3::from_shape_fn((4, 6, 7), |(z, y, x)| planes[z][[y, x]]);
    let value = |z: isize, y: isize, x: isize, mode: Mode, cval: f64| match (
        extend(mode, z, 4),
        extend(mode, y, 6),
        extend(mode, x, 7),
    ) {
        (Some(z), Some(y), Some(x)) => img[[z, y, x]],
        _ => cval,
    };
    let k = Kernel::compile("(at(w, 0, 0, 1), at(w, 1, -1, -2) - c)").unwrap();
    let one = Kernel::compile("at(w, 0, 0, 1)").unwrap();
    for (mode, cval) in MODES {
        let mut want = Vec::new();
        for z in 0..4 {
            for y in 0..6 {
                for x in 0..7 {
                    want.push(value(z + 1, y, x, mode, cval));
                    want.push(
                        value(z - 2, y - 1, x + 1, mode, cval)
                            - img[[z as usize, y as usize, x as usize]],
                    );
                }
            }
        }
        let want = ArrayD::from_shape_vec(IxDyn(&[4, 6, 7, 2]), want).unwrap();
        let what = format!("3-D offsets {mode}");
        for fp in [Footprint::cube(1), Footprint::cube(3)] {
            let o = opts(mode, cval);
            let inputs = Inputs::new(img.view());
            engines_match(&k, &inputs, &fp, &o, &want, 0.0, &what);
            let first = want.index_axis(Axis(3), 0).to_owned();
            engines_match(&one, &inputs, &fp, &o, &first, 0.0, &what);
        }
    }
}

/// Images taller than a stripe: offsets reach rows of the stripes above and below, with one and
/// two threads.
#[test]
fn offsets_across_stripes() {
    let (h, w) = (203, 24);
    let img = grey_crop("camera.png", 100, 240, h, w);
    let g = grey_crop("coins.png", 50, 200, h, w);
    let k = Kernel::compile_for(
        "(at(w, 0, 1) - at(w, 0, -1), at(g, -2, 7), at(w, 1, -9) + mean(g))",
        &["g"],
        &Limits::default(),
    )
    .unwrap();
    let fp = Fp::rect(3, 3);
    for (mode, cval) in MODES {
        let want = oracle(h, w, &[h, w, 3], |y, x| {
            let (y, x) = (y as isize, x as isize);
            let p =
                |a: &Array2<f64>, oy: isize, ox: isize| px(a.view(), y + oy, x + ox, mode, cval);
            let m = mean(&fp.window(g.view(), y as usize, x as usize, mode, cval));
            vec![
                p(&img, 1, 0) - p(&img, -1, 0),
                p(&g, 7, -2),
                p(&img, -9, 1) + m,
            ]
        });
        for threads in [1, 2] {
            let inputs = Inputs::new(img.view()).with("g", g.view());
            let o = opts(mode, cval).threads(threads);
            let what = format!("stripes {mode} threads {threads}");
            engines_match(&k, &inputs, &fp.footprint(), &o, &want, 1e-12, &what);
        }
    }
}

/// Views that are not contiguous in C order: a transposed guide, a colour image with its
/// channels last but stored as planes, and every other column.
#[test]
fn non_contiguous_inputs() {
    let rgb = rgb_crop("astronaut.png", 220, 260, 18, 21);
    let (h, w, _) = rgb.dim();
    // Stored channel-first, viewed channels-last.
    let planar = rgb
        .view()
        .permuted_axes([2, 0, 1])
        .as_standard_layout()
        .into_owned();
    let viewed = planar.view().permuted_axes([1, 2, 0]);
    assert!(viewed.as_slice().is_none());
    let guide = grey_crop("camera.png", 0, 300, w, h);
    let transposed = guide.t();
    let wide = grey_crop("coins.png", 70, 20, h, 2 * w);
    let every_other = wide.slice(ndarray::s![.., ..;2]);
    let k = Kernel::compile_for(
        "(mean(w[0] * g), at(w[2], 1, 1) + at(v, -1, 0), max(v) - c[1])",
        &["g", "v"],
        &Limits::default(),
    )
    .unwrap();
    let fp = Fp::rect(3, 3);
    let (mode, cval) = (Mode::Mirror, 0.0);
    let red = rgb.index_axis(Axis(2), 0);
    let blue = rgb.index_axis(Axis(2), 2);
    let want = oracle(h, w, &[h, w, 3], |y, x| {
        let r = fp.window(red, y, x, mode, cval);
        let g = fp.window(transposed, y, x, mode, cval);
        let e = fp.window(every_other, y, x, mode, cval);
        let (yi, xi) = (y as isize, x as isize);
        vec![
            mean(&r.iter().zip(&g).map(|(a, b)| a * b).collect::<Vec<_>>()),
            px(blue, yi + 1, xi + 1, mode, cval) + px(every_other, yi, xi - 1, mode, cval),
            e.iter().copied().fold(f64::MIN, f64::max) - rgb[[y, x, 1]],
        ]
    });
    let inputs = Inputs::new(viewed)
        .channels()
        .with("g", transposed)
        .with("v", every_other);
    engines_match(
        &k,
        &inputs,
        &fp.footprint(),
        &opts(mode, cval),
        &want,
        1e-12,
        "views",
    );
}

/// Per channel, an order statistic of u8 pixels runs natively, once per channel.
#[test]
fn per_channel_native_median() {
    let rgb = rgb_crop("astronaut.png", 30, 330, 25, 19);
    let rgb8 = rgb.mapv(|v| v as u8);
    let (h, w, _) = rgb.dim();
    let fp = Fp::disk(2);
    let k = Kernel::compile("median(w)").unwrap();
    for (mode, cval) in MODES {
        let want = oracle(h, w, &[h, w, 3], |y, x| {
            (0..3)
                .map(|j| median(&fp.window(rgb.index_axis(Axis(2), j), y, x, mode, cval)))
                .collect()
        });
        let inputs = Inputs::new(rgb8.view()).channels();
        let what = format!("per-channel median {mode}");
        let (got, trace) = k
            .apply_traced::<u8, f64>(&inputs, &fp.footprint(), &opts(mode, cval))
            .unwrap();
        assert_close(&got, &want, 0.0, &what);
        assert_eq!(paths(&trace), [("median(w)", Path::Native)], "{what}");
        // Same result through the other engines; the callback carries per-channel programs.
        for e in [Engine::Fused, Engine::Interpreter, Engine::Callback] {
            let got = k
                .apply::<u8, f64>(&inputs, &fp.footprint(), &opts(mode, cval).engine(e))
                .unwrap();
            assert_close(&got, &want, 0.0, &format!("{what} {e}"));
        }
    }
}

#[test]
fn at_reads_named_inputs_and_channels() {
    let rgb = rgb_crop("astronaut.png", 200, 100, 12, 15);
    let (h, w, _) = rgb.dim();
    let grey = grey_crop("camera.png", 50, 50, h, w);
    // The green channel's difference, and a named input's value one row down.
    let k = Kernel::compile_for(
        "(at(w[1], 1, 0) - at(w[1], -1, 0), at(g, 0, 1), at(g), c[2])",
        &["g"],
        &Limits::default(),
    )
    .unwrap();
    for (mode, cval) in MODES {
        let green = rgb.index_axis(Axis(2), 1);
        let want = oracle(h, w, &[h, w, 4], |y, x| {
            let (yi, xi) = (y as isize, x as isize);
            vec![
                px(green, yi, xi + 1, mode, cval) - px(green, yi, xi - 1, mode, cval),
                px(grey.view(), yi + 1, xi, mode, cval),
                grey[[y, x]],
                rgb[[y, x, 2]],
            ]
        });
        let inputs = Inputs::new(rgb.view()).channels().with("g", grey.view());
        let what = format!("at on channels and inputs {mode}");
        engines_match(
            &k,
            &inputs,
            &Footprint::rect(3, 3),
            &opts(mode, cval),
            &want,
            0.0,
            &what,
        );
    }
    // A program that never indexes channels runs per channel: the central difference of each.
    let k = Kernel::compile(CENTRAL_DIFFERENCE).unwrap();
    let want = oracle(h, w, &[h, w, 3], |y, x| {
        (0..3)
            .map(|j| {
                let p = rgb.index_axis(Axis(2), j);
                let (y, x) = (y as isize, x as isize);
                px(p, y, x + 1, Mode::Wrap, 0.0) - px(p, y, x - 1, Mode::Wrap, 0.0)
            })
            .collect()
    });
    let inputs = Inputs::new(rgb.view()).channels();
    engines_match(
        &k,
        &inputs,
        &Footprint::rect(3, 3),
        &opts(Mode::Wrap, 0.0),
        &want,
        0.0,
        "per-channel central difference",
    );
}

/// `channels` in a per-channel program on an RGB image is 3 in every engine.
#[test]
fn callback_engine_sees_channels() {
    let rgb = Array3::<f64>::zeros((4, 5, 3));
    let k = Kernel::compile("channels + max(w)").unwrap();
    let inputs = Inputs::new(rgb.view()).channels();
    for e in [
        Engine::Auto,
        Engine::Fused,
        Engine::Interpreter,
        Engine::Callback,
    ] {
        let got = k
            .apply::<f64, f64>(&inputs, &Footprint::cube(3), &Options::default().engine(e))
            .unwrap();
        assert!(got.iter().all(|v| *v == 3.0), "{e}: {got}");
    }
}

/// Planned paths for reductions of a named input, of a channel, and of point maps of two
/// inputs; the rest fused.
#[test]
fn planner_takes_point_maps_of_any_input() {
    let (h, w) = (40, 37);
    let img = grey_crop("camera.png", 300, 100, h, w);
    let g = grey_crop("coins.png", 30, 30, h, w);
    let inputs = Inputs::new(img.view()).with("g", g.view());
    let fp = Footprint::disk(3);
    let sums = Path::Planned(Planned::Sums);
    let moments = Path::Planned(Planned::Moments);
    let cases: [(&str, Vec<Path>); 10] = [
        ("mean(g)", vec![sums]),
        ("var(g)", vec![moments]),
        ("mean(g*w)", vec![sums]),
        ("std(g - 2*w)", vec![moments]),
        ("max(g)", vec![Path::Planned(Planned::Extremes)]),
        ("median(g)", vec![Path::Planned(Planned::Histogram)]),
        (
            "mean(abs(g - at(g)))",
            vec![Path::Planned(Planned::Deviation)],
        ),
        ("sum(g*w) / sum(g)", vec![sums, sums]),
        // A point map times footprint-only weights is a weighted sum; offsets are not point
        // maps, so the `at()` is read directly.
        (
            "sum(dx * g) + at(g, 1, 0)",
            vec![Path::Planned(Planned::Weighted)],
        ),
        ("max(dx * g)", vec![Path::Fused]),
    ];
    for (src, want) in cases {
        let k = Kernel::compile_for(src, &["g"], &Limits::default()).unwrap();
        let (got, trace) = k
            .apply_traced::<f64, f64>(&inputs, &fp, &Options::default())
            .unwrap();
        let got_paths: Vec<Path> = trace.reductions.iter().map(|r| r.1).collect();
        assert_eq!(got_paths, want, "`{src}`: {trace:?}");
        let (reference, _) = k
            .apply_traced::<f64, f64>(
                &inputs,
                &fp,
                &Options::default().engine(Engine::Interpreter),
            )
            .unwrap();
        assert_close(&got, &reference, 1e-9, src);
    }
    // A channel is an input plane like any other.
    let rgb = rgb_crop("astronaut.png", 10, 10, 20, 20);
    let k = Kernel::compile("var(w[1]) + mean(w[0] * w[2])").unwrap();
    let (_, trace) = k
        .apply_traced::<f64, f64>(
            &Inputs::new(rgb.view()).channels(),
            &fp,
            &Options::default(),
        )
        .unwrap();
    assert_eq!(
        paths(&trace),
        [("var(w[1])", moments), ("mean(w[0] * w[2])", sums)]
    );
}

#[test]
fn named_inputs_with_channels() {
    // A 3-channel guide next to a 3-channel image, per channel: channel j of `g` weights
    // channel j of `w`; a 1-channel guide weights every channel.
    let rgb = rgb_crop("astronaut.png", 150, 150, 14, 16);
    let guide3 = rgb.mapv(|v| 1.0 + v / 255.0);
    let guide1 = grey_crop("camera.png", 0, 0, 14, 16).mapv(|v| 1.0 + v / 255.0);
    let k = Kernel::compile_for("sum(g * w) / sum(g)", &["g"], &Limits::default()).unwrap();
    let fp = Fp::rect(3, 3);
    let mode = Mode::Nearest;
    let weigh = |j: usize, g: ArrayView2<f64>, y: usize, x: usize| {
        let a = fp.window(rgb.index_axis(Axis(2), j), y, x, mode, 0.0);
        let b = fp.window(g, y, x, mode, 0.0);
        a.iter().zip(&b).map(|(a, b)| a * b).sum::<f64>() / b.iter().sum::<f64>()
    };
    let want3 = oracle(14, 16, &[14, 16, 3], |y, x| {
        (0..3)
            .map(|j| weigh(j, guide3.index_axis(Axis(2), j), y, x))
            .collect()
    });
    let want1 = oracle(14, 16, &[14, 16, 3], |y, x| {
        (0..3).map(|j| weigh(j, guide1.view(), y, x)).collect()
    });
    let o = opts(mode, 0.0);
    let three = Inputs::new(rgb.view()).channels().with("g", guide3.view());
    engines_match(
        &k,
        &three,
        &fp.footprint(),
        &o,
        &want3,
        1e-12,
        "3-channel guide",
    );
    let one = Inputs::new(rgb.view()).channels().with("g", guide1.view());
    engines_match(
        &k,
        &one,
        &fp.footprint(),
        &o,
        &want1,
        1e-12,
        "1-channel guide",
    );
}

// ---- errors ----------------------------------------------------------------------------------

fn compile_err(src: &str, names: &[&str]) -> Error {
    Kernel::compile_for(src, names, &Limits::default()).unwrap_err()
}

/// The source text an error's span covers.
fn spanned(src: &str, e: &Error) -> String {
    match e {
        Error::Expr(e) => {
            let s = e.span();
            src[s.start..s.end].to_string()
        }
        other => panic!("not an expression error: {other:?}"),
    }
}

#[test]
fn unknown_input_names_suggest_the_nearest() {
    let e = compile_err("sum(gg * w)", &["g"]);
    match &e {
        Error::Expr(ExprError::UnknownName {
            name, suggestion, ..
        }) => {
            assert_eq!(name, "gg");
            assert_eq!(suggestion.as_deref(), Some("g"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(spanned("sum(gg * w)", &e), "gg");
    // Declared `guide`, the program says `guid`.
    match compile_err("mean(guid)", &["guide"]) {
        Error::Expr(ExprError::UnknownName { suggestion, .. }) => {
            assert_eq!(suggestion.as_deref(), Some("guide"))
        }
        other => panic!("{other:?}"),
    }
    // Not declared at all: an unknown name, even if the input is given later.
    assert!(matches!(
        compile_err("mean(g)", &[]),
        Error::Expr(ExprError::UnknownName { .. })
    ));
    // Declared but not given at apply time.
    let k = Kernel::compile_for("mean(g) + c", &["g"], &Limits::default()).unwrap();
    let img = Array2::<f64>::zeros((4, 4));
    let e = k
        .apply::<f64, f64>(
            &Inputs::new(img.view()),
            &Footprint::cube(3),
            &Options::default(),
        )
        .unwrap_err();
    assert!(matches!(&e, Error::Input(m) if m.contains("`g`")), "{e}");
    // Names that are the language's own, or not names.
    for bad in [
        "w", "c", "n", "e", "channels", "mean", "at", "let", "x1-", "1a", "",
    ] {
        assert!(
            matches!(compile_err("c", &[bad]), Error::Input(_)),
            "`{bad}` accepted as an input name"
        );
        let e = k
            .apply::<f64, f64>(
                &Inputs::new(img.view())
                    .with("g", img.view())
                    .with(bad, img.view()),
                &Footprint::cube(3),
                &Options::default(),
            )
            .unwrap_err();
        assert!(matches!(e, Error::Input(_)), "`{bad}`: {e:?}");
    }
}

#[test]
fn duplicate_input_names() {
    let e = compile_err("mean(g)", &["g", "h", "g"]);
    assert!(matches!(&e, Error::Input(m) if m.contains("`g`")), "{e}");
    let k = Kernel::compile_for("mean(g)", &["g"], &Limits::default()).unwrap();
    let img = Array2::<f64>::zeros((4, 4));
    let e = k
        .apply::<f64, f64>(
            &Inputs::new(img.view())
                .with("g", img.view())
                .with("g", img.view()),
            &Footprint::cube(3),
            &Options::default(),
        )
        .unwrap_err();
    assert!(matches!(&e, Error::Input(m) if m.contains("`g`")), "{e}");
}

#[test]
fn shape_mismatch_names_both_shapes() {
    let k = Kernel::compile_for("mean(g * w)", &["g"], &Limits::default()).unwrap();
    let img = Array2::<f64>::zeros((6, 5));
    let g = Array2::<f64>::zeros((5, 6));
    let e = k
        .apply::<f64, f64>(
            &Inputs::new(img.view()).with("g", g.view()),
            &Footprint::cube(3),
            &Options::default(),
        )
        .unwrap_err();
    let m = e.to_string();
    assert!(matches!(e, Error::Input(_)), "{e:?}");
    assert!(
        m.contains("[5, 6]") && m.contains("[6, 5]") && m.contains("`g`"),
        "{m}"
    );
    // A channel axis on the guide but not on the image.
    let g3 = Array3::<f64>::zeros((6, 5, 3));
    let e = k
        .apply::<f64, f64>(
            &Inputs::new(img.view()).with("g", g3.view()),
            &Footprint::cube(3),
            &Options::default(),
        )
        .unwrap_err();
    let m = e.to_string();
    assert!(m.contains("[6, 5, 3]") && m.contains("[6, 5]"), "{m}");
    // Per channel, a guide of another channel count (neither 1 nor the image's).
    let rgb = Array3::<f64>::zeros((6, 5, 3));
    let two = Array3::<f64>::zeros((6, 5, 2));
    let e = k
        .apply::<f64, f64>(
            &Inputs::new(rgb.view()).channels().with("g", two.view()),
            &Footprint::cube(3),
            &Options::default(),
        )
        .unwrap_err();
    assert!(
        matches!(&e, Error::Input(m) if m.contains("2 channels")),
        "{e}"
    );
}

#[test]
fn channel_index_out_of_range_points_at_it() {
    let src = "let s = w[0] + w[1]; max(s + w[3])";
    let k = Kernel::compile(src).unwrap();
    let rgb = Array3::<f64>::zeros((5, 5, 3));
    let e = k
        .apply::<f64, f64>(
            &Inputs::new(rgb.view()).channels(),
            &Footprint::cube(3),
            &Options::default(),
        )
        .unwrap_err();
    assert!(matches!(e, Error::Expr(ExprError::Type { .. })), "{e:?}");
    assert_eq!(spanned(src, &e), "w[3]");
    assert!(e.to_string().contains("3 channels"), "{e}");
    // `c[j]` and `at(w[j])` likewise; a grey image has one channel.
    for (src, at) in [("c[1] + 1", "c[1]"), ("at(w[5], 1, 0)", "w[5]")] {
        let k = Kernel::compile(src).unwrap();
        let grey = Array2::<f64>::zeros((4, 4));
        let e = k
            .apply::<f64, f64>(
                &Inputs::new(grey.view()),
                &Footprint::cube(3),
                &Options::default(),
            )
            .unwrap_err();
        assert_eq!(spanned(src, &e), at, "{e:?}");
    }
    // Not a whole number known when compiling: an error at the index.
    for (src, at) in [
        ("max(w[0.5])", "0.5"),
        ("max(w[x])", "x"),
        ("max(w[-1])", "-1"),
    ] {
        let e = compile_err(src, &[]);
        assert!(
            matches!(e, Error::Expr(ExprError::Type { .. })),
            "{src}: {e:?}"
        );
        assert_eq!(spanned(src, &e), at, "{src}");
    }
}

#[test]
fn offsets_must_be_integer_constants() {
    for (src, at) in [
        ("at(w, x, 0)", "x"),
        ("at(w, 1, 0.5)", "0.5"),
        ("param t = 1; at(w, t, 0)", "t"),
        ("at(w, 1 + 1, 0)", "1 + 1"),
        ("at(w, 0, 0, mean(w))", "mean(w)"),
        ("at(w, 99999, 0)", "99999"),
    ] {
        let e = compile_err(src, &[]);
        assert!(
            matches!(e, Error::Expr(ExprError::Type { .. })),
            "{src}: {e:?}"
        );
        assert_eq!(spanned(src, &e), at, "{src}");
    }
    // Wrong arity, and something that is not an input.
    assert!(matches!(
        compile_err("at(w, 1)", &[]),
        Error::Expr(ExprError::Arity { .. })
    ));
    let e = compile_err("at(w + 1, 1, 0)", &[]);
    assert_eq!(spanned("at(w + 1, 1, 0)", &e), "w + 1");
    let e = compile_err("at(c, 1, 0)", &[]);
    assert_eq!(spanned("at(c, 1, 0)", &e), "c");
}

#[test]
fn offsets_along_axes_the_array_lacks() {
    let grey = Array2::<f64>::zeros((4, 5));
    let line = ndarray::Array1::<f64>::zeros(6);
    let fp = Footprint::cube(1);
    let o = Options::default();
    for (src, img, at) in [
        (
            "c + at(w, 0, 0, 1)",
            grey.view().into_dyn(),
            "at(w, 0, 0, 1)",
        ),
        ("at(w, 1, 1) - c", line.view().into_dyn(), "at(w, 1, 1)"),
        (
            "(c, at(w, 1, 0, -2))",
            line.view().into_dyn(),
            "at(w, 1, 0, -2)",
        ),
    ] {
        let k = Kernel::compile(src).unwrap();
        for e in [Engine::Auto, Engine::Fused, Engine::Interpreter] {
            let err = k
                .apply::<f64, f64>(&Inputs::new(img.view()), &fp, &o.clone().engine(e))
                .unwrap_err();
            assert!(
                matches!(err, Error::Expr(ExprError::Type { .. })),
                "{err:?}"
            );
            assert_eq!(spanned(src, &err), at, "{src} {e}");
        }
    }
    // Zero offsets along them are fine: `at(w, 1, 0)` on a line is the next element.
    let line = ndarray::Array1::from_shape_fn(6, |i| (i * i) as f64);
    let k = Kernel::compile("at(w, 1, 0, 0) - at(w, -1, 0)").unwrap();
    let got = k
        .apply::<f64, f64>(&Inputs::new(line.view()), &fp, &opts(Mode::Nearest, 0.0))
        .unwrap();
    assert_eq!(
        got.into_raw_vec_and_offset().0,
        [1.0, 4.0, 8.0, 12.0, 16.0, 9.0]
    );
}

#[test]
fn tuples_only_at_the_top_level() {
    for (src, at) in [
        ("sum((w, w))", "(w, w)"),
        ("((mean(w), 1), 2)", "(mean(w), 1)"),
        ("let t = (1, 2); t", "(1, 2)"),
        ("(1, 2) + 3", "(1, 2)"),
        ("max(w) + (c, 1)", "(c, 1)"),
    ] {
        let e = compile_err(src, &[]);
        assert!(
            matches!(e, Error::Expr(ExprError::Type { .. })),
            "{src}: {e:?}"
        );
        assert_eq!(spanned(src, &e), at, "{src}");
    }
    // A vector item is a vector result.
    let e = compile_err("(mean(w), w)", &[]);
    assert!(
        matches!(e, Error::Expr(ExprError::VectorResult { .. })),
        "{e:?}"
    );
    assert_eq!(spanned("(mean(w), w)", &e), "w");
}

#[test]
fn unindexed_input_in_a_program_that_indexes_channels() {
    let src = "max(w) - c[0]";
    let k = Kernel::compile(src).unwrap();
    let rgb = Array3::<f64>::zeros((5, 5, 3));
    let e = k
        .apply::<f64, f64>(
            &Inputs::new(rgb.view()).channels(),
            &Footprint::cube(3),
            &Options::default(),
        )
        .unwrap_err();
    assert!(matches!(e, Error::Expr(ExprError::Type { .. })), "{e:?}");
    assert!(e.to_string().contains("3 channels"), "{e}");
    // A named multi-channel input: the error points at it.
    let src = "mean(g) + max(w[1])";
    let k = Kernel::compile_for(src, &["g"], &Limits::default()).unwrap();
    let e = k
        .apply::<f64, f64>(
            &Inputs::new(rgb.view()).channels().with("g", rgb.view()),
            &Footprint::cube(3),
            &Options::default(),
        )
        .unwrap_err();
    assert_eq!(spanned(src, &e), "g", "{e:?}");
    // A 1-channel named input needs no index.
    let grey = Array2::<f64>::zeros((5, 5));
    k.apply::<f64, f64>(
        &Inputs::new(rgb.view()).channels().with("g", grey.view()),
        &Footprint::cube(3),
        &Options::default(),
    )
    .unwrap();
}

/// `w` unindexed in a program that indexes channels: the caret should be under `w`.
#[test]
fn unindexed_w_error_points_at_w() {
    let src = "c[0] + max(w)";
    let k = Kernel::compile(src).unwrap();
    let rgb = Array3::<f64>::zeros((5, 5, 3));
    let e = k
        .apply::<f64, f64>(
            &Inputs::new(rgb.view()).channels(),
            &Footprint::cube(3),
            &Options::default(),
        )
        .unwrap_err();
    assert!(matches!(e, Error::Expr(ExprError::Type { .. })), "{e:?}");
    assert_eq!(spanned(src, &e), "w", "{e:?}");
}

#[test]
fn per_channel_tuples_on_colour_images_are_refused() {
    let k = Kernel::compile(MEAN_STD).unwrap();
    let rgb = Array3::<f64>::zeros((5, 5, 3));
    let e = k
        .apply::<f64, f64>(
            &Inputs::new(rgb.view()).channels(),
            &Footprint::cube(3),
            &Options::default(),
        )
        .unwrap_err();
    assert!(matches!(e, Error::Expr(ExprError::Type { .. })), "{e:?}");
    assert_eq!(spanned(MEAN_STD, &e), "mean(w)");
    // One channel (a trailing axis of 1) is fine: shape [h, w, 2].
    let one = Array3::<f64>::zeros((5, 5, 1));
    let out = k
        .apply::<f64, f64>(
            &Inputs::new(one.view()).channels(),
            &Footprint::cube(3),
            &Options::default(),
        )
        .unwrap();
    assert_eq!(out.shape(), [5, 5, 2]);
    // filter() has no channel axis for a tuple.
    let grey = Array2::<f64>::zeros((5, 5));
    assert!(k
        .filter_as::<f64, f64, _>(grey.view(), &Footprint::cube(3), &Options::default())
        .is_err());
}

#[test]
fn the_callback_refuses_what_its_abi_cannot_carry() {
    for (src, names, why) in [
        ("(mean(w), std(w))", &[][..], "2 values"),
        ("mean(g)", &["g"][..], "`g`"),
        ("max(w[0])", &[][..], "channels"),
        ("at(w, 1, 0)", &[][..], "at()"),
    ] {
        let k = Kernel::compile_for(src, names, &Limits::default()).unwrap();
        match k.callback() {
            Err(e @ Error::Callback(_)) => assert!(e.to_string().contains(why), "{src}: {e}"),
            other => panic!("{src}: {:?}", other.map(|_| ())),
        }
    }
    // `at(w)` is `c`, which the callback carries.
    let k = Kernel::compile("at(w) - mean(w)").unwrap();
    assert!(k.callback().is_ok());
}

#[test]
fn result_shapes() {
    let grey = Array2::<f64>::zeros((4, 6));
    let rgb = Array3::<f64>::zeros((4, 6, 3));
    let rgba = Array3::<f64>::zeros((4, 6, 4));
    let fp = Footprint::cube(3);
    let o = Options::default();
    let shape = |src: &str, inputs: &Inputs<f64>| {
        Kernel::compile(src)
            .unwrap()
            .apply::<f64, f64>(inputs, &fp, &o)
            .unwrap()
            .shape()
            .to_vec()
    };
    let g = Inputs::new(grey.view());
    let c3 = Inputs::new(rgb.view()).channels();
    let c4 = Inputs::new(rgba.view()).channels();
    assert_eq!(shape("max(w)", &g), [4, 6]);
    assert_eq!(shape("(max(w))", &g), [4, 6]);
    assert_eq!(shape("(max(w), min(w), c)", &g), [4, 6, 3]);
    assert_eq!(shape("max(w)", &c3), [4, 6, 3]);
    assert_eq!(shape("max(w)", &c4), [4, 6, 4]);
    assert_eq!(shape("max(w[0])", &c3), [4, 6, 1]);
    assert_eq!(shape("(c[0], c[1], c[2], c[0])", &c3), [4, 6, 4]);
    assert_eq!(shape("(c[0], c[1], c[2], 1, 2)", &c4), [4, 6, 5]);
    // `channels` is the main input's count, 1 without a channel axis.
    let count = |inputs: &Inputs<f64>| {
        Kernel::compile("channels")
            .unwrap()
            .apply::<f64, f64>(inputs, &fp, &o)
            .unwrap()
            .iter()
            .copied()
            .collect::<Vec<_>>()
    };
    assert!(count(&g).iter().all(|v| *v == 1.0));
    assert!(count(&c4).iter().all(|v| *v == 4.0));
    let k = Kernel::compile("c[0] + channels").unwrap();
    assert!(k
        .apply::<f64, f64>(&c3, &fp, &o)
        .unwrap()
        .iter()
        .all(|v| *v == 3.0));
}

/// The section of docs/language.md shows these five programs verbatim, and the program in each
/// of its code blocks compiles (with the named inputs `g` and `m` declared).
#[test]
fn docs_examples_are_these() {
    let doc =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/language.md"))
            .unwrap();
    let title = "## Several inputs, channels, neighbours and several results";
    let start = doc.find(title).expect("the section");
    let section = &doc[start + title.len()..];
    let section = &section[..section.find("\n## ").unwrap_or(section.len())];
    for example in [BILATERAL, NCC, MASKED_MEDIAN, MEAN_STD, CENTRAL_DIFFERENCE] {
        assert!(section.contains(example), "not in the doc: {example}");
    }
    let mut blocks = 0;
    for block in section.split("```text\n").skip(1) {
        let program = &block[..block.find("```").unwrap()];
        Kernel::compile_for(program, &["g", "m"], &Limits::default())
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        blocks += 1;
    }
    assert!(blocks >= 5, "{blocks} programs");
}
