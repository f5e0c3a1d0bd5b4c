//! Grammar-aware programs (valid, and mutated at the token level) × random small arrays,
//! footprints, modes, origins and dtypes → every engine. The interpreter is the oracle: the
//! callback, fused and auto (planned) engines must agree with it within the documented tolerance
//! (1e-9 relative; the data are small halves, NaN and ±inf, so sums are exact in any order), or
//! all fail with the same kind of error. Never a crash.
//!
//! An input whose first byte is 3 mod 4 takes the second generator (`run_inputs`): programs
//! that also read a named input `g`, `at()` at small offsets, channels (`w[j]`, `c[j]`, `g[j]`,
//! `channels`) of 1 to 3 channel inputs, and tuple results, applied with `Kernel::apply`.
//!
//! An input whose first byte is 11 mod 32 (a value no earlier corpus file starts with) takes the
//! third generator (`run_regions`): `over SPEC` regions (nested, around `n`, `k`, `dx`, `dy`,
//! around `let`s defined outside them, several footprints in one program) and `stage`
//! statements (read as windows, by `at()` at offsets, tuple stages by `s[j]`, stages with an
//! `over` of their own), on 1-D to 3-D arrays; or a composition `A over F1 OP B over F2`
//! checked against A and B filtered alone and combined here. Every other input means what it
//! meant before (all of fuzz/regressions/engines among them).

use jitfilter::{Element, Engine, Error, Footprint, Inputs, Kernel, Limits, Mode, Options};
use ndarray::{ArrayD, IxDyn};

/// Reads choices from the fuzz input; zeros once it runs out.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    fn below(&mut self, n: usize) -> usize {
        self.byte() as usize % n
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

const UNARY: &[&str] = &[
    "abs", "sqrt", "exp", "ln", "sin", "cos", "atan", "tanh", "floor", "ceil", "round", "trunc",
    "sign", "isnan", "isfinite", "cbrt", "exp2", "log2", "log10", "asin", "acos", "sinh", "cosh",
    "tan", "-", "not ",
];
const BINARY: &[&str] = &[
    "+", "-", "*", "/", "%", "^", "<", "<=", ">", ">=", "==", "!=", "and", "or",
];
const REDUCE: &[&str] = &[
    "sum",
    "mean",
    "min",
    "max",
    "var",
    "std",
    "median",
    "count",
    "any",
    "all",
    "prod",
    "argmin",
    "argmax",
    "nansum",
    "nanmean",
    "nanmin",
    "nanmax",
    "nanvar",
    "nanstd",
    "nanmedian",
];
const FUNC2: &[&str] = &["min", "max", "pow", "atan2", "hypot"];

fn scalar(b: &mut Bytes, depth: usize, ndim: usize) -> String {
    if depth == 0 || b.below(4) == 0 {
        let mut leaves = vec![
            "c", "n", "t", "1.5", "2", "0", "-3", "x", "width", "pos(0)", "pos(-1)", "nan", "inf",
            "-0", "1e300", "pi",
        ];
        if ndim >= 2 {
            leaves.extend(["y", "height"]);
        }
        if ndim >= 3 {
            leaves.extend(["z", "depth"]);
        }
        return b.pick(&leaves).to_string();
    }
    let d = depth - 1;
    match b.below(10) {
        0 | 1 => format!("{}({})", b.pick(REDUCE), vector(b, d, ndim)),
        2 => {
            let v = vector(b, d, ndim);
            let q = b.pick(&["0", "25", "50", "90", "100", "101", "-1", "t", "c"]);
            order_statistic(b, v, q)
        }
        3 => format!(
            "{}({}, {})",
            b.pick(&["var", "std"]),
            vector(b, d, ndim),
            b.pick(&["0", "1", "2", "t"])
        ),
        4 | 5 => format!(
            "({} {} {})",
            scalar(b, d, ndim),
            b.pick(BINARY),
            scalar(b, d, ndim)
        ),
        6 => format!("{}({})", b.pick(UNARY), scalar(b, d, ndim)),
        7 => format!(
            "(if {} then {} else {})",
            scalar(b, d, ndim),
            scalar(b, d, ndim),
            scalar(b, d, ndim)
        ),
        8 => format!(
            "clamp({}, {}, {})",
            scalar(b, d, ndim),
            scalar(b, d, ndim),
            scalar(b, d, ndim)
        ),
        _ => format!(
            "{}({}, {})",
            b.pick(FUNC2),
            scalar(b, d, ndim),
            scalar(b, d, ndim)
        ),
    }
}

fn vector(b: &mut Bytes, depth: usize, ndim: usize) -> String {
    if depth == 0 || b.below(3) == 0 {
        let mut leaves = vec!["w", "w", "w", "k", "dx", "i", "d(0)", "d(-1)"];
        if ndim >= 2 {
            leaves.push("dy");
        }
        if ndim >= 3 {
            leaves.push("dz");
        }
        return b.pick(&leaves).to_string();
    }
    let d = depth - 1;
    match b.below(7) {
        0 => format!(
            "({} {} {})",
            vector(b, d, ndim),
            b.pick(BINARY),
            scalar(b, d, ndim)
        ),
        1 => format!(
            "({} {} {})",
            scalar(b, d, ndim),
            b.pick(BINARY),
            vector(b, d, ndim)
        ),
        2 => format!("{}({})", b.pick(UNARY), vector(b, d, ndim)),
        3 => format!(
            "(if {} then {} else {})",
            vector(b, d, ndim),
            vector(b, d, ndim),
            scalar(b, d, ndim)
        ),
        4 => format!(
            "{}({}, {})",
            b.pick(FUNC2),
            vector(b, d, ndim),
            scalar(b, d, ndim)
        ),
        _ => format!(
            "({} {} {})",
            vector(b, d, ndim),
            b.pick(BINARY),
            vector(b, d, ndim)
        ),
    }
}

