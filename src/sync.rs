//! The one switch between `std` and `loom`.
//!
//! Every atomic, `Arc`, `Mutex` and thread-local that takes part in a
//! concurrent protocol comes from here, so that building with
//! `RUSTFLAGS="--cfg telemeter_loom"` swaps them all for loom's model-checked
//! versions at once (the same pattern as tokio's `src/loom/mod.rs` and
//! crossbeam-utils). Nothing else in the crate names `std::sync::atomic`.
#![forbid(unsafe_code)]

#[cfg(not(telemeter_loom))]
pub(crate) use std::sync::{
    atomic::{fence, AtomicBool, AtomicPtr, AtomicU64, Ordering},
    Arc, Mutex, MutexGuard,
};

#[cfg(telemeter_loom)]
pub(crate) use loom::sync::{
    atomic::{fence, AtomicBool, AtomicPtr, AtomicU64, Ordering},
    Arc, Mutex, MutexGuard,
};

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
