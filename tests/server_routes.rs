//! Host routes (`ExporterBuilder::route`) on the health and metrics
//! listeners: what a handler sees and answers, which paths a route cannot
//! take, and the listener's hardening applied to them (slow and oversized
//! heads and bodies, panics, 1,000 connections).

mod server_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use server_support::{get, parse_response, post_form, request, send_raw, TestSource, TEST_BODY};
use telemeter::server::{
    header, Exporter, ExporterBuilder, ExporterHandle, HeaderName, HeaderValue, HostResponse,
    Method, Route, ServerError, Surface,
};

/// A health listener with the routes a pairing flow needs, and a metrics
/// listener with one route of its own.
fn routed(builder: ExporterBuilder) -> ExporterBuilder {
    builder
        .source(Arc::new(TestSource::new(TEST_BODY)))
        .metrics_addr("127.0.0.1:0")
        .health_addr("127.0.0.1:0")
        .no_admin()
        .route(Surface::Health, Route::prefix("/whatsapp/"), |req| {
            let who = req.query().get("who").unwrap_or("nobody");
            HostResponse::html(format!("<p>{} {} for {who}</p>", req.method(), req.path()))
        })
        .route(
            Surface::Health,
            Route::exact("/whatsapp/pair")
                .methods([Method::POST])
                .max_body_bytes(64),
            |req| match req.form() {
                Ok(form) => match form.get("code") {
                    Some(code) => HostResponse::empty(303)
                        .with_header(header::LOCATION, HeaderValue::from_static("/whatsapp/"))
                        .with_header(
                            HeaderName::from_static("x-approved"),
                            HeaderValue::from_str(code).unwrap(),
                        ),
                    None => HostResponse::text("give code=...\n").with_status(400),
                },
                Err(e) => HostResponse::text(format!("{e}\n")).with_status(400),
            },
        )
        .route(Surface::Health, Route::exact("/boom"), |_| {
            panic!("a host handler's bug")
        })
        .route(Surface::Health, Route::exact("/framed"), |_| {
            HostResponse::text("x")
                .with_header(header::CONTENT_LENGTH, HeaderValue::from_static("9"))
        })
        .route(Surface::Metrics, Route::exact("/metrics-info"), |req| {
            HostResponse::json(
                &serde_json::json!({ "agent": req.headers()["user-agent"].to_str().unwrap_or("") }),
            )
        })
}

fn start() -> ExporterHandle {
    routed(Exporter::builder()).start().unwrap()
}

#[test]
fn a_route_sees_method_path_query_headers_and_body_and_answers_with_its_own() {
    let h = start();
    let health = h.health_addr().unwrap();
    let r = get(health, "/whatsapp/ops-bot?who=k%C3%A4te");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.text(), "<p>GET /whatsapp/ops-bot for käte</p>");
    let head = request(health, "HEAD", "/whatsapp/", &[]);
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("content-length"),
        Some(
            "<p>HEAD /whatsapp/ for nobody</p>"
                .len()
                .to_string()
                .as_str()
        )
    );

    let r = post_form(health, "/whatsapp/pair", "code=AB+12");
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(r.header("location"), Some("/whatsapp/"));
    assert_eq!(r.header("x-approved"), Some("AB 12"));
    assert!(r.body.is_empty());
    assert_eq!(post_form(health, "/whatsapp/pair", "nothing=1").status, 400);
    let bad = post_form(health, "/whatsapp/pair", "code=%zz");
    assert_eq!(bad.status, 400);
    assert!(bad.text().contains("%25"), "{}", bad.text());

    // The built-in paths are still the exporter's.
    assert_eq!(get(health, "/health").text(), r#"{"status":"ok"}"#);
    assert_eq!(get(health, "/whatsapp").status, 404);
    // A metrics route is served on the metrics listener only.
    let m = h.metrics_addr().unwrap();
    let r = request(m, "GET", "/metrics-info", &[("User-Agent", "probe/1")]);
    assert_eq!(r.json(), serde_json::json!({ "agent": "probe/1" }));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(get(health, "/metrics-info").status, 404);
    assert_eq!(get(m, "/whatsapp/x").status, 404);
    assert!(get(m, "/metrics").text().starts_with(TEST_BODY));
    h.shutdown();
}

