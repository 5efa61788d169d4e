//! The float types bflow computes in, and the few vector kernels every module shares.
//!
//! Every numerical routine in bflow is generic over [`Real`], so the same flow can run in
//! `f32`, `f64` (the default everywhere) or a wider type. The kernels here are the only
//! place where norms and dot products are written, so their accuracy and their overflow
//! behaviour are decided once.

use std::fmt;
use std::ops::{Add, Div, Mul, Neg, Sub};

/// A floating-point type bflow can compute in.
///
/// The trait asks for exactly what bflow's generic code uses, no more: the five arithmetic
/// operators, comparison, the formatting that reports and error messages use, the handful of
/// constants and elementary functions below, and `Send + Sync + 'static` so that values can
/// cross the threads of the parallel evaluators and sit in boxed trait objects. It is
/// implemented for `f32` and `f64` by forwarding to their inherent methods, so every method
/// has the meaning (and the special-value behaviour) of the `f64` method of the same name. A
/// wider type (the double-double of the `bflow-dd` package) implements the same list.
///
/// `PartialEq` comes with `PartialOrd`. There is no `Default`, `Sum`, `%` or `*=`: generic
/// code writes `F::zero()` and `a = a + b`.
pub trait Real:
    Copy
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + fmt::Debug
    + fmt::Display
    + fmt::LowerExp
    + Send
    + Sync
    + 'static
{
    /// A short name for reports: `"f32"`, `"f64"`, ….
    const NAME: &'static str;

    /// Converts an `f64` literal, rounding to nearest. Used for constants in formulas and
    /// for counts (`F::lit(k as f64)`, exact for `k < 2⁵³`).
    fn lit(x: f64) -> Self;

    /// Converts to the nearest `f64` (NaN when the value has no `f64` form), for reports.
    fn to_f64_lossy(self) -> f64;

    /// `0`: the start of every sum and the degenerate `Q = 0` test.
    fn zero() -> Self;

    /// `1`: denominators such as `1/m` and `1/(1 + e⁻ᵗ)`.
    fn one() -> Self;

    /// Not a number: what an undefined quantity reads when a report needs a value.
    fn nan() -> Self;

    /// The machine epsilon, the gap between 1 and the next value: floors and tolerances are
    /// stated in it (`||s|| ≤ 4 ε Σ||g_i||`, "B ≤ √ε is an equilibrium").
    fn epsilon() -> Self;

    /// The smallest positive value with full precision (`f64::MIN_POSITIVE`): the
    /// Levenberg–Marquardt step takes its square root as the smallest damping.
    fn min_positive_value() -> Self;

    /// True unless NaN or ±∞: the flows stop on the first non-finite value and keep the last
    /// finite iterate.
    fn is_finite(self) -> bool;

    /// True for NaN, which every comparison silently lets through: norms return it,
    /// parameter checks, line searches and the Cholesky solve reject it explicitly.
    fn is_nan(self) -> bool;

    /// `|x|`: scaled norms, relative tolerances.
    fn abs(self) -> Self;

    /// The larger of two values, the other one if either is NaN (as `f64::max`): norms and
    /// scales.
    fn max(self, other: Self) -> Self;

    /// The smaller of two values, the other one if either is NaN (as `f64::min`): the
    /// distance to the nearest known equilibrium.
    fn min(self, other: Self) -> Self;

    /// `√x` (NaN below 0): Euclidean norms, √B, CG residual norms, Cholesky pivots.
    fn sqrt(self) -> Self;

    /// `sin x`: the periodic terms of the `Targets` problems and Branin's cosine term.
    fn sin(self) -> Self;

    /// `cos x`: as [`Real::sin`].
    fn cos(self) -> Self;

    /// `eˣ`: the logistic loss of the multi-task problems (`e^{−|t|}`, never overflowing).
    fn exp(self) -> Self;

    /// `ln(1 + x)`, accurate for small `x`: the logistic loss `log(1 + e^{−|t|})`.
    fn ln_1p(self) -> Self;
}

