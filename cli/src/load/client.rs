//! One keep-alive HTTP/1.1 connection of `telemeter load` (hyper's client
//! connection API over a tokio `TcpStream`), and what one scrape produced.

use std::io::Read as _;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper::client::conn::http1;
use hyper::header;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::spec::Target;
use crate::http::describe_hyper;

/// Largest body accepted (identity or gzip as received, and decoded).
pub const MAX_BODY: usize = 256 << 20;

/// Most decoded bytes the buffers of every connection may hold at once: a
/// gzip bomb served to many connections stops here, not at connections
/// times [`MAX_BODY`] (a 1.1 MB bomb took four connections to 4.1 GB).
pub const MAX_DECODED_TOTAL: usize = 512 << 20;

/// Decoded-buffer capacity held now, over all connections.
static DECODED_HELD: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Decoded-buffer bytes held now, over all connections (for the fuzz
/// target's check that a body gives its budget back).
pub fn decoded_held() -> usize {
    DECODED_HELD.load(std::sync::atomic::Ordering::Relaxed)
}

/// Gunzips `body` into `out` (cleared first), within [`MAX_BODY`] and, with
/// every other connection's buffer, [`MAX_DECODED_TOTAL`]; `out`'s capacity
/// is counted there while it is held (a failure gives it back).
fn gunzip_within_budget(body: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    gunzip_within(body, out, MAX_BODY, &DECODED_HELD, MAX_DECODED_TOTAL)
}

/// [`gunzip_within_budget`] with its limits and counter given.
fn gunzip_within(
    body: &[u8],
    out: &mut Vec<u8>,
    max_body: usize,
    held: &std::sync::atomic::AtomicUsize,
    max_total: usize,
) -> Result<(), String> {
    use std::sync::atomic::Ordering::Relaxed;
    out.clear();
    let mut dec = flate2::read::GzDecoder::new(body);
    let mut chunk = [0u8; 64 * 1024];
    let fail = |out: &mut Vec<u8>, why: String| {
        held.fetch_sub(out.capacity(), Relaxed);
        *out = Vec::new();
        Err(why)
    };
    loop {
        let n = match dec.read(&mut chunk) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) => return fail(out, format!("bad gzip body: {e}")),
        };
        if out.len() + n > max_body {
            return fail(
                out,
                format!("decoded body larger than {} MiB", max_body >> 20),
            );
        }
        if out.len() + n > out.capacity() {
            let before = out.capacity();
            let want = (out.len() + n).max(before * 2).min(max_body);
            let grow = want - before;
            if held.fetch_add(grow, Relaxed) + grow > max_total {
                held.fetch_sub(grow, Relaxed);
                let why = format!(
                    "decoded bodies of all connections would pass {} MiB (a gzip bomb?)",
                    max_total >> 20
                );
                return fail(out, why);
            }
            out.reserve_exact(want - out.len());
            // `reserve_exact` may round up: count what is held.
            held.fetch_add(out.capacity() - want, Relaxed);
        }
        out.extend_from_slice(&chunk[..n]);
    }
}

/// The kinds of failure the report counts separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// No connection could be made, or it broke before a full response
    /// (reset, closed early, a response that is not HTTP/1.x).
    Connect = 0,
    /// Connecting, or the response with its whole body, took longer than
    /// `--timeout`.
    Timeout = 1,
    /// The server answered with a status other than 2xx.
    Status = 2,
    /// The body could not be decoded (bad gzip, over the size cap), or
    /// `--validate` found it is not valid Prometheus text 0.0.4.
    Parse = 3,
}

impl ErrorKind {
    /// Every kind, in report order.
    pub const ALL: [ErrorKind; 4] = [
        ErrorKind::Connect,
        ErrorKind::Timeout,
        ErrorKind::Status,
        ErrorKind::Parse,
    ];

    /// The name used in the report.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Status => "status",
            ErrorKind::Parse => "parse",
        }
    }
}

/// A failed attempt: its kind and a message for the report.
#[derive(Debug, Clone)]
pub struct Failure {
    pub kind: ErrorKind,
    pub message: String,
}

impl Failure {
    fn new(kind: ErrorKind, message: impl Into<String>) -> Failure {
        Failure {
            kind,
            message: message.into(),
        }
    }
}

/// What the request options are, shared by every connection.
#[derive(Debug, Clone)]
pub struct RequestSpec {
    pub target: Target,
    pub addr: SocketAddr,
    pub gzip: bool,
    pub validate: bool,
    pub timeout: Duration,
}

