//! Typed errors of the library. Rendering (carets, colours) happens at the edges: CLI and REPL.

use crate::limits::LimitError;
use thiserror::Error;

/// A byte range in the kernel source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span {
            start,
            end: end.max(start),
        }
    }
}

/// An error in the kernel expression itself, with the span it points at.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ExprError {
    #[error("syntax error: {message}")]
    Syntax {
        span: Span,
        message: String,
        hint: Option<String>,
    },
    #[error("unknown name `{name}`")]
    UnknownName {
        span: Span,
        name: String,
        suggestion: Option<String>,
    },
    #[error("unknown function `{name}`")]
    UnknownFunction {
        span: Span,
        name: String,
        suggestion: Option<String>,
    },
    #[error("`{name}` takes {expected} argument(s), got {got}")]
    Arity {
        span: Span,
        name: String,
        expected: String,
        got: usize,
    },
    #[error("the result is a vector (one value per window element), but a filter needs one value per pixel")]
    VectorResult { span: Span },
    #[error("{message}")]
    Type {
        span: Span,
        message: String,
        hint: Option<String>,
    },
    #[error("`{name}` is a built-in name and cannot be redefined")]
    Rebind { span: Span, name: String },
    #[error("`{name}` is already defined")]
    Redefined { span: Span, name: String },
    #[error("`{name}` is used before it is defined")]
    UseBeforeDefinition { span: Span, name: String },
    #[error("`{name}` needs a {axis} axis, but the array has {ndim} dimension(s)")]
    NoPosition {
        span: Span,
        name: String,
        axis: &'static str,
        ndim: usize,
    },
    /// A limit on the program's size or shape (see [`crate::Limits`]).
    #[error("{error}")]
    Limit { span: Span, error: LimitError },
}

impl ExprError {
    /// Where in the source the error points.
    pub fn span(&self) -> Span {
        match self {
            ExprError::Syntax { span, .. }
            | ExprError::UnknownName { span, .. }
            | ExprError::UnknownFunction { span, .. }
            | ExprError::Arity { span, .. }
            | ExprError::VectorResult { span }
            | ExprError::Type { span, .. }
            | ExprError::Rebind { span, .. }
            | ExprError::Redefined { span, .. }
            | ExprError::UseBeforeDefinition { span, .. }
            | ExprError::NoPosition { span, .. }
            | ExprError::Limit { span, .. } => *span,
        }
    }

    /// How to fix it, in a sentence.
    pub fn hint(&self) -> Option<String> {
        match self {
            ExprError::Syntax { hint, .. } | ExprError::Type { hint, .. } => hint.clone(),
            ExprError::UnknownName {
                suggestion: Some(s),
                ..
            }
            | ExprError::UnknownFunction {
                suggestion: Some(s),
                ..
            } => Some(format!("did you mean `{s}`?")),
            ExprError::UnknownName { .. } => Some(
                "built-in names are w c k dx dy dz i n x y z width height depth pi e inf nan"
                    .into(),
            ),
            ExprError::UnknownFunction { .. } => {
                Some("see docs/language.md for the list of functions".into())
            }
            ExprError::Arity { .. } => None,
            ExprError::VectorResult { .. } => {
                Some("reduce it, e.g. max(...), mean(...) or sum(...)".into())
            }
            ExprError::Rebind { .. } | ExprError::Redefined { .. } => {
                Some("choose another name".into())
            }
            ExprError::UseBeforeDefinition { .. } => {
                Some("move the `let` that defines it above this line".into())
            }
            ExprError::NoPosition { .. } => {
                Some("use a position name that the array's dimensions have".into())
            }
            ExprError::Limit { error, .. } => Some(error.hint()),
        }
    }
}

/// Everything that can go wrong when compiling or applying a kernel.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum Error {
    #[error(transparent)]
    Expr(#[from] ExprError),
    #[error("bad footprint: {0}")]
    Footprint(String),
    #[error("unknown boundary mode `{0}` (expected reflect, mirror, nearest, wrap, constant, grid-mirror, grid-constant, grid-wrap)")]
    Mode(String),
    #[error("origin {origin} is out of range for a footprint of size {size} on axis {axis} (allowed {min}..={max})")]
    Origin {
        axis: usize,
        origin: isize,
        size: usize,
        min: isize,
        max: isize,
    },
    #[error("{0}")]
    Shape(String),
    #[error("unknown param `{name}`{}", if known.is_empty() { " (the kernel declares no params)".to_string() } else { format!(" (the kernel declares: {})", known.join(", ")) })]
    UnknownParam { name: String, known: Vec<String> },
    #[error("code generation failed: {0}")]
    Codegen(String),
    /// A limit on something other than the program text: the footprint, the generated code.
    #[error(transparent)]
    Limit(#[from] LimitError),
    /// The system refused what compiling needs (a thread with a large stack).
    #[error("out of resources: {0}")]
    Resources(String),
}
