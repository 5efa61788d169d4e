//! The one driver: the loop over iterates, every stop rule, every count.
//!
//! A [`Solver`] computes the next iterate from the current [`State`]; it evaluates trial
//! points only through the [`Context`] the driver lends it, so every evaluation is counted
//! and every trial that is not finite is refused before it can become an iterate. The
//! driver checks the [`Limits`] before each step, tracks the floor and stagnation, tests the
//! region after each accepted step, and shows each iterate to an [`Observer`], which may
//! stop the run.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use super::report::RunReport;
use super::stop::{Limits, StopReason};
use crate::error::{Error, Result};
use crate::objectives::{EvalCounts, Evaluator, Objectives, PointId, PointStats, Undefined};
use crate::real::{Real, all_finite, norm_l2};

/// The current iterate and what is known there, plus a buffer for the next trial point.
#[derive(Debug, Clone)]
pub struct State<F: Real> {
    theta: Vec<F>,
    stats: PointStats<F>,
    id: PointId,
    step: usize,
    trial: Vec<F>,
    trial_point: Option<(PointStats<F>, PointId)>,
}

impl<F: Real> State<F> {
    /// The current iterate θ.
    pub fn theta(&self) -> &[F] {
        &self.theta
    }

    /// The balance at θ.
    pub fn stats(&self) -> &PointStats<F> {
        &self.stats
    }

    /// Which evaluated point θ is (to ask the evaluator whether it still holds θ's gradients).
    pub fn id(&self) -> PointId {
        self.id
    }

    /// Steps accepted so far.
    pub fn step(&self) -> usize {
        self.step
    }

    /// The trial buffer: a solver writes its next trial point here, then calls
    /// [`Context::evaluate_trial`].
    pub fn trial_mut(&mut self) -> &mut [F] {
        &mut self.trial
    }

    /// The current iterate and the trial buffer together (to form `trial = θ + d`).
    pub fn theta_and_trial(&mut self) -> (&[F], &mut [F]) {
        (&self.theta, &mut self.trial)
    }

    /// The last evaluated trial point and its balance (`None` when it was not finite or no
    /// trial has been evaluated since the last step).
    pub fn trial(&self) -> Option<(&[F], &PointStats<F>)> {
        self.trial_point
            .as_ref()
            .map(|(s, _)| (self.trial.as_slice(), s))
    }

    /// Makes the last evaluated trial point the current iterate.
    ///
    /// # Panics
    /// When no finite trial point has been evaluated since the last step (a solver bug).
    #[track_caller]
    pub fn accept_trial(&mut self) {
        let (stats, id) = self
            .trial_point
            .take()
            .expect("accept_trial: no evaluated trial point");
        std::mem::swap(&mut self.theta, &mut self.trial);
        self.stats = stats;
        self.id = id;
    }
}

/// What evaluating a trial point gave.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Trial<F> {
    /// The trial equals θ bitwise: the step is below θ's resolution. Nothing was evaluated.
    Unchanged,
    /// A loss, a gradient or the point is not finite; it cannot be accepted.
    NonFinite,
    /// Finite; its balance.
    Evaluated(PointStats<F>),
}

/// What the driver lends a solver for one step: the evaluator and the limits the solver must
/// honour inside the step.
pub struct Context<'e, 'a, F: Real> {
    /// The evaluator (every call is counted).
    pub eval: &'e mut Evaluator<'a, F>,
    limits: &'e Limits<F>,
    deadline: Option<Instant>,
    trial_points: usize,
}

impl<F: Real> Context<'_, '_, F> {
    /// Evaluates `state.trial_mut()` (counted as one trial point unless it equals θ).
    pub fn evaluate_trial(&mut self, state: &mut State<F>) -> Trial<F> {
        self.evaluate_trial_with(state, None)
    }

    /// [`evaluate_trial`](Self::evaluate_trial), and the Hessian of `Σ L_i` at the trial
    /// point into `hessian` ([`Evaluator::evaluate_with_sum_hessian`]): for a solver that
    /// needs the Hessian at its next iterate (a dense Newton step), one sweep instead of two
    /// where the back-end fuses them. `hessian` is meaningful only when the trial was
    /// [`Trial::Evaluated`].
    pub fn evaluate_trial_with_sum_hessian(
        &mut self,
        state: &mut State<F>,
        hessian: &mut [F],
    ) -> Trial<F> {
        self.evaluate_trial_with(state, Some(hessian))
    }