/// A response read in full. Its body is kept in [`Buffers::body`] only
/// when it must be decoded or parsed; otherwise its sample lines were
/// counted as it streamed in, and it was never stored.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub gzipped: bool,
    /// Body bytes as received.
    pub wire_len: usize,
    /// Whether the body is in [`Buffers::body`].
    pub kept: bool,
    /// Sample lines of a body that was not kept.
    pub streamed: LineCounter,
}

/// A connection's reusable buffers: once they have grown to the body's
/// size, a scrape allocates no body memory.
#[derive(Debug, Default)]
pub struct Buffers {
    /// The body as received, when kept.
    pub body: Vec<u8>,
    /// The gzip-decoded body (its capacity counted in the budget of
    /// [`MAX_DECODED_TOTAL`] while held).
    pub decoded: Vec<u8>,
}

impl Drop for Buffers {
    fn drop(&mut self) {
        DECODED_HELD.fetch_sub(
            self.decoded.capacity(),
            std::sync::atomic::Ordering::Relaxed,
        );
    }
}

/// An open keep-alive connection.
pub struct Conn {
    sender: http1::SendRequest<Empty<Bytes>>,
}

impl Conn {
    /// Connects and performs the (local) HTTP/1.1 handshake; the connection
    /// is driven by a task on the current runtime.
    pub async fn open(spec: &RequestSpec) -> Result<Conn, Failure> {
        let stream = match tokio::time::timeout(spec.timeout, TcpStream::connect(spec.addr)).await {
            Err(_) => {
                return Err(Failure::new(
                    ErrorKind::Timeout,
                    format!("connecting to {} took longer than the timeout", spec.addr),
                ))
            }
            Ok(Err(e)) => {
                return Err(Failure::new(
                    ErrorKind::Connect,
                    format!("cannot connect to {}: {e}", spec.addr),
                ))
            }
            Ok(Ok(s)) => s,
        };
        let _ = stream.set_nodelay(true);
        Conn::over(stream).await
    }

    /// Performs the (local) HTTP/1.1 handshake over `io`; the connection is
    /// driven by a task on the current `LocalSet`.
    pub async fn over<IO>(io: IO) -> Result<Conn, Failure>
    where
        IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + 'static,
    {
        let (sender, conn) = http1::Builder::new()
            .handshake(TokioIo::new(io))
            .await
            .map_err(|e| Failure::new(ErrorKind::Connect, format!("HTTP handshake: {e}")))?;
        tokio::task::spawn_local(async move {
            // Ends when the sender is dropped or the peer closes; an error
            // here is reported to the request in flight.
            let _ = conn.await;
        });
        Ok(Conn { sender })
    }

    /// Whether the connection can take another request (the server did not
    /// close it).
    pub async fn usable(&mut self) -> bool {
        !self.sender.is_closed() && self.sender.ready().await.is_ok()
    }

    /// Sends one GET and reads the whole response body, into
    /// `bufs.body` when it must be decoded or validated, else only counting
    /// its sample lines. The caller bounds the time this takes.
    pub async fn get(
        &mut self,
        spec: &RequestSpec,
        bufs: &mut Buffers,
    ) -> Result<Response, Failure> {
        let mut req = Request::get(spec.target.path_and_query.as_str())
            .header(header::HOST, spec.target.authority.as_str())
            .header(
                header::USER_AGENT,
                concat!("telemeter-load/", env!("CARGO_PKG_VERSION")),
            )
            .header(header::ACCEPT, "text/plain;version=0.0.4;q=1,*/*;q=0.1");
        if spec.gzip {
            req = req.header(header::ACCEPT_ENCODING, "gzip");
        }
        let req = req
            .body(Empty::<Bytes>::new())
            .map_err(|e| Failure::new(ErrorKind::Connect, format!("building the request: {e}")))?;
        let resp = self
            .sender
            .send_request(req)
            .await
            .map_err(|e| Failure::new(ErrorKind::Connect, describe_hyper(&e)))?;
        let status = resp.status().as_u16();
        let gzipped = resp
            .headers()
            .get(header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip"));
        let kept = (200..300).contains(&status) && (spec.validate || gzipped);
        let mut streamed = LineCounter::default();
        let mut wire_len = 0usize;
        bufs.body.clear();
        let mut body = resp.into_body();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| {
                Failure::new(
                    ErrorKind::Connect,
                    format!("reading the body: {}", describe_hyper(&e)),
                )
            })?;
            let Ok(data) = frame.into_data() else {
                continue; // trailers
            };
            wire_len += data.len();
            if wire_len > MAX_BODY {
                return Err(Failure::new(
                    ErrorKind::Parse,
                    format!("body larger than {} MiB", MAX_BODY >> 20),
                ));
            }
            if kept {
                bufs.body.extend_from_slice(&data);
            } else {
                streamed.feed(&data);
            }
        }
        Ok(Response {
            status,
            gzipped,
            wire_len,
            kept,
            streamed,
        })
    }
}

