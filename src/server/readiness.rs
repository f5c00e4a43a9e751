//! Readiness: the host's checks and facts behind `GET /ready`.
#![forbid(unsafe_code)]

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use super::error::ServerError;
use crate::catch::catch;

type CheckFn = Arc<dyn Fn() -> bool + Send + Sync + 'static>;
type FactFn = Arc<dyn Fn() -> i64 + Send + Sync + 'static>;

enum Entry {
    Check(CheckFn),
    Fact { f: FactFn, at_least: Option<i64> },
}

struct Named {
    name: String,
    entry: Entry,
}

struct Inner {
    started: AtomicBool,
    shutting_down: AtomicBool,
    entries: RwLock<Vec<Named>>,
}

/// The readiness state served at `GET /ready`: a start-up flag, a shutdown
/// flag, named boolean checks and named numeric facts, all registered by the
/// host.
///
/// `/ready` answers `200 {"status":"ready", <facts>...}` when the host has
/// marked itself started, shutdown has not begun, every check returns `true`
/// and every gating fact is at its minimum. Otherwise it answers
/// `503 {"status":"not_ready", <checks>..., <facts>...}`, with every check's
/// current value (so a failed one reads `false`) — the nexo-rs seed's bodies,
/// byte for byte: `{"status":"not_ready","broker_ready":false,"agents_running":0}`.
/// Keys appear in registration order, checks before facts.
///
/// Checks and facts run on the server's async thread at each `/ready`
/// request: they must be cheap and must not block (read an atomic, not a
/// database). A check that panics counts as `false`; a fact that panics is
/// left out of the body (and fails readiness if it gates it).
///
/// Cloning is cheap; all clones share the same state.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicI64, Ordering};
/// use std::sync::Arc;
/// use telemeter::server::Readiness;
///
/// let ready = Readiness::new();
/// let agents = Arc::new(AtomicI64::new(0));
/// ready.add_check("broker_ready", || true).unwrap();
/// let a = agents.clone();
/// ready
///     .add_fact_at_least("agents_running", 1, move || a.load(Ordering::Relaxed))
///     .unwrap();
///
/// // Not started yet.
/// assert_eq!(
///     ready.render(),
///     (false, r#"{"status":"not_ready","broker_ready":true,"agents_running":0}"#.to_string())
/// );
/// ready.set_started();
/// agents.store(2, Ordering::Relaxed);
/// assert_eq!(
///     ready.render(),
///     (true, r#"{"status":"ready","agents_running":2}"#.to_string())
/// );
/// ```
#[derive(Clone)]
pub struct Readiness {
    inner: Arc<Inner>,
}

impl fmt::Debug for Readiness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self.read().iter().map(|n| n.name.clone()).collect();
        f.debug_struct("Readiness")
            .field("started", &self.is_started())
            .field("shutting_down", &self.is_shutting_down())
            .field("names", &names)
            .finish()
    }
}

impl Default for Readiness {
    fn default() -> Self {
        Self::new()
    }
}

impl Readiness {
    /// A readiness state with no checks, not started, not shutting down.
    pub fn new() -> Self {
        Readiness {
            inner: Arc::new(Inner {
                started: AtomicBool::new(false),
                shutting_down: AtomicBool::new(false),
                entries: RwLock::new(Vec::new()),
            }),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Named>> {
        self.inner.entries.read().unwrap_or_else(|e| e.into_inner())
    }

    fn insert(&self, name: &str, entry: Entry) -> Result<(), ServerError> {
        let reason = if name.is_empty() {
            Some("it is empty")
        } else if name == "status" {
            Some("\"status\" is the body's own key")
        } else if name.chars().any(|c| c.is_control()) {
            Some("it contains control characters")
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(ServerError::InvalidReadinessName {
                name: name.to_string(),
                reason,
            });
        }
        let mut entries = self
            .inner
            .entries
            .write()
            .unwrap_or_else(|e| e.into_inner());
        if entries.iter().any(|n| n.name == name) {
            return Err(ServerError::InvalidReadinessName {
                name: name.to_string(),
                reason: "it is already registered",
            });
        }
        entries.push(Named {
            name: name.to_string(),
            entry,
        });
        Ok(())
    }

    /// Registers a boolean check: readiness needs it to return `true`.
    ///
    /// In a `503` body it appears as `"<name>":true|false`; a `200` body leaves
    /// checks out, as in the nexo-rs seed.
    ///
    /// # Errors
    ///
    /// [`ServerError::InvalidReadinessName`] if `name` is empty, `"status"`,
    /// or already registered.
    pub fn add_check<F>(&self, name: &str, check: F) -> Result<(), ServerError>
    where
        F: Fn() -> bool + Send + Sync + 'static,
    {
        self.insert(name, Entry::Check(Arc::new(check)))
    }

    /// Registers a numeric fact reported in every `/ready` body
    /// (`"<name>":<value>`) that does not affect readiness.
    ///
    /// # Errors
    ///
    /// As for [`add_check`](Self::add_check).
    pub fn add_fact<F>(&self, name: &str, fact: F) -> Result<(), ServerError>
    where
        F: Fn() -> i64 + Send + Sync + 'static,
    {
        self.insert(
            name,
            Entry::Fact {
                f: Arc::new(fact),
                at_least: None,
            },
        )
    }

    /// Registers a numeric fact that also gates readiness: ready needs
    /// `fact() >= min` (the seed's "at least one agent running" is
    /// `add_fact_at_least("agents_running", 1, ..)`).
    ///
    /// # Errors
    ///
    /// As for [`add_check`](Self::add_check).
    pub fn add_fact_at_least<F>(&self, name: &str, min: i64, fact: F) -> Result<(), ServerError>
    where
        F: Fn() -> i64 + Send + Sync + 'static,
    {
        self.insert(
            name,
            Entry::Fact {
                f: Arc::new(fact),
                at_least: Some(min),
            },
        )
    }

    /// Removes a check or fact by name; returns whether it existed.
    pub fn remove(&self, name: &str) -> bool {
        let mut entries = self
            .inner
            .entries
            .write()
            .unwrap_or_else(|e| e.into_inner());
        let before = entries.len();
        entries.retain(|n| n.name != name);
        entries.len() != before
    }

    /// Marks the host as started: until this is called `/ready` answers `503`
    /// whatever the checks say.
    pub fn set_started(&self) {
        self.inner.started.store(true, Ordering::Release);
    }

    /// Whether [`set_started`](Self::set_started) has been called.
    pub fn is_started(&self) -> bool {
        self.inner.started.load(Ordering::Acquire)
    }

    /// Marks the start of shutdown: from now on `/ready` answers `503`.
    /// [`ExporterHandle::shutdown`](super::ExporterHandle::shutdown) calls
    /// this before draining; a host may call it earlier.
    pub fn begin_shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::Release);
    }

