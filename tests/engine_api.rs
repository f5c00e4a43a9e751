//! The registry's contract: validation errors, exposition layout, aliases,
//! overflow, callbacks, removal and slot reuse, and the peer crates' known
//! faults that telemeter must not repeat.

use telemeter::parse::{parse, MetricType};
use telemeter::{fixed_label, Buckets, Error, Opts, Registry, OVERFLOW_LABEL_VALUE};

fn quiet() -> Registry {
    Registry::builder().self_metrics(false).build()
}

fn err_msg(e: Error) -> String {
    e.to_string()
}

#[test]
fn every_validation_error_names_the_problem_and_the_fix() {
    let reg = quiet();
    let e = reg.counter("1abc", "h").unwrap_err();
    assert!(matches!(e, Error::InvalidMetricName { .. }));
    assert!(err_msg(e).contains("[a-zA-Z_:][a-zA-Z0-9_:]*"));

    let e = reg.counter("bad-name", "h").unwrap_err();
    assert!(err_msg(e).contains("replace other characters"));

    let e = reg.counter("", "h").unwrap_err();
    assert!(matches!(e, Error::InvalidMetricName { .. }));

    let e = reg.counter("__internal", "h").unwrap_err();
    assert!(matches!(e, Error::ReservedName { .. }));
    assert!(err_msg(e).contains("reserves"));

    let e = reg
        .counter_family(Opts::new("x_total", "h").labels(&["a:b"]))
        .unwrap_err();
    assert!(matches!(e, Error::InvalidLabelName { .. }));
    assert!(err_msg(e).contains("[a-zA-Z_][a-zA-Z0-9_]*"));

    let e = reg
        .counter_family(Opts::new("x_total", "h").labels(&["__a"]))
        .unwrap_err();
    assert!(matches!(e, Error::ReservedName { .. }));

    let e = reg
        .counter_family(Opts::new("x_total", "h").labels(&["a", "a"]))
        .unwrap_err();
    assert!(matches!(e, Error::DuplicateLabelName { .. }));
    assert!(err_msg(e).contains("twice"));

    let e = reg
        .histogram_family(
            Opts::new("x_seconds", "h").labels(&["le"]),
            Buckets::default(),
        )
        .unwrap_err();
    assert!(matches!(e, Error::ReservedLabel { .. }));
    assert!(err_msg(e).contains("\"le\""));

    let _ = reg.counter("dup_total", "h").unwrap();
    let e = reg.gauge("dup_total", "h").unwrap_err();
    assert!(matches!(e, Error::DuplicateMetric { .. }));
    assert!(err_msg(e).contains("already registered"));

    // A histogram's generated names clash with a counter of that name.
    let _ = reg.counter("lat_count", "h").unwrap();
    let e = reg.histogram("lat", "h", Buckets::default()).unwrap_err();
    assert_eq!(
        e,
        Error::DuplicateMetric {
            name: "lat_count".into()
        }
    );

    // An alias that clashes.
    let e = reg
        .counter_family(Opts::new("fresh_total", "h").alias("dup_total"))
        .unwrap_err();
    assert!(matches!(e, Error::DuplicateMetric { .. }));

    let fam = reg
        .counter_family(Opts::new("two_total", "h").labels(&["a", "b"]))
        .unwrap();
    let e = fam.with_label_values(&["x"]).unwrap_err();
    assert_eq!(
        e,
        Error::LabelCount {
            family: "two_total".into(),
            expected: 2,
            got: 1
        }
    );
    assert!(err_msg(e).contains("one value per label name"));
    assert!(fam.remove(&["x", "y", "z"]).is_err());

    let e = reg.float_counter("f_total", "h").unwrap().try_add(-1.0);
    assert!(err_msg(e.unwrap_err()).contains("counters only go up"));

    fixed_label! {
        /// Missing label.
        enum Nope: "nope" { A = "a" }
    }
    let e = fam.by_label::<Nope>(&["x"]).unwrap_err();
    assert!(matches!(e, Error::UnknownLabel { .. }));

    // The telemeter_ namespace belongs to the self-metrics (the registry's
    // and the exporter's), whether or not they are on.
    for reg in [Registry::new(), quiet()] {
        let e = reg
            .counter("telemeter_series_overflow_total", "h")
            .unwrap_err();
        assert!(matches!(e, Error::ReservedPrefix { .. }));
        assert!(err_msg(e).contains("telemeter_ namespace"));
        let e = reg
            .counter_family(Opts::new("mine_total", "h").alias("telemeter_http_scrapes_total"))
            .unwrap_err();
        assert!(matches!(e, Error::ReservedPrefix { .. }));
    }
}

