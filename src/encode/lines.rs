//! The line writer: a family's sample lines, counter and gauge lines one
//! per series and a histogram series' bucket, `_sum` and `_count` lines,
//! written through one [`Cursor`] whose write pointer stays in a register
//! from line to line.

use super::cursor::Cursor;
use super::layout::LeTails;
use super::pen::{Padded, Pen, TailPad, Value};

impl Cursor<'_> {
    /// Appends one sample line per item of `items` (a series' label text
    /// and its value): `name`, the label text, a space, the value (a float
    /// spelled as the text encoder does), a newline.
    ///
    /// The write pointer and the end of the room stay in locals from line
    /// to line: the cursor's fields are written only before it grows and
    /// at the end. (Line by line, each line reloaded the cursor from
    /// memory, checked the room against it and stored its length back, and
    /// the next line's reload waited on that store.) The callers mark
    /// their `items` closures `#[inline(always)]`: left to itself the
    /// compiler outlined a float one, a call per line.
    #[inline(always)]
    pub(crate) fn samples<'s, V: Value>(
        &mut self,
        name: &[u8],
        items: impl IntoIterator<Item = (&'s [u8], V)>,
    ) {
        let (mut p, mut end) = self.open();
        for (labels, v) in items {
            let k = name.len() + labels.len() + 2 + V::ROOM;
            // SAFETY: `p` and `end` come from `open` or `reserve`, `p`
            // moved by what the pen wrote, within the `k` bytes reserved.
            // `reserve` leaves `k` writable bytes at `p`, for two pieces, a
            // space, a newline and the value's `ROOM` (`Value`'s contract).
            let mut pen = unsafe {
                (p, end) = self.reserve(p, end, k);
                Pen::new(p, k)
            };
            pen.sample(name, labels, |pen| v.write(pen));
            p = pen.p;
        }
        // SAFETY: as above.
        unsafe { self.close(p) };
    }

    /// One line of [`Cursor::samples`] (tests).
    #[cfg(test)]
    pub(crate) fn sample<V: Value>(&mut self, name: &[u8], labels: &[u8], v: V) {
        self.samples(name, std::iter::once((labels, v)));
    }

    /// Appends the lines of a histogram series per item of `series`:
    /// `read` fills `buckets` with the item's count per tail of `names` and
    /// returns its label text (`{...}`, or empty) and sum; then come a
    /// `_bucket` line per bucket with its cumulative count, `_sum`, and
    /// `_count` (the last cumulative count). As in [`Cursor::samples`], the
    /// write pointer stays in a local from series to series.
    #[inline(always)]
    pub(crate) fn histograms<'s, T>(
        &mut self,
        names: &HistogramNames<'_>,
        buckets: &mut [u64],
        series: impl IntoIterator<Item = T>,
        mut read: impl FnMut(T, &mut [u64]) -> (&'s [u8], f64),
    ) {
        let (mut p, mut end) = self.open();
        for item in series {
            let (labels, sum) = read(item, buckets);
            let k = histogram_room(names, labels, buckets.len());
            // SAFETY: as in `samples`; `k` is the room `Pen::histogram`
            // takes, as `histogram_room` counts it.
            let mut pen = unsafe {
                (p, end) = self.reserve(p, end, k);
                Pen::new(p, k)
            };
            pen.histogram(names, labels, buckets, sum);
            p = pen.p;
        }
        // SAFETY: as above.
        unsafe { self.close(p) };
    }

    /// One series of [`Cursor::histograms`] (tests).
    #[cfg(test)]
    pub(crate) fn histogram_series(
        &mut self,
        names: &HistogramNames<'_>,
        labels: &[u8],
        buckets: &[u64],
        sum: f64,
    ) {
        let mut room = buckets.to_vec();
        self.histograms(names, &mut room, [()], |(), b| {
            b.copy_from_slice(buckets);
            (labels, sum)
        });
    }
}

/// The room [`Pen::histogram`] takes for a series with `labels` and
/// `buckets` bucket lines: at most `buckets` bucket lines (the prefix, or
/// the 64 bytes of its joined copy, a tail, a `u64` and a newline), then
/// two lines of a name, `labels`, two bytes and a value (24 for the
/// `f64`).
#[inline(always)]
fn histogram_room(names: &HistogramNames<'_>, labels: &[u8], buckets: usize) -> usize {
    let prefix = names.bucket.len() + labels.len().saturating_sub(1);
    // A padded tail is stored in 32 bytes.
    let per_bucket = prefix.max(64) + names.tail_max.max(32) + 21;
    let last_two = names.sum.len() + names.count.len() + 2 * labels.len() + 2 * 26;
    buckets * per_bucket + last_two
}

