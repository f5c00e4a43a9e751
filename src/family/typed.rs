//! Label sets as Rust types: [`LabelSet`] (a struct of fixed-cardinality
//! labels, declared with [`label_set!`](crate::label_set)) and
//! [`Typed`], a family's handles for every combination in one dense table,
//! indexed with no hashing and no `Result`.
#![forbid(unsafe_code)]

use std::fmt;
use std::marker::PhantomData;

use super::{Family, Metric};
use crate::Error;

/// The most combinations one [`Family::typed`] table may hold.
pub const MAX_TYPED_COMBINATIONS: usize = 1 << 16;

/// A label set whose every label is a
/// [`FixedCardinalityLabel`](crate::FixedCardinalityLabel): a struct of
/// them, declared with [`label_set!`](crate::label_set). Its combinations
/// map to a dense index (mixed radix, the last label fastest).
pub trait LabelSet: Copy + 'static {
    /// The label names, in field order: the family's label names.
    const NAMES: &'static [&'static str];
    /// Each label's values, in field order.
    const VALUES: &'static [&'static [&'static str]];
    /// This combination's position in the dense table.
    fn index(self) -> usize;
}

/// A family's handle for every combination of a [`LabelSet`], resolved
/// once ([`Family::typed`]): `get` is an index computation and a load.
#[must_use]
pub struct Typed<L, M> {
    handles: Box<[M]>,
    _l: PhantomData<fn(L)>,
}

impl<L, M: Clone> Clone for Typed<L, M> {
    fn clone(&self) -> Self {
        Typed {
            handles: self.handles.clone(),
            _l: PhantomData,
        }
    }
}

impl<L, M> fmt::Debug for Typed<L, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Typed")
            .field("combinations", &self.handles.len())
            .finish()
    }
}

impl<L: LabelSet, M> Typed<L, M> {
    /// The handle for `labels`.
    #[inline]
    pub fn get(&self, labels: L) -> &M {
        &self.handles[labels.index()]
    }
}

impl<M: Metric> Family<M> {
    /// Every combination of the label set `L`, resolved once, in a dense
    /// table: `typed.get(Labels { .. })` then needs no hashing and returns
    /// no `Result`. The family's label names must be `L::NAMES`, in order
    /// (register it with `Opts::labels(L::NAMES)`).
    ///
    /// # Errors
    ///
    /// [`Error::LabelCount`] or [`Error::UnknownLabel`] when the family's
    /// labels are not `L::NAMES`; [`Error::LabelSetTooLarge`] when `L` has
    /// more combinations than the family's cardinality limit or
    /// [`MAX_TYPED_COMBINATIONS`].
    ///
    /// ```
    /// use telemeter::{fixed_label, label_set, Opts, Registry};
    /// fixed_label! { pub enum Method: "method" { Get = "GET", Post = "POST" } }
    /// fixed_label! { pub enum Class: "class" { Ok = "2xx", ClientError = "4xx", ServerError = "5xx" } }
    /// label_set! { pub struct Http { method: Method, class: Class } }
    ///
    /// let reg = Registry::new();
    /// let requests = reg
    ///     .counter_family(Opts::new("http_requests_total", "Requests.").labels(Http::NAMES))?
    ///     .typed::<Http>()?;
    /// requests.get(Http { method: Method::Post, class: Class::ServerError }).inc();
    /// assert!(reg
    ///     .encode_to_string()
    ///     .contains("http_requests_total{method=\"POST\",class=\"5xx\"} 1\n"));
    /// # Ok::<(), telemeter::Error>(())
    /// ```
    pub fn typed<L: LabelSet>(&self) -> Result<Typed<L, M>, Error> {
        let names = &self.core.label_names;
        if names.len() != L::NAMES.len() {
            return Err(Error::LabelCount {
                family: self.name().to_string(),
                expected: names.len(),
                got: L::NAMES.len(),
            });
        }
        if let Some(missing) = L::NAMES.iter().zip(names.iter()).find(|(l, n)| l != n) {
            return Err(Error::UnknownLabel {
                family: self.name().to_string(),
                label: (*missing.0).to_string(),
            });
        }
        let size = L::VALUES
            .iter()
            .try_fold(1usize, |n, v| n.checked_mul(v.len()))
            .unwrap_or(usize::MAX);
        let max = self.core.max_series().min(MAX_TYPED_COMBINATIONS);
        if size > max {
            return Err(Error::LabelSetTooLarge {
                family: self.name().to_string(),
                combinations: size,
                max,
            });
        }
        let mut handles = Vec::with_capacity(size);
        let mut values: Vec<&str> = vec![""; L::VALUES.len()];
        for index in 0..size {
            let mut rest = index;
            for (slot, vals) in values.iter_mut().zip(L::VALUES).rev() {
                *slot = vals[rest % vals.len()];
                rest /= vals.len();
            }
            handles.push(self.with_label_values(&values)?);
        }
        Ok(Typed {
            handles: handles.into_boxed_slice(),
            _l: PhantomData,
        })
    }
}

