//! End-to-end tests of the HTTP surfaces over real sockets on 127.0.0.1.

mod server_support;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use server_support::{get, gunzip, request, try_get, Resp, TestSource, TEST_BODY};
use telemeter::server::{
    Exporter, ExporterBuilder, MetricsSource, ServerError, Surface, CONTENT_TYPE_TEXT,
};

/// Every surface on its own OS-chosen loopback port.
fn local(source: Arc<dyn MetricsSource>) -> ExporterBuilder {
    Exporter::builder()
        .source(source)
        .metrics_addr("127.0.0.1:0")
        .health_addr("127.0.0.1:0")
        .admin_addr("127.0.0.1:0")
}

fn assert_json(resp: &Resp, status: u16, body: &str) {
    assert_eq!(resp.status, status, "{}", resp.text());
    assert_eq!(resp.header("content-type"), Some("application/json"));
    assert_eq!(resp.text(), body);
}

#[test]
fn metrics_get_identity_body_and_headers() {
    let h = local(Arc::new(TestSource::new(TEST_BODY)))
        .self_metrics(false)
        .start()
        .unwrap();
    let r = get(h.metrics_addr().unwrap(), "/metrics");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some(CONTENT_TYPE_TEXT));
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.header("vary"), Some("Accept-Encoding"));
    assert_eq!(
        r.header("content-length"),
        Some(TEST_BODY.len().to_string().as_str())
    );
    assert_eq!(r.text(), TEST_BODY);
    // Query strings do not change the path.
    assert_eq!(
        get(h.metrics_addr().unwrap(), "/metrics?x=1").text(),
        TEST_BODY
    );
}

#[test]
fn metrics_gzip_when_accepted_and_identity_otherwise() {
    let h = local(Arc::new(TestSource::new(&TEST_BODY.repeat(50))))
        .self_metrics(false)
        .start()
        .unwrap();
    let addr = h.metrics_addr().unwrap();
    let identity = get(addr, "/metrics");

    for ae in [
        "gzip",
        "gzip, deflate, br",
        "deflate;q=1, gzip;q=0.5",
        "*",
        "identity, gzip;q=0.001",
    ] {
        let r = request(addr, "GET", "/metrics", &[("Accept-Encoding", ae)]);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-encoding"), Some("gzip"), "{ae}");
        assert_eq!(r.header("vary"), Some("Accept-Encoding"));
        assert_eq!(r.header("content-type"), Some(CONTENT_TYPE_TEXT));
        assert!(r.body.len() < identity.body.len() / 4, "compressed");
        assert_eq!(gunzip(&r.body), identity.body, "{ae}");
    }
    for ae in [
        "gzip;q=0",
        "identity",
        "deflate, br",
        "*;q=0",
        "gzip;q=0, *",
    ] {
        let r = request(addr, "GET", "/metrics", &[("Accept-Encoding", ae)]);
        assert_eq!(r.header("content-encoding"), None, "{ae}");
        assert_eq!(r.header("vary"), Some("Accept-Encoding"));
        assert_eq!(r.body, identity.body, "{ae}");
    }
}

#[test]
fn metrics_same_body_whatever_accept_says() {
    let h = local(Arc::new(TestSource::new(TEST_BODY)))
        .self_metrics(false)
        .start()
        .unwrap();
    let addr = h.metrics_addr().unwrap();
    for accept in [
        "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.1",
        "application/json",
        "*/*",
    ] {
        let r = request(addr, "GET", "/metrics", &[("Accept", accept)]);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some(CONTENT_TYPE_TEXT));
        assert_eq!(r.text(), TEST_BODY);
    }
}

#[test]
fn metrics_head_has_headers_and_no_body() {
    let h = local(Arc::new(TestSource::new(TEST_BODY)))
        .self_metrics(false)
        .start()
        .unwrap();
    let r = request(h.metrics_addr().unwrap(), "HEAD", "/metrics", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some(CONTENT_TYPE_TEXT));
    assert_eq!(
        r.header("content-length"),
        Some(TEST_BODY.len().to_string().as_str())
    );
    assert!(r.body.is_empty());
    let r = request(h.health_addr().unwrap(), "HEAD", "/health", &[]);
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
}

