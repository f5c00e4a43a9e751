//! Helpers shared by the seed conformance tests (`seed_oxg`, `seed_nexo`):
//! building and running the example agents, checking scraped series against
//! a seed's table, `promtool`, and a small PromQL scanner.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use telemeter::parse::{Exposition, MetricType};

/// The repository root (the workspace's: these helpers also serve the
/// CLI package's tests, in `cli/`).
pub fn repo() -> &'static Path {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    if here.join("cli").is_dir() {
        here
    } else {
        here.parent().expect("cli/ sits in the workspace root")
    }
}

/// The path of a built example binary, building the seed examples (once per
/// test binary) with the same cargo, target directory and profile as this
/// test: `cargo test --test seed_*` does not build examples by itself.
pub fn example_bin(name: &str) -> PathBuf {
    static BUILT: OnceLock<HashMap<String, PathBuf>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            cargo_build(
                &[
                    "-p",
                    "telemeter",
                    "--example",
                    "oxg_agent",
                    "--example",
                    "nexo_agent",
                ],
                "example",
            )
        })
        .get(name)
        .cloned()
        .unwrap_or_else(|| panic!("cargo built no example called {name}"))
}

/// The path of the `telemeter` CLI (package `telemeter-cli`), built as
/// [`example_bin`] builds the examples: the engine package's tests cannot
/// name another package's binary with `CARGO_BIN_EXE_*`.
pub fn telemeter_bin() -> PathBuf {
    static BUILT: OnceLock<HashMap<String, PathBuf>> = OnceLock::new();
    BUILT
        .get_or_init(|| cargo_build(&["-p", "telemeter-cli", "--bin", "telemeter"], "bin"))
        .get("telemeter")
        .cloned()
        .expect("cargo built the telemeter binary")
}

/// Runs `cargo build ARGS` with this test's cargo, target directory and
/// profile, and returns the executables of the targets of `kind` it built.
fn cargo_build(args: &[&str], kind: &str) -> HashMap<String, PathBuf> {
    // This test runs as <target-dir>/[<triple>/]<profile>/deps/<test>.
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("<profile>/deps/<test>");
    let profile = profile_dir
        .file_name()
        .and_then(|s| s.to_str())
        .expect("a profile directory")
        .to_string();
    let mut target_dir = profile_dir.parent().expect("a target directory");
    let mut triple = None;
    if !target_dir.join("CACHEDIR.TAG").exists() {
        if let Some(parent) = target_dir.parent() {
            if parent.join("CACHEDIR.TAG").exists() {
                triple = target_dir.file_name().map(|s| s.to_os_string());
                target_dir = parent;
            }
        }
    }
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(repo())
        .arg("build")
        .args(args)
        .args(["--message-format=json-render-diagnostics", "--target-dir"])
        .arg(target_dir);
    match profile.as_str() {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    if let Some(t) = triple {
        cmd.arg("--target").arg(t);
    }
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .expect("run cargo build");
    assert!(out.status.success(), "cargo build {args:?} failed");
    let mut bins = HashMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact" {
            continue;
        }
        let of_kind = msg["target"]["kind"]
            .as_array()
            .is_some_and(|k| k.iter().any(|k| k == kind));
        if let (true, Some(name), Some(exe)) = (
            of_kind,
            msg["target"]["name"].as_str(),
            msg["executable"].as_str(),
        ) {
            bins.insert(name.to_string(), PathBuf::from(exe));
        }
    }
    bins
}

/// A running example agent; killed on drop if the test did not stop it.
pub struct Agent {
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
    /// The lines read before `start` returned.
    pub first_lines: Vec<String>,
    /// `(surface, address, path)` from the `listening on` lines.
    pub surfaces: Vec<(String, SocketAddr, String)>,
}

impl Agent {
    /// Runs `bin` with `args` and waits for its first `lines` stdout lines.
    pub fn start(bin: &Path, args: &[&str], lines: usize) -> Agent {
        Agent::start_with_env(bin, args, &[], lines)
    }

