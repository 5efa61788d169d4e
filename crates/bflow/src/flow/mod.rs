//! Flows: loss-flow, B-flow and two-phase, their parameters, stop reasons, traces and reports.
//!
//! * **Loss-flow** descends `Σ L_i`: `θ ← θ − (η_L / c) s`, with `s = Σ g_i` and a divisor
//!   `c` (the seed uses `c = 1` for K = 2 and the mean gradient, `c = 3`, for K = 3).
//! * **B-flow** descends the balance residual: `θ ← θ − η_B ∇B`, with the exact
//!   `∇B = (2/Q) Σ_i H_i (s − B g_i)` (K gradients and K HVPs per step).
//! * **Seed B-flow** is B-flow with `∇B` taken by central differences of B (`h = 1e-4` in the
//!   seed): `2n` evaluations of B per step, kept so the seed's runs can be repeated exactly.
//! * **Two-phase** runs loss-flow until `|I + ½| = B/2 < ε_switch`, then exact B-flow.
//!
//! Each flow is sized by a [`StepRule`] (module [`step`]): the seed's fixed step (the
//! default), Armijo backtracking, L-BFGS, or a Newton-type balance step (Levenberg–Marquardt
//! on `s(θ) = 0`, dense or matrix-free by [conjugate gradients](cg)).
//!
//! ## The floor
//!
//! The computed `s` carries rounding of a few `ε |g_ij|` per entry, so `||s||` cannot be
//! resolved below `ε Σ ||g_i||` ([`floor_estimate`]). A run has *reached the floor* when
//! `||s|| ≤ FLOOR_FACTOR · ε Σ ||g_i||`; [`RunReport::evaluations_to_floor`] records the work
//! (gradient-equivalents) spent when that first happened, and `floor_steps` ends the run with
//! [`StopReason::FloorReached`] once `||s||` has stayed there, within a few ulps of the
//! gradients' scale, for that many consecutive iterates: no further progress is possible.
//! B's own floor is then `||s||²/Q ≈ (ε Σ||g_i||)²/Q`, about `K ε² ≈ 1e-31` in `f64` (not
//! `ε ≈ 1e-16`: B is a ratio of squares), and about `1e-14` in `f32`.
//!
//! A run never fails once started: it stops for a [`StopReason`] and returns a [`RunReport`]
//! with the last finite iterate, its balance, the evaluation counts and (optionally) a trace.

#[cfg(feature = "argmin")]
pub mod argmin_adapter;
pub mod cg;
pub mod matrix_free;
pub mod step;

pub use step::{ArmijoParams, LbfgsParams, NewtonParams, StepRule};

use step::{Outcome, Phase, Stepper};

use crate::error::{Error, Result};
use crate::objectives::{BalanceEvaluator, EvalCounts, PointEval, Undefined};
use crate::problems::Problem;
use crate::real::{Real, all_finite};

/// How many times the floor estimate `ε Σ ||g_i||` the final `||s||` may be and still count
/// as having reached the floating-point floor. The computed `s` carries a rounding error of
/// a few `ε |g_ij|` per component (one rounding per gradient entry and one per addition), so
/// a residual within a small multiple of `ε Σ ||g_i||` is indistinguishable from zero.
pub const FLOOR_FACTOR: f64 = 4.0;

/// The floating-point floor of `||s||` at a point: `ε Σ_i ||g_i||`.
pub fn floor_estimate<F: Real>(at: &PointEval<F>) -> F {
    floor_of(at.balance.gradient_norm_sum())
}

/// The floor `ε Σ_i ||g_i||` from `Σ_i ||g_i||`.
pub fn floor_of<F: Real>(gradient_norm_sum: F) -> F {
    F::epsilon() * gradient_norm_sum
}

/// `||s|| ≤ FLOOR_FACTOR · ε Σ_i ||g_i||`: the residual is indistinguishable from zero.
pub fn is_at_floor<F: Real>(sum_norm: F, gradient_norm_sum: F) -> bool {
    sum_norm <= F::lit(FLOOR_FACTOR) * floor_of(gradient_norm_sum)
}

/// Which flow to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Descent on `Σ L_i`.
    LossFlow,
    /// Descent on B with the exact ∇B.
    BFlow,
    /// Descent on B with ∇B by central differences of B (the seed's B-flow).
    BFlowCentral,
    /// Loss-flow until `B/2 < ε_switch`, then exact B-flow.
    TwoPhase,
}

