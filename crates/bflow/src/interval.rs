//! Rigorous `f64` interval arithmetic, for certificates (the Krawczyk test in [`crate::map`]).
//!
//! An [`Interval`] `[lo, hi]` is a set of reals; every operation returns an interval that
//! **contains** the exact result of the operation applied to every pair of points of its
//! operands. Rounding is outward: each bound is computed in round-to-nearest and then moved
//! one ulp outward with [`f64::next_down`] / [`f64::next_up`] (round-to-nearest is within
//! half an ulp, so one ulp outward is always enough for `+ − × ÷ sqrt`, which IEEE 754
//! rounds correctly).
//!
//! Elementary functions (`exp ln sin cos tan atan`) call the platform libm and widen each
//! bound by **4 ulps**, `tanh sinh cosh` by **8 ulps**. This assumes libm is accurate to
//! within those margins (glibc documents ≤ 1–2 ulp on x86-64, and a random search here found
//! at most 0.52 ulp for the first group and 2.1 ulps for `tanh`: the margins are twice and
//! four times what was measured). Monotonicity and
//! interior extrema are handled: `sin` and `cos` return ±1 when the interval may contain a
//! maximum or minimum (decided with a conservative margin: a spurious "may contain" only
//! widens the result), and arguments with `|x| > 2^20` give `[-1, 1]`.
//!
//! **Domain rule.** Where a function is not defined, or not bounded, on part of the argument
//! (`ln` on non-positive values, `sqrt` on negative ones, `powf` on negative values or at 0
//! with an exponent that may be ≤ 0, `tan` across a pole, division by an interval containing
//! 0, a negative integer power of one) the result is [`Interval::ENTIRE`] `[-∞, ∞]`: no
//! proof can be built on it. NaN bounds
//! never appear: an operation that would produce one (`∞ − ∞`, `0 × ∞`) gives `ENTIRE`.
//!
//! The type is meant for a generic expression evaluator: it has the arithmetic operators
//! (also with `f64` on either side), and the methods `sin cos tan exp ln sqrt abs tanh sinh
//! cosh atan powi powf sqr`.

use std::ops::{Add, Div, Mul, Neg, Sub};

/// A closed interval `[lo, hi]` of reals, `lo ≤ hi` (bounds may be infinite).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    lo: f64,
    hi: f64,
}

fn down(x: f64) -> f64 {
    x.next_down()
}

fn up(x: f64) -> f64 {
    x.next_up()
}

/// Ulps a libm result is widened by: `exp ln sin cos tan atan`.
const LIBM_ULPS: u32 = 4;
/// Ulps for `tanh sinh cosh`, where glibc was measured 2.1 ulps off.
const LIBM_HYPERBOLIC_ULPS: u32 = 8;

fn down_by(mut x: f64, ulps: u32) -> f64 {
    for _ in 0..ulps {
        x = x.next_down();
    }
    x
}

fn up_by(mut x: f64, ulps: u32) -> f64 {
    for _ in 0..ulps {
        x = x.next_up();
    }
    x
}

fn down2(x: f64) -> f64 {
    down_by(x, LIBM_ULPS)
}

fn up2(x: f64) -> f64 {
    up_by(x, LIBM_ULPS)
}

impl Interval {
    /// `[-∞, ∞]`: every real.
    pub const ENTIRE: Interval = Interval {
        lo: f64::NEG_INFINITY,
        hi: f64::INFINITY,
    };

    /// `[lo, hi]`. Returns `None` when a bound is NaN or `lo > hi`.
    pub fn new(lo: f64, hi: f64) -> Option<Self> {
        (lo <= hi).then_some(Self { lo, hi })
    }

    /// The degenerate interval `[x, x]`; a NaN gives [`ENTIRE`](Interval::ENTIRE).
    pub fn point(x: f64) -> Self {
        if x.is_nan() {
            Self::ENTIRE
        } else {
            Self { lo: x, hi: x }
        }
    }

