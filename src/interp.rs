//! The reference interpreter: evaluates a checked program on one window, written for obviousness
//! rather than speed. It is the oracle every compiled path is tested against, so it shares no
//! arithmetic with them: its operators, functions, `%` and percentile interpolation are written
//! here from numpy's definitions, apart from the JIT's helpers in `runtime`.

use crate::ir::{At, BinOp, Builtin, Func, Op, Program, Reduction, Sample, UnOp};

/// Everything a program can see for one output element.
#[derive(Clone, Copy)]
pub struct Window<'a> {
    /// Per input plane of the program, its window values in footprint order.
    pub w: &'a [Vec<f64>],
    /// The value of input plane `i` at offset (z, y, x) from the output position (boundary mode
    /// applied).
    pub point: &'a dyn Fn(usize, [isize; 3]) -> f64,
    /// Footprint weights, one per window value.
    pub k: &'a [f64],
    /// Offsets along the last, second-last and third-last axes, one per window value.
    pub dx: &'a [f64],
    pub dy: &'a [f64],
    pub dz: &'a [f64],
    /// Output position (x, y, z); array size (width, height, depth) and the main input's
    /// channel count.
    pub pos: [f64; 3],
    /// `pos(j)`'s and `d(j)`'s tables (see `Setup::axes`), this plane's.
    pub axes: &'a [f64],
    pub d: &'a [Vec<f64>],
    pub size: [f64; 4],
    /// Param values, in declaration order.
    pub params: &'a [f64],
}

#[derive(Debug, Clone)]
enum Value {
    S(f64),
    V(Vec<f64>),
}

impl Value {
    fn at(&self, j: usize) -> f64 {
        match self {
            Value::S(s) => *s,
            Value::V(v) => v[j],
        }
    }

    fn scalar(&self) -> f64 {
        match self {
            Value::S(s) => *s,
            Value::V(_) => unreachable!("checker guarantees a scalar here"),
        }
    }

    fn vector(&self) -> &[f64] {
        match self {
            Value::V(v) => v,
            Value::S(_) => unreachable!("checker guarantees a vector here"),
        }
    }
}

/// Evaluates `program` on one window, one value per output into `out`.
pub fn eval(program: &Program, win: &Window, out: &mut [f64]) {
    let values = values(program, win);
    for (o, &r) in out.iter_mut().zip(&program.roots) {
        *o = values[r].scalar();
    }
}

/// Evaluates `program`, whose results may be vectors, on one window: per result, its value
/// per window element (a scalar repeated).
pub fn vectors(program: &Program, win: &Window) -> Vec<Vec<f64>> {
    let values = values(program, win);
    let n = win.k.len();
    (program.roots.iter())
        .map(|&r| (0..n).map(|j| values[r].at(j)).collect())
        .collect()
}

/// The value of every node of `program` on one window.
fn values(program: &Program, win: &Window) -> Vec<Value> {
    let n = win.k.len();
    let mut values: Vec<Value> = Vec::with_capacity(program.nodes.len());
    for node in &program.nodes {
        let elementwise = |args: &[&Value], f: &dyn Fn(&[f64]) -> f64| -> Value {
            if args.iter().any(|a| matches!(a, Value::V(_))) {
                Value::V(
                    (0..n)
                        .map(|j| f(&args.iter().map(|a| a.at(j)).collect::<Vec<_>>()))
                        .collect(),
                )
            } else {
                Value::S(f(&args.iter().map(|a| a.scalar()).collect::<Vec<_>>()))
            }
        };
        let v = match &node.op {
            Op::Const(c) => Value::S(*c),
            Op::Param(p) => Value::S(win.params[*p]),
            Op::Sample(s) => sample(*s, win),
            Op::Builtin(b) => builtin(*b, win),
            Op::Unary(op, a) => elementwise(&[&values[*a]], &|x| unary(*op, x[0])),
            Op::Binary(op, a, b) => {
                elementwise(&[&values[*a], &values[*b]], &|x| binary(*op, x[0], x[1]))
            }
            Op::Call(f, args) => {
                let args: Vec<&Value> = args.iter().map(|a| &values[*a]).collect();
                elementwise(&args, &|x| call(*f, x))
            }
            Op::Select(c, a, b) => elementwise(&[&values[*c], &values[*a], &values[*b]], &|x| {
                if x[0] != 0.0 {
                    x[1]
                } else {
                    x[2]
                }
            }),
            Op::Reduce(red, a, extra, _) => Value::S(reduce(
                *red,
                values[*a].vector(),
                extra.map(|e| values[e].scalar()),
            )),
        };
        values.push(v);
    }
    values
}

