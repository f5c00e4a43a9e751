//! Routes of the host's own on the exporter's listeners: [`Route`] (which
//! paths and methods), [`HostRequest`] (what the handler sees) and
//! [`HostResponse`] (what it answers).
//!
//! The router looks a route up only after the built-in paths, which a
//! route can never shadow (registration refuses one that would), and
//! before its `404`: an exact route first, then the longest prefix route
//! that the path starts with.
#![forbid(unsafe_code)]

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, StatusCode};

use super::query::{Query, QueryError};
use super::surface::Surface;

/// The request body a route accepts unless [`Route::max_body_bytes`] says
/// otherwise: 64 KiB, room for any form.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;

/// The largest request body a route may accept: 16 MiB (the exporter
/// reads a body whole before the handler runs).
pub const MAX_BODY_BYTES_LIMIT: usize = 16 * 1024 * 1024;

/// Paths the exporter serves itself, which no route may take.
const BUILT_IN: [&str; 3] = ["/metrics", "/health", "/ready"];

/// Whether `path` is one the exporter serves itself (a built-in or the
/// admin console's), which [`Route::refusal`] keeps every route from.
pub(crate) fn is_built_in(path: &str) -> bool {
    BUILT_IN.contains(&path) || path == "/admin" || path.starts_with("/admin/")
}

/// Which requests a host route answers: a path (exact or prefix), the
/// methods, and the largest body. Registered with
/// [`ExporterBuilder::route`](super::ExporterBuilder::route).
///
/// A route answers `GET` and `HEAD` unless [`Route::methods`] names
/// others; `HEAD` is allowed wherever `GET` is (the handler sees `HEAD`, and
/// the server sends the head of its answer). Another method on the route's
/// path is answered `405` with an `Allow` header listing the route's.
///
/// # Examples
///
/// ```
/// use telemeter::server::{Method, Route};
/// let pages = Route::prefix("/whatsapp/");
/// assert!(pages.matches("/whatsapp/ops-bot"));
/// assert!(!pages.matches("/whatsapp"));
/// let pair = Route::exact("/whatsapp/pair").methods([Method::POST]).max_body_bytes(4096);
/// assert!(pair.matches("/whatsapp/pair"));
/// assert!(!pair.matches("/whatsapp/pair/x"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    path: String,
    prefix: bool,
    methods: Vec<Method>,
    max_body: usize,
}

impl Route {
    /// A route for exactly `path` (`/whatsapp/pair`).
    #[must_use]
    pub fn exact(path: impl Into<String>) -> Route {
        Route::new(path.into(), false)
    }

    /// A route for every path that starts with `prefix`, which ends with
    /// `/` (`/whatsapp/` answers `/whatsapp/` and `/whatsapp/ops-bot`).
    #[must_use]
    pub fn prefix(prefix: impl Into<String>) -> Route {
        Route::new(prefix.into(), true)
    }

    fn new(path: String, prefix: bool) -> Route {
        Route {
            path,
            prefix,
            methods: vec![Method::GET, Method::HEAD],
            max_body: DEFAULT_MAX_BODY_BYTES,
        }
    }

    /// The methods the route answers, instead of `GET` and `HEAD`; `HEAD`
    /// is added wherever `GET` is.
    #[must_use]
    pub fn methods(mut self, methods: impl IntoIterator<Item = Method>) -> Route {
        self.methods = Vec::new();
        for m in methods {
            if !self.methods.contains(&m) {
                self.methods.push(m);
            }
        }
        if self.methods.contains(&Method::GET) && !self.methods.contains(&Method::HEAD) {
            self.methods.push(Method::HEAD);
        }
        self
    }

    /// The largest request body the route reads, in bytes (default
    /// [`DEFAULT_MAX_BODY_BYTES`], at most [`MAX_BODY_BYTES_LIMIT`]). A
    /// longer one is answered `413` and the connection closed.
    #[must_use]
    pub fn max_body_bytes(mut self, bytes: usize) -> Route {
        self.max_body = bytes;
        self
    }

