//! Labelled families: one metric name, fixed label names, many series.
// The label-text map and the spare-reference calls are not built under
// loom (a mutex-guarded `HashMap` and plain counting stand in).
#![cfg_attr(telemeter_loom, allow(dead_code))]

use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;

use crate::cache::{Found, HandleRef};
use crate::encode::layout::{render_labels, render_le_tails, LeTails, Variant};
pub(crate) use crate::series::Series;
use crate::sync::{lock, Arc, AtomicU64, Mutex, Ordering};
use crate::{Buckets, Counter, Error, FloatCounter, FloatGauge, Gauge, Histogram};

/// The label value every label of a family's overflow series carries.
pub const OVERFLOW_LABEL_VALUE: &str = "__overflow__";

/// The default per-family cardinality limit.
///
/// Past it, `with_label_values` with a new label set returns the family's
/// single overflow series (every label value [`OVERFLOW_LABEL_VALUE`]) and
/// counts the redirect in `telemeter_series_overflow_total{family="..."}`.
/// Change it per family with [`Opts::max_series`] or per registry with
/// [`RegistryBuilder::default_max_series`](crate::RegistryBuilder::default_max_series).
pub const DEFAULT_MAX_SERIES: usize = 10_000;

/// What a family is called and how it is labelled.
///
/// # Examples
///
/// ```
/// use telemeter::{Opts, Registry};
/// let reg = Registry::new();
/// let fam = reg.counter_family(
///     Opts::new("oxg_rpc_requests_total", "Total RPC calls handled by the component.")
///         .labels(&["component", "method"])
///         .alias("glyph_rpc_requests_total")
///         .max_series(1_000),
/// )?;
/// fam.with_label_values(&["api", "Get"])?.inc();
/// # Ok::<(), telemeter::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[must_use]
pub struct Opts {
    pub(crate) name: String,
    pub(crate) help: String,
    pub(crate) labels: Vec<String>,
    pub(crate) aliases: Vec<String>,
    pub(crate) max_series: Option<usize>,
}

impl Opts {
    /// A family called `name` with HELP text `help` and no labels.
    ///
    /// Leading spaces and tabs of `help` are dropped: in text format 0.0.4
    /// they are indistinguishable from the separator after the name, and
    /// Prometheus drops them too. Everything else, newlines and backslashes
    /// included, is escaped and reaches the scraper unchanged.
    pub fn new(name: impl Into<String>, help: impl Into<String>) -> Opts {
        let help: String = help.into();
        let trimmed = help.trim_start_matches([' ', '\t']);
        let help = if trimmed.len() == help.len() {
            help
        } else {
            trimmed.to_string()
        };
        Opts {
            name: name.into(),
            help,
            labels: Vec::new(),
            aliases: Vec::new(),
            max_series: None,
        }
    }

    /// The label names, in the order values will be given.
    pub fn labels(mut self, names: &[&str]) -> Opts {
        self.labels = names.iter().map(|s| s.to_string()).collect();
        self
    }

    /// A deprecated alias: every series is also exported under `name`, with
    /// HELP `Deprecated: use <new name>. <help>`.
    pub fn alias(mut self, name: impl Into<String>) -> Opts {
        self.aliases.push(name.into());
        self
    }

    /// The cardinality limit (see [`DEFAULT_MAX_SERIES`]). At least 1.
    pub fn max_series(mut self, n: usize) -> Opts {
        self.max_series = Some(n.max(1));
        self
    }
}

/// How a family's series store their values.
#[derive(Clone, Debug)]
pub(crate) enum Layout {
    Counter,
    FloatCounter,
    Gauge,
    FloatGauge,
    Histogram(Buckets),
}

impl Layout {
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Layout::Counter | Layout::FloatCounter => "counter",
            Layout::Gauge | Layout::FloatGauge => "gauge",
            Layout::Histogram(_) => "histogram",
        }
    }
}

mod sealed {
    /// Seals [`super::Metric`].
    pub trait Sealed {}
}

