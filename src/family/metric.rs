//! The handle types a family hands out ([`Metric`], sealed), and handles
//! that borrow a series for one call.

use std::fmt;

use super::Layout;
use crate::handle::HandleRef;
use crate::series::Series;
use crate::{Counter, FloatCounter, FloatGauge, Gauge, Histogram, NativeHistogram, StateSet};

mod sealed {
    /// Seals [`super::Metric`].
    pub trait Sealed {}
}

/// A handle type a [`Family`](crate::Family) can hand out. Sealed: implemented by
/// [`Counter`], [`FloatCounter`], [`Gauge`], [`FloatGauge`],
/// [`Histogram`], [`NativeHistogram`] and [`StateSet`].
pub trait Metric: sealed::Sealed + Clone + Send + Sync + fmt::Debug + 'static {
    /// The handle of `series`, of a family of `layout`.
    #[doc(hidden)]
    fn __from_series(series: HandleRef, layout: &Layout) -> Self;
    /// As `__from_series`, for a handle that lives only while its family
    /// is borrowed.
    #[doc(hidden)]
    #[inline(always)]
    fn __borrowed(series: HandleRef, layout: &Layout) -> Self {
        Self::__from_series(series, layout)
    }
}

macro_rules! impl_metric {
    ($($ty:ident),*) => {$(
        impl sealed::Sealed for $ty {}
        impl Metric for $ty {
            #[inline]
            fn __from_series(series: HandleRef, _: &Layout) -> Self {
                $ty::from_series(series)
            }
        }
    )*};
}
impl_metric!(Counter, FloatCounter, Gauge, FloatGauge);
impl sealed::Sealed for Histogram {}
impl Metric for Histogram {
    #[inline]
    fn __from_series(series: HandleRef, _: &Layout) -> Self {
        Histogram::from_series(series)
    }
    #[inline(always)]
    fn __borrowed(series: HandleRef, layout: &Layout) -> Self {
        match layout {
            Layout::Histogram(b) => Histogram::with_family_buckets(series, b),
            _ => Histogram::from_series(series),
        }
    }
}
impl sealed::Sealed for StateSet {}
impl Metric for StateSet {
    #[inline]
    fn __from_series(series: HandleRef, layout: &Layout) -> Self {
        match layout {
            Layout::StateSet(states) => StateSet::new(series, states),
            _ => unreachable!("a StateSet family has a state set layout"),
        }
    }
}
impl sealed::Sealed for NativeHistogram {}
impl Metric for NativeHistogram {
    #[inline]
    fn __from_series(series: HandleRef, layout: &Layout) -> Self {
        match layout {
            Layout::Native(b) => NativeHistogram::new(series, b),
            _ => unreachable!("a NativeHistogram family has a native layout"),
        }
    }
}

/// Runs `f` on a handle of type `M` that borrows `series` instead of
/// owning a reference count: no atomic read-modify-write.
#[inline]
pub(super) fn with_borrowed<M: Metric, R>(
    series: &Series,
    layout: &Layout,
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
            layout,
        ))
    };
    f(&handle)
}