#[test]
fn exposition_layout_is_exact() {
    let reg = quiet();
    let c = reg.counter("a_total", "A counter.").unwrap();
    let g = reg.gauge("b", "A gauge.").unwrap();
    let fg = reg.float_gauge("c", "Float.").unwrap();
    let h = reg
        .histogram("d_seconds", "Hist.", Buckets::new(vec![0.5, 1.0]).unwrap())
        .unwrap();
    let fc = reg.float_counter("e_total", "Float counter.").unwrap();
    c.add(3);
    g.set(-4);
    fg.set(f64::NAN);
    h.observe(0.25);
    h.observe(0.75);
    h.observe(7.0);
    fc.add(1.5);
    assert_eq!(
        reg.encode_to_string(),
        "# HELP a_total A counter.\n# TYPE a_total counter\na_total 3\n\
         # HELP b A gauge.\n# TYPE b gauge\nb -4\n\
         # HELP c Float.\n# TYPE c gauge\nc NaN\n\
         # HELP d_seconds Hist.\n# TYPE d_seconds histogram\n\
         d_seconds_bucket{le=\"0.5\"} 1\nd_seconds_bucket{le=\"1\"} 2\nd_seconds_bucket{le=\"+Inf\"} 3\n\
         d_seconds_sum 8\nd_seconds_count 3\n\
         # HELP e_total Float counter.\n# TYPE e_total counter\ne_total 1.5\n"
    );
}

#[test]
fn aliases_export_the_same_series_with_deprecated_help() {
    let reg = quiet();
    let fam = reg
        .histogram_family(
            Opts::new("oxg_rpc_duration_seconds", "Latency for each RPC handler.")
                .labels(&["component", "method", "code"])
                .alias("glyph_rpc_duration_seconds"),
            Buckets::default(),
        )
        .unwrap();
    fam.with_label_values(&["api", "Get", "OK"])
        .unwrap()
        .observe(0.02);
    let exp = parse(&reg.encode_to_string()).unwrap();
    let new = exp.family("oxg_rpc_duration_seconds").unwrap();
    let old = exp.family("glyph_rpc_duration_seconds").unwrap();
    assert_eq!(old.kind, MetricType::Histogram);
    assert_eq!(
        old.help.as_deref(),
        Some("Deprecated: use oxg_rpc_duration_seconds. Latency for each RPC handler.")
    );
    assert_eq!(new.samples.len(), old.samples.len());
    for (a, b) in new.samples.iter().zip(&old.samples) {
        assert_eq!(a.value, b.value);
        assert_eq!(a.labels, b.labels);
        assert_eq!(
            a.name.replace("oxg_", ""),
            b.name.replace("glyph_", ""),
            "same sample under both names"
        );
    }
}

#[test]
fn cardinality_limit_redirects_to_one_overflow_series_and_counts() {
    let reg = Registry::new();
    let fam = reg
        .counter_family(
            Opts::new("capped_total", "Capped.")
                .labels(&["user"])
                .max_series(2),
        )
        .unwrap();
    fam.with_label_values(&["a"]).unwrap().inc();
    fam.with_label_values(&["b"]).unwrap().inc();
    fam.with_label_values(&["c"]).unwrap().inc();
    fam.with_label_values(&["d"]).unwrap().add(5);
    fam.with_label_values(&["a"]).unwrap().inc(); // existing: not redirected
    assert_eq!(fam.overflowed(), 2);
    assert_eq!(fam.len(), 3);
    let exp = parse(&reg.encode_to_string()).unwrap();
    let f = exp.family("capped_total").unwrap();
    assert_eq!(f.find("capped_total", &[("user", "a")]).unwrap().value, 2.0);
    assert_eq!(
        f.find("capped_total", &[("user", OVERFLOW_LABEL_VALUE)])
            .unwrap()
            .value,
        6.0
    );
    assert!(f.find("capped_total", &[("user", "c")]).is_none());
    let over = exp.family("telemeter_series_overflow_total").unwrap();
    assert_eq!(
        over.find(
            "telemeter_series_overflow_total",
            &[("family", "capped_total")]
        )
        .unwrap()
        .value,
        2.0
    );
}

#[test]
fn removed_series_leave_the_scrape_and_new_ones_start_from_zero() {
    let reg = quiet();
    let fam = reg
        .counter_family(Opts::new("rm_total", "Removal.").labels(&["k"]))
        .unwrap();
    let kept = fam.with_label_values(&["x"]).unwrap();
    kept.add(7);
    assert!(fam.remove(&["x"]).unwrap());
    assert!(!fam.remove(&["x"]).unwrap());
    assert!(!reg.encode_to_string().contains("rm_total{"));
    // The old handle still works, into a series nobody scrapes.
    kept.inc();
    assert_eq!(kept.get(), 8);
    // A new series for the same labels starts at zero, separate from it.
    let fresh = fam.with_label_values(&["x"]).unwrap();
    assert_eq!(fresh.get(), 0);
    fresh.inc();
    assert_eq!(kept.get(), 8);
    assert!(reg.encode_to_string().contains("rm_total{k=\"x\"} 1\n"));

    // Once the last handle is gone its slots may be reused: zeroed first.
    // (The pool is process-wide and other tests allocate concurrently, so
    // reuse itself is checked in the shard unit tests and the loom model.)
    drop(kept);
    for i in 0..100 {
        let c = fam.with_label_values(&[&format!("n{i}")]).unwrap();
        assert_eq!(c.get(), 0, "new series must not inherit counts");
    }
}