/// A handle type a [`Family`] can hand out. Sealed: implemented by
/// [`Counter`], [`FloatCounter`], [`Gauge`], [`FloatGauge`] and
/// [`Histogram`].
pub trait Metric: sealed::Sealed + Clone + Send + Sync + fmt::Debug + 'static {
    #[doc(hidden)]
    fn __from_series(series: HandleRef) -> Self;
    /// As `__from_series`, for a handle that lives only while its family
    /// is borrowed, with the family's bucket layout at hand.
    #[doc(hidden)]
    #[inline(always)]
    fn __borrowed(series: HandleRef, _family_buckets: Option<&Buckets>) -> Self {
        Self::__from_series(series)
    }
}

macro_rules! impl_metric {
    ($($ty:ident),*) => {$(
        impl sealed::Sealed for $ty {}
        impl Metric for $ty {
            #[inline]
            fn __from_series(series: HandleRef) -> Self {
                $ty::from_series(series)
            }
        }
    )*};
}
impl_metric!(Counter, FloatCounter, Gauge, FloatGauge);
impl sealed::Sealed for Histogram {}
impl Metric for Histogram {
    #[inline]
    fn __from_series(series: HandleRef) -> Self {
        Histogram::from_series(series)
    }
    #[inline(always)]
    fn __borrowed(series: HandleRef, family_buckets: Option<&Buckets>) -> Self {
        match family_buckets {
            Some(b) => Histogram::with_family_buckets(series, b),
            None => Histogram::from_series(series),
        }
    }
}

/// Runs `f` on a handle of type `M` that borrows `series` instead of
/// owning a reference count: no atomic read-modify-write.
#[inline]
fn with_borrowed<M: Metric, R>(
    series: &Series,
    family_buckets: Option<&Buckets>,
    f: impl FnOnce(&M) -> R,
) -> R {
    // SAFETY: `ptr::read` makes a bitwise copy of a live reference-counted
    // pointer without counting it; the handle built from it is wrapped in
    // `ManuallyDrop` and never dropped, so the count is never decremented
    // either. The original `series` is borrowed for the whole call, so the
    // copy never outlives it. A clone `f` makes counts as usual.
    let handle = unsafe {
        std::mem::ManuallyDrop::new(M::__borrowed(
            HandleRef::new(std::ptr::read(series)),
            family_buckets,
        ))
    };
    f(&handle)
}

/// A series as stored in the lookup map: hashed and compared by the label
/// values in its text, so the map needs no separate key.
#[derive(Debug)]
struct SeriesKey(Series);

impl PartialEq for SeriesKey {
    fn eq(&self, other: &SeriesKey) -> bool {
        self.0.text() == other.0.text()
    }
}

impl Eq for SeriesKey {}

/// A label set as given by a caller; hashes exactly like [`SeriesKey`].
#[derive(Debug)]
struct LabelRef<'a>(&'a [&'a str]);

/// Values are hashed in order, each followed by a 0xff separator byte
/// (never part of UTF-8), so ("ab", "c") and ("a", "bc") hash differently;
/// equality is always checked after the hash matches.
/// Both sides of the map ([`SeriesKey`] and [`LabelRef`]) hash through
/// here, so their hashes agree by construction.
fn hash_values<H: Hasher>(values: impl Iterator<Item = impl AsRef<[u8]>>, state: &mut H) {
    for v in values {
        state.write(v.as_ref());
        state.write_u8(0xff);
    }
}

/// The escaped label values of a rendered label set `{n1="v1",n2="v2"}`,
/// in order. Label names never contain `=` or `"`, and an escaped value
/// never contains an unescaped `"`, so no label names are needed.
struct TextValues<'a> {
    rest: &'a [u8],
}

impl<'a> TextValues<'a> {
    fn new(text: &'a [u8]) -> TextValues<'a> {
        TextValues {
            rest: text.get(1..).unwrap_or_default(),
        }
    }
}

impl<'a> Iterator for TextValues<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let eq = self.rest.iter().position(|&b| b == b'=')?;
        let value = &self.rest[eq + 2..]; // past `="`
        let mut i = 0;
        while value[i] != b'"' {
            i += if value[i] == b'\\' { 2 } else { 1 };
        }
        self.rest = &value[i + 1..];
        Some(&value[..i])
    }
}