/// A program: maybe a param and lets, then a scalar body; sometimes mutated at the token level
/// (a token dropped, duplicated or replaced), so near-valid text reaches the checker too.
fn program(b: &mut Bytes, ndim: usize) -> String {
    // Now and then a declared range that some of the values tried (7, NaN) leave: every engine
    // must refuse them alike.
    let mut src = String::from(match b.below(4) {
        0 => "param t = 0.5 in -2 .. 2; ",
        _ => "param t = 0.5; ",
    });
    if b.below(3) == 0 {
        src += &format!("let v = {}; ", vector(b, 2, ndim));
        src += &format!("let s = {}; ", scalar(b, 2, ndim));
        src += &format!("max(v) + s * {}", scalar(b, 3, ndim));
    } else {
        src += &scalar(b, 4, ndim);
    }
    if b.below(8) == 0 {
        let tokens: Vec<&str> = src.split(' ').collect();
        let at = b.below(tokens.len());
        let mut out: Vec<&str> = tokens.clone();
        match b.below(3) {
            0 => {
                out.remove(at);
            }
            1 => out.insert(at, tokens[at]),
            _ => out[at] = b.pick(&["(", ")", ",", "w", "c", "+", "max(", "if", ";", "1"]),
        }
        src = out.join(" ");
    }
    src
}

fn value(b: &mut Bytes) -> f64 {
    match b.below(24) {
        0 => f64::NAN,
        1 => f64::INFINITY,
        2 => f64::NEG_INFINITY,
        3 => -0.0,
        _ => (b.below(33) as f64 - 16.0) / 2.0,
    }
}

/// Equal, both NaN, or finite and within 1e-9 relative. (An infinite tolerance when one side
/// is infinite would accept any finite value for an inf.)
fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan())
        || a == b
        || (a.is_finite() && b.is_finite() && (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0))
}

fn check<T: Element>(k: &Kernel, input: &ArrayD<f64>, fp: &Footprint, opts: &Options, src: &str) {
    // Integer types saturate ±inf to their limits; squares of 2^31 are not exact in f64, and
    // the planner's documented bound is relative to the data's scale, not the result's. Keep
    // integer data small so that every engine's sums are exact.
    let int = !matches!(T::NAME, "f32" | "f64");
    let typed = input.mapv(|v| {
        T::from_f64(if int && v.is_infinite() {
            v.signum() * 16.0
        } else {
            v
        })
    });
    let engines = [
        Engine::Interpreter,
        Engine::Callback,
        Engine::Fused,
        Engine::Auto,
    ];
    let results: Vec<_> = engines
        .iter()
        .map(|&e| k.filter_as::<T, f64, _>(typed.view(), fp, &opts.clone().engine(e)))
        .collect();
    let same: Vec<_> = engines
        .iter()
        .map(|&e| k.filter::<T, _>(typed.view(), fp, &opts.clone().engine(e)))
        .collect();
    let ctx = format!(
        "`{src}` {} shape {:?} fp {fp:?} {opts:?}",
        T::NAME,
        input.shape()
    );
    match &results[0] {
        Err(e) => {
            for (engine, r) in engines.iter().zip(&results).skip(1) {
                assert!(
                    r.is_err(),
                    "{ctx}: interpreter fails ({e}) but {engine:?} succeeds"
                );
            }
        }
        Ok(want) => {
            for (engine, r) in engines.iter().zip(&results).skip(1) {
                let got = r
                    .as_ref()
                    .unwrap_or_else(|e| panic!("{ctx}: {engine:?} fails: {e}"));
                assert_eq!(got.shape(), input.shape());
                for (idx, (g, w)) in got.iter().zip(want.iter()).enumerate() {
                    assert!(
                        close(*g, *w),
                        "{ctx}: {engine:?} at {idx}: {g} vs interpreter {w}"
                    );
                }
            }
            // Same-type output: the f64 result converted by the documented rule, give or take
            // one step where engines' f64 results differ in the last bits.
            let want_same = same[0].as_ref().expect("same-type interpreter");
            for (engine, r) in engines.iter().zip(&same).skip(1) {
                let got = r
                    .as_ref()
                    .unwrap_or_else(|e| panic!("{ctx}: {engine:?} same-type: {e}"));
                for (idx, ((g, w), f)) in got
                    .iter()
                    .zip(want_same.iter())
                    .zip(want.iter())
                    .enumerate()
                {
                    let (g, w) = (g.to_f64(), w.to_f64());
                    let ok = (g.is_nan() && w.is_nan())
                        || g == w
                        || (g.is_finite()
                            && w.is_finite()
                            && (g - w).abs() <= 1e-6 * w.abs().max(1.0))
                        || ((g - w).abs() <= 1.0 && (f.fract().abs() - 0.5).abs() < 1e-6);
                    assert!(
                        ok,
                        "{ctx}: {engine:?} same-type at {idx}: {g} vs interpreter {w}"
                    );
                }
            }
        }
    }
}

/// Runs one fuzz input; panics on a finding.
pub fn run(data: &[u8]) {
    if let Some((&tag, rest)) = data.split_first() {
        if tag % 32 == 11 {
            return run_regions(rest);
        }
        if tag % 4 == 3 {
            return run_inputs(rest);
        }
    }
    let mut b = Bytes(data);
    let ndim = 1 + b.below(3);
    let max_len = [9, 9, 6][ndim - 1];
    let shape: Vec<usize> = (0..ndim)
        .map(|_| {
            if b.below(16) == 0 {
                0
            } else {
                1 + b.below(max_len)
            }
        })
        .collect();
    let total: usize = shape.iter().product();
    let data: Vec<f64> = (0..total).map(|_| value(&mut b)).collect();
    let input = ArrayD::from_shape_vec(IxDyn(&shape), data).unwrap();
    // Footprints: explicit weights (zeros drop cells) of up to the array's rank, or a cube.
    let fp = if b.below(5) == 0 {
        Footprint::cube(b.below(6))
    } else {
        let frank = 1 + b.below(ndim);
        let fshape: Vec<usize> = (0..frank).map(|_| 1 + b.below(5)).collect();
        let fsize: usize = fshape.iter().product();
        let weights: Vec<f64> = (0..fsize)
            .map(|_| match b.below(6) {
                0 => 0.0,
                1 => 2.5,
                2 => -1.0,
                _ => 1.0,
            })
            .collect();
        Footprint::from_weights(
            ArrayD::from_shape_vec(IxDyn(&fshape), weights)
                .unwrap()
                .view(),
        )
    };
    // Origins: mostly within scipy's limits, sometimes at or one past them.
    let axes = if b.below(3) == 0 { 1 } else { ndim };
    let origin: Vec<isize> = (0..axes).map(|_| b.below(9) as isize - 4).collect();
    let mode: Mode = Mode::NAMES[b.below(Mode::NAMES.len())].parse().unwrap();
    let cval = [0.0, 1.25, -3.0, f64::NAN, f64::INFINITY, -0.0][b.below(6)];
    let src = program(&mut b, ndim);
    let Ok(kernel) = Kernel::compile(&src) else {
        return;
    };
    let opts = Options::default()
        .mode(mode)
        .cval(cval)
        .origin(&origin)
        // NaN too: `var(v, t)` with a NaN ddof must be NaN in every engine.
        .param("t", [1.5, -2.0, 0.0, 7.0, f64::NAN][b.below(5)]);
    match b.below(6) {
        0 => check::<f64>(&kernel, &input, &fp, &opts, &src),
        1 => check::<f32>(&kernel, &input, &fp, &opts, &src),
        2 => check::<u8>(&kernel, &input, &fp, &opts, &src),
        3 => check::<u16>(&kernel, &input, &fp, &opts, &src),
        4 => check::<i16>(&kernel, &input, &fp, &opts, &src),
        _ => check::<i32>(&kernel, &input, &fp, &opts, &src),
    }
}

