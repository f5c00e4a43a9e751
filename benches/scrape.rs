//! Scrape bench: encoding a whole registry to Prometheus text, telemeter
//! against every peer crate and against a `memcpy` of the same number of
//! bytes, in one criterion group.
//!
//! Data, identical in every participant: 10 counter families of 1,000
//! series each (10,000 counter series) and 1 histogram family of 1,000
//! series with the 11 Prometheus default buckets; every series has the two
//! labels `component` (50 values) and `method` (20 values) and a non-zero
//! value (each histogram series holds 3 observations). Every family has a
//! HELP line.
//!
//! Each participant encodes through its documented scrape path into a
//! reused buffer: telemeter `Registry::encode` (self-metrics off, so the
//! bodies hold the same samples), prometheus `Registry::gather` +
//! `TextEncoder::encode`, prometheus-client `encoding::text::encode`,
//! metrics-exporter-prometheus `PrometheusHandle::render_to_write`, measured
//! `MetricGroup::collect_group_into` + `BufferedTextEncoder::finish`.
//! `Throughput::Bytes` is each participant's own body length (printed at
//! start-up with its sample-line count). Set `TELEMETER_BENCH_DUMP=<dir>`
//! to write every participant's body there for inspection.
//!
//! Run: `cargo bench --bench scrape -- --warm-up-time 1 --measurement-time 3`

// `criterion_group!` generates undocumented `pub fn`s.
#![allow(missing_docs)]

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use measured::metric::group::MetricGroup as _;
use metrics::Recorder as _;

use common::{StrSet, DEFAULT_BUCKETS, OBSERVE_VALUES};

const COUNTER_FAMILIES: usize = 10;
const COMPONENTS: usize = 50;
const METHODS: usize = 20;
const HELP: &str = "Bench series.";

static METADATA: metrics::Metadata<'static> =
    metrics::Metadata::new("scrape", metrics::Level::INFO, Some(module_path!()));

/// One series of the data set.
struct Point {
    component: &'static str,
    method: &'static str,
    /// Counter value (family `k` adds `k`).
    count: u64,
    /// The 3 observations of this label set's histogram series.
    observations: [f64; 3],
}

struct Data {
    components: Vec<&'static str>,
    methods: Vec<&'static str>,
    points: Vec<Point>,
}

fn data() -> Data {
    // Leaked once: measured's label sets hold `&'static str`.
    let components: Vec<&'static str> = (0..COMPONENTS)
        .map(|i| &*Box::leak(format!("component-{i}").into_boxed_str()))
        .collect();
    let methods: Vec<&'static str> = (0..METHODS)
        .map(|i| &*Box::leak(format!("Method{i}").into_boxed_str()))
        .collect();
    let mut points = Vec::with_capacity(COMPONENTS * METHODS);
    for (ci, c) in components.iter().enumerate() {
        for (mi, m) in methods.iter().enumerate() {
            let i = ci * METHODS + mi;
            points.push(Point {
                component: c,
                method: m,
                count: 1 + (i as u64 * 7919) % 100_000,
                observations: [
                    OBSERVE_VALUES[i % 16],
                    OBSERVE_VALUES[(i + 5) % 16],
                    OBSERVE_VALUES[(i + 11) % 16],
                ],
            });
        }
    }
    Data {
        components,
        methods,
        points,
    }
}

fn counter_name(k: usize) -> String {
    format!("bench_counter_{k}_total")
}

const HISTOGRAM: &str = "bench_latency_seconds";

// ---------------------------------------------------------------------------
// Participants: build the data set, return an encoder closure.

fn telemeter_registry(d: &Data) -> telemeter::Registry {
    let reg = telemeter::Registry::builder().self_metrics(false).build();
    for k in 0..COUNTER_FAMILIES {
        let fam = reg
            .counter_family(
                telemeter::Opts::new(counter_name(k), HELP).labels(&["component", "method"]),
            )
            .expect("valid family");
        for p in &d.points {
            fam.with_label_values(&[p.component, p.method])
                .expect("series")
                .add(p.count + k as u64);
        }
    }
    let h = reg
        .histogram_family(
            telemeter::Opts::new(HISTOGRAM, HELP).labels(&["component", "method"]),
            telemeter::Buckets::default_prometheus(),
        )
        .expect("valid family");
    for p in &d.points {
        let s = h
            .with_label_values(&[p.component, p.method])
            .expect("series");
        for v in p.observations {
            s.observe(v);
        }
    }
    reg
}

