//! The classic case: `max(w)` (grey dilation) and `sqrt(var(w))` (local standard deviation) on
//! the camera image with an 11-pixel disk, timed.
//!
//! cargo run --release --example camera [-- OUT_DIR]

use jitfilter::{Footprint, Kernel, Options};
use ndarray::Array2;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out_dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| std::env::temp_dir().display().to_string());
    let img = image::open(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/camera.png"
    ))?
    .to_luma8();
    let (w, h) = img.dimensions();
    let input = Array2::from_shape_vec((h as usize, w as usize), img.into_raw())?;
    let footprint = Footprint::disk(11);
    for (name, src) in [("max", "max(w)"), ("std", "sqrt(var(w))")] {
        let t0 = Instant::now();
        let kernel = Kernel::compile(src)?;
        let t1 = Instant::now();
        // f64 output keeps the local deviation's fraction; clamp into u8 for viewing.
        let out = kernel.filter_as::<u8, f64, _>(input.view(), &footprint, &Options::default())?;
        let t2 = Instant::now();
        let scale = if name == "std" { 4.0 } else { 1.0 };
        let pixels: Vec<u8> = out
            .iter()
            .map(|v| (v * scale).round().clamp(0.0, 255.0) as u8)
            .collect();
        let path = format!("{out_dir}/camera_{name}.png");
        image::GrayImage::from_raw(w, h, pixels)
            .ok_or("size mismatch")?
            .save(&path)?;
        println!(
            "{src:14} compile {:7.3} ms   filter {:7.2} ms   -> {path}",
            (t1 - t0).as_secs_f64() * 1e3,
            (t2 - t1).as_secs_f64() * 1e3
        );
    }
    Ok(())
}
