//! Fixed-bucket histograms.

use std::mem::ManuallyDrop;
use std::time::Instant;

use crate::handle::HandleRef;
use crate::shard::{pool, with_shard, Pool, SlotLoc, MAX_RUN};
// Bounds are immutable after construction and take part in no protocol:
// a std Arc (loom's Arc cannot hold a slice).
use crate::sync::StdArc;
use crate::Error;

/// Bounds above which `observe` binary-searches instead of scanning.
const LINEAR_SCAN_MAX: usize = 16;

/// A histogram's bucket upper bounds (the `+Inf` bucket is implicit).
///
/// # Examples
///
/// ```
/// use telemeter::Buckets;
/// assert_eq!(Buckets::linear(1.0, 1.0, 3)?.bounds(), &[1.0, 2.0, 3.0]);
/// assert_eq!(Buckets::exponential(1.0, 10.0, 3)?.bounds(), &[1.0, 10.0, 100.0]);
/// assert!(Buckets::new(vec![2.0, 1.0]).is_err());
/// # Ok::<(), telemeter::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Buckets {
    bounds: StdArc<[f64]>,
}

/// The most bounds a histogram may have.
pub const MAX_BUCKETS: usize = MAX_RUN - 3;

fn invalid(reason: impl Into<String>) -> Error {
    Error::InvalidBuckets {
        reason: reason.into(),
    }
}

impl Buckets {
    /// Explicit upper bounds, strictly increasing and not NaN. A trailing
    /// `+Inf` is accepted and dropped (the `+Inf` bucket always exists).
    pub fn new(mut bounds: Vec<f64>) -> Result<Buckets, Error> {
        if bounds.last() == Some(&f64::INFINITY) {
            bounds.pop();
        }
        if bounds.is_empty() {
            return Err(invalid("no bucket bounds given"));
        }
        if bounds.len() > MAX_BUCKETS {
            return Err(invalid(format!(
                "{} bounds exceed the maximum of {MAX_BUCKETS}",
                bounds.len()
            )));
        }
        for (i, b) in bounds.iter().enumerate() {
            if b.is_nan() {
                return Err(invalid(format!("bound {i} is NaN")));
            }
            if b.is_infinite() {
                return Err(invalid(format!("bound {i} is infinite ({b})")));
            }
            if i > 0 {
                let prev = bounds[i - 1];
                if *b == prev {
                    return Err(invalid(format!("bound {b} appears twice")));
                }
                if *b < prev {
                    return Err(invalid(format!(
                        "bounds are not sorted: {b} comes after {prev}"
                    )));
                }
            }
        }
        Ok(Buckets {
            bounds: bounds.into(),
        })
    }

    /// `count` bounds: `start`, `start + width`, ...
    pub fn linear(start: f64, width: f64, count: usize) -> Result<Buckets, Error> {
        if count == 0 {
            return Err(invalid("linear buckets need a count of at least 1"));
        }
        if !(width.is_finite() && width > 0.0) {
            return Err(invalid(format!(
                "linear buckets need a positive, finite width (got {width})"
            )));
        }
        Buckets::new((0..count).map(|i| start + width * i as f64).collect())
    }

    /// `count` bounds: `start`, `start * factor`, `start * factor^2`, ...
    pub fn exponential(start: f64, factor: f64, count: usize) -> Result<Buckets, Error> {
        if count == 0 {
            return Err(invalid("exponential buckets need a count of at least 1"));
        }
        if !(start.is_finite() && start > 0.0) {
            return Err(invalid(format!(
                "exponential buckets need a positive, finite start (got {start})"
            )));
        }
        if !(factor.is_finite() && factor > 1.0) {
            return Err(invalid(format!(
                "exponential buckets need a finite factor above 1 (got {factor})"
            )));
        }
        let mut v = Vec::with_capacity(count);
        let mut b = start;
        for _ in 0..count {
            v.push(b);
            b *= factor;
        }
        Buckets::new(v)
    }

    /// The Prometheus client default: 5 ms to 10 s, 11 bounds.
    #[must_use]
    pub fn default_prometheus() -> Buckets {
        Buckets {
            bounds: StdArc::from(
                &[
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ][..],
            ),
        }
    }

