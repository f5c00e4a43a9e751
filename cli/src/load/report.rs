//! What `telemeter load` measured: per-worker tallies, merged into one
//! report, printed as a table or one JSON document.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{json, Value};

use super::client::{BodyInfo, ErrorKind, Failure};
use super::spec::human_duration;

/// Latencies are recorded in microseconds, up to an hour, 3 significant
/// digits.
const LATENCY_MAX_US: u64 = 3_600_000_000;

/// A fresh latency histogram.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_MAX_US, 3).expect("static bounds are valid")
}

/// What one worker thread tallied.
#[derive(Debug)]
pub struct Tally {
    /// Latency of every complete response, in µs.
    pub latency: Histogram<u64>,
    /// 2xx responses whose body passed.
    pub ok: u64,
    pub errors: [u64; 4],
    /// The first message seen for each error kind.
    pub first_error: [Option<String>; 4],
    pub status_codes: BTreeMap<u16, u64>,
    /// Body bytes as received (compressed when gzip).
    pub body_bytes: u64,
    /// Body bytes after decoding (2xx bodies only).
    pub decoded_bytes: u64,
    pub series_min: u64,
    pub series_max: u64,
    pub series_sum: u64,
    pub series_scrapes: u64,
    /// Connections opened (reconnects included).
    pub connections_opened: u64,
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            latency: latency_histogram(),
            ok: 0,
            errors: [0; 4],
            first_error: Default::default(),
            status_codes: BTreeMap::new(),
            body_bytes: 0,
            decoded_bytes: 0,
            series_min: u64::MAX,
            series_max: 0,
            series_sum: 0,
            series_scrapes: 0,
            connections_opened: 0,
        }
    }
}

impl Tally {
    /// A response arrived in full after `latency`.
    pub fn response(&mut self, latency: Duration, status: u16, body_len: usize) {
        let us = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .clamp(1, LATENCY_MAX_US);
        self.latency.saturating_record(us);
        *self.status_codes.entry(status).or_insert(0) += 1;
        self.body_bytes += body_len as u64;
    }

    /// A 2xx body was decoded and counted.
    pub fn body(&mut self, info: BodyInfo) {
        self.ok += 1;
        self.decoded_bytes += info.decoded_len as u64;
        let s = info.series as u64;
        self.series_min = self.series_min.min(s);
        self.series_max = self.series_max.max(s);
        self.series_sum += s;
        self.series_scrapes += 1;
    }

    pub fn error(&mut self, failure: Failure) {
        let i = failure.kind as usize;
        self.errors[i] += 1;
        if self.first_error[i].is_none() {
            self.first_error[i] = Some(failure.message);
        }
    }

    pub fn merge(&mut self, other: Tally) {
        // Both histograms have the same bounds, so adding cannot fail.
        let _ = self.latency.add(&other.latency);
        self.ok += other.ok;
        for i in 0..4 {
            self.errors[i] += other.errors[i];
            if self.first_error[i].is_none() {
                self.first_error[i] = other.first_error[i].clone();
            }
        }
        for (code, n) in other.status_codes {
            *self.status_codes.entry(code).or_insert(0) += n;
        }
        self.body_bytes += other.body_bytes;
        self.decoded_bytes += other.decoded_bytes;
        self.series_min = self.series_min.min(other.series_min);
        self.series_max = self.series_max.max(other.series_max);
        self.series_sum += other.series_sum;
        self.series_scrapes += other.series_scrapes;
        self.connections_opened += other.connections_opened;
    }

    pub fn error_total(&self) -> u64 {
        self.errors.iter().sum()
    }

    /// Attempts that ended: good scrapes and errors.
    pub fn requests(&self) -> u64 {
        self.ok + self.error_total()
    }
}

/// How the run was bounded.
#[derive(Debug, Clone, Copy)]
pub enum Bound {
    Duration(Duration),
    Requests(u64),
}

/// The whole run.
#[derive(Debug)]
pub struct Report {
    pub url: String,
    pub connections: u32,
    pub bound: Bound,
    pub rate: Option<f64>,
    pub gzip: bool,
    pub validate: bool,
    pub timeout: Duration,
    pub elapsed: Duration,
    pub stopped_early: bool,
    pub tally: Tally,
}

fn per_sec(n: u64, elapsed: Duration) -> f64 {
    let s = elapsed.as_secs_f64();
    if s > 0.0 {
        n as f64 / s
    } else {
        0.0
    }
}

