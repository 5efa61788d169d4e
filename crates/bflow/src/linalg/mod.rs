//! Linear algebra: every dense factorisation bflow uses (through nalgebra, in `f64`), and the
//! two Krylov solvers for operators given only as `v ↦ A v`.
//!
//! | routine | solves | cost |
//! |---|---|---|
//! | [`symmetric_eigen`] | `A = V Λ Vᵀ` for symmetric `A` (classification, the dense Newton step) | `O(n³)` |
//! | [`solve`] | `A x = b`, LU with partial pivoting and one step of iterative refinement | `O(n³)` |
//! | [`inverse`] | `A⁻¹` (the Krawczyk preconditioner) | `O(n³)` |
//! | [`minres()`] | `A x ≈ b` for symmetric, possibly indefinite or singular `A`, minimising `‖b − A x‖` over Krylov spaces, optionally truncated at a radius | one `A v` per iteration |
//! | [`cg`] | `A x = b` for symmetric positive definite `A` | one `A v` per iteration |
//!
//! Dense routines take row-major `n × n` slices of any [`Real`] and compute in `f64`:
//! nalgebra needs its own float trait, and every dense use in bflow is a small matrix
//! (n ≤ a few hundred) whose factorisation only has to be accurate to `f64`. A wider type
//! (double-double) loses nothing that matters: a Newton step computed from an `f64`
//! factorisation still converges to the wider type's floor, because the residual `s` itself
//! is evaluated in the wider type (iterative refinement).

pub mod cg;
pub mod minres;

pub use cg::{CgError, CgInfo, CgParams, CgScratch, conjugate_gradient, conjugate_gradient_in};
pub use minres::{MinresInfo, MinresParams, MinresStop, minres};

use nalgebra::{DMatrix, DVector};

use crate::real::Real;

fn to_matrix<F: Real>(a: &[F], n: usize) -> DMatrix<f64> {
    assert_eq!(a.len(), n * n, "linalg: matrix is not n × n");
    DMatrix::from_row_iterator(n, n, a.iter().map(|x| x.to_f64_lossy()))
}

/// The eigendecomposition `A = V Λ Vᵀ` of a symmetric matrix (empty by default, to be
/// filled by [`symmetric_eigen_into`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SymmetricEigen {
    /// The eigenvalues `λ_1 ≤ … ≤ λ_n`, ascending.
    pub values: Vec<f64>,
    /// The orthonormal eigenvectors as columns of a row-major `n × n` matrix: the eigenvector
    /// of `values[k]` is `(vectors[j·n + k])_j`.
    pub vectors: Vec<f64>,
}

impl SymmetricEigen {
    /// n.
    pub fn dim(&self) -> usize {
        self.values.len()
    }

    /// The eigenvector of `values[k]`.
    pub fn vector(&self, k: usize) -> Vec<f64> {
        let n = self.dim();
        (0..n).map(|j| self.vectors[j * n + k]).collect()
    }

    /// `Vᵀ x`: `x` in the eigenbasis.
    pub fn to_eigenbasis(&self, x: &[f64], out: &mut [f64]) {
        let n = self.dim();
        for (k, o) in out.iter_mut().enumerate() {
            *o = (0..n).fold(0.0, |acc, j| acc + self.vectors[j * n + k] * x[j]);
        }
    }

    /// `V y`: `y` back from the eigenbasis.
    pub fn from_eigenbasis(&self, y: &[f64], out: &mut [f64]) {
        let n = self.dim();
        for (j, o) in out.iter_mut().enumerate() {
            *o = (0..n).fold(0.0, |acc, k| acc + self.vectors[j * n + k] * y[k]);
        }
    }
}

/// Sorts the unsorted eigenvalues and column-major eigenvectors of an `N × N`
/// nalgebra decomposition into `out` (ascending values, eigenvectors as row-major columns).
/// A macro: nalgebra's decomposition is implemented for each size, not for a const generic
/// one.
macro_rules! eigen_fixed_into {
    ($a:expr, $n:literal, $out:expr) => {{
        let m = nalgebra::SMatrix::<f64, $n, $n>::from_fn(|i, j| $a[i * $n + j].to_f64_lossy());
        let eig = nalgebra::SymmetricEigen::new(m);
        sort_into(
            eig.eigenvalues.as_slice(),
            eig.eigenvectors.as_slice(),
            $out,
        );
    }};
}

