//! One boundary mode per axis (`Options::modes`; `-m reflect,wrap` on the CLI): every engine
//! against a plain loop over the array that extends each axis by its own mode (`extend` in
//! tests/cli_support, written from scipy's documentation, not src/boundary.rs), on 1-D to 5-D
//! arrays with random footprints and origins.

mod cli_support;

use cli_support::{extend, jitfilter as cli, read_f64, Gen, MODES};
use jitfilter::{Engine, Error, Footprint, Kernel, Mode, Options};
use ndarray::{ArrayD, Dimension, IxDyn};

/// The program's oracle on one window (footprint order): what `sum(w * (i + 1)) + 100 *
/// max(w) + 10000 * median(w)` computes, so that order, extremes and ranks all show.
fn oracle_value(v: &[f64]) -> f64 {
    let ordered: f64 = v.iter().enumerate().map(|(i, x)| x * (i + 1) as f64).sum();
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    let median = if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    };
    ordered + 100.0 * max + 10000.0 * median
}

const PROGRAM: &str = "sum(w * (i + 1)) + 100 * max(w) + 10000 * median(w)";

/// The filter by its definition: each window read with each axis extended by its own mode.
fn oracle(
    a: &ArrayD<f64>,
    fp: &ArrayD<bool>,
    origin: &[isize],
    modes: &[Mode],
    cval: f64,
) -> ArrayD<f64> {
    let shape = a.shape().to_vec();
    let cells: Vec<Vec<usize>> = fp
        .indexed_iter()
        .filter(|(_, &on)| on)
        .map(|(ix, _)| ix.as_array_view().to_vec())
        .collect();
    ArrayD::from_shape_fn(IxDyn(&shape), |p| {
        let window: Vec<f64> = cells
            .iter()
            .map(|cell| {
                let mut at = Vec::new();
                for ax in 0..shape.len() {
                    let f = fp.shape()[ax] as isize;
                    let i = p[ax] as isize + cell[ax] as isize - f / 2 - origin[ax];
                    match extend(modes[ax], i, shape[ax]) {
                        Some(j) => at.push(j),
                        None => return cval,
                    }
                }
                a[IxDyn(&at)]
            })
            .collect();
        oracle_value(&window)
    })
}

#[test]
fn every_engine_extends_each_axis_by_its_own_mode() {
    let mut g = Gen(7);
    // Up to five axes: those past the third are folded into the window loop's planes.
    for case in 0..100 {
        let ndim = 1 + case % 5;
        let shape: Vec<usize> = (0..ndim)
            .map(|_| 1 + g.below(if ndim >= 3 { 5 } else { 8 }))
            .collect();
        let data: Vec<f64> = (0..shape.iter().product::<usize>())
            .map(|_| g.below(17) as f64 - 8.0)
            .collect();
        let a = ArrayD::from_shape_vec(IxDyn(&shape), data).unwrap();
        let fshape: Vec<usize> = (0..ndim).map(|_| 1 + g.below(4)).collect();
        let mut mask: Vec<bool> = (0..fshape.iter().product::<usize>())
            .map(|_| g.below(3) > 0)
            .collect();
        mask[0] = true;
        let fp = ArrayD::from_shape_vec(IxDyn(&fshape), mask).unwrap();
        let origin: Vec<isize> = fshape
            .iter()
            .map(|&f| {
                let (lo, hi) = (-((f / 2) as isize), ((f - 1) / 2) as isize);
                lo + g.below((hi - lo + 1) as usize) as isize
            })
            .collect();
        let modes: Vec<Mode> = (0..ndim).map(|_| MODES[g.below(5)]).collect();
        let want = oracle(&a, &fp, &origin, &modes, 2.5);
        let k = Kernel::compile(PROGRAM).unwrap();
        let footprint = Footprint::from_mask(fp.view());
        for engine in [
            Engine::Auto,
            Engine::Fused,
            Engine::Callback,
            Engine::Interpreter,
        ] {
            let opts = Options::default()
                .modes(&modes)
                .cval(2.5)
                .origin(&origin)
                .engine(engine);
            let got = k.filter(a.view(), &footprint, &opts).unwrap();
            assert_eq!(
                got, want,
                "case {case}: {modes:?} {fshape:?} origin {origin:?} {engine:?}"
            );
        }
    }
}

#[test]
fn one_mode_per_axis_or_one_for_all() {
    let a = ArrayD::from_shape_fn(IxDyn(&[5, 6]), |p| (p[0] * 6 + p[1]) as f64);
    let k = Kernel::compile("max(w)").unwrap();
    let fp = Footprint::rect(3, 3);
    // The same mode on every axis is that mode.
    let same = Options::default().modes(&[Mode::Wrap, Mode::Wrap]);
    assert_eq!(
        k.filter(a.view(), &fp, &same).unwrap(),
        k.filter(a.view(), &fp, &Options::default().mode(Mode::Wrap))
            .unwrap()
    );
    let three = Options::default().modes(&[Mode::Wrap; 3]);
    let err = k.filter(a.view(), &fp, &three).unwrap_err();
    assert!(matches!(err, Error::Shape(_)), "{err}");
    assert!(
        err.to_string().contains("3 boundary modes for a 2-D array"),
        "{err}"
    );
}

