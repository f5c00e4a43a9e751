//! The nexo-rs seed's agent directory pages, shared by `examples/nexo_agent.rs`
//! and `telemeter demo` (which includes this file): `/admin/agents`
//! filtered by `?id=` and `?status=`, and `/admin/tool-policy` narrowed to
//! one agent by `?agent=`.

use serde_json::{json, Value};
use telemeter::server::{AdminError, AdminRequest};

/// The states an agent runtime reports.
pub const STATUSES: [&str; 4] = ["starting", "running", "stopped", "draining"];

/// `/admin/agents`: `{"agents": [...]}`, each agent an object with an `id`
/// and a `status`. `?id=ID` keeps that agent (404 if there is none);
/// `?status=S` (repeatable) keeps the agents in any of those states; any
/// other parameter, or a state that does not exist, is a 400.
pub fn agents_page(req: &AdminRequest, agents: Vec<Value>) -> Result<Value, AdminError> {
    let q = req.query();
    if let Some(k) = q.unknown_key(&["id", "status"]) {
        return Err(AdminError::bad_request(format!(
            "unknown parameter {k:?}: /admin/agents takes id=AGENT and status={}",
            STATUSES.join("|")
        )));
    }
    let statuses: Vec<&str> = q.get_all("status").collect();
    if let Some(bad) = statuses.iter().find(|s| !STATUSES.contains(s)) {
        return Err(AdminError::bad_request(format!(
            "unknown status {bad:?}: one of {}",
            STATUSES.join(", ")
        )));
    }
    let id_of = |a: &Value| a["id"].as_str().unwrap_or_default().to_string();
    if let Some(id) = q.get("id") {
        if !agents.iter().any(|a| id_of(a) == id) {
            return Err(unknown_agent(id, &agents));
        }
    }
    let kept: Vec<Value> = agents
        .iter()
        .filter(|a| q.get("id").is_none_or(|id| id_of(a) == id))
        .filter(|a| {
            statuses.is_empty() || statuses.contains(&a["status"].as_str().unwrap_or_default())
        })
        .cloned()
        .collect();
    Ok(json!({ "agents": kept }))
}

/// `/admin/tool-policy`: the whole registry `all` (`{"default", "tools",
/// "agents": [{"agent", ...}]}`), or with `?agent=ID` that agent's entry
/// beside the default (404 for an unknown agent; any other parameter 400).
pub fn policy_page(req: &AdminRequest, all: Value) -> Result<Value, AdminError> {
    let q = req.query();
    if let Some(k) = q.unknown_key(&["agent"]) {
        return Err(AdminError::bad_request(format!(
            "unknown parameter {k:?}: /admin/tool-policy takes agent=AGENT"
        )));
    }
    let Some(id) = q.get("agent") else {
        return Ok(all);
    };
    let agents = all["agents"].as_array().cloned().unwrap_or_default();
    let Some(entry) = agents.iter().find(|a| a["agent"] == id) else {
        let ids: Vec<Value> = agents.iter().map(|a| json!({ "id": a["agent"] })).collect();
        return Err(unknown_agent(id, &ids));
    };
    let mut one = entry.clone();
    one["default"] = all["default"].clone();
    Ok(one)
}

fn unknown_agent(id: &str, agents: &[Value]) -> AdminError {
    let known: Vec<&str> = agents.iter().filter_map(|a| a["id"].as_str()).collect();
    AdminError::not_found(format!(
        "no agent {id:?} (known: {})",
        if known.is_empty() {
            "none".to_string()
        } else {
            known.join(", ")
        }
    ))
}
