//! The strict 0.0.4 parser (`telemeter::parse`): valid bodies parse into the
//! expected structure, and every error kind is triggered with its message.

use telemeter::parse::{
    parse, parse_bytes, Exposition, MetricType, ParseError, ParseErrorKind, ParsedFamily, Sample,
};

/// Parses a body that must be valid.
fn ok(body: &str) -> Exposition {
    match parse(body) {
        Ok(exposition) => exposition,
        Err(e) => panic!("expected {body:?} to parse, got: {e}"),
    }
}

/// Parses a body that must be rejected.
fn fail(body: &str) -> ParseError {
    match parse(body) {
        Ok(exposition) => panic!("expected {body:?} to be rejected, got {exposition:?}"),
        Err(e) => e,
    }
}

/// Asserts that `body` is rejected with exactly `message` (`line N: ...`).
#[track_caller]
fn rejects(body: &str, message: &str) {
    assert_eq!(fail(body).to_string(), message, "body: {body:?}");
}

fn sample(name: &str, labels: &[(&str, &str)], value: f64, timestamp_ms: Option<i64>) -> Sample {
    Sample {
        name: name.to_owned(),
        labels: labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        value,
        timestamp_ms,
    }
}

/// A complete valid histogram family named `h`, for tests that need one.
const HISTOGRAM: &str = "# TYPE h histogram\n\
                         h_bucket{le=\"1\"} 1\n\
                         h_bucket{le=\"+Inf\"} 2\n\
                         h_sum 3\n\
                         h_count 2\n";

// ---------------------------------------------------------------------------
// Valid bodies
// ---------------------------------------------------------------------------

/// The example from the Prometheus exposition-format documentation.
const DOCS_EXAMPLE: &str = r#"# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{method="post",code="400"}    3 1395066363000

# Escaping in label values:
msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",error="Cannot find file:\n\"FILE.TXT\""} 1.458255915e9

# Minimalistic line:
metric_without_timestamp_and_labels 12.47

# A weird metric from before the epoch:
something_weird{problem="division by zero"} +Inf -3982045

# A histogram, which has a pretty complex representation in the text format:
# HELP http_request_duration_seconds A histogram of the request duration.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.05"} 24054
http_request_duration_seconds_bucket{le="0.1"} 33444
http_request_duration_seconds_bucket{le="0.2"} 100392
http_request_duration_seconds_bucket{le="0.5"} 129389
http_request_duration_seconds_bucket{le="1"} 133988
http_request_duration_seconds_bucket{le="+Inf"} 144320
http_request_duration_seconds_sum 53423
http_request_duration_seconds_count 144320

# Finally a summary, which has a complex representation, too:
# HELP rpc_duration_seconds A summary of the RPC duration in seconds.
# TYPE rpc_duration_seconds summary
rpc_duration_seconds{quantile="0.01"} 3102
rpc_duration_seconds{quantile="0.05"} 3272
rpc_duration_seconds{quantile="0.5"} 4773
rpc_duration_seconds{quantile="0.9"} 9001
rpc_duration_seconds{quantile="0.99"} 76656
rpc_duration_seconds_sum 1.7560473e+07
rpc_duration_seconds_count 2693
"#;

#[test]
fn docs_example_parses_into_expected_structure() {
    let e = ok(DOCS_EXAMPLE);
    let names: Vec<&str> = e.families.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "http_requests_total",
            "msdos_file_access_time_seconds",
            "metric_without_timestamp_and_labels",
            "something_weird",
            "http_request_duration_seconds",
            "rpc_duration_seconds",
        ]
    );
    assert_eq!(e.sample_count(), 2 + 1 + 1 + 1 + 8 + 7);

    let requests = e.family("http_requests_total").unwrap();
    assert_eq!(
        requests,
        &ParsedFamily {
            name: "http_requests_total".into(),
            help: Some("The total number of HTTP requests.".into()),
            kind: MetricType::Counter,
            samples: vec![
                sample(
                    "http_requests_total",
                    &[("method", "post"), ("code", "200")],
                    1027.0,
                    Some(1395066363000)
                ),
                sample(
                    "http_requests_total",
                    &[("method", "post"), ("code", "400")],
                    3.0,
                    Some(1395066363000)
                ),
            ],
        }
    );

    let msdos = e.family("msdos_file_access_time_seconds").unwrap();
    assert_eq!(msdos.kind, MetricType::Untyped);
    assert_eq!(msdos.help, None);
    assert_eq!(
        msdos.samples,
        [sample(
            "msdos_file_access_time_seconds",
            &[
                ("path", r"C:\DIR\FILE.TXT"),
                ("error", "Cannot find file:\n\"FILE.TXT\"")
            ],
            1.458255915e9,
            None
        )]
    );

    let minimal = e.family("metric_without_timestamp_and_labels").unwrap();
    assert_eq!(
        minimal.samples,
        [sample(
            "metric_without_timestamp_and_labels",
            &[],
            12.47,
            None
        )]
    );

    let weird = e.family("something_weird").unwrap();
    assert_eq!(
        weird.samples,
        [sample(
            "something_weird",
            &[("problem", "division by zero")],
            f64::INFINITY,
            Some(-3982045)
        )]
    );

    let histogram = e.family("http_request_duration_seconds").unwrap();
    assert_eq!(histogram.kind, MetricType::Histogram);
    assert_eq!(
        histogram.help.as_deref(),
        Some("A histogram of the request duration.")
    );
    assert_eq!(histogram.samples.len(), 8);
    let inf = histogram
        .find("http_request_duration_seconds_bucket", &[("le", "+Inf")])
        .unwrap();
    assert_eq!(inf.value, 144320.0);
    let sum = histogram
        .find("http_request_duration_seconds_sum", &[])
        .unwrap();
    assert_eq!(sum.value, 53423.0);
    let count = histogram
        .find("http_request_duration_seconds_count", &[])
        .unwrap();
    assert_eq!(count.value, 144320.0);

    let summary = e.family("rpc_duration_seconds").unwrap();
    assert_eq!(summary.kind, MetricType::Summary);
    assert_eq!(
        summary
            .find("rpc_duration_seconds", &[("quantile", "0.99")])
            .unwrap()
            .value,
        76656.0
    );
    assert_eq!(
        summary.find("rpc_duration_seconds_sum", &[]).unwrap().value,
        1.7560473e7
    );
    assert_eq!(
        summary
            .find("rpc_duration_seconds_count", &[])
            .unwrap()
            .value,
        2693.0
    );
}

