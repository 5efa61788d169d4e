//! Conjugate gradients for a symmetric positive definite operator given only as `v ↦ A v`.
//!
//! Solves `A x = b` for SPD `A` (Hestenes & Stiefel 1952; Nocedal & Wright, *Numerical
//! Optimization*, 2nd ed., Algorithm 5.2). Each iteration costs one operator application
//! and `O(n)` vector work; in exact arithmetic the error in the `A`-norm falls at least by
//! `2((√κ − 1)/(√κ + 1))^k` after `k` iterations.
//!
//! Any caller with an SPD operator can use it (the Newton step on `s = 0` uses
//! [MINRES](super::minres()) instead, since `J = Σ H_i` may be indefinite). The work vectors
//! live in a [`CgScratch`] so that a run allocates them once, not once per solve.

use crate::real::{Real, dot, norm_l2};

/// Stopping rule of [`conjugate_gradient`]. Build with [`Default`] and struct update syntax.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CgParams<F> {
    /// Stop once `||b − A x|| ≤ rel_tol · ||b||` (default `1e-10`).
    pub rel_tol: F,
    /// Or once `||b − A x|| ≤ abs_tol` (default 0).
    pub abs_tol: F,
    /// At most this many iterations (default 500).
    pub max_iters: usize,
}

impl<F: Real> CgParams<F> {
    /// Checks the tolerances and the iteration cap; `prefix` names the parameters in errors
    /// (`"newton.cg"` gives `newton.cg.rel_tol`).
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] for a negative or non-finite tolerance or
    /// `max_iters = 0`.
    pub fn validate(&self, prefix: &str) -> crate::Result<()> {
        let invalid = |field: &str, reason: String| crate::Error::InvalidParameter {
            name: format!("{prefix}.{field}"),
            reason,
        };
        for (field, tol) in [("rel_tol", self.rel_tol), ("abs_tol", self.abs_tol)] {
            if !(tol.is_finite() && tol >= F::zero()) {
                return Err(invalid(field, format!("must be finite and ≥ 0, got {tol}")));
            }
        }
        if self.max_iters == 0 {
            return Err(invalid("max_iters", "must be ≥ 1".into()));
        }
        Ok(())
    }
}

impl<F: Real> Default for CgParams<F> {
    fn default() -> Self {
        Self {
            rel_tol: F::lit(1e-10),
            abs_tol: F::zero(),
            max_iters: 500,
        }
    }
}

/// What a successful solve did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CgInfo<F> {
    /// Iterations taken (operator applications, not counting the initial residual's).
    pub iterations: usize,
    /// The recurrence's final residual norm `||r||`.
    pub residual_norm: F,
    /// `||r|| / ||b||` (0 when `b = 0`).
    pub rel_residual: F,
}

/// Why [`conjugate_gradient`] could not deliver a solution to the tolerance.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CgError<F: Real> {
    /// The iteration limit was reached; `x` holds the last iterate.
    #[error("CG did not converge in {iterations} iterations (residual {residual_norm:e})")]
    NoConvergence {
        /// Iterations taken.
        iterations: usize,
        /// Final residual norm.
        residual_norm: F,
    },
    /// `pᵀAp ≤ 0`: the operator is not positive definite along a search direction.
    #[error("non-positive curvature pᵀAp = {curvature:e} at iteration {iteration}")]
    NonPositiveCurvature {
        /// The iteration at which it happened.
        iteration: usize,
        /// The value of `pᵀAp`.
        curvature: F,
    },
    /// An operator product or the residual became NaN or infinite.
    #[error("a value became non-finite at iteration {iteration}")]
    NonFinite {
        /// The iteration at which it happened.
        iteration: usize,
    },
}

/// Work vectors for [`conjugate_gradient`]: allocate once per run with [`CgScratch::new`].
#[derive(Debug, Clone, PartialEq)]
pub struct CgScratch<F> {
    r: Vec<F>,
    p: Vec<F>,
    ap: Vec<F>,
}

impl<F: Real> CgScratch<F> {
    /// Work vectors for systems of size `n`.
    pub fn new(n: usize) -> Self {
        Self {
            r: vec![F::zero(); n],
            p: vec![F::zero(); n],
            ap: vec![F::zero(); n],
        }
    }

