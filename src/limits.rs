//! Limits on what one input may cost: the program's size and shape, the machine code it compiles
//! to, the footprint and the decoded size of an image. They are the fields of one [`Limits`]
//! value, given to [`Kernel::compile_with`](crate::Kernel::compile_with) (which also applies the
//! footprint limit when filtering) and to [`imageio::load_with`](crate::imageio::load_with).
//! Going over one is a [`LimitError`] that says which CLI flag and which field raise it. The
//! defaults and their reasons are in docs/limits.md.

use thiserror::Error;

/// Every limit, with [`Default`] the documented defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest program text, in bytes.
    pub max_source_bytes: usize,
    /// Deepest nesting of brackets and `^` together, and most `if` expressions in a program.
    /// Parsing recurses per level, on a thread whose stack grows with the program's depth, so
    /// raising this costs memory, not safety.
    pub max_nesting: usize,
    /// Most operators in one statement: operator chains (`1+1+…`, `- - -1`) build syntax trees as
    /// deep as they are long, which later stages walk recursively.
    pub max_operators: usize,
    /// Most statements (`let`, `param` and `stage`).
    pub max_statements: usize,
    /// Most stages (`stage` statements, and those `over` makes): each is a whole image in f64
    /// while the program runs, and a compiled kernel of its own.
    pub max_stages: usize,
    /// Most distinct operations after sharing common subexpressions (nodes of the checked DAG).
    pub max_nodes: usize,
    /// Most bytes of machine code the functions of one kernel may take together.
    pub max_code_bytes: usize,
    /// Most elements (cells in the window) a footprint may have.
    pub max_footprint: usize,
    /// Most bytes of decoded pixel data one image may need (against decompression bombs); a
    /// streamed image is held a few rows at a time, so this bounds each of its rows instead.
    pub max_image_bytes: usize,
    /// Most bytes of decoded pixel data a streamed image may have in all (checked from its
    /// header): a bound on how much a forged header can make a run decode (and so write, in
    /// proportion), far above any legitimate image.
    pub max_stream_bytes: usize,
}

impl Limits {
    /// The defaults, as a constant (for command-line defaults).
    pub const DEFAULT: Limits = Limits {
        max_source_bytes: 64 * 1024,
        max_nesting: 64,
        max_operators: 1000,
        max_statements: 1024,
        max_stages: 64,
        max_nodes: 8192,
        max_code_bytes: 16 << 20,
        max_footprint: 1 << 20,
        max_image_bytes: 512 << 20,
        max_stream_bytes: 1 << 40,
    };
}

impl Default for Limits {
    fn default() -> Limits {
        Limits::DEFAULT
    }
}

/// Which limit was exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    SourceBytes,
    Nesting,
    Operators,
    Statements,
    Stages,
    Nodes,
    CodeBytes,
    Footprint,
    ImageBytes,
    StreamBytes,
}

impl Limit {
    pub const ALL: [Limit; 10] = [
        Limit::SourceBytes,
        Limit::Nesting,
        Limit::Operators,
        Limit::Statements,
        Limit::Stages,
        Limit::Nodes,
        Limit::CodeBytes,
        Limit::Footprint,
        Limit::ImageBytes,
        Limit::StreamBytes,
    ];

    /// The [`Limits`] field, e.g. `max_nesting`.
    pub fn field(self) -> &'static str {
        match self {
            Limit::SourceBytes => "max_source_bytes",
            Limit::Nesting => "max_nesting",
            Limit::Operators => "max_operators",
            Limit::Statements => "max_statements",
            Limit::Stages => "max_stages",
            Limit::Nodes => "max_nodes",
            Limit::CodeBytes => "max_code_bytes",
            Limit::Footprint => "max_footprint",
            Limit::ImageBytes => "max_image_bytes",
            Limit::StreamBytes => "max_stream_bytes",
        }
    }

    /// The command-line flag that sets it: the field's name in kebab case, e.g. `--max-nesting`.
    pub fn flag(self) -> String {
        format!("--{}", self.field().replace('_', "-"))
    }

    /// Its value in `limits`.
    pub fn of(self, limits: &Limits) -> usize {
        match self {
            Limit::SourceBytes => limits.max_source_bytes,
            Limit::Nesting => limits.max_nesting,
            Limit::Operators => limits.max_operators,
            Limit::Statements => limits.max_statements,
            Limit::Stages => limits.max_stages,
            Limit::Nodes => limits.max_nodes,
            Limit::CodeBytes => limits.max_code_bytes,
            Limit::Footprint => limits.max_footprint,
            Limit::ImageBytes => limits.max_image_bytes,
            Limit::StreamBytes => limits.max_stream_bytes,
        }
    }

    /// The error for going over this limit of `limits`; `what` says by how much.
    pub fn exceeded(self, limits: &Limits, what: impl Into<String>) -> LimitError {
        LimitError {
            limit: self,
            what: what.into(),
            max: self.of(limits),
        }
    }
}

/// An input over one of the [`Limits`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("limit exceeded: {what}; the limit is {max}")]
pub struct LimitError {
    pub limit: Limit,
    /// What went over, e.g. `program is 70000 bytes long`.
    pub what: String,
    /// The limit in force.
    pub max: usize,
}

impl LimitError {
    /// How to get past it, in a sentence.
    pub fn hint(&self) -> String {
        let first = match self.limit {
            Limit::Footprint => "use a smaller footprint",
            Limit::ImageBytes | Limit::StreamBytes => "use a smaller image",
            _ => "simplify the program",
        };
        format!(
            "{first}, or raise the limit: {} N on the command line, `Limits::{}` in the library",
            self.limit.flag(),
            self.limit.field()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_limit_and_the_flag() {
        let e = Limit::Nesting.exceeded(&Limits::default(), "expression nests 65 levels deep");
        assert_eq!(
            e.to_string(),
            "limit exceeded: expression nests 65 levels deep; the limit is 64"
        );
        assert!(e.hint().contains("--max-nesting N"), "{}", e.hint());
        assert!(e.hint().contains("Limits::max_nesting"), "{}", e.hint());
    }
}
