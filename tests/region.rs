//! Parts of arrays (issue 18): filtering a 2-D image a band of rows at a time (the core of row
//! streaming), each band holding only the rows `Kernel::rows_needed` names, or any array chunk
//! by chunk (Dask), each chunk holding the positions `Kernel::needed` names, gives exactly that
//! part of the whole array's result — bit for bit, in every boundary mode, on every engine,
//! through stages, tuple results, named inputs and positions, on real-valued data whose sums
//! round. The oracle is the whole-array run of the same kernel (itself checked against scipy and
//! the interpreter by the other suites).

mod parts_support;
use parts_support::pieces;

use jitfilter::window::{Span, STRIPE_ROWS, TILE_COLS, UNITS};
use jitfilter::{Engine, Footprint, Inputs, Kernel, Mode, Options};
use ndarray::{concatenate, Array2, ArrayD, Axis, Slice};
use std::ops::Range;

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
        let rows = [held.clone()];
        let main_rows = part_of(main, &rows);
        let named_rows: Vec<_> = named.iter().map(|(n, a)| (*n, part_of(a, &rows))).collect();
        let mut inputs = Inputs::new(main_rows.view());
        for (n, a) in &named_rows {
            inputs = inputs.with(n, a.view());
        }
        let rows = Span { len: h, held, out };
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
        for mode in Mode::ALL {
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

/// The error `k` gives filtering `data` as the part `region` (it must fail).
fn part_error(k: &Kernel, data: &ArrayD<f64>, fp: &Footprint, region: Vec<Option<Span>>) -> String {
    let options = Options::default().region(region);
    match k.apply::<f64, f64>(&Inputs::new(data.view()), fp, &options) {
        Ok(_) => panic!("filtering the part {:?} succeeded", options.region),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_band_that_lacks_rows_is_an_error() {
    let k = Kernel::compile("mean(w)").unwrap();
    let img = image(128, 10, 1).mapv(f64::from).into_dyn();
    let fp = Footprint::rect(5, 5);
    let part = img.slice_axis(Axis(0), Slice::from(0..64)).to_owned();
    let rows = Span {
        len: 128,
        held: std::iter::once(0..64).collect(),
        out: 0..64,
    };
    let r = part_error(&k, &part, &fp, vec![Some(rows), None]);
    // Rows 64 and 65 are read by rows 62 and 63 but not held.
    assert!(r.contains("does not hold positions 0..66 of axis 0"));
    let misaligned = Span {
        len: 128,
        held: std::iter::once(0..128).collect(),
        out: 10..20,
    };
    let r = part_error(&k, &img, &fp, vec![Some(misaligned), None]);
    assert!(r.contains("multiples of 64"));
}

/// A deterministic real-valued array of `shape` (sums of it round, so a sum that started
/// elsewhere would differ in its last bits), with a NaN at `nan` if given.
fn real(shape: &[usize], seed: u64, nan: Option<usize>) -> ArrayD<f64> {
    let n: usize = shape.iter().product();
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let v: Vec<f64> = (0..n)
        .map(|i| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let noise = (s >> 11) as f64 / (1u64 << 53) as f64;
            if Some(i) == nan {
                f64::NAN
            } else {
                ((i % 97) as f64).sqrt() * 3.1 + noise * 40.0 - 20.0
            }
        })
        .collect();
    ArrayD::from_shape_vec(shape, v).unwrap()
}

/// The positions `held` (per axis, in the order given, for the first `held.len()` axes) of `a`.
fn part_of(a: &ArrayD<f64>, held: &[Vec<Range<usize>>]) -> ArrayD<f64> {
    let mut p = a.clone();
    for (axis, ranges) in held.iter().enumerate() {
        let idx: Vec<usize> = ranges.iter().flat_map(|r| r.clone()).collect();
        p = p.select(Axis(axis), &idx);
    }
    p
}

/// How a chunk's inputs are stored: copied into one array, or views of the whole arrays in
/// pieces (one per held range, or two, each range halved).
#[derive(Debug, Clone, Copy)]
enum Storage {
    Joined,
    Pieces,
    Split,
}

/// `r` in two (when it holds two positions or more).
fn halves(r: Range<usize>) -> Vec<Range<usize>> {
    let m = r.start + r.len().div_ceil(2);
    [r.start..m, m..r.end]
        .into_iter()
        .filter(|h| !h.is_empty())
        .collect()
}

/// Filters `main` (and `named`) chunk by chunk, `chunk[a]` positions along axis `a` (whole
/// units), each chunk holding the positions `Kernel::needed` names in reverse order (a part
/// may store its ranges in any order, as a Dask chunk with a wrapped halo does) as `storage`
/// says, and puts the chunks together.
fn by_chunks(
    k: &Kernel,
    main: &ArrayD<f64>,
    named: &[(&str, ArrayD<f64>)],
    fp: &Footprint,
    options: &Options,
    chunk: &[usize],
    storage: Storage,
) -> ArrayD<f64> {
    let shape = main.shape().to_vec();
    let mut outs: Vec<Vec<Range<usize>>> = vec![Vec::new()];
    for (&n, &c) in shape.iter().zip(chunk) {
        outs = (outs.iter())
            .flat_map(|o| {
                (0..n)
                    .step_by(c)
                    .map(move |s| [&o[..], std::slice::from_ref(&(s..(s + c).min(n)))].concat())
            })
            .collect();
    }
    let mut result: Option<ArrayD<f64>> = None;
    for out in outs {
        let mut held = k.needed(&shape, fp, options, out.clone()).unwrap();
        held.iter_mut().for_each(|h| h.reverse());
        let mut inputs_owned = vec![part_of(main, &held)];
        inputs_owned.extend(named.iter().map(|(_, a)| part_of(a, &held)));
        // In pieces: the views of the whole arrays that the held ranges (halved, when
        // `Storage::Split`) cut out, read where they lie.
        let cuts: Vec<Vec<Range<usize>>> = (held.iter())
            .map(|h| match storage {
                Storage::Split => h.iter().flat_map(|r| halves(r.clone())).collect(),
                _ => h.clone(),
            })
            .collect();
        let grid: Vec<usize> = cuts.iter().map(|c| c.len()).collect();
        let mut inputs = match storage {
            Storage::Joined => Inputs::new(inputs_owned[0].view()),
            _ => Inputs::pieces(&grid, pieces(main.view(), &cuts)).unwrap(),
        };
        for ((n, a), joined) in named.iter().zip(&inputs_owned[1..]) {
            inputs = match storage {
                Storage::Joined => inputs.with(n, joined.view()),
                _ => inputs
                    .with_pieces(n, &grid, pieces(a.view(), &cuts))
                    .unwrap(),
            };
        }
        let region = (held.into_iter().zip(&out).zip(&shape))
            .map(|((held, o), &len)| {
                Some(Span {
                    len,
                    held,
                    out: o.clone(),
                })
            })
            .collect();
        let part: ArrayD<f64> = k
            .apply(&inputs, fp, &options.clone().region(region))
            .unwrap();
        let whole = result.get_or_insert_with(|| {
            let mut s = shape.clone();
            s.extend_from_slice(&part.shape()[shape.len()..]);
            ArrayD::from_elem(s, -1.0)
        });
        let mut view = whole.view_mut();
        for (a, o) in out.iter().enumerate() {
            view.slice_axis_inplace(Axis(a), Slice::from(o.clone()));
        }
        view.assign(&part);
    }
    result.unwrap()
}

fn check_chunks(source: &str, names: &[&str], fp: &str, shape: &[usize], nan: bool) {
    let modes = Mode::ALL.map(|m| vec![m; shape.len()]);
    check_chunks_in(source, names, &fp.parse().unwrap(), shape, nan, &modes);
}

/// [`check_chunks`] with a footprint of any rank and the boundary mode of each axis (one list
/// per run).
fn check_chunks_in(
    source: &str,
    names: &[&str],
    fp: &Footprint,
    shape: &[usize],
    nan: bool,
    modes: &[Vec<Mode>],
) {
    let k = Kernel::compile_for(source, names, &Default::default()).unwrap();
    let n: usize = shape.iter().product();
    let main = real(shape, 1, nan.then_some(n / 3 + 5));
    let named: Vec<(&str, ArrayD<f64>)> = (names.iter().enumerate())
        .map(|(i, name)| (*name, real(shape, 2 + i as u64, None)))
        .collect();
    let nd = shape.len();
    // Chunks of one unit, of two, and of one unit along the first axis only (the axes before
    // the last three are computed a position at a time).
    let units: Vec<usize> = (0..nd).map(|a| UNITS[3 - (nd - a).min(3)]).collect();
    let one: Vec<usize> = units.clone();
    let two: Vec<usize> = units.iter().map(|u| 2 * u).collect();
    let rows_only: Vec<usize> = (0..nd)
        .map(|a| if a == 0 { units[0] } else { shape[a] })
        .collect();
    for engine in ALL {
        for modes in modes {
            let options = Options::default().modes(modes).cval(0.5).engine(engine);
            let mut inputs = Inputs::new(main.view());
            for (name, a) in &named {
                inputs = inputs.with(name, a.view());
            }
            let whole: ArrayD<f64> = k.apply(&inputs, fp, &options).unwrap();
            let storages = [Storage::Joined, Storage::Pieces, Storage::Split];
            for (chunk, storage) in [&one, &two, &rows_only]
                .into_iter()
                .zip(storages.into_iter().cycle())
                .chain([(&one, Storage::Split), (&two, Storage::Pieces)])
            {
                let got = by_chunks(&k, &main, &named, fp, &options, chunk, storage);
                assert_eq!(got.shape(), whole.shape());
                let bad = (got.iter().zip(whole.iter()))
                    .position(|(a, b)| a.to_bits() != b.to_bits() && !(a.is_nan() && b.is_nan()));
                assert!(
                    bad.is_none(),
                    "`{source}` {fp:?} {shape:?} {modes:?} {engine:?}, chunks of {chunk:?} {storage:?}: element {bad:?} differs from the whole array's result"
                );
            }
        }
    }
}

/// Columns cut into chunks: the sums of a tile never depend on where the part starts.
#[test]
fn chunks_of_2d_arrays_equal_the_whole_array() {
    let shape = [2 * STRIPE_ROWS + 9, 2 * TILE_COLS + 37];
    check_chunks("mean(w)", &[], "disk:4", &shape, false);
    check_chunks("(sqrt(var(w)), sum(w))", &[], "box:5", &shape, true);
    check_chunks("sum(k * w)", &[], "gauss:1.5", &shape, false);
    check_chunks(
        "sum(g * w) / sum(g + 1) + at(w, -2, 3) + x / 3 + y",
        &["g"],
        "box:3",
        &shape,
        false,
    );
    check_chunks("median(w) - max(w)", &[], "box:3", &shape, false);
}

#[test]
fn chunks_of_1d_and_3d_arrays_equal_the_whole_array() {
    check_chunks("mean(w) + x", &[], "box:9", &[3 * TILE_COLS + 5], false);
    check_chunks(
        "sqrt(var(w)) + z",
        &[],
        "box:3",
        &[5, STRIPE_ROWS + 3, TILE_COLS + 20],
        false,
    );
}

/// Arrays of more than three axes: the axes folded into planes are cut into chunks too, each
/// chunk reading its neighbours' planes through each axis's own mode.
#[test]
fn chunks_of_arrays_of_four_and_five_axes_equal_the_whole_array() {
    use Mode::*;
    // Footprints reaching along every axis, with holes (planes at some offsets only).
    let holes = |shape: &[usize]| {
        let w = ArrayD::from_shape_fn(shape, |i| {
            let s: usize = (0..shape.len()).map(|a| i[a] * (2 * a + 3)).sum();
            f64::from(s % 4 != 1)
        });
        Footprint::from_weights(w.view())
    };
    let mut modes = Mode::ALL.map(|m| vec![m; 4]).to_vec();
    modes.push(vec![Wrap, Constant, Reflect, Mirror]);
    modes.push(vec![Constant, Wrap, Nearest, Wrap]);
    let shape = [4, 3, STRIPE_ROWS + 5, 40];
    let fp = holes(&[3, 3, 3, 5]);
    check_chunks_in("mean(w) + pos(0) / 7 + z", &[], &fp, &shape, true, &modes);
    check_chunks_in("median(w) - max(w)", &[], &fp, &shape, false, &modes);
    check_chunks_in(
        "sum(g * w) / sum(g + 1) + at(w, -2, 3, 1)",
        &["g"],
        &holes(&[1, 3, 3, 1]),
        &shape,
        false,
        &modes,
    );
    check_chunks_in(
        "stage e = min(w); stage m = mean(e) over box:3; at(m) - max(e)",
        &[],
        &holes(&[3, 1, 3, 3]),
        &shape,
        false,
        &modes,
    );
    let five = [3, 2, 3, 9, 30];
    let modes5 = [
        vec![Wrap, Reflect, Constant, Mirror, Nearest],
        vec![Reflect; 5],
    ];
    check_chunks_in(
        "mean(w * d(1)) - pos(1)",
        &[],
        &holes(&[3, 3, 1, 3, 3]),
        &five,
        false,
        &modes5,
    );
}

#[test]
fn chunks_through_stages_equal_the_whole_array() {
    let shape = [STRIPE_ROWS + 9, TILE_COLS + 37];
    check_chunks(
        "stage m = mean(w) over box:5; at(m) - mean(m) over box:3",
        &[],
        "box:3",
        &shape,
        false,
    );
}

#[test]
fn a_chunk_not_on_the_grid_is_an_error() {
    let k = Kernel::compile("mean(w)").unwrap();
    let img = real(&[10, 2 * TILE_COLS], 1, None);
    let fp = Footprint::rect(3, 3);
    let region = vec![
        None,
        Some(Span {
            len: 2 * TILE_COLS,
            held: std::iter::once(0..2 * TILE_COLS).collect(),
            out: 5..TILE_COLS,
        }),
    ];
    let r = part_error(&k, &img, &fp, region);
    assert!(r.contains("multiples of 512"));
}

/// An image several tiles wide, whole: every engine agrees with the interpreter, and positions
/// are the whole image's (checked against the index itself).
#[test]
fn tiles_of_a_wide_image_agree_with_the_interpreter() {
    let shape = [STRIPE_ROWS + 6, 2 * TILE_COLS + 45];
    let img = real(&shape, 5, Some(700));
    let fp: Footprint = "disk:3".parse().unwrap();
    let pos = Kernel::compile("x + 10000 * y + 0 * count(w > 1)").unwrap();
    for engine in [
        Engine::Auto,
        Engine::Fused,
        Engine::Callback,
        Engine::Interpreter,
    ] {
        let got: ArrayD<f64> = pos
            .filter_as(img.view(), &fp, &Options::default().engine(engine))
            .unwrap();
        for ((y, x), v) in got
            .into_dimensionality::<ndarray::Ix2>()
            .unwrap()
            .indexed_iter()
        {
            assert_eq!(*v, (x + 10000 * y) as f64, "{engine:?} at ({y}, {x})");
        }
    }
    for source in [
        "mean(w)",
        "sqrt(var(w)) + median(w)",
        "sum(k * w)",
        "max(w) - at(w, 2, -3)",
    ] {
        let k = Kernel::compile(source).unwrap();
        let fp: Footprint = if source.contains('k') {
            "gauss:1"
        } else {
            "disk:3"
        }
        .parse()
        .unwrap();
        for mode in Mode::ALL {
            let opts = Options::default().mode(mode).cval(0.25);
            let want: ArrayD<f64> = k
                .filter_as(img.view(), &fp, &opts.clone().engine(Engine::Interpreter))
                .unwrap();
            for engine in [Engine::Auto, Engine::Fused] {
                let got: ArrayD<f64> = k
                    .filter_as(img.view(), &fp, &opts.clone().engine(engine))
                    .unwrap();
                for (i, (a, b)) in got.iter().zip(want.iter()).enumerate() {
                    let close =
                        (a - b).abs() <= 1e-9 * (1.0 + b.abs()) || (a.is_nan() && b.is_nan());
                    assert!(
                        close,
                        "`{source}` {mode:?} {engine:?}: element {i}: {a} vs {b}"
                    );
                }
            }
        }
    }
}

/// Computed positions must lie in the first held range that holds their start (tiles read on
/// from there): a part holding them only across two ranges is refused, not read wrongly.
#[test]
fn computed_positions_in_two_held_pieces_are_an_error() {
    let k = Kernel::compile("mean(w)").unwrap();
    let n = 2 * TILE_COLS;
    let img = real(&[10, n + 600], 1, None);
    // Position 0 is first held in 0..600, which ends before the computed 0..n does.
    let region = vec![
        None,
        Some(Span {
            len: n,
            held: vec![0..600, 0..n],
            out: 0..n,
        }),
    ];
    let r = part_error(&k, &img, &Footprint::rect(3, 3), region);
    assert!(r.contains("in one piece"));
}