// ---- several inputs, channels, `at()` and tuples -----------------------------------------------

/// What a generated program may read: `w` (with `w_channels` channels, 0 without a channel
/// axis), the named input `g` if given (with its own channel count), and whether the program
/// indexes channels (then it sees them jointly and inputs with several are always indexed).
struct Lang {
    ndim: usize,
    w_channels: usize,
    g: Option<usize>,
    joint: bool,
}

impl Lang {
    /// Input `name` of `n` channels as the program spells it; an index one past the end now and
    /// then (an error every engine must report alike).
    fn plane(&self, b: &mut Bytes, name: &str, n: usize) -> String {
        if self.joint && n > 0 && (n > 1 || b.below(2) == 0) {
            let j = if b.below(32) == 0 { n } else { b.below(n) };
            format!("{name}[{j}]")
        } else {
            name.to_string()
        }
    }

    fn window(&self, b: &mut Bytes) -> String {
        match self.g {
            Some(n) if b.below(2) == 0 => self.plane(b, "g", n),
            _ => self.plane(b, "w", self.w_channels),
        }
    }

    /// `c`, `c[j]`, `at(X)` or `at(X, ox, oy[, oz])` with offsets up to 5 either way (beyond
    /// the footprint, at most 5 wide, and most arrays).
    fn point(&self, b: &mut Bytes) -> String {
        let x = self.window(b);
        let form = b.below(4);
        // Offsets along axes the array lacks are an error (all engines alike): now and then.
        let ndim = if b.below(32) == 31 { 3 } else { self.ndim };
        let mut o = |axis: usize| {
            if axis <= ndim {
                b.below(11) as isize - 5
            } else {
                0
            }
        };
        match (form, ndim) {
            (0, _) if x == "w" && !self.w_indexed() => "c".to_string(),
            (0, _) => format!("at({x})"),
            (1, _) | (_, 3) => format!("at({x}, {}, {}, {})", o(1), o(2), o(3)),
            _ => format!("at({x}, {}, {})", o(1), o(2)),
        }
    }

    fn w_indexed(&self) -> bool {
        self.joint && self.w_channels > 1
    }
}

fn scalar2(b: &mut Bytes, lang: &Lang, depth: usize) -> String {
    let ndim = lang.ndim;
    if depth == 0 || b.below(4) == 0 {
        return match b.below(16) {
            15 => "channels".to_string(),
            8..=14 => lang.point(b),
            _ => {
                let mut leaves = vec![
                    "c", "n", "t", "1.5", "2", "0", "-3", "x", "width", "pos(0)", "pos(-1)", "nan",
                    "-0",
                ];
                if ndim >= 2 {
                    leaves.extend(["y", "height"]);
                }
                if ndim >= 3 {
                    leaves.extend(["z", "depth"]);
                }
                match b.pick(&leaves) {
                    "c" if lang.w_indexed() => format!("c[{}]", b.below(lang.w_channels)),
                    leaf => leaf.to_string(),
                }
            }
        };
    }
    let d = depth - 1;
    match b.below(9) {
        0 | 1 => format!("{}({})", b.pick(REDUCE), vector2(b, lang, d)),
        // A ddof of n or more divides the rounding noise of a flat window by 0 (inf or NaN by
        // a last bit): ddof stays 0 or 1 here.
        2 => {
            let v = vector2(b, lang, d);
            let q = b.pick(&["0", "50", "100", "t"]);
            order_statistic(b, v, q)
        }
        8 => format!(
            "{}({}, {})",
            b.pick(&["var", "std"]),
            vector2(b, lang, d),
            b.pick(&["0", "1"])
        ),
        3 | 4 => format!(
            "({} {} {})",
            scalar2(b, lang, d),
            b.pick(BINARY),
            scalar2(b, lang, d)
        ),
        5 => format!("{}({})", b.pick(UNARY), scalar2(b, lang, d)),
        6 => format!(
            "(if {} then {} else {})",
            scalar2(b, lang, d),
            scalar2(b, lang, d),
            scalar2(b, lang, d)
        ),
        _ => format!(
            "{}({}, {})",
            b.pick(FUNC2),
            scalar2(b, lang, d),
            scalar2(b, lang, d)
        ),
    }
}

fn vector2(b: &mut Bytes, lang: &Lang, depth: usize) -> String {
    if depth == 0 || b.below(3) == 0 {
        let mut leaves = vec!["w", "w", "w", "k", "dx", "i", "d(0)", "d(-1)"];
        if lang.ndim >= 2 {
            leaves.push("dy");
        }
        if lang.ndim >= 3 {
            leaves.push("dz");
        }
        return match b.pick(&leaves) {
            "w" => lang.window(b),
            leaf => leaf.to_string(),
        };
    }
    let d = depth - 1;
    match b.below(5) {
        0 => format!(
            "({} {} {})",
            vector2(b, lang, d),
            b.pick(BINARY),
            scalar2(b, lang, d)
        ),
        1 => format!("{}({})", b.pick(UNARY), vector2(b, lang, d)),
        2 => format!(
            "(if {} then {} else {})",
            vector2(b, lang, d),
            vector2(b, lang, d),
            scalar2(b, lang, d)
        ),
        3 => format!(
            "{}({}, {})",
            b.pick(FUNC2),
            vector2(b, lang, d),
            scalar2(b, lang, d)
        ),
        _ => format!(
            "({} {} {})",
            vector2(b, lang, d),
            b.pick(BINARY),
            vector2(b, lang, d)
        ),
    }
}

