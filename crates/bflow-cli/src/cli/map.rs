//! `bflow map PROBLEM` and `bflow merge A.json …`: equilibrium maps, their plots and shards.

mod checkpoint;
mod dgraph;
mod plot;
mod progress;

use std::io::IsTerminal;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget};

use super::problem_arg::load_problem_named;
use super::{CliError, check_plot_path, check_writable, write_file};
use crate::report::MapContext;
use bflow::map::checkpoint::CheckpointHeader;
use bflow::map::completeness::ProofParams;
use bflow::map::{
    MAX_KEPT_RECORDS, MAX_STARTS, MapControl, MapParams, MapProgress, Mapper, Searcher, Shard,
    StartRecord, merge,
};

/// The most start records a plot keeps for its basin panel: the first starts, a prefix of
/// the Halton sequence and so spread evenly over the region (the legend's counts are of all
/// starts).
const PLOT_RECORDS: usize = 1 << 16;

/// Parses a number of starts: a whole number from 1 to [`MAX_STARTS`].
fn parse_starts(text: &str) -> Result<usize, String> {
    let range = format!("a whole number of starts from 1 to {MAX_STARTS}");
    match text.trim().parse::<u128>() {
        Ok(n) if (1..=MAX_STARTS as u128).contains(&n) => Ok(n as usize),
        Ok(_) => Err(format!("must be {range}")),
        Err(_) => Err(format!("not {range} (digits only)")),
    }
}

/// Flags of `bflow map`.
#[derive(Debug, Args)]
pub struct MapArgs {
    /// A built-in problem name or a path to a problem file; it must have a region.
    pub problem: String,
    /// A fixed number of starts N (Halton points in the region). Without it the map runs
    /// rounds (F = 128, 512, 2048, 8192 starts for n ≤ 3, 4, 5, ≥ 6 parameters — without mode
    /// starts 256 in 3-D — then ending at 2F, 2.5F, 3F, 3.5F, 4F, 5F, …) until the last half
    /// of its starts found nothing new and it looks complete (or --max-starts / --max-time).
    #[arg(long, value_name = "N", value_parser = parse_starts)]
    pub starts: Option<usize>,
    /// The most starts an adaptive map (no --starts) runs.
    #[arg(long, value_name = "N", default_value_t = 1 << 16, value_parser = parse_starts)]
    pub max_starts: usize,
    /// The searches from every start, comma-separated, the first the primary: newton,
    /// bflow, lossflow, ascent. B-flow descends B of the objectives' additive terms where a
    /// problem file's objectives are sums (cut at their top-level + and −).
    #[arg(
        long,
        value_name = "LIST",
        default_value = "newton,bflow,lossflow,ascent"
    )]
    pub searchers: String,
    /// Seed of the Halton shift.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Map only the starts with index mod N = I (I counts from 0; needs --starts).
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// B-flow step budget per search.
    #[arg(long, default_value_t = 200)]
    pub bflow_steps: usize,
    /// Skip the mode starts: Newton, once the starts are done, from each equilibrium found
    /// (minimum, saddle or maximum), displaced along each eigenvector of its Hessian that
    /// leads to a saddle (they find saddles whose basins are too small for random starts; a
    /// few hundred searches in 4-D).
    #[arg(long)]
    pub no_mode_starts: bool,
    /// Stop after this many seconds; the map then covers the starts run so far and says so
    /// (time-limit). Such a map runs no mode starts; a limit reached during them cuts them
    /// short, and the map says time-limit though every start ran.
    #[arg(long, value_name = "SECONDS")]
    pub max_time: Option<f64>,
    /// Write every start's record to PATH (JSON Lines) as the map runs; when PATH holds the
    /// records of this same map (problem and settings), resume from them. The finished map is
    /// the one an uninterrupted run gives.
    #[arg(long, value_name = "PATH")]
    pub checkpoint: Option<PathBuf>,
    /// Write the map as JSON (`bflow merge` reads it back).
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// Also write every start's searches into the JSON (`per_start`; memory grows with the
    /// starts: at most 65536 of them; --checkpoint keeps every start's record on disk).
    #[arg(long)]
    pub per_start: bool,
    #[command(flatten)]
    pub prove: ProveArgs,
    /// Write one CSV row per equilibrium: coordinates by parameter name, loss_sum (Σ L),
    /// morse_index, kind, eig_1..eig_n, certified_radius, basin_share.
    #[arg(long, value_name = "PATH")]
    pub csv: Option<PathBuf>,
    /// Write one CSV row per index-1 saddle: the minima its two descent paths reach
    /// (numbered as the table), the barriers and how each path ended.
    #[arg(long, value_name = "PATH")]
    pub connections_csv: Option<PathBuf>,
    /// Plot the map (.svg or .png). Two parameters: the Σ L surface with the equilibria and
    /// the basin map in PATH, and the disconnectivity graph of the minima in
    /// STEM-disconnectivity.EXT beside it; any other number: the disconnectivity graph.
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
    /// Write the merged map as CSV, one row per equilibrium (as `bflow map --csv`).
    #[arg(long, value_name = "PATH")]
    pub csv: Option<PathBuf>,
    /// Write the merged map's connections as CSV (as `bflow map --connections-csv`).
    #[arg(long, value_name = "PATH")]
    pub connections_csv: Option<PathBuf>,
    /// Plot the merged map (as `bflow map --plot`; .svg or .png).
    #[arg(long, value_name = "PATH")]
    pub plot: Option<PathBuf>,
    #[command(flatten)]
    pub prove: ProveArgs,
}

