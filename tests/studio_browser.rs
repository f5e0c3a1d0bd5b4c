//! The studio page in a real browser: headless Chromium driven over WebDriver (Debian's
//! `chromium` and `chromium-driver`, which `.ci/run` installs). Keystrokes go through the
//! browser's own input path; results are compared with the CLI's output pixel for pixel.
//!
//! Without chromedriver the test is skipped with a message, except when
//! `JITFILTER_BROWSER_TESTS=required` (as `.ci/run` sets it), where a missing browser is a failure. `JITFILTER_STUDIO_SCREENSHOTS=DIR` saves screenshots there.

mod studio_support;

use base64::Engine as _;
use serde_json::{json, Value};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use studio_support::{apply, data, request, Studio};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// A key on the WebDriver wire: the right arrow.
const ARROW_RIGHT: &str = "\u{E014}";

/// A chromedriver process and one browser session in it.
struct Browser {
    driver: Child,
    port: u16,
    session: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn start() -> Option<Browser> {
        if !Path::new(CHROMEDRIVER).exists() || !Path::new(CHROMIUM).exists() {
            assert!(
                std::env::var("JITFILTER_BROWSER_TESTS").as_deref() != Ok("required"),
                "chromium and chromium-driver are needed (apt-get install chromium chromium-driver)"
            );
            eprintln!("skipped: no {CHROMEDRIVER} (apt-get install chromium chromium-driver)");
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::tempdir().unwrap();
        let mut browser = Browser {
            driver,
            port,
            session: String::new(),
            _profile: profile,
        };
        let ready = Instant::now();
        while !browser.ready() {
            assert!(
                ready.elapsed() < Duration::from_secs(20),
                "chromedriver never got ready"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        // The flags that keep Chromium off a closed network and out of a sandbox it cannot have.
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1400,900",
            &format!("--user-data-dir={}", browser._profile.path().display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
        }}});
        let created = browser.call("POST", "/session", &caps);
        browser.session = created["sessionId"]
            .as_str()
            .expect("a session")
            .to_string();
        Some(browser)
    }

    fn ready(&self) -> bool {
        std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            && self.call_raw("GET", "/status", &Value::Null).0 == 200
    }

    fn call_raw(&self, method: &str, path: &str, body: &Value) -> (u16, Value) {
        let host = format!("localhost:{}", self.port);
        let text = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        let r = request(
            self.port,
            method,
            path,
            &[("Host", &host), ("Content-Type", "application/json")],
            text.as_bytes(),
        );
        let value: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        (r.status, value["value"].clone())
    }

    /// A WebDriver command; its `value`.
    fn call(&self, method: &str, path: &str, body: &Value) -> Value {
        let (status, value) = self.call_raw(method, path, body);
        assert_eq!(status, 200, "{method} {path}: {value}");
        value
    }

    fn at(&self, path: &str) -> String {
        format!("/session/{}{path}", self.session)
    }

    fn go(&self, url: &str) {
        self.call("POST", &self.at("/url"), &json!({ "url": url }));
    }

    fn js(&self, script: &str) -> Value {
        self.call(
            "POST",
            &self.at("/execute/sync"),
            &json!({"script": script, "args": []}),
        )
    }

