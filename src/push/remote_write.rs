//! Prometheus remote write 1.0: the registry as one snappy-compressed
//! `WriteRequest` POSTed to a receiver (Prometheus with
//! `--web.enable-remote-write-receiver`, Mimir, Thanos Receive, Cortex,
//! VictoriaMetrics).
#![forbid(unsafe_code)]

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{client, grouping, Conn, PushError, TlsSettings, DEFAULT_PUSH_TIMEOUT};
use crate::encode::prompb::Scratch;
use crate::Registry;

/// How often a [`RemoteWriter`](super::RemoteWriter) collects by default
/// (Prometheus' default scrape interval).
pub const DEFAULT_REMOTE_WRITE_INTERVAL: Duration = Duration::from_secs(15);

/// The most samples one request carries by default (Prometheus' own
/// `max_samples_per_send`).
pub const DEFAULT_MAX_SAMPLES_PER_REQUEST: usize = 2_000;

/// How many collections a writer keeps while the receiver is away, by
/// default; past it the oldest is dropped.
pub const DEFAULT_MAX_PENDING: usize = 10;

/// A remote-write receiver and how to reach it: [`RemoteWrite::send`]
/// writes the registry to it once (blocking, as
/// [`Pushgateway`](super::Pushgateway)'s calls do), and
/// [`RemoteWrite::start`] writes it on an interval from a thread of its
/// own, with retries and a bounded queue.
pub struct RemoteWrite {
    conn: Conn,
    path: String,
    authorization: Option<String>,
    headers: Vec<(String, String)>,
    external: Vec<(String, String)>,
    max_samples: usize,
    /// Native histograms as `Histogram` messages, not their classic view.
    native: bool,
    pub(crate) writer: WriterSettings,
    /// The protobuf body, the encoder's labels and the snappy encoder,
    /// kept between sends.
    scratch: Mutex<Buffers>,
    /// Compressed bodies sent and given back ([`RemoteWrite::recycle`]),
    /// for the next collection's requests.
    bodies: Mutex<Bodies>,
}

#[derive(Default)]
struct Buffers {
    raw: Vec<u8>,
    labels: Scratch,
    snappy: Option<snap::raw::Encoder>,
}

/// Request bodies to reuse: as many as the last collection made, at
/// most (a burst of pending batches does not stay allocated).
#[derive(Default)]
struct Bodies {
    free: Vec<Vec<u8>>,
    keep: usize,
}

/// A writer's settings ([`RemoteWrite::start`]), checked by the builder.
#[derive(Debug, Clone)]
pub(crate) struct WriterSettings {
    pub(crate) interval: Duration,
    pub(crate) max_pending: usize,
    pub(crate) min_backoff: Duration,
    pub(crate) max_backoff: Duration,
}

/// One request's body, compressed, and how many samples it holds.
pub(crate) struct Chunk {
    /// The body is `buf[..len]`; the rest is room a reuse need not zero
    /// again.
    buf: Vec<u8>,
    len: usize,
    pub(crate) samples: usize,
}

impl Chunk {
    pub(crate) fn body(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl fmt::Debug for RemoteWrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteWrite")
            .field("url", &self.url())
            .field("authorization", &self.authorization.is_some())
            .field("headers", &self.headers.len())
            .field("external_labels", &self.external)
            .field("max_samples_per_request", &self.max_samples)
            .field("native_histograms", &self.native)
            .field("timeout", &self.conn.timeout)
            .field("writer", &self.writer)
            .finish()
    }
}

/// Configures a [`RemoteWrite`].
#[derive(Debug, Clone)]
pub struct RemoteWriteBuilder {
    url: String,
    authorization: Option<String>,
    headers: Vec<(String, String)>,
    external: Vec<(String, String)>,
    max_samples: usize,
    native: bool,
    timeout: Duration,
    writer: WriterSettings,
    tls: TlsSettings,
}

/// What one [`RemoteWrite::send`] delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Sent {
    /// Series (one sample each) sent.
    pub series: usize,
    /// The compressed bodies' size in bytes, all requests together.
    pub bytes: usize,
    /// Requests it took ([`RemoteWriteBuilder::max_samples_per_request`]
    /// samples at most each).
    pub requests: usize,
}