/// Whether the escaped value `esc` is `v` escaped.
#[inline]
fn escaped_eq(esc: &[u8], v: &[u8]) -> bool {
    if esc.len() == v.len() {
        // Escaping only lengthens: equal lengths mean nothing was escaped.
        return esc == v && !esc.contains(&b'\\');
    }
    if esc.len() < v.len() {
        return false;
    }
    let mut rest = esc;
    for &b in v {
        let want: &[u8] = match b {
            b'\\' => b"\\\\",
            b'"' => b"\\\"",
            b'\n' => b"\\n",
            _ => std::slice::from_ref(&b),
        };
        match rest.strip_prefix(want) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    rest.is_empty()
}

/// `esc` with its escapes undone.
fn unescape(esc: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if !esc.contains(&b'\\') {
        return std::borrow::Cow::Borrowed(esc);
    }
    let mut out = Vec::with_capacity(esc.len());
    let mut i = 0;
    while i < esc.len() {
        if esc[i] == b'\\' {
            out.push(match esc[i + 1] {
                b'n' => b'\n',
                other => other,
            });
            i += 2;
        } else {
            out.push(esc[i]);
            i += 1;
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Whether the rendered label set `text` holds exactly `values`.
fn text_is(text: &[u8], values: &[&str]) -> bool {
    let mut found = TextValues::new(text);
    values.iter().all(|v| {
        found
            .next()
            .is_some_and(|esc| escaped_eq(esc, v.as_bytes()))
    }) && found.next().is_none()
}

impl Hash for SeriesKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // The values the text was built from, unescaped.
        hash_values(TextValues::new(self.0.text()).map(unescape), state);
    }
}

impl Hash for LabelRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_values(self.0.iter(), state);
    }
}

impl papaya::Equivalent<SeriesKey> for LabelRef<'_> {
    fn equivalent(&self, key: &SeriesKey) -> bool {
        text_is(key.0.text(), self.0)
    }
}

/// The label-set → series map: lock-free lookups (papaya: readers never
/// wait for a writer, and resizes are incremental so no reader stalls
/// behind a rehash). Under loom, a mutex-guarded map stands in: the models
/// check telemeter's own protocols, not papaya's.
///
/// A papaya map carries its own reclamation state (about 18 KB), so it is
/// created only when a family gets its first labelled series; a family
/// without labels keeps its one series in an `ArcSwapOption` instead.
#[cfg(not(telemeter_loom))]
struct LabelMap {
    /// Boxed: the map's handle is large, and a family without labels has
    /// none.
    map: std::sync::OnceLock<Box<papaya::HashSet<SeriesKey, foldhash::fast::RandomState>>>,
    single: arc_swap::ArcSwapAny<Option<Series>>,
}

#[cfg(not(telemeter_loom))]
impl LabelMap {
    fn new() -> LabelMap {
        LabelMap {
            map: std::sync::OnceLock::new(),
            single: arc_swap::ArcSwapAny::new(None),
        }
    }

    #[inline]
    fn get_with<R>(&self, values: &[&str], f: impl FnOnce(&Series) -> R) -> Option<R> {
        if values.is_empty() {
            return self.single.load().as_ref().map(f);
        }
        let map = self.map.get()?;
        let guard = map.guard();
        map.get(&LabelRef(values), &guard).map(|k| f(&k.0))
    }

    fn get_arc(&self, values: &[&str]) -> Option<Series> {
        self.get_with(values, Series::clone)
    }

    fn insert(&self, values: &[&str], series: Series) {
        if values.is_empty() {
            self.single.store(Some(series));
            return;
        }
        let map = self.map.get_or_init(|| {
            Box::new(
                papaya::HashSet::builder()
                    .hasher(foldhash::fast::RandomState::default())
                    .build(),
            )
        });
        map.pin().insert(SeriesKey(series));
    }

    fn remove(&self, values: &[&str]) -> bool {
        if values.is_empty() {
            return self.single.swap(None).is_some();
        }
        self.map
            .get()
            .is_some_and(|m| m.pin().remove(&LabelRef(values)))
    }
}

#[cfg(telemeter_loom)]
struct LabelMap(Mutex<std::collections::HashMap<Vec<String>, Series>>);

#[cfg(telemeter_loom)]
impl LabelMap {
    fn new() -> LabelMap {
        LabelMap(Mutex::new(std::collections::HashMap::new()))
    }

    fn get_with<R>(&self, values: &[&str], f: impl FnOnce(&Series) -> R) -> Option<R> {
        let key: Vec<String> = values.iter().map(|s| s.to_string()).collect();
        lock(&self.0).get(&key).map(f)
    }

