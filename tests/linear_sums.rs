//! Long sums of input values at fixed offsets (`at(w, 0, -3) * 0.1 + (at(w, 0, -2) +
//! at(w, 0, 2)) * 0.2 + …`, the 1-D correlations `jitfilter.ndimage` writes in scipy's order of
//! additions) are planned: computed natively, 16 pixels at a time, in the program's order.
//! Checked against the interpreter and the fused row (the same additions in the same order: the
//! same bits) on random data with NaN and infinities, in every mode, along each axis of 2-D and
//! 3-D arrays, with pairs added and subtracted, terms subtracted, a second input, and the sum
//! inside a larger expression.

use jitfilter::{Engine, Footprint, Inputs, Kernel, Limits, Mode, Options};
use ndarray::{ArrayD, IxDyn};

/// A small deterministic generator (no dependency on test order).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    fn data(&mut self, shape: &[usize], specials: bool) -> ArrayD<f64> {
        ArrayD::from_shape_fn(IxDyn(shape), |_| {
            let u = self.next();
            match (specials, (u * 1e6) as u64 % 89) {
                (true, 0) => f64::NAN,
                (true, 1) => f64::INFINITY,
                (true, 2) => f64::NEG_INFINITY,
                _ => u * 200.0 - 100.0,
            }
        })
    }
}

/// `at(NAME, …)` at offset `j` along axis `along` of `ndim` (`at` spells x first).
fn at(name: &str, j: isize, along: usize, ndim: usize) -> String {
    let mut off = [0isize; 3];
    off[ndim - 1 - along] = j;
    let spelled: Vec<String> = off[..ndim.max(2)].iter().map(|o| o.to_string()).collect();
    format!("at({name}, {})", spelled.join(", "))
}

/// scipy's three orders of NI_Correlate1D over radius `r` with random weights: symmetric
/// (centre, then pairs from the outside in), antisymmetric (pairs subtracted) and general (the
/// last value, then the others in order); and a sum with terms subtracted and a bare value.
fn programs(r: isize, along: usize, ndim: usize, rng: &mut Rng) -> Vec<String> {
    let k = |rng: &mut Rng| format!("{:?}", rng.next() - 0.3);
    let w = |j| at("w", j, along, ndim);
    let pairs = |rng: &mut Rng, op: &str| {
        let mut terms = vec![format!("{} * {}", w(0), k(rng))];
        terms.extend((-r..0).map(|j| format!("({} {op} {}) * {}", w(j), w(-j), k(rng))));
        terms.join(" + ")
    };
    let general = {
        let mut terms = vec![format!("{} * {}", w(r), k(rng))];
        terms.extend((-r..r).map(|j| format!("{} * {}", w(j), k(rng))));
        terms.join(" + ")
    };
    let signs = {
        let mut s = w(-r);
        for j in -r + 1..=r {
            let op = if j % 2 == 0 { "-" } else { "+" };
            s += &format!(" {op} {} * {}", k(rng), w(j));
        }
        s
    };
    vec![pairs(rng, "+"), pairs(rng, "-"), general, signs]
}

fn same(got: &ArrayD<f64>, want: &ArrayD<f64>, what: &str) {
    for (i, (g, w)) in got.iter().zip(want.iter()).enumerate() {
        assert!(
            g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()),
            "{what} at {i}: {g} vs {w}"
        );
    }
}

fn planned(k: &Kernel) -> bool {
    (k.plan_summary().iter()).any(|l| l.contains("a sum of values at fixed offsets"))
}

