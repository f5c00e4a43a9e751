//! Process metrics, with the names, types and HELP of client_golang's
//! process collector: one call registers them on a [`Registry`], and each
//! scrape reads them from `/proc/self`.
//!
//! | name | type | source (Linux) |
//! |---|---|---|
//! | `process_cpu_seconds_total` | counter | `/proc/self/stat` utime + stime, in clock ticks (`AT_CLKTCK` from `/proc/self/auxv`) |
//! | `process_resident_memory_bytes` | gauge | `VmRSS` of `/proc/self/status` |
//! | `process_virtual_memory_bytes` | gauge | `/proc/self/stat` vsize |
//! | `process_virtual_memory_max_bytes` | gauge | soft "Max address space" of `/proc/self/limits` |
//! | `process_open_fds` | gauge | entries of `/proc/self/fd` |
//! | `process_max_fds` | gauge | soft "Max open files" of `/proc/self/limits` |
//! | `process_start_time_seconds` | gauge | `/proc/self/stat` starttime + `btime` of `/proc/stat` |
//! | `process_threads` | gauge | `/proc/self/stat` num_threads |
//!
//! An unlimited limit reads as 2^64 − 1 (18446744073709551615), as
//! client_golang reports `RLIM_INFINITY`.
//!
//! Each is a scrape-time callback (see [`Registry::gauge_fn`]), so each
//! runs on a callback thread of its own: the process shows eight more
//! (parked) threads once it has been scraped, and `process_threads` counts
//! them. A read that fails (a file missing in a sandbox, a format the
//! parser does not know) drops that series from the scrape, keeps its
//! HELP and TYPE, and counts one in `telemeter_scrape_callback_errors_total`;
//! it never fails the scrape.
//!
//! On other systems [`register`] registers nothing and returns `Ok(())`.
//!
//! # Examples
//!
//! ```
//! let reg = telemeter::Registry::new();
//! telemeter::process::register(&reg)?;
//! let body = reg.encode_to_string();
//! # #[cfg(target_os = "linux")]
//! assert!(body.contains("\n# TYPE process_cpu_seconds_total counter\n"));
//! # Ok::<(), telemeter::Error>(())
//! ```
#![forbid(unsafe_code)]

use crate::{Error, Opts, Registry};

/// The names, in the order [`register`] registers them.
pub const NAMES: [&str; 8] = [
    "process_cpu_seconds_total",
    "process_open_fds",
    "process_max_fds",
    "process_virtual_memory_bytes",
    "process_virtual_memory_max_bytes",
    "process_resident_memory_bytes",
    "process_start_time_seconds",
    "process_threads",
];

/// Registers the process metrics on `reg` (see the module docs); on systems
/// other than Linux, nothing.
///
/// # Errors
///
/// [`Error::DuplicateMetric`] if one of [`NAMES`] is already registered
/// (for example by a second call), or [`Error::FamilyLimit`].
pub fn register(reg: &Registry) -> Result<(), Error> {
    #[cfg(target_os = "linux")]
    {
        linux::register(reg)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = reg;
        Ok(())
    }
}

