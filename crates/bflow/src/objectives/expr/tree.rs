//! The syntax tree: [`Func`], [`Expr`], its queries and its simplifying constructors, which
//! fold constants only where the folded value is exact.

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

/// `sign(x)`: −1, 0 or 1; 0 keeps its sign and NaN stays NaN.
pub(crate) fn sign_f64(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        // 0 stays 0 (of either sign), NaN stays NaN.
        x
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
pub(crate) fn sum_is_exact(x: f64, y: f64) -> bool {
    let s = x + y;
    let bb = s - x;
    (x - (s - bb)) + (y - bb) == 0.0
}

/// `x · y` has no rounding error (the fused residual is 0, and nothing underflowed).
pub(crate) fn product_is_exact(x: f64, y: f64) -> bool {
    let p = x * y;
    x.mul_add(y, -p) == 0.0 && (p != 0.0 || x == 0.0 || y == 0.0)
}

/// `x / y` has no rounding error (`q·y − x` is exactly 0).
pub(crate) fn quotient_is_exact(x: f64, y: f64) -> bool {
    let q = x / y;
    q.mul_add(y, -x) == 0.0 && (q != 0.0 || x == 0.0)
}

impl Expr {
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

    /// The terms whose sum this expression is, signs applied: `a + b − c` gives `a`, `b`
    /// and `−c` (a subtracted or negated term wrapped in [`Expr::Neg`]). Only sums,
    /// differences and negations at the top are split; any other expression is one term, so
    /// `2·(a + b)` stays whole. Iterative, so a long sum splits without deep recursion.
    pub fn additive_terms(&self) -> Vec<Expr> {
        let mut terms = Vec::new();
        let mut stack = vec![(self, false)];
        while let Some((e, negated)) = stack.pop() {
            match e {
                Expr::Add(a, b) => {
                    stack.push((b, negated));
                    stack.push((a, negated));
                }
                Expr::Sub(a, b) => {
                    stack.push((b, !negated));
                    stack.push((a, negated));
                }
                Expr::Neg(a) => stack.push((a, !negated)),
                _ if negated => terms.push(Expr::Neg(Box::new(e.clone()))),
                _ => terms.push(e.clone()),
            }
        }
        terms
    }

    /// True when the tree has a variable.
    pub(crate) fn has_var(&self) -> bool {
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
}
