//! The exporter's top: the builder that checks a configuration, binds the
//! listeners and starts serving, and the handle that stops it.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::{Handle, Runtime};
use tokio::sync::{oneshot, watch};

use super::addr::parse_listen_addr;
use super::admin::{AdminError, AdminRequest};
use super::error::ServerError;
use super::readiness::Readiness;
use super::route::{HostRequest, HostResponse, Route, Routes};
use super::router::{PageFn, Router, Shared, METRICS_SUMMARY_PATH};
use super::scrape::Scraper;
use super::serve::{bind, http_builder, supervise, ConnConfig};
use super::source::{MetricsSource, RegistrySource};
use super::stats::{Stats, StatsInner};
use super::surface::Surface;

/// Default metrics listen address (the nexo-rs seed's `:9090` on every interface).
pub const DEFAULT_METRICS_ADDR: &str = "0.0.0.0:9090";
/// Default health/readiness listen address (the nexo-rs seed's `:8080`).
pub const DEFAULT_HEALTH_ADDR: &str = "0.0.0.0:8080";
/// Default admin console listen address (loopback only, as in the nexo-rs seed).
pub const DEFAULT_ADMIN_ADDR: &str = "127.0.0.1:9091";
/// Default time between `/ready` turning 503 and the listeners closing: zero,
/// so that dropping a handle returns at once; set it with
/// [`ExporterBuilder::drain`] to at least your readiness probe period in
/// production.
pub const DEFAULT_DRAIN: Duration = Duration::ZERO;
/// Default time in-flight requests get to finish once the listeners close.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);
/// Default time a client has to send a request's headers (also the idle
/// timeout of a kept-alive connection).
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time a response write may make no progress (the client not
/// reading) before the connection is dropped.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default limit on a request's start line plus headers, in bytes.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 16 * 1024;
/// Default limit on concurrent connections, per listener.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Default time a new connection may stay silent (send no byte) before it
/// is closed.
pub const DEFAULT_FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(2);

/// Namespace for [`Exporter::builder`]: the HTTP surfaces a host program runs
/// once, for the life of the process.
///
/// See the [module documentation](super) for an example.
#[derive(Debug, Clone, Copy)]
pub struct Exporter;

impl Exporter {
    /// A builder with the defaults: metrics on [`DEFAULT_METRICS_ADDR`],
    /// health on [`DEFAULT_HEALTH_ADDR`], admin on [`DEFAULT_ADMIN_ADDR`], its
    /// own thread and runtime.
    pub fn builder() -> ExporterBuilder {
        ExporterBuilder::new()
    }
}

/// Configures and starts an [`Exporter`].
///
/// Methods take and return the builder by value, so calls chain; nothing is
/// bound until [`start`](Self::start), which reports every mistake as a
/// [`ServerError`].
pub struct ExporterBuilder {
    source: Option<Arc<dyn MetricsSource>>,
    metrics_addr: String,
    health_addr: String,
    admin_addr: String,
    allow_non_loopback_admin: bool,
    admin_hosts: Vec<String>,
    runtime: Option<Handle>,
    drain: Duration,
    shutdown_timeout: Duration,
    header_read_timeout: Duration,
    write_timeout: Duration,
    max_header_bytes: usize,
    max_connections: usize,
    max_connections_per_peer: Option<usize>,
    first_byte_timeout: Duration,
    readiness: Readiness,
    started: bool,
    admin_pages: BTreeMap<String, PageFn>,
    routes: Routes,
    self_metrics: bool,
    error: Option<ServerError>,
}

impl fmt::Debug for ExporterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExporterBuilder")
            .field("has_source", &self.source.is_some())
            .field("metrics_addr", &self.metrics_addr)
            .field("health_addr", &self.health_addr)
            .field("admin_addr", &self.admin_addr)
            .field("allow_non_loopback_admin", &self.allow_non_loopback_admin)
            .field("admin_hosts", &self.admin_hosts)
            .field("host_runtime", &self.runtime.is_some())
            .field("drain", &self.drain)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("write_timeout", &self.write_timeout)
            .field("max_header_bytes", &self.max_header_bytes)
            .field("max_connections", &self.max_connections)
            .field("max_connections_per_peer", &self.max_connections_per_peer)
            .field("first_byte_timeout", &self.first_byte_timeout)
            .field("readiness", &self.readiness)
            .field("started", &self.started)
            .field("admin_pages", &self.admin_pages.keys().collect::<Vec<_>>())
            .field("routes", &self.routes.describe())
            .field("self_metrics", &self.self_metrics)
            .finish()
    }
}

