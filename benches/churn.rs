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
//! 3. `callbacks`: `Registry::encode` of 1,000 counters with 0, 1 and 10
//!    `gauge_fn` callbacks (each runs on its own thread, so that a blocked
//!    one costs only its samples), best of 5 means of 2,000 encodes, beside
//!    the floor of that design: one condvar round trip to a parked thread.
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

fn callbacks() {
    // The floor: a round trip to a parked thread and back (what a scrape
    // pays per callback, at least once per scrape).
    let pair = Arc::new((
        std::sync::Mutex::new((0u64, 0u64)),
        std::sync::Condvar::new(),
    ));
    let p2 = Arc::clone(&pair);
    let worker = thread::spawn(move || {
        let (m, cv) = &*p2;
        let mut g = m.lock().unwrap();
        loop {
            while g.0 == g.1 {
                g = cv.wait(g).unwrap();
            }
            if g.0 == u64::MAX {
                return;
            }
            g.1 = g.0;
            cv.notify_all();
        }
    });
    let round_trip = |n: u32| {
        let (m, cv) = &*pair;
        let t = Instant::now();
        for _ in 0..n {
            let mut g = m.lock().unwrap();
            g.0 += 1;
            cv.notify_all();
            while g.1 != g.0 {
                g = cv.wait(g).unwrap();
            }
        }
        t.elapsed().as_secs_f64() * 1e6 / f64::from(n)
    };
    let floor = (0..5).map(|_| round_trip(2000)).fold(f64::MAX, f64::min);
    {
        let (m, cv) = &*pair;
        m.lock().unwrap().0 = u64::MAX;
        cv.notify_all();
    }
    worker.join().expect("worker");
    println!("{:<34} {floor:>8.1} µs", "floor: condvar round trip");
    for n in [0usize, 1, 10] {
        let reg = Registry::builder().self_metrics(false).build();
        let fam = reg
            .counter_family(Opts::new("c_total", "C.").labels(&["k"]))
            .expect("valid family");
        for i in 0..1000 {
            fam.with(&[&i.to_string()], |c| c.inc()).expect("series");
        }
        for i in 0..n {
            reg.gauge_fn(&format!("g{i}"), "G.", move || i as f64)
                .expect("valid gauge");
        }
        let mut buf = Vec::new();
        for _ in 0..200 {
            buf.clear();
            reg.encode(&mut buf);
        }
        let best = (0..5)
            .map(|_| {
                let t = Instant::now();
                for _ in 0..2000 {
                    buf.clear();
                    reg.encode(&mut buf);
                }
                t.elapsed().as_secs_f64() * 1e6 / 2000.0
            })
            .fold(f64::MAX, f64::min);
        println!(
            "{:<34} {best:>8.1} µs",
            format!("encode, 1k counters, {n} callbacks")
        );
    }
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
    if run("callbacks") {
        callbacks();
    }
}