    fn get_arc(&self, values: &[&str]) -> Option<Series> {
        let key: Vec<String> = values.iter().map(|s| s.to_string()).collect();
        lock(&self.0).get(&key).cloned()
    }

    fn insert(&self, values: &[&str], series: Series) {
        let key: Vec<String> = values.iter().map(|s| s.to_string()).collect();
        lock(&self.0).insert(key, series);
    }

    fn remove(&self, values: &[&str]) -> bool {
        let key: Vec<String> = values.iter().map(|s| s.to_string()).collect();
        lock(&self.0).remove(&key).is_some()
    }
}

/// Series in scrape order, plus the overflow series. Guarded by the family
/// mutex, which serialises inserts and removals (never lookups).
#[derive(Debug, Default)]
pub(crate) struct SeriesList {
    pub(crate) series: Vec<Series>,
    overflow: Option<Series>,
}

impl SeriesList {
    /// Appends a series. The list grows by an eighth at a time, not by
    /// doubling: it holds a pointer per series, and doubling would leave up
    /// to 8 B per series unused (growth stays amortised O(1), under the
    /// family mutex, off every hot path).
    fn push(&mut self, series: Series) {
        let len = self.series.len();
        if len == self.series.capacity() {
            // Room for one first: a family without labels never has more.
            self.series
                .reserve_exact(if len == 0 { 1 } else { len / 8 + 16 });
        }
        self.series.push(series);
    }

    /// Every series including the overflow one, in scrape order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Series> {
        self.series.iter().chain(self.overflow.iter())
    }

    /// The series of [`iter`](Self::iter), `n` at a time: every chunk
    /// but the last has `n`, and the overflow series comes last, alone.
    pub(crate) fn chunks(&self, n: usize) -> impl Iterator<Item = &[Series]> {
        self.series
            .chunks(n)
            .chain(self.overflow.as_slice().chunks(1))
    }
}

/// The shared, type-erased part of a family.
pub(crate) struct FamilyCore {
    pub(crate) label_names: Box<[String]>,
    pub(crate) layout: Layout,
    /// The name and every alias, with their pre-rendered HELP/TYPE headers.
    pub(crate) variants: Box<[Variant]>,
    /// Histograms: what follows a series' label text on each bucket line
    /// (see [`render_le_tails`]); empty otherwise.
    pub(crate) le_tails: LeTails,
    max_series: usize,
    map: LabelMap,
    pub(crate) list: Mutex<SeriesList>,
    pub(crate) overflowed: AtomicU64,
    /// Process-unique id, for the per-thread lookup cache.
    #[cfg_attr(telemeter_loom, allow(dead_code))]
    pub(crate) id: u64,
    /// Bumped by every removal: cached lookups from before it are stale.
    #[cfg_attr(telemeter_loom, allow(dead_code))]
    pub(crate) removals: AtomicU64,
}

static NEXT_FAMILY_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl fmt::Debug for FamilyCore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Family")
            .field("name", &self.name())
            .field("labels", &self.label_names)
            .field("type", &self.layout.type_name())
            .finish_non_exhaustive()
    }
}

impl FamilyCore {
    pub(crate) fn new(
        opts: &Opts,
        layout: Layout,
        variants: Box<[Variant]>,
        default_max: usize,
    ) -> FamilyCore {
        let le_tails = match &layout {
            Layout::Histogram(b) => {
                LeTails::new(render_le_tails(b.bounds(), !opts.labels.is_empty()))
            }
            _ => LeTails::default(),
        };
        FamilyCore {
            label_names: opts.labels.iter().cloned().collect(),
            layout,
            variants,
            le_tails,
            max_series: opts.max_series.unwrap_or(default_max),
            map: LabelMap::new(),
            list: Mutex::new(SeriesList::default()),
            overflowed: AtomicU64::new(0),
            id: NEXT_FAMILY_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            removals: AtomicU64::new(0),
        }
    }

    /// The family's name (the first variant's; the others are aliases).
    #[inline]
    pub(crate) fn name(&self) -> &str {
        self.variants[0].name()
    }

