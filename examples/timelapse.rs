//! A time-lapse of volumes, `(t, z, y, x)`: a 4-D array, filtered in one call. A median over
//! time and space removes shot noise that no single frame could tell from detail, and `pos(0)`
//! (the frame's index) and `d(0)` (each window cell's offset in time) weigh a trend fit: the
//! local slope over time of each voxel, `sum(d(0) * w) / sum(d(0)^2)`.
//!
//! cargo run --release --example timelapse

use jitfilter::{Footprint, Kernel, Mode, Options};
use ndarray::{Array4, ArrayD};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 12 frames of a 24×64×64 volume: a blob that brightens by 2 per frame, plus noise.
    let mut seed = 1u64;
    let mut noise = move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        (seed >> 40) as f64 / (1u64 << 24) as f64 - 0.5
    };
    let frames = Array4::from_shape_fn((12, 24, 64, 64), |(t, z, y, x)| {
        let r2 = (z as f64 - 12.0).powi(2) + (y as f64 - 32.0).powi(2) + (x as f64 - 32.0).powi(2);
        let blob = if r2 < 100.0 {
            50.0 + 2.0 * t as f64
        } else {
            10.0
        };
        blob + 20.0 * noise()
    })
    .into_dyn();
    // Three frames by a 3×3×3 neighbourhood; time is not periodic: `nearest` at its ends.
    let footprint = Footprint::from_mask(ArrayD::from_elem(vec![3, 3, 3, 3], true).view());
    let options =
        Options::default().modes(&[Mode::Nearest, Mode::Reflect, Mode::Reflect, Mode::Reflect]);
    for (name, src) in [
        ("median over time and space", "median(w)"),
        ("slope over time", "sum(d(0) * w) / sum(d(0)^2)"),
        ("frame index", "pos(0)"),
    ] {
        let t0 = Instant::now();
        let kernel = Kernel::compile(src)?;
        let out: ArrayD<f64> = kernel.filter(frames.view(), &footprint, &options)?;
        let centre = out[[6, 12, 32, 32]];
        println!(
            "{name:28} `{src}`: {:.1} ms, at (6, 12, 32, 32): {centre:.2}",
            t0.elapsed().as_secs_f64() * 1e3
        );
    }
    Ok(())
}
