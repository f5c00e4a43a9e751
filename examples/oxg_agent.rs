//! The 0xgen telemetry surface (`seeds/0xgen-telemetry.md`), hosted on
//! telemeter: an RPC/plugin daemon with a simulated workload.
//!
//! ```text
//! cargo run --release --example oxg_agent -- --metrics-addr :9090
//! curl -s http://127.0.0.1:9090/metrics | grep '^oxg_'
//! cargo run --release --example oxg_agent -- --metrics-addr ""   # no HTTP server at all
//! ```
//!
//! Series (all with a deprecated `glyph_*` alias, same values):
//!
//! | series | type | labels |
//! |---|---|---|
//! | `oxg_rpc_requests_total` | counter | component, method |
//! | `oxg_rpc_errors_total` | counter | component, method, code |
//! | `oxg_rpc_duration_seconds` | histogram | component, method, code |
//! | `oxg_plugin_event_duration_seconds` | histogram | plugin, event |
//! | `oxg_plugin_queue_length` | gauge | plugin |
//! | `oxg_active_plugins` | gauge | — |
//! | `oxg_http_request_duration_seconds` | histogram | plugin, capability, method, status |
//! | `oxg_http_throttle_total` | counter | scope |
//! | `oxg_http_backoff_total` | counter | status |
//!
//! The workload: `--threads` RPC workers call the daemon's components; the
//! plugin-bus calls enqueue events for the connected plugins, whose own
//! threads drain their queues; a share of the calls make outbound HTTP
//! requests through the NetGate, which throttles them with a global and a
//! per-host token bucket and retries upstream 429/503 answers. A ticker
//! refills the buckets and now and then disconnects and reconnects a plugin.
//!
//! Commands on stdin (one per line; each answers `ok: ...` on stdout):
//! `pause` (parks every workload thread: scrapes are then stable), `resume`,
//! `help`, and with `--crash-dir DIR`, `crash`: the main thread panics
//! fatally, `telemeter::crash` writes a redacted bundle under DIR (the
//! seed's crash-reporting workflow; `telemeter crash ls DIR` lists them),
//! and the process exits with the panic's status, 101. Each command is
//! kept as a breadcrumb for the bundle.

mod common;

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use telemeter::crash::{self, CrashConfig, CrashReporter};
use telemeter::server::{Exporter, ExporterHandle};
use telemeter::{
    fixed_label, label_set, static_metrics, Buckets, Counter, Family, FixedCardinalityLabel, Gauge,
    Histogram, Opts, Registry, Typed,
};

use common::{announce, say, Event, Events, Gate, Rng};

const AFTER_HELP: &str = "\
The metrics address is host:port, :port for every interface, port 0 for an
OS-chosen port, or \"\" to run with no HTTP server at all.

Commands on stdin, one per line: pause, resume, help.
On SIGINT or SIGTERM the workload stops, the server closes, the exit status is 0.

Example:
  oxg_agent --metrics-addr 127.0.0.1:9090 &
  curl -s http://127.0.0.1:9090/metrics | grep -E '^(oxg|glyph)_active_plugins'";

/// The 0xgen daemon's telemetry, on telemeter, with a simulated workload.
#[derive(Debug, Parser)]
#[command(name = "oxg_agent", after_help = AFTER_HELP)]
struct Args {
    /// Where to serve /metrics ("" disables the HTTP server).
    #[arg(long, value_name = "ADDR", default_value = ":9090")]
    metrics_addr: String,
    /// RPC worker threads (1 to 1024).
    #[arg(long, value_name = "N", default_value_t = 2)]
    threads: usize,
    /// RPC calls per second per worker thread.
    #[arg(long, value_name = "N", default_value_t = 200)]
    rate: u32,
    /// Write a redacted, text-only crash bundle under DIR when the agent
    /// panics fatally (the `crash` command makes it); read them with
    /// `telemeter crash ls DIR`.
    #[arg(long, value_name = "DIR")]
    crash_dir: Option<std::path::PathBuf>,
}

