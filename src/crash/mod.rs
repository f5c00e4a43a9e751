//! Crash insight: on a fatal panic, a redacted, text-only bundle ready to
//! hand to maintainers (the 0xgen seed's crash-reporting workflow).
//!
//! [`install`] sets a panic hook, chained before any hook already set
//! (the default one still prints the panic, and the process still exits as
//! the panic makes it). On a panic the host marks fatal ([`fatal`],
//! [`mark_thread_fatal`]) or on every panic ([`CrashConfig::every_panic`]),
//! it writes one directory under the configured path, of text files only:
//!
//! | file | holds |
//! |---|---|
//! | `summary.txt` | time, program and version, `git describe` if given, target, telemeter's version, pid, uptime, thread, panic message and location, readiness |
//! | `backtrace.txt` | the panicking thread's backtrace (captured whatever `RUST_BACKTRACE` says) |
//! | `breadcrumbs.txt` | the last lines the host gave [`breadcrumb`], oldest first |
//! | `environment.txt` | the environment, values of secret-sounding names masked |
//! | `metrics.txt` | a fresh collection of the registry, sensitive families' label values fingerprinted |
//!
//! Nothing is written before it is redacted: every file goes through the
//! patterns ([`DEFAULT_PATTERNS`]: private keys, credentials in URLs,
//! bearer tokens, `key=value` secrets, well-known token shapes, e-mail
//! addresses; [`CrashConfig::redact`] adds more), environment variables
//! whose names sound secret (`TOKEN`, `SECRET`, `PASSWORD`, `KEY`, `AUTH`,
//! ...) are masked whatever their value, and the label values of families
//! marked [`CrashConfig::sensitive_family`] become their
//! [`Fingerprint`](crate::fingerprint::Fingerprint).
//!
//! The hook takes no lock that the panicking thread may hold: the metrics
//! and readiness are collected on helper threads, and what has not arrived
//! by [`CrashConfig::collect_deadline`] (2 s by default) is left out, with
//! a line that says so; for the metrics, the body of the last scrape takes
//! its place where the exporter serves the registry through
//! [`CrashReporter::metrics_source`]. The breadcrumb ring and that last
//! body are only tried, never waited for. A bundle that
//! cannot be written (disk full, a path that is not writable) costs one
//! line on stderr, and the panic goes on: the writer never hides a crash.
//!
//! `telemeter crash ls|show|pack DIR` reads bundles ([`list`], [`find`],
//! [`pack`]).
//!
//! # Examples
//!
//! ```no_run
//! use telemeter::crash::{self, CrashConfig};
//! use telemeter::Registry;
//!
//! let reg = Registry::new();
//! let reporter = crash::install(
//!     CrashConfig::new("/var/lib/agent/crashes")
//!         .program("agent", env!("CARGO_PKG_VERSION"))
//!         .registry(&reg)
//!         .sensitive_family("logins_total"),
//! )?;
//! reporter.breadcrumb("config loaded");
//! // ... later, where the program cannot go on:
//! crash::fatal("the plugin table is corrupt");
//! # Ok::<(), telemeter::crash::CrashError>(())
//! ```
#![forbid(unsafe_code)]

mod bundle;
mod clock;
mod redact;

use std::cell::Cell;
use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Write as _};
use std::panic::PanicHookInfo;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock, TryLockError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use bundle::{find, list, pack, BundleInfo, FILES};
pub use redact::DEFAULT_PATTERNS;

use crate::Registry;
use clock::Utc;
use redact::{Pattern, Redactor};

/// The most breadcrumb lines a ring keeps.
pub const MAX_BREADCRUMBS: usize = 10_000;

/// Breadcrumb lines are cut to this many bytes.
pub const MAX_BREADCRUMB_BYTES: usize = 1024;

/// How long a crash waits for the metrics and readiness by default.
pub const DEFAULT_COLLECT_DEADLINE: Duration = Duration::from_secs(2);

/// What [`install`] sets up: where bundles go and what they hold.
#[derive(Debug, Clone)]
pub struct CrashConfig {
    dir: PathBuf,
    program: String,
    version: String,
    git: Option<String>,
    every_panic: bool,
    breadcrumbs: usize,
    registry: Option<Registry>,
    #[cfg(feature = "exporter")]
    readiness: Option<crate::server::Readiness>,
    collect_deadline: Duration,
    default_patterns: bool,
    patterns: Vec<(String, String)>,
    sensitive: Vec<String>,
    environment: bool,
}

