//! Helpers shared by the seed examples (`oxg_agent`, `nexo_agent`); not an
//! example itself (cargo builds only `examples/*.rs` and `examples/*/main.rs`).
//!
//! - [`announce`]: the `<surface> listening on http://<addr><path>` lines that
//!   `telemeter demo` prints, so scripts and tests find OS-chosen ports.
//! - [`Events`]: one channel carrying SIGINT/SIGTERM and the simulation
//!   commands read from stdin, one per line.
//! - [`Gate`]: pauses every workload thread at a known point, so that a
//!   scrape taken while paused is exactly reproducible.
//! - [`Rng`]: a tiny xorshift generator for synthetic traffic.
//! - [`directory`]: the nexo seed's `/admin/agents` and `/admin/tool-policy`
//!   with their query parameters (also included by `telemeter demo`).
#![allow(dead_code)] // each example uses a different subset

pub mod directory;

use std::io::{BufRead as _, Write as _};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use telemeter::server::ExporterHandle;

/// The most worker threads (`--threads`) an example starts, as
/// `telemeter demo`.
pub const MAX_THREADS: usize = 1024;

/// Checks `--threads` and `--rate` against their documented range: the
/// usage error to print, if any.
pub fn check_counts(threads: usize, rate: u32) -> Result<(), String> {
    if threads == 0 || rate == 0 {
        return Err("--threads and --rate must be at least 1".into());
    }
    if threads > MAX_THREADS {
        return Err(format!(
            "--threads {threads}: at most {MAX_THREADS} worker threads"
        ));
    }
    Ok(())
}

/// Starts the named threads `spawn` describes, one per item, all or none:
/// each thread waits until every other one has started before it runs its
/// workload. If one cannot be started, the started ones return without
/// running theirs and are joined (giving back their stacks) before the
/// error to print is made; the process then exits 1, not with a panic.
///
/// Holding the workloads back matters when the system runs out: the
/// thread that could not start failed for want of memory or address space,
/// and a workload already running would meet the same shortage at its next
/// allocation, which aborts the process.
pub fn spawn_all(
    gate: &Gate,
    threads: Vec<(String, Box<dyn FnOnce() + Send>)>,
) -> Result<Vec<thread::JoinHandle<()>>, String> {
    let total = threads.len();
    let start = Arc::new(Start::default());
    let mut started = Vec::with_capacity(total);
    for (n, (name, f)) in threads.into_iter().enumerate() {
        let go = Arc::clone(&start);
        let spawned = thread::Builder::new().name(name.clone()).spawn(move || {
            if go.wait() {
                f();
            }
        });
        match spawned {
            Ok(h) => started.push(h),
            Err(e) => {
                start.open(false);
                gate.stop();
                for h in started {
                    let _ = h.join();
                }
                return Err(format!(
                    "cannot start thread {name} ({} of {total}): {e} (give fewer --threads)",
                    n + 1
                ));
            }
        }
    }
    start.open(true);
    Ok(started)
}

/// The starting line of [`spawn_all`]: `None` until every thread has
/// started (or one could not), then whether the workloads run.
#[derive(Default)]
struct Start {
    go: Mutex<Option<bool>>,
    cv: Condvar,
}

impl Start {
    fn lock(&self) -> MutexGuard<'_, Option<bool>> {
        self.go.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn open(&self, run: bool) {
        *self.lock() = Some(run);
        self.cv.notify_all();
    }

    fn wait(&self) -> bool {
        let mut go = self.lock();
        loop {
            match *go {
                Some(run) => return run,
                None => go = self.cv.wait(go).unwrap_or_else(|e| e.into_inner()),
            }
        }
    }
}

/// Prints one `<surface> listening on http://<addr><path>` line per enabled
/// surface, in the order `telemeter demo` does, and flushes stdout.
pub fn announce(handle: &ExporterHandle) {
    let _ = handle.announce(&mut std::io::stdout().lock());
}

