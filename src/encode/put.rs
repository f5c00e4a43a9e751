//! Appending short byte strings to the scrape buffer without a call.
//!
//! A sample line is a few short pieces: the sample name, the series' label
//! text, a bucket's `le` tail, the number, a newline. `Vec::extend_from_slice`
//! copies each with a call to `memcpy`, whose call, length dispatch and
//! return cost more than the copy itself for pieces of 3 to 60 bytes: on the
//! 1k-series scrape of `benches/scrape_load.rs` those calls took 40 % of the
//! encode. [`put`] copies a piece of up to 64 bytes with at most four
//! overlapping 16-byte moves (or two 8- or 4-byte ones), inline, and hands
//! longer ones to `memcpy`.
//!
//! Numbers are formatted straight into the buffer ([`put_value`],
//! [`Pen::u64`], [`Pen::f64`]) rather than into a stack buffer and copied: the
//! formatters store digits two bytes at a time, and reading them back at
//! once with a wider load cannot be forwarded from those stores, which
//! stalled every sample line for the stores to drain.

use std::marker::PhantomData;
use std::mem::MaybeUninit;

use super::text::{f64_form, F64Form};

/// Appends `src` to `out` (see the module docs).
#[inline(always)]
pub(crate) fn put(out: &mut Vec<u8>, src: &[u8]) {
    let n = src.len();
    if n > 64 {
        out.extend_from_slice(src);
        return;
    }
    out.reserve(64);
    let len = out.len();
    // SAFETY: `reserve(64)` leaves at least 64 >= n writable bytes after
    // `len`, which `copy_short` fills with `src`; `set_len` then exposes
    // exactly those initialised bytes.
    unsafe {
        copy_short(src, out.as_mut_ptr().add(len));
        out.set_len(len + n);
    }
}

/// Copies `src` (at most 64 bytes) to `d` with at most four overlapping
/// 16-byte moves, or two 8- or 4-byte ones.
///
/// # Safety
///
/// `src.len() <= 64`, and `d` is writable for `src.len()` bytes that do not
/// overlap `src`.
#[inline(always)]
unsafe fn copy_short(src: &[u8], d: *mut u8) {
    let n = src.len();
    debug_assert!(n <= 64);
    let s = src.as_ptr();
    // SAFETY: every read is at offsets `0..n` of `src` and every write at
    // offsets `0..n` of `d` (the caller's region). Overlapping moves write
    // the same source bytes to the same places, so afterwards `d[..n]`
    // holds exactly `src`.
    unsafe {
        if n >= 16 {
            copy16(s, d);
            copy16(s.add(n - 16), d.add(n - 16));
            if n > 32 {
                copy16(s.add(16), d.add(16));
                copy16(s.add(n - 32), d.add(n - 32));
            }
        } else if n >= 8 {
            copy8(s, d);
            copy8(s.add(n - 8), d.add(n - 8));
        } else if n >= 4 {
            copy4(s, d);
            copy4(s.add(n - 4), d.add(n - 4));
        } else if n > 0 {
            // 1 to 3 bytes: first, middle and last are every byte.
            *d = *s;
            *d.add(n / 2) = *s.add(n / 2);
            *d.add(n - 1) = *s.add(n - 1);
        }
    }
}

/// Appends sample lines to a `Vec`: [`samples`](Cursor::samples) writes
/// a line per series,
/// [`histograms`](Cursor::histograms) every line of each histogram
/// series. Each checks the room once per line (or once for a
/// histogram series) and then writes the pieces through a pointer held in
/// a register ([`Pen`]), with no room check or length store per piece.
/// (A check and a stored count per piece kept the cursor's state on the
/// stack, and each piece waited on the last one's store.)
///
/// A *streaming* cursor ([`Cursor::streaming`]) writes into a small
/// [`Stage`] instead, which stays in the L1 cache, and empties it into the
/// buffer with non-temporal stores whenever it fills. A plain store to a
/// line that is not in the cache first reads the line from memory (a
/// read-for-ownership); a non-temporal store of a whole line does not. Once
/// a body is larger than the cache, those reads are half of the encode's
/// memory traffic: on the bench VM, generating 165 MB with plain stores
/// took 23.4 ms and staging it took 11.8 ms, while at 16 MB (in the cache)
/// plain stores took 0.70 ms and staging 1.2 ms. So the registry streams
/// only bodies it expects to be large (see `collect.rs`).
pub(crate) struct Cursor<'a> {
    out: &'a mut Vec<u8>,
    /// `out`'s buffer at its length when the cursor (re)started, or the
    /// stage's first byte when streaming.
    at: *mut u8,
    /// Bytes written at `at` so far.
    n: usize,
    /// Spare capacity at `at` when the cursor (re)started, or the stage's
    /// size when streaming.
    room: usize,
    /// Whether `at` is a stage, emptied by `drain`.
    streaming: bool,
    /// The stage, borrowed for the cursor's life when streaming.
    _stage: PhantomData<&'a mut Stage>,
}

