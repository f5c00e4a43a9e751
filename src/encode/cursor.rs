//! The output cursor: appends to the scrape buffer through a [`Pen`].

/// Appends sample lines to a `Vec`: [`samples`](Cursor::samples) writes
/// a line per series,
/// [`histograms`](Cursor::histograms) every line of each histogram
/// series. Each checks the room once per line (or once for a
/// histogram series) and then writes the pieces through a pointer held in
/// a register ([`Pen`]), with no room check or length store per piece.
/// (A check and a stored count per piece kept the cursor's state on the
/// stack, and each piece waited on the last one's store.)
///
/// Stores are plain: a cursor that staged lines and moved them out with
/// non-temporal stores (no read-for-ownership of bodies larger than the
/// cache) gained under 10 % on the 1M-series encode and was retired
/// (docs/BENCHMARKS.md, "Retired or kept").
pub(crate) struct Cursor<'a> {
    out: &'a mut Vec<u8>,
    /// `out`'s buffer at its length when the cursor (re)started.
    at: *mut u8,
    /// Bytes written at `at` so far.
    n: usize,
    /// Spare capacity at `at` when the cursor (re)started.
    room: usize,
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
        }
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self, k: usize) {
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
        self.commit();
    }
}