impl Report {
    fn percentile_us(&self, q: f64) -> u64 {
        self.tally.latency.value_at_quantile(q)
    }

    /// The report as one JSON document.
    pub fn to_json(&self) -> Value {
        let t = &self.tally;
        let h = &t.latency;
        let latency = if h.is_empty() {
            Value::Null
        } else {
            json!({
                "samples": h.len(),
                "min": h.min(),
                "mean": (h.mean() * 10.0).round() / 10.0,
                "p50": self.percentile_us(0.50),
                "p90": self.percentile_us(0.90),
                "p99": self.percentile_us(0.99),
                "p99_9": self.percentile_us(0.999),
                "max": h.max(),
            })
        };
        let series = if t.series_scrapes == 0 {
            Value::Null
        } else {
            json!({
                "min": t.series_min,
                "mean": (t.series_sum as f64 / t.series_scrapes as f64 * 10.0).round() / 10.0,
                "max": t.series_max,
            })
        };
        let mut errors = serde_json::Map::new();
        errors.insert("total".into(), json!(t.error_total()));
        let mut examples = serde_json::Map::new();
        for kind in ErrorKind::ALL {
            errors.insert(kind.name().into(), json!(t.errors[kind as usize]));
            if let Some(msg) = &t.first_error[kind as usize] {
                examples.insert(kind.name().into(), json!(msg));
            }
        }
        let codes: serde_json::Map<String, Value> = t
            .status_codes
            .iter()
            .map(|(c, n)| (c.to_string(), json!(n)))
            .collect();
        let (duration_s, max_requests) = match self.bound {
            Bound::Duration(d) => (json!(d.as_secs_f64()), Value::Null),
            Bound::Requests(n) => (Value::Null, json!(n)),
        };
        json!({
            "url": self.url,
            "connections": self.connections,
            "duration_s": duration_s,
            "max_requests": max_requests,
            "rate_per_s": self.rate,
            "gzip": self.gzip,
            "validate": self.validate,
            "timeout_s": self.timeout.as_secs_f64(),
            "elapsed_s": self.elapsed.as_secs_f64(),
            "stopped_early": self.stopped_early,
            "requests": t.requests(),
            "ok": t.ok,
            "requests_per_s": per_sec(t.requests(), self.elapsed),
            "bytes": t.body_bytes,
            "bytes_per_s": per_sec(t.body_bytes, self.elapsed),
            "decoded_bytes": t.decoded_bytes,
            "latency_us": latency,
            "series_per_scrape": series,
            "errors": errors,
            "error_examples": examples,
            "status_codes": codes,
            "connections_opened": t.connections_opened,
        })
    }