/// Components and the RPC methods each serves.
const COMPONENTS: [(&str, &[&str]); 3] = [
    ("plugin_bus", &["EventStream", "PublishFinding"]),
    ("secrets", &["GetSecret"]),
    ("capabilities", &["Grant", "Revoke"]),
];
/// gRPC status codes; the first is success.
const CODES: [&str; 4] = ["OK", "InvalidArgument", "PermissionDenied", "Unavailable"];
fixed_label! {
    /// A connected plugin.
    pub enum Plugin: "plugin" {
        Seer = "seer", Excavator = "excavator", Raider = "raider", Cartographer = "cartographer",
    }
}
const PLUGINS: &[&str] = <Plugin as FixedCardinalityLabel>::VALUES;
const EVENTS: [&str; 3] = ["flow_request", "flow_response", "finding"];
fixed_label! {
    /// The capability an outbound HTTP request runs under.
    pub enum Capability: "capability" { Active = "CAP_HTTP_ACTIVE", Passive = "CAP_HTTP_PASSIVE" }
}
fixed_label! {
    /// An outbound request's method.
    pub enum HttpMethod: "method" { Get = "GET", Post = "POST" }
}
fixed_label! {
    /// An upstream answer's status; 429 and 503 are retried with backoff.
    pub enum HttpStatus: "status" { Ok = "200", NotFound = "404", TooMany = "429", Unavailable = "503" }
}
label_set! {
    /// The labels of `oxg_http_request_duration_seconds`: every
    /// combination is resolved once into a dense table (`Family::typed`).
    pub struct HttpLabels {
        plugin: Plugin,
        capability: Capability,
        method: HttpMethod,
        status: HttpStatus,
    }
}
const THROTTLE_SCOPES: [&str; 2] = ["global", "host"];
const BACKOFF_STATUSES: [&str; 2] = ["429", "503"];
const HOSTS: usize = 3;
/// A plugin queue past this depth refuses new events (backpressure).
const QUEUE_CAP: i64 = 256;

static_metrics! {
    /// Outbound HTTP requests the NetGate delayed, by bucket (`global`,
    /// `host`): a program-wide static on the default registry, the way a
    /// user declares a metric once (`telemeter::static_metrics!`).
    static THROTTLE: Family<Counter> = counter_family(
        "oxg_http_throttle_total",
        "Number of outbound HTTP requests delayed by throttling.",
        ["scope"]
    ).alias("glyph_http_throttle_total");
}

/// The legacy name of an `oxg_*` series.
fn legacy(name: &str) -> String {
    format!("glyph_{}", name.strip_prefix("oxg_").unwrap_or(name))
}

/// An `oxg_*` family with its deprecated `glyph_*` alias.
fn opts(name: &str, help: &str, labels: &[&str]) -> Opts {
    Opts::new(name, help).labels(labels).alias(legacy(name))
}

/// Handles resolved once; indices follow the constant tables above.
struct Metrics {
    /// [(component, method)]
    rpc_requests: Vec<Counter>,
    /// [(component, method)][code - 1]
    rpc_errors: Vec<Vec<Counter>>,
    /// [(component, method)][code]
    rpc_duration: Vec<Vec<Histogram>>,
    /// [plugin][event]
    plugin_event: Vec<Vec<Histogram>>,
    /// [plugin]: the push-tracked queue depth (the queue's own counter).
    queue: Vec<Gauge>,
    /// [plugin][capability][method][status]
    http_duration: Typed<HttpLabels, Histogram>,
    /// [scope]
    throttle: Vec<Counter>,
    /// [429, 503]
    backoff: Vec<Counter>,
}

/// The daemon's live state (the source of truth for scrape-time gauges).
struct Daemon {
    connected: Vec<AtomicBool>,
    global_tokens: AtomicI64,
    host_tokens: Vec<AtomicI64>,
}

impl Daemon {
    fn active_plugins(&self) -> usize {
        self.connected
            .iter()
            .filter(|c| c.load(Ordering::Relaxed))
            .count()
    }
}

/// Every (component, method) pair, in table order.
fn rpc_pairs() -> Vec<(&'static str, &'static str)> {
    COMPONENTS
        .iter()
        .flat_map(|(c, methods)| methods.iter().map(move |m| (*c, *m)))
        .collect()
}

