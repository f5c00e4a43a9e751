//! The `metrics` facade backend (`telemeter::facade`): what each key the
//! facade can send becomes in the scrape, the semantics of its handles,
//! refusals, cardinality, exact totals under threads, a published crate
//! (`metrics-process`) recording through it, and promtool on the result.

mod prom_support;

use std::sync::Barrier;
use std::thread;

use metrics::{counter, describe_counter, describe_histogram, gauge, histogram, Unit};
use telemeter::facade::{Facade, Matcher, RECENT_ERRORS};
use telemeter::parse::{parse, Exposition, MetricType};
use telemeter::{Buckets, Error, Registry};

fn quiet() -> Registry {
    Registry::builder().self_metrics(false).build()
}

fn scrape(reg: &Registry) -> (String, Exposition) {
    let body = reg.encode_to_string();
    let parsed = parse(&body).unwrap_or_else(|e| panic!("{e}\n{body}"));
    (body, parsed)
}

fn value(e: &Exposition, family: &str, sample: &str, labels: &[(&str, &str)]) -> f64 {
    e.family(family)
        .unwrap_or_else(|| panic!("no family {family}"))
        .find(sample, labels)
        .unwrap_or_else(|| panic!("no {sample}{labels:?}"))
        .value
}

#[test]
fn one_name_with_different_label_names_is_one_family() {
    let reg = quiet();
    let facade = Facade::builder(&reg).build().unwrap();
    metrics::with_local_recorder(&facade, || {
        describe_counter!("requests_total", "Requests.");
        counter!("requests_total").increment(1);
        counter!("requests_total", "method" => "GET").increment(2);
        counter!("requests_total", "route" => "/", "method" => "GET").increment(3);
        counter!("requests_total", "method" => "GET", "route" => "/").increment(4); // same key
        counter!("requests_total", "method" => "PUT").increment(5);
    });
    let (body, e) = scrape(&reg);
    assert_eq!(
        body.matches("# TYPE requests_total counter").count(),
        1,
        "{body}"
    );
    assert_eq!(body.matches("# HELP requests_total").count(), 1, "{body}");
    let f = e.family("requests_total").unwrap();
    assert_eq!(f.kind, MetricType::Counter);
    assert_eq!(f.help.as_deref(), Some("Requests."));
    assert_eq!(f.samples.len(), 4, "{body}");
    assert_eq!(value(&e, "requests_total", "requests_total", &[]), 1.0);
    assert_eq!(
        value(&e, "requests_total", "requests_total", &[("method", "GET")]),
        2.0
    );
    assert_eq!(
        value(
            &e,
            "requests_total",
            "requests_total",
            &[("method", "GET"), ("route", "/")]
        ),
        7.0
    );
    // Labels are written sorted by name.
    assert!(
        body.contains("requests_total{method=\"GET\",route=\"/\"} 7\n"),
        "{body}"
    );
    assert_eq!(
        value(&e, "requests_total", "requests_total", &[("method", "PUT")]),
        5.0
    );
    assert_eq!(facade.rejected(), 0);
    // Remote write encodes each series with its own label names (its
    // encoder lays out a family's labels once, and again for a series
    // whose names differ).
    let mut rw = Vec::new();
    assert_eq!(reg.encode_remote_write(&mut rw, 1), 4);
    let label = |name: &str, value: &str| -> Vec<u8> {
        let mut l = vec![0x0a, (4 + name.len() + value.len()) as u8, 0x0a];
        l.push(name.len() as u8);
        l.extend_from_slice(name.as_bytes());
        l.push(0x12);
        l.push(value.len() as u8);
        l.extend_from_slice(value.as_bytes());
        l
    };
    let count = |needle: Vec<u8>| rw.windows(needle.len()).filter(|w| *w == needle).count();
    assert_eq!(count(label("__name__", "requests_total")), 4);
    assert_eq!(count(label("method", "GET")), 2);
    assert_eq!(count(label("method", "PUT")), 1);
    assert_eq!(count(label("route", "/")), 1);
}

