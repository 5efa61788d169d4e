//! The float types bflow computes in, and the few vector kernels every module shares.
//!
//! Every numerical routine in bflow is generic over [`Real`], so the same flow can run in
//! `f32`, `f64` (the default everywhere) or a wider type. The kernels here are the only
//! place where norms and dot products are written, so their accuracy and their overflow
//! behaviour are decided once.

use std::fmt;

/// A floating-point type bflow can compute in.
///
/// It is [`num_traits::Float`] plus what reports and threads need. Implemented for `f32` and
/// `f64`; a wider type only has to implement the `num_traits` traits and the two conversions
/// below.
pub trait Real:
    num_traits::Float
    + num_traits::FromPrimitive
    + fmt::Debug
    + fmt::Display
    + fmt::LowerExp
    + Default
    + Send
    + Sync
    + 'static
{
    /// A short name for reports: `"f32"`, `"f64"`, ….
    const NAME: &'static str;

    /// Converts an `f64` literal, rounding to nearest. Used for constants in formulas.
    fn lit(x: f64) -> Self {
        <Self as num_traits::FromPrimitive>::from_f64(x).unwrap_or_else(Self::nan)
    }

    /// Converts to the nearest `f64` (NaN when the value has no `f64` form), for reports.
    fn to_f64_lossy(self) -> f64 {
        num_traits::ToPrimitive::to_f64(&self).unwrap_or(f64::NAN)
    }
}

impl Real for f32 {
    const NAME: &'static str = "f32";
}

impl Real for f64 {
    const NAME: &'static str = "f64";
}

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
    let mut m = F::zero();
    for &x in a {
        if x.is_nan() {
            return x;
        }
        m = m.max(x.abs());
    }
    m
}

/// The Euclidean norm `||a||₂`, computed with a scaled accumulator so that it neither
/// overflows for entries near the largest float nor underflows for entries near the smallest.
pub fn norm_l2<F: Real>(a: &[F]) -> F {
    let scale = norm_max(a);
    if scale == F::zero() || !scale.is_finite() {
        return scale;
    }
    let sum = a.iter().fold(F::zero(), |acc, &x| {
        let y = x / scale;
        acc + y * y
    });
    scale * sum.sqrt()
}

/// `||a − b||₂`, overflow-safe like [`norm_l2`].
#[track_caller]
pub fn distance<F: Real>(a: &[F], b: &[F]) -> F {
    assert_eq!(a.len(), b.len(), "distance: length mismatch");
    let diff: Vec<F> = a.iter().zip(b).map(|(&x, &y)| x - y).collect();
    norm_l2(&diff)
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

    #[test]
    fn dot_and_distance() {
        assert_eq!(dot(&[1.0, 2.0, 3.0], &[4.0, -5.0, 6.0]), 12.0);
        assert!((distance(&[1.0_f64, 1.0], &[4.0, 5.0]) - 5.0).abs() < 1e-15);
    }
}
