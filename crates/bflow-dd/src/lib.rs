//! A double-double float: an unevaluated sum `hi + lo` of two `f64`, carrying about 32
//! significant decimal digits (106 bits of significand) with the exponent range of `f64`.
//!
//! [`DoubleDouble`] implements [`bflow::real::Real`], so every generic bflow routine can run
//! in it to check how much of an `f64` answer is rounding noise (`bflow precision`). It has
//! what `Real` asks for (the arithmetic operators, comparison, `sqrt`, `exp`, `ln_1p`, `sin`,
//! `cos`, `abs`, `max`, `min`, `epsilon`, …) plus `ln`, on which `ln_1p` rests, and decimal
//! printing and parsing; nothing else. The arithmetic follows Hida, Li and Bailey's QD
//! library ("Library for double-double and quad-double arithmetic", 2007) and Dekker/Knuth
//! error-free transformations (`two_sum`, `quick_two_sum`, `two_prod` via a fused
//! multiply-add).
//!
//! # Accuracy
//! Let `ε = 2⁻¹⁰⁴ ≈ 4.93e-32` ([`DoubleDouble::EPSILON`]). Design bounds, and in brackets
//! the largest relative error measured against mpmath (400 bits) on 300–1000 random
//! double-double arguments per operation, over three sample sets (`tools/dd_check.py`):
//! * `+ −` ≤ 2ε of the larger operand [0.49ε of the result]; `×` ≤ 2ε [0.73ε];
//!   `/` correctly rounded up to about one unit in the last place of the pair, via three
//!   correction quotients with exact residuals [0.12ε, i.e. < ½ ulp of 2⁻¹⁰⁶];
//!   `sqrt` [0.52ε].
//! * Elementary functions ≤ 16ε of the result where well-conditioned: `exp` [0.50ε on
//!   |x| ≤ 200], `ln` [1.9ε], `ln_1p` [2.5ε], `sin` [0.86ε], `cos` [0.47ε]. The arguments
//!   are taken as exact, so these are the errors of the implementation; an argument that is
//!   itself rounded adds the function's condition number times its error (`exp(x)` inherits
//!   `|x|·δx`, `sin x` near `kπ` inherits `|x|·δx` absolute).
//! * Printing: digits come from multiply-by-10 extraction in double-double after scaling by
//!   a power of ten; that power carries ≲ 3ε for decimal exponents beyond ±64, so the 32nd
//!   printed digit can be off by a few units there. Parsing is within ≈ 2ε (36 digits used).
//! * `sin`/`cos` reduce modulo π/2 with a 159-bit π/2 (Cody–Waite, no Payne–Hanek):
//!   full accuracy for `|x| ≲ 2⁵⁰` (measured ≤ 1ε up to 1e15), degrading to an absolute
//!   error ≈ 2⁻¹⁰³ at 2⁶⁰; above 2⁶⁰ only `f64` accuracy (angle-sum of the `f64` parts).
//!
//! Values below `2⁻⁹⁶⁹` ([`DoubleDouble::MIN_POSITIVE`]) lose low-order bits because `lo`
//! becomes subnormal; the type never panics, non-finite results propagate as in `f64`.

use std::cmp::Ordering;
use std::fmt;
use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};
use std::str::FromStr;

/// A double-double number `hi + lo`: two non-overlapping `f64` with `|lo| ≤ ulp(hi)/2`,
/// about 106 significant bits (≈ 32 decimal digits). See the [module docs](self) for the
/// accuracy of every operation.
///
/// Non-finite values are stored with `lo = 0`. Equality is exact equality of the pair
/// (which is exact equality of the value, since the pair is normalised).
#[derive(Clone, Copy, Default, PartialEq)]
pub struct DoubleDouble {
    hi: f64,
    lo: f64,
}

/// `(s, e)` with `s = fl(a + b)` and `s + e = a + b` exactly (Knuth).
#[inline]
fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bb = s - a;
    let e = (a - (s - bb)) + (b - bb);
    (s, e)
}

/// As [`two_sum`] but requires `|a| ≥ |b|` (or `a = 0`) (Dekker).
#[inline]
fn quick_two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let e = b - (s - a);
    (s, e)
}

/// `(p, e)` with `p = fl(a·b)` and `p + e = a·b` exactly (barring underflow), via FMA.
#[inline]
fn two_prod(a: f64, b: f64) -> (f64, f64) {
    let p = a * b;
    let e = a.mul_add(b, -p);
    (p, e)
}

/// `2^k` for `-1022 ≤ k ≤ 1023`.
#[inline]
fn pow2(k: i32) -> f64 {
    f64::from_bits(((k + 1023) as u64) << 52)
}

/// `x · 2^k` without intermediate overflow (one rounding at most, in the subnormal range).
fn ldexp_f64(mut x: f64, k: i32) -> f64 {
    let mut k = k.clamp(-2300, 2300);
    while k > 1000 {
        x *= pow2(1000);
        k -= 1000;
    }
    while k < -1000 {
        x *= pow2(-1000);
        k += 1000;
    }
    x * pow2(k)
}

/// The binary exponent `e` of a finite non-zero `x`: `2^e ≤ |x| < 2^(e+1)`.
fn exponent_of(x: f64) -> i32 {
    if x == 0.0 || !x.is_finite() {
        return 0;
    }
    let bits = ((x.to_bits() >> 52) & 0x7ff) as i32;
    if bits == 0 {
        // Subnormal.
        exponent_of(x * pow2(54)) - 54
    } else {
        bits - 1023
    }
}

/// Number of significant decimal digits generated before padding with zeros.
const MAX_SIG_DIGITS: usize = 40;
/// Significant digits printed when no precision is requested.
const DEFAULT_SIG_DIGITS: usize = 32;

impl Neg for DoubleDouble {
    type Output = Self;
    /// Exact.
    fn neg(self) -> Self {
        Self {
            hi: -self.hi,
            lo: -self.lo,
        }
    }
}

impl Add for DoubleDouble {
    type Output = Self;
    /// IEEE-style accurate double-double addition: relative error ≤ 2ε of the result
    /// (exact when the operands cancel to within 106 bits).
    fn add(self, b: Self) -> Self {
        let (s1, s2) = two_sum(self.hi, b.hi);
        if !s1.is_finite() {
            return Self::from_f64(s1);
        }
        let (t1, t2) = two_sum(self.lo, b.lo);
        if s1 == 0.0 && s2 == 0.0 {
            // The leading parts cancel exactly (or both operands are zero): keep the sign
            // rules of IEEE addition for an all-zero result.
            return if t1 == 0.0 {
                Self::from_f64(s1)
            } else {
                Self::renorm(t1, t2)
            };
        }
        let (s1, s2) = quick_two_sum(s1, s2 + t1);
        Self::renorm(s1, s2 + t2)
    }
}

impl Sub for DoubleDouble {
    type Output = Self;
    /// `self + (−b)`; see [`Add`].
    #[allow(clippy::suspicious_arithmetic_impl)]
    fn sub(self, b: Self) -> Self {
        self + (-b)
    }
}

impl Mul for DoubleDouble {
    type Output = Self;
    /// Double-double product: relative error ≤ 2ε.
    fn mul(self, b: Self) -> Self {
        let (p1, p2) = two_prod(self.hi, b.hi);
        if p1 == 0.0 || !p1.is_finite() {
            return Self::from_f64(p1);
        }
        let cross = self.hi.mul_add(b.lo, self.lo * b.hi);
        Self::renorm(p1, p2 + cross)
    }
}

