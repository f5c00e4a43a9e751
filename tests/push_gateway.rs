//! `telemeter::push::Pushgateway` against a real Pushgateway (Debian's
//! `prometheus-pushgateway`) and a real Prometheus scraping it with
//! `honor_labels: true`, each started here on a free loopback port.
//! Outside CI the tests skip without the binaries; under CI `.ci/run`
//! installs them.

mod prom_support;

use std::net::{SocketAddr, TcpListener};
use std::thread;
use std::time::{Duration, Instant};

use prom_support::{prometheus_or_skip, query, request, tool_or_skip, Prometheus, Pushgateway};
use telemeter::push::{self, PushError};
use telemeter::{Buckets, Format, NativeBuckets, Opts, Registry};

/// The bcrypt hash of "push-secret", for the gateway's `basic_auth_users`.
const PUSHER_HASH: &str = "$2b$12$SEdxPbBb.TUTdzimkjVGX.EOgvB1TgyIAkysEc5LCGhrxq6iPxdyC";

fn gateway_or_skip() -> Option<std::path::PathBuf> {
    tool_or_skip("prometheus-pushgateway", "prometheus-pushgateway")
}

/// The sample lines of the gateway's `/metrics` that start with `prefix`.
fn lines(gw: SocketAddr, prefix: &str, auth: Option<&str>) -> Vec<String> {
    let headers: Vec<(&str, &str)> = auth.map(|a| vec![("Authorization", a)]).unwrap_or_default();
    let r = request(gw, "GET", "/metrics", &headers);
    assert_eq!(r.status, 200);
    let mut out: Vec<String> = r
        .text()
        .lines()
        .filter(|l| l.starts_with(prefix))
        .map(str::to_string)
        .collect();
    out.sort();
    out
}

fn batch_registry() -> Registry {
    let reg = Registry::new();
    reg.counter("batch_files_total", "Files the batch job copied.")
        .unwrap()
        .add(42);
    let errors = reg
        .counter_family(Opts::new("batch_errors_total", "Errors by kind.").labels(&["kind"]))
        .unwrap();
    errors.with_label_values(&["io"]).unwrap().add(2);
    let took = reg
        .histogram(
            "batch_duration_seconds",
            "How long the job ran.",
            Buckets::new(vec![1.0, 10.0]).unwrap(),
        )
        .unwrap();
    took.observe(3.5);
    reg
}

/// A Prometheus scrape job for the gateway at `gw`, every second, with
/// `honor_labels` (the pushed `job` and `instance` stay).
fn gateway_job(gw: SocketAddr) -> String {
    format!(
        "  - job_name: pushgateway\n    honor_labels: true\n    scrape_interval: 1s\n    \
         scrape_timeout: 1s\n    static_configs:\n      - targets: ['{gw}']\n"
    )
}

fn client(gw: SocketAddr) -> push::PushgatewayBuilder {
    push::Pushgateway::builder(format!("http://{gw}")).job("nightly")
}

#[test]
fn pushed_series_land_in_their_group_replace_add_and_delete() {
    let Some(bin) = gateway_or_skip() else {
        return;
    };
    let gw = Pushgateway::start(&bin, None);
    let reg = batch_registry();
    let group = client(gw.addr)
        .grouping("instance", "db/3")
        .grouping("zone", "")
        .build()
        .unwrap();
    assert_eq!(
        group.url(),
        format!(
            "http://{}/metrics/job/nightly/instance@base64/ZGIvMw==/zone@base64/=",
            gw.addr
        )
    );
    group
        .push(&reg)
        .unwrap_or_else(|e| panic!("{e}\n{}", gw.report()));
    let labels = "instance=\"db/3\",job=\"nightly\",zone=\"\"";
    assert_eq!(
        lines(gw.addr, "batch_files_total", None),
        [format!("batch_files_total{{{labels}}} 42")]
    );
    assert_eq!(
        lines(gw.addr, "batch_errors_total", None),
        [
            "batch_errors_total{instance=\"db/3\",job=\"nightly\",kind=\"io\",zone=\"\"} 2"
                .to_string()
        ]
    );
    assert!(
        lines(gw.addr, "batch_duration_seconds_bucket", None).contains(&format!(
            "batch_duration_seconds_bucket{{{labels},le=\"10\"}} 1"
        ))
    );

    // POST adds to the group; PUT replaces it whole.
    let extra = Registry::new();
    extra
        .counter("batch_retries_total", "Retries.")
        .unwrap()
        .add(5);
    group.push_add(&extra).unwrap();
    assert_eq!(lines(gw.addr, "batch_files_total", None).len(), 1);
    assert_eq!(lines(gw.addr, "batch_retries_total", None).len(), 1);
    group.push(&extra).unwrap();
    assert!(lines(gw.addr, "batch_files_total", None).is_empty());
    assert_eq!(
        lines(gw.addr, "batch_retries_total", None),
        [format!("batch_retries_total{{{labels}}} 5")]
    );

    // Another group of the same job keeps its own series.
    let other = client(gw.addr)
        .grouping("instance", "db-4")
        .build()
        .unwrap();
    other.push(&reg).unwrap();
    group.delete().unwrap();
    assert!(lines(gw.addr, "batch_retries_total", None).is_empty());
    assert_eq!(
        lines(gw.addr, "batch_files_total", None),
        ["batch_files_total{instance=\"db-4\",job=\"nightly\"} 42".to_string()]
    );
    // Deleting a group that is gone succeeds.
    group.delete().unwrap();
}

