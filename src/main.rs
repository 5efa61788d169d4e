//! The `bflow` command: a thin layer over the library (see `bflow --help`).

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
