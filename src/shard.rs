//! Per-thread shards, the shard pool and the process-wide slot space.
//!
//! # Model
//!
//! Every sharded value (a counter cell, a histogram bucket, a histogram sum)
//! is a *slot*: an index into one process-wide slot space. Every *shard* has
//! a 64-bit cell for every slot, so a series is the same index in every
//! shard and a scrape sums that index across shards.
//!
//! A shard stores its cells in *segments*: segment `k` holds
//! `SEG0 << k` cells, so the slot space grows geometrically without ever
//! moving a cell that a writer may be touching. A slot's location
//! `(segment, offset)` is computed once, when its series is created.
//!
//! # Protocol and invariants
//!
//! * **Exclusive shards.** A thread takes a free exclusive shard from the
//!   pool on its first record and gives it back from a thread-local
//!   destructor. While it holds it, it is the only writer of every cell in
//!   it, so an add is a relaxed load and a relaxed store (no lock prefix).
//!   A concurrent scrape may read a cell at any time: 64-bit atomic loads
//!   never tear, and a cell only ever holds values its single writer stored,
//!   each no smaller than the last (counts only grow), so by coherence a
//!   reader never sees a cell go backwards.
//! * **Hand-off.** Releasing and taking a shard both go through the pool
//!   mutex, so every store of the old owner happens-before the first load of
//!   the new owner; the new owner continues from the old owner's values and
//!   nothing recorded by an exited thread is lost or needs folding.
//! * **Shared shards.** When every exclusive shard is taken, further threads
//!   are spread over a few shared shards, which always add with a read-modify-write
//!   (a saturating compare-exchange). A shard's mode never changes, so the two kinds of writer never mix on
//!   one cell.
//! * **Growth.** Segments are allocated under the pool mutex, in every
//!   published shard, before a slot inside them is handed out; a new shard
//!   gets every allocated segment before it is published. A writer learns of
//!   a slot only through a handle created after that, so it always finds the
//!   segment (the cold path re-checks under the mutex anyway).
//! * **Reuse.** A slot run is freed when the last handle to its series is
//!   dropped: it is zeroed in every shard under the mutex and only then put
//!   on the free list, so a new series never starts with an old one's counts.
//!
//! The loom models in `loom-tests/` check hand-off, increments against a
//! scrape, and free-then-reuse with this very code.

use std::cell::Cell;
use std::collections::HashMap;
use std::ptr;

use crate::sync::{
    alloc_cells, free_cells, global, lock, thread_locals, AtomicPtr, AtomicU64, Mutex, Ordering,
    LOOM,
};

/// log2 of the first segment's length. Small under loom so that models cross
/// segment boundaries.
const SEG0_BITS: u32 = if LOOM { 2 } else { 10 };

/// Number of segment pointers per shard. The last segment holds
/// `SEG0 << 22` = 2^32 slots, so an offset inside a segment always fits in
/// a `u32` (a series stores its location in 6 bytes), and the whole space
/// (2^33 slots: 64 GiB per shard) is far beyond any real process.
pub(crate) const SEGMENTS: usize = 23;

/// Exclusive (single-writer) shards the pool may create (2 in a model).
pub(crate) const EXCLUSIVE_SHARDS: usize = if LOOM { 2 } else { 64 };

/// Shared (compare-exchange) shards for threads beyond the exclusive ones (1 in
/// a model).
pub(crate) const SHARED_SHARDS: usize = if LOOM { 1 } else { 4 };

const MAX_SHARDS: usize = EXCLUSIVE_SHARDS + SHARED_SHARDS;

/// The largest run of slots one series may take (one segment 0).
pub(crate) const MAX_RUN: usize = 1 << SEG0_BITS;

/// Where a slot lives inside every shard.
///
/// Two fields, not one packed word: the offset of a slot `i` places into a
/// run (`at`) then provably leaves the segment alone, so recording into a
/// histogram loads the segment pointer once and in parallel with finding
/// the bucket. A packed word (see [`PackedLoc`]) suits handles that record
/// into one slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SlotLoc {
    /// Below `SEGMENTS`.
    seg: u32,
    /// Below `seg_len(seg)`, which `SEGMENTS` keeps at most 2^32.
    off: u32,
}

