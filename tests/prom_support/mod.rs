//! Real Prometheus-ecosystem servers for tests: a Prometheus server and a
//! Pushgateway, each started on a free loopback port with a directory of
//! its own, and stopped and cleaned up when dropped. Shared by the root
//! package's tests and the CLI's (`#[path]`).
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

#[path = "../server_support/mod.rs"]
pub mod server_support;
#[allow(unused_imports)] // each includer uses its own subset
pub use server_support::{get, request, try_get, Resp};

/// The program `name` on PATH, or `None` (with a note) outside CI; under
/// CI its absence fails the test (`.ci/run` installs Debian's `package`).
pub fn tool_or_skip(name: &str, package: &str) -> Option<PathBuf> {
    let found = find_on_path(name);
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "no `{name}` on PATH but CI is set: .ci/run must install Debian's {package}"
        );
        eprintln!(
            "SKIPPED: no `{name}` on PATH (install Debian's `{package}` package to run this test)"
        );
    }
    found
}

/// `promtool check metrics` findings for a body, one per line, sorted.
/// promtool exits 0 with none and 3 with lint findings; anything else is a
/// parse failure and fails the test.
pub fn promtool_lint(promtool: &Path, body: &str) -> BTreeSet<String> {
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool check metrics");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(body.as_bytes())
        .expect("write the body");
    let out = child.wait_with_output().expect("promtool output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let code = out.status.code();
    assert!(
        matches!(code, Some(0) | Some(3)),
        "promtool check metrics could not check the body ({code:?}):\n{text}"
    );
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

/// The `prometheus` binary, or `None` (with a note) outside CI.
pub fn prometheus_or_skip() -> Option<PathBuf> {
    tool_or_skip("prometheus", "prometheus")
}

pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// A Prometheus server scraping `target` every second, with its own config
/// and data directory, stopped (SIGTERM, then kill) and cleaned up when
/// dropped.
pub struct Prometheus {
    pub addr: SocketAddr,
    pub dir: TempDir,
    child: Reaped,
    binary: PathBuf,
    args: Vec<String>,
}

impl Prometheus {
    pub fn start(binary: &Path, job: &str, target: SocketAddr) -> Prometheus {
        Prometheus::start_flagged(binary, job, target, &[])
    }

    /// As [`Prometheus::start`], with more command-line flags
    /// (`--enable-feature=exemplar-storage`).
    pub fn start_flagged(
        binary: &Path,
        job: &str,
        target: SocketAddr,
        args: &[&str],
    ) -> Prometheus {
        Prometheus::start_with_args(
            binary,
            &format!(
                "  - job_name: {job}\n    scrape_interval: 1s\n    \
                 scrape_timeout: 1s\n    static_configs:\n      - targets: ['{target}']\n"
            ),
            args,
        )
    }

    /// A server whose `scrape_configs:` list is `scrape_configs` (YAML
    /// list items, indented two spaces).
    pub fn start_with(binary: &Path, scrape_configs: &str) -> Prometheus {
        Prometheus::start_with_args(binary, scrape_configs, &[])
    }

    /// As [`Prometheus::start_with`], with more command-line flags
    /// (`--web.enable-remote-write-receiver`).
    pub fn start_with_args(binary: &Path, scrape_configs: &str, args: &[&str]) -> Prometheus {
        Prometheus::start_full(binary, "", scrape_configs, args)
    }

    /// The most general form: `global` is more of the `global:` section
    /// (lines indented two spaces, such as `  external_labels:` and its
    /// map), then the scrape configs and the flags.
    pub fn start_full(
        binary: &Path,
        global: &str,
        scrape_configs: &str,
        args: &[&str],
    ) -> Prometheus {
        let dir = TempDir::new("prometheus");
        let config = dir.0.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n{global}\
                 scrape_configs:\n{scrape_configs}"
            ),
        )
        .unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut all = vec![
            format!("--config.file={}", config.display()),
            format!("--storage.tsdb.path={}", dir.0.join("data").display()),
            format!("--web.listen-address={addr}"),
        ];
        all.extend(args.iter().map(|a| a.to_string()));
        let child = spawn_logged(binary, &all, &dir.0);
        Prometheus {
            addr,
            dir,
            child: Reaped(Some(child)),
            binary: binary.to_path_buf(),
            args: all,
        }
    }

    /// Stops the server (as [`Prometheus::stop`]) but keeps its address,
    /// configuration and data for [`Prometheus::resume`]: an outage.
    pub fn pause(&mut self) {
        if let Some(p) = self.child.0.take() {
            terminate(p);
        }
    }

    /// Starts the server again after [`Prometheus::pause`], on the same
    /// address with the same data.
    pub fn resume(&mut self) {
        assert!(self.child.0.is_none(), "resume() after pause()");
        self.child = Reaped(Some(spawn_logged(&self.binary, &self.args, &self.dir.0)));
    }

    /// The tail of its logs and its target list, for a failure message.
    pub fn report(&self) -> String {
        let targets = try_get(self.addr, "/api/v1/targets").map(|r| r.text());
        format!(
            "targets: {targets:?}\nprometheus log:\n{}\n{}",
            log_tail(&self.dir.0.join("prometheus.log")),
            log_tail(&self.dir.0.join("prometheus.err")),
        )
    }

    /// Stops the server with SIGTERM, waiting up to 15 s before a kill.
    pub fn stop(mut self) {
        if let Some(p) = self.child.0.take() {
            terminate(p);
        }
    }
}

