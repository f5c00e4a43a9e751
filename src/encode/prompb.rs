//! The Prometheus remote-write 1.0 body, before compression: a `prompb`
//! `WriteRequest` (`timeseries = 1`) of `TimeSeries` (`labels = 1`,
//! `samples = 2`, `histograms = 4`), each with its `Label`s (`name = 1`, `value = 2`) sorted
//! by name, `__name__` among them, and one `Sample` (`value = 1` double,
//! `timestamp = 2` int64 milliseconds). Histograms become their classic
//! `_bucket{le}` (cumulative), `_sum` and `_count` series; a native
//! histogram, where the caller asks for them, one `Histogram` message
//! (its spans and deltas as the exposition's protobuf writes them), else
//! its classic view.
//!
//! Written by hand (a fixed schema of four messages); the tests decode it
//! with `protoc` against `tests/proto/remote.proto`. The body goes into the
//! caller's buffer, the labels of the series being written into the
//! caller's [`Scratch`]: once both have grown, an encode allocates nothing.
#![forbid(unsafe_code)]

use std::ops::Range;

use super::wire::{
    close, le_of, open, parse_labels, put_double, put_sint, put_uint, put_varint, unescape_into,
    varint_len, zigzag,
};
use super::{Encoder, Extras, FamilyView, Kind, NativeLayout};
use crate::native::spans_and_deltas;

/// The labels of the series being written, kept between encodes by a
/// caller that pushes on an interval (so that a steady-state encode
/// allocates nothing once they have grown).
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    /// Label names and values of the series being written, unescaped.
    arena: Vec<u8>,
    /// (name, value) ranges into `arena`.
    labels: Vec<(Range<usize>, Range<usize>)>,
}

/// The remote-write encoder: appends one `WriteRequest`'s fields to `out`.
/// With `NATIVE`, a native histogram is one `TimeSeries` holding one
/// `Histogram` (`histograms = 4`); without, its classic view (the
/// receiver may not take native histograms: Prometheus takes them only
/// with `--enable-feature=native-histograms`, Mimir only where a tenant
/// enables them).
pub(crate) struct RemoteWriteEncoder<'a, const NATIVE: bool> {
    out: &'a mut Vec<u8>,
    timestamp_ms: i64,
    /// Labels added to every series that lacks one of its name (remote
    /// write's external labels: `job`, `instance`, a replica).
    external: &'a [(String, String)],
    arena: &'a mut Vec<u8>,
    labels: &'a mut Vec<(Range<usize>, Range<usize>)>,
    /// Samples written.
    pub(crate) series: usize,
}

