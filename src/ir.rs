//! The checked, typed intermediate representation: a DAG of nodes in topological order (operands
//! before users), each typed scalar or vector and carrying the span it came from. Identical
//! subexpressions share one node, so later stages (interpreter, planner, code generator) analyse
//! and compute each value once.

use crate::error::Span;
use crate::footprint::Footprint;
use crate::regions::Over;
pub use crate::syntax::{BinOp, UnOp};
use std::fmt;

pub type NodeId = usize;

/// Whether a value is one number per pixel or one number per window element.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shape {
    Scalar,
    Vector,
}

/// Where a sample of an input is read, relative to the output position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum At {
    /// Every element of the window, in footprint order (a vector).
    Window,
    /// The element at the output position (a scalar): `c`, `at(X)`.
    Center,
    /// The element at a constant nonzero offset (z, y, x) from the output position (a scalar):
    /// `at(X, ox, oy, oz)`.
    Offset([isize; 3]),
}

/// A value read from one of the program's input planes ([`Program::inputs`]; 0: `w`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sample {
    pub input: usize,
    pub at: At,
}

impl Sample {
    /// `w`: the main input's window.
    pub const W: Sample = Sample {
        input: 0,
        at: At::Window,
    };
    /// `c`: the main input's value at the output position.
    pub const C: Sample = Sample {
        input: 0,
        at: At::Center,
    };

    pub fn shape(self) -> Shape {
        match self.at {
            At::Window => Shape::Vector,
            At::Center | At::Offset(_) => Shape::Scalar,
        }
    }
}

/// The name of the main input's window; `c` is its value here.
pub const MAIN: &str = "w";

/// An input plane a program reads: an input by name, and which of its channels (`None`: the
/// input as a whole — its only channel, or each channel in turn when the program never indexes
/// channels).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Plane {
    pub name: String,
    pub channel: Option<usize>,
    /// Where the program first names it (for errors found when inputs are bound).
    pub span: Span,
}

impl fmt::Display for Plane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.channel {
            Some(j) => write!(f, "{}[{j}]", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// The other names the language provides: window geometry, positions and sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Builtin {
    K,
    Dx,
    Dy,
    Dz,
    I,
    N,
    X,
    Y,
    Z,
    Width,
    Height,
    Depth,
    /// The main input's channel count.
    Channels,
    /// `pos(j)`: the output position along axis `j` (numpy's numbering; negative counts from
    /// the last axis, so `pos(-1)` is `x`).
    Pos(i8),
    /// `d(j)`: each element's offset along axis `j`, as `pos(j)`'s.
    D(i8),
}

/// How many axes `pos(j)` and `d(j)` can name: `j` in `-AXES / 2 .. AXES / 2` (an array has at
/// most 32).
pub const AXES: usize = 64;

impl Builtin {
    pub const ALL: [Builtin; 13] = [
        Builtin::K,
        Builtin::Dx,
        Builtin::Dy,
        Builtin::Dz,
        Builtin::I,
        Builtin::N,
        Builtin::X,
        Builtin::Y,
        Builtin::Z,
        Builtin::Width,
        Builtin::Height,
        Builtin::Depth,
        Builtin::Channels,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Builtin::K => "k",
            Builtin::Dx => "dx",
            Builtin::Dy => "dy",
            Builtin::Dz => "dz",
            Builtin::I => "i",
            Builtin::N => "n",
            Builtin::X => "x",
            Builtin::Y => "y",
            Builtin::Z => "z",
            Builtin::Width => "width",
            Builtin::Height => "height",
            Builtin::Depth => "depth",
            Builtin::Channels => "channels",
            Builtin::Pos(_) => "pos",
            Builtin::D(_) => "d",
        }
    }

    /// How the program writes it: its name, with the axis for `pos(j)` and `d(j)`.
    pub fn text(self) -> String {
        match self {
            Builtin::Pos(j) | Builtin::D(j) => format!("{}({j})", self.name()),
            _ => self.name().to_string(),
        }
    }

    /// Where the run's tables keep `pos(j)`'s and `d(j)`'s values for axis `j`.
    pub fn axis_slot(j: i8) -> usize {
        (j as isize + (AXES / 2) as isize) as usize
    }