#[test]
fn empty_bodies_and_blank_lines() {
    assert_eq!(ok(""), Exposition::default());
    assert_eq!(ok("\n"), Exposition::default());
    assert_eq!(ok("\n\n  \n\t\n"), Exposition::default());
    let e = ok("\n\na 1\n\n\nb 2\n\n");
    assert_eq!(e.families.len(), 2);
    assert_eq!(e.sample_count(), 2);
}

#[test]
fn comments_are_ignored() {
    let e = ok("# just a comment\n#\n#   \n# HELPER is not HELP\n# TYPEs neither\na 1\n# trailing comment with \"quotes\" and \\ backslashes\n");
    assert_eq!(e.families.len(), 1);
    assert_eq!(e.families[0].help, None);
}

#[test]
fn help_and_type_keywords_tolerate_blanks_like_go() {
    let e = ok("#HELP a one\n#\tTYPE  a\tgauge\na 1\n");
    let a = e.family("a").unwrap();
    assert_eq!(a.help.as_deref(), Some("one"));
    assert_eq!(a.kind, MetricType::Gauge);
}

#[test]
fn leading_blanks_are_ignored() {
    let e = ok("  # HELP a x\n\t# TYPE a gauge\n   a 1\n");
    assert_eq!(e.family("a").unwrap().kind, MetricType::Gauge);
    assert_eq!(e.sample_count(), 1);
}

#[test]
fn all_metric_types() {
    for kind in [
        MetricType::Counter,
        MetricType::Gauge,
        MetricType::Histogram,
        MetricType::Summary,
        MetricType::Untyped,
    ] {
        let body = format!("# TYPE m {}\n", kind.as_str());
        let e = ok(&body);
        assert_eq!(e.family("m").unwrap().kind, kind);
        assert_eq!(kind.to_string(), kind.as_str());
    }
    assert_eq!(MetricType::Counter.as_str(), "counter");
    assert_eq!(MetricType::Gauge.as_str(), "gauge");
    assert_eq!(MetricType::Histogram.as_str(), "histogram");
    assert_eq!(MetricType::Summary.as_str(), "summary");
    assert_eq!(MetricType::Untyped.as_str(), "untyped");
}

#[test]
fn families_without_samples_are_kept() {
    let e = ok("# HELP a about a\n# TYPE b counter\n# HELP c\n");
    assert_eq!(e.families.len(), 3);
    assert_eq!(e.family("a").unwrap().help.as_deref(), Some("about a"));
    assert_eq!(e.family("a").unwrap().kind, MetricType::Untyped);
    assert_eq!(e.family("b").unwrap().help, None);
    assert_eq!(e.family("b").unwrap().kind, MetricType::Counter);
    assert_eq!(e.family("c").unwrap().help.as_deref(), Some(""));
    assert_eq!(e.sample_count(), 0);
}

#[test]
fn help_text_escapes_and_blanks() {
    let e = ok("# HELP a Back\\\\slash, new\\nline, \"quotes\" and 'ticks' stay.\n");
    assert_eq!(
        e.family("a").unwrap().help.as_deref(),
        Some("Back\\slash, new\nline, \"quotes\" and 'ticks' stay.")
    );
    // Blanks after the name are the separator (Go skips them all); blanks at
    // the end are text.
    let e = ok("# HELP a \t  text with trailing blanks  \n");
    assert_eq!(
        e.family("a").unwrap().help.as_deref(),
        Some("text with trailing blanks  ")
    );
    // Only blanks after the name: empty text.
    let e = ok("# HELP a   \n");
    assert_eq!(e.family("a").unwrap().help.as_deref(), Some(""));
    // An escaped backslash followed by n is a backslash and an n.
    let e = ok("# HELP a \\\\n\n");
    assert_eq!(e.family("a").unwrap().help.as_deref(), Some("\\n"));
    // Unicode and a raw carriage return (0.0.4 has no escape for it) are data.
    let e = ok("# HELP a Größe 📏 \u{0} cr\rhere\n");
    assert_eq!(
        e.family("a").unwrap().help.as_deref(),
        Some("Größe 📏 \u{0} cr\rhere")
    );
}

#[test]
fn label_value_escapes() {
    let e = ok(
        r#"a{bs="x\\y",q="say \"hi\"",nl="one\ntwo",all="\\\"\n",end="\\"} 1
"#,
    );
    let s = &e.family("a").unwrap().samples[0];
    assert_eq!(
        s.labels,
        [
            ("bs".to_owned(), "x\\y".to_owned()),
            ("q".to_owned(), "say \"hi\"".to_owned()),
            ("nl".to_owned(), "one\ntwo".to_owned()),
            ("all".to_owned(), "\\\"\n".to_owned()),
            ("end".to_owned(), "\\".to_owned()),
        ]
    );
    // `\\n` is an escaped backslash followed by `n`, not a newline.
    let e = ok("a{x=\"\\\\n\"} 1\n");
    assert_eq!(e.families[0].samples[0].labels[0].1, "\\n");
}

#[test]
fn unicode_label_values() {
    let values = [
        "日本語",
        "emoji 🦀🔥",
        "e\u{301}",
        "ñandú",
        "\u{0}nul",
        "tab\tand cr\r",
        "{},=#",
        "\u{10ffff}",
        "",
    ];
    let mut body = String::new();
    for (i, v) in values.iter().enumerate() {
        let escaped = v
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n");
        body.push_str(&format!("u{{i=\"{i}\",v=\"{escaped}\"}} {i}\n"));
    }
    let e = ok(&body);
    let family = e.family("u").unwrap();
    for (i, v) in values.iter().enumerate() {
        let index = i.to_string();
        let s = family
            .find("u", &[("v", v), ("i", index.as_str())])
            .unwrap_or_else(|| panic!("value {v:?} not found"));
        assert_eq!(s.value, i as f64);
    }
}

