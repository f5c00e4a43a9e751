//! Helpers shared by the criterion benches: CPU pinning, the 2-thread and
//! N-thread spin-barrier runners, the label values every participant uses, a
//! string label set for `measured`, and every participant's handle
//! ([`peers`]).
//!
//! Each bench includes this file with `mod common;`; not every bench uses
//! every helper.
#![allow(dead_code)]

pub mod peers;

use std::collections::HashMap;
use std::hint::spin_loop;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The Prometheus client default buckets (11 bounds), as every participant
/// is configured.
pub const DEFAULT_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Values `observe` cycles through: spread over all 12 buckets (+Inf
/// included), 16 of them so that the cycle index is a mask.
pub const OBSERVE_VALUES: [f64; 16] = [
    0.003, 0.007, 0.02, 0.04, 0.08, 0.2, 0.4, 0.8, 2.0, 4.0, 8.0, 20.0, 0.012, 0.3, 1.7, 0.06,
];

/// First label (`method`) values of the labelled-lookup bench.
pub const METHODS: [&str; 10] = [
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE", "PURGE",
];

/// Second label (`code`) values of the labelled-lookup bench.
pub const CODES: [&str; 10] = [
    "200", "201", "204", "301", "304", "400", "401", "403", "404", "500",
];

/// The 100 `(method, code)` label sets of the labelled-lookup bench, in the
/// order they are cycled through.
pub fn label_sets() -> Vec<(&'static str, &'static str)> {
    let mut v = Vec::with_capacity(100);
    for m in METHODS {
        for c in CODES {
            v.push((m, c));
        }
    }
    v
}

// ---------------------------------------------------------------------------
// CPU pinning. `libc` is in the dependency tree (tokio, getrandom, ...) but
// not a direct dev-dependency of this package, and the benches may not add
// one, so the two glibc functions are declared here directly.

#[cfg(target_os = "linux")]
mod affinity {
    /// glibc's `cpu_set_t`: 1024 bits.
    #[repr(C)]
    pub(super) struct CpuSet {
        pub(super) bits: [u64; 16],
    }

    extern "C" {
        pub(super) fn sched_setaffinity(pid: i32, cpusetsize: usize, mask: *const CpuSet) -> i32;
        pub(super) fn sched_getaffinity(pid: i32, cpusetsize: usize, mask: *mut CpuSet) -> i32;
    }
}

/// The CPUs this process may run on, in increasing order.
pub fn allowed_cpus() -> Vec<usize> {
    #[cfg(target_os = "linux")]
    {
        let mut set = affinity::CpuSet { bits: [0; 16] };
        // SAFETY: `set` is a valid, writable `cpu_set_t`-sized buffer and the
        // size passed is its size; pid 0 is the calling thread.
        let rc = unsafe {
            affinity::sched_getaffinity(0, std::mem::size_of::<affinity::CpuSet>(), &mut set)
        };
        if rc == 0 {
            return (0..1024)
                .filter(|cpu| set.bits[cpu / 64] & (1u64 << (cpu % 64)) != 0)
                .collect();
        }
    }
    Vec::new()
}

/// Pins the calling thread to `cpu`. Returns whether it worked.
pub fn pin_to(cpu: usize) -> bool {
    #[cfg(target_os = "linux")]
    {
        if cpu >= 1024 {
            return false;
        }
        let mut set = affinity::CpuSet { bits: [0; 16] };
        set.bits[cpu / 64] |= 1u64 << (cpu % 64);
        // SAFETY: `set` is a valid `cpu_set_t`-sized buffer and the size
        // passed is its size; pid 0 is the calling thread.
        let rc = unsafe {
            affinity::sched_setaffinity(0, std::mem::size_of::<affinity::CpuSet>(), &set)
        };
        rc == 0
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = cpu;
        false
    }
}

/// Tells once, on stderr, how the 2-thread benches place their threads.
pub fn report_pinning() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let cpus = allowed_cpus();
        if cpus.len() >= 2 {
            eprintln!(
                "2-thread benches: workers pinned to CPUs {} and {} (sched_setaffinity), released by a spin barrier",
                cpus[0], cpus[1]
            );
        } else {
            eprintln!(
                "2-thread benches: fewer than 2 CPUs allowed ({cpus:?}); workers NOT pinned"
            );
        }
    });
}

