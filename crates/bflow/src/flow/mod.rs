//! Flows and solvers: one driver over loss-flow, B-flow, two-phase and a trust-region Newton
//! method on `s = 0`.
//!
//! * **Loss-flow** descends `Σ L_i` (gradient `s = Σ g_i`).
//! * **B-flow** descends the balance residual B with the exact
//!   `∇B = (2/Q) Σ_i H_i (s − B g_i)` (K gradients and K HVPs per step); the seed's variant
//!   takes ∇B by central differences of B.
//! * **Two-phase** runs loss-flow until `|I + ½| = B/2 < ε_switch`, then B-flow.
//! * **Newton** ([`newton`]) solves `s(θ) = 0` by a trust-region method with the exact
//!   `J = Σ H_i`: dense linear algebra for small n, truncated MINRES over HVPs for large n.
//!
//! Descent methods are sized by a [`StepRule`]: a fixed step (the seed's), Armijo
//! backtracking, or L-BFGS ([`descent`]).
//!
//! **One driver.** Every method is a [`Solver`]: a step function from the current [`State`]
//! to the next. [`solve`] owns the loop: the [`Limits`] (step, work and time budgets, the
//! floor, stagnation, a target B, gradient and step tolerances, a region with an escape test,
//! a step cap), the evaluation counts (every trial point), and the [`Observer`]s, which see
//! every iterate and may stop the run — the trace is an observer that streams rows to a
//! writer ([`TraceCsv`]) instead of holding them. [`run`] is `solve` for a
//! [`Problem`] and a [`Method`].
//!
//! ## The floor
//!
//! The computed `s` carries rounding of a few `ε |g_ij|` per entry, so `‖s‖` cannot be
//! resolved below `ε Σ ‖g_i‖` ([`PointStats::floor`]). A run has *reached the floor* when
//! `‖s‖ ≤ FLOOR_FACTOR · ε Σ ‖g_i‖`; [`RunReport::evaluations_to_floor`] records the work
//! (gradient-equivalents) spent when that first happened, and `floor_steps` ends the run with
//! [`StopReason::FloorReached`] once `‖s‖` has stayed there for that many consecutive
//! iterates. B's own floor is then `‖s‖²/Q ≈ (ε Σ‖g_i‖)²/Q`, about `K ε² ≈ 1e-31` in `f64`
//! (not `ε ≈ 1e-16`: B is a ratio of squares), and about `1e-14` in `f32`.
//!
//! A run never fails once started: it stops for a [`StopReason`] and returns a [`RunReport`]
//! with the last finite iterate, its balance and the evaluation counts.
//!
//! [`PointStats::floor`]: crate::objectives::PointStats::floor

#[cfg(feature = "argmin")]
pub mod argmin_adapter;
pub mod descent;
pub mod driver;
pub mod method;
pub mod newton;
pub mod observer;
pub mod report;
pub mod stop;

pub use descent::{Descent, Objective, TwoPhase};
pub use driver::{
    Context, NoObserver, Observation, Observer, Solver, State, Step, Trial, solve, solve_with,
};
pub use method::{
    ArmijoParams, LbfgsParams, LinearSolver, MAX_LBFGS_MEMORY, Method, NewtonParams, StepRule,
};
pub use newton::Newton;
pub use observer::{Observers, Series, SeriesPoint, TraceCsv};
pub use report::RunReport;
pub use stop::{Limits, StopReason};

pub use crate::objectives::FLOOR_FACTOR;

use crate::error::Result;
use crate::objectives::Evaluator;
use crate::problems::Problem;
use crate::real::Real;

impl<F: Real> Method<F> {
    /// The solver that runs this method.
    pub fn solver(&self) -> Box<dyn Solver<F>> {
        match *self {
            Method::LossFlow(rule) => Box::new(Descent::new(Objective::TotalLoss, rule)),
            Method::BFlow(rule) => Box::new(Descent::new(Objective::Balance, rule)),
            Method::BFlowCentral { rule, h } => {
                Box::new(Descent::new(Objective::BalanceCentral { h }, rule))
            }
            Method::TwoPhase {
                loss,
                balance,
                eps_switch,
            } => Box::new(TwoPhase::new(loss, balance, eps_switch)),
            Method::Newton(p) => Box::new(Newton::new(p)),
        }
    }
}

/// Runs `method` on `problem` from `start` under `limits`.
///
/// # Errors
/// [`Error::DimensionMismatch`](crate::Error::DimensionMismatch) for a start of the wrong
/// length, [`Error::InvalidParameter`](crate::Error::InvalidParameter) for parameters out of
/// range and [`Error::NonFiniteStart`](crate::Error::NonFiniteStart) when a gradient or loss
/// is not finite at the start. Once the run starts it always returns a report.
///
/// ```
/// use bflow::flow::{run, Limits, Method, StepRule};
/// let problem = bflow::problems::builtin::<f64>("e3")?;
/// let method = Method::BFlow(StepRule::fixed(0.5));
/// let limits = Limits { max_steps: 500, ..Limits::default() };
/// let report = run(&problem, &problem.start, &method, &limits)?;
/// assert!(report.distance.unwrap() < 1e-14);
/// assert!(report.floor_reached);
/// # Ok::<(), bflow::Error>(())
/// ```
pub fn run<F: Real>(
    problem: &Problem<F>,
    start: &[F],
    method: &Method<F>,
    limits: &Limits<F>,
) -> Result<RunReport<F>> {
    run_observed(problem, start, method, limits, &mut NoObserver)
}

/// [`run`] with an observer that sees every iterate (progress bars, traces, plots; the
/// library never prints).
///
/// # Errors
/// As [`run`].
pub fn run_observed<F: Real>(
    problem: &Problem<F>,
    start: &[F],
    method: &Method<F>,
    limits: &Limits<F>,
    observer: &mut dyn Observer<F>,
) -> Result<RunReport<F>> {
    method.validate()?;
    method.check_objectives(problem.objectives.num_objectives())?;
    let mut solver = method.solver();
    let mut eval = Evaluator::new(problem.objectives.as_ref());
    let mut report = solve_with(&mut eval, start, solver.as_mut(), limits, observer)?;
    report.method = Some(*method);
    report.distance = problem.distance_to_equilibrium(&report.theta);
    Ok(report)
}

#[cfg(test)]
mod tests;