impl Default for ExporterBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ExporterBuilder {
    /// Same as [`Exporter::builder`].
    pub fn new() -> Self {
        ExporterBuilder {
            source: None,
            metrics_addr: DEFAULT_METRICS_ADDR.to_string(),
            health_addr: DEFAULT_HEALTH_ADDR.to_string(),
            admin_addr: DEFAULT_ADMIN_ADDR.to_string(),
            allow_non_loopback_admin: false,
            admin_hosts: Vec::new(),
            runtime: None,
            drain: DEFAULT_DRAIN,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_peer: None,
            first_byte_timeout: DEFAULT_FIRST_BYTE_TIMEOUT,
            readiness: Readiness::new(),
            started: false,
            admin_pages: BTreeMap::new(),
            routes: Routes::default(),
            self_metrics: true,
            error: None,
        }
    }

    fn keep_first_error(&mut self, r: Result<(), ServerError>) {
        if let Err(e) = r {
            self.error.get_or_insert(e);
        }
    }

    /// What `/metrics` serves (and `/admin/metrics-summary` summarises).
    pub fn source(mut self, source: Arc<dyn MetricsSource>) -> Self {
        self.source = Some(source);
        self
    }

    /// Serves a core [`Registry`](crate::Registry): `/metrics` is its
    /// [`encode`](crate::Registry::encode), `/admin/metrics-summary` its
    /// [`summary`](crate::Registry::summary). Without this or
    /// [`source`](Self::source), the exporter serves
    /// [`default_registry`](crate::default_registry).
    pub fn registry(self, registry: crate::Registry) -> Self {
        self.source(Arc::new(RegistrySource(registry)))
    }

    /// Address of the metrics server (`/metrics`): `"host:port"`, `":port"`
    /// (every interface), port 0 for an OS-chosen port, or `""` to disable it.
    pub fn metrics_addr(mut self, addr: impl Into<String>) -> Self {
        self.metrics_addr = addr.into();
        self
    }

    /// Address of the health server (`/health`, `/ready`); same forms as
    /// [`metrics_addr`](Self::metrics_addr). Given the same non-zero-port
    /// address as another surface, the two share one listener.
    pub fn health_addr(mut self, addr: impl Into<String>) -> Self {
        self.health_addr = addr.into();
        self
    }

    /// Address of the admin console (`/admin/...`); same forms as
    /// [`metrics_addr`](Self::metrics_addr). Must be a loopback address unless
    /// [`allow_non_loopback_admin`](Self::allow_non_loopback_admin) is set.
    pub fn admin_addr(mut self, addr: impl Into<String>) -> Self {
        self.admin_addr = addr.into();
        self
    }

    /// Disables the metrics server (same as `metrics_addr("")`).
    pub fn no_metrics(self) -> Self {
        self.metrics_addr("")
    }

    /// Disables the health server (same as `health_addr("")`).
    pub fn no_health(self) -> Self {
        self.health_addr("")
    }

    /// Disables the admin console (same as `admin_addr("")`).
    pub fn no_admin(self) -> Self {
        self.admin_addr("")
    }

    /// Lets the admin console listen on a non-loopback address. Its pages
    /// expose internal state: only do this behind a firewall or an
    /// authenticating proxy.
    pub fn allow_non_loopback_admin(mut self, allow: bool) -> Self {
        self.allow_non_loopback_admin = allow;
        self
    }

    /// Lets the admin console answer requests whose `Host` is `name` (any
    /// port), besides the loopback names it always answers to
    /// (`localhost`, `127.0.0.0/8`, `[::1]`). Any other `Host` gets 421
    /// with a JSON error: a web page that reaches the console's port
    /// through DNS rebinding sends its own name. Use it for the name an
    /// authenticating proxy or tunnel forwards with.
    pub fn admin_host(mut self, name: impl Into<String>) -> Self {
        self.admin_hosts.push(name.into().to_ascii_lowercase());
        self
    }

