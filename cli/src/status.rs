//! `telemeter status`: the nexo-rs seed's `agent status` — read
//! `/admin/agents` from an admin console and print a table or JSON.

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use serde_json::Value;

use crate::http::{self, printable, Endpoint, HttpError};

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
    /// Seconds the whole exchange may take: resolving, connecting and
    /// reading the whole response (at most 3600).
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

/// Why `status` printed no directory: a usage error (exit 2) or a failed
/// exchange (exit 1), with the message for stderr.
#[derive(Debug)]
pub enum Failure {
    /// The command line is wrong.
    Usage(String),
    /// The endpoint could not be read, or answered no agent directory.
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
    // With --agent-id the console filters (`?id=`); `report` still picks
    // the agent out, for a console that ignores the query.
    let path = match &args.agent_id {
        Some(id) => format!("{AGENTS_PATH}?id={}", percent_encode(id)),
        None => AGENTS_PATH.to_string(),
    };
    let url = endpoint.url(&path);
    let resp = http::get(&endpoint, &path, timeout).map_err(|e| {
        Failure::Failed(match e {
            HttpError::Runtime(_) => format!("cannot read {url}: {e}"),
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
    report(&url, &resp, args.agent_id.as_deref(), args.json)
}

/// What `status` prints for `resp`, the answer of `url`: the directory (or
/// the agent `agent_id`) as a table or as JSON, or why there is none.
pub fn report(
    url: &str,
    resp: &http::Response,
    agent_id: Option<&str>,
    json: bool,
) -> Result<String, Failure> {
    if let (Some(id), 404) = (agent_id, resp.status) {
        // The console knows no such agent; its JSON error names the known
        // ones.
        let why = serde_json::from_slice::<Value>(&resp.body)
            .ok()
            .and_then(|v| v["error"].as_str().map(printable))
            .unwrap_or_else(|| http::snippet(&resp.body));
        return Err(Failure::Failed(format!(
            "no agent with id {id:?} at {url}: {why}"
        )));
    }
    if resp.status != 200 {
        return Err(Failure::Failed(format!(
            "{url} answered {} {}: {}",
            resp.status,
            printable(&resp.reason),
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

    if let Some(id) = agent_id {
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
                    printable(&known.join(", "))
                }
            )));
        };
        return Ok(if json {
            pretty(agent)
        } else {
            table(std::slice::from_ref(agent))
        });
    }
    Ok(if json { pretty(&page) } else { table(agents) })
}

/// `v` as pretty JSON, with the control characters that JSON lets through
/// raw (DEL, and C1 controls such as U+009B, which some terminals read as
/// an escape sequence) escaped as `\u....`: still the same JSON, and
/// nothing in it can drive the terminal.
fn pretty(v: &Value) -> String {
    let text = serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string());
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        // Outside strings pretty JSON has only '\n' and spaces, so any
        // other control character is inside a string, where `\u` is valid.
        if c.is_control() && c != '\n' {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// `s` percent-encoded for a query value: every byte but the unreserved
/// ones (RFC 3986) as `%XX`.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
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
    fn json_output_escapes_the_control_characters_json_lets_through() {
        let v = serde_json::json!({"id\u{7f}": "a\u{9b}2J", "n": "\u{1b}"});
        let out = pretty(&v);
        assert!(!out.chars().any(|c| c.is_control() && c != '\n'), "{out:?}");
        assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), v);
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(percent_encode("kate"), "kate");
        assert_eq!(percent_encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
        assert_eq!(percent_encode("ops-bot_1.x~"), "ops-bot_1.x~");
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
