//! `telemeter`: the command-line companion of the telemeter metrics engine;
//! its body is the `telemeter_cli` library.

fn main() -> std::process::ExitCode {
    telemeter_cli::main()
}
