//! Request routing and the handlers behind each path.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use super::exporter::StatsInner;
use super::scrape::{accepts_gzip, ScrapeFailed, Scraper};
use super::{Readiness, CONTENT_TYPE_TEXT};

/// A host-registered admin page.
pub(crate) type PageFn = Arc<dyn Fn() -> serde_json::Value + Send + Sync + 'static>;

/// The path of the built-in admin page.
pub(crate) const METRICS_SUMMARY_PATH: &str = "/admin/metrics-summary";

const JSON: &str = "application/json";
const TEXT: &str = "text/plain; charset=utf-8";

/// What every listener shares.
pub(crate) struct Shared {
    pub(crate) scraper: Option<Arc<Scraper>>,
    pub(crate) readiness: Readiness,
    pub(crate) admin_pages: BTreeMap<String, PageFn>,
    pub(crate) stats: Arc<StatsInner>,
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

pub(crate) type Resp = Response<Full<Bytes>>;

fn respond(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Resp {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = status;
    // Room for what any response here carries, three headers at most
    // (Content-Type, and Vary + Content-Encoding, Cache-Control, or
    // Connection + Allow): the map's first insert would size it for six
    // (656 B); three take 328 B.
    *resp.headers_mut() = HeaderMap::with_capacity(3);
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

fn json(status: StatusCode, body: impl Into<Bytes>) -> Resp {
    let mut resp = respond(status, JSON, body);
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn closing(mut resp: Resp) -> Resp {
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

impl Router {
    pub(crate) async fn handle<B: hyper::body::Body>(&self, req: Request<B>) -> Resp {
        self.shared.stats.requests.fetch_add(1, Ordering::Relaxed);
        if req.method() != Method::GET && req.method() != Method::HEAD {
            let mut resp = closing(respond(
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
                StatusCode::PAYLOAD_TOO_LARGE,
                TEXT,
                "413 request body not accepted: GET and HEAD requests here take no body\n",
            ));
        }
        let path = req.uri().path();
        match path {
            "/metrics" if self.metrics => self.metrics(&req).await,
            "/health" if self.health => json(StatusCode::OK, r#"{"status":"ok"}"#),
            "/ready" if self.health => {
                let (ready, body) = self.shared.readiness.render();
                let status = if ready {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                };
                json(status, body)
            }
            "/admin" | "/admin/" if self.admin => self.admin_index(),
            _ if self.admin && path.starts_with("/admin/") => self.admin_page(path).await,
            _ => respond(StatusCode::NOT_FOUND, TEXT, "404 page not found\n"),
        }
    }

    async fn metrics<B>(&self, req: &Request<B>) -> Resp {
        let Some(scraper) = &self.shared.scraper else {
            return respond(StatusCode::NOT_FOUND, TEXT, "404 page not found\n");
        };
        let gzip = accepts_gzip(
            req.headers()
                .get_all(header::ACCEPT_ENCODING)
                .iter()
                .map(HeaderValue::as_bytes),
        );
        match scraper.scrape(gzip).await {
            Ok(encoded) => {
                let (body, gzipped) = match (gzip, encoded.gzip) {
                    (true, Some(gz)) => (gz, true),
                    _ => (encoded.identity, false),
                };
                let mut resp = respond(StatusCode::OK, CONTENT_TYPE_TEXT, body);
                let h = resp.headers_mut();
                if gzipped {
                    h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                }
                h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
                resp
            }
            Err(ScrapeFailed::Panicked) => respond(
                StatusCode::INTERNAL_SERVER_ERROR,
                TEXT,
                "500 metrics encoding panicked; see the process's stderr\n",
            ),
            Err(ScrapeFailed::Cancelled) => closing(respond(
                StatusCode::SERVICE_UNAVAILABLE,
                TEXT,
                "503 exporter shutting down\n",
            )),
        }
    }

    fn admin_index(&self) -> Resp {
        let mut pages: Vec<&str> = self.shared.admin_pages.keys().map(String::as_str).collect();
        if self.shared.scraper.is_some() {
            pages.push(METRICS_SUMMARY_PATH);
        }
        pages.sort_unstable();
        json(
            StatusCode::OK,
            serde_json::json!({ "pages": pages }).to_string(),
        )
    }

    async fn admin_page(&self, path: &str) -> Resp {
        let page: Box<dyn FnOnce() -> serde_json::Value + Send> =
            match (self.shared.admin_pages.get(path), &self.shared.scraper) {
                (Some(page), _) => {
                    let page = Arc::clone(page);
                    Box::new(move || page())
                }
                (None, Some(scraper)) if path == METRICS_SUMMARY_PATH => {
                    let source = Arc::clone(scraper.source());
                    Box::new(move || source.summary_json())
                }
                _ => return json(StatusCode::NOT_FOUND, r#"{"error":"no such admin page"}"#),
            };
        // Host pages may take a lock or walk a table: keep them off the async
        // threads, like encodes.
        let task = move || catch_unwind(AssertUnwindSafe(page));
        let result = self.shared.blocking.spawn_blocking(task).await;
        match result {
            Ok(Ok(value)) => json(StatusCode::OK, value.to_string()),
            Ok(Err(_)) => json(
                StatusCode::INTERNAL_SERVER_ERROR,
                r#"{"error":"admin page handler panicked"}"#,
            ),
            Err(_) => closing(json(
                StatusCode::SERVICE_UNAVAILABLE,
                r#"{"error":"exporter shutting down"}"#,
            )),
        }
    }
}
