//! Prometheus text exposition format 0.0.4, written by hand.
//!
//! Rules (the Prometheus exposition-format spec):
//! * one `# HELP` (escaping `\` and newline only) and one `# TYPE` line per
//!   family, before its samples;
//! * label values escape `\`, `"` and newline;
//! * floats are written shortest-round-trip (the digits `ryu` gives), with
//!   `+Inf`, `-Inf` and `NaN` spelled so, and integral floats without `.0`;
//!   integers in decimal;
//! * the body ends with a newline.
//!
//! Each series' label text `{labels}` is rendered (and escaped) once, when
//! the series is created, and each family's sample names and bucket `le`
//! tails once, at registration; a scrape only copies those bytes (name,
//! labels, tail) and formats numbers into the caller's reused buffer.
#![forbid(unsafe_code)]

use super::copy::put;
use super::cursor::Cursor;
use super::lines::HistogramNames;
#[cfg(any(test, feature = "bench-internals"))]
use super::pen::put_value;
use super::{Encoder, Extras, FamilyView, Kind};

/// The `Content-Type` of a text 0.0.4 body.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Writes a float as [`push_f64`](super::layout::push_f64) does, into a
/// byte buffer (the encoder floor's check).
#[cfg(any(test, feature = "bench-internals"))]
#[inline]
pub(crate) fn write_f64(out: &mut Vec<u8>, v: f64) {
    put_value(out, v);
}

/// Writes an unsigned integer (the encoder floor's check).
#[cfg(any(test, feature = "bench-internals"))]
#[inline]
pub(crate) fn write_u64(out: &mut Vec<u8>, v: u64) {
    put_value(out, v);
}

/// The text 0.0.4 encoder: appends a body to a caller's buffer.
pub(crate) struct TextEncoder<'a> {
    out: &'a mut Vec<u8>,
}

impl<'a> TextEncoder<'a> {
    /// An encoder appending to `out`.
    pub(crate) fn new(out: &'a mut Vec<u8>) -> TextEncoder<'a> {
        TextEncoder { out }
    }

    /// A cursor for a run of lines.
    #[inline]
    fn cursor(&mut self) -> Cursor<'_> {
        Cursor::new(self.out, 4096)
    }
}

impl Encoder for TextEncoder<'_> {
    #[inline]
    fn family(&mut self, family: &FamilyView<'_>) {
        debug_assert_eq!(
            family.kind == Kind::Histogram,
            !family.variant.suffixed.is_empty(),
            "a histogram name and only one carries the suffixed sample names"
        );
        debug_assert_eq!(
            family.le_tails.len(),
            family.bounds.len() + usize::from(family.kind == Kind::Histogram)
        );
        put(self.out, family.variant.header.as_bytes());
    }

    #[inline(always)]
    fn counters<'s>(
        &mut self,
        family: &FamilyView<'_>,
        series: impl IntoIterator<Item = (&'s [u8], u64, Extras<'s>)>,
    ) {
        self.cursor().samples(
            family.variant.name().as_bytes(),
            series.into_iter().map(
                #[inline(always)]
                |(t, v, _)| (t, v),
            ),
        );
    }

    #[inline(always)]
    fn gauges<'s>(
        &mut self,
        family: &FamilyView<'_>,
        series: impl IntoIterator<Item = (&'s [u8], i64)>,
    ) {
        self.cursor()
            .samples(family.variant.name().as_bytes(), series);
    }

    #[inline(always)]
    fn floats<'s>(
        &mut self,
        family: &FamilyView<'_>,
        series: impl IntoIterator<Item = (&'s [u8], f64)>,
    ) {
        self.cursor()
            .samples(family.variant.name().as_bytes(), series);
    }

    #[inline(always)]
    fn histograms<'s, T>(
        &mut self,
        family: &FamilyView<'_>,
        buckets: &mut [u64],
        series: impl IntoIterator<Item = T>,
        mut read: impl FnMut(T, &mut [u64]) -> (&'s [u8], f64, Extras<'s>),
    ) {
        let [bucket, sum, count] = &family.variant.suffixed[..] else {
            // Not a histogram name: nothing to write these lines under.
            return;
        };
        let names = HistogramNames::new(bucket, sum, count, family.le_tails);
        self.cursor().histograms(
            &names,
            buckets,
            series,
            #[inline(always)]
            |item, b| {
                let (t, sum, _) = read(item, b);
                (t, sum)
            },
        );
    }
}