#[test]
fn label_set_forms() {
    let e = ok("a{} 1\nb{x=\"1\",} 2\nc{ x = \"1\" , y=\"2\" } 3\nd{x=\"1\"}\t4\n");
    assert_eq!(e.families[0].samples[0].labels, []);
    assert_eq!(e.families[1].samples[0].labels.len(), 1);
    assert_eq!(e.families[2].samples[0].labels.len(), 2);
    assert_eq!(e.families[3].samples[0].value, 4.0);
    assert!(e
        .family("c")
        .unwrap()
        .find("c", &[("y", "2"), ("x", "1")])
        .is_some());
}

#[test]
fn names_with_colons_and_underscores() {
    let e = ok("_a:b_c:1 1\n:x 2\nA_Z{_l1=\"v\"} 3\n");
    assert_eq!(e.families.len(), 3);
    assert_eq!(e.families[0].name, "_a:b_c:1");
    assert_eq!(e.families[2].samples[0].labels[0].0, "_l1");
}

#[test]
fn value_syntax() {
    let cases: &[(&str, f64)] = &[
        ("0", 0.0),
        ("-0", -0.0),
        ("+1", 1.0),
        ("1.5", 1.5),
        (".5", 0.5),
        ("5.", 5.0),
        ("1e3", 1000.0),
        ("1E-3", 0.001),
        ("-2.5e+2", -250.0),
        ("1e-400", 0.0),
        ("+Inf", f64::INFINITY),
        ("Inf", f64::INFINITY),
        ("inf", f64::INFINITY),
        ("-Inf", f64::NEG_INFINITY),
        ("+infinity", f64::INFINITY),
        ("-INFINITY", f64::NEG_INFINITY),
        ("0.1", 0.1),
        ("123456789012345678901234567890", 1.2345678901234568e29),
    ];
    for (text, want) in cases {
        let e = ok(&format!("v {text}\n"));
        let got = e.families[0].samples[0].value;
        assert_eq!(got, *want, "{text}");
        assert_eq!(got.is_sign_negative(), want.is_sign_negative(), "{text}");
    }
    for nan in ["NaN", "nan", "NAN"] {
        assert!(ok(&format!("v {nan}\n")).families[0].samples[0]
            .value
            .is_nan());
    }
}

#[test]
fn timestamps() {
    let e = ok("a 1 0\nb 1 -5\nc 1 +7\nd 1 9223372036854775807\ne 1\t\t-9223372036854775808\n");
    let ts: Vec<Option<i64>> = e
        .families
        .iter()
        .map(|f| f.samples[0].timestamp_ms)
        .collect();
    assert_eq!(
        ts,
        [Some(0), Some(-5), Some(7), Some(i64::MAX), Some(i64::MIN)]
    );
}

#[test]
fn runs_of_blanks_between_tokens() {
    let e = ok("a  \t 1 \t  2\na2{x=\"y\"}\t 3\n");
    assert_eq!(e.families[0].samples[0].value, 1.0);
    assert_eq!(e.families[0].samples[0].timestamp_ms, Some(2));
    assert_eq!(e.families[1].samples[0].value, 3.0);
}

#[test]
fn counters_allow_nan_and_infinity_but_gauges_may_be_negative() {
    let e = ok("# TYPE c counter\nc{x=\"a\"} NaN\nc{x=\"b\"} +Inf\nc{x=\"c\"} 0\nc{x=\"d\"} -0\n# TYPE g gauge\ng -3\n");
    assert_eq!(e.family("c").unwrap().samples.len(), 4);
    assert_eq!(e.family("g").unwrap().samples[0].value, -3.0);
}

#[test]
fn histogram_with_label_sets() {
    let body = "# HELP rpc_seconds RPC latency.\n\
                # TYPE rpc_seconds histogram\n\
                rpc_seconds_bucket{method=\"get\",le=\"0.1\"} 1\n\
                rpc_seconds_bucket{le=\"0.1\",method=\"put\"} 0\n\
                rpc_seconds_bucket{method=\"get\",le=\"1\"} 3\n\
                rpc_seconds_bucket{method=\"put\",le=\"1\"} 0\n\
                rpc_seconds_bucket{method=\"get\",le=\"+Inf\"} 3\n\
                rpc_seconds_bucket{method=\"put\",le=\"+Inf\"} 2\n\
                rpc_seconds_sum{method=\"get\"} 1.25\n\
                rpc_seconds_count{method=\"get\"} 3\n\
                rpc_seconds_sum{method=\"put\"} -4\n\
                rpc_seconds_count{method=\"put\"} 2\n\
                after 1\n";
    let e = ok(body);
    let h = e.family("rpc_seconds").unwrap();
    assert_eq!(h.kind, MetricType::Histogram);
    assert_eq!(h.samples.len(), 10);
    assert_eq!(
        h.find("rpc_seconds_bucket", &[("le", "+Inf"), ("method", "put")])
            .unwrap()
            .value,
        2.0
    );
    assert_eq!(e.family("after").unwrap().samples.len(), 1);
    assert!(e.family("rpc_seconds_bucket").is_none());
}

#[test]
fn histogram_edge_forms() {
    // Only a +Inf bucket; _count before the buckets; exponent-form bounds.
    ok("# TYPE h histogram\nh_count 0\nh_bucket{le=\"+Inf\"} 0\n");
    ok("# TYPE h histogram\nh_bucket{le=\"1e-3\"} 1\nh_bucket{le=\"1e+3\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n");
    // Negative bounds are fine while increasing.
    ok("# TYPE h histogram\nh_bucket{le=\"-1\"} 0\nh_bucket{le=\"0\"} 0\nh_bucket{le=\"Inf\"} 0\nh_count 0\n");
    // Empty histogram family (no samples at all) is fine.
    ok("# TYPE h histogram\n# TYPE g gauge\ng 1\n");
}

