//! The push paths' HTTP/1.1 client: blocking, over std's `TcpStream` (and
//! rustls' `StreamOwned` for https), one connection kept alive between
//! requests, the request and the answer going through buffers kept with
//! it: once they have grown, a request over plain http allocates nothing
//! (`tests/push_alloc.rs`; rustls allocates per TLS record).
//!
//! It speaks what a push needs: one request at a time with a
//! `Content-Length` body, and any answer an HTTP/1.1 server may give
//! (`Content-Length`, chunked, or until close; 1xx answers skipped). A kept
//! connection the server closed while it was idle is found dead before any
//! byte of an answer, and the request goes once more on a new connection.
//! Every socket operation runs under the call's deadline; resolving the
//! host name does not (std's resolver takes no timeout).
//! (hyper's client, used before, allocates per request: its header maps,
//! its dispatch channel, a task per connection.)
#![forbid(unsafe_code)]

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use super::{PushError, MAX_ERROR_BODY};

/// `http[s]://host[:port][/prefix]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    host: String,
    port: u16,
    base_path: String,
    /// `https`: a TLS handshake after the connect (feature `tls`).
    pub(crate) tls: bool,
}

impl Endpoint {
    pub(crate) fn parse(url: &str) -> Result<Endpoint, String> {
        let (tls, rest) = match url.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => (false, rest),
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("https") => {
                if !cfg!(feature = "tls") {
                    return Err(
                        "https needs telemeter's `tls` feature (rustls); build with \
                         features = [\"tls\"], or put a TLS-terminating proxy in front"
                            .to_string(),
                    );
                }
                (true, rest)
            }
            Some((scheme, _)) => {
                return Err(format!(
                    "scheme {scheme:?} is not supported: give http:// or https://"
                ))
            }
            None => return Err("it has no scheme; write http://host:port".to_string()),
        };
        let default_port = if tls { 443 } else { 80 };
        let (authority, path) = match rest.find(['/', '?', '#']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err("credentials in the URL are not supported; use .basic_auth(..)".into());
        }
        let (host, port) = match authority.strip_prefix('[') {
            Some(v6) => match v6.split_once(']') {
                Some((h, "")) => (h.to_string(), default_port),
                Some((h, p)) => match p.strip_prefix(':') {
                    Some(p) => (h.to_string(), parse_port(p)?),
                    None => return Err(format!("unexpected {p:?} after the IPv6 host")),
                },
                None => return Err("unclosed '[' in the IPv6 host".into()),
            },
            None => match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), parse_port(p)?),
                None => (authority.to_string(), default_port),
            },
        };
        if host.is_empty() {
            return Err("it has no host".into());
        }
        if host
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err("its host holds whitespace or control characters".into());
        }
        if path.contains(['?', '#']) {
            return Err("a query or fragment has no place in a gateway URL".into());
        }
        if path
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err("its path holds whitespace or control characters".into());
        }
        Ok(Endpoint {
            host,
            port,
            base_path: path.trim_end_matches('/').to_string(),
            tls,
        })
    }

    /// The path prefix the gateway is served under (`""` at the root).
    pub(crate) fn base_path(&self) -> &str {
        &self.base_path
    }

    /// `host:port`, for connecting and for messages.
    fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The URL of `path` (already under the base path).
    pub(crate) fn url(&self, path: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}{path}", self.authority())
    }
}

fn parse_port(p: &str) -> Result<u16, String> {
    match p.parse::<u16>() {
        Ok(0) | Err(_) => Err(format!("port {p:?} is not a number from 1 to 65535")),
        Ok(port) => Ok(port),
    }
}

/// What to send.
pub(crate) struct Request<'a> {
    pub(crate) method: &'static str,
    pub(crate) path: &'a str,
    pub(crate) content_type: Option<&'static str>,
    pub(crate) authorization: Option<&'a str>,
    /// More headers (remote write's, a tenant header), checked by the
    /// builder ([`valid_header`]).
    pub(crate) headers: &'a [(String, String)],
    pub(crate) body: &'a [u8],
}

/// What came back: the status, the start of the body (at most
/// `MAX_ERROR_BODY` bytes), and `Retry-After` in seconds where the server
/// sent one (its HTTP-date form is not read: the caller's own backoff
/// applies then).
pub(crate) struct Answer<'a> {
    pub(crate) status: u16,
    pub(crate) body: &'a [u8],
    pub(crate) retry_after: Option<Duration>,
}

