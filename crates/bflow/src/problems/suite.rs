//! Problem classes for comparing methods: split quadratics (random convex ones with a chosen
//! condition number, and a split whose equilibrium is a saddle of `Σ L_i`) and a
//! Rosenbrock-type split.
//!
//! * **Split quadratics** `L_i(θ) = ½ (θ − t_i)ᵀ A_i (θ − t_i)` with symmetric `A_i`:
//!   `g_i = A_i (θ − t_i)`, `H_i = A_i`, and the equilibrium solves
//!   `(Σ A_i) θ* = Σ A_i t_i`.
//! * [`random_quadratic`]: `A_i = U D_i Uᵀ` with one seeded random orthogonal `U` and
//!   eigenvalues `D_i` log-spaced on `[1, κ]`, the smallest first and the largest last and
//!   the rest shuffled per objective. Each `A_i` and `Σ A_i` then have condition number
//!   exactly κ, while the objectives still disagree (targets and the order of the middle
//!   eigenvalues). Minimising `||s||²` squares that: `J² = (Σ A_i)²` has condition κ².
//! * [`saddle_split`]: `A_1 = diag(2, 1)`, `A_2 = diag(1, −3)`, `t_1 = (1, 2)`,
//!   `t_2 = (−1, 0)`: `Σ A_i = diag(3, −2)` is indefinite, so the equilibrium
//!   `θ* = (1/3, −1)` is a saddle of `Σ L_i` (unbounded below along y).
//! * [`rosenbrock_split`]: `L_1 = (1 − x)²`, `L_2 = 100 (y − x²)²`; `Σ L_i` is Rosenbrock's
//!   function, the equilibrium is `(1, 1)`, and there *both* gradients vanish (`Q = 0`), so
//!   B is undefined at the very point sought.

use super::Problem;
use super::multitask::SplitMix64;
use crate::error::{Error, Result};
use crate::objectives::Objectives;
use crate::real::Real;

/// K split quadratics `L_i = ½ (θ − t_i)ᵀ A_i (θ − t_i)` with dense symmetric `A_i`.
#[derive(Debug, Clone, PartialEq)]
pub struct QuadraticSplit<F> {
    n: usize,
    /// `A_i`, row-major `n × n`.
    matrices: Vec<Vec<F>>,
    targets: Vec<Vec<F>>,
}

impl<F: Real> QuadraticSplit<F> {
    /// Builds the class from row-major symmetric matrices and targets.
    ///
    /// # Errors
    /// [`Error::TooFewObjectives`] for K < 2, [`Error::EmptyGradients`] for n = 0,
    /// [`Error::DimensionMismatch`] for a matrix or target of the wrong size and
    /// [`Error::InvalidParameter`] (`"matrices"`) for a non-symmetric or non-finite matrix.
    pub fn new(matrices: Vec<Vec<F>>, targets: Vec<Vec<F>>) -> Result<Self> {
        if matrices.len() < 2 || targets.len() != matrices.len() {
            return Err(Error::TooFewObjectives {
                found: matrices.len().min(targets.len()),
            });
        }
        let n = targets[0].len();
        if n == 0 {
            return Err(Error::EmptyGradients);
        }
        for (i, (a, t)) in matrices.iter().zip(&targets).enumerate() {
            if t.len() != n {
                return Err(Error::DimensionMismatch {
                    what: format!("target {i}"),
                    expected: n,
                    found: t.len(),
                });
            }
            if a.len() != n * n {
                return Err(Error::DimensionMismatch {
                    what: format!("matrix {i} (entries)"),
                    expected: n * n,
                    found: a.len(),
                });
            }
            let symmetric = (0..n).all(|r| (0..n).all(|c| a[r * n + c] == a[c * n + r]));
            if !symmetric || !a.iter().chain(t).all(|x| x.is_finite()) {
                return Err(Error::InvalidParameter {
                    name: "matrices".into(),
                    reason: format!("matrix {i} must be symmetric with finite entries"),
                });
            }
        }
        Ok(Self {
            n,
            matrices,
            targets,
        })
    }