impl Div for DoubleDouble {
    type Output = Self;
    /// Accurate division (QD's `accurate_div`, with exact residuals): `q₁ = a.hi/b.hi`,
    /// `r = a − q₁b`, `q₂ = r.hi/b.hi`, `r −= q₂b`, `q₃ = r.hi/b.hi`, result `q₁ + q₂ + q₃`.
    /// The residuals are formed with exact products, so the result is the correctly rounded
    /// quotient up to about one unit in the last place of the pair (relative error ≲ 2⁻¹⁰⁵,
    /// measured ≤ ε/2). `x/0` gives ±∞ (NaN for `0/0`), `x/∞` gives ±0.
    #[allow(clippy::suspicious_arithmetic_impl)]
    fn div(self, b: Self) -> Self {
        let q1 = self.hi / b.hi;
        if q1 == 0.0 || !q1.is_finite() {
            return Self::from_f64(q1);
        }
        let r = Self::residual(self, b, q1);
        let q2 = r.hi / b.hi;
        let r = Self::residual(r, b, q2);
        let q3 = r.hi / b.hi;
        let (q1, q2) = quick_two_sum(q1, q2);
        Self { hi: q1, lo: q2 }.add_f64(q3)
    }
}

macro_rules! assign_op {
    ($tr:ident, $m:ident, $op:tt) => {
        impl $tr for DoubleDouble {
            /// In-place form of the binary operator (same accuracy).
            fn $m(&mut self, rhs: Self) {
                *self = *self $op rhs;
            }
        }
    };
}
assign_op!(AddAssign, add_assign, +);
assign_op!(SubAssign, sub_assign, -);
assign_op!(MulAssign, mul_assign, *);
assign_op!(DivAssign, div_assign, /);

impl PartialOrd for DoubleDouble {
    /// Compares `hi`, then `lo` (exact, since the pairs are normalised); `None` with NaN.
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        match self.hi.partial_cmp(&other.hi)? {
            Ordering::Equal => self.lo.partial_cmp(&other.lo),
            o => Some(o),
        }
    }
}

impl From<f64> for DoubleDouble {
    /// Exact.
    fn from(x: f64) -> Self {
        Self::from_f64(x)
    }
}

impl From<i64> for DoubleDouble {
    /// Exact.
    fn from(x: i64) -> Self {
        let hi = x as f64;
        // |x − hi| ≤ 2¹⁰, computed exactly in i128 (hi ≤ 2⁶³ fits).
        Self::new(hi, (x as i128 - hi as i128) as f64)
    }
}

impl FromStr for DoubleDouble {
    type Err = ParseDoubleDoubleError;
    /// Parses `[+-]digits[.digits][(e|E)[+-]digits]`, `inf`, `infinity` and `nan`
    /// (case-insensitive). The first 36 significant digits are used; the result is within
    /// about 2ε of the exact decimal value (for exponents up to ±300; a few ε more beyond).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}

impl fmt::Display for DoubleDouble {
    /// Positional notation: 32 significant digits with trailing zeros removed, or exactly
    /// `p` decimals for `{:.p}` (digits past the 40th significant one are printed as 0).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match f.precision() {
            Some(p) => self.write_with(f, |v| v.fmt_fixed(p)),
            None => self.write_with(f, |v| v.fmt_shortest()),
        }
    }
}

impl fmt::LowerExp for DoubleDouble {
    /// `d.ddde±x`: 32 significant digits with trailing zeros removed, or `p` decimals for
    /// `{:.pe}` (digits past the 40th significant one are printed as 0).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = f.precision();
        self.write_with(f, |v| v.fmt_exp(p))
    }
}

impl fmt::Debug for DoubleDouble {
    /// As [`fmt::Display`] (32 significant digits).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl bflow::real::Real for DoubleDouble {
    const NAME: &'static str = "double-double";

    /// Exact.
    fn lit(x: f64) -> Self {
        Self::from_f64(x)
    }
    /// `hi + lo` rounded once to the nearest `f64`; NaN stays NaN.
    fn to_f64_lossy(self) -> f64 {
        self.hi + self.lo
    }
    fn zero() -> Self {
        Self::ZERO
    }
    fn one() -> Self {
        Self::ONE
    }
    fn nan() -> Self {
        Self::NAN
    }
    /// [`DoubleDouble::EPSILON`] = 2⁻¹⁰⁴ (see there for why not 2⁻¹⁰⁶).
    fn epsilon() -> Self {
        Self::EPSILON
    }
    /// [`DoubleDouble::MIN_POSITIVE`] = 2⁻⁹⁶⁹, the smallest value with full precision.
    fn min_positive_value() -> Self {
        Self::MIN_POSITIVE
    }
    fn is_finite(self) -> bool {
        DoubleDouble::is_finite(self)
    }
    fn is_nan(self) -> bool {
        DoubleDouble::is_nan(self)
    }
    fn abs(self) -> Self {
        DoubleDouble::abs(self)
    }
    fn max(self, other: Self) -> Self {
        DoubleDouble::max(self, other)
    }
    fn min(self, other: Self) -> Self {
        DoubleDouble::min(self, other)
    }
    fn sqrt(self) -> Self {
        DoubleDouble::sqrt(self)
    }
    fn sin(self) -> Self {
        DoubleDouble::sin(self)
    }
    fn cos(self) -> Self {
        DoubleDouble::cos(self)
    }
    fn exp(self) -> Self {
        DoubleDouble::exp(self)
    }
    fn ln_1p(self) -> Self {
        DoubleDouble::ln_1p(self)
    }
}

impl DoubleDouble {
    /// Zero.
    pub const ZERO: Self = Self { hi: 0.0, lo: 0.0 };
    /// One.
    pub const ONE: Self = Self { hi: 1.0, lo: 0.0 };
    /// Not a number.
    pub const NAN: Self = Self {
        hi: f64::NAN,
        lo: 0.0,
    };
    /// +∞.
    pub const INFINITY: Self = Self {
        hi: f64::INFINITY,
        lo: 0.0,
    };
    /// −∞.
    pub const NEG_INFINITY: Self = Self {
        hi: f64::NEG_INFINITY,
        lo: 0.0,
    };
    /// The machine epsilon `2⁻¹⁰⁴ ≈ 4.93e-32`.
    ///
    /// A normalised pair has 106 significand bits, so its unit roundoff is about `2⁻¹⁰⁶`;
    /// but the pair's precision is not uniform (the gap between `hi` and `lo` can hide
    /// extra bits) and the basic operations are only accurate to a small multiple of
    /// `2⁻¹⁰⁶`. Like the QD library we therefore state `ε = 2⁻¹⁰⁴`, a bound that every
    /// single arithmetic operation of this type meets; all accuracy claims and tests of
    /// this module are multiples of this value.
    pub const EPSILON: Self = Self {
        hi: f64::from_bits(919 << 52),
        lo: 0.0,
    };
    /// The largest finite value, `f64::MAX + (2⁹⁷⁰ − 2⁹¹⁷)`.
    pub const MAX: Self = Self {
        hi: f64::MAX,
        lo: f64::from_bits((1992 << 52) | ((1 << 52) - 1)),
    };
    /// `2⁻⁹⁶⁹ ≈ 2.004e-292`, the smallest positive value at which the full 106-bit precision
    /// is still available (below it `lo` is subnormal).
    pub const MIN_POSITIVE: Self = Self {
        hi: f64::from_bits(54 << 52),
        lo: 0.0,
    };

    /// The pair `hi + lo`, renormalised (exact: the value is `hi + lo` rounded to
    /// double-double, which is exact whenever the sum fits in 106 bits). Non-finite sums
    /// give a non-finite value.
    pub fn new(hi: f64, lo: f64) -> Self {
        let (s, e) = two_sum(hi, lo);
        Self::renorm(s, e)
    }

