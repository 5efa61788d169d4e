//! Step rules: how a flow turns the gradient of its objective into the next iterate.
//!
//! The *objective* of a flow is `Σ L_i` for loss-flow (gradient `s = Σ g_i`) and the balance
//! residual `B` for B-flow (gradient `∇B`, K HVPs). A [`StepRule`] says how far to go:
//!
//! | rule | step | work per step (gradient-equivalents) |
//! |---|---|---|
//! | [`StepRule::Fixed`] | `θ ← θ − η ∇f` with the flow's `η` | loss-flow K, B-flow 3K |
//! | [`StepRule::Armijo`] | backtracking along `−∇f` until `f(θ + αd) ≤ f(θ) + c₁ α ∇fᵀd` (loss-flow: approximate Wolfe below the loss's resolution) | + K per trial point |
//! | [`StepRule::Lbfgs`] | L-BFGS direction (memory m, two-loop recursion), Armijo backtracking from α = 1 | + K per trial point |
//! | [`StepRule::Newton`] | Levenberg–Marquardt on `s(θ) = 0`: `(J² + μI) d = −J s`, `J = Σ H_i` | dense: 2nK + K per trial; matrix-free: 2K + 4K per CG iteration + K per trial |
//!
//! Every trial point costs K gradients (its gradients are needed anyway if it is accepted,
//! and `B` cannot be had without them); all of them are counted in the run's
//! [`EvalCounts`](crate::objectives::EvalCounts).
//!
//! The Newton-type *balance step* ignores which flow is run: `J = Σ H_i` is the Jacobian of
//! `s`, symmetric, so Gauss–Newton on `½||s||²` gives `J² d = −J s`, which is Newton's step
//! `J d = −s` wherever `J` is invertible — for loss-flow too, since `∇ Σ L_i = s`. Damping
//! `μ > 0` keeps `J² + μI` positive definite at saddles of `Σ L_i` and at singular `J`; a
//! trial is accepted when `||s||` decreases (Madsen, Nielsen & Tingleff, *Methods for
//! non-linear least squares problems*, 2004, §3.2). For `n ≤ dense_max_n`, `J` is formed
//! from `n` HVP sweeps ([`sum_hessian`](crate::objectives::sum_hessian)) and the system is
//! solved by Cholesky; above it, by [conjugate gradients](super::cg) on `v ↦ J(Jv) + μv`.

use super::cg::{CgError, CgParams, CgScratch, cholesky_solve_in_place, conjugate_gradient};
use super::{FlowParams, Iterate, Method, StopReason, evaluate};
use crate::error::{Error, Result};
use crate::objectives::BalanceEvaluator;
use crate::real::{Real, dot};

/// How each step is sized (see the [module docs](self)). Default [`StepRule::Fixed`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum StepRule<F> {
    /// The flow's fixed step size (`b_step`, `loss_step / loss_divisor`): the seed's rule.
    #[default]
    Fixed,
    /// Backtracking (Armijo) line search along the negative gradient of the objective.
    Armijo(ArmijoParams<F>),
    /// Limited-memory BFGS on the objective with Armijo backtracking.
    Lbfgs(LbfgsParams<F>),
    /// Levenberg–Marquardt / Gauss–Newton on `s(θ) = 0`, the same for every flow.
    Newton(NewtonParams<F>),
}

impl<F> StepRule<F> {
    /// The rule's short name: `"fixed"`, `"armijo"`, `"lbfgs"`, `"newton-lm"`.
    pub fn name(&self) -> &'static str {
        match self {
            StepRule::Fixed => "fixed",
            StepRule::Armijo(_) => "armijo",
            StepRule::Lbfgs(_) => "lbfgs",
            StepRule::Newton(_) => "newton-lm",
        }
    }
}

impl<F: Real> StepRule<F> {
    /// Armijo with default parameters.
    pub fn armijo() -> Self {
        StepRule::Armijo(ArmijoParams::default())
    }

    /// L-BFGS with default parameters.
    pub fn lbfgs() -> Self {
        StepRule::Lbfgs(LbfgsParams::default())
    }

    /// Levenberg–Marquardt with default parameters.
    pub fn newton() -> Self {
        StepRule::Newton(NewtonParams::default())
    }