    /// The system size these vectors serve.
    pub fn len(&self) -> usize {
        self.r.len()
    }

    /// True for size 0.
    pub fn is_empty(&self) -> bool {
        self.r.is_empty()
    }
}

/// Solves `A x = b` by conjugate gradients, starting from the `x` passed in (zeros for a cold
/// start) and leaving the solution in `x`.
///
/// `apply(v, out)` must write `A v` into `out` for a symmetric positive definite `A`.
///
/// # Errors
/// [`CgError::NoConvergence`] after `params.max_iters` iterations (with `x` the last
/// iterate), [`CgError::NonPositiveCurvature`] when `A` is not positive definite along a
/// search direction, [`CgError::NonFinite`] on NaN or infinite values.
///
/// # Panics
/// When `b`, `x` and `scratch` differ in length (a bug in the caller).
///
/// ```
/// use bflow::linalg::cg::{CgParams, CgScratch, conjugate_gradient};
/// // A = [[4, 1], [1, 3]], b = [1, 2]: x = [1/11, 7/11].
/// let a = [[4.0, 1.0], [1.0, 3.0]];
/// let mut x = [0.0; 2];
/// let mut scratch = CgScratch::new(2);
/// let info = conjugate_gradient(
///     |v: &[f64], out: &mut [f64]| {
///         out[0] = a[0][0] * v[0] + a[0][1] * v[1];
///         out[1] = a[1][0] * v[0] + a[1][1] * v[1];
///     },
///     &[1.0, 2.0],
///     &mut x,
///     &CgParams::default(),
///     &mut scratch,
/// ).unwrap();
/// assert!(info.iterations <= 2);
/// assert!((x[0] - 1.0 / 11.0).abs() < 1e-14 && (x[1] - 7.0 / 11.0).abs() < 1e-14);
/// ```
#[track_caller]
pub fn conjugate_gradient<F: Real>(
    apply: impl FnMut(&[F], &mut [F]),
    b: &[F],
    x: &mut [F],
    params: &CgParams<F>,
    scratch: &mut CgScratch<F>,
) -> Result<CgInfo<F>, CgError<F>> {
    let n = b.len();
    assert_eq!(x.len(), n, "conjugate_gradient: x and b differ in length");
    assert_eq!(
        scratch.len(),
        n,
        "conjugate_gradient: scratch has the wrong size"
    );
    let CgScratch { r, p, ap } = scratch;
    conjugate_gradient_in(apply, b, x, params, r, p, ap)
}

