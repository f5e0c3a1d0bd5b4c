//! Bad inputs: each gives the documented exit code (1 runtime or file error, 2 usage or
//! expression error), a message on stderr that says what and where, no panic, no ANSI codes
//! when not on a terminal, and leaves an existing OUTPUT byte-for-byte as it was with no stray
//! temporary files. The input is never modified.

mod cli_support;

use cli_support::*;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

/// A scratch folder with copies of an image, an existing OUTPUT, and broken files.
struct Scene {
    dir: TempDir,
}

impl Scene {
    fn new() -> Scene {
        let dir = TempDir::new().unwrap();
        std::fs::copy(data("coins.png"), dir.path().join("in.png")).unwrap();
        std::fs::write(dir.path().join("out.png"), b"previous output").unwrap();
        std::fs::write(dir.path().join("text.png"), b"this is not an image\n").unwrap();
        let png = std::fs::read(data("coins.png")).unwrap();
        std::fs::write(dir.path().join("truncated.png"), &png[..png.len() / 3]).unwrap();
        Scene { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `jitfilter ARGS` inside the scene; checks the exit code, that stderr mentions each of
    /// `needles`, and that nothing was harmed. Returns stderr.
    fn fails(&self, args: &[&str], code: i32, needles: &[&str]) -> String {
        let before_in = std::fs::read(self.path("in.png")).unwrap();
        let output = jitfilter()
            .current_dir(self.dir.path())
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(
            output.status.code(),
            Some(code),
            "jitfilter {args:?}\nstderr:\n{stderr}"
        );
        assert!(
            output.stdout.is_empty(),
            "jitfilter {args:?} wrote to stdout"
        );
        for needle in needles {
            assert!(
                stderr.contains(needle),
                "jitfilter {args:?}: stderr lacks {needle:?}:\n{stderr}"
            );
        }
        assert_no_panic(&stderr);
        assert!(
            !stderr.contains('\x1b'),
            "ANSI codes with NO_COLOR and no terminal:\n{stderr}"
        );
        assert_eq!(
            std::fs::read(self.path("out.png")).unwrap(),
            b"previous output",
            "OUTPUT changed: {args:?}"
        );
        assert_eq!(
            std::fs::read(self.path("in.png")).unwrap(),
            before_in,
            "INPUT changed: {args:?}"
        );
        assert_eq!(
            stray_temp_files(self.dir.path()),
            Vec::<String>::new(),
            "{args:?}"
        );
        stderr
    }
}

#[test]
fn syntax_error_shows_the_expression_a_caret_and_a_hint() {
    let s = Scene::new();
    let stderr = s.fails(
        &["apply", "max(w", "in.png", "out.png"],
        2,
        &["syntax error", "max(w", "help:"],
    );
    // The caret (`|` for one column) sits under the column after `max(w`, on the next line.
    let lines: Vec<&str> = stderr.lines().collect();
    let src = lines
        .iter()
        .position(|l| l.ends_with("max(w ") || l.ends_with("max(w"))
        .unwrap();
    let source_col = lines[src].find("max(w").unwrap();
    let caret_col = lines[src + 1].find(['^', '|']).unwrap();
    assert_eq!(caret_col, source_col + "max(w".len(), "\n{stderr}");
}

/// An error on a line longer than 64K columns (here: the program-length limit's, past 64 KiB)
/// used to panic inside miette's padding; the line is now cut around the caret.
#[test]
fn errors_on_very_long_lines_are_shown_cut() {
    let long = format!("{}c", " ".repeat(70_000));
    let out = jitfilter().args(["check", &long]).output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("limit exceeded") && stderr.contains('…'),
        "{stderr}"
    );
    assert!(stderr.len() < 5000, "{stderr}");
}

#[test]
fn unknown_function_points_at_it_and_suggests() {
    let s = Scene::new();
    let stderr = s.fails(
        &["apply", "1 + maxx(w)", "in.png", "out.png"],
        2,
        &["unknown function `maxx`", "did you mean `max`?"],
    );
    // Underlined, with the label's pointer in the middle.
    assert!(stderr.contains("    ^^|^\n"), "{stderr}");
}

#[test]
fn vector_result() {
    Scene::new().fails(
        &["apply", "w * 2", "in.png", "out.png"],
        2,
        &["vector", "reduce it"],
    );
}

#[test]
fn expression_errors_in_kernel_files_name_the_file_and_line() {
    let s = Scene::new();
    std::fs::write(
        s.path("k.kf"),
        "let m = mean(w);\nlet d = c - m;\nd / stdd(w)\n",
    )
    .unwrap();
    s.fails(
        &["apply", "-e", "k.kf", "in.png", "out.png"],
        2,
        &["k.kf:3:5", "stdd", "did you mean `std`?"],
    );
}

#[test]
fn unknown_param() {
    let s = Scene::new();
    s.fails(
        &[
            "apply",
            "param r = 1; c * r",
            "-p",
            "q=2",
            "in.png",
            "out.png",
        ],
        2,
        &["unknown param `q`", "declares: r"],
    );
    s.fails(
        &["apply", "c", "-p", "q=2", "in.png", "out.png"],
        2,
        &["unknown param `q`", "param r = 0.5;"],
    );
    s.fails(
        &["apply", "c", "-p", "q", "in.png", "out.png"],
        2,
        &["NAME=VALUE"],
    );
    s.fails(
        &[
            "apply",
            "param r = 1 in 0 .. 2; c * r",
            "-p",
            "r=3",
            "in.png",
            "out.png",
        ],
        2,
        &["param `r` = 3 is outside its declared range 0 .. 2"],
    );
    s.fails(
        &["apply", "param r = 1 in 2 .. 0; c * r", "in.png", "out.png"],
        2,
        &["the lower first", "in 2 .. 0"],
    );
}

#[test]
fn bad_footprint_specs() {
    let s = Scene::new();
    for spec in [
        "disk", "disk:x", "star:3", "box:0", "rect:5", "file:", "ball:300",
    ] {
        s.fails(
            &["apply", "max(w)", "-f", spec, "in.png", "out.png"],
            2,
            &["--footprint", spec],
        );
    }
    // A 3-D footprint on a 2-D image, and an all-zero mask.
    s.fails(
        &["apply", "max(w)", "-f", "ball:1", "in.png", "out.png"],
        2,
        &["3-D footprint", "2-D array"],
    );
    image::GrayImage::new(3, 3)
        .save(s.path("zeros.png"))
        .unwrap();
    s.fails(
        &[
            "apply",
            "max(w)",
            "-f",
            "file:zeros.png",
            "in.png",
            "out.png",
        ],
        2,
        &["zeros.png", "no cells"],
    );
    s.fails(
        &[
            "apply",
            "max(w)",
            "-f",
            "file:nothing.npy",
            "in.png",
            "out.png",
        ],
        1,
        &["cannot read nothing.npy", "no such file"],
    );
}

#[test]
fn bad_mode_and_bad_numbers() {
    let s = Scene::new();
    s.fails(
        &["apply", "max(w)", "-m", "bogus", "in.png", "out.png"],
        2,
        &["bogus", "reflect"],
    );
    s.fails(
        &["apply", "max(w)", "--threads", "0", "in.png", "out.png"],
        2,
        &["--threads"],
    );
    s.fails(
        &["apply", "max(w)", "--origin", "1,x", "in.png", "out.png"],
        2,
        &["--origin"],
    );
    s.fails(
        &["apply", "max(w)", "--dtype", "u7", "in.png", "out.png"],
        2,
        &["--dtype"],
    );
}

#[test]
fn origin_out_of_range() {
    let s = Scene::new();
    s.fails(
        &["apply", "max(w)", "--origin", "2", "in.png", "out.png"],
        2,
        &["origin 2 is out of range", "-1..=1"],
    );
    s.fails(
        &[
            "apply",
            "max(w)",
            "-f",
            "rect:5x3",
            "--origin=0,-3",
            "in.png",
            "out.png",
        ],
        2,
        &["origin -3"],
    );
    s.fails(
        &["apply", "max(w)", "--origin=1,1,1", "in.png", "out.png"],
        2,
        &["3 origins"],
    );
}

#[test]
fn position_names_the_array_lacks() {
    Scene::new().fails(
        &["apply", "c + z", "in.png", "out.png"],
        2,
        &["`z` needs a z", "2 dimension"],
    );
}

#[test]
fn missing_input() {
    Scene::new().fails(
        &["apply", "max(w)", "missing.png", "out.png"],
        1,
        &["cannot read missing.png", "no such file or directory"],
    );
}

#[test]
fn text_file_named_png() {
    Scene::new().fails(
        &["apply", "max(w)", "text.png", "out.png"],
        1,
        &["cannot read text.png", "not a valid PNG file"],
    );
}

#[test]
fn truncated_png() {
    Scene::new().fails(
        &["apply", "max(w)", "truncated.png", "out.png"],
        1,
        &["cannot read truncated.png", "PNG"],
    );
}

#[test]
fn unsupported_npy_contents() {
    let s = Scene::new();
    ndarray_npy::write_npy(s.path("i64.npy"), &ndarray::arr1(&[1i64, 2, 3])).unwrap();
    s.fails(
        &["apply", "c", "i64.npy", "out.npy"],
        1,
        &["cannot read i64.npy", "'<i8' is not supported"],
    );
    // numpy's limit is 32 axes; a header may claim more.
    ndarray_npy::write_npy(
        s.path("33d.npy"),
        &ndarray::ArrayD::<f64>::zeros(ndarray::IxDyn(&[1; 33])),
    )
    .unwrap();
    s.fails(
        &["apply", "c", "33d.npy", "out.npy"],
        1,
        &["33-D arrays are not supported (1-D to 32-D)"],
    );
    // A header claiming far more data than the file holds is rejected before allocating.
    let mut npy = Vec::new();
    ndarray_npy::WriteNpyExt::write_npy(&ndarray::arr1(&[1.0f64, 2.0]), &mut npy).unwrap();
    std::fs::write(s.path("forged.npy"), forged_header(&npy)).unwrap();
    s.fails(
        &["apply", "c", "forged.npy", "out.npy"],
        1,
        &["cannot read forged.npy", "more data than the file holds"],
    );
}

/// A valid .npy of two f64 whose header claims 10^12 elements (same header length).
fn forged_header(npy: &[u8]) -> Vec<u8> {
    let at = npy
        .windows(4)
        .position(|w| w == b"(2,)")
        .expect("shape in header");
    let mut out = npy[..at].to_vec();
    out.extend_from_slice(b"(1000000000000,)");
    // Take the replacement's extra length out of the header's padding spaces.
    let rest = &npy[at + 4..];
    let pad = rest.iter().position(|&b| b == b'\n').unwrap();
    let spaces = rest[..pad].iter().rev().take_while(|&&b| b == b' ').count();
    let extra = "(1000000000000,)".len() - 4;
    assert!(spaces >= extra, "not enough padding to forge the header");
    out.extend_from_slice(&rest[..pad - extra]);
    out.extend_from_slice(&rest[pad..]);
    out
}

#[test]
fn decompression_bomb_is_refused() {
    let s = Scene::new();
    // A valid PNG header for 60000×60000 grey pixels (3.4 GB decoded) with almost no data.
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let chunk = |png: &mut Vec<u8>, kind: &[u8], body: &[u8]| {
        png.extend_from_slice(&(body.len() as u32).to_be_bytes());
        let mut crc_input = kind.to_vec();
        crc_input.extend_from_slice(body);
        png.extend_from_slice(&crc_input);
        png.extend_from_slice(&crc32(&crc_input).to_be_bytes());
    };
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&60000u32.to_be_bytes());
    ihdr.extend_from_slice(&60000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(&mut png, b"IDAT", &zlib_stored(&[0; 64]));
    chunk(&mut png, b"IEND", &[]);
    std::fs::write(s.path("bomb.png"), png).unwrap();
    // Read whole, it is refused before decoding; streamed (as an image this size is by
    // default), memory stays bounded and the data runs out at its first row.
    s.fails(
        &[
            "apply", "max(w)", "bomb.png", "out.png", "--stream", "never",
        ],
        1,
        &["cannot read bomb.png", "too large"],
    );
    s.fails(
        &["apply", "max(w)", "bomb.png", "out.png"],
        1,
        &["cannot read bomb.png", "at row 0"],
    );
}

/// `data` as a zlib stream of one uncompressed block.
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut z = vec![0x78, 0x01, 0x01];
    z.extend_from_slice(&(data.len() as u16).to_le_bytes());
    z.extend_from_slice(&(!(data.len() as u16)).to_le_bytes());
    z.extend_from_slice(data);
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + byte as u32) % 65521;
        b = (b + a) % 65521;
    }
    z.extend_from_slice(&((b << 16) | a).to_be_bytes());
    z
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn float_output_to_png_or_jpeg() {
    let s = Scene::new();
    s.fails(
        &["apply", "std(w)", "--dtype", "f32", "in.png", "out.png"],
        2,
        &[
            "cannot write out.png",
            "PNG cannot hold f32",
            "--dtype u8",
            ".npy",
        ],
    );
    s.fails(
        &["apply", "c", "--dtype", "u16", "in.png", "out.jpg"],
        2,
        &["JPEG cannot hold u16", "--dtype u8"],
    );
    s.fails(
        &["apply", "c", "--dtype", "i16", "in.png", "out.png"],
        2,
        &["PNG cannot hold i16"],
    );
    s.fails(
        &["apply", "c", "in.png", "out.bmp"],
        2,
        &["unknown file extension", ".tiff"],
    );
}

