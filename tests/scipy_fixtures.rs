//! Golden tests: every case in tests/fixtures/cases.json (made by tests/fixtures/gen_fixtures.py
//! with scipy.ndimage.generic_filter) must be reproduced to 1e-9 by every engine.

mod golden;

use jitfilter::Engine;

const CASES: &str = "cases.json";

#[test]
fn auto_engine_matches_scipy() {
    golden::run_all(CASES, 240, Engine::Auto);
}

#[test]
fn fused_engine_matches_scipy() {
    golden::run_all(CASES, 240, Engine::Fused);
}

#[test]
fn callback_engine_matches_scipy() {
    golden::run_all(CASES, 240, Engine::Callback);
}

#[test]
fn interpreter_matches_scipy() {
    golden::run_all(CASES, 240, Engine::Interpreter);
}
