//! Exposition encoders: the seam between the collector and the formats.
//!
//! The collector (`collect.rs`) walks a registry's families and series,
//! reads their values from the shards, and hands an `Encoder` typed
//! values: for each exported name of a family a `FamilyView`, then per
//! series its rendered label text and a counter value (`u64`), a gauge
//! value (`i64`), a float, or a histogram's bucket counts and sum. The
//! encoder knows its format and MIME type and nothing of shards; the
//! collector knows nothing of any format. A new format is a new file here
//! implementing `Encoder`.
//!
//! The text 0.0.4 encoder ([`text`]) is built from:
//!
//! * `layout` — the text a family renders once, at registration (HELP and
//!   TYPE lines, sample names, label text, histogram `le` tails);
//! * `lines` — the line writer, on the output cursor (`cursor`) and its
//!   pen (`pen`), with the short copies (`copy`) and the number spellings
//!   (`number`, a leaf) beneath.
//!
//! Dependencies run one way: `copy`, `number` → `pen` → `cursor` →
//! `lines` → `text`, with `layout` beside `lines`.

mod copy;
mod cursor;
#[cfg(any(test, feature = "bench-internals"))]
pub(crate) mod floor;
pub(crate) mod format;
pub(crate) mod layout;
mod lines;
mod number;
pub(crate) mod openmetrics;
mod pen;
#[cfg(feature = "push")]
pub(crate) mod prompb;
pub(crate) mod protobuf;
pub mod text;
mod wire;

use layout::{LeTails, Variant};

pub(crate) use crate::exemplar::Exemplars;

/// What a series carries besides its value, for an encoder with
/// [`Encoder::EXEMPLARS`] (always empty for any other): its exemplar cells
/// and its creation time (OpenMetrics' `_created`, where the registry
/// keeps them).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Extras<'s> {
    pub(crate) exemplars: Option<&'s Exemplars>,
    /// Seconds since the Unix epoch.
    pub(crate) created: Option<f64>,
}

impl Extras<'_> {
    /// Nothing.
    pub(crate) const NONE: Extras<'static> = Extras {
        exemplars: None,
        created: None,
    };

    /// Whether there is nothing.
    #[inline(always)]
    pub(crate) fn is_empty(&self) -> bool {
        self.exemplars.is_none() && self.created.is_none()
    }
}
pub(crate) use crate::native_histogram::NativeLayout;

/// A family's metric type, as every format names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A monotonic counter (integer or float).
    Counter,
    /// A gauge (integer or float).
    Gauge,
    /// A histogram with explicit buckets.
    Histogram,
}

/// What an encoder sees of one exported name of a family (its own name or
/// a deprecated alias): the name, its pre-rendered text header, its kind,
/// and for histograms the bucket bounds and their rendered `le` tails.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FamilyView<'a> {
    /// The exported name and its rendered 0.0.4 header and sample names.
    pub(crate) variant: &'a Variant,
    /// The metric type.
    pub(crate) kind: Kind,
    /// A histogram's `le` tails, `+Inf` last (empty for other kinds).
    pub(crate) le_tails: &'a LeTails,
    /// A histogram's finite upper bounds (empty for other kinds); for a
    /// native histogram, its classic view's.
    pub(crate) bounds: &'a [f64],
}

impl<'a> FamilyView<'a> {
    /// A view of a counter or gauge name.
    pub(crate) fn plain(variant: &'a Variant, kind: Kind) -> FamilyView<'a> {
        FamilyView {
            variant,
            kind,
            le_tails: LeTails::none(),
            bounds: &[],
        }
    }
}

/// An exposition format, fed by the collector (see the module docs).
///
/// For each exported name of a family the collector calls
/// [`family`](Encoder::family) once and then the sample method of the
/// family's kind any number of times, each call appending the lines of the
/// series it yields, in order. For a group (`family/group.rs`) the sample
/// calls that follow come with the views of its members: the same name
/// and kind, each member's own label text and (for histograms) bounds. Label text is the series' rendered
/// `{name="value",...}` (empty for a family without labels). The
/// iterators' closures carry the collector's reads; an encoder consumes
/// each item once, in order, and keeps no reference past the call.
///
/// Implementations must not allocate once their output buffer has grown to
/// the body's size: "a steady-state scrape allocates nothing" holds through
/// every encoder.
pub(crate) trait Encoder {
    /// Whether the format carries exemplars: the collector reads a
    /// series' exemplar cells only for one that does, and hands `None`
    /// otherwise.
    const EXEMPLARS: bool = false;

