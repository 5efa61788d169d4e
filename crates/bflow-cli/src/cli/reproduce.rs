//! `bflow reproduce`.

use std::path::Path;

use super::{CliError, check_writable, write_file};

/// Reruns E1–E4, prints the table and optionally writes JSON.
pub fn run(json: Option<&Path>) -> Result<(), CliError> {
    if let Some(path) = json {
        check_writable("--json", path)?;
    }
    let started = std::time::Instant::now();
    let rep = crate::experiment::reproduce()?;
    out!("{}", crate::report::reproduce_text(&rep));
    outln!("(measured in {:.2} s)", started.elapsed().as_secs_f64());
    if let Some(path) = json {
        let text = serde_json::to_string_pretty(&crate::report::reproduce_json(&rep))
            .map_err(CliError::failure)?;
        write_file(path, &text)?;
    }
    Ok(())
}