#[test]
fn summary_forms() {
    let e = ok("# TYPE s summary\ns{x=\"1\",quantile=\"0\"} 1\ns{quantile=\"1\",x=\"1\"} 2\ns_sum{x=\"1\"} 3\ns_count{x=\"1\"} 4\ns{x=\"2\",quantile=\"0.5\"} NaN\n");
    let s = e.family("s").unwrap();
    assert_eq!(s.kind, MetricType::Summary);
    assert_eq!(s.samples.len(), 5);
    // A summary with only _sum and _count is fine.
    ok("# TYPE s summary\ns_sum 0\ns_count 0\n");
}

#[test]
fn le_and_quantile_on_untyped_families_are_plain_labels() {
    let e = ok("x{le=\"not a float\"} 1\ny{quantile=\"7\"} 1\n");
    assert_eq!(e.families.len(), 2);
    // Histogram-looking untyped names are their own families.
    let e = ok("h_bucket{le=\"1\"} 1\nh_sum 1\nh_count 3\n");
    assert_eq!(e.families.len(), 3);
}

#[test]
fn find_is_exact_and_order_insensitive() {
    let e = ok("a{x=\"1\",y=\"2\"} 1\na{x=\"1\"} 2\na 3\n");
    let a = e.family("a").unwrap();
    assert_eq!(a.find("a", &[("y", "2"), ("x", "1")]).unwrap().value, 1.0);
    assert_eq!(a.find("a", &[("x", "1")]).unwrap().value, 2.0);
    assert_eq!(a.find("a", &[]).unwrap().value, 3.0);
    assert!(a.find("a", &[("x", "2")]).is_none());
    assert!(a.find("a", &[("x", "1"), ("y", "2"), ("z", "3")]).is_none());
    assert!(a.find("a", &[("x", "1"), ("x", "1")]).is_none());
    assert!(a.find("b", &[]).is_none());
}

#[test]
fn parse_bytes_agrees_with_parse() {
    let e = parse_bytes(DOCS_EXAMPLE.as_bytes()).unwrap();
    assert_eq!(e, parse(DOCS_EXAMPLE).unwrap());
    assert_eq!(parse_bytes(b"").unwrap(), Exposition::default());
    assert_eq!(parse_bytes(b"a 1").unwrap_err(), parse("a 1").unwrap_err());
}

#[test]
fn errors_are_std_errors_and_displayed_with_line() {
    let e = fail("a 1\nb\n");
    assert_eq!(e.line, 2);
    assert_eq!(e.kind, ParseErrorKind::MissingValue);
    let boxed: Box<dyn std::error::Error> = Box::new(e.clone());
    assert_eq!(boxed.to_string(), format!("line 2: {}", e.kind));
}

// ---------------------------------------------------------------------------
// Every error kind, with its message
// ---------------------------------------------------------------------------

#[test]
fn err_invalid_utf8() {
    let e = parse_bytes(b"a 1\nb{x=\"\xff\"} 2\n").unwrap_err();
    assert_eq!(e.line, 2);
    assert_eq!(e.kind, ParseErrorKind::InvalidUtf8);
    assert_eq!(
        e.to_string(),
        "line 2: body is not valid UTF-8; encode names, label values and HELP text as UTF-8"
    );
    // Truncated multi-byte sequence at the very end, and in HELP text.
    assert_eq!(parse_bytes(b"a 1\n\xe6\x97").unwrap_err().line, 2);
    assert_eq!(
        parse_bytes(b"# HELP a \xc3\x28\n").unwrap_err().kind,
        ParseErrorKind::InvalidUtf8
    );
    // Overlong encoding and surrogate halves are invalid UTF-8 too.
    assert_eq!(parse_bytes(b"\xc0\xaf 1\n").unwrap_err().line, 1);
    assert_eq!(
        parse_bytes(b"a{x=\"\xed\xa0\x80\"} 1\n").unwrap_err().line,
        1
    );
}

#[test]
fn err_missing_trailing_newline() {
    let message =
        "last line does not end with a newline; terminate every line, the last one too, with \\n";
    rejects("a 1", &format!("line 1: {message}"));
    rejects("a 1\nb 2", &format!("line 2: {message}"));
    rejects("a 1\n# comment", &format!("line 2: {message}"));
    rejects("a 1\n ", &format!("line 2: {message}"));
    assert_eq!(fail("a 1").kind, ParseErrorKind::MissingTrailingNewline);
}

#[test]
fn err_carriage_return() {
    let message =
        "carriage return (\\r) outside a label value or HELP text; end lines with \\n, not \\r\\n";
    for (body, line) in [
        ("a 1\r\n", 1),
        ("a 1 2\r\n", 1),
        ("a{x=\"y\"}\r 1\n", 1),
        ("a{x=\"y\"\r} 1\n", 1),
        ("a\r 1\n", 1),
        ("\r\n", 1),
        ("a 1\n# TYPE b counter\r\n", 2),
        ("# comment\r\n", 1),
        ("# HELP a\r\n", 1),
        ("a{x\r=\"y\"} 1\n", 1),
    ] {
        let e = fail(body);
        assert_eq!(e.kind, ParseErrorKind::CarriageReturn, "{body:?}");
        assert_eq!(e.to_string(), format!("line {line}: {message}"), "{body:?}");
    }
}

#[test]
fn err_invalid_metric_name() {
    rejects(
        "1a 1\n",
        "line 1: invalid metric name \"1a\"; metric names must match [a-zA-Z_:][a-zA-Z0-9_:]*",
    );
    rejects(
        "ok 1\na-b 1\n",
        "line 2: invalid metric name \"a-b\"; metric names must match [a-zA-Z_:][a-zA-Z0-9_:]*",
    );
    rejects(
        "{x=\"y\"} 1\n",
        "line 1: invalid metric name \"\"; metric names must match [a-zA-Z_:][a-zA-Z0-9_:]*",
    );
    rejects(
        "ünï 1\n",
        "line 1: invalid metric name \"ünï\"; metric names must match [a-zA-Z_:][a-zA-Z0-9_:]*",
    );
    rejects(
        "# HELP a.b text\n",
        "line 1: invalid metric name \"a.b\"; metric names must match [a-zA-Z_:][a-zA-Z0-9_:]*",
    );
    rejects(
        "# TYPE 9 counter\n",
        "line 1: invalid metric name \"9\"; metric names must match [a-zA-Z_:][a-zA-Z0-9_:]*",
    );
}

