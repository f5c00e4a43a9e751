//! Loom models of series removal with slot reuse, and of registration
//! races. Run as `loom_shard.rs` says.
//! The main thread never records; see `loom_shard.rs`.
#![cfg(telemeter_loom)]

mod support;
use support::thread;
use telemeter::{Error, Opts, Registry};

fn quiet() -> Registry {
    Registry::builder().self_metrics(false).build()
}

#[test]
fn removed_series_slots_are_reused_only_zeroed_and_after_the_last_handle() {
    loom::model(|| {
        let reg = quiet();
        let fam = reg
            .counter_family(Opts::new("rm_total", "h").labels(&["k"]))
            .unwrap();
        let old = fam.with_label_values(&["a"]).unwrap();
        let t = thread::spawn(move || {
            old.add(4);
            drop(old); // the last handle: the slot may be freed now
        });
        assert!(fam.remove(&["a"]).unwrap());
        // Possibly reusing the removed series' slot, possibly racing the
        // writer: a new series must start at zero and stay there.
        let fresh = fam.with_label_values(&["b"]).unwrap();
        assert_eq!(fresh.get(), 0);
        t.join().unwrap();
        assert_eq!(fresh.get(), 0);
        let f2 = fresh.clone();
        thread::spawn(move || f2.inc()).join().unwrap();
        assert_eq!(fresh.get(), 1);
        // And once everything is gone, a third series reuses a freed slot
        // from zero too.
        drop(fresh);
        assert!(fam.remove(&["b"]).unwrap());
        let third = fam.with_label_values(&["c"]).unwrap();
        assert_eq!(third.get(), 0);
    });
}

#[test]
fn two_threads_registering_one_family_get_one_family() {
    loom::model(|| {
        let reg = quiet();
        let r2 = reg.clone();
        let t = thread::spawn(move || {
            r2.counter_family(Opts::new("raced_total", "h").labels(&["k"]))
                .map(|f| f.with_label_values(&["x"]).unwrap().inc())
        });
        let mine = reg
            .counter_family(Opts::new("raced_total", "h").labels(&["k"]))
            .map(|f| {
                let c = f.with_label_values(&["x"]).unwrap();
                thread::spawn(move || c.inc()).join().unwrap();
            });
        let theirs = t.join().unwrap();
        assert!(
            mine.is_ok() != theirs.is_ok(),
            "exactly one registration wins"
        );
        let loser = if mine.is_ok() { theirs } else { mine };
        assert!(matches!(loser, Err(Error::DuplicateMetric { .. })));
        let body = reg.encode_to_string();
        assert_eq!(body.matches("# TYPE raced_total counter").count(), 1);
        assert!(body.contains("raced_total{k=\"x\"} 1\n"));
    });
}

#[test]
fn concurrent_first_lookups_of_one_label_set_share_one_series() {
    loom::model(|| {
        let reg = quiet();
        let fam = reg
            .counter_family(Opts::new("lookup_total", "h").labels(&["k"]))
            .unwrap();
        let f2 = fam.clone();
        let t = thread::spawn(move || f2.with_label_values(&["x"]).unwrap().inc());
        let mine = fam.with_label_values(&["x"]).unwrap();
        t.join().unwrap();
        thread::spawn(move || mine.inc()).join().unwrap();
        assert_eq!(fam.len(), 1);
        assert_eq!(fam.with_label_values(&["x"]).unwrap().get(), 2);
    });
}

#[test]
fn a_registration_is_in_every_scrape_that_follows_it() {
    // Registrations only mark the published family list stale; the next
    // reader republishes it. A scrape racing the registration sees the
    // family whole or not at all; one after the join always sees it.
    loom::model(|| {
        let reg = quiet();
        let r2 = reg.clone();
        let t = thread::spawn(move || {
            r2.gauge_fn("late", "h", || 1.0).unwrap();
        });
        let during = reg.encode_to_string();
        assert!(during.is_empty() || during == "# HELP late h\n# TYPE late gauge\nlate 1\n");
        t.join().unwrap();
        let after = reg.encode_to_string();
        assert_eq!(after, "# HELP late h\n# TYPE late gauge\nlate 1\n");
    });
}

