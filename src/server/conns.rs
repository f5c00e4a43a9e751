//! A listener's open connections and what each is doing, so that a flood of
//! idle connections cannot lock a scraper or a probe out.
//!
//! At the connection limit the accept loop evicts before it refuses: first
//! the connection that has waited longest without sending a complete
//! request, then the one idle longest between keep-alive requests. A
//! connection with a request in progress or a response not yet written is
//! never evicted, so the limit still bounds the work in flight. A
//! connection that sends no byte at all is closed after the first-byte
//! timeout (`ExporterBuilder::first_byte_timeout`), and an optional cap
//! bounds the connections of one peer address.
#![forbid(unsafe_code)]

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Buf;
use hyper::body::{Body, Frame, SizeHint};
use tokio::sync::Notify;

/// The table's mutex: std's in every build (the server takes part in no
/// loom model), with the crate's poisoning policy (recover the data).
fn lock(m: &Mutex<Table>) -> std::sync::MutexGuard<'_, Table> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One connection's state, shared by its task, its responses and the table.
#[derive(Debug)]
pub(crate) struct Conn {
    /// Requests being handled plus response buffers not yet written.
    busy: AtomicU64,
    /// Whether a complete request has arrived.
    served: AtomicBool,
    /// Whether the client has sent any byte.
    read_any: AtomicBool,
    /// Milliseconds since the table's epoch: accepted (before its first
    /// request), or last busy (after).
    since: AtomicU64,
    evicted: AtomicBool,
    evict: Notify,
    epoch: Instant,
    peer: IpAddr,
    index: usize,
}

impl Conn {
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// A request arrived (complete: hyper parsed its head, and no request
    /// here has a body). [`Conn::done`] ends it.
    pub(crate) fn begin(&self) {
        self.served.store(true, Ordering::Relaxed);
        self.busy.fetch_add(1, Ordering::AcqRel);
    }

    /// A request, or a response buffer, is finished.
    pub(crate) fn done(&self) {
        self.since.store(self.now(), Ordering::Relaxed);
        self.busy.fetch_sub(1, Ordering::AcqRel);
    }

    /// The client sent bytes.
    #[inline]
    pub(crate) fn read_some(&self) {
        if !self.read_any.load(Ordering::Relaxed) {
            self.read_any.store(true, Ordering::Relaxed);
        }
    }

    /// Completes when the accept loop evicts this connection.
    pub(crate) async fn evicted(&self) {
        self.evict.notified().await;
    }

    /// Completes `timeout` after accept if the client has sent nothing by
    /// then; never otherwise.
    pub(crate) async fn silent_for(&self, timeout: Duration) {
        tokio::time::sleep(timeout).await;
        if self.read_any.load(Ordering::Relaxed) {
            std::future::pending::<()>().await;
        }
    }

    /// Eviction order: `Some((class, since))`, lowest first, or `None` if
    /// the connection must not be evicted.
    fn victim_rank(&self) -> Option<(u8, u64)> {
        if self.evicted.load(Ordering::Relaxed) || self.busy.load(Ordering::Acquire) > 0 {
            return None;
        }
        let class = u8::from(self.served.load(Ordering::Relaxed));
        Some((class, self.since.load(Ordering::Relaxed)))
    }
}

/// Why a connection was not admitted.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Every connection is busy.
    Full,
    /// The peer address holds its cap.
    PeerCap,
}

/// The table of one listener's connections.
#[derive(Debug)]
pub(crate) struct Conns {
    max: usize,
    per_peer: Option<usize>,
    epoch: Instant,
    table: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    slots: Vec<Option<Arc<Conn>>>,
    free: Vec<usize>,
    live: usize,
    by_peer: HashMap<IpAddr, usize>,
    /// Connections in accept order, the silent ones the next eviction
    /// looks at first: a flood of silent connections then costs each
    /// accept O(1), not a walk of the table (which kept a scraper's
    /// connection waiting in the accept backlog behind the flood's).
    /// Entries that were served, evicted or closed are skipped, and pruned
    /// when they outnumber the live connections.
    arrivals: VecDeque<Arc<Conn>>,
}

