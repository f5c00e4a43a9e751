//! The parsed form of an exposition body: families, samples and metric
//! types, and the lookups on them.

#![forbid(unsafe_code)]

use std::fmt;

/// A parsed exposition body: every metric family, in the order it appears.
///
/// A family declared by `# HELP` or `# TYPE` but without samples is kept,
/// with an empty sample list.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Exposition {
    /// The metric families, in order of appearance.
    pub families: Vec<ParsedFamily>,
}

impl Exposition {
    /// Returns the family called `name` (the name on its HELP/TYPE lines, or
    /// the sample name of an untyped family), if the body has one.
    ///
    /// # Examples
    ///
    /// ```
    /// let exposition = telemeter::parse::parse("up 1\n").unwrap();
    /// assert!(exposition.family("up").is_some());
    /// assert!(exposition.family("down").is_none());
    /// ```
    #[must_use]
    pub fn family(&self, name: &str) -> Option<&ParsedFamily> {
        self.families.iter().find(|family| family.name == name)
    }

    /// Returns the number of sample lines in the body, over all families.
    ///
    /// # Examples
    ///
    /// ```
    /// let exposition = telemeter::parse::parse("a 1\nb 2\nb{x=\"y\"} 3\n").unwrap();
    /// assert_eq!(exposition.sample_count(), 3);
    /// ```
    #[must_use]
    pub fn sample_count(&self) -> usize {
        self.families
            .iter()
            .map(|family| family.samples.len())
            .sum()
    }
}

/// One metric family: its name, HELP text, type and samples.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedFamily {
    /// The family name. For histograms and summaries this is the base name,
    /// without `_bucket`, `_sum` or `_count`.
    pub name: String,
    /// The HELP text with its escapes (`\\`, `\n`) resolved, if the family
    /// has a HELP line. A HELP line with no text gives `Some("")`.
    pub help: Option<String>,
    /// The type from the TYPE line; [`MetricType::Untyped`] without one.
    pub kind: MetricType,
    /// The samples, in the order they appear.
    pub samples: Vec<Sample>,
}

impl ParsedFamily {
    /// Returns the sample named `sample_name` whose label set is exactly
    /// `labels` (same pairs, in any order; no extra labels on either side).
    ///
    /// # Examples
    ///
    /// ```
    /// let body = "# TYPE rpc_seconds histogram\n\
    ///             rpc_seconds_bucket{method=\"get\",le=\"+Inf\"} 2\n\
    ///             rpc_seconds_sum{method=\"get\"} 0.5\n\
    ///             rpc_seconds_count{method=\"get\"} 2\n";
    /// let exposition = telemeter::parse::parse(body).unwrap();
    /// let family = exposition.family("rpc_seconds").unwrap();
    /// let bucket = family
    ///     .find("rpc_seconds_bucket", &[("le", "+Inf"), ("method", "get")])
    ///     .unwrap();
    /// assert_eq!(bucket.value, 2.0);
    /// assert!(family.find("rpc_seconds_count", &[]).is_none());
    /// ```
    #[must_use]
    pub fn find(&self, sample_name: &str, labels: &[(&str, &str)]) -> Option<&Sample> {
        self.samples
            .iter()
            .find(|sample| sample.name == sample_name && same_label_set(&sample.labels, labels))
    }
}

/// Whether `have` and `want` hold the same label pairs, ignoring order.
fn same_label_set(have: &[(String, String)], want: &[(&str, &str)]) -> bool {
    have.len() == want.len()
        && want
            .iter()
            .all(|(k, v)| have.iter().any(|(hk, hv)| hk == k && hv == v))
        && have
            .iter()
            .all(|(hk, hv)| want.iter().any(|(k, v)| hk == k && hv == v))
}

/// The type of a metric family, as named on its `# TYPE` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricType {
    /// `counter`: a monotonically increasing value; never negative.
    Counter,
    /// `gauge`: a value that goes up and down.
    Gauge,
    /// `histogram`: `_bucket{le=...}`, `_sum` and `_count` samples.
    Histogram,
    /// `summary`: `{quantile=...}`, `_sum` and `_count` samples.
    Summary,
    /// `untyped`, or no TYPE line at all.
    Untyped,
}

impl MetricType {
    /// Returns the lowercase name used on TYPE lines, such as `"counter"`.
    ///
    /// # Examples
    ///
    /// ```
    /// use telemeter::parse::MetricType;
    /// assert_eq!(MetricType::Histogram.as_str(), "histogram");
    /// ```
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::Summary => "summary",
            MetricType::Untyped => "untyped",
        }
    }

    /// Parses a TYPE line's type token; only the five lowercase names.
    pub(super) fn from_token(token: &str) -> Option<MetricType> {
        match token {
            "counter" => Some(MetricType::Counter),
            "gauge" => Some(MetricType::Gauge),
            "histogram" => Some(MetricType::Histogram),
            "summary" => Some(MetricType::Summary),
            "untyped" => Some(MetricType::Untyped),
            _ => None,
        }
    }
}

impl fmt::Display for MetricType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One sample line: `name{labels} value [timestamp]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The sample name as written, e.g. `rpc_seconds_bucket`.
    pub name: String,
    /// The labels in the order written, with escapes (`\\`, `\"`, `\n`)
    /// resolved.
    pub labels: Vec<(String, String)>,
    /// The value; `+Inf`, `-Inf` and `NaN` are allowed.
    pub value: f64,
    /// The optional timestamp, in milliseconds since the Unix epoch.
    pub timestamp_ms: Option<i64>,
}
