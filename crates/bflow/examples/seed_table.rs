//! Reruns the seed's E3 (its table) and prints B-flow and loss-flow side by side.
//!
//! `cargo run --release --example seed_table`

use bflow::flow::{Limits, Method, StepRule, run};
use bflow::problems::builtin;

fn main() -> Result<(), bflow::Error> {
    let problem = builtin::<f64>("e3")?;
    // The seed's settings: 500 steps, η_B = 0.5, η_L = 0.01 divided by c = 3.
    let limits = Limits {
        max_steps: 500,
        ..Limits::default()
    };
    let b_step = StepRule::fixed(0.5);
    for method in [
        Method::BFlowCentral {
            rule: b_step,
            h: 1e-4,
        },
        Method::BFlow(b_step),
        Method::LossFlow(StepRule::fixed(0.01 / 3.0)),
    ] {
        let r = run(&problem, &problem.start, &method, &limits)?;
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