impl Table {
    /// The oldest silent connection still open and evictable.
    fn oldest_silent(&mut self) -> Option<Arc<Conn>> {
        while let Some(c) = self.arrivals.pop_front() {
            let open = self.slots[c.index]
                .as_ref()
                .is_some_and(|s| Arc::ptr_eq(s, &c));
            if open && c.victim_rank().is_some_and(|(class, _)| class == 0) {
                return Some(c);
            }
        }
        None
    }

    /// The evictable connection idle longest (a walk of the table: only
    /// when no silent one is left).
    fn longest_idle(&self) -> Option<Arc<Conn>> {
        self.slots
            .iter()
            .flatten()
            .filter_map(|c| c.victim_rank().map(|r| (r, c)))
            .min_by_key(|(r, _)| *r)
            .map(|(_, c)| Arc::clone(c))
    }
}

/// An admitted connection: removed from the table when dropped.
#[derive(Debug)]
pub(crate) struct Admitted {
    pub(crate) conn: Arc<Conn>,
    conns: Arc<Conns>,
    /// Whether another connection was evicted to make room.
    pub(crate) evicted_one: bool,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut t = lock(&self.conns.table);
        t.slots[self.conn.index] = None;
        t.free.push(self.conn.index);
        t.live -= 1;
        if self.conns.per_peer.is_some() {
            if let Some(n) = t.by_peer.get_mut(&self.conn.peer) {
                *n -= 1;
                if *n == 0 {
                    t.by_peer.remove(&self.conn.peer);
                }
            }
        }
    }
}

impl Conns {
    pub(crate) fn new(max: usize, per_peer: Option<usize>) -> Arc<Conns> {
        Arc::new(Conns {
            max,
            per_peer,
            epoch: Instant::now(),
            table: Mutex::new(Table::default()),
        })
    }

    /// Admits a connection from `peer`, evicting an idle one at the limit
    /// (see the module docs).
    pub(crate) fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<Admitted, Refused> {
        let mut t = lock(&self.table);
        if let Some(cap) = self.per_peer {
            if t.by_peer.get(&peer).copied().unwrap_or(0) >= cap {
                return Err(Refused::PeerCap);
            }
        }
        let mut evicted_one = false;
        if t.live >= self.max {
            // Connections being evicted still count until their tasks end;
            // one new connection per eviction keeps the excess at most the
            // evictions in flight.
            let victim = t.oldest_silent().or_else(|| t.longest_idle());
            match victim {
                Some(v) => {
                    v.evicted.store(true, Ordering::Relaxed);
                    v.evict.notify_one();
                    evicted_one = true;
                }
                None => return Err(Refused::Full),
            }
        }
        let index = t.free.pop().unwrap_or_else(|| {
            t.slots.push(None);
            t.slots.len() - 1
        });
        let conn = Arc::new(Conn {
            busy: AtomicU64::new(0),
            served: AtomicBool::new(false),
            read_any: AtomicBool::new(false),
            since: AtomicU64::new(self.epoch.elapsed().as_millis() as u64),
            evicted: AtomicBool::new(false),
            evict: Notify::new(),
            epoch: self.epoch,
            peer,
            index,
        });
        t.slots[index] = Some(Arc::clone(&conn));
        t.live += 1;
        if t.arrivals.len() > 2 * t.live + 16 {
            let slots = std::mem::take(&mut t.slots);
            t.arrivals.retain(|c| {
                slots[c.index].as_ref().is_some_and(|s| Arc::ptr_eq(s, c))
                    && !c.served.load(Ordering::Relaxed)
            });
            t.slots = slots;
        }
        t.arrivals.push_back(Arc::clone(&conn));
        if self.per_peer.is_some() {
            *t.by_peer.entry(peer).or_insert(0) += 1;
        }
        Ok(Admitted {
            conn,
            conns: Arc::clone(self),
            evicted_one,
        })
    }
}

