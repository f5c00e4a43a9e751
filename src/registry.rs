//! Registries: families in registration order, validated names, aliases.
#![forbid(unsafe_code)]

use std::collections::HashSet;
use std::fmt;
use std::time::{Duration, Instant};

use crate::callback::{CallbackFamily, CallbackFn, CallbackSink};
use crate::collect::{Entry, ScrapeState};
use crate::encode::format::Format;
use crate::encode::layout::Variant;
use crate::encode::openmetrics::OpenMetricsEncoder;
use crate::encode::protobuf::ProtobufEncoder;
use crate::encode::text::TextEncoder;
use crate::encode::Kind;
use crate::family::{FamilyCore, Group, Layout, DEFAULT_MAX_LABEL_VALUE_BYTES, DEFAULT_MAX_SERIES};
use crate::state_set::States;

/// The default limit on families and callbacks per registry (see
/// [`RegistryBuilder::max_families`]): far above what a program declares,
/// low enough that a registration in a loop is an error before it is an
/// out-of-memory.
pub const DEFAULT_MAX_FAMILIES: usize = 100_000;

/// How long a scrape waits for scrape-time callbacks by default (see
/// [`RegistryBuilder::scrape_deadline`]): below Prometheus' default 10 s
/// scrape timeout, with room to write the body.
pub const DEFAULT_SCRAPE_DEADLINE: Duration = Duration::from_secs(8);
use crate::names::{check_label_name, check_metric_name};
use crate::summary::{FamilySummary, RegistrySummary};
use crate::sync::{lock, Arc, AtomicBool, Mutex, Ordering, Published};
use crate::{
    Buckets, Counter, Error, Family, FloatCounter, FloatGauge, Gauge, Histogram, Metric,
    NativeBuckets, NativeHistogram, Opts, StateSet,
};

pub(crate) struct Inner {
    /// The published list of entries: scrapes read a snapshot without any lock
    /// (arc-swap). Registrations append to the list under the registry mutex
    /// and only mark the snapshot stale; the next reader republishes it, so
    /// registering N families costs O(N) and not O(N^2) copies.
    entries: Published<Vec<Entry>>,
    /// Set (under `names`) by a registration; cleared by the reader that
    /// republishes `entries`.
    stale: AtomicBool,
    /// Every sample name in use and every entry in registration order; the
    /// mutex also serialises registrations.
    names: Mutex<Registered>,
    pub(crate) self_metrics: bool,
    default_max_series: usize,
    max_label_value_bytes: usize,
    max_families: usize,
    scrape_deadline: Duration,
    /// Counter and histogram series keep their creation time.
    created: bool,
    pub(crate) scrape: ScrapeState,
}

/// A set of metric families that is scraped as one body.
///
/// Several registries can coexist (a library can keep its own, a test
/// builds a fresh one); [`default_registry`] is a process-wide one for
/// convenience. Cloning a registry is cheap and shares it.
///
/// Registration validates every name and returns a typed [`Error`] that says
/// what is wrong and how to fix it; nothing here panics on bad input.
///
/// # Examples
///
/// ```
/// use telemeter::{Buckets, Opts, Registry};
/// let reg = Registry::new();
/// let hits = reg.counter("cache_hits_total", "Cache hits.")?;
/// let lat = reg.histogram_family(
///     Opts::new("rpc_duration_seconds", "RPC latency.").labels(&["method"]),
///     Buckets::exponential(0.001, 2.0, 12)?,
/// )?;
/// hits.inc();
/// lat.with_label_values(&["Get"])?.observe(0.004);
///
/// let mut body = Vec::new();
/// reg.encode(&mut body);
/// let text = String::from_utf8(body).unwrap();
/// assert!(text.contains("cache_hits_total 1\n"));
/// assert!(text.contains("rpc_duration_seconds_count{method=\"Get\"} 1\n"));
/// assert!(reg.counter("cache_hits_total", "again").is_err()); // duplicate
/// # Ok::<(), telemeter::Error>(())
/// ```
#[derive(Clone)]
pub struct Registry {
    pub(crate) inner: Arc<Inner>,
    /// The prefix and constant labels this handle registers with
    /// ([`Registry::with_prefix`], [`Registry::with_const_labels`]).
    scope: Arc<Scope>,
}

/// What a registry handle adds to everything it registers.
#[derive(Debug, Default)]
struct Scope {
    prefix: String,
    labels: Vec<(String, String)>,
    /// `labels` rendered: `n="v",...` (empty for none).
    text: String,
    /// A bad prefix or constant label given to the builder: every
    /// registration through this handle returns it.
    error: Option<Error>,
}

impl Scope {
    /// This scope with `prefix` added after its own and `labels` after
    /// its own, checked.
    fn extend(
        &self,
        prefix: &str,
        labels: &[(&str, &str)],
        max_value: usize,
    ) -> Result<Scope, Error> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let full = format!("{}{prefix}", self.prefix);
        if !full.is_empty() {
            // A prefix is a name's start: checked as the name it would
            // give an `x` (so `__`, digits first and the reserved
            // namespace are refused here, not at each registration).
            check_metric_name(&format!("{full}x"))?;
        }
        let mut all = self.labels.clone();
        for (name, value) in labels {
            check_label_name(name)?;
            if *name == "le" {
                return Err(Error::ReservedLabel {
                    family: format!("{full}*"),
                    label: "le".into(),
                });
            }
            if all.iter().any(|(n, _)| n == name) {
                return Err(Error::DuplicateLabelName {
                    family: format!("{full}*"),
                    label: (*name).to_string(),
                });
            }
            if value.len() > max_value {
                return Err(Error::LabelValueTooLong {
                    family: format!("{full}*"),
                    label: (*name).to_string(),
                    len: value.len(),
                    max: max_value,
                });
            }
            all.push(((*name).to_string(), (*value).to_string()));
        }
        Ok(Scope {
            prefix: full,
            text: crate::encode::layout::render_const_labels(&all),
            labels: all,
            error: None,
        })
    }

    /// `opts` as registered through this scope: names prefixed, and the
    /// family's labels checked against the constant ones.
    fn apply(&self, opts: &Opts) -> Result<Opts, Error> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let mut scoped = opts.clone();
        if !self.prefix.is_empty() {
            scoped.name = format!("{}{}", self.prefix, opts.name);
            for alias in &mut scoped.aliases {
                *alias = format!("{}{alias}", self.prefix);
            }
        }
        self.check_labels(&scoped)?;
        Ok(scoped)
    }

    /// Refuses a family that declares one of this scope's constant labels.
    fn check_labels(&self, opts: &Opts) -> Result<(), Error> {
        if let Some((label, _)) = self
            .labels
            .iter()
            .find(|(n, _)| opts.labels.iter().any(|l| l == n))
        {
            return Err(Error::DuplicateLabelName {
                family: opts.name.clone(),
                label: label.clone(),
            });
        }
        Ok(())
    }
}

