//! The four sweeps over a tape, written once for any [`TapeScalar`] (`f64` for speed,
//! [`Interval`] for rigorous enclosures):
//!
//! 1. [`forward`]: every slot's value `v_k` and its *local* derivatives — for a unary
//!    instruction `u = f(x)`, `f'(x)` and (on request) `f''(x)`; for `a ÷ b`, `1/b`;
//! 2. [`reverse`]: adjoints `ā_k = ∂(Σ seeds · roots)/∂v_k`, last slot first; the adjoints of
//!    the `Var` slots are the gradient;
//! 3. [`tangent`]: directional derivatives `ṫ_k` along `w` directions at once (lanes);
//! 4. [`reverse_tangent`]: the tangents of the adjoints, `ȧ_k` — forward over reverse, so the
//!    `Var` slots receive Hessian-vector products `H v` for each lane.
//!
//! For `u = f(x)` the reverse rules are `ā_x += ā_u f'(x)` and
//! `ȧ_x += ȧ_u f'(x) + ā_u f''(x) ẋ`; for a binary `c = g(a, b)`,
//! `ȧ_a += ȧ_c g_a + ā_c ġ_a` with `ġ_a = g_aa ȧ + g_ab ḃ` (Griewank & Walther, *Evaluating
//! Derivatives*, 2nd ed., SIAM 2008, ch. 5: second-order adjoints). Every rule is an
//! expression in `+ − × ÷` and the elementary functions, so evaluating it in interval
//! arithmetic over a box encloses the derivative at every point of the box.

use std::ops::{Add, Div, Mul, Neg, Sub};

use super::compile::{Constant, Op};
use crate::interval::Interval;
use crate::objectives::expr::Func;

/// A number type the tape is evaluated in.
pub(crate) trait TapeScalar:
    Copy
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
{
    /// Whether the local derivatives must be checked for regularity too (intervals: a
    /// derivative rule that leaves its domain gives an unbounded enclosure).
    const CHECK_LOCALS: bool;
    /// The constant `c`.
    fn cst(c: f64) -> Self;
    /// A compiled constant in this type, and whether it is regular (every node of its
    /// subtree finite, or bounded).
    fn constant(c: &Constant) -> (Self, bool);
    /// `xⁿ`.
    fn powi(self, n: i32) -> Self;
    /// `xᵖ`, with the exponent in the same type (so intervals enclose `p − 1` exactly).
    fn powf(self, p: Self) -> Self;
    /// `x²`.
    fn sqr(self) -> Self;
    /// `f(x)`.
    fn apply(self, f: Func) -> Self;
    /// `(sin x, cos x)`, as [`apply`](Self::apply) gives each.
    fn sin_cos(self) -> (Self, Self) {
        (self.apply(Func::Sin), self.apply(Func::Cos))
    }
    /// `sign(x)`, the derivative of `abs` (0 at 0).
    fn sign(self) -> Self;
    /// Finite (`f64`) or bounded (intervals).
    fn regular(self) -> bool;
}

impl TapeScalar for f64 {
    const CHECK_LOCALS: bool = false;
    #[inline(always)]
    fn cst(c: f64) -> Self {
        c
    }
    #[inline(always)]
    fn constant(c: &Constant) -> (Self, bool) {
        (c.value, c.finite)
    }
    #[inline(always)]
    fn powi(self, n: i32) -> Self {
        f64::powi(self, n)
    }
    #[inline(always)]
    fn powf(self, p: Self) -> Self {
        f64::powf(self, p)
    }
    #[inline(always)]
    fn sqr(self) -> Self {
        self * self
    }
    #[inline(always)]
    fn apply(self, f: Func) -> Self {
        f.apply_f64(self)
    }
    /// One call to the C library's `sincos` where the compiler can merge the two (the same
    /// argument reduction and polynomials as `sin` and `cos`: the same values).
    #[inline(always)]
    fn sin_cos(self) -> (Self, Self) {
        f64::sin_cos(self)
    }
    #[inline(always)]
    fn sign(self) -> Self {
        crate::objectives::expr::sign_f64(self)
    }
    #[inline(always)]
    fn regular(self) -> bool {
        self.is_finite()
    }
}