/// Whether `name: value` can be sent as a header: the name a token (RFC
/// 9110's `tchar`s), the value visible characters, spaces and tabs (and
/// bytes past ASCII, as hyper's `HeaderValue` takes them), no CR or LF.
pub(crate) fn valid_header(name: &str, value: &str) -> Result<(), &'static str> {
    let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(tchar) {
        return Err("not a header name");
    }
    if !value
        .bytes()
        .all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
    {
        return Err("its value holds characters a header cannot carry");
    }
    Ok(())
}

/// The largest answer head read (status line and headers).
const MAX_HEAD: usize = 16 * 1024;

/// A plain or TLS connection.
enum Stream {
    Plain(TcpStream),
    #[cfg(feature = "tls")]
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            #[cfg(feature = "tls")]
            Stream::Tls(s) => &s.sock,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// Why an exchange failed, before it becomes a [`PushError`].
enum Fail {
    /// The connection was found dead before any byte of an answer: on a
    /// kept connection, the server closed it while idle.
    Stale(io::Error),
    /// Reading or writing failed (a timeout among them).
    Io(io::Error),
    /// The answer is not HTTP/1.x as this client reads it.
    Bad(&'static str),
}

impl From<io::Error> for Fail {
    fn from(e: io::Error) -> Fail {
        Fail::Io(e)
    }
}

/// Whether `e` is a socket timeout.
fn timed_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// The time left before `deadline`, as a socket timeout (never zero,
/// which would mean none).
fn left(deadline: Instant) -> Result<Duration, Fail> {
    match deadline.checked_duration_since(Instant::now()) {
        Some(d) if !d.is_zero() => Ok(d),
        _ => Err(Fail::Io(io::ErrorKind::TimedOut.into())),
    }
}

/// One server's client: the endpoint, the kept connection, and the
/// buffers kept between requests.
pub(crate) struct Client {
    endpoint: Endpoint,
    /// `host:port`, for `Host`, connecting and messages.
    authority: String,
    #[cfg(feature = "tls")]
    tls: Option<super::tls::Tls>,
    stream: Option<Stream>,
    /// The request being sent: head and body.
    out: Vec<u8>,
    /// What was read of the answer, `MAX_HEAD` bytes.
    buf: Box<[u8]>,
    /// The start of the answer's body.
    kept: Vec<u8>,
}

impl Client {
    pub(crate) fn new(
        endpoint: Endpoint,
        #[cfg(feature = "tls")] tls: Option<super::tls::Tls>,
    ) -> Client {
        Client {
            authority: endpoint.authority(),
            endpoint,
            #[cfg(feature = "tls")]
            tls,
            stream: None,
            out: Vec::new(),
            buf: vec![0; MAX_HEAD].into_boxed_slice(),
            kept: Vec::with_capacity(MAX_ERROR_BODY),
        }
    }