/// Where each top-level field (a `TimeSeries`) of an encoded
/// `WriteRequest` ends: a body cut at these points is still a
/// `WriteRequest` (its fields are repeated ones).
fn series_ends(raw: &[u8]) -> impl Iterator<Item = usize> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        if at >= raw.len() {
            return None;
        }
        // The tag (one byte, 0x0a) and the length varint.
        let mut i = at + 1;
        let mut len = 0usize;
        let mut shift = 0;
        while let Some(&b) = raw.get(i) {
            len |= usize::from(b & 0x7f) << shift;
            i += 1;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        at = i + len;
        Some(at.min(raw.len()))
    })
}

impl RemoteWrite {
    /// A builder for the receiver at `url`
    /// (`http://host:port/api/v1/write` for Prometheus).
    #[must_use]
    pub fn builder(url: impl Into<String>) -> RemoteWriteBuilder {
        RemoteWriteBuilder {
            url: url.into(),
            authorization: None,
            headers: Vec::new(),
            external: Vec::new(),
            max_samples: DEFAULT_MAX_SAMPLES_PER_REQUEST,
            native: false,
            timeout: DEFAULT_PUSH_TIMEOUT,
            writer: WriterSettings {
                interval: DEFAULT_REMOTE_WRITE_INTERVAL,
                max_pending: DEFAULT_MAX_PENDING,
                min_backoff: Duration::from_millis(30),
                max_backoff: Duration::from_secs(5),
            },
            tls: TlsSettings::default(),
        }
    }

    /// The receiver's URL.
    #[must_use]
    pub fn url(&self) -> String {
        self.conn.endpoint.url(&self.path)
    }

    /// Writes every series of `registry` once, each sample stamped now
    /// (milliseconds), in as many requests as
    /// [`RemoteWriteBuilder::max_samples_per_request`] makes it. Counters
    /// and histograms are cumulative: a send that fails loses no count,
    /// the next one carries it. No retries here: [`RemoteWrite::start`]
    /// retries.
    ///
    /// # Errors
    ///
    /// [`PushError::Connect`], [`PushError::Timeout`],
    /// [`PushError::Protocol`], [`PushError::InsideRuntime`], or
    /// [`PushError::Rejected`] with the receiver's reason (400 for samples
    /// it finds invalid, 401 for credentials, 429 and 5xx for load). The
    /// requests before a failed one were delivered.
    pub fn send(&self, registry: &Registry) -> Result<Sent, PushError> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(PushError::InsideRuntime);
        }
        let mut sent = Sent {
            series: 0,
            bytes: 0,
            requests: 0,
        };
        self.prepare(registry, |chunk| {
            sent.bytes += chunk.len;
            let posted = self.post(chunk.body(), None);
            let samples = chunk.samples;
            self.recycle(chunk);
            posted?;
            sent.series += samples;
            sent.requests += 1;
            Ok(())
        })?;
        Ok(sent)
    }

    /// Encodes `registry` now and hands `each` its compressed request
    /// bodies of at most `max_samples` samples each, in order, stopping at
    /// the first error. Bodies come from those given back
    /// ([`RemoteWrite::recycle`]) where there are any, so that a steady
    /// state allocates nothing.
    pub(crate) fn prepare(
        &self,
        registry: &Registry,
        mut each: impl FnMut(Chunk) -> Result<(), PushError>,
    ) -> Result<(), PushError> {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let mut guard = self.scratch.lock().unwrap_or_else(|e| e.into_inner());
        let b = &mut *guard;
        b.raw.clear();
        registry.encode_remote_write_with(
            &mut b.raw,
            now_ms,
            &self.external,
            self.native,
            &mut b.labels,
        );
        let snappy = b.snappy.get_or_insert_with(snap::raw::Encoder::new);
        let (mut start, mut n, mut made) = (0, 0, 0);
        let mut ends = series_ends(&b.raw).peekable();
        while let Some(end) = ends.next() {
            n += 1;
            if n == self.max_samples || ends.peek().is_none() {
                let raw = &b.raw[start..end];
                let mut buf = self.spare_body();
                let room = snap::raw::max_compress_len(raw.len());
                if buf.len() < room {
                    buf.resize(room, 0);
                }
                let len = snappy
                    .compress(raw, &mut buf)
                    .map_err(|e| PushError::Protocol {
                        url: self.url(),
                        reason: format!("snappy compression failed: {e}"),
                    })?;
                made += 1;
                each(Chunk {
                    buf,
                    len,
                    samples: n,
                })?;
                start = end;
                n = 0;
            }
        }
        self.lock_bodies().keep = made.max(1);
        Ok(())
    }

    fn lock_bodies(&self) -> std::sync::MutexGuard<'_, Bodies> {
        self.bodies.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A body given back, or a new one.
    fn spare_body(&self) -> Vec<u8> {
        self.lock_bodies().free.pop().unwrap_or_default()
    }

    /// Gives a chunk's body back for reuse, once it is sent or dropped.
    pub(crate) fn recycle(&self, chunk: Chunk) {
        let mut bodies = self.lock_bodies();
        if bodies.free.len() < bodies.keep.max(1) {
            bodies.free.push(chunk.buf);
        }
    }

    /// POSTs one compressed body, within `budget` if given.
    pub(crate) fn post(&self, body: &[u8], budget: Option<Duration>) -> Result<(), PushError> {
        let request = client::Request {
            method: "POST",
            path: &self.path,
            content_type: Some("application/x-protobuf"),
            authorization: self.authorization.as_deref(),
            headers: &self.headers,
            body,
        };
        self.conn.exchange_within(request, budget)
    }
}

