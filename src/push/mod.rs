//! Pushing a registry to where a scraper cannot reach it: a Prometheus
//! Pushgateway ([`Pushgateway`]), for batch jobs that end before a scrape,
//! and Prometheus remote write ([`RemoteWrite`]: once with
//! [`RemoteWrite::send`], on an interval with retries and a bounded queue
//! with [`RemoteWrite::start`], see [`RemoteWriter`]), for central stores.
//!
//! ```no_run
//! use std::time::Duration;
//! use telemeter::push::RemoteWrite;
//! use telemeter::Registry;
//!
//! let reg = Registry::new();
//! reg.counter("jobs_total", "Jobs.")?.inc();
//! let writer = RemoteWrite::builder("http://mimir.internal/api/v1/push")
//!     .header("X-Scope-OrgID", "team-a")
//!     .external_label("instance", "agent-7")
//!     .interval(Duration::from_secs(15))
//!     .build()?
//!     .start(&reg)?;
//! // ... the program runs; at its end, one more push within 5 s:
//! let stats = writer.shutdown(Duration::from_secs(5));
//! assert_eq!(stats.pending_batches, 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! For the Pushgateway:
//!
//! The gateway keeps the last push of each group (a `job` and grouping
//! labels, which become labels of every pushed series) until it is
//! replaced or deleted, and Prometheus scrapes the gateway (with
//! `honor_labels: true`, so that the pushed `job` and `instance` stay).
//!
//! The body is text 0.0.4 unless the builder asks for protobuf
//! ([`PushgatewayBuilder::format`]), which keeps native histograms whole
//! (the gateway stores the families as pushed, and a Prometheus with
//! native histograms scraping it gets them).
//!
//! Every push sends the whole registry, its `telemeter_*` self-metrics
//! included; the gateway keeps them per group like any other series. A
//! batch job that wants only its own series pushes a registry built with
//! `Registry::builder().self_metrics(false)`.
//!
//! # Examples
//!
//! ```no_run
//! use telemeter::push::Pushgateway;
//! use telemeter::Registry;
//!
//! let reg = Registry::new();
//! let done = reg.counter("backup_files_total", "Files backed up.")?;
//! done.add(1_204);
//! let gateway = Pushgateway::builder("http://pushgateway.internal:9091")
//!     .job("nightly_backup")
//!     .grouping("instance", "db-3")
//!     .build()?;
//! gateway.push(&reg)?; // PUT: this group is now exactly this registry
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod client;
mod grouping;
mod remote_write;
#[cfg(feature = "tls")]
mod tls;
mod writer;

use std::fmt;
use std::io;
use std::time::{Duration, Instant};

use crate::Registry;

pub use remote_write::{
    RemoteWrite, RemoteWriteBuilder, Sent, DEFAULT_MAX_PENDING, DEFAULT_MAX_SAMPLES_PER_REQUEST,
    DEFAULT_REMOTE_WRITE_INTERVAL,
};
pub use writer::{RemoteWriter, WriterStats, MAX_RETRY_AFTER};

/// How long a push may take by default (connect, send, answer).
pub const DEFAULT_PUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// The most of a gateway's error body kept in [`PushError::Rejected`].
const MAX_ERROR_BODY: usize = 4096;

/// A Prometheus Pushgateway group: where to push, and the grouping key.
/// Built with [`Pushgateway::builder`].
///
/// Calls block (on the calling thread, over a connection kept between
/// them); call them
/// from a plain thread, or from `spawn_blocking` in an async program (from
/// an async task they return [`PushError::InsideRuntime`]).
pub struct Pushgateway {
    conn: Conn,
    /// `/metrics/job/<job>{/<label>/<value>}`, encoded.
    group_path: String,
    authorization: Option<String>,
    /// The pushed body, kept between pushes.
    body: std::sync::Mutex<Vec<u8>>,
    /// Text 0.0.4 or protobuf.
    format: crate::Format,
}

/// What every push client holds: where the server is, how long a call may
/// take, and the client that makes its blocking calls.
struct Conn {
    /// Also the client's, here for URLs without taking its lock.
    endpoint: client::Endpoint,
    timeout: Duration,
    /// The endpoint, its kept connection and buffers: one exchange at a
    /// time.
    client: std::sync::Mutex<client::Client>,
}

/// The TLS settings a builder collects (nothing without the `tls`
/// feature).
#[cfg(feature = "tls")]
type TlsSettings = tls::TlsSettings;
#[cfg(not(feature = "tls"))]
type TlsSettings = ();

