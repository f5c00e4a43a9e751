//! `telemeter status`'s HTTP GET: hyper's HTTP/1.1 client (the one `load`
//! uses too) on a current-thread tokio runtime, with one timeout for the
//! whole exchange, a cap on the body size, and errors that say which step
//! failed.

use std::cell::Cell;
use std::fmt;
use std::io;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper::client::conn::http1;
use hyper::{header, Request};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// Largest response body accepted.
pub const MAX_RESPONSE: usize = 16 * 1024 * 1024;

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
    /// The runtime that drives the exchange could not be started.
    Runtime(io::Error),
    /// The host name did not resolve.
    Resolve(io::Error),
    /// No connection could be made, or it broke before a response.
    Connect(io::Error),
    /// The peer answered, but not with HTTP/1.x, or with more than
    /// [`MAX_RESPONSE`] bytes of body.
    Garbage(String),
    /// The exchange did not finish within its timeout; `step` says where
    /// it was.
    Timeout {
        /// What was under way: resolving, connecting, reading the head or
        /// the body.
        step: &'static str,
        /// The timeout, for the whole exchange.
        after: Duration,
    },
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Runtime(e) => write!(f, "cannot start the I/O runtime: {e}"),
            HttpError::Resolve(e) => write!(f, "cannot resolve the host: {e}"),
            HttpError::Connect(e) => write!(f, "{e}"),
            HttpError::Garbage(why) => write!(f, "the answer is not HTTP: {why}"),
            HttpError::Timeout { step, after } => {
                write!(f, "timed out after {after:?} while {step}")
            }
        }
    }
}

/// A response: status, reason, decoded body.
#[derive(Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The reason phrase (as sent, else the code's canonical one).
    pub reason: String,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

const STEP_RESOLVE: &str = "resolving the host";
const STEP_CONNECT: &str = "connecting";
const STEP_HEAD: &str = "reading the response head";
const STEP_BODY: &str = "reading the response body";

/// `GET path` on `endpoint`, `timeout` bounding the whole exchange
/// (resolve, connect, send, and the whole response, not each read: a server
/// that sends a byte a second cannot hold it longer).
pub fn get(endpoint: &Endpoint, path: &str, timeout: Duration) -> Result<Response, HttpError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(HttpError::Runtime)?;
    rt.block_on(async {
        let step = Cell::new(STEP_RESOLVE);
        let work = async {
            let addrs = tokio::net::lookup_host((endpoint.host.as_str(), endpoint.port))
                .await
                .map_err(HttpError::Resolve)?;
            step.set(STEP_CONNECT);
            let mut last_err = HttpError::Connect(io::Error::new(
                io::ErrorKind::NotFound,
                "the host has no address",
            ));
            for addr in addrs {
                match TcpStream::connect(addr).await {
                    Ok(stream) => {
                        let req = request(endpoint, path)?;
                        return exchange(stream, req, &step).await;
                    }
                    Err(e) => last_err = HttpError::Connect(e),
                }
            }
            Err(last_err)
        };
        match tokio::time::timeout(timeout, work).await {
            Ok(result) => result,
            Err(_) => Err(HttpError::Timeout {
                step: step.get(),
                after: timeout,
            }),
        }
    })
}

/// The GET request for `path` on `endpoint`.
pub fn request(endpoint: &Endpoint, path: &str) -> Result<Request<Empty<Bytes>>, HttpError> {
    Request::get(endpoint.path(path))
        .header(header::HOST, endpoint.authority())
        .header(header::ACCEPT, "application/json")
        .header(
            header::USER_AGENT,
            concat!("telemeter/", env!("CARGO_PKG_VERSION")),
        )
        .header(header::CONNECTION, "close")
        .body(Empty::new())
        .map_err(|e| garbage(format!("cannot build the request: {e}")))
}

/// Sends `req` over `io` with hyper's HTTP/1.1 client and reads the whole
/// response, at most [`MAX_RESPONSE`] bytes of body; `step` follows where
/// the exchange is, for the caller's timeout message. The caller bounds
/// the time it takes.
pub async fn exchange<IO>(
    io: IO,
    req: Request<Empty<Bytes>>,
    step: &Cell<&'static str>,
) -> Result<Response, HttpError>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    step.set(STEP_HEAD);
    let (mut sender, conn) = http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| from_hyper(&e))?;
    // The connection is driven beside the request; its own error reaches
    // the request, so its result is not needed here.
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let result = async {
        let resp = sender.send_request(req).await.map_err(|e| from_hyper(&e))?;
        step.set(STEP_BODY);
        let status = resp.status();
        let reason = resp
            .extensions()
            .get::<hyper::ext::ReasonPhrase>()
            .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned())
            .or_else(|| status.canonical_reason().map(str::to_string))
            .unwrap_or_default();
        let mut body = resp.into_body();
        let mut bytes = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| from_hyper(&e))?;
            let Ok(data) = frame.into_data() else {
                continue; // trailers
            };
            if bytes.len() + data.len() > MAX_RESPONSE {
                return Err(garbage(format!(
                    "response body larger than {} MiB",
                    MAX_RESPONSE >> 20
                )));
            }
            bytes.extend_from_slice(&data);
        }
        Ok(Response {
            status: status.as_u16(),
            reason,
            body: bytes,
        })
    }
    .await;
    driver.abort();
    result
}

