//! Arbitrary bytes → parse + check, then JIT compile of whatever checks: a typed error or a
//! program, never a panic, a stack overflow or a hang. Each input is checked twice: alone, and
//! with the named inputs `g` and `m` declared (so that `sum(g * w)`, `at(m)`, `g[1]` check too).
//! Every error's span lies within the source.

/// Runs one fuzz input; panics on a finding.
pub fn run(data: &[u8]) {
    let src = String::from_utf8_lossy(data);
    let limits = jitfilter::Limits::default();
    for names in [&[][..], &["g", "m"][..]] {
        match jitfilter::check::compile_program(&src, names, &limits) {
            // Whatever the checker accepts must compile (or fail with a typed error, e.g. a
            // limit); a Cranelift verifier panic here is a bug.
            Ok(_) => {
                let _ = jitfilter::Kernel::compile_for(&src, names, &limits);
            }
            Err(e) => {
                let span = e.span();
                assert!(
                    span.start <= span.end && span.end <= src.len(),
                    "{e:?} for a source of {} bytes",
                    src.len()
                );
                let _ = span.locate(&src);
            }
        }
    }
}