/// A program: maybe a `let`, then a scalar or a tuple of 1 to 4 (sometimes a tuple where none
/// may be, or a token mutated), so that the checker's errors are reached too.
fn program2(b: &mut Bytes, lang: &Lang) -> String {
    let mut src = String::from("param t = 0.5; ");
    if b.below(4) == 3 {
        src += &format!("let v = {}; ", vector2(b, lang, 2));
    }
    // Per channel on several channels, a tuple is refused: mostly one result there.
    let n = if lang.joint || lang.w_channels < 2 || b.below(8) == 7 {
        1 + b.below(4)
    } else {
        1
    };
    let mut items: Vec<String> = (0..n)
        .map(|_| match b.below(48) {
            47 => format!("sum(({}, w))", vector2(b, lang, 1)),
            46 => format!("({}, 1)", scalar2(b, lang, 1)),
            40..=45 if src.contains("let v") => "max(v)".to_string(),
            _ => scalar2(b, lang, 3),
        })
        .collect();
    if lang.joint && !items.iter().any(|i| i.contains('[')) {
        items[0] = format!("({}) + 0 * c[0]", items[0]);
    }
    let body = if items.len() == 1 && b.below(2) == 0 {
        items.remove(0)
    } else {
        format!("({})", items.join(", "))
    };
    src += &body;
    if b.below(8) == 7 {
        let tokens: Vec<&str> = src.split(' ').collect();
        let at = b.below(tokens.len());
        let mut out: Vec<&str> = tokens.clone();
        match b.below(3) {
            0 => {
                out.remove(at);
            }
            1 => out.insert(at, tokens[at]),
            _ => out[at] = b.pick(&["(", ")", ",", "w[0]", "at(w,", "c[9]", "g", "(1, 2)", "x"]),
        }
        src = out.join(" ");
    }
    src
}

/// The arrays of one case: `w` (channels last when it has a channel axis) and `g`.
struct Case<'a> {
    kernel: &'a Kernel,
    src: &'a str,
    main: &'a ArrayD<f64>,
    g: Option<&'a ArrayD<f64>>,
    channels: bool,
    footprint: &'a Footprint,
    opts: &'a Options,
}

impl Case<'_> {
    fn check<T: Element>(&self) {
        let int = !matches!(T::NAME, "f32" | "f64");
        let typed = |v: f64| {
            T::from_f64(if int && v.is_infinite() {
                v.signum() * 16.0
            } else {
                v
            })
        };
        let main = self.main.mapv(typed);
        let g = self.g.map(|g| g.mapv(typed));
        let mut inputs = Inputs::new(main.view());
        if self.channels {
            inputs = inputs.channels();
        }
        if let Some(g) = &g {
            inputs = inputs.with("g", g.view());
        }
        let engines = [
            Engine::Interpreter,
            Engine::Callback,
            Engine::Fused,
            Engine::Auto,
        ];
        let opts = |e: Engine| self.opts.clone().engine(e);
        let results: Vec<_> = (engines.iter())
            .map(|&e| {
                self.kernel
                    .apply::<T, f64>(&inputs, self.footprint, &opts(e))
            })
            .collect();
        let same: Vec<_> = (engines.iter())
            .map(|&e| self.kernel.apply::<T, T>(&inputs, self.footprint, &opts(e)))
            .collect();
        let ctx = format!(
            "`{}` {} w {:?} g {:?} channels {} fp {:?} {:?}",
            self.src,
            T::NAME,
            self.main.shape(),
            self.g.map(|g| g.shape()),
            self.channels,
            self.footprint,
            self.opts
        );
        // The callback's ABI carries one input and one result: it refuses the rest.
        match &results[0] {
            Err(e) => {
                for (&engine, r) in engines.iter().zip(&results).skip(1) {
                    if r.is_ok() {
                        panic!("{ctx}: interpreter fails ({e}) but {engine:?} succeeds");
                    }
                }
            }
            Ok(want) => {
                for (&engine, r) in engines.iter().zip(&results).skip(1) {
                    if engine == Engine::Callback && matches!(r, Err(Error::Callback(_))) {
                        continue;
                    }
                    let got = r
                        .as_ref()
                        .unwrap_or_else(|e| panic!("{ctx}: {engine:?} fails: {e}"));
                    assert_eq!(got.shape(), want.shape(), "{ctx}: {engine:?}");
                    for (idx, (g, w)) in got.iter().zip(want.iter()).enumerate() {
                        assert!(
                            close(*g, *w),
                            "{ctx}: {engine:?} at {idx}: {g} vs interpreter {w}"
                        );
                    }
                }
                let want_same = same[0].as_ref().expect("same-type interpreter");
                for (&engine, r) in engines.iter().zip(&same).skip(1) {
                    if engine == Engine::Callback && matches!(r, Err(Error::Callback(_))) {
                        continue;
                    }
                    let got = r
                        .as_ref()
                        .unwrap_or_else(|e| panic!("{ctx}: {engine:?} same-type: {e}"));
                    for (idx, ((g, w), f)) in got
                        .iter()
                        .zip(want_same.iter())
                        .zip(want.iter())
                        .enumerate()
                    {
                        let (g, w) = (g.to_f64(), w.to_f64());
                        let ok = (g.is_nan() && w.is_nan())
                            || g == w
                            || (g.is_finite()
                                && w.is_finite()
                                && (g - w).abs() <= 1e-6 * w.abs().max(1.0))
                            || ((g - w).abs() <= 1.0 && (f.fract().abs() - 0.5).abs() < 1e-6);
                        assert!(
                            ok,
                            "{ctx}: {engine:?} same-type at {idx}: {g} vs interpreter {w}"
                        );
                    }
                }
            }
        }
    }
}

