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
//! caller's buffer; each series' labels are encoded once (in the name
//! order its family's `Template` worked out) into the caller's [`Scratch`]
//! and copied into each of its sample lines: once both have grown, an
//! encode allocates nothing.
#![forbid(unsafe_code)]

use std::ops::Range;

use super::wire::{
    close, label_len, le_of, open, parse_labels, put_label_pair, put_native_histogram, put_uint,
    put_varint, put_varint_into, value_end, NativeFields,
};
use super::{Encoder, Extras, FamilyView, Kind, NativeLayout};

/// What the encoder keeps between encodes, for a caller that pushes on an
/// interval: once these have grown, a steady-state encode allocates
/// nothing.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    /// The label layout of the family being written ([`Template`]).
    template: Template,
    /// The external labels, each a whole encoded `TimeSeries.labels`
    /// field.
    external: Vec<u8>,
    /// (name, encoded field) ranges into `external`, one per label.
    external_at: Vec<(Range<usize>, Range<usize>)>,
    /// The series being written: its (name, escaped value) ranges into
    /// its label text, and whether the value holds an escape.
    pairs: Vec<(Range<usize>, Range<usize>, bool)>,
    /// The series being written: its labels encoded, sorted, without
    /// `__name__` and `le`, which go at `cut_name` and `cut_le`; each of
    /// its sample lines copies them.
    encoded: Vec<u8>,
    cut_name: usize,
    cut_le: usize,
    /// The family's fields encoded once: its `__name__` fields (the name
    /// alone, then with `_bucket`, `_sum` and `_count`: [`SUFFIXES`]) at
    /// `names`, and its buckets' `le` fields at `les`.
    fixed: Vec<u8>,
    names: [Range<usize>; 4],
    les: Vec<Range<usize>>,
}

/// The `__name__` suffixes, in `Scratch::names`' order.
const SUFFIXES: [&str; 4] = ["", "_bucket", "_sum", "_count"];
const PLAIN: usize = 0;
const BUCKET: usize = 1;
const SUM: usize = 2;
const COUNT: usize = 3;

impl Scratch {
    /// The loaded series' labels with the `__name__` field `name` and the
    /// `le` field `le` (empty for none) in their places.
    fn put_labels(&self, out: &mut Vec<u8>, name: &[u8], le: &[u8]) {
        out.extend_from_slice(&self.encoded[..self.cut_name]);
        out.extend_from_slice(name);
        out.extend_from_slice(&self.encoded[self.cut_name..self.cut_le]);
        out.extend_from_slice(le);
        out.extend_from_slice(&self.encoded[self.cut_le..]);
    }
}

/// prompb's `Histogram`: `count_int` (1), `sum` (3), `schema` (4),
/// `zero_threshold` (5), `zero_count_int` (6), `positive_spans` (11),
/// `positive_deltas` (12, proto3: packed).
const NATIVE_FIELDS: NativeFields = NativeFields {
    count: 1,
    sum: 3,
    schema: 4,
    zero_threshold: 5,
    zero_count: 6,
    positive_spans: 11,
    positive_deltas: 12,
    packed: true,
};

/// Where each label of a family's series goes in name order: a family
/// names its labels in the same order in every series' text, so the order
/// is worked out once per family (and again only for a series whose
/// names differ: the `metrics` facade may give one family several label
/// name sets).
#[derive(Debug, Default)]
struct Template {
    /// Whether it describes the current family.
    built: bool,
    /// The own label names it was built for, in text order, concatenated;
    /// and where each ends.
    names: Vec<u8>,
    ends: Vec<usize>,
    /// Every label in name order.
    slots: Vec<Slot>,
}

#[derive(Debug, Clone)]
enum Slot {
    /// `__name__`.
    Name,
    /// A bucket's `le`.
    Le,
    /// The series' own label, by its place in the text.
    Own(usize),
    /// An external label, by its place in `Scratch::external_at`.
    External(usize),
}

impl Template {
    /// The `i`th own name.
    fn name(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.names[start..self.ends[i]]
    }

    /// Reads a series' label text `text` into `pairs` if its names are
    /// the ones the template was built for, in that order (each checked
    /// where the template expects it, so the names are not searched for);
    /// `false` (and `pairs` unspecified) if they are not.
    fn parse(&self, text: &[u8], pairs: &mut Vec<(Range<usize>, Range<usize>, bool)>) -> bool {
        pairs.clear();
        if !self.built || self.ends.is_empty() {
            return self.built && text.is_empty();
        }
        let mut at = 1; // past `{`
        for i in 0..self.ends.len() {
            if i > 0 {
                if text.get(at) != Some(&b',') {
                    return false;
                }
                at += 1;
            }
            let name = self.name(i);
            let value = at + name.len() + 2;
            if text
                .get(at..value)
                .is_none_or(|n| n[..name.len()] != *name || n[name.len()..] != *b"=\"")
            {
                return false;
            }
            let (end, escaped) = value_end(text, value);
            if end >= text.len() {
                return false;
            }
            pairs.push((at..at + name.len(), value..end, escaped));
            at = end + 1;
        }
        text.get(at) == Some(&b'}') && at + 1 == text.len()
    }

