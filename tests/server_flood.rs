//! A connection flood over real sockets on 127.0.0.1 must not lock out a
//! scraper or a readiness probe (issue 21): at the connection limit the
//! exporter evicts silent and idle connections before it refuses, and
//! closes connections that send nothing within the first-byte timeout.

mod server_support;

use std::io::{ErrorKind, Read};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use server_support::{try_get, TestSource, TEST_BODY};
use telemeter::server::{Exporter, ExporterHandle, DEFAULT_MAX_CONNECTIONS};

/// Raises this process's descriptor limit to what the flood needs (the
/// attacker's sockets and the server's, in one process), or fails saying
/// why.
fn enough_descriptors(need: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit for the call to fill.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    if lim.rlim_cur >= need {
        return;
    }
    assert!(
        lim.rlim_max >= need,
        "this test needs {need} file descriptors; the hard limit is {} (raise it with ulimit -Hn)",
        lim.rlim_max
    );
    lim.rlim_cur = need;
    // SAFETY: as above.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
}

fn exporter() -> ExporterHandle {
    Exporter::builder()
        .source(Arc::new(TestSource::new(TEST_BODY)))
        .metrics_addr("127.0.0.1:0")
        .health_addr("127.0.0.1:0")
        .no_admin()
        .self_metrics(false)
        .started(true)
        .start()
        .expect("exporter")
}

/// Whether the server has closed `s` (EOF or reset), without blocking.
fn closed(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 64];
    match s.read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) if e.kind() == ErrorKind::WouldBlock => false,
        Err(_) => true,
    }
}

fn open(addr: SocketAddr) -> Option<TcpStream> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    s.set_nonblocking(true).ok()?;
    Some(s)
}

/// Holds `n` idle connections to each of `targets` and reopens each one the
/// server closes, until `stop`; returns how many it reopened.
fn attacker(targets: Vec<SocketAddr>, n: usize, stop: Arc<AtomicBool>) -> thread::JoinHandle<u64> {
    thread::spawn(move || {
        let mut held: Vec<(SocketAddr, Option<TcpStream>)> = targets
            .iter()
            .flat_map(|&a| (0..n).map(move |_| (a, None)))
            .collect();
        let mut reopened = 0u64;
        while !stop.load(Ordering::Relaxed) {
            for (addr, s) in held.iter_mut() {
                let gone = match s {
                    Some(s) => closed(s),
                    None => true,
                };
                if gone {
                    *s = open(*addr);
                    reopened += 1;
                }
            }
            thread::sleep(Duration::from_millis(20));
        }
        reopened
    })
}

/// GETs `path` on a fresh connection every `every` until `stop`: the
/// latencies of the successes and the count of failures.
fn poller(
    addr: SocketAddr,
    path: &'static str,
    every: Duration,
    stop: Arc<AtomicBool>,
) -> thread::JoinHandle<(Vec<Duration>, u64)> {
    thread::spawn(move || {
        let (mut ok, mut failed) = (Vec::new(), 0u64);
        while !stop.load(Ordering::Relaxed) {
            let t = Instant::now();
            match try_get(addr, path) {
                Some(r) if r.status == 200 => ok.push(t.elapsed()),
                _ => failed += 1,
            }
            thread::sleep(every.saturating_sub(t.elapsed()));
        }
        (ok, failed)
    })
}

fn p99(mut t: Vec<Duration>) -> Duration {
    t.sort_unstable();
    t[(t.len() * 99 / 100).min(t.len() - 1)]
}

