//! What every request must pass before the studio looks at it. It is a server, even on loopback:
//! a web page the user has open elsewhere can send requests to it, and a DNS name can be rebound
//! to 127.0.0.1. So: the `Host` must name this server (by IP or `localhost`), a request made by
//! a page must come from the studio's own origin, and bodies are capped.

use super::api::Answer;
use std::io::Read;
use std::net::IpAddr;

/// The largest JSON body (a program is capped far lower by the limits).
const MAX_JSON: usize = 1 << 20;

pub struct Guard {
    bind: IpAddr,
    port: u16,
    /// The largest upload (an image file for `--input`).
    pub max_upload: usize,
}

impl Guard {
    pub fn new(bind: IpAddr, port: u16, max_upload: usize) -> Guard {
        Guard {
            bind,
            port,
            max_upload,
        }
    }

    /// The request's body if the request may be answered, else the refusal.
    pub fn admit(&self, request: &mut tiny_http::Request) -> Result<Vec<u8>, Answer> {
        let header = |name: &'static str| {
            (request.headers().iter())
                .find(|h| h.field.equiv(name))
                .map(|h| h.value.as_str().to_string())
        };
        let host = header("Host").unwrap_or_default();
        if !self.is_own_host(&host) {
            return Err(Answer::error(
                403,
                &format!(
                    "refused: Host `{host}` is not this studio (open it by the address it printed)"
                ),
            ));
        }
        let reading = matches!(
            request.method(),
            tiny_http::Method::Get | tiny_http::Method::Head
        );
        // Browsers send Origin with every POST; a page of another origin must not drive us.
        if let Some(origin) = header("Origin") {
            let own = origin
                .strip_prefix("http://")
                .is_some_and(|h| self.is_own_host(h));
            if !own && !reading {
                return Err(Answer::error(
                    403,
                    &format!("refused: a request from the page at {origin} (only the studio's own page may send requests)"),
                ));
            }
        }
        if header("Sec-Fetch-Site").as_deref() == Some("cross-site") {
            return Err(Answer::error(403, "refused: a cross-site request"));
        }
        // What a page of another origin cannot send without asking first (a preflight, which
        // this server never grants): a JSON body, or the upload's own header.
        let path = request
            .url()
            .split('?')
            .next()
            .unwrap_or_default()
            .to_string();
        let upload = matches!(path.as_str(), "/api/input" | "/api/image");
        if !reading {
            let json = (header("Content-Type")).is_some_and(|t| t.starts_with("application/json"));
            let named = header("X-Filename").is_some();
            if upload && !named && *request.method() == tiny_http::Method::Post {
                return Err(Answer::error(
                    400,
                    "an upload names its file in an X-Filename header",
                ));
            }
            if !upload && !json {
                return Err(Answer::error(
                    415,
                    "send the request as Content-Type: application/json",
                ));
            }
        }
        let cap = if upload { self.max_upload } else { MAX_JSON };
        if request.body_length().is_some_and(|n| n > cap) {
            return Err(too_large(cap));
        }
        let mut body = Vec::new();
        let read = (request.as_reader().take(cap as u64 + 1)).read_to_end(&mut body);
        if read.is_err() {
            return Err(Answer::error(400, "cannot read the request body"));
        }
        if body.len() > cap {
            return Err(too_large(cap));
        }
        Ok(body)
    }

    /// `HOST:PORT` names this server: its port, and `localhost` or an IP address this server
    /// listens on. A DNS name (other than localhost) never does, which is what defeats rebinding.
    fn is_own_host(&self, host: &str) -> bool {
        // Browsers leave out port 80.
        let (name, port) = match host.rsplit_once(':') {
            Some((name, port)) if !port.ends_with(']') => (name, port.parse().ok()),
            _ => (host, Some(80)),
        };
        if host.is_empty() || port != Some(self.port) {
            return false;
        }
        if name.eq_ignore_ascii_case("localhost") {
            return self.bind.is_loopback() || self.bind.is_unspecified();
        }
        let ip = name.trim_start_matches('[').trim_end_matches(']');
        match ip.parse::<IpAddr>() {
            Ok(_) if self.bind.is_unspecified() => true,
            Ok(ip) => ip == self.bind || (self.bind.is_loopback() && ip.is_loopback()),
            Err(_) => false,
        }
    }
}

fn too_large(cap: usize) -> Answer {
    Answer::error(413, &format!("the request body is larger than {cap} bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_that_name_this_server() {
        let g = Guard::new("127.0.0.1".parse().unwrap(), 8080, 0);
        for ok in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST:8080",
            "[::1]:8080",
        ] {
            assert!(g.is_own_host(ok), "{ok}");
        }
        for bad in [
            "127.0.0.1:8081",
            "127.0.0.1",
            "evil.example:8080",
            "localhost.evil.example:8080",
            "10.0.0.1:8080",
            "",
        ] {
            assert!(!g.is_own_host(bad), "{bad}");
        }
        let any = Guard::new("0.0.0.0".parse().unwrap(), 80, 0);
        assert!(any.is_own_host("192.168.1.20:80"));
        assert!(!any.is_own_host("rebound.example:80"));
        // Port 80 goes without saying.
        assert!(any.is_own_host("192.168.1.20") && any.is_own_host("localhost"));
        let v6 = Guard::new("::1".parse().unwrap(), 80, 0);
        assert!(
            v6.is_own_host("[::1]") && v6.is_own_host("[::1]:80") && !v6.is_own_host("[::1]:81")
        );
    }
}
