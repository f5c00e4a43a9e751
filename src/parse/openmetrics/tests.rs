//! Unit tests of the OpenMetrics parser: valid bodies parse into the
//! expected structure, and each rule's violation is refused with its error
//! kind on the right line.

use super::*;
use ParseErrorKind as K;

/// Parses a body that must be valid.
#[track_caller]
fn ok(body: &str) -> OmExposition {
    match parse(body) {
        Ok(set) => set,
        Err(e) => panic!("expected {body:?} to parse, got: {e}"),
    }
}

/// Parses a body that must be rejected.
#[track_caller]
fn fail(body: &str) -> ParseError {
    match parse(body) {
        Ok(set) => panic!("expected {body:?} to be rejected, got {set:?}"),
        Err(e) => e,
    }
}

/// Asserts that `body` is rejected on `line` with `kind`.
#[track_caller]
fn rejects(body: &str, line: usize, kind: ParseErrorKind) {
    let e = fail(body);
    assert_eq!((e.line, &e.kind), (line, &kind), "body: {body:?}: {e}");
}

/// Asserts that `body` (with `# EOF\n` appended) is rejected with `kind`,
/// on any line.
#[track_caller]
fn rejects_kind(body: &str, kind: ParseErrorKind) {
    let body = format!("{body}# EOF\n");
    let e = fail(&body);
    assert_eq!(e.kind, kind, "body: {body:?}: {e}");
}

/// `body` with `# EOF\n` appended must be valid.
#[track_caller]
fn ok_eof(body: &str) -> OmExposition {
    ok(&format!("{body}# EOF\n"))
}

