//! Evaluation of a tree in any number type that implements [`ExprScalar`]: `f64`, every
//! num-dual number, and [`Interval`](crate::interval::Interval).

use std::ops::{Add, Div, Mul, Neg, Sub};

use num_dual::DualNum;

use super::tree::sign_f64;
use super::{Expr, Func};

/// A number type expression trees can be evaluated in.
///
/// Implemented for every `D: num_dual::DualNum<Primitive = f64>`, which includes `f64`
/// itself and all the dual numbers [`AutoDiff`](crate::objectives::AutoDiff) uses. A new
/// type (an interval, say) implements the arithmetic operators, the two powers and
/// [`apply`](ExprScalar::apply):
///
/// ```
/// use bflow::objectives::expr::{Expr, ExprScalar, Func};
/// use std::ops::{Add, Div, Mul, Neg, Sub};
///
/// /// A number that also counts the operations made on it.
/// #[derive(Clone, Debug)]
/// struct Counted(f64, u32);
/// macro_rules! op {
///     ($tr:ident, $f:ident, $o:tt) => {
///         impl $tr for Counted {
///             type Output = Counted;
///             fn $f(self, b: Counted) -> Counted { Counted(self.0 $o b.0, self.1 + b.1 + 1) }
///         }
///     };
/// }
/// op!(Add, add, +);
/// op!(Sub, sub, -);
/// op!(Mul, mul, *);
/// op!(Div, div, /);
/// impl Neg for Counted {
///     type Output = Counted;
///     fn neg(self) -> Counted { Counted(-self.0, self.1 + 1) }
/// }
/// impl ExprScalar for Counted {
///     fn constant(c: f64) -> Self { Counted(c, 0) }
///     fn pow_int(&self, n: i32) -> Self { Counted(self.0.powi(n), self.1 + 1) }
///     fn pow_real(&self, p: f64) -> Self { Counted(self.0.powf(p), self.1 + 1) }
///     fn apply(&self, f: Func) -> Self { Counted(f.apply_f64(self.0), self.1 + 1) }
/// }
///
/// let e = Expr::parse("sin(x)^2 + 3*y", &["x", "y"], &[]).unwrap();
/// let v = e.eval(&[Counted(0.5, 0), Counted(2.0, 0)]);
/// assert_eq!((v.0, v.1), (0.5f64.sin().powi(2) + 6.0, 4));
/// ```
pub trait ExprScalar:
    Clone
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
{
    /// The constant `c`.
    fn constant(c: f64) -> Self;
    /// `self^n` for an integer `n`.
    fn pow_int(&self, n: i32) -> Self;
    /// `self^p` for a real `p`.
    fn pow_real(&self, p: f64) -> Self;
    /// `f(self)`.
    fn apply(&self, f: Func) -> Self;
}

/// Rigorous enclosures: evaluating a tree over [`Interval`](crate::interval::Interval)s encloses every value the
/// expression takes on the box (used to certify equilibria of problem files).
impl ExprScalar for crate::interval::Interval {
    fn constant(c: f64) -> Self {
        Self::point(c)
    }

    fn pow_int(&self, n: i32) -> Self {
        self.powi(n)
    }

    fn pow_real(&self, p: f64) -> Self {
        self.powf(Self::point(p))
    }

    fn apply(&self, f: Func) -> Self {
        match f {
            Func::Sin => self.sin(),
            Func::Cos => self.cos(),
            Func::Tan => self.tan(),
            Func::Exp => self.exp(),
            Func::Ln => self.ln(),
            Func::Sqrt => self.sqrt(),
            Func::Abs => self.abs(),
            Func::Sign => self.sign(),
            Func::Tanh => self.tanh(),
            Func::Sinh => self.sinh(),
            Func::Cosh => self.cosh(),
            Func::Atan => self.atan(),
        }
    }
}

impl<D: DualNum<Primitive = f64>> ExprScalar for D {
    fn constant(c: f64) -> Self {
        D::from(c)
    }

    fn pow_int(&self, n: i32) -> Self {
        DualNum::powi(self, n)
    }

    fn pow_real(&self, p: f64) -> Self {
        DualNum::powf(self, p)
    }

    fn apply(&self, f: Func) -> Self {
        match f {
            Func::Sin => DualNum::sin(self),
            Func::Cos => DualNum::cos(self),
            Func::Tan => DualNum::tan(self),
            Func::Exp => DualNum::exp(self),
            Func::Ln => DualNum::ln(self),
            Func::Sqrt => DualNum::sqrt(self),
            // x·sign(x): |x| with derivative sign(x), 0 at 0 — the same as the symbolic
            // derivative (dual numbers' own abs gives ±1 at ±0).
            Func::Abs => self.clone() * D::from(sign_f64(self.re())),
            Func::Sign => D::from(sign_f64(self.re())),
            Func::Tanh => DualNum::tanh(self),
            Func::Sinh => DualNum::sinh(self),
            Func::Cosh => DualNum::cosh(self),
            Func::Atan => DualNum::atan(self),
        }
    }
}

impl Expr {
    /// The value at `vars` (θ). A variable index beyond `vars` evaluates to NaN.
    pub fn eval<T: ExprScalar>(&self, vars: &[T]) -> T {
        match self {
            Expr::Const(c) => T::constant(*c),
            Expr::Var(j) => vars
                .get(*j)
                .cloned()
                .unwrap_or_else(|| T::constant(f64::NAN)),
            Expr::Neg(a) => -a.eval(vars),
            Expr::Add(a, b) => a.eval(vars) + b.eval(vars),
            Expr::Sub(a, b) => a.eval(vars) - b.eval(vars),
            Expr::Mul(a, b) => a.eval(vars) * b.eval(vars),
            Expr::Div(a, b) => a.eval(vars) / b.eval(vars),
            Expr::PowI(a, n) => a.eval(vars).pow_int(*n),
            Expr::PowF(a, p) => a.eval(vars).pow_real(*p),
            Expr::Call(f, a) => a.eval(vars).apply(*f),
        }
    }
}
