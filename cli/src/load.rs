//! `telemeter load`: a load generator for any Prometheus text endpoint.
//!
//! N keep-alive HTTP/1.1 connections (hyper's client connection API) scrape
//! the URL back to back, or at a total `--rate`, for a `--duration` or a
//! number of `--requests`. Every complete response's latency goes into an
//! HDR histogram (microseconds, 3 significant digits); gzip bodies are
//! decoded; `--validate` runs the crate's strict parser on every body.
//!
//! Connections are spread over up to one worker thread per CPU, each with a
//! current-thread tokio runtime. Identity bodies are not stored: their
//! sample lines are counted as the chunks arrive. Bodies that must be
//! decoded or validated are kept in per-connection buffers and, from
//! 32 KiB, checked on the runtime's blocking threads so that one big body
//! does not hold up the other connections' reads.
//!
//! With `--rate`, latency counts from the time a request was due, not from
//! when it was sent, so a server that stalls is charged for the requests
//! that queued behind the stall (no coordinated omission).

pub(crate) mod client;
mod report;
pub(crate) mod spec;

use std::cell::RefCell;
use std::io::{IsTerminal as _, Write as _};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::watch;

use client::{Conn, ErrorKind, Failure, RequestSpec};
use report::{Bound, Report, Tally};
use spec::Target;

pub const AFTER_HELP: &str = "\
Examples:
  telemeter load --url http://127.0.0.1:9090/metrics --duration 30s
  telemeter load --url 127.0.0.1:9090 --connections 64 --requests 10000 --gzip
  telemeter load --url http://agent:9090/metrics --rate 2/s --validate --json | jq .latency_us

Latency is measured from sending a request (with --rate: from the time it
was due) to the last byte of its body, for every complete response, 2xx or
not. Errors: connect (no connection, or it broke before a full response),
timeout (no full response within --timeout), status (not 2xx), parse (a body
that cannot be decoded or, with --validate, is not valid Prometheus text
0.0.4). Series per scrape counts sample lines. Ctrl-C stops early and still
prints the report; a second Ctrl-C exits at once.

Exit status: 0 when every request succeeded, 1 when the target cannot be
reached or any request failed (the report is printed first), 2 on a usage
error.";

/// Options of `telemeter load`.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// URL to scrape, plain http (`http://host:port/path`); without a path,
    /// `/metrics`.
    #[arg(long, value_name = "URL")]
    url: String,
    /// Keep-alive connections scraping at once (at most 10,000, and what
    /// the open-files limit, `ulimit -n`, allows with 64 to spare).
    #[arg(
        long,
        short = 'c',
        value_name = "N",
        default_value_t = 1,
        value_parser = clap::value_parser!(u32).range(1..=10_000)
    )]
    connections: u32,
    /// How long to run, e.g. 500ms, 30s, 2m [default: 10s unless --requests].
    #[arg(long, short = 'd', value_name = "DURATION", value_parser = spec::parse_duration)]
    duration: Option<Duration>,
    /// Stop after this many requests, over all connections.
    #[arg(
        long,
        short = 'n',
        value_name = "N",
        conflicts_with = "duration",
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    requests: Option<u64>,
    /// Total request rate over all connections, e.g. 100/s, 0.5/s, 600/m
    /// [default: as fast as the connections go].
    #[arg(long, value_name = "R/s", value_parser = spec::parse_rate)]
    rate: Option<f64>,
    /// Ask for gzip (`Accept-Encoding: gzip`); bodies are decoded to count
    /// and validate them.
    #[arg(long)]
    gzip: bool,
    /// Parse every body with telemeter's strict text-format parser and count
    /// invalid ones as parse errors.
    #[arg(long)]
    validate: bool,
    /// Print one JSON document instead of a table.
    #[arg(long)]
    json: bool,
    /// Longest a connect, or a request and its whole body, may take.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = spec::parse_duration)]
    timeout: Duration,
}

enum Fail {
    Usage(String),
    Failed(String),
}