fn pairs(labels: &[(&str, &str)]) -> Vec<(String, String)> {
    labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn s(name: &str) -> String {
    name.to_owned()
}

// ---------------------------------------------------------------------------
// Valid bodies
// ---------------------------------------------------------------------------

/// The complete example of the spec's "Overall Structure" section.
const SPEC_EXAMPLE: &str = "\
# TYPE acme_http_router_request_seconds summary
# UNIT acme_http_router_request_seconds seconds
# HELP acme_http_router_request_seconds Latency though all of ACME's HTTP request router.
acme_http_router_request_seconds_sum{path=\"/api/v1\",method=\"GET\"} 9036.32
acme_http_router_request_seconds_count{path=\"/api/v1\",method=\"GET\"} 807283.0
acme_http_router_request_seconds_created{path=\"/api/v1\",method=\"GET\"} 1605281325.0
acme_http_router_request_seconds_sum{path=\"/api/v2\",method=\"POST\"} 479.3
acme_http_router_request_seconds_count{path=\"/api/v2\",method=\"POST\"} 34.0
acme_http_router_request_seconds_created{path=\"/api/v2\",method=\"POST\"} 1605281325.0
# TYPE go_goroutines gauge
# HELP go_goroutines Number of goroutines that currently exist.
go_goroutines 69
# TYPE process_cpu_seconds counter
# UNIT process_cpu_seconds seconds
# HELP process_cpu_seconds Total user and system CPU time spent in seconds.
process_cpu_seconds_total 4.20072246e+06
# EOF
";

#[test]
fn accepts_the_spec_example() {
    let set = ok(SPEC_EXAMPLE);
    assert_eq!(set.families.len(), 3);
    assert_eq!(set.sample_count(), 8);
    let summary = set.family("acme_http_router_request_seconds").unwrap();
    assert_eq!(summary.kind, OmType::Summary);
    assert_eq!(summary.unit.as_deref(), Some("seconds"));
    assert_eq!(
        summary.help.as_deref(),
        Some("Latency though all of ACME's HTTP request router.")
    );
    let count = summary
        .find(
            "acme_http_router_request_seconds_count",
            &[("method", "POST"), ("path", "/api/v2")],
        )
        .unwrap();
    assert_eq!(count.value, 34.0);
    let cpu = set.family("process_cpu_seconds").unwrap();
    assert_eq!(cpu.kind, OmType::Counter);
    assert_eq!(cpu.samples[0].name, "process_cpu_seconds_total");
    assert_eq!(cpu.samples[0].value, 4_200_722.46);
    assert!(set.family("process_cpu_seconds_total").is_none());
}

#[test]
fn accepts_the_spec_type_examples() {
    // Histogram with exemplars (one with a timestamp) and a double blank
    // before `_created`'s value is not allowed, so it is single here.
    let set = ok_eof(concat!(
        "# TYPE foo histogram\n",
        "foo_bucket{le=\"0.01\"} 0\n",
        "foo_bucket{le=\"0.1\"} 8 # {} 0.054\n",
        "foo_bucket{le=\"1\"} 11 # {trace_id=\"KOO5S4vxi0o\"} 0.67\n",
        "foo_bucket{le=\"10\"} 17 # {trace_id=\"oHg5SJYRHA0\"} 9.8 1520879607.789\n",
        "foo_bucket{le=\"+Inf\"} 17\n",
        "foo_count 17\n",
        "foo_sum 324789.3\n",
        "foo_created 1520430000.123\n",
        "# TYPE bar gaugehistogram\n",
        "bar_bucket{le=\"0.01\"} 20.0\n",
        "bar_bucket{le=\"0.1\"} 25.0\n",
        "bar_bucket{le=\"1\"} 34.0\n",
        "bar_bucket{le=\"10\"} 34.0\n",
        "bar_bucket{le=\"+Inf\"} 42.0\n",
        "bar_gcount 42.0\n",
        "bar_gsum 3289.3\n",
        "# TYPE baz stateset\n",
        "baz{entity=\"controller\",baz=\"a\"} 1.0\n",
        "baz{entity=\"controller\",baz=\"bb\"} 0.0\n",
        "baz{entity=\"replica\",baz=\"a\"} 1.0\n",
        "baz{entity=\"replica\",baz=\"bb\"} 0.0\n",
        "# TYPE qux info\n",
        "qux_info{entity=\"controller\",name=\"pretty name\",version=\"8.2.7\"} 1.0\n",
        "qux_info{entity=\"replica\",name=\"prettier name\",version=\"8.1.9\"} 1.0\n",
        "# TYPE q summary\n",
        "q{quantile=\"0.95\"} 123.7\n",
        "q{quantile=\"0.99\"} 150.0\n",
        "# TYPE u unknown\n",
        "u 42.23\n",
        "# TYPE empty gauge\n",
    ));
    let foo = set.family("foo").unwrap();
    let bucket = foo.find("foo_bucket", &[("le", "10")]).unwrap();
    let exemplar = bucket.exemplar.as_ref().unwrap();
    assert_eq!(exemplar.labels, pairs(&[("trace_id", "oHg5SJYRHA0")]));
    assert_eq!(
        (exemplar.value, exemplar.timestamp),
        (9.8, Some(1520879607.789))
    );
    let empty = foo.find("foo_bucket", &[("le", "0.1")]).unwrap();
    assert_eq!(empty.exemplar.as_ref().unwrap().labels, []);
    assert!(foo
        .find("foo_bucket", &[("le", "0.01")])
        .unwrap()
        .exemplar
        .is_none());
    assert_eq!(set.family("bar").unwrap().kind, OmType::GaugeHistogram);
    assert_eq!(set.family("baz").unwrap().kind, OmType::StateSet);
    assert_eq!(set.family("qux").unwrap().kind, OmType::Info);
    assert_eq!(set.family("q").unwrap().samples.len(), 2);
    assert_eq!(set.family("u").unwrap().kind, OmType::Unknown);
    let empty = set.family("empty").unwrap();
    assert_eq!((empty.kind, empty.samples.len()), (OmType::Gauge, 0));
}

#[test]
fn eof_may_end_the_body_without_a_newline() {
    assert_eq!(ok("# EOF").families, []);
    assert_eq!(ok("# EOF\n").families, []);
    assert_eq!(ok("a 1\n# EOF").sample_count(), 1);
}

#[test]
fn families_without_metadata_are_unknown() {
    let set = ok_eof("a 1\nb{x=\"y\"} 2\n");
    let a = set.family("a").unwrap();
    assert_eq!(
        (a.kind, a.help.as_ref(), a.unit.as_ref()),
        (OmType::Unknown, None, None)
    );
    assert_eq!(
        set.family("b").unwrap().samples[0].labels,
        pairs(&[("x", "y")])
    );
}

#[test]
fn hostile_label_values_are_data() {
    let set = ok_eof(concat!(
        "# TYPE a counter\n",
        "a_total{v=\"} # {\\\" x=\\\"1\\\"\"} 1\n",
        "a_total{v=\"back\\\\slash\\\\\\\\\"} 2\n",
        "a_total{v=\"new\\nline\"} 3\n",
        "a_total{v=\"\r\0\u{1}\"} 4\n",
        "a_total{v=\"日本語 ☃ \u{10ffff}\"} 5\n",
        "a_total{v=\"a=b,c={d}\"} 6\n",
        "a_total{v=\"\"} 7\n",
        "a_total{v=\"#\"} 8 # {v=\"} # {\"} 1\n",
    ));
    let family = set.family("a").unwrap();
    let value_of = |v: &str| family.find("a_total", &[("v", v)]).map(|s| s.value);
    assert_eq!(value_of("} # {\" x=\"1\""), Some(1.0));
    assert_eq!(value_of("back\\slash\\\\"), Some(2.0));
    assert_eq!(value_of("new\nline"), Some(3.0));
    assert_eq!(value_of("\r\0\u{1}"), Some(4.0));
    assert_eq!(value_of("日本語 ☃ \u{10ffff}"), Some(5.0));
    assert_eq!(value_of("a=b,c={d}"), Some(6.0));
    assert_eq!(value_of(""), Some(7.0));
    let last = family.find("a_total", &[("v", "#")]).unwrap();
    assert_eq!(
        last.exemplar.as_ref().unwrap().labels,
        pairs(&[("v", "} # {")])
    );
}

#[test]
fn help_text_escapes_and_keeps_the_rest() {
    let set = ok_eof("# HELP a quote \\\" back \\\\ nl \\n tab\tcr\r nul\0 ☃ {}#=,\n");
    assert_eq!(
        set.family("a").unwrap().help.as_deref(),
        Some("quote \" back \\ nl \n tab\tcr\r nul\0 ☃ {}#=,")
    );
    // The text starts after exactly one space; further spaces are text.
    assert_eq!(
        ok_eof("# HELP a  two\n").families[0].help.as_deref(),
        Some(" two")
    );
}

#[test]
fn empty_help_and_unit_mean_none() {
    let set = ok_eof("# HELP a \n# UNIT a \n# TYPE a gauge\na 1\n");
    let a = set.family("a").unwrap();
    assert_eq!((a.help.as_ref(), a.unit.as_ref()), (None, None));
    // An empty UNIT is allowed on info and stateset families.
    ok_eof("# TYPE i info\n# UNIT i \ni_info 1\n");
}

#[test]
fn exemplars_with_and_without_timestamps() {
    let set = ok_eof(concat!(
        "# TYPE c counter\n",
        "c_total{a=\"1\"} 1 # {trace_id=\"x\"} 0.5\n",
        "c_total{a=\"2\"} 2 # {trace_id=\"y\"} 1 1520879607.789\n",
        "c_total{a=\"3\"} 3 1520879600 # {} NaN 1e9\n",
        "c_total{a=\"4\"} 4 1520879600 # {x=\"1\",y=\"2\"} -Inf\n",
    ));
    let family = set.family("c").unwrap();
    let ex = |a: &str| {
        family
            .find("c_total", &[("a", a)])
            .and_then(|s| s.exemplar.clone())
            .unwrap()
    };
    assert_eq!(
        ex("1"),
        OmExemplar {
            labels: pairs(&[("trace_id", "x")]),
            value: 0.5,
            timestamp: None
        }
    );
    assert_eq!(ex("2").timestamp, Some(1520879607.789));
    assert!(ex("3").value.is_nan());
    assert_eq!(ex("3").timestamp, Some(1e9));
    assert_eq!(ex("4").value, f64::NEG_INFINITY);
    let sample = family.find("c_total", &[("a", "3")]).unwrap();
    assert_eq!(sample.timestamp, Some(1520879600.0));
}

#[test]
fn exemplar_labels_are_measured_in_characters() {
    // 1 + 127 characters, 1 + 3 * 127 bytes: allowed.
    let wide = "☃".repeat(127);
    ok_eof(&format!(
        "# TYPE c counter\nc_total 1 # {{a=\"{wide}\"}} 1\n"
    ));
    let long = "x".repeat(128);
    rejects_kind(
        &format!("# TYPE c counter\nc_total 1 # {{a=\"{long}\"}} 1\n"),
        K::ExemplarLabelsTooLong { length: 129 },
    );
    // Names count too.
    rejects_kind(
        &format!(
            "# TYPE c counter\nc_total 1 # {{{}=\"{}\"}} 1\n",
            "n".repeat(64),
            "v".repeat(65)
        ),
        K::ExemplarLabelsTooLong { length: 129 },
    );
}

#[test]
fn units_are_suffixes() {
    let set = ok_eof(concat!(
        "# TYPE cc_seconds counter\n",
        "# UNIT cc_seconds seconds\n",
        "cc_seconds_total 1.0\n",
        "cc_seconds_created 123.456\n",
        "# UNIT a_bytes_per_second bytes_per_second\n",
        "# UNIT b:x_ratio ratio\n",
    ));
    assert_eq!(
        set.family("cc_seconds").unwrap().unit.as_deref(),
        Some("seconds")
    );
    assert_eq!(
        set.family("a_bytes_per_second").unwrap().unit.as_deref(),
        Some("bytes_per_second")
    );
    assert_eq!(
        set.family("b:x_ratio").unwrap().unit.as_deref(),
        Some("ratio")
    );
    // The unit is separated by an underscore, not a colon.
    rejects_kind(
        "# UNIT b:ratio ratio\n",
        K::UnitNotSuffix {
            family: s("b:ratio"),
            unit: s("ratio"),
        },
    );
}

#[test]
fn info_stateset_and_created() {
    let set = ok_eof(concat!(
        "# TYPE target info\n",
        "target_info{env=\"prod\",hostname=\"myhost\"} 1\n",
        "# TYPE state stateset\n",
        "state{state=\"a\"} 0\n",
        "state{state=\"bb\"} 1.0\n",
        "state{state=\"ccc\"} 0e0\n",
        "# TYPE h histogram\n",
        "h_bucket{le=\"+Inf\"} 0\n",
        "h_created 1520430000.123\n",
        "# TYPE s summary\n",
        "s_created 1520430000\n",
        "# TYPE c counter\n",
        "c_total 0\n",
        "c_created 1520430000.123\n",
    ));
    assert_eq!(
        set.family("target").unwrap().samples[0].labels,
        pairs(&[("env", "prod"), ("hostname", "myhost")])
    );
    let state = set.family("state").unwrap();
    assert_eq!(state.find("state", &[("state", "bb")]).unwrap().value, 1.0);
    assert_eq!(
        set.family("c")
            .unwrap()
            .find("c_created", &[])
            .unwrap()
            .value,
        1520430000.123
    );
}

#[test]
fn other_suffixes_start_new_families() {
    // `g_count` is no gauge histogram sample: it starts an unknown family.
    let set = ok_eof(concat!(
        "# TYPE g gaugehistogram\n",
        "g_bucket{le=\"+Inf\"} 1\n",
        "g_count 1\n",
        "# TYPE a gauge\n",
        "a 1\n",
        "a_total 2\n",
    ));
    let names: Vec<&str> = set.families.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["g", "g_count", "a", "a_total"]);
    assert_eq!(set.family("a_total").unwrap().kind, OmType::Unknown);
}

#[test]
fn values_and_timestamps() {
    let set = ok_eof(concat!(
        "a{k=\"1\"} +Inf\n",
        "a{k=\"2\"} -Inf\n",
        "a{k=\"3\"} NaN\n",
        "a{k=\"4\"} nan\n",
        "a{k=\"5\"} -infinity\n",
        "a{k=\"6\"} 0000001.2e-1\n",
        "a{k=\"7\"} .5\n",
        "a{k=\"8\"} 5.\n",
        "a{k=\"9\"} 1E3\n",
        "a{k=\"10\"} 9223372036854775808\n",
        "a{k=\"11\"} -0.0\n",
        "b{k=\"1\"} 1 000\n",
        "b{k=\"2\"} 1 1.1\n",
        "b{k=\"3\"} 1 -1.5e3\n",
        "b{k=\"4\"} 1 12345678901234567890.1234567890\n",
    ));
    let a = set.family("a").unwrap();
    let value = |k: &str| a.find("a", &[("k", k)]).unwrap().value;
    assert_eq!(value("1"), f64::INFINITY);
    assert_eq!(value("2"), f64::NEG_INFINITY);
    assert!(value("3").is_nan() && value("4").is_nan());
    assert_eq!(value("5"), f64::NEG_INFINITY);
    assert_eq!(value("6"), 0.12);
    assert_eq!((value("7"), value("8"), value("9")), (0.5, 5.0, 1000.0));
    assert_eq!(value("10"), 9223372036854775808.0);
    let b = set.family("b").unwrap();
    let ts = |k: &str| b.find("b", &[("k", k)]).unwrap().timestamp;
    assert_eq!(ts("1"), Some(0.0));
    assert_eq!(ts("2"), Some(1.1));
    assert_eq!(ts("3"), Some(-1500.0));
    assert_eq!(ts("4"), Some(12345678901234567890.0));
}

#[test]
fn metrics_may_have_several_timestamped_points() {
    let set = ok_eof(concat!(
        "# TYPE foo_seconds summary\n",
        "# UNIT foo_seconds seconds\n",
        "foo_seconds_count{a=\"bb\"} 0 123\n",
        "foo_seconds_sum{a=\"bb\"} 0 123\n",
        "foo_seconds_count{a=\"bb\"} 0 456\n",
        "foo_seconds_sum{a=\"bb\"} 0 456\n",
        "foo_seconds_count{a=\"ccc\"} 0 123\n",
        "foo_seconds_sum{a=\"ccc\"} 0 123\n",
        "# TYPE g gauge\n",
        "g 1 0\n",
        "g 2 0\n",
        "g 3 1\n",
        "# TYPE h histogram\n",
        "h_bucket{le=\"+Inf\"} 1 10\n",
        "h_count 1 10\n",
        "h_sum 1 10\n",
        "h_bucket{le=\"+Inf\"} 2 20\n",
        "h_count 2 20\n",
        "h_sum 3 20\n",
    ));
    let foo = set.family("foo_seconds").unwrap();
    assert_eq!(foo.samples.len(), 6);
    // `find` returns the first of a Metric's points.
    assert_eq!(
        foo.find("foo_seconds_count", &[("a", "bb")])
            .unwrap()
            .timestamp,
        Some(123.0)
    );
    assert_eq!(set.family("g").unwrap().samples.len(), 3);
    assert_eq!(set.family("h").unwrap().samples.len(), 6);
}

#[test]
fn lookups() {
    let set = ok_eof("# TYPE a gauge\na{x=\"1\",y=\"2\"} 3\n");
    let a = set.family("a").unwrap();
    assert!(a.find("a", &[("y", "2"), ("x", "1")]).is_some());
    assert!(a.find("a", &[("x", "1")]).is_none());
    assert!(a.find("a", &[("x", "1"), ("y", "2"), ("z", "3")]).is_none());
    assert!(a.find("b", &[("x", "1"), ("y", "2")]).is_none());
    assert!(set.family("b").is_none());
    assert_eq!(OmType::GaugeHistogram.to_string(), "gaugehistogram");
}

// ---------------------------------------------------------------------------
// The body and its lines
// ---------------------------------------------------------------------------

#[test]
fn rejects_a_missing_or_misplaced_eof() {
    rejects("", 1, K::MissingEof);
    rejects("a 1\n", 2, K::MissingEof);
    rejects("a 1", 1, K::MissingEof);
    rejects("# EOF\n\n", 2, K::ContentAfterEof);
    rejects("a 1\n# EOF\na 2\n", 3, K::ContentAfterEof);
    rejects("# EOF\n# EOF\n", 2, K::ContentAfterEof);
    rejects("# EOF \n", 1, K::InvalidComment { found: s("# EOF ") });
    rejects(
        "a 1\n# EOFblah",
        2,
        K::InvalidComment {
            found: s("# EOFblah"),
        },
    );
    rejects("#EOF\n", 1, K::InvalidComment { found: s("#EOF") });
}

#[test]
fn rejects_blank_lines_carriage_returns_and_bom() {
    rejects("a 1\n\n# EOF\n", 2, K::BlankLine);
    rejects("\n# EOF\n", 1, K::BlankLine);
    rejects("a 1\r\n# EOF\n", 1, K::CarriageReturn);
    rejects("# EOF\r\n", 1, K::CarriageReturn);
    rejects("# TYPE a gauge\r\n# EOF\n", 1, K::CarriageReturn);
    rejects("# HELP a\r\n# EOF\n", 1, K::CarriageReturn);
    rejects("# UNIT a_s s\r\n# EOF\n", 1, K::CarriageReturn);
    rejects("a{x=\"1\"}\r 1\n# EOF\n", 1, K::CarriageReturn);
    rejects("a 1 2\r\n# EOF\n", 1, K::CarriageReturn);
    rejects("\u{feff}a 1\n# EOF\n", 1, K::ByteOrderMark);
    rejects("\u{feff}# EOF\n", 1, K::ByteOrderMark);
    rejects(" a 1\n# EOF\n", 1, K::LeadingWhitespace);
    rejects(" # HELP a meh\n# EOF\n", 1, K::LeadingWhitespace);
    rejects("\ta 1\n# EOF\n", 1, K::LeadingWhitespace);
}

#[test]
fn rejects_comments() {
    for line in [
        "# FOO a x",
        "#a_sum 0",
        "#",
        "# ",
        "#  HELP a x",
        "# help a x",
    ] {
        rejects(
            &format!("{line}\n# EOF\n"),
            1,
            K::InvalidComment { found: s(line) },
        );
    }
}

#[test]
fn rejects_invalid_utf8() {
    let e = parse_bytes(b"a 1\nb 2\nc{x=\"\xc3\"} 1\n# EOF\n").unwrap_err();
    assert_eq!((e.line, e.kind), (3, K::InvalidUtf8));
    assert_eq!(parse_bytes(b"a 1\n# EOF").unwrap().sample_count(), 1);
}

// ---------------------------------------------------------------------------
// Metadata
// ---------------------------------------------------------------------------

#[test]
fn rejects_malformed_metadata() {
    for keyword in ["HELP", "TYPE", "UNIT"] {
        rejects(
            &format!("# {keyword}\n# EOF\n"),
            1,
            K::MissingMetadataName { keyword },
        );
        rejects(
            &format!("# {keyword} \n# EOF\n"),
            1,
            K::MissingMetadataName { keyword },
        );
        rejects(
            &format!("# {keyword} a\n# EOF\n"),
            1,
            K::MissingMetadataValue {
                keyword,
                family: s("a"),
            },
        );
        rejects(
            &format!("# {keyword} a\t\n# EOF\n"),
            1,
            K::SeparatorNotSingleSpace,
        );
        rejects(
            &format!("# {keyword}  a x\n# EOF\n"),
            1,
            K::SeparatorNotSingleSpace,
        );
        rejects(
            &format!("# {keyword} 0a x\n# EOF\n"),
            1,
            K::InvalidMetricName { found: s("0a") },
        );
        rejects(
            &format!("# {keyword} a.b x\n# EOF\n"),
            1,
            K::InvalidMetricName { found: s("a.b") },
        );
    }
}

#[test]
fn rejects_unknown_types() {
    for found in ["untyped", "Gauge", "gauge ", "", "meh", "gauge histogram"] {
        rejects(
            &format!("# TYPE a {found}\n# EOF\n"),
            1,
            K::OmUnknownType {
                family: s("a"),
                found: s(found),
            },
        );
    }
    // All eight are known.
    for kind in [
        "counter",
        "gauge",
        "histogram",
        "gaugehistogram",
        "summary",
        "info",
        "stateset",
        "unknown",
    ] {
        let set = ok_eof(&format!("# TYPE a {kind}\n"));
        assert_eq!(set.families[0].kind.as_str(), kind);
    }
}

#[test]
fn rejects_repeated_or_late_metadata() {
    rejects_kind(
        "# HELP a x\n# HELP a x\n",
        K::DuplicateHelp { family: s("a") },
    );
    rejects_kind(
        "# HELP a \n# HELP a \n",
        K::DuplicateHelp { family: s("a") },
    );
    rejects_kind(
        "# TYPE a gauge\n# TYPE a gauge\n",
        K::DuplicateType { family: s("a") },
    );
    // A second TYPE, whatever it says.
    rejects_kind(
        "# TYPE a info\n# TYPE a counter\n",
        K::DuplicateType { family: s("a") },
    );
    rejects_kind(
        "# UNIT a_s s\n# UNIT a_s s\n",
        K::DuplicateUnit { family: s("a_s") },
    );
    rejects_kind(
        "# UNIT a \n# UNIT a \n",
        K::DuplicateUnit { family: s("a") },
    );
    rejects(
        "# HELP a x\na 1\n# TYPE a gauge\n# EOF\n",
        3,
        K::MetadataAfterSamples {
            keyword: "TYPE",
            family: s("a"),
        },
    );
    rejects(
        "# TYPE a gauge\na 1\n# HELP a gauge\n# EOF\n",
        3,
        K::MetadataAfterSamples {
            keyword: "HELP",
            family: s("a"),
        },
    );
    rejects(
        "# TYPE a_s gauge\na_s 1\n# UNIT a_s s\n# EOF\n",
        3,
        K::MetadataAfterSamples {
            keyword: "UNIT",
            family: s("a_s"),
        },
    );
}

#[test]
fn rejects_bad_units() {
    rejects_kind(
        "# UNIT a seconds\n",
        K::UnitNotSuffix {
            family: s("a"),
            unit: s("seconds"),
        },
    );
    rejects_kind(
        "# UNIT aseconds seconds\n",
        K::UnitNotSuffix {
            family: s("aseconds"),
            unit: s("seconds"),
        },
    );
    rejects_kind(
        "# UNIT a_seconds_total seconds\n",
        K::UnitNotSuffix {
            family: s("a_seconds_total"),
            unit: s("seconds"),
        },
    );
    rejects_kind(
        "# UNIT a_seconds seconds \n",
        K::InvalidUnit {
            family: s("a_seconds"),
            found: s("seconds "),
        },
    );
    rejects_kind(
        "# UNIT a_s é\n",
        K::InvalidUnit {
            family: s("a_s"),
            found: s("é"),
        },
    );
    rejects(
        "# TYPE x_u info\n# UNIT x_u u\n# EOF\n",
        2,
        K::UnitNotAllowed {
            family: s("x_u"),
            kind: "info",
        },
    );
    // Whichever comes first.
    rejects(
        "# UNIT x_u u\n# TYPE x_u stateset\n# EOF\n",
        2,
        K::UnitNotAllowed {
            family: s("x_u"),
            kind: "stateset",
        },
    );
}

#[test]
fn rejects_bad_help_text() {
    rejects_kind("# HELP a \\t\n", K::OmInvalidHelpEscape { found: 't' });
    rejects_kind("# HELP a \\foo\n", K::OmInvalidHelpEscape { found: 'f' });
    rejects_kind("# HELP a x\\\n", K::TrailingBackslash);
    rejects_kind("# HELP a \\\\\\\n", K::TrailingBackslash);
    rejects_kind("# HELP a say \"hi\"\n", K::UnescapedQuoteInHelp);
    rejects_kind("# HELP a \\\\\"\n", K::UnescapedQuoteInHelp);
}

#[test]
fn rejects_a_counter_named_with_total() {
    rejects(
        "# TYPE a_total counter\na_total_total 1\n# EOF\n",
        1,
        K::CounterNameWithTotal {
            family: s("a_total"),
        },
    );
    // Other types may end in _total.
    ok_eof("# TYPE a_total gauge\na_total 1\n");
}

#[test]
fn rejects_name_clashes_and_split_families() {
    rejects(
        "# TYPE a_created gauge\n# TYPE a counter\n# EOF\n",
        2,
        K::SampleNameClash {
            name: s("a_created"),
            family: s("a_created"),
        },
    );
    rejects(
        "# TYPE a counter\n# TYPE a_created gauge\n# EOF\n",
        2,
        K::SampleNameClash {
            name: s("a_created"),
            family: s("a"),
        },
    );
    rejects(
        "# TYPE a counter\n# HELP a_total x\n# EOF\n",
        2,
        K::SampleNameClash {
            name: s("a_total"),
            family: s("a"),
        },
    );
    rejects(
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\n# TYPE h_count gauge\n# EOF\n",
        3,
        K::SampleNameClash {
            name: s("h_count"),
            family: s("h"),
        },
    );
    rejects(
        "# TYPE a gauge\n# TYPE b gauge\n# HELP a x\n# EOF\n",
        3,
        K::NotContiguous {
            family: s("a"),
            interrupted_by: s("b"),
        },
    );
    rejects(
        "a 1\nb 1\na 2\n# EOF\n",
        3,
        K::NotContiguous {
            family: s("a"),
            interrupted_by: s("b"),
        },
    );
    rejects(
        "# TYPE a counter\na_total 1\nb 1\na_created 1\n# EOF\n",
        4,
        K::NotContiguous {
            family: s("a"),
            interrupted_by: s("b"),
        },
    );
    rejects(
        "# TYPE a summary\nquantile{quantile=\"0\"} 0\na_sum{a=\"1\"} 0\n# EOF\n",
        3,
        K::NotContiguous {
            family: s("a"),
            interrupted_by: s("quantile"),
        },
    );
}

// ---------------------------------------------------------------------------
// Sample syntax
// ---------------------------------------------------------------------------

#[test]
fn rejects_bad_metric_names() {
    for (line, found) in [
        ("0a 1", "0a"),
        ("a.b 1", "a.b"),
        ("a-b 1", "a-b"),
        ("é 1", "é"),
        ("{a=\"1\"} 1", ""),
    ] {
        rejects(
            &format!("{line}\n# EOF\n"),
            1,
            K::InvalidMetricName { found: s(found) },
        );
    }
}

#[test]
fn rejects_bad_separators() {
    rejects("a  1\n# EOF\n", 1, K::SeparatorNotSingleSpace);
    rejects("a\t1\n# EOF\n", 1, K::SeparatorNotSingleSpace);
    rejects("a{} \t1\n# EOF\n", 1, K::SeparatorNotSingleSpace);
    rejects("a{}\t1\n# EOF\n", 1, K::SeparatorNotSingleSpace);
    rejects("a 1  2\n# EOF\n", 1, K::SeparatorNotSingleSpace);
    rejects("a 1\t2\n# EOF\n", 1, K::SeparatorNotSingleSpace);
    rejects("a 1 \n# EOF\n", 1, K::TrailingWhitespace);
    rejects("a 1\t\n# EOF\n", 1, K::TrailingWhitespace);
    rejects("a 1 2 \n# EOF\n", 1, K::TrailingWhitespace);
    rejects("a{}1\n# EOF\n", 1, K::MissingSeparator);
    rejects("a\n# EOF\n", 1, K::MissingValue);
    rejects("a \n# EOF\n", 1, K::MissingValue);
    rejects("a{x=\"1\"}\n# EOF\n", 1, K::MissingValue);
    rejects("a{x=\"1\"} \n# EOF\n", 1, K::MissingValue);
}

#[test]
fn rejects_bad_label_sets() {
    let bad = |labels: &str, kind: ParseErrorKind| {
        rejects(&format!("a{labels} 1\n# EOF\n"), 1, kind);
    };
    bad("{ x=\"1\"}", K::BlankInLabelSet);
    bad("{x =\"1\"}", K::BlankInLabelSet);
    bad("{x= \"1\"}", K::BlankInLabelSet);
    bad("{x=\"1\" }", K::BlankInLabelSet);
    bad("{x=\"1\", y=\"2\"}", K::BlankInLabelSet);
    bad("{x=\"1\",}", K::EmptyLabel);
    bad("{x=\"1\",,y=\"2\"}", K::EmptyLabel);
    bad("{,}", K::EmptyLabel);
    bad("{,x=\"1\"}", K::EmptyLabel);
    bad("{1=\"1\"}", K::InvalidLabelName { found: s("1") });
    bad("{x.y=\"1\"}", K::InvalidLabelName { found: s("x.y") });
    bad("{é=\"1\"}", K::InvalidLabelName { found: s("é") });
    bad("{x=\"1\",x=\"2\"}", K::DuplicateLabelName { name: s("x") });
    bad("{__x=\"1\"}", K::ReservedLabelName { name: s("__x") });
    bad("{x}", K::ExpectedEquals { label: s("x") });
    bad("{x\"v\"}", K::ExpectedEquals { label: s("x") });
    bad("{x=1}", K::ExpectedQuote { label: s("x") });
    bad("{x='1'}", K::ExpectedQuote { label: s("x") });
    bad("{x=}", K::ExpectedQuote { label: s("x") });
    bad("{x=\"1\"y=\"2\"}", K::ExpectedLabelSeparator { found: 'y' });
    bad(
        "{x=\"\\z\"}",
        K::InvalidLabelEscape {
            label: s("x"),
            found: 'z',
        },
    );
    bad(
        "{x=\"\\t\"}",
        K::InvalidLabelEscape {
            label: s("x"),
            found: 't',
        },
    );
    rejects(
        "a{x=\"1} 1\n# EOF\n",
        1,
        K::UnterminatedLabelValue { label: s("x") },
    );
    rejects(
        "a{x=\"1\\\n# EOF\n",
        1,
        K::UnterminatedLabelValue { label: s("x") },
    );
    rejects("a{x=\"1\"\n# EOF\n", 1, K::UnterminatedLabelSet);
    rejects("a{\n# EOF\n", 1, K::UnterminatedLabelSet);
    rejects("a{x\n# EOF\n", 1, K::UnterminatedLabelSet);
    // Long label sets are checked for duplicates too.
    let mut long: Vec<String> = (0..40).map(|i| format!("l{i}=\"v\"")).collect();
    long.push(s("l7=\"w\""));
    bad(
        &format!("{{{}}}", long.join(",")),
        K::DuplicateLabelName { name: s("l7") },
    );
    // Underscore-prefixed label names other than `__` are allowed.
    ok_eof("a{_x=\"1\"} 1\n");
}

#[test]
fn rejects_bad_values_and_timestamps() {
    for value in [
        "a", "0x1", "0X1", "0x1p-3", "0b1", "0o1", "1_2", "+NaN", "-nan", "1.1.1", "1#",
    ] {
        rejects(
            &format!("a {value}\n# EOF\n"),
            1,
            K::InvalidValue { found: s(value) },
        );
    }
    rejects(
        "a 1e400\n# EOF\n",
        1,
        K::ValueOutOfRange { found: s("1e400") },
    );
    for ts in [
        "z", "1z", "1_2", "1.1.1", "NaN", "Inf", "-Inf", "+Inf", "0x1p-3", "1e400",
    ] {
        rejects(
            &format!("a 1 {ts}\n# EOF\n"),
            1,
            K::OmInvalidTimestamp { found: s(ts) },
        );
    }
    rejects("a 1 1 x\n# EOF\n", 1, K::TrailingContent { found: s("x") });
}

// ---------------------------------------------------------------------------
// Families and their types
// ---------------------------------------------------------------------------

#[test]
fn rejects_sample_names_the_type_does_not_have() {
    for (kind, sample) in [
        ("counter", "a"),
        ("histogram", "a"),
        ("gaugehistogram", "a"),
        ("info", "a"),
    ] {
        rejects(
            &format!("# TYPE a {kind}\n{sample} 1\n# EOF\n"),
            2,
            K::InvalidSampleName {
                name: s(sample),
                family: s("a"),
                kind: OmType::from_token(kind).map_or("", |k| k.as_str()),
            },
        );
    }
}

#[test]
fn rejects_bad_counter_values() {
    for value in ["NaN", "-1", "-Inf"] {
        let v: f64 = lexer::parse_number(value).unwrap();
        let e = fail(&format!("# TYPE a counter\na_total {value}\n# EOF\n"));
        assert_eq!(e.line, 2);
        match e.kind {
            K::InvalidCounterLikeValue { name, value } => {
                assert_eq!(name, "a_total");
                assert_eq!(value.to_bits(), v.to_bits());
            }
            other => panic!("{other:?}"),
        }
    }
    // `_created` is a timestamp, any number; +Inf is a valid total.
    ok_eof("# TYPE a counter\na_total +Inf\na_created -1\n");
}

#[test]
fn rejects_counter_points_without_total() {
    rejects(
        "# TYPE a counter\na_created 1\n# EOF\n",
        2,
        K::MissingCounterTotal { series: s("a") },
    );
    rejects(
        "# TYPE a counter\na_total{x=\"1\"} 1\na_created{x=\"2\"} 1\nb 1\n# EOF\n",
        3,
        K::MissingCounterTotal {
            series: s("a{x=\"2\"}"),
        },
    );
    // A counter family without samples is fine.
    ok_eof("# TYPE a counter\n");
}

#[test]
fn rejects_bad_histogram_samples() {
    let h = |lines: &str| format!("# TYPE h histogram\n{lines}# EOF\n");
    rejects(
        &h("h_bucket 0\n"),
        2,
        K::MissingLe {
            name: s("h_bucket"),
        },
    );
    for le in ["x", "NaN", "Inf", "+inf", "inf", "", " 1", "1_0"] {
        rejects(
            &h(&format!("h_bucket{{le=\"{le}\"}} 0\n")),
            2,
            K::InvalidLe { found: s(le) },
        );
    }
    rejects(
        &h("h_bucket{le=\"+Inf\"} 1.5\n"),
        2,
        K::NonIntegerCount {
            name: s("h_bucket"),
            value: 1.5,
        },
    );
    rejects(
        &h("h_bucket{le=\"+Inf\"} +Inf\n"),
        2,
        K::NonIntegerCount {
            name: s("h_bucket"),
            value: f64::INFINITY,
        },
    );
    rejects(
        &h("h_bucket{le=\"+Inf\"} -1\n"),
        2,
        K::InvalidCounterLikeValue {
            name: s("h_bucket"),
            value: -1.0,
        },
    );
    rejects(
        &h("h_bucket{le=\"+Inf\"} 1\nh_count 1.5\nh_sum 1\n"),
        3,
        K::NonIntegerCount {
            name: s("h_count"),
            value: 1.5,
        },
    );
    rejects(
        &h("h_bucket{le=\"+Inf\"} 1\nh_count 1\nh_sum -1\n"),
        4,
        K::InvalidCounterLikeValue {
            name: s("h_sum"),
            value: -1.0,
        },
    );
    assert!(matches!(
        fail(&h("h_bucket{le=\"+Inf\"} 1\nh_count 1\nh_sum NaN\n")).kind,
        K::InvalidCounterLikeValue { .. }
    ));
    rejects(
        &h("h_bucket{le=\"+Inf\"} 1\nh_count{le=\"1\"} 1\n"),
        3,
        K::LeOutsideBucket { name: s("h_count") },
    );
    rejects(
        &h("h_created{le=\"1\"} 1\n"),
        2,
        K::LeOutsideBucket {
            name: s("h_created"),
        },
    );
}

#[test]
fn rejects_inconsistent_histograms() {
    let h = |lines: &str| format!("# TYPE h histogram\n{lines}# EOF\n");
    rejects(
        &h("h_bucket{le=\"2\"} 0\nh_bucket{le=\"1\"} 0\nh_bucket{le=\"+Inf\"} 0\n"),
        3,
        K::BucketsNotIncreasing {
            series: s("h_bucket"),
            previous: 2.0,
            le: 1.0,
        },
    );
    rejects(
        &h("h_bucket{le=\"1\"} 0\nh_bucket{le=\"1.0\"} 0\n"),
        3,
        K::BucketsNotIncreasing {
            series: s("h_bucket"),
            previous: 1.0,
            le: 1.0,
        },
    );
    rejects(
        &h("h_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n"),
        3,
        K::BucketCountDecreasing {
            series: s("h_bucket"),
            le: f64::INFINITY,
            previous: 2.0,
            count: 1.0,
        },
    );
    rejects(
        &h("h_bucket{x=\"1\",le=\"1\"} 0\n"),
        2,
        K::MissingInfBucket {
            series: s("h{x=\"1\"}"),
        },
    );
    rejects(&h("h_sum 1\n"), 2, K::MissingInfBucket { series: s("h") });
    rejects(
        &h("h_bucket{le=\"+Inf\"} 0\nh_sum 0\n"),
        3,
        K::UnpairedCountSum {
            series: s("h"),
            present: "_sum",
            missing: "_count",
        },
    );
    rejects(
        &h("h_bucket{le=\"+Inf\"} 0\nh_count 0\n"),
        3,
        K::UnpairedCountSum {
            series: s("h"),
            present: "_count",
            missing: "_sum",
        },
    );
    rejects(
        &h("h_bucket{le=\"+Inf\"} 0\nh_count 1\nh_sum 0\n"),
        3,
        K::CountMismatch {
            series: s("h"),
            count: 1.0,
            inf_bucket: 0.0,
        },
    );
    rejects(
        &h("h_bucket{le=\"-1\"} 0\nh_bucket{le=\"+Inf\"} 0\nh_count 0\nh_sum 0\n"),
        5,
        K::SumWithNegativeBuckets { series: s("h") },
    );
    // Negative buckets without _sum and _count are fine, and so are
    // buckets written any way but +Inf.
    ok(&h(concat!(
        "h_bucket{le=\"-Inf\"} 0\n",
        "h_bucket{le=\"-1.0\"} 0\n",
        "h_bucket{le=\"0\"} 1\n",
        "h_bucket{le=\"1.1e-4\"} 1\n",
        "h_bucket{le=\"0.00012\"} 1\n",
        "h_bucket{le=\"1e+05\"} 3\n",
        "h_bucket{le=\"+Inf\"} 3\n",
    )));
    // Each label set is its own histogram.
    rejects(
        &h(concat!(
            "h_bucket{a=\"1\",le=\"+Inf\"} 1\n",
            "h_count{a=\"1\"} 1\n",
            "h_sum{a=\"1\"} 1\n",
            "h_bucket{a=\"2\",le=\"1\"} 1\n",
            "h_count{a=\"2\"} 1\n",
            "h_sum{a=\"2\"} 1\n",
        )),
        5,
        K::MissingInfBucket {
            series: s("h{a=\"2\"}"),
        },
    );
}

#[test]
fn rejects_inconsistent_gauge_histograms() {
    let g = |lines: &str| format!("# TYPE g gaugehistogram\n{lines}# EOF\n");
    rejects(
        &g("g_bucket{le=\"+Inf\"} 1\ng_gcount 1\ng_gsum -1\n"),
        4,
        K::InvalidGsum {
            name: s("g_gsum"),
            value: -1.0,
        },
    );
    assert!(matches!(
        fail(&g("g_bucket{le=\"+Inf\"} 1\ng_gcount 1\ng_gsum NaN\n")).kind,
        K::InvalidGsum { .. }
    ));
    rejects(
        &g("g_bucket{le=\"+Inf\"} 1\ng_gcount -1\ng_gsum 1\n"),
        3,
        K::InvalidCounterLikeValue {
            name: s("g_gcount"),
            value: -1.0,
        },
    );
    rejects(
        &g("g_bucket{le=\"+Inf\"} 1\ng_gcount 1\n"),
        3,
        K::UnpairedCountSum {
            series: s("g"),
            present: "_gcount",
            missing: "_gsum",
        },
    );
    rejects(
        &g("g_bucket{le=\"+Inf\"} 1\ng_gsum 1\n"),
        3,
        K::UnpairedCountSum {
            series: s("g"),
            present: "_gsum",
            missing: "_gcount",
        },
    );
    rejects(
        &g("g_bucket{le=\"+Inf\"} 1\ng_gcount 2\ng_gsum 1\n"),
        3,
        K::CountMismatch {
            series: s("g"),
            count: 2.0,
            inf_bucket: 1.0,
        },
    );
    rejects(&g("g_gsum 1\n"), 2, K::MissingInfBucket { series: s("g") });
    rejects(
        &g("g_bucket{le=\"+Inf\"} 1\ng_gsum{le=\"1\"} 1\n"),
        3,
        K::LeOutsideBucket { name: s("g_gsum") },
    );
    // With a negative bucket, _gsum may be negative.
    ok(&g(concat!(
        "g_bucket{le=\"-1.0\"} 1\n",
        "g_bucket{le=\"1.0\"} 2\n",
        "g_bucket{le=\"+Inf\"} 3\n",
        "g_gcount 3\n",
        "g_gsum -5\n",
    )));
}

#[test]
fn rejects_bad_summaries() {
    let q = |lines: &str| format!("# TYPE s summary\n{lines}# EOF\n");
    rejects(&q("s 0\n"), 2, K::MissingQuantile { name: s("s") });
    for found in ["-1", "1.01", "NaN", "foo", "+Inf", ""] {
        rejects(
            &q(&format!("s{{quantile=\"{found}\"}} 0\n")),
            2,
            K::InvalidQuantile { found: s(found) },
        );
    }
    rejects(
        &q("s{quantile=\"0.5\"} -1\n"),
        2,
        K::NegativeQuantileValue {
            name: s("s"),
            value: -1.0,
        },
    );
    rejects(
        &q("s_count{quantile=\"0.5\"} 1\n"),
        2,
        K::UnexpectedQuantile { name: s("s_count") },
    );
    rejects(
        &q("s_count 1.5\n"),
        2,
        K::NonIntegerCount {
            name: s("s_count"),
            value: 1.5,
        },
    );
    rejects(
        &q("s_sum -1\n"),
        2,
        K::InvalidCounterLikeValue {
            name: s("s_sum"),
            value: -1.0,
        },
    );
    // Quantiles in any order, NaN when there were no observations, a `le`
    // label is a summary's own business.
    ok(&q(concat!(
        "s_count{le=\"x\"} 1\n",
        "s_sum{le=\"x\"} 2\n",
        "s{le=\"x\",quantile=\"1\"} 0.8\n",
        "s{le=\"x\",quantile=\"0.5\"} NaN\n",
        "s{le=\"x\",quantile=\"0\"} 0\n",
    )));
}

#[test]
fn rejects_bad_info_and_stateset_samples() {
    rejects(
        "# TYPE i info\ni_info{foo=\"bar\"} 2\n# EOF\n",
        2,
        K::InvalidInfoValue {
            name: s("i_info"),
            value: 2.0,
        },
    );
    rejects(
        "# TYPE st stateset\nst{other=\"x\"} 1\n# EOF\n",
        2,
        K::MissingStateLabel {
            name: s("st"),
            family: s("st"),
        },
    );
    for value in ["2", "0.5", "-1", "NaN"] {
        let e = fail(&format!(
            "# TYPE st stateset\nst{{st=\"a\"}} {value}\n# EOF\n"
        ));
        assert!(
            matches!(e.kind, K::InvalidStateValue { .. }),
            "{value}: {e}"
        );
    }
}

#[test]
fn rejects_misplaced_exemplars() {
    for (lines, name, kind) in [
        ("# TYPE a gauge\na 1 # {a=\"b\"} 1\n", "a", "gauge"),
        ("a 1 # {} 1\n", "a", "unknown"),
        ("# TYPE a info\na_info 1 # {a=\"b\"} 1\n", "a_info", "info"),
        (
            "# TYPE a stateset\na{a=\"b\"} 1 # {c=\"d\"} 1\n",
            "a",
            "stateset",
        ),
        (
            "# TYPE a histogram\na_sum 1 # {a=\"b\"} 0.5\n",
            "a_sum",
            "histogram",
        ),
        (
            "# TYPE a gaugehistogram\na_gsum 1 # {a=\"b\"} 0.5\n",
            "a_gsum",
            "gaugehistogram",
        ),
        (
            "# TYPE a counter\na_created 1 # {a=\"b\"} 0.5\n",
            "a_created",
            "counter",
        ),
        (
            "# TYPE a summary\na_count 1 # {a=\"b\"} 0.5\n",
            "a_count",
            "summary",
        ),
    ] {
        rejects_kind(
            lines,
            K::ExemplarNotAllowed {
                name: s(name),
                kind,
            },
        );
    }
    rejects_kind(
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1 # {} 1.5\nh_bucket{le=\"+Inf\"} 1\n",
        K::ExemplarOutsideBucket {
            name: s("h_bucket"),
            le: 1.0,
            value: 1.5,
        },
    );
    assert!(matches!(
        fail("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1 # {} NaN\n# EOF\n").kind,
        K::ExemplarOutsideBucket { .. }
    ));
    // At its bound, and anywhere in +Inf.
    ok_eof("# TYPE h histogram\nh_bucket{le=\"1\"} 1 # {} 1\nh_bucket{le=\"+Inf\"} 1 # {} 1e300\n");
}

#[test]
fn rejects_malformed_exemplars() {
    let c = |tail: &str| format!("# TYPE a counter\na_total 1{tail}\n");
    let invalid = |tail: &str, found: &str| {
        rejects_kind(&c(tail), K::InvalidExemplar { found: s(found) });
    };
    invalid(" #", "#");
    invalid(" #{} 1", "#{} 1");
    invalid(" # {}1", "# {}1");
    invalid(" # {}", "# {}");
    invalid(" # {} ", "# {} ");
    invalid(" # {id=\"a\"}  ", "# {id=\"a\"}  ");
    invalid(" #  {} 1", "#  {} 1");
    invalid(" 1 # id=\"a\"} 1", "# id=\"a\"} 1");
    rejects_kind(
        &c(" 1 #id=\" # \"} 1"),
        K::InvalidExemplar {
            found: s("#id=\" # \"} 1"),
        },
    );
    rejects_kind(
        &c(" 1 id=\" # \"} 1"),
        K::TrailingContent {
            found: s("id=\" # \"} 1"),
        },
    );
    rejects_kind(&c("# {} 1"), K::InvalidValue { found: s("1#") });
    rejects_kind(&c("  # {} 1"), K::SeparatorNotSingleSpace);
    rejects_kind(&c(" # {}  1"), K::SeparatorNotSingleSpace);
    rejects_kind(&c(" # {}\t1"), K::SeparatorNotSingleSpace);
    rejects_kind(&c(" # {} 1 "), K::TrailingWhitespace);
    rejects_kind(&c(" # {} 1 1 "), K::TrailingWhitespace);
    rejects_kind(&c(" # {} 1 1 1"), K::TrailingContent { found: s("1") });
    rejects_kind(&c(" # {} x"), K::InvalidExemplarValue { found: s("x") });
    rejects_kind(
        &c(" # {} 0x1p-3"),
        K::InvalidExemplarValue { found: s("0x1p-3") },
    );
    for ts in ["NaN", "Inf", "-Inf", "0x1p-3"] {
        rejects_kind(
            &c(&format!(" # {{a=\"b\"}} 0.5 {ts}")),
            K::OmInvalidTimestamp { found: s(ts) },
        );
    }
    rejects_kind(
        &c(" # {x=\"1\",x=\"2\"} 1"),
        K::DuplicateLabelName { name: s("x") },
    );
    rejects_kind(
        &c(" # {__x=\"1\"} 1"),
        K::ReservedLabelName { name: s("__x") },
    );
    rejects_kind(&c(" # {x=\"1\"\r} 1"), K::CarriageReturn);
    rejects_kind(&c(" # {x=\"1\"} 1\r"), K::CarriageReturn);
}

// ---------------------------------------------------------------------------
// Metrics, points and timestamps
// ---------------------------------------------------------------------------

#[test]
fn rejects_interleaved_metrics() {
    rejects(
        "a{x=\"1\"} 1\na{x=\"2\"} 1\na{x=\"1\"} 2\n# EOF\n",
        3,
        K::MetricNotContiguous {
            series: s("a{x=\"1\"}"),
        },
    );
    rejects(
        concat!(
            "# TYPE a histogram\n",
            "a_sum{a=\"1\"} 0\n",
            "a_bucket{a=\"2\",le=\"+Inf\"} 0\n",
            "a_count{a=\"2\"} 0\n",
            "a_sum{a=\"2\"} 0\n",
            "a_bucket{a=\"1\",le=\"+Inf\"} 0\n",
            "# EOF\n",
        ),
        // Reported where that Metric's point began, when it ends.
        2,
        K::MissingInfBucket {
            series: s("a{a=\"1\"}"),
        },
    );
    rejects(
        concat!(
            "# TYPE a gaugehistogram\n",
            "a_bucket{a=\"1\",le=\"+Inf\"} 0\n",
            "a_bucket{a=\"2\",le=\"+Inf\"} 0\n",
            "a_gcount{a=\"1\"} 0\n",
            "# EOF\n",
        ),
        4,
        K::MetricNotContiguous {
            series: s("a{a=\"1\"}"),
        },
    );
    // The spec's example of interleaved Metrics.
    rejects(
        concat!(
            "# TYPE foo_seconds summary\n",
            "# UNIT foo_seconds seconds\n",
            "foo_seconds_count{a=\"bb\"} 0 123\n",
            "foo_seconds_count{a=\"ccc\"} 0 123\n",
            "foo_seconds_count{a=\"bb\"} 0 456\n",
            "foo_seconds_count{a=\"ccc\"} 0 456\n",
            "# EOF\n",
        ),
        5,
        K::MetricNotContiguous {
            series: s("foo_seconds{a=\"bb\"}"),
        },
    );
    // Label order does not make another Metric.
    rejects(
        "a{x=\"1\",y=\"1\"} 1\na{x=\"2\",y=\"1\"} 1\na{y=\"1\",x=\"1\"} 2\n# EOF\n",
        3,
        K::MetricNotContiguous {
            series: s("a{y=\"1\",x=\"1\"}"),
        },
    );
}

#[test]
fn rejects_bad_timestamps_within_a_metric() {
    rejects(
        "a 0 0\na 0\n# EOF\n",
        2,
        K::MixedTimestamps { series: s("a") },
    );
    rejects(
        "a 0\na 0 0\n# EOF\n",
        2,
        K::MixedTimestamps { series: s("a") },
    );
    rejects(
        "# TYPE c counter\nc_total 1 5\nc_created 0\n# EOF\n",
        3,
        K::MixedTimestamps { series: s("c") },
    );
    for (first, second) in [
        ("-1", "-2"),
        ("-1", "-1.1"),
        ("1", "-1"),
        ("1.1", "1"),
        ("1", "0"),
    ] {
        let e = fail(&format!("a 0 {first}\na 0 {second}\n# EOF\n"));
        assert_eq!(e.line, 2);
        assert!(
            matches!(e.kind, K::TimestampWentBackwards { .. }),
            "{first} {second}: {e}"
        );
    }
    // The spec's example of interleaved MetricPoints.
    rejects(
        concat!(
            "# TYPE foo_seconds summary\n",
            "foo_seconds_count{a=\"bb\"} 0 123\n",
            "foo_seconds_count{a=\"bb\"} 0 456\n",
            "foo_seconds_sum{a=\"bb\"} 0 123\n",
            "# EOF\n",
        ),
        4,
        K::TimestampWentBackwards {
            series: s("foo_seconds{a=\"bb\"}"),
            previous: 456.0,
            timestamp: 123.0,
        },
    );
    // Each MetricPoint is complete on its own.
    rejects(
        concat!(
            "# TYPE h histogram\n",
            "h_bucket{le=\"+Inf\"} 1 10\n",
            "h_bucket{le=\"1\"} 1 20\n",
            "# EOF\n",
        ),
        3,
        K::MissingInfBucket { series: s("h") },
    );
}

#[test]
fn rejects_duplicate_samples() {
    rejects(
        "a 1\na 2\n# EOF\n",
        2,
        K::DuplicateSeries { series: s("a") },
    );
    rejects(
        "a{x=\"1\",y=\"2\"} 1\na{y=\"2\",x=\"1\"} 1\n# EOF\n",
        2,
        K::DuplicateSeries {
            series: s("a{y=\"2\",x=\"1\"}"),
        },
    );
    rejects(
        "# TYPE c counter\nc_total 1\nc_created 1\nc_total 2\n# EOF\n",
        4,
        K::DuplicateSeries {
            series: s("c_total"),
        },
    );
    rejects(
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_bucket{le=\"+Inf\"} 1\n# EOF\n",
        3,
        K::DuplicateSeries {
            series: s("h_bucket{le=\"+Inf\"}"),
        },
    );
    rejects(
        "# TYPE i info\ni_info{a=\"1\"} 1\ni_info{a=\"1\"} 1\n# EOF\n",
        3,
        K::DuplicateSeries {
            series: s("i_info{a=\"1\"}"),
        },
    );
    rejects(
        "# TYPE st stateset\nst{st=\"a\"} 1\nst{st=\"a\"} 0\n# EOF\n",
        3,
        K::DuplicateSeries {
            series: s("st{st=\"a\"}"),
        },
    );
}

// ---------------------------------------------------------------------------
// Messages and robustness
// ---------------------------------------------------------------------------

#[test]
fn messages_name_the_problem_and_the_fix() {
    let message = |body: &str| fail(body).to_string();
    assert_eq!(
        message("# TYPE a counter\na 1\n# EOF\n"),
        "line 2: sample a does not belong to counter family a; its samples are named a_total, a_created"
    );
    assert_eq!(
        message("# TYPE a gauge\na_total 1\na 2\n# EOF\n"),
        "line 3: samples of a are not contiguous: the family reappears after a_total started; write each family's HELP, TYPE and samples as one block"
    );
    assert_eq!(
        message("a 1\n# EOF\n\n"),
        "line 3: text after the `# EOF` line; `# EOF` is the last line, remove what follows it"
    );
    assert_eq!(
        message("# HELP a \\t\n# EOF\n"),
        "line 1: invalid escape sequence \"\\t\" in HELP text; OpenMetrics allows only \\\\, \\\" and \\n, write \\\\ for a literal backslash"
    );
    assert_eq!(
        message("# TYPE a counter\na_total 1 # {} 1 1 1\n# EOF\n"),
        "line 2: unexpected text \"1\" after the timestamp; a sample line ends with its value or timestamp"
    );
    for body in [
        "# TYPE a summary\na_sum 1\n# EOF\n# x",
        "# TYPE a info\na 1\n# EOF\n",
        "# TYPE a stateset\na 1\n# EOF\n",
        "# TYPE a gaugehistogram\na 1\n# EOF\n",
        "# TYPE a histogram\n# TYPE a_bucket gauge\n# EOF\n",
    ] {
        let text = message(body);
        assert!(text.starts_with("line "), "{text}");
        assert!(text.contains("; "), "no fix in {text}");
    }
}

/// A body that exercises every part of a line, for the robustness tests.
const RICH: &str = concat!(
    "# TYPE h_seconds histogram\n",
    "# UNIT h_seconds seconds\n",
    "# HELP h_seconds A \\\"histogram\\\"\\n\\\\.\n",
    "h_seconds_bucket{p=\"a\\\\\\\"\\n\",le=\"0.5\"} 1 1.5 # {t=\"x\"} 0.25 1.25\n",
    "h_seconds_bucket{p=\"a\\\\\\\"\\n\",le=\"+Inf\"} 2 1.5\n",
    "h_seconds_count{p=\"a\\\\\\\"\\n\"} 2 1.5\n",
    "h_seconds_sum{p=\"a\\\\\\\"\\n\"} 0.75 1.5\n",
    "h_seconds_created{p=\"a\\\\\\\"\\n\"} 1.0 1.5\n",
    "# TYPE c counter\n",
    "c_total{☃=\"x\"} 1 # {} 1\n",
    "# TYPE s stateset\n",
    "s{s=\"on\"} 1\n",
    "# TYPE i info\n",
    "i_info{v=\"1\"} 1\n",
    "# TYPE q summary\n",
    "q{quantile=\"0.5\"} NaN\n",
    "g 1e-3\n",
    "# EOF\n",
);

#[test]
fn rich_body_parses() {
    // `☃` is no label name.
    let fixed = RICH.replace('☃', "snow");
    let set = ok(&fixed);
    assert_eq!(set.families.len(), 6);
    let h = set.family("h_seconds").unwrap();
    assert_eq!(h.help.as_deref(), Some("A \"histogram\"\n\\."));
    let bucket = h
        .find("h_seconds_bucket", &[("p", "a\\\"\n"), ("le", "0.5")])
        .unwrap();
    assert_eq!(bucket.timestamp, Some(1.5));
    assert_eq!(bucket.exemplar.as_ref().unwrap().timestamp, Some(1.25));
    assert!(parse(RICH).is_err());
}

#[test]
fn never_panics_on_truncations_and_mutations() {
    let body = RICH.replace('☃', "snow");
    let bytes = body.as_bytes();
    for end in 0..=bytes.len() {
        let prefix = bytes.get(..end).unwrap_or_default();
        let _ = parse_bytes(prefix);
        let mut with_eof = prefix.to_vec();
        with_eof.extend_from_slice(b"\n# EOF\n");
        let _ = parse_bytes(&with_eof);
    }
    let interesting = [
        b' ', b'\t', b'"', b'\\', b'{', b'}', b',', b'=', b'#', b'\n', b'\r', 0xff, 0xe2, b'a',
        b'0', b'.', b'-', b'+', b'e', b'_', 0,
    ];
    for i in 0..bytes.len() {
        for &b in &interesting {
            let mut mutated = bytes.to_vec();
            if let Some(slot) = mutated.get_mut(i) {
                *slot = b;
            }
            let _ = parse_bytes(&mutated);
            let mut inserted = bytes.to_vec();
            inserted.insert(i, b);
            let _ = parse_bytes(&inserted);
        }
    }
}
