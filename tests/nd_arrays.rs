//! Arrays of more than three axes (up to scipy's 32): every engine against windows gathered by a
//! plain loop over the N-D array (each axis extended by its own mode with `extend` from
//! tests/cli_support, written from scipy's documentation), for reductions the planner computes
//! in its own ways (boxes, weights, order statistics), positions and offsets (`x`… and `pos(j)`,
//! `d(j)` for any axis), and stages.

mod cli_support;

use cli_support::{extend, jitfilter as cli, read_f64, Gen, MODES};
use jitfilter::{Engine, Footprint, Kernel, Mode, Options};
use ndarray::{ArrayD, Dimension, IxDyn};

const ENGINES: [Engine; 4] = [
    Engine::Auto,
    Engine::Fused,
    Engine::Callback,
    Engine::Interpreter,
];

/// One window: its values in footprint order, their weights and offsets (per axis), and the
/// output position.
struct Window<'a> {
    w: Vec<f64>,
    c: f64,
    k: Vec<f64>,
    offsets: Vec<Vec<isize>>,
    pos: &'a [usize],
}

/// `f` on every window of `a` under the weights `fp` (0: not in the window).
fn oracle(
    a: &ArrayD<f64>,
    fp: &ArrayD<f64>,
    modes: &[Mode],
    cval: f64,
    f: &dyn Fn(&Window) -> f64,
) -> ArrayD<f64> {
    let shape = a.shape().to_vec();
    let cells: Vec<(Vec<usize>, f64)> = fp
        .indexed_iter()
        .filter(|(_, &k)| k != 0.0)
        .map(|(ix, &k)| (ix.as_array_view().to_vec(), k))
        .collect();
    ArrayD::from_shape_fn(IxDyn(&shape), |p| {
        let p = p.as_array_view().to_vec();
        let p = &p[..];
        let mut win = Window {
            w: Vec::new(),
            c: a[IxDyn(p)],
            k: Vec::new(),
            offsets: Vec::new(),
            pos: p,
        };
        for (cell, k) in &cells {
            let off: Vec<isize> = (0..shape.len())
                .map(|ax| cell[ax] as isize - (fp.shape()[ax] / 2) as isize)
                .collect();
            let at: Option<Vec<usize>> = (0..shape.len())
                .map(|ax| extend(modes[ax], p[ax] as isize + off[ax], shape[ax]))
                .collect();
            win.w.push(at.map_or(cval, |at| a[IxDyn(&at)]));
            win.k.push(*k);
            win.offsets.push(off);
        }
        f(&win)
    })
}

fn close(got: &ArrayD<f64>, want: &ArrayD<f64>, what: &str) {
    assert_eq!(got.shape(), want.shape(), "{what}");
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g - w).abs() <= 1e-9 * w.abs().max(1.0),
            "{what}: {g} vs {w}"
        );
    }
}

fn random_case(g: &mut Gen, ndim: usize) -> (ArrayD<f64>, ArrayD<f64>, Vec<Mode>) {
    let shape: Vec<usize> = (0..ndim).map(|_| 1 + g.below(4)).collect();
    let data: Vec<f64> = (0..shape.iter().product::<usize>())
        .map(|_| g.below(1000) as f64 / 7.0 - 50.0)
        .collect();
    let a = ArrayD::from_shape_vec(IxDyn(&shape), data).unwrap();
    // Full boxes (every cell weighted, so the planner's separable and box paths apply) and
    // masks with holes, odd and even sizes.
    let fshape: Vec<usize> = (0..ndim).map(|_| 1 + g.below(3)).collect();
    let full = g.below(2) == 0;
    let weights: Vec<f64> = (0..fshape.iter().product::<usize>())
        .map(|i| {
            if full || i == 0 || g.below(3) > 0 {
                1.0 + g.below(5) as f64 / 4.0
            } else {
                0.0
            }
        })
        .collect();
    let fp = ArrayD::from_shape_vec(IxDyn(&fshape), weights).unwrap();
    let modes = (0..ndim).map(|_| MODES[g.below(5)]).collect();
    (a, fp, modes)
}