impl TapeScalar for Interval {
    const CHECK_LOCALS: bool = true;
    fn cst(c: f64) -> Self {
        Interval::point(c)
    }
    fn constant(c: &Constant) -> (Self, bool) {
        (c.enclosure, c.bounded)
    }
    fn powi(self, n: i32) -> Self {
        Interval::powi(self, n)
    }
    fn powf(self, p: Self) -> Self {
        Interval::powf(self, p)
    }
    fn sqr(self) -> Self {
        Interval::sqr(self)
    }
    fn apply(self, f: Func) -> Self {
        use crate::objectives::expr::ExprScalar;
        ExprScalar::apply(&self, f)
    }
    fn sign(self) -> Self {
        Interval::sign(self)
    }
    fn regular(self) -> bool {
        self.is_bounded()
    }
}

/// `f(x)` with `f'(x)` and, when `SECOND`, `f''(x)` (reusing the value where the rule
/// allows). One `match`, each arm with its function known, so nothing dispatches twice.
#[inline(always)]
pub(crate) fn call<S: TapeScalar, const SECOND: bool>(f: Func, x: S) -> (S, S, S) {
    let zero = S::cst(0.0);
    let one = S::cst(1.0);
    let two = S::cst(2.0);
    let second = |h: S| if SECOND { h } else { zero };
    match f {
        Func::Sin => {
            let (v, c) = x.sin_cos();
            (v, c, -v)
        }
        Func::Cos => {
            let (s, v) = x.sin_cos();
            (v, -s, -v)
        }
        Func::Tan => {
            let v = x.apply(Func::Tan);
            let d1 = one + v.sqr();
            (v, d1, second(two * v * d1))
        }
        Func::Exp => {
            let v = x.apply(Func::Exp);
            (v, v, v)
        }
        Func::Ln => {
            let d1 = one / x;
            (x.apply(Func::Ln), d1, second(-d1.sqr()))
        }
        Func::Sqrt => {
            let v = x.apply(Func::Sqrt);
            let d1 = S::cst(0.5) / v;
            (v, d1, second(-(S::cst(0.5) * d1 / x)))
        }
        Func::Abs => (x.apply(Func::Abs), x.sign(), zero),
        Func::Sign => (x.apply(Func::Sign), zero, zero),
        Func::Tanh => {
            let v = x.apply(Func::Tanh);
            let d1 = one - v.sqr();
            (v, d1, second(-(two * v * d1)))
        }
        Func::Sinh => {
            let v = x.apply(Func::Sinh);
            (v, x.apply(Func::Cosh), v)
        }
        Func::Cosh => {
            let v = x.apply(Func::Cosh);
            (v, x.apply(Func::Sinh), v)
        }
        Func::Atan => {
            let d1 = one / (one + x.sqr());
            (x.apply(Func::Atan), d1, second(-(two * x * d1.sqr())))
        }
    }
}

/// `xⁿ`, `n xⁿ⁻¹`, `n(n−1) xⁿ⁻²` (`n − 1` is exact in `f64`; `n(n − 1)` is formed in `S`).
#[inline(always)]
pub(crate) fn powi<S: TapeScalar, const SECOND: bool>(x: S, n: i32) -> (S, S, S) {
    match n {
        0 => return (S::cst(1.0), S::cst(0.0), S::cst(0.0)),
        1 => return (x, S::cst(1.0), S::cst(0.0)),
        2 => return (x.sqr(), S::cst(2.0) * x, S::cst(2.0)),
        _ => {}
    }
    let nf = f64::from(n);
    if n.checked_sub(2).is_none() {
        // n − 2 would overflow (only for trees built by hand: the parser keeps |n| ≤ 2²⁰):
        // the derivatives as real powers.
        let (_, d1, d2) = powf::<S, SECOND>(x, nf);
        return (x.powi(n), d1, d2);
    }
    let d1 = S::cst(nf) * x.powi(n - 1);
    let d2 = if SECOND {
        S::cst(nf) * S::cst(nf - 1.0) * x.powi(n - 2)
    } else {
        S::cst(0.0)
    };
    (x.powi(n), d1, d2)
}

/// `xᵖ`, `p xᵖ⁻¹`, `p(p−1) xᵖ⁻²`, the exponents formed in `S` (outward for intervals).
#[inline(always)]
pub(crate) fn powf<S: TapeScalar, const SECOND: bool>(x: S, p: f64) -> (S, S, S) {
    let one = S::cst(1.0);
    let p = S::cst(p);
    let p1 = p - one;
    let d1 = p * x.powf(p1);
    let d2 = if SECOND {
        p * p1 * x.powf(p1 - one)
    } else {
        S::cst(0.0)
    };
    (x.powf(p), d1, d2)
}

