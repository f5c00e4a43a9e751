//! What `telemeter load` is asked to do: the target URL, durations
//! (`30s`, `500ms`, `2m`) and request rates (`200/s`), parsed by hand.

use std::fmt;
use std::time::Duration;

/// The path scraped when the URL names none (Prometheus' default
/// `metrics_path`).
pub const DEFAULT_PATH: &str = "/metrics";

/// Where to scrape: `http://host[:port][/path][?query]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Host name or address, without IPv6 brackets.
    pub host: String,
    /// TCP port (80 when the URL gives none).
    pub port: u16,
    /// The `Host` header: the authority as written in the URL.
    pub authority: String,
    /// Path and query sent in the request line.
    pub path_and_query: String,
}

impl Target {
    /// Parses a plain-HTTP URL. The scheme may be left out (`host:port`);
    /// a URL without a path scrapes [`DEFAULT_PATH`].
    pub fn parse(url: &str) -> Result<Target, String> {
        let url = url.trim();
        if url.is_empty() {
            return Err("the URL is empty; give one like http://127.0.0.1:9090/metrics".into());
        }
        let rest = match url.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some((scheme, _)) if scheme.eq_ignore_ascii_case("https") => {
                return Err(
                    "https is not supported: telemeter load speaks plain HTTP/1.1 \
                     (scrape through a TLS-terminating proxy, or the plain port)"
                        .into(),
                )
            }
            Some((scheme, _)) => {
                return Err(format!(
                    "scheme {scheme:?} is not supported; use http://host:port/path"
                ))
            }
            None => url,
        };
        let (authority, path) = match rest.find(['/', '?', '#']) {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if authority.is_empty() {
            return Err("the URL has no host; give one like http://127.0.0.1:9090/metrics".into());
        }
        if authority.contains('@') {
            return Err("credentials in the URL are not supported".into());
        }
        if let Some(bad) = authority
            .chars()
            .find(|c| c.is_whitespace() || c.is_control())
        {
            return Err(format!("the host contains {bad:?}"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let Some((host, after)) = v6.split_once(']') else {
                return Err("unclosed '[' in the IPv6 host".into());
            };
            match after.strip_prefix(':') {
                Some(p) => (host, parse_port(p)?),
                None if after.is_empty() => (host, 80),
                None => return Err(format!("unexpected {after:?} after the IPv6 host")),
            }
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, parse_port(p)?),
                None => (authority, 80),
            }
        };
        if host.is_empty() {
            return Err("the URL has no host; give one like http://127.0.0.1:9090/metrics".into());
        }
        // The fragment never goes on the wire.
        let path = path.split('#').next().unwrap_or("");
        let path_and_query = if path.is_empty() {
            DEFAULT_PATH.to_string()
        } else if path.starts_with('?') {
            format!("/{path}")
        } else {
            path.to_string()
        };
        if let Some(bad) = path_and_query
            .chars()
            .find(|c| c.is_whitespace() || c.is_control() || !c.is_ascii())
        {
            return Err(format!(
                "the path contains {bad:?}; percent-encode it (e.g. %20 for a space)"
            ));
        }
        Ok(Target {
            host: host.to_string(),
            port,
            authority: authority.to_string(),
            path_and_query,
        })
    }

    /// `host:port` in a form `ToSocketAddrs` accepts.
    pub fn socket_host(&self) -> (&str, u16) {
        (&self.host, self.port)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}{}", self.authority, self.path_and_query)
    }
}

fn parse_port(p: &str) -> Result<u16, String> {
    match p.parse::<u16>() {
        Ok(0) => Err("port 0 cannot be connected to; give the server's port".into()),
        Ok(port) => Ok(port),
        Err(_) => Err(format!("{p:?} is not a port number (1-65535)")),
    }
}

