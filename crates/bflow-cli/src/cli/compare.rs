//! `bflow compare [PROBLEM | --suite]`: every flow × step rule under equal work budgets,
//! verdicts on the seed's claims, and optionally scipy peers on the same problems.

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::{Args, ValueEnum};

use super::{CliError, write_file};
use crate::experiment::compare::{
    CompareParams, ProblemSpec, SuiteProblem, SuiteSize, compare, configs, parse_peers,
    peer_ratios, peers_input, suite, user_problem,
};
use crate::report::{PlotMetric, compare_json, compare_markdown, compare_svg, compare_text};

/// What `--plot` draws on the y axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MetricArg {
    /// ||s||.
    SumNorm,
    /// Distance to the known equilibrium.
    Distance,
}

/// Flags of `bflow compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// One problem of the suite (`e1`…`e4`, `quad-k4-n10-c1e2`, `saddle`, `rosenbrock`).
    #[arg(required_unless_present = "suite", conflicts_with = "suite")]
    pub problem: Option<String>,
    /// Run the whole suite (E1–E4, 24 random quadratics, saddle, Rosenbrock).
    #[arg(long)]
    pub suite: bool,
    /// With --suite: the reduced suite (8 problems), for a quick look.
    #[arg(long, requires = "suite")]
    pub reduced: bool,
    /// Work budget per run, in gradient-equivalents (1 HVP = 2 gradients).
    #[arg(long, default_value_t = 20_000)]
    pub budget: u64,
    /// Iterates at the floor before a run stops.
    #[arg(long, default_value_t = 3)]
    pub floor_steps: usize,
    /// Write every run and verdict as JSON.
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// Write the README section (Markdown) generated from the measurements.
    #[arg(long, value_name = "PATH")]
    pub markdown: Option<PathBuf>,
    /// Write an SVG plot of precision against work, one line per configuration.
    #[arg(long, value_name = "PATH")]
    pub plot: Option<PathBuf>,
    /// The problem --plot draws (default: PROBLEM, or e3 with --suite).
    #[arg(long, value_name = "NAME")]
    pub plot_problem: Option<String>,
    /// What --plot draws on the y axis.
    #[arg(long, value_enum, default_value = "sum-norm")]
    pub plot_metric: MetricArg,
    /// Also run scipy peers (needs python3 with scipy) and print work and time ratios.
    #[arg(long)]
    pub peers: bool,
    /// The peers script.
    #[arg(long, value_name = "PATH", default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/peers/peers.py"))]
    pub peers_script: PathBuf,
}

fn select(args: &CompareArgs) -> Result<Vec<SuiteProblem>, CliError> {
    let size = if args.reduced {
        SuiteSize::Reduced
    } else {
        SuiteSize::Full
    };
    let all = suite(size)?;
    match &args.problem {
        None => Ok(all),
        Some(name) => {
            let chosen: Vec<SuiteProblem> = all
                .into_iter()
                .filter(|p| p.problem.name.eq_ignore_ascii_case(name))
                .collect();
            if !chosen.is_empty() {
                return Ok(chosen);
            }
            // Not a suite problem: any built-in name or problem file, compared as a user problem.
            let problem = super::load_problem(name).map_err(|e| {
                CliError::input(format!(
                    "PROBLEM: {} (suite problems: `bflow compare --suite`)",
                    e.message
                ))
            })?;
            Ok(vec![user_problem(problem)])
        }
    }
}

