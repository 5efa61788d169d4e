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
        3 => {
            let m: [f64; 9] = std::array::from_fn(|k| a[k].to_f64_lossy());
            match symmetric_eigen3(&m) {
                Some((values, vectors)) => sort_into(&values, &vectors, out),
                None => eigen_fixed_into!(a, 3, out),
            }
        }
        4 => eigen_fixed_into!(a, 4, out),
        _ => {
            let eig = nalgebra::SymmetricEigen::new(to_matrix(a, n));
            sort_into(eig.eigenvalues.as_slice(), eig.eigenvectors.as_slice(), out);
        }
    }
    true
}

/// The eigendecomposition of a symmetric 3 × 3 matrix (row-major, its lower triangle used)
/// in closed form, checked: unsorted eigenvalues and column-major eigenvectors (eigenvector
/// `k` at `[3k, 3k + 3)`), or `None` when the check fails and the iterative decomposition
/// must decide. Trigonometric eigenvalues (Smith, *Eigenvalues of a symmetric 3 × 3
/// matrix*, CACM 1961) of the matrix scaled by a power of two, the eigenvectors of the
/// largest and the smallest as the longest cross product of two rows of `A − λI`, the
/// middle one as their cross product (Kopp, *Efficient numerical diagonalization of
/// hermitian 3 × 3 matrices*, 2008). Accepted only when `‖A V − V Λ‖_F ≤ 32 ε ‖A‖_F` and
/// `VᵀV` is `I` to `32 ε` entrywise — then `A = V Λ Vᵀ + E` with `‖E‖` of the order of the
/// iterative method's backward error. Near-multiple eigenvalues, where the closed form
/// loses accuracy, fail the check; a diagonal matrix is its own decomposition.
fn symmetric_eigen3(a: &[f64; 9]) -> Option<([f64; 3], [f64; 9])> {
    let largest = a.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    if largest == 0.0 || !largest.is_finite() {
        return None;
    }
    // Exact scaling into [½, 1): no square or cube below overflows or underflows.
    let e = crate::balance::binary_exponent(largest);
    let (down, up) = (crate::balance::pow2(-e), crate::balance::pow2(e));
    if !(down.is_finite() && up.is_finite() && down > 0.0 && up > 0.0) {
        return None;
    }
    let (d0, d1, d2) = (a[0] * down, a[4] * down, a[8] * down);
    let (a10, a20, a21) = (a[3] * down, a[6] * down, a[7] * down);
    let p1 = a10 * a10 + a20 * a20 + a21 * a21;
    if p1 == 0.0 {
        let vectors = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
        return Some(([a[0], a[4], a[8]], vectors));
    }
    let q = (d0 + d1 + d2) / 3.0;
    let (b0, b1, b2) = (d0 - q, d1 - q, d2 - q);
    let p = ((b0 * b0 + b1 * b1 + b2 * b2 + 2.0 * p1) / 6.0).sqrt();
    let det =
        b0 * (b1 * b2 - a21 * a21) - a10 * (a10 * b2 - a21 * a20) + a20 * (a10 * a21 - b1 * a20);
    let r = (det / (2.0 * p * p * p)).clamp(-1.0, 1.0);
    let phi = r.acos() / 3.0;
    let high = q + 2.0 * p * phi.cos();
    let low = q + 2.0 * p * (phi + 2.0 * std::f64::consts::FRAC_PI_3).cos();
    let mid = 3.0 * q - high - low;
    let rows = [[d0, a10, a20], [a10, d1, a21], [a20, a21, d2]];
    let cross = |u: [f64; 3], v: [f64; 3]| {
        [
            u[1] * v[2] - u[2] * v[1],
            u[2] * v[0] - u[0] * v[2],
            u[0] * v[1] - u[1] * v[0],
        ]
    };
    let dot = |u: [f64; 3], v: [f64; 3]| u[0] * v[0] + u[1] * v[1] + u[2] * v[2];
    let unit = |v: [f64; 3]| {
        let norm = dot(v, v).sqrt();
        (norm > 0.0 && norm.is_finite()).then(|| v.map(|x| x / norm))
    };
    // The null vector of A − λI: the longest cross product of two of its rows.
    let null_vector = |lambda: f64| {
        let mut shifted = rows;
        for (k, row) in shifted.iter_mut().enumerate() {
            row[k] -= lambda;
        }
        let candidates = [
            cross(shifted[0], shifted[1]),
            cross(shifted[0], shifted[2]),
            cross(shifted[1], shifted[2]),
        ];
        let best = candidates
            .into_iter()
            .max_by(|u, v| dot(*u, *u).total_cmp(&dot(*v, *v)))?;
        unit(best)
    };
    let v_low = null_vector(low)?;
    let v_high = null_vector(high)?;
    let v_mid = unit(cross(v_high, v_low))?;
    let values = [low, mid, high];
    let vectors = [v_low, v_mid, v_high];
    // The check, on the scaled matrix (‖A‖_F of it is at least ½).
    let tol = 32.0 * f64::EPSILON;
    let norm_a = rows.iter().map(|r| dot(*r, *r)).sum::<f64>().sqrt();
    let mut residual = 0.0;
    for (v, &lambda) in vectors.iter().zip(&values) {
        for (row, &x) in rows.iter().zip(v) {
            let r = dot(*row, *v) - lambda * x;
            residual += r * r;
        }
    }
    // (Written so that a NaN fails too.)
    let within = |x: f64, bound: f64| x <= bound;
    if !within(residual.sqrt(), tol * norm_a) {
        return None;
    }
    for i in 0..3 {
        for j in 0..3 {
            let want = if i == j { 1.0 } else { 0.0 };
            if !within((dot(vectors[i], vectors[j]) - want).abs(), tol) {
                return None;
            }
        }
    }
    let mut columns = [0.0; 9];
    for (k, v) in vectors.iter().enumerate() {
        columns[3 * k..3 * k + 3].copy_from_slice(v);
    }
    Some((values.map(|x| x * up), columns))
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
        // Sizes 1, 2 and 4 go through nalgebra's fixed-size matrices, 5 and up through
        // DMatrix: the same algorithm, so the same bits (3 × 3 is in closed form: below).
        for n in [1, 2, 4, 5, 6] {
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

    /// `‖A − V Λ Vᵀ‖_F`, `max |VᵀV − I|` and the largest eigenvalue difference from
    /// nalgebra's, each over `‖A‖_F`.
    fn eigen3_errors(a: &[f64; 9], values: &[f64], vectors: &[f64]) -> (f64, f64, f64) {
        // Measured on A / max|a_ij| (its squares neither overflow nor underflow).
        let t = a.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        let (a, values) = (
            &a.map(|x| x / t),
            &values.iter().map(|x| x / t).collect::<Vec<_>>(),
        );
        let norm_a = a.iter().map(|x| x * x).sum::<f64>().sqrt();
        let (mut recon, mut orth) = (0.0f64, 0.0f64);
        for r in 0..3 {
            for c in 0..3 {
                let v: f64 = (0..3)
                    .map(|k| vectors[r * 3 + k] * values[k] * vectors[c * 3 + k])
                    .sum();
                recon += (v - a[r * 3 + c]).powi(2);
                let g: f64 = (0..3)
                    .map(|k| vectors[k * 3 + r] * vectors[k * 3 + c])
                    .sum();
                orth = orth.max((g - if r == c { 1.0 } else { 0.0 }).abs());
            }
        }
        let eig = nalgebra::SymmetricEigen::new(to_matrix(a, 3));
        let mut want: Vec<f64> = eig.eigenvalues.iter().copied().collect();
        want.sort_by(f64::total_cmp);
        let diff = want
            .iter()
            .zip(values)
            .fold(0.0f64, |m, (w, v)| m.max((w - v).abs()));
        (recon.sqrt() / norm_a, orth, diff / norm_a)
    }

    #[test]
    fn closed_form_3x3_eigen_is_as_accurate_as_the_iterative_one_or_declines() {
        // Random symmetric matrices at magnitudes from 1e-300 to 1e300 (a fixed LCG), a
        // diagonal one, a rotated double eigenvalue and nearly double ones.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        };
        let (mut closed, mut total) = (0, 0);
        for exponent in [-300, -150, -10, 0, 10, 150, 300] {
            for _ in 0..200 {
                let s = 10f64.powi(exponent);
                let (a, b, c, d, e, f) = (next(), next(), next(), next(), next(), next());
                let m = [a, b, c, b, d, e, c, e, f].map(|x| x * s);
                let out = symmetric_eigen(&m, 3).unwrap();
                let (recon, orth, diff) = eigen3_errors(&m, &out.values, &out.vectors);
                assert!(recon < 64.0 * f64::EPSILON, "{m:?}: {recon:e}");
                assert!(orth < 64.0 * f64::EPSILON, "{m:?}: {orth:e}");
                assert!(diff < 64.0 * f64::EPSILON, "{m:?}: {diff:e}");
                closed += usize::from(symmetric_eigen3(&m).is_some());
                total += 1;
            }
        }
        // Random matrices seldom have nearly double eigenvalues: the closed form takes them.
        assert!(closed * 100 >= total * 95, "{closed} of {total}");
        // Diagonal: its own decomposition, sorted.
        let diag = [3.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 2.0];
        let out = symmetric_eigen(&diag, 3).unwrap();
        assert_eq!(out.values, vec![-1.0, 2.0, 3.0]);
        // A double eigenvalue (Q diag(1, 1, 2) Qᵀ) and nearly double ones: accurate either way
        // — the closed form declines where it would not be.
        let (c, s) = (0.6f64, 0.8f64);
        for gap in [0.0, 1e-12, 1e-8, 1e-4] {
            let d = [1.0, 1.0 + gap, 2.0];
            let q = [
                [c, -s, 0.0],
                [s * 0.6, c * 0.6, -0.8],
                [s * 0.8, c * 0.8, 0.6],
            ];
            let m: [f64; 9] = std::array::from_fn(|k| {
                let (r, col) = (k / 3, k % 3);
                (0..3).map(|j| q[r][j] * d[j] * q[col][j]).sum()
            });
            let m: [f64; 9] = std::array::from_fn(|k| 0.5 * (m[k] + m[(k % 3) * 3 + k / 3]));
            let out = symmetric_eigen(&m, 3).unwrap();
            let (recon, orth, diff) = eigen3_errors(&m, &out.values, &out.vectors);
            assert!(recon < 64.0 * f64::EPSILON, "gap {gap}: {recon:e}");
            assert!(orth < 64.0 * f64::EPSILON, "gap {gap}: {orth:e}");
            assert!(diff < 64.0 * f64::EPSILON, "gap {gap}: {diff:e}");
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
