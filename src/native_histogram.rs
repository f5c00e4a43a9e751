//! Native histograms: Prometheus' sparse exponential buckets, recorded on
//! the calling thread's shard like every other metric, and served as a
//! native histogram in protobuf scrapes and as a classic one (power-of-two
//! buckets derived from the same cells) in text and OpenMetrics.
//!
//! A series keeps a fixed run of cells: the zero bucket, one cell per
//! bucket index of its [`NativeBuckets`] range, and the two sums that a
//! classic histogram has, so `observe` computes its cell (the
//! `native::bucket_index` of the value: frexp and one table read) and adds
//! to it, with no search, no lock and no allocation. Values outside the
//! range are clamped to its edge buckets (below the lowest bucket into
//! the lowest, above the highest into the highest; negative values and NaN
//! into the zero bucket) and counted in
//! `telemeter_native_observations_clamped_total`: the count stays exact, the
//! bucket of those values does not.
//!
//! The classic view: at schema `s > 0` each run of `2^s` buckets ends on a
//! power of two, at `s <= 0` every bucket does, so the cumulative counts at
//! those bounds are exact sums of native cells. A server without native
//! histograms (or any 0.0.4 scraper) gets `_bucket{le}` at the zero
//! threshold and at each of those bounds: a real histogram, at no cost to
//! recording.
#![forbid(unsafe_code)]

use crate::handle::HandleRef;
use crate::native::{bucket_index, bucket_upper_bound, MAX_SCHEMA, MIN_SCHEMA};
use crate::shard::{pool, with_shard, SlotLoc, MAX_RUN};
use crate::sync::process;
use crate::sync::StdArc;
use crate::Error;

/// The most buckets a native histogram series holds (besides its zero
/// bucket): its cells are one slot run, which also holds the zero bucket
/// and the two sums.
pub const MAX_NATIVE_BUCKETS: usize = MAX_RUN - 4;

/// Observations clamped into an edge bucket, process-wide; exposed as
/// `telemeter_native_observations_clamped_total`.
static CLAMPED: process::AtomicU64 = process::AtomicU64::new(0);

/// Observations clamped so far, process-wide.
pub(crate) fn clamped() -> u64 {
    CLAMPED.load(process::Ordering::Relaxed)
}

fn invalid(reason: impl Into<String>) -> Error {
    Error::InvalidBuckets {
        reason: reason.into(),
    }
}

/// The bucket layout of a native histogram: its schema (the resolution:
/// bucket bounds grow by `2^(2^-schema)`), its zero bucket's threshold,
/// and the range of values it has buckets for.
///
/// The default is schema 3 (bounds `2^(1/8)` ≈ 1.09 apart: a quantile
/// within 9.05 % of the truth), a zero threshold of `2^-128` (client_golang's
/// default) and buckets from `2^-16` (15 µs, in seconds) to `2^16`
/// (65,536): 264 buckets, 2,136 bytes per series per recording thread's
/// shard ([`NativeBuckets::bytes_per_shard`]). Schemas up to 4 default to
/// the same range; each finer one to half the doublings of the one below
/// (schema 8: 0.5 to 2), since a series holds at most 1,020 buckets.
///
/// ```
/// use telemeter::NativeBuckets;
/// let b = NativeBuckets::default();
/// assert_eq!((b.schema(), b.buckets()), (3, 264));
/// assert_eq!(b.bytes_per_shard(), 2136);
/// // Finer, over a narrower range: milliseconds to a minute, in seconds.
/// let fine = NativeBuckets::new(5)?.range(0.001, 60.0)?;
/// assert_eq!(fine.schema(), 5);
/// assert!(NativeBuckets::new(9).is_err());
/// # Ok::<(), telemeter::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct NativeBuckets {
    layout: NativeLayout,
    /// The classic view's finite bounds: the zero threshold, then each
    /// power-of-two group's upper bound.
    classic: StdArc<[f64]>,
}

/// What a handle needs to record: copied into it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct NativeLayout {
    pub(crate) schema: i8,
    /// The lowest bucket index with a cell.
    pub(crate) min_index: i32,
    /// Bucket cells after the zero bucket's.
    pub(crate) n: u32,
    pub(crate) zero_threshold: f64,
}

impl NativeLayout {
    /// The cell `v` is counted in (the zero bucket 0, bucket index
    /// `min_index + k` at `1 + k`; out of range, the edge, counted), and
    /// the float sum's cell.
    #[inline(always)]
    fn cells(&self, v: f64) -> (usize, usize) {
        let cell = if v > self.zero_threshold {
            let k = bucket_index(v, self.schema) - self.min_index;
            if k < 0 || k >= self.n as i32 {
                clamp(k, self.n)
            } else {
                1 + k as usize
            }
        } else {
            // NaN and negative values past the zero bucket clamp into it.
            if v.is_nan() || v < -self.zero_threshold {
                CLAMPED.fetch_add(1, process::Ordering::Relaxed);
            }
            0
        };
        (cell, self.n as usize + 1)
    }
}

