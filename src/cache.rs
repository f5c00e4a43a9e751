//! The per-thread lookup cache (label values -> series) and the owned
//! series reference that handles hold.
//!
//! # The cache
//!
//! 128 sets of 4 ways per thread, indexed by a seeded hash of the values
//! mixed with the family id; a hit compares the values, so a collision is a
//! miss (the family's shared map), never a wrong series. A set of at most 3
//! values of at most 8 bytes each is its own key (see `Key`): the hit
//! compares five words and no bytes. A miss replaces the ways round-robin,
//! skipping the one used last. A hit touches no shared cache line and no
//! reference count.
//!
//! # Lent references
//!
//! An owned handle holds one counted reference to its series. Counting it
//! with an atomic increment on creation and a decrement on drop costs two
//! lock-prefixed read-modify-writes, several times the lookup itself. So
//! each thread keeps a small table of *spare* references (128 sets of 4
//! slots, the set chosen by the series' address): references counted in the
//! series' reference count, owned by the table, used by no one. Handing out a
//! handle ([`Found::lend`], or cloning a handle) moves a spare into it,
//! taking a batch of [`LEND_BATCH`] with one atomic add when the slot has
//! none left for that series; dropping a handle on a thread whose table
//! slot holds spares of the same series moves its reference back there
//! instead of decrementing the count.
//!
//! Nothing here changes what the count means: it still counts every
//! reference that exists, whoever owns it. A reference moves between the
//! table and a handle on one thread with no atomic operation, exactly as a
//! `Series` moves between two variables, so the only atomic operations on
//! the count are the ones `Series` already documents: relaxed increments by
//! an owner of a reference, and release decrements (with the acquire fence
//! and the free in whichever takes it to zero). A table slot gives its
//! spares back (one release decrement, which may free the series, exactly
//! as a drop would) when another series takes the slot, and when the thread
//! exits. Spares keep a removed series' slots from reuse just as a cached
//! entry does, until then. Under loom the cache is absent and handles count
//! every reference atomically; the unit tests below, the engine tests and
//! Miri exercise the lending.

use std::mem::ManuallyDrop;

use crate::series::Series;

/// What a lookup found: the series, borrowed for the lookup, and the
/// calling thread's spare table when the lookup holds it.
pub(crate) struct Found<'a> {
    pub(crate) series: &'a Series,
    #[cfg(not(telemeter_loom))]
    spares: Option<&'a mut imp::Spares>,
}

impl<'a> Found<'a> {
    /// A result from outside the cache.
    pub(crate) fn uncached(series: &'a Series) -> Found<'a> {
        Found {
            series,
            #[cfg(not(telemeter_loom))]
            spares: None,
        }
    }

    /// An owned, counted reference to the series: a spare from this
    /// thread's table where it can, else an atomic increment.
    #[inline]
    pub(crate) fn lend(self) -> HandleRef {
        #[cfg(not(telemeter_loom))]
        if let Some(spares) = self.spares {
            return spares.lend(self.series);
        }
        HandleRef::new(self.series.clone())
    }
}

/// Spare references a table slot takes at once when it has none left.
#[cfg(not(telemeter_loom))]
pub(crate) const LEND_BATCH: u32 = 64;

/// Spare references a table slot keeps at most; a handle dropped beyond
/// that decrements the count.
#[cfg(not(telemeter_loom))]
const MAX_SPARES: u32 = 1 << 20;

/// A counted reference to a series, as handles hold it: like [`Series`],
/// but cloned from and dropped into the thread's spare references where it
/// can (see the module docs).
#[doc(hidden)]
pub struct HandleRef {
    series: ManuallyDrop<Series>,
}

impl HandleRef {
    /// Wraps a counted reference.
    #[inline(always)]
    pub(crate) fn new(series: Series) -> HandleRef {
        HandleRef {
            series: ManuallyDrop::new(series),
        }
    }
}

impl std::ops::Deref for HandleRef {
    type Target = Series;

    #[inline(always)]
    fn deref(&self) -> &Series {
        &self.series
    }
}

impl Clone for HandleRef {
    #[inline]
    fn clone(&self) -> HandleRef {
        #[cfg(not(telemeter_loom))]
        if let Some(r) = imp::lend_here(&self.series) {
            return r;
        }
        HandleRef::new((*self.series).clone())
    }
}

impl Drop for HandleRef {
    #[inline]
    fn drop(&mut self) {
        #[cfg(not(telemeter_loom))]
        if imp::give_back(&self.series) {
            // The reference is now one of this thread's spares.
            return;
        }
        // SAFETY: dropped once, here; `self.series` is not used again.
        unsafe { ManuallyDrop::drop(&mut self.series) }
    }
}

impl std::fmt::Debug for HandleRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.series.fmt(f)
    }
}

