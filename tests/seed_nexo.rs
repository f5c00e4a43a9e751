//! Conformance of `examples/nexo_agent.rs` with the nexo-rs metrics and
//! health seed (`seeds/nexo-rs-metrics-health.md`), line by line: ports,
//! the metrics table with its label value sets, scrape-time breaker gauges,
//! fingerprinted accounts, the pending-pairing resync, `/health` and `/ready`
//! per the flowchart, the admin console and `telemeter status`, the alert
//! rules, the scrape config and the Kubernetes probes. docs/seeds.md maps
//! each seed line to a test here.

mod prom_support;
mod seed_support;
use prom_support::server_support;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use prom_support::promtool_lint;
use seed_support::{
    assert_selectors_exported, assert_specs, eventually, example_bin, label_values, promtool,
    run_promtool, value, Agent, Spec,
};
use server_support::{get, post_form, try_get};
use telemeter::fingerprint::Fingerprint;
use telemeter::parse::{parse, Exposition, MetricType};

use MetricType::{Counter, Gauge, Histogram};

/// The seed's `/metrics` table. Value sets are the seed's `label={...}`
/// sets; `llm_requests_total` also has the `outcome` label that the seed's
/// `LlmError5xxHigh` alert needs (docs/seeds.md).
const SEED: &[Spec] = &[
    Spec {
        name: "llm_requests_total",
        kind: Counter,
        labels: &["agent", "provider", "model", "outcome"],
        values: &[("outcome", &["ok", "error", "client_error"])],
    },
    Spec {
        name: "llm_latency_ms",
        kind: Histogram,
        labels: &["agent", "provider", "model"],
        values: &[],
    },
    Spec {
        name: "messages_processed_total",
        kind: Counter,
        labels: &["agent"],
        values: &[],
    },
    Spec {
        name: "nexo_extensions_discovered",
        kind: Counter,
        labels: &["status"],
        values: &[("status", &["ok", "disabled", "invalid"])],
    },
    Spec {
        name: "nexo_tool_calls_total",
        kind: Counter,
        labels: &["agent", "outcome", "tool"],
        values: &[("outcome", &["ok", "error", "blocked", "unknown"])],
    },
    Spec {
        name: "nexo_tool_cache_events_total",
        kind: Counter,
        labels: &["agent", "event", "tool"],
        values: &[("event", &["hit", "miss", "put", "evict"])],
    },
    Spec {
        name: "nexo_tool_latency_ms",
        kind: Histogram,
        labels: &["agent", "tool"],
        values: &[],
    },
    Spec {
        name: "circuit_breaker_state",
        kind: Gauge,
        labels: &["breaker"],
        values: &[],
    },
    Spec {
        name: "credentials_accounts_total",
        kind: Gauge,
        labels: &["channel"],
        values: &[],
    },
    Spec {
        name: "credentials_bindings_total",
        kind: Gauge,
        labels: &["agent", "channel"],
        values: &[],
    },
    Spec {
        name: "channel_account_usage_total",
        kind: Counter,
        labels: &["agent", "channel", "direction", "instance"],
        values: &[("direction", &["inbound", "outbound"])],
    },
    Spec {
        name: "channel_acl_denied_total",
        kind: Counter,
        labels: &["agent", "channel", "instance"],
        values: &[],
    },
    Spec {
        name: "credentials_resolve_errors_total",
        kind: Counter,
        labels: &["channel", "reason"],
        values: &[("reason", &["unbound", "not_found", "not_permitted"])],
    },
    Spec {
        name: "credentials_breaker_state",
        kind: Gauge,
        labels: &["channel", "instance"],
        values: &[],
    },
    Spec {
        name: "credentials_boot_validation_errors_total",
        kind: Counter,
        labels: &["kind"],
        values: &[],
    },
    Spec {
        name: "credentials_insecure_paths_total",
        kind: Gauge,
        labels: &[],
        values: &[],
    },
    Spec {
        name: "credentials_google_token_refresh_total",
        kind: Counter,
        labels: &["account_fp", "outcome"],
        values: &[("outcome", &["ok", "err"])],
    },
    Spec {
        name: "pairing_inbound_challenged_total",
        kind: Counter,
        labels: &["channel", "result"],
        values: &[(
            "result",
            &[
                "delivered_via_adapter",
                "delivered_via_broker",
                "publish_failed",
                "no_adapter_no_broker_topic",
            ],
        )],
    },
    Spec {
        name: "pairing_approvals_total",
        kind: Counter,
        labels: &["channel", "result"],
        values: &[("result", &["ok", "expired", "not_found"])],
    },
    Spec {
        name: "pairing_codes_expired_total",
        kind: Counter,
        labels: &[],
        values: &[],
    },
    Spec {
        name: "pairing_bootstrap_tokens_issued_total",
        kind: Counter,
        labels: &["profile"],
        values: &[],
    },
    Spec {
        name: "pairing_requests_pending",
        kind: Gauge,
        labels: &["channel"],
        values: &[],
    },
];

