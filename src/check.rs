//! Syntax tree → checked IR: resolves names, checks arity and scalar/vector types, rejects what
//! cannot run, and interns identical subexpressions into one DAG node.

use crate::error::{Error, ExprError, Span};
use crate::footprint::Footprint;
use crate::ir::{
    At, Builtin, Func, Node, NodeId, Op, ParamDecl, Plane, Program, Reduction, Sample, Shape,
    Stage, AXES, MAIN,
};
use crate::limits::{Limit, Limits};
use crate::regions::{self, Over};
use crate::syntax::{self, Ast, BinOp, Expr, ExprKind, Stmt};
use std::collections::HashMap;

/// Parses and checks kernel source text within `limits`, for a program that may also read the
/// named `inputs` besides `w`. Recursive, as [`syntax::parse`] is.
pub fn compile_program(src: &str, inputs: &[&str], limits: &Limits) -> Result<Program, ExprError> {
    let ast = syntax::parse(src, limits)?;
    check(src, &ast, inputs, limits)
}

/// The largest offset `at()` accepts along an axis.
pub const MAX_OFFSET: i64 = 4096;

#[derive(Clone, Copy)]
enum Binding {
    Node(NodeId),
}

struct Checker<'a> {
    limits: &'a Limits,
    nodes: Vec<Node>,
    interned: HashMap<String, NodeId>,
    scope: HashMap<String, Binding>,
    later: HashMap<String, Span>,
    params: Vec<ParamDecl>,
    /// The named inputs the program may read besides `w`.
    declared: &'a [&'a str],
    planes: Vec<Plane>,
    /// The stages defined so far, and their results per pixel.
    stages: Vec<Stage>,
    /// The footprints `over` names (footprint `i` is `footprints[i - 1]`), and the one of the
    /// region being checked (0: the command's).
    footprints: Vec<Footprint>,
    over: Over,
    /// Reductions checked so far in the innermost `over` region (to find one that sets no
    /// footprint).
    reductions_seen: usize,
    /// Whether the program has any `over`.
    overs: bool,
}

/// Checks a parsed program that may read the named `inputs` besides `w` (statement and node
/// limits from `limits`).
pub fn check(src: &str, ast: &Ast, inputs: &[&str], limits: &Limits) -> Result<Program, ExprError> {
    if ast.stmts.len() > limits.max_statements {
        return Err(ExprError::Limit {
            span: Span::new(0, src.len()),
            error: Limit::Statements.exceeded(limits, format!("{} statements", ast.stmts.len())),
        });
    }
    let mut ck = Checker {
        limits,
        nodes: Vec::new(),
        interned: HashMap::new(),
        scope: HashMap::new(),
        later: HashMap::new(),
        params: Vec::new(),
        declared: inputs,
        stages: Vec::new(),
        footprints: Vec::new(),
        over: 0,
        reductions_seen: 0,
        overs: ast.stmts.iter().any(|s| match s {
            Stmt::Let { value, .. } | Stmt::Stage { value, .. } => has_over(value),
            Stmt::Param { .. } => false,
        }) || has_over(&ast.body),
        planes: vec![Plane {
            name: MAIN.into(),
            channel: None,
            span: Span::default(),
        }],
    };
    for stmt in &ast.stmts {
        let (name, span) = match stmt {
            Stmt::Param {
                name, name_span, ..
            }
            | Stmt::Let {
                name, name_span, ..
            }
            | Stmt::Stage {
                name, name_span, ..
            } => (name, *name_span),
        };
        ck.later.entry(name.clone()).or_insert(span);
    }
    for stmt in &ast.stmts {
        match stmt {
            Stmt::Param {
                name,
                name_span,
                default,
                range,
            } => {
                ck.define_check(name, *name_span, false)?;
                let range = match *range {
                    Some((lo, hi, span)) => Some(param_range(*default, lo, hi, span)?),
                    None => None,
                };
                let idx = ck.params.len();
                ck.params.push(ParamDecl {
                    name: name.clone(),
                    default: *default,
                    range,
                    span: *name_span,
                });
                let id = ck.intern(Op::Param(idx), Shape::Scalar, *name_span)?;
                ck.scope.insert(name.clone(), Binding::Node(id));
            }
            Stmt::Let {
                name,
                name_span,
                value,
            } => {
                ck.define_check(name, *name_span, false)?;
                let id = ck.expr(value)?;
                ck.scope.insert(name.clone(), Binding::Node(id));
            }
            Stmt::Stage {
                name,
                name_span,
                value,
            } => {
                ck.define_check(name, *name_span, true)?;
                let program = ck.program(src, value)?;
                ck.split(program);
                let program = ck.stages.pop().expect("split pushes the program").program;
                ck.stages.push(Stage {
                    name: name.clone(),
                    span: *name_span,
                    program,
                });
            }
        }
    }
    let program = ck.program(src, &ast.body)?;
    ck.split(program);
    let mut program = ck.stages.pop().expect("split pushes the program").program;
    if let Some(stage) = ck.stages.get(limits.max_stages) {
        return Err(ExprError::Limit {
            span: stage.span,
            error: Limit::Stages.exceeded(
                limits,
                format!(
                    "{} stages (`stage` statements and reductions `over` another footprint)",
                    ck.stages.len()
                ),
            ),
        });
    }
    program.stages = ck.stages;
    Ok(program)
}