type Oracle = fn(&Window) -> f64;

fn programs() -> Vec<(&'static str, Oracle)> {
    fn sorted(w: &[f64]) -> Vec<f64> {
        let mut s = w.to_vec();
        s.sort_by(f64::total_cmp);
        s
    }
    fn mean(w: &[f64]) -> f64 {
        w.iter().sum::<f64>() / w.len() as f64
    }
    vec![
        ("max(w)", |v| sorted(&v.w)[v.w.len() - 1]),
        ("min(w) + 2 * c", |v| sorted(&v.w)[0] + 2.0 * v.c),
        ("mean(w)", |v| mean(&v.w)),
        ("var(w)", |v| {
            let m = mean(&v.w);
            v.w.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / v.w.len() as f64
        }),
        ("sum(k * w)", |v| {
            v.w.iter().zip(&v.k).map(|(a, b)| a * b).sum()
        }),
        ("median(w)", |v| {
            let s = sorted(&v.w);
            let m = s.len() / 2;
            if s.len() % 2 == 1 {
                s[m]
            } else {
                (s[m - 1] + s[m]) / 2.0
            }
        }),
        // Offsets and positions name the last three axes.
        ("sum(w * (dx + 3 * dy + 7 * dz))", |v| {
            let nd = v.pos.len();
            let d = |o: &Vec<isize>, a: usize| o[nd - a] as f64;
            (v.w.iter().zip(&v.offsets))
                .map(|(w, o)| w * (d(o, 1) + 3.0 * d(o, 2) + 7.0 * d(o, 3)))
                .sum()
        }),
        // Any axis by its number, negative from the last.
        (
            "pos(0) + 10 * pos(1) + 100 * pos(-2) + 1000 * pos(3) + 1e4 * pos(-1)",
            |v| {
                let nd = v.pos.len();
                let p = |a: usize| v.pos[a] as f64;
                p(0) + 10.0 * p(1) + 100.0 * p(nd - 2) + 1000.0 * p(3) + 1e4 * p(nd - 1)
            },
        ),
        (
            "sum(w * (d(0) + 3 * d(1) + 7 * d(-1) + 11 * d(3))) + max(d(2) * w)",
            |v| {
                let nd = v.pos.len();
                let d = |o: &Vec<isize>, a: usize| o[a] as f64;
                let s: f64 = (v.w.iter().zip(&v.offsets))
                    .map(|(w, o)| {
                        w * (d(o, 0) + 3.0 * d(o, 1) + 7.0 * d(o, nd - 1) + 11.0 * d(o, 3))
                    })
                    .sum();
                let m = (v.w.iter().zip(&v.offsets))
                    .map(|(w, o)| d(o, 2) * w)
                    .fold(f64::NEG_INFINITY, f64::max);
                s + m
            },
        ),
        ("x + 10 * y + 100 * z + depth", |v| {
            let nd = v.pos.len();
            let p = |a: usize| v.pos[nd - a] as f64;
            p(1) + 10.0 * p(2) + 100.0 * p(3)
        }),
    ]
}

#[test]
fn every_engine_filters_arrays_of_four_to_six_axes() {
    let mut g = Gen(3);
    for case in 0..60 {
        let ndim = 4 + case % 3;
        let (a, fp, modes) = random_case(&mut g, ndim);
        for (program, f) in programs() {
            let k = Kernel::compile(program).unwrap();
            let mut want = oracle(&a, &fp, &modes, 1.5, &f);
            if program.ends_with("depth") {
                want += a.shape()[ndim - 3] as f64;
            }
            for engine in ENGINES {
                let opts = Options::default().modes(&modes).cval(1.5).engine(engine);
                let got: ArrayD<f64> = k
                    .filter(a.view(), &Footprint::from_weights(fp.view()), &opts)
                    .unwrap();
                let what = format!(
                    "case {case} `{program}` {:?} fp {:?} {modes:?} {engine:?}",
                    a.shape(),
                    fp.shape()
                );
                close(&got, &want, &what);
            }
        }
    }
}