/// Runs `jitfilter apply PROGRAM -f box:3 ARGS in.npy out.npy` on `a` in `dir`; returns the
/// input's path and the result.
fn apply_cli(
    dir: &std::path::Path,
    a: &ArrayD<f64>,
    args: &[&str],
) -> (std::path::PathBuf, ArrayD<f64>) {
    let input = dir.join("a.npy");
    ndarray_npy::write_npy(&input, a).unwrap();
    let out = dir.join("out.npy");
    cli()
        .args(["apply", PROGRAM, "-f", "box:3"])
        .args(args)
        .arg(&input)
        .arg(&out)
        .assert()
        .success();
    (input, read_f64(&out))
}

#[test]
fn cli_takes_a_mode_per_axis() {
    let dir = tempfile::TempDir::new().unwrap();
    let a = ArrayD::from_shape_fn(IxDyn(&[7, 9]), |p| ((p[0] * 13 + p[1] * 7) % 11) as f64);
    let (input, got) = apply_cli(dir.path(), &a, &["-m", "wrap,constant", "--cval", "2.5"]);
    let fp = ArrayD::from_elem(IxDyn(&[3, 3]), true);
    let want = oracle(&a, &fp, &[0, 0], &[Mode::Wrap, Mode::Constant], 2.5);
    assert_eq!(got, want);
    // A count that is not the array's: exit 2, nothing written.
    let bad = dir.path().join("bad.npy");
    let assert = cli()
        .args(["apply", "max(w)", "-m", "wrap,constant,nearest"])
        .arg(&input)
        .arg(&bad)
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(
        stderr.contains("3 boundary modes for a 2-D array"),
        "{stderr}"
    );
    assert!(!bad.exists());
}

#[test]
fn axes_place_the_footprint_and_its_origins_and_modes() {
    let mut g = Gen(11);
    let a = ArrayD::from_shape_fn(IxDyn(&[4, 5, 6]), |p| {
        ((p[0] * 31 + p[1] * 7 + p[2] * 3) % 13) as f64
    });
    let k = Kernel::compile(PROGRAM).unwrap();
    for (axes, fshape) in [
        (vec![0, 2], vec![3, 2]),
        (vec![1], vec![4]),
        (vec![2, 0], vec![2, 3]),
    ] {
        let n = axes.len();
        let mask: Vec<bool> = (0..fshape.iter().product::<usize>())
            .map(|i| i == 0 || g.below(3) > 0)
            .collect();
        let small = ArrayD::from_shape_vec(IxDyn(&fshape), mask).unwrap();
        let modes: Vec<Mode> = (0..n).map(|_| MODES[g.below(5)]).collect();
        let origin: Vec<isize> = vec![0; n];
        // The oracle's footprint: the small one's dimensions on the listed axes in increasing
        // order, one cell thick elsewhere; modes on the listed axes in the listed order.
        let mut sorted = axes.clone();
        sorted.sort_unstable();
        let mut full = vec![1usize; 3];
        for (j, &ax) in sorted.iter().enumerate() {
            full[ax] = fshape[j];
        }
        let big = small.clone().into_shape_with_order(IxDyn(&full)).unwrap();
        let mut all_modes = vec![Mode::Reflect; 3];
        for (j, &ax) in axes.iter().enumerate() {
            all_modes[ax] = modes[j];
        }
        let want = oracle(&a, &big, &[0, 0, 0], &all_modes, 2.5);
        let opts = Options::default()
            .axes(&axes)
            .modes(&modes)
            .cval(2.5)
            .origin(&origin);
        let got = k
            .filter(a.view(), &Footprint::from_mask(small.view()), &opts)
            .unwrap();
        assert_eq!(got, want, "axes {axes:?} {fshape:?} {modes:?}");
    }
    let bad = Options::default().axes(&[3]);
    assert!(k
        .filter(a.view(), &Footprint::cube(3), &bad)
        .unwrap_err()
        .to_string()
        .contains("axis 3 is out of range"));
}

#[test]
fn cli_takes_axes() {
    let dir = tempfile::TempDir::new().unwrap();
    let a = ArrayD::from_shape_fn(IxDyn(&[4, 5, 6]), |p| {
        ((p[0] * 31 + p[1] * 7 + p[2] * 3) % 13) as f64
    });
    let (_, got) = apply_cli(dir.path(), &a, &["--axes", "0,2", "-m", "wrap,nearest"]);
    let fp = ArrayD::from_elem(IxDyn(&[3, 1, 3]), true);
    let want = oracle(
        &a,
        &fp,
        &[0, 0, 0],
        &[Mode::Wrap, Mode::Reflect, Mode::Nearest],
        0.0,
    );
    assert_eq!(got, want);
}