impl SlotLoc {
    /// The location of slot index `slot`.
    pub(crate) fn of(slot: usize) -> SlotLoc {
        let x = slot + (1usize << SEG0_BITS);
        let seg = (usize::BITS - 1 - x.leading_zeros() - SEG0_BITS) as usize;
        SlotLoc::new(seg, x - (1usize << (SEG0_BITS as usize + seg)))
    }

    /// The location at offset `off` of segment `seg`.
    #[inline(always)]
    pub(crate) fn new(seg: usize, off: usize) -> SlotLoc {
        debug_assert!(seg < SEGMENTS && off < seg_len(seg));
        SlotLoc {
            seg: seg as u32,
            off: off as u32,
        }
    }

    /// The location packed in the low 48 bits of `word` (offset in bits
    /// 0-31, segment in bits 32-47), as [`SlotLoc::word`] gives it.
    #[inline(always)]
    pub(crate) fn from_word(word: u64) -> SlotLoc {
        SlotLoc {
            seg: (word >> 32) as u16 as u32,
            off: word as u32,
        }
    }

    /// The packed location (see [`SlotLoc::from_word`]).
    #[inline(always)]
    pub(crate) fn word(self) -> u64 {
        u64::from(self.seg) << 32 | u64::from(self.off)
    }

    /// The segment, below `SEGMENTS`.
    #[inline(always)]
    pub(crate) fn seg(self) -> usize {
        self.seg as usize
    }

    /// The offset in the segment, below `seg_len(seg)`.
    #[inline(always)]
    pub(crate) fn off(self) -> usize {
        self.off as usize
    }

    /// The slot index this location is for (the inverse of [`SlotLoc::of`]).
    pub(crate) fn index(self) -> usize {
        seg_start(self.seg()) + self.off()
    }

    /// The location `i` slots further on, inside the same run.
    #[inline(always)]
    pub(crate) fn at(self, i: usize) -> SlotLoc {
        SlotLoc {
            seg: self.seg,
            off: self.off + i as u32,
        }
    }
}

/// A [`SlotLoc`] packed in one word, for handles that record into one
/// slot: a handle holding it and a series pointer is a pair of scalars,
/// which the compiler keeps in registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PackedLoc(u64);

impl PackedLoc {
    #[inline(always)]
    pub(crate) fn new(loc: SlotLoc) -> PackedLoc {
        PackedLoc(loc.word())
    }

    #[inline(always)]
    pub(crate) fn get(self) -> SlotLoc {
        // `new` packed a clean location: no run-length bits to mask.
        SlotLoc {
            seg: (self.0 >> 32) as u32,
            off: self.0 as u32,
        }
    }
}

fn seg_len(seg: usize) -> usize {
    1usize << (SEG0_BITS as usize + seg)
}

fn seg_start(seg: usize) -> usize {
    seg_len(seg) - (1usize << SEG0_BITS)
}

/// Segments start on a 128-byte boundary (and their lengths are multiples
/// of 128 bytes), so no two shards' cells, which different threads write,
/// share a cache line or an adjacent-line prefetch pair.
const SEGMENT_ALIGN: usize = 128;

/// A zeroed segment of `seg_len(seg)` cells.
fn new_segment(seg: usize) -> *mut AtomicU64 {
    alloc_cells(seg_len(seg), SEGMENT_ALIGN)
}

/// Frees a segment from [`new_segment`].
///
/// # Safety
///
/// `p` came from `new_segment(seg)` and is not used again.
unsafe fn free_segment(p: *mut AtomicU64, seg: usize) {
    // SAFETY: as the caller guarantees; `new_segment` allocated exactly
    // these cells.
    unsafe { free_cells(p, seg_len(seg), SEGMENT_ALIGN) }
}

/// One shard: a cell for every allocated slot. Every record reads its
/// segment table, so it has cache lines of its own too.
#[repr(align(128))]
pub(crate) struct Shard {
    segments: [AtomicPtr<AtomicU64>; SEGMENTS],
    /// Shared shards add with a compare-exchange; exclusive ones load and
    /// store.
    shared: bool,
    /// Position in the pool (for hand-back).
    index: usize,
}

