//! Matrix-free B and ∇B for large n: buffers allocated once, objectives evaluated in
//! parallel.
//!
//! One exact B-flow step needs the K gradients, `s = Σ g_i`, B, and
//! `∇B = (2/Q) Σ_i H_i (s − B g_i)`. [`BalanceWorkspace`] holds every n-vector this takes
//! and reuses them step after step:
//!
//! * K gradient buffers, each overwritten in place by its HVP direction `v_i = s − B g_i`
//!   once s and B are known (the gradients are not needed after that);
//! * `s`;
//! * one accumulator per worker thread for `Σ_i H_i v_i` (objectives are split into as many
//!   contiguous chunks as there are threads, each chunk adding its HVPs into its own
//!   accumulator through [`Objectives::hvp_add`]), reduced into the first.
//!
//! With T threads that is `(K + 1 + T)·n` floats, allocated in [`BalanceWorkspace::new`].
//! Results do not depend on the thread count's scheduling order: chunks are fixed by index and
//! reduced in index order (they do depend on T itself, through the order of summation).

use rayon::prelude::*;

use super::{EvalCounts, Objectives, Undefined};
use crate::balance::{Residual, scaled_residual};
use crate::real::{Real, all_finite, norm_l2, norm_max};

/// B, ||s|| and Q after [`BalanceWorkspace::evaluate`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BalanceScalars<F> {
    /// `B = ||s||²/Q`.
    pub b: F,
    /// `||s||`.
    pub sum_norm: F,
    /// `Q = Σ ||g_i||²` (may under- or overflow; ∇B uses the scaled form).
    pub total_sq_norm: F,
    /// The largest gradient entry `c = max_ij |g_ij|`.
    pub gradient_scale: F,
    /// `Q / c²`.
    pub scaled_sq_norm: F,
    /// `Σ ||g_i||` (the floor is `ε` times this).
    pub gradient_norm_sum: F,
}

/// The most per-thread HVP accumulators a workspace keeps: HVPs run in at most this many
/// parallel chunks, and the memory stays within (K + 1 + 4)·n floats on any machine.
pub const MAX_ACCUMULATORS: usize = 4;

/// What [`BalanceWorkspace::solve_buffers`] lends: `s`, four spare n-vectors and the
/// operator `v ↦ Σ_i H_i v`.
#[derive(Debug)]
pub struct SolveBuffers<'a, F> {
    /// `s = Σ g_i` at the last evaluated point.
    pub sum: &'a [F],
    /// Four spare n-vectors (their contents are undefined on entry).
    pub work: [&'a mut [F]; 4],
    /// `v ↦ Σ_i H_i v`, parallel over objectives.
    pub hvp: SumHvp<'a, F>,
}

/// The Hessian of `Σ L_i` applied to vectors, K HVPs in parallel chunks with the
/// workspace's per-thread accumulators (counted in the workspace's evaluations).
#[derive(Debug)]
pub struct SumHvp<'a, F> {
    partial: &'a mut [Vec<F>],
    counts: &'a mut EvalCounts,
}

impl<'a, F: Real> SumHvp<'a, F> {
    /// Stores a copy of `v` (the iterate before a step) where [`BalanceWorkspace::held`]
    /// finds it after the next [`evaluate`](BalanceWorkspace::evaluate), which does not touch
    /// it, so a step whose new point fails can be taken back exactly.
    pub fn hold(self, v: &[F]) {
        self.partial[0].copy_from_slice(v);
    }

    /// Writes `Σ_i H_i(θ) v` into `out`.
    pub fn apply(&mut self, objectives: &dyn Objectives<F>, theta: &[F], v: &[F], out: &mut [F]) {
        accumulate_hvps(self.partial, objectives, theta, |_| v, F::one());
        self.counts.hvps += objectives.num_objectives() as u64;
        out.copy_from_slice(&self.partial[0]);
    }
}

