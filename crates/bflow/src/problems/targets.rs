//! Competing targets: `L_i(θ) = w ||θ − t_i||² + A Σ_d (1 − cos(2π (θ_d − t_id)))`.
//!
//! With `A = 0` every `L_i` pulls θ toward its own target and the only equilibrium is the
//! mean target `θ* = (1/K) Σ t_i` (the seed's E1–E3). With `A > 0` each loss is
//! Rastrigin-like and `Σ L_i` has many stationary points (the seed's E4).
//!
//! Derivatives in closed form, per coordinate `u = θ_d − t_id`:
//! `∂L_i/∂θ_d = 2w u + 2πA sin(2πu)`, and the Hessian is diagonal,
//! `∂²L_i/∂θ_d² = 2w + 4π²A cos(2πu)`.

use super::{Problem, exact_f64};
use crate::interval::Interval;
use crate::objectives::Objectives;
use crate::real::Real;

/// The competing-targets class (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct Targets<F> {
    /// The K targets `t_i`, each of length n.
    pub targets: Vec<Vec<F>>,
    /// The weight `w` of the quadratic part.
    pub weight: F,
    /// The amplitude `A` of the cosine part (0 for pure quadratics).
    pub amplitude: F,
    /// The value of π used inside the cosine (the seed's E4 uses 3.14159265358979).
    pub pi: F,
}

impl<F: Real> Targets<F> {
    /// Pure quadratics `||θ − t_i||²`.
    pub fn quadratic(targets: Vec<Vec<F>>) -> Self {
        Self {
            targets,
            weight: F::one(),
            amplitude: F::zero(),
            pi: F::lit(std::f64::consts::PI),
        }
    }

    /// The mean target, the unique equilibrium when `A = 0`.
    pub fn mean_target(&self) -> Vec<F> {
        let k = F::lit(self.targets.len() as f64);
        let n = self.targets[0].len();
        (0..n)
            .map(|d| self.targets.iter().fold(F::zero(), |a, t| a + t[d]) / k)
            .collect()
    }
}

impl<F: Real> Objectives<F> for Targets<F> {
    fn num_objectives(&self) -> usize {
        self.targets.len()
    }

    fn dim(&self) -> usize {
        self.targets[0].len()
    }

    fn loss(&self, i: usize, theta: &[F]) -> F {
        let two_pi = F::lit(2.0) * self.pi;
        theta
            .iter()
            .zip(&self.targets[i])
            .fold(F::zero(), |acc, (&x, &t)| {
                let u = x - t;
                let mut l = self.weight * u * u;
                if self.amplitude != F::zero() {
                    l = l + self.amplitude * (F::one() - (two_pi * u).cos());
                }
                acc + l
            })
    }

    fn gradient(&self, i: usize, theta: &[F], grad: &mut [F]) {
        let two = F::lit(2.0);
        let two_pi = two * self.pi;
        for ((g, &x), &t) in grad.iter_mut().zip(theta).zip(&self.targets[i]) {
            let u = x - t;
            *g = two * self.weight * u;
            if self.amplitude != F::zero() {
                *g = *g + two_pi * self.amplitude * (two_pi * u).sin();
            }
        }
    }

    fn hvp(&self, i: usize, theta: &[F], v: &[F], hvp: &mut [F]) {
        let two = F::lit(2.0);
        let two_pi = two * self.pi;
        for (((h, &x), &t), &vd) in hvp.iter_mut().zip(theta).zip(&self.targets[i]).zip(v) {
            let mut curv = two * self.weight;
            if self.amplitude != F::zero() {
                curv = curv + two_pi * two_pi * self.amplitude * (two_pi * (x - t)).cos();
            }
            *h = curv * vd;
        }
    }

    /// `s_d = Σ_i 2w u + 2πA sin(2πu)` with `u = x_d − t_id`, in interval arithmetic with the
    /// problem's own `w`, `A`, `π` (`None` when they have no exact `f64` form).
    fn enclose_sum_gradient(&self, x: &[Interval]) -> Option<Vec<Interval>> {
        let (w, a, pi) = self.f64_params()?;
        let two_pi = Interval::point(2.0) * Interval::point(pi);
        let mut out = vec![Interval::point(0.0); x.len()];
        for t in &self.targets {
            for ((o, &xd), &td) in out.iter_mut().zip(x).zip(t) {
                let u = xd - Interval::point(exact_f64(td)?);
                let mut g = Interval::point(2.0 * w) * u;
                if a != 0.0 {
                    g = g + two_pi * Interval::point(a) * (two_pi * u).sin();
                }
                *o = *o + g;
            }
        }
        Some(out)
    }

    /// Diagonal: `Σ_i 2w + 4π²A cos(2πu)`; off-diagonal entries are exactly 0.
    fn enclose_sum_hessian(&self, x: &[Interval]) -> Option<Vec<Interval>> {
        let (w, a, pi) = self.f64_params()?;
        let n = x.len();
        let two_pi = Interval::point(2.0) * Interval::point(pi);
        let mut out = vec![Interval::point(0.0); n * n];
        for t in &self.targets {
            for (d, (&xd, &td)) in x.iter().zip(t).enumerate() {
                let u = xd - Interval::point(exact_f64(td)?);
                let mut h = Interval::point(2.0 * w);
                if a != 0.0 {
                    h = h + two_pi.sqr() * Interval::point(a) * (two_pi * u).cos();
                }
                out[d * n + d] = out[d * n + d] + h;
            }
        }
        Some(out)
    }
}