#[test]
fn err_missing_metadata_name() {
    rejects(
        "# HELP\n",
        "line 1: # HELP line without a metric name; write `# HELP <metric_name> ...`",
    );
    rejects(
        "a 1\n# TYPE  \t\n",
        "line 2: # TYPE line without a metric name; write `# TYPE <metric_name> ...`",
    );
}

#[test]
fn err_missing_type() {
    let message = "line 1: # TYPE line for a names no type; add one of counter, gauge, histogram, summary, untyped";
    rejects("# TYPE a\n", message);
    rejects("# TYPE a  \n", message);
}

#[test]
fn err_unknown_type() {
    rejects(
        "# TYPE a Counter\n",
        "line 1: unknown metric type \"Counter\" for a; use one of counter, gauge, histogram, summary, untyped (lowercase, nothing after it)",
    );
    rejects(
        "# TYPE a counter \n",
        "line 1: unknown metric type \"counter \" for a; use one of counter, gauge, histogram, summary, untyped (lowercase, nothing after it)",
    );
    assert_eq!(
        fail("# TYPE a gaugehistogram\n").kind,
        ParseErrorKind::UnknownType {
            family: "a".into(),
            found: "gaugehistogram".into()
        }
    );
    assert!(matches!(
        fail("# TYPE a info extra\n").kind,
        ParseErrorKind::UnknownType { .. }
    ));
}

#[test]
fn err_invalid_help_escape() {
    rejects(
        "# HELP a tab\\there\n",
        "line 1: invalid escape sequence \"\\t\" in HELP text; only \\\\ and \\n are allowed, write \\\\ for a literal backslash",
    );
    assert_eq!(
        fail("# HELP a \\\"quoted\\\"\n").kind,
        ParseErrorKind::InvalidHelpEscape { found: '"' }
    );
    assert_eq!(
        fail("# HELP a C:\\DIR\n").kind,
        ParseErrorKind::InvalidHelpEscape { found: 'D' }
    );
    assert_eq!(
        fail("# HELP a \\é\n").kind,
        ParseErrorKind::InvalidHelpEscape { found: 'é' }
    );
}

#[test]
fn err_trailing_backslash() {
    rejects(
        "# HELP a ends with \\\n",
        "line 1: HELP text ends with a lone backslash; write \\\\ for a literal backslash",
    );
    assert_eq!(
        fail("# HELP a \\\\\\\n").kind,
        ParseErrorKind::TrailingBackslash
    );
}

#[test]
fn err_duplicate_help() {
    rejects(
        "# HELP a one\n# HELP a two\n",
        "line 2: second # HELP line for a; give each family at most one HELP line",
    );
    rejects(
        "# HELP a one\n# TYPE a gauge\n# HELP a\n",
        "line 3: second # HELP line for a; give each family at most one HELP line",
    );
}

#[test]
fn err_duplicate_type() {
    rejects(
        "# TYPE a gauge\n# TYPE a gauge\n",
        "line 2: second # TYPE line for a; give each family at most one TYPE line",
    );
    rejects(
        "# TYPE a gauge\n# HELP a x\n# TYPE a counter\n",
        "line 3: second # TYPE line for a; give each family at most one TYPE line",
    );
}

#[test]
fn err_metadata_after_samples() {
    rejects(
        "a 1\n# HELP a late\n",
        "line 2: # HELP line for a after its samples; put HELP and TYPE before the family's first sample",
    );
    rejects(
        "# HELP a x\na 1\n# TYPE a gauge\n",
        "line 3: # TYPE line for a after its samples; put HELP and TYPE before the family's first sample",
    );
}

#[test]
fn err_not_contiguous() {
    rejects(
        "a 1\nb 1\na{x=\"y\"} 2\n",
        "line 3: samples of a are not contiguous: the family reappears after b started; write each family's HELP, TYPE and samples as one block",
    );
    // A histogram's series after another family started.
    let body = format!("{HISTOGRAM}g 1\nh_bucket{{x=\"1\",le=\"+Inf\"}} 1\n");
    assert_eq!(
        fail(&body).kind,
        ParseErrorKind::NotContiguous {
            family: "h".into(),
            interrupted_by: "g".into()
        }
    );
    // Metadata reopening a closed family, with or without samples.
    assert_eq!(
        fail("a 1\nb 1\n# HELP a x\n").kind,
        ParseErrorKind::NotContiguous {
            family: "a".into(),
            interrupted_by: "b".into()
        }
    );
    assert_eq!(
        fail("# TYPE a counter\n# TYPE b counter\na 1\n").kind,
        ParseErrorKind::NotContiguous {
            family: "a".into(),
            interrupted_by: "b".into()
        }
    );
    assert_eq!(fail("# TYPE s summary\ns_sum 1\nx 1\ns_count 1\n").line, 4);
}

#[test]
fn err_name_collision() {
    let body = format!("{HISTOGRAM}# TYPE h_count gauge\n");
    rejects(
        &body,
        "line 6: metric name h_count collides with the series of histogram/summary h; rename one of them",
    );
    assert_eq!(
        fail("h_sum 1\n# TYPE h summary\n").kind,
        ParseErrorKind::NameCollision {
            name: "h_sum".into(),
            family: "h".into()
        }
    );
    assert_eq!(fail("h_bucket{le=\"1\"} 1\n# TYPE h histogram\n").line, 2);
    // A summary has no _bucket series, so that name is free.
    ok("# TYPE s summary\ns_sum 1\ns_count 1\n# TYPE s_bucket gauge\ns_bucket 1\n");
}

