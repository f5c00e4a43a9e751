//! The handle types a family hands out ([`Metric`], sealed), and handles
//! that borrow a series for one call.

use std::fmt;

use crate::handle::HandleRef;
use crate::series::Series;
use crate::{Buckets, Counter, FloatCounter, FloatGauge, Gauge, Histogram};

mod sealed {
    /// Seals [`super::Metric`].
    pub trait Sealed {}
}

/// A handle type a [`Family`](crate::Family) can hand out. Sealed: implemented by
/// [`Counter`], [`FloatCounter`], [`Gauge`], [`FloatGauge`] and
/// [`Histogram`].
pub trait Metric: sealed::Sealed + Clone + Send + Sync + fmt::Debug + 'static {
    #[doc(hidden)]
    fn __from_series(series: HandleRef) -> Self;
    /// As `__from_series`, for a handle that lives only while its family
    /// is borrowed, with the family's bucket layout at hand.
    #[doc(hidden)]
    #[inline(always)]
    fn __borrowed(series: HandleRef, _family_buckets: Option<&Buckets>) -> Self {
        Self::__from_series(series)
    }
}

macro_rules! impl_metric {
    ($($ty:ident),*) => {$(
        impl sealed::Sealed for $ty {}
        impl Metric for $ty {
            #[inline]
            fn __from_series(series: HandleRef) -> Self {
                $ty::from_series(series)
            }
        }
    )*};
}
impl_metric!(Counter, FloatCounter, Gauge, FloatGauge);
impl sealed::Sealed for Histogram {}
impl Metric for Histogram {
    #[inline]
    fn __from_series(series: HandleRef) -> Self {
        Histogram::from_series(series)
    }
    #[inline(always)]
    fn __borrowed(series: HandleRef, family_buckets: Option<&Buckets>) -> Self {
        match family_buckets {
            Some(b) => Histogram::with_family_buckets(series, b),
            None => Histogram::from_series(series),
        }
    }
}

/// Runs `f` on a handle of type `M` that borrows `series` instead of
/// owning a reference count: no atomic read-modify-write.
#[inline]
pub(super) fn with_borrowed<M: Metric, R>(
    series: &Series,
    family_buckets: Option<&Buckets>,
    f: impl FnOnce(&M) -> R,
) -> R {
    // SAFETY: `ptr::read` makes a bitwise copy of a live reference-counted
    // pointer without counting it; the handle built from it is wrapped in
    // `ManuallyDrop` and never dropped, so the count is never decremented
    // either. The original `series` is borrowed for the whole call, so the
    // copy never outlives it. A clone `f` makes counts as usual.
    let handle = unsafe {
        std::mem::ManuallyDrop::new(M::__borrowed(
            HandleRef::new(std::ptr::read(series)),
            family_buckets,
        ))
    };
    f(&handle)
}
