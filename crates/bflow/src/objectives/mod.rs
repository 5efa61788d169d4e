//! Objectives: the trait every problem implements, the derivative back-ends, and the exact
//! gradient of the balance residual.
//!
//! A problem is K objectives `L_1..L_K` on `θ ∈ Rⁿ`. bflow needs from each objective its
//! value, its gradient `g_i` and Hessian-vector products `H_i v`; the [`Objectives`] trait
//! asks for exactly that. There are three ways to supply it:
//!
//! * closed-form problems implement [`Objectives`] directly (see [`crate::problems`]);
//! * or write each loss once as a function generic over the number type and wrap it in
//!   [`AutoDiff`], which gets exact gradients and HVPs by forward-mode automatic
//!   differentiation ([`ad`]);
//! * or write them as expressions in a TOML problem file ([`problem_file`]): exact
//!   derivatives by AD over the parsed tree, and symbolic derivatives evaluated over intervals
//!   so that equilibria can be certified.
//!
//! The [`Evaluator`] turns K gradients and K HVPs into B and its exact gradient
//!
//! ```text
//! ∇B = (2/Q) [H_s s − B Σ_i H_i g_i] = (2/Q) Σ_i H_i (s − B g_i),
//! ```
//!
//! with `s = Σ g_i`, `Q = Σ ||g_i||²`, `H_s = Σ H_i`: one HVP per objective along
//! `v_i = s − B g_i`.

pub mod ad;
pub mod evaluator;
pub mod expr;
pub mod problem_file;

pub use ad::{AdObjectives, AutoDiff};
pub use evaluator::{Evaluator, FLOOR_FACTOR, PointId, PointStats, Undefined, balance_gradient_at};
pub use expr::{Expr, ExprError, ExprScalar, Func};
pub use problem_file::{ExprObjectives, ProblemFile, load_problem, parse_problem};

use crate::interval::Interval;
use crate::real::Real;

/// K objectives on shared parameters `θ ∈ Rⁿ`, with exact first and second-order derivatives.
///
/// Shapes are the caller's responsibility: `theta`, `v`, `grad` and `hvp` have length
/// [`dim`](Objectives::dim) and `i < `[`num_objectives`](Objectives::num_objectives); a
/// mismatch is a bug and may panic. Values may be NaN or infinite: callers check.
pub trait Objectives<F: Real>: Send + Sync {
    /// K, the number of objectives.
    fn num_objectives(&self) -> usize;
    /// n, the number of shared parameters.
    fn dim(&self) -> usize;
    /// `L_i(θ)`.
    fn loss(&self, i: usize, theta: &[F]) -> F;
    /// Writes `g_i = ∇L_i(θ)` into `grad`.
    fn gradient(&self, i: usize, theta: &[F], grad: &mut [F]);
    /// Writes the Hessian-vector product `H_i(θ) v` into `hvp`.
    fn hvp(&self, i: usize, theta: &[F], v: &[F], hvp: &mut [F]);
    /// Adds `scale · H_i(θ) v` to `out`. The default calls [`hvp`](Objectives::hvp) into a
    /// temporary n-vector; problems meant for large n override it to accumulate in place,
    /// which is what lets the [`Evaluator`] run without per-step allocation.
    fn hvp_add(&self, i: usize, theta: &[F], v: &[F], scale: F, out: &mut [F]) {
        let mut tmp = vec![F::zero(); out.len()];
        self.hvp(i, theta, v, &mut tmp);
        for (o, &t) in out.iter_mut().zip(&tmp) {
            *o = *o + scale * t;
        }
    }

    /// Adds `scale · Σ_i H_i(θ) v_i` to `out`, with `v_i = directions[i·n..(i+1)·n]` (K × n,
    /// row-major), objectives in index order. The default calls
    /// [`hvp_add`](Objectives::hvp_add) per objective; back-ends that get every objective's
    /// second derivatives from one pass (compiled expressions at small n) override it. The
    /// exact ∇B takes one such sum per step. Counted as K HVPs.
    fn hvps_add(&self, theta: &[F], directions: &[F], scale: F, out: &mut [F]) {
        hvps_add_per_objective(self, theta, directions, scale, out);
    }

