//! Thread-scaling benches: how the hot path behaves when 1, 2, 4, 8 and 16
//! threads record on ONE shared handle at once, for telemeter, every peer
//! crate and the hardware floors.
//!
//! Groups (`Throughput::Elements(1)`, ids `<group>/<participant>/<threads>`,
//! e.g. `counter_inc_threads/telemeter/8`):
//!
//! * `counter_inc_threads` — an unlabelled counter `inc` through one kept
//!   handle shared by every thread.
//! * `histogram_observe_threads` — `observe` on one shared 11-bucket
//!   histogram (the Prometheus default), values cycled over every bucket.
//! * `labelled_lookup_inc_threads` — `with_label_values` (or the peer's
//!   equivalent) + `inc` on one shared 2-label counter family with the same
//!   100 existing series as `hot_path`'s `labelled_lookup_inc`; thread `k`
//!   cycles through them from offset `13 k`, so threads mostly touch
//!   different series of the same family at any moment. No floors here.
//!
//! Floors in both groups: `floor/cell_add_per_thread` (a thread-local `Cell`
//! add: work that shares nothing), `floor/atomic_fetch_add_shared` (one
//! cache-padded `AtomicU64` that every thread `fetch_add`s: full
//! contention) and `floor/atomic_fetch_add_private_per_thread` (each thread
//! its own cache-padded atomic: the machine's own scaling of a locked add).
//! Peers go through the same paths as in `hot_path.rs`; `metrics`'
//! histogram sample buffer is drained (`run_upkeep`) after each sample,
//! untimed.
//!
//! Every sample spawns the threads afresh (`common::run_n`): thread `k` is
//! pinned to the `k`-th allowed CPU, does one untimed operation, and all are
//! released together by a spin barrier; the figure is wall time (first
//! release to last finish) / operations per thread, i.e. the time per
//! operation per thread, the convention of `hot_path`'s 2-thread groups. A
//! flat line across thread counts is perfect scaling.
//!
//! Run: `CARGO_TARGET_DIR=/tmp/target-bench cargo bench --bench scaling`
//!
//! Thread counts above the number of CPUs this process may run on
//! (`sched_getaffinity`) are skipped, with one line on stderr saying which
//! and why: oversubscribed threads would measure the scheduler, not the
//! hot path. `TELEMETER_SCALING_THREADS=1,2,4` replaces the default list
//! `1,2,4,8,16` (the same skipping applies).

// `criterion_group!` generates undocumented `pub fn`s.
#![allow(missing_docs)]

mod common;

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, Throughput,
};
use crossbeam_utils::CachePadded;
use metrics::Recorder as _;

use common::peers::{
    cell_add, measured_histogram, metrics_lookup_key, metrics_recorder,
    prometheus_client_histogram, prometheus_histogram, telemeter_histogram, value, MeasuredLookup,
    MeasuredLookupSet, PcLabels, METADATA,
};
use common::{allowed_cpus, label_sets, run_n, worker_index, StrSet, CODES, METHODS};

/// The thread counts measured unless `TELEMETER_SCALING_THREADS` says
/// otherwise.
const DEFAULT_THREADS: [usize; 5] = [1, 2, 4, 8, 16];

/// The environment variable that replaces [`DEFAULT_THREADS`].
const THREADS_VAR: &str = "TELEMETER_SCALING_THREADS";

// ---------------------------------------------------------------------------
// Which thread counts run

/// Parses a `TELEMETER_SCALING_THREADS` value: a comma-separated list of
/// positive thread counts (blanks and empty items ignored), sorted and
/// deduplicated so that every bench id is unique.
fn parse_threads(spec: &str) -> Result<Vec<usize>, String> {
    let mut v = Vec::new();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match item.parse::<usize>() {
            Ok(n) if n >= 1 => v.push(n),
            _ => return Err(format!("`{item}` is not a positive thread count")),
        }
    }
    if v.is_empty() {
        return Err("no thread count given".to_owned());
    }
    v.sort_unstable();
    v.dedup();
    Ok(v)
}

