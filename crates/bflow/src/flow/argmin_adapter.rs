//! The balance residual as an [argmin](https://argmin-rs.org) problem (feature `argmin`).
//!
//! [`BalanceCost`] implements argmin's [`CostFunction`] (`B(θ)`) and [`Gradient`] (the exact
//! `∇B = (2/Q) Σ_i H_i (s − B g_i)`, K gradients and K HVPs), so any argmin solver that needs
//! only those two — steepest descent, L-BFGS, nonlinear CG with a More–Thuente or
//! backtracking line search — can drive B to its floor.
//!
//! argmin's line searches can loop forever on NaN, so every non-finite value and every
//! degenerate point (`Q = 0`, where B is 0/0) is returned as an argmin error instead, with a
//! message that says which.
//!
//! ```
//! use argmin::core::{Executor, State};
//! use argmin::solver::linesearch::MoreThuenteLineSearch;
//! use argmin::solver::quasinewton::LBFGS;
//! use bflow::flow::argmin_adapter::BalanceCost;
//!
//! let problem = bflow::problems::builtin::<f64>("e3")?;
//! let cost = BalanceCost::new(problem.objectives.as_ref());
//! let solver = LBFGS::new(MoreThuenteLineSearch::new(), 7);
//! let res = Executor::new(cost, solver)
//!     .configure(|s| s.param(problem.start.clone()).max_iters(100))
//!     .run()
//!     .expect("argmin run");
//! assert!(res.state().get_best_cost() < 1e-20);
//! # Ok::<(), bflow::Error>(())
//! ```

use argmin::core::{CostFunction, Error as ArgminError, Gradient};

use crate::objectives::{Evaluator, Objectives, Undefined};

/// `B(θ)` and `∇B(θ)` of K objectives, for argmin solvers.
pub struct BalanceCost<'a> {
    objectives: &'a dyn Objectives<f64>,
}

impl<'a> BalanceCost<'a> {
    /// Wraps `objectives`.
    pub fn new(objectives: &'a dyn Objectives<f64>) -> Self {
        Self { objectives }
    }

    fn check_len(&self, param: &[f64]) -> Result<(), ArgminError> {
        if param.len() != self.objectives.dim() {
            return Err(ArgminError::msg(format!(
                "bflow: parameter has {} components, the problem has {}",
                param.len(),
                self.objectives.dim()
            )));
        }
        if param.iter().any(|x| !x.is_finite()) {
            return Err(ArgminError::msg("bflow: non-finite parameter"));
        }
        Ok(())
    }
}

fn undefined(u: Undefined) -> ArgminError {
    ArgminError::msg(match u {
        Undefined::Degenerate => "bflow: degenerate point (every gradient vanishes, B = 0/0)",
        Undefined::NonFinite => "bflow: non-finite gradient, HVP or B",
    })
}

impl CostFunction for BalanceCost<'_> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, param: &Self::Param) -> Result<f64, ArgminError> {
        self.check_len(param)?;
        let mut eval = Evaluator::new(self.objectives);
        let (at, _) = eval.evaluate(param).map_err(undefined)?;
        at.b().ok_or_else(|| undefined(Undefined::Degenerate))
    }
}

impl Gradient for BalanceCost<'_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;

    fn gradient(&self, param: &Self::Param) -> Result<Vec<f64>, ArgminError> {
        self.check_len(param)?;
        let mut eval = Evaluator::new(self.objectives);
        let (_, id) = eval.evaluate(param).map_err(undefined)?;
        let mut out = vec![0.0; param.len()];
        eval.balance_gradient(param, id, &mut out)
            .map_err(undefined)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problems::{Targets, builtin};
    use argmin::core::{Executor, State};
    use argmin::solver::gradientdescent::SteepestDescent;
    use argmin::solver::linesearch::MoreThuenteLineSearch;

    #[test]
    fn argmin_steepest_descent_drives_b_to_its_floor_on_e3() {
        let problem = builtin::<f64>("e3").unwrap();
        let cost = BalanceCost::new(problem.objectives.as_ref());
        let solver = SteepestDescent::new(MoreThuenteLineSearch::new());
        let res = Executor::new(cost, solver)
            .configure(|s| s.param(problem.start.clone()).max_iters(200))
            .run()
            .unwrap();
        let best = res.state().get_best_param().unwrap();
        let d = problem.distance_to_equilibrium(best).unwrap();
        assert!(
            res.state().get_best_cost() < 1e-24,
            "B = {:e}",
            res.state().get_best_cost()
        );
        assert!(d < 1e-11, "distance {d:e}");
    }

    #[test]
    fn degenerate_and_bad_points_are_argmin_errors() {
        let t = Targets::quadratic(vec![vec![1.0], vec![1.0]]);
        let cost = BalanceCost::new(&t);
        let err = cost.cost(&vec![1.0]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "bflow: degenerate point (every gradient vanishes, B = 0/0)"
        );
        assert!(cost.gradient(&vec![1.0]).is_err());
        assert_eq!(
            cost.cost(&vec![f64::NAN]).unwrap_err().to_string(),
            "bflow: non-finite parameter"
        );
        assert!(cost.cost(&vec![0.0, 1.0]).is_err());
        // Aligned gradients: B = K = 2.
        assert!((cost.cost(&vec![3.0]).unwrap() - 2.0).abs() < 1e-15);
    }
}
