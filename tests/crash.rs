//! `telemeter::crash` in real processes: this test binary runs itself as a
//! child (`crash_child`, with `TELEMETER_CRASH_SCENARIO` set) that installs
//! the reporter and panics; the parent reads the bundle it left. Secrets
//! are planted in every place a bundle draws from (the environment, the
//! panic message, breadcrumbs, label values of a sensitive family), and
//! none may reach a file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use telemeter::crash::{self, CrashConfig, CrashError};
use telemeter::fingerprint::Fingerprint;
use telemeter::server::Readiness;
use telemeter::{Opts, Registry};

const SCENARIO: &str = "TELEMETER_CRASH_SCENARIO";
const DIR: &str = "TELEMETER_CRASH_DIR";

/// Secrets the parent plants through the environment.
const ENV_SECRETS: [(&str, &str); 3] = [
    ("CHILD_API_TOKEN", "plain-looking-value-7781"),
    ("CONTACT", "bob.ops@example.org"),
    ("DB_URL", "postgres://svc:hunter2-db@db.internal/x"),
];
/// Secrets the child plants in its panic message, breadcrumbs and labels.
const GITHUB_TOKEN: &str = "ghp_0123456789abcdefghijABCDEFGHIJ";
const ACCOUNT: &str = "alice@example.com";
const API_KEY: &str = "k-42-supersecret";

/// The child side: does nothing unless run as a child by a test below.
#[test]
fn crash_child() {
    let Ok(scenario) = std::env::var(SCENARIO) else {
        return;
    };
    let dir = PathBuf::from(std::env::var(DIR).expect("the parent gives a directory"));
    let reg = Registry::new();
    let logins = reg
        .counter_family(Opts::new("logins_total", "Logins by account.").labels(&["account"]))
        .unwrap();
    logins.with_label_values(&[ACCOUNT]).unwrap().add(3);
    reg.counter("requests_total", "Requests.").unwrap().add(7);
    let readiness = Readiness::new();
    readiness.set_started();
    let base = CrashConfig::new(&dir)
        .program("crash-test", "9.8.7")
        .git_describe("v9.8.7-3-gdeadbee")
        .registry(&reg)
        .readiness(&readiness)
        .sensitive_family("logins_total")
        .redact("api-key", r"k-42-[a-z]+");
    match scenario.as_str() {
        "fatal" => {
            let reporter = crash::install(base).unwrap();
            assert!(matches!(
                crash::install(CrashConfig::new(&dir)),
                Err(CrashError::AlreadyInstalled)
            ));
            reporter.breadcrumb("loaded config from /etc/agent.toml");
            reporter.breadcrumb(format!("pushed with token {GITHUB_TOKEN}"));
            crash::breadcrumb(format!("login of {ACCOUNT}"));
            crash::fatal(format!("plugin table corrupt (api key {API_KEY})"));
        }
        "not-fatal" => {
            let _reporter = crash::install(base).unwrap();
            panic!("an ordinary panic");
        }
        "every-panic-on-a-thread" => {
            let _reporter = crash::install(base.every_panic(true)).unwrap();
            let t = std::thread::Builder::new()
                .name("plugin-loader".into())
                .spawn(|| panic!("a worker's panic"))
                .unwrap();
            let _ = t.join();
            // The worker's panic is written; then the child ends cleanly.
        }
        "marked-thread" => {
            let _reporter = crash::install(base).unwrap();
            crash::mark_thread_fatal();
            panic!("a panic on a thread marked fatal");
        }
        "unwritable" => {
            let _reporter = crash::install(base).unwrap();
            // The directory is replaced by a file: the writer must fail.
            std::fs::remove_dir_all(&dir).unwrap();
            std::fs::write(&dir, "not a directory").unwrap();
            crash::fatal("the original panic");
        }
        "blocked" => {
            // A scrape-time callback waits for a lock this thread holds
            // when it panics: the bundle is written without the metrics.
            let lock = Arc::new(Mutex::new(()));
            let l2 = Arc::clone(&lock);
            reg.gauge_fn("locked", "Waits for the lock.", move || {
                let _g = l2.lock().unwrap_or_else(|e| e.into_inner());
                1.0
            })
            .unwrap();
            let _reporter =
                crash::install(base.collect_deadline(Duration::from_millis(300))).unwrap();
            let _held = lock.lock().unwrap();
            crash::fatal("panicked while holding the lock");
        }
        "fallback" => {
            // Too many series to encode within the deadline: the bundle
            // falls back to the body of the last scrape served.
            let big = reg
                .counter_family(
                    Opts::new("big_total", "Many series.")
                        .labels(&["n"])
                        .max_series(200_000),
                )
                .unwrap();
            for n in 0..200_000 {
                big.with_label_values(&[&n.to_string()]).unwrap().inc();
            }
            let reporter = crash::install(base.collect_deadline(Duration::from_millis(1))).unwrap();
            let exporter = telemeter::server::Exporter::builder()
                .source(reporter.metrics_source(&reg))
                .metrics_addr("127.0.0.1:0")
                .no_health()
                .no_admin()
                .start()
                .unwrap();
            let mut s = std::net::TcpStream::connect(exporter.metrics_addr().unwrap()).unwrap();
            use std::io::{Read, Write};
            write!(
                s,
                "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            let mut scraped = Vec::new();
            s.read_to_end(&mut scraped).unwrap();
            assert!(scraped.starts_with(b"HTTP/1.1 200 OK"));
            crash::fatal("crashed after a scrape");
        }
        other => panic!("unknown scenario {other}"),
    }
}

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("telemeter-crash-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    let _ = std::fs::remove_file(&d);
    d
}

fn run_child(scenario: &str, dir: &Path) -> Output {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(SCENARIO, scenario)
        .env(DIR, dir)
        .env_remove("RUST_BACKTRACE");
    for (k, v) in ENV_SECRETS {
        cmd.env(k, v);
    }
    cmd.output().expect("run the child")
}

/// Every file of the one bundle under `dir`: (name, text).
fn the_bundle(dir: &Path) -> (crash::BundleInfo, Vec<(String, String)>) {
    let all = crash::list(dir).unwrap();
    assert_eq!(all.len(), 1, "{all:?}");
    let info = all.into_iter().next().unwrap();
    let files = crash::FILES
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(info.path.join(f)).unwrap();
            (f.to_string(), text)
        })
        .collect();
    (info, files)
}

