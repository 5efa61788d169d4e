//! Command-line parsing and the glue from flags to library calls.
//!
//! Exit codes: 0 success, 1 a run that could not finish its job (an I/O failure writing an
//! output), 2 bad input (flags, files, values). Errors are one line on stderr.
//!
//! Everything bound for stdout goes through [`write_stdout`] (the `out!`/`outln!` macros):
//! when the reader has gone away (`bflow … | head`), the program ends quietly with exit
//! code 0 instead of panicking on the broken pipe, as ripgrep does.

/// `print!` through [`write_stdout`].
macro_rules! out {
    ($($arg:tt)*) => { $crate::cli::write_stdout(format_args!($($arg)*)) };
}

/// `println!` through [`write_stdout`].
macro_rules! outln {
    () => { $crate::cli::write_stdout(format_args!("\n")) };
    ($($arg:tt)*) => {{
        $crate::cli::write_stdout(format_args!($($arg)*));
        $crate::cli::write_stdout(format_args!("\n"));
    }};
}

mod bench;
mod bench_map;
mod compare;
mod diagnose;
mod map;
mod precision;
mod problem_arg;
mod reproduce;
mod run;

pub use problem_arg::load_problem;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Find, certify and map the equilibria of K competing objectives.
#[derive(Debug, Parser)]
#[command(name = "bflow", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Rerun the seed's experiments E1–E4 under its exact settings and compare.
    Reproduce {
        /// Write every figure as JSON to this file.
        #[arg(long, value_name = "PATH")]
        json: Option<PathBuf>,
    },
    /// List the built-in problems.
    Problems,
    /// Run one flow on a problem and print its report.
    Run(run::RunArgs),
    /// Measure the cost and memory of bflow's kernels.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Run one problem in f32, f64 and double-double and compare the precision reached.
    Precision(precision::PrecisionArgs),
    /// Diagnose one state: losses, gradient norms, B, I, |I + ½| and the cosine matrix.
    Diagnose(diagnose::DiagnoseArgs),
    /// Find, classify and certify every equilibrium in the problem's region.
    Map(map::MapArgs),
    /// Merge shard outputs of `bflow map --shard` into one map.
    Merge(map::MergeArgs),
    /// Compare every flow × step rule under equal work budgets; verdicts on the seed's claims.
    Compare(compare::CompareArgs),
}

/// An error with the exit code it maps to.
#[derive(Debug)]
pub struct CliError {
    /// 2 for bad input, 1 for a failure while doing the job.
    pub code: u8,
    /// One line.
    pub message: String,
}

impl CliError {
    /// Bad input: exit code 2.
    pub fn input(message: impl std::fmt::Display) -> Self {
        Self {
            code: 2,
            message: message.to_string(),
        }
    }

    /// A failure while doing the job: exit code 1.
    pub fn failure(message: impl std::fmt::Display) -> Self {
        Self {
            code: 1,
            message: message.to_string(),
        }
    }
}

impl From<bflow::Error> for CliError {
    fn from(e: bflow::Error) -> Self {
        CliError::input(e)
    }
}

/// Writes to stdout. A closed stdout (`ErrorKind::BrokenPipe`: the reader exited, as `head`
/// does) ends the process at once with exit code 0 and no message — the output was not
/// wanted any more; any other write failure ends it with exit code 1 and one line on
/// stderr. Never panics (unlike `print!`).
pub fn write_stdout(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let result = std::io::stdout().lock().write_fmt(args);
    if let Err(e) = result {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        write_stderr(format_args!("bflow: error: cannot write to stdout: {e}\n"));
        std::process::exit(1);
    }
}

/// Writes to stderr, ignoring failure (there is nowhere left to report it).
pub fn write_stderr(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = std::io::stderr().lock().write_fmt(args);
}

/// Writes `text` to `path`, mapping failure to a one-line error naming the file.
pub fn write_file(path: &std::path::Path, text: &str) -> Result<(), CliError> {
    std::fs::write(path, text)
        .map_err(|e| CliError::failure(format!("{}: cannot write: {e}", path.display())))
}

