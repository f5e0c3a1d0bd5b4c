//! Limits: every oversized or pathological program is a typed `Limit` error, not a stack
//! overflow, a hang or a crash; every limit can be raised, in the library and on the command
//! line; IEEE arithmetic never traps in any engine. See docs/limits.md.
//!
//! Tests of pathological programs run on a thread with a 2 MiB stack (the default for spawned
//! threads, rayon workers and the test harness) so that a recursion that would overflow in
//! real use overflows here too, and under a deadline so that a hang fails instead of waiting.

mod cli_support;

use cli_support::*;
use jitfilter::imageio::{self, Reason};
use jitfilter::{Engine, Error, ExprError, Footprint, Kernel, Limit, Limits, Options};
use ndarray::{Array1, Array2, ArrayD, IxDyn};
use std::sync::mpsc;
use std::time::Duration;

const MAX_NODES: usize = Limits::DEFAULT.max_nodes;
const MAX_STATEMENTS: usize = Limits::DEFAULT.max_statements;
const MAX_FOOTPRINT_ELEMENTS: usize = Limits::DEFAULT.max_footprint;
const MAX_NESTING: usize = Limits::DEFAULT.max_nesting;
const MAX_SOURCE_LEN: usize = Limits::DEFAULT.max_source_bytes;

const ENGINES: [Engine; 4] = [
    Engine::Interpreter,
    Engine::Callback,
    Engine::Fused,
    Engine::Auto,
];

/// Compiles `src` on a 2 MiB-stack thread within `secs` seconds; the error text, or "ok".
fn compile_bounded(src: String, secs: u64) -> Result<(), String> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let r = Kernel::compile(&src).map(|_| ()).map_err(|e| e.to_string());
            let _ = tx.send(r);
        })
        .unwrap();
    rx.recv_timeout(Duration::from_secs(secs))
        .unwrap_or_else(|_| panic!("compiling did not finish within {secs} s"))
}

fn limit_error(src: &str) -> String {
    match Kernel::compile(src) {
        Err(Error::Expr(ExprError::Limit { error, .. })) => error.to_string(),
        Err(other) => panic!("expected a limit error, got {other}"),
        Ok(_) => panic!("expected a limit error, but it compiled"),
    }
}

#[test]
fn bracket_nesting_100_000_deep_is_an_error() {
    for (open, close) in [("(", ")"), ("max(", ")"), ("-(", ")"), ("2^(", ")")] {
        let deep = format!("{}w{}", open.repeat(100_000), close.repeat(100_000));
        let deep = if deep.len() > MAX_SOURCE_LEN {
            // Stay under the length limit so the nesting limit is what fires.
            let n = MAX_SOURCE_LEN / (open.len() + close.len()) - 1;
            format!("{}c{}", open.repeat(n), close.repeat(n))
        } else {
            deep
        };
        let what = limit_error(&deep);
        assert!(what.contains("nests deeper"), "{what}");
    }
    // Unbalanced, and `^` chains.
    assert!(limit_error(&"(".repeat(60_000)).contains("nests deeper"));
    let pow = format!("2{}", "^2".repeat(20_000));
    assert!(limit_error(&pow).contains("nests deeper"));
    // At the limit it works.
    let ok = format!("{}c{}", "(".repeat(MAX_NESTING), ")".repeat(MAX_NESTING));
    Kernel::compile(&ok).unwrap();
}

#[test]
fn nested_ifs_are_bounded() {
    let deep = format!("{}1{}", "if c then ".repeat(3_000), " else 0".repeat(3_000));
    assert!(limit_error(&deep).contains("`if`"));
    let ok = format!(
        "{}1{}",
        "if c then ".repeat(MAX_NESTING),
        " else 0".repeat(MAX_NESTING)
    );
    Kernel::compile(&ok).unwrap();
}

