//! Label sets as Rust types: [`LabelSet`] (a struct of labels, declared
//! with [`label_set!`](crate::label_set)). A set of fixed-cardinality
//! labels only resolves into [`Typed`], a family's handles for every
//! combination in one dense table, indexed with no hashing and no
//! `Result`; a set with string fields into [`Keyed`], where only the
//! strings are hashed and the fixed labels index a row.
#![forbid(unsafe_code)]

use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};
use std::marker::PhantomData;

use foldhash::fast::FixedState;

use super::{Family, Metric};
use crate::sync::{AtomicU64, ConcurrentSet, Equivalent, OnceLock, Ordering};
use crate::Error;

/// The most combinations one [`Family::typed`] table (or one row of a
/// [`Keyed`] set) may hold.
pub const MAX_TYPED_COMBINATIONS: usize = 1 << 16;

/// The most string fields a [`LabelSet`] may have (a larger one does not
/// compile).
pub const MAX_STRING_FIELDS: usize = 4;

/// A label set as a Rust type: a struct of
/// [`FixedCardinalityLabel`](crate::FixedCardinalityLabel) fields and
/// (at most [`MAX_STRING_FIELDS`]) `&str` fields, declared with
/// [`label_set!`](crate::label_set). Its fixed fields' combinations map to
/// a dense index (mixed radix, the last label fastest).
pub trait LabelSet: Copy {
    /// `Self` with its strings borrowed for `'static`: the type a
    /// [`Keyed`] set is named by, whatever the lifetime of the strings it
    /// is given (`Self` for a set of fixed labels only).
    type Static: LabelSet + 'static;
    /// The label names, in field order: the family's label names.
    const NAMES: &'static [&'static str];
    /// Per field, in order: a fixed label's values, or `None` for a
    /// string field.
    const FIELDS: &'static [Option<&'static [&'static str]>];
    /// How many fields are strings.
    const STRINGS: usize;
    /// This combination's position among the fixed fields' combinations.
    fn index(self) -> usize;
    /// The string fields' values, in field order, into `out`
    /// (`Self::STRINGS` of them).
    fn strings<'s>(&'s self, out: &mut [&'s str]);
    /// Every field's value, in field order, into `out` (one per name).
    fn values<'s>(&'s self, out: &mut [&'s str]);
}

/// The number of combinations of `L`'s fixed fields, if it is at most
/// `max` (and [`MAX_TYPED_COMBINATIONS`]); the error [`Family::typed`]
/// and [`Family::keyed`] return otherwise.
fn combinations<L: LabelSet, M: Metric>(family: &Family<M>, max: usize) -> Result<usize, Error> {
    let names = &family.core.label_names;
    if names.len() != L::NAMES.len() {
        return Err(Error::LabelCount {
            family: family.name().to_string(),
            expected: names.len(),
            got: L::NAMES.len(),
        });
    }
    if let Some(missing) = L::NAMES.iter().zip(names.iter()).find(|(l, n)| l != n) {
        return Err(Error::UnknownLabel {
            family: family.name().to_string(),
            label: (*missing.0).to_string(),
        });
    }
    let size = L::FIELDS
        .iter()
        .flatten()
        .try_fold(1usize, |n, v| n.checked_mul(v.len()))
        .unwrap_or(usize::MAX);
    let max = max.min(MAX_TYPED_COMBINATIONS);
    if size > max {
        return Err(Error::LabelSetTooLarge {
            family: family.name().to_string(),
            combinations: size,
            max,
        });
    }
    Ok(size)
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
    ///
    /// A set with string fields has no dense table: it does not compile
    /// here (use [`Family::keyed`]).
    ///
    /// ```compile_fail
    /// use telemeter::{fixed_label, label_set, Opts, Registry};
    /// fixed_label! { pub enum Outcome: "outcome" { Ok = "ok" } }
    /// label_set! { pub struct Call<'a> { agent: &'a str as "agent", outcome: Outcome } }
    /// let reg = Registry::new();
    /// let fam = reg.counter_family(Opts::new("c_total", "C.").labels(Call::NAMES)).unwrap();
    /// let _ = fam.typed::<Call>();
    /// ```
    pub fn typed<L: LabelSet>(&self) -> Result<Typed<L, M>, Error> {
        const {
            assert!(
                L::STRINGS == 0,
                "a label set with string fields has no dense table: use Family::keyed"
            )
        };
        // Every combination is made now: the family must hold them all.
        let size = combinations::<L, M>(self, self.core.max_series())?;
        let mut handles = Vec::with_capacity(size);
        let mut values: Vec<&str> = vec![""; L::FIELDS.len()];
        for index in 0..size {
            // Every field is fixed here (`L::STRINGS == 0`).
            combination(index, L::FIELDS, &[], &mut values);
            handles.push(self.with_label_values(&values)?);
        }
        Ok(Typed {
            handles: handles.into_boxed_slice(),
            _l: PhantomData,
        })
    }
}

/// The values of combination `index` of `fields` into `out`, one per
/// field: a fixed field's value by mixed radix (the last fixed field
/// fastest, as [`LabelSet::index`] counts), a string field's from
/// `strings`, in order.
fn combination<'s>(
    index: usize,
    fields: &[Option<&'static [&'static str]>],
    strings: &[&'s str],
    out: &mut [&'s str],
) {
    let mut rest = index;
    let mut next_string = strings.len();
    for (slot, field) in out.iter_mut().zip(fields).rev() {
        match field {
            Some(vals) => {
                *slot = vals[rest % vals.len()];
                rest /= vals.len();
            }
            None => {
                next_string -= 1;
                *slot = strings[next_string];
            }
        }
    }
}

/// One row of a [`Keyed`] set: the string values it is for, their hash,
/// the family's removal count when it was made, and a handle per
/// combination of the fixed labels, each resolved on first use.
struct Row<M> {
    strings: Box<[Box<str>]>,
    hash: u64,
    removals: u64,
    handles: Box<[OnceLock<M>]>,
}

impl<M> PartialEq for Row<M> {
    fn eq(&self, other: &Row<M>) -> bool {
        self.strings == other.strings
    }
}

impl<M> Eq for Row<M> {}

impl<M> Hash for Row<M> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// A lookup's string values and their hash: hashes like its [`Row`].
struct Strings<'a>(&'a [&'a str], u64);

impl Hash for Strings<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.1);
    }
}