/// Creates (or truncates) an output file before any work is done, so a path that cannot be
/// written is refused at once (exit 2, naming the flag) instead of after the work.
///
/// `-` is refused, as by [`check_writable`].
pub fn create_output(flag: &str, path: &std::path::Path) -> Result<std::fs::File, CliError> {
    refuse_dash(flag, path)?;
    std::fs::File::create(path)
        .map_err(|e| CliError::input(format!("{flag}: {}: cannot write: {e}", path.display())))
}

/// A number for a one-line message: short (`1e300`, not 301 digits).
pub fn short_number(x: f64) -> String {
    if x.is_finite() && x.abs() < 1e15 && x == x.trunc() {
        format!("{x}")
    } else {
        format!("{x:e}")
    }
}

/// Checks a plot path's extension before any work is done, naming the flag.
pub fn check_plot_path(
    flag: &str,
    path: &std::path::Path,
    allowed: &[&str],
) -> Result<(), CliError> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if allowed.contains(&ext) {
        Ok(())
    } else {
        let list: Vec<String> = allowed.iter().map(|e| format!(".{e}")).collect();
        Err(CliError::input(format!(
            "{flag}: {}: the plot file must end in {}",
            path.display(),
            list.join(" or ")
        )))
    }
}

/// Refuses the output path `-`: only `bflow diagnose --csv -` writes to standard output;
/// anywhere else it would be a file named `-`.
pub fn refuse_dash(flag: &str, path: &std::path::Path) -> Result<(), CliError> {
    if path == std::path::Path::new("-") {
        return Err(CliError::input(format!(
            "{flag}: `-` (standard output) is not supported here; give a file path"
        )));
    }
    Ok(())
}

/// Checks before any work is done that `path` can be written (an existing file is opened for
/// appending and left as it was; a new one is created and removed again), naming the flag.
///
/// `-` is refused ([`refuse_dash`]).
pub fn check_writable(flag: &str, path: &std::path::Path) -> Result<(), CliError> {
    refuse_dash(flag, path)?;
    let existed = path.exists();
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| CliError::input(format!("{flag}: {}: cannot write: {e}", path.display())))?;
    if !existed {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

/// Parses a comma-separated point of `n` numbers given to `flag`.
pub fn parse_point(flag: &str, text: &str, n: usize) -> Result<Vec<f64>, CliError> {
    let values = text
        .split(',')
        .enumerate()
        .map(|(j, field)| {
            let field = field.trim();
            field.parse::<f64>().map_err(|_| {
                CliError::input(format!("{flag}: entry {} `{field}` is not a number", j + 1))
            })
        })
        .collect::<Result<Vec<f64>, CliError>>()?;
    if values.len() != n {
        return Err(CliError::input(format!(
            "{flag}: {} values given, the problem has {n} parameters",
            values.len()
        )));
    }
    if let Some(j) = values.iter().position(|x| !x.is_finite()) {
        return Err(CliError::input(format!(
            "{flag}: entry {} is not finite",
            j + 1
        )));
    }
    Ok(values)
}

/// Parses the arguments, runs the command and maps errors to exit codes.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let result = match cli.command {
        Command::Reproduce { json } => reproduce::run(json.as_deref()),
        Command::Run(args) => run::run_command(&args),
        Command::Diagnose(args) => diagnose::diagnose_command(&args),
        Command::Bench(cmd) => bench::bench_command(&cmd),
        Command::Precision(args) => precision::precision_command(&args),
        Command::Map(args) => map::map_command(&args),
        Command::Merge(args) => map::merge_command(&args),
        Command::Compare(args) => compare::run_command(&args),
        Command::Problems => {
            for entry in bflow::problems::CATALOG {
                outln!("{:<18} {}", entry.name, entry.summary);
            }
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            write_stderr(format_args!("bflow: error: {}\n", e.message));
            ExitCode::from(e.code)
        }
    }
}
