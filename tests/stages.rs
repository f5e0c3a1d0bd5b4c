//! `stage NAME = EXPR;`: each stage is an image made over the whole array with the command's
//! footprint and mode, read by later statements as an input — what chained scipy.ndimage calls
//! give (fixtures by tests/fixtures/gen_stage_fixtures.py), in every engine, on u8 and f64, on
//! colour per channel, and with tuple stages; and the interpreter as oracle for the rest.

use jitfilter::{Engine, Footprint, Inputs, Kernel, Mode, Options};
use ndarray::{Array3, ArrayD, Axis};
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/stages")
        .join(name)
}

const OPENING: &str = "stage e = min(w); max(e)";
const TOPHAT: &str = "stage e = min(w); stage o = max(e); c - at(o)";

#[test]
fn opening_and_top_hat_equal_scipy() {
    let img: ArrayD<u8> = ndarray_npy::read_npy(fixture("input.npy")).unwrap();
    let wide = img.mapv(f64::from);
    for mode in ["reflect", "mirror", "nearest", "wrap"] {
        for (src, name) in [(OPENING, "opening"), (TOPHAT, "tophat")] {
            let want: ArrayD<f64> =
                ndarray_npy::read_npy(fixture(&format!("{name}_{mode}.npy"))).unwrap();
            let k = Kernel::compile(src).unwrap();
            for engine in [Engine::Auto, Engine::Fused, Engine::Interpreter] {
                let opts = Options::default()
                    .mode(mode.parse::<Mode>().unwrap())
                    .engine(engine);
                let got = k
                    .filter_as::<u8, f64, _>(img.view(), &Footprint::disk(3), &opts)
                    .unwrap();
                assert_eq!(got, want, "{name} {mode} {engine} u8");
                let got = k.filter(wide.view(), &Footprint::disk(3), &opts).unwrap();
                assert_eq!(got, want, "{name} {mode} {engine} f64");
            }
        }
    }
}

#[test]
fn stages_per_channel_tuples_and_inputs_agree_with_the_interpreter() {
    let rgb = Array3::from_shape_fn((30, 33, 3), |(y, x, j)| {
        ((x * 7 + y * 13 + j * 29) % 61) as f64
    });
    let g = rgb.index_axis(Axis(2), 1).to_owned();
    let cases: &[(&str, bool)] = &[
        // Per channel: the stage is made per channel and read per channel.
        ("stage m = mean(w); c - at(m) + max(m)", false),
        // A tuple stage read by channel, with an at() offset and a named input.
        (
            "param p = 2; stage t = (min(w[0]), max(g) * p); at(t[0], 1, -1) + mean(t[1]) - c[2]",
            true,
        ),
    ];
    for (src, joint) in cases {
        let k = Kernel::compile_for(src, &["g"], &Default::default()).unwrap();
        let inputs = Inputs::new(rgb.view()).with("g", g.view()).channels();
        let mut opts = Options::default().mode(Mode::Wrap);
        if src.contains("param") {
            opts = opts.param("p", 3.0);
        }
        let want: ArrayD<f64> = k
            .apply(
                &inputs,
                &Footprint::disk(2),
                &opts.clone().engine(Engine::Interpreter),
            )
            .unwrap();
        assert_eq!(
            want.shape(),
            if *joint {
                &[30, 33, 1][..]
            } else {
                &[30, 33, 3][..]
            }
        );
        for engine in [Engine::Auto, Engine::Fused] {
            let got: ArrayD<f64> = k
                .apply(&inputs, &Footprint::disk(2), &opts.clone().engine(engine))
                .unwrap();
            for (a, b) in got.iter().zip(want.iter()) {
                assert!(
                    (a - b).abs() <= 1e-9 * b.abs().max(1.0),
                    "{src} {engine}: {a} vs {b}"
                );
            }
        }
    }
    // The scipy callback cannot run stages.
    let k = Kernel::compile(OPENING).unwrap();
    assert!(k.callback().is_err());
    // Each pass reads the footprint around each position: two passes reach twice as far.
    assert_eq!(k.pass_points().len(), 2);
}

