//! Hostile clients: slowloris, huge headers, connection floods, bad methods,
//! garbage bytes. Each gets an error or a closed connection; the server keeps
//! serving.

mod server_support;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use server_support::{get, parse_response, request, send_raw, TestSource, TEST_BODY};
use telemeter::server::{Exporter, ExporterHandle};

fn start(max_connections: usize, header_timeout: Duration) -> ExporterHandle {
    Exporter::builder()
        .source(Arc::new(TestSource::new(TEST_BODY)))
        .metrics_addr("127.0.0.1:0")
        .health_addr("127.0.0.1:0")
        .no_admin()
        .max_connections(max_connections)
        .header_read_timeout(header_timeout)
        // The header timeout alone bounds a silent connection here, as it
        // did before the first-byte timeout (tested in `server_flood.rs`).
        .first_byte_timeout(header_timeout)
        .start()
        .unwrap()
}

/// Reads until EOF or error; true if the peer closed (EOF or reset).
fn closed_by_peer(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {
                return false
            }
            Err(_) => return true,
        }
    }
}

#[test]
fn slowloris_one_header_byte_per_second_is_disconnected_within_the_timeout() {
    let h = start(64, Duration::from_secs(2));
    let addr = h.metrics_addr().unwrap();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let started = Instant::now();
    let request = b"GET /metrics HTTP/1.1\r\nHost: slow\r\nX-Slow: aaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let mut disconnected = None;
    for &byte in request.iter() {
        // A write fails once the server has closed (reset).
        if s.write_all(&[byte]).is_err() {
            disconnected = Some(started.elapsed());
            break;
        }
        // Wait a second, noticing a close while we wait.
        let until = Instant::now() + Duration::from_secs(1);
        while Instant::now() < until {
            if closed_by_peer(&mut s) {
                disconnected = Some(started.elapsed());
                break;
            }
        }
        if disconnected.is_some() {
            break;
        }
    }
    let after = disconnected.expect("a slowloris client was never disconnected");
    // Timeout 2 s, plus a byte interval of slack.
    assert!(
        after < Duration::from_millis(3500),
        "disconnected after {after:?}"
    );
    assert!(
        after >= Duration::from_millis(1500),
        "disconnected too early: {after:?}"
    );
    // Everyone else is still served.
    assert_eq!(get(addr, "/metrics").status, 200);
}

#[test]
fn idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    let h = start(64, Duration::from_secs(1));
    let mut s = TcpStream::connect(h.metrics_addr().unwrap()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let started = Instant::now();
    let mut out = Vec::new();
    // The response arrives, then the idle connection is closed.
    let _ = s.read_to_end(&mut out);
    assert!(started.elapsed() < Duration::from_secs(4));
    assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 200 OK"));
}

#[test]
fn sixty_four_kib_of_headers_get_431_or_a_close() {
    let h = start(64, Duration::from_secs(5));
    let addr = h.metrics_addr().unwrap();
    let raw = server_support::oversized_head("/metrics");
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // The server may close before we finish writing: that is a pass too.
    let _ = s.write_all(&raw);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let head = String::from_utf8_lossy(&out);
    assert!(
        out.is_empty() || head.starts_with("HTTP/1.1 431"),
        "expected 431 or a close, got {head:?}"
    );
    // One very long header line, too.
    let long = format!(
        "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Long: {}\r\n\r\n",
        "b".repeat(64 * 1024)
    );
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(long.as_bytes());
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    assert!(out.is_empty() || out.starts_with(b"HTTP/1.1 431"));
    assert_eq!(get(addr, "/metrics").status, 200);
}

#[test]
fn headers_just_under_the_limit_are_served() {
    let h = start(64, Duration::from_secs(5));
    let filler = "c".repeat(12 * 1024);
    let r = request(
        h.metrics_addr().unwrap(),
        "GET",
        "/metrics",
        &[("X-Filler", &filler)],
    );
    assert_eq!(r.status, 200);
}

