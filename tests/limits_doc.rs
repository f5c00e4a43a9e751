//! Keeps `docs/LIMITS.md` true: every test a row names exists, and every
//! constant a row names has the value the row shows.

use std::path::Path;
use std::time::Duration;

const DOC: &str = include_str!("../docs/LIMITS.md");

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The table rows of the doc: lines starting with `|` past the header and
/// separator lines.
fn rows() -> Vec<&'static str> {
    DOC.lines()
        .filter(|l| l.starts_with('|') && !l.starts_with("|---") && !l.starts_with("| limit |"))
        .collect()
}

/// The `path::test` names in a row's last cell.
fn proofs(row: &str) -> Vec<(&str, &str)> {
    let cells: Vec<&str> = row.trim_matches('|').split('|').collect();
    let last = cells.last().expect("a cell");
    last.split('`')
        .skip(1)
        .step_by(2)
        .map(|p| {
            p.rsplit_once("::")
                .unwrap_or_else(|| panic!("{p:?} is not path::test in {row}"))
        })
        .collect()
}

#[test]
fn every_row_names_a_test_that_exists() {
    let rows = rows();
    assert!(rows.len() >= 24, "{} rows", rows.len());
    for row in rows {
        let proofs = proofs(row);
        assert!(!proofs.is_empty(), "a row without a test: {row}");
        for (path, test) in proofs {
            let file = root().join(path);
            let text = std::fs::read_to_string(&file)
                .unwrap_or_else(|e| panic!("{}: {e} (named in {row})", file.display()));
            let at = text
                .find(&format!("fn {test}("))
                .unwrap_or_else(|| panic!("no fn {test} in {path} (named in {row})"));
            let before = &text[..at];
            let attr = before.trim_end().rsplit('\n').next().unwrap_or("");
            assert!(
                attr.trim() == "#[test]",
                "{path}::{test} is not a #[test] (named in {row})"
            );
        }
    }
}

/// The row that mentions `needle`, exactly once.
fn row_with(needle: &str) -> &'static str {
    let found: Vec<&str> = rows().into_iter().filter(|r| r.contains(needle)).collect();
    assert!(!found.is_empty(), "no row shows {needle:?}");
    found[0]
}

fn secs(d: Duration) -> String {
    format!("{} s", d.as_secs())
}

