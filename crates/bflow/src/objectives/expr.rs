//! Arithmetic expressions over named parameters: a tokenizer, a recursive-descent parser,
//! evaluation generic over the number type, and symbolic differentiation.
//!
//! This is the language of user-written objectives (see
//! [`problem_file`](crate::objectives::problem_file)):
//!
//! * numbers `2`, `1.5`, `.5`, `1e-3`; variables and named constants (params) by name;
//! * binary `+ - * /` and `^`; unary `-` and `+`; parentheses;
//! * functions `sin cos tan exp ln log sqrt abs sign tanh sinh cosh atan` of one argument
//!   (`log` is the **natural** logarithm, the same as `ln`; `sign` is −1, 0 or 1);
//! * constants `pi` and `e`.
//!
//! Precedence, loosest first: `+ -` (left-assoc), `* /` (left-assoc), unary `- +`, `^`
//! (right-assoc). So `-x^2 = -(x^2)`, `2^3^2 = 2^9`, `a/b*c = (a/b)*c`, and `x^-2 = x^(-2)`.
//! The exponent of `^` must fold to a constant (an integer exponent evaluates with `powi`,
//! any other with `powf`) unless the base is a positive constant: `e^x` is `exp(x)` and
//! `2^x` is `exp(ln(2)*x)`. Write `exp(y*ln(x))` for a variable base and exponent.
//!
//! Every constructor folds constants and applies light simplifications (`x+0 = x`,
//! `x*1 = x`, `x*0 = 0`, `--x = x`, …); folding is skipped when the result would not be
//! finite, so `1/0` stays a division and evaluates to `inf`. Note `x*0` is simplified to `0`
//! even though `inf*0` is NaN.
//!
//! Evaluation ([`Expr::eval`]) is written once over [`ExprScalar`], which `f64` and every
//! num-dual number implement; another number type (an interval, say) only has to implement
//! [`ExprScalar`] to evaluate the same trees. [`Expr::derivative`] builds the derivative as
//! a new tree, so second derivatives are trees too.
//!
//! ```
//! use bflow::objectives::expr::Expr;
//!
//! let vars = ["x", "y"];
//! let e = Expr::parse("(x^2 + y - a)^2", &vars, &[("a", 11.0)]).unwrap();
//! assert_eq!(e.eval(&[3.0, 2.0]), 0.0);
//! let dx = e.derivative(0);
//! assert_eq!(dx.eval(&[1.0, 0.0]), 2.0 * (1.0 - 11.0) * 2.0);
//! assert_eq!(dx.display(&vars).to_string(), "((2 * (((x ^ 2) + y) - 11)) * (2 * x))");
//! ```

use std::fmt;
use std::ops::{Add, Div, Mul, Neg, Sub};

use num_dual::DualNum;

/// Deepest expression tree the parser accepts (a sum of n terms has depth about n). Evaluation and differentiation recurse over the tree, so an unbounded
/// depth could overflow the stack on hostile input.
pub const MAX_DEPTH: usize = 1000;

/// Deepest nesting of parentheses, unary signs, exponents and calls the parser accepts (the
/// parser recurses once per level).
pub const MAX_NESTING: usize = 200;

/// A function of one argument that expressions can call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Func {
    /// `sin`.
    Sin,
    /// `cos`.
    Cos,
    /// `tan`.
    Tan,
    /// `exp`.
    Exp,
    /// `ln` (also spelt `log`): the natural logarithm.
    Ln,
    /// `sqrt`.
    Sqrt,
    /// `abs`.
    Abs,
    /// `sign`: −1, 0 or 1 (NaN for NaN); the derivative of `abs`.
    Sign,
    /// `tanh`.
    Tanh,
    /// `sinh`.
    Sinh,
    /// `cosh`.
    Cosh,
    /// `atan`.
    Atan,
}

impl Func {
    /// Every function.
    pub const ALL: [Func; 12] = [
        Func::Sin,
        Func::Cos,
        Func::Tan,
        Func::Exp,
        Func::Ln,
        Func::Sqrt,
        Func::Abs,
        Func::Sign,
        Func::Tanh,
        Func::Sinh,
        Func::Cosh,
        Func::Atan,
    ];

