//! State sets: OpenMetrics' `stateset` type, a series per label set whose
//! value is which of a fixed list of states hold (an enum: one; a bitset:
//! any). A series stores the states as one bit mask in a gauge's atomic
//! word, so a change is one store and a scrape never sees a state set
//! half changed; the scrape writes one sample per state, labelled with the
//! family's own name (`breaker_state{breaker="nats",breaker_state="open"} 1`),
//! as OpenMetrics requires and as a 0.0.4 gauge.
#![forbid(unsafe_code)]

use crate::handle::HandleRef;
use crate::sync::{Ordering, StdArc};
use crate::Error;

/// The most states a state set may list: one bit each of a 64-bit word.
pub const MAX_STATES: usize = 64;

/// A state set's states, in order, shared by the family and its handles.
/// (`pub` only to be named in `Layout`: the module is private.)
#[derive(Clone, Debug, PartialEq)]
#[doc(hidden)]
pub struct States(pub(crate) StdArc<[Box<str>]>);

impl States {
    /// Checks and keeps `states`: 1 to [`MAX_STATES`], distinct.
    pub(crate) fn new(family: &str, states: &[&str]) -> Result<States, Error> {
        let bad = |reason: String| Error::InvalidStateSet {
            family: family.into(),
            reason,
        };
        if states.is_empty() || states.len() > MAX_STATES {
            return Err(bad(format!(
                "{} states given, and a state set lists 1 to {MAX_STATES}",
                states.len()
            )));
        }
        for (i, s) in states.iter().enumerate() {
            if states[..i].contains(s) {
                return Err(bad(format!("state {s:?} is listed twice")));
            }
        }
        Ok(States(states.iter().map(|s| Box::from(*s)).collect()))
    }
}

/// A state set series' handle.
///
/// ```
/// use telemeter::{Opts, Registry};
/// let reg = Registry::builder().self_metrics(false).build();
/// let breakers = reg.state_set_family(
///     Opts::new("breaker_state", "Circuit breakers.").labels(&["breaker"]),
///     &["closed", "open", "half_open"],
/// )?;
/// breakers.with(&["nats"], |b| b.set("open"))??;
/// let body = reg.encode_openmetrics_to_string();
/// assert!(body.contains("# TYPE breaker_state stateset\n"));
/// assert!(body.contains("breaker_state{breaker=\"nats\",breaker_state=\"open\"} 1\n"));
/// assert!(body.contains("breaker_state{breaker=\"nats\",breaker_state=\"closed\"} 0\n"));
/// # Ok::<(), telemeter::Error>(())
/// ```
#[derive(Clone, Debug)]
#[must_use = "a state set handle records nothing unless it is used"]
pub struct StateSet {
    series: HandleRef,
    states: StdArc<[Box<str>]>,
}

impl StateSet {
    pub(crate) fn new(series: HandleRef, states: &States) -> StateSet {
        StateSet {
            series,
            states: StdArc::clone(&states.0),
        }
    }

    /// Makes `state` the one state that holds (an enum).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidStateSet`] for a state the family does not list;
    /// nothing changes.
    pub fn set(&self, state: &str) -> Result<(), Error> {
        let i = self.index(state)?;
        self.set_index(i);
        Ok(())
    }

    /// Makes state number `i` (in the order listed) the one that holds; an
    /// index past the list makes none hold.
    #[inline]
    pub fn set_index(&self, i: usize) {
        let mask = if i < self.states.len() { 1u64 << i } else { 0 };
        self.series.value().store(mask, Ordering::Relaxed);
    }

    /// Sets which states hold at once (a bitset): bit `i` for state `i`;
    /// bits past the list are ignored.
    #[inline]
    pub fn set_mask(&self, mask: u64) {
        let all = u64::MAX >> (64 - self.states.len());
        self.series.value().store(mask & all, Ordering::Relaxed);
    }

    /// The states that hold, as a mask (bit `i` for state `i`).
    #[must_use]
    pub fn mask(&self) -> u64 {
        self.series.value().load(Ordering::Relaxed)
    }

    /// Whether `state` holds.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidStateSet`] for a state the family does not list.
    pub fn is(&self, state: &str) -> Result<bool, Error> {
        Ok(self.mask() >> self.index(state)? & 1 == 1)
    }

    fn index(&self, state: &str) -> Result<usize, Error> {
        self.states
            .iter()
            .position(|s| &**s == state)
            .ok_or_else(|| Error::InvalidStateSet {
                family: String::new(),
                reason: format!(
                    "{state:?} is not one of its states ({})",
                    self.states.join(", ")
                ),
            })
    }
}