    pub(super) fn validate(&self) -> Result<()> {
        match self {
            StepRule::Fixed => Ok(()),
            StepRule::Armijo(a) => a.validate("armijo"),
            StepRule::Lbfgs(l) => l.validate(),
            StepRule::Newton(n) => n.validate(),
        }
    }
}

/// Backtracking line search parameters: the sufficient-decrease (Armijo) condition
/// `f(θ + αd) ≤ f(θ) + c₁ α ∇f(θ)ᵀd`, trying `α, ρα, ρ²α, …`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ArmijoParams<F> {
    /// The first trial α of the run (default 1).
    pub initial: F,
    /// The backtracking factor ρ ∈ (0, 1) (default 0.5).
    pub shrink: F,
    /// After an accepted step the next search starts from `grow · α` (default 2; 1 = start
    /// each search at the last accepted α). L-BFGS always starts at α = 1.
    pub grow: F,
    /// The sufficient-decrease constant c₁ ∈ (0, 1) (default 1e-4).
    pub c1: F,
    /// Trial points per step before the search gives up (default 30).
    pub max_trials: usize,
}

impl<F: Real> Default for ArmijoParams<F> {
    fn default() -> Self {
        Self {
            initial: F::one(),
            shrink: F::lit(0.5),
            grow: F::lit(2.0),
            c1: F::lit(1e-4),
            max_trials: 30,
        }
    }
}

fn invalid(name: String, reason: String) -> Error {
    Error::InvalidParameter { name, reason }
}

impl<F: Real> ArmijoParams<F> {
    fn validate(&self, prefix: &str) -> Result<()> {
        let open01 = |x: F| x.is_finite() && x > F::zero() && x < F::one();
        if !(self.initial.is_finite() && self.initial > F::zero()) {
            return Err(invalid(
                format!("{prefix}.initial"),
                format!("must be finite and > 0, got {}", self.initial),
            ));
        }
        if !open01(self.shrink) {
            return Err(invalid(
                format!("{prefix}.shrink"),
                format!("must be in (0, 1), got {}", self.shrink),
            ));
        }
        if !(self.grow.is_finite() && self.grow >= F::one()) {
            return Err(invalid(
                format!("{prefix}.grow"),
                format!("must be finite and ≥ 1, got {}", self.grow),
            ));
        }
        if !open01(self.c1) {
            return Err(invalid(
                format!("{prefix}.c1"),
                format!("must be in (0, 1), got {}", self.c1),
            ));
        }
        if self.max_trials == 0 {
            return Err(invalid(
                format!("{prefix}.max_trials"),
                "must be ≥ 1".into(),
            ));
        }
        Ok(())
    }
}

/// L-BFGS parameters (Nocedal & Wright, Algorithm 7.4/7.5). A pair `(Δθ, Δ∇f)` is stored
/// only when `Δθᵀ Δ∇f > 0`; a direction that is not a descent direction resets the memory.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LbfgsParams<F> {
    /// How many pairs are kept (default 7).
    pub memory: usize,
    /// The backtracking search; its `initial` is used only for the first step (later steps
    /// start at α = 1, the quasi-Newton step).
    pub line_search: ArmijoParams<F>,
}

impl<F: Real> Default for LbfgsParams<F> {
    fn default() -> Self {
        Self {
            memory: 7,
            line_search: ArmijoParams::default(),
        }
    }
}

impl<F: Real> LbfgsParams<F> {
    fn validate(&self) -> Result<()> {
        if self.memory == 0 || self.memory > MAX_LBFGS_MEMORY {
            return Err(invalid(
                "lbfgs.memory".into(),
                format!("must be in 1..={MAX_LBFGS_MEMORY}, got {}", self.memory),
            ));
        }
        self.line_search.validate("lbfgs.line_search")
    }
}

