//! `jitfilter repl` driven through a pipe: no line editor, no colour, scriptable.

mod cli_support;

use cli_support::{assert_no_panic, data, jitfilter};
use jitfilter::image_filter::Filter;
use jitfilter::imageio::{self, Image};
use jitfilter::{Footprint, Kernel, Mode, Options};
use std::path::Path;

struct Run {
    stdout: String,
    stderr: String,
    code: Option<i32>,
}

/// Runs the REPL on `image` (None: the bundled camera) with `script` as stdin, in `dir`.
fn repl(image: Option<&Path>, script: &str, dir: &Path) -> Run {
    let mut cmd = jitfilter();
    cmd.arg("repl")
        .current_dir(dir)
        .env("JITFILTER_HISTORY", "");
    if let Some(image) = image {
        cmd.arg(image);
    }
    let out = cmd.write_stdin(script).output().unwrap();
    let run = Run {
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
        code: out.status.code(),
    };
    assert_no_panic(&run.stderr);
    assert!(
        !run.stdout.contains('\x1b') && !run.stderr.contains('\x1b'),
        "colour in piped output:\n{}{}",
        run.stdout,
        run.stderr
    );
    run
}

/// What the library makes of the camera with `source` and `footprint`.
fn expected(source: &str, footprint: &Footprint, options: &Options) -> Image {
    let camera = imageio::load(&data("camera.png")).unwrap();
    let kernel = Kernel::compile(source).unwrap();
    camera
        .filter(&kernel, footprint, options, camera.dtype())
        .unwrap()
}

#[test]
fn expression_prints_stats_and_save_writes_the_result() {
    let dir = tempfile::tempdir().unwrap();
    // No IMAGE: the bundled camera.png.
    let run = repl(None, "max(w)\n:save out.png\n", dir.path());
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("_ = "))
        .unwrap_or_else(|| panic!("no result line:\n{}", run.stdout));
    assert!(
        line.starts_with("_ = 512×512 u8 grey  min ") && line.contains("  max 255  (compile "),
        "{line}"
    );
    assert!(
        line.contains(" ms, filter ") && line.ends_with(" ms)"),
        "{line}"
    );
    assert!(run.stdout.contains("saved _ (512×512 u8 grey) to out.png"));
    let saved = imageio::load(&dir.path().join("out.png")).unwrap();
    let want = expected("max(w)", &"box:3".parse().unwrap(), &Options::default());
    assert_eq!(saved, want);
    // The mean printed is the saved image's.
    let mean: f64 = saved.planes()[0].to_f64().mean().unwrap();
    assert!(
        line.contains(&format!("mean {}", (mean * 1e4).round() / 1e4)),
        "{line} vs {mean}"
    );
}

#[test]
fn an_error_shows_a_caret_under_its_column_and_the_repl_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let run = repl(None, "max(w) + foo\nmean(w)\n", dir.path());
    assert!(
        run.stderr.contains(
            "jf> max(w) + foo\n             ^^^ unknown name `foo`\n    help: built-in names are w c k"
        ),
        "{}",
        run.stderr
    );
    assert!(run.stdout.contains("_ = 512×512 u8 grey"), "{}", run.stdout);
    // A script with a failed line exits 1.
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr.contains("1 of 2 inputs failed"),
        "{}",
        run.stderr
    );
}

