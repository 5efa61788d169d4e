//! Descent methods: loss-flow, B-flow (exact or central-difference ∇B) and two-phase, each
//! sized by a [`StepRule`].
//!
//! | rule | step | work per step (gradient-equivalents) |
//! |---|---|---|
//! | [`StepRule::Fixed`] | `θ ← θ − η ∇f` | loss-flow K, B-flow 3K |
//! | [`StepRule::Armijo`] | backtracking along `−∇f` until `f(θ + αd) ≤ f(θ) + c₁ α ∇fᵀd` (loss-flow: approximate Wolfe below the loss's resolution) | + K per trial point |
//! | [`StepRule::Lbfgs`] | L-BFGS direction (memory m, two-loop recursion), the same search from α = 1 | + K per trial point |
//!
//! Every trial point costs K gradients (its gradients are needed anyway if it is accepted,
//! and B cannot be had without them) and is counted. A step never exceeds the run's step
//! cap ([`Limits::max_step`](super::Limits::max_step)).

use super::driver::{Context, Solver, State, Step, Trial};
use super::method::{ArmijoParams, StepRule};
use super::report::RunReport;
use super::stop::StopReason;
use crate::objectives::PointStats;
use crate::real::{Real, dot, norm_l2};

/// The function a descent method decreases.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Objective<F> {
    /// `Σ L_i`, gradient `s`.
    TotalLoss,
    /// `−Σ L_i`, gradient `−s`: ascent on the total loss, toward its maxima.
    NegatedTotalLoss,
    /// B with its exact gradient.
    Balance,
    /// B with ∇B by central differences with step `h`.
    BalanceCentral {
        /// The difference step.
        h: F,
    },
}

impl<F: Real> Objective<F> {
    fn value(&self, stats: &PointStats<F>) -> Option<F> {
        match self {
            Objective::TotalLoss => Some(stats.total_loss),
            Objective::NegatedTotalLoss => Some(-stats.total_loss),
            Objective::Balance | Objective::BalanceCentral { .. } => stats.b(),
        }
    }
}

/// A descent method: its objective, its step rule and the rule's per-run state.
#[derive(Debug, Clone)]
pub struct Descent<F: Real> {
    objective: Objective<F>,
    rule: StepRule<F>,
    /// The next search's first α (warm start).
    alpha: F,
    memory: Option<Memory<F>>,
    grad: Vec<F>,
    dir: Vec<F>,
}

impl<F: Real> Descent<F> {
    /// A descent on `objective` sized by `rule`.
    pub fn new(objective: Objective<F>, rule: StepRule<F>) -> Self {
        let alpha = match &rule {
            StepRule::Armijo(a) => a.initial,
            StepRule::Lbfgs(l) => l.line_search.initial,
            StepRule::Fixed { .. } => F::one(),
        };
        Self {
            objective,
            rule,
            alpha,
            memory: None,
            grad: Vec::new(),
            dir: Vec::new(),
        }
    }

    /// Forgets curvature pairs and warm starts (two-phase calls it at the switch).
    fn reset(&mut self) {
        if let Some(m) = &mut self.memory {
            m.reset();
        }
        self.alpha = match &self.rule {
            StepRule::Armijo(a) => a.initial,
            StepRule::Lbfgs(l) => l.line_search.initial,
            StepRule::Fixed { .. } => F::one(),
        };
    }

    /// `∇f` at θ into `self.grad`.
    fn gradient(
        &mut self,
        ctx: &mut Context<'_, '_, F>,
        state: &mut State<F>,
    ) -> Result<(), StopReason> {
        match self.objective {
            Objective::TotalLoss => {
                ctx.hold_current(state)?;
                self.grad.copy_from_slice(ctx.eval.sum());
            }
            Objective::NegatedTotalLoss => {
                ctx.hold_current(state)?;
                self.grad
                    .iter_mut()
                    .zip(ctx.eval.sum())
                    .for_each(|(g, &s)| *g = -s);
            }
            Objective::Balance => {
                ctx.eval
                    .balance_gradient(state.theta(), state.id(), &mut self.grad)?;
            }
            Objective::BalanceCentral { h } => {
                if state.stats().is_degenerate() {
                    return Err(StopReason::Degenerate);
                }
                ctx.eval
                    .balance_gradient_central(state.theta(), h, &mut self.grad)?;
            }
        }
        Ok(())
    }
}

impl<F: Real> Solver<F> for Descent<F> {
    /// Exact `∇B` takes K HVPs at every iterate.
    fn uses_second_order(&self, _n: usize) -> bool {
        self.objective == Objective::Balance
    }