/// Prints one line on stdout and flushes it (acknowledgements are read by
/// scripts and tests line by line).
pub fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// What the main loop of an example waits for.
#[derive(Debug)]
pub enum Event {
    /// SIGINT or SIGTERM (named): shut down gracefully.
    Signal(&'static str),
    /// One trimmed, non-empty line read from stdin.
    Command(String),
}

/// SIGINT/SIGTERM and stdin commands, merged into one channel.
pub struct Events {
    rx: Receiver<Event>,
}

impl Events {
    /// Installs the signal handlers now (so a signal sent right after the
    /// listening lines is never lost) and starts the stdin reader.
    pub fn install() -> std::io::Result<Events> {
        let (tx, rx) = mpsc::channel();
        let signal = telemeter::server::ShutdownSignal::install()?;
        let sig_tx = tx.clone();
        thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                let name = signal.wait().unwrap_or("signal wait failed");
                let _ = sig_tx.send(Event::Signal(name));
            })?;
        thread::Builder::new()
            .name("stdin-commands".into())
            .spawn(move || {
                // EOF (stdin closed or /dev/null) just ends the reader: the
                // example keeps running until a signal.
                for line in std::io::stdin().lock().lines() {
                    let Ok(line) = line else { break };
                    let line = line.trim();
                    if line.is_empty() {
                        continue;
                    }
                    if tx.send(Event::Command(line.to_string())).is_err() {
                        break;
                    }
                }
            })?;
        Ok(Events { rx })
    }

    /// The next event, or `None` once `deadline` passes.
    pub fn next_before(&self, deadline: Instant) -> Option<Event> {
        let wait = deadline.saturating_duration_since(Instant::now());
        match self.rx.recv_timeout(wait) {
            Ok(ev) => Some(ev),
            Err(RecvTimeoutError::Timeout) => None,
            // Both senders gone cannot happen while the signal thread
            // waits; treat it as a signal so the example still exits.
            Err(RecvTimeoutError::Disconnected) => Some(Event::Signal("no event source")),
        }
    }
}

/// Parks every workload thread on request.
///
/// Each workload thread calls [`Gate::checkpoint`] between operations;
/// [`Gate::pause`] returns once all of them are parked there, so nothing
/// records until [`Gate::resume`].
pub struct Gate {
    workers: usize,
    paused: AtomicBool,
    stop: AtomicBool,
    parked: Mutex<usize>,
    cv: Condvar,
}

impl Gate {
    /// A gate for `workers` threads.
    pub fn new(workers: usize) -> Gate {
        Gate {
            workers,
            paused: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            parked: Mutex::new(0),
            cv: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, usize> {
        self.parked.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Called by a workload thread between operations: waits while paused.
    /// Returns `false` once the workload must stop.
    pub fn checkpoint(&self) -> bool {
        if self.paused.load(Ordering::Acquire) {
            let mut parked = self.lock();
            *parked += 1;
            self.cv.notify_all();
            while self.paused.load(Ordering::Acquire) && !self.stop.load(Ordering::Acquire) {
                parked = self.cv.wait(parked).unwrap_or_else(|e| e.into_inner());
            }
            *parked -= 1;
        }
        !self.stop.load(Ordering::Acquire)
    }

    /// Sleeps `d` unless the workload stops first; `false` once it must stop.
    pub fn sleep(&self, d: Duration) -> bool {
        if !d.is_zero() {
            thread::sleep(d);
        }
        self.checkpoint()
    }

    /// Pauses the workload and waits until every thread is parked.
    pub fn pause(&self) {
        self.paused.store(true, Ordering::Release);
        let mut parked = self.lock();
        while *parked < self.workers {
            parked = self
                .cv
                .wait_timeout(parked, Duration::from_millis(50))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Lets the workload run again.
    pub fn resume(&self) {
        let _parked = self.lock();
        self.paused.store(false, Ordering::Release);
        self.cv.notify_all();
    }

    /// Whether the workload is paused.
    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::Acquire)
    }

    /// Stops the workload: every thread returns from its next checkpoint.
    pub fn stop(&self) {
        let _parked = self.lock();
        self.stop.store(true, Ordering::Release);
        self.cv.notify_all();
    }
}

/// Runs `op` at `rate` operations per second on the current thread until
/// the gate stops, parking at the gate between operations.
pub fn paced(gate: &Gate, rate: u32, mut op: impl FnMut()) {
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let mut next = Instant::now();
    while gate.checkpoint() {
        op();
        next += interval;
        let now = Instant::now();
        if next > now {
            thread::sleep(next - now);
        } else {
            next = now;
        }
    }
}

/// xorshift64*: plenty for synthetic traffic, no dependency.
pub struct Rng(u64);

impl Rng {
    /// A generator seeded from the clock and `salt`.
    pub fn seeded(salt: u64) -> Rng {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Rng((t ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// `true` with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// A simulated request's 128-bit trace id, in hex, written into
    /// `buf` (no allocation): what an exemplar carries.
    pub fn trace_id<'b>(&mut self, buf: &'b mut [u8; 32]) -> &'b str {
        let (hi, lo) = (self.next_u64(), self.next_u64());
        for (i, b) in buf.iter_mut().enumerate() {
            let word = if i < 16 { hi } else { lo };
            let nibble = (word >> (4 * (15 - i % 16))) & 0xf;
            *b = b"0123456789abcdef"[nibble as usize];
        }
        std::str::from_utf8(buf).unwrap_or("0")
    }

    /// A heavy-tailed latency around `median` (log-normal-ish).
    pub fn latency(&mut self, median: f64) -> f64 {
        let z = (self.unit() + self.unit() + self.unit() - 1.5) * 2.0;
        median * z.exp()
    }

    /// One element of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}
