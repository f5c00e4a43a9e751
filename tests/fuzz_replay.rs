//! Replays the checked-in fuzz corpus (`fuzz/corpus/<target>/`) through the
//! same target bodies the cargo-fuzz binaries run, on stable Rust, as
//! ordinary tests. A crash that `cargo fuzz` finds is kept by copying its
//! artifact into the target's corpus directory.

#[path = "../fuzz/src/targets.rs"]
mod targets;

use std::fs;
use std::path::{Path, PathBuf};

/// The files of `fuzz/corpus/<target>/`, sorted by name.
fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join("corpus")
        .join(target);
    let entries = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read corpus directory {}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("corpus directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[test]
fn replay_parse_bytes_corpus() {
    let files = corpus("parse_bytes");
    assert!(
        files.len() >= 15,
        "expected at least 15 parse_bytes corpus files, found {}",
        files.len()
    );
    let mut valid = 0;
    for path in &files {
        let data = fs::read(path).expect("read corpus file");
        targets::parse_bytes_target(&data);
        // Hand-written seeds named valid_* must stay valid, or the corpus
        // stops seeding the accepting paths.
        if file_name(path).starts_with("valid_") {
            if let Err(e) = telemeter::parse::parse_bytes(&data) {
                panic!("{} is rejected: {e}", path.display());
            }
            valid += 1;
        }
    }
    assert!(
        valid >= 5,
        "expected at least 5 valid_* seeds, found {valid}"
    );
}

#[test]
fn replay_parse_openmetrics_corpus() {
    let files = corpus("parse_openmetrics");
    assert!(
        files.len() >= 12,
        "expected at least 12 parse_openmetrics corpus files, found {}",
        files.len()
    );
    let mut valid = 0;
    for path in &files {
        let data = fs::read(path).expect("read corpus file");
        let accepted = targets::parse_openmetrics_target(&data);
        // Hand-written seeds named valid_* must stay valid, the others
        // invalid, or the corpus stops seeding both paths.
        if file_name(path).starts_with("valid_") {
            if let Err(e) = telemeter::parse::openmetrics::parse_bytes(&data) {
                panic!("{} is rejected: {e}", path.display());
            }
            valid += 1;
        } else {
            assert!(!accepted, "{} is accepted", path.display());
        }
    }
    assert!(
        valid >= 5,
        "expected at least 5 valid_* seeds, found {valid}"
    );
}

#[test]
fn replay_roundtrip_corpus() {
    let files = corpus("roundtrip");
    assert!(
        files.len() >= 6,
        "expected at least 6 roundtrip corpus files, found {}",
        files.len()
    );
    for path in &files {
        let data = fs::read(path).expect("read corpus file");
        let (help, values) = targets::decode_roundtrip(&data);
        targets::roundtrip_target(&help, &values);
    }
}

#[test]
fn roundtrip_decoding_is_the_documented_one() {
    let (help, values) = targets::decode_roundtrip(b"Requests.\x01GET\x01200");
    assert_eq!(help, "Requests.");
    assert_eq!(values, ["GET", "200"]);
    let (help, values) = targets::decode_roundtrip(b"");
    assert_eq!(help, "");
    assert_eq!(values, [""]);
    let (_, values) = targets::decode_roundtrip(b"h\x01a\x01b\x01c\x01d");
    assert_eq!(values, ["a", "b", "c"]);
    let (help, _) = targets::decode_roundtrip(b"\xffx");
    assert_eq!(help, "\u{fffd}x");
}

#[test]
fn replay_accept_corpus() {
    use telemeter::Format;
    let files = corpus("accept");
    assert!(files.len() >= 10, "{} accept corpus files", files.len());
    for path in &files {
        let data = fs::read(path).expect("read corpus file");
        let chosen = targets::accept_target(&data);
        // Each seed's name says the format it must get.
        let name = file_name(path);
        let want = if name.starts_with("protobuf_") {
            Some(Format::Protobuf)
        } else if name.starts_with("openmetrics_") {
            Some(Format::OpenMetrics)
        } else if name.starts_with("text_") {
            Some(Format::Text)
        } else {
            None
        };
        if let Some(want) = want {
            assert_eq!(chosen, want, "{}", path.display());
        }
    }
}

#[test]
fn replay_query_corpus() {
    let files = corpus("query");
    assert!(files.len() >= 10, "{} query corpus files", files.len());
    let mut valid = 0;
    for path in &files {
        let data = fs::read(path).expect("read corpus file");
        let accepted = targets::query_target(&data);
        if file_name(path).starts_with("valid_") {
            assert!(accepted, "{} is rejected", path.display());
            valid += 1;
        } else if file_name(path).starts_with("invalid_") {
            assert!(!accepted, "{} is accepted", path.display());
        }
    }
    assert!(
        valid >= 5,
        "expected at least 5 valid_* seeds, found {valid}"
    );
}
