//! A backend for the [`metrics`] facade (0.24): `counter!`, `gauge!` and
//! `histogram!` calls, yours and your dependencies', record into a
//! telemeter [`Registry`] (feature `metrics-rs`).
//!
//! ```
//! use telemeter::{facade::Facade, Registry};
//!
//! let reg = Registry::builder().self_metrics(false).build();
//! let facade = Facade::builder(&reg).build()?;
//! metrics::with_local_recorder(&facade, || {
//!     metrics::describe_counter!("jobs_total", "Jobs run.");
//!     metrics::counter!("jobs_total", "queue" => "mail").increment(2);
//!     metrics::counter!("jobs_total", "queue" => "mail", "shard" => "3").increment(1);
//!     metrics::gauge!("queue.depth").set(7.0);
//! });
//! let body = reg.encode_to_string();
//! assert!(body.contains("# HELP jobs_total Jobs run.\n# TYPE jobs_total counter\n"));
//! assert!(body.contains("jobs_total{queue=\"mail\"} 2\n"));
//! assert!(body.contains("jobs_total{queue=\"mail\",shard=\"3\"} 1\n"));
//! assert!(body.contains("queue_depth 7\n")); // sanitized
//! # Ok::<(), telemeter::Error>(())
//! ```
//!
//! For the whole program, [`install`] (or [`FacadeBuilder::install`]) makes
//! it the global recorder; the exporter serves the registry as usual.
//!
//! # What a key becomes
//!
//! * The name and label names are sanitized the way
//!   metrics-exporter-prometheus does it (any character Prometheus does not
//!   allow becomes `_`), and then made names the registry accepts: a
//!   leading `__` loses all its underscores but one, and a histogram's
//!   label `le` becomes `_le`. An empty name, and a name in telemeter's
//!   own `telemeter_` namespace, are refused (below). Label values are
//!   kept (the encoder escapes them).
//! * Labels are sorted by name, so `a, b` and `b, a` are one series.
//! * One name is one family, with one HELP and TYPE, whatever label names
//!   its keys carry (text 0.0.4 allows it): keys with other label names
//!   add series to the same family.
//! * Counters are telemeter [`Counter`]s: `increment` adds on the calling
//!   thread's shard, and `absolute(v)` raises the total to `v` if it is
//!   below (never lowers it; increments that race with it stay on top).
//!   Gauges are [`FloatGauge`]s: `set` is last-writer-wins, `increment`
//!   and `decrement` are never lost. Histograms are [`Histogram`]s whose
//!   buckets the builder chooses per name ([`FacadeBuilder::buckets_for`]),
//!   [`Buckets::default`] otherwise, or native histograms
//!   ([`NativeHistogram`]) for the names a
//!   [`FacadeBuilder::native_for`] matcher matches; `record_many` is one add.
//! * `describe_*` sets the family's HELP, before or after its first
//!   registration. Text 0.0.4 has no place for a unit; the unit a
//!   `describe_*` gives is kept ([`Facade::unit`]).
//! * A family's cardinality limit ([`RegistryBuilder::default_max_series`])
//!   applies per label-name set: label sets past it go to the overflow
//!   series, counted in `telemeter_series_overflow_total`, as for any
//!   family.
//! * Keys are never removed (the facade has no call for it). A
//!   [`Registry::unregister`] of a facade name takes its family out of the
//!   scrape; the facade goes on recording into it, unexported, and does
//!   not register the name again.
//!
//! [`Registry::unregister`]: crate::Registry::unregister
//!
//! # Refusals
//!
//! A facade call cannot return an error. A key the registry cannot take
//! (the name is empty or reserved, or taken by a family registered outside
//! the facade, or by a facade metric of another type; a label name given
//! twice; a label value over the registry's limit; the registry's family
//! limit) gets a handle that records nothing, and the refusal is counted
//! in `telemeter_facade_rejected_total{reason}` (with self-metrics on) and
//! in [`Facade::rejected`], with the last errors in
//! [`Facade::recent_errors`]. Each `counter!(..)` call is one registration,
//! so for the macro form the count is the number of records dropped.
//!
//! # Speed
//!
//! A registration (what every `counter!(..)` call is) looks its key up in
//! a lock-free map keyed by the hash the key carries and hands out a
//! counted reference; the handle then records as a telemeter handle does,
//! behind one dynamic call. Figures against metrics-exporter-prometheus
//! are in docs/BENCHMARKS.md.
//!
//! [`Counter`]: crate::Counter
//! [`FloatGauge`]: crate::FloatGauge
//! [`Histogram`]: crate::Histogram
//! [`Buckets::default`]: crate::Buckets::default
//! [`RegistryBuilder::default_max_series`]: crate::RegistryBuilder::default_max_series
#![forbid(unsafe_code)]