impl Method {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Method::LossFlow => "loss-flow",
            Method::BFlow => "B-flow",
            Method::BFlowCentral => "B-flow (central differences)",
            Method::TwoPhase => "two-phase",
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The settings of one run. Build with [`Default`] and struct update syntax; checked by
/// [`FlowParams::validate`] when the run starts.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowParams<F> {
    /// The flow.
    pub method: Method,
    /// Step size η_B of B-flow (default 0.5, the seed's).
    pub b_step: F,
    /// Step size η_L of loss-flow (default 0.01, the seed's).
    pub loss_step: F,
    /// Divisor `c` of the loss-flow step `(η_L / c) s` (default 1).
    pub loss_divisor: F,
    /// Central-difference step for [`Method::BFlowCentral`] (default 1e-4, the seed's).
    pub central_h: F,
    /// Two-phase switches to B-flow once `|I + ½| = B/2 < eps_switch` (default 1e-3).
    pub eps_switch: F,
    /// How each step is sized (default [`StepRule::Fixed`], the seed's rule).
    pub step_rule: StepRule<F>,
    /// Step budget (default 1000).
    pub max_steps: usize,
    /// Work budget in gradient-equivalents (gradients + 2 × HVPs, line-search trials
    /// included; default: none). Checked before each step, so the last step may overrun it
    /// by one step's work.
    pub max_evaluations: Option<u64>,
    /// Stop with [`StopReason::FloorReached`] once `||s|| ≤ FLOOR_FACTOR · ε Σ||g_i||` has
    /// held at this many consecutive iterates (default: none, so a seed-setting run takes
    /// exactly its budget).
    pub floor_steps: Option<usize>,
    /// Stop once `B ≤ target_b` (default: none).
    pub target_b: Option<F>,
    /// Stop when `||s||` has not reached a new minimum for this many steps (default: none, so
    /// a seed-setting run takes exactly its budget).
    pub stagnation_steps: Option<usize>,
    /// Keep a per-step trace (default true).
    pub record_trace: bool,
    /// Wall-clock limit, checked before each step (default: none). A run that hits it stops
    /// with [`StopReason::TimeLimit`] and reports its last iterate like any other.
    pub max_time: Option<std::time::Duration>,
}

impl<F: Real> Default for FlowParams<F> {
    fn default() -> Self {
        Self {
            method: Method::BFlow,
            b_step: F::lit(0.5),
            loss_step: F::lit(0.01),
            loss_divisor: F::one(),
            central_h: F::lit(1e-4),
            eps_switch: F::lit(1e-3),
            step_rule: StepRule::Fixed,
            max_steps: 1000,
            max_evaluations: None,
            floor_steps: None,
            target_b: None,
            stagnation_steps: None,
            record_trace: true,
            max_time: None,
        }
    }
}

impl<F: Real> FlowParams<F> {
    /// Checks every parameter's range.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the first parameter out of range.
    pub fn validate(&self) -> Result<()> {
        let positive = |name: &str, x: F| {
            if x.is_finite() && x > F::zero() {
                Ok(())
            } else {
                Err(Error::InvalidParameter {
                    name: name.to_string(),
                    reason: format!("must be finite and > 0, got {x}"),
                })
            }
        };
        positive("b_step", self.b_step)?;
        positive("loss_step", self.loss_step)?;
        positive("loss_divisor", self.loss_divisor)?;
        positive("central_h", self.central_h)?;
        positive("eps_switch", self.eps_switch)?;
        if let Some(t) = self.target_b
            && (t.is_nan() || t < F::zero())
        {
            return Err(Error::InvalidParameter {
                name: "target_b".into(),
                reason: format!("must be ≥ 0, got {t}"),
            });
        }
        if self.floor_steps == Some(0) {
            return Err(Error::InvalidParameter {
                name: "floor_steps".into(),
                reason: "must be ≥ 1".into(),
            });
        }
        if self.max_evaluations == Some(0) {
            return Err(Error::InvalidParameter {
                name: "max_evaluations".into(),
                reason: "must be ≥ 1".into(),
            });
        }
        self.step_rule.validate()?;
        if self.stagnation_steps == Some(0) {
            return Err(Error::InvalidParameter {
                name: "stagnation_steps".into(),
                reason: "must be ≥ 1".into(),
            });
        }
        Ok(())
    }
}

/// Why a run stopped. Only [`StopReason::NonFinite`], [`StopReason::Degenerate`] and
/// [`StopReason::LinearSolveFailed`] mean the flow could not go on; the others are ordinary ends (whether the end is *good* is
/// [`RunReport::floor_reached`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopReason {
    /// The step budget was used.
    MaxSteps,
    /// `B ≤ target_b`.
    TargetReached,
    /// `s = Σ g_i` is exactly zero in floating point: nothing further can be gained.
    ExactEquilibrium,
    /// A step left θ unchanged: the iteration is at a fixed point in floating point.
    FixedPoint,
    /// `||s||` did not reach a new minimum for `stagnation_steps` steps.
    Stagnated,
    /// `||s||` stayed within `FLOOR_FACTOR · ε Σ||g_i||` for `floor_steps` iterates, or a
    /// line search found no decrease at such an iterate: no further progress is possible.
    FloorReached,
    /// The work budget `max_evaluations` was used.
    MaxEvaluations,
    /// The wall-clock limit `max_time` was reached.
    TimeLimit,
    /// The linear solve of a Newton step broke down (conjugate gradients met a direction of
    /// non-positive curvature: Σ H_i is not positive definite there).
    LinearSolveFailed,
    /// A line search (or the Levenberg–Marquardt damping loop) found no acceptable trial
    /// point above the floor: the direction is not a usable descent direction, or the
    /// objective's own rounding hides the decrease.
    LineSearchFailed,
    /// The next iterate, a gradient, an HVP or a loss was NaN or infinite; the report keeps
    /// the last finite iterate.
    NonFinite,
    /// Every gradient vanishes (`Q = 0`) at the iterate or a probe: B is 0/0 and B-flow has
    /// no direction. Such a point is stationary for every objective at once.
    Degenerate,
}