#[test]
fn a_scrape_racing_removal_and_creation_reads_no_freed_series() {
    // The scrape takes no lock (family/list.rs): it may see the removed
    // series, no series, or the new one in the removed one's slot, and a
    // removed series is freed only after every scrape that could read it
    // (a free concurrent with a scrape's read fails the model: see
    // `Series::touch`).
    let line = |k: &str| format!("rm_total{{k=\"{k}\"}} 0\n");
    loom::model(move || {
        let reg = quiet();
        let fam = reg
            .counter_family(Opts::new("rm_total", "h").labels(&["k"]))
            .unwrap();
        drop(fam.with_label_values(&["a"]).unwrap());
        let r2 = reg.clone();
        let t = thread::spawn(move || r2.encode_to_string());
        assert!(fam.remove(&["a"]).unwrap());
        drop(fam.with_label_values(&["b"]).unwrap());
        let head = "# HELP rm_total h\n# TYPE rm_total counter\n";
        let during = t.join().unwrap();
        let ok = [
            head.to_string(),
            format!("{head}{}", line("a")),
            format!("{head}{}", line("b")),
        ];
        assert!(ok.contains(&during), "{during}");
        assert_eq!(reg.encode_to_string(), format!("{head}{}", line("b")));
    });
}

#[test]
fn removals_during_two_overlapping_scrapes_are_freed_after_both() {
    // Two scrapes at once: removals meet a non-zero reader count, retire
    // the series, and whichever of them leaves last (or a later writer)
    // frees them; a free before either scrape is done fails the model.
    loom::model(|| {
        let reg = quiet();
        let fam = reg
            .counter_family(Opts::new("rm_total", "h").labels(&["k"]))
            .unwrap();
        drop(fam.with_label_values(&["a"]).unwrap());
        drop(fam.with_label_values(&["b"]).unwrap());
        let scrapes: Vec<_> = (0..2)
            .map(|_| {
                let r = reg.clone();
                thread::spawn(move || r.encode_to_string())
            })
            .collect();
        assert!(fam.remove(&["a"]).unwrap());
        assert!(fam.remove(&["b"]).unwrap());
        for s in scrapes {
            let body = s.join().unwrap();
            assert!(body.lines().count() <= 4, "{body}");
        }
        assert_eq!(fam.len(), 0);
    });
}

#[test]
fn a_scrape_racing_clear_and_a_writer_reads_no_freed_series_and_no_mixed_counts() {
    // `Family::clear` unlists every series as `remove` does one: a scrape
    // racing it sees the series or none, never a freed one; a writer that
    // still holds a handle keeps its counts; a series created after the
    // clear, possibly in a reused slot, starts at zero.
    loom::model(|| {
        let reg = quiet();
        let fam = reg
            .counter_family(Opts::new("cl_total", "h").labels(&["k"]))
            .unwrap();
        let old = fam.with_label_values(&["a"]).unwrap();
        drop(fam.with_label_values(&["b"]).unwrap());
        let r2 = reg.clone();
        let scrape = thread::spawn(move || r2.encode_to_string());
        let writer = thread::spawn(move || {
            old.add(3);
            old.get()
        });
        assert_eq!(fam.clear(), 2);
        let fresh = fam.with_label_values(&["c"]).unwrap();
        assert_eq!(fresh.get(), 0);
        let during = scrape.join().unwrap();
        assert!(!during.contains("k=\"c\"} 3"), "{during}");
        assert_eq!(writer.join().unwrap(), 3);
        assert_eq!(fresh.get(), 0);
        let head = "# HELP cl_total h\n# TYPE cl_total counter\n";
        assert_eq!(
            reg.encode_to_string(),
            format!("{head}cl_total{{k=\"c\"}} 0\n")
        );
    });
}