fn sample(s: Sample, win: &Window) -> Value {
    match s.at {
        At::Window => Value::V(win.w[s.input].clone()),
        At::Center => Value::S((win.point)(s.input, [0; 3])),
        At::Offset(o) => Value::S((win.point)(s.input, o)),
    }
}

fn builtin(b: Builtin, win: &Window) -> Value {
    match b {
        Builtin::K => Value::V(win.k.to_vec()),
        Builtin::Dx => Value::V(win.dx.to_vec()),
        Builtin::Dy => Value::V(win.dy.to_vec()),
        Builtin::Dz => Value::V(win.dz.to_vec()),
        Builtin::I => Value::V((0..win.k.len()).map(|j| j as f64).collect()),
        Builtin::N => Value::S(win.k.len() as f64),
        Builtin::X => Value::S(win.pos[0]),
        Builtin::Y => Value::S(win.pos[1]),
        Builtin::Z => Value::S(win.pos[2]),
        Builtin::Width => Value::S(win.size[0]),
        Builtin::Height => Value::S(win.size[1]),
        Builtin::Depth => Value::S(win.size[2]),
        Builtin::Channels => Value::S(win.size[3]),
        Builtin::Pos(j) => {
            let t = &win.axes[Builtin::axis_slot(j) * 5..][..4];
            let [x, y, z] = win.pos;
            Value::S(t[0] * x + t[1] * y + t[2] * z + t[3])
        }
        Builtin::D(j) => Value::V(win.d[Builtin::axis_slot(j)].clone()),
    }
}