impl StopReason {
    /// True unless the flow was forced to stop by a non-finite or degenerate value or a
    /// failed linear solve.
    pub fn is_success(self) -> bool {
        !matches!(
            self,
            StopReason::NonFinite | StopReason::Degenerate | StopReason::LinearSolveFailed
        )
    }

    /// The reason's short name, as in JSON (`"max-steps"`, `"fixed-point"`, …).
    pub fn code(self) -> &'static str {
        match self {
            StopReason::MaxSteps => "max-steps",
            StopReason::TargetReached => "target-reached",
            StopReason::ExactEquilibrium => "exact-equilibrium",
            StopReason::FixedPoint => "fixed-point",
            StopReason::Stagnated => "stagnated",
            StopReason::FloorReached => "floor-reached",
            StopReason::MaxEvaluations => "max-evaluations",
            StopReason::TimeLimit => "time-limit",
            StopReason::LinearSolveFailed => "linear-solve-failed",
            StopReason::LineSearchFailed => "line-search-failed",
            StopReason::NonFinite => "non-finite",
            StopReason::Degenerate => "degenerate",
        }
    }

    /// The reason in words.
    pub fn describe(self) -> &'static str {
        match self {
            StopReason::MaxSteps => "step budget used",
            StopReason::TargetReached => "target B reached",
            StopReason::ExactEquilibrium => "s = Σ g_i is exactly zero",
            StopReason::FixedPoint => "a step no longer changes θ",
            StopReason::Stagnated => "||s|| stagnated",
            StopReason::FloorReached => "||s|| at the floating-point floor: no further progress",
            StopReason::MaxEvaluations => "work budget (gradient-equivalents) used",
            StopReason::TimeLimit => "time limit reached",
            StopReason::LinearSolveFailed => "the Newton step's linear solve broke down",
            StopReason::LineSearchFailed => "line search found no decrease",
            StopReason::NonFinite => "a value became non-finite (last finite iterate kept)",
            StopReason::Degenerate => "every gradient vanishes (Q = 0): B undefined",
        }
    }
}

impl From<Undefined> for StopReason {
    /// Why a flow cannot take its step: B or ∇B is 0/0, or a value is not finite.
    fn from(u: Undefined) -> Self {
        match u {
            Undefined::Degenerate => StopReason::Degenerate,
            Undefined::NonFinite => StopReason::NonFinite,
        }
    }
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.describe())
    }
}

/// One row of a run's trace: the state after `step` steps (step 0 is the start).
#[derive(Debug, Clone, PartialEq)]
pub struct TraceRow<F> {
    /// Steps taken.
    pub step: usize,
    /// θ.
    pub theta: Vec<F>,
    /// B, `None` where degenerate.
    pub b: Option<F>,
    /// `||s||`.
    pub sum_norm: F,
    /// `Σ L_i`.
    pub total_loss: F,
    /// Work spent so far, in gradient-equivalents (gradients + 2 × HVPs).
    pub grad_equivalents: u64,
}

/// What a run did and where it ended. Every run returns one, whatever its stop reason.
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport<F> {
    /// The flow run.
    pub method: Method,
    /// The step rule's name ([`StepRule::name`]).
    pub step_rule: &'static str,
    /// Why it stopped.
    pub stop: StopReason,
    /// Steps taken (accepted updates of θ).
    pub steps: usize,
    /// Derivative evaluations used (every line-search trial included).
    pub counts: EvalCounts,
    /// Points evaluated after the start (accepted steps plus rejected trials).
    pub trial_points: usize,
    /// Gradient-equivalents spent when `||s||` first came within `FLOOR_FACTOR` of the
    /// floor (`None`: never).
    pub evaluations_to_floor: Option<u64>,
    /// The last finite iterate.
    pub theta: Vec<F>,
    /// B there (`None` where degenerate).
    pub b: Option<F>,
    /// I there, `(B − 1)/2`.
    pub interaction: Option<F>,
    /// `|I + ½|`, computed as `B/2`.
    pub abs_i_plus_half: Option<F>,
    /// `||s||` there.
    pub sum_norm: F,
    /// `Σ L_i` there.
    pub total_loss: F,
    /// The floor estimate `ε Σ ||g_i||` there.
    pub floor: F,
    /// True when `||s|| ≤ FLOOR_FACTOR · floor`.
    pub floor_reached: bool,
    /// Distance to the nearest known equilibrium, where the problem knows one.
    pub distance: Option<F>,
    /// For two-phase: the step at which B-flow took over, if it did.
    pub switched_at: Option<usize>,
    /// The trace, when recorded.
    pub trace: Vec<TraceRow<F>>,
}

