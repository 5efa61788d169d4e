//! The one evaluator: K losses and gradients, s, B and the exact ∇B at a point, for every n,
//! over buffers allocated once, counting every derivative it takes.
//!
//! An [`Evaluator`] holds the K gradients of the last point it evaluated (`K·n` floats),
//! `s = Σ g_i`, the K losses and norms, and up to [`HVP_CHUNKS`] accumulators for
//! Hessian-vector products. Every flow, every map search and every diagnosis goes through
//! it; nothing else in bflow forms ∇B.
//!
//! **∇B.** With `Q = Σ ‖g_i‖²` and `B = ‖s‖²/Q`,
//!
//! ```text
//! ∇B = (2/Q) [H_s s − B Σ_i H_i g_i] = (2/Q) Σ_i H_i (s − B g_i),
//! ```
//!
//! one HVP per objective along its own direction `v_i = s − B g_i`. It is evaluated as
//! `(2/((Q/c²)·c)) Σ_i H_i ((s − B g_i)/c)` with `c` the largest gradient entry: Q itself
//! under- or overflows for gradients near `1e±170`, `Q/c²` cannot.
//!
//! **Large n, one thread count or many: one answer.** For `n ≥` [`PARALLEL_MIN_N`] the
//! gradients run in parallel over objectives (each writes its own row), s is summed in
//! parallel over fixed blocks of coordinates (each block adds the objectives in index
//! order) and HVPs run in `min(K, HVP_CHUNKS)` fixed chunks of objectives, each chunk
//! accumulating in index order into its own buffer, the chunks then added in index order.
//! Nothing depends on how many threads rayon has, so results are bitwise identical for
//! any thread count. Below the threshold everything is sequential and allocation-free.
//!
//! Memory: `(K + 1 + C)·n` floats with `C = min(K, HVP_CHUNKS)`, plus `2K` scalars, allocated
//! in [`Evaluator::new`] (the accumulators on first use).

use rayon::prelude::*;

use super::{EvalCounts, Objectives};
use crate::balance::{Residual, scaled_residual};
use crate::real::{Real, all_finite, norm_l2, norm_l2_from_squares, norm_max};

/// From this n on, objectives are evaluated in parallel and vectors reduced in parallel
/// blocks (results do not depend on the thread count either way).
pub const PARALLEL_MIN_N: usize = 4096;

/// The number of fixed chunks of objectives whose HVPs run in parallel (each with its own
/// n-vector accumulator); fixed, so that the summation order never depends on the thread
/// count.
pub const HVP_CHUNKS: usize = 4;

/// Block length of parallel reductions over coordinates.
const BLOCK: usize = 1 << 14;

/// Why a quantity could not be formed at a point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Undefined {
    /// Every gradient vanishes (`Q = 0`): B and ∇B are 0/0.
    Degenerate,
    /// A loss, gradient, HVP or the point itself is NaN or infinite.
    NonFinite,
}

/// What is known at an evaluated point: every scalar of the balance, no vectors (those stay
/// in the [`Evaluator`]). Cheap to copy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PointStats<F> {
    /// B, or [`Residual::Degenerate`] where every gradient vanishes.
    pub residual: Residual<F>,
    /// `‖s‖`.
    pub sum_norm: F,
    /// `Σ_i ‖g_i‖`: the scale of the rounding in s (the floor is `ε` times this).
    pub gradient_norm_sum: F,
    /// `max_i ‖g_i‖`.
    pub max_gradient_norm: F,
    /// The largest gradient entry `c = max_ij |g_ij|` (0 where degenerate).
    pub gradient_scale: F,
    /// `Q / c²` (0 where degenerate).
    pub scaled_sq_norm: F,
    /// `Σ_i L_i`.
    pub total_loss: F,
}

impl<F: Real> PointStats<F> {
    /// B, or `None` where degenerate.
    pub fn b(&self) -> Option<F> {
        match self.residual {
            Residual::Defined { b } => Some(b),
            Residual::Degenerate => None,
        }
    }

    /// `I = (B − 1)/2`, or `None` where degenerate.
    pub fn interaction(&self) -> Option<F> {
        self.b().map(|b| (b - F::one()) / F::lit(2.0))
    }

    /// `|I + ½|`, computed as `B/2`; `None` where degenerate.
    pub fn abs_i_plus_half(&self) -> Option<F> {
        self.b().map(|b| b / F::lit(2.0))
    }

    /// True where every gradient is exactly zero.
    pub fn is_degenerate(&self) -> bool {
        matches!(self.residual, Residual::Degenerate)
    }

    /// The floor estimate `ε Σ_i ‖g_i‖`: `‖s‖` cannot be resolved below it. For gradients
    /// below the smallest normal float it is `ε` times that float — one unit in the last
    /// place of a subnormal —, not `ε Σ_i ‖g_i‖`, which would underflow to 0 and make the
    /// floor unreachable.
    pub fn floor(&self) -> F {
        F::epsilon() * self.gradient_norm_sum.max(F::min_positive_value())
    }

    /// `‖s‖ ≤ FLOOR_FACTOR · ε Σ_i ‖g_i‖`: the residual is indistinguishable from zero.
    pub fn at_floor(&self) -> bool {
        self.sum_norm <= F::lit(FLOOR_FACTOR) * self.floor()
    }
}

