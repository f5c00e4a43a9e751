//! What an admin page handler sees of its request ([`AdminRequest`]) and
//! how it refuses one ([`AdminError`]).
#![forbid(unsafe_code)]

use std::fmt;

use super::query::Query;

/// The request an admin page answers: method, path and decoded query.
///
/// # Examples
///
/// ```
/// use telemeter::server::{AdminError, AdminRequest, Exporter};
/// let agents = ["kate", "ops-bot"];
/// let exporter = Exporter::builder().admin_handler("/admin/agent", move |req: &AdminRequest| {
///     let Some(id) = req.query().get("id") else {
///         return Err(AdminError::bad_request("give ?id=AGENT"));
///     };
///     if !agents.contains(&id) {
///         return Err(AdminError::not_found(format!("no agent {id:?}")));
///     }
///     Ok(serde_json::json!({ "id": id, "path": req.path() }))
/// });
/// # drop(exporter);
/// ```
#[derive(Debug, Clone)]
pub struct AdminRequest {
    pub(crate) method: &'static str,
    pub(crate) path: String,
    pub(crate) query: Query,
}

impl AdminRequest {
    /// `"GET"` or `"HEAD"` (the console answers no other method).
    #[must_use]
    pub fn method(&self) -> &str {
        self.method
    }

    /// The path, as registered (`/admin/agents`).
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The decoded query string (empty without one).
    #[must_use]
    pub fn query(&self) -> &Query {
        &self.query
    }
}

/// An admin page's refusal: a status (4xx) and a message, served as
/// `{"error": message}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminError {
    status: u16,
    message: String,
}

impl AdminError {
    /// 404: what the request names does not exist (an unknown agent).
    #[must_use]
    pub fn not_found(message: impl Into<String>) -> AdminError {
        AdminError {
            status: 404,
            message: message.into(),
        }
    }

    /// 400: the request itself is wrong (a missing or unknown parameter).
    #[must_use]
    pub fn bad_request(message: impl Into<String>) -> AdminError {
        AdminError {
            status: 400,
            message: message.into(),
        }
    }

    /// The HTTP status.
    #[must_use]
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The message of the JSON body.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for AdminError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.message)
    }
}

impl std::error::Error for AdminError {}