impl CrashConfig {
    /// Bundles go under `dir` (created at [`install`] if missing). By
    /// default: fatal panics only, 64 breadcrumbs, the default redaction
    /// patterns, the environment included, no registry.
    #[must_use]
    pub fn new(dir: impl Into<PathBuf>) -> CrashConfig {
        let program = std::env::current_exe()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "unknown".to_string());
        CrashConfig {
            dir: dir.into(),
            program,
            version: "unknown".to_string(),
            git: None,
            every_panic: false,
            breadcrumbs: 64,
            registry: None,
            #[cfg(feature = "exporter")]
            readiness: None,
            collect_deadline: DEFAULT_COLLECT_DEADLINE,
            default_patterns: true,
            patterns: Vec::new(),
            sensitive: Vec::new(),
            environment: true,
        }
    }

    /// The program's name and version for the summary (default: the
    /// executable's file name, version `unknown`).
    #[must_use]
    pub fn program(mut self, name: impl Into<String>, version: impl Into<String>) -> CrashConfig {
        self.program = name.into();
        self.version = version.into();
        self
    }

    /// A `git describe` of the build, for the summary.
    #[must_use]
    pub fn git_describe(mut self, describe: impl Into<String>) -> CrashConfig {
        self.git = Some(describe.into());
        self
    }

    /// Whether every panic writes a bundle, not only fatal ones (default
    /// `false`).
    #[must_use]
    pub fn every_panic(mut self, on: bool) -> CrashConfig {
        self.every_panic = on;
        self
    }

    /// How many breadcrumb lines the ring keeps (default 64, at most
    /// [`MAX_BREADCRUMBS`]).
    #[must_use]
    pub fn breadcrumbs(mut self, lines: usize) -> CrashConfig {
        self.breadcrumbs = lines;
        self
    }

    /// The registry whose collection goes into `metrics.txt`.
    #[must_use]
    pub fn registry(mut self, registry: &Registry) -> CrashConfig {
        self.registry = Some(registry.clone());
        self
    }

    /// The readiness state the summary reports (the `/ready` body and
    /// whether the host had started or was shutting down).
    #[cfg(feature = "exporter")]
    #[must_use]
    pub fn readiness(mut self, readiness: &crate::server::Readiness) -> CrashConfig {
        self.readiness = Some(readiness.clone());
        self
    }

    /// How long a crash waits for the metrics and readiness (default
    /// [`DEFAULT_COLLECT_DEADLINE`]); at most 60 s.
    #[must_use]
    pub fn collect_deadline(mut self, deadline: Duration) -> CrashConfig {
        self.collect_deadline = deadline;
        self
    }

    /// Masks every match of `regex` (the `regex` crate's syntax) as
    /// `[redacted:NAME]`, besides the default patterns.
    #[must_use]
    pub fn redact(mut self, name: impl Into<String>, regex: impl Into<String>) -> CrashConfig {
        self.patterns.push((name.into(), regex.into()));
        self
    }

    /// Leaves the [`DEFAULT_PATTERNS`] out (only [`CrashConfig::redact`]'s
    /// apply). Secret-sounding environment names are still masked.
    #[must_use]
    pub fn no_default_redactions(mut self) -> CrashConfig {
        self.default_patterns = false;
        self
    }

    /// Marks the family `name` (as registered, e.g. `logins_total`)
    /// sensitive: its label values are written as their fingerprints.
    #[must_use]
    pub fn sensitive_family(mut self, name: impl Into<String>) -> CrashConfig {
        self.sensitive.push(name.into());
        self
    }

    /// Whether the environment goes into the bundle (default `true`).
    #[must_use]
    pub fn environment(mut self, on: bool) -> CrashConfig {
        self.environment = on;
        self
    }
}