fn bool_f64(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

fn unary(op: UnOp, a: f64) -> f64 {
    match op {
        UnOp::Neg => -a,
        UnOp::Not => bool_f64(a == 0.0),
    }
}

fn binary(op: BinOp, a: f64, b: f64) -> f64 {
    match op {
        BinOp::Or => bool_f64(a != 0.0 || b != 0.0),
        BinOp::And => bool_f64(a != 0.0 && b != 0.0),
        BinOp::Eq => bool_f64(a == b),
        BinOp::Ne => bool_f64(a != b),
        BinOp::Lt => bool_f64(a < b),
        BinOp::Le => bool_f64(a <= b),
        BinOp::Gt => bool_f64(a > b),
        BinOp::Ge => bool_f64(a >= b),
        BinOp::Add => a + b,
        BinOp::Sub => a - b,
        BinOp::Mul => a * b,
        BinOp::Div => a / b,
        BinOp::Mod => numpy_mod(a, b),
        BinOp::Pow => a.powf(b),
    }
}

/// numpy's scalar semantics of each function.
fn call(f: Func, a: &[f64]) -> f64 {
    let x = a[0];
    let nan_in = a.iter().any(|v| v.is_nan());
    match f {
        Func::Abs => x.abs(),
        Func::Sqrt => x.sqrt(),
        Func::Cbrt => x.cbrt(),
        Func::Exp => x.exp(),
        Func::Exp2 => x.exp2(),
        Func::Ln => x.ln(),
        Func::Log2 => x.log2(),
        Func::Log10 => x.log10(),
        Func::Sin => x.sin(),
        Func::Cos => x.cos(),
        Func::Tan => x.tan(),
        Func::Asin => x.asin(),
        Func::Acos => x.acos(),
        Func::Atan => x.atan(),
        Func::Sinh => x.sinh(),
        Func::Cosh => x.cosh(),
        Func::Tanh => x.tanh(),
        Func::Floor => x.floor(),
        Func::Ceil => x.ceil(),
        Func::Round => x.round_ties_even(),
        Func::Trunc => x.trunc(),
        // np.sign keeps 0, -0 and NaN.
        Func::Sign if x == 0.0 || x.is_nan() => x,
        Func::Sign => x.signum(),
        Func::IsNan => bool_f64(x.is_nan()),
        Func::IsFinite => bool_f64(x.is_finite()),
        Func::Pow => x.powf(a[1]),
        Func::Atan2 => x.atan2(a[1]),
        Func::Hypot => x.hypot(a[1]),
        // np.minimum / np.maximum: NaN if either is; the second argument when they compare equal
        // (which decides the sign of a zero result).
        Func::Min2 if nan_in => f64::NAN,
        Func::Min2 => {
            if x < a[1] {
                x
            } else {
                a[1]
            }
        }
        Func::Max2 if nan_in => f64::NAN,
        Func::Max2 => {
            if x > a[1] {
                x
            } else {
                a[1]
            }
        }
        // np.clip(x, lo, hi) = minimum(maximum(x, lo), hi), but `x` itself (its zero's sign
        // included) when it lies within the bounds.
        Func::Clamp if nan_in => f64::NAN,
        Func::Clamp => {
            let (lo, hi) = (a[1], a[2]);
            let t = if x < lo { lo } else { x };
            if t > hi {
                hi
            } else {
                t
            }
        }
    }
}

/// numpy's `np.mod` for floats (`npy_divmod`): C's `fmod`, moved into the divisor's sign; a zero
/// remainder takes the divisor's sign, and a zero divisor gives NaN.
fn numpy_mod(a: f64, b: f64) -> f64 {
    let m = a % b;
    if b == 0.0 {
        f64::NAN
    } else if m == 0.0 {
        0.0f64.copysign(b)
    } else if (b < 0.0) != (m < 0.0) {
        m + b
    } else {
        m
    }
}

/// numpy's reductions with their default arguments. `extra` is `q` or `ddof`.
pub fn reduce(red: Reduction, v: &[f64], extra: Option<f64>) -> f64 {
    let non_nan: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
    let has_nan = non_nan.len() != v.len();
    let ddof = extra.unwrap_or(0.0);
    match red {
        Reduction::Sum => sum(v),
        Reduction::Prod => v.iter().product(),
        Reduction::Mean => sum(v) / v.len() as f64,
        Reduction::Min | Reduction::Max if has_nan => f64::NAN,
        Reduction::Min => v.iter().copied().fold(f64::INFINITY, f64::min),
        Reduction::Max => v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        Reduction::Var => variance(v, ddof),
        Reduction::Std => variance(v, ddof).sqrt(),
        Reduction::Median if has_nan => f64::NAN,
        Reduction::Median => median(&non_nan),
        Reduction::Percentile if has_nan => f64::NAN,
        Reduction::Percentile => percentile(&non_nan, extra.unwrap_or(f64::NAN)),
        Reduction::Kth => kth(&non_nan, v.len(), extra.unwrap_or(f64::NAN)),
        Reduction::Count => v.iter().filter(|x| **x != 0.0).count() as f64,
        Reduction::Any => bool_f64(v.iter().any(|x| *x != 0.0)),
        Reduction::All => bool_f64(v.iter().all(|x| *x != 0.0)),
        Reduction::ArgMin => arg_best(v, |a, b| a < b),
        Reduction::ArgMax => arg_best(v, |a, b| a > b),
        // numpy replaces NaN by +0 and sums, so an all-NaN window gives +0.
        Reduction::NanSum => sum(&v
            .iter()
            .map(|x| if x.is_nan() { 0.0 } else { *x })
            .collect::<Vec<_>>()),
        Reduction::NanMean => sum(&non_nan) / non_nan.len() as f64,
        Reduction::NanMin if non_nan.is_empty() => f64::NAN,
        Reduction::NanMin => non_nan.iter().copied().fold(f64::INFINITY, f64::min),
        Reduction::NanMax if non_nan.is_empty() => f64::NAN,
        Reduction::NanMax => non_nan.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        Reduction::NanVar => variance(&non_nan, ddof),
        Reduction::NanStd => variance(&non_nan, ddof).sqrt(),
        Reduction::NanMedian => median(&non_nan),
    }
}

/// A sum that keeps numpy's signed zeros: it starts from -0, the identity of addition.
fn sum(v: &[f64]) -> f64 {
    v.iter().fold(-0.0, |a, b| a + b)
}

/// Two-pass variance, as numpy computes it; the divisor is clamped at zero like numpy's.
fn variance(v: &[f64], ddof: f64) -> f64 {
    let n = v.len() as f64;
    let mean = sum(v) / n;
    let ss = sum(&v
        .iter()
        .map(|x| (x - mean) * (x - mean))
        .collect::<Vec<_>>());
    // The divisor is clamped at zero; a NaN ddof stays NaN.
    let dof = if n - ddof < 0.0 { 0.0 } else { n - ddof };
    ss / dof
}

/// numpy's median of NaN-free data: the middle element, or the mean of the middle two.
fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    }
}

/// Element `r` of the window sorted as `np.sort` sorts it, NaN last (`non_nan` its NaN-free
/// elements, `n` all of them): from the bottom for r ≥ 0, from the top for r < 0; NaN when `r`
/// is not an integer in -n..n or lands on a NaN.
pub fn kth(non_nan: &[f64], n: usize, r: f64) -> f64 {
    let Some(k) = crate::order::kth_index(r, n, non_nan.len()) else {
        return f64::NAN;
    };
    let mut s = non_nan.to_vec();
    s.sort_by(f64::total_cmp);
    s[k]
}