    fn evaluate_trial_with(&mut self, state: &mut State<F>, hessian: Option<&mut [F]>) -> Trial<F> {
        state.trial_point = None;
        if state.trial == state.theta {
            return Trial::Unchanged;
        }
        self.trial_points += 1;
        let evaluated = match hessian {
            Some(h) => self.eval.evaluate_with_sum_hessian(&state.trial, h),
            None => self.eval.evaluate(&state.trial),
        };
        match evaluated {
            Ok((stats, id)) => {
                state.trial_point = Some((stats, id));
                Trial::Evaluated(stats)
            }
            Err(_) => Trial::NonFinite,
        }
    }

    /// Makes sure the evaluator holds θ's gradients (re-evaluating θ, counted, when a probe or
    /// a rejected trial replaced them).
    ///
    /// # Errors
    /// [`Undefined::NonFinite`] cannot happen for an accepted iterate unless the objectives
    /// are not deterministic; it is reported rather than assumed away.
    pub fn hold_current(&mut self, state: &mut State<F>) -> std::result::Result<(), Undefined> {
        if !self.eval.holds(state.id) {
            let (stats, id) = self.eval.evaluate(&state.theta)?;
            state.stats = stats;
            state.id = id;
        }
        Ok(())
    }

    /// The longest step allowed (`None`: no cap).
    pub fn max_step(&self) -> Option<F> {
        self.limits.max_step
    }

    /// Scales `d` in place so that `‖d‖ ≤ max_step`; returns `‖d‖` after scaling.
    pub fn cap_step(&self, d: &mut [F]) -> F {
        let norm = norm_l2(d);
        match self.limits.max_step {
            Some(cap) if norm > cap => {
                let f = cap / norm;
                d.iter_mut().for_each(|x| *x = *x * f);
                cap
            }
            _ => norm,
        }
    }

    /// True when the gradient of the objective descended is below the tolerance: the solver
    /// should stop with [`StopReason::GradientTolerance`].
    pub fn gradient_converged(&self, norm: F) -> bool {
        self.limits.gradient_tolerance.is_some_and(|t| norm <= t)
    }

    /// True when a proposed step `d` from θ is below the step tolerance (its norm ≤ the
    /// tolerance, or every component within 4 ulps of its coordinate): the solver should stop
    /// with [`StopReason::StepTolerance`]. Always false without a step tolerance.
    pub fn step_negligible(&self, theta: &[F], d: &[F]) -> bool {
        let Some(tol) = self.limits.step_tolerance else {
            return false;
        };
        let four_ulps = F::lit(4.0) * F::epsilon();
        norm_l2(d) <= tol
            || d.iter()
                .zip(theta)
                .all(|(&d, &x)| d.abs() <= four_ulps * x.abs())
    }

    /// True once the run's time limit has passed (checked inside long steps).
    pub fn time_up(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// The run's deadline, for inner iterations.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }
}

/// What one call of [`Solver::step`] produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// A trial was accepted ([`State::accept_trial`]); the driver goes on.
    Accepted,
    /// The run must stop.
    Stop(StopReason),
}

/// A method as a step function: it turns the current state into the next (argmin's
/// `Solver::next_iter`). The driver owns the loop, the limits and the observers.
pub trait Solver<F: Real> {
    /// Prepares per-run memory for dimension n (called once before the first step of every
    /// run). It starts the run as a new solver would, so one solver can serve run after run
    /// (the library's solvers reuse their buffers).
    fn init(&mut self, n: usize);

    /// Computes the next iterate: evaluates trial points through `ctx`, accepts one with
    /// [`State::accept_trial`] and returns [`Step::Accepted`], or returns why it cannot.
    fn step(&mut self, ctx: &mut Context<'_, '_, F>, state: &mut State<F>) -> Step;

    /// Adds what only this solver knows to the report (a switch step, inner iterations).
    fn finish(&self, report: &mut RunReport<F>) {
        let _ = report;
    }

    /// True when the solver asks for Hessians or HVPs at the points it evaluates in
    /// dimension n: the driver then has the evaluator sweep second order where the objectives
    /// fuse it ([`Evaluator::set_second_order_sweeps`]), so that those come from the same
    /// sweep. It changes no number, only the work. Default: false.
    fn uses_second_order(&self, n: usize) -> bool {
        let _ = n;
        false
    }
}