fn register(reg: &Registry, daemon: &Arc<Daemon>) -> Result<Metrics, telemeter::Error> {
    let rpc_requests = reg.counter_family(opts(
        "oxg_rpc_requests_total",
        "Total RPC calls handled by the component.",
        &["component", "method"],
    ))?;
    let rpc_errors = reg.counter_family(opts(
        "oxg_rpc_errors_total",
        "Errors emitted during RPC handling.",
        &["component", "method", "code"],
    ))?;
    let rpc_duration = reg.histogram_family(
        opts(
            "oxg_rpc_duration_seconds",
            "Latency for each RPC handler.",
            &["component", "method", "code"],
        ),
        Buckets::default_prometheus(),
    )?;
    let plugin_event = reg.histogram_family(
        opts(
            "oxg_plugin_event_duration_seconds",
            "Latency for processing plugin events.",
            &["plugin", "event"],
        ),
        Buckets::exponential(0.0005, 2.0, 14)?,
    )?;
    let queue = reg.gauge_family(opts(
        "oxg_plugin_queue_length",
        "Depth of each plugin's outbound queue.",
        &["plugin"],
    ))?;
    let d = Arc::clone(daemon);
    reg.gauge_callback(
        opts("oxg_active_plugins", "Number of connected plugins.", &[]),
        move |s| s.sample(&[], d.active_plugins() as f64),
    )?;
    let http_duration = reg.histogram_family(
        opts(
            "oxg_http_request_duration_seconds",
            "Latency for outbound HTTP requests executed via the NetGate.",
            HttpLabels::NAMES,
        ),
        Buckets::default_prometheus(),
    )?;
    // Declared once for the program (below); forced here so that it is
    // registered, in this order, before the first scrape.
    let throttle = THROTTLE.force().map_err(Clone::clone)?;
    let backoff = reg.counter_family(opts(
        "oxg_http_backoff_total",
        "Number of outbound HTTP retries triggered by upstream status codes.",
        &["status"],
    ))?;

    let mut m = Metrics {
        rpc_requests: Vec::new(),
        rpc_errors: Vec::new(),
        rpc_duration: Vec::new(),
        plugin_event: Vec::new(),
        queue: Vec::new(),
        http_duration: http_duration.typed()?,
        throttle: Vec::new(),
        backoff: Vec::new(),
    };
    for (c, me) in rpc_pairs() {
        m.rpc_requests
            .push(rpc_requests.with_label_values(&[c, me])?);
        let mut errors = Vec::new();
        let mut durations = Vec::new();
        for (i, code) in CODES.iter().enumerate() {
            if i > 0 {
                errors.push(rpc_errors.with_label_values(&[c, me, code])?);
            }
            durations.push(rpc_duration.with_label_values(&[c, me, code])?);
        }
        m.rpc_errors.push(errors);
        m.rpc_duration.push(durations);
    }
    for &p in PLUGINS {
        m.plugin_event.push(
            EVENTS
                .iter()
                .map(|e| plugin_event.with_label_values(&[p, e]))
                .collect::<Result<_, _>>()?,
        );
        m.queue.push(queue.with_label_values(&[p])?);
    }
    for scope in THROTTLE_SCOPES {
        m.throttle.push(throttle.with_label_values(&[scope])?);
    }
    for st in BACKOFF_STATUSES {
        m.backoff.push(backoff.with_label_values(&[st])?);
    }
    Ok(m)
}

/// Takes one token from `bucket` if it has one.
fn take_token(bucket: &AtomicI64) -> bool {
    bucket
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
            (t > 0).then_some(t - 1)
        })
        .is_ok()
}

/// One outbound HTTP request through the NetGate, retried on 429/503.
fn netgate_request(m: &Metrics, d: &Daemon, rng: &mut Rng, plugin: usize) {
    let capability = Capability::ALL[rng.below(Capability::ALL.len())];
    let method = HttpMethod::ALL[rng.below(HttpMethod::ALL.len())];
    let host = rng.below(HOSTS);
    if !take_token(&d.global_tokens) {
        m.throttle[0].inc();
        thread::sleep(Duration::from_micros(200));
    } else if !take_token(&d.host_tokens[host]) {
        m.throttle[1].inc();
        thread::sleep(Duration::from_micros(200));
    }
    for attempt in 0..3 {
        let status = match rng.below(100) {
            0..=3 => 1,  // 404
            4..=7 => 2,  // 429
            8..=10 => 3, // 503
            _ => 0,      // 200
        };
        let labels = HttpLabels {
            plugin: Plugin::ALL[plugin],
            capability,
            method,
            status: HttpStatus::ALL[status],
        };
        let latency = rng.latency(0.15);
        let mut id = [0; 32];
        m.http_duration
            .get(labels)
            .observe_with_exemplar(latency, &[("trace_id", rng.trace_id(&mut id))]);
        if status < 2 || attempt == 2 {
            return;
        }
        m.backoff[status - 2].inc();
    }
}

