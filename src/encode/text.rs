//! Prometheus text exposition format 0.0.4, written by hand.
//!
//! Rules (the Prometheus exposition-format spec):
//! * one `# HELP` (escaping `\` and newline only) and one `# TYPE` line per
//!   family, before its samples;
//! * label values escape `\`, `"` and newline;
//! * floats are written shortest-round-trip (`ryu`), with `+Inf`, `-Inf`
//!   and `NaN` spelled so; integers with `itoa`;
//! * the body ends with a newline.
//!
//! Each series' label text `{labels}` is rendered (and escaped) once, when
//! the series is created, and each family's sample names and bucket `le`
//! tails once, at registration; a scrape only copies those bytes (name,
//! labels, tail) and formats numbers into the caller's reused buffer.
#![forbid(unsafe_code)]

use super::put::put_value;

/// The `Content-Type` of a text 0.0.4 body.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// One exported name of a family (its own name or a deprecated alias) with
/// its HELP and TYPE lines pre-rendered.
#[derive(Debug, Clone)]
pub(crate) struct Variant {
    /// `# HELP name ...\n# TYPE name type\n`.
    pub(crate) header: Box<str>,
    /// The name's length; the name is `header[7..7 + name_len]`.
    name_len: usize,
    /// Histograms: `name_bucket`, `name_sum`, `name_count`; otherwise
    /// empty.
    pub(crate) suffixed: Box<[Box<str>]>,
}

impl Variant {
    /// `primary` is the family's own name; for an alias, HELP says what
    /// replaces it.
    pub(crate) fn new(name: &str, primary: &str, help: &str, type_name: &str) -> Variant {
        let mut header = String::new();
        header.push_str("# HELP ");
        header.push_str(name);
        header.push(' ');
        if name != primary {
            header.push_str("Deprecated: use ");
            header.push_str(primary);
            header.push('.');
            if !help.is_empty() {
                header.push(' ');
            }
        }
        escape_help(&mut header, help);
        header.push_str("\n# TYPE ");
        header.push_str(name);
        header.push(' ');
        header.push_str(type_name);
        header.push('\n');
        Variant {
            header: header.into_boxed_str(),
            name_len: name.len(),
            suffixed: if type_name == "histogram" {
                ["_bucket", "_sum", "_count"]
                    .iter()
                    .map(|s| format!("{name}{s}").into_boxed_str())
                    .collect()
            } else {
                Box::default()
            },
        }
    }
}

impl Variant {
    /// The exported name (kept once, inside the header).
    #[inline]
    pub(crate) fn name(&self) -> &str {
        &self.header["# HELP ".len().."# HELP ".len() + self.name_len]
    }
}