    /// The family's bucket layout, for a histogram family. Its series own
    /// counted references to the same bounds (see `new_series`).
    #[inline]
    pub(crate) fn buckets(&self) -> Option<&Buckets> {
        match &self.layout {
            Layout::Histogram(b) => Some(b),
            _ => None,
        }
    }

    fn new_series(&self, values: &[&str]) -> Series {
        let text = render_labels(&self.label_names, values);
        match &self.layout {
            Layout::Counter | Layout::FloatCounter => Series::sharded(1, &text),
            Layout::Gauge => Series::gauge(0, &text),
            Layout::FloatGauge => Series::gauge(0f64.to_bits(), &text),
            // Bucket cells (+Inf included), the f64 sum, the integer sum.
            Layout::Histogram(b) => Series::histogram(&text, b.shared()),
        }
    }

    #[inline(always)]
    fn check_arity(&self, values: &[&str]) -> Result<(), Error> {
        if values.len() != self.label_names.len() {
            return Err(self.arity_error(values.len()));
        }
        Ok(())
    }

    #[cold]
    #[inline(never)]
    fn arity_error(&self, got: usize) -> Error {
        Error::LabelCount {
            family: self.name().to_string(),
            expected: self.label_names.len(),
            got,
        }
    }

    /// The slow path: insert under the family mutex, re-checking first.
    /// Returns the series and whether it is the overflow series (a redirect,
    /// which must not be cached: each redirect is counted).
    #[cold]
    fn get_or_insert(&self, values: &[&str]) -> (Series, bool) {
        let mut list = lock(&self.list);
        if let Some(s) = self.map.get_arc(values) {
            return (s, false);
        }
        if list.series.len() >= self.max_series {
            self.overflowed.fetch_add(1, Ordering::Relaxed);
            if list.overflow.is_none() {
                let values = vec![OVERFLOW_LABEL_VALUE; values.len()];
                list.overflow = Some(self.new_series(&values));
            }
            return (list.overflow.clone().expect("set above"), true);
        }
        let series = self.new_series(values);
        self.map.insert(values, series.clone());
        list.push(series.clone());
        (series, false)
    }

    /// Finds or creates the series for `values` and runs `f` on it: from the
    /// calling thread's lookup cache when it can, else from the shared map
    /// (refilling the cache).
    ///
    /// Always inlined: a caller's handle then stays in registers or its
    /// own stack slot. Out of line, the `Result` holding a histogram handle
    /// (32 B) came back through memory written with 8-byte stores and was
    /// copied with 16-byte loads, which cannot be forwarded from them: a
    /// stall of ~10 ns on every owned histogram lookup.
    #[inline(always)]
    fn lookup<R>(&self, values: &[&str], f: impl FnOnce(Found<'_>) -> R) -> Result<R, Error> {
        self.check_arity(values)?;
        #[cfg(not(telemeter_loom))]
        {
            Ok(crate::cache::lookup(self, values, f))
        }
        #[cfg(telemeter_loom)]
        {
            let (s, _) = self
                .map
                .get_arc(values)
                .map(|s| (s, false))
                .unwrap_or_else(|| self.get_or_insert(values));
            Ok(f(Found::uncached(&s)))
        }
    }

    /// The shared-map path behind the cache: the series, and whether it may
    /// be cached.
    #[cfg(not(telemeter_loom))]
    pub(crate) fn find_or_create(&self, values: &[&str]) -> (Series, bool) {
        match self.map.get_arc(values) {
            Some(s) => (s, true),
            None => {
                let (s, overflow) = self.get_or_insert(values);
                (s, !overflow)
            }
        }
    }

    /// The reference count of the series for `values`, not counting the
    /// map's (tests).
    #[cfg(test)]
    pub(crate) fn refs_of(&self, values: &[&str]) -> Option<u64> {
        self.map.get_with(values, |s| s.ref_count() - 1)
    }

    pub(crate) fn series_count(&self) -> usize {
        let list = lock(&self.list);
        list.series.len() + usize::from(list.overflow.is_some())
    }
}

/// A labelled metric family: one name, fixed label names, one series per
/// distinct label-value set.
///
/// Resolve a series once with [`Family::with_label_values`] and keep the
/// handle: it then records exactly as fast as an unlabelled metric. The
/// lookup itself hashes the values, finds an existing series without taking
/// any lock, and only takes the family mutex to insert a new series.
///
/// # Examples
///
/// ```
/// use telemeter::{Opts, Registry};
/// let reg = Registry::new();
/// let calls = reg.counter_family(Opts::new("calls_total", "Calls.").labels(&["method", "code"]))?;
/// let ok = calls.with_label_values(&["GET", "200"])?;
/// ok.inc();
/// assert_eq!(calls.with_label_values(&["GET", "200"])?.get(), 1);
/// assert!(calls.remove(&["GET", "200"])?);
/// assert!(calls.with_label_values(&["GET"]).is_err()); // wrong number of values
/// # Ok::<(), telemeter::Error>(())
/// ```
#[must_use]
pub struct Family<M> {
    pub(crate) core: Arc<FamilyCore>,
    _m: PhantomData<fn() -> M>,
}

impl<M> Clone for Family<M> {
    fn clone(&self) -> Self {
        Family {
            core: Arc::clone(&self.core),
            _m: PhantomData,
        }
    }
}

impl<M> fmt::Debug for Family<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.core.fmt(f)
    }
}

