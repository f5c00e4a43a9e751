//! A real Prometheus server scrapes `telemeter demo` on loopback every
//! second; through Prometheus's HTTP API, `up` must reach 1 and a demo
//! counter's `rate()` must be positive. A second test has it scrape an
//! overflowed family (one series per label set, none dropped).
//!
//! Needs the `prometheus` binary on PATH (Debian's `prometheus` package);
//! without it the tests say so on stderr and pass, except under CI (`CI`
//! set), where `.ci/run` installs it and its absence fails them.

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

/// The `prometheus` binary, or `None` (with a note) outside CI.
fn prometheus_or_skip() -> Option<PathBuf> {
    let found = find_on_path("prometheus");
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "no `prometheus` on PATH but CI is set: .ci/run must install Debian's prometheus"
        );
        eprintln!(
            "SKIPPED: no `prometheus` binary on PATH (install Debian's `prometheus` package \
             to run this test)"
        );
    }
    found
}

/// A Prometheus server scraping `target` every second, with its own config
/// and data directory, stopped (SIGTERM, then kill) and cleaned up when
/// dropped.
struct Prometheus {
    addr: SocketAddr,
    dir: TempDir,
    child: Reaped,
}

impl Prometheus {
    fn start(binary: &Path, job: &str, target: SocketAddr) -> Prometheus {
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
                 scrape_configs:\n  - job_name: {job}\n    scrape_interval: 1s\n    \
                 scrape_timeout: 1s\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.0.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(std::fs::File::create(dir.0.join("prometheus.log")).unwrap())
            .stderr(std::fs::File::create(dir.0.join("prometheus.err")).unwrap())
            .spawn()
            .expect("run prometheus");
        Prometheus {
            addr,
            dir,
            child: Reaped(Some(child)),
        }
    }

    /// The tail of its logs and its target list, for a failure message.
    fn report(&self) -> String {
        let targets = try_get(self.addr, "/api/v1/targets").map(|r| r.text());
        format!(
            "targets: {targets:?}\nprometheus log:\n{}\n{}",
            log_tail(&self.dir.0.join("prometheus.log")),
            log_tail(&self.dir.0.join("prometheus.err")),
        )
    }

    /// Stops the server with SIGTERM, waiting up to 15 s before a kill.
    fn stop(mut self) {
        let Some(mut p) = self.child.0.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &p.id().to_string()])
            .status();
        let stop = Instant::now() + Duration::from_secs(15);
        while p.try_wait().unwrap().is_none() && Instant::now() < stop {
            thread::sleep(Duration::from_millis(50));
        }
        let _ = p.kill();
        let _ = p.wait();
    }
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

    let prom = Prometheus::start(&prometheus, "telemeter-demo", metrics);
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