/// A response body that keeps its connection busy until the body and every
/// buffer it handed out are written (and dropped).
pub(crate) struct Tracked<B> {
    inner: B,
    conn: Arc<Conn>,
}

impl<B> Tracked<B> {
    /// Wraps a response body of the request `conn` began.
    pub(crate) fn new(inner: B, conn: Arc<Conn>) -> Self {
        Tracked { inner, conn }
    }
}

impl<B> Drop for Tracked<B> {
    fn drop(&mut self) {
        self.conn.done();
    }
}

impl<B: Body + Unpin> Body for Tracked<B> {
    type Data = TrackedBuf<B::Data>;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let conn = Arc::clone(&self.conn);
        Pin::new(&mut self.inner).poll_frame(cx).map(|f| {
            f.map(|r| {
                r.map(|frame| {
                    frame.map_data(|data| {
                        conn.busy.fetch_add(1, Ordering::AcqRel);
                        TrackedBuf {
                            inner: data,
                            conn: Arc::clone(&conn),
                        }
                    })
                })
            })
        })
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response buffer that keeps its connection busy until written.
pub(crate) struct TrackedBuf<D> {
    inner: D,
    conn: Arc<Conn>,
}

impl<D> Drop for TrackedBuf<D> {
    fn drop(&mut self) {
        self.conn.done();
    }
}

impl<D: Buf> Buf for TrackedBuf<D> {
    fn remaining(&self) -> usize {
        self.inner.remaining()
    }

    fn chunk(&self) -> &[u8] {
        self.inner.chunk()
    }

    fn advance(&mut self, cnt: usize) {
        self.inner.advance(cnt)
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [std::io::IoSlice<'a>]) -> usize {
        self.inner.chunks_vectored(dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip() -> IpAddr {
        IpAddr::from([127, 0, 0, 1])
    }

    #[test]
    fn at_the_limit_the_oldest_silent_then_the_longest_idle_goes_never_a_busy_one() {
        let conns = Conns::new(3, None);
        let a = conns.admit(ip()).unwrap();
        let b = conns.admit(ip()).unwrap();
        let c = conns.admit(ip()).unwrap();
        // a: busy; b: served and idle; c: silent (never a request).
        a.conn.begin();
        b.conn.begin();
        b.conn.done();
        let d = conns.admit(ip()).unwrap();
        assert!(d.evicted_one);
        assert!(
            c.conn.evicted.load(Ordering::Relaxed),
            "the silent one first"
        );
        drop(c);
        // d is silent now, and newer than nothing else silent: it goes
        // before the idle b.
        let e = conns.admit(ip()).unwrap();
        assert!(d.conn.evicted.load(Ordering::Relaxed));
        drop(d);
        // e silent, b idle, a busy: e goes, then b.
        e.conn.begin();
        let f = conns.admit(ip()).unwrap();
        assert!(b.conn.evicted.load(Ordering::Relaxed), "then the idle one");
        drop(b);
        f.conn.begin();
        // All busy: refused.
        assert_eq!(conns.admit(ip()).unwrap_err(), Refused::Full);
        assert!(!a.conn.evicted.load(Ordering::Relaxed));
        a.conn.done();
        assert!(
            conns.admit(ip()).unwrap().evicted_one,
            "idle again: evictable"
        );
    }

    #[test]
    fn a_peer_cap_refuses_that_peer_only() {
        let conns = Conns::new(10, Some(2));
        let _a = conns.admit(ip()).unwrap();
        let b = conns.admit(ip()).unwrap();
        assert_eq!(conns.admit(ip()).unwrap_err(), Refused::PeerCap);
        let _other = conns.admit(IpAddr::from([127, 0, 0, 2])).unwrap();
        drop(b);
        assert!(conns.admit(ip()).is_ok());
    }
}
