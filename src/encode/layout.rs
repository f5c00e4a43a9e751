//! The text a family renders once, at registration, so that a scrape only
//! copies it: each exported name's `# HELP`/`# TYPE` header and sample
//! names ([`Variant`]), a series' label text, and a histogram's `le` tails
//! ([`LeTails`]).
#![forbid(unsafe_code)]

use super::number::{f64_form, F64Form};
use super::pen::TailPad;
use crate::names::om_family_name;

/// One exported name of a family (its own name or a deprecated alias) with
/// its HELP and TYPE lines pre-rendered, in text 0.0.4 and in OpenMetrics.
#[derive(Debug, Clone)]
pub(crate) struct Variant {
    /// `# HELP name ...\n# TYPE name type\n`.
    pub(crate) header: Box<str>,
    /// The name's length; the name is `header[7..7 + name_len]`.
    name_len: usize,
    /// Histograms: `name_bucket`, `name_sum`, `name_count`; otherwise
    /// empty.
    pub(crate) suffixed: Box<[Box<str>]>,
    /// OpenMetrics' `# HELP`, `# TYPE` and `# UNIT` lines: a counter's
    /// MetricFamily name without its `_total`, HELP escaping `"` too.
    pub(crate) om_header: Box<str>,
    /// The OpenMetrics sample name of a counter (`base_total`) or gauge
    /// (the name); a histogram's are `suffixed`.
    pub(crate) om_name: Box<str>,
    /// OpenMetrics' `_created` sample name (the MetricFamily name and
    /// `_created`).
    pub(crate) om_created: Box<str>,
    /// The unit (`Opts::unit`), or empty.
    pub(crate) unit: Box<str>,
    /// The HELP text as given, unescaped (protobuf carries it raw).
    pub(crate) help: Box<str>,
}

impl Variant {
    /// `primary` is the family's own name; for an alias, HELP says what
    /// replaces it.
    pub(crate) fn new(name: &str, primary: &str, help: &str, type_name: &str) -> Variant {
        Variant::with_unit(name, primary, help, type_name, "")
    }

    /// [`Variant::new`] with a unit (empty for none).
    pub(crate) fn with_unit(
        name: &str,
        primary: &str,
        help: &str,
        type_name: &str,
        unit: &str,
    ) -> Variant {
        Variant::full(name, primary, help, type_name, type_name, unit)
    }

    /// [`Variant::with_unit`] with an OpenMetrics type of its own (`info`
    /// for a 0.0.4 `gauge`).
    pub(crate) fn full(
        name: &str,
        primary: &str,
        help: &str,
        type_name: &str,
        om_type: &str,
        unit: &str,
    ) -> Variant {
        let mut full_help = String::new();
        if name != primary {
            full_help.push_str("Deprecated: use ");
            full_help.push_str(primary);
            full_help.push('.');
            if !help.is_empty() {
                full_help.push(' ');
            }
        }
        full_help.push_str(help);
        let mut header = String::new();
        header.push_str("# HELP ");
        header.push_str(name);
        header.push(' ');
        escape_help(&mut header, &full_help);
        header.push_str("\n# TYPE ");
        header.push_str(name);
        header.push(' ');
        header.push_str(type_name);
        header.push('\n');
        let om_family = om_family_name(name, om_type);
        let mut om = String::new();
        om.push_str("# HELP ");
        om.push_str(om_family);
        om.push(' ');
        escape_label_value(&mut om, &full_help);
        om.push_str("\n# TYPE ");
        om.push_str(om_family);
        om.push(' ');
        om.push_str(om_type);
        om.push('\n');
        if !unit.is_empty() {
            om.push_str("# UNIT ");
            om.push_str(om_family);
            om.push(' ');
            om.push_str(unit);
            om.push('\n');
        }
        let om_name = match om_type {
            "counter" => format!("{om_family}_total"),
            "info" => format!("{om_family}_info"),
            _ => name.to_string(),
        };
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
            om_header: om.into_boxed_str(),
            om_name: om_name.into_boxed_str(),
            om_created: format!("{om_family}_created").into_boxed_str(),
            unit: unit.into(),
            help: full_help.into_boxed_str(),
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
    // Most values need no escape: one copy (an exemplar's trace id is
    // written on the recording thread, where a push per character cost
    // more than the rest of the record).
    if !value.bytes().any(|b| matches!(b, b'\\' | b'"' | b'\n')) {
        out.push_str(value);
        return;
    }
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

/// Adds a registry's constant labels (`const_text`: `n="v",...`, escaped;
/// empty for none) to a rendered label set (`{...}`, or empty for a family
/// without labels of its own).
pub(crate) fn append_const_labels(text: &mut String, const_text: &str) {
    if const_text.is_empty() {
        return;
    }
    if text.pop().is_some() {
        // `{a="x"}` less its `}`.
        text.push(',');
    } else {
        text.push('{');
    }
    text.push_str(const_text);
    text.push('}');
}

/// `n="v",...` for constant labels, values escaped: what
/// [`append_const_labels`] appends.
pub(crate) fn render_const_labels(labels: &[(String, String)]) -> String {
    let mut out = String::new();
    push_pairs(
        &mut out,
        labels.iter().map(|(n, v)| (n.as_str(), v.as_str())),
    );
    out
}

/// Appends `n="v",...` for `pairs`, values escaped (no braces): constant
/// labels' text, and an exemplar's inside its braces.
pub(crate) fn push_pairs<'p>(
    out: &mut String,
    pairs: impl IntoIterator<Item = (&'p str, &'p str)>,
) {
    for (i, (name, value)) in pairs.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(name);
        out.push_str("=\"");
        escape_label_value(out, value);
        out.push('"');
    }
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

/// A state set's label per state, to follow a series' label text less its
/// `}`: `,<name>="<state>"}` (or `{<name>="<state>"}` for a family
/// without labels), the state escaped.
pub(crate) fn render_state_tails(
    name: &str,
    states: &[Box<str>],
    labelled: bool,
) -> Box<[Box<str>]> {
    states
        .iter()
        .map(|s| {
            let mut t = String::from(if labelled { "," } else { "{" });
            t.push_str(name);
            t.push_str("=\"");
            escape_label_value(&mut t, s);
            t.push_str("\"}");
            t.into_boxed_str()
        })
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
        // A bound needs no escape: `le` goes through the same writer.
        let pairs = label_names
            .iter()
            .map(String::as_str)
            .zip(values.iter().copied());
        push_pairs(out, pairs.chain(le.map(|le| ("le", le))));
        out.push('}');
    }
    out.push(' ');
}