/// Implements [`Real`] for a primitive float by forwarding to its inherent methods and
/// constants.
macro_rules! real_for_primitive {
    ($t:ident) => {
        impl Real for $t {
            const NAME: &'static str = stringify!($t);

            /// `x as` the type: rounds to nearest, overflows to ±∞, keeps NaN.
            fn lit(x: f64) -> Self {
                x as $t
            }
            /// Exact.
            fn to_f64_lossy(self) -> f64 {
                self as f64
            }
            fn zero() -> Self {
                0.0
            }
            fn one() -> Self {
                1.0
            }
            fn nan() -> Self {
                $t::NAN
            }
            fn epsilon() -> Self {
                $t::EPSILON
            }
            fn min_positive_value() -> Self {
                $t::MIN_POSITIVE
            }
            fn is_finite(self) -> bool {
                $t::is_finite(self)
            }
            fn is_nan(self) -> bool {
                $t::is_nan(self)
            }
            fn abs(self) -> Self {
                $t::abs(self)
            }
            fn max(self, other: Self) -> Self {
                $t::max(self, other)
            }
            fn min(self, other: Self) -> Self {
                $t::min(self, other)
            }
            fn sqrt(self) -> Self {
                $t::sqrt(self)
            }
            fn sin(self) -> Self {
                $t::sin(self)
            }
            fn cos(self) -> Self {
                $t::cos(self)
            }
            fn exp(self) -> Self {
                $t::exp(self)
            }
            fn ln_1p(self) -> Self {
                $t::ln_1p(self)
            }
        }
    };
}

real_for_primitive!(f32);
real_for_primitive!(f64);

/// Dot product `Σ a_j b_j`, summed left to right.
///
/// # Panics
/// When the slices differ in length (a bug in the caller, not a user error).
#[track_caller]
pub fn dot<F: Real>(a: &[F], b: &[F]) -> F {
    assert_eq!(a.len(), b.len(), "dot: length mismatch");
    a.iter().zip(b).fold(F::zero(), |acc, (&x, &y)| acc + x * y)
}

/// `y ← y + a·x`, entry by entry.
///
/// # Panics
/// When the slices differ in length (a bug in the caller, not a user error).
#[track_caller]
pub fn axpy<F: Real>(y: &mut [F], a: F, x: &[F]) {
    assert_eq!(y.len(), x.len(), "axpy: length mismatch");
    for (yi, &xi) in y.iter_mut().zip(x) {
        *yi = *yi + a * xi;
    }
}

/// The largest absolute entry, `max_j |a_j|` (0 for an empty slice, NaN if any entry is NaN).
pub fn norm_max<F: Real>(a: &[F]) -> F {
    max_abs_of(a.iter().copied())
}

/// The largest `|x|` of `entries` (0 for none; the first NaN if any).
fn max_abs_of<F: Real>(entries: impl Iterator<Item = F>) -> F {
    let mut m = F::zero();
    for x in entries {
        if x.is_nan() {
            return x;
        }
        m = m.max(x.abs());
    }
    m
}

/// The Euclidean norm `||a||₂`: `√Σ a_j²` formed directly where no square can overflow and
/// none that matters underflows, and with an accumulator scaled by the largest `|a_j|`
/// elsewhere (entries near either end of the float range), so that it neither overflows
/// for entries near the largest float nor underflows for entries near the smallest.
pub fn norm_l2<F: Real>(a: &[F]) -> F {
    norm_l2_from_squares(a, sum_of_squares(a))
}

/// `Σ a_j²`, added from 0 in order.
pub(crate) fn sum_of_squares<F: Real>(a: &[F]) -> F {
    a.iter().fold(F::zero(), |acc, &x| acc + x * x)
}

/// [`norm_l2`] of `a` given `sq`, its [`sum_of_squares`] (formed in the same order): `√sq`
/// when `σ ≤ sq ≤ 1/σ` with `σ` the smallest normal float over `ε²` (`2⁻⁹¹⁸` in `f64`,
/// `2⁻⁸⁰` in `f32`) — then no square overflowed, and the squares that underflowed lost less
/// than `2⁻¹⁵⁶` (`f32`: `2⁻⁶⁹`) of `sq` per entry — and the scaled accumulator otherwise
/// (also for a NaN or an infinite entry, and for `sq = 0`, which may be an underflow).
pub(crate) fn norm_l2_from_squares<F: Real>(a: &[F], sq: F) -> F {
    norm_of(|| a.iter().copied(), sq)
}

/// [`norm_l2_from_squares`] of `entries()`.
fn norm_of<F: Real, I: Iterator<Item = F>>(entries: impl Fn() -> I, sq: F) -> F {
    let low = F::min_positive_value() / (F::epsilon() * F::epsilon());
    if sq >= low && sq <= F::one() / low {
        return sq.sqrt();
    }
    let scale = max_abs_of(entries());
    scaled_norm_of(entries, scale)
}