/// Why a crash reporter could not be installed, or bundles not read.
#[derive(Debug)]
#[non_exhaustive]
pub enum CrashError {
    /// [`install`] was already called in this process (there is one panic
    /// hook per process).
    AlreadyInstalled,
    /// The bundle directory cannot be created.
    Dir {
        /// The directory.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// A redaction pattern does not compile.
    BadPattern {
        /// The pattern's name.
        name: String,
        /// What the regex compiler said.
        reason: String,
    },
    /// A setting is out of its range.
    InvalidSetting {
        /// The builder method.
        setting: &'static str,
        /// Why.
        reason: String,
    },
    /// A file or directory could not be read.
    Read {
        /// The path.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// A `crash-*` directory holds no bundle (no `summary.txt` that starts
    /// like one).
    NotABundle {
        /// The directory.
        path: PathBuf,
    },
    /// No bundle has that name.
    NoSuchBundle {
        /// Where it was looked for.
        dir: PathBuf,
        /// The name asked for.
        name: String,
        /// The bundles there.
        known: Vec<String>,
    },
}

impl fmt::Display for CrashError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CrashError::AlreadyInstalled => write!(
                f,
                "a crash reporter is already installed in this process; keep the CrashReporter \
                 the first install returned (or crash::breadcrumb) instead of installing again"
            ),
            CrashError::Dir { path, source } => write!(
                f,
                "cannot create the crash bundle directory {}: {source}; give a directory this \
                 process can write",
                path.display()
            ),
            CrashError::BadPattern { name, reason } => write!(
                f,
                "the redaction pattern {name:?} does not compile: {reason}; patterns use the \
                 regex crate's syntax"
            ),
            CrashError::InvalidSetting { setting, reason } => {
                write!(f, "invalid value for CrashConfig::{setting}: {reason}")
            }
            CrashError::Read { path, source } => {
                write!(f, "cannot read {}: {source}", path.display())
            }
            CrashError::NotABundle { path } => write!(
                f,
                "{} is not a crash bundle (its summary.txt is missing or does not start with \
                 {:?})",
                path.display(),
                bundle::MAGIC
            ),
            CrashError::NoSuchBundle { dir, name, known } => {
                write!(f, "no crash bundle {name:?} in {}", dir.display())?;
                if known.is_empty() {
                    write!(f, "; it holds none")
                } else {
                    write!(f, "; it holds: {}", known.join(", "))
                }
            }
        }
    }
}

impl std::error::Error for CrashError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CrashError::Dir { source, .. } | CrashError::Read { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// What the hook works from.
struct Reporter {
    dir: PathBuf,
    program: String,
    version: String,
    git: Option<String>,
    every_panic: bool,
    registry: Option<Registry>,
    #[cfg(feature = "exporter")]
    readiness: Option<crate::server::Readiness>,
    collect_deadline: Duration,
    redactor: Redactor,
    environment: bool,
    breadcrumbs: Mutex<VecDeque<String>>,
    capacity: usize,
    installed: Instant,
    written: AtomicU64,
    /// Bundles begun: each takes the next number for its name.
    started: AtomicU64,
    /// The body of the last scrape served through
    /// [`CrashReporter::metrics_source`], and when: the bundle's metrics
    /// when a fresh collection cannot finish.
    last_body: Mutex<(Vec<u8>, Option<SystemTime>)>,
}

static REPORTER: OnceLock<Arc<Reporter>> = OnceLock::new();

thread_local! {
    /// This thread's panics are fatal ([`mark_thread_fatal`]).
    static THREAD_FATAL: Cell<bool> = const { Cell::new(false) };
    /// The next panic on this thread is fatal ([`fatal`]).
    static NEXT_FATAL: Cell<bool> = const { Cell::new(false) };
    /// The hook is running on this thread: a panic inside it writes nothing.
    static IN_HOOK: Cell<bool> = const { Cell::new(false) };
}

/// A handle to the installed reporter: adds breadcrumbs. The hook stays
/// installed for the life of the process whether or not this is kept.
#[derive(Clone)]
pub struct CrashReporter {
    inner: Arc<Reporter>,
}

impl fmt::Debug for CrashReporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CrashReporter")
            .field("dir", &self.inner.dir)
            .field("every_panic", &self.inner.every_panic)
            .finish()
    }
}

impl CrashReporter {
    /// Adds a line to the breadcrumb ring (cut to
    /// [`MAX_BREADCRUMB_BYTES`]); the oldest goes when it is full. Lines
    /// are redacted when a bundle is written, like everything else.
    pub fn breadcrumb(&self, line: impl AsRef<str>) {
        self.inner.breadcrumb(line.as_ref());
    }

    /// Where bundles go.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Bundles written by this process so far.
    #[must_use]
    pub fn bundles_written(&self) -> u64 {
        self.inner.written.load(Ordering::Relaxed)
    }