impl<M: Metric> Family<M> {
    pub(crate) fn from_core(core: Arc<FamilyCore>) -> Family<M> {
        Family {
            core,
            _m: PhantomData,
        }
    }

    /// The handle for this label-value set, created on first use.
    ///
    /// Values are given in the order of the family's label names. Past the
    /// family's cardinality limit a new set gets the overflow series.
    ///
    /// Lookups first try a per-thread cache (512 entries, 4-way
    /// set-associative on the hash of the values; a hit compares the values,
    /// so a collision is a miss, never a wrong series), then the family's
    /// lock-free map. A [`Family::remove`] invalidates every thread's cached
    /// entries for the family; until a thread's entry is overwritten, it
    /// keeps the removed series' slots from being reused (at most 512 series
    /// per thread).
    ///
    /// The handle's reference to its series comes from a per-thread stock
    /// of spare references, and goes back there when the handle is dropped
    /// on the same thread, so creating and dropping a handle touches no
    /// shared reference count. Like cached entries, a thread's spares keep
    /// a removed series' slots from reuse until the thread exits or needs
    /// the table slot for another series (at most 512 series per thread).
    #[inline]
    pub fn with_label_values(&self, values: &[&str]) -> Result<M, Error> {
        self.core
            .lookup(values, |found| M::__from_series(found.lend()))
    }

    /// Runs `f` on the series for this label-value set, creating it on
    /// first use, without handing out a handle.
    ///
    /// For label values known only at the call site this is the fastest
    /// path: the series is found in the calling thread's lookup cache (see
    /// [`Family::with_label_values`]) and borrowed: no handle is made, so no
    /// reference moves (an owned handle takes a spare reference from the
    /// thread's table and gives it back when dropped, a few nanoseconds).
    ///
    /// ```
    /// use telemeter::{Opts, Registry};
    /// let reg = Registry::new();
    /// let codes = reg.counter_family(Opts::new("responses_total", "Responses.").labels(&["code"]))?;
    /// for code in ["200", "404", "200"] {
    ///     codes.with(&[code], |c| c.inc())?;
    /// }
    /// assert_eq!(codes.with(&["200"], |c| c.get())?, 2);
    /// # Ok::<(), telemeter::Error>(())
    /// ```
    #[inline]
    pub fn with<R>(&self, values: &[&str], f: impl FnOnce(&M) -> R) -> Result<R, Error> {
        // A borrowed histogram takes the family's bounds (at hand) rather
        // than its series' (a load from the series' allocation), ~1.5 ns.
        let buckets = self.core.buckets();
        self.core
            .lookup(values, |found| with_borrowed(found.series, buckets, f))
    }

