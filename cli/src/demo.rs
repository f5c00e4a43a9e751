//! `telemeter demo`: a synthetic agent that embeds telemeter the way the two
//! seed systems do — an RPC/plugin daemon (0xgen: `oxg_*`, legacy `glyph_*`
//! aliases) and an LLM agent runtime (nexo-rs: LLM and tool metrics, breaker
//! gauges sampled at scrape time, fingerprinted account labels) — and serves
//! `/metrics`, `/health`, `/ready` and the admin console.

/// The seed's directory pages with their query parameters, shared with
/// `examples/nexo_agent.rs`.
#[path = "../../examples/common/directory.rs"]
mod directory;

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::json;
use telemeter::fingerprint::Fingerprint;
use telemeter::push::{Pushgateway, RemoteWrite, RemoteWriter};
use telemeter::server::{Exporter, ExporterHandle, HostRequest, HostResponse, Route, Surface};
use telemeter::{
    fixed_label, static_metrics, Buckets, ByLabel, Counter, Family, Gauge, Histogram,
    NativeBuckets, NativeHistogram, Opts, Registry,
};

pub const AFTER_HELP: &str = "\
Surfaces (each address is host:port, :port for every interface, port 0 for an
OS-chosen port, or \"\" to disable):
  metrics  http://<metrics-addr>/metrics
  health   http://<health-addr>/health and /ready, and / (an HTML page of the
           demo's own: a host route, ExporterBuilder::route)
  admin    http://<admin-addr>/admin/agents, /admin/tool-policy,
           /admin/metrics-summary (loopback only)

On SIGINT or SIGTERM /ready turns 503, the server drains for --drain-ms, and
the process exits 0.

With --pushgateway URL the demo also pushes its registry to that
Pushgateway (group job=<--push-job>) every --push-interval seconds, and
deletes the group when it stops. With --remote-write URL it sends the
registry to a Prometheus remote-write receiver every
--remote-write-interval seconds.

Examples:
  telemeter demo
  telemeter demo --pushgateway http://127.0.0.1:9091 --admin-addr \"\"
  curl -s http://127.0.0.1:9090/metrics | head
  curl -s http://127.0.0.1:8080/ready
  telemeter status";

/// Options of `telemeter demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where to serve /metrics ("" disables it).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9090")]
    metrics_addr: String,
    /// Where to serve /health and /ready ("" disables them).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    health_addr: String,
    /// Where to serve the admin console; loopback only ("" disables it).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9091")]
    admin_addr: String,
    /// Worker threads generating synthetic work (1 to 1024).
    #[arg(long, value_name = "N", default_value_t = 4)]
    threads: usize,
    /// Operations per second per worker thread.
    #[arg(long, value_name = "N", default_value_t = 200)]
    rate: u32,
    /// Simulated boot time before /ready can turn 200, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 500)]
    boot_ms: u64,
    /// How long /ready answers 503 before the listeners close at shutdown.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    drain_ms: u64,
    /// Also push the registry to this Pushgateway (http://host:port) every
    /// --push-interval, and delete the push group on shutdown.
    #[arg(long, value_name = "URL")]
    pushgateway: Option<String>,
    /// The push group's job.
    #[arg(long, value_name = "NAME", default_value = "telemeter-demo")]
    push_job: String,
    /// Seconds between pushes (0.1 to 3600).
    #[arg(long, value_name = "SECS", default_value_t = 15.0)]
    push_interval: f64,
    /// Also send the registry to this Prometheus remote-write receiver
    /// (http[s]://host:port/api/v1/write) every --remote-write-interval,
    /// retrying, queueing while it is away, and flushing at shutdown.
    #[arg(long, value_name = "URL")]
    remote_write: Option<String>,
    /// Seconds between remote-write sends (0.1 to 3600).
    #[arg(long, value_name = "SECS", default_value_t = 15.0)]
    remote_write_interval: f64,
    /// A header for every remote-write request (NAME=VALUE; repeatable),
    /// such as X-Scope-OrgID=tenant for Mimir.
    #[arg(long, value_name = "NAME=VALUE")]
    remote_write_header: Vec<String>,
    /// Basic auth for the remote-write receiver.
    #[arg(long, value_name = "USER:PASSWORD")]
    remote_write_basic_auth: Option<String>,
    /// For an https:// receiver: trust only the CA certificates in this
    /// PEM file (default: the Mozilla roots).
    #[arg(long, value_name = "FILE")]
    remote_write_ca: Option<std::path::PathBuf>,
    /// Send the demo's native histogram (rpc_latency_seconds) whole, in
    /// remote write's histograms field, for a receiver that takes them
    /// (Prometheus with --enable-feature=native-histograms); without it,
    /// its classic buckets.
    #[arg(long)]
    remote_write_native_histograms: bool,
}

