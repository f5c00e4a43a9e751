//! Scrape path under load (issue 5): what a scrape costs as the registry
//! grows, what it costs the threads that record while it runs, and what a
//! storm of scrapers costs through the real HTTP server.
//!
//! Data set of "N series" (a series is a label set, as `Opts::max_series`
//! and `telemeter_series` count them): 0.9 N counters in one family
//! `app_requests_total{route, code}` and 0.1 N histograms (11 Prometheus
//! default buckets, so 14 sample lines each) in one family
//! `app_request_duration_seconds{route}`; both families raise
//! `Opts::max_series` to N. Every series holds a non-zero value, and N
//! series make 2.3 N sample lines. Self-metrics are off.
//!
//! Sections, in order:
//!
//! 1. criterion group `encode`: `Registry::encode` into a reused buffer at
//!    1k, 10k, 100k, 1M series; `memcpy` of the same body into a reused
//!    buffer (the physical floor); and `floor`, the same body written back
//!    by `telemeter::bench_internals::FormatFloor` from its line texts and values, taken
//!    apart beforehand: every line's text copied whole, every value
//!    formatted by the encoder's own writers, nothing read from a shard,
//!    no family walked, no line assembled from a name and a label text.
//!    A table follows with time per scrape, bytes, ns per series, the
//!    1M/100k growth ratio and the encode/memcpy, floor/memcpy and
//!    encode/floor ratios, from the same criterion samples
//!    (`iter_custom`).
//! 2. criterion group `gzip`: encode + gzip (flate2 `Compression::fast()`,
//!    the exporter's level) at 10k and 100k series; a table gives size,
//!    ratio and cost against identity.
//! 3. `interference` (a measured loop, not criterion): 2 writer threads
//!    record (counter `inc` and histogram `observe` on 80 series of the
//!    100k registry) as fast as they can for 1 s windows, alternately with
//!    and without a scraper thread encoding the 100k series in a loop;
//!    7 windows each, medians. Writers are pinned one per CPU and released
//!    by a spin barrier. Reported: writer throughput with / without as a
//!    ratio, both per wall-clock second and per writer CPU-second
//!    (`CLOCK_THREAD_CPUTIME_ID`), plus a 1-writer variant with the scraper
//!    pinned to the other CPU. On a 2-CPU machine 2 writers + 1 scraper
//!    are 3 runnable threads on 2 CPUs: the wall-clock ratio then measures
//!    CPU time-sharing; the CPU-second ratio and the 1-writer variant
//!    measure interference proper.
//! 4. `storm`: a real `Exporter` on 127.0.0.1:0 serving the 100k registry,
//!    scraped by `telemeter load` (this package's binary) with 1 and with
//!    64 connections, identity and gzip; the exporter's own counters
//!    (`ExporterHandle::stats`) give the encodes each run cost.
//! 5. `gauges` (a measured loop): `Registry::encode` of 100k and 1M
//!    labelled gauges (`app_queue_depth{route,code}`), best of 15, beside a
//!    `memcpy` of the same body: the one-line layout at a body larger
//!    than the cache (1M gauges make a 64 MB body).
//! 6. `shards` (a measured loop, run right after section 1): the encode of
//!    the 10k data set (best of 15 means of 10 encodes) after 0, 2, 4 and 8
//!    more threads, alive at once, recorded into every series: a scrape
//!    sums every shard, and a host that records from many threads has
//!    many.
//!
//! Run everything (about 4 minutes on 2 CPUs):
//!   `cargo bench --bench scrape_load`
//! Only some sections: `cargo bench --bench scrape_load -- encode` (also
//! `gzip`, `shards`, `interference`, `storm`, `gauges`). `SCRAPE_LOAD_SIZES=1000,10000`
//! replaces the encode sizes. Under `cargo test --benches` every section
//! runs once on small data.

// criterion's macros are not used; nothing here is public API.
#![allow(missing_docs)]

/// Builds the `telemeter` CLI for the load group (another package's binary).
// seed_support finds tools through prom_support (one PATH lookup for the
// whole test suite).
#[path = "../tests/prom_support/mod.rs"]
mod prom_support;
#[path = "../tests/seed_support/mod.rs"]
mod seed_support;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::hint::black_box;
use std::io::Write as _;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use telemeter::bench_internals::FormatFloor;
use telemeter::{Buckets, Counter, Exporter, Family, Histogram, Opts, Registry};

