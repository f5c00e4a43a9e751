//! Scrape-time callback families: a closure emits samples into a
//! [`CallbackSink`] while the collector walks the registry.
#![forbid(unsafe_code)]

use std::collections::HashSet;
use std::fmt;
use std::hash::{BuildHasher, Hasher};

use crate::encode::layout::{render_prefix, Variant};
use crate::encode::Kind;

pub(crate) type CallbackFn = dyn Fn(&mut CallbackSink<'_>) + Send + Sync;

/// A family whose samples a closure produces at scrape time.
pub(crate) struct CallbackFamily {
    pub(crate) name: String,
    label_names: Box<[String]>,
    pub(crate) variants: Box<[Variant]>,
    pub(crate) kind: Kind,
    f: Box<CallbackFn>,
}

impl fmt::Debug for CallbackFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackFamily")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl CallbackFamily {
    pub(crate) fn new(
        name: &str,
        label_names: &[String],
        variants: Box<[Variant]>,
        kind: Kind,
        f: Box<CallbackFn>,
    ) -> Self {
        CallbackFamily {
            name: name.to_string(),
            label_names: label_names.into(),
            variants,
            kind,
            f,
        }
    }

    /// Runs the callback into `samples` (cleared first): the label text
    /// and value of each sample it accepted, none if it panicked. Returns
    /// the samples rejected plus one for a panic.
    pub(crate) fn run(&self, samples: &mut Samples) -> u64 {
        samples.clear();
        let mut sink = CallbackSink {
            label_names: &self.label_names,
            samples,
            counter: self.kind == Kind::Counter,
            rejected: 0,
        };
        let ok = crate::catch::catch(|| (self.f)(&mut sink)).is_some();
        let rejected = sink.rejected;
        if ok {
            rejected
        } else {
            // Drop the family's samples for this scrape; its HELP/TYPE
            // stay, so the body stays complete and valid.
            samples.clear();
            rejected + 1
        }
    }
}

/// Receives a callback family's samples during a scrape.
///
/// A sample with the wrong number of label values, a label set already
/// emitted in this scrape (a duplicate would make the whole body invalid),
/// or a counter value that is negative or NaN (a counter never goes below
/// zero) is dropped and counted in `telemeter_scrape_callback_errors_total`.
pub struct CallbackSink<'a> {
    label_names: &'a [String],
    samples: &'a mut Samples,
    /// A counter family's sink: only values `>= 0` are samples.
    counter: bool,
    rejected: u64,
}

impl fmt::Debug for CallbackSink<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackSink")
            .field("samples", &self.samples.values.len())
            .finish_non_exhaustive()
    }
}

impl CallbackSink<'_> {
    /// Emits one sample: `values` in the order of the family's label names.
    pub fn sample(&mut self, values: &[&str], value: f64) {
        if values.len() != self.label_names.len()
            || (self.counter && (value.is_nan() || value < 0.0))
            || !self.samples.push(self.label_names, values, value)
        {
            self.rejected += 1;
        }
    }
}

/// A callback family's samples in one scrape: each one's rendered label
/// text and value. Reused from scrape to scrape, so that a steady-state
/// scrape allocates nothing.
#[derive(Default)]
pub(crate) struct Samples {
    /// Every sample's label text, one after another.
    text: String,
    /// Where each sample's label text ends in `text`.
    ends: Vec<usize>,
    values: Vec<f64>,
    /// Hashes of the label sets seen, to refuse a duplicate.
    seen: HashSet<u64>,
    hasher: foldhash::fast::FixedState,
}

impl Samples {
    fn clear(&mut self) {
        self.text.clear();
        self.ends.clear();
        self.values.clear();
        self.seen.clear();
    }

    /// Adds a sample unless its label set is already here.
    fn push(&mut self, label_names: &[String], values: &[&str], value: f64) -> bool {
        let mut h = self.hasher.build_hasher();
        for v in values {
            h.write(v.as_bytes());
            h.write_u8(0xff);
        }
        let start = self.text.len();
        if !label_names.is_empty() {
            render_prefix(&mut self.text, "", "", label_names, values, None);
            self.text.pop(); // the trailing space
        }
        if !self.seen.insert(h.finish()) && self.is_duplicate(start) {
            self.text.truncate(start);
            return false;
        }
        self.ends.push(self.text.len());
        self.values.push(value);
        true
    }

    /// Whether the label text just rendered at `text[start..]` equals an
    /// earlier sample's (hash collisions are resolved by comparing text).
    fn is_duplicate(&self, start: usize) -> bool {
        let new = &self.text[start..];
        let mut prev = 0;
        self.ends.iter().any(|&end| {
            let old = &self.text[prev..end];
            prev = end;
            old == new
        })
    }

    /// Each sample's label text and value, in the order emitted.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8], f64)> + '_ {
        let mut prev = 0;
        self.ends.iter().zip(&self.values).map(move |(&end, &v)| {
            let text = &self.text.as_bytes()[prev..end];
            prev = end;
            (text, v)
        })
    }

    /// How many samples.
    pub(crate) fn len(&self) -> usize {
        self.values.len()
    }
}
