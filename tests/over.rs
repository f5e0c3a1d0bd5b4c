//! `EXPR over SPEC` (issue 12): the examples against chained scipy.ndimage calls
//! (fixtures by tests/fixtures/gen_over_fixtures.py) in every engine, on u8 and f64, in every
//! boundary mode; programs mixing footprints against a composition of single-footprint kernels
//! run by the interpreter; and the errors `over` and stages can give, with where they point.
//!
//! `cargo test --test over -- --nocapture` prints each example's largest difference to scipy per
//! engine.

use jitfilter::{
    Engine, Error, ExprError, Footprint, Inputs, Kernel, Limit, Limits, Mode, Options,
};
use ndarray::{Array2, ArrayD, Axis, Zip};
use std::path::PathBuf;

const ENGINES: [Engine; 3] = [Engine::Auto, Engine::Fused, Engine::Interpreter];
/// Each fixture's modes (gen_over_fixtures.py): constant with cval 50.
const MODES: [(&str, f64); 5] = [
    ("reflect", 0.0),
    ("mirror", 0.0),
    ("nearest", 0.0),
    ("wrap", 0.0),
    ("constant", 50.0),
];

const OPENING: &str = "stage e = min(w) over disk:5; max(e) over disk:5";
const TOPHAT: &str = "stage e = min(w); stage o = max(e); c - at(o)";
const DOB: &str = "mean(w) over box:3 - mean(w) over box:9";
const HARRIS: &str = "stage gx = sum(w * dx * (2 - abs(dy))) over box:3; \
     stage gy = sum(w * dy * (2 - abs(dx))) over box:3; \
     let sxx = sum(gx^2) over box:5; let syy = sum(gy^2) over box:5; \
     let sxy = sum(gx * gy) over box:5; \
     sxx * syy - sxy^2 - 0.04 * (sxx + syy)^2";
const GUIDED: &str = "param eps = 100; \
     stage a = ((mean(g*w) - mean(g)*mean(w)) / (var(g) + eps)) over box:9; \
     stage b = (mean(w) - at(a) * mean(g)) over box:9; \
     (mean(a) * at(g) + mean(b)) over box:9";

fn fixture<T: ndarray_npy::ReadableElement>(name: &str) -> ArrayD<T> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/over")
        .join(format!("{name}.npy"));
    ndarray_npy::read_npy(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn image() -> ArrayD<u8> {
    fixture("input")
}

fn fp(spec: &str) -> Footprint {
    spec.parse().unwrap()
}

fn opts(mode: &str, cval: f64, engine: Engine) -> Options {
    Options::default()
        .mode(mode.parse::<Mode>().unwrap())
        .cval(cval)
        .engine(engine)
}

/// The largest absolute difference, and that over the largest magnitude of `want` (its range).
fn diff(got: &ArrayD<f64>, want: &ArrayD<f64>) -> (f64, f64) {
    assert_eq!(got.shape(), want.shape());
    let abs = (got.iter().zip(want.iter()))
        .map(|(g, w)| {
            if g == w {
                0.0
            } else if g.is_nan() || w.is_nan() {
                f64::INFINITY
            } else {
                (g - w).abs()
            }
        })
        .fold(0.0, f64::max);
    let range = want.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1.0);
    (abs, abs / range)
}

/// Largest differences per engine, printed when a test ends.
struct Report {
    name: &'static str,
    worst: [(f64, f64); 3],
}

impl Report {
    fn new(name: &'static str) -> Report {
        Report {
            name,
            worst: [(0.0, 0.0); 3],
        }
    }

    /// Checks `got` against `want` to `rel` of `want`'s range (exact when `rel` is 0).
    fn check(&mut self, got: &ArrayD<f64>, want: &ArrayD<f64>, rel: f64, what: &str) {
        let (abs, r) = diff(got, want);
        let e = ENGINES
            .iter()
            .position(|&x| what.contains(x.name()))
            .unwrap();
        self.worst[e] = (self.worst[e].0.max(abs), self.worst[e].1.max(r));
        if rel == 0.0 {
            assert!(got == want, "{}: {what}: differs by up to {abs}", self.name);
        } else {
            assert!(
                r <= rel,
                "{}: {what}: {abs} ({r:e} of the range)",
                self.name
            );
        }
    }
}

