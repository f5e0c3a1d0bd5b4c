//! Source text → syntax tree. The grammar lives in `grammar/kernel.pest`; this module turns pest's
//! flat operator lists into a tree (applying associativity) and pest's errors into [`ExprError`]s.

use crate::error::{Error, ExprError, Span};
use crate::footprint::Footprint;
use crate::limits::{Limit, Limits};
use crate::stack::Depth;
use pest::iterators::Pair;
use pest::Parser;

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/kernel.pest"]
struct KernelParser;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnOp {
    Neg,
    Not,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Or => "or",
            BinOp::And => "and",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Mod => "%",
            BinOp::Pow => "^",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Number(f64),
    Name(String),
    Unary(UnOp, Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    Call {
        name: String,
        name_span: Span,
        args: Vec<Expr>,
    },
    If(Box<Expr>, Box<Expr>, Box<Expr>),
    /// `NAME[j]`: channel `j` of an input.
    Index(Box<Expr>, Box<Expr>),
    /// `(e1, e2, ...)`: several outputs (only as the program's result).
    Tuple(Vec<Expr>),
    /// `EXPR over SPEC`: the footprint of the reductions inside EXPR without one of their own;
    /// the span is SPEC's.
    Over(Box<Expr>, Footprint, Span),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Stmt {
    /// `param NAME = number;` — a value that can change at apply time without recompiling;
    /// `param NAME = number in LO .. HI;` also bounds the values it may take (span: the range).
    Param {
        name: String,
        name_span: Span,
        default: f64,
        range: Option<(f64, f64, Span)>,
    },
    /// `let NAME = expr;`
    Let {
        name: String,
        name_span: Span,
        value: Expr,
    },
    /// `stage NAME = expr;`: an image of `expr` at every position.
    Stage {
        name: String,
        name_span: Span,
        value: Expr,
    },
}

/// A parsed program: statements, then the final expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Ast {
    pub stmts: Vec<Stmt>,
    pub body: Expr,
}

/// Parses kernel source text into a syntax tree, within `limits`' text size, nesting and
/// operators. pest recurses per level of nesting, and so do the stages after it per level of
/// the tree. [`crate::Kernel::compile_with`] runs them on a thread with stack for the program
/// (`src/stack.rs`); a direct caller needs a stack to match (docs/limits.md).
pub fn parse(src: &str, limits: &Limits) -> Result<Ast, ExprError> {
    measure(src, limits)?;
    let mut pairs = KernelParser::parse(Rule::program, src).map_err(|e| syntax_error(src, e))?;
    let program = pairs.next().expect("program rule always yields one pair");
    let mut stmts = Vec::new();
    let mut body = None;
    for pair in program.into_inner() {
        match pair.as_rule() {
            Rule::param_stmt => stmts.push(build_param(pair)?),
            Rule::let_stmt | Rule::stage_stmt => {
                let stage = pair.as_rule() == Rule::stage_stmt;
                let mut inner = pair.into_inner();
                let name = inner.next().unwrap();
                let (name, name_span) = (name.as_str().to_string(), span_of(&name));
                let value = build_expr(inner.next().unwrap())?;
                stmts.push(if stage {
                    Stmt::Stage {
                        name,
                        name_span,
                        value,
                    }
                } else {
                    Stmt::Let {
                        name,
                        name_span,
                        value,
                    }
                });
            }
            Rule::expr => body = Some(build_expr(pair)?),
            _ => {}
        }
    }
    Ok(Ast {
        stmts,
        body: body.expect("grammar requires a final expression"),
    })
}

/// Checks the text against `limits`' size, nesting and operators before anything recurses over
/// it, and returns how deep parsing it will recurse.
pub(crate) fn measure(src: &str, limits: &Limits) -> Result<Depth, ExprError> {
    let over = |span, limit: Limit, what: String| {
        Err(ExprError::Limit {
            span,
            error: limit.exceeded(limits, what),
        })
    };
    if src.len() > limits.max_source_bytes {
        let span = Span::new(limits.max_source_bytes, src.len());
        return over(
            span,
            Limit::SourceBytes,
            format!("program is {} bytes long", src.len()),
        );
    }
    // Every level of nesting in the grammar (brackets, `^`, `if`) costs pest stack frames; count
    // them all conservatively before pest recurses.
    let mut depth = 0usize;
    let mut deepest = 0usize;
    let mut first_over = None;
    for (pos, ch) in src.char_indices() {
        match ch {
            '(' | '[' | '^' => depth += 1,
            ')' | ']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        deepest = deepest.max(depth);
        if deepest > limits.max_nesting && first_over.is_none() {
            first_over = Some(pos);
        }
    }
    if let Some(pos) = first_over {
        return over(
            Span::new(pos, pos + 1),
            Limit::Nesting,
            format!("expression nests deeper than allowed: {deepest} levels of brackets and `^`"),
        );
    }
    // Per statement, so long programs of short statements stay fine.
    let mut start = 0;
    let mut most_operators = 0;
    for stmt in src.split(';') {
        let operators = count_operators(stmt);
        most_operators = most_operators.max(operators);
        if operators > limits.max_operators {
            return over(
                Span::new(start, start + stmt.len()),
                Limit::Operators,
                format!("{operators} operators in one statement"),
            );
        }
        start += stmt.len() + 1;
    }
    let ifs: Vec<usize> = src
        .match_indices("if")
        .map(|(pos, _)| pos)
        .filter(|&pos| is_word_at(src, pos, 2))
        .collect();
    if let Some(&pos) = ifs.get(limits.max_nesting) {
        return over(
            Span::new(pos, pos + 2),
            Limit::Nesting,
            format!(
                "{} `if` expressions (each counts as a level of nesting)",
                ifs.len()
            ),
        );
    }
    Ok(Depth {
        levels: deepest.max(ifs.len()),
        operators: most_operators,
        nodes: 0,
    })
}

/// Operators in a piece of source (the `=` of `let`/`param` is not one).
fn count_operators(text: &str) -> usize {
    let bytes = text.as_bytes();
    let mut n = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' | b'-' | b'*' | b'/' | b'%' | b'^' => n += 1,
            b'<' | b'>' | b'!' | b'=' if bytes.get(i + 1) == Some(&b'=') => {
                n += 1;
                i += 1;
            }
            b'<' | b'>' | b'!' => n += 1,
            _ => {}
        }
        i += 1;
    }
    let words = text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'));
    n + words.filter(|w| matches!(*w, "and" | "or" | "not")).count()
}

