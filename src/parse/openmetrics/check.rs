//! The checker: the OpenMetrics rules that span lines. It keeps the
//! families seen so far and the names they own, and checks each tokenised
//! line against them: metadata once each and before the samples, families
//! and Metrics (label sets) contiguous, sample names that fit the family's
//! type, the labels and values each type requires, exemplars only where
//! allowed, timestamps per Metric, and each MetricPoint complete (a
//! counter's `_total`, a histogram's `+Inf` bucket, `_count` and `_sum`
//! together) when it ends.

#![forbid(unsafe_code)]

use std::collections::{HashMap, HashSet};

use super::super::check::{push_label_key, push_len_prefixed, render_series};
use super::super::error::{err, ParseError, ParseErrorKind};
use super::lexer::{self, parse_number, Line};
use super::model::{OmExposition, OmFamily, OmSample, OmType};

/// What a sample is within its family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// A counter's `_total`.
    Total,
    /// A counter's, histogram's or summary's `_created`.
    Created,
    /// The sample of a gauge or unknown family.
    Value,
    /// A histogram's or gauge histogram's `_bucket`.
    Bucket,
    /// A histogram's or summary's `_count`.
    Count,
    /// A histogram's or summary's `_sum`.
    Sum,
    /// A gauge histogram's `_gcount`.
    GCount,
    /// A gauge histogram's `_gsum`.
    GSum,
    /// A summary quantile (named like the family).
    Quantile,
    /// An info family's `_info`.
    Info,
    /// A stateset state (named like the family).
    State,
}

/// The role of a sample named `<family><suffix>` in a family of `kind`, if
/// the type has that suffix.
fn role_of(kind: OmType, suffix: &str) -> Option<Role> {
    use OmType as T;
    Some(match (kind, suffix) {
        (T::Counter, "_total") => Role::Total,
        (T::Counter | T::Histogram | T::Summary, "_created") => Role::Created,
        (T::Gauge | T::Unknown, "") => Role::Value,
        (T::Histogram | T::GaugeHistogram, "_bucket") => Role::Bucket,
        (T::Histogram | T::Summary, "_count") => Role::Count,
        (T::Histogram | T::Summary, "_sum") => Role::Sum,
        (T::GaugeHistogram, "_gcount") => Role::GCount,
        (T::GaugeHistogram, "_gsum") => Role::GSum,
        (T::Summary, "") => Role::Quantile,
        (T::Info, "_info") => Role::Info,
        (T::StateSet, "") => Role::State,
        _ => return None,
    })
}

/// The running checks of one MetricPoint: the samples of one Metric with
/// one timestamp (or all of them, without timestamps).
struct Point {
    /// The line of its first sample.
    first_line: usize,
    /// Its timestamp (`None` for a Metric without timestamps).
    timestamp: Option<f64>,
    /// Keys (name and full label set) of the samples in it.
    samples: HashSet<String>,
    /// Whether a counter's `_total` was seen.
    has_total: bool,
    /// The bound and count of the last bucket seen.
    last_bucket: Option<(f64, f64)>,
    /// The `+Inf` bucket's count.
    inf_bucket: Option<f64>,
    /// Whether a bucket has a negative bound.
    negative_bucket: bool,
    /// The `_count` (or `_gcount`) value and its line.
    count: Option<(f64, usize)>,
    /// The `_sum` (or `_gsum`) value and its line.
    sum: Option<(f64, usize)>,
}

impl Point {
    fn new(first_line: usize, timestamp: Option<f64>) -> Point {
        Point {
            first_line,
            timestamp,
            samples: HashSet::new(),
            has_total: false,
            last_bucket: None,
            inf_bucket: None,
            negative_bucket: false,
            count: None,
            sum: None,
        }
    }
}

/// One Metric (a family's label set, without `le`, `quantile` or the state
/// label) while its samples are being read.
struct Metric {
    /// The unambiguous key of its label set.
    key: String,
    /// `family{labels}`, for messages.
    series: String,
    /// Whether its samples carry timestamps (all or none do).
    timestamped: bool,
    /// The MetricPoint being read.
    point: Point,
}

/// The family being read.
struct Current {
    /// Its index in `families`.
    index: usize,
    /// Whether HELP, TYPE and UNIT lines were seen (even empty ones).
    help_seen: bool,
    type_seen: bool,
    unit_seen: bool,
    /// Keys of the Metrics already finished.
    finished: HashSet<String>,
    /// The Metric being read.
    metric: Option<Metric>,
}