    /// Serves on the host's tokio runtime instead of the exporter's own thread.
    ///
    /// The runtime needs its IO and time drivers enabled. Connections are
    /// served on its workers; admin pages run on its blocking pool, and
    /// encodes on the exporter's encode thread (started at the first
    /// scrape), never on a worker.
    pub fn runtime(mut self, handle: Handle) -> Self {
        self.runtime = Some(handle);
        self
    }

    /// How long `/ready` answers 503 before the listeners close at shutdown,
    /// so that orchestrators stop routing traffic first. Default
    /// [`DEFAULT_DRAIN`] (zero); use at least your readiness probe period in
    /// production (e.g. 5 s for Kubernetes' `periodSeconds: 5`).
    pub fn drain(mut self, drain: Duration) -> Self {
        self.drain = drain;
        self
    }

    /// How long in-flight requests get to finish once the listeners close;
    /// connections still open after it are dropped. Default
    /// [`DEFAULT_SHUTDOWN_TIMEOUT`].
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// How long a client has to send a complete request head, and how long a
    /// kept-alive connection may sit idle. Default
    /// [`DEFAULT_HEADER_READ_TIMEOUT`].
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// How long writing a response may make no progress — the client not
    /// reading it — before the connection is dropped. Default
    /// [`DEFAULT_WRITE_TIMEOUT`].
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = timeout;
        self
    }

    /// Largest request head (start line and headers) accepted, in bytes; a
    /// larger one gets `431` and a closed connection. At least 1024. Default
    /// [`DEFAULT_MAX_HEADER_BYTES`].
    pub fn max_header_bytes(mut self, bytes: usize) -> Self {
        self.max_header_bytes = bytes;
        self
    }

    /// Most connections each listener serves at once. At the limit a new
    /// connection evicts an idle one rather than be refused: first the one
    /// that has waited longest without sending a complete request, then
    /// the one idle longest between keep-alive requests (counted in
    /// [`Stats::connections_evicted`]); a connection with a request or
    /// response in progress is never evicted. Only when every connection is
    /// busy is the new one closed at accept (counted in
    /// [`Stats::connections_rejected`]). So a flood of idle connections
    /// cannot lock a scraper or a probe out. Default
    /// [`DEFAULT_MAX_CONNECTIONS`].
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = max;
        self
    }

    /// Most connections one peer address may hold on each listener; more
    /// are closed at accept (counted in
    /// [`Stats::connections_rejected_per_peer`]). Off by default: a
    /// scraper, a load balancer or a NAT gateway may rightly hold many.
    pub fn max_connections_per_peer(mut self, max: usize) -> Self {
        self.max_connections_per_peer = Some(max);
        self
    }

    /// How long a new connection may send nothing at all before it is
    /// closed, separate from (and shorter than) the header-read timeout,
    /// which bounds a request that has begun. Default
    /// [`DEFAULT_FIRST_BYTE_TIMEOUT`].
    pub fn first_byte_timeout(mut self, timeout: Duration) -> Self {
        self.first_byte_timeout = timeout;
        self
    }

    /// Registers a readiness check (see [`Readiness::add_check`]).
    pub fn ready_check<F>(mut self, name: &str, check: F) -> Self
    where
        F: Fn() -> bool + Send + Sync + 'static,
    {
        let r = self.readiness.add_check(name, check);
        self.keep_first_error(r);
        self
    }

    /// Registers a readiness fact (see [`Readiness::add_fact`]).
    pub fn ready_fact<F>(mut self, name: &str, fact: F) -> Self
    where
        F: Fn() -> i64 + Send + Sync + 'static,
    {
        let r = self.readiness.add_fact(name, fact);
        self.keep_first_error(r);
        self
    }

    /// Registers a readiness fact that gates readiness (see
    /// [`Readiness::add_fact_at_least`]).
    pub fn ready_fact_at_least<F>(mut self, name: &str, min: i64, fact: F) -> Self
    where
        F: Fn() -> i64 + Send + Sync + 'static,
    {
        let r = self.readiness.add_fact_at_least(name, min, fact);
        self.keep_first_error(r);
        self
    }

    /// Whether the host counts as started from the beginning. Default
    /// `false`: `/ready` answers 503 until [`ExporterHandle::set_started`].
    pub fn started(mut self, started: bool) -> Self {
        self.started = started;
        self
    }

    /// Registers a JSON page on the admin console. `path` starts with
    /// `/admin/`; the closure runs on a blocking thread at each request, and
    /// a panic in it is served as 500. A page that reads its query uses
    /// [`ExporterBuilder::admin_handler`].
    pub fn admin_page<F>(self, path: &str, page: F) -> Self
    where
        F: Fn() -> serde_json::Value + Send + Sync + 'static,
    {
        self.admin_handler(path, move |_: &AdminRequest| Ok(page()))
    }

    /// Registers an admin page that sees its request ([`AdminRequest`]:
    /// method, path, decoded query) and may refuse it with an
    /// [`AdminError`] (404, 400), served as `{"error": message}`. A query
    /// that does not decode (a bad `%` escape, text that is not UTF-8) is
    /// answered 400 before the handler runs. Otherwise as
    /// [`ExporterBuilder::admin_page`].
    pub fn admin_handler<F>(mut self, path: &str, page: F) -> Self
    where
        F: Fn(&AdminRequest) -> Result<serde_json::Value, AdminError> + Send + Sync + 'static,
    {
        let reason = if !path.starts_with("/admin/") || path.len() == "/admin/".len() {
            Some("it must start with \"/admin/\" and name a page")
        } else if path
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || b == b'?' || b == b'#')
        {
            Some("it must not contain whitespace, control characters, '?' or '#'")
        } else if path == METRICS_SUMMARY_PATH {
            Some("it is the built-in metrics summary")
        } else if self.admin_pages.contains_key(path) {
            Some("it is already registered")
        } else {
            None
        };
        match reason {
            Some(reason) => self.keep_first_error(Err(ServerError::InvalidAdminPath {
                path: path.to_string(),
                reason,
            })),
            None => {
                self.admin_pages.insert(path.to_string(), Arc::new(page));
            }
        }
        self
    }

    /// Serves `route` on the `surface` listener ([`Surface::Health`] or
    /// [`Surface::Metrics`]) with `handler`: a host's own pages and
    /// endpoints beside `/health` and `/ready` (the nexo-rs seed's
    /// `/whatsapp/` pairing pages) or beside `/metrics`.
    ///
    /// The handler sees the method, path, decoded query, headers and body
    /// ([`HostRequest`]) and returns status, headers and body
    /// ([`HostResponse`]); it runs on a blocking thread, never an async
    /// worker. The listener's hardening applies to it as to every path:
    /// the header-read timeout (which also bounds how long the body may
    /// take to arrive, else `408`), the header size and connection limits,
    /// the route's body limit (`413`), and a panic in the handler is a
    /// `500` counted in [`Stats::handler_failures`], never a dead listener.
    /// Built-in paths come first and cannot be taken. A route on a surface
    /// that is disabled is not served.
    ///
    /// A route that cannot be registered (a built-in or console path, a
    /// prefix without a trailing `/`, a path already routed on that
    /// surface, the admin surface, a body limit over
    /// [`MAX_BODY_BYTES_LIMIT`](super::MAX_BODY_BYTES_LIMIT)) makes
    /// [`start`](Self::start) fail with [`ServerError::InvalidRoute`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use telemeter::server::{Exporter, HostResponse, Route, Surface};
    ///
    /// let handle = Exporter::builder()
    ///     .no_metrics()
    ///     .no_admin()
    ///     .health_addr("127.0.0.1:0")
    ///     .route(Surface::Health, Route::prefix("/whatsapp/"), |req| {
    ///         HostResponse::html(format!("<p>pairing page for {}</p>", req.path()))
    ///     })
    ///     .start()?;
    /// let mut s = std::net::TcpStream::connect(handle.health_addr().unwrap())?;
    /// write!(s, "GET /whatsapp/kate HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
    /// let mut out = String::new();
    /// s.read_to_string(&mut out)?;
    /// assert!(out.starts_with("HTTP/1.1 200 OK"));
    /// assert!(out.ends_with("<p>pairing page for /whatsapp/kate</p>"));
    ///
    /// let refused = Exporter::builder().route(Surface::Health, Route::exact("/ready"), |_| {
    ///     HostResponse::text("mine")
    /// });
    /// assert!(matches!(
    ///     refused.start(),
    ///     Err(telemeter::server::ServerError::InvalidRoute { .. })
    /// ));
    /// handle.shutdown();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn route<F>(mut self, surface: Surface, route: Route, handler: F) -> Self
    where
        F: Fn(&HostRequest) -> HostResponse + Send + Sync + 'static,
    {
        let added =
            self.routes
                .add(surface, route, Arc::new(handler))
                .map_err(|(route, reason)| ServerError::InvalidRoute {
                    surface,
                    path: route.path().to_string(),
                    reason,
                });
        self.keep_first_error(added);
        self
    }

    /// Whether `/metrics` ends with the exporter's own `telemeter_http_*`
    /// families (connections rejected, scrapes, encodes, active connections).
    /// Default `true`.
    pub fn self_metrics(mut self, on: bool) -> Self {
        self.self_metrics = on;
        self
    }

    /// Binds every enabled surface and starts serving.
    ///
    /// Binding happens before this returns, so port conflicts are reported
    /// here and [`ExporterHandle`] knows the bound addresses.
    ///
    /// # Errors
    ///
    /// Any [`ServerError`]: a bad address, a failed bind, a non-loopback
    /// admin address, an invalid page or readiness name, a missing source, a
    /// refused limit, or no runtime or thread.
    pub fn start(mut self) -> Result<ExporterHandle, ServerError> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        if self.max_connections == 0 {
            return Err(ServerError::InvalidLimit {
                setting: "max_connections",
                reason: "0 would refuse every connection; give at least 1".to_string(),
            });
        }
        if self.max_connections_per_peer == Some(0) {
            return Err(ServerError::InvalidLimit {
                setting: "max_connections_per_peer",
                reason: "0 would refuse every connection; give at least 1".to_string(),
            });
        }
        if self.first_byte_timeout.is_zero() {
            return Err(ServerError::InvalidLimit {
                setting: "first_byte_timeout",
                reason: "0 would drop every connection; give a positive duration".to_string(),
            });
        }
        if self.max_header_bytes < 1024 {
            return Err(ServerError::InvalidLimit {
                setting: "max_header_bytes",
                reason: format!(
                    "{} bytes is too small for an ordinary request; give at least 1024",
                    self.max_header_bytes
                ),
            });
        }
        if self.header_read_timeout.is_zero() {
            return Err(ServerError::InvalidLimit {
                setting: "header_read_timeout",
                reason: "0 would drop every connection; give a positive duration".to_string(),
            });
        }
        if self.write_timeout.is_zero() {
            return Err(ServerError::InvalidLimit {
                setting: "write_timeout",
                reason: "0 would drop every response; give a positive duration".to_string(),
            });
        }
        let metrics = parse_listen_addr(Surface::Metrics, &self.metrics_addr)?;
        let health = parse_listen_addr(Surface::Health, &self.health_addr)?;
        let admin = parse_listen_addr(Surface::Admin, &self.admin_addr)?;
        if let Some(a) = admin {
            if !a.ip().to_canonical().is_loopback() && !self.allow_non_loopback_admin {
                return Err(ServerError::NonLoopbackAdmin { addr: a });
            }
        }
        if metrics.is_some() && self.source.is_none() {
            #[cfg(not(telemeter_loom))]
            {
                self = self.registry(crate::default_registry().clone());
            }
            #[cfg(telemeter_loom)]
            return Err(ServerError::NoSource);
        }

        // Group surfaces by address: equal addresses with a fixed port share
        // a listener; port 0 always gets a listener of its own.
        let mut groups: Vec<(SocketAddr, Vec<Surface>)> = Vec::new();
        for (surface, addr) in [
            (Surface::Metrics, metrics),
            (Surface::Health, health),
            (Surface::Admin, admin),
        ] {
            let Some(addr) = addr else { continue };
            match groups
                .iter_mut()
                .find(|(a, _)| *a == addr && addr.port() != 0)
            {
                Some((_, surfaces)) => surfaces.push(surface),
                None => groups.push((addr, vec![surface])),
            }
        }

        let own_runtime: Option<Runtime> = match &self.runtime {
            Some(_) => None,
            None => Some(
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .thread_name("telemeter-exporter-blocking")
                    .max_blocking_threads(4)
                    .build()
                    .map_err(ServerError::Runtime)?,
            ),
        };
        let handle = match (&own_runtime, &self.runtime) {
            (Some(rt), _) => rt.handle().clone(),
            (None, Some(h)) => h.clone(),
            (None, None) => unreachable!("one of the two is set"),
        };

        let stats = Arc::new(StatsInner::default());
        let scraper = match (&metrics, self.source.take()) {
            (Some(_), Some(source)) => Some(Arc::new(Scraper::new(
                source,
                Arc::clone(&stats),
                self.self_metrics,
            ))),
            _ => None,
        };
        let shared = Arc::new(Shared {
            scraper,
            readiness: self.readiness.clone(),
            admin_pages: std::mem::take(&mut self.admin_pages),
            routes: std::mem::take(&mut self.routes),
            body_timeout: self.header_read_timeout,
            stats: Arc::clone(&stats),
            admin_hosts: std::mem::take(&mut self.admin_hosts),
            blocking: handle.clone(),
        });

        // Bind under the runtime so the listeners register with its reactor.
        let mut listeners = Vec::with_capacity(groups.len());
        let (mut metrics_bound, mut health_bound, mut admin_bound) = (None, None, None);
        {
            let _enter = handle.enter();
            for (addr, surfaces) in groups {
                let listener = bind(addr).map_err(|source| ServerError::Bind {
                    surfaces: surfaces.clone(),
                    addr,
                    source,
                })?;
                let local = listener.local_addr().map_err(|source| ServerError::Bind {
                    surfaces: surfaces.clone(),
                    addr,
                    source,
                })?;
                for s in &surfaces {
                    match s {
                        Surface::Metrics => metrics_bound = Some(local),
                        Surface::Health => health_bound = Some(local),
                        Surface::Admin => admin_bound = Some(local),
                    }
                }
                let router = Arc::new(Router {
                    shared: Arc::clone(&shared),
                    metrics: surfaces.contains(&Surface::Metrics),
                    health: surfaces.contains(&Surface::Health),
                    admin: surfaces.contains(&Surface::Admin),
                });
                listeners.push((listener, router));
            }
        }

        if self.started {
            self.readiness.set_started();
        }

        let conn_cfg = Arc::new(ConnConfig {
            http: http_builder(self.header_read_timeout, self.max_header_bytes),
            max_connections: self.max_connections,
            max_connections_per_peer: self.max_connections_per_peer,
            first_byte_timeout: self.first_byte_timeout,
            write_timeout: self.write_timeout,
            shutdown_timeout: self.shutdown_timeout,
            stats: Arc::clone(&stats),
        });

        let (stop_tx, stop_rx) = watch::channel(false);
        let (done_tx, done_rx) = oneshot::channel();
        let supervisor = supervise(
            listeners,
            conn_cfg,
            self.readiness.clone(),
            self.drain,
            stop_rx,
            done_tx,
        );
        let thread = match own_runtime {
            Some(rt) => Some(
                std::thread::Builder::new()
                    .name("telemeter-exporter".to_string())
                    .spawn(move || {
                        rt.block_on(supervisor);
                        // Detach an encode still running: it only computes.
                        rt.shutdown_background();
                    })
                    .map_err(ServerError::Thread)?,
            ),
            None => {
                drop(handle.spawn(supervisor));
                None
            }
        };

        Ok(ExporterHandle {
            metrics_addr: metrics_bound,
            health_addr: health_bound,
            admin_addr: admin_bound,
            readiness: self.readiness,
            stats,
            stop_tx,
            done_rx: Some(done_rx),
            thread,
            stopped: false,
        })
    }
}

