//! Helpers shared by the `server_*` and `cli_*` integration tests: a raw
//! HTTP/1.1 client over `std::net::TcpStream` and test metrics sources.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use telemeter::server::MetricsSource;

/// A parsed HTTP response.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("utf-8 body")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

/// Parses a complete response (the server closed the connection after it).
pub fn parse_response(raw: &[u8], head_only: bool) -> Resp {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of head in {:?}", String::from_utf8_lossy(raw)));
    let head = std::str::from_utf8(&raw[..end]).expect("ASCII head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let mut parts = status_line.splitn(3, ' ');
    assert_eq!(parts.next(), Some("HTTP/1.1"), "{status_line}");
    let status: u16 = parts.next().unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (k, v) = l.split_once(':').expect("header line");
            (k.trim().to_string(), v.trim().to_string())
        })
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let resp = Resp {
        status,
        headers,
        body: Vec::new(),
    };
    if resp
        .header("transfer-encoding")
        .is_some_and(|te| te.eq_ignore_ascii_case("chunked"))
    {
        body = dechunk(&body);
    } else if let Some(len) = resp.header("content-length") {
        let len: usize = len.parse().unwrap();
        if !head_only {
            assert_eq!(body.len(), len, "body length matches Content-Length");
        }
    }
    if head_only {
        assert!(body.is_empty(), "HEAD response carries no body");
        body.clear();
    }
    Resp { body, ..resp }
}

/// Decodes a complete chunked body.
fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let eol = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size line");
        let line = std::str::from_utf8(&rest[..eol]).unwrap();
        let size = usize::from_str_radix(line.split(';').next().unwrap().trim(), 16).unwrap();
        rest = &rest[eol + 2..];
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

/// Sends `raw` and reads until the server closes the connection.
pub fn send_raw(addr: SocketAddr, raw: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(raw).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("read response");
    out
}

/// One request with `Connection: close`.
pub fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Resp {
    let mut raw = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        raw.push_str(&format!("{k}: {v}\r\n"));
    }
    raw.push_str("\r\n");
    parse_response(&send_raw(addr, raw.as_bytes()), method == "HEAD")
}

/// One `POST` of an HTML form (`application/x-www-form-urlencoded`) with
/// `Connection: close`.
pub fn post_form(addr: SocketAddr, path: &str, body: &str) -> Resp {
    let raw = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    parse_response(&send_raw(addr, raw.as_bytes()), false)
}

/// A `GET path` request head of 64 KiB (200-byte filler headers), four
/// times the default header limit.
pub fn oversized_head(path: &str) -> Vec<u8> {
    let mut raw = format!("GET {path} HTTP/1.1\r\nHost: x\r\n").into_bytes();
    let mut i = 0;
    while raw.len() < 64 * 1024 {
        raw.extend_from_slice(format!("X-Filler-{i}: {}\r\n", "a".repeat(200)).as_bytes());
        i += 1;
    }
    raw.extend_from_slice(b"\r\n");
    raw
}

pub fn get(addr: SocketAddr, path: &str) -> Resp {
    request(addr, "GET", path, &[])
}

/// Like [`get`], but `None` when the connection is refused or reset.
pub fn try_get(addr: SocketAddr, path: &str) -> Option<Resp> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let raw = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(raw.as_bytes()).ok()?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).ok()?;
    if out.is_empty() {
        return None;
    }
    Some(parse_response(&out, false))
}

/// Gunzips a body.
pub fn gunzip(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

/// A source with a fixed body that counts its encodes, can be slow, and
/// records which thread encoded.
pub struct TestSource {
    pub body: Vec<u8>,
    pub delay: Duration,
    pub encodes: AtomicUsize,
    pub threads: Mutex<Vec<String>>,
}

impl TestSource {
    pub fn new(body: &str) -> Self {
        TestSource {
            body: body.as_bytes().to_vec(),
            delay: Duration::ZERO,
            encodes: AtomicUsize::new(0),
            threads: Mutex::new(Vec::new()),
        }
    }

    pub fn slow(body: &str, delay: Duration) -> Self {
        TestSource {
            delay,
            ..Self::new(body)
        }
    }

    pub fn encodes(&self) -> usize {
        self.encodes.load(Ordering::SeqCst)
    }
}

pub const TEST_BODY: &str = "# HELP test_requests_total Requests.\n# TYPE test_requests_total counter\ntest_requests_total{method=\"GET\"} 42\n";

impl MetricsSource for TestSource {
    fn encode(&self, buf: &mut Vec<u8>) {
        self.encodes.fetch_add(1, Ordering::SeqCst);
        self.threads.lock().unwrap().push(
            std::thread::current()
                .name()
                .unwrap_or("<unnamed>")
                .to_string(),
        );
        if !self.delay.is_zero() {
            std::thread::sleep(self.delay);
        }
        buf.extend_from_slice(&self.body);
    }

    fn summary_json(&self) -> serde_json::Value {
        serde_json::json!({ "families": [{ "name": "test_requests_total", "type": "counter", "series": 1, "overflow": 0 }], "series": 1 })
    }
}
