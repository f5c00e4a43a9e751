//! Prometheus remote write 1.0: the registry as one snappy-compressed
//! `WriteRequest` POSTed to a receiver (Prometheus with
//! `--web.enable-remote-write-receiver`, Mimir, Thanos Receive, Cortex,
//! VictoriaMetrics).
#![forbid(unsafe_code)]

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{client, grouping, Conn, PushError, DEFAULT_PUSH_TIMEOUT};
use crate::Registry;

/// A remote-write receiver and how to reach it; [`RemoteWrite::send`]
/// writes the registry to it once. Calls block, as
/// [`Pushgateway`](super::Pushgateway)'s do.
pub struct RemoteWrite {
    conn: Conn,
    path: String,
    authorization: Option<String>,
    headers: Vec<(String, String)>,
    /// The protobuf body and the snappy encoder, kept between sends.
    scratch: Mutex<(Vec<u8>, snap::raw::Encoder)>,
}

impl fmt::Debug for RemoteWrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteWrite")
            .field("url", &self.conn.endpoint.url(&self.path))
            .field("authorization", &self.authorization.is_some())
            .field("headers", &self.headers.len())
            .field("timeout", &self.conn.timeout)
            .finish()
    }
}

/// Configures a [`RemoteWrite`].
#[derive(Debug, Clone)]
pub struct RemoteWriteBuilder {
    url: String,
    authorization: Option<String>,
    headers: Vec<(String, String)>,
    timeout: Duration,
}

/// What one [`RemoteWrite::send`] delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Sent {
    /// Series (one sample each) in the request.
    pub series: usize,
    /// The compressed body's size in bytes.
    pub bytes: usize,
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
            timeout: DEFAULT_PUSH_TIMEOUT,
        }
    }

    /// Writes every series of `registry` once, each sample stamped now
    /// (milliseconds). Counters and histograms are cumulative: a send that
    /// fails loses no count, the next one carries it.
    ///
    /// # Errors
    ///
    /// [`PushError::Connect`], [`PushError::Timeout`],
    /// [`PushError::Protocol`], [`PushError::InsideRuntime`], or
    /// [`PushError::Rejected`] with the receiver's reason (400 for samples
    /// it finds invalid, 401 for credentials, 429 and 5xx for load).
    pub fn send(&self, registry: &Registry) -> Result<Sent, PushError> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(PushError::InsideRuntime);
        }
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let (series, body) = {
            let mut scratch = self.scratch.lock().unwrap_or_else(|e| e.into_inner());
            let (raw, snappy) = &mut *scratch;
            raw.clear();
            let series = registry.encode_remote_write(raw, now_ms);
            let body = snappy.compress_vec(raw).map_err(|e| PushError::Protocol {
                url: self.conn.endpoint.url(&self.path),
                reason: format!("snappy compression failed: {e}"),
            })?;
            (series, body)
        };
        let bytes = body.len();
        let request = client::Request {
            method: "POST",
            path: &self.path,
            content_type: Some("application/x-protobuf"),
            authorization: self.authorization.as_deref(),
            headers: &self.headers,
            body,
        };
        self.conn.exchange(request)?;
        Ok(Sent { series, bytes })
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

    /// How long one send may take in all (default
    /// [`DEFAULT_PUSH_TIMEOUT`]; more than 0, at most an hour).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Checks the URL, the headers and the timeout.
    ///
    /// # Errors
    ///
    /// [`PushError::InvalidUrl`] (not `http://host[:port]/path`),
    /// [`PushError::InvalidHeader`] (a name or value that is not a header's,
    /// or one the client sets itself), [`PushError::InvalidTimeout`],
    /// [`PushError::Runtime`].
    pub fn build(self) -> Result<RemoteWrite, PushError> {
        let conn = Conn::new(&self.url, self.timeout)?;
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
            if hyper::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(bad("not a header name"));
            }
            if hyper::header::HeaderValue::from_str(value).is_err() {
                return Err(bad("its value holds characters a header cannot carry"));
            }
            if OWN.contains(&name.to_ascii_lowercase().as_str()) {
                return Err(bad(
                    "the client sets it itself (use .basic_auth or .bearer_token for Authorization)",
                ));
            }
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
            scratch: Mutex::new((Vec::new(), snap::raw::Encoder::new())),
        })
    }
}
