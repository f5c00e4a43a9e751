//! `telemeter fleet`: 50 simulated agents of 2,000 series each, scraped by
//! a real Prometheus through the `file_sd` targets file the fleet writes:
//! every target up, no sample refused as out of order, duplicate or out of
//! bounds, and as many series in Prometheus as the fleet serves. Outside CI
//! the test skips without Debian's prometheus; under CI `.ci/run` installs
//! it.

#[path = "../../tests/prom_support/mod.rs"]
mod prom_support;
#[path = "../../tests/seed_support/mod.rs"]
mod seed_support;

use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use prom_support::server_support::get;
use prom_support::{prometheus_or_skip, query, Prometheus, TempDir};
use seed_support::Agent;

const BIN: &str = env!("CARGO_BIN_EXE_telemeter");
const AGENTS: usize = 50;
const SERIES: usize = 2000;

/// The value of an unlabelled sample line `name value` in a body.
fn sample(body: &str, name: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn fifty_agents_of_two_thousand_series_are_scraped_whole_by_a_real_prometheus() {
    let Some(prometheus) = prometheus_or_skip() else {
        return;
    };
    let dir = TempDir::new("fleet");
    let targets = dir.0.join("targets.json");
    let targets_arg = targets.display().to_string();
    let (agents, series) = (AGENTS.to_string(), SERIES.to_string());
    let fleet = Agent::start(
        Path::new(BIN),
        &[
            "fleet",
            "--agents",
            &agents,
            "--series",
            &series,
            "--targets-file",
            &targets_arg,
            "--duration",
            "300",
        ],
        AGENTS + 1,
    );
    assert_eq!(fleet.surfaces.len(), AGENTS, "{:?}", fleet.first_lines);
    for (k, (surface, _, path)) in fleet.surfaces.iter().enumerate() {
        assert_eq!(
            (surface.as_str(), path.as_str()),
            (format!("agent-{k}").as_str(), "/metrics")
        );
    }
    assert_eq!(
        fleet.first_lines[AGENTS],
        format!("targets written to {targets_arg}")
    );
    let listed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&targets).unwrap()).unwrap();
    assert_eq!(listed[0]["targets"].as_array().unwrap().len(), AGENTS);
    assert_eq!(listed[0]["labels"]["job"], "telemeter-fleet");

    let prom = Prometheus::start_with(
        &prometheus,
        &format!(
            "  - job_name: telemeter-fleet\n    scrape_interval: 1s\n    scrape_timeout: 1s\n    \
             file_sd_configs:\n      - files: ['{targets_arg}']\n        refresh_interval: 1s\n"
        ),
    );
    let want = (AGENTS * SERIES) as f64;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let up = query(prom.addr, "count(up{job=\"telemeter-fleet\"} == 1)");
        let stored = query(prom.addr, "count(fleet_requests_total)");
        if up == Some(AGENTS as f64) && stored == Some(want) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "up {up:?}, series {stored:?}\nfleet stderr: {}\n{}",
            fleet.stderr(),
            prom.report()
        );
        thread::sleep(Duration::from_millis(500));
    }
    // A few more scrapes of every target, then Prometheus' own account.
    thread::sleep(Duration::from_secs(3));
    let own = get(prom.addr, "/metrics").text();
    for refused in [
        "prometheus_target_scrapes_sample_out_of_order_total",
        "prometheus_target_scrapes_sample_duplicate_timestamp_total",
        "prometheus_target_scrapes_sample_out_of_bounds_total",
        "prometheus_target_scrapes_exceeded_sample_limit_total",
    ] {
        assert_eq!(sample(&own, refused), Some(0.0), "{refused}");
    }
    // Every series the fleet serves is a series in Prometheus: the sample
    // lines of one scrape of every agent, against Prometheus' count of the
    // job's series without the ones it makes itself (up, scrape_*).
    let served: usize = fleet
        .surfaces
        .iter()
        .map(|(_, addr, _)| {
            get(*addr, "/metrics")
                .text()
                .lines()
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .count()
        })
        .sum();
    let stored = query(
        prom.addr,
        "count({job=\"telemeter-fleet\", __name__!~\"up|scrape_.+\"})",
    );
    assert_eq!(stored, Some(served as f64), "{}", prom.report());
    assert_eq!(
        query(prom.addr, "count(count by (agent) (fleet_requests_total))"),
        Some(AGENTS as f64)
    );
    prom.stop();
    drop(fleet);
}

#[test]
fn bad_fleet_flags_are_usage_errors() {
    for (args, want) in [
        (&["--agents", "0"][..], "--agents 0: give 1 to 10000"),
        (&["--churn=-1"][..], "--churn -1: give 0 to 1000"),
        (
            &["--port-base", "65500", "--agents", "100"][..],
            "run past port 65535",
        ),
        (
            &["--agents", "10000", "--series", "5000"][..],
            "sample lines",
        ),
        (
            &["--ports-file", "/no/such/file"][..],
            "--ports-file /no/such/file",
        ),
    ] {
        let out = Command::new(BIN).arg("fleet").args(args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
}

#[test]
fn churned_label_sets_come_at_their_rate_and_go_after_ten_seconds() {
    let fleet = Agent::start(
        Path::new(BIN),
        &[
            "fleet",
            "--agents",
            "2",
            "--series",
            "5",
            "--churn",
            "20",
            "--duration",
            "60",
        ],
        2,
    );
    let addr = fleet.surfaces[0].1;
    let ids = || -> Vec<u64> {
        get(addr, "/metrics")
            .text()
            .lines()
            .filter_map(|l| l.strip_prefix("fleet_churn_total{id=\""))
            .filter_map(|l| l.split('"').next()?.parse().ok())
            .collect()
    };
    let start = Instant::now();
    thread::sleep(Duration::from_secs(3));
    let early = ids();
    // 20 a second, made at each one-second tick: 40 to 60 after 3 s.
    assert!(
        (40..=80).contains(&early.len()),
        "{} after 3 s",
        early.len()
    );
    assert!(early.contains(&0));
    // Id 0 is made at the fleet's 1 s tick and removed at the first tick
    // at least ten seconds later: the 11 s tick, or the 12 s one when the
    // ticks run a little early. Wait for the 13 s tick's label sets (ids
    // from 240 up) by the fleet's own clock, not the test's: on a loaded
    // machine its ticks run late.
    let deadline = start + Duration::from_secs(40);
    let later = loop {
        let now = ids();
        if now.iter().any(|&id| id >= 240) {
            break now;
        }
        assert!(Instant::now() < deadline, "no 13 s tick by 40 s: {now:?}");
        thread::sleep(Duration::from_millis(200));
    };
    assert!(
        !later.contains(&0),
        "id 0 lived past ten seconds: {later:?}"
    );
    // About ten seconds' worth alive: never more than 20 x 11.
    assert!((150..=220).contains(&later.len()), "{} alive", later.len());
    assert!(later.iter().max() > early.iter().max());
}