    /// `[c − r, c + r]`, rounded outward (`r ≥ 0`; a NaN gives `ENTIRE`).
    pub fn centered(c: f64, r: f64) -> Self {
        Self::checked(down(c - r), up(c + r))
    }

    /// Lower bound.
    pub fn lo(self) -> f64 {
        self.lo
    }

    /// Upper bound.
    pub fn hi(self) -> f64 {
        self.hi
    }

    /// Width `hi − lo`, rounded up.
    pub fn width(self) -> f64 {
        up(self.hi - self.lo)
    }

    /// The midpoint (a float inside the interval; 0 for `ENTIRE`).
    pub fn mid(self) -> f64 {
        if self.lo.is_infinite() || self.hi.is_infinite() {
            if self.lo.is_infinite() && self.hi.is_infinite() {
                return 0.0;
            }
            return if self.lo.is_infinite() {
                self.hi
            } else {
                self.lo
            };
        }
        let m = 0.5 * self.lo + 0.5 * self.hi;
        m.clamp(self.lo, self.hi)
    }

    /// `max(|lo|, |hi|)`, the largest magnitude.
    pub fn mag(self) -> f64 {
        self.lo.abs().max(self.hi.abs())
    }

    /// The smallest magnitude (0 when the interval contains 0).
    pub fn mig(self) -> f64 {
        if self.contains(0.0) {
            0.0
        } else {
            self.lo.abs().min(self.hi.abs())
        }
    }

    /// True when `x ∈ [lo, hi]`.
    pub fn contains(self, x: f64) -> bool {
        self.lo <= x && x <= self.hi
    }

    /// True when `self ⊂ interior(other)`: `other.lo < lo` and `hi < other.hi`.
    pub fn interior_of(self, other: Interval) -> bool {
        other.lo < self.lo && self.hi < other.hi
    }

    /// The intersection, or `None` when the intervals are disjoint.
    pub fn intersect(self, other: Interval) -> Option<Interval> {
        Interval::new(self.lo.max(other.lo), self.hi.min(other.hi))
    }

    /// True when `self ⊂ other` (closed intervals: shared end points allowed).
    pub fn subset_of(self, other: Interval) -> bool {
        other.lo <= self.lo && self.hi <= other.hi
    }

    /// The smallest interval containing both.
    pub fn hull(self, other: Interval) -> Interval {
        Interval {
            lo: self.lo.min(other.lo),
            hi: self.hi.max(other.hi),
        }
    }

    /// True when the bounds are finite.
    pub fn is_bounded(self) -> bool {
        self.lo.is_finite() && self.hi.is_finite()
    }

    fn checked(lo: f64, hi: f64) -> Self {
        if lo.is_nan() || hi.is_nan() || lo > hi {
            Self::ENTIRE
        } else {
            Self { lo, hi }
        }
    }

    /// `x²`, tighter than `x * x` when the interval contains 0.
    pub fn sqr(self) -> Self {
        let (a, b) = (self.mig(), self.mag());
        Self::checked(down(a * a).max(0.0), up(b * b))
    }

    /// `|x|`.
    pub fn abs(self) -> Self {
        Self::checked(self.mig(), self.mag())
    }

    /// `xⁿ` for an integer `n` (`x⁰ = 1`; negative `n` is `1 / x^|n|`).
    pub fn powi(self, n: i32) -> Self {
        if n < 0 {
            // Through u32: |i32::MIN| does not fit an i32.
            return Self::point(1.0) / self.powu(n.unsigned_abs());
        }
        self.powu(n.unsigned_abs())
    }

