//! Metrics declared once for a whole program: [`static_metrics!`] declares
//! `static` handles on the [`default_registry`], registered at their first
//! use, with no `unwrap` anywhere.
//!
//! Names and label names are checked when the program compiles: a bad one
//! is a compile error, not a runtime one. What only the running program
//! can know (the name is taken already, by another static or a
//! registration of the host's) never panics either: the static then
//! records into a registry of its own, which nothing serves, says so once
//! on stderr, and reports it through [`StaticMetric::registration_error`]
//! and [`StaticMetric::force`], which a program can call at start-up to
//! fail early.
//!
//! [`static_metrics!`]: crate::static_metrics
//! [`default_registry`]: crate::default_registry
#![forbid(unsafe_code)]

use std::ops::Deref;
use std::sync::LazyLock;

use crate::Error;

/// A metric handle declared with [`static_metrics!`](crate::static_metrics):
/// dereferences to the handle (`REQUESTS.inc()`), registering it on the
/// default registry at first use.
pub struct StaticMetric<M: 'static> {
    lazy: LazyLock<Resolved<M>>,
}

/// What a static resolved to at its first use (`static_metrics!`'s
/// expansion; not API).
#[doc(hidden)]
pub struct Resolved<M> {
    metric: M,
    error: Option<Error>,
}

impl<M> std::fmt::Debug for StaticMetric<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not forcing the registration: printing has no side effects.
        f.debug_struct("StaticMetric").finish_non_exhaustive()
    }
}

impl<M> std::fmt::Debug for Resolved<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolved")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl<M> StaticMetric<M> {
    #[doc(hidden)]
    pub const fn __new(init: fn() -> Resolved<M>) -> StaticMetric<M> {
        StaticMetric {
            lazy: LazyLock::new(init),
        }
    }

    /// The handle (registered now if this is its first use). Named so
    /// that it does not hide the handle's own `get` (a counter's value),
    /// which `STATIC.get()` reaches through `Deref`.
    #[must_use]
    pub fn handle(&self) -> &M {
        &self.lazy.metric
    }

    /// Registers the metric now if it is not yet: the handle, or why the
    /// default registry refused it (the handle then records into a
    /// registry nothing serves). Call it at start-up to fail early.
    ///
    /// # Errors
    ///
    /// The registration's [`Error`]: [`Error::DuplicateMetric`] when the
    /// name is taken, [`Error::InvalidBuckets`] for a bad bucket layout,
    /// [`Error::FamilyLimit`].
    pub fn force(&self) -> Result<&M, &Error> {
        match &self.lazy.error {
            None => Ok(&self.lazy.metric),
            Some(e) => Err(e),
        }
    }

    /// Why the default registry refused this metric, if it did
    /// (registering it now if this is its first use).
    #[must_use]
    pub fn registration_error(&self) -> Option<&Error> {
        self.lazy.error.as_ref()
    }
}

impl<M> Deref for StaticMetric<M> {
    type Target = M;

    fn deref(&self) -> &M {
        self.handle()
    }
}

/// `static_metrics!`'s helpers: not API.
#[doc(hidden)]
pub mod __private {
    use std::io::Write as _;

    use super::Resolved;
    use crate::{Buckets, Error, Registry};

    /// Registers on the default registry; on a refusal, says so once and
    /// registers the same definition on a registry of its own (which can
    /// only succeed: the names were checked at compile time, the registry
    /// is empty, and `register` falls back to the default buckets when
    /// asked to).
    pub fn resolve<M>(
        static_name: &'static str,
        name: &'static str,
        register: fn(&Registry, bool) -> Result<M, Error>,
    ) -> Resolved<M> {
        match register(crate::default_registry(), false) {
            Ok(metric) => Resolved {
                metric,
                error: None,
            },
            Err(error) => {
                let _ = writeln!(
                    std::io::stderr(),
                    "telemeter: static {static_name} ({name}) is not exported: {error}; it \
                     records into a registry of its own (see StaticMetric::force)"
                );
                let own = Registry::builder().self_metrics(false).build();
                match register(&own, true) {
                    Ok(metric) => Resolved {
                        metric,
                        error: Some(error),
                    },
                    Err(again) => unreachable!(
                        "a checked definition on an empty registry was refused: {again}"
                    ),
                }
            }
        }
    }

