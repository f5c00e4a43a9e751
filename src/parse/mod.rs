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

mod error;
mod exposition;
mod lexer;

pub use error::{ParseError, ParseErrorKind};
pub use exposition::{Exposition, MetricType, ParsedFamily, Sample};

use error::err;
use lexer::{
    char_at, label_name_end, label_value, metric_name_end, parse_go_float, scan_until, skip_blanks,
    slice, unescape_help, FloatError,
};
use std::collections::{HashMap, HashSet};
use std::fmt;

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

/// Appends `value` to `out` escaped as in a label value.
fn push_escaped(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Renders `name{k="v",...}` for error messages, skipping the label `skip`.
fn render_series(name: &str, labels: &[(String, String)], skip: Option<&str>) -> String {
    let mut out = name.to_owned();
    let mut first = true;
    for (k, v) in labels {
        if Some(k.as_str()) == skip {
            continue;
        }
        out.push(if first { '{' } else { ',' });
        first = false;
        out.push_str(k);
        out.push_str("=\"");
        push_escaped(&mut out, v);
        out.push('"');
    }
    if !first {
        out.push('}');
    }
    out
}

/// Appends an unambiguous, order-insensitive key for a label set (minus
/// `skip`) to `key`: length-prefixed pairs, sorted by label name.
fn push_label_key(key: &mut String, labels: &[(String, String)], skip: Option<&str>) {
    let mut sorted: Vec<&(String, String)> = labels
        .iter()
        .filter(|(k, _)| Some(k.as_str()) != skip)
        .collect();
    sorted.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    for (k, v) in sorted {
        push_len_prefixed(key, k);
        push_len_prefixed(key, v);
    }
}

fn push_len_prefixed(key: &mut String, part: &str) {
    use fmt::Write as _;
    // Writing to a String cannot fail.
    let _ = write!(key, "{}:", part.len());
    key.push_str(part);
}

// ---------------------------------------------------------------------------
// The parser proper.
// ---------------------------------------------------------------------------

/// Up to this many labels, duplicates are found by a linear scan.
const DUPLICATE_SCAN_LIMIT: usize = 16;

/// What a sample is within its family.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// The sample of a counter, gauge or untyped family.
    Plain,
    /// A histogram `_bucket`.
    Bucket,
    /// A histogram or summary `_sum`.
    Sum,
    /// A histogram or summary `_count`.
    Count,
    /// A summary quantile sample (named like the family).
    Quantile,
}

/// The running checks of one histogram series (one label set minus `le`).
struct HistogramSeries {
    /// Rendered `family{labels}` for messages.
    series: String,
    /// The line of the series' first sample.
    first_line: usize,
    /// The bound and count of the last bucket seen.
    last_bucket: Option<(f64, f64)>,
    /// The `+Inf` bucket's count.
    inf_bucket: Option<f64>,
    /// The `_count` value and its line.
    count: Option<(f64, usize)>,
}

#[derive(Default)]
struct Parser {
    families: Vec<ParsedFamily>,
    /// Whether each family (same index) had a TYPE line.
    typed: Vec<bool>,
    /// Family index by family name.
    by_name: HashMap<String, usize>,
    /// The family being written; every other family is closed.
    current: Option<usize>,
    /// Series keys of the current family.
    series: HashSet<String>,
    /// Histogram series of the current family, in order of appearance.
    histograms: Vec<HistogramSeries>,
    /// Index into `histograms` by label key.
    histogram_index: HashMap<String, usize>,
    /// Scratch buffer for keys.
    key: String,
}

impl Parser {
    fn line(&mut self, line: &str, n: usize) -> Result<(), ParseError> {
        let b = line.as_bytes();
        let start = skip_blanks(b, 0);
        match b.get(start) {
            None => Ok(()),
            Some(b'#') => self.comment(line, start + 1, n),
            Some(_) => self.sample(line, start, n),
        }
    }

    fn finish(mut self) -> Result<Exposition, ParseError> {
        self.close_current()?;
        Ok(Exposition {
            families: self.families,
        })
    }

