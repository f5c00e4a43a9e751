//! The output cursor: appends to the scrape buffer through a [`Pen`]
//! (plain stores), or stages lines in a small buffer and moves them out with
//! non-temporal stores (a streaming cursor, for bodies larger than the
//! cache).

use std::marker::PhantomData;
use std::mem::MaybeUninit;

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
/// memory traffic; a body that stays in the cache is faster with plain
/// stores. So the registry streams only bodies it expects to be large
/// (see `collect.rs`; the figures are in docs/BENCHMARKS.md, "Retired or
/// kept").
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
/// formatting, so a small stage (1 KiB) did no worse than a large one on
/// the 1M-series encode. A line longer than the stage is written
/// directly, and so is the rest of its family.
pub(super) const STAGE: usize = 1024;

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
    pub(super) fn open(&self) -> (*mut u8, *mut u8) {
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
    pub(super) unsafe fn reserve(
        &mut self,
        p: *mut u8,
        end: *mut u8,
        k: usize,
    ) -> (*mut u8, *mut u8) {
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
    pub(super) unsafe fn close(&mut self, p: *mut u8) {
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
