//! `telemeter load` against a tiny fixed-body HTTP/1.1 server started here
//! (keep-alive, optional gzip, a chosen status, or no answer at all) and
//! against a real telemeter `Exporter`: counts, error kinds, `--validate`,
//! the request and time bounds, Ctrl-C, and clear failures on bad input.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_telemeter");

/// A valid body with 3 samples.
const VALID: &[u8] = b"# HELP up_total Ups.\n# TYPE up_total counter\nup_total 1\n# TYPE temp gauge\ntemp{room=\"a\"} 2.5\ntemp{room=\"b\"} -1\n";
/// Two samples of the same series: only the strict parser notices.
const DUPLICATE: &[u8] = b"# TYPE a counter\na 1\na 2\n";

#[derive(Clone, Copy)]
enum Behaviour {
    /// Answer every request with this status and body (gzip when asked).
    Fixed(u16, &'static [u8]),
    /// Read requests, never answer.
    Silent,
    /// Read a request, then close the connection without an answer.
    Hangup,
}

/// A fixed-behaviour server on 127.0.0.1:0, one thread per connection.
struct FixedServer {
    addr: SocketAddr,
    requests: Arc<AtomicU64>,
    gzip_requests: Arc<AtomicU64>,
    connections: Arc<AtomicU64>,
}

impl FixedServer {
    fn start(behaviour: Behaviour) -> FixedServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().unwrap();
        let server = FixedServer {
            addr,
            requests: Arc::default(),
            gzip_requests: Arc::default(),
            connections: Arc::default(),
        };
        let (requests, gzip_requests, connections) = (
            server.requests.clone(),
            server.gzip_requests.clone(),
            server.connections.clone(),
        );
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                connections.fetch_add(1, Ordering::SeqCst);
                let (requests, gzip_requests) = (requests.clone(), gzip_requests.clone());
                thread::spawn(move || {
                    let _ = serve_connection(stream, behaviour, &requests, &gzip_requests);
                });
            }
        });
        server
    }

    fn url(&self) -> String {
        format!("http://{}/metrics", self.addr)
    }
}

fn serve_connection(
    stream: TcpStream,
    behaviour: Behaviour,
    requests: &AtomicU64,
    gzip_requests: &AtomicU64,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    loop {
        let mut gzip = false;
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        assert!(line.starts_with("GET /metrics HTTP/1.1"), "{line:?}");
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            if line == "\r\n" {
                break;
            }
            let lower = line.to_ascii_lowercase();
            if lower.starts_with("accept-encoding:") && lower.contains("gzip") {
                gzip = true;
            }
        }
        requests.fetch_add(1, Ordering::SeqCst);
        if gzip {
            gzip_requests.fetch_add(1, Ordering::SeqCst);
        }
        match behaviour {
            Behaviour::Silent => {
                thread::sleep(Duration::from_secs(30));
                return Ok(());
            }
            Behaviour::Hangup => return Ok(()),
            Behaviour::Fixed(status, body) => {
                let body = if gzip {
                    gzip_bytes(body)
                } else {
                    body.to_vec()
                };
                let encoding = if gzip {
                    "Content-Encoding: gzip\r\n"
                } else {
                    ""
                };
                write!(
                    out,
                    "HTTP/1.1 {status} X\r\nContent-Type: text/plain; version=0.0.4\r\n{encoding}Content-Length: {}\r\n\r\n",
                    body.len()
                )?;
                out.write_all(&body)?;
                out.flush()?;
            }
        }
    }
}

fn gzip_bytes(body: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(body).unwrap();
    enc.finish().unwrap()
}

fn load(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("load")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run telemeter load")
}

/// Runs `load --json ARGS` and returns the exit code and the report.
fn load_json(args: &[&str]) -> (i32, Value) {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = load(&all);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.is_empty(),
        "stderr must stay empty (no progress bar off a terminal): {stderr}"
    );
    let report: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("one JSON document on stdout ({e}): {stdout}"));
    (out.status.code().expect("exit code"), report)
}