#[test]
fn scrape_time_callbacks_survive_panics_and_bad_samples() {
    let reg = Registry::new();
    reg.gauge_fn("ok_gauge", "Fine.", || 2.5).unwrap();
    reg.gauge_callback(Opts::new("panicky", "Panics.").labels(&["k"]), |s| {
        s.sample(&["before"], 1.0);
        panic!("callback failure");
    })
    .unwrap();
    reg.gauge_callback(Opts::new("sloppy", "Bad samples.").labels(&["k"]), |s| {
        s.sample(&["a"], 1.0);
        s.sample(&["a"], 2.0); // duplicate label set: dropped
        s.sample(&["a", "b"], 3.0); // wrong arity: dropped
        s.sample(&["b"], 4.0);
    })
    .unwrap();
    reg.counter_fn("uptime_seconds_total", "Up.", || 12.0)
        .unwrap();
    // A panic whose payload panics when dropped, too.
    struct Bomb;
    impl Drop for Bomb {
        fn drop(&mut self) {
            panic!("the payload's drop panics too");
        }
    }
    reg.gauge_fn("bomb", "Panics twice.", || std::panic::panic_any(Bomb))
        .unwrap();
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let body = reg.encode_to_string();
    std::panic::set_hook(prev);
    let exp = parse(&body).unwrap();
    assert_eq!(exp.family("ok_gauge").unwrap().samples[0].value, 2.5);
    assert!(exp.family("panicky").unwrap().samples.is_empty());
    assert!(exp.family("bomb").unwrap().samples.is_empty());
    let sloppy = exp.family("sloppy").unwrap();
    assert_eq!(sloppy.samples.len(), 2);
    assert_eq!(sloppy.find("sloppy", &[("k", "a")]).unwrap().value, 1.0);
    assert_eq!(
        exp.family("uptime_seconds_total").unwrap().kind,
        MetricType::Counter
    );
    let errors = exp
        .family("telemeter_scrape_callback_errors_total")
        .unwrap();
    assert_eq!(errors.samples[0].value, 4.0); // two panics + two rejected samples
}

#[test]
fn fixed_labels_index_without_hashing_and_share_series_with_lookups() {
    fixed_label! {
        /// Outcome.
        pub enum Outcome: "outcome" { Ok = "ok", Error = "error", Blocked = "blocked", Unknown = "unknown" }
    }
    let reg = quiet();
    let fam = reg
        .counter_family(
            Opts::new("nexo_tool_calls_total", "Tool invocations.")
                .labels(&["agent", "outcome", "tool"]),
        )
        .unwrap();
    let by = fam.by_label::<Outcome>(&["kate", "search"]).unwrap();
    by.get(Outcome::Error).add(3);
    by.get(Outcome::Ok).inc();
    assert_eq!(fam.len(), 4, "every outcome is pre-created");
    assert_eq!(
        fam.with_label_values(&["kate", "error", "search"])
            .unwrap()
            .get(),
        3
    );
    assert_eq!(Outcome::Blocked.as_str(), "blocked");
    assert!(fam.by_label::<Outcome>(&["only-one"]).is_err());
}

#[test]
fn self_metrics_can_be_switched_off() {
    let on = Registry::new();
    let off = quiet();
    let _on = on.counter("x_total", "x").unwrap();
    let _off = off.counter("x_total", "x").unwrap();
    let on_body = on.encode_to_string();
    assert!(on_body.contains("telemeter_scrape_duration_seconds "));
    assert!(on_body.contains("telemeter_series 1\n"));
    assert!(!off.encode_to_string().contains("telemeter_"));
    let summary = on.summary();
    assert_eq!(summary.scrapes, 1);
    assert_eq!(summary.series, 1);
    assert_eq!(summary.families[0].name, "x_total");
    assert_eq!(summary.to_json()["families"][0]["type"], "counter");
}

#[test]
fn label_values_are_hashed_with_a_separator() {
    // rust-prometheus keys series by a hash with no equality check; here
    // ("ab","c") and ("a","bc") are two series however they hash.
    let reg = quiet();
    let fam = reg
        .counter_family(Opts::new("sep_total", "Sep.").labels(&["x", "y"]))
        .unwrap();
    fam.with_label_values(&["ab", "c"]).unwrap().inc();
    fam.with_label_values(&["a", "bc"]).unwrap().add(10);
    fam.with_label_values(&["", "abc"]).unwrap().add(100);
    assert_eq!(fam.len(), 3);
    assert_eq!(fam.with_label_values(&["ab", "c"]).unwrap().get(), 1);
    assert_eq!(fam.with_label_values(&["a", "bc"]).unwrap().get(), 10);
}

#[test]
fn handles_are_owned_so_nested_lookups_cannot_deadlock() {
    // prometheus-client's get_or_create hands out a lock guard: holding it
    // while creating another series deadlocks. telemeter hands out owned
    // handles.
    let reg = quiet();
    let fam = reg
        .counter_family(Opts::new("nested_total", "Nested.").labels(&["k"]))
        .unwrap();
    let a = fam.with_label_values(&["a"]).unwrap();
    let b = fam.with_label_values(&["b"]).unwrap();
    a.inc();
    b.inc();
    let _body = reg.encode_to_string(); // scraping while holding handles
    assert_eq!(fam.with_label_values(&["c"]).unwrap().get(), 0);
}