fn assert_no_secret(files: &[(String, String)]) {
    let mut secrets: Vec<&str> = ENV_SECRETS.iter().map(|(_, v)| *v).collect();
    secrets.extend([GITHUB_TOKEN, ACCOUNT, API_KEY, "hunter2-db", "supersecret"]);
    for (name, text) in files {
        for s in &secrets {
            assert!(!text.contains(s), "{s:?} reached {name}:\n{text}");
        }
    }
}

#[test]
fn a_fatal_panic_writes_a_redacted_text_bundle_and_the_panic_goes_on() {
    let dir = tempdir("fatal");
    let started = Instant::now();
    let out = run_child("fatal", &dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The test harness reports the panic as a failed test: exit 101.
    assert_eq!(out.status.code(), Some(101), "{stderr}");
    assert!(
        stderr.contains("plugin table corrupt"),
        "the default hook still ran: {stderr}"
    );
    assert!(
        stderr.contains("telemeter: crash bundle written to"),
        "{stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(30));

    let (info, files) = the_bundle(&dir);
    assert_no_secret(&files);
    let text = |name: &str| files.iter().find(|(n, _)| n == name).unwrap().1.clone();
    let summary = text("summary.txt");
    assert_eq!(info.thread, "crash_child");
    assert_eq!(
        info.message,
        "plugin table corrupt (api key [redacted:api-key])"
    );
    assert!(info.location.starts_with("tests/crash.rs:"), "{info:?}");
    assert_eq!(info.program, "crash-test 9.8.7");
    let pid = info.name.split('-').nth(2).expect("crash-TIME-PID-N");
    for line in [
        "git: v9.8.7-3-gdeadbee",
        &format!("\npid: {pid}\n"),
        &format!("telemeter: {}", env!("CARGO_PKG_VERSION")),
        "readiness: ready (started): {\"status\":\"ready\"}",
        "uptime: ",
    ] {
        assert!(summary.contains(line), "{line:?} in\n{summary}");
    }
    assert!(
        text("backtrace.txt").contains("crash_child"),
        "{}",
        text("backtrace.txt")
    );
    assert_eq!(
        text("breadcrumbs.txt"),
        "loaded config from /etc/agent.toml\npushed with token [redacted:token]\nlogin of [redacted:email]\n"
    );
    let env = text("environment.txt");
    assert!(
        env.contains("CHILD_API_TOKEN=[redacted:secret-name]\n"),
        "{env}"
    );
    assert!(env.contains("CONTACT=[redacted:email]\n"), "{env}");
    assert!(
        env.contains("DB_URL=postgres://[redacted:credentials]@db.internal/x\n"),
        "{env}"
    );
    let metrics = text("metrics.txt");
    let exp = telemeter::parse::parse(&metrics).unwrap_or_else(|e| panic!("{e}\n{metrics}"));
    let fp = Fingerprint::of(ACCOUNT);
    assert_eq!(
        exp.family("logins_total").unwrap().samples[0].labels,
        [("account".to_string(), fp.to_string())]
    );
    assert!(metrics.contains("requests_total 7\n"), "{metrics}");

    // `pack` is those files, in order, in one text.
    let packed = crash::pack(&info.path).unwrap();
    for (name, body) in &files {
        assert!(
            packed.contains(&format!("===== {name} =====\n{body}")),
            "{name}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_ordinary_panic_writes_nothing_unless_asked() {
    let dir = tempdir("plain");
    let out = run_child("not-fatal", &dir);
    assert_eq!(out.status.code(), Some(101));
    assert!(crash::list(&dir).unwrap().is_empty());
    let _ = std::fs::remove_dir_all(&dir);

    let dir = tempdir("marked");
    let out = run_child("marked-thread", &dir);
    assert_eq!(out.status.code(), Some(101));
    let (info, _) = the_bundle(&dir);
    assert_eq!(info.message, "a panic on a thread marked fatal");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_panic_writes_one_with_the_panicking_threads_name() {
    let dir = tempdir("every");
    let out = run_child("every-panic-on-a-thread", &dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (info, files) = the_bundle(&dir);
    assert_eq!(info.thread, "plugin-loader");
    assert_eq!(info.message, "a worker's panic");
    assert_no_secret(&files);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_writer_that_cannot_write_says_so_in_one_line_and_the_panic_goes_on() {
    let dir = tempdir("unwritable");
    let out = run_child("unwritable", &dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(101), "{stderr}");
    let said: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("could not write a crash bundle"))
        .collect();
    assert_eq!(said.len(), 1, "{stderr}");
    assert!(said[0].contains("(the panic goes on)"));
    assert!(stderr.contains("the original panic"), "{stderr}");
    let _ = std::fs::remove_file(&dir);
}

#[test]
fn a_collection_blocked_by_the_panicking_thread_is_left_out_within_the_deadline() {
    let dir = tempdir("blocked");
    let started = Instant::now();
    let out = run_child("blocked", &dir);
    assert_eq!(out.status.code(), Some(101));
    assert!(started.elapsed() < Duration::from_secs(20));
    let (_, files) = the_bundle(&dir);
    let metrics = &files.iter().find(|(n, _)| n == "metrics.txt").unwrap().1;
    // The callback that waits for the lock is skipped at the registry's
    // deadline (a quarter before the hook's), and the rest is there.
    assert!(metrics.contains("requests_total 7\n"), "{metrics}");
    assert!(!metrics.contains("\nlocked "), "{metrics}");
    assert!(
        metrics.contains("telemeter_scrape_callback_timeouts_total 1\n"),
        "{metrics}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_collection_that_cannot_finish_falls_back_to_the_last_scrape_served() {
    let dir = tempdir("fallback");
    let out = run_child("fallback", &dir);
    assert_eq!(
        out.status.code(),
        Some(101),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, files) = the_bundle(&dir);
    assert_no_secret(&files);
    let metrics = &files.iter().find(|(n, _)| n == "metrics.txt").unwrap().1;
    let (first, body) = metrics.split_once('\n').unwrap();
    assert!(
        first.starts_with("# not collected afresh: the collection did not finish within 1ms")
            && first.contains("this is the body of the last scrape, served at "),
        "{first}"
    );
    let exp = telemeter::parse::parse(body).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(exp.family("big_total").unwrap().samples.len(), 200_000);
    assert_eq!(
        exp.family("logins_total").unwrap().samples[0].labels,
        [("account".to_string(), Fingerprint::of(ACCOUNT).to_string())]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_settings_are_typed_errors_that_name_the_fix() {
    // Checked before anything is installed, so this process keeps its hook.
    let err = crash::install(CrashConfig::new(tempdir("bad")).redact("broken", "(")).unwrap_err();
    assert!(matches!(err, CrashError::BadPattern { .. }), "{err}");
    assert!(err.to_string().contains("regex"), "{err}");
    let err = crash::install(CrashConfig::new(tempdir("bad")).breadcrumbs(1_000_000)).unwrap_err();
    assert!(matches!(
        err,
        CrashError::InvalidSetting {
            setting: "breadcrumbs",
            ..
        }
    ));
    let err = crash::install(CrashConfig::new(tempdir("bad")).collect_deadline(Duration::ZERO))
        .unwrap_err();
    assert!(matches!(
        err,
        CrashError::InvalidSetting {
            setting: "collect_deadline",
            ..
        }
    ));
    let file = tempdir("bad-dir");
    std::fs::write(&file, "x").unwrap();
    let err = crash::install(CrashConfig::new(file.join("sub"))).unwrap_err();
    assert!(matches!(err, CrashError::Dir { .. }), "{err}");
    let _ = std::fs::remove_file(&file);
}