    /// The name the function is printed with.
    pub fn name(self) -> &'static str {
        match self {
            Func::Sin => "sin",
            Func::Cos => "cos",
            Func::Tan => "tan",
            Func::Exp => "exp",
            Func::Ln => "ln",
            Func::Sqrt => "sqrt",
            Func::Abs => "abs",
            Func::Sign => "sign",
            Func::Tanh => "tanh",
            Func::Sinh => "sinh",
            Func::Cosh => "cosh",
            Func::Atan => "atan",
        }
    }

    /// The function called `name` (`log` is [`Func::Ln`]); `None` for any other name.
    pub fn from_name(name: &str) -> Option<Func> {
        if name == "log" {
            return Some(Func::Ln);
        }
        Func::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The function applied to an `f64`.
    pub fn apply_f64(self, x: f64) -> f64 {
        match self {
            Func::Sin => x.sin(),
            Func::Cos => x.cos(),
            Func::Tan => x.tan(),
            Func::Exp => x.exp(),
            Func::Ln => x.ln(),
            Func::Sqrt => x.sqrt(),
            Func::Abs => x.abs(),
            Func::Sign => sign_f64(x),
            Func::Tanh => x.tanh(),
            Func::Sinh => x.sinh(),
            Func::Cosh => x.cosh(),
            Func::Atan => x.atan(),
        }
    }
}

fn sign_f64(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        // 0 stays 0 (of either sign), NaN stays NaN.
        x
    }
}

/// True for the names an expression reserves: function names and the constants `pi`, `e`.
/// A variable or param may not be called like this.
pub fn is_reserved_name(name: &str) -> bool {
    name == "pi" || name == "e" || Func::from_name(name).is_some()
}

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

/// An expression tree. Variables are indices into the parameter vector; params and named
/// constants are folded into [`Expr::Const`].
///
/// Build trees with [`Expr::parse`] or the simplifying constructors ([`Expr::add`], …).
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A constant.
    Const(f64),
    /// Parameter `θ_j`.
    Var(usize),
    /// `-a`.
    Neg(Box<Expr>),
    /// `a + b`.
    Add(Box<Expr>, Box<Expr>),
    /// `a - b`.
    Sub(Box<Expr>, Box<Expr>),
    /// `a * b`.
    Mul(Box<Expr>, Box<Expr>),
    /// `a / b`.
    Div(Box<Expr>, Box<Expr>),
    /// `a ^ n`, integer exponent.
    PowI(Box<Expr>, i32),
    /// `a ^ p`, real exponent.
    PowF(Box<Expr>, f64),
    /// `f(a)`.
    Call(Func, Box<Expr>),
}

/// A syntax or name error in an expression, with its position in the expression text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    /// Byte offset of the offending token in the expression.
    pub offset: usize,
    /// 1-based column (in characters) of the offending token.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "column {}: {}", self.column, self.message)
    }
}

impl std::error::Error for ExprError {}

fn finite_or(value: f64, otherwise: impl FnOnce() -> Expr) -> Expr {
    if value.is_finite() {
        Expr::Const(value)
    } else {
        otherwise()
    }
}

/// Folds `value` into a constant only when it is finite and `exact` (the operation on the two
/// constants had no rounding error). A rounded fold would make a derivative tree differ from
/// the exact derivative of the parsed function, and interval enclosures built on it could
/// then miss the true values.
fn exact_or(value: f64, exact: bool, otherwise: impl FnOnce() -> Expr) -> Expr {
    if exact {
        finite_or(value, otherwise)
    } else {
        otherwise()
    }
}

/// `x + y` has no rounding error (TwoSum's error term is 0).
fn sum_is_exact(x: f64, y: f64) -> bool {
    let s = x + y;
    let bb = s - x;
    (x - (s - bb)) + (y - bb) == 0.0
}