#[derive(Default)]
struct Registered {
    names: HashSet<String>,
    list: Vec<Entry>,
    /// Per entry of `list` (same index): its name as registered and every
    /// sample name it reserved, for [`Registry::unregister`].
    reserved: Vec<(String, Vec<String>)>,
    /// Members of groups, which count toward the family limit beside
    /// `list` (see `family/group.rs`).
    members: usize,
}

impl Inner {
    /// The entries in registration order, including every registration that
    /// happened before this call.
    pub(crate) fn entries(&self) -> Arc<Vec<Entry>> {
        if self.stale.load(Ordering::Acquire) {
            let reg = lock(&self.names);
            self.entries.store(reg.list.clone());
            // Cleared under the mutex (no registration can set it in
            // between) and only after the new snapshot is published, with
            // Release: a reader that then sees `false` sees that snapshot.
            self.stale.store(false, Ordering::Release);
        }
        self.entries.load()
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("families", &self.inner.entries().len())
            .field("self_metrics", &self.inner.self_metrics)
            .finish_non_exhaustive()
    }
}

/// Configures a [`Registry`].
#[derive(Debug, Clone)]
#[must_use]
pub struct RegistryBuilder {
    prefix: String,
    const_labels: Vec<(String, String)>,
    self_metrics: bool,
    default_max_series: usize,
    max_label_value_bytes: usize,
    max_families: usize,
    scrape_deadline: Duration,
    created: bool,
}

impl RegistryBuilder {
    /// Whether counter and histogram series keep their creation time and
    /// OpenMetrics and protobuf scrapes carry it (`name_created{...}` after
    /// a series' samples in OpenMetrics, `created_timestamp` in protobuf):
    /// what lets a reader tell a counter that restarted from one that
    /// never moved. Off by default (8 bytes per series; Prometheus 2.42
    /// ignores it). Text 0.0.4 never carries it.
    ///
    /// ```
    /// let reg = telemeter::Registry::builder().self_metrics(false).created_timestamps(true).build();
    /// reg.counter("jobs_total", "Jobs.")?.inc();
    /// let body = reg.encode_openmetrics_to_string();
    /// assert!(body.contains("jobs_total 1\njobs_created 1"), "{body}");
    /// assert!(!reg.encode_to_string().contains("_created"));
    /// # Ok::<(), telemeter::Error>(())
    /// ```
    pub fn created_timestamps(mut self, on: bool) -> Self {
        self.created = on;
        self
    }

    /// Whether scrapes append the `telemeter_*` self-metrics (default on).
    pub fn self_metrics(mut self, on: bool) -> Self {
        self.self_metrics = on;
        self
    }

    /// The cardinality limit of families that do not set their own
    /// (default [`DEFAULT_MAX_SERIES`]). At least 1.
    pub fn default_max_series(mut self, n: usize) -> Self {
        self.default_max_series = n.max(1);
        self
    }

    /// The longest label value a new series may carry, in bytes (default
    /// [`DEFAULT_MAX_LABEL_VALUE_BYTES`]); past it a lookup returns
    /// [`Error::LabelValueTooLong`] and creates nothing. At least 1.
    pub fn max_label_value_bytes(mut self, bytes: usize) -> Self {
        self.max_label_value_bytes = bytes.max(1);
        self
    }

    /// The most families and callbacks the registry holds (default
    /// [`DEFAULT_MAX_FAMILIES`]); a registration past it returns
    /// [`Error::FamilyLimit`]. At least 1.
    pub fn max_families(mut self, n: usize) -> Self {
        self.max_families = n.max(1);
        self
    }

    /// How long [`Registry::encode`] waits for scrape-time callbacks,
    /// from the start of the encode: a callback that has not returned by
    /// then is skipped for that scrape and counted in
    /// `telemeter_scrape_callback_timeouts_total`, and the rest of the body
    /// is served. Default [`DEFAULT_SCRAPE_DEADLINE`], below Prometheus'
    /// default 10 s scrape timeout; the exporter also honours a shorter
    /// `X-Prometheus-Scrape-Timeout-Seconds`.
    pub fn scrape_deadline(mut self, deadline: Duration) -> Self {
        self.scrape_deadline = deadline;
        self
    }

    /// A prefix for every name registered (`"nexo_"`: `requests_total`
    /// is served as `nexo_requests_total`), as client_golang's
    /// `WrapRegistererWithPrefix`. The self-metrics keep their names.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Labels with fixed values on every series registered
    /// (`[("instance", "agent-7")]`), as client_golang's
    /// `WrapRegistererWith`; they come after each series' own labels. A
    /// family that declares one of them itself is refused
    /// ([`Error::DuplicateLabelName`]).
    pub fn const_labels(mut self, labels: &[(&str, &str)]) -> Self {
        self.const_labels = labels
            .iter()
            .map(|(n, v)| ((*n).to_string(), (*v).to_string()))
            .collect();
        self
    }

    /// Builds the registry, checking the prefix and constant labels.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidMetricName`] or [`Error::ReservedPrefix`] for a
    /// prefix no name may start with; [`Error::InvalidLabelName`],
    /// [`Error::ReservedName`], [`Error::ReservedLabel`] (`le`),
    /// [`Error::DuplicateLabelName`] or [`Error::LabelValueTooLong`] for a
    /// constant label.
    pub fn try_build(self) -> Result<Registry, Error> {
        let reg = self.build();
        match &reg.scope.error {
            Some(e) => Err(e.clone()),
            None => Ok(reg),
        }
    }

    /// Builds the registry. With a prefix or constant label
    /// [`RegistryBuilder::try_build`] would refuse, every registration
    /// returns that error (nothing panics); use `try_build` to see it at
    /// once.
    pub fn build(self) -> Registry {
        let labels: Vec<(&str, &str)> = self
            .const_labels
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let scope = Scope::default()
            .extend(&self.prefix, &labels, self.max_label_value_bytes)
            .unwrap_or_else(|e| Scope {
                error: Some(e),
                ..Scope::default()
            });
        Registry {
            scope: Arc::new(scope),
            inner: Arc::new(Inner {
                entries: Published::new(Vec::new()),
                stale: AtomicBool::new(false),
                names: Mutex::new(Registered::default()),
                self_metrics: self.self_metrics,
                default_max_series: self.default_max_series,
                max_label_value_bytes: self.max_label_value_bytes,
                max_families: self.max_families,
                scrape_deadline: self.scrape_deadline,
                created: self.created,
                scrape: ScrapeState::default(),
            }),
        }
    }
}