    /// Every loss and every gradient at `theta` in one call: `losses[i] = L_i(θ)` and
    /// `gradients[i·n..(i+1)·n] = g_i(θ)` (K × n, row-major). The default calls
    /// [`loss`](Objectives::loss) and [`gradient`](Objectives::gradient) per objective;
    /// back-ends that get values and gradients from one pass (compiled expressions)
    /// override it. Counted as K losses and K gradients.
    fn losses_and_gradients(&self, theta: &[F], losses: &mut [F], gradients: &mut [F]) {
        let n = self.dim();
        for (i, (l, g)) in losses
            .iter_mut()
            .zip(gradients.chunks_exact_mut(n))
            .enumerate()
        {
            *l = self.loss(i, theta);
            self.gradient(i, theta, g);
        }
    }

    /// The Hessian of `Σ L_i` (the Jacobian of `s = Σ g_i`) at `theta`, dense and row-major
    /// (`out[r·n + c]`, n × n). The default takes `n · K` HVPs along the unit vectors and
    /// symmetrises the result as `(H + Hᵀ)/2`; back-ends with second derivatives at hand
    /// override it. Counted as `n · K` HVPs whatever the back-end. For small n
    /// (classification, dense Newton steps); large problems use HVPs directly.
    fn sum_hessian(&self, theta: &[F], out: &mut [F]) {
        let n = self.dim();
        out.iter_mut().for_each(|x| *x = F::zero());
        let mut unit = vec![F::zero(); n];
        let mut column = vec![F::zero(); n];
        for c in 0..n {
            unit[c] = F::one();
            for i in 0..self.num_objectives() {
                self.hvp(i, theta, &unit, &mut column);
                for r in 0..n {
                    out[r * n + c] = out[r * n + c] + column[r];
                }
            }
            unit[c] = F::zero();
        }
        symmetrize(out, n);
    }

    /// [`losses_and_gradients`](Objectives::losses_and_gradients) and
    /// [`sum_hessian`](Objectives::sum_hessian) at one point in one call, with the same values
    /// bit for bit. The default makes the two calls; back-ends whose Hessian sweep carries the
    /// values and gradients anyway (compiled expressions at small n) override it together
    /// with [`fuses_sum_hessian`](Objectives::fuses_sum_hessian), and a dense Newton trial
    /// point then brings the next step's Hessian with it. Counted as K losses, K gradients
    /// and `n · K` HVPs.
    fn losses_gradients_and_sum_hessian(
        &self,
        theta: &[F],
        losses: &mut [F],
        gradients: &mut [F],
        hessian: &mut [F],
    ) {
        self.losses_and_gradients(theta, losses, gradients);
        self.sum_hessian(theta, hessian);
    }

    /// Whether [`losses_gradients_and_sum_hessian`](Objectives::losses_gradients_and_sum_hessian)
    /// costs much less than its two calls apart (default `false`). Only then does a dense
    /// Newton step evaluate its trial points with their Hessians: a rejected trial's Hessian
    /// is wasted, so with two separate calls the fusion would only add work.
    fn fuses_sum_hessian(&self) -> bool {
        false
    }

    /// The same `Σ L_i` split into finer objectives — the additive terms of each `L_i`
    /// (`a + b − c` into `a`, `b`, `−c`) — where the implementation can see them; `None`
    /// (the default) where it cannot or no objective splits. A map's B-flow searches descend
    /// B of this split: B-flow's reach depends on how `Σ L` is split, and the finest split
    /// in sight does not depend on how its terms were grouped into objectives.
    fn additive_terms(&self) -> Option<&dyn Objectives<F>> {
        None
    }

    /// A rigorous enclosure of `s = Σ_i g_i` over the box `x` (one [`Interval`] per
    /// parameter): every exact value of `s(θ)` for `θ ∈ x` lies in the returned intervals.
    /// `None` (the default) when the objectives cannot enclose their derivatives; then no
    /// equilibrium of theirs can be certified.
    fn enclose_sum_gradient(&self, x: &[Interval]) -> Option<Vec<Interval>> {
        let _ = x;
        None
    }

    /// A rigorous enclosure of the Hessian of `Σ L_i` (the Jacobian of `s`) over the box
    /// `x`, row-major `n × n`. `None` (the default) when not available.
    fn enclose_sum_hessian(&self, x: &[Interval]) -> Option<Vec<Interval>> {
        let _ = x;
        None
    }
}

