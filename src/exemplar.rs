//! Exemplars: a trace id (or any small label set) attached to one
//! observation, kept per counter series and per histogram bucket, last
//! writer wins, and written by the OpenMetrics and protobuf encoders.
//!
//! A series holds a pointer to its records, null until its first exemplar
//! ([`Exemplars`]): a series that never gets one pays that pointer and
//! nothing else, and recording without an exemplar touches none of this.
//! Recording with one validates the labels, takes the cell's mutex
//! (uncontended but for a scrape copying that same cell out), writes the
//! rendered labels into the cell's kept `String` (no allocation once it has
//! held a label set that long), the value and the time.
#![forbid(unsafe_code)]

use std::time::{SystemTime, UNIX_EPOCH};

use crate::encode::layout::push_pairs;
use crate::error::Error;
use crate::names::check_label_name;
use crate::sync::exemplar::Mutex;
use crate::sync::process;

/// The most UTF-8 characters an exemplar's label names and values may
/// hold together (OpenMetrics 1.0).
pub const MAX_EXEMPLAR_CHARS: usize = 128;

/// Exemplars refused by the plain recording forms (a bad label set), in
/// this process; exposed as `telemeter_exemplars_dropped_total`.
pub(crate) static DROPPED: process::AtomicU64 = process::AtomicU64::new(0);

/// Exemplars refused so far, process-wide.
pub(crate) fn dropped() -> u64 {
    DROPPED.load(process::Ordering::Relaxed)
}

/// One exemplar.
#[derive(Debug, Default)]
pub(crate) struct Record {
    /// `{name="value",...}`, values escaped; empty while no exemplar has
    /// been recorded in this cell.
    pub(crate) labels: String,
    /// The observation's value (a counter's increment, a histogram's
    /// observed value).
    pub(crate) value: f64,
    /// When it was recorded, in seconds since the Unix epoch.
    pub(crate) timestamp: f64,
}

/// A series' exemplar cells: one for a counter, one per bucket (`+Inf`
/// last) for a histogram.
#[derive(Debug)]
pub(crate) struct Exemplars {
    cells: Box<[Mutex<Record>]>,
}

impl Exemplars {
    /// `n` empty cells.
    pub(crate) fn new(n: usize) -> Exemplars {
        Exemplars {
            cells: (0..n).map(|_| Mutex::new(Record::default())).collect(),
        }
    }

    /// Replaces cell `i`'s exemplar (labels already checked by
    /// [`check`]).
    pub(crate) fn record(&self, i: usize, labels: &[(&str, &str)], value: f64) {
        let Some(cell) = self.cells.get(i) else {
            return;
        };
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let mut r = cell.lock().unwrap_or_else(|e| e.into_inner());
        r.labels.clear();
        render(&mut r.labels, labels);
        r.value = value;
        r.timestamp = timestamp;
    }

    /// Calls `f` with cell `i`'s exemplar, if one was recorded.
    #[inline]
    pub(crate) fn with<R>(&self, i: usize, f: impl FnOnce(&Record) -> R) -> Option<R> {
        let cell = self.cells.get(i)?;
        let r = cell.lock().unwrap_or_else(|e| e.into_inner());
        (!r.labels.is_empty()).then(|| f(&r))
    }
}

/// `{a="x",b="y"}` (an empty label set renders as `{}`).
fn render(out: &mut String, labels: &[(&str, &str)]) {
    out.push('{');
    push_pairs(out, labels.iter().copied());
    out.push('}');
}

/// Checks an exemplar's label set: valid, distinct names, at most
/// [`MAX_EXEMPLAR_CHARS`] characters of names and values.
pub(crate) fn check(labels: &[(&str, &str)]) -> Result<(), Error> {
    let mut chars = 0;
    for (i, (name, value)) in labels.iter().enumerate() {
        check_label_name(name).map_err(|e| Error::InvalidExemplar {
            reason: format!("label name {name:?}: {e}"),
        })?;
        if labels[..i].iter().any(|(n, _)| n == name) {
            return Err(Error::InvalidExemplar {
                reason: format!("label {name:?} appears twice"),
            });
        }
        chars += name.chars().count() + value.chars().count();
    }
    if chars > MAX_EXEMPLAR_CHARS {
        return Err(Error::InvalidExemplar {
            reason: format!(
                "its labels hold {chars} characters, over OpenMetrics' limit of \
                 {MAX_EXEMPLAR_CHARS}"
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_sets_are_checked_as_openmetrics_requires() {
        assert!(check(&[("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736")]).is_ok());
        assert!(check(&[]).is_ok());
        let long = "x".repeat(MAX_EXEMPLAR_CHARS - 1);
        assert!(check(&[("a", &long)]).is_ok());
        let err = check(&[("ab", &long)]).unwrap_err();
        assert!(err.to_string().contains("129 characters"), "{err}");
        // Characters, not bytes: 127 two-byte characters and a name fit.
        let wide = "é".repeat(MAX_EXEMPLAR_CHARS - 1);
        assert!(check(&[("a", &wide)]).is_ok());
        assert!(matches!(
            check(&[("trace-id", "x")]),
            Err(Error::InvalidExemplar { .. })
        ));
        assert!(check(&[("a", "1"), ("a", "2")])
            .unwrap_err()
            .to_string()
            .contains("twice"));
    }

    #[test]
    fn the_last_writer_wins_and_values_are_escaped() {
        let ex = Exemplars::new(2);
        assert!(ex.with(0, |_| ()).is_none());
        ex.record(0, &[("trace_id", "a")], 1.0);
        ex.record(0, &[("trace_id", "b\"\n")], 2.5);
        let (labels, value, ts) = ex
            .with(0, |r| (r.labels.clone(), r.value, r.timestamp))
            .unwrap();
        assert_eq!(labels, r#"{trace_id="b\"\n"}"#);
        assert_eq!(value, 2.5);
        assert!(ts > 1.6e9, "{ts}");
        assert!(ex.with(1, |_| ()).is_none());
        assert!(ex.with(7, |_| ()).is_none());
        ex.record(7, &[], 1.0); // out of range: ignored
    }
}
