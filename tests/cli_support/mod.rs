//! Shared by the tests/cli_*.rs files: running the binary and reading what it wrote.

#![allow(dead_code)] // each test file uses a different part

use assert_cmd::Command;
use jitfilter::Mode;
use ndarray::ArrayD;
use std::path::{Path, PathBuf};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A file under tests/data (the sample images).
pub fn data(name: &str) -> PathBuf {
    root().join("tests/data").join(name)
}

/// A file under tests/fixtures/cli (made by gen_cli_fixtures.py).
pub fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures/cli").join(name)
}

/// The binary, with colour and terminal detection out of the way.
pub fn jitfilter() -> Command {
    let mut cmd = Command::cargo_bin("jitfilter").expect("the jitfilter binary is built");
    cmd.env("NO_COLOR", "1").env_remove("CLICOLOR_FORCE");
    cmd
}

/// Pixels of an image as (width, height, channels, samples as u16).
pub fn pixels(path: &Path) -> (u32, u32, usize, Vec<u16>) {
    let img = image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (w, h) = (img.width(), img.height());
    let channels = img.color().channel_count() as usize;
    let samples: Vec<u16> = match img {
        image::DynamicImage::ImageLuma8(b) => b.into_raw().into_iter().map(u16::from).collect(),
        image::DynamicImage::ImageLumaA8(b) => b.into_raw().into_iter().map(u16::from).collect(),
        image::DynamicImage::ImageRgb8(b) => b.into_raw().into_iter().map(u16::from).collect(),
        image::DynamicImage::ImageRgba8(b) => b.into_raw().into_iter().map(u16::from).collect(),
        image::DynamicImage::ImageLuma16(b) => b.into_raw(),
        image::DynamicImage::ImageRgb16(b) => b.into_raw(),
        image::DynamicImage::ImageRgba16(b) => b.into_raw(),
        other => panic!("unexpected pixel format {:?}", other.color()),
    };
    (w, h, channels, samples)
}

/// The colour type of an image file, e.g. `L16`.
pub fn colour_type(path: &Path) -> image::ColorType {
    image::open(path).unwrap().color()
}

pub fn read_f64(path: &Path) -> ArrayD<f64> {
    ndarray_npy::read_npy(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Files in `dir` whose names start with a dot: leftovers of a failed atomic write.
pub fn stray_temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect()
}

/// Stderr must never show a panic or a backtrace, whatever went wrong.
pub fn assert_no_panic(stderr: &str) {
    for bad in [
        "panicked",
        "RUST_BACKTRACE",
        "stack backtrace",
        "internal error",
    ] {
        assert!(!stderr.contains(bad), "stderr shows a panic:\n{stderr}");
    }
}

/// Index `i` of an axis of length `n` under `mode`, or `None` for `cval` — scipy's extension
/// rules folded step by step (independent of src/boundary.rs's closed forms).
pub fn extend(mode: Mode, i: isize, n: usize) -> Option<usize> {
    let n = n as isize;
    let mut i = i;
    match mode {
        Mode::Constant => (0..n).contains(&i).then_some(i as usize),
        Mode::Nearest => Some(i.max(0).min(n - 1) as usize),
        Mode::Wrap => {
            while i < 0 {
                i += n;
            }
            while i >= n {
                i -= n;
            }
            Some(i as usize)
        }
        // d c b a | a b c d | d c b a
        Mode::Reflect => loop {
            if i < 0 {
                i = -1 - i;
            } else if i >= n {
                i = 2 * n - 1 - i;
            } else {
                return Some(i as usize);
            }
        },
        // d c b | a b c d | c b a
        Mode::Mirror if n == 1 => Some(0),
        Mode::Mirror => loop {
            if i < 0 {
                i = -i;
            } else if i >= n {
                i = 2 * (n - 1) - i;
            } else {
                return Some(i as usize);
            }
        },
    }
}

/// A little-endian TIFF header and one image file directory of `entries` (tag, type, count,
/// value: SHORT (3) or LONG (4); a value of count > 1 is the offset of its array), padded to
/// `len` bytes: hand-built files that lie (bombs, strips that do not add up).
pub fn tiff_directory(entries: &[(u16, u16, u32, u32)], len: usize) -> Vec<u8> {
    let mut t = b"II*\0".to_vec();
    t.extend_from_slice(&8u32.to_le_bytes());
    t.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    for &(tag, ty, count, v) in entries {
        t.extend_from_slice(&tag.to_le_bytes());
        t.extend_from_slice(&ty.to_le_bytes());
        t.extend_from_slice(&count.to_le_bytes());
        if ty == 3 && count == 1 {
            t.extend_from_slice(&(v as u16).to_le_bytes());
            t.extend_from_slice(&[0, 0]);
        } else {
            t.extend_from_slice(&v.to_le_bytes());
        }
    }
    t.extend_from_slice(&0u32.to_le_bytes());
    t.resize(len, 0);
    t
}

/// Every boundary mode.
pub const MODES: [Mode; 5] = [
    Mode::Reflect,
    Mode::Mirror,
    Mode::Nearest,
    Mode::Wrap,
    Mode::Constant,
];

/// A small deterministic generator (the cases must not depend on a crate's stream).
pub struct Gen(pub u64);

impl Gen {
    pub fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}
