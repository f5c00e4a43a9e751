//! Every format a Prometheus server asks for, against independent readers:
//! content negotiation over real `Accept` headers; OpenMetrics bodies
//! through the crate's OpenMetrics parser and the Python
//! `prometheus_client` package's; protobuf bodies through `protoc
//! --decode` against client_model's `metrics.proto`; the three formats of
//! one registry agreeing series by series; and a real Prometheus scraping
//! OpenMetrics (exemplars in `/api/v1/query_exemplars`) and protobuf.

#[path = "prom_support/mod.rs"]
mod prom_support;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use prom_support::{query, request, tool_or_skip, Prometheus};
use telemeter::server::{Exporter, ExporterHandle};
use telemeter::{Buckets, Format, Opts, Registry};

const PROMETHEUS_2_42: &str = "application/openmetrics-text;version=1.0.0,\
    application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
const PROMETHEUS_2_42_NATIVE: &str = "application/vnd.google.protobuf;\
    proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,\
    application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,\
    text/plain;version=0.0.4;q=0.3,*/*;q=0.1";

#[test]
fn accept_headers_choose_the_format_served() {
    let table: &[(Option<&str>, Format)] = &[
        (Some(PROMETHEUS_2_42), Format::OpenMetrics),
        (Some(PROMETHEUS_2_42_NATIVE), Format::Protobuf),
        // curl's default, a browser's, none.
        (Some("*/*"), Format::Text),
        (
            Some("text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"),
            Format::Text,
        ),
        (None, Format::Text),
        (Some(""), Format::Text),
        // q-values: the highest wins, q=0 refuses.
        (Some("text/plain;version=0.0.4;q=0.9,application/openmetrics-text;q=0.5"), Format::Text),
        (Some("application/openmetrics-text;version=1.0.0;q=0,text/plain"), Format::Text),
        (Some("application/openmetrics-text; version=1.0.0; q=1.0"), Format::OpenMetrics),
        (Some("application/openmetrics-text"), Format::OpenMetrics),
        (Some("APPLICATION/OpenMetrics-Text;Version=1.0.0"), Format::OpenMetrics),
        // Versions and parameters that name nothing we write.
        (Some("application/openmetrics-text;version=2.0.0"), Format::Text),
        (Some("text/plain;version=1.0.0"), Format::Text),
        (Some("application/vnd.google.protobuf"), Format::Text),
        (Some("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text"), Format::Text),
        // Garbage.
        (Some(";;;,,,"), Format::Text),
        (Some("application/openmetrics-text;q=abc"), Format::Text),
        (Some("application/openmetrics-text;q=2"), Format::Text),
        (Some("\u{0}\u{7f}é"), Format::Text),
        (Some("application/json"), Format::Text),
    ];
    for (accept, want) in table {
        assert_eq!(Format::negotiate(*accept, Format::ALL), *want, "{accept:?}");
    }
    // A source that writes only text gets text whatever is asked.
    assert_eq!(
        Format::negotiate(Some(PROMETHEUS_2_42_NATIVE), Format::TEXT_ONLY),
        Format::Text
    );
    assert_eq!(
        Format::negotiate(
            Some(PROMETHEUS_2_42_NATIVE),
            &[Format::Text, Format::OpenMetrics]
        ),
        Format::OpenMetrics
    );
}

/// A registry of every kind, hostile text, units, exemplars and an alias.
fn rich_registry(self_metrics: bool) -> Registry {
    let reg = Registry::builder().self_metrics(self_metrics).build();
    let c = reg
        .counter_family(
            Opts::new("http_requests_total", "Requests \"served\"\nand \\ more.")
                .labels(&["method", "path"])
                .alias("legacy_requests_total"),
        )
        .unwrap();
    c.with_label_values(&["GET", "/a\"b\\c\nd"]).unwrap().add(7);
    c.with_label_values(&["POST", "é # {}"])
        .unwrap()
        .inc_with_exemplar(&[
            ("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"),
            ("span_id", "00f067aa0ba902b7"),
        ]);
    reg.counter("no_suffix", "A counter named without _total.")
        .unwrap()
        .add(2);
    let h = reg
        .histogram_family(
            Opts::new("rpc_duration_seconds", "RPC latency.")
                .labels(&["rpc"])
                .unit("seconds"),
            Buckets::new(vec![0.01, 0.1, 1.0]).unwrap(),
        )
        .unwrap();
    let get = h.with_label_values(&["get"]).unwrap();
    get.observe_with_exemplar(0.05, &[("trace_id", "aaa")]);
    get.observe_with_exemplar(5.0, &[("trace_id", "inf-bucket")]);
    get.observe(0.005);
    h.with_label_values(&["put"]).unwrap().observe(0.5);
    reg.gauge("temperature_celsius", "Room.").unwrap().set(-4);
    reg.float_gauge("ratio", "Ratio.").unwrap().set(0.25);
    reg.float_counter("cpu_seconds_total", "CPU.")
        .unwrap()
        .add(1.5);
    reg.gauge_fn("callback_value", "From a callback.", || 3.5)
        .unwrap();
    reg.info(
        "build",
        "Build \"facts\".",
        &[("version", "1.4.2"), ("commit", "9f3c2e1")],
    )
    .unwrap();
    reg.state_set_family(
        Opts::new("breaker_state", "Breakers.").labels(&["breaker"]),
        &["closed", "open"],
    )
    .unwrap()
    .with_label_values(&["nats"])
    .unwrap()
    .set("open")
    .unwrap();
    reg
}

fn python_or_skip() -> Option<PathBuf> {
    let python = std::env::var_os("TELEMETER_PY_OM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/pyv/bin/python"));
    let ok = Command::new(&python)
        .args(["-c", "import prometheus_client.openmetrics.parser"])
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return Some(python);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "no Python with prometheus_client at {python:?} under CI: .ci/run must make the venv and set TELEMETER_PY_OM"
    );
    eprintln!("SKIPPED: no Python with prometheus_client (set TELEMETER_PY_OM)");
    None
}