#[test]
fn names_are_sanitized_like_metrics_exporter_prometheus_and_then_made_legal() {
    let reg = quiet();
    let facade = Facade::builder(&reg).build().unwrap();
    metrics::with_local_recorder(&facade, || {
        counter!("http.requests-total", "peer.addr" => "a\"b\\c\nd").increment(1);
        gauge!("9lives", "__meta" => "x").set(2.5);
        histogram!("__latency", "le" => "keep").record(0.5);
        counter!("ns:sub", "0day" => "y").increment(1);
    });
    let (body, e) = scrape(&reg);
    assert_eq!(
        value(
            &e,
            "http_requests_total",
            "http_requests_total",
            &[("peer_addr", "a\"b\\c\nd")]
        ),
        1.0,
        "{body}"
    );
    assert_eq!(value(&e, "_lives", "_lives", &[("_meta", "x")]), 2.5);
    assert_eq!(
        value(&e, "_latency", "_latency_count", &[("_le", "keep")]),
        1.0
    );
    assert_eq!(value(&e, "ns:sub", "ns:sub", &[("_day", "y")]), 1.0);
    assert_eq!(facade.rejected(), 0, "{:?}", facade.recent_errors());
}

#[test]
fn counter_gauge_and_histogram_semantics() {
    let reg = quiet();
    let facade = Facade::builder(&reg).build().unwrap();
    metrics::with_local_recorder(&facade, || {
        let c = counter!("synced_total");
        c.increment(5);
        c.absolute(3); // below: no change
        assert_eq!(body_value(&reg, "synced_total"), 5.0);
        c.absolute(12); // above: raised to it
        assert_eq!(body_value(&reg, "synced_total"), 12.0);
        c.increment(1);
        assert_eq!(body_value(&reg, "synced_total"), 13.0);

        let g = gauge!("level");
        g.set(10.0);
        g.increment(2.5);
        g.decrement(0.5);
        assert_eq!(body_value(&reg, "level"), 12.0);
        g.set(-1.25);
        assert_eq!(body_value(&reg, "level"), -1.25);

        let h = histogram!("work_seconds");
        h.record(0.004);
        h.record_many(2.0, 1_000);
    });
    let (body, e) = scrape(&reg);
    assert_eq!(value(&e, "work_seconds", "work_seconds_count", &[]), 1001.0);
    assert_eq!(value(&e, "work_seconds", "work_seconds_sum", &[]), 2000.004);
    // Buckets::default() (Prometheus' defaults): 0.004 is in le=0.005.
    assert_eq!(
        value(
            &e,
            "work_seconds",
            "work_seconds_bucket",
            &[("le", "0.005")]
        ),
        1.0,
        "{body}"
    );
    assert_eq!(
        value(&e, "work_seconds", "work_seconds_bucket", &[("le", "2.5")]),
        1001.0
    );
}

fn body_value(reg: &Registry, name: &str) -> f64 {
    let (_, e) = scrape(reg);
    value(&e, name, name, &[])
}

#[test]
fn buckets_are_chosen_per_name_full_then_longest_prefix_then_longest_suffix() {
    let reg = quiet();
    let facade = Facade::builder(&reg)
        .default_buckets(Buckets::new(vec![1.0]).unwrap())
        .buckets_for(
            Matcher::Suffix("_bytes".into()),
            Buckets::new(vec![2.0]).unwrap(),
        )
        .buckets_for(
            Matcher::Prefix("rpc".into()),
            Buckets::new(vec![3.0]).unwrap(),
        )
        .buckets_for(
            Matcher::Prefix("rpc.in".into()),
            Buckets::new(vec![4.0]).unwrap(),
        )
        .buckets_for(
            Matcher::Full("rpc_in_bytes".into()),
            Buckets::new(vec![5.0]).unwrap(),
        )
        .build()
        .unwrap();
    metrics::with_local_recorder(&facade, || {
        for name in [
            "plain",
            "body_bytes",
            "rpc_out_bytes",
            "rpc_in_x",
            "rpc_in_bytes",
        ] {
            histogram!(name).record(0.5);
        }
    });
    let (body, _) = scrape(&reg);
    for (name, le) in [
        ("plain", "1"),
        ("body_bytes", "2"),
        ("rpc_out_bytes", "3"),
        ("rpc_in_x", "4"),
        ("rpc_in_bytes", "5"),
    ] {
        assert!(
            body.contains(&format!("{name}_bucket{{le=\"{le}\"}} 1\n")),
            "{name} should have le={le}:\n{body}"
        );
    }
}