    /// A `#` line: HELP, TYPE or an ignored comment. `pos` is just after `#`.
    fn comment(&mut self, line: &str, pos: usize, n: usize) -> Result<(), ParseError> {
        let b = line.as_bytes();
        let kw_start = skip_blanks(b, pos);
        let kw_end = scan_until(b, kw_start, b" \t");
        let keyword = match line.get(kw_start..kw_end) {
            Some("HELP") => "HELP",
            Some("TYPE") => "TYPE",
            _ => {
                if b.contains(&b'\r') {
                    return Err(err(n, ParseErrorKind::CarriageReturn));
                }
                return Ok(());
            }
        };
        let name_start = skip_blanks(b, kw_end);
        let name_end = metric_name_end(b, name_start);
        match b.get(name_end) {
            None | Some(b' ' | b'\t') if name_end > name_start => {}
            None => return Err(err(n, ParseErrorKind::MissingMetadataName { keyword })),
            Some(b'\r') => return Err(err(n, ParseErrorKind::CarriageReturn)),
            Some(_) => {
                let end = scan_until(b, name_start, b" \t");
                let found = slice(line, name_start, end);
                if found.contains('\r') {
                    return Err(err(n, ParseErrorKind::CarriageReturn));
                }
                return Err(err(n, ParseErrorKind::InvalidMetricName { found }));
            }
        }
        let name = line.get(name_start..name_end).unwrap_or_default();
        let text_start = skip_blanks(b, name_end);
        let text = line.get(text_start..).unwrap_or_default();
        if keyword == "HELP" {
            let help = unescape_help(text).map_err(|kind| err(n, kind))?;
            let index = self.open_for_metadata(name, keyword, n)?;
            if let Some(family) = self.families.get_mut(index) {
                if family.help.is_some() {
                    return Err(err(
                        n,
                        ParseErrorKind::DuplicateHelp {
                            family: name.to_owned(),
                        },
                    ));
                }
                family.help = Some(help);
            }
            return Ok(());
        }
        if text.contains('\r') {
            return Err(err(n, ParseErrorKind::CarriageReturn));
        }
        if text.is_empty() {
            return Err(err(
                n,
                ParseErrorKind::MissingType {
                    family: name.to_owned(),
                },
            ));
        }
        let Some(kind) = MetricType::from_token(text) else {
            return Err(err(
                n,
                ParseErrorKind::UnknownType {
                    family: name.to_owned(),
                    found: text.to_owned(),
                },
            ));
        };
        let index = self.open_for_metadata(name, keyword, n)?;
        if self.typed.get(index).copied().unwrap_or(false) {
            return Err(err(
                n,
                ParseErrorKind::DuplicateType {
                    family: name.to_owned(),
                },
            ));
        }
        let children: &[&str] = match kind {
            MetricType::Histogram => &["_bucket", "_sum", "_count"],
            MetricType::Summary => &["_sum", "_count"],
            _ => &[],
        };
        for suffix in children {
            let child = format!("{name}{suffix}");
            if self.by_name.contains_key(&child) {
                return Err(err(
                    n,
                    ParseErrorKind::NameCollision {
                        name: child,
                        family: name.to_owned(),
                    },
                ));
            }
        }
        if let Some(typed) = self.typed.get_mut(index) {
            *typed = true;
        }
        if let Some(family) = self.families.get_mut(index) {
            family.kind = kind;
        }
        Ok(())
    }

    /// The family a HELP or TYPE line for `name` applies to: the current
    /// family if it is `name` and has no samples yet, else a new one.
    fn open_for_metadata(
        &mut self,
        name: &str,
        keyword: &'static str,
        n: usize,
    ) -> Result<usize, ParseError> {
        if let Some(&index) = self.by_name.get(name) {
            let has_samples = self
                .families
                .get(index)
                .is_some_and(|family| !family.samples.is_empty());
            if self.current == Some(index) && !has_samples {
                return Ok(index);
            }
            if self.current == Some(index) {
                return Err(err(
                    n,
                    ParseErrorKind::MetadataAfterSamples {
                        keyword,
                        family: name.to_owned(),
                    },
                ));
            }
            return Err(self.not_contiguous(name, n));
        }
        // A new family must not take a name that a histogram or summary
        // family already uses for its series.
        for (suffix, kinds) in [
            ("_bucket", &[MetricType::Histogram][..]),
            ("_sum", &[MetricType::Histogram, MetricType::Summary][..]),
            ("_count", &[MetricType::Histogram, MetricType::Summary][..]),
        ] {
            let Some(base) = name.strip_suffix(suffix) else {
                continue;
            };
            if let Some(owner) = self.family_by_name(base) {
                if kinds.contains(&owner.kind) {
                    return Err(err(
                        n,
                        ParseErrorKind::NameCollision {
                            name: name.to_owned(),
                            family: base.to_owned(),
                        },
                    ));
                }
            }
        }
        self.open_new(name)
    }

