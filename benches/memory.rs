//! Memory bench and check (a plain `main`, not criterion).
//!
//! A counting `#[global_allocator]` wraps `System` and tracks live bytes,
//! bytes allocated and allocation calls. The program measures:
//!
//! * heap growth per series: 10,000 unlabelled counters (whole, then
//!   again as the family alone and its series alone), 10,000 series of a
//!   2-label counter family, 10,000 series of a 2-label histogram family
//!   (11 buckets), first with 1 shard, then again with 4 shards;
//! * the split of that growth into the per-shard slot memory (8 bytes per
//!   slot per shard, allocated in geometric segments: see
//!   `telemeter::pool_stats()`) and everything else;
//! * allocations made by steady-state `Registry::encode` calls into a
//!   reused buffer, on the scrape bench's data set and on a registry that
//!   uses every feature (aliases, callbacks, overflow, self-metrics).
//!
//! It prints a table and exits non-zero if a steady-state scrape allocates
//! or a counter series (labelled, or an unlabelled counter's one series)
//! costs more than 128 bytes plus 8 bytes per shard, so it is a check as
//! well as a report. An unlabelled counter's family (its name, HELP/TYPE
//! header and registry entries) is a family's fixed cost, reported beside
//! it.
//!
//! Run: `cargo bench --bench memory`

use std::hint::black_box;
use std::process::ExitCode;
use std::sync::atomic::Ordering;

use telemeter::{pool_stats, Buckets, Opts, PoolStats, Registry};

#[path = "common/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::{live, Counting, ALLOCATED, CALLS};

#[global_allocator]
static GLOBAL: Counting = Counting;

const N: usize = 10_000;
const SIDE: usize = 100; // 100 x 100 label sets = N
const HIST_SLOTS: usize = 11 + 1 + 2; // buckets + +Inf, f64 sum, integer sum

/// Label values, allocated before any baseline is taken.
struct Labels {
    a: Vec<String>,
    b: Vec<String>,
    names: Vec<String>,
}

fn labels() -> Labels {
    Labels {
        a: (0..SIDE).map(|i| format!("component-{i}")).collect(),
        b: (0..SIDE).map(|i| format!("Method{i}")).collect(),
        names: (0..N)
            .map(|i| format!("bench_unlabelled_{i}_total"))
            .collect(),
    }
}

struct Row {
    what: &'static str,
    shards: usize,
    slots_per_series: usize,
    growth_per_series: f64,
    slot_bytes_allocated_per_series: f64,
    rest_per_series: f64,
    pool_before: PoolStats,
    pool_after: PoolStats,
}

/// Measures the heap growth of `f`, which creates `N` series holding
/// `slots` slots each, and splits it into slot segments and the rest.
fn measure(what: &'static str, slots: usize, f: impl FnOnce()) -> Row {
    let before = pool_stats();
    let l0 = live();
    f();
    let l1 = live();
    let after = pool_stats();
    assert_eq!(
        before.shards, after.shards,
        "shard count changed while measuring"
    );
    let growth = (l1 - l0) as f64;
    let slot_bytes = ((after.capacity_slots - before.capacity_slots) * 8 * after.shards) as f64;
    Row {
        what,
        shards: after.shards,
        slots_per_series: slots,
        growth_per_series: growth / N as f64,
        slot_bytes_allocated_per_series: slot_bytes / N as f64,
        rest_per_series: (growth - slot_bytes) / N as f64,
        pool_before: before,
        pool_after: after,
    }
}