#[test]
fn program_text_longer_than_64_kib_is_an_error() {
    let long = format!("{}c", " ".repeat(MAX_SOURCE_LEN));
    assert!(limit_error(&long).contains("bytes long"));
    // Also with a long comment or a long name.
    assert!(limit_error(&format!("#{}\nc", "x".repeat(MAX_SOURCE_LEN))).contains("bytes long"));
    let long_name = format!("let {} = 1; c", "a".repeat(MAX_SOURCE_LEN));
    assert!(limit_error(&long_name).contains("bytes long"));
    // A 1 MB number literal is not a limit error but must not crash either.
    let digits = format!("{}.5", "9".repeat(60_000));
    let _ = Kernel::compile(&digits);
}

#[test]
fn more_than_1024_statements_is_an_error() {
    let src: String = (0..=MAX_STATEMENTS)
        .map(|i| format!("let a{i} = {i};"))
        .collect::<String>()
        + "c";
    assert!(limit_error(&src).contains("statements"));
    let ok: String = (0..MAX_STATEMENTS)
        .map(|i| format!("let a{i} = {i};"))
        .collect::<String>()
        + "c";
    Kernel::compile(&ok).unwrap();
}

#[test]
fn more_than_8192_operations_is_an_error() {
    // Wide rather than deep: many short lets of distinct operations.
    let src: String = (0..1000)
        .map(|i| format!("let a{i} = max(w * {i}) + min(w - {i}) + sum(w / {i}) + {i};"))
        .collect::<String>()
        + "a999";
    assert!(limit_error(&src).contains(&format!("{MAX_NODES}")));
}

#[test]
fn footprints_over_the_element_limit_are_errors_in_every_engine() {
    let k = Kernel::compile("max(w)").unwrap();
    let img = Array2::<u8>::zeros((4, 4));
    let side = (MAX_FOOTPRINT_ELEMENTS as f64).sqrt() as usize + 1;
    for e in ENGINES {
        let opts = Options::default().engine(e);
        for fp in [
            Footprint::cube(side),
            Footprint::cube(usize::MAX),
            Footprint::rect(MAX_FOOTPRINT_ELEMENTS + 1, 1),
            Footprint::disk(600),
        ] {
            let err = k.filter(img.view(), &fp, &opts).unwrap_err();
            assert!(err.to_string().contains("limit"), "{err}");
        }
        // A 1-D array with a huge 1-D footprint (cube(n) is n^1 there).
        let a = Array1::<f64>::zeros(3);
        let err = k
            .filter(
                a.view(),
                &Footprint::cube(MAX_FOOTPRINT_ELEMENTS + 1),
                &opts,
            )
            .unwrap_err();
        assert!(err.to_string().contains("limit"), "{err}");
        // cube(n)^3 overflows usize: still an error.
        let a3 = ArrayD::<f64>::zeros(IxDyn(&[2, 2, 2]));
        assert!(k
            .filter(a3.view(), &Footprint::cube(1 << 22), &opts)
            .is_err());
    }
}

/// `at()` offsets far along every axis span a box over the footprint limit: an error before any
/// block is made (it once asked for a 4 TB block and aborted), in every engine; raised, the
/// limit lets a program reading far along one axis run.
#[test]
fn at_offsets_spanning_a_box_over_the_limit_are_errors() {
    let k = Kernel::compile("at(w, 4096, 4096, 4096) + at(w, -4096, -4096, -4096)").unwrap();
    let a = ArrayD::<f64>::zeros(IxDyn(&[2, 3, 1]));
    for e in ENGINES {
        let err = k
            .filter(a.view(), &Footprint::cube(1), &Options::default().engine(e))
            .unwrap_err();
        assert!(
            matches!(&err, Error::Limit(l) if l.limit == Limit::Footprint)
                && err.to_string().contains("reads a 8193x8193x8193 box"),
            "{err}"
        );
    }
    let far = Kernel::compile("at(w, 0, 1500) - at(w, 0, -1500) + c").unwrap();
    let img = Array2::<f64>::from_shape_fn((5, 4), |(y, x)| (y * 4 + x) as f64);
    let got: Array2<f64> = far
        .filter(img.view(), &Footprint::cube(1), &Options::default())
        .unwrap();
    assert_eq!(got, img);
}