#[test]
fn a_thousand_connections_at_once_then_a_normal_scrape() {
    const FLOOD: usize = 1000;
    const LIMIT: usize = 256;
    let h = start(LIMIT, Duration::from_secs(60));
    let addr = h.metrics_addr().unwrap();
    // The process's descriptor limit bounds how many we can hold open.
    let mut conns: Vec<TcpStream> = Vec::with_capacity(FLOOD);
    let mut connect_errors = 0;
    for _ in 0..FLOOD {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
            Ok(s) => conns.push(s),
            Err(_) => connect_errors += 1,
        }
    }
    eprintln!(
        "opened {} of {FLOOD} connections ({connect_errors} failed to connect)",
        conns.len()
    );
    assert!(conns.len() > LIMIT, "could not open more than the limit");
    // Let the server accept them all: at the limit each new one evicts the
    // oldest silent one (issue 21: a flood must not lock a scraper out).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = h.stats();
        if s.connections_accepted + s.connections_rejected >= conns.len() as u64
            && s.connections_active == LIMIT as u64
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "server did not take the flood: {s:?}"
        );
        thread::sleep(Duration::from_millis(20));
    }
    let s = h.stats();
    assert_eq!(s.connections_accepted, conns.len() as u64, "{s:?}");
    assert_eq!(s.connections_rejected, 0, "{s:?}");
    assert_eq!(s.connections_evicted, (conns.len() - LIMIT) as u64, "{s:?}");
    assert_eq!(s.connections_active, LIMIT as u64);

    // While the flood holds the limit, the health listener (its own limit)
    // still answers, and so does a scrape (it evicts a silent connection).
    let r = get(addr, "/metrics");
    assert_eq!(r.status, 200);
    assert_eq!(get(h.health_addr().unwrap(), "/health").status, 200);

    // The flood goes away; a normal scrape succeeds and reports the evictions.
    drop(conns);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(r) = server_support::try_get(addr, "/metrics") {
            assert_eq!(r.status, 200);
            let body = r.text();
            assert!(body.starts_with(TEST_BODY));
            let evicted = h.stats().connections_evicted;
            assert!(
                evicted > s.connections_evicted,
                "the scrape above evicted one"
            );
            assert!(body.contains(&format!(
                "telemeter_http_connections_evicted_total {evicted}\n"
            )));
            break;
        }
        assert!(Instant::now() < deadline, "no scrape after the flood");
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn post_metrics_is_405() {
    let h = start(64, Duration::from_secs(5));
    let r = request(
        h.metrics_addr().unwrap(),
        "POST",
        "/metrics",
        &[("Content-Length", "3")],
    );
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
    // With a body actually sent, too.
    let raw = send_raw(
        h.metrics_addr().unwrap(),
        b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
    );
    assert_eq!(parse_response(&raw, false).status, 405);
}

#[test]
fn garbage_bytes_never_take_the_server_down() {
    let h = start(64, Duration::from_secs(2));
    let addr: SocketAddr = h.metrics_addr().unwrap();
    let mut inputs: Vec<Vec<u8>> = vec![
        b"\x00\x01\x02\x03\xff\xfe\r\n\r\n".to_vec(),
        b"GET\r\n\r\n".to_vec(),
        b"GET /metrics HTTP/9.9\r\n\r\n".to_vec(),
        b"GET /metrics\r\n\r\n".to_vec(),
        b"GET /metrics HTTP/1.1\r\nHost x\r\n\r\n".to_vec(),
        b"GET /metrics HTTP/1.1\r\nContent-Length: -1\r\n\r\n".to_vec(),
        b"GET /metrics HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n".to_vec(),
        b"GET /metrics HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n".to_vec(),
        b"GET \xff\xff HTTP/1.1\r\n\r\n".to_vec(),
        b"GET http://evil.example/metrics HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        b"GET * HTTP/1.1\r\n\r\n".to_vec(),
        b"CONNECT x:443 HTTP/1.1\r\n\r\n".to_vec(),
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(),
        b"\r\n\r\n\r\n\r\n".to_vec(),
        b"GET /metrics HTTP/1.1\r\nAccept-Encoding: \xff\xfe;q=\r\n\r\n".to_vec(),
    ];
    // And some deterministic pseudo-random noise.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for len in [1usize, 7, 64, 512, 4096] {
        let mut v = Vec::with_capacity(len);
        for _ in 0..len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            v.push(x as u8);
        }
        inputs.push(v);
    }
    for input in &inputs {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = s.write_all(input);
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        if !out.is_empty() {
            assert!(
                out.starts_with(b"HTTP/1.1 "),
                "{:?}",
                String::from_utf8_lossy(&out)
            );
        }
        // Still alive after every input.
        assert_eq!(get(addr, "/metrics").status, 200, "after {input:?}");
    }
}

#[test]
fn a_client_that_never_reads_its_response_is_dropped_after_the_write_timeout() {
    // A body far larger than the socket buffers, so the write must stall.
    let big = "x_total 1\n".repeat(4 * 1024 * 1024); // 40 MiB
    let h = Exporter::builder()
        .source(Arc::new(TestSource::new(&big)))
        .metrics_addr("127.0.0.1:0")
        .no_health()
        .no_admin()
        .self_metrics(false)
        .write_timeout(Duration::from_secs(1))
        .start()
        .unwrap();
    let addr = h.metrics_addr().unwrap();
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    // Never read. The server encodes, writes until the buffers fill, stalls,
    // and gives up on the connection.
    let deadline = Instant::now() + Duration::from_secs(20);
    while h.stats().encodes == 0 {
        assert!(Instant::now() < deadline, "scrape never arrived");
        thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(h.stats().connections_active, 1);
    let started = Instant::now();
    while h.stats().connections_active != 0 {
        assert!(
            Instant::now() < deadline,
            "stalled connection never dropped"
        );
        thread::sleep(Duration::from_millis(20));
    }
    let after = started.elapsed();
    eprintln!("stalled reader dropped {after:?} after the encode");
    assert!(after >= Duration::from_millis(900), "{after:?}");
    drop(s);
    // A reading client still gets the whole body.
    let r = get(addr, "/metrics");
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), big.len());
}