/// Bytes a streaming cursor stages before it empties them into the buffer.
/// Each drain's non-temporal stores stall the core until the memory
/// system takes them; short drains between lines overlap that with the
/// formatting. On the AMD EPYC bench VM the 1M mixed registry (histograms
/// written plainly) took 19.6-20.0 ms with a 1 KiB stage and 20.1-20.3 ms
/// with an 8 KiB one; 1M counters alone were level (10.4-10.9 against
/// 10.1-11.5 ms across runs). A line longer than the stage is written
/// directly, and so is the rest of its family.
const STAGE: usize = 1024;

/// A streaming [`Cursor`]'s staging buffer: [`STAGE`] bytes, meant to live
/// on the encoding thread's stack.
pub(crate) struct Stage([MaybeUninit<u8>; STAGE]);

impl Stage {
    /// An uninitialised stage (no memset).
    #[inline]
    pub(crate) fn new() -> Stage {
        Stage([MaybeUninit::uninit(); STAGE])
    }
}

impl<'a> Cursor<'a> {
    /// A cursor at the end of `out`, with room for at least `reserve`
    /// bytes before it first grows.
    #[inline]
    pub(crate) fn new(out: &'a mut Vec<u8>, reserve: usize) -> Cursor<'a> {
        out.reserve(reserve);
        let len = out.len();
        Cursor {
            // SAFETY: `len <= capacity`: one past the end at most.
            at: unsafe { out.as_mut_ptr().add(len) },
            n: 0,
            room: out.capacity() - len,
            out,
            streaming: false,
            _stage: PhantomData,
        }
    }

    /// A cursor at the end of `out` that stages its writes in `stage` and
    /// moves them to `out` with non-temporal stores (see the type's docs).
    /// Where there are no such stores (not x86-64, or under Miri) it moves
    /// them with ordinary copies, which is correct but gains nothing.
    #[inline]
    pub(crate) fn streaming(out: &'a mut Vec<u8>, stage: &'a mut Stage) -> Cursor<'a> {
        Cursor {
            at: stage.0.as_mut_ptr().cast::<u8>(),
            n: 0,
            room: STAGE,
            out,
            streaming: true,
            _stage: PhantomData,
        }
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self, k: usize) {
        if self.streaming {
            self.drain(false);
            if self.room - self.n >= k {
                return;
            }
            // A piece longer than the stage: write the rest directly.
            self.drain(true);
            self.streaming = false;
            self.n = 0;
            self.room = 0;
        }
        self.commit();
        // Doubling, as `Vec` would; at least a page beyond this piece.
        let len = self.out.len();
        self.out.reserve(k.max(len).max(4096));
        // SAFETY: as in `new`.
        self.at = unsafe { self.out.as_mut_ptr().add(len) };
        self.room = self.out.capacity() - len;
    }

    /// The write pointer and the end of the room, for a loop to keep in
    /// locals (see [`Cursor::samples`]) and hand back to
    /// [`Cursor::reserve`] and [`Cursor::close`].
    #[inline(always)]
    fn open(&self) -> (*mut u8, *mut u8) {
        // SAFETY: `n <= room`: both stay within the cursor's room.
        unsafe { (self.at.add(self.n), self.at.add(self.room)) }
    }

    /// `k` writable bytes at the returned pointer, which is `p` when
    /// `p..end` holds them, with the end of the room; the bytes written
    /// before `p` are kept.
    ///
    /// # Safety
    ///
    /// As for [`Cursor::close`]`(p)`, and `end` is the end of the room
    /// that [`Cursor::open`] or the last `reserve` returned.
    #[inline(always)]
    unsafe fn reserve(&mut self, p: *mut u8, end: *mut u8, k: usize) -> (*mut u8, *mut u8) {
        if (end as usize) - (p as usize) >= k {
            return (p, end);
        }
        // SAFETY: as the caller guarantees.
        unsafe { self.regrow(p, k) }
    }

    /// # Safety
    ///
    /// As for [`Cursor::close`]`(p)`.
    #[cold]
    #[inline(never)]
    unsafe fn regrow(&mut self, p: *mut u8, k: usize) -> (*mut u8, *mut u8) {
        // SAFETY: as the caller guarantees.
        unsafe { self.close(p) };
        self.grow(k);
        self.open()
    }

    /// Counts the bytes written up to `p`.
    ///
    /// # Safety
    ///
    /// `p` is a pointer from [`Cursor::open`] or [`Cursor::reserve`],
    /// moved forward by the bytes written there, within the room.
    #[inline(always)]
    unsafe fn close(&mut self, p: *mut u8) {
        self.n = p as usize - self.at as usize;
    }