    /// As [`Agent::start`], with `env` added to the environment.
    pub fn start_with_env(bin: &Path, args: &[&str], env: &[(&str, &str)], lines: usize) -> Agent {
        let mut child = Command::new(bin)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("run {}: {e}", bin.display()));
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let (mut err_pipe, sink) = (child.stderr.take().expect("stderr"), Arc::clone(&stderr));
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err_pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let stdin = child.stdin.take();
        let mut agent = Agent {
            child: Some(child),
            stdin,
            lines: rx,
            stderr,
            first_lines: Vec::new(),
            surfaces: Vec::new(),
        };
        for _ in 0..lines {
            let line = agent.line();
            if let Some(s) = parse_listening(&line) {
                agent.surfaces.push(s);
            }
            agent.first_lines.push(line);
        }
        agent
    }

    /// The next stdout line (within 30 s).
    pub fn line(&self) -> String {
        self.lines
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| {
                panic!(
                    "no stdout line within 30 s; stderr so far:\n{}",
                    self.stderr()
                )
            })
    }

    /// Everything the agent wrote on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The bound address of `surface`.
    pub fn addr(&self, surface: &str) -> SocketAddr {
        self.surfaces
            .iter()
            .find(|(s, _, _)| s == surface)
            .unwrap_or_else(|| panic!("no {surface} line in {:?}", self.first_lines))
            .1
    }

    /// Sends one stdin command and returns its `ok: ...` answer (panics on
    /// an `error: ...` answer).
    pub fn command(&mut self, cmd: &str) -> String {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{cmd}").expect("write a command");
        stdin.flush().expect("flush stdin");
        loop {
            let line = self.line();
            if line.starts_with("ok: ") {
                return line;
            }
            assert!(
                !line.starts_with("error: "),
                "command {cmd:?} failed: {line}"
            );
        }
    }

    /// Sends one stdin line without waiting for an answer (a command
    /// that ends the process answers none).
    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("write a line");
        stdin.flush().expect("flush stdin");
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Sends a signal (`TERM`, `INT`, ...).
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([format!("-{sig}"), self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{sig} failed");
    }

    /// Waits for the agent to exit (bounded) and returns its status and
    /// stderr.
    pub fn wait(mut self, within: Duration) -> (ExitStatus, String) {
        let mut child = self.child.take().expect("running");
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                // Let the stderr reader drain.
                thread::sleep(Duration::from_millis(50));
                return (status, self.stderr());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!(
                    "agent did not exit within {within:?}; stderr:\n{}",
                    self.stderr()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `<surface> listening on http://<addr><path>`
pub fn parse_listening(line: &str) -> Option<(String, SocketAddr, String)> {
    let (surface, url) = line.split_once(" listening on http://")?;
    let slash = url.find('/')?;
    let addr: SocketAddr = url[..slash].parse().ok()?;
    Some((surface.to_string(), addr, url[slash..].to_string()))
}

/// Polls `f` every 25 ms until it returns true, for at most `within`.
pub fn eventually(within: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(25));
    }
}

/// One row of a seed's metrics table.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub name: &'static str,
    pub kind: MetricType,
    /// Label names (without `le`).
    pub labels: &'static [&'static str],
    /// Labels whose value set the seed fixes: exactly these values appear.
    pub values: &'static [(&'static str, &'static [&'static str])],
}

