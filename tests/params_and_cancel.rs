//! Params with a declared range (`param k = 0.3 in 0 .. 1;`) refuse values outside it in every
//! engine, and a run stops early through `Options::cancel`.

use jitfilter::{Cancel, Engine, Error, Footprint, Kernel, Options};
use ndarray::Array2;

fn image() -> Array2<f64> {
    Array2::from_shape_fn((40, 50), |(y, x)| ((x * 7 + y * 13) % 17) as f64)
}

#[test]
fn a_declared_range_bounds_the_values() {
    let k = Kernel::compile("param a = 0.5 in 0 .. 2; c + a * (c - mean(w))").unwrap();
    assert_eq!(k.params()[0].range, Some((0.0, 2.0)));
    let img = image();
    let fp = Footprint::cube(3);
    for engine in [
        Engine::Auto,
        Engine::Fused,
        Engine::Callback,
        Engine::Interpreter,
    ] {
        let opts = Options::default().engine(engine);
        // Both ends are inside; the result follows the value (checked against a = 0: c itself).
        let zero = k
            .filter(img.view(), &fp, &opts.clone().param("a", 0.0))
            .unwrap();
        assert_eq!(zero, img, "{engine:?}");
        k.filter(img.view(), &fp, &opts.clone().param("a", 2.0))
            .unwrap();
        for bad in [-0.001, 2.5, f64::NAN, f64::INFINITY] {
            match k.filter(img.view(), &fp, &opts.clone().param("a", bad)) {
                Err(Error::ParamRange { name, lo, hi, .. }) => {
                    assert_eq!((name.as_str(), lo, hi), ("a", 0.0, 2.0))
                }
                other => panic!("{engine:?} a = {bad}: {other:?}"),
            }
        }
    }
    // The scipy callback's context takes params through the same check.
    let ctx = k.scipy_context(&[40, 50], &fp, &Options::default().param("a", 3.0));
    assert!(matches!(ctx, Err(Error::ParamRange { .. })));
    assert!(k
        .scipy_context(&[40, 50], &fp, &Options::default().param("a", 1.0))
        .is_ok());
    // The message says what is allowed.
    let e = (k.filter(img.view(), &fp, &Options::default().param("a", 3.0))).unwrap_err();
    assert_eq!(
        e.to_string(),
        "param `a` = 3 is outside its declared range 0 .. 2"
    );
}

#[test]
fn a_range_reaches_stages_and_the_typed_program() {
    let k =
        Kernel::compile("param r = 1 in 0 .. 4; stage s = mean(w) * r; max(s) over box:3").unwrap();
    let img = image();
    let e = k.filter(
        img.view(),
        &Footprint::cube(3),
        &Options::default().param("r", 5.0),
    );
    assert!(matches!(e, Err(Error::ParamRange { .. })), "{e:?}");
    assert!(k.program().to_string().contains("param r = 1 in 0 .. 4"));
}

#[test]
fn a_cancelled_run_returns_cancelled() {
    let k = Kernel::compile("median(w)").unwrap();
    let img = image();
    let cancel = Cancel::new();
    let opts = Options::default().cancel(&cancel);
    // Not set: the run is the same as without the flag.
    let plain = k
        .filter(img.view(), &Footprint::disk(3), &Options::default())
        .unwrap();
    assert_eq!(
        k.filter(img.view(), &Footprint::disk(3), &opts).unwrap(),
        plain
    );
    cancel.cancel();
    for engine in [Engine::Auto, Engine::Fused, Engine::Interpreter] {
        let e = k.filter(
            img.view(),
            &Footprint::disk(3),
            &opts.clone().engine(engine),
        );
        assert!(matches!(e, Err(Error::Cancelled)), "{engine:?}: {e:?}");
    }
    // Stages stop too.
    let staged = Kernel::compile("stage e = min(w); max(e)").unwrap();
    let e = staged.filter(img.view(), &Footprint::cube(3), &opts);
    assert!(matches!(e, Err(Error::Cancelled)), "{e:?}");
}

#[test]
fn cancelling_from_another_thread_stops_a_long_run() {
    // An interpreted median over a large window takes seconds; cancelled after 50 ms it returns
    // early (how early is not asserted: only that it says so).
    let k = Kernel::compile("median(w)").unwrap();
    let img = Array2::from_shape_fn((600, 600), |(y, x)| ((x * 31 + y * 17) % 251) as f64);
    let cancel = Cancel::new();
    let opts = Options::default()
        .engine(Engine::Interpreter)
        .cancel(&cancel);
    let remote = cancel.clone();
    let stopper = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(50));
        remote.cancel();
    });
    let e = k.filter(img.view(), &Footprint::disk(15), &opts);
    stopper.join().unwrap();
    assert!(matches!(e, Err(Error::Cancelled)), "{e:?}");
}