mod cache;
mod handles;
mod names;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use metrics::{Key, KeyName, Metadata, SharedString, Unit};

use crate::family::{Group, Layout, Metric};
use crate::sync::lock;
use crate::{
    Buckets, Counter, Error, Family, FloatGauge, Histogram, NativeBuckets, NativeHistogram, Opts,
    Registry,
};
use cache::Handle;
use handles::{FacadeCounter, FacadeGauge, FacadeHistogram, FacadeNative};

/// Facade ids, for the per-thread cache's tags.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// How many refusals [`Facade::recent_errors`] keeps.
pub const RECENT_ERRORS: usize = 32;

/// Which histogram names a bucket layout is for
/// ([`FacadeBuilder::buckets_for`]), as metrics-exporter-prometheus'
/// `Matcher`. Matched against the sanitized name; the string is
/// sanitized too.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Matcher {
    /// The whole name.
    Full(String),
    /// The name's beginning.
    Prefix(String),
    /// The name's end.
    Suffix(String),
}

impl Matcher {
    fn sanitized(self) -> Matcher {
        match self {
            Matcher::Full(s) => Matcher::Full(names::metric_name(&s)),
            Matcher::Prefix(s) => Matcher::Prefix(names::metric_name(&s)),
            Matcher::Suffix(s) => Matcher::Suffix(names::metric_name(&s)),
        }
    }

    /// How well it matches `name`: a full match first, then the longest
    /// prefix, then the longest suffix; `None` if it does not.
    fn rank(&self, name: &str) -> Option<(u8, usize)> {
        match self {
            Matcher::Full(s) => (name == s).then_some((2, s.len())),
            Matcher::Prefix(s) => name.starts_with(s.as_str()).then_some((1, s.len())),
            Matcher::Suffix(s) => name.ends_with(s.as_str()).then_some((0, s.len())),
        }
    }
}

/// A key the facade refused, and why (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct Rejection {
    /// The key as the facade was given it: its name, then its labels.
    pub key: String,
    /// What the registry refused.
    pub error: Error,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "metrics key {} refused: {}", self.key, self.error)
    }
}

/// Builds a [`Facade`] over a registry.
#[derive(Debug)]
#[must_use]
pub struct FacadeBuilder {
    registry: Registry,
    default_buckets: Buckets,
    buckets: Vec<(Matcher, Buckets)>,
    natives: Vec<(Matcher, NativeBuckets)>,
}

impl FacadeBuilder {
    /// The bucket layout of histograms no [`FacadeBuilder::buckets_for`]
    /// matches ([`Buckets::default`] unless set).
    pub fn default_buckets(mut self, buckets: Buckets) -> Self {
        self.default_buckets = buckets;
        self
    }

    /// The bucket layout of the histograms whose (sanitized) name
    /// `matcher` matches, as metrics-exporter-prometheus'
    /// `set_buckets_for_metric`. Where several match, a full match wins,
    /// then the longest prefix, then the longest suffix.
    ///
    /// ```
    /// use telemeter::facade::{Facade, Matcher};
    /// use telemeter::{Buckets, Registry};
    /// let reg = Registry::builder().self_metrics(false).build();
    /// let facade = Facade::builder(&reg)
    ///     .buckets_for(Matcher::Suffix("_bytes".into()), Buckets::exponential(64.0, 4.0, 4)?)
    ///     .build()?;
    /// metrics::with_local_recorder(&facade, || metrics::histogram!("body_bytes").record(100.0));
    /// assert!(reg.encode_to_string().contains("body_bytes_bucket{le=\"256\"} 1\n"));
    /// # Ok::<(), telemeter::Error>(())
    /// ```
    pub fn buckets_for(mut self, matcher: Matcher, buckets: Buckets) -> Self {
        self.buckets.push((matcher.sanitized(), buckets));
        self
    }