    /// Whether this is a table of one value per window element, the same for every pixel (`k`,
    /// offsets; not `i`, which is computed).
    pub fn is_table(self) -> bool {
        matches!(
            self,
            Builtin::K | Builtin::Dx | Builtin::Dy | Builtin::Dz | Builtin::D(_)
        )
    }

    pub fn from_name(name: &str) -> Option<Builtin> {
        Builtin::ALL.into_iter().find(|b| b.name() == name)
    }

    pub fn shape(self) -> Shape {
        match self {
            Builtin::K | Builtin::Dx | Builtin::Dy | Builtin::Dz | Builtin::D(_) | Builtin::I => {
                Shape::Vector
            }
            _ => Shape::Scalar,
        }
    }

    /// The array axis (counted from the last) a position name needs: x/dx/width need one
    /// dimension, y/dy/height two, z/dz/depth three.
    pub fn axis_needed(self) -> Option<usize> {
        match self {
            Builtin::X | Builtin::Dx => Some(1),
            Builtin::Y | Builtin::Dy => Some(2),
            Builtin::Z | Builtin::Dz => Some(3),
            _ => None,
        }
    }
}

/// Elementwise functions (scalars broadcast against vectors).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Func {
    Abs,
    Sqrt,
    Cbrt,
    Exp,
    Exp2,
    Ln,
    Log2,
    Log10,
    Sin,
    Cos,
    Tan,
    Asin,
    Acos,
    Atan,
    Sinh,
    Cosh,
    Tanh,
    Floor,
    Ceil,
    Round,
    Trunc,
    Sign,
    IsNan,
    IsFinite,
    Pow,
    Atan2,
    Hypot,
    /// Elementwise minimum of two values (NaN-propagating, as `np.minimum`).
    Min2,
    /// Elementwise maximum of two values (NaN-propagating, as `np.maximum`).
    Max2,
    Clamp,
}

impl Func {
    pub const ALL: [Func; 30] = [
        Func::Abs,
        Func::Sqrt,
        Func::Cbrt,
        Func::Exp,
        Func::Exp2,
        Func::Ln,
        Func::Log2,
        Func::Log10,
        Func::Sin,
        Func::Cos,
        Func::Tan,
        Func::Asin,
        Func::Acos,
        Func::Atan,
        Func::Sinh,
        Func::Cosh,
        Func::Tanh,
        Func::Floor,
        Func::Ceil,
        Func::Round,
        Func::Trunc,
        Func::Sign,
        Func::IsNan,
        Func::IsFinite,
        Func::Pow,
        Func::Atan2,
        Func::Hypot,
        Func::Min2,
        Func::Max2,
        Func::Clamp,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Func::Abs => "abs",
            Func::Sqrt => "sqrt",
            Func::Cbrt => "cbrt",
            Func::Exp => "exp",
            Func::Exp2 => "exp2",
            Func::Ln => "ln",
            Func::Log2 => "log2",
            Func::Log10 => "log10",
            Func::Sin => "sin",
            Func::Cos => "cos",
            Func::Tan => "tan",
            Func::Asin => "asin",
            Func::Acos => "acos",
            Func::Atan => "atan",
            Func::Sinh => "sinh",
            Func::Cosh => "cosh",
            Func::Tanh => "tanh",
            Func::Floor => "floor",
            Func::Ceil => "ceil",
            Func::Round => "round",
            Func::Trunc => "trunc",
            Func::Sign => "sign",
            Func::IsNan => "isnan",
            Func::IsFinite => "isfinite",
            Func::Pow => "pow",
            Func::Atan2 => "atan2",
            Func::Hypot => "hypot",
            Func::Min2 => "min",
            Func::Max2 => "max",
            Func::Clamp => "clamp",
        }
    }

    pub fn arity(self) -> usize {
        match self {
            Func::Pow | Func::Atan2 | Func::Hypot | Func::Min2 | Func::Max2 => 2,
            Func::Clamp => 3,
            _ => 1,
        }
    }

    /// `log` is an alias of `ln`, as in numpy.
    pub fn from_name(name: &str) -> Option<Func> {
        if name == "log" {
            return Some(Func::Ln);
        }
        Func::ALL
            .into_iter()
            .find(|f| f.name() == name && !matches!(f, Func::Min2 | Func::Max2))
    }
}