    /// The bounds' shared allocation, for a histogram series to own.
    pub(crate) fn shared(&self) -> StdArc<[f64]> {
        StdArc::clone(&self.bounds)
    }

    /// The upper bounds, without `+Inf`.
    #[must_use]
    pub fn bounds(&self) -> &[f64] {
        &self.bounds
    }

    #[inline(always)]
    fn index(&self, v: f64) -> usize {
        let b = &self.bounds;
        if b.len() <= LINEAR_SCAN_MAX {
            // NaN compares false everywhere and lands in +Inf, as in Go.
            for (i, bound) in b.iter().enumerate() {
                if v <= *bound {
                    return i;
                }
            }
            b.len()
        } else if v.is_nan() {
            b.len()
        } else {
            b.partition_point(|bound| *bound < v)
        }
    }
}

/// Parses comma-separated upper bounds, e.g. `"50,100,250,500"` (blanks
/// around numbers allowed; a trailing `+Inf` is accepted and dropped), for
/// command-line flags and configuration files. The layout is validated as by
/// [`Buckets::new`].
///
/// ```
/// let b: telemeter::Buckets = "50, 100,250,+Inf".parse()?;
/// assert_eq!(b.bounds(), &[50.0, 100.0, 250.0]);
/// assert!("50,abc".parse::<telemeter::Buckets>().unwrap_err().to_string().contains("\"abc\""));
/// # Ok::<(), telemeter::Error>(())
/// ```
impl std::str::FromStr for Buckets {
    type Err = Error;

    fn from_str(s: &str) -> Result<Buckets, Error> {
        let bounds = s
            .split(',')
            .map(|b| {
                let b = b.trim();
                b.parse::<f64>()
                    .map_err(|_| invalid(format!("{b:?} is not a number")))
            })
            .collect::<Result<Vec<f64>, Error>>()?;
        Buckets::new(bounds)
    }
}

impl Default for Buckets {
    fn default() -> Buckets {
        Buckets::default_prometheus()
    }
}

/// A histogram with fixed buckets.
///
/// `observe` adds one to its bucket's slot and the value to the sum slot of
/// the calling thread's shard. `_count` is not stored: a scrape derives it
/// as the sum of the buckets, so `+Inf == _count` holds in every scrape.
///
/// # Examples
///
/// ```
/// use telemeter::{Buckets, Registry};
/// let reg = Registry::new();
/// let h = reg.histogram("size_bytes", "Payload sizes.", Buckets::new(vec![100.0, 1000.0])?)?;
/// h.observe(50.0);
/// h.observe_u64(700);
/// h.observe_u64(5000);
/// let snap = h.snapshot();
/// assert_eq!(snap.buckets, vec![1, 1, 1]); // per bucket, not cumulative
/// assert_eq!(snap.count, 3);
/// assert_eq!(snap.sum, 5750.0);
/// # Ok::<(), telemeter::Error>(())
/// ```
#[derive(Debug)]
#[must_use = "a histogram handle records nothing unless it is used"]
pub struct Histogram {
    /// Where the series' slots start (copied out of `series`): a cell per
    /// bucket and one for `+Inf`, then the f64 sum, then the integer sum.
    loc: SlotLoc,
    /// Owns the slots: they are freed when the last reference goes. It
    /// also owns the count of `buckets`' `Arc`.
    series: HandleRef,
    /// The series' bounds, not counted (see [`Series::bounds`]): valid as
    /// long as `series`, never dropped, and copied (not cloned) by `clone`.
    ///
    /// [`Series::bounds`]: crate::series::Series::bounds
    buckets: ManuallyDrop<Buckets>,
}

impl Clone for Histogram {
    #[inline]
    fn clone(&self) -> Histogram {
        Histogram {
            loc: self.loc,
            series: self.series.clone(),
            // SAFETY: an uncounted copy of an uncounted copy, valid as long
            // as the clone's own reference to the same series (see the
            // field's docs).
            buckets: unsafe { std::ptr::read(&self.buckets) },
        }
    }
}

/// A point-in-time view of a histogram.
#[derive(Clone, Debug, PartialEq)]
pub struct HistogramSnapshot {
    /// Observations per bucket (not cumulative); the last is `+Inf`.
    pub buckets: Vec<u64>,
    /// Total observations (the sum of `buckets`).
    pub count: u64,
    /// Sum of observed values.
    pub sum: f64,
}