fn prometheus_registry(d: &Data) -> prometheus::Registry {
    let reg = prometheus::Registry::new();
    for k in 0..COUNTER_FAMILIES {
        let v = prometheus::IntCounterVec::new(
            prometheus::Opts::new(counter_name(k), HELP),
            &["component", "method"],
        )
        .expect("valid vec");
        reg.register(Box::new(v.clone())).expect("registered");
        for p in &d.points {
            v.with_label_values(&[p.component, p.method])
                .inc_by(p.count + k as u64);
        }
    }
    let h = prometheus::HistogramVec::new(
        prometheus::HistogramOpts::new(HISTOGRAM, HELP).buckets(DEFAULT_BUCKETS.to_vec()),
        &["component", "method"],
    )
    .expect("valid vec");
    reg.register(Box::new(h.clone())).expect("registered");
    for p in &d.points {
        let s = h.with_label_values(&[p.component, p.method]);
        for v in p.observations {
            s.observe(v);
        }
    }
    reg
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
struct PcLabels {
    component: String,
    method: String,
}

fn pc_histogram() -> prometheus_client::metrics::histogram::Histogram {
    prometheus_client::metrics::histogram::Histogram::new(DEFAULT_BUCKETS.iter().copied())
}

fn prometheus_client_registry(d: &Data) -> prometheus_client::registry::Registry {
    use prometheus_client::metrics::{counter::Counter, family::Family, histogram::Histogram};
    let mut reg = prometheus_client::registry::Registry::default();
    for k in 0..COUNTER_FAMILIES {
        let fam = Family::<PcLabels, Counter>::default();
        // prometheus-client appends `_total` to counter names itself.
        reg.register(format!("bench_counter_{k}"), HELP, fam.clone());
        for p in &d.points {
            fam.get_or_create(&PcLabels {
                component: p.component.to_string(),
                method: p.method.to_string(),
            })
            .inc_by(p.count + k as u64);
        }
    }
    let h = Family::<PcLabels, Histogram, fn() -> Histogram>::new_with_constructor(pc_histogram);
    reg.register(HISTOGRAM, HELP, h.clone());
    for p in &d.points {
        let s = h.get_or_create(&PcLabels {
            component: p.component.to_string(),
            method: p.method.to_string(),
        });
        for v in p.observations {
            s.observe(v);
        }
    }
    reg
}

fn metrics_recorder(d: &Data) -> metrics_exporter_prometheus::PrometheusRecorder {
    let rec = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets(&DEFAULT_BUCKETS)
        .expect("valid buckets")
        .build_recorder();
    let key = |name: String, p: &Point| {
        metrics::Key::from_parts(
            name,
            vec![
                metrics::Label::new("component", p.component),
                metrics::Label::new("method", p.method),
            ],
        )
    };
    for k in 0..COUNTER_FAMILIES {
        rec.describe_counter(counter_name(k).into(), None, HELP.into());
        for p in &d.points {
            rec.register_counter(&key(counter_name(k), p), &METADATA)
                .increment(p.count + k as u64);
        }
    }
    rec.describe_histogram(HISTOGRAM.into(), None, HELP.into());
    for p in &d.points {
        let h = rec.register_histogram(&key(HISTOGRAM.to_string(), p), &METADATA);
        for v in p.observations {
            h.record(v);
        }
    }
    // Fold the buffered histogram samples in before measuring.
    rec.handle().run_upkeep();
    rec
}

#[derive(Clone, Copy, Debug, measured::LabelGroup)]
#[label(set = ScrapeSet)]
struct ScrapeLabels<'a> {
    #[label(fixed_with = StrSet)]
    component: &'a str,
    #[label(fixed_with = StrSet)]
    method: &'a str,
}

type MCounters = measured::CounterVec<ScrapeSet>;

#[derive(measured::MetricGroup)]
struct MeasuredMetrics {
    /// Bench series.
    bench_counter_0_total: MCounters,
    /// Bench series.
    bench_counter_1_total: MCounters,
    /// Bench series.
    bench_counter_2_total: MCounters,
    /// Bench series.
    bench_counter_3_total: MCounters,
    /// Bench series.
    bench_counter_4_total: MCounters,
    /// Bench series.
    bench_counter_5_total: MCounters,
    /// Bench series.
    bench_counter_6_total: MCounters,
    /// Bench series.
    bench_counter_7_total: MCounters,
    /// Bench series.
    bench_counter_8_total: MCounters,
    /// Bench series.
    bench_counter_9_total: MCounters,
    /// Bench series.
    bench_latency_seconds: measured::HistogramVec<ScrapeSet, 11>,
}