impl RemoteWriteBuilder {
    /// Adds a header to every request (`X-Scope-OrgID` for a Mimir or
    /// Cortex tenant). The remote-write headers themselves are set by the
    /// client and cannot be replaced.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// `Authorization: Basic ...` on every request.
    #[must_use]
    pub fn basic_auth(mut self, user: &str, password: &str) -> Self {
        self.authorization = Some(format!(
            "Basic {}",
            grouping::base64(format!("{user}:{password}").as_bytes())
        ));
        self
    }

    /// `Authorization: Bearer TOKEN` on every request.
    #[must_use]
    pub fn bearer_token(mut self, token: &str) -> Self {
        self.authorization = Some(format!("Bearer {token}"));
        self
    }

    /// How long one request may take in all (default
    /// [`DEFAULT_PUSH_TIMEOUT`]; more than 0, at most an hour).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Adds a label to every series that lacks one of that name, in what
    /// is written only (Prometheus' `external_labels`: `job`, `instance`,
    /// an HA replica), not in the registry's own scrape.
    #[must_use]
    pub fn external_label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.external.push((name.into(), value.into()));
        self
    }

    /// The most samples one request carries (default
    /// [`DEFAULT_MAX_SAMPLES_PER_REQUEST`]): a larger registry goes in
    /// several requests. At least 1.
    #[must_use]
    pub fn max_samples_per_request(mut self, n: usize) -> Self {
        self.max_samples = n;
        self
    }

    /// Sends each native histogram series
    /// ([`Registry::native_histogram`](crate::Registry::native_histogram))
    /// whole, as one `Histogram` message in the `TimeSeries`' `histograms`
    /// field (schema, zero bucket, spans and deltas: exact, and one series
    /// where the classic view is one per bucket), as
    /// [`Registry::encode_remote_write_native`](crate::Registry::encode_remote_write_native)
    /// writes it. Off by default, as Prometheus' own
    /// `send_native_histograms`: the receiver must take native histograms
    /// (Prometheus 2.40+ with `--enable-feature=native-histograms`; Mimir
    /// with `native_histograms_ingestion_enabled` for the tenant), and
    /// one that does not refuses the request (Prometheus answers 500, so a
    /// writer retries it until it drops it) or drops the series. Off, a
    /// native histogram goes as its classic view: `_bucket` at each power
    /// of two, exact counts.
    #[must_use]
    pub fn native_histograms(mut self, on: bool) -> Self {
        self.native = on;
        self
    }

    /// How often a writer ([`RemoteWrite::start`]) collects and sends
    /// (default [`DEFAULT_REMOTE_WRITE_INTERVAL`]; 10 ms to an hour).
    #[must_use]
    pub fn interval(mut self, every: Duration) -> Self {
        self.writer.interval = every;
        self
    }

    /// How many collections a writer keeps while the receiver is away
    /// (default [`DEFAULT_MAX_PENDING`]; at least 1); past it the oldest
    /// is dropped (counted), which loses resolution but no total.
    #[must_use]
    pub fn max_pending(mut self, batches: usize) -> Self {
        self.writer.max_pending = batches;
        self
    }

    /// The first retry's backoff (default 30 ms, as Prometheus'); each
    /// retry of the same request doubles it, up to [`max_backoff`](Self::max_backoff).
    #[must_use]
    pub fn min_backoff(mut self, wait: Duration) -> Self {
        self.writer.min_backoff = wait;
        self
    }

    /// Trusts only the CA certificates in `pem` (one or more `-----BEGIN
    /// CERTIFICATE-----` blocks) for an `https` receiver, in place of the
    /// Mozilla roots (feature `tls`).
    #[cfg(feature = "tls")]
    #[must_use]
    pub fn ca_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls.ca_pem = Some(pem.into());
        self
    }

    /// Presents a client certificate (its chain in `cert_pem`, its
    /// private key in `key_pem`) to an `https` receiver that asks for one:
    /// mutual TLS (feature `tls`).
    #[cfg(feature = "tls")]
    #[must_use]
    pub fn client_certificate_pem(
        mut self,
        cert_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.tls.client_pem = Some((cert_pem.into(), key_pem.into()));
        self
    }

    /// The longest backoff between retries (default 5 s, as Prometheus').
    #[must_use]
    pub fn max_backoff(mut self, wait: Duration) -> Self {
        self.writer.max_backoff = wait;
        self
    }

    /// Checks the URL, the headers and the timeout.
    ///
    /// # Errors
    ///
    /// [`PushError::InvalidUrl`] (not `http://host[:port]/path`),
    /// [`PushError::InvalidHeader`] (a name or value that is not a header's,
    /// or one the client sets itself), [`PushError::InvalidTimeout`],
    /// [`PushError::InvalidSetting`] (an external label that is not a
    /// label, a zero batch size, interval or queue, a backoff range upside
    /// down), [`PushError::Runtime`].
    pub fn build(self) -> Result<RemoteWrite, PushError> {
        let conn = Conn::new(&self.url, self.timeout, &self.tls)?;
        let bad =
            |setting: &'static str, reason: String| PushError::InvalidSetting { setting, reason };
        for (name, _) in &self.external {
            if let Err(e) = crate::names::check_label_name(name) {
                return Err(bad("external_label", e.to_string()));
            }
            if name == "__name__"
                || name == "le"
                || self.external.iter().filter(|(n, _)| n == name).count() > 1
            {
                return Err(bad(
                    "external_label",
                    format!(
                        "{name:?} is given twice, or is __name__ or le (which the written \
                         series carry themselves)"
                    ),
                ));
            }
        }
        if self.max_samples == 0 {
            return Err(bad("max_samples_per_request", "give at least 1".into()));
        }
        let w = &self.writer;
        if w.interval < Duration::from_millis(10) || w.interval > Duration::from_secs(3600) {
            return Err(bad(
                "interval",
                format!("{:?}: give 10 ms to an hour", w.interval),
            ));
        }
        if w.max_pending == 0 {
            return Err(bad("max_pending", "give at least 1 batch".into()));
        }
        if w.min_backoff.is_zero()
            || w.min_backoff > w.max_backoff
            || w.max_backoff > Duration::from_secs(3600)
        {
            return Err(bad(
                "min_backoff",
                format!(
                    "{:?} to {:?}: the first backoff must be above zero and at most the longest, which is at most an hour",
                    w.min_backoff, w.max_backoff
                ),
            ));
        }
        let path = match conn.endpoint.base_path() {
            "" => "/".to_string(),
            p => p.to_string(),
        };
        const OWN: [&str; 7] = [
            "content-encoding",
            "content-type",
            "content-length",
            "x-prometheus-remote-write-version",
            "host",
            "authorization",
            "transfer-encoding",
        ];
        for (name, value) in &self.headers {
            let bad = |reason: &str| PushError::InvalidHeader {
                name: name.clone(),
                reason: reason.to_string(),
            };
            client::valid_header(name, value).map_err(bad)?;
            if OWN.contains(&name.to_ascii_lowercase().as_str()) {
                return Err(bad(
                    "the client sets it itself (use .basic_auth or .bearer_token for Authorization)",
                ));
            }
        }
        if let Some(auth) = &self.authorization {
            // A bearer token goes into the header as given.
            client::valid_header("Authorization", auth).map_err(|reason| {
                PushError::InvalidHeader {
                    name: "Authorization".into(),
                    reason: format!("the bearer token: {reason}"),
                }
            })?;
        }
        let mut headers = vec![
            ("Content-Encoding".to_string(), "snappy".to_string()),
            (
                "X-Prometheus-Remote-Write-Version".to_string(),
                "0.1.0".to_string(),
            ),
        ];
        headers.extend(self.headers);
        Ok(RemoteWrite {
            conn,
            path,
            authorization: self.authorization,
            headers,
            external: self.external,
            max_samples: self.max_samples,
            native: self.native,
            writer: self.writer,
            scratch: Mutex::new(Buffers::default()),
            bodies: Mutex::new(Bodies::default()),
        })
    }
}