/// Parses a positive duration: a number followed by `ns`, `us` (or `µs`),
/// `ms`, `s`, `m` or `h`, e.g. `30s`, `500ms`, `2m`, `1.5s`. A bare number
/// is seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let seconds_per_unit = match unit.trim() {
        "" | "s" | "sec" | "secs" => 1.0,
        "ms" => 1e-3,
        "us" | "µs" => 1e-6,
        "ns" => 1e-9,
        "m" | "min" | "mins" => 60.0,
        "h" => 3600.0,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {s:?}; use ms, s, m or h (e.g. 500ms, 30s, 2m)"
            ))
        }
    };
    if num.is_empty() {
        return Err(format!(
            "{s:?} is not a duration; give a number and a unit (e.g. 500ms, 30s, 2m)"
        ));
    }
    let value: f64 = num
        .parse()
        .map_err(|_| format!("{num:?} is not a number (in {s:?})"))?;
    let secs = value * seconds_per_unit;
    if !(secs.is_finite() && secs > 0.0) {
        return Err(format!("{s:?} is not a positive duration"));
    }
    // Longer than a century is a typo; it would also overflow `Instant`.
    if secs > 100.0 * 365.0 * 86_400.0 {
        return Err(format!("{s:?} is too long"));
    }
    let d = Duration::from_secs_f64(secs);
    if d.is_zero() {
        return Err(format!("{s:?} is shorter than a nanosecond"));
    }
    Ok(d)
}

/// Parses a request rate: `200`, `200/s`, `0.5/s`, `600/m`, `3600/h`, in
/// requests per second.
pub fn parse_rate(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let (num, per) = match t.split_once('/') {
        Some((n, u)) => (n.trim(), u.trim()),
        None => (t, "s"),
    };
    let divisor = match per {
        "s" | "sec" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        other => {
            return Err(format!(
                "unknown rate unit {other:?} in {s:?}; use /s, /m or /h (e.g. 200/s)"
            ))
        }
    };
    let value: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a rate; give requests per second (e.g. 200/s)"))?;
    let rate = value / divisor;
    if !(rate.is_finite() && rate > 0.0) {
        return Err(format!(
            "{s:?} is not a positive rate; leave --rate out for no limit"
        ));
    }
    if rate < 1.0 / 86_400.0 {
        return Err(format!("{s:?} is less than one request a day"));
    }
    Ok(rate)
}

/// Formats a duration for people: `850µs`, `12.3ms`, `1.50s`, `2m05s`.
pub fn human_duration(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{us:.0}µs")
    } else if us < 10_000.0 {
        format!("{:.2}ms", us / 1e3)
    } else if us < 1_000_000.0 {
        format!("{:.1}ms", us / 1e3)
    } else if us < 60e6 {
        format!("{:.2}s", us / 1e6)
    } else {
        let s = d.as_secs();
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        for bad in [
            "", "0", "0s", "0ms", "s", "-1s", "1x", "1.2.3s", "abc", "1e9h", "900000h", "0.1ns",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("200"), Ok(200.0));
        assert_eq!(parse_rate("200/s"), Ok(200.0));
        assert_eq!(parse_rate("0.5/s"), Ok(0.5));
        assert_eq!(parse_rate("600/m"), Ok(10.0));
        for bad in [
            "", "0", "0/s", "-1/s", "x/s", "5/d", "NaN", "inf", "1e-300/s",
        ] {
            assert!(parse_rate(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn targets() {
        let t = Target::parse("http://127.0.0.1:9090/metrics").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path_and_query.as_str()),
            ("127.0.0.1", 9090, "/metrics")
        );
        let t = Target::parse("localhost:9090").unwrap();
        assert_eq!(t.to_string(), "http://localhost:9090/metrics");
        let t = Target::parse("http://[::1]:9/m?x=1#frag").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path_and_query.as_str()),
            ("::1", 9, "/m?x=1")
        );
        assert_eq!(t.authority, "[::1]:9");
        let t = Target::parse("http://agent/").unwrap();
        assert_eq!((t.port, t.path_and_query.as_str()), (80, "/"));
        for bad in [
            "",
            "https://x:1/metrics",
            "ftp://x/",
            "http://",
            "http://:9090/",
            "http://x:port/",
            "http://x:0/",
            "http://x:99999/",
            "http://[::1/",
            "http://u:p@x/",
            "http://x y/",
            "http://x/a b",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn human() {
        assert_eq!(human_duration(Duration::from_micros(850)), "850µs");
        assert_eq!(human_duration(Duration::from_micros(1234)), "1.23ms");
        assert_eq!(human_duration(Duration::from_millis(123)), "123.0ms");
        assert_eq!(human_duration(Duration::from_millis(1500)), "1.50s");
        assert_eq!(human_duration(Duration::from_secs(125)), "2m05s");
    }
}
