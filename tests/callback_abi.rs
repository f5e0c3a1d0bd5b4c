//! The scipy-ABI callback, driven the way scipy's `generic_filter` drives it: one call per output
//! element in C order, with the window gathered into a buffer. Checked against `Kernel::filter`
//! and against scipy's own output from the golden fixtures.

use jitfilter::{Footprint, Kernel, Mode, Options};
use ndarray::{Array2, ArrayD, IxDyn};
use ndarray_npy::read_npy;
use std::os::raw::c_void;
use std::path::Path;

/// scipy's loop: C-order outputs, buffer = footprint's true cells in C order.
fn scipy_like(
    kernel: &Kernel,
    input: &Array2<f64>,
    mask: &Array2<bool>,
    mode: Mode,
    user_data: *mut c_void,
) -> Result<Array2<f64>, usize> {
    let (h, w) = input.dim();
    let (fh, fw) = mask.dim();
    let cells: Vec<(isize, isize)> = mask
        .indexed_iter()
        .filter(|(_, &m)| m)
        .map(|((y, x), _)| {
            (
                y as isize - (fh / 2) as isize,
                x as isize - (fw / 2) as isize,
            )
        })
        .collect();
    let mut buf = vec![0.0; cells.len()];
    let mut out = Array2::zeros((h, w));
    let cb = kernel.callback().unwrap();
    for y in 0..h {
        for x in 0..w {
            for (b, (dy, dx)) in buf.iter_mut().zip(&cells) {
                let sy = mode.map(y as isize + dy, h);
                let sx = mode.map(x as isize + dx, w);
                *b = match (sy, sx) {
                    (Some(sy), Some(sx)) => input[(sy, sx)],
                    _ => 0.0,
                };
            }
            let mut r = 0.0;
            // SAFETY: buffer of filter_size doubles, valid out pointer, context from the kernel.
            let ok = unsafe { cb(buf.as_ptr(), buf.len() as isize, &mut r, user_data) };
            if ok != 1 {
                return Err(y * w + x);
            }
            out[(y, x)] = r;
        }
    }
    Ok(out)
}

fn image() -> Array2<f64> {
    Array2::from_shape_fn((13, 17), |(y, x)| ((y * 31 + x * 17) % 23) as f64 - 5.0)
}

#[test]
fn position_dependent_kernel_under_scipy_loop_equals_filter() {
    let src = "param s = 2; x + 100 * y + s * c + sum(k * dx) - sum(dy * w) + width * height";
    let kernel = Kernel::compile(src).unwrap();
    let mask = Array2::from_shape_fn((3, 4), |(y, x)| (x + y) % 3 != 1);
    let fp = Footprint::from_mask(mask.view().into_dyn());
    let opts = Options::default().mode(Mode::Wrap).param("s", 3.0);
    let img = image();
    let mut ctx = kernel.scipy_context(img.shape(), &fp, &opts).unwrap();
    let via_callback = scipy_like(&kernel, &img, &mask, Mode::Wrap, ctx.as_ptr()).unwrap();
    let via_filter = kernel.filter(img.view(), &fp, &opts).unwrap();
    assert_eq!(via_callback, via_filter);
    // The context tracks positions across passes: a second pass gives the same result.
    let again = scipy_like(&kernel, &img, &mask, Mode::Wrap, ctx.as_ptr()).unwrap();
    assert_eq!(again, via_filter);
}

#[test]
fn golden_fixture_through_the_callback() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cases");
    let input: ArrayD<f64> = read_npy(dir.join("ex_x_10y.input.npy")).unwrap();
    let mask: ArrayD<bool> = read_npy(dir.join("ex_x_10y.footprint.npy")).unwrap();
    let expected: ArrayD<f64> = read_npy(dir.join("ex_x_10y.expected.npy")).unwrap();
    let cases: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("../cases.json")).unwrap()).unwrap();
    let case = cases
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "ex_x_10y")
        .unwrap();
    let kernel = Kernel::compile(case["expr"].as_str().unwrap()).unwrap();
    let mode: Mode = case["mode"].as_str().unwrap().parse().unwrap();
    let fp = Footprint::from_mask(mask.view());
    let mut ctx = kernel
        .scipy_context(input.shape(), &fp, &Options::default().mode(mode))
        .unwrap();
    let input2 = input.into_dimensionality().unwrap();
    let mask2 = mask.into_dimensionality().unwrap();
    let got = scipy_like(&kernel, &input2, &mask2, mode, ctx.as_ptr()).unwrap();
    assert_eq!(got.into_dyn(), expected);
}

