//! The `Host` header: exactly one per request (RFC 9112, section 3.2), and
//! for the admin console a loopback name or one the host configured, so
//! that a web page cannot reach the console through DNS rebinding (a name
//! of the attacker's that resolves to 127.0.0.1 arrives with that name).
#![forbid(unsafe_code)]

use std::net::Ipv4Addr;

use hyper::header::{HeaderMap, HeaderValue, HOST};
use hyper::Version;

/// What is wrong with a request's `Host` headers.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum HostError {
    /// An HTTP/1.1 request without one.
    Missing,
    /// More than one.
    Repeated,
}

/// The request's one `Host` value; HTTP/1.0 may omit it (`Ok(None)`).
pub(crate) fn the_host(
    headers: &HeaderMap,
    version: Version,
) -> Result<Option<&HeaderValue>, HostError> {
    let mut all = headers.get_all(HOST).iter();
    match (all.next(), all.next()) {
        (Some(_), Some(_)) => Err(HostError::Repeated),
        (Some(h), None) => Ok(Some(h)),
        (None, _) if version >= Version::HTTP_11 => Err(HostError::Missing),
        (None, _) => Ok(None),
    }
}

/// Whether `host` (a `Host` value: a name or address and an optional
/// port) names this machine's loopback interface (`localhost`,
/// `127.0.0.0/8`, `[::1]`) or is one of `allowed` (lower-case names, no
/// port), compared case-insensitively.
pub(crate) fn is_console_host(host: &[u8], allowed: &[String]) -> bool {
    let Ok(host) = std::str::from_utf8(host) else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        // `[v6]` or `[v6]:port`.
        Some(rest) => match rest.split_once(']') {
            Some((v6, port)) if port.is_empty() || port.strip_prefix(':').is_some_and(is_port) => {
                return v6
                    .parse::<std::net::Ipv6Addr>()
                    .is_ok_and(|a| a.is_loopback())
                    || allowed
                        .iter()
                        .any(|a| a.eq_ignore_ascii_case(&format!("[{v6}]")));
            }
            _ => return false,
        },
        None => match host.rsplit_once(':') {
            Some((name, port)) if is_port(port) => name,
            Some(_) => return false,
            None => host,
        },
    };
    let name = name.strip_suffix('.').unwrap_or(name);
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<Ipv4Addr>().is_ok_and(|a| a.is_loopback())
        || allowed.iter().any(|a| a.eq_ignore_ascii_case(name))
}

/// A port after a host's `:`: 1 to 5 digits.
fn is_port(digits: &str) -> bool {
    (1..=5).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_and_configured_ones_are_the_consoles() {
        let allowed = vec!["console.internal".to_string()];
        for ok in [
            "localhost",
            "LOCALHOST:9091",
            "localhost.",
            "127.0.0.1",
            "127.0.0.1:9091",
            "127.9.8.7:1",
            "[::1]",
            "[::1]:9091",
            "Console.Internal",
            "console.internal:80",
        ] {
            assert!(is_console_host(ok.as_bytes(), &allowed), "{ok}");
        }
        for bad in [
            "attacker.example",
            "attacker.example:9091",
            "localhost.attacker.example",
            "128.0.0.1",
            "0.0.0.0",
            "10.0.0.1:9091",
            "[::2]",
            "[::1]x",
            "[::1]:",
            "localhost:",
            "localhost:123456",
            "localhost:12a",
            "",
            "\u{ff}",
        ] {
            assert!(!is_console_host(bad.as_bytes(), &allowed), "{bad:?}");
        }
        assert!(!is_console_host(b"\xff\xfe", &allowed));
    }

    #[test]
    fn one_host_header_is_required_of_http_1_1() {
        let mut h = HeaderMap::new();
        assert_eq!(the_host(&h, Version::HTTP_11), Err(HostError::Missing));
        assert_eq!(the_host(&h, Version::HTTP_10), Ok(None));
        h.append(HOST, HeaderValue::from_static("a"));
        assert_eq!(the_host(&h, Version::HTTP_11).unwrap().unwrap(), "a");
        h.append(HOST, HeaderValue::from_static("b"));
        assert_eq!(the_host(&h, Version::HTTP_11), Err(HostError::Repeated));
        assert_eq!(the_host(&h, Version::HTTP_10), Err(HostError::Repeated));
    }
}
