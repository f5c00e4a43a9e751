//! Hot-path benches: telemeter against every peer crate and against the
//! physical floors, each group in one criterion run so that the ratios in
//! `docs/BENCHMARKS.md` come from one process on one machine state.
//!
//! Groups (per-operation time, `Throughput::Elements(1)`):
//!
//! * `counter_inc` — an unlabelled counter `inc` through a kept handle;
//!   floors: a thread-local `Cell<u64>` add and an uncontended relaxed
//!   `fetch_add` on a private cache line.
//! * `histogram_observe` — 11 buckets (the Prometheus default), values
//!   cycled over every bucket; floor: a plain, non-atomic histogram.
//! * `labelled_lookup_inc` — 2 labels, 100 existing series, label values
//!   looked up by string on every call, then `inc`; floor: a one-thread
//!   table of plain counters keyed by the two values (`LookupFloor`).
//! * `typed_lookup_inc` — a label set of two `fixed_label!` enums (4 × 5
//!   values) resolved through `Family::typed`, cycled over all 20
//!   combinations, then `inc`; against an unlabelled `inc` in the same
//!   group (issue 18's bar: at most 2x), 20 unlabelled counters cycled the
//!   same way (what recording into 20 series costs with no lookup), and
//!   `Family::by_label` on one enum.
//! * `keyed_lookup_inc` — a label set of one string field (100 values
//!   cycled) and one enum through `Family::keyed`, then `inc`, against
//!   `Family::with` on the same 100 label sets (issue 18's bar: at most
//!   `with`'s time).
//! * `counter_inc_2threads`, `histogram_observe_2threads` — two threads,
//!   pinned one per CPU and released by a spin barrier, hammer ONE shared
//!   handle; the figure is wall time / iterations per thread.
//!
//! Every peer goes through its fastest documented path: `prometheus`
//! `IntCounter`/`Histogram` handles (not the `local` thread-buffered ones,
//! which are not its default), `prometheus-client` `Counter<u64>` /
//! `Histogram` / `Family::get_or_create`, `metrics` handles registered on a
//! `metrics-exporter-prometheus` recorder, `measured` `Counter` /
//! `Histogram<11>` / `CounterVec` with a dense fixed label set.
//!
//! Run: `cargo bench --bench hot_path -- --warm-up-time 1 --measurement-time 2`

// `criterion_group!` generates undocumented `pub fn`s.
#![allow(missing_docs)]

mod common;

use std::cell::Cell;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use crossbeam_utils::CachePadded;
use metrics::Recorder as _;

use common::peers::{
    cell_add, measured_histogram, metrics_lookup_key, metrics_recorder,
    prometheus_client_histogram, prometheus_histogram, telemeter_histogram, value, MeasuredLookup,
    MeasuredLookupSet, PcLabels, METADATA,
};
use common::{label_sets, run_pair, StrSet, CODES, DEFAULT_BUCKETS, METHODS};

/// A plain, unsynchronised histogram owned by one thread: the same bucket
/// search as telemeter's `observe` (linear scan of 11 bounds read through a
/// pointer) plus two non-atomic adds. Not a peer: a reference for how the
/// machine scales this kind of work to 2 threads when nothing is shared.
struct PlainHistogram {
    counts: [Cell<u64>; 12],
    sum: Cell<f64>,
}

std::thread_local! {
    static PLAIN: PlainHistogram = const {
        PlainHistogram {
            counts: [const { Cell::new(0) }; 12],
            sum: Cell::new(0.0),
        }
    };
}

#[inline(always)]
fn plain_observe(bounds: &[f64], v: f64) {
    let i = bounds.iter().position(|b| v <= *b).unwrap_or(bounds.len());
    PLAIN.with(|h| {
        h.counts[i].set(h.counts[i].get() + 1);
        h.sum.set(h.sum.get() + v);
    })
}

/// The lookup floor: a table of counters keyed by two short label values,
/// owned by one thread, doing only what every lookup by string values must
/// do: read every byte of both values, pick a slot from them, check that
/// the slot holds exactly these values, and add. 128 sets of 4 ways; each
/// value (at most 8 bytes, as every value of this bench is) is packed into
/// one word by the cache's own reading (`telemeter::bench_internals::value_lane`), the two
/// lengths into a third, two multiplies pick the set, and
/// a set's four keys share two cache lines. It is not a peer: it has no
/// thread safety, no family identity, no removal, no eviction, no fallback
/// for long values (building it panics instead). A reference for what the
/// cheapest cached lookup costs in this harness on this machine, so that the
/// `labelled_lookup_inc` bar can be read against it as the `Cell` floor is
/// read against `counter_inc`'s.
struct LookupFloor {
    sets: Box<[FloorSet]>,
}

