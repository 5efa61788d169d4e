//! Matrix-free flows for large n: exact B-flow and a Newton–CG balance step on a
//! [`BalanceWorkspace`], with no n-vector allocated per step.
//!
//! * **B-flow**: `θ ← θ − η ∇B`, ∇B from K HVPs along `s − B g_i`
//!   ([`BalanceWorkspace::bflow_step`]).
//! * **Newton–CG**: solve `J d = s` by conjugate gradients, `J = Σ_i H_i` applied as K HVPs
//!   in parallel ([`SumHvp`](crate::objectives::workspace::SumHvp)), then `θ ← θ − d`. CG's
//!   work vectors are the workspace's gradient buffers, free once s is known. CG needs J
//!   positive definite (a convex Σ L, as in the quadratic multi-task class); where it meets
//!   non-positive curvature the run stops with [`StopReason::LinearSolveFailed`]. An
//!   unconverged CG still gives a usable inexact Newton step and is taken.
//!
//! Memory: the workspace's `(K + 1 + T)·n` floats (T threads; at least 4 spare vectors), plus
//! θ, which the caller owns.

use std::time::{Duration, Instant};

use super::cg::{CgParams, conjugate_gradient_in};
use super::{StopReason, floor_of, is_at_floor};
use crate::error::{Error, Result};
use crate::objectives::workspace::{BalanceScalars, SolveBuffers};
use crate::objectives::{BalanceWorkspace, EvalCounts, Objectives, Undefined};
use crate::real::{Real, axpy};

/// Which matrix-free flow.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MatrixFreeMethod<F> {
    /// Exact B-flow with a fixed step.
    BFlow {
        /// η.
        step: F,
    },
    /// Newton on `s = 0` with the linear system solved by CG over HVPs.
    NewtonCg {
        /// The inner solve's tolerances and iteration cap.
        cg: CgParams<F>,
    },
}

/// Settings of a matrix-free run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MatrixFreeParams<F> {
    /// The flow.
    pub method: MatrixFreeMethod<F>,
    /// Step budget.
    pub max_steps: usize,
    /// Wall-clock limit, checked before each step.
    pub max_time: Option<Duration>,
    /// Stop once `||s|| ≤ FLOOR_FACTOR · ε Σ ||g_i||` has held at this many consecutive
    /// iterates (≥ 1).
    pub floor_steps: usize,
}

impl<F: Real> Default for MatrixFreeParams<F> {
    /// Newton–CG (CG to a relative residual of 1e-10, at most 500 iterations), 50 steps,
    /// stop at the first iterate at the floor.
    fn default() -> Self {
        Self {
            method: MatrixFreeMethod::NewtonCg {
                cg: CgParams::default(),
            },
            max_steps: 50,
            max_time: None,
            floor_steps: 1,
        }
    }
}

/// What a matrix-free run did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MatrixFreeReport<F> {
    /// Why it stopped.
    pub stop: StopReason,
    /// Steps taken.
    pub steps: usize,
    /// Gradients and HVPs used (CG's HVPs included).
    pub counts: EvalCounts,
    /// CG iterations over all Newton steps (0 for B-flow).
    pub cg_iterations: usize,
    /// B at the end (`None` when every gradient vanished at the start: 0/0).
    pub b: Option<F>,
    /// `||s||` at the end.
    pub sum_norm: F,
    /// The floor estimate `ε Σ ||g_i||` at the end.
    pub floor: F,
    /// `||s|| ≤ FLOOR_FACTOR · floor`.
    pub floor_reached: bool,
    /// Wall-clock time of the run.
    pub seconds: f64,
    /// Bytes of workspace buffers (θ excluded).
    pub buffer_bytes: usize,
}

fn at_floor<F: Real>(s: &BalanceScalars<F>) -> bool {
    is_at_floor(s.sum_norm, s.gradient_norm_sum)
}