const CODES: [&str; 5] = ["200", "201", "304", "404", "500"];
const OBSERVATIONS: [f64; 8] = [0.003, 0.02, 0.07, 0.2, 0.4, 0.9, 3.0, 12.0];

/// The data set of `n` series, with a few handles kept for writers.
struct Data {
    reg: Registry,
    hot_counters: Vec<Counter>,
    hot_histograms: Vec<Histogram>,
    counters: Family<Counter>,
    histograms: Family<Histogram>,
}

fn build(n: usize) -> Data {
    let n_hist = n / 10;
    let n_ctr = n - n_hist;
    let reg = Registry::builder().self_metrics(false).build();
    let ctr = reg
        .counter_family(
            Opts::new(
                "app_requests_total",
                "Requests handled, by route and status code.",
            )
            .labels(&["route", "code"])
            .max_series(n_ctr.max(1)),
        )
        .expect("valid family");
    let mut label = String::new();
    let mut hot_counters = Vec::new();
    let stride = (n_ctr / 64).max(1);
    for i in 0..n_ctr {
        label.clear();
        let _ = write!(label, "/api/v1/items/{i}");
        let c = ctr
            .with_label_values(&[&label, CODES[i % CODES.len()]])
            .expect("series");
        c.add(1 + (i as u64 * 7919) % 1_000_003);
        if i % stride == 0 && hot_counters.len() < 64 {
            hot_counters.push(c);
        }
    }
    assert_eq!(ctr.overflowed(), 0, "max_series holds the data set");
    let hist = reg
        .histogram_family(
            Opts::new("app_request_duration_seconds", "Request latency, by route.")
                .labels(&["route"])
                .max_series(n_hist.max(1)),
            Buckets::default_prometheus(),
        )
        .expect("valid family");
    let mut hot_histograms = Vec::new();
    let stride = (n_hist / 16).max(1);
    for i in 0..n_hist {
        label.clear();
        let _ = write!(label, "/api/v1/items/{i}");
        let h = hist.with_label_values(&[&label]).expect("series");
        for k in 0..3 {
            h.observe(OBSERVATIONS[(i + 3 * k) % OBSERVATIONS.len()]);
        }
        if i % stride == 0 && hot_histograms.len() < 16 {
            hot_histograms.push(h);
        }
    }
    assert_eq!(hist.overflowed(), 0, "max_series holds the data set");
    Data {
        reg,
        hot_counters,
        hot_histograms,
        counters: ctr,
        histograms: hist,
    }
}

/// Records once into every series of `data` from each of `threads` new
/// threads, alive at the same time (so each takes a shard of its own).
fn record_from_threads(data: &Data, threads: usize) {
    let barrier = std::sync::Barrier::new(threads);
    thread::scope(|scope| {
        for _ in 0..threads {
            let barrier = &barrier;
            scope.spawn(move || {
                let mut label = String::new();
                for i in 0..data.counters.len() {
                    label.clear();
                    let _ = write!(label, "/api/v1/items/{i}");
                    data.counters
                        .with(&[&label, CODES[i % CODES.len()]], |c| c.inc())
                        .expect("series");
                }
                for i in 0..data.histograms.len() {
                    label.clear();
                    let _ = write!(label, "/api/v1/items/{i}");
                    data.histograms
                        .with(&[&label], |h| h.observe(0.05))
                        .expect("series");
                }
                barrier.wait();
            });
        }
    });
}

fn sample_lines(body: &[u8]) -> usize {
    body.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty() && l[0] != b'#')
        .count()
}

/// Per-iteration times (ns) recorded from inside criterion's samples.
#[derive(Default)]
struct Recorder(RefCell<BTreeMap<String, Vec<f64>>>);

impl Recorder {
    /// Runs `f` `iters` times, records the mean under `key` and returns the
    /// elapsed time (an `iter_custom` routine).
    fn timed(&self, key: &str, iters: u64, mut f: impl FnMut()) -> Duration {
        let t = Instant::now();
        for _ in 0..iters {
            f();
        }
        let e = t.elapsed();
        self.record(key, e, iters);
        e
    }

    fn record(&self, key: &str, total: Duration, iters: u64) {
        self.0
            .borrow_mut()
            .entry(key.to_string())
            .or_default()
            .push(total.as_nanos() as f64 / iters.max(1) as f64);
    }

    fn median(&self, key: &str) -> Option<f64> {
        let map = self.0.borrow();
        let mut v = map.get(key)?.clone();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied()
    }
}