    /// `xⁿ` for an unsigned `n`.
    fn powu(self, n: u32) -> Self {
        if n == 0 {
            return Self::point(1.0);
        }
        if n.is_multiple_of(2) {
            Self::checked(pow_down(self.mig(), n), pow_up(self.mag(), n))
        } else {
            // Odd powers are increasing: bound each endpoint in the right direction.
            let lo = if self.lo >= 0.0 {
                pow_down(self.lo, n)
            } else {
                -pow_up(-self.lo, n)
            };
            let hi = if self.hi >= 0.0 {
                pow_up(self.hi, n)
            } else {
                -pow_down(-self.hi, n)
            };
            Self::checked(lo, hi)
        }
    }

    /// The sign function (−1, 0 or 1). Over an interval that straddles 0 the function jumps,
    /// and nothing built on derivatives can hold there: the result is `ENTIRE`.
    pub fn sign(self) -> Self {
        if self.lo > 0.0 {
            Self::point(1.0)
        } else if self.hi < 0.0 {
            Self::point(-1.0)
        } else if self.lo == 0.0 && self.hi == 0.0 {
            Self::point(0.0)
        } else {
            Self::ENTIRE
        }
    }

    /// `√x`; `ENTIRE` when `lo < 0`.
    pub fn sqrt(self) -> Self {
        if self.lo < 0.0 {
            return Self::ENTIRE;
        }
        Self::checked(down(self.lo.sqrt()).max(0.0), up(self.hi.sqrt()))
    }

    /// `eˣ`.
    pub fn exp(self) -> Self {
        Self::checked(down2(self.lo.exp()).max(0.0), up2(self.hi.exp()))
    }

    /// `ln x`; `ENTIRE` when `lo ≤ 0`.
    pub fn ln(self) -> Self {
        if self.lo <= 0.0 {
            return Self::ENTIRE;
        }
        Self::checked(down2(self.lo.ln()), up2(self.hi.ln()))
    }

    /// `x^y = exp(y ln x)` for `x > 0`. Where the interval reaches 0 (`lo = 0`) and every
    /// exponent is positive, `x^y` is still defined and increasing in `x`, with `0^y = 0`:
    /// the result is `[0, hi^y]`. `ENTIRE` otherwise (`lo < 0`, or `lo = 0` with an exponent
    /// that may be ≤ 0, where `x^y` is undefined or unbounded).
    pub fn powf(self, y: Interval) -> Self {
        if self.lo > 0.0 {
            return (y * self.ln()).exp();
        }
        if self.lo == 0.0 && y.lo > 0.0 {
            if self.hi == 0.0 {
                return Self::point(0.0);
            }
            // 0 ≤ x^y ≤ hi^y for x ∈ [0, hi] and y > 0.
            let top = (y * Self::point(self.hi).ln()).exp();
            return Self::checked(0.0, top.hi);
        }
        // x^y is not defined for x < 0 with real y, nor bounded near 0 for y ≤ 0.
        Self::ENTIRE
    }

    /// `sin x`.
    pub fn sin(self) -> Self {
        // Maxima at π/2 + 2kπ, minima at −π/2 + 2kπ.
        trig(self, f64::sin, 0.25, -0.25)
    }

    /// `cos x`.
    pub fn cos(self) -> Self {
        // Maxima at 2kπ, minima at π + 2kπ.
        trig(self, f64::cos, 0.0, 0.5)
    }

    /// `tan x`; `ENTIRE` when the interval may contain a pole `π/2 + kπ`.
    pub fn tan(self) -> Self {
        if !self.is_bounded() || self.mag() > TRIG_LIMIT || may_contain(self, 0.25, 0.5) {
            return Self::ENTIRE;
        }
        Self::checked(down2(self.lo.tan()), up2(self.hi.tan()))
    }

    /// `atan x` (increasing, in `(−π/2, π/2)`).
    pub fn atan(self) -> Self {
        Self::checked(down2(self.lo.atan()), up2(self.hi.atan()))
    }

    /// `tanh x` (increasing, in `[−1, 1]`).
    pub fn tanh(self) -> Self {
        let h = LIBM_HYPERBOLIC_ULPS;
        Self::checked(
            down_by(self.lo.tanh(), h).max(-1.0),
            up_by(self.hi.tanh(), h).min(1.0),
        )
    }

