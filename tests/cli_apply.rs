//! `jitfilter apply` on real files: the scipy golden cases through .npy, images checked against
//! scipy results, 8- and 16-bit round trips, colour per channel with alpha passed through, dtypes,
//! TIFF and JPEG, footprints from files, kernel files and params.

mod cli_support;

use cli_support::*;
use jitfilter::{Footprint, Kernel, Options};
use ndarray::{Array2, ArrayD};
use serde_json::Value;
use std::path::Path;
use tempfile::TempDir;

fn close(got: f64, want: f64) -> bool {
    (got.is_nan() && want.is_nan())
        || got == want
        || (got - want).abs() <= 1e-9 * want.abs().max(1.0)
}

/// Every golden case of tests/fixtures/cases.json (scipy.ndimage.generic_filter), run through
/// the binary: .npy in, .npy out, footprint as `file:` mask or `--weights`, mode, cval, origin.
#[test]
fn scipy_golden_cases_through_npy_files() {
    let dir = root().join("tests/fixtures");
    let cases: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("cases.json")).unwrap()).unwrap();
    let tmp = TempDir::new().unwrap();
    let mut failures = Vec::new();
    let cases = cases.as_array().unwrap();
    for case in cases {
        let s = |k: &str| case[k].as_str().unwrap().to_string();
        let out = tmp.path().join(format!("{}.npy", s("name")));
        let footprint = dir.join(s("footprint"));
        let origin: Vec<String> = case["origin"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.to_string())
            .collect();
        let mut cmd = jitfilter();
        cmd.arg("apply");
        if case["weights"].as_bool().unwrap() {
            cmd.arg("--weights").arg(&footprint);
        } else {
            cmd.arg("-f").arg(format!("file:{}", footprint.display()));
        }
        cmd.arg("-m").arg(s("mode"));
        cmd.arg(format!("--cval={}", case["cval"].as_f64().unwrap()));
        cmd.arg(format!("--origin={}", origin.join(",")));
        if s("output") == "f64" {
            cmd.args(["--dtype", "f64"]);
        }
        // After `--`, an expression may start with `-` (e.g. `-c^2`).
        cmd.arg("--")
            .arg(s("expr"))
            .arg(dir.join(s("input")))
            .arg(&out);
        let result = cmd.output().unwrap();
        if !result.status.success() {
            failures.push(format!(
                "{}: {}",
                s("name"),
                String::from_utf8_lossy(&result.stderr)
            ));
            continue;
        }
        // Outputs of type "same" keep the input's dtype; compare values as f64.
        let got = read_any(&out);
        let want = read_any(&dir.join(s("expected")));
        assert_eq!(got.shape(), want.shape(), "{}", s("name"));
        if let Some((i, (g, w))) = got
            .iter()
            .zip(want.iter())
            .enumerate()
            .find(|(_, (g, w))| !close(**g, **w))
        {
            failures.push(format!(
                "{} `{}`: element {i}: got {g}, scipy {w}",
                s("name"),
                s("expr")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Reads a .npy of any engine dtype as f64, checking along the way that dtypes survive.
fn read_any(path: &Path) -> ArrayD<f64> {
    macro_rules! try_types {
        ($($t:ty),*) => {$(
            if let Ok(a) = ndarray_npy::read_npy::<_, ArrayD<$t>>(path) {
                return a.mapv(|v| v as f64);
            }
        )*};
    }
    try_types!(f64, f32, u8, u16, i16, i32);
    panic!("{}: not a .npy of an engine dtype", path.display());
}

#[test]
fn eight_bit_grey_matches_scipy() {
    let tmp = TempDir::new().unwrap();
    let out = tmp.path().join("gradient.png");
    jitfilter()
        .args(["apply", "max(w) - min(w)", "-f", "disk:1"])
        .arg(data("camera.png"))
        .arg(&out)
        .assert()
        .success()
        .stdout("")
        .stderr("");
    assert_eq!(colour_type(&out), image::ColorType::L8);
    assert_eq!(pixels(&out), pixels(&fixture("camera_gradient_disk1.png")));
}

#[test]
fn sixteen_bit_grey_keeps_its_depth_and_matches_scipy() {
    let tmp = TempDir::new().unwrap();
    let out = tmp.path().join("max.png");
    jitfilter()
        .args(["apply", "max(w)", "-f", "disk:2", "-m", "nearest"])
        .arg(fixture("grey16.png"))
        .arg(&out)
        .assert()
        .success();
    assert_eq!(colour_type(&out), image::ColorType::L16);
    assert_eq!(
        pixels(&out),
        pixels(&fixture("grey16_max_disk2_nearest.png"))
    );
}

#[test]
fn rgba_is_filtered_per_channel_and_alpha_passes_through() {
    let tmp = TempDir::new().unwrap();
    let out = tmp.path().join("median.png");
    jitfilter()
        .args(["apply", "median(w)"])
        .arg(fixture("rgba8.png"))
        .arg(&out)
        .assert()
        .success();
    assert_eq!(colour_type(&out), image::ColorType::Rgba8);
    assert_eq!(pixels(&out), pixels(&fixture("rgba8_median_box3.png")));
}

/// astronaut.png: each of R, G, B filtered on its own, exactly as the library does for one plane.
#[test]
fn rgb_channels_are_filtered_independently() {
    let tmp = TempDir::new().unwrap();
    let out = tmp.path().join("astronaut_min.png");
    let expr = "min(w) + (c - mean(w)) / 4";
    jitfilter()
        .args(["apply", expr, "-f", "diamond:2"])
        .arg(data("astronaut.png"))
        .arg(&out)
        .assert()
        .success();
    let (w, h, channels, input) = pixels(&data("astronaut.png"));
    assert_eq!(channels, 3);
    let (_, _, out_channels, got) = pixels(&out);
    assert_eq!(out_channels, 3);
    let kernel = Kernel::compile(expr).unwrap();
    for ch in 0..3 {
        let plane = Array2::from_shape_fn((h as usize, w as usize), |(y, x)| {
            input[(y * w as usize + x) * 3 + ch] as u8
        });
        let want = kernel
            .filter(plane.view(), &Footprint::diamond(2), &Options::default())
            .unwrap();
        let got_plane = Array2::from_shape_fn((h as usize, w as usize), |(y, x)| {
            got[(y * w as usize + x) * 3 + ch] as u8
        });
        assert_eq!(got_plane, want, "channel {ch}");
    }
}

#[test]
fn identity_round_trips_are_lossless() {
    let tmp = TempDir::new().unwrap();
    for (input, ext) in [
        (data("camera.png"), "png"),
        (data("camera.png"), "tiff"),
        (fixture("grey16.png"), "png"),
        (fixture("grey16.png"), "tif"),
        (data("astronaut.png"), "png"),
        (data("astronaut.png"), "tiff"),
        (fixture("rgba8.png"), "png"),
        (fixture("rgba8.png"), "tiff"),
    ] {
        let mid = tmp.path().join(format!("mid.{ext}"));
        let back = tmp.path().join("back.png");
        jitfilter()
            .args(["apply", "c"])
            .arg(&input)
            .arg(&mid)
            .assert()
            .success();
        jitfilter()
            .args(["apply", "c"])
            .arg(&mid)
            .arg(&back)
            .assert()
            .success();
        assert_eq!(
            colour_type(&back),
            colour_type(&input),
            "{} via {ext}",
            input.display()
        );
        assert_eq!(
            pixels(&back),
            pixels(&input),
            "{} via {ext}",
            input.display()
        );
    }
}

#[test]
fn images_to_npy_keep_type_and_stack_channels_last() {
    let tmp = TempDir::new().unwrap();
    let grey = tmp.path().join("grey.npy");
    let rgba = tmp.path().join("rgba.npy");
    jitfilter()
        .args(["apply", "c"])
        .arg(fixture("grey16.png"))
        .arg(&grey)
        .assert()
        .success();
    jitfilter()
        .args(["apply", "c"])
        .arg(fixture("rgba8.png"))
        .arg(&rgba)
        .assert()
        .success();
    let g: ArrayD<u16> = ndarray_npy::read_npy(&grey).unwrap();
    assert_eq!(g.shape(), &[37, 53]);
    assert_eq!(
        g.iter().copied().collect::<Vec<_>>(),
        pixels(&fixture("grey16.png")).3
    );
    let c: ArrayD<u8> = ndarray_npy::read_npy(&rgba).unwrap();
    assert_eq!(c.shape(), &[23, 31, 4]);
    assert_eq!(
        c.iter().map(|&v| v as u16).collect::<Vec<_>>(),
        pixels(&fixture("rgba8.png")).3
    );
}

/// Float results go to .tiff and .npy with the same values; `--dtype u8` rounds half to even
/// and saturates.
#[test]
fn dtypes_float_tiff_and_rounding() {
    let tmp = TempDir::new().unwrap();
    let (npy, tiff, back) = (
        tmp.path().join("s.npy"),
        tmp.path().join("s.tiff"),
        tmp.path().join("back.npy"),
    );
    for out in [&npy, &tiff] {
        jitfilter()
            .args(["apply", "std(w)", "--dtype", "f32"])
            .arg(data("coins.png"))
            .arg(out)
            .assert()
            .success();
    }
    jitfilter()
        .args(["apply", "c"])
        .arg(&tiff)
        .arg(&back)
        .assert()
        .success();
    let a: ArrayD<f32> = ndarray_npy::read_npy(&npy).unwrap();
    let b: ArrayD<f32> = ndarray_npy::read_npy(&back).unwrap();
    assert_eq!(a, b);
    assert!(
        a.iter().any(|v| v.fract() != 0.0),
        "std of an image is not all integers"
    );

    // 0.5, 1.5, 2.5 → 0, 2, 2; -3 → 0; 300 → 255.
    let input = tmp.path().join("v.npy");
    ndarray_npy::write_npy(&input, &ndarray::arr1(&[0.5, 1.5, 2.5, -3.0, 300.0])).unwrap();
    let out = tmp.path().join("u8.npy");
    jitfilter()
        .args(["apply", "c", "-f", "box:1", "--dtype", "u8"])
        .arg(&input)
        .arg(&out)
        .assert()
        .success();
    let r: ArrayD<u8> = ndarray_npy::read_npy(&out).unwrap();
    assert_eq!(r.into_raw_vec_and_offset().0, vec![0, 2, 2, 0, 255]);
}

#[test]
fn jpeg_output_is_close_to_the_exact_result() {
    let tmp = TempDir::new().unwrap();
    let (jpg, png) = (tmp.path().join("m.jpg"), tmp.path().join("m.png"));
    jitfilter()
        .args(["apply", "mean(w)"])
        .arg(data("camera.png"))
        .arg(&jpg)
        .assert()
        .success();
    jitfilter()
        .args(["apply", "mean(w)"])
        .arg(data("camera.png"))
        .arg(&png)
        .assert()
        .success();
    let (a, b) = (pixels(&jpg).3, pixels(&png).3);
    assert_eq!(a.len(), b.len());
    let mean_error = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (*x as f64 - *y as f64).abs())
        .sum::<f64>()
        / a.len() as f64;
    assert!(mean_error < 2.0, "JPEG differs by {mean_error} on average");
    // And JPEG input works too.
    jitfilter()
        .args(["apply", "max(w)"])
        .arg(&jpg)
        .arg(tmp.path().join("again.png"))
        .assert()
        .success();
}

/// A mask from a PNG (nonzero = in) gives the same result as the equivalent built-in footprint.
#[test]
fn footprint_from_image_mask_and_weights() {
    let tmp = TempDir::new().unwrap();
    let mask = tmp.path().join("cross.png");
    let m = image::GrayImage::from_fn(3, 3, |x, y| {
        image::Luma([if x == 1 || y == 1 { 255 } else { 0 }])
    });
    m.save(&mask).unwrap();
    let (a, b) = (tmp.path().join("a.png"), tmp.path().join("b.png"));
    jitfilter()
        .args(["apply", "max(w)", "-f"])
        .arg(format!("file:{}", mask.display()))
        .arg(data("coins.png"))
        .arg(&a)
        .assert()
        .success();
    jitfilter()
        .args(["apply", "max(w)", "-f", "diamond:1"])
        .arg(data("coins.png"))
        .arg(&b)
        .assert()
        .success();
    assert_eq!(pixels(&a), pixels(&b));

    // Integer weights as numpy makes them by default (int64): k holds them.
    let weights = tmp.path().join("w.npy");
    ndarray_npy::write_npy(
        &weights,
        &ndarray::arr2(&[[0i64, 1, 0], [1, 4, 1], [0, 1, 0]]),
    )
    .unwrap();
    let (wa, wb) = (tmp.path().join("wa.npy"), tmp.path().join("wb.npy"));
    jitfilter()
        .args(["apply", "sum(k * w) / 8", "--dtype", "f64", "--weights"])
        .arg(&weights)
        .arg(data("coins.png"))
        .arg(&wa)
        .assert()
        .success();
    jitfilter()
        .args([
            "apply",
            "(sum(w) + 3 * c) / 8",
            "--dtype",
            "f64",
            "-f",
            "diamond:1",
        ])
        .arg(data("coins.png"))
        .arg(&wb)
        .assert()
        .success();
    let (x, y) = (read_f64(&wa), read_f64(&wb));
    assert!(x.iter().zip(y.iter()).all(|(p, q)| close(*p, *q)));
}

/// `-e` reads the program from a file; `-p` sets its params; `--origin` and `--mode constant`
/// with `--cval` reach the engine.
#[test]
fn kernel_file_params_origin_and_cval() {
    let tmp = TempDir::new().unwrap();
    let kf = tmp.path().join("sauvola.kf");
    std::fs::write(&kf, "# Sauvola threshold\nparam r = 0.2;\nlet m = mean(w);\nlet s = std(w);\nif c > m * (1 + r * (s / 128 - 1)) then 255 else 0\n").unwrap();
    let (a, b, c) = (
        tmp.path().join("a.png"),
        tmp.path().join("b.png"),
        tmp.path().join("c.png"),
    );
    jitfilter()
        .args(["apply", "-f", "rect:25x25", "-e"])
        .arg(&kf)
        .arg(data("page.png"))
        .arg(&a)
        .assert()
        .success();
    jitfilter()
        .args(["apply", "-f", "rect:25x25", "-p", "r=0.5", "-e"])
        .arg(&kf)
        .arg(data("page.png"))
        .arg(&b)
        .assert()
        .success();
    let inline =
        "let m = mean(w); let s = std(w); if c > m * (1 + 0.5 * (s / 128 - 1)) then 255 else 0";
    jitfilter()
        .args(["apply", inline, "-f", "rect:25x25"])
        .arg(data("page.png"))
        .arg(&c)
        .assert()
        .success();
    assert_ne!(pixels(&a), pixels(&b), "the param changed nothing");
    assert_eq!(pixels(&b), pixels(&c));
    assert!(pixels(&a).3.iter().all(|&v| v == 0 || v == 255));

    // A 1-D signal: origin shifts the window, constant mode reads cval outside.
    let input = tmp.path().join("x.npy");
    ndarray_npy::write_npy(&input, &ndarray::arr1(&[1.0, 2.0, 3.0, 4.0])).unwrap();
    let out = tmp.path().join("y.npy");
    jitfilter()
        .args([
            "apply", "sum(w)", "-f", "box:3", "-m", "constant", "--cval", "-10", "--origin", "1",
        ])
        .arg(&input)
        .arg(&out)
        .assert()
        .success();
    // Origin 1 centres the window one element to the left: (x[i-2] + x[i-1] + x[i]).
    assert_eq!(
        read_f64(&out).into_raw_vec_and_offset().0,
        vec![-19.0, -7.0, 6.0, 9.0]
    );
}

#[test]
fn three_d_arrays_with_ball_and_threads() {
    let tmp = TempDir::new().unwrap();
    let input = tmp.path().join("v.npy");
    let v = ndarray::Array3::from_shape_fn((5, 6, 7), |(z, y, x)| {
        ((x * 7 + y * 3 + z * 11) % 13) as f32
    });
    ndarray_npy::write_npy(&input, &v).unwrap();
    let (one, two) = (tmp.path().join("1.npy"), tmp.path().join("2.npy"));
    for (out, threads) in [(&one, "1"), (&two, "2")] {
        jitfilter()
            .args(["apply", "max(w) + z", "-f", "ball:1", "--threads", threads])
            .arg(&input)
            .arg(out)
            .assert()
            .success();
    }
    let a: ArrayD<f32> = ndarray_npy::read_npy(&one).unwrap();
    let b: ArrayD<f32> = ndarray_npy::read_npy(&two).unwrap();
    assert_eq!(a.shape(), &[5, 6, 7]);
    assert_eq!(a, b);
    let want = Kernel::compile("max(w) + z")
        .unwrap()
        .filter(v.view(), &Footprint::ball(1), &Options::default())
        .unwrap();
    assert_eq!(a, want.into_dyn());
}

/// OUTPUT == INPUT is allowed: the file is replaced atomically with the result.
#[test]
fn output_may_replace_input() {
    let tmp = TempDir::new().unwrap();
    let file = tmp.path().join("coins.png");
    std::fs::copy(data("coins.png"), &file).unwrap();
    let expected = tmp.path().join("expected.png");
    jitfilter()
        .args(["apply", "max(w)"])
        .arg(data("coins.png"))
        .arg(&expected)
        .assert()
        .success();
    jitfilter()
        .args(["apply", "max(w)"])
        .arg(&file)
        .arg(&file)
        .assert()
        .success();
    assert_eq!(pixels(&file), pixels(&expected));
    assert!(stray_temp_files(tmp.path()).is_empty());
}

#[test]
fn time_reports_compile_and_filter_ms() {
    let tmp = TempDir::new().unwrap();
    let assert = jitfilter()
        .args(["apply", "max(w)", "--time"])
        .arg(data("coins.png"))
        .arg(tmp.path().join("o.png"))
        .assert()
        .success()
        .stdout("");
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(
        stderr.starts_with("time: compile ")
            && stderr.contains(" ms, ")
            && stderr.contains("filter "),
        "{stderr}"
    );
}

#[test]
fn every_engine_gives_the_same_result() {
    let tmp = TempDir::new().unwrap();
    let expr = "let m = mean(w); max(w) - m + std(w) / 4";
    let mut results = Vec::new();
    for engine in ["auto", "fused", "callback", "interpreter"] {
        let out = tmp.path().join(format!("{engine}.npy"));
        jitfilter()
            .args([
                "apply", expr, "-f", "disk:2", "--dtype", "f64", "--engine", engine,
            ])
            .arg(data("coins.png"))
            .arg(&out)
            .assert()
            .success();
        results.push(read_f64(&out));
    }
    for r in &results[1..] {
        assert!(r.iter().zip(results[0].iter()).all(|(a, b)| close(*a, *b)));
    }
    jitfilter()
        .args(["apply", "c", "--engine", "turbo"])
        .arg(data("coins.png"))
        .arg(tmp.path().join("x.png"))
        .assert()
        .code(2);
}

/// Replacing a file keeps its permissions; a symlink's target is replaced, the link kept.
#[cfg(unix)]
#[test]
fn replacing_keeps_permissions_and_follows_symlinks() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = TempDir::new().unwrap();
    let real = tmp.path().join("real.png");
    std::fs::write(&real, b"old").unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).unwrap();
    let link = tmp.path().join("link.png");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    jitfilter()
        .args(["apply", "max(w)"])
        .arg(data("coins.png"))
        .arg(&link)
        .assert()
        .success();
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(
        std::fs::metadata(&real).unwrap().permissions().mode() & 0o777,
        0o640
    );
    assert_eq!(pixels(&real).0, 384);
    assert!(stray_temp_files(tmp.path()).is_empty());
}