impl<M> Equivalent<Row<M>> for Strings<'_> {
    fn equivalent(&self, row: &Row<M>) -> bool {
        row.strings.len() == self.0.len() && row.strings.iter().zip(self.0).all(|(a, b)| **a == **b)
    }
}

/// A family's handles for a [`LabelSet`] with string fields
/// ([`Family::keyed`]): a lookup hashes the string fields only, finds
/// their row without a lock, and indexes it by the fixed fields, with no
/// `Result` at the call site.
///
/// A row is made when its strings first come, and a handle in it when
/// its combination is first used. Past the family's cardinality limit a
/// new set records into the family's overflow series (counted, as for
/// any family) and is not kept, so rows never outnumber the family's
/// series. A value the family refuses (longer than the registry's limit
/// for label values, or a set of all [`OVERFLOW_LABEL_VALUE`]s) records
/// into the overflow series too, and is counted there: no record is lost.
/// After a [`Family::remove`] or [`Family::clear`], every row is dropped
/// at the next lookup and made again, so a handle from here never records
/// into a removed series.
///
/// [`OVERFLOW_LABEL_VALUE`]: crate::OVERFLOW_LABEL_VALUE
#[must_use]
pub struct Keyed<L, M> {
    family: Family<M>,
    rows: ConcurrentSet<Row<M>>,
    seed: FixedState,
    /// Combinations of the fixed fields: each row's length.
    width: usize,
    /// The family's removal count when the rows were last dropped.
    swept: AtomicU64,
    _l: PhantomData<fn(L)>,
}

impl<L, M> fmt::Debug for Keyed<L, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyed")
            .field("family", &self.family.core.name())
            .field("width", &self.width)
            .finish_non_exhaustive()
    }
}

