//! The handles the facade hands the `metrics` macros: telemeter handles
//! behind the facade's handle traits, so a facade call records into the
//! calling thread's shard like a telemeter call does.
#![forbid(unsafe_code)]

use std::sync::Mutex;

use metrics::{CounterFn, GaugeFn, HistogramFn};

use crate::sync::lock;
use crate::{Counter, FloatGauge, Histogram, NativeHistogram};

/// Serialises [`CounterFn::absolute`] calls (rare: they mirror a total
/// kept elsewhere), so that two of them never both add the same gap.
static ABSOLUTE: Mutex<()> = Mutex::new(());

/// A facade counter: a telemeter [`Counter`].
#[derive(Debug)]
pub(super) struct FacadeCounter(pub(super) Counter);

impl CounterFn for FacadeCounter {
    #[inline]
    fn increment(&self, value: u64) {
        self.0.add(value);
    }

    /// Raises the total to `value` if it is below (a counter never goes
    /// back): the gap is added on this thread's shard. Increments that
    /// race with it are kept on top, so the total ends at least `value`.
    fn absolute(&self, value: u64) {
        let _one_at_a_time = lock(&ABSOLUTE);
        let now = self.0.get();
        if value > now {
            self.0.add(value - now);
        }
    }
}

/// A facade gauge: a telemeter [`FloatGauge`] (the facade's gauges are
/// `f64`): last writer wins for `set`, and concurrent increments are never
/// lost.
#[derive(Debug)]
pub(super) struct FacadeGauge(pub(super) FloatGauge);

impl GaugeFn for FacadeGauge {
    #[inline]
    fn increment(&self, value: f64) {
        self.0.add(value);
    }

    #[inline]
    fn decrement(&self, value: f64) {
        self.0.sub(value);
    }

    #[inline]
    fn set(&self, value: f64) {
        self.0.set(value);
    }
}

/// A facade histogram: a telemeter [`Histogram`] with the buckets the
/// facade chose for its name.
#[derive(Debug)]
pub(super) struct FacadeHistogram(pub(super) Histogram);

impl HistogramFn for FacadeHistogram {
    #[inline]
    fn record(&self, value: f64) {
        self.0.observe(value);
    }

    #[inline]
    fn record_many(&self, value: f64, count: usize) {
        self.0.observe_many(value, count as u64);
    }
}

/// A facade histogram with native buckets
/// ([`FacadeBuilder::native_for`](super::FacadeBuilder::native_for)).
#[derive(Debug)]
pub(super) struct FacadeNative(pub(super) NativeHistogram);

impl HistogramFn for FacadeNative {
    #[inline]
    fn record(&self, value: f64) {
        self.0.observe(value);
    }

    #[inline]
    fn record_many(&self, value: f64, count: usize) {
        self.0.observe_many(value, count as u64);
    }
}
