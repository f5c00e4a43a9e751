//! Native histograms end to end: exact bucket counts against an
//! independent computation of each value's bucket, the classic view in
//! text and OpenMetrics, real threads with exact totals, and a real
//! Prometheus 2.42 with `--enable-feature=native-histograms` answering
//! `histogram_quantile`, `histogram_count` and `histogram_sum` within the
//! schema's error bound of the exact quantiles of what was recorded.

#[path = "prom_support/mod.rs"]
mod prom_support;

use std::thread;
use std::time::{Duration, Instant};

use prom_support::{query, Prometheus};
use telemeter::server::Exporter;
use telemeter::{NativeBuckets, Opts, Registry};

/// Deterministic log-normal latencies around `median` seconds.
fn lognormal(n: usize, median: f64, seed: u64) -> Vec<f64> {
    let mut s = seed | 1;
    let mut unit = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..n)
        .map(|_| {
            // Box-Muller: a standard normal, sigma 1.
            let (u1, u2) = (unit().max(1e-12), unit());
            let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            median * z.exp()
        })
        .collect()
}

/// The bucket of `v` at `schema` from the definition (upper bounds
/// inclusive, base 2^(2^-schema)), in exact arithmetic on log2 for the
/// values used here (none sits within 1e-9 of a bound).
fn bucket_of(v: f64, schema: i8) -> i32 {
    (v.log2() * 2f64.powi(i32::from(schema))).ceil() as i32
}

#[test]
fn buckets_counts_and_sums_are_exact() {
    let reg = Registry::builder().self_metrics(false).build();
    let h = reg
        .native_histogram("lat_seconds", "Latency.", NativeBuckets::default())
        .unwrap();
    let values = lognormal(10_000, 0.05, 7);
    for v in &values {
        h.observe(*v);
    }
    h.observe(0.0);
    let snap = h.snapshot();
    assert_eq!(snap.count, values.len() as u64 + 1);
    assert_eq!(snap.zero_count, 1);
    let mut want = std::collections::BTreeMap::new();
    for v in &values {
        *want.entry(bucket_of(*v, 3)).or_insert(0u64) += 1;
    }
    let got: std::collections::BTreeMap<i32, u64> = snap.buckets.iter().copied().collect();
    assert_eq!(got, want);
    let sum: f64 = values.iter().sum();
    assert!((snap.sum - sum).abs() < 1e-9 * sum);
}

#[test]
fn out_of_range_values_are_clamped_and_counted() {
    let reg = Registry::new();
    let b = NativeBuckets::new(3).unwrap().range(0.5, 2.0).unwrap();
    let h = reg.native_histogram("narrow", "Narrow.", b).unwrap();
    let clamped = |reg: &Registry| -> u64 {
        let body = reg.encode_to_string();
        body.lines()
            .find_map(|l| l.strip_prefix("telemeter_native_observations_clamped_total "))
            .unwrap()
            .parse()
            .unwrap()
    };
    let before = clamped(&reg);
    for v in [1e-6, 1e6, f64::INFINITY, -3.0, f64::NAN, 1.0] {
        h.observe(v);
    }
    let snap = h.snapshot();
    assert_eq!(snap.count, 6, "every observation counted");
    assert_eq!(snap.zero_count, 2, "the negative and the NaN");
    // 1e-6 into the lowest bucket, 1e6 and +Inf into the highest.
    let (lowest, highest) = (snap.buckets[0], *snap.buckets.last().unwrap());
    assert_eq!(lowest.1, 1);
    assert_eq!(highest.1, 2);
    assert!(snap.sum.is_infinite());
    // Other tests in this binary may clamp too: at least these five.
    assert!(clamped(&reg) >= before + 5);
}

#[test]
fn a_range_past_a_series_cells_or_a_bad_schema_is_refused() {
    use telemeter::{Error, MAX_NATIVE_BUCKETS};
    // Schema 8: 256 buckets per doubling, ranges rounded out to whole
    // doublings: three fit, eight do not.
    let b = NativeBuckets::new(8).unwrap();
    let fits = b.clone().range(0.3, 1.9).unwrap();
    assert!(fits.buckets() <= MAX_NATIVE_BUCKETS);
    let err = b.range(0.1, 10.0).unwrap_err();
    assert!(matches!(err, Error::InvalidBuckets { .. }));
    assert!(
        err.to_string()
            .contains("narrow the range or lower the schema"),
        "{err}"
    );
    for bad in [-5, 9, i8::MIN] {
        assert!(NativeBuckets::new(bad).is_err(), "{bad}");
    }
    assert!(NativeBuckets::default().range(f64::NAN, 1.0).is_err());
    assert!(NativeBuckets::default()
        .zero_threshold(f64::INFINITY)
        .is_err());
    // The same layout registered twice under one name is refused once.
    let reg = Registry::new();
    let _kept = reg
        .native_histogram("n_seconds", "N.", NativeBuckets::default())
        .unwrap();
    assert!(matches!(
        reg.native_histogram("n_seconds", "N.", NativeBuckets::default()),
        Err(Error::DuplicateMetric { .. })
    ));
    // Its sample names are reserved like a classic histogram's.
    assert!(reg.counter("n_seconds_count", "C.").is_err());
}