/// Levenberg–Marquardt parameters for the balance step `(J² + μI) d = −J s`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NewtonParams<F> {
    /// The first damping relative to the scale of `J²`: `μ₀ = damping · max_j (J²)_jj`
    /// (default 1e-10: close to Newton's step from the start).
    pub damping: F,
    /// Factor by which μ grows after a rejected trial and shrinks after an accepted one
    /// (default 10).
    pub damping_factor: F,
    /// Trials (damping increases) per step before giving up (default 30).
    pub max_trials: usize,
    /// Up to this n, `J` is formed densely (n HVP sweeps) and solved by Cholesky; above it the
    /// step is solved matrix-free by CG over HVPs (default 200).
    pub dense_max_n: usize,
    /// The CG solve of the matrix-free step.
    pub cg: CgParams<F>,
}

impl<F: Real> Default for NewtonParams<F> {
    fn default() -> Self {
        Self {
            damping: F::lit(1e-10),
            damping_factor: F::lit(10.0),
            max_trials: 30,
            dense_max_n: 200,
            cg: CgParams {
                rel_tol: F::lit(1e-8),
                max_iters: 200,
                ..CgParams::default()
            },
        }
    }
}

impl<F: Real> NewtonParams<F> {
    fn validate(&self) -> Result<()> {
        if !(self.damping.is_finite() && self.damping > F::zero()) {
            return Err(invalid(
                "newton.damping".into(),
                format!("must be finite and > 0, got {}", self.damping),
            ));
        }
        if !(self.damping_factor.is_finite() && self.damping_factor > F::one()) {
            return Err(invalid(
                "newton.damping_factor".into(),
                format!("must be finite and > 1, got {}", self.damping_factor),
            ));
        }
        if self.max_trials == 0 {
            return Err(invalid("newton.max_trials".into(), "must be ≥ 1".into()));
        }
        self.cg.validate("newton.cg")
    }
}

/// The largest L-BFGS memory accepted: each pair costs 2n floats, allocated at the start.
pub const MAX_LBFGS_MEMORY: usize = 1000;

/// Which objective the current phase descends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// `Σ L_i`, gradient `s`.
    Loss,
    /// `B`, gradient `∇B`.
    Balance,
}

/// What one call of [`Stepper::step`] produced.
pub(super) enum Outcome<F: Real> {
    /// The next iterate, and how many points were evaluated to find it.
    Next(Iterate<F>, usize),
    /// The run must stop; `usize` points were evaluated on the way.
    Stop(StopReason, usize),
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

/// L-BFGS memory, allocated once per run.
struct Memory<F> {
    s: Vec<Vec<F>>,
    y: Vec<Vec<F>>,
    rho: Vec<F>,
    alpha: Vec<F>,
    len: usize,
    head: usize,
    prev: Option<(Vec<F>, Vec<F>)>,
}

impl<F: Real> Memory<F> {
    fn new(m: usize, n: usize) -> Self {
        Self {
            s: vec![vec![F::zero(); n]; m],
            y: vec![vec![F::zero(); n]; m],
            rho: vec![F::zero(); m],
            alpha: vec![F::zero(); m],
            len: 0,
            head: 0,
            prev: None,
        }
    }

    fn reset(&mut self) {
        self.len = 0;
        self.head = 0;
        self.prev = None;
    }

    /// Adds the pair from the previous iterate to `(theta, grad)` when `sᵀy > 0`.
    fn update(&mut self, theta: &[F], grad: &[F]) {
        if let Some((pt, pg)) = &self.prev {
            let m = self.s.len();
            // Test the pair before storing it: a rejected pair must not overwrite the oldest
            // accepted one (the slot after a full memory).
            let sy = (0..theta.len()).fold(F::zero(), |acc, j| {
                acc + (theta[j] - pt[j]) * (grad[j] - pg[j])
            });
            if sy > F::zero() && sy.is_finite() {
                let slot = (self.head + self.len) % m;
                for j in 0..theta.len() {
                    self.s[slot][j] = theta[j] - pt[j];
                    self.y[slot][j] = grad[j] - pg[j];
                }
                self.rho[slot] = F::one() / sy;
                if self.len < m {
                    self.len += 1;
                } else {
                    self.head = (self.head + 1) % m;
                }
            }
        }
        match &mut self.prev {
            Some((pt, pg)) => {
                pt.copy_from_slice(theta);
                pg.copy_from_slice(grad);
            }
            None => self.prev = Some((theta.to_vec(), grad.to_vec())),
        }
    }

