//! `telemeter status`: the nexo-rs seed's `agent status` — read
//! `/admin/agents` from an admin console and print a table or JSON.

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use serde_json::Value;

use crate::http::{self, Endpoint, HttpError};

pub const AFTER_HELP: &str = "\
Examples:
  telemeter status                                   # table of every agent
  telemeter status --agent-id kate                   # one agent
  telemeter status --json | jq '.agents[].sessions'  # for scripts
  telemeter status --endpoint http://127.0.0.1:19091

Exit status: 0 on success, 1 when the endpoint is unreachable, answers an
error or something other than an agent directory, or has no such agent;
2 on a usage error.";

/// Options of `telemeter status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Base URL of the admin console (plain http; loopback by design).
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:9091")]
    endpoint: String,
    /// Show only the agent with this id.
    #[arg(long, value_name = "ID")]
    agent_id: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Seconds to wait for the connection and for each read (at most
    /// 3600).
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    timeout: f64,
}

const AGENTS_PATH: &str = "/admin/agents";

pub fn run(args: StatusArgs) -> ExitCode {
    match status(&args) {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(Failure::Usage(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(2)
        }
        Err(Failure::Failed(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::FAILURE
        }
    }
}

enum Failure {
    Usage(String),
    Failed(String),
}

fn status(args: &StatusArgs) -> Result<String, Failure> {
    let endpoint = Endpoint::parse(&args.endpoint)
        .map_err(|e| Failure::Usage(format!("invalid --endpoint {:?}: {e}", args.endpoint)))?;
    if !(args.timeout.is_finite() && args.timeout > 0.0 && args.timeout <= 3600.0) {
        return Err(Failure::Usage(format!(
            "invalid --timeout {}: give a positive number of seconds, at most 3600",
            args.timeout
        )));
    }
    let timeout = Duration::from_secs_f64(args.timeout);
    let url = endpoint.url(AGENTS_PATH);
    let resp = http::get(&endpoint, AGENTS_PATH, timeout).map_err(|e| {
        Failure::Failed(match e {
            HttpError::Resolve(_) | HttpError::Connect(_) => format!(
                "cannot reach the admin console at {url}: {e}; is the agent running, and does \
                 --endpoint point at its admin console (127.0.0.1:9091 by default)?"
            ),
            HttpError::Garbage(_) => format!(
                "{url} did not answer like an admin console: {e}; does --endpoint point at a \
                 telemeter admin console?"
            ),
            HttpError::Timeout { .. } => format!(
                "{url} did not answer in time: {e}; the agent may be overloaded, or raise \
                 --timeout"
            ),
        })
    })?;
    if resp.status != 200 {
        return Err(Failure::Failed(format!(
            "{url} answered {} {}: {}",
            resp.status,
            resp.reason,
            http::snippet(&resp.body).trim_end()
        )));
    }
    let page: Value = serde_json::from_slice(&resp.body).map_err(|e| {
        Failure::Failed(format!(
            "{url} answered with something other than JSON ({e}): {:?}",
            http::snippet(&resp.body)
        ))
    })?;
    let Some(agents) = page.get("agents").and_then(Value::as_array) else {
        return Err(Failure::Failed(format!(
            "{url} answered JSON without an \"agents\" array: {}",
            http::snippet(page.to_string().as_bytes())
        )));
    };

    if let Some(id) = &args.agent_id {
        let Some(agent) = agents
            .iter()
            .find(|a| a.get("id").and_then(Value::as_str) == Some(id))
        else {
            let known: Vec<&str> = agents
                .iter()
                .filter_map(|a| a.get("id").and_then(Value::as_str))
                .collect();
            return Err(Failure::Failed(format!(
                "no agent with id {id:?} at {url} (known: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )));
        };
        return Ok(if args.json {
            pretty(agent)
        } else {
            table(std::slice::from_ref(agent))
        });
    }
    Ok(if args.json {
        pretty(&page)
    } else {
        table(agents)
    })
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

/// `s` with its control characters (ESC, BEL, CR, NUL, ...) escaped
/// (`\u{1b}`, `\r`, ...), so that an endpoint's text cannot drive the
/// terminal or break the table.
fn printable(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// A table with `id`, `status`, `sessions` first, then every other key any
/// agent has, in name order.
fn table(agents: &[Value]) -> String {
    const FIRST: [&str; 3] = ["id", "status", "sessions"];
    let mut extra: BTreeSet<&str> = BTreeSet::new();
    for a in agents {
        if let Some(obj) = a.as_object() {
            extra.extend(
                obj.keys()
                    .map(String::as_str)
                    .filter(|k| !FIRST.contains(k)),
            );
        }
    }
    let columns: Vec<&str> = FIRST.iter().copied().chain(extra).collect();
    let mut rows: Vec<Vec<String>> = vec![columns
        .iter()
        .map(|c| printable(&c.to_uppercase()))
        .collect()];
    for a in agents {
        rows.push(
            columns
                .iter()
                .map(|c| match a.get(c) {
                    None | Some(Value::Null) => "-".to_string(),
                    Some(Value::String(s)) => printable(s),
                    Some(v) => printable(&v.to_string()),
                })
                .collect(),
        );
    }
    let widths: Vec<usize> = (0..columns.len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for (n, row) in rows.iter().enumerate() {
        if n > 0 {
            out.push('\n');
        }
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            line.push_str(cell);
            line.extend(std::iter::repeat_n(' ', widths[i] - cell.chars().count()));
        }
        out.push_str(line.trim_end());
    }
    if agents.is_empty() {
        out.push_str("\n(no agents)");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_in_the_table() {
        let agents = vec![serde_json::json!({
            "id": "kate\u{1b}[2J\u{7}",
            "status": "run\rning\u{0}",
            "sessions": 1,
            "note\u{1b}": "ok ✓",
        })];
        let t = table(&agents);
        assert!(!t.chars().any(|c| c.is_control() && c != '\n'), "{t:?}");
        assert!(t.contains("kate\\u{1b}[2J\\u{7}"), "{t}");
        assert!(t.contains("run\\rning\\u{0}"), "{t}");
        assert!(t.contains("NOTE\\u{1b}") && t.contains("ok ✓"), "{t}");
    }

    #[test]
    fn table_layout() {
        let agents: Vec<Value> = serde_json::from_str(
            r#"[{"id":"kate","status":"running","sessions":3,"model":"m1"},
                {"id":"ops-bot","status":"starting","sessions":0}]"#,
        )
        .unwrap();
        assert_eq!(
            table(&agents),
            "ID       STATUS    SESSIONS  MODEL\n\
             kate     running   3         m1\n\
             ops-bot  starting  0         -"
        );
        assert_eq!(table(&[]), "ID  STATUS  SESSIONS\n(no agents)");
    }
}
