//! Bands of rows (issue 18, the core of row streaming): filtering a 2-D image a band at a time,
//! each band holding only the rows `Kernel::rows_needed` names, gives exactly the rows of the
//! whole image's result — bit for bit, in every boundary mode, on every engine, through stages,
//! tuple results, named inputs and positions. The oracle is the whole-image run of the same
//! kernel (itself checked against scipy and the interpreter by the other suites).

use jitfilter::window::{Rows, STRIPE_ROWS};
use jitfilter::{Engine, Footprint, Inputs, Kernel, Mode, Options};
use ndarray::{concatenate, Array2, ArrayD, Axis, Slice};
use std::ops::Range;

const MODES: [Mode; 5] = [
    Mode::Reflect,
    Mode::Mirror,
    Mode::Nearest,
    Mode::Wrap,
    Mode::Constant,
];

/// A deterministic noisy image with flat runs (medians, keyed tables and plane sums all see
/// both).
fn image(h: usize, w: usize, seed: u64) -> Array2<u8> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    Array2::from_shape_fn((h, w), |(y, x)| {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let noise = (s >> 59) as usize;
        ((x / 7 * 31 + y / 5 * 17 + noise) % 256) as u8
    })
}

/// The rows `held` of `a`, one range after another.
fn rows_of<T: Clone>(a: &ArrayD<T>, held: &[Range<usize>]) -> ArrayD<T> {
    let parts: Vec<_> = (held.iter())
        .map(|r| a.slice_axis(Axis(0), Slice::from(r.clone())))
        .collect();
    concatenate(Axis(0), &parts).unwrap()
}

/// Filters `main` (and `named`) band by band, `band` rows each (a multiple of the stripe
/// height), and puts the bands together.
fn by_bands(
    k: &Kernel,
    main: &ArrayD<f64>,
    named: &[(&str, ArrayD<f64>)],
    fp: &Footprint,
    options: &Options,
    band: usize,
) -> ArrayD<f64> {
    let h = main.shape()[0];
    let mut parts = Vec::new();
    for start in (0..h).step_by(band) {
        let out = start..(start + band).min(h);
        let held = k
            .rows_needed(main.shape(), fp, options, out.clone())
            .unwrap();
        let main_rows = rows_of(main, &held);
        let named_rows: Vec<_> = named.iter().map(|(n, a)| (*n, rows_of(a, &held))).collect();
        let mut inputs = Inputs::new(main_rows.view());
        for (n, a) in &named_rows {
            inputs = inputs.with(n, a.view());
        }
        let rows = Rows {
            height: h,
            held,
            out,
        };
        let part: ArrayD<f64> = k.apply(&inputs, fp, &options.clone().rows(rows)).unwrap();
        parts.push(part);
    }
    let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
    concatenate(Axis(0), &views).unwrap()
}

fn check(source: &str, names: &[&str], fp: &str, h: usize, w: usize, engines: &[Engine]) {
    let k = Kernel::compile_for(source, names, &Default::default()).unwrap();
    let fp: Footprint = fp.parse().unwrap();
    let main = image(h, w, 1).mapv(f64::from).into_dyn();
    let named: Vec<(&str, ArrayD<f64>)> = (names.iter().enumerate())
        .map(|(i, n)| (*n, image(h, w, 2 + i as u64).mapv(f64::from).into_dyn()))
        .collect();
    for &engine in engines {
        for mode in MODES {
            let options = Options::default().mode(mode).cval(7.0).engine(engine);
            let mut inputs = Inputs::new(main.view());
            for (n, a) in &named {
                inputs = inputs.with(n, a.view());
            }
            let whole: ArrayD<f64> = k.apply(&inputs, &fp, &options).unwrap();
            for band in [STRIPE_ROWS, 2 * STRIPE_ROWS] {
                let got = by_bands(&k, &main, &named, &fp, &options, band);
                assert_eq!(got.shape(), whole.shape());
                let same = (got.iter().zip(whole.iter()))
                    .all(|(a, b)| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()));
                assert!(
                    same,
                    "`{source}` {fp:?} {mode:?} {engine:?}, bands of {band} rows: differs from the whole image's result"
                );
            }
        }
    }
}

const ALL: [Engine; 3] = [Engine::Auto, Engine::Fused, Engine::Interpreter];

#[test]
fn reductions_equal_the_whole_image_in_every_mode() {
    check("mean(w)", &[], "box:7", 200, 45, &ALL);
    check("sqrt(var(w))", &[], "disk:4", 150, 33, &ALL);
    check("median(w)", &[], "box:5", 140, 20, &[Engine::Auto]);
    check("(max(w), y + x / 100)", &[], "box:3", 130, 17, &ALL);
}

#[test]
fn stages_equal_the_whole_image_in_every_mode() {
    check(
        "stage e = min(w) over disk:5; max(e) over disk:5",
        &[],
        "box:3",
        200,
        40,
        &ALL,
    );
    check(
        "stage e = min(w); stage o = max(e); c - at(o)",
        &[],
        "box:9",
        180,
        23,
        &[Engine::Auto, Engine::Fused],
    );
    check(
        "mean(w) over box:3 - mean(w) over box:9",
        &[],
        "box:3",
        150,
        30,
        &[Engine::Auto],
    );
}

/// A stage nothing reads computes no rows in a band (and must not fail for it).
#[test]
fn a_stage_nothing_reads() {
    check(
        "stage e = min(w); c + 1",
        &[],
        "box:3",
        140,
        10,
        &[Engine::Auto],
    );
}

#[test]
fn named_inputs_and_offsets_equal_the_whole_image() {
    check(
        "sum(g * w) / sum(g + 1) + at(w, 0, -3)",
        &["g"],
        "box:5",
        140,
        25,
        &ALL,
    );
}

/// Footprints taller than a band, and images shorter than the halo (every row from the far
/// edge, in every mode).
#[test]
fn tall_footprints_and_short_images() {
    check("mean(w)", &[], "box:150", 200, 12, &[Engine::Auto]);
    check("max(w)", &[], "box:21", 9, 12, &[Engine::Auto]);
}

#[test]
fn a_band_that_lacks_rows_is_an_error() {
    let k = Kernel::compile("mean(w)").unwrap();
    let img = image(128, 10, 1).mapv(f64::from);
    let fp = Footprint::rect(5, 5);
    let part = img.slice_axis(Axis(0), Slice::from(0..64)).to_owned();
    let rows = Rows {
        height: 128,
        held: std::iter::once(0..64).collect(),
        out: 0..64,
    };
    let r = k.apply::<f64, f64>(
        &Inputs::new(part.view()),
        &fp,
        &Options::default().rows(rows),
    );
    // Rows 64 and 65 are read by rows 62 and 63 but not held.
    assert!(r
        .unwrap_err()
        .to_string()
        .contains("does not hold rows 0..66"));
    let misaligned = Rows {
        height: 128,
        held: std::iter::once(0..128).collect(),
        out: 10..20,
    };
    let r = k.apply::<f64, f64>(
        &Inputs::new(img.view()),
        &fp,
        &Options::default().rows(misaligned),
    );
    assert!(r.unwrap_err().to_string().contains("multiple of 64"));
}
