//! `telemeter::push::RemoteWrite` and `Registry::encode_remote_write`:
//! the body decoded by an independent decoder (`protoc --decode` against
//! `tests/proto/remote.proto`, Debian's `protobuf-compiler`), and sends
//! into a real Prometheus started with `--web.enable-remote-write-receiver`
//! on a free loopback port, read back with PromQL. Outside CI the tests
//! skip without the binaries; under CI `.ci/run` installs them.

mod prom_support;

use std::io::Write as _;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use prom_support::{prometheus_or_skip, query, tool_or_skip, Prometheus};
use telemeter::push::{PushError, RemoteWrite};
use telemeter::{Buckets, Opts, Registry};

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
    child.stdin.take().unwrap().write_all(&body).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
    let sent = loop {
        match rw.send(&reg) {
            Ok(sent) => break sent,
            Err(e) => {
                assert!(Instant::now() < deadline, "{e}\n{}", prom.report());
                thread::sleep(Duration::from_millis(200));
            }
        }
    };
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
        RemoteWrite::builder("https://rw:443/api/v1/write"),
        RemoteWrite::builder("http://rw:9090/api/v1/write").header("Content-Encoding", "gzip"),
        RemoteWrite::builder("http://rw:9090/api/v1/write").header("bad name", "x"),
        RemoteWrite::builder("http://rw:9090/api/v1/write").timeout(Duration::ZERO),
    ] {
        assert!(b.build().is_err());
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