    /// Moves the staged bytes to the end of `out`: bytes up to the first
    /// 64-byte boundary there with ordinary stores, whole 64-byte lines
    /// with non-temporal ones, and the last partial line either with
    /// ordinary stores (`all`, then a store fence so that the bytes are
    /// ordered before whatever publishes the buffer) or back to the stage's
    /// front, to be completed by the next drain.
    fn drain(&mut self, all: bool) {
        let n = self.n;
        self.out.reserve(n);
        let len = self.out.len();
        // SAFETY: `reserve(n)` leaves `n` writable bytes at `dst`, in
        // `out`'s allocation and so not overlapping the stage; the stage's
        // first `n` bytes were written (every write stays within `room` of
        // `at` and counts itself in `n`). `head + lines <= n`, and the
        // remainder moves within the stage with `ptr::copy` (it may
        // overlap). `set_len` exposes exactly the bytes written to `dst`.
        unsafe {
            let dst = self.out.as_mut_ptr().add(len);
            let head = dst.align_offset(64).min(n);
            std::ptr::copy_nonoverlapping(self.at, dst, head);
            let lines = (n - head) & !63;
            stream_lines(self.at.add(head), dst.add(head), lines);
            let mut done = head + lines;
            if all {
                std::ptr::copy_nonoverlapping(self.at.add(done), dst.add(done), n - done);
                done = n;
                store_fence();
            } else {
                std::ptr::copy(self.at.add(done), self.at, n - done);
            }
            self.out.set_len(len + done);
            self.n = n - done;
        }
    }

    /// Exposes what was written in `out`'s length.
    #[inline(always)]
    fn commit(&mut self) {
        // SAFETY: the `n` bytes at `at`, just past the length, were written
        // (every write below stays within `room` of `at` and counts itself
        // in `n`).
        unsafe { self.out.set_len(self.out.len() + self.n) };
        self.n = 0;
    }
}

/// A write pointer into reserved room, which a loop keeps in a register:
/// its pieces (`put`, `u64`, ...) write with no room check of their own.
pub(crate) struct Pen {
    p: *mut u8,
    /// The end of the reservation, for the debug check of the contract of
    /// whatever reserved it.
    #[cfg(debug_assertions)]
    end: *mut u8,
}

impl Pen {
    /// A pen at `p`.
    ///
    /// # Safety
    ///
    /// `p` is writable for `k` bytes, not overlapping anything the pen
    /// copies from, and the pen's writes take at most `k` bytes in all,
    /// counting 20 for each [`Pen::u64`], 21 for each [`Pen::i64`], 24 for
    /// each [`Pen::f64`] and 64 and 32 for [`Pen::put_padded`] and
    /// [`Pen::put_tail`] (the room they need, not the bytes they leave).
    /// Debug builds check the count.
    #[inline(always)]
    unsafe fn new(p: *mut u8, k: usize) -> Pen {
        let _ = k;
        Pen {
            p,
            #[cfg(debug_assertions)]
            end: p.wrapping_add(k),
        }
    }

    /// Debug builds: checks that `k` more bytes fit the reservation.
    #[inline(always)]
    fn fits(&self, k: usize) {
        #[cfg(debug_assertions)]
        if (self.end as usize) - (self.p as usize) < k {
            short_line();
        }
        let _ = k;
    }

    /// Appends `src`.
    #[inline(always)]
    fn put(&mut self, src: &[u8]) {
        let k = src.len();
        self.fits(k);
        // SAFETY: the reservation's contract (`Pen::new`) leaves `k`
        // writable bytes at `p`, in the cursor's room (the buffer past its
        // length, or the stage), so not overlapping `src`.
        unsafe {
            if k <= 64 {
                copy_short(src, self.p);
            } else {
                std::ptr::copy_nonoverlapping(src.as_ptr(), self.p, k);
            }
            self.p = self.p.add(k);
        }
    }

    /// Appends the first `len` bytes of `src` (`len <= 64`) by storing all
    /// 64: four moves, whatever `len`. The bytes past `len` are garbage
    /// that later writes overwrite or that lie past the line's end; each
    /// such piece takes 64 bytes of the reservation.
    #[inline(always)]
    fn put_padded(&mut self, src: &Padded, len: usize) {
        debug_assert!(len <= 64);
        self.fits(64);
        // SAFETY: the reservation's contract leaves 64 writable bytes at
        // `p`, in the cursor's room, not overlapping `src` (on the caller's
        // stack).
        unsafe {
            let s = src.0.as_ptr();
            copy16(s, self.p);
            copy16(s.add(16), self.p.add(16));
            copy16(s.add(32), self.p.add(32));
            copy16(s.add(48), self.p.add(48));
            self.p = self.p.add(len.min(64));
        }
    }

    /// Appends a padded tail by storing all 32 bytes: two moves, whatever
    /// its length; takes 32 bytes of the reservation (as `put_padded`).
    #[inline(always)]
    fn put_tail(&mut self, tail: &TailPad) {
        self.fits(32);
        // SAFETY: 32 writable bytes at `p` by the reservation's contract,
        // not overlapping `tail` (the family's).
        unsafe {
            let s = tail.0.as_ptr();
            copy16(s, self.p);
            copy16(s.add(16), self.p.add(16));
            self.p = self.p.add(usize::from(tail.0[TailPad::MAX]));
        }
    }

