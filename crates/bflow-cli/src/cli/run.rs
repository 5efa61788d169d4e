//! `bflow run PROBLEM`: one flow from one start, with its report, trace and plot.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::{CliError, load_problem, parse_point, write_file};
use bflow::flow::{FlowParams, Method, Progress, StepRule, run_observed};
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
    /// Levenberg–Marquardt balance step on s(θ) = 0.
    Newton,
}

impl From<RuleArg> for StepRule<f64> {
    fn from(r: RuleArg) -> Self {
        match r {
            RuleArg::Fixed => StepRule::Fixed,
            RuleArg::Armijo => StepRule::armijo(),
            RuleArg::Lbfgs => StepRule::lbfgs(),
            RuleArg::Newton => StepRule::newton(),
        }
    }
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

impl From<MethodArg> for Method {
    fn from(m: MethodArg) -> Self {
        match m {
            MethodArg::Loss => Method::LossFlow,
            MethodArg::Bflow => Method::BFlow,
            MethodArg::BflowCentral => Method::BFlowCentral,
            MethodArg::TwoPhase => Method::TwoPhase,
        }
    }
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
    /// Write the trace (step, θ, B, ||s||, Σ L) as CSV.
    #[arg(long, value_name = "PATH")]
    pub csv: Option<PathBuf>,
    /// Stop after this many seconds of wall-clock time (the report is printed as usual).
    #[arg(long, value_name = "SECONDS")]
    pub max_time: Option<f64>,
    /// Run matrix-free for large n: exact B-flow with --rule fixed, Newton–CG with --rule
    /// newton; buffers allocated once, objectives in parallel (no trace, CSV or plot).
    #[arg(long, conflicts_with_all = ["csv", "plot"])]
    pub matrix_free: bool,
    /// Plot ||s|| and B against the step (log scale) to PATH.svg or PATH.png.
    #[arg(long, value_name = "PATH.svg|.png")]
    pub plot: Option<PathBuf>,
}

/// Turns the flags into flow parameters (one place, so every message names its flag).
fn flow_params(args: &RunArgs) -> Result<FlowParams<f64>, CliError> {
    let defaults = FlowParams::<f64>::default();
    let params = FlowParams {
        method: args.method.into(),
        b_step: args.step_size.unwrap_or(defaults.b_step),
        loss_step: args.step_size.unwrap_or(defaults.loss_step),
        eps_switch: args.eps_switch,
        step_rule: args.rule.into(),
        max_steps: args.steps,
        floor_steps: (args.floor_steps > 0).then_some(args.floor_steps),
        stagnation_steps: (args.stagnation > 0).then_some(args.stagnation),
        record_trace: args.csv.is_some() || args.plot.is_some(),
        max_time: match args.max_time {
            None => None,
            Some(t) => Some(std::time::Duration::try_from_secs_f64(t).map_err(|_| {
                CliError::input(format!(
                    "--max-time: must be a number of seconds ≥ 0 that fits a duration, got {t}"
                ))
            })?),
        },
        ..defaults
    };
    params.validate().map_err(|e| {
        CliError::input(match e {
            bflow::Error::InvalidParameter { name, reason } => {
                let flag = match name.as_str() {
                    "b_step" | "loss_step" => "--step-size",
                    "eps_switch" => "--eps-switch",
                    other => other,
                };
                format!("{flag}: {reason}")
            }
            other => other.to_string(),
        })
    })?;
    Ok(params)
}

/// Runs the flow and writes the outputs asked for.
pub fn run_command(args: &RunArgs) -> Result<(), CliError> {
    let problem = load_problem(&args.problem)?;
    let start = match &args.start {
        Some(text) => parse_point("--start", text, problem.dim())?,
        None => problem.start.clone(),
    };
    let params = flow_params(args)?;
    if args.matrix_free {
        return run_matrix_free_command(args, &problem, start, &params);
    }
    if let Some(path) = &args.plot {
        super::check_plot_path("--plot", path, &["svg", "png"])?;
    }
    // A progress bar on stderr, shown only once a run has taken more than a second.
    let bar =
        ProgressBar::with_draw_target(Some(params.max_steps as u64), ProgressDrawTarget::hidden());
    bar.set_style(
        ProgressStyle::with_template("{bar:40} step {pos}/{len}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut shown = false;
    let mut observer = |p: &Progress<f64>| {
        if !shown && p.elapsed.as_secs_f64() > 1.0 {
            shown = true;
            bar.set_draw_target(ProgressDrawTarget::stderr());
        }
        if shown {
            bar.set_position(p.step as u64);
            bar.set_message(format!("||s|| = {:.3e}", p.sum_norm));
        }
    };
    let report =
        run_observed(&problem, &start, &params, &mut observer).map_err(|e| match &args.start {
            Some(_) => CliError::input(format!("--start: {e}")),
            None => CliError::input(format!(
                "the problem's default start {start:?}: {e}; give --start"
            )),
        })?;
    bar.finish_and_clear();
    outln!(
        "problem       {} (K = {}, n = {})",
        problem.name,
        problem.num_objectives(),
        problem.dim()
    );
    out!("{}", crate::report::run_text(&report));
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&crate::report::run_json(&report))
            .map_err(CliError::failure)?;
        write_file(path, &text)?;
    }
    if let Some(path) = &args.csv {
        write_file(path, &crate::report::trace_csv(&report))?;
    }
    if let Some(path) = &args.plot {
        crate::report::plot::run_plot(&report, path)
            .map_err(|e| CliError::failure(format!("{}: {e}", path.display())))?;
    }
    Ok(())
}

/// `bflow run --matrix-free`: the allocation-free flows of `flow::matrix_free`.
fn run_matrix_free_command(
    args: &RunArgs,
    problem: &bflow::problems::Problem<f64>,
    mut theta: Vec<f64>,
    params: &FlowParams<f64>,
) -> Result<(), CliError> {
    use bflow::flow::cg::CgParams;
    use bflow::flow::matrix_free::{MatrixFreeMethod, MatrixFreeParams, run_matrix_free};
    if args.method != MethodArg::Bflow {
        return Err(CliError::input(
            "--matrix-free: runs B-flow only (--method bflow); use --rule fixed or newton",
        ));
    }
    let method = match args.rule {
        RuleArg::Fixed => MatrixFreeMethod::BFlow {
            step: params.b_step,
        },
        RuleArg::Newton => MatrixFreeMethod::NewtonCg {
            cg: CgParams::default(),
        },
        _ => {
            return Err(CliError::input(
                "--matrix-free: --rule must be fixed (B-flow) or newton (Newton–CG)",
            ));
        }
    };
    let mf = MatrixFreeParams {
        method,
        max_steps: params.max_steps,
        max_time: params.max_time,
        floor_steps: params.floor_steps.unwrap_or(1),
    };
    let r = run_matrix_free(problem.objectives.as_ref(), &mut theta, &mf).map_err(|e| {
        CliError::input(match e {
            bflow::Error::NonFiniteStart { .. } if args.start.is_none() => {
                format!("the problem's default start: {e}; give --start")
            }
            other => format!("--start: {other}"),
        })
    })?;
    let rule = if args.rule == RuleArg::Newton {
        "Newton–CG"
    } else {
        "fixed step"
    };
    outln!(
        "problem       {} (K = {}, n = {})",
        problem.name,
        problem.num_objectives(),
        problem.dim()
    );
    let distance = problem.distance_to_equilibrium(&theta);
    out!("{}", crate::report::matrix_free_text(&r, rule, distance));
    if let Some(path) = &args.json {
        let v = crate::report::matrix_free_json(&r, rule, distance, &theta);
        let text = serde_json::to_string_pretty(&v).map_err(CliError::failure)?;
        write_file(path, &text)?;
    }
    Ok(())
}