    /// `sinh x` (increasing).
    pub fn sinh(self) -> Self {
        let h = LIBM_HYPERBOLIC_ULPS;
        Self::checked(down_by(self.lo.sinh(), h), up_by(self.hi.sinh(), h))
    }

    /// `cosh x` (even, minimum 1 at 0).
    pub fn cosh(self) -> Self {
        let h = LIBM_HYPERBOLIC_ULPS;
        Self::checked(
            down_by(self.mig().cosh(), h).max(1.0),
            up_by(self.mag().cosh(), h),
        )
    }
}

/// Beyond this magnitude `sin`/`cos` return `[−1, 1]` and `tan` returns `ENTIRE`: the
/// period test below is only trusted where `|x|/2π` has many exact fraction bits.
const TRIG_LIMIT: f64 = 1_048_576.0;

/// Whether `[lo, hi]` may contain a point `2π (k·step + offset)` for an integer `k`, decided
/// with a margin far larger than the rounding error of the test (so a "no" is certain).
fn may_contain_points(x: Interval, offset: f64, step: f64) -> bool {
    let two_pi = 2.0 * std::f64::consts::PI;
    let t_lo = x.lo / (two_pi * step) - offset / step;
    let t_hi = x.hi / (two_pi * step) - offset / step;
    let margin = 1e-9 * (1.0 + t_lo.abs().max(t_hi.abs()));
    (t_hi + margin).floor() >= (t_lo - margin).ceil()
}

fn may_contain(x: Interval, offset: f64, step: f64) -> bool {
    may_contain_points(x, offset, step)
}

fn trig(x: Interval, f: fn(f64) -> f64, max_at: f64, min_at: f64) -> Interval {
    if !x.is_bounded() || x.mag() > TRIG_LIMIT || x.width() >= 6.0 {
        return Interval { lo: -1.0, hi: 1.0 };
    }
    let (a, b) = (f(x.lo), f(x.hi));
    let mut lo = down2(a.min(b)).max(-1.0);
    let mut hi = up2(a.max(b)).min(1.0);
    if may_contain_points(x, max_at, 1.0) {
        hi = 1.0;
    }
    if may_contain_points(x, min_at, 1.0) {
        lo = -1.0;
    }
    Interval::checked(lo, hi)
}

/// `tⁿ` rounded down for `t ≥ 0` (binary powering, each product rounded down).
fn pow_down(t: f64, n: u32) -> f64 {
    pow_directed(t, n, down)
}

/// `tⁿ` rounded up for `t ≥ 0`.
fn pow_up(t: f64, n: u32) -> f64 {
    pow_directed(t, n, up)
}

fn pow_directed(t: f64, mut n: u32, round: fn(f64) -> f64) -> f64 {
    let mut base = t;
    let mut acc = 1.0;
    let mut exact_acc = true;
    while n > 0 {
        if n & 1 == 1 {
            acc = if exact_acc {
                base
            } else {
                round(acc * base).max(0.0)
            };
            exact_acc = false;
        }
        n >>= 1;
        if n > 0 {
            base = round(base * base).max(0.0);
        }
    }
    acc
}

impl From<f64> for Interval {
    fn from(x: f64) -> Self {
        Interval::point(x)
    }
}

impl Neg for Interval {
    type Output = Interval;
    fn neg(self) -> Interval {
        Interval {
            lo: -self.hi,
            hi: -self.lo,
        }
    }
}

impl Add for Interval {
    type Output = Interval;
    fn add(self, o: Interval) -> Interval {
        Interval::checked(down(self.lo + o.lo), up(self.hi + o.hi))
    }
}

impl Sub for Interval {
    type Output = Interval;
    fn sub(self, o: Interval) -> Interval {
        Interval::checked(down(self.lo - o.hi), up(self.hi - o.lo))
    }
}