impl Pen {
    /// Writes a histogram series' lines (see [`Cursor::histograms`]), in
    /// at most [`histogram_room`] bytes.
    #[inline(always)]
    fn histogram(&mut self, names: &HistogramNames<'_>, labels: &[u8], buckets: &[u64], sum: f64) {
        // The label text without its closing `}`: each tail adds
        // `,le="..."} ` (or `{le="..."} ` when there are no labels).
        let open = &labels[..labels.len().saturating_sub(1)];
        // Every bucket line starts with `name_bucket` and `open`.
        let prefix = names.bucket.len() + open.len();
        let line = self;
        let mut cumulative = 0u64;
        // Two loops, not one with the choice inside: the compiler did not
        // unswitch that one, and it tested the choice on every line.
        if prefix <= 64 && !names.pads.is_empty() {
            // Join the prefix once, and store it whole on each line, then
            // the tail's 32 bytes: every piece of known size, no length
            // dispatch per line.
            let mut joined = Padded([0; 64]);
            joined.0[..names.bucket.len()].copy_from_slice(names.bucket);
            joined.0[names.bucket.len()..prefix].copy_from_slice(open);
            for (b, tail) in buckets.iter().zip(names.pads) {
                cumulative = cumulative.saturating_add(*b);
                line.put_padded(&joined, prefix);
                line.put_tail(tail);
                line.u64(cumulative);
                line.byte(b'\n');
            }
        } else {
            for (b, tail) in buckets.iter().zip(names.tails) {
                cumulative = cumulative.saturating_add(*b);
                line.put(names.bucket);
                line.put(open);
                line.put(tail.as_bytes());
                line.u64(cumulative);
                line.byte(b'\n');
            }
        }
        line.sample(names.sum, labels, |line| line.f64(sum));
        line.sample(names.count, labels, |line| line.u64(cumulative));
    }
}

/// A histogram variant's sample names and its `le` tails, for
/// [`Cursor::histograms`].
pub(crate) struct HistogramNames<'f> {
    /// `name_bucket`.
    pub(crate) bucket: &'f [u8],
    /// `name_sum`.
    pub(crate) sum: &'f [u8],
    /// `name_count`.
    pub(crate) count: &'f [u8],
    /// What follows the label text on each bucket line, `+Inf` last.
    pub(crate) tails: &'f [Box<str>],
    /// The same, padded (see [`LeTails`]); empty if they do not fit.
    pads: &'f [TailPad],
    /// The longest tail.
    tail_max: usize,
}

