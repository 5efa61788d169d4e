//! Two-parameter test surfaces written as competing objectives, for equilibrium mapping.
//!
//! Each class is closed form (losses, gradients, Hessians) and encloses `s` and the Hessian
//! of `Σ L` in interval arithmetic, so its equilibria can be certified. The formulas are
//! written once, generic over a small number trait, and evaluated both in `F` and in
//! [`Interval`].
//!
//! | name | objectives | equilibria of `Σ L` in the region |
//! |---|---|---|
//! | `himmelblau-split` | `L1 = (x²+y−11)²`, `L2 = (x+y²−7)²` | 4 minima (both `g_i` vanish: common stationary), 4 saddles, 1 maximum |
//! | `branin-split` | `L1 = (y − b x² + c x − r)² + (x+y)`, `L2 = s(1−t) cos x + s − (x+y)` | 3 minima `x ∈ {−π, π, 3π}`, 2 saddles `x ∈ {0, 2π}`, all on `y = b x² − c x + r` |
//! | `saddle` | `L1 = (x−1)² + (x+y)`, `L2 = −(y−2)² − (x+y)` | one saddle `(1, 2)`, Morse index 1 |
//!
//! Branin's constants are the usual `b = 5.1/(4π²)`, `c = 5/π`, `r = 6`, `s = 10`,
//! `t = 1/(8π)`. The linear transfer `±(x+y)` makes the terms compete: without it every
//! Branin equilibrium would have `g_1 = g_2 = 0` (B undefined there). Its equilibria:
//! `∂/∂y = 0` forces `h = y − b x² + c x − r = 0`, then `∂/∂x = −s(1−t) sin x = 0`, so
//! `x = kπ`; the Hessian determinant there is `−2 s (1−t) cos x`, negative (saddle) for even
//! `k`, positive with trace > 0 (minimum) for odd `k`.

use std::ops::{Add, Mul, Neg, Sub};

use super::{Problem, exact_f64};
use crate::interval::Interval;
use crate::objectives::Objectives;
use crate::real::Real;

/// The numbers the surfaces are written in: `F` and [`Interval`].
trait Num:
    Copy + Add<Output = Self> + Sub<Output = Self> + Mul<Output = Self> + Neg<Output = Self>
{
    fn c(x: f64) -> Self;
    fn sin(self) -> Self;
    fn cos(self) -> Self;
}

impl<F: Real> Num for F {
    fn c(x: f64) -> Self {
        F::lit(x)
    }
    fn sin(self) -> Self {
        Real::sin(self)
    }
    fn cos(self) -> Self {
        Real::cos(self)
    }
}

impl Num for Interval {
    fn c(x: f64) -> Self {
        Interval::point(x)
    }
    fn sin(self) -> Self {
        Interval::sin(self)
    }
    fn cos(self) -> Self {
        Interval::cos(self)
    }
}

/// Which surface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SurfaceKind {
    /// Himmelblau split into its two squared terms.
    HimmelblauSplit,
    /// Branin split into a valley term and a cosine term with a linear transfer.
    BraninSplit,
    /// A quadratic saddle split into two competing terms.
    Saddle,
}

/// A two-parameter, two-objective surface (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Surface {
    /// Which one.
    pub kind: SurfaceKind,
}

const PI: f64 = std::f64::consts::PI;
const BR_B: f64 = 5.1 / (4.0 * PI * PI);
const BR_C: f64 = 5.0 / PI;
const BR_R: f64 = 6.0;
const BR_S: f64 = 10.0;
const BR_T: f64 = 1.0 / (8.0 * PI);