/// `x · y` has no rounding error (the fused residual is 0, and nothing underflowed).
fn product_is_exact(x: f64, y: f64) -> bool {
    let p = x * y;
    x.mul_add(y, -p) == 0.0 && (p != 0.0 || x == 0.0 || y == 0.0)
}

/// `x / y` has no rounding error (`q·y − x` is exactly 0).
fn quotient_is_exact(x: f64, y: f64) -> bool {
    let q = x / y;
    q.mul_add(y, -x) == 0.0 && (q != 0.0 || x == 0.0)
}

impl Expr {
    /// Parses `text`. `vars` names the parameters in order (a name resolves to its index);
    /// `params` are named constants, folded in. A name that is neither a var, a param, `pi`
    /// nor `e` is an error, and so is a function name used without a call.
    ///
    /// # Errors
    /// [`ExprError`] with the column of the offending token.
    pub fn parse(text: &str, vars: &[&str], params: &[(&str, f64)]) -> Result<Expr, ExprError> {
        let tokens = tokenize(text)?;
        let mut p = Parser {
            text,
            tokens,
            pos: 0,
            vars,
            params,
            nesting: 0,
        };
        let (e, _) = p.expr()?;
        let t = p.peek();
        if t.kind != Tok::End {
            return Err(p.error_at(
                t.offset,
                "expected an operator or the end of the expression",
            ));
        }
        Ok(e)
    }

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

    /// The constant value, if this is a constant.
    pub fn as_const(&self) -> Option<f64> {
        match self {
            Expr::Const(c) => Some(*c),
            _ => None,
        }
    }

    /// The value of a tree without variables (a constant expression that was not folded
    /// because folding would have rounded, such as `1/3`), evaluated once in `f64`; `None`
    /// when the tree has a variable or the value is not finite.
    pub fn constant_value(&self) -> Option<f64> {
        if let Some(c) = self.as_const() {
            return Some(c);
        }
        if self.has_var() {
            return None;
        }
        let v: f64 = self.eval(&[]);
        v.is_finite().then_some(v)
    }

    fn has_var(&self) -> bool {
        match self {
            Expr::Const(_) => false,
            Expr::Var(_) => true,
            Expr::Neg(a) | Expr::PowI(a, _) | Expr::PowF(a, _) | Expr::Call(_, a) => a.has_var(),
            Expr::Add(a, b) | Expr::Sub(a, b) | Expr::Mul(a, b) | Expr::Div(a, b) => {
                a.has_var() || b.has_var()
            }
        }
    }

    /// Number of nodes in the tree.
    pub fn size(&self) -> usize {
        match self {
            Expr::Const(_) | Expr::Var(_) => 1,
            Expr::Neg(a) | Expr::PowI(a, _) | Expr::PowF(a, _) | Expr::Call(_, a) => 1 + a.size(),
            Expr::Add(a, b) | Expr::Sub(a, b) | Expr::Mul(a, b) | Expr::Div(a, b) => {
                1 + a.size() + b.size()
            }
        }
    }

    /// Depth of the tree (a leaf has depth 1).
    pub fn depth(&self) -> usize {
        match self {
            Expr::Const(_) | Expr::Var(_) => 1,
            Expr::Neg(a) | Expr::PowI(a, _) | Expr::PowF(a, _) | Expr::Call(_, a) => 1 + a.depth(),
            Expr::Add(a, b) | Expr::Sub(a, b) | Expr::Mul(a, b) | Expr::Div(a, b) => {
                1 + a.depth().max(b.depth())
            }
        }
    }

    /// True when the tree calls `f` anywhere.
    pub fn uses(&self, f: Func) -> bool {
        match self {
            Expr::Const(_) | Expr::Var(_) => false,
            Expr::Call(g, a) => *g == f || a.uses(f),
            Expr::Neg(a) | Expr::PowI(a, _) | Expr::PowF(a, _) => a.uses(f),
            Expr::Add(a, b) | Expr::Sub(a, b) | Expr::Mul(a, b) | Expr::Div(a, b) => {
                a.uses(f) || b.uses(f)
            }
        }
    }

