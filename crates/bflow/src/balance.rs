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
    let gradient_norms: Vec<F> = gradients.iter().map(|g| norm_l2(g.as_ref())).collect();
    let sum_norm = norm_l2(&sum);
    // Scale by the largest entry of any g_i so that squares neither overflow nor underflow.
    let scale = gradients
        .iter()
        .fold(F::zero(), |m, g| m.max(norm_max(g.as_ref())));
    let (residual, scaled_sq_norm) = scaled_residual(&gradient_norms, sum_norm, scale);
    Balance {
        sum,
        sum_norm,
        total_sq_norm: scaled_sq_norm * scale * scale,
        gradient_norms,
        gradient_scale: scale,
        scaled_sq_norm,
        residual,
    }
}

/// B from each `||g_i||`, `||s||` and the largest gradient entry `scale`, with every square
/// taken of a quantity divided by `scale` (so none overflows or underflows); also returns
/// `Q / scale²`. Degenerate when `scale = 0`.
pub(crate) fn scaled_residual<F: Real>(
    gradient_norms: &[F],
    sum_norm: F,
    scale: F,
) -> (Residual<F>, F) {
    if scale == F::zero() {
        return (Residual::Degenerate, F::zero());
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

/// Parses K gradient vectors from CSV text, one gradient per row, comma-separated.
///
/// Blank lines and lines starting with `#` are skipped. The first non-blank row is taken as
/// a header and skipped when none of its fields is a number. A leading byte-order mark is
/// ignored. `origin` names the file in
/// errors.
///
/// # Errors
/// [`Error::GradientsFile`] with the line and column of the first problem: a field that is
/// not a number, a NaN or infinite value, a row whose length differs from the first, no
/// data rows at all, or fewer than two rows (K ≥ 2).
///
/// ```
/// let g = bflow::balance::parse_gradients_csv("g1,g2\n1.0, 2.0\n-1.0, -2.5\n", "grads.csv")?;
/// assert_eq!(g, vec![vec![1.0, 2.0], vec![-1.0, -2.5]]);
/// # Ok::<(), bflow::Error>(())
/// ```
pub fn parse_gradients_csv(text: &str, origin: &str) -> Result<Vec<Vec<f64>>> {
    let err = |line: usize, column: usize, message: String| Error::GradientsFile {
        file: origin.to_string(),
        line,
        column,
        message,
    };
    let mut rows: Vec<Vec<f64>> = Vec::new();
    let mut first_row_line = 0;
    let mut seen_first = false;
    // A byte-order mark (spreadsheets write one) is not part of the first field.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        // Fields with the 1-based character column where each starts.
        let mut fields = Vec::new();
        let mut start = 0;
        for part in raw.split(',') {
            let lead = part.len() - part.trim_start().len();
            let column = raw[..start + lead].chars().count() + 1;
            fields.push((column, part.trim()));
            start += part.len() + 1;
        }
        let parsed: Vec<std::result::Result<f64, usize>> = fields
            .iter()
            .map(|&(column, f)| f.parse::<f64>().map_err(|_| column))
            .collect();
        if !seen_first {
            seen_first = true;
            // A header names columns: no field of it is a number. A row with one mistyped
            // number among numbers is data with an error, not a header.
            let is_header =
                parsed.iter().all(|p| p.is_err()) && fields.iter().any(|(_, f)| !f.is_empty());
            if is_header {
                continue;
            }
        }
        let mut row = Vec::with_capacity(fields.len());
        for (&(column, field), p) in fields.iter().zip(parsed) {
            match p {
                Ok(x) if x.is_finite() => row.push(x),
                Ok(_) => return Err(err(line, column, format!("`{field}` is not finite"))),
                Err(_) if field.is_empty() => {
                    return Err(err(line, column, "empty field".to_string()));
                }
                Err(_) => return Err(err(line, column, format!("`{field}` is not a number"))),
            }
        }
        if let Some(first) = rows.first() {
            if row.len() != first.len() {
                return Err(err(
                    line,
                    1,
                    format!(
                        "row has {} values, the first gradient (line {first_row_line}) has {}",
                        row.len(),
                        first.len()
                    ),
                ));
            }
        } else {
            first_row_line = line;
        }
        rows.push(row);
    }
    let last_line = text.lines().count().max(1);
    match rows.len() {
        0 => Err(err(last_line, 1, "no gradient rows".to_string())),
        1 => Err(err(
            last_line,
            1,
            "only one gradient row: balance needs K ≥ 2".to_string(),
        )),
        _ => Ok(rows),
    }
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
    fn gradients_csv_errors_name_line_and_column() {
        let e = |text: &str| parse_gradients_csv(text, "g.csv").unwrap_err().to_string();
        assert_eq!(e("1,2\n3,x\n"), "g.csv:2:3: `x` is not a number");
        assert_eq!(e("1, 2\n3,  nan\n"), "g.csv:2:5: `nan` is not finite");
        assert_eq!(
            e("1,2\n3,4,5\n"),
            "g.csv:2:1: row has 3 values, the first gradient (line 1) has 2"
        );
        assert_eq!(e(""), "g.csv:1:1: no gradient rows");
        assert_eq!(e("a,b\n\n"), "g.csv:2:1: no gradient rows");
        assert_eq!(
            e("a,b\n1,2\n"),
            "g.csv:2:1: only one gradient row: balance needs K ≥ 2"
        );
        assert_eq!(e("1,,2\n1,2,3\n"), "g.csv:1:3: empty field");
        let ok = parse_gradients_csv("# comment\nx,y\n1,2\n\n-1,-2\n", "g.csv").unwrap();
        assert_eq!(ok, vec![vec![1.0, 2.0], vec![-1.0, -2.0]]);
        // A numeric first row is data, not a header.
        assert_eq!(parse_gradients_csv("1,2\n3,4\n", "g").unwrap().len(), 2);
        // A mistyped number in the first row is an error, not a header.
        assert_eq!(e("1.0,2.o\n3,4\n5,6\n"), "g.csv:1:5: `2.o` is not a number");
        // A byte-order mark does not turn the first row into a header.
        let bom = parse_gradients_csv("\u{feff}1,2\n3,4\n5,6\n", "g").unwrap();
        assert_eq!(bom, vec![vec![1.0, 2.0], vec![3.0, 4.0], vec![5.0, 6.0]]);
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
