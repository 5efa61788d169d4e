//! `bflow bench multitask`: cost and memory of the exact B-flow step at large n;
//! `bflow bench diagnose`: reading and diagnosing a gradient file;
//! `bflow bench map`: time to the complete set of equilibria, against scipy with `--peers`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

pub use super::bench_map::MapBenchArgs;
use super::{CliError, check_writable, write_file};
use bflow::problems::{Loss, MultiTaskParams};

/// What `bflow bench` measures.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// One exact B-flow step against the K gradients on the multi-task regression class.
    Multitask(MultitaskArgs),
    /// Read and diagnose a generated K×n gradient file (or a K×K Gram file): median time and
    /// peak memory added.
    Diagnose(DiagnoseBenchArgs),
    /// Time bflow's adaptive default map of a problem to its complete set of equilibria
    /// (medians over repeats); with --peers, scipy's multi-start to the same set.
    Map(MapBenchArgs),
}

/// The file formats `bench diagnose --format` accepts.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum FormatArg {
    /// Comma-separated text.
    Csv,
    /// .npy float32.
    Npy32,
    /// .npy float64.
    Npy64,
}

/// Flags of `bflow bench diagnose`.
#[derive(Debug, Args)]
pub struct DiagnoseBenchArgs {
    /// K, the number of tasks (rows).
    #[arg(long, default_value_t = 3)]
    pub k: usize,
    /// n, the number of parameters (columns; ignored with --gram).
    #[arg(long, default_value_t = 1_000_000)]
    pub n: usize,
    /// The file format.
    #[arg(long, value_enum, default_value = "csv")]
    pub format: FormatArg,
    /// A K×K Gram file instead of gradients.
    #[arg(long)]
    pub gram: bool,
    /// Timing repeats (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub repeats: usize,
    /// Write the figures as JSON.
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
}

fn diagnose_bench(args: &DiagnoseBenchArgs) -> Result<(), CliError> {
    use crate::experiment::diagnose_bench::{BenchFormat, bench_diagnose};
    if args.k < 2 || (!args.gram && args.n == 0) {
        return Err(CliError::input("--k must be at least 2 and --n at least 1"));
    }
    check_repeats(args.repeats)?;
    if let Some(path) = &args.json {
        check_writable("--json", path)?;
    }
    let cells = (args.k as u128) * (if args.gram { args.k } else { args.n }) as u128;
    if cells > 1 << 31 {
        return Err(CliError::input(format!(
            "--k × --n = {cells} values: the bench caps at 2³¹ (16 GiB of float64)"
        )));
    }
    let format = match args.format {
        FormatArg::Csv => BenchFormat::Csv,
        FormatArg::Npy32 => BenchFormat::Npy32,
        FormatArg::Npy64 => BenchFormat::Npy64,
    };
    let r = bench_diagnose(args.k, args.n, format, args.gram, args.repeats)
        .map_err(CliError::failure)?;
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    outln!(
        "diagnose {} K = {}, n = {} ({:?}, {:.1} MiB file, written in {:.2} s)",
        if r.gram { "Gram" } else { "gradients" },
        r.k,
        r.n,
        r.format,
        mib(r.file_bytes),
        r.write_seconds
    );
    let each: Vec<String> = r.seconds.iter().map(|s| format!("{s:.3}")).collect();
    outln!(
        "  read + diagnose        median {:.3} s over {} repeats ({} s)",
        r.median_seconds,
        r.seconds.len(),
        each.join(", ")
    );
    match r.added_peak_bytes {
        Some(a) => outln!(
            "  memory added at peak   {:.1} MiB (the values: {:.1} MiB)",
            mib(a),
            mib(r.values_bytes)
        ),
        None => outln!("  memory added at peak   not measurable here (no /proc/self/clear_refs)"),
    }
    outln!(
        "  B = {}",
        r.b.map_or("undefined".into(), |b| format!("{b:.6e}"))
    );
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&r).map_err(CliError::failure)?;
        write_file(path, &text)?;
    }
    Ok(())
}

/// The losses `--loss` accepts.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LossArg {
    /// (1/2m)||Aθ − b||².
    Quadratic,
    /// Logistic loss (non-quadratic).
    Logistic,
}

/// Flags of `bflow bench multitask`.
#[derive(Debug, Args)]
pub struct MultitaskArgs {
    /// n, the number of shared parameters.
    #[arg(long, default_value_t = 1_000_000)]
    pub n: usize,
    /// K, the number of tasks.
    #[arg(long, default_value_t = 16)]
    pub k: usize,
    /// Nonzeros per row of each task's matrix.
    #[arg(long, default_value_t = 8)]
    pub nnz_per_row: usize,
    /// The loss.
    #[arg(long, value_enum, default_value = "quadratic")]
    pub loss: LossArg,
    /// Seed of the generated data.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Timed pairs (K gradients, then one step from the same iterate); medians are reported.
    #[arg(long, default_value_t = 5)]
    pub repeats: usize,
    /// Write the figures as JSON.
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
}

