//! Arbitrary bytes as a PNG/TIFF/JPEG/.npy file through the CLI's loading path
//! (`imageio::load` and `imageio::load_weights`): a typed error or an image, never a panic, an
//! abort on a huge allocation, or a hang.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Runs one fuzz input; panics on a finding.
pub fn run(data: &[u8]) {
    if data.is_empty() {
        return;
    }
    // The first byte picks the extension (the fallback when sniffing the content fails).
    let ext = ["png", "tif", "jpg", "npy", "tiff", "jpeg"][data[0] as usize % 6];
    let body = &data[1..];
    let dir = std::env::temp_dir();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let path = dir.join(format!("jitfilter-fuzz-{}-{n}.{ext}", std::process::id()));
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(body))
        .expect("write fuzz input");
    if let Ok(image) = jitfilter::imageio::load(&path) {
        let shape = image.shape().to_vec();
        assert!((1..=3).contains(&shape.len()) && !shape.contains(&0));
        let _ = image.describe();
    }
    let _ = jitfilter::imageio::load_weights(&path, &jitfilter::Limits::default());
    let _ = std::fs::remove_file(&path);
}