    /// Removes a series from the family (and from future scrapes).
    ///
    /// Handles to it keep working but record into a series nobody scrapes;
    /// its slots are reused only once the last handle is dropped, and a new
    /// series for the same label values starts from zero. Returns whether
    /// the series existed.
    pub fn remove(&self, values: &[&str]) -> Result<bool, Error> {
        self.core.check_arity(values)?;
        let mut list = lock(&self.core.list);
        let Some(target) = self.core.map.get_with(values, Series::as_ptr) else {
            return Ok(false);
        };
        if list
            .overflow
            .as_ref()
            .is_some_and(|o| std::ptr::eq(o.as_ptr(), target))
        {
            // The overflow series is not a label set the caller created.
            return Ok(false);
        }
        self.core.map.remove(values);
        list.series.retain(|s| !std::ptr::eq(s.as_ptr(), target));
        // Every cached lookup of this family from before now is stale. A
        // thread whose lookup happens after this removal sees the new count
        // (coherence), so it never records into the removed series.
        self.core.removals.fetch_add(1, Ordering::Relaxed);
        Ok(true)
    }

    /// Resolves the series for every value of the fixed label `L` at once,
    /// given the values of the family's *other* labels in declaration order.
    ///
    /// The result is indexed by `L` directly, with no hashing:
    ///
    /// ```
    /// use telemeter::{fixed_label, Opts, Registry};
    /// fixed_label! {
    ///     /// Tool call outcome.
    ///     pub enum Outcome: "outcome" { Ok = "ok", Error = "error", Blocked = "blocked", Unknown = "unknown" }
    /// }
    /// let reg = Registry::new();
    /// let calls = reg.counter_family(
    ///     Opts::new("nexo_tool_calls_total", "Tool invocations.").labels(&["agent", "outcome", "tool"]),
    /// )?;
    /// let by_outcome = calls.by_label::<Outcome>(&["kate", "search"])?;
    /// by_outcome.get(Outcome::Blocked).inc();
    /// assert_eq!(calls.with_label_values(&["kate", "blocked", "search"])?.get(), 1);
    /// # Ok::<(), telemeter::Error>(())
    /// ```
    pub fn by_label<L: FixedCardinalityLabel>(
        &self,
        other_values: &[&str],
    ) -> Result<ByLabel<L, M>, Error> {
        let names = &self.core.label_names;
        let Some(pos) = names.iter().position(|n| n == L::NAME) else {
            return Err(Error::UnknownLabel {
                family: self.core.name().to_string(),
                label: L::NAME.to_string(),
            });
        };
        if other_values.len() + 1 != names.len() {
            return Err(Error::LabelCount {
                family: self.core.name().to_string(),
                expected: names.len() - 1,
                got: other_values.len(),
            });
        }
        let mut values: Vec<&str> = other_values.to_vec();
        values.insert(pos, "");
        let mut handles = Vec::with_capacity(L::VALUES.len());
        for v in L::VALUES {
            values[pos] = v;
            handles.push(self.with_label_values(&values)?);
        }
        Ok(ByLabel {
            handles: handles.into_boxed_slice(),
            _l: PhantomData,
        })
    }

    /// Series currently in the family (the overflow series included).
    #[must_use]
    pub fn len(&self) -> usize {
        self.core.series_count()
    }

    /// Whether the family has no series yet.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Label sets redirected to the overflow series so far.
    #[must_use]
    pub fn overflowed(&self) -> u64 {
        self.core.overflowed.load(Ordering::Relaxed)
    }

    /// The family's name.
    #[must_use]
    pub fn name(&self) -> &str {
        self.core.name()
    }
}

/// A label whose values are known in advance (an enum), mapped to a dense
/// index with no hashing. Implement it with [`fixed_label!`](crate::fixed_label).
pub trait FixedCardinalityLabel: Copy + 'static {
    /// The label name.
    const NAME: &'static str;
    /// Every value, in index order.
    const VALUES: &'static [&'static str];
    /// This value's position in [`Self::VALUES`].
    fn index(self) -> usize;
}

/// One handle per value of a [`FixedCardinalityLabel`], indexed directly.
#[must_use]
pub struct ByLabel<L, M> {
    handles: Box<[M]>,
    _l: PhantomData<fn(L)>,
}

impl<L, M: Clone> Clone for ByLabel<L, M> {
    fn clone(&self) -> Self {
        ByLabel {
            handles: self.handles.clone(),
            _l: PhantomData,
        }
    }
}

impl<L, M: fmt::Debug> fmt::Debug for ByLabel<L, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.handles.iter()).finish()
    }
}

impl<L: FixedCardinalityLabel, M> ByLabel<L, M> {
    /// The handle for `value`.
    #[inline]
    pub fn get(&self, value: L) -> &M {
        &self.handles[value.index()]
    }
}

