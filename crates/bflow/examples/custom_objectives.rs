//! Bring your own competing objectives in Rust: write each loss once, generic over the number
//! type, get exact gradients and HVPs by automatic differentiation, then find, classify and
//! certify every equilibrium in a box.
//!
//! `cargo run --release --example custom_objectives`
//!
//! Two objectives on (x, y): a spring pulling toward (1, 0) and a potential that pushes along
//! a ring, L1 = (x − 1)² + y², L2 = −8 cos(x) cos(y). Their equilibria (s = ∇L1 + ∇L2 = 0)
//! include minima and saddles of Σ L; loss-flow alone would find only the minima.

use bflow::map::{MapParams, map_equilibria};
use bflow::objectives::{AdObjectives, AutoDiff};
use bflow::problems::Problem;
use num_dual::DualNum;

struct SpringAndRing;

impl AdObjectives for SpringAndRing {
    fn num_objectives(&self) -> usize {
        2
    }

    fn dim(&self) -> usize {
        2
    }

    fn loss<D: DualNum<Primitive = f64>>(&self, i: usize, theta: &[D]) -> D {
        let (x, y) = (theta[0].clone(), theta[1].clone());
        match i {
            0 => (x - 1.0).powi(2) + y.powi(2),
            _ => -(x.cos() * y.cos()) * 8.0,
        }
    }
}

fn main() -> Result<(), bflow::Error> {
    let problem = Problem {
        name: "spring-and-ring".into(),
        description: "a spring toward (1, 0) against −8 cos x cos y".into(),
        objectives: Box::new(AutoDiff(SpringAndRing)),
        start: vec![0.0, 0.0],
        region: Some(vec![(-4.0, 4.0), (-4.0, 4.0)]),
        equilibria: Vec::new(),
    };
    let map = map_equilibria(
        &problem,
        &MapParams {
            starts: Some(512),
            ..MapParams::default()
        },
    )?;
    println!(
        "{} equilibria in [−4, 4]² from {} starts:",
        map.equilibria.len(),
        map.starts_mapped
    );
    for e in &map.equilibria {
        println!(
            "  ({:+.6}, {:+.6})  {:<8} Morse index {}  ||s|| = {:.1e}  {}",
            e.point[0],
            e.point[1],
            e.classification.kind.name(),
            e.classification.morse_index,
            e.grad_norm,
            match e.certificate.radius {
                Some(r) => format!("certified within {r:.0e}"),
                // This problem supplies no interval enclosures (AdObjectives::enclose_*):
                // found, but not proved.
                None => "not certified (no interval enclosures for this problem)".into(),
            }
        );
    }
    println!(
        "spurious end points (B > 0 minima of B): {}, escaped: {}, diverged: {}",
        map.spurious.len(),
        map.escaped(),
        map.diverged()
    );
    Ok(())
}