    /// Builds the template for a series' own names (`pairs`, into
    /// `text`) and the external labels the series lacks.
    fn build(
        &mut self,
        text: &[u8],
        pairs: &[(Range<usize>, Range<usize>, bool)],
        external: &[u8],
        external_at: &[(Range<usize>, Range<usize>)],
    ) {
        self.names.clear();
        self.ends.clear();
        for (name, _, _) in pairs {
            self.names.extend_from_slice(&text[name.clone()]);
            self.ends.push(self.names.len());
        }
        self.slots.clear();
        self.slots.push(Slot::Name);
        self.slots.push(Slot::Le);
        self.slots.extend((0..pairs.len()).map(Slot::Own));
        for (i, (name, _)) in external_at.iter().enumerate() {
            // A series' own label of the same name wins.
            if !pairs
                .iter()
                .any(|(own, _, _)| text[own.clone()] == external[name.clone()])
            {
                self.slots.push(Slot::External(i));
            }
        }
        let mut slots = std::mem::take(&mut self.slots);
        let name_of = |slot: &Slot| -> &[u8] {
            match slot {
                Slot::Name => b"__name__",
                Slot::Le => b"le",
                Slot::Own(i) => self.name(*i),
                Slot::External(i) => &external[external_at[*i].0.clone()],
            }
        };
        // Stable: a counter's own `le` label stays after the `Le` slot,
        // which only a histogram's bucket lines use.
        slots.sort_by(|a, b| name_of(a).cmp(name_of(b)));
        self.slots = slots;
        self.built = true;
    }
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
    /// `timestamp_ms` as a varint, the first `stamp_len` bytes: the same
    /// in every sample of the encode.
    stamp: [u8; 10],
    stamp_len: usize,
    scratch: &'a mut Scratch,
    /// Samples written.
    pub(crate) series: usize,
}