fn series_rows(reg: &Registry, l: &Labels, tag: usize) -> Vec<Row> {
    let mut rows = Vec::new();

    // Unlabelled counters: one family per counter; the handles are kept in
    // a vector allocated before the baseline.
    let mut keep = Vec::with_capacity(N);
    let names: Vec<String> = l.names.iter().map(|n| format!("{n}_{tag}")).collect();
    rows.push(measure("unlabelled counter", 1, || {
        for n in &names {
            keep.push(reg.counter(n, "Requests served.").expect("valid counter"));
        }
    }));
    black_box(&keep);

    // The same, in two steps: the family (name, HELP/TYPE header, registry
    // entries), then its one series. The bar is per series, so it is
    // checked on the second step; the first is a family's fixed cost.
    let mut families = Vec::with_capacity(N);
    let mut series = Vec::with_capacity(N);
    let names: Vec<String> = l.names.iter().map(|n| format!("{n}_split_{tag}")).collect();
    rows.push(measure("unlabelled counter: the family alone", 0, || {
        for n in &names {
            families.push(
                reg.counter_family(Opts::new(n.as_str(), "Requests served."))
                    .expect("valid family"),
            );
        }
    }));
    rows.push(measure("unlabelled counter: its series", 1, || {
        for f in &families {
            series.push(f.with_label_values(&[]).expect("series"));
        }
    }));
    black_box((&families, &series));

    let fam = reg
        .counter_family(
            Opts::new(format!("bench_requests_{tag}_total"), "Requests served.")
                .labels(&["component", "method"]),
        )
        .expect("valid family");
    rows.push(measure("counter series (2 labels)", 1, || {
        for a in &l.a {
            for b in &l.b {
                fam.with_label_values(&[a, b]).expect("series").inc();
            }
        }
    }));
    assert_eq!(fam.len(), N);

    let hist = reg
        .histogram_family(
            Opts::new(format!("bench_latency_{tag}_seconds"), "Latency.")
                .labels(&["component", "method"]),
            Buckets::default_prometheus(),
        )
        .expect("valid family");
    rows.push(measure(
        "histogram series (2 labels, 11 buckets)",
        HIST_SLOTS,
        || {
            for a in &l.a {
                for b in &l.b {
                    hist.with_label_values(&[a, b])
                        .expect("series")
                        .observe(0.3);
                }
            }
        },
    ));
    assert_eq!(hist.len(), N);
    rows
}

/// The encode bench's data set, smaller label values aside.
fn scrape_registry() -> Registry {
    let reg = Registry::builder().self_metrics(false).build();
    for k in 0..10 {
        let fam = reg
            .counter_family(
                Opts::new(format!("bench_counter_{k}_total"), "Bench series.")
                    .labels(&["component", "method"]),
            )
            .expect("valid family");
        for i in 0..1000 {
            fam.with_label_values(&[
                &format!("component-{}", i / 20),
                &format!("Method{}", i % 20),
            ])
            .expect("series")
            .add(i as u64 + 1);
        }
    }
    let h = reg
        .histogram_family(
            Opts::new("bench_latency_seconds", "Bench series.").labels(&["component", "method"]),
            Buckets::default_prometheus(),
        )
        .expect("valid family");
    for i in 0..1000 {
        let s = h
            .with_label_values(&[
                &format!("component-{}", i / 20),
                &format!("Method{}", i % 20),
            ])
            .expect("series");
        s.observe(0.02 * i as f64);
        s.observe_u64(3);
    }
    reg
}

/// Every metric type, unlabelled.
fn add_types(reg: &Registry) {
    reg.counter("plain_total", "Plain.").expect("valid").add(3);
    reg.float_counter("cpu_seconds_total", "CPU.")
        .expect("valid")
        .add(0.25);
    reg.gauge("queue_length", "Queue.").expect("valid").set(-4);
    reg.float_gauge("temperature", "T.")
        .expect("valid")
        .set(21.5);
    reg.histogram("latency_seconds", "L.", Buckets::default_prometheus())
        .expect("valid")
        .observe(0.2);
}

/// A labelled family with a deprecated alias and hostile label values.
fn add_alias(reg: &Registry) {
    let fam = reg
        .counter_family(
            Opts::new("oxg_rpc_requests_total", "RPC calls.")
                .labels(&["component", "method"])
                .alias("glyph_rpc_requests_total"),
        )
        .expect("valid");
    for i in 0..4 {
        fam.with_label_values(&["api", &format!("M\"e\\t\nh{i}")])
            .expect("series")
            .inc();
    }
}

/// A family past its cardinality limit (it has an overflow series and a
/// non-zero `telemeter_series_overflow_total`).
fn add_overflow(reg: &Registry) {
    let fam = reg
        .counter_family(
            Opts::new("capped_total", "Capped.")
                .labels(&["user"])
                .max_series(2),
        )
        .expect("valid");
    for i in 0..5 {
        fam.with_label_values(&[&format!("u{i}")])
            .expect("series")
            .inc();
    }
    assert!(fam.overflowed() > 0);
}

/// Unlabelled scrape-time callbacks.
fn add_fn_callbacks(reg: &Registry) {
    reg.gauge_fn("active_plugins", "Plugins.", || 3.0)
        .expect("valid");
    reg.counter_fn("uptime_seconds_total", "Up.", || 12.0)
        .expect("valid");
}

