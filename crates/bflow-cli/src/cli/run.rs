//! `bflow run PROBLEM`: one flow from one start, with its report, trace and plot.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use std::ops::ControlFlow;

use super::{CliError, load_problem, parse_point, write_file};
use bflow::flow::{
    Limits, LinearSolver, Method, NewtonParams, Observation, Observer, Observers, Series, StepRule,
    TraceCsv, run_observed,
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The step rules `--rule` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RuleArg {
    /// The fixed step size (--step-size), the seed's rule.
    Fixed,
    /// Armijo backtracking on the flow's objective.
    Armijo,
    /// L-BFGS (memory 7) with Armijo backtracking.
    Lbfgs,
    /// The trust-region Newton method on s(θ) = 0 (whatever --method says).
    Newton,
}

/// The flows `--method` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MethodArg {
    /// Descent on Σ L_i.
    Loss,
    /// Descent on B with the exact ∇B.
    Bflow,
    /// Descent on B with ∇B by central differences of B (the seed's).
    BflowCentral,
    /// Loss-flow until |I + ½| < ε_switch, then B-flow.
    TwoPhase,
}

/// Flags of `bflow run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// A built-in problem name (`bflow problems`) or a path to a problem file.
    pub problem: String,
    /// The flow.
    #[arg(long, value_enum, default_value = "bflow")]
    pub method: MethodArg,
    /// Start point, comma-separated (default: the problem's start).
    #[arg(long, value_name = "x,y,…", allow_hyphen_values = true)]
    pub start: Option<String>,
    /// How each step is sized.
    #[arg(long, value_enum, default_value = "fixed")]
    pub rule: RuleArg,
    /// Step budget.
    #[arg(long, default_value_t = 1000)]
    pub steps: usize,
    /// Stop once ||s|| has stayed at the floating-point floor for this many iterates (0 = never;
    /// with --matrix-free, 0 means the first iterate at the floor).
    #[arg(long, default_value_t = 0)]
    pub floor_steps: usize,
    /// Step size η (B-flow and loss-flow; default 0.5 for B-flow, 0.01 for loss-flow).
    #[arg(long, value_name = "η", allow_negative_numbers = true)]
    pub step_size: Option<f64>,
    /// Two-phase switches to B-flow once |I + ½| < ε.
    #[arg(
        long,
        value_name = "ε",
        default_value_t = 1e-3,
        allow_negative_numbers = true
    )]
    pub eps_switch: f64,
    /// Stop when ||s|| has not improved for this many steps (0 = never).
    #[arg(long, default_value_t = 50)]
    pub stagnation: usize,
    /// Write the report as JSON.
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// Write the trace (step, θ, B, ||s||, Σ L, gradient_equivalents), streamed row by row as CSV.
    #[arg(long, value_name = "PATH")]
    pub csv: Option<PathBuf>,
    /// Stop after this many seconds of wall-clock time (the report is printed as usual).
    #[arg(long, value_name = "SECONDS")]
    pub max_time: Option<f64>,
    /// With --rule newton: solve each Newton step matrix-free (truncated MINRES over
    /// Hessian-vector products) whatever n is; by default that happens above n = 200. The
    /// descent rules never form a matrix.
    #[arg(long)]
    pub matrix_free: bool,
    /// Plot ||s|| and B against the step (log scale) to PATH.svg or PATH.png.
    #[arg(long, value_name = "PATH.svg|.png")]
    pub plot: Option<PathBuf>,
}

