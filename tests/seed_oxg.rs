//! Conformance of `examples/oxg_agent.rs` with the 0xgen telemetry seed
//! (`seeds/0xgen-telemetry.md`), line by line: the `--metrics-addr` flag, the
//! series table, the legacy `glyph_*` aliases, the scrape config and the
//! Grafana dashboard. docs/seeds.md maps each seed line to a test here.

mod prom_support;
mod seed_support;
use prom_support::server_support;

use std::collections::BTreeSet;
use std::time::Duration;

use prom_support::promtool_lint;
use seed_support::{
    assert_promql_parses, assert_selectors_exported, assert_specs, eventually, example_bin,
    expand_grafana_vars, promtool, run_promtool, Agent, Spec,
};
use server_support::get;
use telemeter::parse::{parse, Exposition, MetricType};

use MetricType::{Counter, Gauge, Histogram};

/// The seed's "Key exported series" table.
const SEED: &[Spec] = &[
    Spec {
        name: "oxg_rpc_requests_total",
        kind: Counter,
        labels: &["component", "method"],
        values: &[],
    },
    Spec {
        name: "oxg_rpc_errors_total",
        kind: Counter,
        labels: &["component", "method", "code"],
        values: &[],
    },
    Spec {
        name: "oxg_rpc_duration_seconds",
        kind: Histogram,
        labels: &["component", "method", "code"],
        values: &[],
    },
    Spec {
        name: "oxg_plugin_event_duration_seconds",
        kind: Histogram,
        labels: &["plugin", "event"],
        values: &[],
    },
    Spec {
        name: "oxg_plugin_queue_length",
        kind: Gauge,
        labels: &["plugin"],
        values: &[],
    },
    Spec {
        name: "oxg_active_plugins",
        kind: Gauge,
        labels: &[],
        values: &[],
    },
    Spec {
        name: "oxg_http_request_duration_seconds",
        kind: Histogram,
        labels: &["plugin", "capability", "method", "status"],
        values: &[],
    },
    Spec {
        name: "oxg_http_throttle_total",
        kind: Counter,
        labels: &["scope"],
        values: &[],
    },
    Spec {
        name: "oxg_http_backoff_total",
        kind: Counter,
        labels: &["status"],
        values: &[],
    },
];

/// Samples the simulated workload must have moved before a test looks.
const MOVED: &[&str] = &[
    "oxg_rpc_requests_total",
    "oxg_rpc_errors_total",
    "oxg_rpc_duration_seconds_count",
    "oxg_plugin_event_duration_seconds_count",
    "oxg_http_request_duration_seconds_count",
    "oxg_http_throttle_total",
    "oxg_http_backoff_total",
];

/// A sample as (name, labels, value).
type SampleRow = (String, Vec<(String, String)>, f64);

fn legacy(name: &str) -> String {
    format!("glyph_{}", name.strip_prefix("oxg_").unwrap())
}

fn start(metrics_addr: &str) -> Agent {
    Agent::start(
        &example_bin("oxg_agent"),
        &["--metrics-addr", metrics_addr],
        1,
    )
}

fn scrape(agent: &Agent) -> (String, Exposition) {
    let resp = get(agent.addr("metrics"), "/metrics");
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let body = resp.text();
    let exp = parse(&body).unwrap_or_else(|e| panic!("unparsable scrape: {e}\n{body}"));
    (body, exp)
}

/// Starts the agent on loopback port 0, lets the workload run, pauses it
/// (so that the scrape is stable) and scrapes.
fn running_agent() -> (Agent, String, Exposition) {
    let mut agent = start("127.0.0.1:0");
    assert_eq!(agent.surfaces[0].0, "metrics");
    assert_eq!(agent.surfaces[0].2, "/metrics");
    // Let the workload drive every part of the surface (bounded, so a slow
    // machine only makes this slower).
    eventually(
        Duration::from_secs(30),
        "the workload to move every series",
        || {
            let (_, exp) = scrape(&agent);
            MOVED.iter().all(|s| total(&exp, s) > 0.0)
        },
    );
    agent.command("pause");
    let (body, exp) = scrape(&agent);
    (agent, body, exp)
}

fn total(exp: &Exposition, sample: &str) -> f64 {
    exp.families
        .iter()
        .flat_map(|f| &f.samples)
        .filter(|s| s.name == sample)
        .map(|s| s.value)
        .sum()
}

