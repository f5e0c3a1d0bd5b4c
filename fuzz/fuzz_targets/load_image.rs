//! Arbitrary bytes as a PNG/TIFF/JPEG/.npy file through the CLI's loading path
//! (`imageio::load` and `imageio::load_weights`): a typed error or an image, never a panic, an
//! abort on a huge allocation, or a hang.
//! The logic is in fuzz/common/load_image.rs, shared with the stable replay test
//! tests/hardening_fuzz_corpus.rs.
#![no_main]

#[path = "../common/load_image.rs"]
mod load_image;

libfuzzer_sys::fuzz_target!(|data: &[u8]| load_image::run(data));