impl std::fmt::Debug for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shard")
            .field("index", &self.index)
            .field("shared", &self.shared)
            .finish()
    }
}

impl Shard {
    fn new(index: usize, shared: bool, segments: usize) -> Shard {
        let shard = Shard {
            segments: std::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
            shared,
            index,
        };
        for seg in 0..segments {
            shard.alloc_segment(seg);
        }
        shard
    }

    fn alloc_segment(&self, seg: usize) {
        let p = new_segment(seg);
        // Release: a reader that sees the pointer sees zeroed cells.
        self.segments[seg].store(p, Ordering::Release);
    }

    /// The cell for `loc`, if its segment exists in this shard.
    #[inline(always)]
    fn cell(&self, loc: SlotLoc) -> Option<&AtomicU64> {
        let seg = self.segments[loc.seg()].load(Ordering::Acquire);
        if seg.is_null() {
            return None;
        }
        // SAFETY: a non-null segment pointer was produced by `alloc_segment`
        // from a boxed slice of `seg_len(loc.seg)` cells, and is only freed
        // when the pool is dropped, which outlives every shard reference.
        // `loc.off < seg_len(loc.seg)` because every `SlotLoc` comes from
        // `SlotLoc::of` (offset inside its segment) plus an index inside a run
        // that `Pool::alloc` placed wholly inside one segment.
        Some(unsafe { &*seg.add(loc.off()) })
    }

    /// The `len` cells from `loc` (fewer if the segment ends first, which
    /// no run `Pool::alloc` placed does), if its segment exists in this
    /// shard: one segment-table read for a whole run.
    #[inline(always)]
    fn run(&self, loc: SlotLoc, len: usize) -> Option<&[AtomicU64]> {
        let seg = self.segments[loc.seg()].load(Ordering::Acquire);
        if seg.is_null() {
            return None;
        }
        debug_assert!(loc.off() + len <= seg_len(loc.seg()));
        let len = len.min(seg_len(loc.seg()) - loc.off());
        // SAFETY: as in `cell`; the `len` cells from `loc.off` lie inside
        // the segment's `seg_len(loc.seg)` (clamped above).
        Some(unsafe { std::slice::from_raw_parts(seg.add(loc.off()), len) })
    }

    #[inline(always)]
    fn cell_or_grow(&self, loc: SlotLoc) -> &AtomicU64 {
        match self.cell(loc) {
            Some(c) => c,
            None => self.cell_cold(loc),
        }
    }

    #[cold]
    #[inline(never)]
    fn cell_cold(&self, loc: SlotLoc) -> &AtomicU64 {
        // Unreachable by the growth invariant; re-establish it rather than
        // trust it, so that a broken invariant cannot lose a count.
        let pool = pool();
        let st = lock(&pool.state);
        for seg in 0..=loc.seg() {
            if self.segments[seg].load(Ordering::Acquire).is_null() {
                self.alloc_segment(seg);
            }
        }
        drop(st);
        self.cell(loc).expect("segment allocated above")
    }