impl<S: LabelSet + 'static, M: Metric> Keyed<S, M> {
    /// Runs `f` on the handle for `labels` (a `S` whose strings live for
    /// any lifetime), without handing one out.
    #[inline]
    pub fn with<L: LabelSet<Static = S>, R>(&self, labels: L, f: impl FnOnce(&M) -> R) -> R {
        let mut strings = [""; MAX_STRING_FIELDS];
        let strings = &mut strings[..L::STRINGS];
        labels.strings(strings);
        let index = labels.index();
        let removals = self.family.core.removals.load(Ordering::Relaxed);
        if removals != self.swept.load(Ordering::Relaxed) {
            self.sweep(removals);
        }
        let q = Strings(strings, self.hash(strings));
        let mut f = Some(f);
        let hit = self.rows.get_with(&q, |row| {
            if row.removals != removals {
                return None;
            }
            let m = row.handles[index].get()?;
            Some((f.take().expect("called once"))(m))
        });
        match hit.flatten() {
            Some(r) => r,
            None => self.miss(
                labels,
                &q,
                index,
                removals,
                f.take().expect("not yet called"),
            ),
        }
    }

    /// The handle for `labels`, to keep.
    #[inline]
    pub fn get<L: LabelSet<Static = S>>(&self, labels: L) -> M {
        self.with(labels, M::clone)
    }

    /// The family this set looks up in.
    pub fn family(&self) -> &Family<M> {
        &self.family
    }

    fn hash(&self, strings: &[&str]) -> u64 {
        let mut h = self.seed.build_hasher();
        for s in strings {
            h.write(s.as_bytes());
            h.write_u8(0xff); // never in UTF-8: ("ab", "c") is not ("a", "bc")
        }
        h.finish()
    }

    /// Drops every row: the family has removed series since they were
    /// made.
    #[cold]
    fn sweep(&self, removals: u64) {
        self.rows.clear();
        self.swept.store(removals, Ordering::Relaxed);
    }

    /// Resolves `labels` in the family and keeps the handle in its row,
    /// then runs `f` on it.
    #[cold]
    #[inline(never)]
    fn miss<L: LabelSet, R>(
        &self,
        labels: L,
        q: &Strings<'_>,
        index: usize,
        removals: u64,
        f: impl FnOnce(&M) -> R,
    ) -> R {
        let mut values = vec![""; L::NAMES.len()];
        labels.values(&mut values);
        f(&self.resolve(&values, q, index, removals))
    }

    /// The handle for `values` (the label set whose strings are `q` and
    /// whose fixed fields are combination `index`), kept in its row (made,
    /// or made again if stale) unless it is the overflow series.
    fn resolve(&self, values: &[&str], q: &Strings<'_>, index: usize, removals: u64) -> M {
        let (m, overflow) = match self.family.resolve(values) {
            Ok(found) => found,
            Err(_) => (self.family.redirect(), true),
        };
        if !overflow {
            let kept = self.rows.get_with(q, |row| {
                row.removals == removals && {
                    let _ = row.handles[index].set(m.clone());
                    true
                }
            });
            if kept != Some(true) {
                self.rows.remove(q);
                let handles: Box<[OnceLock<M>]> =
                    (0..self.width).map(|_| OnceLock::new()).collect();
                let _ = handles[index].set(m.clone());
                self.rows.insert(Row {
                    strings: q.0.iter().map(|s| Box::<str>::from(*s)).collect(),
                    hash: q.1,
                    removals,
                    handles,
                });
            }
        }
        m
    }

    /// Makes the series of every combination of the fixed fields with
    /// `labels`' strings now (its own fixed fields are not looked at):
    /// zero-valued series that a scrape shows before their first record,
    /// as Prometheus' instrumentation guidelines advise for known label
    /// values. Past the family's limit the rest go to its overflow series,
    /// as lookups would.
    ///
    /// ```
    /// use telemeter::{fixed_label, label_set, Opts, Registry};
    /// fixed_label! { pub enum Outcome: "outcome" { Ok = "ok", Error = "error" } }
    /// label_set! { pub struct Call<'a> { tool: &'a str as "tool", outcome: Outcome } }
    /// let reg = Registry::new();
    /// let fam = reg.counter_family(Opts::new("calls_total", "Calls.").labels(Call::NAMES))?;
    /// let calls = fam.keyed::<Call>()?;
    /// calls.init(Call { tool: "search", outcome: Outcome::Ok });
    /// assert_eq!(fam.len(), 2);
    /// assert!(reg.encode_to_string().contains("calls_total{tool=\"search\",outcome=\"error\"} 0\n"));
    /// # Ok::<(), telemeter::Error>(())
    /// ```
    pub fn init<L: LabelSet<Static = S>>(&self, labels: L) {
        let mut strings = [""; MAX_STRING_FIELDS];
        let strings = &mut strings[..L::STRINGS];
        labels.strings(strings);
        let removals = self.family.core.removals.load(Ordering::Relaxed);
        let q = Strings(strings, self.hash(strings));
        let mut values = vec![""; L::NAMES.len()];
        for index in 0..self.width {
            combination(index, L::FIELDS, q.0, &mut values);
            self.resolve(&values, &q, index, removals);
        }
    }
}