/// Runs a matrix-free flow from `theta`, which it updates in place to the last finite
/// iterate (a step whose new point gives non-finite values is undone, to within rounding).
///
/// # Errors
/// [`Error::DimensionMismatch`] for a `theta` of the wrong length,
/// [`Error::InvalidParameter`] for `floor_steps = 0`, a B-flow step that is not finite
/// and positive or bad CG parameters, [`Error::NonFiniteStart`] naming the objective whose
/// gradient is not finite at the start. A start where every gradient vanishes is not an
/// error: the report says [`StopReason::Degenerate`] with B undefined.
pub fn run_matrix_free<F: Real>(
    objectives: &dyn Objectives<F>,
    theta: &mut [F],
    params: &MatrixFreeParams<F>,
) -> Result<MatrixFreeReport<F>> {
    let started = Instant::now();
    if theta.len() != objectives.dim() {
        return Err(Error::DimensionMismatch {
            what: "start".into(),
            expected: objectives.dim(),
            found: theta.len(),
        });
    }
    if params.floor_steps == 0 {
        return Err(Error::InvalidParameter {
            name: "floor_steps".into(),
            reason: "must be ≥ 1".into(),
        });
    }
    match params.method {
        MatrixFreeMethod::BFlow { step } if !(step.is_finite() && step > F::zero()) => {
            return Err(Error::InvalidParameter {
                name: "step".into(),
                reason: format!("must be finite and > 0, got {step}"),
            });
        }
        MatrixFreeMethod::NewtonCg { cg } => cg.validate("cg")?,
        MatrixFreeMethod::BFlow { .. } => {}
    }
    let mut ws = BalanceWorkspace::new(objectives);
    let mut scalars = match ws.evaluate(objectives, theta) {
        Ok(s) => s,
        Err(Undefined::NonFinite) => {
            let mut grad = vec![F::zero(); theta.len()];
            let index = (0..objectives.num_objectives())
                .find(|&i| {
                    objectives.gradient(i, theta, &mut grad);
                    grad.iter().any(|g| !g.is_finite())
                })
                .unwrap_or(0);
            return Err(Error::NonFiniteStart { index });
        }
        // Every gradient vanishes at the start: B is 0/0 there. Say so; there is no step.
        Err(Undefined::Degenerate) => {
            return Ok(MatrixFreeReport {
                stop: StopReason::Degenerate,
                steps: 0,
                counts: ws.counts(),
                cg_iterations: 0,
                b: None,
                sum_norm: F::zero(),
                floor: F::zero(),
                floor_reached: true,
                seconds: started.elapsed().as_secs_f64(),
                buffer_bytes: ws.buffer_bytes(),
            });
        }
    };
    let mut steps = 0;
    let mut cg_iterations = 0;
    let mut floor_run = usize::from(at_floor(&scalars));
    let stop = loop {
        if scalars.sum_norm == F::zero() {
            break StopReason::ExactEquilibrium;
        }
        if floor_run >= params.floor_steps {
            break StopReason::FloorReached;
        }
        if steps == params.max_steps {
            break StopReason::MaxSteps;
        }
        if params.max_time.is_some_and(|t| started.elapsed() >= t) {
            break StopReason::TimeLimit;
        }
        let next = match params.method {
            MatrixFreeMethod::BFlow { step } => bflow_step(&mut ws, objectives, theta, step),
            MatrixFreeMethod::NewtonCg { cg } => {
                newton_step(&mut ws, objectives, theta, &cg, &mut cg_iterations)
            }
        };
        match next {
            Ok(s) => scalars = s,
            Err(reason) => break reason,
        }
        steps += 1;
        floor_run = if at_floor(&scalars) { floor_run + 1 } else { 0 };
    };
    Ok(MatrixFreeReport {
        stop,
        steps,
        counts: ws.counts(),
        cg_iterations,
        b: Some(scalars.b),
        sum_norm: scalars.sum_norm,
        floor: floor_of(scalars.gradient_norm_sum),
        floor_reached: at_floor(&scalars),
        seconds: started.elapsed().as_secs_f64(),
        buffer_bytes: ws.buffer_bytes(),
    })
}

fn bflow_step<F: Real>(
    ws: &mut BalanceWorkspace<F>,
    objectives: &dyn Objectives<F>,
    theta: &mut [F],
    step: F,
) -> std::result::Result<BalanceScalars<F>, StopReason> {
    ws.bflow_step(objectives, theta, step)
        .map_err(StopReason::from)
}