    /// Adds one to the integer cell at `loc`: no ceiling check, because a
    /// cell at or below [`CELL_CEILING`] (where [`Shard::add`] leaves it)
    /// needs 2^63 more increments to wrap, 292 years at one a nanosecond.
    #[inline(always)]
    pub(crate) fn inc(&self, loc: SlotLoc) {
        let c = self.cell_or_grow(loc);
        if self.shared {
            c.fetch_add(1, Ordering::Relaxed);
        } else {
            // Single writer: no read-modify-write instruction needed.
            c.store(c.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
        }
    }

    /// Adds `v` to the integer cell at `loc`, up to [`CELL_CEILING`]: an
    /// add of any size leaves the cell where [`Shard::inc`] cannot wrap
    /// it, so a count never goes back. A cell already past the ceiling
    /// (by increments) keeps its value.
    #[inline(always)]
    pub(crate) fn add(&self, loc: SlotLoc, v: u64) {
        let c = self.cell_or_grow(loc);
        if self.shared {
            add_shared(c, v);
        } else {
            let cur = c.load(Ordering::Relaxed);
            c.store(ceiling_add(cur, v), Ordering::Relaxed);
        }
    }

    /// Adds `v` to the `f64` cell at `loc` (stored as bits).
    #[inline(always)]
    pub(crate) fn add_f64(&self, loc: SlotLoc, v: f64) {
        let c = self.cell_or_grow(loc);
        if self.shared {
            let mut cur = c.load(Ordering::Relaxed);
            loop {
                let new = (f64::from_bits(cur) + v).to_bits();
                match c.compare_exchange_weak(cur, new, Ordering::Relaxed, Ordering::Relaxed) {
                    Ok(_) => break,
                    Err(actual) => cur = actual,
                }
            }
        } else {
            let cur = f64::from_bits(c.load(Ordering::Relaxed));
            c.store((cur + v).to_bits(), Ordering::Relaxed);
        }
    }
}

/// The largest count telemeter reports, 2^63: [`Shard::add`] stops a cell
/// there, and the scrape's sums over shards (`Pool::sum`,
/// `Pool::sum_histogram`) stop there too, so a count never wraps and never
/// goes back, however its adds spread over shards.
pub(crate) const CELL_CEILING: u64 = 1 << 63;

/// `cur + v`, stopped at [`CELL_CEILING`], and never below `cur`.
#[inline(always)]
fn ceiling_add(cur: u64, v: u64) -> u64 {
    if cur >= CELL_CEILING {
        cur
    } else {
        cur.saturating_add(v).min(CELL_CEILING)
    }
}

/// [`ceiling_add`] on a cell that several threads write (a shared shard):
/// a compare-exchange loop, since a `fetch_add` past the ceiling would show
/// a wrapped value to a scrape before any fix-up.
#[inline]
fn add_shared(c: &AtomicU64, v: u64) {
    let mut cur = c.load(Ordering::Relaxed);
    loop {
        let new = ceiling_add(cur, v);
        if new == cur {
            return;
        }
        match c.compare_exchange_weak(cur, new, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return,
            Err(actual) => cur = actual,
        }
    }
}

/// Pool bookkeeping, guarded by the pool mutex. Everything here is cold.
struct PoolState {
    /// Shards published in `Pool::shards[..created]`.
    created: usize,
    exclusive_created: usize,
    free_exclusive: Vec<usize>,
    shared: Vec<usize>,
    next_shared: usize,
    /// Segments allocated in every published shard.
    segments: usize,
    next_slot: usize,
    free_runs: HashMap<usize, Vec<usize>>,
    live_slots: usize,
}

/// The process-wide shard pool and slot allocator.
pub(crate) struct Pool {
    shards: [AtomicPtr<Shard>; MAX_SHARDS],
    state: Mutex<PoolState>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").finish_non_exhaustive()
    }
}

/// Statistics about the pool, for tests, benches and the admin console.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolStats {
    /// Shards created so far (exclusive and shared).
    pub shards: usize,
    /// Exclusive shards currently held by a live thread.
    pub exclusive_in_use: usize,
    /// Slots currently allocated to live series.
    pub live_slots: usize,
    /// Slots per shard currently backed by memory.
    pub capacity_slots: usize,
}

impl Pool {
    fn new() -> Pool {
        Pool {
            shards: std::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
            state: Mutex::new(PoolState {
                created: 0,
                exclusive_created: 0,
                free_exclusive: Vec::new(),
                shared: Vec::new(),
                next_shared: 0,
                segments: 0,
                next_slot: 0,
                free_runs: HashMap::new(),
                live_slots: 0,
            }),
        }
    }

    fn publish(&self, st: &mut PoolState, shared: bool) -> usize {
        let idx = st.created;
        let shard = Box::new(Shard::new(idx, shared, st.segments));
        // Release: a scrape that sees the shard sees its segments.
        self.shards[idx].store(Box::into_raw(shard), Ordering::Release);
        st.created += 1;
        idx
    }

