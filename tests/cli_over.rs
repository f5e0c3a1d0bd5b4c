//! `EXPR over SPEC` through the binary: the issue's examples written by `apply` equal scipy's
//! (fixtures by tests/fixtures/gen_over_fixtures.py, as in tests/over.rs), `check` shows the
//! passes, and every bad program is exit code 2 with a caret where it is wrong, an existing
//! OUTPUT left as it was and no new file written.

mod cli_support;

use cli_support::*;
use ndarray::ArrayD;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

fn over(name: &str) -> PathBuf {
    root().join("tests/fixtures/over").join(name)
}

fn want(name: &str) -> ArrayD<f64> {
    read_f64(&over(&format!("{name}.npy")))
}

/// Runs `apply SRC input.npy OUT --dtype f64 ARGS` and returns what it wrote.
fn apply(src: &str, args: &[&str]) -> ArrayD<f64> {
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("out.npy");
    jitfilter()
        .args(["apply", src])
        .arg(over("input.npy"))
        .arg(&out)
        .args(["--dtype", "f64"])
        .args(args)
        .assert()
        .success();
    read_f64(&out)
}

/// The largest difference of `got` to `want` over `want`'s largest magnitude.
fn rel(got: &ArrayD<f64>, want: &ArrayD<f64>) -> f64 {
    assert_eq!(got.shape(), want.shape());
    let range = want.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    let abs = (got.iter().zip(want.iter())).fold(0.0f64, |m, (g, w)| m.max((g - w).abs()));
    abs / range
}

#[test]
fn the_issues_examples_equal_scipy() {
    // Opening: `over disk:5` wins over -f box:3.
    let got = apply(
        "stage e = min(w) over disk:5; max(e) over disk:5",
        &["-f", "box:3", "-m", "wrap"],
    );
    assert_eq!(got, want("opening_wrap"));
    let got = apply(
        "stage e = min(w); stage o = max(e); c - at(o)",
        &["-f", "disk:5", "-m", "constant", "--cval", "50"],
    );
    assert_eq!(got, want("tophat_constant"));
    let got = apply("mean(w) over box:3 - mean(w) over box:9", &["-f", "disk:4"]);
    assert!(rel(&got, &want("dob_reflect")) <= 1e-12);
    let got = apply("sum(k * w) over gauss:2", &["-f", "box:3", "-m", "nearest"]);
    assert!(rel(&got, &want("gauss_nearest")) <= 1e-12);
    let got = apply(
        "sum(k * w)",
        &["-f", "gauss:2", "-m", "constant", "--cval", "50"],
    );
    assert!(rel(&got, &want("gauss_constant")) <= 1e-12);
}

#[test]
fn harris_from_a_file_and_the_guided_filter_with_a_guide_and_a_param() {
    let dir = TempDir::new().unwrap();
    let kf = dir.path().join("harris.kf");
    std::fs::write(
        &kf,
        "# Harris corner response\n\
         stage gx = sum(w * dx * (2 - abs(dy))) over box:3;\n\
         stage gy = sum(w * dy * (2 - abs(dx))) over box:3;\n\
         let sxx = sum(gx^2) over box:5;\n\
         let syy = sum(gy^2) over box:5;\n\
         let sxy = sum(gx * gy) over box:5;\n\
         sxx * syy - sxy^2 - 0.04 * (sxx + syy)^2\n",
    )
    .unwrap();
    let out = dir.path().join("harris.npy");
    jitfilter()
        .arg("apply")
        .arg("-e")
        .arg(&kf)
        .arg(over("input.npy"))
        .arg(&out)
        .args(["--dtype", "f64", "-m", "mirror", "-f", "disk:2"])
        .assert()
        .success();
    assert!(rel(&read_f64(&out), &want("harris_mirror")) <= 1e-12);

    let guided = "param eps = 100; \
         stage a = ((mean(g*w) - mean(g)*mean(w)) / (var(g) + eps)) over box:9; \
         stage b = (mean(w) - at(a) * mean(g)) over box:9; \
         (mean(a) * at(g) + mean(b)) over box:9";
    let g = format!("g={}", over("guide.npy").display());
    let got = apply(guided, &["-i", &g, "-f", "disk:1", "-m", "nearest"]);
    assert!(rel(&got, &want("guided_nearest")) <= 1e-9);
    let got = apply(guided, &["-i", &g, "-p", "eps=650.25"]);
    assert!(rel(&got, &want("guided_reflect_eps650")) <= 1e-9);
}