    /// Waits until `condition` (a JS expression) is true.
    fn wait_for(&self, condition: &str) {
        let start = Instant::now();
        loop {
            if self.js(&format!("return !!({condition});")) == json!(true) {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "waited 30 s for {condition}; page errors: {}",
                self.js("return window.studio ? window.studio.errors : null;")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn element(&self, css: &str) -> String {
        let found = self.call(
            "POST",
            &self.at("/element"),
            &json!({"using": "css selector", "value": css}),
        );
        found
            .as_object()
            .unwrap()
            .values()
            .next()
            .unwrap()
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Clears a field and types `text` into it, key by key.
    fn type_into(&self, css: &str, text: &str) {
        let e = self.element(css);
        self.call("POST", &self.at(&format!("/element/{e}/clear")), &json!({}));
        self.send_keys(css, text);
    }

    fn send_keys(&self, css: &str, text: &str) {
        let e = self.element(css);
        self.call(
            "POST",
            &self.at(&format!("/element/{e}/value")),
            &json!({ "text": text }),
        );
    }

    fn click(&self, css: &str) {
        let e = self.element(css);
        self.call("POST", &self.at(&format!("/element/{e}/click")), &json!({}));
    }

    fn text(&self, css: &str) -> String {
        let script = format!("return document.querySelector({css:?}).textContent;");
        self.js(&script).as_str().unwrap_or_default().to_string()
    }

    /// The shown result's pixels (8-bit grey).
    fn result_pixels(&self) -> Vec<u8> {
        let b64 = self.js("return window.studio.resultPixels();");
        base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap())
            .unwrap()
    }

    fn screenshot(&self, name: &str) {
        if let Some(dir) = std::env::var_os("JITFILTER_STUDIO_SCREENSHOTS") {
            let b64 = self.call("GET", &self.at("/screenshot"), &Value::Null);
            let png = base64::engine::general_purpose::STANDARD
                .decode(b64.as_str().unwrap())
                .unwrap();
            std::fs::write(PathBuf::from(dir).join(name), png).unwrap();
        }
    }

    /// Severe entries of the browser's console (where chromedriver keeps them), but for the
    /// API's answers to bad programs (a 400 is how the page learns of an error).
    fn console_errors(&self) -> Vec<String> {
        let (status, log) = self.call_raw("POST", &self.at("/se/log"), &json!({"type": "browser"}));
        if status != 200 {
            return Vec::new();
        }
        (log.as_array().into_iter().flatten())
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].to_string())
            .filter(|m| !(m.contains("/api/") && m.contains("status of 400")))
            .collect()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.call_raw(
                "DELETE",
                &format!("/session/{}", self.session),
                &Value::Null,
            );
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// `jitfilter apply ARGS camera.png out.png`'s pixels.
fn cli(args: &[&str]) -> Vec<u8> {
    cli_on(&data("camera.png"), args)
}

/// `jitfilter apply ARGS INPUT out.png`'s pixels.
fn cli_on(input: &Path, args: &[&str]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.png");
    apply(args, input, &out);
    image::open(&out).unwrap().into_luma8().into_raw()
}

#[test]
fn the_page_in_a_real_browser() {
    let Some(b) = Browser::start() else { return };
    let studio = Studio::start(&[]);
    b.go(&studio.url);
    b.wait_for("window.studio && window.studio.renders >= 1");

    // Typing a program (key by key) shows its result: the CLI's, pixel for pixel. The page
    // starts with `max(w)`, so the footprint's own render already shows `max(w)` on `disk:3`:
    // wait for it, then for a render after the program's typing (else that one can land after
    // the renders are counted below: CI under load).
    b.type_into("#footprint", "disk:3");
    b.wait_for("studio.shown.footprint === 'disk:3'");
    let renders = b.js("return studio.renders;");
    b.type_into("#program", "max(w)");
    b.wait_for(&format!(
        "studio.renders > {renders} && studio.shown.program === 'max(w)' && studio.shown.footprint === 'disk:3'"
    ));
    let typed = b.js("return studio.lastLatency;");
    let max = b.result_pixels();
    assert_eq!(max, cli(&["max(w)", "-f", "disk:3"]));
    assert!(
        b.text("#timing").contains("filter"),
        "{}",
        b.text("#timing")
    );
    b.screenshot("studio-max.png");

    // A typo: the error in place, the caret under it, the last good result kept.
    let renders = b.js("return studio.renders;");
    b.type_into("#program", "maxx(w)");
    b.wait_for("!document.getElementById('error').hidden");
    assert_eq!(b.text("#error .source"), "maxx(w)");
    assert_eq!(b.text("#error .caret"), "^^^^");
    assert_eq!(b.text("#backdrop mark"), "maxx");
    let error = b.text("#error");
    assert!(
        error.contains("unknown function `maxx`") && error.contains("did you mean `max`?"),
        "{error}"
    );
    assert_eq!(b.js("return studio.renders;"), renders);
    assert_eq!(b.result_pixels(), max);
    b.screenshot("studio-error.png");
    // Its fix is a click away.
    b.click("#error button");
    b.wait_for("document.getElementById('error').hidden && studio.shown.program === 'max(w)'");
    assert_eq!(
        b.js("return document.getElementById('program').value;"),
        "max(w)"
    );

    // A slider re-filters (without recompiling) and the timing changes with it.
    b.js("const s = document.getElementById('examples'); s.selectedIndex = [...s.options].findIndex(o => o.text.startsWith('unsharp')); s.dispatchEvent(new Event('change'));");
    b.wait_for("studio.shown.program.includes('amount') && document.querySelector('input[data-param=amount]')");
    let before = b.result_pixels();
    let timing = b.text("#timing");
    assert_eq!(
        before,
        cli(&[
            "-p",
            "amount=1.5",
            "-f",
            "box:5",
            "param amount = 1.5 in 0 .. 4;\nc + amount * (c - mean(w))"
        ])
    );
    b.send_keys(
        "input[type=range][data-param=amount]",
        &ARROW_RIGHT.repeat(100),
    );
    // The last render is the slider's last value.
    b.wait_for("studio.shown.params.amount > 1.8 && studio.shown.params.amount === Number(document.querySelector('input[data-param=amount]').value)");
    let amount = b.js("return studio.shown.params.amount;").as_f64().unwrap();
    let after = b.result_pixels();
    assert_ne!(after, before);
    assert_ne!(b.text("#timing"), timing);
    let p = format!("amount={amount}");
    assert_eq!(
        after,
        cli(&[
            "-p",
            &p,
            "-f",
            "box:5",
            "param amount = 1.5 in 0 .. 4;\nc + amount * (c - mean(w))"
        ])
    );
    b.screenshot("studio-slider.png");

    // Swipe, zoom and pan: no errors in the page or the console, the value under the cursor shown.
    b.js("const l = document.getElementById('layout'); l.value = 'swipe'; l.dispatchEvent(new Event('change'));");
    b.js(r#"
        const c = document.getElementById('result');
        const r = c.getBoundingClientRect();
        const at = (type, x, y, extra) => c.dispatchEvent(new MouseEvent(type, {clientX: r.left + x, clientY: r.top + y, bubbles: true, ...extra}));
        for (let i = 0; i < 8; i++) c.dispatchEvent(new WheelEvent('wheel', {clientX: r.left + 200, clientY: r.top + 150, deltaY: -100, bubbles: true, cancelable: true}));
        at('mousemove', 100, 100);
        at('mousedown', 100, 100);
        window.dispatchEvent(new MouseEvent('mousemove', {clientX: r.left + 160, clientY: r.top + 140}));
        window.dispatchEvent(new MouseEvent('mouseup', {}));
        at('mousemove', 250, 120);
    "#);
    b.click("#one");
    b.screenshot("studio-swipe.png");
    b.click("#fit");
    assert!(b.text("#pixel").starts_with("x "), "{}", b.text("#pixel"));
    assert_eq!(b.js("return studio.errors;"), json!([]));
    assert_eq!(b.console_errors(), Vec::<String>::new());

    // Keystroke (or pick) to image, for every example program: printed, not asserted.
    let mut latencies = vec![(
        "typing max(w)".to_string(),
        typed.as_f64().unwrap_or(f64::NAN),
    )];
    let n = b
        .js("return document.getElementById('examples').options.length;")
        .as_u64()
        .unwrap();
    for i in 0..n {
        b.js(&format!("const s = document.getElementById('examples'); s.selectedIndex = {i}; s.dispatchEvent(new Event('change'));"));
        b.wait_for(&format!(
            "studio.shown.program === JSON.parse(document.getElementById('examples').options[{i}].value)[0]"
        ));
        let name = b.js(&format!(
            "return document.getElementById('examples').options[{i}].text;"
        ));
        let ms = b.js("return studio.lastLatency;").as_f64().unwrap();
        let steps = b.js("return JSON.stringify(studio.steps);");
        latencies.push((
            format!("{} {}", name.as_str().unwrap(), steps.as_str().unwrap()),
            ms,
        ));
    }
    assert_eq!(b.js("return studio.errors;"), json!([]));

    // A large image, zoomed in: the visible part of a new result comes first, then the whole.
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.png");
    image::GrayImage::from_fn(1600, 1200, |x, y| {
        image::Luma([((x * 7 + y * 3) % 251) as u8])
    })
    .save(&big)
    .unwrap();
    b.send_keys("#image-file", big.to_str().unwrap());
    b.wait_for("document.getElementById('image-info').textContent.startsWith('big.png')");
    b.click("#fit");
    b.js(r#"
        const c = document.getElementById('result');
        const r = c.getBoundingClientRect();
        for (let i = 0; i < 10; i++) c.dispatchEvent(new WheelEvent('wheel', {clientX: r.left + 100, clientY: r.top + 100, deltaY: -100, bubbles: true, cancelable: true}));
    "#);
    b.type_into("#footprint", "disk:4");
    b.type_into("#program", "min(w)");
    b.wait_for("studio.shown.program === 'min(w)' && studio.shown.footprint === 'disk:4' && studio.partials > 0");
    assert_eq!(b.result_pixels(), cli_on(&big, &["min(w)", "-f", "disk:4"]));
    assert_eq!(b.js("return studio.errors;"), json!([]));
    eprintln!("change → image on screen (ms), camera 512², in headless Chromium:");
    for (name, ms) in &latencies {
        eprintln!("  {ms:8.1}  {name}");
    }
}
