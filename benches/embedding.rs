//! What embedding telemeter costs a host program, and what its series and
//! scrapes cost in memory (issue 5). A plain `main`, not criterion: every
//! probe runs in a fresh child process (this binary re-executed with the
//! probe's name), so that one probe's memory or threads never show in
//! another's numbers.
//!
//! A counting `#[global_allocator]` (wrapping `System`) gives exact heap
//! figures; resident memory comes from `VmRSS` in `/proc/self/status`,
//! threads from `/proc/self/task`, CPU time from `/proc/self/stat`.
//!
//! Probes:
//!
//! * `threads` — threads before and after `Exporter::start`, after the
//!   first scrape, after 16 concurrent scrapes, and after 12 s idle.
//! * `idle-cpu` — process CPU time (utime + stime) over 10 s with an
//!   exporter serving 10k series and nobody scraping or recording.
//! * `host-memory N` — resident and heap memory of a host with an exporter
//!   and N series (mixed: 90% counters, 10% histograms), N = 0, 10k, 100k.
//! * `startup` — `Exporter::start` to return, and to the first `/metrics`
//!   response; the first start in the process, then the median of 20.
//! * `hot-path` — ns per record on one thread (a quick figure; the
//!   criterion `hot_path` bench is the reference).
//! * `no-scrape` — 100M records without a scrape: 2 long-lived threads
//!   (80M) and 2,000 short-lived threads (20M); heap and RSS before/after.
//! * `series-memory KIND N` — heap and resident bytes per series for
//!   KIND = counters | histograms | mixed at N = 100k and 1M, and the heap
//!   a steady-state `Registry::encode` into a reused buffer allocates.
//! * `http-alloc` — heap allocated per scrape through the exporter (10k
//!   series, identity and gzip), client allocations excluded.
//! * `serve N ADDR` — (not run by default) serve N mixed series on ADDR
//!   for `telemeter load`, with a writer thread recording.
//!
//! Run all (about 2 minutes): `cargo bench --bench embedding`; one probe:
//! `cargo bench --bench embedding -- startup`. Under `cargo test --benches`
//! it runs every probe on tiny data.

#![allow(missing_docs)]

use std::fmt::Write as _;
use std::hint::black_box;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use telemeter::{
    pool_stats, Buckets, Counter, Exporter, ExporterHandle, Histogram, Opts, Registry,
};

// ---------------------------------------------------------------------------
// Counting allocator.

#[path = "common/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::{allocated, live, Counting};

#[global_allocator]
static GLOBAL: Counting = Counting;

fn heap() -> i64 {
    live() as i64
}

// ---------------------------------------------------------------------------
// /proc readers.

/// Resident set size in bytes (`VmRSS`).
fn rss() -> i64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
        .map_or(-1, |kb| kb * 1024)
}

/// Names of this process's threads.
fn threads() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/proc/self/task")
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| {
                    std::fs::read_to_string(e.path().join("comm"))
                        .unwrap_or_default()
                        .trim()
                        .to_string()
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// utime + stime of this process, in clock ticks (USER_HZ, 100 on Linux).
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are
    // fields 14 and 15 of the whole line.
    let after = stat.rsplit_once(") ").map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    let get = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    get(11) + get(12)
}

fn mb(b: i64) -> String {
    if b.abs() < 1_000_000 {
        format!("{:.1} KB", b as f64 / 1e3)
    } else {
        format!("{:.1} MB", b as f64 / 1e6)
    }
}

// ---------------------------------------------------------------------------
// Data.

const CODES: [&str; 5] = ["200", "201", "304", "404", "500"];

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Counters,
    Histograms,
    Mixed,
}