#[test]
fn health_is_always_ok() {
    let h = local(Arc::new(TestSource::new(TEST_BODY))).start().unwrap();
    let addr = h.health_addr().unwrap();
    // Not started, no checks: health is still 200.
    assert_json(&get(addr, "/health"), 200, r#"{"status":"ok"}"#);
    h.set_started();
    assert_json(&get(addr, "/health"), 200, r#"{"status":"ok"}"#);
}

#[test]
fn ready_bodies_match_the_nexo_seed() {
    let broker = Arc::new(AtomicBool::new(false));
    let agents = Arc::new(AtomicI64::new(0));
    let (b, a) = (broker.clone(), agents.clone());
    let h = local(Arc::new(TestSource::new(TEST_BODY)))
        .ready_check("broker_ready", move || b.load(Ordering::SeqCst))
        .ready_fact_at_least("agents_running", 1, move || a.load(Ordering::SeqCst))
        .started(true)
        .start()
        .unwrap();
    let addr = h.health_addr().unwrap();
    assert_json(
        &get(addr, "/ready"),
        503,
        r#"{"status":"not_ready","broker_ready":false,"agents_running":0}"#,
    );
    broker.store(true, Ordering::SeqCst);
    assert_json(
        &get(addr, "/ready"),
        503,
        r#"{"status":"not_ready","broker_ready":true,"agents_running":0}"#,
    );
    agents.store(3, Ordering::SeqCst);
    assert_json(
        &get(addr, "/ready"),
        200,
        r#"{"status":"ready","agents_running":3}"#,
    );
    broker.store(false, Ordering::SeqCst);
    assert_json(
        &get(addr, "/ready"),
        503,
        r#"{"status":"not_ready","broker_ready":false,"agents_running":3}"#,
    );

    // Checks and facts can be added while running.
    broker.store(true, Ordering::SeqCst);
    h.readiness().add_fact("sessions", || 7).unwrap();
    assert_json(
        &get(addr, "/ready"),
        200,
        r#"{"status":"ready","agents_running":3,"sessions":7}"#,
    );
    h.readiness().add_check("db_ready", || false).unwrap();
    assert_json(
        &get(addr, "/ready"),
        503,
        r#"{"status":"not_ready","broker_ready":true,"db_ready":false,"agents_running":3,"sessions":7}"#,
    );
}

#[test]
fn ready_is_503_until_started() {
    let h = local(Arc::new(TestSource::new(TEST_BODY)))
        .ready_check("broker_ready", || true)
        .start()
        .unwrap();
    let addr = h.health_addr().unwrap();
    assert_json(
        &get(addr, "/ready"),
        503,
        r#"{"status":"not_ready","broker_ready":true}"#,
    );
    h.set_started();
    assert_json(&get(addr, "/ready"), 200, r#"{"status":"ready"}"#);
}

#[test]
fn readiness_transitions_seen_by_a_polling_client() {
    let h = local(Arc::new(TestSource::new(TEST_BODY)))
        .ready_fact("agents_running", || 1)
        .drain(Duration::from_millis(600))
        .start()
        .unwrap();
    let addr = h.health_addr().unwrap();
    let poller = thread::spawn(move || {
        let mut seen: Vec<(u16, String)> = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            match try_get(addr, "/ready") {
                Some(r) => {
                    let item = (r.status, r.text());
                    if seen.last() != Some(&item) {
                        seen.push(item);
                    }
                }
                None => return seen, // listener closed: shutdown finished
            }
            thread::sleep(Duration::from_millis(20));
        }
        panic!("listener never closed; saw {seen:?}");
    });
    thread::sleep(Duration::from_millis(300)); // starting
    h.set_started();
    thread::sleep(Duration::from_millis(300)); // ready
    let t = Instant::now();
    h.shutdown(); // shutting down: 503 for the drain period, then closed
    assert!(t.elapsed() >= Duration::from_millis(600), "drained");
    let seen = poller.join().unwrap();
    assert_eq!(
        seen,
        vec![
            (
                503,
                r#"{"status":"not_ready","agents_running":1}"#.to_string()
            ),
            (200, r#"{"status":"ready","agents_running":1}"#.to_string()),
            (
                503,
                r#"{"status":"not_ready","agents_running":1}"#.to_string()
            ),
        ]
    );
}

#[test]
fn graceful_shutdown_completes_an_in_flight_scrape() {
    let source = Arc::new(TestSource::slow(TEST_BODY, Duration::from_millis(800)));
    let h = local(source.clone()).self_metrics(false).start().unwrap();
    let addr = h.metrics_addr().unwrap();
    let scrape = thread::spawn(move || get(addr, "/metrics"));
    // Wait until the encode has started.
    let deadline = Instant::now() + Duration::from_secs(10);
    while source.encodes() == 0 {
        assert!(Instant::now() < deadline, "scrape never arrived");
        thread::sleep(Duration::from_millis(5));
    }
    h.shutdown();
    let r = scrape.join().unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), TEST_BODY);
    // And the listener is gone.
    assert!(TcpStream::connect(addr).is_err());
}

#[test]
fn drop_stops_the_servers() {
    let h = local(Arc::new(TestSource::new(TEST_BODY))).start().unwrap();
    let addrs = [
        h.metrics_addr().unwrap(),
        h.health_addr().unwrap(),
        h.admin_addr().unwrap(),
    ];
    drop(h);
    for a in addrs {
        assert!(TcpStream::connect(a).is_err(), "{a} still listening");
    }
}

#[test]
fn concurrent_scrapes_share_one_encode() {
    const N: usize = 16;
    let source = Arc::new(TestSource::slow(TEST_BODY, Duration::from_millis(300)));
    let h = local(source.clone()).self_metrics(false).start().unwrap();
    let addr = h.metrics_addr().unwrap();
    let barrier = Arc::new(Barrier::new(N));
    let scrapers: Vec<_> = (0..N)
        .map(|i| {
            let barrier = barrier.clone();
            thread::spawn(move || {
                barrier.wait();
                let gzip = if i % 2 == 0 { "gzip" } else { "identity" };
                request(addr, "GET", "/metrics", &[("Accept-Encoding", gzip)])
            })
        })
        .collect();
    for s in scrapers {
        let r = s.join().unwrap();
        assert_eq!(r.status, 200);
        let body = if r.header("content-encoding") == Some("gzip") {
            gunzip(&r.body)
        } else {
            r.body
        };
        assert_eq!(body, TEST_BODY.as_bytes());
    }
    let encodes = source.encodes();
    assert!(encodes < N, "{N} concurrent scrapes ran {encodes} encodes");
    let stats = h.stats();
    assert_eq!(stats.scrapes, N as u64);
    assert_eq!(stats.encodes, encodes as u64);
    eprintln!("{N} concurrent scrapes, {encodes} encodes");
}

#[test]
fn encodes_run_off_the_async_thread() {
    let source = Arc::new(TestSource::new(TEST_BODY));
    let h = local(source.clone()).start().unwrap();
    get(h.metrics_addr().unwrap(), "/metrics");
    let threads = source.threads.lock().unwrap().clone();
    assert_eq!(threads, vec!["telemeter-encode".to_string()]);
}

#[test]
fn self_metrics_count_scrapes_and_rejections() {
    let h = local(Arc::new(TestSource::new(TEST_BODY))).start().unwrap();
    let addr = h.metrics_addr().unwrap();
    get(addr, "/metrics");
    let body = get(addr, "/metrics").text();
    assert!(body.starts_with(TEST_BODY));
    for line in [
        "# TYPE telemeter_http_connections_rejected_total counter\n",
        "telemeter_http_connections_rejected_total 0\n",
        "telemeter_http_scrapes_total 2\n",
        "telemeter_http_encodes_total 1\n",
        "# TYPE telemeter_http_connections_active gauge\n",
        "telemeter_http_connections_active 1\n",
    ] {
        assert!(body.contains(line), "missing {line:?} in\n{body}");
    }
    let parsed = telemeter::parse::parse(&body).expect("valid exposition");
    assert!(parsed.family("telemeter_http_scrapes_total").is_some());
}

/// A panic payload whose drop panics too: a host bug that must still get
/// an answer, not a dropped connection.
struct Bomb;

impl Drop for Bomb {
    fn drop(&mut self) {
        panic!("the payload's drop panics too");
    }
}

#[test]
fn admin_pages_index_and_summary() {
    let h = local(Arc::new(TestSource::new(TEST_BODY)))
        .admin_page(
            "/admin/agents",
            || serde_json::json!({"agents": [{"id": "kate", "status": "running", "sessions": 2}]}),
        )
        .admin_page("/admin/tool-policy", || serde_json::json!({"tools": {}}))
        .admin_page("/admin/panics", || panic!("page bug"))
        .admin_page("/admin/bomb", || std::panic::panic_any(Bomb))
        .start()
        .unwrap();
    let addr = h.admin_addr().unwrap();
    let r = get(addr, "/admin/agents");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        r.json(),
        serde_json::json!({"agents": [{"id": "kate", "status": "running", "sessions": 2}]})
    );
    assert_eq!(
        get(addr, "/admin/tool-policy").json()["tools"],
        serde_json::json!({})
    );
    let r = get(addr, "/admin/metrics-summary");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["families"][0]["name"], "test_requests_total");
    for index in ["/admin", "/admin/"] {
        assert_eq!(
            get(addr, index).json(),
            serde_json::json!({"pages": ["/admin/agents", "/admin/bomb", "/admin/metrics-summary", "/admin/panics", "/admin/tool-policy"]})
        );
    }
    for page in ["/admin/panics", "/admin/bomb"] {
        let r = get(addr, page);
        assert_eq!(r.status, 500, "{page}");
        assert_eq!(r.json()["error"], "admin page handler panicked");
    }
    let r = get(addr, "/admin/nope");
    assert_eq!(r.status, 404);
    assert_eq!(r.header("content-type"), Some("application/json"));
    // The admin listener serves only admin paths, and vice versa.
    assert_eq!(get(addr, "/metrics").status, 404);
    assert_eq!(get(addr, "/health").status, 404);
    assert_eq!(get(h.metrics_addr().unwrap(), "/admin/agents").status, 404);
    assert_eq!(get(h.health_addr().unwrap(), "/metrics").status, 404);
    assert_eq!(get(h.metrics_addr().unwrap(), "/ready").status, 404);
}

