//! `jitfilter repl`: try kernel expressions interactively on a loaded image. This module owns
//! the session: its state, reading input, running expressions and showing their errors; the
//! `:commands` are in `commands`, completion in `complete`, previews and numbers in `view`.
//!
//! Each expression is compiled and applied to the current image; the result is kept as `_`.
//! `:commands` change the window, the options and the image, or show what the last expression
//! compiled to. On a terminal, lines are edited with rustyline (history, tab completion);
//! otherwise lines are read plainly from stdin and the output has no colour, so that sessions can
//! be scripted. See docs/repl.md.
//!
//! Ctrl-C during a filter: the library has no cancellation hook, so the expression runs on a
//! worker thread; on SIGINT the REPL stops waiting for it, discards its result and returns to the
//! prompt while the worker finishes in the background.

mod commands;
mod complete;
mod view;

use super::args::{FootprintSpec, ModeArg, ReplArgs};
use super::report::Failure;
use super::setup::{image_or_camera, ms};
use complete::ReplHelper;
use jitfilter::image_filter::{self, Loss};
use jitfilter::imageio::Image;
use jitfilter::{DType, Engine, Error, ExprError, Footprint, Kernel, Limits, Mode, Options};
use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::{CompletionType, Config, Editor};
use std::fmt::Write as _;
use std::io::{self, BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};
use view::stats;

const PROMPT: &str = "jf> ";
const MORE: &str = "..> ";

/// What the SIGINT handler does: while reading piped input it ends the REPL like any program;
/// while an expression runs it only raises [`INTERRUPTED`]. (While rustyline edits a line the
/// terminal sends no SIGINT: Ctrl-C arrives as a key.)
static PHASE: AtomicU8 = AtomicU8::new(READING);
const READING: u8 = 0;
const WORKING: u8 = 1;
static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// Expression workers still running (more than none only after an interrupt).
static RUNNING: AtomicUsize = AtomicUsize::new(0);

pub fn run(args: &ReplArgs) -> Result<(), Failure> {
    let limits = args.limits.limits();
    let (image, name) = image_or_camera(args.image.as_deref(), &limits)?;
    let interactive = io::stdin().is_terminal();
    install_interrupt_handler();
    let mut repl = Repl {
        image: Arc::new(image),
        image_name: name,
        footprint: Footprint::cube(3),
        footprint_spec: FootprintSpec::Shape(Footprint::cube(3)),
        mode: ModeArg(vec![Mode::Reflect]),
        cval: 0.0,
        origin: Vec::new(),
        params: Vec::new(),
        inputs: Vec::new(),
        dtype: None,
        threads: None,
        engine: Engine::Auto,
        kernel: None,
        limits,
        result: None,
        colour: colour_on_stdout(),
        interactive,
        failures: 0,
        quit: false,
        width: None,
    };
    if interactive {
        repl.run_editor()
    } else {
        repl.run_piped()
    }
}

/// Handles SIGINT only (SIGTERM and SIGHUP keep ending the process): while an input runs it
/// raises [`INTERRUPTED`], otherwise it exits with 130.
#[cfg(unix)]
fn install_interrupt_handler() {
    extern "C" fn on_sigint(_: libc::c_int) {
        if PHASE.load(Ordering::SeqCst) == WORKING {
            INTERRUPTED.store(true, Ordering::SeqCst);
        } else {
            // SAFETY: _exit is async-signal-safe; stdout was flushed after the last input.
            unsafe { libc::_exit(130) };
        }
    }
    let handler: extern "C" fn(libc::c_int) = on_sigint;
    // SAFETY: the handler only touches atomics and calls _exit, both async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, handler as libc::sighandler_t);
    }
}

/// Elsewhere ctrlc's handler (which also sees the console closing) does the same.
#[cfg(not(unix))]
fn install_interrupt_handler() {
    let _ = ctrlc::set_handler(|| {
        if PHASE.load(Ordering::SeqCst) == WORKING {
            INTERRUPTED.store(true, Ordering::SeqCst);
        } else {
            std::process::exit(130);
        }
    });
}

/// Colour on stdout: only on a terminal, and never with NO_COLOR set or TERM=dumb.
fn colour_on_stdout() -> bool {
    io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
}

/// Where history is kept: `$JITFILTER_HISTORY` (empty: none), else
/// `$XDG_STATE_HOME/jitfilter/repl_history`, else `~/.local/state/jitfilter/repl_history`
/// (`~/Library/Application Support/jitfilter/repl_history` on macOS).
fn history_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("JITFILTER_HISTORY") {
        return (!p.is_empty()).then(|| PathBuf::from(p));
    }
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            let home = PathBuf::from(std::env::var_os("HOME").filter(|h| !h.is_empty())?);
            Some(if cfg!(target_os = "macos") {
                home.join("Library/Application Support")
            } else {
                home.join(".local/state")
            })
        })?;
    Some(state.join("jitfilter").join("repl_history"))
}