#[test]
fn linear_sums_are_planned_and_equal_the_interpreter_bit_for_bit() {
    let mut rng = Rng(11);
    let cases: &[(&[usize], isize)] = &[(&[23, 70], 11), (&[40, 37], 4), (&[9, 11, 21], 4)];
    for &(shape, r) in cases {
        let ndim = shape.len();
        for along in 0..ndim {
            for src in programs(r, along, ndim, &mut rng) {
                let k = Kernel::compile(&src).unwrap();
                assert!(planned(&k), "{src}: {:?}", k.plan_summary());
                for specials in [false, true] {
                    let img = rng.data(shape, specials);
                    for mode in ["reflect", "mirror", "nearest", "wrap", "constant"] {
                        let opts = Options::default()
                            .mode(mode.parse::<Mode>().unwrap())
                            .cval(2.5);
                        let one = ArrayD::from_elem(IxDyn(&vec![1; ndim]), true);
                        let fp = Footprint::from_mask(one.view());
                        let got: ArrayD<f64> = k.filter(img.view(), &fp, &opts).unwrap();
                        for engine in [Engine::Interpreter, Engine::Fused] {
                            let want: ArrayD<f64> = k
                                .filter(img.view(), &fp, &opts.clone().engine(engine))
                                .unwrap();
                            let what = format!("{src} {shape:?} {mode} {specials} {engine:?}");
                            same(&got, &want, &what);
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn linear_sums_of_two_inputs_and_inside_larger_expressions() {
    let mut rng = Rng(5);
    let img = rng.data(&[31, 45], true);
    let g = rng.data(&[31, 45], false);
    let inputs = Inputs::new(img.view()).with("g", g.view());
    let fp = Footprint::rect(3, 3);
    let sum = (-4..=4)
        .map(|j| format!("(at(w, {j}, 0) - at(g, 0, {j})) * {:?}", rng.next()))
        .collect::<Vec<_>>()
        .join(" + ");
    for src in [
        sum.clone(),
        format!("trunc({sum})"),
        format!("max(w) + sqrt(abs({sum}))"),
    ] {
        let k = Kernel::compile_for(&src, &["g"], &Limits::default()).unwrap();
        assert!(planned(&k), "{src}: {:?}", k.plan_summary());
        for mode in ["reflect", "wrap", "constant"] {
            let opts = Options::default().mode(mode.parse::<Mode>().unwrap());
            let got: ArrayD<f64> = k.apply(&inputs, &fp, &opts).unwrap();
            let want: ArrayD<f64> = k
                .apply(&inputs, &fp, &opts.clone().engine(Engine::Interpreter))
                .unwrap();
            same(&got, &want, &format!("{src} {mode}"));
        }
    }
}

#[test]
fn what_is_not_a_long_linear_sum_is_left_to_the_row_function() {
    for src in [
        // Too short to be worth a plane.
        "at(w, -1, 0) + c + at(w, 1, 0)",
        // A factor that varies per pixel, a window, a function of the values.
        "at(w, -2, 0) * x + at(w, -1, 0) + c + at(w, 1, 0) + at(w, 2, 0) + at(w, 3, 0) + at(w, 4, 0) + at(w, 5, 0)",
        "at(w, -2, 0) * c + at(w, -1, 0) + c + at(w, 1, 0) + at(w, 2, 0) + at(w, 3, 0) + at(w, 4, 0) + at(w, 5, 0)",
        "sqrt(at(w, -2, 0)) + at(w, -1, 0) + c + at(w, 1, 0) + at(w, 2, 0) + at(w, 3, 0) + at(w, 4, 0) + at(w, 5, 0)",
    ] {
        let k = Kernel::compile(src).unwrap();
        assert!(!planned(&k), "{src}: {:?}", k.plan_summary());
    }
    // Seven values, the least the planner takes; six are left.
    let seven = "at(w, -3, 0) + at(w, -2, 0) * 2 + (at(w, -1, 0) - c) * 3 + at(w, 1, 0) + at(w, 2, 0) - at(w, 3, 0)";
    let k = Kernel::compile(seven).unwrap();
    assert!(planned(&k), "{:?}", k.plan_summary());
    let six = Kernel::compile(&seven.replace(" - at(w, 3, 0)", "")).unwrap();
    assert!(!planned(&six), "{:?}", six.plan_summary());
}