/// The state the driver keeps between steps.
pub(crate) struct Iterate<F: Real> {
    theta: Vec<F>,
    at: PointEval<F>,
    total_loss: F,
}

/// Runs one flow on `problem` from `start`.
///
/// # Errors
/// [`Error::DimensionMismatch`] for a start of the wrong length, [`Error::InvalidParameter`]
/// for parameters out of range and [`Error::NonFiniteStart`] when a gradient or loss is not
/// finite at the start. Once the run starts it always returns a report.
///
/// ```
/// use bflow::flow::{run, FlowParams, Method, StopReason};
/// let problem = bflow::problems::builtin::<f64>("e3")?;
/// let params = FlowParams { method: Method::BFlow, max_steps: 500, ..FlowParams::default() };
/// let report = run(&problem, &problem.start, &params)?;
/// assert!(report.distance.unwrap() < 1e-14);
/// assert!(report.floor_reached);
/// # Ok::<(), bflow::Error>(())
/// ```
pub fn run<F: Real>(
    problem: &Problem<F>,
    start: &[F],
    params: &FlowParams<F>,
) -> Result<RunReport<F>> {
    run_observed(problem, start, params, &mut |_| {})
}

/// Where a run is, handed to the observer of [`run_observed`] after every step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress<F> {
    /// Steps taken.
    pub step: usize,
    /// The step budget.
    pub max_steps: usize,
    /// `||s||` at the current iterate.
    pub sum_norm: F,
    /// B there (`None` where degenerate).
    pub b: Option<F>,
    /// Time since the run started.
    pub elapsed: std::time::Duration,
}

/// [`run`], calling `observer` after every accepted step (for progress bars; the library
/// never prints).
///
/// # Errors
/// As [`run`].
pub fn run_observed<F: Real>(
    problem: &Problem<F>,
    start: &[F],
    params: &FlowParams<F>,
    observer: &mut dyn FnMut(&Progress<F>),
) -> Result<RunReport<F>> {
    let started = std::time::Instant::now();
    problem.check_point("start", start)?;
    params.validate()?;
    let mut eval = BalanceEvaluator::new(problem.objectives.as_ref());
    let first = evaluate(&mut eval, start).ok_or_else(|| {
        let index = first_non_finite_objective(problem, start);
        Error::NonFiniteStart { index }
    })?;
    let mut current = first;
    let mut trace = Vec::new();
    if params.record_trace {
        trace.push(row(0, &current, &eval));
    }
    let mut stepper = Stepper::new(params.step_rule, problem.dim());
    let mut in_b_phase = matches!(params.method, Method::BFlow | Method::BFlowCentral);
    let mut switched_at = None;
    let mut steps = 0;
    let mut trial_points = 0;
    let mut best_sum_norm = current.at.balance.sum_norm;
    let mut since_best = 0;
    let mut at_floor_run = usize::from(at_floor(&current));
    let mut evaluations_to_floor = (at_floor_run > 0).then(|| eval.counts().gradient_equivalents());
    let stop = loop {
        let balance = &current.at.balance;
        if balance.sum_norm == F::zero() && !balance.is_degenerate() {
            break StopReason::ExactEquilibrium;
        }
        if let (Some(target), Some(b)) = (params.target_b, balance.b())
            && b <= target
        {
            break StopReason::TargetReached;
        }
        if params.floor_steps.is_some_and(|w| at_floor_run >= w) {
            break StopReason::FloorReached;
        }
        if steps == params.max_steps {
            break StopReason::MaxSteps;
        }
        if params
            .max_evaluations
            .is_some_and(|m| eval.counts().gradient_equivalents() >= m)
        {
            break StopReason::MaxEvaluations;
        }
        if params.max_time.is_some_and(|t| started.elapsed() >= t) {
            break StopReason::TimeLimit;
        }
        if params.method == Method::TwoPhase
            && !in_b_phase
            && balance
                .abs_i_plus_half()
                .is_some_and(|h| h < params.eps_switch)
        {
            in_b_phase = true;
            switched_at = Some(steps);
            stepper.reset();
        }
        let phase = if in_b_phase {
            Phase::Balance
        } else {
            Phase::Loss
        };
        let next = match stepper.step(&mut eval, &current, phase, params) {
            Outcome::Next(next, evaluated) => {
                trial_points += evaluated;
                next
            }
            Outcome::Stop(reason, evaluated) => {
                trial_points += evaluated;
                break match reason {
                    StopReason::LineSearchFailed if at_floor_run > 0 => StopReason::FloorReached,
                    other => other,
                };
            }
        };
        current = next;
        steps += 1;
        if params.record_trace {
            trace.push(row(steps, &current, &eval));
        }
        observer(&Progress {
            step: steps,
            max_steps: params.max_steps,
            sum_norm: current.at.balance.sum_norm,
            b: current.at.balance.b(),
            elapsed: started.elapsed(),
        });
        if at_floor(&current) {
            at_floor_run += 1;
            evaluations_to_floor.get_or_insert(eval.counts().gradient_equivalents());
        } else {
            at_floor_run = 0;
        }
        if current.at.balance.sum_norm < best_sum_norm {
            best_sum_norm = current.at.balance.sum_norm;
            since_best = 0;
        } else {
            since_best += 1;
            if params.stagnation_steps.is_some_and(|w| since_best >= w) {
                break StopReason::Stagnated;
            }
        }
    };
    Ok(report(
        problem,
        params,
        Ended {
            stop,
            steps,
            trial_points,
            evaluations_to_floor,
            switched_at,
        },
        eval.counts(),
        current,
        trace,
    ))
}