/// The Python parser's reading of an OpenMetrics body: one line per
/// sample, `name{sorted labels} value` and ` # {exemplar labels} value`.
fn python_samples(python: &PathBuf, body: &str) -> Result<Vec<String>, String> {
    const SCRIPT: &str = r#"
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families as p
for f in p(sys.stdin.read()):
    for s in f.samples:
        line = s.name + repr(sorted(s.labels.items())) + " " + repr(float(s.value))
        if s.exemplar is not None:
            line += " # " + repr(sorted(s.exemplar.labels.items())) + " " + repr(float(s.exemplar.value))
        print(f.name + "|" + f.type + "|" + (f.unit or "") + "|" + line)
"#;
    let mut child = Command::new(python)
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect())
}

#[test]
fn openmetrics_bodies_parse_with_both_parsers_with_exemplars_units_and_eof() {
    let reg = rich_registry(true);
    let body = reg.encode_openmetrics_to_string();
    assert!(body.ends_with("# EOF\n"), "{body}");
    assert_eq!(body.matches("# EOF").count(), 1);
    assert!(body.contains("# TYPE http_requests counter\n"), "{body}");
    assert!(
        body.contains("# TYPE no_suffix counter\nno_suffix_total 2\n"),
        "{body}"
    );
    assert!(
        body.contains("# UNIT rpc_duration_seconds seconds\n"),
        "{body}"
    );
    assert!(
        body.contains(r#"# HELP http_requests Requests \"served\"\nand \\ more."#),
        "{body}"
    );

    let parsed =
        telemeter::parse::openmetrics::parse(&body).unwrap_or_else(|e| panic!("{e}\n{body}"));
    let fam = parsed.family("http_requests").expect("the counter family");
    let post = fam
        .samples
        .iter()
        .find(|s| s.labels.iter().any(|(_, v)| v == "é # {}"))
        .expect("the POST series");
    assert_eq!(post.value, 1.0);
    let ex = post.exemplar.as_ref().expect("its exemplar");
    assert_eq!(
        ex.labels[0],
        ("trace_id".into(), "4bf92f3577b34da6a3ce929d0e0e4736".into())
    );
    assert_eq!(ex.value, 1.0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let ts = ex.timestamp.expect("an exemplar timestamp");
    assert!(
        (now - ts).abs() < 600.0,
        "exemplar timestamp {ts} vs now {now}"
    );
    let hist = parsed.family("rpc_duration_seconds").unwrap();
    assert_eq!(hist.unit.as_deref(), Some("seconds"));
    let inf = hist
        .samples
        .iter()
        .find(|s| {
            s.name == "rpc_duration_seconds_bucket"
                && s.labels.contains(&("rpc".into(), "get".into()))
                && s.labels.contains(&("le".into(), "+Inf".into()))
        })
        .unwrap();
    assert_eq!(inf.value, 3.0);
    assert_eq!(
        inf.exemplar.as_ref().unwrap().labels,
        [("trace_id".to_string(), "inf-bucket".to_string())]
    );

    let Some(python) = python_or_skip() else {
        return;
    };
    let lines =
        python_samples(&python, &body).unwrap_or_else(|e| panic!("python parser: {e}\n{body}"));
    let has = |needle: &str| lines.iter().any(|l| l.contains(needle));
    assert!(has("http_requests|counter||http_requests_total[('method', 'POST'), ('path', 'é # {}')] 1.0 # [('span_id', '00f067aa0ba902b7'), ('trace_id', '4bf92f3577b34da6a3ce929d0e0e4736')] 1.0"), "{lines:#?}");
    assert!(
        has("http_requests_total[('method', 'GET'), ('path', '/a\"b\\\\c\\nd')] 7.0"),
        "{lines:#?}"
    );
    assert!(has("rpc_duration_seconds|histogram|seconds|rpc_duration_seconds_bucket[('le', '0.1'), ('rpc', 'get')] 2.0 # [('trace_id', 'aaa')] 0.05"), "{lines:#?}");
    assert!(
        has("legacy_requests|counter||legacy_requests_total"),
        "{lines:#?}"
    );
    assert!(
        has("callback_value|gauge||callback_value[] 3.5"),
        "{lines:#?}"
    );
    assert!(
        has("build|info||build_info[('commit', '9f3c2e1'), ('version', '1.4.2')] 1.0"),
        "{lines:#?}"
    );
    assert_eq!(
        parsed.family("build").unwrap().kind,
        telemeter::parse::openmetrics::OmType::Info
    );
    // The two parsers read the same number of samples.
    let ours: usize = parsed.families.iter().map(|f| f.samples.len()).sum();
    assert_eq!(ours, lines.len());
    // And both refuse a body without its `# EOF`.
    let cut = body.trim_end_matches("# EOF\n");
    assert!(telemeter::parse::openmetrics::parse(cut).is_err());
    assert!(python_samples(&python, cut).is_err());
}

/// A protobuf body split into its delimited messages, each decoded by
/// `protoc --decode` into its text form.
fn protoc_decode(protoc: &PathBuf, body: &[u8]) -> Vec<String> {
    let proto_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/proto");
    let mut out = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let (mut len, mut shift, mut i) = (0usize, 0, 0);
        loop {
            let b = rest[i];
            i += 1;
            len |= usize::from(b & 0x7f) << shift;
            shift += 7;
            if b < 0x80 {
                break;
            }
        }
        let (msg, tail) = rest[i..].split_at(len);
        rest = tail;
        let mut child = Command::new(protoc)
            .args([
                "--decode=io.prometheus.client.MetricFamily",
                "-I",
                proto_dir,
                "metrics.proto",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(msg).unwrap();
        let o = child.wait_with_output().unwrap();
        assert!(
            o.status.success(),
            "protoc: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        out.push(String::from_utf8(o.stdout).unwrap());
    }
    out
}

/// Series values of a decoded family's text form: `name{labels}` →
/// value for counters and gauges, and `name_bucket{...,le}`, `_sum`,
/// `_count` for histograms, keyed as the text parser keys them.
fn protoc_values(decoded: &str, into: &mut BTreeMap<String, f64>) {
    let mut name = String::new();
    let mut labels: Vec<(String, String)> = Vec::new();
    let mut label_name = String::new();
    let mut bound = None;
    let mut path: Vec<String> = Vec::new();
    let key = |n: &str, ls: &[(String, String)], extra: Option<(&str, String)>| {
        let mut ls = ls.to_vec();
        if let Some((k, v)) = extra {
            ls.push((k.to_string(), v));
        }
        ls.sort();
        let inner: Vec<String> = ls.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
        format!("{n}{{{}}}", inner.join(","))
    };
    let unquote = |v: &str| -> String {
        let v = &v[1..v.len() - 1];
        let mut out = String::new();
        let mut chars = v.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some('n') => out.push('\n'),
                    Some(c) if c.is_ascii_digit() => {
                        // Octal escape of a UTF-8 byte: protoc prints non-ASCII so.
                        let mut s = String::from(c);
                        s.push(chars.next().unwrap());
                        s.push(chars.next().unwrap());
                        out.push(char::from(u8::from_str_radix(&s, 8).unwrap()));
                    }
                    Some(c) => out.push(c),
                    None => {}
                }
            } else {
                out.push(c);
            }
        }
        // Octal bytes were pushed as Latin-1 chars: reassemble UTF-8.
        let bytes: Vec<u8> = out.chars().map(|c| c as u32 as u8).collect();
        if out.chars().all(|c| (c as u32) < 256) {
            String::from_utf8(bytes).unwrap_or(out)
        } else {
            out
        }
    };
    for line in decoded.lines().map(str::trim) {
        if let Some(block) = line.strip_suffix(" {") {
            path.push(block.to_string());
            if block == "metric" {
                labels.clear();
            }
            continue;
        }
        if line == "}" {
            path.pop();
            continue;
        }
        let Some((k, v)) = line.split_once(": ") else {
            continue;
        };
        let top = path.last().map(String::as_str);
        let num = |v: &str| match v {
            "inf" => f64::INFINITY,
            "-inf" => f64::NEG_INFINITY,
            v => v.parse::<f64>().unwrap(),
        };
        match (path.len(), top, k) {
            (0, None, "name") => name = unquote(v),
            (2, Some("label"), "name") => label_name = unquote(v),
            (2, Some("label"), "value") => labels.push((label_name.clone(), unquote(v))),
            (2, Some("counter" | "gauge"), "value") => {
                into.insert(key(&name, &labels, None), num(v));
            }
            (2, Some("histogram"), "sample_count") => {
                into.insert(key(&format!("{name}_count"), &labels, None), num(v));
            }
            (2, Some("histogram"), "sample_sum") => {
                into.insert(key(&format!("{name}_sum"), &labels, None), num(v));
            }
            (3, Some("bucket"), "cumulative_count") => bound = Some(num(v)),
            (3, Some("bucket"), "upper_bound") => {
                let le = match num(v) {
                    f if f == f64::INFINITY => "+Inf".to_string(),
                    f => format!("{f}"),
                };
                let count = bound.take().unwrap_or(0.0);
                into.insert(
                    key(&format!("{name}_bucket"), &labels, Some(("le", le))),
                    count,
                );
            }
            _ => {}
        }
    }
}

/// The text body's values, keyed as [`protoc_values`] keys them.
fn text_values(body: &str) -> BTreeMap<String, f64> {
    let parsed = telemeter::parse::parse(body).unwrap();
    let mut out = BTreeMap::new();
    for f in &parsed.families {
        for s in &f.samples {
            let mut ls = s.labels.clone();
            ls.sort();
            let inner: Vec<String> = ls.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
            // The text form spells bounds as Prometheus does (0.1, 1, +Inf).
            let inner: Vec<String> = inner
                .into_iter()
                .map(|kv| match kv.strip_prefix("le=") {
                    Some(v) => {
                        let v: &str = &v[1..v.len() - 1];
                        let f: f64 = v.parse().unwrap();
                        if f.is_infinite() {
                            "le=\"+Inf\"".into()
                        } else {
                            format!("le=\"{f}\"")
                        }
                    }
                    None => kv,
                })
                .collect();
            out.insert(format!("{}{{{}}}", s.name, inner.join(",")), s.value);
        }
    }
    out
}

#[test]
fn protobuf_bodies_decode_with_protoc_and_equal_the_text_values() {
    let Some(protoc) = tool_or_skip("protoc", "protobuf-compiler") else {
        return;
    };
    // No self-metrics: the scrape's duration differs from encode to encode.
    let reg = rich_registry(false);
    let mut pb = Vec::new();
    reg.encode_format(&mut pb, Format::Protobuf);
    let decoded = protoc_decode(&protoc, &pb);
    let all = decoded.join("\n");
    // HELP unescaped, types and units, exemplars on counters and buckets.
    assert!(
        all.contains("help: \"Requests \\\"served\\\"\\nand \\\\ more.\""),
        "{all}"
    );
    assert!(
        all.contains("type: HISTOGRAM") && all.contains("unit: \"seconds\""),
        "{all}"
    );
    assert!(
        all.contains("value: \"4bf92f3577b34da6a3ce929d0e0e4736\""),
        "{all}"
    );
    assert!(all.contains("value: \"inf-bucket\""), "{all}");
    let mut from_pb = BTreeMap::new();
    for d in &decoded {
        protoc_values(d, &mut from_pb);
    }
    let text = reg.encode_to_string();
    assert_eq!(from_pb, text_values(&text), "protobuf vs text");
}

#[test]
fn an_exemplar_past_openmetrics_limits_is_refused_or_dropped_and_counted() {
    use telemeter::{Error, MAX_EXEMPLAR_CHARS};
    let reg = Registry::new();
    let c = reg.counter("jobs_total", "Jobs.").unwrap();
    let h = reg
        .histogram("job_seconds", "Jobs.", Buckets::new(vec![1.0]).unwrap())
        .unwrap();
    let fits = "x".repeat(MAX_EXEMPLAR_CHARS - "trace_id".len());
    let over = "x".repeat(MAX_EXEMPLAR_CHARS - "trace_id".len() + 1);
    c.try_add_with_exemplar(1, &[("trace_id", &fits)]).unwrap();
    let err = c
        .try_add_with_exemplar(1, &[("trace_id", &over)])
        .unwrap_err();
    assert!(matches!(err, Error::InvalidExemplar { .. }), "{err}");
    assert!(err.to_string().contains("129 characters"), "{err}");
    assert!(h
        .try_observe_with_exemplar(0.5, &[("bad-name", "x")])
        .is_err());
    assert_eq!(c.get(), 1, "a refused try_ form records nothing");
    assert_eq!(h.snapshot().count, 0);
    let dropped = |reg: &Registry| -> u64 {
        reg.encode_to_string()
            .lines()
            .find_map(|l| l.strip_prefix("telemeter_exemplars_dropped_total "))
            .unwrap()
            .parse()
            .unwrap()
    };
    let before = dropped(&reg);
    // The plain forms keep the count and drop the exemplar.
    c.add_with_exemplar(2, &[("trace_id", &over)]);
    h.observe_with_exemplar(0.5, &[("a", "1"), ("a", "2")]);
    assert_eq!(c.get(), 3);
    assert_eq!(h.snapshot().count, 1);
    assert!(dropped(&reg) >= before + 2);
    // The exemplar kept is the last valid one, and the body parses.
    let om = reg.encode_openmetrics_to_string();
    assert!(
        om.contains(&format!("jobs_total 3 # {{trace_id=\"{fits}\"}} 1 ")),
        "{om}"
    );
    telemeter::parse::openmetrics::parse(&om).unwrap();
}

#[test]
fn a_unit_the_name_does_not_end_with_is_refused() {
    use telemeter::Error;
    let reg = Registry::new();
    for (name, unit) in [
        ("latency", "seconds"),
        ("size_bytes_total", "seconds"),
        ("x_seconds", "sec onds"),
        ("seconds", "seconds"),
    ] {
        let err = reg
            .gauge_family(Opts::new(name, "X.").unit(unit))
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidUnit { .. }),
            "{name} {unit}: {err}"
        );
        assert!(err.to_string().contains("end"), "{err}");
    }
    let _kept = reg
        .counter_family(Opts::new("sent_bytes_total", "Sent.").unit("bytes"))
        .unwrap();
    let _kept1 = reg
        .gauge_family(Opts::new("temperature_celsius", "T.").unit("celsius"))
        .unwrap();
    // An alias must end with the unit too.
    assert!(reg
        .gauge_family(
            Opts::new("depth_meters", "D.")
                .unit("meters")
                .alias("depth")
        )
        .is_err());
    // A counter holds both spellings of its OpenMetrics names.
    let _kept2 = reg.counter("events", "No suffix.").unwrap();
    assert!(matches!(
        reg.gauge("events_total", "Clash."),
        Err(Error::DuplicateMetric { .. })
    ));
    let _kept3 = reg.counter("things_total", "Suffix.").unwrap();
    assert!(matches!(
        reg.gauge("things", "Clash."),
        Err(Error::DuplicateMetric { .. })
    ));
}