impl Mul for Interval {
    type Output = Interval;
    fn mul(self, o: Interval) -> Interval {
        let p = [
            self.lo * o.lo,
            self.lo * o.hi,
            self.hi * o.lo,
            self.hi * o.hi,
        ];
        if p.iter().any(|x| x.is_nan()) {
            // 0 × ∞: only possible with unbounded operands.
            return Interval::ENTIRE;
        }
        let lo = p.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = p.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Interval::checked(down(lo), up(hi))
    }
}

impl Div for Interval {
    type Output = Interval;
    fn div(self, o: Interval) -> Interval {
        if o.contains(0.0) {
            return Interval::ENTIRE;
        }
        let q = [
            self.lo / o.lo,
            self.lo / o.hi,
            self.hi / o.lo,
            self.hi / o.hi,
        ];
        if q.iter().any(|x| x.is_nan()) {
            return Interval::ENTIRE;
        }
        let lo = q.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = q.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Interval::checked(down(lo), up(hi))
    }
}

macro_rules! scalar_ops {
    ($($tr:ident $m:ident),*) => {$(
        impl $tr<f64> for Interval {
            type Output = Interval;
            fn $m(self, o: f64) -> Interval {
                self.$m(Interval::point(o))
            }
        }
        impl $tr<Interval> for f64 {
            type Output = Interval;
            fn $m(self, o: Interval) -> Interval {
                Interval::point(self).$m(o)
            }
        }
    )*};
}

scalar_ops!(Add add, Sub sub, Mul mul, Div div);

#[cfg(test)]
mod tests {
    use super::*;

    fn iv(lo: f64, hi: f64) -> Interval {
        Interval::new(lo, hi).unwrap()
    }

    /// Checks that `f` applied to many points of `x` lands inside `enc(x)`.
    fn encloses(x: Interval, enc: fn(Interval) -> Interval, f: fn(f64) -> f64) {
        let y = enc(x);
        for k in 0..=200 {
            let t = (x.lo + (x.hi - x.lo) * k as f64 / 200.0).min(x.hi);
            let v = f(t);
            assert!(y.contains(v), "{x:?}: f({t}) = {v} not in {y:?}");
        }
    }

    #[test]
    fn arithmetic_rounds_outward() {
        let third = Interval::point(1.0) / Interval::point(3.0);
        assert!(third.lo < 1.0 / 3.0 && 1.0 / 3.0 < third.hi);
        assert!(third.width() < 1e-15);
        let s = Interval::point(0.1) + Interval::point(0.2);
        // The exact sum of the floats 0.1 and 0.2 is 0.3000000000000000166…, strictly inside.
        assert!(s.lo < 0.1 + 0.2 && s.hi > 0.1 + 0.2 && s.width() < 3e-16);
        let p = iv(-2.0, 3.0) * iv(-5.0, 4.0);
        assert!(p.lo <= -15.0 && p.hi >= 12.0 && p.lo > -15.0001 && p.hi < 12.0001);
        assert_eq!(iv(1.0, 2.0) / iv(-1.0, 1.0), Interval::ENTIRE);
        assert_eq!(iv(-1.0, 2.0).sqr().lo, 0.0);
        assert!(iv(-1.0, 2.0).sqr().hi >= 4.0);
        let d = iv(1.0, 2.0) - iv(1.0, 2.0);
        assert!(d.lo <= -1.0 && d.hi >= 1.0);
    }

    #[test]
    fn tanh_encloses_where_glibc_is_two_ulps_off() {
        // Exact value (mpmath, 200 bits): tanh(-0.2301529383949013) = -0.22617347221435324133…
        // The exact value lies strictly between the adjacent doubles
        // -0.22617347221435324 (below it by 2.6e-18) and -0.22617347221435322.
        let t = Interval::point(-0.2301529383949013).tanh();
        assert!(
            t.lo <= -0.22617347221435324 && t.hi >= -0.22617347221435322,
            "{t:?} misses -0.22617347221435324133"
        );
        assert_eq!(
            Interval::new(-1.0, 1.0).unwrap().powf(Interval::point(0.5)),
            Interval::ENTIRE
        );
    }

