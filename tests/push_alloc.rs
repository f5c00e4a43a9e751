//! What a steady-state remote-write push allocates, counted by this
//! binary's global allocator (its own test binary with one test, so
//! nothing else runs beside it): nothing, through `RemoteWrite::send` and
//! through a `RemoteWriter`'s interval thread, over a kept-alive plain
//! http connection, with several requests per collection.
//!
//! What once allocated per push, each now reused: the compressed bodies
//! (pooled in the `RemoteWrite`, given back once sent), the writer's
//! per-batch queue, and the whole HTTP exchange (hyper's client allocated
//! header maps, a dispatch channel and a connection task per request;
//! `src/push/client.rs` writes and reads through buffers kept with its
//! connection).
//!
//! The receiver below is a loopback server of the test's own that
//! allocates nothing once started either: it reads each request into a
//! fixed buffer, decompresses the snappy body into another, counts the
//! `TimeSeries` in it and answers 204.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use telemeter::push::RemoteWrite;
use telemeter::{Buckets, NativeBuckets, Opts, Registry};

mod rw_support;
use rw_support::count_series;

#[path = "../benches/common/counting_alloc.rs"]
mod counting_alloc;

#[global_allocator]
static GLOBAL: counting_alloc::Counting = counting_alloc::Counting;

/// The receiver: requests answered and series received, counted.
struct Receiver {
    url: String,
    requests: Arc<AtomicU64>,
    series: Arc<AtomicU64>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binds");
        let url = format!("http://{}/api/v1/write", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicU64::new(0));
        let series = Arc::new(AtomicU64::new(0));
        let (r, s) = (Arc::clone(&requests), Arc::clone(&series));
        thread::spawn(move || {
            let mut buf = vec![0u8; 4 << 20];
            let mut raw = vec![0u8; 16 << 20];
            let mut snappy = snap::raw::Decoder::new();
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut have = 0;
                loop {
                    // A request: the head, then its Content-Length body.
                    let end = loop {
                        if let Some(i) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n") {
                            break Some(i + 4);
                        }
                        match stream.read(&mut buf[have..]) {
                            Ok(0) | Err(_) => break None,
                            Ok(n) => have += n,
                        }
                    };
                    let Some(end) = end else { break };
                    let key = b"content-length: ";
                    let at = buf[..end]
                        .windows(key.len())
                        .position(|w| w.eq_ignore_ascii_case(key))
                        .expect("a Content-Length");
                    let len = buf[at + key.len()..]
                        .iter()
                        .take_while(|b| b.is_ascii_digit())
                        .fold(0usize, |n, d| n * 10 + usize::from(d - b'0'));
                    while have < end + len {
                        match stream.read(&mut buf[have..]) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => have += n,
                        }
                    }
                    let n = snappy
                        .decompress(&buf[end..end + len], &mut raw)
                        .expect("a snappy block");
                    s.fetch_add(count_series(&raw[..n]) as u64, Ordering::SeqCst);
                    buf.copy_within(end + len..have, 0);
                    have -= end + len;
                    stream
                        .write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
                        .expect("answered");
                    r.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
        Receiver {
            url,
            requests,
            series,
        }
    }
}

fn registry() -> Registry {
    let reg = Registry::new();
    let fam = reg
        .counter_family(Opts::new("push_alloc_total", "Pushed.").labels(&["k"]))
        .unwrap();
    for i in 0..3000 {
        fam.with_label_values(&[&format!("v{i}")]).unwrap().inc();
    }
    let lat = reg
        .histogram("push_alloc_seconds", "Latency.", Buckets::default())
        .unwrap();
    lat.observe(0.2);
    let native = reg
        .native_histogram(
            "push_alloc_native_seconds",
            "Latency.",
            NativeBuckets::default(),
        )
        .unwrap();
    native.observe(0.02);
    native.observe(3.0);
    reg
}

#[test]
fn a_steady_state_push_allocates_nothing() {
    let receiver = Receiver::start();
    let reg = registry();
    // Natives whole, external labels, a tenant header: every part of a
    // request that the encoder and the client write.
    let rw = RemoteWrite::builder(receiver.url.as_str())
        .max_samples_per_request(500)
        .native_histograms(true)
        .external_label("instance", "agent-1")
        .header("X-Scope-OrgID", "tenant-1")
        .interval(Duration::from_millis(10))
        .build()
        .unwrap();
    for _ in 0..3 {
        rw.send(&reg).unwrap(); // buffers and the body pool reach size
    }
    let (b0, c0) = counting_alloc::allocated();
    let before = receiver.requests.load(Ordering::SeqCst);
    let mut series = 0;
    for _ in 0..20 {
        let sent = rw.send(&reg).unwrap();
        assert!(sent.requests > 1, "several requests per send");
        series += sent.series;
    }
    let (b1, c1) = counting_alloc::allocated();
    assert_eq!(
        (b1 - b0, c1 - c0),
        (0, 0),
        "20 sends allocated {} B in {} calls",
        b1 - b0,
        c1 - c0
    );
    assert!(receiver.requests.load(Ordering::SeqCst) - before >= 20 * 7);
    assert!(series > 20 * 3000);

    // The writer's thread: collections every 10 ms, each a queued batch
    // of several requests, sent and given back.
    let writer = rw.start(&reg).unwrap();
    let requests = |n: u64| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while writer.stats().requests_sent < n {
            assert!(Instant::now() < deadline, "{:?}", writer.stats());
            thread::sleep(Duration::from_millis(5));
        }
    };
    requests(50); // the writer's own buffers reach size
    let (b0, c0) = counting_alloc::allocated();
    let sent0 = writer.stats().requests_sent;
    requests(sent0 + 100);
    let (b1, c1) = counting_alloc::allocated();
    let stats = writer.stats();
    assert_eq!(
        (b1 - b0, c1 - c0),
        (0, 0),
        "{} requests from the writer allocated {} B in {} calls",
        stats.requests_sent - sent0,
        b1 - b0,
        c1 - c0
    );
    assert_eq!(stats.samples_failed + stats.samples_dropped, 0, "{stats:?}");
    let stats = writer.shutdown(Duration::from_secs(5));
    assert_eq!(stats.pending_batches, 0);
    assert!(receiver.series.load(Ordering::SeqCst) >= stats.samples_sent);
}
