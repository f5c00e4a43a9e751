//! The counted reference to a series that a handle holds ([`HandleRef`]),
//! and what a lookup found ([`Found`]), from which a handle is made.
//!
//! An owned handle holds one counted reference to its series. Counting it
//! with an atomic increment on creation and a decrement on drop costs two
//! lock-prefixed read-modify-writes, several times the lookup itself. So
//! each thread keeps a small table of *spare* references (128 sets of 4
//! slots, the set chosen by the series' address): references counted in the
//! series' reference count, owned by the table, used by no one. Handing out a
//! handle ([`Found::lend`], or cloning a handle) moves a spare into it,
//! taking a batch of `LEND_BATCH` with one atomic add when the slot has
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
//! every reference atomically; the unit tests of `cache.rs`, the engine
//! tests and Miri exercise the lending.

use std::mem::ManuallyDrop;

#[cfg(not(telemeter_loom))]
use crate::local::spares::Spares;
use crate::series::Series;

/// What a lookup found: the series, borrowed for the lookup, and the
/// calling thread's spare table when the lookup holds it.
pub(crate) struct Found<'a> {
    pub(crate) series: &'a Series,
    #[cfg(not(telemeter_loom))]
    pub(crate) spares: Option<&'a mut Spares>,
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
            return HandleRef::new(spares.lend(self.series));
        }
        HandleRef::new(self.series.clone())
    }
}

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
        if let Some(r) = crate::local::lend_here(&self.series) {
            return HandleRef::new(r);
        }
        HandleRef::new((*self.series).clone())
    }
}

impl Drop for HandleRef {
    #[inline]
    fn drop(&mut self) {
        #[cfg(not(telemeter_loom))]
        if crate::local::give_back(&self.series) {
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