    fn family_by_name(&self, name: &str) -> Option<&ParsedFamily> {
        self.by_name
            .get(name)
            .and_then(|&index| self.families.get(index))
    }

    fn not_contiguous(&self, name: &str, n: usize) -> ParseError {
        let interrupted_by = self
            .current
            .and_then(|index| self.families.get(index))
            .map(|family| family.name.clone())
            .unwrap_or_default();
        err(
            n,
            ParseErrorKind::NotContiguous {
                family: name.to_owned(),
                interrupted_by,
            },
        )
    }

    /// Closes the current family and starts an untyped one called `name`.
    fn open_new(&mut self, name: &str) -> Result<usize, ParseError> {
        self.close_current()?;
        let index = self.families.len();
        self.families.push(ParsedFamily {
            name: name.to_owned(),
            help: None,
            kind: MetricType::Untyped,
            samples: Vec::new(),
        });
        self.typed.push(false);
        self.by_name.insert(name.to_owned(), index);
        self.current = Some(index);
        Ok(index)
    }

    /// Runs the end-of-family checks (histogram completeness) and forgets
    /// the per-family state.
    fn close_current(&mut self) -> Result<(), ParseError> {
        self.current = None;
        self.series.clear();
        self.histogram_index.clear();
        for h in self.histograms.drain(..) {
            let Some(inf_bucket) = h.inf_bucket else {
                return Err(err(
                    h.first_line,
                    ParseErrorKind::MissingInfBucket { series: h.series },
                ));
            };
            let Some((count, line)) = h.count else {
                return Err(err(
                    h.first_line,
                    ParseErrorKind::MissingHistogramCount { series: h.series },
                ));
            };
            // Compare as numbers, and treat two infinities as equal.
            #[allow(clippy::float_cmp)]
            let equal = count == inf_bucket;
            if !equal {
                return Err(err(
                    line,
                    ParseErrorKind::CountMismatch {
                        series: h.series,
                        count,
                        inf_bucket,
                    },
                ));
            }
        }
        Ok(())
    }

    /// Finds the family and role of a sample called `name`, opening a new
    /// untyped family if it belongs to none.
    fn resolve(&mut self, name: &str, n: usize) -> Result<(usize, Role), ParseError> {
        if let Some(index) = self.current {
            if let Some(family) = self.families.get(index) {
                let base = family.name.as_str();
                let suffix = name.strip_prefix(base);
                let role = match (family.kind, suffix) {
                    (MetricType::Histogram, Some("")) => {
                        return Err(err(
                            n,
                            ParseErrorKind::InvalidHistogramSample {
                                family: base.to_owned(),
                            },
                        ))
                    }
                    (MetricType::Histogram, Some("_bucket")) => Some(Role::Bucket),
                    (MetricType::Histogram | MetricType::Summary, Some("_sum")) => Some(Role::Sum),
                    (MetricType::Histogram | MetricType::Summary, Some("_count")) => {
                        Some(Role::Count)
                    }
                    (MetricType::Summary, Some("")) => Some(Role::Quantile),
                    (_, Some("")) => Some(Role::Plain),
                    _ => None,
                };
                if let Some(role) = role {
                    return Ok((index, role));
                }
            }
        }
        // Not the current family: it must be a family not seen before.
        if self.by_name.contains_key(name) {
            return Err(self.not_contiguous(name, n));
        }
        for (suffix, kinds) in [
            ("_bucket", &[MetricType::Histogram][..]),
            ("_sum", &[MetricType::Histogram, MetricType::Summary][..]),
            ("_count", &[MetricType::Histogram, MetricType::Summary][..]),
        ] {
            if let Some(base) = name.strip_suffix(suffix) {
                if self
                    .family_by_name(base)
                    .is_some_and(|owner| kinds.contains(&owner.kind))
                {
                    return Err(self.not_contiguous(base, n));
                }
            }
        }
        Ok((self.open_new(name)?, Role::Plain))
    }

