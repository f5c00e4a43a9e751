//! `telemeter::process` against independent readings of the same process:
//! `getrusage`, `getrlimit`, `sysconf` + `/proc/self/statm`, the entries of
//! `/proc/self/fd` and `/proc/self/task`, and the wall clock. One test, so
//! that no other test of this binary opens files or threads beside it.
#![cfg(target_os = "linux")]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use telemeter::parse::{parse, MetricType};
use telemeter::{process, Error, Registry};

fn value(body: &str, name: &str) -> f64 {
    let exp = parse(body).unwrap_or_else(|e| panic!("{e}\n{body}"));
    let fam = exp
        .families
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no family {name}"));
    assert_eq!(fam.samples.len(), 1, "{name}");
    fam.samples[0].value
}

fn rusage_cpu_seconds() -> f64 {
    // SAFETY: `getrusage` fills the zeroed struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) }, 0);
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn rlimit_soft(resource: libc::__rlimit_resource_t) -> f64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit for the call to fill.
    assert_eq!(unsafe { libc::getrlimit(resource, &mut lim) }, 0);
    lim.rlim_cur as f64
}

fn statm_bytes(field: usize) -> f64 {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as f64;
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: f64 = statm
        .split_whitespace()
        .nth(field)
        .unwrap()
        .parse()
        .unwrap();
    pages * page
}

fn entries(dir: &str) -> f64 {
    std::fs::read_dir(dir).unwrap().count() as f64
}

fn near(name: &str, got: f64, want: f64, tolerance: f64) {
    assert!(
        (got - want).abs() <= tolerance,
        "{name}: {got} against an independent {want} (tolerance {tolerance})"
    );
}

#[test]
fn each_process_metric_matches_an_independent_reading() {
    let reg = Registry::new();
    process::register(&reg).unwrap();
    assert!(matches!(
        process::register(&reg),
        Err(Error::DuplicateMetric { .. })
    ));
    // Burn 0.2 s of CPU (by getrusage, not by the clock: on a loaded
    // machine 200 ms of wall time can be much less CPU) so that the
    // counter has something to count; bounded in wall time.
    let mut x = 0u64;
    let burn_from = rusage_cpu_seconds();
    let give_up = std::time::Instant::now() + Duration::from_secs(20);
    while rusage_cpu_seconds() - burn_from < 0.2 && std::time::Instant::now() < give_up {
        for _ in 0..10_000 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
    }
    std::hint::black_box(x);

    // A first scrape starts the callbacks' threads; read the second.
    let _ = reg.encode_to_string();
    let cpu_before = rusage_cpu_seconds();
    let body = reg.encode_to_string();
    let cpu_after = rusage_cpu_seconds();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();

    let exp = parse(&body).unwrap();
    for name in process::NAMES {
        let fam = exp.families.iter().find(|f| f.name == name).unwrap();
        let want = if name == "process_cpu_seconds_total" {
            MetricType::Counter
        } else {
            MetricType::Gauge
        };
        assert_eq!(fam.kind, want, "{name}");
        assert!(fam.help.as_deref().is_some_and(|h| !h.is_empty()), "{name}");
    }
    assert!(
        body.contains(
            "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
        ),
        "{body}"
    );
    assert!(
        body.contains("telemeter_scrape_callback_errors_total 0\n"),
        "{body}"
    );

    // CPU: clock ticks (10 ms) against getrusage's microseconds, read
    // around the scrape.
    let cpu = value(&body, "process_cpu_seconds_total");
    assert!(cpu >= 0.15, "{cpu}");
    assert!(
        cpu >= cpu_before - 0.03 && cpu <= cpu_after + 0.03,
        "cpu {cpu} outside getrusage's {cpu_before}..{cpu_after}"
    );
    near(
        "process_max_fds",
        value(&body, "process_max_fds"),
        rlimit_soft(libc::RLIMIT_NOFILE),
        0.0,
    );
    let as_limit = rlimit_soft(libc::RLIMIT_AS);
    near(
        "process_virtual_memory_max_bytes",
        value(&body, "process_virtual_memory_max_bytes"),
        as_limit,
        0.0,
    );
    near(
        "process_resident_memory_bytes",
        value(&body, "process_resident_memory_bytes"),
        statm_bytes(1),
        16.0 * 1024.0 * 1024.0,
    );
    near(
        "process_virtual_memory_bytes",
        value(&body, "process_virtual_memory_bytes"),
        statm_bytes(0),
        256.0 * 1024.0 * 1024.0,
    );
    near(
        "process_open_fds",
        value(&body, "process_open_fds"),
        entries("/proc/self/fd"),
        4.0,
    );
    near(
        "process_threads",
        value(&body, "process_threads"),
        entries("/proc/self/task"),
        2.0,
    );
    let start = value(&body, "process_start_time_seconds");
    assert!(start <= now + 1.0, "started {start}, after now {now}");
    assert!(
        now - start < 3600.0,
        "started {start}, an hour before now {now}"
    );
}