/// Every value `label` takes in family `name` (any sample name).
pub fn label_values(exp: &Exposition, name: &str, label: &str) -> BTreeSet<String> {
    exp.family(name)
        .map(|f| {
            f.samples
                .iter()
                .filter_map(|s| s.labels.iter().find(|(k, _)| k == label))
                .map(|(_, v)| v.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// Checks one seed row against a parsed scrape; returns what is wrong.
pub fn check_spec(exp: &Exposition, spec: &Spec) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(f) = exp.family(spec.name) else {
        return vec![format!("{}: not exported", spec.name)];
    };
    if f.kind != spec.kind {
        problems.push(format!(
            "{}: type {} (seed: {})",
            spec.name,
            f.kind.as_str(),
            spec.kind.as_str()
        ));
    }
    if f.help.as_deref().is_none_or(|h| h.trim().is_empty()) {
        problems.push(format!("{}: no HELP", spec.name));
    }
    if f.samples.is_empty() {
        problems.push(format!("{}: no samples", spec.name));
    }
    let want: BTreeSet<&str> = spec.labels.iter().copied().collect();
    for s in &f.samples {
        let mut have: BTreeSet<&str> = s.labels.iter().map(|(k, _)| k.as_str()).collect();
        let bucket = s.name.ends_with("_bucket") && spec.kind == MetricType::Histogram;
        if bucket && !have.remove("le") {
            problems.push(format!("{}: bucket sample without le", s.name));
        }
        if have != want {
            problems.push(format!("{}: labels {have:?} (seed: {want:?})", s.name));
            break;
        }
    }
    if spec.kind == MetricType::Histogram {
        for suffix in ["_bucket", "_sum", "_count"] {
            let n = format!("{}{suffix}", spec.name);
            if !f.samples.iter().any(|s| s.name == n) {
                problems.push(format!("{}: no {n} samples", spec.name));
            }
        }
    }
    for (label, values) in spec.values {
        let have = label_values(exp, spec.name, label);
        let want: BTreeSet<String> = values.iter().map(|v| v.to_string()).collect();
        if have != want {
            problems.push(format!(
                "{}: {label} values {have:?} (seed: {want:?})",
                spec.name
            ));
        }
    }
    problems
}

/// Asserts every row of a seed table, reporting every problem at once.
pub fn assert_specs(exp: &Exposition, specs: &[Spec]) {
    let problems: Vec<String> = specs.iter().flat_map(|s| check_spec(exp, s)).collect();
    assert!(
        problems.is_empty(),
        "scrape disagrees with the seed:\n  {}",
        problems.join("\n  ")
    );
}

/// Every sample name in a scrape.
pub fn sample_names(exp: &Exposition) -> BTreeSet<String> {
    exp.families
        .iter()
        .flat_map(|f| f.samples.iter().map(|s| s.name.clone()))
        .collect()
}

/// The value of the sample `name` with exactly `labels`.
pub fn value(exp: &Exposition, family: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    exp.family(family)
        .and_then(|f| f.find(name, labels))
        .unwrap_or_else(|| panic!("no sample {name}{labels:?}"))
        .value
}

/// `promtool` on PATH; `None` (test skipped) outside CI, a failure under CI
/// (`.ci/run` installs it).
pub fn promtool() -> Option<PathBuf> {
    tool("promtool", "prometheus")
}

/// The program `name` on PATH; `None` (the test skips) outside CI, a
/// failure under CI, where `.ci/run` installs Debian's `package`
/// (`prom_support::tool_or_skip`, which every includer of this module
/// also includes).
pub fn tool(name: &str, package: &str) -> Option<PathBuf> {
    crate::prom_support::tool_or_skip(name, package)
}

/// Runs headless Chromium (`chromium`) on `url` with `args` (`--dump-dom`,
/// `--screenshot=PATH`) in a profile of its own under `dir`; its stdout.
/// Killed (it is this test's child) if it has not finished in 90 s.
pub fn headless_chromium(chromium: &Path, dir: &Path, url: &str, args: &[&str]) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let profile = dir.join("profile");
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut out);
        out
    });
    let mut stderr = child.stderr.take().unwrap();
    let err_reader = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut out);
        out
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish in 90 s on {url}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = reader.join().unwrap();
    let err = err_reader.join().unwrap();
    assert!(status.success(), "chromium on {url}: {status}\n{err}");
    out
}