/// Division by zero, NaN and ±inf follow IEEE and numpy in every engine, never trap.
#[test]
fn ieee_special_values_never_trap() {
    // (expression, numpy's value at a pixel whose window is [c] = [0])
    let cases: &[(&str, f64)] = &[
        ("1 / c", f64::INFINITY),
        ("-1 / c", f64::NEG_INFINITY),
        ("c / c", f64::NAN),
        ("1 % c", f64::NAN),
        ("c % 0", f64::NAN),
        ("inf - inf", f64::NAN),
        ("inf * c", f64::NAN),
        ("sqrt(c - 1)", f64::NAN),
        ("ln(c)", f64::NEG_INFINITY),
        ("log2(c - 1)", f64::NAN),
        ("0 ^ -1", f64::INFINITY),
        ("(c - 1) ^ 0.5", f64::NAN),
        ("nan ^ 0", 1.0),
        ("exp(1000)", f64::INFINITY),
        ("max(w / c)", f64::NAN),
        ("sum(w / c) + inf", f64::NAN),
        ("mean(w) / 0 * 0", f64::NAN),
        ("var(w, 1)", f64::NAN), // n - ddof = 0
        ("std(w, 5)", f64::NAN), // divisor max(n - ddof, 0) = 0
        ("percentile(w, nan)", f64::NAN),
        ("percentile(w, -1)", f64::NAN),
        ("median(w * nan)", f64::NAN),
        ("nanmean(w * nan)", f64::NAN),
        ("nansum(w * nan)", 0.0),
        ("argmax(w * nan)", 0.0),
        ("count(w * nan)", 1.0),
        ("if nan then 1 else 2", 1.0),
        ("not nan", 0.0),
        ("floor(inf) - ceil(-inf)", f64::INFINITY),
        ("round(nan) + trunc(nan)", f64::NAN),
        ("asin(2)", f64::NAN),
        ("atan2(0, 0)", 0.0),
        ("hypot(inf, nan)", f64::INFINITY),
    ];
    let input = Array1::<f64>::zeros(3);
    let fp = Footprint::cube(1);
    for (src, want) in cases {
        let k = Kernel::compile(src).unwrap_or_else(|e| panic!("{src}: {e}"));
        for e in ENGINES {
            let out = k
                .filter(input.view(), &fp, &Options::default().engine(e))
                .unwrap();
            for v in out.iter() {
                assert!(
                    (v.is_nan() && want.is_nan()) || v == want,
                    "{src} {e:?}: {v}, numpy {want}"
                );
            }
            // Into integers: NaN → 0, ±inf saturate, never a trap.
            let u = k
                .filter(
                    input.mapv(|v| v as u8).view(),
                    &fp,
                    &Options::default().engine(e),
                )
                .unwrap();
            let want_u8 = if want.is_nan() {
                0
            } else {
                want.clamp(0.0, 255.0) as u8
            };
            assert!(u.iter().all(|&x| x == want_u8), "{src} {e:?} as u8: {u}");
        }
    }
}

/// `1+1+…` with 30 000 terms is 60 KB, under the 64 KiB text limit, and has no brackets, so
/// `check_limits` lets it through; the left-associative tree it builds is 30 000 deep and the
/// recursive checker (`Checker::expr`, src/check.rs) and the recursive drop of the `Box<Expr>`
/// tree overflow the stack: the process aborts.
#[test]
fn long_operator_chains_are_an_error_not_a_stack_overflow() {
    for src in [
        format!("1{}", "+1".repeat(30_000)),
        format!("max(w{})", "+w".repeat(30_000)),
        format!("c{}", " and c".repeat(10_000)),
        format!("{}1", "-".repeat(60_000)),
        format!("{}1", "not ".repeat(15_000)),
    ] {
        // Either a limit error or a program; only not a crash.
        let _ = compile_bounded(src, 30);
    }
}

