//! Batch progress: a bar on a terminal, nothing otherwise, and a way to print lines (errors,
//! timings) without tearing the bar.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar over `len` files, drawn only when stderr is a terminal and `quiet` is off.
    pub fn new(len: usize, quiet: bool) -> Progress {
        let target = if !quiet && std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(len as u64), target);
        // The template is a constant; should it ever be rejected, the default style is fine.
        if let Ok(style) = ProgressStyle::with_template(
            "{bar:30.cyan/blue} {pos}/{len} {elapsed_precise} eta {eta} {wide_msg}",
        ) {
            bar.set_style(style.progress_chars("█▉▊▋▌▍▎▏ "));
        }
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress { bar }
    }

    /// Shows which file is being worked on.
    pub fn start(&self, name: &str) {
        self.bar.set_message(name.to_string());
    }

    pub fn done_one(&self) {
        self.bar.inc(1);
    }

    /// Prints to stderr above the bar (or plainly, when there is no bar).
    pub fn eprint(&self, text: &str) {
        self.bar.suspend(|| eprint!("{text}"));
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }

    /// A bar over the `rows` of one streamed image.
    pub fn rows(rows: usize, quiet: bool) -> Progress {
        let p = Progress::new(rows, quiet);
        p.start("rows");
        p
    }

    /// `done` rows (or files) so far.
    pub fn set(&self, done: usize) {
        self.bar.set_position(done as u64);
    }
}
