//! The nexo-rs metrics and health surface (`seeds/nexo-rs-metrics-health.md`),
//! hosted on telemeter: an LLM agent runtime with a simulated workload.
//!
//! ```text
//! cargo run --release --example nexo_agent
//! curl -s http://127.0.0.1:9090/metrics | grep circuit_breaker_state
//! curl -s http://127.0.0.1:8080/ready
//! telemeter status --endpoint http://127.0.0.1:9091
//! ```
//!
//! | port | default | serves |
//! |---|---|---|
//! | metrics | `:9090` (`--metrics-addr`) | `/metrics` |
//! | health | `:8080` (`--health-addr`) | `/health`, `/ready`, and the WhatsApp pairing pages: `/whatsapp/` (pending pairings), `/whatsapp/CODE` (its code and QR code), `POST /whatsapp/pair` (`code=CODE` approves it) |
//! | admin | `127.0.0.1:9091` (`--admin-addr`, loopback only) | `/admin/agents`, `/admin/tool-policy` |
//!
//! The seed's gotchas "ports are not configurable" and "histograms are
//! non-configurable" do not hold here: every address is a flag, and
//! `--llm-buckets` / `--tool-buckets` choose the histogram bounds.
//!
//! `llm_requests_total` carries an `outcome` label (`ok`, `error`,
//! `client_error`) beyond the seed's table, so that the seed's own
//! `LlmError5xxHigh` alert (`llm_requests_total{outcome="error"}`) selects
//! something: see `docs/seeds.md`.
//!
//! Simulation commands on stdin, one per line; each answers one `ok: ...`
//! (or `error: ...`) line on stdout once it has taken effect:
//!
//! | command | effect |
//! |---|---|
//! | `broker down` / `broker up` | the NATS broker connection drops / comes back: `/ready` and `circuit_breaker_state{breaker="nats"}` follow |
//! | `agent stop ID\|all` / `agent start ID\|all` | agent runtimes detach from / attach to their inbound topics |
//! | `pairing drift` | zeroes the `pairing_requests_pending` gauges, as a daemon restart does (the store keeps its requests) |
//! | `pairing refresh` | `refresh_pending_gauge`: resyncs the gauges from the store; answers the counts |
//! | `pause` / `resume` | parks / restarts every workload thread (scrapes are stable while paused) |
//! | `help` | lists the commands |

mod common;
#[path = "nexo/whatsapp.rs"]
mod whatsapp;

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::json;
use telemeter::fingerprint::Fingerprint;
use telemeter::server::{Exporter, ExporterHandle, Method, Route, Surface};
use telemeter::{
    fixed_label, label_set, static_metrics, Buckets, ByLabel, Counter, Gauge, Histogram, Keyed,
    Opts, Registry,
};

use common::{announce, say, Event, Events, Gate, Rng};

const AFTER_HELP: &str = "\
Addresses are host:port, :port for every interface, port 0 for an OS-chosen
port, or \"\" to disable that surface. The admin console refuses non-loopback
addresses: reach it through a tunnel.

Simulation commands on stdin, one per line (each answers an `ok: ...` line):
  broker down | broker up          the NATS connection drops / comes back
  agent stop ID|all                agent runtimes detach from their topics
  agent start ID|all               ... and attach again
  pairing drift                    zero the pending-pairing gauges (a restart)
  pairing refresh                  refresh_pending_gauge: resync from the store
  pause | resume                   park / restart the workload threads
  help

On SIGINT or SIGTERM /ready turns 503, the servers drain for --drain-ms, and
the process exits 0.

Examples:
  nexo_agent --llm-buckets 10,25,50,100,250,500,1000,2500,5000,10000
  curl -s http://127.0.0.1:8080/ready
  telemeter status --endpoint http://127.0.0.1:9091 --agent-id kate";

/// The nexo-rs agent runtime's metrics, health and admin surfaces, on
/// telemeter, with a simulated workload.
#[derive(Debug, Parser)]
#[command(name = "nexo_agent", after_help = AFTER_HELP)]
struct Args {
    /// Where to serve /metrics ("" disables it).
    #[arg(long, value_name = "ADDR", default_value = ":9090")]
    metrics_addr: String,
    /// Where to serve /health and /ready ("" disables them).
    #[arg(long, value_name = "ADDR", default_value = ":8080")]
    health_addr: String,
    /// Where to serve the admin console; loopback only ("" disables it).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9091")]
    admin_addr: String,
    /// Bucket bounds of llm_latency_ms, in milliseconds, comma-separated.
    #[arg(
        long,
        value_name = "MS,...",
        default_value = "50,100,250,500,1000,2500,5000,10000",
        value_parser = parse_buckets
    )]
    llm_buckets: Buckets,
    /// Bucket bounds of nexo_tool_latency_ms, in milliseconds, comma-separated.
    #[arg(
        long,
        value_name = "MS,...",
        default_value = "5,10,25,50,100,250,500,1000,2500,5000",
        value_parser = parse_buckets
    )]
    tool_buckets: Buckets,
    /// Worker threads delivering simulated inbound messages (1 to 1024).
    #[arg(long, value_name = "N", default_value_t = 2)]
    threads: usize,
    /// Simulated operations per second per worker thread.
    #[arg(long, value_name = "N", default_value_t = 100)]
    rate: u32,
    /// Simulated boot (extension discovery, broker connect, agents
    /// attaching) before /ready can answer 200, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 3000)]
    boot_ms: u64,
    /// How long /ready answers 503 before the listeners close at shutdown.
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    drain_ms: u64,
}

fn parse_buckets(s: &str) -> Result<Buckets, String> {
    s.parse().map_err(|e: telemeter::Error| e.to_string())
}