impl Default for NativeBuckets {
    fn default() -> NativeBuckets {
        NativeBuckets::new(Self::DEFAULT_SCHEMA).expect("the default schema is valid")
    }
}

impl NativeBuckets {
    /// The default schema: bounds `2^(1/8)` apart.
    pub const DEFAULT_SCHEMA: i8 = 3;
    /// client_golang's default zero threshold, `2^-128`.
    pub const DEFAULT_ZERO_THRESHOLD: f64 = 2.938_735_877_055_719e-39;

    /// Buckets at `schema` (−4 to 8) over the default range.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidBuckets`] for a schema outside −4..=8.
    pub fn new(schema: i8) -> Result<NativeBuckets, Error> {
        if !(MIN_SCHEMA..=MAX_SCHEMA).contains(&schema) {
            return Err(invalid(format!(
                "native histogram schema {schema} is outside {MIN_SCHEMA}..={MAX_SCHEMA}"
            )));
        }
        // 32 doublings around 1 up to schema 4 (at most 528 buckets);
        // half as many per finer schema, to stay within a series' cells.
        let half = 16 >> (schema.max(4) - 4);
        NativeBuckets::build(
            schema,
            2f64.powi(-half),
            2f64.powi(half),
            Self::DEFAULT_ZERO_THRESHOLD,
        )
    }

    /// Buckets for values from `lowest` to `highest` (both positive and
    /// finite, `lowest < highest`), rounded out to whole power-of-two
    /// groups.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidBuckets`] for a bad range, or one that needs more
    /// than [`MAX_NATIVE_BUCKETS`] buckets at this schema: narrow it or
    /// lower the schema.
    pub fn range(self, lowest: f64, highest: f64) -> Result<NativeBuckets, Error> {
        NativeBuckets::build(
            self.layout.schema,
            lowest,
            highest,
            self.layout.zero_threshold,
        )
    }

    /// The zero bucket's threshold: observations with `|v| <= threshold`
    /// count there (finite, not negative, below the lowest bucket).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidBuckets`] for a negative, NaN or infinite threshold,
    /// or one not below the lowest bucket's upper bound.
    pub fn zero_threshold(self, threshold: f64) -> Result<NativeBuckets, Error> {
        if !(threshold.is_finite() && threshold >= 0.0) {
            return Err(invalid(format!(
                "zero threshold {threshold} is not a finite, non-negative number"
            )));
        }
        let lowest = bucket_upper_bound(self.layout.min_index, self.layout.schema);
        if threshold >= lowest {
            return Err(invalid(format!(
                "zero threshold {threshold} is not below the lowest bucket's upper bound {lowest}: lower \
                 it, or start the range higher"
            )));
        }
        let mut b = self;
        b.layout.zero_threshold = threshold;
        b.classic = classic_bounds(&b.layout).into();
        Ok(b)
    }

    fn build(
        schema: i8,
        lowest: f64,
        highest: f64,
        zero_threshold: f64,
    ) -> Result<NativeBuckets, Error> {
        if !(lowest.is_finite() && highest.is_finite() && lowest > 0.0 && lowest < highest) {
            return Err(invalid(format!(
                "native histogram range {lowest}..{highest} must be positive and finite, lowest first"
            )));
        }
        let stride = stride(schema);
        // Whole groups: the lowest index just above a group's end, the
        // highest on one.
        let lo = bucket_index(lowest, schema);
        let hi = bucket_index(highest, schema);
        let min_index = (lo - 1).div_euclid(stride) * stride + 1;
        let max_index = hi.div_euclid(stride) * stride
            + if hi.rem_euclid(stride) == 0 {
                0
            } else {
                stride
            };
        let n = (max_index - min_index + 1) as usize;
        if n > MAX_NATIVE_BUCKETS {
            return Err(invalid(format!(
                "the range {lowest}..{highest} needs {n} buckets at schema {schema}, over the most a \
                 series holds ({MAX_NATIVE_BUCKETS}): narrow the range or lower the schema"
            )));
        }
        let layout = NativeLayout {
            schema,
            min_index,
            n: n as u32,
            zero_threshold,
        };
        if zero_threshold >= bucket_upper_bound(min_index, schema) {
            return Err(invalid("the zero threshold is not below the lowest bucket"));
        }
        Ok(NativeBuckets {
            classic: classic_bounds(&layout).into(),
            layout,
        })
    }