fn is_word_at(src: &str, pos: usize, len: usize) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    !src[..pos].ends_with(word) && !src[pos + len..].starts_with(word)
}

fn span_of(pair: &Pair<Rule>) -> Span {
    let s = pair.as_span();
    Span::new(s.start(), s.end())
}

fn build_param(pair: Pair<Rule>) -> Result<Stmt, ExprError> {
    let mut inner = pair.into_inner();
    let name = inner.next().unwrap();
    let default = signed_number(inner.next().unwrap())?;
    let range = match inner.next() {
        Some(range) => {
            let span = span_of(&range);
            let mut ends = range.into_inner().skip(1).map(signed_number);
            let (lo, hi) = (ends.next().unwrap()?, ends.next().unwrap()?);
            Some((lo, hi, span))
        }
        None => None,
    };
    Ok(Stmt::Param {
        name: name.as_str().to_string(),
        name_span: span_of(&name),
        default,
        range,
    })
}

/// A param's number: a literal or a named constant, maybe negated.
fn signed_number(value: Pair<Rule>) -> Result<f64, ExprError> {
    let value_span = span_of(&value);
    let mut negate = false;
    let mut number = None;
    for p in value.into_inner() {
        match p.as_rule() {
            Rule::op_neg => negate = true,
            Rule::number => number = Some(parse_number(&p)?),
            Rule::ident => {
                number = Some(constant(p.as_str()).ok_or_else(|| ExprError::Syntax {
                    span: span_of(&p),
                    message: format!("`{}` is not a number", p.as_str()),
                    hint: Some(
                        "a param's default and range must be numbers or pi, e, inf, nan".into(),
                    ),
                })?)
            }
            _ => {}
        }
    }
    let v = number.ok_or_else(|| ExprError::Syntax {
        span: value_span,
        message: "expected a number".into(),
        hint: None,
    })?;
    Ok(if negate { -v } else { v })
}

