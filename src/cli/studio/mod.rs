//! `jitfilter studio`: design kernels live in the browser. The binary serves one page (HTML, JS
//! and CSS embedded, nothing fetched from elsewhere) and a small JSON API on loopback; the page
//! re-filters on every keystroke and slider move. This module owns the server: binding, the
//! request loop and what every request must pass ([`guard`]); [`api`] answers the requests.
//! See docs/studio.md.

mod api;
mod guard;

use super::args::StudioArgs;
use super::report::Failure;
use super::setup::image_or_camera;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

pub fn run(args: &StudioArgs) -> Result<(), Failure> {
    let limits = args.limits.limits();
    let (image, name) = image_or_camera(args.image.as_deref(), &limits)?;
    api::viewable(&image).map_err(|e| Failure::usage(format!("{name}: {e}"), None))?;
    let server = tiny_http::Server::http(SocketAddr::new(args.bind, args.port)).map_err(|e| {
        Failure::Runtime(format!("cannot listen on {}:{}: {e}", args.bind, args.port))
    })?;
    let port = match server.server_addr().to_ip() {
        Some(addr) => addr.port(),
        None => return Err(Failure::Runtime("the server has no TCP address".into())),
    };
    let host = match args.bind {
        IpAddr::V6(a) => format!("[{a}]"),
        IpAddr::V4(a) => a.to_string(),
    };
    let url = format!("http://{host}:{port}/");
    println!("studio: {url}");
    let _ = std::io::stdout().flush();
    if !args.bind.is_loopback() {
        eprintln!(
            "warning: the studio listens on {host}, not only on this machine: anyone who can reach it can run programs on your CPU"
        );
    }
    eprintln!(
        "studio: serving {name} ({}); Ctrl-C stops",
        image.describe()
    );
    if args.open {
        open_browser(&url);
    }
    let studio = Arc::new(api::Studio::new(
        image,
        name,
        limits,
        guard::Guard::new(args.bind, port, limits.max_image_bytes),
        std::time::Duration::from_secs(args.time_limit),
    ));
    for request in server.incoming_requests() {
        let studio = studio.clone();
        // One thread per request: a slow program holds up only its own request (and a newer
        // request from the page cancels it).
        std::thread::spawn(move || serve(&studio, request));
    }
    Ok(())
}

/// Answers one request. A panic while answering costs that request (a 500), not the server.
fn serve(studio: &api::Studio, mut request: tiny_http::Request) {
    let answer = panic::catch_unwind(AssertUnwindSafe(|| {
        match studio.guard.admit(&mut request) {
            Ok(body) => studio.answer(&request, body),
            Err(refusal) => refusal,
        }
    }))
    .unwrap_or_else(|_| {
        api::Answer::error(
            500,
            "internal error while answering this request (a bug: please report the program)",
        )
    });
    let _ = request.respond(answer.into_response());
}

/// Opens `url` in the system's browser, best effort: the URL is printed anyway.
fn open_browser(url: &str) {
    let command = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(windows) {
        "explorer"
    } else {
        "xdg-open"
    };
    if let Err(e) = std::process::Command::new(command)
        .arg(url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        eprintln!("studio: cannot open a browser ({command}: {e}); open {url} yourself");
    }
}
