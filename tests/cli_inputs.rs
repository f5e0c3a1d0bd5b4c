//! Named inputs, channels and tuple results through the binary (`apply`, batch mode, `check`,
//! `bench`) and the REPL's `:input`: each result against the library's own `Kernel::apply` on the
//! same decoded data (which tests/inputs.rs checks against hand-written oracles), each bad input a
//! clear error with no output written (and `at()` offsets along axes the array lacks refused,
//! in the library itself).

mod cli_support;

use cli_support::*;
use jitfilter::imageio::{self, DynArray};
use jitfilter::{Footprint, Inputs, Kernel, Limits, Options};
use ndarray::{ArrayD, Axis};
use std::process::Stdio;
use tempfile::TempDir;

const BILATERAL: &str = "let d = abs(w[0]-c[0]) + abs(w[1]-c[1]) + abs(w[2]-c[2]); \
     let q = exp(-(dx^2+dy^2)/18 - d/30); \
     (sum(q*w[0])/sum(q), sum(q*w[1])/sum(q), sum(q*w[2])/sum(q))";

/// The image's planes as one u8 array with channels last.
fn stacked_u8(path: &std::path::Path) -> ArrayD<u8> {
    let image = imageio::load(path).unwrap();
    let planes: Vec<_> = (image.planes().iter())
        .map(|p| match p {
            DynArray::U8(a) => a.view(),
            other => panic!("expected u8, got {:?}", other.dtype()),
        })
        .collect();
    ndarray::stack(Axis(2), &planes).unwrap()
}

fn grey_u8(path: &std::path::Path) -> ArrayD<u8> {
    stacked_u8(path).index_axis_move(Axis(2), 0)
}

#[test]
fn colour_bilateral_writes_rgb_equal_to_the_library() {
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("bil.png");
    jitfilter()
        .args(["apply", BILATERAL])
        .arg(data("astronaut.png"))
        .arg(&out)
        .args(["-f", "disk:3"])
        .assert()
        .success();
    let (w, h, channels, got) = pixels(&out);
    assert_eq!((w, h, channels), (512, 512, 3));
    let rgb = stacked_u8(&data("astronaut.png"));
    let k = Kernel::compile(BILATERAL).unwrap();
    let want: ArrayD<u8> = k
        .apply(
            &Inputs::new(rgb.view()).channels(),
            &Footprint::disk(3),
            &Options::default(),
        )
        .unwrap();
    let want: Vec<u16> = want.iter().map(|&v| v as u16).collect();
    assert_eq!(got, want);
}

#[test]
fn named_inputs_tuples_and_offsets_through_npy() {
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("t.npy");
    let src = "(sum(g * w) / sum(g + 1), at(w, 2, -1) - at(g, -1, 0))";
    jitfilter()
        .args(["apply", src])
        .arg(data("camera.png"))
        .arg(&out)
        .arg("--input")
        .arg(format!("g={}", data("camera.png").display()))
        .args(["-f", "disk:2", "-m", "wrap", "--dtype", "f64"])
        .assert()
        .success();
    let got = read_f64(&out);
    assert_eq!(got.shape(), [512, 512, 2]);
    let camera = grey_u8(&data("camera.png")).mapv(f64::from);
    let k = Kernel::compile_for(src, &["g"], &Limits::default()).unwrap();
    let want: ArrayD<f64> = k
        .apply(
            &Inputs::new(camera.view()).with("g", camera.view()),
            &Footprint::disk(2),
            &Options::default().mode(jitfilter::Mode::Wrap),
        )
        .unwrap();
    assert_eq!(got, want);
}

