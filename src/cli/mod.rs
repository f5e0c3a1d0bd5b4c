//! The command-line tool. `main` parses the arguments, runs one subcommand, prints what failed
//! and turns it into the exit code: 0 success, 1 runtime or file error, 2 usage or expression
//! error. A panic is a bug; it is reported in one line and exits 1, without a backtrace.

mod apply;
mod args;
mod bench;
mod inspect;
mod progress;
mod repl;
mod report;
mod setup;
mod studio;

use args::{Cli, Command};
use clap::{CommandFactory, Parser};
use report::{Failure, EXIT_FAILURE};
use std::io::Write;
use std::panic::{self, AssertUnwindSafe};
use std::process::ExitCode;

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            if e.use_stderr() {
                if let Some(expr) = hyphen_expression(std::env::args().skip(2)) {
                    let sub = std::env::args().nth(1).unwrap_or_default();
                    let example = match sub.as_str() {
                        "apply" => format!("apply -f disk:3 -- '{expr}' IN OUT"),
                        "bench" => format!("bench -f disk:3 -- '{expr}' IN"),
                        _ => format!("{sub} -- '{expr}'"),
                    };
                    Failure::usage(
                        format!("`{expr}` was read as options because it starts with `-`"),
                        Some(&format!(
                            "wrap the expression in parentheses, '({expr})', or put it after `--`, which ends the options (so give them first: jitfilter {example})"
                        )),
                    )
                    .print();
                    return ExitCode::from(e.exit_code() as u8);
                }
            }
            // Help and --version (exit 0) go to stdout, errors (exit 2) to stderr.
            let _ = e.print();
            return ExitCode::from(e.exit_code() as u8);
        }
    };
    panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("jitfilter: internal error: {message}{place}\nThis is a bug; please report it with the command that caused it.");
    }));
    match panic::catch_unwind(AssertUnwindSafe(|| run(&cli))) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(failure)) => {
            failure.print();
            ExitCode::from(failure.exit_code())
        }
        // The hook has reported it.
        Err(_) => ExitCode::from(EXIT_FAILURE),
    }
}

/// An argument that starts with one `-` but reads as an expression (`-mean(w)`, `-c + 1`):
/// clap takes it for short options, so its error would be about an option the user never meant.
fn hyphen_expression(args: impl Iterator<Item = String>) -> Option<String> {
    args.into_iter().find(|a| {
        a.starts_with('-')
            && !a.starts_with("--")
            && a.len() > 2
            && a.contains(|ch: char| "() +*/^<>=!&|".contains(ch))
    })
}

fn run(cli: &Cli) -> Result<(), Failure> {
    match &cli.command {
        Command::Apply(args) => {
            // Interrupted (SIGINT, SIGTERM, SIGHUP): remove the temporary file being written;
            // finished outputs are whole and unfinished ones were never touched.
            let _ = ctrlc::set_handler(|| {
                jitfilter::imageio::remove_temporary_files();
                std::process::exit(130);
            });
            apply::run(args)
        }
        Command::Check(args) => print(&inspect::check(args)?),
        Command::Ir(args) => print(&inspect::ir(args)?),
        Command::Bench(args) => print(&bench::run(args)?),
        Command::Repl(args) => repl::run(args),
        Command::Studio(args) => studio::run(args),
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "jitfilter", &mut script);
            print(&String::from_utf8_lossy(&script))
        }
    }
}

/// Writes to stdout; a closed pipe (`jitfilter ir ... | head`) is not an error.
fn print(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Failure::Runtime(format!("cannot write to stdout: {e}")))
        }
        _ => Ok(()),
    }
}
