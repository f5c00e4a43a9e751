//! The bodies of telemeter's fuzz targets.
//!
//! They are shared by two users: the cargo-fuzz binaries (through the
//! `telemeter_fuzz` library, `fuzz/src/lib.rs`), and the main crate's
//! `tests/fuzz_replay.rs`, which includes this file with `#[path]` and
//! replays the checked-in corpus on stable Rust as ordinary tests. So this
//! file uses only `std` and `telemeter`, and every input is decoded from raw
//! bytes the same way in both places: a crash file that libFuzzer writes
//! replays exactly when it is copied into `fuzz/corpus/<target>/`.

use std::fmt::Write as _;

use telemeter::parse::openmetrics::{self, OmExposition};
use telemeter::parse::{parse, parse_bytes, Exposition, MetricType, ParseErrorKind};

/// Arbitrary bytes into [`telemeter::parse::parse_bytes`].
///
/// It must never panic. Beyond that, it checks that `parse_bytes` and
/// `parse` agree, that invalid UTF-8 is reported as such, and that an
/// accepted body, written back out in canonical form, parses to the same
/// structure (so escapes and values are read losslessly).
pub fn parse_bytes_target(data: &[u8]) {
    let from_bytes = parse_bytes(data);
    match std::str::from_utf8(data) {
        Ok(text) => {
            let from_str = parse(text);
            // Debug text, not `==`: NaN values are not equal to themselves.
            assert_eq!(
                format!("{from_bytes:?}"),
                format!("{from_str:?}"),
                "parse_bytes and parse disagree"
            );
        }
        Err(_) => {
            let kind = from_bytes.as_ref().err().map(|e| &e.kind);
            assert_eq!(kind, Some(&ParseErrorKind::InvalidUtf8));
        }
    }
    let Ok(exposition) = from_bytes else {
        return;
    };
    assert_eq!(
        exposition.sample_count(),
        exposition
            .families
            .iter()
            .map(|f| f.samples.len())
            .sum::<usize>()
    );
    let canonical = render(&exposition);
    let reparsed = match parse(&canonical) {
        Ok(reparsed) => reparsed,
        Err(e) => panic!("canonical form of an accepted body is rejected: {e}\n{canonical}"),
    };
    assert_eq!(
        format!("{reparsed:?}"),
        format!("{exposition:?}"),
        "canonical form parses differently:\n{canonical}"
    );
}

/// Writes `exposition` back as 0.0.4 text: HELP (if any) and TYPE before
/// each family's samples, single spaces, escapes as the format defines.
fn render(exposition: &Exposition) -> String {
    let mut out = String::new();
    for family in &exposition.families {
        if let Some(help) = &family.help {
            out.push_str("# HELP ");
            out.push_str(&family.name);
            out.push(' ');
            for c in help.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    c => out.push(c),
                }
            }
            out.push('\n');
        }
        let _ = writeln!(out, "# TYPE {} {}", family.name, family.kind.as_str());
        for sample in &family.samples {
            out.push_str(&sample.name);
            if !sample.labels.is_empty() {
                out.push('{');
                for (i, (name, value)) in sample.labels.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(name);
                    out.push_str("=\"");
                    for c in value.chars() {
                        match c {
                            '\\' => out.push_str("\\\\"),
                            '"' => out.push_str("\\\""),
                            '\n' => out.push_str("\\n"),
                            c => out.push(c),
                        }
                    }
                    out.push('"');
                }
                out.push('}');
            }
            out.push(' ');
            let value = sample.value;
            if value.is_nan() {
                out.push_str("NaN");
            } else if value == f64::INFINITY {
                out.push_str("+Inf");
            } else if value == f64::NEG_INFINITY {
                out.push_str("-Inf");
            } else {
                // Rust's Display is the shortest text that reads back exactly.
                let _ = write!(out, "{value}");
            }
            if let Some(ts) = sample.timestamp_ms {
                let _ = write!(out, " {ts}");
            }
            out.push('\n');
        }
    }
    out
}

