//! What each thread keeps for label lookups: its lookup table
//! ([`table`], keyed as [`key`] says) and its spare series references
//! ([`spares`]), in one thread-local so that a lookup borrows both at once.
//! Absent under loom, where lookups go to the family's map and handles
//! count every reference atomically.
//!
//! `cache.rs` reads the table; `handle.rs` lends and takes back spares.

pub(crate) mod key;
pub(crate) mod spares;
pub(crate) mod table;

use std::cell::RefCell;

use crate::series::Series;
use spares::Spares;
use table::Cache;

crate::sync::thread_locals! {
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

/// Runs `f` on this thread's table, unless the thread is exiting or the
/// table is in use further up the stack (`None` then).
#[inline(always)]
pub(crate) fn with_cache<R>(f: impl FnOnce(&mut Cache) -> Option<R>) -> Option<R> {
    CACHE
        .try_with(|cache| {
            let Ok(mut cache) = cache.try_borrow_mut() else {
                return None;
            };
            f(&mut cache)
        })
        .ok()
        .flatten()
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
pub(crate) fn give_back(series: &Series) -> bool {
    with_spares(|sp| sp.take(series).then_some(())).is_some()
}

/// A new counted reference to `series` from this thread's spares, if the
/// thread keeps a table (it has looked something up).
#[inline]
pub(crate) fn lend_here(series: &Series) -> Option<Series> {
    with_spares(|sp| (!sp.slots.is_empty()).then(|| sp.lend(series)))
}

/// Spare references this thread holds for `series` (tests).
#[cfg(test)]
pub(crate) fn spares_of(series: &Series) -> u32 {
    with_spares(|sp| sp.find(series.as_ptr()).map(|s| s.count)).unwrap_or(0)
}

/// This thread's hash seed (tests).
#[cfg(test)]
pub(crate) fn seed_for_tests() -> u64 {
    CACHE.with(|c| c.borrow().seed)
}