impl Histogram {
    /// The handle for a histogram series (one made by
    /// [`Series::histogram`](crate::series::Series::histogram)).
    #[inline]
    pub(crate) fn from_series(series: HandleRef) -> Histogram {
        let bounds = series
            .bounds()
            .expect("a histogram family's series carry their bounds");
        Histogram::with_bounds(series, bounds)
    }

    /// As [`Histogram::from_series`], with the bounds copied from the
    /// family's `Buckets` instead of read from the series: the same
    /// allocation (a family's series own counted references to its
    /// bounds), so the copy is as valid as one from the series.
    #[inline(always)]
    pub(crate) fn with_family_buckets(series: HandleRef, family: &Buckets) -> Histogram {
        debug_assert!(series
            .bounds()
            .is_some_and(|b| std::ptr::eq(b.as_ptr(), family.bounds.as_ptr())));
        // SAFETY: an uncounted copy of the `Arc` whose count `series` owns
        // (see above), kept in `ManuallyDrop` as `with_bounds` requires.
        let bounds = ManuallyDrop::new(unsafe { std::ptr::read(&family.bounds) });
        Histogram::with_bounds(series, bounds)
    }

    /// The handle for `series`, given an uncounted copy of its bounds.
    #[inline(always)]
    fn with_bounds(series: HandleRef, bounds: ManuallyDrop<StdArc<[f64]>>) -> Histogram {
        Histogram {
            loc: series.loc(),
            series,
            buckets: ManuallyDrop::new(Buckets {
                bounds: ManuallyDrop::into_inner(bounds),
            }),
        }
    }

    /// Records `v`.
    #[inline]
    pub fn observe(&self, v: f64) {
        let i = self.buckets.index(v);
        let n = self.buckets.bounds.len() + 1;
        let loc = self.loc;
        with_shard(|s| {
            s.inc(loc.at(i));
            s.add_f64(loc.at(n), v);
        });
    }

    /// Records `v` and keeps `labels` (a trace id, say) as the exemplar of
    /// the bucket `v` falls in, with value `v`: served in OpenMetrics and
    /// protobuf scrapes. Each bucket keeps the last exemplar recorded in
    /// it. A label set OpenMetrics refuses (see
    /// [`Histogram::try_observe_with_exemplar`]) is dropped and counted in
    /// `telemeter_exemplars_dropped_total`; the observation is kept.
    ///
    /// ```
    /// use telemeter::{Buckets, Registry};
    /// let reg = Registry::builder().self_metrics(false).build();
    /// let h = reg.histogram("rpc_seconds", "RPC latency.", Buckets::new(vec![0.1, 1.0])?)?;
    /// h.observe_with_exemplar(0.25, &[("trace_id", "abc")]);
    /// let body = reg.encode_openmetrics_to_string();
    /// assert!(body.contains("rpc_seconds_bucket{le=\"1\"} 1 # {trace_id=\"abc\"} 0.25 "));
    /// # Ok::<(), telemeter::Error>(())
    /// ```
    pub fn observe_with_exemplar(&self, v: f64, labels: &[(&str, &str)]) {
        if self.try_observe_with_exemplar(v, labels).is_err() {
            crate::exemplar::DROPPED.fetch_add(1, crate::sync::process::Ordering::Relaxed);
            self.observe(v);
        }
    }

    /// Records `v` with `labels` as its bucket's exemplar, or returns
    /// [`Error::InvalidExemplar`] and records nothing for a label set
    /// OpenMetrics refuses (see
    /// [`Counter::try_add_with_exemplar`](crate::Counter::try_add_with_exemplar)).
    pub fn try_observe_with_exemplar(&self, v: f64, labels: &[(&str, &str)]) -> Result<(), Error> {
        crate::exemplar::check(labels)?;
        let i = self.buckets.index(v);
        let n = self.buckets.bounds.len() + 1;
        self.series.exemplars_or_init(n).record(i, labels, v);
        let loc = self.loc;
        with_shard(|s| {
            s.inc(loc.at(i));
            s.add_f64(loc.at(n), v);
        });
        Ok(())
    }