    /// The report as a table for people.
    pub fn to_table(&self) -> String {
        let t = &self.tally;
        let mut out = String::new();
        let bound = match self.bound {
            Bound::Duration(d) => format!("for {}", human_duration(d)),
            Bound::Requests(n) => format!("{n} requests"),
        };
        let rate = match self.rate {
            Some(r) => format!(", at most {} req/s", trim_float(r)),
            None => String::new(),
        };
        let _ = writeln!(out, "telemeter load {}", self.url);
        let _ = writeln!(
            out,
            "  {} connection{}, {bound}{rate}; gzip {}, validate {}{}",
            self.connections,
            if self.connections == 1 { "" } else { "s" },
            on_off(self.gzip),
            on_off(self.validate),
            if self.stopped_early {
                "; stopped early (Ctrl-C)"
            } else {
                ""
            },
        );
        let _ = writeln!(out);
        let row = |out: &mut String, k: &str, v: String| {
            let _ = writeln!(out, "  {k:<15}{v}");
        };
        row(&mut out, "elapsed", human_duration(self.elapsed));
        row(
            &mut out,
            "requests",
            format!(
                "{} ({:.1}/s): {} ok, {} failed",
                t.requests(),
                per_sec(t.requests(), self.elapsed),
                t.ok,
                t.error_total()
            ),
        );
        let decoded = if self.gzip {
            format!(", {} decoded", human_bytes(t.decoded_bytes as f64))
        } else {
            String::new()
        };
        row(
            &mut out,
            "received",
            format!(
                "{} ({}/s){decoded}",
                human_bytes(t.body_bytes as f64),
                human_bytes(per_sec(t.body_bytes, self.elapsed))
            ),
        );
        let h = &t.latency;
        if h.is_empty() {
            row(&mut out, "latency", "no complete response".into());
        } else {
            let us = |v: u64| human_duration(Duration::from_micros(v));
            row(
                &mut out,
                "latency",
                format!(
                    "p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
                    us(self.percentile_us(0.5)),
                    us(self.percentile_us(0.9)),
                    us(self.percentile_us(0.99)),
                    us(self.percentile_us(0.999)),
                    us(h.max()),
                ),
            );
            row(
                &mut out,
                "",
                format!(
                    "min {}  mean {}  ({} samples)",
                    us(h.min()),
                    us(h.mean().round() as u64),
                    h.len()
                ),
            );
        }
        if t.series_scrapes > 0 {
            let mean = t.series_sum as f64 / t.series_scrapes as f64;
            let spread = if t.series_min == t.series_max {
                String::new()
            } else {
                format!(" (min {}, max {})", t.series_min, t.series_max)
            };
            row(
                &mut out,
                "series/scrape",
                format!("{}{spread}", trim_float((mean * 10.0).round() / 10.0)),
            );
        }
        let errors: Vec<String> = ErrorKind::ALL
            .iter()
            .map(|k| format!("{} {}", k.name(), t.errors[*k as usize]))
            .collect();
        row(&mut out, "errors", errors.join("  "));
        for kind in ErrorKind::ALL {
            if let Some(msg) = &t.first_error[kind as usize] {
                row(&mut out, "", format!("first {}: {msg}", kind.name()));
            }
        }
        if t.status_codes.keys().any(|c| !(200..300).contains(c)) {
            let codes: Vec<String> = t
                .status_codes
                .iter()
                .map(|(c, n)| format!("{c} x{n}"))
                .collect();
            row(&mut out, "status codes", codes.join(", "));
        }
        if t.connections_opened > u64::from(self.connections) {
            row(
                &mut out,
                "connections",
                format!("{} opened (reconnects)", t.connections_opened),
            );
        }
        out
    }
}

fn on_off(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// `1.5 KB`, `12.3 MB`, decimal units.
pub fn human_bytes(b: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = b;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 {
        format!("{v:.0} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(tally: Tally) -> Report {
        Report {
            url: "http://x:1/metrics".into(),
            connections: 2,
            bound: Bound::Requests(3),
            rate: None,
            gzip: false,
            validate: true,
            timeout: Duration::from_secs(10),
            elapsed: Duration::from_secs(2),
            stopped_early: false,
            tally,
        }
    }

    #[test]
    fn merges_and_renders() {
        let mut a = Tally::default();
        a.response(Duration::from_micros(1500), 200, 100);
        a.body(BodyInfo {
            decoded_len: 100,
            series: 7,
        });
        let mut b = Tally::default();
        b.response(Duration::from_micros(2500), 503, 10);
        b.error(Failure {
            kind: ErrorKind::Status,
            message: "HTTP 503".into(),
        });
        b.error(Failure {
            kind: ErrorKind::Connect,
            message: "refused".into(),
        });
        a.merge(b);
        assert_eq!((a.requests(), a.ok, a.error_total()), (3, 1, 2));
        let r = report(a);
        let j = r.to_json();
        assert_eq!(j["requests"], 3);
        assert_eq!(j["requests_per_s"], 1.5);
        assert_eq!(j["errors"]["status"], 1);
        assert_eq!(j["errors"]["connect"], 1);
        assert_eq!(j["errors"]["parse"], 0);
        assert_eq!(j["status_codes"]["503"], 1);
        assert_eq!(j["series_per_scrape"]["max"], 7);
        assert_eq!(j["latency_us"]["samples"], 2);
        assert_eq!(j["error_examples"]["connect"], "refused");
        let table = r.to_table();
        assert!(table.contains("3 (1.5/s): 1 ok, 2 failed"), "{table}");
        assert!(
            table.contains("connect 1  timeout 0  status 1  parse 0"),
            "{table}"
        );
        assert!(table.contains("503 x1"), "{table}");
    }

    #[test]
    fn empty_report() {
        let r = report(Tally::default());
        assert!(r.to_json()["latency_us"].is_null());
        assert!(r.to_table().contains("no complete response"));
    }

    #[test]
    fn bytes() {
        assert_eq!(human_bytes(999.0), "999 B");
        assert_eq!(human_bytes(1500.0), "1.5 KB");
        assert_eq!(human_bytes(12_300_000.0), "12.3 MB");
    }
}
