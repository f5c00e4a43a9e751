//! Label-safe fingerprints of identifiers.
//!
//! Some labels must identify an account without exposing it (the nexo-rs
//! seed's `account_fp`: "an 8-byte sha256 fingerprint of the account id,
//! never the raw JID or email, so scraped metrics stay safe to share").
//! [`Fingerprint`] can only be built by hashing, so a raw id cannot reach a
//! label through it by accident.
#![forbid(unsafe_code)]

use sha2::{Digest, Sha256};
use std::fmt;

/// The first 8 bytes of the SHA-256 of an identifier, as 16 lowercase hex
/// digits.
///
/// # Examples
///
/// ```
/// use telemeter::fingerprint::Fingerprint;
/// let fp = Fingerprint::of("alice@example.com");
/// assert_eq!(fp.as_str().len(), 16);
/// assert!(fp.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
/// assert!(!fp.as_str().contains("alice"));
/// // sha256("abc") starts with ba7816bf8f01cfea
/// assert_eq!(Fingerprint::of("abc").as_str(), "ba7816bf8f01cfea");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 16]);

impl Fingerprint {
    /// Hashes `id`.
    #[must_use]
    pub fn of(id: &str) -> Fingerprint {
        let digest = Sha256::digest(id.as_bytes());
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 16];
        for (i, b) in digest.iter().take(8).enumerate() {
            out[2 * i] = HEX[(b >> 4) as usize];
            out[2 * i + 1] = HEX[(b & 0xf) as usize];
        }
        Fingerprint(out)
    }

    /// The fingerprint as a label value.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("0000000000000000")
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({})", self.as_str())
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
