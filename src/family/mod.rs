//! Labelled families: one metric name, fixed label names, many series.

mod group;
mod list;
mod map;
mod metric;
mod opts;
mod typed;

use std::fmt;
use std::marker::PhantomData;

pub(crate) use group::Group;
use list::SeriesList;
use map::LabelMap;
use metric::with_borrowed;
pub use metric::Metric;
pub(crate) use opts::Layout;
pub use opts::{Opts, DEFAULT_MAX_LABEL_VALUE_BYTES, DEFAULT_MAX_SERIES, OVERFLOW_LABEL_VALUE};
pub use typed::{Keyed, LabelSet, Typed, MAX_STRING_FIELDS, MAX_TYPED_COMBINATIONS};

use crate::encode::layout::{
    append_const_labels, render_labels, render_le_tails, render_state_tails, LeTails, Variant,
};
use crate::handle::{Found, HandleRef};
pub(crate) use crate::series::Series;
use crate::sync::{process, Arc, AtomicU64, Ordering};
use crate::{Buckets, Error};

/// The shared, type-erased part of a family.
pub(crate) struct FamilyCore {
    pub(crate) label_names: Box<[String]>,
    pub(crate) layout: Layout,
    /// The name and every alias, with their pre-rendered HELP/TYPE headers.
    pub(crate) variants: Box<[Variant]>,
    /// Histograms: what follows a series' label text on each bucket line
    /// (see [`render_le_tails`]); empty otherwise.
    pub(crate) le_tails: LeTails,
    /// The registry's constant labels, rendered (`n="v",...`; empty for
    /// none): every series' label text ends with them.
    const_text: Box<str>,
    max_series: usize,
    /// Longest label value a new series may carry, in bytes.
    max_value_bytes: usize,
    map: LabelMap,
    /// Series in scrape order, the overflow series included: read by a
    /// scrape without a lock; its mutex serialises creation and removal
    /// (never lookups).
    pub(crate) list: SeriesList,
    pub(crate) overflowed: AtomicU64,
    /// Process-unique id, for the per-thread lookup cache.
    pub(crate) id: u64,
    /// Bumped by every removal: cached lookups from before it are stale.
    pub(crate) removals: AtomicU64,
    /// Whether new series keep their creation time (OpenMetrics'
    /// `_created`).
    created: bool,
}

/// The largest cardinality limit: slots `0..=MAX_SERIES` (the overflow
/// series included) fit in 32 bits.
const MAX_SERIES: usize = u32::MAX as usize - 1;

