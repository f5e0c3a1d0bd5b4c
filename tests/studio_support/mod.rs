//! Shared by tests/studio_*.rs: a running `jitfilter studio` and a plain HTTP/1.1 client (plain,
//! so that tests can send any Host, Origin or body they like).

#![allow(dead_code)] // each test file uses a different part

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A file under tests/data.
pub fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// Runs `jitfilter apply -q ARGS INPUT OUTPUT`, which must succeed.
pub fn apply(args: &[&str], input: &Path, output: &Path) {
    let status = Command::new(env!("CARGO_BIN_EXE_jitfilter"))
        .args(["apply", "-q"])
        .args(args)
        .arg(input)
        .arg(output)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "jitfilter apply {args:?} {}",
        input.display()
    );
}

/// A studio server, killed when dropped.
pub struct Studio {
    child: Child,
    pub port: u16,
    pub url: String,
    /// What it printed on stderr before the first request (the startup lines).
    pub stderr: BufReader<std::process::ChildStderr>,
}

impl Studio {
    /// `jitfilter studio ARGS --port 0`, once it has printed its URL.
    pub fn start(args: &[&str]) -> Studio {
        let mut child = Command::new(env!("CARGO_BIN_EXE_jitfilter"))
            .arg("studio")
            .args(args)
            .args(["--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let url = (first.trim().strip_prefix("studio: "))
            .unwrap_or_else(|| panic!("first line: {first:?}"))
            .to_string();
        let port = url
            .trim_end_matches('/')
            .rsplit(':')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        Studio {
            child,
            port,
            url,
            stderr,
        }
    }

    /// A request with the right Host; `headers` are added (and may override it).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        let host = format!("127.0.0.1:{}", self.port);
        let mut all = vec![("Host", host.as_str())];
        all.extend_from_slice(headers);
        request(self.port, method, path, &all, body)
    }

    pub fn get(&self, path: &str) -> Response {
        self.request("GET", path, &[], b"")
    }

    /// `POST path` with a JSON body.
    pub fn post(&self, path: &str, body: &serde_json::Value) -> Response {
        let text = body.to_string();
        self.request(
            "POST",
            path,
            &[("Content-Type", "application/json")],
            text.as_bytes(),
        )
    }

    /// Whether the process still runs.
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Studio {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        (self.headers.iter())
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One HTTP/1.1 request on a new connection to 127.0.0.1:`port`, headers exactly as given.
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connects");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    // The server may answer (413) before reading a large body, and close.
    let _ = stream.write_all(body);
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(120)))
        .unwrap();
    // Read until the answer is complete: not every server closes after `Connection: close`.
    let mut raw = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        if let Some(len) = complete(&raw) {
            raw.truncate(len);
            break;
        }
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) => panic!("reading the answer to {method} {path}: {e}"),
        }
    }
    parse(&raw)
}

/// The length of the whole answer if `raw` holds all of it (by Content-Length, or the last
/// chunk); `None` while more is to come (or the answer ends when the connection closes).
fn complete(raw: &[u8]) -> Option<usize> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
    let length = (head.lines())
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    if let Some(n) = length {
        return (raw.len() >= end + n).then_some(end + n);
    }
    if head.contains("transfer-encoding: chunked") && raw[end..].ends_with(b"0\r\n\r\n") {
        return Some(raw.len());
    }
    None
}

fn parse(raw: &[u8]) -> Response {
    let end = (raw.windows(4).position(|w| w == b"\r\n\r\n"))
        .unwrap_or_else(|| panic!("no end of headers in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = (headers.iter())
        .any(|(n, v)| n.eq_ignore_ascii_case("Transfer-Encoding") && v.contains("chunked"));
    if chunked {
        body = unchunk(&body);
    }
    Response {
        status,
        headers,
        body,
    }
}

fn unchunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size line");
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        data = &data[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}
