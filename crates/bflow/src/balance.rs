//! Balance math on K gradient vectors: pure functions, no objectives, no flows.
//!
//! For gradients `g_1..g_K ∈ Rⁿ` (K ≥ 2) let `s = Σ g_i` and `Q = Σ ||g_i||²`. Then
//!
//! * the **balance residual** is `B = ||s||² / Q`, zero exactly at an equilibrium `s = 0`;
//! * the **interaction ratio** is `I = Σ_{i<j} g_i·g_j / Q`, and since
//!   `||s||² = Q + 2 Σ_{i<j} g_i·g_j`, `B = 1 + 2I`: an equilibrium has `I = −½`.
//!
//! Bounds: `0 ≤ B ≤ K` (Cauchy–Schwarz gives `||s||² ≤ K Q`), so `−½ ≤ I ≤ (K−1)/2`.
//!
//! Two honest details:
//!
//! * `|I + ½|` is returned as `B/2`. Computing `I + 0.5` in floating point loses every digit
//!   below `ε/2 ≈ 1.1e-16`, while `B/2` keeps its full relative precision down to `1e-300`.
//! * Where every `g_i` vanishes, `Q = 0` and `B = 0/0` is undefined. That case is reported as
//!   [`Residual::Degenerate`], never as `B = 0`: such a point is a common stationary point of
//!   every objective, which the ratio cannot see.
//!
//! All sums are scaled by the largest gradient entry before squaring, so B is right for
//! gradients from `1e-300` to `1e300`.

use crate::error::{Error, Result};
use crate::real::{Real, dot, norm_l2, norm_max};

/// The balance residual at one point, or the statement that it is undefined there.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Residual<F> {
    /// `Q > 0`: B is defined.
    Defined {
        /// `B = ||s||²/Q ∈ [0, K]`.
        b: F,
    },
    /// `Q = 0`: every gradient is exactly zero; `B = 0/0`.
    Degenerate,
}

/// Everything balance math says about one set of K gradients.
#[derive(Debug, Clone, PartialEq)]
pub struct Balance<F> {
    /// `s = Σ g_i`.
    pub sum: Vec<F>,
    /// `||s||₂`.
    pub sum_norm: F,
    /// `||g_i||₂` for each objective.
    pub gradient_norms: Vec<F>,
    /// `Q = Σ ||g_i||²` (may overflow to ∞ or underflow to 0 for extreme gradients even
    /// when B itself is computed correctly: use `scaled_sq_norm` and `gradient_scale`).
    pub total_sq_norm: F,
    /// The largest entry `max_ij |g_ij|` (0 when degenerate).
    pub gradient_scale: F,
    /// `Q / gradient_scale²`, always representable (0 when degenerate).
    pub scaled_sq_norm: F,
    /// B, or [`Residual::Degenerate`].
    pub residual: Residual<F>,
}

impl<F: Real> Balance<F> {
    /// B, or `None` when degenerate.
    pub fn b(&self) -> Option<F> {
        match self.residual {
            Residual::Defined { b } => Some(b),
            Residual::Degenerate => None,
        }
    }

    /// The interaction ratio `I = (B − 1)/2`, or `None` when degenerate.
    pub fn interaction(&self) -> Option<F> {
        self.b().map(|b| (b - F::one()) / F::lit(2.0))
    }

    /// `|I + ½|`, computed as `B/2` to keep its relative precision; `None` when degenerate.
    pub fn abs_i_plus_half(&self) -> Option<F> {
        self.b().map(|b| b / F::lit(2.0))
    }

    /// True when `Q = 0` (every gradient vanishes).
    pub fn is_degenerate(&self) -> bool {
        matches!(self.residual, Residual::Degenerate)
    }

    /// `Σ_i ||g_i||`, the scale of the rounding error in `s`: the computed `s` cannot be
    /// trusted below about `ε · Σ ||g_i||`.
    pub fn gradient_norm_sum(&self) -> F {
        self.gradient_norms.iter().fold(F::zero(), |a, &x| a + x)
    }
}

/// Checks K ≥ 2, equal lengths n ≥ 1 and finite entries.
pub fn check_gradients<F: Real, G: AsRef<[F]>>(gradients: &[G]) -> Result<usize> {
    if gradients.len() < 2 {
        return Err(Error::TooFewObjectives {
            found: gradients.len(),
        });
    }
    let n = gradients[0].as_ref().len();
    if n == 0 {
        return Err(Error::EmptyGradients);
    }
    for (index, g) in gradients.iter().enumerate() {
        let g = g.as_ref();
        if g.len() != n {
            return Err(Error::RaggedGradients {
                index,
                expected: n,
                found: g.len(),
            });
        }
        if let Some(component) = g.iter().position(|x| !x.is_finite()) {
            return Err(Error::NonFiniteGradient {
                index,
                component,
                value: g[component].to_f64_lossy(),
            });
        }
    }
    Ok(n)
}