/// One RPC call on a worker thread.
fn rpc_call(m: &Metrics, d: &Daemon, rng: &mut Rng, pairs: &[(&str, &str)]) {
    let i = rng.below(pairs.len());
    let code = if rng.chance(0.92) {
        0
    } else {
        1 + rng.below(CODES.len() - 1)
    };
    m.rpc_requests[i].inc();
    if code > 0 {
        m.rpc_errors[i][code - 1].inc();
    }
    let latency = rng.latency(0.012);
    let mut id = [0; 32];
    m.rpc_duration[i][code].observe_with_exemplar(latency, &[("trace_id", rng.trace_id(&mut id))]);
    if code != 0 {
        return;
    }
    let p = rng.below(PLUGINS.len());
    if !d.connected[p].load(Ordering::Relaxed) {
        return;
    }
    if pairs[i].0 == "plugin_bus" && m.queue[p].get() < QUEUE_CAP {
        m.queue[p].inc();
    }
    if rng.chance(0.3) {
        netgate_request(m, d, rng, p);
    }
}

/// A plugin draining its queue: it is the queue's only consumer.
fn plugin_loop(m: &Metrics, d: &Daemon, gate: &Gate, p: usize) {
    let mut rng = Rng::seeded(100 + p as u64);
    // Slow plugins fall behind the plugin-bus and show backpressure.
    let median = 0.002 * (p + 1) as f64;
    let rate = 30 + 30 * p as u32;
    common::paced(gate, rate, || {
        if !d.connected[p].load(Ordering::Relaxed) {
            return;
        }
        if m.queue[p].get() > 0 {
            m.queue[p].dec();
            let e = rng.below(EVENTS.len());
            m.plugin_event[p][e].observe(rng.latency(median));
        }
    });
}

/// Refills the token buckets; now and then a plugin drops and reconnects.
fn ticker_loop(d: &Daemon, gate: &Gate) {
    let mut rng = Rng::seeded(7);
    let mut tick = 0u64;
    while gate.sleep(Duration::from_millis(100)) {
        tick += 1;
        let refill = |b: &AtomicI64, add: i64, cap: i64| {
            let _ = b.fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                Some((t + add).min(cap))
            });
        };
        refill(&d.global_tokens, 8, 16);
        for h in &d.host_tokens {
            refill(h, 3, 6);
        }
        if tick % 20 == 0 {
            let p = rng.below(PLUGINS.len());
            let was = d.connected[p].load(Ordering::Relaxed);
            if was && rng.chance(0.3) {
                // Its queue is kept, and drained once it reconnects.
                d.connected[p].store(false, Ordering::Relaxed);
            } else if !was {
                d.connected[p].store(true, Ordering::Relaxed);
            }
        }
    }
}

fn start_exporter(
    args: &Args,
    reg: &Registry,
    reporter: Option<&CrashReporter>,
) -> Result<Option<ExporterHandle>, String> {
    if args.metrics_addr.trim().is_empty() {
        return Ok(None);
    }
    let builder = match reporter {
        Some(r) => Exporter::builder().source(r.metrics_source(reg)),
        None => Exporter::builder().registry(reg.clone()),
    };
    builder
        .metrics_addr(args.metrics_addr.as_str())
        .no_health()
        .no_admin()
        .started(true)
        .start()
        .map(Some)
        .map_err(|e| e.to_string())
}

