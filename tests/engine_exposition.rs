//! Exposition correctness: escaping survives encode -> parse for arbitrary
//! Unicode (proptest), and `promtool check metrics` accepts a registry with
//! every metric type, labels, aliases and hostile label values.

mod prom_support;

use proptest::prelude::*;
use telemeter::parse::parse;
use telemeter::{Buckets, Opts, Registry};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn label_values_and_help_round_trip(
        help in "\\PC*|[\\\\\"\n}#{ ]{0,12}",
        values in proptest::collection::vec("\\PC*|[\\\\\"\n}#{ a]{0,8}", 1..4),
        n in 1u64..1000,
    ) {
        let reg = Registry::builder().self_metrics(false).build();
        let names = ["a", "b", "c"];
        let fam = reg
            .counter_family(Opts::new("prop_total", help.as_str()).labels(&names[..values.len()]))
            .unwrap();
        let vals: Vec<&str> = values.iter().map(String::as_str).collect();
        fam.with_label_values(&vals).unwrap().add(n);
        let body = reg.encode_to_string();
        let exp = parse(&body).map_err(|e| TestCaseError::fail(format!("{e}\n{body}")))?;
        let f = exp.family("prop_total").unwrap();
        // Leading blanks of HELP cannot be represented in 0.0.4 (Opts::new
        // documents that it drops them); everything else must survive.
        prop_assert_eq!(f.help.as_deref(), Some(help.trim_start_matches([' ', '\t'])));
        prop_assert_eq!(f.samples.len(), 1);
        let s = &f.samples[0];
        prop_assert_eq!(s.value, n as f64);
        let got: Vec<(&str, &str)> = s.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let want: Vec<(&str, &str)> = names.iter().copied().zip(vals.iter().copied()).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn float_values_round_trip(v in proptest::num::f64::ANY) {
        let reg = Registry::builder().self_metrics(false).build();
        reg.float_gauge("g", "g").unwrap().set(v);
        let exp = parse(&reg.encode_to_string()).unwrap();
        let got = exp.family("g").unwrap().samples[0].value;
        prop_assert!(got == v || (got.is_nan() && v.is_nan()), "{v} -> {got}");
    }
}

/// A registry with every metric type, labels, aliases, callbacks and
/// hostile label values.
fn everything() -> Registry {
    let reg = Registry::new();
    reg.counter("plain_total", "Plain counter.").unwrap().inc();
    reg.float_counter("cpu_seconds_total", "CPU.")
        .unwrap()
        .add(1.25);
    reg.gauge("queue_length", "Queue.").unwrap().set(-3);
    reg.float_gauge("temperature_celsius", "Temp.")
        .unwrap()
        .set(21.5);
    let h = reg
        .histogram("latency_seconds", "Latency.", Buckets::default())
        .unwrap();
    for v in [0.001, 0.02, 0.3, 4.0, 100.0] {
        h.observe(v);
    }
    let fam = reg
        .counter_family(
            Opts::new(
                "oxg_rpc_requests_total",
                "RPC calls \\ with \"odd\" help\nand lines.",
            )
            .labels(&["component", "method"])
            .alias("glyph_rpc_requests_total"),
        )
        .unwrap();
    for v in [
        "back\\slash",
        "quo\"te",
        "new\nline",
        "}#{",
        "ünïcødé 🚀",
        "",
    ] {
        fam.with_label_values(&[v, "Get"]).unwrap().inc();
    }
    let hf = reg
        .histogram_family(
            Opts::new("oxg_plugin_event_duration_seconds", "Plugin events.")
                .labels(&["plugin", "event"])
                .alias("glyph_plugin_event_duration_seconds"),
            Buckets::exponential(0.001, 2.0, 8).unwrap(),
        )
        .unwrap();
    hf.with_label_values(&["p\"1", "ev\\ent"])
        .unwrap()
        .observe(0.01);
    let capped = reg
        .gauge_family(Opts::new("capped", "Capped.").labels(&["k"]).max_series(1))
        .unwrap();
    capped.with_label_values(&["a"]).unwrap().set(1);
    capped.with_label_values(&["b"]).unwrap().set(2);
    reg.gauge_callback(
        Opts::new("circuit_breaker_state", "0 = Closed, 1 = Open.").labels(&["breaker"]),
        |s| {
            s.sample(&["nats"], 0.0);
            s.sample(&["llm\"x"], 1.0);
        },
    )
    .unwrap();
    reg.gauge_fn("active_plugins", "Plugins.", || 4.0).unwrap();
    reg
}

#[test]
fn promtool_check_metrics_accepts_everything() {
    let Some(promtool) = prom_support::tool_or_skip("promtool", "prometheus") else {
        return;
    };
    let reg = everything();
    let _ = reg.encode_to_string(); // a first scrape so duration/scrape counts are non-zero
    let body = reg.encode_to_string();
    parse(&body).expect("our own parser accepts it");
    let findings = prom_support::promtool_lint(&promtool, &body);
    assert!(
        findings.is_empty(),
        "promtool check metrics: {findings:?}\nbody:\n{body}"
    );
}
