//! `bflow map PROBLEM` and `bflow merge A.json …`: equilibrium maps, their plots and shards.

mod plot;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget};

use super::{CliError, load_problem, write_file};
use bflow::map::{MapParams, Shard, map_equilibria_observed, merge};

/// Flags of `bflow map`.
#[derive(Debug, Args)]
pub struct MapArgs {
    /// A built-in problem name or a path to a problem file; it must have a region.
    pub problem: String,
    /// Number of starts N (Halton points in the region).
    #[arg(long, default_value_t = 256)]
    pub starts: usize,
    /// Seed of the Halton shift.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Map only the starts with index mod N = I (I counts from 0).
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// B-flow step budget per start.
    #[arg(long, default_value_t = 500)]
    pub bflow_steps: usize,
    /// Write the map as JSON (with per-start records, for `bflow merge`).
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// Plot the B landscape and the basin map (two-parameter problems; .svg or .png).
    #[arg(long, value_name = "PATH")]
    pub plot: Option<PathBuf>,
}

/// Flags of `bflow merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Shard outputs of `bflow map --shard I/N --json …`.
    #[arg(required = true, value_name = "SHARD.json")]
    pub parts: Vec<PathBuf>,
    /// Write the merged map as JSON.
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// Plot the merged map (two-parameter problems; .svg or .png).
    #[arg(long, value_name = "PATH")]
    pub plot: Option<PathBuf>,
}

fn parse_shard(text: &str) -> Result<Shard, CliError> {
    let bad = || CliError::input(format!("--shard: `{text}` is not I/N with 0 ≤ I < N"));
    let (i, n) = text.split_once('/').ok_or_else(bad)?;
    let index = i.trim().parse().map_err(|_| bad())?;
    let count = n.trim().parse().map_err(|_| bad())?;
    if count == 0 || index >= count {
        return Err(bad());
    }
    Ok(Shard { index, count })
}

fn map_params(args: &MapArgs) -> Result<MapParams, CliError> {
    let params = MapParams {
        starts: args.starts,
        seed: args.seed,
        shard: args.shard.as_deref().map(parse_shard).transpose()?,
        bflow_steps: args.bflow_steps,
        ..MapParams::default()
    };
    params.validate().map_err(|e| match e {
        bflow::Error::InvalidParameter { name, reason } => {
            CliError::input(format!("--{}: {reason}", name.replace('_', "-")))
        }
        other => CliError::input(other),
    })?;
    Ok(params)
}

fn output(
    map: &bflow::map::EquilibriumMap,
    json: Option<&std::path::Path>,
    plot_path: Option<&std::path::Path>,
    problem: &bflow::problems::Problem<f64>,
    source: &str,
) -> Result<(), CliError> {
    out!("{}", crate::report::map_text(map));
    if let Some(path) = json {
        let mut value = crate::report::map_json(map);
        // What `bflow merge` needs to reload exactly this problem and check it is the same.
        value["problem_source"] = serde_json::json!(source);
        value["problem_fingerprint"] =
            serde_json::json!(bflow::map::problem_fingerprint(problem).map_err(CliError::input)?);
        let text = serde_json::to_string_pretty(&value).map_err(CliError::failure)?;
        write_file(path, &text)?;
    }
    if let Some(path) = plot_path {
        plot::plot(problem, map, path)?;
    }
    Ok(())
}

/// Runs `bflow map`.
pub fn map_command(args: &MapArgs) -> Result<(), CliError> {
    let problem = load_problem(&args.problem)?;
    let params = map_params(args)?;
    if let Some(path) = &args.plot {
        super::check_plot_path("--plot", path, &["svg", "png"])?;
    }
    if args.plot.is_some() && problem.dim() != 2 {
        return Err(CliError::input(format!(
            "--plot: problem `{}` has {} parameters; plots need 2",
            problem.name,
            problem.dim()
        )));
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
    let shown = AtomicBool::new(false);
    let clock = Instant::now();
    let observer = |done: usize, total: usize| {
        if !shown.load(Ordering::Relaxed) && clock.elapsed() > Duration::from_secs(1) {
            shown.store(true, Ordering::Relaxed);
            bar.set_length(total as u64);
            bar.set_draw_target(ProgressDrawTarget::stderr());
        }
        bar.set_position(done as u64);
    };
    let map = map_equilibria_observed(&problem, &params, &observer).map_err(CliError::input)?;
    bar.finish_and_clear();
    output(
        &map,
        args.json.as_deref(),
        args.plot.as_deref(),
        &problem,
        &args.problem,
    )
}

/// Runs `bflow merge`.
pub fn merge_command(args: &MergeArgs) -> Result<(), CliError> {
    if let Some(path) = &args.plot {
        super::check_plot_path("--plot", path, &["svg", "png"])?;
    }
    let mut parts = Vec::new();
    let mut sources = Vec::new();
    for path in &args.parts {
        let text =
            bflow::files::read_text(path, bflow::files::SHARD_JSON).map_err(CliError::input)?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| CliError::input(format!("{}: not JSON: {e}", path.display())))?;
        let part = crate::report::map_shard_from_json(&value)
            .map_err(|e| CliError::input(format!("{}: {e}", path.display())))?;
        let source = value["problem_source"]
            .as_str()
            .map_or_else(|| part.problem.clone(), str::to_string);
        let fingerprint: Option<Vec<f64>> =
            serde_json::from_value(value["problem_fingerprint"].clone()).ok();
        sources.push((source, fingerprint));
        parts.push(part);
    }
    // The problem as the first shard's `bflow map` loaded it (a built-in name or a file path,
    // relative to where that command ran), checked against every shard's fingerprint.
    let source = sources[0].0.clone();
    let problem = load_problem(&source)?;
    let fingerprint = bflow::map::problem_fingerprint(&problem).map_err(CliError::input)?;
    for (path, (_, stored)) in args.parts.iter().zip(&sources) {
        if stored.as_ref().is_some_and(|f| *f != fingerprint) {
            return Err(CliError::input(format!(
                "{}: this shard was mapped on different objectives than `{source}`",
                path.display()
            )));
        }
    }
    if args.plot.is_some() && problem.dim() != 2 {
        return Err(CliError::input(format!(
            "--plot: problem `{}` has {} parameters; plots need 2",
            problem.name,
            problem.dim()
        )));
    }
    let map = merge(&problem, &parts).map_err(CliError::input)?;
    output(
        &map,
        args.json.as_deref(),
        args.plot.as_deref(),
        &problem,
        &source,
    )
}