impl Conn {
    /// Checks `url` and `timeout`, and makes the TLS configuration of an
    /// `https` URL.
    fn new(url: &str, timeout: Duration, tls: &TlsSettings) -> Result<Conn, PushError> {
        let endpoint = client::Endpoint::parse(url).map_err(|reason| PushError::InvalidUrl {
            url: url.to_string(),
            reason,
        })?;
        if timeout.is_zero() || timeout > Duration::from_secs(3600) {
            return Err(PushError::InvalidTimeout { timeout });
        }
        #[cfg(feature = "tls")]
        let tls = match endpoint.tls {
            true => Some(tls::Tls::new(tls)?),
            false => None,
        };
        #[cfg(not(feature = "tls"))]
        let () = *tls;
        Ok(Conn {
            endpoint: endpoint.clone(),
            timeout,
            client: std::sync::Mutex::new(client::Client::new(
                endpoint,
                #[cfg(feature = "tls")]
                tls,
            )),
        })
    }

    fn client(&self) -> std::sync::MutexGuard<'_, client::Client> {
        // A panic inside an exchange leaves no connection behind (the
        // exchange takes it out first and puts it back only after a whole
        // answer), and every buffer is cleared before use.
        self.client.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One exchange under the timeout; a status outside 2xx is
    /// [`PushError::Rejected`] with the server's reason.
    fn exchange(&self, request: client::Request<'_>) -> Result<(), PushError> {
        self.exchange_within(request, None)
    }

    /// [`Conn::exchange`] under the timeout or `budget`, the shorter.
    fn exchange_within(
        &self,
        request: client::Request<'_>,
        budget: Option<Duration>,
    ) -> Result<(), PushError> {
        let timeout = budget.map_or(self.timeout, |b| b.min(self.timeout));
        let mut client = self.client();
        let answer = client.exchange(&request, Instant::now() + timeout, timeout)?;
        match answer.status {
            200..=299 => Ok(()),
            status => {
                let body = String::from_utf8_lossy(answer.body).trim().to_string();
                let retry_after = answer.retry_after;
                Err(PushError::Rejected {
                    url: self.endpoint.url(request.path),
                    status,
                    body,
                    retry_after,
                })
            }
        }
    }
}

impl fmt::Debug for Pushgateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pushgateway")
            .field("url", &self.url())
            .field("basic_auth", &self.authorization.is_some())
            .field("timeout", &self.conn.timeout)
            .finish()
    }
}

/// Configures a [`Pushgateway`]; [`build`](Self::build) checks it all.
#[derive(Debug, Clone)]
pub struct PushgatewayBuilder {
    url: String,
    job: Option<String>,
    grouping: Vec<(String, String)>,
    basic_auth: Option<(String, String)>,
    timeout: Duration,
    format: crate::Format,
}

impl Pushgateway {
    /// A builder for the gateway at `url` (`http://host[:port][/prefix]`,
    /// port 80 when omitted; the gateway's own default port is 9091).
    #[must_use]
    pub fn builder(url: impl Into<String>) -> PushgatewayBuilder {
        PushgatewayBuilder {
            url: url.into(),
            job: None,
            grouping: Vec::new(),
            basic_auth: None,
            timeout: DEFAULT_PUSH_TIMEOUT,
            format: crate::Format::Text,
        }
    }

    /// The group's URL (`http://host:9091/metrics/job/backup/instance/db-3`).
    #[must_use]
    pub fn url(&self) -> String {
        self.conn.endpoint.url(&self.group_path)
    }

    /// Replaces the group with `registry`'s series (HTTP `PUT`): series
    /// the group had and the registry lacks are gone.
    ///
    /// # Errors
    ///
    /// Any [`PushError`]: the gateway unreachable or slow, or refusing
    /// the push (with its reason).
    pub fn push(&self, registry: &Registry) -> Result<(), PushError> {
        self.send("PUT", Some(registry))
    }

    /// Adds `registry`'s series to the group (HTTP `POST`): series of the
    /// same names are replaced, others kept.
    ///
    /// # Errors
    ///
    /// As [`Pushgateway::push`].
    pub fn push_add(&self, registry: &Registry) -> Result<(), PushError> {
        self.send("POST", Some(registry))
    }

    /// Deletes the group from the gateway (HTTP `DELETE`); deleting a
    /// group that does not exist succeeds.
    ///
    /// # Errors
    ///
    /// As [`Pushgateway::push`].
    pub fn delete(&self) -> Result<(), PushError> {
        self.send("DELETE", None)
    }

