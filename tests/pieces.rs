//! Arrays given in pieces (`Inputs::pieces`): a chunk and its neighbours' edges read where they
//! lie. Any grid of pieces — contiguous or views of a larger array, rows in a line or not,
//! channels interleaved or copied — gives the result of the same array given whole, bit for bit
//! (the oracle; `tests/region.rs` checks parts of arrays in pieces against the whole array's
//! result in every mode and engine). Pieces that do not fit together are errors.

mod parts_support;
use parts_support::pieces;

use jitfilter::{Engine, Footprint, Inputs, Kernel, Options};
use ndarray::{ArrayD, Axis, IxDyn, Slice};

/// A deterministic real-valued array of `shape`.
fn real(shape: &[usize], seed: u64) -> ArrayD<f64> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    ArrayD::from_shape_fn(IxDyn(shape), |_| {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64 * 200.0 - 50.0
    })
}

fn same(got: &ArrayD<f64>, want: &ArrayD<f64>, what: &str) {
    assert_eq!(got.shape(), want.shape(), "{what}");
    let bad = (got.iter().zip(want))
        .position(|(a, b)| a.to_bits() != b.to_bits() && !(a.is_nan() && b.is_nan()));
    assert!(bad.is_none(), "{what}: element {bad:?} differs");
}

/// A 2-D image and an RGB image (channels last) in pieces: contiguous copies, views of the
/// whole array, views whose rows do not lie in a line (a transposed array's), and a named
/// input in pieces beside a whole main input.
#[test]
fn pieces_give_the_whole_arrays_result() {
    let fp = Footprint::rect(5, 7);
    let cuts = vec![vec![0..3, 3..40, 40..41, 41..70], vec![0..2, 2..33, 33..90]];
    let grid = [4, 3];
    for engine in [Engine::Auto, Engine::Fused, Engine::Interpreter] {
        let opts = Options::default().engine(engine);
        let img = real(&[70, 90], 1);
        let g = real(&[70, 90], 2);
        let k = Kernel::compile_for(
            "max(w) - mean(g) + at(w, -2, 3) + x",
            &["g"],
            &Default::default(),
        )
        .unwrap();
        let want: ArrayD<f64> = k
            .apply(&Inputs::new(img.view()).with("g", g.view()), &fp, &opts)
            .unwrap();
        let what = format!("{engine:?}");
        // Views of the whole arrays.
        let inputs = Inputs::pieces(&grid, pieces(img.view(), &cuts))
            .unwrap()
            .with_pieces("g", &grid, pieces(g.view(), &cuts))
            .unwrap();
        same(&k.apply(&inputs, &fp, &opts).unwrap(), &want, &what);
        // Contiguous copies, and the named input whole.
        let owned: Vec<ArrayD<f64>> = pieces(img.view(), &cuts)
            .iter()
            .map(|p| p.to_owned())
            .collect();
        let inputs = Inputs::pieces(&grid, owned.iter().map(|p| p.view()).collect())
            .unwrap()
            .with("g", g.view());
        same(
            &k.apply(&inputs, &fp, &opts).unwrap(),
            &want,
            &format!("{what}, copies"),
        );
        // Rows not in a line: pieces of a transposed array.
        let t = img.t().as_standard_layout().into_owned();
        let tt = t.t();
        let inputs = Inputs::pieces(&grid, pieces(tt.into_dyn(), &cuts))
            .unwrap()
            .with_pieces("g", &grid, pieces(g.view(), &cuts))
            .unwrap();
        same(
            &k.apply(&inputs, &fp, &opts).unwrap(),
            &want,
            &format!("{what}, transposed"),
        );
        // Channels interleaved (read where they lie), per channel and jointly, and copied (a
        // view whose channels are not next to each other).
        let rgb = real(&[70, 90, 3], 3);
        let cuts3 = vec![cuts[0].clone(), cuts[1].clone()];
        for source in ["mean(w) + c", "(max(w[0]) - min(w[2]), sum(w[1]))"] {
            let k = Kernel::compile(source).unwrap();
            let want: ArrayD<f64> = k
                .apply(&Inputs::new(rgb.view()).channels(), &fp, &opts)
                .unwrap();
            let inputs = Inputs::pieces(&grid, pieces(rgb.view(), &cuts3))
                .unwrap()
                .channels();
            same(
                &k.apply(&inputs, &fp, &opts).unwrap(),
                &want,
                &format!("{what} `{source}`"),
            );
            let planar = rgb
                .view()
                .permuted_axes(vec![2, 0, 1])
                .as_standard_layout()
                .into_owned();
            let back = planar.view().permuted_axes(vec![1, 2, 0]);
            let inputs = Inputs::pieces(&grid, pieces(back, &cuts3))
                .unwrap()
                .channels();
            same(
                &k.apply(&inputs, &fp, &opts).unwrap(),
                &want,
                &format!("{what} `{source}`, planar"),
            );
        }
    }
}