/// `values` ascending into `out.values` and the column-major `vectors` (eigenvector k is
/// `vectors[k·n..(k + 1)·n]`) reordered alike into `out.vectors`, row-major.
fn sort_into(values: &[f64], vectors: &[f64], out: &mut SymmetricEigen) {
    let n = values.len();
    // The permutation on the stack for the small matrices of maps.
    let mut small = [0usize; 8];
    let mut large = Vec::new();
    let order: &mut [usize] = if n <= small.len() {
        &mut small[..n]
    } else {
        large.resize(n, 0);
        &mut large
    };
    order.iter_mut().enumerate().for_each(|(k, o)| *o = k);
    order.sort_by(|&p, &q| values[p].total_cmp(&values[q]));
    out.values.clear();
    out.values.extend(order.iter().map(|&k| values[k]));
    out.vectors.clear();
    out.vectors.resize(n * n, 0.0);
    for (new, &old) in order.iter().enumerate() {
        for j in 0..n {
            out.vectors[j * n + new] = vectors[old * n + j];
        }
    }
}

/// The eigendecomposition of the symmetric row-major `n × n` matrix `a` (its lower triangle
/// is used), eigenvalues ascending. `None` when an entry is not finite.
///
/// # Panics
/// When `a.len() != n²` (a bug in the caller).
///
/// ```
/// let e = bflow::linalg::symmetric_eigen(&[2.0, 1.0, 1.0, 2.0], 2).unwrap();
/// assert!((e.values[0] - 1.0).abs() < 1e-15 && (e.values[1] - 3.0).abs() < 1e-15);
/// ```
#[track_caller]
pub fn symmetric_eigen<F: Real>(a: &[F], n: usize) -> Option<SymmetricEigen> {
    let mut out = SymmetricEigen {
        values: Vec::new(),
        vectors: Vec::new(),
    };
    symmetric_eigen_into(a, n, &mut out).then_some(out)
}

/// [`symmetric_eigen`] into `out`, reusing its memory (a Newton step decomposes a Hessian at
/// every iterate): returns `false`, leaving `out` as it was, when an entry is not finite.
/// Up to 4 × 4 nothing is allocated once `out` has held an `n × n` decomposition.
///
/// # Panics
/// When `a.len() != n²` (a bug in the caller).
#[track_caller]
pub fn symmetric_eigen_into<F: Real>(a: &[F], n: usize, out: &mut SymmetricEigen) -> bool {
    assert_eq!(a.len(), n * n, "linalg: matrix is not n × n");
    if a.iter().any(|x| !x.to_f64_lossy().is_finite()) {
        return false;
    }
    // Up to 4 × 4 (the maps' Newton steps and classifications) on the stack: the same
    // nalgebra algorithm, the same operations.
    match n {
        1 => eigen_fixed_into!(a, 1, out),
        2 => eigen_fixed_into!(a, 2, out),
        3 => eigen_fixed_into!(a, 3, out),
        4 => eigen_fixed_into!(a, 4, out),
        _ => {
            let eig = nalgebra::SymmetricEigen::new(to_matrix(a, n));
            sort_into(eig.eigenvalues.as_slice(), eig.eigenvectors.as_slice(), out);
        }
    }
    true
}

/// Solves `A x = b` for a square row-major `A` by LU with partial pivoting, with one step of
/// iterative refinement; `None` when `A` is singular to working precision or a value is not
/// finite.
///
/// # Panics
/// When `a.len() != b.len()²` (a bug in the caller).
///
/// ```
/// let x = bflow::linalg::solve(&[4.0, 1.0, 1.0, 3.0], &[1.0, 2.0]).unwrap();
/// assert!((x[0] - 1.0 / 11.0).abs() < 1e-15 && (x[1] - 7.0 / 11.0).abs() < 1e-15);
/// ```
#[track_caller]
pub fn solve(a: &[f64], b: &[f64]) -> Option<Vec<f64>> {
    let n = b.len();
    let m = to_matrix(a, n);
    let lu = m.clone().lu();
    let rhs = DVector::from_column_slice(b);
    let mut x = lu.solve(&rhs)?;
    let residual = &rhs - &m * &x;
    if let Some(dx) = lu.solve(&residual) {
        x += dx;
    }
    x.iter()
        .all(|v| v.is_finite())
        .then(|| x.iter().copied().collect())
}

