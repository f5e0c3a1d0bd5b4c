//! The `jitfilter` command: see `jitfilter --help` and docs/cli.md.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
