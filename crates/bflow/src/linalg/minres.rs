//! MINRES for a symmetric operator given only as `v ↦ A v`, optionally truncated at a radius.
//!
//! MINRES (Paige & Saunders, *SIAM J. Numer. Anal.* 12, 1975) builds the Lanczos basis of
//! the Krylov spaces `K_k(A, b)` and takes `x_k` minimising `‖b − A x‖` over each: it needs
//! `A` symmetric only — indefinite and singular operators are fine (for an inconsistent
//! system it returns a least-squares solution). Each iteration costs one product and `O(n)`
//! vector work; for a definite `A` the residual falls like CG's, `2((√κ − 1)/(√κ + 1))^k`.
//! The recurrences follow the SOL implementation (`minres.m`, Saunders, without a
//! preconditioner).
//!
//! **Truncation.** Started from `x_0 = 0`, MINRES iterates grow in norm (monotonically for a
//! definite `A`: Fong & Saunders, *SQU Journal for Science* 17, 2012; for indefinite `A` as
//! long as no non-positive curvature is met along the Lanczos vectors: Liu & Roosta,
//! *SIAM J. Matrix Anal. Appl.* 43, 2022). With a `radius` given to [`minres()`], the iteration
//! stops at the first iterate outside the ball and returns the point where the segment from
//! the previous iterate crosses the sphere — the Krylov analogue of Steihaug's truncated CG
//! for a trust-region step whose model is `‖b − A x‖` ("Newton-MR": Roosta, Liu, Xu &
//! Mahoney, *Numer. Linear Algebra Appl.* 29, 2022).
//!
//! The caller lends the seven work vectors (see [`minres`]), so a run allocates nothing per
//! solve.

use crate::real::{Real, axpy, dot, norm_l2};

/// Stopping rule of [`minres`]. Build with [`Default`] and struct update syntax.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MinresParams<F> {
    /// Stop once `‖b − A x‖ ≤ rel_tol · ‖b‖` (default `1e-10`).
    pub rel_tol: F,
    /// Or once the normal-equations residual estimate `‖A(b − A x)‖ ≤ rel_tol · ‖A‖ · ‖b − A x‖`
    /// (default on): the least-squares solution of an inconsistent system is reached.
    pub least_squares_stop: bool,
    /// At most this many iterations (default 500).
    pub max_iters: usize,
}

impl<F: Real> Default for MinresParams<F> {
    fn default() -> Self {
        Self {
            rel_tol: F::lit(1e-10),
            least_squares_stop: true,
            max_iters: 500,
        }
    }
}

impl<F: Real> MinresParams<F> {
    /// Checks the tolerance and the iteration cap; `prefix` names the parameters in errors.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] for a tolerance outside `[0, 1)` or `max_iters = 0`.
    pub fn validate(&self, prefix: &str) -> crate::Result<()> {
        if !(self.rel_tol.is_finite() && self.rel_tol >= F::zero() && self.rel_tol < F::one()) {
            return Err(crate::Error::InvalidParameter {
                name: format!("{prefix}.rel_tol"),
                reason: format!("must be in [0, 1), got {}", self.rel_tol),
            });
        }
        if self.max_iters == 0 {
            return Err(crate::Error::InvalidParameter {
                name: format!("{prefix}.max_iters"),
                reason: "must be ≥ 1".into(),
            });
        }
        Ok(())
    }
}

/// Why [`minres`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MinresStop {
    /// `‖b − A x‖ ≤ rel_tol · ‖b‖` (or `b = 0`).
    Converged,
    /// The least-squares residual estimate says `x` minimises `‖b − A x‖`: the system is
    /// inconsistent (singular `A`) to working precision.
    LeastSquares,
    /// The iterate reached the radius; `x` is on the sphere.
    Boundary,
    /// The iteration limit.
    MaxIterations,
    /// The Lanczos process broke down (an invariant subspace: `x` is the exact minimiser over
    /// it).
    Breakdown,
    /// A product or a recurrence value was not finite; `x` is the last finite iterate.
    NonFinite,
}