/// A few dozen `let`s, each doubling the previous one, make a DAG of ~40 nodes whose tree has
/// 2^40 paths. `planner::is_point_map` (src/planner.rs) recurses over operands without memo,
/// so compile time doubles per `let`: 20 lets take 0.5 s, 24 take 6.6 s, 40 would take days.
/// `Program::render` (src/ir.rs, used by `Planner::describe` → `jitfilter check`) is
/// exponential in the same way, in time and in the size of the string it builds.
#[test]
fn shared_subexpressions_compile_in_linear_time() {
    let mut src = String::from("let a0 = w; ");
    for i in 1..=40 {
        src += &format!("let a{i} = a{} + a{}; ", i - 1, i - 1);
    }
    src += "max(a40)";
    compile_bounded(src.clone(), 10).unwrap();
    let k = Kernel::compile(&src).unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(k.plan_summary());
    });
    let summary = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("plan_summary did not finish within 10 s");
    assert!(summary.iter().all(|l| l.len() < 100_000));
}

/// Deep but legal DAGs (1000 chained lets, the statement limit) run on default stacks in every
/// engine.
#[test]
fn deep_let_chains_run_in_every_engine() {
    let mut src = String::from("let a0 = w; ");
    for i in 1..1000 {
        src += &format!("let a{i} = a{} * 0.5 + 1 - w; ", i - 1);
    }
    src += "max(a999) + sum(a999) + median(a999)";
    compile_bounded(src.clone(), 60).unwrap();
    let k = Kernel::compile(&src).unwrap();
    let img = Array2::<f64>::from_elem((9, 9), 1.0);
    let results: Vec<f64> = std::thread::scope(|s| {
        ENGINES
            .iter()
            .map(|&e| {
                let k = &k;
                let img = &img;
                std::thread::Builder::new()
                    .stack_size(2 << 20)
                    .spawn_scoped(s, move || {
                        k.filter(
                            img.view(),
                            &Footprint::cube(3),
                            &Options::default().engine(e),
                        )
                        .unwrap()[[4, 4]]
                    })
                    .unwrap()
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect()
    });
    assert!(
        results.windows(2).all(|p| (p[0] - p[1]).abs() < 1e-9),
        "{results:?}"
    );
}

/// For each program limit: a program just over the default, and the limits that let it through.
fn just_over_each_program_limit() -> Vec<(Limit, String, Limits)> {
    let d = Limits::DEFAULT;
    let nested = |n: usize| format!("{}c{}", "(".repeat(n), ")".repeat(n));
    let lets = |n: usize| {
        (0..n)
            .map(|i| format!("let a{i} = {i};"))
            .collect::<String>()
            + "c"
    };
    // A scalar chain of about 10 distinct operations per `let`.
    let nodes = (1..850)
        .map(|i| {
            let p = i - 1;
            format!("let a{i} = (a{p} + {i}) * (c - {i}) / (c + {i}.5) - c * {i}.25;")
        })
        .collect::<String>();
    let nodes = format!("let a0 = c;{nodes}a849");
    [
        (
            Limit::SourceBytes,
            format!("{}c", " ".repeat(d.max_source_bytes)),
            d.max_source_bytes + 1,
        ),
        (Limit::Nesting, nested(d.max_nesting + 1), d.max_nesting + 1),
        (
            Limit::Operators,
            format!("c{}", "+c".repeat(d.max_operators + 1)),
            d.max_operators + 1,
        ),
        (
            Limit::Statements,
            lets(d.max_statements + 1),
            d.max_statements + 1,
        ),
        (Limit::Nodes, nodes, 2 * d.max_nodes),
        (
            Limit::Stages,
            (0..=d.max_stages)
                .map(|i| format!("stage s{i} = c + {i};"))
                .collect::<String>()
                + "at(s0)",
            d.max_stages + 1,
        ),
    ]
    .into_iter()
    .map(|(limit, src, value)| (limit, src, raised(limit, value)))
    .collect()
}

/// The defaults with one limit set to `value`.
fn raised(limit: Limit, value: usize) -> Limits {
    let mut limits = Limits::DEFAULT;
    *match limit {
        Limit::SourceBytes => &mut limits.max_source_bytes,
        Limit::Nesting => &mut limits.max_nesting,
        Limit::Operators => &mut limits.max_operators,
        Limit::Statements => &mut limits.max_statements,
        Limit::Stages => &mut limits.max_stages,
        Limit::Nodes => &mut limits.max_nodes,
        Limit::CodeBytes => &mut limits.max_code_bytes,
        Limit::Footprint => &mut limits.max_footprint,
        Limit::ImageBytes => &mut limits.max_image_bytes,
        Limit::StreamBytes => &mut limits.max_stream_bytes,
    } = value;
    limits
}

#[test]
fn each_program_limit_can_be_raised_in_the_library() {
    for (limit, src, raised) in just_over_each_program_limit() {
        match Kernel::compile(&src) {
            Err(Error::Expr(ExprError::Limit { error, .. })) => {
                assert_eq!(error.limit, limit, "{error}");
                assert!(error.to_string().contains("; the limit is"), "{error}");
                assert!(error.hint().contains(&limit.flag()), "{}", error.hint());
            }
            other => panic!("{limit:?}: expected a limit error, got {other:?}"),
        }
        let k =
            Kernel::compile_with(&src, &raised).unwrap_or_else(|e| panic!("{limit:?} raised: {e}"));
        let out = k
            .filter(
                Array1::<f64>::zeros(3).view(),
                &Footprint::cube(1),
                &Options::default(),
            )
            .unwrap();
        assert_eq!(out.len(), 3);
    }
}

#[test]
fn footprint_limit_can_be_raised_in_the_library() {
    let big = Footprint::rect(1025, 1024);
    let img = Array2::<f64>::from_elem((2, 2), 1.0);
    let err = Kernel::compile("sum(w)")
        .unwrap()
        .filter(img.view(), &big, &Options::default())
        .unwrap_err();
    assert!(
        matches!(&err, Error::Limit(e) if e.limit == Limit::Footprint),
        "{err}"
    );
    let k = Kernel::compile_with("sum(w)", &raised(Limit::Footprint, 1025 * 1024)).unwrap();
    let out = k
        .filter(
            img.view(),
            &big,
            &Options::default().mode(jitfilter::Mode::Constant),
        )
        .unwrap();
    assert!(out.iter().all(|&v| v == 4.0), "{out}");
}

/// The machine code of all of a kernel's functions together is bounded: a cap at its size works,
/// one byte less is a typed error (no panic, and the JIT memory is freed).
#[test]
fn code_size_limit_triggers_with_a_small_cap() {
    let src = "let m = mean(w); (c - m) / (std(w) + 1e-9) + median(w * k)";
    let size = Kernel::compile(src).unwrap().code_bytes();
    assert!(size > 0 && size < Limits::DEFAULT.max_code_bytes);
    let capped = |cap| raised(Limit::CodeBytes, cap);
    assert_eq!(
        Kernel::compile_with(src, &capped(size))
            .unwrap()
            .code_bytes(),
        size
    );
    for cap in [size - 1, 64, 0] {
        match Kernel::compile_with(src, &capped(cap)) {
            Err(Error::Limit(e)) => {
                assert_eq!(e.limit, Limit::CodeBytes);
                assert!(
                    e.to_string()
                        .starts_with("limit exceeded: the generated machine code is at least"),
                    "{e}"
                );
                assert!(e.hint().contains("--max-code-bytes"), "{}", e.hint());
            }
            other => panic!("cap {cap}: {other:?}"),
        }
    }
}

#[test]
fn image_size_limit_is_configurable() {
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("g.png");
    image::GrayImage::new(64, 64).save(&path).unwrap();
    let with = |cap| imageio::load_with(&path, &raised(Limit::ImageBytes, cap));
    let err = with(1000).unwrap_err();
    assert!(
        matches!(&err.reason, Reason::Limit(e) if e.limit == Limit::ImageBytes),
        "{err}"
    );
    assert!(err.to_string().contains("too large"), "{err}");
    assert_eq!(with(64 << 10).unwrap().shape(), &[64, 64]);
}

/// A streamed image is bounded per row by `max_image_bytes` and in all by `max_stream_bytes`: a
/// forged header claiming a huge image is refused before any row is read, in the library and on
/// the command line (where the flag raises it, and nothing is written).
#[test]
fn stream_size_limit_bounds_the_whole_image() {
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("g.png");
    image::GrayImage::from_fn(64, 48, |x, y| image::Luma([(x * 3 + y) as u8]))
        .save(&path)
        .unwrap();
    let open = |cap| imageio::open_rows(&path, &raised(Limit::StreamBytes, cap));
    match open(64 * 48 - 1) {
        Err(e) => {
            assert!(
                matches!(&e.reason, Reason::Limit(l) if l.limit == Limit::StreamBytes),
                "{e}"
            );
            assert!(e.to_string().contains("would stream 3072 bytes"), "{e}");
        }
        Ok(_) => panic!("a stream over the limit opened"),
    }
    let rows = open(64 * 48).unwrap().expect("a grey PNG streams");
    assert_eq!(rows.shape(), [48, 64]);

    let out = dir.path().join("out.png");
    let run = |cap: &str| {
        jitfilter()
            .args(["apply", "max(w)", "-f", "box:3", "--stream", "always"])
            .arg(&path)
            .arg(&out)
            .args(["--max-stream-bytes", cap])
            .output()
            .unwrap()
    };
    let refused = run("3071");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("--max-stream-bytes"), "{stderr}");
    assert!(!out.exists(), "nothing is written");
    assert_no_panic(&stderr);
    let done = run("3K");
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert_eq!(image::open(&out).unwrap().to_luma8().dimensions(), (64, 48));
}

/// A streamed PNG row may be as large as `max_image_bytes` allows: the png crate's own 64 MiB
/// budget does not refuse a 65 MiB row.
#[test]
fn a_png_row_over_64_mib_streams() {
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("wide.png");
    let w = (65 << 20) as u32;
    image::GrayImage::from_fn(w, 2, |x, y| image::Luma([(x % 7 + y) as u8]))
        .save(&path)
        .unwrap();
    let mut rows = imageio::open_rows(&path, &Limits::DEFAULT)
        .unwrap()
        .expect("a grey PNG streams");
    assert_eq!(rows.shape(), [2, w as usize]);
    let image = rows.next_rows().unwrap().expect("rows");
    let values = image.planes()[0].to_f64();
    assert_eq!(values.shape(), [1, w as usize], "one row at a time");
    assert_eq!(values[[0, 12]], (12 % 7) as f64);
}

/// Raised far beyond the default, nesting still cannot overflow a stack: compiling runs on a
/// thread sized for the program, whatever the caller's stack (2 MiB here). Limits no stack could
/// serve are a typed error.
#[test]
fn extreme_raised_nesting_does_not_crash() {
    let deep = Limits {
        max_nesting: usize::MAX,
        max_source_bytes: usize::MAX,
        max_operators: usize::MAX,
        max_nodes: usize::MAX,
        ..Limits::DEFAULT
    };
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            for src in [
                format!("{}c{}", "(".repeat(3000), ")".repeat(3000)),
                format!("{}c{}", "min(c, ".repeat(1000), ")".repeat(1000)),
                format!("2{}", "^c".repeat(3000)),
                format!("c{}", "+c".repeat(20_000)),
            ] {
                let k = Kernel::compile_with(&src, &deep).map_err(|e| e.to_string());
                let _ = tx.send(k.map(|k| k.code_bytes()));
            }
        })
        .unwrap();
    for _ in 0..4 {
        let r = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("compiling did not finish");
        assert!(r.is_ok(), "{r:?}");
    }
    // A million levels would need hundreds of GiB of stack: refused, not a crash.
    let src = "(".repeat(1 << 20);
    match Kernel::compile_with(&src, &deep) {
        Err(Error::Resources(msg)) => assert!(msg.contains("stack"), "{msg}"),
        other => panic!("{other:?}"),
    }
}