/// The keywords of the language (grammar/kernel.pest's `keyword`).
pub const KEYWORDS: [&str; 10] = [
    "let", "param", "stage", "over", "if", "then", "else", "and", "or", "not",
];

/// Whether `name` is spelled as a name of the language: letters, digits and `_`, not starting
/// with a digit.
pub fn is_identifier(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Every name a user can write, for suggestions and completion.
pub fn known_names() -> Vec<&'static str> {
    let mut v: Vec<&str> = vec![MAIN, "c"];
    v.extend(Builtin::ALL.iter().map(|b| b.name()));
    v.extend(["pi", "e", "inf", "nan"]);
    v
}

/// Every function a user can call, for suggestions and completion.
pub fn known_functions() -> Vec<&'static str> {
    let mut v: Vec<&str> = Func::ALL.iter().map(|f| f.name()).collect();
    v.extend(Reduction::ALL.iter().map(|r| r.name()));
    v.extend(["log", "at", "pos", "d"]);
    v.sort();
    v.dedup();
    v
}

impl Checker<'_> {
    /// Whether `name` may be defined here. A stage may take a constant's name (`stage e = …`
    /// hides Euler's number from the statements after it), as images are named with letters.
    fn define_check(&self, name: &str, span: Span, stage: bool) -> Result<(), ExprError> {
        let constant = syntax::constant(name).is_some();
        let known = known_names().contains(&name) || constant;
        if (known && !(stage && constant))
            || self.declared.contains(&name)
            || Builtin::from_name(name).is_some()
        {
            return Err(ExprError::Rebind {
                span,
                name: name.into(),
            });
        }
        // `pos(j)` and `d(j)` take only a number: a variable `d` (a common name) cannot be
        // mistaken for them.
        if known_functions().contains(&name) && !matches!(name, "pos" | "d") {
            return Err(ExprError::Type {
                span,
                message: format!("`{name}` is a function name and cannot be used for a variable"),
                hint: Some("choose another name".into()),
            });
        }
        if self.scope.contains_key(name) || self.stages.iter().any(|s| s.name == name) {
            return Err(ExprError::Redefined {
                span,
                name: name.into(),
            });
        }
        Ok(())
    }

    /// Splits `program` by footprint ([`regions::split`]): its stages, then the program itself
    /// (as a stage without a name, for the caller to take back).
    fn split(&mut self, program: Program) {
        let taken: Vec<String> = self.stages.iter().map(|s| s.name.clone()).collect();
        let (stages, program) = regions::split(program, &self.footprints, &taken);
        self.stages.extend(stages);
        self.stages.push(Stage {
            name: String::new(),
            span: Span::default(),
            program,
        });
    }

    /// `EXPR over SPEC`: EXPR with SPEC the footprint of its reductions that have none.
    fn over(&mut self, e: &Expr, footprint: &Footprint, spec: Span) -> Result<NodeId, ExprError> {
        // Over the footprint limit in the fewest dimensions it can have: known now, with a caret
        // on the SPEC (the array's dimensions, known when applying, may add to a `box`).
        if let Err(Error::Limit(error)) =
            footprint.resolve(footprint.ndim().unwrap_or(1), self.limits)
        {
            return Err(ExprError::Limit { span: spec, error });
        }
        let index = match self.footprints.iter().position(|f| f == footprint) {
            Some(i) => i + 1,
            None => {
                self.footprints.push(footprint.clone());
                self.footprints.len()
            }
        };
        // Only the reductions this region sets count, not those of regions inside it.
        let (outer, seen) = (self.over, self.reductions_seen);
        (self.over, self.reductions_seen) = (index, 0);
        let id = self.expr(e);
        let mine = self.reductions_seen;
        (self.over, self.reductions_seen) = (outer, seen);
        let id = id?;
        if mine == 0 {
            return Err(ExprError::Type {
                span: spec,
                message: format!("`over {footprint}` sets the footprint of no reduction: none is written inside it without an `over` of its own"),
                hint: Some("put it right after a reduction, `mean(w) over box:3`, or bracket the expression it is for; a `let` keeps the footprint of where it is defined".into()),
            });
        }
        Ok(id)
    }

    fn intern(&mut self, op: Op, shape: Shape, span: Span) -> Result<NodeId, ExprError> {
        // Const bits in the key so that `nan` interns and `0.0`/`-0.0` stay apart.
        let key = match &op {
            Op::Const(v) => format!("const {}", v.to_bits()),
            other => format!("{other:?}"),
        };
        if let Some(&id) = self.interned.get(&key) {
            return Ok(id);
        }
        if self.nodes.len() >= self.limits.max_nodes {
            return Err(ExprError::Limit {
                span,
                error: Limit::Nodes.exceeded(
                    self.limits,
                    "too many distinct operations (after sharing common subexpressions)",
                ),
            });
        }
        self.nodes.push(Node { op, shape, span });
        let id = self.nodes.len() - 1;
        self.interned.insert(key, id);
        Ok(id)
    }

    fn shape_of(&self, ids: &[NodeId]) -> Shape {
        if ids.iter().any(|&i| self.nodes[i].shape == Shape::Vector) {
            Shape::Vector
        } else {
            Shape::Scalar
        }
    }

    fn expr(&mut self, e: &Expr) -> Result<NodeId, ExprError> {
        match &e.kind {
            ExprKind::Number(v) => self.intern(Op::Const(*v), Shape::Scalar, e.span),
            ExprKind::Name(name) => self.name(name, e.span),
            // `-1` is the constant -1, so that `kth(w, -1)` and `percentile(w, -5)` have a
            // constant second argument the planner can plan.
            ExprKind::Unary(crate::syntax::UnOp::Neg, a)
                if matches!(a.kind, ExprKind::Number(_)) =>
            {
                let ExprKind::Number(v) = a.kind else {
                    unreachable!("matched above")
                };
                self.intern(Op::Const(-v), Shape::Scalar, e.span)
            }
            ExprKind::Unary(op, a) => {
                let a = self.expr(a)?;
                let shape = self.shape_of(&[a]);
                self.intern(Op::Unary(*op, a), shape, e.span)
            }
            ExprKind::Binary(op, a, b) => {
                let a = self.expr(a)?;
                let b = self.expr(b)?;
                let shape = self.shape_of(&[a, b]);
                self.intern(Op::Binary(*op, a, b), shape, e.span)
            }
            ExprKind::If(c, a, b) => {
                let ids = [self.expr(c)?, self.expr(a)?, self.expr(b)?];
                let shape = self.shape_of(&ids);
                self.intern(Op::Select(ids[0], ids[1], ids[2]), shape, e.span)
            }
            ExprKind::Call {
                name,
                name_span,
                args,
            } if name == "at" => self.at(*name_span, args, e.span),
            ExprKind::Call {
                name,
                name_span,
                args,
            } if name == "pos" || name == "d" => self.axis_name(name, *name_span, args, e.span),
            ExprKind::Call {
                name,
                name_span,
                args,
            } => self.call(name, *name_span, args, e.span),
            ExprKind::Index(x, j) => {
                let (plane, at) = self.indexed(x, j)?;
                let s = Sample { input: plane, at };
                self.intern(Op::Sample(s), s.shape(), e.span)
            }
            ExprKind::Over(inner, footprint, spec) => self.over(inner, footprint, *spec),
            ExprKind::Tuple(_) => Err(ExprError::Type {
                span: e.span,
                message: "a tuple can only be the program's result".into(),
                hint: Some("write the tuple last, at the top level: `(mean(w), std(w))`".into()),
            }),
        }
    }

    /// The program whose results are `body`'s (each item of a tuple), over what is checked so far.
    fn program(&mut self, src: &str, body: &Expr) -> Result<Program, ExprError> {
        let results = match &body.kind {
            ExprKind::Tuple(items) => &items[..],
            _ => std::slice::from_ref(body),
        };
        let mut roots = Vec::new();
        for e in results {
            let root = self.expr(e)?;
            if self.nodes[root].shape == Shape::Vector {
                return Err(ExprError::VectorResult { span: e.span });
            }
            roots.push(root);
        }
        let program = Program {
            source: src.to_string(),
            nodes: self.nodes.clone(),
            roots,
            params: self.params.clone(),
            inputs: self.planes.clone(),
            stages: Vec::new(),
            footprint: None,
        };
        Ok(program.pruned())
    }

    /// Whether `name` is an input (`w`, a declared one, or a stage) rather than a `let`.
    fn is_input(&self, name: &str) -> bool {
        !self.scope.contains_key(name)
            && (name == MAIN
                || self.declared.contains(&name)
                || self.stages.iter().any(|s| s.name == name))
    }

    /// A stage of several results is read by channel (`s[0]`), never whole.
    fn whole_stage(&self, name: &str, span: Span) -> Result<(), ExprError> {
        match self.stages.iter().find(|s| s.name == name) {
            Some(stage) if stage.program.roots.len() > 1 => Err(ExprError::Type {
                span,
                message: format!(
                    "stage `{name}` has {} results per pixel: say which",
                    stage.program.roots.len()
                ),
                hint: Some(format!(
                    "`{name}[0]` … `{name}[{}]`",
                    stage.program.roots.len() - 1
                )),
            }),
            _ => Ok(()),
        }
    }

    /// The index of plane `name[channel]`, added on first use.
    fn plane(&mut self, name: &str, channel: Option<usize>, span: Span) -> usize {
        let found = (self.planes.iter()).position(|p| p.name == name && p.channel == channel);
        if let Some(i) = found {
            // `w` is there from the start: its first use is where the program names it.
            if self.planes[i].span == Span::default() {
                self.planes[i].span = span;
            }
        }
        found.unwrap_or_else(|| {
            self.planes.push(Plane {
                name: name.into(),
                channel,
                span,
            });
            self.planes.len() - 1
        })
    }

    /// `X[j]`: the plane of channel `j` of input `X` (`c[j]` is its value here).
    fn indexed(&mut self, x: &Expr, j: &Expr) -> Result<(usize, At), ExprError> {
        let name = match &x.kind {
            ExprKind::Name(n) if n == "c" && !self.scope.contains_key("c") => MAIN,
            ExprKind::Name(n) if self.is_input(n) => n.as_str(),
            _ => {
                return Err(ExprError::Type {
                    span: x.span,
                    message: "only inputs have channels to index".into(),
                    hint: Some("index `w`, `c` or a named input: `w[0]`, `c[1]`".into()),
                })
            }
        };
        let at = if matches!(&x.kind, ExprKind::Name(n) if n == "c") {
            At::Center
        } else {
            At::Window
        };
        let channel = match const_int(j) {
            Some(v) if (0..=1024).contains(&v) => v as usize,
            _ => {
                return Err(ExprError::Type {
                    span: j.span,
                    message: "a channel index must be a whole number from 0".into(),
                    hint: Some(format!(
                        "e.g. `{name}[0]`; `channels` is how many there are"
                    )),
                })
            }
        };
        let span = Span::new(x.span.start, j.span.end + 1);
        if let Some(stage) = self.stages.iter().find(|s| s.name == name) {
            let count = stage.program.roots.len();
            if channel >= count {
                return Err(ExprError::Type {
                    span,
                    message: format!(
                        "stage `{name}` has {count} result{} per pixel, so `{name}[{channel}]` is out of range",
                        if count == 1 { "" } else { "s" }
                    ),
                    hint: Some(format!("index from 0 to {}", count - 1)),
                });
            }
        }
        Ok((self.plane(name, Some(channel), span), at))
    }

    /// `pos(j)`, `d(j)`: the position and the offsets along axis `j`, a whole number literal
    /// (checked against the array's axes when it is known).
    fn axis_name(
        &mut self,
        name: &str,
        name_span: Span,
        args: &[Expr],
        span: Span,
    ) -> Result<NodeId, ExprError> {
        if args.len() != 1 {
            return Err(ExprError::Arity {
                span: name_span,
                name: name.into(),
                expected: "1".into(),
                got: args.len(),
            });
        }
        let half = (AXES / 2) as i64;
        let j = match const_int(&args[0]) {
            Some(v) if (-half..half).contains(&v) => v as i8,
            _ => {
                return Err(ExprError::Type {
                    span: args[0].span,
                    message: format!(
                        "`{name}` takes an axis number: a whole number from {} to {}",
                        -half,
                        half - 1
                    ),
                    hint: Some(format!(
                        "e.g. `{name}(0)` for the first axis, `{name}(-1)` for the last"
                    )),
                })
            }
        };
        let b = match name {
            "pos" => Builtin::Pos(j),
            _ => Builtin::D(j),
        };
        self.intern(Op::Builtin(b), b.shape(), span)
    }

    /// `at(X)`, `at(X, ox, oy)`, `at(X, ox, oy, oz)`: input `X` here or at a constant offset.
    fn at(&mut self, name_span: Span, args: &[Expr], span: Span) -> Result<NodeId, ExprError> {
        if !matches!(args.len(), 1 | 3 | 4) {
            return Err(ExprError::Arity {
                span: name_span,
                name: "at".into(),
                expected: "1, 3 or 4".into(),
                got: args.len(),
            });
        }
        let x = &args[0];
        let plane = match &x.kind {
            ExprKind::Name(n) if self.is_input(n) => {
                self.whole_stage(n, x.span)?;
                self.plane(n, None, x.span)
            }
            ExprKind::Index(a, j) if matches!(&a.kind, ExprKind::Name(n) if n != "c") => {
                self.indexed(a, j)?.0
            }
            _ => {
                return Err(ExprError::Type {
                    span: x.span,
                    message: "`at` reads an input: `w`, `w[j]` or a named input".into(),
                    hint: Some("e.g. `at(w, 1, 0)` is the value one column to the right".into()),
                })
            }
        };
        let mut offset = [0isize; 3];
        // ox, oy, oz: along the last, second-last and third-last axes.
        for (axis, arg) in args[1..].iter().enumerate() {
            match const_int(arg) {
                Some(v) if v.abs() <= MAX_OFFSET => offset[2 - axis] = v as isize,
                _ => {
                    return Err(ExprError::Type {
                        span: arg.span,
                        message: format!(
                            "an offset of `at` must be a whole number (at most {MAX_OFFSET} either way), known when the program is compiled"
                        ),
                        hint: Some("write a number, e.g. `at(w, 1, 0)`, `at(w, 0, -1)`".into()),
                    })
                }
            }
        }
        let at = if offset == [0; 3] {
            At::Center
        } else {
            At::Offset(offset)
        };
        let s = Sample { input: plane, at };
        self.intern(Op::Sample(s), s.shape(), span)
    }

    fn name(&mut self, name: &str, span: Span) -> Result<NodeId, ExprError> {
        if let Some(Binding::Node(id)) = self.scope.get(name) {
            return Ok(*id);
        }
        if name == "c" || self.is_input(name) {
            self.whole_stage(name, span)?;
            let plane = self.plane(if name == "c" { MAIN } else { name }, None, span);
            let at = if name == "c" { At::Center } else { At::Window };
            let s = Sample { input: plane, at };
            return self.intern(Op::Sample(s), s.shape(), span);
        }
        if let Some(b) = Builtin::from_name(name) {
            if b == Builtin::N && self.overs {
                // The size of the region's footprint (0: the command's), as a reduction over
                // it, `count(i + 1)`: a pass may run over another footprint than `n`'s.
                self.reductions_seen += 1;
                let i = self.intern(Op::Builtin(Builtin::I), Shape::Vector, span)?;
                let one = self.intern(Op::Const(1.0), Shape::Scalar, span)?;
                let cells = self.intern(Op::Binary(BinOp::Add, i, one), Shape::Vector, span)?;
                let op = Op::Reduce(Reduction::Count, cells, None, self.over);
                return self.intern(op, Shape::Scalar, span);
            }
            return self.intern(Op::Builtin(b), b.shape(), span);
        }
        if let Some(v) = syntax::constant(name) {
            return self.intern(Op::Const(v), Shape::Scalar, span);
        }
        if self.later.contains_key(name) {
            return Err(ExprError::UseBeforeDefinition {
                span,
                name: name.into(),
            });
        }
        if known_functions().contains(&name) {
            return Err(ExprError::Type {
                span,
                message: format!("`{name}` is a function"),
                hint: Some(match name {
                    "pos" | "d" => format!("call it with an axis number: `{name}(0)`"),
                    _ => format!("call it: `{name}(w)`"),
                }),
            });
        }
        let mut candidates: Vec<&str> = known_names();
        candidates.extend(self.declared.iter().copied());
        candidates.extend(self.scope.keys().map(String::as_str));
        Err(ExprError::UnknownName {
            span,
            name: name.into(),
            suggestion: closest(name, &candidates),
        })
    }

    fn call(
        &mut self,
        name: &str,
        name_span: Span,
        args: &[Expr],
        span: Span,
    ) -> Result<NodeId, ExprError> {
        let ids = args
            .iter()
            .map(|a| self.expr(a))
            .collect::<Result<Vec<_>, _>>()?;
        let arity = |expected: &str| ExprError::Arity {
            span: name_span,
            name: name.into(),
            expected: expected.into(),
            got: ids.len(),
        };
        // min/max: one argument reduces, two or more are elementwise.
        if (name == "min" || name == "max") && ids.len() >= 2 {
            let func = if name == "min" {
                Func::Min2
            } else {
                Func::Max2
            };
            let mut acc = ids[0];
            for &next in &ids[1..] {
                let shape = self.shape_of(&[acc, next]);
                acc = self.intern(Op::Call(func, vec![acc, next]), shape, span)?;
            }
            return Ok(acc);
        }
        if let Some(red) = Reduction::from_name(name) {
            let (lo, hi) = red.extra_args();
            if ids.len() < 1 + lo || ids.len() > 1 + hi {
                let expected = if lo == hi {
                    format!("{}", 1 + lo)
                } else {
                    format!("{} or {}", 1 + lo, 1 + hi)
                };
                return Err(arity(&expected));
            }
            if self.nodes[ids[0]].shape == Shape::Scalar {
                return Err(ExprError::Type {
                    span: args[0].span,
                    message: format!(
                        "`{name}` reduces a vector, but this is already one value per pixel"
                    ),
                    hint: Some(format!("pass something of the window, e.g. `{name}(w)`")),
                });
            }
            if let Some(&extra) = ids.get(1) {
                if self.nodes[extra].shape == Shape::Vector {
                    return Err(ExprError::Type {
                        span: args[1].span,
                        message: format!("the second argument of `{name}` must be one value per pixel, not a vector"),
                        hint: None,
                    });
                }
            }
            self.reductions_seen += 1;
            return self.intern(
                Op::Reduce(red, ids[0], ids.get(1).copied(), self.over),
                Shape::Scalar,
                span,
            );
        }
        if let Some(func) = Func::from_name(name) {
            if ids.len() != func.arity() {
                return Err(arity(&func.arity().to_string()));
            }
            let shape = self.shape_of(&ids);
            return self.intern(Op::Call(func, ids), shape, span);
        }
        Err(ExprError::UnknownFunction {
            span: name_span,
            name: name.into(),
            suggestion: closest(name, &known_functions()),
        })
    }
}