impl Default for Registry {
    fn default() -> Registry {
        Registry::new()
    }
}

/// Checks a family's label names: valid, not `le` on a histogram, each
/// once.
fn check_labels(family: &str, labels: &[String], histogram: bool) -> Result<(), Error> {
    let mut seen = HashSet::new();
    for label in labels {
        check_label_name(label)?;
        if histogram && label == "le" {
            return Err(Error::ReservedLabel {
                family: family.to_string(),
                label: label.clone(),
            });
        }
        if !seen.insert(label.as_str()) {
            return Err(Error::DuplicateLabelName {
                family: family.to_string(),
                label: label.clone(),
            });
        }
    }
    Ok(())
}

/// A histogram layout's bounds (`None` for other types).
#[cfg(any(feature = "metrics-rs", feature = "push"))]
fn layout_bounds(layout: &Layout) -> Option<&[f64]> {
    match layout {
        Layout::Histogram(b) => Some(b.bounds()),
        _ => None,
    }
}

/// The names a family of `opts`' kind takes under `name` (its own or an
/// alias): every sample name it emits in any format, and its OpenMetrics
/// MetricFamily name where that differs (a counter's without `_total`, an
/// info family's without `_info`), so that no two families clash in any
/// format.
fn emitted_names(name: &str, opts: &Opts, type_name: &str, histogram: bool) -> Vec<String> {
    let om_type = opts.om_type.unwrap_or(type_name);
    let base = crate::names::om_family_name(name, om_type);
    let mut names = vec![name.to_string()];
    if type_name == "counter" {
        // OpenMetrics' family name and sample name: a counter holds both
        // spellings.
        names.push(if base == name {
            format!("{name}_total")
        } else {
            base.to_string()
        });
    } else if base != name {
        names.push(base.to_string());
    }
    if histogram {
        names.extend(["_bucket", "_sum", "_count"].map(|s| format!("{name}{s}")));
    }
    if opts.created && (type_name == "counter" || histogram) {
        names.push(format!("{base}_created"));
    }
    names
}

impl Registry {
    /// A registry with self-metrics on and the default cardinality limit.
    #[must_use]
    pub fn new() -> Registry {
        Registry::builder().build()
    }

    /// A builder for a configured registry.
    pub fn builder() -> RegistryBuilder {
        RegistryBuilder {
            prefix: String::new(),
            const_labels: Vec::new(),
            self_metrics: true,
            default_max_series: DEFAULT_MAX_SERIES,
            max_label_value_bytes: DEFAULT_MAX_LABEL_VALUE_BYTES,
            max_families: DEFAULT_MAX_FAMILIES,
            scrape_deadline: DEFAULT_SCRAPE_DEADLINE,
            created: false,
        }
    }

    /// Validates `opts` and reserves its names; `make` builds the entry
    /// while the registry mutex is held, so two threads registering the same
    /// name get one success and one [`Error::DuplicateMetric`].
    fn register(
        &self,
        opts: &Opts,
        type_name: &'static str,
        histogram: bool,
        make: impl FnOnce(Box<[Variant]>) -> Entry,
    ) -> Result<Entry, Error> {
        check_metric_name(&opts.name)?;
        for alias in &opts.aliases {
            check_metric_name(alias)?;
        }
        self.reserve(opts, type_name, histogram, make)
    }

    /// [`Registry::register`] past the name checks: for the crate's own
    /// `telemeter_*` families, and after them.
    fn reserve(
        &self,
        opts: &Opts,
        type_name: &'static str,
        histogram: bool,
        make: impl FnOnce(Box<[Variant]>) -> Entry,
    ) -> Result<Entry, Error> {
        check_labels(&opts.name, &opts.labels, histogram)?;
        for name in std::iter::once(&opts.name).chain(&opts.aliases) {
            crate::names::check_unit(name, type_name, &opts.unit)?;
        }
        let mut wanted = Vec::new();
        for name in std::iter::once(&opts.name).chain(&opts.aliases) {
            for n in emitted_names(name, opts, type_name, histogram) {
                if wanted.contains(&n) {
                    return Err(Error::DuplicateMetric { name: n });
                }
                wanted.push(n);
            }
        }
        let mut reg = lock(&self.inner.names);
        if reg.list.len() + reg.members >= self.inner.max_families {
            return Err(Error::FamilyLimit {
                name: opts.name.clone(),
                max: self.inner.max_families,
            });
        }
        if let Some(taken) = wanted.iter().find(|n| reg.names.contains(*n)) {
            return Err(Error::DuplicateMetric {
                name: taken.clone(),
            });
        }
        let variants: Box<[Variant]> = std::iter::once(&opts.name)
            .chain(&opts.aliases)
            .map(|n| {
                let om_type = opts.om_type.unwrap_or(type_name);
                Variant::full(n, &opts.name, &opts.help, type_name, om_type, &opts.unit)
            })
            .collect();
        let entry = make(variants);
        reg.list.push(entry.clone());
        reg.names.extend(wanted.iter().cloned());
        reg.reserved.push((opts.name.clone(), wanted));
        // Release (and the mutex): a reader that sees the flag sees the entry.
        self.inner.stale.store(true, Ordering::Release);
        Ok(entry)
    }

    fn family<M: Metric>(&self, opts: Opts, layout: Layout) -> Result<Family<M>, Error> {
        let mut opts = self.scope.apply(&opts)?;
        opts.created = self.inner.created;
        if matches!(layout, Layout::StateSet(_)) {
            let bad = |reason: &str| Error::InvalidStateSet {
                family: opts.name.clone(),
                reason: reason.into(),
            };
            if check_label_name(&opts.name).is_err() {
                return Err(bad("its name is the label its states are the values of, and is no valid label name"));
            }
            if opts.labels.contains(&opts.name)
                || self.scope.labels.iter().any(|(n, _)| *n == opts.name)
            {
                return Err(bad("it has a label of its own name, which its states take"));
            }
        }
        let histogram = layout.is_histogram();
        let default_max = self.inner.default_max_series;
        let max_value_bytes = self.inner.max_label_value_bytes;
        let consts = (self.scope.text.as_str(), self.scope.labels.len());
        let entry = self.register(&opts, layout.type_name(), histogram, |variants| {
            Entry::Family(Arc::new(FamilyCore::new(
                &opts,
                layout,
                variants,
                default_max,
                max_value_bytes,
                consts,
            )))
        })?;
        match entry {
            Entry::Family(core) => Ok(Family::from_core(core)),
            _ => unreachable!("register returns the entry `make` built"),
        }
    }