/// A labelled scrape-time callback.
fn add_labelled_callback(reg: &Registry) {
    reg.gauge_callback(
        Opts::new("circuit_breaker_state", "0 closed, 1 open.").labels(&["breaker"]),
        |s: &mut telemeter::CallbackSink<'_>| {
            s.sample(&["nats"], 0.0);
            s.sample(&["postgres"], 1.0);
        },
    )
    .expect("valid");
}

/// The registries whose steady-state scrape must not allocate: the scrape
/// bench's data, then one feature at a time (so a failure names it), then
/// everything at once.
fn encode_cases() -> Vec<(&'static str, Registry)> {
    let with = |self_metrics: bool, adds: &[fn(&Registry)]| {
        let reg = Registry::builder().self_metrics(self_metrics).build();
        for add in adds {
            add(&reg);
        }
        reg
    };
    vec![
        (
            "scrape bench data (10,000 counters + 1,000 histograms)",
            scrape_registry(),
        ),
        ("every metric type, unlabelled", with(false, &[add_types])),
        (
            "labelled family with alias, escaped values",
            with(false, &[add_alias]),
        ),
        ("self-metrics on", with(true, &[add_types])),
        (
            "overflowed family, self-metrics off",
            with(false, &[add_overflow]),
        ),
        (
            "overflowed family, self-metrics on",
            with(true, &[add_overflow]),
        ),
        (
            "gauge_fn + counter_fn callbacks",
            with(false, &[add_fn_callbacks]),
        ),
        (
            "labelled gauge_callback",
            with(false, &[add_labelled_callback]),
        ),
        (
            "every feature at once, self-metrics on",
            with(
                true,
                &[
                    add_types,
                    add_alias,
                    add_overflow,
                    add_fn_callbacks,
                    add_labelled_callback,
                ],
            ),
        ),
    ]
}

/// Bytes and calls allocated by `rounds` encodes after `warm` warm-up
/// encodes, into one reused buffer.
fn steady_state_encode(reg: &Registry, warm: usize, rounds: usize) -> (u64, u64, usize) {
    let mut buf = Vec::new();
    for _ in 0..warm {
        buf.clear();
        reg.encode(&mut buf);
    }
    let b0 = ALLOCATED.load(Ordering::Relaxed);
    let c0 = CALLS.load(Ordering::Relaxed);
    for _ in 0..rounds {
        buf.clear();
        reg.encode(black_box(&mut buf));
    }
    let b1 = ALLOCATED.load(Ordering::Relaxed);
    let c1 = CALLS.load(Ordering::Relaxed);
    (b1 - b0, c1 - c0, buf.len())
}

fn print_rows(rows: &[Row]) {
    for r in rows {
        println!(
            "| {:<40} | {:>6} | {:>5} | {:>9.1} | {:>14.1} | {:>13} | {:>10.1} |",
            r.what,
            r.shards,
            r.slots_per_series,
            r.growth_per_series,
            r.slot_bytes_allocated_per_series,
            r.slots_per_series * 8 * r.shards,
            r.rest_per_series,
        );
    }
}