#[test]
fn methods_a_route_does_not_take_are_405_with_its_allow() {
    let h = start();
    let health = h.health_addr().unwrap();
    let r = get(health, "/whatsapp/pair");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST"));
    let r = post_form(health, "/whatsapp/kate", "");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
    // Off the routes, the listener's own rule stands.
    assert_eq!(post_form(health, "/health", "").status, 405);
    h.shutdown();
}

#[test]
fn a_body_over_the_route_limit_is_413_declared_or_chunked() {
    let h = start();
    let health = h.health_addr().unwrap();
    let big = format!("code={}", "a".repeat(100));
    let r = post_form(health, "/whatsapp/pair", &big);
    assert_eq!(r.status, 413);
    assert!(r.text().contains("at most 64 bytes"), "{}", r.text());
    assert_eq!(r.header("connection"), Some("close"));
    // Chunked, so no Content-Length tells the size in advance.
    let mut raw =
        b"POST /whatsapp/pair HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..10 {
        raw.extend_from_slice(b"10\r\naaaaaaaaaaaaaaaa\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    let r = parse_response(&send_raw(health, &raw), false);
    assert_eq!(r.status, 413);
    // Exactly at the limit is read.
    let at = format!("code={}", "b".repeat(59));
    assert_eq!(at.len(), 64);
    assert_eq!(post_form(health, "/whatsapp/pair", &at).status, 303);
    h.shutdown();
}

#[test]
fn a_body_that_does_not_arrive_in_the_header_timeout_is_408() {
    let h = routed(Exporter::builder())
        .header_read_timeout(Duration::from_millis(500))
        .start()
        .unwrap();
    let mut s = TcpStream::connect(h.health_addr().unwrap()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let started = Instant::now();
    s.write_all(b"POST /whatsapp/pair HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\ncode=")
        .unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let waited = started.elapsed();
    let r = parse_response(&out, false);
    assert_eq!(r.status, 408, "{}", r.text());
    assert!(
        waited >= Duration::from_millis(400) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    h.shutdown();
}

#[test]
fn a_panicking_or_misframing_handler_is_a_counted_500_and_the_listener_serves_on() {
    let h = start();
    let health = h.health_addr().unwrap();
    for _ in 0..3 {
        let r = get(health, "/boom");
        assert_eq!(r.status, 500);
        assert!(r.text().contains("panicked"), "{}", r.text());
    }
    let r = get(health, "/framed");
    assert_eq!(r.status, 500);
    assert!(r.text().contains("content-length"), "{}", r.text());
    assert_eq!(h.stats().handler_failures, 4);
    assert_eq!(get(health, "/whatsapp/").status, 200);
    let body = get(h.metrics_addr().unwrap(), "/metrics").text();
    assert!(
        body.contains("telemeter_http_handler_failures_total 4\n"),
        "{body}"
    );
    h.shutdown();
}

#[test]
fn routes_that_would_shadow_the_exporter_or_repeat_are_typed_errors() {
    let ok = |_: &telemeter::server::HostRequest| HostResponse::text("");
    let refused = |surface: Surface, route: Route| {
        let err = Exporter::builder()
            .no_metrics()
            .no_admin()
            .health_addr("127.0.0.1:0")
            .route(surface, route, ok)
            .start()
            .unwrap_err();
        match &err {
            ServerError::InvalidRoute { .. } => err.to_string(),
            other => panic!("{other:?}"),
        }
    };
    assert!(refused(Surface::Health, Route::exact("/ready")).contains("built-in"));
    assert!(refused(Surface::Metrics, Route::exact("/metrics")).contains("built-in"));
    assert!(refused(Surface::Health, Route::prefix("/")).contains("built-in"));
    assert!(refused(Surface::Health, Route::prefix("/admin/")).contains("admin console"));
    assert!(refused(Surface::Admin, Route::exact("/x")).contains("admin_handler"));
    assert!(refused(Surface::Health, Route::prefix("/whatsapp")).contains("end with '/'"));
    let twice = Exporter::builder()
        .route(Surface::Health, Route::exact("/x"), ok)
        .route(Surface::Health, Route::exact("/x"), ok)
        .start()
        .unwrap_err();
    assert!(twice.to_string().contains("already registered"), "{twice}");
}

#[test]
fn slow_and_oversized_heads_on_a_route_get_the_listener_treatment() {
    let h = routed(Exporter::builder())
        .header_read_timeout(Duration::from_secs(1))
        .first_byte_timeout(Duration::from_secs(1))
        .start()
        .unwrap();
    let health = h.health_addr().unwrap();
    // Slowloris: one byte every 100 ms; cut off at the header timeout.
    let mut s = TcpStream::connect(health).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    let started = Instant::now();
    let mut cut = None;
    for &b in
        b"GET /whatsapp/ HTTP/1.1\r\nHost: slow\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n"
    {
        if s.write_all(&[b]).is_err() {
            cut = Some(started.elapsed());
            break;
        }
        let mut buf = [0u8; 512];
        match s.read(&mut buf) {
            Ok(0) => {
                cut = Some(started.elapsed());
                break;
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => {
                cut = Some(started.elapsed());
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let cut = cut.expect("the slow client was never cut off");
    assert!(cut < Duration::from_secs(4), "{cut:?}");
    // 64 KiB of headers: 431 or a close, and the route serves on.
    let raw = server_support::oversized_head("/whatsapp/");
    let mut s = TcpStream::connect(health).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(&raw);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    assert!(
        out.is_empty() || out.starts_with(b"HTTP/1.1 431"),
        "{:?}",
        String::from_utf8_lossy(&out)
    );
    assert_eq!(get(health, "/whatsapp/").status, 200);
    h.shutdown();
}

#[test]
fn a_thousand_connections_on_the_health_listener_then_a_route_answers() {
    const LIMIT: usize = 128;
    let h = routed(Exporter::builder())
        .max_connections(LIMIT)
        .start()
        .unwrap();
    let health = h.health_addr().unwrap();
    let mut conns = Vec::new();
    for _ in 0..1000 {
        if let Ok(s) = TcpStream::connect_timeout(&health, Duration::from_secs(5)) {
            conns.push(s);
        }
    }
    assert!(conns.len() > LIMIT, "opened only {}", conns.len());
    let deadline = Instant::now() + Duration::from_secs(20);
    while h.stats().connections_accepted < conns.len() as u64 {
        assert!(Instant::now() < deadline, "{:?}", h.stats());
        std::thread::sleep(Duration::from_millis(20));
    }
    // The flood holds the limit with silent connections; a route's client
    // evicts one and is answered.
    let r = get(health, "/whatsapp/?who=probe");
    assert_eq!(r.status, 200);
    assert!(r.text().ends_with("for probe</p>"));
    let posted = post_form(health, "/whatsapp/pair", "code=1");
    assert_eq!(posted.status, 303);
    assert!(h.stats().connections_evicted >= (conns.len() - LIMIT) as u64);
    drop(conns);
    h.shutdown();
}

#[test]
fn handlers_run_off_the_async_threads_concurrently() {
    // A handler that blocks must not stall the listener: /health answers
    // while two handlers sleep.
    let sleeping = Arc::new(AtomicUsize::new(0));
    let s2 = Arc::clone(&sleeping);
    let h = Exporter::builder()
        .no_metrics()
        .no_admin()
        .health_addr("127.0.0.1:0")
        .route(Surface::Health, Route::exact("/slow"), move |_| {
            s2.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(1500));
            HostResponse::text("done")
        })
        .start()
        .unwrap();
    let addr = h.health_addr().unwrap();
    let slow: Vec<_> = (0..2)
        .map(|_| std::thread::spawn(move || get(addr, "/slow").text()))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while sleeping.load(Ordering::SeqCst) < 2 {
        assert!(Instant::now() < deadline, "the handlers did not both start");
        std::thread::sleep(Duration::from_millis(10));
    }
    let started = Instant::now();
    assert_eq!(get(addr, "/health").status, 200);
    assert!(started.elapsed() < Duration::from_millis(1000));
    for t in slow {
        assert_eq!(t.join().unwrap(), "done");
    }
    h.shutdown();
}