impl Drop for Report {
    fn drop(&mut self) {
        for (engine, (abs, rel)) in ENGINES.iter().zip(self.worst) {
            eprintln!(
                "{:<22} {:<12} max abs {abs:.3e}  max rel {rel:.3e}",
                self.name,
                engine.name()
            );
        }
    }
}

/// Runs `src` over footprint `spec` on the test image as u8 and as f64, in every mode and engine,
/// against `NAME_MODE.npy` (modes without a fixture skipped).
fn against_scipy(
    report: &mut Report,
    src: &str,
    spec: &str,
    name: &str,
    rel: f64,
    modes: &[(&str, f64)],
) {
    let img = image();
    let wide = img.mapv(f64::from);
    let k = Kernel::compile(src).unwrap();
    for &(mode, cval) in modes {
        let want: ArrayD<f64> = fixture(&format!("{name}_{mode}"));
        for engine in ENGINES {
            let o = opts(mode, cval, engine);
            let got = k
                .filter_as::<u8, f64, _>(img.view(), &fp(spec), &o)
                .unwrap();
            report.check(
                &got,
                &want,
                rel,
                &format!("{src} -f {spec} {mode} {engine} u8"),
            );
            let got = k.filter(wide.view(), &fp(spec), &o).unwrap();
            report.check(
                &got,
                &want,
                rel,
                &format!("{src} -f {spec} {mode} {engine} f64"),
            );
        }
    }
}

/// `src` over `spec` in reflect mode, by the interpreter (for "the command's footprint would
/// give something else" checks).
fn reflect(src: &str, spec: &str) -> ArrayD<f64> {
    let k = Kernel::compile(src).unwrap();
    k.filter(
        image().mapv(f64::from).view(),
        &fp(spec),
        &opts("reflect", 0.0, Engine::Interpreter),
    )
    .unwrap()
}

#[test]
fn opening_over_disk_equals_grey_opening() {
    let mut report = Report::new("opening");
    // The command's footprint is box:3; `over disk:5` wins.
    against_scipy(&mut report, OPENING, "box:3", "opening", 0.0, &MODES);
    against_scipy(
        &mut report,
        OPENING,
        "rect:7x2",
        "opening",
        0.0,
        &MODES[..1],
    );
    let want: ArrayD<f64> = fixture("opening_reflect");
    assert_ne!(reflect("stage e = min(w); max(e)", "box:3"), want);
    assert_eq!(reflect("stage e = min(w); max(e)", "disk:5"), want);
    // One pass per stage, each with its footprint.
    let k = Kernel::compile(OPENING).unwrap();
    let passes: Vec<(String, Option<String>)> = (k.passes().into_iter())
        .map(|(name, p)| (name, p.footprint().map(|f| f.to_string())))
        .collect();
    let disk5 = Some("disk:5".to_string());
    assert_eq!(passes, [("e".into(), disk5.clone()), ("".into(), disk5)]);
}

#[test]
fn white_tophat_equals_scipy() {
    let mut report = Report::new("white top-hat");
    against_scipy(&mut report, TOPHAT, "disk:5", "tophat", 0.0, &MODES);
    // The same with `over` on each stage, run with another footprint.
    let over = "stage e = min(w) over disk:5; stage o = max(e) over disk:5; c - at(o)";
    against_scipy(&mut report, over, "box:3", "tophat", 0.0, &MODES);
    assert_ne!(reflect(TOPHAT, "box:3"), fixture::<f64>("tophat_reflect"));
}