/// [`conjugate_gradient`] with caller-owned work vectors `r`, `p`, `ap` (each of length n),
/// so a caller that already holds spare n-vectors needs no more memory.
///
/// # Errors
/// As [`conjugate_gradient`].
///
/// # Panics
/// When the vectors differ in length (a bug in the caller).
#[track_caller]
pub fn conjugate_gradient_in<F: Real>(
    mut apply: impl FnMut(&[F], &mut [F]),
    b: &[F],
    x: &mut [F],
    params: &CgParams<F>,
    r: &mut [F],
    p: &mut [F],
    ap: &mut [F],
) -> Result<CgInfo<F>, CgError<F>> {
    let n = b.len();
    assert!(
        x.len() == n && r.len() == n && p.len() == n && ap.len() == n,
        "conjugate_gradient_in: vectors differ in length"
    );
    let b_norm = norm_l2(b);
    let tol = (params.rel_tol * b_norm).max(params.abs_tol);
    if x.iter().all(|&v| v == F::zero()) {
        // A cold start: r = b, and no product is needed (one fewer apply per solve).
        r.copy_from_slice(b);
    } else {
        apply(x, ap);
        for j in 0..n {
            r[j] = b[j] - ap[j];
        }
    }
    p.copy_from_slice(r);
    let mut rr = dot(r, r);
    let info = |iterations: usize, rr: F| {
        let residual_norm = rr.sqrt();
        CgInfo {
            iterations,
            residual_norm,
            rel_residual: if b_norm > F::zero() {
                residual_norm / b_norm
            } else {
                F::zero()
            },
        }
    };
    if !rr.is_finite() {
        return Err(CgError::NonFinite { iteration: 0 });
    }
    for iteration in 0..params.max_iters {
        if rr.sqrt() <= tol {
            return Ok(info(iteration, rr));
        }
        apply(p, ap);
        let curvature = dot(p, ap);
        if !curvature.is_finite() {
            return Err(CgError::NonFinite { iteration });
        }
        if curvature <= F::zero() {
            return Err(CgError::NonPositiveCurvature {
                iteration,
                curvature,
            });
        }
        let alpha = rr / curvature;
        for j in 0..n {
            x[j] = x[j] + alpha * p[j];
            r[j] = r[j] - alpha * ap[j];
        }
        let rr_next = dot(r, r);
        if !rr_next.is_finite() {
            return Err(CgError::NonFinite { iteration });
        }
        let beta = rr_next / rr;
        for j in 0..n {
            p[j] = r[j] + beta * p[j];
        }
        rr = rr_next;
    }
    if rr.sqrt() <= tol {
        return Ok(info(params.max_iters, rr));
    }
    Err(CgError::NoConvergence {
        iterations: params.max_iters,
        residual_norm: rr.sqrt(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problems::SplitMix64;

    /// A seeded SPD matrix `MᵀM + n I` and a known solution.
    fn spd(n: usize, seed: u64) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let mut rng = SplitMix64(seed);
        let m: Vec<f64> = (0..n * n).map(|_| rng.normal()).collect();
        let mut a = vec![0.0; n * n];
        for r in 0..n {
            for c in 0..n {
                a[r * n + c] = (0..n).map(|k| m[k * n + r] * m[k * n + c]).sum::<f64>();
            }
            a[r * n + r] += n as f64;
        }
        let sol: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        let rhs: Vec<f64> = (0..n)
            .map(|r| (0..n).map(|c| a[r * n + c] * sol[c]).sum())
            .collect();
        (a, sol, rhs)
    }

    #[test]
    fn cg_matches_a_dense_cholesky_solve() {
        let n = 30;
        let (a, sol, rhs) = spd(n, 7);
        let mut x = vec![0.0; n];
        let mut scratch = CgScratch::new(n);
        let info = conjugate_gradient(
            |v: &[f64], out: &mut [f64]| {
                for r in 0..n {
                    out[r] = (0..n).map(|c| a[r * n + c] * v[c]).sum();
                }
            },
            &rhs,
            &mut x,
            &CgParams {
                rel_tol: 1e-13,
                ..CgParams::default()
            },
            &mut scratch,
        )
        .unwrap();
        assert!(info.iterations <= n + 5, "{} iterations", info.iterations);
        assert!(info.rel_residual <= 1e-13);
        let dense = crate::linalg::solve(&a, &rhs).unwrap();
        for j in 0..n {
            assert!(
                (x[j] - dense[j]).abs() < 1e-11,
                "{j}: {} vs {}",
                x[j],
                dense[j]
            );
            assert!((dense[j] - sol[j]).abs() < 1e-11);
        }
    }

    #[test]
    fn cg_reports_indefinite_operators_and_iteration_limits() {
        let mut x = [0.0; 2];
        let mut scratch = CgScratch::new(2);
        let indefinite = |v: &[f64], out: &mut [f64]| {
            out[0] = v[0];
            out[1] = -v[1];
        };
        let err = conjugate_gradient(
            indefinite,
            &[0.0, 1.0],
            &mut x,
            &CgParams::default(),
            &mut scratch,
        )
        .unwrap_err();
        assert!(matches!(
            err,
            CgError::NonPositiveCurvature { iteration: 0, curvature } if curvature == -1.0
        ));
        let (a, _, rhs) = spd(10, 3);
        let mut x = vec![0.0; 10];
        let mut scratch = CgScratch::new(10);
        let err = conjugate_gradient(
            |v: &[f64], out: &mut [f64]| {
                for r in 0..10 {
                    out[r] = (0..10).map(|c| a[r * 10 + c] * v[c]).sum();
                }
            },
            &rhs,
            &mut x,
            &CgParams {
                max_iters: 2,
                ..CgParams::default()
            },
            &mut scratch,
        )
        .unwrap_err();
        assert!(matches!(err, CgError::NoConvergence { iterations: 2, .. }));
    }
}