#[derive(Default)]
#[repr(align(128))]
struct FloorSet {
    keys: [[u64; 3]; 4],
    counts: [Cell<u64>; 4],
}

impl LookupFloor {
    const SETS: usize = 128;

    /// The key of `(m, c)` and its set.
    #[inline(always)]
    fn key(m: &str, c: &str) -> ([u64; 3], usize) {
        assert!(
            m.len() <= 8 && c.len() <= 8,
            "the floor keeps short values only"
        );
        let key = [
            telemeter::bench_internals::value_lane(m.as_bytes()),
            telemeter::bench_internals::value_lane(c.as_bytes()),
            (m.len() | c.len() << 8) as u64,
        ];
        let h = (key[0] ^ 0x243f_6a88_85a3_08d3).wrapping_mul(0x9e37_79b9_7f4a_7c15)
            ^ (key[1] ^ key[2] << 40).wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
        (key, (h >> 57) as usize)
    }

    fn new(label_sets: &[(&str, &str)]) -> LookupFloor {
        let mut sets: Box<[FloorSet]> = (0..Self::SETS).map(|_| FloorSet::default()).collect();
        for (m, c) in label_sets {
            let (key, set) = Self::key(m, c);
            let w = (0..4)
                .find(|&w| sets[set].keys[w] == [0; 3])
                .expect("a free way: the floor has no eviction");
            sets[set].keys[w] = key;
        }
        LookupFloor { sets }
    }

    /// How often `(m, c)` was counted.
    fn count(&self, m: &str, c: &str) -> u64 {
        let (key, set) = Self::key(m, c);
        let s = &self.sets[set];
        s.keys
            .iter()
            .position(|k| *k == key)
            .map_or(0, |w| s.counts[w].get())
    }

    #[inline(always)]
    fn inc(&self, m: &str, c: &str) {
        let (key, set) = Self::key(m, c);
        let s = &self.sets[set];
        let w = s
            .keys
            .iter()
            .position(|k| *k == key)
            .expect("every looked-up set is in the table");
        s.counts[w].set(s.counts[w].get() + 1);
    }
}

// ---------------------------------------------------------------------------
// 1 thread

fn counter_inc(c: &mut Criterion) {
    let mut g = c.benchmark_group("counter_inc");
    g.throughput(Throughput::Elements(1));

    g.bench_function("floor/cell_add", |b| b.iter(cell_add));

    let private = CachePadded::new(AtomicU64::new(0));
    g.bench_function("floor/atomic_fetch_add_private", |b| {
        // The result is unused, as in every peer's `inc` (`lock add`, not
        // `lock xadd`).
        b.iter(|| {
            black_box(&*private).fetch_add(1, Ordering::Relaxed);
        })
    });

    let reg = telemeter::Registry::new();
    let t = reg.counter("c_total", "help").expect("valid counter");
    g.bench_function("telemeter", |b| b.iter(|| black_box(&t).inc()));

    let preg = prometheus::Registry::new();
    let p = prometheus::IntCounter::new("c_total", "help").expect("valid counter");
    preg.register(Box::new(p.clone())).expect("registered");
    g.bench_function("prometheus", |b| b.iter(|| black_box(&p).inc()));

    let mut creg = prometheus_client::registry::Registry::default();
    let pc = prometheus_client::metrics::counter::Counter::<u64>::default();
    creg.register("c", "help", pc.clone());
    g.bench_function("prometheus-client", |b| b.iter(|| black_box(&pc).inc()));

    let rec = metrics_recorder();
    let m = rec.register_counter(&metrics::Key::from_name("c_total"), &METADATA);
    g.bench_function("metrics", |b| b.iter(|| black_box(&m).increment(1)));

    let ms = measured::Counter::new();
    g.bench_function("measured", |b| b.iter(|| black_box(&ms).inc()));

    g.finish();
    // Keep the registries alive until the group is done.
    drop((reg, preg, creg, rec));
}