/// The second generator: several inputs, channels, `at()` and tuples. The program is drawn
/// before the data, so that an input that runs out early still gives one.
pub fn run_inputs(data: &[u8]) {
    let mut b = Bytes(data);
    let ndim = 1 + b.below(3);
    let max_len = [9, 8, 5][ndim - 1];
    let shape: Vec<usize> = (0..ndim)
        .map(|_| {
            if b.below(24) == 23 {
                0
            } else {
                1 + b.below(max_len)
            }
        })
        .collect();
    let w_channels = [0, 1, 2, 3, 0, 4][b.below(6)];
    let joint = w_channels > 0 && b.below(3) != 2;
    let g = match b.below(4) {
        3 => None,
        _ if w_channels == 0 => Some(0),
        _ if joint => Some(b.below(4)),
        // Per channel: shared by every run, one channel per run, or (rarely) a wrong count.
        _ => Some(match b.below(8) {
            7 => w_channels + 1,
            0..=2 => 0,
            _ => w_channels,
        }),
    };
    let lang = Lang {
        ndim,
        w_channels,
        g,
        joint,
    };
    let total = |s: &[usize]| s.iter().product::<usize>();
    let (fp, fshape) = if b.below(5) == 4 {
        let size = b.below(5);
        (Footprint::cube(size), vec![size; ndim])
    } else {
        let fshape: Vec<usize> = (0..ndim).map(|_| 1 + b.below(5)).collect();
        let weights: Vec<f64> = (0..total(&fshape))
            .map(|_| match b.below(6) {
                5 => 0.0,
                4 => 2.5,
                _ => 1.0,
            })
            .collect();
        let fp = Footprint::from_weights(
            ArrayD::from_shape_vec(IxDyn(&fshape), weights)
                .unwrap()
                .view(),
        );
        (fp, fshape)
    };
    // Origins within scipy's limits, now and then one past them.
    let origin: Vec<isize> = (fshape.iter())
        .map(|&f| {
            let lo = -((f / 2) as isize);
            if b.below(32) == 31 {
                lo - 1
            } else {
                lo + b.below(f.max(1)) as isize
            }
        })
        .collect();
    let mode: Mode = Mode::NAMES[b.below(Mode::NAMES.len())].parse().unwrap();
    let cval = [0.0, 1.25, -3.0, f64::NAN, f64::INFINITY, -0.0][b.below(6)];
    let t = [1.5, -2.0, 0.0, 7.0][b.below(4)];
    let dtype = b.below(5);
    let src = program2(&mut b, &lang);
    let Ok(kernel) = Kernel::compile_for(&src, &["g"], &Limits::default()) else {
        return;
    };
    let with_channels = |n: usize| {
        let mut s = shape.clone();
        if n > 0 {
            s.push(n);
        }
        s
    };
    let wshape = with_channels(w_channels);
    let main: Vec<f64> = (0..total(&wshape)).map(|_| value(&mut b)).collect();
    let main = ArrayD::from_shape_vec(IxDyn(&wshape), main).unwrap();
    let second = g.map(|n| {
        let s = with_channels(n);
        let v: Vec<f64> = (0..total(&s)).map(|_| value(&mut b)).collect();
        ArrayD::from_shape_vec(IxDyn(&s), v).unwrap()
    });
    let opts = Options::default()
        .mode(mode)
        .cval(cval)
        .origin(&origin)
        .param("t", t);
    let case = Case {
        kernel: &kernel,
        src: &src,
        main: &main,
        g: second.as_ref(),
        channels: w_channels > 0,
        footprint: &fp,
        opts: &opts,
    };
    match dtype {
        1 => case.check::<f32>(),
        2 => case.check::<u8>(),
        3 => case.check::<i16>(),
        _ => case.check::<f64>(),
    }
}

// ---- `over` regions and stages -----------------------------------------------------------------

/// A footprint spec (`-f`'s syntax, as `over` takes it) that fits an array of `ndim` axes; one
/// time in 64 one that does not (a 2-D shape on a 1-D array, a ball on a 2-D one: an error every
/// engine must report alike).
fn spec(b: &mut Bytes, ndim: usize) -> String {
    let ndim = if b.below(64) == 63 { 3 } else { ndim };
    let mut kinds = vec!["box", "box"];
    if ndim >= 2 {
        kinds.extend(["rect", "disk", "diamond", "gauss", "gauss2"]);
    }
    if ndim == 3 {
        kinds.push("ball");
    }
    match b.pick(&kinds) {
        "box" => format!("box:{}", 1 + b.below(5)),
        "rect" => format!("rect:{}x{}", 1 + b.below(5), 1 + b.below(4)),
        "disk" => format!("disk:{}", b.below(3)),
        "diamond" => format!("diamond:{}", b.below(3)),
        "gauss" => format!("gauss:{}", b.pick(&["0", "0.3", "0.5", "0.7"])),
        "gauss2" => format!(
            "gauss:{},{}",
            b.pick(&["0.3", "0.5"]),
            b.pick(&["0", "0.4"])
        ),
        _ => format!("ball:{}", b.below(2)),
    }
}

/// What a program with `over` regions and stages may read, and what it has defined so far.
#[derive(Default)]
struct Scope {
    ndim: usize,
    /// Whether the named input `g` (of `w`'s shape) is given.
    g: bool,
    /// Whether `over` regions may be written (the composition's parts have none).
    overs: bool,
    /// Whether reductions and `n` may be written (the composition's shared `let`s have none,
    /// so that they mean the same under every footprint).
    reduce: bool,
    /// Stages so far: name and results per pixel (1: read by name, more: by `s[j]`).
    stages: Vec<(String, usize)>,
    vectors: Vec<String>,
    scalars: Vec<String>,
    /// Reductions (and `n`s) written so far without an `over` of their own.
    free: usize,
    /// `over` regions open around what is being written.
    open: usize,
    /// What to write for `n` outside every `over` instead of `n` (the command footprint's size,
    /// for the oracle that `n` there means that); the bytes read stay the same.
    n_outside: Option<String>,
}

impl Scope {
    /// `w`, `g`, a one-result stage, or one result of a tuple stage (now and then one past its
    /// results, or a tuple stage unindexed: errors of the checker).
    fn window(&self, b: &mut Bytes) -> String {
        let pick = b.below(8);
        if pick == 7 && self.g {
            return "g".to_string();
        }
        if self.stages.is_empty() || pick < 3 {
            return "w".to_string();
        }
        let (name, items) = &self.stages[b.below(self.stages.len())];
        match (items, b.below(64)) {
            (1, _) => name.clone(),
            (n, 63) => format!("{name}[{n}]"),
            (_, 62) => name.clone(),
            (n, _) => format!("{name}[{}]", b.below(*n)),
        }
    }

