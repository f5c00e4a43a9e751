//! The `telemeter` binary: `demo` serves every surface and exits 0 on
//! SIGTERM; `status` reads its admin console, and fails clearly otherwise.

#[path = "../../tests/prom_support/mod.rs"]
mod prom_support;
#[path = "../../tests/seed_support/mod.rs"]
mod seed_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Command, ExitStatus, Output};
use std::thread;
use std::time::{Duration, Instant};

use prom_support::server_support::{get, gunzip, request, try_get};
use seed_support::Agent;

const BIN: &str = env!("CARGO_BIN_EXE_telemeter");

/// A running `telemeter demo` (the shared process wrapper of the seed
/// tests), killed if the test fails before it exits.
struct Demo(Agent);

impl std::ops::Deref for Demo {
    type Target = Agent;
    fn deref(&self) -> &Agent {
        &self.0
    }
}

impl Demo {
    fn start(extra: &[&str]) -> Demo {
        Demo::start_with("127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", extra)
    }

    fn start_with(metrics: &str, health: &str, admin: &str, extra: &[&str]) -> Demo {
        let mut args = vec![
            "demo",
            "--metrics-addr",
            metrics,
            "--health-addr",
            health,
            "--admin-addr",
            admin,
            "--threads",
            "2",
        ];
        args.extend_from_slice(extra);
        // One line per enabled surface; /health and /ready share one address.
        let lines = usize::from(!metrics.is_empty())
            + 2 * usize::from(!health.is_empty())
            + usize::from(!admin.is_empty());
        let demo = Agent::start(Path::new(BIN), &args, lines);
        assert_eq!(
            demo.surfaces.len(),
            lines,
            "every first line is a listening line: {:?}",
            demo.first_lines
        );
        Demo(demo)
    }

    /// Waits for exit, bounded; returns the exit status and stderr.
    fn wait(self, within: Duration) -> (ExitStatus, String) {
        self.0.wait(within)
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if try_get(self.addr("ready"), "/ready").is_some_and(|r| r.status == 200) {
                return;
            }
            assert!(Instant::now() < deadline, "demo never became ready");
            thread::sleep(Duration::from_millis(50));
        }
    }
}