impl<M: Metric> Family<M> {
    /// The handles of a label set `L` with string fields: `keyed.with(Labels
    /// { .. }, |c| c.inc())` hashes only the string fields and returns no
    /// `Result` (see [`Keyed`]). The family's label names must be
    /// `L::NAMES`, in order (register it with `Opts::labels(L::NAMES)`).
    ///
    /// # Errors
    ///
    /// [`Error::LabelCount`] or [`Error::UnknownLabel`] when the family's
    /// labels are not `L::NAMES`; [`Error::LabelSetTooLarge`] when `L`'s
    /// fixed fields have more than [`MAX_TYPED_COMBINATIONS`]
    /// combinations.
    ///
    /// ```
    /// use telemeter::{fixed_label, label_set, Keyed, Opts, Registry};
    /// fixed_label! { pub enum Outcome: "outcome" { Ok = "ok", Error = "error" } }
    /// label_set! { pub struct ToolCall<'a> { agent: &'a str as "agent", outcome: Outcome } }
    ///
    /// let reg = Registry::new();
    /// let calls: Keyed<ToolCall<'static>, _> = reg // the type, to keep it in a struct
    ///     .counter_family(Opts::new("tool_calls_total", "Tool calls.").labels(ToolCall::NAMES))?
    ///     .keyed::<ToolCall>()?;
    /// let agent = String::from("kate"); // any lifetime
    /// calls.with(ToolCall { agent: &agent, outcome: Outcome::Error }, |c| c.inc());
    /// let kept = calls.get(ToolCall { agent: "bob", outcome: Outcome::Ok });
    /// kept.add(2);
    /// let body = reg.encode_to_string();
    /// assert!(body.contains("tool_calls_total{agent=\"kate\",outcome=\"error\"} 1\n"));
    /// assert!(body.contains("tool_calls_total{agent=\"bob\",outcome=\"ok\"} 2\n"));
    /// # Ok::<(), telemeter::Error>(())
    /// ```
    pub fn keyed<L: LabelSet>(&self) -> Result<Keyed<L::Static, M>, Error> {
        // Handles are made as combinations are used: a row's width is
        // bounded only by the table size.
        let width = combinations::<L, M>(self, MAX_TYPED_COMBINATIONS)?;
        Ok(Keyed {
            family: self.clone(),
            rows: ConcurrentSet::new(),
            seed: FixedState::with_seed(foldhash::fast::RandomState::default().hash_one(1u8)),
            width,
            swept: AtomicU64::new(self.core.removals.load(Ordering::Relaxed)),
            _l: PhantomData,
        })
    }
}