/// Whether `e` has an `over` anywhere.
fn has_over(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Over(..) => true,
        ExprKind::Number(_) | ExprKind::Name(_) => false,
        ExprKind::Unary(_, a) => has_over(a),
        ExprKind::Binary(_, a, b) | ExprKind::Index(a, b) => has_over(a) || has_over(b),
        ExprKind::If(c, a, b) => has_over(c) || has_over(a) || has_over(b),
        ExprKind::Call { args, .. } | ExprKind::Tuple(args) => args.iter().any(has_over),
    }
}

/// The value of a whole-number constant (`3`, `-1`), if `e` is one.
fn const_int(e: &Expr) -> Option<i64> {
    let v = match &e.kind {
        ExprKind::Number(v) => *v,
        ExprKind::Unary(crate::syntax::UnOp::Neg, a) => match a.kind {
            ExprKind::Number(v) => -v,
            _ => return None,
        },
        _ => return None,
    };
    (v.fract() == 0.0 && v.abs() < 1e15).then_some(v as i64)
}

/// The candidate nearest to `name` by edit distance, if it is near enough to be a likely typo.
/// Swapped neighbours count as one edit (`mxa` is one from `max`), as people type them.
pub fn closest(name: &str, candidates: &[&str]) -> Option<String> {
    candidates
        .iter()
        .map(|c| (strsim::osa_distance(name, c), *c))
        .filter(|(d, c)| *d <= 2.max(name.len() / 3) && *d < c.len().max(name.len()))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.to_string())
}

