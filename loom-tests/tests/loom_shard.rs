//! Loom models of the shard protocol: hand-off from an exiting thread to a
//! new one, and increments racing a scrape.
//!
//! Run with `RUSTFLAGS="--cfg telemeter_loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p loom-tests --release`.
//! Under loom the pool has 2 exclusive shards and 1 shared shard, and
//! segments start at 4 slots, so three recording threads exercise the
//! shared fallback and a histogram crosses a segment boundary.
//!
//! The model's main thread never records (it registers, scrapes and
//! removes): loom drops its lazy statics, the process-wide shard pool among
//! them, before the main thread's thread-locals, so a shard held by the
//! main thread could not be handed back at the end of an execution.
#![cfg(telemeter_loom)]

mod support;
use support::thread;
use telemeter::{Buckets, Registry};

fn quiet() -> Registry {
    Registry::builder().self_metrics(false).build()
}

#[test]
fn exiting_thread_hands_its_shard_to_the_next_without_loss() {
    loom::model(|| {
        let reg = quiet();
        let c = reg.counter("handoff_total", "h").unwrap();
        let (a, b, d) = (c.clone(), c.clone(), c.clone());
        let t1 = thread::spawn(move || {
            a.inc();
            a.inc();
        });
        let t2 = thread::spawn(move || b.add(3));
        // A third writer: with two exclusive shards, one of the three
        // threads may have to use the shared fetch_add shard, or take the
        // shard an exited thread gave back.
        let t3 = thread::spawn(move || d.add(10));
        t1.join().unwrap();
        t2.join().unwrap();
        t3.join().unwrap();
        assert_eq!(c.get(), 15);
    });
}

#[test]
fn sequential_threads_reuse_a_shard_and_keep_its_counts() {
    loom::model(|| {
        let reg = quiet();
        let c = reg.counter("reuse_total", "h").unwrap();
        let a = c.clone();
        thread::spawn(move || a.add(5)).join().unwrap();
        let b = c.clone();
        let t = thread::spawn(move || b.add(7));
        let seen = c.get();
        assert!(seen == 5 || seen == 12, "saw {seen}");
        t.join().unwrap();
        assert_eq!(c.get(), 12);
    });
}

#[test]
fn increments_racing_a_scrape_never_go_backwards_and_end_exact() {
    loom::model(|| {
        let reg = quiet();
        let c = reg.counter("race_total", "h").unwrap();
        let w = c.clone();
        let t = thread::spawn(move || {
            w.inc();
            w.add(2);
        });
        let first = c.get();
        let second = c.get();
        assert!(first <= second, "{first} then {second}");
        assert!(second <= 3);
        t.join().unwrap();
        assert_eq!(c.get(), 3);
    });
}

#[test]
fn histogram_scrape_is_consistent_while_observing() {
    loom::model(|| {
        let reg = quiet();
        // One bound: 2 bucket cells + 2 sum cells fill a 4-slot segment.
        let h = reg
            .histogram("race_seconds", "h", Buckets::new(vec![1.0]).unwrap())
            .unwrap();
        let w = h.clone();
        let t = thread::spawn(move || {
            w.observe(0.5);
            w.observe_u64(3);
        });
        let a = h.snapshot();
        let b = h.snapshot();
        assert!(a.count <= b.count);
        for (x, y) in a.buckets.iter().zip(&b.buckets) {
            assert!(x <= y, "bucket went backwards");
        }
        assert_eq!(b.count, b.buckets.iter().sum::<u64>());
        t.join().unwrap();
        let end = h.snapshot();
        assert_eq!(end.buckets, vec![1, 1]);
        assert_eq!(end.sum, 3.5);
    });
}
