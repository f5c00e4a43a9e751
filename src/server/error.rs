//! The exporter's error type.
#![forbid(unsafe_code)]

use std::fmt;
use std::io;
use std::net::SocketAddr;

use super::surface::Surface;

/// Everything that can stop an [`Exporter`](super::Exporter) from starting, or a
/// readiness check or admin page from being registered.
///
/// Each variant's message names the problem and how to fix it.
///
/// # Examples
///
/// ```
/// use telemeter::server::{Exporter, ServerError};
///
/// let err = Exporter::builder()
///     .metrics_addr("not an address")
///     .no_health()
///     .no_admin()
///     .start()
///     .unwrap_err();
/// assert!(matches!(err, ServerError::InvalidAddress { .. }));
/// assert!(err.to_string().contains("not an address"));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum ServerError {
    /// An address string could not be parsed or resolved.
    InvalidAddress {
        /// The surface the address was given for.
        surface: Surface,
        /// The address as given.
        addr: String,
        /// Why it was rejected.
        reason: String,
    },
    /// Binding a listener failed (port in use, permission denied, address not
    /// local to this host).
    Bind {
        /// The surfaces that were to share this listener.
        surfaces: Vec<Surface>,
        /// The address that could not be bound.
        addr: SocketAddr,
        /// The operating system's error.
        source: io::Error,
    },
    /// The admin console was asked to listen on an address other than
    /// loopback without the explicit opt-in.
    NonLoopbackAdmin {
        /// The address that was refused.
        addr: SocketAddr,
    },
    /// An admin page path is not acceptable.
    InvalidAdminPath {
        /// The path as given.
        path: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A host route cannot be registered
    /// ([`ExporterBuilder::route`](super::ExporterBuilder::route)).
    InvalidRoute {
        /// The surface it was registered on.
        surface: Surface,
        /// Its path or prefix, as given.
        path: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A readiness check or fact name is not acceptable.
    InvalidReadinessName {
        /// The name as given.
        name: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// The metrics surface is enabled but nothing was given to serve (only
    /// in builds without a default registry).
    NoSource,
    /// A limit was configured to a value the server cannot work with.
    InvalidLimit {
        /// The builder method whose value was refused.
        setting: &'static str,
        /// Why it was rejected.
        reason: String,
    },
    /// The exporter's own tokio runtime could not be built.
    Runtime(io::Error),
    /// The exporter's thread could not be spawned.
    Thread(io::Error),
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerError::InvalidAddress {
                surface,
                addr,
                reason,
            } => write!(
                f,
                "invalid {surface} address {addr:?}: {reason}; give \"host:port\" \
                 (e.g. \"0.0.0.0:9090\", \"127.0.0.1:0\", \"[::1]:9090\"), \":port\" for all \
                 interfaces, or \"\" to disable the surface"
            ),
            ServerError::Bind {
                surfaces,
                addr,
                source,
            } => {
                let names: Vec<String> = surfaces.iter().map(|s| s.to_string()).collect();
                write!(
                    f,
                    "cannot listen on {addr} for the {} surface: {source}; pick a free port \
                     (or port 0 for an OS-chosen one), an address of this host, or disable the \
                     surface",
                    names.join(" + ")
                )
            }
            ServerError::NonLoopbackAdmin { addr } => write!(
                f,
                "refusing to serve the admin console on {addr}: it is not a loopback address and \
                 the admin pages expose internal state; bind it to 127.0.0.1 or [::1] and reach \
                 it through a tunnel, or call .allow_non_loopback_admin(true) if it is protected \
                 by other means"
            ),
            ServerError::InvalidAdminPath { path, reason } => write!(
                f,
                "invalid admin page path {path:?}: {reason}; admin pages live under \"/admin/\", \
                 e.g. \"/admin/agents\", and each path is registered once"
            ),
            ServerError::InvalidRoute {
                surface,
                path,
                reason,
            } => write!(
                f,
                "cannot route {path:?} on the {surface} listener: {reason}; routes take paths \
                 of the host's own, e.g. Route::exact(\"/whatsapp/pair\") or \
                 Route::prefix(\"/whatsapp/\")"
            ),
            ServerError::InvalidReadinessName { name, reason } => write!(
                f,
                "invalid readiness name {name:?}: {reason}; use a unique, non-empty name other \
                 than \"status\", e.g. \"broker_ready\" or \"agents_running\""
            ),
            ServerError::NoSource => write!(
                f,
                "the metrics surface is enabled but has nothing to serve; call \
                 .source(..) or .registry(..) on the builder, or disable metrics with \
                 .no_metrics() / .metrics_addr(\"\")"
            ),
            ServerError::InvalidLimit { setting, reason } => {
                write!(f, "invalid value for .{setting}(..): {reason}")
            }
            ServerError::Runtime(e) => write!(
                f,
                "cannot build the exporter's tokio runtime: {e}; check the process's thread and \
                 file descriptor limits, or hand in a runtime with .runtime(handle)"
            ),
            ServerError::Thread(e) => write!(
                f,
                "cannot spawn the exporter's thread: {e}; check the process's thread limit, or \
                 hand in a runtime with .runtime(handle)"
            ),
        }
    }
}

impl std::error::Error for ServerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ServerError::Bind { source, .. } => Some(source),
            ServerError::Runtime(e) | ServerError::Thread(e) => Some(e),
            _ => None,
        }
    }
}
