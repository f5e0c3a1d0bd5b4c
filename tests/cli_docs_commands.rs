//! Every command the documentation shows runs as written: the lines of README.md's and
//! docs/*.md's fenced `sh`/`text` blocks that start with `jitfilter` or `cargo run --release --`
//! (in a block of a shell session, only the `$ ` lines), and the examples of `jitfilter --help`
//! and `jitfilter apply --help`. Each runs under `sh` in a scratch directory holding the files the
//! docs name (tests/data, examples/, and short names like `camera.png`, `photos/*.png`), with
//! the binary under test first on PATH, and must exit 0, or with the code a trailing
//! `# exit N` comment documents. `cargo run --example` lines are not run here (`cargo test`
//! builds the examples).

mod cli_support;

use cli_support::*;
use std::path::Path;
use std::process::{Command, Stdio};
use tempfile::TempDir;

/// A documented command: where it is written, and the shell line.
#[derive(Debug)]
struct Documented {
    place: String,
    line: String,
}

/// The commands of one markdown file.
fn from_markdown(path: &Path) -> Vec<Documented> {
    let text = std::fs::read_to_string(path).unwrap();
    let name = path.strip_prefix(root()).unwrap().display().to_string();
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(lang) = lines[i].trim_start().strip_prefix("```") else {
            i += 1;
            continue;
        };
        let end = (i + 1..lines.len())
            .find(|&j| lines[j].trim_start().starts_with("```"))
            .unwrap_or(lines.len());
        if matches!(lang.trim(), "sh" | "text") {
            let block = &lines[i + 1..end];
            let session = block.iter().any(|l| l.starts_with("$ "));
            let mut j = 0;
            while j < block.len() {
                let first = j;
                let mut line = block[j].trim().to_string();
                if session {
                    match line.strip_prefix("$ ") {
                        Some(rest) => line = rest.to_string(),
                        None => {
                            j += 1;
                            continue;
                        }
                    }
                }
                while line.ends_with('\\') && j + 1 < block.len() {
                    line.pop();
                    j += 1;
                    line.push(' ');
                    line.push_str(block[j].trim());
                }
                j += 1;
                if line.starts_with("jitfilter ") || line.starts_with("cargo run") {
                    found.push(Documented {
                        place: format!("{name}:{}", i + 2 + first),
                        line,
                    });
                }
            }
        }
        i = end + 1;
    }
    found
}

/// The example lines of a `--help` text.
fn from_help(args: &[&str]) -> Vec<Documented> {
    let out = jitfilter().args(args).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    (text.lines())
        .skip_while(|l| !l.starts_with("Examples:"))
        .map(str::trim)
        .filter(|l| l.starts_with("jitfilter "))
        .map(|l| Documented {
            place: format!("jitfilter {}", args.join(" ")),
            line: l.to_string(),
        })
        .collect()
}

/// The scratch directory: the files the docs name.
fn workspace() -> TempDir {
    let tmp = TempDir::new().unwrap();
    let at = |p: &str| tmp.path().join(p);
    let copy_dir = |from: &Path, to: &Path| {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let p = e.unwrap().path();
            if p.is_file() {
                std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
            }
        }
    };
    copy_dir(&root().join("tests/data"), &at("tests/data"));
    copy_dir(&root().join("examples/kf"), &at("examples/kf"));
    copy_dir(&root().join("tests/data"), tmp.path());
    for (name, from) in [
        ("noisy.png", "camera.png"),
        ("photo.png", "astronaut.png"),
        ("in.png", "camera.png"),
        ("photos/a.png", "camera.png"),
        ("photos/b.png", "coins.png"),
        ("scans/a.png", "page.png"),
        ("scans/b.png", "coins.png"),
        ("sauvola.kf", "../../examples/kf/sauvola.kf"),
    ] {
        std::fs::create_dir_all(at(name).parent().unwrap()).unwrap();
        std::fs::copy(data(from), at(name)).unwrap();
    }
    // A grey mask the size of astronaut.png (photo.png), and small TIFFs for the limit flags
    // (a disk of radius 700 over the whole camera would only test patience).
    let astro = image::open(data("astronaut.png")).unwrap();
    image::imageops::grayscale(&astro)
        .save(at("mask.png"))
        .unwrap();
    let camera = image::open(data("camera.png")).unwrap().to_luma8();
    let crop = image::imageops::crop_imm(&camera, 200, 200, 48, 40).to_image();
    for name in ["big.tiff", "scan.tiff"] {
        crop.save(at(name)).unwrap();
    }
    camera.save(at("photos/c.jpg")).unwrap();
    // A machine-written program longer than the default --max-statements allows.
    let mut generated = String::from("let a0 = c;\n");
    for i in 1..1500 {
        generated.push_str(&format!("let a{i} = a{} * 0.5 + {};\n", i - 1, i % 7));
    }
    generated.push_str("a1499\n");
    std::fs::write(at("generated.kf"), generated).unwrap();
    tmp
}

/// Runs a `jitfilter studio` line until it prints `studio: http://…`, then stops it.
fn starts_serving(line: &str, dir: &Path, path: &std::ffi::OsStr) -> Result<(), String> {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("exec {line}"))
        .current_dir(dir)
        .env("PATH", path)
        .env("NO_COLOR", "1")
        // No browser to open here: `--open` finds none and says so.
        .env("BROWSER", "true")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    let read = BufReader::new(child.stdout.take().unwrap()).read_line(&mut first);
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_no_panic(&stderr);
    match read {
        Ok(_) if first.starts_with("studio: http://") => Ok(()),
        _ => Err(format!("printed {first:?} and then:\n{stderr}")),
    }
}

/// The exit code a `# exit N` comment documents, else 0.
fn expected_code(line: &str) -> i32 {
    line.split("# exit ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[test]
fn every_documented_command_runs_as_written() {
    let mut commands = from_markdown(&root().join("README.md"));
    let mut docs: Vec<_> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    for doc in docs {
        commands.extend(from_markdown(&doc));
    }
    commands.extend(from_help(&["--help"]));
    commands.extend(from_help(&["apply", "--help"]));
    let (examples, commands): (Vec<_>, Vec<_>) = commands
        .into_iter()
        .partition(|c| c.line.contains("--example"));
    assert!(
        commands.len() >= 30,
        "only {} commands found",
        commands.len()
    );
    assert!(examples.len() >= 2, "{examples:?}");

    let bin = Path::new(env!("CARGO_BIN_EXE_jitfilter")).parent().unwrap();
    let path = std::env::join_paths(std::iter::once(bin.to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap();
    let ws = workspace();
    let mut failures = Vec::new();
    for c in &commands {
        let line = c.line.replacen("cargo run --release -- ", "jitfilter ", 1);
        if line.starts_with("jitfilter studio") {
            // A server: it runs as written when it prints its address.
            if let Err(e) = starts_serving(&line, ws.path(), &path) {
                failures.push(format!("{}: `{line}`: {e}", c.place));
            }
            continue;
        }
        let out = Command::new("sh")
            .arg("-c")
            .arg(&line)
            .current_dir(ws.path())
            .env("PATH", &path)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let want = expected_code(&c.line);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_no_panic(&stderr);
        if out.status.code() != Some(want) {
            failures.push(format!(
                "{}: `{line}` exited {:?}, documented {want}:\n{stderr}",
                c.place,
                out.status.code()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