#[test]
fn difference_of_boxes_equals_two_uniform_filters() {
    let mut report = Report::new("difference of boxes");
    against_scipy(&mut report, DOB, "disk:4", "dob", 1e-12, &MODES);
    let flipped = "-(mean(w) over box:9 - mean(w) over box:3)";
    against_scipy(&mut report, flipped, "box:1", "dob", 1e-12, &MODES[..1]);
    // Two passes: the first reduction a stage of its own, the result over the last one's.
    let k = Kernel::compile(DOB).unwrap();
    let passes: Vec<(String, Option<String>)> = (k.passes().into_iter())
        .map(|(name, p)| (name, p.footprint().map(|f| f.to_string())))
        .collect();
    assert_eq!(
        passes,
        [
            ("mean(w) over box:3".into(), Some("box:3".into())),
            ("".into(), Some("box:9".into()))
        ]
    );
    assert_eq!(k.footprint().map(|f| f.to_string()), Some("box:9".into()));
    // The scipy callback has one footprint, scipy's: it refuses programs that set their own.
    let err = k
        .filter(
            image().mapv(f64::from).view(),
            &fp("box:3"),
            &opts("reflect", 0.0, Engine::Callback),
        )
        .unwrap_err();
    assert!(matches!(err, Error::Callback(_)), "{err:?}");
    assert!(Kernel::compile("mean(w) over box:3")
        .unwrap()
        .callback()
        .is_err());
    let want: ArrayD<f64> = fixture("dob_reflect");
    assert!(want.iter().any(|v| v.abs() > 10.0));
}

#[test]
fn harris_equals_sobel_and_uniform_filters() {
    let mut report = Report::new("harris");
    let modes = [
        ("reflect", 0.0),
        ("mirror", 0.0),
        ("nearest", 0.0),
        ("wrap", 0.0),
        ("constant", 0.0),
    ];
    against_scipy(&mut report, HARRIS, "disk:2", "harris", 1e-12, &modes);
    // Without its `over`s the program would sum over the command's box:3.
    let plain = HARRIS.replace(" over box:3", "").replace(" over box:5", "");
    let (_, rel) = diff(&reflect(&plain, "box:3"), &fixture("harris_reflect"));
    assert!(rel > 0.01, "{rel}");
}

#[test]
fn guided_filter_equals_he_with_uniform_filters() {
    let mut report = Report::new("guided filter");
    let img = image();
    let guide: ArrayD<u8> = fixture("guide");
    let (wide, gwide) = (img.mapv(f64::from), guide.mapv(f64::from));
    let k = Kernel::compile_for(GUIDED, &["g"], &Limits::default()).unwrap();
    let cases = [
        ("reflect", None, "guided_reflect"),
        ("mirror", None, "guided_mirror"),
        ("nearest", None, "guided_nearest"),
        ("wrap", None, "guided_wrap"),
        ("reflect", Some(650.25), "guided_reflect_eps650"),
    ];
    for (mode, eps, name) in cases {
        let want: ArrayD<f64> = fixture(name);
        for engine in ENGINES {
            let mut o = opts(mode, 0.0, engine);
            if let Some(eps) = eps {
                o = o.param("eps", eps);
            }
            let what = format!("{name} {engine}");
            let inputs = Inputs::new(img.view()).with("g", guide.view());
            let got: ArrayD<f64> = k.apply(&inputs, &fp("disk:1"), &o).unwrap();
            report.check(&got, &want, 1e-9, &format!("{what} u8"));
            let inputs = Inputs::new(wide.view()).with("g", gwide.view());
            let got: ArrayD<f64> = k.apply(&inputs, &fp("disk:1"), &o).unwrap();
            report.check(&got, &want, 1e-9, &format!("{what} f64"));
        }
    }
    // eps matters, and without `over` the command's footprint would give something else.
    let (_, rel) = diff(
        &fixture("guided_reflect"),
        &fixture("guided_reflect_eps650"),
    );
    assert!(rel > 1e-3, "{rel}");
    let plain = GUIDED.replace(" over box:9", "");
    let k = Kernel::compile_for(&plain, &["g"], &Limits::default()).unwrap();
    let inputs = Inputs::new(wide.view()).with("g", gwide.view());
    let got: ArrayD<f64> = k
        .apply(&inputs, &fp("disk:1"), &opts("reflect", 0.0, Engine::Auto))
        .unwrap();
    let (_, rel) = diff(&got, &fixture("guided_reflect"));
    assert!(rel > 1e-3, "{rel}");
}

#[test]
fn gaussian_blur_over_gauss_equals_gaussian_filter() {
    let mut report = Report::new("gaussian blur");
    against_scipy(&mut report, "sum(k * w)", "gauss:2", "gauss", 1e-12, &MODES);
    let over = "sum(k * w) over gauss:2";
    against_scipy(&mut report, over, "box:3", "gauss", 1e-12, &MODES);
    against_scipy(&mut report, over, "disk:1", "gauss", 1e-12, &MODES[4..]);
    let (_, rel) = diff(&reflect("sum(k * w)", "box:3"), &fixture("gauss_reflect"));
    assert!(rel > 0.5, "{rel}");
}