    /// Whether a request for `path` is this route's (whatever its method).
    #[must_use]
    pub fn matches(&self, path: &str) -> bool {
        if self.prefix {
            path.starts_with(&self.path)
        } else {
            path == self.path
        }
    }

    /// The path, or the prefix, as given.
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Whether it is a prefix route.
    #[must_use]
    pub fn is_prefix(&self) -> bool {
        self.prefix
    }

    pub(crate) fn max_body(&self) -> usize {
        self.max_body
    }

    pub(crate) fn allows(&self, method: &Method) -> bool {
        self.methods.contains(method)
    }

    /// The `Allow` header's value.
    pub(crate) fn allow_header(&self) -> String {
        let names: Vec<&str> = self.methods.iter().map(Method::as_str).collect();
        names.join(", ")
    }

    /// Why the route cannot be registered for `surface`, if it cannot.
    pub(crate) fn refusal(&self, surface: Surface) -> Option<&'static str> {
        let p = self.path.as_str();
        if surface == Surface::Admin {
            return Some(
                "routes are for the metrics and health listeners; register admin pages with \
                 ExporterBuilder::admin_handler",
            );
        }
        if !p.starts_with('/') {
            return Some("a route's path must start with '/'");
        }
        if p.bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || b == b'?' || b == b'#')
        {
            return Some(
                "a route's path must not contain whitespace, control characters, '?' or '#'",
            );
        }
        if self.prefix && !p.ends_with('/') {
            return Some("a prefix route must end with '/' (\"/whatsapp/\"), so that it matches whole path segments");
        }
        if BUILT_IN.iter().any(|b| self.matches(b)) {
            return Some("it would shadow a built-in path (/metrics, /health, /ready)");
        }
        if self.matches("/admin") || self.matches("/admin/") || p.starts_with("/admin/") {
            return Some("/admin and /admin/... belong to the admin console");
        }
        if self.methods.is_empty() {
            return Some("a route must answer at least one method");
        }
        if self.methods.contains(&Method::CONNECT) {
            return Some("CONNECT is not a method a route can answer");
        }
        if self.max_body > MAX_BODY_BYTES_LIMIT {
            return Some("max_body_bytes is over MAX_BODY_BYTES_LIMIT (16 MiB)");
        }
        None
    }
}

/// A request to a host route, its body read whole (at most the route's
/// [`Route::max_body_bytes`]) before the handler runs.
///
/// # Examples
///
/// ```
/// use telemeter::server::{HostResponse, Method, Route, Exporter};
/// let exporter = Exporter::builder().route(
///     telemeter::server::Surface::Health,
///     Route::exact("/pair").methods([Method::POST]),
///     |req| match req.form() {
///         Ok(form) => match form.get("code") {
///             Some(code) => HostResponse::text(format!("approved {code}\n")),
///             None => HostResponse::text("give code=...\n").with_status(400),
///         },
///         Err(e) => HostResponse::text(format!("{e}\n")).with_status(400),
///     },
/// );
/// # drop(exporter);
/// ```
#[derive(Debug)]
pub struct HostRequest {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) query: Query,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl HostRequest {
    /// The method (one the route allows).
    #[must_use]
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The path, without the query (`/whatsapp/ops-bot`).
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The decoded query string; one that does not decode was answered
    /// `400` before the handler ran.
    #[must_use]
    pub fn query(&self) -> &Query {
        &self.query
    }

