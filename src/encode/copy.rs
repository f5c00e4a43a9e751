//! Appending short byte strings without a call.
//!
//! A sample line is a few short pieces: the sample name, the series' label
//! text, a bucket's `le` tail, the number, a newline. `Vec::extend_from_slice`
//! copies each with a call to `memcpy`, whose call, length dispatch and
//! return cost more than the copy itself for pieces of 3 to 60 bytes (see
//! docs/BENCHMARKS.md, the encode group). [`put`] copies a piece of up to
//! 64 bytes with at most four overlapping 16-byte moves (or two 8- or
//! 4-byte ones), inline, and hands longer ones to `memcpy`.

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
pub(super) unsafe fn copy_short(src: &[u8], d: *mut u8) {
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

/// # Safety
/// `s` readable and `d` writable for 16 bytes.
#[inline(always)]
pub(crate) unsafe fn copy16(s: *const u8, d: *mut u8) {
    // SAFETY: as the caller guarantees.
    unsafe { (d as *mut [u8; 16]).write_unaligned((s as *const [u8; 16]).read_unaligned()) }
}

/// # Safety
/// `s` readable and `d` writable for 8 bytes.
#[inline(always)]
pub(super) unsafe fn copy8(s: *const u8, d: *mut u8) {
    // SAFETY: as the caller guarantees.
    unsafe { (d as *mut u64).write_unaligned((s as *const u64).read_unaligned()) }
}

/// # Safety
/// `s` readable and `d` writable for 4 bytes.
#[inline(always)]
pub(super) unsafe fn copy4(s: *const u8, d: *mut u8) {
    // SAFETY: as the caller guarantees.
    unsafe { (d as *mut u32).write_unaligned((s as *const u32).read_unaligned()) }
}

#[cfg(test)]
mod tests {
    use super::put;

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