/// Computes s, ||s||, each ||g_i||, Q and B for K gradient vectors.
///
/// # Errors
/// [`Error::TooFewObjectives`] for K < 2, [`Error::EmptyGradients`] for n = 0,
/// [`Error::RaggedGradients`] for vectors of different lengths and
/// [`Error::NonFiniteGradient`] for a NaN or infinite entry.
///
/// ```
/// use bflow::balance::balance;
/// let b = balance(&[vec![1.0, 0.0], vec![-1.0, 0.0]])?;
/// assert_eq!(b.b(), Some(0.0)); // exact equilibrium
/// assert_eq!(b.abs_i_plus_half(), Some(0.0));
/// let d = balance(&[vec![0.0, 0.0], vec![0.0, 0.0]])?;
/// assert!(d.is_degenerate()); // 0/0, not B = 0
/// # Ok::<(), bflow::Error>(())
/// ```
pub fn balance<F: Real, G: AsRef<[F]>>(gradients: &[G]) -> Result<Balance<F>> {
    let n = check_gradients(gradients)?;
    Ok(balance_unchecked(gradients, n))
}

/// [`balance`] without the input checks, for callers that built the gradients themselves.
/// Entries must be finite and every vector of length `n`.
pub(crate) fn balance_unchecked<F: Real, G: AsRef<[F]>>(gradients: &[G], n: usize) -> Balance<F> {
    let mut sum = vec![F::zero(); n];
    for g in gradients {
        for (s, &x) in sum.iter_mut().zip(g.as_ref()) {
            *s = *s + x;
        }
    }
    // Scale by the largest entry of any g_i so that squares neither overflow nor underflow.
    let scale = gradients
        .iter()
        .fold(F::zero(), |m, g| m.max(norm_max(g.as_ref())));
    if scale == F::zero() {
        return Balance {
            sum,
            sum_norm: F::zero(),
            total_sq_norm: F::zero(),
            gradient_norms: vec![F::zero(); gradients.len()],
            gradient_scale: F::zero(),
            scaled_sq_norm: F::zero(),
            residual: Residual::Degenerate,
        };
    }
    let gradient_norms: Vec<F> = gradients.iter().map(|g| norm_l2(g.as_ref())).collect();
    let sum_norm = norm_l2(&sum);
    if sum_norm.is_finite() && gradient_norms.iter().all(|x| x.is_finite()) {
        let (residual, scaled_sq_norm) = scaled_residual(&gradient_norms, sum_norm, scale);
        return Balance {
            sum,
            sum_norm,
            total_sq_norm: scaled_sq_norm * scale * scale,
            gradient_norms,
            gradient_scale: scale,
            scaled_sq_norm,
            residual,
        };
    }
    // Some norm exceeds the float range (entries near the largest float).
    // ||g_i|| / scale, formed without ||g_i|| itself (which exceeds the float range for
    // entries near the largest float).
    let scaled_norm = |v: &[F]| {
        let m = norm_max(v);
        if m == F::zero() {
            return F::zero();
        }
        let sq = v.iter().fold(F::zero(), |acc, &x| {
            let y = x / m;
            acc + y * y
        });
        (m / scale) * sq.sqrt()
    };
    let scaled_norms: Vec<F> = gradients.iter().map(|g| scaled_norm(g.as_ref())).collect();
    let scaled_sum_norm = if sum.iter().all(|x| x.is_finite()) {
        scaled_norm(&sum)
    } else {
        // The plain sum overflowed: ||s|| / c = ||Σ g_i/c||.
        let mut scaled = vec![F::zero(); n];
        for g in gradients {
            for (s, &x) in scaled.iter_mut().zip(g.as_ref()) {
                *s = *s + x / scale;
            }
        }
        norm_l2(&scaled)
    };
    let (residual, scaled_sq_norm) = scaled_residual(&scaled_norms, scaled_sum_norm, F::one());
    Balance {
        sum,
        sum_norm: scaled_sum_norm * scale,
        total_sq_norm: scaled_sq_norm * scale * scale,
        gradient_norms: scaled_norms.iter().map(|&x| x * scale).collect(),
        gradient_scale: scale,
        scaled_sq_norm,
        residual,
    }
}

