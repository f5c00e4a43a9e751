//! The connection accept loop: binding, per-listener connection limits,
//! the HTTP/1 settings every connection is served with, and graceful
//! shutdown of the listeners.
#![forbid(unsafe_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;

use super::conns::{Conns, Refused, Tracked};
use super::io::StallGuardedStream;
use super::readiness::Readiness;
use super::router::Router;
use super::stats::StatsInner;
use super::timer::{self, HeaderTimer};

const LISTEN_BACKLOG: u32 = 1024;

/// The HTTP/1 settings every connection is served with.
pub(crate) fn http_builder(
    header_read_timeout: Duration,
    max_header_bytes: usize,
) -> http1::Builder {
    let mut http = http1::Builder::new();
    http.timer(HeaderTimer)
        .header_read_timeout(header_read_timeout)
        .max_header_size(max_header_bytes)
        .max_buf_size(max_header_bytes.max(8192))
        // Without half-close, hyper polls the socket for EOF while a
        // response is pending, which needs a fresh 8 KB read buffer
        // every request (the request head still shares the old one):
        // 85 % of what a scrape allocated. A client that goes away
        // mid-scrape is then noticed when its response is written.
        .half_close(true)
        .keep_alive(true);
    http
}

pub(crate) fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// How every connection of every listener is served.
pub(crate) struct ConnConfig {
    pub(crate) http: http1::Builder,
    pub(crate) max_connections: usize,
    /// Connections of one peer address a listener admits (`None`: any).
    pub(crate) max_connections_per_peer: Option<usize>,
    /// How long a connection may stay silent (no byte) after accept.
    pub(crate) first_byte_timeout: Duration,
    pub(crate) write_timeout: Duration,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) stats: Arc<StatsInner>,
}

/// Decrements the active-connection gauge however the connection task ends
/// (finished, failed, or aborted at the shutdown deadline).
struct ActiveGuard(Arc<StatsInner>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.connections_active.fetch_sub(1, Ordering::Relaxed);
    }
}

pub(crate) async fn supervise(
    listeners: Vec<(TcpListener, Arc<Router>)>,
    cfg: Arc<ConnConfig>,
    readiness: Readiness,
    drain: Duration,
    mut stop_rx: watch::Receiver<bool>,
    done_tx: oneshot::Sender<()>,
) {
    let (close_tx, close_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    for (listener, router) in listeners {
        tasks.spawn(serve_listener(
            listener,
            router,
            Arc::clone(&cfg),
            close_rx.clone(),
        ));
    }
    // Runs until the handle says stop (or is gone without saying).
    let _ = stop_rx.wait_for(|stop| *stop).await;
    readiness.begin_shutdown();
    if !drain.is_zero() {
        tokio::time::sleep(drain).await;
    }
    close_tx.send_replace(true);
    while tasks.join_next().await.is_some() {}
    let _ = done_tx.send(());
}

async fn serve_listener(
    listener: TcpListener,
    router: Arc<Router>,
    cfg: Arc<ConnConfig>,
    mut close_rx: watch::Receiver<bool>,
) {
    let graceful = GracefulShutdown::new();
    let table = Conns::new(cfg.max_connections, cfg.max_connections_per_peer);
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            _ = async { drop(close_rx.wait_for(|close| *close).await) } => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(_) => {
                        // Out of descriptors or a connection reset before we
                        // took it: back off briefly rather than spin.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                // At the limit, an idle connection makes room (`conns.rs`).
                let admitted = match table.admit(peer.ip().to_canonical()) {
                    Ok(admitted) => admitted,
                    Err(refused) => {
                        cfg.stats.connections_rejected.fetch_add(1, Ordering::Relaxed);
                        if refused == Refused::PeerCap {
                            cfg.stats.connections_rejected_per_peer.fetch_add(1, Ordering::Relaxed);
                        }
                        drop(stream);
                        continue;
                    }
                };
                if admitted.evicted_one {
                    cfg.stats.connections_evicted.fetch_add(1, Ordering::Relaxed);
                }
                cfg.stats.connections_accepted.fetch_add(1, Ordering::Relaxed);
                cfg.stats.connections_active.fetch_add(1, Ordering::Relaxed);
                let guard = ActiveGuard(Arc::clone(&cfg.stats));
                let _ = stream.set_nodelay(true);
                let r = Arc::clone(&router);
                let state = Arc::clone(&admitted.conn);
                let service = hyper::service::service_fn(move |req| {
                    let r = Arc::clone(&r);
                    let state = Arc::clone(&state);
                    async move {
                        // Busy from here until the response is written.
                        state.begin();
                        let resp = r.handle(req).await;
                        Ok::<_, Infallible>(resp.map(|body| Tracked::new(body, state)))
                    }
                });
                let state = Arc::clone(&admitted.conn);
                let io = TokioIo::new(StallGuardedStream::new(
                    stream,
                    cfg.write_timeout,
                    Arc::clone(&state),
                ));
                let conn = graceful.watch(cfg.http.serve_connection(io, service));
                let first_byte = cfg.first_byte_timeout;
                // The header-read deadline lives in the task (see `timer`).
                conns.spawn(timer::scoped(async move {
                    tokio::select! {
                        // Errors here are the client's (timeouts, bad
                        // requests, resets); hyper has already answered
                        // what it could.
                        _ = conn => {}
                        // Dropping the connection closes it.
                        () = state.evicted() => {}
                        () = state.silent_for(first_byte) => {}
                    }
                    drop(admitted);
                    drop(guard);
                }));
            }
        }
    }
    drop(listener);
    // In-flight requests finish; idle connections close now.
    let _ = tokio::time::timeout(cfg.shutdown_timeout, graceful.shutdown()).await;
    conns.shutdown().await;
}