    /// The request's headers.
    #[must_use]
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The body (empty without one).
    #[must_use]
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body read as an HTML form (`application/x-www-form-urlencoded`,
    /// what a browser's `<form method="post">` sends).
    ///
    /// # Errors
    ///
    /// [`QueryError`] for a bad `%` escape or text that is not UTF-8
    /// (a body that is not UTF-8 at all reports offset 0).
    pub fn form(&self) -> Result<Query, QueryError> {
        match std::str::from_utf8(&self.body) {
            Ok(text) => Query::parse(text),
            Err(_) => Err(QueryError::NotUtf8 { at: 0 }),
        }
    }
}

/// A host route's answer: a status, headers and a body.
///
/// The server frames the response itself (`Content-Length`), so a handler
/// that sets a framing header (`Content-Length`, `Transfer-Encoding`,
/// `Connection`, `Keep-Alive`, `Upgrade`, `TE`, `Trailer`) has its answer
/// replaced by a `500` that names the header, counted with panics in
/// [`Stats::handler_failures`](super::Stats::handler_failures).
///
/// # Examples
///
/// ```
/// use telemeter::server::{header, HostResponse, HeaderValue};
/// let page = HostResponse::html("<h1>Pairing</h1>");
/// assert_eq!(page.status(), 200);
/// assert_eq!(page.headers()[header::CONTENT_TYPE], "text/html; charset=utf-8");
/// let moved = HostResponse::empty(303)
///     .with_header(header::LOCATION, HeaderValue::from_static("/whatsapp/"));
/// assert_eq!(moved.status(), 303);
/// assert!(moved.body().is_empty());
/// ```
#[derive(Debug, Clone)]
pub struct HostResponse {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    /// Why the answer cannot be sent, if it cannot (the first fault).
    fault: Option<BadResponse>,
}

impl HostResponse {
    /// `200` with `body` and `content_type`.
    #[must_use]
    pub fn bytes(content_type: HeaderValue, body: impl Into<Bytes>) -> HostResponse {
        let mut headers = HeaderMap::with_capacity(2);
        headers.insert(header::CONTENT_TYPE, content_type);
        HostResponse {
            status: StatusCode::OK,
            headers,
            body: body.into(),
            fault: None,
        }
    }

    /// `200`, `text/html; charset=utf-8`.
    #[must_use]
    pub fn html(body: impl Into<String>) -> HostResponse {
        let body = Bytes::from(body.into());
        HostResponse::bytes(HeaderValue::from_static("text/html; charset=utf-8"), body)
    }

    /// `200`, `text/plain; charset=utf-8`.
    #[must_use]
    pub fn text(body: impl Into<String>) -> HostResponse {
        let body = Bytes::from(body.into());
        HostResponse::bytes(HeaderValue::from_static("text/plain; charset=utf-8"), body)
    }

    /// `200`, `application/json`, with `Cache-Control: no-store` as the
    /// admin console's pages.
    #[must_use]
    pub fn json(value: &serde_json::Value) -> HostResponse {
        let body = Bytes::from(value.to_string());
        HostResponse::bytes(HeaderValue::from_static("application/json"), body)
            .with_header(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))
    }

    /// `status` with no body and no `Content-Type` (a `303` after a form,
    /// a `204`).
    #[must_use]
    pub fn empty(status: u16) -> HostResponse {
        HostResponse {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: Bytes::new(),
            fault: None,
        }
        .with_status(status)
    }

    /// The same answer with another status. A number outside 100–999 is
    /// answered as `500`, counted as a handler failure.
    #[must_use]
    pub fn with_status(mut self, status: u16) -> HostResponse {
        match StatusCode::from_u16(status) {
            Ok(status) => self.status = status,
            Err(_) => {
                self.status = StatusCode::INTERNAL_SERVER_ERROR;
                self.fault = self.fault.or(Some(BadResponse::Status(status)));
            }
        }
        self
    }

    /// The same answer with `name: value` set (replacing an earlier value
    /// of that name). See the type's docs for framing headers.
    #[must_use]
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> HostResponse {
        if is_framing(&name) {
            self.fault = self.fault.or(Some(BadResponse::Framing(name)));
        } else {
            self.headers.insert(name, value);
        }
        self
    }

    /// The status.
    #[must_use]
    pub fn status(&self) -> u16 {
        self.status.as_u16()
    }