fn fmt_ns(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.2} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}

fn fmt_bytes(b: f64) -> String {
    if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.1} KB", b / 1e3)
    } else {
        format!("{b:.0} B")
    }
}

// ---------------------------------------------------------------------------
// 1 + 2: encode scaling, memcpy floor, gzip.

struct Body {
    series: usize,
    bytes: usize,
    lines: usize,
}

fn encode_and_gzip(
    c: &mut Criterion,
    sizes: &[usize],
    gzip_sizes: &[usize],
    only_gzip: bool,
    rec: &Recorder,
) {
    let mut bodies = Vec::new();
    let mut group = c.benchmark_group("encode");
    group.sampling_mode(SamplingMode::Flat);
    for &n in sizes {
        if only_gzip && !gzip_sizes.contains(&n) {
            continue;
        }
        let data = build(n);
        let mut buf = Vec::new();
        data.reg.encode(&mut buf); // grow the buffer once: steady state from here
        let body = buf.clone();
        bodies.push(Body {
            series: n,
            bytes: body.len(),
            lines: sample_lines(&body),
        });
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("telemeter", n), &n, |b, _| {
            b.iter_custom(|iters| {
                rec.timed(&format!("encode/{n}"), iters, || {
                    buf.clear();
                    data.reg.encode(&mut buf);
                    black_box(buf.len());
                })
            })
        });
        // The floor: the same body written back from its line texts and
        // values, taken apart beforehand (see `FormatFloor`).
        let floor = FormatFloor::new(&body).expect("the encoder's own body");
        let mut floor_out: Vec<u8> = Vec::with_capacity(body.len());
        floor.write(&mut floor_out);
        assert!(floor_out == body, "the floor writes the body back");
        group.bench_with_input(BenchmarkId::new("floor", n), &n, |b, _| {
            b.iter_custom(|iters| {
                rec.timed(&format!("floor/{n}"), iters, || {
                    floor_out.clear();
                    black_box(&floor).write(&mut floor_out);
                    black_box(floor_out.len());
                })
            })
        });
        let mut dst: Vec<u8> = Vec::with_capacity(body.len());
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(BenchmarkId::new("memcpy", n), &n, |b, _| {
            b.iter_custom(|iters| {
                rec.timed(&format!("memcpy/{n}"), iters, || {
                    dst.clear();
                    dst.extend_from_slice(black_box(&body));
                    black_box(dst.len());
                })
            })
        });
        if gzip_sizes.contains(&n) {
            let mut gz_out: Vec<u8> = Vec::with_capacity(body.len() / 4);
            let mut gz_len = 0;
            group.throughput(Throughput::Elements(n as u64));
            group.bench_with_input(BenchmarkId::new("telemeter+gzip", n), &n, |b, _| {
                b.iter_custom(|iters| {
                    rec.timed(&format!("gzip/{n}"), iters, || {
                        buf.clear();
                        data.reg.encode(&mut buf);
                        gz_out.clear();
                        let mut enc = flate2::write::GzEncoder::new(
                            std::mem::take(&mut gz_out),
                            flate2::Compression::fast(),
                        );
                        enc.write_all(&buf).expect("gzip into a Vec");
                        gz_out = enc.finish().expect("gzip into a Vec");
                        gz_len = gz_out.len();
                    })
                })
            });
            rec.0
                .borrow_mut()
                .insert(format!("gzip_len/{n}"), vec![gz_len as f64]);
        }
        drop(data);
    }
    group.finish();

    println!("\n== encode: Registry::encode into a reused buffer (medians of criterion's samples)");
    println!(
        "{:>9} {:>11} {:>12} {:>10} {:>10} {:>12} {:>12} {:>10} {:>10} {:>11} {:>10}",
        "series",
        "lines",
        "bytes",
        "encode",
        "ns/series",
        "encode MB/s",
        "memcpy",
        "floor",
        "enc/memcpy",
        "floor/memcpy",
        "enc/floor"
    );
    for b in &bodies {
        let (Some(enc), Some(cp), Some(fl)) = (
            rec.median(&format!("encode/{}", b.series)),
            rec.median(&format!("memcpy/{}", b.series)),
            rec.median(&format!("floor/{}", b.series)),
        ) else {
            continue;
        };
        println!(
            "{:>9} {:>11} {:>12} {:>10} {:>10.1} {:>12.0} {:>12} {:>10} {:>9.2}x {:>11.2}x {:>9.2}x",
            b.series,
            b.lines,
            b.bytes,
            fmt_ns(enc),
            enc / b.series as f64,
            b.bytes as f64 / enc * 1e3,
            fmt_ns(cp),
            fmt_ns(fl),
            enc / cp,
            fl / cp,
            enc / fl
        );
    }
    let at = |n: usize| rec.median(&format!("encode/{n}"));
    if let (Some(big), Some(small)) = (at(1_000_000), at(100_000)) {
        println!(
            "growth 1M/100k: {:.2}x the time for 10x the series (target: within 12x)",
            big / small
        );
    }
    if let (Some(big), Some(small)) = (at(100_000), at(10_000)) {
        println!("growth 100k/10k: {:.2}x", big / small);
    }

    println!("\n== gzip: flate2 Compression::fast() on the same bodies");
    println!(
        "{:>9} {:>12} {:>11} {:>7} {:>10} {:>12} {:>10} {:>12}",
        "series", "identity", "gzip", "ratio", "encode", "encode+gzip", "gzip only", "gzip/encode"
    );
    for b in &bodies {
        let n = b.series;
        let (Some(enc), Some(gz), Some(gz_len)) = (
            rec.median(&format!("encode/{n}")),
            rec.median(&format!("gzip/{n}")),
            rec.median(&format!("gzip_len/{n}")),
        ) else {
            continue;
        };
        println!(
            "{:>9} {:>12} {:>11} {:>6.1}x {:>10} {:>12} {:>10} {:>11.1}x",
            n,
            fmt_bytes(b.bytes as f64),
            fmt_bytes(gz_len),
            b.bytes as f64 / gz_len,
            fmt_ns(enc),
            fmt_ns(gz),
            fmt_ns(gz - enc),
            (gz - enc) / enc
        );
    }
}