#[test]
fn every_seed_series_with_its_type_and_labels() {
    let (agent, _body, exp) = running_agent();
    assert_specs(&exp, SEED);

    // The body holds the seed's families, their aliases, the process
    // metrics and telemeter's self-metrics, nothing else.
    let seed: BTreeSet<String> = SEED
        .iter()
        .flat_map(|s| [s.name.to_string(), legacy(s.name)])
        .collect();
    let extra: Vec<&str> = exp
        .families
        .iter()
        .map(|f| f.name.as_str())
        .filter(|n| {
            !seed.contains(*n)
                && !n.starts_with("telemeter_")
                && !telemeter::process::NAMES.contains(n)
        })
        .collect();
    seed_support::assert_process_metrics(&exp);
    assert!(
        extra.is_empty(),
        "families the seed does not list: {extra:?}"
    );

    // The simulated workload drives every part of the surface.
    for sample in MOVED {
        assert!(total(&exp, sample) > 0.0, "{sample} never moved");
    }
    let active = total(&exp, "oxg_active_plugins");
    assert!((1.0..=4.0).contains(&active), "oxg_active_plugins {active}");
    // Errors are a subset of requests, per (component, method).
    assert!(total(&exp, "oxg_rpc_errors_total") < total(&exp, "oxg_rpc_requests_total"));
    // Histogram counts equal their +Inf buckets.
    for h in SEED.iter().filter(|s| s.kind == Histogram) {
        let f = exp.family(h.name).unwrap();
        let inf: f64 = f
            .samples
            .iter()
            .filter(|s| s.labels.iter().any(|(k, v)| k == "le" && v == "+Inf"))
            .map(|s| s.value)
            .sum();
        assert_eq!(inf, total(&exp, &format!("{}_count", h.name)), "{}", h.name);
    }
    drop(agent);
}

#[test]
fn legacy_glyph_aliases_carry_the_same_values_and_say_deprecated() {
    let (_agent, _body, exp) = running_agent();
    for spec in SEED {
        let new = exp.family(spec.name).expect(spec.name);
        let old_name = legacy(spec.name);
        let old = exp
            .family(&old_name)
            .unwrap_or_else(|| panic!("no legacy {old_name}"));
        assert_eq!(old.kind, new.kind, "{old_name}");
        let help = old.help.as_deref().unwrap_or_default();
        assert!(
            help.starts_with(&format!("Deprecated: use {}.", spec.name)),
            "{old_name} HELP {help:?}"
        );
        // Workload paused: the alias is the same series, value for value.
        let renamed: Vec<SampleRow> = new
            .samples
            .iter()
            .map(|s| {
                (
                    s.name.replacen(spec.name, &old_name, 1),
                    s.labels.clone(),
                    s.value,
                )
            })
            .collect();
        let legacy_samples: Vec<SampleRow> = old
            .samples
            .iter()
            .map(|s| (s.name.clone(), s.labels.clone(), s.value))
            .collect();
        assert_eq!(renamed, legacy_samples, "{old_name}");
    }
}

#[test]
fn promtool_finds_nothing_to_lint() {
    let Some(promtool) = promtool() else { return };
    let (_agent, body, _) = running_agent();
    // The seed's names are all in base units with conventional suffixes:
    // promtool has nothing to say about them (or about the aliases and
    // telemeter's self-metrics).
    let findings = promtool_lint(&promtool, &body);
    assert_eq!(findings, BTreeSet::new(), "promtool check metrics findings");
}

#[test]
fn metrics_addr_defaults_to_9090() {
    let out = std::process::Command::new(example_bin("oxg_agent"))
        .arg("--help")
        .output()
        .expect("run --help");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("--metrics-addr <ADDR>") && help.contains("[default: :9090]"),
        "{help}"
    );
}

#[test]
fn empty_metrics_addr_runs_no_http_server_and_says_so() {
    let agent = start("");
    assert_eq!(
        agent.first_lines,
        ["metrics disabled (--metrics-addr \"\"): no HTTP server is running"]
    );
    assert!(agent.surfaces.is_empty());
    std::thread::sleep(Duration::from_millis(300));
    #[cfg(target_os = "linux")]
    {
        let listening = listening_socket_inodes();
        let fds = std::fs::read_dir(format!("/proc/{}/fd", agent.pid())).expect("/proc fds");
        for fd in fds.flatten() {
            let Ok(link) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let link = link.to_string_lossy().into_owned();
            if let Some(inode) = link
                .strip_prefix("socket:[")
                .and_then(|s| s.strip_suffix(']'))
            {
                assert!(
                    !listening.contains(inode),
                    "the agent listens on a TCP socket (inode {inode})"
                );
            }
        }
    }
    agent.signal("TERM");
    let (status, stderr) = agent.wait(Duration::from_secs(20));
    assert!(status.success(), "{status:?}\n{stderr}");
    assert!(stderr.contains("received SIGTERM"), "{stderr}");
}

