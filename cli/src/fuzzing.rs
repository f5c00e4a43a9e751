//! Entry points of the CLI's fuzz targets (`fuzz/fuzz_targets/
//! status_response.rs`, `load_response.rs`), replayed on stable by
//! `cli/tests/fuzz_replay.rs`: each hands arbitrary bytes to a command as
//! the whole answer of its server, over an in-memory connection, and
//! checks what the command makes of them.
//!
//! Not a stable API: it is public only for the fuzz crate.

use std::cell::Cell;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, DuplexStream};

use crate::http::{self, Endpoint};
use crate::load::client::{self, Buffers, Conn, ErrorKind, RequestSpec};
use crate::load::spec::Target;
use crate::status::{self, Failure};

/// Longest one input may take: a hang is a finding, like a panic.
const HANG: Duration = Duration::from_secs(10);

/// A connection whose peer reads the request head, then sends `answer`,
/// closes its side, and reads whatever else the client sends.
fn peer(answer: Vec<u8>) -> DuplexStream {
    let (client, mut server) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match server.read(&mut buf).await {
                Ok(n) if n > 0 => head.extend_from_slice(&buf[..n]),
                _ => return,
            }
        }
        let (mut rd, mut wr) = tokio::io::split(&mut server);
        let reader = async { while matches!(rd.read(&mut buf).await, Ok(n) if n > 0) {} };
        let writer = async {
            let _ = wr.write_all(&answer).await;
            let _ = wr.shutdown().await;
        };
        tokio::join!(reader, writer);
    });
    client
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime")
}

/// Whether `s` holds a control character other than a newline: what must
/// never reach the terminal from an endpoint.
fn has_control(s: &str) -> bool {
    s.chars().any(|c| c.is_control() && c != '\n')
}

fn status_endpoint() -> Endpoint {
    Endpoint::parse("http://127.0.0.1:9091").expect("a fixed endpoint")
}

/// `status`'s GET of `/admin/agents` (hyper's client, as `http::get`)
/// against a peer that answers `data` and closes; panics if it hangs.
pub(crate) fn status_exchange(data: &[u8]) -> Result<http::Response, http::HttpError> {
    let answer = data.to_vec();
    runtime().block_on(async {
        let req = http::request(&status_endpoint(), "/admin/agents").expect("a fixed request");
        let step = Cell::new("");
        tokio::time::timeout(HANG, http::exchange(peer(answer), req, &step))
            .await
            .unwrap_or_else(|_| panic!("status hung on {:?}", http::snippet(data)))
    })
}

/// `telemeter status` against an admin console that answers `data`.
///
/// Checks: no panic and no hang; a response is either refused with a
/// message or printed, as a table and as JSON, with the agent filter and
/// without; nothing printed (stdout or the error) carries a control
/// character from the endpoint. Returns whether the directory was printed
/// (as a table, unfiltered).
pub fn status_response(data: &[u8]) -> bool {
    let url = status_endpoint().url("/admin/agents");
    let resp = match status_exchange(data) {
        Err(e) => {
            let msg = e.to_string();
            assert!(!has_control(&msg), "control character in {msg:?}");
            return false;
        }
        Ok(resp) => resp,
    };
    assert!(resp.body.len() <= http::MAX_RESPONSE);
    let mut printed = false;
    for (agent, json) in [(None, false), (None, true), (Some("kate"), false)] {
        match status::report(&url, &resp, agent, json) {
            Ok(out) => {
                assert!(!has_control(&out), "control character in {out:?}");
                printed |= agent.is_none() && !json;
            }
            Err(Failure::Failed(msg)) => {
                assert!(!has_control(&msg), "control character in {msg:?}")
            }
            Err(Failure::Usage(msg)) => panic!("a response made a usage error: {msg}"),
        }
    }
    printed
}

/// `telemeter load` against a server that answers `data[1..]`; bit 0 of
/// `data[0]` asks for gzip, bit 1 validates the body.
///
/// Checks: no panic and no hang; a failure has a kind and a message; a
/// body, once read and inspected, gives back every byte of the shared
/// gzip budget when its buffers are dropped. Returns the series counted
/// in a 2xx body, `None` for a failure or another status.
pub fn load_response(data: &[u8]) -> Option<usize> {
    let (&flags, answer) = data.split_first()?;
    let spec = RequestSpec {
        target: Target::parse("http://127.0.0.1:9090/metrics").expect("a fixed target"),
        addr: "127.0.0.1:9090".parse().expect("a fixed address"),
        gzip: flags & 1 != 0,
        validate: flags & 2 != 0,
        timeout: HANG,
    };
    let held_before = client::decoded_held();
    let rt = runtime();
    let local = tokio::task::LocalSet::new();
    let answer = answer.to_vec();
    let outcome = local.block_on(&rt, async {
        let work = async {
            let mut bufs = Buffers::default();
            let mut conn = Conn::over(peer(answer)).await?;
            let resp = conn.get(&spec, &mut bufs).await?;
            let body = if (200..300).contains(&resp.status) {
                let info = client::inspect(&resp, spec.validate, &mut bufs)?;
                assert!(info.decoded_len <= client::MAX_BODY);
                if !resp.gzipped {
                    assert_eq!(info.decoded_len, resp.wire_len);
                }
                Some(info)
            } else {
                None
            };
            drop(bufs);
            Ok::<_, client::Failure>(body)
        };
        tokio::time::timeout(HANG, work).await
    });
    let series = match outcome {
        Err(_) => panic!("load hung on {:?}", http::snippet(answer_of(data))),
        Ok(Err(failure)) => {
            assert!(!failure.message.is_empty());
            assert!(ErrorKind::ALL.contains(&failure.kind));
            None
        }
        Ok(Ok(info)) => info.map(|i| i.series),
    };
    assert_eq!(
        client::decoded_held(),
        held_before,
        "the gzip budget was not given back"
    );
    series
}

fn answer_of(data: &[u8]) -> &[u8] {
    data.get(1..).unwrap_or_default()
}