/// A thread that sends the registry somewhere every interval until it is
/// dropped (on every way out of the demo, early failures included), then
/// runs its `finish` (the Pushgateway's group delete).
struct Periodic {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Periodic {
    /// Starts `send` every `interval`; a failure is said once per outage,
    /// and so is the recovery.
    fn start(
        what: &'static str,
        interval: Duration,
        mut send: impl FnMut() -> Result<(), String> + Send + 'static,
        finish: impl FnOnce() + Send + 'static,
    ) -> Result<Periodic, String> {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = thread::Builder::new()
            .name(format!("demo-{what}"))
            .spawn(move || {
                let mut failing = false;
                loop {
                    match send() {
                        Ok(()) if failing => {
                            eprintln!("{what}: delivered again");
                            failing = false;
                        }
                        Ok(()) => {}
                        Err(e) if !failing => {
                            eprintln!("{what} failed (retrying every {interval:?}): {e}");
                            failing = true;
                        }
                        Err(_) => {}
                    }
                    match stopped.recv_timeout(interval) {
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
                        _ => break,
                    }
                }
                finish();
            })
            .map_err(|e| format!("cannot start the {what} thread: {e}"))?;
        Ok(Periodic {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Periodic {
    /// Stops sending and waits for `finish`.
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// An interval flag's value, checked: 0.1 to 3600 seconds.
fn interval(flag: &str, secs: f64) -> Result<Duration, String> {
    if !(0.1..=3600.0).contains(&secs) {
        return Err(format!("{flag} {secs}: give 0.1 to 3600 seconds"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// `--pushgateway`: pushes every `--push-interval`, deletes the group at
/// the end; `Ok(None)` without the flag. The error is a usage error's.
fn start_pusher(args: &DemoArgs, reg: &Registry) -> Result<Option<Periodic>, String> {
    let Some(url) = &args.pushgateway else {
        return Ok(None);
    };
    let every = interval("--push-interval", args.push_interval)?;
    let gateway = std::sync::Arc::new(
        Pushgateway::builder(url.as_str())
            .job(args.push_job.as_str())
            .build()
            .map_err(|e| format!("--pushgateway: {e}"))?,
    );
    eprintln!("pushing to {} every {every:?}", gateway.url());
    let (g1, g2, reg) = (Arc::clone(&gateway), gateway, reg.clone());
    Periodic::start(
        "push",
        every,
        move || g1.push(&reg).map_err(|e| e.to_string()),
        move || match g2.delete() {
            Ok(()) => eprintln!("deleted the push group {}", g2.url()),
            Err(e) => eprintln!("could not delete the push group: {e}"),
        },
    )
    .map(Some)
}

/// `--remote-write`: a [`RemoteWriter`] sending the registry every
/// `--remote-write-interval` (retries, a bounded queue, a final flush at
/// shutdown); `Ok(None)` without the flag. The error is a usage error's.
fn start_remote_write(args: &DemoArgs, reg: &Registry) -> Result<Option<RemoteWriter>, String> {
    let Some(url) = &args.remote_write else {
        return Ok(None);
    };
    let every = interval("--remote-write-interval", args.remote_write_interval)?;
    let mut builder = RemoteWrite::builder(url.as_str())
        .interval(every)
        .native_histograms(args.remote_write_native_histograms);
    for h in &args.remote_write_header {
        let Some((name, value)) = h.split_once('=') else {
            return Err(format!("--remote-write-header {h:?}: give NAME=VALUE"));
        };
        builder = builder.header(name.trim(), value.trim());
    }
    if let Some(auth) = &args.remote_write_basic_auth {
        let Some((user, password)) = auth.split_once(':') else {
            return Err("--remote-write-basic-auth: give USER:PASSWORD".to_string());
        };
        builder = builder.basic_auth(user, password);
    }
    if let Some(path) = &args.remote_write_ca {
        let pem = std::fs::read(path)
            .map_err(|e| format!("--remote-write-ca {}: {e}", path.display()))?;
        builder = builder.ca_certificate_pem(pem);
    }
    let writer = builder
        .build()
        .and_then(|rw| rw.start(reg))
        .map_err(|e| format!("--remote-write: {e}"))?;
    eprintln!("remote-writing to {url} every {every:?}");
    Ok(Some(writer))
}

/// Stops a remote writer, flushing for at most 5 s, and says what it did.
fn stop_remote_write(writer: RemoteWriter) {
    let s = writer.shutdown(Duration::from_secs(5));
    eprintln!(
        "remote write: {} samples sent in {} requests, {} retried, {} failed, {} dropped{}",
        s.samples_sent,
        s.requests_sent,
        s.samples_retried,
        s.samples_failed,
        s.samples_dropped,
        s.last_error
            .map(|e| format!(" (last error: {e})"))
            .unwrap_or_default()
    );
}

fixed_label! {
    /// A tool call's outcome (nexo-rs seed).
    pub enum Outcome: "outcome" { Ok = "ok", Error = "error", Blocked = "blocked", Unknown = "unknown" }
}

fixed_label! {
    /// A tool cache event (nexo-rs seed).
    pub enum CacheEvent: "event" { Hit = "hit", Miss = "miss", Put = "put", Evict = "evict" }
}

const AGENTS: [(&str, &str, &str); 3] = [
    ("kate", "anthropic", "claude-sonnet-4"),
    ("ops-bot", "openai", "gpt-4o-mini"),
    ("support", "minimax", "abab6.5s"),
];
const TOOLS: [(&str, &str); 4] = [
    ("web_search", "allow"),
    ("read_file", "allow"),
    ("http_fetch", "ask"),
    ("shell", "deny"),
];
const COMPONENTS: [&str; 3] = ["api", "plugin-host", "netgate"];
const METHODS: [&str; 3] = ["Get", "List", "Run"];
const CODES: [&str; 3] = ["OK", "NOT_FOUND", "INTERNAL"];
const PLUGINS: [&str; 3] = ["seer", "excavator", "raider"];
const EVENTS: [&str; 3] = ["request", "response", "finding"];
const CAPABILITIES: [&str; 2] = ["CAP_HTTP_ACTIVE", "CAP_HTTP_PASSIVE"];
const HTTP_METHODS: [&str; 2] = ["GET", "POST"];
const HTTP_STATUSES: [&str; 3] = ["200", "429", "503"];
const ACCOUNTS: [&str; 2] = ["kate@example.com", "ops@example.com"];

/// The simulated agents' live state, read by the admin pages and readiness.
struct AgentState {
    id: &'static str,
    provider: &'static str,
    model: &'static str,
    /// 0 starting, 1 running, 2 draining.
    status: AtomicU8,
    sessions: AtomicI64,
    messages: AtomicU64,
}

impl AgentState {
    fn status_str(&self) -> &'static str {
        match self.status.load(Ordering::Relaxed) {
            0 => "starting",
            1 => "running",
            _ => "draining",
        }
    }
}

struct World {
    agents: Vec<AgentState>,
    broker_ready: AtomicBool,
    /// Per-provider breaker, 0 closed, 1 open.
    provider_breakers: Vec<AtomicU8>,
    active_plugins: AtomicI64,
    stop: AtomicBool,
}

impl World {
    fn agents_running(&self) -> i64 {
        self.agents
            .iter()
            .filter(|a| a.status.load(Ordering::Relaxed) == 1)
            .count() as i64
    }
}

/// Every handle the workers record into, resolved once at start-up.
struct Metrics {
    rpc_requests: Vec<Counter>,                    // [component][method]
    rpc_errors: Vec<Counter>,                      // [component][method][error code]
    rpc_duration: Vec<Histogram>,                  // [component][method][code]
    plugin_event_duration: Vec<Histogram>,         // [plugin][event]
    plugin_queue: Vec<Gauge>,                      // [plugin]
    http_duration: Vec<Histogram>,                 // [plugin][capability][method][status]
    http_throttle: Vec<Counter>,                   // [scope]
    http_backoff: Vec<Counter>,                    // [429, 503]
    llm_requests: Vec<Counter>,                    // [agent]
    llm_latency: Vec<Histogram>,                   // [agent]
    messages: Vec<Counter>,                        // [agent]
    tool_calls: Vec<ByLabel<Outcome, Counter>>,    // [agent][tool]
    tool_cache: Vec<ByLabel<CacheEvent, Counter>>, // [agent][tool]
    tool_latency: Vec<Histogram>,                  // [agent][tool]
    token_refresh: Vec<(Counter, Counter)>,        // [account] (ok, err)
    pairing_pending: Gauge,
    /// Every RPC's latency again, as a native histogram.
    rpc_latency: NativeHistogram,
}

static_metrics! {
    /// Inbound messages that reached an agent: a program-wide static on
    /// the default registry, the way a user declares a metric once.
    static MESSAGES: Family<Counter> = counter_family(
        "messages_processed_total",
        "Inbound messages that reached an agent.",
        ["agent"]
    );
}

fn register(reg: &Registry, world: &Arc<World>) -> Result<Metrics, telemeter::Error> {
    // 0xgen: RPC and plugins, legacy glyph_* names kept as aliases.
    let rpc_requests = reg.counter_family(
        Opts::new(
            "oxg_rpc_requests_total",
            "Total RPC calls handled by the component.",
        )
        .labels(&["component", "method"])
        .alias("glyph_rpc_requests_total"),
    )?;
    let rpc_errors = reg.counter_family(
        Opts::new(
            "oxg_rpc_errors_total",
            "Errors emitted during RPC handling.",
        )
        .labels(&["component", "method", "code"])
        .alias("glyph_rpc_errors_total"),
    )?;
    let rpc_duration = reg.histogram_family(
        Opts::new("oxg_rpc_duration_seconds", "Latency for each RPC handler.")
            .labels(&["component", "method", "code"])
            .alias("glyph_rpc_duration_seconds"),
        Buckets::default_prometheus(),
    )?;
    let plugin_event = reg.histogram_family(
        Opts::new(
            "oxg_plugin_event_duration_seconds",
            "Latency for processing plugin events.",
        )
        .labels(&["plugin", "event"]),
        Buckets::exponential(0.001, 2.0, 12)?,
    )?;
    let plugin_queue = reg.gauge_family(
        Opts::new(
            "oxg_plugin_queue_length",
            "Depth of each plugin's outbound queue.",
        )
        .labels(&["plugin"]),
    )?;
    let w = Arc::clone(world);
    reg.gauge_fn(
        "oxg_active_plugins",
        "Number of connected plugins.",
        move || w.active_plugins.load(Ordering::Relaxed) as f64,
    )?;
    let http_duration = reg.histogram_family(
        Opts::new(
            "oxg_http_request_duration_seconds",
            "Latency for outbound HTTP requests executed via the NetGate.",
        )
        .labels(&["plugin", "capability", "method", "status"]),
        Buckets::default_prometheus(),
    )?;
    let http_throttle = reg.counter_family(
        Opts::new(
            "oxg_http_throttle_total",
            "Number of outbound HTTP requests delayed by throttling.",
        )
        .labels(&["scope"]),
    )?;
    let http_backoff = reg.counter_family(
        Opts::new(
            "oxg_http_backoff_total",
            "Number of outbound HTTP retries triggered by upstream status codes.",
        )
        .labels(&["status"]),
    )?;

    // nexo-rs: LLM calls, messages, tools, breakers, credentials, pairing.
    let llm_requests = reg.counter_family(
        Opts::new("llm_requests_total", "Every LLM completion request.")
            .labels(&["agent", "provider", "model"]),
    )?;
    let llm_latency = reg.histogram_family(
        Opts::new("llm_latency_ms", "LLM completion latency in milliseconds.")
            .labels(&["agent", "provider", "model"]),
        Buckets::new(vec![
            50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0,
        ])?,
    )?;
    // Declared once for the program (`static_metrics!` below); forced
    // here so that it is registered, in this order, before the first scrape.
    let messages = MESSAGES.force().map_err(Clone::clone)?;
    let tool_calls = reg.counter_family(
        Opts::new("nexo_tool_calls_total", "Tool invocations.")
            .labels(&["agent", "outcome", "tool"]),
    )?;
    let tool_cache = reg.counter_family(
        Opts::new("nexo_tool_cache_events_total", "Tool-level memoization.")
            .labels(&["agent", "event", "tool"]),
    )?;
    let tool_latency = reg.histogram_family(
        Opts::new("nexo_tool_latency_ms", "Per-tool latency in milliseconds.")
            .labels(&["agent", "tool"]),
        Buckets::new(vec![
            5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0,
        ])?,
    )?;
    // Sampled at scrape time from their source of truth, not pushed.
    let w = Arc::clone(world);
    reg.gauge_callback(
        Opts::new(
            "circuit_breaker_state",
            "0 = Closed, 1 = Open; always includes nats.",
        )
        .labels(&["breaker"]),
        move |s| {
            s.sample(
                &["nats"],
                if w.broker_ready.load(Ordering::Relaxed) {
                    0.0
                } else {
                    1.0
                },
            );
            for (i, (_, provider, _)) in AGENTS.iter().enumerate() {
                s.sample(
                    &[provider],
                    f64::from(w.provider_breakers[i].load(Ordering::Relaxed)),
                );
            }
        },
    )?;
    let token_refresh = reg.counter_family(
        Opts::new(
            "credentials_google_token_refresh_total",
            "Google OAuth refresh attempts (fp = sha256[..8], not raw email).",
        )
        .labels(&["account_fp", "outcome"]),
    )?;
    let pairing_pending = reg
        .gauge_family(
            Opts::new("pairing_requests_pending", "Pending pairing requests.").labels(&["channel"]),
        )?
        .with_label_values(&["whatsapp"])?;

    reg.info(
        "demo_build",
        "The demo's build: an info metric (OpenMetrics' info type, a gauge of 1 in 0.0.4).",
        &[
            ("version", env!("CARGO_PKG_VERSION")),
            ("agent", "telemeter-demo"),
        ],
    )?;
    let rpc_latency = reg.native_histogram_family(
        Opts::new(
            "rpc_latency_seconds",
            "Every RPC's latency, as a native histogram (schema 3): native buckets for a \
             Prometheus with --enable-feature=native-histograms, power-of-two buckets for \
             every other scraper.",
        )
        .unit("seconds"),
        NativeBuckets::default(),
    )?;
    let rpc_latency = rpc_latency.with_label_values(&[])?;

    let mut m = Metrics {
        rpc_requests: Vec::new(),
        rpc_errors: Vec::new(),
        rpc_duration: Vec::new(),
        rpc_latency,
        plugin_event_duration: Vec::new(),
        plugin_queue: Vec::new(),
        http_duration: Vec::new(),
        http_throttle: Vec::new(),
        http_backoff: Vec::new(),
        llm_requests: Vec::new(),
        llm_latency: Vec::new(),
        messages: Vec::new(),
        tool_calls: Vec::new(),
        tool_cache: Vec::new(),
        tool_latency: Vec::new(),
        token_refresh: Vec::new(),
        pairing_pending,
    };
    for c in COMPONENTS {
        for me in METHODS {
            m.rpc_requests
                .push(rpc_requests.with_label_values(&[c, me])?);
            for code in CODES {
                if code != CODES[0] {
                    m.rpc_errors
                        .push(rpc_errors.with_label_values(&[c, me, code])?);
                }
                m.rpc_duration
                    .push(rpc_duration.with_label_values(&[c, me, code])?);
            }
        }
    }
    for p in PLUGINS {
        for e in EVENTS {
            m.plugin_event_duration
                .push(plugin_event.with_label_values(&[p, e])?);
        }
        m.plugin_queue.push(plugin_queue.with_label_values(&[p])?);
        for cap in CAPABILITIES {
            for hm in HTTP_METHODS {
                for st in HTTP_STATUSES {
                    m.http_duration
                        .push(http_duration.with_label_values(&[p, cap, hm, st])?);
                }
            }
        }
    }
    for scope in ["global", "host"] {
        m.http_throttle
            .push(http_throttle.with_label_values(&[scope])?);
    }
    for st in ["429", "503"] {
        m.http_backoff.push(http_backoff.with_label_values(&[st])?);
    }
    for (agent, provider, model) in AGENTS {
        m.llm_requests
            .push(llm_requests.with_label_values(&[agent, provider, model])?);
        m.llm_latency
            .push(llm_latency.with_label_values(&[agent, provider, model])?);
        m.messages.push(messages.with_label_values(&[agent])?);
        for (tool, _) in TOOLS {
            m.tool_calls
                .push(tool_calls.by_label::<Outcome>(&[agent, tool])?);
            m.tool_cache
                .push(tool_cache.by_label::<CacheEvent>(&[agent, tool])?);
            m.tool_latency
                .push(tool_latency.with_label_values(&[agent, tool])?);
        }
    }
    for account in ACCOUNTS {
        let fp = Fingerprint::of(account);
        m.token_refresh.push((
            token_refresh.with_label_values(&[fp.as_str(), "ok"])?,
            token_refresh.with_label_values(&[fp.as_str(), "err"])?,
        ));
    }
    Ok(m)
}

/// xorshift64*: plenty for synthetic traffic, no dependency.
struct Rng(u64);

impl Rng {
    fn seeded(salt: u64) -> Rng {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Rng((t ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A simulated request's 128-bit trace id, in hex, written into
    /// `buf` (no allocation): what an exemplar carries.
    fn trace_id<'b>(&mut self, buf: &'b mut [u8; 32]) -> &'b str {
        let (hi, lo) = (self.next(), self.next());
        for (i, b) in buf.iter_mut().enumerate() {
            let word = if i < 16 { hi } else { lo };
            let nibble = (word >> (4 * (15 - i % 16))) & 0xf;
            *b = b"0123456789abcdef"[nibble as usize];
        }
        std::str::from_utf8(buf).unwrap_or("0")
    }

    /// A heavy-tailed latency around `median` (log-normal-ish).
    fn latency(&mut self, median: f64) -> f64 {
        let z = (self.unit() + self.unit() + self.unit() - 1.5) * 2.0;
        median * z.exp()
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
}

fn work(m: &Metrics, world: &World, rng: &mut Rng) {
    match rng.below(100) {
        // An RPC call.
        0..=29 => {
            let (c, me) = (rng.below(COMPONENTS.len()), rng.below(METHODS.len()));
            let code = if rng.chance(0.9) {
                0
            } else {
                1 + rng.below(CODES.len() - 1)
            };
            m.rpc_requests[c * METHODS.len() + me].inc();
            let i = (c * METHODS.len() + me) * CODES.len() + code;
            if code != 0 {
                m.rpc_errors[(c * METHODS.len() + me) * (CODES.len() - 1) + code - 1].inc();
            }
            // Every RPC carries its trace id: the exemplar links a slow
            // bucket to a trace.
            let latency = rng.latency(0.02);
            let mut id = [0; 32];
            m.rpc_duration[i]
                .observe_with_exemplar(latency, &[("trace_id", rng.trace_id(&mut id))]);
            m.rpc_latency.observe(latency);
        }
        // A plugin event.
        30..=49 => {
            let (p, e) = (rng.below(PLUGINS.len()), rng.below(EVENTS.len()));
            m.plugin_event_duration[p * EVENTS.len() + e].observe(rng.latency(0.008));
            m.plugin_queue[p].set(rng.below(40) as i64);
        }
        // An outbound HTTP request through the NetGate.
        50..=64 => {
            let p = rng.below(PLUGINS.len());
            let cap = rng.below(CAPABILITIES.len());
            let hm = rng.below(HTTP_METHODS.len());
            let st = match rng.below(20) {
                0 => 1,
                1 => 2,
                _ => 0,
            };
            let i = ((p * CAPABILITIES.len() + cap) * HTTP_METHODS.len() + hm)
                * HTTP_STATUSES.len()
                + st;
            let latency = rng.latency(0.12);
            let mut id = [0; 32];
            m.http_duration[i]
                .observe_with_exemplar(latency, &[("trace_id", rng.trace_id(&mut id))]);
            if st != 0 {
                m.http_backoff[st - 1].inc();
            }
            if rng.chance(0.05) {
                m.http_throttle[rng.below(2)].inc();
            }
        }
        // An LLM call for a running agent.
        65..=79 => {
            let a = rng.below(AGENTS.len());
            if world.agents[a].status.load(Ordering::Relaxed) != 1 {
                return;
            }
            m.messages[a].inc();
            world.agents[a].messages.fetch_add(1, Ordering::Relaxed);
            m.llm_requests[a].inc();
            m.llm_latency[a].observe_u64(rng.latency(900.0) as u64);
            if rng.chance(0.01) {
                let (ok, err) = &m.token_refresh[rng.below(ACCOUNTS.len())];
                if rng.chance(0.9) { ok } else { err }.inc();
            }
        }
        // A tool call.
        _ => {
            let a = rng.below(AGENTS.len());
            let t = rng.below(TOOLS.len());
            let i = a * TOOLS.len() + t;
            let outcome = if TOOLS[t].1 == "deny" {
                Outcome::Blocked
            } else {
                match rng.below(50) {
                    0..=2 => Outcome::Error,
                    3 => Outcome::Unknown,
                    _ => Outcome::Ok,
                }
            };
            m.tool_calls[i].get(outcome).inc();
            let cache = &m.tool_cache[i];
            if rng.chance(0.4) {
                cache.get(CacheEvent::Hit).inc();
            } else {
                cache.get(CacheEvent::Miss).inc();
                cache.get(CacheEvent::Put).inc();
                if rng.chance(0.1) {
                    cache.get(CacheEvent::Evict).inc();
                }
                m.tool_latency[i].observe_u64(rng.latency(60.0) as u64);
            }
        }
    }
}

/// Slow-moving state: sessions, breakers, plugins, pairing requests.
fn churn(m: &Metrics, world: &World, rng: &mut Rng) {
    for a in &world.agents {
        if a.status.load(Ordering::Relaxed) == 1 {
            let s = a.sessions.load(Ordering::Relaxed);
            let next = (s + rng.below(3) as i64 - 1).clamp(0, 8);
            a.sessions.store(next, Ordering::Relaxed);
        }
    }
    for b in &world.provider_breakers {
        let open = b.load(Ordering::Relaxed) == 1;
        if open && rng.chance(0.5) || !open && rng.chance(0.02) {
            b.store(u8::from(!open), Ordering::Relaxed);
        }
    }
    world
        .active_plugins
        .store(2 + rng.below(2) as i64, Ordering::Relaxed);
    m.pairing_pending.set(rng.below(3) as i64);
}

fn admin_agents(world: &World) -> Vec<serde_json::Value> {
    world
        .agents
        .iter()
        .map(|a| {
            json!({
                "id": a.id,
                "status": a.status_str(),
                "sessions": a.sessions.load(Ordering::Relaxed),
                "provider": a.provider,
                "model": a.model,
                "messages": a.messages.load(Ordering::Relaxed),
            })
        })
        .collect()
}

fn admin_tool_policy() -> serde_json::Value {
    let tools: Vec<serde_json::Value> = TOOLS
        .iter()
        .map(|(name, policy)| json!({ "tool": name, "policy": policy }))
        .collect();
    json!({
        "default": "ask",
        "tools": tools,
        "agents": AGENTS.iter().map(|(id, _, _)| json!({ "agent": id, "overrides": [] })).collect::<Vec<_>>(),
    })
}

/// `GET /` on the health listener: the demo's own page, served through a
/// host route (`ExporterBuilder::route`), with the agents' live state and
/// where each surface listens.
/// A surface's name, bound address (`None`: disabled) and paths.
type Bound = (&'static str, Option<std::net::SocketAddr>, &'static str);

fn home_page(_: &HostRequest, world: &World, addrs: &[Bound]) -> HostResponse {
    let mut rows = String::new();
    for a in &world.agents {
        rows.push_str(&format!(
            "<tr><td>{}</td><td class=\"status\">{}</td><td>{}</td><td>{}</td></tr>\n",
            a.id,
            a.status_str(),
            a.sessions.load(Ordering::Relaxed),
            a.messages.load(Ordering::Relaxed),
        ));
    }
    let mut surfaces = String::new();
    for (name, addr, paths) in addrs {
        let addr = addr.map_or_else(|| "disabled".to_string(), |a| a.to_string());
        surfaces.push_str(&format!("<li>{name}: {addr} ({paths})</li>\n"));
    }
    HostResponse::html(format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>telemeter demo</title></head>\n<body>\n<h1>telemeter demo</h1>\n\
         <p>Broker: {}. This page is a route of the demo's own on the health \
         listener (ExporterBuilder::route).</p>\n<ul class=\"surfaces\">\n{surfaces}</ul>\n\
         <table class=\"agents\"><tr><th>agent</th><th>status</th><th>sessions</th>\
         <th>messages</th></tr>\n{rows}</table>\n</body></html>\n",
        if world.broker_ready.load(Ordering::Relaxed) {
            "ready"
        } else {
            "not ready"
        }
    ))
}

fn start_exporter(
    args: &DemoArgs,
    reg: &Registry,
    world: &Arc<World>,
) -> Result<ExporterHandle, telemeter::server::ServerError> {
    let (w1, w2, w3) = (Arc::clone(world), Arc::clone(world), Arc::clone(world));
    let w4 = Arc::clone(world);
    // Where each surface listens, known once the exporter has bound.
    let bound: Arc<OnceLock<Vec<Bound>>> = Arc::new(OnceLock::new());
    let b4 = Arc::clone(&bound);
    let handle = Exporter::builder()
        .registry(reg.clone())
        .metrics_addr(args.metrics_addr.as_str())
        .health_addr(args.health_addr.as_str())
        .admin_addr(args.admin_addr.as_str())
        .drain(Duration::from_millis(args.drain_ms))
        .ready_check("broker_ready", move || {
            w1.broker_ready.load(Ordering::Relaxed)
        })
        .ready_fact_at_least("agents_running", 1, move || w2.agents_running())
        .admin_handler("/admin/agents", move |req| {
            directory::agents_page(req, admin_agents(&w3))
        })
        .admin_handler("/admin/tool-policy", |req| {
            directory::policy_page(req, admin_tool_policy())
        })
        .route(Surface::Health, Route::exact("/"), move |req| {
            home_page(req, &w4, b4.get().map_or(&[][..], Vec::as_slice))
        })
        .start()?;
    let _ = bound.set(vec![
        ("metrics", handle.metrics_addr(), "/metrics"),
        ("health", handle.health_addr(), "/health, /ready, /"),
        ("admin", handle.admin_addr(), "/admin/, loopback only"),
    ]);
    Ok(handle)
}

fn announce(handle: &ExporterHandle) {
    let _ = handle.announce(&mut std::io::stdout().lock());
}

/// The most `--threads` the demo starts.
const MAX_THREADS: usize = 1024;

pub fn run(args: DemoArgs) -> ExitCode {
    if args.threads == 0 || args.rate == 0 {
        eprintln!("error: --threads and --rate must be at least 1");
        return ExitCode::from(2);
    }
    if args.threads > MAX_THREADS {
        eprintln!(
            "error: --threads {}: the demo starts at most {MAX_THREADS} worker threads",
            args.threads
        );
        return ExitCode::from(2);
    }
    let world = Arc::new(World {
        agents: AGENTS
            .iter()
            .map(|&(id, provider, model)| AgentState {
                id,
                provider,
                model,
                status: AtomicU8::new(0),
                sessions: AtomicI64::new(0),
                messages: AtomicU64::new(0),
            })
            .collect(),
        broker_ready: AtomicBool::new(false),
        provider_breakers: AGENTS.iter().map(|_| AtomicU8::new(0)).collect(),
        active_plugins: AtomicI64::new(0),
        stop: AtomicBool::new(false),
    });
    // The default registry: the `static_metrics!` statics register there.
    let reg = telemeter::default_registry().clone();
    let metrics = match register(&reg, &world) {
        Ok(m) => Arc::new(m),
        Err(e) => {
            eprintln!("error: registering the demo's metrics: {e}");
            return ExitCode::FAILURE;
        }
    };
    // CPU, memory, descriptors, threads and start time of this process.
    if let Err(e) = telemeter::process::register(&reg) {
        eprintln!("error: registering the process metrics: {e}");
        return ExitCode::FAILURE;
    }
    let signal = match telemeter::server::ShutdownSignal::install() {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: cannot install signal handlers: {e}");
            return ExitCode::FAILURE;
        }
    };
    let handle = match start_exporter(&args, &reg, &world) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    announce(&handle);
    let senders = match (start_pusher(&args, &reg), start_remote_write(&args, &reg)) {
        (Ok(p), Ok(r)) => (p, r),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            handle.shutdown();
            return ExitCode::from(2);
        }
    };

    let (sig_tx, sig_rx) = std::sync::mpsc::channel();
    if let Err(e) = thread::Builder::new()
        .name("demo-signals".into())
        .spawn(move || {
            let _ = sig_tx.send(signal.wait());
        })
    {
        eprintln!("error: cannot start the signal thread: {e}");
        handle.shutdown();
        return ExitCode::FAILURE;
    }

    let mut workers = Vec::new();
    let interval = Duration::from_secs_f64(1.0 / f64::from(args.rate));
    for n in 0..args.threads {
        let (m, w) = (Arc::clone(&metrics), Arc::clone(&world));
        let spawned = thread::Builder::new()
            .name(format!("demo-worker-{n}"))
            .spawn(move || {
                let mut rng = Rng::seeded(n as u64 + 1);
                let mut next = Instant::now();
                while !w.stop.load(Ordering::Relaxed) {
                    work(&m, &w, &mut rng);
                    next += interval;
                    let now = Instant::now();
                    if next > now {
                        thread::sleep(next - now);
                    } else {
                        next = now;
                    }
                }
            });
        match spawned {
            Ok(w) => workers.push(w),
            Err(e) => {
                eprintln!(
                    "error: cannot start worker thread {} of {}: {e} (give fewer --threads)",
                    n + 1,
                    args.threads
                );
                handle.shutdown();
                world.stop.store(true, Ordering::Relaxed);
                for w in workers {
                    let _ = w.join();
                }
                return ExitCode::FAILURE;
            }
        }
    }

    // Boot: the broker connects, the agents attach, then the host is started.
    let boot = Duration::from_millis(args.boot_ms);
    let signal = match sig_rx.recv_timeout(boot) {
        Ok(sig) => Some(sig),
        Err(_) => {
            world.broker_ready.store(true, Ordering::Relaxed);
            for a in &world.agents {
                a.status.store(1, Ordering::Relaxed);
                a.sessions.store(1, Ordering::Relaxed);
            }
            world.active_plugins.store(3, Ordering::Relaxed);
            handle.set_started();
            None
        }
    };
    let signal = match signal {
        Some(sig) => sig,
        None => {
            let mut rng = Rng::seeded(0);
            loop {
                match sig_rx.recv_timeout(Duration::from_millis(500)) {
                    Ok(sig) => break sig,
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                        churn(&metrics, &world, &mut rng)
                    }
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                        break Err(std::io::Error::other("signal thread ended"))
                    }
                }
            }
        }
    };
    let name = match signal {
        Ok(name) => name,
        Err(e) => {
            eprintln!("error: cannot wait for signals: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "received {name}: /ready now answers 503; draining for {} ms",
        args.drain_ms
    );
    for a in &world.agents {
        a.status.store(2, Ordering::Relaxed);
    }
    handle.shutdown();
    world.stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.join();
    }
    // After the workers: the final push carries their last counts.
    let (pusher, writer) = senders;
    drop(pusher);
    if let Some(writer) = writer {
        stop_remote_write(writer);
    }
    eprintln!("stopped");
    ExitCode::SUCCESS
}
