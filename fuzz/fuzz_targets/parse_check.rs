//! Arbitrary bytes → parse + check, then JIT compile of whatever checks: a typed error or a
//! program, never a panic, a stack overflow or a hang.
//! The logic is in fuzz/common/parse_check.rs, shared with the stable replay test
//! tests/hardening_fuzz_corpus.rs.
#![no_main]

#[path = "../common/parse_check.rs"]
mod parse_check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| parse_check::run(data));