    #[test]
    fn powi_extreme_exponent_terminates() {
        let x = iv(2.0, 3.0).powi(i32::MIN);
        // 2^-2147483648 underflows: an enclosure of a tiny positive number, rounded outward.
        assert!(
            x.lo <= 0.0 && x.lo > -1e-300 && x.hi > 0.0 && x.hi < 1e-300,
            "{x:?}"
        );
        assert_eq!(iv(-1.0, 2.0).sign(), Interval::ENTIRE);
        assert_eq!(iv(0.5, 2.0).sign(), Interval::point(1.0));
    }

    #[test]
    fn powi_even_odd_negative() {
        let c = iv(-2.0, 1.0).powi(3);
        assert!(c.lo <= -8.0 && c.lo > -8.001 && c.hi >= 1.0 && c.hi < 1.001);
        let e = iv(-2.0, 1.0).powi(4);
        assert!(e.lo == 0.0 && e.hi >= 16.0 && e.hi < 16.001);
        let inv = iv(2.0, 4.0).powi(-2);
        assert!(inv.contains(0.25) && inv.contains(1.0 / 16.0) && inv.hi < 0.2501);
        assert_eq!(iv(-1.0, 1.0).powi(-1), Interval::ENTIRE);
        let x = Interval::point(1.1);
        assert!(x.powi(7).contains(1.1f64.powi(7)) || x.powi(7).width() < 1e-14);
    }

    #[test]
    fn trig_handles_extrema_inside() {
        // [1, 2] contains π/2: the upper bound of sin must be exactly 1.
        let s = iv(1.0, 2.0).sin();
        assert_eq!(s.hi, 1.0);
        assert!(s.lo <= 2.0f64.sin().min(1.0f64.sin()));
        // [3, 3.5] contains π: cos reaches −1.
        assert_eq!(iv(3.0, 3.5).cos().lo, -1.0);
        // [0.1, 0.2]: monotone, tight.
        let t = iv(0.1, 0.2).sin();
        assert!(t.lo < 0.1f64.sin() && t.hi > 0.2f64.sin() && t.width() < 0.1);
        assert!(t.hi < 0.2f64.sin() + 1e-15);
        assert_eq!(iv(0.0, 7.0).cos(), iv(-1.0, 1.0));
        for x in [
            iv(-0.3, 0.4),
            iv(4.0, 5.5),
            iv(-10.0, -8.1),
            iv(100.0, 100.5),
        ] {
            encloses(x, Interval::sin, f64::sin);
            encloses(x, Interval::cos, f64::cos);
        }
        assert_eq!(iv(1.0, 2.0).tan(), Interval::ENTIRE);
        encloses(iv(-1.0, 1.2), Interval::tan, f64::tan);
    }

    #[test]
    fn monotone_functions_enclose() {
        encloses(iv(-3.0, 2.0), Interval::exp, f64::exp);
        encloses(iv(0.5, 9.0), Interval::ln, f64::ln);
        encloses(iv(0.0, 9.0), Interval::sqrt, f64::sqrt);
        encloses(iv(-3.0, 2.0), Interval::tanh, f64::tanh);
        encloses(iv(-3.0, 2.0), Interval::sinh, f64::sinh);
        encloses(iv(-3.0, 2.0), Interval::cosh, f64::cosh);
        encloses(iv(-3.0, 2.0), Interval::atan, f64::atan);
        encloses(iv(-3.0, 2.0), Interval::abs, f64::abs);
        assert_eq!(iv(-1.0, 2.0).ln(), Interval::ENTIRE);
        assert_eq!(iv(-1.0, 2.0).sqrt(), Interval::ENTIRE);
        let p = iv(2.0, 3.0).powf(Interval::point(0.5));
        assert!(p.contains(2f64.sqrt()) && p.contains(3f64.sqrt()) && p.width() < 0.33);
        assert_eq!(
            iv(-2.0, -1.0).cosh().lo,
            down_by(1.0f64.cosh(), LIBM_HYPERBOLIC_ULPS)
        );
        assert!(iv(-2.0, 1.0).cosh().lo == 1.0);
    }

