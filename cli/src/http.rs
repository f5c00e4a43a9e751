//! A small blocking HTTP/1.1 GET client over `std::net::TcpStream`, enough to
//! read an admin console page: `Content-Length`, chunked and read-to-close
//! bodies, a timeout on every step, a cap on the body size.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Largest response accepted, head and body together.
const MAX_RESPONSE: usize = 16 * 1024 * 1024;

/// Where an HTTP endpoint lives: from `http://host:port[/base]`.
#[derive(Debug, Clone)]
pub struct Endpoint {
    host: String,
    port: u16,
    base_path: String,
}

impl Endpoint {
    /// Parses `http://host[:port][/base/path]` (port 80 when omitted).
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        let rest = match url.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some((scheme, _)) => {
                return Err(format!(
                    "scheme {scheme:?} is not supported; the admin console speaks plain http \
                     (reach a remote one through a tunnel)"
                ))
            }
            None => url,
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.is_empty() {
            return Err("missing host".to_string());
        }
        if authority.contains('@') {
            return Err("credentials in the URL are not supported".to_string());
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let Some((host, after)) = v6.split_once(']') else {
                return Err("unclosed '[' in IPv6 host".to_string());
            };
            match after.strip_prefix(':') {
                Some(p) => (host.to_string(), parse_port(p)?),
                None if after.is_empty() => (host.to_string(), 80),
                None => return Err(format!("unexpected {after:?} after the IPv6 host")),
            }
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), parse_port(p)?),
                None => (authority.to_string(), 80),
            }
        };
        if host.is_empty() {
            return Err("missing host".to_string());
        }
        let base_path = path.split(['?', '#']).next().unwrap_or("");
        Ok(Endpoint {
            host,
            port,
            base_path: base_path.trim_end_matches('/').to_string(),
        })
    }

    /// The full URL of `path` under this endpoint, for messages.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.authority(), self.path(path))
    }

    fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    fn path(&self, path: &str) -> String {
        format!("{}{}", self.base_path, path)
    }
}

fn parse_port(p: &str) -> Result<u16, String> {
    p.parse()
        .map_err(|_| format!("{p:?} is not a port number (1-65535)"))
}

/// Why a GET produced no response.
#[derive(Debug)]
pub enum HttpError {
    /// The host name did not resolve.
    Resolve(io::Error),
    /// No connection could be made, or it broke before a response.
    Connect(io::Error),
    /// The peer answered, but not with HTTP/1.x.
    Garbage(String),
    /// The exchange did not finish within its timeout; `step` says where
    /// it was.
    Timeout {
        /// What was under way: connecting, sending, reading.
        step: &'static str,
        /// The timeout, for the whole exchange.
        after: Duration,
    },
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Resolve(e) => write!(f, "cannot resolve the host: {e}"),
            HttpError::Connect(e) => write!(f, "{e}"),
            HttpError::Garbage(why) => write!(f, "the answer is not HTTP: {why}"),
            HttpError::Timeout { step, after } => {
                write!(f, "timed out after {after:?} while {step}")
            }
        }
    }
}

/// A response: status, reason, headers, decoded body.
#[derive(Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The reason phrase.
    pub reason: String,
    /// Headers in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl Response {
    /// The first header named `name`, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// `GET path` on `endpoint`, `timeout` bounding the whole exchange
/// (connect, send, and the whole response, not each read: a server that
/// sends a byte a second cannot hold it longer).
pub fn get(endpoint: &Endpoint, path: &str, timeout: Duration) -> Result<Response, HttpError> {
    let deadline = Instant::now() + timeout;
    let left = |step: &'static str| {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or(HttpError::Timeout {
                step,
                after: timeout,
            })
    };
    let timed_out = |step: &'static str, e: io::Error| match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => HttpError::Timeout {
            step,
            after: timeout,
        },
        _ => HttpError::Connect(e),
    };
    let addrs: Vec<SocketAddr> = (endpoint.host.as_str(), endpoint.port)
        .to_socket_addrs()
        .map_err(HttpError::Resolve)?
        .collect();
    let mut last_err = HttpError::Connect(io::Error::new(
        io::ErrorKind::NotFound,
        "the host has no address",
    ));
    let mut stream = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, left("connecting")?) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last_err = timed_out("connecting", e),
        }
    }
    let mut stream = stream.ok_or(last_err)?;
    stream
        .set_write_timeout(Some(left("sending the request")?))
        .map_err(HttpError::Connect)?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\nUser-Agent: telemeter/{}\r\nConnection: close\r\n\r\n",
        endpoint.path(path),
        endpoint.authority(),
        env!("CARGO_PKG_VERSION"),
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| timed_out("sending the request", e))?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        stream
            .set_read_timeout(Some(left("reading the response")?))
            .map_err(HttpError::Connect)?;
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if raw.len() + n > MAX_RESPONSE {
                    return Err(HttpError::Garbage(format!(
                        "response larger than {MAX_RESPONSE} bytes"
                    )));
                }
                raw.extend_from_slice(&buf[..n]);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(timed_out("reading the response", e)),
        }
    }
    parse_response(&raw)
}

