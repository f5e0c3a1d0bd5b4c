//! Compile time per expression, median over repeats (in process, ISA already initialised).
//!
//! cargo run --release --example compile_time

use jitfilter::Kernel;
use std::time::Instant;

fn main() -> Result<(), jitfilter::Error> {
    let programs = [
        "max(w)",
        "sqrt(var(w))",
        "let m = mean(w); (c - m) / (std(w) + 1e-9)",
        "median(w)",
        "let g = exp(-(dx^2+dy^2)/242 - (w-c)^2/1800); sum(g*w)/sum(g)",
        "let m = mean(w); let s = std(w); if c > m * (1 + 0.2 * (s / 128 - 1)) then 255 else 0",
        "let m = mean(w); mean(abs(w - m))",
    ];
    Kernel::compile("1")?; // initialise the ISA once
    println!("{:>10} {:>10}  program", "median ms", "min ms");
    for src in programs {
        let mut times: Vec<f64> = (0..51)
            .map(|_| {
                let t = Instant::now();
                let k = Kernel::compile(src).expect("valid program");
                let dt = t.elapsed().as_secs_f64() * 1e3;
                drop(k);
                dt
            })
            .collect();
        times.sort_by(f64::total_cmp);
        println!("{:10.3} {:10.3}  {src}", times[times.len() / 2], times[0]);
    }
    Ok(())
}
