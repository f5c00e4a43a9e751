//! The topologies of docs/SCALE.md that take more than one Prometheus, run
//! here on loopback with Debian's Prometheus 2.42: an HA pair scraping the
//! same telemeter exporter, told apart by `external_labels`, and a global
//! Prometheus federating both (`/federate`, `honor_labels`). Outside CI the
//! test skips without the binary; under CI `.ci/run` installs it.

mod prom_support;

use std::thread;
use std::time::{Duration, Instant};

use prom_support::{prometheus_or_skip, query, Prometheus};
use telemeter::{Exporter, Registry};

/// `expr`'s value once it is `want`, within 60 s.
fn settles(prom: &Prometheus, expr: &str, want: f64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = query(prom.addr, expr);
        if got == Some(want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{expr}: {got:?}, want {want}\n{}",
            prom.report()
        );
        thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn an_ha_pair_and_a_federating_prometheus_agree_on_every_total() {
    let Some(bin) = prometheus_or_skip() else {
        return;
    };
    let reg = Registry::new();
    reg.counter("scale_jobs_total", "Jobs.").unwrap().add(7);
    let exporter = Exporter::builder()
        .registry(reg.clone())
        .metrics_addr("127.0.0.1:0")
        .no_health()
        .no_admin()
        .start()
        .unwrap();
    let target = exporter.metrics_addr().unwrap();
    let scrape = format!("  - job_name: app\n    static_configs:\n      - targets: ['{target}']\n");
    // The HA pair: the same scrape config, one external label apart.
    let a = Prometheus::start_full(&bin, "  external_labels:\n    replica: a\n", &scrape, &[]);
    let b = Prometheus::start_full(&bin, "  external_labels:\n    replica: b\n", &scrape, &[]);
    settles(&a, "scale_jobs_total", 7.0);
    settles(&b, "scale_jobs_total", 7.0);
    // The global level pulls the app's series from both.
    let federate = format!(
        "  - job_name: federate\n    honor_labels: true\n    metrics_path: /federate\n    \
         params:\n      'match[]': ['{{job=\"app\"}}']\n    static_configs:\n      \
         - targets: ['{}', '{}']\n",
        a.addr, b.addr
    );
    let global = Prometheus::start_full(&bin, "", &federate, &[]);
    settles(&global, "count(scale_jobs_total{job=\"app\"})", 2.0);
    settles(&global, "scale_jobs_total{job=\"app\",replica=\"a\"}", 7.0);
    settles(&global, "scale_jobs_total{job=\"app\",replica=\"b\"}", 7.0);
    // What a dashboard over the pair reads: one value, deduplicated.
    settles(&global, "max without (replica) (scale_jobs_total)", 7.0);
    // A new count reaches the global level through either replica.
    reg.counter("scale_late_total", "Late.").unwrap().inc();
    settles(&global, "sum(scale_late_total)", 2.0);
    for p in [global, a, b] {
        p.stop();
    }
    exporter.shutdown();
}