fixed_label! {
    /// How an LLM completion request ended (`error`: the provider answered
    /// 5xx or the request failed in transport; `client_error`: 4xx).
    pub enum LlmOutcome: "outcome" { Ok = "ok", Error = "error", ClientError = "client_error" }
}
fixed_label! {
    /// A tool call's outcome.
    pub enum ToolOutcome: "outcome" { Ok = "ok", Error = "error", Blocked = "blocked", Unknown = "unknown" }
}
label_set! {
    /// The labels of `nexo_tool_calls_total`: two strings (agent and tool
    /// names, known only at run time in a real deployment) and the
    /// outcome; `Family::keyed` hashes the strings alone and indexes the
    /// outcome.
    pub struct ToolCall<'a> {
        agent: &'a str as "agent",
        outcome: ToolOutcome,
        tool: &'a str as "tool",
    }
}
fixed_label! {
    /// A tool-level memoization event.
    pub enum CacheEvent: "event" { Hit = "hit", Miss = "miss", Put = "put", Evict = "evict" }
}
fixed_label! {
    /// What a discovery sweep made of an extension.
    pub enum ExtStatus: "status" { Ok = "ok", Disabled = "disabled", Invalid = "invalid" }
}
fixed_label! {
    /// Which way a credential was used.
    pub enum Direction: "direction" { Inbound = "inbound", Outbound = "outbound" }
}
fixed_label! {
    /// Why the credential resolver failed.
    pub enum ResolveReason: "reason" { Unbound = "unbound", NotFound = "not_found", NotPermitted = "not_permitted" }
}
fixed_label! {
    /// A Google OAuth refresh attempt's outcome.
    pub enum RefreshOutcome: "outcome" { Ok = "ok", Err = "err" }
}
fixed_label! {
    /// How a DM challenge was dispatched.
    pub enum ChallengeResult: "result" {
        DeliveredViaAdapter = "delivered_via_adapter",
        DeliveredViaBroker = "delivered_via_broker",
        PublishFailed = "publish_failed",
        NoAdapterNoBrokerTopic = "no_adapter_no_broker_topic",
    }
}
fixed_label! {
    /// `nexo pair approve` outcomes.
    pub enum ApprovalResult: "result" { Ok = "ok", Expired = "expired", NotFound = "not_found" }
}

static_metrics! {
    /// Setup codes pruned past their TTL or found expired on approve: a
    /// program-wide static on the default registry, the way a user
    /// declares a metric once (`telemeter::static_metrics!`).
    static CODES_EXPIRED: Counter = counter(
        "pairing_codes_expired_total",
        "Setup codes pruned past TTL or rejected as expired on approve."
    );
}

/// (id, provider, model); each provider has its own LLM breaker.
const AGENTS: [(&str, &str, &str); 3] = [
    ("kate", "anthropic", "claude-sonnet-4-5"),
    ("ops-bot", "openai", "gpt-4o-mini"),
    ("support", "minimax", "abab6.5s"),
];
/// (tool, default policy).
const TOOLS: [(&str, &str); 5] = [
    ("web_search", "allow"),
    ("read_file", "allow"),
    ("calendar", "allow"),
    ("http_fetch", "ask"),
    ("shell", "deny"),
];
/// (agent, tool, policy) overrides of the tool-policy registry.
const POLICY_OVERRIDES: [(&str, &str, &str); 2] = [
    ("ops-bot", "shell", "ask"),
    ("support", "http_fetch", "deny"),
];
/// Channels; whatsapp has an in-process adapter, telegram a broker topic,
/// email neither (for DM challenges).
const CHANNELS: [&str; 3] = ["whatsapp", "telegram", "email"];
/// Labelled credential instances: (channel index, instance, allow_agents).
const INSTANCES: [(usize, &str, &[&str]); 4] = [
    (0, "personal", &["kate"]),
    (0, "business", &["kate", "support"]),
    (1, "ops_bot", &["ops-bot"]),
    (2, "kate_gmail", &["kate"]),
];
/// Each agent's bound instance per channel (index into INSTANCES).
const BINDINGS: [[Option<usize>; 3]; 3] = [
    [Some(0), None, Some(3)], // kate: whatsapp/personal, email/kate_gmail
    [None, Some(2), None],    // ops-bot: telegram/ops_bot
    [Some(1), None, None],    // support: whatsapp/business
];
/// Google accounts whose OAuth tokens get refreshed (never exported raw).
const GOOGLE_ACCOUNTS: [&str; 2] = ["kate@example.com", "ops@example.com"];
const TOKEN_PROFILES: [&str; 2] = ["default", "ops"];
/// Boot gauntlet error kinds and how many of each the simulated config has.
const BOOT_VALIDATION: [(&str, u64); 3] = [
    ("lax_permissions", 1),
    ("missing_file", 0),
    ("unknown_channel", 1),
];
const EXTENSIONS: [(&str, ExtStatus); 4] = [
    ("weather", ExtStatus::Ok),
    ("github", ExtStatus::Ok),
    ("jira", ExtStatus::Disabled),
    ("legacy-crm", ExtStatus::Invalid),
];
/// Pending pairing requests found on disk at boot: (channel, count).
const RESTORED_PAIRINGS: [(usize, usize); 2] = [(0, 2), (1, 1)];
const PAIRING_TTL: Duration = Duration::from_secs(60);
/// Requests younger than this are never approved (so a fresh store is
/// never empty in the first seconds).
const PAIRING_MIN_AGE: Duration = Duration::from_secs(10);
const TICK: Duration = Duration::from_millis(500);

fn policy(agent: &str, tool: usize) -> &'static str {
    POLICY_OVERRIDES
        .iter()
        .find(|(a, t, _)| *a == agent && *t == TOOLS[tool].0)
        .map(|(_, _, p)| *p)
        .unwrap_or(TOOLS[tool].1)
}

/// An agent runtime's state: 0 starting, 1 running, 2 stopped, 3 draining.
struct Agent {
    status: AtomicU8,
    sessions: AtomicI64,
    messages: AtomicU64,
}

