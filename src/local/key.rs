//! The lookup table's keys and hash: a set of at most 3 values of at most
//! 8 bytes each is its own key (five words, no byte compare); any other set
//! is hashed and compared byte by byte against a copy. Pure functions: no
//! state, no unsafe.
#![forbid(unsafe_code)]

/// A small, fast hash of the values for the cache's set index and tag.
/// Quality matters only for spreading entries: a hit always compares
/// the values, so a collision costs a miss (the shared map), never a
/// wrong series; the per-thread random seed keeps crafted values from
/// picking sets.
#[inline]
pub(crate) fn hash_values(seed: u64, values: &[&str]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    #[inline(always)]
    fn mix(h: u64, w: u64) -> u64 {
        (h ^ w).wrapping_mul(K).rotate_left(31)
    }
    let mut h = seed;
    for v in values {
        let b = v.as_bytes();
        let n = b.len();
        // Every byte enters the hash; an overlapping read at the end
        // covers the tail without a byte loop, and a value of at most 8
        // bytes is its own short-key lane.
        let tail = if n > 8 {
            let mut at = 0;
            while at + 8 < n {
                h = mix(h, word(b, at));
                at += 8;
            }
            word(b, n - 8)
        } else {
            lane(b)
        };
        // The length separates ("ab", "c") from ("a", "bc").
        h = mix(h, tail ^ (n as u64) << 56);
    }
    h ^ (h >> 29)
}

#[inline(always)]
fn word(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

#[inline(always)]
fn half(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

/// `a == b`, inline: label values are short, and a call to `memcmp` per
/// value cost a fifth of a cached lookup. Overlapping word reads cover
/// every byte without a byte loop.
#[inline(always)]
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n >= 8 {
        let mut at = 0;
        while at + 8 < n {
            if word(a, at) != word(b, at) {
                return false;
            }
            at += 8;
        }
        word(a, n - 8) == word(b, n - 8)
    } else if n >= 4 {
        half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4)
    } else if n > 0 {
        // 1 to 3 bytes: first, middle and last are every byte.
        a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1]
    } else {
        true
    }
}

/// Label values in one allocation, each followed by 0xff (never part
/// of UTF-8, so the encoding is unambiguous).
pub(crate) fn encode_key(values: &[&str]) -> Box<[u8]> {
    let mut key = Vec::with_capacity(values.iter().map(|v| v.len() + 1).sum());
    for v in values {
        key.extend_from_slice(v.as_bytes());
        key.push(0xff);
    }
    key.into_boxed_slice()
}

/// Whether `key` (from [`encode_key`]) holds exactly `values`.
#[inline]
pub(crate) fn key_is(key: &[u8], values: &[&str]) -> bool {
    let mut rest = key;
    for v in values {
        let v = v.as_bytes();
        match rest.get(v.len()) {
            Some(&0xff) if same_bytes(&rest[..v.len()], v) => rest = &rest[v.len() + 1..],
            _ => return false,
        }
    }
    rest.is_empty()
}

/// A lookup's key. A *short* value set (at most 3 values of at most 8
/// bytes each) is the key itself: each value's bytes, zero-padded, in
/// its own word of `lanes`, and the number of values and each one's
/// length in the bytes of `meta`, so two keys are equal exactly when
/// the value sets are, with no byte compare. Any other set has
/// `meta == LONG` and its hash in `lanes[0]`, and is compared byte by
/// byte against its entry's `long` copy.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key {
    pub(crate) lanes: [u64; 3],
    pub(crate) meta: u64,
}

/// `meta` of a key that is not short (a short key's top byte is 0).
pub(crate) const LONG: u64 = u64::MAX;

/// The bytes of a value of at most 8 bytes, zero-padded, from at most
/// three reads (overlapping reads read the same bytes twice).
#[inline(always)]
pub(crate) fn lane(b: &[u8]) -> u64 {
    let n = b.len();
    if n == 8 {
        word(b, 0)
    } else if n >= 4 {
        u64::from(half(b, 0)) | u64::from(half(b, n - 4)) << (8 * (n - 4))
    } else if n > 0 {
        u64::from(b[0])
            | u64::from(b[n / 2]) << (8 * (n / 2))
            | u64::from(b[n - 1]) << (8 * (n - 1))
    } else {
        0
    }
}

/// The key of a short value set (see [`Key`]).
#[inline(always)]
pub(crate) fn short_key(values: &[&str]) -> Option<Key> {
    if values.len() > 3 {
        return None;
    }
    let mut key = Key {
        lanes: [0; 3],
        meta: values.len() as u64,
    };
    for (i, v) in values.iter().enumerate() {
        let b = v.as_bytes();
        if b.len() > 8 {
            return None;
        }
        key.lanes[i] = lane(b);
        key.meta |= (b.len() as u64) << (8 * (i + 1));
    }
    Some(key)
}