#[test]
fn admin_handlers_see_the_decoded_query_and_refuse_with_json_errors() {
    use telemeter::server::{AdminError, AdminRequest};
    let h = local(Arc::new(TestSource::new(TEST_BODY)))
        .admin_handler("/admin/echo", |req: &AdminRequest| {
            if let Some(k) = req.query().unknown_key(&["agent", "tool", "flag"]) {
                return Err(AdminError::bad_request(format!("unknown parameter {k:?}")));
            }
            match req.query().get("agent") {
                Some("ghost") => Err(AdminError::not_found("no agent \"ghost\"")),
                agent => Ok(serde_json::json!({
                    "method": req.method(),
                    "path": req.path(),
                    "agent": agent,
                    "tools": req.query().get_all("tool").collect::<Vec<_>>(),
                    "flag": req.query().get("flag"),
                })),
            }
        })
        .start()
        .unwrap();
    let addr = h.admin_addr().unwrap();
    let r = get(
        addr,
        "/admin/echo?agent=k%C3%A4te&tool=web+search&tool=shell&flag",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        serde_json::json!({"method": "GET", "path": "/admin/echo", "agent": "käte",
                           "tools": ["web search", "shell"], "flag": ""})
    );
    assert_eq!(
        get(addr, "/admin/echo").json(),
        serde_json::json!({"method": "GET", "path": "/admin/echo", "agent": null, "tools": [], "flag": null})
    );
    let r = request(addr, "HEAD", "/admin/echo?agent=kate", &[]);
    assert_eq!(r.status, 200);
    assert_json(
        &get(addr, "/admin/echo?agent=ghost"),
        404,
        r#"{"error":"no agent \"ghost\""}"#,
    );
    assert_json(
        &get(addr, "/admin/echo?agnet=kate"),
        400,
        r#"{"error":"unknown parameter \"agnet\""}"#,
    );
    // Bad escapes and text that is not UTF-8: 400 before the handler runs.
    for bad in [
        "/admin/echo?agent=%zz",
        "/admin/echo?agent=%4",
        "/admin/echo?agent=%ff%fe",
    ] {
        let r = get(addr, bad);
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert!(
            r.json()["error"]
                .as_str()
                .unwrap()
                .starts_with("bad query string"),
            "{bad}"
        );
    }
    // The listener is still serving.
    assert_eq!(get(addr, "/admin/echo?agent=kate").status, 200);
}

