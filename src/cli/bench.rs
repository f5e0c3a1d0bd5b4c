//! `jitfilter bench`: compile and filter times over repeats, as a table or one JSON object.

use super::args::BenchArgs;
use super::report::Failure;
use super::setup::{ms, split_positionals, usage_error, Job};
use jitfilter::image_filter;
use jitfilter::imageio;
use serde_json::json;
use std::time::Instant;

pub fn run(args: &BenchArgs) -> Result<String, Failure> {
    let (source, paths) =
        split_positionals("bench", &args.args, args.kernel.kernel_file.as_deref())?;
    let [input] = paths.as_slice() else {
        return Err(usage_error(
            "bench",
            &format!(
                "expected one INPUT after the expression, got {}",
                paths.len()
            ),
        ));
    };
    let job = Job::new(source, &args.kernel, &args.window, args.limits.limits())?;
    let image = imageio::load_with(input, &job.limits).map_err(Failure::File)?;
    let loaded = job.load_inputs()?;
    let named: Vec<(&str, &imageio::Image)> = loaded.iter().map(|(n, i)| (n.as_str(), i)).collect();
    let shape = image.shape().to_vec();
    let footprint_size = job
        .footprint
        .resolve(shape.len(), &job.limits)
        .map_err(|e| job.failure(e))?
        .cells
        .len();

    // Compiles first, then filters with the last kernel: each loop back to back, as a program
    // that compiles once and filters many images runs, and as the references in
    // `bench/compare.py` are timed (a compile between two filters leaves the pool's workers
    // asleep and the caches cold for the next filter, a cost no repeated call pays).
    let mut compile_ms = Vec::new();
    let mut kernel = None;
    for _ in 0..args.repeat {
        let start = Instant::now();
        kernel = Some(job.recompile()?);
        compile_ms.push(ms(start.elapsed()));
    }
    let kernel = kernel.expect("at least one repeat");
    let mut filter_ms = Vec::new();
    for _ in 0..args.repeat {
        let start = Instant::now();
        let result = image_filter::apply(
            &kernel,
            &image,
            &named,
            job.channels,
            &job.footprint,
            &job.options,
            image.dtype(),
        )
        .map_err(|e| job.failure(e))?;
        filter_ms.push(ms(start.elapsed()));
        std::hint::black_box(result);
    }

    let pixels: usize = shape.iter().product();
    let channels = image.planes().len();
    let threads = job
        .options
        .threads
        .unwrap_or_else(rayon::current_num_threads);
    let engine = job.options.engine;
    let (compile_med, compile_min) = (median(&compile_ms), min(&compile_ms));
    let (filter_med, filter_min) = (median(&filter_ms), min(&filter_ms));
    // Window evaluations per second: every pixel of every colour channel.
    let mpix_per_s = (pixels * channels) as f64 / (filter_med * 1e3);
    if args.json {
        let object = json!({
            "expr": job.source.text,
            "input": input.display().to_string(),
            "shape": shape,
            "dtype": image.dtype().name(),
            "channels": channels,
            "pixels": pixels,
            "footprint": args.window.weights.as_ref().map_or(args.window.footprint.to_string(), |w| format!("weights:{}", w.display())),
            "footprint_size": footprint_size,
            "mode": args.window.mode.to_string(),
            "engine": engine.to_string(),
            "plan": job.kernel.plan_summary(),
            "threads": threads,
            "repeat": args.repeat,
            "compile_ms": round(3, compile_med),
            "compile_ms_min": round(3, compile_min),
            "filter_ms": round(3, filter_med),
            "filter_ms_min": round(3, filter_min),
            "mpix_per_s": round(3, mpix_per_s),
            "version": env!("CARGO_PKG_VERSION"),
        });
        return Ok(format!("{object}\n"));
    }
    Ok(format!(
        "{} on {} ({}), {} cells, {engine} engine, {} thread{}, {} repeat{}\n\
         compile  median {compile_med:>9.3} ms   min {compile_min:>9.3} ms\n\
         filter   median {filter_med:>9.3} ms   min {filter_min:>9.3} ms   {mpix_per_s:.1} Mpixel/s\n",
        job.source.describe(),
        input.display(),
        image.describe(),
        footprint_size,
        threads,
        if threads == 1 { "" } else { "s" },
        args.repeat,
        if args.repeat == 1 { "" } else { "s" },
    ))
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// `v` to `digits` decimals, so JSON shows 16.523 rather than 16.523136000000002.
fn round(digits: i32, v: f64) -> f64 {
    let scale = 10f64.powi(digits);
    (v * scale).round() / scale
}

fn min(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

#[cfg(test)]
mod tests {
    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(super::median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(super::median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(super::min(&[4.0, 1.0, 3.0]), 1.0);
    }
}