    /// Records an integer value (milliseconds, bytes). Integer observations
    /// keep an exact integer sum, which stops at a ceiling rather than wrap
    /// (see [`Counter`](crate::Counter)): `_sum` never goes back.
    #[inline]
    pub fn observe_u64(&self, v: u64) {
        let i = self.buckets.index(v as f64);
        let n = self.buckets.bounds.len() + 1;
        let loc = self.loc;
        with_shard(|s| {
            s.inc(loc.at(i));
            s.add(loc.at(n + 1), v);
        });
    }

    /// Records `v` `count` times at once (one bucket add and one sum add,
    /// however large `count` is).
    ///
    /// ```
    /// # let reg = telemeter::Registry::new();
    /// let h = reg.histogram("batch_seconds", "Batch.", telemeter::Buckets::new(vec![0.1, 1.0])?)?;
    /// h.observe_many(0.5, 1_000);
    /// let snap = h.snapshot();
    /// assert_eq!(snap.count, 1_000);
    /// assert_eq!(snap.sum, 500.0);
    /// # Ok::<(), telemeter::Error>(())
    /// ```
    #[inline]
    pub fn observe_many(&self, v: f64, count: u64) {
        let i = self.buckets.index(v);
        let n = self.buckets.bounds.len() + 1;
        let loc = self.loc;
        with_shard(|s| {
            s.add(loc.at(i), count);
            s.add_f64(loc.at(n), v * count as f64);
        });
    }

    /// Starts a timer that observes the elapsed seconds when dropped.
    ///
    /// ```
    /// # let reg = telemeter::Registry::new();
    /// let h = reg.histogram("work_seconds", "Work.", telemeter::Buckets::default())?;
    /// {
    ///     let _timer = h.start_timer();
    ///     // ... work ...
    /// }
    /// assert_eq!(h.snapshot().count, 1);
    /// # Ok::<(), telemeter::Error>(())
    /// ```
    pub fn start_timer(&self) -> HistogramTimer<'_> {
        HistogramTimer {
            histogram: self,
            start: Instant::now(),
            armed: true,
        }
    }

    /// The bucket layout.
    #[must_use]
    pub fn buckets(&self) -> &Buckets {
        &self.buckets
    }

    /// Sums the shards now.
    #[must_use]
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut buckets = vec![0; self.buckets.bounds.len() + 1];
        let sum = self.read_into(&mut buckets);
        HistogramSnapshot {
            count: buckets.iter().fold(0u64, |n, b| n.saturating_add(*b)),
            buckets,
            sum,
        }
    }

    /// Reads the per-bucket counts into `out` (length `bucket_cells()`) and
    /// returns the sum.
    pub(crate) fn read_into(&self, out: &mut [u64]) -> f64 {
        read_at(pool(), self.loc, out)
    }
}

/// Reads a histogram whose slot run starts at `loc`: per-bucket counts into
/// `out` (one per bucket cell), returning the sum.
pub(crate) fn read_at(pool: &Pool, loc: SlotLoc, out: &mut [u64]) -> f64 {
    let (float_sum, int_sum) = pool.sum_histogram(loc, out);
    float_sum + int_sum as f64
}

/// Observes the seconds elapsed since [`Histogram::start_timer`] when
/// dropped.
#[derive(Debug)]
#[must_use = "dropping the timer at once observes an elapsed time of ~0"]
pub struct HistogramTimer<'a> {
    histogram: &'a Histogram,
    start: Instant,
    armed: bool,
}

impl HistogramTimer<'_> {
    /// Observes now and returns the elapsed seconds.
    pub fn observe_duration(mut self) -> f64 {
        self.armed = false;
        let s = self.start.elapsed().as_secs_f64();
        self.histogram.observe(s);
        s
    }

    /// Drops the timer without observing.
    pub fn discard(mut self) {
        self.armed = false;
    }
}

impl Drop for HistogramTimer<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.histogram.observe(self.start.elapsed().as_secs_f64());
        }
    }
}

#[cfg(all(test, not(telemeter_loom)))]
mod tests {
    use super::*;

    #[test]
    fn index_matches_le_semantics_for_scan_and_search() {
        let small = Buckets::new(vec![1.0, 2.0, 3.0]).unwrap();
        let big = Buckets::linear(1.0, 1.0, 40).unwrap();
        for b in [&small, &big] {
            let n = b.bounds().len();
            assert_eq!(b.index(0.5), 0);
            assert_eq!(b.index(1.0), 0, "le is inclusive");
            assert_eq!(b.index(1.5), 1);
            assert_eq!(b.index(f64::NAN), n);
            assert_eq!(b.index(f64::INFINITY), n);
            assert_eq!(b.index(f64::NEG_INFINITY), 0);
            assert_eq!(b.index(1e9), n);
        }
    }