// Programs mixing footprints, against a composition of single-footprint kernels.

/// `a` without the trailing axis of one result that `Kernel::apply` may add, as `ndim` axes.
fn squeeze(a: ArrayD<f64>, ndim: usize) -> ArrayD<f64> {
    if a.ndim() > ndim {
        assert_eq!(a.shape()[a.ndim() - 1], 1);
        let last = Axis(a.ndim() - 1);
        a.index_axis_move(last, 0)
    } else {
        a
    }
}

/// `src` (reading the named `inputs`) over `spec` by the interpreter: the oracle's parts.
fn interp(
    src: &str,
    main: &ArrayD<f64>,
    inputs: &[(&str, &ArrayD<f64>)],
    spec: &str,
    o: &Options,
) -> ArrayD<f64> {
    let names: Vec<&str> = inputs.iter().map(|(n, _)| *n).collect();
    let k = Kernel::compile_for(src, &names, &Limits::default()).unwrap();
    assert!(
        k.passes().len() == 1 && k.footprint().is_none(),
        "{src} has one footprint"
    );
    let mut bound = Inputs::new(main.view());
    for (name, a) in inputs {
        bound = bound.with(name, a.view());
    }
    let o = o.clone().engine(Engine::Interpreter);
    let out: ArrayD<f64> = k.apply(&bound, &fp(spec), &o).unwrap();
    squeeze(out, main.ndim())
}

/// Checks `src` over `spec` on `img` in every engine against `want`, to 1e-12 of its range.
fn mixed(src: &str, img: &ArrayD<f64>, spec: &str, o: &Options, want: &ArrayD<f64>) {
    let k = Kernel::compile(src).unwrap();
    assert!(k.passes().len() > 1, "{src} mixes footprints");
    for engine in ENGINES {
        let got: ArrayD<f64> = k
            .apply(
                &Inputs::new(img.view()),
                &fp(spec),
                &o.clone().engine(engine),
            )
            .unwrap();
        let got = squeeze(got, want.ndim());
        let (abs, rel) = diff(&got, want);
        assert!(
            rel <= 1e-12,
            "{src} -f {spec} {o:?} {engine}: {abs} ({rel:e})"
        );
    }
}

const MIXED_MODES: [(&str, f64); 3] = [("reflect", 0.0), ("wrap", 0.0), ("constant", 50.0)];

#[test]
fn n_inside_over_is_that_footprints_size() {
    let img = image().mapv(f64::from);
    for (mode, cval) in MIXED_MODES {
        let o = opts(mode, cval, Engine::Auto);
        let mean5 = interp("mean(w)", &img, &[], "box:5", &o);
        let max = interp("max(w)", &img, &[], "disk:2", &o);
        // `n` inside `over box:5` is 25; a reduction of the command's footprint (disk:2) beside.
        mixed(
            "(sum(w) / n) over box:5 + max(w)",
            &img,
            "disk:2",
            &o,
            &(&mean5 + &max),
        );
        mixed("max(w) + n over box:5", &img, "disk:2", &o, &(&max + 25.0));
        mixed(
            "max(w) + (n + n) over box:5",
            &img,
            "disk:2",
            &o,
            &(&max + 50.0),
        );
    }
}

#[test]
fn n_outside_over_is_the_commands_footprint_size() {
    let img = image().mapv(f64::from);
    let o = opts("reflect", 0.0, Engine::Auto);
    let mean5 = interp("mean(w)", &img, &[], "box:5", &o);
    // disk:2 has 13 cells: `n` outside the region is the command footprint's.
    for engine in ENGINES {
        let o = o.clone().engine(engine);
        for (src, want) in [
            ("(sum(w) / n) over box:5 - n", &mean5 - 13.0),
            ("mean(w) over box:5 + n", &mean5 + 13.0),
            (
                "let q = n over box:5; q + n + mean(w) over box:5",
                &mean5 + 38.0,
            ),
        ] {
            let k = Kernel::compile(src).unwrap();
            let got = k.filter(img.view(), &fp("disk:2"), &o).unwrap();
            let (abs, _) = diff(&got, &want);
            assert!(abs <= 1e-9, "{src} -f disk:2 {engine}: off by {abs}");
        }
    }
}