/// Inodes of every listening TCP socket on the machine.
#[cfg(target_os = "linux")]
fn listening_socket_inodes() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            // st == 0A is LISTEN; column 9 is the inode.
            if cols.len() > 9 && cols[3] == "0A" {
                out.insert(cols[9].to_string());
            }
        }
    }
    out
}

#[test]
fn sigterm_stops_the_agent_cleanly() {
    let agent = start("127.0.0.1:0");
    assert_eq!(get(agent.addr("metrics"), "/metrics").status, 200);
    agent.signal("TERM");
    let (status, stderr) = agent.wait(Duration::from_secs(20));
    assert!(status.success(), "{status:?}\n{stderr}");
}

#[test]
fn prometheus_yml_is_the_seed_scrape_job() {
    let path = seed_support::repo().join("docs/0xgen/prometheus.yml");
    let text = std::fs::read_to_string(&path).expect("docs/0xgen/prometheus.yml");
    // The seed's job, verbatim.
    assert!(
        text.contains(
            "scrape_configs:\n  - job_name: 0xgen\n    scrape_interval: 15s\n    static_configs:\n      - targets:\n          - localhost:9090\n"
        ),
        "{text}"
    );
    let Some(promtool) = promtool() else { return };
    let (ok, out) = run_promtool(
        &promtool,
        path.parent().unwrap(),
        &["check", "config", "prometheus.yml"],
        "",
    );
    assert!(ok, "{out}");
}

/// Every PromQL expression of the dashboard, with the panel it is in.
fn dashboard() -> (serde_json::Value, Vec<(String, String)>) {
    let path = seed_support::repo().join("docs/0xgen/grafana-dashboard.json");
    let text = std::fs::read_to_string(&path).expect("docs/0xgen/grafana-dashboard.json");
    let json: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let mut exprs = Vec::new();
    for panel in json["panels"].as_array().expect("panels") {
        let title = panel["title"].as_str().expect("panel title").to_string();
        for target in panel["targets"].as_array().expect("targets") {
            exprs.push((
                title.clone(),
                target["expr"].as_str().expect("expr").to_string(),
            ));
        }
    }
    (json, exprs)
}

#[test]
fn dashboard_is_importable_and_shows_what_the_seed_lists() {
    let (json, exprs) = dashboard();
    assert!(json["title"].is_string() && json["uid"].is_string());
    assert!(json["schemaVersion"].is_u64());
    let panels = json["panels"].as_array().unwrap();
    let mut ids = BTreeSet::new();
    for p in panels {
        assert!(
            ids.insert(p["id"].as_u64().expect("panel id")),
            "duplicate id"
        );
        // The seed: "assumes a Prometheus datasource named `Prometheus`".
        assert_eq!(p["datasource"], "Prometheus", "panel {}", p["title"]);
        for t in p["targets"].as_array().unwrap() {
            assert_eq!(t["datasource"], "Prometheus", "panel {}", p["title"]);
            assert!(t["refId"].is_string());
        }
        for k in ["x", "y", "w", "h"] {
            assert!(p["gridPos"][k].is_u64(), "panel {} gridPos", p["title"]);
        }
    }
    let has = |needle: &str| exprs.iter().any(|(_, e)| e.contains(needle));
    // Overall request rate and error rate.
    assert!(has("sum(rate(oxg_rpc_requests_total["));
    assert!(has("sum(rate(oxg_rpc_errors_total["));
    // p50/p95 plugin processing latency using histogram quantiles.
    for q in ["0.5", "0.95"] {
        assert!(
            has(&format!(
                "histogram_quantile({q}, sum by (le, plugin) (rate(oxg_plugin_event_duration_seconds_bucket["
            )),
            "no p{q} plugin latency panel"
        );
    }
    // Queue depth per plugin; active plugin connection count.
    assert!(has("sum by (plugin) (oxg_plugin_queue_length)"));
    assert!(has("oxg_active_plugins"));
    // No panel is left on the deprecated names.
    assert!(!has("glyph_"));
}

#[test]
fn dashboard_promql_parses_and_names_only_exported_series() {
    let (_, exprs) = dashboard();
    let exprs: Vec<String> = exprs.iter().map(|(_, e)| expand_grafana_vars(e)).collect();
    if let Some(promtool) = promtool() {
        assert_promql_parses(&promtool, &exprs);
    }
    let (_agent, _, exp) = running_agent();
    assert_selectors_exported(&exp, &exprs);
}

#[test]
fn thread_counts_past_the_limit_or_the_system_are_clear_errors() {
    seed_support::assert_thread_limits(
        &example_bin("oxg_agent"),
        &["--metrics-addr", "127.0.0.1:0"],
    );
}