    /// Native buckets (exponential, no layout to choose: see
    /// [`NativeBuckets`]) for the histograms whose (sanitized) name
    /// `matcher` matches. A name that a `native_for` matcher matches is a
    /// native histogram whatever `buckets_for` says; among several, the
    /// best match as for [`FacadeBuilder::buckets_for`].
    ///
    /// ```
    /// use telemeter::facade::{Facade, Matcher};
    /// use telemeter::{NativeBuckets, Registry};
    /// let reg = Registry::builder().self_metrics(false).build();
    /// let facade = Facade::builder(&reg)
    ///     .native_for(Matcher::Suffix("_seconds".into()), NativeBuckets::default())
    ///     .build()?;
    /// metrics::with_local_recorder(&facade, || {
    ///     metrics::histogram!("rpc_seconds", "rpc" => "get").record(0.3);
    ///     metrics::histogram!("rpc_seconds", "rpc" => "get").record_many(0.25, 2);
    /// });
    /// // Text scrapes get the classic view: power-of-two buckets.
    /// assert!(reg.encode_to_string().contains("rpc_seconds_bucket{rpc=\"get\",le=\"0.5\"} 3\n"));
    /// # Ok::<(), telemeter::Error>(())
    /// ```
    pub fn native_for(mut self, matcher: Matcher, buckets: NativeBuckets) -> Self {
        self.natives.push((matcher.sanitized(), buckets));
        self
    }

    /// Builds the facade.
    ///
    /// # Errors
    ///
    /// [`Error::DuplicateMetric`] for `telemeter_facade_rejected_total`
    /// where the registry (with self-metrics on) already has a facade:
    /// one registry takes one facade (a second would find every name
    /// taken); keep the first.
    pub fn build(self) -> Result<Facade, Error> {
        let rejected = if self.registry.inner.self_metrics {
            Some(
                self.registry.own_family(
                    Opts::new(
                        "telemeter_facade_rejected_total",
                        "metrics facade registrations refused (the handle records nothing), by reason.",
                    )
                    .labels(&["reason"]),
                    Layout::Counter,
                    false,
                )?,
            )
        } else {
            None
        };
        Ok(Facade {
            shared: Arc::new(Shared {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                registry: self.registry,
                default_buckets: self.default_buckets,
                buckets: self.buckets,
                natives: self.natives,
                counters: KeyMap::default(),
                gauges: KeyMap::default(),
                histograms: KeyMap::default(),
                native_histograms: KeyMap::default(),
                state: Mutex::new(State::default()),
                rejected,
            }),
        })
    }

    /// Builds the facade and makes it the process' global `metrics`
    /// recorder (`metrics::set_global_recorder`). Keep the returned
    /// handle for [`Facade::rejected`] and the rest; the recorder stays
    /// installed for the life of the process.
    ///
    /// # Errors
    ///
    /// [`Error::RecorderAlreadySet`] if a global recorder is installed
    /// already (the facade allows one per process), or what
    /// [`FacadeBuilder::build`] returns.
    pub fn install(self) -> Result<Facade, Error> {
        let facade = self.build()?;
        metrics::set_global_recorder(facade.clone()).map_err(|_| Error::RecorderAlreadySet)?;
        Ok(facade)
    }
}

/// Installs a facade over `registry` as the global `metrics` recorder
/// with the default buckets: [`FacadeBuilder::install`].
///
/// # Errors
///
/// As [`FacadeBuilder::install`].
pub fn install(registry: &Registry) -> Result<Facade, Error> {
    Facade::builder(registry).install()
}

/// A `metrics::Recorder` that records into a telemeter [`Registry`]
/// (see the module docs). Cloning it is cheap and shares it.
#[derive(Clone)]
pub struct Facade {
    shared: Arc<Shared>,
}