/// `scale · √Σ (x/scale)²` over `entries()` for their largest `|x|`, `scale` (itself when
/// it is 0 or not finite).
fn scaled_norm_of<F: Real, I: Iterator<Item = F>>(entries: impl Fn() -> I, scale: F) -> F {
    if scale == F::zero() || !scale.is_finite() {
        return scale;
    }
    let sum = entries().fold(F::zero(), |acc, x| {
        let y = x / scale;
        acc + y * y
    });
    scale * sum.sqrt()
}

/// `||a − b||₂`, overflow-safe like [`norm_l2`].
#[track_caller]
pub fn distance<F: Real>(a: &[F], b: &[F]) -> F {
    assert_eq!(a.len(), b.len(), "distance: length mismatch");
    // norm_l2 of the differences, formed twice rather than stored (no allocation: maps call
    // this for every search's end point against the equilibria near it).
    let diff = || a.iter().zip(b).map(|(&x, &y)| x - y);
    norm_of(diff, diff().fold(F::zero(), |acc, x| acc + x * x))
}

/// True when every entry is finite.
pub fn all_finite<F: Real>(a: &[F]) -> bool {
    a.iter().all(|x| x.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn norm_l2_does_not_overflow_or_underflow() {
        let big = [3.0e300_f64, 4.0e300];
        assert!((norm_l2(&big) / 5.0e300 - 1.0).abs() < 4.0 * f64::EPSILON);
        let tiny = [3.0e-310_f64, 4.0e-310];
        assert!((norm_l2(&tiny) / 5.0e-310 - 1.0).abs() < 1e-6);
        assert_eq!(norm_l2::<f64>(&[]), 0.0);
        assert!(norm_l2(&[1.0, f64::NAN]).is_nan());
    }

    /// Where the squares are summed directly and where they are scaled: the norm agrees with
    /// the scaled accumulator to a few ulps at every magnitude, the thresholds included.
    #[test]
    fn norm_l2_is_the_scaled_norm_at_every_magnitude() {
        let scaled = |a: &[f64]| {
            let m = norm_max(a);
            m * a.iter().map(|x| (x / m) * (x / m)).sum::<f64>().sqrt()
        };
        let mut checked = 0;
        for e in (-1070..=1020).step_by(7) {
            for shape in [[1.0, 0.5, -0.25], [3.0, -4.0, 0.0], [1.0, 1e-9, -1e-17]] {
                let a: Vec<f64> = shape.iter().map(|x| x * 2f64.powi(e)).collect();
                let (got, want) = (norm_l2(&a), scaled(&a));
                if want == 0.0 || !want.is_normal() {
                    continue;
                }
                assert!(
                    (got / want - 1.0).abs() <= 4.0 * f64::EPSILON,
                    "2^{e} {shape:?}: {got:e} vs {want:e}"
                );
                checked += 1;
            }
        }
        assert!(checked > 800, "{checked}");
        // Just inside and just outside the direct range (squares summing to about 2^±918).
        for e in [-460, -459, -458, 458, 459, 460] {
            let a = [2f64.powi(e), -(2f64.powi(e - 1)), 2f64.powi(e - 2)];
            assert!((norm_l2(&a) / scaled(&a) - 1.0).abs() <= 4.0 * f64::EPSILON);
        }
    }

    #[test]
    fn dot_and_distance() {
        assert_eq!(dot(&[1.0, 2.0, 3.0], &[4.0, -5.0, 6.0]), 12.0);
        assert!((distance(&[1.0_f64, 1.0], &[4.0, 5.0]) - 5.0).abs() < 1e-15);
        // Bit for bit the norm of the stored differences, extremes and NaN included.
        let pairs: [([f64; 3], [f64; 3]); 4] = [
            ([0.1, -2.7, 1e-3], [0.3, 5.1, -7e-4]),
            ([1e300, -1e300, 0.0], [-1e300, 1e300, 1.0]),
            ([3e-310, 0.0, -4e-310], [0.0, 0.0, 0.0]),
            ([1.0, f64::NAN, 2.0], [0.0, 0.0, 0.0]),
        ];
        for (a, b) in pairs {
            let diff: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x - y).collect();
            assert_eq!(
                distance(&a, &b).to_bits(),
                norm_l2(&diff).to_bits(),
                "{a:?} {b:?}"
            );
        }
    }
}
