//! A trust-region Newton method on `s(θ) = Σ_i g_i(θ) = 0`.
//!
//! With `J = Σ_i H_i` (the Hessian of `Σ L_i`, symmetric) the linear model of the residual
//! is `s + J d`. Each step minimises `‖s + J d‖` within the trust region `‖d‖ ≤ Δ` and
//! accepts the trial `θ + d` when the achieved reduction of `‖s‖²` is at least
//! `accept_ratio` times the predicted one, `ρ = (‖s‖² − ‖s(θ + d)‖²)/(‖s‖² − ‖s + J d‖²)`;
//! the radius then grows (ρ > ¾ at the boundary: `Δ ← 2Δ`) or shrinks (ρ < ¼:
//! `Δ ← ‖d‖/4`), and a rejected trial is retried with `Δ ← ‖d‖/4` (Nocedal & Wright,
//! *Numerical Optimization*, Algorithm 4.1, for the model `½‖s + J d‖²`; Moré, *The
//! Levenberg–Marquardt algorithm*, 1978, for its exact solution). Near a nondegenerate zero
//! the full step `−J⁻¹ s` is taken and convergence is quadratic — for minima, saddles and
//! maxima of `Σ L` alike, and whether or not the objectives' gradients vanish there.
//!
//! One algorithm, two ways to do its linear algebra ([`NewtonParams::dense_for`]):
//!
//! * **dense** (n ≤ `dense_max_n`): `J` from n HVP sweeps ([`Objectives::sum_hessian`]),
//!   `J = V Λ Vᵀ`; the unconstrained step is the pseudo-inverse step `−V Λ⁺ Vᵀ s` (eigenvalues
//!   below `singular_tolerance · max|λ|` dropped) and the constrained one the
//!   Levenberg–Marquardt step `d(μ) = −V diag(λ/(λ² + μ)) Vᵀ s` with `‖d(μ)‖ = Δ`, exact for
//!   any radius at `O(n²)` per trial. Up to n = 6 a `J` whose condition number proves that no
//!   eigenvalue would be dropped gives the same step as `−J⁻¹ s` by Gauss–Jordan elimination,
//!   and is decomposed only if the step must be shortened to the radius;
//! * **matrix-free**: truncated [MINRES](crate::linalg::minres()) on `J d = −s` over HVPs,
//!   stopped on the sphere `‖d‖ = Δ` (the Krylov analogue of Steihaug's truncated CG); a
//!   rejected trial is retried along the same direction, shortened.
//!
//! [`Objectives::sum_hessian`]: crate::objectives::Objectives::sum_hessian

use super::descent::fit_zeroed;
use super::driver::{Context, Solver, State, Step, Trial};
use super::method::NewtonParams;
use super::report::RunReport;
use super::stop::StopReason;
use crate::linalg::{MinresStop, SymmetricEigen, minres, symmetric_eigen_into};
use crate::objectives::PointId;
use crate::real::{Real, all_finite, norm_l2};

/// The trust-region Newton solver (see the module docs).
#[derive(Debug, Clone)]
pub struct Newton<F: Real> {
    params: NewtonParams<F>,
    radius: Option<F>,
    dense: bool,
    linear_iterations: usize,
    hessian: Vec<F>,
    /// Dense: the Hessian at the last trial point, evaluated with it; it becomes `hessian`
    /// when the trial is accepted.
    trial_hessian: Vec<F>,
    /// The point whose Hessian `hessian` holds, when it came with an accepted trial.
    hessian_at: Option<PointId>,
    d: Vec<F>,
    jd: Vec<F>,
    /// Dense: the step's memory, reused from step to step (see [`DenseScratch`]).
    dense_scratch: DenseScratch,
}

/// The dense step's `f64` work vectors: `J = V Λ Vᵀ`, `s/‖s‖`, `Vᵀ s/‖s‖`, a vector in the
/// eigenbasis and one in the original basis; `J⁻¹` for the inverse step, and whether `eigen`
/// and `s_hat` are those of the current `J` and `s`.
#[derive(Debug, Clone, Default)]
struct DenseScratch {
    eigen: SymmetricEigen,
    s_unit: Vec<f64>,
    s_hat: Vec<f64>,
    hat: Vec<f64>,
    out: Vec<f64>,
    inverse: Vec<f64>,
    eigen_current: bool,
}

impl DenseScratch {
    fn fit(&mut self, n: usize) {
        for v in [
            &mut self.s_unit,
            &mut self.s_hat,
            &mut self.hat,
            &mut self.out,
        ] {
            v.clear();
            v.resize(n, 0.0);
        }
        self.inverse.clear();
        self.inverse.resize(n * n, 0.0);
        self.eigen_current = false;
    }

