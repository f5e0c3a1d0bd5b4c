//! `jitfilter repl` on a pseudo-terminal: the rustyline editor with completion, history, Ctrl-C
//! and Ctrl-D, as a person would use it.

#![cfg(unix)]

mod cli_support;

use cli_support::data;
use jitfilter::image_filter::Filter;
use jitfilter::imageio;
use jitfilter::{Footprint, Kernel, Options};
use rexpect::reader::Options as ReaderOptions;
use rexpect::session::{spawn_with_options, PtySession};
use std::path::Path;
use std::process::Command;

/// The REPL on a terminal, started in `dir` with its history in `dir/history`.
fn start(dir: &Path, colour: bool, args: &[&str]) -> PtySession {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_jitfilter"));
    cmd.arg("repl")
        .args(args)
        .current_dir(dir)
        .env("TERM", "xterm-256color")
        .env("JITFILTER_HISTORY", dir.join("history"))
        .env_remove("CLICOLOR_FORCE");
    if colour {
        cmd.env_remove("NO_COLOR");
    } else {
        cmd.env("NO_COLOR", "1");
    }
    let mut p = spawn_with_options(cmd, ReaderOptions::new().timeout_ms(Some(60_000)))
        .expect("the REPL starts on a pty");
    p.exp_string("Ctrl-D to quit").unwrap();
    p.exp_string("jf> ").unwrap();
    p
}

/// rexpect reads the terminal byte by byte, one `char` per byte: `latin1` spells text as it
/// reads it, `utf8` turns what it read back into text.
fn latin1(s: &str) -> String {
    s.bytes().map(char::from).collect()
}

fn utf8(s: &str) -> String {
    String::from_utf8(s.chars().map(|c| c as u8).collect()).expect("UTF-8 output")
}

/// Types `keys` without Enter.
fn send(p: &mut PtySession, keys: &str) {
    p.send(keys).unwrap();
    p.flush().unwrap();
}

/// Waits for the next result line and returns it (`_ = …`).
fn result_line(p: &mut PtySession) -> String {
    let (_, line) = p
        .exp_regex(r"_ = [^\r\n]*\(compile [0-9.]+ ms, filter [0-9.]+ ms\)")
        .unwrap();
    p.exp_string("jf> ").unwrap();
    utf8(&line)
}

#[test]
fn a_session_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = start(dir.path(), false, &[]);

    // An expression.
    p.send_line("max(w)").unwrap();
    let box3 = result_line(&mut p);
    assert!(box3.starts_with("_ = 512×512 u8 grey  min "), "{box3}");

    // An error: the caret sits under `foo`, counted from the start of the prompt line.
    p.send_line("max(w) + foo").unwrap();
    let (before, _) = p.exp_regex(r"\^\^\^ unknown name `foo`").unwrap();
    let caret_line = before.rsplit('\n').next().unwrap();
    assert_eq!(caret_line, " ".repeat("jf> max(w) + ".len()), "{before:?}");
    p.exp_string("help: built-in names are").unwrap();
    p.exp_string("jf> ").unwrap();

    // A footprint change changes the result.
    p.send_line(":footprint disk:5").unwrap();
    p.exp_string("footprint disk:5 (81 cells)").unwrap();
    p.exp_string("jf> ").unwrap();
    p.send_line("max(w)").unwrap();
    let disk5 = result_line(&mut p);
    assert_ne!(box3, disk5);

    // :save, then the file holds the library's result.
    p.send_line(":save out.png").unwrap();
    p.exp_string(&latin1("saved _ (512×512 u8 grey) to out.png"))
        .unwrap();
    p.exp_string("jf> ").unwrap();
    let camera = imageio::load(&data("camera.png")).unwrap();
    let kernel = Kernel::compile("max(w)").unwrap();
    let want = camera
        .filter(
            &kernel,
            &Footprint::disk(5),
            &Options::default(),
            camera.dtype(),
        )
        .unwrap();
    assert_eq!(imageio::load(&dir.path().join("out.png")).unwrap(), want);

    // Completion of a partial function name (with its bracket) and of a command.
    send(&mut p, "medi");
    send(&mut p, "\t");
    p.exp_string("median(").unwrap();
    p.send_line("w)").unwrap();
    let median = result_line(&mut p);
    assert_ne!(median, disk5);
    send(&mut p, ":foot\t");
    p.exp_string(":footprint ").unwrap();
    p.send_line("box:3").unwrap();
    p.exp_string("footprint box:3 (9 cells)").unwrap();
    p.exp_string("jf> ").unwrap();

    // Ctrl-C clears the line: `garbage` is never evaluated.
    send(&mut p, "garbage");
    p.send_control('c').unwrap();
    p.exp_string("jf> ").unwrap();
    p.send_line("max(w)").unwrap();
    let again = result_line(&mut p);
    assert_eq!(again.split("  (").next(), box3.split("  (").next());

    // Multi-line input: `;` at the end of a line asks for more.
    p.send_line("let m = mean(w);").unwrap();
    p.exp_string("..> ").unwrap();
    p.send_line("c - m").unwrap();
    result_line(&mut p);

    // Ctrl-D quits, and the history is saved.
    p.send_control('d').unwrap();
    p.exp_eof().unwrap();
    let history = std::fs::read_to_string(dir.path().join("history")).unwrap();
    assert!(history.contains("median(w)"), "{history}");
    assert!(history.contains(":footprint disk:5"), "{history}");
    assert!(!history.contains("garbage"), "{history}");
}

#[test]
fn ctrl_c_stops_waiting_for_a_long_filter() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = start(dir.path(), false, &[]);
    // The interpreter over 41×41 windows takes far longer than this test waits.
    p.send_line(":engine interpreter").unwrap();
    p.exp_string("jf> ").unwrap();
    p.send_line(":footprint box:41").unwrap();
    p.exp_string("jf> ").unwrap();
    p.send_line("median(w) + std(w)").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    p.send_control('c').unwrap();
    p.exp_string("interrupted: the result is discarded")
        .unwrap();
    p.exp_string("jf> ").unwrap();
    // The REPL goes on.
    p.send_line(":info").unwrap();
    p.exp_string("engine    interpreter").unwrap();
    p.exp_string("jf> ").unwrap();
    p.send_control('d').unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn view_in_colour_uses_half_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = start(dir.path(), true, &[data("coins.png").to_str().unwrap()]);
    p.send_line(":view 24").unwrap();
    p.exp_string("the image: ").unwrap();
    p.exp_string("\x1b[38;2;").unwrap();
    p.exp_string(&latin1("▀")).unwrap();
    p.exp_string("jf> ").unwrap();
    p.send_line(":quit").unwrap();
    p.exp_eof().unwrap();
}