    /// Whether shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.inner.shutting_down.load(Ordering::Acquire)
    }

    /// Evaluates every check and fact now: whether the host is ready, and the
    /// JSON body `/ready` would serve.
    pub fn render(&self) -> (bool, String) {
        // Snapshot the closures so that none runs under the lock (a check may
        // itself register or remove entries).
        let snapshot: Vec<(String, Entry)> = self
            .read()
            .iter()
            .map(|n| {
                let entry = match &n.entry {
                    Entry::Check(f) => Entry::Check(f.clone()),
                    Entry::Fact { f, at_least } => Entry::Fact {
                        f: f.clone(),
                        at_least: *at_least,
                    },
                };
                (n.name.clone(), entry)
            })
            .collect();

        let mut ready = self.is_started() && !self.is_shutting_down();
        let mut checks: Vec<(&str, bool)> = Vec::new();
        let mut facts: Vec<(&str, i64)> = Vec::new();
        for (name, entry) in &snapshot {
            match entry {
                Entry::Check(f) => {
                    let ok = catch(|| f()).unwrap_or(false);
                    ready &= ok;
                    checks.push((name, ok));
                }
                Entry::Fact { f, at_least } => match catch(|| f()) {
                    Some(v) => {
                        if let Some(min) = at_least {
                            ready &= v >= *min;
                        }
                        facts.push((name, v));
                    }
                    None => {
                        if at_least.is_some() {
                            ready = false;
                        }
                    }
                },
            }
        }

        let mut body = String::with_capacity(64);
        body.push_str(if ready {
            r#"{"status":"ready""#
        } else {
            r#"{"status":"not_ready""#
        });
        if !ready {
            for (name, ok) in &checks {
                push_key(&mut body, name);
                body.push_str(if *ok { "true" } else { "false" });
            }
        }
        for (name, v) in &facts {
            push_key(&mut body, name);
            body.push_str(itoa::Buffer::new().format(*v));
        }
        body.push('}');
        (ready, body)
    }
}

fn push_key(body: &mut String, name: &str) {
    body.push(',');
    // serde_json escapes exactly what JSON needs.
    body.push_str(&serde_json::Value::from(name).to_string());
    body.push(':');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_bodies() {
        let r = Readiness::new();
        r.add_check("broker_ready", || false).unwrap();
        r.add_fact_at_least("agents_running", 1, || 0).unwrap();
        r.set_started();
        assert_eq!(
            r.render(),
            (
                false,
                r#"{"status":"not_ready","broker_ready":false,"agents_running":0}"#.into()
            )
        );
    }

    #[test]
    fn no_checks_ready_once_started_and_not_after_shutdown() {
        let r = Readiness::new();
        assert_eq!(r.render(), (false, r#"{"status":"not_ready"}"#.into()));
        r.set_started();
        assert_eq!(r.render(), (true, r#"{"status":"ready"}"#.into()));
        r.begin_shutdown();
        assert!(!r.render().0);
    }

    #[test]
    fn names_validated_and_unique() {
        let r = Readiness::new();
        assert!(r.add_check("", || true).is_err());
        assert!(r.add_check("status", || true).is_err());
        r.add_check("a", || true).unwrap();
        assert!(r.add_fact("a", || 1).is_err());
        assert!(r.remove("a"));
        r.add_fact("a", || 1).unwrap();
    }

    #[test]
    fn panics_fail_closed_and_keys_are_escaped() {
        let r = Readiness::new();
        r.set_started();
        r.add_check("q\"uote", || panic!("boom")).unwrap();
        r.add_fact("f", || panic!("boom")).unwrap();
        // A payload whose drop panics as well fails closed the same way.
        r.add_check("z", || std::panic::panic_any(crate::catch::tests::Bomb))
            .unwrap();
        let (ok, body) = r.render();
        assert!(!ok);
        assert_eq!(body, r#"{"status":"not_ready","q\"uote":false,"z":false}"#);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["q\"uote"], false);
    }
}