    fn send(&self, method: &'static str, registry: Option<&Registry>) -> Result<(), PushError> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(PushError::InsideRuntime);
        }
        let mut body = self.body.lock().unwrap_or_else(|e| e.into_inner());
        body.clear();
        if let Some(reg) = registry {
            reg.encode_format(&mut body, self.format);
        }
        let request = client::Request {
            method,
            path: &self.group_path,
            content_type: registry.map(|_| self.format.content_type()),
            authorization: self.authorization.as_deref(),
            headers: &[],
            body: &body,
        };
        self.conn.exchange(request)
    }
}

impl PushgatewayBuilder {
    /// The job's name: the group's `job` label (required).
    #[must_use]
    pub fn job(mut self, job: impl Into<String>) -> Self {
        self.job = Some(job.into());
        self
    }

    /// Adds a grouping label (`instance`, `shard`, ...): part of the
    /// group's key, and a label of every series pushed to it. Values may
    /// hold any text, `/` and the empty string included.
    #[must_use]
    pub fn grouping(mut self, label: impl Into<String>, value: impl Into<String>) -> Self {
        self.grouping.push((label.into(), value.into()));
        self
    }

    /// Sends `Authorization: Basic ...` with every request (the gateway's
    /// `--web.config.file` `basic_auth_users`). Over plain http the
    /// password crosses the network readable: use it on loopback or a
    /// private network, or behind a TLS-terminating proxy.
    #[must_use]
    pub fn basic_auth(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.basic_auth = Some((user.into(), password.into()));
        self
    }

    /// How long one call may take in all (default
    /// [`DEFAULT_PUSH_TIMEOUT`]; more than 0, at most an hour).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The body's format: [`Format::Text`](crate::Format::Text) (0.0.4,
    /// the default) or [`Format::Protobuf`](crate::Format::Protobuf)
    /// (delimited `MetricFamily` messages, as client_golang's `push`
    /// sends them), which carries native histograms whole and exemplars
    /// where the text format has their classic view and none. The
    /// gateway parses no OpenMetrics: [`build`](Self::build) refuses it.
    #[must_use]
    pub fn format(mut self, format: crate::Format) -> Self {
        self.format = format;
        self
    }

    /// Checks the URL, the job and the grouping labels.
    ///
    /// # Errors
    ///
    /// [`PushError::InvalidUrl`], [`PushError::InvalidGrouping`] (no job,
    /// a bad or repeated label name, `job` among the labels),
    /// [`PushError::InvalidTimeout`], or [`PushError::InvalidSetting`]
    /// (the OpenMetrics format).
    pub fn build(self) -> Result<Pushgateway, PushError> {
        if self.format == crate::Format::OpenMetrics {
            return Err(PushError::InvalidSetting {
                setting: "format",
                reason: "the Pushgateway parses text 0.0.4 and protobuf, not OpenMetrics; \
                         give Format::Text or Format::Protobuf"
                    .into(),
            });
        }
        let conn = Conn::new(&self.url, self.timeout, &TlsSettings::default())?;
        let job = match self.job {
            Some(job) if !job.is_empty() => job,
            _ => {
                return Err(PushError::InvalidGrouping {
                    label: "job".into(),
                    reason: "no job was given; call .job(\"name\") with a non-empty name".into(),
                })
            }
        };
        let group_path = format!(
            "{}{}",
            conn.endpoint.base_path(),
            grouping::path(&job, &self.grouping)?
        );
        let authorization = self.basic_auth.map(|(user, password)| {
            format!(
                "Basic {}",
                grouping::base64(format!("{user}:{password}").as_bytes())
            )
        });
        Ok(Pushgateway {
            conn,
            group_path,
            authorization,
            body: std::sync::Mutex::new(Vec::new()),
            format: self.format,
        })
    }
}

