//! Crash bundles on disk: one directory per crash, of text files, written
//! under a temporary name and renamed into place whole, so that a reader
//! never sees half a bundle; and reading them back ([`list`], [`pack`]).
#![forbid(unsafe_code)]

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::CrashError;

/// The files of a bundle, in the order [`pack`] puts them.
pub const FILES: [&str; 5] = [
    "summary.txt",
    "backtrace.txt",
    "breadcrumbs.txt",
    "environment.txt",
    "metrics.txt",
];

/// The first line of every `summary.txt`.
pub(crate) const MAGIC: &str = "telemeter crash bundle 1";

/// Bundle directory names start with this.
const PREFIX: &str = "crash-";

/// Writes the bundle `name` under `dir` (created if missing): `files` are
/// (file name, contents) in [`FILES`] order.
pub(crate) fn write(dir: &Path, name: &str, files: &[(&str, String)]) -> io::Result<PathBuf> {
    fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{name}.partial"));
    fs::create_dir(&tmp)?;
    let written = (|| {
        for (file, text) in files {
            fs::write(tmp.join(file), text)?;
        }
        let done = dir.join(name);
        fs::rename(&tmp, &done)?;
        Ok(done)
    })();
    if written.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    written
}

/// What `telemeter crash ls` shows of one bundle, from its `summary.txt`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BundleInfo {
    /// The directory's name (`crash-20261207T093105Z-4242-1`).
    pub name: String,
    /// The directory.
    pub path: PathBuf,
    /// When it was written (UTC, RFC 3339).
    pub time: String,
    /// The program and its version.
    pub program: String,
    /// The panicking thread's name.
    pub thread: String,
    /// The panic's message (redacted), its first line.
    pub message: String,
    /// Where it panicked (`file:line:column`).
    pub location: String,
}

impl BundleInfo {
    fn read(path: &Path) -> Result<BundleInfo, CrashError> {
        let summary_path = path.join("summary.txt");
        let text = fs::read_to_string(&summary_path).map_err(|source| CrashError::Read {
            path: summary_path.clone(),
            source,
        })?;
        if text.lines().next() != Some(MAGIC) {
            return Err(CrashError::NotABundle {
                path: path.to_path_buf(),
            });
        }
        let field = |key: &str| -> String {
            text.lines()
                .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(": ")))
                .unwrap_or("")
                .to_string()
        };
        Ok(BundleInfo {
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            path: path.to_path_buf(),
            time: field("time"),
            program: field("program"),
            thread: field("thread"),
            message: field("panic"),
            location: field("location"),
        })
    }
}

/// The bundles under `dir`, newest first (by name, which starts with the
/// UTC time). Entries that are not bundle directories are skipped; one
/// whose `summary.txt` is unreadable or not a bundle's is an error.
///
/// # Errors
///
/// [`CrashError::Read`] when `dir` or a bundle cannot be read,
/// [`CrashError::NotABundle`] for a `crash-*` directory that is not one.
pub fn list(dir: &Path) -> Result<Vec<BundleInfo>, CrashError> {
    let entries = fs::read_dir(dir).map_err(|source| CrashError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| CrashError::Read {
            path: dir.to_path_buf(),
            source,
        })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with(PREFIX) || !entry.path().is_dir() {
            continue;
        }
        out.push(BundleInfo::read(&entry.path())?);
    }
    out.sort_by(|a, b| b.name.cmp(&a.name));
    Ok(out)
}