impl Surface {
    fn constants(&self) -> &'static [f64] {
        match self.kind {
            SurfaceKind::BraninSplit => &[BR_B, BR_C, BR_R, BR_S, BR_T, 1.0 - BR_T],
            _ => &[],
        }
    }

    /// True when `F` holds every constant exactly, so that the `f64` enclosure encloses the
    /// function `F` evaluates.
    fn enclosable<F: Real>(&self) -> bool {
        self.constants()
            .iter()
            .all(|&c| exact_f64(F::lit(c)) == Some(c))
    }

    fn loss<T: Num>(&self, i: usize, x: T, y: T) -> T {
        let c = T::c;
        match (self.kind, i) {
            (SurfaceKind::HimmelblauSplit, 0) => {
                let a = x * x + y - c(11.0);
                a * a
            }
            (SurfaceKind::HimmelblauSplit, _) => {
                let b = x + y * y - c(7.0);
                b * b
            }
            (SurfaceKind::BraninSplit, 0) => {
                let h = y - c(BR_B) * x * x + c(BR_C) * x - c(BR_R);
                h * h + x + y
            }
            (SurfaceKind::BraninSplit, _) => c(BR_S) * c(1.0 - BR_T) * x.cos() + c(BR_S) - x - y,
            (SurfaceKind::Saddle, 0) => (x - c(1.0)) * (x - c(1.0)) + x + y,
            (SurfaceKind::Saddle, _) => -((y - c(2.0)) * (y - c(2.0))) - x - y,
        }
    }

    fn grad<T: Num>(&self, i: usize, x: T, y: T) -> [T; 2] {
        let c = T::c;
        match (self.kind, i) {
            (SurfaceKind::HimmelblauSplit, 0) => {
                let a = x * x + y - c(11.0);
                [c(4.0) * a * x, c(2.0) * a]
            }
            (SurfaceKind::HimmelblauSplit, _) => {
                let b = x + y * y - c(7.0);
                [c(2.0) * b, c(4.0) * b * y]
            }
            (SurfaceKind::BraninSplit, 0) => {
                let h = y - c(BR_B) * x * x + c(BR_C) * x - c(BR_R);
                let hx = c(BR_C) - c(2.0 * BR_B) * x;
                [c(2.0) * h * hx + c(1.0), c(2.0) * h + c(1.0)]
            }
            (SurfaceKind::BraninSplit, _) => {
                [-(c(BR_S) * c(1.0 - BR_T) * x.sin()) - c(1.0), -c(1.0)]
            }
            (SurfaceKind::Saddle, 0) => [c(2.0) * (x - c(1.0)) + c(1.0), c(1.0)],
            (SurfaceKind::Saddle, _) => [-c(1.0), -(c(2.0) * (y - c(2.0))) - c(1.0)],
        }
    }

    /// Row-major 2×2 Hessian of `L_i`.
    fn hess<T: Num>(&self, i: usize, x: T, y: T) -> [T; 4] {
        let c = T::c;
        match (self.kind, i) {
            (SurfaceKind::HimmelblauSplit, 0) => {
                let a = x * x + y - c(11.0);
                let xy = c(4.0) * x;
                [c(8.0) * x * x + c(4.0) * a, xy, xy, c(2.0)]
            }
            (SurfaceKind::HimmelblauSplit, _) => {
                let b = x + y * y - c(7.0);
                let xy = c(4.0) * y;
                [c(2.0), xy, xy, c(8.0) * y * y + c(4.0) * b]
            }
            (SurfaceKind::BraninSplit, 0) => {
                let h = y - c(BR_B) * x * x + c(BR_C) * x - c(BR_R);
                let hx = c(BR_C) - c(2.0 * BR_B) * x;
                let xy = c(2.0) * hx;
                [c(2.0) * hx * hx - c(4.0 * BR_B) * h, xy, xy, c(2.0)]
            }
            (SurfaceKind::BraninSplit, _) => {
                [-(c(BR_S) * c(1.0 - BR_T) * x.cos()), c(0.0), c(0.0), c(0.0)]
            }
            (SurfaceKind::Saddle, 0) => [c(2.0), c(0.0), c(0.0), c(0.0)],
            (SurfaceKind::Saddle, _) => [c(0.0), c(0.0), c(0.0), -c(2.0)],
        }
    }
}

impl<F: Real> Objectives<F> for Surface {
    fn num_objectives(&self) -> usize {
        2
    }

    fn dim(&self) -> usize {
        2
    }

    fn loss(&self, i: usize, theta: &[F]) -> F {
        Surface::loss(self, i, theta[0], theta[1])
    }

    fn gradient(&self, i: usize, theta: &[F], grad: &mut [F]) {
        grad.copy_from_slice(&self.grad(i, theta[0], theta[1]));
    }

    fn hvp(&self, i: usize, theta: &[F], v: &[F], hvp: &mut [F]) {
        let h = self.hess(i, theta[0], theta[1]);
        hvp[0] = h[0] * v[0] + h[1] * v[1];
        hvp[1] = h[2] * v[0] + h[3] * v[1];
    }

    fn enclose_sum_gradient(&self, x: &[Interval]) -> Option<Vec<Interval>> {
        if !self.enclosable::<F>() {
            return None;
        }
        let (a, b) = (self.grad(0, x[0], x[1]), self.grad(1, x[0], x[1]));
        Some(vec![a[0] + b[0], a[1] + b[1]])
    }

    fn enclose_sum_hessian(&self, x: &[Interval]) -> Option<Vec<Interval>> {
        if !self.enclosable::<F>() {
            return None;
        }
        let (a, b) = (self.hess(0, x[0], x[1]), self.hess(1, x[0], x[1]));
        Some((0..4).map(|k| a[k] + b[k]).collect())
    }
}

fn pt<F: Real>(x: f64, y: f64) -> Vec<F> {
    vec![F::lit(x), F::lit(y)]
}