/// Runs the comparison and writes the outputs asked for.
pub fn run_command(args: &CompareArgs) -> Result<(), CliError> {
    if let Some(path) = &args.plot {
        super::check_plot_path("--plot", path, &["svg"])?;
        super::check_writable("--plot", path)?;
    }
    if let Some(path) = &args.json {
        super::check_writable("--json", path)?;
    }
    if let Some(path) = &args.markdown {
        super::check_writable("--markdown", path)?;
    }
    let problems = select(args)?;
    // The problem --plot draws, checked before the runs: by default PROBLEM's own name
    // (a file's `name`, not its path), or e3 with --suite.
    let plot_problem = args
        .plot_problem
        .clone()
        .unwrap_or_else(|| match &args.problem {
            Some(_) => problems[0].problem.name.clone(),
            None => "e3".into(),
        });
    if args.plot.is_some() && !problems.iter().any(|p| p.problem.name == plot_problem) {
        return Err(CliError::input(format!(
            "--plot-problem: `{plot_problem}` is not among the problems compared"
        )));
    }
    let params = CompareParams {
        budget: args.budget,
        floor_steps: args.floor_steps,
        trace: args.plot.is_some(),
    };
    params.validate().map_err(|e| match e {
        bflow::Error::InvalidParameter { name, reason } => {
            CliError::input(format!("--{}: {reason}", name.replace('_', "-")))
        }
        other => CliError::input(other),
    })?;
    let rep = compare(&problems, &configs(), &params)?;
    out!("{}", compare_text(&rep));
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&compare_json(&rep)).map_err(CliError::failure)?;
        write_file(path, &text)?;
    }
    if let Some(path) = &args.markdown {
        write_file(path, &compare_markdown(&rep))?;
    }
    if let Some(path) = &args.plot {
        let name = plot_problem;
        let metric = match args.plot_metric {
            MetricArg::SumNorm => PlotMetric::SumNorm,
            MetricArg::Distance => PlotMetric::Distance,
        };
        let svg = compare_svg(&rep, &name, metric)
            .map_err(|e| CliError::input(format!("--plot-problem: {e}")))?;
        write_file(path, &svg)?;
    }
    if args.peers && problems.iter().all(|p| p.spec == ProblemSpec::Opaque) {
        outln!(
            "\npeers: skipped, none of these problems has formulas the scipy script can evaluate \
             (problem files and built-ins outside the suite are bflow-only)"
        );
    } else if args.peers {
        let ratios = run_peers(&args.peers_script, &problems, &rep)?;
        out!("\n{}", crate::report::peers_text(&ratios));
    }
    Ok(())
}

/// Writes the problem definitions to a temp file, runs `python3 SCRIPT IN OUT`, reads OUT.
fn run_peers(
    script: &Path,
    problems: &[SuiteProblem],
    rep: &crate::experiment::compare::CompareReport,
) -> Result<Vec<crate::experiment::compare::PeerRatio>, CliError> {
    let dir = std::env::temp_dir();
    let pid = std::process::id();
    let input = dir.join(format!("bflow-peers-{pid}-in.json"));
    let output = dir.join(format!("bflow-peers-{pid}-out.json"));
    let text = serde_json::to_string(&peers_input(problems)).map_err(CliError::failure)?;
    write_file(&input, &text)?;
    let status = Command::new("python3")
        .arg(script)
        .arg(&input)
        .arg(&output)
        .status();
    let _ = std::fs::remove_file(&input);
    match status {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CliError::failure(
                "--peers needs python3 with scipy (python3 -m pip install scipy); python3 not found",
            ));
        }
        Err(e) => {
            return Err(CliError::failure(format!(
                "--peers: cannot run python3: {e}"
            )));
        }
        Ok(s) if s.code() == Some(3) => {
            return Err(CliError::failure(
                "--peers needs scipy: python3 -m pip install scipy",
            ));
        }
        Ok(s) if !s.success() => {
            return Err(CliError::failure(format!(
                "--peers: {} exited with {s}",
                script.display()
            )));
        }
        Ok(_) => {}
    }
    // The script's output, read through the same checks as any input file.
    const PEERS_OUTPUT: bflow::files::FileKind = bflow::files::FileKind {
        name: "peer results file",
        max_bytes: 64 << 20,
    };
    let out = bflow::files::read_text(&output, PEERS_OUTPUT).map_err(CliError::failure)?;
    let _ = std::fs::remove_file(&output);
    let peers = parse_peers(&out).map_err(CliError::failure)?;
    Ok(peer_ratios(&rep.runs, &peers))
}
