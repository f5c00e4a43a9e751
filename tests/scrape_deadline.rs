//! A scrape has a deadline (issue 21): a scrape-time callback that blocks
//! costs that scrape its samples, never the body or the next scrape, and a
//! slow reader holds no other scraper up. Over real sockets on 127.0.0.1.

mod server_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use server_support::{parse_response, request, send_raw};
use telemeter::server::{Exporter, ExporterHandle};
use telemeter::{Opts, Registry};

/// Threads of this process whose name starts with `prefix` (Linux).
fn threads_named(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with(prefix))
        .count()
}

/// A registry with a counter, a fast callback and one that sleeps 30 s.
fn registry(deadline: Duration, calls: &Arc<AtomicU64>) -> Registry {
    let reg = Registry::builder().scrape_deadline(deadline).build();
    reg.counter("work_total", "Work.").unwrap().add(7);
    reg.gauge_fn("fast", "Returns at once.", || 2.0).unwrap();
    let calls = Arc::clone(calls);
    reg.gauge_fn("stuck", "Sleeps 30 s.", move || {
        calls.fetch_add(1, Ordering::Relaxed);
        thread::sleep(Duration::from_secs(30));
        1.0
    })
    .unwrap();
    reg
}

/// `reg` served on an OS-chosen loopback port (metrics only).
fn serve(reg: Registry) -> ExporterHandle {
    Exporter::builder()
        .registry(reg)
        .metrics_addr("127.0.0.1:0")
        .no_health()
        .no_admin()
        .start()
        .expect("exporter")
}

fn timeouts(body: &str) -> u64 {
    body.lines()
        .find_map(|l| l.strip_prefix("telemeter_scrape_callback_timeouts_total "))
        .expect("the timeouts counter")
        .parse()
        .unwrap()
}

#[test]
fn a_callback_that_blocks_is_skipped_and_counted_and_never_piles_up_threads() {
    let calls = Arc::new(AtomicU64::new(0));
    let reg = registry(Duration::from_millis(300), &calls);
    let before = threads_named("telemeter-callb");
    let t = Instant::now();
    let body = reg.encode_to_string();
    let first = t.elapsed();
    assert!(
        first >= Duration::from_millis(250) && first < Duration::from_secs(5),
        "{first:?}"
    );
    assert!(
        body.contains("work_total 7\n") && body.contains("fast 2\n"),
        "{body}"
    );
    assert!(
        body.contains("# TYPE stuck gauge\n") && !body.contains("stuck 1"),
        "{body}"
    );
    assert_eq!(timeouts(&body), 1);
    // Scrapes while it still sleeps skip it at once: no second call, no
    // second thread for it.
    for n in 2..=5 {
        let t = Instant::now();
        let body = reg.encode_to_string();
        assert!(
            t.elapsed() < Duration::from_millis(200),
            "{:?}",
            t.elapsed()
        );
        assert_eq!(timeouts(&body), n);
        assert!(body.contains("fast 2\n"));
    }
    assert_eq!(
        calls.load(Ordering::Relaxed),
        1,
        "one outstanding call at most"
    );
    // Two callbacks ran on threads of their own: fast and stuck.
    assert_eq!(threads_named("telemeter-callb") - before, 2);
}

#[test]
fn the_exporter_honours_the_scrapers_timeout_header() {
    let calls = Arc::new(AtomicU64::new(0));
    // The registry's own deadline (60 s) is longer than the scraper's.
    let reg = registry(Duration::from_secs(60), &calls);
    let h = serve(reg);
    let addr = h.metrics_addr().unwrap();
    let t = Instant::now();
    let r = request(
        addr,
        "GET",
        "/metrics",
        &[("X-Prometheus-Scrape-Timeout-Seconds", "1.5")],
    );
    let took = t.elapsed();
    assert_eq!(r.status, 200);
    assert!(took < Duration::from_secs(3), "{took:?}");
    let body = r.text();
    assert!(
        body.contains("work_total 7\n") && body.contains("fast 2\n"),
        "{body}"
    );
    assert_eq!(timeouts(&body), 1);
    // The next scrape, without the header, does not wait for the stuck
    // call either.
    let t = Instant::now();
    let r = request(addr, "GET", "/metrics", &[]);
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    assert_eq!(timeouts(&r.text()), 2);
    // A malformed header is ignored (the registry's deadline applies).
    for bad in ["abc", "-1", "0", "NaN", "inf"] {
        let r = request(
            addr,
            "GET",
            "/metrics",
            &[("X-Prometheus-Scrape-Timeout-Seconds", bad)],
        );
        assert_eq!(r.status, 200, "{bad}");
    }
}

#[test]
fn a_slow_reader_holds_up_no_other_scraper() {
    let reg = Registry::builder().self_metrics(false).build();
    let fam = reg
        .counter_family(
            Opts::new("big_total", "Big.")
                .labels(&["k"])
                .max_series(100_000),
        )
        .unwrap();
    for i in 0..40_000 {
        fam.with(&[&format!("series-{i:06}")], |c| c.inc()).unwrap();
    }
    let h = serve(reg);
    let addr = h.metrics_addr().unwrap();
    // A scraper that reads one byte a second of a ~1.3 MB body.
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.set_recv_buffer_size_hint();
    slow.write_all(format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .unwrap();
    let mut b = [0u8; 1];
    slow.read_exact(&mut b).unwrap();
    // Other scrapers, one after another and then several at once, are
    // served whole and promptly while it holds its response.
    for _ in 0..3 {
        let t = Instant::now();
        let raw = send_raw(
            addr,
            format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        );
        let r = parse_response(&raw, false);
        assert_eq!(r.status, 200);
        assert!(r.text().contains("big_total{k=\"series-039999\"} 1\n"));
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        slow.read_exact(&mut b).unwrap();
        thread::sleep(Duration::from_millis(300));
    }
    let many: Vec<_> = (0..4)
        .map(|_| {
            thread::spawn(move || {
                let t = Instant::now();
                let r = request(addr, "GET", "/metrics", &[]);
                (r.status, t.elapsed())
            })
        })
        .collect();
    for m in many {
        let (status, took) = m.join().unwrap();
        assert_eq!(status, 200);
        assert!(took < Duration::from_secs(3), "{took:?}");
    }
}

/// A small receive buffer, so that the slow reader's response backs up in
/// the server rather than in the kernel.
trait SmallRecv {
    fn set_recv_buffer_size_hint(&self);
}

impl SmallRecv for TcpStream {
    fn set_recv_buffer_size_hint(&self) {
        use std::os::fd::AsRawFd;
        let size: libc::c_int = 4096;
        // SAFETY: a valid socket and a c_int option of its size.
        unsafe {
            libc::setsockopt(
                self.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&size as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
}