    /// The headers set so far.
    #[must_use]
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The body.
    #[must_use]
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The parts to send, or why the handler's answer cannot be sent.
    pub(crate) fn into_parts(self) -> Result<(StatusCode, HeaderMap, Bytes), BadResponse> {
        match self.fault {
            Some(fault) => Err(fault),
            None => Ok((self.status, self.headers, self.body)),
        }
    }
}

/// Why the server will not send a handler's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BadResponse {
    /// It set this framing header.
    Framing(HeaderName),
    /// Its status was outside 100–999.
    Status(u16),
}

impl fmt::Display for BadResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadResponse::Status(s) => write!(f, "the handler gave the status {s}, outside 100-999"),
            BadResponse::Framing(name) => write!(
                f,
                "the handler set the framing header {name}, which the server sets itself"
            ),
        }
    }
}

fn is_framing(name: &HeaderName) -> bool {
    [
        header::CONTENT_LENGTH,
        header::TRANSFER_ENCODING,
        header::CONNECTION,
        header::UPGRADE,
        header::TE,
        header::TRAILER,
    ]
    .contains(name)
        || name.as_str() == "keep-alive"
}

/// A registered route's handler.
pub(crate) type RouteFn = Arc<dyn Fn(&HostRequest) -> HostResponse + Send + Sync + 'static>;

/// Every route of one exporter, with the surface it was registered on.
#[derive(Default)]
pub(crate) struct Routes {
    routes: Vec<(Surface, Route, RouteFn)>,
}

impl Routes {
    /// Adds a route, or says why not (a refusal, or a route already
    /// registered for that path and surface).
    pub(crate) fn add(
        &mut self,
        surface: Surface,
        route: Route,
        handler: RouteFn,
    ) -> Result<(), (Route, &'static str)> {
        if let Some(reason) = route.refusal(surface) {
            return Err((route, reason));
        }
        let taken = self
            .routes
            .iter()
            .any(|(s, r, _)| *s == surface && r.path == route.path && r.prefix == route.prefix);
        if taken {
            return Err((
                route,
                "a route for that path is already registered on that surface",
            ));
        }
        self.routes.push((surface, route, handler));
        Ok(())
    }

