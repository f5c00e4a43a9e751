//! A strict parser for the Prometheus text exposition format, version 0.0.4.
//!
//! telemeter writes its scrape bodies by hand, so it needs an independent
//! reader to prove that what it writes is what Prometheus will read. This
//! parser accepts nothing that Go's `expfmt.TextParser` (what
//! `promtool check metrics` and the Prometheus server's text path use)
//! rejects, and it is stricter wherever a stricter rule only catches encoder
//! bugs:
//!
//! - the body must be empty or end with `\n`; a carriage return is refused
//!   everywhere except inside label values and HELP text, where 0.0.4 has no
//!   escape for it and it is plain data;
//! - a sample line has no trailing blanks, and its name, label set, value and
//!   timestamp are separated by at least one space or tab;
//! - each family (HELP, TYPE and samples) is one contiguous block, HELP and
//!   TYPE come before its first sample, and a series (name plus label set)
//!   appears once;
//! - label names starting with `__` are reserved; `le` is only allowed on
//!   histogram `_bucket` samples (and on untyped or summary families);
//! - histograms are checked per label set: buckets strictly increasing in
//!   `le`, cumulative counts non-decreasing, a `+Inf` bucket, and a `_count`
//!   equal to it; summaries need a `quantile` in `[0, 1]` on their quantile
//!   samples; counters are never negative.
//!
//! It is a single pass over the input with a hand-written byte scanner; it
//! never panics, whatever the input.
//!
//! Its sibling [`openmetrics`] is an equally strict, independent parser for
//! the OpenMetrics 1.0 text format, reporting problems with the same
//! [`ParseError`].
//!
//! # Examples
//!
//! ```
//! use telemeter::parse::{parse, MetricType};
//!
//! let body = concat!(
//!     "# HELP http_requests_total Requests served.\n",
//!     "# TYPE http_requests_total counter\n",
//!     "http_requests_total{method=\"GET\",code=\"200\"} 1027 1395066363000\n",
//! );
//! let exposition = parse(body).unwrap();
//! let family = exposition.family("http_requests_total").unwrap();
//! assert_eq!(family.kind, MetricType::Counter);
//! assert_eq!(family.help.as_deref(), Some("Requests served."));
//! let sample = family
//!     .find("http_requests_total", &[("code", "200"), ("method", "GET")])
//!     .unwrap();
//! assert_eq!(sample.value, 1027.0);
//! assert_eq!(sample.timestamp_ms, Some(1395066363000));
//!
//! let err = parse("up 1").unwrap_err();
//! assert_eq!(err.line, 1);
//! assert!(err.to_string().starts_with("line 1: "));
//! ```
#![forbid(unsafe_code)]

// Split by concern; each module uses only those named before it here:
// `exposition` (the parsed data model), `error` (the error catalogue),
// `lexer` (one line into a HELP, TYPE or sample, checked on its own),
// `check` (the `Parser`: the rules that span lines). This file holds the
// entry points and re-exports the public types.
mod check;
mod error;
mod exposition;
mod lexer;
pub mod openmetrics;

pub use error::{ParseError, ParseErrorKind};
pub use exposition::{Exposition, MetricType, ParsedFamily, Sample};

use check::Parser;
use error::err;

/// Parses an exposition body.
///
/// Returns the families in order of appearance, or the first problem found
/// (in line order; histogram completeness is checked when a family ends).
///
/// # Examples
///
/// ```
/// let body = "# HELP temp_celsius Room temperature.\n# TYPE temp_celsius gauge\ntemp_celsius{room=\"k\\\"1\"} -3.5\n";
/// let exposition = telemeter::parse::parse(body).unwrap();
/// let family = exposition.family("temp_celsius").unwrap();
/// assert_eq!(family.find("temp_celsius", &[("room", "k\"1")]).unwrap().value, -3.5);
///
/// let err = telemeter::parse::parse("a 1\na 2\n").unwrap_err();
/// assert_eq!(err.to_string(), "line 2: duplicate series a; each name and label set may appear only once");
/// ```
pub fn parse(input: &str) -> Result<Exposition, ParseError> {
    let mut parser = Parser::default();
    let mut rest = input;
    let mut line_no = 0usize;
    while !rest.is_empty() {
        line_no += 1;
        let Some(end) = rest.find('\n') else {
            return Err(err(line_no, ParseErrorKind::MissingTrailingNewline));
        };
        let line = rest.get(..end).unwrap_or_default();
        rest = rest.get(end + 1..).unwrap_or_default();
        parser.line(line, line_no)?;
    }
    parser.finish()
}

/// Parses an exposition body given as bytes; invalid UTF-8 is a
/// [`ParseErrorKind::InvalidUtf8`] error on the line where it occurs.
///
/// # Examples
///
/// ```
/// use telemeter::parse::{parse_bytes, ParseErrorKind};
///
/// assert_eq!(parse_bytes(b"up 1\n").unwrap().sample_count(), 1);
/// let err = parse_bytes(b"up 1\nbad{x=\"\xff\"} 1\n").unwrap_err();
/// assert_eq!((err.line, err.kind), (2, ParseErrorKind::InvalidUtf8));
/// ```
pub fn parse_bytes(input: &[u8]) -> Result<Exposition, ParseError> {
    match std::str::from_utf8(input) {
        Ok(text) => parse(text),
        Err(utf8) => {
            let valid = input.get(..utf8.valid_up_to()).unwrap_or_default();
            let line = 1 + valid.iter().filter(|&&b| b == b'\n').count();
            Err(err(line, ParseErrorKind::InvalidUtf8))
        }
    }
}