    /// Appends one byte.
    #[inline(always)]
    fn byte(&mut self, b: u8) {
        self.fits(1);
        // SAFETY: as in `put`, for one byte.
        unsafe {
            *self.p = b;
            self.p = self.p.add(1);
        }
    }

    /// Appends `v` in decimal (20 bytes of the reservation).
    #[inline(always)]
    fn u64(&mut self, v: u64) {
        self.fits(20);
        // SAFETY: the reservation's contract leaves room for any `u64`.
        unsafe { self.p = self.p.add(write_u64_at(v, self.p)) };
    }

    /// Appends `v` in decimal, with a `-` when negative (21 bytes of the
    /// reservation).
    #[inline(always)]
    fn i64(&mut self, v: i64) {
        if v < 0 {
            self.byte(b'-');
        }
        self.u64(v.unsigned_abs());
    }

    /// Appends `v` as [`crate::encode::text::write_f64`] does (24 bytes of
    /// the reservation).
    #[inline(always)]
    fn f64(&mut self, v: f64) {
        self.fits(24);
        // SAFETY: the reservation's contract leaves room for any spelling
        // of an `f64`: ryu's at most 24 bytes, an `i64` in 20, or a literal.
        unsafe { self.p = self.p.add(write_any_f64_at(v, self.p)) };
    }
}

/// A sample value [`Cursor::samples`] writes: how much room its spelling
/// may take, and how it is written.
///
/// # Safety
///
/// `write` takes at most `ROOM` bytes of a pen's reservation (as
/// [`Pen::new`] counts them).
pub(crate) unsafe trait Value: Copy {
    /// The most bytes of the reservation that `write` takes.
    const ROOM: usize;
    /// Writes the value.
    fn write(self, pen: &mut Pen);
}

// SAFETY: `Pen::u64` takes 20.
unsafe impl Value for u64 {
    const ROOM: usize = 20;
    #[inline(always)]
    fn write(self, pen: &mut Pen) {
        pen.u64(self);
    }
}

// SAFETY: `Pen::i64` takes 21.
unsafe impl Value for i64 {
    const ROOM: usize = 21;
    #[inline(always)]
    fn write(self, pen: &mut Pen) {
        pen.i64(self);
    }
}

// SAFETY: `Pen::f64` takes 24.
unsafe impl Value for f64 {
    const ROOM: usize = 24;
    #[inline(always)]
    fn write(self, pen: &mut Pen) {
        pen.f64(self);
    }
}

impl Cursor<'_> {
    /// Appends one sample line per item of `items` (a series' label text
    /// and its value): `name`, the label text, a space, the value (a float
    /// spelled as [`crate::encode::text::write_f64`] does), a newline.
    ///
    /// The write pointer and the end of the room stay in locals from line
    /// to line: the cursor's fields are written only before it grows and
    /// at the end. (Line by line, each line reloaded the cursor from
    /// memory, checked the room against it and stored its length back, and
    /// the next line's reload waited on that store.) The callers mark
    /// their `items` closures `#[inline(always)]`: left to itself the
    /// compiler outlined a float one, and 10k float gauges took 170
    /// instead of 163 us.
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
        // Two loops, not one with the choice inside: that one was not
        // unswitched and cost 15 % (10k histograms 86 -> 99 us).
        if prefix <= 64 && !names.pads.is_empty() {
            // Join the prefix once, and store it whole on each line, then
            // the tail's 32 bytes: every piece of known size, no length
            // dispatch per line.
            let mut joined = Padded([0; 64]);
            joined.0[..names.bucket.len()].copy_from_slice(names.bucket);
            joined.0[names.bucket.len()..prefix].copy_from_slice(open);
            for (b, tail) in buckets.iter().zip(names.pads) {
                cumulative = cumulative.wrapping_add(*b);
                line.put_padded(&joined, prefix);
                line.put_tail(tail);
                line.u64(cumulative);
                line.byte(b'\n');
            }
        } else {
            for (b, tail) in buckets.iter().zip(names.tails) {
                cumulative = cumulative.wrapping_add(*b);
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

/// 64 bytes on a 16-byte boundary, for [`Pen::put_padded`].
#[repr(align(16))]
struct Padded([u8; 64]);

/// A histogram family's `le` tails: what follows a series' label text on
/// each bucket line, `+Inf` last (see
/// [`render_le_tails`](crate::encode::text::render_le_tails)).
///
/// One pointer, null for a family without buckets: every family holds one,
/// and an unlabelled counter is a family of its own.
#[derive(Debug, Default)]
pub(crate) struct LeTails(Option<Box<Tails>>);

#[derive(Debug)]
struct Tails {
    text: Box<[Box<str>]>,
    /// Each tail in 32 bytes, for [`Pen::put_tail`]; empty when one is
    /// longer than [`TailPad::MAX`] (a bound spelled with many digits).
    pads: Box<[TailPad]>,
    /// The longest tail.
    max: usize,
}

impl LeTails {
    pub(crate) fn new(text: Box<[Box<str>]>) -> LeTails {
        if text.is_empty() {
            return LeTails(None);
        }
        let max = text.iter().map(|t| t.len()).max().unwrap_or(0);
        let pads = if max <= TailPad::MAX {
            text.iter()
                .map(|t| {
                    let mut pad = TailPad([0; 32]);
                    pad.0[..t.len()].copy_from_slice(t.as_bytes());
                    pad.0[TailPad::MAX] = t.len() as u8;
                    pad
                })
                .collect()
        } else {
            Box::default()
        };
        LeTails(Some(Box::new(Tails { text, pads, max })))
    }

    /// How many tails (bucket cells, `+Inf` included).
    pub(crate) fn len(&self) -> usize {
        self.text().len()
    }

    fn text(&self) -> &[Box<str>] {
        self.0.as_ref().map_or(&[], |t| &t.text)
    }

    fn pads(&self) -> &[TailPad] {
        self.0.as_ref().map_or(&[], |t| &t.pads)
    }
}

/// A tail of at most [`TailPad::MAX`] bytes, zero-padded, with its length
/// in the last byte.
#[derive(Debug)]
#[repr(align(32))]
struct TailPad([u8; 32]);

impl TailPad {
    const MAX: usize = 31;
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
            tail_max: tails.0.as_ref().map_or(0, |t| t.max),
        }
    }
}

