//! A thread's lookup table: 128 sets of 4 ways of label values -> series
//! (see `cache.rs` for the lookup that reads it), with the thread's spare
//! references beside it so that one borrow serves both.
#![forbid(unsafe_code)]

use std::hash::{BuildHasher, Hasher};

use super::key::{encode_key, key_is, Key, LONG};
use super::spares::Spares;
use crate::series::Series;
use crate::Error;

/// Why [`Cache::miss`] has no entry to give.
pub(crate) enum Miss {
    /// The series must not be cached (the overflow series).
    Uncached(Series),
    /// The label set cannot be a series.
    Failed(Error),
}

pub(crate) const SETS: usize = 128;
pub(crate) const WAYS: usize = 4;

pub(crate) struct Entry {
    key: Key,
    family: u64,
    removals: u64,
    /// A long key's values, each followed by 0xff (never part of
    /// UTF-8); `None` for a short key.
    long: Option<Box<[u8]>>,
    pub(crate) series: Series,
}

impl Entry {
    #[inline(always)]
    pub(crate) fn matches(&self, key: &Key, family: u64, removals: u64, values: &[&str]) -> bool {
        let same = (self.key.lanes[0] ^ key.lanes[0])
            | (self.key.lanes[1] ^ key.lanes[1])
            | (self.key.lanes[2] ^ key.lanes[2])
            | (self.key.meta ^ key.meta)
            | (self.family ^ family)
            | (self.removals ^ removals);
        same == 0 && (key.meta != LONG || self.long.as_deref().is_some_and(|k| key_is(k, values)))
    }
}

/// The entry set of a key with `hash` in family `family`.
#[inline(always)]
pub(crate) fn set_of(hash: u64, family: u64) -> usize {
    (hash ^ family.wrapping_mul(0x9e37_79b9_7f4a_7c15)) as usize % SETS
}

#[cfg(test)]
std::thread_local! {
    /// Lookups this thread sent to a family's map (tests).
    pub(crate) static MISSES: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

pub(crate) struct Cache {
    /// Per-thread random seed of [`hash_values`]; set with `entries`.
    pub(crate) seed: u64,
    /// `SETS * WAYS` entries once the thread has looked anything up;
    /// empty before, so that dropping a handle on a thread that never
    /// looks up allocates nothing.
    pub(crate) entries: Vec<Option<Entry>>,
    /// Per set: the way used last, and the next way to replace.
    pub(crate) recent: Vec<(u8, u8)>,
    /// Per set: whether an entry of this set was placed in the next set
    /// (see [`Cache::miss`]). Never cleared: a stale flag costs a miss
    /// one more probe.
    pub(crate) spilled: Vec<bool>,
    pub(crate) spares: Spares,
}

impl Cache {
    #[cold]
    #[inline(never)]
    pub(crate) fn fill(&mut self) {
        let mut h = foldhash::fast::RandomState::default().build_hasher();
        h.write_u8(0);
        self.seed = h.finish() | 1;
        self.entries = (0..SETS * WAYS).map(|_| None).collect();
        self.recent = vec![(0, 0); SETS];
        self.spilled = vec![false; SETS];
    }

    /// The entry index for a key not found in its set `set`: found in
    /// the next set, where a full set spills, or looked up in the
    /// family and cached; else why not ([`Miss`]).
    ///
    /// A set that is full spills into the next one while that has
    /// room. Without it, a few more keys than ways in one set (the hash
    /// seed is per thread, so some processes draw it) evicted each other
    /// on every pass of a cycle through them, each eviction a lookup in
    /// the family's map (docs/BENCHMARKS.md, "Retired or kept").
    #[cold]
    #[inline(never)]
    pub(crate) fn miss(
        &mut self,
        set: usize,
        key: &Key,
        removals: u64,
        family: u64,
        values: &[&str],
        find: &impl Fn(&[&str]) -> Result<(Series, bool), Error>,
    ) -> Result<usize, Miss> {
        let base = set * WAYS;
        let next = (set + 1) % SETS * WAYS;
        if self.spilled[set] {
            let found = (0..WAYS).find(|w| {
                self.entries[next + w]
                    .as_ref()
                    .is_some_and(|e| e.matches(key, family, removals, values))
            });
            if let Some(w) = found {
                return Ok(next + w);
            }
        }
        #[cfg(test)]
        MISSES.with(|m| m.set(m.get() + 1));
        let (series, cacheable) = find(values).map_err(Miss::Failed)?;
        if !cacheable {
            return Err(Miss::Uncached(series));
        }
        let empty = |base: usize| (0..WAYS).find(|w| self.entries[base + w].is_none());
        let slot = if let Some(w) = empty(base) {
            self.recent[set].0 = w as u8;
            base + w
        } else if let Some(w) = empty(next) {
            self.spilled[set] = true;
            next + w
        } else {
            let (last, round) = self.recent[set];
            let mut victim = round as usize % WAYS;
            if victim == last as usize {
                victim = (victim + 1) % WAYS;
            }
            self.recent[set] = (victim as u8, ((victim + 1) % WAYS) as u8);
            base + victim
        };
        // Replacing an entry may drop the last reference to a removed
        // series, which frees its slots.
        self.entries[slot] = Some(Entry {
            key: *key,
            family,
            removals,
            long: (key.meta == LONG).then(|| encode_key(values)),
            series,
        });
        Ok(slot)
    }
}