impl<'a, const NATIVE: bool> RemoteWriteEncoder<'a, NATIVE> {
    /// An encoder into `out`, every sample stamped `timestamp_ms`, with
    /// `external` labels added to every series that lacks one of its name
    /// (remote write's external labels: `job`, `instance`, a replica).
    pub(crate) fn new(
        out: &'a mut Vec<u8>,
        timestamp_ms: i64,
        external: &[(String, String)],
        scratch: &'a mut Scratch,
    ) -> RemoteWriteEncoder<'a, NATIVE> {
        scratch.external.clear();
        scratch.external_at.clear();
        for (name, value) in external {
            let n = scratch.external.len();
            scratch.external.extend_from_slice(name.as_bytes());
            let f = scratch.external.len();
            put_label(&mut scratch.external, name.as_bytes(), &[value.as_bytes()]);
            scratch.external_at.push((n..f, f..scratch.external.len()));
        }
        scratch.template.built = false;
        let mut stamp = [0; 10];
        let stamp_len = put_varint_into(&mut stamp, timestamp_ms as u64);
        RemoteWriteEncoder {
            out,
            timestamp_ms,
            stamp,
            stamp_len,
            scratch,
            series: 0,
        }
    }

    /// Loads a series' labels from its rendered label set `text`: each
    /// encoded once, in name order, with the external labels it lacks,
    /// for every sample line of the series (a histogram's buckets, sum and
    /// count) that [`RemoteWriteEncoder::emit`] writes.
    fn load(&mut self, text: &[u8]) {
        let sc = &mut *self.scratch;
        if !sc.template.parse(text, &mut sc.pairs) {
            sc.pairs.clear();
            let base = text.as_ptr() as usize;
            parse_labels(text, |name, value, escaped| {
                let n = name.as_ptr() as usize - base;
                let v = value.as_ptr() as usize - base;
                sc.pairs
                    .push((n..n + name.len(), v..v + value.len(), escaped));
            });
            sc.template
                .build(text, &sc.pairs, &sc.external, &sc.external_at);
        }
        sc.encoded.clear();
        for slot in &sc.template.slots {
            match *slot {
                Slot::Name => sc.cut_name = sc.encoded.len(),
                Slot::Le => sc.cut_le = sc.encoded.len(),
                Slot::External(i) => {
                    let field = sc.external_at[i].1.clone();
                    sc.encoded.extend_from_slice(&sc.external[field]);
                }
                Slot::Own(i) => {
                    // TimeSeries.labels: a Label (name 1, value 2).
                    let (name, value, escaped) = &sc.pairs[i];
                    let (name, value) = (&text[name.clone()], &text[value.clone()]);
                    put_label_pair(&mut sc.encoded, 1, name, value, *escaped);
                }
            }
        }
    }

    /// The family `name`'s `__name__` fields ([`SUFFIXES`]) and, for a
    /// histogram, its buckets' `le` fields (from its rendered `le` tails),
    /// encoded once for all its series' lines.
    fn fix(&mut self, name: &str, le_tails: &[Box<str>]) {
        let sc = &mut *self.scratch;
        sc.fixed.clear();
        for (range, suffix) in sc.names.iter_mut().zip(SUFFIXES) {
            let at = sc.fixed.len();
            put_label(
                &mut sc.fixed,
                b"__name__",
                &[name.as_bytes(), suffix.as_bytes()],
            );
            *range = at..sc.fixed.len();
        }
        sc.les.clear();
        for tail in le_tails {
            let at = sc.fixed.len();
            put_label(&mut sc.fixed, b"le", &[le_of(tail.as_bytes())]);
            sc.les.push(at..sc.fixed.len());
        }
    }

    /// One `TimeSeries` of the loaded labels with the family's `__name__`
    /// field `name` (an index into [`SUFFIXES`]) and, for a bucket line,
    /// the `le` field of bucket `le`, each in its place, and one sample of
    /// `value`.
    fn emit(&mut self, name: usize, le: Option<usize>, value: f64) {
        let sc = &*self.scratch;
        let name = &sc.fixed[sc.names[name].clone()];
        let le = le.map_or(&[][..], |i| &sc.fixed[sc.les[i].clone()]);
        let (ts, ts_len) = (&self.stamp, self.stamp_len);
        let sample_len = 1 + 8 + 1 + ts_len;
        let len = sc.encoded.len() + name.len() + le.len() + 2 + sample_len;
        let out = &mut *self.out;
        out.push(0x0a); // WriteRequest.timeseries, length-delimited
        put_varint(out, len as u64);
        sc.put_labels(out, name, le);
        let mut sample = [0u8; 22];
        sample[0] = 0x12; // TimeSeries.samples
        sample[1] = sample_len as u8;
        sample[2] = 0x09; // Sample.value, 64-bit
        sample[3..11].copy_from_slice(&value.to_le_bytes());
        sample[11] = 0x10; // Sample.timestamp, varint
        sample[12..12 + ts_len].copy_from_slice(&ts[..ts_len]);
        out.extend_from_slice(&sample[..2 + sample_len]);
        self.series += 1;
    }

    /// A series with one sample line.
    fn series(&mut self, text: &[u8], value: f64) {
        self.load(text);
        self.emit(PLAIN, None, value);
    }
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

