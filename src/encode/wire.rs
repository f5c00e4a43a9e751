//! Protobuf wire pieces shared by the protobuf encoders (the exposition's
//! `MetricFamily` messages and remote write's `WriteRequest`): varints,
//! and the label pairs read back out of a series' rendered label text.
#![forbid(unsafe_code)]

/// The `le` value in a rendered tail (`,le="0.5"} ` or `{le="+Inf"} `).
pub(crate) fn le_of(tail: &[u8]) -> &[u8] {
    let start = tail
        .windows(4)
        .position(|w| w == b"le=\"")
        .map_or(0, |i| i + 4);
    let rest = &tail[start..];
    let end = rest.iter().position(|&b| b == b'"').unwrap_or(rest.len());
    &rest[..end]
}

/// Calls `f(name, escaped value, whether it holds an escape)` for each
/// label of a rendered label set `{n="v",...}` (nothing for an empty one).
pub(crate) fn parse_labels(text: &[u8], mut f: impl FnMut(&[u8], &[u8], bool)) {
    let mut rest = text.get(1..).unwrap_or_default();
    while let Some(eq) = rest.iter().position(|&b| b == b'=') {
        let name = &rest[..eq];
        let name = name.strip_prefix(b",").unwrap_or(name);
        let value = rest.get(eq + 2..).unwrap_or_default(); // past `="`
        let (i, escaped) = value_end(value, 0);
        f(name, &value[..i], escaped);
        rest = value.get(i + 1..).unwrap_or_default();
    }
}

/// Where the escaped label value starting at `from` in `b` ends: the
/// index of its closing `"` (or `b.len()` if there is none), and whether
/// it holds an escape.
#[inline]
pub(crate) fn value_end(b: &[u8], from: usize) -> (usize, bool) {
    let (mut i, mut escaped) = (from, false);
    loop {
        i = quote_or_backslash(b, i);
        if i >= b.len() || b[i] == b'"' {
            return (i.min(b.len()), escaped);
        }
        escaped = true;
        i += 2;
    }
}

/// The index of the first `"` or `\` in `b` at or after `from`, or
/// `b.len()`: eight bytes at a time (label values are short, and a byte
/// loop here was a tenth of remote write's encode).
#[inline]
pub(crate) fn quote_or_backslash(b: &[u8], from: usize) -> usize {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    // A high bit at the lowest zero byte of `x` (borrows can mark bytes
    // above it too, never below).
    let zero = |x: u64| x.wrapping_sub(LO) & !x & HI;
    let mut at = from;
    while at + 8 <= b.len() {
        let w = u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"));
        let hit = zero(w ^ (LO * u64::from(b'"'))) | zero(w ^ (LO * u64::from(b'\\')));
        if hit != 0 {
            return at + hit.trailing_zeros() as usize / 8;
        }
        at += 8;
    }
    at + b
        .get(at..)
        .unwrap_or_default()
        .iter()
        .position(|&c| c == b'"' || c == b'\\')
        .unwrap_or(b.len().saturating_sub(at))
}

/// Appends `escaped` (a label value as the exposition escapes it) with its
/// escapes undone.
pub(crate) fn unescape_into(out: &mut Vec<u8>, escaped: &[u8]) {
    if !escaped.contains(&b'\\') {
        out.extend_from_slice(escaped);
        return;
    }
    let mut i = 0;
    while i < escaped.len() {
        if escaped[i] == b'\\' && i + 1 < escaped.len() {
            out.push(if escaped[i + 1] == b'n' {
                b'\n'
            } else {
                escaped[i + 1]
            });
            i += 2;
        } else {
            out.push(escaped[i]);
            i += 1;
        }
    }
}

pub(crate) fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// `v` as a varint at the start of `out`; its length.
#[inline]
pub(crate) fn put_varint_into(out: &mut [u8; 10], mut v: u64) -> usize {
    let mut n = 0;
    while v >= 0x80 {
        out[n] = (v as u8) | 0x80;
        v >>= 7;
        n += 1;
    }
    out[n] = v as u8;
    n + 1
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The length of `escaped` (a label value as the exposition escapes it)
/// once its escapes are undone: each `\x` pair is one byte.
pub(crate) fn unescaped_len(escaped: &[u8]) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < escaped.len() {
        i += if escaped[i] == b'\\' && i + 1 < escaped.len() {
            2
        } else {
            1
        };
        n += 1;
    }
    n
}

