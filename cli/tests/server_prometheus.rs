//! A real Prometheus server scrapes `telemeter demo` on loopback every
//! second; through Prometheus's HTTP API, `up` must reach 1 and a demo
//! counter's `rate()` must be positive.
//!
//! Needs the `prometheus` binary on PATH (Debian's `prometheus` package);
//! without it the test says so on stderr and passes.

#[path = "../../tests/server_support/mod.rs"]
mod server_support;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use server_support::try_get;

const BIN: &str = env!("CARGO_BIN_EXE_telemeter");

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Kills (if still running) and reaps a child when dropped.
struct Reaped(Option<Child>);

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Removes a directory when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn percent_encode(q: &str) -> String {
    let mut out = String::new();
    for b in q.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Runs an instant query; the first sample's value, if any.
fn query(prom: SocketAddr, q: &str) -> Option<f64> {
    let r = try_get(prom, &format!("/api/v1/query?query={}", percent_encode(q)))?;
    if r.status != 200 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&r.body).ok()?;
    let value = v["data"]["result"].get(0)?["value"].get(1)?.as_str()?;
    value.parse().ok()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn log_tail(path: &Path) -> String {
    let s = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

#[test]
fn real_prometheus_scrapes_the_demo_skipped_without_prometheus_binary() {
    let Some(prometheus) = find_on_path("prometheus") else {
        eprintln!(
            "SKIPPED: no `prometheus` binary on PATH (install Debian's `prometheus` package \
             to run this test)"
        );
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

    // Prometheus, with its own config and data directory.
    let dir = std::env::temp_dir().join(format!(
        "telemeter-prometheus-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let dir = TempDir(dir);
    let config = dir.0.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: telemeter-demo\n    scrape_interval: 1s\n    \
             scrape_timeout: 1s\n    static_configs:\n      - targets: ['{metrics}']\n"
        ),
    )
    .unwrap();
    let log = dir.0.join("prometheus.log");
    let prom_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let prom = Command::new(&prometheus)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.0.join("data").display()
        ))
        .arg(format!("--web.listen-address={prom_addr}"))
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(dir.0.join("prometheus.err")).unwrap())
        .spawn()
        .expect("run prometheus");
    let mut prom = Reaped(Some(prom));

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
    let targets = try_get(prom_addr, "/api/v1/targets").map(|r| r.text());
    assert!(
        up == Some(1.0) && rate.is_some_and(|r| r > 0.0),
        "after 60 s: up={up:?} rate={rate:?}\ntargets: {targets:?}\nprometheus log:\n{}\n{}",
        log_tail(&log),
        log_tail(&dir.0.join("prometheus.err")),
    );
    // The seed dashboard's p95, as a sanity check of the histograms.
    let p95 = query(
        prom_addr,
        "histogram_quantile(0.95, sum(rate(llm_latency_ms_bucket[5s])) by (le))",
    );
    eprintln!("up=1, rate(oxg_rpc_requests_total[5s]) summed = {rate:?}/s, llm p95 = {p95:?} ms");

    // Stop both: Prometheus first, then the demo with SIGTERM (exit 0).
    let _ = Command::new("kill")
        .args(["-TERM", &prom.0.as_ref().unwrap().id().to_string()])
        .status();
    let mut p = prom.0.take().unwrap();
    let stop = Instant::now() + Duration::from_secs(15);
    while p.try_wait().unwrap().is_none() && Instant::now() < stop {
        thread::sleep(Duration::from_millis(50));
    }
    let _ = p.kill();
    let _ = p.wait();

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