    /// The matrices `A_i` (row-major).
    pub fn matrices(&self) -> &[Vec<F>] {
        &self.matrices
    }

    /// The targets `t_i`.
    pub fn targets(&self) -> &[Vec<F>] {
        &self.targets
    }

    fn apply(&self, i: usize, v: &[F], out: &mut [F]) {
        let a = &self.matrices[i];
        for (r, o) in out.iter_mut().enumerate() {
            *o = a[r * self.n..(r + 1) * self.n]
                .iter()
                .zip(v)
                .fold(F::zero(), |acc, (&x, &y)| acc + x * y);
        }
    }
}

impl<F: Real> Objectives<F> for QuadraticSplit<F> {
    fn num_objectives(&self) -> usize {
        self.matrices.len()
    }

    fn dim(&self) -> usize {
        self.n
    }

    fn loss(&self, i: usize, theta: &[F]) -> F {
        let u: Vec<F> = theta
            .iter()
            .zip(&self.targets[i])
            .map(|(&x, &t)| x - t)
            .collect();
        let mut au = vec![F::zero(); self.n];
        self.apply(i, &u, &mut au);
        F::lit(0.5) * u.iter().zip(&au).fold(F::zero(), |a, (&x, &y)| a + x * y)
    }

    fn gradient(&self, i: usize, theta: &[F], grad: &mut [F]) {
        let u: Vec<F> = theta
            .iter()
            .zip(&self.targets[i])
            .map(|(&x, &t)| x - t)
            .collect();
        self.apply(i, &u, grad);
    }

    fn hvp(&self, i: usize, _theta: &[F], v: &[F], hvp: &mut [F]) {
        self.apply(i, v, hvp);
    }
}