fn assert_clear_failure(out: &Output, code: i32, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stderr: {stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn counts_requests_bytes_and_series_over_keep_alive() {
    let server = FixedServer::start(Behaviour::Fixed(200, VALID));
    let url = server.url();
    let (code, r) = load_json(&["--url", &url, "--connections", "4", "--requests", "40"]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["requests"], 40);
    assert_eq!(r["ok"], 40);
    assert_eq!(r["errors"]["total"], 0);
    assert_eq!(r["bytes"], 40 * VALID.len() as u64);
    assert_eq!(r["series_per_scrape"]["min"], 3);
    assert_eq!(r["series_per_scrape"]["max"], 3);
    assert_eq!(r["latency_us"]["samples"], 40);
    assert!(r["latency_us"]["p99"].as_u64().unwrap() >= r["latency_us"]["p50"].as_u64().unwrap());
    assert_eq!(r["status_codes"]["200"], 40);
    assert_eq!(r["max_requests"], 40);
    assert_eq!(r["stopped_early"], false);
    // Exactly the requests asked for reached the server, over 4 kept-alive
    // connections (plus the reachability check's).
    assert_eq!(server.requests.load(Ordering::SeqCst), 40);
    assert_eq!(r["connections_opened"], 4);
    assert_eq!(server.connections.load(Ordering::SeqCst), 5);
}

#[test]
fn validate_counts_invalid_bodies_as_parse_errors() {
    let server = FixedServer::start(Behaviour::Fixed(200, DUPLICATE));
    let url = server.url();
    let (code, r) = load_json(&["--url", &url, "--requests", "10"]);
    assert_eq!(code, 0, "without --validate the body is only counted: {r}");
    assert_eq!(r["ok"], 10);
    assert_eq!(r["series_per_scrape"]["max"], 2);

    let (code, r) = load_json(&["--url", &url, "--requests", "10", "--validate"]);
    assert_eq!(code, 1, "{r}");
    assert_eq!(r["requests"], 10);
    assert_eq!(r["ok"], 0);
    assert_eq!(r["errors"]["parse"], 10);
    assert_eq!(r["errors"]["total"], 10);
    let example = r["error_examples"]["parse"].as_str().unwrap();
    assert!(example.contains("duplicate series a"), "{example}");

    let good = FixedServer::start(Behaviour::Fixed(200, VALID));
    let (code, r) = load_json(&["--url", &good.url(), "--requests", "10", "--validate"]);
    assert_eq!(
        (code, &r["errors"]["parse"], &r["ok"]),
        (0, &Value::from(0), &Value::from(10))
    );
}

#[test]
fn gzip_bodies_are_decoded_counted_and_validated() {
    let server = FixedServer::start(Behaviour::Fixed(200, VALID));
    let url = server.url();
    let (code, r) = load_json(&["--url", &url, "-n", "12", "-c", "3", "--gzip", "--validate"]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["ok"], 12);
    assert_eq!(server.gzip_requests.load(Ordering::SeqCst), 12);
    assert_eq!(r["decoded_bytes"], 12 * VALID.len() as u64);
    assert_eq!(r["bytes"], 12 * gzip_bytes(VALID).len() as u64);
    assert_eq!(r["series_per_scrape"]["mean"], 3.0);
}

#[test]
fn error_kinds_status_timeout_connect() {
    let unavailable = FixedServer::start(Behaviour::Fixed(503, b"down\n"));
    let (code, r) = load_json(&["--url", &unavailable.url(), "-n", "5"]);
    assert_eq!(code, 1);
    assert_eq!(r["errors"]["status"], 5);
    assert_eq!(r["status_codes"]["503"], 5);
    assert_eq!(
        r["error_examples"]["status"],
        "HTTP 503 Service Unavailable"
    );
    assert_eq!(
        r["latency_us"]["samples"], 5,
        "a complete response has a latency"
    );

    let silent = FixedServer::start(Behaviour::Silent);
    let t = Instant::now();
    let (code, r) = load_json(&["--url", &silent.url(), "-n", "2", "--timeout", "200ms"]);
    assert_eq!(code, 1);
    assert_eq!(r["errors"]["timeout"], 2, "{r}");
    assert_eq!(r["requests"], 2);
    assert!(r["latency_us"].is_null());
    assert!(t.elapsed() < Duration::from_secs(10));

    let hangup = FixedServer::start(Behaviour::Hangup);
    let (code, r) = load_json(&["--url", &hangup.url(), "-n", "3"]);
    assert_eq!(code, 1);
    assert_eq!(r["errors"]["connect"], 3, "{r}");
    assert_eq!(r["ok"], 0);
}

#[test]
fn duration_and_rate_bound_the_run() {
    let server = FixedServer::start(Behaviour::Fixed(200, VALID));
    let url = server.url();
    let (code, r) = load_json(&["--url", &url, "-c", "2", "--duration", "500ms"]);
    assert_eq!(code, 0);
    let elapsed = r["elapsed_s"].as_f64().unwrap();
    assert!((0.5..3.0).contains(&elapsed), "{elapsed}");
    assert!(r["requests"].as_u64().unwrap() > 0);
    assert_eq!(r["duration_s"], 0.5);

    let (code, r) = load_json(&["--url", &url, "-c", "2", "-d", "1s", "--rate", "20/s"]);
    assert_eq!(code, 0);
    let n = r["requests"].as_u64().unwrap();
    assert!((15..=20).contains(&n), "{n} requests at 20/s for 1s");
    assert_eq!(r["rate_per_s"], 20.0);
}

#[test]
fn readable_table_by_default() {
    let server = FixedServer::start(Behaviour::Fixed(200, VALID));
    let out = load(&["--url", &server.url(), "-n", "5"]);
    assert!(out.status.success());
    assert!(out.stderr.is_empty());
    let table = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "telemeter load http://127.0.0.1:",
        "requests       5 (",
        "5 ok, 0 failed",
        "latency        p50 ",
        "p99.9 ",
        "series/scrape  3",
        "errors         connect 0  timeout 0  status 0  parse 0",
    ] {
        assert!(table.contains(needle), "{needle:?} in:\n{table}");
    }
}

#[test]
fn bad_input_is_a_clear_error() {
    assert_clear_failure(&load(&["--url", "ftp://x/metrics"]), 2, "invalid --url");
    assert_clear_failure(&load(&["--url", "http://:9090/"]), 2, "no host");
    assert_clear_failure(&load(&["--url", "http://x:notaport/"]), 2, "not a port");
    assert_clear_failure(&load(&["--url", "https://x/"]), 2, "https is not supported");

    // A port nobody listens on.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/metrics");
    assert_clear_failure(&load(&["--url", &url, "-n", "1"]), 1, "cannot connect");
    assert_clear_failure(
        &load(&["--url", "http://no-such-host.invalid/metrics", "-n", "1"]),
        1,
        "cannot resolve",
    );

    let server = FixedServer::start(Behaviour::Fixed(200, VALID));
    let url = server.url();
    for (args, needle) in [
        (vec!["--connections", "0"], "--connections"),
        (vec!["--duration", "0s"], "not a positive duration"),
        (vec!["--duration", "0"], "not a positive duration"),
        (vec!["--duration", "5x"], "unknown unit"),
        (vec!["--requests", "0"], "--requests"),
        (vec!["--rate", "0/s"], "not a positive rate"),
        (vec!["--timeout", "0ms"], "not a positive duration"),
        (
            vec!["--duration", "1s", "--requests", "3"],
            "cannot be used with",
        ),
    ] {
        let mut all = vec!["--url", url.as_str()];
        all.extend(args);
        assert_clear_failure(&load(&all), 2, needle);
    }
    assert_eq!(server.requests.load(Ordering::SeqCst), 0);
}

#[cfg(unix)]
#[test]
fn ctrl_c_stops_early_and_still_reports() {
    let server = FixedServer::start(Behaviour::Fixed(200, VALID));
    let url = server.url();
    let child = Command::new(BIN)
        .args([
            "load",
            "--json",
            "--url",
            &url,
            "-c",
            "2",
            "--duration",
            "60s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.requests.load(Ordering::SeqCst) < 5 {
        assert!(Instant::now() < deadline, "no requests arrived");
        thread::sleep(Duration::from_millis(20));
    }
    let sent = Instant::now();
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    assert!(
        sent.elapsed() < Duration::from_secs(5),
        "took {:?}",
        sent.elapsed()
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["stopped_early"], true);
    assert!(r["requests"].as_u64().unwrap() >= 3, "{r}");
    assert!(r["elapsed_s"].as_f64().unwrap() < 10.0);
}

#[test]
fn against_a_real_exporter() {
    let reg = telemeter::Registry::new();
    let requests = reg
        .counter_family(telemeter::Opts::new("app_requests_total", "Requests.").labels(&["route"]))
        .unwrap();
    for i in 0..50 {
        requests
            .with_label_values(&[&format!("/r/{i}")])
            .unwrap()
            .add(i);
    }
    let latency = reg
        .histogram_family(
            telemeter::Opts::new("app_latency_seconds", "Latency.").labels(&["route"]),
            telemeter::Buckets::default_prometheus(),
        )
        .unwrap();
    for i in 0..5 {
        latency
            .with_label_values(&[&format!("/r/{i}")])
            .unwrap()
            .observe(0.01 * i as f64);
    }
    let handle = telemeter::Exporter::builder()
        .registry(reg)
        .metrics_addr("127.0.0.1:0")
        .no_health()
        .no_admin()
        .start()
        .expect("exporter starts");
    let url = format!("http://{}/metrics", handle.metrics_addr().unwrap());
    // 50 counter lines + 5 histograms x 14 lines, plus self-metrics.
    let own = 50 + 5 * 14;

    let (code, r) = load_json(&["--url", &url, "-c", "4", "-n", "60", "--validate"]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["ok"], 60);
    assert!(r["series_per_scrape"]["min"].as_u64().unwrap() > own);
    let stats = handle.stats();
    assert_eq!(stats.scrapes, 60);
    assert!(stats.encodes >= 1 && stats.encodes <= 60, "{stats:?}");

    let (code, r) = load_json(&["--url", &url, "-c", "4", "-n", "40", "--validate", "--gzip"]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["ok"], 40);
    assert!(r["bytes"].as_u64().unwrap() < r["decoded_bytes"].as_u64().unwrap());
    assert_eq!(handle.stats().scrapes, 100);

    // Exporter's other paths answer 404: counted as status errors.
    let other = format!("http://{}/nope", handle.metrics_addr().unwrap());
    let (code, r) = load_json(&["--url", &other, "-n", "3"]);
    assert_eq!(code, 1);
    assert_eq!(r["errors"]["status"], 3);
    handle.shutdown();
}

#[test]
fn connections_past_the_open_files_limit_are_a_usage_error() {
    // Under `ulimit -n 256`, 1,000 connections cannot be opened: say so
    // before connecting anywhere (nothing listens at the URL).
    let out = Command::new("sh")
        .args([
            "-c",
            "ulimit -n 256 && exec \"$0\" load --url http://127.0.0.1:9/metrics --connections 1000 --requests 1",
            BIN,
        ])
        .output()
        .unwrap();
    assert_clear_failure(
        &out,
        2,
        "needs about 1064 open files, but this process may open 256",
    );
    // Within the limit the same run gets as far as the (absent) target.
    let out = Command::new("sh")
        .args([
            "-c",
            "ulimit -n 256 && exec \"$0\" load --url http://127.0.0.1:9/metrics --connections 100 --requests 1",
            BIN,
        ])
        .output()
        .unwrap();
    assert_clear_failure(&out, 1, "cannot connect");
}