#[test]
fn unknown_paths_are_404() {
    let h = local(Arc::new(TestSource::new(TEST_BODY))).start().unwrap();
    for path in [
        "/",
        "/metrics/",
        "/METRICS",
        "/healthz",
        "/ready/x",
        "/favicon.ico",
    ] {
        for addr in [h.metrics_addr().unwrap(), h.health_addr().unwrap()] {
            let r = get(addr, path);
            assert_eq!(r.status, 404, "{path}");
        }
    }
}

#[test]
fn methods_other_than_get_and_head_are_405() {
    let h = local(Arc::new(TestSource::new(TEST_BODY))).start().unwrap();
    for (addr, path) in [
        (h.metrics_addr().unwrap(), "/metrics"),
        (h.health_addr().unwrap(), "/health"),
        (h.health_addr().unwrap(), "/ready"),
        (h.admin_addr().unwrap(), "/admin/metrics-summary"),
    ] {
        for method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
            let r = request(addr, method, path, &[("Content-Length", "0")]);
            assert_eq!(r.status, 405, "{method} {path}");
            assert_eq!(r.header("allow"), Some("GET, HEAD"));
        }
    }
}

#[test]
fn request_bodies_are_refused() {
    let h = local(Arc::new(TestSource::new(TEST_BODY))).start().unwrap();
    let addr = h.metrics_addr().unwrap();
    let raw = server_support::send_raw(
        addr,
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    );
    assert_eq!(server_support::parse_response(&raw, false).status, 413);
    let raw = server_support::send_raw(
        addr,
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    );
    assert_eq!(server_support::parse_response(&raw, false).status, 413);
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    use std::io::{Read, Write};
    let h = local(Arc::new(TestSource::new(TEST_BODY)))
        .self_metrics(false)
        .start()
        .unwrap();
    let mut s = TcpStream::connect(h.metrics_addr().unwrap()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert_eq!(out.matches("HTTP/1.1 200 OK").count(), 2);
    assert_eq!(
        out.matches("test_requests_total{method=\"GET\"} 42")
            .count(),
        2
    );
    assert_eq!(h.stats().connections_accepted, 1);
}

#[test]
fn metrics_and_health_share_one_listener_on_the_same_address() {
    // A free port: bind, note it, release it.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let h = Exporter::builder()
        .source(Arc::new(TestSource::new(TEST_BODY)))
        .metrics_addr(&addr)
        .health_addr(&addr)
        .admin_addr("127.0.0.1:0")
        .start()
        .unwrap();
    assert_eq!(h.metrics_addr(), h.health_addr());
    let a = h.metrics_addr().unwrap();
    assert_eq!(a.port(), port);
    assert_eq!(get(a, "/metrics").status, 200);
    assert_json(&get(a, "/health"), 200, r#"{"status":"ok"}"#);
    assert_eq!(get(a, "/ready").status, 503);
    assert_eq!(get(a, "/admin/metrics-summary").status, 404);
}

#[test]
fn port_zero_surfaces_get_distinct_ports() {
    let h = local(Arc::new(TestSource::new(TEST_BODY))).start().unwrap();
    let (m, he, a) = (
        h.metrics_addr().unwrap(),
        h.health_addr().unwrap(),
        h.admin_addr().unwrap(),
    );
    assert!(m.port() != 0 && he.port() != 0 && a.port() != 0);
    assert!(m != he && he != a && m != a);
    assert!(m.ip().is_loopback());
}

#[test]
fn disabled_surfaces_bind_nothing() {
    let h = Exporter::builder()
        .source(Arc::new(TestSource::new(TEST_BODY)))
        .metrics_addr("")
        .no_health()
        .admin_addr("127.0.0.1:0")
        .start()
        .unwrap();
    assert_eq!(h.metrics_addr(), None);
    assert_eq!(h.health_addr(), None);
    let a = h.admin_addr().unwrap();
    // No metrics server: no summary page either.
    assert_eq!(get(a, "/admin/metrics-summary").status, 404);
    assert_eq!(get(a, "/admin/").json(), serde_json::json!({"pages": []}));
}

#[test]
fn go_style_port_only_address_listens_everywhere() {
    let h = Exporter::builder()
        .source(Arc::new(TestSource::new(TEST_BODY)))
        .metrics_addr(":0")
        .no_health()
        .no_admin()
        .start()
        .unwrap();
    let a = h.metrics_addr().unwrap();
    assert!(a.ip().is_unspecified());
    let local: SocketAddr = format!("127.0.0.1:{}", a.port()).parse().unwrap();
    assert_eq!(get(local, "/metrics").status, 200);
}

#[test]
fn non_loopback_admin_is_refused_unless_allowed() {
    let err = Exporter::builder()
        .source(Arc::new(TestSource::new(TEST_BODY)))
        .no_metrics()
        .no_health()
        .admin_addr("0.0.0.0:0")
        .start()
        .unwrap_err();
    assert!(matches!(err, ServerError::NonLoopbackAdmin { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("not a loopback address"), "{msg}");
    assert!(msg.contains("allow_non_loopback_admin(true)"), "{msg}");

    let h = Exporter::builder()
        .no_metrics()
        .no_health()
        .admin_addr("0.0.0.0:0")
        .allow_non_loopback_admin(true)
        .start()
        .unwrap();
    assert!(h.admin_addr().unwrap().ip().is_unspecified());
    // [::1] is loopback too.
    if TcpListener::bind("[::1]:0").is_ok() {
        let h = Exporter::builder()
            .no_metrics()
            .no_health()
            .admin_addr("[::1]:0")
            .start()
            .unwrap();
        assert!(h.admin_addr().unwrap().ip().is_loopback());
    }
}

#[test]
fn builder_errors_name_the_problem_and_the_fix() {
    let src = || Arc::new(TestSource::new(TEST_BODY));
    let err = local(src()).metrics_addr("localhost").start().unwrap_err();
    assert!(
        matches!(
            err,
            ServerError::InvalidAddress {
                surface: Surface::Metrics,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("\"localhost\""));
    assert!(err.to_string().contains("to disable"));

    let err = local(src()).health_addr(":99999").start().unwrap_err();
    assert!(matches!(
        err,
        ServerError::InvalidAddress {
            surface: Surface::Health,
            ..
        }
    ));

    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let err = local(src()).health_addr(&addr).start().unwrap_err();
    assert!(matches!(err, ServerError::Bind { .. }), "{err}");
    assert!(err.to_string().contains(&addr), "{err}");
    assert!(err.to_string().contains("health"), "{err}");
    assert!(std::error::Error::source(&err).is_some());

    let err = local(src())
        .admin_page("/agents", || serde_json::json!({}))
        .start()
        .unwrap_err();
    assert!(matches!(err, ServerError::InvalidAdminPath { .. }), "{err}");
    let err = local(src())
        .admin_page("/admin/metrics-summary", || serde_json::json!({}))
        .start()
        .unwrap_err();
    assert!(err.to_string().contains("built-in"), "{err}");
    let err = local(src())
        .admin_page("/admin/a", || serde_json::json!({}))
        .admin_page("/admin/a", || serde_json::json!({}))
        .start()
        .unwrap_err();
    assert!(err.to_string().contains("already registered"), "{err}");

    let err = local(src())
        .ready_check("status", || true)
        .start()
        .unwrap_err();
    assert!(
        matches!(err, ServerError::InvalidReadinessName { .. }),
        "{err}"
    );
    let err = local(src())
        .ready_check("x", || true)
        .ready_fact("x", || 1)
        .start()
        .unwrap_err();
    assert!(err.to_string().contains("already registered"), "{err}");

    let err = local(src()).max_connections(0).start().unwrap_err();
    assert!(matches!(
        err,
        ServerError::InvalidLimit {
            setting: "max_connections",
            ..
        }
    ));
    let err = local(src()).max_header_bytes(10).start().unwrap_err();
    assert!(err.to_string().contains("max_header_bytes"), "{err}");
}

#[test]
fn serves_a_real_registry() {
    let reg = telemeter::Registry::new();
    let fam = reg
        .counter_family(
            telemeter::Opts::new("rpc_requests_total", "RPC calls handled.")
                .labels(&["component", "method"]),
        )
        .unwrap();
    fam.with_label_values(&["api", "Get"]).unwrap().add(5);
    let hist = reg
        .histogram(
            "rpc_duration_seconds",
            "RPC latency.",
            telemeter::Buckets::new(vec![0.01, 0.1, 1.0]).unwrap(),
        )
        .unwrap();
    hist.observe(0.05);
    let h = Exporter::builder()
        .registry(reg.clone())
        .metrics_addr("127.0.0.1:0")
        .health_addr("127.0.0.1:0")
        .admin_addr("127.0.0.1:0")
        .start()
        .unwrap();
    let r = get(h.metrics_addr().unwrap(), "/metrics");
    assert_eq!(r.status, 200);
    let body = r.text();
    let parsed = telemeter::parse::parse(&body).unwrap_or_else(|e| panic!("{e}\n{body}"));
    assert_eq!(
        parsed.family("rpc_requests_total").unwrap().samples[0].value,
        5.0
    );
    assert!(
        body.contains("rpc_duration_seconds_bucket{le=\"0.1\"} 1\n"),
        "{body}"
    );
    assert!(parsed.family("telemeter_http_scrapes_total").is_some());

    let gz = request(
        h.metrics_addr().unwrap(),
        "GET",
        "/metrics",
        &[("Accept-Encoding", "gzip")],
    );
    let unzipped = String::from_utf8(gunzip(&gz.body)).unwrap();
    telemeter::parse::parse(&unzipped).expect("gzip body parses");
    assert!(unzipped.contains("rpc_requests_total{component=\"api\",method=\"Get\"} 5\n"));

    let summary = get(h.admin_addr().unwrap(), "/admin/metrics-summary").json();
    let names: Vec<&str> = summary["families"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"rpc_requests_total"), "{summary}");
    assert!(names.contains(&"rpc_duration_seconds"), "{summary}");
}

#[test]
fn runs_on_a_host_runtime_from_outside_it() {
    let (tx, rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let host = thread::Builder::new()
        .name("host-runtime".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            tx.send(rt.handle().clone()).unwrap();
            rt.block_on(async {
                let _ = stop_rx.await;
            });
        })
        .unwrap();
    let handle = rx.recv().unwrap();
    let source = Arc::new(TestSource::new(TEST_BODY));
    let h = local(source.clone())
        .runtime(handle)
        .self_metrics(false)
        .start()
        .unwrap();
    let addr = h.metrics_addr().unwrap();
    assert_eq!(get(addr, "/metrics").text(), TEST_BODY);
    assert_eq!(get(h.health_addr().unwrap(), "/health").status, 200);
    // The encode ran on the encode thread, not the runtime's only worker.
    let threads = source.threads.lock().unwrap().clone();
    assert_eq!(threads.len(), 1);
    assert_eq!(threads[0], "telemeter-encode");
    h.shutdown(); // outside the runtime: waits for the servers to stop
    assert!(TcpStream::connect(addr).is_err());
    stop_tx.send(()).unwrap();
    host.join().unwrap();
}

#[test]
fn runs_on_a_host_runtime_from_inside_it() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let h = Exporter::builder()
            .source(Arc::new(TestSource::new(TEST_BODY)))
            .runtime(tokio::runtime::Handle::current())
            .metrics_addr("127.0.0.1:0")
            .no_health()
            .no_admin()
            .self_metrics(false)
            .start()
            .unwrap();
        let addr = h.metrics_addr().unwrap();
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.unwrap();
        let r = server_support::parse_response(&out, false);
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), TEST_BODY);
        h.shutdown_async().await;
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    });
}