fn measured_metrics(d: &Data) -> MeasuredMetrics {
    let set = || ScrapeSet {
        component: StrSet::new(&d.components),
        method: StrSet::new(&d.methods),
    };
    let m = MeasuredMetrics {
        bench_counter_0_total: MCounters::with_label_set(set()),
        bench_counter_1_total: MCounters::with_label_set(set()),
        bench_counter_2_total: MCounters::with_label_set(set()),
        bench_counter_3_total: MCounters::with_label_set(set()),
        bench_counter_4_total: MCounters::with_label_set(set()),
        bench_counter_5_total: MCounters::with_label_set(set()),
        bench_counter_6_total: MCounters::with_label_set(set()),
        bench_counter_7_total: MCounters::with_label_set(set()),
        bench_counter_8_total: MCounters::with_label_set(set()),
        bench_counter_9_total: MCounters::with_label_set(set()),
        bench_latency_seconds: measured::HistogramVec::with_label_set_and_metadata(
            set(),
            measured::metric::histogram::Thresholds::with_buckets(DEFAULT_BUCKETS),
        ),
    };
    let counters = [
        &m.bench_counter_0_total,
        &m.bench_counter_1_total,
        &m.bench_counter_2_total,
        &m.bench_counter_3_total,
        &m.bench_counter_4_total,
        &m.bench_counter_5_total,
        &m.bench_counter_6_total,
        &m.bench_counter_7_total,
        &m.bench_counter_8_total,
        &m.bench_counter_9_total,
    ];
    for (k, fam) in counters.iter().enumerate() {
        for p in &d.points {
            fam.inc_by(
                ScrapeLabels {
                    component: p.component,
                    method: p.method,
                },
                p.count + k as u64,
            );
        }
    }
    for p in &d.points {
        for v in p.observations {
            m.bench_latency_seconds.observe(
                ScrapeLabels {
                    component: p.component,
                    method: p.method,
                },
                v,
            );
        }
    }
    m
}

/// Sample lines (not comments) in a body.
fn samples(body: &[u8]) -> usize {
    body.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty() && l[0] != b'#')
        .count()
}

fn encode_registry(c: &mut Criterion) {
    let d = data();

    let treg = telemeter_registry(&d);
    let preg = prometheus_registry(&d);
    let creg = prometheus_client_registry(&d);
    let mrec = metrics_recorder(&d);
    let mhandle = mrec.handle();
    let meas = measured_metrics(&d);

    // One encode each, untimed: sizes, sample counts, and a validity check
    // of telemeter's body with its strict parser.
    let mut tbuf = Vec::new();
    treg.encode(&mut tbuf);
    let parsed = telemeter::parse::parse(std::str::from_utf8(&tbuf).expect("utf-8"))
        .expect("telemeter body parses");
    assert_eq!(parsed.families.len(), COUNTER_FAMILIES + 1);
    let mut pbuf = Vec::new();
    prometheus::Encoder::encode(&prometheus::TextEncoder::new(), &preg.gather(), &mut pbuf)
        .expect("encodes");
    let mut cbuf = String::new();
    prometheus_client::encoding::text::encode(&mut cbuf, &creg).expect("encodes");
    let mut mbuf = Vec::new();
    mhandle.render_to_write(&mut mbuf).expect("renders");
    let mut menc = measured::text::BufferedTextEncoder::new();
    meas.collect_group_into(&mut menc).expect("encodes");
    let mbody = menc.finish();
    let bodies: [(&str, &[u8]); 5] = [
        ("telemeter", &tbuf),
        ("prometheus", &pbuf),
        ("prometheus-client", cbuf.as_bytes()),
        ("metrics", &mbuf),
        ("measured", &mbody),
    ];
    let dump = std::env::var_os("TELEMETER_BENCH_DUMP");
    for (name, body) in bodies {
        if let Some(dir) = &dump {
            let path = std::path::Path::new(dir).join(format!("encode_registry.{name}.txt"));
            std::fs::write(&path, body).expect("write body dump");
        }
        eprintln!(
            "encode_registry body: {name:<18} {:>9} bytes {:>6} sample lines",
            body.len(),
            samples(body)
        );
    }
    drop(mbody);

    let mut g = c.benchmark_group("encode_registry");

    let len = tbuf.len();
    let src = tbuf.clone();
    let mut dst = vec![0u8; len];
    g.throughput(Throughput::Bytes(len as u64));
    g.bench_function("floor/memcpy", |b| {
        b.iter(|| {
            dst.copy_from_slice(black_box(&src));
            black_box(&mut dst);
        })
    });

    g.bench_function("telemeter", |b| {
        b.iter(|| {
            tbuf.clear();
            treg.encode(black_box(&mut tbuf));
            black_box(&tbuf);
        })
    });

    g.throughput(Throughput::Bytes(pbuf.len() as u64));
    let encoder = prometheus::TextEncoder::new();
    g.bench_function("prometheus", |b| {
        b.iter(|| {
            pbuf.clear();
            prometheus::Encoder::encode(&encoder, &preg.gather(), &mut pbuf).expect("encodes");
            black_box(&pbuf);
        })
    });

    g.throughput(Throughput::Bytes(cbuf.len() as u64));
    g.bench_function("prometheus-client", |b| {
        b.iter(|| {
            cbuf.clear();
            prometheus_client::encoding::text::encode(&mut cbuf, &creg).expect("encodes");
            black_box(&cbuf);
        })
    });

    g.throughput(Throughput::Bytes(mbuf.len() as u64));
    g.bench_function("metrics", |b| {
        b.iter(|| {
            mbuf.clear();
            mhandle.render_to_write(&mut mbuf).expect("renders");
            black_box(&mbuf);
        })
    });

    let mlen = {
        meas.collect_group_into(&mut menc).expect("encodes");
        menc.finish().len()
    };
    g.throughput(Throughput::Bytes(mlen as u64));
    g.bench_function("measured", |b| {
        b.iter(|| {
            meas.collect_group_into(&mut menc).expect("encodes");
            black_box(menc.finish());
        })
    });

    g.finish();
}

