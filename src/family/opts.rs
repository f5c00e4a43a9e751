//! What a family is called and how it is labelled ([`Opts`]), its limits,
//! and how its series store their values ([`Layout`]).
#![forbid(unsafe_code)]

use crate::state_set::States;
use crate::{Buckets, NativeBuckets};

/// The label value every label of a family's overflow series carries.
pub const OVERFLOW_LABEL_VALUE: &str = "__overflow__";

/// The default per-family cardinality limit.
///
/// Past it, `with_label_values` with a new label set returns the family's
/// single overflow series (every label value [`OVERFLOW_LABEL_VALUE`]) and
/// counts the redirect in `telemeter_series_overflow_total{family="..."}`.
/// Change it per family with [`Opts::max_series`] or per registry with
/// [`RegistryBuilder::default_max_series`](crate::RegistryBuilder::default_max_series).
pub const DEFAULT_MAX_SERIES: usize = 10_000;

/// The default limit on one label value of a series, in bytes (UTF-8).
///
/// A lookup that would create a series with a longer value returns
/// [`Error::LabelValueTooLong`](crate::Error::LabelValueTooLong) and creates
/// nothing: with a cardinality limit of 10,000 series, a megabyte value
/// per series (a request body or a URL taken for a label by mistake) would
/// otherwise hold gigabytes and put them in every scrape. Change it with
/// [`RegistryBuilder::max_label_value_bytes`](crate::RegistryBuilder::max_label_value_bytes).
pub const DEFAULT_MAX_LABEL_VALUE_BYTES: usize = 2048;

/// What a family is called and how it is labelled.
///
/// # Examples
///
/// ```
/// use telemeter::{Opts, Registry};
/// let reg = Registry::new();
/// let fam = reg.counter_family(
///     Opts::new("oxg_rpc_requests_total", "Total RPC calls handled by the component.")
///         .labels(&["component", "method"])
///         .alias("glyph_rpc_requests_total")
///         .max_series(1_000),
/// )?;
/// fam.with_label_values(&["api", "Get"])?.inc();
/// # Ok::<(), telemeter::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[must_use]
pub struct Opts {
    pub(crate) name: String,
    pub(crate) help: String,
    pub(crate) labels: Vec<String>,
    pub(crate) aliases: Vec<String>,
    pub(crate) max_series: Option<usize>,
    pub(crate) unit: String,
    /// OpenMetrics' type where it differs from the 0.0.4 one: `info`
    /// (`Registry::info`) and `stateset` (`Registry::state_set_family`),
    /// both 0.0.4 gauges.
    pub(crate) om_type: Option<&'static str>,
    /// Whether its counter and histogram series keep their creation time
    /// (set by the registry: `RegistryBuilder::created_timestamps`).
    pub(crate) created: bool,
}

impl Opts {
    /// A family called `name` with HELP text `help` and no labels.
    ///
    /// Leading spaces and tabs of `help` are dropped: in text format 0.0.4
    /// they are indistinguishable from the separator after the name, and
    /// Prometheus drops them too. Everything else, newlines and backslashes
    /// included, is escaped and reaches the scraper unchanged.
    pub fn new(name: impl Into<String>, help: impl Into<String>) -> Opts {
        let help: String = help.into();
        let trimmed = help.trim_start_matches([' ', '\t']);
        let help = if trimmed.len() == help.len() {
            help
        } else {
            trimmed.to_string()
        };
        Opts {
            name: name.into(),
            help,
            labels: Vec::new(),
            aliases: Vec::new(),
            max_series: None,
            unit: String::new(),
            om_type: None,
            created: false,
        }
    }

    /// The label names, in the order values will be given.
    pub fn labels(mut self, names: &[&str]) -> Opts {
        self.labels = names.iter().map(|s| s.to_string()).collect();
        self
    }

    /// A deprecated alias: every series is also exported under `name`, with
    /// HELP `Deprecated: use <new name>. <help>`.
    pub fn alias(mut self, name: impl Into<String>) -> Opts {
        self.aliases.push(name.into());
        self
    }

    /// The family's unit, as OpenMetrics' `# UNIT` line gives it
    /// (`seconds`, `bytes`, `ratio`...; text 0.0.4 has no place for it).
    ///
    /// OpenMetrics requires the unit to end the name: registration
    /// refuses a unit that the family's name (a counter's without
    /// `_total`) does not end with as `_<unit>`
    /// ([`Error::InvalidUnit`](crate::Error::InvalidUnit)).
    ///
    /// ```
    /// use telemeter::{Buckets, Error, Opts, Registry};
    /// let reg = Registry::builder().self_metrics(false).build();
    /// let fam = reg.histogram_family(
    ///     Opts::new("request_duration_seconds", "Latency.").unit("seconds"),
    ///     Buckets::exponential(0.001, 2.0, 8)?,
    /// )?;
    /// fam.with_label_values(&[])?.observe(0.2);
    /// assert!(reg.encode_openmetrics_to_string().contains("# UNIT request_duration_seconds seconds\n"));
    /// let refused = reg.counter_family(Opts::new("bytes_sent_total", "Sent.").unit("seconds"));
    /// assert!(matches!(refused, Err(Error::InvalidUnit { .. })));
    /// # Ok::<(), telemeter::Error>(())
    /// ```
    pub fn unit(mut self, unit: impl Into<String>) -> Opts {
        self.unit = unit.into();
        self
    }

    /// The cardinality limit (see [`DEFAULT_MAX_SERIES`]). At least 1; a
    /// limit above 2^32 - 2 series acts as 2^32 - 2.
    pub fn max_series(mut self, n: usize) -> Opts {
        self.max_series = Some(n.max(1));
        self
    }
}

/// How a family's series store their values. (`pub` only to be named in
/// the sealed [`Metric`](crate::Metric) trait's hidden methods: the module
/// is private.)
#[derive(Clone, Debug)]
#[doc(hidden)]
pub enum Layout {
    Counter,
    FloatCounter,
    Gauge,
    FloatGauge,
    Histogram(Buckets),
    /// A native histogram: exponential buckets (`native_histogram.rs`).
    Native(NativeBuckets),
    /// A state set: a gauge word holding which states hold, one bit each
    /// (`state_set.rs`).
    StateSet(States),
}

impl Layout {
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Layout::Counter | Layout::FloatCounter => "counter",
            Layout::Gauge | Layout::FloatGauge | Layout::StateSet(_) => "gauge",
            Layout::Histogram(_) | Layout::Native(_) => "histogram",
        }
    }

    /// Whether the family is a histogram (of either kind): it emits
    /// `_bucket`, `_sum` and `_count` and reserves `le`.
    pub(crate) fn is_histogram(&self) -> bool {
        matches!(self, Layout::Histogram(_) | Layout::Native(_))
    }
}