fn histogram_observe(c: &mut Criterion) {
    let mut g = c.benchmark_group("histogram_observe");
    g.throughput(Throughput::Elements(1));

    let bounds = DEFAULT_BUCKETS.to_vec();
    g.bench_function("floor/plain_histogram", |b| {
        let mut i = 0u64;
        b.iter(|| {
            i = i.wrapping_add(1);
            plain_observe(black_box(&bounds), value(i))
        })
    });

    let reg = telemeter::Registry::new();
    let t = telemeter_histogram(&reg);
    g.bench_function("telemeter", |b| {
        let mut i = 0u64;
        b.iter(|| {
            i = i.wrapping_add(1);
            black_box(&t).observe(value(i))
        })
    });

    let p = prometheus_histogram();
    g.bench_function("prometheus", |b| {
        let mut i = 0u64;
        b.iter(|| {
            i = i.wrapping_add(1);
            black_box(&p).observe(value(i))
        })
    });

    let pc = prometheus_client_histogram();
    g.bench_function("prometheus-client", |b| {
        let mut i = 0u64;
        b.iter(|| {
            i = i.wrapping_add(1);
            black_box(&pc).observe(value(i))
        })
    });

    // metrics-exporter-prometheus buffers raw samples until upkeep or a
    // render drains them; drain after each timed batch (not timed, which
    // favours metrics) so the buffer does not grow without bound.
    let rec = metrics_recorder();
    let handle = rec.handle();
    let m = rec.register_histogram(&metrics::Key::from_name("h"), &METADATA);
    g.bench_function("metrics", |b| {
        b.iter_custom(|iters| {
            let t0 = Instant::now();
            for i in 0..iters {
                black_box(&m).record(value(i));
            }
            let e = t0.elapsed();
            handle.run_upkeep();
            e
        })
    });

    let ms = measured_histogram();
    g.bench_function("measured", |b| {
        let mut i = 0u64;
        b.iter(|| {
            i = i.wrapping_add(1);
            black_box(&ms).observe(value(i))
        })
    });

    g.finish();
    drop(reg);
}

fn labelled_lookup_inc(c: &mut Criterion) {
    let mut g = c.benchmark_group("labelled_lookup_inc");
    g.throughput(Throughput::Elements(1));
    let sets = label_sets();
    let n = sets.len() as u64;

    let floor = LookupFloor::new(&sets);
    g.bench_function("floor/one_thread_table", |b| {
        let mut i = 0u64;
        b.iter(|| {
            let (m, c) = sets[i as usize];
            i += 1;
            if i == n {
                i = 0;
            }
            black_box(&floor).inc(black_box(m), black_box(c))
        })
    });
    // The floor counts each label set in a slot of its own: one more
    // lookup of every set adds exactly 1 to each. (Not "every count is
    // above 0": under `cargo test --benches` the loop runs once.)
    let before: Vec<u64> = sets.iter().map(|(m, c)| floor.count(m, c)).collect();
    for (m, c) in &sets {
        floor.inc(m, c);
    }
    for ((m, c), b) in sets.iter().zip(before) {
        assert_eq!(floor.count(m, c), b + 1, "the floor counts {m},{c} apart");
    }

    let reg = telemeter::Registry::new();
    let t = reg
        .counter_family(telemeter::Opts::new("l_total", "help").labels(&["method", "code"]))
        .expect("valid family");
    for (m, c) in &sets {
        t.with_label_values(&[m, c]).expect("series").inc();
    }
    g.bench_function("telemeter", |b| {
        let mut i = 0u64;
        b.iter(|| {
            let (m, c) = sets[i as usize];
            i += 1;
            if i == n {
                i = 0;
            }
            black_box(&t)
                .with_label_values(&[black_box(m), black_box(c)])
                .expect("series")
                .inc()
        })
    });
    // The borrowed path: no handle is created, so no reference count moves.
    g.bench_function("telemeter_with", |b| {
        let mut i = 0u64;
        b.iter(|| {
            let (m, c) = sets[i as usize];
            i += 1;
            if i == n {
                i = 0;
            }
            black_box(&t)
                .with(&[black_box(m), black_box(c)], |c| c.inc())
                .expect("series")
        })
    });

    let p = prometheus::IntCounterVec::new(
        prometheus::Opts::new("l_total", "help"),
        &["method", "code"],
    )
    .expect("valid vec");
    for (m, c) in &sets {
        p.with_label_values(&[m, c]).inc();
    }
    g.bench_function("prometheus", |b| {
        let mut i = 0u64;
        b.iter(|| {
            let (m, c) = sets[i as usize];
            i += 1;
            if i == n {
                i = 0;
            }
            black_box(&p)
                .with_label_values(&[black_box(m), black_box(c)])
                .inc()
        })
    });

    let pc = prometheus_client::metrics::family::Family::<
        PcLabels,
        prometheus_client::metrics::counter::Counter,
    >::default();
    for (m, c) in &sets {
        pc.get_or_create(&PcLabels { method: m, code: c }).inc();
    }
    g.bench_function("prometheus-client", |b| {
        let mut i = 0u64;
        b.iter(|| {
            let (m, c) = sets[i as usize];
            i += 1;
            if i == n {
                i = 0;
            }
            black_box(&pc)
                .get_or_create(&PcLabels {
                    method: black_box(m),
                    code: black_box(c),
                })
                .inc()
        })
    });

    let rec = metrics_recorder();
    let key = metrics_lookup_key;
    for (m, c) in &sets {
        rec.register_counter(&key(m, c), &METADATA).increment(1);
    }
    g.bench_function("metrics", |b| {
        let mut i = 0u64;
        b.iter(|| {
            let (m, c) = sets[i as usize];
            i += 1;
            if i == n {
                i = 0;
            }
            black_box(&rec)
                .register_counter(&key(black_box(m), black_box(c)), &METADATA)
                .increment(1)
        })
    });

    let ms = measured::CounterVec::with_label_set(MeasuredLookupSet {
        method: StrSet::new(&METHODS),
        code: StrSet::new(&CODES),
    });
    for (m, c) in &sets {
        ms.inc(MeasuredLookup { method: m, code: c });
    }
    g.bench_function("measured", |b| {
        let mut i = 0u64;
        b.iter(|| {
            let (m, c) = sets[i as usize];
            i += 1;
            if i == n {
                i = 0;
            }
            black_box(&ms).inc(MeasuredLookup {
                method: black_box(m),
                code: black_box(c),
            })
        })
    });

    g.finish();
    drop(reg);
}

