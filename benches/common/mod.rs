//! Helpers shared by the criterion benches: CPU pinning, the 2-thread
//! spin-barrier runner, the label values every participant uses, and a
//! string label set for `measured`.
//!
//! Each bench includes this file with `mod common;`; not every bench uses
//! every helper.
#![allow(dead_code)]

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
///
/// Each thread is pinned to its own CPU, performs one untimed `op` (so
/// thread-local set-up such as taking a shard is not measured), then
/// counts down a shared `AtomicUsize` and spins until it reaches zero, so
/// the two loops really overlap. The spawning thread only blocks in `join`
/// and never competes for a CPU.
pub fn run_pair<F>(iters: u64, op: &F) -> Duration
where
    F: Fn(u64) + Sync,
{
    let cpus = allowed_cpus();
    let countdown = AtomicUsize::new(2);
    let (a, b) = std::thread::scope(|s| {
        let worker = |k: usize| {
            let cpus = &cpus;
            let countdown = &countdown;
            move || {
                if cpus.len() >= 2 {
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
            }
        };
        let h0 = s.spawn(worker(0));
        let h1 = s.spawn(worker(1));
        (
            h0.join().expect("worker 0 panicked"),
            h1.join().expect("worker 1 panicked"),
        )
    });
    let start = a.0.min(b.0);
    let end = a.1.max(b.1);
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