/// Declares a [`LabelSet`]: a struct whose fields are
/// [`fixed_label!`](crate::fixed_label) types and, written `name: &'a str
/// as "label"`, strings (at most [`MAX_STRING_FIELDS`]). Its label names
/// are the fields' label names, in field order (`Struct::NAMES`, to give
/// `Opts::labels`). [`Family::typed`] resolves every combination of a set
/// of fixed fields only; [`Family::keyed`] takes a set with strings.
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
///
/// label_set! {
///     /// A cache operation on a named cache.
///     pub struct NamedOp<'a> { cache: &'a str as "cache", verb: Verb }
/// }
/// assert_eq!(NamedOp::NAMES, ["cache", "verb"]);
/// let op = NamedOp { cache: "sessions", verb: Verb::Put };
/// let mut values = [""; 2];
/// op.values(&mut values);
/// assert_eq!(values, ["sessions", "put"]);
/// assert_eq!(op.index(), 1); // the fixed fields alone
/// ```
///
/// More than [`MAX_STRING_FIELDS`] strings do not compile:
///
/// ```compile_fail
/// telemeter::label_set! {
///     pub struct Wide<'a> {
///         a: &'a str as "a", b: &'a str as "b", c: &'a str as "c", d: &'a str as "d", e: &'a str as "e",
///     }
/// }
/// ```
#[macro_export]
macro_rules! label_set {
    (@name $ty:ty) => { <$ty as $crate::FixedCardinalityLabel>::NAME };
    (@name $ty:ty, $l:literal) => { $l };
    (@field $ty:ty) => { ::core::option::Option::Some(<$ty as $crate::FixedCardinalityLabel>::VALUES) };
    (@field $ty:ty, $l:literal) => { ::core::option::Option::None };
    (@string) => { 0usize };
    (@string $l:literal) => { 1usize };
    (@index $i:ident, $e:expr, $ty:ty) => {
        $i = $i * <$ty as $crate::FixedCardinalityLabel>::VALUES.len()
            + $crate::FixedCardinalityLabel::index($e);
    };
    (@index $i:ident, $e:expr, $ty:ty, $l:literal) => {};
    (@put_string $out:ident, $k:ident, $e:expr, $ty:ty) => {};
    (@put_string $out:ident, $k:ident, $e:expr, $ty:ty, $l:literal) => {
        $out[$k] = $e;
        $k += 1;
    };
    (@value $e:expr, $ty:ty) => {
        <$ty as $crate::FixedCardinalityLabel>::VALUES[$crate::FixedCardinalityLabel::index($e)]
    };
    (@value $e:expr, $ty:ty, $l:literal) => { $e };
    (
        @impl [$($gen:tt)*] [$($stat:tt)*]
        $(#[$meta:meta])*
        $vis:vis struct $name:ident { $($fvis:vis $field:ident : $ty:ty $(as $l:literal)?),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        $vis struct $name $($gen)* { $($fvis $field: $ty),+ }

        impl $($gen)* $name $($gen)* {
            /// The label names, in field order (for `Opts::labels`).
            #[allow(dead_code)]
            $vis const NAMES: &'static [&'static str] =
                &[$($crate::label_set!(@name $ty $(, $l)?)),+];
        }

        impl $($gen)* $crate::LabelSet for $name $($gen)* {
            type Static = $($stat)*;
            const NAMES: &'static [&'static str] =
                &[$($crate::label_set!(@name $ty $(, $l)?)),+];
            const FIELDS: &'static [::core::option::Option<&'static [&'static str]>] =
                &[$($crate::label_set!(@field $ty $(, $l)?)),+];
            const STRINGS: usize = 0 $(+ $crate::label_set!(@string $($l)?))+;
            #[inline]
            fn index(self) -> usize {
                let mut i = 0usize;
                $($crate::label_set!(@index i, self.$field, $ty $(, $l)?);)+
                i
            }
            #[inline]
            #[allow(unused_variables, unused_mut, unused_assignments)]
            fn strings<'s>(&'s self, out: &mut [&'s str]) {
                let mut k = 0usize;
                $($crate::label_set!(@put_string out, k, self.$field, $ty $(, $l)?);)+
            }
            fn values<'s>(&'s self, out: &mut [&'s str]) {
                let all: &[&'s str] = &[$($crate::label_set!(@value self.$field, $ty $(, $l)?)),+];
                out.copy_from_slice(all);
            }
        }

        const _: () = ::core::assert!(
            <$($stat)* as $crate::LabelSet>::STRINGS <= $crate::MAX_STRING_FIELDS,
            "a label set has at most telemeter::MAX_STRING_FIELDS string fields"
        );
    };
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident <$lt:lifetime> { $($fields:tt)+ }
    ) => {
        $crate::label_set! {
            @impl [<$lt>] [$name<'static>]
            $(#[$meta])*
            $vis struct $name { $($fields)+ }
        }
    };
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident { $($fields:tt)+ }
    ) => {
        $crate::label_set! {
            @impl [] [$name]
            $(#[$meta])*
            $vis struct $name { $($fields)+ }
        }
    };
}

#[cfg(test)]
mod tests {
    use crate::{fixed_label, Keyed, Opts, Registry};

    fixed_label! { pub enum A: "a" { X = "x", Y = "y", Z = "z" } }
    fixed_label! { pub enum B: "b" { P = "p", Q = "q" } }
    crate::label_set! { pub struct Ab { a: A, b: B } }
    crate::label_set! {
        pub struct Mixed<'a> { peer: &'a str as "peer", a: A, zone: &'a str as "zone", b: B, }
    }

    fn mixed(
        reg: &Registry,
        max: usize,
    ) -> (
        crate::Family<crate::Counter>,
        Keyed<Mixed<'static>, crate::Counter>,
    ) {
        let fam = reg
            .counter_family(
                Opts::new("mixed_total", "h")
                    .labels(Mixed::NAMES)
                    .max_series(max),
            )
            .unwrap();
        let keyed = fam.keyed::<Mixed<'_>>().unwrap();
        (fam, keyed)
    }

    #[test]
    fn a_mixed_set_hashes_its_strings_and_indexes_its_fixed_fields() {
        use crate::LabelSet;
        assert_eq!(Mixed::NAMES, ["peer", "a", "zone", "b"]);
        assert_eq!(<Mixed<'_> as LabelSet>::STRINGS, 2);
        let m = Mixed {
            peer: "p1",
            a: A::Z,
            zone: "eu",
            b: B::Q,
        };
        assert_eq!(m.index(), 5);
        let mut strings = [""; 2];
        m.strings(&mut strings);
        assert_eq!(strings, ["p1", "eu"]);

        let reg = Registry::builder().self_metrics(false).build();
        let (fam, keyed) = mixed(&reg, 1000);
        for round in 1..=3u64 {
            for peer in ["p1", "p2"] {
                let owned = peer.to_string(); // strings of any lifetime
                keyed.with(
                    Mixed {
                        peer: &owned,
                        a: A::Y,
                        zone: "eu",
                        b: B::P,
                    },
                    |c| c.add(round),
                );
            }
        }
        keyed
            .get(Mixed {
                peer: "p1",
                a: A::X,
                zone: "us",
                b: B::Q,
            })
            .inc();
        assert_eq!(
            fam.with_label_values(&["p1", "y", "eu", "p"])
                .unwrap()
                .get(),
            6
        );
        assert_eq!(
            fam.with_label_values(&["p2", "y", "eu", "p"])
                .unwrap()
                .get(),
            6
        );
        assert_eq!(
            fam.with_label_values(&["p1", "x", "us", "q"])
                .unwrap()
                .get(),
            1
        );
        assert_eq!(fam.len(), 3, "only the combinations used were made");
        // ("ab", "c") and ("a", "bc") are different rows.
        keyed.with(
            Mixed {
                peer: "ab",
                a: A::X,
                zone: "c",
                b: B::P,
            },
            |c| c.inc(),
        );
        keyed.with(
            Mixed {
                peer: "a",
                a: A::X,
                zone: "bc",
                b: B::P,
            },
            |c| c.add(2),
        );
        assert_eq!(
            fam.with_label_values(&["ab", "x", "c", "p"]).unwrap().get(),
            1
        );
        assert_eq!(
            fam.with_label_values(&["a", "x", "bc", "p"]).unwrap().get(),
            2
        );
    }

    #[test]
    fn four_string_fields_make_a_set() {
        use crate::{LabelSet, MAX_STRING_FIELDS};
        crate::label_set! {
            pub struct Four<'a> {
                w: &'a str as "w", x: &'a str as "x", y: &'a str as "y", z: &'a str as "z", e: B,
            }
        }
        assert_eq!(<Four<'_> as LabelSet>::STRINGS, MAX_STRING_FIELDS);
        let reg = Registry::builder().self_metrics(false).build();
        let fam = reg
            .counter_family(Opts::new("four_total", "h").labels(Four::NAMES))
            .unwrap();
        let keyed = fam.keyed::<Four<'_>>().unwrap();
        keyed.with(
            Four {
                w: "1",
                x: "2",
                y: "3",
                z: "4",
                e: B::Q,
            },
            |c| c.inc(),
        );
        assert_eq!(
            fam.with_label_values(&["1", "2", "3", "4", "q"])
                .unwrap()
                .get(),
            1
        );
    }

    #[test]
    fn past_the_limit_and_for_refused_values_records_go_to_the_overflow_series() {
        let reg = Registry::builder()
            .self_metrics(false)
            .max_label_value_bytes(8)
            .build();
        let (fam, keyed) = mixed(&reg, 2);
        for peer in ["p1", "p2", "p3", "p4"] {
            for _ in 0..5 {
                keyed.with(
                    Mixed {
                        peer,
                        a: A::X,
                        zone: "eu",
                        b: B::P,
                    },
                    |c| c.inc(),
                );
            }
        }
        keyed.with(
            Mixed {
                peer: "far-too-long",
                a: A::X,
                zone: "eu",
                b: B::P,
            },
            |c| c.inc(),
        );
        let over = crate::OVERFLOW_LABEL_VALUE;
        assert_eq!(
            fam.with_label_values(&["p1", "x", "eu", "p"])
                .unwrap()
                .get(),
            5
        );
        assert_eq!(
            fam.with_label_values(&["p2", "x", "eu", "p"])
                .unwrap()
                .get(),
            5
        );
        // p3 and p4 (10 records) and the refused value (1).
        let line = format!(
            "mixed_total{{peer=\"{over}\",a=\"{over}\",zone=\"{over}\",b=\"{over}\"}} 11\n"
        );
        assert!(
            reg.encode_to_string().contains(&line),
            "{}",
            reg.encode_to_string()
        );
        assert_eq!(fam.overflowed(), 11, "each redirected record is counted");
        assert_eq!(fam.len(), 3);
    }

    #[test]
    fn after_a_removal_no_record_goes_to_a_removed_series() {
        let reg = Registry::builder().self_metrics(false).build();
        let (fam, keyed) = mixed(&reg, 1000);
        let set = Mixed {
            peer: "p1",
            a: A::X,
            zone: "eu",
            b: B::P,
        };
        keyed.with(set, |c| c.add(3));
        assert!(fam.remove(&["p1", "x", "eu", "p"]).unwrap());
        keyed.with(set, |c| c.inc());
        assert_eq!(
            fam.with_label_values(&["p1", "x", "eu", "p"])
                .unwrap()
                .get(),
            1
        );
        fam.clear();
        keyed.with(set, |c| c.add(2));
        assert_eq!(
            fam.with_label_values(&["p1", "x", "eu", "p"])
                .unwrap()
                .get(),
            2
        );
    }

    #[test]
    fn threads_on_one_keyed_set_lose_no_record() {
        const THREADS: u64 = 4;
        const PER: u64 = 5_000;
        let reg = Registry::builder().self_metrics(false).build();
        let (fam, keyed) = mixed(&reg, 1000);
        let peers: Vec<String> = (0..10).map(|i| format!("peer{i}")).collect();
        std::thread::scope(|s| {
            for _ in 0..THREADS {
                s.spawn(|| {
                    for i in 0..PER {
                        let peer = &peers[(i % 10) as usize];
                        let a = A::ALL[(i % 3) as usize];
                        keyed.with(
                            Mixed {
                                peer,
                                a,
                                zone: "eu",
                                b: B::Q,
                            },
                            |c| c.inc(),
                        );
                    }
                });
            }
        });
        let mut total = 0;
        for peer in &peers {
            for a in A::ALL {
                total += fam
                    .with_label_values(&[peer, a.as_str(), "eu", "q"])
                    .unwrap()
                    .get();
            }
        }
        assert_eq!(total, THREADS * PER);
        assert_eq!(fam.len(), 30);
    }

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
