//! The one switch between `std` and `loom`.
//!
//! Every atomic, `Arc`, `Mutex`, thread-local and lazily built global that
//! takes part in a concurrent protocol comes from here, and so do the two
//! collections whose std versions loom cannot model (arc-swap's
//! [`Published`] / [`SwapOption`] and papaya's [`ConcurrentSet`]), so that
//! building with `RUSTFLAGS="--cfg telemeter_loom"` swaps them all for
//! loom's model-checked versions at once (the pattern of tokio's
//! `src/loom/mod.rs` and crossbeam-utils). No other engine module names
//! `cfg(telemeter_loom)` to pick an implementation; the few that remain
//! elsewhere switch off a feature that does not exist under loom (the
//! per-thread lookup cache) or size a model ([`LOOM`]).
//!
//! What does not take part in a modelled protocol is named for what it is:
//! [`process`] atomics for process-wide statistics in statics, [`StdArc`]
//! for data that is immutable once shared, [`OnceLock`] for state built
//! once with no modelled operation inside.
//!
//! One poisoning policy for every mutex: [`lock`] recovers the data.

#[cfg(not(telemeter_loom))]
pub(crate) use std::sync::{
    atomic::{fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering},
    Arc, Mutex, MutexGuard,
};

#[cfg(telemeter_loom)]
pub(crate) use loom::sync::{
    atomic::{fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering},
    Arc, Mutex, MutexGuard,
};

/// Whether this is a loom build: the sizes a model needs small (shard
/// counts, segment lengths) read it, so that models cross the boundaries
/// that real sizes would take millions of steps to reach.
pub(crate) const LOOM: bool = cfg!(telemeter_loom);

/// `Arc` for data that is immutable once shared (bucket bounds): std's in
/// every build, as its count orders nothing a model checks.
pub(crate) use std::sync::Arc as StdArc;

/// Initialised at most once, with no modelled operation inside the
/// initialiser (a process-wide default registry, a family's map built on
/// its first labelled series): std's in every build.
pub(crate) use std::sync::OnceLock;

/// The mutex and condvar of a callback's own thread (`callback.rs`), which
/// loom builds do not start (they call callbacks inline): std's.
#[cfg(not(telemeter_loom))]
pub(crate) use std::sync::{Condvar as StdCondvar, Mutex as StdMutex};

/// Atomics for process-wide statistics kept in statics (rejected
/// increments, family ids): std's in every build. Loom's atomics cannot be
/// statics, and these counters order nothing.
pub(crate) mod process {
    pub(crate) use std::sync::atomic::{AtomicU64, Ordering};
}

/// A series' exemplar records (`exemplar.rs`): a last-writer-wins record
/// behind a mutex, its cells published once through the series' pointer
/// (a compare-exchange), which a loom model races against a scrape.
pub(crate) mod exemplar {
    #[cfg(telemeter_loom)]
    pub(crate) use loom::sync::{
        atomic::{AtomicPtr, Ordering},
        Mutex,
    };
    #[cfg(not(telemeter_loom))]
    pub(crate) use std::sync::{
        atomic::{AtomicPtr, Ordering},
        Mutex,
    };
}

/// The lookup trait of [`ConcurrentSet`]: a borrowed form that hashes and
/// compares like the stored key.
pub(crate) use papaya::Equivalent;

/// Locks a mutex, recovering the data if a previous holder panicked.
///
/// Every critical section in telemeter leaves its data consistent at each
/// step (pushes, pops, index bumps), so a poisoned lock carries no broken
/// invariant and recovering is correct; it keeps one panicking host thread
/// from taking the metrics engine down with it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Thread-locals: std's (with `const` initialisers) or loom's.
///
/// ```text
/// crate::sync::thread_locals! {
///     static CURRENT: Cell<*const Shard> = const { Cell::new(ptr::null()) };
/// }
/// ```
macro_rules! thread_locals {
    ($(static $name:ident: $t:ty = const { $init:expr };)*) => {
        #[cfg(not(telemeter_loom))]
        std::thread_local! {
            $(static $name: $t = const { $init };)*
        }
        #[cfg(telemeter_loom)]
        loom::thread_local! {
            $(static $name: $t = $init;)*
        }
    };
}
pub(crate) use thread_locals;