    /// The `f64` `x` exactly.
    pub const fn from_f64(x: f64) -> Self {
        Self { hi: x, lo: 0.0 }
    }

    /// The `i64` `n` exactly (inherent, so that the type of `n` needs no annotation).
    pub fn from_i64(n: i64) -> Self {
        <Self as From<i64>>::from(n)
    }

    /// `n / d` correctly rounded to double-double (up to about one unit in the last place;
    /// see [`Div`]). `d = 0` gives ±∞ or NaN as for floats.
    pub fn from_ratio(n: i64, d: i64) -> Self {
        Self::from_i64(n) / Self::from_i64(d)
    }

    /// The leading component: the value rounded to the nearest `f64` (up to ties).
    pub const fn hi(self) -> f64 {
        self.hi
    }

    /// The trailing component, `|lo| ≤ ulp(hi)/2`.
    pub const fn lo(self) -> f64 {
        self.lo
    }

    /// `self · 2^k`, exact unless the result overflows or enters the subnormal range.
    pub fn ldexp(self, k: i32) -> Self {
        Self::renorm(ldexp_f64(self.hi, k), ldexp_f64(self.lo, k))
    }

    /// `self²` (≤ 2ε relative error).
    pub fn sqr(self) -> Self {
        self * self
    }

    /// The exact product `a · b` of two `f64` (exact barring overflow/underflow).
    fn from_product(a: f64, b: f64) -> Self {
        let (p, e) = two_prod(a, b);
        if p == 0.0 || !p.is_finite() {
            return Self::from_f64(p);
        }
        Self { hi: p, lo: e }
    }

    /// Builds the pair from `s` and a smaller correction `e` (`|s| ≥ |e|`).
    #[inline]
    fn renorm(s: f64, e: f64) -> Self {
        if !s.is_finite() {
            return Self::from_f64(s);
        }
        let (h, l) = quick_two_sum(s, e);
        if !h.is_finite() {
            return Self::from_f64(h);
        }
        Self { hi: h, lo: l }
    }

    /// `self + b` for an `f64` `b`.
    fn add_f64(self, b: f64) -> Self {
        let (s1, s2) = two_sum(self.hi, b);
        if !s1.is_finite() {
            return Self::from_f64(s1);
        }
        if s1 == 0.0 && self.lo == 0.0 {
            return Self::from_f64(s1);
        }
        Self::renorm(s1, s2 + self.lo)
    }

    /// `self · b` for an `f64` `b` (≤ 2ε).
    fn mul_f64(self, b: f64) -> Self {
        let (p1, p2) = two_prod(self.hi, b);
        if p1 == 0.0 || !p1.is_finite() {
            return Self::from_f64(p1);
        }
        Self::renorm(p1, p2 + self.lo * b)
    }

    /// `a − q·b` with the product taken exactly (two exact `two_prod`s), so that the only
    /// rounding is that of the double-double subtractions, relative to the (small) result.
    fn residual(a: Self, b: Self, q: f64) -> Self {
        let (p1, p2) = two_prod(q, b.hi);
        let (p3, p4) = two_prod(q, b.lo);
        (a - Self { hi: p1, lo: p2 }) - Self::new(p3, p4)
    }

    /// `1/n!` from the table.
    #[inline]
    fn inv_fact(n: usize) -> Self {
        let (hi, lo) = INV_FACT[n];
        Self { hi, lo }
    }

    /// `exp(r) − 1` for `|r| ≲ 0.35`, relative error ≲ 4ε: Taylor series of `exp(r/512) − 1`
    /// then nine doublings `p ← p(p + 2)`.
    fn expm1_small(r: Self) -> Self {
        let a = r.hi.abs();
        if a < 2.0_f64.powi(-110) {
            return r;
        }
        if a < 2.0_f64.powi(-60) {
            return r + r.sqr().ldexp(-1);
        }
        let s = r.ldexp(-9);
        let mut t = Self::inv_fact(12);
        for n in (1..12).rev() {
            t = t * s + Self::inv_fact(n);
        }
        let mut p = t * s;
        for _ in 0..9 {
            p = p * (p + Self::from_f64(2.0));
        }
        p
    }

    /// `2 atanh(u) = ln((1+u)/(1−u))` for `|u| ≤ 1/7` by its odd series (≤ 2ε relative).
    fn two_atanh_series(u: Self) -> Self {
        const K: usize = 22;
        let s = u.sqr();
        let mut t = Self::ONE / Self::from_f64((2 * K + 1) as f64);
        for k in (0..K).rev() {
            t = t * s + Self::ONE / Self::from_f64((2 * k + 1) as f64);
        }
        (t * u).ldexp(1)
    }

    /// `ln x = e·ln 2 + ln m` for finite `x > 0`, returned as `(e, ln m)` with
    /// `m = x·2⁻ᵉ ∈ [1/√2, √2)`.
    fn ln_reduced(x: Self) -> (i32, Self) {
        let mut e = exponent_of(x.hi);
        let mut m = x.ldexp(-e);
        if m.hi > std::f64::consts::SQRT_2 {
            m = m.ldexp(-1);
            e += 1;
        }
        let d = m - Self::ONE;
        let ln_m = if d.hi.abs() < 0.25 {
            Self::two_atanh_series(d / (m + Self::ONE))
        } else {
            // One Newton step on exp: y ← y₀ + m·exp(−y₀) − 1.
            let y0 = m.hi.ln();
            Self::from_f64(y0) + (m * Self::from_f64(-y0).exp() - Self::ONE)
        };
        (e, ln_m)
    }

    /// `(sin r, cos r)` for `|r| ≲ π/4` by Taylor series (≤ 2ε relative).
    fn sin_cos_taylor(r: Self) -> (Self, Self) {
        let s = r.sqr();
        let mut ts = Self::inv_fact(29);
        for n in (0..14).rev() {
            ts = Self::inv_fact(2 * n + 1) - ts * s;
        }
        let mut tc = Self::inv_fact(30);
        for n in (0..15).rev() {
            tc = Self::inv_fact(2 * n) - tc * s;
        }
        (ts * r, tc)
    }

    /// `(sin x, cos x)`; `x` is reduced modulo π/2 with a 159-bit π/2.
    fn sin_cos_impl(self) -> (Self, Self) {
        if !self.is_finite() {
            return (Self::NAN, Self::NAN);
        }
        if self.hi.abs() > 2.0_f64.powi(60) {
            // Beyond the Cody–Waite range: angle-sum formula on the f64 parts, whose own
            // sin/cos reduce exactly. Only f64-level accuracy (documented).
            let (sh, ch) = self.hi.sin_cos();
            let (sl, cl) = self.lo.sin_cos();
            let s = Self::from_product(sh, cl) + Self::from_product(ch, sl);
            let c = Self::from_product(ch, cl) - Self::from_product(sh, sl);
            return (s, c);
        }
        let k = (self.hi * std::f64::consts::FRAC_2_PI).round();
        let r = if k == 0.0 {
            self
        } else {
            let (a1, a2) = two_prod(k, PIO2_3[0]);
            let (b1, b2) = two_prod(k, PIO2_3[1]);
            ((self - Self { hi: a1, lo: a2 }) - Self::new(b1, b2)) - Self::from_f64(k * PIO2_3[2])
        };
        let (s, c) = Self::sin_cos_taylor(r);
        match (k % 4.0 + 4.0) % 4.0 {
            0.0 => (s, c),
            1.0 => (c, -s),
            2.0 => (-s, -c),
            _ => (-c, s),
        }
    }