#[test]
fn null_user_data_uses_param_defaults_and_refuses_what_it_cannot_know() {
    let img = image();
    let mask = Array2::from_elem((3, 3), true);
    let plain = Kernel::compile("param t = 1; count(w > t)").unwrap();
    let got = scipy_like(&plain, &img, &mask, Mode::Reflect, std::ptr::null_mut()).unwrap();
    let want = plain
        .filter(img.view(), &Footprint::cube(3), &Options::default())
        .unwrap();
    assert_eq!(got, want);
    for needs_context in ["c", "sum(dx * w)", "x", "max(k)"] {
        let k = Kernel::compile(needs_context).unwrap();
        assert_eq!(
            scipy_like(&k, &img, &mask, Mode::Reflect, std::ptr::null_mut()),
            Err(0),
            "{needs_context}"
        );
    }
}

#[test]
fn wrong_filter_size_returns_zero() {
    let k = Kernel::compile("sum(k * w)").unwrap();
    let fp = Footprint::cube(3);
    let mut ctx = k
        .scipy_context(&[10, 10], &fp, &Options::default())
        .unwrap();
    let buf = [1.0; 5];
    let mut out = 0.0;
    // SAFETY: 5 valid doubles; the context describes 9, so the callback must refuse.
    let ok = unsafe { (k.callback().unwrap())(buf.as_ptr(), 5, &mut out, ctx.as_ptr()) };
    assert_eq!(ok, 0);
}

#[test]
fn c_without_a_centre_cell_is_refused() {
    // A ring has no element at the output position, so scipy's buffer has no `c`.
    let k = Kernel::compile("c - mean(w)").unwrap();
    let ring = Array2::from_shape_fn((3, 3), |(y, x)| !(y == 1 && x == 1));
    let fp = Footprint::from_mask(ring.view().into_dyn());
    let mut ctx = k.scipy_context(&[5, 5], &fp, &Options::default()).unwrap();
    assert_eq!(
        scipy_like(&k, &image(), &ring, Mode::Reflect, ctx.as_ptr()),
        Err(0)
    );
    // Our own window loop always knows `c`.
    let out = k.filter(image().view(), &fp, &Options::default()).unwrap();
    assert!(out.iter().all(|v| v.is_finite()));
}

#[test]
fn one_kernel_many_threads_same_bytes() {
    let k = Kernel::compile("let m = mean(w); (c - m) / (std(w) + 1e-9) + median(w)").unwrap();
    let images: Vec<ArrayD<f64>> = (0..8)
        .map(|s| {
            ArrayD::from_shape_fn(IxDyn(&[40, 50]), |i| {
                ((i[0] * 7 + i[1] * 13 + s * 5) % 29) as f64
            })
        })
        .collect();
    let fp = Footprint::disk(3);
    let sequential: Vec<_> = images
        .iter()
        .map(|im| k.filter(im.view(), &fp, &Options::default()).unwrap())
        .collect();
    let parallel: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = images
            .iter()
            .map(|im| s.spawn(|| k.filter(im.view(), &fp, &Options::default()).unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (a, b) in sequential.iter().zip(&parallel) {
        assert!(a
            .iter()
            .zip(b.iter())
            .all(|(x, y)| x.to_bits() == y.to_bits()));
    }
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let img = ArrayD::from_shape_fn(IxDyn(&[150, 61]), |i| {
        ((i[0] * 7919 + i[1] * 104_729) % 1000) as f64 / 7.3
    });
    for src in [
        "mean(w) + std(w)",
        "median(w) - max(w)",
        "let m = mean(w); mean(abs(w - m))",
    ] {
        let k = Kernel::compile(src).unwrap();
        let runs: Vec<Vec<u64>> = [1, 2, 3]
            .iter()
            .map(|&t| {
                let out = k
                    .filter(
                        img.view(),
                        &Footprint::disk(4),
                        &Options::default().threads(t),
                    )
                    .unwrap();
                out.iter().map(|v| v.to_bits()).collect()
            })
            .collect();
        assert!(runs.windows(2).all(|w| w[0] == w[1]), "{src}");
    }
}

#[test]
fn cranelift_ir_of_programs_with_params() {
    let ir = Kernel::compile("param t = 1; count(w > t)")
        .unwrap()
        .cranelift_ir()
        .unwrap();
    assert!(ir.contains("fused row function") && ir.contains("fcmp"));
}