/// What `promtool check metrics` says about the body: exactly the findings
/// the seed's own names force, nothing about anything telemeter chose.
const EXPECTED_LINT: &[&str] = &[
    // The seed names these gauges *_total.
    "credentials_accounts_total non-counter metrics should not have \"_total\" suffix",
    "credentials_bindings_total non-counter metrics should not have \"_total\" suffix",
    "credentials_insecure_paths_total non-counter metrics should not have \"_total\" suffix",
    // The seed's histograms are in milliseconds, not base units.
    "llm_latency_ms metric names should not contain abbreviated units",
    "nexo_tool_latency_ms metric names should not contain abbreviated units",
    // The seed's counter has no _total suffix.
    "nexo_extensions_discovered counter metrics should have \"_total\" suffix",
];

/// (family, sample) pairs the simulated workload must have moved before a
/// test looks.
const MOVED: &[(&str, &str)] = &[
    ("llm_requests_total", "llm_requests_total"),
    ("llm_latency_ms", "llm_latency_ms_count"),
    ("messages_processed_total", "messages_processed_total"),
    ("nexo_tool_calls_total", "nexo_tool_calls_total"),
    ("nexo_extensions_discovered", "nexo_extensions_discovered"),
    ("channel_account_usage_total", "channel_account_usage_total"),
];

fn total(exp: &Exposition, family: &str, sample: &str) -> f64 {
    exp.family(family)
        .map(|f| {
            f.samples
                .iter()
                .filter(|s| s.name == sample)
                .map(|s| s.value)
                .sum()
        })
        .unwrap_or(0.0)
}

const GOOGLE_ACCOUNTS: [&str; 2] = ["kate@example.com", "ops@example.com"];

fn start(extra: &[&str]) -> Agent {
    let mut args = vec![
        "--metrics-addr",
        "127.0.0.1:0",
        "--health-addr",
        "127.0.0.1:0",
        "--admin-addr",
        "127.0.0.1:0",
        "--drain-ms",
        "3000",
    ];
    args.extend_from_slice(extra);
    let agent = Agent::start(&example_bin("nexo_agent"), &args, 4);
    let surfaces: Vec<(&str, &str)> = agent
        .surfaces
        .iter()
        .map(|(s, _, p)| (s.as_str(), p.as_str()))
        .collect();
    assert_eq!(
        surfaces,
        [
            ("metrics", "/metrics"),
            ("health", "/health"),
            ("ready", "/ready"),
            ("admin", "/admin/agents"),
        ]
    );
    agent
}

/// `(status, body)` of `/ready`.
fn ready(agent: &Agent) -> (u16, String) {
    let r = get(agent.addr("ready"), "/ready");
    (r.status, r.text())
}

fn wait_ready(agent: &Agent) {
    eventually(Duration::from_secs(30), "/ready to answer 200", || {
        try_get(agent.addr("ready"), "/ready").is_some_and(|r| r.status == 200)
    });
}

fn scrape(agent: &Agent) -> (String, Exposition) {
    let resp = get(agent.addr("metrics"), "/metrics");
    assert_eq!(resp.status, 200);
    let body = resp.text();
    let exp = parse(&body).unwrap_or_else(|e| panic!("unparsable scrape: {e}\n{body}"));
    (body, exp)
}

/// A booted agent whose workload ran a little and is now paused.
fn paused_agent() -> (Agent, String, Exposition) {
    let mut agent = start(&["--boot-ms", "300"]);
    wait_ready(&agent);
    eventually(Duration::from_secs(30), "the workload to move", || {
        let (_, exp) = scrape(&agent);
        MOVED.iter().all(|(f, s)| total(&exp, f, s) > 0.0)
    });
    agent.command("pause");
    let (body, exp) = scrape(&agent);
    (agent, body, exp)
}