/// A function returning a global built on first use: a `OnceLock` in std
/// builds, loom's `lazy_static!` (reset for every model execution) under
/// loom.
///
/// ```text
/// crate::sync::global! {
///     /// The process-wide pool.
///     pub(crate) fn pool() -> &'static Pool { Pool::new() }
/// }
/// ```
macro_rules! global {
    ($(#[$m:meta])* $vis:vis fn $f:ident() -> &'static $t:ty { $init:expr }) => {
        $(#[$m])*
        #[cfg(not(telemeter_loom))]
        $vis fn $f() -> &'static $t {
            static GLOBAL: std::sync::OnceLock<$t> = std::sync::OnceLock::new();
            GLOBAL.get_or_init(|| $init)
        }
        $(#[$m])*
        #[cfg(telemeter_loom)]
        $vis fn $f() -> &'static $t {
            loom::lazy_static! {
                static ref GLOBAL: $t = $init;
            }
            &GLOBAL
        }
    };
}
pub(crate) use global;

/// A value readers load without a lock while writers replace it whole
/// (arc-swap; under loom a mutex around the `Arc`).
pub(crate) struct Published<T> {
    #[cfg(not(telemeter_loom))]
    inner: arc_swap::ArcSwap<T>,
    #[cfg(telemeter_loom)]
    inner: Mutex<Arc<T>>,
}

impl<T> Published<T> {
    /// Publishes `v`.
    pub(crate) fn new(v: T) -> Published<T> {
        Published {
            #[cfg(not(telemeter_loom))]
            inner: arc_swap::ArcSwap::from_pointee(v),
            #[cfg(telemeter_loom)]
            inner: Mutex::new(Arc::new(v)),
        }
    }

    /// The value last published.
    pub(crate) fn load(&self) -> Arc<T> {
        #[cfg(not(telemeter_loom))]
        return self.inner.load_full();
        #[cfg(telemeter_loom)]
        return Arc::clone(&lock(&self.inner));
    }

    /// Publishes `v` in place of the last value.
    pub(crate) fn store(&self, v: T) {
        #[cfg(not(telemeter_loom))]
        self.inner.store(Arc::new(v));
        #[cfg(telemeter_loom)]
        {
            *lock(&self.inner) = Arc::new(v);
        }
    }
}

/// An optional reference-counted value that readers borrow without a lock
/// or a count while writers swap it (arc-swap's `ArcSwapAny`; under loom a
/// mutex).
#[cfg(not(telemeter_loom))]
pub(crate) struct SwapOption<T: arc_swap::RefCnt>(arc_swap::ArcSwapAny<Option<T>>);

/// An optional value (see the std version); under loom a mutex.
#[cfg(telemeter_loom)]
pub(crate) struct SwapOption<T>(Mutex<Option<T>>);

#[cfg(not(telemeter_loom))]
impl<T: arc_swap::RefCnt> SwapOption<T> {
    /// Empty.
    pub(crate) fn none() -> SwapOption<T> {
        SwapOption(arc_swap::ArcSwapAny::new(None))
    }

    /// Runs `f` on the value, if any.
    #[inline]
    pub(crate) fn with<R>(&self, f: impl FnOnce(&T) -> R) -> Option<R> {
        self.0.load().as_ref().map(f)
    }

    /// Replaces the value.
    pub(crate) fn store(&self, v: Option<T>) {
        self.0.store(v);
    }

    /// Takes the value out.
    pub(crate) fn take(&self) -> Option<T> {
        self.0.swap(None)
    }
}

#[cfg(telemeter_loom)]
impl<T> SwapOption<T> {
    pub(crate) fn none() -> SwapOption<T> {
        SwapOption(Mutex::new(None))
    }

    pub(crate) fn with<R>(&self, f: impl FnOnce(&T) -> R) -> Option<R> {
        lock(&self.0).as_ref().map(f)
    }

    pub(crate) fn store(&self, v: Option<T>) {
        *lock(&self.0) = v;
    }

    pub(crate) fn take(&self) -> Option<T> {
        lock(&self.0).take()
    }
}

/// A set that readers search without a lock while writers insert and
/// remove (papaya: lock-free reads, incremental resizes); keys are found by
/// any [`Equivalent`] form. Under loom, a mutex around a list stands in:
/// the models check telemeter's protocols, not papaya's.
#[cfg(not(telemeter_loom))]
pub(crate) struct ConcurrentSet<K>(papaya::HashSet<K, foldhash::fast::RandomState>);

/// A set (see the std version); under loom a mutex around a list.
#[cfg(telemeter_loom)]
pub(crate) struct ConcurrentSet<K>(Mutex<Vec<K>>);

#[cfg(not(telemeter_loom))]
impl<K: std::hash::Hash + Eq> ConcurrentSet<K> {
    /// An empty set with a randomly seeded hasher. A resize moves 8
    /// entries per write (papaya's default is 64): a write during a resize
    /// then pays a few microseconds, not tens (the series-churn probe,
    /// docs/BENCHMARKS.md).
    pub(crate) fn new() -> ConcurrentSet<K> {
        ConcurrentSet(
            papaya::HashSet::builder()
                .hasher(foldhash::fast::RandomState::default())
                .resize_mode(papaya::ResizeMode::Incremental(8))
                .build(),
        )
    }

    /// Runs `f` on the key equivalent to `q`, if any.
    #[inline]
    pub(crate) fn get_with<Q, R>(&self, q: &Q, f: impl FnOnce(&K) -> R) -> Option<R>
    where
        Q: Equivalent<K> + std::hash::Hash + ?Sized,
    {
        let guard = self.0.guard();
        self.0.get(q, &guard).map(f)
    }

    /// Inserts `k`; `false` (and `k` dropped) if an equal key is present.
    pub(crate) fn insert(&self, k: K) -> bool {
        self.0.pin().insert(k)
    }

    /// Removes the key equivalent to `q`; whether there was one.
    pub(crate) fn remove<Q>(&self, q: &Q) -> bool
    where
        Q: Equivalent<K> + std::hash::Hash + ?Sized,
    {
        self.0.pin().remove(q)
    }

    /// Removes every key.
    pub(crate) fn clear(&self) {
        self.0.pin().clear();
    }
}

#[cfg(telemeter_loom)]
impl<K: std::hash::Hash + Eq> ConcurrentSet<K> {
    pub(crate) fn new() -> ConcurrentSet<K> {
        ConcurrentSet(Mutex::new(Vec::new()))
    }

    pub(crate) fn get_with<Q, R>(&self, q: &Q, f: impl FnOnce(&K) -> R) -> Option<R>
    where
        Q: Equivalent<K> + std::hash::Hash + ?Sized,
    {
        lock(&self.0).iter().find(|k| q.equivalent(k)).map(f)
    }

    pub(crate) fn insert(&self, k: K) -> bool {
        let mut keys = lock(&self.0);
        if keys.contains(&k) {
            return false;
        }
        keys.push(k);
        true
    }

    pub(crate) fn remove<Q>(&self, q: &Q) -> bool
    where
        Q: Equivalent<K> + std::hash::Hash + ?Sized,
    {
        let mut keys = lock(&self.0);
        match keys.iter().position(|k| q.equivalent(k)) {
            Some(i) => {
                keys.swap_remove(i);
                true
            }
            None => false,
        }
    }

    pub(crate) fn clear(&self) {
        lock(&self.0).clear();
    }
}

/// A zeroed array of `n` atomic cells whose address is a multiple of
/// `align` (a power of two, at most a page). Under loom a boxed slice:
/// loom's atomics are not plain memory that zeroed bytes make.
pub(crate) fn alloc_cells(n: usize, align: usize) -> *mut AtomicU64 {
    #[cfg(not(telemeter_loom))]
    {
        let layout = cells_layout(n, align);
        // SAFETY: `layout` has a non-zero size; an all-zero `AtomicU64` is 0.
        let p = unsafe { std::alloc::alloc_zeroed(layout) } as *mut AtomicU64;
        if p.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        p
    }
    #[cfg(telemeter_loom)]
    {
        let _ = align;
        let cells: Box<[AtomicU64]> = (0..n).map(|_| AtomicU64::new(0)).collect();
        Box::into_raw(cells) as *mut AtomicU64
    }
}

/// Frees cells from [`alloc_cells`].
///
/// # Safety
///
/// `p` came from `alloc_cells(n, align)` with these `n` and `align`, and
/// is not used again.
pub(crate) unsafe fn free_cells(p: *mut AtomicU64, n: usize, align: usize) {
    #[cfg(not(telemeter_loom))]
    // SAFETY: as the caller guarantees.
    unsafe {
        std::alloc::dealloc(p as *mut u8, cells_layout(n, align))
    }
    #[cfg(telemeter_loom)]
    {
        let _ = align;
        // SAFETY: a boxed slice of exactly `n` cells, as the caller
        // guarantees.
        drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(p, n)) });
    }
}

#[cfg(not(telemeter_loom))]
fn cells_layout(n: usize, align: usize) -> std::alloc::Layout {
    std::alloc::Layout::from_size_align(n * size_of::<AtomicU64>(), align)
        .expect("a cell array fits the address space")
}