impl fmt::Debug for Facade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Facade")
            .field("counters", &self.shared.counters.len())
            .field("gauges", &self.shared.gauges.len())
            .field("histograms", &self.shared.histograms.len())
            .finish_non_exhaustive()
    }
}

/// A pass-through hasher: a [`Key`] hashes itself once, when it is made
/// (its `Hash` writes that one `u64`), so the map reuses it.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is called for a `Key`; anything else is folded
        // in rather than trusted to be absent.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 ^= v;
    }
}

type KeyMap<M> = papaya::HashMap<Key, M, BuildHasherDefault<KeyHasher>>;

struct Shared {
    /// Process-unique: tags this facade's entries in the thread caches.
    id: u64,
    registry: Registry,
    default_buckets: Buckets,
    buckets: Vec<(Matcher, Buckets)>,
    natives: Vec<(Matcher, NativeBuckets)>,
    /// Every accepted key's handle, shared by all threads (a key that
    /// landed on an overflow series is not kept: each such registration
    /// is counted). Threads cache their own `Arc`s of them (`cache.rs`).
    counters: KeyMap<Counter>,
    gauges: KeyMap<FloatGauge>,
    histograms: KeyMap<Histogram>,
    native_histograms: KeyMap<NativeHistogram>,
    /// Registration state; taken only when a key is not in its map.
    state: Mutex<State>,
    /// `telemeter_facade_rejected_total`, where self-metrics are on.
    rejected: Option<Family<Counter>>,
}

#[derive(Default)]
struct State {
    /// Per sanitized name: its group and type.
    groups: HashMap<String, (Arc<Group>, &'static str)>,
    /// Per sanitized name: the last `describe_*`.
    descriptions: HashMap<String, (String, Option<Unit>)>,
    rejected: u64,
    recent: VecDeque<Rejection>,
}

/// The three metric types, for the registration path they share.
trait Kind: Metric {
    type Handle: Send + Sync + 'static;
    const TYPE: &'static str;
    fn layout(shared: &Shared, name: &str) -> Layout;
    fn map(shared: &Shared) -> &KeyMap<Self>;
    fn wrap(self) -> Self::Handle;
    /// This type's handle from a cache entry, if the entry is of it.
    fn pick(h: &Handle) -> Option<Arc<Self::Handle>>;
    fn cached(h: Arc<Self::Handle>) -> Handle;
}

macro_rules! kind {
    ($m:ty, $handle:ident, $variant:ident, $type:literal, $map:ident, $layout:expr) => {
        impl Kind for $m {
            type Handle = $handle;
            const TYPE: &'static str = $type;
            fn layout(shared: &Shared, name: &str) -> Layout {
                $layout(shared, name)
            }
            fn map(shared: &Shared) -> &KeyMap<$m> {
                &shared.$map
            }
            fn wrap(self) -> $handle {
                $handle(self)
            }
            #[inline(always)]
            fn pick(h: &Handle) -> Option<Arc<$handle>> {
                match h {
                    Handle::$variant(h) => Some(Arc::clone(h)),
                    _ => None,
                }
            }
            fn cached(h: Arc<$handle>) -> Handle {
                Handle::$variant(h)
            }
        }
    };
}

kind!(
    Counter,
    FacadeCounter,
    Counter,
    "counter",
    counters,
    |_, _| Layout::Counter
);
kind!(FloatGauge, FacadeGauge, Gauge, "gauge", gauges, |_, _| {
    Layout::FloatGauge
});
kind!(
    Histogram,
    FacadeHistogram,
    Histogram,
    "histogram",
    histograms,
    histogram_layout
);

kind!(
    NativeHistogram,
    FacadeNative,
    Native,
    "histogram",
    native_histograms,
    native_layout
);

/// The best of `matchers` for `name`.
fn best<'a, T>(matchers: &'a [(Matcher, T)], name: &str) -> Option<&'a T> {
    matchers
        .iter()
        .filter_map(|(m, b)| m.rank(name).map(|r| (r, b)))
        .max_by_key(|(r, _)| *r)
        .map(|(_, b)| b)
}