impl<'f> HistogramNames<'f> {
    /// The names and tails of one histogram variant.
    pub(crate) fn new(bucket: &'f str, sum: &'f str, count: &'f str, tails: &'f LeTails) -> Self {
        HistogramNames {
            bucket: bucket.as_bytes(),
            sum: sum.as_bytes(),
            count: count.as_bytes(),
            tails: tails.text(),
            pads: tails.pads(),
            tail_max: tails.max(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::copy::put;
    use super::super::pen::put_value;
    #[test]
    fn integers_match_the_standard_formatting() {
        let mut vals = vec![
            0u64,
            1,
            9,
            10,
            99,
            100,
            101,
            999,
            1000,
            u64::MAX,
            u64::MAX - 1,
            // Around the switch from the u64 loop to the u32 one.
            u64::from(u32::MAX) - 1,
            u64::from(u32::MAX),
            u64::from(u32::MAX) + 1,
            u64::from(u32::MAX) * 100 + 99,
            u64::from(u32::MAX) * 100 + 100,
        ];
        let mut p = 1u64;
        while let Some(q) = p.checked_mul(10) {
            vals.extend([p - 1, p, p + 1, q - 1]);
            p = q;
        }
        for v in vals {
            let mut out = b"x".to_vec();
            put_value(&mut out, v);
            assert_eq!(out, format!("x{v}").into_bytes());
        }
        for v in [0i64, -1, 1, -10, i64::MIN, i64::MAX, -1234567] {
            let mut out = Vec::new();
            super::Cursor::new(&mut out, 0).sample(b"", b"", v);
            assert_eq!(out, format!(" {v}\n").into_bytes());
        }
    }

    #[test]
    fn a_cursor_writes_what_put_writes_across_growth() {
        let pieces: Vec<Vec<u8>> = (0..130usize)
            .map(|n| (0..n).map(|i| (i * 7 + n) as u8).collect())
            .collect();
        let floats = [
            0.5,
            3.203,
            -0.0,
            12.0,
            f64::NAN,
            f64::INFINITY,
            -1e300,
            2.5e-9,
        ];
        let mut expect = b"head".to_vec();
        let mut out = b"head".to_vec();
        out.shrink_to_fit();
        {
            // No room reserved: every kind of line has to grow the buffer.
            let mut w = super::Cursor::new(&mut out, 0);
            for (i, p) in pieces.iter().enumerate() {
                let v = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (i % 64);
                w.sample(p, b"{a=\"b\"}", v);
                put(&mut expect, p);
                put(&mut expect, b"{a=\"b\"} ");
                put_value(&mut expect, v);
                expect.push(b'\n');
                let f = floats[i % floats.len()];
                w.sample(b"x", p, f);
                put(&mut expect, b"x");
                put(&mut expect, p);
                expect.push(b' ');
                crate::encode::text::write_f64(&mut expect, f);
                expect.push(b'\n');
                let g = (v as i64).wrapping_mul(if i % 2 == 0 { 1 } else { -1 });
                w.sample(p, b"", g);
                put(&mut expect, p);
                expect.push(b' ');
                expect.extend_from_slice(g.to_string().as_bytes());
                expect.push(b'\n');
            }
        }
        assert_eq!(out, expect);

        // Every piece as the label text of one call per kind, so that the
        // buffer grows between two lines of a call.
        let mut out = b"head".to_vec();
        out.shrink_to_fit();
        let mut expect = b"head".to_vec();
        let value = |i: usize| (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (i % 64);
        {
            let mut w = super::Cursor::new(&mut out, 0);
            let lines = pieces.iter().enumerate().map(|(i, p)| (&p[..], value(i)));
            w.samples(b"u", lines.clone());
            w.samples(
                b"i",
                lines.clone().map(|(p, v)| (p, (v as i64).wrapping_neg())),
            );
            w.samples(
                b"f",
                lines.map(|(p, v)| (p, floats[v as usize % floats.len()])),
            );
        }
        for (i, p) in pieces.iter().enumerate() {
            expect.push(b'u');
            put(&mut expect, p);
            expect.push(b' ');
            put_value(&mut expect, value(i));
            expect.push(b'\n');
        }
        for (i, p) in pieces.iter().enumerate() {
            expect.push(b'i');
            put(&mut expect, p);
            expect.extend_from_slice(format!(" {}\n", (value(i) as i64).wrapping_neg()).as_bytes());
        }
        for (i, p) in pieces.iter().enumerate() {
            expect.push(b'f');
            put(&mut expect, p);
            expect.push(b' ');
            crate::encode::text::write_f64(&mut expect, floats[value(i) as usize % floats.len()]);
            expect.push(b'\n');
        }
        assert_eq!(out, expect);
    }

    /// A histogram series' lines, written piece by piece.
    fn histogram_reference(
        out: &mut Vec<u8>,
        names: &super::HistogramNames<'_>,
        labels: &[u8],
        buckets: &[u64],
        sum: f64,
    ) {
        let open = &labels[..labels.len().saturating_sub(1)];
        let mut cumulative = 0u64;
        for (b, tail) in buckets.iter().zip(names.tails) {
            cumulative = cumulative.saturating_add(*b);
            put(out, names.bucket);
            put(out, open);
            put(out, tail.as_bytes());
            put_value(out, cumulative);
            out.push(b'\n');
        }
        for (name, value) in [(names.sum, None), (names.count, Some(cumulative))] {
            put(out, name);
            put(out, labels);
            out.push(b' ');
            match value {
                None => crate::encode::text::write_f64(out, sum),
                Some(v) => put_value(out, v),
            }
            out.push(b'\n');
        }
    }

    #[test]
    fn histogram_series_match_their_pieces() {
        // The first tail is as long as a pad holds.
        let tails: Vec<Box<str>> = [
            ",le=\"1.2345678901234567e-300\"} ",
            ",le=\"10\"} ",
            ",le=\"+Inf\"} ",
        ]
        .iter()
        .map(|t| Box::from(*t))
        .collect();
        let bare: Vec<Box<str>> = ["{le=\"1e-9\"} ", "{le=\"+Inf\"} "]
            .iter()
            .map(|t| Box::from(*t))
            .collect();
        let tails = super::LeTails::new(tails.into());
        let bare = super::LeTails::new(bare.into());
        // A tail longer than a pad: every bucket line piece by piece.
        let wide = super::LeTails::new(
            [",le=\"-1.2345678901234567e-300\"} ", ",le=\"+Inf\"} "]
                .iter()
                .map(|t| Box::from(*t))
                .collect(),
        );
        assert!(wide.pads().is_empty() && !tails.pads().is_empty());
        let names = super::HistogramNames::new("h_bucket", "h_sum", "h_count", &tails);
        let long = "d".repeat(60);
        let long_names = super::HistogramNames::new(&long, "s", "c", &tails);
        let bare_names = super::HistogramNames::new("b_bucket", "b_sum", "b_count", &bare);
        let wide_names = super::HistogramNames::new("w_bucket", "w_sum", "w_count", &wide);
        // Prefixes (`h_bucket{a="...`: 13 bytes and the value) shorter
        // than, exactly and longer than the joined 64 bytes; a long name;
        // no labels; huge counts and every float spelling.
        let y = |n: usize| format!("{{a=\"{}\"}}", "y".repeat(n));
        let cases: Vec<(&super::HistogramNames<'_>, String, Vec<u64>, f64)> = vec![
            (&names, "{a=\"x\"}".into(), vec![1, 2, 3], 0.25),
            (&names, y(50), vec![0, 0, 7], 12.203),
            (&names, y(51), vec![5, 0, 0], -3.0),
            (&names, y(52), vec![9, 9, 9], 1e-7),
            (
                &long_names,
                "{a=\"z\"}".into(),
                vec![u64::MAX / 4, 1, 2],
                f64::NAN,
            ),
            (
                &bare_names,
                String::new(),
                vec![10_000_000_000_000_000, 1],
                1e300,
            ),
            (&wide_names, "{a=\"x\"}".into(), vec![4, 5], 0.5),
            (&wide_names, y(70), vec![0, 1], 2.0),
        ];
        for (names, labels, buckets, sum) in cases {
            let mut expect = b"pre".to_vec();
            histogram_reference(&mut expect, names, labels.as_bytes(), &buckets, sum);
            let mut out = b"pre".to_vec();
            out.shrink_to_fit();
            super::Cursor::new(&mut out, 0).histogram_series(
                names,
                labels.as_bytes(),
                &buckets,
                sum,
            );
            assert_eq!(
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(&expect),
                "labels {labels}"
            );
        }
    }

    #[test]
    fn a_cursor_that_grows_writes_what_one_with_room_does() {
        // Pieces of every length up to several pages, after prefixes that
        // put the buffer's end at every offset within a cache line: the
        // cursor that starts with no room grows mid-line and mid-batch,
        // the other never grows.
        let pieces: Vec<Vec<u8>> = [
            0usize, 1, 15, 16, 17, 63, 64, 65, 200, 700, 4095, 4096, 9000,
        ]
        .iter()
        .map(|&n| (0..n).map(|i| (i * 13 + n) as u8).collect())
        .collect();
        let prefixes: Vec<usize> = if cfg!(miri) {
            vec![0, 1, 17, 63]
        } else {
            (0..64).collect()
        };
        for prefix in prefixes {
            for (take, rounds) in [(4, 400), (pieces.len() - 4, 8), (pieces.len(), 2)] {
                let mut expect = vec![0x5A; prefix];
                let mut out = vec![0x5A; prefix];
                out.shrink_to_fit();
                {
                    let mut w = super::Cursor::new(&mut out, 0);
                    let mut e = super::Cursor::new(&mut expect, 1 << 20);
                    for round in 0..rounds as u64 {
                        for p in &pieces[..take] {
                            w.sample(p, b"{}", round * 1_000_003);
                            e.sample(p, b"{}", round * 1_000_003);
                            w.sample(b"f", p, round as f64 / 7.0);
                            e.sample(b"f", p, round as f64 / 7.0);
                            w.sample(b"", p, -(round as i64));
                            e.sample(b"", p, -(round as i64));
                        }
                        let lines = pieces[..take].iter().map(|p| (&p[..], round));
                        w.samples(b"n", lines.clone());
                        for (p, v) in lines {
                            e.sample(b"n", p, v);
                        }
                    }
                }
                assert_eq!(out.len(), expect.len(), "prefix {prefix}, take {take}");
                assert!(out == expect, "prefix {prefix}, take {take}");
            }
        }
    }

    #[test]
    fn an_empty_cursor_leaves_the_buffer_as_it_was() {
        let mut out = b"kept".to_vec();
        drop(super::Cursor::new(&mut out, 0));
        assert_eq!(out, b"kept");
    }
}
