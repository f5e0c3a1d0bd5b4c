//! Batch mode: `apply EXPR INPUT... --out-dir DIR`. One bad file is reported, the rest are still
//! written, and the exit code is 1; names follow `--suffix` and `--ext`.

mod cli_support;

use cli_support::*;
use tempfile::TempDir;

#[test]
fn one_broken_file_is_reported_and_the_rest_processed() {
    let tmp = TempDir::new().unwrap();
    let broken = tmp.path().join("broken.png");
    std::fs::write(&broken, b"not a png").unwrap();
    let out = tmp.path().join("out");
    let output = jitfilter()
        .args(["apply", "max(w)", "--suffix", "_max", "--out-dir"])
        .arg(&out)
        .arg(data("camera.png"))
        .arg(&broken)
        .arg(data("coins.png"))
        .arg(data("astronaut.png"))
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_no_panic(&stderr);
    assert!(
        stderr.contains("cannot read")
            && stderr.contains("broken.png")
            && stderr.contains("not a valid PNG"),
        "{stderr}"
    );
    assert!(stderr.contains("3 of 4 files written to"), "{stderr}");
    assert!(
        stderr.contains("1 file failed: ") && stderr.trim_end().ends_with("broken.png"),
        "{stderr}"
    );
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["astronaut_max.png", "camera_max.png", "coins_max.png"]
    );
    // Each result equals the single-file result.
    let single = tmp.path().join("single.png");
    jitfilter()
        .args(["apply", "max(w)"])
        .arg(data("astronaut.png"))
        .arg(&single)
        .assert()
        .success();
    assert_eq!(pixels(&out.join("astronaut_max.png")), pixels(&single));
}

#[test]
fn all_good_exits_0_and_quiet_prints_nothing() {
    let tmp = TempDir::new().unwrap();
    let out = tmp.path().join("nested/out");
    jitfilter()
        .args([
            "apply",
            "mean(w)",
            "-q",
            "--ext",
            ".npy",
            "--dtype",
            "f64",
            "--out-dir",
        ])
        .arg(&out)
        .arg(data("camera.png"))
        .arg(data("page.png"))
        .assert()
        .success()
        .stdout("")
        .stderr("");
    let page = read_f64(&out.join("page.npy"));
    assert_eq!(page.shape(), &[191, 384]);
    assert!(out.join("camera.npy").is_file());
}

#[test]
fn summary_and_per_file_times() {
    let tmp = TempDir::new().unwrap();
    let assert = jitfilter()
        .args(["apply", "min(w)", "--time", "--out-dir"])
        .arg(tmp.path())
        .arg(data("coins.png"))
        .arg(data("page.png"))
        .assert()
        .success();
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(stderr.contains("time: compile "), "{stderr}");
    assert!(
        stderr.contains("coins.png: read ") && stderr.contains("page.png: read "),
        "{stderr}"
    );
    assert!(stderr.contains("2 of 2 files written to"), "{stderr}");
    // Not a terminal: no progress bar drawing.
    assert!(
        !stderr.contains('\r') && !stderr.contains('\x1b'),
        "{stderr:?}"
    );
}

#[test]
fn usage_problems_stop_before_any_file_is_written() {
    let tmp = TempDir::new().unwrap();
    let out = tmp.path().join("out");
    let cases: [(&[&str], &str); 4] = [
        (&["apply", "max(w"], "syntax error"),
        (
            &["apply", "max(w)", "--ext", "bmp"],
            "unknown output extension",
        ),
        (&["apply", "max(w)", "-p", "r=1"], "unknown param"),
        (
            &["apply", "max(w)", "--suffix", ""],
            "would both be written",
        ),
    ];
    for (args, needle) in cases {
        let mut cmd = jitfilter();
        cmd.args(args)
            .arg("--out-dir")
            .arg(&out)
            .arg(data("coins.png"));
        if needle.contains("both") {
            cmd.arg(data("coins.png"));
        }
        let output = cmd.output().unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!out.exists(), "{args:?} created the output folder");
    }
    // --suffix without --out-dir is a usage error from clap.
    jitfilter()
        .args(["apply", "c", "--suffix", "_x"])
        .arg(data("coins.png"))
        .arg(tmp.path().join("o.png"))
        .assert()
        .code(2);
}

/// A batch may overwrite its inputs in place (DIR is their folder, no suffix).
#[test]
fn in_place_batch() {
    let tmp = TempDir::new().unwrap();
    let a = tmp.path().join("a.png");
    let b = tmp.path().join("b.png");
    std::fs::copy(data("coins.png"), &a).unwrap();
    std::fs::copy(data("page.png"), &b).unwrap();
    let want = tmp.path().join("want.png");
    jitfilter()
        .args(["apply", "255 - c"])
        .arg(data("page.png"))
        .arg(&want)
        .assert()
        .success();
    jitfilter()
        .args(["apply", "255 - c", "-q", "--out-dir"])
        .arg(tmp.path())
        .arg(&a)
        .arg(&b)
        .assert()
        .success();
    assert_eq!(pixels(&b), pixels(&want));
    assert!(stray_temp_files(tmp.path()).is_empty());
}
