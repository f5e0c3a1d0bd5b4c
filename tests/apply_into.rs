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

/// The plane kernels write a lone box sum or mean straight into its plane (or the output rows);
/// beside another sum of the same values it goes through kept rectangle sums and a copy. Both
/// must give the same bits: `mean(w)` alone equals the first result of `(mean(w), sum(w))`, for
/// boxes, two- and three-rectangle masks and a disk, on data with and without NaN and ∞.
#[test]
fn sums_written_in_place_equal_sums_copied() {
    let img = image(150, 70).mapv(|v| v * 0.731 - 40.0);
    let mut odd = img.clone();
    odd[[20, 7]] = f64::NAN;
    odd[[100, 50]] = f64::INFINITY;
    let l_shape = ndarray::arr2(&[
        [1, 1, 1, 0],
        [1, 1, 1, 0],
        [1, 1, 1, 0],
        [0, 1, 1, 1],
        [0, 1, 1, 1],
    ]);
    let steps = ndarray::arr2(&[
        [1, 1, 0],
        [1, 1, 0],
        [1, 1, 0],
        [1, 1, 1],
        [1, 1, 1],
        [1, 1, 1],
        [0, 1, 1],
        [0, 1, 1],
        [0, 1, 1],
    ]);
    let mask = |m: &Array2<i32>| Footprint::from_mask(m.mapv(|v| v == 1).into_dyn().view());
    let footprints = [
        Footprint::rect(5, 5),
        Footprint::rect(3, 7),
        mask(&l_shape),
        mask(&steps),
        Footprint::disk(3),
    ];
    for (alone, pair) in [
        ("mean(w)", "(mean(w), sum(w))"),
        ("sum(w * w)", "(sum(w * w), mean(w * w))"),
        ("mean(w) + 1", "(mean(w) + 1, sum(w))"),
    ] {
        let (alone, pair) = (
            Kernel::compile(alone).unwrap(),
            Kernel::compile(pair).unwrap(),
        );
        for data in [&img, &odd] {
            for fp in &footprints {
                for mode in [Mode::Reflect, Mode::Constant] {
                    let o = Options::default().mode(mode).cval(2.5);
                    let a: ArrayD<f64> = alone
                        .apply(&Inputs::new(data.view().into_dyn()), fp, &o)
                        .unwrap();
                    let p: ArrayD<f64> = pair
                        .apply(&Inputs::new(data.view().into_dyn()), fp, &o)
                        .unwrap();
                    let first = p.index_axis(ndarray::Axis(2), 0);
                    let same =
                        (a.iter().zip(first.iter())).all(|(x, y)| x.to_bits() == y.to_bits());
                    assert!(
                        same,
                        "{} vs {} over {fp} ({mode:?})",
                        alone.source(),
                        pair.source()
                    );
                }
            }
        }
    }
}

/// Blocks, plane buffers and stage results are kept for the next run: runs over arrays of
/// other shapes, types and input counts in between leave a run's result unchanged.
#[test]
fn kept_buffers_leave_no_trace_in_later_runs() {
    let (a, b) = (image(130, 90), image(70, 300).mapv(|v| v * 3.0 - 100.0));
    let u8img = image(90, 130).mapv(|v| v as u8);
    let guided = std::fs::read_to_string("examples/kf/guided.kf").unwrap();
    let k = Kernel::compile_for(&guided, &["g"], &jitfilter::Limits::default()).unwrap();
    let max = Kernel::compile("max(w) - mean(w)").unwrap();
    let fp = Footprint::disk(4);
    let o = Options::default().threads(2);
    let run = |img: &Array2<f64>| -> ArrayD<f64> {
        let g = img.mapv(|v| v * 0.5);
        let inputs = Inputs::new(img.view().into_dyn()).with("g", g.view());
        k.apply(&inputs, &fp, &o).unwrap()
    };
    let first = run(&a);
    let _: ArrayD<f64> = max
        .apply(&Inputs::new(u8img.view().into_dyn()), &fp, &o)
        .unwrap();
    let _ = run(&b);
    let _: ArrayD<f64> = max
        .apply(
            &Inputs::new(b.view().into_dyn()),
            &Footprint::rect(9, 3),
            &o,
        )
        .unwrap();
    let again = run(&a);
    let same = (first.iter().zip(&again)).all(|(x, y)| x.to_bits() == y.to_bits());
    assert!(same, "a run's result changed after other runs");
}