/// Declares an enum usable as a [`FixedCardinalityLabel`].
///
/// ```
/// telemeter::fixed_label! {
///     /// Cache event.
///     pub enum Event: "event" { Hit = "hit", Miss = "miss" }
/// }
/// use telemeter::FixedCardinalityLabel;
/// assert_eq!(Event::VALUES, &["hit", "miss"]);
/// assert_eq!(Event::Miss.index(), 1);
/// assert_eq!(Event::Miss.as_str(), "miss");
/// ```
#[macro_export]
macro_rules! fixed_label {
    (
        $(#[$meta:meta])*
        $vis:vis enum $ty:ident : $label:literal {
            $($(#[$vmeta:meta])* $variant:ident = $value:literal),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        $vis enum $ty {
            $($(#[$vmeta])* #[doc = concat!("`", $value, "`")] $variant),+
        }

        impl $ty {
            /// The label value.
            #[allow(dead_code)]
            $vis fn as_str(self) -> &'static str {
                <Self as $crate::FixedCardinalityLabel>::VALUES[
                    <Self as $crate::FixedCardinalityLabel>::index(self)
                ]
            }
        }

        impl $crate::FixedCardinalityLabel for $ty {
            const NAME: &'static str = $label;
            const VALUES: &'static [&'static str] = &[$($value),+];
            #[inline]
            fn index(self) -> usize {
                self as usize
            }
        }
    };
}

#[cfg(all(test, not(telemeter_loom)))]
mod key_tests {
    use std::hash::BuildHasher;

    use super::*;
    use crate::encode::layout::render_labels;

    fn key(values: &[&str]) -> SeriesKey {
        let names: Vec<String> = (0..values.len()).map(|i| format!("l{i}")).collect();
        SeriesKey(Series::sharded(1, &render_labels(&names, values)))
    }

    fn check(values: &[&str]) {
        let k = key(values);
        let found: Vec<Vec<u8>> = TextValues::new(k.0.text())
            .map(|esc| unescape(esc).into_owned())
            .collect();
        let want: Vec<Vec<u8>> = values.iter().map(|v| v.as_bytes().to_vec()).collect();
        assert_eq!(found, want, "values of {:?}", k.0);
        assert!(text_is(k.0.text(), values), "{values:?}");
        let state = foldhash::fast::FixedState::with_seed(7);
        assert_eq!(
            state.hash_one(&k),
            state.hash_one(LabelRef(values)),
            "{values:?}"
        );
    }

    #[test]
    fn label_text_gives_back_the_values_it_was_rendered_from() {
        for values in [
            &["GET", "200"][..],
            &["", ""],
            &["a\"b", "c\\d", "e\nf"],
            &["\\", "\"", "\n"],
            &["x=\"y\",z=\"w\"}", "{}#"],
            &["ünïcödé ✓", "\\n"],
            &["\\\"", "\"\\"],
        ] {
            check(values);
        }
    }

    #[test]
    fn label_text_rejects_every_other_value_set() {
        let k = key(&["a\\b", "c"]);
        for other in [
            &["a\\b", "d"][..],
            &["a\\\\b", "c"],
            &["a\\b"],
            &["a\\b", "c", ""],
            &["ab", "c"],
            &["a\\", "bc"],
            &["a\"b", "c"],
            &["a\\b", "c\""],
        ] {
            assert!(!text_is(k.0.text(), other), "{other:?}");
        }
        assert!(escaped_eq(b"a\\\\b", b"a\\b"));
        assert!(!escaped_eq(b"a\\\\b", b"a\\\\"));
        assert!(!escaped_eq(b"a\\nb", b"a\\nb"));
        assert!(escaped_eq(b"a\\nb", b"a\nb"));
    }

    proptest::proptest! {
        #[test]
        fn any_values_round_trip_through_the_label_text(
            values in proptest::collection::vec(".*", 1..4),
            other in proptest::collection::vec(".*", 1..4),
        ) {
            let values: Vec<&str> = values.iter().map(String::as_str).collect();
            let other: Vec<&str> = other.iter().map(String::as_str).collect();
            check(&values);
            let k = key(&values);
            proptest::prop_assert_eq!(text_is(k.0.text(), &other), values == other);
        }
    }
}