    /// `10^k` for `0 ≤ k ≤ 308` (exact for `k ≤ 22`, a few ulp otherwise).
    fn pow10(k: i32) -> Self {
        Self::from_f64(10.0).powi(k)
    }

    /// `self · 10^k`, dividing for negative `k` (keeps the rounding of small powers exact).
    fn scale10(mut self, mut k: i32) -> Self {
        while k > 300 {
            self *= Self::pow10(300);
            k -= 300;
        }
        while k < -300 {
            self /= Self::pow10(300);
            k += 300;
        }
        if k >= 0 {
            self * Self::pow10(k)
        } else {
            self / Self::pow10(-k)
        }
    }

    /// For finite `self > 0`: `(m, e)` with `self = m · 10^e`, `1 ≤ m < 10` (up to rounding).
    fn decimal_scale(self) -> (Self, i32) {
        let mut e = self.hi.log10().floor() as i32;
        let mut m = if e < -300 {
            // Lift subnormal-range values first so that 10^(-e) does not overflow.
            self.ldexp(200).scale10(-e) / Self::from_f64(2.0).powi(200)
        } else {
            self.scale10(-e)
        };
        let ten = Self::from_f64(10.0);
        while m >= ten {
            m /= ten;
            e += 1;
        }
        while m < Self::ONE {
            m *= ten;
            e -= 1;
        }
        (m, e)
    }

    /// `n ≥ 1` significant digits of `m · 10^e` (`1 ≤ m < 10`), rounded half-up on the next
    /// digit; returns the digits and the (possibly bumped) exponent of the first digit.
    fn digits(m: Self, e: i32, n: usize) -> (Vec<u8>, i32) {
        let g = n.min(MAX_SIG_DIGITS);
        let mut m = m;
        let mut ds = Vec::with_capacity(n + 1);
        let ten = Self::from_f64(10.0);
        for _ in 0..=g {
            let d = m.floor().hi.clamp(0.0, 9.0);
            ds.push(d as u8);
            m = (m - Self::from_f64(d)) * ten;
        }
        let mut e = e;
        let next = ds.pop().unwrap_or(0);
        if next >= 5 {
            let mut i = ds.len();
            loop {
                if i == 0 {
                    ds.insert(0, 1);
                    ds.pop();
                    e += 1;
                    break;
                }
                i -= 1;
                if ds[i] == 9 {
                    ds[i] = 0;
                } else {
                    ds[i] += 1;
                    break;
                }
            }
        }
        ds.resize(n, 0);
        (ds, e)
    }

    /// Fixed notation with `p` decimals of `|self|` (finite).
    fn fmt_fixed(self, p: usize) -> String {
        let v = self.abs();
        let (ds, e) = if v.hi == 0.0 {
            (Vec::new(), 0)
        } else {
            let (m, e) = v.decimal_scale();
            let n = e as i64 + 1 + p as i64;
            if n > 0 {
                Self::digits(m, e, n as usize)
            } else if n == 0 && m.hi >= 5.0 {
                (vec![1], e + 1)
            } else {
                (Vec::new(), 0)
            }
        };
        // Value = 0.d₀d₁… × 10^(e+1).
        let digit = |i: i64| -> char {
            if i >= 0 && (i as usize) < ds.len() {
                (b'0' + ds[i as usize]) as char
            } else {
                '0'
            }
        };
        let mut s = String::new();
        if ds.is_empty() || e < 0 {
            s.push('0');
        } else {
            for i in 0..=e as i64 {
                s.push(digit(i));
            }
        }
        if p > 0 {
            s.push('.');
            for j in 1..=p as i64 {
                s.push(digit(e as i64 + j));
            }
        }
        s
    }

    /// Scientific notation `d.ddde±x` of `|self|` (finite): `p` decimals, or 32 significant
    /// digits with trailing zeros removed when `p` is `None`.
    fn fmt_exp(self, p: Option<usize>) -> String {
        let v = self.abs();
        let n = p.map_or(DEFAULT_SIG_DIGITS, |p| p + 1);
        let (mut ds, e) = if v.hi == 0.0 {
            (vec![0; n], 0)
        } else {
            let (m, e) = v.decimal_scale();
            Self::digits(m, e, n)
        };
        if p.is_none() {
            while ds.len() > 1 && ds.last() == Some(&0) {
                ds.pop();
            }
        }
        let mut s = String::new();
        s.push((b'0' + ds[0]) as char);
        if ds.len() > 1 {
            s.push('.');
            s.extend(ds[1..].iter().map(|&d| (b'0' + d) as char));
        }
        s.push('e');
        s.push_str(&e.to_string());
        s
    }

    /// Positional notation with 32 significant digits, trailing zeros removed.
    fn fmt_shortest(self) -> String {
        let v = self.abs();
        if v.hi == 0.0 {
            return "0".to_string();
        }
        let (m, e) = v.decimal_scale();
        let (mut ds, e) = Self::digits(m, e, DEFAULT_SIG_DIGITS);
        while ds.len() > 1 && ds.last() == Some(&0) {
            ds.pop();
        }
        let mut s = String::new();
        if e < 0 {
            s.push_str("0.");
            s.extend(std::iter::repeat_n('0', (-e - 1) as usize));
            s.extend(ds.iter().map(|&d| (b'0' + d) as char));
        } else {
            let e = e as usize;
            for i in 0..=e {
                s.push((b'0' + ds.get(i).copied().unwrap_or(0)) as char);
            }
            if ds.len() > e + 1 {
                s.push('.');
                s.extend(ds[e + 1..].iter().map(|&d| (b'0' + d) as char));
            }
        }
        s
    }

    /// Writes through `f.pad_integral`, handling NaN and infinities.
    fn write_with(
        self,
        f: &mut fmt::Formatter<'_>,
        body: impl FnOnce(Self) -> String,
    ) -> fmt::Result {
        if self.hi.is_nan() {
            return f.pad_integral(true, "", "NaN");
        }
        let nonneg = self.hi.is_sign_positive();
        if self.hi.is_infinite() {
            return f.pad_integral(nonneg, "", "inf");
        }
        f.pad_integral(nonneg, "", &body(self))
    }
}

/// The functions [`bflow::real::Real`] asks for, and `ln`, on which `ln_1p` rests.
impl DoubleDouble {
    /// Whether the value is NaN.
    pub fn is_nan(self) -> bool {
        self.hi.is_nan()
    }

    /// Whether the value is neither NaN nor ±∞.
    pub fn is_finite(self) -> bool {
        self.hi.is_finite()
    }

    /// Whether the value is ±∞.
    pub fn is_infinite(self) -> bool {
        self.hi.is_infinite()
    }

    /// `|self|`, exact.
    pub fn abs(self) -> Self {
        if self.hi.is_sign_negative() {
            -self
        } else {
            self
        }
    }

    /// The larger value, ignoring a NaN operand (as `f64::max`).
    pub fn max(self, other: Self) -> Self {
        if self.is_nan() || other > self {
            other
        } else {
            self
        }
    }

    /// The smaller value, ignoring a NaN operand (as `f64::min`).
    pub fn min(self, other: Self) -> Self {
        if self.is_nan() || other < self {
            other
        } else {
            self
        }
    }

    /// One Newton step from `sqrt(hi)` with an exact residual: relative error ≤ ε. NaN below
    /// 0; `sqrt(−0) = −0`.
    pub fn sqrt(self) -> Self {
        if self.hi == 0.0 || self.hi.is_nan() || self.hi == f64::INFINITY {
            return self;
        }
        if self.hi < 0.0 {
            return Self::NAN;
        }
        let y = self.hi.sqrt();
        let (p1, p2) = two_prod(y, y);
        let r = self - Self { hi: p1, lo: p2 };
        Self::renorm(y, r.hi / (2.0 * y))
    }