#[test]
fn stages_chain_on_arrays_of_more_than_three_axes() {
    let mut g = Gen(5);
    for case in 0..12 {
        let (a, fp, modes) = random_case(&mut g, 4 + case % 2);
        let min = oracle(&a, &fp, &modes, 1.5, &|v| {
            v.w.iter().copied().fold(f64::INFINITY, f64::min)
        });
        let want = oracle(&min, &fp, &modes, 1.5, &|v| {
            v.w.iter().copied().fold(f64::NEG_INFINITY, f64::max)
        });
        let k = Kernel::compile("stage e = min(w); max(e)").unwrap();
        // (The scipy callback computes one window at a time: no stages.)
        for engine in [Engine::Auto, Engine::Fused, Engine::Interpreter] {
            let opts = Options::default().modes(&modes).cval(1.5).engine(engine);
            let got: ArrayD<f64> = k
                .filter(a.view(), &Footprint::from_weights(fp.view()), &opts)
                .unwrap();
            close(&got, &want, &format!("case {case} {engine:?}"));
        }
    }
}

#[test]
fn thirty_two_axes_and_no_more() {
    let mut shape = vec![1usize; 32];
    shape[0] = 3;
    shape[31] = 4;
    let a = ArrayD::from_shape_fn(IxDyn(&shape), |p| (p[0] * 4 + p[31]) as f64);
    let k = Kernel::compile("max(w)").unwrap();
    // Spanning the first and the last axis, one cell thick along the 30 between.
    let mut fshape = vec![1usize; 32];
    (fshape[0], fshape[31]) = (3, 3);
    let fp = ArrayD::from_elem(IxDyn(&fshape), 1.0);
    let got: ArrayD<f64> = k
        .filter(
            a.view(),
            &Footprint::from_weights(fp.view()),
            &Options::default(),
        )
        .unwrap();
    let want = oracle(&a, &fp, &[Mode::Reflect; 32], 0.0, &|v| {
        v.w.iter().copied().fold(f64::NEG_INFINITY, f64::max)
    });
    assert_eq!(got, want);
    let too_many = ArrayD::<f64>::zeros(IxDyn(&[1; 33]));
    let err = k
        .filter(too_many.view(), &Footprint::cube(1), &Options::default())
        .unwrap_err();
    assert!(err.to_string().contains("1 to 32 dimensions"), "{err}");
}

#[test]
fn cli_filters_a_four_axis_npy() {
    let dir = tempfile::TempDir::new().unwrap();
    let mut g = Gen(9);
    let (a, _, _) = random_case(&mut g, 4);
    let input = dir.path().join("a.npy");
    ndarray_npy::write_npy(&input, &a).unwrap();
    let out = dir.path().join("out.npy");
    cli()
        .args(["apply", "mean(w)", "-f", "box:3", "-m", "wrap"])
        .arg(&input)
        .arg(&out)
        .assert()
        .success();
    let fp = ArrayD::from_elem(IxDyn(&[3; 4]), 1.0);
    let want = oracle(&a, &fp, &[Mode::Wrap; 4], 0.0, &|v| {
        v.w.iter().sum::<f64>() / v.w.len() as f64
    });
    close(&read_f64(&out), &want, "cli");
    // `check` shows each axis name with its axis.
    let shown = cli()
        .args(["check", "pos(0) + sum(d(-1) * w)"])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&shown.get_output().stdout).to_string();
    assert!(
        text.contains("= pos(0)") && text.contains("= d(-1)"),
        "{text}"
    );
}