#[test]
fn encode_panic_is_a_500_and_the_server_survives() {
    struct Panicky(AtomicBool);
    impl MetricsSource for Panicky {
        fn encode(&self, buf: &mut Vec<u8>) {
            if self.0.swap(false, Ordering::SeqCst) {
                panic!("encode bug");
            }
            buf.extend_from_slice(TEST_BODY.as_bytes());
        }
        fn summary_json(&self) -> serde_json::Value {
            serde_json::json!({})
        }
    }
    let h = local(Arc::new(Panicky(AtomicBool::new(true))))
        .self_metrics(false)
        .start()
        .unwrap();
    let addr = h.metrics_addr().unwrap();
    assert_eq!(get(addr, "/metrics").status, 500);
    assert_eq!(get(addr, "/metrics").text(), TEST_BODY);
    assert_eq!(h.stats().encode_panics, 1);
}

#[test]
fn without_a_source_the_default_registry_is_served() {
    telemeter::default_registry()
        .counter("server_http_default_registry_total", "Test.")
        .unwrap()
        .add(3);
    let h = Exporter::builder()
        .metrics_addr("127.0.0.1:0")
        .no_health()
        .no_admin()
        .start()
        .unwrap();
    let body = get(h.metrics_addr().unwrap(), "/metrics").text();
    assert!(
        body.contains("server_http_default_registry_total 3\n"),
        "{body}"
    );
}