    /// `J = V Λ Vᵀ` and `Vᵀ s/‖s‖` of the current step, unless already at hand; `false` when
    /// an entry of `J` is not finite.
    fn decompose<F: Real>(&mut self, hessian: &[F], n: usize) -> bool {
        if !self.eigen_current {
            if !symmetric_eigen_into(hessian, n, &mut self.eigen) {
                return false;
            }
            self.eigen.to_eigenbasis(&self.s_unit, &mut self.s_hat);
            self.eigen_current = true;
        }
        true
    }
}

impl<F: Real> Newton<F> {
    /// A solver with `params`.
    pub fn new(params: NewtonParams<F>) -> Self {
        Self {
            params,
            radius: params.initial_radius,
            dense: true,
            linear_iterations: 0,
            hessian: Vec::new(),
            trial_hessian: Vec::new(),
            hessian_at: None,
            d: Vec::new(),
            jd: Vec::new(),
            dense_scratch: DenseScratch::default(),
        }
    }
}

/// `‖s + τ J d‖² / ‖s‖²` from `s·Jd/‖s‖²` and `‖Jd‖²/‖s‖²`.
fn model_ratio<F: Real>(sjd: F, jdjd: F, tau: F) -> F {
    (F::one() + F::lit(2.0) * tau * sjd + tau * tau * jdjd).max(F::zero())
}

impl<F: Real> Solver<F> for Newton<F> {
    /// Starts a run as a new solver would (the buffers of an earlier run are reused, so a
    /// map's thread runs one solver from start to start).
    fn init(&mut self, n: usize) {
        self.dense = self.params.dense_for(n);
        self.radius = self.params.initial_radius;
        self.linear_iterations = 0;
        let (dense_len, free_len) = if self.dense { (n * n, 0) } else { (0, n) };
        fit_zeroed(&mut self.hessian, dense_len);
        fit_zeroed(&mut self.trial_hessian, dense_len);
        self.hessian_at = None;
        fit_zeroed(&mut self.d, n);
        fit_zeroed(&mut self.jd, free_len);
        if self.dense {
            self.dense_scratch.fit(n);
        }
    }

