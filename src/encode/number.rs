//! Numbers as the exposition spells them, written straight into reserved
//! room: integers two digits at a time, floats through a fixed-point path
//! for values with few decimals and `ryu` for the rest. A leaf: it knows
//! nothing of lines or buffers.
//!
//! Digits are written in place rather than formatted on the stack and
//! copied: the formatters store digits two bytes at a time, and reading
//! them back at once with a wider load cannot be forwarded from those
//! stores, which stalled every sample line for the stores to drain.

/// How Prometheus spells a float, decided once for every writer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum F64Form {
    /// `NaN`, `+Inf`, `-Inf` or `-0`.
    Literal(&'static str),
    /// An exact integer below 1e15 (the common case for sums of integer
    /// values), written without `.0`.
    Int(i64),
    /// Anything else: shortest round-trip digits (`ryu`).
    Shortest,
}

/// The spelling of `v` (see [`F64Form`]).
#[inline]
pub(crate) fn f64_form(v: f64) -> F64Form {
    if v.is_nan() {
        F64Form::Literal("NaN")
    } else if v.is_infinite() {
        F64Form::Literal(if v > 0.0 { "+Inf" } else { "-Inf" })
    } else if v.abs() < 1e15 && (v as i64) as f64 == v {
        // (Truncating to an integer and back is exact below 1e15 and
        // equals `v` just when `v` is integral; unlike `f64::trunc`, which
        // is a libm call on x86-64 without SSE4.1, it is two instructions.)
        if v == 0.0 && v.is_sign_negative() {
            F64Form::Literal("-0")
        } else {
            F64Form::Int(v as i64)
        }
    } else {
        F64Form::Shortest
    }
}

/// Writes `v` at `d` as the text encoder does and
/// returns how many bytes.
///
/// # Safety
///
/// `d` is writable for 24 bytes.
#[inline(always)]
pub(crate) unsafe fn write_any_f64_at(v: f64, d: *mut u8) -> usize {
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

/// Writes `v` in decimal at `d` and returns how many bytes.
///
/// # Safety
///
/// `d` is writable for 20 bytes.
#[inline(always)]
pub(crate) unsafe fn write_u64_at(mut v: u64, d: *mut u8) -> usize {
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
pub(crate) unsafe fn write_f64_at(v: f64, d: *mut u8) -> usize {
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

#[cfg(test)]
mod tests {
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
        // Under Miri or memcheck (`.ci/run` sets TELEMETER_MEMCHECK) a
        // sparse sweep: those runs check memory accesses, not spellings.
        let sparse = cfg!(miri) || std::env::var_os("TELEMETER_MEMCHECK").is_some();
        let (step, small) = if sparse { (9_999_991, 997) } else { (7, 1) };
        (0..100_000_000).step_by(step).for_each(check);
        (0..10_000).step_by(small).for_each(|v| {
            check(v);
            check(v * 10_000);
            check(99_999_999 - v);
        });
    }
}