fn nats(exp: &Exposition) -> f64 {
    value(
        exp,
        "circuit_breaker_state",
        "circuit_breaker_state",
        &[("breaker", "nats")],
    )
}

fn strings(v: &serde_json::Value, key: &str) -> BTreeSet<String> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(|x| x[key].as_str().expect("a string").to_string())
        .collect()
}

#[test]
fn every_seed_series_with_its_type_labels_and_value_sets() {
    let (agent, body, exp) = paused_agent();
    assert_specs(&exp, SEED);

    // Nothing but the seed's families, the process metrics and telemeter's
    // self-metrics.
    let seed: BTreeSet<&str> = SEED.iter().map(|s| s.name).collect();
    let extra: Vec<&str> = exp
        .families
        .iter()
        .map(|f| f.name.as_str())
        .filter(|n| {
            !seed.contains(n)
                && !n.starts_with("telemeter_")
                && !telemeter::process::NAMES.contains(n)
        })
        .collect();
    seed_support::assert_process_metrics(&exp);
    assert!(
        extra.is_empty(),
        "families the seed does not list: {extra:?}"
    );

    // Free-form label values agree with the admin console.
    let admin = get(agent.addr("admin"), "/admin/agents").json();
    let agents = &admin["agents"];
    let ids = strings(agents, "id");
    for family in [
        "llm_requests_total",
        "llm_latency_ms",
        "messages_processed_total",
        "nexo_tool_calls_total",
        "nexo_tool_latency_ms",
        "credentials_bindings_total",
    ] {
        assert_eq!(label_values(&exp, family, "agent"), ids, "{family}");
    }
    assert_eq!(
        label_values(&exp, "llm_requests_total", "provider"),
        strings(agents, "provider")
    );
    assert_eq!(
        label_values(&exp, "llm_latency_ms", "model"),
        strings(agents, "model")
    );
    let policy = get(agent.addr("admin"), "/admin/tool-policy").json();
    let tools = strings(&policy["tools"], "tool");
    for family in [
        "nexo_tool_calls_total",
        "nexo_tool_cache_events_total",
        "nexo_tool_latency_ms",
    ] {
        assert_eq!(label_values(&exp, family, "tool"), tools, "{family}");
    }

    // llm_latency_ms: the seed's buckets, in milliseconds.
    let les = label_values(&exp, "llm_latency_ms", "le");
    let want: BTreeSet<String> = [
        "50", "100", "250", "500", "1000", "2500", "5000", "10000", "+Inf",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(les, want);

    // circuit_breaker_state: 0/1, always with nats, one breaker per provider.
    let mut breakers = strings(agents, "provider");
    breakers.insert("nats".to_string());
    assert_eq!(
        label_values(&exp, "circuit_breaker_state", "breaker"),
        breakers
    );
    let values_of = |family: &str| -> BTreeSet<i64> {
        exp.family(family)
            .unwrap()
            .samples
            .iter()
            .map(|s| s.value as i64)
            .collect()
    };
    assert!(values_of("circuit_breaker_state").is_subset(&[0, 1].into()));
    assert_eq!(nats(&exp), 0.0, "broker up: nats closed");
    // credentials_breaker_state: 0 closed, 1 half-open, 2 open.
    assert!(values_of("credentials_breaker_state").is_subset(&[0, 1, 2].into()));
    // credentials_bindings_total: 1 bound, 0 not.
    assert_eq!(values_of("credentials_bindings_total"), [0, 1].into());

    // account_fp: sha256[..8] of the account id in hex, never the raw id.
    let fps = label_values(&exp, "credentials_google_token_refresh_total", "account_fp");
    let want: BTreeSet<String> = GOOGLE_ACCOUNTS
        .iter()
        .map(|a| Fingerprint::of(a).to_string())
        .collect();
    assert_eq!(fps, want);
    for fp in &fps {
        assert!(fp.len() == 16 && fp.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
    }
    for account in GOOGLE_ACCOUNTS {
        assert!(!body.contains(account), "raw account id {account} scraped");
    }
    assert!(!body.contains('@'), "an email-like label value was scraped");

    // The workload moves the series it drives.
    for (family, sample) in MOVED {
        assert!(total(&exp, family, sample) > 0.0, "{sample} never moved");
    }
}

#[test]
fn promtool_findings_are_exactly_the_ones_the_seed_names_force() {
    let Some(promtool) = promtool() else { return };
    let (_agent, body, _) = paused_agent();
    let findings = promtool_lint(&promtool, &body);
    let expected: BTreeSet<String> = EXPECTED_LINT.iter().map(|s| s.to_string()).collect();
    assert_eq!(findings, expected);
}

#[test]
fn llm_buckets_are_a_flag() {
    let mut agent = start(&["--boot-ms", "0", "--llm-buckets", "10,25,50,100"]);
    agent.command("pause");
    let (_, exp) = scrape(&agent);
    let les = label_values(&exp, "llm_latency_ms", "le");
    let want: BTreeSet<String> = ["10", "25", "50", "100", "+Inf"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(les, want);

    // Bad bounds are a usage error, said plainly.
    let out = Command::new(example_bin("nexo_agent"))
        .args(["--llm-buckets", "100,50"])
        .output()
        .expect("run nexo_agent");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--llm-buckets") && err.contains("not sorted"),
        "{err}"
    );
}

#[test]
fn ports_default_to_the_seed_and_are_flags() {
    let out = Command::new(example_bin("nexo_agent"))
        .arg("--help")
        .output()
        .expect("run --help");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for (flag, default) in [
        ("--metrics-addr <ADDR>", "[default: :9090]"),
        ("--health-addr <ADDR>", "[default: :8080]"),
        ("--admin-addr <ADDR>", "[default: 127.0.0.1:9091]"),
        (
            "--llm-buckets <MS,...>",
            "[default: 50,100,250,500,1000,2500,5000,10000]",
        ),
    ] {
        let line = help
            .split("\n  -")
            .find(|s| s.contains(flag))
            .unwrap_or_else(|| panic!("no {flag} in\n{help}"));
        assert!(line.contains(default), "{flag}: {line}");
    }
    // The admin console is loopback only: a public bind is refused.
    let out = Command::new(example_bin("nexo_agent"))
        .args([
            "--metrics-addr",
            "",
            "--health-addr",
            "",
            "--admin-addr",
            "0.0.0.0:0",
        ])
        .output()
        .expect("run nexo_agent");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("loopback"), "{err}");
}

#[test]
fn health_and_ready_follow_the_flowchart_through_boot_outage_and_shutdown() {
    let mut agent = start(&["--boot-ms", "3000"]);
    // Boot: /health is 200 at once, /ready 503 with the flowchart's body.
    let health = get(agent.addr("health"), "/health");
    assert_eq!(
        (health.status, health.text()),
        (200, r#"{"status":"ok"}"#.into())
    );
    let (status, body) = ready(&agent);
    assert_eq!(status, 503, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "not_ready");
    assert!(
        v["broker_ready"].is_boolean() && v["agents_running"].is_i64(),
        "{body}"
    );
    assert_eq!(
        body, r#"{"status":"not_ready","broker_ready":false,"agents_running":0}"#,
        "boot starts with the broker down and no agent"
    );

    wait_ready(&agent);
    assert_eq!(
        ready(&agent),
        (200, r#"{"status":"ready","agents_running":3}"#.into())
    );
    assert_eq!(nats(&scrape(&agent).1), 0.0);

    // Broker outage: 503, and the nats breaker reads open in the very next
    // scrape (sampled at scrape time, nothing pushed).
    agent.command("broker down");
    assert_eq!(
        ready(&agent),
        (
            503,
            r#"{"status":"not_ready","broker_ready":false,"agents_running":3}"#.into()
        )
    );
    assert_eq!(nats(&scrape(&agent).1), 1.0);
    agent.command("broker up");
    assert_eq!(
        ready(&agent),
        (200, r#"{"status":"ready","agents_running":3}"#.into())
    );
    assert_eq!(nats(&scrape(&agent).1), 0.0);

    // No agent attached: 503 with the broker ready.
    agent.command("agent stop all");
    assert_eq!(
        ready(&agent),
        (
            503,
            r#"{"status":"not_ready","broker_ready":true,"agents_running":0}"#.into()
        )
    );
    agent.command("agent start kate");
    assert_eq!(
        ready(&agent),
        (200, r#"{"status":"ready","agents_running":1}"#.into())
    );

    // Shutdown: /ready is 503 during the drain while /health stays 200,
    // then the process exits 0.
    let ready_addr = agent.addr("ready");
    agent.signal("TERM");
    eventually(Duration::from_secs(5), "/ready to turn 503", || {
        try_get(ready_addr, "/ready").is_some_and(|r| r.status == 503)
    });
    let r = get(ready_addr, "/ready");
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["status"], "not_ready");
    assert_eq!(get(agent.addr("health"), "/health").status, 200);
    let (status, stderr) = agent.wait(Duration::from_secs(20));
    assert!(status.success(), "{status:?}\n{stderr}");
    assert!(stderr.contains("received SIGTERM"), "{stderr}");
}

#[test]
fn pending_pairings_are_push_tracked_and_resync_from_the_store() {
    let (mut agent, _, exp) = paused_agent();
    let pending = |exp: &Exposition| -> Vec<(String, i64)> {
        let mut v: Vec<(String, i64)> = exp
            .family("pairing_requests_pending")
            .unwrap()
            .samples
            .iter()
            .map(|s| (s.labels[0].1.clone(), s.value as i64))
            .collect();
        v.sort();
        v
    };
    let before = pending(&exp);
    // Boot read two whatsapp and one telegram request back from the store
    // and resynced the gauges (a fresh process starts them at 0); nothing is
    // approved before it is 10 s old.
    let get_ch = |v: &[(String, i64)], ch: &str| v.iter().find(|(c, _)| c == ch).unwrap().1;
    assert!(
        get_ch(&before, "whatsapp") >= 2 && get_ch(&before, "telegram") >= 1,
        "{before:?}"
    );

    // A restart loses the in-memory gauges: drift.
    agent.command("pairing drift");
    let (_, exp) = scrape(&agent);
    assert!(pending(&exp).iter().all(|(_, n)| *n == 0));

    // refresh_pending_gauge sets them from the store again, which the
    // push-tracked gauges had matched all along.
    let ack = agent.command("pairing refresh");
    let mut from_store: Vec<(String, i64)> = ack
        .strip_prefix("ok: pairing refresh ")
        .expect("counts")
        .split(' ')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (k.to_string(), v.parse().unwrap())
        })
        .collect();
    from_store.sort();
    let (_, exp) = scrape(&agent);
    assert_eq!(pending(&exp), from_store);
    assert_eq!(before, from_store);
}

#[test]
fn admin_console_and_telemeter_status() {
    let (agent, _, _) = paused_agent();
    let admin = agent.addr("admin");
    assert!(admin.ip().is_loopback());
    let agents = get(admin, "/admin/agents").json();
    let list = agents["agents"].as_array().expect("agents");
    assert_eq!(list.len(), 3);
    for a in list {
        assert!(a["id"].is_string() && a["status"] == "running", "{a}");
        assert!(a["sessions"].is_i64(), "{a}");
    }
    let policy = get(admin, "/admin/tool-policy").json();
    assert!(policy["default"].is_string());
    for t in policy["tools"].as_array().unwrap() {
        assert!(["allow", "ask", "deny"].contains(&t["policy"].as_str().unwrap()));
    }
    assert_eq!(policy["agents"].as_array().unwrap().len(), 3);
    // The pages see their query: one agent's effective policy, filters,
    // and JSON errors for an unknown agent or parameter.
    let kate = get(admin, "/admin/tool-policy?agent=kate").json();
    assert_eq!(kate["agent"], "kate");
    assert_eq!(kate["default"], policy["default"]);
    assert_eq!(kate["effective"], policy["agents"][0]["effective"]);
    let r = get(admin, "/admin/tool-policy?agent=ghost");
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json()["error"],
        "no agent \"ghost\" (known: kate, ops-bot, support)"
    );
    let count = |path: &str| get(admin, path).json()["agents"].as_array().unwrap().len();
    assert_eq!(count("/admin/agents?status=running"), 3);
    assert_eq!(count("/admin/agents?status=stopped"), 0);
    assert_eq!(count("/admin/agents?status=stopped&status=running"), 3);
    assert_eq!(count("/admin/agents?id=kate"), 1);
    assert_eq!(count("/admin/agents?id=kate&status=stopped"), 0);
    for (path, status) in [
        ("/admin/agents?id=ghost", 404),
        ("/admin/agents?status=runing", 400),
        ("/admin/agents?agnet=kate", 400),
        ("/admin/agents?id=%zz", 400),
        ("/admin/tool-policy?agent=%ff", 400),
        ("/admin/tool-policy?tool=web", 400),
    ] {
        let r = get(admin, path);
        assert_eq!(r.status, status, "{path}: {}", r.text());
        assert!(r.json()["error"].is_string(), "{path}");
    }
    // Admin pages live on the admin port only.
    assert_eq!(get(agent.addr("health"), "/admin/agents").status, 404);

    // `agent status [--endpoint URL] [--agent-id ID] [--json]`.
    let status = |args: &[&str]| {
        let out = Command::new(seed_support::telemeter_bin())
            .arg("status")
            .args(["--endpoint", &format!("http://{admin}")])
            .args(args)
            .output()
            .expect("run telemeter status");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let table = status(&[]);
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(&header[..3], ["ID", "STATUS", "SESSIONS"]);
    for id in ["kate", "ops-bot", "support"] {
        assert!(
            table
                .lines()
                .any(|l| l.starts_with(id) && l.contains("running")),
            "{table}"
        );
    }
    let one: serde_json::Value =
        serde_json::from_str(&status(&["--agent-id", "kate", "--json"])).unwrap();
    assert_eq!(one["id"], "kate");
    assert_eq!(one["provider"], "anthropic");
    let all: serde_json::Value = serde_json::from_str(&status(&["--json"])).unwrap();
    assert_eq!(all["agents"].as_array().unwrap().len(), 3);
    // An unknown id: the console's 404 names the known agents.
    let out = Command::new(seed_support::telemeter_bin())
        .args(["status", "--endpoint", &format!("http://{admin}")])
        .args(["--agent-id", "ghost"])
        .output()
        .expect("run telemeter status");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no agent with id \"ghost\"") && err.contains("known: kate, ops-bot, support"),
        "{err}"
    );
}