    /// `registry` as an exporter's source
    /// ([`ExporterBuilder::source`](crate::server::ExporterBuilder::source))
    /// that keeps a copy of the body of each scrape it serves: when a crash
    /// cannot collect the registry afresh within the deadline, the bundle
    /// holds the last scrape's body instead. The copy reuses one buffer
    /// (no allocation once it has grown to the body's size) and costs one
    /// `memcpy` of the body per scrape.
    #[cfg(feature = "exporter")]
    #[must_use]
    pub fn metrics_source(&self, registry: &Registry) -> Arc<dyn crate::server::MetricsSource> {
        Arc::new(KeepLast {
            registry: registry.clone(),
            reporter: Arc::clone(&self.inner),
        })
    }
}

/// [`CrashReporter::metrics_source`]'s source.
#[cfg(feature = "exporter")]
struct KeepLast {
    registry: Registry,
    reporter: Arc<Reporter>,
}

#[cfg(feature = "exporter")]
impl KeepLast {
    fn keep(&self, body: &[u8]) {
        let mut last = self
            .reporter
            .last_body
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        last.0.clear();
        last.0.extend_from_slice(body);
        last.1 = Some(SystemTime::now());
    }
}

#[cfg(feature = "exporter")]
impl crate::server::MetricsSource for KeepLast {
    fn encode(&self, buf: &mut Vec<u8>) {
        let start = buf.len();
        self.registry.encode(buf);
        self.keep(&buf[start..]);
    }

    fn encode_until(&self, buf: &mut Vec<u8>, deadline: Instant) {
        let start = buf.len();
        self.registry.encode_until(buf, deadline);
        self.keep(&buf[start..]);
    }

    fn summary_json(&self) -> serde_json::Value {
        self.registry.summary().to_json()
    }
}

/// Installs the crash reporter: its panic hook runs before the hook that
/// was set (the default one prints the panic).
///
/// # Errors
///
/// [`CrashError::AlreadyInstalled`] on a second call,
/// [`CrashError::Dir`] when the directory cannot be created,
/// [`CrashError::BadPattern`] for a redaction pattern that does not
/// compile, [`CrashError::InvalidSetting`] for a ring or deadline out of
/// range.
pub fn install(config: CrashConfig) -> Result<CrashReporter, CrashError> {
    if REPORTER.get().is_some() {
        return Err(CrashError::AlreadyInstalled);
    }
    if config.breadcrumbs > MAX_BREADCRUMBS {
        return Err(CrashError::InvalidSetting {
            setting: "breadcrumbs",
            reason: format!(
                "{} lines; the ring keeps at most {MAX_BREADCRUMBS}",
                config.breadcrumbs
            ),
        });
    }
    if config.collect_deadline > Duration::from_secs(60) || config.collect_deadline.is_zero() {
        return Err(CrashError::InvalidSetting {
            setting: "collect_deadline",
            reason: format!(
                "{:?}; give more than 0 and at most 60 s (a crashing process should not wait \
                 longer)",
                config.collect_deadline
            ),
        });
    }
    let mut patterns = Vec::new();
    if config.default_patterns {
        for (name, regex, replacement) in DEFAULT_PATTERNS {
            patterns.push(Pattern::new(regex, replacement).map_err(|reason| {
                CrashError::BadPattern {
                    name: name.to_string(),
                    reason,
                }
            })?);
        }
    }
    for (name, regex) in &config.patterns {
        let replacement = format!("[redacted:{name}]");
        patterns.push(Pattern::new(regex, &replacement).map_err(|reason| {
            CrashError::BadPattern {
                name: name.clone(),
                reason,
            }
        })?);
    }
    std::fs::create_dir_all(&config.dir).map_err(|source| CrashError::Dir {
        path: config.dir.clone(),
        source,
    })?;
    let reporter = Arc::new(Reporter {
        dir: config.dir,
        program: config.program,
        version: config.version,
        git: config.git,
        every_panic: config.every_panic,
        registry: config.registry,
        #[cfg(feature = "exporter")]
        readiness: config.readiness,
        collect_deadline: config.collect_deadline,
        redactor: Redactor::new(patterns, config.sensitive),
        environment: config.environment,
        breadcrumbs: Mutex::new(VecDeque::with_capacity(config.breadcrumbs)),
        capacity: config.breadcrumbs,
        installed: Instant::now(),
        written: AtomicU64::new(0),
        started: AtomicU64::new(0),
        last_body: Mutex::new((Vec::new(), None)),
    });
    if REPORTER.set(Arc::clone(&reporter)).is_err() {
        return Err(CrashError::AlreadyInstalled);
    }
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if let Some(r) = REPORTER.get() {
            r.on_panic(info);
        }
        previous(info);
    }));
    Ok(CrashReporter { inner: reporter })
}