fn newton_step<F: Real>(
    ws: &mut BalanceWorkspace<F>,
    objectives: &dyn Objectives<F>,
    theta: &mut [F],
    cg: &CgParams<F>,
    cg_iterations: &mut usize,
) -> std::result::Result<BalanceScalars<F>, StopReason> {
    let SolveBuffers {
        sum,
        work: [d, r, p, ap],
        mut hvp,
    } = ws.solve_buffers();
    d.fill(F::zero());
    let at: &[F] = theta;
    let solve = conjugate_gradient_in(
        |v: &[F], out: &mut [F]| hvp.apply(objectives, at, v, out),
        sum,
        d,
        cg,
        r,
        p,
        ap,
    );
    match solve {
        Ok(info) => *cg_iterations += info.iterations,
        Err(super::cg::CgError::NoConvergence { iterations, .. }) => *cg_iterations += iterations,
        Err(_) => return Err(StopReason::LinearSolveFailed),
    }
    hvp.hold(theta);
    axpy(theta, -F::one(), d);
    ws.evaluate(objectives, theta).map_err(|u| {
        // Take the step back exactly: the last finite iterate is kept.
        theta.copy_from_slice(ws.held());
        StopReason::from(u)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problems::{MultiTask, MultiTaskParams, builtin};

    #[test]
    fn newton_cg_reaches_the_floor_on_the_quadratic_multitask() {
        let params = MultiTaskParams {
            n: 3000,
            k: 6,
            seed: 11,
            ..MultiTaskParams::default()
        };
        let mt = MultiTask::<f64>::generate(&params).unwrap();
        let mut theta = vec![0.0; 3000];
        let r = run_matrix_free(&mt, &mut theta, &MatrixFreeParams::default()).unwrap();
        assert!(r.floor_reached, "{r:?}");
        assert_eq!(r.stop, StopReason::FloorReached);
        assert!(r.steps <= 4, "{} Newton steps", r.steps);
        assert!(r.cg_iterations > 0);
        // Every HVP counted: K per CG iteration (a cold start needs no initial product).
        assert_eq!(r.counts.hvps, 6 * r.cg_iterations as u64);
    }

    #[test]
    fn bflow_matrix_free_matches_the_general_driver_on_e3() {
        let p = builtin::<f64>("e3").unwrap();
        let mut theta = p.start.clone();
        let params = MatrixFreeParams {
            method: MatrixFreeMethod::BFlow { step: 0.5 },
            max_steps: 100,
            ..MatrixFreeParams::default()
        };
        let r = run_matrix_free(p.objectives.as_ref(), &mut theta, &params).unwrap();
        let general = crate::flow::run(
            &p,
            &p.start,
            &crate::flow::FlowParams {
                max_steps: r.steps,
                ..crate::flow::FlowParams::default()
            },
        )
        .unwrap();
        for (a, b) in theta.iter().zip(&general.theta) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
    }

    #[test]
    fn indefinite_hessian_stops_the_newton_solve() {
        // Σ L for the saddle class is indefinite: CG meets negative curvature.
        let p = builtin::<f64>("saddle").unwrap();
        let mut theta = vec![3.0, 4.0];
        let r = run_matrix_free(
            p.objectives.as_ref(),
            &mut theta,
            &MatrixFreeParams::default(),
        )
        .unwrap();
        assert_eq!(r.stop, StopReason::LinearSolveFailed);
        assert_eq!(theta, vec![3.0, 4.0]);
    }
}

#[cfg(test)]
mod failure_tests {
    use super::*;
    use crate::flow::tests::Blowup;
    use crate::objectives::{AutoDiff, balance_gradient_at};
    use crate::problems::Targets;

    #[test]
    fn degenerate_start_is_reported_and_bad_cg_parameters_refused() {
        let same = Targets::quadratic(vec![vec![1.0], vec![1.0]]);
        let mut theta = vec![1.0];
        let r = run_matrix_free(&same, &mut theta, &MatrixFreeParams::default()).unwrap();
        assert_eq!((r.stop, r.b, r.steps), (StopReason::Degenerate, None, 0));
        let bad = MatrixFreeParams {
            method: MatrixFreeMethod::NewtonCg {
                cg: CgParams {
                    max_iters: 0,
                    ..CgParams::default()
                },
            },
            ..MatrixFreeParams::default()
        };
        let err = run_matrix_free(&same, &mut theta, &bad).unwrap_err();
        assert!(matches!(err, Error::InvalidParameter { ref name, .. } if name == "cg.max_iters"));
    }

    #[test]
    fn a_failed_step_is_taken_back_exactly() {
        let mut theta = vec![2.0];
        let params = MatrixFreeParams {
            method: MatrixFreeMethod::BFlow { step: 1e300 },
            max_steps: 10,
            ..MatrixFreeParams::default()
        };
        let r = run_matrix_free(&AutoDiff(Blowup), &mut theta, &params).unwrap();
        assert_eq!(r.stop, StopReason::NonFinite);
        assert_eq!(
            theta,
            vec![2.0],
            "the last finite iterate was not kept exactly"
        );
    }

    #[test]
    fn balance_gradient_survives_gradients_near_1e_minus_170() {
        // B is invariant under scaling every g_i, so ∇B must be the same for w = 1e-170 as
        // for w = 1, although Q ≈ 1e-340 underflows to 0.
        let targets = vec![vec![3.0, 1.0], vec![-1.0, 4.0], vec![1.0, -2.0]];
        let unit = Targets::quadratic(targets.clone());
        let tiny = Targets {
            weight: 1e-170,
            ..Targets::quadratic(targets)
        };
        let theta = [0.3, -0.7];
        let g1 = balance_gradient_at::<f64>(&unit, &theta).unwrap();
        let g2 = balance_gradient_at::<f64>(&tiny, &theta).unwrap();
        for (a, b) in g1.iter().zip(&g2) {
            assert!((a - b).abs() <= 1e-14 * a.abs().max(1e-300), "{a} vs {b}");
        }
        let mut ws = BalanceWorkspace::new(&tiny);
        ws.evaluate(&tiny, &theta).unwrap();
        let g3 = ws.balance_gradient(&tiny, &theta).unwrap();
        for (a, b) in g1.iter().zip(g3) {
            assert!((a - b).abs() <= 1e-14 * a.abs().max(1e-300), "{a} vs {b}");
        }
    }
}