// ---------------------------------------------------------------------------
// 2 threads on one handle

fn pair<F: Fn(u64) + Sync>(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, op: F) {
    g.bench_function(name, |b| b.iter_custom(|iters| run_pair(iters, &op)));
}

/// Issue 17: recording with an exemplar (a 32-character trace id: the
/// label check, the cell's uncontended mutex, the record, the clock)
/// beside the same recording without one, in one group.
fn exemplar_record(c: &mut Criterion) {
    let mut g = c.benchmark_group("exemplar_record");
    g.throughput(Throughput::Elements(1));
    let reg = telemeter::Registry::new();
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let t = reg.counter("c_total", "help").expect("valid counter");
    g.bench_function("telemeter/inc", |b| b.iter(|| black_box(&t).inc()));
    g.bench_function("telemeter/inc_with_exemplar", |b| {
        b.iter(|| black_box(&t).inc_with_exemplar(&[("trace_id", black_box(trace))]))
    });
    let h = telemeter_histogram(&reg);
    g.bench_function("telemeter/observe", |b| {
        let mut i = 0u64;
        b.iter(|| {
            i = i.wrapping_add(1);
            black_box(&h).observe(value(i))
        })
    });
    g.bench_function("telemeter/observe_with_exemplar", |b| {
        let mut i = 0u64;
        b.iter(|| {
            i = i.wrapping_add(1);
            black_box(&h).observe_with_exemplar(value(i), &[("trace_id", black_box(trace))])
        })
    });
    g.finish();
}

/// Issue 17: a native histogram's `observe` (schema 3, the default range)
/// against the classic 11-bucket one, on the same values.
fn native_observe(c: &mut Criterion) {
    let mut g = c.benchmark_group("native_observe");
    g.throughput(Throughput::Elements(1));
    let reg = telemeter::Registry::new();
    let classic = telemeter_histogram(&reg);
    let native = reg
        .native_histogram("n", "help", telemeter::NativeBuckets::default())
        .expect("valid native histogram");
    g.bench_function("telemeter/classic_11_buckets", |b| {
        let mut i = 0u64;
        b.iter(|| {
            i = i.wrapping_add(1);
            black_box(&classic).observe(value(i))
        })
    });
    g.bench_function("telemeter/native_schema_3", |b| {
        let mut i = 0u64;
        b.iter(|| {
            i = i.wrapping_add(1);
            black_box(&native).observe(value(i))
        })
    });
    g.finish();
}