#[test]
fn err_invalid_label_name() {
    rejects(
        "a{1x=\"y\"} 1\n",
        "line 1: invalid label name \"1x\"; label names must match [a-zA-Z_][a-zA-Z0-9_]*",
    );
    rejects(
        "a{x-y=\"z\"} 1\n",
        "line 1: invalid label name \"x-y\"; label names must match [a-zA-Z_][a-zA-Z0-9_]*",
    );
    rejects(
        "a{x:y=\"z\"} 1\n",
        "line 1: invalid label name \"x:y\"; label names must match [a-zA-Z_][a-zA-Z0-9_]*",
    );
    rejects(
        "a{,} 1\n",
        "line 1: invalid label name \"\"; label names must match [a-zA-Z_][a-zA-Z0-9_]*",
    );
    rejects(
        "a{x=\"1\",,} 1\n",
        "line 1: invalid label name \"\"; label names must match [a-zA-Z_][a-zA-Z0-9_]*",
    );
    assert_eq!(
        fail("a{\"x\"=\"y\"} 1\n").kind,
        ParseErrorKind::InvalidLabelName { found: "".into() }
    );
}

#[test]
fn err_reserved_label_name() {
    rejects(
        "a{__name__=\"b\"} 1\n",
        "line 1: label name \"__name__\" starts with \"__\", which is reserved for Prometheus; rename the label",
    );
    assert_eq!(
        fail("a{x=\"1\",__=\"2\"} 1\n").kind,
        ParseErrorKind::ReservedLabelName { name: "__".into() }
    );
    ok("a{_x=\"1\"} 1\n");
}

#[test]
fn err_duplicate_label_name() {
    rejects(
        "a{x=\"1\",x=\"1\"} 1\n",
        "line 1: label \"x\" appears twice in one sample; give each label name once",
    );
    // A long label set with the duplicate at the end.
    let mut labels: Vec<String> = (0..40).map(|i| format!("l{i}=\"v\"")).collect();
    labels.push("l7=\"w\"".into());
    let body = format!("a{{{}}} 1\n", labels.join(","));
    assert_eq!(
        fail(&body).kind,
        ParseErrorKind::DuplicateLabelName { name: "l7".into() }
    );
    // The same long label set without the duplicate is fine.
    labels.pop();
    ok(&format!("a{{{}}} 1\n", labels.join(",")));
}

#[test]
fn err_expected_equals() {
    rejects(
        "a{x} 1\n",
        "line 1: expected '=' after label name \"x\"; write labels as name=\"value\"",
    );
    assert_eq!(
        fail("a{x \"y\"} 1\n").kind,
        ParseErrorKind::ExpectedEquals { label: "x".into() }
    );
    assert_eq!(fail("a{x").kind, ParseErrorKind::MissingTrailingNewline);
    assert_eq!(
        fail("a{x\n").kind,
        ParseErrorKind::ExpectedEquals { label: "x".into() }
    );
}

#[test]
fn err_expected_quote() {
    rejects(
        "a{x=y} 1\n",
        "line 1: expected '\"' to open the value of label \"x\"; label values are double-quoted",
    );
    assert_eq!(
        fail("a{x='y'} 1\n").kind,
        ParseErrorKind::ExpectedQuote { label: "x".into() }
    );
    assert_eq!(
        fail("a{x=\n").kind,
        ParseErrorKind::ExpectedQuote { label: "x".into() }
    );
}

#[test]
fn err_invalid_label_escape() {
    rejects(
        "a{x=\"\\t\"} 1\n",
        "line 1: invalid escape sequence \"\\t\" in the value of label \"x\"; only \\\\, \\\" and \\n are allowed",
    );
    assert_eq!(
        fail("a{path=\"C:\\DIR\"} 1\n").kind,
        ParseErrorKind::InvalidLabelEscape {
            label: "path".into(),
            found: 'D'
        }
    );
    assert_eq!(
        fail("a{x=\"\\ü\"} 1\n").kind,
        ParseErrorKind::InvalidLabelEscape {
            label: "x".into(),
            found: 'ü'
        }
    );
}

#[test]
fn err_unterminated_label_value() {
    let message = "line 1: value of label \"x\" is not closed before the end of the line; close it with '\"' and escape newlines as \\n";
    rejects("a{x=\"y} 1\n", message);
    // A raw newline inside a value ends the line: the value is unterminated.
    rejects("a{x=\"one\ntwo\"} 1\n", message);
    // A backslash right before the end of the line.
    rejects("a{x=\"y\\\n", message);
    // An escaped quote does not close the value.
    rejects("a{x=\"y\\\"} 1\n", message);
}

#[test]
fn err_expected_label_separator() {
    rejects(
        "a{x=\"1\" y=\"2\"} 1\n",
        "line 1: expected ',' or '}' after a label value, found 'y'; separate labels with commas",
    );
    assert_eq!(
        fail("a{x=\"1\";y=\"2\"} 1\n").kind,
        ParseErrorKind::ExpectedLabelSeparator { found: ';' }
    );
    assert_eq!(
        fail("a{x=\"1\"é} 1\n").kind,
        ParseErrorKind::ExpectedLabelSeparator { found: 'é' }
    );
}

#[test]
fn err_unterminated_label_set() {
    let message = "line 1: label set is not closed before the end of the line; close it with '}'";
    rejects("a{\n", message);
    rejects("a{x=\"1\"\n", message);
    rejects("a{x=\"1\",\n", message);
    rejects("a{x=\"1\",  \n", message);
}

#[test]
fn err_missing_separator() {
    rejects(
        "a{x=\"1\"}2\n",
        "line 1: no space between the label set and the value; separate them with a space",
    );
    assert_eq!(fail("a{}+Inf\n").kind, ParseErrorKind::MissingSeparator);
}

#[test]
fn err_missing_value() {
    let message = "sample has no value; write `name{labels} value [timestamp]`";
    rejects("a\n", &format!("line 1: {message}"));
    rejects("a \n", &format!("line 1: {message}"));
    rejects("b 1\na{x=\"y\"}\n", &format!("line 2: {message}"));
    rejects("a{} \t\n", &format!("line 1: {message}"));
}