    fn shard(&self, idx: usize) -> &Shard {
        let p = self.shards[idx].load(Ordering::Acquire);
        // SAFETY: callers pass an index below `created`, whose pointer was
        // published by `publish` from a live Box that is freed only by
        // `Pool::drop`.
        unsafe { &*p }
    }

    /// Takes a shard for the calling thread: a free exclusive one, a new
    /// exclusive one, or (past the limit) a shared one.
    fn take(&self) -> (&Shard, bool) {
        let mut st = lock(&self.state);
        if let Some(idx) = st.free_exclusive.pop() {
            return (self.shard(idx), true);
        }
        if st.exclusive_created < EXCLUSIVE_SHARDS {
            st.exclusive_created += 1;
            let idx = self.publish(&mut st, false);
            return (self.shard(idx), true);
        }
        (self.shared_shard(&mut st), false)
    }

    fn shared_shard(&self, st: &mut PoolState) -> &Shard {
        if st.shared.len() < SHARED_SHARDS {
            let idx = self.publish(st, true);
            st.shared.push(idx);
            return self.shard(idx);
        }
        let idx = st.shared[st.next_shared % st.shared.len()];
        st.next_shared = st.next_shared.wrapping_add(1);
        self.shard(idx)
    }

    /// Gives an exclusive shard back. Its cells keep their values.
    fn give_back(&self, idx: usize) {
        let mut st = lock(&self.state);
        st.free_exclusive.push(idx);
    }

    /// Allocates a run of `len` contiguous slots inside one segment, zero in
    /// every shard. `len` must be in `1..=MAX_RUN`.
    pub(crate) fn alloc(&self, len: usize) -> usize {
        debug_assert!((1..=MAX_RUN).contains(&len));
        let mut st = lock(&self.state);
        st.live_slots += len;
        if let Some(start) = st.free_runs.get_mut(&len).and_then(Vec::pop) {
            return start;
        }
        let mut start = st.next_slot;
        loop {
            let loc = SlotLoc::of(start);
            if loc.off() + len <= seg_len(loc.seg()) {
                break;
            }
            // The run would straddle two segments: start at the next one.
            start = seg_start(loc.seg() + 1);
        }
        st.next_slot = start + len;
        let needed = SlotLoc::of(start + len - 1).seg() + 1;
        while st.segments < needed {
            let seg = st.segments;
            for idx in 0..st.created {
                self.shard(idx).alloc_segment(seg);
            }
            st.segments += 1;
        }
        start
    }

    /// Zeroes a run in every shard and puts it on the free list. The caller
    /// guarantees that no handle can still write the run.
    pub(crate) fn free(&self, start: usize, len: usize) {
        let mut st = lock(&self.state);
        let loc = SlotLoc::of(start);
        for idx in 0..st.created {
            let shard = self.shard(idx);
            for i in 0..len {
                if let Some(c) = shard.cell(loc.at(i)) {
                    c.store(0, Ordering::Relaxed);
                }
            }
        }
        st.live_slots -= len;
        st.free_runs.entry(len).or_default().push(start);
    }

    /// Sums a histogram's run over every shard, in one pass: its
    /// `out.len()` integer bucket cells into `out` (overwriting it), then
    /// the `f64` sum cell and the integer sum cell that follow them.
    /// Returns the two sums.
    pub(crate) fn sum_histogram(&self, loc: SlotLoc, out: &mut [u64]) -> (f64, u64) {
        out.iter_mut().for_each(|v| *v = 0);
        let n = out.len();
        let (mut float_sum, mut int_sum) = (0.0, 0u64);
        self.for_each_shard(|shard| {
            if let Some(run) = shard.run(loc, n + 2) {
                for (acc, c) in out.iter_mut().zip(run) {
                    *acc = acc
                        .saturating_add(c.load(Ordering::Relaxed))
                        .min(CELL_CEILING);
                }
                if let Some(c) = run.get(n) {
                    float_sum += f64::from_bits(c.load(Ordering::Relaxed));
                }
                if let Some(c) = run.get(n + 1) {
                    int_sum = int_sum
                        .saturating_add(c.load(Ordering::Relaxed))
                        .min(CELL_CEILING);
                }
            }
        });
        (float_sum, int_sum)
    }