/// The state of one parse.
#[derive(Default)]
pub(super) struct Parser {
    families: Vec<OmFamily>,
    /// Every name a family owns (its own and, once typed, its suffixed
    /// sample names), mapped to the family's index.
    owners: HashMap<String, usize>,
    /// The family being read; every other family is finished.
    current: Option<Current>,
}

impl Parser {
    /// Checks line `n` (1-based, without its `\n`) and adds it to the
    /// families.
    pub(super) fn line(&mut self, line: &str, n: usize) -> Result<(), ParseError> {
        match lexer::line(line, n)? {
            Line::Help { name, text } => self.help(name, text, n),
            Line::Type { name, kind } => self.type_line(name, kind, n),
            Line::Unit { name, unit } => self.unit(name, unit, n),
            Line::Sample(sample) => self.sample(sample, n),
        }
    }

    /// Runs the end-of-body checks and returns the families.
    pub(super) fn finish(mut self) -> Result<OmExposition, ParseError> {
        self.finish_current()?;
        Ok(OmExposition {
            families: self.families,
        })
    }

    fn family(&self, index: usize) -> Option<&OmFamily> {
        self.families.get(index)
    }

    fn family_name(&self, index: usize) -> String {
        self.family(index)
            .map(|family| family.name.clone())
            .unwrap_or_default()
    }

    fn current_name(&self) -> String {
        self.current
            .as_ref()
            .map(|current| self.family_name(current.index))
            .unwrap_or_default()
    }

    /// The family a metadata line for `name` applies to, made current: the
    /// current family if it is `name` and has no samples yet, else a new
    /// one.
    fn metadata(&mut self, name: &str, keyword: &'static str, n: usize) -> Result<(), ParseError> {
        if let Some(current) = &self.current {
            if let Some(family) = self.families.get(current.index) {
                if family.name == name {
                    if family.samples.is_empty() {
                        return Ok(());
                    }
                    return Err(err(
                        n,
                        ParseErrorKind::MetadataAfterSamples {
                            keyword,
                            family: name.to_owned(),
                        },
                    ));
                }
            }
        }
        if let Some(&owner) = self.owners.get(name) {
            let owner_name = self.family_name(owner);
            if owner_name == name {
                return Err(err(
                    n,
                    ParseErrorKind::NotContiguous {
                        family: owner_name,
                        interrupted_by: self.current_name(),
                    },
                ));
            }
            return Err(err(
                n,
                ParseErrorKind::SampleNameClash {
                    name: name.to_owned(),
                    family: owner_name,
                },
            ));
        }
        self.open(name)?;
        Ok(())
    }

    /// Finishes the current family and starts an unknown one called `name`;
    /// returns its index.
    fn open(&mut self, name: &str) -> Result<usize, ParseError> {
        self.finish_current()?;
        let index = self.families.len();
        self.families.push(OmFamily {
            name: name.to_owned(),
            kind: OmType::Unknown,
            help: None,
            unit: None,
            samples: Vec::new(),
        });
        self.owners.insert(name.to_owned(), index);
        self.current = Some(Current {
            index,
            help_seen: false,
            type_seen: false,
            unit_seen: false,
            finished: HashSet::new(),
            metric: None,
        });
        Ok(index)
    }

    /// Finishes the current family: its last MetricPoint's checks.
    fn finish_current(&mut self) -> Result<(), ParseError> {
        let Some(current) = self.current.take() else {
            return Ok(());
        };
        let kind = self
            .family(current.index)
            .map_or(OmType::Unknown, |family| family.kind);
        match current.metric {
            Some(metric) => finish_point(kind, &metric.series, &metric.point),
            None => Ok(()),
        }
    }

    /// A HELP line; `text` is `None` for empty text.
    fn help(&mut self, name: &str, text: Option<String>, n: usize) -> Result<(), ParseError> {
        self.metadata(name, "HELP", n)?;
        let Some(current) = self.current.as_mut() else {
            return Ok(());
        };
        if current.help_seen {
            return Err(err(
                n,
                ParseErrorKind::DuplicateHelp {
                    family: name.to_owned(),
                },
            ));
        }
        current.help_seen = true;
        if let Some(family) = self.families.get_mut(current.index) {
            family.help = text;
        }
        Ok(())
    }