/// True when `||s|| ≤ FLOOR_FACTOR · ε Σ ||g_i||` at the iterate.
fn at_floor<F: Real>(it: &Iterate<F>) -> bool {
    is_at_floor(it.at.balance.sum_norm, it.at.balance.gradient_norm_sum())
}

/// How a run ended, for [`report`].
struct Ended {
    stop: StopReason,
    steps: usize,
    trial_points: usize,
    evaluations_to_floor: Option<u64>,
    switched_at: Option<usize>,
}

/// Gradients, balance and total loss at `theta`; `None` when anything is not finite.
fn evaluate<F: Real>(eval: &mut BalanceEvaluator<'_, F>, theta: &[F]) -> Option<Iterate<F>> {
    if !all_finite(theta) {
        return None;
    }
    let at = eval.point(theta)?;
    let total_loss = eval.total_loss(theta);
    total_loss.is_finite().then(|| Iterate {
        theta: theta.to_vec(),
        at,
        total_loss,
    })
}

fn first_non_finite_objective<F: Real>(problem: &Problem<F>, theta: &[F]) -> usize {
    let obj = problem.objectives.as_ref();
    let mut g = vec![F::zero(); obj.dim()];
    (0..obj.num_objectives())
        .find(|&i| {
            obj.gradient(i, theta, &mut g);
            !obj.loss(i, theta).is_finite() || !all_finite(&g)
        })
        .unwrap_or(0)
}

fn row<F: Real>(step: usize, it: &Iterate<F>, eval: &BalanceEvaluator<'_, F>) -> TraceRow<F> {
    TraceRow {
        grad_equivalents: eval.counts().gradient_equivalents(),
        step,
        theta: it.theta.clone(),
        b: it.at.balance.b(),
        sum_norm: it.at.balance.sum_norm,
        total_loss: it.total_loss,
    }
}

