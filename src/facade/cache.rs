//! The facade's per-thread handle cache.
//!
//! Every `counter!(..)` call is a registration: the recorder finds the
//! key's handle and returns a counted reference to it (`metrics`' handles
//! hold an `Arc`). Through the shared map alone that is a map probe, a full
//! key comparison and an atomic increment and decrement of a reference
//! count that every thread recording the key shares. The cache keeps, per
//! thread, the handles of the keys this thread registered lately, each in
//! an `Arc` of the thread's own, so that:
//!
//! * a hit is one thread-local access, a set of four entries picked by the
//!   hash the key carries, and a comparison that takes a string as equal
//!   when both sides point at the same bytes (a `'static` name, as the
//!   macros' keys have, is never compared byte by byte);
//! * the reference count a hit moves is on a line only this thread writes.
//!
//! 128 sets of 4 entries (each a key, its facade and a handle: about 36 KiB
//! per thread that uses the facade, allocated on its first registration).
//! A miss falls back to the shared map and fills the set's oldest entry.
//! Entries are tagged with their facade's process-unique id, so a facade
//! that is dropped leaves entries that never match (they keep their
//! handles, and so their series' slots, until overwritten or the thread
//! exits).
#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::sync::Arc;

use metrics::{Key, Label};

use super::handles::{FacadeCounter, FacadeGauge, FacadeHistogram, FacadeNative};

const SETS: usize = 128;
const WAYS: usize = 4;

/// A cached handle, as the thread's own `Arc`.
pub(super) enum Handle {
    Counter(Arc<FacadeCounter>),
    Gauge(Arc<FacadeGauge>),
    Histogram(Arc<FacadeHistogram>),
    Native(Arc<FacadeNative>),
}

struct Entry {
    facade: u64,
    hash: u64,
    /// Where this entry's own key keeps its name and its label slice
    /// (address, length): a key whose name or labels are at the same
    /// address is equal there without a comparison (see [`addr_len`]).
    name_at: (usize, usize),
    labels_at: (usize, usize),
    key: Key,
    handle: Handle,
}

impl Entry {
    /// Whether `name` and `labels` (a live key's) are this entry's key's.
    #[inline(always)]
    fn is(&self, facade: u64, hash: u64, name: &str, labels: &[Label]) -> bool {
        self.facade == facade
            && self.hash == hash
            && (self.name_at == addr_len(name.as_bytes()) || self.key.name() == name)
            && (self.labels_at == addr_len(labels) || same_labels(&self.key, labels))
    }
}

/// A slice's address and length. Two live slices with the same address
/// and length hold the same values at this moment: the entry owns its key,
/// and the caller's key is alive for the call.
#[inline(always)]
fn addr_len<T>(s: &[T]) -> (usize, usize) {
    (s.as_ptr() as usize, s.len())
}

/// The labels of `key` and `labels`, in the same order.
#[inline(always)]
fn same_labels(key: &Key, labels: &[Label]) -> bool {
    key.labels().len() == labels.len()
        && key
            .labels()
            .zip(labels)
            .all(|(x, y)| same_str(x.key(), y.key()) && same_str(x.value(), y.value()))
}

/// `a == b`, without reading the bytes where both are the same live
/// bytes (a `&'static str` label value, as the macros pass it, is).
#[inline(always)]
fn same_str(a: &str, b: &str) -> bool {
    addr_len(a.as_bytes()) == addr_len(b.as_bytes()) || a == b
}

struct ThreadCache {
    /// `SETS * WAYS` entries, set by set; empty until the first insert.
    entries: Vec<Option<Entry>>,
}

std::thread_local! {
    static CACHE: RefCell<ThreadCache> = const { RefCell::new(ThreadCache { entries: Vec::new() }) };
}

/// The first entry of the set a key's hash picks.
#[inline(always)]
fn set_of(h: u64) -> usize {
    // The key's hash adds its labels' hashes: fold the high bits in.
    ((h ^ (h >> 29) ^ (h >> 47)) as usize % SETS) * WAYS
}

/// The calling thread's handle for `key` of `facade`, if cached, through
/// `pick` (which refuses a handle of another type).
#[inline]
pub(super) fn get<T>(facade: u64, key: &Key, pick: impl Fn(&Handle) -> Option<T>) -> Option<T> {
    // Each is a call into `metrics` (not inlined across crates): once.
    let name = key.name();
    let labels = key.labels().as_slice();
    let hash = key.get_hash();
    CACHE
        .try_with(|c| {
            let c = c.try_borrow().ok()?;
            let set = set_of(hash);
            let ways = c.entries.get(set..set + WAYS)?;
            ways.iter()
                .flatten()
                .find(|e| e.is(facade, hash, name, labels))
                .and_then(|e| pick(&e.handle))
        })
        .ok()
        .flatten()
}

/// Caches `handle` for `key` of `facade` on the calling thread, in place
/// of its set's oldest entry. Does nothing while the thread is exiting.
pub(super) fn insert(facade: u64, key: &Key, handle: Handle) {
    let _ = CACHE.try_with(|c| {
        let Ok(mut c) = c.try_borrow_mut() else {
            return;
        };
        if c.entries.is_empty() {
            c.entries.resize_with(SETS * WAYS, || None);
        }
        let set = set_of(key.get_hash());
        let ways = &mut c.entries[set..set + WAYS];
        // Newest first: the oldest falls off the end.
        ways.rotate_right(1);
        let key = key.clone();
        let evicted = ways[0].replace(Entry {
            facade,
            hash: key.get_hash(),
            name_at: addr_len(key.name().as_bytes()),
            labels_at: addr_len(key.labels().as_slice()),
            key,
            handle,
        });
        drop(c);
        drop(evicted);
    });
}