    /// A TYPE line: sets the type and claims the type's sample names.
    fn type_line(&mut self, name: &str, kind: OmType, n: usize) -> Result<(), ParseError> {
        self.metadata(name, "TYPE", n)?;
        let Some(current) = self.current.as_mut() else {
            return Ok(());
        };
        if current.type_seen {
            return Err(err(
                n,
                ParseErrorKind::DuplicateType {
                    family: name.to_owned(),
                },
            ));
        }
        current.type_seen = true;
        let index = current.index;
        if kind == OmType::Counter && name.ends_with("_total") {
            return Err(err(
                n,
                ParseErrorKind::CounterNameWithTotal {
                    family: name.to_owned(),
                },
            ));
        }
        let has_unit = self
            .family(index)
            .is_some_and(|family| family.unit.is_some());
        if has_unit {
            unit_allowed(name, kind, n)?;
        }
        for suffix in kind.suffixes().iter().filter(|s| !s.is_empty()) {
            let child = format!("{name}{suffix}");
            if let Some(&owner) = self.owners.get(&child) {
                return Err(err(
                    n,
                    ParseErrorKind::SampleNameClash {
                        name: child,
                        family: self.family_name(owner),
                    },
                ));
            }
            self.owners.insert(child, index);
        }
        if let Some(family) = self.families.get_mut(index) {
            family.kind = kind;
        }
        Ok(())
    }

    /// A UNIT line; an empty unit counts as a line but sets nothing.
    fn unit(&mut self, name: &str, unit: &str, n: usize) -> Result<(), ParseError> {
        self.metadata(name, "UNIT", n)?;
        let Some(current) = self.current.as_mut() else {
            return Ok(());
        };
        if current.unit_seen {
            return Err(err(
                n,
                ParseErrorKind::DuplicateUnit {
                    family: name.to_owned(),
                },
            ));
        }
        current.unit_seen = true;
        if unit.is_empty() {
            return Ok(());
        }
        let suffixed = name
            .strip_suffix(unit)
            .is_some_and(|rest| rest.ends_with('_'));
        if !suffixed {
            return Err(err(
                n,
                ParseErrorKind::UnitNotSuffix {
                    family: name.to_owned(),
                    unit: unit.to_owned(),
                },
            ));
        }
        let Some(family) = self.families.get_mut(current.index) else {
            return Ok(());
        };
        unit_allowed(name, family.kind, n)?;
        family.unit = Some(unit.to_owned());
        Ok(())
    }

    /// Finds the family and role of a sample called `name`, opening a new
    /// unknown family if the name is not the current family's and no
    /// family owns it.
    fn resolve(&mut self, name: &str, n: usize) -> Result<(usize, Role), ParseError> {
        let current = self.current.as_ref().map(|current| current.index);
        if let Some(family) = current.and_then(|index| self.families.get(index)) {
            if let Some(role) = name
                .strip_prefix(family.name.as_str())
                .and_then(|suffix| role_of(family.kind, suffix))
            {
                return Ok((current.unwrap_or_default(), role));
            }
        }
        if let Some(&owner) = self.owners.get(name) {
            let family = self.family(owner);
            if Some(owner) == current {
                return Err(err(
                    n,
                    ParseErrorKind::InvalidSampleName {
                        name: name.to_owned(),
                        family: self.family_name(owner),
                        kind: family.map_or("unknown", |family| family.kind.as_str()),
                    },
                ));
            }
            return Err(err(
                n,
                ParseErrorKind::NotContiguous {
                    family: self.family_name(owner),
                    interrupted_by: self.current_name(),
                },
            ));
        }
        Ok((self.open(name)?, Role::Value))
    }

    /// Checks a sample against its family and records it.
    fn sample(&mut self, sample: OmSample, n: usize) -> Result<(), ParseError> {
        let (index, role) = self.resolve(&sample.name, n)?;
        let Some(family) = self.families.get(index) else {
            return Ok(());
        };
        let kind = family.kind;
        let (bound, skip) = check_labels(&family.name, kind, role, &sample, n)?;
        check_value(role, &sample, n)?;
        if let Some(exemplar) = &sample.exemplar {
            match (role, bound) {
                (Role::Total, _) => {}
                (Role::Bucket, Some(le)) => {
                    // NaN is inside no bucket.
                    let inside = exemplar.value <= le;
                    if !inside {
                        return Err(err(
                            n,
                            ParseErrorKind::ExemplarOutsideBucket {
                                name: sample.name.clone(),
                                le,
                                value: exemplar.value,
                            },
                        ));
                    }
                }
                _ => {
                    return Err(err(
                        n,
                        ParseErrorKind::ExemplarNotAllowed {
                            name: sample.name.clone(),
                            kind: kind.as_str(),
                        },
                    ))
                }
            }
        }
        let family_name = family.name.as_str();
        let Some(current) = self.current.as_mut() else {
            return Ok(());
        };
        enter_point(current, family_name, kind, &sample, skip, n)?;
        if let Some(metric) = current.metric.as_mut() {
            update_point(&mut metric.point, role, bound, &sample, n)?;
        }
        if let Some(family) = self.families.get_mut(index) {
            family.samples.push(sample);
        }
        Ok(())
    }
}

