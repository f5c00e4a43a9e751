//! The protobuf exposition: length-delimited `io.prometheus.client.MetricFamily`
//! messages (client_model's `metrics.proto`, checked in as
//! `tests/proto/metrics.proto`), what Prometheus asks for first when its
//! native histograms are on.
//!
//! Written by hand (a fixed schema of a few messages): a family's name
//! (`1`), HELP (`2`, unescaped), type (`3`), unit (`5`, where declared)
//! and one `Metric` (`4`) per series with its `LabelPair`s (`1`) read
//! back out of the series' rendered label text, and a `Counter` (`3`,
//! with its exemplar), `Gauge` (`2`) or `Histogram` (`7`: count, sum, and
//! one cumulative `Bucket` per bound with `+Inf` last, each with its
//! exemplar). A message's length is not known before it is written, so
//! each is written after 5 bytes of room, which its length then takes
//! (the body moved up where it needs fewer). Names are the 0.0.4 ones
//! (a counter's `_total` kept), as client_golang writes them.
//!
//! A group's members (one name, several label-name sets) land in the one
//! `MetricFamily` their `family` call opened; a family ends when the next
//! begins or at [`ProtobufEncoder::finish`].
#![forbid(unsafe_code)]

use super::wire::{
    close, open, parse_labels, put_bytes, put_double, put_label_pair, put_native_histogram,
    put_uint, NativeFields,
};
use super::{Encoder, Exemplars, Extras, FamilyView, Kind, NativeLayout};

/// `MetricType` values.
const COUNTER: u64 = 0;
const GAUGE: u64 = 1;
const HISTOGRAM: u64 = 4;

/// Tags (field << 3 | wire type 2) of the length-delimited fields.
const METRIC: u8 = 4 << 3 | 2;
const LABEL: u8 = 1;
const GAUGE_FIELD: u8 = 2 << 3 | 2;
const COUNTER_FIELD: u8 = 3 << 3 | 2;
const HISTOGRAM_FIELD: u8 = 7 << 3 | 2;
const BUCKET: u8 = 3 << 3 | 2;

/// The protobuf encoder (see the module docs).
pub(crate) struct ProtobufEncoder<'a> {
    out: &'a mut Vec<u8>,
    /// Where the open `MetricFamily`'s length goes.
    family: Option<usize>,
}

impl<'a> ProtobufEncoder<'a> {
    pub(crate) fn new(out: &'a mut Vec<u8>) -> ProtobufEncoder<'a> {
        ProtobufEncoder { out, family: None }
    }

    /// Ends the open family, if any: call once after the last.
    pub(crate) fn finish(&mut self) {
        if let Some(at) = self.family.take() {
            close(self.out, at);
        }
    }

    /// Opens a `Metric` with the labels of `text`; returns its mark.
    fn metric(&mut self, text: &[u8]) -> usize {
        let at = open(self.out, Some(METRIC));
        parse_labels(text, |name, value, escaped| {
            put_label_pair(self.out, LABEL, name, value, escaped)
        });
        at
    }
}

/// Field `field`: a `google.protobuf.Timestamp` of `t` seconds since the
/// epoch.
fn put_timestamp(out: &mut Vec<u8>, field: u8, t: f64) {
    let ts = open(out, Some(field << 3 | 2));
    let secs = t.floor();
    put_uint(out, 1, secs as i64 as u64);
    let nanos = ((t - secs) * 1e9) as u64;
    if nanos > 0 {
        put_uint(out, 2, nanos.min(999_999_999));
    }
    close(out, ts);
}

/// Field `field`: an `Exemplar` from cell `i` of `ex`, if it holds one.
fn put_exemplar(out: &mut Vec<u8>, field: u8, ex: &Exemplars, i: usize) {
    ex.with(i, |r| {
        let at = open(out, Some(field << 3 | 2));
        parse_labels(r.labels.as_bytes(), |name, value, escaped| {
            put_label_pair(out, 1, name, value, escaped);
        });
        put_double(out, 2, r.value);
        put_timestamp(out, 3, r.timestamp);
        close(out, at);
    });
}

/// client_model's `Histogram`: `sample_count` (1), `sample_sum` (2),
/// `schema` (5), `zero_threshold` (6), `zero_count` (7), `positive_span`
/// (12), `positive_delta` (13, proto2: not packed).
const NATIVE_FIELDS: NativeFields = NativeFields {
    count: 1,
    sum: 2,
    schema: 5,
    zero_threshold: 6,
    zero_count: 7,
    positive_spans: 12,
    positive_deltas: 13,
    packed: false,
};

impl Encoder for ProtobufEncoder<'_> {
    const EXEMPLARS: bool = true;
    const NATIVE: bool = true;

