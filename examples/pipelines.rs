//! Filters of several passes, each one program (examples/kf/*.kf): a morphological opening, a
//! difference of boxes, the Harris corner response and a guided filter (the camera image as its
//! own guide), on the camera image; prints compile and filter times and writes PNGs (each
//! result stretched to 0..255 for viewing).
//!
//! cargo run --release --example pipelines [-- OUT_DIR]

use jitfilter::{Footprint, Inputs, Kernel, Limits, Options};
use ndarray::{Array2, ArrayD};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out_dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| std::env::temp_dir().display().to_string());
    let root = env!("CARGO_MANIFEST_DIR");
    let img = image::open(format!("{root}/tests/data/camera.png"))?.to_luma8();
    let (w, h) = img.dimensions();
    let input = Array2::from_shape_vec((h as usize, w as usize), img.into_raw())?;
    for name in ["opening", "dob", "harris", "guided"] {
        let source = std::fs::read_to_string(format!("{root}/examples/kf/{name}.kf"))?;
        let t0 = Instant::now();
        // The guided filter reads a guide image `g`; the others ignore it.
        let kernel = Kernel::compile_for(&source, &["g"], &Limits::default())?;
        let t1 = Instant::now();
        let inputs = Inputs::new(input.view()).with("g", input.view());
        let mut options = Options::default();
        if kernel.params().iter().any(|p| p.name == "eps") {
            options = options.param("eps", 400.0);
        }
        // Every reduction of these programs has its own `over`: the footprint here is unused.
        let out: ArrayD<f64> = kernel.apply(&inputs, &Footprint::cube(3), &options)?;
        let t2 = Instant::now();
        println!(
            "{name:8} compile {:6.2} ms  filter {:7.2} ms  ({} passes)",
            (t1 - t0).as_secs_f64() * 1e3,
            (t2 - t1).as_secs_f64() * 1e3,
            kernel.passes().len()
        );
        let (lo, hi) = out
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
        let scale = if hi > lo { 255.0 / (hi - lo) } else { 0.0 };
        let pixels: Vec<u8> = out
            .iter()
            .map(|&v| ((v - lo) * scale).round() as u8)
            .collect();
        let path = format!("{out_dir}/{name}.png");
        image::GrayImage::from_raw(w, h, pixels)
            .ok_or("image size")?
            .save(&path)?;
        println!("         -> {path}");
    }
    Ok(())
}