/// The named constants of the language.
pub fn constant(name: &str) -> Option<f64> {
    Some(match name {
        "pi" => std::f64::consts::PI,
        "e" => std::f64::consts::E,
        "inf" => f64::INFINITY,
        "nan" => f64::NAN,
        _ => return None,
    })
}

fn parse_number(pair: &Pair<Rule>) -> Result<f64, ExprError> {
    pair.as_str().parse::<f64>().map_err(|e| ExprError::Syntax {
        span: span_of(pair),
        message: format!("bad number: {e}"),
        hint: None,
    })
}

fn build_expr(pair: Pair<Rule>) -> Result<Expr, ExprError> {
    let span = span_of(&pair);
    match pair.as_rule() {
        Rule::expr => build_expr(pair.into_inner().next().unwrap()),
        Rule::if_expr => {
            let mut it = pair.into_inner();
            let c = build_expr(it.next().unwrap())?;
            let a = build_expr(it.next().unwrap())?;
            let b = build_expr(it.next().unwrap())?;
            Ok(Expr {
                kind: ExprKind::If(Box::new(c), Box::new(a), Box::new(b)),
                span,
            })
        }
        Rule::or_expr | Rule::and_expr | Rule::add_expr | Rule::mul_expr => left_assoc(pair),
        Rule::cmp_expr => {
            let mut it = pair.into_inner();
            let lhs = build_expr(it.next().unwrap())?;
            let Some(op) = it.next() else { return Ok(lhs) };
            let rhs = build_expr(it.next().unwrap())?;
            if let Some(extra) = it.next() {
                return Err(ExprError::Syntax {
                    span: span_of(&extra),
                    message: "comparisons do not chain".into(),
                    hint: Some("write `(a < b) and (b < c)` instead of `a < b < c`".into()),
                });
            }
            Ok(binary(bin_op(op.as_str()), lhs, rhs))
        }
        Rule::not_expr | Rule::unary => {
            let mut ops = Vec::new();
            let mut operand = None;
            for p in pair.into_inner() {
                match p.as_rule() {
                    Rule::op_not => ops.push((UnOp::Not, span_of(&p))),
                    Rule::op_neg => ops.push((UnOp::Neg, span_of(&p))),
                    _ => operand = Some(build_expr(p)?),
                }
            }
            let mut e = operand.unwrap();
            for (op, s) in ops.into_iter().rev() {
                let span = Span::new(s.start, e.span.end);
                e = Expr {
                    kind: ExprKind::Unary(op, Box::new(e)),
                    span,
                };
            }
            Ok(e)
        }
        Rule::over_expr => {
            let mut it = pair.into_inner();
            let inner = build_expr(it.next().unwrap())?;
            let Some(spec) = it.nth(1) else {
                return Ok(inner);
            };
            let spec_span = span_of(&spec);
            let footprint = spec.as_str().parse::<Footprint>().map_err(|e| ExprError::Syntax {
                span: spec_span,
                message: match e {
                    Error::Footprint(why) => format!("bad footprint after `over`: {why}"),
                    other => other.to_string(),
                },
                hint: Some("write a footprint as `-f` takes it: box:N, rect:WxH, disk:R, diamond:R, ball:R, gauss:S".into()),
            })?;
            Ok(Expr {
                kind: ExprKind::Over(Box::new(inner), footprint, spec_span),
                span,
            })
        }
        Rule::power => {
            let mut it = pair.into_inner();
            let base = build_expr(it.next().unwrap())?;
            match (it.next(), it.next()) {
                (Some(_op), Some(exp)) => Ok(binary(BinOp::Pow, base, build_expr(exp)?)),
                _ => Ok(base),
            }
        }
        Rule::call => {
            let mut it = pair.into_inner();
            let name = it.next().unwrap();
            let args = it.map(build_expr).collect::<Result<Vec<_>, _>>()?;
            Ok(Expr {
                kind: ExprKind::Call {
                    name: name.as_str().to_string(),
                    name_span: span_of(&name),
                    args,
                },
                span,
            })
        }
        Rule::indexed => {
            let mut it = pair.into_inner();
            let name = build_expr(it.next().unwrap())?;
            let index = build_expr(it.next().unwrap())?;
            Ok(Expr {
                kind: ExprKind::Index(Box::new(name), Box::new(index)),
                span,
            })
        }
        Rule::paren => {
            let mut items = pair
                .into_inner()
                .map(build_expr)
                .collect::<Result<Vec<_>, _>>()?;
            if items.len() == 1 {
                return Ok(items.pop().expect("one item"));
            }
            Ok(Expr {
                kind: ExprKind::Tuple(items),
                span,
            })
        }
        Rule::ident => Ok(Expr {
            kind: ExprKind::Name(pair.as_str().to_string()),
            span,
        }),
        Rule::number => Ok(Expr {
            kind: ExprKind::Number(parse_number(&pair)?),
            span,
        }),
        r => unreachable!("rule {r:?} is not an expression"),
    }
}

