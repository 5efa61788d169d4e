//! The `bflow` command: a thin layer over the library (see `bflow --help`).

fn main() -> std::process::ExitCode {
    bflow_cli::cli::main()
}