fn status(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("status")
        .args(args)
        .output()
        .expect("run telemeter status")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn demo_serves_every_surface_and_exits_0_on_sigterm() {
    let demo = Demo::start(&["--drain-ms", "1500"]);
    let paths: Vec<(&str, &str)> = demo
        .surfaces
        .iter()
        .map(|(s, _, p)| (s.as_str(), p.as_str()))
        .collect();
    assert_eq!(
        paths,
        [
            ("metrics", "/metrics"),
            ("health", "/health"),
            ("ready", "/ready"),
            ("admin", "/admin/agents"),
        ]
    );
    assert_eq!(demo.addr("health"), demo.addr("ready"));

    // Starting: /ready is 503 until the agents attach (or already ready).
    let first = get(demo.addr("ready"), "/ready");
    assert!(first.status == 503 || first.status == 200);
    demo.wait_ready();
    let ready = get(demo.addr("ready"), "/ready");
    assert_eq!(ready.header("content-type"), Some("application/json"));
    assert_eq!(ready.text(), r#"{"status":"ready","agents_running":3}"#);

    let health = get(demo.addr("health"), "/health");
    assert_eq!(
        (health.status, health.text().as_str()),
        (200, r#"{"status":"ok"}"#)
    );

    let m = get(demo.addr("metrics"), "/metrics");
    assert_eq!(m.status, 200);
    assert_eq!(
        m.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let body = m.text();
    let parsed = telemeter::parse::parse(&body).unwrap_or_else(|e| panic!("{e}\n{body}"));
    for family in [
        "oxg_rpc_requests_total",
        "glyph_rpc_requests_total",
        "oxg_rpc_duration_seconds",
        "oxg_plugin_event_duration_seconds",
        "oxg_plugin_queue_length",
        "oxg_active_plugins",
        "oxg_http_request_duration_seconds",
        "llm_requests_total",
        "llm_latency_ms",
        "messages_processed_total",
        "nexo_tool_calls_total",
        "nexo_tool_latency_ms",
        "circuit_breaker_state",
        "telemeter_http_scrapes_total",
    ] {
        assert!(parsed.family(family).is_some(), "no {family} in\n{body}");
    }
    assert!(body.contains("circuit_breaker_state{breaker=\"nats\"} 0\n"));
    assert!(body.contains("le=\"10000\""), "seed LLM buckets");
    let gz = request(
        demo.addr("metrics"),
        "GET",
        "/metrics",
        &[("Accept-Encoding", "gzip")],
    );
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    telemeter::parse::parse(&String::from_utf8(gunzip(&gz.body)).unwrap()).unwrap();

    let agents = get(demo.addr("admin"), "/admin/agents");
    assert_eq!(agents.status, 200);
    let agents = agents.json();
    let list = agents["agents"].as_array().unwrap();
    assert_eq!(list.len(), 3);
    for a in list {
        assert!(a["id"].is_string() && a["status"] == "running" && a["sessions"].is_i64());
    }
    let policy = get(demo.addr("admin"), "/admin/tool-policy");
    assert_eq!(policy.status, 200);
    assert!(policy.json()["tools"].is_array());
    let summary = get(demo.addr("admin"), "/admin/metrics-summary").json();
    assert!(summary["families"].as_array().unwrap().len() > 10);

    // The demo's own page, a host route on the health listener.
    let home = get(demo.addr("health"), "/");
    assert_eq!(home.status, 200);
    assert_eq!(
        home.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let page = home.text();
    for agent in ["kate", "ops-bot", "support"] {
        assert!(
            page.contains(&format!(
                "<tr><td>{agent}</td><td class=\"status\">running</td>"
            )),
            "{page}"
        );
    }
    for (surface, addr) in [
        ("metrics", demo.addr("metrics")),
        ("admin", demo.addr("admin")),
    ] {
        assert!(page.contains(&format!("<li>{surface}: {addr} (")), "{page}");
    }
    assert_eq!(get(demo.addr("metrics"), "/").status, 404);

    // SIGTERM: /ready turns 503 during the drain, then exit 0.
    let t = Instant::now();
    demo.signal("TERM");
    let mut saw_503 = false;
    while t.elapsed() < Duration::from_millis(1200) {
        match try_get(demo.addr("ready"), "/ready") {
            Some(r) if r.status == 503 => {
                saw_503 = true;
                break;
            }
            Some(_) => thread::sleep(Duration::from_millis(20)),
            None => break,
        }
    }
    assert!(saw_503, "/ready never answered 503 during the drain");
    let (exit, stderr) = demo.wait(Duration::from_secs(20));
    assert!(exit.success(), "exit {exit:?}: {stderr}");
    assert!(t.elapsed() >= Duration::from_millis(1400), "drained first");
    assert!(stderr.contains("received SIGTERM"));
}

#[test]
fn demo_exits_0_on_sigint() {
    let demo = Demo::start(&["--drain-ms", "0"]);
    demo.signal("INT");
    let (exit, stderr) = demo.wait(Duration::from_secs(20));
    assert!(exit.success(), "{stderr}");
    assert!(stderr.contains("received SIGINT"));
}

#[test]
fn demo_with_metrics_disabled_prints_no_metrics_line() {
    let demo = Demo::start_with("", "127.0.0.1:0", "127.0.0.1:0", &["--drain-ms", "0"]);
    let surfaces: Vec<&str> = demo.surfaces.iter().map(|(s, _, _)| s.as_str()).collect();
    assert_eq!(surfaces, ["health", "ready", "admin"]);
    demo.signal("TERM");
    assert!(demo.wait(Duration::from_secs(20)).0.success());
}

#[test]
fn demo_refuses_a_public_admin_address() {
    let out = Command::new(BIN)
        .args([
            "demo",
            "--metrics-addr",
            "127.0.0.1:0",
            "--health-addr",
            "127.0.0.1:0",
            "--admin-addr",
            "0.0.0.0:0",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("not a loopback address"), "{err}");
}

#[test]
fn status_reads_the_demo_admin_console() {
    let demo = Demo::start(&["--drain-ms", "0"]);
    demo.wait_ready();
    let endpoint = format!("http://{}", demo.addr("admin"));

    let out = status(&["--endpoint", &endpoint]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    let mut lines = table.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("ID"), "{table}");
    assert!(
        header.contains("STATUS") && header.contains("SESSIONS"),
        "{table}"
    );
    for id in ["kate", "ops-bot", "support"] {
        assert!(
            table
                .lines()
                .any(|l| l.starts_with(id) && l.contains("running")),
            "{table}"
        );
    }

    let out = status(&["--endpoint", &endpoint, "--json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON output");
    assert_eq!(v["agents"].as_array().unwrap().len(), 3);

    let out = status(&["--endpoint", &endpoint, "--agent-id", "kate", "--json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["id"], "kate");
    assert_eq!(v["status"], "running");

    let out = status(&["--endpoint", &endpoint, "--agent-id", "kate"]);
    assert!(out.status.success());
    assert_eq!(text(&out.stdout).lines().count(), 2);

    let out = status(&["--endpoint", &endpoint, "--agent-id", "nobody"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("no agent with id \"nobody\""), "{err}");
    assert!(err.contains("kate"), "{err}");

    // The metrics port is not an admin console: 404, a clear error.
    let out = status(&["--endpoint", &format!("http://{}", demo.addr("metrics"))]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("answered 404"),
        "{}",
        text(&out.stderr)
    );

    demo.signal("TERM");
    assert!(demo.wait(Duration::from_secs(20)).0.success());
}

#[test]
fn status_against_an_unreachable_endpoint_fails_clearly() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let out = status(&["--endpoint", &endpoint, "--timeout", "2"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = text(&out.stderr);
    assert!(
        err.starts_with("error: cannot reach the admin console at"),
        "{err}"
    );
    assert!(err.contains(&format!("{endpoint}/admin/agents")), "{err}");
    assert!(err.contains("is the agent running"), "{err}");
}

/// Serves each connection `reply` once, for `n` connections.
fn fake_server(reply: &'static [u8], n: usize) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    thread::spawn(move || {
        for _ in 0..n {
            let Ok((mut s, _)) = l.accept() else { return };
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(reply);
        }
    });
    addr
}

#[test]
fn status_asks_the_console_for_the_one_agent_it_wants() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut buf) {
                Ok(n) if n > 0 => head.extend_from_slice(&buf[..n]),
                _ => break,
            }
        }
        let body = r#"{"agents":[{"id":"a b/é","status":"running","sessions":1}]}"#;
        let _ = write!(
            s,
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        String::from_utf8_lossy(&head).into_owned()
    });
    let out = status(&[
        "--endpoint",
        &format!("http://{addr}"),
        "--agent-id",
        "a b/é",
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let head = server.join().unwrap();
    assert!(
        head.starts_with("GET /admin/agents?id=a%20b%2F%C3%A9 HTTP/1.1\r\n"),
        "{head}"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["id"], "a b/é");
}

#[test]
fn status_against_garbage_fails_clearly() {
    let cases: [(&'static [u8], &str); 4] = [
        (
            b"SSH-2.0-OpenSSH_9.6\r\n",
            "did not answer like an admin console",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nnot json!",
            "something other than JSON",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{\"x\":[1,2]}",
            "without an \"agents\" array",
        ),
        (
            b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\nboom",
            "answered 500 Internal Server Error: boom",
        ),
    ];
    for (reply, expected) in cases {
        let addr = fake_server(reply, 1);
        let out = status(&["--endpoint", &format!("http://{addr}"), "--timeout", "5"]);
        assert_eq!(out.status.code(), Some(1), "{expected}");
        let err = text(&out.stderr);
        assert!(err.starts_with("error: "), "{err}");
        assert!(err.contains(expected), "expected {expected:?} in {err}");
    }
    // Nothing at all: the peer closes at once.
    let addr = fake_server(b"", 1);
    let out = status(&["--endpoint", &format!("http://{addr}")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("closed without a response"));
}

#[test]
fn status_rejects_a_timeout_it_cannot_keep_as_a_usage_error() {
    for bad in ["1e20", "3601", "0", "-1", "NaN", "inf"] {
        let out = status(&[
            "--endpoint",
            "http://127.0.0.1:9",
            &format!("--timeout={bad}"),
        ]);
        assert_eq!(
            out.status.code(),
            Some(2),
            "--timeout {bad}: {}",
            text(&out.stderr)
        );
        assert!(text(&out.stderr).contains("invalid --timeout"), "{bad}");
    }
}

#[test]
fn status_gives_up_at_its_timeout_against_a_server_that_drips_a_byte_every_2_s() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut req = [0u8; 1024];
        let _ = std::io::Read::read(&mut s, &mut req);
        for b in b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
            .iter()
            .take(5)
        {
            if std::io::Write::write_all(&mut s, &[*b]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_secs(2));
        }
    });
    let t = std::time::Instant::now();
    let out = status(&["--endpoint", &format!("http://{addr}"), "--timeout", "3"]);
    let took = t.elapsed();
    assert_eq!(out.status.code(), Some(1));
    assert!(took < Duration::from_secs(6), "{took:?}");
    let err = text(&out.stderr);
    assert!(
        err.contains("did not answer in time") && err.contains("reading the response"),
        "{err}"
    );
    assert!(!err.contains("cannot reach"), "{err}");
    server.join().unwrap();
}

#[test]
fn demo_refuses_more_threads_than_it_documents() {
    let out = Command::new(BIN)
        .args([
            "demo",
            "--threads",
            "20000",
            "--metrics-addr",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("at most 1024 worker threads"), "{err}");
}

#[test]
fn status_rejects_a_bad_endpoint_as_a_usage_error() {
    let out = status(&["--endpoint", "https://127.0.0.1:9091"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("invalid --endpoint"));
    let out = status(&["--endpoint", "http://127.0.0.1:notaport"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn help_on_every_command() {
    for (args, expect) in [
        (&["--help"][..], "demo"),
        (&["demo", "--help"][..], "--metrics-addr"),
        (&["status", "--help"][..], "--agent-id"),
        (&["help", "status"][..], "--endpoint"),
    ] {
        let out = Command::new(BIN).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        let help = text(&out.stdout);
        assert!(help.contains(expect), "{args:?}: {help}");
    }
    let out = Command::new(BIN).args(["demo", "--help"]).output().unwrap();
    let help = text(&out.stdout);
    for flag in ["--health-addr", "--admin-addr", "--drain-ms"] {
        assert!(help.contains(flag), "{help}");
    }
    let out = Command::new(BIN)
        .args(["status", "--help"])
        .output()
        .unwrap();
    let help = text(&out.stdout);
    for flag in ["--endpoint", "--json", "http://127.0.0.1:9091"] {
        assert!(help.contains(flag), "{help}");
    }
    let out = Command::new(BIN).arg("nonsense").output().unwrap();
    assert!(!out.status.success());
}

/// The demo's pushed series as the gateway shows them: (line, value).
fn pushed(gw: SocketAddr, job: &str) -> Vec<(String, f64)> {
    let body = get(gw, "/metrics").text();
    body.lines()
        .filter(|l| !l.starts_with('#') && l.contains(&format!("job=\"{job}\"")))
        .filter_map(|l| {
            let (series, v) = l.rsplit_once(' ')?;
            Some((series.to_string(), v.parse().ok()?))
        })
        .collect()
}

#[test]
fn demo_pushes_to_a_pushgateway_and_deletes_its_group_on_shutdown() {
    let Some(bin) = prom_support::tool_or_skip("prometheus-pushgateway", "prometheus-pushgateway")
    else {
        return;
    };
    let gw = prom_support::Pushgateway::start(&bin, None);
    let url = format!("http://{}", gw.addr);
    let demo = Demo::start_with(
        "127.0.0.1:0",
        "",
        "",
        &[
            "--pushgateway",
            &url,
            "--push-job",
            "demo-push",
            "--push-interval",
            "0.2",
            "--drain-ms",
            "0",
        ],
    );
    let rpc = |gw: SocketAddr| -> f64 {
        pushed(gw, "demo-push")
            .iter()
            .filter(|(s, _)| s.starts_with("oxg_rpc_requests_total{"))
            .map(|(_, v)| v)
            .sum()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let first = loop {
        let n = rpc(gw.addr);
        if n > 0.0 {
            break n;
        }
        assert!(
            Instant::now() < deadline,
            "nothing pushed:\n{}\n{}",
            demo.stderr(),
            gw.report()
        );
        thread::sleep(Duration::from_millis(100));
    };
    // Each push replaces the group with the registry as it is now.
    loop {
        if rpc(gw.addr) > first {
            break;
        }
        assert!(Instant::now() < deadline, "the pushed counts never moved");
        thread::sleep(Duration::from_millis(100));
    }
    assert!(demo.stderr().contains(&format!(
        "pushing to {url}/metrics/job/demo-push every 200ms"
    )));
    demo.signal("TERM");
    let (exit, stderr) = demo.wait(Duration::from_secs(20));
    assert!(exit.success(), "{stderr}");
    assert!(stderr.contains("deleted the push group"), "{stderr}");
    assert!(pushed(gw.addr, "demo-push").is_empty(), "the group is gone");
}

#[test]
fn demo_refuses_a_pushgateway_it_cannot_use_as_a_usage_error() {
    let cases: [(&[&str], &str); 6] = [
        (
            &["--pushgateway", "ftp://gw:9091"],
            "--pushgateway: invalid Pushgateway URL \"ftp://gw:9091\"",
        ),
        (
            &[
                "--pushgateway",
                "http://127.0.0.1:9",
                "--push-interval",
                "0",
            ],
            "--push-interval 0: give 0.1 to 3600 seconds",
        ),
        (
            &["--pushgateway", "http://127.0.0.1:9", "--push-job", ""],
            "no job was given",
        ),
        (
            &[
                "--remote-write",
                "http://127.0.0.1:9/api/v1/write",
                "--remote-write-header",
                "X",
            ],
            "--remote-write-header \"X\": give NAME=VALUE",
        ),
        (
            &[
                "--remote-write",
                "http://127.0.0.1:9/api/v1/write",
                "--remote-write-basic-auth",
                "u",
            ],
            "--remote-write-basic-auth: give USER:PASSWORD",
        ),
        (
            &[
                "--remote-write",
                "http://127.0.0.1:9/w",
                "--remote-write-interval",
                "0.01",
            ],
            "--remote-write-interval 0.01: give 0.1 to 3600 seconds",
        ),
    ];
    for (extra, said) in cases {
        let out = Command::new(BIN)
            .args([
                "demo",
                "--metrics-addr",
                "127.0.0.1:0",
                "--health-addr",
                "",
                "--admin-addr",
                "",
            ])
            .args(extra)
            .output()
            .unwrap();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {err}");
        assert!(err.contains(said), "{extra:?}: {err}");
    }
}

#[test]
fn demo_remote_writes_into_a_real_prometheus_receiver() {
    let Some(prometheus) = prom_support::prometheus_or_skip() else {
        return;
    };
    let prom = prom_support::Prometheus::start_with_args(
        &prometheus,
        "",
        &[
            "--web.enable-remote-write-receiver",
            "--enable-feature=native-histograms",
        ],
    );
    let url = format!("http://{}/api/v1/write", prom.addr);
    // Ready first, so that every send of the demo's can land.
    let ready_by = Instant::now() + Duration::from_secs(60);
    while try_get(prom.addr, "/-/ready").is_none_or(|r| r.status != 200) {
        assert!(Instant::now() < ready_by, "{}", prom.report());
        thread::sleep(Duration::from_millis(100));
    }
    let demo = Demo::start_with(
        "127.0.0.1:0",
        "",
        "",
        &[
            "--remote-write",
            &url,
            "--remote-write-interval",
            "0.2",
            "--remote-write-header",
            "X-Scope-OrgID=tenant-1",
            "--remote-write-native-histograms",
            "--drain-ms",
            "0",
        ],
    );
    // Nothing scrapes the demo: what Prometheus has came by remote write.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut got = None;
    while Instant::now() < deadline {
        got = prom_support::query(prom.addr, "sum(oxg_rpc_requests_total)");
        if got.is_some_and(|v| v > 0.0) {
            break;
        }
        thread::sleep(Duration::from_millis(200));
    }
    assert!(
        got.is_some_and(|v| v > 0.0),
        "{got:?}\n{}\n{}",
        demo.stderr(),
        prom.report()
    );
    // The native histogram came whole (its classic buckets did not).
    let mut count = None;
    while Instant::now() < deadline && !count.is_some_and(|c| c > 0.0) {
        count = prom_support::query(prom.addr, "histogram_count(rpc_latency_seconds)");
        thread::sleep(Duration::from_millis(200));
    }
    assert!(
        count.is_some_and(|c| c > 0.0),
        "{count:?}\n{}",
        prom.report()
    );
    assert_eq!(
        prom_support::query(prom.addr, "count(rpc_latency_seconds_bucket)"),
        None
    );
    assert!(demo
        .stderr()
        .contains(&format!("remote-writing to {url} every 200ms")));
    assert!(
        !demo.stderr().contains("remote write failed"),
        "{}",
        demo.stderr()
    );
    demo.signal("TERM");
    let (exit, stderr) = demo.wait(Duration::from_secs(20));
    assert!(exit.success(), "{stderr}");
    prom.stop();
}