    /// `eˣ`: argument reduction `x = k ln 2 + r` (159-bit ln 2),
    /// `exp(r) = (1 + expm1(r/512))^512` by Taylor series and doubling: relative error
    /// ≲ 4ε + |x|·ε (the conditioning).
    /// Overflows to +∞ above ≈ 709.79, underflows to 0 below ≈ −745.2.
    pub fn exp(self) -> Self {
        if self.hi.is_nan() {
            return self;
        }
        if self.hi > 709.79 {
            return Self::INFINITY;
        }
        if self.hi < -745.2 {
            return Self::ZERO;
        }
        let k = (self.hi / std::f64::consts::LN_2).round();
        let r = if k == 0.0 {
            self
        } else {
            let (a1, a2) = two_prod(k, LN2_3[0]);
            let (b1, b2) = two_prod(k, LN2_3[1]);
            ((self - Self { hi: a1, lo: a2 }) - Self::new(b1, b2)) - Self::from_f64(k * LN2_3[2])
        };
        (Self::expm1_small(r) + Self::ONE).ldexp(k as i32)
    }

    /// `ln x = e·ln 2 + ln m` with `m ∈ [1/√2, √2)`; `ln m` by the `atanh` series near 1,
    /// else one Newton step on `exp`. Relative error ≤ 8ε (≤ 2ε near 1, where it stays
    /// relative). NaN below 0, −∞ at 0.
    pub fn ln(self) -> Self {
        if self.hi.is_nan() || self.hi < 0.0 {
            return Self::NAN;
        }
        if self.hi == 0.0 {
            return Self::NEG_INFINITY;
        }
        if self.hi == f64::INFINITY {
            return self;
        }
        let (e, ln_m) = Self::ln_reduced(self);
        if e == 0 {
            ln_m
        } else {
            Self::LN_2.mul_f64(e as f64) + ln_m
        }
    }

    /// `ln(1 + x)`: `2 atanh(x/(2+x))` by series for `|x| < 1/4` (≤ 4ε relative, also for
    /// tiny `x`), `ln(1+x)` beyond. NaN below −1, −∞ at −1.
    pub fn ln_1p(self) -> Self {
        if self.hi.is_nan() || self.hi < -1.0 {
            return Self::NAN;
        }
        if self.hi.abs() < 0.25 {
            if self.hi == 0.0 {
                return self;
            }
            Self::two_atanh_series(self / (Self::from_f64(2.0) + self))
        } else {
            (Self::ONE + self).ln()
        }
    }

    /// `sin x`: reduction modulo π/2 (159-bit constant) and Taylor series: ≤ 4ε relative
    /// for `|x| ≲ 2⁵⁰` away from the zeros `kπ` (absolute ≤ 4ε·max(1, |x|·2⁻⁵⁰) there);
    /// NaN for ±∞.
    pub fn sin(self) -> Self {
        self.sin_cos_impl().0
    }

    /// `cos x`, as [`DoubleDouble::sin`].
    pub fn cos(self) -> Self {
        self.sin_cos_impl().1
    }

    /// The largest integer ≤ `self`, exact (for printing digits).
    fn floor(self) -> Self {
        let h = self.hi.floor();
        if h == self.hi {
            Self::renorm(h, self.lo.floor())
        } else {
            Self::from_f64(h)
        }
    }

    /// `selfⁿ` by repeated squaring (for powers of ten); relative error ≲ 2·log₂|n|·ε.
    /// `x⁰ = 1` (also for NaN).
    fn powi(self, n: i32) -> Self {
        if n == 0 {
            return Self::ONE;
        }
        let mut base = self;
        let mut k = n.unsigned_abs();
        let mut acc = Self::ONE;
        while k > 0 {
            if k & 1 == 1 {
                acc *= base;
            }
            k >>= 1;
            if k > 0 {
                base = base.sqr();
            }
        }
        if n < 0 { Self::ONE / acc } else { acc }
    }
}

/// Error of parsing a [`DoubleDouble`] ([`FromStr`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseDoubleDoubleError {
    kind: &'static str,
}

impl fmt::Display for ParseDoubleDoubleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid double-double literal: {}", self.kind)
    }
}

impl std::error::Error for ParseDoubleDoubleError {}

/// Parses `[+-]digits[.digits][(e|E)[+-]digits]`, `inf`, `infinity` and `nan`
/// (case-insensitive).
fn parse(s: &str) -> Result<DoubleDouble, ParseDoubleDoubleError> {
    let err = |kind| Err(ParseDoubleDoubleError { kind });
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let sign = |v: DoubleDouble| if neg { -v } else { v };
    let lower = body.to_ascii_lowercase();
    if lower == "inf" || lower == "infinity" {
        return Ok(sign(DoubleDouble::INFINITY));
    }
    if lower == "nan" {
        return Ok(DoubleDouble::NAN);
    }
    let (mant, exp_str) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let ten = DoubleDouble::from_f64(10.0);
    let mut acc = DoubleDouble::ZERO;
    let mut sig = 0usize;
    let mut scale: i64 = 0;
    let mut seen_digit = false;
    let mut seen_point = false;
    for c in mant.chars() {
        if c == '.' {
            if seen_point {
                return err("two decimal points");
            }
            seen_point = true;
            continue;
        }
        let Some(d) = c.to_digit(10) else {
            return err("invalid digit");
        };
        seen_digit = true;
        if sig < 36 {
            acc = acc * ten + DoubleDouble::from_f64(d as f64);
            if acc.hi != 0.0 {
                sig += 1;
            }
            if seen_point {
                scale -= 1;
            }
        } else if !seen_point {
            scale += 1;
        }
    }
    if !seen_digit {
        return err("no digits");
    }
    if let Some(es) = exp_str {
        let (eneg, edigits) = match es.as_bytes().first() {
            Some(b'-') => (true, &es[1..]),
            Some(b'+') => (false, &es[1..]),
            _ => (false, es),
        };
        if edigits.is_empty() || !edigits.bytes().all(|b| b.is_ascii_digit()) {
            return err("invalid exponent");
        }
        let mut e: i64 = 0;
        for b in edigits.bytes() {
            e = (e * 10 + (b - b'0') as i64).min(1_000_000);
        }
        scale += if eneg { -e } else { e };
    }
    let scale = scale.clamp(-100_000, 100_000) as i32;
    let v = if acc.hi == 0.0 {
        acc
    } else {
        acc.scale10(scale)
    };
    Ok(sign(v))
}
// ---- generated by tools/dd_consts.py ----
#[allow(clippy::approx_constant, clippy::excessive_precision)]
impl DoubleDouble {
    /// π. Correctly rounded to double-double.
    pub const PI: Self = Self {
        hi: 3.141592653589793,
        lo: 1.2246467991473532e-16,
    };
    /// ln 2. Correctly rounded to double-double.
    pub const LN_2: Self = Self {
        hi: 0.6931471805599453,
        lo: 2.3190468138462996e-17,
    };
    /// ln 10. Correctly rounded to double-double.
    pub const LN_10: Self = Self {
        hi: 2.302585092994046,
        lo: -2.1707562233822494e-16,
    };
}

