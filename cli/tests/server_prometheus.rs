//! A real Prometheus server scrapes `telemeter demo` on loopback every
//! second, over OpenMetrics with exemplar storage on; through Prometheus's
//! HTTP API, `up` must reach 1, a demo counter's `rate()` must be positive,
//! and `/api/v1/query_exemplars` must return the trace ids the demo
//! attached to its RPC latencies. A second test has it scrape an
//! overflowed family (one series per label set, none dropped).
//!
//! Needs the `prometheus` binary on PATH (Debian's `prometheus` package);
//! without it the tests say so on stderr and pass, except under CI (`CI`
//! set), where `.ci/run` installs it and its absence fails them.

#[path = "../../tests/prom_support/mod.rs"]
mod prom_support;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use prom_support::{prometheus_or_skip, query, try_get, Prometheus, Reaped};

const BIN: &str = env!("CARGO_BIN_EXE_telemeter");

#[test]
fn real_prometheus_scrapes_the_demo_skipped_without_prometheus_binary() {
    let Some(prometheus) = prometheus_or_skip() else {
        return;
    };

    // The demo, on an OS-chosen loopback port.
    let mut demo = Command::new(BIN)
        .args([
            "demo",
            "--metrics-addr",
            "127.0.0.1:0",
            "--health-addr",
            "127.0.0.1:0",
            "--admin-addr",
            "127.0.0.1:0",
            "--threads",
            "2",
            "--drain-ms",
            "0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run telemeter demo");
    let stdout = demo.stdout.take().unwrap();
    let mut demo = Reaped(Some(demo));
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let metrics: SocketAddr = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("demo printed its metrics line");
        if let Some(url) = line.strip_prefix("metrics listening on http://") {
            break url.trim_end_matches("/metrics").parse().unwrap();
        }
    };

    let prom = Prometheus::start_flagged(
        &prometheus,
        "telemeter-demo",
        metrics,
        &["--enable-feature=exemplar-storage"],
    );
    let prom_addr = prom.addr;

    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut up, mut rate) = (None, None);
    while Instant::now() < deadline {
        up = query(prom_addr, "up{job=\"telemeter-demo\"}");
        rate = query(prom_addr, "sum(rate(oxg_rpc_requests_total[5s]))");
        if up == Some(1.0) && rate.is_some_and(|r| r > 0.0) {
            break;
        }
        thread::sleep(Duration::from_millis(500));
    }
    assert!(
        up == Some(1.0) && rate.is_some_and(|r| r > 0.0),
        "after 60 s: up={up:?} rate={rate:?}\n{}",
        prom.report()
    );
    // The seed dashboard's p95, as a sanity check of the histograms.
    let p95 = query(
        prom_addr,
        "histogram_quantile(0.95, sum(rate(llm_latency_ms_bucket[5s])) by (le))",
    );
    eprintln!("up=1, rate(oxg_rpc_requests_total[5s]) summed = {rate:?}/s, llm p95 = {p95:?} ms");
    assert_eq!(
        query(prom_addr, "demo_build_info{agent=\"telemeter-demo\"}"),
        Some(1.0)
    );
    // The exemplars the demo attached: 32-hex-digit trace ids on the RPC
    // latency buckets, kept by Prometheus.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let path = format!(
        "/api/v1/query_exemplars?query={}&start={}&end={}",
        prom_support::percent_encode("oxg_rpc_duration_seconds_bucket"),
        now - 600,
        now + 600
    );
    let answer = try_get(prom_addr, &path)
        .map(|r| r.text())
        .unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(&answer).unwrap_or_default();
    let ids: Vec<&str> = v["data"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|series| series["exemplars"].as_array().into_iter().flatten())
        .filter_map(|e| e["labels"]["trace_id"].as_str())
        .collect();
    assert!(!ids.is_empty(), "no exemplars: {answer}\n{}", prom.report());
    assert!(
        ids.iter()
            .all(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())),
        "{ids:?}"
    );
    // The native histogram's unit came through OpenMetrics' metadata.
    let meta = try_get(
        prom_addr,
        "/api/v1/targets/metadata?metric=rpc_latency_seconds",
    )
    .map(|r| r.text())
    .unwrap_or_default();
    assert!(meta.contains("\"unit\":\"seconds\""), "{meta}");

    // Stop both: Prometheus first, then the demo with SIGTERM (exit 0).
    prom.stop();

    let mut d = demo.0.take().unwrap();
    let status = Command::new("kill")
        .args(["-TERM", &d.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let stop = Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(s) = d.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > stop {
            let _ = d.kill();
            panic!("demo did not exit after SIGTERM");
        }
        thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "demo exit {exit:?}");
}

/// An overflowed family, a caller refused the overflow series' own label
/// set (`Error::OverflowLabelSet`), scraped by a real Prometheus: every
/// label set is one series there, with its value, and Prometheus dropped
/// no sample as a duplicate (before, a user series `{k="__overflow__"}`
/// beside the overflow series made Prometheus keep one and drop the other).
#[test]
fn real_prometheus_keeps_every_series_of_an_overflowed_family() {
    let Some(prometheus) = prometheus_or_skip() else {
        return;
    };
    let reg = telemeter::Registry::new();
    let fam = reg
        .counter_family(
            telemeter::Opts::new("ov_requests_total", "Requests.")
                .labels(&["k"])
                .max_series(2),
        )
        .unwrap();
    fam.with_label_values(&["a"]).unwrap().add(1);
    fam.with_label_values(&["b"]).unwrap().add(2);
    fam.with_label_values(&["c"]).unwrap().add(10); // past the limit
    let refused = fam.with_label_values(&[telemeter::OVERFLOW_LABEL_VALUE]);
    assert!(
        matches!(refused, Err(telemeter::Error::OverflowLabelSet { .. })),
        "{refused:?}"
    );
    let exporter = telemeter::server::Exporter::builder()
        .registry(reg)
        .metrics_addr("127.0.0.1:0")
        .no_health()
        .no_admin()
        .start()
        .expect("exporter");
    let prom = Prometheus::start(&prometheus, "overflow", exporter.metrics_addr().unwrap());
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut count, mut overflow, mut up) = (None, None, None);
    while Instant::now() < deadline {
        up = query(prom.addr, "up{job=\"overflow\"}");
        count = query(prom.addr, "count(ov_requests_total)");
        overflow = query(prom.addr, "ov_requests_total{k=\"__overflow__\"}");
        if up == Some(1.0) && count == Some(3.0) && overflow.is_some() {
            break;
        }
        thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(up, Some(1.0), "{}", prom.report());
    assert_eq!(
        count,
        Some(3.0),
        "a, b and the overflow series\n{}",
        prom.report()
    );
    assert_eq!(overflow, Some(10.0), "{}", prom.report());
    // Prometheus's own counter of samples it dropped as duplicates, from
    // its /metrics (it does not scrape itself here).
    let own = try_get(prom.addr, "/metrics")
        .expect("prometheus /metrics")
        .text();
    let dropped: Vec<f64> = own
        .lines()
        .filter(|l| l.starts_with("prometheus_target_scrapes_sample_duplicate_timestamp_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    assert_eq!(dropped, [0.0], "samples Prometheus dropped as duplicates");
    prom.stop();
}
