//! The HTTP surfaces: `/metrics`, `/health` + `/ready`, and a loopback admin
//! console, on a minimal hyper 1.x HTTP/1.1 server.
//!
//! | surface | default bind | paths |
//! |---|---|---|
//! | metrics | `0.0.0.0:9090` | `/metrics` (GET, HEAD; gzip when asked; concurrent scrapes share one encode) |
//! | health | `0.0.0.0:8080` | `/health` (`200 {"status":"ok"}`), `/ready` (200/503, the nexo-rs seed's bodies), and the host's own routes ([`ExporterBuilder::route`]) |
//! | admin | `127.0.0.1:9091` | `/admin/...` JSON pages the host registers, `/admin/metrics-summary`, `/admin/` (index) |
//!
//! By default the servers run on a thread of their own with a current-thread
//! tokio runtime, so the host's threads never serve a scrape; with
//! [`ExporterBuilder::runtime`] they run on the host's runtime instead. Either
//! way, encodes run on one thread of their own, `telemeter-encode`, started at
//! the first scrape and parked between scrapes, and admin pages on the
//! runtime's blocking pool: neither ever runs on an async worker. A
//! steady-state scrape allocates nothing, over HTTP included.
//!
//! Every surface refuses what it does not serve: methods other than GET and
//! HEAD get `405` with `Allow: GET, HEAD` (a host route: the methods it
//! takes), unknown paths `404`, request bodies `413` (a host route: bodies
//! over its [`Route::max_body_bytes`]), request heads over [`ExporterBuilder::max_header_bytes`] `431`; a
//! client that is slow to send its headers is disconnected after
//! [`ExporterBuilder::header_read_timeout`], one that stops reading its
//! response after [`ExporterBuilder::write_timeout`], one that sends no byte
//! at all after [`ExporterBuilder::first_byte_timeout`]. At
//! [`ExporterBuilder::max_connections`] a new connection evicts an idle one
//! (the oldest silent one, else the longest idle between keep-alive
//! requests; never one with a request or response in progress), and is
//! closed on accept only when every connection is busy; both are counted.
//! So a flood of idle connections cannot lock a scraper or a probe out.
//! An HTTP/1.1 request without a `Host` header, or any with two, gets `400`
//! (RFC 9112); the admin console answers only a `Host` that is a loopback
//! name (`localhost`, `127.0.0.0/8`, `[::1]`, any port) or one given to
//! [`ExporterBuilder::admin_host`], anything else `421` with a JSON error,
//! so that a web page cannot read it through DNS rebinding.
//! Connections accept half-closes: a client that shuts down its write side
//! after its request still gets its response, and a client that goes away
//! while its scrape is being encoded is noticed when the response is
//! written (the encode itself is shared with concurrent scrapes, so little
//! is wasted). Watching for that EOF instead cost every request a new 8 KB
//! read buffer.
//!
//! # Examples
//!
//! ```
//! use std::sync::Arc;
//! use std::io::{Read, Write};
//! use telemeter::server::{Exporter, MetricsSource};
//!
//! struct Hello;
//! impl MetricsSource for Hello {
//!     fn encode(&self, buf: &mut Vec<u8>) {
//!         buf.extend_from_slice(b"# TYPE hello_total counter\nhello_total 1\n");
//!     }
//!     fn summary_json(&self) -> serde_json::Value {
//!         serde_json::json!({ "families": 1 })
//!     }
//! }
//!
//! let handle = Exporter::builder()
//!     .source(Arc::new(Hello))
//!     .metrics_addr("127.0.0.1:0") // port 0: the OS picks one
//!     .health_addr("127.0.0.1:0")
//!     .admin_addr("127.0.0.1:0")
//!     .ready_check("broker_ready", || true)
//!     .admin_page("/admin/agents", || serde_json::json!({ "agents": [] }))
//!     .start()?;
//! handle.set_started();
//!
//! let get = |addr: std::net::SocketAddr, path: &str| -> String {
//!     let mut s = std::net::TcpStream::connect(addr).unwrap();
//!     write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
//!     let mut out = String::new();
//!     s.read_to_string(&mut out).unwrap();
//!     out
//! };
//! let metrics = get(handle.metrics_addr().unwrap(), "/metrics");
//! assert!(metrics.starts_with("HTTP/1.1 200 OK"));
//! assert!(metrics.contains("hello_total 1\n"));
//! let ready = get(handle.health_addr().unwrap(), "/ready");
//! assert!(ready.ends_with(r#"{"status":"ready"}"#));
//!
//! handle.shutdown(); // /ready turns 503, then the listeners close
//! # Ok::<(), telemeter::server::ServerError>(())
//! ```
#![forbid(unsafe_code)]

mod addr;
mod admin;
mod body;
mod conns;
mod error;
mod exporter;
mod gzip;
mod host;
mod io;
mod query;
mod readiness;
mod route;
mod router;
mod scrape;
mod serve;
mod signal;
mod source;
mod stats;
mod surface;
mod timer;

pub use admin::{AdminError, AdminRequest};
pub use error::ServerError;
pub use exporter::{
    Exporter, ExporterBuilder, ExporterHandle, DEFAULT_ADMIN_ADDR, DEFAULT_DRAIN,
    DEFAULT_FIRST_BYTE_TIMEOUT, DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_HEALTH_ADDR,
    DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_HEADER_BYTES, DEFAULT_METRICS_ADDR,
    DEFAULT_SHUTDOWN_TIMEOUT, DEFAULT_WRITE_TIMEOUT,
};
pub use query::{Query, QueryError};
pub use readiness::Readiness;
pub use route::{HostRequest, HostResponse, Route, DEFAULT_MAX_BODY_BYTES, MAX_BODY_BYTES_LIMIT};
pub use signal::ShutdownSignal;
pub use source::{MetricsSource, CONTENT_TYPE_TEXT};
pub use stats::Stats;
pub use surface::Surface;

/// The HTTP types that [`Route`], [`HostRequest`] and [`HostResponse`]
/// speak, re-exported from `http` (through hyper) so that a host needs no
/// dependency of its own on either.
pub use hyper::{header, header::HeaderMap, header::HeaderName, header::HeaderValue, Method};

/// How often the header-read timer has had to leave its shared
/// per-connection sleep for a sleep of its own, because hyper used it in a
/// way it does not expect (see `src/server/timer.rs`). Zero with the hyper
/// version this crate is tested against; for tests, not API.
#[doc(hidden)]
pub fn header_timer_fallbacks() -> u64 {
    timer::fallbacks()
}