/// A param's declared range, checked: finite ends in order, the default inside.
fn param_range(default: f64, lo: f64, hi: f64, span: Span) -> Result<(f64, f64), ExprError> {
    let wrong = |message: String, hint: &str| ExprError::Type {
        span,
        message,
        hint: Some(hint.into()),
    };
    if !(lo.is_finite() && hi.is_finite() && lo < hi) {
        return Err(wrong(
            format!(
                "a param's range must be two finite numbers, the lower first, not {lo} .. {hi}"
            ),
            "e.g. `param k = 0.5 in 0 .. 1;`",
        ));
    }
    if !(lo..=hi).contains(&default) {
        return Err(wrong(
            format!("the param's value {default} is outside its range {lo} .. {hi}"),
            "give a value inside the range, or widen the range",
        ));
    }
    Ok((lo, hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile_program(src: &str) -> Result<Program, ExprError> {
        super::compile_program(src, &["g"], &Limits::default())
    }

    fn err(src: &str) -> ExprError {
        compile_program(src).unwrap_err()
    }

    #[test]
    fn suggestions() {
        match err("maxx(w)") {
            ExprError::UnknownFunction {
                suggestion, span, ..
            } => {
                assert_eq!(suggestion.as_deref(), Some("max"));
                assert_eq!(span, Span::new(0, 4));
            }
            e => panic!("{e:?}"),
        }
        // Swapped letters are one edit.
        for (typo, want) in [
            ("mxa(w)", "max"),
            ("amx(w)", "max"),
            ("meidan(w)", "median"),
            ("meen(w)", "mean"),
        ] {
            match err(typo) {
                ExprError::UnknownFunction { suggestion, .. } => {
                    assert_eq!(suggestion.as_deref(), Some(want), "{typo}")
                }
                e => panic!("{e:?}"),
            }
        }
        match err("max(ww)") {
            ExprError::UnknownName { suggestion, .. } => {
                assert_eq!(suggestion.as_deref(), Some("w"))
            }
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn param_ranges_are_checked() {
        let p = compile_program("param t = 2 in 1 .. 3; c * t").unwrap();
        assert_eq!(p.params[0].range, Some((1.0, 3.0)));
        for (src, says) in [
            ("param t = 5 in 1 .. 3; c * t", "outside its range"),
            ("param t = 2 in 3 .. 1; c * t", "the lower first"),
            ("param t = 2 in 2 .. 2; c * t", "the lower first"),
            ("param t = 2 in -inf .. 3; c * t", "finite"),
        ] {
            let e = err(src);
            assert!(e.to_string().contains(says), "{src}: {e}");
            // The caret is on the range.
            let span = e.span();
            assert!(
                src[span.start..span.end].starts_with("in "),
                "{src}: {span:?}"
            );
        }
    }

    #[test]
    fn type_errors() {
        assert!(matches!(err("w + 1"), ExprError::VectorResult { .. }));
        assert!(matches!(err("sum(c)"), ExprError::Type { .. }));
        assert!(matches!(err("percentile(w)"), ExprError::Arity { .. }));
        assert!(matches!(err("sqrt(w, 2)"), ExprError::Arity { .. }));
        assert!(matches!(err("let w = 1; w"), ExprError::Rebind { .. }));
        assert!(matches!(
            err("let a = b; let b = 1; a"),
            ExprError::UseBeforeDefinition { .. }
        ));
        assert!(matches!(
            err("let a = 1; let a = 2; a"),
            ExprError::Redefined { .. }
        ));
        assert!(matches!(err("percentile(w, w)"), ExprError::Type { .. }));
    }

    #[test]
    fn shared_subexpressions_are_one_node() {
        let p = compile_program("let m = mean(w); (c - mean(w)) / (m + 1)").unwrap();
        let means = p
            .nodes
            .iter()
            .filter(|n| matches!(n.op, Op::Reduce(Reduction::Mean, ..)))
            .count();
        assert_eq!(means, 1);
        assert_eq!(p.nodes[p.roots[0]].shape, Shape::Scalar);
    }

    #[test]
    fn inputs_channels_offsets_and_tuples() {
        let p = compile_program("(max(w[0]) - c[2] + at(g, 1, -2), at(w), sum(g * w))").unwrap();
        assert_eq!(p.roots.len(), 3);
        let planes: Vec<String> = p.inputs.iter().map(|p| p.to_string()).collect();
        assert_eq!(planes, ["w", "w[0]", "w[2]", "g"]);
        assert!(p.indexes_channels());
        assert_eq!(p.points(), [[0, -2, 1]]);
        // at(w) is c, shared.
        let c = compile_program("at(w) + c").unwrap();
        assert_eq!(
            c.nodes
                .iter()
                .filter(|n| n.op == Op::Sample(Sample::C))
                .count(),
            1
        );
        assert_eq!(c.names_used(), ["c"]);
        assert!(matches!(err("sum((w, w))"), ExprError::Type { .. }));
        assert!(matches!(err("at(w, x, 0)"), ExprError::Type { .. }));
        assert!(matches!(err("at(w, 1)"), ExprError::Arity { .. }));
        assert!(matches!(err("n[0]"), ExprError::Type { .. }));
        assert!(matches!(err("w[0.5] + 1"), ExprError::Type { .. }));
        assert!(matches!(err("let g = 1; g"), ExprError::Rebind { .. }));
        match err("max(gg)") {
            ExprError::UnknownName { suggestion, .. } => {
                assert_eq!(suggestion.as_deref(), Some("g"))
            }
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn stages_are_programs_of_their_own() {
        let p = compile_program(
            "stage e = min(w); stage t = (max(e), at(e)); at(e) + at(t[1]) - max(t[0])",
        )
        .unwrap();
        assert_eq!(p.stages.len(), 2);
        assert_eq!(p.stages[0].name, "e");
        assert_eq!(p.stages[1].program.roots.len(), 2);
        let planes: Vec<String> = p.inputs.iter().map(|p| p.to_string()).collect();
        assert_eq!(planes, ["w", "e", "t[1]", "t[0]"]);
        // `e` after the stage is the stage, not Euler's number.
        assert!(matches!(p.nodes[p.roots[0]].op, Op::Binary(..)));
        assert!(matches!(
            err("stage t = (c, c); max(t)"),
            ExprError::Type { .. }
        ));
        assert!(matches!(
            err("stage t = c; max(t[1])"),
            ExprError::Type { .. }
        ));
        assert!(matches!(
            err("let a = max(s); stage s = c; a"),
            ExprError::UseBeforeDefinition { .. }
        ));
        assert!(matches!(err("stage w = c; 1"), ExprError::Rebind { .. }));
        assert!(matches!(err("stage g = c; 1"), ExprError::Rebind { .. }));
        assert!(matches!(
            err("stage s = c; stage s = c; 1"),
            ExprError::Redefined { .. }
        ));
        assert!(matches!(err("let e = 1; e"), ExprError::Rebind { .. }));
    }

    #[test]
    fn min_max_arity_selects_meaning() {
        let p = compile_program("max(max(w, 0)) + max(c, 1, 2)").unwrap();
        let elementwise = p
            .nodes
            .iter()
            .filter(|n| matches!(n.op, Op::Call(Func::Max2, _)))
            .count();
        assert_eq!(elementwise, 3);
        assert!(p
            .nodes
            .iter()
            .any(|n| matches!(n.op, Op::Reduce(Reduction::Max, ..))));
    }
}