    /// `c`, or `at()` of a window here or at an offset along the array's axes (up to 4 either
    /// way); now and then along an axis the array lacks.
    fn point(&self, b: &mut Bytes) -> String {
        let x = self.window(b);
        let ndim = if b.below(64) == 63 { 3 } else { self.ndim };
        let form = b.below(4);
        let mut o = |axis: usize| {
            if axis <= ndim {
                b.below(9) as isize - 4
            } else {
                0
            }
        };
        match (form, ndim) {
            (0, _) if x == "w" => "c".to_string(),
            (0, _) => format!("at({x})"),
            (1, _) | (_, 3) => format!("at({x}, {}, {}, {})", o(1), o(2), o(3)),
            _ => format!("at({x}, {}, {})", o(1), o(2)),
        }
    }

    fn reduction(&mut self, b: &mut Bytes, depth: usize) -> String {
        let v = self.vector(b, depth);
        self.free += 1;
        match b.below(8) {
            0 => {
                let q = b.pick(&["0", "25", "50", "100", "t"]);
                order_statistic(b, v, q)
            }
            // ddof 0 or 1, as in the second generator.
            1 => format!("{}({v}, {})", b.pick(&["var", "std"]), b.below(2)),
            _ => format!("{}({v})", b.pick(REDUCE)),
        }
    }

    /// `(inner) over SPEC`; a reduction is added to `inner` when it has none of its own, but
    /// one time in 64 not (an `over` that sets no footprint: a checker error).
    fn over(
        &mut self,
        b: &mut Bytes,
        make: impl FnOnce(&mut Scope, &mut Bytes) -> String,
    ) -> String {
        let before = self.free;
        self.open += 1;
        let mut inner = make(self, b);
        if self.free == before && b.below(64) != 63 {
            inner = format!("({inner} + {})", self.reduction(b, 0));
        }
        self.open -= 1;
        self.free = before;
        format!("({inner} over {})", spec(b, self.ndim))
    }

    fn scalar(&mut self, b: &mut Bytes, depth: usize) -> String {
        if depth == 0 || b.below(4) == 0 {
            return self.leaf(b);
        }
        let d = depth - 1;
        match b.below(10) {
            0..=2 if self.reduce => self.reduction(b, d),
            3 if self.overs && self.reduce && self.open < 3 => self.over(b, |s, b| s.scalar(b, d)),
            0..=4 => format!(
                "({} {} {})",
                self.scalar(b, d),
                b.pick(BINARY),
                self.scalar(b, d)
            ),
            5 => format!("{}({})", b.pick(UNARY), self.scalar(b, d)),
            6 => format!(
                "(if {} then {} else {})",
                self.scalar(b, d),
                self.scalar(b, d),
                self.scalar(b, d)
            ),
            7 => format!(
                "clamp({}, {}, {})",
                self.scalar(b, d),
                self.scalar(b, d),
                self.scalar(b, d)
            ),
            _ => format!(
                "{}({}, {})",
                b.pick(FUNC2),
                self.scalar(b, d),
                self.scalar(b, d)
            ),
        }
    }

    fn leaf(&mut self, b: &mut Bytes) -> String {
        match b.below(10) {
            0 | 1 if !self.scalars.is_empty() => self.scalars[b.below(self.scalars.len())].clone(),
            2..=4 => self.point(b),
            5 if self.reduce => {
                // Inside an `over`, its footprint's size: one of its reductions.
                self.free += 1;
                match &self.n_outside {
                    Some(size) if self.open == 0 => size.clone(),
                    _ => "n".to_string(),
                }
            }
            _ => {
                let mut leaves = vec![
                    "c", "t", "1.5", "2", "0", "-3", "x", "width", "pos(0)", "pos(-1)", "nan",
                ];
                if self.ndim >= 2 {
                    leaves.extend(["y", "height"]);
                }
                if self.ndim >= 3 {
                    leaves.extend(["z", "depth"]);
                }
                b.pick(&leaves).to_string()
            }
        }
    }

    fn vector(&mut self, b: &mut Bytes, depth: usize) -> String {
        if depth == 0 || b.below(3) == 0 {
            let mut leaves = vec!["w", "w", "w", "k", "dx", "i", "d(0)", "d(-1)"];
            if self.ndim >= 2 {
                leaves.push("dy");
            }
            if self.ndim >= 3 {
                leaves.push("dz");
            }
            if !self.vectors.is_empty() {
                leaves.extend(["let", "let"]);
            }
            return match b.pick(&leaves) {
                "w" => self.window(b),
                "let" => self.vectors[b.below(self.vectors.len())].clone(),
                leaf => leaf.to_string(),
            };
        }
        let d = depth - 1;
        match b.below(7) {
            0 => format!(
                "({} {} {})",
                self.vector(b, d),
                b.pick(BINARY),
                self.scalar(b, d)
            ),
            1 => format!(
                "({} {} {})",
                self.scalar(b, d),
                b.pick(BINARY),
                self.vector(b, d)
            ),
            2 => format!("{}({})", b.pick(UNARY), self.vector(b, d)),
            3 => format!(
                "(if {} then {} else {})",
                self.vector(b, d),
                self.vector(b, d),
                self.scalar(b, d)
            ),
            // A vector whose scalars are reductions over a footprint of their own.
            4 if self.overs && self.reduce && self.open < 3 => self.over(b, |s, b| s.vector(b, d)),
            4 => format!(
                "{}({}, {})",
                b.pick(FUNC2),
                self.vector(b, d),
                self.scalar(b, d)
            ),
            _ => format!(
                "({} {} {})",
                self.vector(b, d),
                b.pick(BINARY),
                self.vector(b, d)
            ),
        }
    }
}