/// The buckets `name` gets: the best [`Matcher`], else the default.
fn histogram_layout(shared: &Shared, name: &str) -> Layout {
    let chosen = best(&shared.buckets, name).unwrap_or(&shared.default_buckets);
    Layout::Histogram(chosen.clone())
}

/// The native buckets `name` gets (only asked for a name that a
/// `native_for` matcher matches).
fn native_layout(shared: &Shared, name: &str) -> Layout {
    Layout::Native(best(&shared.natives, name).cloned().unwrap_or_default())
}

impl Facade {
    /// A builder for a facade over `registry` (a scoped handle's prefix
    /// and constant labels apply to every facade name).
    pub fn builder(registry: &Registry) -> FacadeBuilder {
        FacadeBuilder {
            registry: registry.clone(),
            default_buckets: Buckets::default(),
            buckets: Vec::new(),
            natives: Vec::new(),
        }
    }

    /// Registrations refused so far (see the module docs).
    #[must_use]
    pub fn rejected(&self) -> u64 {
        lock(&self.shared.state).rejected
    }

    /// The last [`RECENT_ERRORS`] refusals, oldest first.
    #[must_use]
    pub fn recent_errors(&self) -> Vec<Rejection> {
        lock(&self.shared.state).recent.iter().cloned().collect()
    }

    /// The unit the last `describe_*` of `name` (as the facade was given
    /// it) declared.
    #[must_use]
    pub fn unit(&self, name: &str) -> Option<Unit> {
        let state = lock(&self.shared.state);
        state
            .descriptions
            .get(&names::metric_name(name))
            .and_then(|(_, unit)| *unit)
    }

    fn describe(&self, key: &KeyName, unit: Option<Unit>, description: &str) {
        let name = names::metric_name(key.as_str());
        let mut state = lock(&self.shared.state);
        if let Some((group, _)) = state.groups.get(&name) {
            group.set_help(description);
        }
        state
            .descriptions
            .insert(name, (description.to_string(), unit));
    }

    /// The handle for `key`: from this thread's cache, else from the
    /// shared map, else registered.
    #[inline]
    fn handle<M: Kind>(&self, key: &Key) -> Option<Arc<M::Handle>> {
        let id = self.shared.id;
        if let Some(h) = cache::get(id, key, M::pick) {
            return Some(h);
        }
        self.miss::<M>(key)
    }

    #[cold]
    #[inline(never)]
    fn miss<M: Kind>(&self, key: &Key) -> Option<Arc<M::Handle>> {
        let found = M::map(&self.shared).pin().get(key).cloned();
        let (m, overflow) = match found {
            Some(m) => (m, false),
            None => self.register::<M>(key)?,
        };
        let handle = Arc::new(m.wrap());
        if !overflow {
            cache::insert(self.shared.id, key, M::cached(Arc::clone(&handle)));
        }
        Some(handle)
    }

    fn register<M: Kind>(&self, key: &Key) -> Option<(M, bool)> {
        let shared = &*self.shared;
        let mut state = lock(&shared.state);
        // Another thread may have registered it since the lookup.
        if let Some(m) = M::map(shared).pin().get(key) {
            return Some((m.clone(), false));
        }
        match self.resolve::<M>(&mut state, key) {
            Ok((m, overflow)) => {
                if !overflow {
                    M::map(shared).pin().insert(key.clone(), m.clone());
                }
                Some((m, overflow))
            }
            Err((reason, error)) => {
                let rejection = Rejection {
                    key: describe_key(key),
                    error,
                };
                state.rejected += 1;
                if state.recent.len() == RECENT_ERRORS {
                    state.recent.pop_front();
                }
                state.recent.push_back(rejection);
                if let Some(family) = &shared.rejected {
                    if let Ok(c) = family.with_label_values(&[reason]) {
                        c.inc();
                    }
                }
                None
            }
        }
    }

