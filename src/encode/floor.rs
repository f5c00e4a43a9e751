//! A floor for the encoder's benchmarks: what writing a body costs when
//! nothing is read but the body's own parts.
//!
//! [`FormatFloor`] holds a body taken apart: every line's text up to its
//! value (a `# HELP` or `# TYPE` line whole) in one padded arena, in body
//! order, and every value in a flat array, already summed, with the form
//! of its spelling (integer, shortest float, literal) decided once. Writing
//! the body back copies each line's text with whole 16-byte moves and
//! formats its value in place with the encoder's own integer and float
//! writers. It reads no shard, walks no family, takes no lock and
//! assembles no line from a name and a label text: whatever an encoder
//! spends beyond it goes to those. `benches/scrape_load.rs` runs it beside `Registry::encode` and
//! `memcpy` in the same criterion group.
//!
//! It is not part of the API (hidden, and free to change); it lives in the
//! crate so that it formats with exactly the code the encoder uses.

use std::fmt;

use super::copy::copy16;
use super::number::{f64_form, write_f64_at, write_u64_at, F64Form};
use super::text::{write_f64, write_u64};

/// A body taken apart into line texts and values (see the module docs).
#[doc(hidden)]
#[derive(Debug)]
pub struct FormatFloor {
    /// Every line's text, in order, then 16 bytes of padding, so that the
    /// last line's moves read inside the arena.
    arena: Vec<u8>,
    /// Per line: where its text starts in `arena`, its length, its value.
    lines: Vec<Line>,
    /// The most bytes `write` can take: per line its text rounded up to 16
    /// bytes (at least 16), 24 for the value and 1 for the newline.
    room: usize,
}

#[derive(Clone, Copy, Debug)]
struct Line {
    at: u32,
    len: u32,
    value: Spelling,
}

/// A value, in the form its spelling takes: the floor decides it once, at
/// construction, where the encoder decides it per line.
#[derive(Clone, Copy, Debug)]
enum Spelling {
    /// None to format: a `#` line, or a value spelled as a literal (`NaN`,
    /// `+Inf`, `-0`), which the text holds with the newline.
    None,
    /// An integer, or an integral float (after a `-` in the text when it
    /// is negative).
    Int(u64),
    /// A finite float that is not an integer: shortest round-trip digits.
    Float(f64),
}

/// Why a body cannot be taken apart for a [`FormatFloor`].
#[doc(hidden)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FloorError {
    /// The 1-based line.
    pub line: usize,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl fmt::Display for FloorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "format floor: line {}: {}; pass a body that Registry::encode wrote",
            self.line, self.reason
        )
    }
}

impl std::error::Error for FloorError {}

impl FormatFloor {
    /// Takes `body` apart. Every sample line must end in a value spelled as
    /// the encoder spells it (an integer, or a float in
    /// [`write_f64`]'s spelling), so that [`FormatFloor::write`] gives the
    /// same bytes back; the body must end with a newline.
    pub fn new(body: &[u8]) -> Result<FormatFloor, FloorError> {
        let mut arena = Vec::with_capacity(body.len() + 16);
        let mut lines = Vec::new();
        let mut room = 0;
        let mut rest = body;
        let mut respelled = Vec::with_capacity(24);
        let mut n = 0;
        while !rest.is_empty() {
            n += 1;
            let err = |reason| FloorError { line: n, reason };
            let end = rest
                .iter()
                .position(|&b| b == b'\n')
                .ok_or_else(|| err("the body does not end with a newline"))?;
            let (line, tail) = rest.split_at(end);
            rest = &tail[1..];
            // The line's text goes straight into the arena; its value, if
            // formatted at write time, into `lines`.
            let at = arena.len();
            let value = if line.first() == Some(&b'#') {
                arena.extend_from_slice(line);
                arena.push(b'\n');
                Spelling::None
            } else {
                let space = line
                    .iter()
                    .rposition(|&b| b == b' ')
                    .ok_or_else(|| err("a sample line without a space before its value"))?;
                arena.extend_from_slice(&line[..=space]);
                let spelled = &line[space + 1..];
                let text =
                    std::str::from_utf8(spelled).map_err(|_| err("a value that is not UTF-8"))?;
                // Each reading of the value counts only if the encoder's
                // own writer spells it back the same.
                let mut respells = |write: &dyn Fn(&mut Vec<u8>)| {
                    respelled.clear();
                    write(&mut respelled);
                    respelled == spelled
                };
                match text.parse::<u64>() {
                    Ok(v) if respells(&|out| write_u64(out, v)) => Spelling::Int(v),
                    _ => {
                        let v: f64 = text
                            .parse()
                            .map_err(|_| err("a value that is not a number"))?;
                        if !respells(&|out| write_f64(out, v)) {
                            return Err(err("a value not spelled as the encoder spells it"));
                        }
                        match f64_form(v) {
                            F64Form::Literal(s) => {
                                arena.extend_from_slice(s.as_bytes());
                                arena.push(b'\n');
                                Spelling::None
                            }
                            F64Form::Int(i) => {
                                if i < 0 {
                                    arena.push(b'-');
                                }
                                Spelling::Int(i.unsigned_abs())
                            }
                            F64Form::Shortest => Spelling::Float(v),
                        }
                    }
                }
            };
            let text = arena.len() - at;
            let len = u32::try_from(text).map_err(|_| err("a line over 4 GiB"))?;
            let at = u32::try_from(at).map_err(|_| err("a body over 4 GiB"))?;
            room += text.div_ceil(16).max(1) * 16 + 25;
            lines.push(Line { at, len, value });
        }
        arena.extend_from_slice(&[0; 16]);
        Ok(FormatFloor { arena, lines, room })
    }

