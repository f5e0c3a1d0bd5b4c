//! `jitfilter studio`'s JSON API without a browser: results equal the CLI's and the library's,
//! every error path answers with its status and span, and every security rule holds.

mod studio_support;

use jitfilter::imageio;
use jitfilter::{Footprint, Kernel, Options};
use serde_json::json;
use std::io::BufRead;
use std::path::Path;
use studio_support::{apply, data, request, Response, Studio};

/// Decoded grey pixels of PNG bytes.
fn grey(png: &[u8]) -> Vec<u8> {
    image::load_from_memory(png)
        .unwrap()
        .into_luma8()
        .into_raw()
}

/// The raw planes of a `"format": "raw"` answer (bytes for u8 results, else f32), as f32.
fn floats(r: &Response) -> Vec<f32> {
    match r.header("X-Raw") {
        Some("u8") => r.body.iter().map(|&b| b as f32).collect(),
        Some("f32") => (r.body.chunks_exact(4))
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect(),
        other => panic!("X-Raw {other:?}"),
    }
}

#[test]
fn the_result_is_the_clis() {
    let studio = Studio::start(&[]);
    let r = studio.post(
        "/api/filter",
        &json!({"program": "max(w)", "footprint": "disk:5", "mode": "nearest"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("Content-Type"), Some("image/png"));
    assert_eq!(r.header("X-Shape"), Some("1,512,512"));
    assert!(r.header("X-Compile-Ms").unwrap().parse::<f64>().unwrap() > 0.0);
    assert!(r.header("X-Filter-Ms").unwrap().parse::<f64>().unwrap() > 0.0);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("max.png");
    apply(
        &["max(w)", "-f", "disk:5", "-m", "nearest"],
        &data("camera.png"),
        &out,
    );
    assert_eq!(grey(&r.body), grey(&std::fs::read(&out).unwrap()));
}

#[test]
fn raw_values_are_the_librarys() {
    let studio = Studio::start(&[]);
    let program = "let m = mean(w); (c - m) / (std(w) + 1e-9)";
    let r = studio.post(
        "/api/filter",
        &json!({"program": program, "footprint": "disk:3", "dtype": "f64", "format": "raw",
                "mode": "wrap"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("X-Dtype"), Some("f64"));
    let image = imageio::load(&data("camera.png")).unwrap();
    let img = image.planes()[0].to_f64();
    let k = Kernel::compile(program).unwrap();
    let opts = Options::default().mode(jitfilter::Mode::Wrap);
    let want = k.filter(img.view(), &Footprint::disk(3), &opts).unwrap();
    let got = floats(&r);
    assert_eq!(got.len(), want.len());
    assert!(want.iter().zip(&got).all(|(w, g)| *w as f32 == *g));
    // A float result as PNG is stretched for viewing: its extremes are 0 and 255.
    let png = studio.post(
        "/api/filter",
        &json!({"program": program, "footprint": "disk:3", "dtype": "f64"}),
    );
    let shown = grey(&png.body);
    assert_eq!(
        (shown.iter().min(), shown.iter().max()),
        (Some(&0), Some(&255))
    );
}

#[test]
fn downloads_carry_exact_values() {
    let studio = Studio::start(&[]);
    let r = studio.post(
        "/api/filter",
        &json!({"program": "mean(w) / 3", "footprint": "box:3", "dtype": "f32", "format": "npy"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.npy");
    std::fs::write(&path, &r.body).unwrap();
    let got = imageio::load(&path).unwrap().planes()[0].to_f64();
    let image = imageio::load(&data("camera.png")).unwrap();
    let k = Kernel::compile("mean(w) / 3").unwrap();
    let want = k
        .filter_as::<f64, f32, _>(
            image.planes()[0].to_f64().view(),
            &Footprint::cube(3),
            &Options::default(),
        )
        .unwrap();
    assert!(want.iter().zip(got.iter()).all(|(w, g)| *w as f64 == *g));
    // TIFF too; a float result cannot be a PNG, and says so.
    let tiff = studio.post(
        "/api/filter",
        &json!({"program": "c / 2", "dtype": "f64", "format": "tiff"}),
    );
    assert_eq!(
        (tiff.status, tiff.header("Content-Type")),
        (200, Some("image/tiff"))
    );
    let bad = studio.post("/api/filter", &json!({"program": "c", "format": "gif"}));
    assert_eq!(
        (bad.status, bad.json()["field"].as_str()),
        (400, Some("format"))
    );
}

#[test]
fn expression_errors_point_at_their_bytes() {
    let studio = Studio::start(&[]);
    let r = studio.post("/api/filter", &json!({"program": "maxx(w)"}));
    assert_eq!(r.status, 400);
    let e = r.json();
    assert_eq!(e["error"], "unknown function `maxx`");
    assert_eq!((e["start"].as_u64(), e["end"].as_u64()), (Some(0), Some(4)));
    assert_eq!(e["suggestion"], "max");
    assert_eq!(e["hint"], "did you mean `max`?");
    // Byte offsets, after a multi-byte character in a comment.
    let program = "# größe\nmean(w) +";
    let e = studio
        .post("/api/check", &json!({"program": program}))
        .json();
    let (s, t) = (
        e["start"].as_u64().unwrap() as usize,
        e["end"].as_u64().unwrap() as usize,
    );
    assert!(s <= program.len() && t <= program.len() && s <= t, "{e}");
    assert!(
        e["error"].as_str().unwrap().contains("expected a value"),
        "{e}"
    );
    // A param outside its declared range, a stage that does not exist, an unknown engine.
    let e = studio.post(
        "/api/filter",
        &json!({"program": "param a = 1 in 0 .. 2; c * a", "params": {"a": 3}}),
    );
    assert_eq!(e.status, 400);
    assert!(e.json()["error"]
        .as_str()
        .unwrap()
        .contains("outside its declared range 0 .. 2"));
    let e = studio.post(
        "/api/filter",
        &json!({"program": "max(w)", "stage": "nope"}),
    );
    assert_eq!((e.status, e.json()["field"].as_str()), (400, Some("stage")));
    let e = studio.post(
        "/api/filter",
        &json!({"program": "max(w)", "engine": "gpu"}),
    );
    assert_eq!(
        (e.status, e.json()["field"].as_str()),
        (400, Some("engine"))
    );
    let e = studio.post(
        "/api/filter",
        &json!({"program": "max(w)", "mode": "bounce"}),
    );
    assert_eq!((e.status, e.json()["field"].as_str()), (400, Some("mode")));
    let e = studio.post("/api/filter", &json!({"program": 3}));
    assert_eq!(
        (e.status, e.json()["field"].as_str()),
        (400, Some("program"))
    );
    let json = [("Content-Type", "application/json")];
    let e = studio.request("POST", "/api/filter", &json, b"{not json");
    assert_eq!(e.status, 400);
    assert!(e.json()["error"].as_str().unwrap().contains("not JSON"));
}

#[test]
fn check_lists_params_stages_and_the_plan() {
    let studio = Studio::start(&[]);
    let program = "param amount = 1.5 in 0 .. 4; param eps = 100; stage e = min(w); c + amount * (max(e) - c) / eps";
    let r = studio.post("/api/check", &json!({"program": program}));
    assert_eq!(r.status, 200, "{}", r.text());
    let c = r.json();
    assert_eq!(
        c["params"],
        json!([
            {"name": "amount", "default": 1.5, "min": 0.0, "max": 4.0, "declared": true},
            {"name": "eps", "default": 100.0, "min": 0.0, "max": 200.0, "declared": false},
        ])
    );
    assert_eq!(c["stages"], json!(["e"]));
    let plan = c["plan"].as_str().unwrap();
    assert!(
        plan.contains("params     amount = 1.5 in 0 .. 4, eps = 100"),
        "{plan}"
    );
    assert!(plan.contains("typed program:"), "{plan}");
    // A stage on its own: the opening's first stage is the erosion.
    let stage = studio.post(
        "/api/filter",
        &json!({"program": "stage e = min(w) over disk:2; max(e) over disk:2", "stage": "e", "format": "raw"}),
    );
    let erosion = studio.post(
        "/api/filter",
        &json!({"program": "min(w)", "footprint": "disk:2", "format": "raw"}),
    );
    assert_eq!(stage.status, 200, "{}", stage.text());
    assert_eq!(floats(&stage), floats(&erosion));
}

#[test]
fn a_slider_move_does_not_recompile() {
    let studio = Studio::start(&[]);
    let program = "param a = 1 in 0 .. 4; c + a * (c - mean(w))";
    let first = studio.post(
        "/api/filter",
        &json!({"program": program, "params": {"a": 1}, "format": "raw"}),
    );
    let moved = studio.post(
        "/api/filter",
        &json!({"program": program, "params": {"a": 2}, "format": "raw"}),
    );
    assert_eq!((first.status, moved.status), (200, 200));
    // The compile time reported is the one compile's, and the results differ.
    assert_eq!(first.header("X-Compile-Ms"), moved.header("X-Compile-Ms"));
    assert_ne!(floats(&first), floats(&moved));
}

#[test]
fn uploads_are_inputs_held_in_memory() {
    let studio = Studio::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let flipped = dir.path().join("flipped.png");
    apply(&["255 - c", "-f", "box:1"], &data("camera.png"), &flipped);
    let bytes = std::fs::read(&flipped).unwrap();
    // The file name is only a name: nothing is written anywhere.
    let r = studio.request(
        "POST",
        "/api/input?name=g",
        &[("X-Filename", "../../evil.png")],
        &bytes,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["inputs"][0]["name"], "g");
    assert!(!Path::new("../../evil.png").exists());
    let both = studio.post(
        "/api/filter",
        &json!({"program": "(c + at(g)) / 2", "footprint": "box:1", "format": "raw"}),
    );
    assert_eq!(both.status, 200, "{}", both.text());
    assert!(
        floats(&both).iter().all(|v| *v == 128.0 || *v == 127.0),
        "(c + 255 - c) / 2 rounds to 128 or 127"
    );
    let checked = studio
        .post("/api/check", &json!({"program": "max(g) - c"}))
        .json();
    assert_eq!(checked["inputs"], json!(["g"]));
    // A bad name, a file of another shape, bytes that are no image.
    let e = studio.request(
        "POST",
        "/api/input?name=max",
        &[("X-Filename", "f.png")],
        &bytes,
    );
    assert_eq!(e.status, 400);
    assert!(e.json()["error"]
        .as_str()
        .unwrap()
        .contains("cannot name an input"));
    let small = dir.path().join("small.png");
    apply(&["c", "-f", "box:1"], &data("coins.png"), &small);
    let e = studio.request(
        "POST",
        "/api/input?name=h",
        &[("X-Filename", "small.png")],
        &std::fs::read(&small).unwrap(),
    );
    assert_eq!(e.status, 400);
    assert!(e.json()["error"]
        .as_str()
        .unwrap()
        .contains("must have the image's shape"));
    let e = studio.request(
        "POST",
        "/api/input?name=h",
        &[("X-Filename", "x.png")],
        b"not an image",
    );
    assert_eq!(e.status, 400);
    assert!(e.json()["error"].as_str().unwrap().contains("x.png"));
    // Removed, the program cannot read it any more.
    assert_eq!(
        studio
            .request("DELETE", "/api/input?name=g", &[], b"")
            .status,
        200
    );
    let e = studio.post("/api/check", &json!({"program": "max(g)"}));
    assert_eq!(e.status, 400);
    // A new image to filter replaces the old.
    let coins = std::fs::read(data("coins.png")).unwrap();
    let r = studio.request("POST", "/api/image", &[("X-Filename", "coins.png")], &coins);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["name"], "coins.png");
    let shape = studio.get("/api/image").header("X-Shape").map(String::from);
    let decoded = image::load_from_memory(&coins).unwrap();
    assert_eq!(
        shape,
        Some(format!("1,{},{}", decoded.height(), decoded.width()))
    );
}

#[test]
fn a_newer_request_cancels_the_older() {
    let studio = Studio::start(&[]);
    let slow = json!({"program": "median(w)", "footprint": "disk:25", "engine": "interpreter",
                      "client": "page-1", "format": "raw"})
    .to_string();
    let port = studio.port;
    let host = format!("127.0.0.1:{port}");
    let older = std::thread::spawn(move || {
        request(
            port,
            "POST",
            "/api/filter",
            &[("Host", &host), ("Content-Type", "application/json")],
            slow.as_bytes(),
        )
    });
    std::thread::sleep(std::time::Duration::from_millis(500));
    let newer = studio.post(
        "/api/filter",
        &json!({"program": "max(w)", "client": "page-1", "format": "raw"}),
    );
    assert_eq!(newer.status, 200);
    let older = older.join().unwrap();
    assert_eq!(older.status, 409, "{}", older.text());
    assert_eq!(older.json()["error"], "superseded by a newer request");
    // Requests may arrive out of order: the page numbers them, and an older one is refused.
    let body =
        |seq: u64| json!({"program": "max(w)", "client": "page-3", "seq": seq, "format": "raw"});
    assert_eq!(studio.post("/api/filter", &body(5)).status, 200);
    let late = studio.post("/api/filter", &body(3));
    assert_eq!(
        (late.status, late.json()["error"].as_str()),
        (409, Some("superseded by a newer request"))
    );
    assert_eq!(studio.post("/api/filter", &body(6)).status, 200);
    // Another page's requests are its own.
    let other = studio.post(
        "/api/filter",
        &json!({"program": "min(w)", "client": "page-2", "format": "raw"}),
    );
    assert_eq!(other.status, 200);
}

#[test]
fn requests_from_elsewhere_are_refused() {
    let studio = Studio::start(&[]);
    let port = studio.port;
    let own = format!("127.0.0.1:{port}");
    let local = format!("localhost:{port}");
    let check = br#"{"program": "max(w)"}"#;
    // DNS rebinding: a name that resolves here is still not this server's name.
    for host in [
        "evil.example:80".to_string(),
        format!("evil.example:{port}"),
        "127.0.0.1:1".into(),
    ] {
        let r = request(port, "GET", "/api/info", &[("Host", &host)], b"");
        assert_eq!(r.status, 403, "{host}");
        assert!(r.json()["error"]
            .as_str()
            .unwrap()
            .contains("is not this studio"));
    }
    let r = request(port, "GET", "/api/info", &[], b"");
    assert_eq!(r.status, 403, "no Host at all");
    for host in [&own, &local] {
        assert_eq!(
            request(port, "GET", "/api/info", &[("Host", host)], b"").status,
            200,
            "{host}"
        );
    }
    // A page of another origin may not POST (the studio's own may).
    let foreign = request(
        port,
        "POST",
        "/api/check",
        &[("Host", &own), ("Origin", "http://evil.example")],
        check,
    );
    assert_eq!(foreign.status, 403);
    let origin = format!("http://{own}");
    let same = request(
        port,
        "POST",
        "/api/check",
        &[
            ("Host", &own),
            ("Origin", &origin),
            ("Content-Type", "application/json"),
        ],
        check,
    );
    assert_eq!(same.status, 200);
    let cross = request(
        port,
        "POST",
        "/api/check",
        &[("Host", &own), ("Sec-Fetch-Site", "cross-site")],
        check,
    );
    assert_eq!(cross.status, 403);
    // Bodies are capped: JSON at 1 MiB, so a huge body never reaches the parser.
    let huge = vec![b' '; (1 << 20) + 1];
    let json = [("Content-Type", "application/json")];
    assert_eq!(
        studio.request("POST", "/api/check", &json, &huge).status,
        413
    );
    // A page of another origin cannot send JSON or an upload's header without asking first.
    assert_eq!(studio.request("POST", "/api/check", &[], check).status, 415);
    let form = [("Content-Type", "text/plain")];
    assert_eq!(
        studio.request("POST", "/api/filter", &form, check).status,
        415
    );
    assert_eq!(
        studio.request("POST", "/api/image", &[], b"GIF89a").status,
        400
    );
    // Programs and footprints keep the CLI's limits.
    let long = "c + ".repeat(20_000) + "c";
    let e = studio.post("/api/check", &json!({"program": long}));
    assert_eq!(e.status, 400);
    assert!(
        e.json()["error"].as_str().unwrap().contains("limit"),
        "{}",
        e.text()
    );
    let e = studio.post(
        "/api/filter",
        &json!({"program": "max(w)", "footprint": "box:2000"}),
    );
    assert_eq!(
        (e.status, e.json()["field"].as_str()),
        (400, Some("footprint"))
    );
    // No path from a request reaches the file system: a footprint file is not a footprint here.
    let e = studio.post(
        "/api/filter",
        &json!({"program": "max(w)", "footprint": "file:/etc/passwd"}),
    );
    assert_eq!(
        (e.status, e.json()["field"].as_str()),
        (400, Some("footprint"))
    );
    assert_eq!(studio.get("/etc/passwd").status, 404);
    assert_eq!(studio.get("/../Cargo.toml").status, 404);
    assert_eq!(
        studio.request("PUT", "/api/filter", &json, b"{}").status,
        405
    );
}

#[test]
fn the_page_and_its_assets_are_served() {
    let mut studio = Studio::start(&[]);
    let page = studio.get("/");
    assert_eq!(page.status, 200);
    let html = page.text();
    for id in [
        "id=\"program\"",
        "id=\"footprint\"",
        "id=\"mode\"",
        "id=\"result\"",
        "id=\"error\"",
        "id=\"timing\"",
    ] {
        assert!(html.contains(id), "{id}");
    }
    // Nothing is loaded from elsewhere.
    assert!(!html.contains("http://") && !html.contains("https://"));
    let csp = page.header("Content-Security-Policy").unwrap();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert_eq!(
        studio.get("/studio.js").header("Content-Type"),
        Some("text/javascript")
    );
    assert_eq!(studio.get("/studio.css").status, 200);
    let info = studio.get("/api/info").json();
    assert_eq!(
        (info["shape"].clone(), info["dtype"].clone()),
        (json!([512, 512]), json!("u8"))
    );
    let mut line = String::new();
    studio.stderr.read_line(&mut line).unwrap();
    assert!(line.contains("camera.png (bundled)"), "{line}");
    assert!(studio.alive());
}

#[test]
fn binding_beyond_loopback_warns() {
    let mut studio = Studio::start(&["--bind", "0.0.0.0"]);
    let mut line = String::new();
    studio.stderr.read_line(&mut line).unwrap();
    assert!(
        line.starts_with("warning: the studio listens on 0.0.0.0"),
        "{line}"
    );
    assert!(studio.url.starts_with("http://0.0.0.0:"));
    assert!(studio.alive());
}

#[test]
fn images_the_studio_cannot_show_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let volume = dir.path().join("v.npy");
    let a = ndarray::Array3::<f32>::zeros((4, 5, 6));
    ndarray_npy::write_npy(&volume, &a).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_jitfilter"))
        .arg("studio")
        .arg(&volume)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the studio shows 2-D images, and this is 3-D"),
        "{err}"
    );
    let missing = std::process::Command::new(env!("CARGO_BIN_EXE_jitfilter"))
        .args(["studio", "no-such.png"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no-such.png"));
}

#[test]
fn a_region_is_the_whole_images_crop() {
    let studio = Studio::start(&[]);
    let cases = [
        ("max(w)", "disk:5", "reflect", "same"),
        ("median(w)", "box:7", "mirror", "same"),
        (
            "stage e = min(w) over disk:3; max(e) over disk:4",
            "box:3",
            "nearest",
            "same",
        ),
        (
            "let m = mean(w); (c - m) / (std(w) + 1e-9)",
            "disk:6",
            "wrap",
            "f64",
        ),
        ("at(w, 3, -2) + sum(k * w)", "gauss:1.5", "constant", "f64"),
        ("mean(w)", "rect:15x1", "reflect,wrap", "f64"),
    ];
    let regions = [
        [100, 200, 50, 60],
        [0, 0, 30, 30],
        [490, 500, 50, 50],
        [0, 0, 512, 512],
    ];
    for (program, footprint, mode, dtype) in cases {
        let body = json!({"program": program, "footprint": footprint, "mode": mode, "cval": 3,
                          "dtype": dtype, "format": "raw"});
        let whole = studio.post("/api/filter", &body);
        assert_eq!(whole.status, 200, "{program}: {}", whole.text());
        let whole = floats(&whole);
        for region in regions {
            let mut body = body.clone();
            body["region"] = json!(region);
            let part = studio.post("/api/filter", &body);
            assert_eq!(part.status, 200, "{program}: {}", part.text());
            let shown: Vec<usize> = (part.header("X-Region").unwrap().split(','))
                .map(|v| v.parse().unwrap())
                .collect();
            let [y0, x0, h, w] = shown[..] else { panic!() };
            assert!(y0 + h <= 512 && x0 + w <= 512 && h > 0 && w > 0);
            let got = floats(&part);
            assert_eq!(got.len(), h * w, "{program} {region:?}");
            for (i, v) in got.iter().enumerate() {
                let want = whole[(y0 + i / w) * 512 + x0 + i % w];
                // Sums may be anchored elsewhere in a crop: equal to a few ulps.
                assert!(
                    (v - want).abs() <= 1e-5 * want.abs().max(1.0),
                    "{program} {region:?} at {i}: {v} vs {want}"
                );
            }
        }
    }
    // A program that reads positions is filtered whole.
    let r = studio.post(
        "/api/filter",
        &json!({"program": "c * x / width", "region": [10, 10, 5, 5], "format": "raw"}),
    );
    assert_eq!(r.header("X-Region"), Some("0,0,512,512"));
    let e = studio.post("/api/filter", &json!({"program": "c", "region": [1, 2]}));
    assert_eq!(
        (e.status, e.json()["field"].as_str()),
        (400, Some("region"))
    );
}

#[test]
fn a_runaway_filter_costs_one_request() {
    let studio = Studio::start(&["--time-limit", "1"]);
    let slow = json!({"program": "median(w)", "footprint": "disk:40", "engine": "interpreter", "format": "raw"});
    let r = studio.post("/api/filter", &slow);
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(r.json()["error"]
        .as_str()
        .unwrap()
        .contains("ran for more than 1 s"));
    // The server goes on.
    assert_eq!(
        studio
            .post("/api/filter", &json!({"program": "max(w)"}))
            .status,
        200
    );
}

#[test]
fn what_the_review_found() {
    let studio = Studio::start(&[]);
    // A stage that reads positions makes a region run whole.
    let r = studio.post(
        "/api/filter",
        &json!({"program": "stage s = c * x / width; max(s)", "region": [10, 10, 5, 5], "format": "raw"}),
    );
    assert_eq!(r.header("X-Region"), Some("0,0,512,512"));
    // A file name beyond ASCII arrives percent-encoded.
    let camera_png = std::fs::read(data("camera.png")).unwrap();
    let r = studio.request(
        "POST",
        "/api/input?name=g",
        &[("X-Filename", "caf%C3%A9%20%E5%9B%BE.png")],
        &camera_png,
    );
    assert_eq!(r.json()["inputs"][0]["file"], "café 图.png");
    // A new image of another shape drops the inputs made for the old one, so a region of the
    // new image never crops them out of range.
    let coins = std::fs::read(data("coins.png")).unwrap();
    let r = studio.request("POST", "/api/image", &[("X-Filename", "coins.png")], &coins);
    assert_eq!(r.json()["inputs"], json!([]));
    let e = studio.post(
        "/api/filter",
        &json!({"program": "c + at(g)", "region": [300, 300, 5, 5]}),
    );
    assert_eq!(e.status, 400, "{}", e.text());
    // A default JSON cannot hold gets no slider; a huge one a finite slider.
    let c = studio
        .post(
            "/api/check",
            &json!({"program": "param a = inf; param b = 1e308; min(c, a) + b * 0"}),
        )
        .json();
    assert_eq!(c["params"][0]["min"], json!(null));
    assert_eq!(c["params"][0]["default"], "inf");
    assert_eq!(
        (
            c["params"][1]["min"].as_f64(),
            c["params"][1]["max"].as_f64()
        ),
        (Some(0.0), Some(1e308))
    );
    // A download keeps exact values: a float result is no PNG (a view stretches it).
    let e = studio.post(
        "/api/filter",
        &json!({"program": "c / 3", "dtype": "f64", "download": true}),
    );
    assert_eq!(e.status, 400);
    assert!(
        e.json()["error"].as_str().unwrap().contains("PNG"),
        "{}",
        e.text()
    );
    let v = studio.post("/api/filter", &json!({"program": "c / 3", "dtype": "f64"}));
    assert_eq!(v.header("Content-Type"), Some("image/png"));
}
