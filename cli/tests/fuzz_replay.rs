//! Replays the checked-in corpora of the CLI's fuzz targets
//! (`fuzz/corpus/status_response/`, `fuzz/corpus/load_response/`) through
//! the same entry points the cargo-fuzz binaries run, on stable Rust. A
//! crash that `cargo fuzz` finds is kept by copying its artifact into the
//! target's corpus directory.

use std::fs;
use std::path::{Path, PathBuf};

use telemeter_cli::fuzzing;

/// The files of `fuzz/corpus/<target>/`, sorted by name.
fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read corpus directory {}: {e}", dir.display()))
        .map(|entry| entry.expect("corpus directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

/// Runs every corpus file of `target` through `run`; hand-written seeds
/// named `valid_*` must be accepted (`run` returns true), or the corpus
/// stops seeding the accepting paths.
fn replay(target: &str, min: usize, run: impl Fn(&[u8]) -> bool + std::panic::RefUnwindSafe) {
    let files = corpus(target);
    assert!(
        files.len() >= min,
        "expected at least {min} {target} corpus files, found {}",
        files.len()
    );
    let mut valid = 0;
    for path in &files {
        let data = fs::read(path).expect("read corpus file");
        let accepted = match std::panic::catch_unwind(|| run(&data)) {
            Ok(accepted) => accepted,
            Err(panic) => panic!(
                "{} failed: {:?}",
                path.display(),
                panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
            ),
        };
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with("valid_") {
            assert!(accepted, "{} is not accepted", path.display());
            valid += 1;
        }
    }
    assert!(
        valid >= 3,
        "expected at least 3 valid_* seeds, found {valid}"
    );
}

#[test]
fn replay_status_response_corpus() {
    replay("status_response", 15, fuzzing::status_response);
}

#[test]
fn replay_load_response_corpus() {
    // Every valid_* seed serves the same body of three samples, plain,
    // chunked or gzipped: each must be counted as three series.
    replay("load_response", 10, |data| {
        fuzzing::load_response(data) == Some(3)
    });
}