#[test]
fn err_invalid_value() {
    rejects(
        "a one\n",
        "line 1: invalid sample value \"one\"; use a float such as 1, -2.5, 1e3, +Inf, -Inf or NaN",
    );
    for bad in [
        "0x1p3",
        "0x10",
        "1_000",
        "+NaN",
        "-NaN",
        "1,5",
        "1e",
        ".",
        "--1",
        "Infinit",
        "inf1",
        "1.0.0",
        "∞",
        "{x=\"y\"}",
    ] {
        assert_eq!(
            fail(&format!("a {bad}\n")).kind,
            ParseErrorKind::InvalidValue { found: bad.into() },
            "{bad}"
        );
    }
    // A blank between the name and the label set makes the label set the value.
    assert!(matches!(
        fail("a {x=\"y\"} 1\n").kind,
        ParseErrorKind::InvalidValue { .. }
    ));
}

#[test]
fn err_value_out_of_range() {
    rejects(
        "a 1e999\n",
        "line 1: sample value \"1e999\" is out of range for a 64-bit float; write +Inf or -Inf for infinities",
    );
    assert_eq!(
        fail("a -1.8e308\n").kind,
        ParseErrorKind::ValueOutOfRange {
            found: "-1.8e308".into()
        }
    );
}

#[test]
fn err_invalid_timestamp() {
    rejects(
        "a 1 1.5\n",
        "line 1: invalid timestamp \"1.5\"; a timestamp is an integer number of milliseconds that fits in 64 bits",
    );
    for bad in [
        "9223372036854775808",
        "-9223372036854775809",
        "1e3",
        "abc",
        "+",
        "0x10",
        "1_000",
    ] {
        assert_eq!(
            fail(&format!("a 1 {bad}\n")).kind,
            ParseErrorKind::InvalidTimestamp { found: bad.into() },
            "{bad}"
        );
    }
}

#[test]
fn err_trailing_whitespace() {
    let message =
        "sample line ends with whitespace; remove the spaces or tabs at the end of the line";
    rejects("a 1 \n", &format!("line 1: {message}"));
    rejects("a 1\t\n", &format!("line 1: {message}"));
    rejects("a 1 2 \n", &format!("line 1: {message}"));
    rejects("a{x=\"y\"} 1 2\t \n", &format!("line 1: {message}"));
}

#[test]
fn err_trailing_content() {
    rejects(
        "a 1 2 3\n",
        "line 1: unexpected text \"3\" after the timestamp; a sample line ends with its value or timestamp",
    );
    assert_eq!(
        fail("a 1 2  # comment\n").kind,
        ParseErrorKind::TrailingContent {
            found: "# comment".into()
        }
    );
}

#[test]
fn err_duplicate_series() {
    rejects(
        "a{x=\"1\",y=\"2\"} 1\na{y=\"2\",x=\"1\"} 2\n",
        "line 2: duplicate series a{y=\"2\",x=\"1\"}; each name and label set may appear only once",
    );
    rejects(
        "a 1\na 1 5\n",
        "line 2: duplicate series a; each name and label set may appear only once",
    );
    // Escapes are resolved before comparing, and the message re-escapes.
    rejects(
        "a{x=\"\\n\"} 1\na{x=\"\\n\"} 1\n",
        "line 2: duplicate series a{x=\"\\n\"}; each name and label set may appear only once",
    );
    // Values that differ only by a separator do not collide.
    ok("a{x=\"1\",y=\"\"} 1\na{x=\"1,y=\"} 1\n");
    // Same le twice in one histogram series.
    let body = "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"1\"} 1\n";
    assert!(matches!(
        fail(body).kind,
        ParseErrorKind::DuplicateSeries { .. }
    ));
}

#[test]
fn err_negative_counter() {
    rejects(
        "# TYPE c counter\nc -1\n",
        "line 2: counter c has negative value -1; counters only go up, use a gauge for values that can fall",
    );
    assert_eq!(
        fail("# TYPE c counter\nc -Inf\n").kind,
        ParseErrorKind::NegativeCounter {
            name: "c".into(),
            value: f64::NEG_INFINITY
        }
    );
}

#[test]
fn err_invalid_histogram_sample() {
    rejects(
        "# TYPE h histogram\nh 1\n",
        "line 2: sample h in histogram h; histogram samples are named h_bucket, h_sum or h_count",
    );
}

#[test]
fn err_missing_le() {
    rejects(
        "# TYPE h histogram\nh_bucket 1\n",
        "line 2: histogram bucket h_bucket has no le label; add le=\"<upper bound>\"",
    );
    assert_eq!(
        fail("# TYPE h histogram\nh_bucket{x=\"1\"} 1\n").kind,
        ParseErrorKind::MissingLe {
            name: "h_bucket".into()
        }
    );
}

#[test]
fn err_invalid_le() {
    rejects(
        "# TYPE h histogram\nh_bucket{le=\"one\"} 1\n",
        "line 2: le label value \"one\" is not a float; write an upper bound such as \"0.5\" or \"+Inf\"",
    );
    for bad in ["NaN", "", " 1", "0x1p1", "1e999"] {
        assert_eq!(
            fail(&format!("# TYPE h histogram\nh_bucket{{le=\"{bad}\"}} 1\n")).kind,
            ParseErrorKind::InvalidLe { found: bad.into() },
            "{bad}"
        );
    }
}

#[test]
fn err_unexpected_le() {
    rejects(
        "# TYPE h histogram\nh_sum{le=\"1\"} 1\n",
        "line 2: le label on h_sum, which is not a histogram bucket (histogram family); le is reserved for histogram _bucket samples, rename the label",
    );
    assert_eq!(
        fail("# TYPE c counter\nc{le=\"1\"} 1\n").kind,
        ParseErrorKind::UnexpectedLe {
            name: "c".into(),
            kind: MetricType::Counter
        }
    );
    assert_eq!(
        fail("# TYPE g gauge\ng{le=\"+Inf\"} 1\n").kind,
        ParseErrorKind::UnexpectedLe {
            name: "g".into(),
            kind: MetricType::Gauge
        }
    );
    assert_eq!(fail("# TYPE h histogram\nh_count{le=\"+Inf\"} 1\n").line, 2);
}

