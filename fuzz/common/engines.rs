//! Grammar-aware programs (valid, and mutated at the token level) × random small arrays,
//! footprints, modes, origins and dtypes → every engine. The interpreter is the oracle: the
//! callback, fused and auto (planned) engines must agree with it within the documented tolerance
//! (1e-9 relative; the data are small halves, NaN and ±inf, so sums are exact in any order), or
//! all fail with the same kind of error. Never a crash.
//!
//! An input whose first byte is 3 mod 4 takes the second generator (`run_inputs`): programs
//! that also read a named input `g`, `at()` at small offsets, channels (`w[j]`, `c[j]`, `g[j]`,
//! `channels`) of 1 to 3 channel inputs, and tuple results, applied with `Kernel::apply`. Every
//! other input means what it meant before (all of fuzz/regressions/engines among them).

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
            "c", "n", "t", "1.5", "2", "0", "-3", "x", "width", "nan", "inf", "-0", "1e300", "pi",
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
        2 => format!(
            "percentile({}, {})",
            vector(b, d, ndim),
            b.pick(&["0", "25", "50", "90", "100", "101", "-1", "t", "c"])
        ),
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
        let mut leaves = vec!["w", "w", "w", "k", "dx", "i"];
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
    let mut src = String::from("param t = 0.5; ");
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
                    "c", "n", "t", "1.5", "2", "0", "-3", "x", "width", "nan", "-0",
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
        2 => format!(
            "percentile({}, {})",
            vector2(b, lang, d),
            b.pick(&["0", "50", "100", "t"])
        ),
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
        let mut leaves = vec!["w", "w", "w", "k", "dx", "i"];
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
