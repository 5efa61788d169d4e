//! `bflow diagnose`: how far one state is from balance.

use std::path::PathBuf;

use clap::Args;

use super::{CliError, load_problem, parse_point, write_file};
use crate::report::Diagnosis;

/// Flags of `bflow diagnose`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["problem", "gradients"])))]
pub struct DiagnoseArgs {
    /// A built-in problem name or a path to a problem file (with `--at`).
    pub problem: Option<String>,
    /// The point to diagnose, comma-separated (default: the problem's start).
    #[arg(
        long,
        value_name = "x,y,…",
        allow_hyphen_values = true,
        requires = "problem"
    )]
    pub at: Option<String>,
    /// A CSV file of K gradient vectors, one per row (a non-numeric header row is skipped).
    #[arg(long, value_name = "FILE.csv", conflicts_with = "problem")]
    pub gradients: Option<PathBuf>,
    /// Write the diagnosis as JSON.
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
}

/// Computes and prints the diagnosis.
pub fn diagnose_command(args: &DiagnoseArgs) -> Result<(), CliError> {
    let diagnosis = if let Some(path) = &args.gradients {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| CliError::input(format!("{origin}: cannot read: {e}")))?;
        let gradients = bflow::balance::parse_gradients_csv(&text, &origin)?;
        Diagnosis::from_gradients(&gradients, None)?
    } else {
        let name = args.problem.as_deref().unwrap_or_default();
        let problem = load_problem(name)?;
        let theta = match &args.at {
            Some(text) => parse_point("--at", text, problem.dim())?,
            None => problem.start.clone(),
        };
        Diagnosis::at_point(problem.objectives.as_ref(), &theta).map_err(|e| match &args.at {
            Some(_) => CliError::input(format!("--at: {e}")),
            None => CliError::input(format!(
                "the problem's default start {theta:?}: {e}; give --at"
            )),
        })?
    };
    print!("{}", diagnosis.text());
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&diagnosis.json()).map_err(CliError::failure)?;
        write_file(path, &text)?;
    }
    Ok(())
}