/// Adds a line to the installed reporter's breadcrumb ring; nothing when
/// none is installed.
pub fn breadcrumb(line: impl AsRef<str>) {
    if let Some(r) = REPORTER.get() {
        r.breadcrumb(line.as_ref());
    }
}

/// Marks every later panic on this thread fatal: each writes a bundle.
pub fn mark_thread_fatal() {
    THREAD_FATAL.with(|f| f.set(true));
}

/// Panics with `message`, marked fatal: the installed reporter writes a
/// bundle whatever [`CrashConfig::every_panic`] says. The panic's
/// location is the caller's.
#[track_caller]
pub fn fatal(message: impl fmt::Display) -> ! {
    NEXT_FATAL.with(|f| f.set(true));
    panic!("{message}")
}

/// A part collected on a helper thread.
enum Part {
    Metrics(String),
    #[cfg_attr(not(feature = "exporter"), allow(dead_code))]
    Readiness(String),
}

impl Reporter {
    fn breadcrumb(&self, line: &str) {
        if self.capacity == 0 {
            return;
        }
        let mut cut = line.len().min(MAX_BREADCRUMB_BYTES);
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        let mut ring = self.breadcrumbs.lock().unwrap_or_else(|e| e.into_inner());
        if ring.len() == self.capacity {
            ring.pop_front();
        }
        ring.push_back(line[..cut].to_string());
    }

    fn on_panic(&self, info: &PanicHookInfo<'_>) {
        let next = NEXT_FATAL.try_with(|f| f.replace(false)).unwrap_or(false);
        let thread = THREAD_FATAL.try_with(Cell::get).unwrap_or(false);
        if !(self.every_panic || next || thread) {
            return;
        }
        if IN_HOOK.try_with(|h| h.replace(true)).unwrap_or(true) {
            return;
        }
        let mut err = io::stderr();
        match self.write_bundle(info) {
            Ok(path) => {
                self.written.fetch_add(1, Ordering::Relaxed);
                let _ = writeln!(err, "telemeter: crash bundle written to {}", path.display());
            }
            Err(e) => {
                let _ = writeln!(
                    err,
                    "telemeter: could not write a crash bundle under {}: {e} (the panic goes on)",
                    self.dir.display()
                );
            }
        }
        let _ = IN_HOOK.try_with(|h| h.set(false));
    }

    fn write_bundle(&self, info: &PanicHookInfo<'_>) -> io::Result<PathBuf> {
        let now = SystemTime::now();
        let utc = Utc::of(now);
        let pid = std::process::id();
        // Unique per bundle even when two threads panic in one second (the
        // count of bundles written would give both the same name).
        let seq = self.started.fetch_add(1, Ordering::Relaxed) + 1;
        let name = format!("crash-{}-{pid}-{seq}", utc.compact());
        let message = payload_text(info);
        let location = info
            .location()
            .map_or_else(|| "unknown".to_string(), |l| l.to_string());
        let thread = std::thread::current()
            .name()
            .unwrap_or("<unnamed>")
            .to_string();
        let backtrace = from_the_panic(&std::backtrace::Backtrace::force_capture().to_string());
        let (metrics, readiness) = self.collect();
        let uptime = match crate::process::start_time_seconds() {
            Some(start) => {
                let now = now
                    .duration_since(UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64());
                format!("{:.1} s", (now - start).max(0.0))
            }
            None => format!(
                "{:.1} s since the crash reporter was installed",
                self.installed.elapsed().as_secs_f64()
            ),
        };
        let mut summary = format!(
            "{}\ntime: {}\nprogram: {} {}\ngit: {}\ntarget: {}-{}\ntelemeter: {}\npid: {pid}\n\
             uptime: {uptime}\nthread: {thread}\npanic: {}\nlocation: {location}\n",
            bundle::MAGIC,
            utc.rfc3339(),
            self.program,
            self.version,
            self.git.as_deref().unwrap_or("not given"),
            std::env::consts::ARCH,
            std::env::consts::OS,
            env!("CARGO_PKG_VERSION"),
            message.lines().next().unwrap_or(""),
        );
        summary.push_str(&readiness);
        if message.lines().count() > 1 {
            summary.push_str("\nfull panic message:\n");
            summary.push_str(&message);
            summary.push('\n');
        }
        let breadcrumbs = match self.breadcrumbs.try_lock() {
            Ok(ring) => lines(ring.iter()),
            Err(TryLockError::Poisoned(p)) => lines(p.into_inner().iter()),
            Err(TryLockError::WouldBlock) => {
                "(not read: another thread held the breadcrumb ring at the crash)\n".to_string()
            }
        };
        let environment = if self.environment {
            let vars = std::env::vars_os().map(|(k, v)| {
                (
                    k.to_string_lossy().into_owned(),
                    v.to_string_lossy().into_owned(),
                )
            });
            self.redactor.environment(vars)
        } else {
            "(left out: CrashConfig::environment(false))\n".to_string()
        };
        let r = &self.redactor;
        let files = [
            ("summary.txt", r.text(&summary)),
            ("backtrace.txt", r.text(&backtrace)),
            ("breadcrumbs.txt", r.text(&breadcrumbs)),
            ("environment.txt", environment),
            ("metrics.txt", r.text(&r.exposition(&metrics))),
        ];
        bundle::write(&self.dir, &name, &files)
    }