    /// Whether the format carries native histograms: the collector hands
    /// such an encoder a native family's cells ([`Encoder::natives`]),
    /// and any other the classic view of them.
    const NATIVE: bool = false;

    /// A family's exported name begins; its samples follow.
    fn family(&mut self, family: &FamilyView<'_>);

    /// Integer counter series: label text, value and (for an encoder
    /// with [`Encoder::EXEMPLARS`]) the series' exemplar cells.
    fn counters<'s>(
        &mut self,
        family: &FamilyView<'_>,
        series: impl IntoIterator<Item = (&'s [u8], u64, Extras<'s>)>,
    );

    /// Integer gauge series: label text and value.
    fn gauges<'s>(
        &mut self,
        family: &FamilyView<'_>,
        series: impl IntoIterator<Item = (&'s [u8], i64)>,
    );

    /// Float counter or float gauge series (the family's kind says which):
    /// label text and value.
    fn floats<'s>(
        &mut self,
        family: &FamilyView<'_>,
        series: impl IntoIterator<Item = (&'s [u8], f64)>,
    );

    /// Histogram series: `read` fills `buckets` (one cell per bound, then
    /// `+Inf`; not cumulative) for an item and returns its label text,
    /// sum and (as for counters) exemplar cells, one per bucket. The
    /// count is the sum of the cells.
    fn histograms<'s, T>(
        &mut self,
        family: &FamilyView<'_>,
        buckets: &mut [u64],
        series: impl IntoIterator<Item = T>,
        read: impl FnMut(T, &mut [u64]) -> (&'s [u8], f64, Extras<'s>),
    );

    /// Native histogram series (only for an encoder with
    /// [`Encoder::NATIVE`]): `read` fills `cells` (the zero bucket, then
    /// one per bucket index from the layout's lowest) and returns the
    /// label text and sum.
    fn natives<'s, T>(
        &mut self,
        family: &FamilyView<'_>,
        layout: &NativeLayout,
        cells: &mut [u64],
        series: impl IntoIterator<Item = T>,
        read: impl FnMut(T, &mut [u64]) -> (&'s [u8], f64),
    ) {
        let _ = (family, layout, cells, series.into_iter(), read);
        unreachable!("the collector gives native cells only to an encoder with NATIVE")
    }
}

/// Writes one family of one unlabelled series in `format`: the exporter's
/// self-metrics, which live outside any registry. `Kind::Counter` and
/// `Kind::Gauge` only. (No `# EOF`: the caller ends an OpenMetrics body.)
#[cfg(feature = "exporter")]
pub(crate) fn write_single(
    out: &mut Vec<u8>,
    format: format::Format,
    variant: &Variant,
    kind: Kind,
    value: u64,
) {
    match format {
        format::Format::Text => single(&mut text::TextEncoder::new(out), variant, kind, value),
        format::Format::OpenMetrics => single(
            &mut openmetrics::OpenMetricsEncoder::new(out),
            variant,
            kind,
            value,
        ),
        format::Format::Protobuf => {
            let mut enc = protobuf::ProtobufEncoder::new(out);
            single(&mut enc, variant, kind, value);
            enc.finish();
        }
    }
}

/// One family of one unlabelled integer series into `enc`: a counter, or
/// for any other kind a gauge of `value as i64` (the registry's and the
/// exporter's self-metrics).
pub(crate) fn single<E: Encoder>(enc: &mut E, variant: &Variant, kind: Kind, value: u64) {
    let view = FamilyView::plain(variant, kind);
    enc.family(&view);
    match kind {
        Kind::Counter => enc.counters(&view, [(&b""[..], value, Extras::NONE)]),
        _ => enc.gauges(&view, [(&b""[..], value as i64)]),
    }
}