/// B from each `||g_i||`, `||s||` and the largest gradient entry `scale`, with every square
/// taken of a quantity divided by `scale` (so none overflows or underflows); also returns
/// `Q / scale²`. Degenerate when `scale = 0`.
///
/// Where `scale = m · 2^e` (`m ∈ [½, 1)`) has `|e| ≤ 1000` (and `2^−e` is a float of the
/// type) the quantities are multiplied by
/// `2^−e` instead, which is exact and a multiplication rather than a division each:
/// `B = (‖s‖·2^−e)² / Σ (‖g_i‖·2^−e)²` and `Q/scale² = Σ (‖g_i‖·2^−e)² / m²`.
pub(crate) fn scaled_residual<F: Real>(
    gradient_norms: &[F],
    sum_norm: F,
    scale: F,
) -> (Residual<F>, F) {
    if scale == F::zero() {
        return (Residual::Degenerate, F::zero());
    }
    let e = binary_exponent(scale.to_f64_lossy());
    let down = F::lit(pow2(-e));
    // (`2^−e` is outside an `f32`'s range for a subnormal `f32` scale.)
    if scale.is_finite() && (-1000..=1000).contains(&e) && down.is_finite() && down > F::zero() {
        let q = gradient_norms.iter().fold(F::zero(), |acc, &x| {
            let y = x * down;
            acc + y * y
        });
        let s = sum_norm * down;
        let m = scale * down;
        return (Residual::Defined { b: s * s / q }, q / (m * m));
    }
    let scaled_q = gradient_norms
        .iter()
        .fold(F::zero(), |acc, &x| acc + (x / scale) * (x / scale));
    let scaled_s = sum_norm / scale;
    (
        Residual::Defined {
            b: scaled_s * scaled_s / scaled_q,
        },
        scaled_q,
    )
}

/// The balance residual B alone; `Ok(None)` when degenerate (`Q = 0`).
///
/// # Errors
/// As [`balance`].
pub fn balance_residual<F: Real, G: AsRef<[F]>>(gradients: &[G]) -> Result<Option<F>> {
    balance(gradients).map(|b| b.b())
}

/// The interaction ratio computed from its definition, `Σ_{i<j} g_i·g_j / Q`; `Ok(None)`
/// when degenerate. Prefer [`Balance::interaction`]: this direct form exists to check the
/// identity `B = 1 + 2I`, and it cancels badly near `I = −½`.
///
/// # Errors
/// As [`balance`].
pub fn interaction_ratio<F: Real, G: AsRef<[F]>>(gradients: &[G]) -> Result<Option<F>> {
    check_gradients(gradients)?;
    let gram = gram_unchecked(gradients);
    let k = gradients.len();
    let q = (0..k).fold(F::zero(), |acc, i| acc + gram[i][i]);
    if q == F::zero() {
        return Ok(None);
    }
    let mut cross = F::zero();
    for (i, row) in gram.iter().enumerate() {
        for &gij in &row[i + 1..] {
            cross = cross + gij;
        }
    }
    Ok(Some(cross / q))
}

fn gram_unchecked<F: Real, G: AsRef<[F]>>(gradients: &[G]) -> Vec<Vec<F>> {
    let k = gradients.len();
    let mut gram = vec![vec![F::zero(); k]; k];
    for i in 0..k {
        for j in i..k {
            let d = dot(gradients[i].as_ref(), gradients[j].as_ref());
            gram[i][j] = d;
            gram[j][i] = d;
        }
    }
    gram
}

/// The K×K Gram matrix `G_ij = g_i·g_j`.
///
/// # Errors
/// As [`balance`].
pub fn gram_matrix<F: Real, G: AsRef<[F]>>(gradients: &[G]) -> Result<Vec<Vec<F>>> {
    check_gradients(gradients)?;
    Ok(gram_unchecked(gradients))
}

/// The K×K cosine matrix `C_ij = g_i·g_j / (||g_i|| ||g_j||)`. An entry is `None` where
/// either gradient is zero (0/0), never silently 0.
///
/// # Errors
/// As [`balance`].
pub fn cosine_matrix<F: Real, G: AsRef<[F]>>(gradients: &[G]) -> Result<Vec<Vec<Option<F>>>> {
    check_gradients(gradients)?;
    let norms: Vec<F> = gradients.iter().map(|g| norm_l2(g.as_ref())).collect();
    let k = gradients.len();
    let mut cos = vec![vec![None; k]; k];
    for i in 0..k {
        for j in 0..k {
            if i == j && norms[i] > F::zero() {
                cos[i][i] = Some(F::one()); // exactly, not the rounded self-dot
            } else if norms[i] > F::zero() && norms[j] > F::zero() {
                // Normalise first so the product cannot overflow.
                let a: Vec<F> = gradients[i]
                    .as_ref()
                    .iter()
                    .map(|&x| x / norms[i])
                    .collect();
                let b: Vec<F> = gradients[j]
                    .as_ref()
                    .iter()
                    .map(|&x| x / norms[j])
                    .collect();
                let c = dot(&a, &b).max(-F::one()).min(F::one());
                cos[i][j] = Some(c);
            }
        }
    }
    Ok(cos)
}