/// Runs promtool with `args` in `dir`, feeding `stdin`; returns (success,
/// stdout + stderr).
pub fn run_promtool(promtool: &Path, dir: &Path, args: &[&str], stdin: &str) -> (bool, String) {
    let mut child = Command::new(promtool)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Grafana's built-in interval variables, replaced by a duration so that an
/// expression from a dashboard is plain PromQL.
pub fn expand_grafana_vars(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("${__rate_interval}", "1m")
        .replace("$__interval", "1m")
        .replace("${__interval}", "1m")
        .replace("$__range", "1h")
}

/// Checks that every expression parses: each becomes a recording rule in a
/// throwaway rule file that `promtool check rules` must accept.
pub fn assert_promql_parses(promtool: &Path, exprs: &[String]) {
    let dir = std::env::temp_dir().join(format!("telemeter-seed-promql-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, e) in exprs.iter().enumerate() {
        // A JSON string is a valid YAML double-quoted scalar.
        let quoted = serde_json::Value::from(e.as_str()).to_string();
        rules.push_str(&format!(
            "      - record: dashboard:expr_{i}\n        expr: {quoted}\n"
        ));
    }
    let file = dir.join("dashboard-rules.yml");
    std::fs::write(&file, &rules).expect("write the rule file");
    let (ok, out) = run_promtool(
        promtool,
        &dir,
        &["check", "rules", "dashboard-rules.yml"],
        "",
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        ok,
        "promtool rejected a PromQL expression:\n{out}\nrules:\n{rules}"
    );
}

/// A vector selector found in a PromQL expression: the metric name and its
/// equality matchers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    pub name: String,
    pub matchers: Vec<(String, String)>,
}

const PROMQL_FUNCTIONS: &[&str] = &[
    "abs",
    "absent",
    "absent_over_time",
    "avg",
    "avg_over_time",
    "bottomk",
    "ceil",
    "changes",
    "clamp",
    "clamp_max",
    "clamp_min",
    "count",
    "count_over_time",
    "count_values",
    "day_of_month",
    "day_of_week",
    "delta",
    "deriv",
    "exp",
    "floor",
    "group",
    "histogram_quantile",
    "holt_winters",
    "hour",
    "idelta",
    "increase",
    "irate",
    "label_join",
    "label_replace",
    "last_over_time",
    "ln",
    "log10",
    "log2",
    "max",
    "max_over_time",
    "min",
    "min_over_time",
    "minute",
    "month",
    "predict_linear",
    "quantile",
    "quantile_over_time",
    "rate",
    "resets",
    "round",
    "scalar",
    "sgn",
    "sort",
    "sort_desc",
    "sqrt",
    "stddev",
    "stddev_over_time",
    "stdvar",
    "stdvar_over_time",
    "sum",
    "sum_over_time",
    "time",
    "timestamp",
    "topk",
    "vector",
    "year",
];
const PROMQL_GROUPING: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];
const PROMQL_KEYWORDS: &[&str] = &[
    "and", "or", "unless", "bool", "offset", "inf", "nan", "atan2",
];