fn report<F: Real>(
    problem: &Problem<F>,
    params: &FlowParams<F>,
    ended: Ended,
    counts: EvalCounts,
    last: Iterate<F>,
    trace: Vec<TraceRow<F>>,
) -> RunReport<F> {
    let floor = floor_estimate(&last.at);
    let floor_reached = at_floor(&last);
    let balance = &last.at.balance;
    RunReport {
        method: params.method,
        step_rule: params.step_rule.name(),
        stop: ended.stop,
        steps: ended.steps,
        counts,
        trial_points: ended.trial_points,
        evaluations_to_floor: ended.evaluations_to_floor,
        b: balance.b(),
        interaction: balance.interaction(),
        abs_i_plus_half: balance.abs_i_plus_half(),
        sum_norm: balance.sum_norm,
        total_loss: last.total_loss,
        floor,
        floor_reached,
        distance: problem.distance_to_equilibrium(&last.theta),
        switched_at: ended.switched_at,
        theta: last.theta,
        trace,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objectives::{AdObjectives, AutoDiff};
    use crate::problems::{Targets, builtin};
    use num_dual::DualNum;

    fn problem_from<O: crate::objectives::Objectives<f64> + 'static>(
        o: O,
        start: Vec<f64>,
    ) -> Problem<f64> {
        Problem {
            name: "test".into(),
            description: String::new(),
            objectives: Box::new(o),
            start,
            region: None,
            equilibria: Vec::new(),
        }
    }

    #[test]
    fn degenerate_point_is_reported_not_treated_as_balanced() {
        // Both objectives are minimised at θ = 1: there every gradient vanishes, Q = 0.
        let t = Targets::quadratic(vec![vec![1.0], vec![1.0]]);
        let p = problem_from(t, vec![1.0]);
        let r = run(&p, &[1.0], &FlowParams::default()).unwrap();
        assert_eq!(r.stop, StopReason::Degenerate);
        assert_eq!(r.b, None);
        assert_eq!(r.abs_i_plus_half, None);
        assert_eq!(r.steps, 0);
        let l = run(
            &p,
            &[1.0],
            &FlowParams {
                method: Method::LossFlow,
                ..FlowParams::default()
            },
        )
        .unwrap();
        assert_eq!(l.stop, StopReason::FixedPoint);
    }

    /// L1 = x⁴, L2 = −3x: from x = 2 a large step overflows within a few steps. Shared by
    /// the flow tests that need a run to become non-finite.
    pub(in crate::flow) struct Blowup;
    impl AdObjectives for Blowup {
        fn num_objectives(&self) -> usize {
            2
        }
        fn dim(&self) -> usize {
            1
        }
        fn loss<D: DualNum<Primitive = f64>>(&self, i: usize, theta: &[D]) -> D {
            let x = theta[0].clone();
            if i == 0 { x.powi(4) } else { -x * 3.0 }
        }
    }

    #[test]
    fn non_finite_stops_and_keeps_the_last_finite_iterate() {
        let p = problem_from(AutoDiff(Blowup), vec![0.0]);
        let params = FlowParams {
            method: Method::LossFlow,
            loss_step: 1.0,
            max_steps: 50,
            ..FlowParams::default()
        };
        // x = 2 → −27 → 78708 → … the quartic overflows within a few steps.
        let r = run(&p, &[2.0], &params).unwrap();
        assert_eq!(r.stop, StopReason::NonFinite);
        assert!(r.steps >= 3 && r.steps < 10, "{} steps", r.steps);
        assert!(!r.stop.is_success());
        assert!(r.theta[0].is_finite());
        assert!(r.total_loss.is_finite());
        assert!(r.b.is_some());
    }

    #[test]
    fn stagnation_stops_at_the_floor() {
        let p = builtin::<f64>("e3").unwrap();
        let params = FlowParams {
            method: Method::BFlow,
            max_steps: 100_000,
            stagnation_steps: Some(10),
            ..FlowParams::default()
        };
        let r = run(&p, &p.start, &params).unwrap();
        assert!(
            matches!(
                r.stop,
                StopReason::Stagnated | StopReason::ExactEquilibrium | StopReason::FixedPoint
            ),
            "{:?}",
            r.stop
        );
        assert!(r.steps < 1000, "took {} steps", r.steps);
        assert!(r.floor_reached);
    }

    #[test]
    fn two_phase_switches_then_reaches_the_floor() {
        let p = builtin::<f64>("e3").unwrap();
        let params = FlowParams {
            method: Method::TwoPhase,
            loss_step: 0.05,
            loss_divisor: 3.0,
            eps_switch: 1e-2,
            max_steps: 300,
            ..FlowParams::default()
        };
        let r = run(&p, &p.start, &params).unwrap();
        let k = r.switched_at.expect("never switched");
        assert!(k > 0);
        // Before the switch, B/2 ≥ ε_switch; from it on, below.
        assert!(r.trace[k - 1].b.unwrap() / 2.0 >= 1e-2);
        assert!(r.trace[k].b.unwrap() / 2.0 < 1e-2);
        assert!(r.floor_reached, "||s|| = {:e}", r.sum_norm);
        assert!(r.distance.unwrap() < 4e-15);
    }

    #[test]
    fn f32_bflow_reaches_the_f32_floor() {
        let p = builtin::<f32>("e3").unwrap();
        let params = FlowParams {
            method: Method::BFlow,
            max_steps: 200,
            ..FlowParams::default()
        };
        let r = run(&p, &p.start, &params).unwrap();
        assert!(
            r.floor_reached,
            "||s|| = {:e}, floor {:e}",
            r.sum_norm, r.floor
        );
        let d = r.distance.unwrap();
        assert!(d < 8.0 * f32::EPSILON, "f32 distance {d:e}");
        assert!(d > 0.0 || r.stop == StopReason::ExactEquilibrium);
    }

    #[test]
    fn time_limit_stops_and_observer_sees_every_step() {
        let p = builtin::<f64>("e3").unwrap();
        let zero = FlowParams {
            max_time: Some(std::time::Duration::ZERO),
            ..FlowParams::default()
        };
        let r = run(&p, &p.start, &zero).unwrap();
        assert_eq!((r.stop, r.steps), (StopReason::TimeLimit, 0));
        let mut seen = Vec::new();
        let params = FlowParams {
            max_steps: 25,
            ..FlowParams::default()
        };
        let r = run_observed(&p, &p.start, &params, &mut |pr| {
            seen.push((pr.step, pr.sum_norm))
        })
        .unwrap();
        assert_eq!(seen.len(), r.steps);
        assert_eq!(seen.last().unwrap().0, 25);
        assert_eq!(seen.last().unwrap().1, r.sum_norm);
    }

    #[test]
    fn target_b_and_trace() {
        let p = builtin::<f64>("e2").unwrap();
        let params = FlowParams {
            method: Method::BFlow,
            target_b: Some(1e-10),
            ..FlowParams::default()
        };
        let r = run(&p, &p.start, &params).unwrap();
        assert_eq!(r.stop, StopReason::TargetReached);
        assert!(r.b.unwrap() <= 1e-10);
        assert_eq!(r.trace.len(), r.steps + 1);
        assert_eq!(r.trace[0].theta, p.start);
        assert_eq!(r.counts.gradients, 3 * (r.steps as u64 + 1));
        assert_eq!(r.counts.hvps, 3 * r.steps as u64);
    }

    #[test]
    fn bad_parameters_and_start_are_errors() {
        let p = builtin::<f64>("e2").unwrap();
        let bad = FlowParams {
            b_step: -1.0,
            ..FlowParams::default()
        };
        assert!(matches!(
            run(&p, &p.start, &bad),
            Err(Error::InvalidParameter { ref name, .. }) if name == "b_step"
        ));
        assert!(matches!(
            run(&p, &[1.0], &FlowParams::default()),
            Err(Error::DimensionMismatch {
                expected: 2,
                found: 1,
                ..
            })
        ));
        assert!(matches!(
            run(&p, &[f64::NAN, 0.0], &FlowParams::default()),
            Err(Error::NonFiniteStart { .. })
        ));
    }

    fn rules() -> Vec<(Method, StepRule<f64>)> {
        let mut v = Vec::new();
        for m in [Method::LossFlow, Method::BFlow] {
            for r in [StepRule::armijo(), StepRule::lbfgs(), StepRule::newton()] {
                v.push((m, r));
            }
        }
        v
    }

    fn floor_params(method: Method, rule: StepRule<f64>) -> FlowParams<f64> {
        FlowParams {
            method,
            step_rule: rule,
            max_steps: 20_000,
            floor_steps: Some(3),
            record_trace: false,
            ..FlowParams::default()
        }
    }

    #[test]
    fn every_step_rule_reaches_the_floor_on_convex_quadratics() {
        let e3 = builtin::<f64>("e3").unwrap();
        let quad = crate::problems::suite::random_quadratic::<f64>(4, 10, 100.0, 11).unwrap();
        for (p, dist_tol) in [(&e3, 4e-15), (&quad, 1e-11)] {
            let mut cases = rules();
            // The fixed rule with steps that are stable for each problem.
            let lmax = if p.name == "e3" { 6.0 } else { 4.0 * 100.0 };
            cases.push((Method::LossFlow, StepRule::Fixed));
            for (method, rule) in cases {
                if p.name != "e3" && method == Method::BFlow && rule.name() == "armijo" {
                    // Steepest descent on B sees κ² = 1e4 (B ≈ ||J e||²/Q): it needs ~1e5
                    // steps here. Measured, not assumed: still far from the floor at 20 000.
                    let r = run(p, &p.start, &floor_params(method, rule)).unwrap();
                    assert!(!r.floor_reached && r.sum_norm > 1e-6, "{:e}", r.sum_norm);
                    continue;
                }
                let params = FlowParams {
                    loss_step: 1.0 / lmax,
                    ..floor_params(method, rule)
                };
                let r = run(p, &p.start, &params).unwrap();
                let what = format!("{} {} {} ({:?})", p.name, method, rule.name(), r.stop);
                assert!(
                    r.floor_reached,
                    "{what}: ||s|| {:e} floor {:e}",
                    r.sum_norm, r.floor
                );
                assert!(
                    matches!(
                        r.stop,
                        StopReason::FloorReached | StopReason::ExactEquilibrium
                    ),
                    "{what}"
                );
                assert!(
                    r.distance.unwrap() < dist_tol,
                    "{what}: {:e}",
                    r.distance.unwrap()
                );
                let to_floor = r.evaluations_to_floor.expect("floor reached");
                assert!(to_floor <= r.counts.gradient_equivalents(), "{what}");
                assert_eq!(r.step_rule, rule.name());
            }
        }
        // B-flow with its fixed step reaches the floor on E3 (the seed's setting).
        let r = run(
            &e3,
            &e3.start,
            &floor_params(Method::BFlow, StepRule::Fixed),
        )
        .unwrap();
        assert!(
            r.floor_reached && r.stop == StopReason::FloorReached,
            "{:?}",
            r.stop
        );
    }

    #[test]
    fn matrix_free_newton_reaches_the_floor() {
        let quad = crate::problems::suite::random_quadratic::<f64>(3, 12, 100.0, 5).unwrap();
        let rule = StepRule::Newton(NewtonParams {
            dense_max_n: 0,
            ..NewtonParams::default()
        });
        let r = run(&quad, &quad.start, &floor_params(Method::BFlow, rule)).unwrap();
        assert!(r.floor_reached, "||s|| {:e}", r.sum_norm);
        assert!(r.distance.unwrap() < 1e-11);
        // Matrix-free: HVPs come only in sweeps over the K = 3 objectives (−J s, and J(Jv)
        // per CG iteration), never as an n·K Hessian.
        assert_eq!(r.counts.hvps % 3, 0);
        assert!(r.counts.hvps > 0);
    }

    #[test]
    fn floor_stop_triggers_and_records_the_work_to_the_floor() {
        let p = builtin::<f64>("e3").unwrap();
        let params = FlowParams {
            method: Method::BFlow,
            max_steps: 100_000,
            floor_steps: Some(4),
            ..FlowParams::default()
        };
        let r = run(&p, &p.start, &params).unwrap();
        assert_eq!(r.stop, StopReason::FloorReached);
        assert!(r.stop.is_success());
        let first = r
            .trace
            .iter()
            .position(|row| row.grad_equivalents == r.evaluations_to_floor.unwrap())
            .expect("the trace row where the floor was first reached");
        // The run ended 4 iterates later, all at the floor.
        assert_eq!(first + 3, r.steps);
        assert!(r.trace[first].sum_norm <= FLOOR_FACTOR * 1e-13);
        assert!(r.steps < 1000, "{} steps", r.steps);
        // B's floor is (ε Σ||g_i||)²/Q, far below ε.
        assert!(r.b.unwrap() < 1e-28, "B = {:e}", r.b.unwrap());
    }

    #[test]
    fn line_search_trials_are_counted_exactly() {
        // E1 from −3: s = 4θ − 2 = −14, Σ L = 37. Armijo from α = 1 tries θ = 11 (Σ L = 233),
        // θ = 4 (Σ L = 37, not a sufficient decrease) and θ = 0.5, where s = 0 exactly.
        let p = builtin::<f64>("e1").unwrap();
        let r = run(
            &p,
            &p.start,
            &floor_params(Method::LossFlow, StepRule::armijo()),
        )
        .unwrap();
        assert_eq!(r.stop, StopReason::ExactEquilibrium);
        assert_eq!(r.steps, 1);
        assert_eq!(r.trial_points, 3);
        assert_eq!(
            r.counts,
            EvalCounts {
                losses: 8,
                gradients: 8,
                hvps: 0
            }
        );
        assert_eq!(r.counts.gradient_equivalents(), 8);
        assert_eq!(r.evaluations_to_floor, Some(8));
        // B-flow: K gradients per evaluated point, K HVPs per ∇B (one per step begun).
        let e3 = builtin::<f64>("e3").unwrap();
        for rule in [StepRule::armijo(), StepRule::lbfgs()] {
            let r = run(&e3, &e3.start, &floor_params(Method::BFlow, rule)).unwrap();
            assert_eq!(r.counts.gradients, 3 * (1 + r.trial_points as u64));
            let begun = r.steps as u64
                + u64::from(r.stop != StopReason::FloorReached || r.trial_points > r.steps);
            assert!(
                r.counts.hvps == 3 * r.steps as u64 || r.counts.hvps == 3 * begun,
                "{} hvps, {} steps",
                r.counts.hvps,
                r.steps
            );
            assert!(r.trial_points >= r.steps);
        }
        // Newton (dense, n = 4, K = 3): 12 HVPs per Jacobian.
        let r = run(
            &e3,
            &e3.start,
            &floor_params(Method::BFlow, StepRule::newton()),
        )
        .unwrap();
        assert_eq!(r.counts.hvps % 12, 0);
        assert!(r.counts.hvps >= 12 * r.steps as u64);
        assert_eq!(r.counts.gradients, 3 * (1 + r.trial_points as u64));
    }

    #[test]
    fn a_budget_in_gradient_equivalents_stops_the_run() {
        let p = builtin::<f64>("e3").unwrap();
        let params = FlowParams {
            method: Method::BFlow,
            max_evaluations: Some(100),
            max_steps: 100_000,
            ..FlowParams::default()
        };
        let r = run(&p, &p.start, &params).unwrap();
        assert_eq!(r.stop, StopReason::MaxEvaluations);
        // 3 at the start, 9 per step: the first count ≥ 100 is 3 + 9·11 = 102.
        assert_eq!(r.counts.gradient_equivalents(), 102);
        assert_eq!(r.steps, 11);
    }

    #[test]
    fn at_a_saddle_of_the_total_loss_only_balance_methods_converge() {
        let p = crate::problems::suite::saddle_split::<f64>();
        for (method, rule) in rules() {
            let params = FlowParams {
                max_evaluations: Some(20_000),
                ..floor_params(method, rule)
            };
            let r = run(&p, &p.start, &params).unwrap();
            let converged = r.floor_reached && r.distance.unwrap() < 1e-14;
            let expect = method == Method::BFlow || matches!(rule, StepRule::Newton(_));
            assert_eq!(
                converged,
                expect,
                "{method} {}: {:?} d = {:e}",
                rule.name(),
                r.stop,
                r.distance.unwrap()
            );
        }
    }

    #[test]
    fn step_rule_parameters_are_checked_by_name() {
        let p = builtin::<f64>("e2").unwrap();
        let cases: Vec<(StepRule<f64>, &str)> = vec![
            (
                StepRule::Armijo(ArmijoParams {
                    shrink: 1.0,
                    ..ArmijoParams::default()
                }),
                "armijo.shrink",
            ),
            (
                StepRule::Lbfgs(LbfgsParams {
                    memory: 0,
                    ..LbfgsParams::default()
                }),
                "lbfgs.memory",
            ),
            (
                StepRule::Newton(NewtonParams {
                    damping_factor: 0.5,
                    ..NewtonParams::default()
                }),
                "newton.damping_factor",
            ),
        ];
        for (rule, expect) in cases {
            let params = FlowParams {
                step_rule: rule,
                ..FlowParams::default()
            };
            match run(&p, &p.start, &params) {
                Err(Error::InvalidParameter { name, .. }) => assert_eq!(name, expect),
                other => panic!("{expect}: {other:?}"),
            }
        }
        let params = FlowParams {
            floor_steps: Some(0),
            ..FlowParams::default()
        };
        assert!(matches!(
            run(&p, &p.start, &params),
            Err(Error::InvalidParameter { ref name, .. }) if name == "floor_steps"
        ));
    }
}