impl Agent {
    fn status_str(&self) -> &'static str {
        match self.status.load(Ordering::Relaxed) {
            0 => "starting",
            1 => "running",
            2 => "stopped",
            _ => "draining",
        }
    }
}

/// An LLM provider's breaker: opens after 5 consecutive errors, closes
/// after a cool-down.
#[derive(Default)]
struct LlmBreaker {
    open: AtomicBool,
    failures: AtomicU32,
    opened_tick: AtomicU64,
}

/// A per-(channel, instance) credential breaker: 0 closed, 1 half-open,
/// 2 open. Three 429s open it; after a cool-down it is half-open, and the
/// next send closes or reopens it.
#[derive(Default)]
struct CredBreaker {
    state: AtomicU8,
    strikes: AtomicU32,
    since_tick: AtomicU64,
}

struct Pending {
    channel: usize,
    code: u64,
    created: Instant,
}

/// The pairing store: the source of truth for `pairing_requests_pending`,
/// which is push-tracked (every add and removal moves the gauge, under the
/// store's lock) and resynced by `refresh_pending_gauge`.
struct PairingStore {
    pending: Mutex<Vec<Pending>>,
    gauges: Vec<Gauge>,
    next_code: AtomicU64,
}

impl PairingStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Pending>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn add(&self, channel: usize, created: Instant) -> u64 {
        let code = self.next_code.fetch_add(1, Ordering::Relaxed);
        let mut p = self.lock();
        p.push(Pending {
            channel,
            code,
            created,
        });
        self.gauges[channel].inc();
        code
    }

    /// `nexo pair approve CHANNEL CODE`.
    fn approve(&self, channel: usize, code: u64, m: &Metrics) -> ApprovalResult {
        let mut p = self.lock();
        let Some(i) = p
            .iter()
            .position(|r| r.code == code && r.channel == channel)
        else {
            m.approvals[channel].get(ApprovalResult::NotFound).inc();
            return ApprovalResult::NotFound;
        };
        let r = p.swap_remove(i);
        self.gauges[r.channel].dec();
        let result = if r.created.elapsed() > PAIRING_TTL {
            CODES_EXPIRED.inc();
            ApprovalResult::Expired
        } else {
            ApprovalResult::Ok
        };
        m.approvals[r.channel].get(result).inc();
        result
    }

    /// The pending requests of `channel`, oldest first: (code, age).
    fn pending_on(&self, channel: usize) -> Vec<(u64, Duration)> {
        let mut on: Vec<(Instant, u64)> = self
            .lock()
            .iter()
            .filter(|r| r.channel == channel)
            .map(|r| (r.created, r.code))
            .collect();
        on.sort_unstable();
        on.into_iter()
            .map(|(created, code)| (code, created.elapsed()))
            .collect()
    }

    /// The oldest request old enough to be approved, if any.
    fn approvable(&self) -> Option<(usize, u64)> {
        self.lock()
            .iter()
            .filter(|r| r.created.elapsed() >= PAIRING_MIN_AGE)
            .min_by_key(|r| r.created)
            .map(|r| (r.channel, r.code))
    }

    /// Prunes requests past their TTL.
    fn prune(&self) {
        let mut p = self.lock();
        p.retain(|r| {
            let keep = r.created.elapsed() <= PAIRING_TTL;
            if !keep {
                self.gauges[r.channel].dec();
                CODES_EXPIRED.inc();
            }
            keep
        });
    }

    fn counts(pending: &[Pending]) -> Vec<i64> {
        let mut counts = vec![0i64; CHANNELS.len()];
        for r in pending {
            counts[r.channel] += 1;
        }
        counts
    }

    /// `PairingStore::refresh_pending_gauge`: sets every channel's gauge
    /// from the store (drift recovery after a daemon restart). Returns the
    /// counts it set.
    fn refresh_pending_gauge(&self) -> Vec<i64> {
        let p = self.lock();
        let counts = Self::counts(&p);
        for (g, n) in self.gauges.iter().zip(&counts) {
            g.set(*n);
        }
        counts
    }
}

/// The runtime's live state: what readiness, the admin pages and the
/// scrape-time gauges read.
struct World {
    agents: Vec<Agent>,
    broker_ready: AtomicBool,
    llm_breakers: Vec<LlmBreaker>,
    cred_breakers: Vec<CredBreaker>,
    tick: AtomicU64,
}

impl World {
    fn agents_running(&self) -> i64 {
        self.agents
            .iter()
            .filter(|a| a.status.load(Ordering::Relaxed) == 1)
            .count() as i64
    }
}

/// Every handle the workload records into, resolved once at start-up.
/// Indices follow the constant tables above.
struct Metrics {
    llm_requests: Vec<ByLabel<LlmOutcome, Counter>>,
    llm_latency: Vec<Histogram>,
    messages: Vec<Counter>,
    extensions: ByLabel<ExtStatus, Counter>,
    /// Looked up per call by agent and tool name (`Family::keyed`).
    tool_calls: Keyed<ToolCall<'static>, Counter>,
    tool_cache: Vec<Vec<ByLabel<CacheEvent, Counter>>>,
    tool_latency: Vec<Vec<Histogram>>,
    /// [channel]
    accounts: Vec<Gauge>,
    /// [agent][channel]
    bindings: Vec<Vec<Gauge>>,
    /// [agent][instance]: allowed pairs count usage, the others ACL denials.
    usage: Vec<Vec<Option<ByLabel<Direction, Counter>>>>,
    acl_denied: Vec<Vec<Option<Counter>>>,
    /// [channel]
    resolve_errors: Vec<ByLabel<ResolveReason, Counter>>,
    boot_validation: Vec<Counter>,
    insecure_paths: Gauge,
    /// [google account]
    token_refresh: Vec<ByLabel<RefreshOutcome, Counter>>,
    /// [channel]
    challenged: Vec<ByLabel<ChallengeResult, Counter>>,
    approvals: Vec<ByLabel<ApprovalResult, Counter>>,
    /// [profile]
    bootstrap_tokens: Vec<Counter>,
}