/// Arbitrary bytes into [`telemeter::parse::openmetrics::parse_bytes`].
///
/// It must never panic. Beyond that, it checks that `parse_bytes` and
/// `parse` agree, that invalid UTF-8 is reported as such, and that an
/// accepted body, written back out in canonical form, parses to the same
/// structure (so escapes, values, timestamps and exemplars are read
/// losslessly). Returns whether `data` was accepted.
pub fn parse_openmetrics_target(data: &[u8]) -> bool {
    let from_bytes = openmetrics::parse_bytes(data);
    match std::str::from_utf8(data) {
        Ok(text) => {
            let from_str = openmetrics::parse(text);
            // Debug text, not `==`: NaN values are not equal to themselves.
            assert_eq!(
                format!("{from_bytes:?}"),
                format!("{from_str:?}"),
                "parse_bytes and parse disagree"
            );
        }
        Err(_) => {
            let kind = from_bytes.as_ref().err().map(|e| &e.kind);
            assert_eq!(kind, Some(&ParseErrorKind::InvalidUtf8));
        }
    }
    let Ok(set) = from_bytes else {
        return false;
    };
    let canonical = render_openmetrics(&set);
    let reparsed = match openmetrics::parse(&canonical) {
        Ok(reparsed) => reparsed,
        Err(e) => panic!("canonical form of an accepted body is rejected: {e}\n{canonical}"),
    };
    assert_eq!(
        format!("{reparsed:?}"),
        format!("{set:?}"),
        "canonical form parses differently:\n{canonical}"
    );
    true
}

/// Appends `text` escaped as OpenMetrics label values and HELP text are.
fn push_om_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Appends `{name="value",...}`.
fn push_om_labels(out: &mut String, labels: &[(String, String)]) {
    out.push('{');
    for (i, (name, value)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(name);
        out.push_str("=\"");
        push_om_escaped(out, value);
        out.push('"');
    }
    out.push('}');
}

/// Appends a number so that it reads back exactly.
fn push_om_number(out: &mut String, value: f64) {
    if value.is_nan() {
        out.push_str("NaN");
    } else if value == f64::INFINITY {
        out.push_str("+Inf");
    } else if value == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else {
        // Debug is the shortest text that reads back exactly, with an
        // exponent for very large and small values.
        let _ = write!(out, "{value:?}");
    }
}

/// Writes `set` back as OpenMetrics text: TYPE, UNIT and HELP (when set)
/// before each family's samples, single spaces, escapes as the format
/// defines, `# EOF` at the end.
fn render_openmetrics(set: &OmExposition) -> String {
    let mut out = String::new();
    for family in &set.families {
        let _ = writeln!(out, "# TYPE {} {}", family.name, family.kind.as_str());
        if let Some(unit) = &family.unit {
            let _ = writeln!(out, "# UNIT {} {unit}", family.name);
        }
        if let Some(help) = &family.help {
            out.push_str("# HELP ");
            out.push_str(&family.name);
            out.push(' ');
            push_om_escaped(&mut out, help);
            out.push('\n');
        }
        for sample in &family.samples {
            out.push_str(&sample.name);
            if !sample.labels.is_empty() {
                push_om_labels(&mut out, &sample.labels);
            }
            out.push(' ');
            push_om_number(&mut out, sample.value);
            if let Some(ts) = sample.timestamp {
                out.push(' ');
                push_om_number(&mut out, ts);
            }
            if let Some(exemplar) = &sample.exemplar {
                out.push_str(" # ");
                push_om_labels(&mut out, &exemplar.labels);
                out.push(' ');
                push_om_number(&mut out, exemplar.value);
                if let Some(ts) = exemplar.timestamp {
                    out.push(' ');
                    push_om_number(&mut out, ts);
                }
            }
            out.push('\n');
        }
    }
    out.push_str("# EOF\n");
    out
}

/// Label names the round-trip family uses, in order.
const LABEL_NAMES: [&str; 3] = ["a", "b", "c"];

/// Decodes a round-trip input from raw bytes: the bytes as UTF-8 (lossily),
/// split on U+0001; the first part is the HELP text, the next one to three
/// parts are the label values (one empty value if there are none). So
/// `b"Requests.\x01GET\x01200"` is HELP `Requests.` with values `GET` and
/// `200`. This is the encoding of `fuzz/corpus/roundtrip/` files, and of
/// what libFuzzer hands the `roundtrip` target.
pub fn decode_roundtrip(data: &[u8]) -> (String, Vec<String>) {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split('\u{1}');
    let help = parts.next().unwrap_or_default().to_owned();
    let mut values: Vec<String> = parts.take(LABEL_NAMES.len()).map(str::to_owned).collect();
    if values.is_empty() {
        values.push(String::new());
    }
    (help, values)
}