/// The `expr:` values of a rule file (plain and `|` block scalars).
fn rule_exprs(yaml: &str) -> Vec<String> {
    let lines: Vec<&str> = yaml.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(rest) = line.trim_start().strip_prefix("expr:") else {
            continue;
        };
        let rest = rest.trim();
        if rest == "|" || rest == ">" {
            let indent = line.len() - line.trim_start().len();
            let block: Vec<&str> = lines[i + 1..]
                .iter()
                .take_while(|l| l.len() - l.trim_start().len() > indent || l.trim().is_empty())
                .map(|l| l.trim())
                .filter(|l| !l.is_empty())
                .collect();
            out.push(block.join(" "));
        } else {
            out.push(rest.to_string());
        }
    }
    out
}

#[test]
fn alert_rules_are_the_seeds_and_select_exported_series() {
    let dir = seed_support::repo().join("docs/nexo");
    let rules = std::fs::read_to_string(dir.join("alerts.yml")).expect("docs/nexo/alerts.yml");
    // The seed's three alerts, expressions and durations verbatim.
    for (alert, expr, for_) in [
        (
            "LlmError5xxHigh",
            r#"sum(rate(llm_requests_total{outcome="error"}[5m])) by (provider) > 0.1"#,
            "5m",
        ),
        (
            "NatsBreakerOpen",
            r#"circuit_breaker_state{breaker="nats"} == 1"#,
            "1m",
        ),
        (
            "ToolErrorSpike",
            r#"sum(rate(nexo_tool_calls_total{outcome="error"}[5m])) by (tool) > 0.5"#,
            "10m",
        ),
    ] {
        let at = rules
            .find(&format!("- alert: {alert}\n"))
            .unwrap_or_else(|| panic!("no alert {alert}"));
        let block = &rules[at..];
        let block = &block[..block[1..].find("- alert:").map_or(block.len(), |n| n + 1)];
        assert_eq!(rule_exprs(block), [expr], "{alert}");
        assert!(
            block.contains(&format!("\n        for: {for_}\n")),
            "{alert}"
        );
    }
    let exprs = rule_exprs(&rules);
    assert_eq!(exprs.len(), 3);

    // Every selector matches a series the agent exports: in particular
    // llm_requests_total{outcome="error"} (the seed's inconsistency) and
    // circuit_breaker_state{breaker="nats"}.
    let (_agent, _, exp) = paused_agent();
    assert_selectors_exported(&exp, &exprs);

    let Some(promtool) = promtool() else { return };
    let (ok, out) = run_promtool(&promtool, &dir, &["check", "rules", "alerts.yml"], "");
    assert!(ok && out.contains("SUCCESS: 3 rules found"), "{out}");
    // Fires on synthetic spikes, quiet otherwise (alerts_test.yml).
    let (ok, out) = run_promtool(&promtool, &dir, &["test", "rules", "alerts_test.yml"], "");
    assert!(ok && out.contains("SUCCESS"), "{out}");
}