fn allowed(instance: usize, agent: usize) -> bool {
    INSTANCES[instance].2.contains(&AGENTS[agent].0)
}

fn register(
    reg: &Registry,
    world: &Arc<World>,
    args: &Args,
) -> Result<(Metrics, Vec<Gauge>), telemeter::Error> {
    let fam = |name: &str, help: &str, labels: &[&str]| Opts::new(name, help).labels(labels);

    let llm_requests = reg.counter_family(fam(
        "llm_requests_total",
        "Every LLM completion request (outcome: ok, error = provider 5xx or transport failure, client_error = 4xx).",
        &["agent", "provider", "model", "outcome"],
    ))?;
    let llm_latency = reg.histogram_family(
        fam(
            "llm_latency_ms",
            "LLM completion latency in milliseconds.",
            &["agent", "provider", "model"],
        ),
        args.llm_buckets.clone(),
    )?;
    let messages = reg.counter_family(fam(
        "messages_processed_total",
        "Inbound messages that reached an agent.",
        &["agent"],
    ))?;
    let extensions = reg.counter_family(fam(
        "nexo_extensions_discovered",
        "Extensions found by each discovery sweep, by status.",
        &["status"],
    ))?;
    let tool_calls = reg.counter_family(fam(
        "nexo_tool_calls_total",
        "Tool invocations.",
        &["agent", "outcome", "tool"],
    ))?;
    let tool_cache = reg.counter_family(fam(
        "nexo_tool_cache_events_total",
        "Tool-level memoization events.",
        &["agent", "event", "tool"],
    ))?;
    let tool_latency = reg.histogram_family(
        fam(
            "nexo_tool_latency_ms",
            "Per-tool latency in milliseconds.",
            &["agent", "tool"],
        ),
        args.tool_buckets.clone(),
    )?;
    // Sampled at scrape time from the breakers' live state: nats from broker
    // readiness, one breaker per LLM provider.
    let w = Arc::clone(world);
    reg.gauge_callback(
        fam(
            "circuit_breaker_state",
            "Circuit breaker state, 0 = Closed, 1 = Open; always includes nats.",
            &["breaker"],
        ),
        move |s| {
            let nats = !w.broker_ready.load(Ordering::Relaxed);
            s.sample(&["nats"], f64::from(u8::from(nats)));
            for (i, (_, provider, _)) in AGENTS.iter().enumerate() {
                let open = w.llm_breakers[i].open.load(Ordering::Relaxed);
                s.sample(&[provider], f64::from(u8::from(open)));
            }
        },
    )?;
    let accounts = reg.gauge_family(fam(
        "credentials_accounts_total",
        "Labelled credential instances per channel.",
        &["channel"],
    ))?;
    let bindings = reg.gauge_family(fam(
        "credentials_bindings_total",
        "1 when the agent has a credential bound for the channel, 0 otherwise.",
        &["agent", "channel"],
    ))?;
    let usage = reg.counter_family(fam(
        "channel_account_usage_total",
        "Every credential use.",
        &["agent", "channel", "direction", "instance"],
    ))?;
    let acl_denied = reg.counter_family(fam(
        "channel_acl_denied_total",
        "Outbound calls rejected by allow_agents.",
        &["agent", "channel", "instance"],
    ))?;
    let resolve_errors = reg.counter_family(fam(
        "credentials_resolve_errors_total",
        "Credential resolver failures (unbound, not_found, not_permitted).",
        &["channel", "reason"],
    ))?;
    let w = Arc::clone(world);
    reg.gauge_callback(
        fam(
            "credentials_breaker_state",
            "Per-(channel, instance) circuit breaker: 0 = closed, 1 = half-open, 2 = open.",
            &["channel", "instance"],
        ),
        move |s| {
            for (i, (ch, inst, _)) in INSTANCES.iter().enumerate() {
                let state = w.cred_breakers[i].state.load(Ordering::Relaxed);
                s.sample(&[CHANNELS[*ch], inst], f64::from(state));
            }
        },
    )?;
    let boot_validation = reg.counter_family(fam(
        "credentials_boot_validation_errors_total",
        "Credential gauntlet errors at boot, by kind.",
        &["kind"],
    ))?;
    let insecure_paths = reg.gauge(
        "credentials_insecure_paths_total",
        "Credential files with lax permissions at boot.",
    )?;
    let token_refresh = reg.counter_family(fam(
        "credentials_google_token_refresh_total",
        "Google OAuth refresh attempts (account_fp = sha256[..8] of the account id, never the raw email).",
        &["account_fp", "outcome"],
    ))?;
    let challenged = reg.counter_family(fam(
        "pairing_inbound_challenged_total",
        "DM-challenge dispatch attempts.",
        &["channel", "result"],
    ))?;
    let approvals = reg.counter_family(fam(
        "pairing_approvals_total",
        "nexo pair approve outcomes.",
        &["channel", "result"],
    ))?;
    // Declared once for the program (below); forced here so that it is
    // registered, in this order, before the first scrape.
    CODES_EXPIRED.force().map_err(Clone::clone)?;
    let bootstrap_tokens = reg.counter_family(fam(
        "pairing_bootstrap_tokens_issued_total",
        "Bootstrap tokens minted by BootstrapTokenIssuer::issue.",
        &["profile"],
    ))?;
    let pending = reg.gauge_family(fam(
        "pairing_requests_pending",
        "Pending pairing requests (push-tracked; refresh_pending_gauge resyncs them from the store).",
        &["channel"],
    ))?;

    let mut m = Metrics {
        llm_requests: Vec::new(),
        llm_latency: Vec::new(),
        messages: Vec::new(),
        extensions: extensions.by_label::<ExtStatus>(&[])?,
        tool_calls: tool_calls.keyed::<ToolCall>()?,
        tool_cache: Vec::new(),
        tool_latency: Vec::new(),
        accounts: Vec::new(),
        bindings: Vec::new(),
        usage: Vec::new(),
        acl_denied: Vec::new(),
        resolve_errors: Vec::new(),
        boot_validation: Vec::new(),
        insecure_paths,
        token_refresh: Vec::new(),
        challenged: Vec::new(),
        approvals: Vec::new(),
        bootstrap_tokens: Vec::new(),
    };
    for (a, (agent, provider, model)) in AGENTS.iter().enumerate() {
        m.llm_requests
            .push(llm_requests.by_label::<LlmOutcome>(&[agent, provider, model])?);
        m.llm_latency
            .push(llm_latency.with_label_values(&[agent, provider, model])?);
        m.messages.push(messages.with_label_values(&[agent])?);
        let (mut cache, mut lat) = (Vec::new(), Vec::new());
        for (tool, _) in TOOLS {
            // Every outcome's series from the start (zero until used).
            m.tool_calls.init(ToolCall {
                agent,
                outcome: ToolOutcome::Ok,
                tool,
            });
            cache.push(tool_cache.by_label::<CacheEvent>(&[agent, tool])?);
            lat.push(tool_latency.with_label_values(&[agent, tool])?);
        }
        m.tool_cache.push(cache);
        m.tool_latency.push(lat);
        m.bindings.push(
            CHANNELS
                .iter()
                .map(|ch| bindings.with_label_values(&[agent, ch]))
                .collect::<Result<_, _>>()?,
        );
        let (mut u, mut d) = (Vec::new(), Vec::new());
        for (i, (ch, inst, _)) in INSTANCES.iter().enumerate() {
            let labels = [*agent, CHANNELS[*ch], inst];
            if allowed(i, a) {
                u.push(Some(usage.by_label::<Direction>(&[
                    agent,
                    CHANNELS[*ch],
                    inst,
                ])?));
                d.push(None);
            } else {
                u.push(None);
                d.push(Some(acl_denied.with_label_values(&labels)?));
            }
        }
        m.usage.push(u);
        m.acl_denied.push(d);
    }
    for ch in CHANNELS {
        m.accounts.push(accounts.with_label_values(&[ch])?);
        m.resolve_errors
            .push(resolve_errors.by_label::<ResolveReason>(&[ch])?);
        m.challenged
            .push(challenged.by_label::<ChallengeResult>(&[ch])?);
        m.approvals
            .push(approvals.by_label::<ApprovalResult>(&[ch])?);
    }
    for (kind, _) in BOOT_VALIDATION {
        m.boot_validation
            .push(boot_validation.with_label_values(&[kind])?);
    }
    for account in GOOGLE_ACCOUNTS {
        // The only way an account reaches a label: hashed.
        let fp = Fingerprint::of(account);
        m.token_refresh
            .push(token_refresh.by_label::<RefreshOutcome>(&[fp.as_str()])?);
    }
    for profile in TOKEN_PROFILES {
        m.bootstrap_tokens
            .push(bootstrap_tokens.with_label_values(&[profile])?);
    }
    let pending_gauges = CHANNELS
        .iter()
        .map(|ch| pending.with_label_values(&[ch]))
        .collect::<Result<_, _>>()?;
    Ok((m, pending_gauges))
}

