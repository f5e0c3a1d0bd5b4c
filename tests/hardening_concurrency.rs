//! One `Kernel` used from 8 threads at once, on different images, in every engine and several
//! element types, gives the same bytes as sequential runs. `Kernel` is `Send + Sync` by
//! construction: its fields are `Arc`s of `Send + Sync` types; the only `unsafe impl`s in the
//! crate (`codegen::Code`, `runtime::CallbackContext`, `kernel::ScipyContext`,
//! `auto::RowState`) each carry a written SAFETY argument.

use jitfilter::{Element, Engine, Footprint, Kernel, Mode, Options};
use ndarray::{ArrayD, Dimension, IxDyn};

const ENGINES: [Engine; 4] = [
    Engine::Interpreter,
    Engine::Callback,
    Engine::Fused,
    Engine::Auto,
];

#[test]
fn kernel_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<Kernel>();
    assert_send_sync::<Options>();
    assert_send_sync::<Footprint>();
}

fn images<T: Element>(count: usize, shape: &[usize]) -> Vec<ArrayD<T>> {
    (0..count)
        .map(|s| {
            ArrayD::from_shape_fn(IxDyn(shape), |i| {
                let v = i
                    .as_array_view()
                    .iter()
                    .enumerate()
                    .fold(s * 31, |acc, (a, &x)| acc + x * (7 + 6 * a));
                T::from_f64(((v * 2654435761) % 251) as f64 - 60.0)
            })
        })
        .collect()
}

fn same_bytes<T: Element>(a: &ArrayD<T>, b: &ArrayD<T>) -> bool {
    a.shape() == b.shape()
        && a.iter()
            .zip(b.iter())
            .all(|(x, y)| x.to_f64().to_bits() == y.to_f64().to_bits())
}

fn eight_threads<T: Element>(src: &str, shape: &[usize], fp: &Footprint, opts: &Options) {
    // A fresh kernel per engine, so that the fused engine's lazily compiled row function is
    // first built by 8 threads racing for it.
    for engine in ENGINES {
        let k = Kernel::compile(src).unwrap();
        let opts = opts.clone().engine(engine);
        let imgs = images::<T>(8, shape);
        let parallel: Vec<ArrayD<T>> = std::thread::scope(|s| {
            let handles: Vec<_> = imgs
                .iter()
                .map(|im| {
                    let (k, opts) = (&k, &opts);
                    s.spawn(move || k.filter(im.view(), fp, opts).unwrap())
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let sequential: Vec<ArrayD<T>> = imgs
            .iter()
            .map(|im| k.filter(im.view(), fp, &opts).unwrap())
            .collect();
        for (i, (a, b)) in sequential.iter().zip(&parallel).enumerate() {
            assert!(
                same_bytes(a, b),
                "{src} {engine:?} {}: image {i} differs",
                T::NAME
            );
        }
        // Clones share the code; dropping the original while clones run is fine.
        let clones: Vec<Kernel> = (0..8).map(|_| k.clone()).collect();
        drop(k);
        let again: Vec<ArrayD<T>> = std::thread::scope(|s| {
            let handles: Vec<_> = clones
                .into_iter()
                .zip(&imgs)
                .map(|(k, im)| {
                    let opts = &opts;
                    s.spawn(move || k.filter(im.view(), fp, opts).unwrap())
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (a, b) in sequential.iter().zip(&again) {
            assert!(same_bytes(a, b), "{src} {engine:?} clones differ");
        }
    }
}

#[test]
fn eight_threads_same_bytes_as_sequential() {
    let zscore = "param eps = 1e-9; let m = mean(w); (c - m) / (std(w) + eps) + median(w)";
    let opts = Options::default().param("eps", 1e-6);
    eight_threads::<f64>(zscore, &[37, 41], &Footprint::disk(3), &opts);
    eight_threads::<u8>(
        "max(w) - min(w) + percentile(w, 90)",
        &[33, 29],
        &Footprint::disk(2),
        &Options::default().mode(Mode::Wrap),
    );
    eight_threads::<f32>(
        "sum(w * dx) + x * y + nanmax(w / (c - 1))",
        &[19, 23],
        &Footprint::rect(4, 3),
        &Options::default()
            .mode(Mode::Constant)
            .cval(f64::NAN)
            .origin(&[-1, 1]),
    );
    eight_threads::<i16>(
        "sum(w) + z",
        &[5, 6, 7],
        &Footprint::ball(1),
        &Options::default().threads(3),
    );
    eight_threads::<u16>(
        "count(w > c) * 100",
        &[300],
        &Footprint::cube(15),
        &Options::default().mode(Mode::Mirror),
    );
}