    /// The route for `path` among those registered on a surface that
    /// `serves` says the listener serves: an exact one, else the longest
    /// prefix.
    pub(crate) fn find(
        &self,
        path: &str,
        serves: impl Fn(Surface) -> bool,
    ) -> Option<(&Route, &RouteFn)> {
        let mine = || {
            self.routes
                .iter()
                .filter(|(s, r, _)| serves(*s) && r.matches(path))
        };
        mine()
            .find(|(_, r, _)| !r.prefix)
            .or_else(|| mine().max_by_key(|(_, r, _)| r.path.len()))
            .map(|(_, r, f)| (r, f))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// `(surface, path)` of each route, for `Debug`.
    pub(crate) fn describe(&self) -> Vec<(Surface, &str)> {
        self.routes
            .iter()
            .map(|(s, r, _)| (*s, r.path.as_str()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok() -> RouteFn {
        Arc::new(|_: &HostRequest| HostResponse::text("ok"))
    }

    #[test]
    fn built_in_and_console_paths_cannot_be_taken() {
        for route in [
            Route::exact("/metrics"),
            Route::exact("/health"),
            Route::exact("/ready"),
            Route::prefix("/"),
            Route::exact("/admin"),
            Route::prefix("/admin/"),
            Route::exact("/admin/x"),
        ] {
            assert!(route.refusal(Surface::Health).is_some(), "{route:?}");
        }
        assert!(Route::exact("/metrics/x")
            .refusal(Surface::Health)
            .is_none());
        assert!(Route::prefix("/whatsapp/")
            .refusal(Surface::Metrics)
            .is_none());
    }

    #[test]
    fn bad_paths_methods_and_sizes_are_refused() {
        for route in [
            Route::exact("whatsapp"),
            Route::exact("/a b"),
            Route::exact("/a?b"),
            Route::prefix("/whatsapp"),
            Route::exact("/x").methods([]),
            Route::exact("/x").methods([Method::CONNECT]),
            Route::exact("/x").max_body_bytes(MAX_BODY_BYTES_LIMIT + 1),
        ] {
            assert!(route.refusal(Surface::Health).is_some(), "{route:?}");
        }
        assert!(Route::exact("/x").refusal(Surface::Admin).is_some());
        assert!(Route::exact("/x")
            .max_body_bytes(MAX_BODY_BYTES_LIMIT)
            .refusal(Surface::Health)
            .is_none());
    }

    #[test]
    fn get_brings_head_and_allow_lists_the_methods() {
        let r = Route::exact("/x").methods([Method::GET, Method::POST, Method::GET]);
        assert_eq!(r.allow_header(), "GET, POST, HEAD");
        assert!(r.allows(&Method::HEAD));
        let post = Route::exact("/x").methods([Method::POST]);
        assert!(!post.allows(&Method::HEAD) && !post.allows(&Method::GET));
    }

    #[test]
    fn exact_routes_win_then_the_longest_prefix() {
        let mut routes = Routes::default();
        routes
            .add(Surface::Health, Route::prefix("/w/"), ok())
            .unwrap();
        routes
            .add(Surface::Health, Route::prefix("/w/a/"), ok())
            .unwrap();
        routes
            .add(Surface::Health, Route::exact("/w/a/pair"), ok())
            .unwrap();
        routes
            .add(Surface::Metrics, Route::exact("/m"), ok())
            .unwrap();
        let health = |s: Surface| s == Surface::Health;
        let found = |p: &str| routes.find(p, health).map(|(r, _)| r.path().to_string());
        assert_eq!(found("/w/a/pair").as_deref(), Some("/w/a/pair"));
        assert_eq!(found("/w/a/other").as_deref(), Some("/w/a/"));
        assert_eq!(found("/w/x").as_deref(), Some("/w/"));
        assert_eq!(found("/w"), None);
        assert_eq!(
            found("/m"),
            None,
            "a metrics route is not on the health listener"
        );
        assert!(routes
            .add(Surface::Health, Route::prefix("/w/"), ok())
            .is_err());
        assert!(routes
            .add(Surface::Metrics, Route::prefix("/w/"), ok())
            .is_ok());
    }

    #[test]
    fn framing_headers_and_bad_statuses_make_the_answer_unsendable() {
        let r = HostResponse::text("x")
            .with_header(header::CONTENT_LENGTH, HeaderValue::from_static("99"));
        assert_eq!(
            r.into_parts().unwrap_err(),
            BadResponse::Framing(header::CONTENT_LENGTH)
        );
        let r = HostResponse::text("x").with_header(
            HeaderName::from_static("keep-alive"),
            HeaderValue::from_static("timeout=5"),
        );
        assert!(r.into_parts().is_err());
        let r = HostResponse::text("x").with_status(1000);
        assert_eq!(r.status(), 500);
        assert!(r.into_parts().unwrap_err().to_string().contains("100-999"));
        let (status, headers, body) = HostResponse::text("x")
            .with_status(201)
            .into_parts()
            .unwrap();
        assert_eq!((status.as_u16(), &body[..]), (201, &b"x"[..]));
        assert_eq!(headers[header::CONTENT_TYPE], "text/plain; charset=utf-8");
    }

    #[test]
    fn a_form_body_decodes_like_a_query() {
        let req = |body: &'static [u8]| HostRequest {
            method: Method::POST,
            path: "/p".into(),
            query: Query::default(),
            headers: HeaderMap::new(),
            body: Bytes::from_static(body),
        };
        let form = req(b"code=AB+12&agent=ops%2Dbot").form().unwrap();
        assert_eq!(form.get("code"), Some("AB 12"));
        assert_eq!(form.get("agent"), Some("ops-bot"));
        assert_eq!(req(b"\xff").form(), Err(QueryError::NotUtf8 { at: 0 }));
        assert!(req(b"a=%z").form().is_err());
    }
}