/// [`native_observe`] with 2 threads on one handle of each.
fn native_observe_2threads(c: &mut Criterion) {
    let mut g = c.benchmark_group("native_observe_2threads");
    g.throughput(Throughput::Elements(1));
    let reg = telemeter::Registry::new();
    let classic = telemeter_histogram(&reg);
    let native = reg
        .native_histogram("n", "help", telemeter::NativeBuckets::default())
        .expect("valid native histogram");
    pair(&mut g, "telemeter/classic_11_buckets", |i| {
        black_box(&classic).observe(value(i))
    });
    pair(&mut g, "telemeter/native_schema_3", |i| {
        black_box(&native).observe(value(i))
    });
    g.finish();
}

fn counter_inc_2threads(c: &mut Criterion) {
    common::report_pinning();
    let mut g = c.benchmark_group("counter_inc_2threads");
    g.throughput(Throughput::Elements(1));

    // Reference for what the machine does to work that shares nothing:
    // each thread adds to its own thread-local `Cell` (compare with the
    // 1-thread `counter_inc/floor/cell_add`).
    pair(&mut g, "floor/cell_add_per_thread", |_| cell_add());

    let shared = CachePadded::new(AtomicU64::new(0));
    pair(&mut g, "floor/atomic_fetch_add_shared", |_| {
        black_box(&*shared).fetch_add(1, Ordering::Relaxed);
    });

    // Reference for the machine's own 2-thread scaling: each thread adds to
    // its own padded atomic (no sharing at all).
    let private = [
        CachePadded::new(AtomicU64::new(0)),
        CachePadded::new(AtomicU64::new(0)),
    ];
    std::thread_local! {
        static SLOT: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    let next = AtomicU64::new(0);
    pair(&mut g, "floor/atomic_fetch_add_private_per_thread", |_| {
        let k = SLOT.with(|s| {
            if s.get() == usize::MAX {
                s.set((next.fetch_add(1, Ordering::Relaxed) & 1) as usize);
            }
            s.get()
        });
        black_box(&*private[k]).fetch_add(1, Ordering::Relaxed);
    });

    let reg = telemeter::Registry::new();
    let t = reg.counter("c_total", "help").expect("valid counter");
    pair(&mut g, "telemeter", |_| black_box(&t).inc());

    let p = prometheus::IntCounter::new("c_total", "help").expect("valid counter");
    pair(&mut g, "prometheus", |_| black_box(&p).inc());

    let pc = prometheus_client::metrics::counter::Counter::<u64>::default();
    pair(&mut g, "prometheus-client", |_| {
        black_box(&pc).inc();
    });

    let rec = metrics_recorder();
    let m = rec.register_counter(&metrics::Key::from_name("c_total"), &METADATA);
    pair(&mut g, "metrics", |_| black_box(&m).increment(1));

    let ms = measured::Counter::new();
    pair(&mut g, "measured", |_| black_box(&ms).inc());

    g.finish();
    drop(reg);
}

fn histogram_observe_2threads(c: &mut Criterion) {
    common::report_pinning();
    let mut g = c.benchmark_group("histogram_observe_2threads");
    g.throughput(Throughput::Elements(1));

    pair(&mut g, "floor/cell_add_per_thread", |_| cell_add());

    let bounds = DEFAULT_BUCKETS.to_vec();
    pair(&mut g, "floor/plain_histogram_per_thread", |i| {
        plain_observe(black_box(&bounds), value(i))
    });

    let shared = CachePadded::new(AtomicU64::new(0));
    pair(&mut g, "floor/atomic_fetch_add_shared", |_| {
        black_box(&*shared).fetch_add(1, Ordering::Relaxed);
    });

    let reg = telemeter::Registry::new();
    let t = telemeter_histogram(&reg);
    pair(&mut g, "telemeter", |i| black_box(&t).observe(value(i)));

    let p = prometheus_histogram();
    pair(&mut g, "prometheus", |i| black_box(&p).observe(value(i)));

    let pc = prometheus_client_histogram();
    pair(&mut g, "prometheus-client", |i| {
        black_box(&pc).observe(value(i))
    });

    let rec = metrics_recorder();
    let handle = rec.handle();
    let m = rec.register_histogram(&metrics::Key::from_name("h"), &METADATA);
    g.bench_function("metrics", |b| {
        b.iter_custom(|iters| {
            let e = run_pair(iters, &|i| black_box(&m).record(value(i)));
            handle.run_upkeep(); // drain the sample buffer, untimed
            e
        })
    });

    let ms = measured_histogram();
    pair(&mut g, "measured", |i| black_box(&ms).observe(value(i)));

    g.finish();
    drop(reg);
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(40)
}

/// `with_label_values` + `observe` on a histogram family (2 labels, the
/// same 100 existing series, cycled): the histogram side of
/// `labelled_lookup_inc`, where a handle also carries the bucket bounds.
/// No bar; kept to telemeter and the two peers with a labelled histogram
/// lookup by string values.
fn labelled_lookup_observe(c: &mut Criterion) {
    /// Times `op` on one label set per iteration, cycling through `sets`.
    fn cycle(
        g: &mut BenchmarkGroup<'_, WallTime>,
        name: &str,
        sets: &[(&'static str, &'static str)],
        op: impl Fn(&'static str, &'static str, f64),
    ) {
        g.bench_function(name, |b| {
            let mut i = 0usize;
            b.iter(|| {
                let (m, c) = sets[i];
                i = if i + 1 == sets.len() { 0 } else { i + 1 };
                op(black_box(m), black_box(c), value(i as u64))
            })
        });
    }

    let mut g = c.benchmark_group("labelled_lookup_observe");
    g.throughput(Throughput::Elements(1));
    let sets = label_sets();
    let reg = telemeter::Registry::new();
    let t = reg
        .histogram_family(
            telemeter::Opts::new("l_seconds", "help").labels(&["method", "code"]),
            telemeter::Buckets::default_prometheus(),
        )
        .expect("valid family");
    for (m, c) in &sets {
        t.with_label_values(&[m, c]).expect("series").observe(0.1);
    }
    cycle(&mut g, "telemeter", &sets, |m, c, v| {
        black_box(&t)
            .with_label_values(&[m, c])
            .expect("series")
            .observe(v)
    });
    cycle(&mut g, "telemeter_with", &sets, |m, c, v| {
        black_box(&t)
            .with(&[m, c], |h| h.observe(v))
            .expect("series")
    });

    let p = prometheus::HistogramVec::new(
        prometheus::HistogramOpts::new("l_seconds", "help"),
        &["method", "code"],
    )
    .expect("valid vec");
    for (m, c) in &sets {
        p.with_label_values(&[m, c]).observe(0.1);
    }
    cycle(&mut g, "prometheus", &sets, |m, c, v| {
        black_box(&p).with_label_values(&[m, c]).observe(v)
    });

    type PcHistogram = prometheus_client::metrics::histogram::Histogram;
    let pc = prometheus_client::metrics::family::Family::<PcLabels, PcHistogram, _>::new_with_constructor(
        prometheus_client_histogram as fn() -> PcHistogram,
    );
    for (m, c) in &sets {
        pc.get_or_create(&PcLabels { method: m, code: c })
            .observe(0.1);
    }
    cycle(&mut g, "prometheus-client", &sets, |m, c, v| {
        black_box(&pc)
            .get_or_create(&PcLabels { method: m, code: c })
            .observe(v)
    });

    g.finish();
}

telemeter::fixed_label! {
    /// The bench's first label.
    pub enum BenchMethod: "method" { Get = "GET", Post = "POST", Put = "PUT", Delete = "DELETE" }
}
telemeter::fixed_label! {
    /// The bench's second label.
    pub enum BenchClass: "class" { A = "1xx", B = "2xx", C = "3xx", D = "4xx", E = "5xx" }
}
telemeter::label_set! {
    /// The bench's label set: 20 combinations.
    pub struct BenchLabels { method: BenchMethod, class: BenchClass }
}

/// A typed (`Family::typed`) lookup of a two-enum label set, then `inc`,
/// against an unlabelled `inc` in the same group.
fn typed_lookup_inc(c: &mut Criterion) {
    let mut g = c.benchmark_group("typed_lookup_inc");
    g.throughput(Throughput::Elements(1));
    let reg = telemeter::Registry::new();
    let plain = reg.counter("plain_total", "help").expect("valid counter");
    g.bench_function("floor/telemeter_unlabelled_inc", |b| {
        b.iter(|| black_box(&plain).inc())
    });
    let fam = reg
        .counter_family(telemeter::Opts::new("typed_total", "help").labels(BenchLabels::NAMES))
        .expect("valid family");
    let typed = fam.typed::<BenchLabels>().expect("20 combinations");
    let sets: Vec<BenchLabels> = BenchMethod::ALL
        .iter()
        .flat_map(|&method| {
            BenchClass::ALL
                .iter()
                .map(move |&class| BenchLabels { method, class })
        })
        .collect();
    // The cycling alone, with no lookup and no record: what the typed
    // figure spends on the bench's own choice of label set.
    g.bench_function("floor/cycle_label_sets", |b| {
        let mut i = 0;
        b.iter(|| {
            i += 1;
            if i == sets.len() {
                i = 0;
            }
            black_box(sets[i]);
        })
    });
    // 20 unlabelled counters cycled the same way: the typed figure's
    // records land on 20 series, and this is what that costs with no
    // lookup at all (the table index is all the typed lookup adds).
    let plains: Vec<telemeter::Counter> = (0..sets.len())
        .map(|i| {
            reg.counter(&format!("plain_{i}_total"), "help")
                .expect("valid counter")
        })
        .collect();
    g.bench_function("floor/20_unlabelled_cycled", |b| {
        let mut i = 0;
        b.iter(|| {
            i += 1;
            if i == plains.len() {
                i = 0;
            }
            black_box(&plains[i]).inc();
        })
    });
    // The next combination by a compare, not `%` (a division would cost
    // more than the lookup).
    g.bench_function("telemeter/typed", |b| {
        let mut i = 0;
        b.iter(|| {
            i += 1;
            if i == sets.len() {
                i = 0;
            }
            black_box(&typed).get(black_box(sets[i])).inc();
        })
    });
    // The same label set every call: the lookup without the change of
    // series (tells the table's cost from recording into 20 series).
    g.bench_function("telemeter/typed_same_set", |b| {
        b.iter(|| black_box(&typed).get(black_box(sets[7])).inc())
    });
    let by_class = fam
        .by_label::<BenchClass>(&["GET"])
        .expect("one enum of the set");
    g.bench_function("telemeter/by_label", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % BenchClass::ALL.len();
            black_box(&by_class)
                .get(black_box(BenchClass::ALL[i]))
                .inc();
        })
    });
    g.finish();
}