#[test]
fn check_shows_each_pass_and_its_footprint() {
    let output = jitfilter()
        .args(["check", "mean(w) over box:3 - mean(w) over box:9"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8(output.stdout).unwrap();
    for needle in [
        "stage mean(w) over box:3: a whole image, then read as an input",
        "result over box:9:",
        "at(mean(w) over box:3)",
    ] {
        assert!(stdout.contains(needle), "lacks {needle:?}:\n{stdout}");
    }
    let stdout = jitfilter()
        .args(["check", "stage e = min(w) over disk:5; max(e) over disk:5"])
        .output()
        .unwrap()
        .stdout;
    let stdout = String::from_utf8(stdout).unwrap();
    assert!(stdout.contains("stage e over disk:5:"), "{stdout}");
    assert!(stdout.contains("result over disk:5:"), "{stdout}");
}

/// Runs `jitfilter apply SRC input.npy OUT ARGS` where OUT exists (with `keep me`) and, again,
/// where it does not: both exit with `code`, say each of `needles`, leave OUT as it was and write
/// no file. Returns stderr.
fn fails(src: &str, args: &[&str], code: i32, needles: &[&str]) -> String {
    let dir = TempDir::new().unwrap();
    let kept = dir.path().join("kept.npy");
    std::fs::write(&kept, b"keep me").unwrap();
    let fresh = dir.path().join("fresh.npy");
    let mut stderrs = Vec::new();
    for out in [&kept, &fresh] {
        let output = jitfilter()
            .current_dir(dir.path())
            .args(["apply", src])
            .arg(over("input.npy"))
            .arg(out)
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(
            output.status.code(),
            Some(code),
            "{src} {args:?}:\n{stderr}"
        );
        for needle in needles {
            assert!(
                stderr.contains(needle),
                "{src} {args:?}: lacks {needle:?}:\n{stderr}"
            );
        }
        assert_no_panic(&stderr);
        assert_eq!(std::fs::read(&kept).unwrap(), b"keep me", "{src}");
        assert!(!fresh.exists(), "{src}: wrote {}", fresh.display());
        assert_eq!(files(dir.path()), ["kept.npy"], "{src}");
        stderrs.push(stderr);
    }
    assert_eq!(stderrs[0], stderrs[1].replace("fresh.npy", "kept.npy"));
    stderrs.remove(0)
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Checks that stderr shows `src` with a caret (`^` or `|` for one column) starting under the
/// 1-based column `col`, and the location `expression:1:COL`.
fn caret_at(stderr: &str, src: &str, col: usize) {
    assert!(
        stderr.contains(&format!("[expression:1:{col}]")),
        "{src}: no expression:1:{col}:\n{stderr}"
    );
    let lines: Vec<&str> = stderr.lines().collect();
    let at = (lines.iter())
        .position(|l| l.trim_end().ends_with(src.trim_end()))
        .unwrap_or_else(|| panic!("{src}: not shown:\n{stderr}"));
    let start = lines[at].find(src.trim_end()).unwrap();
    let caret = lines[at + 1].find(['^', '|']).unwrap();
    assert_eq!(caret - start + 1, col, "{src}:\n{stderr}");
}

#[test]
fn program_errors_are_exit_2_with_a_caret_and_touch_no_output() {
    let g = format!("g={}", over("guide.npy").display());
    let cases: &[(&str, &[&str], usize, &[&str])] = &[
        // A stage used before it is defined.
        (
            "let a = max(s); stage s = min(w); a",
            &[],
            13,
            &["`s` is used before it is defined"],
        ),
        (
            "stage a = max(b) over box:3; stage b = min(w); at(a)",
            &[],
            15,
            &["`b` is used before it is defined"],
        ),
        // A stage taking the name of an input or a built-in.
        (
            "stage w = min(w); max(w)",
            &[],
            7,
            &["`w` is a built-in name and cannot be redefined"],
        ),
        (
            "stage max = min(w); at(max)",
            &[],
            7,
            &["`max` is a function name"],
        ),
        (
            "stage x = min(w) over box:3; at(x)",
            &[],
            7,
            &["`x` is a built-in name"],
        ),
        (
            "stage g = min(w); at(g)",
            &["-i", &g],
            7,
            &["`g`", "cannot be redefined"],
        ),
        // `over` on what has no reduction: the caret on the spec.
        (
            "2 over box:3",
            &[],
            8,
            &[
                "`over box:3` sets the footprint of no reduction",
                "a `let` keeps",
            ],
        ),
        (
            "let m = mean(w); m over box:3",
            &[],
            25,
            &["`over box:3` sets the footprint of no reduction"],
        ),
        // A bad or missing spec.
        (
            "mean(w) over box:0",
            &[],
            14,
            &["bad footprint after `over`", "at least 1"],
        ),
        (
            "mean(w) over star:3 + 1",
            &[],
            14,
            &["unknown footprint kind `star`"],
        ),
        (
            "mean(w) over box:x",
            &[],
            14,
            &["bad footprint after `over`"],
        ),
        (
            "mean(w) over",
            &[],
            13,
            &["expected a footprint after `over`, found the end"],
        ),
        (
            "max(w) - mean(w) over * 2",
            &[],
            23,
            &["expected a footprint after `over`"],
        ),
        // A tuple stage read whole.
        (
            "stage t = (min(w), max(w)); max(t)",
            &[],
            33,
            &[
                "stage `t` has 2 results per pixel: say which",
                "`t[0]` … `t[1]`",
            ],
        ),
        // Too many stages: the first one over the limit.
        (
            "stage a = min(w); stage b = max(a); stage d = min(b); at(d)",
            &["--max-stages", "2"],
            43,
            &["3 stages", "the limit is 2", "--max-stages N"],
        ),
        (
            "mean(w) over box:3 + mean(w) over box:5 + mean(w) over box:7 + max(w)",
            &["--max-stages", "2"],
            43,
            &["3 stages", "--max-stages"],
        ),
    ];
    for (src, args, col, needles) in cases {
        let stderr = fails(src, args, 2, needles);
        caret_at(&stderr, src, *col);
    }
}

#[test]
fn passes_reading_further_than_the_footprint_limit_are_refused() {
    let src = "stage a = min(w) over disk:5; stage b = max(a) over disk:5; min(b) over disk:5";
    let stderr = fails(
        src,
        &["--max-footprint", "200"],
        2,
        &[
            "the passes together read a 31x31 box around each pixel",
            "the limit is 200",
            "--max-footprint N",
        ],
    );
    assert!(!stderr.contains("expression:"), "{stderr}");
    // An `over` footprint over the limit by itself.
    fails(
        "mean(w) over box:9 + max(w)",
        &["--max-footprint", "50"],
        2,
        &["box:9 in 2-D has 81 elements; the limit is 50"],
    );
    // Within the limit it runs: 31x31 = 961.
    let got = apply(src, &["--max-footprint", "961"]);
    assert_eq!(got.shape(), [40, 48]);
}
