//! Request routing and the handlers behind each path.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use http_body_util::{BodyExt as _, Full, LengthLimitError};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use super::admin::{AdminError, AdminRequest};
use super::body::Chunk;
use super::gzip::accepts_gzip;
use super::host::{is_console_host, the_host, HostError};
use super::query::Query;
use super::readiness::Readiness;
use super::route::{is_built_in, HostRequest, Route, RouteFn, Routes};
use super::scrape::{ScrapeFailed, Scraper};
use super::stats::StatsInner;
use super::surface::Surface;
use crate::catch::catch;

/// A host-registered admin page.
pub(crate) type PageFn =
    Arc<dyn Fn(&AdminRequest) -> Result<serde_json::Value, AdminError> + Send + Sync + 'static>;

/// The path of the built-in admin page.
pub(crate) const METRICS_SUMMARY_PATH: &str = "/admin/metrics-summary";

const JSON: &str = "application/json";
const TEXT: &str = "text/plain; charset=utf-8";

/// What every listener shares.
pub(crate) struct Shared {
    pub(crate) scraper: Option<Arc<Scraper>>,
    pub(crate) readiness: Readiness,
    pub(crate) admin_pages: BTreeMap<String, PageFn>,
    /// The host's routes on the metrics and health listeners.
    pub(crate) routes: Routes,
    /// How long a host route's request body may take to arrive (the
    /// header-read timeout).
    pub(crate) body_timeout: std::time::Duration,
    pub(crate) stats: Arc<StatsInner>,
    /// Names besides loopback ones that the admin console answers to
    /// (lower case, no port; `ExporterBuilder::admin_host`).
    pub(crate) admin_hosts: Vec<String>,
    /// Where host closures and encodes run: never an async worker.
    pub(crate) blocking: tokio::runtime::Handle,
}

/// The paths one listener serves.
pub(crate) struct Router {
    pub(crate) shared: Arc<Shared>,
    pub(crate) metrics: bool,
    pub(crate) health: bool,
    pub(crate) admin: bool,
}

pub(crate) type Resp = Response<Full<Chunk>>;

/// A response with `headers` as its map: the request's, cleared. hyper
/// parses each request's headers into the map the previous response
/// carried, so handing the request's map back keeps one map per
/// connection; a new map per response cost 328 B a scrape.
fn respond(
    mut headers: HeaderMap,
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Chunk>,
) -> Resp {
    headers.clear();
    // Room for what any response here carries, three headers at most
    // (Content-Type, and Vary + Content-Encoding, Cache-Control, or
    // Connection + Allow): the map's first insert would size it for six
    // (656 B); three take 328 B. A no-op for a map that has the room.
    headers.reserve(3);
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    resp
}