/// The vector selectors of a PromQL expression (a small scanner: enough for
/// dashboards and alert rules, not a full parser; `promtool` checks syntax).
pub fn promql_selectors(expr: &str) -> Vec<Selector> {
    let b = expr.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let skip_string = |i: usize| -> usize {
        let q = b[i];
        let mut j = i + 1;
        while j < b.len() && b[j] != q {
            if b[j] == b'\\' {
                j += 1;
            }
            j += 1;
        }
        j + 1
    };
    let skip_to = |i: usize, close: u8| -> usize {
        let mut j = i + 1;
        while j < b.len() && b[j] != close {
            if b[j] == b'"' || b[j] == b'\'' || b[j] == b'`' {
                j = skip_string(j);
            } else {
                j += 1;
            }
        }
        j + 1
    };
    let next_non_space = |mut j: usize| -> usize {
        while j < b.len() && b[j].is_ascii_whitespace() {
            j += 1;
        }
        j
    };
    while i < b.len() {
        let c = b[i];
        if c == b'"' || c == b'\'' || c == b'`' {
            i = skip_string(i);
        } else if c == b'[' {
            i = skip_to(i, b']');
        } else if c == b'{' {
            // A selector with no metric name: `{__name__=...}`; not used here.
            i = skip_to(i, b'}');
        } else if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            while i < b.len()
                && (b[i].is_ascii_alphanumeric()
                    || b[i] == b'.'
                    || ((b[i] == b'+' || b[i] == b'-') && matches!(b[i - 1], b'e' | b'E')))
            {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == b'_' || c == b':' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':') {
                i += 1;
            }
            let ident = &expr[start..i];
            let j = next_non_space(i);
            if PROMQL_GROUPING.contains(&ident) {
                if b.get(j) == Some(&b'(') {
                    i = skip_to(j, b')');
                }
            } else if ident == "offset" {
                // Skip the duration.
                i = j;
                while i < b.len() && b[i].is_ascii_alphanumeric() {
                    i += 1;
                }
            } else if PROMQL_KEYWORDS.contains(&ident)
                || PROMQL_FUNCTIONS.contains(&ident)
                || b.get(j) == Some(&b'(')
            {
                // An operator, a function or an aggregation.
            } else {
                let mut matchers = Vec::new();
                if b.get(j) == Some(&b'{') {
                    let end = skip_to(j, b'}');
                    matchers = parse_matchers(&expr[j + 1..end - 1]);
                    i = end;
                }
                out.push(Selector {
                    name: ident.to_string(),
                    matchers,
                });
            }
        } else {
            i += 1;
        }
    }
    out
}

/// The `label="value"` matchers of a selector body (other operators are
/// skipped).
fn parse_matchers(body: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = body.trim();
    while !rest.is_empty() {
        let name_end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let name = &rest[..name_end];
        let after = rest[name_end..].trim_start();
        let (op, after) = ["=~", "!~", "!=", "="]
            .iter()
            .find_map(|op| after.strip_prefix(op).map(|a| (*op, a.trim_start())))
            .unwrap_or(("", after));
        let Some(quote) = after.chars().next() else {
            break;
        };
        let mut value = String::new();
        let mut chars = after[quote.len_utf8()..].char_indices();
        let mut consumed = after.len();
        while let Some((k, ch)) = chars.next() {
            if ch == '\\' {
                if let Some((_, esc)) = chars.next() {
                    value.push(esc);
                }
            } else if ch == quote {
                consumed = quote.len_utf8() + k + 1;
                break;
            } else {
                value.push(ch);
            }
        }
        if op == "=" {
            out.push((name.to_string(), value));
        }
        rest = after[consumed..]
            .trim_start()
            .trim_start_matches(',')
            .trim_start();
    }
    out
}

/// Every metric name a PromQL expression selects.
pub fn promql_metric_names(expr: &str) -> BTreeSet<String> {
    promql_selectors(expr).into_iter().map(|s| s.name).collect()
}