    /// Sanitizes `key`, finds or makes its group and member, and resolves
    /// its series; an error comes with its `reason` label.
    fn resolve<M: Kind>(
        &self,
        state: &mut State,
        key: &Key,
    ) -> Result<(M, bool), (&'static str, Error)> {
        let shared = &*self.shared;
        let name = names::metric_name(key.name());
        if name.is_empty() {
            return Err(("invalid_name", Error::InvalidMetricName { name }));
        }
        let histogram = M::TYPE == "histogram";
        let mut labels: Vec<(String, &str)> = key
            .labels()
            .map(|l| (names::label_name(l.key(), histogram), l.value()))
            .collect();
        labels.sort_by(|a, b| a.0.cmp(&b.0));
        if let Some(w) = labels.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err((
                "label",
                Error::DuplicateLabelName {
                    family: name,
                    label: w[0].0.clone(),
                },
            ));
        }
        let layout = M::layout(shared, &name);
        let group = match state.groups.get(&name) {
            Some((group, type_name)) if *type_name == M::TYPE => Arc::clone(group),
            Some((_, type_name)) => {
                return Err((
                    "kind_conflict",
                    Error::KindConflict {
                        name,
                        registered: type_name,
                        requested: M::TYPE,
                    },
                ))
            }
            None => {
                let help = state
                    .descriptions
                    .get(&name)
                    .map_or("", |(help, _)| help.as_str());
                let group = shared
                    .registry
                    .group(&name, help, &layout)
                    .map_err(|e| (reason(&e), e))?;
                state.groups.insert(name, (Arc::clone(&group), M::TYPE));
                group
            }
        };
        let label_names: Vec<String> = labels.iter().map(|(n, _)| n.clone()).collect();
        let values: Vec<&str> = labels.iter().map(|(_, v)| *v).collect();
        let family: Family<M> = shared
            .registry
            .group_member(&group, &label_names, layout)
            .map_err(|e| (reason(&e), e))?;
        family.resolve(&values).map_err(|e| (reason(&e), e))
    }
}

/// The `reason` label of a registry error.
fn reason(e: &Error) -> &'static str {
    match e {
        Error::DuplicateMetric { .. } => "name_taken",
        Error::FamilyLimit { .. } => "limit",
        Error::InvalidMetricName { .. }
        | Error::ReservedName { .. }
        | Error::ReservedPrefix { .. } => "invalid_name",
        _ => "label",
    }
}

/// `name{k="v",...}` as the facade was given it, for a [`Rejection`].
fn describe_key(key: &Key) -> String {
    let mut s = key.name().to_string();
    let mut labels = key.labels().peekable();
    if labels.peek().is_some() {
        s.push('{');
        for (i, l) in labels.enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(&format!("{}={:?}", l.key(), l.value()));
        }
        s.push('}');
    }
    s
}

impl metrics::Recorder for Facade {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(&key, unit, &description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(&key, unit, &description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(&key, unit, &description);
    }

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> metrics::Counter {
        match self.handle::<Counter>(key) {
            Some(h) => metrics::Counter::from_arc(h),
            None => metrics::Counter::noop(),
        }
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> metrics::Gauge {
        match self.handle::<FloatGauge>(key) {
            Some(h) => metrics::Gauge::from_arc(h),
            None => metrics::Gauge::noop(),
        }
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> metrics::Histogram {
        if !self.shared.natives.is_empty() {
            // A key is native or classic by its name, for good: the
            // thread's cache answers for either; a miss decides by name.
            let id = self.shared.id;
            if let Some(h) = cache::get(id, key, Histogram::pick) {
                return metrics::Histogram::from_arc(h);
            }
            if let Some(h) = cache::get(id, key, NativeHistogram::pick) {
                return metrics::Histogram::from_arc(h);
            }
            if best(&self.shared.natives, &names::metric_name(key.name())).is_some() {
                return match self.miss::<NativeHistogram>(key) {
                    Some(h) => metrics::Histogram::from_arc(h),
                    None => metrics::Histogram::noop(),
                };
            }
        }
        match self.handle::<Histogram>(key) {
            Some(h) => metrics::Histogram::from_arc(h),
            None => metrics::Histogram::noop(),
        }
    }
}