/// Declares a [`LabelSet`]: a struct whose fields are
/// [`fixed_label!`](crate::fixed_label) types. Its label names are the
/// fields' label names, in field order (`Struct::NAMES`, to give
/// `Opts::labels`), and [`Family::typed`] resolves every combination.
///
/// ```
/// use telemeter::{fixed_label, label_set, LabelSet};
/// fixed_label! { pub enum Verb: "verb" { Get = "get", Put = "put" } }
/// fixed_label! { pub enum Hit: "result" { Hit = "hit", Miss = "miss" } }
/// label_set! {
///     /// A cache operation.
///     pub struct CacheOp { verb: Verb, result: Hit }
/// }
/// assert_eq!(CacheOp::NAMES, ["verb", "result"]);
/// assert_eq!(CacheOp { verb: Verb::Put, result: Hit::Hit }.index(), 2);
/// ```
#[macro_export]
macro_rules! label_set {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident { $($fvis:vis $field:ident : $ty:ty),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        $vis struct $name { $($fvis $field: $ty),+ }

        impl $name {
            /// The label names, in field order (for `Opts::labels`).
            #[allow(dead_code)]
            $vis const NAMES: &'static [&'static str] =
                &[$(<$ty as $crate::FixedCardinalityLabel>::NAME),+];
        }

        impl $crate::LabelSet for $name {
            const NAMES: &'static [&'static str] =
                &[$(<$ty as $crate::FixedCardinalityLabel>::NAME),+];
            const VALUES: &'static [&'static [&'static str]] =
                &[$(<$ty as $crate::FixedCardinalityLabel>::VALUES),+];
            #[inline]
            fn index(self) -> usize {
                let mut i = 0usize;
                $(
                    i = i * <$ty as $crate::FixedCardinalityLabel>::VALUES.len()
                        + $crate::FixedCardinalityLabel::index(self.$field);
                )+
                i
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use crate::{fixed_label, Opts, Registry};

    fixed_label! { pub enum A: "a" { X = "x", Y = "y", Z = "z" } }
    fixed_label! { pub enum B: "b" { P = "p", Q = "q" } }
    crate::label_set! { pub struct Ab { a: A, b: B } }

    #[test]
    fn every_combination_gets_its_own_series_at_its_dense_index() {
        let reg = Registry::builder().self_metrics(false).build();
        let fam = reg
            .counter_family(Opts::new("ab_total", "h").labels(Ab::NAMES))
            .unwrap();
        let t = fam.typed::<Ab>().unwrap();
        assert_eq!(fam.len(), 6);
        let mut n = 0;
        for a in A::ALL {
            for b in B::ALL {
                n += 1;
                t.get(Ab { a: *a, b: *b }).add(n);
                assert_eq!(
                    fam.with_label_values(&[a.as_str(), b.as_str()])
                        .unwrap()
                        .get(),
                    n
                );
            }
        }
        // The table is the family's: a fresh lookup sees the same series.
        assert_eq!(fam.with_label_values(&["z", "q"]).unwrap().get(), 6);
    }

    #[test]
    fn a_family_with_other_labels_or_too_small_a_limit_is_refused() {
        let reg = Registry::new();
        let wrong_order = reg
            .counter_family(Opts::new("ba_total", "h").labels(&["b", "a"]))
            .unwrap();
        assert!(matches!(
            wrong_order.typed::<Ab>(),
            Err(crate::Error::UnknownLabel { .. })
        ));
        let one = reg
            .counter_family(Opts::new("a_total", "h").labels(&["a"]))
            .unwrap();
        assert!(matches!(
            one.typed::<Ab>(),
            Err(crate::Error::LabelCount { .. })
        ));
        let small = reg
            .counter_family(
                Opts::new("small_total", "h")
                    .labels(Ab::NAMES)
                    .max_series(5),
            )
            .unwrap();
        let err = small.typed::<Ab>().unwrap_err();
        assert!(matches!(
            err,
            crate::Error::LabelSetTooLarge {
                combinations: 6,
                max: 5,
                ..
            }
        ));
        assert!(small.is_empty(), "nothing was created");
    }
}