#[test]
fn hostile_label_values_and_help_stay_one_valid_body() {
    // metrics-exporter-prometheus treats `\\` as already escaped and
    // prometheus-client leaves values unescaped: one bad value breaks the
    // whole scrape. Here every value round-trips.
    let reg = quiet();
    let hostile = [
        "back\\slash",
        "quote\"d",
        "new\nline",
        "}#{",
        "\\\"\\n",
        "tab\tcr\r",
        "ünï©ødé 🚀",
        "",
    ];
    let fam = reg
        .counter_family(
            Opts::new(
                "hostile_total",
                "Help with \\ backslash\nand newline \"quotes\".",
            )
            .labels(&["v"]),
        )
        .unwrap();
    for (i, v) in hostile.iter().enumerate() {
        fam.with_label_values(&[v]).unwrap().add(i as u64 + 1);
    }
    let exp = parse(&reg.encode_to_string()).unwrap();
    let f = exp.family("hostile_total").unwrap();
    assert_eq!(
        f.help.as_deref(),
        Some("Help with \\ backslash\nand newline \"quotes\".")
    );
    for (i, v) in hostile.iter().enumerate() {
        assert_eq!(
            f.find("hostile_total", &[("v", v)]).unwrap().value,
            (i + 1) as f64,
            "{v:?}"
        );
    }
}

#[test]
fn families_keep_registration_order_and_series_keep_insertion_order() {
    let reg = quiet();
    let z = reg
        .counter_family(Opts::new("z_total", "z").labels(&["k"]))
        .unwrap();
    let _a = reg.counter("a_total", "a").unwrap();
    for k in ["q", "b", "x"] {
        z.with_label_values(&[k]).unwrap().inc();
    }
    let body = reg.encode_to_string();
    assert!(body.find("z_total").unwrap() < body.find("a_total").unwrap());
    let q = body.find("k=\"q\"").unwrap();
    let b = body.find("k=\"b\"").unwrap();
    let x = body.find("k=\"x\"").unwrap();
    assert!(q < b && b < x);
    assert_eq!(body, reg.encode_to_string(), "stable between scrapes");
}

#[test]
fn histogram_timer_and_integer_sum() {
    let reg = quiet();
    let h = reg
        .histogram(
            "size_bytes",
            "Sizes.",
            Buckets::exponential(1.0, 2.0, 10).unwrap(),
        )
        .unwrap();
    // 2^53 + 1 is not representable as f64: an integer sum keeps it exact
    // until the encoder formats it.
    h.observe_u64(1 << 40);
    h.observe_u64(3);
    let s = h.snapshot();
    assert_eq!(s.sum, ((1u64 << 40) + 3) as f64);
    let t = h.start_timer();
    let secs = t.observe_duration();
    assert!(secs >= 0.0);
    h.start_timer().discard();
    assert_eq!(h.snapshot().count, 3);
}

#[test]
fn default_registry_is_shared() {
    let c = telemeter::default_registry()
        .counter("default_shared_total", "Shared.")
        .unwrap();
    c.inc();
    assert!(telemeter::default_registry()
        .encode_to_string()
        .contains("default_shared_total 1\n"));
}

#[test]
fn borrowed_lookups_record_into_the_same_series_as_handles() {
    let reg = quiet();
    let fam = reg
        .histogram_family(
            Opts::new("borrowed_seconds", "Borrowed.").labels(&["op"]),
            Buckets::new(vec![1.0]).unwrap(),
        )
        .unwrap();
    fam.with(&["read"], |h| h.observe(0.5)).unwrap(); // creates the series
    fam.with(&["read"], |h| h.observe(2.0)).unwrap(); // finds it
    let handle = fam.with_label_values(&["read"]).unwrap();
    assert_eq!(handle.snapshot().buckets, vec![1, 1]);
    assert_eq!(fam.len(), 1);
    assert!(matches!(
        fam.with(&["read", "x"], |h| h.observe(1.0)),
        Err(Error::LabelCount { .. })
    ));
    // Past the cardinality limit the borrowed path records into the overflow
    // series too.
    let capped = reg
        .counter_family(
            Opts::new("borrowed_total", "B.")
                .labels(&["k"])
                .max_series(1),
        )
        .unwrap();
    capped.with(&["a"], |c| c.inc()).unwrap();
    capped.with(&["b"], |c| c.add(2)).unwrap();
    assert_eq!(capped.overflowed(), 1);
    // The overflow series is read from the scrape: its label set is no
    // caller's to look up (`Error::OverflowLabelSet`).
    let body = reg.encode_to_string();
    let overflow = parse(&body)
        .unwrap()
        .family("borrowed_total")
        .unwrap()
        .find("borrowed_total", &[("k", OVERFLOW_LABEL_VALUE)])
        .unwrap()
        .value;
    assert_eq!(overflow, 2.0);
}