/// How many times the floor estimate `ε Σ ‖g_i‖` the final `‖s‖` may be and still count as
/// having reached the floating-point floor. The computed `s` carries a rounding error of a
/// few `ε |g_ij|` per component (one rounding per gradient entry and one per addition), so a
/// residual within a small multiple of `ε Σ ‖g_i‖` is indistinguishable from zero.
pub const FLOOR_FACTOR: f64 = 4.0;

/// Identifies the point whose gradients an [`Evaluator`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PointId(u64);

/// The figures of a point that sum or maximise over its objectives (see
/// [`PointStats`]).
#[derive(Debug, Clone, Copy)]
struct Sums<F> {
    /// The largest |entry| of any gradient.
    scale: F,
    /// ‖s‖.
    sum_norm: F,
    /// Σ L_i.
    total_loss: F,
    /// Σ ‖g_i‖.
    norm_sum: F,
    /// max ‖g_i‖.
    norm_max: F,
}

/// Evaluates losses, gradients, B, the exact ∇B and Hessian products of K objectives (see
/// the module docs), counting every evaluation.
pub struct Evaluator<'a, F: Real> {
    objectives: &'a dyn Objectives<F>,
    n: usize,
    k: usize,
    losses: Vec<F>,
    gradients: Vec<F>,
    norms: Vec<F>,
    sum: Vec<F>,
    accumulators: Vec<Vec<F>>,
    direction: Vec<F>,
    held: Option<(PointId, PointStats<F>)>,
    next_id: u64,
    counts: EvalCounts,
    parallel: bool,
    /// Whether [`evaluate`](Evaluator::evaluate) sweeps second order where the objectives
    /// fuse it ([`set_second_order_sweeps`](Evaluator::set_second_order_sweeps)), and the
    /// Hessian such a sweep writes (not used: what is wanted is the sweep the back-end keeps).
    second_order_sweeps: bool,
    unused_hessian: Vec<F>,
}

impl<F: Real> std::fmt::Debug for Evaluator<'_, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Evaluator")
            .field("n", &self.n)
            .field("k", &self.k)
            .field("counts", &self.counts)
            .field("parallel", &self.parallel)
            .finish()
    }
}

impl<'a, F: Real> Evaluator<'a, F> {
    /// An evaluator over `objectives`, with zero counts: `(K + 1)·n` floats now, the HVP
    /// accumulators on first use.
    pub fn new(objectives: &'a dyn Objectives<F>) -> Self {
        let n = objectives.dim();
        let k = objectives.num_objectives();
        Self {
            objectives,
            n,
            k,
            losses: vec![F::zero(); k],
            gradients: vec![F::zero(); k * n],
            norms: vec![F::zero(); k],
            sum: vec![F::zero(); n],
            accumulators: Vec::new(),
            direction: Vec::new(),
            held: None,
            next_id: 0,
            counts: EvalCounts::default(),
            parallel: n >= PARALLEL_MIN_N,
            second_order_sweeps: false,
            unused_hessian: Vec::new(),
        }
    }

    /// Makes [`evaluate`](Self::evaluate) also sweep second derivatives where the objectives
    /// give them from the same sweep ([`fuses_sum_hessian`](Self::fuses_sum_hessian)), for a
    /// solver that asks for Hessians or HVPs at the points it evaluates (a Newton step,
    /// B-flow's `∇B`): a back-end that keeps its last sweep (compiled problem files do, per
    /// thread) then answers those from it instead of sweeping again. The numbers are the same
    /// either way, and so are the [`counts`](Self::counts), which count what was asked for.
    /// Returns the previous setting.
    pub fn set_second_order_sweeps(&mut self, on: bool) -> bool {
        std::mem::replace(&mut self.second_order_sweeps, on)
    }