/// π/2 split into three non-overlapping doubles (≈159 bits), for argument reduction.
#[allow(clippy::approx_constant, clippy::excessive_precision)]
const PIO2_3: [f64; 3] = [
    1.5707963267948966,
    6.123233995736766e-17,
    -1.4973849048591698e-33,
];
/// ln 2 split into three non-overlapping doubles (≈159 bits), for argument reduction.
#[allow(clippy::approx_constant, clippy::excessive_precision)]
const LN2_3: [f64; 3] = [
    0.6931471805599453,
    2.3190468138462996e-17,
    5.707708438416212e-34,
];
/// `1/n!` for n = 0..=30, correctly rounded to double-double as `(hi, lo)`.
#[allow(clippy::excessive_precision)]
const INV_FACT: [(f64, f64); 31] = [
    (1.0, 0.0),
    (1.0, 0.0),
    (0.5, 0.0),
    (0.16666666666666666, 9.25185853854297e-18),
    (0.041666666666666664, 2.3129646346357427e-18),
    (0.008333333333333333, 1.1564823173178714e-19),
    (0.001388888888888889, -5.300543954373577e-20),
    (0.0001984126984126984, 1.7209558293420705e-22),
    (2.48015873015873e-05, 2.1511947866775882e-23),
    (2.7557319223985893e-06, -1.858393274046472e-22),
    (2.755731922398589e-07, 2.3767714622250297e-23),
    (2.505210838544172e-08, -1.448814070935912e-24),
    (2.08767569878681e-09, -1.20734505911326e-25),
    (1.6059043836821613e-10, 1.2585294588752098e-26),
    (1.1470745597729725e-11, 2.0655512752830745e-28),
    (7.647163731819816e-13, 7.03872877733453e-30),
    (4.779477332387385e-14, 4.399205485834081e-31),
    (2.8114572543455206e-15, 1.6508842730861433e-31),
    (1.5619206968586225e-16, 1.1910679660273754e-32),
    (8.22063524662433e-18, 2.2141894119604265e-34),
    (4.110317623312165e-19, 1.4412973378659527e-36),
    (1.9572941063391263e-20, -1.3643503830087908e-36),
    (8.896791392450574e-22, -7.911402614872376e-38),
    (3.868170170630684e-23, -8.843177655482344e-40),
    (1.6117375710961184e-24, -3.6846573564509766e-41),
    (6.446950284384474e-26, -1.9330404233703465e-42),
    (2.4795962632247976e-27, -1.2953730964765229e-43),
    (9.183689863795546e-29, 1.4303150396787322e-45),
    (3.279889237069838e-30, 1.5117542744029879e-46),
    (1.1309962886447716e-31, 1.0498015412959506e-47),
    (3.7699876288159054e-33, 2.5870347832750324e-49),
];

#[cfg(test)]
mod tests {
    use super::*;
    use bflow::real::Real;
    use proptest::prelude::*;

    type D = DoubleDouble;

    fn eps() -> f64 {
        D::EPSILON.hi
    }

    fn p(s: &str) -> D {
        s.parse().unwrap()
    }

    /// `|got − want| / |want|` as an f64 (computed in double-double).
    fn rel(got: D, want: D) -> f64 {
        ((got - want) / want).abs().to_f64_lossy()
    }

    fn assert_rel(name: &str, got: D, want: D, ulps: f64) {
        let r = rel(got, want);
        assert!(
            r <= ulps * eps(),
            "{name}: got {got:e}, want {want:e}, rel {:.2} eps",
            r / eps()
        );
    }

    // 40-digit references, checked with mpmath (mp.dps = 45) and Python's decimal module.
    const PI: &str = "3.141592653589793238462643383279502884197";
    const E: &str = "2.718281828459045235360287471352662497757";
    const LN2: &str = "0.6931471805599453094172321214581765680755";
    const SQRT2: &str = "1.41421356237309504880168872420969807857";
    const SIN1: &str = "0.8414709848078965066525023216302989996226";
    const COS1: &str = "0.5403023058681397174009366074429766037323";
    const LN10: &str = "2.302585092994045684017991454684364207601";
    const LN_1P_HALF: &str = "0.4054651081081643819780131154643491365720";
    const LN_1P_MINUS_FIFTH: &str = "-0.2231435513142097557662950903098345033746";

    #[test]
    fn dd_constants_match_references() {
        assert_rel("PI", D::PI, p(PI), 1.0);
        assert_rel("LN_2", D::LN_2, p(LN2), 1.0);
        assert_rel("LN_10", D::LN_10, p(LN10), 1.0);
    }

    #[test]
    fn dd_functions_match_references() {
        let one = D::ONE;
        let two = D::from_f64(2.0);
        assert_rel("sqrt 2", two.sqrt(), p(SQRT2), 4.0);
        assert_rel("exp 1", one.exp(), p(E), 16.0);
        assert_rel("exp -1", (-one).exp(), p(E).powi(-1), 16.0);
        assert_rel("ln 2", two.ln(), p(LN2), 16.0);
        assert_rel("ln 10", D::from_f64(10.0).ln(), p(LN10), 16.0);
        assert_rel("ln e", p(E).ln(), one, 16.0);
        assert_rel("sin 1", one.sin(), p(SIN1), 16.0);
        assert_rel("cos 1", one.cos(), p(COS1), 16.0);
        // ln_1p by its series (|x| < 1/4) and through ln (beyond).
        assert_rel(
            "ln_1p -1/5",
            D::from_ratio(-1, 5).ln_1p(),
            p(LN_1P_MINUS_FIFTH),
            16.0,
        );
        assert_rel("ln_1p 1/2", D::from_f64(0.5).ln_1p(), p(LN_1P_HALF), 16.0);
        assert_rel(
            "powi 3^-3",
            D::from_f64(3.0).powi(-3),
            D::from_ratio(1, 27),
            8.0,
        );
        // Small arguments keep relative accuracy.
        let t = D::from_f64(1e-20);
        assert_rel("ln_1p tiny", t.ln_1p(), t - t.sqr().ldexp(-1), 4.0);
        assert_rel("sin tiny", t.sin(), t, 4.0);
        assert_rel("exp tiny", t.exp(), one + t + t.sqr().ldexp(-1), 1.0);
        // sin(π_dd) = π − π_dd ≈ −3e-33 (mpmath); the reduction keeps ~16 digits of it.
        assert!(rel(D::PI.sin(), p("-2.99476980971833955464159426787545e-33")) < 1e-15);
    }

    #[test]
    fn dd_arithmetic_is_accurate() {
        let two_thirds = D::from_ratio(2, 3);
        assert!((two_thirds * D::from_f64(3.0) - D::from_f64(2.0)).abs().hi < 2.0 * eps());
        assert_rel(
            "2/3",
            two_thirds,
            p("0.66666666666666666666666666666666666666667"),
            1.0,
        );
        // The f64 4/3 is off by exactly 2⁻⁵⁴ relative; the double-double keeps those digits.
        let dd = D::from_ratio(4, 3);
        let f = D::from_f64(4.0 / 3.0);
        let r = rel(f, dd);
        assert!((r - 2.0_f64.powi(-54)).abs() < 1e-30, "rel {r:e}");
        assert_rel(
            "4/3 digits",
            dd,
            p("1.333333333333333333333333333333333333333"),
            1.0,
        );
        assert_rel("0.1+0.2", p("0.1") + p("0.2"), p("0.3"), 4.0);
        assert_rel("1/3*3", D::from_ratio(1, 3) * D::from_f64(3.0), D::ONE, 2.0);
        // i64::MAX = 2⁶³ − 1 does not fit in an f64; the pair holds it exactly.
        let m = D::from_i64(i64::MAX);
        assert_eq!((m.hi(), m.lo()), (2.0_f64.powi(63), -1.0));
        assert_eq!(D::new(1.0, 2.0_f64.powi(-80)).lo(), 2.0_f64.powi(-80));
    }