#[test]
fn a_scrape_racing_unregister_sees_the_family_whole_or_not_at_all() {
    loom::model(|| {
        let reg = quiet();
        let c = reg.counter("un_total", "h").unwrap();
        let c2 = c.clone();
        thread::spawn(move || c2.add(2)).join().unwrap();
        let r2 = reg.clone();
        let scrape = thread::spawn(move || r2.encode_to_string());
        assert!(reg.unregister("un_total"));
        let during = scrape.join().unwrap();
        let whole = "# HELP un_total h\n# TYPE un_total counter\nun_total 2\n";
        assert!(during.is_empty() || during == whole, "{during}");
        assert_eq!(reg.encode_to_string(), "");
        // The name is free again; the new counter starts at zero.
        let again = reg.counter("un_total", "h").unwrap();
        assert_eq!(again.get(), 0);
        assert_eq!(c.get(), 2);
    });
}

#[test]
fn a_scrape_racing_a_new_group_member_and_a_help_change_sees_one_whole_family() {
    loom::model(|| {
        let reg = quiet();
        let group = reg.loom_group("g_total", "old").unwrap();
        let first = group.counter(&["a"], &["1"]).unwrap();
        thread::spawn(move || first.add(2)).join().unwrap();
        let r2 = reg.clone();
        let scrape = thread::spawn(move || r2.encode_to_string());
        let second = group.counter(&["b"], &["2"]).unwrap();
        group.set_help("new");
        thread::spawn(move || second.inc()).join().unwrap();
        let during = scrape.join().unwrap();
        // One header (old or new), the first member's series, and the
        // second member's whole or not at all: never a second header.
        let ok = ["old", "new"].iter().any(|help| {
            let head =
                format!("# HELP g_total {help}\n# TYPE g_total counter\ng_total{{a=\"1\"}} 2\n");
            during == head
                || during == format!("{head}g_total{{b=\"2\"}} 0\n")
                || during == format!("{head}g_total{{b=\"2\"}} 1\n")
        });
        assert!(ok, "{during}");
        assert_eq!(
            reg.encode_to_string(),
            "# HELP g_total new\n# TYPE g_total counter\ng_total{a=\"1\"} 2\ng_total{b=\"2\"} 1\n"
        );
    });
}

#[test]
fn two_first_exemplars_racing_a_scrape_publish_one_set_of_cells_and_lose_no_count() {
    loom::model(|| {
        let reg = quiet();
        let c = reg.counter("ex_total", "h").unwrap();
        let (c1, c2) = (c.clone(), c.clone());
        let t1 = thread::spawn(move || {
            c1.inc_with_exemplar(&[("trace_id", "a")]);
            telemeter::loom_thread_exit();
        });
        let r2 = reg.clone();
        let scrape = thread::spawn(move || {
            let body = r2.encode_openmetrics_to_string();
            telemeter::loom_thread_exit();
            body
        });
        // Recording on the model's main thread would leave its shard to
        // loom's shutdown: a third thread instead.
        let t2 = thread::spawn(move || {
            c2.inc_with_exemplar(&[("trace_id", "b")]);
            telemeter::loom_thread_exit();
        });
        t1.join().unwrap();
        t2.join().unwrap();
        let during = scrape.join().unwrap();
        // A count of 0, 1 or 2, and an exemplar that one of the writers
        // recorded whole, or none yet.
        let line = during
            .lines()
            .find(|l| l.starts_with("ex_total "))
            .unwrap_or_else(|| panic!("{during}"));
        let ok = ["0", "1", "2"].iter().any(|n| {
            line == format!("ex_total {n}")
                || ["a", "b"]
                    .iter()
                    .any(|id| line.starts_with(&format!("ex_total {n} # {{trace_id=\"{id}\"}} 1 ")))
        });
        assert!(ok, "{line}");
        // After both: every count, and the last writer's exemplar.
        let after = reg.encode_openmetrics_to_string();
        assert!(
            after.contains("ex_total 2 # {trace_id=\"a\"} 1 ")
                || after.contains("ex_total 2 # {trace_id=\"b\"} 1 "),
            "{after}"
        );
        assert_eq!(c.get(), 2);
    });
}
