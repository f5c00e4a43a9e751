//! The exporter's counters about itself: [`StatsInner`], shared by the
//! accept loop, the router and the scraper, and its public snapshot
//! [`Stats`].
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Counters the exporter keeps about itself.
#[derive(Debug, Default)]
pub(crate) struct StatsInner {
    pub(crate) connections_accepted: AtomicU64,
    pub(crate) connections_rejected: AtomicU64,
    pub(crate) connections_rejected_per_peer: AtomicU64,
    pub(crate) connections_evicted: AtomicU64,
    pub(crate) connections_active: AtomicU64,
    pub(crate) requests: AtomicU64,
    pub(crate) scrapes: AtomicU64,
    pub(crate) encodes: AtomicU64,
    pub(crate) encode_panics: AtomicU64,
    pub(crate) handler_failures: AtomicU64,
    pub(crate) last_encode_nanos: AtomicU64,
}

impl StatsInner {
    /// The counters as they are now.
    pub(crate) fn snapshot(&self) -> Stats {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Stats {
            connections_accepted: load(&self.connections_accepted),
            connections_rejected: load(&self.connections_rejected),
            connections_rejected_per_peer: load(&self.connections_rejected_per_peer),
            connections_evicted: load(&self.connections_evicted),
            connections_active: load(&self.connections_active),
            requests: load(&self.requests),
            scrapes: load(&self.scrapes),
            encodes: load(&self.encodes),
            encode_panics: load(&self.encode_panics),
            handler_failures: load(&self.handler_failures),
            last_encode: Duration::from_nanos(load(&self.last_encode_nanos)),
        }
    }
}

/// A snapshot of the exporter's own counters, from [`ExporterHandle::stats`].
///
/// The counters are also served on `/metrics` as `telemeter_http_*` families
/// unless [`ExporterBuilder::self_metrics`] turned them off.
///
/// [`ExporterHandle::stats`]: super::ExporterHandle::stats
/// [`ExporterBuilder::self_metrics`]: super::ExporterBuilder::self_metrics
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Connections accepted and served.
    pub connections_accepted: u64,
    /// Connections closed at accept: the listener's connection limit was
    /// reached with every connection busy, or the peer's cap was.
    pub connections_rejected: u64,
    /// Of those, connections closed at accept because their peer address
    /// held [`ExporterBuilder::max_connections_per_peer`] connections.
    ///
    /// [`ExporterBuilder::max_connections_per_peer`]: super::ExporterBuilder::max_connections_per_peer
    pub connections_rejected_per_peer: u64,
    /// Idle connections closed to admit a new one at the connection limit
    /// (silent ones first, then the longest idle).
    pub connections_evicted: u64,
    /// Connections being served now.
    pub connections_active: u64,
    /// HTTP requests received, on every path.
    pub requests: u64,
    /// Requests for `/metrics` (GET or HEAD).
    pub scrapes: u64,
    /// Encodes run; below `scrapes` when concurrent scrapes shared one.
    pub encodes: u64,
    /// Encodes that panicked (served as 500).
    pub encode_panics: u64,
    /// Admin pages and host routes whose handler panicked, or gave an
    /// answer that could not be sent (served as 500).
    pub handler_failures: u64,
    /// How long the latest encode (and its gzip) took.
    pub last_encode: Duration,
}