#[test]
fn every_named_constant_has_the_value_the_row_shows() {
    use telemeter::server::{
        DEFAULT_FIRST_BYTE_TIMEOUT, DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_MAX_BODY_BYTES,
        DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_HEADER_BYTES, DEFAULT_WRITE_TIMEOUT,
        MAX_BODY_BYTES_LIMIT,
    };
    use telemeter::{
        DEFAULT_MAX_FAMILIES, DEFAULT_MAX_LABEL_VALUE_BYTES, DEFAULT_MAX_SERIES,
        DEFAULT_SCRAPE_DEADLINE, MAX_BUCKETS, MAX_EXEMPLAR_CHARS, MAX_NATIVE_BUCKETS,
    };
    let thousands = |n: usize| {
        let s = n.to_string();
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        out
    };
    let shown = [
        (
            "DEFAULT_MAX_CONNECTIONS",
            thousands(DEFAULT_MAX_CONNECTIONS),
        ),
        (
            "DEFAULT_FIRST_BYTE_TIMEOUT",
            secs(DEFAULT_FIRST_BYTE_TIMEOUT),
        ),
        (
            "DEFAULT_HEADER_READ_TIMEOUT",
            secs(DEFAULT_HEADER_READ_TIMEOUT),
        ),
        (
            "DEFAULT_MAX_HEADER_BYTES",
            format!("{} KiB", DEFAULT_MAX_HEADER_BYTES / 1024),
        ),
        ("DEFAULT_WRITE_TIMEOUT", secs(DEFAULT_WRITE_TIMEOUT)),
        (
            "DEFAULT_MAX_BODY_BYTES",
            format!("{} KiB", DEFAULT_MAX_BODY_BYTES / 1024),
        ),
        (
            "MAX_BODY_BYTES_LIMIT",
            format!("{} MiB", MAX_BODY_BYTES_LIMIT >> 20),
        ),
        ("DEFAULT_MAX_SERIES", thousands(DEFAULT_MAX_SERIES)),
        ("DEFAULT_MAX_FAMILIES", thousands(DEFAULT_MAX_FAMILIES)),
        (
            "DEFAULT_MAX_LABEL_VALUE_BYTES",
            format!("{} bytes", thousands(DEFAULT_MAX_LABEL_VALUE_BYTES)),
        ),
        ("MAX_BUCKETS", format!("{} bounds", thousands(MAX_BUCKETS))),
        (
            "MAX_EXEMPLAR_CHARS",
            format!("{MAX_EXEMPLAR_CHARS} characters"),
        ),
        ("MAX_NATIVE_BUCKETS", thousands(MAX_NATIVE_BUCKETS)),
        ("DEFAULT_SCRAPE_DEADLINE", secs(DEFAULT_SCRAPE_DEADLINE)),
        (
            "MAX_BREADCRUMBS",
            thousands(telemeter::crash::MAX_BREADCRUMBS),
        ),
        (
            "MAX_BREADCRUMB_BYTES",
            format!("{} KiB", telemeter::crash::MAX_BREADCRUMB_BYTES / 1024),
        ),
        (
            "DEFAULT_PUSH_TIMEOUT",
            secs(telemeter::push::DEFAULT_PUSH_TIMEOUT),
        ),
        (
            "DEFAULT_COLLECT_DEADLINE",
            secs(telemeter::crash::DEFAULT_COLLECT_DEADLINE),
        ),
        (
            "MAX_TYPED_COMBINATIONS",
            thousands(telemeter::MAX_TYPED_COMBINATIONS),
        ),
        ("MAX_STRING_FIELDS", thousands(telemeter::MAX_STRING_FIELDS)),
        ("RECENT_ERRORS", thousands(telemeter::facade::RECENT_ERRORS)),
        (
            "DEFAULT_MAX_SAMPLES_PER_REQUEST",
            thousands(telemeter::push::DEFAULT_MAX_SAMPLES_PER_REQUEST),
        ),
        (
            "DEFAULT_MAX_PENDING",
            thousands(telemeter::push::DEFAULT_MAX_PENDING),
        ),
        (
            "DEFAULT_REMOTE_WRITE_INTERVAL",
            secs(telemeter::push::DEFAULT_REMOTE_WRITE_INTERVAL),
        ),
        ("MAX_RETRY_AFTER", secs(telemeter::push::MAX_RETRY_AFTER)),
    ];
    for (name, value) in shown {
        let text = format!("`{name}` = {value}");
        let row = row_with(&format!("`{name}`"));
        assert!(row.contains(&text), "expected {text:?} in {row}");
    }
    // The CLI's constants are private to its binary: read them from source.
    let cli = [
        (
            "cli/src/http.rs",
            "MAX_RESPONSE: usize = 16 * 1024 * 1024",
            "`MAX_RESPONSE` = 16 MiB",
        ),
        (
            "cli/src/load/client.rs",
            "MAX_BODY: usize = 256 << 20",
            "`MAX_BODY` = 256 MiB",
        ),
        (
            "cli/src/load/client.rs",
            "MAX_DECODED_TOTAL: usize = 512 << 20",
            "`MAX_DECODED_TOTAL` = 512 MiB",
        ),
        (
            "cli/src/demo.rs",
            "MAX_THREADS: usize = 1024",
            "`MAX_THREADS` = 1,024",
        ),
        (
            "cli/src/load.rs",
            "FD_RESERVE: u64 = 64",
            "open-files limit less 64",
        ),
        (
            "cli/src/fleet.rs",
            "MAX_AGENTS: usize = 10_000",
            "`MAX_AGENTS` = 10,000",
        ),
        (
            "cli/src/fleet.rs",
            "MAX_SAMPLES: usize = 20_000_000",
            "`MAX_SAMPLES` = 20,000,000",
        ),
    ];
    for (path, source, text) in cli {
        let code = std::fs::read_to_string(root().join(path)).expect("CLI source");
        assert!(code.contains(source), "{path} no longer has {source:?}");
        assert!(DOC.contains(text), "docs/LIMITS.md lacks {text:?}");
    }
}