/// `2^k` exactly: a normal or subnormal power of two for `−1074 ≤ k ≤ 1023`, 0 below, ∞
/// above.
pub fn pow2(k: i32) -> f64 {
    if k > 1023 {
        f64::INFINITY
    } else if k >= -1022 {
        f64::from_bits(((k + 1023) as u64) << 52)
    } else if k >= -1074 {
        f64::from_bits(1u64 << (k + 1074))
    } else {
        0.0
    }
}

/// The binary exponent `e` with `|x| / 2^e ∈ [½, 1)`, for finite nonzero `x` (subnormals
/// included); 0 for 0 and non-finite values.
pub fn binary_exponent(x: f64) -> i32 {
    if x == 0.0 || !x.is_finite() {
        return 0;
    }
    let bits = x.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    if biased == 0 {
        // Subnormal: the leading one is at bit (63 − leading zeros) of the mantissa.
        let mantissa = bits & ((1u64 << 52) - 1);
        let top = 63 - mantissa.leading_zeros() as i32; // 0..=51
        top - 1074 + 1
    } else {
        biased - 1022
    }
}

/// `x · 2^k`, exact whenever the result is a normal float (and rounded once otherwise):
/// the factor is applied in two halves so that neither is outside the float range, for any
/// `k` with `|k| ≤ 2200`.
pub fn scale_by_pow2(x: f64, k: i32) -> f64 {
    let half = k / 2;
    x * pow2(half) * pow2(k - half)
}

/// Balance math from a Gram matrix `G = [g_i·g_j]` alone: what [`Balance`] gives from the
/// gradients, without them.
///
/// `B = 1ᵀG1 / tr G` (`||s||² = Σ_ij G_ij`, `Q = tr G`), `||g_i|| = √G_ii`,
/// `cos_ij = G_ij / √(G_ii G_jj)`.
///
/// One limit, inherent to the input: `1ᵀG1` is a sum of terms as large as `tr G` that
/// cancel near an equilibrium, and a Gram matrix carries no record of how accurately its
/// entries were computed, so B from a Gram matrix is resolved only down to
/// [`GramBalance::resolution`] — `K·τ` for the tolerance `τ` the matrix was checked to —
/// where from the gradients it is resolved to about `K ε²`.
#[derive(Debug, Clone, PartialEq)]
pub struct GramBalance {
    /// B, or [`Residual::Degenerate`] when `tr G = 0`.
    pub residual: Residual<f64>,
    /// `||g_i|| = √G_ii` (∞ where the norm exceeds the float range).
    pub gradient_norms: Vec<f64>,
    /// `||Σ g_i|| = √(1ᵀG1)`.
    pub sum_norm: f64,
    /// The cosine matrix; `None` where a gradient is zero (0/0).
    pub cosines: Vec<Vec<Option<f64>>>,
    /// The smallest B this route can tell from 0: `max(4 K² ε, K τ)` — the rounding in
    /// `1ᵀG1` relative to `tr G`, or `K` times the tolerance `τ` the entries were checked to
    /// ([`ScaledGram::balance`]'s `tolerance`; 1e-6 for f64 input, 1e-3 for f32 in
    /// [`crate::diagnose`]), whichever is larger.
    pub resolution: f64,
}

impl GramBalance {
    /// B, or `None` when degenerate.
    pub fn b(&self) -> Option<f64> {
        match self.residual {
            Residual::Defined { b } => Some(b),
            Residual::Degenerate => None,
        }
    }

    /// `I = (B − 1)/2`, or `None` when degenerate.
    pub fn interaction(&self) -> Option<f64> {
        self.b().map(|b| (b - 1.0) / 2.0)
    }

    /// `|I + ½| = B/2`, or `None` when degenerate.
    pub fn abs_i_plus_half(&self) -> Option<f64> {
        self.b().map(|b| b / 2.0)
    }

    /// True when `tr G = 0` (every gradient vanishes).
    pub fn is_degenerate(&self) -> bool {
        matches!(self.residual, Residual::Degenerate)
    }
}