/// Registers a counter family with HELP `help` and one label per value
/// (`a`, `b`, `c`; at most three values are used), records once, encodes,
/// parses the body back with the strict parser, and asserts that the HELP
/// text and every label value come back unchanged.
///
/// Inputs the registry refuses are skipped. One normalisation is applied to
/// the expected HELP text: 0.0.4 separates the metric name from the text by
/// blanks and has no escape for a leading blank, so every reader (Go's
/// included) drops leading spaces and tabs; they are trimmed before
/// comparing.
pub fn roundtrip_target(help: &str, values: &[String]) {
    let values = values
        .get(..values.len().min(LABEL_NAMES.len()))
        .unwrap_or_default();
    if values.is_empty() {
        return;
    }
    let names = LABEL_NAMES.get(..values.len()).unwrap_or_default();

    let reg = telemeter::Registry::builder().self_metrics(false).build();
    let fam: telemeter::Family<telemeter::Counter> =
        match reg.counter_family(telemeter::Opts::new("fuzz_total", help).labels(names)) {
            Ok(fam) => fam,
            Err(_) => return,
        };
    let refs: Vec<&str> = values.iter().map(String::as_str).collect();
    let counter = match fam.with_label_values(&refs[..]) {
        Ok(counter) => counter,
        Err(_) => return,
    };
    counter.inc();
    let mut buf = Vec::new();
    reg.encode(&mut buf);

    let body = String::from_utf8_lossy(&buf);
    let exposition = match parse_bytes(&buf) {
        Ok(exposition) => exposition,
        Err(e) => {
            panic!("the strict parser rejects the encoder's output: {e}\n--- body ---\n{body}")
        }
    };
    let Some(family) = exposition.family("fuzz_total") else {
        panic!("family fuzz_total missing from the encoded body\n--- body ---\n{body}");
    };
    assert_eq!(
        family.kind,
        MetricType::Counter,
        "TYPE\n--- body ---\n{body}"
    );

    let expected_help = help.trim_start_matches([' ', '\t']);
    match &family.help {
        Some(got) => assert_eq!(
            got, expected_help,
            "HELP text changed\n--- body ---\n{body}"
        ),
        None => assert!(
            expected_help.is_empty(),
            "HELP line missing\n--- body ---\n{body}"
        ),
    }

    let want: Vec<(&str, &str)> = names.iter().copied().zip(refs.iter().copied()).collect();
    let Some(sample) = family.find("fuzz_total", &want) else {
        panic!("series with labels {want:?} not found\n--- parsed ---\n{family:?}\n--- body ---\n{body}");
    };
    assert_eq!(sample.value, 1.0, "counter value\n--- body ---\n{body}");
    assert_eq!(
        family.samples.len(),
        1,
        "extra series\n--- body ---\n{body}"
    );
}

/// Arbitrary bytes as a request's query string into
/// [`telemeter::server::Query::parse`] (invalid UTF-8 lossily replaced, as
/// the request line only ever holds ASCII).
///
/// It must never panic. An accepted query, written back with every byte
/// but the unreserved ones percent-encoded, parses to the same pairs.
/// Returns whether `data` was accepted.
pub fn query_target(data: &[u8]) -> bool {
    use telemeter::server::Query;
    let raw = String::from_utf8_lossy(data);
    let Ok(query) = Query::parse(&raw) else {
        return false;
    };
    let encode = |s: &str| {
        let mut out = String::new();
        for b in s.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                out.push(b as char);
            } else {
                let _ = write!(out, "%{b:02X}");
            }
        }
        out
    };
    let written: Vec<String> = query
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    let again = Query::parse(&written.join("&")).expect("a written query parses");
    assert_eq!(
        query.iter().collect::<Vec<_>>(),
        again.iter().collect::<Vec<_>>(),
        "the query changed in a round trip"
    );
    true
}

/// Arbitrary bytes (lossily UTF-8) as a scraper's `Accept` header, into
/// [`telemeter::Format::negotiate`].
///
/// It must never panic, and its answer follows the rules whatever the
/// input: always one of the offered formats or text 0.0.4; text alone
/// when only text is offered; the same answer with a refused (`q=0`)
/// range appended; and text for a header naming no media type (no `/`).
/// Returns the format chosen among all three.
pub fn accept_target(data: &[u8]) -> telemeter::Format {
    use telemeter::Format;
    let header = String::from_utf8_lossy(data);
    let chosen = Format::negotiate(Some(&header), Format::ALL);
    assert!(Format::ALL.contains(&chosen));
    assert_eq!(
        Format::negotiate(Some(&header), Format::TEXT_ONLY),
        Format::Text
    );
    let two = [Format::Text, Format::OpenMetrics];
    let without_protobuf = Format::negotiate(Some(&header), &two);
    assert!(two.contains(&without_protobuf));
    if chosen != Format::Protobuf {
        assert_eq!(without_protobuf, chosen, "{header:?}");
    }
    let refused = format!("{header},application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0");
    assert_eq!(
        Format::negotiate(Some(&refused), Format::ALL),
        chosen,
        "{header:?}"
    );
    if !header.contains('/') {
        assert_eq!(chosen, Format::Text, "{header:?}");
    }
    chosen
}
