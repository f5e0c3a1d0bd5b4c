//! Arbitrary bytes → parse + check, then JIT compile of whatever checks: a typed error or a
//! program, never a panic, a stack overflow or a hang.

/// Runs one fuzz input; panics on a finding.
pub fn run(data: &[u8]) {
    let src = String::from_utf8_lossy(data);
    if jitfilter::check::compile_program(&src, &[], &jitfilter::Limits::default()).is_ok() {
        // Whatever the checker accepts must compile (or fail with a typed error, e.g. a limit);
        // a Cranelift verifier panic here is a bug.
        let _ = jitfilter::Kernel::compile(&src);
    }
}