/// What a complete 2xx body held.
#[derive(Debug, Clone, Copy)]
pub struct BodyInfo {
    /// Bytes after gzip decoding.
    pub decoded_len: usize,
    /// Sample lines (with `--validate`: samples the parser accepted).
    pub series: usize,
}

/// Whether a kept body is big enough to check on a blocking thread rather
/// than hold up the other connections of the worker.
pub fn worth_offloading(resp: &Response, spec: &RequestSpec) -> bool {
    resp.kept && (resp.wire_len >= 32 * 1024 || (spec.validate && resp.wire_len >= 4 * 1024))
}

/// Decodes (gzip), counts series and, with `validate`, parses a kept body;
/// for a body that was not kept, reports what streaming counted.
pub fn inspect(resp: &Response, validate: bool, bufs: &mut Buffers) -> Result<BodyInfo, Failure> {
    if !resp.kept {
        return Ok(BodyInfo {
            decoded_len: resp.wire_len,
            series: resp.streamed.count(),
        });
    }
    let text: &[u8] = if resp.gzipped {
        gunzip_within_budget(&bufs.body, &mut bufs.decoded)
            .map_err(|why| Failure::new(ErrorKind::Parse, why))?;
        &bufs.decoded
    } else {
        &bufs.body
    };
    let series = if validate {
        telemeter::parse::parse_bytes(text)
            .map_err(|e| Failure::new(ErrorKind::Parse, format!("invalid body: {e}")))?
            .sample_count()
    } else {
        count_sample_lines(text)
    };
    Ok(BodyInfo {
        decoded_len: text.len(),
        series,
    })
}

/// Counts sample lines — lines neither empty nor starting with `#` — of a
/// body fed in pieces, in one vectorised pass.
#[derive(Debug, Clone, Copy)]
pub struct LineCounter {
    /// The last byte fed (a newline before anything is fed).
    prev: u8,
    any: bool,
    newlines: usize,
    /// Lines that start with `#` or are empty.
    skipped: usize,
}

impl Default for LineCounter {
    fn default() -> Self {
        LineCounter {
            prev: b'\n',
            any: false,
            newlines: 0,
            skipped: 0,
        }
    }
}

impl LineCounter {
    pub fn feed(&mut self, data: &[u8]) {
        let (Some(&first), Some(&last)) = (data.first(), data.last()) else {
            return;
        };
        let mut skipped = usize::from(self.prev == b'\n' && (first == b'#' || first == b'\n'));
        let mut newlines = usize::from(last == b'\n');
        // Each byte with the one after it. Counting into u8 over runs of
        // 255 lets the compiler vectorise the loop (about 10 GB/s).
        let (a, b) = (&data[..data.len() - 1], &data[1..]);
        for (ra, rb) in a.chunks(255).zip(b.chunks(255)) {
            let (mut nl, mut sk) = (0u8, 0u8);
            for (&x, &y) in ra.iter().zip(rb) {
                let is_nl = u8::from(x == b'\n');
                nl += is_nl;
                sk += is_nl & u8::from((y == b'#') | (y == b'\n'));
            }
            newlines += usize::from(nl);
            skipped += usize::from(sk);
        }
        self.newlines += newlines;
        self.skipped += skipped;
        self.prev = last;
        self.any = true;
    }

    /// Sample lines so far (an unterminated last line counts).
    pub fn count(&self) -> usize {
        let starts = self.newlines + usize::from(self.any && self.prev != b'\n');
        starts.saturating_sub(self.skipped)
    }
}

/// Sample lines of a whole body: see [`LineCounter`].
pub fn count_sample_lines(body: &[u8]) -> usize {
    let mut c = LineCounter::default();
    c.feed(body);
    c.count()
}