/// The equilibrium of a split quadratic: the solution of `(Σ A_i) θ = Σ A_i t_i`.
pub(crate) fn quadratic_equilibrium(
    matrices: &[Vec<f64>],
    targets: &[Vec<f64>],
) -> Option<Vec<f64>> {
    let n = targets[0].len();
    let mut sum = vec![0.0; n * n];
    let mut rhs = vec![0.0; n];
    for (a, t) in matrices.iter().zip(targets) {
        for r in 0..n {
            for c in 0..n {
                sum[r * n + c] += a[r * n + c];
                rhs[r] += a[r * n + c] * t[c];
            }
        }
    }
    let mut x = crate::linalg::solve(&sum, &rhs)?;
    // Iterative refinement with the residual Σ_i A_i (t_i − x) accumulated with error-free
    // transformations (TwoSum, FMA products: about twice the working precision, as
    // Ogita, Rump & Oishi's Dot2): the f64 solve alone is off by up to κ·ε relative, which
    // would make distances at the floor measure the reference's own error. Stops when the
    // correction is below half an ulp.
    for _ in 0..10 {
        let residual: Vec<f64> = (0..n)
            .map(|r| {
                let (mut hi, mut lo) = (0.0_f64, 0.0_f64);
                for (a, t) in matrices.iter().zip(targets) {
                    for c in 0..n {
                        let (dh, dl) = two_sum(t[c], -x[c]);
                        let p = a[r * n + c] * dh;
                        let pe = a[r * n + c].mul_add(dh, -p) + a[r * n + c] * dl;
                        let (s, e) = two_sum(hi, p);
                        hi = s;
                        lo += e + pe;
                    }
                }
                hi + lo
            })
            .collect();
        let d = crate::linalg::solve(&sum, &residual)?;
        let converged = d
            .iter()
            .zip(&x)
            .all(|(&d, &x)| d.abs() <= 0.5 * f64::EPSILON * x.abs());
        x.iter_mut().zip(&d).for_each(|(x, d)| *x += d);
        if converged {
            break;
        }
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

/// Knuth's TwoSum: `a + b = s + e` exactly, `s` the rounded sum.
fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bb = s - a;
    (s, (a - (s - bb)) + (b - bb))
}

fn to_f<F: Real>(v: &[f64]) -> Vec<F> {
    v.iter().map(|&x| F::lit(x)).collect()
}

/// A split-quadratic problem from f64 data, with its equilibrium computed in f64.
///
/// # Errors
/// As [`QuadraticSplit::new`]; [`Error::InvalidParameter`] (`"matrices"`) when `Σ A_i` is
/// singular.
pub fn quadratic_problem<F: Real>(
    name: &str,
    description: &str,
    matrices: Vec<Vec<f64>>,
    targets: Vec<Vec<f64>>,
    start: Vec<f64>,
) -> Result<Problem<F>> {
    let eq = quadratic_equilibrium(&matrices, &targets).ok_or_else(|| Error::InvalidParameter {
        name: "matrices".into(),
        reason: "Σ A_i is singular: no unique equilibrium".into(),
    })?;
    let objectives = QuadraticSplit::new(
        matrices.iter().map(|m| to_f(m)).collect(),
        targets.iter().map(|t| to_f(t)).collect(),
    )?;
    if start.len() != objectives.dim() {
        return Err(Error::DimensionMismatch {
            what: "start".into(),
            expected: objectives.dim(),
            found: start.len(),
        });
    }
    Ok(Problem {
        name: name.to_string(),
        description: description.to_string(),
        objectives: Box::new(objectives),
        start: to_f(&start),
        region: None,
        equilibria: vec![to_f(&eq)],
    })
}

/// Split-quadratic data: row-major matrices `A_i`, targets `t_i`, a start.
pub type QuadraticData = (Vec<Vec<f64>>, Vec<Vec<f64>>, Vec<f64>);

/// The data of a random convex split quadratic (see the module docs): matrices, targets
/// (standard normal), start (standard normal × 3) — all from `seed`.
///
/// # Errors
/// [`Error::InvalidParameter`] naming `k` (< 2), `n` (0 or > 2000) or `kappa` (< 1 or not
/// finite).
pub fn random_quadratic_data(k: usize, n: usize, kappa: f64, seed: u64) -> Result<QuadraticData> {
    if k < 2 {
        return Err(Error::InvalidParameter {
            name: "k".into(),
            reason: format!("need at least 2 objectives, got {k}"),
        });
    }
    if n == 0 || n > 2000 {
        return Err(Error::InvalidParameter {
            name: "n".into(),
            reason: format!("must be in 1..=2000 (dense matrices), got {n}"),
        });
    }
    if !(kappa.is_finite() && kappa >= 1.0) {
        return Err(Error::InvalidParameter {
            name: "kappa".into(),
            reason: format!("must be finite and ≥ 1, got {kappa}"),
        });
    }
    let mut rng = SplitMix64(seed ^ 0x005E_ED0F_C0DE);
    // Random orthogonal U: modified Gram–Schmidt on a normal matrix (columns u_c = U[.., c]).
    let mut u: Vec<Vec<f64>> = (0..n)
        .map(|_| (0..n).map(|_| rng.normal()).collect())
        .collect();
    for c in 0..n {
        for p in 0..c {
            let (done, rest) = u.split_at_mut(c);
            let d: f64 = rest[0].iter().zip(&done[p]).map(|(a, b)| a * b).sum();
            rest[0]
                .iter_mut()
                .zip(&done[p])
                .for_each(|(a, b)| *a -= d * b);
        }
        let norm = u[c].iter().map(|x| x * x).sum::<f64>().sqrt();
        u[c].iter_mut().for_each(|x| *x /= norm);
    }
    let eig: Vec<f64> = (0..n)
        .map(|j| {
            if n == 1 {
                1.0
            } else {
                kappa.powf(j as f64 / (n - 1) as f64)
            }
        })
        .collect();
    let mut matrices = Vec::with_capacity(k);
    for _ in 0..k {
        let mut d = eig.clone();
        // Shuffle the middle eigenvalues (Fisher–Yates on 1..n−1).
        if n > 3 {
            for j in (2..n - 1).rev() {
                let r = 1 + rng.below(j);
                d.swap(j, r);
            }
        }
        let mut a = vec![0.0; n * n];
        for r in 0..n {
            for c in r..n {
                let v: f64 = (0..n).map(|m| u[m][r] * d[m] * u[m][c]).sum();
                a[r * n + c] = v;
                a[c * n + r] = v;
            }
        }
        matrices.push(a);
    }
    let targets: Vec<Vec<f64>> = (0..k)
        .map(|_| (0..n).map(|_| rng.normal()).collect())
        .collect();
    let start: Vec<f64> = (0..n).map(|_| 3.0 * rng.normal()).collect();
    Ok((matrices, targets, start))
}

/// A random convex split quadratic with K objectives in n dimensions and condition number
/// κ, deterministic in `seed` (see the module docs). Named `quad-k{K}-n{n}-c{κ}`.
///
/// # Errors
/// As [`random_quadratic_data`].
pub fn random_quadratic<F: Real>(k: usize, n: usize, kappa: f64, seed: u64) -> Result<Problem<F>> {
    let (matrices, targets, start) = random_quadratic_data(k, n, kappa, seed)?;
    quadratic_problem(
        &format!("quad-k{k}-n{n}-c{kappa:.0e}"),
        &format!("random convex split quadratic, K={k}, n={n}, κ={kappa:e}, seed {seed}"),
        matrices,
        targets,
        start,
    )
}

/// The data of [`saddle_split`]: matrices, targets, start.
pub fn saddle_data() -> QuadraticData {
    (
        vec![vec![2.0, 0.0, 0.0, 1.0], vec![1.0, 0.0, 0.0, -3.0]],
        vec![vec![1.0, 2.0], vec![-1.0, 0.0]],
        vec![2.0, 0.5],
    )
}

/// Two quadratics whose equilibrium `(1/3, −1)` is a saddle of `Σ L_i` (module docs);
/// start (2, 0.5).
pub fn saddle_split<F: Real>() -> Problem<F> {
    let (m, t, s) = saddle_data();
    quadratic_problem(
        "saddle-split",
        "split quadratic, Σ A_i = diag(3, −2): the equilibrium (1/3, −1) is a saddle of Σ L",
        m,
        t,
        s,
    )
    .unwrap_or_else(|_| unreachable!("fixed data is valid"))
}

/// `L_1 = (1 − x)²`, `L_2 = 100 (y − x²)²` (module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RosenbrockSplit;

impl<F: Real> Objectives<F> for RosenbrockSplit {
    fn num_objectives(&self) -> usize {
        2
    }

    fn dim(&self) -> usize {
        2
    }

    fn loss(&self, i: usize, theta: &[F]) -> F {
        let (x, y) = (theta[0], theta[1]);
        if i == 0 {
            (F::one() - x) * (F::one() - x)
        } else {
            let r = y - x * x;
            F::lit(100.0) * r * r
        }
    }

    fn gradient(&self, i: usize, theta: &[F], grad: &mut [F]) {
        let (x, y) = (theta[0], theta[1]);
        if i == 0 {
            grad[0] = F::lit(-2.0) * (F::one() - x);
            grad[1] = F::zero();
        } else {
            let r = y - x * x;
            grad[0] = F::lit(-400.0) * x * r;
            grad[1] = F::lit(200.0) * r;
        }
    }

    fn hvp(&self, i: usize, theta: &[F], v: &[F], hvp: &mut [F]) {
        let (x, y) = (theta[0], theta[1]);
        if i == 0 {
            hvp[0] = F::lit(2.0) * v[0];
            hvp[1] = F::zero();
        } else {
            let hxx = F::lit(-400.0) * (y - x * x) + F::lit(800.0) * x * x;
            let hxy = F::lit(-400.0) * x;
            hvp[0] = hxx * v[0] + hxy * v[1];
            hvp[1] = hxy * v[0] + F::lit(200.0) * v[1];
        }
    }
}

/// The Rosenbrock split from the classic start (−1.2, 1); equilibrium (1, 1), where B is
/// undefined (every gradient vanishes).
pub fn rosenbrock_split<F: Real>() -> Problem<F> {
    Problem {
        name: "rosenbrock".into(),
        description: "L1 = (1−x)², L2 = 100(y−x²)²; equilibrium (1, 1), where Q = 0".into(),
        objectives: Box::new(RosenbrockSplit),
        start: vec![F::lit(-1.2), F::one()],
        region: None,
        equilibria: vec![vec![F::one(), F::one()]],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objectives::{check_derivatives, sum_hessian};

    #[test]
    fn derivatives_match_finite_differences() {
        for p in [
            random_quadratic::<f64>(3, 5, 100.0, 1).unwrap(),
            saddle_split(),
            rosenbrock_split(),
        ] {
            let n = p.dim();
            let theta: Vec<f64> = (0..n).map(|j| 0.3 + 0.7 * j as f64).collect();
            let v: Vec<f64> = (0..n).map(|j| 1.0 - 0.4 * j as f64).collect();
            let err = check_derivatives(p.objectives.as_ref(), &theta, &v, 1e-5);
            assert!(err < 1e-6, "{}: relative FD error {err:e}", p.name);
        }
    }

    #[test]
    fn random_quadratic_has_the_asked_condition_number_and_equilibrium() {
        let (m, t, _) = random_quadratic_data(4, 6, 1e3, 9).unwrap();
        let n = 6;
        let sym = nalgebra::DMatrix::from_row_slice(n, n, &m[2]);
        let eig = sym.symmetric_eigenvalues();
        let (lo, hi) = (eig.min(), eig.max());
        assert!(
            (lo - 1.0).abs() < 1e-10 && (hi - 1e3).abs() < 1e-9,
            "{lo} {hi}"
        );
        let p = random_quadratic::<f64>(4, 6, 1e3, 9).unwrap();
        let eq = &p.equilibria[0];
        let (at, _) = crate::objectives::Evaluator::new(p.objectives.as_ref())
            .evaluate(eq)
            .unwrap();
        let scale: f64 = at.gradient_norm_sum;
        assert!(
            at.sum_norm <= 64.0 * f64::EPSILON * scale.max(1.0),
            "{:e}",
            at.sum_norm
        );
        let h = sum_hessian(p.objectives.as_ref(), eq);
        let heig = nalgebra::DMatrix::from_row_slice(n, n, &h).symmetric_eigenvalues();
        assert!((heig.max() / heig.min() - 1e3).abs() < 1e-6);
        assert_eq!(t.len(), 4);
        // Deterministic in the seed.
        assert_eq!(random_quadratic_data(4, 6, 1e3, 9).unwrap().0, m);
        assert!(matches!(
            random_quadratic_data(1, 6, 1e3, 9),
            Err(Error::InvalidParameter { ref name, .. }) if name == "k"
        ));
        assert!(matches!(
            random_quadratic_data(2, 6, 0.5, 9),
            Err(Error::InvalidParameter { ref name, .. }) if name == "kappa"
        ));
    }

    #[test]
    fn saddle_and_rosenbrock_equilibria() {
        let p = saddle_split::<f64>();
        let e = &p.equilibria[0];
        assert!((e[0] - 1.0 / 3.0).abs() < 1e-15 && (e[1] + 1.0).abs() < 1e-15);
        let h = sum_hessian(p.objectives.as_ref(), e);
        assert_eq!(h, vec![3.0, 0.0, 0.0, -2.0]);
        let r = rosenbrock_split::<f64>();
        let mut g = [0.0; 2];
        for i in 0..2 {
            r.objectives.gradient(i, &[1.0, 1.0], &mut g);
            assert_eq!(g, [0.0, 0.0]);
        }
    }
}