/// Runs `op(i)` for `i in 0..iters` on each of two threads at once and
/// returns the wall time from the moment both are released until the last
/// one finishes: the per-operation time of each thread is `result / iters`.
/// [`run_n`] with 2 threads (see there).
pub fn run_pair<F>(iters: u64, op: &F) -> Duration
where
    F: Fn(u64) + Sync,
{
    run_n(2, iters, op)
}

std::thread_local! {
    /// The index of the calling thread among `run_n`'s workers.
    static WORKER: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
}

/// The index (`0..threads`) of the calling thread among the workers of the
/// [`run_n`] call it belongs to; `usize::MAX` on any other thread. Set
/// before the worker's first `op`, so an `op` can use it to pick per-thread
/// state (a private slot) without any sharing.
#[inline(always)]
pub fn worker_index() -> usize {
    WORKER.with(|w| w.get())
}

/// Runs `op(i)` for `i in 0..iters` on each of `threads` threads at once and
/// returns the wall time from the moment the first is released until the
/// last one finishes, so the per-operation time of each thread is
/// `result / iters` (criterion's per-iteration time under `iter_custom`).
///
/// The threads are spawned afresh on every call (one call per criterion
/// sample). Worker `k` sets [`worker_index`] to `k`, pins itself to the
/// `k`-th allowed CPU (only when at least `threads` CPUs are allowed),
/// performs one untimed `op(u64::MAX)` (so
/// thread-local set-up such as taking a shard is not measured), then counts
/// down a shared `AtomicUsize` and spins until it reaches zero, so the loops
/// really overlap. The spawning thread only blocks in `join`.
pub fn run_n<F>(threads: usize, iters: u64, op: &F) -> Duration
where
    F: Fn(u64) + Sync,
{
    assert!(threads >= 1, "run_n needs at least one thread");
    let cpus = allowed_cpus();
    let pin = cpus.len() >= threads;
    let countdown = AtomicUsize::new(threads);
    let spans: Vec<(Instant, Instant)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|k| {
                let cpus = &cpus;
                let countdown = &countdown;
                s.spawn(move || {
                    WORKER.with(|w| w.set(k));
                    if pin {
                        pin_to(cpus[k]);
                    }
                    op(u64::MAX);
                    countdown.fetch_sub(1, Ordering::AcqRel);
                    while countdown.load(Ordering::Acquire) != 0 {
                        spin_loop();
                    }
                    let t0 = Instant::now();
                    for i in 0..iters {
                        op(i);
                    }
                    (t0, Instant::now())
                })
            })
            .collect();
        handles
            .into_iter()
            .enumerate()
            .map(|(k, h)| h.join().unwrap_or_else(|_| panic!("worker {k} panicked")))
            .collect()
    });
    let start = spans
        .iter()
        .map(|s| s.0)
        .min()
        .expect("at least one worker");
    let end = spans
        .iter()
        .map(|s| s.1)
        .max()
        .expect("at least one worker");
    end - start
}

// ---------------------------------------------------------------------------
// A string label set for `measured`.
//
// measured resolves string label values through a `FixedCardinalitySet`
// (`lasso::RodeoReader`, `indexmap::IndexSet`, `phf::OrderedSet` behind
// cargo features that this package does not enable). `StrSet` is the same
// thing in a few lines: a hash map from value to dense index, so measured
// gets its dense, fixed-cardinality storage (its fastest labelled path).

/// A fixed set of string label values with dense indices.
#[derive(Debug)]
pub struct StrSet {
    index: HashMap<&'static str, usize, foldhash::fast::RandomState>,
    values: Vec<&'static str>,
}

impl StrSet {
    /// A set holding `values`, indexed in order.
    pub fn new(values: &[&'static str]) -> StrSet {
        let mut index = HashMap::with_hasher(foldhash::fast::RandomState::default());
        for (i, v) in values.iter().enumerate() {
            index.insert(*v, i);
        }
        StrSet {
            index,
            values: values.to_vec(),
        }
    }
}

impl measured::label::LabelSet for StrSet {
    type Value<'a> = &'a str;

    fn dynamic_cardinality(&self) -> Option<usize> {
        Some(self.values.len())
    }

    fn encode(&self, value: Self::Value<'_>) -> Option<usize> {
        self.index.get(value).copied()
    }

    fn decode(&self, value: usize) -> Self::Value<'_> {
        self.values[value]
    }
}

impl measured::label::FixedCardinalitySet for StrSet {}