/// Waits until `at`, or returns `false` at once if that is not before
/// `deadline`.
pub async fn sleep_until(at: Instant, deadline: Option<Instant>) -> bool {
    if deadline.is_some_and(|d| at >= d) {
        return false;
    }
    tokio::time::sleep_until(at.into()).await;
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn gzip_bombs_stop_at_the_per_body_and_the_shared_budget() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        const BODY: usize = 2 << 20;
        const TOTAL: usize = 5 << 20;
        let held = AtomicUsize::new(0);
        // One body past the per-body cap when decoded: refused, its buffer
        // given back.
        let bomb = gzip(&vec![b'a'; BODY + 1]);
        let mut one = Vec::new();
        let err = gunzip_within(&bomb, &mut one, BODY, &held, TOTAL).unwrap_err();
        assert!(err.contains("larger than"), "{err}");
        assert_eq!((one.capacity(), held.load(Ordering::Relaxed)), (0, 0));
        // Bodies that fit alone, held by more buffers than the shared
        // budget allows: the one past it is refused, the rest decode.
        let big = gzip(&vec![b'b'; BODY - 1]);
        let mut bufs: Vec<Vec<u8>> = Vec::new();
        let mut refused = 0;
        for _ in 0..3 {
            let mut b = Vec::new();
            match gunzip_within(&big, &mut b, BODY, &held, TOTAL) {
                Ok(()) => assert_eq!(b.len(), BODY - 1),
                Err(e) => {
                    assert!(e.contains("all connections"), "{e}");
                    refused += 1;
                }
            }
            bufs.push(b);
        }
        assert_eq!(refused, 1, "the third 2 MiB buffer passes 5 MiB");
        let counted: usize = bufs.iter().map(Vec::capacity).sum();
        assert_eq!(
            held.load(Ordering::Relaxed),
            counted,
            "held is what the buffers hold"
        );
        // A buffer reused for a smaller body keeps its count.
        let small = gzip(b"x 1\n");
        gunzip_within(&small, &mut bufs[0], BODY, &held, TOTAL).unwrap();
        assert_eq!(bufs[0], b"x 1\n");
        assert_eq!(held.load(Ordering::Relaxed), counted);
    }

    #[test]
    fn sample_lines() {
        assert_eq!(count_sample_lines(b""), 0);
        assert_eq!(count_sample_lines(b"\n\n"), 0);
        assert_eq!(
            count_sample_lines(b"# HELP a x\n# TYPE a counter\na 1\n\nb{x=\"#\"} 2\r\n"),
            2
        );
        assert_eq!(count_sample_lines(b"a 1"), 1);
        assert_eq!(count_sample_lines(b"#a 1"), 0);
        // Fed in every possible split, the count is the same.
        let body = b"# HELP a x\n# TYPE a counter\na 1\n\n#x\nb 2\nc 3";
        for i in 0..=body.len() {
            for j in i..=body.len() {
                let mut c = LineCounter::default();
                c.feed(&body[..i]);
                c.feed(&body[i..j]);
                c.feed(&body[j..]);
                assert_eq!(c.count(), 3, "split at {i}, {j}");
            }
        }
    }

    fn kept(gzipped: bool, body: &[u8]) -> (Response, Buffers) {
        let resp = Response {
            status: 200,
            gzipped,
            wire_len: body.len(),
            kept: true,
            streamed: LineCounter::default(),
        };
        let bufs = Buffers {
            body: body.to_vec(),
            decoded: Vec::new(),
        };
        (resp, bufs)
    }

    #[test]
    fn inspects_gzip_and_validates() {
        use std::io::Write as _;
        let body = b"# TYPE a counter\na 1\nb 2\n";
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(body).unwrap();
        let (gz, mut bufs) = kept(true, &enc.finish().unwrap());
        let info = inspect(&gz, true, &mut bufs).unwrap();
        assert_eq!((info.decoded_len, info.series), (body.len(), 2));
        let (bad, mut bufs) = kept(true, b"not gzip");
        assert_eq!(
            inspect(&bad, false, &mut bufs).unwrap_err().kind,
            ErrorKind::Parse
        );
        let (invalid, mut bufs) = kept(false, b"a 1\na 2\n");
        assert_eq!(inspect(&invalid, false, &mut bufs).unwrap().series, 2);
        assert_eq!(
            inspect(&invalid, true, &mut bufs).unwrap_err().kind,
            ErrorKind::Parse
        );
    }
}