#[test]
fn borrowed_lookups_nest_and_survive_a_panicking_closure() {
    let reg = quiet();
    let fam = reg
        .counter_family(Opts::new("nested_with_total", "N.").labels(&["k"]))
        .unwrap();
    // A lookup inside a lookup's closure finds this thread's cache busy and
    // takes the shared map: both record.
    fam.with(&["outer"], |outer| {
        fam.with(&["inner"], |inner| inner.add(2)).unwrap();
        let handle = fam.with_label_values(&["inner"]).unwrap();
        handle.inc();
        outer.inc();
    })
    .unwrap();
    assert_eq!(fam.with(&["outer"], |c| c.get()).unwrap(), 1);
    assert_eq!(fam.with(&["inner"], |c| c.get()).unwrap(), 3);
    // A closure that panics leaves the cache usable.
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        fam.with(&["outer"], |_| panic!("closure failure")).unwrap();
    }));
    assert!(caught.is_err());
    fam.with(&["outer"], |c| c.inc()).unwrap();
    assert_eq!(fam.with_label_values(&["outer"]).unwrap().get(), 2);
}

/// A counter never wraps or goes back: it stops at 2^63, in one shard,
/// across shards, and in a histogram's integer sum.
#[test]
fn counts_stop_at_the_ceiling_and_never_go_back() {
    let reg = Registry::builder().self_metrics(false).build();
    let c = reg.counter("ceiling_total", "C.").unwrap();
    c.add(u64::MAX);
    c.add(2);
    assert_eq!(c.get(), 1 << 63);
    c.inc();
    assert_eq!(c.get(), 1 << 63);
    // Two threads (two shards, or one handed from the first to the second)
    // each adding 2^63: the total stops at the ceiling too.
    let two = reg.counter("two_total", "T.").unwrap();
    let ts: Vec<_> = (0..2)
        .map(|_| {
            let two = two.clone();
            std::thread::spawn(move || two.add(1 << 63))
        })
        .collect();
    for t in ts {
        t.join().unwrap();
    }
    assert_eq!(two.get(), 1 << 63);
    let h = reg
        .histogram(
            "ceiling_bytes",
            "H.",
            telemeter::Buckets::linear(1.0, 1.0, 2).unwrap(),
        )
        .unwrap();
    h.observe_u64(u64::MAX);
    h.observe_u64(2);
    let body = reg.encode_to_string();
    let exp = telemeter::parse::parse(&body).unwrap();
    assert!(
        body.contains("ceiling_total 9223372036854775808\n"),
        "{body}"
    );
    assert!(body.contains("two_total 9223372036854775808\n"), "{body}");
    let hist = exp.family("ceiling_bytes").unwrap();
    assert_eq!(
        hist.find("ceiling_bytes_sum", &[]).unwrap().value,
        (1u64 << 63) as f64
    );
    assert_eq!(hist.find("ceiling_bytes_count", &[]).unwrap().value, 2.0);
}

/// A gauge stepped past `i64::MAX` wraps as documented.
#[test]
fn a_gauge_wraps_at_the_ends_of_the_i64_range_as_documented() {
    let reg = Registry::builder().self_metrics(false).build();
    let g = reg.gauge("edge", "E.").unwrap();
    g.set(i64::MAX);
    g.inc();
    assert_eq!(g.get(), i64::MIN);
    g.dec();
    assert_eq!(g.get(), i64::MAX);
    assert!(reg
        .encode_to_string()
        .contains("edge 9223372036854775807\n"));
}

/// The overflow series' label set cannot be created by a caller: a typed
/// error, before and after the family overflows, and the body keeps one
/// series with those labels.
#[test]
fn the_overflow_label_set_is_a_typed_error_not_a_second_series() {
    let reg = Registry::builder().self_metrics(false).build();
    let fam = reg
        .counter_family(Opts::new("ov_total", "O.").labels(&["k"]).max_series(1))
        .unwrap();
    let err = fam.with_label_values(&[OVERFLOW_LABEL_VALUE]).unwrap_err();
    assert_eq!(
        err,
        Error::OverflowLabelSet {
            family: "ov_total".into()
        }
    );
    assert!(err.to_string().contains("overflow series"), "{err}");
    fam.with_label_values(&["a"]).unwrap().inc();
    fam.with_label_values(&["b"]).unwrap().add(10); // redirected
    assert!(fam.with(&[OVERFLOW_LABEL_VALUE], |c| c.inc()).is_err());
    // A label set that only partly uses the value is an ordinary one.
    let two = reg
        .counter_family(Opts::new("two_total", "T.").labels(&["a", "b"]))
        .unwrap();
    two.with_label_values(&[OVERFLOW_LABEL_VALUE, "x"])
        .unwrap()
        .inc();
    let body = reg.encode_to_string();
    let exp = parse(&body).expect("one series per label set");
    let ov = &exp.family("ov_total").unwrap().samples;
    assert_eq!(ov.len(), 2, "{body}");
    let overflow = exp
        .family("ov_total")
        .unwrap()
        .find("ov_total", &[("k", OVERFLOW_LABEL_VALUE)])
        .unwrap();
    assert_eq!(overflow.value, 10.0);
}