/// A K×K Gram matrix scaled by a power of two: `G = scaled · 2^exponent`, with every entry
/// of `scaled` at most 1 in magnitude. Built by [`ScaledGram::from_gram`] (checked) or by
/// the gradient kernels in [`crate::diagnose`].
#[derive(Debug, Clone, PartialEq)]
pub struct ScaledGram {
    /// K.
    pub k: usize,
    /// Row-major K×K, symmetric.
    pub scaled: Vec<f64>,
    /// The power of two factored out.
    pub exponent: i32,
}

impl ScaledGram {
    /// Checks and scales a row-major K×K Gram matrix. Entries must be finite, the diagonal
    /// non-negative, the matrix symmetric to `tolerance` relative to the diagonal
    /// (`|G_ij − G_ji| ≤ tolerance · √(G_ii G_jj)`, plus a few ε of the largest diagonal
    /// entry), and `|G_ij| ≤ (1 + tolerance) √(G_ii G_jj)` (Cauchy–Schwarz). The mean of
    /// `G_ij` and `G_ji` is kept.
    ///
    /// # Errors
    /// [`Error::TooFewObjectives`] for K < 2; [`Error::InvalidGram`] naming the first
    /// entry (1-based) that breaks a rule, or the length when it is not K².
    pub fn from_gram(gram: &[f64], k: usize, tolerance: f64) -> Result<Self> {
        Self::from_entries(k, tolerance, |i, j| gram[i * k + j], gram.len())
    }

    /// As [`from_gram`](Self::from_gram), reading entry `(i, j)` through `entry`; `len` is
    /// the number of entries available (checked against K²).
    pub(crate) fn from_entries(
        k: usize,
        tolerance: f64,
        entry: impl Fn(usize, usize) -> f64,
        len: usize,
    ) -> Result<Self> {
        if k < 2 {
            return Err(Error::TooFewObjectives { found: k });
        }
        if k.checked_mul(k) != Some(len) {
            return Err(Error::InvalidGram {
                message: format!("{len} entries for K = {k} (need K² = {})", k * k),
            });
        }
        let bad = |message: String| Error::InvalidGram { message };
        let mut largest = 0.0_f64;
        for i in 0..k {
            for j in 0..k {
                let x = entry(i, j);
                if !x.is_finite() {
                    return Err(bad(format!("G[{},{}] = {x} is not finite", i + 1, j + 1)));
                }
                largest = largest.max(x.abs());
            }
            let d = entry(i, i);
            if d < 0.0 {
                return Err(bad(format!(
                    "G[{0},{0}] = {d:e} is negative (a squared norm)",
                    i + 1
                )));
            }
        }
        let exponent = binary_exponent(largest);
        let mut scaled = vec![0.0; k * k];
        for i in 0..k {
            for j in 0..k {
                scaled[i * k + j] = scale_by_pow2(entry(i, j), -exponent);
            }
        }
        let max_diag = (0..k).fold(0.0_f64, |m, i| m.max(scaled[i * k + i]));
        let slack = 4.0 * f64::EPSILON * max_diag;
        for i in 0..k {
            for j in i + 1..k {
                let (a, b) = (scaled[i * k + j], scaled[j * k + i]);
                let bound = (scaled[i * k + i] * scaled[j * k + j]).sqrt();
                if (a - b).abs() > tolerance * bound + slack {
                    return Err(bad(format!(
                        "not symmetric: G[{0},{1}] = {2:e}, G[{1},{0}] = {3:e} (tolerance {tolerance:e} relative to √(G_ii G_jj))",
                        i + 1,
                        j + 1,
                        scale_by_pow2(a, exponent),
                        scale_by_pow2(b, exponent)
                    )));
                }
                let mean = 0.5 * (a + b);
                if mean.abs() > (1.0 + tolerance) * bound + slack {
                    return Err(bad(format!(
                        "|G[{0},{1}]| = {2:e} exceeds √(G[{0},{0}] G[{1},{1}]) = {3:e} (Cauchy–Schwarz)",
                        i + 1,
                        j + 1,
                        scale_by_pow2(mean.abs(), exponent),
                        scale_by_pow2(bound, exponent)
                    )));
                }
                scaled[i * k + j] = mean;
                scaled[j * k + i] = mean;
            }
        }
        Ok(Self {
            k,
            scaled,
            exponent,
        })
    }