/// Registers `n` series of `kind` and records once into each (so that this
/// thread's shard backs them). Returns a few handles for writers.
fn populate(reg: &Registry, kind: Kind, n: usize) -> (Vec<Counter>, Vec<Histogram>) {
    let (n_ctr, n_hist) = match kind {
        Kind::Counters => (n, 0),
        Kind::Histograms => (0, n),
        Kind::Mixed => (n - n / 10, n / 10),
    };
    let mut label = String::new();
    let mut cs = Vec::new();
    let mut hs = Vec::new();
    if n_ctr > 0 {
        let fam = reg
            .counter_family(
                Opts::new("app_requests_total", "Requests handled.")
                    .labels(&["route", "code"])
                    .max_series(n_ctr),
            )
            .expect("family");
        for i in 0..n_ctr {
            label.clear();
            let _ = write!(label, "/api/v1/items/{i}");
            let c = fam
                .with_label_values(&[&label, CODES[i % 5]])
                .expect("series");
            c.add(1 + i as u64 % 977);
            if cs.len() < 64 && i % (n_ctr / 64).max(1) == 0 {
                cs.push(c);
            }
        }
    }
    if n_hist > 0 {
        let fam = reg
            .histogram_family(
                Opts::new("app_request_duration_seconds", "Request latency.")
                    .labels(&["route"])
                    .max_series(n_hist),
                Buckets::default_prometheus(),
            )
            .expect("family");
        for i in 0..n_hist {
            label.clear();
            let _ = write!(label, "/api/v1/items/{i}");
            let h = fam.with_label_values(&[&label]).expect("series");
            h.observe(0.001 * (i % 5000) as f64);
            if hs.len() < 16 && i % (n_hist / 16).max(1) == 0 {
                hs.push(h);
            }
        }
    }
    (cs, hs)
}

fn exporter(reg: &Registry) -> ExporterHandle {
    Exporter::builder()
        .registry(reg.clone())
        .metrics_addr("127.0.0.1:0")
        .no_health()
        .no_admin()
        .start()
        .expect("exporter starts")
}

/// A keep-alive client that allocates nothing once its buffer has grown.
struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_nodelay(true).ok();
        stream.set_read_timeout(Some(Duration::from_secs(30))).ok();
        Client {
            stream,
            buf: Vec::with_capacity(1 << 20),
        }
    }

    /// GETs /metrics; returns the body length.
    fn scrape(&mut self, gzip: bool) -> usize {
        let req: &[u8] = if gzip {
            b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n"
        } else {
            b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
        };
        self.stream.write_all(req).expect("send");
        self.buf.clear();
        let mut chunk = [0u8; 64 * 1024];
        let (head_end, body_len) = loop {
            let n = self.stream.read(&mut chunk).expect("read");
            assert!(n > 0, "closed");
            self.buf.extend_from_slice(&chunk[..n]);
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                let head = &self.buf[..end];
                assert!(head.starts_with(b"HTTP/1.1 200"), "not 200");
                let len = content_length(head).expect("Content-Length");
                break (end + 4, len);
            }
        };
        while self.buf.len() < head_end + body_len {
            let n = self.stream.read(&mut chunk).expect("read");
            assert!(n > 0, "closed");
            self.buf.extend_from_slice(&chunk[..n]);
        }
        body_len
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn content_length(head: &[u8]) -> Option<usize> {
    for line in head.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.len() > 15 && line[..15].eq_ignore_ascii_case(b"content-length:") {
            let v = std::str::from_utf8(&line[15..]).ok()?;
            return v.trim().parse().ok();
        }
    }
    None
}

// ---------------------------------------------------------------------------
// Probes.