pub fn run(args: LoadArgs) -> ExitCode {
    match load(args) {
        Ok(code) => code,
        Err(Fail::Usage(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(2)
        }
        Err(Fail::Failed(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// Counters the progress bar reads while the workers run.
#[derive(Default)]
struct Progress {
    done: AtomicU64,
    errors: AtomicU64,
    bytes: AtomicU64,
}

/// What every connection shares.
struct Shared {
    spec: RequestSpec,
    start: Instant,
    deadline: Option<Instant>,
    max_requests: Option<u64>,
    /// Requests claimed so far (with `--requests`).
    issued: AtomicU64,
    rate: Option<f64>,
    /// Send slots handed out so far (with `--rate`).
    rate_slots: AtomicU64,
    progress: Progress,
}

fn load(args: LoadArgs) -> Result<ExitCode, Fail> {
    let target = Target::parse(&args.url)
        .map_err(|e| Fail::Usage(format!("invalid --url {:?}: {e}", args.url)))?;
    if let Some(limit) = open_files_limit() {
        let needed = u64::from(args.connections) + FD_RESERVE;
        if needed > limit {
            return Err(Fail::Usage(format!(
                "--connections {} needs about {needed} open files, but this process may open \
                 {limit} (ulimit -n); raise the limit (ulimit -n {needed}) or open fewer \
                 connections",
                args.connections
            )));
        }
    }
    let addr = reach(&target, args.timeout)?;
    let bound = match args.requests {
        Some(n) => Bound::Requests(n),
        None => Bound::Duration(args.duration.unwrap_or(Duration::from_secs(10))),
    };

    let (stop_tx, stop_rx) = watch::channel(false);
    let stop_tx = Arc::new(stop_tx);
    let stopped_early = Arc::new(AtomicBool::new(false));
    if let Err(e) = install_ctrl_c(Arc::clone(&stop_tx), Arc::clone(&stopped_early)) {
        eprintln!("warning: cannot install the Ctrl-C handler ({e}); Ctrl-C will end the run without a report");
    }

    let start = Instant::now();
    let shared = Arc::new(Shared {
        spec: RequestSpec {
            target: target.clone(),
            addr,
            gzip: args.gzip,
            validate: args.validate,
            timeout: args.timeout,
        },
        start,
        deadline: match bound {
            Bound::Duration(d) => Some(start + d),
            Bound::Requests(_) => None,
        },
        max_requests: match bound {
            Bound::Requests(n) => Some(n),
            Bound::Duration(_) => None,
        },
        issued: AtomicU64::new(0),
        rate: args.rate,
        rate_slots: AtomicU64::new(0),
        progress: Progress::default(),
    });

    let cpus = thread::available_parallelism().map_or(1, |n| n.get());
    let workers = (args.connections as usize).min(cpus).max(1);
    let (done_tx, done_rx) = mpsc::channel();
    let mut handles = Vec::with_capacity(workers);
    for w in 0..workers {
        let conns = args.connections as usize / workers
            + usize::from(w < args.connections as usize % workers);
        let shared = Arc::clone(&shared);
        let stop = stop_rx.clone();
        let done = done_tx.clone();
        let h = thread::Builder::new()
            .name(format!("load-worker-{w}"))
            .spawn(move || {
                let result = worker(shared, conns, stop);
                let _ = done.send(result);
            })
            .map_err(|e| Fail::Failed(format!("cannot start a worker thread: {e}")))?;
        handles.push(h);
    }
    drop(done_tx);

    let bar = progress_bar(bound);
    let mut tally = Tally::default();
    let mut finished = start;
    let mut failed = None;
    let mut pending = workers;
    while pending > 0 {
        match done_rx.recv_timeout(Duration::from_millis(100)) {
            Ok(Ok((t, at))) => {
                tally.merge(t);
                finished = finished.max(at);
                pending -= 1;
            }
            Ok(Err(e)) => {
                failed.get_or_insert(e);
                pending -= 1;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                failed.get_or_insert_with(|| "a worker thread panicked".to_string());
                break;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let p = &shared.progress;
                let done = p.done.load(Ordering::Relaxed);
                let secs = start.elapsed().as_secs_f64().max(1e-9);
                match bound {
                    Bound::Duration(d) => {
                        bar.set_position(start.elapsed().min(d).as_millis() as u64)
                    }
                    Bound::Requests(_) => bar.set_position(done),
                }
                bar.set_message(format!(
                    "{:.0} req/s {}/s {} err",
                    done as f64 / secs,
                    report::human_bytes(p.bytes.load(Ordering::Relaxed) as f64 / secs),
                    p.errors.load(Ordering::Relaxed)
                ));
            }
        }
    }
    bar.finish_and_clear();
    for h in handles {
        if h.join().is_err() {
            failed.get_or_insert_with(|| "a worker thread panicked".to_string());
        }
    }
    if let Some(e) = failed {
        return Err(Fail::Failed(e));
    }
    let elapsed = finished.duration_since(start);

    let report = Report {
        url: target.to_string(),
        connections: args.connections,
        bound,
        rate: args.rate,
        gzip: args.gzip,
        validate: args.validate,
        timeout: args.timeout,
        elapsed,
        stopped_early: stopped_early.load(Ordering::Relaxed),
        tally,
    };
    // A closed stdout (`| head`) is not worth a panic.
    let mut out = std::io::stdout().lock();
    let _ = if args.json {
        writeln!(out, "{}", report.to_json())
    } else {
        write!(out, "{}", report.to_table())
    };
    let _ = out.flush();
    Ok(if report.tally.error_total() > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Descriptors kept free beside the connections: stdio, each worker's
/// runtime (an epoll and an eventfd), the Ctrl-C handler, the first probe.
const FD_RESERVE: u64 = 64;

/// The soft limit on open descriptors (`ulimit -n`) where the system says
/// (Linux: `/proc/self/limits`); `None` when unlimited or unknown.
fn open_files_limit() -> Option<u64> {
    parse_open_files_limit(&std::fs::read_to_string("/proc/self/limits").ok()?)
}

/// The soft "Max open files" of a `/proc/<pid>/limits` text.
fn parse_open_files_limit(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Resolves the target and opens (and closes) one connection, so that a
/// wrong host or port is a clear error before anything is measured.
fn reach(target: &Target, timeout: Duration) -> Result<SocketAddr, Fail> {
    let addrs: Vec<SocketAddr> = target
        .socket_host()
        .to_socket_addrs()
        .map_err(|e| Fail::Failed(format!("cannot resolve {:?}: {e}", target.host)))?
        .collect();
    let mut last = None;
    for addr in &addrs {
        match TcpStream::connect_timeout(addr, timeout) {
            Ok(_) => return Ok(*addr),
            Err(e) => last = Some((*addr, e)),
        }
    }
    Err(Fail::Failed(match last {
        Some((addr, e)) => format!(
            "cannot connect to {target} ({addr}): {e}; is the server running and listening there?"
        ),
        None => format!("{:?} resolves to no address", target.host),
    }))
}

fn progress_bar(bound: Bound) -> ProgressBar {
    if !std::io::stdout().is_terminal() {
        return ProgressBar::hidden();
    }
    let (len, template) = match bound {
        Bound::Duration(d) => (
            d.as_millis() as u64,
            "{spinner} {elapsed_precise} {bar:20} {percent:>3}% {msg}",
        ),
        Bound::Requests(n) => (n, "{spinner} {elapsed_precise} {bar:20} {pos}/{len} {msg}"),
    };
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar
}

/// First SIGINT/SIGTERM (Ctrl-C): stop and report. Second: exit now.
fn install_ctrl_c(stop: Arc<watch::Sender<bool>>, early: Arc<AtomicBool>) -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    #[cfg(unix)]
    let (mut int, mut term) = {
        use tokio::signal::unix::{signal, SignalKind};
        let _enter = rt.enter();
        (
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
        )
    };
    thread::Builder::new()
        .name("load-signals".into())
        .spawn(move || {
            rt.block_on(async move {
                let mut seen = 0u32;
                loop {
                    #[cfg(unix)]
                    tokio::select! {
                        _ = int.recv() => {}
                        _ = term.recv() => {}
                    }
                    #[cfg(not(unix))]
                    if tokio::signal::ctrl_c().await.is_err() {
                        return;
                    }
                    seen += 1;
                    if seen == 1 {
                        early.store(true, Ordering::Relaxed);
                        stop.send_replace(true);
                    } else {
                        std::process::exit(130);
                    }
                }
            })
        })?;
    Ok(())
}

/// One worker thread: a current-thread runtime running `conns` connections.
/// Returns its tally and when its last connection finished.
fn worker(
    shared: Arc<Shared>,
    conns: usize,
    stop: watch::Receiver<bool>,
) -> Result<(Tally, Instant), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(2)
        .build()
        .map_err(|e| format!("cannot start a worker runtime: {e}"))?;
    let tally = Rc::new(RefCell::new(Tally::default()));
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        let tasks: Vec<_> = (0..conns)
            .map(|_| {
                tokio::task::spawn_local(connection(
                    Arc::clone(&shared),
                    Rc::clone(&tally),
                    stop.clone(),
                ))
            })
            .collect();
        for t in tasks {
            let _ = t.await;
        }
    });
    let finished = Instant::now();
    drop(local);
    rt.shutdown_timeout(Duration::from_secs(1));
    let tally = Rc::try_unwrap(tally)
        .map_err(|_| "a connection outlived its worker".to_string())?
        .into_inner();
    Ok((tally, finished))
}

/// Resolves when `stop` turns true; never, if its sender is gone.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Records a failure in the worker's tally and the progress counters.
fn fail(shared: &Shared, tally: &RefCell<Tally>, failure: Failure) {
    tally.borrow_mut().error(failure);
    shared.progress.errors.fetch_add(1, Ordering::Relaxed);
    shared.progress.done.fetch_add(1, Ordering::Relaxed);
}

/// One connection's loop: claim a request, wait for its slot, (re)connect
/// if needed, scrape, check, record.
async fn connection(
    shared: Arc<Shared>,
    tally: Rc<RefCell<Tally>>,
    mut stop: watch::Receiver<bool>,
) {
    let spec = &shared.spec;
    let mut conn: Option<Conn> = None;
    let mut bufs = client::Buffers::default();
    loop {
        if *stop.borrow() || shared.deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        if let Some(max) = shared.max_requests {
            if shared.issued.fetch_add(1, Ordering::Relaxed) >= max {
                break;
            }
        }
        let mut due = None;
        if let Some(rate) = shared.rate {
            let slot = shared.rate_slots.fetch_add(1, Ordering::Relaxed);
            let Some(at) = Duration::try_from_secs_f64(slot as f64 / rate)
                .ok()
                .and_then(|d| shared.start.checked_add(d))
            else {
                break; // further away than time can say
            };
            tokio::select! {
                biased;
                _ = stopped(&mut stop) => break,
                go = client::sleep_until(at, shared.deadline) => if !go { break },
            }
            due = Some(at);
        }

        if let Some(c) = conn.as_mut() {
            if !c.usable().await {
                conn = None;
            }
        }
        let c = match conn.as_mut() {
            Some(c) => c,
            None => {
                let opened = tokio::select! {
                    biased;
                    _ = stopped(&mut stop) => break,
                    r = Conn::open(spec) => r,
                };
                match opened {
                    Ok(c) => {
                        tally.borrow_mut().connections_opened += 1;
                        conn.insert(c)
                    }
                    Err(f) => {
                        fail(&shared, &tally, f);
                        // Do not spin against a server that refuses.
                        tokio::select! {
                            biased;
                            _ = stopped(&mut stop) => break,
                            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                        }
                        continue;
                    }
                }
            }
        };

        let sent = Instant::now();
        let result = tokio::select! {
            biased;
            _ = stopped(&mut stop) => break,
            r = tokio::time::timeout(spec.timeout, c.get(spec, &mut bufs)) => r,
        };
        let resp = match result {
            Ok(Ok(resp)) => resp,
            Ok(Err(f)) => {
                conn = None;
                fail(&shared, &tally, f);
                continue;
            }
            Err(_) => {
                conn = None;
                fail(
                    &shared,
                    &tally,
                    Failure {
                        kind: ErrorKind::Timeout,
                        message: format!(
                            "no complete response within {}",
                            spec::human_duration(spec.timeout)
                        ),
                    },
                );
                continue;
            }
        };
        let latency = due.unwrap_or(sent).elapsed();
        tally
            .borrow_mut()
            .response(latency, resp.status, resp.wire_len);
        shared
            .progress
            .bytes
            .fetch_add(resp.wire_len as u64, Ordering::Relaxed);
        if !(200..300).contains(&resp.status) {
            let reason = hyper::StatusCode::from_u16(resp.status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .map(|r| format!(" {r}"))
                .unwrap_or_default();
            fail(
                &shared,
                &tally,
                Failure {
                    kind: ErrorKind::Status,
                    message: format!("HTTP {}{reason}", resp.status),
                },
            );
            continue;
        }
        let checked = if client::worth_offloading(&resp, spec) {
            let validate = spec.validate;
            let mut moved = std::mem::take(&mut bufs);
            let job = tokio::task::spawn_blocking(move || {
                let r = client::inspect(&resp, validate, &mut moved);
                (r, moved)
            });
            match job.await {
                Ok((r, moved)) => {
                    bufs = moved;
                    r
                }
                Err(e) => Err(Failure {
                    kind: ErrorKind::Parse,
                    message: format!("checking the body failed: {e}"),
                }),
            }
        } else {
            client::inspect(&resp, spec.validate, &mut bufs)
        };
        match checked {
            Ok(info) => {
                tally.borrow_mut().body(info);
                shared.progress.done.fetch_add(1, Ordering::Relaxed);
            }
            Err(f) => fail(&shared, &tally, f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_open_files_limit;

    #[test]
    fn the_open_files_limit_is_read_from_proc_limits() {
        let text = "Limit                     Soft Limit           Hard Limit           Units     \n\
                    Max cpu time              unlimited            unlimited            seconds   \n\
                    Max open files            1024                 524288               files     \n";
        assert_eq!(parse_open_files_limit(text), Some(1024));
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(parse_open_files_limit(unlimited), None);
        assert_eq!(parse_open_files_limit("Max processes 10 10\n"), None);
    }
}