/// A unary instruction (`c ÷ a`, `aⁿ`, `aᵖ`, `f(a)`) at `x`: its value, first and (when
/// `SECOND`) second derivative. `None` for any other instruction.
#[inline(always)]
pub(crate) fn unary<S: TapeScalar, const SECOND: bool>(op: Op, x: S) -> Option<(S, S, S)> {
    Some(match op {
        Op::ConstDiv(c, _) => {
            let v = S::cst(c) / x;
            let g = -(v / x);
            let h = if SECOND {
                -(S::cst(2.0) * g / x)
            } else {
                S::cst(0.0)
            };
            (v, g, h)
        }
        Op::PowI(_, n) => powi::<S, SECOND>(x, n),
        Op::PowF(_, p) => powf::<S, SECOND>(x, p),
        Op::Call(f, _) => call::<S, SECOND>(f, x),
        _ => return None,
    })
}

/// Values only, over `order` (ascending slots): `val[k]` for each; whether every value (and
/// constant on the way) is regular.
pub(crate) fn values<S: TapeScalar>(
    ops: &[Op],
    consts: &[Constant],
    order: &[u32],
    theta: &[S],
    val: &mut [S],
) -> bool {
    let mut regular = true;
    for &k in order {
        let k = k as usize;
        let v = match ops[k] {
            Op::Var(j) => theta[j as usize],
            Op::Const(i) => {
                let (v, ok) = S::constant(&consts[i as usize]);
                regular &= ok;
                v
            }
            Op::Neg(a) => -val[a as usize],
            Op::Add(a, b) => val[a as usize] + val[b as usize],
            Op::Sub(a, b) => val[a as usize] - val[b as usize],
            Op::Mul(a, b) => val[a as usize] * val[b as usize],
            Op::Div(a, b) => val[a as usize] / val[b as usize],
            Op::AddConst(a, c) => val[a as usize] + S::cst(c),
            Op::MulConst(a, c) => val[a as usize] * S::cst(c),
            Op::ConstSub(c, a) => S::cst(c) - val[a as usize],
            Op::DivConst(a, c) => val[a as usize] / S::cst(c),
            Op::ConstDiv(c, a) => S::cst(c) / val[a as usize],
            Op::PowI(a, n) => {
                let x = val[a as usize];
                if n == 2 { x.sqr() } else { x.powi(n) }
            }
            Op::PowF(a, p) => val[a as usize].powf(S::cst(p)),
            Op::Call(f, a) => val[a as usize].apply(f),
        };
        regular &= v.regular();
        val[k] = v;
    }
    regular
}

/// The forward sweep over `order` (ascending slots): values into `val`, local first
/// derivatives into `d1` and, when `SECOND`, local second derivatives into `d2`. Returns
/// whether every value (and, for intervals, every local derivative) written is regular.
pub(crate) fn forward<S: TapeScalar, const SECOND: bool>(
    ops: &[Op],
    consts: &[Constant],
    order: &[u32],
    theta: &[S],
    val: &mut [S],
    d1: &mut [S],
    d2: &mut [S],
) -> bool {
    let mut regular = true;
    let g0 = S::cst(0.0);
    for &k in order {
        let k = k as usize;
        let v = match ops[k] {
            Op::Var(j) => theta[j as usize],
            Op::Const(i) => {
                let (v, ok) = S::constant(&consts[i as usize]);
                regular &= ok;
                v
            }
            Op::Neg(a) => -val[a as usize],
            Op::Add(a, b) => val[a as usize] + val[b as usize],
            Op::Sub(a, b) => val[a as usize] - val[b as usize],
            Op::Mul(a, b) => val[a as usize] * val[b as usize],
            Op::Div(a, b) => {
                let y = val[b as usize];
                let r = S::cst(1.0) / y;
                d1[k] = r;
                if S::CHECK_LOCALS {
                    regular &= r.regular();
                }
                val[a as usize] / y
            }
            Op::AddConst(a, c) => val[a as usize] + S::cst(c),
            Op::MulConst(a, c) => val[a as usize] * S::cst(c),
            Op::ConstSub(c, a) => S::cst(c) - val[a as usize],
            Op::DivConst(a, c) => val[a as usize] / S::cst(c),
            op @ (Op::ConstDiv(_, a) | Op::PowI(a, _) | Op::PowF(a, _) | Op::Call(_, a)) => {
                let (v, g, h) =
                    unary::<S, SECOND>(op, val[a as usize]).unwrap_or((S::cst(f64::NAN), g0, g0));
                locals::<S, SECOND>(k, g, h, d1, d2, &mut regular);
                v
            }
        };
        regular &= v.regular();
        val[k] = v;
    }
    regular
}