#[test]
fn get_with_an_empty_body_is_served() {
    let h = start(64, Duration::from_secs(5));
    let r = request(
        h.metrics_addr().unwrap(),
        "GET",
        "/metrics",
        &[("Content-Length", "0")],
    );
    assert_eq!(r.status, 200);
}

#[test]
fn a_client_that_half_closes_after_its_request_still_gets_the_response() {
    let h = start(64, Duration::from_secs(5));
    let addr = h.metrics_addr().unwrap();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .unwrap();
    // Nothing more will come from this client.
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut out = Vec::new();
    // The server answers, then closes: the client can send no next request.
    s.read_to_end(&mut out).unwrap();
    let r = parse_response(&out, false);
    assert_eq!(r.status, 200);
    assert!(r.body.starts_with(TEST_BODY.as_bytes()));
}

#[test]
fn clients_that_vanish_mid_scrape_leave_the_server_serving() {
    let h = start(64, Duration::from_secs(5));
    let addr = h.metrics_addr().unwrap();
    for _ in 0..20 {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
            .unwrap();
        drop(s); // before reading anything
    }
    let r = get(addr, "/metrics");
    assert_eq!(r.status, 200);
    assert!(r.body.starts_with(TEST_BODY.as_bytes()));
    // Every vanished connection is closed and forgotten, none left open.
    let deadline = Instant::now() + Duration::from_secs(10);
    while h.stats().connections_active > 0 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(h.stats().connections_active, 0);
}

/// Reads one response off a kept-alive connection (the server sends
/// nothing after it until the next request): the head, then
/// `Content-Length` bytes of body.
fn read_one_response(s: &mut TcpStream) -> Vec<u8> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(p) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        let n = s.read(&mut buf).expect("a response");
        assert!(n > 0, "closed before a full head: {raw:?}");
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .expect("a Content-Length")
        .trim()
        .parse()
        .unwrap();
    while raw.len() < head_end + len {
        let n = s.read(&mut buf).expect("the body");
        assert!(n > 0, "closed mid-body");
        raw.extend_from_slice(&buf[..n]);
    }
    raw
}

/// The header-read timer (src/server/timer.rs) shares one sleep per
/// connection on the strength of how hyper's HTTP/1 server uses its timer,
/// and falls back to a sleep of its own, counted, wherever that does not
/// hold. This pins the assumption against the hyper in Cargo.lock: real
/// connections arm and re-arm the timer (one request after another on a
/// kept-alive connection, an idle connection, a client too slow with its
/// headers), the timeout answers and closes as the tests above expect, and
/// no call ever falls back.
#[test]
fn the_header_timer_keeps_to_one_shared_sleep_with_the_locked_hyper() {
    let timeout = Duration::from_secs(1);
    let h = start(64, timeout);
    let addr = h.metrics_addr().unwrap();

    // Keep-alive: requests 400 ms apart, 2 s in all, on one connection. Each
    // head re-arms the deadline; a deadline kept from the first request
    // would close the connection after 1 s.
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    for i in 0..5 {
        if i > 0 {
            thread::sleep(Duration::from_millis(400));
        }
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let r = parse_response(&read_one_response(&mut s), false);
        assert_eq!(r.status, 200, "request {i}");
        assert!(r.body.starts_with(TEST_BODY.as_bytes()));
    }
    // Then idle: closed after the timeout, with nothing more sent.
    let idle = Instant::now();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    let after = idle.elapsed();
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
    assert!(
        after >= Duration::from_millis(800) && after < Duration::from_secs(4),
        "idle connection closed after {after:?}"
    );

    // A head in two parts, the second well within the deadline: served.
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHo").unwrap();
    thread::sleep(Duration::from_millis(300));
    s.write_all(b"st: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    assert_eq!(parse_response(&out, false).status, 200);

    // A head that never finishes, a byte every 200 ms: disconnected at the
    // deadline, with no response (hyper answers a header timeout by closing).
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    let started = Instant::now();
    let mut closed = None;
    for &byte in b"GET /metrics HTTP/1.1\r\nHost: slow\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    {
        if s.write_all(&[byte]).is_err() {
            closed = Some(started.elapsed());
            break;
        }
        let until = Instant::now() + Duration::from_millis(200);
        let mut got = Vec::new();
        while Instant::now() < until && closed.is_none() {
            let mut buf = [0u8; 256];
            match s.read(&mut buf) {
                Ok(0) => closed = Some(started.elapsed()),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {}
                Err(_) => closed = Some(started.elapsed()),
            }
        }
        assert!(got.is_empty(), "{:?}", String::from_utf8_lossy(&got));
        if closed.is_some() {
            break;
        }
    }
    let after = closed.expect("a client slow with its headers was never disconnected");
    assert!(
        after >= Duration::from_millis(800) && after < Duration::from_secs(4),
        "slow client disconnected after {after:?}"
    );

    // The server still serves, and the timer never left its shared sleep.
    assert_eq!(get(addr, "/metrics").status, 200);
    assert_eq!(
        telemeter::server::header_timer_fallbacks(),
        0,
        "hyper used the header-read timer in a way src/server/timer.rs does not \
         expect (see its module docs): it fell back to sleeps of its own"
    );
}