/// When this process started, in seconds since the Unix epoch (Linux; `None`
/// elsewhere or when `/proc` cannot be read): crash bundles give uptime.
#[cfg_attr(not(feature = "crash"), allow(dead_code))]
pub(crate) fn start_time_seconds() -> Option<f64> {
    #[cfg(target_os = "linux")]
    {
        linux::start_time()
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// Registers one unlabelled callback that emits `read()`'s value, or counts
/// a failed read.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn one(
    reg: &Registry,
    name: &str,
    help: &str,
    counter: bool,
    read: fn() -> Option<f64>,
) -> Result<(), Error> {
    let emit = move |s: &mut crate::CallbackSink<'_>| match read() {
        Some(v) => s.sample(&[], v),
        None => s.unavailable(),
    };
    if counter {
        reg.counter_callback(Opts::new(name, help), emit)
    } else {
        reg.gauge_callback(Opts::new(name, help), emit)
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use super::one;
    use crate::{Error, Registry};

    pub(super) fn register(reg: &Registry) -> Result<(), Error> {
        one(
            reg,
            "process_cpu_seconds_total",
            "Total user and system CPU time spent in seconds.",
            true,
            cpu_seconds,
        )?;
        one(
            reg,
            "process_open_fds",
            "Number of open file descriptors.",
            false,
            open_fds,
        )?;
        one(
            reg,
            "process_max_fds",
            "Maximum number of open file descriptors.",
            false,
            || soft_limit("Max open files"),
        )?;
        one(
            reg,
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
            false,
            || stat_field(VSIZE),
        )?;
        one(
            reg,
            "process_virtual_memory_max_bytes",
            "Maximum amount of virtual memory available in bytes.",
            false,
            || soft_limit("Max address space"),
        )?;
        one(
            reg,
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            false,
            resident_bytes,
        )?;
        one(
            reg,
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            false,
            start_time,
        )?;
        one(
            reg,
            "process_threads",
            "Number of OS threads in the process.",
            false,
            || stat_field(NUM_THREADS),
        )
    }

    // Fields of /proc/self/stat, numbered from 1 as in proc(5).
    const UTIME: usize = 14;
    const STIME: usize = 15;
    const NUM_THREADS: usize = 20;
    const STARTTIME: usize = 22;
    const VSIZE: usize = 23;

    fn read(path: &str) -> Option<String> {
        std::fs::read_to_string(path).ok()
    }

    /// Field `n` (from 1) of a `/proc/<pid>/stat` text. The command name
    /// (field 2) is in parentheses and may hold spaces and ')': the fields
    /// after it start after its last ')'.
    pub(crate) fn parse_stat_field(stat: &str, n: usize) -> Option<u64> {
        let after = &stat[stat.rfind(')')? + 1..];
        // Field 3 is the first one after the name.
        after
            .split_ascii_whitespace()
            .nth(n.checked_sub(3)?)?
            .parse()
            .ok()
    }

    fn stat_field(n: usize) -> Option<f64> {
        parse_stat_field(&read("/proc/self/stat")?, n).map(|v| v as f64)
    }

    /// Clock ticks per second: `AT_CLKTCK` of the auxiliary vector.
    pub(crate) fn parse_auxv_clktck(auxv: &[u8]) -> Option<u64> {
        const AT_CLKTCK: u64 = 17;
        const WORD: usize = std::mem::size_of::<usize>();
        let word = |b: &[u8]| -> u64 {
            let mut a = [0u8; WORD];
            a.copy_from_slice(b);
            usize::from_ne_bytes(a) as u64
        };
        auxv.chunks_exact(2 * WORD)
            .map(|pair| (word(&pair[..WORD]), word(&pair[WORD..])))
            .take_while(|&(key, _)| key != 0)
            .find(|&(key, _)| key == AT_CLKTCK)
            .map(|(_, v)| v)
            .filter(|&v| v > 0)
    }

    /// Read once: the tick rate is fixed for the life of the process.
    fn clock_ticks() -> Option<u64> {
        static TICKS: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
        *TICKS.get_or_init(|| parse_auxv_clktck(&std::fs::read("/proc/self/auxv").ok()?))
    }

    fn cpu_seconds() -> Option<f64> {
        let stat = read("/proc/self/stat")?;
        let ticks = parse_stat_field(&stat, UTIME)? + parse_stat_field(&stat, STIME)?;
        Some(ticks as f64 / clock_ticks()? as f64)
    }

    fn open_fds() -> Option<f64> {
        let n = std::fs::read_dir("/proc/self/fd").ok()?.count();
        Some(n as f64)
    }

    /// The soft limit of the `/proc/<pid>/limits` line that starts with
    /// `name`; "unlimited" is 2^64 - 1, as client_golang reports it.
    pub(crate) fn parse_soft_limit(limits: &str, name: &str) -> Option<f64> {
        let line = limits.lines().find(|l| l.starts_with(name))?;
        match line[name.len()..].split_ascii_whitespace().next()? {
            "unlimited" => Some(u64::MAX as f64),
            v => v.parse::<u64>().ok().map(|v| v as f64),
        }
    }

    fn soft_limit(name: &str) -> Option<f64> {
        parse_soft_limit(&read("/proc/self/limits")?, name)
    }

    /// `VmRSS` of a `/proc/<pid>/status` text, in bytes.
    pub(crate) fn parse_vm_rss(status: &str) -> Option<f64> {
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        let mut parts = line["VmRSS:".len()..].split_ascii_whitespace();
        let kib: u64 = parts.next()?.parse().ok()?;
        (parts.next()? == "kB").then_some(kib as f64 * 1024.0)
    }

    fn resident_bytes() -> Option<f64> {
        parse_vm_rss(&read("/proc/self/status")?)
    }

    /// `btime` of a `/proc/stat` text: boot time, seconds since the epoch.
    pub(crate) fn parse_btime(stat: &str) -> Option<u64> {
        stat.lines()
            .find_map(|l| l.strip_prefix("btime "))?
            .trim()
            .parse()
            .ok()
    }

    pub(super) fn start_time() -> Option<f64> {
        let ticks = parse_stat_field(&read("/proc/self/stat")?, STARTTIME)?;
        let boot = parse_btime(&read("/proc/stat")?)?;
        Some(boot as f64 + ticks as f64 / clock_ticks()? as f64)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn stat_fields_are_read_after_the_command_name() {
            // A name with spaces and a ')' of its own.
            let stat = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 \
                        37 12 0 0 20 0 9 0 8123 123456789 512 18446744073709551615";
            assert_eq!(parse_stat_field(stat, UTIME), Some(37));
            assert_eq!(parse_stat_field(stat, STIME), Some(12));
            assert_eq!(parse_stat_field(stat, NUM_THREADS), Some(9));
            assert_eq!(parse_stat_field(stat, STARTTIME), Some(8123));
            assert_eq!(parse_stat_field(stat, VSIZE), Some(123_456_789));
            assert_eq!(parse_stat_field(stat, 60), None);
            assert_eq!(parse_stat_field("no parenthesis", 14), None);
            assert_eq!(parse_stat_field("1 (x) S", 2), None);
        }

        #[test]
        fn limits_status_and_boot_time() {
            let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                          Max open files            1024                 524288               files     \n\
                          Max address space         unlimited            unlimited            bytes     \n";
            assert_eq!(parse_soft_limit(limits, "Max open files"), Some(1024.0));
            assert_eq!(
                parse_soft_limit(limits, "Max address space"),
                Some(18_446_744_073_709_551_615.0)
            );
            assert_eq!(parse_soft_limit(limits, "Max processes"), None);
            let status = "Name:\tx\nVmRSS:\t    2048 kB\nThreads:\t3\n";
            assert_eq!(parse_vm_rss(status), Some(2048.0 * 1024.0));
            assert_eq!(parse_vm_rss("VmRSS: 12 MB\n"), None);
            assert_eq!(
                parse_btime("cpu 1 2\nbtime 1765000000\n"),
                Some(1_765_000_000)
            );
            assert_eq!(parse_btime("cpu 1 2\n"), None);
        }

        #[test]
        fn the_clock_tick_comes_from_the_auxiliary_vector() {
            let word = |v: u64| (v as usize).to_ne_bytes();
            let mut auxv = Vec::new();
            for (k, v) in [(6u64, 4096u64), (17, 100), (0, 0)] {
                auxv.extend_from_slice(&word(k));
                auxv.extend_from_slice(&word(v));
            }
            assert_eq!(parse_auxv_clktck(&auxv), Some(100));
            // Past AT_NULL nothing counts; a zero tick is no tick.
            let mut late = word(0).to_vec();
            late.extend_from_slice(&word(0));
            late.extend_from_slice(&word(17));
            late.extend_from_slice(&word(100));
            assert_eq!(parse_auxv_clktck(&late), None);
            assert_eq!(parse_auxv_clktck(&[1, 2, 3]), None);
            // This process's own.
            assert!(clock_ticks().is_some_and(|t| t > 0));
        }
    }
}