#[cfg(unix)]
#[test]
fn unwritable_output_folder() {
    use std::os::unix::fs::PermissionsExt;
    let s = Scene::new();
    let locked = s.path("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();
    // Root ignores folder permissions; then use /sys, where not even root can create files.
    let is_root = std::fs::write(locked.join("probe"), b"").is_ok();
    if is_root && !Path::new("/sys").is_dir() {
        eprintln!("skipped: running as root without /sys");
        return;
    }
    let target = if is_root {
        PathBuf::from("/sys/jitfilter-out.png")
    } else {
        locked.join("out.png")
    };
    s.fails(
        &["apply", "max(w)", "in.png", target.to_str().unwrap()],
        1,
        &["cannot write", "permission denied"],
    );
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
    let left: Vec<_> = std::fs::read_dir(&locked)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n != "probe")
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn missing_output_folder() {
    let s = Scene::new();
    s.fails(
        &["apply", "max(w)", "in.png", "no/such/dir/out.png"],
        1,
        &[
            "cannot write no/such/dir/out.png",
            "no such file or directory",
        ],
    );
}

#[test]
fn wrong_number_of_paths_is_a_usage_error() {
    let s = Scene::new();
    s.fails(
        &["apply", "max(w)", "in.png"],
        2,
        &["expected INPUT OUTPUT", "--out-dir", "Usage:"],
    );
    s.fails(
        &["apply", "max(w)", "in.png", "a.png", "b.png"],
        2,
        &["got 3 paths"],
    );
    s.fails(
        &["apply", "-e", "nothing.kf", "in.png", "out.png"],
        1,
        &["cannot read nothing.kf"],
    );
    s.fails(&["apply"], 2, &["Usage:"]);
    s.fails(&["frobnicate"], 2, &["unrecognized subcommand"]);
}

#[test]
fn output_that_is_a_folder() {
    let s = Scene::new();
    std::fs::create_dir(s.path("busy.png")).unwrap();
    std::fs::write(s.path("busy.png/keep"), b"x").unwrap();
    s.fails(
        &["apply", "max(w)", "in.png", "busy.png"],
        1,
        &["cannot write busy.png", "is a directory"],
    );
    assert_eq!(std::fs::read(s.path("busy.png/keep")).unwrap(), b"x");
}

/// An expression that starts with `-` is taken for options by the argument parser: the error
/// names the expression and both fixes, and each fix works.
#[test]
fn expression_starting_with_a_hyphen() {
    let s = Scene::new();
    for (args, fix) in [
        (
            &["apply", "-mean(w)", "in.png", "out.png"][..],
            "'(-mean(w))'",
        ),
        (&["check", "-c + 1"][..], "jitfilter check -- '-c + 1'"),
        (
            &["bench", "-max(w)", "in.png"][..],
            "bench -f disk:3 -- '-max(w)' IN",
        ),
    ] {
        let err = s.fails(args, 2, &["was read as options", "`--`", fix]);
        assert!(!err.contains("--mode"), "{err}");
    }
    let ok = |args: &[&str]| {
        let out = jitfilter()
            .current_dir(s.dir.path())
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {:?}", out);
        jitfilter::imageio::load(&s.path("neg.tiff"))
            .unwrap()
            .planes()[0]
            .to_f64()
    };
    let a = ok(&[
        "apply",
        "--dtype",
        "f64",
        "(-mean(w))",
        "in.png",
        "neg.tiff",
    ]);
    let b = ok(&[
        "apply", "--dtype", "f64", "--", "-mean(w)", "in.png", "neg.tiff",
    ]);
    assert_eq!(a, b);
    let coins = jitfilter::imageio::load(&s.path("in.png"))
        .unwrap()
        .planes()[0]
        .to_f64();
    // The negated 3×3 mean of a corner pixel, by hand (reflect: the corner row and column
    // repeat).
    let want =
        -(4.0 * coins[[0, 0]] + 2.0 * coins[[0, 1]] + 2.0 * coins[[1, 0]] + coins[[1, 1]]) / 9.0;
    assert!((a[[0, 0]] - want).abs() < 1e-12, "{} {want}", a[[0, 0]]);
}