#[test]
fn prometheus_yml_is_the_seed_scrape_config() {
    let dir = seed_support::repo().join("docs/nexo");
    let text = std::fs::read_to_string(dir.join("prometheus.yml")).expect("prometheus.yml");
    assert!(
        text.contains(
            "scrape_configs:\n- job_name: nexo-rs\n  scrape_interval: 15s\n  static_configs:\n  - targets: ['agent:9090']\n"
        ),
        "{text}"
    );
    let Some(promtool) = promtool() else { return };
    let (ok, out) = run_promtool(&promtool, &dir, &["check", "config", "prometheus.yml"], "");
    assert!(ok, "{out}");
}

#[test]
fn kubernetes_probes_are_the_seeds_and_work_against_the_agent() {
    let text = std::fs::read_to_string(seed_support::repo().join("docs/nexo/k8s-probes.yaml"))
        .expect("docs/nexo/k8s-probes.yaml");
    // The seed's probes, verbatim (indented under the container).
    let probes = [
        (
            "livenessProbe",
            "/health",
            "livenessProbe:\n            httpGet: { path: /health, port: 8080 }\n            initialDelaySeconds: 10\n            periodSeconds: 10\n",
        ),
        (
            "readinessProbe",
            "/ready",
            "readinessProbe:\n            httpGet: { path: /ready, port: 8080 }\n            initialDelaySeconds: 30\n            periodSeconds: 5\n",
        ),
    ];
    for (name, _, block) in probes {
        assert!(
            text.contains(block),
            "{name} differs from the seed:\n{text}"
        );
    }
    assert!(text.contains("containerPort: 9090") && text.contains("containerPort: 8080"));
    assert!(
        !text.contains("containerPort: 9091"),
        "the admin port must not be exposed"
    );

    // The probes against the agent (its health port standing in for 8080):
    // liveness passes from the start, readiness once booted, well inside
    // the readiness probe's 30 s initial delay.
    let agent = start(&["--boot-ms", "3000"]);
    let started = std::time::Instant::now();
    assert_eq!(get(agent.addr("health"), probes[0].1).status, 200);
    assert_eq!(get(agent.addr("health"), probes[1].1).status, 503);
    wait_ready(&agent);
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn thread_counts_past_the_limit_or_the_system_are_clear_errors() {
    seed_support::assert_thread_limits(
        &example_bin("nexo_agent"),
        &[
            "--metrics-addr",
            "127.0.0.1:0",
            "--health-addr",
            "127.0.0.1:0",
            "--admin-addr",
            "127.0.0.1:0",
            "--boot-ms",
            "0",
        ],
    );
}

/// The pairing codes a `/whatsapp/` page shows, in page order.
fn pairing_codes(html: &str) -> Vec<u64> {
    const OPEN: &str = "<code class=\"pairing-code\">";
    html.split(OPEN)
        .skip(1)
        .map(|rest| {
            let end = rest.find("</code>").expect("a closed <code>");
            rest[..end].parse().expect("a numeric code")
        })
        .collect()
}

#[test]
fn whatsapp_pairing_pages_list_show_and_approve_on_the_health_listener() {
    let (agent, _, exp) = paused_agent();
    let health = agent.addr("health");
    let whatsapp = [("channel", "whatsapp")];
    let pending = |exp: &Exposition| {
        value(
            exp,
            "pairing_requests_pending",
            "pairing_requests_pending",
            &whatsapp,
        )
    };
    let approvals = |exp: &Exposition, result: &str| {
        value(
            exp,
            "pairing_approvals_total",
            "pairing_approvals_total",
            &[("channel", "whatsapp"), ("result", result)],
        )
    };

    // The index lists exactly the pending WhatsApp pairings the gauge counts
    // (boot restored two; the workload may have added more).
    let index = get(health, "/whatsapp/");
    assert_eq!(index.status, 200);
    assert_eq!(
        index.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let codes = pairing_codes(&index.text());
    assert!(codes.len() >= 2, "{}", index.text());
    assert_eq!(codes.len() as f64, pending(&exp));

    // One pairing's page: its code as text and as a QR code.
    let code = codes[0];
    let page = get(health, &format!("/whatsapp/{code}"));
    assert_eq!(page.status, 200);
    assert_eq!(pairing_codes(&page.text()), [code]);
    assert!(page.text().contains("<svg"), "{}", page.text());
    assert_eq!(get(health, "/whatsapp/999999").status, 404);
    assert_eq!(get(health, "/whatsapp/nope").status, 404);

    // Approving it moves the seed's series: one `ok`, one fewer pending.
    let ok_before = approvals(&exp, "ok");
    let not_found_before = approvals(&exp, "not_found");
    let r = post_form(health, "/whatsapp/pair", &format!("code={code}"));
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(r.header("location"), Some("/whatsapp/"));
    let (_, exp) = scrape(&agent);
    assert_eq!(approvals(&exp, "ok"), ok_before + 1.0);
    assert_eq!(pending(&exp), codes.len() as f64 - 1.0);
    assert_eq!(get(health, &format!("/whatsapp/{code}")).status, 404);
    assert!(!pairing_codes(&get(health, "/whatsapp/").text()).contains(&code));

    // The same code again is not found, and counted so.
    assert_eq!(
        post_form(health, "/whatsapp/pair", &format!("code={code}")).status,
        404
    );
    let (_, exp) = scrape(&agent);
    assert_eq!(approvals(&exp, "not_found"), not_found_before + 1.0);

    // Bad forms, wrong methods and oversized bodies move nothing.
    assert_eq!(post_form(health, "/whatsapp/pair", "code=abc").status, 400);
    assert_eq!(post_form(health, "/whatsapp/pair", "token=1").status, 400);
    let r = get(health, "/whatsapp/pair");
    assert_eq!((r.status, r.header("allow")), (405, Some("POST")));
    let big = format!("code={}&pad={}", codes[1], "x".repeat(2000));
    assert_eq!(post_form(health, "/whatsapp/pair", &big).status, 413);
    let (_, after) = scrape(&agent);
    assert_eq!(pending(&after), pending(&exp));
    assert_eq!(approvals(&after, "not_found"), approvals(&exp, "not_found"));
}

#[test]
fn a_real_browser_renders_the_pairing_page_with_its_code_and_a_qr_code_that_decodes() {
    let Some(chromium) = seed_support::tool("chromium", "chromium") else {
        return;
    };
    let Some(zbarimg) = seed_support::tool("zbarimg", "zbar-tools") else {
        return;
    };
    let (agent, _, _) = paused_agent();
    let health = agent.addr("health");
    let dir = std::env::temp_dir().join(format!("telemeter-nexo-browser-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);

    // The index as Chromium's DOM has it, then the first pairing's page.
    let index = format!("http://{health}/whatsapp/");
    let dom = seed_support::headless_chromium(&chromium, &dir, &index, &["--dump-dom"]);
    let codes = pairing_codes(&dom);
    assert!(!codes.is_empty(), "{dom}");
    let page = format!("http://{health}/whatsapp/{}", codes[0]);
    let dom = seed_support::headless_chromium(&chromium, &dir, &page, &["--dump-dom"]);
    assert_eq!(pairing_codes(&dom), [codes[0]], "{dom}");
    assert!(dom.contains("<svg"), "{dom}");

    // A screenshot of the rendered page, read by an independent QR decoder.
    let shot = dir.join("page.png");
    seed_support::headless_chromium(
        &chromium,
        &dir,
        &page,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=600,600",
        ],
    );
    let out = Command::new(&zbarimg)
        .args(["--quiet", "--raw"])
        .arg(&shot)
        .output()
        .expect("run zbarimg");
    let decoded = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "zbarimg: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(decoded.trim(), format!("nexo-pair:whatsapp:{}", codes[0]));
    let _ = std::fs::remove_dir_all(&dir);
}