    /// `d = −H g` by the two-loop recursion.
    fn direction(&mut self, grad: &[F], d: &mut [F]) {
        let m = self.s.len();
        d.iter_mut().zip(grad).for_each(|(q, &g)| *q = g);
        for k in (0..self.len).rev() {
            let i = (self.head + k) % m;
            let a = self.rho[i] * dot(&self.s[i], d);
            self.alpha[i] = a;
            d.iter_mut()
                .zip(&self.y[i])
                .for_each(|(q, &y)| *q = *q - a * y);
        }
        if self.len > 0 {
            let i = (self.head + self.len - 1) % m;
            let gamma = F::one() / (self.rho[i] * dot(&self.y[i], &self.y[i]));
            d.iter_mut().for_each(|q| *q = *q * gamma);
        }
        for k in 0..self.len {
            let i = (self.head + k) % m;
            let b = self.rho[i] * dot(&self.y[i], d);
            let a = self.alpha[i];
            d.iter_mut()
                .zip(&self.s[i])
                .for_each(|(r, &s)| *r = *r + s * (a - b));
        }
        d.iter_mut().for_each(|x| *x = -*x);
    }
}

/// The per-run state of a step rule: warm-start α, L-BFGS pairs, LM damping and the CG work
/// vectors, all allocated once when the run starts.
pub(super) struct Stepper<F: Real> {
    rule: StepRule<F>,
    alpha: F,
    memory: Option<Memory<F>>,
    mu: Option<F>,
    cg: CgScratch<F>,
    dir: Vec<F>,
    jv: Vec<F>,
}

impl<F: Real> Stepper<F> {
    pub(super) fn new(rule: StepRule<F>, n: usize) -> Self {
        let (alpha, memory, cg_n) = match &rule {
            StepRule::Armijo(a) => (a.initial, None, 0),
            StepRule::Lbfgs(l) => (l.line_search.initial, Some(Memory::new(l.memory, n)), 0),
            StepRule::Newton(p) => (F::one(), None, if n > p.dense_max_n { n } else { 0 }),
            StepRule::Fixed => (F::one(), None, 0),
        };
        Self {
            rule,
            alpha,
            memory,
            mu: None,
            cg: CgScratch::new(cg_n),
            dir: vec![F::zero(); n],
            jv: vec![F::zero(); if cg_n > 0 { n } else { 0 }],
        }
    }

    /// Forgets curvature pairs and warm starts (called when two-phase switches objective).
    pub(super) fn reset(&mut self) {
        if let Some(m) = &mut self.memory {
            m.reset();
        }
        if let StepRule::Armijo(a) | StepRule::Lbfgs(LbfgsParams { line_search: a, .. }) =
            &self.rule
        {
            self.alpha = a.initial;
        }
    }

