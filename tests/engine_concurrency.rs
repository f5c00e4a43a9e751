//! Real-thread stress tests: exact totals, scrape while writing, thread
//! exit and shard hand-off, more threads than exclusive shards.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use telemeter::parse::parse;
use telemeter::{Buckets, Opts, Registry};

const THREADS: usize = 8;
const PER_THREAD: u64 = 1_000_000;

#[test]
fn exact_totals_with_half_the_threads_exiting_early() {
    let reg = Registry::new();
    let counter = reg.counter("stress_total", "Stress.").unwrap();
    let fam = reg
        .counter_family(Opts::new("stress_labelled_total", "Stress.").labels(&["t"]))
        .unwrap();
    let hist = reg
        .histogram(
            "stress_bytes",
            "Stress.",
            Buckets::new(vec![1.0, 2.0, 3.0]).unwrap(),
        )
        .unwrap();
    let labelled = fam.with_label_values(&["shared"]).unwrap();

    // Half the threads record and exit while the other half are still
    // recording; the late half then keeps going on (possibly) the shards
    // the early half gave back.
    let early_done = Arc::new(Barrier::new(THREADS / 2 + 1));
    let mut handles = Vec::new();
    for t in 0..THREADS {
        let (c, l, h) = (counter.clone(), labelled.clone(), hist.clone());
        let early_done = Arc::clone(&early_done);
        handles.push(thread::spawn(move || {
            let early = t < THREADS / 2;
            if !early {
                // Start half of the work now, half after the early threads exited.
                for i in 0..PER_THREAD / 2 {
                    c.inc();
                    l.add(2);
                    h.observe_u64(i % 4);
                }
                early_done.wait();
                for i in PER_THREAD / 2..PER_THREAD {
                    c.inc();
                    l.add(2);
                    h.observe_u64(i % 4);
                }
            } else {
                for i in 0..PER_THREAD {
                    c.inc();
                    l.add(2);
                    h.observe_u64(i % 4);
                }
            }
        }));
    }
    // Join the early threads first: their thread-locals are gone then.
    for h in handles.drain(..THREADS / 2) {
        h.join().unwrap();
    }
    early_done.wait();
    for h in handles {
        h.join().unwrap();
    }

    let total = THREADS as u64 * PER_THREAD;
    assert_eq!(counter.get(), total);
    assert_eq!(labelled.get(), 2 * total);
    let snap = hist.snapshot();
    assert_eq!(snap.count, total);
    // Values 0,1,2,3 in equal shares: 0 and 1 land in le=1, 2 in le=2, 3 in le=3.
    assert_eq!(snap.buckets, vec![total / 2, total / 4, total / 4, 0]);
    assert_eq!(snap.sum, (total / 4 * (1 + 2 + 3)) as f64);

    // The scrape reports the same numbers.
    let body = reg.encode_to_string();
    let exp = parse(&body).expect("valid body");
    let c = exp.family("stress_total").unwrap();
    assert_eq!(c.samples[0].value, total as f64);
    let h = exp.family("stress_bytes").unwrap();
    assert_eq!(
        h.find("stress_bytes_count", &[]).unwrap().value,
        total as f64
    );
    assert_eq!(
        h.find("stress_bytes_bucket", &[("le", "+Inf")])
            .unwrap()
            .value,
        total as f64
    );
}

