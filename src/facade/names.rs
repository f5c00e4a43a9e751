//! How the facade turns a `metrics` key's names into Prometheus names.
//!
//! The rule is metrics-exporter-prometheus' (`formatting.rs`): every
//! character a name may not hold becomes `_`. A metric name may hold
//! `[a-zA-Z0-9_:]` and may not start with a digit; a label name may hold
//! `[a-zA-Z0-9_]` and may not start with a digit. Past that exporter, a
//! name is also made one that telemeter's registry accepts (the exporter
//! would write it and leave Prometheus to refuse it):
//!
//! * a name that starts with `__` (which Prometheus reserves) loses its
//!   leading underscores but one: `__name__` becomes `_name__`;
//! * a histogram's label `le` (which the `_bucket` lines use) becomes
//!   `_le`.
//!
//! An empty name has no Prometheus form and is refused, and so is a
//! metric name in telemeter's own `telemeter_` namespace. Label values are
//! kept as they are (the encoder escapes them).
#![forbid(unsafe_code)]

/// `name` as a Prometheus metric name (see the module docs).
pub(super) fn metric_name(name: &str) -> String {
    sanitize(name, |c| c == ':')
}

/// `name` as a Prometheus label name; `histogram` renames `le`.
pub(super) fn label_name(name: &str, histogram: bool) -> String {
    let s = sanitize(name, |_| false);
    if histogram && s == "le" {
        return "_le".to_string();
    }
    s
}

/// Maps every character outside `[a-zA-Z0-9_]` (and those `extra`
/// allows) to `_`, a leading digit too, then trims a leading `__...` to
/// one `_`.
fn sanitize(name: &str, extra: impl Fn(char) -> bool) -> String {
    let mut out: String = name
        .chars()
        .enumerate()
        .map(|(i, c)| {
            let ok =
                c.is_ascii_alphabetic() || c == '_' || extra(c) || (i > 0 && c.is_ascii_digit());
            if ok {
                c
            } else {
                '_'
            }
        })
        .collect();
    let underscores = out.bytes().take_while(|&b| b == b'_').count();
    if underscores > 1 {
        out.drain(..underscores - 1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_exporters_rule_and_then_the_registrys() {
        assert_eq!(metric_name("http.requests-total"), "http_requests_total");
        assert_eq!(metric_name("9lives"), "_lives");
        assert_eq!(metric_name("a:b"), "a:b");
        assert_eq!(metric_name("ünïcode"), "_n_code");
        assert_eq!(metric_name("__name__"), "_name__");
        assert_eq!(metric_name("___"), "_");
        assert_eq!(metric_name(""), "");
        assert_eq!(label_name("a:b", false), "a_b");
        assert_eq!(label_name("0day", false), "_day");
        assert_eq!(label_name("le", true), "_le");
        assert_eq!(label_name("le", false), "le");
        assert_eq!(label_name("__meta", false), "_meta");
    }
}