    /// One step from `current` descending `phase`'s objective.
    pub(super) fn step(
        &mut self,
        eval: &mut BalanceEvaluator<'_, F>,
        current: &Iterate<F>,
        phase: Phase,
        params: &FlowParams<F>,
    ) -> Outcome<F> {
        if let StepRule::Newton(p) = self.rule {
            return self.newton(eval, current, &p);
        }
        let grad = match phase {
            Phase::Loss => current.at.balance.sum.clone(),
            Phase::Balance => {
                let g = if params.method == Method::BFlowCentral {
                    eval.balance_gradient_central(&current.theta, params.central_h)
                } else {
                    eval.balance_gradient(&current.theta, &current.at)
                };
                match g {
                    Ok(g) => g,
                    Err(u) => return Outcome::Stop(u.into(), 0),
                }
            }
        };
        match self.rule {
            StepRule::Fixed => {
                let eta = match phase {
                    Phase::Loss => params.loss_step / params.loss_divisor,
                    Phase::Balance => params.b_step,
                };
                let theta: Vec<F> = current
                    .theta
                    .iter()
                    .zip(&grad)
                    .map(|(&t, &g)| t - eta * g)
                    .collect();
                if theta == current.theta {
                    return Outcome::Stop(StopReason::FixedPoint, 0);
                }
                match evaluate(eval, &theta) {
                    Some(next) => Outcome::Next(next, 1),
                    None => Outcome::Stop(StopReason::NonFinite, 1),
                }
            }
            StepRule::Armijo(a) => {
                self.dir.iter_mut().zip(&grad).for_each(|(d, &g)| *d = -g);
                let out = backtrack(eval, current, phase, &self.dir, &grad, self.alpha, &a);
                if let (Outcome::Next(..), Some(alpha)) = (&out.0, out.1) {
                    self.alpha = alpha * a.grow;
                }
                out.0
            }
            StepRule::Lbfgs(l) => {
                let memory = self
                    .memory
                    .as_mut()
                    .expect("L-BFGS memory allocated in new");
                memory.update(&current.theta, &grad);
                let first = memory.len == 0;
                memory.direction(&grad, &mut self.dir);
                let slope = dot(&self.dir, &grad);
                if slope.is_nan() || slope >= F::zero() {
                    memory.reset();
                    memory.update(&current.theta, &grad);
                    self.dir.iter_mut().zip(&grad).for_each(|(d, &g)| *d = -g);
                }
                let start = if first { self.alpha } else { F::one() };
                let out = backtrack(
                    eval,
                    current,
                    phase,
                    &self.dir,
                    &grad,
                    start,
                    &l.line_search,
                );
                if let (Outcome::Next(..), Some(alpha), true) = (&out.0, out.1, first) {
                    self.alpha = alpha * l.line_search.grow;
                }
                out.0
            }
            StepRule::Newton(_) => unreachable!("handled above"),
        }
    }

