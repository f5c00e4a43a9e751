//! # telemeter
//!
//! A metrics engine for programs that cannot afford to slow down to be
//! observed. Hot paths record into per-thread shards — no lock, no
//! allocation, no hashing, no read-modify-write instruction — and a scrape
//! merges the shards and writes Prometheus text 0.0.4 by hand into a reused
//! buffer.
//!
//! ```
//! use telemeter::{Buckets, Opts, Registry};
//!
//! let reg = Registry::new();
//! let requests = reg.counter_family(
//!     Opts::new("http_requests_total", "Requests served.").labels(&["method", "code"]),
//! )?;
//! let latency = reg.histogram("http_request_duration_seconds", "Latency.", Buckets::default())?;
//!
//! let ok = requests.with_label_values(&["GET", "200"])?; // resolve once, keep
//! ok.inc();
//! latency.observe(0.012);
//!
//! let body = reg.encode_to_string();
//! let parsed = telemeter::parse::parse(&body).expect("valid 0.0.4");
//! assert_eq!(parsed.family("http_requests_total").unwrap().samples[0].value, 1.0);
//! # Ok::<(), telemeter::Error>(())
//! ```
//!
//! Serving the registry (the `exporter` feature, on by default; the
//! exporter runs on its own thread; port 0 binds an OS-chosen port):
//!
//! ```
//! use telemeter::{Exporter, Registry};
//!
//! let reg = Registry::new();
//! reg.counter("served_total", "Served.")?.inc();
//! let exporter = Exporter::builder()
//!     .registry(reg)
//!     .metrics_addr("127.0.0.1:0")
//!     .health_addr("127.0.0.1:0")
//!     .no_admin()
//!     .start()?;
//! assert_ne!(exporter.metrics_addr().unwrap().port(), 0);
//! exporter.set_started(); // /ready turns 200
//! exporter.shutdown(); // /ready turns 503, then the listeners close
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Declaring metrics once, for the whole program, as `static`s on the
//! [`default_registry`] (no `unwrap` at use sites; bad names do not
//! compile):
//!
//! ```
//! use telemeter::{static_metrics, Counter, Family};
//!
//! static_metrics! {
//!     /// Jobs run.
//!     pub static JOBS: Counter = counter("lib_doc_jobs_total", "Jobs run.");
//!     static FAILURES: Family<Counter> =
//!         counter_family("lib_doc_failures_total", "Failures by step.", ["step"]);
//! }
//!
//! JOBS.inc();
//! FAILURES.with_label_values(&["fetch"])?.inc();
//! assert!(JOBS.force().is_ok()); // at start-up: the registration, or why not
//! # Ok::<(), telemeter::Error>(())
//! ```
//!
//! Every format a Prometheus server asks for. The exporter answers each
//! scrape in the one its `Accept` header prefers ([`Format::negotiate`]):
//! OpenMetrics 1.0 for a Prometheus server (units, `info` and `stateset`
//! families, exemplars, `# EOF`), protobuf when it runs with
//! `--enable-feature=native-histograms`, text 0.0.4 for everyone else.
//! Exemplars link a count or a bucket to a trace; Prometheus keeps them
//! with `--enable-feature=exemplar-storage`. Native histograms need no
//! bucket layout and bound every quantile's error (9.05 % at the default
//! schema 3): pick one for a latency whose range you do not know; keep
//! [`Buckets`] where a dashboard needs exact counts at chosen thresholds.
//!
//! ```
//! use telemeter::{Format, NativeBuckets, Registry};
//!
//! let reg = Registry::builder().self_metrics(false).build();
//! let served = reg.counter("requests_total", "Requests served.")?;
//! served.inc_with_exemplar(&[("trace_id", "4bf92f3577b34da6")]);
//! let latency = reg.native_histogram("request_seconds", "Latency.", NativeBuckets::default())?;
//! latency.observe(0.042);
//! let om = reg.encode_openmetrics_to_string();
//! assert!(om.contains("requests_total 1 # {trace_id=\"4bf92f3577b34da6\"} 1 "));
//! let mut protobuf = Vec::new();
//! reg.encode_format(&mut protobuf, Format::Protobuf); // native buckets, spans and deltas
//! assert!(!protobuf.is_empty());
//! # Ok::<(), telemeter::Error>(())
//! ```
//!
//! ## Index
//!
//! * Metric handles: [`Counter`], [`FloatCounter`], [`Gauge`],
//!   [`FloatGauge`], [`Histogram`] (with [`Buckets`]), [`NativeHistogram`]
//!   (with [`NativeBuckets`]), [`StateSet`]; [`Registry::info`]; exemplars
//!   ([`Counter::inc_with_exemplar`], [`Histogram::observe_with_exemplar`]).
//! * Declared once: [`static_metrics!`] and [`StaticMetric`]; one registry
//!   for many parts: [`Registry::with_prefix`],
//!   [`Registry::with_const_labels`], [`RegistryBuilder::prefix`].
//! * Labels: [`Family`], [`Opts`], fixed label sets with
//!   [`FixedCardinalityLabel`] / [`fixed_label!`]; label sets as types with
//!   [`label_set!`]: [`Typed`] (enums only, a dense table) and [`Keyed`]
//!   (with strings, hashed alone).
//! * Scrape-time values: [`Registry::gauge_fn`], [`Registry::gauge_callback`].
//! * Scrape: [`Registry::encode`], [`Registry::encode_openmetrics`],
//!   [`Registry::encode_format`], [`Format`], [`CONTENT_TYPE`], [`parse`]
//!   (strict text 0.0.4 and OpenMetrics parsers).
//! * Labels that must not carry raw identifiers: [`fingerprint`].
//! * Instrumentation already written for the `metrics` facade: `facade`
//!   (feature `metrics-rs`).
//!
//! ## Features
//!
//! * `exporter` (default): [`server`] — `/metrics`, `/health`, `/ready` and
//!   the admin console over hyper and tokio, gzip through flate2, and
//!   [`RegistrySummary::to_json`] through serde_json. With
//!   `default-features = false` the crate is the engine and the text
//!   encoder, with none of those dependencies.
//! * `crash` (default): [`crash`] — redacted, text-only crash bundles
//!   (regex for the redaction patterns).
//! * `push` (default): [`push`] — the Pushgateway client and remote write
//!   (a blocking HTTP/1.1 client of its own over std sockets, snap).
//! * `tls`: `https://` for the push clients, with a custom CA and a client
//!   certificate (rustls on ring, webpki-roots).
//! * `metrics-rs`: `facade` — a backend for the `metrics` facade (0.24),
//!   so that `counter!`, `gauge!` and `histogram!` calls, yours and your
//!   dependencies', record into a telemeter registry.
//! * `bench-internals`: hidden floors for `benches/`; not API.
//!
//! `docs/ARCHITECTURE.md` describes the layers, the shard protocol and its
//! proofs.
#![deny(missing_docs)]
#![deny(missing_debug_implementations)]
#![warn(rust_2018_idioms)]