    /// The schema.
    #[must_use]
    pub fn schema(&self) -> i8 {
        self.layout.schema
    }

    /// The bound on the relative error of any quantile PromQL's
    /// `histogram_quantile` estimates from this layout (inside the
    /// buckets' range): `2^(2^-schema) - 1`, 9.05 % at schema 3.
    ///
    /// ```
    /// let e = telemeter::NativeBuckets::default().max_relative_error();
    /// assert!((e - 0.0905).abs() < 1e-4);
    /// ```
    #[must_use]
    pub fn max_relative_error(&self) -> f64 {
        crate::native::max_relative_error(self.layout.schema)
    }

    /// Buckets with a cell of their own (the zero bucket aside).
    #[must_use]
    pub fn buckets(&self) -> usize {
        self.layout.n as usize
    }

    /// The lowest and highest bucket upper bounds.
    #[must_use]
    pub fn bounds(&self) -> (f64, f64) {
        let l = &self.layout;
        (
            bucket_upper_bound(l.min_index, l.schema),
            bucket_upper_bound(l.min_index + l.n as i32 - 1, l.schema),
        )
    }

    /// Memory per series per shard (each recording thread has one): 8
    /// bytes per bucket, the zero bucket and the two sums.
    #[must_use]
    pub fn bytes_per_shard(&self) -> usize {
        8 * (self.layout.n as usize + 3)
    }

    /// The classic view's finite bounds (see the module docs).
    pub(crate) fn classic(&self) -> &[f64] {
        &self.classic
    }

    pub(crate) fn layout(&self) -> NativeLayout {
        self.layout
    }
}

/// Native bucket indexes per classic group: `2^schema` above 0, else 1.
fn stride(schema: i8) -> i32 {
    if schema > 0 {
        1 << schema
    } else {
        1
    }
}

/// The zero threshold, then each group's upper bound.
fn classic_bounds(l: &NativeLayout) -> Vec<f64> {
    let stride = stride(l.schema);
    std::iter::once(l.zero_threshold)
        .chain(
            (0..l.n as i32 / stride)
                .map(|g| bucket_upper_bound(l.min_index + (g + 1) * stride - 1, l.schema)),
        )
        .collect()
}

/// Sums native `cells` (zero bucket first) into the classic view's
/// buckets `out` (zero bucket, groups, `+Inf`), not cumulative.
pub(crate) fn classic_from_cells(l: &NativeLayout, cells: &[u64], out: &mut [u64]) {
    out.iter_mut().for_each(|c| *c = 0);
    let stride = stride(l.schema) as usize;
    if let (Some(zero), Some(first)) = (cells.first(), out.first_mut()) {
        *first = *zero;
    }
    for (k, c) in cells.iter().skip(1).enumerate() {
        if let Some(o) = out.get_mut(1 + k / stride) {
            *o = o.saturating_add(*c);
        }
    }
}

/// A native histogram series' handle: see the module docs.
///
/// ```
/// use telemeter::{NativeBuckets, Registry};
/// let reg = Registry::builder().self_metrics(false).build();
/// let h = reg.native_histogram("rpc_seconds", "RPC latency.", NativeBuckets::default())?;
/// h.observe(0.25);
/// h.observe(0.3);
/// let snap = h.snapshot();
/// assert_eq!((snap.count, snap.sum), (2, 0.55));
/// // 0.25 = 2^-2 is bucket -16 at schema 3 (upper bounds inclusive); 0.3 is in -13.
/// assert_eq!(snap.buckets, vec![(-16, 1), (-13, 1)]);
/// // Text scrapes get the classic view, power-of-two bounds.
/// assert!(reg.encode_to_string().contains("rpc_seconds_bucket{le=\"0.5\"} 2\n"));
/// # Ok::<(), telemeter::Error>(())
/// ```
#[derive(Clone, Debug)]
#[must_use = "a histogram handle records nothing unless it is used"]
pub struct NativeHistogram {
    loc: SlotLoc,
    layout: NativeLayout,
    /// Owns the cells.
    #[allow(dead_code)] // held, never read
    series: HandleRef,
}

/// A point-in-time view of a native histogram.
#[derive(Clone, Debug, PartialEq)]
pub struct NativeSnapshot {
    /// The schema.
    pub schema: i8,
    /// Observations in the zero bucket.
    pub zero_count: u64,
    /// The non-empty buckets: (index, count), bucket `i` holding the values
    /// in `(2^((i-1)·2^-schema), 2^(i·2^-schema)]`.
    pub buckets: Vec<(i32, u64)>,
    /// Every observation.
    pub count: u64,
    /// Their sum (NaN observations left out).
    pub sum: f64,
}

