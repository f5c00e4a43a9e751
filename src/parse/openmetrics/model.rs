//! The parsed form of an OpenMetrics body: families, their types and
//! metadata, samples and exemplars, and the lookups on them.

#![forbid(unsafe_code)]

use std::fmt;

/// A parsed OpenMetrics body (a MetricSet): every MetricFamily, in the
/// order it appears.
///
/// A family declared by metadata lines but without samples is kept, with
/// an empty sample list.
///
/// # Examples
///
/// ```
/// use telemeter::parse::openmetrics::{parse, OmType};
///
/// let set = parse("# TYPE up gauge\nup 1\n# EOF\n").unwrap();
/// assert_eq!(set.families.len(), 1);
/// assert_eq!(set.families[0].kind, OmType::Gauge);
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OmExposition {
    /// The metric families, in order of appearance.
    pub families: Vec<OmFamily>,
}

impl OmExposition {
    /// Returns the family called `name` (the name on its metadata lines, or
    /// the sample name of a family without metadata), if the body has one.
    ///
    /// A counter family is named without `_total`: the family of
    /// `jobs_total` samples is `jobs`.
    ///
    /// # Examples
    ///
    /// ```
    /// let body = "# TYPE jobs counter\njobs_total 3\n# EOF\n";
    /// let set = telemeter::parse::openmetrics::parse(body).unwrap();
    /// assert!(set.family("jobs").is_some());
    /// assert!(set.family("jobs_total").is_none());
    /// ```
    #[must_use]
    pub fn family(&self, name: &str) -> Option<&OmFamily> {
        self.families.iter().find(|family| family.name == name)
    }

    /// Returns the number of sample lines in the body, over all families.
    ///
    /// # Examples
    ///
    /// ```
    /// let body = "a 1\nb 2\nb{x=\"y\"} 3\n# EOF\n";
    /// let set = telemeter::parse::openmetrics::parse(body).unwrap();
    /// assert_eq!(set.sample_count(), 3);
    /// ```
    #[must_use]
    pub fn sample_count(&self) -> usize {
        self.families
            .iter()
            .map(|family| family.samples.len())
            .sum()
    }
}

/// One MetricFamily: its name, type, metadata and samples.
///
/// # Examples
///
/// ```
/// use telemeter::parse::openmetrics::{parse, OmType};
///
/// let body = concat!(
///     "# TYPE rpc_seconds histogram\n",
///     "# UNIT rpc_seconds seconds\n",
///     "# HELP rpc_seconds RPC \\\"latency\\\".\n",
///     "rpc_seconds_bucket{le=\"+Inf\"} 2\n",
///     "# EOF\n",
/// );
/// let family = parse(body).unwrap().families.remove(0);
/// assert_eq!(family.name, "rpc_seconds");
/// assert_eq!(family.kind, OmType::Histogram);
/// assert_eq!(family.unit.as_deref(), Some("seconds"));
/// assert_eq!(family.help.as_deref(), Some("RPC \"latency\"."));
/// assert_eq!(family.samples.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct OmFamily {
    /// The family name: for counters without `_total`, for histograms and
    /// summaries without `_bucket`, `_count` and so on, for info families
    /// without `_info`.
    pub name: String,
    /// The type from the TYPE line; [`OmType::Unknown`] without one.
    pub kind: OmType,
    /// The HELP text with its escapes (`\\`, `\"`, `\n`) resolved. `None`
    /// without a HELP line, and for an empty one: OpenMetrics treats an
    /// empty HELP as no HELP.
    pub help: Option<String>,
    /// The unit from the UNIT line; `None` without one, and for an empty
    /// one.
    pub unit: Option<String>,
    /// The samples, in the order they appear.
    pub samples: Vec<OmSample>,
}

