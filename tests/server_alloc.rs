//! What a steady-state scrape through the `Exporter` allocates, counted by
//! this binary's global allocator (its own test binary, so nothing else
//! runs beside it): nothing, in every format (text 0.0.4, OpenMetrics with
//! exemplars, protobuf with a native histogram), gzipped or not.
//!
//! `Registry::encode` into a reused buffer allocates nothing
//! (`tests/engine_exposition.rs` and `benches/memory.rs`). Over HTTP, each
//! of these once cost a steady-state scrape an allocation, and each is
//! pinned here:
//!
//! * hyper re-reserving its 8 KB read buffer for an EOF check on every
//!   request (fixed by `half_close`);
//! * a `HeaderMap` per response, 328 B (the request's map is handed back);
//! * hyper's header-read sleep, boxed per request, 96 B (a zero-sized
//!   handle on a per-connection sleep: `src/server/timer.rs`);
//! * the encode's blocking-pool task, 256 B (one encode thread for the
//!   scraper's life);
//! * the body's `Bytes` control block, 24 B (responses share the reused
//!   `Arc<Vec<u8>>` body: `src/server/body.rs`).

use std::io::{Read, Write};
use std::net::TcpStream;

use telemeter::{Exporter, Opts, Registry};

// The benches' counting allocator, shared rather than written again.
#[path = "../benches/common/counting_alloc.rs"]
mod counting_alloc;

#[global_allocator]
static GLOBAL: counting_alloc::Counting = counting_alloc::Counting;

/// One keep-alive scrape with buffers allocated up front: the client side
/// allocates nothing. Returns the body length.
fn scrape(s: &mut TcpStream, buf: &mut [u8], gzip: bool, accept: &[u8]) -> usize {
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: t\r\n")
        .expect("request written");
    if gzip {
        s.write_all(b"Accept-Encoding: gzip\r\n").expect("written");
    }
    if !accept.is_empty() {
        s.write_all(b"Accept: ").expect("written");
        s.write_all(accept).expect("written");
        s.write_all(b"\r\n").expect("written");
    }
    s.write_all(b"\r\n").expect("written");
    let mut got = 0;
    loop {
        let n = s.read(&mut buf[got..]).expect("response read");
        assert!(n > 0, "server closed the connection");
        got += n;
        let text = &buf[..got];
        let Some(end) = text.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = &text[..end];
        assert!(head.starts_with(b"HTTP/1.1 200"), "status line");
        let key = b"content-length: ";
        let at = head
            .windows(key.len())
            .position(|w| w.eq_ignore_ascii_case(key))
            .expect("content-length");
        let digits = &head[at + key.len()..];
        let len = digits
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .fold(0usize, |n, d| n * 10 + usize::from(d - b'0'));
        if got >= end + 4 + len {
            assert_eq!(got, end + 4 + len, "one response, nothing after it");
            return len;
        }
    }
}

#[test]
fn a_steady_state_scrape_over_http_allocates_nothing() {
    let reg = Registry::new();
    let fam = reg
        .counter_family(Opts::new("alloc_total", "Allocation test.").labels(&["k"]))
        .expect("valid family");
    for i in 0..2000 {
        fam.with_label_values(&[&format!("v{i}")])
            .expect("series")
            .inc();
    }
    // Every kind the other formats write differently: exemplars, a native
    // histogram, an info and a state set family.
    fam.with_label_values(&["v0"])
        .expect("series")
        .inc_with_exemplar(&[("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736")]);
    let h = reg
        .histogram("alloc_seconds", "Latency.", telemeter::Buckets::default())
        .expect("valid histogram");
    h.observe_with_exemplar(0.2, &[("trace_id", "abc")]);
    let n = reg
        .native_histogram(
            "alloc_native_seconds",
            "Latency.",
            telemeter::NativeBuckets::default(),
        )
        .expect("valid native histogram");
    for v in [0.001, 0.02, 0.3, 4.0] {
        n.observe(v);
    }
    reg.info("alloc_build", "Build.", &[("version", "1")])
        .expect("valid info");
    reg.state_set_family(Opts::new("alloc_state", "State."), &["a", "b"])
        .expect("valid state set")
        .with_label_values(&[])
        .expect("series")
        .set("b")
        .expect("a state");
    let h = Exporter::builder()
        .registry(reg.clone())
        .metrics_addr("127.0.0.1:0")
        .no_health()
        .no_admin()
        .start()
        .expect("exporter starts");
    let mut s = TcpStream::connect(h.metrics_addr().expect("bound")).expect("connects");
    let mut buf = vec![0u8; 1 << 20];
    // Text 0.0.4 (no Accept), OpenMetrics, protobuf.
    let accepts: [&[u8]; 3] = [
        b"",
        b"application/openmetrics-text;version=1.0.0",
        b"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited",
    ];
    for accept in accepts {
        for gzip in [false, true] {
            for _ in 0..5 {
                assert!(scrape(&mut s, &mut buf, gzip, accept) > 0); // buffers reach size
            }
            let n = 100;
            let (b0, c0) = counting_alloc::allocated();
            for _ in 0..n {
                scrape(&mut s, &mut buf, gzip, accept);
            }
            let (b1, c1) = counting_alloc::allocated();
            let (bytes, calls) = (b1 - b0, c1 - c0);
            let accept = String::from_utf8_lossy(accept);
            assert_eq!(
                (bytes, calls),
                (0, 0),
                "gzip {gzip}, Accept {accept:?}: {n} scrapes allocated {bytes} B in {calls} calls"
            );
        }
    }
    drop(h);
}