/// A 3-D array in pieces along every axis, and a grid over its first axis only.
#[test]
fn pieces_of_a_volume() {
    let vol = real(&[9, 20, 30], 4);
    let k = Kernel::compile("median(w) - mean(w) + z").unwrap();
    let fp = Footprint::cube(3);
    let want: ArrayD<f64> = k
        .apply(&Inputs::new(vol.view()), &fp, &Options::default())
        .unwrap();
    let cuts = vec![vec![0..4, 4..9], vec![0..1, 1..20], vec![0..29, 29..30]];
    let inputs = Inputs::pieces(&[2, 2, 2], pieces(vol.view(), &cuts)).unwrap();
    same(
        &k.apply(&inputs, &fp, &Options::default()).unwrap(),
        &want,
        "every axis",
    );
    let inputs = Inputs::pieces(&[3], pieces(vol.view(), &[vec![0..2, 2..3, 3..9]])).unwrap();
    same(
        &k.apply(&inputs, &fp, &Options::default()).unwrap(),
        &want,
        "the first axis",
    );
    // Stages read the inputs as float64 (the pieces put together once).
    let k = Kernel::compile("stage e = min(w); stage m = mean(e) over box:3; at(m) - max(e) + c")
        .unwrap();
    let want: ArrayD<f64> = k
        .apply(&Inputs::new(vol.view()), &fp, &Options::default())
        .unwrap();
    let inputs = Inputs::pieces(&[2, 2, 2], pieces(vol.view(), &cuts)).unwrap();
    same(
        &k.apply(&inputs, &fp, &Options::default()).unwrap(),
        &want,
        "stages",
    );
}

#[test]
fn pieces_that_do_not_fit_together_are_errors() {
    let a = real(&[10, 12], 5);
    let err = |r: Result<Inputs<f64>, jitfilter::Error>| match r {
        Ok(_) => panic!("accepted"),
        Err(e) => e.to_string(),
    };
    let four = pieces(a.view(), &[vec![0..5, 5..10], vec![0..6, 6..12]]);
    assert!(err(Inputs::pieces(&[2, 3], four.clone())).contains("4 pieces for a grid of [2, 3]"));
    assert!(err(Inputs::pieces(&[], four.clone())).contains("4 pieces for a grid of []"));
    // The second row of pieces is cut elsewhere along the columns.
    let mut odd = four.clone();
    odd[3] = a
        .slice_axis(Axis(0), Slice::from(5..10))
        .slice_axis_move(Axis(1), Slice::from(5..12));
    assert!(err(Inputs::pieces(&[2, 2], odd))
        .contains("piece 3 has shape [5, 7]; its place on the grid holds [5, 6]"));
    // A grid along the channel axis.
    let k = Kernel::compile("max(w)").unwrap();
    let rgb = real(&[10, 12, 3], 6);
    let whole = |n: usize| std::iter::once(0..n).collect::<Vec<_>>();
    let parts = pieces(rgb.view(), &[whole(10), whole(12), vec![0..1, 1..3]]);
    let r = k.apply::<f64, f64>(
        &Inputs::pieces(&[1, 1, 2], parts).unwrap().channels(),
        &Footprint::rect(3, 3),
        &Options::default(),
    );
    assert!(r
        .unwrap_err()
        .to_string()
        .contains("in pieces along 3 axes"));
}