    /// Handles copy the bounds' pointer without counting it: the series
    /// owns one count for as long as it lives, whatever the handles do,
    /// and gives it back when it is freed (after its family and the last
    /// handle are gone).
    #[test]
    fn handles_do_not_count_the_bounds_and_the_series_releases_them() {
        let buckets = Buckets::new(vec![0.5, 1.0, 5.0]).unwrap();
        let base = StdArc::strong_count(&buckets.bounds);
        let b = buckets.clone();
        // On a thread of its own, so that its lookup cache and spare
        // references (which hold the series) are gone after the join.
        std::thread::spawn(move || uses_bounds(b)).join().unwrap();
        assert_eq!(StdArc::strong_count(&buckets.bounds), base);
    }

    fn uses_bounds(buckets: Buckets) {
        let base = StdArc::strong_count(&buckets.bounds);
        let reg = crate::Registry::new();
        let fam = reg
            .histogram_family(
                crate::Opts::new("t_seconds", "T.").labels(&["k"]),
                buckets.clone(),
            )
            .unwrap();
        // The family's layout holds one.
        let with_family = StdArc::strong_count(&buckets.bounds);
        assert_eq!(with_family, base + 1);
        let a = fam.with_label_values(&["a"]).unwrap();
        // The series holds one more; the handle none.
        assert_eq!(StdArc::strong_count(&buckets.bounds), with_family + 1);
        let clones: Vec<Histogram> = (0..10).map(|_| a.clone()).collect();
        let again = fam.with_label_values(&["a"]).unwrap();
        fam.with(&["a"], |h| h.observe(0.7)).unwrap();
        // A clone of a borrowed handle owns a series reference, and its
        // bounds are valid through it alone.
        let kept = fam.with(&["b"], Histogram::clone).unwrap();
        assert_eq!(StdArc::strong_count(&buckets.bounds), with_family + 2);
        assert_eq!(a.buckets(), &buckets);
        drop(clones);
        drop(again);
        drop(reg);
        drop(fam);
        // The handle outlives its family and still has its bounds.
        a.observe(3.0);
        assert_eq!(a.buckets().bounds(), &[0.5, 1.0, 5.0]);
        assert_eq!(a.snapshot().buckets, vec![0, 1, 1, 0]);
        kept.observe(9.0);
        assert_eq!(kept.buckets().bounds(), &[0.5, 1.0, 5.0]);
        assert_eq!(kept.snapshot().buckets, vec![0, 0, 0, 1]);
        drop(a);
        drop(kept);
        // The thread's cache entries and spares still hold both series.
        assert_eq!(StdArc::strong_count(&buckets.bounds), base + 2);
    }

    #[test]
    fn layouts_are_validated() {
        let msg = |r: Result<Buckets, Error>| r.unwrap_err().to_string();
        assert!(msg(Buckets::new(vec![])).contains("no bucket bounds"));
        assert!(msg(Buckets::new(vec![1.0, f64::NAN])).contains("NaN"));
        assert!(msg(Buckets::new(vec![1.0, 1.0])).contains("twice"));
        assert!(msg(Buckets::new(vec![2.0, 1.0])).contains("not sorted"));
        assert!(msg(Buckets::new(vec![f64::NEG_INFINITY, 1.0])).contains("infinite"));
        assert!(msg(Buckets::linear(0.0, 0.0, 3)).contains("width"));
        assert!(msg(Buckets::linear(0.0, 1.0, 0)).contains("count"));
        assert!(msg(Buckets::exponential(0.0, 2.0, 3)).contains("start"));
        assert!(msg(Buckets::exponential(1.0, 1.0, 3)).contains("factor"));
        assert!(msg(Buckets::new(vec![0.0; MAX_BUCKETS + 1])).contains("maximum"));
        assert_eq!(
            Buckets::new(vec![1.0, f64::INFINITY]).unwrap().bounds(),
            &[1.0]
        );
    }
}
