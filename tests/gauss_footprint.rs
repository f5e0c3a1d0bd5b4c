//! `gauss:S` and `gauss:SY,SX`: `sum(k * w)` over the footprint equals
//! `scipy.ndimage.gaussian_filter(sigma, truncate=4.0)` in every boundary mode, to 1e-12
//! (fixtures by tests/fixtures/gen_gauss_fixtures.py).

use jitfilter::{Engine, Footprint, Kernel, Mode, Options};
use ndarray::ArrayD;
use serde_json::Value;
use std::path::PathBuf;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

#[test]
fn sum_of_k_w_is_scipys_gaussian_filter() {
    let dir = fixtures();
    let cases: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("gauss_cases.json")).unwrap())
            .unwrap();
    let input: ArrayD<f64> = ndarray_npy::read_npy(dir.join("gauss/input.npy")).unwrap();
    let k = Kernel::compile("sum(k * w)").unwrap();
    let cases = cases.as_array().unwrap();
    assert_eq!(cases.len(), 20);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let fp: Footprint = case["footprint"].as_str().unwrap().parse().unwrap();
        let mode: Mode = case["mode"].as_str().unwrap().parse().unwrap();
        let want: ArrayD<f64> =
            ndarray_npy::read_npy(dir.join(format!("gauss/{name}.npy"))).unwrap();
        for engine in [Engine::Auto, Engine::Fused, Engine::Interpreter] {
            let opts = Options::default()
                .mode(mode)
                .cval(case["cval"].as_f64().unwrap())
                .engine(engine);
            let got = k.filter(input.view(), &fp, &opts).unwrap();
            for (g, w) in got.iter().zip(want.iter()) {
                assert!(
                    (g - w).abs() <= 1e-12 * w.abs().max(1.0),
                    "{name} {engine}: {g} vs {w}"
                );
            }
        }
    }
}