    /// The metrics and the readiness lines, each from a helper thread of
    /// its own, waited for until the deadline.
    fn collect(&self) -> (String, String) {
        let start = Instant::now();
        let deadline = start + self.collect_deadline;
        // The registry skips callbacks that have not returned a little
        // before the hook stops waiting, so that the rest still arrives.
        let encode_deadline = start + self.collect_deadline * 3 / 4;
        let (tx, rx) = mpsc::channel();
        let mut expected = 0;
        if let Some(reg) = self.registry.clone() {
            let tx = tx.clone();
            let spawned = std::thread::Builder::new()
                .name("telemeter-crash-metrics".into())
                .spawn(move || {
                    let mut buf = Vec::new();
                    reg.encode_until(&mut buf, encode_deadline);
                    let _ = tx.send(Part::Metrics(String::from_utf8_lossy(&buf).into_owned()));
                });
            expected += usize::from(spawned.is_ok());
        }
        #[cfg(feature = "exporter")]
        if let Some(readiness) = self.readiness.clone() {
            let tx = tx.clone();
            let spawned = std::thread::Builder::new()
                .name("telemeter-crash-readiness".into())
                .spawn(move || {
                    let (ready, body) = readiness.render();
                    let phase = if readiness.is_shutting_down() {
                        "shutting down"
                    } else if readiness.is_started() {
                        "started"
                    } else {
                        "starting"
                    };
                    let _ = tx.send(Part::Readiness(format!(
                        "readiness: {} ({phase}): {body}\n",
                        if ready { "ready" } else { "not ready" }
                    )));
                });
            expected += usize::from(spawned.is_ok());
        }
        drop(tx);
        let mut metrics = None;
        let mut readiness = None;
        for _ in 0..expected {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(Part::Metrics(m)) => metrics = Some(m),
                Ok(Part::Readiness(r)) => readiness = Some(r),
                Err(_) => break,
            }
        }
        let waited = self.collect_deadline;
        let metrics = match (metrics, &self.registry) {
            (Some(m), _) => m,
            (None, registry) => {
                let why = if registry.is_some() {
                    format!(
                        "the collection did not finish within {waited:?} (it may wait for a lock \
                         the panicking thread holds) or its thread could not start"
                    )
                } else {
                    "no registry was given (CrashConfig::registry)".to_string()
                };
                match self.last_body.try_lock() {
                    Ok(last) if last.1.is_some() => {
                        let at = last.1.map(|t| Utc::of(t).rfc3339()).unwrap_or_default();
                        format!(
                            "# not collected afresh: {why}; this is the body of the last scrape, \
                             served at {at}\n{}",
                            String::from_utf8_lossy(&last.0)
                        )
                    }
                    _ => format!("# not collected: {why}\n"),
                }
            }
        };
        let readiness = readiness.unwrap_or_else(|| {
            #[cfg(feature = "exporter")]
            if self.readiness.is_some() {
                return format!(
                    "readiness: not collected within {waited:?} (a check may wait for a lock the \
                     panicking thread holds)\n"
                );
            }
            "readiness: not given (CrashConfig::readiness)\n".to_string()
        });
        (metrics, readiness)
    }
}