    /// Starts a run as a new solver would: the initial step, no curvature pairs (the buffers
    /// of an earlier run are reused, so a map's thread runs one solver from start to start).
    fn init(&mut self, n: usize) {
        self.reset();
        fit_zeroed(&mut self.grad, n);
        // A fixed step forms its step in the trial buffer: one n-vector less at large n.
        match self.rule {
            StepRule::Fixed { .. } => self.dir = Vec::new(),
            _ => fit_zeroed(&mut self.dir, n),
        }
        if let StepRule::Lbfgs(l) = &self.rule {
            match &mut self.memory {
                Some(m) if m.n == n && m.capacity() == l.memory => m.reset(),
                _ => self.memory = Some(Memory::new(l.memory, n)),
            }
        }
    }

    fn step(&mut self, ctx: &mut Context<'_, '_, F>, state: &mut State<F>) -> Step {
        if let Err(reason) = self.gradient(ctx, state) {
            return Step::Stop(reason);
        }
        let gnorm = norm_l2(&self.grad);
        if ctx.gradient_converged(gnorm) {
            return Step::Stop(StopReason::GradientTolerance);
        }
        match self.rule {
            StepRule::Fixed { step } => {
                // The step d = −η∇f is formed in the trial buffer, capped, then θ added.
                let (theta, trial) = state.theta_and_trial();
                trial
                    .iter_mut()
                    .zip(&self.grad)
                    .for_each(|(d, &g)| *d = -(step * g));
                ctx.cap_step(trial);
                for (t, &x) in trial.iter_mut().zip(theta) {
                    *t = x + *t;
                }
                match ctx.evaluate_trial(state) {
                    Trial::Unchanged => Step::Stop(StopReason::FixedPoint),
                    Trial::NonFinite => Step::Stop(StopReason::NonFinite),
                    Trial::Evaluated(_) => {
                        state.accept_trial();
                        Step::Accepted
                    }
                }
            }
            StepRule::Armijo(a) => {
                self.dir
                    .iter_mut()
                    .zip(&self.grad)
                    .for_each(|(d, &g)| *d = -g);
                let start = capped_alpha(ctx, self.alpha, gnorm);
                match backtrack(ctx, state, self.objective, &self.dir, &self.grad, start, &a) {
                    Ok(alpha) => {
                        self.alpha = alpha * a.grow;
                        Step::Accepted
                    }
                    Err(reason) => Step::Stop(reason),
                }
            }
            StepRule::Lbfgs(l) => {
                let memory = self
                    .memory
                    .as_mut()
                    .expect("L-BFGS memory allocated in init");
                memory.update(state.theta(), &self.grad);
                let first = memory.len == 0;
                memory.direction(&self.grad, &mut self.dir);
                let slope = dot(&self.dir, &self.grad);
                if slope.is_nan() || slope >= F::zero() {
                    memory.reset();
                    memory.update(state.theta(), &self.grad);
                    self.dir
                        .iter_mut()
                        .zip(&self.grad)
                        .for_each(|(d, &g)| *d = -g);
                }
                let dnorm = norm_l2(&self.dir);
                let start = capped_alpha(ctx, if first { self.alpha } else { F::one() }, dnorm);
                match backtrack(
                    ctx,
                    state,
                    self.objective,
                    &self.dir,
                    &self.grad,
                    start,
                    &l.line_search,
                ) {
                    Ok(alpha) => {
                        if first {
                            self.alpha = alpha * l.line_search.grow;
                        }
                        Step::Accepted
                    }
                    Err(reason) => Step::Stop(reason),
                }
            }
        }
    }
}

/// `alpha`, reduced so that `alpha · dnorm` does not exceed the step cap.
fn capped_alpha<F: Real>(ctx: &Context<'_, '_, F>, alpha: F, dnorm: F) -> F {
    match ctx.max_step() {
        Some(cap) if alpha * dnorm > cap && dnorm > F::zero() => cap / dnorm,
        _ => alpha,
    }
}

/// A trial step too small to move θ: a fixed point when it was the first trial, a failed
/// search when larger trials were evaluated and rejected first.
fn fixed_or_failed(evaluated: usize) -> StopReason {
    if evaluated == 0 {
        StopReason::FixedPoint
    } else {
        StopReason::LineSearchFailed
    }
}

/// Hager & Zhang's δ and σ for the approximate Wolfe test (*SIAM J. Optim.* 16, 2005).
const HZ_DELTA: f64 = 0.1;
const HZ_SIGMA: f64 = 0.9;