    #[test]
    fn functions_outside_their_domain_are_entire() {
        // Reaching a point where the function (or the next derivative rule) is undefined or
        // unbounded gives ENTIRE, never a finite interval that could be wrong.
        for x in [iv(-1e-300, 1.0), iv(-3.0, -1.0), iv(0.0, 1.0)] {
            assert_eq!(x.ln(), Interval::ENTIRE, "ln {x:?}");
            assert_eq!(
                x.powf(Interval::point(-0.5)),
                Interval::ENTIRE,
                "{x:?}^-0.5"
            );
        }
        for x in [iv(-1e-300, 1.0), iv(-3.0, 0.0), iv(0.0, 1.0)] {
            assert_eq!(Interval::point(1.0) / x, Interval::ENTIRE, "1/{x:?}");
            assert_eq!(x.powi(-1), Interval::ENTIRE, "{x:?}^-1");
            assert_eq!(x.powi(-2), Interval::ENTIRE, "{x:?}^-2");
        }
        for x in [iv(-1e-300, 1.0), iv(-3.0, -1.0)] {
            assert_eq!(x.sqrt(), Interval::ENTIRE, "sqrt {x:?}");
            assert_eq!(x.powf(Interval::point(0.5)), Interval::ENTIRE, "{x:?}^0.5");
        }
        // Where 0 is in the domain the enclosures stay finite and contain the values.
        let r = iv(0.0, 4.0).sqrt();
        assert!(r.lo() == 0.0 && r.hi() >= 2.0 && r.hi() < 2.0 + 1e-15);
        let p = iv(0.0, 4.0).powf(Interval::point(1.5));
        assert!(
            p.lo() == 0.0 && p.hi() >= 8.0 && p.hi() < 8.0 + 1e-12,
            "{p:?}"
        );
        assert_eq!(
            iv(0.0, 0.0).powf(Interval::point(0.2)),
            Interval::point(0.0)
        );
        assert_eq!(
            iv(0.0, 4.0).powf(Interval::new(-0.1, 0.5).unwrap()),
            Interval::ENTIRE
        );
        encloses(
            iv(0.0, 3.0),
            |x| x.powf(Interval::point(0.3)),
            |x| x.powf(0.3),
        );
    }

    #[test]
    fn nan_and_infinite_never_leak() {
        assert_eq!(Interval::point(f64::NAN), Interval::ENTIRE);
        assert!(Interval::new(2.0, 1.0).is_none());
        assert_eq!(Interval::ENTIRE * Interval::point(0.0), Interval::ENTIRE);
        assert_eq!(Interval::ENTIRE - Interval::ENTIRE, Interval::ENTIRE);
    }

