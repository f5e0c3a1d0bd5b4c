//! Data safety of the CLI beyond tests/cli_errors.rs and tests/cli_batch.rs: a full disk, an
//! interrupted batch, inputs never modified. Whatever happens: exit code 1 with the path in the
//! message, an existing output either untouched or completely replaced, no temporary files left.

mod cli_support;

use cli_support::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};
use tempfile::TempDir;

fn snapshot(path: &Path) -> (Vec<u8>, SystemTime) {
    (
        std::fs::read(path).unwrap(),
        std::fs::metadata(path).unwrap().modified().unwrap(),
    )
}

/// A 64 KiB tmpfs, if this machine lets us mount one (root on Linux); unmounted on drop.
struct TinyFs(TempDir);

impl TinyFs {
    fn mount() -> Option<TinyFs> {
        let dir = TempDir::new().ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        ok.then_some(TinyFs(dir))
    }
    fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for TinyFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

#[test]
fn disk_full_keeps_the_existing_output_and_leaves_no_temp_file() {
    let Some(fs) = TinyFs::mount() else {
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    };
    // An existing small output that must survive, and a result (512×512×3 f64 = 6 MiB) that
    // cannot fit.
    let out = fs.path().join("out.npy");
    std::fs::write(&out, b"previous result").unwrap();
    let input = data("astronaut.png");
    let before = snapshot(&input);
    let output = jitfilter()
        .args(["apply", "max(w)", "--dtype", "f64"])
        .arg(&input)
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_no_panic(&stderr);
    assert!(
        stderr.contains("out.npy") && stderr.contains("no space left"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&out).unwrap(), b"previous result");
    assert!(stray_temp_files(fs.path()).is_empty());
    assert_eq!(snapshot(&input), before);
    // The same into a batch folder on the full disk: every file fails, nothing half-written.
    let output = jitfilter()
        .args([
            "apply",
            "max(w)",
            "--dtype",
            "f64",
            "--ext",
            ".npy",
            "--out-dir",
        ])
        .arg(fs.path())
        .arg(data("camera.png"))
        .arg(data("coins.png"))
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_no_panic(&stderr);
    assert!(stderr.contains("camera.npy"), "{stderr}");
    assert!(stray_temp_files(fs.path()).is_empty());
    let names: Vec<_> = std::fs::read_dir(fs.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["out.npy"], "{names:?}");
}

/// Copies the sample images into `dir` under numbered names; returns their paths.
fn inputs(dir: &Path, copies: usize) -> Vec<PathBuf> {
    (0..copies)
        .map(|i| {
            let name = ["astronaut.png", "camera.png", "coins.png", "page.png"][i % 4];
            let p = dir.join(format!("in{i:02}_{name}"));
            std::fs::copy(data(name), &p).unwrap();
            p
        })
        .collect()
}

#[test]
fn interrupted_batch_leaves_whole_files_and_no_temp_files() {
    let tmp = TempDir::new().unwrap();
    let ins = inputs(tmp.path(), 8);
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    // Existing outputs: each must end up either untouched or a complete new result.
    for p in &ins {
        let o = out.join(p.file_name().unwrap());
        std::fs::write(o, b"old").unwrap();
    }
    let before: Vec<_> = ins.iter().map(|p| snapshot(p)).collect();
    for signal in ["INT", "TERM", "KILL"] {
        // Each run starts from the old outputs, so that the wait below sees this run's first.
        for p in &ins {
            let o = out.join(p.file_name().unwrap());
            if std::fs::read(&o).is_ok_and(|b| b != b"old") {
                std::fs::write(o, b"old").unwrap();
            }
        }
        // A median the planner cannot plan (a sort per pixel): the batch takes seconds, not the
        // milliseconds a planned median of eight images takes, so the signal comes mid-batch.
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("jitfilter"))
            .args([
                "apply",
                "median(w * dx)",
                "-f",
                "disk:9",
                "--threads",
                "1",
                "--out-dir",
            ])
            .arg(&out)
            .args(&ins)
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Interrupt after the first output appears (or after 20 s).
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            let changed = std::fs::read_dir(&out)
                .unwrap()
                .any(|e| std::fs::read(e.unwrap().path()).is_ok_and(|b| b != b"old"));
            if changed {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(150));
        Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .unwrap();
        let status = child.wait().unwrap();
        assert!(
            !status.success(),
            "{signal}: the batch finished before the signal"
        );
        for p in &ins {
            let o = out.join(p.file_name().unwrap());
            let bytes = std::fs::read(&o).unwrap();
            if bytes != b"old" {
                let img = image::load_from_memory(&bytes)
                    .unwrap_or_else(|e| panic!("{signal}: {} is damaged: {e}", o.display()));
                let want = image::open(p).unwrap();
                assert_eq!((img.width(), img.height()), (want.width(), want.height()));
            }
        }
        if signal != "KILL" {
            // SIGKILL cannot be caught, so a temporary file may remain after it (it is never
            // mistaken for an output: it starts with a dot and ends in .tmp).
            assert!(
                stray_temp_files(&out).is_empty(),
                "{signal} left temporary files: {:?}",
                stray_temp_files(&out)
            );
        }
        for f in stray_temp_files(&out) {
            std::fs::remove_file(out.join(f)).unwrap();
        }
    }
    let after: Vec<_> = ins.iter().map(|p| snapshot(p)).collect();
    assert_eq!(before, after, "an input was modified");
}