/// Starts a length-delimited field `tag` (no tag for `None`: a delimited
/// message of its own) and leaves 5 bytes for its length; returns where
/// they are, for [`close`].
#[inline]
pub(crate) fn open(out: &mut Vec<u8>, tag: Option<u8>) -> usize {
    if let Some(tag) = tag {
        out.push(tag);
    }
    let at = out.len();
    out.extend_from_slice(&[0; 5]);
    at
}

/// Ends the field [`open`] started at `at`: writes its length as a
/// minimal varint and moves the body up against it.
#[inline]
pub(crate) fn close(out: &mut Vec<u8>, at: usize) {
    let body = at + 5;
    let len = out.len() - body;
    let k = varint_len(len as u64);
    if k < 5 {
        out.copy_within(body.., at + k);
        out.truncate(out.len() - (5 - k));
    }
    let mut v = len as u64;
    for b in &mut out[at..at + k] {
        *b = (v as u8 & 0x7f) | if v >= 0x80 { 0x80 } else { 0 };
        v >>= 7;
    }
}

/// A `double` field.
#[inline]
pub(crate) fn put_double(out: &mut Vec<u8>, field: u8, v: f64) {
    out.push(field << 3 | 1);
    out.extend_from_slice(&v.to_le_bytes());
}

/// A varint field.
#[inline]
pub(crate) fn put_uint(out: &mut Vec<u8>, field: u8, v: u64) {
    out.push(field << 3);
    put_varint(out, v);
}

/// A `sint32`/`sint64` field (zigzag varint).
#[inline]
pub(crate) fn put_sint(out: &mut Vec<u8>, field: u8, v: i64) {
    put_uint(out, field, zigzag(v));
}

/// `v` zigzag-encoded, as `sint` fields carry it.
#[inline]
pub(crate) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// A length-delimited field of raw bytes.
#[inline]
pub(crate) fn put_bytes(out: &mut Vec<u8>, field: u8, v: &[u8]) {
    out.push(field << 3 | 2);
    put_varint(out, v.len() as u64);
    out.extend_from_slice(v);
}

/// Where a schema puts a native histogram's parts: client_model's
/// `Histogram` (the exposition) and prompb's (remote write) hold the same
/// data under different field numbers, and prompb's deltas are packed.
pub(crate) struct NativeFields {
    pub(crate) count: u8,
    pub(crate) sum: u8,
    pub(crate) schema: u8,
    pub(crate) zero_threshold: u8,
    pub(crate) zero_count: u8,
    pub(crate) positive_spans: u8,
    pub(crate) positive_deltas: u8,
    pub(crate) packed: bool,
}

/// Writes a native histogram's fields into its (open) message: the count
/// (the sum of `cells`), `sum`, the schema, the zero threshold and the
/// zero bucket (`cells[0]`), and the positive side's spans and
/// delta-encoded counts of `cells[1..]`, the buckets from the layout's
/// lowest index (empty buckets bridged as client_golang does).
pub(crate) fn put_native_histogram(
    out: &mut Vec<u8>,
    f: &NativeFields,
    layout: &crate::native_histogram::NativeLayout,
    cells: &[u64],
    sum: f64,
) {
    use crate::native::spans_and_deltas;
    let count = cells.iter().fold(0u64, |n, c| n.saturating_add(*c));
    put_uint(out, f.count, count);
    put_double(out, f.sum, sum);
    put_sint(out, f.schema, i64::from(layout.schema));
    put_double(out, f.zero_threshold, layout.zero_threshold);
    put_uint(out, f.zero_count, cells[0]);
    let buckets = &cells[1..];
    spans_and_deltas(
        layout.min_index,
        buckets,
        |offset, length| {
            let span = open(out, Some(f.positive_spans << 3 | 2));
            put_sint(out, 1, i64::from(offset));
            put_uint(out, 2, u64::from(length));
            close(out, span);
        },
        |_| {},
    );
    if !f.packed {
        spans_and_deltas(
            layout.min_index,
            buckets,
            |_, _| {},
            |d| put_sint(out, f.positive_deltas, d),
        );
    } else if buckets.iter().any(|&c| c > 0) {
        let deltas = open(out, Some(f.positive_deltas << 3 | 2));
        spans_and_deltas(
            layout.min_index,
            buckets,
            |_, _| {},
            |d| put_varint(out, zigzag(d)),
        );
        close(out, deltas);
    }
}

