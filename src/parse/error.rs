//! The error catalogue: [`ParseError`] (a line and a kind) and every
//! [`ParseErrorKind`] with its message.

#![forbid(unsafe_code)]

use std::fmt;

use super::exposition::MetricType;

/// Why a body was rejected, and on which line.
///
/// # Examples
///
/// ```
/// use telemeter::parse::{parse, ParseErrorKind};
///
/// let err = parse("# TYPE jobs counter\njobs -1\n").unwrap_err();
/// assert_eq!(err.line, 2);
/// assert!(matches!(err.kind, ParseErrorKind::NegativeCounter { .. }));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    /// The 1-based line the problem is on.
    pub line: usize,
    /// What is wrong.
    pub kind: ParseErrorKind,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.kind)
    }
}

impl std::error::Error for ParseError {}

/// What is wrong with a body. Each variant's message names the problem and
/// the fix.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The bytes are not valid UTF-8.
    InvalidUtf8,
    /// The last line is not terminated by `\n`.
    MissingTrailingNewline,
    /// A carriage return outside a label value or HELP text (usually a
    /// `\r\n` line ending).
    CarriageReturn,
    /// A metric name that does not match `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    InvalidMetricName {
        /// The offending token.
        found: String,
    },
    /// A `# HELP` or `# TYPE` line with no metric name.
    MissingMetadataName {
        /// `"HELP"` or `"TYPE"`.
        keyword: &'static str,
    },
    /// A `# TYPE` line with no type after the metric name.
    MissingType {
        /// The family named on the line.
        family: String,
    },
    /// A `# TYPE` line whose type is not one of the five known ones.
    UnknownType {
        /// The family named on the line.
        family: String,
        /// The type token as written.
        found: String,
    },
    /// A backslash escape other than `\\` and `\n` in HELP text.
    InvalidHelpEscape {
        /// The character after the backslash.
        found: char,
    },
    /// HELP text that ends in a lone backslash.
    TrailingBackslash,
    /// A second `# HELP` line for one family.
    DuplicateHelp {
        /// The family.
        family: String,
    },
    /// A second `# TYPE` line for one family.
    DuplicateType {
        /// The family.
        family: String,
    },
    /// A `# HELP` or `# TYPE` line after the family's first sample.
    MetadataAfterSamples {
        /// `"HELP"` or `"TYPE"`.
        keyword: &'static str,
        /// The family.
        family: String,
    },
    /// A family whose lines resume after another family started.
    NotContiguous {
        /// The family that reappears.
        family: String,
        /// The family that was being written when it reappeared.
        interrupted_by: String,
    },
    /// A family name that is also a series name of a histogram or summary.
    NameCollision {
        /// The colliding name.
        name: String,
        /// The histogram or summary family that owns `name`.
        family: String,
    },
    /// A label name that does not match `[a-zA-Z_][a-zA-Z0-9_]*`.
    InvalidLabelName {
        /// The offending token.
        found: String,
    },
    /// A label name starting with `__`.
    ReservedLabelName {
        /// The label name.
        name: String,
    },
    /// The same label name twice in one sample.
    DuplicateLabelName {
        /// The label name.
        name: String,
    },
    /// A label name not followed by `=`.
    ExpectedEquals {
        /// The label name.
        label: String,
    },
    /// A label value that does not start with `"`.
    ExpectedQuote {
        /// The label name.
        label: String,
    },
    /// A backslash escape other than `\\`, `\"` and `\n` in a label value.
    InvalidLabelEscape {
        /// The label name.
        label: String,
        /// The character after the backslash.
        found: char,
    },
    /// A label value whose closing `"` is missing before the end of the line.
    UnterminatedLabelValue {
        /// The label name.
        label: String,
    },
    /// Something other than `,` or `}` after a label value.
    ExpectedLabelSeparator {
        /// The character found instead.
        found: char,
    },
    /// A label set whose closing `}` is missing before the end of the line.
    UnterminatedLabelSet,
    /// No blank between the metric name or label set and the value.
    MissingSeparator,
    /// A sample line with no value.
    MissingValue,
    /// A value that is not a float in Go `ParseFloat` syntax.
    InvalidValue {
        /// The value token.
        found: String,
    },
    /// A finite value too large for an `f64`.
    ValueOutOfRange {
        /// The value token.
        found: String,
    },
    /// A timestamp that is not an `i64` integer.
    InvalidTimestamp {
        /// The timestamp token.
        found: String,
    },
    /// A sample line ending in spaces or tabs.
    TrailingWhitespace,
    /// Text after the timestamp.
    TrailingContent {
        /// The extra text.
        found: String,
    },
    /// The same series (name plus label set) twice.
    DuplicateSeries {
        /// The series, rendered as `name{label="value",...}`.
        series: String,
    },
    /// A negative counter value.
    NegativeCounter {
        /// The sample name.
        name: String,
        /// The value.
        value: f64,
    },
    /// A sample named like the histogram itself, not `_bucket`, `_sum` or
    /// `_count`.
    InvalidHistogramSample {
        /// The histogram family.
        family: String,
    },
    /// A histogram `_bucket` sample without an `le` label.
    MissingLe {
        /// The sample name.
        name: String,
    },
    /// An `le` label whose value is not a float (or is NaN).
    InvalidLe {
        /// The label value.
        found: String,
    },
    /// An `le` label on a sample that is not a histogram bucket.
    UnexpectedLe {
        /// The sample name.
        name: String,
        /// The type of its family.
        kind: MetricType,
    },
    /// Buckets of one histogram series not strictly increasing in `le`.
    BucketsNotIncreasing {
        /// The histogram series (family and labels without `le`).
        series: String,
        /// The previous bucket's bound.
        previous: f64,
        /// This bucket's bound.
        le: f64,
    },
    /// A cumulative bucket count lower than the previous bucket's.
    BucketCountDecreasing {
        /// The histogram series (family and labels without `le`).
        series: String,
        /// This bucket's bound.
        le: f64,
        /// The previous bucket's count.
        previous: f64,
        /// This bucket's count.
        count: f64,
    },
    /// A histogram bucket or `_count` value that is negative or NaN.
    InvalidHistogramCount {
        /// The sample name.
        name: String,
        /// The value.
        value: f64,
    },
    /// A histogram series without an `le="+Inf"` bucket.
    MissingInfBucket {
        /// The histogram series (family and labels without `le`).
        series: String,
    },
    /// A histogram series without a `_count` sample.
    MissingHistogramCount {
        /// The histogram series (family and labels).
        series: String,
    },
    /// A histogram `_count` that differs from its `+Inf` bucket.
    CountMismatch {
        /// The histogram series (family and labels).
        series: String,
        /// The `_count` value.
        count: f64,
        /// The `+Inf` bucket value.
        inf_bucket: f64,
    },
    /// A summary quantile sample without a `quantile` label.
    MissingQuantile {
        /// The sample name.
        name: String,
    },
    /// A `quantile` label that is not a float in `[0, 1]`.
    InvalidQuantile {
        /// The label value.
        found: String,
    },
    /// A `quantile` label on a summary's `_sum` or `_count`.
    UnexpectedQuantile {
        /// The sample name.
        name: String,
    },
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ParseErrorKind as K;
        match self {
            K::InvalidUtf8 => f.write_str(
                "body is not valid UTF-8; encode names, label values and HELP text as UTF-8",
            ),
            K::MissingTrailingNewline => f.write_str(
                "last line does not end with a newline; terminate every line, the last one too, with \\n",
            ),
            K::CarriageReturn => f.write_str(
                "carriage return (\\r) outside a label value or HELP text; end lines with \\n, not \\r\\n",
            ),
            K::InvalidMetricName { found } => write!(
                f,
                "invalid metric name {found:?}; metric names must match [a-zA-Z_:][a-zA-Z0-9_:]*"
            ),
            K::MissingMetadataName { keyword } => write!(
                f,
                "# {keyword} line without a metric name; write `# {keyword} <metric_name> ...`"
            ),
            K::MissingType { family } => write!(
                f,
                "# TYPE line for {family} names no type; add one of counter, gauge, histogram, summary, untyped"
            ),
            K::UnknownType { family, found } => write!(
                f,
                "unknown metric type {found:?} for {family}; use one of counter, gauge, histogram, summary, untyped (lowercase, nothing after it)"
            ),
            K::InvalidHelpEscape { found } => write!(
                f,
                "invalid escape sequence \"\\{found}\" in HELP text; only \\\\ and \\n are allowed, write \\\\ for a literal backslash"
            ),
            K::TrailingBackslash => f.write_str(
                "HELP text ends with a lone backslash; write \\\\ for a literal backslash",
            ),
            K::DuplicateHelp { family } => write!(
                f,
                "second # HELP line for {family}; give each family at most one HELP line"
            ),
            K::DuplicateType { family } => write!(
                f,
                "second # TYPE line for {family}; give each family at most one TYPE line"
            ),
            K::MetadataAfterSamples { keyword, family } => write!(
                f,
                "# {keyword} line for {family} after its samples; put HELP and TYPE before the family's first sample"
            ),
            K::NotContiguous {
                family,
                interrupted_by,
            } => write!(
                f,
                "samples of {family} are not contiguous: the family reappears after {interrupted_by} started; write each family's HELP, TYPE and samples as one block"
            ),
            K::NameCollision { name, family } => write!(
                f,
                "metric name {name} collides with the series of histogram/summary {family}; rename one of them"
            ),
            K::InvalidLabelName { found } => write!(
                f,
                "invalid label name {found:?}; label names must match [a-zA-Z_][a-zA-Z0-9_]*"
            ),
            K::ReservedLabelName { name } => write!(
                f,
                "label name {name:?} starts with \"__\", which is reserved for Prometheus; rename the label"
            ),
            K::DuplicateLabelName { name } => write!(
                f,
                "label {name:?} appears twice in one sample; give each label name once"
            ),
            K::ExpectedEquals { label } => write!(
                f,
                "expected '=' after label name {label:?}; write labels as name=\"value\""
            ),
            K::ExpectedQuote { label } => write!(
                f,
                "expected '\"' to open the value of label {label:?}; label values are double-quoted"
            ),
            K::InvalidLabelEscape { label, found } => write!(
                f,
                "invalid escape sequence \"\\{found}\" in the value of label {label:?}; only \\\\, \\\" and \\n are allowed"
            ),
            K::UnterminatedLabelValue { label } => write!(
                f,
                "value of label {label:?} is not closed before the end of the line; close it with '\"' and escape newlines as \\n"
            ),
            K::ExpectedLabelSeparator { found } => write!(
                f,
                "expected ',' or '}}' after a label value, found {found:?}; separate labels with commas"
            ),
            K::UnterminatedLabelSet => f.write_str(
                "label set is not closed before the end of the line; close it with '}'",
            ),
            K::MissingSeparator => f.write_str(
                "no space between the label set and the value; separate them with a space",
            ),
            K::MissingValue => f.write_str(
                "sample has no value; write `name{labels} value [timestamp]`",
            ),
            K::InvalidValue { found } => write!(
                f,
                "invalid sample value {found:?}; use a float such as 1, -2.5, 1e3, +Inf, -Inf or NaN"
            ),
            K::ValueOutOfRange { found } => write!(
                f,
                "sample value {found:?} is out of range for a 64-bit float; write +Inf or -Inf for infinities"
            ),
            K::InvalidTimestamp { found } => write!(
                f,
                "invalid timestamp {found:?}; a timestamp is an integer number of milliseconds that fits in 64 bits"
            ),
            K::TrailingWhitespace => f.write_str(
                "sample line ends with whitespace; remove the spaces or tabs at the end of the line",
            ),
            K::TrailingContent { found } => write!(
                f,
                "unexpected text {found:?} after the timestamp; a sample line ends with its value or timestamp"
            ),
            K::DuplicateSeries { series } => write!(
                f,
                "duplicate series {series}; each name and label set may appear only once"
            ),
            K::NegativeCounter { name, value } => write!(
                f,
                "counter {name} has negative value {value}; counters only go up, use a gauge for values that can fall"
            ),
            K::InvalidHistogramSample { family } => write!(
                f,
                "sample {family} in histogram {family}; histogram samples are named {family}_bucket, {family}_sum or {family}_count"
            ),
            K::MissingLe { name } => write!(
                f,
                "histogram bucket {name} has no le label; add le=\"<upper bound>\""
            ),
            K::InvalidLe { found } => write!(
                f,
                "le label value {found:?} is not a float; write an upper bound such as \"0.5\" or \"+Inf\""
            ),
            K::UnexpectedLe { name, kind } => write!(
                f,
                "le label on {name}, which is not a histogram bucket ({kind} family); le is reserved for histogram _bucket samples, rename the label"
            ),
            K::BucketsNotIncreasing {
                series,
                previous,
                le,
            } => write!(
                f,
                "buckets of histogram {series} are not strictly increasing: le={le} follows le={previous}; write each bound once, in increasing order"
            ),
            K::BucketCountDecreasing {
                series,
                le,
                previous,
                count,
            } => write!(
                f,
                "bucket le={le} of histogram {series} has count {count}, less than the previous bucket's {previous}; bucket counts are cumulative and must not decrease"
            ),
            K::InvalidHistogramCount { name, value } => write!(
                f,
                "histogram count {name} is {value}; bucket and _count values must be non-negative numbers"
            ),
            K::MissingInfBucket { series } => write!(
                f,
                "histogram {series} has no le=\"+Inf\" bucket; add one equal to its _count"
            ),
            K::MissingHistogramCount { series } => write!(
                f,
                "histogram {series} has no _count sample; add one equal to its +Inf bucket"
            ),
            K::CountMismatch {
                series,
                count,
                inf_bucket,
            } => write!(
                f,
                "histogram {series} has _count {count} but its +Inf bucket is {inf_bucket}; they must be equal"
            ),
            K::MissingQuantile { name } => write!(
                f,
                "summary sample {name} has no quantile label; add quantile=\"<0..1>\" or name it _sum/_count"
            ),
            K::InvalidQuantile { found } => write!(
                f,
                "quantile label value {found:?} is not a float between 0 and 1; write a quantile such as \"0.99\""
            ),
            K::UnexpectedQuantile { name } => write!(
                f,
                "quantile label on summary {name}; only quantile samples carry quantile, remove it from _sum and _count"
            ),
        }
    }
}

/// A [`ParseError`] of `kind` on 1-based line `line`.
pub(super) fn err(line: usize, kind: ParseErrorKind) -> ParseError {
    ParseError { line, kind }
}