/// The running exporter. Dropping it, or calling
/// [`shutdown`](Self::shutdown), stops every server gracefully: `/ready`
/// turns 503, the drain period passes, the listeners close, in-flight
/// requests finish (up to the shutdown timeout).
#[must_use = "dropping the handle shuts the exporter down"]
pub struct ExporterHandle {
    metrics_addr: Option<SocketAddr>,
    health_addr: Option<SocketAddr>,
    admin_addr: Option<SocketAddr>,
    readiness: Readiness,
    stats: Arc<StatsInner>,
    stop_tx: watch::Sender<bool>,
    done_rx: Option<oneshot::Receiver<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    stopped: bool,
}

impl fmt::Debug for ExporterHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExporterHandle")
            .field("metrics_addr", &self.metrics_addr)
            .field("health_addr", &self.health_addr)
            .field("admin_addr", &self.admin_addr)
            .field("readiness", &self.readiness)
            .field("own_thread", &self.thread.is_some())
            .field("stopped", &self.stopped)
            .finish()
    }
}

impl ExporterHandle {
    /// The bound address serving `/metrics`, if enabled.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The bound address serving `/health` and `/ready`, if enabled.
    pub fn health_addr(&self) -> Option<SocketAddr> {
        self.health_addr
    }

    /// The bound address serving the admin console, if enabled.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    /// The readiness state behind `/ready`: add or remove checks and facts
    /// while running.
    pub fn readiness(&self) -> &Readiness {
        &self.readiness
    }