// ---------------------------------------------------------------------------
// 3: writer interference.

#[cfg(target_os = "linux")]
mod sys {
    #[repr(C)]
    pub struct Timespec {
        pub tv_sec: i64,
        pub tv_nsec: i64,
    }

    #[repr(C)]
    pub struct CpuSet {
        pub bits: [u64; 16],
    }

    pub const CLOCK_THREAD_CPUTIME_ID: i32 = 3;

    extern "C" {
        pub fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
        pub fn sched_setaffinity(pid: i32, size: usize, mask: *const CpuSet) -> i32;
        pub fn sched_getaffinity(pid: i32, size: usize, mask: *mut CpuSet) -> i32;
    }
}

/// CPU time the calling thread has used.
fn thread_cpu_time() -> Duration {
    #[cfg(target_os = "linux")]
    {
        let mut ts = sys::Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec; the clock id is a
        // Linux constant for the calling thread's CPU clock.
        let rc = unsafe { sys::clock_gettime(sys::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        if rc == 0 {
            return Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32);
        }
    }
    Duration::ZERO
}

/// The CPUs this process may run on.
fn allowed_cpus() -> Vec<usize> {
    #[cfg(target_os = "linux")]
    {
        let mut set = sys::CpuSet { bits: [0; 16] };
        // SAFETY: `set` is a writable buffer of the size passed; pid 0 is
        // the calling thread.
        let rc = unsafe { sys::sched_getaffinity(0, std::mem::size_of::<sys::CpuSet>(), &mut set) };
        if rc == 0 {
            return (0..1024)
                .filter(|c| set.bits[c / 64] & (1 << (c % 64)) != 0)
                .collect();
        }
    }
    (0..thread::available_parallelism().map_or(1, |n| n.get())).collect()
}

/// Pins the calling thread to `cpu`; false where that is not possible.
fn pin(cpu: usize) -> bool {
    #[cfg(target_os = "linux")]
    {
        let mut set = sys::CpuSet { bits: [0; 16] };
        set.bits[cpu / 64] |= 1 << (cpu % 64);
        // SAFETY: `set` is a valid cpu_set_t-sized mask; pid 0 is the
        // calling thread.
        return unsafe { sys::sched_setaffinity(0, std::mem::size_of::<sys::CpuSet>(), &set) } == 0;
    }
    #[allow(unreachable_code)]
    false
}

/// A barrier that spins, so that every participant starts within
/// nanoseconds of the others.
struct SpinBarrier {
    waiting: AtomicUsize,
    n: usize,
}

impl SpinBarrier {
    fn wait(&self) {
        self.waiting.fetch_add(1, Ordering::AcqRel);
        while self.waiting.load(Ordering::Acquire) < self.n {
            std::hint::spin_loop();
        }
    }
}

struct Window {
    /// Records per wall-clock second, all writers together.
    per_sec: f64,
    /// Records per writer CPU-second.
    per_cpu_sec: f64,
    /// Encodes the scraper finished.
    scrapes: u64,
}

/// One window: `writers` threads record for `len` while (optionally) a
/// scraper encodes in a loop.
fn window(
    data: &Arc<Data>,
    writers: usize,
    scraper: bool,
    len: Duration,
    cpus: &[usize],
) -> Window {
    let stop = Arc::new(AtomicBool::new(false));
    let barrier = Arc::new(SpinBarrier {
        waiting: AtomicUsize::new(0),
        n: writers + usize::from(scraper) + 1,
    });
    let scrape_thread = scraper.then(|| {
        let (data, stop, barrier) = (data.clone(), stop.clone(), barrier.clone());
        // With one writer the scraper gets the other CPU to itself.
        let cpu = (writers == 1 && cpus.len() >= 2).then(|| cpus[1]);
        thread::spawn(move || {
            if let Some(cpu) = cpu {
                pin(cpu);
            }
            let mut buf = Vec::new();
            data.reg.encode(&mut buf);
            barrier.wait();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                buf.clear();
                data.reg.encode(&mut buf);
                black_box(buf.len());
                n += 1;
            }
            n
        })
    });
    let writer_threads: Vec<_> = (0..writers)
        .map(|w| {
            let (data, stop, barrier) = (data.clone(), stop.clone(), barrier.clone());
            let cpu = cpus.get(w % cpus.len().max(1)).copied();
            thread::spawn(move || {
                if let Some(cpu) = cpu {
                    pin(cpu);
                }
                let counters = &data.hot_counters;
                let hists = &data.hot_histograms;
                barrier.wait();
                let cpu0 = thread_cpu_time();
                let t0 = Instant::now();
                let mut ops = 0u64;
                let mut i = w;
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..256 {
                        counters[i % counters.len()].inc();
                        if i % 4 == 0 {
                            hists[i % hists.len()].observe(OBSERVATIONS[i % OBSERVATIONS.len()]);
                        }
                        i = i.wrapping_add(1);
                    }
                    ops += 256;
                }
                (ops, t0.elapsed(), thread_cpu_time().saturating_sub(cpu0))
            })
        })
        .collect();
    barrier.wait();
    thread::sleep(len);
    stop.store(true, Ordering::Relaxed);
    let mut per_sec = 0.0;
    let (mut ops_all, mut cpu_all) = (0u64, Duration::ZERO);
    for t in writer_threads {
        let (ops, wall, cpu) = t.join().expect("writer");
        per_sec += ops as f64 / wall.as_secs_f64();
        ops_all += ops;
        cpu_all += cpu;
    }
    let scrapes = scrape_thread.map_or(0, |t| t.join().expect("scraper"));
    Window {
        per_sec,
        per_cpu_sec: if cpu_all.is_zero() {
            f64::NAN
        } else {
            ops_all as f64 / cpu_all.as_secs_f64()
        },
        scrapes,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn interference(full: bool) {
    let n = if full { 100_000 } else { 10_000 };
    let (rounds, len) = if full {
        (7, Duration::from_secs(1))
    } else {
        (1, Duration::from_millis(50))
    };
    let data = Arc::new(build(n));
    let cpus = allowed_cpus();
    println!(
        "\n== interference: writers recording while a scraper encodes {n} series in a loop \
         ({} CPUs: {:?}; {rounds} windows of {len:?} each, alternating, medians)",
        cpus.len(),
        cpus
    );
    for writers in [2, 1] {
        let (mut without, mut with) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            without.push(window(&data, writers, false, len, &cpus));
            with.push(window(&data, writers, true, len, &cpus));
        }
        let m = |v: &[Window], f: fn(&Window) -> f64| median(v.iter().map(f).collect());
        let (w0, w1) = (m(&without, |w| w.per_sec), m(&with, |w| w.per_sec));
        let (c0, c1) = (m(&without, |w| w.per_cpu_sec), m(&with, |w| w.per_cpu_sec));
        let scrapes = m(&with, |w| w.scrapes as f64) / len.as_secs_f64();
        let ratios: Vec<String> = without
            .iter()
            .zip(&with)
            .map(|(a, b)| format!("{:.2}", b.per_sec / a.per_sec))
            .collect();
        println!(
            "{writers} writer{}: {:.1} M records/s without, {:.1} M/s with ({scrapes:.1} encodes/s): \
             ratio {:.2} per wall second [windows: {}]; per writer CPU-second {:.1} M vs {:.1} M: ratio {:.2}",
            if writers == 1 { " (scraper pinned to the other CPU)" } else { "s" },
            w0 / 1e6,
            w1 / 1e6,
            w1 / w0,
            ratios.join(" "),
            c0 / 1e6,
            c1 / 1e6,
            c1 / c0
        );
    }
}