/// `himmelblau-split`: `L1 = (x²+y−11)²`, `L2 = (x+y²−7)²` on `[−6, 6]²`; `Σ L` is
/// Himmelblau's function with 4 minima (listed as the known equilibria: exactly `(3, 2)`
/// and three irrational ones), 4 saddles and 1 maximum.
pub fn himmelblau_split<F: Real>() -> Problem<F> {
    Problem {
        name: "himmelblau-split".into(),
        description: "Himmelblau as two competing squares; 4 minima, 4 saddles, 1 maximum".into(),
        objectives: Box::new(Surface {
            kind: SurfaceKind::HimmelblauSplit,
        }),
        start: pt(0.0, 0.0),
        region: Some(vec![(F::lit(-6.0), F::lit(6.0)); 2]),
        equilibria: vec![pt(3.0, 2.0)],
    }
}

/// `branin-split` on `x ∈ [−5, 10]`, `y ∈ [0, 15]` (see the module docs); known equilibria
/// `(kπ, b k²π² − c kπ + r)` for `k = −1..3`.
pub fn branin_split<F: Real>() -> Problem<F> {
    let equilibria = (-1..=3)
        .map(|k| {
            let x = f64::from(k) * PI;
            pt(x, BR_B * x * x - BR_C * x + BR_R)
        })
        .collect();
    Problem {
        name: "branin-split".into(),
        description: "Branin as two competing terms; 3 minima, 2 saddles".into(),
        objectives: Box::new(Surface {
            kind: SurfaceKind::BraninSplit,
        }),
        start: pt(2.0, 5.0),
        region: Some(vec![
            (F::lit(-5.0), F::lit(10.0)),
            (F::lit(0.0), F::lit(15.0)),
        ]),
        equilibria,
    }
}

/// `saddle`: `L1 = (x−1)² + (x+y)`, `L2 = −(y−2)² − (x+y)` on `[−2, 4] × [−1, 5]`;
/// `Σ L = (x−1)² − (y−2)²` has one equilibrium, the saddle `(1, 2)` (Morse index 1), where
/// `g_1 = (1, 1) = −g_2`. Loss-flow never reaches it (only along `y = 2`).
pub fn saddle<F: Real>() -> Problem<F> {
    Problem {
        name: "saddle".into(),
        description: "a saddle equilibrium (1, 2) of Σ L, Morse index 1".into(),
        objectives: Box::new(Surface {
            kind: SurfaceKind::Saddle,
        }),
        start: pt(3.0, 0.0),
        region: Some(vec![
            (F::lit(-2.0), F::lit(4.0)),
            (F::lit(-1.0), F::lit(5.0)),
        ]),
        equilibria: vec![pt(1.0, 2.0)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objectives::check_derivatives;

    #[test]
    fn derivatives_match_finite_differences() {
        for p in [himmelblau_split::<f64>(), branin_split(), saddle()] {
            let theta = [0.7, 1.3];
            let err = check_derivatives(p.objectives.as_ref(), &theta, &[1.0, -0.6], 1e-5);
            assert!(err < 1e-7, "{}: relative FD error {err:e}", p.name);
        }
    }

    #[test]
    fn known_equilibria_have_zero_sum_gradient() {
        for p in [himmelblau_split::<f64>(), branin_split(), saddle()] {
            for e in &p.equilibria {
                let mut s = [0.0; 2];
                let mut g = [0.0; 2];
                for i in 0..2 {
                    p.objectives.gradient(i, e, &mut g);
                    s[0] += g[0];
                    s[1] += g[1];
                }
                assert!(
                    s[0].abs() < 1e-12 && s[1].abs() < 1e-12,
                    "{}: {s:?}",
                    p.name
                );
            }
        }
    }

    #[test]
    fn enclosures_contain_point_values() {
        for p in [himmelblau_split::<f64>(), branin_split(), saddle()] {
            let x = [Interval::centered(0.7, 1e-3), Interval::centered(1.3, 1e-3)];
            let gs = p.objectives.enclose_sum_gradient(&x).unwrap();
            let hs = p.objectives.enclose_sum_hessian(&x).unwrap();
            let theta = [0.7, 1.3];
            let h = crate::objectives::sum_hessian(p.objectives.as_ref(), &theta);
            let mut s = [0.0; 2];
            let mut g = [0.0; 2];
            for i in 0..2 {
                p.objectives.gradient(i, &theta, &mut g);
                s[0] += g[0];
                s[1] += g[1];
            }
            for d in 0..2 {
                assert!(gs[d].contains(s[d]) && gs[d].width() < 0.5, "{}", p.name);
            }
            for k in 0..4 {
                assert!(hs[k].contains(h[k]), "{}: {k}", p.name);
            }
        }
        // f32 cannot hold Branin's constants exactly: no enclosure rather than a wrong one.
        let b = branin_split::<f32>();
        assert!(
            b.objectives
                .enclose_sum_gradient(&[Interval::point(0.0); 2])
                .is_none()
        );
    }
}