    /// Appends the body to `out`.
    #[inline(never)]
    pub fn write(&self, out: &mut Vec<u8>) {
        out.reserve(self.room);
        let start = out.len();
        let arena = self.arena.as_ptr();
        // SAFETY: `room` writable bytes follow `start`, and each line takes
        // at most its text rounded up to 16 bytes (at least one move), 24
        // for the value (`write_u64_at` takes 20; `write_f64_at` 24, for
        // the finite values `Spelling::Float` holds) and 1 for the newline,
        // which `room` sums. Each line's moves read the 16-byte blocks
        // from `at` that its `len` bytes touch (one if `len` is 0), inside
        // the arena: its 16 bytes of padding follow the last line.
        // `set_len` exposes exactly the bytes written.
        unsafe {
            let base = out.as_mut_ptr().add(start);
            let mut p = base;
            for line in &self.lines {
                let (s, len) = (arena.add(line.at as usize), line.len as usize);
                let mut i = 0;
                loop {
                    copy16(s.add(i), p.add(i));
                    i += 16;
                    if i >= len {
                        break;
                    }
                }
                p = p.add(len);
                // The newline in each arm, not once after a `continue` for
                // `None`: that shape made the floor slower, and a floor
                // must not be slower than it needs to be.
                match line.value {
                    Spelling::None => {}
                    Spelling::Int(v) => {
                        p = p.add(write_u64_at(v, p));
                        *p = b'\n';
                        p = p.add(1);
                    }
                    Spelling::Float(v) => {
                        p = p.add(write_f64_at(v, p));
                        *p = b'\n';
                        p = p.add(1);
                    }
                }
            }
            out.set_len(start + p.offset_from(base) as usize);
        }
    }

    /// Lines in the body.
    pub fn lines(&self) -> usize {
        self.lines.len()
    }
}

#[cfg(all(test, not(telemeter_loom)))]
mod tests {
    use super::FormatFloor;
    use crate::{Buckets, Opts, Registry};

    #[test]
    fn writes_back_the_body_it_took_apart() {
        let reg = Registry::new();
        let c = reg
            .counter_family(Opts::new("a_total", "A.").labels(&["k"]))
            .unwrap();
        c.with_label_values(&["x\"y"]).unwrap().add(12_345_678_901);
        c.with_label_values(&["z"]).unwrap().add(0);
        let g = reg.float_gauge("b", "B.").unwrap();
        g.set(-0.25);
        // Each form of a float's spelling: a negative integer, a literal.
        reg.float_gauge("d", "D.").unwrap().set(-3.0);
        reg.float_gauge("e", "E.").unwrap().set(f64::INFINITY);
        let h = reg
            .histogram("c_seconds", "C.", Buckets::default_prometheus())
            .unwrap();
        for v in [0.003, 0.2, 7.5, 1e300, f64::NAN] {
            h.observe(v);
        }
        let mut body = Vec::new();
        reg.encode(&mut body);
        let text = String::from_utf8(body.clone()).unwrap();
        for line in ["d -3\n", "e +Inf\n", "b -0.25\n", "c_seconds_sum NaN\n"] {
            assert!(text.contains(line), "{line:?} in {text}");
        }
        let floor = FormatFloor::new(&body).unwrap();
        assert_eq!(floor.lines(), body.iter().filter(|&&b| b == b'\n').count());
        let mut out = b"head".to_vec();
        floor.write(&mut out);
        assert_eq!(&out[4..], &body[..]);
        out.clear();
        floor.write(&mut out);
        floor.write(&mut out);
        assert_eq!(out, [&body[..], &body[..]].concat());
    }

    #[test]
    fn refuses_what_it_cannot_write_back() {
        let cases: [(&[u8], usize, &str); 4] = [
            (b"a 1\nb 2", 2, "newline"),
            (b"# HELP a A.\nab\n", 2, "without a space"),
            (b"a 01\n", 1, "not spelled"),
            (b"a 1\na x\n", 2, "not a number"),
        ];
        for (body, line, says) in cases {
            let e = FormatFloor::new(body).unwrap_err();
            assert_eq!(e.line, line, "{e}");
            assert!(e.to_string().contains(says), "{e}");
        }
    }
}