    /// The buckets a histogram static gives: a layout, or the result of
    /// building one.
    pub trait IntoBuckets {
        /// The layout, or why it is not one.
        fn into_buckets(self) -> Result<Buckets, Error>;
    }

    impl IntoBuckets for Buckets {
        fn into_buckets(self) -> Result<Buckets, Error> {
            Ok(self)
        }
    }

    impl IntoBuckets for Result<Buckets, Error> {
        fn into_buckets(self) -> Result<Buckets, Error> {
            self
        }
    }

    /// `b`'s layout; with `fallback`, the default one where `b` is none.
    pub fn buckets(b: impl IntoBuckets, fallback: bool) -> Result<Buckets, Error> {
        match b.into_buckets() {
            Err(_) if fallback => Ok(Buckets::default()),
            other => other,
        }
    }

    /// Fails compilation unless `name` is a metric name a registry takes:
    /// `[a-zA-Z_:][a-zA-Z0-9_:]*`, not starting with `__` or `telemeter_`.
    pub const fn metric_name(name: &str) {
        let b = name.as_bytes();
        assert!(!b.is_empty(), "a metric name is not empty");
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            let ok =
                c.is_ascii_alphabetic() || c == b'_' || c == b':' || (i > 0 && c.is_ascii_digit());
            assert!(ok, "a metric name matches [a-zA-Z_:][a-zA-Z0-9_:]*");
            i += 1;
        }
        assert!(
            !(b.len() >= 2 && b[0] == b'_' && b[1] == b'_'),
            "names starting with __ are reserved by Prometheus"
        );
        assert!(
            !starts_with(b, b"telemeter_"),
            "the telemeter_ namespace is the library's own self-metrics'"
        );
    }

    /// Fails compilation unless every label name is one a family takes
    /// (`[a-zA-Z_][a-zA-Z0-9_]*`, not `__...`, no repeats, no `le` on a
    /// histogram).
    pub const fn label_names(labels: &[&str], histogram: bool) {
        let mut i = 0;
        while i < labels.len() {
            let b = labels[i].as_bytes();
            assert!(!b.is_empty(), "a label name is not empty");
            let mut j = 0;
            while j < b.len() {
                let c = b[j];
                let ok = c.is_ascii_alphabetic() || c == b'_' || (j > 0 && c.is_ascii_digit());
                assert!(ok, "a label name matches [a-zA-Z_][a-zA-Z0-9_]*");
                j += 1;
            }
            assert!(
                !(b.len() >= 2 && b[0] == b'_' && b[1] == b'_'),
                "label names starting with __ are reserved by Prometheus"
            );
            assert!(
                !(histogram && b.len() == 2 && b[0] == b'l' && b[1] == b'e'),
                "le is a histogram's own label"
            );
            let mut k = 0;
            while k < i {
                assert!(!eq(labels[k].as_bytes(), b), "a label name is given twice");
                k += 1;
            }
            i += 1;
        }
    }

    const fn starts_with(b: &[u8], prefix: &[u8]) -> bool {
        if b.len() < prefix.len() {
            return false;
        }
        let mut i = 0;
        while i < prefix.len() {
            if b[i] != prefix[i] {
                return false;
            }
            i += 1;
        }
        true
    }

    const fn eq(a: &[u8], b: &[u8]) -> bool {
        a.len() == b.len() && starts_with(a, b)
    }
}

