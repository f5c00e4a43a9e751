//! Gauges: one atomic per series, last writer wins.
#![forbid(unsafe_code)]

use crate::handle::HandleRef;
use crate::sync::Ordering;

/// An integer gauge: a value that goes up and down.
///
/// A gauge is not sharded: `set` is last-writer-wins, so it is one atomic
/// per series and `inc`/`dec`/`add`/`sub` are `fetch_add`s on it. Those
/// wrap at the ends of the `i64` range, as `i64::wrapping_add` does
/// (`i64::MAX` plus one reads `i64::MIN`): a gauge that can get there
/// should be `set`, not stepped.
///
/// # Examples
///
/// ```
/// let reg = telemeter::Registry::new();
/// let queue = reg.gauge("queue_length", "Items waiting.")?;
/// queue.set(10);
/// queue.inc();
/// queue.sub(3);
/// assert_eq!(queue.get(), 8);
/// # Ok::<(), telemeter::Error>(())
/// ```
#[derive(Clone, Debug)]
#[must_use = "a gauge handle records nothing unless it is used"]
pub struct Gauge {
    series: HandleRef,
}

impl Gauge {
    #[inline]
    pub(crate) fn from_series(series: HandleRef) -> Gauge {
        Gauge { series }
    }

    /// Sets the value.
    #[inline]
    pub fn set(&self, v: i64) {
        self.series.value().store(v as u64, Ordering::Relaxed);
    }

    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        self.add(1);
    }

    /// Subtracts one.
    #[inline]
    pub fn dec(&self) {
        self.sub(1);
    }

    /// Adds `v` (wrapping on overflow).
    #[inline]
    pub fn add(&self, v: i64) {
        self.series.value().fetch_add(v as u64, Ordering::Relaxed);
    }

    /// Subtracts `v` (wrapping on overflow).
    #[inline]
    pub fn sub(&self, v: i64) {
        self.series.value().fetch_sub(v as u64, Ordering::Relaxed);
    }

    /// The current value.
    #[must_use]
    pub fn get(&self) -> i64 {
        self.series.value().load(Ordering::Relaxed) as i64
    }
}

/// A floating-point gauge.
///
/// # Examples
///
/// ```
/// let reg = telemeter::Registry::new();
/// let temp = reg.float_gauge("temperature_celsius", "Board temperature.")?;
/// temp.set(20.5);
/// temp.add(1.0);
/// temp.sub(0.5);
/// assert_eq!(temp.get(), 21.0);
/// # Ok::<(), telemeter::Error>(())
/// ```
#[derive(Clone, Debug)]
#[must_use = "a gauge handle records nothing unless it is used"]
pub struct FloatGauge {
    series: HandleRef,
}

impl FloatGauge {
    #[inline]
    pub(crate) fn from_series(series: HandleRef) -> FloatGauge {
        FloatGauge { series }
    }

    /// Sets the value.
    #[inline]
    pub fn set(&self, v: f64) {
        self.series.value().store(v.to_bits(), Ordering::Relaxed);
    }

    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        self.add(1.0);
    }

    /// Subtracts one.
    #[inline]
    pub fn dec(&self) {
        self.add(-1.0);
    }

    /// Adds `v` (a compare-and-swap loop: concurrent adds are never lost).
    #[inline]
    pub fn add(&self, v: f64) {
        let mut cur = self.series.value().load(Ordering::Relaxed);
        loop {
            let new = (f64::from_bits(cur) + v).to_bits();
            match self.series.value().compare_exchange_weak(
                cur,
                new,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Subtracts `v`.
    #[inline]
    pub fn sub(&self, v: f64) {
        self.add(-v);
    }

    /// The current value.
    #[must_use]
    pub fn get(&self) -> f64 {
        f64::from_bits(self.series.value().load(Ordering::Relaxed))
    }
}
