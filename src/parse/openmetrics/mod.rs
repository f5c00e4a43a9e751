//! A strict parser for the OpenMetrics 1.0 text format.
//!
//! The sibling of the 0.0.4 parser ([`crate::parse`]), and as independent
//! of it as of telemeter's encoder: it shares only the error type,
//! [`ParseError`], so that both parsers report problems the same way. It
//! follows the [OpenMetrics 1.0 specification][spec] (the ABNF wherever the
//! prose is looser, as the spec says) and is stricter only where a
//! stricter rule catches nothing but encoder bugs:
//!
//! - the body ends with the line `# EOF` (optionally followed by one `\n`)
//!   and nothing after it; no blank lines, no comments, no `\r` outside
//!   label values and HELP text, no byte order mark;
//! - fields are separated by exactly one space; label sets have no blanks
//!   and no trailing comma; metric names match `[a-zA-Z_:][a-zA-Z0-9_:]*`,
//!   label names `[a-zA-Z_][a-zA-Z0-9_]*`, without a `__` prefix and
//!   without duplicates;
//! - label values and HELP text escape `\\`, `\"` and `\n` and nothing
//!   else (the spec tolerates other escapes but says they SHOULD NOT be
//!   written: this parser refuses them), and HELP text escapes every `"`;
//! - `# HELP`, `# TYPE` and `# UNIT` at most once per family, before its
//!   samples; the type is one of the eight; a unit is the suffix `_<unit>`
//!   of the family name and not on info or stateset families; a counter
//!   family is named without `_total`;
//! - each family is one contiguous block and owns its name and its type's
//!   sample names (`foo_total`, `foo_created` of counter `foo`), which no
//!   other family may use; within a family, each Metric (label set) is one
//!   contiguous block;
//! - sample names carry their type's suffixes only (counter `_total`,
//!   `_created`; histogram `_bucket`, `_count`, `_sum`, `_created`; gauge
//!   histogram `_bucket`, `_gcount`, `_gsum`; summary none (a quantile),
//!   `_count`, `_sum`, `_created`; info `_info`; gauge, stateset and unknown
//!   none), and each type's labels and values are checked: `le` and
//!   `quantile` are numbers (`le` of infinity spelled `+Inf`), counter-like
//!   values are non-negative and not NaN, counts are integers, info values
//!   1, states 0 or 1;
//! - histograms are checked per MetricPoint: buckets strictly increasing in
//!   `le`, cumulative counts non-decreasing, a `+Inf` bucket, `_count` and
//!   `_sum` together or not at all, `_count` equal to the `+Inf` bucket, no
//!   `_sum` with negative buckets (a gauge histogram's `_gsum` negative only
//!   with them); every counter MetricPoint has a `_total`;
//! - timestamps are numbers of seconds; a Metric's samples all have one or
//!   none do; they never go back. Without timestamps a sample (name and
//!   label set) appears once; with them, a repeated sample starts the
//!   Metric's next MetricPoint, as the spec allows;
//! - exemplars (` # {labels} value [timestamp]`) only on a counter's
//!   `_total` and on buckets, their labels at most 128 characters together,
//!   a bucket's exemplar value within the bucket (at most its `le`).
//!
//! An empty HELP or UNIT line counts as the family's one line of that kind
//! but, as the spec says, means no HELP or unit: it parses to `None`.
//!
//! It is a single pass over the input with a hand-written byte scanner; it
//! never panics, whatever the input.
//!
//! [spec]: https://github.com/OpenObservability/OpenMetrics/blob/main/specification/OpenMetrics.md
//!
//! # Examples
//!
//! ```
//! use telemeter::parse::openmetrics::{parse, OmType};
//!
//! let body = concat!(
//!     "# TYPE http_requests counter\n",
//!     "# HELP http_requests Requests served.\n",
//!     "http_requests_total{code=\"200\"} 1027 # {trace_id=\"4bf9\"} 1 1520879607.789\n",
//!     "http_requests_created{code=\"200\"} 1520430000.123\n",
//!     "# EOF\n",
//! );
//! let set = parse(body).unwrap();
//! let family = set.family("http_requests").unwrap();
//! assert_eq!(family.kind, OmType::Counter);
//! let total = family.find("http_requests_total", &[("code", "200")]).unwrap();
//! assert_eq!(total.value, 1027.0);
//! assert_eq!(total.exemplar.as_ref().unwrap().timestamp, Some(1520879607.789));
//!
//! // A counter's sample is `_total`; `# EOF` is required.
//! let err = parse("# TYPE jobs counter\njobs 1\n# EOF\n").unwrap_err();
//! assert_eq!(err.line, 2);
//! let err = parse("up 1\n").unwrap_err();
//! assert_eq!(err.to_string(), "line 2: body does not end with `# EOF`; end an OpenMetrics body with the line `# EOF` (and at most one \\n after it)");
//! ```
#![forbid(unsafe_code)]