impl NativeHistogram {
    pub(crate) fn new(series: HandleRef, buckets: &NativeBuckets) -> NativeHistogram {
        NativeHistogram {
            loc: series.loc(),
            layout: buckets.layout,
            series,
        }
    }

    /// Records `v`.
    #[inline]
    pub fn observe(&self, v: f64) {
        let (cell, sum) = self.layout.cells(v);
        let loc = self.loc;
        with_shard(|s| {
            s.inc(loc.at(cell));
            if !v.is_nan() {
                s.add_f64(loc.at(sum), v);
            }
        });
    }

    /// Records `v` `count` times at once (one bucket add and one sum add).
    #[inline]
    pub fn observe_many(&self, v: f64, count: u64) {
        let (cell, sum) = self.layout.cells(v);
        let loc = self.loc;
        with_shard(|s| {
            s.add(loc.at(cell), count);
            if !v.is_nan() {
                s.add_f64(loc.at(sum), v * count as f64);
            }
        });
    }

    /// Sums the shards now.
    #[must_use]
    pub fn snapshot(&self) -> NativeSnapshot {
        let l = &self.layout;
        let mut cells = vec![0u64; l.n as usize + 1];
        let (sum, _) = pool().sum_histogram(self.loc, &mut cells);
        NativeSnapshot {
            schema: l.schema,
            zero_count: cells[0],
            count: cells.iter().fold(0u64, |n, c| n.saturating_add(*c)),
            buckets: cells[1..]
                .iter()
                .enumerate()
                .filter(|(_, c)| **c > 0)
                .map(|(k, c)| (l.min_index + k as i32, *c))
                .collect(),
            sum,
        }
    }
}

/// The edge cell for a bucket offset `k` outside `0..n`, counted.
#[cold]
fn clamp(k: i32, n: u32) -> usize {
    CLAMPED.fetch_add(1, process::Ordering::Relaxed);
    if k < 0 {
        1
    } else {
        n as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_round_out_to_whole_groups_and_refuse_what_does_not_fit() {
        let b = NativeBuckets::default();
        // 2^-16 is bucket -128's upper bound: its group, -135..=-128, is
        // the lowest.
        assert_eq!(b.layout.min_index, -135);
        assert_eq!(b.buckets(), 264);
        assert_eq!(b.bounds(), (2f64.powf(-135.0 / 8.0), 65536.0));
        assert_eq!(b.classic().len(), 1 + 33);
        assert_eq!(b.classic()[1], 2f64.powi(-16));
        let narrow = NativeBuckets::new(3).unwrap().range(0.3, 3.0).unwrap();
        // 0.3 is in group (0.25, 0.5], 3 in (2, 4].
        assert_eq!(narrow.classic()[1..], [0.5, 1.0, 2.0, 4.0]);
        assert_eq!(narrow.buckets(), 32);
        assert!(NativeBuckets::new(8).unwrap().range(1e-9, 1e9).is_err());
        assert!(NativeBuckets::new(3).unwrap().range(2.0, 1.0).is_err());
        assert!(NativeBuckets::new(3).unwrap().range(0.0, 1.0).is_err());
        for s in MIN_SCHEMA..=MAX_SCHEMA {
            let b = NativeBuckets::new(s).unwrap();
            assert!(b.buckets() + 4 <= MAX_RUN, "{s}");
            let c = b.classic();
            assert!(c.windows(2).all(|w| w[0] < w[1]), "{s}: {c:?}");
        }
        assert!(NativeBuckets::default().zero_threshold(1.0).is_err());
        assert!(NativeBuckets::default().zero_threshold(-1.0).is_err());
        assert_eq!(
            NativeBuckets::default()
                .zero_threshold(1e-9)
                .unwrap()
                .classic()[0],
            1e-9
        );
    }

    #[test]
    fn cells_sum_into_the_classic_view() {
        let l = NativeBuckets::new(3)
            .unwrap()
            .range(0.3, 3.0)
            .unwrap()
            .layout;
        let mut cells = vec![0u64; l.n as usize + 1];
        cells[0] = 2;
        cells[1] = 1; // first bucket of group 0
        cells[8] = 4; // last bucket of group 0
        cells[9] = 3; // group 1
        cells[32] = 5; // last bucket: group 3
        let mut out = vec![9; 1 + 4 + 1];
        classic_from_cells(&l, &cells, &mut out);
        assert_eq!(out, [2, 5, 3, 0, 5, 0]);
    }
}