/// numpy's default ("linear") percentile of NaN-free data; NaN when empty or q is outside 0..=100.
/// Like numpy it always interpolates, so an infinite neighbour gives NaN even at t = 0.
pub fn percentile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() || !(0.0..=100.0).contains(&q) {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let pos = q / 100.0 * (s.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(s.len() - 1);
    let t = pos - lo as f64;
    lerp(s[lo], s[hi], t)
}

/// numpy's `_lerp`: `a + (b - a)·t`, computed from `b` for t ≥ 0.5 so that t = 1 gives `b`
/// exactly.
fn lerp(a: f64, b: f64, t: f64) -> f64 {
    let diff_b_a = b - a;
    let from_a = a + diff_b_a * t;
    let from_b = b - diff_b_a * (1.0 - t);
    if t >= 0.5 {
        from_b
    } else {
        from_a
    }
}

/// First index of the best element; the first NaN wins, as numpy's argmin/argmax.
fn arg_best(v: &[f64], better: impl Fn(f64, f64) -> bool) -> f64 {
    if let Some(j) = v.iter().position(|x| x.is_nan()) {
        return j as f64;
    }
    let mut best = 0;
    for j in 1..v.len() {
        if better(v[j], v[best]) {
            best = j;
        }
    }
    best as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::compile_program;
    use crate::limits::Limits;

    fn run(src: &str, w: &[f64], c: f64) -> f64 {
        let p = compile_program(src, &[], &Limits::default()).unwrap();
        let zeros = vec![0.0; w.len()];
        let ones = vec![1.0; w.len()];
        let params: Vec<f64> = p.params.iter().map(|p| p.default).collect();
        let win = Window {
            w: &[w.to_vec()],
            point: &|_, _| c,
            k: &ones,
            dx: &zeros,
            dy: &zeros,
            dz: &zeros,
            pos: [0.0; 3],
            axes: &[],
            d: &[],
            size: [1.0; 4],
            params: &params,
        };
        let mut out = [0.0];
        eval(&p, &win, &mut out);
        out[0]
    }

    #[test]
    fn hand_computed() {
        let w = [4.0, 1.0, 3.0, 2.0];
        assert_eq!(run("max(w)", &w, 0.0), 4.0);
        assert_eq!(run("median(w)", &w, 0.0), 2.5);
        assert_eq!(run("percentile(w, 25)", &w, 0.0), 1.75);
        assert_eq!(run("var(w)", &w, 0.0), 1.25);
        assert_eq!(run("var(w, 1)", &w, 0.0), 5.0 / 3.0);
        assert_eq!(run("argmin(w) + 10 * argmax(w)", &w, 0.0), 1.0);
        assert_eq!(run("count(w > c)", &w, 2.0), 2.0);
        assert_eq!(run("-2^2 + 2^3^2", &w, 0.0), 508.0);
        assert_eq!(run("-7 % 3", &w, 0.0), 2.0);
        assert_eq!(run("7 % -3", &w, 0.0), -2.0);
        assert_eq!(run("param t = 2; sum(w > t)", &w, 0.0), 2.0);
        assert_eq!(run("if c > 1 then 10 else 20", &w, 2.0), 10.0);
        // np.sort(w)[r]
        for (r, want) in [(0, 1.0), (1, 2.0), (3, 4.0), (-1, 4.0), (-4, 1.0)] {
            assert_eq!(run(&format!("kth(w, {r})"), &w, 0.0), want, "{r}");
        }
        for r in ["4", "-5", "0.5", "nan"] {
            assert!(run(&format!("kth(w, {r})"), &w, 0.0).is_nan(), "{r}");
        }
        assert_eq!(run("sum(if w > 2 then w else 0)", &w, 0.0), 7.0);
    }

    #[test]
    fn nan_semantics() {
        let w = [1.0, f64::NAN, 3.0];
        assert!(run("max(w)", &w, 0.0).is_nan());
        assert!(run("median(w)", &w, 0.0).is_nan());
        assert_eq!(run("nanmax(w)", &w, 0.0), 3.0);
        assert_eq!(run("nanmean(w)", &w, 0.0), 2.0);
        assert_eq!(run("nanmedian(w)", &w, 0.0), 2.0);
        assert_eq!(run("argmax(w)", &w, 0.0), 1.0);
        assert_eq!(run("count(w)", &w, 0.0), 3.0);
        // NaN sorts last, as in np.sort.
        assert_eq!(run("kth(w, 0)", &w, 0.0), 1.0);
        assert_eq!(run("kth(w, -2)", &w, 0.0), 3.0);
        assert!(run("kth(w, -1)", &w, 0.0).is_nan());
        let all_nan = [f64::NAN, f64::NAN];
        assert_eq!(run("nansum(w)", &all_nan, 0.0), 0.0);
        assert!(run("nanmin(w)", &all_nan, 0.0).is_nan());
    }
}