    /// A native histogram: count, sum, `schema` (5), `zero_threshold`
    /// (6), `zero_count` (7), and the positive side's spans (12) and
    /// delta-encoded counts (13) of its non-empty buckets.
    fn natives<'s, T>(
        &mut self,
        _family: &FamilyView<'_>,
        layout: &NativeLayout,
        cells: &mut [u64],
        series: impl IntoIterator<Item = T>,
        mut read: impl FnMut(T, &mut [u64]) -> (&'s [u8], f64),
    ) {
        for item in series {
            let (text, sum) = read(item, cells);
            let m = self.metric(text);
            let out = &mut *self.out;
            let h = open(out, Some(HISTOGRAM_FIELD));
            put_native_histogram(out, &NATIVE_FIELDS, layout, cells, sum);
            close(out, h);
            close(out, m);
        }
    }

    fn family(&mut self, family: &FamilyView<'_>) {
        self.finish();
        let out = &mut *self.out;
        let at = open(out, None);
        let v = family.variant;
        put_bytes(out, 1, v.name().as_bytes());
        if !v.help.is_empty() {
            put_bytes(out, 2, v.help.as_bytes());
        }
        let kind = match family.kind {
            Kind::Counter => COUNTER,
            Kind::Gauge => GAUGE,
            Kind::Histogram => HISTOGRAM,
        };
        put_uint(out, 3, kind);
        if !v.unit.is_empty() {
            put_bytes(out, 5, v.unit.as_bytes());
        }
        self.family = Some(at);
    }

    fn counters<'s>(
        &mut self,
        _family: &FamilyView<'_>,
        series: impl IntoIterator<Item = (&'s [u8], u64, Extras<'s>)>,
    ) {
        for (text, v, extras) in series {
            let m = self.metric(text);
            let out = &mut *self.out;
            let c = open(out, Some(COUNTER_FIELD));
            put_double(out, 1, v as f64);
            if let Some(ex) = extras.exemplars {
                put_exemplar(out, 2, ex, 0);
            }
            if let Some(t) = extras.created {
                put_timestamp(out, 3, t);
            }
            close(out, c);
            close(out, m);
        }
    }

    fn gauges<'s>(
        &mut self,
        _family: &FamilyView<'_>,
        series: impl IntoIterator<Item = (&'s [u8], i64)>,
    ) {
        for (text, v) in series {
            let m = self.metric(text);
            self.out.extend_from_slice(&[GAUGE_FIELD, 9]);
            put_double(self.out, 1, v as f64);
            close(self.out, m);
        }
    }

    fn floats<'s>(
        &mut self,
        family: &FamilyView<'_>,
        series: impl IntoIterator<Item = (&'s [u8], f64)>,
    ) {
        let field = if family.kind == Kind::Counter {
            COUNTER_FIELD
        } else {
            GAUGE_FIELD
        };
        for (text, v) in series {
            let m = self.metric(text);
            self.out.extend_from_slice(&[field, 9]);
            put_double(self.out, 1, v);
            close(self.out, m);
        }
    }

    fn histograms<'s, T>(
        &mut self,
        family: &FamilyView<'_>,
        buckets: &mut [u64],
        series: impl IntoIterator<Item = T>,
        mut read: impl FnMut(T, &mut [u64]) -> (&'s [u8], f64, Extras<'s>),
    ) {
        for item in series {
            let (text, sum, extras) = read(item, buckets);
            let m = self.metric(text);
            let out = &mut *self.out;
            let h = open(out, Some(HISTOGRAM_FIELD));
            let count = buckets.iter().fold(0u64, |n, b| n.saturating_add(*b));
            put_uint(out, 1, count);
            put_double(out, 2, sum);
            let mut cumulative = 0u64;
            let bounds = family.bounds.iter().copied().chain([f64::INFINITY]);
            for (i, (cell, bound)) in buckets.iter().zip(bounds).enumerate() {
                cumulative = cumulative.saturating_add(*cell);
                let b = open(out, Some(BUCKET));
                put_uint(out, 1, cumulative);
                put_double(out, 2, bound);
                if let Some(ex) = extras.exemplars {
                    put_exemplar(out, 3, ex, i);
                }
                close(out, b);
            }
            if let Some(t) = extras.created {
                put_timestamp(out, 15, t);
            }
            close(out, h);
            close(out, m);
        }
    }
}
