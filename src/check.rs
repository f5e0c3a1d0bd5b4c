//! Syntax tree → checked IR: resolves names, checks arity and scalar/vector types, rejects what
//! cannot run, and interns identical subexpressions into one DAG node.

use crate::error::{ExprError, Span};
use crate::ir::{Builtin, Func, Node, NodeId, Op, ParamDecl, Program, Reduction, Sample, Shape};
use crate::limits::{Limit, Limits};
use crate::syntax::{self, Ast, Expr, ExprKind, Stmt};
use std::collections::HashMap;

/// Parses and checks kernel source text within `limits`. Recursive, as [`syntax::parse`] is.
pub fn compile_program(src: &str, limits: &Limits) -> Result<Program, ExprError> {
    let ast = syntax::parse(src, limits)?;
    check(src, &ast, limits)
}

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
}

/// Checks a parsed program (statement and node limits from `limits`).
pub fn check(src: &str, ast: &Ast, limits: &Limits) -> Result<Program, ExprError> {
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
    };
    for stmt in &ast.stmts {
        let (name, span) = match stmt {
            Stmt::Param {
                name, name_span, ..
            }
            | Stmt::Let {
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
            } => {
                ck.define_check(name, *name_span)?;
                let idx = ck.params.len();
                ck.params.push(ParamDecl {
                    name: name.clone(),
                    default: *default,
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
                ck.define_check(name, *name_span)?;
                let id = ck.expr(value)?;
                ck.scope.insert(name.clone(), Binding::Node(id));
            }
        }
    }
    let root = ck.expr(&ast.body)?;
    if ck.nodes[root].shape == Shape::Vector {
        return Err(ExprError::VectorResult {
            span: ast.body.span,
        });
    }
    let program = Program {
        source: src.to_string(),
        nodes: ck.nodes,
        root,
        params: ck.params,
    };
    Ok(program.pruned())
}

/// Every name a user can write, for suggestions and completion.
pub fn known_names() -> Vec<&'static str> {
    let mut v: Vec<&str> = vec![Sample::W.name(), Sample::C.name()];
    v.extend(Builtin::ALL.iter().map(|b| b.name()));
    v.extend(["pi", "e", "inf", "nan"]);
    v
}

/// Every function a user can call, for suggestions and completion.
pub fn known_functions() -> Vec<&'static str> {
    let mut v: Vec<&str> = Func::ALL.iter().map(|f| f.name()).collect();
    v.extend(Reduction::ALL.iter().map(|r| r.name()));
    v.push("log");
    v.sort();
    v.dedup();
    v
}

impl Checker<'_> {
    fn define_check(&self, name: &str, span: Span) -> Result<(), ExprError> {
        if Sample::from_name(name).is_some()
            || Builtin::from_name(name).is_some()
            || syntax::constant(name).is_some()
        {
            return Err(ExprError::Rebind {
                span,
                name: name.into(),
            });
        }
        if known_functions().contains(&name) {
            return Err(ExprError::Type {
                span,
                message: format!("`{name}` is a function name and cannot be used for a variable"),
                hint: Some("choose another name".into()),
            });
        }
        if self.scope.contains_key(name) {
            return Err(ExprError::Redefined {
                span,
                name: name.into(),
            });
        }
        Ok(())
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
            } => self.call(name, *name_span, args, e.span),
        }
    }

    fn name(&mut self, name: &str, span: Span) -> Result<NodeId, ExprError> {
        if let Some(Binding::Node(id)) = self.scope.get(name) {
            return Ok(*id);
        }
        if let Some(s) = Sample::from_name(name) {
            return self.intern(Op::Sample(s), s.shape(), span);
        }
        if let Some(b) = Builtin::from_name(name) {
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
                hint: Some(format!("call it: `{name}(w)`")),
            });
        }
        let mut candidates: Vec<&str> = known_names();
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
            return self.intern(
                Op::Reduce(red, ids[0], ids.get(1).copied()),
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

/// The candidate nearest to `name` by edit distance, if it is near enough to be a likely typo.
pub fn closest(name: &str, candidates: &[&str]) -> Option<String> {
    candidates
        .iter()
        .map(|c| (edit_distance(name, c), *c))
        .filter(|(d, c)| *d <= 2.max(name.len() / 3) && *d < c.len().max(name.len()))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.to_string())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push(
                (prev[j] + usize::from(ca != *cb))
                    .min(prev[j + 1] + 1)
                    .min(cur[j] + 1),
            );
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile_program(src: &str) -> Result<Program, ExprError> {
        super::compile_program(src, &Limits::default())
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
        match err("max(ww)") {
            ExprError::UnknownName { suggestion, .. } => {
                assert_eq!(suggestion.as_deref(), Some("w"))
            }
            e => panic!("{e:?}"),
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
        assert_eq!(p.nodes[p.root].shape, Shape::Scalar);
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
