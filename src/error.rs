//! The crate's error type.
#![forbid(unsafe_code)]

use std::fmt;

/// Everything that can go wrong when registering or addressing a metric.
///
/// Each variant's message names the problem and how to fix it. Recording on
/// a handle never fails; only registration, label lookup and bucket layouts
/// return errors.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// A metric name does not match `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    InvalidMetricName {
        /// The offending name.
        name: String,
    },
    /// A label name does not match `[a-zA-Z_][a-zA-Z0-9_]*`.
    InvalidLabelName {
        /// The offending name.
        name: String,
    },
    /// A metric or label name starts with `__`, which Prometheus reserves.
    ReservedName {
        /// The offending name.
        name: String,
    },
    /// A metric name in the `telemeter_` namespace, which the library's own
    /// self-metrics (the registry's and the exporter's) use.
    ReservedPrefix {
        /// The offending name.
        name: String,
    },
    /// A label name that the metric type reserves: `le` on histograms.
    /// (Prometheus also reserves `quantile` on summaries; telemeter has no
    /// summary type, so no family can carry that rule.)
    ReservedLabel {
        /// The metric family.
        family: String,
        /// The reserved label name.
        label: String,
    },
    /// The same label name appears twice in one family.
    DuplicateLabelName {
        /// The metric family.
        family: String,
        /// The repeated label name.
        label: String,
    },
    /// A family (or one of the sample names it emits, such as a histogram's
    /// `_bucket`) is already registered in this registry.
    DuplicateMetric {
        /// The name that clashes.
        name: String,
    },
    /// The number of label values does not match the family's label names.
    LabelCount {
        /// The metric family.
        family: String,
        /// Label names the family declares.
        expected: usize,
        /// Label values given.
        got: usize,
    },
    /// A histogram bucket layout is invalid.
    InvalidBuckets {
        /// What is wrong with it.
        reason: String,
    },
    /// A value that a counter cannot add (negative or NaN).
    InvalidIncrement {
        /// The rejected value.
        value: f64,
    },
    /// Label values that are all [`OVERFLOW_LABEL_VALUE`](crate::OVERFLOW_LABEL_VALUE):
    /// the label set of the family's overflow series, which no caller may
    /// create (it would be a second series with the same labels).
    OverflowLabelSet {
        /// The metric family.
        family: String,
    },
    /// A label value longer than the registry's limit
    /// ([`DEFAULT_MAX_LABEL_VALUE_BYTES`](crate::DEFAULT_MAX_LABEL_VALUE_BYTES)
    /// unless set with
    /// [`RegistryBuilder::max_label_value_bytes`](crate::RegistryBuilder::max_label_value_bytes)):
    /// no series was created.
    LabelValueTooLong {
        /// The metric family.
        family: String,
        /// The label whose value is too long.
        label: String,
        /// The value's length in bytes.
        len: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// The registry already holds as many families (and callbacks) as its
    /// limit allows ([`DEFAULT_MAX_FAMILIES`](crate::DEFAULT_MAX_FAMILIES)
    /// unless set with
    /// [`RegistryBuilder::max_families`](crate::RegistryBuilder::max_families)).
    FamilyLimit {
        /// The name that was not registered.
        name: String,
        /// The limit.
        max: usize,
    },
    /// A typed label set ([`Family::typed`](crate::Family::typed)) has
    /// more combinations than the family may hold.
    LabelSetTooLarge {
        /// The metric family.
        family: String,
        /// The label set's combinations.
        combinations: usize,
        /// The most the family takes (its cardinality limit, at most
        /// [`MAX_TYPED_COMBINATIONS`](crate::MAX_TYPED_COMBINATIONS)).
        max: usize,
    },
    /// A fixed-cardinality label type names a label the family lacks.
    UnknownLabel {
        /// The metric family.
        family: String,
        /// The label the fixed set names.
        label: String,
    },
    /// The `metrics` facade backend (`telemeter::facade`, feature
    /// `metrics-rs`) was asked for a metric of one type under a name that
    /// it registered with another.
    KindConflict {
        /// The (sanitized) name.
        name: String,
        /// The type the name has.
        registered: &'static str,
        /// The type asked for.
        requested: &'static str,
    },
    /// A unit ([`Opts::unit`](crate::Opts::unit)) that OpenMetrics would
    /// refuse: not `[a-zA-Z0-9_:]+`, or not the end of the name.
    InvalidUnit {
        /// The metric family.
        family: String,
        /// The unit.
        unit: String,
    },
    /// An exemplar's label set that OpenMetrics would refuse: a bad label
    /// name, a repeated one, or more than 128 UTF-8 characters of names
    /// and values together.
    InvalidExemplar {
        /// What is wrong with it.
        reason: String,
    },
    /// A state set ([`Registry::state_set_family`](crate::Registry::state_set_family))
    /// that OpenMetrics would refuse, or a state it does not list.
    InvalidStateSet {
        /// The metric family (empty where a handle reports a state).
        family: String,
        /// What is wrong.
        reason: String,
    },
    /// A global `metrics` recorder is installed already
    /// (`telemeter::facade::install`).
    RecorderAlreadySet,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidMetricName { name } => write!(
                f,
                "invalid metric name {name:?}: a metric name must match [a-zA-Z_:][a-zA-Z0-9_:]* \
                 (replace other characters, e.g. '-' or '.', with '_')"
            ),
            Error::InvalidLabelName { name } => write!(
                f,
                "invalid label name {name:?}: a label name must match [a-zA-Z_][a-zA-Z0-9_]* \
                 (no ':' and no leading digit; replace other characters with '_')"
            ),
            Error::LabelValueTooLong {
                family,
                label,
                len,
                max,
            } => write!(
                f,
                "family {family:?}: the value of label {label:?} is {len} bytes, over the \
                 registry's limit of {max}: label values name a series, so keep them short \
                 (an id, a route template, not a URL or a body), or raise the limit with \
                 RegistryBuilder::max_label_value_bytes"
            ),
            Error::FamilyLimit { name, max } => write!(
                f,
                "cannot register {name:?}: the registry already holds its limit of {max} \
                 families and callbacks (a registration in a loop?); raise it with \
                 RegistryBuilder::max_families, or use labels on one family instead of a \
                 family per value"
            ),
            Error::OverflowLabelSet { family } => write!(
                f,
                "family {family:?}: label values that are all \"__overflow__\" name the \
                 family's overflow series (where label sets past its cardinality limit go), \
                 so they cannot be a series of their own: use another value"
            ),
            Error::ReservedName { name } => write!(
                f,
                "name {name:?} starts with \"__\", which Prometheus reserves for internal use: \
                 choose a name without the double-underscore prefix"
            ),
            Error::ReservedPrefix { name } => write!(
                f,
                "metric name {name:?} is in the telemeter_ namespace, which telemeter's own \
                 self-metrics use (a clash would make the scrape body invalid): choose \
                 another prefix"
            ),
            Error::ReservedLabel { family, label } => write!(
                f,
                "family {family:?} may not declare label {label:?}: the exposition format \
                 generates it for this metric type; rename the label"
            ),
            Error::DuplicateLabelName { family, label } => write!(
                f,
                "family {family:?} declares label {label:?} twice: list each label name once"
            ),
            Error::DuplicateMetric { name } => write!(
                f,
                "metric name {name:?} is already registered (or emitted by another family, \
                 e.g. as a histogram's _bucket/_sum/_count): keep the handle from the first \
                 registration, or choose another name"
            ),
            Error::LabelCount {
                family,
                expected,
                got,
            } => write!(
                f,
                "family {family:?} has {expected} label name(s) but {got} value(s) were given: \
                 pass one value per label name, in declaration order"
            ),
            Error::InvalidBuckets { reason } => write!(
                f,
                "invalid histogram buckets: {reason}; give finite, strictly increasing upper \
                 bounds (the +Inf bucket is added automatically)"
            ),
            Error::InvalidIncrement { value } => write!(
                f,
                "a counter cannot add {value}: counters only go up; use a gauge for values \
                 that can decrease"
            ),
            Error::LabelSetTooLarge {
                family,
                combinations,
                max,
            } => write!(
                f,
                "family {family:?} cannot take a typed label set of {combinations} \
                 combinations: it holds at most {max}; raise the family's Opts::max_series, \
                 or leave a label of many values out of the typed set (Family::by_label, \
                 with_label_values)"
            ),
            Error::KindConflict {
                name,
                registered,
                requested,
            } => write!(
                f,
                "metric {name:?} is a {registered}, and a {requested} of the same name was \
                 asked for: one name has one type; rename one of them (note that names are \
                 sanitized first, so \"a.b\" and \"a_b\" are one name)"
            ),
            Error::RecorderAlreadySet => write!(
                f,
                "a global metrics recorder is already installed, and the metrics crate allows \
                 one per process: install telemeter's facade once, at start, instead of the \
                 other recorder, or record through metrics::with_local_recorder"
            ),
            Error::InvalidUnit { family, unit } => write!(
                f,
                "family {family:?} cannot declare unit {unit:?}: OpenMetrics requires the \
                 unit to be [a-zA-Z0-9_:]+ and the name (a counter's without _total) to end \
                 with \"_{unit}\"; rename the family (e.g. \"{family}_{unit}\") or fix the unit"
            ),
            Error::InvalidStateSet { family, reason } => write!(
                f,
                "state set {family:?}: {reason}; a state set lists 1 to 64 distinct states, is \
                 named as a label can be (its states are the values of a label of its own name, \
                 so no ':'), and has no label of that name among its own"
            ),
            Error::InvalidExemplar { reason } => write!(
                f,
                "invalid exemplar: {reason}; an exemplar's labels need names matching \
                 [a-zA-Z_][a-zA-Z0-9_]*, each once, and at most 128 UTF-8 characters of \
                 names and values together (a trace id and a span id fit)"
            ),
            Error::UnknownLabel { family, label } => write!(
                f,
                "family {family:?} has no label {label:?}: declare it in Opts::labels or use \
                 a fixed label type for one of the family's labels"
            ),
        }
    }
}

impl std::error::Error for Error {}
