//! `telemeter::push::RemoteWrite` and `Registry::encode_remote_write`:
//! the body decoded by an independent decoder (`protoc --decode` against
//! `tests/proto/remote.proto`, Debian's `protobuf-compiler`), and sends
//! into a real Prometheus started with `--web.enable-remote-write-receiver`
//! on a free loopback port, read back with PromQL. Outside CI the tests
//! skip without the binaries; under CI `.ci/run` installs them.

mod prom_support;
mod rw_support;

use std::io::Write as _;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use prom_support::{prometheus_or_skip, query, tool_or_skip, Prometheus};
use rw_support::count_series;
use telemeter::push::{PushError, RemoteWrite, RemoteWriter, Sent, WriterStats};
use telemeter::{Buckets, NativeBuckets, Opts, Registry};

fn registry() -> Registry {
    let reg = Registry::builder().self_metrics(false).build();
    reg.counter("rw_files_total", "Files.").unwrap().add(42);
    reg.gauge("rw_temperature", "Degrees.").unwrap().set(-7);
    let calls = reg
        .counter_family(Opts::new("rw_calls_total", "Calls.").labels(&["zone", "method"]))
        .unwrap();
    calls
        .with_label_values(&["eu \"west\"\n2", "GET"])
        .unwrap()
        .add(5);
    let lat = reg
        .histogram(
            "rw_latency_seconds",
            "Latency.",
            Buckets::new(vec![0.1, 1.0]).unwrap(),
        )
        .unwrap();
    lat.observe(0.05);
    lat.observe(0.5);
    lat.observe(5.0);
    reg
}

