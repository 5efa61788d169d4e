//! Symbolic differentiation: [`Expr::derivative`] builds `∂/∂θ_j` as a new simplified tree.

use super::tree::sum_is_exact;
use super::{Expr, Func};

impl Expr {
    /// The partial derivative `∂/∂θ_j` as a new, simplified tree.
    ///
    /// `abs` differentiates to `sign` (0 at 0); `sign` to 0.
    pub fn derivative(&self, j: usize) -> Expr {
        if !self.depends_on(j) {
            return Expr::Const(0.0);
        }
        match self {
            Expr::Const(_) => Expr::Const(0.0),
            Expr::Var(i) => Expr::Const(if *i == j { 1.0 } else { 0.0 }),
            Expr::Neg(a) => Expr::neg(a.derivative(j)),
            Expr::Add(a, b) => Expr::add(a.derivative(j), b.derivative(j)),
            Expr::Sub(a, b) => Expr::sub(a.derivative(j), b.derivative(j)),
            Expr::Mul(a, b) => Expr::add(
                Expr::mul(a.derivative(j), (**b).clone()),
                Expr::mul((**a).clone(), b.derivative(j)),
            ),
            Expr::Div(a, b) => {
                // (a/b)' = a'/b − a b' / b².
                let first = Expr::div(a.derivative(j), (**b).clone());
                let db = b.derivative(j);
                if db.as_const() == Some(0.0) {
                    return first;
                }
                Expr::sub(
                    first,
                    Expr::div(Expr::mul((**a).clone(), db), Expr::powi((**b).clone(), 2)),
                )
            }
            Expr::PowI(a, n) => {
                let outer = Expr::mul(
                    Expr::Const(f64::from(*n)),
                    // n − 1 cannot overflow for n = i32::MIN: fall back to a real power.
                    match n.checked_sub(1) {
                        Some(m) => Expr::powi((**a).clone(), m),
                        None => Expr::pow((**a).clone(), f64::from(*n) - 1.0),
                    },
                );
                Expr::mul(outer, a.derivative(j))
            }
            Expr::PowF(a, p) => {
                // p·a^(p−1), or p·a^p / a where p − 1 would round (a^p is only defined for
                // a > 0, so the division is safe wherever the function is).
                let power = if sum_is_exact(*p, -1.0) {
                    Expr::pow((**a).clone(), *p - 1.0)
                } else {
                    Expr::div(self.clone(), (**a).clone())
                };
                let outer = Expr::mul(Expr::Const(*p), power);
                Expr::mul(outer, a.derivative(j))
            }
            Expr::Call(f, a) => {
                let a0 = (**a).clone();
                let outer = match f {
                    Func::Sin => Expr::call(Func::Cos, a0),
                    Func::Cos => Expr::neg(Expr::call(Func::Sin, a0)),
                    Func::Tan => {
                        Expr::div(Expr::Const(1.0), Expr::powi(Expr::call(Func::Cos, a0), 2))
                    }
                    Func::Exp => Expr::call(Func::Exp, a0),
                    Func::Ln => Expr::div(Expr::Const(1.0), a0),
                    Func::Sqrt => Expr::div(Expr::Const(0.5), Expr::call(Func::Sqrt, a0)),
                    Func::Abs => Expr::call(Func::Sign, a0),
                    Func::Sign => Expr::Const(0.0),
                    Func::Tanh => {
                        Expr::sub(Expr::Const(1.0), Expr::powi(Expr::call(Func::Tanh, a0), 2))
                    }
                    Func::Sinh => Expr::call(Func::Cosh, a0),
                    Func::Cosh => Expr::call(Func::Sinh, a0),
                    Func::Atan => Expr::div(
                        Expr::Const(1.0),
                        Expr::add(Expr::Const(1.0), Expr::powi(a0, 2)),
                    ),
                };
                Expr::mul(outer, a.derivative(j))
            }
        }
    }
}
