//! The `Host` header over real sockets on 127.0.0.1: one per request on
//! every listener (RFC 9112), and loopback names (or configured ones) only
//! on the admin console, against DNS rebinding.

mod server_support;

use std::net::SocketAddr;
use std::sync::Arc;

use server_support::{parse_response, send_raw, Resp, TestSource, TEST_BODY};
use telemeter::server::{Exporter, ExporterHandle};

fn exporter() -> ExporterHandle {
    Exporter::builder()
        .source(Arc::new(TestSource::new(TEST_BODY)))
        .metrics_addr("127.0.0.1:0")
        .health_addr("127.0.0.1:0")
        .admin_addr("127.0.0.1:0")
        .admin_host("Console.Internal")
        .self_metrics(false)
        .start()
        .expect("exporter")
}

/// A GET of `path` with exactly the header lines `headers`.
fn get_with(addr: SocketAddr, version: &str, path: &str, headers: &[&str]) -> Resp {
    parse_response(&send(addr, version, path, headers), false)
}

/// The raw response to such a GET.
fn send(addr: SocketAddr, version: &str, path: &str, headers: &[&str]) -> Vec<u8> {
    let mut raw = format!("GET {path} {version}\r\nConnection: close\r\n");
    for h in headers {
        raw.push_str(h);
        raw.push_str("\r\n");
    }
    raw.push_str("\r\n");
    send_raw(addr, raw.as_bytes())
}

/// The status of an HTTP/1.0 request's response (`HTTP/1.0 NNN ...`).
fn status_1_0(addr: SocketAddr, path: &str) -> u16 {
    let raw = send(addr, "HTTP/1.0", path, &[]);
    let line = String::from_utf8_lossy(&raw);
    let line = line.lines().next().unwrap_or_default();
    assert!(line.starts_with("HTTP/1.0 "), "{line}");
    line[9..12].parse().expect("a status code")
}

#[test]
fn the_admin_console_answers_loopback_and_configured_hosts_only() {
    let h = exporter();
    let admin = h.admin_addr().unwrap();
    let port = admin.port();
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        "localhost".to_string(),
        format!("[::1]:{port}"),
        "127.1.2.3".to_string(),
        "console.internal:9000".to_string(),
    ] {
        for path in ["/admin", "/admin/metrics-summary"] {
            let r = get_with(admin, "HTTP/1.1", path, &[&format!("Host: {host}")]);
            assert_eq!(r.status, 200, "Host {host}, {path}: {}", r.text());
        }
    }
    for host in [
        "attacker.example",
        "attacker.example:9091",
        "localhost.attacker.example",
        "10.0.0.1",
    ] {
        for path in ["/admin", "/admin/", "/admin/metrics-summary"] {
            let r = get_with(admin, "HTTP/1.1", path, &[&format!("Host: {host}")]);
            assert_eq!(r.status, 421, "Host {host}, {path}");
            assert_eq!(r.header("content-type"), Some("application/json"));
            let v: serde_json::Value = serde_json::from_str(&r.text()).expect("a JSON error");
            assert!(
                v["error"].as_str().unwrap().contains("loopback"),
                "{}",
                r.text()
            );
            assert!(!r.text().contains("pages"), "no directory leaked");
        }
    }
    // HTTP/1.0 without Host names no host: refused on the console too.
    assert_eq!(status_1_0(admin, "/admin"), 421);
}

#[test]
fn every_listener_refuses_a_missing_or_repeated_host_with_400() {
    let h = exporter();
    for (addr, path) in [
        (h.metrics_addr().unwrap(), "/metrics"),
        (h.health_addr().unwrap(), "/ready"),
        (h.health_addr().unwrap(), "/health"),
        (h.admin_addr().unwrap(), "/admin"),
    ] {
        let missing = get_with(addr, "HTTP/1.1", path, &[]);
        assert_eq!(missing.status, 400, "{path} without Host");
        assert!(missing.text().contains("Host"), "{}", missing.text());
        let two = get_with(
            addr,
            "HTTP/1.1",
            path,
            &["Host: localhost", "Host: localhost"],
        );
        assert_eq!(two.status, 400, "{path} with two Host headers");
        let ok = get_with(addr, "HTTP/1.1", path, &[&format!("Host: {addr}")]);
        assert!(
            ok.status == 200 || ok.status == 503,
            "{path}: {}",
            ok.status
        );
    }
    // HTTP/1.0 may omit Host (RFC 9112 requires it of 1.1 only).
    let m = h.metrics_addr().unwrap();
    assert_eq!(status_1_0(m, "/metrics"), 200);
    // Any Host is fine for /metrics and /health: only the console checks.
    assert_eq!(
        get_with(
            m,
            "HTTP/1.1",
            "/metrics",
            &["Host: prometheus.example:9090"]
        )
        .status,
        200
    );
}