/// Refuses a unit on an info or stateset family.
fn unit_allowed(name: &str, kind: OmType, n: usize) -> Result<(), ParseError> {
    match kind {
        OmType::Info | OmType::StateSet => Err(err(
            n,
            ParseErrorKind::UnitNotAllowed {
                family: name.to_owned(),
                kind: kind.as_str(),
            },
        )),
        _ => Ok(()),
    }
}

/// The value of label `name`, if the sample has it.
fn label<'a>(sample: &'a OmSample, name: &str) -> Option<&'a str> {
    sample
        .labels
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Checks the labels a role needs or must not have. Returns the bucket's
/// bound (for a bucket) and the label that is the MetricPoint's rather
/// than the Metric's (`le`, `quantile` or a stateset's state label).
fn check_labels<'a>(
    family: &'a str,
    kind: OmType,
    role: Role,
    sample: &OmSample,
    n: usize,
) -> Result<(Option<f64>, Option<&'a str>), ParseError> {
    let name = || sample.name.clone();
    let histogram = matches!(kind, OmType::Histogram | OmType::GaugeHistogram);
    match role {
        Role::Bucket => {
            let Some(le) = label(sample, "le") else {
                return Err(err(n, ParseErrorKind::MissingLe { name: name() }));
            };
            // `+Inf` is the one spelling of infinity (the spec's canonical
            // numbers); other bounds may be written any way.
            let bound = match parse_number(le) {
                Ok(bound) if bound.is_nan() => None,
                Ok(bound) if bound == f64::INFINITY && le != "+Inf" => None,
                Ok(bound) => Some(bound),
                Err(_) => None,
            };
            let Some(bound) = bound else {
                return Err(err(
                    n,
                    ParseErrorKind::InvalidLe {
                        found: le.to_owned(),
                    },
                ));
            };
            Ok((Some(bound), Some("le")))
        }
        _ if histogram && label(sample, "le").is_some() => {
            Err(err(n, ParseErrorKind::LeOutsideBucket { name: name() }))
        }
        Role::Quantile => {
            let Some(q) = label(sample, "quantile") else {
                return Err(err(n, ParseErrorKind::MissingQuantile { name: name() }));
            };
            match parse_number(q) {
                Ok(value) if (0.0..=1.0).contains(&value) => Ok((None, Some("quantile"))),
                _ => Err(err(
                    n,
                    ParseErrorKind::InvalidQuantile {
                        found: q.to_owned(),
                    },
                )),
            }
        }
        _ if kind == OmType::Summary && label(sample, "quantile").is_some() => {
            Err(err(n, ParseErrorKind::UnexpectedQuantile { name: name() }))
        }
        Role::State => {
            if label(sample, family).is_none() {
                return Err(err(
                    n,
                    ParseErrorKind::MissingStateLabel {
                        name: name(),
                        family: family.to_owned(),
                    },
                ));
            }
            Ok((None, Some(family)))
        }
        _ => Ok((None, None)),
    }
}

/// Checks the value a role allows.
fn check_value(role: Role, sample: &OmSample, n: usize) -> Result<(), ParseError> {
    let value = sample.value;
    let fail = |kind: ParseErrorKind| Err(err(n, kind));
    let name = || sample.name.clone();
    match role {
        Role::Total | Role::Bucket | Role::Count | Role::Sum | Role::GCount
            if value.is_nan() || value < 0.0 =>
        {
            fail(ParseErrorKind::InvalidCounterLikeValue {
                name: name(),
                value,
            })
        }
        Role::Bucket | Role::Count | Role::GCount if value.fract() != 0.0 => {
            fail(ParseErrorKind::NonIntegerCount {
                name: name(),
                value,
            })
        }
        Role::GSum if value.is_nan() => fail(ParseErrorKind::InvalidGsum {
            name: name(),
            value,
        }),
        Role::Quantile if value < 0.0 => fail(ParseErrorKind::NegativeQuantileValue {
            name: name(),
            value,
        }),
        Role::Info if value != 1.0 => fail(ParseErrorKind::InvalidInfoValue {
            name: name(),
            value,
        }),
        Role::State if value != 0.0 && value != 1.0 => fail(ParseErrorKind::InvalidStateValue {
            name: name(),
            value,
        }),
        _ => Ok(()),
    }
}