    /// `G → W G W` for weights `w` (the Gram matrix of `w_i g_i`), rescaled so every entry
    /// stays at most 1 in magnitude.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`weights`) for a count other than K or a non-finite
    /// weight.
    pub fn weighted(&self, weights: &[f64]) -> Result<Self> {
        let k = self.k;
        check_weights(weights, k)?;
        let (mantissas, exponents) = split_weights(weights);
        let top = exponents.iter().copied().max().unwrap_or(0);
        let mut scaled = vec![0.0; k * k];
        for i in 0..k {
            for j in 0..k {
                let m = mantissas[i] * mantissas[j];
                scaled[i * k + j] = scale_by_pow2(
                    self.scaled[i * k + j] * m,
                    exponents[i] + exponents[j] - 2 * top,
                );
            }
        }
        Ok(Self {
            k,
            scaled,
            exponent: self.exponent + 2 * top,
        })
    }

    /// B, norms, cosines and the resolution of B (see [`GramBalance`]).
    ///
    /// # Errors
    /// [`Error::InvalidGram`] when `1ᵀG1` is negative beyond rounding at `tolerance` (no
    /// gradients have this Gram matrix: it is not positive semidefinite).
    pub fn balance(&self, tolerance: f64) -> Result<GramBalance> {
        self.balance_with(tolerance, true)
    }

    /// [`balance`](Self::balance), with the cosine matrix only when `cosines` (otherwise
    /// `GramBalance::cosines` is empty: a caller that does not keep it need not allocate
    /// its K² entries).
    pub(crate) fn balance_with(&self, tolerance: f64, cosines: bool) -> Result<GramBalance> {
        let k = self.k;
        let g = &self.scaled;
        let trace: f64 = (0..k).map(|i| g[i * k + i]).sum();
        let norms: Vec<f64> = (0..k)
            .map(|i| sqrt_unscaled(g[i * k + i], self.exponent))
            .collect();
        let resolution = (4.0 * f64::EPSILON * (k * k) as f64).max(tolerance * k as f64);
        let cosines = if cosines {
            cosines_from_scaled(g, k)
        } else {
            Vec::new()
        };
        if trace == 0.0 {
            return Ok(GramBalance {
                residual: Residual::Degenerate,
                gradient_norms: norms,
                sum_norm: 0.0,
                cosines,
                resolution,
            });
        }
        let total: f64 = g.iter().sum();
        if total < -resolution * trace {
            return Err(Error::InvalidGram {
                message: format!(
                    "1ᵀG1 = {:e} < 0: the sum of the gradients would have a negative squared norm (G is not positive semidefinite)",
                    scale_by_pow2(total, self.exponent)
                ),
            });
        }
        let total = total.max(0.0);
        Ok(GramBalance {
            residual: Residual::Defined { b: total / trace },
            gradient_norms: norms,
            sum_norm: sqrt_unscaled(total, self.exponent),
            cosines,
            resolution,
        })
    }
}

/// `√(x · 2^e)` for `x ≥ 0` without forming `x · 2^e` (which may overflow or underflow).
pub(crate) fn sqrt_unscaled(x: f64, e: i32) -> f64 {
    let odd = e.rem_euclid(2);
    let root = if odd == 1 { (2.0 * x).sqrt() } else { x.sqrt() };
    scale_by_pow2(root, (e - odd) / 2)
}

/// The cosine matrix from a scaled symmetric Gram matrix: `None` where a diagonal entry is
/// zero, exactly 1 on the diagonal otherwise, clamped to [−1, 1].
pub(crate) fn cosines_from_scaled(g: &[f64], k: usize) -> Vec<Vec<Option<f64>>> {
    let mut cos = vec![vec![None; k]; k];
    for i in 0..k {
        for j in 0..k {
            let (di, dj) = (g[i * k + i], g[j * k + j]);
            if di > 0.0 && dj > 0.0 {
                cos[i][j] = Some(if i == j {
                    1.0
                } else {
                    (g[i * k + j] / (di.sqrt() * dj.sqrt())).clamp(-1.0, 1.0)
                });
            }
        }
    }
    cos
}

/// Checks that there are K finite weights.
pub(crate) fn check_weights(weights: &[f64], k: usize) -> Result<()> {
    if weights.len() != k {
        return Err(Error::InvalidParameter {
            name: "weights".into(),
            reason: format!("{} weights given for K = {k} objectives", weights.len()),
        });
    }
    if let Some(i) = weights.iter().position(|w| !w.is_finite()) {
        return Err(Error::InvalidParameter {
            name: "weights".into(),
            reason: format!("weight {} is not finite", i + 1),
        });
    }
    Ok(())
}

/// Each weight as `m · 2^e` with `|m| ∈ [½, 1)` (m = 0 and e = 0 for a zero weight).
pub(crate) fn split_weights(weights: &[f64]) -> (Vec<f64>, Vec<i32>) {
    let exponents: Vec<i32> = weights.iter().map(|&w| binary_exponent(w)).collect();
    let mantissas = weights
        .iter()
        .zip(&exponents)
        .map(|(&w, &e)| scale_by_pow2(w, -e))
        .collect();
    (mantissas, exponents)
}

