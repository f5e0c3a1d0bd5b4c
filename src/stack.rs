//! Stack for the recursive stages. pest parses recursively per level of nesting, the syntax
//! tree's passes recurse per level of the tree (an operator or a level of nesting each), and the
//! code generator per node along the plan's longest path. The limits bound these depths, but a
//! raised limit must not overflow the caller's stack: each stage runs on a thread whose stack
//! is sized for the program at hand, measured before the recursion starts. A stack the system
//! cannot give is an [`Error::Resources`], not a crash.

use crate::error::Error;

/// Stack at no depth, and per unit of each depth: twice the most measured for the build's kind
/// (docs/limits.md; unoptimised builds use several times the stack per frame).
const BASE: usize = 2 << 20;
const PER_LEVEL: usize = if cfg!(debug_assertions) { 210 } else { 32 } << 10;
const PER_OPERATOR: usize = if cfg!(debug_assertions) { 5 } else { 2 } << 10;
const PER_NODE: usize = if cfg!(debug_assertions) { 4 } else { 1 } << 10;

/// How deep a stage may recurse.
#[derive(Debug, Clone, Copy, Default)]
pub struct Depth {
    /// Levels of nesting in the text (brackets, `^`, `if`).
    pub levels: usize,
    /// Most operators in one statement.
    pub operators: usize,
    /// Nodes of the largest plan.
    pub nodes: usize,
}

impl Depth {
    /// Bytes of stack for this depth.
    pub fn stack_bytes(&self) -> usize {
        BASE.saturating_add(self.levels.saturating_mul(PER_LEVEL))
            .saturating_add(self.operators.saturating_mul(PER_OPERATOR))
            .saturating_add(self.nodes.saturating_mul(PER_NODE))
    }

    /// Runs `work` with stack for this depth: on the caller's stack when enough of it is left
    /// (the common case: a thread costs more than compiling a small program), else on a thread.
    pub fn run<R: Send>(&self, work: impl FnOnce() -> Result<R, Error> + Send) -> Result<R, Error> {
        let stack = self.stack_bytes();
        if stacker::remaining_stack().is_some_and(|left| left > stack) {
            return work();
        }
        std::thread::scope(|s| {
            let thread = std::thread::Builder::new()
                .name("jitfilter-compile".into())
                .stack_size(stack)
                .spawn_scoped(s, work)
                .map_err(|e| {
                    Error::Resources(format!(
                        "cannot start a thread with {} MiB of stack to compile this program in ({e})",
                        stack >> 20
                    ))
                })?;
            thread
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }
}