#[test]
fn a_let_keeps_the_footprint_where_it_is_defined() {
    let img = image().mapv(f64::from);
    for (mode, cval) in MIXED_MODES {
        let o = opts(mode, cval, Engine::Auto);
        // m is the mean over the command's disk:2, read at the output position.
        let m = interp("mean(w)", &img, &[], "disk:2", &o);
        let want = interp("sum((w - at(m))^2)", &img, &[("m", &m)], "box:3", &o);
        mixed(
            "let m = mean(w); sum((w - m)^2) over box:3",
            &img,
            "disk:2",
            &o,
            &want,
        );
        // Defined inside an `over`, it keeps that one wherever it is used.
        let m9 = interp("mean(w)", &img, &[], "box:9", &o);
        let std = interp("std(w)", &img, &[], "disk:2", &o);
        let want = Zip::from(&img)
            .and(&m9)
            .and(&std)
            .map_collect(|c, m, s| (c - m) / (s + 1.0));
        mixed(
            "let m = mean(w) over box:9; (c - m) / (std(w) + 1)",
            &img,
            "disk:2",
            &o,
            &want,
        );
    }
}

#[test]
fn a_region_inside_a_region_is_read_at_the_output_position() {
    let img = image().mapv(f64::from);
    for (mode, cval) in MIXED_MODES {
        let o = opts(mode, cval, Engine::Auto);
        let m9 = interp("mean(w)", &img, &[], "box:9", &o);
        let s = interp("sum(w - at(m))", &img, &[("m", &m9)], "box:3", &o);
        let max = interp("max(w)", &img, &[], "disk:2", &o);
        mixed(
            "sum(w - mean(w) over box:9) over box:3 + max(w)",
            &img,
            "disk:2",
            &o,
            &(&s + &max),
        );
    }
}

#[test]
fn a_tuple_mixing_footprints() {
    let img = image().mapv(f64::from);
    let src = "(mean(w) over box:3, max(w), median(w) over disk:1 - min(w))";
    let k = Kernel::compile(src).unwrap();
    for (mode, cval) in MIXED_MODES {
        let o = opts(mode, cval, Engine::Auto);
        let parts = [
            interp("mean(w)", &img, &[], "box:3", &o),
            interp("max(w)", &img, &[], "disk:2", &o),
            &interp("median(w)", &img, &[], "disk:1", &o)
                - &interp("min(w)", &img, &[], "disk:2", &o),
        ];
        let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
        let want = ndarray::stack(Axis(2), &views).unwrap();
        for engine in ENGINES {
            let got: ArrayD<f64> = k
                .apply(
                    &Inputs::new(img.view()),
                    &fp("disk:2"),
                    &o.clone().engine(engine),
                )
                .unwrap();
            let (abs, rel) = diff(&got, &want);
            assert!(rel <= 1e-12, "{src} {mode} {engine}: {abs}");
        }
    }
}

#[test]
fn colour_runs_a_mixed_program_per_channel() {
    let rgb: ArrayD<u8> = fixture("rgb");
    let wide = rgb.mapv(f64::from);
    let src = "mean(w) over box:5 - min(w) + std(w) over diamond:2";
    let k = Kernel::compile(src).unwrap();
    for (mode, cval) in MIXED_MODES {
        let o = opts(mode, cval, Engine::Auto);
        let planes: Vec<ArrayD<f64>> = (0..3)
            .map(|j| {
                let p = wide.index_axis(Axis(2), j).to_owned();
                &(&interp("mean(w)", &p, &[], "box:5", &o)
                    - &interp("min(w)", &p, &[], "disk:2", &o))
                    + &interp("std(w)", &p, &[], "diamond:2", &o)
            })
            .collect();
        let views: Vec<_> = planes.iter().map(|p| p.view()).collect();
        let want = ndarray::stack(Axis(2), &views).unwrap();
        for engine in ENGINES {
            let o = o.clone().engine(engine);
            let got: ArrayD<f64> = k
                .apply(&Inputs::new(rgb.view()).channels(), &fp("disk:2"), &o)
                .unwrap();
            assert_eq!(got.shape(), [40, 48, 3]);
            let (abs, rel) = diff(&got, &want);
            assert!(rel <= 1e-12, "{src} {mode} {engine} u8: {abs}");
            let got: ArrayD<f64> = k
                .apply(&Inputs::new(wide.view()).channels(), &fp("disk:2"), &o)
                .unwrap();
            let (abs, rel) = diff(&got, &want);
            assert!(rel <= 1e-12, "{src} {mode} {engine} f64: {abs}");
        }
    }
}

