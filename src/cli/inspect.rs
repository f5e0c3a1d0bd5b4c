//! `jitfilter check` and `jitfilter ir`: what a kernel means and what it compiles to.

use super::args::{IrArgs, SourceArgs};
use super::report::{Failure, Source};
use super::setup::{compile, footprint, source};
use jitfilter::ir::Op;
use jitfilter::{Kernel, Limits};
use std::fmt::Write;

/// The typed program, preceded by what it uses.
pub fn check(args: &SourceArgs) -> Result<String, Failure> {
    let source = source(args.expr.clone(), args.kernel_file.as_deref())?;
    let limits = args.limits.limits();
    let kernel = compile(&source, &args.inputs, &limits)?;
    Ok(describe(&kernel, &source, &limits))
}

/// What `check` prints of a compiled kernel (the studio shows it too).
pub fn describe(kernel: &Kernel, source: &Source, limits: &Limits) -> String {
    let program = kernel.program();
    let mut functions: Vec<&str> = Vec::new();
    for node in &program.nodes {
        let name = match &node.op {
            Op::Call(f, _) => f.name(),
            Op::Reduce(r, ..) => r.name(),
            _ => continue,
        };
        if !functions.contains(&name) {
            functions.push(name);
        }
    }
    let builtins = program.names_used();
    let params: Vec<String> = program
        .params
        .iter()
        .map(|p| match p.range {
            Some((lo, hi)) => format!("{} = {} in {lo} .. {hi}", p.name, p.default),
            None => format!("{} = {}", p.name, p.default),
        })
        .collect();
    let list = |items: &[&str]| {
        if items.is_empty() {
            "(none)".to_string()
        } else {
            items.join(", ")
        }
    };
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(out, "ok: {}", source.describe());
    let builtins: Vec<&str> = builtins.iter().map(String::as_str).collect();
    let _ = writeln!(out, "uses       {}", list(&builtins));
    if program.roots.len() > 1 {
        let _ = writeln!(out, "results    {} values per pixel", program.roots.len());
    }
    let _ = writeln!(out, "functions  {}", list(&functions));
    let _ = writeln!(
        out,
        "params     {}",
        list(&params.iter().map(String::as_str).collect::<Vec<_>>())
    );
    let _ = writeln!(
        out,
        "code       {} bytes of machine code (limit {})",
        kernel.code_bytes(),
        limits.max_code_bytes
    );
    for (i, line) in kernel.plan_summary().iter().enumerate() {
        let _ = writeln!(out, "{:11}{line}", if i == 0 { "plan" } else { "" });
    }
    let _ = write!(out, "\ntyped program:\n{program}");
    out
}

/// The Cranelift IR, with a header naming the kernel and footprint.
pub fn ir(args: &IrArgs) -> Result<String, Failure> {
    let source = source(args.source.expr.clone(), args.source.kernel_file.as_deref())?;
    let limits = args.source.limits.limits();
    let kernel = compile(&source, &args.source.inputs, &limits)?;
    let fp = footprint(&args.footprint, None, &limits)?;
    let ndim = fp.ndim().unwrap_or(2);
    let cells = fp
        .resolve(ndim, &limits)
        .map_err(|e| Failure::from_engine(e, &source))?
        .cells
        .len();
    let text = kernel
        .cranelift_ir()
        .map_err(|e| Failure::from_engine(e, &source))?;
    Ok(format!(
        "; kernel: {}\n; footprint: {} ({cells} cells in {ndim}-D)\n{text}",
        source.describe(),
        args.footprint
    ))
}