#[inline(always)]
fn locals<S: TapeScalar, const SECOND: bool>(
    k: usize,
    g: S,
    h: S,
    d1: &mut [S],
    d2: &mut [S],
    regular: &mut bool,
) {
    d1[k] = g;
    if SECOND {
        d2[k] = h;
    }
    if S::CHECK_LOCALS {
        *regular &= g.regular() && (!SECOND || h.regular());
    }
}

/// The reverse sweep over `order` (ascending slots, walked backwards) after [`forward`]:
/// `adj` must hold the seeds on the roots and zero elsewhere in `order`. The adjoint of each
/// `Var(j)` slot is written to `grad[j]`; `grad` entries of variables outside `order` are
/// left alone.
pub(crate) fn reverse<S: TapeScalar>(
    ops: &[Op],
    order: &[u32],
    val: &[S],
    d1: &[S],
    adj: &mut [S],
    grad: &mut [S],
) {
    for &k in order.iter().rev() {
        let k = k as usize;
        let g = adj[k];
        match ops[k] {
            Op::Var(j) => grad[j as usize] = g,
            Op::Const(_) => {}
            Op::Neg(a) | Op::ConstSub(_, a) => adj[a as usize] = adj[a as usize] - g,
            Op::Add(a, b) => {
                adj[a as usize] = adj[a as usize] + g;
                adj[b as usize] = adj[b as usize] + g;
            }
            Op::Sub(a, b) => {
                adj[a as usize] = adj[a as usize] + g;
                adj[b as usize] = adj[b as usize] - g;
            }
            Op::Mul(a, b) => {
                let (va, vb) = (val[a as usize], val[b as usize]);
                adj[a as usize] = adj[a as usize] + g * vb;
                adj[b as usize] = adj[b as usize] + g * va;
            }
            Op::Div(a, b) => {
                // c = a/b: ∂c/∂a = r, ∂c/∂b = −c r, with r = 1/b.
                let r = d1[k];
                adj[a as usize] = adj[a as usize] + g * r;
                adj[b as usize] = adj[b as usize] - g * val[k] * r;
            }
            Op::AddConst(a, _) => adj[a as usize] = adj[a as usize] + g,
            Op::MulConst(a, c) => adj[a as usize] = adj[a as usize] + g * S::cst(c),
            Op::DivConst(a, c) => adj[a as usize] = adj[a as usize] + g / S::cst(c),
            Op::ConstDiv(_, a) | Op::PowI(a, _) | Op::PowF(a, _) | Op::Call(_, a) => {
                adj[a as usize] = adj[a as usize] + g * d1[k];
            }
        }
    }
}

/// The tangent sweep over `order` after [`forward`]: `tan[k·w + l]` is the derivative of
/// slot `k` along direction `l`, where `seed[j·w + l]` is component `j` of direction `l`.
pub(crate) fn tangent<S: TapeScalar>(
    ops: &[Op],
    order: &[u32],
    val: &[S],
    d1: &[S],
    seed: &[S],
    w: usize,
    tan: &mut [S],
) {
    for &k in order {
        let k = k as usize;
        let out = k * w;
        match ops[k] {
            Op::Var(j) => {
                let j = j as usize * w;
                tan[out..out + w].copy_from_slice(&seed[j..j + w]);
            }
            Op::Const(_) => tan[out..out + w].fill(S::cst(0.0)),
            Op::Neg(a) | Op::ConstSub(_, a) => lanes1(tan, out, a, w, |t| -t),
            Op::AddConst(a, _) => lanes1(tan, out, a, w, |t| t),
            Op::MulConst(a, c) => lanes1(tan, out, a, w, |t| t * S::cst(c)),
            Op::DivConst(a, c) => lanes1(tan, out, a, w, |t| t / S::cst(c)),
            Op::ConstDiv(_, a) | Op::PowI(a, _) | Op::PowF(a, _) | Op::Call(_, a) => {
                let g = d1[k];
                lanes1(tan, out, a, w, |t| g * t);
            }
            Op::Add(a, b) => lanes2(tan, out, a, b, w, |ta, tb| ta + tb),
            Op::Sub(a, b) => lanes2(tan, out, a, b, w, |ta, tb| ta - tb),
            Op::Mul(a, b) => {
                let (va, vb) = (val[a as usize], val[b as usize]);
                lanes2(tan, out, a, b, w, |ta, tb| ta * vb + va * tb);
            }
            Op::Div(a, b) => {
                let (v, r) = (val[k], d1[k]);
                lanes2(tan, out, a, b, w, |ta, tb| (ta - v * tb) * r);
            }
        }
    }
}

