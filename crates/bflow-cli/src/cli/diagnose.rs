//! `bflow diagnose`: how far one state, or each state of a trajectory, is from balance.

use std::path::{Path, PathBuf};

use clap::Args;

use super::{CliError, load_problem, parse_point, write_file, write_stderr};
use crate::report::diagnose::{diagnosis_text, trajectory_csv, trajectory_json, trajectory_text};
use bflow::diagnose::{
    DiagnoseParams, Diagnosis, diagnose_at_point, diagnose_gradient_trajectory,
    diagnose_gram_trajectory,
};
use bflow::gradients::{Array, Content, Values, read_array};

/// Flags of `bflow diagnose`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["problem", "gradients", "gram"])))]
pub struct DiagnoseArgs {
    /// A built-in problem name or a path to a problem file (with `--at`).
    pub problem: Option<String>,
    /// The point to diagnose, comma-separated (default: the problem's start).
    #[arg(
        long,
        value_name = "x,y,…",
        allow_hyphen_values = true,
        requires = "problem",
        conflicts_with_all = ["gradients", "gram"]
    )]
    pub at: Option<String>,
    /// Per-task gradients: CSV (one gradient per row, comma- or whitespace-separated; a
    /// first row with no number is a header) or .npy (K×n, or T×K×n for a trajectory).
    /// Several files are successive steps of a trajectory.
    #[arg(long, value_name = "FILE", num_args = 1.., conflicts_with = "problem")]
    pub gradients: Vec<PathBuf>,
    /// Gram matrices G = [g_i·g_j] instead of gradients: CSV (K×K) or .npy (K×K or T×K×K).
    #[arg(long, value_name = "FILE", num_args = 1.., conflicts_with_all = ["problem", "gradients"])]
    pub gram: Vec<PathBuf>,
    /// Diagnose Σ w_i g_i: each g_i is scaled by its weight (the Gram matrix becomes W G W).
    #[arg(long, value_name = "w1,…,wK", allow_hyphen_values = true)]
    pub weights: Option<String>,
    /// Keep the full K×K cosine matrix in --json and --csv when K > 16 (refused above
    /// 512 MiB, K > 4729).
    #[arg(long)]
    pub full_cosines: bool,
    /// Write the diagnosis as JSON (a trajectory: one object per step under "steps").
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// Write one CSV row per step (step, B, I, |I + ½|, each norm, each pair's cosine);
    /// `-` writes it to stdout instead of the text report.
    #[arg(long, value_name = "PATH")]
    pub csv: Option<PathBuf>,
    /// Plot B, |I + ½| and the pairs' cosines over the steps (.svg or .png).
    #[arg(long, value_name = "PATH")]
    pub plot: Option<PathBuf>,
}

fn parse_weights(text: &str) -> Result<Vec<f64>, CliError> {
    text.split(',')
        .enumerate()
        .map(|(j, field)| {
            let field = field.trim();
            match field.parse::<f64>() {
                Ok(w) if w.is_finite() => Ok(w),
                Ok(_) => Err(CliError::input(format!(
                    "--weights: weight {} is not finite",
                    j + 1
                ))),
                Err(_) => Err(CliError::input(format!(
                    "--weights: weight {} `{field}` is not a number",
                    j + 1
                ))),
            }
        })
        .collect()
}

/// Library errors of a diagnosis, named by the flag or file they come from.
fn diagnosis_error(origin: &str, e: bflow::Error) -> CliError {
    match e {
        bflow::Error::InvalidParameter { name, reason } if name == "weights" => {
            CliError::input(format!("--weights: {reason}"))
        }
        bflow::Error::TooLarge { .. } => CliError::input(format!("--full-cosines: {e}")),
        other => CliError::input(format!("{origin}: {other}")),
    }
}

fn diagnose_array(
    array: &Array,
    content: Content,
    params: &DiagnoseParams,
) -> bflow::Result<Vec<Diagnosis>> {
    fn run<T: bflow::diagnose::Element>(
        array: &Array,
        data: &[T],
        content: Content,
        params: &DiagnoseParams,
    ) -> bflow::Result<Vec<Diagnosis>> {
        let view = array.view(data)?;
        let result = match content {
            Content::Gradients => diagnose_gradient_trajectory(&view, params),
            Content::Gram => diagnose_gram_trajectory(&view, params),
        };
        // One step: no step number in errors.
        match result {
            Err(bflow::Error::AtStep { source, .. }) if view.steps() == 1 => Err(*source),
            other => other,
        }
    }
    match &array.values {
        Values::F32(v) => run(array, v, content, params),
        Values::F64(v) => run(array, v, content, params),
    }
}