// ---------------------------------------------------------------------------
// 4: scrape storm through the real server.

/// Section 5: see the module docs.
fn gauges(full: bool) {
    let (sizes, rounds): (&[usize], usize) = if full {
        (&[100_000, 1_000_000], 15)
    } else {
        (&[1_000], 2)
    };
    println!("\n== gauges: Registry::encode of labelled gauges (best of {rounds})");
    println!("   series        bytes     encode     memcpy  enc/memcpy");
    for &n in sizes {
        let reg = Registry::builder().self_metrics(false).build();
        let fam = reg
            .gauge_family(
                Opts::new("app_queue_depth", "Queue depth, by route.")
                    .labels(&["route", "code"])
                    .max_series(n),
            )
            .expect("valid family");
        let mut label = String::new();
        for i in 0..n {
            label.clear();
            let _ = write!(label, "/api/v1/items/{i}");
            fam.with_label_values(&[&label, CODES[i % CODES.len()]])
                .expect("series")
                .set((i as i64 * 7919) % 1_000_003 - 5000);
        }
        // Twice: the first grows the buffer to the body's size.
        let mut buf = Vec::new();
        reg.encode(&mut buf);
        buf.clear();
        reg.encode(&mut buf);
        let mut copy = vec![0u8; buf.len()];
        let (mut encode, mut memcpy) = (Duration::MAX, Duration::MAX);
        for _ in 0..rounds {
            buf.clear();
            let t = Instant::now();
            reg.encode(&mut buf);
            encode = encode.min(t.elapsed());
            let t = Instant::now();
            copy.copy_from_slice(black_box(&buf));
            memcpy = memcpy.min(t.elapsed());
            black_box(&copy);
        }
        println!(
            "{n:>9} {:>12} {:>10} {:>10} {:>10.1}x",
            buf.len(),
            format!("{:.2} ms", encode.as_secs_f64() * 1e3),
            format!("{:.2} ms", memcpy.as_secs_f64() * 1e3),
            encode.as_secs_f64() / memcpy.as_secs_f64()
        );
    }
}