    #[test]
    fn dd_floor_and_specials() {
        let x = D::new(3.0, -1e-20);
        assert_eq!(x.floor(), D::from_f64(2.0));
        assert_eq!(D::new(-3.0, 1e-20).floor(), D::from_f64(-3.0));
        assert!((D::ONE / D::ZERO).is_infinite());
        assert!((D::ZERO / D::ZERO).is_nan());
        assert!(D::from_f64(-1.0).sqrt().is_nan());
        assert!(D::from_f64(-1.0).ln().is_nan());
        assert!(D::from_f64(-2.0).ln_1p().is_nan());
        assert_eq!(D::from_f64(-1.0).ln_1p(), D::NEG_INFINITY);
        assert!((D::INFINITY - D::INFINITY).is_nan());
        assert!((D::INFINITY * D::ZERO).is_nan());
        assert_eq!(D::ZERO.ln(), D::NEG_INFINITY);
        assert_eq!(D::from_f64(1000.0).exp(), D::INFINITY);
        assert_eq!(D::from_f64(-1000.0).exp(), D::ZERO);
        assert!(D::NAN.sin().is_nan() && D::INFINITY.cos().is_nan());
        let big = D::from_f64(1e300);
        assert!((big.sin().hi - 1e300_f64.sin()).abs() < 1e-15);
        assert!((big.cos().hi - 1e300_f64.cos()).abs() < 1e-15);
        assert!((D::MAX * D::from_f64(2.0)).is_infinite());
        assert!(D::MAX.is_finite() && D::MAX > D::from_f64(f64::MAX));
        assert_eq!(D::from_f64(-0.0).sqrt().hi().to_bits(), (-0.0f64).to_bits());
        assert!(
            (D::from_f64(-0.0) + D::from_f64(-0.0))
                .hi()
                .is_sign_negative()
        );
        assert!((D::from_f64(-2.0) * D::ZERO).hi().is_sign_negative());
        assert_eq!(D::NAN.max(D::ONE), D::ONE);
        assert_eq!(D::ONE.min(D::NAN), D::ONE);
        assert_eq!(D::from_f64(-1.5).abs(), D::from_f64(1.5));
        assert_eq!(D::EPSILON, D::from_f64(2.0).powi(-104));
        assert_eq!(D::MIN_POSITIVE, D::from_f64(2.0).powi(-969));
    }

    #[test]
    fn dd_formatting() {
        assert_eq!(format!("{}", D::PI), "3.1415926535897932384626433832795");
        assert_eq!(
            format!("{:e}", D::PI),
            "3.1415926535897932384626433832795e0"
        );
        assert_eq!(format!("{:.20e}", D::PI), "3.14159265358979323846e0");
        assert_eq!(format!("{:.3}", D::PI), "3.142");
        assert_eq!(format!("{:.0}", D::from_f64(2.5)), "3");
        assert_eq!(
            format!("{:.32}", D::from_ratio(1, 3)),
            "0.33333333333333333333333333333333"
        );
        assert_eq!(format!("{:?}", -D::from_ratio(1, 8)), "-0.125");
        assert_eq!(format!("{:e}", p("1e-280")), "1e-280");
        // Below MIN_POSITIVE (2⁻⁹⁶⁹) `lo` is subnormal: 1e-300 keeps only ~23 digits.
        assert!(rel(p("1e-300"), D::from_f64(10.0).powi(-300)) < 1e-22);
        assert_eq!(
            format!("{:e}", D::from_f64(1e-300)),
            "1.0000000000000000250590918352086e-300"
        );
        assert_eq!(format!("{:e}", D::from_f64(12345.0)), "1.2345e4");
        assert_eq!(format!("{}", D::from_f64(1e20)), "100000000000000000000");
        assert_eq!(format!("{}", p("0.001")), "0.001");
        assert_eq!(
            format!("{}", D::from_f64(0.001)),
            "0.0010000000000000000208166817117217"
        );
        assert_eq!(format!("{}", D::ZERO), "0");
        assert_eq!(format!("{:.2e}", D::ZERO), "0.00e0");
        assert_eq!(format!("{:.2}", D::from_f64(0.999)), "1.00");
        assert_eq!(format!("{:.1e}", D::from_f64(9.96)), "1.0e1");
        assert_eq!(format!("{:+.1}", D::ONE), "+1.0");
        assert_eq!(format!("{:>6}", D::from_f64(-1.5)), "  -1.5");
        assert_eq!(format!("{}", D::NAN), "NaN");
        assert_eq!(format!("{}", D::NEG_INFINITY), "-inf");
        // Scaling by 10^±300 costs ~3ε, so only 30 digits are checked at the extremes.
        let tiny = format!("{:e}", D::from_f64(5e-324));
        assert!(
            tiny.starts_with("4.94065645841246544176568792868") && tiny.ends_with("e-324"),
            "{tiny}"
        );
        let max = format!("{:e}", D::MAX);
        assert!(
            max.starts_with("1.79769313486231580793728971405") && max.ends_with("e308"),
            "{max}"
        );
        // The pair nearest 2/3 is 0.66666666666666666666666666666666461…, so digit 33 rounds down.
        assert_eq!(
            format!("{:e}", D::from_ratio(2, 3)),
            "6.6666666666666666666666666666666e-1"
        );
    }

    #[test]
    fn dd_parsing() {
        assert_eq!(p("1.5"), D::from_f64(1.5));
        assert_eq!(p("-0.125e2"), D::from_f64(-12.5));
        assert_eq!(p("1e22"), D::from_f64(1e22));
        assert_eq!(
            p("123456789012345678901234567890"),
            D::from_i64(123456789012345678) * D::from_f64(1e12) + D::from_f64(901234567890.0)
        );
        assert_rel("1e-280", p("1e-280"), D::from_f64(10.0).powi(-280), 8.0);
        assert!(p("inf").is_infinite() && p("-Infinity") < D::ZERO && p("NaN").is_nan());
        assert!(
            "1.2.3".parse::<D>().is_err() && "".parse::<D>().is_err() && "e5".parse::<D>().is_err()
        );
        assert!("1x".parse::<D>().is_err() && "1e".parse::<D>().is_err());
        // Round trip through the printed digits.
        for s in [PI, E, LN2, SIN1] {
            let x = p(s);
            assert_rel("round trip", p(&format!("{x:e}")), x, 1.0);
        }
    }

    #[test]
    fn dd_real_impl() {
        use bflow::real::norm_l2;
        assert_eq!(D::NAME, "double-double");
        assert_eq!(D::lit(0.1).hi(), 0.1);
        assert_eq!(D::from_ratio(1, 3).to_f64_lossy(), 1.0 / 3.0);
        assert_eq!(<D as Real>::epsilon(), D::EPSILON);
        assert_eq!(<D as Real>::min_positive_value(), D::MIN_POSITIVE);
        assert_eq!(<D as Real>::zero() + <D as Real>::one(), D::ONE);
        assert!(<D as Real>::nan().is_nan());
        // The trait methods are the inherent ones.
        let x = D::from_ratio(7, 3);
        assert_eq!(<D as Real>::sqrt(x), x.sqrt());
        assert_eq!(<D as Real>::exp(x), x.exp());
        assert_eq!(<D as Real>::ln_1p(x), x.ln_1p());
        assert_eq!(<D as Real>::sin(x), x.sin());
        assert_eq!(<D as Real>::cos(x), x.cos());
        assert_eq!(<D as Real>::abs(-x), x);
        assert_eq!(<D as Real>::max(x, D::ONE), x);
        assert_eq!(<D as Real>::min(x, D::ONE), D::ONE);
        assert!(<D as Real>::is_finite(x) && !<D as Real>::is_nan(x));
        let v = [D::from_f64(3.0), D::from_f64(4.0)];
        assert_eq!(norm_l2(&v), D::from_f64(5.0));
    }

