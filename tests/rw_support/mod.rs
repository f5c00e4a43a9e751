//! What the remote-write tests share: an independent reading of a
//! `WriteRequest` body (not the crate's own cutting code).

/// Counts the top-level fields (`TimeSeries`) of a `WriteRequest`,
/// checking that it holds nothing else and ends with its last series.
pub fn count_series(raw: &[u8]) -> usize {
    let (mut at, mut n) = (0, 0);
    while at < raw.len() {
        assert_eq!(raw[at], 0x0a, "a WriteRequest holds timeseries only");
        let (mut len, mut shift, mut i) = (0usize, 0, at + 1);
        loop {
            let b = raw[i];
            len |= usize::from(b & 0x7f) << shift;
            i += 1;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        at = i + len;
        n += 1;
    }
    assert_eq!(at, raw.len(), "the body ends with its last series");
    n
}