/// Section 6: the encode of the data set as more threads have recorded
/// into it, each with a shard of its own (the pool is process-wide, so
/// this runs before the sections that start writer threads).
fn shards(full: bool) {
    let (n, rounds, steps): (usize, usize, &[usize]) = if full {
        (10_000, 15, &[0, 2, 4, 8])
    } else {
        (1_000, 2, &[0, 2])
    };
    let data = build(n);
    let mut buf = Vec::new();
    println!(
        "\n== shards: Registry::encode of {n} series as more threads record into them (best of {rounds} means of 10)"
    );
    println!(" threads  shards     encode  vs first row");
    let mut first = None;
    for &k in steps {
        // k threads at once: the shards of earlier, exited threads are
        // reused, so the pool holds the main thread's and k more.
        record_from_threads(&data, k);
        // Best of `rounds`, each the mean of 10 encodes.
        let mut best = Duration::MAX;
        for _ in 0..rounds {
            let t = Instant::now();
            for _ in 0..10 {
                buf.clear();
                data.reg.encode(&mut buf);
            }
            best = best.min(t.elapsed() / 10);
        }
        let first = *first.get_or_insert(best);
        println!(
            "{:>8} {:>7} {:>10} {:>12.2}x",
            k + 1,
            telemeter::pool_stats().shards,
            fmt_ns(best.as_nanos() as f64),
            best.as_secs_f64() / first.as_secs_f64()
        );
    }
}