    /// A sample line starting at byte `start`.
    fn sample(&mut self, line: &str, start: usize, n: usize) -> Result<(), ParseError> {
        let b = line.as_bytes();
        let name_end = metric_name_end(b, start);
        let name_ok =
            name_end > start && matches!(b.get(name_end), None | Some(b' ' | b'\t' | b'{'));
        if !name_ok {
            let end = scan_until(b, start, b" \t{");
            let found = slice(line, start, end);
            if found.contains('\r') {
                return Err(err(n, ParseErrorKind::CarriageReturn));
            }
            return Err(err(n, ParseErrorKind::InvalidMetricName { found }));
        }
        let name = line.get(start..name_end).unwrap_or_default();
        let mut i = name_end;

        let mut labels: Vec<(String, String)> = Vec::new();
        if b.get(i) == Some(&b'{') {
            i = self.labels(line, i + 1, n, &mut labels)?;
            if labels.len() > DUPLICATE_SCAN_LIMIT {
                let mut names: Vec<&str> = labels.iter().map(|(k, _)| k.as_str()).collect();
                names.sort_unstable();
                if let Some(pair) = names.windows(2).find(|pair| pair.first() == pair.get(1)) {
                    let name = pair.first().copied().unwrap_or_default().to_owned();
                    return Err(err(n, ParseErrorKind::DuplicateLabelName { name }));
                }
            }
            match b.get(i) {
                Some(b' ' | b'\t') | None => {}
                Some(b'\r') => return Err(err(n, ParseErrorKind::CarriageReturn)),
                Some(_) => return Err(err(n, ParseErrorKind::MissingSeparator)),
            }
        }

        i = skip_blanks(b, i);
        if i >= b.len() {
            return Err(err(n, ParseErrorKind::MissingValue));
        }
        let value_end = scan_until(b, i, b" \t");
        let token = line.get(i..value_end).unwrap_or_default();
        if token.contains('\r') {
            return Err(err(n, ParseErrorKind::CarriageReturn));
        }
        let value = match parse_go_float(token) {
            Ok(value) => value,
            Err(FloatError::Syntax) => {
                return Err(err(
                    n,
                    ParseErrorKind::InvalidValue {
                        found: token.to_owned(),
                    },
                ))
            }
            Err(FloatError::Range) => {
                return Err(err(
                    n,
                    ParseErrorKind::ValueOutOfRange {
                        found: token.to_owned(),
                    },
                ))
            }
        };

        let mut timestamp_ms = None;
        if value_end < b.len() {
            let ts_start = skip_blanks(b, value_end);
            if ts_start >= b.len() {
                return Err(err(n, ParseErrorKind::TrailingWhitespace));
            }
            let ts_end = scan_until(b, ts_start, b" \t");
            let token = line.get(ts_start..ts_end).unwrap_or_default();
            if token.contains('\r') {
                return Err(err(n, ParseErrorKind::CarriageReturn));
            }
            match token.parse::<i64>() {
                Ok(ts) => timestamp_ms = Some(ts),
                Err(_) => {
                    return Err(err(
                        n,
                        ParseErrorKind::InvalidTimestamp {
                            found: token.to_owned(),
                        },
                    ))
                }
            }
            if ts_end < b.len() {
                let extra_start = skip_blanks(b, ts_end);
                if extra_start >= b.len() {
                    return Err(err(n, ParseErrorKind::TrailingWhitespace));
                }
                let found = slice(line, extra_start, b.len());
                if found.contains('\r') {
                    return Err(err(n, ParseErrorKind::CarriageReturn));
                }
                return Err(err(n, ParseErrorKind::TrailingContent { found }));
            }
        }

        self.record(
            Sample {
                name: name.to_owned(),
                labels,
                value,
                timestamp_ms,
            },
            n,
        )
    }

