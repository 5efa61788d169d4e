//! `bflow precision`: one problem in f32, f64 and double-double.

use std::path::PathBuf;

use clap::Args;

use super::{CliError, write_file};

/// Flags of `bflow precision`.
#[derive(Debug, Args)]
pub struct PrecisionArgs {
    /// Write the rows as JSON.
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
}

/// Runs and prints the table.
pub fn precision_command(args: &PrecisionArgs) -> Result<(), CliError> {
    if let Some(path) = &args.json {
        super::check_writable("--json", path)?;
    }
    let rows = crate::experiment::precision::precision_table()?;
    outln!(
        "B-flow (exact ∇B, η = 0.1) on three quadratics with equilibrium (4/3, 1), in each float type"
    );
    outln!(
        "{:<14} {:>10} {:>11} {:>8} {:>11} {:>11} {:>10} {:>7} {:>6}",
        "type",
        "ε",
        "√B",
        "√B/ε",
        "|I+1/2|",
        "distance",
        "dist/ε",
        "floor",
        "steps"
    );
    for r in &rows {
        let dist_eps = if r.float == "double-double" && r.distance_over_epsilon < 1.0 {
            "≤ 1 (res.)".to_string()
        } else {
            format!("{:.3}", r.distance_over_epsilon)
        };
        outln!(
            "{:<14} {:>10.3e} {:>11.3e} {:>8.3} {:>11.3e} {:>11.3e} {:>10} {:>7} {:>6}",
            r.float,
            r.epsilon,
            r.sqrt_b,
            r.sqrt_b / r.epsilon,
            r.abs_i_plus_half,
            r.distance,
            dist_eps,
            if r.floor_reached { "yes" } else { "no" },
            r.steps
        );
    }
    outln!(
        "distance is to the true (4/3, 1), measured in double-double; double-double's own \
         distance can only be resolved to about its ε"
    );
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&serde_json::json!({ "rows": rows }))
            .map_err(CliError::failure)?;
        write_file(path, &text)?;
    }
    Ok(())
}
