//! `telemeter fleet`: many simulated agents from one process, to load-test
//! a scrape tier (a Prometheus, an agent, a collector) at fleet size.
//!
//! Each agent has a registry of its own (its series carry `agent="agent-K"`
//! as a constant label) and its own loopback `/metrics` listener; all the
//! listeners share one small tokio runtime. One workload thread moves every
//! series once a second, and with `--churn` each agent creates and removes
//! label sets at that rate (each lives ten seconds), as real fleets do
//! when pods, connections or routes come and go. A Prometheus `file_sd`
//! targets file lists every agent.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use telemeter::server::{Exporter, ExporterHandle, ShutdownSignal};
use telemeter::{Buckets, Counter, Family, Histogram, Opts, Registry};

/// `after_help` of `telemeter fleet --help`.
pub const AFTER_HELP: &str = "\
Prints `agent-K listening on http://ADDR/metrics` per agent (the form of
`telemeter demo`), then runs until --duration or SIGINT/SIGTERM.

Examples:
  telemeter fleet --agents 50 --series 2000 --targets-file /tmp/fleet.json
  telemeter fleet --agents 200 --series 500 --histograms 20 --port-base 20000 --churn 2";

/// The most agents one fleet process serves.
pub const MAX_AGENTS: usize = 10_000;

/// The most series (counters, and histograms counted as their 14 sample
/// lines) one fleet process holds.
pub const MAX_SAMPLES: usize = 20_000_000;

/// How long a churned label set lives.
const CHURN_LIFETIME: Duration = Duration::from_secs(10);

/// `telemeter fleet`'s flags.
#[derive(Debug, clap::Args)]
pub struct FleetArgs {
    /// Simulated agents (1 to 10,000), each with its own listener.
    #[arg(long, default_value_t = 10)]
    agents: usize,
    /// Counter series per agent.
    #[arg(long, default_value_t = 1000)]
    series: usize,
    /// Histogram series per agent (Prometheus' 11 default buckets).
    #[arg(long, default_value_t = 0)]
    histograms: usize,
    /// Agent K listens on 127.0.0.1:(P+K); default: ports the OS chooses.
    #[arg(long, value_name = "P", conflicts_with = "ports_file")]
    port_base: Option<u16>,
    /// A file with one port per line, one line per agent.
    #[arg(long, value_name = "F")]
    ports_file: Option<PathBuf>,
    /// Label sets each agent creates and removes per second (0 to 1000).
    #[arg(long, value_name = "R/s", default_value_t = 0.0)]
    churn: f64,
    /// Seconds to run (default: until SIGINT or SIGTERM).
    #[arg(long, value_name = "D")]
    duration: Option<f64>,
    /// Write a Prometheus file_sd targets file (JSON) listing every agent.
    #[arg(long, value_name = "FILE")]
    targets_file: Option<PathBuf>,
}

/// One agent's series.
struct Agent {
    requests: Vec<Counter>,
    latency: Vec<Histogram>,
    churn: Family<Counter>,
    /// Churned label sets alive now, oldest first, and the next id.
    alive: std::collections::VecDeque<(u64, Instant)>,
    next_id: u64,
}