#[test]
fn a_flood_of_idle_connections_locks_out_neither_the_scraper_nor_the_probe() {
    const FLOOD: usize = 1100;
    const { assert!(FLOOD > DEFAULT_MAX_CONNECTIONS) };
    enough_descriptors(8192);
    let h = exporter();
    let (metrics, health) = (h.metrics_addr().unwrap(), h.health_addr().unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let attack = attacker(vec![metrics, health], FLOOD, Arc::clone(&stop));
    // Let the flood reach the limit first.
    let deadline = Instant::now() + Duration::from_secs(20);
    while h.stats().connections_active < 2 * DEFAULT_MAX_CONNECTIONS as u64 {
        assert!(
            Instant::now() < deadline,
            "the flood never filled the listeners: {:?}",
            h.stats()
        );
        thread::sleep(Duration::from_millis(20));
    }
    let scraper = poller(
        metrics,
        "/metrics",
        Duration::from_millis(500),
        Arc::clone(&stop),
    );
    let probe = poller(
        health,
        "/ready",
        Duration::from_millis(200),
        Arc::clone(&stop),
    );
    thread::sleep(Duration::from_secs(20));
    stop.store(true, Ordering::Relaxed);
    let reopened = attack.join().unwrap();
    for (what, (ok, failed)) in [
        ("scrape", scraper.join().unwrap()),
        ("/ready", probe.join().unwrap()),
    ] {
        let total = ok.len() as u64 + failed;
        assert!(total >= 35, "{what}: only {total} tries");
        assert!(
            failed * 100 <= total,
            "{what}: {failed} of {total} failed under the flood"
        );
        let mut sorted = ok.clone();
        sorted.sort_unstable();
        eprintln!(
            "{what}: {} ok, slowest {:?}",
            sorted.len(),
            &sorted[sorted.len().saturating_sub(5)..]
        );
        let p = p99(ok);
        assert!(p < Duration::from_millis(50), "{what}: p99 {p:?}");
    }
    let s = h.stats();
    assert!(s.connections_evicted > 0, "{s:?}");
    assert!(
        reopened > FLOOD as u64 * 2,
        "the server closed flood connections: {reopened}"
    );
}

#[test]
fn after_a_burst_of_two_thousand_idle_connections_a_scrape_succeeds_within_a_second() {
    enough_descriptors(8192);
    let h = exporter();
    let metrics = h.metrics_addr().unwrap();
    let burst: Vec<TcpStream> = (0..2000).filter_map(|_| open(metrics)).collect();
    assert!(
        burst.len() > DEFAULT_MAX_CONNECTIONS,
        "opened only {}",
        burst.len()
    );
    let t = Instant::now();
    let scraped = loop {
        if let Some(r) = try_get(metrics, "/metrics") {
            if r.status == 200 {
                assert!(r.text().starts_with(TEST_BODY));
                break t.elapsed();
            }
        }
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "no scrape within 1 s of the burst"
        );
    };
    assert!(scraped < Duration::from_secs(1), "{scraped:?}");
    drop(burst);
}

#[test]
fn a_silent_connection_is_closed_after_the_first_byte_timeout() {
    let h = Exporter::builder()
        .source(Arc::new(TestSource::new(TEST_BODY)))
        .metrics_addr("127.0.0.1:0")
        .no_health()
        .no_admin()
        .first_byte_timeout(Duration::from_millis(300))
        .header_read_timeout(Duration::from_secs(30))
        .start()
        .unwrap();
    let addr = h.metrics_addr().unwrap();
    let mut silent = TcpStream::connect(addr).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let t = Instant::now();
    let mut b = [0u8; 16];
    let n = silent.read(&mut b).unwrap_or(0);
    assert_eq!(n, 0, "closed without a response");
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    // A connection that sends a byte is not cut at the first-byte timeout:
    // the header-read timeout (30 s here) governs it.
    let mut slow = TcpStream::connect(addr).unwrap();
    std::io::Write::write_all(&mut slow, b"G").unwrap();
    slow.set_nonblocking(true).unwrap();
    thread::sleep(Duration::from_millis(800));
    assert!(!closed(&mut slow), "cut though it had begun a request");
    // Per-peer cap: refused at accept past it.
    let capped = Exporter::builder()
        .source(Arc::new(TestSource::new(TEST_BODY)))
        .metrics_addr("127.0.0.1:0")
        .no_health()
        .no_admin()
        .max_connections_per_peer(2)
        .start()
        .unwrap();
    let addr = capped.metrics_addr().unwrap();
    let _a = TcpStream::connect(addr).unwrap();
    let _b = TcpStream::connect(addr).unwrap();
    let refused = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(10);
    while capped.stats().connections_rejected_per_peer == 0 {
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        if c.read(&mut b).unwrap_or(0) == 0 {
            refused.fetch_add(1, Ordering::Relaxed);
        }
        assert!(Instant::now() < deadline, "{:?}", capped.stats());
    }
    assert!(refused.load(Ordering::Relaxed) >= 1);
}