fn storm(full: bool) {
    let n = if full { 100_000 } else { 1_000 };
    let secs = if full { "5s" } else { "300ms" };
    let data = build(n);
    let handle = Exporter::builder()
        .registry(data.reg.clone())
        .metrics_addr("127.0.0.1:0")
        .no_health()
        .no_admin()
        .self_metrics(false)
        .start()
        .expect("exporter starts");
    let url = format!("http://{}/metrics", handle.metrics_addr().expect("bound"));
    println!("\n== storm: telemeter load against an Exporter serving {n} series ({secs} per run)");
    println!(
        "{:>6} {:>5} {:>9} {:>8} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10} {:>11}",
        "conns",
        "gzip",
        "requests",
        "req/s",
        "encodes",
        "enc/s",
        "req/enc",
        "p50",
        "p99",
        "max",
        "MB/s",
        "encode"
    );
    for (conns, gzip) in [(1, false), (64, false), (1, true), (64, true)] {
        let before = handle.stats();
        let mut cmd = Command::new(seed_support::telemeter_bin());
        cmd.args(["load", "--json", "--url", &url, "--duration", secs])
            .args(["--connections", &conns.to_string(), "--timeout", "60s"]);
        if gzip {
            cmd.arg("--gzip");
        }
        let out = cmd.output().expect("run telemeter load");
        let after = handle.stats();
        let r: serde_json::Value = match serde_json::from_slice(&out.stdout) {
            Ok(r) => r,
            Err(e) => {
                println!(
                    "telemeter load failed ({e}): {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                continue;
            }
        };
        let requests = r["requests"].as_u64().unwrap_or(0);
        let encodes = after.encodes - before.encodes;
        let elapsed = r["elapsed_s"].as_f64().unwrap_or(f64::NAN);
        let lat = |k: &str| fmt_ns(r["latency_us"][k].as_f64().unwrap_or(f64::NAN) * 1e3);
        println!(
            "{:>6} {:>5} {:>9} {:>8.1} {:>8} {:>9.2} {:>9.1} {:>9} {:>9} {:>9} {:>10.1} {:>11}",
            conns,
            if gzip { "yes" } else { "no" },
            requests,
            r["requests_per_s"].as_f64().unwrap_or(0.0),
            encodes,
            encodes as f64 / elapsed,
            requests as f64 / encodes.max(1) as f64,
            lat("p50"),
            lat("p99"),
            lat("max"),
            r["bytes_per_s"].as_f64().unwrap_or(0.0) / 1e6,
            fmt_ns(after.last_encode.as_nanos() as f64),
        );
        let errors = r["errors"]["total"].as_u64().unwrap_or(0);
        if errors > 0 {
            println!("   {errors} errors: {}", r["error_examples"]);
        }
    }
    handle.shutdown();
}

// ---------------------------------------------------------------------------

/// Positional arguments (filters), skipping the values of criterion's
/// options that take one.
fn filters() -> Vec<String> {
    const WITH_VALUE: [&str; 16] = [
        "--warm-up-time",
        "--measurement-time",
        "--sample-size",
        "--save-baseline",
        "--baseline",
        "--baseline-lenient",
        "--load-baseline",
        "--output-format",
        "--color",
        "--noise-threshold",
        "--confidence-level",
        "--significance-level",
        "--nresamples",
        "--profile-time",
        "--plotting-backend",
        "--format",
    ];
    let mut out = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if WITH_VALUE.contains(&a.as_str()) {
            args.next();
        } else if !a.starts_with('-') {
            out.push(a);
        }
    }
    out
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let filters = filters();
    let selected =
        |name: &str| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()));
    let sizes: Vec<usize> = match std::env::var("SCRAPE_LOAD_SIZES") {
        Ok(s) => s.split(',').filter_map(|x| x.trim().parse().ok()).collect(),
        Err(_) if full => vec![1_000, 10_000, 100_000, 1_000_000],
        Err(_) => vec![1_000],
    };
    let gzip_sizes = if full {
        vec![10_000, 100_000]
    } else {
        vec![1_000]
    };

    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let rec = Recorder::default();
    let only_gzip = !(selected("encode") || selected("memcpy") || selected("telemeter"));
    if !only_gzip || selected("gzip") {
        encode_and_gzip(&mut c, &sizes, &gzip_sizes, only_gzip, &rec);
    }
    c.final_summary();
    if selected("shards") {
        shards(full);
    }
    if selected("interference") {
        interference(full);
    }
    if selected("storm") {
        storm(full);
    }
    if selected("gauges") {
        gauges(full);
    }
}