/// A counter callback's negative or NaN value is dropped and counted, so
/// the body stays valid for the strict parser.
#[test]
fn a_counter_callbacks_negative_or_nan_value_is_dropped_and_counted() {
    let reg = Registry::new();
    reg.counter_fn("neg_total", "N.", || -1.0).unwrap();
    reg.counter_fn("nan_total", "N.", || f64::NAN).unwrap();
    reg.counter_fn("ok_total", "N.", || 2.5).unwrap();
    let body = reg.encode_to_string();
    let exp = parse(&body).unwrap_or_else(|e| panic!("{e}\n{body}"));
    assert!(exp.family("neg_total").unwrap().samples.is_empty());
    assert!(exp.family("nan_total").unwrap().samples.is_empty());
    assert_eq!(exp.family("ok_total").unwrap().samples[0].value, 2.5);
    let errors = exp
        .family("telemeter_scrape_callback_errors_total")
        .unwrap()
        .samples[0]
        .value;
    assert_eq!(errors, 2.0);
}

#[test]
fn a_label_value_past_the_limit_is_a_typed_error_and_creates_nothing() {
    use telemeter::DEFAULT_MAX_LABEL_VALUE_BYTES;
    assert_eq!(DEFAULT_MAX_LABEL_VALUE_BYTES, 2048);
    let reg = quiet();
    let fam = reg
        .counter_family(Opts::new("lv_total", "L.").labels(&["route", "id"]))
        .unwrap();
    let at = "x".repeat(DEFAULT_MAX_LABEL_VALUE_BYTES);
    let past = "x".repeat(DEFAULT_MAX_LABEL_VALUE_BYTES + 1);
    fam.with_label_values(&["/a", &at]).unwrap().inc();
    let e = fam.with_label_values(&["/a", &past]).unwrap_err();
    assert_eq!(
        e,
        Error::LabelValueTooLong {
            family: "lv_total".into(),
            label: "id".into(),
            len: DEFAULT_MAX_LABEL_VALUE_BYTES + 1,
            max: DEFAULT_MAX_LABEL_VALUE_BYTES,
        }
    );
    assert!(err_msg(e).contains("max_label_value_bytes"));
    // The borrowed form refuses it the same way.
    assert!(matches!(
        fam.with(&[&past, "1"], |c| c.inc()),
        Err(Error::LabelValueTooLong { ref label, .. }) if label == "route"
    ));
    // Bytes, not characters: 683 three-byte characters are 2049 bytes.
    let wide = "€".repeat(683);
    assert!(fam.with_label_values(&["/a", &wide]).is_err());
    let mut body = Vec::new();
    reg.encode(&mut body);
    let text = String::from_utf8(body).unwrap();
    assert_eq!(parse(&text).unwrap().sample_count(), 1, "{text}");

    // A registry may set its own limit.
    let reg = Registry::builder()
        .self_metrics(false)
        .max_label_value_bytes(4)
        .build();
    let fam = reg
        .counter_family(Opts::new("short_total", "S.").labels(&["k"]))
        .unwrap();
    assert!(fam.with_label_values(&["abcd"]).is_ok());
    assert!(matches!(
        fam.with_label_values(&["abcde"]),
        Err(Error::LabelValueTooLong { max: 4, len: 5, .. })
    ));
}

#[test]
fn registration_past_the_family_limit_is_a_typed_error() {
    use telemeter::DEFAULT_MAX_FAMILIES;
    assert_eq!(DEFAULT_MAX_FAMILIES, 100_000);
    let reg = Registry::builder()
        .self_metrics(false)
        .max_families(3)
        .build();
    let _a = reg.counter("a_total", "A.").unwrap();
    let _b = reg.gauge("b", "B.").unwrap();
    reg.gauge_fn("c", "C.", || 1.0).unwrap();
    let e = reg.counter("d_total", "D.").unwrap_err();
    assert_eq!(
        e,
        Error::FamilyLimit {
            name: "d_total".into(),
            max: 3
        }
    );
    assert!(err_msg(e).contains("max_families"));
    assert!(reg.gauge_fn("e", "E.", || 1.0).is_err());
    let mut body = Vec::new();
    reg.encode(&mut body);
    let text = String::from_utf8(body).unwrap();
    assert_eq!(parse(&text).unwrap().families.len(), 3, "{text}");
    // The default admits exactly DEFAULT_MAX_FAMILIES.
    let reg = quiet();
    for i in 0..DEFAULT_MAX_FAMILIES {
        let _ = reg.counter(&format!("f{i}_total"), "F.").unwrap();
    }
    assert!(matches!(
        reg.counter("one_more_total", "F."),
        Err(Error::FamilyLimit { max: 100_000, .. })
    ));
}

