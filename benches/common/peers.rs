//! Every participant's handle, configured identically wherever a bench
//! measures it (`hot_path.rs`, `scaling.rs`): the 11 Prometheus default
//! buckets everywhere, and the observed values and the `Cell` floor shared.

use std::cell::Cell;
use std::hint::black_box;

use super::{StrSet, DEFAULT_BUCKETS, OBSERVE_VALUES};

/// The metadata `metrics` handles are registered with.
pub static METADATA: metrics::Metadata<'static> =
    metrics::Metadata::new("bench", metrics::Level::INFO, Some(module_path!()));

/// A `metrics-exporter-prometheus` recorder with the default buckets.
pub fn metrics_recorder() -> metrics_exporter_prometheus::PrometheusRecorder {
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets(&DEFAULT_BUCKETS)
        .expect("valid buckets")
        .build_recorder()
}

pub fn prometheus_histogram() -> prometheus::Histogram {
    // `HistogramOpts::new` uses `prometheus::DEFAULT_BUCKETS`: the same 11.
    let h = prometheus::Histogram::with_opts(prometheus::HistogramOpts::new("h", "help"))
        .expect("valid histogram");
    assert_eq!(prometheus::DEFAULT_BUCKETS, &DEFAULT_BUCKETS);
    h
}

pub fn prometheus_client_histogram() -> prometheus_client::metrics::histogram::Histogram {
    prometheus_client::metrics::histogram::Histogram::new(DEFAULT_BUCKETS.iter().copied())
}

pub fn measured_histogram() -> measured::Histogram<11> {
    measured::Histogram::with_metadata(measured::metric::histogram::Thresholds::with_buckets(
        DEFAULT_BUCKETS,
    ))
}

pub fn telemeter_histogram(reg: &telemeter::Registry) -> telemeter::Histogram {
    reg.histogram("h", "help", telemeter::Buckets::default_prometheus())
        .expect("valid histogram")
}

/// The `i`-th observed value: the cycle of [`OBSERVE_VALUES`].
#[inline(always)]
pub fn value(i: u64) -> f64 {
    OBSERVE_VALUES[(i & 15) as usize]
}

std::thread_local! {
    static CELL: Cell<u64> = const { Cell::new(0) };
}

/// The `Cell` floor: a thread-local add the compiler cannot fold away.
#[inline(always)]
pub fn cell_add() {
    CELL.with(|c| c.set(black_box(c.get()) + 1))
}

/// prometheus-client's label set for the labelled lookups.
#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct PcLabels {
    pub method: &'static str,
    pub code: &'static str,
}

/// measured's label group for the labelled lookups: both values resolved
/// through a dense fixed set (its fastest labelled path).
#[derive(Clone, Copy, Debug, measured::LabelGroup)]
#[label(set = MeasuredLookupSet)]
pub struct MeasuredLookup<'a> {
    #[label(fixed_with = StrSet)]
    pub method: &'a str,
    #[label(fixed_with = StrSet)]
    pub code: &'a str,
}

/// The `metrics` key of a labelled lookup: what
/// `metrics::counter!("l_total", "method" => m, "code" => c)` builds with
/// runtime label values, minus the recorder look-up.
pub fn metrics_lookup_key(m: &'static str, c: &'static str) -> metrics::Key {
    metrics::Key::from_parts(
        "l_total",
        vec![
            metrics::Label::new("method", m),
            metrics::Label::new("code", c),
        ],
    )
}
