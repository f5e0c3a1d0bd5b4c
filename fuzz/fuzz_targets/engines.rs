//! Grammar-aware programs (valid, and mutated at the token level) × random small arrays,
//! footprints, modes, origins and dtypes → every engine. The interpreter is the oracle: the
//! callback, fused and auto (planned) engines must agree with it within the documented tolerance
//! (1e-9 relative; the data are small halves, NaN and ±inf, so sums are exact in any order), or
//! all fail with the same kind of error. Never a crash.
//! The logic is in fuzz/common/engines.rs, shared with the stable replay test
//! tests/hardening_fuzz_corpus.rs.
#![no_main]

#[path = "../common/engines.rs"]
mod engines;

libfuzzer_sys::fuzz_target!(|data: &[u8]| engines::run(data));