fn json(headers: HeaderMap, status: StatusCode, body: impl Into<Chunk>) -> Resp {
    let mut resp = respond(headers, status, JSON, body);
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// When a scraper that sent `X-Prometheus-Scrape-Timeout-Seconds` gives
/// up, less a margin to write the body (a quarter of it, at most 0.5 s);
/// `None` without a valid header.
fn scrape_deadline(headers: &HeaderMap) -> Option<std::time::Instant> {
    let secs: f64 = headers
        .get("x-prometheus-scrape-timeout-seconds")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    if !(secs.is_finite() && secs > 0.0) {
        return None;
    }
    let secs = secs.min(3600.0);
    let margin = (secs / 4.0).min(0.5);
    Some(std::time::Instant::now() + std::time::Duration::from_secs_f64(secs - margin))
}

fn closing(mut resp: Resp) -> Resp {
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

/// The `400` text for a request whose `Host` headers are wrong.
fn host_error_text(e: HostError) -> &'static str {
    match e {
        HostError::Missing => {
            "400 bad request: an HTTP/1.1 request needs a Host header (RFC 9112, section 3.2)\n"
        }
        HostError::Repeated => {
            "400 bad request: more than one Host header (RFC 9112, section 3.2)\n"
        }
    }
}

impl Router {
    /// Whether this listener serves `surface`.
    fn serves(&self, surface: Surface) -> bool {
        match surface {
            Surface::Metrics => self.metrics,
            Surface::Health => self.health,
            Surface::Admin => self.admin,
        }
    }

    pub(crate) async fn handle<B>(&self, mut req: Request<B>) -> Resp
    where
        B: hyper::body::Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.shared.stats.requests.fetch_add(1, Ordering::Relaxed);
        let headers = std::mem::take(req.headers_mut());
        // Built-in paths first: no route can take one, so they skip the
        // route table (a scrape pays nothing for it).
        if !self.shared.routes.is_empty() && !is_built_in(req.uri().path()) {
            let path = req.uri().path();
            if let Some((route, handler)) = self.shared.routes.find(path, |s| self.serves(s)) {
                return self.host_route(route, handler, req, headers).await;
            }
        }
        if req.method() != Method::GET && req.method() != Method::HEAD {
            let mut resp = closing(respond(
                headers,
                StatusCode::METHOD_NOT_ALLOWED,
                TEXT,
                "405 method not allowed: only GET and HEAD\n",
            ));
            resp.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return resp;
        }
        // No endpoint takes a body: refuse one rather than read it.
        if !req.body().is_end_stream() {
            return closing(respond(
                headers,
                StatusCode::PAYLOAD_TOO_LARGE,
                TEXT,
                "413 request body not accepted: GET and HEAD requests here take no body\n",
            ));
        }
        let host = match the_host(&headers, req.version()) {
            Ok(host) => host,
            Err(e) => {
                let why = host_error_text(e);
                return closing(respond(headers, StatusCode::BAD_REQUEST, TEXT, why));
            }
        };
        let path = req.uri().path();
        let console = self.admin && (path == "/admin" || path.starts_with("/admin/"));
        if console && !host.is_some_and(|h| is_console_host(h.as_bytes(), &self.shared.admin_hosts))
        {
            // DNS rebinding: a page of another origin reaches a loopback
            // port with its own name in `Host`.
            return closing(json(
                headers,
                StatusCode::MISDIRECTED_REQUEST,
                r#"{"error":"this admin console answers only to loopback hosts (localhost, 127.0.0.0/8, [::1]) and to names configured with ExporterBuilder::admin_host"}"#,
            ));
        }
        match path {
            "/metrics" if self.metrics => self.metrics(headers).await,
            "/health" if self.health => json(headers, StatusCode::OK, r#"{"status":"ok"}"#),
            "/ready" if self.health => {
                let (ready, body) = self.shared.readiness.render();
                let status = if ready {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                };
                json(headers, status, body)
            }
            "/admin" | "/admin/" if self.admin => self.admin_index(headers),
            _ if self.admin && path.starts_with("/admin/") => {
                let method = if req.method() == Method::HEAD {
                    "HEAD"
                } else {
                    "GET"
                };
                let query = req.uri().query().unwrap_or("");
                self.admin_page(headers, method, path, query).await
            }
            _ => respond(headers, StatusCode::NOT_FOUND, TEXT, "404 page not found\n"),
        }
    }

    /// `/metrics`; `headers` are the request's.
    async fn metrics(&self, headers: HeaderMap) -> Resp {
        let Some(scraper) = &self.shared.scraper else {
            return respond(headers, StatusCode::NOT_FOUND, TEXT, "404 page not found\n");
        };
        let gzip = accepts_gzip(
            headers
                .get_all(header::ACCEPT_ENCODING)
                .iter()
                .map(HeaderValue::as_bytes),
        );
        let deadline = scrape_deadline(&headers);
        let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
        let offered = scraper.source().formats();
        let format = crate::Format::negotiate(accept, offered);
        match scraper.scrape(format, gzip, deadline).await {
            Ok(encoded) => {
                let (body, gzipped) = match (gzip, encoded.gzip) {
                    (true, Some(gz)) => (gz, true),
                    _ => (encoded.identity, false),
                };
                let mut resp = respond(
                    headers,
                    StatusCode::OK,
                    format.content_type(),
                    Chunk::shared(body),
                );
                let h = resp.headers_mut();
                if gzipped {
                    h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                }
                // The body depends on `Accept` only where the source
                // offers more than one format.
                let vary = if offered.len() > 1 {
                    "Accept, Accept-Encoding"
                } else {
                    "Accept-Encoding"
                };
                h.insert(header::VARY, HeaderValue::from_static(vary));
                resp
            }
            Err(ScrapeFailed::Panicked) => respond(
                headers,
                StatusCode::INTERNAL_SERVER_ERROR,
                TEXT,
                "500 metrics encoding panicked; see the process's stderr\n",
            ),
            Err(ScrapeFailed::NoThread) => respond(
                headers,
                StatusCode::SERVICE_UNAVAILABLE,
                TEXT,
                "503 the metrics encode thread could not be started; retry later\n",
            ),
        }
    }

    fn admin_index(&self, headers: HeaderMap) -> Resp {
        let mut pages: Vec<&str> = self.shared.admin_pages.keys().map(String::as_str).collect();
        if self.shared.scraper.is_some() {
            pages.push(METRICS_SUMMARY_PATH);
        }
        pages.sort_unstable();
        json(
            headers,
            StatusCode::OK,
            serde_json::json!({ "pages": pages }).to_string(),
        )
    }

    async fn admin_page(
        &self,
        headers: HeaderMap,
        method: &'static str,
        path: &str,
        query: &str,
    ) -> Resp {
        let query = match Query::parse(query) {
            Ok(q) => q,
            Err(e) => {
                let body = serde_json::json!({ "error": e.to_string() }).to_string();
                return json(headers, StatusCode::BAD_REQUEST, body);
            }
        };
        let request = AdminRequest {
            method,
            path: path.to_string(),
            query,
        };
        type Page = Box<dyn FnOnce() -> Result<serde_json::Value, AdminError> + Send>;
        let page: Page = match (self.shared.admin_pages.get(path), &self.shared.scraper) {
            (Some(page), _) => {
                let page = Arc::clone(page);
                Box::new(move || page(&request))
            }
            (None, Some(scraper)) if path == METRICS_SUMMARY_PATH => {
                let source = Arc::clone(scraper.source());
                Box::new(move || Ok(source.summary_json()))
            }
            _ => {
                return json(
                    headers,
                    StatusCode::NOT_FOUND,
                    r#"{"error":"no such admin page"}"#,
                )
            }
        };
        // Host pages may take a lock or walk a table: keep them off the async
        // threads, like encodes.
        let task = move || catch(page);
        let result = self.shared.blocking.spawn_blocking(task).await;
        match result {
            Ok(Some(Ok(value))) => json(headers, StatusCode::OK, value.to_string()),
            Ok(Some(Err(refused))) => {
                let status =
                    StatusCode::from_u16(refused.status()).unwrap_or(StatusCode::BAD_REQUEST);
                let body = serde_json::json!({ "error": refused.message() }).to_string();
                json(headers, status, body)
            }
            Ok(None) => {
                self.shared
                    .stats
                    .handler_failures
                    .fetch_add(1, Ordering::Relaxed);
                json(
                    headers,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    r#"{"error":"admin page handler panicked"}"#,
                )
            }
            Err(_) => closing(json(
                headers,
                StatusCode::SERVICE_UNAVAILABLE,
                r#"{"error":"exporter shutting down"}"#,
            )),
        }
    }

    /// A request on a host route's path: the method, the `Host` header,
    /// the query and the body are checked and read here, then the handler
    /// runs on a blocking thread (a panic in it is a counted `500`).
    async fn host_route<B>(
        &self,
        route: &Route,
        handler: &RouteFn,
        req: Request<B>,
        headers: HeaderMap,
    ) -> Resp
    where
        B: hyper::body::Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        if !route.allows(req.method()) {
            let allow = route.allow_header();
            let text = format!(
                "405 method not allowed: {} takes {allow}\n",
                req.uri().path()
            );
            let mut resp = closing(respond(headers, StatusCode::METHOD_NOT_ALLOWED, TEXT, text));
            if let Ok(allow) = HeaderValue::from_str(&allow) {
                resp.headers_mut().insert(header::ALLOW, allow);
            }
            return resp;
        }
        if let Err(e) = the_host(&headers, req.version()) {
            let why = host_error_text(e);
            return closing(respond(headers, StatusCode::BAD_REQUEST, TEXT, why));
        }
        let query = match Query::parse(req.uri().query().unwrap_or("")) {
            Ok(q) => q,
            Err(e) => return respond(headers, StatusCode::BAD_REQUEST, TEXT, format!("400 {e}\n")),
        };
        let too_large = |path: &str| {
            format!(
                "413 request body too large: {path} takes at most {} bytes\n",
                route.max_body()
            )
        };
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > route.max_body() as u64) {
            let text = too_large(req.uri().path());
            return closing(respond(headers, StatusCode::PAYLOAD_TOO_LARGE, TEXT, text));
        }
        let (parts, body) = req.into_parts();
        let limited = http_body_util::Limited::new(body, route.max_body());
        let read = tokio::time::timeout(self.shared.body_timeout, limited.collect()).await;
        let body = match read {
            Ok(Ok(collected)) => collected.to_bytes(),
            Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
                let text = too_large(parts.uri.path());
                return closing(respond(headers, StatusCode::PAYLOAD_TOO_LARGE, TEXT, text));
            }
            Ok(Err(_)) => {
                return closing(respond(
                    headers,
                    StatusCode::BAD_REQUEST,
                    TEXT,
                    "400 bad request: the request body could not be read\n",
                ))
            }
            Err(_) => {
                return closing(respond(
                    headers,
                    StatusCode::REQUEST_TIMEOUT,
                    TEXT,
                    "408 request timeout: the request body did not arrive in time\n",
                ))
            }
        };
        let request = HostRequest {
            method: parts.method,
            path: parts.uri.path().to_string(),
            query,
            headers,
            body,
        };
        let handler = Arc::clone(handler);
        let task = move || catch(|| handler(&request)).map(|r| (r, request.path));
        let failed = |text: String| {
            self.shared
                .stats
                .handler_failures
                .fetch_add(1, Ordering::Relaxed);
            respond(
                HeaderMap::new(),
                StatusCode::INTERNAL_SERVER_ERROR,
                TEXT,
                text,
            )
        };
        match self.shared.blocking.spawn_blocking(task).await {
            Ok(Some((answer, path))) => match answer.into_parts() {
                Ok((status, headers, body)) => {
                    let mut resp = Response::new(Full::new(Chunk::from(body)));
                    *resp.status_mut() = status;
                    *resp.headers_mut() = headers;
                    resp
                }
                Err(bad) => failed(format!("500 host route {path}: {bad}\n")),
            },
            Ok(None) => {
                failed("500 the route's handler panicked; see the process's stderr\n".to_string())
            }
            Err(_) => closing(respond(
                HeaderMap::new(),
                StatusCode::SERVICE_UNAVAILABLE,
                TEXT,
                "503 exporter shutting down\n",
            )),
        }
    }
}