/// Why a push could not be configured or did not land. Each message names
/// the problem and what to do.
#[derive(Debug)]
#[non_exhaustive]
pub enum PushError {
    /// The gateway's URL is not `http://host[:port][/prefix]`.
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The job or a grouping label is not acceptable.
    InvalidGrouping {
        /// The label (`job` for the job itself).
        label: String,
        /// Why.
        reason: String,
    },
    /// A header given to a remote-write client is not acceptable.
    InvalidHeader {
        /// The header's name as given.
        name: String,
        /// Why.
        reason: String,
    },
    /// The timeout is zero or over an hour.
    InvalidTimeout {
        /// The timeout given.
        timeout: Duration,
    },
    /// A remote writer's thread could not be started.
    Runtime(io::Error),
    /// Called from inside an async runtime, where a blocking call would
    /// stall it.
    InsideRuntime,
    /// The gateway could not be reached (resolving or connecting).
    Connect {
        /// `host:port`.
        addr: String,
        /// The operating system's error.
        source: io::Error,
    },
    /// The exchange broke off, or the answer was not HTTP.
    Protocol {
        /// The group's URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The whole call took longer than the timeout.
    Timeout {
        /// The group's URL.
        url: String,
        /// The timeout.
        after: Duration,
    },
    /// The gateway or receiver answered with an error status: 400 for
    /// metrics it finds invalid (inconsistent with other groups, out of
    /// order), 401 for missing or wrong credentials, 429 and 5xx for load
    /// or its own trouble.
    Rejected {
        /// The group's URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The gateway's explanation (its response body, cut at 4 KiB).
        body: String,
        /// How long the server asked the client to wait (`Retry-After`
        /// in seconds), if it did.
        retry_after: Option<Duration>,
    },
    /// A CA certificate, client certificate or key that cannot be used
    /// (feature `tls`).
    InvalidTls {
        /// What is wrong with it.
        reason: String,
    },
    /// The TLS handshake failed: the server's certificate is not signed
    /// by a trusted CA or is not for this host, or the server refused the
    /// client's certificate (or wanted one).
    Tls {
        /// The host.
        host: String,
        /// rustls' error.
        source: io::Error,
    },
    /// A remote writer's setting is out of range.
    InvalidSetting {
        /// The builder method.
        setting: &'static str,
        /// What is wrong and what is allowed.
        reason: String,
    },
}

impl fmt::Display for PushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PushError::InvalidUrl { url, reason } => write!(
                f,
                "invalid Pushgateway URL {url:?}: {reason}; give http://host:port (the \
                 gateway listens on 9091 by default)"
            ),
            PushError::InvalidGrouping { label, reason } => {
                write!(f, "invalid Pushgateway grouping label {label:?}: {reason}")
            }
            PushError::InvalidHeader { name, reason } => {
                write!(f, "invalid header {name:?} for remote write: {reason}")
            }
            PushError::InvalidTimeout { timeout } => write!(
                f,
                "invalid push timeout {timeout:?}: give more than 0 and at most an hour"
            ),
            PushError::Runtime(e) => write!(
                f,
                "cannot start the remote writer's thread: {e}; check the process's thread \
                 limits"
            ),
            PushError::InsideRuntime => write!(
                f,
                "Pushgateway calls block, and this one was made from inside an async runtime; \
                 call it from tokio::task::spawn_blocking or a thread of its own"
            ),
            PushError::Connect { addr, source } => write!(
                f,
                "cannot reach the Pushgateway or receiver at {addr}: {source}; check that it \
                 runs and the URL's host and port"
            ),
            PushError::Protocol { url, reason } => {
                write!(f, "the push to {url} failed: {reason}")
            }
            PushError::Timeout { url, after } => write!(
                f,
                "the push to {url} did not finish within {after:?}; the gateway is slow or \
                 unreachable (raise .timeout(..) if it is only slow)"
            ),
            PushError::InvalidTls { reason } => write!(
                f,
                "invalid TLS setting: {reason}; give PEM text (-----BEGIN CERTIFICATE----- \
                 blocks, and a PRIVATE KEY block for a client key)"
            ),
            PushError::Tls { host, source } => write!(
                f,
                "the TLS handshake with {host} failed: {source}; check that the server's \
                 certificate is signed by the CA given (.ca_certificate_pem) and names \
                 this host, and whether it wants a client certificate"
            ),
            PushError::InvalidSetting { setting, reason } => {
                write!(f, "invalid remote-write setting .{setting}(..): {reason}")
            }
            PushError::Rejected {
                url, status, body, ..
            } => {
                let hint = match status {
                    400 => "the server found the metrics invalid or inconsistent with another group's (a Pushgateway: same name, other type or HELP; a remote-write receiver: out-of-order or duplicate samples)",
                    401 | 403 => "the server wants credentials: check .basic_auth(..) or .bearer_token(..)",
                    404 => "no such API at that URL: check its path (a Prometheus receiver needs --web.enable-remote-write-receiver and /api/v1/write)",
                    405 => "the server refuses that method",
                    429 => "the server is rate-limiting; retry later",
                    500..=599 => "the server failed; retry later",
                    _ => "the server refused the request",
                };
                write!(f, "{url} answered {status}: {hint}")?;
                if !body.is_empty() {
                    write!(f, "; it said: {body}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for PushError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PushError::Runtime(e)
            | PushError::Connect { source: e, .. }
            | PushError::Tls { source: e, .. } => Some(e),
            _ => None,
        }
    }
}