#[test]
fn describe_sets_help_before_or_after_registration_and_keeps_the_unit() {
    let reg = quiet();
    let facade = Facade::builder(&reg).build().unwrap();
    metrics::with_local_recorder(&facade, || {
        histogram!("rpc.seconds").record(1.0);
        let (_, e) = scrape(&reg);
        assert_eq!(e.family("rpc_seconds").unwrap().help.as_deref(), Some(""));
        describe_histogram!("rpc.seconds", Unit::Seconds, "RPC time,\nper call.");
        describe_counter!("later_total", "Described first.");
        counter!("later_total").increment(1);
    });
    let (body, e) = scrape(&reg);
    assert_eq!(
        e.family("rpc_seconds").unwrap().help.as_deref(),
        Some("RPC time,\nper call."),
        "{body}"
    );
    assert_eq!(
        e.family("later_total").unwrap().help.as_deref(),
        Some("Described first.")
    );
    assert_eq!(facade.unit("rpc.seconds"), Some(Unit::Seconds));
    assert_eq!(facade.unit("later_total"), None);
}

#[test]
fn keys_the_registry_cannot_take_get_a_noop_handle_and_are_counted_with_their_reason() {
    let reg = Registry::new(); // self-metrics on: the refusals are exported
    let own = reg
        .counter("owned_total", "Registered outside the facade.")
        .unwrap();
    let facade = Facade::builder(&reg).build().unwrap();
    let long = "x".repeat(telemeter::DEFAULT_MAX_LABEL_VALUE_BYTES + 1);
    metrics::with_local_recorder(&facade, || {
        counter!("jobs_total").increment(1);
        gauge!("jobs_total").set(1.0); // kind conflict
        gauge!("jobs_total").set(2.0); // again: counted again
        counter!("owned_total").increment(7); // taken outside the facade
        counter!("telemeter_mine").increment(1); // reserved namespace
        counter!("").increment(1); // no name
        counter!("dup_total", "a.b" => "1", "a_b" => "2").increment(1); // one label twice
        counter!("long_total", "v" => long.clone()).increment(1);
    });
    assert_eq!(own.get(), 0, "a refused key records nothing");
    let (body, e) = scrape(&reg);
    let rejected = |reason: &str| {
        value(
            &e,
            "telemeter_facade_rejected_total",
            "telemeter_facade_rejected_total",
            &[("reason", reason)],
        )
    };
    assert_eq!(rejected("kind_conflict"), 2.0, "{body}");
    assert_eq!(rejected("name_taken"), 1.0);
    assert_eq!(rejected("invalid_name"), 2.0);
    assert_eq!(rejected("label"), 2.0);
    assert_eq!(facade.rejected(), 7);
    assert_eq!(value(&e, "jobs_total", "jobs_total", &[]), 1.0);
    assert!(e.family("dup_total").is_none() || e.family("dup_total").unwrap().samples.is_empty());
    let errors = facade.recent_errors();
    assert_eq!(errors.len(), 7);
    assert_eq!(
        errors[0].error,
        Error::KindConflict {
            name: "jobs_total".into(),
            registered: "counter",
            requested: "gauge"
        }
    );
    assert!(
        errors[0].to_string().contains("one name has one type"),
        "{}",
        errors[0]
    );
    assert_eq!(
        errors[2].error,
        Error::DuplicateMetric {
            name: "owned_total".into()
        }
    );
    assert!(matches!(errors[3].error, Error::ReservedPrefix { .. }));
    assert!(matches!(errors[4].error, Error::InvalidMetricName { .. }));
    assert!(matches!(errors[5].error, Error::DuplicateLabelName { .. }));
    assert_eq!(errors[5].key, "dup_total{a.b=\"1\",a_b=\"2\"}");
    assert!(matches!(errors[6].error, Error::LabelValueTooLong { .. }));

    // A second facade on the same registry is refused: keep the first.
    assert!(matches!(
        Facade::builder(&reg).build(),
        Err(Error::DuplicateMetric { .. })
    ));

    // Only the last RECENT_ERRORS are kept; the count goes on.
    metrics::with_local_recorder(&facade, || {
        for _ in 0..RECENT_ERRORS {
            counter!("").increment(1);
        }
    });
    assert_eq!(facade.recent_errors().len(), RECENT_ERRORS);
    assert_eq!(facade.rejected(), 7 + RECENT_ERRORS as u64);
}

