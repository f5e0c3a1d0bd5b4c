//! What can go wrong in a command, which exit code it means, and how it is shown on stderr.
//!
//! Expression errors are rendered by miette: the program text, the failing span underlined and a
//! hint. Other errors use the same renderer without source text, so every message looks alike.
//! Colour only on a terminal and without NO_COLOR; otherwise plain ASCII.

use jitfilter::imageio::{Format, IoError, Op, Reason};
use jitfilter::{DType, Error, ExprError, Span};
use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource};
use std::io::IsTerminal;

/// Exit codes, as documented in `--help`.
pub const EXIT_FAILURE: u8 = 1;
pub const EXIT_USAGE: u8 = 2;

/// The kernel program's text and what to call it in messages.
#[derive(Debug, Clone)]
pub struct Source {
    /// `expression`, or the path of the kernel file.
    pub name: String,
    pub text: String,
}

impl Source {
    /// The expression itself if it is one line, else where it came from.
    pub fn describe(&self) -> String {
        let text = self.text.trim();
        if self.name == "expression" && !text.contains('\n') {
            text.to_string()
        } else {
            self.name.clone()
        }
    }
}

/// Why a command failed.
#[derive(Debug)]
pub enum Failure {
    /// Bad arguments, found by clap or by us in clap's format (exit 2).
    Clap(Box<clap::Error>),
    /// Arguments that parse but do not fit together or with the data (exit 2).
    Usage {
        message: String,
        hint: Option<String>,
    },
    /// The kernel program is wrong (exit 2).
    Expr { source: Source, error: ExprError },
    /// A file could not be read or written (exit 1; exit 2 when the output's name asks for the
    /// impossible, like float data in a PNG).
    File(IoError),
    /// Anything else that went wrong while running (exit 1).
    Runtime(String),
}

impl Failure {
    /// Classifies a library error; `source` is the program it came from.
    pub fn from_engine(error: Error, source: &Source) -> Failure {
        let hint = match &error {
            Error::Expr(e) => {
                return Failure::Expr {
                    source: source.clone(),
                    error: e.clone(),
                }
            }
            Error::Codegen(_) | Error::Resources(_) => return Failure::Runtime(error.to_string()),
            Error::Limit(e) => {
                return Failure::Usage {
                    message: error.to_string(),
                    hint: Some(e.hint()),
                }
            }
            Error::Footprint(_) => {
                Some("footprints: box:N, rect:WxH, disk:R, diamond:R, ball:R (3-D only), gauss:S, gauss:SY,SX, file:PATH")
            }
            Error::Origin { .. } => Some(
                "an origin must keep the window over its centre pixel: -(size/2) ..= (size-1)/2",
            ),
            Error::Input(_) => Some(
                "give each input once with --input NAME=PATH, all of the image's width and height",
            ),
            Error::Callback(_) => Some("use --engine auto (the default)"),
            Error::UnknownParam { known, .. } if known.is_empty() => {
                Some("declare params at the top of the program, e.g. `param r = 0.5;`")
            }
            _ => None,
        };
        Failure::Usage {
            message: error.to_string(),
            hint: hint.map(String::from),
        }
    }

    pub fn usage(message: impl Into<String>, hint: Option<&str>) -> Failure {
        Failure::Usage {
            message: message.into(),
            hint: hint.map(String::from),
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Clap(e) => e.exit_code() as u8,
            Failure::Usage { .. } | Failure::Expr { .. } => EXIT_USAGE,
            Failure::File(e) if output_name_is_wrong(e) => EXIT_USAGE,
            Failure::File(_) | Failure::Runtime(_) => EXIT_FAILURE,
        }
    }

    /// Prints the failure to stderr.
    pub fn print(&self) {
        if let Failure::Clap(e) = self {
            // clap styles its own messages (and honours NO_COLOR).
            let _ = e.print();
            return;
        }
        eprint!("{}", self.render(colour_on_stderr()));
    }

