//! Compile time per expression, median over repeats (in process, ISA already initialised);
//! then compile time and machine code size of the largest programs the default limits accept
//! (docs/limits.md).
//!
//! cargo run --release --example compile_time [-- TEXT]   (only the programs containing TEXT)

use jitfilter::{Kernel, Limits};
use std::time::Instant;

/// `let a0 = c; let a1 = BODY(a0); …`: as many `let`s as the limit allows, each using the one
/// before, so that every reduction is a pass of its own.
fn chain(body: &str) -> String {
    let n = Limits::DEFAULT.max_statements - 1;
    let mut src = String::from("let a0=c;");
    for i in 1..n {
        src += &format!("let a{i}={};", body.replace('P', &format!("a{}", i - 1)));
    }
    src + &format!("a{}", n - 1)
}

fn main() -> Result<(), jitfilter::Error> {
    let programs = [
        "max(w)",
        "sqrt(var(w))",
        "let m = mean(w); (c - m) / (std(w) + 1e-9)",
        "median(w)",
        "let g = exp(-(dx^2+dy^2)/242 - (w-c)^2/1800); sum(g*w)/sum(g)",
        "let m = mean(w); let s = std(w); if c > m * (1 + 0.2 * (s / 128 - 1)) then 255 else 0",
        "let m = mean(w); mean(abs(w - m))",
        // Stages and per-reduction footprints: several passes, each its own module.
        "stage e = min(w) over disk:5; max(e) over disk:5",
        "mean(w) over box:3 - mean(w) over box:9",
        "stage gx = sum(w * dx * (2 - abs(dy))) over box:3; \
         stage gy = sum(w * dy * (2 - abs(dx))) over box:3; \
         let sxx = sum(gx^2) over box:5; let syy = sum(gy^2) over box:5; \
         let sxy = sum(gx * gy) over box:5; sxx * syy - sxy^2 - 0.04 * (sxx + syy)^2",
        "param eps = 100; \
         stage a = ((mean(g*w) - mean(g)*mean(w)) / (var(g) + eps)) over box:9; \
         stage b = (mean(w) - at(a) * mean(g)) over box:9; \
         (mean(a) * at(g) + mean(b)) over box:9",
    ];
    let only = std::env::args().nth(1);
    Kernel::compile("1")?; // initialise the ISA once
    println!("{:>10} {:>10}  program", "median ms", "min ms");
    for src in programs {
        if only.as_ref().is_some_and(|t| !src.contains(t.as_str())) {
            continue;
        }
        let mut times: Vec<f64> = (0..51)
            .map(|_| {
                let t = Instant::now();
                // The guided filter reads a guide image `g`.
                let inputs: &[&str] = if src.contains("at(g)") { &["g"] } else { &[] };
                let k = Kernel::compile_for(src, inputs, &Limits::DEFAULT).expect("valid program");
                let dt = t.elapsed().as_secs_f64() * 1e3;
                drop(k);
                dt
            })
            .collect();
        times.sort_by(f64::total_cmp);
        println!("{:10.3} {:10.3}  {src}", times[times.len() / 2], times[0]);
    }
    if only.is_some() {
        return Ok(());
    }
    let worst = [
        "max(w*P)",
        "median(w+P)",
        "var(w*P,P)",
        "percentile(w*P+dx,P)+var(w-P,P)+exp(P)",
        "var(w*P,P)+var(w-P,P)+var(w/P,P)",
        "nanvar(exp(w*P),P)+exp(P)",
        "exp(exp(exp(exp(exp(exp(exp(exp(P))))))))",
    ];
    println!(
        "\n{:>10} {:>6} {:>10}  1022 × let aI = …",
        "seconds", "nodes", "code bytes"
    );
    for body in worst {
        let src = chain(body);
        let t = Instant::now();
        let k = Kernel::compile(&src)?;
        let s = t.elapsed().as_secs_f64();
        let nodes = k.program().nodes.len();
        println!("{s:10.2} {nodes:6} {:10}  {body}", k.code_bytes());
    }
    Ok(())
}
