//! Resolving a PROBLEM argument: a built-in name or a path to a problem file.

use std::path::Path;

use super::CliError;
use bflow::objectives::ProblemFile;
use bflow::problems::{Problem, builtin};

/// The parsed problem file (expression trees kept) when `arg` names a file by the rule of
/// [`load_problem`]; `None` when `arg` is to be taken as a built-in name.
pub fn load_problem_file_arg(arg: &str) -> Result<Option<ProblemFile>, CliError> {
    let path = Path::new(arg);
    let existing = std::fs::metadata(path).ok();
    if arg.ends_with(".toml") || existing.as_ref().is_some_and(|m| !m.is_dir()) {
        let file =
            bflow::objectives::problem_file::load_problem_file(path).map_err(CliError::input)?;
        return Ok(Some(file));
    }
    Ok(None)
}

/// Loads the problem named by `arg`: a path to a TOML problem file (anything ending in
/// `.toml`, or naming something that exists and is not a directory — a FIFO or a device is
/// then refused as not a regular file, never taken for a built-in name), else a built-in
/// name (see `bflow problems`).
pub fn load_problem(arg: &str) -> Result<Problem<f64>, CliError> {
    load_problem_named(arg).map(|(problem, _)| problem)
}

/// As [`load_problem`], with the parameters' names: a problem file's `vars`, or for a
/// built-in problem [`crate::report::default_names`] (`x`, `y`, …).
pub fn load_problem_named(arg: &str) -> Result<(Problem<f64>, Vec<String>), CliError> {
    if let Some(file) = load_problem_file_arg(arg)? {
        let names = file.objectives.vars.clone();
        return Ok((file.into_problem(), names));
    }
    let existing = std::fs::metadata(Path::new(arg)).ok();
    let problem = builtin::<f64>(arg).map_err(|e| match e {
        bflow::Error::UnknownProblem { name } => CliError::input(format!(
            "unknown problem `{name}`: not a built-in name (see `bflow problems`) and {}",
            if existing.is_some() {
                "a directory, not a problem file"
            } else {
                "no such file"
            }
        )),
        other => CliError::input(other),
    })?;
    let names = crate::report::default_names(problem.dim());
    Ok((problem, names))
}