/// Appends `help` escaping `\` and newline.
pub(crate) fn escape_help(out: &mut String, help: &str) {
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Appends `value` escaping `\`, `"` and newline.
pub(crate) fn escape_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// A series' label set as the exposition writes it after the sample name:
/// `{l1="v1",...}`, or empty when the family has no labels.
pub(crate) fn render_labels(label_names: &[String], values: &[&str]) -> String {
    let mut out = String::new();
    if !label_names.is_empty() {
        render_prefix(&mut out, "", "", label_names, values, None);
        out.pop(); // the trailing space
    }
    out
}

/// The tail of each bucket line after a series' label text, per bound and
/// then `+Inf`: `,le="<bound>"} ` after a label set (the label text's `}`
/// is not copied), or `{le="<bound>"} ` for a family without labels.
pub(crate) fn render_le_tails(bounds: &[f64], labelled: bool) -> Box<[Box<str>]> {
    let open = if labelled { ",le=\"" } else { "{le=\"" };
    bounds
        .iter()
        .map(|b| {
            let mut s = String::from(open);
            push_f64(&mut s, *b);
            s.push_str("\"} ");
            s.into_boxed_str()
        })
        .chain(std::iter::once(format!("{open}+Inf\"}} ").into_boxed_str()))
        .collect()
}

/// Appends `name<suffix>{l1="v1",...[,le="<le>"]} ` (or `name<suffix> `
/// with no labels).
pub(crate) fn render_prefix(
    out: &mut String,
    name: &str,
    suffix: &str,
    label_names: &[String],
    values: &[&str],
    le: Option<&str>,
) {
    out.push_str(name);
    out.push_str(suffix);
    if !label_names.is_empty() || le.is_some() {
        out.push('{');
        let mut first = true;
        for (n, v) in label_names.iter().zip(values) {
            if !first {
                out.push(',');
            }
            first = false;
            out.push_str(n);
            out.push_str("=\"");
            escape_label_value(out, v);
            out.push('"');
        }
        if let Some(le) = le {
            if !first {
                out.push(',');
            }
            out.push_str("le=\"");
            out.push_str(le);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
}

/// Appends a float the way Prometheus spells it: shortest round-trip
/// digits, integers without a trailing `.0`, `+Inf`, `-Inf`, `NaN`.
pub(crate) fn push_f64(out: &mut String, v: f64) {
    with_f64_str(v, |s| out.push_str(s));
}

/// How Prometheus spells a float, decided once for every writer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum F64Form {
    /// `NaN`, `+Inf`, `-Inf` or `-0`.
    Literal(&'static str),
    /// An exact integer below 1e15 (the common case for sums of integer
    /// values), written without `.0`.
    Int(i64),
    /// Anything else: shortest round-trip digits (`ryu`).
    Shortest,
}

/// The spelling of `v` (see [`F64Form`]).
#[inline]
pub(crate) fn f64_form(v: f64) -> F64Form {
    if v.is_nan() {
        F64Form::Literal("NaN")
    } else if v.is_infinite() {
        F64Form::Literal(if v > 0.0 { "+Inf" } else { "-Inf" })
    } else if v.abs() < 1e15 && (v as i64) as f64 == v {
        // (Truncating to an integer and back is exact below 1e15 and
        // equals `v` just when `v` is integral; unlike `f64::trunc`, which
        // is a libm call on x86-64 without SSE4.1, it is two instructions.)
        if v == 0.0 && v.is_sign_negative() {
            F64Form::Literal("-0")
        } else {
            F64Form::Int(v as i64)
        }
    } else {
        F64Form::Shortest
    }
}

/// Writes a float as [`push_f64`] does, into a byte buffer.
#[inline]
pub(crate) fn write_f64(out: &mut Vec<u8>, v: f64) {
    put_value(out, v);
}

/// Formats `v` on the stack (no allocation) and hands the text to `f`.
#[inline]
fn with_f64_str<R>(v: f64, f: impl FnOnce(&str) -> R) -> R {
    match f64_form(v) {
        F64Form::Literal(s) => f(s),
        F64Form::Int(i) => f(itoa::Buffer::new().format(i)),
        F64Form::Shortest => f(ryu::Buffer::new().format_finite(v)),
    }
}

/// Writes an unsigned integer.
#[inline]
pub(crate) fn write_u64(out: &mut Vec<u8>, v: u64) {
    put_value(out, v);
}

#[cfg(all(test, not(telemeter_loom)))]
mod tests {
    use super::*;

    fn f(v: f64) -> String {
        let mut s = String::new();
        push_f64(&mut s, v);
        s
    }

    #[test]
    fn floats_are_spelled_as_prometheus_does() {
        assert_eq!(f(1.0), "1");
        assert_eq!(f(0.005), "0.005");
        assert_eq!(f(2.5), "2.5");
        assert_eq!(f(-3.0), "-3");
        assert_eq!(f(f64::INFINITY), "+Inf");
        assert_eq!(f(f64::NEG_INFINITY), "-Inf");
        assert_eq!(f(f64::NAN), "NaN");
        assert_eq!(f(1e21), "1e21");
        assert_eq!(f(1.5e-7), "1.5e-7");
        for v in [
            0.1,
            1.0 / 3.0,
            123456.789,
            1e-300,
            f64::MAX,
            f64::MIN_POSITIVE,
        ] {
            assert_eq!(f(v).parse::<f64>().unwrap(), v, "round trip of {v}");
        }
    }

    #[test]
    fn escaping_follows_the_format() {
        let mut s = String::new();
        escape_label_value(&mut s, "a\\b\"c\nd}#");
        assert_eq!(s, r#"a\\b\"c\nd}#"#);
        let mut h = String::new();
        escape_help(&mut h, "a\\b\"c\nd");
        assert_eq!(h, r#"a\\b"c\nd"#);
    }

    #[test]
    fn prefixes_render_labels_and_le() {
        let mut s = String::new();
        let names = vec!["a".to_string(), "b".to_string()];
        render_prefix(&mut s, "x", "_bucket", &names, &["1", "q\""], Some("0.5"));
        assert_eq!(s, "x_bucket{a=\"1\",b=\"q\\\"\",le=\"0.5\"} ");
        s.clear();
        render_prefix(&mut s, "x", "", &[], &[], None);
        assert_eq!(s, "x ");
    }

    #[test]
    fn alias_help_names_the_replacement() {
        let v = Variant::new("glyph_x", "oxg_x", "Things.", "counter");
        assert_eq!(
            &*v.header,
            "# HELP glyph_x Deprecated: use oxg_x. Things.\n# TYPE glyph_x counter\n"
        );
    }
}