fn main() -> ExitCode {
    let mut failed = false;
    let l = labels();
    let reg = Registry::builder()
        .self_metrics(false)
        .default_max_series(1_000_000)
        .build();

    // Give the main thread its shard before any baseline.
    reg.counter("warm_total", "Warm.").expect("valid").inc();

    println!("## Heap growth per series (N = {N} series each)");
    println!();
    println!("| series kind | shards | slots | growth B/series | slot segments B/series | exact slots B/series (8 x slots x shards) | rest B/series |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let rows1 = series_rows(&reg, &l, 1);
    print_rows(&rows1);

    // Three more shards: threads that record once and exit (their shards
    // stay in the pool, as every exited thread's do).
    let before = pool_stats().shards;
    let warm = reg
        .counter_family(Opts::new("warm_family_total", "Warm.").labels(&["t"]))
        .expect("valid");
    let barrier = std::sync::Barrier::new(3);
    std::thread::scope(|s| {
        for t in 0..3 {
            let warm = &warm;
            let barrier = &barrier;
            s.spawn(move || {
                warm.with_label_values(&[&t.to_string()])
                    .expect("series")
                    .inc();
                // Hold the shard until all three have one, so that each
                // thread takes a new shard rather than a returned one.
                barrier.wait();
            });
        }
    });
    let shards_after = pool_stats().shards;
    assert!(
        shards_after >= before + 3,
        "expected 3 more shards, have {shards_after}"
    );
    let rows4 = series_rows(&reg, &l, 4);
    print_rows(&rows4);
    println!();

    // Why labelled families keep their label map until they need it: a
    // papaya map owns its own `seize::Collector` with per-thread
    // reservation and batch tables. `src/family.rs` creates it with the
    // first labelled series; a family without labels never has one.
    let mut maps: Vec<papaya::HashMap<u64, u64, foldhash::fast::RandomState>> =
        Vec::with_capacity(1000);
    let l0 = live();
    for i in 0..1000u64 {
        let m = papaya::HashMap::builder()
            .hasher(foldhash::fast::RandomState::default())
            .build();
        m.pin().insert(i, i);
        maps.push(m);
    }
    let papaya_per_map = (live() - l0) as f64 / 1000.0;
    drop(maps);
    println!(
        "Diagnostic: one `papaya::HashMap` with one entry, built as `src/family.rs` builds \
         a labelled family's label map and used from one thread: {papaya_per_map:.0} B \
         (created with a family's first labelled series; a family without labels has none)."
    );
    println!();

    println!("Pool after each measurement (`telemeter::pool_stats()`):");
    println!();
    for r in rows1.iter().chain(rows4.iter()) {
        println!(
            "- {} ({} shards): live_slots {} -> {}, capacity_slots {} -> {}",
            r.what,
            r.shards,
            r.pool_before.live_slots,
            r.pool_after.live_slots,
            r.pool_before.capacity_slots,
            r.pool_after.capacity_slots
        );
    }
    println!();

    // Per-shard slope and fixed part, from the exact slot cost.
    println!("## Bar: a counter series costs at most 128 B + 8 B per shard");
    println!();
    // Rows 0 and 1: the whole unlabelled counter and its family alone, a
    // family's cost (reported above and below, not a series').
    let whole = (&rows1[0], &rows4[0]);
    println!(
        "- unlabelled counter, family and series together: {:.1} / {:.1} B (1 / {} shards), of which the family alone (name, HELP/TYPE header, registry entries) {:.1} / {:.1} B: a family's cost, which the bar does not cover",
        whole.0.growth_per_series,
        whole.1.growth_per_series,
        whole.1.shards,
        rows1[1].growth_per_series,
        rows4[1].growth_per_series,
    );
    for (r1, r4) in rows1.iter().zip(rows4.iter()).skip(2).take(2) {
        let fixed = r1.rest_per_series.max(r4.rest_per_series);
        let budget1 = 128.0 + 8.0 * r1.shards as f64;
        let budget4 = 128.0 + 8.0 * r4.shards as f64;
        let exact1 = fixed + (8 * r1.shards) as f64;
        let exact4 = fixed + (8 * r4.shards) as f64;
        let ok = exact1 <= budget1 && exact4 <= budget4;
        println!(
            "- {}: {:.1} B fixed + 8 B x shards = {:.1} B at {} shard(s) (budget {:.0}), {:.1} B at {} shards (budget {:.0}); raw growth incl. segment rounding {:.1} / {:.1} B: {}",
            r1.what,
            fixed,
            exact1,
            r1.shards,
            budget1,
            exact4,
            r4.shards,
            budget4,
            r1.growth_per_series,
            r4.growth_per_series,
            if ok { "MET" } else { "NOT MET" }
        );
        if !ok {
            failed = true;
        }
    }
    println!();

    println!("## Steady-state scrape allocations (reused buffer, after 3 warm-up encodes)");
    println!();
    println!("| registry | body bytes | encodes | bytes allocated | allocation calls |");
    println!("|---|---:|---:|---:|---:|");
    for (name, r) in encode_cases() {
        let (bytes, calls, len) = steady_state_encode(&r, 3, 20);
        println!("| {name} | {len} | 20 | {bytes} | {calls} |");
        if bytes != 0 || calls != 0 {
            failed = true;
        }
    }
    println!();

    if failed {
        println!("FAILED: a steady-state scrape allocated or a counter series is over budget");
        ExitCode::FAILURE
    } else {
        println!("ok: steady-state scrapes allocate nothing; counter series within budget");
        ExitCode::SUCCESS
    }
}
