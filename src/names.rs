//! Name rules: what Prometheus accepts as a metric or label name, and the
//! namespace telemeter keeps for its own self-metrics. A leaf: every module
//! that takes a name from a user checks it here.
#![forbid(unsafe_code)]

use crate::error::Error;

/// The namespace of telemeter's own self-metrics (the registry's
/// `telemeter_scrape_*`, `telemeter_series*`, ... and the exporter's
/// `telemeter_http_*`): no family may be registered in it, whether or not
/// self-metrics are on, so the two can never clash in one body.
pub(crate) const RESERVED_PREFIX: &str = "telemeter_";

/// Checks a metric name against `[a-zA-Z_:][a-zA-Z0-9_:]*` and the `__`
/// reservation.
pub(crate) fn check_metric_name(name: &str) -> Result<(), Error> {
    let mut bytes = name.bytes();
    let ok = match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' || b == b':' => {
            bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
        }
        _ => false,
    };
    if !ok {
        return Err(Error::InvalidMetricName { name: name.into() });
    }
    if name.starts_with("__") {
        return Err(Error::ReservedName { name: name.into() });
    }
    if name.starts_with(RESERVED_PREFIX) {
        return Err(Error::ReservedPrefix { name: name.into() });
    }
    Ok(())
}

/// Checks a label name against `[a-zA-Z_][a-zA-Z0-9_]*` and the `__`
/// reservation.
pub(crate) fn check_label_name(name: &str) -> Result<(), Error> {
    let mut bytes = name.bytes();
    let ok = match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' => {
            bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        }
        _ => false,
    };
    if !ok {
        return Err(Error::InvalidLabelName { name: name.into() });
    }
    if name.starts_with("__") {
        return Err(Error::ReservedName { name: name.into() });
    }
    Ok(())
}

/// Checks a family's unit: `[a-zA-Z0-9_:]+`, and the name (a counter's
/// without `_total`) ending with `_<unit>`. An empty unit is none.
pub(crate) fn check_unit(name: &str, type_name: &str, unit: &str) -> Result<(), Error> {
    if unit.is_empty() {
        return Ok(());
    }
    let base = om_family_name(name, type_name);
    let ok = unit
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
        && base
            .strip_suffix(unit)
            .is_some_and(|rest| rest.ends_with('_') && rest.len() > 1);
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidUnit {
            family: name.into(),
            unit: unit.into(),
        })
    }
}

/// A family's OpenMetrics MetricFamily name: a counter's name without its
/// `_total`, an info family's without its `_info` (their samples add them
/// back), any other name as it is. `om_type` is the OpenMetrics type.
pub(crate) fn om_family_name<'n>(name: &'n str, om_type: &str) -> &'n str {
    let suffix = match om_type {
        "counter" => "_total",
        "info" => "_info",
        _ => return name,
    };
    match name.strip_suffix(suffix) {
        Some(base) if !base.is_empty() => base,
        _ => name,
    }
}