/// The timing repeats of a bench: 1 to 1000 (as `bench map`), checked before anything is
/// allocated for them.
pub fn check_repeats(repeats: usize) -> Result<(), CliError> {
    if (1..=1000).contains(&repeats) {
        Ok(())
    } else {
        Err(CliError::input(format!(
            "--repeats: must be from 1 to 1000, got {repeats}"
        )))
    }
}

/// Runs the benchmark and prints the figures.
pub fn bench_command(cmd: &BenchCommand) -> Result<(), CliError> {
    let args = match cmd {
        BenchCommand::Multitask(args) => args,
        BenchCommand::Diagnose(args) => return diagnose_bench(args),
        BenchCommand::Map(args) => return super::bench_map::bench_map(args),
    };
    check_repeats(args.repeats)?;
    if let Some(path) = &args.json {
        check_writable("--json", path)?;
    }
    let params = MultiTaskParams {
        n: args.n,
        k: args.k,
        nnz_per_row: args.nnz_per_row,
        loss: match args.loss {
            LossArg::Quadratic => Loss::Quadratic,
            LossArg::Logistic => Loss::Logistic,
        },
        seed: args.seed,
        ..MultiTaskParams::default()
    };
    let flag_error = |e: bflow::Error| {
        CliError::input(match e {
            bflow::Error::InvalidParameter { name, reason } => {
                format!("--{}: {reason}", name.replace('_', "-"))
            }
            other => other.to_string(),
        })
    };
    // Estimate first: a run that cannot fit is refused with the figure, before any
    // allocation.
    let need = crate::experiment::bench::estimated_bytes(&params).map_err(flag_error)?;
    if let Some(available) = available_memory_bytes()
        && need > available
    {
        return Err(CliError::input(format!(
            "--n {} --k {}: the run needs about {:.1} GiB (problem data and vectors), the \
             machine has {:.1} GiB available",
            args.n,
            args.k,
            need as f64 / f64::from(1u32 << 30),
            available as f64 / f64::from(1u32 << 30)
        )));
    }
    let r = crate::experiment::bench::bench_multitask(&params, args.repeats, 0.05)
        .map_err(flag_error)?;
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    outln!(
        "multitask n = {}, K = {}, {} nnz/row, {} threads",
        r.n,
        r.k,
        r.nnz_per_row,
        r.threads
    );
    outln!(
        "  K losses and gradients {:.4} s (median of {})",
        r.gradient_seconds,
        r.repeats
    );
    outln!(
        "  one exact B-flow step  {:.4} s  = {:.2} × the K gradients (median ratio; target ≤ 2)",
        r.bflow_step_seconds,
        r.step_over_gradients
    );
    outln!(
        "  problem data           {:.1} MiB",
        mib(r.data_bytes as u64)
    );
    match r.added_peak_bytes {
        Some(a) => outln!(
            "  memory added at peak   {:.1} MiB (budget (K+1+C+5)·n·8 + 1 MiB = {:.1} MiB; evaluator {:.1} MiB)",
            mib(a),
            mib(r.memory_budget_bytes as u64),
            mib(r.workspace_bytes as u64)
        ),
        None => outln!("  memory added at peak   not measurable here (no /proc/self/clear_refs)"),
    }
    if let Some(p) = r.peak_rss_bytes {
        outln!("  peak RSS               {:.1} MiB", mib(p));
    }
    outln!(
        "  B: {:.6e} → {:.6e} over {} steps",
        r.b_first,
        r.b_last,
        r.repeats
    );
    if let Some(nw) = &r.newton {
        outln!(
            "  Newton from θ = 0: {} after {} steps, {} MINRES iterations, {:.1} s; ||s|| = {:.3e}, floor {:.3e}: {}",
            nw.stop,
            nw.steps,
            nw.linear_iterations,
            nw.seconds,
            nw.sum_norm,
            nw.floor,
            if nw.floor_reached {
                "reached"
            } else {
                "NOT reached"
            }
        );
    }
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&r).map_err(CliError::failure)?;
        write_file(path, &text)?;
    }
    Ok(())
}

/// `MemAvailable` from `/proc/meminfo` (Linux), bytes; `None` where it cannot be read.
fn available_memory_bytes() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