/// The key for `values` and the hash that picks its set.
#[inline(always)]
pub(crate) fn key_of(seed: u64, values: &[&str]) -> (Key, u64) {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    match short_key(values) {
        Some(k) => {
            let [a, b, c] = k.lanes;
            let h = (a ^ seed).wrapping_mul(K).rotate_left(31);
            let h = (h ^ b).wrapping_mul(K).rotate_left(31);
            let h = (h ^ c ^ k.meta.rotate_left(32)).wrapping_mul(K);
            (k, h ^ (h >> 29))
        }
        None => {
            let h = hash_values(seed, values);
            (
                Key {
                    lanes: [h, 0, 0],
                    meta: LONG,
                },
                h,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl std::fmt::Debug for Key {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "Key({:x?}, {:x})", self.lanes, self.meta)
        }
    }

    #[test]
    fn cache_hash_separates_values_and_follows_every_byte() {
        for seed in [1u64, 0x1234_5678_9abc_def1, u64::MAX] {
            let h = |v: &[&str]| hash_values(seed, v);
            assert_ne!(h(&["ab", "c"]), h(&["a", "bc"]));
            assert_ne!(h(&["abc"]), h(&["abc", ""]));
            assert_ne!(h(&[""]), h(&[]));
            let long = "0123456789abcdef-tail";
            // Every length up to three words, so each tail read (byte,
            // half word, overlapping word) is covered.
            for len in 1..=long.len() {
                let v = &long[..len];
                for i in 0..len {
                    let mut changed = v.as_bytes().to_vec();
                    changed[i] ^= 1;
                    let changed = String::from_utf8(changed).unwrap();
                    assert_ne!(h(&[v]), h(&[&changed]), "length {len}, byte {i}");
                }
            }
        }
    }

    #[test]
    fn keys_compare_value_by_value() {
        let k = encode_key(&["ab", "c"]);
        assert!(key_is(&k, &["ab", "c"]));
        assert!(!key_is(&k, &["a", "bc"]));
        assert!(!key_is(&k, &["ab"]));
        assert!(!key_is(&k, &["ab", "c", ""]));
        assert!(!key_is(&k, &["ab", "cd"]));
        let empty = encode_key(&[]);
        assert!(key_is(&empty, &[]));
        assert!(!key_is(&empty, &[""]));
        assert!(key_is(&encode_key(&["", ""]), &["", ""]));
    }

    #[test]
    fn short_keys_are_exact() {
        use super::{short_key, LONG};
        let k = |v: &[&str]| short_key(v);
        assert!(k(&["ab", "c"]) != k(&["a", "bc"]));
        assert!(k(&["abc"]) != k(&["abc", ""]));
        assert!(k(&[""]) != k(&[]));
        assert!(k(&["", ""]) != k(&[""]));
        assert!(k(&["a\0"]) != k(&["a"]));
        assert!(k(&["GET", "200"]) == k(&["GET", "200"]));
        // Every byte of every value, at every length and position.
        let text = "01234567";
        for len in 0..=8 {
            let v = &text[..len];
            for at in 0..3 {
                let mut vals = ["x", "yz", "w"];
                vals[at] = v;
                let base = k(&vals).expect("short");
                assert!(base.meta != LONG);
                for i in 0..len {
                    let mut bytes = v.as_bytes().to_vec();
                    bytes[i] ^= 1;
                    let changed = String::from_utf8(bytes).unwrap();
                    let mut other = vals;
                    other[at] = &changed;
                    assert!(
                        k(&other) != Some(base),
                        "length {len}, value {at}, byte {i}"
                    );
                }
            }
        }
        // A value over 8 bytes, or more than 3 values: not short.
        assert!(k(&["012345678"]).is_none());
        assert!(k(&["a"; 4]).is_none());
        assert!(k(&["a"; 3]).is_some());
    }

    #[test]
    fn same_bytes_sees_every_byte_at_every_length() {
        let long = b"0123456789abcdef0123456789-tail";
        for len in 0..=long.len() {
            let a = &long[..len];
            assert!(same_bytes(a, a));
            assert!(!same_bytes(a, &long[..len.saturating_sub(1)]) || len == 0);
            for i in 0..len {
                let mut b = a.to_vec();
                b[i] ^= 0x20;
                assert!(!same_bytes(a, &b), "length {len}, byte {i}");
            }
        }
    }
}