#[test]
fn text_and_openmetrics_get_a_classic_view_that_parses() {
    let reg = Registry::new();
    let fam = reg
        .native_histogram_family(
            Opts::new("rpc_duration_seconds", "RPC latency.")
                .labels(&["rpc"])
                .unit("seconds"),
            NativeBuckets::default(),
        )
        .unwrap();
    let values = lognormal(1_000, 0.02, 11);
    fam.with(&["get"], |h| values.iter().for_each(|v| h.observe(*v)))
        .unwrap();
    let text = reg.encode_to_string();
    let parsed = telemeter::parse::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let f = parsed.family("rpc_duration_seconds").unwrap();
    let bucket = |le: &str| {
        f.find("rpc_duration_seconds_bucket", &[("le", le), ("rpc", "get")])
            .unwrap()
            .value
    };
    // Exact cumulative counts at power-of-two bounds.
    for (le, bound) in [
        ("0.015625", 0.015625),
        ("0.03125", 0.03125),
        ("0.0625", 0.0625),
    ] {
        let want = values.iter().filter(|v| **v <= bound).count() as f64;
        assert_eq!(bucket(le), want, "le={le}");
    }
    assert_eq!(bucket("+Inf"), 1_000.0);
    let om = reg.encode_openmetrics_to_string();
    telemeter::parse::openmetrics::parse(&om).unwrap_or_else(|e| panic!("{e}\n{om}"));
    if let Some(promtool) = prom_support::tool_or_skip("promtool", "prometheus") {
        let findings = prom_support::promtool_lint(&promtool, &text);
        assert!(findings.is_empty(), "{findings:?}");
    }
}

#[test]
fn threads_recording_into_one_handle_lose_nothing() {
    let reg = Registry::new();
    let h = reg
        .native_histogram("shared_seconds", "Shared.", NativeBuckets::default())
        .unwrap();
    let per = 50_000;
    thread::scope(|s| {
        for t in 0..4 {
            let h = h.clone();
            s.spawn(move || {
                for v in lognormal(per, 0.01, 100 + t) {
                    h.observe(v);
                }
            });
        }
    });
    let snap = h.snapshot();
    assert_eq!(snap.count, 4 * per as u64);
    let mut want = std::collections::BTreeMap::new();
    for t in 0..4 {
        for v in lognormal(per, 0.01, 100 + t) {
            *want.entry(bucket_of(v, 3)).or_insert(0u64) += 1;
        }
    }
    let got: std::collections::BTreeMap<i32, u64> = snap.buckets.iter().copied().collect();
    assert_eq!(got, want);
}

#[test]
fn a_real_prometheus_answers_quantiles_within_the_schemas_bound() {
    let Some(bin) = prom_support::prometheus_or_skip() else {
        return;
    };
    let reg = Registry::new();
    let buckets = NativeBuckets::default();
    let bound = buckets.max_relative_error();
    let h = reg
        .native_histogram("request_duration_seconds", "Latency.", buckets)
        .unwrap();
    let mut values = lognormal(20_000, 0.1, 42);
    for v in &values {
        h.observe(*v);
    }
    let handle = Exporter::builder()
        .registry(reg)
        .metrics_addr("127.0.0.1:0")
        .no_health()
        .no_admin()
        .start()
        .unwrap();
    let target = handle.metrics_addr().unwrap();
    let prom = Prometheus::start_flagged(
        &bin,
        "native",
        target,
        &["--enable-feature=native-histograms"],
    );
    let until = Instant::now() + Duration::from_secs(60);
    while query(prom.addr, "histogram_count(request_duration_seconds)").is_none() {
        assert!(
            Instant::now() < until,
            "no native series\n{}",
            prom.report()
        );
        thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(
        query(prom.addr, "histogram_count(request_duration_seconds)"),
        Some(20_000.0)
    );
    let sum: f64 = values.iter().sum();
    let got = query(prom.addr, "histogram_sum(request_duration_seconds)").unwrap();
    assert!((got - sum).abs() < 1e-9 * sum, "{got} vs {sum}");
    // The classic series are not there: Prometheus took the native one.
    assert_eq!(
        query(prom.addr, "count(request_duration_seconds_bucket)"),
        None
    );
    values.sort_by(f64::total_cmp);
    for q in [0.5, 0.9, 0.99] {
        let exact = values[((q * values.len() as f64).ceil() as usize).max(1) - 1];
        let est = query(
            prom.addr,
            &format!("histogram_quantile({q}, request_duration_seconds)"),
        )
        .unwrap();
        let err = (est - exact).abs() / exact;
        assert!(
            err < bound,
            "q={q}: Prometheus {est}, exact {exact}, error {err} over {bound}"
        );
    }
    prom.stop();
    handle.shutdown();
}