#[test]
fn the_cardinality_limit_applies_and_overflowed_records_are_all_kept() {
    let reg = Registry::builder().default_max_series(5).build();
    let facade = Facade::builder(&reg).build().unwrap();
    metrics::with_local_recorder(&facade, || {
        for i in 0..20 {
            for _ in 0..3 {
                counter!("conns_total", "peer" => i.to_string()).increment(1);
            }
        }
    });
    let (body, e) = scrape(&reg);
    let f = e.family("conns_total").unwrap();
    assert_eq!(
        f.samples.len(),
        6,
        "5 series and the overflow series:\n{body}"
    );
    let total: f64 = f.samples.iter().map(|s| s.value).sum();
    assert_eq!(total, 60.0, "no record is lost");
    assert_eq!(
        value(
            &e,
            "conns_total",
            "conns_total",
            &[("peer", "__overflow__")]
        ),
        45.0
    );
    // Every redirected registration is counted (15 label sets x 3 calls).
    assert_eq!(
        value(
            &e,
            "telemeter_series_overflow_total",
            "telemeter_series_overflow_total",
            &[("family", "conns_total")]
        ),
        45.0
    );
}

#[test]
fn a_scoped_registry_prefixes_and_labels_facade_names() {
    let reg = quiet();
    let scoped = reg
        .with_prefix("app_")
        .unwrap()
        .with_const_labels(&[("zone", "eu")])
        .unwrap();
    let facade = Facade::builder(&scoped).build().unwrap();
    metrics::with_local_recorder(&facade, || {
        counter!("hits_total", "path" => "/").increment(3);
        counter!("zoned_total", "zone" => "us").increment(1); // clashes with a constant label
    });
    let (body, e) = scrape(&reg);
    assert_eq!(
        value(
            &e,
            "app_hits_total",
            "app_hits_total",
            &[("path", "/"), ("zone", "eu")]
        ),
        3.0,
        "{body}"
    );
    assert_eq!(facade.rejected(), 1);
    assert!(matches!(
        facade.recent_errors()[0].error,
        Error::DuplicateLabelName { .. }
    ));
}

#[test]
fn exact_totals_from_threads_recording_through_the_macros() {
    const THREADS: usize = 4;
    const PER: u64 = 20_000;
    let reg = quiet();
    let facade = Facade::builder(&reg).build().unwrap();
    let start = Barrier::new(THREADS);
    thread::scope(|s| {
        for t in 0..THREADS {
            let (facade, start) = (&facade, &start);
            s.spawn(move || {
                metrics::with_local_recorder(facade, || {
                    start.wait();
                    let kept = counter!("kept_total");
                    for i in 0..PER {
                        counter!("ops_total").increment(1);
                        counter!("ops_total", "shard" => (i % 7).to_string()).increment(2);
                        kept.increment(1);
                        gauge!("balance").increment(1.0);
                        gauge!("balance").decrement(1.0);
                        histogram!("sizes").record((i % 10) as f64);
                        if i % 1000 == 0 {
                            counter!("mirrored_total").absolute((t as u64 + 1) * i);
                        }
                    }
                });
            });
        }
    });
    let (_, e) = scrape(&reg);
    let n = (THREADS as u64 * PER) as f64;
    assert_eq!(value(&e, "ops_total", "ops_total", &[]), n);
    let sharded: f64 = e
        .family("ops_total")
        .unwrap()
        .samples
        .iter()
        .filter(|s| !s.labels.is_empty())
        .map(|s| s.value)
        .sum();
    assert_eq!(sharded, 2.0 * n);
    assert_eq!(value(&e, "kept_total", "kept_total", &[]), n);
    assert_eq!(value(&e, "balance", "balance", &[]), 0.0);
    assert_eq!(value(&e, "sizes", "sizes_count", &[]), n);
    assert_eq!(value(&e, "sizes", "sizes_sum", &[]), 4.5 * n);
    // absolute: the largest value any thread mirrored.
    let top = THREADS as u64 * ((PER - 1) / 1000 * 1000);
    assert_eq!(
        value(&e, "mirrored_total", "mirrored_total", &[]),
        top as f64
    );
}

