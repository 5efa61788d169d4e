//! Reruns the seed's E3 (its table) and prints B-flow and loss-flow side by side.
//!
//! `cargo run --release --example seed_table`

use bflow::flow::{FlowParams, Method, run};
use bflow::problems::builtin;

fn main() -> Result<(), bflow::Error> {
    let problem = builtin::<f64>("e3")?;
    let seed = FlowParams {
        max_steps: 500,
        b_step: 0.5,
        loss_step: 0.01,
        loss_divisor: 3.0,
        record_trace: false,
        ..FlowParams::default()
    };
    for method in [Method::BFlowCentral, Method::BFlow, Method::LossFlow] {
        let r = run(
            &problem,
            &problem.start,
            &FlowParams {
                method,
                ..seed.clone()
            },
        )?;
        println!(
            "{:<30} distance {:.3e}  I = {:.15}  floor {}  ({} steps, {})",
            method.name(),
            r.distance.unwrap_or(f64::NAN),
            r.interaction.unwrap_or(f64::NAN),
            if r.floor_reached {
                "reached"
            } else {
                "not reached"
            },
            r.steps,
            r.stop
        );
    }
    Ok(())
}