/// Stages that pick a value of their window (`min`, `max`) of an integer image stay in its type
/// and run natively, and so does a pass reading them with one order statistic: an opening, a
/// closing, a top-hat and a morphological gradient on u8 and u16, in every mode (constant with
/// a cval the type holds, and one it does not: then the stages stay in f64), equal the
/// interpreter exactly; a stage that may fall between two values (an even median) keeps f64.
#[test]
fn min_max_stages_of_integer_images_run_natively() {
    use jitfilter::Path;
    let img = ndarray::Array2::from_shape_fn((37, 41), |(y, x)| {
        ((y * 7919 + x * 104729 + (y * x) % 13) % 251) as u8
    })
    .into_dyn();
    let programs = [
        ("stage e = min(w) over disk:2; max(e) over disk:2", true),
        ("stage d = max(w); stage e = min(d); at(e)", true),
        ("stage e = min(w); stage o = max(e); c - at(o)", true),
        ("stage d = max(w); stage e = min(w); at(d) - at(e)", true),
        ("stage m = median(w); max(m)", false),
    ];
    let modes = [
        ("reflect", 0.0),
        ("mirror", 0.0),
        ("nearest", 0.0),
        ("wrap", 0.0),
        ("constant", 7.0),
        ("constant", -1.0),
    ];
    for (src, native) in programs {
        let k = Kernel::compile(src).unwrap();
        for (mode, cval) in modes {
            let opts = Options::default()
                .mode(mode.parse::<Mode>().unwrap())
                .cval(cval);
            let fp = Footprint::rect(4, 3);
            let interp = opts.clone().engine(Engine::Interpreter);
            let want = k.filter_as::<u8, f64, _>(img.view(), &fp, &interp).unwrap();
            let (got, trace) = k
                .filter_traced::<u8, f64, _>(img.view(), &fp, &opts)
                .unwrap();
            assert_eq!(got, want, "`{src}` {mode} {cval} u8");
            let wide = img.mapv(u16::from);
            let got16 = k.filter_as::<u16, f64, _>(wide.view(), &fp, &opts).unwrap();
            assert_eq!(got16, want, "`{src}` {mode} {cval} u16");
            let natives = (trace.reductions.iter())
                .filter(|(_, p)| *p == Path::Native)
                .count();
            let last = trace.reductions.last().unwrap().1;
            if src.starts_with("stage e = min(w) over") {
                // Both passes native, unless u8 cannot hold the cval.
                let want = if cval >= 0.0 { 2 } else { 0 };
                assert_eq!(natives, want, "`{src}` {mode} {cval}: {trace:?}");
            }
            if !native {
                assert_ne!(last, Path::Native, "`{src}`: {trace:?}");
            }
        }
    }
}