fn probe_threads(small: bool) {
    let before = threads();
    let reg = Registry::new();
    populate(&reg, Kind::Mixed, if small { 100 } else { 10_000 });
    let after_reg = threads();
    let h = exporter(&reg);
    thread::sleep(Duration::from_millis(100));
    let after_start = threads();
    let addr = h.metrics_addr().expect("bound");
    Client::connect(addr).scrape(false);
    thread::sleep(Duration::from_millis(100));
    let after_scrape = threads();
    let scrapers: Vec<_> = (0..16)
        .map(|_| thread::spawn(move || Client::connect(addr).scrape(false)))
        .collect();
    for s in scrapers {
        s.join().expect("scraper");
    }
    thread::sleep(Duration::from_millis(100));
    let after_storm = threads();
    let idle = if small { 100 } else { 12_000 };
    thread::sleep(Duration::from_millis(idle));
    let after_idle = threads();
    drop(h);
    thread::sleep(Duration::from_millis(100));
    let after_drop = threads();
    println!("threads (names from /proc/self/task/*/comm; the probe's own main thread included):");
    for (what, t) in [
        ("process start", &before),
        ("registry + 10k series recorded", &after_reg),
        ("Exporter::start", &after_start),
        ("after the first scrape", &after_scrape),
        ("after 16 concurrent scrapes", &after_storm),
        (&*format!("after {} s idle", idle / 1000), &after_idle),
        ("after the exporter is dropped", &after_drop),
    ] {
        println!("  {what:<32} {:>2}  {}", t.len(), t.join(", "));
    }
}

fn probe_idle_cpu(small: bool) {
    let reg = Registry::new();
    populate(&reg, Kind::Mixed, if small { 100 } else { 10_000 });
    let h = exporter(&reg);
    Client::connect(h.metrics_addr().expect("bound")).scrape(false);
    // Let the first scrape's encode thread settle first.
    thread::sleep(Duration::from_millis(if small { 10 } else { 500 }));
    let secs = if small { 0.2 } else { 10.0 };
    let t0 = cpu_ticks();
    let w0 = Instant::now();
    thread::sleep(Duration::from_secs_f64(secs));
    let ticks = cpu_ticks() - t0;
    let wall = w0.elapsed().as_secs_f64();
    println!(
        "idle CPU: exporter serving 10k series, nobody scraping or recording: {ticks} ticks \
         ({:.0} ms) of utime+stime over {wall:.1} s = {:.3}% of one CPU",
        ticks as f64 * 10.0,
        ticks as f64 / 100.0 / wall * 100.0
    );
    drop(h);
}

fn probe_host_memory(n: usize) {
    let rss0 = rss();
    let heap0 = heap();
    let reg = Registry::new();
    let h = exporter(&reg);
    thread::sleep(Duration::from_millis(50));
    let (rss1, heap1) = (rss(), heap());
    populate(&reg, Kind::Mixed, n);
    let (rss2, heap2) = (rss(), heap());
    let mut c = Client::connect(h.metrics_addr().expect("bound"));
    let body = c.scrape(false);
    drop(c);
    thread::sleep(Duration::from_millis(50));
    let (rss3, heap3) = (rss(), heap());
    println!(
        "host memory, {n:>6} series: exporter started +{} RSS (+{} heap); \
         series registered +{} RSS (+{} heap); after a {} scrape +{} RSS (+{} heap); \
         total over the bare process +{} RSS, +{} heap",
        mb(rss1 - rss0),
        mb(heap1 - heap0),
        mb(rss2 - rss1),
        mb(heap2 - heap1),
        mb(body as i64),
        mb(rss3 - rss2),
        mb(heap3 - heap2),
        mb(rss3 - rss0),
        mb(heap3 - heap0),
    );
    drop(h);
}