    /// Sums one integer cell over every shard. (A batch form that walked
    /// each shard once for many cells earned nothing side by side; see
    /// docs/BENCHMARKS.md, "Retired or kept".)
    pub(crate) fn sum(&self, loc: SlotLoc) -> u64 {
        let mut total = 0u64;
        self.for_each_shard(|shard| {
            if let Some(c) = shard.cell(loc) {
                total = total
                    .saturating_add(c.load(Ordering::Relaxed))
                    .min(CELL_CEILING);
            }
        });
        total
    }

    /// Sums one `f64` cell over every shard.
    pub(crate) fn sum_f64(&self, loc: SlotLoc) -> f64 {
        let mut total = 0.0;
        self.for_each_shard(|shard| {
            if let Some(c) = shard.cell(loc) {
                total += f64::from_bits(c.load(Ordering::Relaxed));
            }
        });
        total
    }

    fn for_each_shard(&self, mut f: impl FnMut(&Shard)) {
        for slot in &self.shards {
            let p = slot.load(Ordering::Acquire);
            if p.is_null() {
                break; // shards are published in index order
            }
            // SAFETY: see `shard`: published pointers stay valid for the
            // pool's lifetime.
            f(unsafe { &*p });
        }
    }

    pub(crate) fn stats(&self) -> PoolStats {
        let st = lock(&self.state);
        PoolStats {
            shards: st.created,
            exclusive_in_use: st.exclusive_created - st.free_exclusive.len(),
            live_slots: st.live_slots,
            capacity_slots: if st.segments == 0 {
                0
            } else {
                seg_start(st.segments)
            },
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        for slot in &self.shards {
            let p = slot.load(Ordering::Acquire);
            if p.is_null() {
                break;
            }
            // SAFETY: the pool is being dropped, so no reference to any
            // shard remains (thread-local pointers into a pool never outlive
            // it: the std pool is never dropped, a loom pool is dropped after
            // its model's threads finished); `p` came from `Box::into_raw`.
            let shard = unsafe { Box::from_raw(p) };
            for (seg, sp) in shard.segments.iter().enumerate() {
                let sp = sp.load(Ordering::Acquire);
                if !sp.is_null() {
                    // SAFETY: produced by `alloc_segment` as a boxed slice of
                    // exactly `seg_len(seg)` cells, freed once here.
                    unsafe { free_segment(sp, seg) };
                }
            }
        }
    }
}

// SAFETY (Send/Sync): `Shard` and `Pool` hold raw pointers only to memory
// they own, every access to which goes through atomics.
unsafe impl Send for Shard {}
// SAFETY: as above.
unsafe impl Sync for Shard {}
// SAFETY: as above.
unsafe impl Send for Pool {}
// SAFETY: as above.
unsafe impl Sync for Pool {}

global! {
    /// The process-wide pool (one per model execution under loom).
    pub(crate) fn pool() -> &'static Pool { Pool::new() }
}

/// Hands an exclusive shard back to the pool when its thread exits.
struct Owner {
    idx: Cell<usize>,
}

impl Owner {
    /// Gives the thread's exclusive shard back, once.
    fn release(&self) {
        let idx = self.idx.replace(usize::MAX);
        if idx != usize::MAX {
            // Later thread-local destructors that record find no shard and
            // take a shared one (see `acquire`).
            let _ = CURRENT.try_with(|c| c.set(ptr::null()));
            pool().give_back(idx);
        }
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.release();
    }
}

/// Runs the calling thread's exit hand-off now (what its thread-local
/// destructor would do).
///
/// Only for loom models: loom's `JoinHandle::join` returns before the
/// joined thread's thread-local destructors run (std's waits for them), so a
/// model calls this as the last step of each spawned thread to put the
/// hand-off where std puts it.
#[cfg(telemeter_loom)]
pub fn loom_thread_exit() {
    let _ = OWNER.try_with(Owner::release);
}

thread_locals! {
    static CURRENT: Cell<*const Shard> = const { Cell::new(ptr::null()) };
    static OWNER: Owner = const { Owner { idx: Cell::new(usize::MAX) } };
}

#[cold]
#[inline(never)]
fn acquire() -> *const Shard {
    let pool = pool();
    let (shard, exclusive) = pool.take();
    let p: *const Shard = shard;
    if exclusive {
        // Register the hand-back. If this thread is already tearing down its
        // thread-locals, there is no destructor to run later: use a shared
        // shard instead and give the exclusive one straight back.
        if OWNER.try_with(|o| o.idx.set(shard.index)).is_err() {
            pool.give_back(shard.index);
            let mut st = lock(&pool.state);
            let s: *const Shard = pool.shared_shard(&mut st);
            return s;
        }
    }
    let _ = CURRENT.try_with(|c| c.set(p));
    p
}

/// Runs `f` on the calling thread's shard.
#[inline(always)]
pub(crate) fn with_shard<R>(f: impl FnOnce(&Shard) -> R) -> R {
    let p = CURRENT.try_with(|c| c.get()).unwrap_or(ptr::null());
    let p = if p.is_null() { acquire() } else { p };
    // SAFETY: `p` points to a shard published in the pool, which lives as
    // long as the pool (forever for the std pool, the whole model execution
    // under loom).
    f(unsafe { &*p })
}

/// Statistics of the process-wide pool.
pub fn pool_stats() -> PoolStats {
    pool().stats()
}

#[cfg(all(test, not(telemeter_loom)))]
mod tests {
    use super::*;

