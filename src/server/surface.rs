//! [`Surface`]: the names of the exporter's HTTP surfaces, as errors and
//! the builder spell them.
#![forbid(unsafe_code)]

use std::fmt;

/// One of the exporter's HTTP surfaces, as named in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Surface {
    /// `/metrics`.
    Metrics,
    /// `/health` and `/ready`.
    Health,
    /// The admin console, `/admin/...`.
    Admin,
}

impl fmt::Display for Surface {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Surface::Metrics => "metrics",
            Surface::Health => "health",
            Surface::Admin => "admin",
        })
    }
}
