//! Counters: sharded, monotonically increasing values.
#![forbid(unsafe_code)]

use crate::handle::HandleRef;
use crate::shard::{pool, with_shard, PackedLoc};
use crate::sync::process;
use crate::Error;

/// Samples a float counter refused (negative or NaN), process-wide; exposed
/// as `telemeter_rejected_samples_total`. Not part of any protocol, so a
/// plain std atomic.
pub(crate) static REJECTED: process::AtomicU64 = process::AtomicU64::new(0);

/// Float-counter increments refused in this process so far.
pub(crate) fn rejected() -> u64 {
    REJECTED.load(process::Ordering::Relaxed)
}

/// A monotonically increasing integer counter.
///
/// Each thread adds into its own shard (a relaxed load and store, no lock,
/// no read-modify-write instruction); a scrape sums the shards. Cloning is
/// cheap and every clone records into the same series.
///
/// A counter never wraps and never goes back: it stops at 2^63
/// (9,223,372,036,854,775,808). [`Counter::add`] stops each shard's share
/// there, the scrape's sum of the shares stops there, and
/// [`Counter::inc`] needs no check: from there it would take 2^63 more
/// increments (292 years at one a nanosecond) to wrap a share.
///
/// # Examples
///
/// ```
/// let reg = telemeter::Registry::new();
/// let requests = reg.counter("requests_total", "Requests served.")?;
/// requests.inc();
/// requests.add(4);
/// assert_eq!(requests.get(), 5);
/// # Ok::<(), telemeter::Error>(())
/// ```
#[derive(Clone, Debug)]
#[must_use = "a counter handle records nothing unless it is used"]
pub struct Counter {
    /// The series' slot, copied out so that recording reads no shared
    /// memory but the shard.
    loc: PackedLoc,
    /// Owns the slots: they are freed when the last reference goes; holds
    /// the exemplar.
    series: HandleRef,
}

impl Counter {
    #[inline]
    pub(crate) fn from_series(series: HandleRef) -> Counter {
        Counter {
            loc: PackedLoc::new(series.loc()),
            series,
        }
    }

    /// The series this handle records into (tests).
    #[cfg(test)]
    pub(crate) fn series_for_tests(&self) -> &crate::series::Series {
        &self.series
    }

    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        let loc = self.loc.get();
        with_shard(|s| s.inc(loc));
    }

    /// Adds `v` (up to the ceiling in the type's docs).
    #[inline]
    pub fn add(&self, v: u64) {
        let loc = self.loc.get();
        with_shard(|s| s.add(loc, v));
    }

    /// Adds one and keeps `labels` (a trace id, say) as the series'
    /// exemplar: the link from this count to the request that made it,
    /// served in OpenMetrics and protobuf scrapes (text 0.0.4 has no
    /// place for it). The last exemplar recorded wins.
    ///
    /// A label set OpenMetrics refuses (see [`Counter::try_add_with_exemplar`])
    /// is dropped, counted in `telemeter_exemplars_dropped_total`; the
    /// increment is kept.
    ///
    /// ```
    /// let reg = telemeter::Registry::builder().self_metrics(false).build();
    /// let requests = reg.counter("requests_total", "Requests served.")?;
    /// requests.inc_with_exemplar(&[("trace_id", "4bf92f3577b34da6")]);
    /// assert_eq!(requests.get(), 1);
    /// let body = reg.encode_openmetrics_to_string();
    /// assert!(body.contains("requests_total 1 # {trace_id=\"4bf92f3577b34da6\"} 1 "));
    /// # Ok::<(), telemeter::Error>(())
    /// ```
    pub fn inc_with_exemplar(&self, labels: &[(&str, &str)]) {
        self.add_with_exemplar(1, labels);
    }

    /// Adds `v` and keeps `labels` as the series' exemplar, with value
    /// `v` (see [`Counter::inc_with_exemplar`]).
    pub fn add_with_exemplar(&self, v: u64, labels: &[(&str, &str)]) {
        if self.try_add_with_exemplar(v, labels).is_err() {
            crate::exemplar::DROPPED.fetch_add(1, process::Ordering::Relaxed);
            self.add(v);
        }
    }

    /// Adds `v` with `labels` as the exemplar, or returns
    /// [`Error::InvalidExemplar`] and records nothing when OpenMetrics
    /// would refuse the label set: a name not matching
    /// `[a-zA-Z_][a-zA-Z0-9_]*`, a name given twice, or more than
    /// [`MAX_EXEMPLAR_CHARS`](crate::MAX_EXEMPLAR_CHARS) characters of
    /// names and values together.
    ///
    /// ```
    /// # let reg = telemeter::Registry::new();
    /// let c = reg.counter("jobs_total", "Jobs.")?;
    /// let long = "f".repeat(200);
    /// assert!(c.try_add_with_exemplar(1, &[("trace_id", &long)]).is_err());
    /// assert_eq!(c.get(), 0);
    /// # Ok::<(), telemeter::Error>(())
    /// ```
    pub fn try_add_with_exemplar(&self, v: u64, labels: &[(&str, &str)]) -> Result<(), Error> {
        crate::exemplar::check(labels)?;
        self.series.exemplars_or_init(1).record(0, labels, v as f64);
        self.add(v);
        Ok(())
    }

    /// The current total over every thread (a scrape-time sum: it costs one
    /// load per shard, so keep it off hot paths).
    #[must_use]
    pub fn get(&self) -> u64 {
        pool().sum(self.loc.get())
    }
}

/// A monotonically increasing floating-point counter, for fractional
/// amounts such as seconds of CPU.
///
/// # Examples
///
/// ```
/// let reg = telemeter::Registry::new();
/// let cpu = reg.float_counter("cpu_seconds_total", "CPU time consumed.")?;
/// cpu.add(0.25);
/// cpu.add(0.5);
/// assert_eq!(cpu.get(), 0.75);
/// assert!(cpu.try_add(-1.0).is_err());
/// # Ok::<(), telemeter::Error>(())
/// ```
#[derive(Clone, Debug)]
#[must_use = "a counter handle records nothing unless it is used"]
pub struct FloatCounter {
    /// The series' slot, copied out so that recording reads no shared
    /// memory but the shard.
    loc: PackedLoc,
    /// Owns the slots: they are freed when the last reference goes.
    #[allow(dead_code)] // held, never read
    series: HandleRef,
}

impl FloatCounter {
    #[inline]
    pub(crate) fn from_series(series: HandleRef) -> FloatCounter {
        FloatCounter {
            loc: PackedLoc::new(series.loc()),
            series,
        }
    }

    /// Adds `v`. A negative or NaN `v` is not added (a counter never
    /// decreases); it is counted in `telemeter_rejected_samples_total`
    /// instead. Use [`FloatCounter::try_add`] to get the error.
    #[inline]
    pub fn add(&self, v: f64) {
        if self.try_add(v).is_err() {
            REJECTED.fetch_add(1, process::Ordering::Relaxed);
        }
    }

    /// Adds `v`, or returns [`Error::InvalidIncrement`] for a negative or
    /// NaN value.
    #[inline]
    pub fn try_add(&self, v: f64) -> Result<(), Error> {
        if v.is_nan() || v < 0.0 {
            return Err(Error::InvalidIncrement { value: v });
        }
        let loc = self.loc.get();
        with_shard(|s| s.add_f64(loc, v));
        Ok(())
    }

    /// The current total over every thread.
    #[must_use]
    pub fn get(&self) -> f64 {
        pool().sum_f64(self.loc.get())
    }
}