#[test]
fn more_threads_than_exclusive_shards_still_count_exactly() {
    // 80 live threads at once: past the 64 exclusive shards, the rest share
    // fetch_add shards.
    const N: usize = 80;
    const EACH: u64 = 20_000;
    let reg = Registry::new();
    let c = reg.counter("many_threads_total", "Many.").unwrap();
    let h = reg
        .histogram("many_threads_value", "Many.", Buckets::default())
        .unwrap();
    let all_started = Arc::new(Barrier::new(N));
    let threads: Vec<_> = (0..N)
        .map(|_| {
            let (c, h, b) = (c.clone(), h.clone(), Arc::clone(&all_started));
            thread::spawn(move || {
                c.inc(); // take a shard while everyone is alive
                b.wait();
                for _ in 1..EACH {
                    c.inc();
                }
                for _ in 0..EACH {
                    h.observe(0.3);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(c.get(), N as u64 * EACH);
    let s = h.snapshot();
    assert_eq!(s.count, N as u64 * EACH);
    assert_eq!(s.buckets[6], N as u64 * EACH); // le=0.5
    assert!((s.sum - 0.3 * (N as u64 * EACH) as f64).abs() < 1e-3 * s.sum);
}

#[test]
fn a_thread_that_exits_loses_nothing() {
    let reg = Registry::new();
    let c = reg.counter("exited_total", "Exited.").unwrap();
    for round in 1..=20u64 {
        let c2 = c.clone();
        thread::spawn(move || c2.add(round)).join().unwrap();
    }
    assert_eq!(c.get(), (1..=20u64).sum::<u64>());
}

#[test]
fn scrapes_while_writing_are_valid_and_never_decrease() {
    let reg = Registry::new();
    let fam = reg
        .counter_family(Opts::new("sw_total", "Scrape while writing.").labels(&["w"]))
        .unwrap();
    let hist = reg
        .histogram_family(
            Opts::new("sw_seconds", "Scrape while writing.").labels(&["w"]),
            Buckets::exponential(0.001, 4.0, 6).unwrap(),
        )
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let c = fam.with_label_values(&[&w.to_string()]).unwrap();
            let h = hist.with_label_values(&[&w.to_string()]).unwrap();
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    c.inc();
                    h.observe((i % 97) as f64 * 0.001);
                    i += 1;
                }
            })
        })
        .collect();

    let mut last: std::collections::HashMap<String, f64> = Default::default();
    let mut buf = Vec::new();
    let mut scrapes = 0;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while std::time::Instant::now() < deadline || scrapes < 50 {
        buf.clear();
        reg.encode(&mut buf);
        let body = std::str::from_utf8(&buf).unwrap();
        let exp = parse(body).unwrap_or_else(|e| panic!("invalid scrape: {e}\n{body}"));
        for fam in &exp.families {
            if fam.name.starts_with("telemeter_") {
                continue;
            }
            for s in &fam.samples {
                if s.name.ends_with("_sum") {
                    continue; // sums of non-negative values also grow, but are floats
                }
                let key = format!("{}{:?}", s.name, s.labels);
                let prev = last.insert(key.clone(), s.value).unwrap_or(0.0);
                assert!(s.value >= prev, "{key} went from {prev} to {}", s.value);
            }
            // +Inf == _count is checked by the strict parser for every label set.
        }
        scrapes += 1;
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    assert!(scrapes >= 50);
}

#[test]
fn registration_races_have_exactly_one_winner() {
    for _ in 0..50 {
        let reg = Registry::new();
        let start = Arc::new(Barrier::new(4));
        let results: Vec<_> = (0..4)
            .map(|_| {
                let reg = reg.clone();
                let start = Arc::clone(&start);
                thread::spawn(move || {
                    start.wait();
                    reg.counter("raced_total", "Raced.").is_ok()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect();
        assert_eq!(results.iter().filter(|ok| **ok).count(), 1);
        assert_eq!(
            reg.encode_to_string().matches("# TYPE raced_total").count(),
            1
        );
    }
}

#[test]
fn concurrent_lookups_of_new_label_sets_create_one_series_each() {
    let reg = Registry::new();
    let fam = reg
        .counter_family(Opts::new("lookup_race_total", "Race.").labels(&["k"]))
        .unwrap();
    let start = Arc::new(Barrier::new(4));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let fam = fam.clone();
            let start = Arc::clone(&start);
            thread::spawn(move || {
                start.wait();
                for i in 0..500 {
                    fam.with_label_values(&[&i.to_string()]).unwrap().inc();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(fam.len(), 500);
    for i in 0..500 {
        assert_eq!(fam.with_label_values(&[&i.to_string()]).unwrap().get(), 4);
    }
}

#[test]
fn a_removal_on_one_thread_invalidates_every_threads_lookup_cache() {
    let reg = Registry::builder().self_metrics(false).build();
    let fam = reg
        .counter_family(Opts::new("cached_total", "Cached.").labels(&["k"]))
        .unwrap();
    let (to_worker, work) = std::sync::mpsc::channel::<u64>();
    let (done, from_worker) = std::sync::mpsc::channel::<()>();
    let worker = {
        let fam = fam.clone();
        thread::spawn(move || {
            for n in work {
                // Borrowed lookups: served from this thread's cache after the
                // first one.
                fam.with(&["x"], |c| c.add(n)).unwrap();
                done.send(()).unwrap();
            }
        })
    };
    to_worker.send(5).unwrap();
    from_worker.recv().unwrap();
    to_worker.send(5).unwrap();
    from_worker.recv().unwrap();
    assert_eq!(fam.with_label_values(&["x"]).unwrap().get(), 10);
    assert!(fam.remove(&["x"]).unwrap());
    // The worker's next lookup happens after the removal: it must reach a
    // new series, not the removed one its cache still holds.
    to_worker.send(1).unwrap();
    from_worker.recv().unwrap();
    assert_eq!(fam.with_label_values(&["x"]).unwrap().get(), 1);
    assert!(reg.encode_to_string().contains("cached_total{k=\"x\"} 1\n"));
    drop(to_worker);
    worker.join().unwrap();
}

#[test]
fn many_label_sets_on_many_threads_never_share_or_lose_a_series() {
    // More label sets than the per-thread cache holds, so entries are
    // evicted and refilled all the time.
    const SETS: usize = 2_000;
    let reg = Registry::builder().self_metrics(false).build();
    let fam = reg
        .counter_family(Opts::new("churn_total", "Churn.").labels(&["a", "b"]))
        .unwrap();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let fam = fam.clone();
            thread::spawn(move || {
                for round in 0..3 {
                    for i in 0..SETS {
                        let (a, b) = (format!("a{}", i % 37), format!("b{i}"));
                        if (i + round + t) % 2 == 0 {
                            fam.with(&[&a, &b], |c| c.inc()).unwrap();
                        } else {
                            fam.with_label_values(&[&a, &b]).unwrap().inc();
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(fam.len(), SETS);
    for i in 0..SETS {
        let (a, b) = (format!("a{}", i % 37), format!("b{i}"));
        assert_eq!(
            fam.with_label_values(&[&a, &b]).unwrap().get(),
            12,
            "{a},{b}"
        );
    }
}

/// Series created and removed on two threads while a third scrapes
/// without pause: every scrape parses (no duplicate label set), every
/// sample of a churned series shows its own count or zero (none starts
/// with another's counts, none shows a reused slot's), and the last scrape
/// holds exactly the series kept, with their exact totals.
#[test]
fn series_churn_while_scraped_keeps_exact_totals() {
    const PER_THREAD: u64 = 3000;
    let reg = Registry::builder().self_metrics(false).build();
    let fam = reg
        .counter_family(
            Opts::new("churn_total", "Churn.")
                .labels(&["s"])
                .max_series(100_000),
        )
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let scraper = {
        let reg = reg.clone();
        let stop = Arc::clone(&stop);
        thread::spawn(move || {
            let mut buf = Vec::new();
            let mut scrapes = 0u64;
            while !stop.load(Ordering::Relaxed) || scrapes < 20 {
                buf.clear();
                reg.encode(&mut buf);
                let body = std::str::from_utf8(&buf).unwrap();
                let exp = parse(body).unwrap_or_else(|e| panic!("invalid scrape: {e}"));
                let f = exp
                    .family("churn_total")
                    .expect("the family, listed or not");
                for s in &f.samples {
                    let label = &s.labels[0].1;
                    let i: u64 = label.rsplit('-').next().unwrap().parse().unwrap();
                    assert!(
                        s.value == 0.0 || s.value == (i + 1) as f64,
                        "{label} shows {}",
                        s.value
                    );
                }
                scrapes += 1;
            }
            scrapes
        })
    };
    let writers: Vec<_> = (0..2)
        .map(|t| {
            let fam = fam.clone();
            thread::spawn(move || {
                for i in 0..PER_THREAD {
                    let label = format!("w{t}-{i}");
                    fam.with_label_values(&[&label]).unwrap().add(i + 1);
                    // Remove two of every three, some at once, some later.
                    if i % 3 == 1 {
                        assert!(fam.remove(&[&label]).unwrap());
                    }
                    if i % 3 == 0 && i >= 3 {
                        assert!(fam.remove(&[&format!("w{t}-{}", i - 3)]).unwrap());
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    assert!(scraper.join().unwrap() >= 20);
    // Kept: i % 3 == 2, and the last i % 3 == 0 of each thread.
    let body = reg.encode_to_string();
    let exp = parse(&body).unwrap();
    let samples = &exp.family("churn_total").unwrap().samples;
    let mut want: Vec<(String, f64)> = Vec::new();
    for t in 0..2 {
        for i in 0..PER_THREAD {
            if i % 3 == 2 || (i % 3 == 0 && i + 3 >= PER_THREAD) {
                want.push((format!("w{t}-{i}"), (i + 1) as f64));
            }
        }
    }
    let mut got: Vec<(String, f64)> = samples
        .iter()
        .map(|s| (s.labels[0].1.clone(), s.value))
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    want.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got, want);
    assert_eq!(fam.len(), want.len());
}