    /// True when the tree mentions variable `j`.
    pub fn depends_on(&self, j: usize) -> bool {
        match self {
            Expr::Const(_) => false,
            Expr::Var(i) => *i == j,
            Expr::Neg(a) | Expr::PowI(a, _) | Expr::PowF(a, _) | Expr::Call(_, a) => {
                a.depends_on(j)
            }
            Expr::Add(a, b) | Expr::Sub(a, b) | Expr::Mul(a, b) | Expr::Div(a, b) => {
                a.depends_on(j) || b.depends_on(j)
            }
        }
    }

    /// `-a`, simplified.
    #[allow(clippy::should_implement_trait)]
    pub fn neg(a: Expr) -> Expr {
        match a {
            Expr::Const(c) => Expr::Const(-c),
            Expr::Neg(inner) => *inner,
            a => Expr::Neg(Box::new(a)),
        }
    }

    /// `a + b`, simplified.
    #[allow(clippy::should_implement_trait)]
    pub fn add(a: Expr, b: Expr) -> Expr {
        match (a.as_const(), b.as_const()) {
            (Some(x), Some(y)) => exact_or(x + y, sum_is_exact(x, y), || {
                Expr::Add(Box::new(a), Box::new(b))
            }),
            (Some(0.0), None) => b,
            (None, Some(0.0)) => a,
            _ => Expr::Add(Box::new(a), Box::new(b)),
        }
    }

    /// `a - b`, simplified.
    #[allow(clippy::should_implement_trait)]
    pub fn sub(a: Expr, b: Expr) -> Expr {
        match (a.as_const(), b.as_const()) {
            (Some(x), Some(y)) => exact_or(x - y, sum_is_exact(x, -y), || {
                Expr::Sub(Box::new(a), Box::new(b))
            }),
            (Some(0.0), None) => Expr::neg(b),
            (None, Some(0.0)) => a,
            _ => Expr::Sub(Box::new(a), Box::new(b)),
        }
    }

    /// `a * b`, simplified (`x*0 = 0`, `x*1 = x`, `x*(-1) = -x`).
    #[allow(clippy::should_implement_trait)]
    pub fn mul(a: Expr, b: Expr) -> Expr {
        match (a.as_const(), b.as_const()) {
            (Some(x), Some(y)) => exact_or(x * y, product_is_exact(x, y), || {
                Expr::Mul(Box::new(a), Box::new(b))
            }),
            (Some(x), _) | (_, Some(x)) if x == 0.0 => Expr::Const(0.0),
            (Some(1.0), None) => b,
            (None, Some(1.0)) => a,
            (Some(-1.0), None) => Expr::neg(b),
            (None, Some(-1.0)) => Expr::neg(a),
            _ => Expr::Mul(Box::new(a), Box::new(b)),
        }
    }

    /// `a / b`, simplified (`x/1 = x`).
    #[allow(clippy::should_implement_trait)]
    pub fn div(a: Expr, b: Expr) -> Expr {
        match (a.as_const(), b.as_const()) {
            (Some(x), Some(y)) => exact_or(x / y, quotient_is_exact(x, y), || {
                Expr::Div(Box::new(a), Box::new(b))
            }),
            (None, Some(1.0)) => a,
            _ => Expr::Div(Box::new(a), Box::new(b)),
        }
    }

    /// `a ^ n`, simplified (`x^0 = 1`, `x^1 = x`).
    pub fn powi(a: Expr, n: i32) -> Expr {
        match (a.as_const(), n) {
            // Folded only where the power is exact: 0, 1 and any x to the 0th or 1st.
            (Some(x), _) if n == 0 || n == 1 || x == 1.0 || (x == 0.0 && n > 0) => {
                finite_or(x.powi(n), || Expr::PowI(Box::new(a), n))
            }
            (Some(_), _) => Expr::PowI(Box::new(a), n),
            (None, 0) => Expr::Const(1.0),
            (None, 1) => a,
            _ => Expr::PowI(Box::new(a), n),
        }
    }