    /// The objectives evaluated.
    pub fn objectives(&self) -> &'a dyn Objectives<F> {
        self.objectives
    }

    /// n.
    pub fn dim(&self) -> usize {
        self.n
    }

    /// K.
    pub fn num_objectives(&self) -> usize {
        self.k
    }

    /// The evaluations made so far.
    pub fn counts(&self) -> EvalCounts {
        self.counts
    }

    /// Bytes held by the n-vectors (gradients, s, accumulators, scratch).
    pub fn buffer_bytes(&self) -> usize {
        let vectors = self.gradients.len()
            + self.sum.len()
            + self.direction.len()
            + self.accumulators.iter().map(Vec::len).sum::<usize>();
        vectors * std::mem::size_of::<F>()
    }

    /// Evaluates the K losses and gradients at `theta`, then s, the norms and B. Costs K
    /// losses and K gradients. A degenerate point (every gradient zero) is not an error: its
    /// [`PointStats::residual`] says so.
    ///
    /// # Errors
    /// [`Undefined::NonFinite`] when `theta`, a loss or a gradient entry is NaN or infinite:
    /// nothing may stand where a loss is undefined.
    ///
    /// # Panics
    /// When `theta.len() != n` (a bug in the caller).
    #[track_caller]
    pub fn evaluate(&mut self, theta: &[F]) -> Result<(PointStats<F>, PointId), Undefined> {
        if self.second_order_sweeps && self.fuses_sum_hessian() {
            let mut hessian = std::mem::take(&mut self.unused_hessian);
            hessian.resize(self.n * self.n, F::zero());
            let result = self.evaluate_with(theta, Some(&mut hessian), false);
            self.unused_hessian = hessian;
            return result;
        }
        self.evaluate_with(theta, None, false)
    }

    /// Whether the objectives give losses, gradients and the Hessian of `Σ L_i` from one
    /// sweep for much less than apart ([`Objectives::fuses_sum_hessian`]): then
    /// [`evaluate_with_sum_hessian`](Self::evaluate_with_sum_hessian) is worth calling for a
    /// point whose Hessian may be needed (the evaluator's objectives run in parallel at large
    /// n, and then never fuse).
    pub fn fuses_sum_hessian(&self) -> bool {
        !self.parallel && self.objectives.fuses_sum_hessian()
    }

    /// [`evaluate`](Self::evaluate), and the Hessian of `Σ L_i` at `theta` into `hessian`
    /// (n × n, row-major), from one call to
    /// [`Objectives::losses_gradients_and_sum_hessian`]: a Newton trial point that is accepted
    /// brings the next step's Hessian with it. The same values as `evaluate` and
    /// [`sum_hessian`](Self::sum_hessian) apart; counted as both.
    ///
    /// # Errors
    /// As [`evaluate`](Self::evaluate) (the Hessian is then not to be used).
    ///
    /// # Panics
    /// When `theta.len() != n` or `hessian.len() != n²` (a bug in the caller).
    #[track_caller]
    pub fn evaluate_with_sum_hessian(
        &mut self,
        theta: &[F],
        hessian: &mut [F],
    ) -> Result<(PointStats<F>, PointId), Undefined> {
        assert_eq!(hessian.len(), self.n * self.n, "sum_hessian: wrong length");
        self.evaluate_with(theta, Some(hessian), true)
    }

    /// Evaluates at `theta`, with the Hessian of `Σ L_i` into `hessian` when given (counted
    /// as `K·n` HVPs when `count_hessian`).
    #[track_caller]
    fn evaluate_with(
        &mut self,
        theta: &[F],
        hessian: Option<&mut [F]>,
        count_hessian: bool,
    ) -> Result<(PointStats<F>, PointId), Undefined> {
        assert_eq!(theta.len(), self.n, "Evaluator::evaluate: wrong dimension");
        self.held = None;
        if !all_finite(theta) {
            return Err(Undefined::NonFinite);
        }
        let (n, obj) = (self.n, self.objectives);
        if let Some(hessian) = hessian {
            if self.parallel {
                self.losses_and_gradients_parallel(theta);
                obj.sum_hessian(theta, hessian);
            } else {
                obj.losses_gradients_and_sum_hessian(
                    theta,
                    &mut self.losses,
                    &mut self.gradients,
                    hessian,
                );
            }
            if count_hessian {
                self.counts.hvps += (self.k * n) as u64;
            }
        } else if self.parallel {
            self.losses_and_gradients_parallel(theta);
        } else {
            obj.losses_and_gradients(theta, &mut self.losses, &mut self.gradients);
        }
        self.counts.losses += self.k as u64;
        self.counts.gradients += self.k as u64;
        self.stats_of_held_gradients()
    }

    /// Every loss and gradient, objectives in parallel (large n).
    fn losses_and_gradients_parallel(&mut self, theta: &[F]) {
        let (n, obj) = (self.n, self.objectives);
        self.losses
            .par_iter_mut()
            .zip(self.gradients.par_chunks_exact_mut(n))
            .enumerate()
            .for_each(|(i, (l, g))| {
                *l = obj.loss(i, theta);
                obj.gradient(i, theta, g);
            });
    }

    /// s, the norms and B from the losses and gradients just written; holds the point.
    fn stats_of_held_gradients(&mut self) -> Result<(PointStats<F>, PointId), Undefined> {
        let n = self.n;
        let sums = if self.parallel {
            let finite = self
                .gradients
                .par_chunks(BLOCK)
                .all(|c| c.iter().all(|x| x.is_finite()));
            if !finite || !all_finite(&self.losses) {
                return Err(Undefined::NonFinite);
            }
            self.sum_gradients();
            self.norms
                .par_iter_mut()
                .zip(self.gradients.par_chunks_exact(n))
                .for_each(|(m, g)| *m = norm_l2(g));
            // The gradients' scale, the largest |entry| of any of them.
            let scale = self
                .gradients
                .chunks_exact(n.max(1))
                .fold(F::zero(), |m, g| m.max(norm_max(g)));
            self.sums_of_norms(scale)
        } else {
            // n known at compile time for the small n of maps, so that the loops unroll and
            // the passes over the objectives are few (the same operations in the same order).
            match n {
                1 => self.serial_sums::<1>(),
                2 => self.serial_sums::<2>(),
                3 => self.serial_sums::<3>(),
                4 => self.serial_sums::<4>(),
                5 => self.serial_sums::<5>(),
                6 => self.serial_sums::<6>(),
                _ => self.serial_sums::<0>(),
            }
        }?;
        let (residual, scaled_sq_norm) = scaled_residual(&self.norms, sums.sum_norm, sums.scale);
        let stats = PointStats {
            residual,
            sum_norm: sums.sum_norm,
            gradient_norm_sum: sums.norm_sum,
            max_gradient_norm: sums.norm_max,
            gradient_scale: sums.scale,
            scaled_sq_norm,
            total_loss: sums.total_loss,
        };
        let id = PointId(self.next_id);
        self.next_id += 1;
        self.held = Some((id, stats));
        Ok((stats, id))
    }

    /// ‖s‖, `Σ L_i`, `Σ‖g_i‖` and `max ‖g_i‖` once `sum` and `norms` hold s and the norms.
    fn sums_of_norms(&self, scale: F) -> Result<Sums<F>, Undefined> {
        let total_loss = self.losses.iter().fold(F::zero(), |a, &l| a + l);
        if !total_loss.is_finite() {
            return Err(Undefined::NonFinite);
        }
        Ok(Sums {
            scale,
            sum_norm: norm_l2(&self.sum),
            total_loss,
            norm_sum: self.norms.iter().fold(F::zero(), |a, &x| a + x),
            norm_max: self.norms.iter().fold(F::zero(), |a, &x| a.max(x)),
        })
    }

    /// The serial path: each `‖g_i‖` into `norms`, `s` into `sum`, and
    /// [`sums_of_norms`](Self::sums_of_norms)'s figures, in two passes over the objectives —
    /// each sum and maximum formed in the same order from the same terms as there, so the
    /// same numbers. `N` is n when it is one of the small n of maps, known at compile time
    /// so that the loops over a gradient's entries unroll, and 0 for any other n.
    #[inline(always)]
    fn serial_sums<const N: usize>(&mut self) -> Result<Sums<F>, Undefined> {
        let n = if N == 0 { self.n } else { N };
        let rows = || self.gradients.chunks_exact(n.max(1));
        // Each gradient's sum of squares (into `norms` for now) and largest |entry| in one
        // pass: a NaN entry makes the sum NaN, an infinite one the maximum. s is 0 + g_0
        // (−0 becomes +0), then g_1, g_2, … in order, as `sum_gradients` forms it (0 with no
        // objective).
        let sum = &mut self.sum[..n];
        if self.k == 0 {
            sum.fill(F::zero());
        }
        let (mut finite, mut total_loss, mut scale) = (true, F::zero(), F::zero());
        for (i, ((q, g), &l)) in self
            .norms
            .iter_mut()
            .zip(rows())
            .zip(&self.losses)
            .enumerate()
        {
            let (sq, m) = g.iter().fold((F::zero(), F::zero()), |(sq, m), &x| {
                (sq + x * x, m.max(x.abs()))
            });
            *q = sq;
            finite &= !sq.is_nan() && m.is_finite() && l.is_finite();
            scale = scale.max(m);
            total_loss = total_loss + l;
            for (o, &x) in sum.iter_mut().zip(g) {
                *o = if i == 0 { F::zero() + x } else { *o + x };
            }
        }
        if !finite || !total_loss.is_finite() {
            return Err(Undefined::NonFinite);
        }
        let (mut norm_sum, mut top) = (F::zero(), F::zero());
        for (m, g) in self.norms.iter_mut().zip(rows()) {
            *m = norm_l2_from_squares(g, *m);
            norm_sum = norm_sum + *m;
            top = top.max(*m);
        }
        Ok(Sums {
            scale,
            sum_norm: norm_l2(&self.sum),
            total_loss,
            norm_sum,
            norm_max: top,
        })
    }

    /// `s = Σ g_i` in parallel over blocks of coordinates (large n), objectives added in
    /// index order; the serial path forms it in [`serial_sums`](Self::serial_sums).
    fn sum_gradients(&mut self) {
        let (n, k) = (self.n, self.k);
        let grads = &self.gradients;
        let add_block = |start: usize, out: &mut [F]| {
            // 0 + g_0 first, as a zeroed accumulator gives it (a −0 entry becomes +0), without
            // a library call to zero a few entries.
            if k == 0 {
                out.fill(F::zero());
                return;
            }
            let first = &grads[start..start + out.len()];
            for (o, &x) in out.iter_mut().zip(first) {
                *o = F::zero() + x;
            }
            for i in 1..k {
                let g = &grads[i * n + start..i * n + start + out.len()];
                for (o, &x) in out.iter_mut().zip(g) {
                    *o = *o + x;
                }
            }
        };
        self.sum
            .par_chunks_mut(BLOCK)
            .enumerate()
            .for_each(|(b, out)| add_block(b * BLOCK, out));
    }

    /// True when the buffers hold the gradients of point `id`.
    pub fn holds(&self, id: PointId) -> bool {
        self.held.is_some_and(|(h, _)| h == id)
    }

    /// `s = Σ g_i` at the last evaluated point.
    pub fn sum(&self) -> &[F] {
        &self.sum
    }

    /// The K losses at the last evaluated point.
    pub fn losses(&self) -> &[F] {
        &self.losses
    }

    /// `‖g_i‖` at the last evaluated point.
    pub fn gradient_norms(&self) -> &[F] {
        &self.norms
    }

    /// `g_i` at the last evaluated point (`None` after an operation that reused the buffers:
    /// [`balance_gradient`](Self::balance_gradient) and [`work_vectors`](Self::work_vectors)
    /// do).
    pub fn gradient(&self, i: usize) -> Option<&[F]> {
        self.held
            .map(|_| &self.gradients[i * self.n..(i + 1) * self.n])
    }

    /// The K gradients at the last evaluated point, row-major `K × n` (`None` as for
    /// [`gradient`](Self::gradient)).
    pub fn gradients(&self) -> Option<&[F]> {
        self.held.map(|_| self.gradients.as_slice())
    }

    fn ensure_accumulators(&mut self) {
        let chunks = if self.parallel {
            self.k.clamp(1, HVP_CHUNKS)
        } else {
            1
        };
        while self.accumulators.len() < chunks {
            self.accumulators.push(vec![F::zero(); self.n]);
        }
    }

    /// `accumulators[0] ← scale · Σ_i H_i(θ) v_i` with `v_i = direction(i)`, in fixed chunks
    /// (see the module docs).
    fn accumulate_hvps<'v>(
        accumulators: &mut [Vec<F>],
        objectives: &dyn Objectives<F>,
        theta: &[F],
        direction: impl Fn(usize) -> &'v [F] + Sync,
        scale: F,
    ) where
        F: 'v,
    {
        let k = objectives.num_objectives();
        let per_chunk = k.div_ceil(accumulators.len());
        let run = |c: usize, acc: &mut Vec<F>| {
            acc.fill(F::zero());
            for i in (c * per_chunk..(c + 1) * per_chunk).take_while(|&i| i < k) {
                objectives.hvp_add(i, theta, direction(i), scale, acc);
            }
        };
        if accumulators.len() == 1 {
            run(0, &mut accumulators[0]);
            return;
        }
        accumulators
            .par_iter_mut()
            .enumerate()
            .for_each(|(c, acc)| run(c, acc));
        let (first, rest) = accumulators.split_at_mut(1);
        for other in rest.iter() {
            first[0]
                .par_chunks_mut(BLOCK)
                .zip(other.par_chunks(BLOCK))
                .for_each(|(a, o)| {
                    for (a, &x) in a.iter_mut().zip(o) {
                        *a = *a + x;
                    }
                });
        }
    }

    /// Writes the exact `∇B` at the point `id` (evaluated at `theta`) into `out`: K HVPs
    /// along `s − B g_i`. Reuses the gradient buffers for the directions, so the gradients
    /// are gone afterwards (s and the norms stay). When the buffers no longer hold `id`'s
    /// gradients, `theta` is evaluated again first (K more gradients, counted).
    ///
    /// # Errors
    /// [`Undefined::Degenerate`] where every gradient vanishes (∇B is 0/0);
    /// [`Undefined::NonFinite`] when a value is not finite.
    ///
    /// # Panics
    /// When `out.len() != n`.
    #[track_caller]
    pub fn balance_gradient(
        &mut self,
        theta: &[F],
        id: PointId,
        out: &mut [F],
    ) -> Result<(), Undefined> {
        assert_eq!(out.len(), self.n, "balance_gradient: wrong output length");
        let stats = match self.held {
            Some((h, stats)) if h == id => stats,
            _ => self.evaluate(theta)?.0,
        };
        let b = stats.b().ok_or(Undefined::Degenerate)?;
        let scale = stats.gradient_scale;
        // With c = m·2^e (m ∈ [½, 1)), 1/c overflows for a subnormal c and H_i v underflows
        // into subnormals: the directions are multiplied by 2^h₁ and the sum of HVPs by 2^h₂,
        // h₁ + h₂ = −e, each half of the range, and the factor uses m. Powers of two are
        // exact, so for every c whose 1/c is a normal float the result is bit for bit
        // 2/((Q/c²)·c) · Σ H_i v_i.
        let e = crate::balance::binary_exponent(scale.to_f64_lossy());
        let (h1, h2) = (-e / 2, -e - (-e / 2));
        let pow2 = |k: i32| F::lit(crate::balance::pow2(k));
        let mantissa = scale * pow2(h1) * pow2(h2);
        let (pre, post) = (pow2(h1), pow2(h2));
        let n = self.n;
        let sum = &self.sum;
        let to_direction = |g: &mut [F]| {
            for (gi, &s) in g.iter_mut().zip(sum) {
                *gi = (s - b * *gi) / scale * pre;
            }
        };
        if self.parallel {
            self.gradients
                .par_chunks_exact_mut(n)
                .for_each(to_direction);
        } else {
            self.gradients.chunks_exact_mut(n).for_each(to_direction);
        }
        self.held = None;
        self.ensure_accumulators();
        let factor = F::lit(2.0) / (stats.scaled_sq_norm * mantissa);
        let dirs = &self.gradients;
        if self.accumulators.len() == 1 {
            // One call for the whole sum: compiled problems take it from one sweep.
            let acc = &mut self.accumulators[0];
            acc.fill(F::zero());
            self.objectives.hvps_add(theta, dirs, F::one(), acc);
        } else {
            Self::accumulate_hvps(
                &mut self.accumulators,
                self.objectives,
                theta,
                |i| &dirs[i * n..(i + 1) * n],
                F::one(),
            );
        }
        self.counts.hvps += self.k as u64;
        // The factor last, once per entry: Σ_i H_i v_i is formed first, as in the formula.
        for (o, &a) in out.iter_mut().zip(&self.accumulators[0]) {
            *o = a * post * factor;
        }
        if all_finite(out) {
            Ok(())
        } else {
            Err(Undefined::NonFinite)
        }
    }

    /// `out = J v = (Σ_i H_i(θ)) v`, the Jacobian of `s` applied to `v`. Costs K HVPs.
    ///
    /// # Panics
    /// When the lengths differ from n.
    #[track_caller]
    pub fn sum_hvp(&mut self, theta: &[F], v: &[F], out: &mut [F]) {
        assert!(
            v.len() == self.n && out.len() == self.n,
            "sum_hvp: wrong length"
        );
        self.ensure_accumulators();
        Self::accumulate_hvps(
            &mut self.accumulators,
            self.objectives,
            theta,
            |_| v,
            F::one(),
        );
        self.counts.hvps += self.k as u64;
        out.copy_from_slice(&self.accumulators[0]);
    }

    /// The dense Hessian of `Σ L_i` at `theta` into `out` (row-major `n × n`), through
    /// [`Objectives::sum_hessian`]; counted as `n · K` HVPs.
    ///
    /// # Panics
    /// When `out.len() != n²`.
    #[track_caller]
    pub fn sum_hessian(&mut self, theta: &[F], out: &mut [F]) {
        assert_eq!(out.len(), self.n * self.n, "sum_hessian: wrong length");
        self.objectives.sum_hessian(theta, out);
        self.counts.hvps += (self.k * self.n) as u64;
    }

    /// `∇B` by central differences of B with step `h` per coordinate, as the seed computes it:
    /// `2n` evaluations of B, each of K gradients (the buffers then hold the last probe).
    ///
    /// # Errors
    /// [`Undefined::Degenerate`] when B is degenerate at a probe (the seed returned 0 there;
    /// bflow reports it) and [`Undefined::NonFinite`] when a value is not finite.
    pub fn balance_gradient_central(
        &mut self,
        theta: &[F],
        h: F,
        out: &mut [F],
    ) -> Result<(), Undefined> {
        if self.direction.len() != self.n {
            self.direction = vec![F::zero(); self.n];
        }
        let mut probe = std::mem::take(&mut self.direction);
        probe.copy_from_slice(theta);
        let mut result = Ok(());
        for j in 0..self.n {
            probe[j] = theta[j] + h;
            let plus = self.b_at(&probe);
            probe[j] = theta[j] - h;
            let minus = self.b_at(&probe);
            probe[j] = theta[j];
            match (plus, minus) {
                (Ok(p), Ok(m)) => out[j] = (p - m) / (F::lit(2.0) * h),
                (Err(e), _) | (_, Err(e)) => {
                    result = Err(e);
                    break;
                }
            }
        }
        self.direction = probe;
        result?;
        if all_finite(out) {
            Ok(())
        } else {
            Err(Undefined::NonFinite)
        }
    }

    fn b_at(&mut self, theta: &[F]) -> Result<F, Undefined> {
        self.evaluate(theta)?.0.b().ok_or(Undefined::Degenerate)
    }

    /// `s` at the held point, `count` spare n-vectors for a matrix-free solve there, and the
    /// `J v` operator: the gradient buffers (no longer needed once s is known) serve as the
    /// first K spare vectors, the rest are allocated once. Using them discards the held
    /// gradients (s and the norms stay).
    pub fn work_vectors(&mut self, count: usize) -> (&[F], WorkVectors<'_, F>, SumHvp<'_, 'a, F>) {
        let n = self.n;
        if self.k < count {
            let extra = (count - self.k) * n;
            if self.direction.len() < extra {
                self.direction = vec![F::zero(); extra];
            }
        }
        self.held = None;
        self.ensure_accumulators();
        let (grads, extra) = (&mut self.gradients, &mut self.direction);
        let vectors: Vec<&mut [F]> = grads
            .chunks_exact_mut(n.max(1))
            .chain(extra.chunks_exact_mut(n.max(1)))
            .take(count)
            .collect();
        (
            &self.sum,
            WorkVectors { vectors },
            SumHvp {
                objectives: self.objectives,
                accumulators: &mut self.accumulators,
                counts: &mut self.counts,
            },
        )
    }
}