/// One discovery sweep: every extension found, counted by status.
fn discovery_sweep(m: &Metrics) {
    for (_, status) in EXTENSIONS {
        m.extensions.get(status).inc();
    }
}

/// The boot credential gauntlet.
fn credentials_gauntlet(m: &Metrics) {
    for (ch, g) in m.accounts.iter().enumerate() {
        g.set(INSTANCES.iter().filter(|(c, _, _)| *c == ch).count() as i64);
    }
    for (a, per_channel) in BINDINGS.iter().enumerate() {
        for (ch, bound) in per_channel.iter().enumerate() {
            m.bindings[a][ch].set(i64::from(bound.is_some()));
        }
    }
    for (i, (_, n)) in BOOT_VALIDATION.iter().enumerate() {
        m.boot_validation[i].add(*n);
    }
    m.insecure_paths.set(BOOT_VALIDATION[0].1 as i64);
}

/// An outbound (or inbound) use of agent `a`'s credential on `instance`,
/// through its breaker.
fn use_credential(
    m: &Metrics,
    w: &World,
    rng: &mut Rng,
    a: usize,
    instance: usize,
    dir: Direction,
) {
    let b = &w.cred_breakers[instance];
    if dir == Direction::Outbound {
        let state = b.state.load(Ordering::Relaxed);
        if state == 2 {
            return; // open: the send is refused before it reaches the channel
        }
        let throttled = rng.chance(0.03);
        if throttled {
            let strikes = b.strikes.fetch_add(1, Ordering::Relaxed) + 1;
            if state == 1 || strikes >= 3 {
                b.state.store(2, Ordering::Relaxed);
                b.since_tick
                    .store(w.tick.load(Ordering::Relaxed), Ordering::Relaxed);
            }
        } else {
            b.strikes.store(0, Ordering::Relaxed);
            if state == 1 {
                b.state.store(0, Ordering::Relaxed);
            }
        }
    }
    if let Some(u) = &m.usage[a][instance] {
        u.get(dir).inc();
    }
}