/// Declares metric handles as `static`s on the [`default_registry`],
/// registered at their first use: no `unwrap` at any use site, names and
/// label names checked at compile time.
///
/// Each item is `[pub] static NAME: Type = kind(args) [.alias("old_name")]*;`
/// with these kinds:
///
/// | kind | type | arguments |
/// |---|---|---|
/// | `counter`, `float_counter`, `gauge`, `float_gauge` | `Counter`, `FloatCounter`, `Gauge`, `FloatGauge` | name, help |
/// | `histogram` | `Histogram` | name, help, buckets (a `Buckets` or a `Result` of one) |
/// | `counter_family`, `float_counter_family`, `gauge_family`, `float_gauge_family` | `Family<Counter>`, ... | name, help, `[label, ...]` |
/// | `histogram_family` | `Family<Histogram>` | name, help, `[label, ...]`, buckets |
///
/// A name the default registry already holds does not panic: see
/// [`StaticMetric`]. Serve them with an exporter that serves the default
/// registry (the exporter's default source, or
/// `.registry(default_registry().clone())`).
///
/// # Examples
///
/// ```
/// use telemeter::{static_metrics, Buckets, Counter, Family, Histogram};
///
/// static_metrics! {
///     /// Requests served.
///     pub static REQUESTS: Counter = counter("doc_requests_total", "Requests served.");
///     static CALLS: Family<Counter> =
///         counter_family("doc_calls_total", "Calls by method.", ["method"]);
///     static LATENCY: Family<Histogram> = histogram_family(
///         "doc_rpc_seconds", "RPC latency.", ["method"],
///         Buckets::exponential(0.001, 2.0, 12)
///     ).alias("doc_legacy_rpc_seconds");
/// }
///
/// REQUESTS.inc();
/// CALLS.with_label_values(&["GET"])?.add(2);
/// LATENCY.with_label_values(&["GET"])?.observe(0.004);
/// let body = telemeter::default_registry().encode_to_string();
/// assert!(body.contains("doc_requests_total 1\n"));
/// assert!(body.contains("doc_calls_total{method=\"GET\"} 2\n"));
/// assert!(body.contains("doc_legacy_rpc_seconds_count{method=\"GET\"} 1\n"));
/// assert!(REQUESTS.force().is_ok());
/// # Ok::<(), telemeter::Error>(())
/// ```
///
/// A bad name does not compile:
///
/// ```compile_fail
/// telemeter::static_metrics! {
///     static BAD: telemeter::Counter = counter("9lives_total", "Starts with a digit.");
/// }
/// ```
///
/// Nor does a label name given twice, or `le` on a histogram:
///
/// ```compile_fail
/// telemeter::static_metrics! {
///     static BAD: telemeter::Family<telemeter::Counter> =
///         counter_family("twice_total", "A label twice.", ["a", "a"]);
/// }
/// ```
///
/// ```compile_fail
/// telemeter::static_metrics! {
///     static BAD: telemeter::Family<telemeter::Histogram> =
///         histogram_family("h_seconds", "le is the histogram's.", ["le"], telemeter::Buckets::default());
/// }
/// ```
///
/// [`default_registry`]: crate::default_registry
#[macro_export]
macro_rules! static_metrics {
    () => {};
    ($(#[$m:meta])* $vis:vis static $id:ident : $ty:ty = $kind:ident ( $($args:tt)* ) $(. alias ( $alias:expr ))* ; $($rest:tt)*) => {
        $(#[$m])*
        $vis static $id: $crate::StaticMetric<$ty> = $crate::StaticMetric::__new(|| {
            $crate::__static_metric!(@resolve $id, [$($alias),*], $kind ( $($args)* ))
        });
        $crate::__static_metric!(@check $kind ( $($args)* ));
        $crate::static_metrics!($($rest)*);
    };
}

/// `static_metrics!`'s per-kind expansion: not API.
#[doc(hidden)]
#[macro_export]
macro_rules! __static_metric {
    (@check histogram ($name:expr, $help:expr, $b:expr $(,)?)) => {
        const _: () = $crate::statics::__private::metric_name($name);
    };
    (@check histogram_family ($name:expr, $help:expr, [$($l:expr),* $(,)?], $b:expr $(,)?)) => {
        const _: () = $crate::statics::__private::metric_name($name);
        const _: () = $crate::statics::__private::label_names(&[$($l),*], true);
    };
    (@check $kind:ident ($name:expr, $help:expr, [$($l:expr),* $(,)?] $(,)?)) => {
        const _: () = $crate::statics::__private::metric_name($name);
        const _: () = $crate::statics::__private::label_names(&[$($l),*], false);
    };
    (@check $kind:ident ($name:expr, $help:expr $(,)?)) => {
        const _: () = $crate::statics::__private::metric_name($name);
    };

    (@opts $name:expr, $help:expr, [$($l:expr),*], [$($alias:expr),*]) => {{
        let opts = $crate::Opts::new($name, $help).labels(&[$($l),*]);
        $(let opts = opts.alias($alias);)*
        opts
    }};

    (@resolve $id:ident, [$($alias:expr),*], histogram ($name:expr, $help:expr, $b:expr $(,)?)) => {
        $crate::statics::__private::resolve(stringify!($id), $name, |r, fallback| {
            let b = $crate::statics::__private::buckets($b, fallback)?;
            r.histogram_family($crate::__static_metric!(@opts $name, $help, [], [$($alias),*]), b)?
                .with_label_values(&[])
        })
    };
    (@resolve $id:ident, [$($alias:expr),*], histogram_family ($name:expr, $help:expr, [$($l:expr),* $(,)?], $b:expr $(,)?)) => {
        $crate::statics::__private::resolve(stringify!($id), $name, |r, fallback| {
            let b = $crate::statics::__private::buckets($b, fallback)?;
            r.histogram_family($crate::__static_metric!(@opts $name, $help, [$($l),*], [$($alias),*]), b)
        })
    };
    (@resolve $id:ident, [$($alias:expr),*], counter ($name:expr, $help:expr $(,)?)) => {
        $crate::__static_metric!(@single $id, [$($alias),*], counter_family, $name, $help)
    };
    (@resolve $id:ident, [$($alias:expr),*], float_counter ($name:expr, $help:expr $(,)?)) => {
        $crate::__static_metric!(@single $id, [$($alias),*], float_counter_family, $name, $help)
    };
    (@resolve $id:ident, [$($alias:expr),*], gauge ($name:expr, $help:expr $(,)?)) => {
        $crate::__static_metric!(@single $id, [$($alias),*], gauge_family, $name, $help)
    };
    (@resolve $id:ident, [$($alias:expr),*], float_gauge ($name:expr, $help:expr $(,)?)) => {
        $crate::__static_metric!(@single $id, [$($alias),*], float_gauge_family, $name, $help)
    };
    (@resolve $id:ident, [$($alias:expr),*], $family:ident ($name:expr, $help:expr, [$($l:expr),* $(,)?] $(,)?)) => {
        $crate::statics::__private::resolve(stringify!($id), $name, |r, _| {
            r.$family($crate::__static_metric!(@opts $name, $help, [$($l),*], [$($alias),*]))
        })
    };
    (@single $id:ident, [$($alias:expr),*], $family:ident, $name:expr, $help:expr) => {
        $crate::statics::__private::resolve(stringify!($id), $name, |r, _| {
            r.$family($crate::__static_metric!(@opts $name, $help, [], [$($alias),*]))?
                .with_label_values(&[])
        })
    };
}

#[cfg(test)]
mod tests {
    use crate::{Counter, Family, Gauge, Histogram};

    crate::static_metrics! {
        static FIRST: Counter = counter("statics_test_taken_total", "First.");
        static SECOND: Counter = counter("statics_test_taken_total", "The same name again.");
        static SIZES: Histogram = histogram("statics_test_sizes", "Sizes.", crate::Buckets::new(vec![3.0, 1.0]));
        static LEVELS: Family<Gauge> = gauge_family("statics_test_levels", "Levels.", ["k"]);
    }

    #[test]
    fn a_taken_name_or_bad_buckets_never_panic_and_are_reported() {
        FIRST.inc();
        assert!(FIRST.force().is_ok());
        // The second static with that name records into its own registry.
        SECOND.add(5);
        assert!(matches!(
            SECOND.force(),
            Err(crate::Error::DuplicateMetric { .. })
        ));
        assert_eq!(SECOND.get(), 5);
        assert_eq!(FIRST.get(), 1, "the two never share counts");
        let body = crate::default_registry().encode_to_string();
        assert!(body.contains("statics_test_taken_total 1\n"), "{body}");
        // Buckets that are no layout: reported, and the static still
        // records (with the default buckets, unexported).
        SIZES.observe(2.0);
        assert!(matches!(
            SIZES.registration_error(),
            Some(crate::Error::InvalidBuckets { .. })
        ));
        assert!(!crate::default_registry()
            .encode_to_string()
            .contains("statics_test_sizes"));
        LEVELS.with_label_values(&["a"]).unwrap().set(3);
        assert!(LEVELS.force().is_ok());
    }
}