/// The interval proof of completeness, for `map` and `merge`.
#[derive(Debug, Args)]
pub struct ProveArgs {
    /// Prove the map complete by interval branch-and-prune over the region: every box is
    /// shown to hold no equilibrium or exactly one; equilibria the searches missed are added
    /// ("found_by": ["proof"]). Prints "proven complete" or the unresolved boxes.
    #[arg(long)]
    pub prove: bool,
    /// The proof's time budget in seconds.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 30.0,
        requires = "prove"
    )]
    pub prove_time: f64,
    /// The proof's budget in boxes.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1_000_000,
        requires = "prove"
    )]
    pub prove_boxes: usize,
}

impl ProveArgs {
    /// The proof's parameters, checked (`None` without `--prove`).
    fn params(&self) -> Result<Option<ProofParams>, CliError> {
        if !self.prove {
            return Ok(None);
        }
        let max_time = Duration::try_from_secs_f64(self.prove_time).map_err(|_| {
            CliError::input(format!(
                "--prove-time: must be a number of seconds ≥ 0 that fits a duration, got {}",
                super::short_number(self.prove_time)
            ))
        })?;
        let params = ProofParams {
            max_boxes: self.prove_boxes,
            max_time,
            ..ProofParams::default()
        };
        params.validate().map_err(|e| match e {
            bflow::Error::InvalidParameter { name, reason } => CliError::input(format!(
                "--prove-{}: {reason}",
                name.trim_start_matches("max_")
            )),
            other => CliError::input(other),
        })?;
        Ok(Some(params))
    }

    /// [`params`](Self::params), and that the proof's boxes fit its memory cap over `n`
    /// parameters.
    fn params_for(&self, n: usize) -> Result<Option<ProofParams>, CliError> {
        let params = self.params()?;
        if let Some(p) = &params {
            check_proof_memory(p, n)?;
        }
        Ok(params)
    }
}

/// Refuses `--prove-boxes` whose boxes would not fit the proof's memory cap over `n`
/// parameters ([`ProofParams::validate_for`]), before any work.
fn check_proof_memory(params: &ProofParams, n: usize) -> Result<(), CliError> {
    params
        .validate_for(n)
        .map_err(|e| CliError::input(format!("--prove-boxes: {e}")))
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

fn parse_searchers(text: &str) -> Result<Vec<Searcher>, CliError> {
    text.split(',')
        .map(|name| {
            Searcher::from_name(name.trim()).ok_or_else(|| {
                CliError::input(format!(
                    "--searchers: `{}` is not a searcher (newton, bflow, lossflow, ascent)",
                    name.trim()
                ))
            })
        })
        .collect()
}

fn map_params(args: &MapArgs) -> Result<MapParams, CliError> {
    let params = MapParams {
        starts: args.starts,
        max_starts: args.max_starts,
        seed: args.seed,
        shard: args.shard.as_deref().map(parse_shard).transpose()?,
        searchers: parse_searchers(&args.searchers)?,
        bflow_steps: args.bflow_steps,
        mode_starts: !args.no_mode_starts,
        ..MapParams::default()
    };
    params.validate().map_err(|e| match e {
        bflow::Error::InvalidParameter { name, reason } => {
            CliError::input(format!("--{}: {reason}", name.replace('_', "-")))
        }
        other => CliError::input(other),
    })?;
    if args.per_start {
        let most = params.most_starts();
        if most > MAX_KEPT_RECORDS {
            return Err(CliError::input(format!(
                "--per-start keeps every start in memory: at most {MAX_KEPT_RECORDS} starts, \
                 this map may run {most} (--checkpoint PATH writes every start's record to disk)"
            )));
        }
    }
    Ok(params)
}

/// Where the outputs go.
struct Outputs<'a> {
    json: Option<&'a Path>,
    csv: Option<&'a Path>,
    connections_csv: Option<&'a Path>,
    plot: Option<&'a Path>,
    /// Write the map's records into the JSON (`per_start`).
    per_start: bool,
}

