//! gzip for scrape bodies: the `Accept-Encoding` check the router makes
//! and the reusable-state compressor the scraper runs.
#![forbid(unsafe_code)]

use flate2::{Compress, Compression, Crc, FlushCompress, Status};

/// A raw-deflate state at the level [`gzip_into`] is written for: built
/// once per scraper and reset for each body.
pub(crate) fn deflate_state() -> Compress {
    Compress::new(Compression::fast(), false)
}

/// Compresses a body into a gzip member (RFC 1952) at the fast level:
/// exposition text compresses about 10x even so, and the scrape stays cheap.
/// `out`'s capacity and the raw-deflate state `deflate` are reused, so a
/// steady-state gzip scrape allocates nothing here. `false` if deflate
/// fails.
pub(crate) fn gzip_into(body: &[u8], out: &mut Vec<u8>, deflate: &mut Compress) -> bool {
    deflate.reset();
    out.clear();
    // ID1 ID2, CM = deflate, no flags, no mtime, XFL = fastest, OS unknown.
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 255]);
    let mut input = body;
    loop {
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity().max(4096));
        }
        let before = deflate.total_in();
        let Ok(status) = deflate.compress_vec(input, out, FlushCompress::Finish) else {
            return false;
        };
        let Ok(consumed) = usize::try_from(deflate.total_in() - before) else {
            return false;
        };
        input = &input[consumed..];
        if status == Status::StreamEnd {
            break;
        }
    }
    let mut crc = Crc::new();
    crc.update(body);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    // ISIZE: the input length modulo 2^32, as RFC 1952 defines it.
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    true
}

/// Whether an `Accept-Encoding` header value allows gzip.
///
/// `gzip` (or `x-gzip`) with a non-zero q-value allows it; `gzip;q=0` forbids
/// it whatever `*` says; otherwise `*` with a non-zero q-value allows it.
pub(crate) fn accepts_gzip<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> bool {
    let mut gzip: Option<bool> = None;
    let mut star: Option<bool> = None;
    for value in values {
        let Ok(value) = std::str::from_utf8(value) else {
            continue;
        };
        for item in value.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let mut q = Some(true);
            for param in parts {
                let Some((k, v)) = param.split_once('=') else {
                    continue;
                };
                if k.trim().eq_ignore_ascii_case("q") {
                    q = parse_q_nonzero(v.trim());
                }
            }
            let Some(allowed) = q else {
                continue; // malformed q-value: ignore the item
            };
            if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
                // The most restrictive mention wins.
                gzip = Some(gzip.unwrap_or(true) && allowed);
            } else if coding == "*" {
                star = Some(star.unwrap_or(true) && allowed);
            }
        }
    }
    gzip.or(star).unwrap_or(false)
}

/// Parses an RFC 9110 q-value; `Some(false)` for zero, `None` if malformed.
fn parse_q_nonzero(v: &str) -> Option<bool> {
    let (int, frac) = match v.split_once('.') {
        Some((i, f)) => (i, f),
        None => (v, ""),
    };
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match int {
        "0" => Some(frac.bytes().any(|b| b != b'0')),
        "1" => {
            if frac.bytes().all(|b| b == b'0') {
                Some(true)
            } else {
                None
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(v: &str) -> bool {
        accepts_gzip([v.as_bytes()])
    }

    #[test]
    fn accept_encoding() {
        assert!(ok("gzip"));
        assert!(ok("GZIP"));
        assert!(ok("x-gzip"));
        assert!(ok("deflate, gzip;q=1.0, *;q=0.5"));
        assert!(ok("br;q=1.0, gzip;q=0.8, *;q=0.1"));
        assert!(ok("gzip; q=0.001"));
        assert!(ok("*"));
        assert!(!ok(""));
        assert!(!ok("identity"));
        assert!(!ok("deflate, br"));
        assert!(!ok("gzip;q=0"));
        assert!(!ok("gzip;q=0.000"));
        assert!(!ok("gzip;q=0, *"));
        assert!(!ok("*;q=0"));
        assert!(!ok("gzip;q=2"));
        assert!(!ok("gzip;q=abc"));
        assert!(!ok("gzip;q=0.0001"));
        assert!(accepts_gzip([b"identity".as_slice(), b"gzip".as_slice()]));
        assert!(!accepts_gzip([b"\xff\xfe".as_slice()]));
    }

    #[test]
    fn gzip_round_trip() {
        use std::io::Read as _;
        let body = b"# TYPE x counter\nx 1\n".repeat(100);
        let mut deflate = deflate_state();
        let (mut gz, mut again, mut empty) = (Vec::new(), Vec::new(), Vec::new());
        assert!(gzip_into(&body, &mut gz, &mut deflate));
        // The same state, reset, gives the same bytes again.
        assert!(gzip_into(&body, &mut again, &mut deflate));
        assert_eq!(gz, again);
        // An empty body is a valid gzip member too.
        assert!(gzip_into(b"", &mut empty, &mut deflate));
        let mut out_empty = Vec::new();
        flate2::read::GzDecoder::new(&empty[..])
            .read_to_end(&mut out_empty)
            .unwrap();
        assert!(out_empty.is_empty());
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, body);
        assert!(gz.len() < body.len() / 4);
    }
}