/// Runs `binary` with `args`, its output appended to logs in `dir`.
fn spawn_logged(binary: &Path, args: &[String], dir: &Path) -> Child {
    let log = |name: &str| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(name))
            .unwrap()
    };
    Command::new(binary)
        .args(args)
        .stdout(log("prometheus.log"))
        .stderr(log("prometheus.err"))
        .spawn()
        .expect("run prometheus")
}

/// SIGTERM to a child of this test, up to 15 s to exit, then a kill.
fn terminate(mut p: Child) {
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

/// Kills (if still running) and reaps a child when dropped.
pub struct Reaped(pub Option<Child>);

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Removes a directory when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A fresh directory under the system's temporary one.
    pub fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "telemeter-{tag}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn percent_encode(q: &str) -> String {
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
pub fn query(prom: SocketAddr, q: &str) -> Option<f64> {
    let r = try_get(prom, &format!("/api/v1/query?query={}", percent_encode(q)))?;
    value_of(&r)
}

/// [`query`] with request headers (an `Authorization` for a server with
/// `basic_auth_users`).
pub fn query_with(prom: SocketAddr, q: &str, headers: &[(&str, &str)]) -> Option<f64> {
    let path = format!("/api/v1/query?query={}", percent_encode(q));
    value_of(&request(prom, "GET", &path, headers))
}

/// The first result's value of a query answer.
fn value_of(r: &Resp) -> Option<f64> {
    if r.status != 200 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&r.body).ok()?;
    let value = v["data"]["result"].get(0)?["value"].get(1)?.as_str()?;
    value.parse().ok()
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn log_tail(path: &Path) -> String {
    let s = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// A Pushgateway (Debian's `prometheus-pushgateway`) on a free loopback
/// port, ready when `start` returns; stopped when dropped.
pub struct Pushgateway {
    pub addr: SocketAddr,
    pub dir: TempDir,
    child: Reaped,
}

impl Pushgateway {
    /// Starts it; with `web_config`, that text as its `--web.config.file`
    /// (for `basic_auth_users`).
    pub fn start(binary: &Path, web_config: Option<&str>) -> Pushgateway {
        let dir = TempDir::new("pushgateway");
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut cmd = Command::new(binary);
        cmd.arg(format!("--web.listen-address={addr}"))
            .stdout(std::fs::File::create(dir.0.join("pushgateway.log")).unwrap())
            .stderr(std::fs::File::create(dir.0.join("pushgateway.err")).unwrap());
        if let Some(config) = web_config {
            let path = dir.0.join("web.yml");
            std::fs::write(&path, config).unwrap();
            cmd.arg(format!("--web.config.file={}", path.display()));
        }
        let child = Reaped(Some(cmd.spawn().expect("run prometheus-pushgateway")));
        let gw = Pushgateway { addr, dir, child };
        let deadline = Instant::now() + Duration::from_secs(30);
        // Ready: it answers at all (401 counts, when it wants credentials).
        while try_get(addr, "/-/ready").is_none() {
            assert!(
                Instant::now() < deadline,
                "the pushgateway did not start:\n{}",
                gw.report()
            );
            thread::sleep(Duration::from_millis(50));
        }
        gw
    }

    /// Its logs, for a failure message.
    pub fn report(&self) -> String {
        format!(
            "{}\n{}",
            log_tail(&self.dir.0.join("pushgateway.log")),
            log_tail(&self.dir.0.join("pushgateway.err"))
        )
    }
}