    /// Parses a label set from just after `{` up to and including `}`,
    /// returning the index after `}`.
    fn labels(
        &mut self,
        line: &str,
        mut i: usize,
        n: usize,
        labels: &mut Vec<(String, String)>,
    ) -> Result<usize, ParseError> {
        let b = line.as_bytes();
        loop {
            i = skip_blanks(b, i);
            match b.get(i) {
                None => return Err(err(n, ParseErrorKind::UnterminatedLabelSet)),
                Some(b'}') => return Ok(i + 1),
                _ => {}
            }
            let name_end = label_name_end(b, i);
            // A name is a run of name bytes ended by a delimiter; `x-y` or
            // `é` is a bad name, `x}` a good name missing its `=`.
            let delimited = matches!(
                b.get(name_end),
                None | Some(b' ' | b'\t' | b'=' | b',' | b'}' | b'"')
            );
            if name_end == i || !delimited {
                let end = scan_until(b, i, b" \t=,}\"");
                let found = slice(line, i, end);
                if found.contains('\r') {
                    return Err(err(n, ParseErrorKind::CarriageReturn));
                }
                return Err(err(n, ParseErrorKind::InvalidLabelName { found }));
            }
            let label = line.get(i..name_end).unwrap_or_default();
            if label.starts_with("__") {
                return Err(err(
                    n,
                    ParseErrorKind::ReservedLabelName {
                        name: label.to_owned(),
                    },
                ));
            }
            // Linear for the usual few labels; long label sets are checked
            // after the loop, in `sample`, in n log n.
            if labels.len() <= DUPLICATE_SCAN_LIMIT && labels.iter().any(|(k, _)| k == label) {
                return Err(err(
                    n,
                    ParseErrorKind::DuplicateLabelName {
                        name: label.to_owned(),
                    },
                ));
            }
            i = skip_blanks(b, name_end);
            if b.get(i) != Some(&b'=') {
                return Err(err(
                    n,
                    ParseErrorKind::ExpectedEquals {
                        label: label.to_owned(),
                    },
                ));
            }
            i = skip_blanks(b, i + 1);
            if b.get(i) != Some(&b'"') {
                return Err(err(
                    n,
                    ParseErrorKind::ExpectedQuote {
                        label: label.to_owned(),
                    },
                ));
            }
            let (value, after) = label_value(line, i + 1, label).map_err(|kind| err(n, kind))?;
            labels.push((label.to_owned(), value));
            i = skip_blanks(b, after);
            match b.get(i) {
                Some(b',') => i += 1,
                Some(b'}') => return Ok(i + 1),
                None => return Err(err(n, ParseErrorKind::UnterminatedLabelSet)),
                Some(b'\r') => return Err(err(n, ParseErrorKind::CarriageReturn)),
                Some(_) => {
                    return Err(err(
                        n,
                        ParseErrorKind::ExpectedLabelSeparator {
                            found: char_at(line, i),
                        },
                    ))
                }
            }
        }
    }

