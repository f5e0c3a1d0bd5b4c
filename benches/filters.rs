//! Criterion benchmarks of the issue-5 programs: compile time, and filtering the 512×512 camera
//! image (u8 and f64) with `disk:11` through the default engine. Run with `cargo bench`; the
//! side-by-side comparison with OpenCV/scipy/scikit-image is `python3 bench/compare.py`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use jitfilter::imageio::{self, DynArray};
use jitfilter::{Footprint, Kernel, Options};
use ndarray::ArrayD;
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

const PROGRAMS: &[(&str, &str)] = &[
    ("max", "max(w)"),
    ("mean", "mean(w)"),
    ("std", "std(w)"),
    ("median", "median(w)"),
    (
        "bilateral",
        "let g = exp(-(dx^2+dy^2)/242 - (w-c)^2/1800); sum(g*w)/sum(g)",
    ),
    (
        "sauvola",
        "let m = mean(w); let s = std(w); if c > m * (1 + 0.2 * (s / 128 - 1)) then 255 else 0",
    ),
    ("mad", "let m = mean(w); mean(abs(w - m))"),
];

fn camera() -> ArrayD<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/camera.png");
    let image = imageio::load(&path).expect("tests/data/camera.png");
    match &image.planes()[0] {
        DynArray::U8(a) => a.clone(),
        other => panic!("camera.png is u8, got {}", other.dtype()),
    }
}

fn compile(c: &mut Criterion) {
    let mut g = c.benchmark_group("compile");
    for &(name, src) in PROGRAMS {
        g.bench_function(name, |b| {
            b.iter(|| Kernel::compile(black_box(src)).unwrap())
        });
    }
    g.finish();
}

fn filter(c: &mut Criterion) {
    let cam = camera();
    let camf = cam.mapv(f64::from);
    let fp = Footprint::disk(11);
    let opts = Options::default();
    let mut g = c.benchmark_group("filter_camera_disk11");
    g.sample_size(20).measurement_time(Duration::from_secs(3));
    for &(name, src) in PROGRAMS {
        let k = Kernel::compile(src).unwrap();
        g.bench_with_input(BenchmarkId::new(name, "u8"), &cam, |b, img| {
            b.iter(|| k.filter(img.view(), &fp, &opts).unwrap())
        });
        g.bench_with_input(BenchmarkId::new(name, "f64"), &camf, |b, img| {
            b.iter(|| k.filter(img.view(), &fp, &opts).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, compile, filter);
criterion_main!(benches);