    /// Where a function's domain ends inside the argument, or a value overflows, the result
    /// is unbounded (or `ENTIRE`), never a finite interval that misses values.
    #[test]
    fn domain_ends_and_overflow_never_give_finite_wrong_enclosures() {
        let entire = Interval::ENTIRE;
        // sqrt: a signed-zero lower end is the domain's end, not outside it.
        let r = iv(-0.0, 4.0).sqrt();
        assert!(r.lo == 0.0 && r.hi >= 2.0 && r.hi < 2.000_001, "{r:?}");
        assert_eq!(iv(-1e-300, 4.0).sqrt(), entire);
        // ln at 0 (either sign): the range is unbounded below.
        assert_eq!(iv(0.0, 1.0).ln(), entire);
        assert_eq!(iv(-0.0, 1.0).ln(), entire);
        // ln at the smallest subnormal: finite and enclosing ln(2^-1074) = -744.440…
        let l = iv(f64::from_bits(1), 1.0).ln();
        assert!(
            l.lo <= -744.440_071_921_381 && l.lo > -744.5 && l.hi >= 0.0,
            "{l:?}"
        );
        // Division by an interval touching 0 from either side, or the point 0.
        assert_eq!(iv(1.0, 2.0) / iv(0.0, 1.0), entire);
        assert_eq!(iv(1.0, 2.0) / iv(-1.0, -0.0), entire);
        assert_eq!(iv(0.0, 0.0) / iv(-0.0, 0.0), entire);
        // By a tiny positive interval: unbounded above, not NaN.
        let q = iv(1.0, 2.0) / iv(f64::from_bits(1), 1.0);
        assert!(q.lo <= 1.0 && q.lo > 0.99 && q.hi == f64::INFINITY, "{q:?}");
        // Negative integer and real powers at 0.
        assert_eq!(iv(0.0, 1.0).powi(-2), entire);
        assert_eq!(iv(-1.0, -0.0).powi(-3), entire);
        // x^0.5 is defined and increasing at 0: [0, 1] (rounded outward), not ENTIRE.
        let r = iv(0.0, 1.0).powf(Interval::point(0.5));
        assert!(r.lo == 0.0 && (1.0..1.0 + 1e-12).contains(&r.hi), "{r:?}");
        assert_eq!(iv(0.0, 1.0).powf(Interval::point(-0.5)), entire);
        // Overflow rounds outward to infinity.
        let e = iv(700.0, 710.0).exp();
        assert!(e.lo > 1e304 && e.lo <= 700f64.exp() && e.hi == f64::INFINITY);
        let s = Interval::point(f64::MAX) + Interval::point(f64::MAX);
        assert_eq!((s.lo, s.hi), (f64::MAX, f64::INFINITY));
        let p = Interval::point(1e200) * Interval::point(-1e200);
        assert_eq!((p.lo, p.hi), (f64::NEG_INFINITY, f64::MIN));
        let c = iv(-1e200, 1e200).powi(3);
        assert_eq!((c.lo, c.hi), (f64::NEG_INFINITY, f64::INFINITY));
        let sq = iv(-1e200, 3.0).sqr();
        assert_eq!((sq.lo, sq.hi), (0.0, f64::INFINITY));
        // tan at the double nearest π/2 (below it, tan ≈ 1.6e16): the pole test keeps a
        // margin, so the pole counts as possibly inside.
        assert_eq!(Interval::point(std::f64::consts::FRAC_PI_2).tan(), entire);
        encloses(iv(1.0, 1.5), Interval::tan, f64::tan);
        // Odd powers keep their sign through the endpoints' directed rounding.
        let o = iv(-1.1, -0.9).powi(5);
        assert!(o.hi < 0.0 && o.contains((-1.1f64).powi(5)) && o.contains((-0.9f64).powi(5)));
    }

    #[test]
    fn intersection_and_subset() {
        assert_eq!(iv(0.0, 2.0).intersect(iv(1.0, 3.0)), Some(iv(1.0, 2.0)));
        assert_eq!(iv(0.0, 1.0).intersect(iv(1.0, 3.0)), Some(iv(1.0, 1.0)));
        assert_eq!(iv(0.0, 1.0).intersect(iv(1.5, 3.0)), None);
        assert!(iv(0.0, 1.0).subset_of(iv(0.0, 1.0)));
        assert!(!iv(0.0, 1.0).subset_of(iv(0.1, 1.0)));
        assert!(iv(0.5, 0.5).subset_of(Interval::ENTIRE));
    }

    #[test]
    fn interior_test_is_strict() {
        assert!(iv(0.0, 1.0).interior_of(iv(-0.1, 1.1)));
        assert!(!iv(0.0, 1.0).interior_of(iv(0.0, 1.1)));
    }
}