/// Runs `f` on the series for `values` in the family with id `family`
/// (see the module docs): a cached entry made before the family's
/// `removals` count last moved is stale; a miss asks `find` for the series
/// and whether it may be cached (the overflow series may not). `f` runs
/// while the cache is borrowed; a lookup from inside `f` finds it busy and
/// asks `find`.
#[cfg(not(telemeter_loom))]
pub(crate) use imp::lookup;

/// Under loom there is no cache: every lookup asks `find`.
#[cfg(telemeter_loom)]
#[inline]
pub(crate) fn lookup<R>(
    _family: u64,
    _removals: &crate::sync::AtomicU64,
    values: &[&str],
    find: impl Fn(&[&str]) -> (Series, bool),
    f: impl FnOnce(Found<'_>) -> R,
) -> R {
    let (series, _) = find(values);
    f(Found::uncached(&series))
}

/// The cache's reading of a label value of at most 8 bytes (see `lane`),
/// for the lookup floor of `benches/hot_path.rs`, which reads values
/// exactly as the cache does; not API.
#[cfg(all(feature = "bench-internals", not(telemeter_loom)))]
#[inline(always)]
pub fn value_lane(b: &[u8]) -> u64 {
    imp::lane(b)
}

#[cfg(not(telemeter_loom))]
mod imp {
    use super::{Found, HandleRef, LEND_BATCH, MAX_SPARES};
    use crate::series::{Header, Series};
    use crate::sync::{AtomicU64, Ordering};
    use std::cell::RefCell;
    use std::hash::{BuildHasher, Hasher};

    /// A small, fast hash of the values for the cache's set index and tag.
    /// Quality matters only for spreading entries: a hit always compares
    /// the values, so a collision costs a miss (the shared map), never a
    /// wrong series; the per-thread random seed keeps crafted values from
    /// picking sets.
    #[inline]
    pub(super) fn hash_values(seed: u64, values: &[&str]) -> u64 {
        const K: u64 = 0x9e37_79b9_7f4a_7c15;
        #[inline(always)]
        fn mix(h: u64, w: u64) -> u64 {
            (h ^ w).wrapping_mul(K).rotate_left(31)
        }
        let mut h = seed;
        for v in values {
            let b = v.as_bytes();
            let n = b.len();
            // Every byte enters the hash; an overlapping read at the end
            // covers the tail without a byte loop, and a value of at most 8
            // bytes is its own short-key lane.
            let tail = if n > 8 {
                let mut at = 0;
                while at + 8 < n {
                    h = mix(h, word(b, at));
                    at += 8;
                }
                word(b, n - 8)
            } else {
                lane(b)
            };
            // The length separates ("ab", "c") from ("a", "bc").
            h = mix(h, tail ^ (n as u64) << 56);
        }
        h ^ (h >> 29)
    }

    #[inline(always)]
    fn word(b: &[u8], at: usize) -> u64 {
        u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
    }

    #[inline(always)]
    fn half(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
    }

    /// `a == b`, inline: label values are short, and a call to `memcmp` per
    /// value cost a fifth of a cached lookup. Overlapping word reads cover
    /// every byte without a byte loop.
    #[inline(always)]
    fn same_bytes(a: &[u8], b: &[u8]) -> bool {
        let n = a.len();
        if n != b.len() {
            return false;
        }
        if n >= 8 {
            let mut at = 0;
            while at + 8 < n {
                if word(a, at) != word(b, at) {
                    return false;
                }
                at += 8;
            }
            word(a, n - 8) == word(b, n - 8)
        } else if n >= 4 {
            half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4)
        } else if n > 0 {
            // 1 to 3 bytes: first, middle and last are every byte.
            a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1]
        } else {
            true
        }
    }

    /// Label values in one allocation, each followed by 0xff (never part
    /// of UTF-8, so the encoding is unambiguous).
    pub(super) fn encode_key(values: &[&str]) -> Box<[u8]> {
        let mut key = Vec::with_capacity(values.iter().map(|v| v.len() + 1).sum());
        for v in values {
            key.extend_from_slice(v.as_bytes());
            key.push(0xff);
        }
        key.into_boxed_slice()
    }

    /// Whether `key` (from [`encode_key`]) holds exactly `values`.
    #[inline]
    pub(super) fn key_is(key: &[u8], values: &[&str]) -> bool {
        let mut rest = key;
        for v in values {
            let v = v.as_bytes();
            match rest.get(v.len()) {
                Some(&0xff) if same_bytes(&rest[..v.len()], v) => rest = &rest[v.len() + 1..],
                _ => return false,
            }
        }
        rest.is_empty()
    }

    const SETS: usize = 128;
    const WAYS: usize = 4;

    /// A lookup's key. A *short* value set (at most 3 values of at most 8
    /// bytes each) is the key itself: each value's bytes, zero-padded, in
    /// its own word of `lanes`, and the number of values and each one's
    /// length in the bytes of `meta`, so two keys are equal exactly when
    /// the value sets are, with no byte compare. Any other set has
    /// `meta == LONG` and its hash in `lanes[0]`, and is compared byte by
    /// byte against its entry's `long` copy.
    #[derive(Clone, Copy, PartialEq, Eq)]
    struct Key {
        lanes: [u64; 3],
        meta: u64,
    }

    /// `meta` of a key that is not short (a short key's top byte is 0).
    const LONG: u64 = u64::MAX;

    /// The bytes of a value of at most 8 bytes, zero-padded, from at most
    /// three reads (overlapping reads read the same bytes twice).
    #[inline(always)]
    pub(super) fn lane(b: &[u8]) -> u64 {
        let n = b.len();
        if n == 8 {
            word(b, 0)
        } else if n >= 4 {
            u64::from(half(b, 0)) | u64::from(half(b, n - 4)) << (8 * (n - 4))
        } else if n > 0 {
            u64::from(b[0])
                | u64::from(b[n / 2]) << (8 * (n / 2))
                | u64::from(b[n - 1]) << (8 * (n - 1))
        } else {
            0
        }
    }

    /// The key of a short value set (see [`Key`]).
    #[inline(always)]
    fn short_key(values: &[&str]) -> Option<Key> {
        if values.len() > 3 {
            return None;
        }
        let mut key = Key {
            lanes: [0; 3],
            meta: values.len() as u64,
        };
        for (i, v) in values.iter().enumerate() {
            let b = v.as_bytes();
            if b.len() > 8 {
                return None;
            }
            key.lanes[i] = lane(b);
            key.meta |= (b.len() as u64) << (8 * (i + 1));
        }
        Some(key)
    }

    /// The key for `values` and the hash that picks its set.
    #[inline(always)]
    fn key_of(seed: u64, values: &[&str]) -> (Key, u64) {
        const K: u64 = 0x9e37_79b9_7f4a_7c15;
        match short_key(values) {
            Some(k) => {
                let [a, b, c] = k.lanes;
                let h = (a ^ seed).wrapping_mul(K).rotate_left(31);
                let h = (h ^ b).wrapping_mul(K).rotate_left(31);
                let h = (h ^ c ^ k.meta.rotate_left(32)).wrapping_mul(K);
                (k, h ^ (h >> 29))
            }
            None => {
                let h = hash_values(seed, values);
                (
                    Key {
                        lanes: [h, 0, 0],
                        meta: LONG,
                    },
                    h,
                )
            }
        }
    }

    struct Entry {
        key: Key,
        family: u64,
        removals: u64,
        /// A long key's values, each followed by 0xff (never part of
        /// UTF-8); `None` for a short key.
        long: Option<Box<[u8]>>,
        series: Series,
    }

    impl Entry {
        #[inline(always)]
        fn matches(&self, key: &Key, family: u64, removals: u64, values: &[&str]) -> bool {
            let same = (self.key.lanes[0] ^ key.lanes[0])
                | (self.key.lanes[1] ^ key.lanes[1])
                | (self.key.lanes[2] ^ key.lanes[2])
                | (self.key.meta ^ key.meta)
                | (self.family ^ family)
                | (self.removals ^ removals);
            same == 0
                && (key.meta != LONG || self.long.as_deref().is_some_and(|k| key_is(k, values)))
        }
    }

    /// One slot of a thread's spare references: `count` counted references
    /// to the series at `ptr`, owned by the table. With `count == 0` the
    /// slot claims nothing, and `ptr` may be stale.
    struct Spare {
        ptr: *const Header,
        count: u32,
    }

    /// A thread's spare references (see the module docs): `SPARE_SETS`
    /// sets of `SPARE_WAYS` slots, chosen by the series' address, once the
    /// thread has lent a reference; empty before.
    pub(crate) struct Spares {
        slots: Vec<Spare>,
        /// Per set: whether a series of this set has a slot in the next
        /// set (see [`Spares::refill`]). Never cleared.
        spilled: Vec<bool>,
    }

    const SPARE_SETS: usize = 128;
    const SPARE_WAYS: usize = 4;

    /// The entry set of a key with `hash` in family `family`.
    #[inline(always)]
    fn set_of(hash: u64, family: u64) -> usize {
        (hash ^ family.wrapping_mul(0x9e37_79b9_7f4a_7c15)) as usize % SETS
    }

    #[cfg(test)]
    std::thread_local! {
        /// Lookups this thread sent to a family's map (tests).
        static MISSES: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
        /// Batches of spares this thread took (tests).
        static REFILLS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }

    /// The first slot of the set after the one starting at `base`.
    #[inline(always)]
    fn next_set(base: usize) -> usize {
        (base + SPARE_WAYS) % (SPARE_SETS * SPARE_WAYS)
    }

    /// The first slot of the set for the series at `p`.
    #[inline(always)]
    fn spare_set(p: *const Header) -> usize {
        // A multiplicative hash of the address (series are 8-aligned).
        let h = (p as usize as u64 >> 3).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 57;
        h as usize * SPARE_WAYS
    }

    impl Spares {
        /// The slot that holds spares of the series at `p`, if any, in its
        /// own set.
        #[inline(always)]
        fn find(&mut self, p: *const Header) -> Option<&mut Spare> {
            self.slot_in(spare_set(p), p)
        }

        /// The slot of the set starting at `base` that holds spares of the
        /// series at `p`, if any (`None` before the table exists).
        #[inline(always)]
        fn slot_in(&mut self, base: usize, p: *const Header) -> Option<&mut Spare> {
            self.slots
                .get_mut(base..base + SPARE_WAYS)?
                .iter_mut()
                .find(|sp| sp.ptr == p)
        }

        /// The first slot of the set starting at `base` that `f` accepts.
        fn position_in(&self, base: usize, f: impl Fn(&Spare) -> bool) -> Option<usize> {
            (base..base + SPARE_WAYS).find(|&i| f(&self.slots[i]))
        }

        /// Whether the set starting at `base` spilled into the next one.
        fn spilled(&self, base: usize) -> bool {
            self.spilled
                .get(base / SPARE_WAYS)
                .copied()
                .unwrap_or(false)
        }

        /// A new counted reference to `series` for a handle.
        #[inline]
        pub(crate) fn lend(&mut self, series: &Series) -> HandleRef {
            match self.find(series.as_ptr()) {
                Some(sp) if sp.count > 0 => {
                    sp.count -= 1;
                    // SAFETY: one of the table's counted references to
                    // `series` moves into the handle.
                    HandleRef::new(unsafe { series.counted_copy() })
                }
                _ => self.refill(series),
            }
        }

        /// Lends from the series' slot in the next set, if its set spilled
        /// there and the slot holds spares; else fills a slot with a new
        /// batch of spares for `series` (giving back what the slot held),
        /// and lends one.
        ///
        /// The slot is the series' own in its set, else an empty one there,
        /// else (the set spills) an empty one in the next set, else the one
        /// in its set holding the fewest spares. Without the spill, a few
        /// more series than ways in one set (4 of 16 processes cycling
        /// through 100 series) took turns evicting each other: a batch
        /// taken and one given back, two atomic read-modify-writes, on 2 %
        /// of lookups.
        #[cold]
        #[inline(never)]
        fn refill(&mut self, series: &Series) -> HandleRef {
            if self.slots.is_empty() {
                self.slots = (0..SPARE_SETS * SPARE_WAYS)
                    .map(|_| Spare {
                        ptr: std::ptr::null(),
                        count: 0,
                    })
                    .collect();
                self.spilled = vec![false; SPARE_SETS];
            }
            let p = series.as_ptr();
            let base = spare_set(p);
            let next = next_set(base);
            if self.spilled(base) {
                if let Some(i) = self.position_in(next, |sp| sp.ptr == p && sp.count > 0) {
                    self.slots[i].count -= 1;
                    // SAFETY: one of the table's counted references to
                    // `series` moves into the handle.
                    return HandleRef::new(unsafe { series.counted_copy() });
                }
            }
            let i = self
                .position_in(base, |sp| sp.ptr == p)
                .or_else(|| self.position_in(base, |sp| sp.count == 0))
                .or_else(|| {
                    let i = self.position_in(next, |sp| sp.count == 0)?;
                    self.spilled[base / SPARE_WAYS] = true;
                    Some(i)
                })
                .unwrap_or_else(|| {
                    (base..base + SPARE_WAYS)
                        .min_by_key(|&i| self.slots[i].count)
                        .expect("SPARE_WAYS > 0")
                });
            #[cfg(test)]
            REFILLS.with(|r| r.set(r.get() + 1));
            let sp = &mut self.slots[i];
            release_spares(sp);
            series.acquire(LEND_BATCH);
            sp.ptr = p;
            sp.count = LEND_BATCH - 1;
            // SAFETY: one of the `LEND_BATCH` references just counted moves
            // into the handle; the table owns the rest.
            HandleRef::new(unsafe { series.counted_copy() })
        }

        /// Takes a handle's reference to `series` as a spare; `false` (the
        /// caller keeps it) unless a slot is for this series.
        #[inline]
        fn take(&mut self, series: &Series) -> bool {
            match self.find(series.as_ptr()) {
                Some(sp) if sp.count < MAX_SPARES => {
                    sp.count += 1;
                    true
                }
                Some(_) => false,
                None => self.take_spilled(series),
            }
        }

        /// [`Spares::take`] for a series whose slot is in the next set.
        #[cold]
        #[inline(never)]
        fn take_spilled(&mut self, series: &Series) -> bool {
            let p = series.as_ptr();
            let base = spare_set(p);
            if !self.spilled(base) {
                return false;
            }
            match self.slot_in(next_set(base), p) {
                Some(sp) if sp.count < MAX_SPARES => {
                    sp.count += 1;
                    true
                }
                _ => false,
            }
        }
    }

    /// Releases a slot's spares, as that many drops would: the last may
    /// free the series.
    fn release_spares(sp: &mut Spare) {
        if sp.count == 0 {
            return;
        }
        // SAFETY: the slot owns `count` counted references to the series at
        // `ptr`; one moves into `last`, the rest are released while `last`
        // keeps the count above zero, then `last` drops as any reference.
        unsafe {
            let last = Series::from_counted_ptr(sp.ptr);
            if sp.count > 1 {
                last.release(sp.count - 1);
            }
            sp.count = 0;
            drop(last);
        }
    }

    impl Drop for Spares {
        fn drop(&mut self) {
            self.slots.iter_mut().for_each(release_spares);
        }
    }

    struct Cache {
        /// Per-thread random seed of [`hash_values`]; set with `entries`.
        seed: u64,
        /// `SETS * WAYS` entries once the thread has looked anything up;
        /// empty before, so that dropping a handle on a thread that never
        /// looks up allocates nothing.
        entries: Vec<Option<Entry>>,
        /// Per set: the way used last, and the next way to replace.
        recent: Vec<(u8, u8)>,
        /// Per set: whether an entry of this set was placed in the next set
        /// (see [`Cache::miss`]). Never cleared: a stale flag costs a miss
        /// one more probe.
        spilled: Vec<bool>,
        spares: Spares,
    }

    impl Cache {
        #[cold]
        #[inline(never)]
        fn fill(&mut self) {
            let mut h = foldhash::fast::RandomState::default().build_hasher();
            h.write_u8(0);
            self.seed = h.finish() | 1;
            self.entries = (0..SETS * WAYS).map(|_| None).collect();
            self.recent = vec![(0, 0); SETS];
            self.spilled = vec![false; SETS];
        }

        /// The entry index for a key not found in its set `set`: found in
        /// the next set, where a full set spills, or looked up in the
        /// family and cached; `Err` with the series if it must not be
        /// cached (the overflow series).
        ///
        /// A set that is full spills into the next one while that has
        /// room. Without it, a few more keys than ways in one set (1 of 12
        /// processes in a probe cycling through 100 keys) evicted each
        /// other on every pass of the cycle: 5 % of all lookups went to the
        /// family's map.
        #[cold]
        #[inline(never)]
        fn miss(
            &mut self,
            set: usize,
            key: &Key,
            removals: u64,
            family: u64,
            values: &[&str],
            find: &impl Fn(&[&str]) -> (Series, bool),
        ) -> Result<usize, Series> {
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
            let (series, cacheable) = find(values);
            if !cacheable {
                return Err(series);
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

    std::thread_local! {
        static CACHE: RefCell<Cache> = const {
            RefCell::new(Cache {
                seed: 0,
                entries: Vec::new(),
                recent: Vec::new(),
                spilled: Vec::new(),
                spares: Spares {
                    slots: Vec::new(),
                    spilled: Vec::new(),
                },
            })
        };
    }

    #[inline]
    pub(crate) fn lookup<R>(
        family: u64,
        removals: &AtomicU64,
        values: &[&str],
        find: impl Fn(&[&str]) -> (Series, bool),
        f: impl FnOnce(Found<'_>) -> R,
    ) -> R {
        let mut f = Some(f);
        let cached = CACHE.try_with(|cache| {
            let Ok(mut cache) = cache.try_borrow_mut() else {
                return None;
            };
            let cache = &mut *cache;
            if cache.entries.is_empty() {
                cache.fill();
            }
            let (key, hash) = key_of(cache.seed, values);
            let set = set_of(hash, family);
            let removals = removals.load(Ordering::Relaxed);
            let base = set * WAYS;
            // `Cache::miss` searches the next set the same way. A shared
            // `Cache::way_in(&self, ..)` for both cost the borrowed lookup
            // 12.8 -> 17.2 ns and the owned one 17.5 -> 20.6 ns
            // (`labelled_lookup_inc`, Dec 6 2026), so the search is written
            // here in place.
            let way = (0..WAYS).find(|w| {
                cache.entries[base + w]
                    .as_ref()
                    .is_some_and(|e| e.matches(&key, family, removals, values))
            });
            let slot = match way {
                Some(w) => {
                    cache.recent[set].0 = w as u8;
                    base + w
                }
                None => match cache.miss(set, &key, removals, family, values, &find) {
                    Ok(slot) => slot,
                    Err(series) => {
                        return Some((f.take().expect("once"))(Found::uncached(&series)))
                    }
                },
            };
            let e = cache.entries[slot].as_ref().expect("present");
            Some((f.take().expect("once"))(Found {
                series: &e.series,
                spares: Some(&mut cache.spares),
            }))
        });
        match cached {
            Ok(Some(r)) => r,
            // Thread-local teardown, or a lookup from inside `f`: the map.
            _ => {
                let (series, _) = find(values);
                (f.take().expect("not called yet"))(Found::uncached(&series))
            }
        }
    }

    /// Runs `g` on this thread's spare table, unless the thread is exiting
    /// or the table is in use further up the stack.
    #[inline]
    fn with_spares<R>(g: impl FnOnce(&mut Spares) -> Option<R>) -> Option<R> {
        CACHE
            .try_with(|cache| g(&mut cache.try_borrow_mut().ok()?.spares))
            .ok()
            .flatten()
    }

    /// Moves a handle's reference to `series` into this thread's spares, if
    /// its slot is for this series. On `true` the caller must not release
    /// the reference.
    #[inline]
    pub(super) fn give_back(series: &Series) -> bool {
        with_spares(|sp| sp.take(series).then_some(())).is_some()
    }

    /// A new handle reference to `series` from this thread's spares, if the
    /// thread keeps a table (it has looked something up).
    #[inline]
    pub(super) fn lend_here(series: &Series) -> Option<HandleRef> {
        with_spares(|sp| (!sp.slots.is_empty()).then(|| sp.lend(series)))
    }

    /// Spare references this thread holds for `series` (tests).
    #[cfg(test)]
    pub(crate) fn spares_of(series: &Series) -> u32 {
        with_spares(|sp| sp.find(series.as_ptr()).map(|s| s.count)).unwrap_or(0)
    }

    #[cfg(test)]
    mod tests {
        use super::{encode_key, hash_values, key_is, same_bytes};
        use super::{key_of, set_of, spare_set, CACHE, MISSES, REFILLS, SETS, SPARE_WAYS};
        use crate::{Counter, Family, Opts, Registry};
        use std::collections::HashMap;

        fn family(reg: &Registry) -> Family<Counter> {
            reg.counter_family(Opts::new("spill_total", "Spill.").labels(&["k"]))
                .expect("valid family")
        }

        /// The first five keys `{prefix}{i}` for which `group` agrees.
        fn five_alike(prefix: &str, mut group: impl FnMut(&str) -> usize) -> Vec<String> {
            let mut groups: HashMap<usize, Vec<String>> = HashMap::new();
            for i in 0.. {
                let k = format!("{prefix}{i}");
                let g = groups.entry(group(&k)).or_default();
                g.push(k);
                if g.len() == 5 {
                    return g.clone();
                }
            }
            unreachable!()
        }

        #[test]
        fn five_keys_of_one_set_all_stay_cached() {
            std::thread::spawn(|| {
                let reg = Registry::new();
                let f = family(&reg);
                f.with(&["warm"], |_| ()).expect("series"); // draws the seed
                let seed = CACHE.with(|c| c.borrow().seed);
                let id = f.core.id;
                // One more key than the set has ways: cycled through, each
                // evicted the next until full sets spilled.
                let keys = five_alike("s", |k| set_of(key_of(seed, &[k]).1, id) % SETS);
                let pass = || {
                    for k in &keys {
                        f.with(&[k], |c| c.inc()).expect("series");
                    }
                };
                pass();
                let before = MISSES.with(|m| m.get());
                for _ in 0..10 {
                    pass();
                }
                assert_eq!(MISSES.with(|m| m.get()), before, "lookups that missed");
                for k in &keys {
                    assert_eq!(f.with(&[k], |c| c.get()).expect("series"), 11);
                }
            })
            .join()
            .expect("no panic");
        }

        #[test]
        fn five_series_of_one_spare_set_keep_their_spares() {
            std::thread::spawn(|| {
                let reg = Registry::new();
                let f = family(&reg);
                let keys = five_alike("p", |k| {
                    f.with(&[k], |c| spare_set(c.series_for_tests().as_ptr()))
                        .expect("series")
                        / SPARE_WAYS
                });
                let pass = || {
                    for k in &keys {
                        f.with_label_values(&[k]).expect("series").inc();
                    }
                };
                pass();
                let before = REFILLS.with(|r| r.get());
                for _ in 0..10 {
                    pass();
                }
                assert_eq!(REFILLS.with(|r| r.get()), before, "batches taken");
            })
            .join()
            .expect("no panic");
        }

        impl std::fmt::Debug for super::Key {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "Key({:x?}, {:x})", self.lanes, self.meta)
            }
        }

        #[test]
        fn cache_hash_separates_values_and_follows_every_byte() {
            for seed in [1u64, 0x1234_5678_9abc_def1, u64::MAX] {
                let h = |v: &[&str]| hash_values(seed, v);
                assert_ne!(h(&["ab", "c"]), h(&["a", "bc"]));
                assert_ne!(h(&["abc"]), h(&["abc", ""]));
                assert_ne!(h(&[""]), h(&[]));
                let long = "0123456789abcdef-tail";
                // Every length up to three words, so each tail read (byte,
                // half word, overlapping word) is covered.
                for len in 1..=long.len() {
                    let v = &long[..len];
                    for i in 0..len {
                        let mut changed = v.as_bytes().to_vec();
                        changed[i] ^= 1;
                        let changed = String::from_utf8(changed).unwrap();
                        assert_ne!(h(&[v]), h(&[&changed]), "length {len}, byte {i}");
                    }
                }
            }
        }

        #[test]
        fn keys_compare_value_by_value() {
            let k = encode_key(&["ab", "c"]);
            assert!(key_is(&k, &["ab", "c"]));
            assert!(!key_is(&k, &["a", "bc"]));
            assert!(!key_is(&k, &["ab"]));
            assert!(!key_is(&k, &["ab", "c", ""]));
            assert!(!key_is(&k, &["ab", "cd"]));
            let empty = encode_key(&[]);
            assert!(key_is(&empty, &[]));
            assert!(!key_is(&empty, &[""]));
            assert!(key_is(&encode_key(&["", ""]), &["", ""]));
        }

        #[test]
        fn short_keys_are_exact() {
            use super::{short_key, LONG};
            let k = |v: &[&str]| short_key(v);
            assert!(k(&["ab", "c"]) != k(&["a", "bc"]));
            assert!(k(&["abc"]) != k(&["abc", ""]));
            assert!(k(&[""]) != k(&[]));
            assert!(k(&["", ""]) != k(&[""]));
            assert!(k(&["a\0"]) != k(&["a"]));
            assert!(k(&["GET", "200"]) == k(&["GET", "200"]));
            // Every byte of every value, at every length and position.
            let text = "01234567";
            for len in 0..=8 {
                let v = &text[..len];
                for at in 0..3 {
                    let mut vals = ["x", "yz", "w"];
                    vals[at] = v;
                    let base = k(&vals).expect("short");
                    assert!(base.meta != LONG);
                    for i in 0..len {
                        let mut bytes = v.as_bytes().to_vec();
                        bytes[i] ^= 1;
                        let changed = String::from_utf8(bytes).unwrap();
                        let mut other = vals;
                        other[at] = &changed;
                        assert!(
                            k(&other) != Some(base),
                            "length {len}, value {at}, byte {i}"
                        );
                    }
                }
            }
            // A value over 8 bytes, or more than 3 values: not short.
            assert!(k(&["012345678"]).is_none());
            assert!(k(&["a"; 4]).is_none());
            assert!(k(&["a"; 3]).is_some());
        }

        #[test]
        fn same_bytes_sees_every_byte_at_every_length() {
            let long = b"0123456789abcdef0123456789-tail";
            for len in 0..=long.len() {
                let a = &long[..len];
                assert!(same_bytes(a, a));
                assert!(!same_bytes(a, &long[..len.saturating_sub(1)]) || len == 0);
                for i in 0..len {
                    let mut b = a.to_vec();
                    b[i] ^= 0x20;
                    assert!(!same_bytes(a, &b), "length {len}, byte {i}");
                }
            }
        }
    }
}

#[cfg(all(test, not(telemeter_loom)))]
pub(crate) use imp::spares_of;

#[cfg(all(test, not(telemeter_loom)))]
mod lending_tests {
    use super::{spares_of, LEND_BATCH};
    use crate::{Counter, Family, Opts, Registry};

    fn family(reg: &Registry) -> Family<Counter> {
        reg.counter_family(Opts::new("lent_total", "Lent.").labels(&["k"]))
            .expect("valid family")
    }

    /// The count of `k`'s series besides the map's and the series list's.
    fn extra_refs(f: &Family<Counter>, k: &str) -> u64 {
        f.core.refs_of(&[k]).expect("series exists") - 1
    }

    #[test]
    fn handles_move_spares_and_leave_the_count_alone() {
        let reg = Registry::new();
        let f = family(&reg);
        std::thread::spawn(move || {
            let first = f.with_label_values(&["a"]).expect("series");
            // The cache entry's reference, the batch (one lent to `first`).
            assert_eq!(extra_refs(&f, "a"), 1 + u64::from(LEND_BATCH));
            let series = first.series_for_tests();
            assert_eq!(spares_of(series), LEND_BATCH - 1);
            let more: Vec<Counter> = (0..10)
                .map(|_| f.with_label_values(&["a"]).expect("series"))
                .collect();
            let clones: Vec<Counter> = more.iter().map(Counter::clone).collect();
            assert_eq!(spares_of(series), LEND_BATCH - 21);
            assert_eq!(extra_refs(&f, "a"), 1 + u64::from(LEND_BATCH));
            drop(more);
            drop(clones);
            assert_eq!(spares_of(series), LEND_BATCH - 1);
            assert_eq!(extra_refs(&f, "a"), 1 + u64::from(LEND_BATCH));
            first.inc();
            assert_eq!(f.with_label_values(&["a"]).expect("series").get(), 1);
        })
        .join()
        .expect("no panic");
    }

    #[test]
    fn a_handle_dropped_on_another_thread_releases_its_reference() {
        let reg = Registry::new();
        let f = family(&reg);
        let g = f.clone();
        let h = std::thread::spawn(move || {
            let h = g.with_label_values(&["b"]).expect("series");
            let before = extra_refs(&g, "b");
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                h.inc();
                drop(h); // no spares for it on this thread: a decrement
                tx.send(()).expect("receiver alive");
            })
            .join()
            .expect("no panic");
            rx.recv().expect("sent");
            assert_eq!(extra_refs(&g, "b"), before - 1);
        });
        h.join().expect("no panic");
        // The thread's cache entry and spares went with it.
        assert_eq!(extra_refs(&f, "b"), 0);
        assert_eq!(f.with(&["b"], |c| c.get()).expect("series"), 1);
    }

    #[test]
    fn every_reference_comes_back_when_threads_exit() {
        let reg = Registry::new();
        let f = family(&reg);
        let keys: std::sync::Arc<Vec<String>> =
            std::sync::Arc::new((0..700).map(|i| format!("k{i}")).collect());
        // Spawned and joined, not scoped: a scope returns once the closures
        // finish, which may be before the threads' thread-locals (the cache
        // and the spares) are destroyed.
        let workers: Vec<_> = (0..2)
            .map(|t| {
                let (f, keys) = (f.clone(), keys.clone());
                std::thread::spawn(move || {
                    // More series than the cache and the spare table hold,
                    // so entries and spare slots are replaced while handles
                    // to their series are alive.
                    let mut held = Vec::new();
                    for round in 0..3 {
                        for k in keys.iter() {
                            let c = f.with_label_values(&[k]).expect("series");
                            c.inc();
                            if (k.len() + round + t) % 3 == 0 {
                                held.push(c.clone());
                            }
                        }
                        held.truncate(held.len() / 2);
                    }
                    held
                })
            })
            .collect();
        // Half the kept handles are dropped here, on a thread that lent
        // none of them.
        for w in workers {
            let held = w.join().expect("no panic");
            drop(held);
        }
        for k in keys.iter() {
            assert_eq!(extra_refs(&f, k), 0, "series {k}");
            assert_eq!(f.with(&[k], |c| c.get()).expect("series"), 6, "series {k}");
        }
    }

    #[test]
    fn a_removed_series_is_freed_once_the_spares_go() {
        let reg = Registry::new();
        let f = family(&reg);
        let (tx, rx) = std::sync::mpsc::channel();
        let g = f.clone();
        let worker = std::thread::spawn(move || {
            let c = g.with_label_values(&["gone"]).expect("series");
            c.add(5);
            tx.send(c).expect("receiver alive");
        });
        let c = rx.recv().expect("sent");
        worker.join().expect("no panic");
        // The worker's cache entry and spares went back when it exited:
        // besides the map and the list, only `c` is left.
        assert_eq!(extra_refs(&f, "gone"), 1);
        assert!(f.remove(&["gone"]).expect("arity"));
        assert_eq!(c.get(), 5);
        drop(c);
        // A new series for the same values starts from zero.
        assert_eq!(f.with_label_values(&["gone"]).expect("series").get(), 0);
    }
}