    /// `a ^ p`: [`Expr::powi`] when `p` is an integer in `i32` range, else a real power.
    pub fn pow(a: Expr, p: f64) -> Expr {
        // Integral exponents up to 2^20 in size are exact powers; beyond that (and for
        // i32::MIN, whose n − 1 overflows inside the dual-number powi) a real power.
        if p.fract() == 0.0 && p.abs() <= 1_048_576.0 {
            // In range and integral: the cast is exact.
            return Expr::powi(a, p as i32);
        }
        match a.as_const() {
            Some(1.0) => Expr::Const(1.0),
            _ => Expr::PowF(Box::new(a), p),
        }
    }

    /// `f(a)`, folded when `a` is a constant.
    pub fn call(f: Func, a: Expr) -> Expr {
        match a.as_const() {
            Some(x) => finite_or(f.apply_f64(x), || Expr::Call(f, Box::new(a))),
            None => Expr::Call(f, Box::new(a)),
        }
    }

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

    /// A printable form using `names` for the variables (`x7` when a name is missing).
    /// Every operation is parenthesised, so the text parses back to an equal tree.
    pub fn display<'a, S: AsRef<str>>(&'a self, names: &'a [S]) -> ExprDisplay<'a, S> {
        ExprDisplay { expr: self, names }
    }
}

/// [`Expr`] printed with variable names; see [`Expr::display`].
pub struct ExprDisplay<'a, S> {
    expr: &'a Expr,
    names: &'a [S],
}

fn write_number(f: &mut fmt::Formatter<'_>, c: f64) -> fmt::Result {
    if c.is_sign_negative() {
        write!(f, "(-{})", -c)
    } else {
        write!(f, "{c}")
    }
}

impl<S: AsRef<str>> ExprDisplay<'_, S> {
    fn write(&self, e: &Expr, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bin = |f: &mut fmt::Formatter<'_>, a: &Expr, op: &str, b: &Expr| -> fmt::Result {
            f.write_str("(")?;
            self.write(a, f)?;
            write!(f, " {op} ")?;
            self.write(b, f)?;
            f.write_str(")")
        };
        match e {
            Expr::Const(c) => write_number(f, *c),
            Expr::Var(j) => match self.names.get(*j) {
                Some(n) => f.write_str(n.as_ref()),
                None => write!(f, "x{j}"),
            },
            Expr::Neg(a) => {
                f.write_str("(-")?;
                self.write(a, f)?;
                f.write_str(")")
            }
            Expr::Add(a, b) => bin(f, a, "+", b),
            Expr::Sub(a, b) => bin(f, a, "-", b),
            Expr::Mul(a, b) => bin(f, a, "*", b),
            Expr::Div(a, b) => bin(f, a, "/", b),
            Expr::PowI(a, n) => {
                f.write_str("(")?;
                self.write(a, f)?;
                f.write_str(" ^ ")?;
                write_number(f, f64::from(*n))?;
                f.write_str(")")
            }
            Expr::PowF(a, p) => {
                f.write_str("(")?;
                self.write(a, f)?;
                f.write_str(" ^ ")?;
                write_number(f, *p)?;
                f.write_str(")")
            }
            Expr::Call(func, a) => {
                write!(f, "{}(", func.name())?;
                self.write(a, f)?;
                f.write_str(")")
            }
        }
    }
}

impl<S: AsRef<str>> fmt::Display for ExprDisplay<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(self.expr, f)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Ident(String),
    Plus,
    Minus,
    Star,
    Slash,
    Caret,
    LParen,
    RParen,
    End,
}

#[derive(Debug, Clone)]
struct Token {
    kind: Tok,
    offset: usize,
}

fn column_of(text: &str, offset: usize) -> usize {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].chars().count() + 1
}