// Split by concern; each module uses only those named before it here:
// `model` (the parsed data model), `lexer` (one line into a HELP, TYPE,
// UNIT or sample line, checked on its own), `check` (the `Parser`: the
// rules that span lines). This file holds the entry points.
mod check;
mod lexer;
mod model;

#[cfg(test)]
mod tests;

pub use model::{OmExemplar, OmExposition, OmFamily, OmSample, OmType};

use super::error::err;
use super::{ParseError, ParseErrorKind};
use check::Parser;

/// Parses an OpenMetrics 1.0 text body.
///
/// Returns the families in order of appearance, or the first problem found
/// (in line order; a MetricPoint's completeness, such as a histogram's
/// `+Inf` bucket, is checked when the point ends).
///
/// # Examples
///
/// ```
/// use telemeter::parse::{openmetrics, ParseErrorKind};
///
/// let body = "# TYPE temp_celsius gauge\n# UNIT temp_celsius celsius\ntemp_celsius{room=\"k\\\"1\"} -3.5 1520879607.789\n# EOF";
/// let set = openmetrics::parse(body).unwrap();
/// let family = set.family("temp_celsius").unwrap();
/// let sample = family.find("temp_celsius", &[("room", "k\"1")]).unwrap();
/// assert_eq!((sample.value, sample.timestamp), (-3.5, Some(1520879607.789)));
///
/// let err = openmetrics::parse("a 1\na 2\n# EOF\n").unwrap_err();
/// assert_eq!(err.to_string(), "line 2: duplicate series a; each name and label set may appear only once");
/// let err = openmetrics::parse("a 1\n\n# EOF\n").unwrap_err();
/// assert_eq!((err.line, err.kind), (2, ParseErrorKind::BlankLine));
/// ```
pub fn parse(body: &str) -> Result<OmExposition, ParseError> {
    let mut parser = Parser::default();
    let mut rest = body;
    let mut line_no = 0usize;
    loop {
        line_no += 1;
        if rest.is_empty() {
            return Err(err(line_no, ParseErrorKind::MissingEof));
        }
        let (line, after, terminated) = match rest.find('\n') {
            Some(end) => (
                rest.get(..end).unwrap_or_default(),
                rest.get(end + 1..).unwrap_or_default(),
                true,
            ),
            None => (rest, "", false),
        };
        if line == "# EOF" {
            if !after.is_empty() {
                return Err(err(line_no + 1, ParseErrorKind::ContentAfterEof));
            }
            return parser.finish();
        }
        parser.line(line, line_no)?;
        if !terminated {
            return Err(err(line_no, ParseErrorKind::MissingEof));
        }
        rest = after;
    }
}

/// Parses an OpenMetrics body given as bytes; invalid UTF-8 is a
/// [`ParseErrorKind::InvalidUtf8`] error on the line where it occurs.
///
/// # Examples
///
/// ```
/// use telemeter::parse::{openmetrics, ParseErrorKind};
///
/// assert_eq!(openmetrics::parse_bytes(b"up 1\n# EOF\n").unwrap().sample_count(), 1);
/// let err = openmetrics::parse_bytes(b"up 1\nbad{x=\"\xff\"} 1\n# EOF\n").unwrap_err();
/// assert_eq!((err.line, err.kind), (2, ParseErrorKind::InvalidUtf8));
/// ```
pub fn parse_bytes(body: &[u8]) -> Result<OmExposition, ParseError> {
    match std::str::from_utf8(body) {
        Ok(text) => parse(text),
        Err(utf8) => {
            let valid = body.get(..utf8.valid_up_to()).unwrap_or_default();
            let line = 1 + valid.iter().filter(|&&b| b == b'\n').count();
            Err(err(line, ParseErrorKind::InvalidUtf8))
        }
    }
}
