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

    // The kinds below are OpenMetrics 1.0's
    // (`telemeter::parse::openmetrics`); the 0.0.4 parser never returns
    // them.
    /// An OpenMetrics body that does not end with a `# EOF` line.
    MissingEof,
    /// A line (even an empty one) after the `# EOF` line.
    ContentAfterEof,
    /// An empty line in an OpenMetrics body.
    BlankLine,
    /// An OpenMetrics line that starts with a space or tab.
    LeadingWhitespace,
    /// A byte order mark (U+FEFF) at the start of an OpenMetrics body.
    ByteOrderMark,
    /// An OpenMetrics line starting with `#` that is not `# HELP`, `# TYPE`,
    /// `# UNIT` or exactly `# EOF`.
    InvalidComment {
        /// The line.
        found: String,
    },
    /// An OpenMetrics `# HELP`, `# TYPE` or `# UNIT` line that ends right
    /// after the metric name, without the space that starts its value.
    MissingMetadataValue {
        /// `"HELP"`, `"TYPE"` or `"UNIT"`.
        keyword: &'static str,
        /// The family named on the line.
        family: String,
    },
    /// An OpenMetrics `# TYPE` line whose type is not one of the eight.
    OmUnknownType {
        /// The family named on the line.
        family: String,
        /// The type token as written (everything after the name).
        found: String,
    },
    /// A backslash escape other than `\\`, `\"` and `\n` in OpenMetrics
    /// HELP text.
    OmInvalidHelpEscape {
        /// The character after the backslash.
        found: char,
    },
    /// A double quote in OpenMetrics HELP text that is not escaped as `\"`.
    UnescapedQuoteInHelp,
    /// A second `# UNIT` line for one family.
    DuplicateUnit {
        /// The family.
        family: String,
    },
    /// A `# UNIT` whose unit has characters outside `[a-zA-Z0-9_:]`.
    InvalidUnit {
        /// The family.
        family: String,
        /// The unit as written.
        found: String,
    },
    /// A `# UNIT` that is not a suffix (`_<unit>`) of the family name.
    UnitNotSuffix {
        /// The family.
        family: String,
        /// The unit.
        unit: String,
    },
    /// A non-empty `# UNIT` on an info or stateset family.
    UnitNotAllowed {
        /// The family.
        family: String,
        /// `"info"` or `"stateset"`.
        kind: &'static str,
    },
    /// An OpenMetrics counter family whose name ends in `_total`.
    CounterNameWithTotal {
        /// The family.
        family: String,
    },
    /// An OpenMetrics name that another family owns as one of its sample
    /// names (such as `foo_created` of counter `foo`), or a family whose
    /// sample names would take another family's name.
    SampleNameClash {
        /// The clashing name.
        name: String,
        /// The family that owns it.
        family: String,
    },
    /// A sample named like the current OpenMetrics family but with a suffix
    /// its type does not have (such as `foo` in counter `foo`).
    InvalidSampleName {
        /// The sample name.
        name: String,
        /// The family.
        family: String,
        /// The family's type.
        kind: &'static str,
    },
    /// A tab, or more than one space, where OpenMetrics wants exactly one
    /// space.
    SeparatorNotSingleSpace,
    /// A space or tab inside an OpenMetrics label set.
    BlankInLabelSet,
    /// A label set with a comma after its last label, or two commas in a
    /// row.
    EmptyLabel,
    /// An OpenMetrics timestamp that is not a finite decimal number.
    OmInvalidTimestamp {
        /// The timestamp token.
        found: String,
    },
    /// Text after an OpenMetrics sample's value or timestamp that is not a
    /// well-formed ` # {labels} value [timestamp]` exemplar.
    InvalidExemplar {
        /// The text from the `#` on.
        found: String,
    },
    /// An exemplar value that is not a number.
    InvalidExemplarValue {
        /// The value token.
        found: String,
    },
    /// An exemplar on a sample other than a counter's `_total` or a
    /// histogram's or gauge histogram's `_bucket`.
    ExemplarNotAllowed {
        /// The sample name.
        name: String,
        /// The family's type.
        kind: &'static str,
    },
    /// An exemplar whose label names and values are longer than 128
    /// characters together.
    ExemplarLabelsTooLong {
        /// Their combined length, in characters.
        length: usize,
    },
    /// A bucket exemplar whose value is above the bucket's `le` (or NaN).
    ExemplarOutsideBucket {
        /// The bucket sample's name.
        name: String,
        /// The bucket's bound.
        le: f64,
        /// The exemplar's value.
        value: f64,
    },
    /// A counter-like value (a counter's `_total`, a histogram's or
    /// summary's `_sum` and `_count`, a bucket, a `_gcount`) that is
    /// negative or NaN.
    InvalidCounterLikeValue {
        /// The sample name.
        name: String,
        /// The value.
        value: f64,
    },
    /// A bucket, `_count` or `_gcount` value that is not an integer.
    NonIntegerCount {
        /// The sample name.
        name: String,
        /// The value.
        value: f64,
    },
    /// A gauge histogram `_gsum` that is NaN, or negative although no
    /// bucket has a negative bound.
    InvalidGsum {
        /// The sample name.
        name: String,
        /// The value.
        value: f64,
    },
    /// A histogram with a negative bucket bound and a `_sum`.
    SumWithNegativeBuckets {
        /// The histogram series (family and labels without `le`).
        series: String,
    },
    /// A histogram with `_sum` but no `_count` or the reverse (a gauge
    /// histogram: `_gsum` and `_gcount`).
    UnpairedCountSum {
        /// The histogram series (family and labels without `le`).
        series: String,
        /// The suffix that is there, such as `"_sum"`.
        present: &'static str,
        /// The suffix that is missing, such as `"_count"`.
        missing: &'static str,
    },
    /// An `le` label on a histogram or gauge histogram sample that is not a
    /// `_bucket`.
    LeOutsideBucket {
        /// The sample name.
        name: String,
    },
    /// A negative summary quantile value.
    NegativeQuantileValue {
        /// The sample name.
        name: String,
        /// The value.
        value: f64,
    },
    /// A stateset sample without the label named like its family.
    MissingStateLabel {
        /// The sample name.
        name: String,
        /// The family (and so the label name).
        family: String,
    },
    /// A stateset sample whose value is not 0 or 1.
    InvalidStateValue {
        /// The sample name.
        name: String,
        /// The value.
        value: f64,
    },
    /// An info sample whose value is not 1.
    InvalidInfoValue {
        /// The sample name.
        name: String,
        /// The value.
        value: f64,
    },
    /// A counter MetricPoint (label set) without a `_total` sample.
    MissingCounterTotal {
        /// The counter series (family and labels).
        series: String,
    },
    /// The samples of one Metric (label set) of an OpenMetrics family split
    /// by another Metric's.
    MetricNotContiguous {
        /// The Metric (family and labels) that reappears.
        series: String,
    },
    /// Some samples of one Metric with a timestamp and some without.
    MixedTimestamps {
        /// The Metric (family and labels).
        series: String,
    },
    /// A timestamp lower than the previous one of the same Metric.
    TimestampWentBackwards {
        /// The Metric (family and labels).
        series: String,
        /// The previous timestamp.
        previous: f64,
        /// This sample's timestamp.
        timestamp: f64,
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

            K::MissingEof => f.write_str(
                "body does not end with `# EOF`; end an OpenMetrics body with the line `# EOF` (and at most one \\n after it)",
            ),
            K::ContentAfterEof => f.write_str(
                "text after the `# EOF` line; `# EOF` is the last line, remove what follows it",
            ),
            K::BlankLine => f.write_str(
                "blank line; OpenMetrics allows no empty lines, remove it",
            ),
            K::LeadingWhitespace => f.write_str(
                "line starts with a space or tab; OpenMetrics lines start with a metric name or `# `, remove the indentation",
            ),
            K::ByteOrderMark => f.write_str(
                "body starts with a byte order mark; OpenMetrics bodies are UTF-8 without a BOM, remove it",
            ),
            K::InvalidComment { found } => write!(
                f,
                "invalid line {found:?}; OpenMetrics has no comments, a line starting with # must be `# HELP`, `# TYPE` or `# UNIT` (one space after #), or exactly `# EOF`"
            ),
            K::MissingMetadataValue { keyword, family } => write!(
                f,
                "# {keyword} line for {family} ends after the name; write `# {keyword} {family} <value>` (the value may be empty, the space before it may not)"
            ),
            K::OmUnknownType { family, found } => write!(
                f,
                "unknown metric type {found:?} for {family}; use one of counter, gauge, histogram, gaugehistogram, summary, info, stateset, unknown (lowercase, nothing after it)"
            ),
            K::OmInvalidHelpEscape { found } => write!(
                f,
                "invalid escape sequence \"\\{found}\" in HELP text; OpenMetrics allows only \\\\, \\\" and \\n, write \\\\ for a literal backslash"
            ),
            K::UnescapedQuoteInHelp => f.write_str(
                "unescaped '\"' in HELP text; OpenMetrics HELP text escapes double quotes, write \\\"",
            ),
            K::DuplicateUnit { family } => write!(
                f,
                "second # UNIT line for {family}; give each family at most one UNIT line"
            ),
            K::InvalidUnit { family, found } => write!(
                f,
                "invalid unit {found:?} for {family}; a unit is made of [a-zA-Z0-9_:] only, with nothing after it"
            ),
            K::UnitNotSuffix { family, unit } => write!(
                f,
                "unit {unit:?} is not a suffix of {family}; the family name must end in _{unit}, rename it or drop the UNIT line"
            ),
            K::UnitNotAllowed { family, kind } => write!(
                f,
                "{kind} family {family} has a unit; info and stateset families must not have one, drop the UNIT line"
            ),
            K::CounterNameWithTotal { family } => write!(
                f,
                "counter family {family} is named with _total; an OpenMetrics counter family is named without it (its sample is <family>_total), drop _total from the TYPE, HELP and UNIT lines"
            ),
            K::SampleNameClash { name, family } => write!(
                f,
                "name {name} clashes with family {family}, which owns it (as its name or one of its sample names, such as _total, _created, _bucket, _count, _sum, _gcount, _gsum, _info); rename one of them"
            ),
            K::InvalidSampleName { name, family, kind } => write!(
                f,
                "sample {name} does not belong to {kind} family {family}; {}",
                om_sample_names(kind, family)
            ),
            K::SeparatorNotSingleSpace => f.write_str(
                "tab or run of blanks between fields; OpenMetrics separates fields with exactly one space",
            ),
            K::BlankInLabelSet => f.write_str(
                "space or tab inside a label set; OpenMetrics allows no blanks around labels, '=' or ',', write {a=\"1\",b=\"2\"}",
            ),
            K::EmptyLabel => f.write_str(
                "empty label in a label set (a comma after the last label, or two in a row); separate labels with exactly one comma",
            ),
            K::OmInvalidTimestamp { found } => write!(
                f,
                "invalid timestamp {found:?}; an OpenMetrics timestamp is a finite number of seconds since the epoch, such as 1520879607.789"
            ),
            K::InvalidExemplar { found } => write!(
                f,
                "malformed exemplar {found:?}; write an exemplar as ` # {{labels}} value [timestamp]` after the sample, with single spaces"
            ),
            K::InvalidExemplarValue { found } => write!(
                f,
                "invalid exemplar value {found:?}; use a float such as 1, -2.5, 1e3, +Inf, -Inf or NaN"
            ),
            K::ExemplarNotAllowed { name, kind } => write!(
                f,
                "exemplar on {name} ({kind} family); only a counter's _total and a histogram's or gauge histogram's _bucket samples may carry one, remove it"
            ),
            K::ExemplarLabelsTooLong { length } => write!(
                f,
                "exemplar labels are {length} characters long; names and values together must not exceed 128 characters, shorten them"
            ),
            K::ExemplarOutsideBucket { name, le, value } => write!(
                f,
                "exemplar value {value} on {name} is outside its bucket (le={le}); put each exemplar on a bucket whose bound is at least its value"
            ),
            K::InvalidCounterLikeValue { name, value } => write!(
                f,
                "{name} is {value}; counter-like values (a counter's _total, _sum and _count, buckets, _gcount) must be non-negative numbers, not NaN"
            ),
            K::NonIntegerCount { name, value } => write!(
                f,
                "{name} is {value}; bucket, _count and _gcount values count events and must be integers"
            ),
            K::InvalidGsum { name, value } => write!(
                f,
                "gauge histogram {name} is {value}; _gsum must not be NaN, and may be negative only when a bucket has a negative bound"
            ),
            K::SumWithNegativeBuckets { series } => write!(
                f,
                "histogram {series} has a bucket with a negative bound and a _sum; with negative buckets the sum is no counter, drop _sum and _count"
            ),
            K::UnpairedCountSum {
                series,
                present,
                missing,
            } => write!(
                f,
                "histogram {series} has {present} but no {missing}; write both or neither"
            ),
            K::LeOutsideBucket { name } => write!(
                f,
                "le label on {name}, which is not a bucket; only _bucket samples carry le, remove it"
            ),
            K::NegativeQuantileValue { name, value } => write!(
                f,
                "summary quantile {name} is {value}; quantile values must not be negative"
            ),
            K::MissingStateLabel { name, family } => write!(
                f,
                "stateset sample {name} has no {family} label; each state sample carries a label named like the family, with the state as its value"
            ),
            K::InvalidStateValue { name, value } => write!(
                f,
                "stateset sample {name} is {value}; a state is 1 (true) or 0 (false)"
            ),
            K::InvalidInfoValue { name, value } => write!(
                f,
                "info sample {name} is {value}; info samples always have the value 1"
            ),
            K::MissingCounterTotal { series } => write!(
                f,
                "counter {series} has no _total sample; every counter MetricPoint needs one"
            ),
            K::MetricNotContiguous { series } => write!(
                f,
                "samples of {series} are interleaved with another label set's; write all samples of one label set together"
            ),
            K::MixedTimestamps { series } => write!(
                f,
                "some samples of {series} have a timestamp and some do not; give all of them a timestamp or none"
            ),
            K::TimestampWentBackwards {
                series,
                previous,
                timestamp,
            } => write!(
                f,
                "timestamp {timestamp} of {series} is before the previous one, {previous}; a label set's MetricPoints must come in time order"
            ),
        }
    }
}

/// A [`ParseError`] of `kind` on 1-based line `line`.
pub(super) fn err(line: usize, kind: ParseErrorKind) -> ParseError {
    ParseError { line, kind }
}

/// The rule for sample names of an OpenMetrics family of type `kind`.
fn om_sample_names(kind: &str, family: &str) -> String {
    let suffixes: &[&str] = match kind {
        "counter" => &["_total", "_created"],
        "histogram" => &["_bucket", "_count", "_sum", "_created"],
        "gaugehistogram" => &["_bucket", "_gcount", "_gsum"],
        "summary" => &["", "_count", "_sum", "_created"],
        "info" => &["_info"],
        _ => &[""],
    };
    let names: Vec<String> = suffixes.iter().map(|s| format!("{family}{s}")).collect();
    match names.as_slice() {
        [one] => format!("its samples are named {one}"),
        _ => format!("its samples are named {}", names.join(", ")),
    }
}
