//! OpenMetrics 1.0 text, written by hand beside text 0.0.4.
//!
//! What differs from 0.0.4 (the OpenMetrics 1.0 specification):
//! * a counter's MetricFamily is named without `_total` in its `# HELP`
//!   and `# TYPE` lines, and its samples with it (a counter registered
//!   without the suffix gets it here);
//! * HELP escapes `"` as well as `\` and newline;
//! * a family with a unit (`Opts::unit`) has a `# UNIT` line;
//! * counter samples and histogram buckets may end with an exemplar:
//!   ` # {trace_id="..."} value timestamp`, the timestamp in seconds;
//! * the body ends with `# EOF` (written by [`finish`], after every
//!   family: the server's own come after the registry's).
//!
//! Label text, `le` tails, numbers and the line writer are the text
//! encoder's: a series without an exemplar is written by the same loop,
//! so an OpenMetrics scrape costs what a 0.0.4 one does plus the
//! exemplars it carries.
#![forbid(unsafe_code)]

use super::copy::put;
use super::cursor::Cursor;
use super::lines::HistogramNames;
use super::pen::put_value;
use super::{Encoder, Exemplars, Extras, FamilyView};

/// The last line of every OpenMetrics body.
pub(crate) const EOF: &[u8] = b"# EOF\n";

/// Ends an OpenMetrics body.
pub(crate) fn finish(out: &mut Vec<u8>) {
    out.extend_from_slice(EOF);
}

/// The OpenMetrics encoder: appends families (not `# EOF`) to a buffer.
pub(crate) struct OpenMetricsEncoder<'a> {
    out: &'a mut Vec<u8>,
}

impl<'a> OpenMetricsEncoder<'a> {
    /// An encoder appending to `out`.
    pub(crate) fn new(out: &'a mut Vec<u8>) -> OpenMetricsEncoder<'a> {
        OpenMetricsEncoder { out }
    }

    #[inline]
    fn cursor(&mut self) -> Cursor<'_> {
        Cursor::new(self.out, 4096)
    }
}

/// Appends ` # {labels} value timestamp` for cell `i` of `ex`, if it holds
/// an exemplar.
fn put_exemplar(out: &mut Vec<u8>, ex: &Exemplars, i: usize) {
    ex.with(i, |r| {
        put(out, b" # ");
        out.extend_from_slice(r.labels.as_bytes());
        out.push(b' ');
        put_value(out, r.value);
        out.push(b' ');
        put_value(out, r.timestamp);
    });
}

/// A sample line with its extras (the path off the shared loop): the
/// exemplar at the line's end, then the `_created` line.
fn put_sample_with_extras<V: super::pen::Value>(
    out: &mut Vec<u8>,
    family: &FamilyView<'_>,
    labels: &[u8],
    v: V,
    extras: Extras<'_>,
) {
    put(out, family.variant.om_name.as_bytes());
    put(out, labels);
    out.push(b' ');
    put_value(out, v);
    if let Some(ex) = extras.exemplars {
        put_exemplar(out, ex, 0);
    }
    out.push(b'\n');
    put_created(out, family, labels, extras.created);
}

/// `name_created{labels} time`, where a creation time is kept.
fn put_created(out: &mut Vec<u8>, family: &FamilyView<'_>, labels: &[u8], created: Option<f64>) {
    if let Some(t) = created {
        put(out, family.variant.om_created.as_bytes());
        put(out, labels);
        out.push(b' ');
        put_value(out, t);
        out.push(b'\n');
    }
}

impl Encoder for OpenMetricsEncoder<'_> {
    const EXEMPLARS: bool = true;

    #[inline]
    fn family(&mut self, family: &FamilyView<'_>) {
        put(self.out, family.variant.om_header.as_bytes());
    }

    fn counters<'s>(
        &mut self,
        family: &FamilyView<'_>,
        series: impl IntoIterator<Item = (&'s [u8], u64, Extras<'s>)>,
    ) {
        let name = family.variant.om_name.as_bytes();
        let mut series = series.into_iter().peekable();
        loop {
            // The run of series with no extras, in the shared loop.
            self.cursor().samples(
                name,
                std::iter::from_fn(|| series.next_if(|s| s.2.is_empty()).map(|(t, v, _)| (t, v))),
            );
            match series.next() {
                Some((text, v, extras)) => {
                    put_sample_with_extras(self.out, family, text, v, extras)
                }
                None => break,
            }
        }
    }

    fn gauges<'s>(
        &mut self,
        family: &FamilyView<'_>,
        series: impl IntoIterator<Item = (&'s [u8], i64)>,
    ) {
        self.cursor()
            .samples(family.variant.om_name.as_bytes(), series);
    }

    fn floats<'s>(
        &mut self,
        family: &FamilyView<'_>,
        series: impl IntoIterator<Item = (&'s [u8], f64)>,
    ) {
        self.cursor()
            .samples(family.variant.om_name.as_bytes(), series);
    }

    fn histograms<'s, T>(
        &mut self,
        family: &FamilyView<'_>,
        buckets: &mut [u64],
        series: impl IntoIterator<Item = T>,
        mut read: impl FnMut(T, &mut [u64]) -> (&'s [u8], f64, Extras<'s>),
    ) {
        let [bucket, sum, count] = &family.variant.suffixed[..] else {
            return;
        };
        let names = HistogramNames::new(bucket, sum, count, family.le_tails);
        for item in series {
            let (labels, total, extras) = read(item, buckets);
            match extras.exemplars {
                None => self
                    .cursor()
                    .histograms(&names, buckets, [()], |(), _| (labels, total)),
                Some(ex) => {
                    // The label text without its `}`: each tail closes it.
                    let open = &labels[..labels.len().saturating_sub(1)];
                    let mut cumulative = 0u64;
                    for (i, (cell, tail)) in buckets.iter().zip(names.tails).enumerate() {
                        cumulative = cumulative.saturating_add(*cell);
                        put(self.out, names.bucket);
                        put(self.out, open);
                        put(self.out, tail.as_bytes());
                        put_value(self.out, cumulative);
                        put_exemplar(self.out, ex, i);
                        self.out.push(b'\n');
                    }
                    self.cursor().samples(names.sum, [(labels, total)]);
                    self.cursor().samples(names.count, [(labels, cumulative)]);
                }
            }
            put_created(self.out, family, labels, extras.created);
        }
    }
}