/// Checks the flags; the error is a usage error's message.
fn check(args: &FleetArgs) -> Result<Vec<String>, String> {
    if args.agents == 0 || args.agents > MAX_AGENTS {
        return Err(format!("--agents {}: give 1 to {MAX_AGENTS}", args.agents));
    }
    let per_agent = args
        .series
        .saturating_add(args.histograms.saturating_mul(14));
    if per_agent.saturating_mul(args.agents) > MAX_SAMPLES {
        return Err(format!(
            "--agents {} x (--series {} + 14 x --histograms {}) is over {MAX_SAMPLES} sample lines: \
             run several fleet processes",
            args.agents, args.series, args.histograms
        ));
    }
    if !(0.0..=1000.0).contains(&args.churn) {
        return Err(format!(
            "--churn {}: give 0 to 1000 label sets per second",
            args.churn
        ));
    }
    if let Some(d) = args.duration {
        if !(0.1..=86_400.0).contains(&d) {
            return Err(format!("--duration {d}: give 0.1 to 86400 seconds"));
        }
    }
    match (&args.ports_file, args.port_base) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("--ports-file {}: {e}", path.display()))?;
            let ports: Vec<String> = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(|l| match l.parse::<u16>() {
                    Ok(p) if p > 0 => Ok(format!("127.0.0.1:{p}")),
                    _ => Err(format!(
                        "--ports-file {}: {l:?} is not a port",
                        path.display()
                    )),
                })
                .collect::<Result<_, _>>()?;
            if ports.len() < args.agents {
                return Err(format!(
                    "--ports-file {} lists {} ports for {} agents",
                    path.display(),
                    ports.len(),
                    args.agents
                ));
            }
            Ok(ports)
        }
        (None, Some(base)) => (0..args.agents)
            .map(|k| match u16::try_from(usize::from(base) + k) {
                Ok(p) => Ok(format!("127.0.0.1:{p}")),
                Err(_) => Err(format!(
                    "--port-base {base}: {} agents run past port 65535",
                    args.agents
                )),
            })
            .collect(),
        (None, None) => Ok(vec!["127.0.0.1:0".to_string(); args.agents]),
    }
}

fn agent(k: usize, args: &FleetArgs) -> Result<(Registry, Agent), telemeter::Error> {
    let reg = Registry::builder()
        .const_labels(&[("agent", &format!("agent-{k}"))])
        .try_build()?;
    let requests = reg.counter_family(
        Opts::new("fleet_requests_total", "Simulated requests, by route.").labels(&["route"]),
    )?;
    let latency = reg.histogram_family(
        Opts::new(
            "fleet_request_duration_seconds",
            "Simulated latency, by route.",
        )
        .labels(&["route"]),
        Buckets::default(),
    )?;
    let churn = reg.counter_family(
        Opts::new("fleet_churn_total", "Series that come and go (--churn).").labels(&["id"]),
    )?;
    let requests = (0..args.series)
        .map(|i| requests.with_label_values(&[&format!("/r{i}")]))
        .collect::<Result<_, _>>()?;
    let latency = (0..args.histograms)
        .map(|i| latency.with_label_values(&[&format!("/r{i}")]))
        .collect::<Result<_, _>>()?;
    Ok((
        reg,
        Agent {
            requests,
            latency,
            churn,
            alive: Default::default(),
            next_id: 0,
        },
    ))
}

/// The `file_sd` JSON for these listeners.
fn targets_json(handles: &[ExporterHandle]) -> String {
    let targets: Vec<String> = handles
        .iter()
        .filter_map(|h| h.metrics_addr())
        .map(|a| a.to_string())
        .collect();
    serde_json::json!([{ "targets": targets, "labels": { "job": "telemeter-fleet" } }]).to_string()
}

/// One second of the workload for every agent: each series moves once,
/// and each agent churns its due label sets.
fn tick(agents: &mut [Agent], churn: f64, elapsed: Duration, round: u64) {
    for a in agents.iter_mut() {
        for c in &a.requests {
            c.inc();
        }
        for (i, h) in a.latency.iter().enumerate() {
            // Cycles through the buckets: every bucket line moves.
            h.observe(0.001 * (1 << ((round as usize + i) % 14)) as f64);
        }
        if churn > 0.0 {
            let due = (elapsed.as_secs_f64() * churn) as u64;
            while a.next_id < due {
                if let Ok(c) = a.churn.with_label_values(&[&a.next_id.to_string()]) {
                    c.inc();
                }
                a.alive.push_back((a.next_id, Instant::now()));
                a.next_id += 1;
            }
            while a
                .alive
                .front()
                .is_some_and(|(_, born)| born.elapsed() >= CHURN_LIFETIME)
            {
                let (id, _) = a.alive.pop_front().expect("checked");
                let _ = a.churn.remove(&[&id.to_string()]);
            }
        }
    }
}