    /// Writes one `<surface> listening on http://<addr><path>` line per
    /// enabled surface (`metrics`, `health`, `ready`, `admin`), the lines
    /// `telemeter demo` and the seed examples print on start so that
    /// scripts and tests can find OS-chosen ports.
    ///
    /// ```
    /// let handle = telemeter::Exporter::builder()
    ///     .registry(telemeter::Registry::new())
    ///     .metrics_addr("127.0.0.1:0")
    ///     .no_health()
    ///     .no_admin()
    ///     .start()?;
    /// let mut out = Vec::new();
    /// handle.announce(&mut out)?;
    /// let text = String::from_utf8(out)?;
    /// let port = handle.metrics_addr().unwrap().port();
    /// assert_eq!(text, format!("metrics listening on http://127.0.0.1:{port}/metrics\n"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn announce(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        let surfaces = [
            ("metrics", self.metrics_addr, "/metrics"),
            ("health", self.health_addr, "/health"),
            ("ready", self.health_addr, "/ready"),
            ("admin", self.admin_addr, "/admin/agents"),
        ];
        for (surface, addr, path) in surfaces {
            if let Some(a) = addr {
                writeln!(out, "{surface} listening on http://{a}{path}")?;
            }
        }
        out.flush()
    }

    /// Marks the host as started: `/ready` may now answer 200.
    pub fn set_started(&self) {
        self.readiness.set_started();
    }

    /// The exporter's own counters.
    pub fn stats(&self) -> Stats {
        self.stats.snapshot()
    }

    fn trigger(&mut self) {
        self.stopped = true;
        // 503 at once, even before the server thread sees the signal.
        self.readiness.begin_shutdown();
        self.stop_tx.send_replace(true);
    }

    fn stop_and_wait(&mut self) {
        if self.stopped {
            return;
        }
        self.trigger();
        if let Some(thread) = self.thread.take() {
            // The exporter's own thread needs nothing from the caller's
            // runtime, so joining it is safe anywhere.
            let _ = thread.join();
        } else if let Some(done) = self.done_rx.take() {
            // On a host runtime, blocking inside it could deadlock: wait only
            // when called from outside any runtime.
            if Handle::try_current().is_err() {
                let _ = done.blocking_recv();
            }
        }
    }

    /// Stops every server gracefully and waits until they have stopped:
    /// `/ready` turns 503 at once, the drain period passes, the listeners
    /// close, and in-flight requests finish (up to the shutdown timeout).
    ///
    /// With [`ExporterBuilder::runtime`], called from inside an async
    /// context, it starts the shutdown and returns without waiting (blocking
    /// there could deadlock the runtime): await
    /// [`shutdown_async`](Self::shutdown_async) instead.
    pub fn shutdown(mut self) {
        self.stop_and_wait();
    }

    /// Stops every server gracefully, waiting asynchronously; usable from any
    /// runtime.
    pub async fn shutdown_async(mut self) {
        if self.stopped {
            return;
        }
        self.trigger();
        if let Some(done) = self.done_rx.take() {
            let _ = done.await;
        }
        // The own thread, if any, only has its runtime left to drop.
        drop(self.thread.take());
    }
}

impl Drop for ExporterHandle {
    fn drop(&mut self) {
        self.stop_and_wait();
    }
}