impl Pen {
    /// Appends a one-line sample: `name`, the label text, a space, what
    /// `value` writes, a newline.
    #[inline(always)]
    fn sample(&mut self, name: &[u8], labels: &[u8], value: impl FnOnce(&mut Self)) {
        self.put(name);
        self.put(labels);
        self.byte(b' ');
        value(self);
        self.byte(b'\n');
    }
}

#[cfg(debug_assertions)]
#[cold]
#[inline(never)]
fn short_line() -> ! {
    panic!("telemeter: an encoder line reserved too few bytes (a bug in telemeter)")
}

/// Writes `v` at `d` as [`crate::encode::text::write_f64`] does and
/// returns how many bytes.
///
/// # Safety
///
/// `d` is writable for 24 bytes.
#[inline(always)]
unsafe fn write_any_f64_at(v: f64, d: *mut u8) -> usize {
    // SAFETY: every arm writes at most 24 bytes from `d`.
    unsafe {
        match f64_form(v) {
            F64Form::Literal(s) => {
                std::ptr::copy_nonoverlapping(s.as_ptr(), d, s.len());
                s.len()
            }
            F64Form::Int(i) => {
                let neg = usize::from(i < 0);
                *d = b'-';
                neg + write_u64_at(i.unsigned_abs(), d.add(neg))
            }
            F64Form::Shortest => write_f64_at(v, d),
        }
    }
}

impl Drop for Cursor<'_> {
    fn drop(&mut self) {
        if self.streaming {
            self.drain(true);
        } else {
            self.commit();
        }
    }
}

/// Copies `len` bytes (a multiple of 64) from `s` to `d`, which is 64-byte
/// aligned, with non-temporal stores.
///
/// # Safety
///
/// `s` is readable and `d` writable for `len` bytes, not overlapping, and
/// `d` is 16-byte aligned (64 for the stores to fill whole lines).
#[inline]
unsafe fn stream_lines(s: *const u8, d: *mut u8, len: usize) {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    {
        use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_stream_si128};
        debug_assert!(len % 16 == 0 && (len == 0 || d as usize % 16 == 0));
        let mut i = 0;
        while i < len {
            // SAFETY: `i + 16 <= len`; `d + i` is 16-byte aligned; SSE2 is
            // part of x86-64.
            unsafe {
                let v = _mm_loadu_si128(s.add(i).cast::<__m128i>());
                _mm_stream_si128(d.add(i).cast::<__m128i>(), v);
            }
            i += 16;
        }
    }
    #[cfg(not(all(target_arch = "x86_64", not(miri))))]
    // SAFETY: as the caller guarantees.
    unsafe {
        std::ptr::copy_nonoverlapping(s, d, len)
    };
}

/// Orders the non-temporal stores before later stores (a release store
/// does not order them on x86-64).
#[inline]
fn store_fence() {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    // SAFETY: SSE is part of x86-64.
    unsafe {
        std::arch::x86_64::_mm_sfence()
    };
}

/// Writes `v` in decimal at `d` and returns how many bytes.
///
/// # Safety
///
/// `d` is writable for 20 bytes.
#[inline(always)]
pub(super) unsafe fn write_u64_at(mut v: u64, d: *mut u8) -> usize {
    let n = digits(v);
    // SAFETY: `n <= 20`; the writes cover exactly `d[..n]`, each once, from
    // the back (two digits per pair, one for a last odd digit).
    unsafe {
        let mut i = n;
        while v > u64::from(u32::MAX) {
            let r = (v % 100) as usize * 2;
            v /= 100;
            i -= 2;
            std::ptr::copy_nonoverlapping(PAIRS.as_ptr().add(r), d.add(i), 2);
        }
        // Below 2^32 a division by 100 is one multiply by a 32-bit
        // reciprocal, not a 128-bit product.
        let mut w = v as u32;
        while w >= 100 {
            let r = (w % 100) as usize * 2;
            w /= 100;
            i -= 2;
            std::ptr::copy_nonoverlapping(PAIRS.as_ptr().add(r), d.add(i), 2);
        }
        let v = w;
        if v >= 10 {
            i -= 2;
            std::ptr::copy_nonoverlapping(PAIRS.as_ptr().add(v as usize * 2), d.add(i), 2);
        } else {
            i -= 1;
            *d.add(i) = b'0' + v as u8;
        }
        debug_assert_eq!(i, 0);
    }
    n
}