    fn step(&mut self, ctx: &mut Context<'_, '_, F>, state: &mut State<F>) -> Step {
        if let Err(u) = ctx.hold_current(state) {
            return Step::Stop(u.into());
        }
        let n = state.theta().len();
        let s_norm = state.stats().sum_norm;
        if s_norm == F::zero() {
            // The driver stops at s = 0 unless every gradient vanishes (B is 0/0 there, which
            // stops B-flow); for Newton on s = 0 it is a zero all the same — with K = 1, every
            // zero is one — and s/‖s‖ below would be 0/0.
            return Step::Stop(StopReason::ExactEquilibrium);
        }
        // The unconstrained (or, matrix-free, already truncated) step into `self.d`, its
        // length, and the model ‖s + τ J d‖²/‖s‖² as a function of the step's scale.
        // Dense: J is scaled by 2^(−e_J) when its entries lie near the ends of the float
        // range (a Hessian of 1e−310 has eigenvalues whose inverses overflow); the step is
        // then −(2^(−e_J) J)⁺ s · 2^(−e_J), and `r = ‖s‖ · 2^(−e_J)` takes the place of ‖s‖
        // wherever a step is scaled. r = ‖s‖ for every other J, bit for bit.
        let mut r = s_norm;
        let (full_norm, model) = if self.dense {
            // The Hessian came with the accepted trial that made θ, or is evaluated now.
            if self.hessian_at.take() != Some(state.id()) {
                ctx.eval.sum_hessian(state.theta(), &mut self.hessian);
            }
            let e_j = extreme_exponent(&self.hessian);
            if e_j != 0 {
                let pow2 = |k: i32| F::lit(crate::balance::pow2(k));
                let (k1, k2) = (-e_j / 2, -e_j - (-e_j / 2));
                self.hessian
                    .iter_mut()
                    .for_each(|h| *h = *h * pow2(k1) * pow2(k2));
                r = s_norm * pow2(k1) * pow2(k2);
            }
            let w = &mut self.dense_scratch;
            // Work with s/‖s‖ so that squares neither overflow nor underflow.
            for (u, &x) in w.s_unit.iter_mut().zip(ctx.eval.sum()) {
                *u = (x / s_norm).to_f64_lossy();
            }
            w.eigen_current = false;
            let tol = self.params.singular_tolerance.to_f64_lossy();
            let norm = match inverse_step(w, &self.hessian, n, tol, &mut self.d) {
                Some(norm) => norm,
                None => {
                    if !w.decompose(&self.hessian, n) {
                        return Step::Stop(StopReason::NonFinite);
                    }
                    pseudo_inverse_step(w, self.params.singular_tolerance, &mut self.d)
                }
            };
            (F::lit(norm) * r, Model::Dense)
        } else {
            match self.matrix_free_step(ctx, state) {
                Ok(model) => (norm_l2(&self.d), model),
                Err(reason) => return Step::Stop(reason),
            }
        };
        if self.dense {
            self.d.iter_mut().for_each(|x| *x = *x * r);
        }
        if !full_norm.is_finite() || !all_finite(&self.d) {
            return Step::Stop(StopReason::NonFinite);
        }
        if ctx.step_negligible(state.theta(), &self.d) {
            // Converged as far as θ resolves: take this last step only if it still lowers
            // ‖s‖ (near a simple zero it gains the quadratic convergence of one more step).
            let (theta, trial) = state.theta_and_trial();
            for ((t, &x), &d) in trial.iter_mut().zip(theta).zip(&self.d) {
                *t = x + d;
            }
            return match ctx.evaluate_trial(state) {
                Trial::Evaluated(stats) if stats.sum_norm < s_norm => {
                    state.accept_trial();
                    Step::Accepted
                }
                _ => Step::Stop(StopReason::StepTolerance),
            };
        }
        let max_step = ctx.max_step();
        let cap = |r: F| max_step.map_or(r, |c| r.min(c));
        let mut radius = cap(self.radius.unwrap_or(full_norm));
        if radius.is_nan() || radius <= F::zero() {
            radius = cap(full_norm);
        }
        for evaluated in 0..self.params.max_trials {
            if ctx.time_up() {
                return Step::Stop(StopReason::TimeLimit);
            }
            // The step for this radius, its length and the model's ‖s + J d‖²/‖s‖².
            let (step_norm, predicted_ratio) = match &model {
                Model::Dense => {
                    let w = &mut self.dense_scratch;
                    let (theta, trial) = state.theta_and_trial();
                    let ratio = if full_norm <= radius {
                        for ((t, &x), &d) in trial.iter_mut().zip(theta).zip(&self.d) {
                            *t = x + d;
                        }
                        for (u, &d) in w.out.iter_mut().zip(&self.d) {
                            *u = (d / r).to_f64_lossy();
                        }
                        if w.eigen_current {
                            dense_model_ratio(w)
                        } else {
                            direct_model_ratio(w, &self.hessian, n)
                        }
                    } else {
                        if !w.decompose(&self.hessian, n) {
                            return Step::Stop(StopReason::NonFinite);
                        }
                        lm_step(w, (radius / r).to_f64_lossy());
                        for ((t, &x), &d) in trial.iter_mut().zip(theta).zip(&w.out) {
                            *t = x + F::lit(d) * r;
                        }
                        dense_model_ratio(w)
                    };
                    (full_norm.min(radius), F::lit(ratio))
                }
                Model::Krylov { sjd, jdjd } => {
                    let tau = if full_norm <= radius {
                        F::one()
                    } else {
                        radius / full_norm
                    };
                    let (theta, trial) = state.theta_and_trial();
                    for ((t, &x), &d) in trial.iter_mut().zip(theta).zip(&self.d) {
                        *t = x + tau * d;
                    }
                    (tau * full_norm, model_ratio(*sjd, *jdjd, tau))
                }
            };
            // A dense step's trial brings its Hessian along where the objectives give it from
            // the same sweep: accepted, it is the next step's.
            let fused = matches!(model, Model::Dense) && ctx.eval.fuses_sum_hessian();
            let trial = if fused {
                ctx.evaluate_trial_with_sum_hessian(state, &mut self.trial_hessian)
            } else {
                ctx.evaluate_trial(state)
            };
            let new_norm = match trial {
                Trial::Unchanged => {
                    return Step::Stop(if evaluated == 0 {
                        StopReason::FixedPoint
                    } else {
                        StopReason::LineSearchFailed
                    });
                }
                Trial::NonFinite => None,
                Trial::Evaluated(stats) => Some(stats.sum_norm),
            };
            if let Some(new_norm) = new_norm {
                let achieved = F::one() - (new_norm / s_norm) * (new_norm / s_norm);
                let predicted = F::one() - predicted_ratio;
                let rho = if predicted > F::zero() {
                    achieved / predicted
                } else {
                    F::zero()
                };
                if new_norm < s_norm && (rho >= self.params.accept_ratio || predicted <= F::zero())
                {
                    radius = if rho > F::lit(0.75) && step_norm >= F::lit(0.99) * radius {
                        cap(F::lit(2.0) * radius)
                    } else if rho < F::lit(0.25) {
                        F::lit(0.25) * step_norm
                    } else {
                        radius
                    };
                    self.radius = Some(radius);
                    state.accept_trial();
                    if fused {
                        std::mem::swap(&mut self.hessian, &mut self.trial_hessian);
                        self.hessian_at = Some(state.id());
                    }
                    return Step::Accepted;
                }
            }
            radius = F::lit(0.25) * step_norm;
            if radius.is_nan() || radius <= F::zero() {
                break;
            }
        }
        self.radius = Some(radius);
        Step::Stop(StopReason::LineSearchFailed)
    }