// Errors.

/// The error compiling `src` (with input `g` declared) within `limits`, and the text it points at.
fn error_with(src: &str, limits: &Limits) -> (ExprError, String) {
    match Kernel::compile_for(src, &["g"], limits) {
        Err(Error::Expr(e)) => {
            let span = e.span();
            let text = src.get(span.start..span.end).unwrap_or("").to_string();
            (e, text)
        }
        other => panic!("{src}: expected an expression error, got {other:?}"),
    }
}

fn error(src: &str) -> (ExprError, String) {
    error_with(src, &Limits::default())
}

#[test]
fn a_stage_used_before_it_is_defined() {
    for (src, offset) in [
        ("let a = max(s); stage s = min(w); a", 12),
        ("stage a = max(b); stage b = min(w); at(a)", 14),
        ("stage a = max(b) over box:3; stage b = min(w); at(a)", 14),
        ("at(s) + max(w) over box:3; stage s = c", 3),
    ] {
        let (e, text) = error(src);
        if src.ends_with("stage s = c") {
            // A statement after the result is a syntax error.
            assert!(matches!(e, ExprError::Syntax { .. }), "{src}: {e:?}");
            continue;
        }
        assert!(
            matches!(&e, ExprError::UseBeforeDefinition { name, .. } if name == &text),
            "{src}: {e:?}"
        );
        assert_eq!(e.span().start, offset, "{src}");
    }
}

#[test]
fn a_stage_cannot_take_the_name_of_an_input_or_a_built_in() {
    for (src, name) in [
        ("stage w = min(w); max(w)", "w"),
        ("stage c = min(w); max(c)", "c"),
        ("stage g = min(w); max(g)", "g"),
        ("stage x = min(w); max(x)", "x"),
        ("stage n = min(w) over box:3; max(n)", "n"),
        ("stage k = min(w); max(k)", "k"),
    ] {
        let (e, text) = error(src);
        assert!(
            matches!(&e, ExprError::Rebind { name: n, .. } if n == name),
            "{src}: {e:?}"
        );
        assert_eq!((e.span().start, text.as_str()), (6, name), "{src}");
    }
    for (src, name) in [
        ("stage max = min(w); at(max)", "max"),
        ("stage mean = min(w) over box:3; at(mean)", "mean"),
        ("stage at = min(w); 1", "at"),
    ] {
        let (e, text) = error(src);
        assert!(
            matches!(&e, ExprError::Type { message, .. } if message.contains("function name")),
            "{src}: {e:?}"
        );
        assert_eq!((e.span().start, text.as_str()), (6, name), "{src}");
    }
    // A constant's name is fine (`e` is then the stage); a stage named twice or after a let is not.
    assert!(Kernel::compile("stage e = min(w) over disk:5; max(e) over disk:5").is_ok());
    let (e, text) = error("stage s = min(w); stage s = max(s); at(s)");
    assert!(matches!(e, ExprError::Redefined { .. }), "{e:?}");
    assert_eq!((e.span().start, text.as_str()), (24, "s"));
    let (e, _) = error("let s = max(w); stage s = min(w); at(s)");
    assert!(matches!(e, ExprError::Redefined { .. }), "{e:?}");
}

#[test]
fn over_without_a_reduction_points_at_its_spec() {
    for src in [
        "2 over box:3",
        "let m = mean(w); m over box:3",
        "max(w) + c over box:3",
        "sum(w) over disk:2 + (at(g) + 1) over box:3",
        "stage s = min(w); at(s) over box:3",
        "(max(w over box:3))",
    ] {
        let (e, text) = error(src);
        assert!(
            matches!(&e, ExprError::Type { message, .. } if message.contains("sets the footprint of no reduction")),
            "{src}: {e:?}"
        );
        assert_eq!(text, "box:3", "{src}");
        assert_eq!(e.span().start, src.rfind("box:3").unwrap(), "{src}");
        assert!(
            e.hint().unwrap().contains("a `let` keeps the footprint"),
            "{src}"
        );
    }
    // A region whose reduction sits in a `let` defined inside it is fine.
    assert!(Kernel::compile("(max(w) - min(w)) over box:3").is_ok());
}