impl<'a, const NATIVE: bool> RemoteWriteEncoder<'a, NATIVE> {
    pub(crate) fn new(
        out: &'a mut Vec<u8>,
        timestamp_ms: i64,
        external: &'a [(String, String)],
        scratch: &'a mut Scratch,
    ) -> RemoteWriteEncoder<'a, NATIVE> {
        RemoteWriteEncoder {
            out,
            timestamp_ms,
            external,
            arena: &mut scratch.arena,
            labels: &mut scratch.labels,
            series: 0,
        }
    }

    fn push_label(&mut self, name: &[u8], value: &[u8]) {
        let n = self.arena.len();
        self.arena.extend_from_slice(name);
        let v = self.arena.len();
        self.arena.extend_from_slice(value);
        self.labels.push((n..v, v..self.arena.len()));
    }

    /// Loads a series' labels: those of its rendered label set `text`,
    /// unescaped, and the external labels it lacks, sorted by name. Every
    /// sample line of the series (a histogram's buckets, sum and count)
    /// is then written from them by [`RemoteWriteEncoder::emit`].
    fn load(&mut self, text: &[u8]) {
        self.arena.clear();
        self.labels.clear();
        parse_labels(text, |name, escaped| {
            let n = self.arena.len();
            self.arena.extend_from_slice(name);
            let v = self.arena.len();
            unescape_into(self.arena, escaped);
            self.labels.push((n..v, v..self.arena.len()));
        });
        // External labels: a series' own label of the same name wins.
        for (name, value) in self.external {
            let own = self.labels.len();
            if !(0..own).any(|i| self.arena[self.labels[i].0.clone()] == *name.as_bytes()) {
                self.push_label(name.as_bytes(), value.as_bytes());
            }
        }
        let arena = &*self.arena;
        self.labels
            .sort_unstable_by(|a, b| arena[a.0.clone()].cmp(&arena[b.0.clone()]));
    }

    /// One `TimeSeries` of the loaded labels with `__name__` = `name` +
    /// `suffix` and `le` (a bucket's) put in their sorted places, and one
    /// sample of `value`.
    fn emit(&mut self, name: &str, suffix: &str, le: Option<&[u8]>, value: f64) {
        let sample_len = 1 + 8 + 1 + varint_len(self.timestamp_ms as u64);
        let mut ts_len = 1 + varint_len(sample_len as u64) + sample_len;
        let mut add = |n: usize, v: usize| {
            let len = label_len(n, v);
            ts_len += 1 + varint_len(len as u64) + len;
        };
        add(8, name.len() + suffix.len());
        if let Some(le) = le {
            add(2, le.len());
        }
        for l in self.labels.iter() {
            add(l.0.len(), l.1.len());
        }
        let out = &mut *self.out;
        out.push(0x0a); // WriteRequest.timeseries, length-delimited
        put_varint(out, ts_len as u64);
        put_labels(out, self.arena, self.labels, [name, suffix], le);
        out.push(0x12); // TimeSeries.samples
        put_varint(out, sample_len as u64);
        out.push(0x09); // Sample.value, 64-bit
        out.extend_from_slice(&value.to_le_bytes());
        out.push(0x10); // Sample.timestamp, varint
        put_varint(out, self.timestamp_ms as u64);
        self.series += 1;
    }

    /// A series with one sample line.
    fn series(&mut self, name: &str, text: &[u8], value: f64) {
        self.load(text);
        self.emit(name, "", None, value);
    }
}

/// The length of a `Label` message of a name of `n` bytes and a value of
/// `v`.
fn label_len(n: usize, v: usize) -> usize {
    1 + varint_len(n as u64) + n + 1 + varint_len(v as u64) + v
}

/// One `TimeSeries.labels` field: a `Label` of `name` and the value made
/// of `value`'s parts.
fn put_label(out: &mut Vec<u8>, name: &[u8], value: &[&[u8]]) {
    let v: usize = value.iter().map(|p| p.len()).sum();
    out.push(0x0a); // TimeSeries.labels
    put_varint(out, label_len(name.len(), v) as u64);
    out.push(0x0a); // Label.name
    put_varint(out, name.len() as u64);
    out.extend_from_slice(name);
    out.push(0x12); // Label.value
    put_varint(out, v as u64);
    for part in value {
        out.extend_from_slice(part);
    }
}

/// A series' `labels` fields, sorted by name: the loaded ones (`labels`,
/// ranges into `arena`), `__name__` made of `name`'s parts, and `le`.
fn put_labels(
    out: &mut Vec<u8>,
    arena: &[u8],
    labels: &[(Range<usize>, Range<usize>)],
    name: [&str; 2],
    le: Option<&[u8]>,
) {
    let name_at = labels.partition_point(|l| &arena[l.0.clone()] < b"__name__".as_slice());
    let le_at = labels.partition_point(|l| &arena[l.0.clone()] < b"le".as_slice());
    for i in 0..=labels.len() {
        if i == name_at {
            put_label(out, b"__name__", &[name[0].as_bytes(), name[1].as_bytes()]);
        }
        if i == le_at {
            if let Some(le) = le {
                put_label(out, b"le", &[le]);
            }
        }
        if let Some(l) = labels.get(i) {
            put_label(out, &arena[l.0.clone()], &[&arena[l.1.clone()]]);
        }
    }
}