/// Spare n-vectors lent by [`Evaluator::work_vectors`].
#[derive(Debug)]
pub struct WorkVectors<'e, F> {
    /// The vectors (their contents are undefined on entry).
    pub vectors: Vec<&'e mut [F]>,
}

/// `v ↦ (Σ_i H_i(θ)) v` with the evaluator's accumulators, counted (K HVPs per product).
pub struct SumHvp<'e, 'a, F: Real> {
    objectives: &'a dyn Objectives<F>,
    accumulators: &'e mut Vec<Vec<F>>,
    counts: &'e mut EvalCounts,
}

impl<F: Real> SumHvp<'_, '_, F> {
    /// Writes `J v` at `theta` into `out`.
    pub fn apply(&mut self, theta: &[F], v: &[F], out: &mut [F]) {
        Evaluator::accumulate_hvps(self.accumulators, self.objectives, theta, |_| v, F::one());
        self.counts.hvps += self.objectives.num_objectives() as u64;
        out.copy_from_slice(&self.accumulators[0]);
    }
}

/// The exact ∇B at `theta`, with fresh counts (K gradients and K HVPs).
///
/// # Errors
/// As [`Evaluator::evaluate`] and [`Evaluator::balance_gradient`].
pub fn balance_gradient_at<F: Real>(
    objectives: &dyn Objectives<F>,
    theta: &[F],
) -> Result<Vec<F>, Undefined> {
    let mut eval = Evaluator::new(objectives);
    let (_, id) = eval.evaluate(theta)?;
    let mut out = vec![F::zero(); theta.len()];
    eval.balance_gradient(theta, id, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problems::{MultiTask, MultiTaskParams, Targets, builtin};

    fn central(obj: &dyn Objectives<f64>, theta: &[f64]) -> Vec<f64> {
        let mut eval = Evaluator::new(obj);
        let mut out = vec![0.0; theta.len()];
        eval.balance_gradient_central(theta, 1e-5, &mut out)
            .unwrap();
        out
    }

    #[test]
    fn exact_balance_gradient_matches_central_differences() {
        for name in ["e2", "e3", "e4", "himmelblau-split"] {
            let p = builtin::<f64>(name).unwrap();
            let theta: Vec<f64> = (0..p.dim()).map(|j| 0.4 - 0.9 * j as f64).collect();
            let exact = balance_gradient_at(p.objectives.as_ref(), &theta).unwrap();
            let fd = central(p.objectives.as_ref(), &theta);
            let scale = exact.iter().fold(1e-3_f64, |m, x| m.max(x.abs()));
            for (a, b) in exact.iter().zip(&fd) {
                assert!((a - b).abs() <= 1e-6 * scale, "{name}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn counts_and_stats() {
        let p = builtin::<f64>("e3").unwrap();
        let mut eval = Evaluator::new(p.objectives.as_ref());
        let (stats, id) = eval.evaluate(&p.start).unwrap();
        let b = crate::balance::balance(&[
            eval.gradient(0).unwrap().to_vec(),
            eval.gradient(1).unwrap().to_vec(),
            eval.gradient(2).unwrap().to_vec(),
        ])
        .unwrap();
        assert_eq!(stats.b(), b.b());
        assert_eq!(stats.sum_norm, b.sum_norm);
        let total: f64 = (0..3).map(|i| p.objectives.loss(i, &p.start)).sum();
        assert_eq!(stats.total_loss, total);
        let mut g = vec![0.0; 4];
        eval.balance_gradient(&p.start, id, &mut g).unwrap();
        assert!(eval.gradient(0).is_none());
        let c = eval.counts();
        assert_eq!((c.losses, c.gradients, c.hvps), (3, 3, 3));
        // A second ∇B at the same point must re-evaluate (the buffers were reused).
        eval.balance_gradient(&p.start, id, &mut g).unwrap();
        assert_eq!(eval.counts().gradients, 6);
    }

    #[test]
    fn stats_agree_with_the_balance_module_for_every_n() {
        // n = 1 … 6 take the unrolled path, 7 and 9 the general one; the numbers must be those
        // of `balance::balance` and the plain sums over the objectives, bit for bit.
        for n in [1, 2, 3, 4, 5, 6, 7, 9] {
            for k in [2, 5, 8] {
                let targets: Vec<Vec<f64>> = (0..k)
                    .map(|i| {
                        (0..n)
                            .map(|j| ((3 * i + 7 * j) % 11) as f64 * 0.37 - 1.6)
                            .collect()
                    })
                    .collect();
                let objectives = Targets::quadratic(targets);
                let theta: Vec<f64> = (0..n).map(|j| 0.25 - 0.1 * j as f64).collect();
                let mut eval = Evaluator::new(&objectives);
                let (stats, _) = eval.evaluate(&theta).unwrap();
                let grads: Vec<Vec<f64>> =
                    (0..k).map(|i| eval.gradient(i).unwrap().to_vec()).collect();
                let b = crate::balance::balance(&grads).unwrap();
                assert_eq!(stats.b(), b.b(), "n = {n}, K = {k}");
                assert_eq!(stats.sum_norm, b.sum_norm, "n = {n}, K = {k}");
                assert_eq!(eval.sum(), b.sum.as_slice(), "n = {n}, K = {k}");
                let norms: Vec<f64> = grads.iter().map(|g| norm_l2(g)).collect();
                assert_eq!(eval.gradient_norms(), norms.as_slice(), "n = {n}, K = {k}");
                assert_eq!(
                    stats.gradient_norm_sum,
                    norms.iter().fold(0.0, |a, &x| a + x)
                );
                assert_eq!(
                    stats.max_gradient_norm,
                    norms.iter().fold(0.0, |a: f64, &x| a.max(x))
                );
                let total = (0..k).fold(0.0, |a, i| a + objectives.loss(i, &theta));
                assert_eq!(stats.total_loss, total, "n = {n}, K = {k}");
                let scale = grads.iter().fold(0.0, |m: f64, g| m.max(norm_max(g)));
                assert_eq!(stats.gradient_scale, scale, "n = {n}, K = {k}");
                // A gradient that overflows is refused on every path.
                let huge = Targets {
                    weight: 1e308,
                    ..Targets::quadratic(vec![vec![-1e10; n]; k])
                };
                let mut eval = Evaluator::new(&huge);
                assert_eq!(
                    eval.evaluate(&theta).map(|_| ()),
                    Err(Undefined::NonFinite),
                    "n = {n}, K = {k}"
                );
            }
        }
    }

    #[test]
    fn degenerate_and_non_finite_points() {
        let same = Targets::quadratic(vec![vec![1.0], vec![1.0]]);
        let mut eval = Evaluator::new(&same);
        let (stats, id) = eval.evaluate(&[1.0]).unwrap();
        assert!(stats.is_degenerate() && stats.b().is_none());
        let mut g = [0.0];
        assert_eq!(
            eval.balance_gradient(&[1.0], id, &mut g),
            Err(Undefined::Degenerate)
        );
        assert_eq!(
            eval.evaluate(&[f64::NAN]).map(|_| ()),
            Err(Undefined::NonFinite)
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
    }

    #[test]
    fn large_n_is_identical_for_every_thread_count() {
        let params = MultiTaskParams {
            n: 3 * PARALLEL_MIN_N,
            k: 7,
            seed: 5,
            ..MultiTaskParams::default()
        };
        let mt = MultiTask::<f64>::generate(&params).unwrap();
        let theta: Vec<f64> = (0..params.n).map(|j| (j as f64 * 0.37).sin()).collect();
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| {
                    let mut eval = Evaluator::new(&mt);
                    let (stats, id) = eval.evaluate(&theta).unwrap();
                    let mut g = vec![0.0; params.n];
                    eval.balance_gradient(&theta, id, &mut g).unwrap();
                    let mut jv = vec![0.0; params.n];
                    eval.sum_hvp(&theta, &g, &mut jv);
                    (stats, g, jv)
                })
        };
        let one = run(1);
        for threads in [2, 3, 8] {
            assert_eq!(run(threads), one, "{threads} threads");
        }
        // And the parallel path agrees with a sequential reference to rounding.
        let reference = {
            let mut gs = vec![vec![0.0; params.n]; 7];
            for (i, g) in gs.iter_mut().enumerate() {
                mt.gradient(i, &theta, g);
            }
            crate::balance::balance(&gs).unwrap()
        };
        assert!((one.0.b().unwrap() / reference.b().unwrap() - 1.0).abs() < 1e-13);
    }
}

#[cfg(test)]
mod second_order_sweep_tests {
    use super::*;
    use crate::objectives::parse_problem;

    /// Stats, gradients and `∇B` at each point, as bits, with the evaluator's second-order
    /// sweeps `on` or off, and the counts.
    fn run(
        problem: &crate::problems::Problem<f64>,
        on: bool,
        points: &[[f64; 3]],
    ) -> (Vec<u64>, EvalCounts) {
        let mut eval = Evaluator::new(problem.objectives.as_ref());
        assert!(eval.fuses_sum_hessian());
        eval.set_second_order_sweeps(on);
        let mut bits = Vec::new();
        for p in points {
            let (stats, id) = eval.evaluate(p).unwrap();
            bits.extend(
                [stats.sum_norm, stats.gradient_norm_sum, stats.total_loss].map(f64::to_bits),
            );
            bits.extend(eval.gradients().unwrap().iter().map(|x| x.to_bits()));
            let mut grad_b = [0.0; 3];
            eval.balance_gradient(p, id, &mut grad_b).unwrap();
            bits.extend(grad_b.map(f64::to_bits));
        }
        (bits, eval.counts())
    }

    #[test]
    fn second_order_sweeps_change_no_number_and_no_count() {
        let problem = parse_problem(
            r#"
name = "t"
vars = ["x", "y", "z"]
[[objective]]
expr = "-1.2 * exp(-((x - 0.4)^2 + y^2 + (z + 0.3)^2) / 0.8)"
[[objective]]
expr = "2.1 * exp(-((x + 0.5)^2 + (y - 0.2)^2 + z^2) / 1.1)"
[[objective]]
expr = "0.25 * (x^2 + y^2 + z^2)"
"#,
            "t.toml",
        )
        .unwrap();
        // Repeated points too: the second evaluation at a point is answered from the sweep
        // held, and must still give the same numbers.
        let points = [
            [0.1, 0.2, -0.3],
            [0.7, -0.4, 0.5],
            [0.7, -0.4, 0.5],
            [0.1, 0.2, -0.3],
        ];
        let (off, off_counts) = run(&problem, false, &points);
        let (on, on_counts) = run(&problem, true, &points);
        assert_eq!(on, off);
        assert_eq!(on_counts, off_counts);
        assert_eq!(on_counts.hvps, 4 * 3);
    }
}