/// The thread counts to measure: [`DEFAULT_THREADS`] or the list in
/// `TELEMETER_SCALING_THREADS`, minus the counts above the number of
/// allowed CPUs. Computed once; the skipped counts and the placement are
/// told once on stderr.
fn thread_counts() -> &'static [usize] {
    static COUNTS: OnceLock<Vec<usize>> = OnceLock::new();
    COUNTS.get_or_init(|| {
        let wanted = match std::env::var(THREADS_VAR) {
            Ok(spec) => parse_threads(&spec)
                .unwrap_or_else(|e| panic!("{THREADS_VAR}={spec:?}: {e} (expected e.g. `1,2,4`)")),
            Err(std::env::VarError::NotPresent) => DEFAULT_THREADS.to_vec(),
            Err(e) => panic!("{THREADS_VAR}: {e}"),
        };
        let cpus = allowed_cpus();
        let available = if cpus.is_empty() {
            // Affinity unknown (not Linux, or the call failed): fall back to
            // what std reports; run_n then leaves the threads unpinned.
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            cpus.len()
        };
        let (run, skipped): (Vec<usize>, Vec<usize>) =
            wanted.into_iter().partition(|&n| n <= available);
        if !skipped.is_empty() {
            eprintln!(
                "scaling: skipping {} thread(s): only {available} CPU(s) allowed ({}), and each worker needs a CPU of its own",
                join(&skipped),
                if cpus.is_empty() {
                    "available_parallelism".to_owned()
                } else {
                    format!("sched_getaffinity: {cpus:?}")
                },
            );
        }
        if !run.is_empty() {
            eprintln!(
                "scaling: running {} thread(s); worker k {}, released by a spin barrier",
                join(&run),
                if cpus.is_empty() {
                    "NOT pinned (CPU affinity unavailable)"
                } else {
                    "pinned to the k-th allowed CPU (sched_setaffinity)"
                },
            );
        }
        run
    })
}