/// Runs the binary; checks the exit code and that stderr holds each of `needles`.
fn expect(args: &[&str], code: i32, needles: &[&str]) {
    let out = jitfilter().args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

/// Each limit's flag on the command line: the program (or footprint, or image) just over the
/// default fails with exit 2 (1 for the image) and a hint naming the flag; with the flag it works.
#[test]
fn each_limit_can_be_raised_on_the_command_line() {
    let dir = tempfile::TempDir::new().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let (input, output, kf) = (path("in.npy"), path("out.npy"), path("k.kf"));
    ndarray_npy::write_npy(&input, &Array2::<f64>::zeros((3, 3))).unwrap();
    let apply = ["apply", "-f", "box:1", &input, &output];
    for (limit, src, raised) in just_over_each_program_limit() {
        std::fs::write(&kf, &src).unwrap();
        let flag = limit.flag();
        let value = limit.of(&raised).to_string();
        expect(
            &[&apply[..], &["-e", &kf]].concat(),
            2,
            &["limit exceeded", &flag],
        );
        expect(&[&apply[..], &["-e", &kf, &flag, &value]].concat(), 0, &[]);
    }
    // The same flags on check, ir, bench and repl.
    let (_, deep, _) = &just_over_each_program_limit()[1];
    let raise = ["--max-nesting", "65"];
    let bench = ["bench", "--repeat", "1", "-f", "box:1", deep, &input];
    for args in [&["check", deep][..], &["ir", deep], &bench] {
        expect(args, 2, &["--max-nesting"]);
        expect(&[args, &raise].concat(), 0, &[]);
    }
    jitfilter()
        .args(["repl"])
        .args(raise)
        .write_stdin(format!("{deep}\n"))
        .assert()
        .success();
    // Footprint: rect:1025x1024 is just over 2^20 cells.
    let big = ["apply", "sum(w)", "-f", "rect:1025x1024", &input, &output];
    let needles = ["--footprint rect:1025x1024", "--max-footprint"];
    expect(&big, 2, &needles);
    expect(&[&big[..], &["--max-footprint", "2M"]].concat(), 0, &[]);
    // Code size: a small cap fails, exit 2; `check` shows the size. (`median(w)` alone
    // compiles no code: its result is the planner's plane.)
    expect(
        &["check", "median(w) + c", "--max-code-bytes", "100"],
        2,
        &["--max-code-bytes"],
    );
    let out = jitfilter()
        .args(["check", "median(w) + c"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("bytes of machine code"));
    // Image: camera.png is 256 KiB of pixels; exit 1 with a 64K cap, fine with 1M.
    let camera = data("camera.png");
    let camera = ["apply", "c", camera.to_str().unwrap(), &path("c.png")];
    let needles = ["too large", "--max-image-bytes"];
    expect(
        &[&camera[..], &["--max-image-bytes", "64K"]].concat(),
        1,
        &needles,
    );
    expect(
        &[&camera[..], &["--max-image-bytes", "1M"]].concat(),
        0,
        &[],
    );
}