impl OmFamily {
    /// Returns the first sample named `sample_name` whose label set is
    /// exactly `labels` (same pairs, in any order; no extra labels on
    /// either side).
    ///
    /// A Metric with timestamps may have several MetricPoints, and so the
    /// same sample name and labels more than once; this returns the first.
    ///
    /// # Examples
    ///
    /// ```
    /// let body = concat!(
    ///     "# TYPE rpc_seconds histogram\n",
    ///     "rpc_seconds_bucket{method=\"get\",le=\"+Inf\"} 2\n",
    ///     "rpc_seconds_count{method=\"get\"} 2\n",
    ///     "rpc_seconds_sum{method=\"get\"} 0.5\n",
    ///     "# EOF\n",
    /// );
    /// let set = telemeter::parse::openmetrics::parse(body).unwrap();
    /// let family = set.family("rpc_seconds").unwrap();
    /// let bucket = family
    ///     .find("rpc_seconds_bucket", &[("le", "+Inf"), ("method", "get")])
    ///     .unwrap();
    /// assert_eq!(bucket.value, 2.0);
    /// assert!(family.find("rpc_seconds_count", &[]).is_none());
    /// ```
    #[must_use]
    pub fn find(&self, sample_name: &str, labels: &[(&str, &str)]) -> Option<&OmSample> {
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

/// The type of an OpenMetrics MetricFamily, as named on its `# TYPE` line.
///
/// # Examples
///
/// ```
/// use telemeter::parse::openmetrics::{parse, OmType};
///
/// let set = parse("# TYPE up stateset\nup{up=\"yes\"} 1\n# EOF\n").unwrap();
/// assert_eq!(set.families[0].kind, OmType::StateSet);
/// assert_eq!(OmType::StateSet.to_string(), "stateset");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OmType {
    /// `counter`: `_total` (an exemplar allowed) and `_created` samples.
    Counter,
    /// `gauge`: one sample named like the family.
    Gauge,
    /// `histogram`: `_bucket{le=...}`, `_count`, `_sum` and `_created`.
    Histogram,
    /// `gaugehistogram`: `_bucket{le=...}`, `_gcount` and `_gsum`.
    GaugeHistogram,
    /// `summary`: `{quantile=...}`, `_count`, `_sum` and `_created`.
    Summary,
    /// `info`: `_info` samples with the value 1.
    Info,
    /// `stateset`: samples named like the family, with a label named like
    /// the family and the value 0 or 1.
    StateSet,
    /// `unknown`, or no TYPE line at all.
    Unknown,
}

impl OmType {
    /// Returns the lowercase name used on TYPE lines, such as
    /// `"gaugehistogram"`.
    ///
    /// # Examples
    ///
    /// ```
    /// use telemeter::parse::openmetrics::OmType;
    /// assert_eq!(OmType::GaugeHistogram.as_str(), "gaugehistogram");
    /// assert_eq!(OmType::Unknown.as_str(), "unknown");
    /// ```
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            OmType::Counter => "counter",
            OmType::Gauge => "gauge",
            OmType::Histogram => "histogram",
            OmType::GaugeHistogram => "gaugehistogram",
            OmType::Summary => "summary",
            OmType::Info => "info",
            OmType::StateSet => "stateset",
            OmType::Unknown => "unknown",
        }
    }

    /// Parses a TYPE line's type token; only the eight lowercase names.
    pub(super) fn from_token(token: &str) -> Option<OmType> {
        match token {
            "counter" => Some(OmType::Counter),
            "gauge" => Some(OmType::Gauge),
            "histogram" => Some(OmType::Histogram),
            "gaugehistogram" => Some(OmType::GaugeHistogram),
            "summary" => Some(OmType::Summary),
            "info" => Some(OmType::Info),
            "stateset" => Some(OmType::StateSet),
            "unknown" => Some(OmType::Unknown),
            _ => None,
        }
    }

    /// The suffixes of this type's sample names, in the order the spec
    /// lists them (`""` is the family name itself).
    pub(super) fn suffixes(self) -> &'static [&'static str] {
        match self {
            OmType::Counter => &["_total", "_created"],
            OmType::Histogram => &["_bucket", "_count", "_sum", "_created"],
            OmType::GaugeHistogram => &["_bucket", "_gcount", "_gsum"],
            OmType::Summary => &["", "_count", "_sum", "_created"],
            OmType::Info => &["_info"],
            OmType::Gauge | OmType::StateSet | OmType::Unknown => &[""],
        }
    }
}

impl fmt::Display for OmType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One sample line: `name{labels} value [timestamp] [exemplar]`.
///
/// # Examples
///
/// ```
/// let body = concat!(
///     "# TYPE jobs counter\n",
///     "jobs_total{queue=\"a\\nb\"} 7 1520879607.789 # {trace_id=\"x\"} 1 1520879607.5\n",
///     "# EOF\n",
/// );
/// let set = telemeter::parse::openmetrics::parse(body).unwrap();
/// let sample = &set.family("jobs").unwrap().samples[0];
/// assert_eq!(sample.name, "jobs_total");
/// assert_eq!(sample.labels, [("queue".to_owned(), "a\nb".to_owned())]);
/// assert_eq!(sample.value, 7.0);
/// assert_eq!(sample.timestamp, Some(1520879607.789));
/// assert_eq!(sample.exemplar.as_ref().unwrap().timestamp, Some(1520879607.5));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct OmSample {
    /// The sample name as written, e.g. `rpc_seconds_bucket`.
    pub name: String,
    /// The labels in the order written, with escapes (`\\`, `\"`, `\n`)
    /// resolved.
    pub labels: Vec<(String, String)>,
    /// The value; `+Inf`, `-Inf` and `NaN` are allowed where the type
    /// allows them.
    pub value: f64,
    /// The optional timestamp, in seconds since the Unix epoch (OpenMetrics
    /// timestamps are seconds, not 0.0.4's milliseconds).
    pub timestamp: Option<f64>,
    /// The optional exemplar (counter `_total` and bucket samples only).
    pub exemplar: Option<OmExemplar>,
}

/// An exemplar: ` # {labels} value [timestamp]` after a sample.
///
/// # Examples
///
/// ```
/// let body = concat!(
///     "# TYPE rpc histogram\n",
///     "rpc_bucket{le=\"+Inf\"} 1 # {} 0.25\n",
///     "# EOF\n",
/// );
/// let set = telemeter::parse::openmetrics::parse(body).unwrap();
/// let exemplar = set.families[0].samples[0].exemplar.clone().unwrap();
/// assert!(exemplar.labels.is_empty());
/// assert_eq!(exemplar.value, 0.25);
/// assert_eq!(exemplar.timestamp, None);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct OmExemplar {
    /// The exemplar's labels in the order written, escapes resolved; their
    /// names and values are at most 128 characters together.
    pub labels: Vec<(String, String)>,
    /// The exemplar's value.
    pub value: f64,
    /// The optional timestamp, in seconds since the Unix epoch.
    pub timestamp: Option<f64>,
}
