//! Typed errors of the library, and where a span lies in its source. Rendering (carets,
//! colours) happens at the edges: CLI, REPL and the Python binding, all from [`Span::locate`].

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

    /// Where the span lies in `source`: its line, column and width. A span past the end or
    /// inside a character is moved back to the character's start, so any span can be shown.
    pub fn locate(self, source: &str) -> Location<'_> {
        let floor = |mut i: usize| {
            i = i.min(source.len());
            while !source.is_char_boundary(i) {
                i -= 1;
            }
            i
        };
        let start = floor(self.start);
        let end = floor(self.end.max(start));
        let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = source[start..]
            .find('\n')
            .map_or(source.len(), |i| start + i);
        Location {
            line: source[..start].matches('\n').count() + 1,
            column: source[line_start..start].chars().count(),
            width: source[start..end.min(line_end)].chars().count().max(1),
            text: source[line_start..line_end].trim_end_matches('\r'),
            line_start,
            span: Span { start, end },
        }
    }
}

/// A span's place in its source, for a caret under the line it starts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location<'a> {
    /// The line, from 1.
    pub line: usize,
    /// The span's start in the line, in characters from 0.
    pub column: usize,
    /// The span's length in characters, up to the end of the line and at least 1, so that an
    /// empty span (`max(w` lacks its bracket at the end) still gets a caret.
    pub width: usize,
    /// The line, without its line break.
    pub text: &'a str,
    /// Where the line starts in the source, in bytes.
    pub line_start: usize,
    /// The span in the source, on character boundaries.
    pub span: Span,
}

impl Location<'_> {
    /// What goes before the carets to put them under the span: a blank for each character of
    /// the line before it, tabs kept as tabs so that the carets line up below them.
    pub fn indent(&self) -> String {
        self.text
            .chars()
            .take(self.column)
            .map(|ch| if ch == '\t' { '\t' } else { ' ' })
            .collect()
    }

    /// For a line longer than `max` bytes, the part of it within `max / 4` bytes of the span's
    /// start, with `…` marking both cuts, and the span's byte range in that excerpt (clipped to
    /// it); `None` for shorter lines. Nobody reads a 64K-column line, and a renderer that pads
    /// with formatting widths cannot draw one.
    pub fn excerpt(&self, max: usize) -> Option<(String, Span)> {
        let line = self.text;
        if line.len() <= max {
            return None;
        }
        let floor = |mut i: usize| {
            while !line.is_char_boundary(i) {
                i -= 1;
            }
            i
        };
        let at = self.span.start - self.line_start;
        let from = floor(at.saturating_sub(max / 4));
        let to = floor((at + max / 4).min(line.len()));
        let shift = |i: usize| (i - self.line_start).clamp(from, to) - from + '…'.len_utf8();
        Some((
            format!("…{}…", &line[from..to]),
            Span::new(shift(self.span.start), shift(self.span.end)),
        ))
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
            ExprError::UnknownName { name, .. } => Some(format!(
                "built-in names are w c k dx dy dz i n x y z width height depth channels pi e inf nan, and pos(j) and d(j) for axis j; to read another image as `{name}`, declare it as an input (--input {name}=PATH)"
            )),
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
    /// Named inputs and channels that do not fit the program or each other.
    #[error("{0}")]
    Input(String),
    /// The scipy callback's ABI (one window of one input in, one number out) cannot carry the
    /// program.
    #[error("the scipy callback takes one window of one input and returns one number, but this program {0}; filter with jitfilter itself instead")]
    Callback(String),
    #[error("unknown param `{name}`{}", if known.is_empty() { " (the kernel declares no params)".to_string() } else { format!(" (the kernel declares: {})", known.join(", ")) })]
    UnknownParam { name: String, known: Vec<String> },
    #[error("param `{name}` = {value} is outside its declared range {lo} .. {hi}")]
    ParamRange {
        name: String,
        value: f64,
        lo: f64,
        hi: f64,
    },
    /// The run was stopped through [`crate::Options::cancel`] before it finished.
    #[error("cancelled")]
    Cancelled,
    #[error("code generation failed: {0}")]
    Codegen(String),
    /// A limit on something other than the program text: the footprint, the generated code.
    #[error(transparent)]
    Limit(#[from] LimitError),
    /// The system refused what compiling needs (a thread with a large stack).
    #[error("out of resources: {0}")]
    Resources(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_counts_lines_and_characters() {
        let source = "# größe\r\nmax(w) + ö\n";
        let at = Span::new(source.rfind('ö').unwrap(), source.len()).locate(source);
        assert_eq!((at.line, at.column, at.width), (2, 9, 1));
        assert_eq!(at.text, "max(w) + ö");
        // Past the end, or inside a character: moved back to a character's start.
        let end = Span::new(99, 99).locate("max(w");
        assert_eq!(
            (end.line, end.column, end.width, end.span),
            (1, 5, 1, Span::new(5, 5))
        );
        let inside = Span::new(5, 6).locate("# größe");
        assert_eq!((inside.column, inside.span.start), (4, 4));
        let tabbed = Span::new(3, 4).locate("\t1 x");
        assert_eq!(tabbed.indent(), "\t  ");
    }

    #[test]
    fn long_lines_are_cut_around_the_span() {
        let source = format!("a\n{}bad{}", "x".repeat(3000), "y".repeat(3000));
        let at = Span::new(3002, 3005).locate(&source);
        assert_eq!(at.excerpt(10_000), None);
        let (excerpt, span) = at.excerpt(1000).unwrap();
        assert_eq!(&excerpt[span.start..span.end], "bad");
        assert!(excerpt.starts_with("…x") && excerpt.ends_with("y…"));
        assert_eq!(excerpt.len(), 500 + 2 * '…'.len_utf8());
    }
}