fn serve(reg: Registry) -> ExporterHandle {
    Exporter::builder()
        .registry(reg)
        .metrics_addr("127.0.0.1:0")
        .no_health()
        .no_admin()
        .start()
        .expect("exporter")
}

#[test]
fn the_exporter_answers_each_accept_header_in_its_format() {
    let handle = serve(rich_registry(true));
    let addr = handle.metrics_addr().unwrap();
    let cases = [
        (PROMETHEUS_2_42, telemeter::CONTENT_TYPE_OPENMETRICS),
        (PROMETHEUS_2_42_NATIVE, telemeter::CONTENT_TYPE_PROTOBUF),
        ("*/*", telemeter::CONTENT_TYPE),
    ];
    for _ in 0..2 {
        for (accept, content_type) in cases {
            for gzip in [false, true] {
                let mut headers = vec![("Accept", accept)];
                if gzip {
                    headers.push(("Accept-Encoding", "gzip"));
                }
                let r = request(addr, "GET", "/metrics", &headers);
                assert_eq!(r.status, 200);
                assert_eq!(r.header("content-type"), Some(content_type), "{accept}");
                assert_eq!(r.header("content-encoding"), gzip.then_some("gzip"));
                assert_eq!(r.header("vary"), Some("Accept, Accept-Encoding"));
                let body = if gzip {
                    let mut out = Vec::new();
                    std::io::Read::read_to_end(
                        &mut flate2::read::GzDecoder::new(&r.body[..]),
                        &mut out,
                    )
                    .unwrap();
                    out
                } else {
                    r.body.clone()
                };
                match content_type {
                    telemeter::CONTENT_TYPE_OPENMETRICS => {
                        let text = String::from_utf8(body).unwrap();
                        // The exporter's own families come before `# EOF`.
                        assert!(text.contains("# TYPE telemeter_http_scrapes counter\ntelemeter_http_scrapes_total "), "{text}");
                        telemeter::parse::openmetrics::parse(&text)
                            .unwrap_or_else(|e| panic!("{e}\n{text}"));
                    }
                    telemeter::CONTENT_TYPE_PROTOBUF => {
                        // Delimited messages that end exactly at the body's end.
                        let mut rest = &body[..];
                        let mut n = 0;
                        while !rest.is_empty() {
                            let (mut len, mut shift, mut i) = (0usize, 0, 0);
                            loop {
                                let b = rest[i];
                                i += 1;
                                len |= usize::from(b & 0x7f) << shift;
                                shift += 7;
                                if b < 0x80 {
                                    break;
                                }
                            }
                            rest = &rest[i + len..];
                            n += 1;
                        }
                        assert!(n > 10, "{n} messages");
                    }
                    _ => {
                        let text = String::from_utf8(body).unwrap();
                        telemeter::parse::parse(&text).unwrap();
                    }
                }
            }
        }
    }
    handle.shutdown();
}