fn error(text: &str, offset: usize, message: impl Into<String>) -> ExprError {
    ExprError {
        offset,
        column: column_of(text, offset),
        message: message.into(),
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, ExprError> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        let kind = match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'+' => Tok::Plus,
            b'-' => Tok::Minus,
            b'*' => Tok::Star,
            b'/' => Tok::Slash,
            b'^' => Tok::Caret,
            b'(' => Tok::LParen,
            b')' => Tok::RParen,
            b'0'..=b'9' | b'.' => {
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                if i < bytes.len() && bytes[i] == b'.' {
                    i += 1;
                    while i < bytes.len() && bytes[i].is_ascii_digit() {
                        i += 1;
                    }
                }
                // An exponent only when digits follow `e`, `e+` or `e-`.
                if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
                    let mut k = i + 1;
                    if k < bytes.len() && (bytes[k] == b'+' || bytes[k] == b'-') {
                        k += 1;
                    }
                    if k < bytes.len() && bytes[k].is_ascii_digit() {
                        while k < bytes.len() && bytes[k].is_ascii_digit() {
                            k += 1;
                        }
                        i = k;
                    }
                }
                let s = &text[start..i];
                let v: f64 = s
                    .parse()
                    .map_err(|_| error(text, start, format!("invalid number `{s}`")))?;
                if !v.is_finite() {
                    return Err(error(text, start, format!("number `{s}` is too large")));
                }
                tokens.push(Token {
                    kind: Tok::Num(v),
                    offset: start,
                });
                continue;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                tokens.push(Token {
                    kind: Tok::Ident(text[start..i].to_string()),
                    offset: start,
                });
                continue;
            }
            _ => {
                let ch = text[start..].chars().next().unwrap_or('?');
                return Err(error(text, start, format!("unexpected character `{ch}`")));
            }
        };
        i += 1;
        tokens.push(Token {
            kind,
            offset: start,
        });
    }
    tokens.push(Token {
        kind: Tok::End,
        offset: text.len(),
    });
    Ok(tokens)
}