fn probe_startup(small: bool) {
    let reg = Registry::new();
    populate(&reg, Kind::Mixed, 1_000);
    let start_once = || {
        let t = Instant::now();
        let h = Exporter::builder()
            .registry(reg.clone())
            .metrics_addr("127.0.0.1:0")
            .health_addr("127.0.0.1:0")
            .admin_addr("127.0.0.1:0")
            .start()
            .expect("exporter starts");
        let started = t.elapsed();
        Client::connect(h.metrics_addr().expect("bound")).scrape(false);
        let first = t.elapsed();
        let s = Instant::now();
        h.shutdown();
        (started, first, s.elapsed())
    };
    let (cold_start, cold_first, _) = start_once();
    let runs = if small { 3 } else { 20 };
    let mut v: Vec<(Duration, Duration, Duration)> = (0..runs).map(|_| start_once()).collect();
    let med = |v: &mut Vec<(Duration, Duration, Duration)>,
               f: fn(&(Duration, Duration, Duration)) -> Duration| {
        v.sort_by_key(f);
        f(&v[v.len() / 2])
    };
    let (s, f, d) = (
        med(&mut v, |x| x.0),
        med(&mut v, |x| x.1),
        med(&mut v, |x| x.2),
    );
    println!(
        "start-up (3 surfaces on 127.0.0.1:0, 1k series): first in process: start() {:?}, \
         first /metrics answered {:?}; median of {runs}: start() {s:?}, first /metrics {f:?}, \
         shutdown() {d:?}",
        cold_start, cold_first
    );
}

fn probe_hot_path(small: bool) {
    let reg = Registry::new();
    let c = reg.counter("hot_total", "Hot.").expect("counter");
    let fam = reg
        .counter_family(Opts::new("hot_labelled_total", "Hot.").labels(&["method", "code"]))
        .expect("family");
    let lc = fam.with_label_values(&["GET", "200"]).expect("series");
    let h = reg
        .histogram("hot_seconds", "Hot.", Buckets::default_prometheus())
        .expect("histogram");
    let iters: u64 = if small { 100_000 } else { 200_000_000 };
    let time = |f: &dyn Fn(u64)| {
        f(iters / 10); // warm up: the shard exists, the code is hot
        let t = Instant::now();
        f(iters);
        t.elapsed().as_nanos() as f64 / iters as f64
    };
    let inc = time(&|n| {
        for _ in 0..n {
            black_box(&c).inc();
        }
    });
    let linc = time(&|n| {
        for _ in 0..n {
            black_box(&lc).inc();
        }
    });
    const V: [f64; 16] = [
        0.003, 0.007, 0.02, 0.04, 0.08, 0.2, 0.4, 0.8, 2.0, 4.0, 8.0, 20.0, 0.012, 0.3, 1.7, 0.06,
    ];
    let obs = time(&|n| {
        for i in 0..n {
            black_box(&h).observe(V[(i & 15) as usize]);
        }
    });
    println!(
        "hot path, one thread, {iters} records each: counter inc {inc:.2} ns, labelled counter \
         (kept handle) inc {linc:.2} ns, histogram observe (11 buckets) {obs:.2} ns"
    );
}

fn probe_no_scrape(small: bool) {
    let reg = Registry::new();
    let (cs, hs) = populate(&reg, Kind::Mixed, 1_000);
    let cs = Arc::new(cs);
    let hs = Arc::new(hs);
    let (long_each, short_threads, short_each): (u64, usize, u64) = if small {
        (100_000, 20, 1_000)
    } else {
        (40_000_000, 1_000, 10_000)
    };
    fn work(cs: &[Counter], hs: &[Histogram], n: u64, seed: u64) {
        for i in 0..n {
            let k = (i + seed) as usize;
            if i % 4 == 0 {
                hs[k % hs.len()].observe((k % 1000) as f64 * 0.001);
            } else {
                cs[k % cs.len()].inc();
            }
        }
    }
    // Threads joined with `JoinHandle::join`, which returns after the
    // thread's TLS destructors (and so its shard's return to the pool) ran.
    let run = |threads: usize, each: u64, seed: u64| {
        let hs: Vec<_> = (0..threads)
            .map(|w| {
                let (cs, hs) = (Arc::clone(&cs), Arc::clone(&hs));
                thread::spawn(move || work(&cs, &hs, each, seed + w as u64))
            })
            .collect();
        for h in hs {
            h.join().expect("writer");
        }
    };
    // Warm-up: two threads at once, so the pool has the shards that the
    // phases below need.
    run(2, if small { 10_000 } else { 2_000_000 }, 0);
    let snap = || (heap(), rss(), pool_stats());
    let t = Instant::now();
    let s0 = snap();
    // A: 2 long-lived threads.
    run(2, long_each, 1);
    let s1 = snap();
    // B and C: short-lived threads, 2 at a time.
    for batch in 0..short_threads / 2 {
        run(2, short_each, 1_000_000 + batch as u64);
    }
    let s2 = snap();
    for batch in 0..short_threads / 2 {
        run(2, short_each, 7_000_000 + batch as u64);
    }
    let s3 = snap();
    let elapsed = t.elapsed();
    let total = 2 * long_each + 2 * short_threads as u64 * short_each;
    println!(
        "no scrape: {total} records in {:.1} s, never scraped: A) {} on 2 long-lived threads, \
         B) {} on {short_threads} short-lived threads, C) {} on {} more",
        elapsed.as_secs_f64(),
        2 * long_each,
        short_threads as u64 * short_each,
        short_threads as u64 * short_each,
        short_threads,
    );
    for (what, (h, r, p)) in [
        ("before", &s0),
        ("after A", &s1),
        ("after B", &s2),
        ("after C", &s3),
    ] {
        println!(
            "  {what:<8} heap {h:>8} B  RSS {:>8}  shards {}  slots backed per shard {}",
            mb(*r),
            p.shards,
            p.capacity_slots
        );
    }
    println!(
        "  growth over {total} records: heap {:+} B, RSS {:+} KB",
        s3.0 - s0.0,
        (s3.1 - s0.1) / 1024
    );
}