#[inline(always)]
fn lanes1<S: TapeScalar>(tan: &mut [S], out: usize, a: u32, w: usize, f: impl Fn(S) -> S) {
    let a = a as usize * w;
    for l in 0..w {
        tan[out + l] = f(tan[a + l]);
    }
}

#[inline(always)]
fn lanes2<S: TapeScalar>(
    tan: &mut [S],
    out: usize,
    a: u32,
    b: u32,
    w: usize,
    f: impl Fn(S, S) -> S,
) {
    let (a, b) = (a as usize * w, b as usize * w);
    for l in 0..w {
        tan[out + l] = f(tan[a + l], tan[b + l]);
    }
}

/// The second-order reverse sweep over `order` after [`forward`] (with second
/// derivatives), [`reverse`] (whose adjoints `adj` it reads) and [`tangent`]: `adot` must be
/// zero over `order`. The tangent adjoint of each `Var(j)` slot, lane `l`, is written to
/// `hv[j·w + l]`: the Hessian of `Σ seeds · roots` applied to direction `l`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn reverse_tangent<S: TapeScalar>(
    ops: &[Op],
    order: &[u32],
    val: &[S],
    d1: &[S],
    d2: &[S],
    adj: &[S],
    tan: &[S],
    w: usize,
    adot: &mut [S],
    hv: &mut [S],
) {
    for &k in order.iter().rev() {
        let k = k as usize;
        let at = k * w;
        let g = adj[k];
        match ops[k] {
            Op::Var(j) => {
                let j = j as usize * w;
                hv[j..j + w].copy_from_slice(&adot[at..at + w]);
            }
            Op::Const(_) => {}
            Op::Neg(a) | Op::ConstSub(_, a) => {
                let a = a as usize * w;
                for l in 0..w {
                    adot[a + l] = adot[a + l] - adot[at + l];
                }
            }
            Op::AddConst(a, _) => {
                let a = a as usize * w;
                for l in 0..w {
                    adot[a + l] = adot[a + l] + adot[at + l];
                }
            }
            Op::MulConst(a, c) => {
                let a = a as usize * w;
                let c = S::cst(c);
                for l in 0..w {
                    adot[a + l] = adot[a + l] + adot[at + l] * c;
                }
            }
            Op::DivConst(a, c) => {
                let a = a as usize * w;
                let c = S::cst(c);
                for l in 0..w {
                    adot[a + l] = adot[a + l] + adot[at + l] / c;
                }
            }
            Op::ConstDiv(_, a) | Op::PowI(a, _) | Op::PowF(a, _) | Op::Call(_, a) => {
                // ȧ_x += ȧ_u f' + ā_u f'' ẋ.
                let (f1, gf2) = (d1[k], g * d2[k]);
                let a = a as usize * w;
                for l in 0..w {
                    adot[a + l] = adot[a + l] + adot[at + l] * f1 + gf2 * tan[a + l];
                }
            }
            Op::Add(a, b) => {
                let (a, b) = (a as usize * w, b as usize * w);
                for l in 0..w {
                    let t = adot[at + l];
                    adot[a + l] = adot[a + l] + t;
                    adot[b + l] = adot[b + l] + t;
                }
            }
            Op::Sub(a, b) => {
                let (a, b) = (a as usize * w, b as usize * w);
                for l in 0..w {
                    let t = adot[at + l];
                    adot[a + l] = adot[a + l] + t;
                    adot[b + l] = adot[b + l] - t;
                }
            }
            Op::Mul(a, b) => {
                // g_a = b, g_b = a, g_ab = 1.
                let (va, vb) = (val[a as usize], val[b as usize]);
                let (a, b) = (a as usize * w, b as usize * w);
                for l in 0..w {
                    let t = adot[at + l];
                    let (ta, tb) = (tan[a + l], tan[b + l]);
                    adot[a + l] = adot[a + l] + t * vb + g * tb;
                    adot[b + l] = adot[b + l] + t * va + g * ta;
                }
            }
            Op::Div(a, b) => {
                // c = a/b, r = 1/b: g_a = r, g_b = −c r; their tangents are −r² ḃ and
                // −ċ r + c r² ḃ.
                let (v, r) = (val[k], d1[k]);
                let (a, b) = (a as usize * w, b as usize * w);
                for l in 0..w {
                    let t = adot[at + l];
                    let (tc, tb) = (tan[at + l], tan[b + l]);
                    let r2tb = r * r * tb;
                    adot[a + l] = adot[a + l] + t * r - g * r2tb;
                    adot[b + l] = adot[b + l] - t * v * r + g * (v * r2tb - tc * r);
                }
            }
        }
    }
}