telemeter::label_set! {
    /// One string field and one enum: `Family::keyed`'s bench set.
    pub struct BenchRoute<'a> { route: &'a str as "route", method: BenchMethod }
}

/// A label set with one string field over 100 values (and one enum)
/// through `Family::keyed`, then `inc`, against `Family::with` on the same
/// family with the same 100 label sets (issue 18's bar: at most `with`'s
/// time).
fn keyed_lookup_inc(c: &mut Criterion) {
    let mut g = c.benchmark_group("keyed_lookup_inc");
    g.throughput(Throughput::Elements(1));
    let reg = telemeter::Registry::new();
    let fam = reg
        .counter_family(telemeter::Opts::new("keyed_total", "help").labels(BenchRoute::NAMES))
        .expect("valid family");
    let keyed = fam
        .keyed::<BenchRoute<'_>>()
        .expect("4 combinations per row");
    let routes: Vec<String> = (0..100).map(|i| format!("/api/v1/items/{i}")).collect();
    g.bench_function("telemeter/with", |b| {
        let mut i = 0;
        b.iter(|| {
            i += 1;
            if i == routes.len() {
                i = 0;
            }
            black_box(&fam)
                .with(&[black_box(&routes[i]), "GET"], |c| c.inc())
                .expect("two values")
        })
    });
    g.bench_function("telemeter/keyed", |b| {
        let mut i = 0;
        b.iter(|| {
            i += 1;
            if i == routes.len() {
                i = 0;
            }
            let route = black_box(&routes[i]);
            black_box(&keyed).with(
                BenchRoute {
                    route,
                    method: BenchMethod::Get,
                },
                |c| c.inc(),
            )
        })
    });
    g.finish();
}

criterion_group! {
    name = single;
    config = config();
    targets = counter_inc, histogram_observe, labelled_lookup_inc, labelled_lookup_observe,
        typed_lookup_inc, keyed_lookup_inc, exemplar_record, native_observe
}
criterion_group! {
    name = contended;
    config = config().sample_size(30);
    targets = counter_inc_2threads, histogram_observe_2threads, native_observe_2threads
}
criterion_main!(single, contended);
