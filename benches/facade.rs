//! The `metrics` facade: the same macro calls recorded by telemeter's
//! backend (`telemeter::facade::Facade`) and by metrics-exporter-prometheus
//! 0.18's `PrometheusRecorder`, each installed as the thread's local
//! recorder, in one run (issue 18's bars: each macro form at most 1/5 of
//! the exporter's time; a kept handle within 2x of telemeter's own
//! `Counter::inc`).
//!
//! * `facade_counter_static` — `counter!("name").increment(1)`: a static
//!   name, no labels (the key is a `static`), one registration per call.
//! * `facade_counter_labelled` — `counter!("name", "method" => m, "code" =>
//!   c).increment(1)` over the 100 label sets of `labelled_lookup_inc`
//!   (runtime values: the macro builds the key, with its label vector, on
//!   every call, for both backends).
//! * `facade_kept_handle` — a handle from `counter!` kept, `.increment(1)`;
//!   floors: telemeter's `Counter::inc` on a kept handle (the bar's
//!   reference), and a `metrics::Counter` whose handle adds to a
//!   thread-local `Cell` (what the facade's handle costs before any
//!   backend records).
//!
//! Run: `cargo bench --bench facade -- --warm-up-time 1 --measurement-time 2`

// `criterion_group!` generates undocumented `pub fn`s.
#![allow(missing_docs)]

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use metrics::counter;

use common::label_sets;
use common::peers::metrics_recorder;

fn telemeter_facade() -> telemeter::facade::Facade {
    let reg = telemeter::Registry::new();
    telemeter::facade::Facade::builder(&reg)
        .build()
        .expect("a fresh registry takes a facade")
}

/// Runs `f` with `recorder` as this thread's `metrics` recorder.
fn with<R: metrics::Recorder>(recorder: &R, f: impl FnOnce()) {
    let _guard = metrics::set_default_local_recorder(recorder);
    f();
}

fn facade_counter_static(c: &mut Criterion) {
    let mut g = c.benchmark_group("facade_counter_static");
    g.throughput(Throughput::Elements(1));
    let ours = telemeter_facade();
    with(&ours, || {
        g.bench_function("telemeter", |b| {
            b.iter(|| counter!("requests_total").increment(1))
        });
    });
    let theirs = metrics_recorder();
    with(&theirs, || {
        g.bench_function("metrics-exporter-prometheus", |b| {
            b.iter(|| counter!("requests_total").increment(1))
        });
    });
    // The macro and the recorder call alone: a recorder that hands out a
    // handle that does nothing (what any backend pays before its lookup).
    with(&metrics::NoopRecorder, || {
        g.bench_function("floor/noop_recorder", |b| {
            b.iter(|| counter!("requests_total").increment(1))
        });
    });
    g.finish();
}

fn facade_counter_labelled(c: &mut Criterion) {
    let mut g = c.benchmark_group("facade_counter_labelled");
    g.throughput(Throughput::Elements(1));
    let sets = label_sets();
    let run = |b: &mut criterion::Bencher<'_>| {
        let mut i = 0;
        b.iter(|| {
            i += 1;
            if i == sets.len() {
                i = 0;
            }
            let (m, code) = black_box(sets[i]);
            counter!("requests_total", "method" => m, "code" => code).increment(1);
        })
    };
    let ours = telemeter_facade();
    with(&ours, || {
        g.bench_function("telemeter", run);
    });
    let theirs = metrics_recorder();
    with(&theirs, || {
        g.bench_function("metrics-exporter-prometheus", run);
    });
    // The macro with runtime label values builds its key (a label vector,
    // the key's hash) before any backend sees it.
    with(&metrics::NoopRecorder, || {
        g.bench_function("floor/noop_recorder", run);
    });
    g.finish();
}

fn facade_kept_handle(c: &mut Criterion) {
    let mut g = c.benchmark_group("facade_kept_handle");
    g.throughput(Throughput::Elements(1));
    let reg = telemeter::Registry::new();
    let plain = reg.counter("plain_total", "help").expect("valid counter");
    g.bench_function("floor/telemeter_counter_inc", |b| {
        b.iter(|| black_box(&plain).inc())
    });
    // The facade's handle itself: `metrics::Counter::increment` (a call
    // into `metrics`) and its dynamic call, into the cheapest record there
    // is, a thread-local `Cell` add.
    let cell = metrics::Counter::from_arc(std::sync::Arc::new(CellCounter));
    g.bench_function("floor/metrics_handle_cell_add", |b| {
        b.iter(|| black_box(&cell).increment(1))
    });
    let ours = telemeter_facade();
    with(&ours, || {
        let kept = counter!("kept_total");
        g.bench_function("telemeter", |b| b.iter(|| black_box(&kept).increment(1)));
    });
    let theirs = metrics_recorder();
    with(&theirs, || {
        let kept = counter!("kept_total");
        g.bench_function("metrics-exporter-prometheus", |b| {
            b.iter(|| black_box(&kept).increment(1))
        });
    });
    g.finish();
}

std::thread_local! {
    static CELL: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// A `metrics` counter that adds to a thread-local `Cell` (a floor).
struct CellCounter;

impl metrics::CounterFn for CellCounter {
    fn increment(&self, value: u64) {
        CELL.with(|c| c.set(c.get() + value));
    }

    fn absolute(&self, value: u64) {
        CELL.with(|c| c.set(c.get().max(value)));
    }
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(40)
}

criterion_group! {
    name = facade;
    config = config();
    targets = facade_counter_static, facade_counter_labelled, facade_kept_handle
}
criterion_main!(facade);