    /// Checks a parsed sample against its family and records it.
    fn record(&mut self, sample: Sample, n: usize) -> Result<(), ParseError> {
        let (index, role) = self.resolve(&sample.name, n)?;
        let Some(family) = self.families.get(index) else {
            return Ok(());
        };
        let kind = family.kind;
        let le = sample
            .labels
            .iter()
            .find(|(k, _)| k == "le")
            .map(|(_, v)| v.as_str());
        let quantile = sample
            .labels
            .iter()
            .find(|(k, _)| k == "quantile")
            .map(|(_, v)| v.as_str());

        // Duplicate series.
        self.key.clear();
        push_len_prefixed(&mut self.key, &sample.name);
        push_label_key(&mut self.key, &sample.labels, None);
        if self.series.contains(self.key.as_str()) {
            return Err(err(
                n,
                ParseErrorKind::DuplicateSeries {
                    series: render_series(&sample.name, &sample.labels, None),
                },
            ));
        }
        self.series.insert(self.key.clone());

        // `le` only on histogram buckets (untyped and summary families may
        // carry any label).
        let mut bucket_bound = None;
        if role == Role::Bucket {
            let Some(le) = le else {
                return Err(err(
                    n,
                    ParseErrorKind::MissingLe {
                        name: sample.name.clone(),
                    },
                ));
            };
            match parse_go_float(le) {
                Ok(bound) if !bound.is_nan() => bucket_bound = Some(bound),
                _ => {
                    return Err(err(
                        n,
                        ParseErrorKind::InvalidLe {
                            found: le.to_owned(),
                        },
                    ))
                }
            }
        } else if le.is_some()
            && matches!(
                kind,
                MetricType::Counter | MetricType::Gauge | MetricType::Histogram
            )
        {
            return Err(err(
                n,
                ParseErrorKind::UnexpectedLe {
                    name: sample.name.clone(),
                    kind,
                },
            ));
        }

        // Summary quantiles.
        if kind == MetricType::Summary {
            match (role, quantile) {
                (Role::Quantile, None) => {
                    return Err(err(
                        n,
                        ParseErrorKind::MissingQuantile {
                            name: sample.name.clone(),
                        },
                    ))
                }
                (Role::Quantile, Some(q)) => match parse_go_float(q) {
                    Ok(q) if (0.0..=1.0).contains(&q) => {}
                    _ => {
                        return Err(err(
                            n,
                            ParseErrorKind::InvalidQuantile {
                                found: q.to_owned(),
                            },
                        ))
                    }
                },
                (_, Some(_)) => {
                    return Err(err(
                        n,
                        ParseErrorKind::UnexpectedQuantile {
                            name: sample.name.clone(),
                        },
                    ))
                }
                (_, None) => {}
            }
        }

        if kind == MetricType::Counter && sample.value < 0.0 {
            return Err(err(
                n,
                ParseErrorKind::NegativeCounter {
                    name: sample.name.clone(),
                    value: sample.value,
                },
            ));
        }

        if kind == MetricType::Histogram {
            self.check_histogram(&sample, role, bucket_bound, index, n)?;
        }

        if let Some(family) = self.families.get_mut(index) {
            family.samples.push(sample);
        }
        Ok(())
    }

    /// Updates the running checks of the histogram series `sample` belongs to.
    fn check_histogram(
        &mut self,
        sample: &Sample,
        role: Role,
        bucket_bound: Option<f64>,
        family_index: usize,
        n: usize,
    ) -> Result<(), ParseError> {
        if matches!(role, Role::Bucket | Role::Count)
            && (sample.value.is_nan() || sample.value < 0.0)
        {
            return Err(err(
                n,
                ParseErrorKind::InvalidHistogramCount {
                    name: sample.name.clone(),
                    value: sample.value,
                },
            ));
        }
        self.key.clear();
        push_label_key(&mut self.key, &sample.labels, Some("le"));
        let slot = match self.histogram_index.get(self.key.as_str()) {
            Some(&slot) => slot,
            None => {
                let family = self
                    .families
                    .get(family_index)
                    .map(|family| family.name.as_str())
                    .unwrap_or_default();
                let slot = self.histograms.len();
                self.histograms.push(HistogramSeries {
                    series: render_series(family, &sample.labels, Some("le")),
                    first_line: n,
                    last_bucket: None,
                    inf_bucket: None,
                    count: None,
                });
                self.histogram_index.insert(self.key.clone(), slot);
                slot
            }
        };
        let Some(h) = self.histograms.get_mut(slot) else {
            return Ok(());
        };
        match (role, bucket_bound) {
            (Role::Bucket, Some(le)) => {
                let count = sample.value;
                if let Some((previous_le, previous_count)) = h.last_bucket {
                    if le <= previous_le {
                        return Err(err(
                            n,
                            ParseErrorKind::BucketsNotIncreasing {
                                series: h.series.clone(),
                                previous: previous_le,
                                le,
                            },
                        ));
                    }
                    if count < previous_count {
                        return Err(err(
                            n,
                            ParseErrorKind::BucketCountDecreasing {
                                series: h.series.clone(),
                                le,
                                previous: previous_count,
                                count,
                            },
                        ));
                    }
                }
                h.last_bucket = Some((le, count));
                if le == f64::INFINITY {
                    h.inf_bucket = Some(count);
                }
            }
            (Role::Count, _) => h.count = Some((sample.value, n)),
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_keys_are_unambiguous() {
        let mut a = String::new();
        let mut b = String::new();
        push_label_key(
            &mut a,
            &[("a".into(), "1:b".into()), ("c".into(), "".into())],
            None,
        );
        push_label_key(&mut b, &[("a".into(), "1".into())], None);
        assert_ne!(a, b);
    }
}
