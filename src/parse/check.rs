//! The parser proper: the rules that span lines. It keeps the families seen
//! so far and checks each tokenised line against them: HELP and TYPE before
//! a family's first sample, contiguous families, no name collisions, no
//! duplicate series, `le` and `quantile` where they belong, counters never
//! negative, and histogram series consistent, completed when a family ends.

#![forbid(unsafe_code)]

use std::collections::{HashMap, HashSet};
use std::fmt;

use super::error::{err, ParseError, ParseErrorKind};
use super::exposition::{Exposition, MetricType, ParsedFamily, Sample};
use super::lexer::{self, parse_go_float, Line};

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

/// The state of one parse: families so far and the current family's checks.
#[derive(Default)]
pub(super) struct Parser {
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
    /// Checks line `n` (1-based, without its `\n`) and adds it to the
    /// families.
    pub(super) fn line(&mut self, line: &str, n: usize) -> Result<(), ParseError> {
        match lexer::line(line, n)? {
            Line::Skip => Ok(()),
            Line::Help { name, text } => self.help(name, text, n),
            Line::Type { name, kind } => self.type_line(name, kind, n),
            Line::Sample(sample) => self.record(sample, n),
        }
    }

    /// Runs the end-of-body checks and returns the families.
    pub(super) fn finish(mut self) -> Result<Exposition, ParseError> {
        self.close_current()?;
        Ok(Exposition {
            families: self.families,
        })
    }

    /// A HELP line for `name`, its text unescaped.
    fn help(&mut self, name: &str, help: String, n: usize) -> Result<(), ParseError> {
        let index = self.open_for_metadata(name, "HELP", n)?;
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
        Ok(())
    }

    /// A TYPE line giving `name` the type `kind`.
    fn type_line(&mut self, name: &str, kind: MetricType, n: usize) -> Result<(), ParseError> {
        let index = self.open_for_metadata(name, "TYPE", n)?;
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

// ---------------------------------------------------------------------------
// Series keys and names.
// ---------------------------------------------------------------------------

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
pub(crate) fn render_series(name: &str, labels: &[(String, String)], skip: Option<&str>) -> String {
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
pub(crate) fn push_label_key(key: &mut String, labels: &[(String, String)], skip: Option<&str>) {
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

pub(crate) fn push_len_prefixed(key: &mut String, part: &str) {
    use fmt::Write as _;
    // Writing to a String cannot fail.
    let _ = write!(key, "{}:", part.len());
    key.push_str(part);
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