/// Whether `text` needs another line: a bracket is open or the last line ends with `;`.
pub(crate) fn incomplete(text: &str) -> bool {
    if text.trim_start().starts_with(':') {
        return false;
    }
    let mut depth = 0i64;
    for line in text.lines() {
        // A comment runs to the end of the line.
        let code = line.split('#').next().unwrap_or("");
        for ch in code.chars() {
            match ch {
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' => depth -= 1,
                _ => {}
            }
        }
    }
    let last = text
        .lines()
        .last()
        .map(|l| l.split('#').next().unwrap_or("").trim_end())
        .unwrap_or("");
    depth > 0 || last.ends_with(';')
}

struct Repl {
    image: Arc<Image>,
    image_name: String,
    footprint: Footprint,
    /// The footprint as given, which is how it is shown: a mask file shows as `file:PATH`.
    footprint_spec: FootprintSpec,
    mode: ModeArg,
    cval: f64,
    origin: Vec<isize>,
    /// Params set with `:param`, applied to every expression that declares them.
    params: Vec<(String, f64)>,
    /// Images loaded with `:input NAME PATH`, which expressions read by name.
    inputs: Vec<(String, Arc<Image>)>,
    dtype: Option<DType>,
    threads: Option<usize>,
    engine: Engine,
    /// The last expression that compiled.
    kernel: Option<Kernel>,
    /// From the command line; they apply to expressions, `:load` and `:footprint`.
    limits: Limits,
    /// `_`: the last result.
    result: Option<Arc<Image>>,
    colour: bool,
    interactive: bool,
    /// Inputs that failed (piped mode exits 1 if any did).
    failures: usize,
    quit: bool,
    /// The terminal's width, for `:view`.
    width: Option<usize>,
}

/// Why an input did not work out.
enum Trouble {
    /// In the expression: shown with a caret under the input.
    Expr(ExprError),
    Failure(Failure),
    Interrupted,
}

impl From<Failure> for Trouble {
    fn from(f: Failure) -> Trouble {
        Trouble::Failure(f)
    }
}

fn usage(message: impl Into<String>, hint: Option<&str>) -> Trouble {
    Trouble::Failure(Failure::usage(message, hint))
}

impl Repl {
    fn banner(&self) -> String {
        format!(
            "jitfilter repl: {} ({}), footprint {}, mode {}\n\
             Type an expression like max(w), :help for commands, Ctrl-D to quit.\n",
            self.image_name,
            self.image.describe(),
            self.footprint_spec,
            self.mode
        )
    }

    fn run_editor(&mut self) -> Result<(), Failure> {
        let config = Config::builder()
            .completion_type(CompletionType::List)
            .history_ignore_space(true)
            .auto_add_history(false)
            .build();
        let mut editor: Editor<ReplHelper, DefaultHistory> = Editor::with_config(config)
            .map_err(|e| Failure::Runtime(format!("cannot start the line editor: {e}")))?;
        editor.set_helper(Some(ReplHelper::default()));
        let history = history_path();
        if let Some(path) = &history {
            if let Some(dir) = path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let _ = editor.load_history(path);
        }
        let mut history_failed = false;
        print!("{}", self.banner());
        let mut pending = String::new();
        while !self.quit {
            self.width = editor.dimensions().map(|(w, _)| w as usize);
            let prompt = if pending.is_empty() { PROMPT } else { MORE };
            let line = match editor.readline(prompt) {
                Ok(line) => line,
                // Ctrl-C clears the line (and any unfinished input).
                Err(ReadlineError::Interrupted) => {
                    pending.clear();
                    continue;
                }
                Err(ReadlineError::Eof) => break,
                Err(e) => {
                    eprintln!("jitfilter repl: cannot read a line: {e}");
                    break;
                }
            };
            if !pending.is_empty() {
                pending.push('\n');
            }
            pending.push_str(&line);
            if incomplete(&pending) {
                continue;
            }
            let input = std::mem::take(&mut pending);
            if input.trim().is_empty() {
                continue;
            }
            let _ = editor.add_history_entry(input.as_str());
            // Saved line by line, so that a killed session keeps its history.
            if let Some(path) = history.as_ref().filter(|_| !history_failed) {
                if let Err(e) = editor.append_history(path) {
                    history_failed = true;
                    eprintln!(
                        "jitfilter repl: cannot save history to {}: {e}",
                        path.display()
                    );
                }
            }
            self.handle(&input);
            if let Some(helper) = editor.helper_mut() {
                let declared = self.kernel.iter().flat_map(|k| k.params());
                helper.params = declared.map(|p| p.name.clone()).collect();
                (helper.params).extend(self.inputs.iter().map(|(n, _)| n.clone()));
                helper
                    .params
                    .extend(self.params.iter().map(|(n, _)| n.clone()));
            }
        }
        Ok(())
    }