/// An inbound message for agent `a`: LLM completion, tools, reply.
fn handle_message(m: &Metrics, w: &World, rng: &mut Rng, a: usize) {
    m.messages[a].inc();
    w.agents[a].messages.fetch_add(1, Ordering::Relaxed);
    // The message came in on one of the agent's bound instances.
    let bound: Vec<usize> = BINDINGS[a].iter().flatten().copied().collect();
    let channel = (!bound.is_empty()).then(|| *rng.pick(&bound));
    if let Some(i) = channel {
        use_credential(m, w, rng, a, i, Direction::Inbound);
    }
    let breaker = &w.llm_breakers[a];
    if !breaker.open.load(Ordering::Relaxed) {
        let (outcome, ms) = match rng.below(100) {
            0..=3 => (LlmOutcome::Error, rng.latency(4000.0)),
            4..=6 => (LlmOutcome::ClientError, rng.latency(80.0)),
            _ => (LlmOutcome::Ok, rng.latency(900.0)),
        };
        m.llm_requests[a].get(outcome).inc();
        // The call's trace id rides along as the bucket's exemplar.
        let mut id = [0; 32];
        m.llm_latency[a]
            .observe_with_exemplar((ms as u64) as f64, &[("trace_id", rng.trace_id(&mut id))]);
        if outcome == LlmOutcome::Error {
            if breaker.failures.fetch_add(1, Ordering::Relaxed) + 1 >= 5 {
                breaker
                    .opened_tick
                    .store(w.tick.load(Ordering::Relaxed), Ordering::Relaxed);
                breaker.open.store(true, Ordering::Relaxed);
            }
        } else {
            breaker.failures.store(0, Ordering::Relaxed);
        }
    }
    for _ in 0..rng.below(3) {
        let t = rng.below(TOOLS.len());
        let (agent, tool) = (AGENTS[a].0, TOOLS[t].0);
        let call = |outcome| {
            m.tool_calls.with(
                ToolCall {
                    agent,
                    outcome,
                    tool,
                },
                |c| c.inc(),
            )
        };
        if policy(agent, t) == "deny" {
            call(ToolOutcome::Blocked);
            continue;
        }
        let cache = &m.tool_cache[a][t];
        if rng.chance(0.4) {
            cache.get(CacheEvent::Hit).inc();
            call(ToolOutcome::Ok);
            continue;
        }
        cache.get(CacheEvent::Miss).inc();
        m.tool_latency[a][t].observe_u64(rng.latency(60.0) as u64);
        let outcome = match rng.below(100) {
            0..=4 => ToolOutcome::Error,
            5..=6 => ToolOutcome::Unknown,
            _ => ToolOutcome::Ok,
        };
        call(outcome);
        if outcome == ToolOutcome::Ok {
            cache.get(CacheEvent::Put).inc();
            if rng.chance(0.1) {
                cache.get(CacheEvent::Evict).inc();
            }
        }
    }
    if let Some(i) = channel {
        use_credential(m, w, rng, a, i, Direction::Outbound);
    }
}

/// One simulated operation on a worker thread.
fn work(m: &Metrics, w: &World, store: &PairingStore, rng: &mut Rng) {
    let a = rng.below(AGENTS.len());
    let running = w.agents[a].status.load(Ordering::Relaxed) == 1;
    match rng.below(1000) {
        // Inbound messages arrive through the broker.
        0..=699 if running && w.broker_ready.load(Ordering::Relaxed) => {
            handle_message(m, w, rng, a);
        }
        // An outbound send on an instance whose allow_agents excludes it.
        700..=729 if running => {
            let denied: Vec<&Counter> = m.acl_denied[a].iter().flatten().collect();
            if !denied.is_empty() {
                rng.pick(&denied).inc();
            }
        }
        730..=759 => {
            let reason = *rng.pick(&[
                ResolveReason::Unbound,
                ResolveReason::NotFound,
                ResolveReason::NotPermitted,
            ]);
            m.resolve_errors[rng.below(CHANNELS.len())]
                .get(reason)
                .inc();
        }
        760..=789 => {
            let outcome = if rng.chance(0.9) {
                RefreshOutcome::Ok
            } else {
                RefreshOutcome::Err
            };
            m.token_refresh[rng.below(GOOGLE_ACCOUNTS.len())]
                .get(outcome)
                .inc();
        }
        // A DM from an unknown sender: challenge it with a pairing code.
        790..=792 => {
            let ch = rng.below(CHANNELS.len());
            let result = match ch {
                0 => ChallengeResult::DeliveredViaAdapter,
                1 if w.broker_ready.load(Ordering::Relaxed) => ChallengeResult::DeliveredViaBroker,
                1 => ChallengeResult::PublishFailed,
                _ => ChallengeResult::NoAdapterNoBrokerTopic,
            };
            m.challenged[ch].get(result).inc();
            if matches!(
                result,
                ChallengeResult::DeliveredViaAdapter | ChallengeResult::DeliveredViaBroker
            ) {
                store.add(ch, Instant::now());
            }
        }
        _ => {}
    }
}

/// Slow-moving state, every tick: sessions, breaker cool-downs, pairing
/// approvals and expiry, bootstrap tokens, periodic discovery sweeps.
fn churn(m: &Metrics, w: &World, store: &PairingStore, rng: &mut Rng) {
    let tick = w.tick.fetch_add(1, Ordering::Relaxed) + 1;
    for a in &w.agents {
        if a.status.load(Ordering::Relaxed) == 1 {
            let s = a.sessions.load(Ordering::Relaxed);
            a.sessions
                .store((s + rng.below(3) as i64 - 1).clamp(0, 8), Ordering::Relaxed);
        }
    }
    for b in &w.llm_breakers {
        if b.open.load(Ordering::Relaxed) && tick >= b.opened_tick.load(Ordering::Relaxed) + 6 {
            b.failures.store(0, Ordering::Relaxed);
            b.open.store(false, Ordering::Relaxed);
        }
    }
    for b in &w.cred_breakers {
        if b.state.load(Ordering::Relaxed) == 2 && tick >= b.since_tick.load(Ordering::Relaxed) + 4
        {
            b.strikes.store(0, Ordering::Relaxed);
            b.state.store(1, Ordering::Relaxed);
        }
    }
    if rng.chance(0.3) {
        if let Some((channel, code)) = store.approvable() {
            store.approve(channel, code, m);
        }
    }
    if rng.chance(0.05) {
        // An operator mistypes a code.
        store.approve(rng.below(CHANNELS.len()), u64::MAX, m);
    }
    store.prune();
    if rng.chance(0.05) {
        m.bootstrap_tokens[rng.below(TOKEN_PROFILES.len())].inc();
    }
    if tick % 60 == 0 {
        discovery_sweep(m);
    }
}