struct Parser<'a> {
    text: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    vars: &'a [&'a str],
    params: &'a [(&'a str, f64)],
    nesting: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Token {
        // The token list always ends with `End`, and `pos` never moves past it.
        self.tokens[self.pos.min(self.tokens.len() - 1)].clone()
    }

    fn bump(&mut self) -> Token {
        let t = self.peek();
        if t.kind != Tok::End {
            self.pos += 1;
        }
        t
    }

    fn error_at(&self, offset: usize, message: impl Into<String>) -> ExprError {
        error(self.text, offset, message)
    }

    fn too_deep(&self, offset: usize) -> ExprError {
        self.error_at(
            offset,
            format!(
                "expression is too deep (more than {MAX_DEPTH} levels of operations or {MAX_NESTING} of nesting)"
            ),
        )
    }

    /// Checks the depth of a node built over children of depth `d`.
    fn node(&self, e: Expr, d: usize, offset: usize) -> Result<(Expr, usize), ExprError> {
        if d + 1 > MAX_DEPTH {
            return Err(self.too_deep(offset));
        }
        Ok((e, d + 1))
    }

    fn enter(&mut self, offset: usize) -> Result<(), ExprError> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return Err(self.too_deep(offset));
        }
        Ok(())
    }

    // expr := term (('+' | '-') term)*
    // Every parse function returns the tree and an upper bound on its depth.
    fn expr(&mut self) -> Result<(Expr, usize), ExprError> {
        let (mut e, mut d) = self.term()?;
        loop {
            let t = self.peek();
            let op: fn(Expr, Expr) -> Expr = match t.kind {
                Tok::Plus => Expr::add,
                Tok::Minus => Expr::sub,
                _ => return Ok((e, d)),
            };
            self.bump();
            let (rhs, dr) = self.term()?;
            (e, d) = self.node(op(e, rhs), d.max(dr), t.offset)?;
        }
    }

    // term := unary (('*' | '/') unary)*
    fn term(&mut self) -> Result<(Expr, usize), ExprError> {
        let (mut e, mut d) = self.unary()?;
        loop {
            let t = self.peek();
            let op: fn(Expr, Expr) -> Expr = match t.kind {
                Tok::Star => Expr::mul,
                Tok::Slash => Expr::div,
                _ => return Ok((e, d)),
            };
            self.bump();
            let (rhs, dr) = self.unary()?;
            (e, d) = self.node(op(e, rhs), d.max(dr), t.offset)?;
        }
    }

    // unary := ('-' | '+') unary | power
    fn unary(&mut self) -> Result<(Expr, usize), ExprError> {
        let t = self.peek();
        match t.kind {
            Tok::Minus | Tok::Plus => {
                self.bump();
                self.enter(t.offset)?;
                let (a, d) = self.unary()?;
                self.nesting -= 1;
                if t.kind == Tok::Minus {
                    self.node(Expr::neg(a), d, t.offset)
                } else {
                    Ok((a, d))
                }
            }
            _ => self.power(),
        }
    }

    // power := atom ('^' unary)?
    fn power(&mut self) -> Result<(Expr, usize), ExprError> {
        let (base, d) = self.atom()?;
        let t = self.peek();
        if t.kind != Tok::Caret {
            return Ok((base, d));
        }
        self.bump();
        let exp_at = self.peek().offset;
        self.enter(t.offset)?;
        let (exponent, exp_d) = self.unary()?;
        self.nesting -= 1;
        let Some(p) = exponent.constant_value() else {
            // A positive constant base: c^u = exp(ln(c) u).
            if let Some(c) = base.constant_value().filter(|&c| c > 0.0) {
                let log_c = if c == std::f64::consts::E {
                    1.0
                } else {
                    c.ln()
                };
                let e = Expr::call(Func::Exp, Expr::mul(Expr::Const(log_c), exponent));
                return self.node(e, d.max(exp_d) + 1, t.offset);
            }
            return Err(self.error_at(
                exp_at,
                "the exponent of `^` must be a constant unless the base is a positive constant \
                 (write exp(b*ln(a)) for a^b)",
            ));
        };
        self.node(Expr::pow(base, p), d, t.offset)
    }

    // atom := number | name | name '(' expr ')' | '(' expr ')'
    fn atom(&mut self) -> Result<(Expr, usize), ExprError> {
        let t = self.bump();
        match t.kind {
            Tok::Num(v) => Ok((Expr::Const(v), 1)),
            Tok::LParen => {
                self.enter(t.offset)?;
                let e = self.expr()?;
                self.nesting -= 1;
                self.expect_close(t.offset)?;
                Ok(e)
            }
            Tok::Ident(name) => {
                if let Some(f) = Func::from_name(&name) {
                    let open = self.peek();
                    if open.kind != Tok::LParen {
                        return Err(self.error_at(
                            open.offset,
                            format!("expected `(` after function `{name}`"),
                        ));
                    }
                    self.bump();
                    self.enter(t.offset)?;
                    let (a, d) = self.expr()?;
                    self.nesting -= 1;
                    self.expect_close(open.offset)?;
                    return self.node(Expr::call(f, a), d, t.offset);
                }
                if self.peek().kind == Tok::LParen {
                    return Err(self.error_at(t.offset, format!("unknown function `{name}`")));
                }
                if let Some(j) = self.vars.iter().position(|v| *v == name) {
                    return Ok((Expr::Var(j), 1));
                }
                if let Some((_, v)) = self.params.iter().find(|(p, _)| *p == name) {
                    return Ok((Expr::Const(*v), 1));
                }
                match name.as_str() {
                    "pi" => Ok((Expr::Const(std::f64::consts::PI), 1)),
                    "e" => Ok((Expr::Const(std::f64::consts::E), 1)),
                    _ => Err(self.error_at(t.offset, format!("unknown variable `{name}`"))),
                }
            }
            Tok::End => Err(self.error_at(t.offset, "unexpected end of expression")),
            Tok::RParen => Err(self.error_at(t.offset, "unexpected `)`")),
            _ => Err(self.error_at(t.offset, "expected a number, a name or `(`")),
        }
    }

    fn expect_close(&mut self, open_offset: usize) -> Result<(), ExprError> {
        let t = self.peek();
        if t.kind == Tok::RParen {
            self.bump();
            return Ok(());
        }
        let col = column_of(self.text, open_offset);
        Err(self.error_at(
            t.offset,
            format!("expected `)` to close the `(` at column {col}"),
        ))
    }
}

#[cfg(test)]
mod tests;