/// Checks that every selector of `exprs` names a sample name of `exp`, and
/// that each equality matcher selects at least one exported sample.
pub fn assert_selectors_exported(exp: &Exposition, exprs: &[String]) {
    let by_name: BTreeMap<String, Vec<&telemeter::parse::Sample>> = {
        let mut m: BTreeMap<String, Vec<_>> = BTreeMap::new();
        for f in &exp.families {
            for s in &f.samples {
                m.entry(s.name.clone()).or_default().push(s);
            }
        }
        m
    };
    let mut problems = Vec::new();
    for e in exprs {
        let selectors = promql_selectors(e);
        if selectors.is_empty() {
            problems.push(format!("{e}: selects no series"));
        }
        for sel in selectors {
            let Some(samples) = by_name.get(&sel.name) else {
                problems.push(format!("{e}: {} is not exported", sel.name));
                continue;
            };
            let matches = samples.iter().any(|s| {
                sel.matchers
                    .iter()
                    .all(|(k, v)| s.labels.iter().any(|(sk, sv)| sk == k && sv == v))
            });
            if !matches {
                problems.push(format!(
                    "{e}: no exported {} sample has {:?}",
                    sel.name, sel.matchers
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "expressions that select nothing the agent exports:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn promql_scanner() {
    let e = r#"histogram_quantile(0.95, sum by (le, plugin) (rate(oxg_plugin_event_duration_seconds_bucket{plugin="seer"}[5m]))) / on (x) group_left foo:bar offset 5m > 1e-9"#;
    let sels = promql_selectors(e);
    assert_eq!(
        sels,
        vec![
            Selector {
                name: "oxg_plugin_event_duration_seconds_bucket".into(),
                matchers: vec![("plugin".into(), "seer".into())],
            },
            Selector {
                name: "foo:bar".into(),
                matchers: vec![],
            },
        ]
    );
    let e =
        r#"sum(rate(llm_requests_total{outcome="error", provider!="x"}[5m])) by (provider) > 0.1"#;
    assert_eq!(
        promql_selectors(e),
        vec![Selector {
            name: "llm_requests_total".into(),
            matchers: vec![("outcome".into(), "error".into())],
        }]
    );
    assert_eq!(
        promql_metric_names("circuit_breaker_state{breaker=\"nats\"} == 1"),
        ["circuit_breaker_state".to_string()].into()
    );
}

/// Checks an example's thread counts: past `common::MAX_THREADS` (1,024,
/// in `examples/common/mod.rs`) is a usage error (exit 2), and a thread
/// the system cannot start is a clear error with exit 1, never a panic or
/// an abort.
///
/// The system is made to refuse with an address-space limit (`ulimit -v`)
/// that 1,000 thread stacks cannot fit in. Whatever maps memory after the
/// last stack that fitted meets the same shortage, and the room left then
/// is anywhere between nothing and one stack, so the stacks are made large
/// (`RUST_MIN_STACK`, 16 MiB; reserved, not touched): the chance that the
/// last thread which did start finds no room for its few pages of signal
/// stack is then about 12 KiB in 16 MiB. The limit, 3 GB, leaves room for
/// the agent's own threads at that size on a machine with up to about a
/// hundred CPUs (one runtime worker each). One malloc arena
/// (`MALLOC_ARENA_MAX`): glibc gives each new thread an arena of its own,
/// reserving 64 MiB of address space apiece, which would run out first.
pub fn assert_thread_limits(bin: &Path, addrs: &[&str]) {
    let out = Command::new(bin)
        .args(addrs)
        .args(["--threads", "2000"])
        .output()
        .expect("run the example");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("at most 1024 worker threads"), "{err}");

    let script = format!(
        "ulimit -v 3000000 && exec \"$0\" {} --threads 1000",
        addrs.join(" ")
    );
    let out = Command::new("sh")
        .args(["-c", &script])
        .arg(bin)
        .env("MALLOC_ARENA_MAX", "1")
        .env("RUST_MIN_STACK", (16 << 20).to_string())
        .stdin(Stdio::null())
        .output()
        .expect("run the example under ulimit -v");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cannot start thread") && err.contains("give fewer --threads"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

/// Checks that the body has every process metric (`telemeter::process`),
/// each with one sample, and that none of them failed to read.
pub fn assert_process_metrics(exp: &Exposition) {
    for name in telemeter::process::NAMES {
        let fam = exp
            .families
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("no process metric {name}"));
        assert_eq!(fam.samples.len(), 1, "{name}");
        assert!(fam.samples[0].value >= 0.0, "{name}");
    }
    let errors = exp
        .families
        .iter()
        .find(|f| f.name == "telemeter_scrape_callback_errors_total")
        .map(|f| f.samples[0].value);
    assert_eq!(errors, Some(0.0), "a process metric failed to read");
}