/// Balance math from a row-major K×K Gram matrix (see [`GramBalance`]); the matrix is
/// checked as [`ScaledGram::from_gram`] describes, with a symmetry tolerance of `1e-6`.
///
/// # Errors
/// As [`ScaledGram::from_gram`] and [`ScaledGram::balance`].
///
/// ```
/// use bflow::balance::{balance_from_gram, gram_matrix};
/// let g = vec![vec![1.0, 2.0], vec![-1.0, -1.5]];
/// let gram: Vec<f64> = gram_matrix(&g)?.concat();
/// let from_gram = balance_from_gram(&gram, 2)?;
/// let direct = bflow::balance::balance(&g)?;
/// assert!((from_gram.b().unwrap() - direct.b().unwrap()).abs() < 1e-15);
/// # Ok::<(), bflow::Error>(())
/// ```
pub fn balance_from_gram(gram: &[f64], k: usize) -> Result<GramBalance> {
    const TOLERANCE: f64 = 1e-6;
    ScaledGram::from_gram(gram, k, TOLERANCE)?.balance(TOLERANCE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn gradient_sets() -> impl Strategy<Value = Vec<Vec<f64>>> {
        (2usize..6, 1usize..6).prop_flat_map(|(k, n)| {
            prop::collection::vec(prop::collection::vec(-1.0e3..1.0e3_f64, n), k)
        })
    }

    proptest! {
        #[test]
        fn b_equals_one_plus_two_i(g in gradient_sets()) {
            let bal = balance(&g).unwrap();
            prop_assume!(!bal.is_degenerate());
            let b = bal.b().unwrap();
            let i = interaction_ratio(&g).unwrap().unwrap();
            let k = g.len() as f64;
            // Both sides are O(K); rounding in the Gram sums is a few ε·K².
            prop_assert!((b - (1.0 + 2.0 * i)).abs() <= 64.0 * k * k * f64::EPSILON,
                "B = {b}, 1 + 2I = {}", 1.0 + 2.0 * i);
        }

        #[test]
        fn bounds_hold(g in gradient_sets()) {
            let bal = balance(&g).unwrap();
            prop_assume!(!bal.is_degenerate());
            let k = g.len() as f64;
            let b = bal.b().unwrap();
            let slack = 16.0 * k * f64::EPSILON;
            prop_assert!(b >= 0.0 && b <= k * (1.0 + slack), "B = {b}, K = {k}");
            let i = bal.interaction().unwrap();
            prop_assert!(i >= -0.5 && i <= (k - 1.0) / 2.0 * (1.0 + slack) + slack);
            prop_assert_eq!(bal.abs_i_plus_half().unwrap(), b / 2.0);
        }

        #[test]
        fn invariant_under_permutation(g in gradient_sets(), rot in 0usize..6) {
            let b0 = balance_residual(&g).unwrap();
            let mut p = g.clone();
            let r = rot % p.len();
            p.rotate_left(r);
            p.reverse();
            let b1 = balance_residual(&p).unwrap();
            match (b0, b1) {
                (Some(x), Some(y)) => prop_assert!((x - y).abs() <= 32.0 * f64::EPSILON * (1.0 + x),
                    "{x} vs {y}"),
                (None, None) => {}
                _ => prop_assert!(false, "degeneracy changed under permutation"),
            }
        }

        #[test]
        fn invariant_under_common_scaling(g in gradient_sets(), c in prop_oneof![-1.0e6..-1.0e-6_f64, 1.0e-6..1.0e6_f64]) {
            let b0 = balance_residual(&g).unwrap();
            let scaled: Vec<Vec<f64>> = g.iter().map(|v| v.iter().map(|x| c * x).collect()).collect();
            let b1 = balance_residual(&scaled).unwrap();
            if let (Some(x), Some(y)) = (b0, b1) {
                // Scaling changes each sum's rounding, so B can only agree to a few ε per term,
                // relative to the size of the terms that cancelled (K·Q, not ||s||²).
                let k = g.len() as f64;
                prop_assert!((x - y).abs() <= 64.0 * k * f64::EPSILON * k, "{x} vs {y}");
            }
        }
    }

    #[test]
    fn exact_scaling_by_power_of_two_is_bitwise() {
        let g = vec![
            vec![1.5, -2.25, 0.125],
            vec![-0.5, 3.0, 7.0],
            vec![2.0, 1.0, -1.0],
        ];
        let b0 = balance_residual(&g).unwrap().unwrap();
        for c in [2.0_f64.powi(-900), 0.5, 1024.0, 2.0_f64.powi(900)] {
            let s: Vec<Vec<f64>> = g
                .iter()
                .map(|v| v.iter().map(|x| c * x).collect())
                .collect();
            assert_eq!(balance_residual(&s).unwrap().unwrap(), b0, "c = {c:e}");
        }
    }

    #[test]
    fn tiny_and_huge_gradients_keep_q_representable_in_scaled_form() {
        let g: Vec<Vec<f64>> = vec![vec![1e-170, 0.0], vec![0.0, -2e-170]];
        let bal = balance(&g).unwrap();
        assert_eq!(bal.total_sq_norm, 0.0); // Q itself underflows …
        assert_eq!(bal.gradient_scale, 2e-170);
        assert!((bal.scaled_sq_norm - 1.25).abs() < 1e-15); // … its scaled form does not
        assert!((bal.b().unwrap() - 1.0).abs() < 1e-15);
    }

    #[test]
    fn degenerate_when_every_gradient_vanishes() {
        let g = vec![
            vec![0.0, 0.0, 0.0],
            vec![0.0, 0.0, 0.0],
            vec![0.0, -0.0, 0.0],
        ];
        let bal = balance(&g).unwrap();
        assert!(bal.is_degenerate());
        assert_eq!(bal.b(), None);
        assert_eq!(bal.interaction(), None);
        assert_eq!(bal.abs_i_plus_half(), None);
        assert_eq!(interaction_ratio(&g).unwrap(), None);
        let cos = cosine_matrix(&g).unwrap();
        assert!(cos.iter().flatten().all(Option::is_none));
    }

    #[test]
    fn one_zero_gradient_is_not_degenerate() {
        let g = vec![vec![0.0, 0.0], vec![3.0, 4.0]];
        let bal = balance(&g).unwrap();
        assert_eq!(bal.b(), Some(1.0));
        let cos = cosine_matrix(&g).unwrap();
        assert_eq!(cos[0][1], None);
        assert_eq!(cos[1][1], Some(1.0));
    }

    #[test]
    fn bad_shapes_are_errors() {
        assert_eq!(
            balance(&[vec![1.0_f64]]).unwrap_err(),
            Error::TooFewObjectives { found: 1 }
        );
        assert_eq!(
            balance(&[vec![1.0_f64, 2.0], vec![1.0]]).unwrap_err(),
            Error::RaggedGradients {
                index: 1,
                expected: 2,
                found: 1
            }
        );
        assert_eq!(
            balance::<f64, Vec<f64>>(&[vec![], vec![]]).unwrap_err(),
            Error::EmptyGradients
        );
        assert!(matches!(
            balance(&[vec![1.0, f64::NAN], vec![1.0, 0.0]]).unwrap_err(),
            Error::NonFiniteGradient {
                index: 0,
                component: 1,
                ..
            }
        ));
    }

    #[test]
    fn seed_e2_off_equilibrium_interaction() {
        // The seed's check: I(1.5, 0.5) = −0.418182 for the E2 objectives.
        let (x, y) = (1.5_f64, 0.5_f64);
        let g = vec![
            vec![2.0 * (x - 3.0), 2.0 * (y - 1.0)],
            vec![2.0 * (x + 1.0), 2.0 * (y - 4.0)],
            vec![2.0 * (x - 1.0), 2.0 * (y + 2.0)],
        ];
        let i = balance(&g).unwrap().interaction().unwrap();
        assert!((i - (-0.418181818181818)).abs() < 1e-12, "I = {i}");
    }

    #[test]
    fn abs_i_plus_half_keeps_precision_below_epsilon() {
        // s = 1e-20 in one coordinate: B ≈ 1e-40 / 2, far below ε.
        let g = vec![vec![1.0, 0.0], vec![-1.0, 1e-20_f64]];
        let bal = balance(&g).unwrap();
        let h = bal.abs_i_plus_half().unwrap();
        assert!((h / 2.5e-41 - 1.0).abs() < 1e-12, "|I+½| = {h:e}");
        // The naive form is exactly 0 here.
        assert_eq!(bal.interaction().unwrap() + 0.5, 0.0);
    }

    #[test]
    fn gram_and_cosine_values() {
        let g = vec![vec![1.0, 0.0], vec![1.0, 1.0]];
        let gram = gram_matrix(&g).unwrap();
        assert_eq!(gram, vec![vec![1.0, 1.0], vec![1.0, 2.0]]);
        let c = cosine_matrix(&g).unwrap();
        assert!((c[0][1].unwrap() - 1.0 / 2.0_f64.sqrt()).abs() < 1e-15);
    }
}