/// Issue 17's bars: the same registry in every format a Prometheus server
/// asks for. OpenMetrics (with no exemplar recorded, as the 0.0.4 body has
/// none) against text 0.0.4; protobuf against the `prometheus` crate's
/// `ProtobufEncoder` over `gather()`.
fn encode_formats(c: &mut Criterion) {
    let d = data();
    let treg = telemeter_registry(&d);
    let preg = prometheus_registry(&d);
    let mut text = Vec::new();
    treg.encode(&mut text);
    let mut om = Vec::new();
    treg.encode_openmetrics(&mut om);
    telemeter::parse::openmetrics::parse(std::str::from_utf8(&om).expect("utf-8"))
        .expect("the OpenMetrics body parses");
    let mut pb = Vec::new();
    treg.encode_format(&mut pb, telemeter::Format::Protobuf);
    let pencoder = prometheus::ProtobufEncoder::new();
    let mut ppb = Vec::new();
    prometheus::Encoder::encode(&pencoder, &preg.gather(), &mut ppb).expect("encodes");
    eprintln!(
        "encode_formats: text {} bytes, OpenMetrics {} bytes, protobuf {} bytes, prometheus protobuf {} bytes",
        text.len(),
        om.len(),
        pb.len(),
        ppb.len()
    );
    let mut g = c.benchmark_group("encode_formats");
    g.bench_function("telemeter/text_0.0.4", |b| {
        b.iter(|| {
            text.clear();
            treg.encode(black_box(&mut text));
            black_box(&text);
        })
    });
    g.bench_function("telemeter/openmetrics", |b| {
        b.iter(|| {
            om.clear();
            treg.encode_openmetrics(black_box(&mut om));
            black_box(&om);
        })
    });
    g.bench_function("telemeter/protobuf", |b| {
        b.iter(|| {
            pb.clear();
            treg.encode_format(black_box(&mut pb), telemeter::Format::Protobuf);
            black_box(&pb);
        })
    });
    g.bench_function("prometheus/protobuf", |b| {
        b.iter(|| {
            ppb.clear();
            prometheus::Encoder::encode(&pencoder, &preg.gather(), &mut ppb).expect("encodes");
            black_box(&ppb);
        })
    });
    g.finish();
}

/// Issue 19's bar: a remote writer's work per interval (encode, cut into
/// requests of 2,000 samples, snappy each) against what a scrape over HTTP
/// costs the exporter (the 0.0.4 encode and its gzip at the exporter's
/// level, `Compression::fast`), on the same registry.
fn remote_write_encode(c: &mut Criterion) {
    use std::io::Write as _;
    let d = data();
    let treg = telemeter_registry(&d);
    let rw = telemeter::push::RemoteWrite::builder("http://127.0.0.1:9/api/v1/write")
        .build()
        .expect("a valid URL");
    let compressed = telemeter::bench_internals::remote_write_prepare(&rw, &treg).expect("encodes");
    let mut text = Vec::new();
    let mut gz = Vec::new();
    let gzip = |text: &mut Vec<u8>, gz: &mut Vec<u8>| {
        text.clear();
        treg.encode(text);
        gz.clear();
        let mut e = flate2::write::GzEncoder::new(&mut *gz, flate2::Compression::fast());
        e.write_all(text).expect("in memory");
        e.finish().expect("in memory");
    };
    gzip(&mut text, &mut gz);
    eprintln!(
        "remote_write_encode: text {} bytes, gzip {} bytes, remote write (snappy) {compressed} bytes",
        text.len(),
        gz.len()
    );
    let mut g = c.benchmark_group("remote_write_encode");
    g.bench_function("telemeter/text_0.0.4+gzip", |b| {
        b.iter(|| {
            gzip(&mut text, &mut gz);
            black_box(&gz);
        })
    });
    g.bench_function("telemeter/remote_write+snappy", |b| {
        b.iter(|| black_box(telemeter::bench_internals::remote_write_prepare(&rw, &treg)))
    });
    g.finish();
}

criterion_group! {
    name = scrape;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = encode_registry, encode_formats, remote_write_encode
}
criterion_main!(scrape);