/// The second plot of a two-parameter map: `STEM-disconnectivity.EXT` beside `plot`.
fn disconnectivity_path(plot: &Path) -> PathBuf {
    let stem = plot
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    let ext = plot
        .extension()
        .map_or_else(String::new, |e| e.to_string_lossy().into_owned());
    plot.with_file_name(format!("{stem}-disconnectivity.{ext}"))
}

impl Outputs<'_> {
    /// Refuses, before any work, an output that cannot be written.
    fn check(&self, dim: usize) -> Result<(), CliError> {
        if let Some(path) = self.plot {
            check_plot_path("--plot", path, &["svg", "png"])?;
            check_writable("--plot", path)?;
            if dim == 2 {
                check_writable("--plot", &disconnectivity_path(path))?;
            }
        }
        if let Some(path) = self.json {
            check_writable("--json", path)?;
        }
        if let Some(path) = self.csv {
            check_writable("--csv", path)?;
        }
        if let Some(path) = self.connections_csv {
            check_writable("--connections-csv", path)?;
        }
        Ok(())
    }
}

fn output(
    map: &bflow::map::EquilibriumMap,
    to: &Outputs,
    problem: &bflow::problems::Problem<f64>,
    names: Vec<String>,
    source: &str,
) -> Result<(), CliError> {
    let ctx = MapContext::new(names, map);
    out!("{}", crate::report::map_text(map, &ctx));
    let searches: u128 = map.outcomes.values().map(|o| o.total()).sum();
    let diverged: u128 = map.outcomes.values().map(|o| u128::from(o.diverged)).sum();
    if searches > 0 && diverged == searches {
        super::write_stderr(format_args!(
            "bflow: warning: every one of the {searches} searches diverged: the objectives are \
             NaN or infinite wherever the searches evaluated them (check their domain against \
             the region)\n"
        ));
    }
    if let Some(path) = to.json {
        let mut value = crate::report::map_json(map);
        if !to.per_start
            && let Some(fields) = value.as_object_mut()
        {
            // Records kept only for the plot's basin panel.
            fields.remove("per_start");
        }
        // What `bflow merge` needs to reload exactly this problem (the library checks the
        // fingerprint).
        value["problem_source"] = serde_json::json!(source);
        let text = serde_json::to_string_pretty(&value).map_err(CliError::failure)?;
        write_file(path, &text)?;
    }
    if let Some(path) = to.csv {
        write_file(path, &crate::report::map_csv(map, &ctx))?;
    }
    if let Some(path) = to.connections_csv {
        write_file(path, &crate::report::connections_csv(map))?;
    }
    if let Some(path) = to.plot {
        let landscape = dgraph::landscape_of(map, &ctx);
        let scale = dgraph::energy_scale(&ctx);
        if problem.dim() == 2 {
            plot::plot(problem, map, &ctx, path)?;
            dgraph::plot(map, &landscape, scale, &disconnectivity_path(path))?;
        } else {
            dgraph::plot(map, &landscape, scale, path)?;
        }
    }
    Ok(())
}

