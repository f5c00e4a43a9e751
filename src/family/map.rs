//! The family's shared map from label values to series: a series is its
//! own key, hashed and compared by the values in its rendered label text.
//! The map itself is `sync::ConcurrentSet` (papaya, or loom's stand-in).
#![forbid(unsafe_code)]

use std::hash::{Hash, Hasher};

use crate::series::Series;
use crate::sync::{ConcurrentSet, Equivalent, OnceLock, SwapOption};

/// A series as stored in the lookup map: hashed and compared by the label
/// values in its text, so the map needs no separate key.
#[derive(Debug)]
struct SeriesKey(Series);

impl PartialEq for SeriesKey {
    fn eq(&self, other: &SeriesKey) -> bool {
        self.0.text() == other.0.text()
    }
}

impl Eq for SeriesKey {}

/// A label set as given by a caller; hashes exactly like [`SeriesKey`].
#[derive(Debug)]
struct LabelRef<'a>(&'a [&'a str]);

/// Values are hashed in order, each followed by a 0xff separator byte
/// (never part of UTF-8), so ("ab", "c") and ("a", "bc") hash differently;
/// equality is always checked after the hash matches.
/// Both sides of the map ([`SeriesKey`] and [`LabelRef`]) hash through
/// here, so their hashes agree by construction.
fn hash_values<H: Hasher>(values: impl Iterator<Item = impl AsRef<[u8]>>, state: &mut H) {
    for v in values {
        state.write(v.as_ref());
        state.write_u8(0xff);
    }
}

/// The escaped label values of a rendered label set `{n1="v1",n2="v2"}`,
/// in order. Label names never contain `=` or `"`, and an escaped value
/// never contains an unescaped `"`, so no label names are needed.
struct TextValues<'a> {
    rest: &'a [u8],
}

impl<'a> TextValues<'a> {
    fn new(text: &'a [u8]) -> TextValues<'a> {
        TextValues {
            rest: text.get(1..).unwrap_or_default(),
        }
    }
}

impl<'a> Iterator for TextValues<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let eq = self.rest.iter().position(|&b| b == b'=')?;
        let value = &self.rest[eq + 2..]; // past `="`
        let mut i = 0;
        while value[i] != b'"' {
            i += if value[i] == b'\\' { 2 } else { 1 };
        }
        self.rest = &value[i + 1..];
        Some(&value[..i])
    }
}

/// Whether the escaped value `esc` is `v` escaped.
#[inline]
fn escaped_eq(esc: &[u8], v: &[u8]) -> bool {
    if esc.len() == v.len() {
        // Escaping only lengthens: equal lengths mean nothing was escaped.
        return esc == v && !esc.contains(&b'\\');
    }
    if esc.len() < v.len() {
        return false;
    }
    let mut rest = esc;
    for &b in v {
        let want: &[u8] = match b {
            b'\\' => b"\\\\",
            b'"' => b"\\\"",
            b'\n' => b"\\n",
            _ => std::slice::from_ref(&b),
        };
        match rest.strip_prefix(want) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    rest.is_empty()
}

/// `esc` with its escapes undone.
fn unescape(esc: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if !esc.contains(&b'\\') {
        return std::borrow::Cow::Borrowed(esc);
    }
    let mut out = Vec::with_capacity(esc.len());
    let mut i = 0;
    while i < esc.len() {
        if esc[i] == b'\\' {
            out.push(match esc[i + 1] {
                b'n' => b'\n',
                other => other,
            });
            i += 2;
        } else {
            out.push(esc[i]);
            i += 1;
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Whether the rendered label set `text` holds exactly `values`.
fn text_is(text: &[u8], values: &[&str]) -> bool {
    let mut found = TextValues::new(text);
    values.iter().all(|v| {
        found
            .next()
            .is_some_and(|esc| escaped_eq(esc, v.as_bytes()))
    }) && found.next().is_none()
}

impl Hash for SeriesKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // The values the text was built from, unescaped.
        hash_values(TextValues::new(self.0.text()).map(unescape), state);
    }
}

impl Hash for LabelRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_values(self.0.iter(), state);
    }
}

impl Equivalent<SeriesKey> for LabelRef<'_> {
    fn equivalent(&self, key: &SeriesKey) -> bool {
        text_is(key.0.text(), self.0)
    }
}