#[test]
fn inputs_are_never_modified_even_when_things_fail() {
    let tmp = TempDir::new().unwrap();
    let ins = inputs(tmp.path(), 4);
    let broken = tmp.path().join("broken.png");
    std::fs::write(&broken, b"\x89PNG\r\n\x1a\n truncated").unwrap();
    let npy = tmp.path().join("a.npy");
    std::fs::copy(fixture_or_npy(), &npy).unwrap();
    let mut all = ins.clone();
    all.push(broken.clone());
    all.push(npy.clone());
    let before: Vec<_> = all.iter().map(|p| snapshot(p)).collect();
    let out = tmp.path().join("out");
    // A batch with a failure, a float result that PNG cannot hold, and a kernel error.
    for args in [
        vec!["apply", "max(w)", "--ext", ".npy", "--out-dir"],
        vec!["apply", "mean(w)", "--dtype", "f64", "--out-dir"],
        vec!["apply", "max(w) +", "--out-dir"],
    ] {
        let output = jitfilter()
            .args(&args)
            .arg(&out)
            .args(&all)
            .output()
            .unwrap();
        assert_ne!(output.status.code(), Some(0));
        assert_no_panic(&String::from_utf8_lossy(&output.stderr));
    }
    let after: Vec<_> = all.iter().map(|p| snapshot(p)).collect();
    assert_eq!(before, after, "an input was modified");
    assert!(stray_temp_files(tmp.path()).is_empty());
    if out.exists() {
        assert!(stray_temp_files(&out).is_empty());
    }
}

fn fixture_or_npy() -> PathBuf {
    root().join("tests/fixtures/edge/one_1d_reflect.input.npy")
}

/// A TIFF whose header claims 60000 × 60000 16-bit pixels (6.7 GB): refused before allocating.
#[test]
fn tiff_and_npy_bombs_are_refused() {
    let tmp = TempDir::new().unwrap();
    let t = tiff_directory(
        &[
            (256, 4, 1, 60_000), // width
            (257, 4, 1, 60_000), // height
            (258, 3, 1, 16),     // bits per sample
            (259, 3, 1, 1),      // no compression
            (262, 3, 1, 1),      // black is zero
            (273, 4, 1, 200),    // strip offset
            (277, 3, 1, 1),      // samples per pixel
            (278, 4, 1, 60_000), // rows per strip
            (279, 4, 1, 16),     // strip byte count (a lie)
        ],
        216,
    );
    let tiff = tmp.path().join("bomb.tif");
    std::fs::write(&tiff, &t).unwrap();
    // A .npy header promising 2^40 f64 values.
    let mut header =
        b"{'descr': '<f8', 'fortran_order': False, 'shape': (1048576, 1048576), }".to_vec();
    while (header.len() + 11) % 64 != 0 {
        header.push(b' ');
    }
    header.push(b'\n');
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    npy.extend_from_slice(&(header.len() as u16).to_le_bytes());
    npy.extend_from_slice(&header);
    npy.extend_from_slice(&[0; 64]);
    let npy_path = tmp.path().join("bomb.npy");
    std::fs::write(&npy_path, &npy).unwrap();
    for (path, name) in [(&tiff, "bomb.tif"), (&npy_path, "bomb.npy")] {
        let start = Instant::now();
        let output = jitfilter()
            .args(["apply", "max(w)"])
            .arg(path)
            .arg(tmp.path().join("out.tif"))
            .output()
            .unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert_no_panic(&stderr);
        assert!(stderr.contains(name), "{stderr}");
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{name} took {:?}",
            start.elapsed()
        );
        assert!(!tmp.path().join("out.tif").exists());
    }
}

/// An output that is (or is a symlink to) a special file — a FIFO here; `/dev/null` or
/// `/dev/full` in real use — is replaced by a regular file: `imageio::save_atomic` resolves the
/// symlink, writes a temporary file beside the target and renames it over it
/// (src/imageio/atomic.rs, `replace`, the `persist` call). Run as root with
/// `out.png -> /dev/null`, that replaces the system's /dev/null. The special file must stay
/// what it was: write into it directly, or refuse ("not a regular file") with exit code 1.
#[test]
fn special_file_outputs_are_not_replaced() {
    use std::os::unix::fs::FileTypeExt;
    let tmp = TempDir::new().unwrap();
    let fifo = tmp.path().join("fifo");
    if !Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success())
    {
        eprintln!("skipped: no mkfifo");
        return;
    }
    let link = tmp.path().join("out.npy");
    std::os::unix::fs::symlink(&fifo, &link).unwrap();
    for out in [&link, &fifo] {
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("jitfilter"))
            .args(["apply", "max(w)"])
            .arg(root().join("tests/fixtures/edge/one_1d_reflect.input.npy"))
            .arg(out)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Writing into a FIFO with no reader blocks; give it a moment, then stop it.
        std::thread::sleep(Duration::from_secs(3));
        let _ = child.kill();
        let _ = child.wait();
        let kind = std::fs::symlink_metadata(&fifo).unwrap().file_type();
        assert!(
            kind.is_fifo(),
            "{}: the FIFO was replaced by {kind:?}",
            out.display()
        );
    }
    assert!(stray_temp_files(tmp.path()).is_empty());
}

/// A 14-byte `.npy` (version 2) whose header length field says 4 GiB: refused from the field,
/// before the reader allocates the header (found by the load_image fuzzer as an OOM).
#[test]
fn npy_header_length_beyond_the_file_is_refused() {
    let tmp = TempDir::new().unwrap();
    let mut npy = b"\x93NUMPY\x02\x00".to_vec();
    npy.extend_from_slice(&u32::MAX.to_le_bytes());
    npy.extend_from_slice(b"{'");
    let path = tmp.path().join("forged.npy");
    std::fs::write(&path, &npy).unwrap();
    let output = jitfilter()
        .args(["apply", "max(w)"])
        .arg(&path)
        .arg(tmp.path().join("out.npy"))
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("forged.npy") && stderr.contains("the header claims 4294967295 bytes"),
        "{stderr}"
    );
    assert_no_panic(&stderr);
}