fn probe_series_memory(kind: Kind, n: usize) {
    let name = match kind {
        Kind::Counters => "counters",
        Kind::Histograms => "histograms",
        Kind::Mixed => "mixed",
    };
    let reg = Registry::builder().self_metrics(false).build();
    let (rss0, heap0) = (rss(), heap());
    populate(&reg, kind, n);
    let (rss1, heap1) = (rss(), heap());
    let pool = pool_stats();
    let mut buf = Vec::new();
    reg.encode(&mut buf);
    let (rss2, heap2) = (rss(), heap());
    // Steady state: the buffer has its size; encode 5 more times.
    let (b0, c0) = allocated();
    for _ in 0..5 {
        buf.clear();
        reg.encode(&mut buf);
    }
    let (b1, c1) = allocated();
    println!(
        "{name:>10} {n:>8}: heap {:>6.1} B/series, RSS {:>6.1} B/series (slots {} x 8 B x {} \
         shard(s)); body {} ({:.1} B/series, RSS +{}); steady-state encode allocates {} B in {} \
         calls per scrape",
        (heap1 - heap0) as f64 / n as f64,
        (rss1 - rss0) as f64 / n as f64,
        pool.capacity_slots,
        pool.shards,
        mb(buf.len() as i64),
        buf.len() as f64 / n as f64,
        mb(rss2 - rss1),
        (b1 - b0) / 5,
        (c1 - c0) / 5,
    );
    let _ = heap2;
}

fn probe_http_alloc(small: bool) {
    let reg = Registry::new();
    populate(&reg, Kind::Mixed, if small { 100 } else { 10_000 });
    let h = exporter(&reg);
    let mut c = Client::connect(h.metrics_addr().expect("bound"));
    for gzip in [false, true] {
        let mut len = 0;
        for _ in 0..5 {
            len = c.scrape(gzip); // warm: buffers at size
        }
        let n = 20;
        let (b0, c0) = allocated();
        for _ in 0..n {
            c.scrape(gzip);
        }
        let (b1, c1) = allocated();
        println!(
            "HTTP scrape via Exporter, {}: body {} B; allocated per scrape (server side; the \
             client allocates nothing): {} B in {} calls",
            if gzip { "gzip" } else { "identity" },
            len,
            (b1 - b0) / n,
            (c1 - c0) / n
        );
    }
    drop(h);
}

