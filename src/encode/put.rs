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
//! Numbers are formatted straight into the buffer ([`put_u64`],
//! [`put_f64_finite`]) rather than into a stack buffer and copied: the
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

/// Appends to a `Vec` through a pointer and a count kept in registers: the
/// pieces of a sample line each cost a room check and the move, with no
/// length store per piece. The length is committed when the cursor drops.
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
const STAGE: usize = 8192;

/// A streaming [`Cursor`]'s staging buffer: 8 KiB, meant to live on the
/// encoding thread's stack.
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

    /// Makes room for `k` more bytes.
    #[inline(always)]
    fn room_for(&mut self, k: usize) {
        if self.room - self.n < k {
            self.grow(k);
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

    /// Appends `src`.
    #[inline(always)]
    pub(crate) fn put(&mut self, src: &[u8]) {
        let k = src.len();
        self.room_for(k);
        // SAFETY: `room_for` left `k` writable bytes at `at + n`, inside
        // `out`'s allocation and past its length, so not overlapping `src`
        // (borrowed shared while `out` is borrowed by this cursor).
        unsafe {
            let d = self.at.add(self.n);
            if k <= 64 {
                copy_short(src, d);
            } else {
                std::ptr::copy_nonoverlapping(src.as_ptr(), d, k);
            }
        }
        self.n += k;
    }

    /// Appends one byte.
    #[inline(always)]
    pub(crate) fn byte(&mut self, b: u8) {
        self.room_for(1);
        // SAFETY: as in `put`, for one byte.
        unsafe { *self.at.add(self.n) = b };
        self.n += 1;
    }

    /// Appends `v` in decimal.
    #[inline(always)]
    pub(crate) fn u64(&mut self, v: u64) {
        self.room_for(20);
        // SAFETY: `room_for(20)` left room for any `u64`.
        let k = unsafe { write_u64_at(v, self.at.add(self.n)) };
        self.n += k;
    }

    /// Appends `v` in decimal.
    #[inline(always)]
    pub(crate) fn i64(&mut self, v: i64) {
        if v < 0 {
            self.byte(b'-');
        }
        self.u64(v.unsigned_abs());
    }

    /// Appends `v` as [`crate::encode::text::write_f64`] does.
    #[inline]
    pub(crate) fn f64(&mut self, v: f64) {
        match f64_form(v) {
            F64Form::Literal(s) => self.put(s.as_bytes()),
            F64Form::Int(i) => {
                if i < 0 {
                    self.byte(b'-');
                }
                self.u64(i.unsigned_abs());
            }
            F64Form::Shortest => {
                self.room_for(24);
                // SAFETY: ryu writes at most 24 bytes for a finite `f64`
                // (`Shortest` is never NaN or infinite).
                let k = unsafe { ryu::raw::format64(v, self.at.add(self.n)) };
                self.n += k;
            }
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
unsafe fn write_u64_at(mut v: u64, d: *mut u8) -> usize {
    let n = digits(v);
    // SAFETY: `n <= 20`; the writes cover exactly `d[..n]`, each once, from
    // the back (two digits per pair, one for a last odd digit).
    unsafe {
        let mut i = n;
        while v >= 100 {
            let r = (v % 100) as usize * 2;
            v /= 100;
            i -= 2;
            std::ptr::copy_nonoverlapping(PAIRS.as_ptr().add(r), d.add(i), 2);
        }
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

/// Appends `v` in decimal.
#[inline]
pub(crate) fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.reserve(20);
    let len = out.len();
    // SAFETY: 20 writable bytes follow `len`; `set_len` exposes the ones
    // written.
    unsafe {
        let n = write_u64_at(v, out.as_mut_ptr().add(len));
        out.set_len(len + n);
    }
}

/// Appends `v` in decimal.
#[inline]
pub(crate) fn put_i64(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    put_u64(out, v.unsigned_abs());
}

/// Appends a finite `v`, shortest round-trip (`ryu`).
#[inline]
pub(crate) fn put_f64_finite(out: &mut Vec<u8>, v: f64) {
    debug_assert!(v.is_finite());
    out.reserve(24);
    let len = out.len();
    // SAFETY: ryu's raw formatter writes at most 24 bytes for a finite
    // `f64` (the size of `ryu::Buffer`) and returns how many; 24 bytes of
    // capacity follow `len`, and `set_len` exposes exactly those written.
    unsafe {
        let n = ryu::raw::format64(v, out.as_mut_ptr().add(len));
        out.set_len(len + n);
    }
}

/// # Safety
/// `s` readable and `d` writable for 16 bytes.
#[inline(always)]
unsafe fn copy16(s: *const u8, d: *mut u8) {
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
    use super::{put, put_f64_finite, put_i64, put_u64};

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
        ];
        let mut p = 1u64;
        while let Some(q) = p.checked_mul(10) {
            vals.extend([p - 1, p, p + 1, q - 1]);
            p = q;
        }
        for v in vals {
            let mut out = b"x".to_vec();
            put_u64(&mut out, v);
            assert_eq!(out, format!("x{v}").into_bytes());
        }
        for v in [0i64, -1, 1, -10, i64::MIN, i64::MAX, -1234567] {
            let mut out = Vec::new();
            put_i64(&mut out, v);
            assert_eq!(out, v.to_string().into_bytes());
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
            // No room reserved: every kind of write has to grow the buffer.
            let mut w = super::Cursor::new(&mut out, 0);
            for (i, p) in pieces.iter().enumerate() {
                w.put(p);
                put(&mut expect, p);
                w.byte(b'|');
                expect.push(b'|');
                let v = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (i % 64);
                w.u64(v);
                put_u64(&mut expect, v);
                let f = floats[i % floats.len()];
                w.f64(f);
                crate::encode::text::write_f64(&mut expect, f);
            }
        }
        assert_eq!(out, expect);
    }

    #[test]
    fn a_streaming_cursor_writes_what_a_plain_one_does() {
        // Pieces of every length up to past the stage, after prefixes that
        // put the buffer's end at every offset within a cache line, so the
        // drains hit every head/line/remainder split, and the longest
        // pieces switch the cursor to direct writes mid-way.
        let pieces: Vec<Vec<u8>> = [0usize, 1, 15, 16, 17, 63, 64, 65, 200, 4000]
            .iter()
            .chain(&[
                super::STAGE - 1,
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
                    for round in 0..rounds {
                        for p in &pieces[..take] {
                            w.put(p);
                            e.put(p);
                            w.u64(round * 1_000_003);
                            e.u64(round * 1_000_003);
                            w.byte(b'\n');
                            e.byte(b'\n');
                            w.f64(round as f64 / 7.0);
                            e.f64(round as f64 / 7.0);
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