/// Armijo backtracking from `alpha` along `dir`; accepts a trial (making it the current
/// iterate) and returns its α. For `Σ L`, once `|Σ L(θ + αd) − Σ L(θ)|` is within rounding
/// (`4ε|Σ L|`), Hager and Zhang's approximate Wolfe test replaces Armijo's: otherwise
/// loss-flow could not get closer than `√ε` to the equilibrium, because `Σ L` changes only
/// quadratically in the distance. A trial where the objective is undefined (B = 0/0) or not
/// finite is rejected like one that does not decrease it.
fn backtrack<F: Real>(
    ctx: &mut Context<'_, '_, F>,
    state: &mut State<F>,
    objective: Objective<F>,
    dir: &[F],
    grad: &[F],
    mut alpha: F,
    a: &ArmijoParams<F>,
) -> Result<F, StopReason> {
    let Some(f0) = objective.value(state.stats()) else {
        return Err(StopReason::Degenerate);
    };
    let slope = dot(grad, dir);
    let mut evaluated = 0;
    for _ in 0..a.max_trials {
        // The next α when this trial is rejected (see `ArmijoParams::interpolate`).
        let mut next = alpha * a.shrink;
        if ctx.time_up() {
            return Err(StopReason::TimeLimit);
        }
        let (theta, trial) = state.theta_and_trial();
        for ((t, &x), &d) in trial.iter_mut().zip(theta).zip(dir) {
            *t = x + alpha * d;
        }
        match ctx.evaluate_trial(state) {
            Trial::Unchanged => return Err(fixed_or_failed(evaluated)),
            Trial::NonFinite => evaluated += 1,
            Trial::Evaluated(stats) => {
                evaluated += 1;
                if let Some(f) = objective.value(&stats) {
                    let unresolved = (f - f0).abs() <= F::lit(4.0) * F::epsilon() * f0.abs();
                    let on_loss = matches!(
                        objective,
                        Objective::TotalLoss | Objective::NegatedTotalLoss
                    );
                    let accept = if unresolved && on_loss {
                        // Below the loss's resolution the Armijo test compares rounding
                        // errors; the approximate Wolfe test uses the gradient at the trial
                        // point instead (free for loss-flow: it is ±s):
                        // (2δ−1)φ'(0) ≥ φ'(α) ≥ σφ'(0).
                        let sign = if objective == Objective::TotalLoss {
                            F::one()
                        } else {
                            -F::one()
                        };
                        let slope_at = sign * dot(ctx.eval.sum(), dir);
                        slope_at <= F::lit(2.0 * HZ_DELTA - 1.0) * slope
                            && slope_at >= F::lit(HZ_SIGMA) * slope
                    } else {
                        f <= f0 + a.c1 * alpha * slope
                    };
                    if accept {
                        state.accept_trial();
                        return Ok(alpha);
                    }
                    let curvature = f - f0 - slope * alpha;
                    if a.interpolate && !(unresolved && on_loss) && curvature > F::zero() {
                        let q = -(slope * alpha * alpha) / (F::lit(2.0) * curvature);
                        if q.is_finite() {
                            next = q.max(F::lit(0.1) * alpha).min(next);
                        }
                    }
                }
            }
        }
        alpha = next;
    }
    Err(StopReason::LineSearchFailed)
}

/// L-BFGS memory, allocated once per run.
#[derive(Debug, Clone)]
struct Memory<F> {
    /// The pairs `s_k`, `y_k`, pair `i` at `[i·n, (i + 1)·n)` (one buffer each: two
    /// allocations per run, not 2m).
    s: Vec<F>,
    y: Vec<F>,
    n: usize,
    rho: Vec<F>,
    alpha: Vec<F>,
    len: usize,
    head: usize,
    /// The previous iterate and its gradient, when `has_prev`.
    prev: (Vec<F>, Vec<F>),
    has_prev: bool,
}

/// `v` as `n` zeros, keeping its allocation.
pub(crate) fn fit_zeroed<F: Real>(v: &mut Vec<F>, n: usize) {
    v.clear();
    v.resize(n, F::zero());
}

impl<F: Real> Memory<F> {
    fn new(m: usize, n: usize) -> Self {
        Self {
            s: vec![F::zero(); m * n],
            y: vec![F::zero(); m * n],
            n,
            rho: vec![F::zero(); m],
            alpha: vec![F::zero(); m],
            len: 0,
            head: 0,
            prev: (vec![F::zero(); n], vec![F::zero(); n]),
            has_prev: false,
        }
    }

    fn reset(&mut self) {
        self.len = 0;
        self.head = 0;
        self.has_prev = false;
    }

    /// The ring index of pair `k` counted from the oldest, `(head + k) mod m` for `k ≤ m`
    /// (by a comparison: the integer division of `%` was most of the two-loop recursion's
    /// index arithmetic).
    fn slot(&self, k: usize) -> usize {
        let i = self.head + k;
        let m = self.capacity();
        if i >= m { i - m } else { i }
    }

    /// The number of pairs it holds at most.
    fn capacity(&self) -> usize {
        self.rho.len()
    }