/// `partial[0] ← scale · Σ_i H_i(θ) v_i`: objectives split into `partial.len()` contiguous
/// chunks by index, each chunk accumulating into its own buffer in parallel (through
/// [`Objectives::hvp_add`]), then reduced into the first buffer in index order.
fn accumulate_hvps<'v, F: Real>(
    partial: &mut [Vec<F>],
    objectives: &dyn Objectives<F>,
    theta: &[F],
    direction: impl Fn(usize) -> &'v [F] + Sync,
    scale: F,
) {
    let k = objectives.num_objectives();
    let per_chunk = k.div_ceil(partial.len());
    partial.par_iter_mut().enumerate().for_each(|(c, acc)| {
        acc.fill(F::zero());
        for i in (c * per_chunk..(c + 1) * per_chunk).take_while(|&i| i < k) {
            objectives.hvp_add(i, theta, direction(i), scale, acc);
        }
    });
    let (first, rest) = partial.split_at_mut(1);
    for other in rest.iter() {
        for (a, &x) in first[0].iter_mut().zip(other) {
            *a = *a + x;
        }
    }
}

/// Reusable buffers for B and the exact ∇B at large n (see the module docs).
#[derive(Debug, Clone)]
pub struct BalanceWorkspace<F> {
    grads: Vec<Vec<F>>,
    /// Extra n-vectors for [`solve_buffers`](Self::solve_buffers) when K < 4, made once.
    extra: Vec<Vec<F>>,
    sum: Vec<F>,
    partial: Vec<Vec<F>>,
    scalars: Option<BalanceScalars<F>>,
    directions_ready: bool,
    counts: EvalCounts,
}

impl<F: Real> BalanceWorkspace<F> {
    /// Buffers for `objectives`, with one accumulator per thread of the current rayon pool.
    pub fn new(objectives: &dyn Objectives<F>) -> Self {
        let n = objectives.dim();
        let k = objectives.num_objectives();
        let threads = rayon::current_num_threads().clamp(1, k.clamp(1, MAX_ACCUMULATORS));
        Self {
            grads: vec![vec![F::zero(); n]; k],
            extra: Vec::new(),
            sum: vec![F::zero(); n],
            partial: vec![vec![F::zero(); n]; threads],
            scalars: None,
            directions_ready: false,
            counts: EvalCounts::default(),
        }
    }

    /// Bytes held by the buffers: `(K + 1 + T)·n·size_of::<F>()`, plus `(4 − K)·n` floats
    /// once [`solve_buffers`](Self::solve_buffers) has been used with K < 4.
    pub fn buffer_bytes(&self) -> usize {
        let n = self.sum.len();
        (self.grads.len() + self.extra.len() + 1 + self.partial.len())
            * n
            * std::mem::size_of::<F>()
    }