/// A `LabelPair` (`name = 1`, `value = 2`) as field `field`, its value
/// unescaped from the exposition's form (`any`: whether it holds an
/// escape, as [`parse_labels`] says).
pub(crate) fn put_label_pair(out: &mut Vec<u8>, field: u8, name: &[u8], escaped: &[u8], any: bool) {
    let v = if any {
        unescaped_len(escaped)
    } else {
        escaped.len()
    };
    out.push(field << 3 | 2);
    put_varint(out, label_len(name.len(), v) as u64);
    put_bytes(out, 1, name);
    out.push(2 << 3 | 2);
    put_varint(out, v as u64);
    if any {
        unescape_into(out, escaped);
    } else {
        out.extend_from_slice(escaped);
    }
}

/// The length of a `LabelPair`/`Label` message (`name = 1`, `value = 2`)
/// of a name of `n` bytes and a value of `v`.
#[inline]
pub(crate) fn label_len(n: usize, v: usize) -> usize {
    1 + varint_len(n as u64) + n + 1 + varint_len(v as u64) + v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_word_scan_finds_what_a_byte_scan_finds() {
        // Every length to 40, every start, quotes and backslashes (and
        // their neighbours in value, which a wrong mask would match) at
        // every place; deterministic.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for len in 0..40 {
            for _ in 0..200 {
                let b: Vec<u8> = (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        [b'"', b'\\', b'!', b'#', b'[', b']', 0x22 ^ 0x80, b'a'][(x % 8) as usize]
                    })
                    .collect();
                for from in 0..=len {
                    let naive = b[from..]
                        .iter()
                        .position(|&c| c == b'"' || c == b'\\')
                        .map_or(len, |i| from + i);
                    assert_eq!(quote_or_backslash(&b, from), naive, "{b:?} from {from}");
                }
            }
        }
    }

    #[test]
    fn varints_and_label_text_round_trip() {
        let mut out = Vec::new();
        for v in [0u64, 1, 127, 128, 300, u64::MAX] {
            out.clear();
            put_varint(&mut out, v);
            assert_eq!(out.len(), varint_len(v), "{v}");
        }
        out.clear();
        put_varint(&mut out, 300);
        assert_eq!(out, [0xac, 0x02]);
        let mut seen = Vec::new();
        parse_labels(br#"{a="x\"y",b="c\\d\ne",c=""}"#, |n, v, _| {
            let mut u = Vec::new();
            unescape_into(&mut u, v);
            seen.push((n.to_vec(), u));
        });
        assert_eq!(
            seen,
            [
                (b"a".to_vec(), b"x\"y".to_vec()),
                (b"b".to_vec(), b"c\\d\ne".to_vec()),
                (b"c".to_vec(), b"".to_vec()),
            ]
        );
        assert_eq!(le_of(b",le=\"0.25\"} "), b"0.25");
        assert_eq!(le_of(b"{le=\"+Inf\"} "), b"+Inf");
        for v in [&b"plain"[..], br#"a\"b\\c\nd"#, b""] {
            let mut u = Vec::new();
            unescape_into(&mut u, v);
            assert_eq!(unescaped_len(v), u.len());
        }
        // A body of 300 bytes: a two-byte length, moved up by three.
        let mut out = vec![7];
        let at = open(&mut out, Some(0x0a));
        out.extend(std::iter::repeat_n(9u8, 300));
        close(&mut out, at);
        assert_eq!(&out[..4], &[7, 0x0a, 0xac, 0x02]);
        assert_eq!(out.len(), 4 + 300);
        assert!(out[4..].iter().all(|&b| b == 9));
    }
}