/// How many derivative evaluations a computation used, per objective evaluated.
///
/// One gradient of one objective counts 1; one HVP of one objective counts 1. For
/// comparisons, one HVP costs about two gradients
/// ([`gradient_equivalents`](EvalCounts::gradient_equivalents)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct EvalCounts {
    /// Loss evaluations `L_i(θ)`.
    pub losses: u64,
    /// Gradient evaluations `g_i(θ)`.
    pub gradients: u64,
    /// Hessian-vector products `H_i(θ) v`.
    pub hvps: u64,
}

impl EvalCounts {
    /// Work in units of one gradient: gradients + 2 × HVPs (losses are not counted).
    pub fn gradient_equivalents(&self) -> u64 {
        self.gradients + 2 * self.hvps
    }
}

/// [`Objectives::hvps_add`] as K calls of [`Objectives::hvp_add`], objectives in index order
/// (the default, and a back-end's fallback where it has no one-pass sum).
pub(crate) fn hvps_add_per_objective<F: Real, O: Objectives<F> + ?Sized>(
    objectives: &O,
    theta: &[F],
    directions: &[F],
    scale: F,
    out: &mut [F],
) {
    let n = objectives.dim();
    for (i, v) in directions
        .chunks_exact(n.max(1))
        .take(objectives.num_objectives())
        .enumerate()
    {
        objectives.hvp_add(i, theta, v, scale, out);
    }
}

/// The Hessian of `Σ L_i` at `theta` as a new row-major `n × n` vector
/// ([`Objectives::sum_hessian`]).
pub fn sum_hessian<F: Real>(objectives: &dyn Objectives<F>, theta: &[F]) -> Vec<F> {
    let n = objectives.dim();
    let mut h = vec![F::zero(); n * n];
    objectives.sum_hessian(theta, &mut h);
    h
}

/// `(H + Hᵀ)/2` in place for a row-major `n × n` matrix: removes rounding asymmetry.
pub fn symmetrize<F: Real>(h: &mut [F], n: usize) {
    let half = F::lit(0.5);
    for r in 0..n {
        for c in r + 1..n {
            let m = half * (h[r * n + c] + h[c * n + r]);
            h[r * n + c] = m;
            h[c * n + r] = m;
        }
    }
}

/// The largest relative difference between each objective's gradient and HVP and their
/// central finite differences at `theta` (step `h`; HVPs along `v`). A derivative checker
/// for objectives users write: agreement to about `h²` (relative to the derivative's scale)
/// means the derivatives are right.
pub fn check_derivatives<F: Real>(objectives: &dyn Objectives<F>, theta: &[F], v: &[F], h: F) -> F {
    let n = objectives.dim();
    let two_h = F::lit(2.0) * h;
    let mut worst = F::zero();
    let mut grad = vec![F::zero(); n];
    let mut gp = vec![F::zero(); n];
    let mut gm = vec![F::zero(); n];
    let mut hv = vec![F::zero(); n];
    let mut probe = theta.to_vec();
    for i in 0..objectives.num_objectives() {
        objectives.gradient(i, theta, &mut grad);
        let scale = grad.iter().fold(F::one(), |m, &x| m.max(x.abs()));
        for j in 0..n {
            probe[j] = theta[j] + h;
            let lp = objectives.loss(i, &probe);
            probe[j] = theta[j] - h;
            let lm = objectives.loss(i, &probe);
            probe[j] = theta[j];
            worst = worst.max(((lp - lm) / two_h - grad[j]).abs() / scale);
        }
        let plus: Vec<F> = theta.iter().zip(v).map(|(&t, &d)| t + h * d).collect();
        let minus: Vec<F> = theta.iter().zip(v).map(|(&t, &d)| t - h * d).collect();
        objectives.gradient(i, &plus, &mut gp);
        objectives.gradient(i, &minus, &mut gm);
        objectives.hvp(i, theta, v, &mut hv);
        let hscale = hv.iter().fold(F::one(), |m, &x| m.max(x.abs()));
        for j in 0..n {
            worst = worst.max(((gp[j] - gm[j]) / two_h - hv[j]).abs() / hscale);
        }
    }
    worst
}