fn diagnose_files(
    paths: &[PathBuf],
    content: Content,
    params: &DiagnoseParams,
) -> Result<Vec<Diagnosis>, CliError> {
    let mut steps: Vec<Diagnosis> = Vec::new();
    for path in paths {
        let origin = path.display().to_string();
        let array = read_array(path, content).map_err(CliError::input)?;
        if let Some(h) = &array.header {
            write_stderr(format_args!(
                "bflow: note: {origin}:{}: skipped the header row `{}`\n",
                h.line, h.text
            ));
        }
        let part =
            diagnose_array(&array, content, params).map_err(|e| diagnosis_error(&origin, e))?;
        // Steps of a trajectory must have the same K (and n).
        if let (Some(first), Some(next)) = (steps.first(), part.first())
            && (first.k, first.n) != (next.k, next.n)
        {
            return Err(CliError::input(format!(
                "{origin}: K = {}{} here, K = {}{} in the steps before: one trajectory has one shape",
                next.k,
                next.n.map_or(String::new(), |n| format!(", n = {n}")),
                first.k,
                first.n.map_or(String::new(), |n| format!(", n = {n}")),
            )));
        }
        if let Some(d) = part.first() {
            for w in &d.warnings {
                write_stderr(format_args!("bflow: warning: {origin}: {w}\n"));
            }
        }
        steps.extend(part);
    }
    Ok(steps)
}

/// Computes and prints the diagnosis.
pub fn diagnose_command(args: &DiagnoseArgs) -> Result<(), CliError> {
    if let Some(path) = &args.plot {
        super::check_plot_path("--plot", path, &["svg", "png"])?;
        super::check_writable("--plot", path)?;
    }
    if let Some(path) = &args.json {
        super::check_writable("--json", path)?;
    }
    if let Some(path) = args.csv.as_deref().filter(|p| *p != Path::new("-")) {
        super::check_writable("--csv", path)?;
    }
    let params = DiagnoseParams {
        weights: args.weights.as_deref().map(parse_weights).transpose()?,
        full_cosines: args.full_cosines,
        ..DiagnoseParams::default()
    };
    let files: &[PathBuf] = if args.gram.is_empty() {
        &args.gradients
    } else {
        &args.gram
    };
    let steps = if !args.gram.is_empty() {
        diagnose_files(&args.gram, Content::Gram, &params)?
    } else if !args.gradients.is_empty() {
        diagnose_files(&args.gradients, Content::Gradients, &params)?
    } else {
        let name = args.problem.as_deref().unwrap_or_default();
        let problem = load_problem(name)?;
        let theta = match &args.at {
            Some(text) => parse_point("--at", text, problem.dim())?,
            None => problem.start.clone(),
        };
        let d = diagnose_at_point(problem.objectives.as_ref(), &theta, &params).map_err(
            |e| match (&args.at, e) {
                (_, e @ bflow::Error::InvalidParameter { .. })
                | (_, e @ bflow::Error::TooLarge { .. }) => diagnosis_error(name, e),
                (Some(_), e) => CliError::input(format!("--at: {e}")),
                (None, e) => CliError::input(format!(
                    "the problem's default start {theta:?}: {e}; give --at"
                )),
            },
        )?;
        for w in &d.warnings {
            write_stderr(format_args!("bflow: warning: {name}: {w}\n"));
        }
        vec![d]
    };
    let csv_to_stdout = args.csv.as_deref() == Some(Path::new("-"));
    if csv_to_stdout {
        out!("{}", trajectory_csv(&steps));
    } else if let [one] = steps.as_slice() {
        out!("{}", diagnosis_text(one));
    } else {
        out!("{}", trajectory_text(&steps));
    }
    if let Some(path) = &args.json {
        let value = match steps.as_slice() {
            [one] => serde_json::to_value(one).map_err(CliError::failure)?,
            many => {
                let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
                trajectory_json(many, &names)
            }
        };
        let text = serde_json::to_string_pretty(&value).map_err(CliError::failure)?;
        write_file(path, &text)?;
    }
    if let Some(path) = args.csv.as_deref().filter(|_| !csv_to_stdout) {
        write_file(path, &trajectory_csv(&steps))?;
    }
    if let Some(path) = &args.plot {
        crate::report::plot::diagnose_plot(&steps, path).map_err(CliError::failure)?;
    }
    Ok(())
}