#[test]
fn carets_for_a_missing_bracket_and_a_later_line() {
    let dir = tempfile::tempdir().unwrap();
    // A line ending with `;` continues onto the next; an error there is shown after `..>`.
    let run = repl(None, "let m = mean(w);\nm + sqrt(c, 2)\n", dir.path());
    assert!(
        run.stderr
            .contains("jf> let m = mean(w);\n..> m + sqrt(c, 2)\n        ^^^^ `sqrt` takes 1 argument(s), got 2"),
        "{}",
        run.stderr
    );
    // An unclosed bracket continues too.
    let run = repl(None, "max(w\n)\n", dir.path());
    assert!(run.stdout.contains("_ = 512×512 u8 grey"), "{}", run.stdout);
    let run = repl(None, "max(w) +\n", dir.path());
    assert!(
        run.stderr
            .contains("jf> max(w) +\n            ^ syntax error"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_footprint_change_changes_the_result() {
    let dir = tempfile::tempdir().unwrap();
    let script = "min(w)\n:save a.png\n:footprint disk:4\nmin(w)\n:save b.png\n:footprint\n";
    let run = repl(Some(&data("camera.png")), script, dir.path());
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("footprint disk:4 (49 cells)"),
        "{}",
        run.stdout
    );
    let results: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("_ = "))
        .collect();
    assert_eq!(results.len(), 2);
    assert_ne!(results[0], results[1]);
    let a = imageio::load(&dir.path().join("a.png")).unwrap();
    let b = imageio::load(&dir.path().join("b.png")).unwrap();
    assert_ne!(a, b);
    assert_eq!(
        b,
        expected("min(w)", &Footprint::disk(4), &Options::default())
    );
    // A larger footprint erodes further.
    let (a, b) = (a.planes()[0].to_f64(), b.planes()[0].to_f64());
    assert!(a.iter().zip(b.iter()).all(|(a, b)| b <= a));
}

#[test]
fn a_params_range_shows_and_holds() {
    let dir = tempfile::tempdir().unwrap();
    let script =
        "param h = 1 in 0 .. 3; h * c\n:params\n:param h=4\nparam h = 1 in 0 .. 3; h * c\n";
    let run = repl(Some(&data("camera.png")), script, dir.path());
    assert!(
        run.stdout.contains("h = 1 (default, in 0 .. 3)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr
            .contains("param `h` = 4 is outside its declared range 0 .. 3"),
        "{}",
        run.stderr
    );
    assert_eq!(run.code, Some(1), "one input failed");
}

#[test]
fn mode_origin_params_and_dtype() {
    let dir = tempfile::tempdir().unwrap();
    let script = "\
:mode constant 7
:origin 1
param g = 2;
g * max(w)

:params
:param g=0.5
:params
param g = 2; g * max(w)
:save g.npy
:dtype f64
param g = 2; g * max(w)
:save g64.npy
";
    let run = repl(Some(&data("camera.png")), script, dir.path());
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    for want in [
        "mode constant (cval 7)",
        "origin 1",
        "g = 2 (default)",
        "g = 0.5 (default 2)",
        "dtype f64",
    ] {
        assert!(run.stdout.contains(want), "no `{want}` in\n{}", run.stdout);
    }
    let options = Options::default()
        .mode(Mode::Constant)
        .cval(7.0)
        .origin(&[1])
        .param("g", 0.5);
    let want = expected("param g = 2;\ng * max(w)", &Footprint::rect(3, 3), &options);
    let got = imageio::load(&dir.path().join("g.npy")).unwrap();
    assert_eq!(got.planes(), want.planes());
    let camera = imageio::load(&data("camera.png")).unwrap();
    let kernel = Kernel::compile("param g = 2; g * max(w)").unwrap();
    let exact = camera
        .filter(
            &kernel,
            &Footprint::rect(3, 3),
            &options,
            jitfilter::DType::F64,
        )
        .unwrap();
    let got64 = imageio::load(&dir.path().join("g64.npy")).unwrap();
    assert_eq!(got64.planes()[0], exact.planes()[0]);
}

#[test]
fn load_view_ir_ast_info_help() {
    let dir = tempfile::tempdir().unwrap();
    let script = "\
:help
:view 16
c / 2
:load _
:info
:ir
:ast
:view 16
";
    let run = repl(None, script, dir.path());
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    let out = &run.stdout;
    for want in [
        ":footprint SPEC",
        ":quit",
        "the image: 512×512 u8; black = ",
        "loaded _ (the last result): 512×512 u8 grey",
        "image     _ (the last result)",
        "last      c / 2",
        "; kernel: c / 2",
        "function",
        "_: 512×512 u8; black = ",
    ] {
        assert!(out.contains(want), "no `{want}` in\n{out}");
    }
    // Previews: 16 characters wide, 8 lines (a square image, cells twice as tall as wide), grey
    // levels from the ramp.
    let preview: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("the image:"))
        .skip(1)
        .take(8)
        .collect();
    assert!(
        preview.iter().all(|l| l.chars().count() == 16),
        "{preview:#?}"
    );
    assert!(preview
        .iter()
        .all(|l| l.chars().all(|c| " .:-=+*#%@".contains(c))));
}

#[test]
fn bad_commands_are_reported_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let script = "\
:save early.png
:ir
:fotprint disk:2
:footprint disk
:mode sideways
:dtype f32
max(w)
:save out.png
:load missing.png
:threads 0
:param r
:quit
max(w)
";
    let run = repl(None, script, dir.path());
    assert_eq!(run.code, Some(1));
    let err = &run.stderr;
    // Each failure names its input.
    assert!(
        err.contains("jf> :fotprint disk:2\n  x unknown command `:fotprint`"),
        "{err}"
    );
    for want in [
        "nothing to save yet",
        "no expression yet",
        "unknown command `:fotprint`",
        "did you mean `:footprint`?",
        "bad footprint",
        "unknown boundary mode `sideways`",
        "add :dtype u8",
        "missing.png",
        "is not a number of threads",
        "expected NAME=VALUE",
        "9 of 12 inputs failed",
    ] {
        assert!(err.contains(want), "no `{want}` in\n{err}");
    }
    // :quit stops before the last line.
    assert_eq!(run.stdout.matches("_ = ").count(), 1, "{}", run.stdout);
    assert!(!dir.path().join("out.png").exists());
}

