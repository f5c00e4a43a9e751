//! The pen: a write pointer into room a line has reserved, kept in a
//! register while the line's pieces are written with no room check of
//! their own; and the fixed-size pieces it stores whole.

use super::copy::{copy16, copy_short};
use super::number::{write_any_f64_at, write_u64_at};

/// A write pointer into reserved room, which a loop keeps in a register:
/// its pieces (`put`, `u64`, ...) write with no room check of their own.
pub(crate) struct Pen {
    pub(super) p: *mut u8,
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
    pub(crate) unsafe fn new(p: *mut u8, k: usize) -> Pen {
        let _ = k;
        Pen {
            p,
            #[cfg(debug_assertions)]
            end: p.wrapping_add(k),
        }
    }

    /// Debug builds: checks that `k` more bytes fit the reservation.
    #[inline(always)]
    pub(super) fn fits(&self, k: usize) {
        #[cfg(debug_assertions)]
        if (self.end as usize) - (self.p as usize) < k {
            short_line();
        }
        let _ = k;
    }

    /// Appends `src`.
    #[inline(always)]
    pub(super) fn put(&mut self, src: &[u8]) {
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
    pub(super) fn put_padded(&mut self, src: &Padded, len: usize) {
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
    pub(super) fn put_tail(&mut self, tail: &TailPad) {
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
    pub(super) fn byte(&mut self, b: u8) {
        self.fits(1);
        // SAFETY: as in `put`, for one byte.
        unsafe {
            *self.p = b;
            self.p = self.p.add(1);
        }
    }

    /// Appends `v` in decimal (20 bytes of the reservation).
    #[inline(always)]
    pub(super) fn u64(&mut self, v: u64) {
        self.fits(20);
        // SAFETY: the reservation's contract leaves room for any `u64`.
        unsafe { self.p = self.p.add(write_u64_at(v, self.p)) };
    }

    /// Appends `v` in decimal, with a `-` when negative (21 bytes of the
    /// reservation).
    #[inline(always)]
    pub(super) fn i64(&mut self, v: i64) {
        if v < 0 {
            self.byte(b'-');
        }
        self.u64(v.unsigned_abs());
    }

    /// Appends `v` as the text encoder does (24 bytes of
    /// the reservation).
    #[inline(always)]
    pub(super) fn f64(&mut self, v: f64) {
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

impl Pen {
    /// Appends a one-line sample: `name`, the label text, a space, what
    /// `value` writes, a newline.
    #[inline(always)]
    pub(super) fn sample(&mut self, name: &[u8], labels: &[u8], value: impl FnOnce(&mut Self)) {
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

/// 64 bytes on a 16-byte boundary, for [`Pen::put_padded`].
#[repr(align(16))]
pub(super) struct Padded(pub(super) [u8; 64]);

/// A tail of at most [`TailPad::MAX`] bytes, zero-padded, with its length
/// in the last byte.
#[derive(Debug)]
#[repr(align(32))]
pub(super) struct TailPad(pub(super) [u8; 32]);

impl TailPad {
    pub(super) const MAX: usize = 31;
}

/// Appends `v` as its [`Value::write`] spells it: an integer in decimal, a
/// float as the text encoder does.
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