impl<const NATIVE: bool> Encoder for RemoteWriteEncoder<'_, NATIVE> {
    const NATIVE: bool = NATIVE;

    fn family(&mut self, family: &FamilyView<'_>) {
        self.scratch.template.built = false;
        let tails = match family.kind {
            Kind::Histogram => family.le_tails.text(),
            _ => &[],
        };
        self.fix(family.variant.name(), tails);
    }

    /// Each series one `TimeSeries`: its labels, no sample, and one
    /// `Histogram`: `count_int` (1), `sum` (3), `schema` (4),
    /// `zero_threshold` (5), `zero_count_int` (6), the positive side's
    /// `BucketSpan`s (11) and packed delta-encoded counts (12), and the
    /// `timestamp` (15). The reset hint stays UNKNOWN (the receiver
    /// detects resets from the counts, as it does for counters).
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
            self.load(text);
            let out = &mut *self.out;
            let ts = open(out, Some(0x0a)); // WriteRequest.timeseries
            let sc = &*self.scratch;
            sc.put_labels(out, &sc.fixed[sc.names[PLAIN].clone()], &[]);
            let h = open(out, Some(4 << 3 | 2)); // TimeSeries.histograms
            put_native_histogram(out, &NATIVE_FIELDS, layout, cells, sum);
            put_uint(out, 15, self.timestamp_ms as u64);
            close(out, h);
            close(out, ts);
            self.series += 1;
        }
    }

    fn counters<'s>(
        &mut self,
        _family: &FamilyView<'_>,
        series: impl IntoIterator<Item = (&'s [u8], u64, Extras<'s>)>,
    ) {
        for (text, v, _) in series {
            self.series(text, v as f64);
        }
    }

    fn gauges<'s>(
        &mut self,
        _family: &FamilyView<'_>,
        series: impl IntoIterator<Item = (&'s [u8], i64)>,
    ) {
        for (text, v) in series {
            self.series(text, v as f64);
        }
    }

    fn floats<'s>(
        &mut self,
        _family: &FamilyView<'_>,
        series: impl IntoIterator<Item = (&'s [u8], f64)>,
    ) {
        for (text, v) in series {
            self.series(text, v);
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
        debug_assert_eq!(self.scratch.les.len(), family.le_tails.text().len());
        for item in series {
            let (text, sum, _) = read(item, buckets);
            // The series' labels once, for all its sample lines.
            self.load(text);
            let mut cumulative = 0u64;
            for (i, cell) in buckets.iter().enumerate() {
                cumulative += cell;
                self.emit(BUCKET, Some(i), cumulative as f64);
            }
            self.emit(SUM, None, sum);
            self.emit(COUNT, None, cumulative as f64);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{Buckets, Opts, Registry};

    fn varint(b: &[u8], at: &mut usize) -> u64 {
        let (mut v, mut shift) = (0u64, 0);
        loop {
            let byte = b[*at];
            *at += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return v;
            }
            shift += 7;
        }
    }

    /// The length-delimited fields of a message: (field number, bytes);
    /// other wire types are skipped.
    fn fields(b: &[u8]) -> Vec<(u64, &[u8])> {
        let (mut at, mut out) = (0, Vec::new());
        while at < b.len() {
            let tag = varint(b, &mut at);
            match tag & 7 {
                0 => {
                    varint(b, &mut at);
                }
                1 => at += 8,
                2 => {
                    let len = varint(b, &mut at) as usize;
                    out.push((tag >> 3, &b[at..at + len]));
                    at += len;
                }
                t => panic!("wire type {t}"),
            }
        }
        out
    }

    /// Each `TimeSeries`' labels, decoded independently of the encoder.
    fn label_sets(body: &[u8]) -> Vec<Vec<(String, String)>> {
        fields(body)
            .into_iter()
            .map(|(n, ts)| {
                assert_eq!(n, 1, "WriteRequest.timeseries");
                fields(ts)
                    .into_iter()
                    .filter(|(n, _)| *n == 1)
                    .map(|(_, label)| {
                        let f = fields(label);
                        let s = |i: usize| String::from_utf8(f[i].1.to_vec()).unwrap();
                        (s(0), s(1))
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn labels_are_sorted_with_name_le_and_external_labels_in_place() {
        let reg = Registry::builder().self_metrics(false).build();
        let calls = reg
            .counter_family(Opts::new("calls_total", "C.").labels(&["zone", "app", "Zeta"]))
            .unwrap();
        calls
            .with_label_values(&["eu \"w\"\n1", "api", "z"])
            .unwrap()
            .inc();
        let lat = reg
            .histogram_family(
                Opts::new("lat_seconds", "L.").labels(&["path"]),
                Buckets::new(vec![0.5]).unwrap(),
            )
            .unwrap();
        lat.with_label_values(&["/x"]).unwrap().observe(0.1);
        reg.counter("plain_total", "P.").unwrap().inc();
        let external = [
            ("instance".to_string(), "i1".to_string()),
            ("app".to_string(), "loses to the own label".to_string()),
            ("aaa".to_string(), "first".to_string()),
        ];
        let mut body = Vec::new();
        let mut scratch = super::Scratch::default();
        let n = reg.encode_remote_write_with(&mut body, 1, &external, false, &mut scratch);
        let sets = label_sets(&body);
        assert_eq!(sets.len(), n);
        for set in &sets {
            assert!(set.windows(2).all(|w| w[0].0 < w[1].0), "sorted: {set:?}");
        }
        let find = |name: &str| -> Vec<(&str, &str)> {
            sets.iter()
                .find(|s| s.iter().any(|(k, v)| k == "__name__" && v == name))
                .unwrap_or_else(|| panic!("{name} in {sets:?}"))
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect()
        };
        assert_eq!(
            find("calls_total"),
            [
                ("Zeta", "z"),
                ("__name__", "calls_total"),
                ("aaa", "first"),
                ("app", "api"),
                ("instance", "i1"),
                ("zone", "eu \"w\"\n1"),
            ]
        );
        assert_eq!(
            find("lat_seconds_bucket"),
            [
                ("__name__", "lat_seconds_bucket"),
                ("aaa", "first"),
                ("app", "loses to the own label"),
                ("instance", "i1"),
                ("le", "0.5"),
                ("path", "/x"),
            ]
        );
        assert_eq!(
            find("lat_seconds_count"),
            [
                ("__name__", "lat_seconds_count"),
                ("aaa", "first"),
                ("app", "loses to the own label"),
                ("instance", "i1"),
                ("path", "/x"),
            ]
        );
        assert_eq!(
            find("plain_total"),
            [
                ("__name__", "plain_total"),
                ("aaa", "first"),
                ("app", "loses to the own label"),
                ("instance", "i1"),
            ]
        );
        // A second encode through the same scratch writes the same body.
        let mut again = Vec::new();
        reg.encode_remote_write_with(&mut again, 1, &external, false, &mut scratch);
        assert_eq!(again, body);
    }
}