fn admin_agents(w: &World) -> Vec<serde_json::Value> {
    AGENTS
        .iter()
        .zip(&w.agents)
        .zip(&w.llm_breakers)
        .map(|(((id, provider, model), a), b)| {
            json!({
                "id": id,
                "status": a.status_str(),
                "sessions": a.sessions.load(Ordering::Relaxed),
                "provider": provider,
                "model": model,
                "messages": a.messages.load(Ordering::Relaxed),
                "llm_breaker": if b.open.load(Ordering::Relaxed) { "open" } else { "closed" },
            })
        })
        .collect()
}

fn admin_tool_policy() -> serde_json::Value {
    json!({
        "default": "ask",
        "tools": TOOLS
            .iter()
            .map(|(tool, policy)| json!({ "tool": tool, "policy": policy }))
            .collect::<Vec<_>>(),
        "agents": AGENTS
            .iter()
            .map(|(id, _, _)| json!({
                "agent": id,
                "overrides": POLICY_OVERRIDES
                    .iter()
                    .filter(|(a, _, _)| a == id)
                    .map(|(_, tool, policy)| json!({ "tool": tool, "policy": policy }))
                    .collect::<Vec<_>>(),
                "effective": TOOLS
                    .iter()
                    .enumerate()
                    .map(|(t, (tool, _))| (tool.to_string(), json!(policy(id, t))))
                    .collect::<serde_json::Map<_, _>>(),
            }))
            .collect::<Vec<_>>(),
    })
}

/// The channel the `/whatsapp/` pages pair.
const WHATSAPP: usize = 0;

fn start_exporter(
    args: &Args,
    reg: &Registry,
    world: &Arc<World>,
    store: &Arc<PairingStore>,
    metrics: &Arc<Metrics>,
) -> Result<ExporterHandle, telemeter::server::ServerError> {
    let (w1, w2, w3) = (Arc::clone(world), Arc::clone(world), Arc::clone(world));
    let (s1, s2, m) = (Arc::clone(store), Arc::clone(store), Arc::clone(metrics));
    Exporter::builder()
        .registry(reg.clone())
        .metrics_addr(args.metrics_addr.as_str())
        .health_addr(args.health_addr.as_str())
        .admin_addr(args.admin_addr.as_str())
        .drain(Duration::from_millis(args.drain_ms))
        .ready_check("broker_ready", move || {
            w1.broker_ready.load(Ordering::Relaxed)
        })
        .ready_fact_at_least("agents_running", 1, move || w2.agents_running())
        .admin_handler("/admin/agents", move |req| {
            common::directory::agents_page(req, admin_agents(&w3))
        })
        .admin_handler("/admin/tool-policy", |req| {
            common::directory::policy_page(req, admin_tool_policy())
        })
        // The WhatsApp plugin's QR pairing pages and approve endpoint.
        .route(Surface::Health, Route::prefix("/whatsapp/"), move |req| {
            whatsapp::get(req, &s1.pending_on(WHATSAPP))
        })
        .route(
            Surface::Health,
            Route::exact("/whatsapp/pair")
                .methods([Method::POST])
                .max_body_bytes(1024),
            move |req| match whatsapp::code_of(req) {
                Ok(code) => whatsapp::approved(code, s2.approve(WHATSAPP, code, &m).as_str()),
                Err(why) => whatsapp::bad_form(&why),
            },
        )
        .start()
}

/// What boot does, in order, spread over `--boot-ms`.
#[derive(Debug, Clone, Copy)]
enum BootStep {
    BrokerConnects,
    AgentAttaches(usize),
    Started,
}