/// What an observer sees after every accepted step (and once at the start, step 0).
#[derive(Debug, Clone, Copy)]
pub struct Observation<'s, F: Real> {
    /// Steps taken.
    pub step: usize,
    /// The step budget.
    pub max_steps: usize,
    /// θ.
    pub theta: &'s [F],
    /// The balance at θ.
    pub stats: &'s PointStats<F>,
    /// Evaluations so far.
    pub counts: EvalCounts,
    /// When the run started ([`elapsed`](Self::elapsed) reads the clock against it, so that
    /// an observer that does not ask costs no clock read per step).
    started: Instant,
}

impl<F: Real> Observation<'_, F> {
    /// Time since the run started (read from the clock at each call).
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

/// Sees every iterate; returning `ControlFlow::Break` stops the run with
/// [`StopReason::Interrupted`]. Closures `FnMut(&Observation<F>) -> ControlFlow<()>` are
/// observers.
pub trait Observer<F: Real> {
    /// Called at the start (step 0) and after every accepted step.
    fn observe(&mut self, at: &Observation<'_, F>) -> ControlFlow<()>;

    /// True when the observer ignores every observation and never stops a run: the driver
    /// then builds none. Only [`NoObserver`] says so by default.
    fn is_silent(&self) -> bool {
        false
    }
}

impl<F: Real, T: FnMut(&Observation<'_, F>) -> ControlFlow<()>> Observer<F> for T {
    fn observe(&mut self, at: &Observation<'_, F>) -> ControlFlow<()> {
        self(at)
    }
}

/// An observer that sees nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoObserver;

impl<F: Real> Observer<F> for NoObserver {
    fn observe(&mut self, _: &Observation<'_, F>) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }

    fn is_silent(&self) -> bool {
        true
    }
}

/// Runs `solver` from `start` under `limits`, with a fresh evaluator over `objectives`.
///
/// # Errors
/// [`Error::DimensionMismatch`] for a start of the wrong length, [`Error::InvalidParameter`]
/// for limits out of range, [`Error::NonFiniteStart`] when a loss or gradient is not finite
/// at the start. Once the run starts it always returns a report.
pub fn solve<F: Real>(
    objectives: &dyn Objectives<F>,
    start: &[F],
    solver: &mut dyn Solver<F>,
    limits: &Limits<F>,
    observer: &mut dyn Observer<F>,
) -> Result<RunReport<F>> {
    let mut eval = Evaluator::new(objectives);
    solve_with(&mut eval, start, solver, limits, observer)
}

/// [`solve`] with an evaluator the caller keeps (a map reuses one per thread across starts);
/// the report counts only this run's evaluations.
///
/// # Errors
/// As [`solve`].
pub fn solve_with<F: Real>(
    eval: &mut Evaluator<'_, F>,
    start: &[F],
    solver: &mut dyn Solver<F>,
    limits: &Limits<F>,
    observer: &mut dyn Observer<F>,
) -> Result<RunReport<F>> {
    let previous = eval.set_second_order_sweeps(solver.uses_second_order(eval.dim()));
    let report = run(eval, start, solver, limits, observer);
    eval.set_second_order_sweeps(previous);
    report
}

/// [`solve_with`] once the evaluator's sweeps are set.
fn run<F: Real>(
    eval: &mut Evaluator<'_, F>,
    start: &[F],
    solver: &mut dyn Solver<F>,
    limits: &Limits<F>,
    observer: &mut dyn Observer<F>,
) -> Result<RunReport<F>> {
    let started = Instant::now();
    let n = eval.dim();
    if start.len() != n {
        return Err(Error::DimensionMismatch {
            what: "start".into(),
            expected: n,
            found: start.len(),
        });
    }
    limits.validate(n)?;
    let counts0 = eval.counts();
    let (stats, id) = eval.evaluate(start).map_err(|_| Error::NonFiniteStart {
        index: first_non_finite_objective(eval.objectives(), start),
    })?;
    let mut state = State {
        theta: start.to_vec(),
        stats,
        id,
        step: 0,
        trial: vec![F::zero(); n],
        trial_point: None,
    };
    solver.init(n);
    let deadline = limits.max_time.map(|t| started + t);
    let counts = |eval: &Evaluator<'_, F>| counts_since(eval.counts(), counts0);
    let mut trial_points = 0;
    let mut best = state.stats.sum_norm;
    let mut since_best = 0;
    let mut floor_run = usize::from(state.stats.at_floor());
    let mut evaluations_to_floor = (floor_run > 0).then(|| counts(eval).gradient_equivalents());
    let silent = observer.is_silent();
    let observe = |observer: &mut dyn Observer<F>, state: &State<F>, eval: &Evaluator<'_, F>| {
        if silent {
            return ControlFlow::Continue(());
        }
        observer.observe(&Observation {
            step: state.step,
            max_steps: limits.max_steps,
            theta: &state.theta,
            stats: &state.stats,
            counts: counts(eval),
            started,
        })
    };
    let mut stop = if observe(observer, &state, eval).is_break() {
        Some(StopReason::Interrupted)
    } else {
        None
    };
    let stop = loop {
        if let Some(reason) = stop {
            break reason;
        }
        let stats = state.stats;
        if stats.sum_norm == F::zero() && !stats.is_degenerate() {
            break StopReason::ExactEquilibrium;
        }
        if let (Some(target), Some(b)) = (limits.target_b, stats.b())
            && b <= target
        {
            break StopReason::TargetReached;
        }
        if limits.floor_steps.is_some_and(|w| floor_run >= w) {
            break StopReason::FloorReached;
        }
        if state.step >= limits.max_steps {
            break StopReason::MaxSteps;
        }
        if limits
            .max_evaluations
            .is_some_and(|m| counts(eval).gradient_equivalents() >= m)
        {
            break StopReason::MaxEvaluations;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break StopReason::TimeLimit;
        }
        let mut ctx = Context {
            eval,
            limits,
            deadline,
            trial_points: 0,
        };
        let outcome = solver.step(&mut ctx, &mut state);
        trial_points += ctx.trial_points;
        state.trial_point = None;
        match outcome {
            Step::Stop(StopReason::LineSearchFailed) if floor_run > 0 => {
                break StopReason::FloorReached;
            }
            Step::Stop(reason) => break reason,
            Step::Accepted => state.step += 1,
        }
        if !all_finite(&state.theta) {
            // A solver may only accept evaluated trials, which are finite; keep the promise
            // that the report's iterate is finite even if one breaks it.
            break StopReason::NonFinite;
        }
        if state.stats.at_floor() {
            floor_run += 1;
            evaluations_to_floor.get_or_insert(counts(eval).gradient_equivalents());
        } else {
            floor_run = 0;
        }
        if observe(observer, &state, eval).is_break() {
            stop = Some(StopReason::Interrupted);
            continue;
        }
        if !limits.inside(&state.theta) {
            break StopReason::Escaped;
        }
        if state.stats.sum_norm < best * (F::one() - limits.stagnation_decrease) {
            best = state.stats.sum_norm;
            since_best = 0;
        } else {
            since_best += 1;
            if limits.stagnation_steps.is_some_and(|w| since_best >= w) {
                break StopReason::Stagnated;
            }
        }
    };
    let mut report = RunReport {
        method: None,
        stop,
        steps: state.step,
        counts: counts(eval),
        trial_points,
        evaluations_to_floor,
        linear_iterations: 0,
        b: state.stats.b(),
        interaction: state.stats.interaction(),
        abs_i_plus_half: state.stats.abs_i_plus_half(),
        sum_norm: state.stats.sum_norm,
        total_loss: state.stats.total_loss,
        floor: state.stats.floor(),
        floor_reached: state.stats.at_floor(),
        gradient_norm_sum: state.stats.gradient_norm_sum,
        max_gradient_norm: state.stats.max_gradient_norm,
        distance: None,
        switched_at: None,
        seconds: started.elapsed().as_secs_f64(),
        theta: state.theta,
    };
    solver.finish(&mut report);
    Ok(report)
}

fn counts_since(now: EvalCounts, then: EvalCounts) -> EvalCounts {
    EvalCounts {
        losses: now.losses - then.losses,
        gradients: now.gradients - then.gradients,
        hvps: now.hvps - then.hvps,
    }
}

/// The first objective whose loss or gradient is not finite at `theta` (0 when `theta` itself
/// is not finite).
pub(crate) fn first_non_finite_objective<F: Real>(
    objectives: &dyn Objectives<F>,
    theta: &[F],
) -> usize {
    if !all_finite(theta) {
        return 0;
    }
    let mut g = vec![F::zero(); objectives.dim()];
    (0..objectives.num_objectives())
        .find(|&i| {
            objectives.gradient(i, theta, &mut g);
            !objectives.loss(i, theta).is_finite() || !all_finite(&g)
        })
        .unwrap_or(0)
}
