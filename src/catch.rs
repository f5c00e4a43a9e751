//! Running host code that may panic: callbacks at scrape time, readiness
//! checks, admin pages, `MetricsSource::encode`.
//!
//! `catch_unwind` alone is not enough: a panic's payload is an arbitrary
//! value, and dropping it runs arbitrary code, which may panic again, now
//! outside any `catch_unwind`. [`catch`] drops the payload under a second
//! `catch_unwind` and leaks the payload of that second panic, if any, so
//! that a host's panic never escapes into a scrape or a server task.
#![forbid(unsafe_code)]

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs `f`; `None` if it panicked. The caller must not rely on state `f`
/// may have left half-changed (as with `catch_unwind`).
pub(crate) fn catch<R>(f: impl FnOnce() -> R) -> Option<R> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => Some(r),
        Err(payload) => {
            dispose(payload);
            None
        }
    }
}

/// Drops a panic payload without letting a panic in its `Drop` escape.
pub(crate) fn dispose(payload: Box<dyn Any + Send>) {
    if let Err(again) = catch_unwind(AssertUnwindSafe(|| drop(payload))) {
        std::mem::forget(again);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A panic payload whose drop panics too.
    pub(crate) struct Bomb;

    impl Drop for Bomb {
        fn drop(&mut self) {
            panic!("the payload's drop panics too");
        }
    }

    #[test]
    fn a_value_comes_back_and_a_panic_is_none() {
        assert_eq!(catch(|| 7), Some(7));
        assert_eq!(catch(|| -> u8 { panic!("plain") }), None);
    }

    #[test]
    fn a_payload_that_panics_on_drop_does_not_escape() {
        assert_eq!(catch(|| -> u8 { std::panic::panic_any(Bomb) }), None);
    }
}