/// Applies one stdin command (see the module docs) and answers it.
fn command(cmd: &str, gate: &Gate, crash_dir: bool) {
    match cmd {
        "crash" if crash_dir => crash::fatal("operator asked for a crash (stdin command `crash`)"),
        "crash" => say("error: crash needs --crash-dir DIR (where the bundle goes)"),
        "pause" => {
            gate.pause();
            say("ok: pause");
        }
        "resume" => {
            gate.resume();
            say("ok: resume");
        }
        "help" => say("ok: help: commands are pause, resume, crash, help"),
        other => say(&format!(
            "error: unknown command {other:?} (commands: pause, resume, crash, help)"
        )),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(e) = common::check_counts(args.threads, args.rate) {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    let daemon = Arc::new(Daemon {
        connected: PLUGINS.iter().map(|_| AtomicBool::new(true)).collect(),
        global_tokens: AtomicI64::new(16),
        host_tokens: (0..HOSTS).map(|_| AtomicI64::new(6)).collect(),
    });
    // The default registry: the `static_metrics!` statics register there.
    let reg = telemeter::default_registry().clone();
    let metrics = match register(&reg, &daemon) {
        Ok(m) => Arc::new(m),
        Err(e) => {
            eprintln!("error: registering the 0xgen series: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = telemeter::process::register(&reg) {
        eprintln!("error: registering the process metrics: {e}");
        return ExitCode::FAILURE;
    }
    let events = match Events::install() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: cannot install signal handlers: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The crash reporter first, so that the exporter serves the registry
    // through it: a bundle then falls back to the last scrape's body.
    let reporter = match &args.crash_dir {
        Some(dir) => {
            let config = CrashConfig::new(dir)
                .program("oxg_agent", env!("CARGO_PKG_VERSION"))
                .registry(&reg);
            match crash::install(config) {
                Ok(r) => {
                    // A panic of the main thread ends the agent: it is fatal.
                    crash::mark_thread_fatal();
                    r.breadcrumb(format!(
                        "crash reporter installed; bundles go to {}",
                        dir.display()
                    ));
                    Some(r)
                }
                Err(e) => {
                    eprintln!("error: --crash-dir: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        None => None,
    };
    let handle = match start_exporter(&args, &reg, reporter.as_ref()) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match &handle {
        Some(h) => announce(h),
        None => say("metrics disabled (--metrics-addr \"\"): no HTTP server is running"),
    }

    // RPC workers, one consumer per plugin, one ticker.
    let gate = Arc::new(Gate::new(args.threads + PLUGINS.len() + 1));
    let mut wanted: Vec<(String, Box<dyn FnOnce() + Send>)> = Vec::new();
    for n in 0..args.threads {
        let (m, d, g) = (Arc::clone(&metrics), Arc::clone(&daemon), Arc::clone(&gate));
        let rate = args.rate;
        wanted.push((
            format!("rpc-worker-{n}"),
            Box::new(move || {
                let pairs = rpc_pairs();
                let mut rng = Rng::seeded(n as u64 + 1);
                common::paced(&g, rate, || rpc_call(&m, &d, &mut rng, &pairs));
            }),
        ));
    }
    for (p, name) in PLUGINS.iter().enumerate() {
        let (m, d, g) = (Arc::clone(&metrics), Arc::clone(&daemon), Arc::clone(&gate));
        wanted.push((
            format!("plugin-{name}"),
            Box::new(move || plugin_loop(&m, &d, &g, p)),
        ));
    }
    {
        let (d, g) = (Arc::clone(&daemon), Arc::clone(&gate));
        wanted.push(("ticker".into(), Box::new(move || ticker_loop(&d, &g))));
    }
    let started = wanted.len();
    let threads = match common::spawn_all(&gate, wanted) {
        Ok(t) => {
            crash::breadcrumb(format!("{started} workload threads started"));
            t
        }
        Err(e) => {
            eprintln!("error: {e}");
            if let Some(h) = handle {
                h.shutdown();
            }
            return ExitCode::FAILURE;
        }
    };

    let signal = loop {
        match events.next_before(Instant::now() + Duration::from_secs(3600)) {
            None => continue,
            Some(Event::Signal(name)) => break name,
            Some(Event::Command(cmd)) => {
                crash::breadcrumb(format!("stdin: {cmd}"));
                command(&cmd, &gate, args.crash_dir.is_some());
            }
        }
    };
    eprintln!("received {signal}: stopping");
    gate.stop();
    for t in threads {
        let _ = t.join();
    }
    if let Some(h) = handle {
        h.shutdown();
    }
    eprintln!("stopped");
    ExitCode::SUCCESS
}
