//! A Pushgateway group's URL path: `/metrics/job/<job>{/<label>/<value>}`.
//!
//! A value is one path segment, percent-encoded; a value the gateway could
//! not take that way (one with a `/`, or the empty string) is written in
//! the gateway's base64 form, `<label>@base64/<base64url(value)>`, with
//! `=` for the empty value (the Pushgateway README, "URL").
#![forbid(unsafe_code)]

use super::PushError;

/// The grouping path of `job` and `labels`.
pub(crate) fn path(job: &str, labels: &[(String, String)]) -> Result<String, PushError> {
    let mut out = String::from("/metrics");
    segment(&mut out, "job", job);
    let mut seen: Vec<&str> = Vec::new();
    for (label, value) in labels {
        let bad = |reason: &str| PushError::InvalidGrouping {
            label: label.clone(),
            reason: reason.to_string(),
        };
        if label == "job" {
            return Err(bad("`job` is the job itself; give it with .job(..)"));
        }
        if !valid_label_name(label) {
            return Err(bad(
                "a label name is [a-zA-Z_][a-zA-Z0-9_]* and does not start with \"__\"",
            ));
        }
        if seen.contains(&label.as_str()) {
            return Err(bad("given twice; a grouping key has each label once"));
        }
        seen.push(label);
        segment(&mut out, label, value);
    }
    Ok(out)
}

fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
}

/// Appends `/<label>/<value>`, or `/<label>@base64/<value in base64url>`.
fn segment(out: &mut String, label: &str, value: &str) {
    out.push('/');
    out.push_str(label);
    if value.is_empty() {
        out.push_str("@base64/=");
    } else if value.contains('/') {
        out.push_str("@base64/");
        out.push_str(&base64url(value.as_bytes()));
    } else {
        out.push('/');
        for b in value.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
}

const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// RFC 4648 base64 with padding (for `Authorization: Basic`).
pub(crate) fn base64(bytes: &[u8]) -> String {
    encode(bytes, STANDARD, true)
}

/// RFC 4648 section 5 base64url with padding (for grouping values).
pub(crate) fn base64url(bytes: &[u8]) -> String {
    encode(bytes, URL_SAFE, true)
}

fn encode(bytes: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..4 {
            if i < chars {
                out.push(alphabet[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (plain, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), want);
        }
        // The alphabets differ in their last two characters.
        assert_eq!(base64(&[0xfb, 0xff]), "+/8=");
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8=");
        assert_eq!(base64("user:pass".as_bytes()), "dXNlcjpwYXNz");
    }

    #[test]
    fn grouping_paths_follow_the_gateway_readme() {
        let l = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        assert_eq!(path("backup", &[]).unwrap(), "/metrics/job/backup");
        assert_eq!(
            path(
                "backup",
                &l(&[("instance", "db 3"), ("path", "/var/tmp"), ("zone", "")])
            )
            .unwrap(),
            "/metrics/job/backup/instance/db%203/path@base64/L3Zhci90bXA=/zone@base64/="
        );
        assert_eq!(path("a/b", &[]).unwrap(), "/metrics/job@base64/YS9i");
        assert_eq!(path("ünï", &[]).unwrap(), "/metrics/job/%C3%BCn%C3%AF");
        for bad in [
            l(&[("job", "x")]),
            l(&[("1st", "x")]),
            l(&[("__name__", "x")]),
            l(&[("a-b", "x")]),
            l(&[("a", "1"), ("a", "2")]),
        ] {
            assert!(
                matches!(path("j", &bad), Err(PushError::InvalidGrouping { .. })),
                "{bad:?}"
            );
        }
    }
}