fn join(counts: &[usize]) -> String {
    counts
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

// ---------------------------------------------------------------------------
// The groups

/// Times `op` on `threads` threads at once as `<name>/<threads>`.
fn run<F: Fn(u64) + Sync>(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, threads: usize, op: F) {
    g.bench_function(BenchmarkId::new(name, threads), |b| {
        b.iter_custom(|iters| run_n(threads, iters, &op))
    });
}

/// One cache-padded atomic per worker of the largest thread count.
fn private_atomics(counts: &[usize]) -> Vec<CachePadded<AtomicU64>> {
    let max = counts.iter().copied().max().unwrap_or(0);
    (0..max)
        .map(|_| CachePadded::new(AtomicU64::new(0)))
        .collect()
}

/// The three floors, shared by both groups.
fn floors(
    g: &mut BenchmarkGroup<'_, WallTime>,
    threads: usize,
    shared: &CachePadded<AtomicU64>,
    private: &[CachePadded<AtomicU64>],
) {
    run(g, "floor/cell_add_per_thread", threads, |_| cell_add());
    // The result is unused, as in every peer's `inc` (`lock add`, not
    // `lock xadd`).
    run(g, "floor/atomic_fetch_add_shared", threads, |_| {
        black_box(&**shared).fetch_add(1, Ordering::Relaxed);
    });
    run(
        g,
        "floor/atomic_fetch_add_private_per_thread",
        threads,
        |_| {
            black_box(&*private[worker_index()]).fetch_add(1, Ordering::Relaxed);
        },
    );
}

fn counter_inc_threads(c: &mut Criterion) {
    let counts = thread_counts();
    let mut g = c.benchmark_group("counter_inc_threads");
    g.throughput(Throughput::Elements(1));

    let shared = CachePadded::new(AtomicU64::new(0));
    let private = private_atomics(counts);

    let reg = telemeter::Registry::new();
    let t = reg.counter("c_total", "help").expect("valid counter");

    let preg = prometheus::Registry::new();
    let p = prometheus::IntCounter::new("c_total", "help").expect("valid counter");
    preg.register(Box::new(p.clone())).expect("registered");

    let mut creg = prometheus_client::registry::Registry::default();
    let pc = prometheus_client::metrics::counter::Counter::<u64>::default();
    creg.register("c", "help", pc.clone());

    let rec = metrics_recorder();
    let m = rec.register_counter(&metrics::Key::from_name("c_total"), &METADATA);

    let ms = measured::Counter::new();

    for &n in counts {
        floors(&mut g, n, &shared, &private);
        run(&mut g, "telemeter", n, |_| black_box(&t).inc());
        run(&mut g, "prometheus", n, |_| black_box(&p).inc());
        run(&mut g, "prometheus-client", n, |_| {
            black_box(&pc).inc();
        });
        run(&mut g, "metrics", n, |_| black_box(&m).increment(1));
        run(&mut g, "measured", n, |_| black_box(&ms).inc());
    }

    g.finish();
    // Keep the registries alive until the group is done.
    drop((reg, preg, creg, rec));
}

fn histogram_observe_threads(c: &mut Criterion) {
    let counts = thread_counts();
    let mut g = c.benchmark_group("histogram_observe_threads");
    g.throughput(Throughput::Elements(1));

    let shared = CachePadded::new(AtomicU64::new(0));
    let private = private_atomics(counts);

    let reg = telemeter::Registry::new();
    let t = telemeter_histogram(&reg);
    let p = prometheus_histogram();
    let pc = prometheus_client_histogram();
    // metrics-exporter-prometheus buffers raw samples until upkeep or a
    // render drains them; drain after each sample (not timed, which favours
    // metrics) so the buffer does not grow without bound.
    let rec = metrics_recorder();
    let handle = rec.handle();
    let m = rec.register_histogram(&metrics::Key::from_name("h"), &METADATA);
    let ms = measured_histogram();

    for &n in counts {
        floors(&mut g, n, &shared, &private);
        run(&mut g, "telemeter", n, |i| black_box(&t).observe(value(i)));
        run(&mut g, "prometheus", n, |i| black_box(&p).observe(value(i)));
        run(&mut g, "prometheus-client", n, |i| {
            black_box(&pc).observe(value(i))
        });
        g.bench_function(BenchmarkId::new("metrics", n), |b| {
            b.iter_custom(|iters| {
                let e = run_n(n, iters, &|i| black_box(&m).record(value(i)));
                handle.run_upkeep(); // drain the sample buffer, untimed
                e
            })
        });
        run(&mut g, "measured", n, |i| black_box(&ms).observe(value(i)));
    }

    g.finish();
    drop((reg, rec));
}

fn labelled_lookup_inc_threads(c: &mut Criterion) {
    let counts = thread_counts();
    let mut g = c.benchmark_group("labelled_lookup_inc_threads");
    g.throughput(Throughput::Elements(1));
    let sets = label_sets();
    // Thread `k`'s `i`-th label set. `i % 100` costs every participant the
    // same (a multiply, not a division).
    let set = |i: u64| sets[(i as usize).wrapping_add(13 * worker_index()) % sets.len()];

    let reg = telemeter::Registry::new();
    let t = reg
        .counter_family(telemeter::Opts::new("l_total", "help").labels(&["method", "code"]))
        .expect("valid family");
    let p = prometheus::IntCounterVec::new(
        prometheus::Opts::new("l_total", "help"),
        &["method", "code"],
    )
    .expect("valid vec");
    let pc = prometheus_client::metrics::family::Family::<
        PcLabels,
        prometheus_client::metrics::counter::Counter,
    >::default();
    let rec = metrics_recorder();
    let key = metrics_lookup_key;
    let ms = measured::CounterVec::with_label_set(MeasuredLookupSet {
        method: StrSet::new(&METHODS),
        code: StrSet::new(&CODES),
    });
    for (m, c) in &sets {
        t.with_label_values(&[m, c]).expect("series").inc();
        p.with_label_values(&[m, c]).inc();
        pc.get_or_create(&PcLabels { method: m, code: c }).inc();
        rec.register_counter(&key(m, c), &METADATA).increment(1);
        ms.inc(MeasuredLookup { method: m, code: c });
    }

    for &n in counts {
        run(&mut g, "telemeter", n, |i| {
            let (m, c) = set(i);
            black_box(&t)
                .with_label_values(&[black_box(m), black_box(c)])
                .expect("series")
                .inc()
        });
        run(&mut g, "telemeter_with", n, |i| {
            let (m, c) = set(i);
            black_box(&t)
                .with(&[black_box(m), black_box(c)], |c| c.inc())
                .expect("series")
        });
        run(&mut g, "prometheus", n, |i| {
            let (m, c) = set(i);
            black_box(&p)
                .with_label_values(&[black_box(m), black_box(c)])
                .inc()
        });
        run(&mut g, "prometheus-client", n, |i| {
            let (m, c) = set(i);
            black_box(&pc)
                .get_or_create(&PcLabels {
                    method: black_box(m),
                    code: black_box(c),
                })
                .inc();
        });
        run(&mut g, "metrics", n, |i| {
            let (m, c) = set(i);
            black_box(&rec)
                .register_counter(&key(black_box(m), black_box(c)), &METADATA)
                .increment(1)
        });
        run(&mut g, "measured", n, |i| {
            let (m, c) = set(i);
            black_box(&ms).inc(MeasuredLookup {
                method: black_box(m),
                code: black_box(c),
            })
        });
    }

    g.finish();
    drop((reg, rec));
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(40)
}

criterion_group! {
    name = scaling;
    config = config();
    targets = counter_inc_threads, histogram_observe_threads, labelled_lookup_inc_threads
}
criterion_main!(scaling);
