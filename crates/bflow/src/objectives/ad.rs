//! Exact derivatives by forward-mode automatic differentiation (num-dual).
//!
//! Write each loss once, generic over the number type `D`, and [`AutoDiff`] gives the
//! [`Objectives`] trait with exact gradients and Hessian-vector products:
//!
//! * the gradient evaluates the loss on dual vectors of width n (one pass);
//! * the HVP evaluates it on dual vectors whose entries are themselves dual numbers seeded
//!   with `v`, so one pass yields both `g` and `H v` exactly (forward over forward).
//!
//! Each pass costs O(n) times the loss, so this back-end suits problems up to a few hundred
//! parameters; large problems implement [`Objectives`] in closed form.
//!
//! ```
//! use bflow::objectives::{AdObjectives, AutoDiff, Objectives};
//! use num_dual::DualNum;
//!
//! /// L1 = (x − 3)², L2 = (x + 2)².
//! struct Pair;
//! impl AdObjectives for Pair {
//!     fn num_objectives(&self) -> usize { 2 }
//!     fn dim(&self) -> usize { 1 }
//!     fn loss<D: DualNum<Primitive = f64>>(&self, i: usize, theta: &[D]) -> D {
//!         let t = if i == 0 { 3.0 } else { -2.0 };
//!         (theta[0].clone() - t).powi(2)
//!     }
//! }
//! let p = AutoDiff(Pair);
//! let mut g = [0.0];
//! p.gradient(0, &[1.0], &mut g);
//! assert_eq!(g, [-4.0]);
//! let mut hv = [0.0];
//! p.hvp(1, &[1.0], &[0.5], &mut hv);
//! assert_eq!(hv, [1.0]);
//! ```

use nalgebra::DVector;
use num_dual::{Dual64, DualNum, gradient};

use super::Objectives;
use crate::interval::Interval;

/// K objectives written once over a generic dual number type.
pub trait AdObjectives: Send + Sync {
    /// K.
    fn num_objectives(&self) -> usize;
    /// n.
    fn dim(&self) -> usize;
    /// `L_i(θ)`, written for any dual number type over `f64`.
    fn loss<D: DualNum<Primitive = f64>>(&self, i: usize, theta: &[D]) -> D;

    /// A rigorous enclosure of `s = Σ_i ∇L_i` over a box (see
    /// [`Objectives::enclose_sum_gradient`]); `None` (the default) when not available.
    fn enclose_sum_gradient(&self, x: &[Interval]) -> Option<Vec<Interval>> {
        let _ = x;
        None
    }

    /// A rigorous enclosure of the Hessian of `Σ L_i` over a box, row-major (see
    /// [`Objectives::enclose_sum_hessian`]); `None` (the default) when not available.
    fn enclose_sum_hessian(&self, x: &[Interval]) -> Option<Vec<Interval>> {
        let _ = x;
        None
    }
}

/// Wraps an [`AdObjectives`] to give exact derivatives through forward-mode AD.
#[derive(Debug, Clone)]
pub struct AutoDiff<P>(pub P);

impl<P: AdObjectives> Objectives<f64> for AutoDiff<P> {
    fn num_objectives(&self) -> usize {
        self.0.num_objectives()
    }

    fn dim(&self) -> usize {
        self.0.dim()
    }

    fn loss(&self, i: usize, theta: &[f64]) -> f64 {
        self.0.loss(i, theta)
    }

    fn gradient(&self, i: usize, theta: &[f64], grad: &mut [f64]) {
        let x = DVector::from_column_slice(theta);
        let (_, g) = gradient(|v: DVector<_>| self.0.loss(i, v.as_slice()), &x);
        grad.copy_from_slice(g.as_slice());
    }

    fn hvp(&self, i: usize, theta: &[f64], v: &[f64], hvp: &mut [f64]) {
        let x: DVector<Dual64> = DVector::from_iterator(
            theta.len(),
            theta.iter().zip(v).map(|(&t, &d)| Dual64::new(t, d)),
        );
        let (_, g) = gradient(|y: DVector<_>| self.0.loss(i, y.as_slice()), &x);
        for (h, gj) in hvp.iter_mut().zip(g.iter()) {
            *h = gj.eps;
        }
    }

    fn enclose_sum_gradient(&self, x: &[Interval]) -> Option<Vec<Interval>> {
        self.0.enclose_sum_gradient(x)
    }

    fn enclose_sum_hessian(&self, x: &[Interval]) -> Option<Vec<Interval>> {
        self.0.enclose_sum_hessian(x)
    }
}