#[test]
fn clear_removes_every_series_and_the_overflow_and_new_ones_start_from_zero() {
    let reg = Registry::builder().self_metrics(false).build();
    let fam = reg
        .counter_family(
            Opts::new("conn_total", "Per connection.")
                .labels(&["peer"])
                .max_series(2),
        )
        .unwrap();
    let held = fam.with_label_values(&["a"]).unwrap();
    held.add(5);
    fam.with_label_values(&["b"]).unwrap().add(6);
    fam.with_label_values(&["c"]).unwrap().add(7); // overflow
    assert_eq!(fam.overflowed(), 1);
    assert_eq!(fam.clear(), 3);
    assert!(fam.is_empty());
    assert_eq!(
        reg.encode_to_string(),
        "# HELP conn_total Per connection.\n# TYPE conn_total counter\n"
    );
    // A handle from before keeps its own counts and is not scraped.
    held.inc();
    assert_eq!(held.get(), 6);
    assert!(!reg.encode_to_string().contains("peer="));
    // New series start from zero, the limit applies afresh, and the
    // overflow count (a counter) does not go back.
    assert_eq!(fam.with_label_values(&["a"]).unwrap().get(), 0);
    fam.with_label_values(&["d"]).unwrap().inc();
    fam.with_label_values(&["e"]).unwrap().inc();
    assert_eq!(fam.len(), 3, "a, d and the overflow series");
    assert_eq!(fam.overflowed(), 2);
    // An unlabelled family clears its one series too.
    let one = reg.gauge("one", "One.").unwrap();
    one.set(9);
    let fam_one = reg.gauge_family(Opts::new("two", "Two.")).unwrap();
    fam_one.with_label_values(&[]).unwrap().set(4);
    assert_eq!(fam_one.clear(), 1);
    assert_eq!(fam_one.with_label_values(&[]).unwrap().get(), 0);
}

