//! `jitfilter repl`: try kernel expressions interactively on a loaded image.
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

mod complete;
mod view;

use super::args::{FootprintSpec, LimitArgs};
use super::report::Failure;
use super::setup::{self, ms};
use clap::Args;
use complete::ReplHelper;
use jitfilter::image_filter::Filter;
use jitfilter::imageio::{self, Image};
use jitfilter::{DType, Engine, Error, ExprError, Footprint, Kernel, Limits, Mode, Options};
use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::{CompletionType, Config, Editor};
use std::fmt::Write as _;
use std::io::{self, BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// The image `jitfilter repl` starts with when given none, so that it works anywhere.
static CAMERA_PNG: &[u8] = include_bytes!("../../tests/data/camera.png");

const PROMPT: &str = "jf> ";
const MORE: &str = "..> ";

/// The commands, for `:help` and completion.
pub(crate) const COMMANDS: &[(&str, &str, &str)] = &[
    (
        ":load",
        "PATH",
        "load an image or .npy array (`:load _` continues from the last result)",
    ),
    (
        ":save",
        "PATH",
        "write the last result `_` (.png .tif .tiff .jpg .jpeg .npy), atomically",
    ),
    (
        ":footprint",
        "SPEC",
        "box:N rect:WxH disk:R diamond:R ball:R file:PATH",
    ),
    (
        ":mode",
        "MODE [CVAL]",
        "reflect mirror nearest wrap constant (with CVAL, default 0)",
    ),
    (
        ":origin",
        "O[,O2...]",
        "shift the window: one value for all axes or one per axis",
    ),
    (
        ":param",
        "NAME=VALUE",
        "set a param (`param NAME = default;` in the program)",
    ),
    (
        ":params",
        "",
        "the last expression's params and their values",
    ),
    (":dtype", "TYPE", "output type: same u8 u16 i16 i32 f32 f64"),
    (":threads", "N|auto", "worker threads"),
    (":engine", "ENGINE", "auto fused callback interpreter"),
    (":ir", "", "the Cranelift IR of the last expression"),
    (":ast", "", "the typed program of the last expression"),
    (
        ":view",
        "[WIDTH]",
        "a preview of the last result (or the image) in the terminal",
    ),
    (":info", "", "the current image and settings"),
    (":help", "", "this list"),
    (":quit", "", "leave (or Ctrl-D)"),
];

#[derive(Debug, Args)]
pub struct ReplArgs {
    /// The image or .npy array to start with (default: the bundled camera.png, 512×512 grey)
    #[arg(value_name = "IMAGE")]
    pub image: Option<PathBuf>,
    #[command(flatten)]
    pub limits: LimitArgs,
}

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
    let (image, name) = match &args.image {
        Some(path) => (
            imageio::load_with(path, &limits).map_err(Failure::File)?,
            path.display().to_string(),
        ),
        None => (bundled_camera()?, "camera.png (bundled)".to_string()),
    };
    let interactive = io::stdin().is_terminal();
    install_interrupt_handler();
    let mut repl = Repl {
        image: Arc::new(image),
        image_name: name,
        footprint: "box:3".parse().expect("box:3 is a footprint"),
        footprint_spec: "box:3".into(),
        mode: Mode::Reflect,
        mode_name: "reflect".into(),
        cval: 0.0,
        origin: Vec::new(),
        params: Vec::new(),
        dtype: None,
        threads: None,
        engine: Engine::Auto,
        engine_name: "auto".into(),
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

/// The bundled camera.png, decoded by the same code as any file.
fn bundled_camera() -> Result<Image, Failure> {
    let failed = |e: io::Error| Failure::Runtime(format!("cannot unpack the bundled image: {e}"));
    let mut file = tempfile::Builder::new()
        .prefix(".jitfilter-camera-")
        .suffix(".png")
        .tempfile()
        .map_err(failed)?;
    file.write_all(CAMERA_PNG).map_err(failed)?;
    file.flush().map_err(failed)?;
    imageio::load(file.path()).map_err(Failure::File)
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
    footprint_spec: String,
    mode: Mode,
    mode_name: String,
    cval: f64,
    origin: Vec<isize>,
    /// Params set with `:param`, applied to every expression that declares them.
    params: Vec<(String, f64)>,
    dtype: Option<DType>,
    threads: Option<usize>,
    engine: Engine,
    engine_name: String,
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
            self.mode_name
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

    /// Compiles and applies an expression on a worker thread, so that Ctrl-C can stop waiting.
    fn expression(&mut self, text: &str) -> Result<String, Trouble> {
        enum Msg {
            Compiled(Result<Kernel, Error>, Duration),
            Filtered(Result<Image, Error>, Duration),
        }
        let (tx, rx) = mpsc::channel();
        let source = text.to_string();
        let image = self.image.clone();
        let footprint = self.footprint.clone();
        let mut options = Options::default()
            .mode(self.mode)
            .cval(self.cval)
            .origin(&self.origin)
            .engine(self.engine);
        match self.threads {
            Some(t) => options = options.threads(t),
            // An interrupted filter still occupies the shared pool: use a pool of our own.
            None if RUNNING.load(Ordering::SeqCst) > 0 => {
                let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
                options = options.threads(cores);
            }
            None => {}
        }
        let params = self.params.clone();
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
            let kernel = match Kernel::compile_with(&source, &limits) {
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
            let result =
                image.map_planes(|plane| plane.filter(&kernel, &footprint, &options, dtype));
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
                Ok(Msg::Filtered(Ok(result), filter_time)) => {
                    let line = format!(
                        "_ = {}  {}  (compile {:.2} ms, filter {:.2} ms)\n",
                        result.describe(),
                        stats(&result),
                        ms(compile_time),
                        ms(filter_time)
                    );
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
        let span = error.span();
        let start = floor_boundary(input, span.start);
        let end = floor_boundary(input, span.end.max(start));
        let line_index = input[..start].matches('\n').count();
        let line_start = input[..start].rfind('\n').map_or(0, |i| i + 1);
        let line = input[line_start..].lines().next().unwrap_or("");
        let line_end = line_start + line.len();
        let width = input[start..end.min(line_end).max(start)]
            .chars()
            .count()
            .max(1);
        let column = input[line_start..start].chars().count();
        let last_line = input.lines().count().saturating_sub(1);
        let mut out = String::new();
        let prompt = if line_index == 0 { PROMPT } else { MORE };
        if !self.interactive {
            // Everything up to the line in question, as it would have been typed.
            let upto = &input[..line_end];
            out.push_str(&echo(upto));
        } else if line_index < last_line {
            let _ = writeln!(out, "{prompt}{line}");
        }
        let (red, cyan, reset) = if self.colour {
            ("\x1b[1;31m", "\x1b[36m", "\x1b[0m")
        } else {
            ("", "", "")
        };
        let _ = writeln!(
            out,
            "{}{red}{} {error}{reset}",
            " ".repeat(PROMPT.len() + column),
            "^".repeat(width)
        );
        if let Some(hint) = error.hint() {
            let _ = writeln!(out, "{}{cyan}help: {hint}{reset}", " ".repeat(PROMPT.len()));
        }
        out
    }

    fn command(&mut self, line: &str) -> Result<String, Trouble> {
        let (name, arg) = match line.split_once(char::is_whitespace) {
            Some((n, a)) => (n, a.trim()),
            None => (line, ""),
        };
        let no_arg = |out: String| {
            if arg.is_empty() {
                Ok(out)
            } else {
                Err(usage(format!("{name} takes no argument"), None))
            }
        };
        match name {
            ":help" | ":h" | ":?" => no_arg(help()),
            ":quit" | ":q" | ":exit" => {
                self.quit = true;
                no_arg(String::new())
            }
            ":load" => self.load(arg),
            ":save" => self.save(arg),
            ":footprint" | ":fp" => self.set_footprint(arg),
            ":mode" => self.set_mode(arg),
            ":origin" => self.set_origin(arg),
            ":param" => self.set_param(arg),
            ":params" => no_arg(self.show_params()),
            ":dtype" => self.set_dtype(arg),
            ":threads" => self.set_threads(arg),
            ":engine" => self.set_engine(arg),
            ":ir" => {
                let kernel = self.last_kernel()?;
                let ir = kernel
                    .cranelift_ir()
                    .map_err(|e| Trouble::Failure(Failure::Runtime(e.to_string())))?;
                no_arg(format!("; kernel: {}\n{ir}", kernel.source().trim()))
            }
            ":ast" => {
                let kernel = self.last_kernel()?;
                no_arg(format!("{}", kernel.program()))
            }
            ":view" => self.view(arg),
            ":info" => no_arg(self.info()),
            _ => {
                let known: Vec<&str> = COMMANDS.iter().map(|c| c.0).collect();
                let hint = jitfilter::check::closest(name, &known)
                    .map(|s| format!("did you mean `{s}`? (:help lists the commands)"));
                Err(usage(
                    format!("unknown command `{name}`"),
                    Some(hint.as_deref().unwrap_or(":help lists the commands")),
                ))
            }
        }
    }

    fn last_kernel(&self) -> Result<&Kernel, Trouble> {
        self.kernel
            .as_ref()
            .ok_or_else(|| usage("no expression yet", Some("type one, e.g. max(w)")))
    }

    fn load(&mut self, arg: &str) -> Result<String, Trouble> {
        if arg.is_empty() {
            return Err(usage(":load needs a PATH (or _ for the last result)", None));
        }
        if arg == "_" {
            let result = self
                .result
                .clone()
                .ok_or_else(|| usage("no result yet", Some("type an expression first")))?;
            self.image = result;
            self.image_name = "_ (the last result)".into();
        } else {
            let path = Path::new(arg);
            self.image = Arc::new(imageio::load_with(path, &self.limits).map_err(Failure::File)?);
            self.image_name = path.display().to_string();
        }
        Ok(format!(
            "loaded {}: {}\n",
            self.image_name,
            self.image.describe()
        ))
    }

    fn save(&mut self, arg: &str) -> Result<String, Trouble> {
        if arg.is_empty() {
            return Err(usage(":save needs a PATH", Some("e.g. :save out.png")));
        }
        let result = self
            .result
            .as_ref()
            .ok_or_else(|| usage("nothing to save yet", Some("type an expression first")))?;
        let path = Path::new(arg);
        imageio::save_atomic(path, result).map_err(Failure::File)?;
        Ok(format!(
            "saved _ ({}) to {}\n",
            result.describe(),
            path.display()
        ))
    }

    fn set_footprint(&mut self, arg: &str) -> Result<String, Trouble> {
        if arg.is_empty() {
            return Ok(format!("footprint {}\n", self.footprint_spec));
        }
        let footprint = match arg.strip_prefix("file:") {
            Some(path) if !path.is_empty() => setup::footprint(
                &FootprintSpec::File(PathBuf::from(path)),
                None,
                &self.limits,
            )?,
            _ => arg
                .parse::<Footprint>()
                .map_err(|e| usage(e.to_string(), Some("or file:PATH for a mask")))?,
        };
        let ndim = footprint.ndim().unwrap_or(self.image.shape().len());
        let cells = footprint
            .resolve(ndim, &self.limits)
            .map(|r| r.cells.len())
            .map_err(engine_trouble)?;
        self.footprint = footprint;
        self.footprint_spec = arg.to_string();
        Ok(format!("footprint {arg} ({cells} cells)\n"))
    }

    fn set_mode(&mut self, arg: &str) -> Result<String, Trouble> {
        let mut words = arg.split_whitespace();
        let Some(name) = words.next() else {
            return Ok(self.mode_line());
        };
        let mode: Mode = name
            .parse()
            .map_err(|e: Error| usage(e.to_string(), None))?;
        let cval = match words.next() {
            Some(v) => v
                .parse::<f64>()
                .map_err(|_| usage(format!("`{v}` is not a number"), Some(":mode constant 0")))?,
            None => 0.0,
        };
        if let Some(extra) = words.next() {
            return Err(usage(
                format!("unexpected `{extra}`"),
                Some("usage: :mode MODE [CVAL]"),
            ));
        }
        self.mode = mode;
        self.mode_name = name.to_string();
        self.cval = cval;
        Ok(self.mode_line())
    }

    fn mode_line(&self) -> String {
        if self.mode == Mode::Constant {
            format!("mode {} (cval {})\n", self.mode_name, num(self.cval))
        } else {
            format!("mode {}\n", self.mode_name)
        }
    }

    fn set_origin(&mut self, arg: &str) -> Result<String, Trouble> {
        if !arg.is_empty() {
            self.origin = arg
                .split(',')
                .map(|o| {
                    o.trim().parse::<isize>().map_err(|_| {
                        usage(
                            format!("`{o}` is not a whole number"),
                            Some("usage: :origin O or :origin O1,O2"),
                        )
                    })
                })
                .collect::<Result<_, _>>()?;
        }
        Ok(format!("origin {}\n", self.origin_text()))
    }

    fn origin_text(&self) -> String {
        if self.origin.is_empty() {
            "0".into()
        } else {
            self.origin
                .iter()
                .map(|o| o.to_string())
                .collect::<Vec<_>>()
                .join(",")
        }
    }

    fn set_param(&mut self, arg: &str) -> Result<String, Trouble> {
        let bad = || usage("expected NAME=VALUE", Some("e.g. :param r=0.3"));
        let (name, value) = arg.split_once('=').ok_or_else(bad)?;
        let name = name.trim();
        if name.is_empty() {
            return Err(bad());
        }
        let value: f64 = value
            .trim()
            .parse()
            .map_err(|_| usage(format!("`{}` is not a number", value.trim()), None))?;
        self.params.retain(|(n, _)| n != name);
        self.params.push((name.to_string(), value));
        let declared = self
            .kernel
            .as_ref()
            .is_some_and(|k| k.params().iter().any(|p| p.name == name));
        Ok(if declared || self.kernel.is_none() {
            format!("{name} = {}\n", num(value))
        } else {
            format!(
                "{name} = {} (the last expression does not declare it; kept for those that do)\n",
                num(value)
            )
        })
    }

    fn show_params(&self) -> String {
        let mut out = String::new();
        if let Some(kernel) = &self.kernel {
            if kernel.params().is_empty() {
                out.push_str("the last expression declares no params\n");
            }
            for p in kernel.params() {
                match self.params.iter().find(|(n, _)| *n == p.name) {
                    Some((_, v)) => {
                        let _ =
                            writeln!(out, "{} = {} (default {})", p.name, num(*v), num(p.default));
                    }
                    None => {
                        let _ = writeln!(out, "{} = {} (default)", p.name, num(p.default));
                    }
                }
            }
        } else {
            out.push_str("no expression yet\n");
        }
        for (name, v) in &self.params {
            if !self
                .kernel
                .as_ref()
                .is_some_and(|k| k.params().iter().any(|p| &p.name == name))
            {
                let _ = writeln!(
                    out,
                    "{name} = {} (set, not declared by the last expression)",
                    num(*v)
                );
            }
        }
        out
    }

    fn set_dtype(&mut self, arg: &str) -> Result<String, Trouble> {
        if !arg.is_empty() {
            self.dtype = match arg {
                "same" => None,
                "u8" => Some(DType::U8),
                "u16" => Some(DType::U16),
                "i16" => Some(DType::I16),
                "i32" => Some(DType::I32),
                "f32" => Some(DType::F32),
                "f64" => Some(DType::F64),
                other => {
                    return Err(usage(
                        format!("unknown dtype `{other}`"),
                        Some("same, u8, u16, i16, i32, f32 or f64"),
                    ))
                }
            };
        }
        Ok(format!("dtype {}\n", self.dtype_text()))
    }

    fn dtype_text(&self) -> String {
        match self.dtype {
            None => format!("same (the image's: {})", self.image.dtype()),
            Some(t) => t.to_string(),
        }
    }

    fn set_threads(&mut self, arg: &str) -> Result<String, Trouble> {
        match arg {
            "" => {}
            "auto" => self.threads = None,
            n => match n.parse::<usize>() {
                Ok(n) if (1..=1024).contains(&n) => self.threads = Some(n),
                _ => {
                    return Err(usage(
                        format!("`{n}` is not a number of threads"),
                        Some("1 to 1024, or auto (one per core)"),
                    ))
                }
            },
        }
        Ok(format!("threads {}\n", self.threads_text()))
    }

    fn threads_text(&self) -> String {
        self.threads
            .map_or("auto (one per core)".into(), |t| t.to_string())
    }

    fn set_engine(&mut self, arg: &str) -> Result<String, Trouble> {
        if !arg.is_empty() {
            self.engine = arg.parse().map_err(|e: Error| usage(e.to_string(), None))?;
            self.engine_name = arg.to_string();
        }
        Ok(format!("engine {}\n", self.engine_name))
    }

    fn view(&mut self, arg: &str) -> Result<String, Trouble> {
        let width = match arg {
            "" => self.width.map_or(64, |w| w.saturating_sub(1).clamp(8, 64)),
            w => w
                .parse::<usize>()
                .ok()
                .filter(|w| (1..=1000).contains(w))
                .ok_or_else(|| usage(format!("`{w}` is not a width"), Some("e.g. :view 48")))?,
        };
        let (image, what) = match &self.result {
            Some(r) => (r.clone(), "_"),
            None => (self.image.clone(), "the image"),
        };
        Ok(view::preview(&image, what, width, self.colour))
    }

    fn info(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "image     {} ({})",
            self.image_name,
            self.image.describe()
        );
        let _ = writeln!(out, "footprint {}", self.footprint_spec);
        let _ = write!(
            out,
            "{}",
            self.mode_line().replacen("mode ", "mode      ", 1)
        );
        let _ = writeln!(out, "origin    {}", self.origin_text());
        let _ = writeln!(out, "dtype     {}", self.dtype_text());
        let _ = writeln!(out, "threads   {}", self.threads_text());
        let _ = writeln!(out, "engine    {}", self.engine_name);
        if let Some(k) = &self.kernel {
            let _ = writeln!(out, "last      {}", k.source().trim().replace('\n', " "));
        }
        if let Some(r) = &self.result {
            let _ = writeln!(out, "_         {}  {}", r.describe(), stats(r));
        }
        out
    }
}

fn help() -> String {
    let mut out = String::from(
        "Type a kernel expression to apply it to the image, e.g. max(w), median(w),\n\
         let m = mean(w); (c - m) / std(w). Input continues on the next line while a\n\
         bracket is open or the line ends with `;`. The result is kept as `_`.\n\n",
    );
    for (name, arg, what) in COMMANDS {
        let _ = writeln!(out, "  {:<24}{what}", format!("{name} {arg}"));
    }
    out.push_str(
        "\nTab completes names, functions, params and commands. Ctrl-C clears the line or\n\
                  stops waiting for a filter; Ctrl-D quits. docs/language.md has the language.\n",
    );
    out
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

fn floor_boundary(text: &str, mut i: usize) -> usize {
    i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// `min … mean … max …` over the colour planes (NaNs counted apart).
fn stats(image: &Image) -> String {
    let (mut lo, mut hi, mut sum, mut n, mut nans) =
        (f64::INFINITY, f64::NEG_INFINITY, 0.0, 0usize, 0usize);
    for plane in image.planes() {
        for &v in plane.to_f64().iter() {
            if v.is_nan() {
                nans += 1;
            } else {
                lo = lo.min(v);
                hi = hi.max(v);
                sum += v;
                n += 1;
            }
        }
    }
    let mut s = if n == 0 {
        "min nan  mean nan  max nan".to_string()
    } else {
        format!(
            "min {}  mean {}  max {}",
            num(lo),
            num(sum / n as f64),
            num(hi)
        )
    };
    if nans > 0 && n > 0 {
        let _ = write!(s, "  ({nans} NaN)");
    }
    s
}

/// A number for people: whole numbers as such, others with up to 4 decimals.
pub(crate) fn num(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    if v.fract() == 0.0 && v.abs() < 1e15 {
        return format!("{v:.0}");
    }
    if v.abs() >= 1e-3 && v.abs() < 1e9 {
        let s = format!("{v:.4}");
        return s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{v:.4e}")
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
    fn numbers() {
        assert_eq!(num(3.0), "3");
        assert_eq!(num(118.34567), "118.3457");
        assert_eq!(num(0.5), "0.5");
        assert_eq!(num(1e-7), "1.0000e-7");
        assert_eq!(num(f64::NAN), "NaN");
    }

    #[test]
    fn bundled_image_loads() {
        let image = bundled_camera().unwrap();
        assert_eq!(image.shape(), &[512, 512]);
    }
}
