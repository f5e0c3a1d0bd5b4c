//! The golden-fixture runner shared by tests/scipy_fixtures.rs and tests/hardening_edges.rs: each
//! case (made by a script in tests/fixtures with scipy.ndimage.generic_filter) is filtered by one
//! engine and compared with scipy's output.

use jitfilter::{Element, Engine, Footprint, Kernel, Mode, Options};
use ndarray::ArrayD;
use ndarray_npy::{read_npy, ReadableElement};
use serde_json::Value;
use std::path::{Path, PathBuf};

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Agreement to 1e-9 (relative above 1); NaN matches NaN and an infinity must match exactly.
pub fn close(got: f64, want: f64) -> bool {
    (got.is_nan() && want.is_nan())
        || got == want
        || (got.is_finite() && want.is_finite() && (got - want).abs() <= 1e-9 * want.abs().max(1.0))
}

fn run_case<T: Element + ReadableElement>(
    case: &Value,
    input: ArrayD<T>,
    engine: Engine,
) -> Result<(), String> {
    let dir = fixtures();
    let s = |k: &str| case[k].as_str().unwrap().to_string();
    let fp_path = dir.join(s("footprint"));
    let footprint = if case["weights"].as_bool().unwrap() {
        Footprint::from_weights(read_npy::<_, ArrayD<f64>>(&fp_path).unwrap().view())
    } else {
        Footprint::from_mask(read_npy::<_, ArrayD<bool>>(&fp_path).unwrap().view())
    };
    let origin: Vec<isize> = case["origin"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap() as isize)
        .collect();
    let opts = Options::default()
        .mode(s("mode").parse::<Mode>().unwrap())
        .cval(case["cval"].as_f64().unwrap())
        .origin(&origin)
        .engine(engine);
    let kernel = Kernel::compile(&s("expr")).map_err(|e| format!("compile: {e}"))?;
    let expected = dir.join(s("expected"));
    let (got, want): (Vec<f64>, Vec<f64>) = if s("output") == "same" {
        let got = kernel
            .filter(input.view(), &footprint, &opts)
            .map_err(|e| e.to_string())?;
        let want: ArrayD<T> = read_npy(&expected).unwrap();
        if got.shape() != want.shape() {
            return Err(format!("shape {:?}, scipy {:?}", got.shape(), want.shape()));
        }
        (
            got.iter().map(|v| v.to_f64()).collect(),
            want.iter().map(|v| v.to_f64()).collect(),
        )
    } else {
        let got = kernel
            .filter_as::<T, f64, _>(input.view(), &footprint, &opts)
            .map_err(|e| e.to_string())?;
        let want: ArrayD<f64> = read_npy(&expected).unwrap();
        if got.shape() != want.shape() {
            return Err(format!("shape {:?}, scipy {:?}", got.shape(), want.shape()));
        }
        (
            got.iter().copied().collect(),
            want.iter().copied().collect(),
        )
    };
    for (idx, (g, w)) in got.iter().zip(&want).enumerate() {
        if !close(*g, *w) {
            return Err(format!("element {idx}: got {g}, scipy {w}"));
        }
    }
    Ok(())
}

/// Runs every case of a fixture list (`cases.json`'s schema, under tests/fixtures) through
/// `engine` and asserts scipy's results; `min_cases` guards against a missing or truncated list.
pub fn run_all(list: &str, min_cases: usize, engine: Engine) {
    let text = std::fs::read_to_string(fixtures().join(list)).unwrap();
    let cases: Value = serde_json::from_str(&text).unwrap();
    let cases = cases.as_array().unwrap();
    assert!(
        cases.len() >= min_cases,
        "{list}: fixtures missing: {}",
        cases.len()
    );
    let mut failures = Vec::new();
    for case in cases {
        let path = fixtures().join(case["input"].as_str().unwrap());
        macro_rules! try_types {
            ($($t:ty),*) => {{
                let mut r = Err("input dtype not supported".to_string());
                $(if let Ok(a) = read_npy::<_, ArrayD<$t>>(&path) { r = run_case::<$t>(case, a, engine); } else)*
                {}
                r
            }};
        }
        if let Err(e) = try_types!(f64, f32, u8, u16, i16, i32) {
            failures.push(format!(
                "{} `{}`: {e}",
                case["name"].as_str().unwrap(),
                case["expr"].as_str().unwrap()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{engine:?}: {} of {} cases of {list} differ from scipy:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