    /// One Levenberg–Marquardt step on `s(θ) = 0`.
    fn newton(
        &mut self,
        eval: &mut BalanceEvaluator<'_, F>,
        current: &Iterate<F>,
        p: &NewtonParams<F>,
    ) -> Outcome<F> {
        let n = current.theta.len();
        let s = &current.at.balance.sum;
        let dense = n <= p.dense_max_n;
        // Dense: J² and −J s, formed once per step and reused by every trial.
        let (j2, rhs, scale) = if dense {
            let j = eval.sum_hessian(&current.theta);
            if !j.iter().all(|x| x.is_finite()) {
                return Outcome::Stop(StopReason::NonFinite, 0);
            }
            let mut j2 = vec![F::zero(); n * n];
            for r in 0..n {
                for c in r..n {
                    let v = (0..n).fold(F::zero(), |acc, k| acc + j[r * n + k] * j[k * n + c]);
                    j2[r * n + c] = v;
                    j2[c * n + r] = v;
                }
            }
            let rhs: Vec<F> = (0..n)
                .map(|r| -(0..n).fold(F::zero(), |acc, k| acc + j[r * n + k] * s[k]))
                .collect();
            let scale = (0..n).fold(F::zero(), |m, r| m.max(j2[r * n + r]));
            (j2, rhs, scale)
        } else {
            let mut rhs = vec![F::zero(); n];
            eval.sum_hvp(&current.theta, s, &mut rhs);
            rhs.iter_mut().for_each(|x| *x = -*x);
            // ||J s||² / ||s||² ≤ λ_max(J²): a cheap scale for μ.
            let ss = dot(s, s);
            let scale = if ss > F::zero() {
                dot(&rhs, &rhs) / ss
            } else {
                F::one()
            };
            (Vec::new(), rhs, scale)
        };
        if !rhs.iter().all(|x| x.is_finite()) {
            return Outcome::Stop(StopReason::NonFinite, 0);
        }
        let tiny = F::min_positive_value().sqrt();
        let floor_mu = (p.damping * scale).max(tiny);
        let mut mu = self.mu.unwrap_or(floor_mu).max(floor_mu);
        let mut evaluated = 0;
        for _ in 0..p.max_trials {
            let d = if dense {
                let mut a = j2.clone();
                for r in 0..n {
                    a[r * n + r] = a[r * n + r] + mu;
                }
                let mut d = rhs.clone();
                if cholesky_solve_in_place(&mut a, &mut d).is_err() {
                    mu = mu * p.damping_factor;
                    continue;
                }
                d
            } else {
                let mut d = vec![F::zero(); n];
                let theta = &current.theta;
                let jv = &mut self.jv;
                let res = conjugate_gradient(
                    |v: &[F], out: &mut [F]| {
                        eval.sum_hvp(theta, v, jv);
                        eval.sum_hvp(theta, jv, out);
                        out.iter_mut().zip(v).for_each(|(o, &x)| *o = *o + mu * x);
                    },
                    &rhs,
                    &mut d,
                    &p.cg,
                    &mut self.cg,
                );
                match res {
                    Ok(_) | Err(CgError::NoConvergence { .. }) => d,
                    Err(CgError::NonPositiveCurvature { .. }) => {
                        mu = mu * p.damping_factor;
                        continue;
                    }
                    Err(_) => return Outcome::Stop(StopReason::NonFinite, evaluated),
                }
            };
            let theta: Vec<F> = current.theta.iter().zip(&d).map(|(&t, &x)| t + x).collect();
            if theta == current.theta {
                return Outcome::Stop(fixed_or_failed(evaluated), evaluated);
            }
            evaluated += 1;
            if let Some(next) = evaluate(eval, &theta)
                && next.at.balance.sum_norm < current.at.balance.sum_norm
            {
                self.mu = Some((mu / p.damping_factor).max(floor_mu));
                return Outcome::Next(next, evaluated);
            }
            mu = mu * p.damping_factor;
        }
        self.mu = Some(mu);
        Outcome::Stop(StopReason::LineSearchFailed, evaluated)
    }
}

/// The objective value of the phase at an iterate.
fn value<F: Real>(it: &Iterate<F>, phase: Phase) -> Option<F> {
    match phase {
        Phase::Loss => Some(it.total_loss),
        Phase::Balance => it.at.balance.b(),
    }
}

/// Hager & Zhang's δ and σ for the approximate Wolfe test (*SIAM J. Optim.* 16, 2005).
const HZ_DELTA: f64 = 0.1;
const HZ_SIGMA: f64 = 0.9;

/// Armijo backtracking from `alpha` along `dir`. For loss-flow, once `|Σ L(θ + αd) − Σ L(θ)|`
/// is within rounding (`4ε|Σ L|`), the approximate Wolfe test replaces Armijo's: otherwise
/// loss-flow could not get closer than `√ε` to the equilibrium, because `Σ L` changes only
/// quadratically in the distance. Returns the outcome and the accepted α.
fn backtrack<F: Real>(
    eval: &mut BalanceEvaluator<'_, F>,
    current: &Iterate<F>,
    phase: Phase,
    dir: &[F],
    grad: &[F],
    mut alpha: F,
    a: &ArmijoParams<F>,
) -> (Outcome<F>, Option<F>) {
    let Some(f0) = value(current, phase) else {
        return (Outcome::Stop(StopReason::Degenerate, 0), None);
    };
    let slope = dot(grad, dir);
    let mut evaluated = 0;
    for _ in 0..a.max_trials {
        let theta: Vec<F> = current
            .theta
            .iter()
            .zip(dir)
            .map(|(&t, &d)| t + alpha * d)
            .collect();
        if theta == current.theta {
            return (Outcome::Stop(fixed_or_failed(evaluated), evaluated), None);
        }
        evaluated += 1;
        if let Some(next) = evaluate(eval, &theta)
            && let Some(f) = value(&next, phase)
        {
            let unresolved = (f - f0).abs() <= F::lit(4.0) * F::epsilon() * f0.abs();
            let accept = if unresolved && phase == Phase::Loss {
                // Below the loss's resolution the Armijo test compares rounding errors;
                // Hager & Zhang's approximate Wolfe test uses the gradient at the trial
                // point instead (free for loss-flow: it is s): (2δ−1)φ'(0) ≥ φ'(α) ≥ σφ'(0).
                let slope_at = dot(&next.at.balance.sum, dir);
                slope_at <= F::lit(2.0 * HZ_DELTA - 1.0) * slope
                    && slope_at >= F::lit(HZ_SIGMA) * slope
            } else {
                f <= f0 + a.c1 * alpha * slope
            };
            if accept {
                return (Outcome::Next(next, evaluated), Some(alpha));
            }
        }
        alpha = alpha * a.shrink;
    }
    (Outcome::Stop(StopReason::LineSearchFailed, evaluated), None)
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