#[test]
fn over_around_reductions_with_their_own_over_is_an_error() {
    // The checker's own message says so ("none is written inside it without an `over` of its
    // own"), but it counts every reduction inside, and `over box:3` silently does nothing.
    for src in [
        "(mean(w) over disk:2) over box:3",
        "(mean(w) over disk:2 - n over disk:2) over box:3",
        "max(w) + (sum(w) over box:5 * 2) over box:3",
    ] {
        let (e, text) = error(src);
        assert!(
            matches!(&e, ExprError::Type { message, .. } if message.contains("sets the footprint of no reduction")),
            "{src}: {e:?}"
        );
        assert_eq!(
            (e.span().start, text.as_str()),
            (src.rfind("box:3").unwrap(), "box:3")
        );
    }
}

#[test]
fn a_bad_spec_after_over_points_at_it() {
    for (src, text, why) in [
        ("mean(w) over box:0", "box:0", "at least 1"),
        ("mean(w) over star:3", "star:3", "star"),
        ("mean(w) over box:x", "box:x", "box:x"),
        ("mean(w) over disk:1.5 + 1", "disk:1.5", "disk:1.5"),
        ("mean(w) over gauss:-1", "", ""),
        ("stage s = min(w) over rect:3; at(s)", "rect:3", "rect:3"),
    ] {
        let (e, got) = error(src);
        assert!(matches!(e, ExprError::Syntax { .. }), "{src}: {e:?}");
        if text.is_empty() {
            continue;
        }
        assert_eq!(got, text, "{src}: {e}");
        assert_eq!(e.span().start, src.find(text).unwrap(), "{src}");
        assert!(e.to_string().contains(why), "{src}: {e}");
    }
    // A missing spec: the caret at the end, or at what stands in its place.
    for (src, offset) in [
        ("mean(w) over", 12),
        ("mean(w) over + 1", 13),
        ("mean(w) over 3", 13),
        ("(mean(w) over, max(w))", 13),
    ] {
        let (e, _) = error(src);
        assert!(
            matches!(&e, ExprError::Syntax { message, .. } if message.contains("footprint after `over`")),
            "{src}: {e:?}"
        );
        assert_eq!(e.span().start, offset, "{src}");
    }
}

#[test]
fn a_tuple_stage_is_read_by_index() {
    for src in [
        "stage t = (min(w), max(w)); max(t)",
        "stage t = (min(w), max(w)) ; at(t)",
        "stage t = (min(w) over box:3, max(w)); mean(t) over box:5",
    ] {
        let offset = src.rfind("t)").unwrap();
        let (e, text) = error(src);
        assert!(
            matches!(&e, ExprError::Type { message, .. } if message.contains("2 results per pixel")),
            "{src}: {e:?}"
        );
        assert_eq!((e.span().start, text.as_str()), (offset, "t"), "{src}");
    }
    // By index it works, over another footprint too.
    let img = image().mapv(f64::from);
    let k =
        Kernel::compile("stage t = (min(w) over box:3, max(w)); mean(t[0]) over box:5 - at(t[1])")
            .unwrap();
    let o = opts("reflect", 0.0, Engine::Auto);
    let got = k.filter(img.view(), &fp("disk:2"), &o).unwrap();
    let min3 = interp("min(w)", &img, &[], "box:3", &o);
    let max = interp("max(w)", &img, &[], "disk:2", &o);
    let want = &interp("mean(w)", &min3, &[], "box:5", &o) - &max;
    assert!(diff(&got, &want).1 <= 1e-12);
}

