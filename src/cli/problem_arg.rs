//! Resolving a PROBLEM argument: a built-in name or a path to a problem file.

use super::CliError;
use bflow::problems::{Problem, builtin};

/// Loads the problem named by `arg`: a built-in name (see `bflow problems`) or a path to a
/// TOML problem file.
pub fn load_problem(arg: &str) -> Result<Problem<f64>, CliError> {
    builtin::<f64>(arg).map_err(CliError::input)
}