/// `"00"`, `"01"`, ... `"99"`.
const PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// The number of decimal digits of `v` (1 for 0).
#[inline(always)]
fn digits(v: u64) -> usize {
    const POW10: [u64; 20] = {
        let mut p = [1u64; 20];
        let mut i = 1;
        while i < 20 {
            p[i] = p[i - 1] * 10;
            i += 1;
        }
        p
    };
    // floor(log10(2) * bits) is the digit count or one less.
    let bits = 64 - (v | 1).leading_zeros() as usize;
    let t = (bits * 1233) >> 12;
    // 0 is one digit: `0 >= POW10[0]` is false.
    (t + usize::from(v >= POW10[t])).max(1)
}

/// Stores the digit values of a [`digits8`] word (the shifted-out bytes
/// as zero digits) as ASCII.
///
/// # Safety
///
/// `d` is writable for 8 bytes.
#[inline(always)]
unsafe fn store8(d: *mut u8, raw: u64) {
    // SAFETY: as the caller guarantees.
    unsafe { (d as *mut [u8; 8]).write_unaligned((raw | 0x3030_3030_3030_3030).to_le_bytes()) };
}

/// Appends `v` as its [`Value::write`] spells it: an integer in decimal, a
/// float as [`crate::encode::text::write_f64`] does.
#[inline]
pub(crate) fn put_value<V: Value>(out: &mut Vec<u8>, v: V) {
    out.reserve(V::ROOM);
    let len = out.len();
    // SAFETY: `V::ROOM` writable bytes follow `len`, and `write` takes at
    // most that many (`Value`'s contract); `set_len` exposes exactly the
    // bytes it wrote.
    unsafe {
        let start = out.as_mut_ptr().add(len);
        let mut pen = Pen::new(start, V::ROOM);
        v.write(&mut pen);
        out.set_len(len + pen.p.offset_from(start) as usize);
    }
}

/// Writes a finite `v` at `d`, byte for byte as ryu's shortest round-trip
/// formatter does, and returns how many bytes.
///
/// Values with few decimals (`0.25`, `12.203`, a CPU time in hundredths)
/// are common in scrapes and take a fixed-point path that costs a multiply,
/// a division and a few word operations, against ~100 cycles for ryu: for
/// `1e-5 <= |v| < 2^22` it takes `m`, the integer nearest `|v| * 10^9`,
/// and keeps it when `m / 10^9` (one correctly rounded division of two
/// exact doubles) is `|v|` again. Then:
///
/// - the decimal `m * 10^-9` parses back to `v`: a correct parser returns
///   the double nearest that exact decimal, as the division did;
/// - it is the only decimal with at most 9 fractional digits that does:
///   below `2^22` an ulp is at most `2^-31`, so the interval of reals that
///   round to `v` is narrower than `10^-9` and holds at most one multiple
///   of it;
/// - so `m` without its trailing zeros is the shortest such decimal, and
///   ryu's choice too. ryu spells every value in this range in fixed point
///   (`0.00001` to `4194303.5`), as the path does.
///
/// Anything else (more digits, out of range, integral) goes to ryu. The
/// `floats_match_ryu` tests compare both on millions of values.
///
/// # Safety
///
/// `d` is writable for 24 bytes, and `v` is finite.
#[inline(always)]
pub(super) unsafe fn write_f64_at(v: f64, d: *mut u8) -> usize {
    let a = v.abs();
    if (1e-5..4_194_304.0).contains(&a) {
        // `a * 1e9 < 2^53`: `m` and its conversion back are exact. A
        // rounding error in the multiply only costs the fast path: the
        // check below accepts nothing but the one decimal that round-trips.
        let m = (a * 1e9 + 0.5) as u64;
        let frac = (m % 1_000_000_000) as u32;
        if frac != 0 && m as f64 / 1e9 == a {
            // SAFETY: the caller's 24 bytes hold the at most 18 written.
            return unsafe { write_fixed9(v < 0.0, m / 1_000_000_000, frac, d) };
        }
    }
    // SAFETY: ryu's raw formatter writes at most 24 bytes for a finite
    // `f64` (the size of `ryu::Buffer`) and returns how many.
    unsafe { ryu::raw::format64(v, d) }
}