#[test]
fn too_many_stages() {
    let limits = Limits {
        max_stages: 2,
        ..Limits::default()
    };
    // Two are fine, in either form.
    for src in [
        "stage a = min(w); stage b = max(a); at(b)",
        "mean(w) over box:3 + mean(w) over box:5 + max(w)",
    ] {
        Kernel::compile_with(src, &limits).unwrap_or_else(|e| panic!("{src}: {e}"));
    }
    for (src, text) in [
        (
            "stage a = min(w); stage b = max(a); stage d = min(b); at(d)",
            "d",
        ),
        (
            "mean(w) over box:3 + mean(w) over box:5 + mean(w) over box:7 + max(w)",
            "mean(w)",
        ),
        (
            "stage a = min(w); stage b = max(a); max(b) over box:5 + max(w)",
            "max(b)",
        ),
    ] {
        let (e, got) = error_with(src, &limits);
        match &e {
            ExprError::Limit { error, .. } => {
                assert_eq!(error.limit, Limit::Stages, "{src}");
                assert_eq!(error.max, 2);
                assert!(error.to_string().contains("3 stages"), "{src}: {error}");
            }
            other => panic!("{src}: {other:?}"),
        }
        assert_eq!(got, text, "{src}");
        assert!(e.hint().unwrap().contains("--max-stages"), "{src}");
    }
    // The third `over` reduction is the one over the limit.
    let src = "mean(w) over box:3 + mean(w) over box:5 + mean(w) over box:7 + max(w)";
    assert_eq!(
        error_with(src, &limits).0.span().start,
        src.find("mean(w) over box:7").unwrap()
    );
}

#[test]
fn the_passes_together_may_read_at_most_the_footprint_limit() {
    let src = "stage a = min(w) over disk:5; stage b = max(a) over disk:5; min(b) over disk:5";
    let img = Array2::<f64>::from_shape_fn((24, 30), |(y, x)| ((x * 7 + y * 3) % 11) as f64);
    let small = Limits {
        max_footprint: 200,
        ..Limits::default()
    };
    // Each footprint alone (81 cells, an 11x11 box) is within the limit; three passes reach
    // 15 either way, a 31x31 box.
    let k = Kernel::compile_with(src, &small).unwrap();
    for engine in ENGINES {
        let o = opts("reflect", 0.0, engine);
        match k.filter(img.view(), &fp("box:3"), &o) {
            Err(Error::Limit(e)) => {
                assert_eq!(e.limit, Limit::Footprint);
                assert_eq!(e.max, 200);
                assert!(e.to_string().contains("31x31"), "{e}");
                assert!(e.hint().contains("--max-footprint"), "{}", e.hint());
            }
            other => panic!("{engine}: {other:?}"),
        }
    }
    let err = k
        .reach(&[24, 30], &fp("box:3"), &Options::default())
        .unwrap_err();
    assert!(matches!(err, Error::Limit(_)), "{err:?}");
    // 961 cells are within a limit of 961.
    let enough = Limits {
        max_footprint: 961,
        ..Limits::default()
    };
    let k = Kernel::compile_with(src, &enough).unwrap();
    let halo = k
        .reach(&[24, 30], &fp("box:3"), &Options::default())
        .unwrap();
    assert_eq!(halo, [(-15, 15), (-15, 15)]);
    let got = k
        .filter(img.view(), &fp("box:3"), &Options::default())
        .unwrap();
    let want = Kernel::compile("stage a = min(w); stage b = max(a); min(b)")
        .unwrap()
        .filter(img.view(), &fp("disk:5"), &Options::default())
        .unwrap();
    assert_eq!(got, want);
}

/// An `over` footprint past `--max-footprint` is refused when compiling, with the span on its
/// SPEC, in the fewest dimensions the footprint can have; within a raised limit it compiles.
#[test]
fn over_footprints_past_the_limit_point_at_their_spec() {
    let src = "max(w) over disk:2000 - min(w)";
    match Kernel::compile(src) {
        Err(jitfilter::Error::Expr(jitfilter::ExprError::Limit { span, .. })) => {
            assert_eq!(&src[span.start..span.end], "disk:2000");
        }
        other => panic!("{other:?}"),
    }
    let roomy = jitfilter::Limits {
        max_footprint: 1 << 24,
        ..jitfilter::Limits::default()
    };
    assert!(Kernel::compile_with(src, &roomy).is_ok());
    // A box adapts to the array: 2000 cells in 1-D are within the limit when compiling.
    assert!(Kernel::compile("max(w) over box:2000").is_ok());
}