/// Runs `bflow map`.
pub fn map_command(args: &MapArgs) -> Result<(), CliError> {
    let (problem, names) = load_problem_named(&args.problem)?;
    let params = map_params(args)?;
    let proof = args.prove.params_for(problem.objectives.dim())?;
    let to = Outputs {
        json: args.json.as_deref(),
        csv: args.csv.as_deref(),
        connections_csv: args.connections_csv.as_deref(),
        plot: args.plot.as_deref(),
        per_start: args.per_start,
    };
    to.check(problem.dim())?;
    let max_time = match args.max_time {
        None => None,
        Some(t) => Some(Duration::try_from_secs_f64(t).map_err(|_| {
            CliError::input(format!(
                "--max-time: must be a number of seconds ≥ 0 that fits a duration, got {}",
                super::short_number(t)
            ))
        })?),
    };
    // The note when the map runs fewer searchers than asked (B-flow with one objective);
    // when none would be left, Mapper::new refuses the map below.
    if params
        .for_objectives(problem.objectives.num_objectives())
        .is_ok_and(|run| run.searchers != params.searchers)
    {
        super::write_stderr(format_args!(
            "bflow: note: one objective, so B ≡ 1 and B-flow is not run; the map searches \
             s = ∇L with the other searchers\n"
        ));
    }
    let mut mapper = Mapper::new(&problem, &params).map_err(CliError::input)?;
    // The plot's basin panel needs start records; without --per-start it keeps a bounded
    // prefix of them.
    let sample_plot = args.plot.is_some() && !args.per_start;
    let mut sample: Vec<StartRecord> = Vec::new();
    let mut keep_sample = |r: &StartRecord| {
        if sample_plot && sample.len() < PLOT_RECORDS {
            sample.push(r.clone());
        }
    };
    let file = match &args.checkpoint {
        None => None,
        Some(path) => {
            let header =
                CheckpointHeader::new(&problem, &args.problem, &params).map_err(CliError::input)?;
            let (file, resumed) = checkpoint::CheckpointFile::open(
                path,
                &header,
                &mut mapper,
                args.per_start,
                &mut keep_sample,
            )?;
            if resumed.records > 0 || resumed.torn_bytes > 0 {
                super::write_stderr(format_args!(
                    "bflow: resuming from {}: {} starts mapped before{}\n",
                    path.display(),
                    resumed.records,
                    if resumed.torn_bytes > 0 {
                        format!(
                            " (a partial last line of {} bytes dropped)",
                            resumed.torn_bytes
                        )
                    } else {
                        String::new()
                    }
                ));
            }
            Some(file)
        }
    };
    // Written by both the record and the batch callbacks.
    let file = std::cell::RefCell::new(file);

    // Progress: a bar on a terminal (shown after a second), lines every 10 s elsewhere.
    let terminal = std::io::stderr().is_terminal();
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
    let lines = progress::ProgressLines::new(std::io::stderr(), progress::LINE_INTERVAL);
    lines.set_equilibria(mapper.equilibria_found());
    let shown = AtomicBool::new(false);
    let clock = Instant::now();
    let observer = |done: usize, total: usize| {
        if !terminal {
            lines.tick(done, total);
            return;
        }
        if !shown.load(Ordering::Relaxed) && clock.elapsed() > Duration::from_secs(1) {
            shown.store(true, Ordering::Relaxed);
            bar.set_draw_target(ProgressDrawTarget::stderr());
        }
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    };
    let mut last = MapProgress {
        starts_mapped: mapper.starts_mapped(),
        round_starts: 0,
        equilibria: mapper.equilibria_found(),
    };
    let mut on_record = |r: &StartRecord| {
        keep_sample(r);
        file.borrow_mut()
            .as_mut()
            .map_or(ControlFlow::Continue(()), |f| f.record(r))
    };
    let mut on_batch = |p: &MapProgress| {
        last = *p;
        lines.set_equilibria(p.equilibria);
        if !terminal {
            lines.tick(p.starts_mapped, p.round_starts);
        }
        file.borrow_mut()
            .as_mut()
            .map_or(ControlFlow::Continue(()), |f| f.batch_end())
    };
    let run = mapper.run(&mut MapControl {
        max_time,
        keep_records: args.per_start,
        progress: &observer,
        on_record: &mut on_record,
        on_batch: &mut on_batch,
    });
    bar.finish_and_clear();
    if let Some(file) = file.into_inner() {
        file.close()?;
    }
    run.map_err(CliError::failure)?;
    let mut map = mapper.finish().map_err(CliError::input)?;
    if let Some(proof) = &proof {
        map.prove(&problem, proof).map_err(CliError::input)?;
    }
    lines.set_equilibria(map.equilibria.len());
    lines.finish(
        map.starts_mapped,
        last.round_starts.max(map.starts_mapped),
        &map.completeness.stopped,
    );
    if sample_plot {
        map.records = Some(sample);
    }
    output(&map, &to, &problem, names, &args.problem)
}

/// Runs `bflow merge`.
pub fn merge_command(args: &MergeArgs) -> Result<(), CliError> {
    let proof = args.prove.params()?;
    if let Some(path) = &args.plot {
        check_plot_path("--plot", path, &["svg", "png"])?;
    }
    let mut parts = Vec::new();
    let mut sources = Vec::new();
    for path in &args.parts {
        let text =
            bflow::files::read_text(path, bflow::files::SHARD_JSON).map_err(CliError::input)?;
        let part = bflow::map::shard_from_json(&text)
            .map_err(|e| CliError::input(format!("{}: {e}", path.display())))?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| CliError::input(format!("{}: not JSON: {e}", path.display())))?;
        let source = value["problem_source"]
            .as_str()
            .map_or_else(|| part.problem.clone(), str::to_string);
        sources.push(source);
        parts.push(part);
    }
    // The problem as the first shard's `bflow map` loaded it (a built-in name or a file path,
    // relative to where that command ran); the merge checks every shard's fingerprint.
    let source = sources[0].clone();
    let (problem, names) = load_problem_named(&source)?;
    if let Some(proof) = &proof {
        check_proof_memory(proof, problem.objectives.dim())?;
    }
    let to = Outputs {
        json: args.json.as_deref(),
        csv: args.csv.as_deref(),
        connections_csv: args.connections_csv.as_deref(),
        plot: args.plot.as_deref(),
        per_start: false,
    };
    to.check(problem.dim())?;
    let mut map = merge(&problem, &parts).map_err(CliError::input)?;
    if let Some(proof) = &proof {
        map.prove(&problem, proof).map_err(CliError::input)?;
    }
    output(&map, &to, &problem, names, &source)
}
