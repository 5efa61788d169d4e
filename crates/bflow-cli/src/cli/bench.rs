//! `bflow bench multitask`: cost and memory of the exact B-flow step at large n.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{CliError, write_file};
use bflow::problems::{Loss, MultiTaskParams};

/// What `bflow bench` measures.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// One exact B-flow step against the K gradients on the multi-task regression class.
    Multitask(MultitaskArgs),
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
    /// Timing repeats (the fastest is reported).
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    /// Write the figures as JSON.
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
}

/// Runs the benchmark and prints the figures.
pub fn bench_command(cmd: &BenchCommand) -> Result<(), CliError> {
    let BenchCommand::Multitask(args) = cmd;
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
    println!(
        "multitask n = {}, K = {}, {} nnz/row, {} threads",
        r.n, r.k, r.nnz_per_row, r.threads
    );
    println!("  K gradients            {:.4} s", r.gradient_seconds);
    println!(
        "  one exact B-flow step  {:.4} s  = {:.2} × the K gradients (target ≤ 3)",
        r.bflow_step_seconds, r.step_over_gradients
    );
    println!(
        "  problem data           {:.1} MiB",
        mib(r.data_bytes as u64)
    );
    match r.added_peak_bytes {
        Some(a) => println!(
            "  memory added at peak   {:.1} MiB (budget (K+1+C+4)·n·8 = {:.1} MiB; evaluator {:.1} MiB)",
            mib(a),
            mib(r.memory_budget_bytes as u64),
            mib(r.workspace_bytes as u64)
        ),
        None => println!("  memory added at peak   not measurable here (no /proc/self/clear_refs)"),
    }
    if let Some(p) = r.peak_rss_bytes {
        println!("  peak RSS               {:.1} MiB", mib(p));
    }
    println!(
        "  B: {:.6e} → {:.6e} over {} steps",
        r.b_first, r.b_last, r.repeats
    );
    if let Some(nw) = &r.newton {
        println!(
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