static NEXT_FAMILY_ID: process::AtomicU64 = process::AtomicU64::new(1);

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
        max_value_bytes: usize,
        consts: (&str, usize),
    ) -> FamilyCore {
        let (const_text, const_count) = consts;
        let labelled = !opts.labels.is_empty() || !const_text.is_empty();
        let le_tails = match &layout {
            Layout::Histogram(b) => LeTails::new(render_le_tails(b.bounds(), labelled)),
            Layout::Native(b) => LeTails::new(render_le_tails(b.classic(), labelled)),
            Layout::StateSet(states) => {
                LeTails::new(render_state_tails(&opts.name, &states.0, labelled))
            }
            _ => LeTails::default(),
        };
        FamilyCore {
            label_names: opts.labels.iter().cloned().collect(),
            layout,
            variants,
            le_tails,
            const_text: const_text.into(),
            // A series' list slot is stored in 32 bits (`map.rs`).
            max_series: opts.max_series.unwrap_or(default_max).min(MAX_SERIES),
            max_value_bytes,
            map: LabelMap::new(const_count),
            list: SeriesList::default(),
            overflowed: AtomicU64::new(0),
            id: NEXT_FAMILY_ID.fetch_add(1, process::Ordering::Relaxed),
            removals: AtomicU64::new(0),
            created: opts.created,
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

    /// Now, in seconds since the epoch, where the family keeps creation
    /// times.
    fn now(&self) -> Option<f64> {
        self.created.then(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64())
        })
    }

    fn new_series(&self, values: &[&str]) -> Series {
        let mut text = render_labels(&self.label_names, values);
        append_const_labels(&mut text, &self.const_text);
        match &self.layout {
            Layout::Counter | Layout::FloatCounter => Series::sharded_at(1, &text, self.now()),
            Layout::Gauge | Layout::StateSet(_) => Series::gauge(0, &text),
            Layout::FloatGauge => Series::gauge(0f64.to_bits(), &text),
            // Bucket cells (+Inf included), the f64 sum, the integer sum.
            Layout::Histogram(b) => Series::histogram(&text, b.shared(), self.now()),
            // The zero bucket and a cell per bucket, the f64 sum and the
            // integer sum (unused), as a classic histogram's run.
            Layout::Native(b) => Series::sharded(b.buckets() + 3, &text),
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
    fn get_or_insert(&self, values: &[&str]) -> Result<(Series, bool), Error> {
        if !values.is_empty() && values.iter().all(|v| *v == OVERFLOW_LABEL_VALUE) {
            return Err(Error::OverflowLabelSet {
                family: self.name().to_string(),
            });
        }
        if let Some(i) = values.iter().position(|v| v.len() > self.max_value_bytes) {
            return Err(Error::LabelValueTooLong {
                family: self.name().to_string(),
                label: self.label_names[i].clone(),
                len: values[i].len(),
                max: self.max_value_bytes,
            });
        }
        let mut list = self.list.write();
        if let Some(s) = self.map.get_arc(values) {
            return Ok((s, false));
        }
        if list.len() - usize::from(list.overflow().is_some()) >= self.max_series {
            return Ok((self.overflow_series(&mut list), true));
        }
        let series = self.new_series(values);
        let slot = list.push(series.clone());
        let slot = u32::try_from(slot).expect("MAX_SERIES keeps every slot below 2^32");
        self.map.insert(values, series.clone(), slot);
        Ok((series, false))
    }

    /// The overflow series, made on first use; counts one redirect.
    fn overflow_series(&self, list: &mut list::Writing<'_>) -> Series {
        self.overflowed.fetch_add(1, Ordering::Relaxed);
        if list.overflow().is_none() {
            let values = vec![OVERFLOW_LABEL_VALUE; self.label_names.len()];
            let series = self.new_series(&values);
            list.push(series.clone());
            *list.overflow() = Some(series);
        }
        list.overflow().clone().expect("set above")
    }

    /// Finds or creates the series for `values` and runs `f` on it: from the
    /// calling thread's lookup cache when it can, else from the shared map
    /// (refilling the cache).
    ///
    /// Always inlined: a caller's handle then stays in registers or its
    /// own stack slot. Out of line, the `Result` holding a histogram handle
    /// (32 B) came back through memory written with 8-byte stores and was
    /// copied with 16-byte loads, which cannot be forwarded from them: a
    /// store-forwarding stall on every owned histogram lookup.
    #[inline(always)]
    fn lookup<R>(&self, values: &[&str], f: impl FnOnce(Found<'_>) -> R) -> Result<R, Error> {
        self.check_arity(values)?;
        crate::cache::lookup(
            self.id,
            &self.removals,
            values,
            |values| self.find_or_create(values),
            f,
        )
    }

    /// The shared-map path behind the cache: the series, and whether it may
    /// be cached.
    fn find_or_create(&self, values: &[&str]) -> Result<(Series, bool), Error> {
        match self.map.get_arc(values) {
            Some(s) => Ok((s, true)),
            None => {
                let (s, overflow) = self.get_or_insert(values)?;
                Ok((s, !overflow))
            }
        }
    }

    /// The reference count of the series for `values`, not counting the
    /// map's (tests).
    #[cfg(test)]
    pub(crate) fn refs_of(&self, values: &[&str]) -> Option<u64> {
        self.map.get_with(values, |s| s.ref_count() - 1)
    }

    /// The family's cardinality limit.
    pub(crate) fn max_series(&self) -> usize {
        self.max_series
    }

    pub(crate) fn series_count(&self) -> usize {
        self.list.len()
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
        self.core.lookup(values, |found| {
            M::__from_series(found.lend(), &self.core.layout)
        })
    }

    /// The handle for this label-value set, past every cache, and whether
    /// it is the overflow series (a redirect: the caller must not keep it
    /// as this set's handle, since each redirect is counted).
    #[cfg_attr(not(feature = "metrics-rs"), allow(dead_code))] // used by `facade` alone
    pub(crate) fn resolve(&self, values: &[&str]) -> Result<(M, bool), Error> {
        self.core.check_arity(values)?;
        let (series, cacheable) = self.core.find_or_create(values)?;
        Ok((
            M::__from_series(HandleRef::new(series), &self.core.layout),
            !cacheable,
        ))
    }

    /// The overflow series' handle, for a label set the family refuses
    /// but whose record must not be lost ([`Keyed`]); counted as a
    /// redirect.
    pub(crate) fn redirect(&self) -> M {
        let series = self.core.overflow_series(&mut self.core.list.write());
        M::__from_series(HandleRef::new(series), &self.core.layout)
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
        // than its series' (a load from the series' allocation).
        let layout = &self.core.layout;
        self.core
            .lookup(values, |found| with_borrowed(found.series, layout, f))
    }

    /// Removes a series from the family (and from future scrapes).
    ///
    /// Handles to it keep working but record into a series nobody scrapes;
    /// its slots are reused only once the last handle is dropped, and a new
    /// series for the same label values starts from zero. Returns whether
    /// the series existed.
    pub fn remove(&self, values: &[&str]) -> Result<bool, Error> {
        self.core.check_arity(values)?;
        let mut list = self.core.list.write();
        // The overflow series is in no map: it cannot be removed.
        let Some(slot) = self.core.map.slot_of(values) else {
            return Ok(false);
        };
        self.core.map.remove(values);
        // O(1): the series' own slot (it waits, unlisted, for scrapes
        // reading the list to finish; see `list.rs`).
        list.remove(slot);
        // Every cached lookup of this family from before now is stale. A
        // thread whose lookup happens after this removal sees the new count
        // (coherence), so it never records into the removed series.
        self.core.removals.fetch_add(1, Ordering::Relaxed);
        Ok(true)
    }

    /// Removes every series from the family, the overflow series
    /// included, as [`Family::remove`] removes one: handles keep working
    /// but record into series nobody scrapes, slots are reused only once
    /// their last handle is dropped, and a series created afterwards for
    /// any label values starts from zero. The family itself stays
    /// registered (HELP and TYPE are still served). Returns how many
    /// series were removed.
    ///
    /// ```
    /// use telemeter::{Opts, Registry};
    /// let reg = Registry::new();
    /// let conns = reg.gauge_family(Opts::new("conn_bytes", "Bytes per connection.").labels(&["peer"]))?;
    /// conns.with_label_values(&["10.0.0.1"])?.set(10);
    /// conns.with_label_values(&["10.0.0.2"])?.set(20);
    /// assert_eq!(conns.clear(), 2);
    /// assert!(conns.is_empty());
    /// assert_eq!(conns.with_label_values(&["10.0.0.1"])?.get(), 0);
    /// # Ok::<(), telemeter::Error>(())
    /// ```
    pub fn clear(&self) -> usize {
        let mut list = self.core.list.write();
        self.core.map.clear();
        let removed = list.remove_all();
        // As in `remove`: every cached lookup from before now is stale.
        self.core.removals.fetch_add(1, Ordering::Relaxed);
        removed
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
            /// Every value, in index order.
            #[allow(dead_code)]
            $vis const ALL: &'static [$ty] = &[$($ty::$variant),+];

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