    #[test]
    fn locations_cover_the_space_without_gaps() {
        let mut expect = (0usize, 0usize);
        for slot in 0..(MAX_RUN * 20) {
            let loc = SlotLoc::of(slot);
            assert_eq!((loc.seg(), loc.off()), expect, "slot {slot}");
            assert_eq!(loc.index(), slot);
            expect.1 += 1;
            if expect.1 == seg_len(expect.0) {
                expect = (expect.0 + 1, 0);
            }
        }
    }

    #[test]
    fn runs_never_straddle_segments() {
        let pool = Pool::new();
        for len in [1usize, 7, 13, 100, MAX_RUN, 3] {
            for _ in 0..50 {
                let s = pool.alloc(len);
                let a = SlotLoc::of(s);
                let b = SlotLoc::of(s + len - 1);
                assert_eq!(a.seg(), b.seg());
            }
        }
    }

    /// A pool of its own with `n` exclusive shards.
    fn pool_with_shards(n: usize) -> Pool {
        let pool = Pool::new();
        let mut st = lock(&pool.state);
        for _ in 0..n {
            pool.publish(&mut st, false);
        }
        drop(st);
        pool
    }

    #[test]
    fn cells_stop_at_the_ceiling_in_exclusive_and_shared_shards_and_the_sum_saturates() {
        let pool = Pool::new();
        let mut st = lock(&pool.state);
        let (excl, shared) = (pool.publish(&mut st, false), pool.publish(&mut st, true));
        drop(st);
        let loc = SlotLoc::of(pool.alloc(1));
        let read = |idx: usize| pool.shard(idx).cell(loc).unwrap().load(Ordering::Relaxed);
        for idx in [excl, shared] {
            let shard = pool.shard(idx);
            assert_eq!(shard.shared, idx == shared);
            shard.add(loc, CELL_CEILING - 3);
            shard.add(loc, 5);
            assert_eq!(read(idx), CELL_CEILING);
            shard.add(loc, u64::MAX);
            assert_eq!(read(idx), CELL_CEILING);
            // Increments go on past it (2^63 of them would be needed to
            // wrap); a later add keeps what they made.
            shard.inc(loc);
            assert_eq!(read(idx), CELL_CEILING + 1);
            shard.add(loc, 7);
            assert_eq!(read(idx), CELL_CEILING + 1);
        }
        assert_eq!(pool.sum(loc), CELL_CEILING, "the sum stops there too");
        assert_eq!(super::ceiling_add(0, u64::MAX), CELL_CEILING);
        assert_eq!(super::ceiling_add(2, 3), 5);
    }