/// A program of up to four statements (vector and scalar `let`s, stages of one result or a
/// tuple, some with an `over` of their own), then a result of one to three values.
fn program3(b: &mut Bytes, s: &mut Scope) -> String {
    let mut src = String::from("param t = 0.5; ");
    for j in 0..b.below(5) {
        match b.below(6) {
            0 => {
                let v = s.vector(b, 2);
                src += &format!("let v{j} = {v}; ");
                s.vectors.push(format!("v{j}"));
            }
            1 => {
                let v = s.scalar(b, 2);
                src += &format!("let a{j} = {v}; ");
                s.scalars.push(format!("a{j}"));
            }
            2 => {
                let n = 2 + b.below(2);
                let items: Vec<String> = (0..n).map(|_| s.scalar(b, 2)).collect();
                src += &format!("stage s{j} = ({}); ", items.join(", "));
                s.stages.push((format!("s{j}"), n));
            }
            3 => {
                let v = s.over(b, |s, b| s.scalar(b, 2));
                src += &format!("stage s{j} = {v}; ");
                s.stages.push((format!("s{j}"), 1));
            }
            _ => {
                let v = s.scalar(b, 3);
                src += &format!("stage s{j} = {v}; ");
                s.stages.push((format!("s{j}"), 1));
            }
        }
    }
    let n = 1 + [0, 0, 0, 0, 0, 1, 1, 2][b.below(8)];
    let mut items: Vec<String> = (0..n).map(|_| s.scalar(b, 3)).collect();
    if b.below(3) != 0 && !items.iter().any(|r| r.contains(" over ")) {
        let region = s.over(b, |s, b| s.scalar(b, 2));
        items[0] = format!("({} {} {region})", items[0], b.pick(&["+", "-", "*"]));
    }
    src += &if n == 1 {
        items.remove(0)
    } else {
        format!("({})", items.join(", "))
    };
    src
}

/// The third generator: `over` regions and stages (`program3`) through every engine, or (one
/// input in four) the composition oracle (`composition`).
pub fn run_regions(data: &[u8]) {
    let mut b = Bytes(data);
    let ndim = 1 + b.below(3);
    if b.below(4) == 3 {
        return composition(&mut b, ndim);
    }
    let mut scope = Scope {
        ndim,
        g: b.below(4) == 3,
        overs: true,
        reduce: true,
        ..Scope::default()
    };
    let program = b.0;
    let src = program3(&mut b, &mut scope);
    let Ok(kernel) = Kernel::compile_for(&src, &["g"], &Limits::default()) else {
        return;
    };
    // The scipy callback carries neither stages nor a footprint of the program's own.
    if kernel.passes().len() > 1 || kernel.footprint().is_some() {
        assert!(
            matches!(kernel.callback(), Err(Error::Callback(_))),
            "`{src}`: the callback takes a program with stages or `over`"
        );
    }
    let shape = region_shape(&mut b, ndim);
    let (fp, fshape) = if b.below(2) == 0 {
        let s = spec(&mut b, ndim);
        match s.parse::<Footprint>() {
            Ok(fp) => (fp, Vec::new()),
            Err(_) => return,
        }
    } else {
        let fshape: Vec<usize> = (0..ndim).map(|_| 1 + b.below(4)).collect();
        let weights: Vec<f64> = (0..fshape.iter().product::<usize>())
            .map(|_| match b.below(6) {
                5 => 0.0,
                4 => 2.5,
                _ => 1.0,
            })
            .collect();
        let fp = Footprint::from_weights(
            ArrayD::from_shape_vec(IxDyn(&fshape), weights)
                .unwrap()
                .view(),
        );
        (fp, fshape)
    };
    // An origin one time in four (the command's origin applies to every pass, so it may not
    // suit an `over` footprint: an error every engine must report alike).
    let origin: Vec<isize> = if b.below(4) == 3 {
        (fshape.iter())
            .map(|&f| b.below(f) as isize - (f / 2) as isize)
            .collect()
    } else {
        Vec::new()
    };
    let mode: Mode = Mode::NAMES[b.below(Mode::NAMES.len())].parse().unwrap();
    let cval = [0.0, 1.25, -3.0, f64::NAN, f64::INFINITY][b.below(5)];
    let t = [1.5, -2.0, 0.0, 7.0][b.below(4)];
    let dtype = b.below(4);
    let main = region_data(&mut b, &shape);
    let g = scope.g.then(|| region_data(&mut b, &shape));
    let opts = Options::default()
        .mode(mode)
        .cval(cval)
        .origin(&origin)
        .param("t", t);
    let case = Case {
        kernel: &kernel,
        src: &src,
        main: &main,
        g: g.as_ref(),
        channels: false,
        footprint: &fp,
        opts: &opts,
    };
    match dtype {
        1 => case.check::<f32>(),
        2 => case.check::<u8>(),
        3 => case.check::<i16>(),
        _ => case.check::<f64>(),
    }
    // Oracle: `n` outside every `over` is the command footprint's size. The same bytes with
    // that size written for it give the same program otherwise.
    let Ok(cells) = fp.resolve(ndim, &Limits::default()) else {
        return;
    };
    let mut literal = Scope {
        ndim,
        g: scope.g,
        overs: true,
        reduce: true,
        n_outside: Some(cells.weights.len().to_string()),
        ..Scope::default()
    };
    let fixed = program3(&mut Bytes(program), &mut literal);
    if fixed == src {
        return;
    }
    let fixed = Kernel::compile_for(&fixed, &["g"], &Limits::default())
        .unwrap_or_else(|e| panic!("`{src}` compiles, `{fixed}` does not: {e}"));
    let mut inputs = Inputs::new(main.view());
    if let Some(g) = &g {
        inputs = inputs.with("g", g.view());
    }
    let opts = opts.engine(Engine::Interpreter);
    let want = fixed.apply::<f64, f64>(&inputs, &fp, &opts);
    match (kernel.apply::<f64, f64>(&inputs, &fp, &opts), want) {
        (Ok(got), Ok(want)) => {
            for (idx, (a, w)) in got.iter().zip(want.iter()).enumerate() {
                assert!(
                    close(*a, *w),
                    "`{src}` {opts:?}: at {idx}: {a}, with n written as {}: {w}",
                    cells.weights.len()
                );
            }
        }
        (Err(_), Err(_)) => {}
        (a, w) => panic!(
            "`{src}` {opts:?}: {:?}, with n written as {}: {:?}",
            a.map(|_| "ok"),
            cells.weights.len(),
            w.map(|_| "ok")
        ),
    }
}

/// A small array shape: several passes of the interpreter over it stay quick.
fn region_shape(b: &mut Bytes, ndim: usize) -> Vec<usize> {
    (0..ndim)
        .map(|_| 1 + b.below([16, 9, 5][ndim - 1]))
        .collect()
}