/// The inverse of a square row-major `n × n` matrix, row-major; `None` when it is singular or
/// not finite.
///
/// # Panics
/// When `a.len() != n²` (a bug in the caller).
#[track_caller]
pub fn inverse<F: Real>(a: &[F], n: usize) -> Option<Vec<f64>> {
    let inv = to_matrix(a, n).try_inverse()?;
    if inv.iter().any(|x| !x.is_finite()) {
        return None;
    }
    Some((0..n * n).map(|k| inv[(k / n, k % n)]).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eigen_reconstructs_the_matrix() {
        let a = [4.0, 1.0, -2.0, 1.0, 3.0, 0.5, -2.0, 0.5, -1.0];
        let e = symmetric_eigen(&a, 3).unwrap();
        assert!(e.values.windows(2).all(|w| w[0] <= w[1]));
        for r in 0..3 {
            for c in 0..3 {
                let v: f64 = (0..3)
                    .map(|k| e.vectors[r * 3 + k] * e.values[k] * e.vectors[c * 3 + k])
                    .sum();
                assert!((v - a[r * 3 + c]).abs() < 1e-14, "{r},{c}: {v}");
            }
        }
        let x = [0.3, -1.0, 2.0];
        let mut y = [0.0; 3];
        let mut back = [0.0; 3];
        e.to_eigenbasis(&x, &mut y);
        e.from_eigenbasis(&y, &mut back);
        for (a, b) in x.iter().zip(&back) {
            assert!((a - b).abs() < 1e-15);
        }
        assert!(symmetric_eigen(&[f64::NAN, 0.0, 0.0, 1.0], 2).is_none());
    }

    #[test]
    fn eigen_into_reuses_its_memory_and_keeps_it_on_a_refusal() {
        // Sizes 2, 10 (beyond the stack permutation) and 3 in turn into one `out`: each the
        // same as a fresh decomposition; a NaN entry leaves `out` as it was.
        let mut out = SymmetricEigen::default();
        for n in [2usize, 10, 3] {
            let a: Vec<f64> = (0..n * n)
                .map(|k| {
                    let (r, c) = (k / n, k % n);
                    ((r.min(c) * 5 + r.max(c)) as f64).cos() + if r == c { n as f64 } else { 0.0 }
                })
                .collect();
            assert!(symmetric_eigen_into(&a, n, &mut out));
            assert_eq!(out, symmetric_eigen(&a, n).unwrap(), "n = {n}");
            assert!(out.values.windows(2).all(|w| w[0] <= w[1]));
        }
        let before = out.clone();
        let mut bad = vec![1.0; 9];
        bad[4] = f64::NAN;
        assert!(!symmetric_eigen_into(&bad, 3, &mut out));
        assert_eq!(out, before);
    }

    #[test]
    fn fixed_and_dynamic_sizes_give_the_same_decomposition() {
        // Sizes 1–4 go through nalgebra's fixed-size matrices, 5 and up through DMatrix: the
        // same algorithm, so the same bits.
        for n in 1..=6 {
            let a: Vec<f64> = (0..n * n)
                .map(|k| {
                    let (r, c) = (k / n, k % n);
                    let (lo, hi) = (r.min(c), r.max(c));
                    ((lo * 7 + hi * 3) as f64).sin() + if r == c { 2.0 } else { 0.0 }
                })
                .collect();
            let fixed = symmetric_eigen(&a, n).unwrap();
            let eig = nalgebra::SymmetricEigen::new(to_matrix(&a, n));
            let mut want: Vec<f64> = eig.eigenvalues.iter().copied().collect();
            want.sort_by(f64::total_cmp);
            assert_eq!(fixed.values, want, "n = {n}");
            for r in 0..n {
                for c in 0..n {
                    let v: f64 = (0..n)
                        .map(|k| {
                            fixed.vectors[r * n + k] * fixed.values[k] * fixed.vectors[c * n + k]
                        })
                        .sum();
                    assert!((v - a[r * n + c]).abs() < 1e-13, "n = {n}, {r},{c}: {v}");
                }
            }
        }
    }

    #[test]
    fn solve_and_inverse_agree_and_refuse_singular_matrices() {
        let a = [2.0, 1.0, 0.0, 1.0, 3.0, 1.0, 0.0, 1.0, 4.0];
        let x = solve(&a, &[1.0, 2.0, 3.0]).unwrap();
        let inv = inverse(&a, 3).unwrap();
        for r in 0..3 {
            let y: f64 = (0..3).map(|c| inv[r * 3 + c] * [1.0, 2.0, 3.0][c]).sum();
            assert!((x[r] - y).abs() < 1e-15);
        }
        assert!(solve(&[1.0, 2.0, 2.0, 4.0], &[1.0, 1.0]).is_none());
        assert!(inverse(&[1.0, 2.0, 2.0, 4.0], 2).is_none());
    }
}