/// Stages of one footprint that read each other only at the output position run fused, as one
/// pass making all their results, sharing the reductions they have in common (a guided filter's
/// `mean(w)` and `mean(g)`); a reduction's value never depends on what else its pass computes,
/// so the whole-array filter equals its passes run one after another (what a Dask graph runs)
/// bit for bit: on real-valued data with NaN and ∞, a mean beside a variance, tuple stages,
/// colour per channel (which runs the stages apart) and jointly.
#[test]
fn fused_stages_equal_their_passes_one_by_one_bit_for_bit() {
    let (h, w) = (37, 41);
    let noise = |y: usize, x: usize, j: usize| {
        let v = ((x * 7919 + y * 104_729 + j * 31) % 1009) as f64 / 7.3 - 60.0;
        v * (1.0 + ((x * y) % 13) as f64 * 1e-3)
    };
    let mut img = ArrayD::from_shape_fn(vec![h, w], |i| noise(i[0], i[1], 0));
    img[[3, 5]] = f64::NAN;
    img[[20, 30]] = f64::INFINITY;
    let g = ArrayD::from_shape_fn(vec![h, w], |i| 50.0 + noise(i[0], i[1], 1).abs());
    let rgb = Array3::from_shape_fn((h, w, 3), |(y, x, j)| noise(y, x, j + 2));
    let guided = "param eps = 100; \
        stage a = ((mean(g*w) - mean(g)*mean(w)) / (var(g) + eps)) over box:9; \
        stage b = (mean(w) - at(a) * mean(g)) over box:9; \
        (mean(a) * at(g) + mean(b)) over box:9";
    let harris = "stage gx = sum(w * dx * (2 - abs(dy))) over box:3; \
        stage gy = sum(w * dy * (2 - abs(dx))) over box:3; \
        let sxx = sum(gx^2) over box:5; let syy = sum(gy^2) over box:5; \
        let sxy = sum(gx * gy) over box:5; sxx * syy - sxy^2 - 0.04 * (sxx + syy)^2";
    let moments = "stage m = (mean(w), std(w)); stage u = (c - at(m[0])) / (at(m[1]) + 1); \
        stage s = sum(g) + at(u) * mean(w); max(u) + at(s) + mean(m[1])";
    // The inputs of each case: the image (or colour) and the guide, as each needs.
    let cases: [(&str, bool, bool); 5] = [
        (guided, false, true),
        (harris, false, false),
        (moments, false, true),
        (guided, true, true),
        (
            "stage l = mean(w[0]) + c[1]; stage d = at(l) * mean(w[0]) - var(w[2]); max(d) + at(l)",
            true,
            false,
        ),
    ];
    fn inputs_of<'a>(
        (img, rgb, g): (&'a ArrayD<f64>, &'a Array3<f64>, &'a ArrayD<f64>),
        colour: bool,
        guide: bool,
    ) -> Inputs<'a, f64> {
        let i = match colour {
            true => Inputs::new(rgb.view()).channels(),
            false => Inputs::new(img.view()),
        };
        if guide {
            i.with("g", g.view())
        } else {
            i
        }
    }
    let data = (&img, &rgb, &g);
    for (src, colour, guide) in cases {
        let k = Kernel::compile_for(src, &["g"], &Default::default()).unwrap();
        for mode in [Mode::Reflect, Mode::Constant] {
            let opts = Options::default().mode(mode).cval(2.5);
            let fp = Footprint::rect(3, 3);
            let whole: ArrayD<f64> = k
                .apply(&inputs_of(data, colour, guide), &fp, &opts)
                .unwrap();
            // Pass by pass, each result an input of those after it.
            let mut made: Vec<(String, ArrayD<f64>)> = Vec::new();
            for (name, pass) in k.passes() {
                let mut step = inputs_of(data, colour, guide);
                for (n, r) in &made {
                    step = if r.ndim() > 2 {
                        step.with_planes(n, r.axis_iter(Axis(2)).collect())
                    } else {
                        step.with(n, r.view())
                    };
                }
                let out: ArrayD<f64> = pass.apply(&step, &fp, &opts).unwrap();
                drop(step);
                made.push((name, out));
            }
            let apart = made.pop().unwrap().1;
            assert_eq!(whole.shape(), apart.shape(), "{src}");
            let bits = |a: &ArrayD<f64>| a.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert!(
                bits(&whole) == bits(&apart),
                "{src} {mode:?}: fused != passes"
            );
        }
    }
}

/// A fused pass whose code would pass the code size limit, where each of its stages fits: the
/// stages run apart (no compile error), with the same results.
#[test]
fn a_fused_pass_over_the_code_limit_leaves_its_stages_apart() {
    let src = "param eps = 100; \
        stage a = ((mean(g*w) - mean(g)*mean(w)) / (var(g) + eps)) over box:9; \
        stage b = (mean(w) - at(a) * mean(g)) over box:9; \
        (mean(a) * at(g) + mean(b)) over box:9";
    let k = Kernel::compile_for(src, &["g"], &Default::default()).unwrap();
    let fused = |k: &Kernel| k.plan_summary().iter().any(|l| l.contains("fused"));
    assert!(fused(&k));
    // The largest pass alone, as the limit.
    let largest = (k.passes().iter())
        .map(|(_, p)| p.code_bytes())
        .max()
        .unwrap();
    let limits = jitfilter::Limits {
        max_code_bytes: largest,
        ..Default::default()
    };
    let small = Kernel::compile_for(src, &["g"], &limits).unwrap();
    assert!(!fused(&small), "{:?}", small.plan_summary());
    let img = ArrayD::from_shape_fn(vec![40, 50], |i| {
        ((i[0] * 31 + i[1] * 17) % 97) as f64 / 3.0
    });
    let g = img.mapv(|v| v * 0.5 + 7.0);
    let inputs = Inputs::new(img.view()).with("g", g.view());
    let opts = Options::default();
    let want: ArrayD<f64> = k.apply(&inputs, &Footprint::rect(3, 3), &opts).unwrap();
    let got: ArrayD<f64> = small.apply(&inputs, &Footprint::rect(3, 3), &opts).unwrap();
    assert_eq!(got, want);
}
