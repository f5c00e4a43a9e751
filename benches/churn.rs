//! Series churn while scraped (issue 21): a probe, not a criterion bench,
//! because its figures are latency percentiles of single operations.
//!
//! 1. `create`: a counter family of N series (`churn_total{route,code}`)
//!    and a histogram family of N/10, then a new label set every 200 µs,
//!    each timed from the lookup to the end of its first `inc`; then each
//!    of those series removed, every 200 µs, each removal timed. Idle (no
//!    scraper) and scraped (a thread encoding the registry in a loop, one
//!    body after another). Reports p50/p99/p99.9/max per case, beside a
//!    floor: an empty region timed the same way, at the same pace.
//! 2. `remove-cost`: a family of N series, a quarter of them removed in a
//!    row: the mean cost of one removal at N = 10k, 100k and 1M (the bar:
//!    1M within 2x of 10k).
//!
//! Run: `cargo bench --bench churn` (about a minute on 2 CPUs);
//! `CHURN_SIZES=100000` picks the sizes of `create`, `CHURN_SAMPLES` the
//! operations timed per case (default 5000), and `-- create` or
//! `-- remove-cost` one section.

use std::fmt::Write as _;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use telemeter::{Buckets, Counter, Family, Opts, Registry};

const CODES: [&str; 4] = ["200", "404", "500", "503"];

fn sizes(var: &str, default: &[usize]) -> Vec<usize> {
    match std::env::var(var) {
        Ok(v) => v
            .split(',')
            .map(|s| s.trim().parse().expect("a list of sizes"))
            .collect(),
        Err(_) => default.to_vec(),
    }
}

fn route<'a>(label: &'a mut String, prefix: &str, i: usize) -> &'a str {
    label.clear();
    let _ = write!(label, "/{prefix}/{i}");
    label
}

/// A registry with `n` counter series and `n / 10` histogram series.
fn registry(n: usize) -> (Registry, Family<Counter>) {
    let reg = Registry::builder()
        .self_metrics(false)
        .default_max_series(usize::MAX)
        .build();
    let fam = reg
        .counter_family(Opts::new("churn_total", "Requests.").labels(&["route", "code"]))
        .expect("valid family");
    let hist = reg
        .histogram_family(
            Opts::new("churn_seconds", "Latency.").labels(&["route"]),
            Buckets::default_prometheus(),
        )
        .expect("valid family");
    let mut label = String::new();
    for i in 0..n {
        let code = CODES[i % CODES.len()];
        fam.with(&[route(&mut label, "api", i), code], |c| c.add(i as u64))
            .expect("series");
        if i % 10 == 0 {
            hist.with(&[route(&mut label, "api", i)], |h| h.observe(0.01))
                .expect("series");
        }
    }
    (reg, fam)
}

/// p50, p99, p99.9 and max of `t`, in µs.
fn percentiles(t: &mut [Duration]) -> [f64; 4] {
    t.sort_unstable();
    let at = |q: f64| t[((t.len() as f64 * q) as usize).min(t.len() - 1)];
    [at(0.5), at(0.99), at(0.999), t[t.len() - 1]].map(|d| d.as_secs_f64() * 1e6)
}

fn row(case: &str, n: usize, p: [f64; 4]) {
    println!(
        "{case:<26} {n:>9} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
        p[0], p[1], p[2], p[3]
    );
}

/// A thread encoding `reg` in a loop until `stop`; returns the scrapes.
fn scraper(
    reg: &Registry,
    stop: &Arc<AtomicBool>,
    scrapes: &Arc<AtomicU64>,
) -> thread::JoinHandle<()> {
    let (reg, stop, scrapes) = (reg.clone(), Arc::clone(stop), Arc::clone(scrapes));
    thread::spawn(move || {
        let mut buf = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            buf.clear();
            reg.encode(&mut buf);
            black_box(&buf);
            scrapes.fetch_add(1, Ordering::Relaxed);
        }
    })
}

fn create(n: usize, samples: usize) {
    let (reg, fam) = registry(n);
    for scraped in [false, true] {
        let stop = Arc::new(AtomicBool::new(false));
        let scrapes = Arc::new(AtomicU64::new(0));
        let s = scraped.then(|| scraper(&reg, &stop, &scrapes));
        // Let the scraper get going (and the first body grow its buffer).
        thread::sleep(Duration::from_millis(if scraped { 300 } else { 10 }));
        let prefix = if scraped { "scraped" } else { "idle" };
        let mut label = String::new();
        let mut made = Vec::with_capacity(samples);
        for i in 0..samples {
            thread::sleep(Duration::from_micros(200));
            let route = route(&mut label, prefix, i);
            let t = Instant::now();
            fam.with(&[route, "200"], |c| c.inc()).expect("series");
            made.push(t.elapsed());
        }
        // The floor: an empty timed region at the same pace, which shows
        // what the machine itself adds (interrupts, steal on a VM).
        let mut floor = Vec::with_capacity(samples);
        for _ in 0..samples {
            thread::sleep(Duration::from_micros(200));
            let t = Instant::now();
            black_box(&label);
            floor.push(t.elapsed());
        }
        let mut removed = Vec::with_capacity(samples);
        for i in 0..samples {
            thread::sleep(Duration::from_micros(200));
            let route = route(&mut label, prefix, i);
            let t = Instant::now();
            let gone = fam.remove(&[route, "200"]).expect("arity");
            removed.push(t.elapsed());
            assert!(gone);
        }
        stop.store(true, Ordering::Relaxed);
        if let Some(s) = s {
            s.join().expect("scraper");
        }
        let state = if scraped { "scraped" } else { "idle" };
        row(
            &format!("floor (nothing), {state}"),
            n,
            percentiles(&mut floor),
        );
        row(&format!("new series, {state}"), n, percentiles(&mut made));
        row(&format!("remove, {state}"), n, percentiles(&mut removed));
        if scraped {
            println!(
                "  ({} scrapes while timed)",
                scrapes.load(Ordering::Relaxed)
            );
        }
    }
}

fn remove_cost(n: usize) {
    let reg = Registry::builder()
        .self_metrics(false)
        .default_max_series(usize::MAX)
        .build();
    let fam = reg
        .counter_family(Opts::new("rm_total", "Removals.").labels(&["route"]))
        .expect("valid family");
    let mut label = String::new();
    for i in 0..n {
        fam.with(&[route(&mut label, "api", i)], |c| c.inc())
            .expect("series");
    }
    // Every fourth series, spread over the family.
    let t = Instant::now();
    for i in (0..n).step_by(4) {
        assert!(fam.remove(&[route(&mut label, "api", i)]).expect("arity"));
    }
    let per = t.elapsed().as_secs_f64() * 1e9 / (n / 4) as f64;
    println!(
        "{:<26} {n:>9} {per:>9.0} ns per removal",
        "remove a quarter"
    );
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let run = |s: &str| args.is_empty() || args.iter().any(|a| s.contains(a.as_str()));
    let samples = sizes("CHURN_SAMPLES", &[5000])[0];
    if run("create") {
        println!(
            "{:<26} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "case (µs)", "series", "p50", "p99", "p99.9", "max"
        );
        for n in sizes("CHURN_SIZES", &[100_000, 1_000_000]) {
            create(n, samples);
        }
    }
    if run("remove-cost") {
        for n in [10_000, 100_000, 1_000_000] {
            remove_cost(n);
        }
    }
}
