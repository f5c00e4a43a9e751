//! `telemeter crash ls|show|pack DIR`: the crash bundles a host's
//! `telemeter::crash` reporter wrote, listed, printed, or packed into one
//! text file for handoff.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use telemeter::crash::{self, CrashError};

use crate::http::{printable, printable_lines};

pub const AFTER_HELP: &str = "\
A bundle is a directory crash-<UTC time>-<pid>-<n> of text files (summary,
backtrace, breadcrumbs, environment, metrics), redacted when it was written.
BUNDLE is a bundle's name as `ls` prints it, or `latest` (the default).

Examples:
  telemeter crash ls /var/lib/agent/crashes
  telemeter crash show /var/lib/agent/crashes
  telemeter crash pack /var/lib/agent/crashes latest -o crash.txt

Exit status: 0 on success, 1 when the directory or a bundle cannot be read
or the packed file cannot be written, 2 on a usage error.";

/// Options of `telemeter crash`.
#[derive(Debug, Args)]
pub struct CrashArgs {
    #[command(subcommand)]
    command: CrashCommand,
}

#[derive(Debug, Subcommand)]
enum CrashCommand {
    /// List the bundles under DIR, newest first.
    Ls {
        /// The host's crash directory (its `--crash-dir`).
        dir: PathBuf,
    },
    /// Print one bundle: every file, in order.
    Show {
        /// The host's crash directory.
        dir: PathBuf,
        /// The bundle's name, or `latest`.
        #[arg(default_value = "latest")]
        bundle: String,
    },
    /// Pack one bundle into a single .txt file to hand to maintainers.
    Pack {
        /// The host's crash directory.
        dir: PathBuf,
        /// The bundle's name, or `latest`.
        #[arg(default_value = "latest")]
        bundle: String,
        /// Where to write it (default: ./<bundle>.txt); an existing file is
        /// not replaced.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

pub fn run(args: CrashArgs) -> ExitCode {
    match run_command(args.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", printable(&e));
            ExitCode::FAILURE
        }
    }
}

fn run_command(command: CrashCommand) -> Result<(), String> {
    let fail = |e: CrashError| e.to_string();
    let mut out = std::io::stdout().lock();
    let write_err = |e: std::io::Error| format!("cannot write to stdout: {e}");
    match command {
        CrashCommand::Ls { dir } => {
            let all = crash::list(&dir).map_err(fail)?;
            if all.is_empty() {
                writeln!(out, "no crash bundles in {}", dir.display()).map_err(write_err)?;
                return Ok(());
            }
            let rows: Vec<[String; 4]> = all
                .iter()
                .map(|b| {
                    [
                        printable(&b.name),
                        printable(&b.thread),
                        printable(&b.location),
                        printable(&b.message),
                    ]
                })
                .collect();
            let head = ["BUNDLE", "THREAD", "LOCATION", "PANIC"];
            let mut widths = head.map(str::len);
            for row in &rows {
                for (w, cell) in widths.iter_mut().zip(row) {
                    *w = (*w).max(cell.chars().count());
                }
            }
            let line = |cells: [&str; 4]| {
                let mut s = String::new();
                for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
                    if i == 3 {
                        s.push_str(cell);
                    } else {
                        s.push_str(&format!("{cell:<w$}  "));
                    }
                }
                s
            };
            writeln!(out, "{}", line(head)).map_err(write_err)?;
            for row in &rows {
                let cells = [&*row[0], &*row[1], &*row[2], &*row[3]];
                writeln!(out, "{}", line(cells)).map_err(write_err)?;
            }
            Ok(())
        }
        CrashCommand::Show { dir, bundle } => {
            let info = crash::find(&dir, &bundle).map_err(fail)?;
            let text = crash::pack(&info.path).map_err(fail)?;
            out.write_all(printable_lines(&text).as_bytes())
                .map_err(write_err)
        }
        CrashCommand::Pack {
            dir,
            bundle,
            output,
        } => {
            let info = crash::find(&dir, &bundle).map_err(fail)?;
            let text = crash::pack(&info.path).map_err(fail)?;
            let path = output.unwrap_or_else(|| PathBuf::from(format!("{}.txt", info.name)));
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(|e| {
                    format!(
                        "cannot create {}: {e} (an existing file is not replaced; give -o FILE)",
                        path.display()
                    )
                })?;
            file.write_all(text.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            writeln!(
                out,
                "packed {} into {} ({} bytes); read it before you send it",
                info.name,
                path.display(),
                text.len()
            )
            .map_err(write_err)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_but_lines_kept() {
        assert_eq!(
            printable_lines("a\u{1b}[31mb\n\tc\u{9b}"),
            "a\\u{1b}[31mb\n\tc\\u{9b}"
        );
    }
}