    /// Registers a group: `name` exported as one family whose series come
    /// from members with different label names (see `family/group.rs`;
    /// the `metrics` facade's backend uses it). The name is prefixed as
    /// for a family and reserved with every sample name of `layout`'s type.
    #[cfg_attr(not(feature = "metrics-rs"), allow(dead_code))] // used by `facade` alone
    pub(crate) fn group(
        &self,
        name: &str,
        help: &str,
        layout: &Layout,
    ) -> Result<Arc<Group>, Error> {
        let opts = self.scope.apply(&Opts::new(name, help))?;
        let histogram = layout.is_histogram();
        let type_name = layout.type_name();
        let entry = self.register(&opts, type_name, histogram, |_| {
            Entry::Group(Arc::new(Group::new(&opts.name, &opts.help, type_name)))
        })?;
        match entry {
            Entry::Group(g) => Ok(g),
            _ => unreachable!("register returns the entry `make` built"),
        }
    }

    /// The member of `group` with these label names (in this order),
    /// added on first use. `M` must be `layout`'s handle type, and
    /// `layout` of the group's type.
    ///
    /// # Errors
    ///
    /// A bad or duplicate label name, or one of this handle's constant
    /// labels ([`Error::DuplicateLabelName`]); [`Error::FamilyLimit`] past
    /// the registry's limit (members count toward it).
    #[cfg_attr(not(feature = "metrics-rs"), allow(dead_code))] // used by `facade` alone
    pub(crate) fn group_member<M: Metric>(
        &self,
        group: &Group,
        labels: &[String],
        layout: Layout,
    ) -> Result<Family<M>, Error> {
        debug_assert_eq!(layout.type_name(), group.type_name());
        let histogram = layout.is_histogram();
        check_labels(group.name(), labels, histogram)?;
        let opts = Opts {
            labels: labels.to_vec(),
            ..Opts::new(group.name(), "")
        };
        self.scope.check_labels(&opts)?;
        let core = group.add(
            |c| *c.label_names == *labels,
            || {
                let mut reg = lock(&self.inner.names);
                if reg.list.len() + reg.members >= self.inner.max_families {
                    return Err(Error::FamilyLimit {
                        name: group.name().to_string(),
                        max: self.inner.max_families,
                    });
                }
                if !group.unregistered.load(Ordering::Relaxed) {
                    reg.members += 1;
                }
                let type_name = layout.type_name();
                let variants = Box::new([Variant::new(group.name(), group.name(), "", type_name)]);
                Ok(Arc::new(FamilyCore::new(
                    &opts,
                    layout,
                    variants,
                    self.inner.default_max_series,
                    self.inner.max_label_value_bytes,
                    (self.scope.text.as_str(), self.scope.labels.len()),
                )))
            },
        )?;
        Ok(Family::from_core(core))
    }

