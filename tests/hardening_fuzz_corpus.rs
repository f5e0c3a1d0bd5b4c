//! Replays the fuzzers' minimised corpora (fuzz/corpus/<target>/) and every crash they found
//! (fuzz/regressions/<target>/) through the same checks the fuzz targets make
//! (fuzz/common/*.rs), on stable, so CI guards what the fuzzers learnt. Run the fuzzers
//! themselves with `cargo +nightly fuzz run <target>` (see docs/limits.md).

#[path = "../fuzz/common/engines.rs"]
mod engines;
#[path = "../fuzz/common/load_image.rs"]
mod load_image;
#[path = "../fuzz/common/parse_check.rs"]
mod parse_check;

use std::path::Path;

/// Every file under fuzz/corpus/<target> and fuzz/regressions/<target>, sorted by name.
fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut files = Vec::new();
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            if path.is_file() {
                let bytes = std::fs::read(&path).unwrap();
                files.push((path.display().to_string(), bytes));
            }
        }
    }
    files.sort();
    files
}

/// Runs every input on a thread with 8 MiB of stack (libFuzzer's main thread has as much), and
/// names the input in the failure.
fn replay(target: &str, min: usize, run: fn(&[u8])) {
    let files = inputs(target);
    assert!(
        files.len() >= min,
        "{target}: only {} corpus files",
        files.len()
    );
    for (name, bytes) in files {
        let result = std::thread::Builder::new()
            .stack_size(8 << 20)
            .spawn(move || run(&bytes))
            .unwrap()
            .join();
        assert!(
            result.is_ok(),
            "{target}: {name} fails (see the panic above)"
        );
    }
}

#[test]
fn parse_check_corpus() {
    replay("parse_check", 10, parse_check::run);
}

#[test]
fn engines_corpus() {
    replay("engines", 10, engines::run);
}

#[test]
fn load_image_corpus() {
    replay("load_image", 10, load_image::run);
}