/// Places a sample in its Metric and MetricPoint, finishing the previous
/// ones where it starts new ones. A Metric's samples are contiguous; all or
/// none have timestamps; timestamps never go back; without timestamps a
/// sample (name and labels) appears once, with them a repeated sample or a
/// later timestamp starts the Metric's next MetricPoint.
fn enter_point(
    current: &mut Current,
    family: &str,
    kind: OmType,
    sample: &OmSample,
    skip: Option<&str>,
    n: usize,
) -> Result<(), ParseError> {
    let mut key = String::new();
    push_label_key(&mut key, &sample.labels, skip);
    let mut sample_key = String::new();
    push_len_prefixed(&mut sample_key, &sample.name);
    push_label_key(&mut sample_key, &sample.labels, None);

    match current.metric.as_mut() {
        Some(metric) if metric.key == key => {
            if sample.timestamp.is_some() != metric.timestamped {
                return Err(err(
                    n,
                    ParseErrorKind::MixedTimestamps {
                        series: metric.series.clone(),
                    },
                ));
            }
            let repeated = metric.point.samples.contains(&sample_key);
            match (sample.timestamp, metric.point.timestamp) {
                (Some(timestamp), Some(previous)) => {
                    if timestamp < previous {
                        return Err(err(
                            n,
                            ParseErrorKind::TimestampWentBackwards {
                                series: metric.series.clone(),
                                previous,
                                timestamp,
                            },
                        ));
                    }
                    if timestamp > previous || repeated {
                        finish_point(kind, &metric.series, &metric.point)?;
                        metric.point = Point::new(n, Some(timestamp));
                    }
                }
                _ if repeated => {
                    return Err(err(
                        n,
                        ParseErrorKind::DuplicateSeries {
                            series: render_series(&sample.name, &sample.labels, None),
                        },
                    ))
                }
                _ => {}
            }
            metric.point.samples.insert(sample_key);
        }
        _ => {
            if let Some(metric) = current.metric.take() {
                finish_point(kind, &metric.series, &metric.point)?;
                current.finished.insert(metric.key);
            }
            let series = render_series(family, &sample.labels, skip);
            if current.finished.contains(&key) {
                return Err(err(n, ParseErrorKind::MetricNotContiguous { series }));
            }
            let mut point = Point::new(n, sample.timestamp);
            point.samples.insert(sample_key);
            current.metric = Some(Metric {
                key,
                series,
                timestamped: sample.timestamp.is_some(),
                point,
            });
        }
    }
    Ok(())
}

/// Updates the running checks of a MetricPoint with one of its samples.
fn update_point(
    point: &mut Point,
    role: Role,
    bound: Option<f64>,
    sample: &OmSample,
    n: usize,
) -> Result<(), ParseError> {
    let value = sample.value;
    match (role, bound) {
        (Role::Total, _) => point.has_total = true,
        (Role::Bucket, Some(le)) => {
            if let Some((previous_le, previous_count)) = point.last_bucket {
                let series = || {
                    let skip = Some("le");
                    render_series(&sample.name, &sample.labels, skip)
                };
                if le <= previous_le {
                    return Err(err(
                        n,
                        ParseErrorKind::BucketsNotIncreasing {
                            series: series(),
                            previous: previous_le,
                            le,
                        },
                    ));
                }
                if value < previous_count {
                    return Err(err(
                        n,
                        ParseErrorKind::BucketCountDecreasing {
                            series: series(),
                            le,
                            previous: previous_count,
                            count: value,
                        },
                    ));
                }
            }
            point.last_bucket = Some((le, value));
            if le == f64::INFINITY {
                point.inf_bucket = Some(value);
            }
            if le < 0.0 {
                point.negative_bucket = true;
            }
        }
        (Role::Count | Role::GCount, _) => point.count = Some((value, n)),
        (Role::Sum | Role::GSum, _) => point.sum = Some((value, n)),
        _ => {}
    }
    Ok(())
}