#[test]
fn batch_mode_applies_the_same_inputs_to_every_file() {
    let dir = TempDir::new().unwrap();
    let src = "if at(m) > 128 then max(w) else c";
    jitfilter()
        .args(["apply", src])
        .arg(data("camera.png"))
        .arg(data("camera.png"))
        .arg("-i")
        .arg(format!("m={}", data("camera.png").display()))
        .arg("--out-dir")
        .arg(dir.path())
        .args(["--suffix", "-x", "-q"])
        .assert()
        .failure(); // both inputs would be written to the same file
    let a = dir.path().join("a.png");
    std::fs::copy(data("camera.png"), &a).unwrap();
    jitfilter()
        .args(["apply", src])
        .arg(&a)
        .arg(data("camera.png"))
        .arg("-i")
        .arg(format!("m={}", data("camera.png").display()))
        .arg("--out-dir")
        .arg(dir.path().join("out"))
        .arg("-q")
        .assert()
        .success();
    let camera = grey_u8(&data("camera.png"));
    let k = Kernel::compile_for(src, &["m"], &Limits::default()).unwrap();
    let want: ArrayD<u8> = k
        .apply(
            &Inputs::new(camera.view()).with("m", camera.view()),
            &Footprint::rect(3, 3),
            &Options::default(),
        )
        .unwrap();
    for name in ["a.png", "camera.png"] {
        let got = grey_u8(&dir.path().join("out").join(name));
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn bad_inputs_are_clear_errors_and_touch_no_output() {
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("out.png");
    std::fs::write(&out, b"keep me").unwrap();
    let tiff = dir.path().join("out.tiff");
    std::fs::write(&tiff, b"keep me").unwrap();
    let camera = format!("g={}", data("camera.png").display());
    let coins = format!("g={}", data("coins.png").display());
    let cases: &[(&[&str], &str, &str)] = &[
        (
            &["sum(g*w)", "-i", &coins],
            "has shape [303, 384]",
            "[512, 512]",
        ),
        (
            &["sum(g*w)", "-i", &camera, "-i", &camera],
            "given twice",
            "",
        ),
        (&["max(gg)", "-i", &camera], "did you mean `g`?", "max(gg)"),
        (
            &["max(h)", "-i", &camera],
            "unknown name `h`",
            "--input h=PATH",
        ),
        (&["max(w[1])"], "`w[1]` is out of range", "1 channel"),
        (&["at(w, x, 0)"], "must be a whole number", "expression:1:7"),
        (
            &["sum((w, w))"],
            "only be the program's result",
            "expression:1:5",
        ),
        (&["(c, c, c, c, c)"], "5 values per pixel", "write .npy"),
        (&["(c, c)"], "2 values per pixel", "PNG"),
        (
            &[&format!("({})", vec!["c"; 17].join(", "))],
            "17 values per pixel",
            "TIFF holds at most 16",
        ),
        (&["max(w)", "-i", "1x=a.png"], "not a name for an input", ""),
        (&["max(w)", "-i", "max=a.png"], "cannot name an input", ""),
    ];
    for (args, want, also) in cases {
        let result = jitfilter()
            .arg("apply")
            .args(&args[..1])
            .arg(data("camera.png"))
            .arg(if args[0].matches(", c").count() == 16 {
                &tiff
            } else {
                &out
            })
            .args(&args[1..])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&result.stderr);
        assert_eq!(result.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
        assert!(stderr.contains(also), "{args:?}: {stderr}");
        assert_eq!(std::fs::read(&out).unwrap(), b"keep me", "{args:?}");
        assert_eq!(std::fs::read(&tiff).unwrap(), b"keep me", "{args:?}");
    }
    // A missing input file names the file (exit 1).
    let result = jitfilter()
        .args(["apply", "sum(g*w)"])
        .arg(data("camera.png"))
        .arg(&out)
        .args(["-i", "g=/nonexistent/g.png"])
        .output()
        .unwrap();
    assert_eq!(result.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&result.stderr).contains("/nonexistent/g.png"));
    assert_eq!(std::fs::read(&out).unwrap(), b"keep me");
}

#[test]
fn check_and_bench_take_inputs() {
    let result = jitfilter()
        .args(["check", "sum(g*w)/sum(g)", "-i", "g"])
        .output()
        .unwrap();
    assert!(result.status.success());
    let stdout = String::from_utf8_lossy(&result.stdout);
    assert!(stdout.contains("uses       g, w"), "{stdout}");
    let result = jitfilter()
        .args(["check", "(mean(w), std(w))"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&result.stdout).contains("results    2 values per pixel"));
    let result = jitfilter()
        .args(["bench", "(mean(w), at(g, 1, 1))", "--json", "--repeat", "1"])
        .arg(data("camera.png"))
        .arg("-i")
        .arg(format!("g={}", data("camera.png").display()))
        .output()
        .unwrap();
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
}

#[test]
fn repl_loads_inputs_and_lists_them() {
    let dir = TempDir::new().unwrap();
    let script = format!(
        ":input g {}\n:inputs\nsum(g*w)/sum(g)\n:save {}\n:input g\nmax(g)\n",
        data("camera.png").display(),
        dir.path().join("r.npy").display()
    );
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_jitfilter"))
        .arg("repl")
        .arg(data("camera.png"))
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("g         512×512 u8 grey"), "{stdout}");
    // The last line drops g, so `max(g)` fails with a suggestion-free unknown name.
    assert!(stderr.contains("unknown name `g`"), "{stderr}");
    assert_eq!(out.status.code(), Some(1));
    let camera = grey_u8(&data("camera.png"));
    let k = Kernel::compile_for("sum(g*w)/sum(g)", &["g"], &Limits::default()).unwrap();
    let want: ArrayD<u8> = k
        .apply(
            &Inputs::new(camera.view()).with("g", camera.view()),
            &Footprint::cube(3),
            &Options::default(),
        )
        .unwrap();
    let got = imageio::load(&dir.path().join("r.npy")).unwrap();
    assert_eq!(got.planes()[0], DynArray::U8(want));
}

#[test]
fn offsets_along_missing_axes_are_errors() {
    let k = Kernel::compile("at(w, 0, 1)").unwrap();
    let line = ndarray::Array1::<f64>::zeros(5);
    let e = k
        .filter(line.view(), &Footprint::cube(3), &Options::default())
        .unwrap_err();
    assert!(e.to_string().contains("y (second-last) axis"), "{e}");
    let k = Kernel::compile("at(w, 1, 0, 1)").unwrap();
    let plane = ndarray::Array2::<f64>::zeros((4, 5));
    assert!(k
        .filter(plane.view(), &Footprint::cube(3), &Options::default())
        .is_err());
    let k = Kernel::compile("at(w, 1, 0)").unwrap();
    assert!(k
        .filter(line.view(), &Footprint::cube(3), &Options::default())
        .is_ok());
}

#[test]
fn n_values_per_pixel_round_trip_through_tiff() {
    let dir = TempDir::new().unwrap();
    let src = "(mean(w), std(w), max(w), min(w), c)";
    for ext in ["tiff", "npy"] {
        jitfilter()
            .args(["apply", src])
            .arg(data("camera.png"))
            .arg(dir.path().join(format!("five.{ext}")))
            .args(["-f", "disk:2", "--dtype", "f32"])
            .assert()
            .success();
    }
    let tiff = imageio::load(&dir.path().join("five.tiff")).unwrap();
    let npy = imageio::load(&dir.path().join("five.npy")).unwrap();
    assert_eq!(tiff.shape(), [512, 512, 5]);
    assert_eq!(tiff, npy);
}