#[test]
fn metrics_process_records_through_the_facade_and_promtool_accepts_the_body() {
    let reg = Registry::new();
    let facade = Facade::builder(&reg).build().unwrap();
    let collector = metrics_process::Collector::default();
    metrics::with_local_recorder(&facade, || {
        collector.describe();
        collector.collect();
        // promtool lints a family without HELP text: describe them.
        describe_counter!("app_requests_total", "Requests.");
        describe_histogram!("app_latency_seconds", Unit::Seconds, "Latency.");
        counter!("app_requests_total", "method" => "GET").increment(1);
        counter!("app_requests_total", "method" => "GET", "code" => "200").increment(1);
        histogram!("app_latency_seconds", "route" => "/").record(0.2);
    });
    let (body, e) = scrape(&reg);
    assert_eq!(facade.rejected(), 0, "{:?}", facade.recent_errors());
    let resident = value(
        &e,
        "process_resident_memory_bytes",
        "process_resident_memory_bytes",
        &[],
    );
    assert!(resident > 1e6, "{body}");
    let f = e.family("process_cpu_seconds_total").unwrap();
    assert!(f.help.as_deref().is_some_and(|h| !h.is_empty()), "{body}");
    assert!(value(&e, "process_threads", "process_threads", &[]) >= 1.0);
    if let Some(promtool) = prom_support::tool_or_skip("promtool", "prometheus") {
        let findings = prom_support::promtool_lint(&promtool, &body);
        assert!(findings.is_empty(), "{findings:?}\n{body}");
    }
}

#[test]
fn install_makes_it_the_global_recorder_once() {
    let reg = quiet();
    let facade = telemeter::facade::install(&reg).unwrap();
    counter!("global_total").increment(2);
    assert_eq!(body_value(&reg, "global_total"), 2.0);
    assert_eq!(
        telemeter::facade::install(&reg).unwrap_err(),
        Error::RecorderAlreadySet
    );
    assert_eq!(facade.rejected(), 0);
}

#[test]
fn histograms_matched_by_native_for_are_native_histograms() {
    let reg = quiet();
    let facade = Facade::builder(&reg)
        .native_for(
            Matcher::Suffix("_seconds".into()),
            telemeter::NativeBuckets::default(),
        )
        .buckets_for(
            Matcher::Suffix("_bytes".into()),
            Buckets::new(vec![100.0]).unwrap(),
        )
        .build()
        .unwrap();
    let per = 5_000u64;
    thread::scope(|s| {
        for t in 0..2 {
            let facade = &facade;
            s.spawn(move || {
                metrics::with_local_recorder(facade, || {
                    for i in 0..per {
                        // 0.25 = 2^-2 and 3.0: groups ending at 0.25 and 4.
                        let v = if i % 2 == 0 { 0.25 } else { 3.0 };
                        histogram!("rpc_seconds", "thread" => t.to_string()).record(v);
                        histogram!("body_bytes").record(50.0);
                    }
                    histogram!("rpc_seconds", "thread" => t.to_string()).record_many(0.25, 10);
                });
            });
        }
    });
    let (_, e) = scrape(&reg);
    for t in ["0", "1"] {
        let b = |le: &str| {
            value(
                &e,
                "rpc_seconds",
                "rpc_seconds_bucket",
                &[("thread", t), ("le", le)],
            )
        };
        assert_eq!(b("0.25"), (per / 2 + 10) as f64);
        assert_eq!(b("2"), (per / 2 + 10) as f64);
        assert_eq!(b("4"), (per + 10) as f64);
        assert_eq!(b("+Inf"), (per + 10) as f64);
        let sum = value(&e, "rpc_seconds", "rpc_seconds_sum", &[("thread", t)]);
        assert_eq!(sum, (per / 2) as f64 * 3.25 + 2.5);
    }
    // The classic histogram keeps its own buckets.
    assert_eq!(
        value(&e, "body_bytes", "body_bytes_bucket", &[("le", "100")]),
        (2 * per) as f64
    );
    // In protobuf the matched name is a native histogram.
    let mut pb = Vec::new();
    reg.encode_format(&mut pb, telemeter::Format::Protobuf);
    let Some(protoc) = prom_support::tool_or_skip("protoc", "protobuf-compiler") else {
        return;
    };
    let mut child = std::process::Command::new(protoc)
        .args(["--decode_raw"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // One delimited message per family: decode the first (rpc_seconds,
    // registered first).
    let (len, at) = (usize::from(pb[0] & 0x7f) | usize::from(pb[1]) << 7, 2);
    assert!(pb[0] & 0x80 != 0 && pb[1] < 0x80, "a two-byte length");
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), &pb[at..at + len]).unwrap();
    let raw = String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap();
    assert!(raw.contains("1: \"rpc_seconds\""), "{raw}");
    // Histogram field 7, schema (field 5, zigzag 3 = 6) and spans (12).
    assert!(raw.contains("5: 6") && raw.contains("12 {"), "{raw}");
}
