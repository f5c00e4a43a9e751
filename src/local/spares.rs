//! A thread's spare references (see `handle.rs`): counted references to
//! series, owned by the thread's table, that handles take and give back
//! with no atomic operation.

use crate::series::{Header, Series};

/// Spare references a table slot takes at once when it has none left.
pub(crate) const LEND_BATCH: u32 = 64;

/// Spare references a table slot keeps at most; a handle dropped beyond
/// that decrements the count.
pub(crate) const MAX_SPARES: u32 = 1 << 20;

/// One slot of a thread's spare references: `count` counted references
/// to the series at `ptr`, owned by the table. With `count == 0` the
/// slot claims nothing, and `ptr` may be stale.
pub(crate) struct Spare {
    ptr: *const Header,
    pub(crate) count: u32,
}

/// A thread's spare references (see the module docs): `SPARE_SETS`
/// sets of `SPARE_WAYS` slots, chosen by the series' address, once the
/// thread has lent a reference; empty before.
pub(crate) struct Spares {
    pub(crate) slots: Vec<Spare>,
    /// Per set: whether a series of this set has a slot in the next
    /// set (see [`Spares::refill`]). Never cleared.
    pub(crate) spilled: Vec<bool>,
}

pub(crate) const SPARE_SETS: usize = 128;
pub(crate) const SPARE_WAYS: usize = 4;

#[cfg(test)]
std::thread_local! {
    /// Batches of spares this thread took (tests).
    pub(crate) static REFILLS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// The first slot of the set after the one starting at `base`.
#[inline(always)]
fn next_set(base: usize) -> usize {
    (base + SPARE_WAYS) % (SPARE_SETS * SPARE_WAYS)
}

/// The first slot of the set for the series at `p`.
#[inline(always)]
pub(crate) fn spare_set(p: *const Header) -> usize {
    // A multiplicative hash of the address (series are 8-aligned).
    let h = (p as usize as u64 >> 3).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 57;
    h as usize * SPARE_WAYS
}

impl Spares {
    /// The slot that holds spares of the series at `p`, if any, in its
    /// own set.
    #[inline(always)]
    pub(crate) fn find(&mut self, p: *const Header) -> Option<&mut Spare> {
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

    /// A new counted reference to `series`, for a handle.
    #[inline]
    pub(crate) fn lend(&mut self, series: &Series) -> Series {
        match self.find(series.as_ptr()) {
            Some(sp) if sp.count > 0 => {
                sp.count -= 1;
                // SAFETY: one of the table's counted references to
                // `series` moves to the caller.
                unsafe { series.counted_copy() }
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
    fn refill(&mut self, series: &Series) -> Series {
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
                // `series` moves to the caller.
                return unsafe { series.counted_copy() };
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
        unsafe { series.counted_copy() }
    }

    /// Takes a handle's reference to `series` as a spare; `false` (the
    /// caller keeps it) unless a slot is for this series.
    #[inline]
    pub(crate) fn take(&mut self, series: &Series) -> bool {
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