/// The label-set → series map: lock-free lookups ([`ConcurrentSet`]:
/// readers never wait for a writer, and resizes are incremental so no
/// reader stalls behind a rehash).
///
/// A papaya map carries its own reclamation state (about 18 KB), so it is
/// created only when a family gets its first labelled series; a family
/// without labels keeps its one series in a [`SwapOption`] instead.
pub(super) struct LabelMap {
    /// Boxed: the map's handle is large, and a family without labels has
    /// none.
    map: OnceLock<Box<ConcurrentSet<SeriesKey>>>,
    single: SwapOption<Series>,
}

impl LabelMap {
    pub(super) fn new() -> LabelMap {
        LabelMap {
            map: OnceLock::new(),
            single: SwapOption::none(),
        }
    }

    #[inline]
    pub(super) fn get_with<R>(&self, values: &[&str], f: impl FnOnce(&Series) -> R) -> Option<R> {
        if values.is_empty() {
            return self.single.with(f);
        }
        self.map.get()?.get_with(&LabelRef(values), |k| f(&k.0))
    }

    pub(super) fn get_arc(&self, values: &[&str]) -> Option<Series> {
        self.get_with(values, Series::clone)
    }

    pub(super) fn insert(&self, values: &[&str], series: Series) {
        if values.is_empty() {
            self.single.store(Some(series));
            return;
        }
        let map = self.map.get_or_init(|| Box::new(ConcurrentSet::new()));
        map.insert(SeriesKey(series));
    }

    pub(super) fn remove(&self, values: &[&str]) -> bool {
        if values.is_empty() {
            return self.single.take().is_some();
        }
        self.map.get().is_some_and(|m| m.remove(&LabelRef(values)))
    }
}

#[cfg(all(test, not(telemeter_loom)))]
mod tests {
    use std::hash::BuildHasher;

    use super::*;
    use crate::encode::layout::render_labels;

    fn key(values: &[&str]) -> SeriesKey {
        let names: Vec<String> = (0..values.len()).map(|i| format!("l{i}")).collect();
        SeriesKey(Series::sharded(1, &render_labels(&names, values)))
    }

    fn check(values: &[&str]) {
        let k = key(values);
        let found: Vec<Vec<u8>> = TextValues::new(k.0.text())
            .map(|esc| unescape(esc).into_owned())
            .collect();
        let want: Vec<Vec<u8>> = values.iter().map(|v| v.as_bytes().to_vec()).collect();
        assert_eq!(found, want, "values of {:?}", k.0);
        assert!(text_is(k.0.text(), values), "{values:?}");
        let state = foldhash::fast::FixedState::with_seed(7);
        assert_eq!(
            state.hash_one(&k),
            state.hash_one(LabelRef(values)),
            "{values:?}"
        );
    }

    #[test]
    fn label_text_gives_back_the_values_it_was_rendered_from() {
        for values in [
            &["GET", "200"][..],
            &["", ""],
            &["a\"b", "c\\d", "e\nf"],
            &["\\", "\"", "\n"],
            &["x=\"y\",z=\"w\"}", "{}#"],
            &["ünïcödé ✓", "\\n"],
            &["\\\"", "\"\\"],
        ] {
            check(values);
        }
    }

    #[test]
    fn label_text_rejects_every_other_value_set() {
        let k = key(&["a\\b", "c"]);
        for other in [
            &["a\\b", "d"][..],
            &["a\\\\b", "c"],
            &["a\\b"],
            &["a\\b", "c", ""],
            &["ab", "c"],
            &["a\\", "bc"],
            &["a\"b", "c"],
            &["a\\b", "c\""],
        ] {
            assert!(!text_is(k.0.text(), other), "{other:?}");
        }
        assert!(escaped_eq(b"a\\\\b", b"a\\b"));
        assert!(!escaped_eq(b"a\\\\b", b"a\\\\"));
        assert!(!escaped_eq(b"a\\nb", b"a\\nb"));
        assert!(escaped_eq(b"a\\nb", b"a\nb"));
    }

    proptest::proptest! {
        #[test]
        fn any_values_round_trip_through_the_label_text(
            values in proptest::collection::vec(".*", 1..4),
            other in proptest::collection::vec(".*", 1..4),
        ) {
            let values: Vec<&str> = values.iter().map(String::as_str).collect();
            let other: Vec<&str> = other.iter().map(String::as_str).collect();
            check(&values);
            let k = key(&values);
            proptest::prop_assert_eq!(text_is(k.0.text(), &other), values == other);
        }
    }
}