#[test]
fn series_created_while_another_thread_clears_start_at_zero_and_keep_exact_counts() {
    // Four writers create fresh series and count into them while a fifth
    // thread clears the family over and over: slots are reused all the
    // time, and no series may start with, or receive, another's counts.
    let reg = Registry::builder().self_metrics(false).build();
    let fam = reg
        .counter_family(
            Opts::new("churn_total", "Churn.")
                .labels(&["w", "i"])
                .max_series(1_000_000),
        )
        .unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clearer = {
        let (fam, stop) = (fam.clone(), std::sync::Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut clears = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                fam.clear();
                clears += 1;
                std::thread::yield_now();
            }
            clears
        })
    };
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let fam = fam.clone();
            std::thread::spawn(move || {
                for i in 0..2_000u64 {
                    let w = w.to_string();
                    let i_s = i.to_string();
                    let h = fam.with_label_values(&[&w, &i_s]).unwrap();
                    assert_eq!(h.get(), 0, "series {w}/{i} started non-zero");
                    for _ in 0..(i % 7 + 1) {
                        h.inc();
                    }
                    assert_eq!(h.get(), i % 7 + 1, "series {w}/{i}");
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(clearer.join().unwrap() > 0);
    fam.clear();
    assert!(fam.is_empty());
}

#[test]
fn unregister_drops_a_family_with_its_aliases_and_frees_the_names() {
    let reg = Registry::builder().self_metrics(false).build();
    let fam = reg
        .counter_family(
            Opts::new("new_total", "New.")
                .labels(&["k"])
                .alias("old_total"),
        )
        .unwrap();
    fam.with_label_values(&["x"]).unwrap().add(3);
    reg.gauge_fn("cb", "A callback.", || 1.0).unwrap();
    let keep = reg.counter("keep_total", "Kept.").unwrap();
    keep.inc();
    assert!(reg.unregister("new_total"));
    assert!(reg.unregister("cb"));
    assert!(!reg.unregister("new_total"), "only once");
    assert!(
        !reg.unregister("old_total"),
        "an alias is not a registration"
    );
    assert_eq!(
        reg.encode_to_string(),
        "# HELP keep_total Kept.\n# TYPE keep_total counter\nkeep_total 1\n"
    );
    // Every reserved name is free again, the alias's included.
    let old = reg.counter("old_total", "Reused.").unwrap();
    assert_eq!(old.get(), 0);
    reg.gauge_fn("cb", "Again.", || 2.0).unwrap();
    let again = reg
        .counter_family(Opts::new("new_total", "New again.").labels(&["k"]))
        .unwrap();
    assert_eq!(again.with_label_values(&["x"]).unwrap().get(), 0);
    // The old family's handles still work, unscraped.
    fam.with_label_values(&["x"]).unwrap().inc();
    assert_eq!(fam.with_label_values(&["x"]).unwrap().get(), 4);
    assert!(reg.encode_to_string().contains("new_total{k=\"x\"} 0\n"));
    assert!(reg.encode_to_string().contains("cb 2\n"));
}

#[test]
fn a_prefix_and_constant_labels_apply_to_every_family_callback_and_alias() {
    let reg = Registry::builder()
        .self_metrics(false)
        .prefix("nexo_")
        .const_labels(&[("instance", "agent-7"), ("zone", "eu \"west\"")])
        .try_build()
        .unwrap();
    let calls = reg
        .counter_family(
            Opts::new("calls_total", "Calls.")
                .labels(&["method"])
                .alias("old_calls_total"),
        )
        .unwrap();
    calls.with_label_values(&["GET"]).unwrap().add(2);
    // The same label values find the same series (the constant labels are
    // in its text, after the family's own).
    calls.with_label_values(&["GET"]).unwrap().inc();
    assert_eq!(calls.len(), 1);
    let lat = reg
        .histogram_family(
            Opts::new("latency_seconds", "Latency.").labels(&["method"]),
            Buckets::new(vec![0.5]).unwrap(),
        )
        .unwrap();
    lat.with_label_values(&["GET"]).unwrap().observe(0.1);
    reg.gauge("up", "Up.").unwrap().set(1);
    reg.gauge_fn("plugins", "Plugins.", || 3.0).unwrap();
    reg.gauge_callback(Opts::new("breaker", "Breakers.").labels(&["name"]), |s| {
        s.sample(&["nats"], 0.0)
    })
    .unwrap();
    let body = reg.encode_to_string();
    let c = r#"instance="agent-7",zone="eu \"west\"""#;
    for line in [
        format!("nexo_calls_total{{method=\"GET\",{c}}} 3\n"),
        format!("nexo_old_calls_total{{method=\"GET\",{c}}} 3\n"),
        format!("nexo_latency_seconds_bucket{{method=\"GET\",{c},le=\"0.5\"}} 1\n"),
        format!("nexo_latency_seconds_bucket{{method=\"GET\",{c},le=\"+Inf\"}} 1\n"),
        format!("nexo_latency_seconds_count{{method=\"GET\",{c}}} 1\n"),
        format!("nexo_up{{{c}}} 1\n"),
        format!("nexo_plugins{{{c}}} 3\n"),
        format!("nexo_breaker{{name=\"nats\",{c}}} 0\n"),
    ] {
        assert!(body.contains(&line), "{line:?} in\n{body}");
    }
    telemeter::parse::parse(&body).unwrap_or_else(|e| panic!("{e}\n{body}"));
    // Removal, clearing and unregistering work through the scope.
    assert!(calls.remove(&["GET"]).unwrap());
    assert_eq!(calls.with_label_values(&["GET"]).unwrap().get(), 0);
    assert_eq!(calls.clear(), 1);
    assert!(
        reg.unregister("calls_total"),
        "the handle's own prefix is added"
    );
    assert!(!reg.encode_to_string().contains("calls_total"));
}

#[test]
fn sub_prefixes_and_labels_compose_and_share_one_registry() {
    let root = Registry::builder()
        .self_metrics(false)
        .prefix("app_")
        .build();
    let lib = root
        .with_prefix("cache_")
        .unwrap()
        .with_const_labels(&[("tier", "l1")])
        .unwrap();
    let deeper = lib.with_const_labels(&[("shard", "2")]).unwrap();
    lib.counter("hits_total", "Hits.").unwrap().inc();
    deeper.counter("misses_total", "Misses.").unwrap().inc();
    let body = root.encode_to_string();
    assert!(
        body.contains("app_cache_hits_total{tier=\"l1\"} 1\n"),
        "{body}"
    );
    assert!(
        body.contains("app_cache_misses_total{tier=\"l1\",shard=\"2\"} 1\n"),
        "{body}"
    );
    // One registry: the names clash across handles.
    assert!(matches!(
        root.counter("cache_hits_total", "Again."),
        Err(Error::DuplicateMetric { .. })
    ));
    assert_eq!(lib.encode_to_string(), body);
}

#[test]
fn bad_prefixes_and_constant_labels_are_typed_errors_at_build_or_registration() {
    type Check = fn(&Error) -> bool;
    let cases: Vec<(telemeter::RegistryBuilder, Check)> = vec![
        (Registry::builder().prefix("9x_"), |e| {
            matches!(e, Error::InvalidMetricName { .. })
        }),
        (Registry::builder().prefix("__x_"), |e| {
            matches!(e, Error::ReservedName { .. })
        }),
        (Registry::builder().prefix("telemeter_"), |e| {
            matches!(e, Error::ReservedPrefix { .. })
        }),
        (Registry::builder().const_labels(&[("le", "1")]), |e| {
            matches!(e, Error::ReservedLabel { .. })
        }),
        (Registry::builder().const_labels(&[("a-b", "1")]), |e| {
            matches!(e, Error::InvalidLabelName { .. })
        }),
        (
            Registry::builder().const_labels(&[("a", "1"), ("a", "2")]),
            |e| matches!(e, Error::DuplicateLabelName { .. }),
        ),
        (
            Registry::builder()
                .max_label_value_bytes(4)
                .const_labels(&[("a", "12345")]),
            |e| matches!(e, Error::LabelValueTooLong { .. }),
        ),
    ];
    for (builder, is) in cases {
        let err = builder.clone().try_build().unwrap_err();
        assert!(is(&err), "{err:?}");
        // `build` never panics: every registration returns the error.
        let reg = builder.build();
        assert_eq!(reg.counter("x_total", "X.").unwrap_err(), err);
        assert_eq!(reg.gauge_fn("g", "G.", || 1.0).unwrap_err(), err);
    }
    let reg = Registry::new()
        .with_const_labels(&[("instance", "a")])
        .unwrap();
    assert!(matches!(
        reg.counter_family(Opts::new("x_total", "X.").labels(&["instance"])),
        Err(Error::DuplicateLabelName { .. })
    ));
    assert!(matches!(
        reg.with_const_labels(&[("instance", "b")]),
        Err(Error::DuplicateLabelName { .. })
    ));
}