/// Applies a stdin command; returns the line to answer.
fn command(
    cmd: &str,
    w: &World,
    store: &PairingStore,
    gate: &Gate,
    broker_held_down: &mut bool,
) -> String {
    let words: Vec<&str> = cmd.split_whitespace().collect();
    let agents = |which: &str| -> Option<Vec<usize>> {
        if which == "all" {
            Some((0..AGENTS.len()).collect())
        } else {
            AGENTS
                .iter()
                .position(|(id, _, _)| *id == which)
                .map(|i| vec![i])
        }
    };
    match words.as_slice() {
        ["broker", "down"] => {
            *broker_held_down = true;
            w.broker_ready.store(false, Ordering::Relaxed);
            "ok: broker down".into()
        }
        ["broker", "up"] => {
            *broker_held_down = false;
            w.broker_ready.store(true, Ordering::Relaxed);
            "ok: broker up".into()
        }
        ["agent", verb @ ("stop" | "start"), which] => match agents(which) {
            Some(list) => {
                for a in list {
                    let agent = &w.agents[a];
                    if *verb == "stop" {
                        agent.status.store(2, Ordering::Relaxed);
                        agent.sessions.store(0, Ordering::Relaxed);
                    } else {
                        agent.status.store(1, Ordering::Relaxed);
                    }
                }
                format!("ok: agent {verb} {which}")
            }
            None => format!("error: no agent {which:?} (agents: kate, ops-bot, support, all)"),
        },
        ["pairing", "drift"] => {
            for g in &store.gauges {
                g.set(0);
            }
            "ok: pairing drift".into()
        }
        ["pairing", "refresh"] => {
            let counts = store.refresh_pending_gauge();
            let mut line = "ok: pairing refresh".to_string();
            for (ch, n) in CHANNELS.iter().zip(counts) {
                line.push_str(&format!(" {ch}={n}"));
            }
            line
        }
        ["pause"] => {
            gate.pause();
            "ok: pause".into()
        }
        ["resume"] => {
            gate.resume();
            "ok: resume".into()
        }
        ["help"] => "ok: help: broker down|up, agent stop|start ID|all, pairing drift|refresh, \
                     pause, resume, help"
            .into(),
        _ => format!("error: unknown command {cmd:?} (try help)"),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(e) = common::check_counts(args.threads, args.rate) {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    let world = Arc::new(World {
        agents: AGENTS
            .iter()
            .map(|_| Agent {
                status: AtomicU8::new(0),
                sessions: AtomicI64::new(0),
                messages: AtomicU64::new(0),
            })
            .collect(),
        broker_ready: AtomicBool::new(false),
        llm_breakers: AGENTS.iter().map(|_| LlmBreaker::default()).collect(),
        cred_breakers: INSTANCES.iter().map(|_| CredBreaker::default()).collect(),
        tick: AtomicU64::new(0),
    });
    // The default registry: the `static_metrics!` statics register there.
    let reg = telemeter::default_registry().clone();
    let (metrics, pending_gauges) = match register(&reg, &world, &args) {
        Ok((m, g)) => (Arc::new(m), g),
        Err(e) => {
            eprintln!("error: registering the nexo-rs series: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = telemeter::process::register(&reg) {
        eprintln!("error: registering the process metrics: {e}");
        return ExitCode::FAILURE;
    }
    let events = match Events::install() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: cannot install signal handlers: {e}");
            return ExitCode::FAILURE;
        }
    };
    let store = Arc::new(PairingStore {
        pending: Mutex::new(Vec::new()),
        gauges: pending_gauges,
        next_code: AtomicU64::new(1),
    });
    let handle = match start_exporter(&args, &reg, &world, &store, &metrics) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    announce(&handle);

    // Boot, part one (at once): credentials, extension discovery, and the
    // pairing store read back from disk. The process is fresh, so the
    // pending gauges read 0 until refresh_pending_gauge resyncs them.
    credentials_gauntlet(&metrics);
    discovery_sweep(&metrics);
    let boot_start = Instant::now();
    for (ch, n) in RESTORED_PAIRINGS {
        for _ in 0..n {
            store
                .pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(Pending {
                    channel: ch,
                    code: store.next_code.fetch_add(1, Ordering::Relaxed),
                    created: boot_start,
                });
        }
    }
    store.refresh_pending_gauge();
    eprintln!("boot: credentials checked, extensions discovered, pairing store restored");

    // Part two, spread over --boot-ms: the broker connects, then each agent
    // runtime attaches to its inbound topics, then the host is started.
    let boot = Duration::from_millis(args.boot_ms);
    let n = AGENTS.len() as u32;
    let mut boot_steps: Vec<(Instant, BootStep)> =
        vec![(boot_start + boot * 2 / 5, BootStep::BrokerConnects)];
    for a in 0..AGENTS.len() {
        let at = boot * 2 / 5 + (boot * 3 / 5) * (a as u32 + 1) / n;
        boot_steps.push((
            boot_start + at.saturating_sub(Duration::from_millis(1)),
            BootStep::AgentAttaches(a),
        ));
    }
    boot_steps.push((boot_start + boot, BootStep::Started));
    boot_steps.reverse(); // pop from the end

    let gate = Arc::new(Gate::new(args.threads));
    let mut wanted: Vec<(String, Box<dyn FnOnce() + Send>)> = Vec::new();
    for t in 0..args.threads {
        let (m, w, s, g) = (
            Arc::clone(&metrics),
            Arc::clone(&world),
            Arc::clone(&store),
            Arc::clone(&gate),
        );
        let rate = args.rate;
        wanted.push((
            format!("nexo-worker-{t}"),
            Box::new(move || {
                let mut rng = Rng::seeded(t as u64 + 1);
                common::paced(&g, rate, || work(&m, &w, &s, &mut rng));
            }),
        ));
    }
    let workers = match common::spawn_all(&gate, wanted) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: {e}");
            handle.shutdown();
            return ExitCode::FAILURE;
        }
    };

    let mut rng = Rng::seeded(0);
    let mut broker_held_down = false;
    let mut next_tick = Instant::now() + TICK;
    // One loop runs boot steps and ticks when due, and otherwise waits for a
    // signal or a stdin command.
    let signal = loop {
        let now = Instant::now();
        while boot_steps.last().is_some_and(|(at, _)| *at <= now) {
            let (_, step) = boot_steps.pop().expect("checked");
            match step {
                BootStep::BrokerConnects => {
                    if !broker_held_down {
                        world.broker_ready.store(true, Ordering::Relaxed);
                    }
                }
                BootStep::AgentAttaches(a) => {
                    let agent = &world.agents[a];
                    if agent.status.load(Ordering::Relaxed) == 0 {
                        agent.status.store(1, Ordering::Relaxed);
                        agent.sessions.store(1, Ordering::Relaxed);
                    }
                }
                BootStep::Started => {
                    handle.set_started();
                    eprintln!(
                        "boot: done; /ready answers 200 while the broker is up and an agent runs"
                    );
                }
            }
        }
        if now >= next_tick {
            next_tick = now + TICK;
            if !gate.is_paused() {
                churn(&metrics, &world, &store, &mut rng);
            }
        }
        let deadline = boot_steps
            .last()
            .map_or(next_tick, |(at, _)| (*at).min(next_tick));
        match events.next_before(deadline) {
            Some(Event::Signal(name)) => break name,
            Some(Event::Command(cmd)) => {
                let reply = command(&cmd, &world, &store, &gate, &mut broker_held_down);
                say(&reply);
            }
            None => {}
        }
    };
    eprintln!(
        "received {signal}: /ready now answers 503; draining for {} ms",
        args.drain_ms
    );
    for a in &world.agents {
        a.status.store(3, Ordering::Relaxed);
    }
    handle.shutdown();
    gate.stop();
    for w in workers {
        let _ = w.join();
    }
    eprintln!("stopped");
    ExitCode::SUCCESS
}