#[test]
fn a_missing_image_fails_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = jitfilter()
        .args(["repl", "no-such.png"])
        .current_dir(dir.path())
        .write_stdin("max(w)\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such.png"));
}

/// Starts the REPL on a script whose third line is a filter that runs for many seconds (the
/// interpreter over 41×41 windows), and sends `signal` once it has begun.
#[cfg(unix)]
fn signal_during_long_filter(signal: i32) -> std::process::Output {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_jitfilter"))
        .arg("repl")
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .env("JITFILTER_HISTORY", "")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let script =
        ":engine interpreter\n:footprint box:41\nmedian(w) + std(w)\n:engine auto\nmax(w)\n";
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    // SAFETY: signalling our own child process.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
    child.wait_with_output().unwrap()
}

#[cfg(unix)]
#[test]
fn sigint_stops_waiting_for_a_filter_and_the_script_goes_on() {
    let out = signal_during_long_filter(libc::SIGINT);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("interrupted: the result is discarded"),
        "{stderr}"
    );
    // The next lines ran, and the interrupted one counts as failed.
    assert_eq!(stdout.matches("_ = ").count(), 1, "{stdout}");
    assert!(stderr.contains("1 of 5 inputs failed"), "{stderr}");
    assert_eq!(out.status.code(), Some(1));
}

#[cfg(unix)]
#[test]
fn sigterm_still_ends_the_repl() {
    use std::os::unix::process::ExitStatusExt;
    let out = signal_during_long_filter(libc::SIGTERM);
    assert_eq!(out.status.signal(), Some(libc::SIGTERM), "{out:?}");
}

#[test]
fn stages_shows_the_passes_and_view_shows_a_stage() {
    let dir = tempfile::tempdir().unwrap();
    let script = "\
:stages
stage e = min(w) over disk:5; mean(w) over box:3 - max(e) over disk:5
:stages
:view e 16
:view mean(w) over box:3 16
:view nope
";
    let run = repl(None, script, dir.path());
    // `:view nope` fails, so the piped session exits 1.
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    let out = &run.stdout;
    for want in [
        "no expression yet",
        "stage e over disk:5: a whole image, then read as an input",
        "stage mean(w) over box:3: a whole image, then read as an input",
        "result over disk:5:",
        "e: 512×512 f64; black = ",
        "mean(w) over box:3: 512×512 f64; black = ",
    ] {
        assert!(out.contains(want), "no `{want}` in\n{out}");
    }
    assert!(
        run.stderr
            .contains("the last expression has no stage `nope`")
            && run.stderr.contains("its stages: e, mean(w) over box:3"),
        "{}",
        run.stderr
    );
    // The preview of `e` is of the stage, not of the result: it differs from `:view` of `_`.
    let preview = |after: &str| -> Vec<String> {
        out.lines()
            .skip_while(|l| !l.starts_with(after))
            .skip(1)
            .take(8)
            .map(String::from)
            .collect()
    };
    let stage = preview("e: ");
    assert_eq!(stage.len(), 8);
    assert_ne!(stage, preview("mean(w) over box:3: "));
}