/// What [`minres`] did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MinresInfo<F> {
    /// Why it stopped.
    pub stop: MinresStop,
    /// Operator products taken.
    pub iterations: usize,
    /// `‖b − A x‖` for the returned `x`, from the recurrence; `None` after a truncation at the
    /// radius, where the recurrence no longer describes `x`.
    pub residual_norm: Option<F>,
}

/// Solves `A x ≈ b` by MINRES from `x = 0`, leaving the result in `x`.
///
/// `apply(v, out)` must write `A v` into `out` for a symmetric `A`. With `radius = Some(Δ)`,
/// `‖x‖ ≤ Δ` on return (see the module docs). `work` holds six spare n-vectors whose contents
/// are overwritten. Returns the number of products in [`MinresInfo::iterations`].
///
/// # Panics
/// When `x` or a work vector differs in length from `b` (a bug in the caller).
///
/// ```
/// use bflow::linalg::{minres, MinresParams, MinresStop};
/// // An indefinite A = diag(2, −1), b = (2, 3): x = (1, −3).
/// let mut x = [0.0; 2];
/// let mut w = [[0.0; 2]; 6];
/// let [a, b, c, d, e, f] = &mut w;
/// let info = minres(
///     |v: &[f64], out: &mut [f64]| { out[0] = 2.0 * v[0]; out[1] = -v[1]; },
///     &[2.0, 3.0], &mut x, None, &MinresParams::default(), [a, b, c, d, e, f],
/// );
/// assert_eq!(info.stop, MinresStop::Converged);
/// assert!((x[0] - 1.0).abs() < 1e-14 && (x[1] + 3.0).abs() < 1e-14);
/// ```
#[track_caller]
pub fn minres<F: Real>(
    mut apply: impl FnMut(&[F], &mut [F]),
    b: &[F],
    x: &mut [F],
    radius: Option<F>,
    params: &MinresParams<F>,
    work: [&mut [F]; 6],
) -> MinresInfo<F> {
    let n = b.len();
    let [mut y, mut r1, mut r2, v, mut wa, mut wb] = work;
    assert!(
        x.len() == n
            && [&*y, &*r1, &*r2, &*v, &*wa, &*wb]
                .iter()
                .all(|w| w.len() == n),
        "minres: vectors differ in length"
    );
    x.fill(F::zero());
    wa.fill(F::zero());
    wb.fill(F::zero());
    let beta1 = norm_l2(b);
    let info = |stop, iterations, residual_norm| MinresInfo {
        stop,
        iterations,
        residual_norm,
    };
    if beta1 == F::zero() {
        return info(MinresStop::Converged, 0, Some(F::zero()));
    }
    if !beta1.is_finite() {
        return info(MinresStop::NonFinite, 0, None);
    }
    r1.copy_from_slice(b);
    r2.copy_from_slice(b);
    y.copy_from_slice(b);
    let zero = F::zero();
    let (mut oldb, mut beta, mut dbar, mut epsln) = (zero, beta1, zero, zero);
    let (mut phibar, mut cs, mut sn) = (beta1, -F::one(), zero);
    let mut a_norm_sq = zero;
    let mut x_norm_sq = zero;
    let tol = params.rel_tol * beta1;
    for itn in 1..=params.max_iters {
        // Lanczos: v = y/β, y = A v − (β/β_old) r1 − (α/β) r2.
        let s = F::one() / beta;
        v.iter_mut().zip(y.iter()).for_each(|(v, &y)| *v = s * y);
        apply(v, y);
        if itn >= 2 {
            axpy(y, -(beta / oldb), r1);
        }
        let alfa = dot(v, y);
        axpy(y, -(alfa / beta), r2);
        std::mem::swap(&mut r1, &mut r2);
        std::mem::swap(&mut r2, &mut y);
        // y now holds the old r1, overwritten at the next iteration; r2 is the new residual.
        y.copy_from_slice(r2);
        oldb = beta;
        beta = norm_l2(r2);
        if !(alfa.is_finite() && beta.is_finite()) {
            return info(MinresStop::NonFinite, itn, None);
        }
        a_norm_sq = a_norm_sq + alfa * alfa + beta * beta + oldb * oldb;
        // Apply the previous rotation, then the new one.
        let oldeps = epsln;
        let delta = cs * dbar + sn * alfa;
        let gbar = sn * dbar - cs * alfa;
        epsln = sn * beta;
        dbar = -cs * beta;
        let root = (gbar * gbar + dbar * dbar).sqrt();
        let gamma = (gbar * gbar + beta * beta).sqrt();
        if gamma <= F::epsilon() * a_norm_sq.sqrt() {
            // The projected system is singular along the new direction (A is singular and b
            // has a component MINRES cannot reduce further): x is the least-squares solution
            // over the Krylov space, and an update would divide by rounding noise.
            return info(MinresStop::LeastSquares, itn, Some(phibar));
        }
        cs = gbar / gamma;
        sn = beta / gamma;
        let phi = cs * phibar;
        phibar = sn * phibar;
        // w_k = (v − ε w_{k−2} − δ w_{k−1})/γ into wa, then rotate (wa, wb) = (w_{k−1}, w_k).
        let denom = F::one() / gamma;
        for j in 0..n {
            wa[j] = (v[j] - oldeps * wa[j] - delta * wb[j]) * denom;
        }
        std::mem::swap(&mut wa, &mut wb);
        // x_k = x_{k−1} + φ w_k, unless it leaves the ball: then stop on the sphere.
        let xw = dot(x, wb);
        let ww = dot(wb, wb);
        let next_norm_sq = x_norm_sq + F::lit(2.0) * phi * xw + phi * phi * ww;
        if !next_norm_sq.is_finite() {
            return info(MinresStop::NonFinite, itn, None);
        }
        if let Some(delta_max) = radius
            && next_norm_sq > delta_max * delta_max
        {
            // ‖x + τ φ w‖ = Δ: the positive root of ww φ² τ² + 2 φ xw τ + (‖x‖² − Δ²) = 0.
            let a = phi * phi * ww;
            let half_b = phi * xw;
            let c = x_norm_sq - delta_max * delta_max;
            let disc = (half_b * half_b - a * c).max(F::zero()).sqrt();
            let tau = if half_b > F::zero() {
                -c / (half_b + disc)
            } else {
                (disc - half_b) / a
            };
            axpy(x, tau * phi, wb);
            return info(MinresStop::Boundary, itn, None);
        }
        axpy(x, phi, wb);
        x_norm_sq = next_norm_sq;
        let rnorm = phibar;
        if rnorm <= tol {
            return info(MinresStop::Converged, itn, Some(rnorm));
        }
        // ‖A r‖ ≈ φ̄ · root; relative to ‖A‖ ‖r‖ this measures how far x is from the
        // least-squares solution.
        if params.least_squares_stop && phibar * root <= params.rel_tol * a_norm_sq.sqrt() * rnorm {
            return info(MinresStop::LeastSquares, itn, Some(rnorm));
        }
        if beta <= F::epsilon() * a_norm_sq.sqrt() {
            return info(MinresStop::Breakdown, itn, Some(rnorm));
        }
    }
    info(MinresStop::MaxIterations, params.max_iters, Some(phibar))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dense(a: &[f64], n: usize) -> impl FnMut(&[f64], &mut [f64]) + '_ {
        move |v: &[f64], out: &mut [f64]| {
            for r in 0..n {
                out[r] = (0..n).map(|c| a[r * n + c] * v[c]).sum();
            }
        }
    }

    fn run(a: &[f64], b: &[f64], radius: Option<f64>) -> (Vec<f64>, MinresInfo<f64>) {
        let n = b.len();
        let mut x = vec![0.0; n];
        let mut w = vec![vec![0.0; n]; 6];
        let [p, q, r, s, t, u] = &mut w[..] else {
            unreachable!()
        };
        let info = minres(
            dense(a, n),
            b,
            &mut x,
            radius,
            &MinresParams {
                rel_tol: 1e-13,
                ..MinresParams::default()
            },
            [p, q, r, s, t, u],
        );
        (x, info)
    }

    /// A symmetric indefinite matrix `Q diag(d) Qᵀ` with a seeded orthogonal Q (Householder).
    fn indefinite(n: usize) -> Vec<f64> {
        let u: Vec<f64> = (0..n).map(|j| ((j * 7 + 3) % 11) as f64 - 5.0).collect();
        let uu: f64 = u.iter().map(|x| x * x).sum();
        let d: Vec<f64> = (0..n)
            .map(|j| {
                if j % 3 == 0 {
                    -(1.0 + j as f64)
                } else {
                    2.0 + j as f64
                }
            })
            .collect();
        let q = |r: usize, c: usize| f64::from(u8::from(r == c)) - 2.0 * u[r] * u[c] / uu;
        let mut a = vec![0.0; n * n];
        for r in 0..n {
            for c in 0..n {
                a[r * n + c] = (0..n).map(|k| q(r, k) * d[k] * q(c, k)).sum();
            }
        }
        a
    }

    #[test]
    fn solves_an_indefinite_system_to_the_tolerance() {
        let n = 12;
        let a = indefinite(n);
        let sol: Vec<f64> = (0..n).map(|j| (j as f64).sin()).collect();
        let b: Vec<f64> = (0..n)
            .map(|r| (0..n).map(|c| a[r * n + c] * sol[c]).sum())
            .collect();
        let (x, info) = run(&a, &b, None);
        assert_eq!(info.stop, MinresStop::Converged);
        assert!(info.iterations <= n + 2, "{} iterations", info.iterations);
        for (p, q) in x.iter().zip(&sol) {
            assert!((p - q).abs() < 1e-10, "{p} vs {q}");
        }
        let dense_x = crate::linalg::solve(&a, &b).unwrap();
        for (p, q) in x.iter().zip(&dense_x) {
            assert!((p - q).abs() < 1e-10);
        }
    }

    #[test]
    fn a_singular_inconsistent_system_gets_its_least_squares_solution() {
        // A = diag(1, 0), b = (1, 1): min ‖b − Ax‖ = 1 at x = (1, anything). MINRES returns
        // a least-squares solution (not the minimum-norm one: that is MINRES-QLP's) and
        // stops instead of dividing by the singular direction's rounding noise.
        let a = [1.0, 0.0, 0.0, 0.0];
        let (x, info) = run(&a, &[1.0, 1.0], None);
        assert!(matches!(
            info.stop,
            MinresStop::LeastSquares | MinresStop::Breakdown
        ));
        assert!(
            (x[0] - 1.0).abs() < 1e-14 && x[1].abs() <= 1.0 + 1e-14,
            "{x:?}"
        );
        assert!((info.residual_norm.unwrap() - 1.0).abs() < 1e-14);
    }

    #[test]
    fn truncation_stops_on_the_sphere() {
        let n = 8;
        let a = indefinite(n);
        let b: Vec<f64> = (0..n).map(|j| 1.0 + j as f64).collect();
        let (free, _) = run(&a, &b, None);
        let free_norm = norm_l2(&free);
        let (x, info) = run(&a, &b, Some(0.25 * free_norm));
        assert_eq!(info.stop, MinresStop::Boundary);
        assert!((norm_l2(&x) / (0.25 * free_norm) - 1.0).abs() < 1e-12);
        // A radius beyond the solution changes nothing.
        let (y, info) = run(&a, &b, Some(2.0 * free_norm));
        assert_eq!(info.stop, MinresStop::Converged);
        for (p, q) in y.iter().zip(&free) {
            assert!((p - q).abs() < 1e-12);
        }
    }

    #[test]
    fn zero_right_hand_side_and_non_finite_products() {
        let (x, info) = run(&[1.0, 0.0, 0.0, 1.0], &[0.0, 0.0], None);
        assert_eq!((info.stop, info.iterations), (MinresStop::Converged, 0));
        assert_eq!(x, vec![0.0, 0.0]);
        let (_, info) = run(&[f64::NAN, 0.0, 0.0, 1.0], &[1.0, 1.0], None);
        assert_eq!(info.stop, MinresStop::NonFinite);
    }
}
