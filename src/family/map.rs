//! The family's shared map from label values to series: a series is its
//! own key, compared by the values in its rendered label text and hashed
//! by a hash of those values kept beside it.
//! The map itself is `sync::ConcurrentSet` (papaya, or loom's stand-in).
#![forbid(unsafe_code)]

use std::hash::{BuildHasher, Hash, Hasher};

use foldhash::fast::FixedState;

use crate::series::Series;
use crate::sync::{ConcurrentSet, Equivalent, OnceLock, SwapOption};

/// A series as stored in the lookup map, with its slot in the family's
/// list and the hash of its label values ([`LabelMap::hash_of`]): compared
/// by the values in its text, so the map needs no separate key, and hashed
/// by the stored hash, so a resize moves an entry without reading the
/// series. (Hashing the text again took each insert or removal during an
/// incremental resize to 40-100 µs at 1M series; see docs/BENCHMARKS.md.)
/// Slot and hash are 32 bits each: the entry is 16 bytes.
#[derive(Debug)]
struct SeriesKey(Series, u32, u32);

impl PartialEq for SeriesKey {
    fn eq(&self, other: &SeriesKey) -> bool {
        self.0.text() == other.0.text()
    }
}

impl Eq for SeriesKey {}

/// A label set as given by a caller, with its hash
/// ([`LabelMap::hash_of`]); hashes exactly like its [`SeriesKey`].
#[derive(Debug)]
struct LabelRef<'a>(&'a [&'a str], u32, usize);

/// Values are hashed in order, each followed by a 0xff separator byte
/// (never part of UTF-8), so ("ab", "c") and ("a", "bc") hash differently;
/// equality is always checked after the hash matches.
/// Both sides of the map ([`SeriesKey`] and [`LabelRef`]) take their hash
/// from here, so their hashes agree by construction.
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
#[cfg(test)]
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

/// Whether the rendered label set `text` holds exactly `values`, then
/// `extra` more (the registry's constant labels, the same in every series
/// of a family).
fn text_is(text: &[u8], values: &[&str], extra: usize) -> bool {
    let mut found = TextValues::new(text);
    values.iter().all(|v| {
        found
            .next()
            .is_some_and(|esc| escaped_eq(esc, v.as_bytes()))
    }) && found.by_ref().take(extra).count() == extra
        && found.next().is_none()
}

impl Hash for SeriesKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u32(self.2);
    }
}

impl Hash for LabelRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u32(self.1);
    }
}

impl Equivalent<SeriesKey> for LabelRef<'_> {
    fn equivalent(&self, key: &SeriesKey) -> bool {
        text_is(key.0.text(), self.0, self.2)
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
    /// The keyed hash of label values (random per map, so that no one
    /// can choose values that collide).
    seed: FixedState,
    /// A family without labels: its one series, always in slot 0 (it
    /// has no other series, and no overflow series, to share the list).
    single: SwapOption<Series>,
    /// Constant labels after each series' own in its text.
    consts: usize,
}

impl LabelMap {
    pub(super) fn new(consts: usize) -> LabelMap {
        LabelMap {
            consts,
            map: OnceLock::new(),
            seed: FixedState::with_seed(foldhash::fast::RandomState::default().hash_one(0u8)),
            single: SwapOption::none(),
        }
    }

    /// The hash of a label set's values.
    #[inline]
    fn hash_of(&self, values: &[&str]) -> u32 {
        let mut h = self.seed.build_hasher();
        hash_values(values.iter(), &mut h);
        // 32 bits: the map hashes it again for its buckets, and a
        // collision only costs an equality check.
        (h.finish() >> 32) as u32
    }

    #[inline]
    fn label_ref<'a>(&self, values: &'a [&'a str]) -> LabelRef<'a> {
        LabelRef(values, self.hash_of(values), self.consts)
    }

    #[inline]
    pub(super) fn get_with<R>(&self, values: &[&str], f: impl FnOnce(&Series) -> R) -> Option<R> {
        if values.is_empty() {
            return self.single.with(f);
        }
        self.map
            .get()?
            .get_with(&self.label_ref(values), |k| f(&k.0))
    }

    /// The list slot of the series for `values` (see [`LabelMap::insert`]).
    pub(super) fn slot_of(&self, values: &[&str]) -> Option<usize> {
        if values.is_empty() {
            return self.single.with(|_| 0);
        }
        self.map
            .get()?
            .get_with(&self.label_ref(values), |k| k.1 as usize)
    }

    pub(super) fn get_arc(&self, values: &[&str]) -> Option<Series> {
        self.get_with(values, Series::clone)
    }

    /// Maps `values` to `series`, listed in slot `slot` of the family's
    /// list.
    pub(super) fn insert(&self, values: &[&str], series: Series, slot: u32) {
        if values.is_empty() {
            debug_assert_eq!(slot, 0);
            self.single.store(Some(series));
            return;
        }
        let map = self.map.get_or_init(|| Box::new(ConcurrentSet::new()));
        map.insert(SeriesKey(series, slot, self.hash_of(values)));
    }

    /// Forgets every series.
    pub(super) fn clear(&self) {
        self.single.take();
        if let Some(m) = self.map.get() {
            m.clear();
        }
    }

    pub(super) fn remove(&self, values: &[&str]) -> bool {
        if values.is_empty() {
            return self.single.take().is_some();
        }
        self.map
            .get()
            .is_some_and(|m| m.remove(&self.label_ref(values)))
    }
}

#[cfg(all(test, not(telemeter_loom)))]
mod tests {
    use std::hash::BuildHasher;

    use super::*;
    use crate::encode::layout::render_labels;

    fn key(values: &[&str]) -> SeriesKey {
        let names: Vec<String> = (0..values.len()).map(|i| format!("l{i}")).collect();
        let map = LabelMap::new(0);
        let hash = map.hash_of(values);
        SeriesKey(Series::sharded(1, &render_labels(&names, values)), 0, hash)
    }

    fn check(values: &[&str]) {
        let k = key(values);
        let found: Vec<Vec<u8>> = TextValues::new(k.0.text())
            .map(|esc| unescape(esc).into_owned())
            .collect();
        let want: Vec<Vec<u8>> = values.iter().map(|v| v.as_bytes().to_vec()).collect();
        assert_eq!(found, want, "values of {:?}", k.0);
        assert!(text_is(k.0.text(), values, 0), "{values:?}");
    }

    #[test]
    fn a_label_sets_hash_separates_its_values_and_is_keyed_per_map() {
        let map = LabelMap::new(0);
        assert_eq!(map.hash_of(&["ab", "c"]), map.hash_of(&["ab", "c"]));
        assert_ne!(map.hash_of(&["ab", "c"]), map.hash_of(&["a", "bc"]));
        assert_ne!(map.hash_of(&["ab", ""]), map.hash_of(&["ab"]));
        let state = foldhash::fast::FixedState::with_seed(7);
        let k = SeriesKey(Series::gauge(0, "{a=\"x\"}"), 3, map.hash_of(&["x"]));
        assert_eq!(state.hash_one(&k), state.hash_one(map.label_ref(&["x"])));
        // Another map draws another key.
        assert_ne!(
            LabelMap::new(0).hash_of(&["ab", "c"]),
            map.hash_of(&["ab", "c"])
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
            assert!(!text_is(k.0.text(), other, 0), "{other:?}");
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
            proptest::prop_assert_eq!(text_is(k.0.text(), &other, 0), values == other);
        }
    }
}