    /// Sends `req` and reads the answer, all before `deadline`, on the
    /// kept connection (or a new one, or a new one after finding the kept
    /// one dead). `timeout` is what the caller allowed, for the error.
    pub(crate) fn exchange(
        &mut self,
        req: &Request<'_>,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<Answer<'_>, PushError> {
        self.write_request(req);
        let result = match self.stream.take() {
            // A kept connection the server closed while it was idle: the
            // request goes once more, on a new one.
            Some(kept) => match self.round_trip(kept, deadline) {
                Err(Fail::Stale(_)) => {
                    let fresh = self.connect(deadline, timeout, req.path)?;
                    self.round_trip(fresh, deadline)
                }
                other => other,
            },
            None => {
                let fresh = self.connect(deadline, timeout, req.path)?;
                self.round_trip(fresh, deadline)
            }
        };
        let url = || self.endpoint.url(req.path);
        match result {
            Ok((status, retry_after, stream)) => {
                self.stream = stream;
                Ok(Answer {
                    status,
                    body: &self.kept,
                    retry_after,
                })
            }
            Err(Fail::Stale(e) | Fail::Io(e)) if timed_out(&e) => Err(PushError::Timeout {
                url: url(),
                after: timeout,
            }),
            Err(Fail::Stale(e) | Fail::Io(e)) => Err(PushError::Protocol {
                url: url(),
                reason: format!("the exchange broke off: {e}"),
            }),
            Err(Fail::Bad(what)) => Err(PushError::Protocol {
                url: url(),
                reason: what.to_string(),
            }),
        }
    }

    /// The request's head and body into `out`.
    fn write_request(&mut self, req: &Request<'_>) {
        let out = &mut self.out;
        out.clear();
        let mut line = |parts: &[&[u8]]| {
            for p in parts {
                out.extend_from_slice(p);
            }
            out.extend_from_slice(b"\r\n");
        };
        line(&[
            req.method.as_bytes(),
            b" ",
            req.path.as_bytes(),
            b" HTTP/1.1",
        ]);
        line(&[b"Host: ", self.authority.as_bytes()]);
        line(&[
            b"User-Agent: ",
            concat!("telemeter/", env!("CARGO_PKG_VERSION")).as_bytes(),
        ]);
        if let Some(ct) = req.content_type {
            line(&[b"Content-Type: ", ct.as_bytes()]);
        }
        if let Some(auth) = req.authorization {
            line(&[b"Authorization: ", auth.as_bytes()]);
        }
        for (name, value) in req.headers {
            line(&[name.as_bytes(), b": ", value.as_bytes()]);
        }
        let mut digits = [0u8; 20];
        line(&[b"Content-Length: ", decimal(req.body.len(), &mut digits)]);
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(req.body);
    }

    /// A new connection (and TLS handshake), before `deadline`.
    fn connect(
        &self,
        deadline: Instant,
        timeout: Duration,
        path: &str,
    ) -> Result<Stream, PushError> {
        let connect_error = |source: io::Error| match timed_out(&source) {
            true => PushError::Timeout {
                url: self.endpoint.url(path),
                after: timeout,
            },
            false => PushError::Connect {
                addr: self.authority.clone(),
                source,
            },
        };
        let time_left = |_| connect_error(io::ErrorKind::TimedOut.into());
        let addrs = (self.endpoint.host.as_str(), self.endpoint.port)
            .to_socket_addrs()
            .map_err(connect_error)?;
        let mut last = io::Error::new(io::ErrorKind::NotFound, "the host has no address");
        let mut tcp = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, left(deadline).map_err(time_left)?) {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(e) => last = e,
            }
        }
        let tcp = tcp.ok_or_else(|| connect_error(last))?;
        let _ = tcp.set_nodelay(true);
        #[cfg(feature = "tls")]
        if self.endpoint.tls {
            let tls = self.tls.as_ref().ok_or_else(|| PushError::InvalidTls {
                reason: "an https URL with no TLS configuration".into(),
            })?;
            let mut tcp = tcp;
            let mut conn = tls.client(&self.endpoint.host)?;
            while conn.is_handshaking() {
                let wait = left(deadline).map_err(time_left)?;
                tcp.set_read_timeout(Some(wait)).map_err(connect_error)?;
                tcp.set_write_timeout(Some(wait)).map_err(connect_error)?;
                if let Err(source) = conn.complete_io(&mut tcp) {
                    return Err(match timed_out(&source) {
                        true => connect_error(source),
                        false => PushError::Tls {
                            host: self.endpoint.host.clone(),
                            source,
                        },
                    });
                }
            }
            return Ok(Stream::Tls(Box::new(rustls::StreamOwned::new(conn, tcp))));
        }
        Ok(Stream::Plain(tcp))
    }

    /// Writes `out` and reads the answer: its status, `Retry-After`, and
    /// the connection if it may be kept.
    fn round_trip(
        &mut self,
        mut stream: Stream,
        deadline: Instant,
    ) -> Result<(u16, Option<Duration>, Option<Stream>), Fail> {
        stream.tcp().set_write_timeout(Some(left(deadline)?))?;
        // A dead kept connection shows on the write (reset, broken pipe)
        // or as an answer that never starts (end of stream).
        let broke = |e: io::Error| match timed_out(&e) {
            true => Fail::Io(e),
            false => Fail::Stale(e),
        };
        stream.write_all(&self.out).map_err(broke)?;
        stream.flush().map_err(broke)?;
        self.kept.clear();
        let mut r = Reader {
            stream: &mut stream,
            buf: &mut self.buf,
            start: 0,
            end: 0,
            deadline,
            any: false,
        };
        loop {
            let head = r.head()?;
            if (100..200).contains(&head.status) {
                continue;
            }
            let keep = match head.framing {
                Framing::None => true,
                Framing::Length(n) => {
                    r.body(n, &mut self.kept)?;
                    true
                }
                Framing::Chunked => {
                    r.chunks(&mut self.kept)?;
                    true
                }
                Framing::Close => {
                    r.until_close(&mut self.kept)?;
                    false
                }
            };
            // Bytes past the answer (a server's extra) leave the
            // connection in an unknown state: not kept.
            let keep = keep && head.keep_alive && r.start == r.end;
            return Ok((head.status, head.retry_after, keep.then_some(stream)));
        }
    }
}

/// `n` in decimal, in `digits`.
fn decimal(mut n: usize, digits: &mut [u8; 20]) -> &[u8] {
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &digits[at..];
        }
    }
}

