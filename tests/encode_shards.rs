//! A scrape of counters recorded by many threads at once, each with a
//! shard of its own: from 6 shards on the encoder sums a batch of counters
//! shard by shard (`Pool::sum_each`) instead of series by series; the
//! totals must be the same, for every series of every batch.

use std::sync::Barrier;
use std::thread;

use telemeter::parse::parse;
use telemeter::{Buckets, Opts, Registry};

/// More than two batches of 64, so that the last batch is partial.
const SERIES: usize = 150;
const THREADS: usize = 7;

#[test]
fn counters_recorded_by_many_threads_scrape_exactly() {
    let reg = Registry::builder().self_metrics(false).build();
    let ctr = reg
        .counter_family(Opts::new("work_total", "Work.").labels(&["item"]))
        .unwrap();
    let hist = reg
        .histogram_family(
            Opts::new("work_seconds", "Work time.").labels(&["item"]),
            Buckets::linear(1.0, 1.0, 3).unwrap(),
        )
        .unwrap();
    let barrier = Barrier::new(THREADS);
    thread::scope(|scope| {
        for t in 0..THREADS {
            let (ctr, hist, barrier) = (&ctr, &hist, &barrier);
            scope.spawn(move || {
                for i in 0..SERIES {
                    let item = i.to_string();
                    ctr.with_label_values(&[&item])
                        .unwrap()
                        .add((t as u64 + 1) * (i as u64 + 1));
                    hist.with(&[&item], |h| h.observe_u64(t as u64 % 4))
                        .unwrap();
                }
                // Alive at once: each thread holds a shard of its own.
                barrier.wait();
            });
        }
    });
    assert!(
        telemeter::pool_stats().shards >= THREADS,
        "{} shards: the threads did not record at once",
        telemeter::pool_stats().shards
    );
    // The main thread records too, into a shard of its own.
    ctr.with_label_values(&["0"]).unwrap().inc();

    let body = reg.encode_to_string();
    let exposition = parse(&body).unwrap_or_else(|e| panic!("{e}\n{body}"));
    let counters = exposition.family("work_total").unwrap();
    let per_thread: u64 = (1..=THREADS as u64).sum();
    for i in 0..SERIES {
        let item = i.to_string();
        let got = counters
            .find("work_total", &[("item", &item)])
            .unwrap_or_else(|| panic!("no series {item}"))
            .value;
        let want = per_thread * (i as u64 + 1) + u64::from(i == 0);
        assert_eq!(got, want as f64, "series {item}");
    }
    let histograms = exposition.family("work_seconds").unwrap();
    for i in [0, 63, 64, 149] {
        let item = i.to_string();
        let count = histograms
            .find("work_seconds_count", &[("item", &item)])
            .unwrap()
            .value;
        assert_eq!(count, THREADS as f64, "series {item}");
        // Observations t % 4 for t in 0..7: 0,1,2,3,0,1,2 sum to 9.
        let sum = histograms
            .find("work_seconds_sum", &[("item", &item)])
            .unwrap()
            .value;
        assert_eq!(sum, 9.0, "series {item}");
    }
}