impl<const NATIVE: bool> Encoder for RemoteWriteEncoder<'_, NATIVE> {
    const NATIVE: bool = NATIVE;

    fn family(&mut self, _family: &FamilyView<'_>) {}

    /// Each series one `TimeSeries`: its labels, no sample, and one
    /// `Histogram`: `count_int` (1), `sum` (3), `schema` (4),
    /// `zero_threshold` (5), `zero_count_int` (6), the positive side's
    /// `BucketSpan`s (11) and packed delta-encoded counts (12), and the
    /// `timestamp` (15). The reset hint stays UNKNOWN (the receiver
    /// detects resets from the counts, as it does for counters).
    fn natives<'s, T>(
        &mut self,
        family: &FamilyView<'_>,
        layout: &NativeLayout,
        cells: &mut [u64],
        series: impl IntoIterator<Item = T>,
        mut read: impl FnMut(T, &mut [u64]) -> (&'s [u8], f64),
    ) {
        let name = family.variant.name();
        for item in series {
            let (text, sum) = read(item, cells);
            self.load(text);
            let out = &mut *self.out;
            let ts = open(out, Some(0x0a)); // WriteRequest.timeseries
            put_labels(out, self.arena, self.labels, [name, ""], None);
            let h = open(out, Some(4 << 3 | 2)); // TimeSeries.histograms
            let count = cells.iter().fold(0u64, |n, c| n.saturating_add(*c));
            put_uint(out, 1, count);
            put_double(out, 3, sum);
            put_sint(out, 4, i64::from(layout.schema));
            put_double(out, 5, layout.zero_threshold);
            put_uint(out, 6, cells[0]);
            let buckets = &cells[1..];
            spans_and_deltas(
                layout.min_index,
                buckets,
                |offset, length| {
                    let span = open(out, Some(11 << 3 | 2));
                    put_sint(out, 1, i64::from(offset));
                    put_uint(out, 2, u64::from(length));
                    close(out, span);
                },
                |_| {},
            );
            if buckets.iter().any(|&c| c > 0) {
                let deltas = open(out, Some(12 << 3 | 2)); // packed
                spans_and_deltas(
                    layout.min_index,
                    buckets,
                    |_, _| {},
                    |d| put_varint(out, zigzag(d)),
                );
                close(out, deltas);
            }
            put_uint(out, 15, self.timestamp_ms as u64);
            close(out, h);
            close(out, ts);
            self.series += 1;
        }
    }

    fn counters<'s>(
        &mut self,
        family: &FamilyView<'_>,
        series: impl IntoIterator<Item = (&'s [u8], u64, Extras<'s>)>,
    ) {
        for (text, v, _) in series {
            self.series(family.variant.name(), text, v as f64);
        }
    }

    fn gauges<'s>(
        &mut self,
        family: &FamilyView<'_>,
        series: impl IntoIterator<Item = (&'s [u8], i64)>,
    ) {
        for (text, v) in series {
            self.series(family.variant.name(), text, v as f64);
        }
    }

    fn floats<'s>(
        &mut self,
        family: &FamilyView<'_>,
        series: impl IntoIterator<Item = (&'s [u8], f64)>,
    ) {
        for (text, v) in series {
            self.series(family.variant.name(), text, v);
        }
    }

    fn histograms<'s, T>(
        &mut self,
        family: &FamilyView<'_>,
        buckets: &mut [u64],
        series: impl IntoIterator<Item = T>,
        mut read: impl FnMut(T, &mut [u64]) -> (&'s [u8], f64, Extras<'s>),
    ) {
        debug_assert_eq!(family.kind, Kind::Histogram);
        let name = family.variant.name();
        let tails = family.le_tails.text();
        for item in series {
            let (text, sum, _) = read(item, buckets);
            // The series' labels once, for all its sample lines.
            self.load(text);
            let mut cumulative = 0u64;
            for (cell, tail) in buckets.iter().zip(tails) {
                cumulative += cell;
                let le = le_of(tail.as_bytes());
                self.emit(name, "_bucket", Some(le), cumulative as f64);
            }
            self.emit(name, "_sum", None, sum);
            self.emit(name, "_count", None, cumulative as f64);
        }
    }
}