/// How an answer's body ends.
#[derive(Debug, PartialEq)]
enum Framing {
    /// No body (204, 304).
    None,
    Length(u64),
    Chunked,
    /// At the end of the stream.
    Close,
}

/// An answer's head, as read.
#[derive(Debug)]
struct Head {
    status: u16,
    framing: Framing,
    keep_alive: bool,
    retry_after: Option<Duration>,
}

/// Parses an answer head (`head` ends before its blank line).
fn parse_head(head: &[u8]) -> Result<Head, Fail> {
    let bad = Fail::Bad;
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let status_line = lines.next().unwrap_or_default();
    let (version, rest) = match status_line {
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', v, b' ', rest @ ..] => (*v, rest),
        _ => return Err(bad("the answer is not HTTP/1.x")),
    };
    let status = match rest {
        [a, b, c, ..] if [a, b, c].iter().all(|d| d.is_ascii_digit()) => {
            u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0')
        }
        _ => return Err(bad("the answer's status line has no status code")),
    };
    if rest.len() > 3 && rest[3] != b' ' {
        return Err(bad("the answer's status code is not 3 digits"));
    }
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut other_coding = false;
    let mut close = version == b'0';
    let mut retry_after = None;
    for line in lines {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return Err(bad("an answer header has no ':'"));
        };
        let name = &line[..colon];
        let value = line[colon + 1..].trim_ascii();
        if name.eq_ignore_ascii_case(b"content-length") {
            let n = std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or(bad("the answer's Content-Length is not a number"))?;
            if length.is_some_and(|l| l != n) {
                return Err(bad("the answer gives two Content-Lengths"));
            }
            length = Some(n);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            let last = value.rsplit(|&b| b == b',').next().unwrap_or_default();
            chunked = last.trim_ascii().eq_ignore_ascii_case(b"chunked");
            other_coding = !chunked;
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") && version == b'0' {
                    close = false;
                }
            }
        } else if name.eq_ignore_ascii_case(b"retry-after") {
            retry_after = std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
                .map(Duration::from_secs);
        }
    }
    let framing = if status == 204 || status == 304 || (100..200).contains(&status) {
        Framing::None
    } else if chunked {
        Framing::Chunked
    } else if other_coding {
        Framing::Close
    } else {
        length.map_or(Framing::Close, Framing::Length)
    };
    Ok(Head {
        status,
        keep_alive: !close,
        framing,
        retry_after,
    })
}

/// Reads an answer through the client's buffer: `buf[start..end]` is
/// read and not yet used.
struct Reader<'a> {
    stream: &'a mut Stream,
    buf: &'a mut [u8],
    start: usize,
    end: usize,
    deadline: Instant,
    /// Whether any byte of the answer came.
    any: bool,
}

