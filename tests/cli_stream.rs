//! Row streaming through `jitfilter apply` (issue 18): every format that streams gives exactly
//! what the whole-image path gives (`--stream always` against `--stream never`), in every mode,
//! through stages and tuple results; TIFF layouts made by other writers (tiles, LZW, PackBits,
//! deflate, big-endian, planar; tests/fixtures/gen_stream_fixtures.py) stream too; compressed
//! outputs read back equal; what does not stream (JPEG) says so and is read whole; a file that
//! breaks midway leaves no output and names the row.

mod cli_support;

use cli_support::*;
use jitfilter::imageio::{self, DynArray, Image};
use std::path::{Path, PathBuf};
use tempfile::TempDir;

fn stream_fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures/stream").join(name)
}

/// Runs `apply` on `input` into `output` with `args`, streamed or not; returns stderr.
fn apply(expr: &str, input: &Path, output: &Path, args: &[&str], stream: &str) -> String {
    let out = jitfilter()
        .arg("apply")
        .arg(expr)
        .arg(input)
        .arg(output)
        .args(args)
        .args(["--stream", stream, "--time"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        out.status.success(),
        "{expr} {} ({stream}): {stderr}",
        input.display()
    );
    stderr
}

fn load(path: &Path) -> Image {
    imageio::load(path).unwrap_or_else(|e| panic!("{e}"))
}

/// Bit-for-bit equality of two decoded images (NaN equals NaN).
fn same(a: &Image, b: &Image) -> bool {
    let bits = |p: &DynArray| -> Vec<u64> { p.to_f64().iter().map(|v| v.to_bits()).collect() };
    a.layout() == b.layout()
        && a.dtype() == b.dtype()
        && a.shape() == b.shape()
        && (a.planes().iter().zip(b.planes())).all(|(p, q)| bits(p) == bits(q))
        && a.alpha().map(bits) == b.alpha().map(bits)
}

/// Streams and reads whole, and compares; the streamed run must say it streamed.
fn check(expr: &str, input: &Path, ext: &str, args: &[&str]) {
    let tmp = TempDir::new().unwrap();
    let streamed = tmp.path().join(format!("s.{ext}"));
    let whole = tmp.path().join(format!("w.{ext}"));
    let said = apply(expr, input, &streamed, args, "always");
    assert!(
        said.contains("streamed"),
        "{} did not stream: {said}",
        input.display()
    );
    apply(expr, input, &whole, args, "never");
    assert!(
        same(&load(&streamed), &load(&whole)),
        "`{expr}` {args:?} on {}: streamed and whole results differ",
        input.display()
    );
}

const MODES: [&str; 5] = ["reflect", "mirror", "nearest", "wrap", "constant"];

#[test]
fn grey_png_streams_bit_for_bit_in_every_mode() {
    for mode in MODES {
        check(
            "median(w)",
            &data("camera.png"),
            "png",
            &["-f", "box:5", "--mode", mode],
        );
        check(
            "(c - mean(w)) / (std(w) + 1)",
            &data("camera.png"),
            "tiff",
            &["-f", "disk:4", "--mode", mode, "--dtype", "f64"],
        );
    }
}

#[test]
fn colour_stages_and_tuples_stream_bit_for_bit() {
    check(
        "max(w) - min(w)",
        &data("astronaut.png"),
        "png",
        &["-f", "box:3"],
    );
    for mode in ["reflect", "wrap", "constant"] {
        check(
            "stage e = min(w) over disk:3; max(e) over disk:3",
            &data("coins.png"),
            "tiff",
            &["--mode", mode, "--cval", "9"],
        );
    }
    check(
        "(max(w), min(w), y)",
        &data("coins.png"),
        "npy",
        &["-f", "box:3", "--dtype", "f32"],
    );
}

#[test]
fn tiff_layouts_of_other_writers_stream() {
    // The same pixels, planar and tiled (gen_stream_fixtures.py): the decoders agree.
    let planar = load(&stream_fixture("rgb_u8_planar.tif"));
    assert!(same(&planar, &load(&stream_fixture("rgb_u8_tiles.tif"))));
    for (name, ext) in [
        ("tiles_u16_deflate.tif", "tiff"),
        ("strips_u8_lzw.tif", "png"),
        ("strips_u8_packbits.tif", "tiff"),
        ("strips_f32_bigendian.tif", "tiff"),
        ("rgb_u8_tiles.tif", "tiff"),
        ("rgb_u8_planar.tif", "tiff"),
        ("f64_bigendian.npy", "npy"),
    ] {
        check("mean(w)", &stream_fixture(name), ext, &["-f", "box:5"]);
        check(
            "max(w)",
            &stream_fixture(name),
            ext,
            &["-f", "disk:3", "--mode", "wrap"],
        );
    }
}

/// JPEG input decodes whole, with a note saying so; the result is right.
#[test]
fn jpeg_is_read_whole_with_a_note() {
    let tmp = TempDir::new().unwrap();
    let input = tmp.path().join("in.jpg");
    apply("c", &data("camera.png"), &input, &[], "never");
    let out = tmp.path().join("o.tiff");
    let said = apply("max(w)", &input, &out, &["-f", "box:3"], "always");
    assert!(said.contains("JPEG is decoded whole"), "{said}");
    let want = tmp.path().join("w.tiff");
    apply("max(w)", &input, &want, &["-f", "box:3"], "never");
    assert!(same(&load(&out), &load(&want)));
}

#[test]
fn compressed_tiff_and_png_levels_read_back_equal() {
    let tmp = TempDir::new().unwrap();
    let input = data("camera.png");
    let plain = tmp.path().join("plain.tiff");
    apply("mean(w)", &input, &plain, &["-f", "box:3"], "always");
    let plain_size = std::fs::metadata(&plain).unwrap().len();
    for (compress, stream) in [
        ("lzw", "always"),
        ("deflate", "always"),
        ("deflate", "never"),
    ] {
        let out = tmp.path().join(format!("{compress}-{stream}.tiff"));
        apply(
            "mean(w)",
            &input,
            &out,
            &["-f", "box:3", "--compress", compress],
            stream,
        );
        assert!(same(&load(&out), &load(&plain)), "{compress} {stream}");
        assert!(std::fs::metadata(&out).unwrap().len() < plain_size);
    }
    for level in ["0", "9"] {
        let out = tmp.path().join(format!("l{level}.png"));
        apply(
            "mean(w)",
            &input,
            &out,
            &["-f", "box:3", "--png-level", level],
            "always",
        );
        assert!(same(&load(&out), &load(&plain)), "level {level}");
    }
}

/// Files cut short midway (their headers intact: tifffile writes the directory first): exit 1,
/// the file and the row named, no output and no temporary file left.
#[test]
fn a_file_that_breaks_midway_leaves_nothing() {
    let tmp = TempDir::new().unwrap();
    for (name, from) in [
        ("cut.tif", stream_fixture("strips_f32_bigendian.tif")),
        ("cut.png", data("camera.png")),
    ] {
        let bytes = std::fs::read(&from).unwrap();
        breaks_midway(tmp.path(), name, &bytes[..bytes.len() * 6 / 10]);
    }
}

/// Streams the file `bytes` (written to `dir/name`) onto a precious target: exit 1 naming the
/// file and the row, the target untouched, no temporary file left.
fn breaks_midway(dir: &Path, name: &str, bytes: &[u8]) {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    let target = dir.join("out.tiff");
    std::fs::write(&target, b"precious").unwrap();
    let out = jitfilter()
        .args(["apply", "mean(w)"])
        .arg(&path)
        .arg(&target)
        .args(["--stream", "always", "-f", "box:3"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_no_panic(&stderr);
    assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
    assert!(stderr.contains(name), "{stderr}");
    assert!(stderr.contains("row"), "{stderr}");
    assert_eq!(std::fs::read(&target).unwrap(), b"precious");
    assert!(stray_temp_files(dir).is_empty());
}

/// `wrap` on an image short beside the footprint: the last band reads the first rows, which an
/// earlier band's window already passed (they must have been kept). 350 rows, a 135-row
/// footprint, 8192 columns (bands of 128 rows).
#[test]
fn wrap_on_a_short_wide_image_streams_bit_for_bit() {
    let tmp = TempDir::new().unwrap();
    let input = tmp.path().join("wide.npy");
    let a = ndarray::Array2::from_shape_fn((350, 8192), |(y, x)| ((x * 31 + y * 17) % 251) as u8);
    ndarray_npy::write_npy(&input, &a).unwrap();
    for threads in ["1", "2"] {
        check(
            "mean(w)",
            &input,
            "npy",
            &["-f", "rect:1x135", "--mode", "wrap", "--threads", threads],
        );
    }
}

/// A named input of another size is refused, streamed or not, with the same message.
#[test]
fn a_named_input_of_another_size_is_refused_when_streaming() {
    let tmp = TempDir::new().unwrap();
    let mut said = Vec::new();
    for stream in ["always", "never"] {
        let out = jitfilter()
            .args(["apply", "c + at(g)"])
            .arg(data("camera.png"))
            .arg(tmp.path().join("o.png"))
            .arg("-i")
            .arg(format!("g={}", data("coins.png").display()))
            .args(["--stream", stream])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert_no_panic(&stderr);
        assert!(stderr.contains("input `g`"), "{stderr}");
        said.push((out.status.code(), stderr));
    }
    assert_eq!(said[0], said[1]);
    assert!(!tmp.path().join("o.png").exists());
}

/// Compressed strips whose byte counts lie (too short: the run data stops early; too long: past
/// the file's end): streamed and whole runs end alike — the same image, or exit 1 naming the
/// file with the target untouched and no temp file — and never panic.
#[test]
fn compressed_strips_lying_about_their_sizes() {
    let tmp = TempDir::new().unwrap();
    let honest = tmp.path().join("honest.tif");
    std::fs::write(&honest, packbits_tiff([None; 3])).unwrap();
    let reference = tmp.path().join("reference.npy");
    apply("max(w)", &honest, &reference, &["-f", "box:3"], "never");
    let cases = [
        ("short_middle.tif", [None, Some(5000), None]),
        ("short_last.tif", [None, None, Some(100)]),
        ("past_the_end.tif", [None, None, Some(90000)]),
    ];
    for (name, counts) in cases {
        let path = tmp.path().join(name);
        std::fs::write(&path, packbits_tiff(counts)).unwrap();
        let ends: Vec<Result<Image, String>> = ["always", "never"]
            .iter()
            .map(|stream| {
                let target = tmp.path().join("out.npy");
                std::fs::write(&target, b"precious").unwrap();
                let out = jitfilter()
                    .args(["apply", "max(w)"])
                    .arg(&path)
                    .arg(&target)
                    .args(["-f", "box:3", "--stream", stream])
                    .output()
                    .unwrap();
                let stderr = String::from_utf8_lossy(&out.stderr).to_string();
                assert_no_panic(&stderr);
                assert!(stray_temp_files(tmp.path()).is_empty(), "{name} {stream}");
                if out.status.success() {
                    return Ok(load(&target));
                }
                assert_eq!(out.status.code(), Some(1), "{name} {stream}: {stderr}");
                assert!(stderr.contains(name), "{name} {stream}: {stderr}");
                assert_eq!(std::fs::read(&target).unwrap(), b"precious");
                Err(stderr)
            })
            .collect();
        match (&ends[0], &ends[1]) {
            (Ok(a), Ok(b)) => assert!(same(a, b), "{name}: streamed and whole differ"),
            (Err(_), Err(_)) => {}
            _ => {
                let errors: Vec<Option<&String>> = ends.iter().map(|e| e.as_ref().err()).collect();
                panic!("{name}: streamed and whole end differently (errors {errors:?})")
            }
        }
    }
    // The honest file read back equals itself streamed (the writer of the reference is sound).
    let streamed = tmp.path().join("streamed.npy");
    apply("max(w)", &honest, &streamed, &["-f", "box:3"], "always");
    assert!(same(&load(&streamed), &load(&reference)));
}

/// An uncompressed 200 × 300 grey TIFF in three strips of 100 rows, whose strip byte counts are
/// `counts` (the truth: 20000 each) and whose file holds `held` bytes of pixel data.
fn lying_tiff(counts: [u32; 3], held: usize) -> Vec<u8> {
    let data: Vec<u8> = (0..held).map(|i| (i % 251) as u8).collect();
    let strips: Vec<&[u8]> = data.chunks(20000).collect();
    strips_tiff(1, &strips, counts.map(Some))
}

/// The same image in three PackBits strips, each stored as literal runs of up to 128 bytes,
/// whose byte counts claim `counts` (the true ones where `None`).
fn packbits_tiff(counts: [Option<u32>; 3]) -> Vec<u8> {
    let strips: Vec<Vec<u8>> = (0..3)
        .map(|k| {
            let raw: Vec<u8> = (0..20000).map(|i| ((i * 7 + k * 13) % 251) as u8).collect();
            raw.chunks(128)
                .flat_map(|run| std::iter::once(run.len() as u8 - 1).chain(run.iter().copied()))
                .collect()
        })
        .collect();
    let strips: Vec<&[u8]> = strips.iter().map(|s| &s[..]).collect();
    strips_tiff(32773, &strips, counts)
}

/// A 200 × 300 grey TIFF in three strips of 100 rows compressed by `compression`: the strips'
/// bytes one after another (the last may be cut short or missing), their byte counts as
/// `counts` claim (the true ones where `None`).
fn strips_tiff(compression: u32, strips: &[&[u8]], counts: [Option<u32>; 3]) -> Vec<u8> {
    let (data_at, arrays_at) = (512u32, 256u32);
    let mut t = tiff_directory(
        &[
            (256, 4, 1, 200),            // width
            (257, 4, 1, 300),            // height
            (258, 3, 1, 8),              // bits per sample
            (259, 3, 1, compression),    // compression
            (262, 3, 1, 1),              // black is zero
            (273, 4, 3, arrays_at),      // strip offsets (an array)
            (277, 3, 1, 1),              // samples per pixel
            (278, 4, 1, 100),            // rows per strip
            (279, 4, 3, arrays_at + 12), // strip byte counts (an array)
        ],
        arrays_at as usize,
    );
    let sizes: Vec<u32> = (0..3)
        .map(|k| strips.get(k).map_or(0, |s| s.len() as u32))
        .collect();
    let mut at = data_at;
    for size in &sizes {
        t.extend_from_slice(&at.to_le_bytes());
        at += size;
    }
    for (claim, size) in counts.iter().zip(&sizes) {
        t.extend_from_slice(&claim.unwrap_or(*size).to_le_bytes());
    }
    t.resize(data_at as usize, 0);
    strips.iter().for_each(|s| t.extend_from_slice(s));
    t
}

/// A TIFF whose data stops short of its strips (and of the third strip's claimed size):
/// streamed, an error naming the file and the row (exit 1), with nothing written and no
/// temporary file left. Uncompressed strips whose byte counts lie (fewer bytes than their rows
/// need, or more than the file holds) while the file does hold their rows are read from their
/// offsets by the tiff crate, streamed or whole alike (the same values).
#[test]
fn tiffs_cut_short_or_lying_about_strips() {
    let tmp = TempDir::new().unwrap();
    let cases = [
        ("cut.tif", lying_tiff([20000, 20000, 20000], 45000)),
        (
            "cut_and_lying.tif",
            lying_tiff([20000, 20000, 90000], 45000),
        ),
    ];
    for (name, bytes) in &cases {
        breaks_midway(tmp.path(), name, bytes);
    }
    for (name, counts) in [
        ("honest.tif", [20000; 3]),
        ("short_strip.tif", [20000, 100, 20000]),
        ("past_the_end.tif", [20000, 20000, 40000]),
    ] {
        let path = tmp.path().join(name);
        std::fs::write(&path, lying_tiff(counts, 60000)).unwrap();
        let (streamed, whole) = (tmp.path().join("s.npy"), tmp.path().join("w.npy"));
        apply("max(w)", &path, &streamed, &["-f", "box:3"], "always");
        apply("max(w)", &path, &whole, &["-f", "box:3"], "never");
        assert!(same(&load(&streamed), &load(&whole)), "{name}");
    }
}

/// `.npy` arrays of three and four axes stream along their first axis, a few planes per band
/// (planes of ~400 000 values make bands of two), bit for bit as the whole-array path, in every
/// mode: windows reaching across planes (far planes read ahead or kept under `wrap`), stages,
/// a named input, `at()` offsets and positions along the first axis.
#[test]
fn arrays_of_three_and_four_axes_stream_along_their_first_axis() {
    let tmp = TempDir::new().unwrap();
    let vol = tmp.path().join("vol.npy");
    let a = ndarray::Array3::from_shape_fn((9, 640, 641), |(z, y, x)| {
        ((x * 31 + y * 17 + z * 57) % 251) as u8
    });
    ndarray_npy::write_npy(&vol, &a).unwrap();
    let hyper = tmp.path().join("hyper.npy");
    let b = ndarray::Array4::from_shape_fn((7, 2, 450, 451), |(t, z, y, x)| {
        ((x * 13 + y * 7 + z * 101 + t * 37) % 97) as f32 / 3.0
    });
    ndarray_npy::write_npy(&hyper, &b).unwrap();
    let guide = tmp.path().join("g.npy");
    ndarray_npy::write_npy(&guide, &a.mapv(|v| v / 2 + 1)).unwrap();
    let g = format!("g={}", guide.display());
    for mode in MODES {
        check(
            "stage e = min(w); max(e) - mean(w) + pos(0)",
            &vol,
            "npy",
            &["-f", "ball:2", "--mode", mode, "--dtype", "f32"],
        );
        check(
            "median(w) + at(w, 1, -2, 2) - at(g, 0, 0, -1)",
            &vol,
            "npy",
            &["-f", "box:3", "--mode", mode, "-i", &g],
        );
        check(
            "sqrt(var(w)) + z",
            &hyper,
            "npy",
            &["--axes", "0,1,3", "-f", "ball:1", "--mode", mode],
        );
    }
    // An image format's rows are 2-D: such an output goes the whole array's way (here to its
    // refusal of 641 values per pixel), with a note.
    let ends: Vec<(Option<i32>, String)> = ["always", "never"]
        .iter()
        .map(|stream| {
            let out = jitfilter()
                .args(["apply", "max(w)"])
                .arg(&vol)
                .arg(tmp.path().join("o.tif"))
                .args(["--stream", stream])
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr).to_string();
            assert_no_panic(&stderr);
            (out.status.code(), stderr)
        })
        .collect();
    assert!(ends[0].1.contains("stream into .npy only"), "{}", ends[0].1);
    assert_eq!(ends[0].0, ends[1].0);
    assert!(ends[1].1.contains("641"), "{}", ends[1].1);
}

/// A program of its input's value (`c`) in the input's type passes each band's rows through:
/// the streamed result is the input itself, grey and colour, 8/16-bit and float, TIFF strips
/// and tiles, PNG and `.npy`; into another type it runs the program and equals the whole path.
#[test]
fn a_copy_streams_the_rows_through() {
    for (input, ext) in [
        (data("camera.png"), "tiff"),
        (data("astronaut.png"), "png"),
        (stream_fixture("tiles_u16_deflate.tif"), "tiff"),
        (stream_fixture("rgb_u8_planar.tif"), "tiff"),
        (stream_fixture("strips_f32_bigendian.tif"), "tiff"),
        (stream_fixture("f64_bigendian.npy"), "npy"),
    ] {
        check("c", &input, ext, &[]);
        let tmp = TempDir::new().unwrap();
        let out = tmp.path().join(format!("o.{ext}"));
        apply("c", &input, &out, &[], "always");
        assert!(
            same(&load(&out), &load(&input)),
            "{}: a streamed copy differs from its input",
            input.display()
        );
    }
    check("c", &data("camera.png"), "tiff", &["--dtype", "f32"]);
}