    /// Four spare n-vectors and the parallel `Σ_i H_i v` operator, for a matrix-free linear
    /// solve at the point of the last [`evaluate`](Self::evaluate) (a Newton step on
    /// `s = 0`). The spare vectors are the gradient buffers, which a Newton step no longer
    /// needs once s is known; using them invalidates the stored gradients (call `evaluate`
    /// again before [`balance_gradient`](Self::balance_gradient)). Nothing is allocated
    /// unless K < 4, and then only on first use.
    pub fn solve_buffers(&mut self) -> SolveBuffers<'_, F> {
        let n = self.sum.len();
        while self.grads.len() + self.extra.len() < 4 {
            self.extra.push(vec![F::zero(); n]);
        }
        self.scalars = None;
        self.directions_ready = false;
        let mut spare = self.grads.iter_mut().chain(self.extra.iter_mut());
        let mut next = || spare.next().map(Vec::as_mut_slice).unwrap_or_default();
        let work = [next(), next(), next(), next()];
        SolveBuffers {
            sum: &self.sum,
            work,
            hvp: SumHvp {
                partial: &mut self.partial,
                counts: &mut self.counts,
            },
        }
    }

    /// Evaluations so far.
    pub fn counts(&self) -> EvalCounts {
        self.counts
    }

    /// `s = Σ g_i` from the last [`evaluate`](Self::evaluate).
    pub fn sum(&self) -> &[F] {
        &self.sum
    }

    /// The K gradients from the last [`evaluate`](Self::evaluate) (before
    /// [`balance_gradient`](Self::balance_gradient) overwrites them).
    pub fn gradients(&self) -> &[Vec<F>] {
        &self.grads
    }

    /// Computes the K gradients in parallel, s and B.
    ///
    /// # Errors
    /// [`Undefined::NonFinite`] when a gradient entry is NaN or infinite,
    /// [`Undefined::Degenerate`] when every gradient is zero.
    pub fn evaluate(
        &mut self,
        objectives: &dyn Objectives<F>,
        theta: &[F],
    ) -> Result<BalanceScalars<F>, Undefined> {
        self.scalars = None;
        self.directions_ready = false;
        self.grads
            .par_iter_mut()
            .enumerate()
            .for_each(|(i, g)| objectives.gradient(i, theta, g));
        self.counts.gradients += self.grads.len() as u64;
        if !self.grads.par_iter().all(|g| all_finite(g)) {
            return Err(Undefined::NonFinite);
        }
        let sum = &mut self.sum;
        sum.fill(F::zero());
        for g in &self.grads {
            for (s, &x) in sum.iter_mut().zip(g) {
                *s = *s + x;
            }
        }
        let norms: Vec<F> = self.grads.par_iter().map(|g| norm_l2(g)).collect();
        let scale = self.grads.iter().fold(F::zero(), |m, g| m.max(norm_max(g)));
        let sum_norm = norm_l2(sum);
        let (Residual::Defined { b }, scaled_q) = scaled_residual(&norms, sum_norm, scale) else {
            return Err(Undefined::Degenerate);
        };
        let scalars = BalanceScalars {
            b,
            sum_norm,
            total_sq_norm: scaled_q * scale * scale,
            gradient_scale: scale,
            scaled_sq_norm: scaled_q,
            gradient_norm_sum: norms.iter().fold(F::zero(), |a, &x| a + x),
        };
        self.scalars = Some(scalars);
        Ok(scalars)
    }

    /// The exact `∇B` at the point of the last [`evaluate`](Self::evaluate): K HVPs in
    /// parallel, no allocation of n-vectors. Overwrites the stored gradients with the HVP
    /// directions `s − B g_i`.
    ///
    /// # Errors
    /// [`Undefined::Degenerate`] when called without a successful `evaluate` at this point,
    /// [`Undefined::NonFinite`] when an HVP is not finite.
    pub fn balance_gradient(
        &mut self,
        objectives: &dyn Objectives<F>,
        theta: &[F],
    ) -> Result<&[F], Undefined> {
        let scalars = self.scalars.ok_or(Undefined::Degenerate)?;
        // Directions (s − B g_i)/c and the factor 2/((Q/c²)·c): Q itself may under- or
        // overflow, Q/c² cannot (c = the largest gradient entry).
        let scale = scalars.gradient_scale;
        if !self.directions_ready {
            let (b, sum) = (scalars.b, &self.sum);
            self.grads.par_iter_mut().for_each(|g| {
                for (gi, &s) in g.iter_mut().zip(sum) {
                    *gi = (s - b * *gi) / scale;
                }
            });
            self.directions_ready = true;
        }
        let factor = F::lit(2.0) / (scalars.scaled_sq_norm * scale);
        let directions = &self.grads;
        accumulate_hvps(
            &mut self.partial,
            objectives,
            theta,
            |i| &directions[i],
            factor,
        );
        self.counts.hvps += self.grads.len() as u64;
        if all_finite(&self.partial[0]) {
            Ok(&self.partial[0])
        } else {
            Err(Undefined::NonFinite)
        }
    }

    /// What the last step held: the iterate before [`bflow_step`](Self::bflow_step), or what
    /// [`SumHvp::hold`] stored. [`evaluate`](Self::evaluate) leaves it alone.
    pub fn held(&self) -> &[F] {
        &self.partial[0]
    }

    /// One exact B-flow step in place, `θ ← θ − η ∇B`, from the point of the last
    /// [`evaluate`](Self::evaluate); then evaluates the new point.
    ///
    /// # Errors
    /// As [`balance_gradient`](Self::balance_gradient) and [`evaluate`](Self::evaluate). When
    /// the new point fails, θ is restored exactly to the iterate before the step.
    pub fn bflow_step(
        &mut self,
        objectives: &dyn Objectives<F>,
        theta: &mut [F],
        step: F,
    ) -> Result<BalanceScalars<F>, Undefined> {
        self.balance_gradient(objectives, theta)?;
        // Update θ and keep the old iterate in ∇B's buffer, which is not needed after this.
        theta
            .par_iter_mut()
            .zip(self.partial[0].par_iter_mut())
            .for_each(|(t, g)| {
                let old = *t;
                *t = old - step * *g;
                *g = old;
            });
        let result = self.evaluate(objectives, theta);
        if result.is_err() {
            theta.copy_from_slice(&self.partial[0]);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objectives::balance_gradient_at;
    use crate::problems::{MultiTask, MultiTaskParams, builtin};

    #[test]
    fn matches_the_allocating_evaluator() {
        for name in ["e2", "e3", "e4"] {
            let p = builtin::<f64>(name).unwrap();
            let theta: Vec<f64> = (0..p.dim()).map(|j| 0.4 - 0.9 * j as f64).collect();
            let reference = balance_gradient_at(p.objectives.as_ref(), &theta).unwrap();
            let mut ws = BalanceWorkspace::new(p.objectives.as_ref());
            ws.evaluate(p.objectives.as_ref(), &theta).unwrap();
            let g = ws.balance_gradient(p.objectives.as_ref(), &theta).unwrap();
            for (a, b) in g.iter().zip(&reference) {
                assert!(
                    (a - b).abs() <= 1e-13 * b.abs().max(1.0),
                    "{name}: {a} vs {b}"
                );
            }
            assert_eq!(ws.counts().gradients, p.num_objectives() as u64);
            assert_eq!(ws.counts().hvps, p.num_objectives() as u64);
        }
    }

    #[test]
    fn multitask_steps_decrease_b_and_match_across_thread_counts() {
        let params = MultiTaskParams {
            n: 300,
            k: 5,
            seed: 7,
            ..MultiTaskParams::default()
        };
        let mt = MultiTask::<f64>::generate(&params).unwrap();
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| {
                    let mut ws = BalanceWorkspace::new(&mt);
                    let mut theta = vec![0.0; 300];
                    let first = ws.evaluate(&mt, &theta).unwrap().b;
                    let mut last = first;
                    for _ in 0..20 {
                        last = ws.bflow_step(&mt, &mut theta, 0.05).unwrap().b;
                    }
                    (first, last, theta)
                })
        };
        let (first, last, t1) = run(1);
        assert!(last < first, "B {first} → {last}");
        let (_, _, t2) = run(2);
        let diff = t1
            .iter()
            .zip(&t2)
            .fold(0.0_f64, |m, (a, b)| m.max((a - b).abs()));
        assert!(diff < 1e-12, "thread counts disagree by {diff:e}");
    }

    #[test]
    fn degenerate_point_is_reported() {
        let p = crate::problems::Problem::<f64> {
            name: "same".into(),
            description: String::new(),
            objectives: Box::new(crate::problems::Targets::quadratic(vec![
                vec![1.0],
                vec![1.0],
            ])),
            start: vec![1.0],
            region: None,
            equilibria: vec![],
        };
        let mut ws = BalanceWorkspace::new(p.objectives.as_ref());
        assert_eq!(
            ws.evaluate(p.objectives.as_ref(), &[1.0]),
            Err(Undefined::Degenerate)
        );
        assert_eq!(
            ws.balance_gradient(p.objectives.as_ref(), &[1.0]).err(),
            Some(Undefined::Degenerate)
        );
    }
}