impl Reader<'_> {
    /// Reads more after `end` (moving the unused bytes to the front
    /// first if the buffer is full); 0 at the end of the stream.
    fn fill(&mut self) -> Result<usize, Fail> {
        if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        self.stream
            .tcp()
            .set_read_timeout(Some(left(self.deadline)?))?;
        let n = loop {
            match self.stream.read(&mut self.buf[self.end..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // A TLS peer that closes without close_notify.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break 0,
                Err(e) if !self.any && !timed_out(&e) => return Err(Fail::Stale(e)),
                Err(e) => return Err(Fail::Io(e)),
            }
        };
        if n == 0 && !self.any {
            return Err(Fail::Stale(io::ErrorKind::UnexpectedEof.into()));
        }
        self.any |= n > 0;
        self.end += n;
        Ok(n)
    }

    /// The next head (the status line and headers up to the blank line).
    fn head(&mut self) -> Result<Head, Fail> {
        loop {
            let read = &self.buf[self.start..self.end];
            if let Some(i) = read.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = parse_head(&read[..i]);
                self.start += i + 4;
                return head;
            }
            if self.start == 0 && self.end == self.buf.len() {
                return Err(Fail::Bad("the answer's head is over 16 KiB"));
            }
            if self.fill()? == 0 {
                return Err(Fail::Bad("the connection closed inside the answer's head"));
            }
        }
    }

    /// Uses up to `n` read bytes (reading if there are none), keeping
    /// what fits of them in `kept`; how many it used.
    fn take(&mut self, n: u64, kept: &mut Vec<u8>) -> Result<usize, Fail> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            if self.fill()? == 0 {
                return Ok(0);
            }
        }
        let k = (self.end - self.start).min(usize::try_from(n).unwrap_or(usize::MAX));
        let room = MAX_ERROR_BODY.saturating_sub(kept.len());
        kept.extend_from_slice(&self.buf[self.start..self.start + k.min(room)]);
        self.start += k;
        Ok(k)
    }

    /// A body of exactly `n` bytes.
    fn body(&mut self, mut n: u64, kept: &mut Vec<u8>) -> Result<(), Fail> {
        while n > 0 {
            match self.take(n, kept)? {
                0 => return Err(Fail::Bad("the connection closed inside the answer's body")),
                k => n -= k as u64,
            }
        }
        Ok(())
    }

    /// A body up to the end of the stream.
    fn until_close(&mut self, kept: &mut Vec<u8>) -> Result<(), Fail> {
        while self.take(u64::MAX, kept)? > 0 {}
        Ok(())
    }

    /// One line (without its CRLF) of a chunked body, as a range of `buf`.
    fn line(&mut self) -> Result<std::ops::Range<usize>, Fail> {
        loop {
            if let Some(i) = self.buf[self.start..self.end]
                .iter()
                .position(|&b| b == b'\n')
            {
                let end = self.start + i;
                let line = self.start..end - usize::from(i > 0 && self.buf[end - 1] == b'\r');
                self.start = end + 1;
                return Ok(line);
            }
            if self.start == 0 && self.end == self.buf.len() {
                return Err(Fail::Bad("a chunked body's line is over 16 KiB"));
            }
            if self.fill()? == 0 {
                return Err(Fail::Bad("the connection closed inside a chunked body"));
            }
        }
    }

    /// A chunked body: chunks to the last (size 0), then its trailers.
    fn chunks(&mut self, kept: &mut Vec<u8>) -> Result<(), Fail> {
        loop {
            let line = self.line()?;
            let size = &self.buf[line];
            let size = size
                .split(|&b| b == b';')
                .next()
                .unwrap_or_default()
                .trim_ascii();
            let n = std::str::from_utf8(size)
                .ok()
                .and_then(|s| u64::from_str_radix(s, 16).ok())
                .ok_or(Fail::Bad("a chunk's size is not hexadecimal"))?;
            if n == 0 {
                while !self.line()?.is_empty() {}
                return Ok(());
            }
            self.body(n, kept)?;
            if !self.line()?.is_empty() {
                return Err(Fail::Bad("a chunk does not end where its size says"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_urls_parse_or_say_what_is_wrong() {
        let e = Endpoint::parse("http://127.0.0.1:9091").unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.base_path()),
            ("127.0.0.1", 9091, "")
        );
        let e = Endpoint::parse("http://gw.internal/push/").unwrap();
        assert_eq!((e.port, e.base_path()), (80, "/push"));
        assert_eq!(
            e.url("/push/metrics/job/x"),
            "http://gw.internal:80/push/metrics/job/x"
        );
        let e = Endpoint::parse("http://[::1]:9091").unwrap();
        assert_eq!(e.authority(), "[::1]:9091");
        match Endpoint::parse("https://mimir.internal/api/v1/push") {
            Ok(e) => {
                assert!(cfg!(feature = "tls") && e.tls);
                assert_eq!(
                    e.url("/api/v1/push"),
                    "https://mimir.internal:443/api/v1/push"
                );
            }
            Err(reason) => assert!(!cfg!(feature = "tls") && reason.contains("`tls`")),
        }
        for bad in [
            "ftp://gw:9091",
            "gw:9091",
            "http://:9091",
            "http://gw:0",
            "http://gw:99999",
            "http://u:p@gw:9091",
            "http://gw:9091/?x=1",
            "http://[::1",
            "http://gw\r\nX-Evil: 1:9091",
            "http://g w:9091",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }

    /// A loopback server that answers each request it reads with the next
    /// of `script` (what to write, and whether to close the connection
    /// after it); returns its URL and how many connections it took.
    fn scripted(
        script: Vec<(&'static [u8], bool)>,
    ) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/w", listener.local_addr().unwrap());
        let accepted = std::sync::Arc::new(AtomicUsize::new(0));
        let count = std::sync::Arc::clone(&accepted);
        std::thread::spawn(move || {
            let mut script = script.into_iter();
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                count.fetch_add(1, Ordering::SeqCst);
                let mut got = Vec::new();
                loop {
                    // One request: its head, then its Content-Length body.
                    let mut byte = [0u8; 1];
                    while !got.ends_with(b"\r\n\r\n") {
                        match stream.read(&mut byte) {
                            Ok(1) => got.push(byte[0]),
                            _ => break,
                        }
                    }
                    if !got.ends_with(b"\r\n\r\n") {
                        break; // the client closed this connection
                    }
                    let head = String::from_utf8_lossy(&got).to_ascii_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length: "))
                        .map_or(0, |v| v.trim().parse().unwrap());
                    let mut body = vec![0; len];
                    stream.read_exact(&mut body).unwrap();
                    got.clear();
                    let Some((answer, close)) = script.next() else {
                        return;
                    };
                    stream.write_all(answer).unwrap();
                    if close {
                        break;
                    }
                }
            }
        });
        (url, accepted)
    }

    fn client(url: &str) -> Client {
        Client::new(
            Endpoint::parse(url).unwrap(),
            #[cfg(feature = "tls")]
            None,
        )
    }

    fn post<'c>(c: &'c mut Client, body: &[u8]) -> Result<Answer<'c>, PushError> {
        let req = Request {
            method: "POST",
            path: "/w",
            content_type: Some("text/plain"),
            authorization: None,
            headers: &[],
            body,
        };
        let timeout = Duration::from_secs(5);
        c.exchange(&req, Instant::now() + timeout, timeout)
    }

    #[test]
    fn answers_in_every_framing_are_read_and_connections_kept_where_they_may_be() {
        use std::sync::atomic::Ordering;
        let (url, accepted) = scripted(vec![
            (b"HTTP/1.1 204 No Content\r\n\r\n", false),
            (
                b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
                false,
            ),
            (
                b"HTTP/1.1 400 Bad\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: t\r\n\r\n",
                false,
            ),
            (b"HTTP/1.1 503 X\r\nretry-after: 7\r\nContent-Length: 0\r\n\r\n", false),
            // Connection 1 ends here, as the answer says.
            (b"HTTP/1.1 500 X\r\nConnection: close\r\nContent-Length: 3\r\n\r\nbye", true),
            // Connection 2: HTTP/1.0, the body until the close.
            (b"HTTP/1.0 200 OK\r\n\r\nuntil close", true),
            // Connection 3: kept by the client, closed by the server while
            // idle: the next request finds it dead and goes on connection 4.
            (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true),
            (b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\nok", false),
        ]);
        let mut c = client(&url);
        let big = vec![7u8; 300_000];
        let mut seen = Vec::new();
        for body in [&b"a"[..], b"", &big, b"b", b"c", b"d", b"e"] {
            let a = post(&mut c, body).unwrap();
            seen.push((a.status, a.body.to_vec(), a.retry_after));
        }
        // The server closed connection 3 after its answer; give the FIN
        // time to arrive so that the next request meets a dead socket.
        std::thread::sleep(Duration::from_millis(50));
        let a = post(&mut c, b"f").unwrap();
        seen.push((a.status, a.body.to_vec(), a.retry_after));
        let none = None;
        assert_eq!(
            seen,
            [
                (204, vec![], none),
                (200, b"hello".to_vec(), none),
                (400, b"hello world".to_vec(), none),
                (503, vec![], Some(Duration::from_secs(7))),
                (500, b"bye".to_vec(), none),
                (200, b"until close".to_vec(), none),
                (200, vec![], none),
                (202, b"ok".to_vec(), none),
            ]
        );
        assert_eq!(accepted.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn answers_that_are_not_http_are_protocol_errors_and_silence_a_timeout() {
        let long = format!("HTTP/1.1 200 OK\r\nX: {}\r\n\r\n", "y".repeat(MAX_HEAD));
        let long: &'static [u8] = Box::leak(long.into_bytes().into_boxed_slice());
        for (answer, says) in [
            (&b"SMTP ready\r\n\r\n"[..], "not HTTP/1.x"),
            (b"HTTP/1.1 2x0 OK\r\n\r\n", "no status code"),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: lots\r\n\r\n",
                "not a number",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort",
                "inside the answer's body",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                "hexadecimal",
            ),
            (b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n", "no ':'"),
            (long, "over 16 KiB"),
        ] {
            let (url, _) = scripted(vec![(answer, true)]);
            let mut c = client(&url);
            match post(&mut c, b"x") {
                Err(PushError::Protocol { reason, .. }) => {
                    assert!(reason.contains(says), "{reason:?} for {says}")
                }
                Err(e) => panic!("{e:?} for {says}"),
                Ok(a) => panic!("{} for {says}", a.status),
            }
        }
        // A server that takes the request and never answers.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut c = client(&format!("http://{}/w", listener.local_addr().unwrap()));
        let req = Request {
            method: "PUT",
            path: "/w",
            content_type: None,
            authorization: None,
            headers: &[],
            body: b"x",
        };
        let timeout = Duration::from_millis(200);
        let started = Instant::now();
        let e = c.exchange(&req, Instant::now() + timeout, timeout).err();
        assert!(matches!(e, Some(PushError::Timeout { .. })), "{e:?}");
        assert!(started.elapsed() < Duration::from_secs(3));
        drop(listener);
    }

    #[test]
    fn mangled_answers_are_answers_or_typed_errors_never_panics() {
        // Valid answers of every framing, cut short, with bytes flipped
        // or repeated at deterministic random places; each from a server
        // that writes it and closes.
        let seeds: [&[u8]; 4] = [
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            b"HTTP/1.1 400 Bad\r\nTransfer-Encoding: chunked\r\n\r\n5;x\r\nhello\r\n0\r\nT: t\r\n\r\n",
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 503 X\r\nRetry-After: 3\r\n\r\nbody",
            b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n",
        ];
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        };
        let mut answered = 0;
        for case in 0..240 {
            let mut answer = seeds[case % seeds.len()].to_vec();
            for _ in 0..1 + next(3) {
                let at = next(answer.len());
                match next(4) {
                    0 => answer.truncate(at),
                    1 => answer[at] = b"\r\n:; 0fF\x80"[next(9)],
                    2 => answer.insert(at, answer[at]),
                    _ => answer
                        .splice(at..at, b"\r\n".iter().copied())
                        .for_each(drop),
                }
                if answer.is_empty() {
                    answer.push(b'H');
                }
            }
            let answer: &'static [u8] = Box::leak(answer.into_boxed_slice());
            let (url, _) = scripted(vec![(answer, true)]);
            let mut c = client(&url);
            let req = Request {
                method: "POST",
                path: "/w",
                content_type: None,
                authorization: None,
                headers: &[],
                body: b"x",
            };
            let timeout = Duration::from_secs(5);
            match c.exchange(&req, Instant::now() + timeout, timeout) {
                Ok(a) => {
                    assert!((100..1000).contains(&a.status));
                    answered += 1;
                }
                Err(PushError::Protocol { .. }) => {}
                Err(e) => panic!("{e:?} for {:?}", String::from_utf8_lossy(answer)),
            }
        }
        // The mangling leaves some answers whole enough to read.
        assert!(answered > 20, "{answered}");
    }

    #[test]
    fn header_names_and_values_are_checked() {
        assert!(valid_header("X-Scope-OrgID", "tenant 1\tok").is_ok());
        assert!(valid_header("X-Été", "v").is_err());
        assert!(valid_header("", "v").is_err());
        assert!(valid_header("X:Y", "v").is_err());
        assert!(valid_header("X", "a\r\nInjected: 1").is_err());
        assert!(valid_header("X", "caf\u{e9}").is_ok());
        let mut d = [0; 20];
        assert_eq!(decimal(0, &mut d), b"0");
        assert_eq!(decimal(1_234_567, &mut d), b"1234567");
    }
}