    fn run_piped(&mut self) -> Result<(), Failure> {
        let stdin = io::stdin();
        let mut lines = stdin.lock().lines();
        let mut pending = String::new();
        let mut count = 0;
        while !self.quit {
            PHASE.store(READING, Ordering::SeqCst);
            let line = match lines.next() {
                Some(Ok(line)) => line,
                Some(Err(e)) => {
                    return Err(Failure::Runtime(format!("cannot read stdin: {e}")));
                }
                None => break,
            };
            if !pending.is_empty() {
                pending.push('\n');
            }
            pending.push_str(&line);
            if incomplete(&pending) {
                continue;
            }
            let input = std::mem::take(&mut pending);
            if input.trim().is_empty() {
                continue;
            }
            count += 1;
            self.handle(&input);
        }
        if !pending.trim().is_empty() {
            count += 1;
            self.handle(&pending);
        }
        if self.failures > 0 {
            return Err(Failure::Runtime(format!(
                "{} of {count} input{} failed",
                self.failures,
                if count == 1 { "" } else { "s" }
            )));
        }
        Ok(())
    }

    /// Runs one input (an expression or a command) and prints what came of it.
    fn handle(&mut self, input: &str) {
        INTERRUPTED.store(false, Ordering::SeqCst);
        PHASE.store(WORKING, Ordering::SeqCst);
        let outcome = if input.trim_start().starts_with(':') {
            self.command(input.trim())
        } else {
            self.expression(input)
        };
        PHASE.store(READING, Ordering::SeqCst);
        let mut out = io::stdout().lock();
        match outcome {
            Ok(text) => {
                let _ = out.write_all(text.as_bytes());
            }
            Err(trouble) => {
                self.failures += 1;
                // A script's log shows which input failed; a terminal shows it already.
                let mut echo = if self.interactive {
                    String::new()
                } else {
                    echo(input)
                };
                let text = match trouble {
                    // The caret brings its own copy of the input.
                    Trouble::Expr(e) => {
                        echo.clear();
                        self.caret(input, &e)
                    }
                    // The hints name the CLI's options; here they are commands.
                    Trouble::Failure(f) => f.render(self.colour).replace("--dtype ", ":dtype "),
                    Trouble::Interrupted => {
                        "interrupted: the result is discarded (the filter finishes in the background)\n"
                            .into()
                    }
                };
                let _ = out.flush();
                eprint!("{echo}{text}");
            }
        }
        let _ = out.flush();
    }

    /// The options of the session (params apart, which depend on the kernel).
    fn options(&self) -> Options {
        let options = (self.mode)
            .apply(Options::default())
            .cval(self.cval)
            .origin(&self.origin)
            .engine(self.engine);
        match self.threads {
            Some(t) => options.threads(t),
            // An interrupted filter still occupies the shared pool: use a pool of our own.
            None if RUNNING.load(Ordering::SeqCst) > 0 => {
                let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
                options.threads(cores)
            }
            None => options,
        }
    }

