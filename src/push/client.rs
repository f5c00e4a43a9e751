//! One HTTP/1.1 request over a fresh connection with hyper's client: what
//! a push needs (the gateway is asked once per interval at most, so a
//! connection is not kept).
#![forbid(unsafe_code)]

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1;
use hyper::header;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::{PushError, MAX_ERROR_BODY};

/// `http[s]://host[:port][/prefix]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    host: String,
    port: u16,
    base_path: String,
    /// `https`: a TLS handshake after the connect (feature `tls`).
    pub(crate) tls: bool,
}

impl Endpoint {
    pub(crate) fn parse(url: &str) -> Result<Endpoint, String> {
        let (tls, rest) = match url.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => (false, rest),
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("https") => {
                if !cfg!(feature = "tls") {
                    return Err(
                        "https needs telemeter's `tls` feature (rustls); build with \
                         features = [\"tls\"], or put a TLS-terminating proxy in front"
                            .to_string(),
                    );
                }
                (true, rest)
            }
            Some((scheme, _)) => {
                return Err(format!(
                    "scheme {scheme:?} is not supported: give http:// or https://"
                ))
            }
            None => return Err("it has no scheme; write http://host:port".to_string()),
        };
        let default_port = if tls { 443 } else { 80 };
        let (authority, path) = match rest.find(['/', '?', '#']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err("credentials in the URL are not supported; use .basic_auth(..)".into());
        }
        let (host, port) = match authority.strip_prefix('[') {
            Some(v6) => match v6.split_once(']') {
                Some((h, "")) => (h.to_string(), default_port),
                Some((h, p)) => match p.strip_prefix(':') {
                    Some(p) => (h.to_string(), parse_port(p)?),
                    None => return Err(format!("unexpected {p:?} after the IPv6 host")),
                },
                None => return Err("unclosed '[' in the IPv6 host".into()),
            },
            None => match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), parse_port(p)?),
                None => (authority.to_string(), default_port),
            },
        };
        if host.is_empty() {
            return Err("it has no host".into());
        }
        if path.contains(['?', '#']) {
            return Err("a query or fragment has no place in a gateway URL".into());
        }
        if path
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err("its path holds whitespace or control characters".into());
        }
        Ok(Endpoint {
            host,
            port,
            base_path: path.trim_end_matches('/').to_string(),
            tls,
        })
    }

    /// The path prefix the gateway is served under (`""` at the root).
    pub(crate) fn base_path(&self) -> &str {
        &self.base_path
    }

    /// `host:port`, for connecting and for messages.
    fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The URL of `path` (already under the base path).
    pub(crate) fn url(&self, path: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}{path}", self.authority())
    }
}

fn parse_port(p: &str) -> Result<u16, String> {
    match p.parse::<u16>() {
        Ok(0) | Err(_) => Err(format!("port {p:?} is not a number from 1 to 65535")),
        Ok(port) => Ok(port),
    }
}

/// What to send.
pub(crate) struct Request<'a> {
    pub(crate) method: &'static str,
    pub(crate) path: &'a str,
    pub(crate) content_type: Option<&'static str>,
    pub(crate) authorization: Option<&'a str>,
    /// More headers (remote write's, a tenant header).
    pub(crate) headers: &'a [(String, String)],
    pub(crate) body: Bytes,
}

/// What came back: the status, and the start of the body.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
    /// `Retry-After` in seconds, where the server sent one (its HTTP-date
    /// form is not read: the caller's own backoff applies then).
    pub(crate) retry_after: Option<std::time::Duration>,
}

/// Connects (with a TLS handshake for `https`, through `tls`), sends
/// `req`, and reads the status and at most `MAX_ERROR_BODY` bytes of the
/// answer's body.
pub(crate) async fn send(
    endpoint: &Endpoint,
    #[cfg(feature = "tls")] tls: Option<&super::tls::Tls>,
    req: Request<'_>,
) -> Result<Answer, PushError> {
    let addr = endpoint.authority();
    let stream = TcpStream::connect(&addr)
        .await
        .map_err(|source| PushError::Connect {
            addr: addr.clone(),
            source,
        })?;
    let _ = stream.set_nodelay(true);
    #[cfg(feature = "tls")]
    if endpoint.tls {
        let tls = tls.ok_or_else(|| PushError::InvalidTls {
            reason: "an https URL with no TLS configuration".into(),
        })?;
        let stream = tls.connect(&endpoint.host, stream).await?;
        return exchange(endpoint, TokioIo::new(stream), req).await;
    }
    exchange(endpoint, TokioIo::new(stream), req).await
}

/// The HTTP/1.1 exchange over a connected stream, plain or TLS.
async fn exchange<T>(endpoint: &Endpoint, io: T, req: Request<'_>) -> Result<Answer, PushError>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let addr = endpoint.authority();
    let url = endpoint.url(req.path);
    let protocol = |reason: String| PushError::Protocol {
        url: url.clone(),
        reason,
    };
    let (mut sender, conn) = http1::handshake(io)
        .await
        .map_err(|e| protocol(describe(&e)))?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut builder = hyper::Request::builder()
        .method(req.method)
        .uri(req.path)
        .header(header::HOST, &addr)
        .header(
            header::USER_AGENT,
            concat!("telemeter/", env!("CARGO_PKG_VERSION")),
        );
    if let Some(ct) = req.content_type {
        builder = builder.header(header::CONTENT_TYPE, ct);
    }
    if let Some(auth) = req.authorization {
        builder = builder.header(header::AUTHORIZATION, auth);
    }
    for (name, value) in req.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let request = builder
        .body(Full::new(req.body))
        .map_err(|e| protocol(format!("cannot build the request: {e}")))?;
    let result = async {
        let resp = sender
            .send_request(request)
            .await
            .map_err(|e| protocol(describe(&e)))?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(std::time::Duration::from_secs);
        let mut body = resp.into_body();
        let mut kept = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| protocol(describe(&e)))?;
            if let Ok(data) = frame.into_data() {
                let room = MAX_ERROR_BODY.saturating_sub(kept.len());
                kept.extend_from_slice(&data[..data.len().min(room)]);
            }
        }
        Ok(Answer {
            status,
            body: kept,
            retry_after,
        })
    }
    .await;
    driver.abort();
    result
}

/// hyper's error with its causes.
fn describe(e: &hyper::Error) -> String {
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_urls_parse_or_say_what_is_wrong() {
        let e = Endpoint::parse("http://127.0.0.1:9091").unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.base_path()),
            ("127.0.0.1", 9091, "")
        );
        let e = Endpoint::parse("http://gw.internal/push/").unwrap();
        assert_eq!((e.port, e.base_path()), (80, "/push"));
        assert_eq!(
            e.url("/push/metrics/job/x"),
            "http://gw.internal:80/push/metrics/job/x"
        );
        let e = Endpoint::parse("http://[::1]:9091").unwrap();
        assert_eq!(e.authority(), "[::1]:9091");
        match Endpoint::parse("https://mimir.internal/api/v1/push") {
            Ok(e) => {
                assert!(cfg!(feature = "tls") && e.tls);
                assert_eq!(
                    e.url("/api/v1/push"),
                    "https://mimir.internal:443/api/v1/push"
                );
            }
            Err(reason) => assert!(!cfg!(feature = "tls") && reason.contains("`tls`")),
        }
        for bad in [
            "ftp://gw:9091",
            "gw:9091",
            "http://:9091",
            "http://gw:0",
            "http://gw:99999",
            "http://u:p@gw:9091",
            "http://gw:9091/?x=1",
            "http://[::1",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }
}