/// Writes `-`(if `neg`), `int`, `.` and the 9 digits of `frac` (which is
/// not 0) without their trailing zeros; returns how many bytes.
///
/// # Safety
///
/// `int < 10^7`, and `d` is writable for 18 bytes (the last word is stored
/// whole, trailing zeros included, and then not counted).
#[inline(always)]
unsafe fn write_fixed9(neg: bool, int: u64, frac: u32, d: *mut u8) -> usize {
    debug_assert!(frac != 0 && frac < 1_000_000_000 && int < 10_000_000);
    // SAFETY: at most 1 + 7 + 1 + 1 + 8 = 18 bytes from `d`.
    unsafe {
        // The sign byte is written always and overwritten by the integer
        // part when `v` is positive.
        let mut n = usize::from(neg);
        *d = b'-';
        n += write_u64_at(int, d.add(n));
        *d.add(n) = b'.';
        *d.add(n + 1) = b'0' + (frac / 100_000_000) as u8;
        let raw = digits8(frac % 100_000_000);
        store8(d.add(n + 2), raw);
        // The last digits are the word's high bytes: its leading zero
        // bytes are the trailing zero digits (all 8 when `raw` is 0, and
        // then the first fractional digit is not 0, as `frac != 0`).
        n + 2 + 8 - (raw.leading_zeros() / 8) as usize
    }
}

/// The 8 decimal digits of `v < 10^8` (with leading zeros) as the bytes of
/// a little-endian word, the first digit lowest, each byte a value 0..=9:
/// two 4-digit halves in 32-bit lanes, split into 2-digit quarters in
/// 16-bit lanes, then into digits, dividing every lane at once by a
/// multiply and a shift.
#[inline(always)]
fn digits8(v: u32) -> u64 {
    debug_assert!(v < 100_000_000);
    let x = u64::from(v / 10_000) | (u64::from(v % 10_000) << 32);
    // `y * 10486 >> 20 == y / 100` for `y < 10^4`; no lane overflows.
    let hundreds = ((x * 10_486) >> 20) & 0x0000_007F_0000_007F;
    let x = hundreds | ((x - 100 * hundreds) << 16);
    // `y * 103 >> 10 == y / 10` for `y < 100`.
    let tens = ((x * 103) >> 10) & 0x000F_000F_000F_000F;
    tens | ((x - 10 * tens) << 8)
}

/// # Safety
/// `s` readable and `d` writable for 16 bytes.
#[inline(always)]
pub(super) unsafe fn copy16(s: *const u8, d: *mut u8) {
    // SAFETY: as the caller guarantees.
    unsafe { (d as *mut [u8; 16]).write_unaligned((s as *const [u8; 16]).read_unaligned()) }
}

/// # Safety
/// `s` readable and `d` writable for 8 bytes.
#[inline(always)]
unsafe fn copy8(s: *const u8, d: *mut u8) {
    // SAFETY: as the caller guarantees.
    unsafe { (d as *mut u64).write_unaligned((s as *const u64).read_unaligned()) }
}

/// # Safety
/// `s` readable and `d` writable for 4 bytes.
#[inline(always)]
unsafe fn copy4(s: *const u8, d: *mut u8) {
    // SAFETY: as the caller guarantees.
    unsafe { (d as *mut u32).write_unaligned((s as *const u32).read_unaligned()) }
}

#[cfg(test)]
mod tests {
    use super::{put, put_value};