/// One bundle as a single text file for handoff: a header, then each file
/// of [`FILES`] under a `===== name =====` line. It is what the bundle
/// holds, already redacted; read it before sending it.
///
/// # Errors
///
/// [`CrashError::NotABundle`] when `bundle` is not a bundle directory,
/// [`CrashError::Read`] when one of its files cannot be read.
pub fn pack(bundle: &Path) -> Result<String, CrashError> {
    let info = BundleInfo::read(bundle)?;
    let mut out = format!(
        "{MAGIC}, packed: {}\nOne text file of a crash bundle, redacted when it was written; \
         read it before you send it.\n",
        info.name
    );
    for file in FILES {
        let path = bundle.join(file);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            // A bundle from a writer that could not collect a part.
            Err(e) if e.kind() == io::ErrorKind::NotFound => "(missing)\n".to_string(),
            Err(source) => return Err(CrashError::Read { path, source }),
        };
        out.push_str(&format!("\n===== {file} =====\n"));
        out.push_str(&text);
        if !text.ends_with('\n') {
            out.push('\n');
        }
    }
    Ok(out)
}

/// The bundle `name` names under `dir`: a bundle's directory name, or
/// `latest` for the newest.
///
/// # Errors
///
/// As [`list`]; [`CrashError::NoSuchBundle`] when none is called `name`
/// (or there is none, for `latest`).
pub fn find(dir: &Path, name: &str) -> Result<BundleInfo, CrashError> {
    let all = list(dir)?;
    let found = if name == "latest" {
        all.first().cloned()
    } else {
        all.iter().find(|b| b.name == name).cloned()
    };
    found.ok_or_else(|| CrashError::NoSuchBundle {
        dir: dir.to_path_buf(),
        name: name.to_string(),
        known: all.iter().map(|b| b.name.clone()).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("telemeter-bundle-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    fn files(thread: &str) -> Vec<(&'static str, String)> {
        vec![
            (
                "summary.txt",
                format!("{MAGIC}\ntime: 2026-12-07T09:31:05Z\nprogram: x 1\nthread: {thread}\npanic: boom\nlocation: a.rs:1:2\n"),
            ),
            ("backtrace.txt", "bt".into()),
            ("breadcrumbs.txt", "b1\n".into()),
            ("environment.txt", "HOME=/\n".into()),
            ("metrics.txt", "x 1\n".into()),
        ]
    }

    #[test]
    fn bundles_are_written_whole_listed_newest_first_and_packed() {
        let dir = tempdir("rw");
        write(&dir, "crash-20261207T093105Z-1-1", &files("main")).unwrap();
        write(&dir, "crash-20261207T093106Z-1-2", &files("worker")).unwrap();
        fs::create_dir_all(dir.join("unrelated")).unwrap();
        let all = list(&dir).unwrap();
        let names: Vec<&str> = all.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(
            names,
            ["crash-20261207T093106Z-1-2", "crash-20261207T093105Z-1-1"]
        );
        assert_eq!(all[0].thread, "worker");
        assert_eq!(
            (all[1].message.as_str(), all[1].location.as_str()),
            ("boom", "a.rs:1:2")
        );
        assert_eq!(find(&dir, "latest").unwrap().name, all[0].name);
        let packed = pack(&all[1].path).unwrap();
        assert!(packed.starts_with(MAGIC));
        let order: Vec<usize> = FILES
            .iter()
            .map(|f| packed.find(&format!("===== {f} =====")).unwrap())
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{packed}");
        assert!(packed.contains("===== backtrace.txt =====\nbt\n"));
        // No partial directory is left behind.
        assert!(!fs::read_dir(&dir).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".partial")));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn unknown_names_and_foreign_directories_are_typed_errors() {
        let dir = tempdir("err");
        write(&dir, "crash-20261207T093105Z-1-1", &files("main")).unwrap();
        match find(&dir, "crash-nope") {
            Err(CrashError::NoSuchBundle { known, .. }) => {
                assert_eq!(known, ["crash-20261207T093105Z-1-1"]);
            }
            other => panic!("{other:?}"),
        }
        fs::create_dir_all(dir.join("crash-fake")).unwrap();
        fs::write(dir.join("crash-fake/summary.txt"), "hello\n").unwrap();
        assert!(matches!(list(&dir), Err(CrashError::NotABundle { .. })));
        assert!(matches!(
            list(&dir.join("missing")),
            Err(CrashError::Read { .. })
        ));
        let _ = fs::remove_dir_all(&dir);
    }
}