/// The panic's message: its `&str` or `String` payload.
fn payload_text(info: &PanicHookInfo<'_>) -> String {
    let payload = info.payload();
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a payload that is not text)".to_string()
    }
}

/// A backtrace captured in the hook, from the frame that panicked on: the
/// frames of the hook and of the panic machinery are dropped (all of them
/// are kept if none is recognised).
fn from_the_panic(backtrace: &str) -> String {
    let is_frame = |l: &str| {
        let t = l.trim_start();
        t.split_once(": ")
            .is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    let machinery = |l: &str| {
        [
            "std::panicking::",
            "core::panicking::",
            "rust_begin_unwind",
            "__rust_end_short_backtrace",
            "telemeter::crash::fatal",
        ]
        .iter()
        .any(|m| l.contains(m))
    };
    let lines: Vec<&str> = backtrace.lines().collect();
    // The first frame of the panic machinery, then the first frame after
    // the run of them.
    let Some(start) = lines.iter().position(|l| is_frame(l) && machinery(l)) else {
        return backtrace.to_string();
    };
    let first = lines[start..]
        .iter()
        .position(|l| is_frame(l) && !machinery(l))
        .map_or(lines.len(), |p| start + p);
    let mut out = String::new();
    for l in &lines[first..] {
        out.push_str(l);
        out.push('\n');
    }
    if out.is_empty() {
        return backtrace.to_string();
    }
    out
}

fn lines<'a>(ring: impl Iterator<Item = &'a String>) -> String {
    let mut out = String::new();
    for line in ring {
        out.push_str(line);
        out.push('\n');
    }
    if out.is_empty() {
        out.push_str("(none)\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_breadcrumb_is_cut_at_a_character_boundary() {
        let r = Reporter {
            dir: PathBuf::new(),
            program: String::new(),
            version: String::new(),
            git: None,
            every_panic: false,
            registry: None,
            #[cfg(feature = "exporter")]
            readiness: None,
            collect_deadline: DEFAULT_COLLECT_DEADLINE,
            redactor: Redactor::new(Vec::new(), Vec::new()),
            environment: false,
            breadcrumbs: Mutex::new(VecDeque::new()),
            capacity: 2,
            installed: Instant::now(),
            written: AtomicU64::new(0),
            started: AtomicU64::new(0),
            last_body: Mutex::new((Vec::new(), None)),
        };
        // 1,023 ASCII bytes and a two-byte character across the limit.
        let line = format!("{}é tail", "a".repeat(MAX_BREADCRUMB_BYTES - 1));
        r.breadcrumb(&line);
        r.breadcrumb("second");
        r.breadcrumb("third");
        let ring = r.breadcrumbs.lock().unwrap();
        assert_eq!(ring.len(), 2, "the oldest went");
        assert_eq!(ring[0], "second");
        drop(ring);
        let r2 = Reporter {
            capacity: 1,
            breadcrumbs: Mutex::new(VecDeque::new()),
            ..r
        };
        r2.breadcrumb(&line);
        let kept = r2.breadcrumbs.lock().unwrap()[0].clone();
        assert_eq!(kept.len(), MAX_BREADCRUMB_BYTES - 1);
        assert!(kept.bytes().all(|b| b == b'a'));
    }

    #[test]
    fn a_backtrace_starts_at_the_frame_that_panicked() {
        let bt = "   0: telemeter::crash::Reporter::write_bundle\n             at ./src/crash/mod.rs:566:25\n   1: std::panicking::panic_with_hook\n             at x.rs:1\n   2: core::panicking::panic_fmt\n   3: telemeter::crash::fatal\n             at ./src/crash/mod.rs:499:5\n   4: app::main\n             at ./src/main.rs:3:5\n   5: std::rt::lang_start\n";
        assert_eq!(
            from_the_panic(bt),
            "   4: app::main\n             at ./src/main.rs:3:5\n   5: std::rt::lang_start\n"
        );
        let unknown = "   0: a\n   1: b\n";
        assert_eq!(from_the_panic(unknown), unknown);
    }
}
