//! `check`, `ir`, `bench`, `completions`, `--version` and `--help`.

mod cli_support;

use cli_support::*;
use serde_json::Value;

fn stdout_of(args: &[&str]) -> String {
    let output = jitfilter().args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "jitfilter {args:?} failed:\n{stderr}"
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn check_prints_what_the_program_uses_and_the_typed_program() {
    let out = stdout_of(&[
        "check",
        "param r = 0.5; let m = mean(w); if c > m * r then x else median(w)",
    ]);
    assert!(out.starts_with("ok: "), "{out}");
    assert!(
        out.contains("uses       w, c, x") || out.contains("uses       w, c, x\n"),
        "{out}"
    );
    assert!(out.contains("functions  mean, median"), "{out}");
    assert!(out.contains("params     r = 0.5"), "{out}");
    assert!(
        out.contains("typed program:") && out.contains("<- result"),
        "{out}"
    );
}

#[test]
fn check_reads_kernel_files_and_reports_errors_with_exit_2() {
    let tmp = tempfile::TempDir::new().unwrap();
    let kf = tmp.path().join("k.kf");
    std::fs::write(&kf, "# comment\nmax(w) - min(w)\n").unwrap();
    let out = stdout_of(&["check", "-e", kf.to_str().unwrap()]);
    assert!(
        out.contains("k.kf") && out.contains("functions  max, min"),
        "{out}"
    );
    jitfilter().args(["check", "w"]).assert().code(2).stdout("");
    jitfilter().args(["check"]).assert().code(2);
    jitfilter()
        .args(["check", "c", "-e", kf.to_str().unwrap()])
        .assert()
        .code(2);
}

#[test]
fn ir_prints_cranelift_ir_with_a_header() {
    let out = stdout_of(&["ir", "max(w)", "-f", "disk:2"]);
    assert!(
        out.starts_with("; kernel: max(w)\n; footprint: disk:2 (13 cells in 2-D)\n"),
        "{out}"
    );
    assert!(out.contains("function") && out.contains("block0"), "{out}");
    jitfilter()
        .args(["ir", "max(w)", "-f", "disk"])
        .assert()
        .code(2);
    jitfilter().args(["ir", "max(w"]).assert().code(2);
}

#[test]
fn bench_json_has_the_documented_fields() {
    let out = stdout_of(&[
        "bench",
        "max(w)",
        data("coins.png").to_str().unwrap(),
        "-f",
        "disk:2",
        "--repeat",
        "3",
        "--threads",
        "1",
        "--json",
    ]);
    assert_eq!(out.lines().count(), 1, "one object on one line: {out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    for key in [
        "compile_ms",
        "compile_ms_min",
        "filter_ms",
        "filter_ms_min",
        "mpix_per_s",
    ] {
        assert!(v[key].as_f64().unwrap() > 0.0, "{key}: {v}");
    }
    assert!(v["filter_ms_min"].as_f64() <= v["filter_ms"].as_f64());
    assert_eq!(v["repeat"], 3);
    assert_eq!(v["threads"], 1);
    assert_eq!(v["pixels"], 384 * 303);
    assert_eq!(v["footprint_size"], 13);
    assert_eq!(v["shape"], serde_json::json!([303, 384]));
    assert_eq!(v["dtype"], "u8");
    assert_eq!(v["mode"], "reflect");
    assert_eq!(v["engine"], "auto");
    assert!(v["plan"].is_array(), "{v}");
    assert_eq!(v["expr"], "max(w)");
}

#[test]
fn bench_table_and_errors() {
    let out = stdout_of(&[
        "bench",
        "mean(w)",
        data("page.png").to_str().unwrap(),
        "--repeat",
        "2",
        "-m",
        "wrap",
    ]);
    assert!(
        out.contains("compile  median")
            && out.contains("filter   median")
            && out.contains("Mpixel/s"),
        "{out}"
    );
    jitfilter().args(["bench", "mean(w)"]).assert().code(2);
    jitfilter()
        .args(["bench", "mean(w)", "missing.png"])
        .assert()
        .code(1);
    jitfilter()
        .args([
            "bench",
            "mean(w)",
            data("page.png").to_str().unwrap(),
            "--repeat",
            "0",
        ])
        .assert()
        .code(2);
}

#[test]
fn completions_version_and_help() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = stdout_of(&["completions", shell]);
        assert!(
            script.contains("jitfilter") && script.contains("out-dir"),
            "{shell}"
        );
    }
    jitfilter().args(["completions", "tcsh"]).assert().code(2);
    let version = stdout_of(&["--version"]);
    assert_eq!(
        version.trim(),
        format!("jitfilter {}", env!("CARGO_PKG_VERSION"))
    );
    let help = stdout_of(&["--help"]);
    assert!(
        help.contains("Examples:") && help.contains("Exit status"),
        "{help}"
    );
    let apply_help = stdout_of(&["apply", "--help"]);
    for needle in [
        "--footprint",
        "--weights",
        "--mode",
        "--cval",
        "--origin",
        "--param",
        "--kernel-file",
        "--dtype",
        "--threads",
        "--time",
        "--quiet",
        "--out-dir",
        "--suffix",
        "Examples:",
    ] {
        assert!(apply_help.contains(needle), "apply --help lacks {needle}");
    }
}

/// `jitfilter ir ... | head -1` must not turn the closed pipe into an error.
#[test]
fn closed_stdout_is_not_an_error() {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("jitfilter"))
        .args(["completions", "zsh"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{stderr}");
    assert_no_panic(&stderr);
}
