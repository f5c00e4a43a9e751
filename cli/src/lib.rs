//! `telemeter`: the command-line companion of the telemeter metrics engine.
//!
//! - `telemeter demo` runs a synthetic agent that embeds telemeter and serves
//!   every HTTP surface (`/metrics`, `/health`, `/ready`, the admin console).
//! - `telemeter status` reads an admin console's agent directory and prints
//!   it as a table or JSON.
//! - `telemeter load` load-tests a Prometheus endpoint.
//! - `telemeter crash ls|show|pack DIR` lists, prints and packs the crash
//!   bundles a host's `telemeter::crash` reporter wrote.
//!
//! Run `telemeter <command> --help` for each command's options.
//!
//! This library is the binary's body (`src/main.rs` only calls [`main`]);
//! it exists so that the fuzz targets of `fuzz/` can drive the commands'
//! response handling ([`fuzzing`]).

mod crash;
mod demo;
mod fleet;
#[doc(hidden)]
pub mod fuzzing;
mod http;
mod load;
mod status;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Command-line interface of telemeter: a demo agent and operator tools.
#[derive(Debug, Parser)]
#[command(name = "telemeter", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a synthetic agent that records metrics and serves every surface.
    #[command(after_help = demo::AFTER_HELP)]
    Demo(demo::DemoArgs),
    /// Show the agents of a running telemeter host, read from its admin console.
    #[command(after_help = status::AFTER_HELP)]
    Status(status::StatusArgs),
    /// Load-test a Prometheus endpoint: N keep-alive connections scraping.
    #[command(after_help = load::AFTER_HELP)]
    Load(load::LoadArgs),
    /// List, print or pack the crash bundles a telemeter host wrote.
    #[command(after_help = crash::AFTER_HELP)]
    Crash(crash::CrashArgs),
    /// Serve many simulated agents from one process, to load-test a scrape tier.
    #[command(after_help = fleet::AFTER_HELP)]
    Fleet(fleet::FleetArgs),
}

/// Parses the command line and runs the command: the whole of the
/// `telemeter` binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Status(args) => status::run(args),
        Command::Load(args) => load::run(args),
        Command::Crash(args) => crash::run(args),
        Command::Fleet(args) => fleet::run(args),
    }
}