fn left_assoc(pair: Pair<Rule>) -> Result<Expr, ExprError> {
    let mut it = pair.into_inner();
    let mut lhs = build_expr(it.next().unwrap())?;
    while let Some(op) = it.next() {
        let rhs = build_expr(it.next().unwrap())?;
        lhs = binary(bin_op(op.as_str()), lhs, rhs);
    }
    Ok(lhs)
}

fn binary(op: BinOp, lhs: Expr, rhs: Expr) -> Expr {
    let span = Span::new(lhs.span.start, rhs.span.end);
    Expr {
        kind: ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)),
        span,
    }
}

fn bin_op(s: &str) -> BinOp {
    match s {
        "or" => BinOp::Or,
        "and" => BinOp::And,
        "==" => BinOp::Eq,
        "!=" => BinOp::Ne,
        "<" => BinOp::Lt,
        "<=" => BinOp::Le,
        ">" => BinOp::Gt,
        ">=" => BinOp::Ge,
        "+" => BinOp::Add,
        "-" => BinOp::Sub,
        "*" => BinOp::Mul,
        "/" => BinOp::Div,
        "%" => BinOp::Mod,
        "^" => BinOp::Pow,
        other => unreachable!("grammar produced operator {other:?}"),
    }
}

fn syntax_error(src: &str, e: pest::error::Error<Rule>) -> ExprError {
    use pest::error::{ErrorVariant, InputLocation};
    let pos = match e.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let end = (pos + src[pos..].chars().next().map_or(0, char::len_utf8)).max(pos);
    let (message, hint) = match &e.variant {
        ErrorVariant::ParsingError { positives, .. } => describe_expected(src, pos, positives),
        ErrorVariant::CustomError { message } => (message.clone(), None),
    };
    ExprError::Syntax {
        span: Span::new(pos, end),
        message,
        hint,
    }
}