    /// Compiles and applies an expression on a worker thread, so that Ctrl-C can stop waiting.
    fn expression(&mut self, text: &str) -> Result<String, Trouble> {
        enum Msg {
            Compiled(Result<Kernel, Error>, Duration),
            Filtered(Result<(Image, Option<Loss>), Error>, Duration),
        }
        let (tx, rx) = mpsc::channel();
        let source = text.to_string();
        let image = self.image.clone();
        let footprint = self.footprint.clone();
        let mut options = self.options();
        let params = self.params.clone();
        let inputs = self.inputs.clone();
        let limits = self.limits;
        let dtype = self.dtype.unwrap_or(image.dtype());
        RUNNING.fetch_add(1, Ordering::SeqCst);
        std::thread::spawn(move || {
            /// Counts the worker out however it ends.
            struct Running;
            impl Drop for Running {
                fn drop(&mut self) {
                    RUNNING.fetch_sub(1, Ordering::SeqCst);
                }
            }
            let _running = Running;
            let start = Instant::now();
            let names: Vec<&str> = inputs.iter().map(|(n, _)| n.as_str()).collect();
            let kernel = match Kernel::compile_for(&source, &names, &limits) {
                Ok(k) => k,
                Err(e) => {
                    let _ = tx.send(Msg::Compiled(Err(e), start.elapsed()));
                    return;
                }
            };
            let _ = tx.send(Msg::Compiled(Ok(kernel.clone()), start.elapsed()));
            for (name, value) in params {
                if kernel.params().iter().any(|p| p.name == name) {
                    options = options.param(&name, value);
                }
            }
            let start = Instant::now();
            let named: Vec<(&str, &Image)> =
                inputs.iter().map(|(n, i)| (n.as_str(), &**i)).collect();
            let result = image_filter::apply_measured(
                &kernel, &image, &named, false, &footprint, &options, dtype,
            );
            let _ = tx.send(Msg::Filtered(result, start.elapsed()));
        });
        let mut compile_time = Duration::ZERO;
        loop {
            if INTERRUPTED.swap(false, Ordering::SeqCst) {
                return Err(Trouble::Interrupted);
            }
            match rx.recv_timeout(Duration::from_millis(20)) {
                Ok(Msg::Compiled(Ok(kernel), t)) => {
                    compile_time = t;
                    self.kernel = Some(kernel);
                }
                Ok(Msg::Compiled(Err(e), _)) | Ok(Msg::Filtered(Err(e), _)) => {
                    return Err(engine_trouble(e))
                }
                Ok(Msg::Filtered(Ok((result, loss)), filter_time)) => {
                    let mut line = format!(
                        "_ = {}  {}  (compile {:.2} ms, filter {:.2} ms)\n",
                        result.describe(),
                        stats(&result),
                        ms(compile_time),
                        ms(filter_time)
                    );
                    if let Some(loss) = loss.filter(Loss::is_real) {
                        let _ = writeln!(
                            line,
                            "    note: as {}, {}; :dtype f64 keeps the values",
                            loss.dtype,
                            loss.describe()
                        );
                    }
                    self.result = Some(Arc::new(result));
                    return Ok(line);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                // The worker panicked; the panic hook has reported it.
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(Trouble::Failure(Failure::Runtime(
                        "the expression stopped with an internal error".into(),
                    )))
                }
            }
        }
    }

    /// An expression error: the caret under the offending column, aligned with the prompt. On a
    /// terminal the line the user just typed is right above (an earlier line of a multi-line
    /// input is shown again after its prompt); from a script, the input up to that line is.
    fn caret(&self, input: &str, error: &ExprError) -> String {
        let at = error.span().locate(input);
        let last_line = input.lines().count().max(1);
        let mut out = String::new();
        if !self.interactive {
            // Everything up to the line in question, as it would have been typed.
            out.push_str(&echo(&input[..at.line_start + at.text.len()]));
        } else if at.line < last_line {
            let prompt = if at.line == 1 { PROMPT } else { MORE };
            let _ = writeln!(out, "{prompt}{}", at.text);
        }
        let (red, cyan, reset) = if self.colour {
            ("\x1b[1;31m", "\x1b[36m", "\x1b[0m")
        } else {
            ("", "", "")
        };
        let _ = writeln!(
            out,
            "{}{}{red}{} {error}{reset}",
            " ".repeat(PROMPT.len()),
            at.indent(),
            "^".repeat(at.width)
        );
        if let Some(hint) = error.hint() {
            let _ = writeln!(out, "{}{cyan}help: {hint}{reset}", " ".repeat(PROMPT.len()));
        }
        out
    }
}

fn engine_trouble(e: Error) -> Trouble {
    match e {
        Error::Expr(e) => Trouble::Expr(e),
        other => {
            let source = super::report::Source {
                name: "expression".into(),
                text: String::new(),
            };
            Trouble::Failure(Failure::from_engine(other, &source))
        }
    }
}

/// The input as it would have been typed, after its prompts.
fn echo(input: &str) -> String {
    let mut out = String::new();
    for (i, line) in input.lines().enumerate() {
        let _ = writeln!(out, "{}{line}", if i == 0 { PROMPT } else { MORE });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation() {
        assert!(incomplete("max(w"));
        assert!(incomplete("let m = mean(w);"));
        assert!(incomplete("let m = mean(w); # mean"));
        assert!(!incomplete("max(w)"));
        assert!(!incomplete("let m = mean(w);\nc - m"));
        assert!(!incomplete(":load a(b.png"));
        assert!(incomplete("max(\nw"));
    }

    #[test]
    fn bundled_image_loads() {
        let (image, _) = image_or_camera(None, &Limits::default()).unwrap();
        assert_eq!(image.shape(), &[512, 512]);
    }
}