#[test]
fn the_crash_command_writes_a_redacted_bundle_that_telemeter_crash_reads() {
    let dir = std::env::temp_dir().join(format!("telemeter-oxg-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let planted = [
        ("OXG_API_TOKEN", "tok-plain-0001"),
        ("OPERATOR", "carol@example.com"),
        ("UPSTREAM", "https://svc:pw-9911@up.internal/"),
    ];
    let dir_arg = dir.display().to_string();
    let mut agent = Agent::start_with_env(
        &example_bin("oxg_agent"),
        &["--metrics-addr", "127.0.0.1:0", "--crash-dir", &dir_arg],
        &planted,
        1,
    );
    eventually(Duration::from_secs(30), "RPC calls to be counted", || {
        let (_, exp) = scrape(&agent);
        total(&exp, "oxg_rpc_requests_total") > 0.0
    });
    agent.command("pause");
    let note = "note deploy by dave@example.net key=sk-abcdefghijklmnop1234";
    agent.send(note);
    agent.send("crash");
    let (status, stderr) = agent.wait(Duration::from_secs(30));
    assert_eq!(status.code(), Some(101), "the panic's status: {stderr}");
    assert!(stderr.contains("operator asked for a crash"), "{stderr}");
    assert!(
        stderr.contains("telemeter: crash bundle written to"),
        "{stderr}"
    );

    let all = telemeter::crash::list(&dir).unwrap();
    assert_eq!(all.len(), 1, "{all:?}");
    let b = &all[0];
    assert_eq!(b.thread, "main");
    assert_eq!(
        b.program,
        format!("oxg_agent {}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        b.message,
        "operator asked for a crash (stdin command `crash`)"
    );
    assert!(b.location.starts_with("examples/oxg_agent.rs:"), "{b:?}");
    let read = |f: &str| std::fs::read_to_string(b.path.join(f)).unwrap();
    for f in telemeter::crash::FILES {
        let text = read(f);
        for secret in [
            "tok-plain-0001",
            "carol@",
            "pw-9911",
            "dave@",
            "sk-abcdefghijklmnop1234",
        ] {
            assert!(!text.contains(secret), "{secret} reached {f}:\n{text}");
        }
    }
    let crumbs = read("breadcrumbs.txt");
    for line in [
        "stdin: pause",
        "stdin: note deploy by [redacted:email] key=[redacted:token]",
        "stdin: crash",
    ] {
        assert!(crumbs.contains(line), "{line:?} in\n{crumbs}");
    }
    assert!(
        crumbs.starts_with("crash reporter installed; bundles go to "),
        "{crumbs}"
    );
    let metrics = read("metrics.txt");
    let exp = parse(&metrics).unwrap_or_else(|e| panic!("{e}\n{metrics}"));
    assert!(total(&exp, "oxg_rpc_requests_total") > 0.0);
    assert!(read("summary.txt").contains("\nreadiness: "));
    assert!(read("environment.txt").contains("OXG_API_TOKEN=[redacted:secret-name]\n"));

    // The CLI reads the same bundle.
    let cli = |args: &[&str]| {
        std::process::Command::new(seed_support::telemeter_bin())
            .arg("crash")
            .args(args)
            .output()
            .expect("run telemeter crash")
    };
    let ls = cli(&["ls", &dir_arg]);
    let ls_out = String::from_utf8_lossy(&ls.stdout);
    assert!(ls.status.success());
    assert!(ls_out.starts_with("BUNDLE"), "{ls_out}");
    assert!(
        ls_out.contains(&b.name) && ls_out.contains("operator asked for a crash"),
        "{ls_out}"
    );
    let packed = telemeter::crash::pack(&b.path).unwrap();
    let show = cli(&["show", &dir_arg]);
    assert!(show.status.success());
    assert_eq!(String::from_utf8_lossy(&show.stdout), packed);
    let out_file = dir.join("handoff.txt");
    let out_arg = out_file.display().to_string();
    let pack = cli(&["pack", &dir_arg, &b.name, "-o", &out_arg]);
    assert!(
        pack.status.success(),
        "{}",
        String::from_utf8_lossy(&pack.stderr)
    );
    assert_eq!(std::fs::read_to_string(&out_file).unwrap(), packed);
    let again = cli(&["pack", &dir_arg, "latest", "-o", &out_arg]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("not replaced"));
    let missing = cli(&["show", &dir_arg, "crash-nope"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains(&b.name));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn crash_needs_a_crash_dir() {
    let mut agent = start("127.0.0.1:0");
    agent.send("crash");
    let line = agent.line();
    assert!(line.starts_with("error: crash needs --crash-dir"), "{line}");
    assert_eq!(
        agent.command("help"),
        "ok: help: commands are pause, resume, crash, help"
    );
}