fn garbage(why: impl Into<String>) -> HttpError {
    HttpError::Garbage(why.into())
}

/// Names what hyper saw go wrong: a peer that closed early or spoke
/// something other than HTTP/1.x is garbage, an I/O failure a broken
/// connection.
fn from_hyper(e: &hyper::Error) -> HttpError {
    let msg = describe_hyper(e);
    // The first I/O error in the chain, copied (`io::Error` is not Clone).
    let io_err = causes(e)
        .find_map(|s| s.downcast_ref::<io::Error>())
        .map(|ioe| io::Error::new(ioe.kind(), ioe.to_string()));
    if e.is_canceled() {
        return garbage(format!(
            "the peer sent bytes before any request ({msg}): not an HTTP server?"
        ));
    }
    if e.is_incomplete_message() {
        return garbage("the connection closed without a response, or in the middle of one");
    }
    // A broken connection is the network's doing; any other I/O error
    // hyper reports (a short body, a bad chunk line) is the peer's.
    use io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset, NotConnected};
    match io_err {
        Some(ioe)
            if !e.is_parse()
                && matches!(
                    ioe.kind(),
                    BrokenPipe | ConnectionAborted | ConnectionReset | NotConnected
                ) =>
        {
            HttpError::Connect(ioe)
        }
        Some(ioe) if ioe.kind() == io::ErrorKind::UnexpectedEof => {
            garbage(format!("the response was cut short ({msg})"))
        }
        _ => garbage(msg),
    }
}

/// The error's causes, nearest first.
fn causes(e: &hyper::Error) -> impl Iterator<Item = &(dyn std::error::Error + 'static)> {
    std::iter::successors(std::error::Error::source(e), |s| s.source())
}

/// `e` with its chain of causes, `: `-separated (hyper's own message is
/// often only "error reading a body from connection").
pub fn describe_hyper(e: &hyper::Error) -> String {
    let mut msg = e.to_string();
    for s in causes(e) {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
    }
    msg
}

/// The first bytes of `raw`, for error messages, control characters
/// escaped.
pub fn snippet(raw: &[u8]) -> String {
    let s = printable(&String::from_utf8_lossy(&raw[..raw.len().min(80)]));
    if raw.len() > 80 {
        format!("{s}...")
    } else {
        s
    }
}

/// `s` with its control characters (ESC, BEL, CR, NUL, ...) escaped
/// (`\u{1b}`, `\r`, ...), so that an endpoint's text cannot drive the
/// terminal or break a table.
pub fn printable(s: &str) -> String {
    escape_controls(s, |_| false)
}

/// As [`printable`], but keeps newlines and tabs: text of several lines
/// (a crash bundle) that must not drive the terminal.
pub fn printable_lines(s: &str) -> String {
    escape_controls(s, |c| c == '\n' || c == '\t')
}

fn escape_controls(s: &str, keep: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() && !keep(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs [`exchange`] against a peer that answers `raw` and closes.
    fn answer(raw: &[u8]) -> Result<Response, HttpError> {
        crate::fuzzing::status_exchange(raw)
    }

    #[test]
    fn a_chunk_size_past_the_response_is_garbage_not_a_panic() {
        for raw in [
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nabc\r\n0\r\n\r\n"
                .as_slice(),
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffe\r\nabc\r\n0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc\r\n0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1ffffffffffffffff\r\nabc\r\n",
        ] {
            match answer(raw) {
                Err(HttpError::Garbage(_)) => {}
                other => panic!("{:?}: {other:?}", snippet(raw)),
            }
        }
    }

    #[test]
    fn a_body_past_the_cap_is_refused() {
        let mut raw = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
            MAX_RESPONSE + 1
        )
        .into_bytes();
        raw.resize(raw.len() + MAX_RESPONSE + 1, b'x');
        match answer(&raw) {
            Err(HttpError::Garbage(why)) => assert!(why.contains("larger than 16 MiB"), "{why}"),
            other => panic!("{other:?}"),
        }
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
        let r = answer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, b"{}".as_slice()));
        let r = answer(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n1;x=y\r\nd\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.body, b"abcd");
        let r = answer(b"HTTP/1.0 404 Not Found\r\n\r\nnope").unwrap();
        assert_eq!(
            (r.status, r.reason.as_str(), r.body.as_slice()),
            (404, "Not Found", b"nope".as_slice())
        );
        let r = answer(b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n").unwrap();
        assert_eq!((r.status, r.reason.as_str()), (500, "Oops"));
        for bad in [
            b"".as_slice(),
            b"SSH-2.0-OpenSSH_9.6\r\n",
            b"hello\r\n\r\n",
            b"HTTP/1.1 abc OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nbad header\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        ] {
            let got = answer(bad);
            assert!(
                matches!(got, Err(HttpError::Garbage(_))),
                "{:?}: {got:?}",
                snippet(bad)
            );
        }
    }
}