    /// `v` through the shortest round-trip writer alone (the spelling
    /// `write_f64` uses for floats that are not integers).
    fn put_f64_finite(out: &mut Vec<u8>, v: f64) {
        out.reserve(24);
        let len = out.len();
        // SAFETY: 24 writable bytes follow `len`, and `set_len` exposes
        // those written.
        unsafe {
            let n = super::write_f64_at(v, out.as_mut_ptr().add(len));
            out.set_len(len + n);
        }
    }

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
            cumulative += b;
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
            for streaming in [false, true] {
                let mut out = b"pre".to_vec();
                out.shrink_to_fit();
                let mut stage = super::Stage::new();
                {
                    let mut w = if streaming {
                        super::Cursor::streaming(&mut out, &mut stage)
                    } else {
                        super::Cursor::new(&mut out, 0)
                    };
                    w.histogram_series(names, labels.as_bytes(), &buckets, sum);
                }
                assert_eq!(
                    String::from_utf8_lossy(&out),
                    String::from_utf8_lossy(&expect),
                    "labels {labels}, streaming {streaming}"
                );
            }
        }
    }

    #[test]
    fn a_streaming_cursor_writes_what_a_plain_one_does() {
        // Pieces of every length up to past the stage, after prefixes that
        // put the buffer's end at every offset within a cache line, so the
        // drains hit every head/line/remainder split, and the longest
        // pieces switch the cursor to direct writes mid-way.
        let pieces: Vec<Vec<u8>> = [0usize, 1, 15, 16, 17, 63, 64, 65, 200, 700]
            .iter()
            .chain(&[
                super::STAGE - 30,
                super::STAGE,
                super::STAGE + 1,
                3 * super::STAGE,
            ])
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
                let mut stage = super::Stage::new();
                {
                    let mut w = super::Cursor::streaming(&mut out, &mut stage);
                    let mut e = super::Cursor::new(&mut expect, 0);
                    for round in 0..rounds as u64 {
                        for p in &pieces[..take] {
                            w.sample(p, b"{}", round * 1_000_003);
                            e.sample(p, b"{}", round * 1_000_003);
                            w.sample(b"f", p, round as f64 / 7.0);
                            e.sample(b"f", p, round as f64 / 7.0);
                            w.sample(b"", p, -(round as i64));
                            e.sample(b"", p, -(round as i64));
                        }
                        // A call per round, whose lines drain the stage
                        // between them.
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
    fn an_empty_streaming_cursor_leaves_the_buffer_as_it_was() {
        let mut out = b"kept".to_vec();
        let mut stage = super::Stage::new();
        drop(super::Cursor::streaming(&mut out, &mut stage));
        assert_eq!(out, b"kept");
    }

    #[test]
    fn floats_match_ryu() {
        for v in [
            0.1,
            1e-300,
            1.7976931348623157e308,
            3.2030000000000003,
            -2.5e-7,
            5e-324,
        ] {
            let mut out = Vec::new();
            put_f64_finite(&mut out, v);
            assert_eq!(out, ryu::Buffer::new().format_finite(v).as_bytes());
        }
    }

    fn assert_ryu(v: f64) {
        let mut out = Vec::new();
        put_f64_finite(&mut out, v);
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            ryu::Buffer::new().format_finite(v),
            "{v:e} ({:#x})",
            v.to_bits()
        );
    }

    /// A xorshift generator: deterministic, so a failure reproduces.
    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn floats_with_few_decimals_match_ryu() {
        // The fixed-point path's range, its edges and the values it must
        // hand to ryu (too many digits, out of range).
        let edges = [
            1e-5,
            1e-5 + 1e-20,
            9.999999999999999e-6,
            4_194_303.5,
            4_194_303.999_999_999_5,
            4_194_304.0 - 1.0 / 1024.0,
            4_194_304.5,
            0.1 + 0.2,
            0.000_000_001,
            123.456_789_012,
            0.999_999_999,
            0.999_999_999_5,
            1.000_000_001,
            2.5,
            12.203,
        ];
        for v in edges {
            assert_ryu(v);
            assert_ryu(-v);
        }
        // Decimals with 1 to 10 fractional digits over the whole range,
        // each parsed from its text (the double nearest it) and also
        // computed by a division, and their neighbours one ulp away.
        let mut state = 0x2545_f491_4f6c_dd1d;
        let rounds = if cfg!(miri) { 20 } else { 40_000 };
        for _ in 0..rounds {
            let r = xorshift(&mut state);
            let places = (r % 11) as i32;
            let int = (r >> 8) % [1u64, 10, 1000, 4_194_304][(r >> 4) as usize % 4];
            let frac = (r >> 32) % 10u64.pow(places as u32);
            let text = format!("{int}.{frac:0width$}", width = places as usize);
            for v in [
                text.parse::<f64>().unwrap(),
                (int as f64 * 10f64.powi(places) + frac as f64) / 10f64.powi(places),
            ] {
                for w in [
                    v,
                    f64::from_bits(v.to_bits() + 1),
                    f64::from_bits(v.to_bits().max(1) - 1),
                ] {
                    assert_ryu(w);
                    assert_ryu(-w);
                }
            }
        }
        // Arbitrary finite doubles.
        for _ in 0..rounds {
            let v = f64::from_bits(xorshift(&mut state));
            if v.is_finite() {
                assert_ryu(v);
            }
        }
    }

    #[test]
    fn eight_digits_at_once() {
        let check = |v: u32| {
            let raw = super::digits8(v);
            let text = format!("{v:08}");
            let got: Vec<u8> = raw.to_le_bytes().iter().map(|d| b'0' + d).collect();
            assert_eq!(got, text.as_bytes(), "{v}");
        };
        let (step, small) = if cfg!(miri) { (9_999_991, 997) } else { (7, 1) };
        (0..100_000_000).step_by(step).for_each(check);
        (0..10_000).step_by(small).for_each(|v| {
            check(v);
            check(v * 10_000);
            check(99_999_999 - v);
        });
    }

    #[test]
    fn every_length_is_copied_exactly_after_any_prefix() {
        let src: Vec<u8> = (0..100u8)
            .map(|b| b.wrapping_mul(37).wrapping_add(1))
            .collect();
        for prefix in [0usize, 1, 7, 63] {
            for n in 0..=src.len() {
                let mut out = vec![0xAA; prefix];
                out.shrink_to_fit();
                put(&mut out, &src[..n]);
                put(&mut out, &src[src.len() - n..]);
                assert_eq!(out.len(), prefix + 2 * n);
                assert!(out[..prefix].iter().all(|&b| b == 0xAA));
                assert_eq!(&out[prefix..prefix + n], &src[..n], "n {n}");
                assert_eq!(&out[prefix + n..], &src[src.len() - n..], "n {n}");
            }
        }
    }
}
