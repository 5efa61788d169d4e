//! The README's library example: load a problem file, map every equilibrium in its region,
//! print each with its energy and kind, and which minima each saddle joins; then one B-flow
//! run on a built-in problem.
//!
//! `cargo run --release -p bflow --example quickstart` (from the repository root).

fn main() -> Result<(), bflow::Error> {
    use bflow::flow::{Limits, Method, StepRule, run};
    use bflow::map::{MapParams, map_equilibria};
    use bflow::objectives::load_problem;

    let problem = load_problem("examples/problems/muller-brown.toml".as_ref())?;
    let map = map_equilibria(&problem, &MapParams::default())?;
    for (k, e) in map.equilibria.iter().enumerate() {
        let kind = e.classification.kind.name();
        println!(
            "#{} {kind:<8} at {:?}, Σ L = {:.2}",
            k + 1,
            e.point,
            e.loss_sum
        );
    }
    for c in &map.connections {
        println!("saddle #{} joins minima {:?}", c.saddle + 1, c.minima);
    }
    println!("stopped: {}", map.completeness.stopped);

    let e3 = bflow::problems::builtin::<f64>("e3")?;
    let method = Method::BFlow(StepRule::fixed(0.5));
    let limits = Limits {
        max_steps: 500,
        ..Limits::default()
    };
    let report = run(&e3, &e3.start, &method, &limits)?;
    println!(
        "B-flow on e3: {} after {} steps, B = {:?}",
        report.stop, report.steps, report.b
    );
    Ok(())
}