impl<F: Real> Targets<F> {
    /// `(w, A, π)` as exact `f64` values, or `None`.
    fn f64_params(&self) -> Option<(f64, f64, f64)> {
        Some((
            exact_f64(self.weight)?,
            exact_f64(self.amplitude)?,
            exact_f64(self.pi)?,
        ))
    }
}

fn lits<F: Real>(rows: &[&[f64]]) -> Vec<Vec<F>> {
    rows.iter()
        .map(|r| r.iter().map(|&x| F::lit(x)).collect())
        .collect()
}

fn quadratic_problem<F: Real>(
    name: &str,
    description: &str,
    targets: &[&[f64]],
    start: &[f64],
) -> Problem<F> {
    let t = Targets::quadratic(lits(targets));
    let eq = t.mean_target();
    Problem {
        name: name.to_string(),
        description: description.to_string(),
        start: start.iter().map(|&x| F::lit(x)).collect(),
        region: None,
        equilibria: vec![eq],
        objectives: Box::new(t),
    }
}

/// Seed E1: `L1 = (θ−3)²`, `L2 = (θ+2)²`; equilibrium 0.5; start −3.
pub fn seed_e1<F: Real>() -> Problem<F> {
    quadratic_problem(
        "e1",
        "seed E1: 1-D, K=2 convex",
        &[&[3.0], &[-2.0]],
        &[-3.0],
    )
}

/// Seed E2: targets (3, 1), (−1, 4), (1, −2); equilibrium (1, 1); start (−3, −3).
pub fn seed_e2<F: Real>() -> Problem<F> {
    let mut p = quadratic_problem(
        "e2",
        "seed E2: 2-D, K=3 convex",
        &[&[3.0, 1.0], &[-1.0, 4.0], &[1.0, -2.0]],
        &[-3.0, -3.0],
    );
    p.region = Some(vec![
        (F::lit(-2.0), F::lit(4.0)),
        (F::lit(-3.0), F::lit(5.0)),
    ]);
    p
}

/// Seed E3 (the seed's table): targets (3, 1, −2, 4), (−1, 3, 2, −3), (0, −1, 4, 2);
/// equilibrium (2/3, 1, 4/3, 1); start (−3, −3, −3, −3).
pub fn seed_e3<F: Real>() -> Problem<F> {
    quadratic_problem(
        "e3",
        "seed E3: 4-D, K=3 convex (the seed's table)",
        &[
            &[3.0, 1.0, -2.0, 4.0],
            &[-1.0, 3.0, 2.0, -3.0],
            &[0.0, -1.0, 4.0, 2.0],
        ],
        &[-3.0, -3.0, -3.0, -3.0],
    )
}

/// The value of π the seed's E4 code uses (14 digits, 3.2e-15 below the true π).
#[allow(clippy::approx_constant)]
pub const SEED_PI: f64 = 3.14159265358979;

/// Seed E4: `L_i = Σ_d (x_d − t_id)² + 5(1 − cos 2π(x_d − t_id))`, targets (2, 1), (−1, 3),
/// (0, −2), with the seed's π = 3.14159265358979; start (3, 3); region [−5.12, 5.12]².
/// Its equilibria are not known in closed form (none is listed).
pub fn seed_e4<F: Real>() -> Problem<F> {
    let t = Targets {
        targets: lits(&[&[2.0, 1.0], &[-1.0, 3.0], &[0.0, -2.0]]),
        weight: F::one(),
        amplitude: F::lit(5.0),
        pi: F::lit(SEED_PI),
    };
    Problem {
        name: "e4".to_string(),
        description: "seed E4: 2-D, K=3 Rastrigin-like (non-convex)".to_string(),
        start: vec![F::lit(3.0), F::lit(3.0)],
        region: Some(vec![(F::lit(-5.12), F::lit(5.12)); 2]),
        equilibria: Vec::new(),
        objectives: Box::new(t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objectives::check_derivatives;

    #[test]
    fn derivatives_match_finite_differences() {
        for p in [seed_e2::<f64>(), seed_e3(), seed_e4()] {
            let n = p.dim();
            let theta: Vec<f64> = (0..n).map(|j| 0.3 + 0.7 * j as f64).collect();
            let v: Vec<f64> = (0..n).map(|j| 1.0 - 0.4 * j as f64).collect();
            let err = check_derivatives(p.objectives.as_ref(), &theta, &v, 1e-5);
            assert!(err < 1e-7, "{}: relative FD error {err:e}", p.name);
        }
    }

    #[test]
    fn sum_hessian_of_e4_is_diagonal_and_matches_the_formula() {
        let p = seed_e4::<f64>();
        let theta = [0.3, -1.2];
        let h = crate::objectives::sum_hessian(p.objectives.as_ref(), &theta);
        let targets = [[2.0, 1.0], [-1.0, 3.0], [0.0, -2.0]];
        let w = 2.0 * SEED_PI;
        for d in 0..2 {
            let expect: f64 = targets
                .iter()
                .map(|t| 2.0 + w * w * 5.0 * (w * (theta[d] - t[d])).cos())
                .sum();
            assert!((h[d * 2 + d] - expect).abs() < 1e-12 * expect.abs().max(1.0));
        }
        assert_eq!(h[1], 0.0);
        assert_eq!(h[2], 0.0);
    }

    #[test]
    fn quadratic_equilibria_are_mean_targets() {
        let p = seed_e3::<f64>();
        let e = &p.equilibria[0];
        assert_eq!(e, &vec![2.0 / 3.0, 1.0, 4.0 / 3.0, 1.0]);
        assert_eq!(seed_e1::<f64>().equilibria[0], vec![0.5]);
        assert_eq!(seed_e2::<f64>().equilibria[0], vec![1.0, 1.0]);
    }
}