    /// Prints `op x.hi x.lo [y.hi y.lo] r.hi r.lo` lines for `tools/dd_check.py`, which
    /// measures the errors against mpmath: `cargo test --lib dd_dump -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn dd_dump_for_mpmath() {
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut unif = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut dd = |lo: f64, hi: f64| {
            let m = lo + (hi - lo) * unif();
            D::new(m, m * (2.0 * unif() - 1.0) * 2.0_f64.powi(-53))
        };
        let show = |x: D| format!("{:?} {:?}", x.hi, x.lo);
        type F1 = fn(D) -> D;
        // `log`: the argument is 10^u with u uniform in [lo, hi].
        let unary: [(&str, F1, f64, f64, bool); 11] = [
            ("sin", D::sin, 0.0, 15.0, true),
            ("cos", D::cos, 0.0, 15.0, true),
            ("ln", D::ln, 0.999, 1.001, false),
            ("sqrt", D::sqrt, -30.0, 30.0, true),
            ("exp", D::exp, -1.0, 1.0, false),
            ("exp", D::exp, -200.0, 200.0, false),
            ("ln", D::ln, -100.0, 100.0, true),
            ("ln", D::ln, 0.5, 2.0, false),
            ("ln_1p", D::ln_1p, -0.5, 0.5, false),
            ("sin", D::sin, -10.0, 10.0, false),
            ("cos", D::cos, -10.0, 10.0, false),
        ];
        for (name, f, lo, hi, log) in unary {
            for _ in 0..300 {
                let x = if log {
                    (dd(lo, hi) * D::LN_10).exp()
                } else {
                    dd(lo, hi)
                };
                println!("DUMP {name} {} {}", show(x), show(f(x)));
            }
        }
        type F2 = fn(D, D) -> D;
        let binary: [(&str, F2); 4] = [
            ("add", |a, b| a + b),
            ("sub", |a, b| a - b),
            ("mul", |a, b| a * b),
            ("div", |a, b| a / b),
        ];
        for (name, f) in binary {
            for _ in 0..1000 {
                let (a, b) = (dd(-10.0, 10.0), dd(-10.0, 10.0));
                println!("DUMP {name} {} {} {}", show(a), show(b), show(f(a, b)));
            }
        }
    }

    /// Sums a list of f64 exactly enough (Ogita–Rump–Oishi SumK with K = 4).
    fn sum_k(mut v: Vec<f64>) -> f64 {
        for _ in 0..3 {
            for i in 1..v.len() {
                let (s, e) = two_sum(v[i], v[i - 1]);
                v[i] = s;
                v[i - 1] = e;
            }
        }
        v.iter().sum()
    }

    /// `(q·b − a)/(b·q)` evaluated (almost) exactly: the products are split with `two_prod`.
    fn div_error(a: D, b: D, q: D) -> f64 {
        let mut terms = vec![-a.hi, -a.lo];
        for x in [q.hi, q.lo] {
            for y in [b.hi, b.lo] {
                let (p, e) = two_prod(x, y);
                terms.push(p);
                terms.push(e);
            }
        }
        sum_k(terms) / (b.hi * q.hi)
    }

    fn dd_strategy(lo: f64, hi: f64) -> impl Strategy<Value = D> {
        (lo..hi, -1.0f64..1.0, proptest::bool::ANY).prop_map(|(m, t, neg)| {
            let x = D::new(m, m * t * 2.0_f64.powi(-53));
            if neg { -x } else { x }
        })
    }

    fn log_uniform(lo_exp: f64, hi_exp: f64) -> impl Strategy<Value = D> {
        (lo_exp..hi_exp, -1.0f64..1.0).prop_map(|(e, t)| {
            let m = 10f64.powf(e);
            D::new(m, m * t * 2.0_f64.powi(-53))
        })
    }

    proptest! {
        #[test]
        fn dd_prop_add_sub(a in dd_strategy(1e-5, 1e5), b in dd_strategy(1e-5, 1e5)) {
            let scale = a.abs().max(b.abs()).hi;
            let err = ((a + b) - b - a).abs().hi;
            prop_assert!(err <= 2.0 * eps() * scale, "err {:e}", err / scale);
        }

        #[test]
        fn dd_prop_mul_div(a in log_uniform(-30.0, 30.0), b in log_uniform(-30.0, 30.0)) {
            prop_assert!(rel(a * b / b, a) <= 4.0 * eps());
        }

        #[test]
        fn dd_prop_div_correctly_rounded(a in log_uniform(-100.0, 100.0), b in log_uniform(-100.0, 100.0)) {
            let q = a / b;
            let e = div_error(a, b, q).abs();
            // One unit in the last place of the pair is 2⁻¹⁰⁵·2^⌊log₂|q|⌋ ≥ 2⁻¹⁰⁶|q|.
            prop_assert!(e <= 2.0_f64.powi(-106), "err {:.3} ulp", e / 2.0_f64.powi(-106));
        }

        #[test]
        fn dd_prop_sqrt(x in log_uniform(-200.0, 200.0)) {
            prop_assert!(rel(x.sqrt().sqr(), x) <= 4.0 * eps());
        }

        #[test]
        fn dd_prop_exp_ln(x in log_uniform(-100.0, 100.0)) {
            let l = x.ln();
            // exp amplifies the absolute error of ln x by |ln x|.
            let bound = (8.0 + l.abs().hi) * eps();
            prop_assert!(rel(l.exp(), x) <= bound, "rel {:.2} eps", rel(l.exp(), x) / eps());
        }

        #[test]
        fn dd_prop_ln_near_one(t in -0.3f64..0.3) {
            let x = D::ONE + D::from_f64(t) * D::from_f64(t.abs());
            let l = x.ln();
            prop_assume!(l.hi != 0.0);
            prop_assert!(rel(l.exp(), x) <= 8.0 * eps());
        }

        #[test]
        fn dd_prop_ln_1p_sum(u in log_uniform(-20.0, -0.6), v in log_uniform(-20.0, -0.6), neg in proptest::bool::ANY) {
            // ln(1+u) + ln(1+v) = ln(1 + (u + v + uv)). With u, v of one sign and |u|, |v| < ¼
            // (the series branch), w = u + v + uv is formed to a few ε, and w > −0.44, where
            // ln_1p's condition number |w / ((1+w) ln(1+w))| is below 1.4; w up to 0.57 also
            // takes the ln branch. Both sides agree to a few ε relative.
            let (u, v) = if neg { (-u, -v) } else { (u, v) };
            let w = u + v + u * v;
            let (lhs, rhs) = (u.ln_1p() + v.ln_1p(), w.ln_1p());
            prop_assert!(rel(lhs, rhs) <= 16.0 * eps(), "rel {:.2} eps", rel(lhs, rhs) / eps());
        }

        #[test]
        fn dd_prop_sin_cos(x in dd_strategy(0.0, 100.0)) {
            let (s, c) = (x.sin(), x.cos());
            let err = (s.sqr() + c.sqr() - D::ONE).abs().hi;
            prop_assert!(err <= 8.0 * eps(), "err {:.2} eps", err / eps());
            // Double angle: sin 2x = 2 sin x cos x (absolute, the inputs are O(1)).
            let err2 = ((x.ldexp(1)).sin() - (s * c).ldexp(1)).abs().hi;
            prop_assert!(err2 <= 16.0 * eps(), "double angle err {:.2} eps", err2 / eps());
        }

        #[test]
        fn dd_prop_print_parse(x in log_uniform(-250.0, 250.0)) {
            let back: D = format!("{x:e}").parse().unwrap();
            prop_assert!(rel(back, x) <= 4.0 * eps());
        }
    }
}