mod cache;
mod callback;
mod catch;
mod collect;
mod counter;
mod error;
mod exemplar;
mod family;
mod gauge;
mod handle;
mod histogram;
#[cfg(not(telemeter_loom))]
mod local;
mod names;
mod native;
mod native_histogram;
mod registry;
mod series;
mod shard;
mod state_set;
mod summary;
mod sync;

/// README.md's examples, compiled and run as doctests.
#[cfg(all(doctest, feature = "exporter"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// docs/MIGRATING.md's telemeter snippets, compiled and run as doctests
/// (the `metrics` section records through the facade backend).
#[cfg(all(doctest, feature = "metrics-rs"))]
#[doc = include_str!("../docs/MIGRATING.md")]
pub struct MigratingDoctests;

#[cfg(feature = "crash")]
pub mod crash;
pub mod encode;
#[cfg(all(feature = "metrics-rs", not(telemeter_loom)))]
pub mod facade;
pub mod fingerprint;
pub mod parse;
pub mod process;
#[cfg(feature = "push")]
pub mod push;
#[cfg(feature = "exporter")]
pub mod server;
#[cfg(not(telemeter_loom))]
pub mod statics;

pub use callback::CallbackSink;
pub use counter::{Counter, FloatCounter};
pub use encode::format::{Format, CONTENT_TYPE_OPENMETRICS, CONTENT_TYPE_PROTOBUF};
pub use encode::text::CONTENT_TYPE;
pub use error::Error;
pub use exemplar::MAX_EXEMPLAR_CHARS;
pub use family::{
    ByLabel, Family, FixedCardinalityLabel, Keyed, LabelSet, Metric, Opts, Typed,
    DEFAULT_MAX_LABEL_VALUE_BYTES, DEFAULT_MAX_SERIES, MAX_STRING_FIELDS, MAX_TYPED_COMBINATIONS,
    OVERFLOW_LABEL_VALUE,
};
pub use gauge::{FloatGauge, Gauge};
pub use histogram::{Buckets, Histogram, HistogramSnapshot, HistogramTimer, MAX_BUCKETS};
pub use native_histogram::{NativeBuckets, NativeHistogram, NativeSnapshot, MAX_NATIVE_BUCKETS};
#[cfg(not(telemeter_loom))]
pub use registry::default_registry;
pub use registry::{Registry, RegistryBuilder, DEFAULT_MAX_FAMILIES, DEFAULT_SCRAPE_DEADLINE};
#[cfg(feature = "exporter")]
pub use server::{
    Exporter, ExporterBuilder, ExporterHandle, MetricsSource, Readiness, ServerError, Stats,
    Surface,
};
#[cfg(telemeter_loom)]
#[doc(hidden)]
pub use shard::loom_thread_exit;
pub use shard::{pool_stats, PoolStats};
pub use state_set::{StateSet, MAX_STATES};
#[cfg(not(telemeter_loom))]
pub use statics::StaticMetric;
pub use summary::{FamilySummary, RegistrySummary};

/// The benchmarks' hardware floors, which must use exactly the engine's own
/// code: not API, free to change, and compiled only with the
/// `bench-internals` feature (which `benches/` turn on).
#[cfg(all(feature = "bench-internals", not(telemeter_loom)))]
#[doc(hidden)]
pub mod bench_internals {
    /// The lookup floor of `benches/hot_path.rs` reads label values with this.
    pub use crate::cache::value_lane;
    /// The encoder floor of `benches/scrape_load.rs`.
    pub use crate::encode::floor::{FloorError, FormatFloor};

    /// What a remote writer does each interval before it sends: encode
    /// `registry`, cut it into requests, compress each; the compressed
    /// bytes in all (`benches/scrape.rs`).
    #[cfg(feature = "push")]
    pub fn remote_write_prepare(
        rw: &crate::push::RemoteWrite,
        registry: &crate::Registry,
    ) -> Result<usize, crate::push::PushError> {
        let mut bytes = 0;
        rw.prepare(registry, |chunk| {
            bytes += chunk.body().len();
            rw.recycle(chunk);
            Ok(())
        })?;
        Ok(bytes)
    }
}