    /// The failure as text, with or without ANSI colour.
    pub fn render(&self, colour: bool) -> String {
        let report = match self {
            Failure::Clap(e) => return e.to_string(),
            Failure::Usage { message, hint } => Report::plain(message.clone(), hint.clone()),
            Failure::Runtime(message) => Report::plain(message.clone(), None),
            Failure::File(e) => Report::plain(e.to_string(), file_hint(e)),
            Failure::Expr { source, error } => {
                let (text, span) = visible_span(&source.text, error.span());
                Report {
                    message: error.to_string(),
                    source_code: Some(NamedSource::new(&source.name, text)),
                    labels: vec![LabeledSpan::new_primary_with_span(
                        Some(label(error).into()),
                        span,
                    )],
                    help: error.hint(),
                }
            }
        };
        let theme = if colour {
            GraphicalTheme::unicode()
        } else {
            GraphicalTheme::none()
        };
        let handler = GraphicalReportHandler::new_themed(theme)
            .with_links(false)
            .with_wrap_lines(false);
        let mut out = String::new();
        match handler.render_report(&mut out, &report) {
            Ok(()) => out,
            // Rendering into a String cannot fail; if it did, the plain message still helps.
            Err(_) => format!("error: {}\n", report.message),
        }
    }
}

/// A failure as miette sees it.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{message}")]
struct Report {
    message: String,
    #[source_code]
    source_code: Option<NamedSource<String>>,
    #[label(collection)]
    labels: Vec<LabeledSpan>,
    #[help]
    help: Option<String>,
}

impl Report {
    fn plain(message: String, help: Option<String>) -> Report {
        Report {
            message,
            source_code: None,
            labels: Vec::new(),
            help,
        }
    }
}

/// Longest line shown whole above a caret. miette pads with Rust's formatting width, which
/// cannot reach 64K columns (it panicked on a 64 KiB one-line program): longer ones are cut to
/// the part around the span.
const MAX_LINE: usize = 1000;

/// miette draws nothing for an empty span, so widen one to the character it points at, or to a
/// space appended after the text when it points at the end (e.g. `max(w` is missing a bracket).
fn visible_span(text: &str, span: Span) -> (String, std::ops::Range<usize>) {
    let location = span.locate(text);
    let (text, Span { start, end }) = location
        .excerpt(MAX_LINE)
        .unwrap_or_else(|| (text.to_string(), location.span));
    if end > start {
        return (text, start..end);
    }
    match text[start..].chars().next() {
        Some('\n') | None => {
            let mut text = text;
            text.insert(start, ' ');
            (text, start..start + 1)
        }
        Some(ch) => (text, start..start + ch.len_utf8()),
    }
}

/// The few words under the caret.
fn label(e: &ExprError) -> &'static str {
    match e {
        ExprError::UnknownName { .. } => "not defined",
        ExprError::UnknownFunction { .. } => "no such function",
        ExprError::Arity { .. } => "wrong number of arguments",
        ExprError::VectorResult { .. } => "one value per window element",
        ExprError::Rebind { .. } => "built-in name",
        ExprError::Redefined { .. } => "defined again here",
        ExprError::UseBeforeDefinition { .. } => "used here",
        ExprError::NoPosition { .. } => "this axis is missing",
        _ => "here",
    }
}

fn output_name_is_wrong(e: &IoError) -> bool {
    e.op == Op::Write
        && matches!(
            e.reason,
            Reason::CannotWrite { .. } | Reason::UnknownExtension
        )
}

fn file_hint(e: &IoError) -> Option<String> {
    Some(match &e.reason {
        Reason::CannotWrite { ndim, .. } if *ndim != 2 => "write .npy, which holds arrays of any dimension".into(),
        Reason::CannotWrite { format, layout, .. } if !format.can_write(*layout, DType::U8, 2) => {
            format!("{format} cannot store these channels; write .png or .npy")
        }
        Reason::CannotWrite { format: Format::Png, .. } => {
            "add --dtype u8 or --dtype u16 to round and clip the result, or write .tiff or .npy for exact values".into()
        }
        Reason::CannotWrite { format: Format::Jpeg, .. } => {
            "add --dtype u8 to round and clip the result, or write .tiff or .npy for exact values".into()
        }
        Reason::CannotWrite { .. } => "add --dtype f32 (or u8, u16), or write .npy".into(),
        Reason::UnknownExtension if e.op == Op::Write => "name the output .png, .tif, .tiff, .jpg, .jpeg or .npy".into(),
        Reason::UnknownContent => "jitfilter reads PNG, TIFF, JPEG and .npy files".into(),
        Reason::Limit(limit) => limit.hint(),
        _ => return None,
    })
}

/// Colour for stderr: only on a terminal, and never with NO_COLOR set (https://no-color.org).
pub fn colour_on_stderr() -> bool {
    std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
}
