//! Listen-address strings: `"host:port"`, `":port"`, `""`.
#![forbid(unsafe_code)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};

use super::error::ServerError;
use super::surface::Surface;

/// Parses a listen address the way the seeds' flags spell them.
///
/// - `""` (or only whitespace): the surface is disabled, `Ok(None)`.
/// - `":9090"`: every IPv4 interface, like Go's `net.Listen`, i.e. `0.0.0.0:9090`.
/// - `"0.0.0.0:9090"`, `"127.0.0.1:0"`, `"[::1]:9090"`: as written.
/// - `"localhost:9090"`: resolved; the first address wins.
pub(crate) fn parse_listen_addr(
    surface: Surface,
    addr: &str,
) -> Result<Option<SocketAddr>, ServerError> {
    let trimmed = addr.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    let invalid = |reason: String| ServerError::InvalidAddress {
        surface,
        addr: addr.to_string(),
        reason,
    };
    if let Some(port) = trimmed.strip_prefix(':') {
        let port: u16 = port
            .parse()
            .map_err(|_| invalid(format!("{port:?} is not a port number (0-65535)")))?;
        return Ok(Some(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port,
        )));
    }
    if let Ok(sa) = trimmed.parse::<SocketAddr>() {
        return Ok(Some(sa));
    }
    // Not a literal: it needs a port, and the host must resolve.
    let Some((host, port)) = trimmed.rsplit_once(':') else {
        return Err(invalid("missing \":port\"".to_string()));
    };
    if host.is_empty() {
        return Err(invalid("missing host".to_string()));
    }
    if port.parse::<u16>().is_err() {
        return Err(invalid(format!("{port:?} is not a port number (0-65535)")));
    }
    match trimmed.to_socket_addrs() {
        Ok(mut addrs) => match addrs.next() {
            Some(sa) => Ok(Some(sa)),
            None => Err(invalid(format!("host {host:?} resolved to no address"))),
        },
        Err(e) => Err(invalid(format!("cannot resolve host {host:?}: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Option<SocketAddr>, ServerError> {
        parse_listen_addr(Surface::Metrics, s)
    }

    #[test]
    fn empty_disables() {
        assert!(p("").unwrap().is_none());
        assert!(p("  ").unwrap().is_none());
    }

    #[test]
    fn go_style_port_only() {
        assert_eq!(
            p(":9090").unwrap().unwrap(),
            "0.0.0.0:9090".parse().unwrap()
        );
        assert_eq!(p(":0").unwrap().unwrap(), "0.0.0.0:0".parse().unwrap());
        assert!(p(":").is_err());
        assert!(p(":70000").is_err());
        assert!(p(":http").is_err());
    }

    #[test]
    fn literals() {
        assert_eq!(
            p("127.0.0.1:9091").unwrap().unwrap(),
            "127.0.0.1:9091".parse().unwrap()
        );
        assert_eq!(p("[::1]:80").unwrap().unwrap(), "[::1]:80".parse().unwrap());
    }

    #[test]
    fn hostnames_resolve() {
        let sa = p("localhost:0").unwrap().unwrap();
        assert!(sa.ip().is_loopback());
    }

    #[test]
    fn garbage_is_an_error_naming_the_input() {
        for bad in ["not an address", "127.0.0.1", "1.2.3.4:x", ":-1", "[::1]"] {
            let err = p(bad).unwrap_err();
            assert!(err.to_string().contains(bad), "{err}");
        }
    }
}
