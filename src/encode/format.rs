//! The exposition formats a scrape can be answered in ([`Format`]) and the
//! choice between them from a scraper's `Accept` header
//! ([`Format::negotiate`]).
//!
//! Prometheus asks, in order of preference, for protobuf (only with
//! `--enable-feature=native-histograms`), OpenMetrics 1.0 (and its draft
//! 0.0.1), then text 0.0.4, then anything:
//!
//! ```text
//! application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,
//! application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,
//! text/plain;version=0.0.4;q=0.3,*/*;q=0.1
//! ```
//!
//! The rules: each media range may carry a `q` between 0 and 1 (default
//! 1; `q=0` refuses it); the highest `q` that a format matches wins, and
//! between equal `q`s the range listed first. A format matches:
//!
//! - protobuf: `application/vnd.google.protobuf` with
//!   `proto=io.prometheus.client.MetricFamily` and `encoding=delimited`;
//! - OpenMetrics: `application/openmetrics-text` with no `version`, or
//!   version `1.0.0` or `0.0.1` (the body is 1.0.0 either way: Prometheus
//!   reads both alike);
//! - text: `text/plain` with no version or `0.0.4`, `text/*` and `*/*`.
//!
//! No header, an empty one, a header that cannot be read and one that
//! names nothing telemeter writes all give text 0.0.4: every scraper
//! reads it, and a scraper that would rather get nothing than text does
//! not exist. A format the source does not offer is skipped.
#![forbid(unsafe_code)]

use std::fmt;

/// An exposition format.
///
/// ```
/// use telemeter::Format;
/// let prometheus = "application/openmetrics-text;version=1.0.0,\
///     application/openmetrics-text;version=0.0.1;q=0.75,\
///     text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
/// assert_eq!(Format::negotiate(Some(prometheus), Format::ALL), Format::OpenMetrics);
/// assert_eq!(Format::negotiate(Some("*/*"), Format::ALL), Format::Text);
/// assert_eq!(Format::negotiate(None, Format::ALL), Format::Text);
/// assert_eq!(
///     Format::OpenMetrics.content_type(),
///     "application/openmetrics-text; version=1.0.0; charset=utf-8"
/// );
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// Prometheus text exposition format 0.0.4.
    Text,
    /// OpenMetrics 1.0 text (units, exemplars, `# EOF`).
    OpenMetrics,
    /// Length-delimited `io.prometheus.client.MetricFamily` protobuf
    /// messages (client_model's `metrics.proto`), with native histograms.
    Protobuf,
}

/// The `Content-Type` of an OpenMetrics 1.0 body.
pub const CONTENT_TYPE_OPENMETRICS: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The `Content-Type` of a delimited protobuf body.
pub const CONTENT_TYPE_PROTOBUF: &str = "application/vnd.google.protobuf; \
     proto=io.prometheus.client.MetricFamily; encoding=delimited";

impl Format {
    /// Every format, in the order [`Format::index`] numbers them.
    pub const ALL: &'static [Format] = &[Format::Text, Format::OpenMetrics, Format::Protobuf];

    /// Only text 0.0.4: what a source that writes nothing else offers.
    pub const TEXT_ONLY: &'static [Format] = &[Format::Text];

    /// The body's `Content-Type`.
    #[must_use]
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => super::text::CONTENT_TYPE,
            Format::OpenMetrics => CONTENT_TYPE_OPENMETRICS,
            Format::Protobuf => CONTENT_TYPE_PROTOBUF,
        }
    }

    /// 0, 1, 2 for text, OpenMetrics and protobuf (an index into
    /// per-format state).
    #[must_use]
    pub fn index(self) -> usize {
        match self {
            Format::Text => 0,
            Format::OpenMetrics => 1,
            Format::Protobuf => 2,
        }
    }

    /// The format to answer a scraper whose `Accept` header is `accept`
    /// with, among `offered` (see the module docs for the rules). Never
    /// fails: text 0.0.4 is the answer when nothing better matches, even
    /// when `offered` lacks it.
    #[must_use]
    pub fn negotiate(accept: Option<&str>, offered: &[Format]) -> Format {
        let Some(accept) = accept else {
            return Format::Text;
        };
        let mut best: Option<(u16, Format)> = None;
        for range in accept.split(',') {
            let Some((format, q)) = media_range(range) else {
                continue;
            };
            if q == 0 || !offered.contains(&format) {
                continue;
            }
            if best.is_none_or(|(b, _)| q > b) {
                best = Some((q, format));
            }
        }
        best.map_or(Format::Text, |(_, f)| f)
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Text => "text 0.0.4",
            Format::OpenMetrics => "OpenMetrics 1.0.0",
            Format::Protobuf => "protobuf (delimited MetricFamily)",
        })
    }
}

/// One media range of an `Accept` header: the format it names and its
/// `q` in thousandths; `None` when it names no format of ours or cannot be
/// read.
fn media_range(range: &str) -> Option<(Format, u16)> {
    let mut parts = range.split(';');
    let media = parts.next()?.trim();
    let (kind, sub) = media.split_once('/')?;
    let (kind, sub) = (kind.trim(), sub.trim());
    let mut q = 1000u16;
    let mut version = None;
    let mut proto = None;
    let mut encoding = None;
    for param in parts {
        let (name, value) = param.split_once('=')?;
        let value = value.trim().trim_matches('"');
        // Compared in place: a scrape's negotiation allocates nothing.
        let name = name.trim();
        if name.eq_ignore_ascii_case("q") {
            q = qvalue(value)?;
        } else if name.eq_ignore_ascii_case("version") {
            version = Some(value);
        } else if name.eq_ignore_ascii_case("proto") {
            proto = Some(value);
        } else if name.eq_ignore_ascii_case("encoding") {
            encoding = Some(value);
        }
    }
    let eq = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    let format = if eq(kind, "application") && eq(sub, "vnd.google.protobuf") {
        let ours = proto == Some("io.prometheus.client.MetricFamily")
            && encoding.is_some_and(|e| eq(e, "delimited"));
        ours.then_some(Format::Protobuf)?
    } else if eq(kind, "application") && eq(sub, "openmetrics-text") {
        matches!(version, None | Some("1.0.0") | Some("0.0.1")).then_some(Format::OpenMetrics)?
    } else if eq(kind, "text") && eq(sub, "plain") {
        matches!(version, None | Some("0.0.4")).then_some(Format::Text)?
    } else if (eq(kind, "text") || kind == "*") && sub == "*" {
        Format::Text
    } else {
        return None;
    };
    Some((format, q))
}

/// An RFC 9110 qvalue (`0`, `0.5`, `1.000`) in thousandths; `None` if it
/// is not one.
fn qvalue(s: &str) -> Option<u16> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut thousandths = 0u16;
    for i in 0..3 {
        thousandths = thousandths * 10 + frac.as_bytes().get(i).map_or(0, |b| u16::from(b - b'0'));
    }
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qvalues_follow_rfc_9110() {
        assert_eq!(qvalue("1"), Some(1000));
        assert_eq!(qvalue("1.000"), Some(1000));
        assert_eq!(qvalue("0.5"), Some(500));
        assert_eq!(qvalue("0.001"), Some(1));
        assert_eq!(qvalue("0"), Some(0));
        for bad in ["1.5", "2", "0.0001", "-1", "", "0.a", "x"] {
            assert_eq!(qvalue(bad), None, "{bad}");
        }
    }
}