    #[test]
    fn a_histogram_run_sums_as_its_cells_do() {
        let pool = pool_with_shards(3);
        // 11 buckets, the float sum and the integer sum; a run placed at
        // the end of segment 0 and one in segment 1.
        let _pad = pool.alloc(MAX_RUN - 13 - 7);
        let runs = [pool.alloc(13), pool.alloc(13)];
        assert_eq!(
            runs.map(|r| SlotLoc::of(r).seg()),
            [0, 1],
            "the second run does not fit the rest of segment 0"
        );
        for start in runs {
            let loc = SlotLoc::of(start);
            for (idx, k) in [(0usize, 1u64), (1, 10), (2, 100)] {
                let shard = pool.shard(idx);
                for i in 0..11 {
                    shard.add(loc.at(i), k * (i as u64 + 1));
                }
                shard.add(loc.at(11), (0.25 * k as f64).to_bits());
                shard.add(loc.at(12), k * 7);
            }
            let mut out = [u64::MAX; 11];
            let (float_sum, int_sum) = pool.sum_histogram(loc, &mut out);
            let expect: Vec<u64> = (0..11).map(|i| pool.sum(loc.at(i))).collect();
            assert_eq!(out[..], expect[..]);
            assert_eq!(out[10], 111 * 11);
            assert_eq!(float_sum, pool.sum_f64(loc.at(11)));
            assert_eq!(float_sum, 0.25 + 2.5 + 25.0);
            assert_eq!(int_sum, pool.sum(loc.at(12)));
            assert_eq!(int_sum, 777);
        }
    }

    #[test]
    fn cells_sum_over_every_shard_in_both_segments() {
        let pool = pool_with_shards(3);
        // Cells in segments 0 and 1, in no particular order.
        let _pad = pool.alloc(MAX_RUN - 2);
        let locs: Vec<SlotLoc> = (0..6).map(|_| SlotLoc::of(pool.alloc(1))).rev().collect();
        assert!(locs.iter().any(|l| l.seg() == 0) && locs.iter().any(|l| l.seg() == 1));
        for (idx, k) in [(0usize, 1u64), (1, 10), (2, 100)] {
            for (j, &loc) in locs.iter().enumerate() {
                pool.shard(idx).add(loc, k * (j as u64 + 1));
            }
        }
        let sums: Vec<u64> = locs.iter().map(|&l| pool.sum(l)).collect();
        assert_eq!(sums, [111, 222, 333, 444, 555, 666]);
    }

    #[test]
    fn freed_runs_are_zeroed_and_reused() {
        let pool = Pool::new();
        let mut st = lock(&pool.state);
        pool.publish(&mut st, false);
        drop(st);
        let s = pool.alloc(3);
        let shard = pool.shard(0);
        shard.add(SlotLoc::of(s).at(2), 9);
        assert_eq!(pool.sum(SlotLoc::of(s).at(2)), 9);
        pool.free(s, 3);
        let t = pool.alloc(3);
        assert_eq!(t, s);
        assert_eq!(pool.sum(SlotLoc::of(t).at(2)), 0);
    }

    #[test]
    fn segments_and_shards_have_cache_lines_of_their_own() {
        let pool = Pool::new();
        let mut st = lock(&pool.state);
        pool.publish(&mut st, false);
        pool.publish(&mut st, false);
        drop(st);
        // Enough slots for three segments in both shards.
        let runs: Vec<usize> = (0..7).map(|_| pool.alloc(MAX_RUN)).collect();
        for idx in 0..2 {
            let shard = pool.shard(idx);
            assert_eq!(shard as *const Shard as usize % 128, 0);
            for seg in 0..3 {
                let first = shard.cell(SlotLoc::new(seg, 0)).expect("allocated");
                assert_eq!(
                    first as *const AtomicU64 as usize % 128,
                    0,
                    "shard {idx} segment {seg}"
                );
                assert_eq!(first.load(Ordering::Relaxed), 0);
            }
        }
        for s in runs {
            pool.free(s, MAX_RUN);
        }
    }
}