/// Appends a float the way Prometheus spells it: shortest round-trip
/// digits, integers without a trailing `.0`, `+Inf`, `-Inf`, `NaN`.
pub(crate) fn push_f64(out: &mut String, v: f64) {
    with_f64_str(v, |s| out.push_str(s));
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

/// A histogram family's `le` tails: what follows a series' label text on
/// each bucket line, `+Inf` last (see
/// [`render_le_tails`]).
///
/// One pointer, null for a family without buckets: every family holds one,
/// and an unlabelled counter is a family of its own.
#[derive(Debug, Default)]
pub(crate) struct LeTails(Option<Box<Tails>>);

#[derive(Debug)]
struct Tails {
    text: Box<[Box<str>]>,
    /// Each tail in 32 bytes, for [`Pen::put_tail`]; empty when one is
    /// longer than [`TailPad::MAX`] (a bound spelled with many digits).
    pads: Box<[TailPad]>,
    /// The longest tail.
    max: usize,
}

impl LeTails {
    pub(crate) fn new(text: Box<[Box<str>]>) -> LeTails {
        if text.is_empty() {
            return LeTails(None);
        }
        let max = text.iter().map(|t| t.len()).max().unwrap_or(0);
        let pads = if max <= TailPad::MAX {
            text.iter()
                .map(|t| {
                    let mut pad = TailPad([0; 32]);
                    pad.0[..t.len()].copy_from_slice(t.as_bytes());
                    pad.0[TailPad::MAX] = t.len() as u8;
                    pad
                })
                .collect()
        } else {
            Box::default()
        };
        LeTails(Some(Box::new(Tails { text, pads, max })))
    }

    /// How many tails (bucket cells, `+Inf` included).
    pub(crate) fn len(&self) -> usize {
        self.text().len()
    }

    pub(crate) fn text(&self) -> &[Box<str>] {
        self.0.as_ref().map_or(&[], |t| &t.text)
    }

    pub(super) fn pads(&self) -> &[TailPad] {
        self.0.as_ref().map_or(&[], |t| &t.pads)
    }

    /// The longest tail's length.
    pub(super) fn max(&self) -> usize {
        self.0.as_ref().map_or(0, |t| t.max)
    }

    /// The tails of a family without buckets.
    pub(crate) fn none() -> &'static LeTails {
        static NONE: LeTails = LeTails(None);
        &NONE
    }
}

#[cfg(test)]
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
