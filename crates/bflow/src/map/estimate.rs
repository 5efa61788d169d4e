//! How many equilibria a map has not found yet, estimated from how often it found each one.
//!
//! Every search that ends at an equilibrium is a *hit*; `N` is the number of hits and `f_k`
//! the number of equilibria hit exactly `k` times (`S` of them found in all). The point
//! estimate is the coverage estimator (Chao & Lee, *JASA* 87, 1992, with the coefficient of
//! variation set to 0):
//!
//! ```text
//! Ĉ = 1 − f₁/N   (Good–Turing sample coverage: the share of hits on equilibria hit more than once)
//! unfound = S (1 − Ĉ)/Ĉ = S f₁/(N − f₁)
//! ```
//!
//! It is 0 when no equilibrium was hit only once, and it never grows while searches add
//! hits without new finds (`f₁` cannot grow then, and N does) — a property Chao1
//! (`f₁²/2f₂`) does not have: there a doubleton hit a third time raises the estimate. The
//! upper bound replaces the missing mass `f₁/N` by its 95% upper confidence bound
//! `f₁/N + (2√2 + √3) √(ln(3/δ)/N)` with δ = 0.05 (McAllester & Schapire, *COLT* 2000), and
//! the bias-corrected Chao1 `f₁(f₁ − 1)/(2(f₂ + 1))` is reported beside them for reference.
//!
//! All three assume that searches hit equilibria independently with fixed probabilities
//! (their basins); an equilibrium whose basin no search enters cannot be counted. That is
//! what the degree check and the interval proof are for.

/// The statistical layer of a map's completeness.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct UnfoundEstimate {
    /// Equilibria found.
    pub found: usize,
    /// Searches that ended at an equilibrium.
    pub hits: u64,
    /// Equilibria hit exactly once.
    pub singletons: usize,
    /// Equilibria hit exactly twice.
    pub doubletons: usize,
    /// The point estimate of equilibria not yet found (see the module docs).
    pub estimate_unfound: f64,
    /// Its 95% upper bound.
    pub estimate_unfound_upper: f64,
    /// Bias-corrected Chao1, `f₁(f₁ − 1)/(2(f₂ + 1))`, for reference.
    pub chao1_unfound: f64,
}

impl UnfoundEstimate {
    /// Whether these hits let an adaptive map stop (the statistical half of its rule; the
    /// other half is that the last half of its starts found nothing new): the estimate of
    /// unfound equilibria is below ½, and its 95 % upper bound is below the number found —
    /// the upper bound `M` of the missing mass, the chance that the next hit is an equilibrium
    /// not yet found, is below ½ (`S M/(1 − M) < S`). With no singletons `M` is
    /// `(2√2 + √3)√(ln 60/N)`, below ½ from N = 341 hits on: a map whose searches seldom end
    /// at an equilibrium runs on until it has seen that many, where the point estimate alone
    /// said 0 after a hundred.
    ///
    /// ```
    /// use bflow::map::estimate_unfound;
    /// // Three equilibria, none hit once, but 105 hits in all: too few to stop.
    /// assert!(!estimate_unfound(&[60, 30, 15]).looks_complete());
    /// // The same shares over 420 hits: enough.
    /// assert!(estimate_unfound(&[240, 120, 60]).looks_complete());
    /// ```
    pub fn looks_complete(&self) -> bool {
        self.estimate_unfound < 0.5 && self.estimate_unfound_upper < self.found as f64
    }
}

/// Two-sided constant of McAllester and Schapire's deviation bound for the missing mass.
const MISSING_MASS_CONSTANT: f64 = 2.0 * std::f64::consts::SQRT_2 + 1.732_050_807_568_877_2;

/// The estimate from the hit count of every equilibrium found.
///
/// ```
/// use bflow::map::estimate_unfound;
/// // Nine equilibria, each hit at least twice: nothing suggests a tenth.
/// let e = estimate_unfound(&[5, 3, 2, 2, 9, 4, 2, 7, 3]);
/// assert_eq!(e.estimate_unfound, 0.0);
/// // Three of four hit only once: more are likely.
/// let e = estimate_unfound(&[1, 1, 1, 4]);
/// assert!(e.estimate_unfound > 2.0);
/// ```
pub fn estimate_unfound(hits: &[u64]) -> UnfoundEstimate {
    let found = hits.iter().filter(|&&h| h > 0).count();
    let n: u64 = hits.iter().sum();
    let f1 = hits.iter().filter(|&&h| h == 1).count();
    let f2 = hits.iter().filter(|&&h| h == 2).count();
    let (s, nf, f1f) = (found as f64, n as f64, f1 as f64);
    let estimate = if n == 0 {
        0.0
    } else if f1 as u64 >= n {
        // Every hit found a new equilibrium: coverage 0, no finite estimate.
        f64::INFINITY
    } else {
        s * f1f / (nf - f1f)
    };
    let upper = if n == 0 {
        f64::INFINITY
    } else {
        let delta: f64 = 0.05;
        let mass = (f1f / nf + MISSING_MASS_CONSTANT * ((3.0 / delta).ln() / nf).sqrt()).min(1.0);
        if mass >= 1.0 {
            f64::INFINITY
        } else {
            s * mass / (1.0 - mass)
        }
    };
    UnfoundEstimate {
        found,
        hits: n,
        singletons: f1,
        doubletons: f2,
        estimate_unfound: estimate,
        estimate_unfound_upper: upper,
        chao1_unfound: f1f * (f1f - 1.0).max(0.0) / (2.0 * (f2 as f64 + 1.0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_values() {
        let e = estimate_unfound(&[1, 1, 2, 3, 5]);
        // S = 5, N = 12, f1 = 2: 5·2/10 = 1.
        assert_eq!((e.found, e.hits, e.singletons, e.doubletons), (5, 12, 2, 1));
        assert!((e.estimate_unfound - 1.0).abs() < 1e-15);
        assert!((e.chao1_unfound - 0.5).abs() < 1e-15);
        assert!(e.estimate_unfound_upper > e.estimate_unfound);
        assert_eq!(estimate_unfound(&[]).estimate_unfound, 0.0);
        assert!(estimate_unfound(&[1, 1, 1]).estimate_unfound.is_infinite());
    }

    proptest! {
        /// The estimate is ≥ 0, and adding hits to equilibria already found never raises it.
        #[test]
        fn non_negative_and_not_growing_without_new_finds(
            hits in prop::collection::vec(1u64..6, 1..40),
            extra in prop::collection::vec(0usize..40, 1..200),
        ) {
            let mut h = hits.clone();
            let mut last = estimate_unfound(&h);
            prop_assert!(last.estimate_unfound >= 0.0);
            prop_assert!(last.estimate_unfound_upper >= last.estimate_unfound);
            for k in extra {
                let i = k % h.len();
                h[i] += 1;
                let next = estimate_unfound(&h);
                prop_assert!(next.estimate_unfound >= 0.0);
                prop_assert!(
                    next.estimate_unfound <= last.estimate_unfound
                        || (next.estimate_unfound.is_infinite() && last.estimate_unfound.is_infinite()),
                    "{} → {}", last.estimate_unfound, next.estimate_unfound
                );
                prop_assert!(next.estimate_unfound_upper <= last.estimate_unfound_upper);
                last = next;
            }
        }
    }
}