#[test]
fn prometheus_scraping_the_gateway_with_honor_labels_answers_promql_over_the_push() {
    let (Some(bin), Some(prometheus)) = (gateway_or_skip(), prometheus_or_skip()) else {
        return;
    };
    let gw = Pushgateway::start(&bin, None);
    let reg = batch_registry();
    client(gw.addr)
        .grouping("instance", "db-3")
        .build()
        .unwrap()
        .push(&reg)
        .unwrap();
    let prom = Prometheus::start_with(&prometheus, &gateway_job(gw.addr));
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut files, mut errors) = (None, None);
    while Instant::now() < deadline {
        files = query(
            prom.addr,
            "batch_files_total{job=\"nightly\",instance=\"db-3\"}",
        );
        errors = query(prom.addr, "sum by (job) (batch_errors_total{kind=\"io\"})");
        if files.is_some() && errors.is_some() {
            break;
        }
        thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(files, Some(42.0), "{}", prom.report());
    assert_eq!(errors, Some(2.0), "{}", prom.report());
    prom.stop();
}

#[test]
fn a_protobuf_push_keeps_native_histograms_whole_for_a_native_prometheus() {
    let (Some(bin), Some(prometheus)) = (gateway_or_skip(), prometheus_or_skip()) else {
        return;
    };
    let gw = Pushgateway::start(&bin, None);
    let reg = batch_registry();
    let h = reg
        .native_histogram("batch_item_seconds", "Per item.", NativeBuckets::default())
        .unwrap();
    for v in [0.01, 0.2, 0.2, 3.0] {
        h.observe(v);
    }
    client(gw.addr)
        .grouping("instance", "db-3")
        .format(Format::Protobuf)
        .build()
        .unwrap()
        .push(&reg)
        .unwrap_or_else(|e| panic!("{e}\n{}", gw.report()));
    // The classic series as before, in the gateway's text.
    assert_eq!(
        lines(gw.addr, "batch_files_total", None),
        ["batch_files_total{instance=\"db-3\",job=\"nightly\"} 42".to_string()]
    );
    let prom = Prometheus::start_with_args(
        &prometheus,
        &gateway_job(gw.addr),
        &["--enable-feature=native-histograms"],
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut count = None;
    while Instant::now() < deadline && count.is_none() {
        count = query(
            prom.addr,
            "histogram_count(batch_item_seconds{job=\"nightly\"})",
        );
        thread::sleep(Duration::from_millis(300));
    }
    // Pushgateway 1.5.1 keeps the protobuf families as pushed: the
    // scraping Prometheus gets the native histogram whole.
    assert_eq!(count, Some(4.0), "{}\n{}", prom.report(), gw.report());
    let sum = query(prom.addr, "histogram_sum(batch_item_seconds)").unwrap();
    assert!((sum - 3.41).abs() < 1e-9, "{sum}");
    assert_eq!(query(prom.addr, "count(batch_item_seconds_bucket)"), None);
    assert_eq!(
        query(prom.addr, "batch_files_total{instance=\"db-3\"}"),
        Some(42.0)
    );
    prom.stop();
}

#[test]
fn the_gateway_refusing_a_push_is_a_typed_error_with_its_reason() {
    let Some(bin) = gateway_or_skip() else {
        return;
    };
    let gw = Pushgateway::start(&bin, None);
    let as_counter = Registry::new();
    as_counter
        .counter("clash_total", "A counter.")
        .unwrap()
        .inc();
    client(gw.addr).build().unwrap().push(&as_counter).unwrap();
    let as_gauge = Registry::new();
    as_gauge.gauge("clash_total", "A gauge.").unwrap().set(1);
    let err = push::Pushgateway::builder(format!("http://{}", gw.addr))
        .job("other")
        .build()
        .unwrap()
        .push(&as_gauge)
        .unwrap_err();
    match &err {
        PushError::Rejected { status, body, .. } => {
            assert_eq!(*status, 400);
            assert!(body.contains("inconsistent"), "{body}");
        }
        other => panic!("{other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("invalid or inconsistent with another group"),
        "{text}"
    );
    assert!(
        text.contains("; it said: pushed metrics are invalid or inconsistent"),
        "{text}"
    );
}

#[test]
fn basic_auth_is_sent_and_wrong_credentials_are_a_401() {
    let Some(bin) = gateway_or_skip() else {
        return;
    };
    let gw = Pushgateway::start(
        &bin,
        Some(&format!("basic_auth_users:\n  pusher: {PUSHER_HASH}\n")),
    );
    let reg = batch_registry();
    for builder in [
        client(gw.addr),
        client(gw.addr).basic_auth("pusher", "wrong"),
    ] {
        match builder.build().unwrap().push(&reg) {
            Err(PushError::Rejected { status: 401, .. }) => {}
            other => panic!("{other:?}\n{}", gw.report()),
        }
    }
    client(gw.addr)
        .basic_auth("pusher", "push-secret")
        .build()
        .unwrap()
        .push(&reg)
        .unwrap_or_else(|e| panic!("{e}\n{}", gw.report()));
    // "pusher:push-secret" in base64.
    let auth = "Basic cHVzaGVyOnB1c2gtc2VjcmV0";
    assert_eq!(
        lines(gw.addr, "batch_files_total", Some(auth)),
        ["batch_files_total{instance=\"\",job=\"nightly\"} 42".to_string()]
    );
}

#[test]
fn unreachable_and_silent_gateways_are_typed_errors_within_the_timeout() {
    // A port nobody listens on.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let reg = Registry::new();
    match client(closed).build().unwrap().push(&reg) {
        Err(e @ PushError::Connect { .. }) => {
            assert!(
                e.to_string().contains("cannot reach the Pushgateway"),
                "{e}"
            );
        }
        other => panic!("{other:?}"),
    }
    // One that accepts and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let started = Instant::now();
    let err = client(addr)
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap()
        .push(&reg)
        .unwrap_err();
    assert!(matches!(err, PushError::Timeout { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(silent);
}

#[test]
fn bad_configuration_is_refused_at_build() {
    match client("127.0.0.1:9091".parse().unwrap())
        .format(Format::OpenMetrics)
        .build()
    {
        Err(PushError::InvalidSetting { setting, reason }) => {
            assert_eq!(setting, "format");
            assert!(reason.contains("Format::Protobuf"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let build = |b: push::PushgatewayBuilder| b.build().unwrap_err();
    assert!(matches!(
        build(push::Pushgateway::builder("http://127.0.0.1:9091")),
        PushError::InvalidGrouping { .. }
    ));
    assert!(matches!(
        build(push::Pushgateway::builder("ftp://gw:9091").job("j")),
        PushError::InvalidUrl { .. }
    ));
    assert!(matches!(
        build(
            push::Pushgateway::builder("http://gw:9091")
                .job("j")
                .grouping("job", "x")
        ),
        PushError::InvalidGrouping { .. }
    ));
    assert!(matches!(
        build(
            push::Pushgateway::builder("http://gw:9091")
                .job("j")
                .timeout(Duration::ZERO)
        ),
        PushError::InvalidTimeout { .. }
    ));
}

#[test]
fn a_call_from_inside_an_async_runtime_is_refused_not_a_panic() {
    let gw = push::Pushgateway::builder("http://127.0.0.1:9")
        .job("j")
        .build()
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let reg = Registry::new();
    let err = rt.block_on(async { gw.push(&reg) }).unwrap_err();
    assert!(matches!(err, PushError::InsideRuntime), "{err:?}");
    assert!(err.to_string().contains("spawn_blocking"));
}