/// Reductions: a vector in, one number out, with numpy's default semantics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reduction {
    Sum,
    Mean,
    Min,
    Max,
    Var,
    Std,
    Median,
    Percentile,
    /// `kth(v, r)`: the r-th smallest element (from 0; negative from the top).
    Kth,
    Count,
    Any,
    All,
    Prod,
    ArgMin,
    ArgMax,
    NanSum,
    NanMean,
    NanMin,
    NanMax,
    NanVar,
    NanStd,
    NanMedian,
}

impl Reduction {
    pub const ALL: [Reduction; 22] = [
        Reduction::Sum,
        Reduction::Mean,
        Reduction::Min,
        Reduction::Max,
        Reduction::Var,
        Reduction::Std,
        Reduction::Median,
        Reduction::Percentile,
        Reduction::Kth,
        Reduction::Count,
        Reduction::Any,
        Reduction::All,
        Reduction::Prod,
        Reduction::ArgMin,
        Reduction::ArgMax,
        Reduction::NanSum,
        Reduction::NanMean,
        Reduction::NanMin,
        Reduction::NanMax,
        Reduction::NanVar,
        Reduction::NanStd,
        Reduction::NanMedian,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Reduction::Sum => "sum",
            Reduction::Mean => "mean",
            Reduction::Min => "min",
            Reduction::Max => "max",
            Reduction::Var => "var",
            Reduction::Std => "std",
            Reduction::Median => "median",
            Reduction::Percentile => "percentile",
            Reduction::Kth => "kth",
            Reduction::Count => "count",
            Reduction::Any => "any",
            Reduction::All => "all",
            Reduction::Prod => "prod",
            Reduction::ArgMin => "argmin",
            Reduction::ArgMax => "argmax",
            Reduction::NanSum => "nansum",
            Reduction::NanMean => "nanmean",
            Reduction::NanMin => "nanmin",
            Reduction::NanMax => "nanmax",
            Reduction::NanVar => "nanvar",
            Reduction::NanStd => "nanstd",
            Reduction::NanMedian => "nanmedian",
        }
    }

    pub fn from_name(name: &str) -> Option<Reduction> {
        Reduction::ALL.into_iter().find(|r| r.name() == name)
    }

    /// Number of arguments after the vector: `(min, max)` accepted.
    pub fn extra_args(self) -> (usize, usize) {
        match self {
            Reduction::Percentile | Reduction::Kth => (1, 1),
            Reduction::Var | Reduction::Std | Reduction::NanVar | Reduction::NanStd => (0, 1),
            _ => (0, 0),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Const(f64),
    /// Index into [`Program::params`].
    Param(usize),
    /// A value of an input: its window or its value here.
    Sample(Sample),
    Builtin(Builtin),
    Unary(UnOp, NodeId),
    Binary(BinOp, NodeId, NodeId),
    Call(Func, Vec<NodeId>),
    /// A reduction of a vector operand; `extra` is the scalar `q` of `percentile`, `r` of `kth`
    /// or `ddof`;
    /// then the footprint it runs over (0 in every program after [`crate::regions::split`]).
    Reduce(Reduction, NodeId, Option<NodeId>, Over),
    /// `if cond then a else b`, elementwise when any operand is a vector.
    Select(NodeId, NodeId, NodeId),
}

impl Op {
    pub fn operands(&self) -> Vec<NodeId> {
        match self {
            Op::Const(_) | Op::Param(_) | Op::Sample(_) | Op::Builtin(_) => vec![],
            Op::Unary(_, a) => vec![*a],
            Op::Binary(_, a, b) => vec![*a, *b],
            Op::Call(_, args) => args.clone(),
            Op::Reduce(_, a, extra, _) => std::iter::once(*a).chain(*extra).collect(),
            Op::Select(c, a, b) => vec![*c, *a, *b],
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub op: Op,
    pub shape: Shape,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ParamDecl {
    pub name: String,
    pub default: f64,
    /// `in LO .. HI`: the values the param may take (inclusive), if declared.
    pub range: Option<(f64, f64)>,
    pub span: Span,
}

/// A checked program: nodes in topological order, its results (scalars, one per output
/// channel), its params and the input planes it reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Program {
    pub source: String,
    pub nodes: Vec<Node>,
    /// One node per output: several for a tuple result.
    pub roots: Vec<NodeId>,
    pub params: Vec<ParamDecl>,
    /// The planes [`Sample::input`] indexes; the first is always `w` as a whole.
    pub inputs: Vec<Plane>,
    /// The images this program's `stage` statements make, in order: each a program of its own
    /// (with no stages), whose results later programs read as inputs by the stage's name.
    pub stages: Vec<Stage>,
    /// The footprint of its reductions, when `over` sets it (`None`: the one it is applied with).
    pub footprint: Option<Footprint>,
}

/// `stage NAME = EXPR;`: an image made before the program that reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    pub name: String,
    pub span: Span,
    pub program: Program,
}

impl Stage {
    /// Its name, and the footprint it sets unless the name says it (`e over disk:5`; a stage
    /// made by `over` is named for its reduction: `mean(w) over box:3`).
    pub fn heading(&self) -> String {
        match &self.program.footprint {
            Some(fp) if crate::check::is_identifier(&self.name) => {
                format!("{} over {fp}", self.name)
            }
            _ => self.name.clone(),
        }
    }
}

impl Program {
    /// The reduction nodes, in order.
    pub fn reductions(&self) -> impl Iterator<Item = NodeId> + '_ {
        (self.nodes.iter().enumerate())
            .filter(|(_, n)| matches!(n.op, Op::Reduce(..)))
            .map(|(id, _)| id)
    }

    /// The source text node `id` came from.
    pub fn text(&self, id: NodeId) -> &str {
        let span = self.nodes[id].span;
        self.source.get(span.start..span.end).unwrap_or("?")
    }

    /// How the program spells a sample: `w`, `c`, `g`, `w[1]`, `at(g, 1, 0)`, `c[2]`.
    pub fn sample_text(&self, s: Sample) -> String {
        let plane = &self.inputs[s.input];
        match (s.at, plane.name == MAIN) {
            (At::Window, _) => plane.to_string(),
            (At::Center, true) => match plane.channel {
                Some(j) => format!("c[{j}]"),
                None => "c".into(),
            },
            (At::Center, false) => format!("at({plane})"),
            (At::Offset([0, y, x]), _) => format!("at({plane}, {x}, {y})"),
            (At::Offset([z, y, x]), _) => format!("at({plane}, {x}, {y}, {z})"),
        }
    }

    /// Whether the program reads any input plane by channel (`w[0]`, `c[1]`…): then the
    /// channels of its inputs are seen jointly, else it runs once per channel.
    pub fn indexes_channels(&self) -> bool {
        self.inputs.iter().any(|p| p.channel.is_some())
    }

    /// Whether the program is its main input's value here (`c`; one result, no stages): made
    /// in the input's type, its results are the input's values.
    pub fn is_centre(&self) -> bool {
        self.stages.is_empty()
            && self.roots.len() == 1
            && matches!(self.nodes[self.roots[0]].op, Op::Sample(Sample::C))
    }

    /// Whether a node reads input plane `i`.
    pub fn reads(&self, i: usize) -> bool {
        (self.nodes.iter()).any(|n| matches!(n.op, Op::Sample(s) if s.input == i))
    }

    /// The constant offsets (z, y, x) of `at()` samples, for the halo.
    pub fn points(&self) -> Vec<[isize; 3]> {
        let mut out = Vec::new();
        for n in &self.nodes {
            if let Op::Sample(Sample {
                at: At::Offset(o), ..
            }) = n.op
            {
                if !out.contains(&o) {
                    out.push(o);
                }
            }
        }
        out
    }

    /// Every name of the language the program reads (`w`, `c`, `k`, `x`, `g`, `w[0]`…), in
    /// order of first use.
    pub fn names_used(&self) -> Vec<String> {
        let mut seen: Vec<String> = Vec::new();
        for node in &self.nodes {
            let name = match node.op {
                Op::Sample(s) => self.sample_text(s),
                Op::Builtin(b) => b.name().to_string(),
                _ => continue,
            };
            if !seen.contains(&name) {
                seen.push(name);
            }
        }
        seen
    }

    pub fn builtins_used(&self) -> Vec<(Builtin, Span)> {
        let mut seen: Vec<(Builtin, Span)> = Vec::new();
        for node in &self.nodes {
            if let Op::Builtin(b) = node.op {
                if !seen.iter().any(|(s, _)| *s == b) {
                    seen.push((b, node.span));
                }
            }
        }
        seen
    }

    /// The same program with only the nodes the root depends on (unused `let`s cost nothing).
    pub fn pruned(&self) -> Program {
        let mut live = vec![false; self.nodes.len()];
        for &r in &self.roots {
            live[r] = true;
        }
        for id in (0..self.nodes.len()).rev() {
            if live[id] {
                for o in self.nodes[id].op.operands() {
                    live[o] = true;
                }
            }
        }
        let mut remap = vec![usize::MAX; self.nodes.len()];
        let mut nodes = Vec::new();
        for (id, node) in self.nodes.iter().enumerate() {
            if live[id] {
                let m = |o: NodeId| remap[o];
                let op = match &node.op {
                    Op::Unary(u, a) => Op::Unary(*u, m(*a)),
                    Op::Binary(b, x, y) => Op::Binary(*b, m(*x), m(*y)),
                    Op::Call(f, args) => Op::Call(*f, args.iter().map(|a| m(*a)).collect()),
                    Op::Reduce(r, a, e, o) => Op::Reduce(*r, m(*a), e.map(m), *o),
                    Op::Select(c, x, y) => Op::Select(m(*c), m(*x), m(*y)),
                    leaf => leaf.clone(),
                };
                remap[id] = nodes.len();
                nodes.push(Node { op, ..node.clone() });
            }
        }
        Program {
            source: self.source.clone(),
            nodes,
            roots: self.roots.iter().map(|&r| remap[r]).collect(),
            params: self.params.clone(),
            // Kept whole, so that input indices mean the same in every part of a program.
            inputs: self.inputs.clone(),
            stages: self.stages.clone(),
            footprint: self.footprint.clone(),
        }
    }
}

fn format_number(v: f64) -> String {
    if v.is_nan() {
        "nan".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "inf".into()
        } else {
            "(-inf)".into()
        }
    } else {
        format!("{v}")
    }
}