/// Turns the flags into a method and limits (one place, so every message names its flag).
fn method_and_limits(args: &RunArgs) -> Result<(Method<f64>, Limits<f64>), CliError> {
    if args.matrix_free && args.rule != RuleArg::Newton {
        return Err(CliError::input(
            "--matrix-free: applies to --rule newton (the descent rules never form a matrix)",
        ));
    }
    if !(args.eps_switch.is_finite() && args.eps_switch > 0.0) {
        return Err(CliError::input(format!(
            "--eps-switch: must be finite and > 0, got {}",
            super::short_number(args.eps_switch)
        )));
    }
    let rule = |default_step: f64| match args.rule {
        RuleArg::Fixed => StepRule::fixed(args.step_size.unwrap_or(default_step)),
        RuleArg::Armijo => StepRule::armijo(),
        RuleArg::Lbfgs => StepRule::lbfgs(),
        RuleArg::Newton => StepRule::armijo(),
    };
    let method = if args.rule == RuleArg::Newton {
        Method::Newton(NewtonParams {
            linear_solver: if args.matrix_free {
                LinearSolver::MatrixFree
            } else {
                LinearSolver::Auto
            },
            ..NewtonParams::default()
        })
    } else {
        match args.method {
            MethodArg::Loss => Method::LossFlow(rule(0.01)),
            MethodArg::Bflow => Method::BFlow(rule(0.5)),
            MethodArg::BflowCentral => Method::BFlowCentral {
                rule: rule(0.5),
                h: 1e-4,
            },
            MethodArg::TwoPhase => Method::TwoPhase {
                loss: rule(0.01),
                balance: rule(0.5),
                eps_switch: args.eps_switch,
            },
        }
    };
    let max_time = match args.max_time {
        None => None,
        Some(t) => Some(std::time::Duration::try_from_secs_f64(t).map_err(|_| {
            CliError::input(format!(
                "--max-time: must be a number of seconds ≥ 0 that fits a duration, got {}",
                super::short_number(t)
            ))
        })?),
    };
    let limits = Limits::for_run(args.steps, args.floor_steps, args.stagnation, max_time);
    let flag_of = |name: &str| match name {
        "step" | "loss.step" | "balance.step" => "--step-size".to_string(),
        "eps_switch" => "--eps-switch".to_string(),
        other => other.to_string(),
    };
    method.validate().map_err(|e| {
        CliError::input(match e {
            bflow::Error::InvalidParameter { name, reason } => {
                format!("{}: {reason}", flag_of(&name))
            }
            other => other.to_string(),
        })
    })?;
    Ok((method, limits))
}

/// Runs the flow and writes the outputs asked for. Every output path is checked (created)
/// before the run, so a run is never lost to a path that cannot be written.
pub fn run_command(args: &RunArgs) -> Result<(), CliError> {
    let problem = load_problem(&args.problem)?;
    let start = match &args.start {
        Some(text) => parse_point("--start", text, problem.dim())?,
        None => problem.start.clone(),
    };
    let (method, limits) = method_and_limits(args)?;
    // Refused before any output file is created; `run` itself would refuse it too.
    if let Err(bflow::Error::InvalidParameter { reason, .. }) =
        method.check_objectives(problem.objectives.num_objectives())
    {
        return Err(CliError::input(format!(
            "--method: {reason}; use --method loss or --rule newton"
        )));
    }
    if let Some(path) = &args.plot {
        super::check_plot_path("--plot", path, &["svg", "png"])?;
        super::check_writable("--plot", path)?;
    }
    let mut trace = match &args.csv {
        Some(path) => Some(TraceCsv::new(std::io::BufWriter::new(
            super::create_output("--csv", path)?,
        ))),
        None => None,
    };
    if let Some(path) = &args.json {
        super::create_output("--json", path)?;
    }
    let mut series = Series::new(4096);
    // A progress bar on stderr, shown only once a run has taken more than a second.
    let bar =
        ProgressBar::with_draw_target(Some(limits.max_steps as u64), ProgressDrawTarget::hidden());
    bar.set_style(
        ProgressStyle::with_template("{bar:40} step {pos}/{len}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut shown = false;
    let mut progress = |at: &Observation<'_, f64>| {
        if !shown && at.elapsed().as_secs_f64() > 1.0 {
            shown = true;
            bar.set_draw_target(ProgressDrawTarget::stderr());
        }
        if shown {
            bar.set_position(at.step as u64);
            bar.set_message(format!("||s|| = {:.3e}", at.stats.sum_norm));
        }
        ControlFlow::Continue(())
    };
    let mut observers: Vec<&mut dyn Observer<f64>> = vec![&mut progress];
    if args.plot.is_some() {
        observers.push(&mut series);
    }
    if let Some(t) = trace.as_mut() {
        observers.push(t);
    }
    let report = run_observed(
        &problem,
        &start,
        &method,
        &limits,
        &mut Observers(observers),
    )
    .map_err(|e| match &args.start {
        Some(_) => CliError::input(format!("--start: {e}")),
        None => CliError::input(format!(
            "the problem's default start {start:?}: {e}; give --start"
        )),
    })?;
    bar.finish_and_clear();
    if let (Some(t), Some(path)) = (trace, &args.csv) {
        t.finish()
            .map_err(|e| CliError::failure(format!("{}: cannot write: {e}", path.display())))?;
    }
    out!(
        "problem       {} (K = {}, n = {})\n{}",
        problem.name,
        problem.num_objectives(),
        problem.dim(),
        crate::report::run_text(&report)
    );
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report).map_err(CliError::failure)?;
        write_file(path, &text)?;
    }
    if let Some(path) = &args.plot {
        let title = format!("{} ({})", report.method_name(), report.rule_name());
        crate::report::plot::run_plot(&series.points(), &title, path)
            .map_err(|e| CliError::failure(format!("{}: {e}", path.display())))?;
    }
    Ok(())
}