#[test]
fn axis_numbers_name_the_same_axes_as_x_y_z() {
    // On 1-D to 3-D arrays `pos(j)` and `d(j)` are the position names counted from the front.
    let mut g = Gen(13);
    for ndim in 1..=3usize {
        let (a, fp, modes) = random_case(&mut g, ndim);
        let names = ["x", "y", "z"];
        let by_name: Vec<String> = (0..ndim)
            .map(|k| format!("{} * {}", 10f64.powi(k as i32), names[ndim - 1 - k]))
            .collect();
        let by_number: Vec<String> = (0..ndim)
            .map(|k| format!("{} * pos({k})", 10f64.powi(k as i32)))
            .collect();
        let offsets = |f: &dyn Fn(usize) -> String| -> String {
            (0..ndim)
                .map(|k| format!("sum({} * w * d{})", k + 2, f(k)))
                .collect::<Vec<_>>()
                .join(" + ")
        };
        let d_names = offsets(&|k| ["x", "y", "z"][ndim - 1 - k].to_string());
        let d_numbers = offsets(&|k| format!("({})", k as isize - ndim as isize));
        for engine in ENGINES {
            let opts = Options::default().modes(&modes).engine(engine);
            let fp = Footprint::from_weights(fp.view());
            let run = |src: &str| -> ArrayD<f64> {
                Kernel::compile(src)
                    .unwrap()
                    .filter(a.view(), &fp, &opts)
                    .unwrap()
            };
            assert_eq!(run(&by_name.join(" + ")), run(&by_number.join(" + ")));
            assert_eq!(run(&d_names), run(&d_numbers), "{d_numbers}");
        }
    }
}

#[test]
fn axis_numbers_are_checked() {
    let k = Kernel::compile("pos(4) + max(w)").unwrap();
    let a = ArrayD::<f64>::zeros(IxDyn(&[2, 2, 2, 2]));
    let err = k
        .filter(a.view(), &Footprint::cube(1), &Options::default())
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("axis 4 is out of range for a 4-D array"),
        "{err}"
    );
    let err = Kernel::compile("sum(d(-5) * w)").unwrap();
    assert!(err
        .filter(a.view(), &Footprint::cube(1), &Options::default())
        .is_err());
    for bad in ["pos(x)", "pos(1.5)", "d(32)", "pos()", "d(0, 1)"] {
        let e = Kernel::compile(bad).unwrap_err();
        assert!(matches!(e, jitfilter::Error::Expr(_)), "{bad}: {e}");
    }
}

#[test]
fn reach_adds_up_along_every_axis() {
    use jitfilter::Limits;
    let k = Kernel::compile("stage e = min(w); max(e) + at(e, 2, 0, -3)").unwrap();
    let reach = k
        .reach(&[9, 9, 9, 9], &Footprint::cube(3), &Options::default())
        .unwrap();
    // Two 3-wide passes (±2), and the stage read 2 further along x (±1 + 2) and 3 back along
    // z, the second axis (-3 + -1).
    assert_eq!(reach, [(-2, 2), (-4, 2), (-2, 2), (-2, 3)]);
    // The limit is on the box the passes read together: 5 x 7 x 5 x 6 = 1050 cells.
    let limits = Limits {
        max_footprint: 1000,
        ..Limits::default()
    };
    let k = Kernel::compile_with("stage e = min(w); max(e) + at(e, 2, 0, -3)", &limits);
    let err = k
        .unwrap()
        .reach(&[9, 9, 9, 9], &Footprint::cube(3), &Options::default())
        .unwrap_err();
    assert!(err.to_string().contains("5x7x5x6 box"), "{err}");
}

#[test]
fn language_docs_examples_of_axis_numbers() {
    // docs/language.md shows these two programs; each against the plain loop.
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/language.md")).unwrap();
    let mut g = Gen(17);
    let (a, fp, modes) = random_case(&mut g, 4);
    let examples: [(&str, Oracle); 2] = [
        ("pos(0) * 1000 + pos(1)", |v| {
            v.pos[0] as f64 * 1000.0 + v.pos[1] as f64
        }),
        ("sum(w * d(0))", |v| {
            (v.w.iter().zip(&v.offsets))
                .map(|(w, o)| w * o[0] as f64)
                .sum()
        }),
    ];
    for (program, f) in examples {
        assert!(
            doc.contains(&format!("`{program}`")),
            "{program} in the doc"
        );
        let want = oracle(&a, &fp, &modes, 0.0, &f);
        let got: ArrayD<f64> = Kernel::compile(program)
            .unwrap()
            .filter(
                a.view(),
                &Footprint::from_weights(fp.view()),
                &Options::default().modes(&modes),
            )
            .unwrap();
        close(&got, &want, program);
    }
}