/// One line per node: the typed program as later stages see it.
impl fmt::Display for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for stage in &self.stages {
            writeln!(f, "stage {}:", stage.heading())?;
            let text = stage.program.to_string();
            for line in text.lines().filter(|l| !l.starts_with("param ")) {
                writeln!(f, "  {line}")?;
            }
        }
        match &self.footprint {
            Some(fp) => writeln!(f, "result over {fp}:")?,
            None if !self.stages.is_empty() => writeln!(f, "result:")?,
            None => {}
        }
        for p in &self.params {
            write!(f, "param {} = {}", p.name, format_number(p.default))?;
            if let Some((lo, hi)) = p.range {
                write!(f, " in {} .. {}", format_number(lo), format_number(hi))?;
            }
            writeln!(f)?;
        }
        for (id, node) in self.nodes.iter().enumerate() {
            let shape = match node.shape {
                Shape::Scalar => "scalar",
                Shape::Vector => "vector",
            };
            let ops = node
                .op
                .operands()
                .iter()
                .map(|o| format!("%{o}"))
                .collect::<Vec<_>>()
                .join(", ");
            let what = match &node.op {
                Op::Const(v) => format_number(*v),
                Op::Param(p) => format!("param {}", self.params[*p].name),
                Op::Sample(s) => self.sample_text(*s),
                Op::Builtin(b) => b.text(),
                Op::Unary(UnOp::Neg, _) => format!("neg {ops}"),
                Op::Unary(UnOp::Not, _) => format!("not {ops}"),
                Op::Binary(op, _, _) => format!("{} {ops}", op.symbol()),
                Op::Call(func, _) => format!("{}({ops})", func.name()),
                Op::Reduce(red, ..) => format!("{}({ops})", red.name()),
                Op::Select(..) => format!("select {ops}"),
            };
            let root = match self.roots.iter().position(|&r| r == id) {
                Some(_) if self.roots.len() == 1 => "   <- result".to_string(),
                Some(k) => format!("   <- result {k}"),
                None => String::new(),
            };
            writeln!(f, "%{id:<3} {shape:6} = {what}{root}")?;
        }
        Ok(())
    }
}