    /// A family of the crate's own, in the reserved `telemeter_`
    /// namespace, outside this handle's scope (no prefix, no constant
    /// labels): the `metrics` facade's refusals, remote write's outcomes.
    /// `shared`: a family of this name, type, labels (and buckets)
    /// registered before is returned (two remote writers of one registry
    /// share theirs); otherwise a second registration is
    /// [`Error::DuplicateMetric`].
    #[cfg(any(feature = "metrics-rs", feature = "push"))]
    pub(crate) fn own_family<M: Metric>(
        &self,
        opts: Opts,
        layout: Layout,
        shared: bool,
    ) -> Result<Family<M>, Error> {
        debug_assert!(opts.name.starts_with(crate::names::RESERVED_PREFIX));
        let histogram = layout.is_histogram();
        check_labels(&opts.name, &opts.labels, histogram)?;
        let inner = &self.inner;
        loop {
            if shared {
                let reg = lock(&inner.names);
                if let Some(i) = reg.reserved.iter().position(|(n, _)| *n == opts.name) {
                    return match &reg.list[i] {
                        Entry::Family(core)
                            if core.layout.type_name() == layout.type_name()
                                && *core.label_names == opts.labels[..]
                                && core.buckets().map(Buckets::bounds)
                                    == layout_bounds(&layout) =>
                        {
                            Ok(Family::from_core(Arc::clone(core)))
                        }
                        _ => Err(Error::DuplicateMetric {
                            name: opts.name.clone(),
                        }),
                    };
                }
            }
            let made = self.reserve(&opts, layout.type_name(), histogram, |variants| {
                Entry::Family(Arc::new(FamilyCore::new(
                    &opts,
                    layout.clone(),
                    variants,
                    inner.default_max_series,
                    inner.max_label_value_bytes,
                    ("", 0),
                )))
            });
            match made {
                Ok(Entry::Family(core)) => return Ok(Family::from_core(core)),
                Ok(_) => unreachable!("reserve returns the entry `make` built"),
                // Registered by another thread between the look and the
                // registration: look again.
                Err(Error::DuplicateMetric { .. }) if shared => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn single<M: Metric>(&self, name: &str, help: &str, layout: Layout) -> Result<M, Error> {
        self.family::<M>(Opts::new(name, help), layout)?
            .with_label_values(&[])
    }

    /// A handle to the same registry that registers every name with
    /// `prefix` before it, after this handle's own prefix: a library's
    /// metrics under a sub-prefix (client_golang's
    /// `WrapRegistererWithPrefix`). Scraping either handle scrapes the
    /// whole registry.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidMetricName`] (or [`Error::ReservedName`],
    /// [`Error::ReservedPrefix`]) for a prefix no name may start with.
    ///
    /// ```
    /// use telemeter::Registry;
    /// let reg = Registry::builder().prefix("nexo_").build();
    /// let cache = reg.with_prefix("cache_")?;
    /// cache.counter("hits_total", "Cache hits.")?.inc();
    /// assert!(reg.encode_to_string().contains("\nnexo_cache_hits_total 1\n"));
    /// assert!(Registry::new().with_prefix("9lives_").is_err()); // a name cannot start with a digit
    /// assert!(reg.with_prefix("9lives_").is_ok()); // nexo_9lives_ can
    /// # Ok::<(), telemeter::Error>(())
    /// ```
    pub fn with_prefix(&self, prefix: &str) -> Result<Registry, Error> {
        let scope = self
            .scope
            .extend(prefix, &[], self.inner.max_label_value_bytes)?;
        Ok(Registry {
            inner: Arc::clone(&self.inner),
            scope: Arc::new(scope),
        })
    }

    /// A handle to the same registry that adds `labels`, with their fixed
    /// values, to every series it registers, after this handle's own
    /// constant labels (client_golang's `WrapRegistererWith`). Recording
    /// costs nothing more: the labels are part of each series' label text,
    /// rendered once when the series is created.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidLabelName`], [`Error::ReservedName`],
    /// [`Error::ReservedLabel`] (`le`), [`Error::DuplicateLabelName`] (a
    /// label given twice, or already constant here) or
    /// [`Error::LabelValueTooLong`]. A family that declares a constant
    /// label itself is refused at its registration with
    /// [`Error::DuplicateLabelName`].
    ///
    /// ```
    /// use telemeter::{Opts, Registry};
    /// let reg = Registry::builder().self_metrics(false).build();
    /// let shard = reg.with_const_labels(&[("shard", "3")])?;
    /// let ops = shard.counter_family(Opts::new("ops_total", "Ops.").labels(&["op"]))?;
    /// ops.with_label_values(&["get"])?.inc();
    /// shard.gauge("up", "Up.")?.set(1);
    /// let body = reg.encode_to_string();
    /// assert!(body.contains("ops_total{op=\"get\",shard=\"3\"} 1\n"));
    /// assert!(body.contains("up{shard=\"3\"} 1\n"));
    /// assert!(shard.counter_family(Opts::new("x_total", "X.").labels(&["shard"])).is_err());
    /// # Ok::<(), telemeter::Error>(())
    /// ```
    pub fn with_const_labels(&self, labels: &[(&str, &str)]) -> Result<Registry, Error> {
        let scope = self
            .scope
            .extend("", labels, self.inner.max_label_value_bytes)?;
        Ok(Registry {
            inner: Arc::clone(&self.inner),
            scope: Arc::new(scope),
        })
    }

    /// Unregisters the family or callback registered as `name` (its
    /// aliases go with it): scrapes that start afterwards leave it out, and
    /// its names are free to register again, as a new family whose series
    /// start from zero. Handles to the old family keep working but record
    /// into series nobody scrapes; their slots are reused only once the
    /// last handle is dropped (as with [`Family::remove`]), and a callback's
    /// thread ends. Returns whether `name` was registered. `name` is as
    /// this handle registered it: its prefix ([`Registry::with_prefix`])
    /// is added.
    ///
    /// ```
    /// let reg = telemeter::Registry::new();
    /// let jobs = reg.counter("jobs_total", "Jobs.")?;
    /// jobs.inc();
    /// assert!(reg.unregister("jobs_total"));
    /// assert!(!reg.encode_to_string().contains("jobs_total"));
    /// jobs.inc(); // still fine, but not scraped
    /// let again = reg.counter("jobs_total", "Jobs, restarted.")?;
    /// assert_eq!(again.get(), 0);
    /// assert!(!reg.unregister("no_such_total"));
    /// # Ok::<(), telemeter::Error>(())
    /// ```
    pub fn unregister(&self, name: &str) -> bool {
        let name = format!("{}{name}", self.scope.prefix);
        let mut reg = lock(&self.inner.names);
        let Some(i) = reg.reserved.iter().position(|(n, _)| *n == name) else {
            return false;
        };
        let (_, reserved) = reg.reserved.remove(i);
        if let Entry::Group(g) = reg.list.remove(i) {
            // Under the mutex, as every member's count is taken: a member
            // added from now on is not counted.
            g.unregistered.store(true, Ordering::Relaxed);
            reg.members -= g.members().len();
        }
        for n in &reserved {
            reg.names.remove(n);
        }
        // As for a registration: the next reader republishes the list.
        self.inner.stale.store(true, Ordering::Release);
        true
    }

    /// Registers an unlabelled [`Counter`].
    pub fn counter(&self, name: &str, help: &str) -> Result<Counter, Error> {
        self.single(name, help, Layout::Counter)
    }

    /// Registers an unlabelled [`FloatCounter`].
    pub fn float_counter(&self, name: &str, help: &str) -> Result<FloatCounter, Error> {
        self.single(name, help, Layout::FloatCounter)
    }

    /// Registers an unlabelled integer [`Gauge`].
    pub fn gauge(&self, name: &str, help: &str) -> Result<Gauge, Error> {
        self.single(name, help, Layout::Gauge)
    }

    /// Registers an unlabelled [`FloatGauge`].
    pub fn float_gauge(&self, name: &str, help: &str) -> Result<FloatGauge, Error> {
        self.single(name, help, Layout::FloatGauge)
    }

    /// Registers an unlabelled [`Histogram`].
    pub fn histogram(&self, name: &str, help: &str, buckets: Buckets) -> Result<Histogram, Error> {
        self.single(name, help, Layout::Histogram(buckets))
    }

    /// Registers a native histogram: exponential buckets at a schema
    /// (see [`NativeBuckets`](crate::NativeBuckets)), served as a native
    /// histogram to a Prometheus that asks for protobuf (started with
    /// `--enable-feature=native-histograms`) and as a classic histogram of
    /// power-of-two buckets to every other scraper.
    ///
    /// Pick one over [`Registry::histogram`] when the distribution's range
    /// is not known in advance (latencies that span microseconds to
    /// minutes) or quantiles must be accurate: a schema-3 native histogram
    /// bounds every quantile's relative error at 9.05 % whatever the
    /// distribution, where a classic one is only as good as its chosen
    /// buckets.
    pub fn native_histogram(
        &self,
        name: &str,
        help: &str,
        buckets: NativeBuckets,
    ) -> Result<NativeHistogram, Error> {
        self.single(name, help, Layout::Native(buckets))
    }

    /// Registers a family of native histograms sharing one layout (see
    /// [`Registry::native_histogram`]).
    ///
    /// ```
    /// use telemeter::{NativeBuckets, Opts, Registry};
    /// let reg = Registry::new();
    /// let lat = reg.native_histogram_family(
    ///     Opts::new("http_request_duration_seconds", "Latency.").labels(&["route"]).unit("seconds"),
    ///     NativeBuckets::default(),
    /// )?;
    /// lat.with(&["/api"], |h| h.observe(0.042))?;
    /// assert_eq!(lat.with(&["/api"], |h| h.snapshot().count)?, 1);
    /// # Ok::<(), telemeter::Error>(())
    /// ```
    pub fn native_histogram_family(
        &self,
        opts: Opts,
        buckets: NativeBuckets,
    ) -> Result<Family<NativeHistogram>, Error> {
        self.family(opts, Layout::Native(buckets))
    }

    /// Registers an info metric: constant labels about the process (its
    /// version, commit, build flags) as one series of value 1, the
    /// build-info idiom. OpenMetrics scrapes get an `info` family
    /// (`# TYPE build info`, sample `build_info{...} 1`), text 0.0.4 and
    /// protobuf a gauge. `name` ends with `_info` (added if missing).
    ///
    /// ```
    /// let reg = telemeter::Registry::builder().self_metrics(false).build();
    /// reg.info("build", "Build information.", &[("version", "1.4.2"), ("commit", "9f3c2e1")])?;
    /// assert!(reg.encode_to_string().contains("# TYPE build_info gauge\nbuild_info{version=\"1.4.2\",commit=\"9f3c2e1\"} 1\n"));
    /// assert!(reg.encode_openmetrics_to_string().contains("# TYPE build info\nbuild_info{version=\"1.4.2\",commit=\"9f3c2e1\"} 1\n"));
    /// # Ok::<(), telemeter::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for any family: a bad name or label name, a duplicate, the
    /// family limit, a label value over the registry's limit.
    pub fn info(&self, name: &str, help: &str, labels: &[(&str, &str)]) -> Result<(), Error> {
        let name = if name.ends_with("_info") {
            name.to_string()
        } else {
            format!("{name}_info")
        };
        let names: Vec<&str> = labels.iter().map(|(n, _)| *n).collect();
        let values: Vec<&str> = labels.iter().map(|(_, v)| *v).collect();
        let mut opts = Opts::new(name, help).labels(&names);
        opts.om_type = Some("info");
        self.family::<Gauge>(opts, Layout::Gauge)?
            .with_label_values(&values)?
            .set(1);
        Ok(())
    }

    /// Registers a state set family: per label set, which of `states`
    /// hold (an enum's one value, or a bitset). OpenMetrics scrapes get a
    /// `stateset` family, text 0.0.4 and protobuf a gauge; either way one
    /// sample per state, 1 where it holds, the state in a label named as
    /// the family. A change is one atomic store, so a scrape never sees a
    /// state set half changed. See [`StateSet`](crate::StateSet).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidStateSet`] for no states, more than
    /// [`MAX_STATES`](crate::MAX_STATES), a state listed twice, a name that
    /// is not a valid label name, or a label of the family's own name; and
    /// the errors of any family.
    pub fn state_set_family(&self, opts: Opts, states: &[&str]) -> Result<Family<StateSet>, Error> {
        let mut opts = opts;
        opts.om_type = Some("stateset");
        let states = States::new(&opts.name, states)?;
        self.family(opts, Layout::StateSet(states))
    }

    /// Registers a family of counters.
    pub fn counter_family(&self, opts: Opts) -> Result<Family<Counter>, Error> {
        self.family(opts, Layout::Counter)
    }

    /// Registers a family of float counters.
    pub fn float_counter_family(&self, opts: Opts) -> Result<Family<FloatCounter>, Error> {
        self.family(opts, Layout::FloatCounter)
    }

    /// Registers a family of integer gauges.
    pub fn gauge_family(&self, opts: Opts) -> Result<Family<Gauge>, Error> {
        self.family(opts, Layout::Gauge)
    }

    /// Registers a family of float gauges.
    pub fn float_gauge_family(&self, opts: Opts) -> Result<Family<FloatGauge>, Error> {
        self.family(opts, Layout::FloatGauge)
    }

    /// Registers a family of histograms sharing one bucket layout.
    pub fn histogram_family(
        &self,
        opts: Opts,
        buckets: Buckets,
    ) -> Result<Family<Histogram>, Error> {
        self.family(opts, Layout::Histogram(buckets))
    }

    fn callback(
        &self,
        opts: Opts,
        type_name: &'static str,
        f: Box<CallbackFn>,
    ) -> Result<(), Error> {
        let opts = self.scope.apply(&opts)?;
        let kind = if type_name == "counter" {
            Kind::Counter
        } else {
            Kind::Gauge
        };
        self.register(&opts, type_name, false, |variants| {
            Entry::Callback(Arc::new(CallbackFamily::new(
                &opts.name,
                &opts.labels,
                &self.scope.text,
                variants,
                kind,
                f,
            )))
        })
        .map(|_| ())
    }

    /// Registers an unlabelled gauge whose value `f` computes at each scrape.
    ///
    /// Callbacks run outside every registry lock. A callback that panics is
    /// dropped from that scrape (the rest of the body is unaffected) and
    /// counted in `telemeter_scrape_callback_errors_total`.
    ///
    /// ```
    /// let reg = telemeter::Registry::new();
    /// reg.gauge_fn("active_plugins", "Connected plugins.", || 3.0)?;
    /// let mut body = Vec::new();
    /// reg.encode(&mut body);
    /// assert!(String::from_utf8(body).unwrap().contains("active_plugins 3\n"));
    /// # Ok::<(), telemeter::Error>(())
    /// ```
    pub fn gauge_fn<F>(&self, name: &str, help: &str, f: F) -> Result<(), Error>
    where
        F: Fn() -> f64 + Send + Sync + 'static,
    {
        self.callback(
            Opts::new(name, help),
            "gauge",
            Box::new(move |s: &mut CallbackSink<'_>| s.sample(&[], f())),
        )
    }

    /// Registers an unlabelled counter whose value `f` computes at each
    /// scrape (for totals kept elsewhere). See [`Registry::gauge_fn`]. A
    /// value that is negative or NaN is no counter value: that scrape drops
    /// the sample (HELP and TYPE stay) and counts it in
    /// `telemeter_scrape_callback_errors_total`.
    pub fn counter_fn<F>(&self, name: &str, help: &str, f: F) -> Result<(), Error>
    where
        F: Fn() -> f64 + Send + Sync + 'static,
    {
        self.callback(
            Opts::new(name, help),
            "counter",
            Box::new(move |s: &mut CallbackSink<'_>| s.sample(&[], f())),
        )
    }

    /// Registers a labelled gauge family sampled at scrape time: `f` emits
    /// one sample per label-value set through the [`CallbackSink`].
    ///
    /// ```
    /// use telemeter::{Opts, Registry};
    /// let reg = Registry::new();
    /// reg.gauge_callback(
    ///     Opts::new("circuit_breaker_state", "0 = Closed, 1 = Open.").labels(&["breaker"]),
    ///     |s| {
    ///         s.sample(&["nats"], 0.0);
    ///         s.sample(&["anthropic"], 1.0);
    ///     },
    /// )?;
    /// let mut body = Vec::new();
    /// reg.encode(&mut body);
    /// let text = String::from_utf8(body).unwrap();
    /// assert!(text.contains("circuit_breaker_state{breaker=\"anthropic\"} 1\n"));
    /// # Ok::<(), telemeter::Error>(())
    /// ```
    pub fn gauge_callback<F>(&self, opts: Opts, f: F) -> Result<(), Error>
    where
        F: Fn(&mut CallbackSink<'_>) + Send + Sync + 'static,
    {
        self.callback(opts, "gauge", Box::new(f))
    }

    /// Registers a labelled counter family sampled at scrape time. See
    /// [`Registry::gauge_callback`].
    pub fn counter_callback<F>(&self, opts: Opts, f: F) -> Result<(), Error>
    where
        F: Fn(&mut CallbackSink<'_>) + Send + Sync + 'static,
    {
        self.callback(opts, "counter", Box::new(f))
    }

    /// Appends a complete Prometheus text 0.0.4 body to `out`.
    ///
    /// Families come in registration order, each with its HELP and TYPE
    /// lines, then the `telemeter_*` self-metrics (unless switched off).
    /// Reuse `out` (clear it between scrapes): once it has grown to the
    /// body's size, a scrape allocates nothing.
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.encode_until(out, Instant::now() + self.inner.scrape_deadline);
    }

    /// [`Registry::encode`], waiting for scrape-time callbacks only until
    /// `deadline` (or the registry's own scrape deadline, if sooner): a
    /// callback that has not returned by then is left out of this body and
    /// counted in `telemeter_scrape_callback_timeouts_total`, and a scrape
    /// while it is still running leaves it out at once.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let reg = telemeter::Registry::new();
    /// reg.gauge_fn("slow", "Blocks.", || {
    ///     std::thread::sleep(Duration::from_secs(30));
    ///     1.0
    /// })?;
    /// reg.gauge_fn("fast", "Returns.", || 2.0)?;
    /// let start = Instant::now();
    /// let mut body = Vec::new();
    /// reg.encode_until(&mut body, start + Duration::from_millis(100));
    /// assert!(start.elapsed() < Duration::from_secs(10));
    /// let body = String::from_utf8(body).unwrap();
    /// assert!(body.contains("fast 2\n") && !body.contains("slow 1"));
    /// assert!(body.contains("telemeter_scrape_callback_timeouts_total 1\n"));
    /// # Ok::<(), telemeter::Error>(())
    /// ```
    pub fn encode_until(&self, out: &mut Vec<u8>, deadline: Instant) {
        self.encode_body(out, Format::Text, Some(deadline), true);
    }

    /// Appends a complete body in `format`: text 0.0.4 as
    /// [`Registry::encode`], OpenMetrics 1.0 as
    /// [`Registry::encode_openmetrics`], or length-delimited protobuf
    /// `MetricFamily` messages (client_model's `metrics.proto`, what
    /// Prometheus asks for with native histograms on).
    ///
    /// ```
    /// use telemeter::{Format, Registry};
    /// let reg = Registry::builder().self_metrics(false).build();
    /// reg.counter("jobs_total", "Jobs.")?.add(2);
    /// let mut body = Vec::new();
    /// reg.encode_format(&mut body, Format::Protobuf);
    /// // One message: its length (a varint), then field 1, the name (as
    /// // in text 0.0.4: a counter keeps its `_total`).
    /// assert_eq!(body[0] as usize, body.len() - 1);
    /// assert_eq!(&body[1..3], &[0x0a, 10]);
    /// assert_eq!(&body[3..13], b"jobs_total");
    /// # Ok::<(), telemeter::Error>(())
    /// ```
    pub fn encode_format(&self, out: &mut Vec<u8>, format: Format) {
        self.encode_body(out, format, None, true);
    }

    /// Appends a complete OpenMetrics 1.0 body to `out`: the families of
    /// [`Registry::encode`] with OpenMetrics' names (a counter's
    /// MetricFamily without `_total`), `# UNIT` lines, exemplars, and
    /// `# EOF` last. The exporter serves it to scrapers that ask for
    /// `application/openmetrics-text` (Prometheus does, first).
    ///
    /// ```
    /// let reg = telemeter::Registry::builder().self_metrics(false).build();
    /// reg.counter("jobs_total", "Jobs \"done\".")?.inc();
    /// let mut body = Vec::new();
    /// reg.encode_openmetrics(&mut body);
    /// assert_eq!(
    ///     String::from_utf8(body).unwrap(),
    ///     "# HELP jobs Jobs \\\"done\\\".\n# TYPE jobs counter\njobs_total 1\n# EOF\n"
    /// );
    /// # Ok::<(), telemeter::Error>(())
    /// ```
    pub fn encode_openmetrics(&self, out: &mut Vec<u8>) {
        self.encode_format(out, Format::OpenMetrics);
    }

    /// [`Registry::encode_openmetrics`] into a new `String` (tests).
    #[must_use]
    pub fn encode_openmetrics_to_string(&self) -> String {
        let mut out = Vec::new();
        self.encode_openmetrics(&mut out);
        String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into())
    }

    /// Collects into `format`'s encoder until `deadline` (or the
    /// registry's scrape deadline, if sooner or none is given);
    /// `terminate` ends an OpenMetrics body with `# EOF` (the exporter
    /// ends it itself, after its own families).
    pub(crate) fn encode_body(
        &self,
        out: &mut Vec<u8>,
        format: Format,
        deadline: Option<Instant>,
        terminate: bool,
    ) {
        let start = Instant::now();
        let own_deadline = start + self.inner.scrape_deadline;
        let deadline = deadline.map_or(own_deadline, |d| d.min(own_deadline));
        let entries = self.inner.entries();
        let state = &self.inner.scrape;
        let own = self.inner.self_metrics;
        match format {
            Format::Text => {
                state.collect(&entries, own, start, deadline, &mut TextEncoder::new(out))
            }
            Format::OpenMetrics => {
                let mut enc = OpenMetricsEncoder::new(out);
                state.collect(&entries, own, start, deadline, &mut enc);
                if terminate {
                    crate::encode::openmetrics::finish(out);
                }
            }
            Format::Protobuf => {
                let mut enc = ProtobufEncoder::new(out);
                state.collect(&entries, own, start, deadline, &mut enc);
                enc.finish();
            }
        }
        state.finish(start);
    }

    /// Appends the registry as one Prometheus remote-write 1.0
    /// `WriteRequest` (protobuf, before snappy compression), every sample
    /// stamped `timestamp_ms` (milliseconds since the epoch); returns how
    /// many series it holds. Histograms are their `_bucket{le}` (cumulative),
    /// `_sum` and `_count` series, native ones included (their classic
    /// view: [`Registry::encode_remote_write_native`] sends them whole);
    /// each series' labels are sorted by name, `__name__` among them.
    /// [`RemoteWrite`](crate::push::RemoteWrite) compresses and sends it.
    ///
    /// ```
    /// let reg = telemeter::Registry::builder().self_metrics(false).build();
    /// reg.counter("jobs_total", "Jobs.")?.add(3);
    /// let mut body = Vec::new();
    /// assert_eq!(reg.encode_remote_write(&mut body, 1_700_000_000_000), 1);
    /// assert_eq!(body[0], 0x0a); // WriteRequest.timeseries
    /// # Ok::<(), telemeter::Error>(())
    /// ```
    #[cfg(feature = "push")]
    pub fn encode_remote_write(&self, out: &mut Vec<u8>, timestamp_ms: i64) -> usize {
        let mut scratch = crate::encode::prompb::Scratch::default();
        self.encode_remote_write_with(out, timestamp_ms, &[], false, &mut scratch)
    }

    /// [`Registry::encode_remote_write`], but each native histogram
    /// series is one `TimeSeries` carrying one `Histogram` message
    /// (`histograms = 4`: schema, zero threshold and count, spans and
    /// delta-encoded bucket counts) rather than its classic view. Only for
    /// a receiver that takes native histograms (Prometheus with
    /// `--enable-feature=native-histograms`; Mimir where the tenant
    /// enables them): others refuse the request or drop the series.
    ///
    /// ```
    /// use telemeter::{NativeBuckets, Registry};
    /// let reg = Registry::builder().self_metrics(false).build();
    /// let h = reg.native_histogram("wait_seconds", "Waits.", NativeBuckets::default())?;
    /// h.observe(0.25);
    /// let (mut native, mut classic) = (Vec::new(), Vec::new());
    /// assert_eq!(reg.encode_remote_write_native(&mut native, 1_700_000_000_000), 1);
    /// // The classic view: one series per power-of-two bucket, `+Inf`, sum, count.
    /// assert!(reg.encode_remote_write(&mut classic, 1_700_000_000_000) > 3);
    /// # Ok::<(), telemeter::Error>(())
    /// ```
    #[cfg(feature = "push")]
    pub fn encode_remote_write_native(&self, out: &mut Vec<u8>, timestamp_ms: i64) -> usize {
        let mut scratch = crate::encode::prompb::Scratch::default();
        self.encode_remote_write_with(out, timestamp_ms, &[], true, &mut scratch)
    }

    /// [`Registry::encode_remote_write`] (or, with `native`,
    /// [`Registry::encode_remote_write_native`]) with external labels
    /// (added to every series without a label of that name) and the
    /// caller's scratch, kept between pushes.
    #[cfg(feature = "push")]
    pub(crate) fn encode_remote_write_with(
        &self,
        out: &mut Vec<u8>,
        timestamp_ms: i64,
        external: &[(String, String)],
        native: bool,
        scratch: &mut crate::encode::prompb::Scratch,
    ) -> usize {
        use crate::encode::prompb::RemoteWriteEncoder;
        let start = Instant::now();
        let deadline = start + self.inner.scrape_deadline;
        let entries = self.inner.entries();
        let state = &self.inner.scrape;
        let own = self.inner.self_metrics;
        let series = if native {
            let mut enc = RemoteWriteEncoder::<true>::new(out, timestamp_ms, external, scratch);
            state.collect(&entries, own, start, deadline, &mut enc);
            enc.series
        } else {
            let mut enc = RemoteWriteEncoder::<false>::new(out, timestamp_ms, external, scratch);
            state.collect(&entries, own, start, deadline, &mut enc);
            enc.series
        };
        state.finish(start);
        series
    }

    /// Encodes into a new `String` (convenient in tests; servers should
    /// reuse a buffer with [`Registry::encode`]).
    #[must_use]
    pub fn encode_to_string(&self) -> String {
        let mut out = Vec::new();
        self.encode(&mut out);
        // The encoder writes only UTF-8: names are ASCII, label values and
        // HELP are Rust strings, numbers are ASCII.
        String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into())
    }

    /// Families, series counts, overflow and scrape statistics.
    #[must_use]
    pub fn summary(&self) -> RegistrySummary {
        let entries = self.inner.entries();
        let state = &self.inner.scrape;
        let families: Vec<FamilySummary> = entries
            .iter()
            .map(|e| match e {
                Entry::Family(core) => FamilySummary {
                    name: core.name().to_string(),
                    kind: core.layout.type_name(),
                    series: core.series_count(),
                    overflow: core.overflowed.load(Ordering::Relaxed),
                },
                Entry::Group(g) => {
                    let members = g.members();
                    FamilySummary {
                        name: g.name().to_string(),
                        kind: g.type_name(),
                        series: members.iter().map(|c| c.series_count()).sum(),
                        overflow: members
                            .iter()
                            .map(|c| c.overflowed.load(Ordering::Relaxed))
                            .sum(),
                    }
                }
                Entry::Callback(cb) => FamilySummary {
                    name: cb.name.clone(),
                    kind: match cb.kind {
                        Kind::Counter => "counter",
                        _ => "gauge",
                    },
                    series: 0,
                    overflow: 0,
                },
            })
            .collect();
        RegistrySummary {
            series: families.iter().map(|f| f.series).sum(),
            families,
            scrapes: state.scrapes.load(Ordering::Relaxed),
            last_scrape_duration_seconds: state.last_duration_ns.load(Ordering::Relaxed) as f64
                / 1e9,
            callback_errors: state.callback_errors.load(Ordering::Relaxed),
        }
    }
}

/// A group, for the loom models (`loom-tests`): groups are otherwise
/// reached only through the `metrics` facade, which loom builds leave out.
#[cfg(telemeter_loom)]
#[doc(hidden)]
#[derive(Debug)]
pub struct LoomGroup {
    group: Arc<Group>,
    registry: Registry,
}

#[cfg(telemeter_loom)]
impl LoomGroup {
    /// The counter for `values` in the member with label names `labels`.
    pub fn counter(&self, labels: &[&str], values: &[&str]) -> Result<Counter, Error> {
        let labels: Vec<String> = labels.iter().map(|l| l.to_string()).collect();
        self.registry
            .group_member::<Counter>(&self.group, &labels, Layout::Counter)?
            .with_label_values(values)
    }

    /// Replaces the group's HELP.
    pub fn set_help(&self, help: &str) {
        self.group.set_help(help);
    }
}

#[cfg(telemeter_loom)]
impl Registry {
    /// Registers a counter group named `name` (see [`LoomGroup`]).
    #[doc(hidden)]
    pub fn loom_group(&self, name: &str, help: &str) -> Result<LoomGroup, Error> {
        Ok(LoomGroup {
            group: self.group(name, help, &Layout::Counter)?,
            registry: self.clone(),
        })
    }
}

/// The process-wide default registry, for programs that want one without
/// passing it around.
///
/// ```
/// let c = telemeter::default_registry().counter("doc_default_total", "Doc.")?;
/// c.inc();
/// # Ok::<(), telemeter::Error>(())
/// ```
#[cfg(not(telemeter_loom))]
pub fn default_registry() -> &'static Registry {
    static DEFAULT: crate::sync::OnceLock<Registry> = crate::sync::OnceLock::new();
    DEFAULT.get_or_init(Registry::new)
}