#[test]
fn the_body_decodes_with_protoc_against_the_upstream_schema() {
    let Some(protoc) = tool_or_skip("protoc", "protobuf-compiler") else {
        return;
    };
    let mut body = Vec::new();
    let series = registry().encode_remote_write(&mut body, 1_700_000_000_123);
    // 3 plain series, and the histogram's 3 buckets, sum and count.
    assert_eq!(series, 8);
    let text = protoc_decode(&protoc, &body);
    assert_eq!(text.matches("timeseries {").count(), 8, "{text}");
    assert_eq!(
        text.matches("timestamp: 1700000000123").count(),
        8,
        "{text}"
    );
    // protoc prints a message's fields in order: labels sorted by name,
    // then the sample.
    let series_of = |name: &str| -> String {
        let at = text
            .find(&format!("value: \"{name}\""))
            .unwrap_or_else(|| panic!("no {name} in {text}"));
        let start = text[..at].rfind("timeseries {").unwrap();
        let end = at + text[at..].find("timeseries {").unwrap_or(text.len() - at);
        text[start..end].to_string()
    };
    let calls = series_of("rw_calls_total");
    let names: Vec<&str> = calls
        .lines()
        .filter_map(|l| l.trim().strip_prefix("name: "))
        .collect();
    assert_eq!(names, ["\"__name__\"", "\"method\"", "\"zone\""], "{calls}");
    assert!(
        calls.contains(r#"value: "eu \"west\"\n2""#),
        "unescaped: {calls}"
    );
    assert!(calls.contains("value: 5\n"), "{calls}");
    assert!(series_of("rw_files_total").contains("value: 42\n"));
    assert!(series_of("rw_temperature").contains("value: -7\n"));
    assert!(series_of("rw_latency_seconds_count").contains("value: 3\n"));
    assert!(series_of("rw_latency_seconds_sum").contains("value: 5.55\n"));
    assert!(text.contains("value: \"+Inf\""), "{text}");
}

/// `body` (a `WriteRequest`) as `protoc --decode` prints it.
fn protoc_decode(protoc: &std::path::Path, body: &[u8]) -> String {
    let proto_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/proto");
    let mut child = Command::new(protoc)
        .arg(format!("--proto_path={proto_dir}"))
        .arg("--decode=prometheus.WriteRequest")
        .arg("remote.proto")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run protoc");
    child.stdin.take().unwrap().write_all(body).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("protoc prints UTF-8")
}

/// Sends once the receiver takes requests (it may need a moment after it
/// listens), failing with its log at `deadline`.
fn send_when_up(rw: &RemoteWrite, reg: &Registry, deadline: Instant, prom: &Prometheus) -> Sent {
    loop {
        match rw.send(reg) {
            Ok(sent) => return sent,
            Err(e) => {
                assert!(Instant::now() < deadline, "{e}\n{}", prom.report());
                thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

/// A registry of one native histogram of schema 0 (bucket `i` holds
/// `(2^(i-1), 2^i]`), observed at known values, and its sum.
fn native_registry() -> (Registry, f64) {
    let reg = Registry::builder().self_metrics(false).build();
    let h = reg
        .native_histogram("rw_wait_seconds", "Waits.", NativeBuckets::new(0).unwrap())
        .unwrap();
    // Buckets 0 (1.0), 2 (3.0 and 3.5: (2, 4]) and 7 (100: (64, 128]),
    // and the zero bucket (0.0).
    let values = [1.0, 3.0, 3.5, 100.0, 0.0];
    for v in values {
        h.observe(v);
    }
    (reg, values.iter().sum())
}

#[test]
fn native_histograms_decode_with_protoc_as_one_histogram_message() {
    let Some(protoc) = tool_or_skip("protoc", "protobuf-compiler") else {
        return;
    };
    let (reg, sum) = native_registry();
    let mut body = Vec::new();
    assert_eq!(
        reg.encode_remote_write_native(&mut body, 1_700_000_000_123),
        1
    );
    let text = protoc_decode(&protoc, &body);
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    assert_eq!(text.matches("timeseries {").count(), 1, "{text}");
    assert!(!text.contains("samples {"), "{text}");
    assert!(lines.contains(&"value: \"rw_wait_seconds\""), "{text}");
    for want in [
        "count_int: 5".to_string(),
        format!("sum: {sum}"),
        "zero_count_int: 1".to_string(),
        "timestamp: 1700000000123".to_string(),
    ] {
        assert!(lines.contains(&want.as_str()), "{want} in {text}");
    }
    // Schema 0 is the default of a proto3 field: not written, read as 0.
    assert!(lines
        .iter()
        .all(|l| !l.starts_with("schema:") || *l == "schema: 0"));
    // Indexes 0..=2 are one span (the empty bucket 1 bridged, as
    // client_golang does), 7 another, 4 past its end.
    let spans: Vec<(i64, u64)> = text
        .split("positive_spans {")
        .skip(1)
        .map(|s| {
            let body = &s[..s.find('}').unwrap()];
            let field = |name: &str| {
                body.lines()
                    .find_map(|l| l.trim().strip_prefix(name))
                    .map_or(0, |v| v.trim().parse::<i64>().unwrap())
            };
            (field("offset:"), field("length:") as u64)
        })
        .collect();
    assert_eq!(spans, [(0, 3), (4, 1)], "{text}");
    let deltas: Vec<i64> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("positive_deltas: "))
        .map(|v| v.parse().unwrap())
        .collect();
    // Counts 1, 0, 2, 1 as deltas from the previous bucket.
    assert_eq!(deltas, [1, -1, 2, -1], "{text}");
    // The classic encode of the same registry carries no Histogram.
    let mut classic = Vec::new();
    let n = reg.encode_remote_write(&mut classic, 1_700_000_000_123);
    let text = protoc_decode(&protoc, &classic);
    assert_eq!(text.matches("timeseries {").count(), n);
    assert!(!text.contains("histograms {") && text.contains("rw_wait_seconds_bucket"));
}

#[test]
fn a_real_prometheus_with_native_histograms_takes_them_whole() {
    let Some(prometheus) = prometheus_or_skip() else {
        return;
    };
    let prom = Prometheus::start_with_args(
        &prometheus,
        "",
        &[
            "--web.enable-remote-write-receiver",
            "--enable-feature=native-histograms",
        ],
    );
    let url = format!("http://{}/api/v1/write", prom.addr);
    let rw = RemoteWrite::builder(url.as_str())
        .native_histograms(true)
        .build()
        .unwrap();
    let (reg, sum) = native_registry();
    let deadline = Instant::now() + Duration::from_secs(60);
    let sent = send_when_up(&rw, &reg, deadline, &prom);
    assert_eq!(sent.series, 1);
    let mut count = None;
    while Instant::now() < deadline && count.is_none() {
        count = query(prom.addr, "histogram_count(rw_wait_seconds)");
        thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(count, Some(5.0), "{}", prom.report());
    assert_eq!(
        query(prom.addr, "histogram_sum(rw_wait_seconds)"),
        Some(sum)
    );
    // The median (the third of 0, 1, 3, 3.5, 100) is in bucket (2, 4].
    let median = query(prom.addr, "histogram_quantile(0.5, rw_wait_seconds)").unwrap();
    assert!(median > 2.0 && median <= 4.0, "{median}");
    assert_eq!(query(prom.addr, "count(rw_wait_seconds_bucket)"), None);
    prom.stop();
    // A receiver without native histograms refuses the request, as
    // `RemoteWriteBuilder::native_histograms` says.
    let plain =
        Prometheus::start_with_args(&prometheus, "", &["--web.enable-remote-write-receiver"]);
    let url = format!("http://{}/api/v1/write", plain.addr);
    let rw = RemoteWrite::builder(url.as_str())
        .native_histograms(true)
        .build()
        .unwrap();
    let refused = loop {
        match rw.send(&reg) {
            Err(PushError::Connect { .. }) if Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(200))
            }
            other => break other,
        }
    };
    match refused {
        Err(PushError::Rejected { status, body, .. }) => {
            assert_eq!(status, 500);
            assert!(body.contains("native histograms are disabled"), "{body}");
        }
        other => panic!("{other:?}"),
    }
    plain.stop();
}

#[test]
fn a_real_prometheus_receiver_answers_promql_over_what_was_sent() {
    let Some(prometheus) = prometheus_or_skip() else {
        return;
    };
    let prom =
        Prometheus::start_with_args(&prometheus, "", &["--web.enable-remote-write-receiver"]);
    let url = format!("http://{}/api/v1/write", prom.addr);
    let rw = RemoteWrite::builder(url.as_str())
        .header("X-Scope-OrgID", "tenant-1")
        .build()
        .unwrap();
    let reg = registry();
    // The receiver may need a moment after it listens.
    let deadline = Instant::now() + Duration::from_secs(60);
    let sent = send_when_up(&rw, &reg, deadline, &prom);
    assert_eq!(sent.series, 8);
    assert!(sent.bytes > 0);
    let mut got = None;
    while Instant::now() < deadline {
        got = query(prom.addr, "rw_files_total");
        if got.is_some() {
            break;
        }
        thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(got, Some(42.0), "{}", prom.report());
    assert_eq!(query(prom.addr, "rw_temperature"), Some(-7.0));
    assert_eq!(
        query(
            prom.addr,
            "rw_calls_total{method=\"GET\",zone=\"eu \\\"west\\\"\\n2\"}"
        ),
        Some(5.0)
    );
    assert_eq!(
        query(prom.addr, "rw_latency_seconds_bucket{le=\"1\"}"),
        Some(2.0)
    );
    assert_eq!(query(prom.addr, "rw_latency_seconds_count"), Some(3.0));
    // A later send carries the new totals.
    reg.counter("rw_extra_total", "Extra.").unwrap().inc();
    thread::sleep(Duration::from_millis(5));
    rw.send(&reg).unwrap();
    let mut extra = None;
    while Instant::now() < deadline && extra.is_none() {
        extra = query(prom.addr, "rw_extra_total");
        thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(extra, Some(1.0));
    prom.stop();
}

#[test]
fn a_receiver_that_refuses_is_a_typed_error_and_bad_settings_are_refused_at_build() {
    let Some(prometheus) = prometheus_or_skip() else {
        return;
    };
    // Without the receiver flag Prometheus answers the write path with an
    // error status, which must come back with its reason.
    let prom = Prometheus::start_with(&prometheus, "");
    let rw = RemoteWrite::builder(format!("http://{}/api/v1/write", prom.addr))
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let err = loop {
        match rw.send(&registry()) {
            Err(PushError::Rejected { status, body, .. }) => break (status, body),
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                thread::sleep(Duration::from_millis(200));
            }
            other => panic!("{other:?}\n{}", prom.report()),
        }
    };
    assert!((400..500).contains(&err.0), "{err:?}");
    assert!(!err.1.is_empty(), "the receiver's reason is kept");
    prom.stop();

    for b in [
        RemoteWrite::builder("ftp://rw:443/api/v1/write"),
        RemoteWrite::builder("http://rw:9090/api/v1/write").header("Content-Encoding", "gzip"),
        RemoteWrite::builder("http://rw:9090/api/v1/write").header("bad name", "x"),
        RemoteWrite::builder("http://rw:9090/api/v1/write").timeout(Duration::ZERO),
    ] {
        assert!(b.build().is_err());
    }
    // Nothing given reaches the request's head unchecked: a header value
    // or a bearer token with a line break would add headers of its own.
    for b in [
        RemoteWrite::builder("http://rw:9090/api/v1/write").header("X-Tenant", "a\r\nX-Evil: 1"),
        RemoteWrite::builder("http://rw:9090/api/v1/write").bearer_token("t\r\nX-Evil: 1"),
    ] {
        match b.build() {
            Err(PushError::InvalidHeader { reason, .. }) => {
                assert!(reason.contains("cannot carry"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
    }
    // A silent receiver is a timeout.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let err = RemoteWrite::builder(format!(
        "http://{}/api/v1/write",
        silent.local_addr().unwrap()
    ))
    .timeout(Duration::from_millis(300))
    .build()
    .unwrap()
    .send(&registry())
    .unwrap_err();
    assert!(matches!(err, PushError::Timeout { .. }), "{err:?}");
}

/// A receiver that answers from a script (one status and optional
/// `Retry-After` per request, the last repeated) and records what came:
/// a fault injector for the writer's retry rules, which no real receiver
/// produces on demand. Runs until the test ends.
struct Scripted {
    addr: std::net::SocketAddr,
    seen: std::sync::Arc<std::sync::Mutex<Vec<Seen>>>,
}

#[derive(Debug, Clone)]
struct Seen {
    at: Instant,
    headers: String,
    /// Series in the decompressed `WriteRequest`.
    series: usize,
}

impl Scripted {
    fn start(script: Vec<(u16, Option<u64>)>) -> Scripted {
        use std::io::{BufRead, BufReader, Read};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = std::sync::Arc::clone(&seen);
        thread::spawn(move || {
            for (n, stream) in listener.incoming().enumerate() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut headers = String::new();
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                    headers.push_str(&line);
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
                log.lock().unwrap().push(Seen {
                    at: Instant::now(),
                    headers,
                    series: count_series(&raw),
                });
                let (status, retry) = script[n.min(script.len() - 1)];
                let retry = retry
                    .map(|s| format!("Retry-After: {s}\r\n"))
                    .unwrap_or_default();
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\n{retry}Content-Length: 2\r\nConnection: close\r\n\r\nno"
                );
            }
        });
        Scripted { addr, seen }
    }

    fn url(&self) -> String {
        format!("http://{}/api/v1/write", self.addr)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// Waits until `done` holds for the writer's statistics, failing with
/// them and `report()` at `deadline`.
fn until(
    writer: &RemoteWriter,
    deadline: Instant,
    done: impl Fn(&WriterStats) -> bool,
    report: impl Fn() -> String,
) {
    loop {
        let stats = writer.stats();
        if done(&stats) {
            return;
        }
        assert!(Instant::now() < deadline, "{stats:?}\n{}", report());
        thread::sleep(Duration::from_millis(20));
    }
}

fn counters(n: usize) -> Registry {
    let reg = Registry::builder().self_metrics(false).build();
    let fam = reg
        .counter_family(Opts::new("rw_many_total", "Many.").labels(&["i"]))
        .unwrap();
    for i in 0..n {
        fam.with_label_values(&[&i.to_string()])
            .unwrap()
            .add(i as u64);
    }
    reg
}

#[test]
fn a_writer_splits_large_registries_and_honours_retry_after_on_a_503() {
    let rx = Scripted::start(vec![(503, Some(1)), (200, None)]);
    let reg = counters(250);
    let writer = RemoteWrite::builder(rx.url())
        .max_samples_per_request(100)
        .interval(Duration::from_secs(3600))
        .external_label("replica", "a")
        .build()
        .unwrap()
        .start(&reg)
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    until(&writer, deadline, |s| s.requests_sent >= 3, String::new);
    let stats = writer.shutdown(Duration::from_secs(10));
    let seen = rx.seen();
    // 3 requests of the first collection (the first twice), 3 of the final.
    assert_eq!(
        seen.iter().map(|s| s.series).collect::<Vec<_>>(),
        [100, 100, 100, 50, 100, 100, 50]
    );
    assert!(
        seen[1].at - seen[0].at >= Duration::from_secs(1),
        "Retry-After: 1 was honoured ({:?})",
        seen[1].at - seen[0].at
    );
    for s in &seen {
        let h = s.headers.to_ascii_lowercase();
        for want in [
            "content-encoding: snappy",
            "content-type: application/x-protobuf",
            "x-prometheus-remote-write-version: 0.1.0",
            "user-agent: telemeter/",
        ] {
            assert!(h.contains(want), "{want} in {h}");
        }
    }
    assert_eq!(stats.samples_sent, 500);
    assert_eq!(stats.samples_retried, 100);
    assert_eq!(stats.requests_sent, 6);
    assert_eq!((stats.samples_failed, stats.samples_dropped), (0, 0));
    assert_eq!(stats.pending_batches, 0);
    assert!(stats.last_success.is_some());
}

#[test]
fn a_writer_does_not_retry_a_400_and_counts_it_in_its_self_metrics() {
    let rx = Scripted::start(vec![(400, None)]);
    let reg = Registry::new(); // self-metrics on
    reg.counter("rw_bad_total", "Bad.").unwrap().inc();
    let writer = RemoteWrite::builder(rx.url())
        .interval(Duration::from_millis(100))
        .build()
        .unwrap()
        .start(&reg)
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while rx.seen().len() < 4 {
        assert!(Instant::now() < deadline, "{:?}", writer.stats());
        thread::sleep(Duration::from_millis(20));
    }
    let stats = writer.shutdown(Duration::from_secs(5));
    // One request per collection, the shutdown's included: none twice.
    let seen = rx.seen();
    assert_eq!(stats.samples_retried, 0, "a 400 is not retried");
    assert_eq!(stats.samples_sent, 0);
    assert_eq!(
        stats.samples_failed,
        seen.iter().map(|s| s.series as u64).sum::<u64>()
    );
    assert!(
        stats.last_error.as_deref().unwrap_or("").contains("400"),
        "{stats:?}"
    );
    let body = reg.encode_to_string();
    let remote = rx.url();
    assert!(
        body.contains(&format!(
            "telemeter_remote_write_samples_total{{remote=\"{remote}\",outcome=\"failed\"}} {}\n",
            stats.samples_failed
        )),
        "{body}"
    );
    assert!(body.contains(&format!(
        "telemeter_remote_write_request_duration_seconds_count{{remote=\"{remote}\"}} {}\n",
        seen.len()
    )));
    // A second writer of the same registry shares the families.
    let again = RemoteWrite::builder(rx.url()).build().unwrap().start(&reg);
    assert!(again.is_ok(), "{again:?}");
}

#[test]
fn writer_settings_out_of_range_are_refused_at_build() {
    let url = "http://rw:9090/api/v1/write";
    for (b, setting) in [
        (
            RemoteWrite::builder(url).max_samples_per_request(0),
            "max_samples_per_request",
        ),
        (
            RemoteWrite::builder(url).interval(Duration::ZERO),
            "interval",
        ),
        (RemoteWrite::builder(url).max_pending(0), "max_pending"),
        (
            RemoteWrite::builder(url)
                .min_backoff(Duration::from_secs(10))
                .max_backoff(Duration::from_secs(1)),
            "min_backoff",
        ),
        (
            RemoteWrite::builder(url).external_label("bad-name", "x"),
            "external_label",
        ),
        (
            RemoteWrite::builder(url).external_label("__name__", "x"),
            "external_label",
        ),
        (
            RemoteWrite::builder(url).external_label("le", "x"),
            "external_label",
        ),
    ] {
        match b.build() {
            Err(PushError::InvalidSetting { setting: s, reason }) => {
                assert_eq!(s, setting, "{reason}")
            }
            other => panic!("{setting}: {other:?}"),
        }
    }
}

#[test]
fn a_receiver_outage_loses_resolution_but_not_the_totals() {
    let Some(prometheus) = prometheus_or_skip() else {
        return;
    };
    let mut prom =
        Prometheus::start_with_args(&prometheus, "", &["--web.enable-remote-write-receiver"]);
    let reg = Registry::builder().self_metrics(false).build();
    let jobs = reg.counter("rw_outage_jobs_total", "Jobs.").unwrap();
    let lat = reg
        .histogram(
            "rw_outage_seconds",
            "Latency.",
            Buckets::new(vec![0.5]).unwrap(),
        )
        .unwrap();
    let writer = RemoteWrite::builder(format!("http://{}/api/v1/write", prom.addr))
        .interval(Duration::from_millis(250))
        .max_pending(4)
        .max_backoff(Duration::from_millis(500))
        .timeout(Duration::from_secs(2))
        .external_label("instance", "outage-test")
        .build()
        .unwrap()
        .start(&reg)
        .unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let recorder = {
        let (stop, jobs, lat) = (stop.clone(), jobs.clone(), lat.clone());
        thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                jobs.inc();
                lat.observe(if n % 3 == 0 { 1.0 } else { 0.1 });
                n += 1;
                thread::sleep(Duration::from_millis(2));
            }
            n
        })
    };
    // Delivered before the outage.
    let deadline = Instant::now() + Duration::from_secs(60);
    until(&writer, deadline, |s| s.samples_sent > 0, || prom.report());
    prom.pause();
    thread::sleep(Duration::from_secs(10));
    let during = writer.stats();
    prom.resume();
    thread::sleep(Duration::from_secs(3));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let recorded = recorder.join().unwrap();
    let stats = writer.shutdown(Duration::from_secs(20));
    assert!(during.samples_retried > 0, "retried while away: {during:?}");
    assert!(
        during.samples_dropped > 0,
        "the queue dropped its oldest: {during:?}"
    );
    assert_eq!(stats.pending_batches, 0, "{stats:?}");
    let q = |expr: &str| {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got = query(prom.addr, expr);
            if got.is_some() || Instant::now() > deadline {
                return got;
            }
            thread::sleep(Duration::from_millis(200));
        }
    };
    assert_eq!(
        q("rw_outage_jobs_total{instance=\"outage-test\"}"),
        Some(recorded as f64),
        "{stats:?}\n{}",
        prom.report()
    );
    assert_eq!(q("rw_outage_seconds_count"), Some(recorded as f64));
    assert_eq!(
        q("rw_outage_seconds_bucket{le=\"0.5\"}"),
        Some((recorded - recorded.div_ceil(3)) as f64)
    );
    prom.stop();
}

/// The bcrypt hash of "push-secret", for the receiver's `basic_auth_users`.
const WRITER_HASH: &str = "$2b$12$SEdxPbBb.TUTdzimkjVGX.EOgvB1TgyIAkysEc5LCGhrxq6iPxdyC";

#[test]
fn wrong_credentials_are_counted_401s_and_no_data() {
    let Some(prometheus) = prometheus_or_skip() else {
        return;
    };
    let dir = prom_support::TempDir::new("rw-auth");
    let web = dir.0.join("web.yml");
    std::fs::write(
        &web,
        format!("basic_auth_users:\n  pusher: {WRITER_HASH}\n"),
    )
    .unwrap();
    let web_arg = format!("--web.config.file={}", web.display());
    let prom = Prometheus::start_with_args(
        &prometheus,
        "",
        &["--web.enable-remote-write-receiver", &web_arg],
    );
    let url = format!("http://{}/api/v1/write", prom.addr);
    let reg = registry();
    // Listening first (any answer, a 401 included): a refused connection
    // is retried, which is not what this test counts.
    let deadline = Instant::now() + Duration::from_secs(60);
    while prom_support::try_get(prom.addr, "/-/ready").is_none() {
        assert!(Instant::now() < deadline, "{}", prom.report());
        thread::sleep(Duration::from_millis(100));
    }
    let wrong = RemoteWrite::builder(url.as_str())
        .basic_auth("pusher", "wrong")
        .interval(Duration::from_millis(100))
        .build()
        .unwrap()
        .start(&reg)
        .unwrap();
    until(&wrong, deadline, |s| s.samples_failed > 0, || prom.report());
    let stats = wrong.shutdown(Duration::from_secs(5));
    assert_eq!(
        (stats.samples_sent, stats.samples_retried),
        (0, 0),
        "{stats:?}"
    );
    assert!(
        stats.last_error.as_deref().unwrap_or("").contains("401"),
        "{stats:?}"
    );
    let auth = [("Authorization", "Basic cHVzaGVyOnB1c2gtc2VjcmV0")];
    // The right credentials land; the wrong ones left nothing.
    let right = RemoteWrite::builder(url.as_str())
        .basic_auth("pusher", "push-secret")
        .build()
        .unwrap();
    right.send(&registry()).unwrap();
    let mut got = None;
    while Instant::now() < deadline && got.is_none() {
        got = prom_support::query_with(prom.addr, "count_over_time(rw_files_total[10m])", &auth);
        thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        got,
        Some(1.0),
        "one sample, from the right credentials alone"
    );
    prom.stop();
}

/// A CA, and a certificate it signs (for 127.0.0.1, or a client's).
struct Pki {
    ca_pem: String,
    ca: rcgen::Certificate,
    ca_key: rcgen::KeyPair,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p.distinguished_name
            .push(rcgen::DnType::CommonName, name.to_string());
        p.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let ca = p.self_signed(&ca_key).unwrap();
        Pki {
            ca_pem: ca.pem(),
            ca,
            ca_key,
        }
    }

    /// (certificate PEM, key PEM) for the server at 127.0.0.1 or a client.
    fn issue(&self, server: bool) -> (String, String) {
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        if server {
            p.subject_alt_names = vec![rcgen::SanType::IpAddress("127.0.0.1".parse().unwrap())];
            p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        } else {
            p.distinguished_name
                .push(rcgen::DnType::CommonName, "telemeter-test-client");
            p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        }
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.ca, &self.ca_key).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

#[test]
fn https_with_a_custom_ca_and_a_client_certificate_reaches_a_real_prometheus() {
    let Some(prometheus) = prometheus_or_skip() else {
        return;
    };
    let python = tool_or_skip("python3", "python3");
    let pki = Pki::new("telemeter test CA");
    let (server_cert, server_key) = pki.issue(true);
    let (client_cert, client_key) = pki.issue(false);
    let dir = prom_support::TempDir::new("rw-tls");
    let file = |name: &str, text: &str| {
        let path = dir.0.join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let ca_file = file("ca.pem", &pki.ca_pem);
    let web = file(
        "web.yml",
        &format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n  \
             client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {ca_file}\n",
            file("server.pem", &server_cert),
            file("server.key", &server_key),
        ),
    );
    let client_file = file("client.pem", &client_cert);
    let client_key_file = file("client.key", &client_key);
    let web_arg = format!("--web.config.file={web}");
    let prom = Prometheus::start_with_args(
        &prometheus,
        "",
        &["--web.enable-remote-write-receiver", &web_arg],
    );
    let url = format!("https://{}/api/v1/write", prom.addr);
    let reg = registry();
    let writer = RemoteWrite::builder(url.as_str())
        .ca_certificate_pem(pki.ca_pem.clone())
        .client_certificate_pem(client_cert.clone(), client_key.clone())
        .interval(Duration::from_millis(200))
        .build()
        .unwrap()
        .start(&reg)
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    until(&writer, deadline, |s| s.samples_sent > 0, || prom.report());
    let stats = writer.shutdown(Duration::from_secs(5));
    assert_eq!(stats.samples_failed, 0, "{stats:?}");

    // Without the client certificate the server refuses; with another CA
    // the client refuses the server.
    let no_client = RemoteWrite::builder(url.as_str())
        .ca_certificate_pem(pki.ca_pem.clone())
        .build()
        .unwrap()
        .send(&reg)
        .unwrap_err();
    assert!(
        matches!(
            no_client,
            PushError::Tls { .. } | PushError::Protocol { .. }
        ),
        "{no_client:?}"
    );
    let stranger = Pki::new("another CA");
    let wrong_ca = RemoteWrite::builder(url.as_str())
        .ca_certificate_pem(stranger.ca_pem.clone())
        .build()
        .unwrap()
        .send(&reg)
        .unwrap_err();
    match &wrong_ca {
        PushError::Tls { source, .. } => {
            assert!(
                source.to_string().to_lowercase().contains("certificate"),
                "{source}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        RemoteWrite::builder(url.as_str())
            .ca_certificate_pem("not a pem")
            .build(),
        Err(PushError::InvalidTls { .. })
    ));

    // What landed, read back over the same TLS by an independent client.
    if let Some(python) = python {
        let query = format!("https://{}/api/v1/query?query=rw_files_total", prom.addr);
        let script = format!(
            "import ssl, urllib.request\n\
             ctx = ssl.create_default_context(cafile={ca_file:?})\n\
             ctx.load_cert_chain({client_file:?}, {client_key_file:?})\n\
             print(urllib.request.urlopen({query:?}, context=ctx).read().decode())\n"
        );
        let mut answer = String::new();
        while Instant::now() < deadline {
            let out = Command::new(&python)
                .args(["-c", &script])
                .output()
                .unwrap();
            answer = String::from_utf8_lossy(&out.stdout).into_owned();
            if answer.contains("\"42\"") {
                break;
            }
            thread::sleep(Duration::from_millis(200));
        }
        assert!(answer.contains("\"42\""), "{answer}\n{}", prom.report());
    }
    prom.stop();
}