fn describe_expected(src: &str, pos: usize, positives: &[Rule]) -> (String, Option<String>) {
    let found = match src[pos..].chars().next() {
        None => "the end of the expression".to_string(),
        Some(c) => format!("`{c}`"),
    };
    let wants_operand = positives.iter().any(|r| {
        matches!(
            r,
            Rule::expr
                | Rule::number
                | Rule::ident
                | Rule::call
                | Rule::indexed
                | Rule::paren
                | Rule::if_expr
                | Rule::signed_number
                | Rule::unary
                | Rule::not_expr
                | Rule::op_neg
                | Rule::op_not
        )
    });
    let open = src[..pos]
        .matches('(')
        .count()
        .saturating_sub(src[..pos].matches(')').count());
    if positives.contains(&Rule::kw_in) {
        return (
            format!("expected `;` after the param's value, found {found}"),
            Some("e.g. `param k = 0.5;`, or with a range: `param k = 0.5 in 0 .. 1;`".into()),
        );
    }
    if positives.contains(&Rule::spec) {
        return (
            format!("expected a footprint after `over`, found {found}"),
            Some(
                "e.g. `mean(w) over box:3`, `max(w) over disk:5`, `sum(k * w) over gauss:2`".into(),
            ),
        );
    }
    let message = if !wants_operand && open > 0 && pos >= src.trim_end().len() {
        format!("expected `)` to close an open bracket, found {found}")
    } else if wants_operand {
        format!("expected a value (number, name, call or bracket), found {found}")
    } else if positives.is_empty() {
        format!("unexpected {found}")
    } else {
        format!("expected an operator or the end of the expression, found {found}")
    };
    let hint = if pos >= src.trim_end().len() {
        Some("the expression ends too early: finish it, or close the open bracket".to_string())
    } else if src[pos..].starts_with(')') {
        Some("this bracket has no matching `(`".into())
    } else if wants_operand {
        None
    } else if src[..pos].trim_end().ends_with(';') || src[pos..].starts_with(';') {
        Some("statements are `let NAME = expr;` or `param NAME = number;`, then one final expression".into())
    } else {
        Some("two values need an operator between them, e.g. `a * b`".into())
    };
    (message, hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(src: &str) -> Result<Ast, ExprError> {
        super::parse(src, &Limits::default())
    }

    fn show(e: &Expr) -> String {
        match &e.kind {
            ExprKind::Number(v) => format!("{v}"),
            ExprKind::Name(n) => n.clone(),
            ExprKind::Unary(UnOp::Neg, a) => format!("(-{})", show(a)),
            ExprKind::Unary(UnOp::Not, a) => format!("(not {})", show(a)),
            ExprKind::Binary(op, a, b) => format!("({} {} {})", show(a), op.symbol(), show(b)),
            ExprKind::Call { name, args, .. } => {
                format!(
                    "{name}({})",
                    args.iter().map(show).collect::<Vec<_>>().join(", ")
                )
            }
            ExprKind::If(c, a, b) => format!("(if {} then {} else {})", show(c), show(a), show(b)),
            ExprKind::Index(a, j) => format!("{}[{}]", show(a), show(j)),
            ExprKind::Over(a, fp, _) => format!("({} over {fp})", show(a)),
            ExprKind::Tuple(items) => {
                format!(
                    "({})",
                    items.iter().map(show).collect::<Vec<_>>().join(", ")
                )
            }
        }
    }

    fn p(src: &str) -> String {
        show(&parse(src).unwrap().body)
    }

    #[test]
    fn precedence_and_associativity() {
        assert_eq!(p("-2^2"), "(-(2 ^ 2))");
        assert_eq!(p("2^3^2"), "(2 ^ (3 ^ 2))");
        assert_eq!(p("1 - 2 - 3"), "((1 - 2) - 3)");
        assert_eq!(
            p("a or b and not c < d + e * f % g"),
            "(a or (b and (not (c < (d + ((e * f) % g))))))"
        );
        assert_eq!(p("2^-1"), "(2 ^ (-1))");
        assert_eq!(p("1 + if a then b else c"), "(1 + (if a then b else c))");
        assert_eq!(p("max(w, 1e-9, .5)"), "max(w, 0.000000001, 0.5)");
    }

    #[test]
    fn over_binds_tighter_than_any_operator() {
        assert_eq!(
            p("mean(w) over box:3 - mean(w) over box:9"),
            "((mean(w) over box:3) - (mean(w) over box:9))"
        );
        assert_eq!(
            p("-max(w) over disk:5 ^ 2"),
            "(-((max(w) over disk:5) ^ 2))"
        );
        assert_eq!(p("(a + b) over rect:5x3"), "((a + b) over rect:5x3)");
        assert_eq!(
            p("sum(k * w) over gauss:1.5,2"),
            "(sum((k * w)) over gauss:1.5,2)"
        );
        // A comma goes on in the spec only before a digit; with a space it ends the spec.
        assert_eq!(
            p("(mean(w) over box:3, max(w))"),
            "((mean(w) over box:3), max(w))"
        );
        assert_eq!(p("(sum(w) over gauss:2, 3)"), "((sum(w) over gauss:2), 3)");
        // `over` is a keyword, not a name.
        assert!(parse("let over = 1; over").is_err());
        for (src, at) in [
            ("mean(w) over box:x", 13),
            ("mean(w) over star:3", 13),
            ("mean(w) over", 12),
        ] {
            match parse(src).unwrap_err() {
                ExprError::Syntax { span, .. } => assert_eq!(span.start, at, "{src}"),
                e => panic!("{src}: {e:?}"),
            }
        }
    }

    #[test]
    fn channels_and_tuples() {
        assert_eq!(p("w[0] - c[2]"), "(w[0] - c[2])");
        assert_eq!(p("(mean(w), std(w))"), "(mean(w), std(w))");
        assert_eq!(p("((((w))))"), "w");
        assert_eq!(p("at(w[1], -1, 0)"), "at(w[1], (-1), 0)");
    }

    #[test]
    fn statements_and_comments() {
        let ast = parse("param t = -1.5; # threshold\nlet m = mean(w);\n m > t").unwrap();
        assert_eq!(ast.stmts.len(), 2);
        assert!(matches!(&ast.stmts[0], Stmt::Param { default, .. } if *default == -1.5));
        assert_eq!(show(&ast.body), "(m > t)");
    }

    #[test]
    fn param_ranges() {
        let range = |src: &str| match &parse(src).unwrap().stmts[0] {
            Stmt::Param { default, range, .. } => (*default, range.map(|(lo, hi, _)| (lo, hi))),
            other => panic!("{other:?}"),
        };
        assert_eq!(range("param k = 0.3; c"), (0.3, None));
        assert_eq!(range("param k = 0.3 in 0 .. 1; c"), (0.3, Some((0.0, 1.0))));
        // `0..1` is two numbers, not `0.` and `.1`.
        assert_eq!(range("param k = 1 in 0..2.5; c"), (1.0, Some((0.0, 2.5))));
        assert_eq!(
            range("param k = -1 in -pi .. 1e1; c"),
            (-1.0, Some((-std::f64::consts::PI, 10.0)))
        );
        let e = parse("param k = 1 into; c").unwrap_err();
        assert!(
            e.to_string()
                .contains("expected `;` after the param's value"),
            "{e}"
        );
        let e = parse("param k = 1 in 0 .. x; c").unwrap_err();
        assert!(e.to_string().contains("`x` is not a number"), "{e}");
    }

    #[test]
    fn a_trailing_operator_wants_a_value() {
        for src in ["mean(w) +", "c * ", "c <", "1 + -", "not"] {
            let e = parse(src).unwrap_err().to_string();
            assert!(
                e.contains("expected a value (number, name, call or bracket), found the end"),
                "{src}: {e}"
            );
        }
    }

    #[test]
    fn errors_have_columns() {
        let err = parse("max(w").unwrap_err();
        assert_eq!(err.span().start, 5);
        assert!(err.to_string().contains("expected `)`"), "{err}");
        let err = parse("1 < 2 < 3").unwrap_err();
        assert!(err.to_string().contains("chain"), "{err}");
        let err = parse("max(w) max(w)").unwrap_err();
        assert_eq!(err.span().start, 7);
        assert!(parse("let = 3; 1").is_err());
        assert!(parse("let if = 3; 1").is_err());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("{}1{}", "(".repeat(100_000), ")".repeat(100_000));
        assert!(matches!(parse(&deep), Err(ExprError::Limit { .. })));
        let n = Limits::default().max_nesting;
        let ok = format!("{}1{}", "(".repeat(n), ")".repeat(n));
        assert!(parse(&ok).is_ok());
    }
}
