//! No silent loss on output: writing a result in an integer type that clamps values, turns NaN
//! into 0, or rounds a result of few levels says so on stderr (exit 0, file written); `-q`
//! silences it; results the type holds, float outputs and order statistics are not measured.

mod cli_support;

use cli_support::*;
use std::path::Path;
use tempfile::TempDir;

/// Runs `apply SRC camera.png OUT ARGS…` and returns (stderr, the output's values).
fn apply(src: &str, out: &Path, args: &[&str]) -> (String, Vec<f64>) {
    let o = jitfilter()
        .arg("apply")
        .arg(src)
        .arg(data("camera.png"))
        .arg(out)
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr).to_string();
    assert_no_panic(&stderr);
    assert!(o.status.success(), "`{src}` {args:?}: {stderr}");
    let image = jitfilter::imageio::load(out).unwrap();
    (stderr, image.planes()[0].to_f64().iter().copied().collect())
}

/// The camera's pixels, read by the image crate (the oracle for the shares printed).
fn camera() -> Vec<f64> {
    let img = image::open(data("camera.png")).unwrap().to_luma8();
    img.pixels().map(|p| p.0[0] as f64).collect()
}

/// The share in percent printed after `spans … to …; ` for `what` (e.g. "clamped").
fn printed_share(stderr: &str, what: &str) -> f64 {
    let clause = stderr
        .split([';', ','])
        .find(|c| c.contains(what))
        .unwrap_or_else(|| panic!("no `{what}` in: {stderr}"));
    let pct = clause.trim().split('%').next().unwrap();
    pct.trim().parse().unwrap()
}

#[test]
fn clamping_is_reported_with_the_share_of_values() {
    let tmp = TempDir::new().unwrap();
    for (ext, fix) in [("png", "write .tiff or .npy"), ("tiff", "add --dtype f32")] {
        let out = tmp.path().join(format!("d.{ext}"));
        // `c - 128` on u8: every pixel below 128 is clamped to 0.
        let (stderr, got) = apply("c - 128", &out, &[]);
        let below = camera().iter().filter(|v| **v < 128.0).count();
        let want = 100.0 * below as f64 / got.len() as f64;
        assert!(stderr.starts_with("warning: "), "{stderr}");
        assert!(stderr.contains("written as u8"), "{stderr}");
        assert!(stderr.contains(fix), "{ext}: {stderr}");
        assert!(
            (printed_share(&stderr, "clamped") - want).abs() < 0.051,
            "{stderr} vs {want}"
        );
        // The file holds the saturated result.
        for (g, c) in got.iter().zip(camera()) {
            assert_eq!(*g, (c - 128.0).max(0.0));
        }
        // -q: the same file, no word.
        let (stderr, again) = apply("c - 128", &out, &["-q"]);
        assert_eq!(stderr, "");
        assert_eq!(again, got);
    }
}

#[test]
fn the_readme_z_score_warns_and_f32_keeps_it() {
    let tmp = TempDir::new().unwrap();
    let out = tmp.path().join("z.tiff");
    let src = "let m = mean(w); (c - m) / (std(w) + 1e-9)";
    let (stderr, _) = apply(src, &out, &["-f", "disk:3"]);
    assert!(stderr.contains("clamped"), "{stderr}");
    assert!(stderr.contains("rounded"), "{stderr}");
    let (stderr, values) = apply(src, &out, &["-f", "disk:3", "--dtype", "f32"]);
    assert_eq!(stderr, "");
    assert!(values.iter().any(|v| *v < 0.0 && v.fract() != 0.0));
}

#[test]
fn nan_and_few_rounded_levels_are_reported() {
    let tmp = TempDir::new().unwrap();
    let out = tmp.path().join("o.png");
    // The square root of a negative number: NaN, written as 0.
    let (stderr, _) = apply("sqrt(c - 128)", &out, &["-q"]);
    assert_eq!(stderr, "");
    let (stderr, got) = apply("sqrt(c - 128)", &out, &[]);
    let below = camera().iter().filter(|v| **v < 128.0).count();
    let want = 100.0 * below as f64 / got.len() as f64;
    assert!(
        (printed_share(&stderr, "NaN") - want).abs() < 0.051,
        "{stderr}"
    );
    // exp(-c/100) lies in (0, 1]: rounding leaves 2 levels.
    let (stderr, got) = apply("exp(-c / 100)", &out, &[]);
    assert!(stderr.contains("rounded to integers"), "{stderr}");
    assert!(!stderr.contains("clamped"), "{stderr}");
    let fractional = camera().iter().filter(|c| **c > 0.0).count();
    let want = 100.0 * fractional as f64 / got.len() as f64;
    assert!(
        (printed_share(&stderr, "fractional") - want).abs() < 0.051,
        "{stderr}"
    );
}

#[test]
fn results_the_type_holds_say_nothing() {
    let tmp = TempDir::new().unwrap();
    let out = tmp.path().join("o.png");
    // In range, rounding across many levels (as OpenCV's u8 filters), order statistics, and a
    // program that clamps itself.
    for src in [
        "mean(w)",
        "std(w) * 2",
        "max(w)",
        "median(w)",
        "min(max(c + 1.5 * (c - mean(w)), 0), 255)",
    ] {
        let (stderr, _) = apply(src, &out, &["-f", "disk:3"]);
        assert_eq!(stderr, "", "`{src}`");
    }
}