fn garbage(why: impl Into<String>) -> HttpError {
    HttpError::Garbage(why.into())
}

/// Parses a complete HTTP/1.x response read until the peer closed.
pub fn parse_response(raw: &[u8]) -> Result<Response, HttpError> {
    if raw.is_empty() {
        return Err(garbage("the connection closed without a response"));
    }
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Err(garbage(format!(
            "no complete response head in {} bytes starting {:?}",
            raw.len(),
            snippet(raw)
        )));
    };
    let head = std::str::from_utf8(&raw[..end])
        .map_err(|_| garbage(format!("non-UTF-8 response head {:?}", snippet(raw))))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        return Err(garbage(format!("status line {:?}", snippet(raw))));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .filter(|s| (100..1000).contains(s))
        .ok_or_else(|| garbage(format!("bad status line {status_line:?}")))?;
    let reason = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    for line in lines {
        let Some((k, v)) = line.split_once(':') else {
            return Err(garbage(format!("bad header line {line:?}")));
        };
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let mut resp = Response {
        status,
        reason,
        headers,
        body: Vec::new(),
    };
    let rest = &raw[end + 4..];
    let chunked = resp
        .header("transfer-encoding")
        .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
    resp.body = if chunked {
        dechunk(rest)?
    } else if let Some(len) = resp.header("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| garbage(format!("bad Content-Length {len:?}")))?;
        if rest.len() < len {
            return Err(garbage(format!(
                "body cut short: {} of {len} bytes",
                rest.len()
            )));
        }
        rest[..len].to_vec()
    } else {
        rest.to_vec()
    };
    Ok(resp)
}

fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, HttpError> {
    let mut body = Vec::new();
    loop {
        let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else {
            return Err(garbage("chunked body cut short"));
        };
        let size_line = std::str::from_utf8(&rest[..eol]).unwrap_or("");
        let size_hex = size_line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| garbage(format!("bad chunk size {size_line:?}")))?;
        rest = &rest[eol + 2..];
        if size == 0 {
            return Ok(body);
        }
        if size.checked_add(2).is_none_or(|n| rest.len() < n) {
            return Err(garbage(format!(
                "chunk size {size_line:?} runs past the response ({} bytes left)",
                rest.len()
            )));
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

/// The first bytes of `raw`, for error messages.
pub fn snippet(raw: &[u8]) -> String {
    let s = String::from_utf8_lossy(&raw[..raw.len().min(80)]).into_owned();
    if raw.len() > 80 {
        format!("{s}...")
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_size_past_the_response_is_garbage_not_a_panic() {
        for size in ["ffffffffffffffff", "fffffffffffffffe", "10"] {
            let raw = format!(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{size}\r\nabc\r\n0\r\n\r\n"
            );
            match parse_response(raw.as_bytes()) {
                Err(HttpError::Garbage(why)) => assert!(why.contains("runs past"), "{why}"),
                other => panic!("{size}: {other:?}"),
            }
        }
        // A chunk size too large for a number at all.
        let raw =
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1ffffffffffffffff\r\nabc\r\n";
        assert!(matches!(
            parse_response(raw.as_bytes()),
            Err(HttpError::Garbage(_))
        ));
    }

    #[test]
    fn endpoints() {
        let e = Endpoint::parse("http://127.0.0.1:9091").unwrap();
        assert_eq!(e.url("/admin/agents"), "http://127.0.0.1:9091/admin/agents");
        let e = Endpoint::parse("localhost:9091/").unwrap();
        assert_eq!(e.url("/admin/agents"), "http://localhost:9091/admin/agents");
        let e = Endpoint::parse("http://[::1]:9091/proxy/").unwrap();
        assert_eq!(
            e.url("/admin/agents"),
            "http://[::1]:9091/proxy/admin/agents"
        );
        let e = Endpoint::parse("http://agent").unwrap();
        assert_eq!(e.url("/x"), "http://agent:80/x");
        assert!(Endpoint::parse("https://x:1").is_err());
        assert!(Endpoint::parse("http://:1").is_err());
        assert!(Endpoint::parse("http://x:port").is_err());
        assert!(Endpoint::parse("http://[::1").is_err());
        assert!(Endpoint::parse("").is_err());
    }

    #[test]
    fn responses() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, b"{}".as_slice()));
        let r = parse_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n1;x=y\r\nd\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.body, b"abcd");
        let r = parse_response(b"HTTP/1.0 404 Not Found\r\n\r\nnope").unwrap();
        assert_eq!(
            (r.status, r.reason.as_str(), r.body.as_slice()),
            (404, "Not Found", b"nope".as_slice())
        );
        for bad in [
            b"".as_slice(),
            b"SSH-2.0-OpenSSH_9.6\r\n",
            b"hello\r\n\r\n",
            b"HTTP/1.1 abc OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nbad header\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        ] {
            assert!(parse_response(bad).is_err(), "{bad:?}");
        }
    }
}