    /// A dense step needs `J` at every iterate (evaluated with the trial that made it, or
    /// at the start).
    fn uses_second_order(&self, n: usize) -> bool {
        self.params.dense_for(n)
    }

    fn finish(&self, report: &mut RunReport<F>) {
        report.linear_iterations = self.linear_iterations;
    }
}

/// What predicts `‖s + J d‖` for a step.
enum Model<F> {
    /// Dense: `J = V Λ Vᵀ` and `Vᵀ s/‖s‖`, in the solver's [`DenseScratch`].
    Dense,
    /// Matrix-free: `s·Jd/‖s‖²` and `‖Jd‖²/‖s‖²` for the direction `d`.
    Krylov { sjd: F, jdjd: F },
}

impl<F: Real> Newton<F> {
    /// Truncated MINRES on `J d = −s` into `self.d`, then `J d` (K more HVPs) for the model.
    fn matrix_free_step(
        &mut self,
        ctx: &mut Context<'_, '_, F>,
        state: &State<F>,
    ) -> Result<Model<F>, StopReason> {
        let theta = state.theta();
        let s_norm = state.stats().sum_norm;
        let deadline = ctx.deadline();
        let mut timed_out = false;
        let info = {
            let (sum, mut work, mut jv) = ctx.eval.work_vectors(6);
            let mut vs = work.vectors.iter_mut();
            let mut next = || vs.next().map(|v| &mut **v).expect("six work vectors");
            let w = [next(), next(), next(), next(), next(), next()];
            minres(
                |v: &[F], out: &mut [F]| {
                    if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                        timed_out = true;
                        out.fill(F::zero());
                        return;
                    }
                    jv.apply(theta, v, out);
                },
                sum,
                &mut self.d,
                self.radius,
                &self.params.minres,
                w,
            )
        };
        self.linear_iterations += info.iterations;
        if timed_out {
            return Err(StopReason::TimeLimit);
        }
        if info.stop == MinresStop::NonFinite {
            return Err(StopReason::NonFinite);
        }
        // MINRES solved J x = s; the step is d = −x.
        self.d.iter_mut().for_each(|x| *x = -*x);
        ctx.eval.sum_hvp(theta, &self.d, &mut self.jd);
        let sum = ctx.eval.sum();
        let (sjd, jdjd) =
            sum.iter()
                .zip(&self.jd)
                .fold((F::zero(), F::zero()), |(a, b), (&s, &j)| {
                    let (s, j) = (s / s_norm, j / s_norm);
                    (a + s * j, b + j * j)
                });
        Ok(Model::Krylov { sjd, jdjd })
    }
}

/// The binary exponent of the largest entry of `m` when it lies outside `[2^−500, 2^500]`
/// (0 otherwise, and for a zero or non-finite matrix).
fn extreme_exponent<F: Real>(m: &[F]) -> i32 {
    let largest = m
        .iter()
        .fold(0.0_f64, |acc, x| acc.max(x.to_f64_lossy().abs()));
    let e = crate::balance::binary_exponent(largest);
    if largest.is_finite() && largest > 0.0 && !(-500..=500).contains(&e) {
        e
    } else {
        0
    }
}

/// The step for `s/‖s‖` as `d = −J⁻¹ s/‖s‖` into `d` (and `J⁻¹` into `w.inverse`), when `J`
/// is so far from singular that the pseudo-inverse step would drop no eigenvalue: `‖J‖_F ·
/// ‖J⁻¹‖_F ≤ 1/(4 · tol)` gives `min|λ| ≥ 1/‖J⁻¹‖_F ≥ 4 · tol · ‖J‖_F ≥ 4 · tol · max|λ|`,
/// so the two steps are the same vector (to rounding). Returns `‖d‖`; `None` (nothing
/// written to `d`) when `n > 6`, `J` is singular or ill-conditioned by that
/// test, or a value is not finite — the eigendecomposition decides then. Gauss–Jordan with
/// partial pivoting costs `O(n³)` like the decomposition, but a fraction of its operations:
/// at `n = 3` it replaces a tridiagonalisation, an implicit QR iteration and a sort at most
/// iterates of a map's searches.
fn inverse_step<F: Real>(
    w: &mut DenseScratch,
    hessian: &[F],
    n: usize,
    tol: f64,
    d: &mut [F],
) -> Option<f64> {
    // n known at compile time, so that the row operations unroll.
    match n {
        1 => inverse_step_n::<1, F>(w, hessian, tol, d),
        2 => inverse_step_n::<2, F>(w, hessian, tol, d),
        3 => inverse_step_3(w, hessian, tol, d),
        4 => inverse_step_n::<4, F>(w, hessian, tol, d),
        5 => inverse_step_n::<5, F>(w, hessian, tol, d),
        6 => inverse_step_n::<6, F>(w, hessian, tol, d),
        _ => None,
    }
}

