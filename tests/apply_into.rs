//! `Kernel::apply_into`: the result written into the caller's array equals `Kernel::apply`'s
//! bit for bit on every path (one pass, stages of either kind, tuples, channels run in turn,
//! native and planned integer paths), and a wrong output array is refused without a write.

use jitfilter::{Engine, Footprint, Inputs, Kernel, Mode, Options};
use ndarray::{Array2, Array3, ArrayD, IxDyn};

/// A deterministic image with some repetition, so that planned paths see ties.
fn image(h: usize, w: usize) -> Array2<f64> {
    Array2::from_shape_fn((h, w), |(y, x)| ((x * 37 + y * 101 + x * y) % 251) as f64)
}

/// `apply_into` over a sentinel-filled array equals `apply`, bit for bit; what `apply`
/// refuses (a tuple of an image whose channels run in turn), it refuses alike.
fn check<T: jitfilter::Element>(k: &Kernel, inputs: &Inputs<T>, fp: &Footprint, o: &Options) {
    let want: ArrayD<f64> = match k.apply(inputs, fp, o) {
        Ok(a) => a,
        Err(e) => {
            let mut any = ArrayD::<f64>::zeros(IxDyn(&[1]));
            let again = k.apply_into(inputs, fp, o, any.view_mut()).unwrap_err();
            assert_eq!(e.to_string(), again.to_string());
            return;
        }
    };
    let mut got = ArrayD::<f64>::from_elem(want.shape(), -12345.0);
    k.apply_into(inputs, fp, o, got.view_mut()).unwrap();
    let same = (want.iter().zip(&got)).all(|(a, b)| a.to_bits() == b.to_bits());
    assert!(same, "{:?} with {o:?}", k.source());
}

#[test]
fn results_written_in_place_equal_new_arrays() {
    let img = image(70, 45);
    let guide = img.mapv(|v| (v * 0.37).sin() * 50.0);
    let u8img = img.mapv(|v| v as u8);
    let rgb = Array3::from_shape_fn((33, 20, 3), |(y, x, c)| {
        ((x * 7 + y * 3 + c * 11) % 256) as f64
    });
    let programs = [
        "max(w)",
        "mean(w)",
        "sqrt(var(w))",
        "median(w)",
        "(mean(w), std(w))",
        "c - mean(w) over box:5",
        "stage e = min(w); max(e)",
        "stage a = (mean(w), max(w)); max(a[0]) - at(a[1])",
        "sum(w * k) / sum(k)",
    ];
    for mode in [Mode::Reflect, Mode::Constant] {
        for engine in [Engine::Auto, Engine::Fused] {
            let o = Options::default().mode(mode).cval(3.0).engine(engine);
            let fp = Footprint::disk(2);
            for p in programs {
                let k = Kernel::compile(p).unwrap();
                check(&k, &Inputs::new(img.view()), &fp, &o);
                check(&k, &Inputs::new(u8img.view()), &fp, &o);
                check(&k, &Inputs::new(rgb.view()).channels(), &fp, &o);
            }
            let guided = Kernel::compile_for(
                "stage a = (mean(g*w) - mean(g)*mean(w)) / (var(g) + 10); \
                 stage b = mean(w) - at(a) * mean(g); mean(a) * at(g) + mean(b)",
                &["g"],
                &Default::default(),
            )
            .unwrap();
            let inputs = Inputs::new(img.view()).with("g", guide.view());
            check(&guided, &inputs, &Footprint::rect(5, 5), &o);
        }
    }
}

#[test]
fn a_wrong_output_array_is_refused_untouched() {
    let img = image(20, 30);
    let k = Kernel::compile("max(w)").unwrap();
    let (fp, o) = (Footprint::rect(3, 3), Options::default());
    let inputs = Inputs::new(img.view());
    // Another shape.
    let mut wrong = ArrayD::<f64>::from_elem(IxDyn(&[30, 20]), 7.0);
    let e = k
        .apply_into(&inputs, &fp, &o, wrong.view_mut())
        .unwrap_err();
    assert!(e.to_string().contains("shape"), "{e}");
    assert!(wrong.iter().all(|&v| v == 7.0));
    // The right shape, not in C order (a transposed view).
    let mut t = ArrayD::<f64>::from_elem(IxDyn(&[30, 20]), 7.0);
    let mut view = t.view_mut();
    view.swap_axes(0, 1);
    let e = k.apply_into(&inputs, &fp, &o, view).unwrap_err();
    assert!(e.to_string().contains("C order"), "{e}");
    assert!(t.iter().all(|&v| v == 7.0));
}