    fn s(&self, i: usize) -> &[F] {
        &self.s[i * self.n..(i + 1) * self.n]
    }

    fn y(&self, i: usize) -> &[F] {
        &self.y[i * self.n..(i + 1) * self.n]
    }

    /// Adds the pair from the previous iterate to `(theta, grad)` when `sᵀy > 0`.
    fn update(&mut self, theta: &[F], grad: &[F]) {
        if self.has_prev {
            let (pt, pg) = &self.prev;
            let m = self.capacity();
            // Test the pair before storing it: a rejected pair must not overwrite the oldest
            // accepted one (the slot after a full memory).
            let sy = (0..theta.len()).fold(F::zero(), |acc, j| {
                acc + (theta[j] - pt[j]) * (grad[j] - pg[j])
            });
            if sy > F::zero() && sy.is_finite() {
                let slot = self.slot(self.len);
                let at = slot * self.n;
                for j in 0..theta.len() {
                    self.s[at + j] = theta[j] - pt[j];
                    self.y[at + j] = grad[j] - pg[j];
                }
                self.rho[slot] = F::one() / sy;
                if self.len < m {
                    self.len += 1;
                } else {
                    self.head = self.slot(1);
                }
            }
        }
        self.prev.0.copy_from_slice(theta);
        self.prev.1.copy_from_slice(grad);
        self.has_prev = true;
    }

    /// `d = −H g` by the two-loop recursion.
    fn direction(&mut self, grad: &[F], d: &mut [F]) {
        d.iter_mut().zip(grad).for_each(|(q, &g)| *q = g);
        for k in (0..self.len).rev() {
            let i = self.slot(k);
            let a = self.rho[i] * dot(self.s(i), d);
            self.alpha[i] = a;
            d.iter_mut()
                .zip(self.y(i))
                .for_each(|(q, &y)| *q = *q - a * y);
        }
        if self.len > 0 {
            let i = self.slot(self.len - 1);
            let gamma = F::one() / (self.rho[i] * dot(self.y(i), self.y(i)));
            d.iter_mut().for_each(|q| *q = *q * gamma);
        }
        for k in 0..self.len {
            let i = self.slot(k);
            let b = self.rho[i] * dot(self.y(i), d);
            let a = self.alpha[i];
            d.iter_mut()
                .zip(self.s(i))
                .for_each(|(r, &s)| *r = *r + s * (a - b));
        }
        d.iter_mut().for_each(|x| *x = -*x);
    }
}

/// Two-phase: loss-flow until `|I + ½| = B/2 < eps_switch`, then B-flow.
#[derive(Debug, Clone)]
pub struct TwoPhase<F: Real> {
    loss: Descent<F>,
    balance: Descent<F>,
    eps_switch: F,
    switched_at: Option<usize>,
}

impl<F: Real> TwoPhase<F> {
    /// Loss-flow sized by `loss`, B-flow (exact ∇B) sized by `balance`.
    pub fn new(loss: StepRule<F>, balance: StepRule<F>, eps_switch: F) -> Self {
        Self {
            loss: Descent::new(Objective::TotalLoss, loss),
            balance: Descent::new(Objective::Balance, balance),
            eps_switch,
            switched_at: None,
        }
    }
}

impl<F: Real> Solver<F> for TwoPhase<F> {
    fn init(&mut self, n: usize) {
        self.loss.init(n);
        self.balance.init(n);
        self.switched_at = None;
    }

    fn step(&mut self, ctx: &mut Context<'_, '_, F>, state: &mut State<F>) -> Step {
        if self.switched_at.is_none()
            && state
                .stats()
                .abs_i_plus_half()
                .is_some_and(|h| h < self.eps_switch)
        {
            self.switched_at = Some(state.step());
            self.balance.reset();
        }
        if self.switched_at.is_some() {
            self.balance.step(ctx, state)
        } else {
            self.loss.step(ctx, state)
        }
    }

    fn finish(&self, report: &mut RunReport<F>) {
        report.switched_at = self.switched_at;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lbfgs_keeps_its_pairs_when_a_new_pair_is_rejected() {
        // Memory of one pair. (s, y) = (1, 1) gives the inverse-Hessian estimate 1, so the
        // direction for g = 1 is −1. A later pair with sᵀy < 0 must be dropped, not stored.
        let mut m = Memory::<f64>::new(1, 1);
        m.update(&[0.0], &[0.0]);
        m.update(&[1.0], &[1.0]);
        let mut d = [0.0];
        m.direction(&[1.0], &mut d);
        assert_eq!(d, [-1.0]);
        m.update(&[2.0], &[0.5]); // s = 1, y = −0.5: rejected
        m.direction(&[1.0], &mut d);
        assert_eq!(d, [-1.0], "a rejected pair changed the stored curvature");
    }
}