/// [`inverse_step`] for `n = 3` by the adjugate: `J⁻¹ = adj(J)/det J`, nine 2 × 2 cofactors
/// and one division — a third of Gauss–Jordan's operations and no pivoting. Its error, like
/// Gauss–Jordan's, is of the order of `cond(J)·ε`, and the condition test bounds `cond(J)`
/// by `1/(4 · tol)` before the step is used.
fn inverse_step_3<F: Real>(
    w: &mut DenseScratch,
    hessian: &[F],
    tol: f64,
    d: &mut [F],
) -> Option<f64> {
    // J scaled by the power of two 2^−e that brings its largest entry into [½, 1) (exact),
    // so that the cofactors' products neither overflow nor underflow: J⁻¹ = (2^−e J)⁻¹ 2^−e,
    // and the condition test is the same for both.
    let a: [f64; 9] = std::array::from_fn(|k| hessian[k].to_f64_lossy());
    let largest = a.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let e = crate::balance::binary_exponent(largest);
    let down = crate::balance::pow2(-e);
    if !(largest.is_finite() && largest > 0.0 && down.is_normal()) {
        return None;
    }
    let a = a.map(|x| x * down);
    let norm_j = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    // Cofactors C_ij; adj(J) = Cᵀ.
    let c = [
        a[4] * a[8] - a[5] * a[7],
        a[5] * a[6] - a[3] * a[8],
        a[3] * a[7] - a[4] * a[6],
        a[2] * a[7] - a[1] * a[8],
        a[0] * a[8] - a[2] * a[6],
        a[1] * a[6] - a[0] * a[7],
        a[1] * a[5] - a[2] * a[4],
        a[2] * a[3] - a[0] * a[5],
        a[0] * a[4] - a[1] * a[3],
    ];
    let det = a[0] * c[0] + a[1] * c[1] + a[2] * c[2];
    if det == 0.0 || !det.is_finite() {
        return None;
    }
    let reciprocal = 1.0 / det;
    let mut norm_inv = 0.0f64;
    for i in 0..3 {
        for j in 0..3 {
            let x = c[j * 3 + i] * reciprocal;
            w.inverse[i * 3 + j] = x * down;
            norm_inv += x * x;
        }
    }
    step_from_inverse(w, 3, (norm_j, norm_inv.sqrt(), tol), d)
}

/// [`inverse_step`] for `n = N`: `[J | I]` is held as its two halves `a` and `inv`, each row
/// operation applied to both, entry by entry as on the joined rows.
fn inverse_step_n<const N: usize, F: Real>(
    w: &mut DenseScratch,
    hessian: &[F],
    tol: f64,
    d: &mut [F],
) -> Option<f64> {
    // [J | I] reduced to [I | J⁻¹].
    let mut a = [[0.0f64; N]; N];
    let mut inv = [[0.0f64; N]; N];
    let mut norm_j = 0.0f64;
    for (i, row) in a.iter_mut().enumerate() {
        for (j, x) in row.iter_mut().enumerate() {
            *x = hessian[i * N + j].to_f64_lossy();
            norm_j += *x * *x;
        }
        inv[i][i] = 1.0;
    }
    let norm_j = norm_j.sqrt();
    if !norm_j.is_finite() || norm_j == 0.0 {
        return None;
    }
    for col in 0..N {
        let pivot = (col..N).max_by(|&p, &q| a[p][col].abs().total_cmp(&a[q][col].abs()))?;
        a.swap(col, pivot);
        inv.swap(col, pivot);
        let p = a[col][col];
        if p == 0.0 || !p.is_finite() {
            return None;
        }
        for x in a[col].iter_mut().chain(inv[col].iter_mut()) {
            *x /= p;
        }
        let (pivot_a, pivot_inv) = (a[col], inv[col]);
        for (i, (row, row_inv)) in a.iter_mut().zip(inv.iter_mut()).enumerate() {
            let f = row[col];
            if i != col && f != 0.0 {
                for (x, &y) in row.iter_mut().zip(&pivot_a) {
                    *x -= f * y;
                }
                for (x, &y) in row_inv.iter_mut().zip(&pivot_inv) {
                    *x -= f * y;
                }
            }
        }
    }
    let mut norm_inv = 0.0f64;
    for (i, row) in inv.iter().enumerate() {
        for (j, &x) in row.iter().enumerate() {
            w.inverse[i * N + j] = x;
            norm_inv += x * x;
        }
    }
    step_from_inverse(w, N, (norm_j, norm_inv.sqrt(), tol), d)
}