fn serve(n: usize, addr: &str) -> ! {
    let reg = Registry::new();
    let (cs, hs) = populate(&reg, Kind::Mixed, n);
    let h = Exporter::builder()
        .registry(reg.clone())
        .metrics_addr(addr)
        .no_health()
        .no_admin()
        .start()
        .expect("exporter starts");
    println!(
        "serving {n} series on http://{}/metrics (Ctrl-C to stop)",
        h.metrics_addr().expect("bound")
    );
    let mut i = 0usize;
    loop {
        cs[i % cs.len()].inc();
        hs[i % hs.len()].observe(0.01);
        i += 1;
        if i % 1000 == 0 {
            thread::sleep(Duration::from_millis(1));
        }
    }
}

// ---------------------------------------------------------------------------

fn run_probe(name: &str, args: &[String], small: bool) -> bool {
    let arg = |i: usize, d: usize| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    match name {
        "threads" => probe_threads(small),
        "idle-cpu" => probe_idle_cpu(small),
        "host-memory" => probe_host_memory(arg(0, 10_000)),
        "startup" => probe_startup(small),
        "hot-path" => probe_hot_path(small),
        "no-scrape" => probe_no_scrape(small),
        "series-memory" => {
            let kind = match args.first().map(String::as_str) {
                Some("counters") => Kind::Counters,
                Some("histograms") => Kind::Histograms,
                _ => Kind::Mixed,
            };
            probe_series_memory(kind, arg(1, 100_000));
        }
        "http-alloc" => probe_http_alloc(small),
        "serve" => serve(
            arg(0, 100_000),
            args.get(1).map_or("127.0.0.1:19090", String::as_str),
        ),
        _ => return false,
    }
    true
}

fn main() -> ExitCode {
    let all: Vec<String> = std::env::args().skip(1).collect();
    let full = all.iter().any(|a| a == "--bench");
    let positional: Vec<String> = all
        .iter()
        .filter(|a| !a.starts_with("--"))
        .cloned()
        .collect();
    // A child: `embedding --probe NAME ARGS...`.
    if all.first().map(String::as_str) == Some("--probe") {
        let small = std::env::var_os("EMBEDDING_SMALL").is_some();
        let name = all.get(1).cloned().unwrap_or_default();
        return if run_probe(&name, &all[2..], small) {
            ExitCode::SUCCESS
        } else {
            eprintln!("unknown probe {name:?}");
            ExitCode::from(2)
        };
    }
    if positional.first().map(String::as_str) == Some("serve") {
        run_probe("serve", &positional[1..], false);
        return ExitCode::SUCCESS;
    }
    let small = !full;
    let plan: Vec<Vec<String>> = {
        let p = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let mut plan = vec![
            p(&["threads"]),
            p(&["idle-cpu"]),
            p(&["host-memory", "0"]),
            p(&["host-memory", "10000"]),
            p(&["host-memory", "100000"]),
            p(&["startup"]),
            p(&["hot-path"]),
            p(&["no-scrape"]),
        ];
        let sizes: &[&str] = if small {
            &["1000"]
        } else {
            &["100000", "1000000"]
        };
        for kind in ["counters", "histograms", "mixed"] {
            for n in sizes {
                plan.push(p(&["series-memory", kind, n]));
            }
        }
        plan.push(p(&["http-alloc"]));
        if small {
            for step in &mut plan {
                if step[0] == "host-memory" && step[1] == "100000" {
                    step[1] = "1000".into();
                }
            }
        }
        plan
    };
    let exe = std::env::current_exe().expect("own path");
    let mut ok = true;
    for step in plan {
        if !positional.is_empty() && !positional.iter().any(|f| step[0].contains(f.as_str())) {
            continue;
        }
        let mut cmd = Command::new(&exe);
        cmd.arg("--probe").args(&step);
        if small {
            cmd.env("EMBEDDING_SMALL", "1");
        }
        let status = cmd.status().expect("run a probe");
        if !status.success() {
            eprintln!("probe {step:?} failed: {status}");
            ok = false;
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