/// Runs `telemeter fleet`.
pub fn run(args: FleetArgs) -> ExitCode {
    let addrs = match check(&args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("fleet-http")
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the HTTP runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let signal = match ShutdownSignal::install() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot install the signal handlers: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut agents = Vec::with_capacity(args.agents);
    let mut handles = Vec::with_capacity(args.agents);
    for (k, addr) in addrs.iter().enumerate().take(args.agents) {
        let started = agent(k, &args)
            .map_err(|e| e.to_string())
            .and_then(|(reg, a)| {
                Exporter::builder()
                    .registry(reg)
                    .metrics_addr(addr.as_str())
                    .no_health()
                    .no_admin()
                    .runtime(runtime.handle().clone())
                    .start()
                    .map(|h| (h, a))
                    .map_err(|e| e.to_string())
            });
        match started {
            Ok((h, a)) => {
                if let Some(a) = h.metrics_addr() {
                    println!("agent-{k} listening on http://{a}/metrics");
                }
                handles.push(h);
                agents.push(a);
            }
            Err(e) => {
                eprintln!("error: agent-{k} on {addr}: {e}");
                for h in handles {
                    h.shutdown();
                }
                return ExitCode::FAILURE;
            }
        }
    }
    if let Some(path) = &args.targets_file {
        let tmp = path.with_extension("tmp");
        let written =
            std::fs::write(&tmp, targets_json(&handles)).and_then(|()| std::fs::rename(&tmp, path));
        if let Err(e) = written {
            eprintln!("error: --targets-file {}: {e}", path.display());
            for h in handles {
                h.shutdown();
            }
            return ExitCode::FAILURE;
        }
        println!("targets written to {}", path.display());
    }
    let stop = Arc::new(AtomicBool::new(false));
    let (churn, series) = (args.churn, args.series);
    let workload = {
        let stop = Arc::clone(&stop);
        thread::Builder::new()
            .name("fleet-workload".into())
            .spawn(move || {
                let start = Instant::now();
                let mut round = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    tick(&mut agents, churn, start.elapsed(), round);
                    round += 1;
                    let next = start + Duration::from_secs(round);
                    while !stop.load(Ordering::Relaxed) && Instant::now() < next {
                        thread::sleep((next - Instant::now()).min(Duration::from_millis(100)));
                    }
                }
                round
            })
    };
    let workload = match workload {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: cannot start the workload thread: {e}");
            for h in handles {
                h.shutdown();
            }
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "fleet: {} agents x {series} series; stop with SIGINT or SIGTERM",
        handles.len()
    );
    let why = match args.duration {
        Some(d) => {
            let (tx, rx) = std::sync::mpsc::channel();
            let _ = thread::Builder::new()
                .name("fleet-signals".into())
                .spawn(move || {
                    let _ = tx.send(signal.wait());
                });
            match rx.recv_timeout(Duration::from_secs_f64(d)) {
                Ok(Ok(name)) => format!("received {name}"),
                Ok(Err(e)) => format!("cannot wait for signals: {e}"),
                Err(_) => format!("ran {d} s"),
            }
        }
        None => match signal.wait() {
            Ok(name) => format!("received {name}"),
            Err(e) => format!("cannot wait for signals: {e}"),
        },
    };
    stop.store(true, Ordering::Relaxed);
    let rounds = workload.join().unwrap_or(0);
    let scrapes: u64 = handles.iter().map(|h| h.stats().scrapes).sum();
    for h in handles {
        h.shutdown();
    }
    eprintln!("fleet: {why}; {rounds} workload rounds, {scrapes} scrapes served; stopped");
    ExitCode::SUCCESS
}