/// Waits up to 60 s for `check` to hold.
fn eventually(what: &str, prom: &Prometheus, mut check: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(60);
    while !check() {
        assert!(
            Instant::now() < until,
            "timed out waiting for {what}\n{}",
            prom.report()
        );
        thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn a_real_prometheus_scrapes_openmetrics_and_stores_the_exemplars() {
    let Some(bin) = prom_support::prometheus_or_skip() else {
        return;
    };
    let handle = serve(rich_registry(true));
    let target = handle.metrics_addr().unwrap();
    let prom =
        Prometheus::start_flagged(&bin, "om", target, &["--enable-feature=exemplar-storage"]);
    eventually("the counter", &prom, || {
        query(prom.addr, "http_requests_total{method=\"GET\"}") == Some(7.0)
    });
    assert_eq!(query(prom.addr, "no_suffix_total"), Some(2.0));
    assert_eq!(
        query(
            prom.addr,
            "rpc_duration_seconds_bucket{rpc=\"get\",le=\"+Inf\"}"
        ),
        Some(3.0)
    );
    // The unit reached Prometheus: only OpenMetrics carries it.
    let meta = prom_support::get(
        prom.addr,
        "/api/v1/targets/metadata?metric=rpc_duration_seconds",
    )
    .text();
    assert!(meta.contains("\"unit\":\"seconds\""), "{meta}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut answer = String::new();
    eventually("the exemplars", &prom, || {
        let path = format!(
            "/api/v1/query_exemplars?query={}&start={}&end={}",
            prom_support::percent_encode(
                "{__name__=~\"rpc_duration_seconds_bucket|http_requests_total\"}"
            ),
            now - 600,
            now + 600
        );
        answer = prom_support::get(prom.addr, &path).text();
        answer.contains("4bf92f3577b34da6a3ce929d0e0e4736")
            && answer.contains("\"aaa\"")
            && answer.contains("inf-bucket")
    });
    assert!(
        answer.contains("\"span_id\":\"00f067aa0ba902b7\""),
        "{answer}"
    );
    prom.stop();
    handle.shutdown();
}

#[test]
fn a_real_prometheus_with_native_histograms_on_scrapes_protobuf() {
    let Some(bin) = prom_support::prometheus_or_skip() else {
        return;
    };
    let handle = serve(rich_registry(true));
    let target = handle.metrics_addr().unwrap();
    let prom = Prometheus::start_flagged(
        &bin,
        "pb",
        target,
        &[
            "--enable-feature=native-histograms",
            "--enable-feature=exemplar-storage",
        ],
    );
    eventually("the counter", &prom, || {
        query(prom.addr, "http_requests_total{method=\"GET\"}") == Some(7.0)
    });
    let q = |s: &str| query(prom.addr, s);
    assert_eq!(q("legacy_requests_total{method=\"POST\"}"), Some(1.0));
    assert_eq!(q("temperature_celsius"), Some(-4.0));
    assert_eq!(q("ratio"), Some(0.25));
    assert_eq!(q("cpu_seconds_total"), Some(1.5));
    assert_eq!(q("callback_value"), Some(3.5));
    assert_eq!(
        q("rpc_duration_seconds_bucket{rpc=\"get\",le=\"0.1\"}"),
        Some(2.0)
    );
    assert_eq!(q("rpc_duration_seconds_count{rpc=\"get\"}"), Some(3.0));
    assert_eq!(q("rpc_duration_seconds_sum{rpc=\"put\"}"), Some(0.5));
    // A `/` label value (and a hostile one) survive the protobuf path.
    assert_eq!(
        q("http_requests_total{path=\"/a\\\"b\\\\c\\nd\"}"),
        Some(7.0)
    );
    prom.stop();
    handle.shutdown();
}

#[test]
fn exemplars_racing_their_first_use_and_scrapes_lose_no_count() {
    let reg = Registry::builder().self_metrics(false).build();
    let fam = reg
        .counter_family(Opts::new("raced_total", "Raced.").labels(&["k"]))
        .unwrap();
    let hist = reg
        .histogram(
            "raced_seconds",
            "Raced.",
            Buckets::new(vec![0.5, 1.0]).unwrap(),
        )
        .unwrap();
    let per = 20_000u64;
    let stop = std::sync::atomic::AtomicBool::new(false);
    thread::scope(|s| {
        // A scraper reading exemplars while they are first made and replaced.
        s.spawn(|| {
            let mut body = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                body.clear();
                reg.encode_openmetrics(&mut body);
                telemeter::parse::openmetrics::parse(std::str::from_utf8(&body).unwrap()).unwrap();
            }
        });
        let workers: Vec<_> = (0..4)
            .map(|t| {
                let fam = &fam;
                let hist = &hist;
                s.spawn(move || {
                    let ids = [format!("t{t}-a"), format!("t{t}-b")];
                    for i in 0..per {
                        // Every thread races the first exemplar of each new series.
                        let key = (i / 1000).to_string();
                        let id = &ids[(i % 2) as usize];
                        fam.with_label_values(&[&key])
                            .unwrap()
                            .inc_with_exemplar(&[("trace_id", id)]);
                        hist.observe_with_exemplar(
                            if i % 2 == 0 { 0.25 } else { 2.0 },
                            &[("trace_id", id)],
                        );
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let body = reg.encode_openmetrics_to_string();
    let parsed = telemeter::parse::openmetrics::parse(&body).unwrap();
    let fam = parsed.family("raced").unwrap();
    let total: f64 = fam.samples.iter().map(|s| s.value).sum();
    assert_eq!(total, (4 * per) as f64);
    // Each series' exemplar is one a thread wrote, whole.
    for s in &fam.samples {
        let ex = s.exemplar.as_ref().expect("every series has one");
        let id = &ex.labels[0].1;
        assert!(
            id.len() == 4 && id.starts_with('t') && (id.ends_with("-a") || id.ends_with("-b")),
            "{id}"
        );
    }
    let snap = hist.snapshot();
    assert_eq!(snap.count, 4 * per);
    assert_eq!(snap.buckets, vec![2 * per, 0, 2 * per]);
}

/// A minimal protobuf reader, independent of the encoder: the fields of a
/// message as (number, wire type, varint value or bytes).
fn fields(mut b: &[u8]) -> Vec<(u32, u64, &[u8])> {
    fn varint(b: &mut &[u8]) -> u64 {
        let (mut v, mut shift) = (0u64, 0);
        loop {
            let byte = b[0];
            *b = &b[1..];
            v |= u64::from(byte & 0x7f) << shift;
            shift += 7;
            if byte < 0x80 {
                return v;
            }
        }
    }
    let mut out = Vec::new();
    while !b.is_empty() {
        let key = varint(&mut b);
        let (field, wire) = ((key >> 3) as u32, key & 7);
        match wire {
            0 => out.push((field, varint(&mut b), &b[..0])),
            1 => {
                out.push((
                    field,
                    u64::from_le_bytes(b[..8].try_into().unwrap()),
                    &b[..8],
                ));
                b = &b[8..];
            }
            2 => {
                let len = varint(&mut b) as usize;
                out.push((field, len as u64, &b[..len]));
                b = &b[len..];
            }
            w => panic!("wire type {w}"),
        }
    }
    out
}

fn zigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// A series key: sample name, labels sorted (less `le`), and `le`.
type Key = (String, Vec<(String, String)>, Option<u64>);

fn key(name: &str, labels: &[(String, String)]) -> Key {
    let mut ls: Vec<_> = labels.iter().filter(|(k, _)| k != "le").cloned().collect();
    ls.sort();
    let le = labels.iter().find(|(k, _)| k == "le").map(|(_, v)| {
        if v == "+Inf" {
            f64::INFINITY
        } else {
            v.parse::<f64>().unwrap()
        }
        .to_bits()
    });
    (name.to_string(), ls, le)
}

/// Every sample of a protobuf body, as the text body would name it; a
/// native histogram's buckets summed at each `le` the text body shows for
/// that series (`les`).
fn protobuf_samples(body: &[u8], les: &BTreeMap<Key, f64>) -> BTreeMap<Key, f64> {
    let mut out = BTreeMap::new();
    let mut rest = body;
    while !rest.is_empty() {
        let (len, tail) = {
            // The delimiting varint.
            let (mut v, mut i) = (0usize, 0);
            loop {
                let byte = rest[i];
                v |= usize::from(byte & 0x7f) << (7 * i);
                i += 1;
                if byte < 0x80 {
                    break;
                }
            }
            (v, &rest[i..])
        };
        let family = &tail[..len];
        rest = &tail[len..];
        let mut name = String::new();
        for (f, _, bytes) in fields(family) {
            if f == 1 {
                name = String::from_utf8(bytes.to_vec()).unwrap();
            }
        }
        for (f, _, metric) in fields(family) {
            if f != 4 {
                continue;
            }
            let mut labels = Vec::new();
            for (f, _, pair) in fields(metric) {
                if f == 1 {
                    let p = fields(pair);
                    let s = |n| {
                        String::from_utf8(
                            p.iter()
                                .find(|x| x.0 == n)
                                .map_or(&b""[..], |x| x.2)
                                .to_vec(),
                        )
                        .unwrap()
                    };
                    labels.push((s(1), s(2)));
                }
            }
            for (f, _, m) in fields(metric) {
                match f {
                    2 | 3 => {
                        let v = fields(m)
                            .iter()
                            .find(|x| x.0 == 1)
                            .map_or(0.0, |x| f64::from_bits(x.1));
                        out.insert(key(&name, &labels), v);
                    }
                    7 => {
                        let h = fields(m);
                        let get = |n| h.iter().find(|x| x.0 == n).map(|x| x.1);
                        out.insert(
                            key(&format!("{name}_count"), &labels),
                            get(1).unwrap_or(0) as f64,
                        );
                        out.insert(
                            key(&format!("{name}_sum"), &labels),
                            f64::from_bits(get(2).unwrap_or(0)),
                        );
                        if let Some(schema) = get(5) {
                            // Native: rebuild the buckets from spans and deltas.
                            let schema = zigzag(schema);
                            let zero = get(7).unwrap_or(0) as f64;
                            let mut counts = Vec::new();
                            let mut index = 0i64;
                            let mut deltas = h.iter().filter(|x| x.0 == 13).map(|x| zigzag(x.1));
                            let mut count = 0i64;
                            for (_, _, span) in h.iter().filter(|x| x.0 == 12) {
                                let s = fields(span);
                                let offset = s.iter().find(|x| x.0 == 1).map_or(0, |x| zigzag(x.1));
                                let length = s.iter().find(|x| x.0 == 2).map_or(0, |x| x.1);
                                index += offset;
                                for _ in 0..length {
                                    count += deltas.next().unwrap();
                                    counts.push((index, count));
                                    index += 1;
                                }
                            }
                            let series = key(&format!("{name}_bucket"), &labels);
                            for (k, _) in les.range((series.0.clone(), series.1.clone(), Some(0))..)
                            {
                                if k.0 != series.0 || k.1 != series.1 {
                                    break;
                                }
                                let le = f64::from_bits(k.2.unwrap());
                                let below: i64 = counts
                                    .iter()
                                    .filter(|(i, _)| {
                                        2f64.powf(*i as f64 / 2f64.powi(schema as i32))
                                            <= le * (1.0 + 1e-12)
                                    })
                                    .map(|(_, c)| c)
                                    .sum();
                                out.insert(k.clone(), zero + below as f64);
                            }
                        } else {
                            for (_, _, bucket) in h.iter().filter(|x| x.0 == 3) {
                                let b = fields(bucket);
                                let cum = b.iter().find(|x| x.0 == 1).map_or(0, |x| x.1);
                                let ub = b
                                    .iter()
                                    .find(|x| x.0 == 2)
                                    .map_or(0.0, |x| f64::from_bits(x.1));
                                let mut ls = labels.clone();
                                ls.push((
                                    "le".into(),
                                    if ub.is_infinite() {
                                        "+Inf".into()
                                    } else {
                                        format!("{ub}")
                                    },
                                ));
                                out.insert(key(&format!("{name}_bucket"), &ls), cum as f64);
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    out
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    #[test]
    fn every_registry_encodes_to_the_same_values_in_all_three_formats(
        families in proptest::collection::vec(
            (0usize..5, 0usize..3, proptest::collection::vec(
                (
                    proptest::collection::vec("\\PC{0,6}|[\\\\\"\n}#{ a]{0,6}", 2),
                    0u32..1_000_000,
                    proptest::collection::vec(0.0001f64..1000.0, 0..6),
                    proptest::bool::ANY,
                ),
                1..4,
            )),
            1..6,
        )
    ) {
        let reg = Registry::builder().self_metrics(false).build();
        for (f, (kind, nlabels, series)) in families.iter().enumerate() {
            let labels = &["a", "b"][..*nlabels];
            let opts = |name: String| Opts::new(name, "Prop \"help\"\n.").labels(labels);
            for (values, n, obs, exemplar) in series {
                let values: Vec<&str> = values.iter().take(*nlabels).map(String::as_str).collect();
                let trace = [("trace_id", "t")];
                // Later series of a family repeat its registration: take
                // the first family's handle by name instead.
                match kind {
                    0 => {
                        let fam = reg.counter_family(opts(format!("c{f}_total")));
                        if let Ok(fam) = fam { FAMS.with(|m| m.borrow_mut().insert(f, Fam::C(fam))); }
                    }
                    1 => {
                        if let Ok(fam) = reg.gauge_family(opts(format!("g{f}"))) { FAMS.with(|m| m.borrow_mut().insert(f, Fam::G(fam))); }
                    }
                    2 => {
                        if let Ok(fam) = reg.float_gauge_family(opts(format!("fg{f}"))) { FAMS.with(|m| m.borrow_mut().insert(f, Fam::F(fam))); }
                    }
                    3 => {
                        let b = Buckets::new(vec![0.01, 1.0, 100.0]).unwrap();
                        if let Ok(fam) = reg.histogram_family(opts(format!("h{f}")), b) { FAMS.with(|m| m.borrow_mut().insert(f, Fam::H(fam))); }
                    }
                    _ => {
                        let b = telemeter::NativeBuckets::new(2).unwrap().range(0.001, 2000.0).unwrap();
                        if let Ok(fam) = reg.native_histogram_family(opts(format!("n{f}")), b) { FAMS.with(|m| m.borrow_mut().insert(f, Fam::N(fam))); }
                    }
                }
                FAMS.with(|m| {
                    let m = m.borrow();
                    match &m[&f] {
                        Fam::C(fam) => fam.with(&values, |c| if *exemplar { c.add_with_exemplar(u64::from(*n), &trace) } else { c.add(u64::from(*n)) }).unwrap(),
                        Fam::G(fam) => fam.with(&values, |g| g.set(i64::from(*n) - 500_000)).unwrap(),
                        Fam::F(fam) => fam.with(&values, |g| g.set(f64::from(*n) / 7.0)).unwrap(),
                        Fam::H(fam) => fam.with(&values, |h| obs.iter().for_each(|v| if *exemplar { h.observe_with_exemplar(*v, &trace) } else { h.observe(*v) })).unwrap(),
                        Fam::N(fam) => fam.with(&values, |h| obs.iter().for_each(|v| h.observe(*v))).unwrap(),
                    }
                });
            }
        }
        FAMS.with(|m| m.borrow_mut().clear());

        let text = reg.encode_to_string();
        let parsed = telemeter::parse::parse(&text).unwrap();
        let mut from_text = BTreeMap::new();
        for fam in &parsed.families {
            for s in &fam.samples {
                from_text.insert(key(&s.name, &s.labels), s.value);
            }
        }
        let om = reg.encode_openmetrics_to_string();
        let om_parsed = telemeter::parse::openmetrics::parse(&om).unwrap_or_else(|e| panic!("{e}\n{om}"));
        let mut from_om = BTreeMap::new();
        for fam in &om_parsed.families {
            for s in &fam.samples {
                from_om.insert(key(&s.name, &s.labels), s.value);
            }
        }
        proptest::prop_assert_eq!(&from_om, &from_text);
        let mut pb = Vec::new();
        reg.encode_format(&mut pb, Format::Protobuf);
        let from_pb = protobuf_samples(&pb, &from_text);
        proptest::prop_assert_eq!(&from_pb, &from_text);
    }
}

/// The property test's families, by index (registered at a family's first
/// series, looked up at the others').
enum Fam {
    C(telemeter::Family<telemeter::Counter>),
    G(telemeter::Family<telemeter::Gauge>),
    F(telemeter::Family<telemeter::FloatGauge>),
    H(telemeter::Family<telemeter::Histogram>),
    N(telemeter::Family<telemeter::NativeHistogram>),
}

thread_local! {
    static FAMS: std::cell::RefCell<BTreeMap<usize, Fam>> = const { std::cell::RefCell::new(BTreeMap::new()) };
}

#[test]
fn state_sets_are_one_sample_per_state_in_every_format() {
    use telemeter::Error;
    let reg = Registry::builder().self_metrics(false).build();
    let fam = reg
        .state_set_family(
            Opts::new("breaker_state", "Circuit breakers.").labels(&["breaker"]),
            &["closed", "open", "half \"open\""],
        )
        .unwrap();
    fam.with(&["nats"], |b| b.set("open")).unwrap().unwrap();
    let anthropic = fam.with_label_values(&["anthropic"]).unwrap();
    anthropic.set_mask(0b101);
    assert!(anthropic.is("closed").unwrap() && !anthropic.is("open").unwrap());
    assert!(matches!(
        anthropic.set("broken"),
        Err(Error::InvalidStateSet { .. })
    ));
    assert_eq!(anthropic.mask(), 0b101, "a refused state changes nothing");
    let lone = reg
        .state_set_family(Opts::new("mode", "Mode."), &["a", "b"])
        .unwrap();
    lone.with_label_values(&[]).unwrap().set_index(1);

    let text = reg.encode_to_string();
    assert!(text.contains("# TYPE breaker_state gauge\n"), "{text}");
    assert!(
        text.contains("breaker_state{breaker=\"nats\",breaker_state=\"open\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "breaker_state{breaker=\"anthropic\",breaker_state=\"half \\\"open\\\"\"} 1\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("mode{mode=\"b\"} 1\nmode{mode=\"a\"} 0\n")
            || text.contains("mode{mode=\"a\"} 0\nmode{mode=\"b\"} 1\n"),
        "{text}"
    );
    telemeter::parse::parse(&text).unwrap();
    let om = reg.encode_openmetrics_to_string();
    assert!(om.contains("# TYPE breaker_state stateset\n"), "{om}");
    let parsed = telemeter::parse::openmetrics::parse(&om).unwrap_or_else(|e| panic!("{e}\n{om}"));
    let f = parsed.family("breaker_state").unwrap();
    assert_eq!(f.kind, telemeter::parse::openmetrics::OmType::StateSet);
    assert_eq!(f.samples.len(), 6);
    if let Some(python) = python_or_skip() {
        let lines = python_samples(&python, &om).unwrap_or_else(|e| panic!("{e}\n{om}"));
        assert!(lines.iter().any(|l| l.starts_with("breaker_state|stateset||breaker_state[('breaker', 'nats'), ('breaker_state', 'open')] 1.0")), "{lines:#?}");
    }
    // Refusals.
    for (opts, states) in [
        (Opts::new("s1", "S."), &[][..]),
        (Opts::new("s2", "S."), &["a", "a"][..]),
        (Opts::new("s:3", "S."), &["a"][..]),
        (Opts::new("s4", "S.").labels(&["s4"]), &["a"][..]),
    ] {
        assert!(matches!(
            reg.state_set_family(opts, states),
            Err(Error::InvalidStateSet { .. })
        ));
    }
    let many: Vec<String> = (0..65).map(|i| format!("s{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    assert!(reg.state_set_family(Opts::new("s5", "S."), &many).is_err());
    assert!(reg
        .state_set_family(Opts::new("s6", "S."), &many[..64])
        .is_ok());
}

#[test]
fn created_timestamps_are_served_in_openmetrics_and_protobuf_only() {
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let reg = Registry::builder()
        .self_metrics(false)
        .created_timestamps(true)
        .build();
    let c = reg
        .counter_family(Opts::new("jobs_total", "Jobs.").labels(&["queue"]))
        .unwrap();
    c.with_label_values(&["a"])
        .unwrap()
        .inc_with_exemplar(&[("trace_id", "x")]);
    c.with_label_values(&["b"]).unwrap().add(2);
    let h = reg
        .histogram("job_seconds", "Jobs.", Buckets::new(vec![1.0]).unwrap())
        .unwrap();
    h.observe(0.5);
    reg.gauge("depth", "Depth.").unwrap().set(3);
    // `_created` names are taken.
    assert!(reg.gauge("jobs_created", "Clash.").is_err());
    let after = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let text = reg.encode_to_string();
    assert!(!text.contains("_created"), "{text}");
    let om = reg.encode_openmetrics_to_string();
    let parsed = telemeter::parse::openmetrics::parse(&om).unwrap_or_else(|e| panic!("{e}\n{om}"));
    let created: Vec<f64> = parsed
        .families
        .iter()
        .flat_map(|f| &f.samples)
        .filter(|s| s.name.ends_with("_created"))
        .map(|s| s.value)
        .collect();
    assert_eq!(created.len(), 3, "{om}");
    assert!(
        created.iter().all(|t| (before..=after).contains(t)),
        "{created:?} not in {before}..{after}"
    );
    if let Some(python) = python_or_skip() {
        let lines = python_samples(&python, &om).unwrap_or_else(|e| panic!("{e}\n{om}"));
        assert_eq!(
            lines.iter().filter(|l| l.contains("_created[")).count(),
            3,
            "{lines:#?}"
        );
    }
    if let Some(protoc) = tool_or_skip("protoc", "protobuf-compiler") {
        let mut pb = Vec::new();
        reg.encode_format(&mut pb, Format::Protobuf);
        let decoded = protoc_decode(&protoc, &pb).join("\n");
        assert_eq!(
            decoded.matches("created_timestamp {").count(),
            3,
            "{decoded}"
        );
        let secs = format!("seconds: {}", before as u64);
        assert!(
            decoded.contains(&secs) || decoded.contains(&format!("seconds: {}", after as u64)),
            "{decoded}"
        );
    }
}