/// The end of an inverse step: given `‖J‖_F`, `‖J⁻¹‖_F` (of the same scaling of J) and
/// `J⁻¹` in `w.inverse` (n × n), the step `d = −J⁻¹ s/‖s‖` into `w.out` and `d` when the
/// condition test `‖J‖_F ‖J⁻¹‖_F ≤ 1/(4 · tol)` holds and every entry is finite; `‖d‖`.
fn step_from_inverse<F: Real>(
    w: &mut DenseScratch,
    n: usize,
    (norm_j, norm_inv, tol): (f64, f64, f64),
    d: &mut [F],
) -> Option<f64> {
    if !norm_inv.is_finite() || norm_j * norm_inv > 0.25 / tol {
        return None;
    }
    for (o, row) in w.out.iter_mut().zip(w.inverse.chunks_exact(n)) {
        *o = -row.iter().zip(&w.s_unit).map(|(&m, &u)| m * u).sum::<f64>();
    }
    if !w.out.iter().all(|x| x.is_finite()) {
        return None;
    }
    for (d, &x) in d.iter_mut().zip(&w.out) {
        *d = F::lit(x);
    }
    Some(w.out.iter().map(|x| x * x).sum::<f64>().sqrt())
}

/// `‖s + J d‖²/‖s‖²` for the step `d/‖s‖` in `w.out`, from `J` itself: `Σ_i (ŝ_i + (J
/// d)_i)²` with `ŝ = s/‖s‖` (`J` as the step scaled it).
fn direct_model_ratio<F: Real>(w: &DenseScratch, hessian: &[F], n: usize) -> f64 {
    hessian
        .chunks_exact(n)
        .zip(&w.s_unit)
        .map(|(row, &u)| {
            let jd: f64 = row
                .iter()
                .zip(&w.out)
                .map(|(&h, &x)| h.to_f64_lossy() * x)
                .sum();
            (u + jd).powi(2)
        })
        .sum()
}