/// Small halves, NaN and ±inf; no -0, whose order in percentiles is a known bug of the fused
/// and callback engines (tests/jit_vs_interpreter.rs, `percentiles_order_negative_zero_first`).
fn region_data(b: &mut Bytes, shape: &[usize]) -> ArrayD<f64> {
    ArrayD::from_shape_fn(IxDyn(shape), |_| match b.below(24) {
        0 => f64::NAN,
        1 => f64::INFINITY,
        2 => f64::NEG_INFINITY,
        _ => (b.below(33) as f64 - 16.0) / 2.0,
    })
}

/// How `composition` combines its two parts: an operator or a function of the language.
const COMBINE: &[&str] = &[
    "+", "-", "*", "/", "^", "<", ">=", "==", "!=", "and", "or", "min", "max", "atan2", "hypot",
];

/// `op` of the language on two values, written from docs/language.md.
fn combine(op: &str, a: f64, b: f64) -> f64 {
    let truth = |v: bool| if v { 1.0 } else { 0.0 };
    match op {
        "+" => a + b,
        "-" => a - b,
        "*" => a * b,
        "/" => a / b,
        "^" => a.powf(b),
        "<" => truth(a < b),
        ">=" => truth(a >= b),
        "==" => truth(a == b),
        "!=" => truth(a != b),
        "and" => truth(a != 0.0 && b != 0.0),
        "or" => truth(a != 0.0 || b != 0.0),
        "min" | "max" if a.is_nan() || b.is_nan() => f64::NAN,
        "min" => a.min(b),
        "max" => a.max(b),
        "atan2" => a.atan2(b),
        _ => a.hypot(b),
    }
}

/// The independent oracle for `over`: `A over F1 OP B over F2`, after `let`s without reductions
/// or `n` (the same under every footprint), equals A filtered with F1 and B with F2, each
/// compiled alone, combined by OP here (interpreter throughout; auto and fused on the whole
/// program too). The command's footprint, read by nothing, is a third spec.
fn composition(b: &mut Bytes, ndim: usize) {
    let mut s = Scope {
        ndim,
        ..Scope::default()
    };
    let mut lets = String::from("param t = 0.5; ");
    if b.below(2) == 0 {
        lets += &format!("let v = {}; ", s.vector(b, 2));
        s.vectors.push("v".into());
    }
    if b.below(2) == 0 {
        lets += &format!("let a = {}; ", s.scalar(b, 2));
        s.scalars.push("a".into());
    }
    s.reduce = true;
    let mut part = |b: &mut Bytes| {
        let before = s.free;
        let mut p = s.scalar(b, 3);
        if s.free == before {
            p = format!("({p} + {})", s.reduction(b, 1));
        }
        p
    };
    let (pa, pb) = (part(b), part(b));
    let (f1, f2, command) = (spec(b, ndim), spec(b, ndim), spec(b, ndim));
    let op = b.pick(COMBINE);
    let body = match op {
        "min" | "max" | "atan2" | "hypot" => format!("{op}({pa} over {f1}, {pb} over {f2})"),
        _ => format!("{pa} over {f1} {op} {pb} over {f2}"),
    };
    let src = format!("{lets}{body}");
    let shape = region_shape(b, ndim);
    let mode: Mode = Mode::NAMES[b.below(Mode::NAMES.len())].parse().unwrap();
    let cval = [0.0, 1.25, -3.0, f64::NAN, f64::INFINITY][b.below(5)];
    let u8_data = b.below(3) == 0;
    let data = region_data(b, &shape).mapv(|v| {
        if u8_data {
            f64::from(u8::from_f64(v))
        } else {
            v
        }
    });
    let opts = Options::default().mode(mode).cval(cval).param("t", 1.5);
    let ctx = format!(
        "`{src}` shape {shape:?} {} {mode:?} cval {cval} -f {command}",
        if u8_data { "u8" } else { "f64" }
    );
    let compile = |src: &str| {
        Kernel::compile(src).unwrap_or_else(|e| panic!("{ctx}: `{src}` does not compile: {e}"))
    };
    let (whole, ka, kb) = (
        compile(&src),
        compile(&format!("{lets}{pa}")),
        compile(&format!("{lets}{pb}")),
    );
    let run = |k: &Kernel, fp: &str, engine: Engine| {
        let fp: Footprint = fp.parse().unwrap();
        let opts = opts.clone().engine(engine);
        if u8_data {
            let typed = data.mapv(u8::from_f64);
            k.filter_as::<u8, f64, _>(typed.view(), &fp, &opts)
        } else {
            k.filter_as::<f64, f64, _>(data.view(), &fp, &opts)
        }
    };
    let (ra, rb) = match (
        run(&ka, &f1, Engine::Interpreter),
        run(&kb, &f2, Engine::Interpreter),
    ) {
        (Ok(a), Ok(b)) => (a, b),
        // A footprint the array cannot take (a spec that does not fit): the whole fails too.
        (ra, rb) => {
            let whole = run(&whole, &command, Engine::Interpreter);
            assert!(whole.is_err(), "{ctx}: {:?} {:?}", ra.err(), rb.err());
            return;
        }
    };
    for engine in [Engine::Interpreter, Engine::Auto, Engine::Fused] {
        let got = run(&whole, &command, engine);
        if got.is_err() && engine == Engine::Interpreter {
            // The command's footprint does not fit the array (it reads nothing, but is
            // resolved): every engine refuses it alike.
            for e in [Engine::Auto, Engine::Fused] {
                assert!(run(&whole, &command, e).is_err(), "{ctx}: {e:?} succeeds");
            }
            return;
        }
        let got = got.unwrap_or_else(|e| panic!("{ctx}: {engine:?} fails: {e}"));
        for (((idx, g), a), b) in got.iter().enumerate().zip(&ra).zip(&rb) {
            let want = combine(op, *a, *b);
            assert!(
                close(*g, want),
                "{ctx}: {engine:?} at {idx}: {g}, composed {want} ({a} {op} {b})"
            );
        }
    }
}

/// `percentile(v, q)`, or as often `kth(v, r)` with a rank made from the same pick (`q`, `-1`,
/// past the end, a param), so that both order statistics meet every engine.
fn order_statistic(b: &mut Bytes, v: String, q: &str) -> String {
    if b.below(2) == 0 {
        return format!("percentile({v}, {q})");
    }
    let r = match q {
        "25" => "2",
        "50" => "-2",
        "90" | "101" => "40",
        other => other,
    };
    format!("kth({v}, {r})")
}