#[test]
fn err_buckets_not_increasing() {
    rejects(
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"0.5\"} 1\n",
        "line 3: buckets of histogram h are not strictly increasing: le=0.5 follows le=1; write each bound once, in increasing order",
    );
    // Same bound written two ways.
    assert!(matches!(
        fail("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"1.0\"} 1\n").kind,
        ParseErrorKind::BucketsNotIncreasing { .. }
    ));
    // A bucket after +Inf.
    assert_eq!(
        fail("# TYPE h histogram\nh_bucket{x=\"a\",le=\"+Inf\"} 1\nh_bucket{x=\"a\",le=\"2\"} 1\n")
            .kind,
        ParseErrorKind::BucketsNotIncreasing {
            series: "h{x=\"a\"}".into(),
            previous: f64::INFINITY,
            le: 2.0
        }
    );
}

#[test]
fn err_bucket_count_decreasing() {
    rejects(
        "# TYPE h histogram\nh_bucket{le=\"1\"} 5\nh_bucket{le=\"2\"} 4\n",
        "line 3: bucket le=2 of histogram h has count 4, less than the previous bucket's 5; bucket counts are cumulative and must not decrease",
    );
}

#[test]
fn err_invalid_histogram_count() {
    rejects(
        "# TYPE h histogram\nh_bucket{le=\"1\"} -1\n",
        "line 2: histogram count h_bucket is -1; bucket and _count values must be non-negative numbers",
    );
    assert!(matches!(
        fail("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count NaN\n").kind,
        ParseErrorKind::InvalidHistogramCount { ref name, value } if name == "h_count" && value.is_nan()
    ));
}

#[test]
fn err_missing_inf_bucket() {
    rejects(
        "# TYPE h histogram\nh_bucket{x=\"a\",le=\"1\"} 1\nh_sum{x=\"a\"} 1\nh_count{x=\"a\"} 1\n",
        "line 2: histogram h{x=\"a\"} has no le=\"+Inf\" bucket; add one equal to its _count",
    );
    // Checked when the next family starts, too.
    assert_eq!(
        fail("# TYPE h histogram\nh_sum 1\nh_count 0\nnext 1\n").kind,
        ParseErrorKind::MissingInfBucket { series: "h".into() }
    );
}

#[test]
fn err_missing_histogram_count() {
    rejects(
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\n",
        "line 2: histogram h has no _count sample; add one equal to its +Inf bucket",
    );
    // Each label set needs its own _count.
    let body = "# TYPE h histogram\n\
                h_bucket{x=\"a\",le=\"+Inf\"} 1\nh_count{x=\"a\"} 1\n\
                h_bucket{x=\"b\",le=\"+Inf\"} 1\n";
    assert_eq!(
        fail(body).kind,
        ParseErrorKind::MissingHistogramCount {
            series: "h{x=\"b\"}".into()
        }
    );
}

#[test]
fn err_count_mismatch() {
    rejects(
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 3\nh_sum 1\nh_count 4\n",
        "line 4: histogram h has _count 4 but its +Inf bucket is 3; they must be equal",
    );
}

#[test]
fn err_missing_quantile() {
    rejects(
        "# TYPE s summary\ns 1\n",
        "line 2: summary sample s has no quantile label; add quantile=\"<0..1>\" or name it _sum/_count",
    );
}

#[test]
fn err_invalid_quantile() {
    rejects(
        "# TYPE s summary\ns{quantile=\"1.5\"} 1\n",
        "line 2: quantile label value \"1.5\" is not a float between 0 and 1; write a quantile such as \"0.99\"",
    );
    for bad in ["-0.1", "NaN", "x", "", "+Inf"] {
        assert_eq!(
            fail(&format!("# TYPE s summary\ns{{quantile=\"{bad}\"}} 1\n")).kind,
            ParseErrorKind::InvalidQuantile { found: bad.into() },
            "{bad}"
        );
    }
}

#[test]
fn err_unexpected_quantile() {
    rejects(
        "# TYPE s summary\ns_sum{quantile=\"0.5\"} 1\n",
        "line 2: quantile label on summary s_sum; only quantile samples carry quantile, remove it from _sum and _count",
    );
}

// ---------------------------------------------------------------------------
// Robustness
// ---------------------------------------------------------------------------

#[test]
fn every_prefix_of_a_valid_body_is_handled() {
    let body = DOCS_EXAMPLE.as_bytes();
    for end in 0..=body.len() {
        let prefix = &body[..end];
        match parse_bytes(prefix) {
            Ok(_) => assert!(end == 0 || prefix.ends_with(b"\n"), "prefix {end} accepted"),
            Err(e) => assert!(e.line >= 1),
        }
    }
}

#[test]
fn every_single_byte_corruption_is_handled() {
    let body = HISTOGRAM.as_bytes();
    for i in 0..body.len() {
        for replacement in [
            b'\0', b'\n', b'\r', b'\\', b'"', b'{', b'}', b' ', 0xff, b'-', b'e',
        ] {
            let mut mutated = body.to_vec();
            mutated[i] = replacement;
            let _ = parse_bytes(&mutated);
        }
    }
}

#[test]
fn huge_tokens_are_fine() {
    let long_name = "a".repeat(100_000);
    let long_value = "x".repeat(100_000);
    let e = ok(&format!("{long_name}{{l=\"{long_value}\"}} 1\n"));
    assert_eq!(e.families[0].samples[0].labels[0].1.len(), 100_000);
    let digits = "9".repeat(10_000);
    assert!(matches!(
        fail(&format!("a {digits}\n")).kind,
        ParseErrorKind::ValueOutOfRange { .. }
    ));
    assert!(matches!(
        fail(&format!("a 1 {digits}\n")).kind,
        ParseErrorKind::InvalidTimestamp { .. }
    ));
}