/// The pseudo-inverse step for `s/‖s‖`, `d = −V Λ⁺ Vᵀ s/‖s‖` (from `w.s_hat = Vᵀ s/‖s‖`),
/// into `d`; returns `‖d‖`.
fn pseudo_inverse_step<F: Real>(w: &mut DenseScratch, tol: F, d: &mut [F]) -> f64 {
    let e = &w.eigen;
    let lmax = e.values.iter().fold(0.0_f64, |m, l| m.max(l.abs()));
    let cut = tol.to_f64_lossy() * lmax;
    for ((o, &h), &l) in w.hat.iter_mut().zip(&w.s_hat).zip(&e.values) {
        *o = if l.abs() > cut && l != 0.0 {
            -h / l
        } else {
            0.0
        };
    }
    e.from_eigenbasis(&w.hat, &mut w.out);
    for (d, &x) in d.iter_mut().zip(&w.out) {
        *d = F::lit(x);
    }
    w.out.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// The Levenberg–Marquardt step for `s/‖s‖`, `d(μ) = −V diag(λ/(λ² + μ)) Vᵀ s/‖s‖` with
/// `‖d(μ)‖ = radius`, into `w.out`: Newton's method on the secular equation
/// `φ(μ) = 1/‖d(μ)‖ − 1/radius`, which is nearly linear in μ (Moré and Sorensen, 1983),
/// inside a bracket on μ that falls back to bisection on `log μ` whenever a Newton iterate
/// leaves it.
fn lm_step(w: &mut DenseScratch, radius: f64) {
    let e = &w.eigen;
    let mu = lm_parameter(&e.values, &w.s_hat, radius);
    for ((o, &h), &l) in w.hat.iter_mut().zip(&w.s_hat).zip(&e.values) {
        *o = -l * h / (l * l + mu);
    }
    e.from_eigenbasis(&w.hat, &mut w.out);
}

/// The μ of [`lm_step`]: `‖d(μ)‖ = radius` to 1e-12 relative, within
/// `[λ²_max·1e-30, λ²_max·1e30]` (the smallest μ of that range when even it gives a step
/// inside the radius).
fn lm_parameter(values: &[f64], s_hat: &[f64], radius: f64) -> f64 {
    // ‖d(μ)‖ and Σ λ²h²/(λ² + μ)³ (= −½ d‖d‖²/dμ).
    let norm_and_slope = |mu: f64| {
        let (sq, cube) = s_hat
            .iter()
            .zip(values)
            .fold((0.0, 0.0), |(sq, cube), (&h, &l)| {
                // One division per eigenvalue: t = λh/(λ² + μ) and t²/(λ² + μ) from 1/(λ² + μ).
                let r = 1.0 / (l * l + mu);
                let t = l * h * r;
                (sq + t * t, cube + t * t * r)
            });
        (sq.sqrt(), cube)
    };
    let lmax = values.iter().fold(0.0_f64, |m, l| m.max(l.abs()));
    let scale = (lmax * lmax).max(f64::MIN_POSITIVE);
    let (mut lo, mut hi) = (scale * 1e-30, scale * 1e30);
    let mut mu = lo;
    for _ in 0..200 {
        let (norm, cube) = norm_and_slope(mu);
        if norm.is_nan() || norm <= radius {
            // Inside the radius (or no step at all): μ is an upper end of the bracket.
            hi = mu;
            if mu == lo || (radius - norm) <= 1e-12 * radius {
                return mu;
            }
        } else {
            lo = mu;
            if (norm - radius) <= 1e-12 * radius {
                return mu;
            }
        }
        // The bracket is closed to 1e-12 relative (ln(hi/lo) < 1e-12, without the logarithm).
        if hi / lo < 1.0 + 1e-12 {
            return hi;
        }
        // φ = 1/‖d‖ − 1/radius, φ' = Σ λ²h²/(λ² + μ)³ / ‖d‖³.
        let phi = 1.0 / norm - 1.0 / radius;
        let slope = cube / (norm * norm * norm);
        let next = mu - phi / slope;
        mu = if next.is_finite() && next > lo && next < hi {
            next
        } else {
            (0.5 * (lo.ln() + hi.ln())).exp()
        };
    }
    hi
}

/// `‖s + J d‖²/‖s‖²` for the step `d/‖s‖` in `w.out`: `Σ_k (ŝ_k + λ_k (Vᵀd)_k)²` (uses
/// `w.hat` for `Vᵀd`).
fn dense_model_ratio(w: &mut DenseScratch) -> f64 {
    w.eigen.to_eigenbasis(&w.out, &mut w.hat);
    w.s_hat
        .iter()
        .zip(&w.hat)
        .zip(&w.eigen.values)
        .map(|((&s, &d), &l)| (s + l * d).powi(2))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::{DenseScratch, inverse_step, lm_parameter, pseudo_inverse_step};
    use proptest::prelude::*;

    /// The inverse step and the pseudo-inverse step of `j` for `s_unit`: `None` when
    /// [`inverse_step`] declines.
    fn both_steps(j: &[f64], s_unit: &[f64]) -> Option<(Vec<f64>, Vec<f64>)> {
        let n = s_unit.len();
        let tol = f64::EPSILON.sqrt();
        let mut w = DenseScratch::default();
        w.fit(n);
        w.s_unit.copy_from_slice(s_unit);
        let mut fast = vec![0.0; n];
        let norm = inverse_step(&mut w, j, n, tol, &mut fast)?;
        assert_eq!(norm, fast.iter().map(|x| x * x).sum::<f64>().sqrt());
        assert!(w.decompose(j, n));
        let mut slow = vec![0.0; n];
        pseudo_inverse_step(&mut w, tol, &mut slow);
        Some((fast, slow))
    }

    #[test]
    fn the_inverse_step_declines_singular_and_ill_conditioned_matrices() {
        // Singular (rank 1), nearly singular (κ = 1e9 > 1/(4√ε)), not finite, empty: the
        // eigendecomposition decides.
        assert!(both_steps(&[1.0, 1.0, 1.0, 1.0], &[0.6, 0.8]).is_none());
        assert!(both_steps(&[1.0, 0.0, 0.0, 1e-9], &[0.6, 0.8]).is_none());
        assert!(both_steps(&[1.0, f64::NAN, f64::NAN, 1.0], &[0.6, 0.8]).is_none());
        assert!(both_steps(&[0.0; 4], &[0.6, 0.8]).is_none());
        // The same in 3 × 3 (the adjugate): rank 2, κ = 1e9.
        let u = [0.6, 0.0, 0.8];
        let rank2 = [1.0, 2.0, 3.0, 2.0, 4.0, 6.0, 3.0, 6.0, 10.0];
        assert!(both_steps(&rank2, &u).is_none());
        let stiff = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1e-9];
        assert!(both_steps(&stiff, &u).is_none());
        // Entries whose cofactors' products would overflow or underflow unscaled.
        for big in [1e200, 1e-200] {
            let m = [2.0, 1.0, 0.0, 1.0, -3.0, 0.5, 0.0, 0.5, 4.0].map(|x| x * big);
            let (fast, slow) = both_steps(&m, &u).unwrap();
            for (a, b) in fast.iter().zip(&slow) {
                assert!((a - b).abs() <= 16.0 * f64::EPSILON * b.abs().max(1.0 / big));
            }
        }
        let (fast, slow) = both_steps(&[2.0, 1.0, 0.0, 1.0, -3.0, 0.5, 0.0, 0.5, 4.0], &u).unwrap();
        for (a, b) in fast.iter().zip(&slow) {
            assert!((a - b).abs() <= 16.0 * f64::EPSILON, "{fast:?} {slow:?}");
        }
        // Indefinite and well conditioned (a saddle's J): −J⁻¹s exactly.
        let (fast, slow) = both_steps(&[2.0, 0.0, 0.0, -4.0], &[0.6, 0.8]).unwrap();
        assert_eq!(fast, [-0.3, 0.2]);
        for (a, b) in fast.iter().zip(&slow) {
            assert!((a - b).abs() <= 4.0 * f64::EPSILON, "{fast:?} {slow:?}");
        }
    }

    proptest! {
        #[test]
        fn the_inverse_step_is_the_pseudo_inverse_step(
            n in 1usize..=6,
            entries in proptest::collection::vec(-1.0f64..1.0, 36),
            s in proptest::collection::vec(-1.0f64..1.0, 6),
            exponent in -200i32..=200,
        ) {
            // Where the inverse step is taken it is the pseudo-inverse step to rounding
            // (relative to κ‖d‖, κ below 1/(4√ε) there).
            let scale = 2f64.powi(exponent);
            let mut j = vec![0.0; n * n];
            for r in 0..n {
                for c in 0..=r {
                    let x = entries[r * 6 + c] * scale;
                    j[r * n + c] = x;
                    j[c * n + r] = x;
                }
            }
            let norm = s[..n].iter().map(|x| x * x).sum::<f64>().sqrt();
            prop_assume!(norm > 1e-3);
            let s_unit: Vec<f64> = s[..n].iter().map(|x| x / norm).collect();
            if let Some((fast, slow)) = both_steps(&j, &s_unit) {
                let size = slow.iter().map(|x| x * x).sum::<f64>().sqrt();
                let diff = fast.iter().zip(&slow).map(|(a, b)| (a - b).powi(2)).sum::<f64>().sqrt();
                prop_assert!(diff <= 1e-6 * size, "{fast:?} vs {slow:?}");
            }
        }
    }

    /// `‖d(μ)‖` of [`lm_parameter`]'s step.
    fn step_norm(values: &[f64], s_hat: &[f64], mu: f64) -> f64 {
        s_hat
            .iter()
            .zip(values)
            .map(|(&h, &l)| (l * h / (l * l + mu)).powi(2))
            .sum::<f64>()
            .sqrt()
    }

    #[test]
    fn lm_parameter_hits_the_radius_with_a_zero_eigenvalue() {
        // λ = 0 contributes nothing; the rest must give ‖d‖ = radius.
        let values = [0.0, 1e-3, 2.0, -5.0];
        let s_hat = [0.5, 0.5, 0.5, 0.5];
        for radius in [1e-6, 1e-2, 1.0, 100.0] {
            let mu = lm_parameter(&values, &s_hat, radius);
            let norm = step_norm(&values, &s_hat, mu);
            assert!(
                (norm - radius).abs() <= 1e-10 * radius,
                "radius {radius}: ‖d‖ {norm}"
            );
        }
        // Beyond the largest step (μ → 0 gives ‖d‖ → 250 here) the smallest μ is returned.
        let mu = lm_parameter(&values, &s_hat, 1e6);
        assert!(step_norm(&values, &s_hat, mu) <= 1e6);
        assert!(mu <= 25.0 * 1e-30 * 1.000_001);
    }

    proptest! {
        #[test]
        fn lm_parameter_solves_the_secular_equation(
            values in proptest::collection::vec(-1e3f64..1e3, 1..6),
            seed in proptest::collection::vec(-1.0f64..1.0, 6),
            log_radius in -8.0f64..2.0,
        ) {
            let s_hat: Vec<f64> = seed[..values.len()].to_vec();
            let radius = 10f64.powf(log_radius);
            let largest = step_norm(&values, &s_hat, 1e-300);
            let mu = lm_parameter(&values, &s_hat, radius);
            let norm = step_norm(&values, &s_hat, mu);
            if largest > radius * (1.0 + 1e-9) {
                prop_assert!((norm - radius).abs() <= 1e-9 * radius,
                    "radius {radius}: ‖d‖ {norm}, μ {mu}");
            } else {
                prop_assert!(norm <= radius * (1.0 + 1e-12));
            }
        }
    }
}