/// The checks of a finished MetricPoint of a family of `kind`.
fn finish_point(kind: OmType, series: &str, point: &Point) -> Result<(), ParseError> {
    let (count_suffix, sum_suffix) = match kind {
        OmType::Counter if !point.has_total => {
            return Err(err(
                point.first_line,
                ParseErrorKind::MissingCounterTotal {
                    series: series.to_owned(),
                },
            ))
        }
        OmType::Histogram => ("_count", "_sum"),
        OmType::GaugeHistogram => ("_gcount", "_gsum"),
        _ => return Ok(()),
    };
    let Some(inf_bucket) = point.inf_bucket else {
        return Err(err(
            point.first_line,
            ParseErrorKind::MissingInfBucket {
                series: series.to_owned(),
            },
        ));
    };
    match (point.count, point.sum) {
        (Some((_, line)), None) => {
            return Err(err(
                line,
                ParseErrorKind::UnpairedCountSum {
                    series: series.to_owned(),
                    present: count_suffix,
                    missing: sum_suffix,
                },
            ))
        }
        (None, Some((_, line))) => {
            return Err(err(
                line,
                ParseErrorKind::UnpairedCountSum {
                    series: series.to_owned(),
                    present: sum_suffix,
                    missing: count_suffix,
                },
            ))
        }
        _ => {}
    }
    if let Some((count, line)) = point.count {
        // Both are checked integers (or +Inf, refused as a non-integer).
        #[allow(clippy::float_cmp)]
        let equal = count == inf_bucket;
        if !equal {
            return Err(err(
                line,
                ParseErrorKind::CountMismatch {
                    series: series.to_owned(),
                    count,
                    inf_bucket,
                },
            ));
        }
    }
    if let Some((sum, line)) = point.sum {
        if kind == OmType::Histogram && point.negative_bucket {
            return Err(err(
                line,
                ParseErrorKind::SumWithNegativeBuckets {
                    series: series.to_owned(),
                },
            ));
        }
        if kind == OmType::GaugeHistogram && sum < 0.0 && !point.negative_bucket {
            return Err(err(
                line,
                ParseErrorKind::InvalidGsum {
                    name: format!("{}{sum_suffix}", series_family(series)),
                    value: sum,
                },
            ));
        }
    }
    Ok(())
}

/// The family name at the start of a rendered series.
fn series_family(series: &str) -> &str {
    series.split('{').next().unwrap_or_default()
}

// ---------------------------------------------------------------------------
// Keys and rendered names: the 0.0.4 checker's (`crate::parse::check`).
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_keys_are_unambiguous_and_skip() {
        let labels = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let mut a = String::new();
        let mut b = String::new();
        push_label_key(&mut a, &labels(&[("a", "1:b"), ("c", "")]), None);
        push_label_key(&mut b, &labels(&[("a", "1")]), None);
        assert_ne!(a, b);
        let (mut c, mut d) = (String::new(), String::new());
        push_label_key(&mut c, &labels(&[("x", "1"), ("le", "2")]), Some("le"));
        push_label_key(&mut d, &labels(&[("x", "1")]), None);
        assert_eq!(c, d);
    }

    #[test]
    fn roles_follow_the_suffix_table() {
        for kind in [
            OmType::Counter,
            OmType::Gauge,
            OmType::Histogram,
            OmType::GaugeHistogram,
            OmType::Summary,
            OmType::Info,
            OmType::StateSet,
            OmType::Unknown,
        ] {
            for suffix in kind.suffixes() {
                assert!(role_of(kind, suffix).is_some(), "{kind} {suffix}");
            }
            for suffix in [
                "", "_total", "_created", "_bucket", "_count", "_sum", "_gcount", "_gsum", "_info",
            ] {
                if role_of(kind, suffix).is_some() {
                    assert!(kind.suffixes().contains(&suffix), "{kind} {suffix}");
                }
            }
        }
    }

    #[test]
    fn series_are_rendered_escaped() {
        let labels = vec![
            ("le".to_owned(), "1".to_owned()),
            ("p".to_owned(), "a\"b\\c\nd".to_owned()),
        ];
        assert_eq!(
            render_series("h", &labels, Some("le")),
            "h{p=\"a\\\"b\\\\c\\nd\"}"
        );
        assert_eq!(render_series("h", &[], None), "h");
        assert_eq!(series_family("h{p=\"{\"}"), "h");
    }
}
