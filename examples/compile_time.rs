//! Compile time per expression, median over repeats (in process, ISA already initialised);
//! then compile time and machine code size of the largest programs the default limits accept
//! (docs/limits.md).
//!
//! cargo run --release --example compile_time

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
