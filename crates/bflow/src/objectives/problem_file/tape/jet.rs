//! Forward mode for small n: one sweep carries, per slot, its value, its gradient (an
//! `[f64; N]`) and, on request, its Hessian (`[[f64; N]; N]`). Every objective's gradient
//! (and Hessian) is then read off its root, so K objectives cost one sweep with one
//! dispatch per instruction, and with n a compile-time constant the per-slot loops unroll:
//! for the n = 2–6 of maps this beats a forward sweep plus K reverse sweeps (measured:
//! `benches/tape.rs`, docs/DESIGN.md).
//!
//! The rules, with `g` gradients and `H` Hessians of the operands:
//!
//! ```text
//! a ± b : g_a ± g_b,                 H_a ± H_b
//! a × b : b g_a + a g_b,             b H_a + a H_b + g_a g_bᵀ + g_b g_aᵀ
//! a ÷ b : g_c = (g_a − c g_b)/b,     H_c = (H_a − c H_b − g_c g_bᵀ − g_b g_cᵀ)/b
//! f(a)  : f′ g_a,                    f′ H_a + f″ g_a g_aᵀ
//! ```
//!
//! (the quotient rule from differentiating `c b = a` twice). Only the upper triangle of each
//! Hessian is formed and stored (`T = N(N+1)/2` entries, row by row: [`upper_pairs`]); the
//! lower one is its mirror image, which is what forming it in full gave, each entry of the
//! full matrix being the same expression as its mirror's with the factors of its products and
//! the terms of its sums swapped (IEEE multiplication and addition commute). For n = 3 that is
//! 6 entries instead of 9 per slot and instruction, for n = 6 21 instead of 36.

use std::array::from_fn;

use super::compile::{Constant, Op};
use super::sweep::{call, powf, powi};
use crate::objectives::expr::Func;

/// A gradient.
type Grad<const N: usize> = [f64; N];

/// `v · 0`: 0 for a finite `v`, NaN for an infinite or NaN one. Summed over a sweep, it
/// tells whether every value was finite without a branch per value.
#[inline(always)]
fn mark(v: f64) -> f64 {
    v * 0.0
}
/// A Hessian's upper triangle, row by row (`T = N(N+1)/2`; see [`upper_pairs`]).
type Hess<const T: usize> = [f64; T];

/// The `(p, q)`, `p ≤ q`, of each entry of a packed upper triangle of an `N × N` matrix, row
/// by row: `(0, 0), (0, 1), …, (0, N−1), (1, 1), …, (N−1, N−1)`; `T` must be `N(N+1)/2`.
pub(crate) const fn upper_pairs<const N: usize, const T: usize>() -> [(usize, usize); T] {
    let mut pairs = [(0, 0); T];
    let (mut p, mut t) = (0, 0);
    while p < N {
        let mut q = p;
        while q < N {
            pairs[t] = (p, q);
            t += 1;
            q += 1;
        }
        p += 1;
    }
    pairs
}

/// The position of entry `(p, q)` (either order) of a symmetric `N × N` matrix in its packed
/// upper triangle ([`upper_pairs`]; `T = N(N+1)/2`).
pub(crate) const fn packed_positions<const N: usize, const T: usize>() -> [[usize; N]; N] {
    let pairs = upper_pairs::<N, T>();
    let mut out = [[0; N]; N];
    let mut t = 0;
    while t < T {
        let (p, q) = pairs[t];
        out[p][q] = t;
        out[q][p] = t;
        t += 1;
    }
    out
}

/// A function of one slot, flattened so that evaluating it takes one dispatch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Un {
    /// `v ↦ v·m + a`: `a + c` is `v·1 + c`, `c·v` is `v·c + (−0)`, `c − v` is `v·(−1) + c`,
    /// `−v` is `v·(−1) + (−0)` — each the same IEEE result as the instruction it stands for
    /// (a product by 1 or −1 is exact, adding −0 changes nothing, and `c − v = c + (−v)`),
    /// up to the sign bit of a NaN, which IEEE 754 leaves open.
    Affine { m: f64, a: f64 },
    /// `v ÷ c`.
    DivConst(f64),
    /// `c ÷ v`.
    ConstDiv(f64),
    /// `v²` (`v·v`, which is what `powi(v, 2)` computes).
    Square,
    /// `vⁿ`.
    PowI(i32),
    /// `vᵖ`.
    PowF(f64),
    /// `f(v)`.
    Call(Func),
}

impl Un {
    /// The operand and the function of a unary tape instruction; `None` for the others.
    fn of(op: Op) -> Option<(u32, Un)> {
        Some(match op {
            Op::AddConst(a, c) => (a, Un::Affine { m: 1.0, a: c }),
            Op::MulConst(a, c) => (a, Un::Affine { m: c, a: -0.0 }),
            Op::ConstSub(c, a) => (a, Un::Affine { m: -1.0, a: c }),
            Op::Neg(a) => (a, Un::Affine { m: -1.0, a: -0.0 }),
            Op::DivConst(a, c) => (a, Un::DivConst(c)),
            Op::ConstDiv(c, a) => (a, Un::ConstDiv(c)),
            Op::PowI(a, 2) => (a, Un::Square),
            Op::PowI(a, n) => (a, Un::PowI(n)),
            Op::PowF(a, p) => (a, Un::PowF(p)),
            Op::Call(f, a) => (a, Un::Call(f)),
            _ => return None,
        })
    }

    fn is_affine(self) -> bool {
        matches!(self, Un::Affine { .. })
    }

    /// The value at `x`, the first and (when `SECOND`) second derivative.
    #[inline(always)]
    fn eval<const SECOND: bool>(self, x: f64) -> (f64, f64, f64) {
        match self {
            Un::Affine { m, a } => (x * m + a, m, 0.0),
            Un::DivConst(c) => (x / c, 1.0 / c, 0.0),
            Un::ConstDiv(c) => {
                let v = c / x;
                let g = -(v / x);
                (v, g, if SECOND { -(2.0 * g / x) } else { 0.0 })
            }
            Un::Square => (x * x, 2.0 * x, 2.0),
            Un::PowI(n) => powi::<f64, SECOND>(x, n),
            Un::PowF(p) => powf::<f64, SECOND>(x, p),
            // One arm per function, each with its function known.
            Un::Call(Func::Sin) => call::<f64, SECOND>(Func::Sin, x),
            Un::Call(Func::Cos) => call::<f64, SECOND>(Func::Cos, x),
            Un::Call(Func::Tan) => call::<f64, SECOND>(Func::Tan, x),
            Un::Call(Func::Exp) => call::<f64, SECOND>(Func::Exp, x),
            Un::Call(Func::Ln) => call::<f64, SECOND>(Func::Ln, x),
            Un::Call(Func::Sqrt) => call::<f64, SECOND>(Func::Sqrt, x),
            Un::Call(Func::Abs) => call::<f64, SECOND>(Func::Abs, x),
            Un::Call(Func::Sign) => call::<f64, SECOND>(Func::Sign, x),
            Un::Call(Func::Tanh) => call::<f64, SECOND>(Func::Tanh, x),
            Un::Call(Func::Sinh) => call::<f64, SECOND>(Func::Sinh, x),
            Un::Call(Func::Cosh) => call::<f64, SECOND>(Func::Cosh, x),
            Un::Call(Func::Atan) => call::<f64, SECOND>(Func::Atan, x),
        }
    }
}

/// The affine steps around a shaped chain's function, and its input and output slots.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Shape {
    a: u32,
    pre: [(f64, f64); 2],
    post: [(f64, f64); 2],
    out: u32,
}

/// One instruction of the forward-mode program: the tape's instructions with the slot they
/// write spelled out, unary ones flattened ([`Un`]), and chains fused.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum JetOp {
    /// Constant `i` of the tape.
    Const { out: u32, i: u32 },
    /// `a + b`.
    Add { out: u32, a: u32, b: u32 },
    /// `a − b`.
    Sub { out: u32, a: u32, b: u32 },
    /// `a × b`.
    Mul { out: u32, a: u32, b: u32 },
    /// `a ÷ b`.
    Div { out: u32, a: u32, b: u32 },
    /// `u(a)`.
    Unary { out: u32, a: u32, u: Un },
    /// A chain of single-use unary instructions from slot `a`, evaluated in registers:
    /// `steps[first..first + len]` in order; only the chain's end is stored, with its
    /// gradient (and Hessian) by the chain rule on the composed function — one dispatch, one
    /// gradient update and one memory round trip for the whole chain. (The values on the
    /// way count for the domain rule through the sweep's finiteness check.)
    Chain { a: u32, first: u32, len: u32 },
    /// A chain of the common shape `affine ≤2, one other function, affine ≤2`, padded to
    /// exactly two affine steps on each side with the identity `v·1 + (−0)` (exact), so that
    /// it runs as straight-line code: no loop, one more dispatch (for `u`).
    Shaped { shape: Shape, u: Un },
    /// [`Shaped`](JetOp::Shaped) with `u` one of the commonest functions, spelt in the
    /// variant so that the sweep dispatches once, not twice.
    ShapedSquare(Shape),
    /// As above, `sin`.
    ShapedSin(Shape),
    /// As above, `cos`.
    ShapedCos(Shape),
    /// As above, `exp`.
    ShapedExp(Shape),
    /// `((t₁ ± t₂) ± t₃) ± …` over `terms[first..first + len]` (each a [`Term`] with a sign
    /// ±1; the first is +1): the left spine of a tree of single-use `+` and `−`, summed left
    /// to right exactly as the tree sums it (`s + (−1)·t` is `s − t` in IEEE arithmetic), in
    /// one dispatch. (A lone `a ± b` is one too when a term is [`Term::OfVariable`].) Then
    /// the shaped steps `steps_after[then..then + then_len]` in order, each on the last one's
    /// jet as [`Shaped`](JetOp::Shaped) computes it, held in registers; `out` is the slot of
    /// the last.
    Sum {
        out: u32,
        first: u32,
        len: u32,
        then: u32,
        then_len: u32,
    },
    /// Alike sums side by side ([`LaneSums`] `lanes[group]`): two or four
    /// [`Sum`](JetOp::Sum)s of the same level (so independent of each other) whose terms
    /// are [`Term::SquareOfVariable`]s of the same variables in the same order, with as many
    /// shaped steps after them — the Gaussian wells of a potential, say. Each lane performs
    /// its sum's operations in the same order, so the same bits; side by side the arithmetic
    /// runs across lanes (and vectorises) and the sweep dispatches once for them all. Only in
    /// the whole-program schedule ([`JetProgram::full`]); cone sweeps run the sums alone.
    SumLanes { group: u32 },
}

/// The most sums a [`JetOp::SumLanes`] runs side by side.
pub(crate) const LANES: usize = 4;

/// A term of the sums of a [`JetOp::SumLanes`], lane by lane: `(θ_j·m + c)²` times the
/// sign, `d2 = (2m)·m` ([`Term::SquareOfVariable`]); the slot `a` of `θ_j` is every lane's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct LaneTerm {
    a: u32,
    j: u32,
    m: [f64; LANES],
    c: [f64; LANES],
    d2: [f64; LANES],
    sign: [f64; LANES],
}

/// A shaped step after the sums of a [`JetOp::SumLanes`], lane by lane: the affine steps
/// `(v·m₁ + a₁)·m₂ + a₂` before the function and `(v·m₃ + a₃)·m₄ + a₄` after it ([`Shape`]'s
/// `pre` and `post`), their slopes `m₁·m₂` and `m₃·m₄` (the products [`shaped_scalar`]
/// forms), and the function.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct LaneStep {
    m: [[f64; LANES]; 4],
    a: [[f64; LANES]; 4],
    pre_d: [f64; LANES],
    post_d: [f64; LANES],
    u: LaneFunction,
}

/// The function of a [`LaneStep`]: one every lane shares the kind of, or one per lane.
#[derive(Debug, Clone, Copy, PartialEq)]
enum LaneFunction {
    /// `v ÷ c`, with `1 ÷ c` (what [`Un::eval`] gives as the derivative).
    DivConst {
        c: [f64; LANES],
        inverse: [f64; LANES],
    },
    /// `exp`.
    Exp,
    /// Any other, lane by lane.
    Each([Un; LANES]),
}

/// The sums of one [`JetOp::SumLanes`]: how many (`lanes`, 2 to [`LANES`]), the slot each
/// writes, and their terms and steps (`terms[first..first + len]`,
/// `steps[then..then + then_len]` of [`JetProgram`]'s lane tables).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct LaneSums {
    lanes: u32,
    out: [u32; LANES],
    first: u32,
    len: u32,
    then: u32,
    then_len: u32,
}

/// A term of a [`JetOp::Sum`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Term {
    /// A slot's jet, times the sign.
    Slot(u32, f64),
    /// A shaped function of one variable, `post(u(pre(θ_j)))` (`shape.a` the slot of `θ_j`),
    /// times the sign, computed in place instead of as an instruction of its own: its
    /// gradient is `d₁ e_j` and its Hessian `d₂ e_j e_jᵀ` (the operand's gradient is `e_j`,
    /// its Hessian 0), so the sum adds one entry of each, not a whole jet from memory —
    /// `(x − a)² + (y − b)² + …` is one instruction. The entries it adds are those the
    /// instruction's jet added (`d₁·1`, `d₁·0 + d₂·(1·1)` are `d₁` and `d₂` exactly); the
    /// others it leaves, where that jet added `±0` (the same numbers, up to the sign of a
    /// zero) or, when `d₁` or `d₂` is not finite, a NaN (the entry it adds is then not
    /// finite either, so the sweep's result is non-finite all the same).
    OfVariable {
        shape: Shape,
        u: Un,
        j: u32,
        sign: f64,
    },
    /// The commonest [`OfVariable`](Term::OfVariable), `(θ_j·m + c)²` (a square of one
    /// affine step of a variable, nothing after it: `(x − a)²`), with its arithmetic
    /// written out: `y = θ_j·m + c`, value `y·y`, `d₁ = (2y)·m`, `d₂ = (2m)·m` (kept in
    /// `d2`). Those are the operations the shaped term performs once its identity steps
    /// `v·1 + (−0)` (exact) are dropped, in the same order, so the same numbers.
    SquareOfVariable {
        a: u32,
        m: f64,
        c: f64,
        d2: f64,
        j: u32,
        sign: f64,
    },
}

/// Whether an affine step is the identity `v·1 + (−0)` (bit for bit: `v + 0` is not, it
/// turns −0 into +0).
pub(crate) fn is_identity((m, a): (f64, f64)) -> bool {
    m.to_bits() == 1f64.to_bits() && a.to_bits() == (-0f64).to_bits()
}

impl Term {
    /// The term, made a [`SquareOfVariable`](Term::SquareOfVariable) when it is a term of
    /// one variable of that form.
    pub(crate) fn squared(self) -> Term {
        let Term::OfVariable { shape, u, j, sign } = self else {
            return self;
        };
        let [first, second] = shape.pre;
        let step = match (is_identity(first), is_identity(second)) {
            (true, _) => Some(second),
            (false, true) => Some(first),
            (false, false) => None,
        };
        match step {
            Some((m, c)) if u == Un::Square && shape.post.iter().all(|&p| is_identity(p)) => {
                Term::SquareOfVariable {
                    a: shape.a,
                    m,
                    c,
                    d2: (2.0 * m) * m,
                    j,
                    sign,
                }
            }
            _ => Term::OfVariable { shape, u, j, sign },
        }
    }

    /// The slot it reads.
    fn input(self) -> u32 {
        match self {
            Term::Slot(a, _) => a,
            Term::OfVariable { shape, .. } => shape.a,
            Term::SquareOfVariable { a, .. } => a,
        }
    }
}

impl JetOp {
    /// A shaped instruction's shape and function.
    fn shaped(self) -> Option<(Shape, Un)> {
        Some(match self {
            JetOp::Shaped { shape, u } => (shape, u),
            JetOp::ShapedSquare(shape) => (shape, Un::Square),
            JetOp::ShapedSin(shape) => (shape, Un::Call(Func::Sin)),
            JetOp::ShapedCos(shape) => (shape, Un::Call(Func::Cos)),
            JetOp::ShapedExp(shape) => (shape, Un::Call(Func::Exp)),
            _ => return None,
        })
    }

    /// The slots it reads (0, 1 or 2).
    fn inputs(self) -> ([u32; 2], usize) {
        match self {
            JetOp::Const { .. } => ([0, 0], 0),
            JetOp::Unary { a, .. } | JetOp::Chain { a, .. } => ([a, 0], 1),
            JetOp::Shaped { shape, .. }
            | JetOp::ShapedSquare(shape)
            | JetOp::ShapedSin(shape)
            | JetOp::ShapedCos(shape)
            | JetOp::ShapedExp(shape) => ([shape.a, 0], 1),
            // A sum's terms are listed apart (see `JetProgram::level_of`).
            JetOp::Sum { .. } | JetOp::SumLanes { .. } => ([0, 0], 0),
            JetOp::Add { a, b, .. }
            | JetOp::Sub { a, b, .. }
            | JetOp::Mul { a, b, .. }
            | JetOp::Div { a, b, .. } => ([a, b], 2),
        }
    }
}

/// The forward-mode program of a tape, and per objective the program positions of its cone.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct JetProgram {
    pub(crate) ops: Vec<JetOp>,
    /// Chain steps: the slot written and the function.
    steps: Vec<(u32, Un)>,
    /// Sum terms.
    terms: Vec<Term>,
    /// The shaped steps after sums.
    steps_after: Vec<(Shape, Un)>,
    /// The `θ_j` slots `(slot, j)`, seeded before each sweep; per objective, those in its
    /// cone.
    pub(crate) vars: Vec<(u32, u32)>,
    pub(crate) cone_vars: Vec<Vec<(u32, u32)>>,
    pub(crate) cones: Vec<Vec<u32>>,
    /// The whole-program schedule: `ops` with alike sums run side by side
    /// ([`JetOp::SumLanes`]); a sweep over every objective runs it, one over a cone runs
    /// `ops`.
    pub(crate) full: Vec<JetOp>,
    /// The groups of [`JetOp::SumLanes`], and their terms and steps.
    lanes: Vec<LaneSums>,
    lane_terms: Vec<LaneTerm>,
    lane_steps: Vec<LaneStep>,
}

impl JetProgram {
    /// Translates the tape, fusing every maximal run of unary instructions in which each
    /// but the last has one use (its successor) and at most one is not affine (with affine
    /// operands used only by unary instructions recomputed at the head of each chain), then
    /// schedules the result by level.
    pub(crate) fn new(ops: &[Op], roots: &[u32], cones: &[Vec<u32>]) -> Self {
        Self::build(ops, roots, cones, true)
    }

    /// As [`new`](Self::new) with every term of one variable left a general
    /// [`Term::OfVariable`] (no [`Term::SquareOfVariable`]), to compare sweeps.
    #[cfg(test)]
    pub(crate) fn without_square_terms(ops: &[Op], roots: &[u32], cones: &[Vec<u32>]) -> Self {
        Self::build(ops, roots, cones, false)
    }

    /// How many [`Term::SquareOfVariable`] the program holds.
    #[cfg(test)]
    pub(crate) fn square_terms(&self) -> usize {
        let square = |t: &&Term| matches!(t, Term::SquareOfVariable { .. });
        self.terms.iter().filter(square).count()
    }

    /// [`new`](Self::new); `squares` says whether squares of one affine step of a variable
    /// become [`Term::SquareOfVariable`].
    fn build(ops: &[Op], roots: &[u32], cones: &[Vec<u32>], squares: bool) -> Self {
        let len = ops.len();
        let mut uses = vec![0u32; len];
        let mut consumer = vec![u32::MAX; len];
        for (k, op) in ops.iter().enumerate() {
            let (operands, count) = op.operands();
            for &a in &operands[..count] {
                uses[a as usize] += 1;
                consumer[a as usize] = k as u32;
            }
        }
        let mut is_root = vec![false; len];
        for &r in roots {
            uses[r as usize] += 1;
            is_root[r as usize] = true;
        }
        // An affine instruction with several uses, all by unary instructions, is recomputed
        // at the head of each of their chains (one multiply-add, the same value each time) instead
        // of taking a program step and a gradient of its own.
        let mut unary_uses_only = vec![true; len];
        for op in ops {
            if Un::of(*op).is_none() {
                let (operands, count) = op.operands();
                for &a in &operands[..count] {
                    unary_uses_only[a as usize] = false;
                }
            }
        }
        let remat: Vec<bool> = (0..len)
            .map(|k| {
                unary_uses_only[k]
                    && !is_root[k]
                    && uses[k] > 1
                    && Un::of(ops[k]).is_some_and(|(_, u)| u.is_affine())
            })
            .collect();
        let mut absorbed = remat.clone();
        // Inner nodes of sum spines: a `+`/`−` whose one use is as the left operand of a
        // `+`/`−` is summed by that one's `Sum`.
        let is_sum = |op: Op| matches!(op, Op::Add(..) | Op::Sub(..));
        for (k, &op) in ops.iter().enumerate() {
            if let Op::Add(a, b) | Op::Sub(a, b) = op {
                let a = a as usize;
                if a != b as usize && is_sum(ops[a]) && uses[a] == 1 && !is_root[a] {
                    absorbed[a] = true;
                    // (k is a's consumer; recorded below through `consumer`.)
                    debug_assert_eq!(consumer[a] as usize, k);
                }
            }
        }
        let mut terms: Vec<Term> = Vec::new();
        let mut vars: Vec<(u32, u32)> = Vec::new();
        let mut program: Vec<JetOp> = Vec::with_capacity(len);
        // The slot each program instruction writes, and the instruction writing each slot.
        let mut writes: Vec<u32> = Vec::with_capacity(len);
        let mut at_slot = vec![u32::MAX; len];
        let mut steps = Vec::new();
        for k in 0..len {
            if absorbed[k] {
                continue;
            }
            let out = k as u32;
            at_slot[k] = program.len() as u32;
            if let Op::Add(..) | Op::Sub(..) = ops[k] {
                // The top of a spine: walk down the absorbed left operands.
                let mut spine = Vec::new();
                let mut node = k;
                while let Op::Add(a, b) | Op::Sub(a, b) = ops[node] {
                    let sign = if matches!(ops[node], Op::Sub(..)) {
                        -1.0
                    } else {
                        1.0
                    };
                    spine.push((b, sign));
                    if absorbed[a as usize] && is_sum(ops[a as usize]) && !remat[a as usize] {
                        at_slot[a as usize] = program.len() as u32;
                        node = a as usize;
                    } else {
                        spine.push((a, 1.0));
                        break;
                    }
                }
                if spine.len() > 2 {
                    let first = terms.len() as u32;
                    terms.extend(spine.iter().rev().map(|&(t, sign)| Term::Slot(t, sign)));
                    program.push(JetOp::Sum {
                        out,
                        first,
                        len: spine.len() as u32,
                        then: 0,
                        then_len: 0,
                    });
                    writes.push(out);
                    continue;
                }
            }
            let plain = match ops[k] {
                Op::Var(j) => {
                    // Seeded before the sweep, not a program step.
                    vars.push((out, j));
                    at_slot[k] = u32::MAX;
                    continue;
                }
                Op::Const(i) => Some(JetOp::Const { out, i }),
                Op::Add(a, b) => Some(JetOp::Add { out, a, b }),
                Op::Sub(a, b) => Some(JetOp::Sub { out, a, b }),
                Op::Mul(a, b) => Some(JetOp::Mul { out, a, b }),
                Op::Div(a, b) => Some(JetOp::Div { out, a, b }),
                _ => None,
            };
            if let Some(p) = plain {
                program.push(p);
                writes.push(out);
                continue;
            }
            let Some((mut a, u)) = Un::of(ops[k]) else {
                continue;
            };
            let first = steps.len() as u32;
            // Recomputed affine operands first (innermost first).
            let mut head = Vec::new();
            while remat[a as usize] {
                let Some((b, v)) = Un::of(ops[a as usize]) else {
                    break;
                };
                head.push((a, v));
                a = b;
            }
            steps.extend(head.into_iter().rev());
            steps.push((out, u));
            let mut nonlinear = !u.is_affine();
            let mut cur = k;
            while uses[cur] == 1 && consumer[cur] != u32::MAX {
                let next = consumer[cur] as usize;
                // A recomputed slot is not a chain's step: it ends no chain, so its operand
                // keeps a gradient.
                if remat[next] {
                    break;
                }
                let Some((_, v)) = Un::of(ops[next]) else {
                    break;
                };
                if !v.is_affine() && nonlinear {
                    break;
                }
                nonlinear |= !v.is_affine();
                steps.push((next as u32, v));
                absorbed[next] = true;
                at_slot[next] = program.len() as u32;
                cur = next;
            }
            let count = steps.len() as u32 - first;
            let chain = &steps[first as usize..];
            let mid = chain.iter().position(|(_, u)| !u.is_affine());
            let identity = (1.0, -0.0);
            let affine = |s: &[(u32, Un)]| -> Option<[(f64, f64); 2]> {
                let mut out = [identity; 2];
                if s.len() > 2 {
                    return None;
                }
                // Right-aligned: the identity steps come first.
                for (o, &(_, u)) in out[2 - s.len()..].iter_mut().zip(s) {
                    let Un::Affine { m, a } = u else {
                        return None;
                    };
                    *o = (m, a);
                }
                Some(out)
            };
            let shaped = mid
                .and_then(|p| Some((affine(&chain[..p])?, chain[p].1, affine(&chain[p + 1..])?)));
            if count == 1 {
                steps.pop();
                program.push(JetOp::Unary { out, a, u });
            } else if let Some((pre, u, post)) = shaped {
                steps.truncate(first as usize);
                let shape = Shape {
                    a,
                    pre,
                    post,
                    out: cur as u32,
                };
                program.push(match u {
                    Un::Square => JetOp::ShapedSquare(shape),
                    Un::Call(Func::Sin) => JetOp::ShapedSin(shape),
                    Un::Call(Func::Cos) => JetOp::ShapedCos(shape),
                    Un::Call(Func::Exp) => JetOp::ShapedExp(shape),
                    u => JetOp::Shaped { shape, u },
                });
            } else {
                program.push(JetOp::Chain {
                    a,
                    first,
                    len: count,
                });
            }
            writes.push(cur as u32);
        }
        let (program, writes) = inline_terms_of_one_variable(
            program,
            writes,
            &mut terms,
            &mut at_slot,
            &vars,
            &uses,
            &is_root,
        );
        let mut steps_after = Vec::new();
        let (program, writes) = fuse_steps_after_sums(
            program,
            writes,
            &terms,
            &mut steps_after,
            &mut at_slot,
            &is_root,
        );
        // Schedule by level (1 + the deepest operand's level): a topological order in which
        // independent work (other objectives, other terms) sits side by side, so the
        // processor overlaps it instead of waiting on one dependency chain at a time.
        let mut level = vec![0u32; len];
        let mut program_level = vec![0u32; program.len()];
        for (at, op) in program.iter().enumerate() {
            let (inputs, count) = op.inputs();
            let summed: &[Term] = match *op {
                JetOp::Sum { first, len, .. } => &terms[first as usize..(first + len) as usize],
                _ => &[],
            };
            let l = inputs[..count]
                .iter()
                .copied()
                .chain(summed.iter().map(|t| t.input()))
                .map(|a| level[a as usize] + 1)
                .max()
                .unwrap_or(0);
            level[writes[at] as usize] = l;
            program_level[at] = l;
        }
        let mut order: Vec<u32> = (0..program.len() as u32).collect();
        order.sort_by_key(|&at| program_level[at as usize]);
        let mut position = vec![0u32; program.len()];
        for (p, &at) in order.iter().enumerate() {
            position[at as usize] = p as u32;
        }
        let program: Vec<JetOp> = order.iter().map(|&at| program[at as usize]).collect();
        let terms = if squares {
            terms.into_iter().map(Term::squared).collect()
        } else {
            terms
        };
        let levels: Vec<u32> = order.iter().map(|&at| program_level[at as usize]).collect();
        let lanes = side_by_side(&program, &levels, &terms, &steps_after);
        let cone_vars = cones
            .iter()
            .map(|cone| {
                vars.iter()
                    .copied()
                    .filter(|(slot, _)| cone.binary_search(slot).is_ok())
                    .collect()
            })
            .collect();
        let cones = cones
            .iter()
            .map(|cone| {
                // Program positions of the cone's slots, in evaluation order (a chain's
                // slots need not be adjacent on the tape).
                // (A recomputed slot is written by every chain that uses it.)
                let mut c: Vec<u32> = cone
                    .iter()
                    .filter(|&&k| !remat[k as usize] && at_slot[k as usize] != u32::MAX)
                    .map(|&k| position[at_slot[k as usize] as usize])
                    .collect();
                c.sort_unstable();
                c.dedup();
                c
            })
            .collect();
        JetProgram {
            ops: program,
            steps,
            terms,
            steps_after,
            vars,
            cones,
            cone_vars,
            full: lanes.full,
            lanes: lanes.groups,
            lane_terms: lanes.terms,
            lane_steps: lanes.steps,
        }
    }

    /// The program with every sum run alone: [`full`](Self::full) is `ops` (to compare
    /// sweeps).
    #[cfg(test)]
    pub(crate) fn without_lanes(mut self) -> Self {
        self.full = self.ops.clone();
        self
    }

    /// How many sums run side by side in [`full`](Self::full).
    #[cfg(test)]
    pub(crate) fn sums_in_lanes(&self) -> usize {
        self.lanes.iter().map(|g| g.lanes as usize).sum()
    }
}

/// What sums must share to run side by side ([`side_by_side`]): their level, how many
/// steps follow them, and each term's variable slot and index.
type SumKey = (u32, u32, Vec<(u32, u32)>);

/// [`side_by_side`]'s result: the whole-program schedule and its lane tables.
struct SideBySide {
    full: Vec<JetOp>,
    groups: Vec<LaneSums>,
    terms: Vec<LaneTerm>,
    steps: Vec<LaneStep>,
}

/// The whole-program schedule of `program` (in level order, `levels` each instruction's):
/// the sums of one level whose terms are all [`Term::SquareOfVariable`]s of the same
/// variables in the same order, with as many steps after them, taken in groups of
/// [`LANES`] (then 2) into [`JetOp::SumLanes`] at the place of the group's first; a
/// leftover sum runs alone. The instructions of one level read only slots of lower levels,
/// so a group may run at its first member's place.
fn side_by_side(
    program: &[JetOp],
    levels: &[u32],
    terms: &[Term],
    steps_after: &[(Shape, Un)],
) -> SideBySide {
    let key = |at: usize| -> Option<SumKey> {
        let JetOp::Sum {
            first,
            len,
            then_len,
            ..
        } = program[at]
        else {
            return None;
        };
        let vars = terms[first as usize..(first + len) as usize]
            .iter()
            .map(|t| match *t {
                Term::SquareOfVariable { a, j, .. } => Some((a, j)),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()?;
        Some((levels[at], then_len, vars))
    };
    let mut alike: Vec<(usize, SumKey)> = (0..program.len())
        .filter_map(|at| key(at).map(|k| (at, k)))
        .collect();
    // Stable: within a key, in program order.
    alike.sort_by(|a, b| a.1.cmp(&b.1));
    let mut out = SideBySide {
        full: Vec::with_capacity(program.len()),
        groups: Vec::new(),
        terms: Vec::new(),
        steps: Vec::new(),
    };
    // For each instruction: the group it leads, or whether a group took it.
    let mut leads = vec![None; program.len()];
    let mut taken = vec![false; program.len()];
    for run in alike.chunk_by(|a, b| a.1 == b.1) {
        let mut rest: &[(usize, _)] = run;
        while rest.len() >= 2 {
            let lanes = if rest.len() >= LANES { LANES } else { 2 };
            let (members, tail) = rest.split_at(lanes);
            rest = tail;
            let sums: Vec<(u32, u32, u32, u32, u32)> = members
                .iter()
                .filter_map(|&(at, _)| match program[at] {
                    JetOp::Sum {
                        out,
                        first,
                        len,
                        then,
                        then_len,
                    } => Some((out, first, len, then, then_len)),
                    _ => None,
                })
                .collect();
            let (_, _, len, _, then_len) = sums[0];
            let lane = |l: usize| sums[l.min(lanes - 1)];
            let first_term = out.terms.len() as u32;
            for t in 0..len {
                let of = |l: usize| match terms[(lane(l).1 + t) as usize] {
                    Term::SquareOfVariable {
                        a,
                        m,
                        c,
                        d2,
                        j,
                        sign,
                    } => (a, j, m, c, d2, sign),
                    // (`key` admitted only squares of variables.)
                    _ => (0, 0, f64::NAN, f64::NAN, f64::NAN, f64::NAN),
                };
                let (a, j, ..) = of(0);
                out.terms.push(LaneTerm {
                    a,
                    j,
                    m: from_fn(|l| of(l).2),
                    c: from_fn(|l| of(l).3),
                    d2: from_fn(|l| of(l).4),
                    sign: from_fn(|l| of(l).5),
                });
            }
            let first_step = out.steps.len() as u32;
            for k in 0..then_len {
                let of = |l: usize| steps_after[(lane(l).3 + k) as usize];
                let affine = |l: usize| {
                    let shape = of(l).0;
                    [shape.pre[0], shape.pre[1], shape.post[0], shape.post[1]]
                };
                let u: [Un; LANES] = from_fn(|l| of(l).1);
                let divisors: Option<Vec<f64>> = u
                    .iter()
                    .map(|u| match *u {
                        Un::DivConst(c) => Some(c),
                        _ => None,
                    })
                    .collect();
                let function = match divisors {
                    Some(c) => LaneFunction::DivConst {
                        c: from_fn(|l| c[l]),
                        inverse: from_fn(|l| 1.0 / c[l]),
                    },
                    None if u.iter().all(|&u| u == Un::Call(Func::Exp)) => LaneFunction::Exp,
                    None => LaneFunction::Each(u),
                };
                out.steps.push(LaneStep {
                    m: from_fn(|i| from_fn(|l| affine(l)[i].0)),
                    a: from_fn(|i| from_fn(|l| affine(l)[i].1)),
                    pre_d: from_fn(|l| affine(l)[0].0 * affine(l)[1].0),
                    post_d: from_fn(|l| affine(l)[2].0 * affine(l)[3].0),
                    u: function,
                });
            }
            leads[members[0].0] = Some(out.groups.len() as u32);
            for &(at, _) in members {
                taken[at] = true;
            }
            out.groups.push(LaneSums {
                lanes: lanes as u32,
                out: from_fn(|l| lane(l).0),
                first: first_term,
                len,
                then: first_step,
                then_len,
            });
        }
    }
    for (at, op) in program.iter().enumerate() {
        match leads[at] {
            Some(group) => out.full.push(JetOp::SumLanes { group }),
            None if !taken[at] => out.full.push(*op),
            None => {}
        }
    }
    out
}

/// Takes each single-use shaped or unary instruction of one variable that a sum (or a lone
/// `a ± b`, made a sum) reads into the sum as a [`Term::OfVariable`], drops the instruction,
/// and points the slots it wrote at the sum (for the cones). Returns the program and the slot
/// each instruction writes.
fn inline_terms_of_one_variable(
    mut program: Vec<JetOp>,
    writes: Vec<u32>,
    terms: &mut Vec<Term>,
    at_slot: &mut [u32],
    vars: &[(u32, u32)],
    uses: &[u32],
    is_root: &[bool],
) -> (Vec<JetOp>, Vec<u32>) {
    let mut variable = vec![u32::MAX; at_slot.len()];
    for &(slot, j) in vars {
        variable[slot as usize] = j;
    }
    // The instruction that writes slot `t` as its only result, when the slot can be taken in
    // place: read once (by the sum), not a root, and a shaped or unary function of a variable.
    let of_variable = |program: &[JetOp], t: u32, sign: f64| -> Option<(usize, Term)> {
        let t = t as usize;
        if uses[t] != 1 || is_root[t] {
            return None;
        }
        let at = *at_slot.get(t)? as usize;
        if at >= program.len() || writes[at] as usize != t {
            return None;
        }
        let identity = [(1.0, -0.0); 2];
        let (shape, u) = match (program[at].shaped(), program[at]) {
            (Some(shaped), _) => shaped,
            // `v·1 + (−0)` around it changes nothing (see `JetOp::Shaped`).
            (None, JetOp::Unary { out, a, u }) => (
                Shape {
                    a,
                    pre: identity,
                    post: identity,
                    out,
                },
                u,
            ),
            _ => return None,
        };
        let j = variable[shape.a as usize];
        (j != u32::MAX).then_some((at, Term::OfVariable { shape, u, j, sign }))
    };
    // Where each instruction's slots go: itself, or the sum that took it in.
    let mut goes_to: Vec<u32> = (0..program.len() as u32).collect();
    for at in 0..program.len() {
        match program[at] {
            JetOp::Sum { first, len, .. } => {
                for term in &mut terms[first as usize..(first + len) as usize] {
                    if let Term::Slot(t, sign) = *term
                        && let Some((from, inlined)) = of_variable(&program, t, sign)
                    {
                        *term = inlined;
                        goes_to[from] = at as u32;
                    }
                }
            }
            JetOp::Add { out, a, b } | JetOp::Sub { out, a, b } => {
                let sign = if matches!(program[at], JetOp::Sub { .. }) {
                    -1.0
                } else {
                    1.0
                };
                let (ta, tb) = (
                    of_variable(&program, a, 1.0),
                    of_variable(&program, b, sign),
                );
                if ta.is_none() && tb.is_none() {
                    continue;
                }
                // `a + 1·b` and `a + (−1)·b` are `a + b` and `a − b` (see `JetOp::Sum`).
                let first = terms.len() as u32;
                for (slot, s, inlined) in [(a, 1.0, ta), (b, sign, tb)] {
                    terms.push(match inlined {
                        Some((from, term)) => {
                            goes_to[from] = at as u32;
                            term
                        }
                        None => Term::Slot(slot, s),
                    });
                }
                program[at] = JetOp::Sum {
                    out,
                    first,
                    len: 2,
                    then: 0,
                    then_len: 0,
                };
            }
            _ => {}
        }
    }
    compact(program, writes, &goes_to, at_slot)
}

/// The program without the instructions another took in (`goes_to[at] ≠ at`: the one that
/// took instruction `at` in, itself kept), the slots each kept one writes, and `at_slot`
/// renumbered (a slot of an instruction taken in goes to the one that took it in).
fn compact(
    program: Vec<JetOp>,
    writes: Vec<u32>,
    goes_to: &[u32],
    at_slot: &mut [u32],
) -> (Vec<JetOp>, Vec<u32>) {
    let mut index = vec![0u32; program.len()];
    let mut kept = Vec::with_capacity(program.len());
    let mut kept_writes = Vec::with_capacity(program.len());
    for (at, (op, w)) in program.into_iter().zip(writes).enumerate() {
        if goes_to[at] as usize == at {
            index[at] = kept.len() as u32;
            kept.push(op);
            kept_writes.push(w);
        }
    }
    for at in 0..goes_to.len() {
        index[at] = index[goes_to[at] as usize];
    }
    for a in at_slot.iter_mut().filter(|a| **a != u32::MAX) {
        *a = index[*a as usize];
    }
    (kept, kept_writes)
}

/// Takes into each sum the chain of shaped instructions that reads its result, each
/// single-use and not a root (`(x − a)² + (y − b)² + …` then `÷ w` then `c·exp(−·)` is one
/// instruction): the same arithmetic on the jet held in registers instead of stored and
/// loaded again. Returns the program and the slot each instruction writes.
fn fuse_steps_after_sums(
    mut program: Vec<JetOp>,
    mut writes: Vec<u32>,
    terms: &[Term],
    steps_after: &mut Vec<(Shape, Un)>,
    at_slot: &mut [u32],
    is_root: &[bool],
) -> (Vec<JetOp>, Vec<u32>) {
    // How many times the program reads each slot (not the tape's uses: an affine
    // instruction recomputed at the head of several chains makes its operand read by each),
    // and the shaped instruction reading it (the last, when several do).
    let mut reads = vec![0u32; at_slot.len()];
    let mut reader = vec![u32::MAX; at_slot.len()];
    for (at, op) in program.iter().enumerate() {
        let (inputs, count) = op.inputs();
        let summed: &[Term] = match *op {
            JetOp::Sum { first, len, .. } => &terms[first as usize..(first + len) as usize],
            _ => &[],
        };
        for a in inputs[..count]
            .iter()
            .copied()
            .chain(summed.iter().map(|t| t.input()))
        {
            reads[a as usize] += 1;
        }
        if let Some((shape, _)) = op.shaped() {
            reader[shape.a as usize] = at as u32;
        }
    }
    let mut goes_to: Vec<u32> = (0..program.len() as u32).collect();
    for at in 0..program.len() {
        let JetOp::Sum { first, len, .. } = program[at] else {
            continue;
        };
        let mut out = writes[at];
        let then = steps_after.len() as u32;
        loop {
            let o = out as usize;
            if reads[o] != 1 || is_root[o] || reader[o] == u32::MAX {
                break;
            }
            let next = reader[o] as usize;
            let Some(step) = program[next].shaped() else {
                break;
            };
            steps_after.push(step);
            goes_to[next] = at as u32;
            out = step.0.out;
        }
        let then_len = steps_after.len() as u32 - then;
        if then_len > 0 {
            program[at] = JetOp::Sum {
                out,
                first,
                len,
                then,
                then_len,
            };
            writes[at] = out;
        }
    }
    compact(program, writes, &goes_to, at_slot)
}

/// The jet of `f(a)` from `a`'s gradient `g` and Hessian `h` and `f′ = d1`, `f″ = d2` at
/// `a`'s value: `f′ g` and (when `SECOND`; 0 otherwise) `f′ H + f″ g gᵀ` (packed).
#[inline(always)]
fn chain_rule<const N: usize, const T: usize, const SECOND: bool>(
    d1: f64,
    d2: f64,
    g: Grad<N>,
    h: &Hess<T>,
) -> (Grad<N>, Hess<T>) {
    let pairs: [(usize, usize); T] = const { upper_pairs::<N, T>() };
    let hessian = if SECOND {
        from_fn(|t| {
            let (p, q) = pairs[t];
            d1 * h[t] + d2 * (g[p] * g[q])
        })
    } else {
        [0.0; T]
    };
    (g.map(|t| d1 * t), hessian)
}

/// `y = pre(x)`, `z = post(u(y))` and the first and second derivative of `z` with respect to
/// `x` (`post′ u′ pre′`, `post′ u″ pre′²`): a shaped instruction's arithmetic on a scalar.
#[inline(always)]
fn shaped_scalar<const SECOND: bool>(shape: &Shape, u: Un, x: f64) -> (f64, f64, f64, f64) {
    let [(m1, a1), (m2, a2)] = shape.pre;
    let [(m3, a3), (m4, a4)] = shape.post;
    let y = (x * m1 + a1) * m2 + a2;
    let (v, f1, f2) = u.eval::<SECOND>(y);
    let z = (v * m3 + a3) * m4 + a4;
    let (pre_d, post_d) = (m1 * m2, m3 * m4);
    (y, z, post_d * f1 * pre_d, post_d * f2 * pre_d * pre_d)
}

/// The forward-mode sweep over `order` (instructions in program order: those of a cone from
/// [`JetProgram::ops`], or all of [`JetProgram::full`]): slot `k`'s value and gradient in
/// `vg[k] = [v, g₁, …, g_N]` (`W = N + 1`: one load and one store per operand and result)
/// and, when `SECOND`, its Hessian's upper triangle `hes[k]` (`T = N(N+1)/2` entries,
/// [`upper_pairs`]). Returns whether every value written is finite (constants are
/// the caller's: see [`Constant::finite`]); the check is a floating-point sum of [`mark`]s,
/// off the critical path.
pub(crate) fn jet<'p, const N: usize, const W: usize, const T: usize, const SECOND: bool>(
    program: &JetProgram,
    consts: &[Constant],
    vars: &[(u32, u32)],
    order: impl Iterator<Item = &'p JetOp>,
    theta: &[f64],
    vg: &mut [[f64; W]],
    hes: &mut [Hess<T>],
) -> bool {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the processor has AVX2, checked just above.
        return unsafe {
            jet_avx2::<N, W, T, SECOND>(program, consts, vars, order, theta, vg, hes)
        };
    }
    jet_body::<N, W, T, SECOND>(program, consts, vars, order, theta, vg, hes)
}

/// [`jet`] compiled for processors with AVX2, which the sweep's lane-by-lane arithmetic
/// (four `f64` at a time, [`JetOp::SumLanes`]) and its gradient and Hessian updates use: the
/// same IEEE operations in the same order (Rust fuses no multiply-add on its own), so the
/// same bits as [`jet_body`] compiled for any x86-64 (a unit test compares them); 0.95× the
/// instructions of the 3-D example wells' map and 0.93× its time.
///
/// # Safety
/// The processor must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn jet_avx2<
    'p,
    const N: usize,
    const W: usize,
    const T: usize,
    const SECOND: bool,
>(
    program: &JetProgram,
    consts: &[Constant],
    vars: &[(u32, u32)],
    order: impl Iterator<Item = &'p JetOp>,
    theta: &[f64],
    vg: &mut [[f64; W]],
    hes: &mut [Hess<T>],
) -> bool {
    jet_body::<N, W, T, SECOND>(program, consts, vars, order, theta, vg, hes)
}

/// [`jet`]'s sweep, compiled into each of its callers (for any x86-64 in [`jet`], for AVX2 in
/// [`jet_avx2`]).
#[inline(always)]
pub(crate) fn jet_body<'p, const N: usize, const W: usize, const T: usize, const SECOND: bool>(
    program: &JetProgram,
    consts: &[Constant],
    vars: &[(u32, u32)],
    order: impl Iterator<Item = &'p JetOp>,
    theta: &[f64],
    vg: &mut [[f64; W]],
    hes: &mut [Hess<T>],
) -> bool {
    debug_assert_eq!(W, N + 1);
    debug_assert_eq!(T, N * (N + 1) / 2);
    let pairs: [(usize, usize); T] = const { upper_pairs::<N, T>() };
    // The packed position of each entry.
    let packed: [[usize; N]; N] = const { packed_positions::<N, T>() };
    let zero_h: Hess<T> = [0.0; T];
    let mut poison = 0.0;
    for &(slot, j) in vars {
        let (k, j) = (slot as usize, j as usize);
        let v = theta[j];
        poison += mark(v);
        vg[k] = from_fn(|p| if p == 0 { v } else { f64::from(p - 1 == j) });
        if SECOND {
            hes[k] = zero_h;
        }
    }
    for op in order {
        // By reference: a `JetOp` is several words (a shaped chain carries its affine steps),
        // and copying it out for each instruction was a sixth of the sweep's instructions.
        let load = |a: u32| -> (f64, Grad<N>) {
            let s = vg[a as usize];
            (s[0], from_fn(|p| s[p + 1]))
        };
        let h_of = |a: u32| -> Hess<T> { if SECOND { hes[a as usize] } else { zero_h } };
        // Stores slot `out`'s value, gradient and (when SECOND) Hessian.
        macro_rules! put {
            ($out:expr, $v:expr, $g:expr, $h:expr) => {{
                let (k, v, g): (usize, f64, Grad<N>) = ($out as usize, $v, $g);
                poison += mark(v);
                vg[k] = from_fn(|p| if p == 0 { v } else { g[p - 1] });
                if SECOND {
                    hes[k] = $h;
                }
            }};
        }
        // post(u(pre(x))) with pre, post two affine steps each ([`shaped_scalar`]).
        macro_rules! shaped {
            ($shape:expr, $u:expr) => {{
                let shape = &$shape;
                let (x, gx) = load(shape.a);
                let (y, z, d1, d2) = shaped_scalar::<SECOND>(shape, $u, x);
                // (A non-finite v makes z non-finite: ∞·m and NaN·m are never finite.)
                poison += mark(y) + mark(z);
                let (g, h) = chain_rule::<N, T, SECOND>(d1, d2, gx, &h_of(shape.a));
                put!(shape.out, z, g, h)
            }};
        }
        match *op {
            JetOp::Const { out, i } => put!(out, consts[i as usize].value, [0.0; N], zero_h),
            JetOp::Add { out, a, b } => {
                let ((va, ga), (vb, gb)) = (load(a), load(b));
                put!(out, va + vb, from_fn(|p| ga[p] + gb[p]), {
                    let (ha, hb) = (h_of(a), h_of(b));
                    from_fn(|t| ha[t] + hb[t])
                })
            }
            JetOp::Sub { out, a, b } => {
                let ((va, ga), (vb, gb)) = (load(a), load(b));
                put!(out, va - vb, from_fn(|p| ga[p] - gb[p]), {
                    let (ha, hb) = (h_of(a), h_of(b));
                    from_fn(|t| ha[t] - hb[t])
                })
            }
            JetOp::Mul { out, a, b } => {
                let ((va, ga), (vb, gb)) = (load(a), load(b));
                put!(out, va * vb, from_fn(|p| vb * ga[p] + va * gb[p]), {
                    let (ha, hb) = (h_of(a), h_of(b));
                    from_fn(|t| {
                        let (p, q) = pairs[t];
                        vb * ha[t] + va * hb[t] + (ga[p] * gb[q] + gb[p] * ga[q])
                    })
                })
            }
            JetOp::Div { out, a, b } => {
                let ((va, ga), (vb, gb)) = (load(a), load(b));
                let c = va / vb;
                let r = 1.0 / vb;
                let g: Grad<N> = from_fn(|p| (ga[p] - c * gb[p]) * r);
                put!(out, c, g, {
                    let (ha, hb) = (h_of(a), h_of(b));
                    from_fn(|t| {
                        let (p, q) = pairs[t];
                        (ha[t] - c * hb[t] - (g[p] * gb[q] + gb[p] * g[q])) * r
                    })
                })
            }
            JetOp::Unary { out, a, u } => {
                // g_u = f′ g_a, H_u = f′ H_a + f″ g_a g_aᵀ.
                let (x, gx) = load(a);
                let (v, f1, f2) = u.eval::<SECOND>(x);
                let (g, h) = chain_rule::<N, T, SECOND>(f1, f2, gx, &h_of(a));
                put!(out, v, g, h)
            }
            JetOp::Shaped { shape, u } => shaped!(shape, u),
            JetOp::ShapedSquare(shape) => shaped!(shape, Un::Square),
            JetOp::ShapedSin(shape) => shaped!(shape, Un::Call(Func::Sin)),
            JetOp::ShapedCos(shape) => shaped!(shape, Un::Call(Func::Cos)),
            JetOp::ShapedExp(shape) => shaped!(shape, Un::Call(Func::Exp)),
            JetOp::Sum {
                out,
                first,
                len,
                then,
                then_len,
            } => {
                let terms = &program.terms[first as usize..(first + len) as usize];
                // A term of one variable: its value, `d₁`, `d₂` and the marks of its values.
                macro_rules! of_variable {
                    ($shape:expr, $u:expr) => {{
                        let x = vg[$shape.a as usize][0];
                        let (y, z, d1, d2) = shaped_scalar::<SECOND>($shape, $u, x);
                        (z, d1, d2, mark(y) + mark(z))
                    }};
                }
                // Terms by reference, as instructions are (a term carries its shape).
                let (mut s, mut g, mut h) = match terms[0] {
                    Term::Slot(t, _) => {
                        let (v, gt) = load(t);
                        (v, gt, if SECOND { h_of(t) } else { zero_h })
                    }
                    Term::OfVariable {
                        ref shape, u, j, ..
                    } => {
                        let (z, d1, d2, marks) = of_variable!(shape, u);
                        poison += marks;
                        let (mut g, mut h) = ([0.0; N], zero_h);
                        let (j, jj) = (j as usize, packed[j as usize][j as usize]);
                        g[j] = d1;
                        if SECOND {
                            h[jj] = d2;
                        }
                        (z, g, h)
                    }
                    Term::SquareOfVariable { a, m, c, d2, j, .. } => {
                        let y = vg[a as usize][0] * m + c;
                        let z = y * y;
                        poison += mark(y) + mark(z);
                        let (mut g, mut h) = ([0.0; N], zero_h);
                        g[j as usize] = (2.0 * y) * m;
                        if SECOND {
                            h[packed[j as usize][j as usize]] = d2;
                        }
                        (z, g, h)
                    }
                };
                for term in &terms[1..] {
                    match *term {
                        Term::Slot(t, sign) => {
                            let (v, gt) = load(t);
                            s += sign * v;
                            g = from_fn(|p| g[p] + sign * gt[p]);
                            if SECOND {
                                let ht = h_of(t);
                                h = from_fn(|t| h[t] + sign * ht[t]);
                            }
                        }
                        Term::OfVariable {
                            ref shape,
                            u,
                            j,
                            sign,
                        } => {
                            let (z, d1, d2, marks) = of_variable!(shape, u);
                            let (j, jj) = (j as usize, packed[j as usize][j as usize]);
                            poison += marks;
                            s += sign * z;
                            g[j] += sign * d1;
                            if SECOND {
                                h[jj] += sign * d2;
                            }
                        }
                        Term::SquareOfVariable {
                            a,
                            m,
                            c,
                            d2,
                            j,
                            sign,
                        } => {
                            let y = vg[a as usize][0] * m + c;
                            let z = y * y;
                            poison += mark(y) + mark(z);
                            let j = j as usize;
                            s += sign * z;
                            g[j] += sign * ((2.0 * y) * m);
                            if SECOND {
                                h[packed[j][j]] += sign * d2;
                            }
                        }
                    }
                    poison += mark(s);
                }
                for (shape, u) in &program.steps_after[then as usize..(then + then_len) as usize] {
                    let (y, z, d1, d2) = shaped_scalar::<SECOND>(shape, *u, s);
                    poison += mark(s) + mark(y) + mark(z);
                    (g, h) = chain_rule::<N, T, SECOND>(d1, d2, g, &h);
                    s = z;
                }
                put!(out, s, g, h)
            }
            JetOp::SumLanes { group } => {
                let g = &program.lanes[group as usize];
                poison += if g.lanes as usize == LANES {
                    sum_lanes::<N, W, T, SECOND, LANES>(program, g, vg, hes)
                } else {
                    sum_lanes::<N, W, T, SECOND, 2>(program, g, vg, hes)
                };
            }
            JetOp::Chain { a, first, len } => {
                let steps = &program.steps[first as usize..(first + len) as usize];
                let (mut x, gx) = load(a);
                // The chain's first and second derivative with respect to its input:
                // (f∘φ)′ = f′ φ′, (f∘φ)″ = f″ φ′² + f′ φ″.
                let (mut d1, mut d2) = (1.0, 0.0);
                let mut out = a;
                for &(slot, u) in steps {
                    // Affine steps (all but at most one) by a plain test, not a dispatch.
                    if let Un::Affine { m, a } = u {
                        x = x * m + a;
                        d1 *= m;
                        d2 *= m;
                    } else {
                        let (v, f1, f2) = u.eval::<SECOND>(x);
                        if SECOND {
                            d2 = f2 * d1 * d1 + f1 * d2;
                        }
                        d1 *= f1;
                        x = v;
                    }
                    poison += mark(x);
                    out = slot;
                }
                let (g, h) = chain_rule::<N, T, SECOND>(d1, d2, gx, &h_of(a));
                put!(out, x, g, h)
            }
        }
    }
    poison == 0.0
}

/// The sums of `group`, `L` side by side ([`JetOp::SumLanes`]): each lane performs the
/// operations [`jet`] performs for its [`JetOp::Sum`] of [`Term::SquareOfVariable`]s and
/// shaped steps, in the same order — value, gradient and Hessian entries lane by lane, the
/// functions of the steps one lane at a time — and stores its slot's jet. Returns the sum of
/// the [`mark`]s of every value (0 when all are finite).
#[inline(always)]
fn sum_lanes<const N: usize, const W: usize, const T: usize, const SECOND: bool, const L: usize>(
    program: &JetProgram,
    group: &LaneSums,
    vg: &mut [[f64; W]],
    hes: &mut [Hess<T>],
) -> f64 {
    let pairs: [(usize, usize); T] = const { upper_pairs::<N, T>() };
    let packed: [[usize; N]; N] = const { packed_positions::<N, T>() };
    let mut marks = [0.0; L];
    let terms = &program.lane_terms[group.first as usize..(group.first + group.len) as usize];
    // The value, gradient and Hessian of each lane's sum: entry by entry, lanes innermost.
    let mut s = [0.0; L];
    let mut g = [[0.0; L]; N];
    let mut h = [[0.0; L]; T];
    for (t, term) in terms.iter().enumerate() {
        let x = vg[term.a as usize][0];
        let (j, jj) = (term.j as usize, packed[term.j as usize][term.j as usize]);
        let y: [f64; L] = from_fn(|l| x * term.m[l] + term.c[l]);
        let z: [f64; L] = from_fn(|l| y[l] * y[l]);
        for l in 0..L {
            marks[l] += mark(y[l]) + mark(z[l]);
        }
        if t == 0 {
            s = z;
            g[j] = from_fn(|l| (2.0 * y[l]) * term.m[l]);
            if SECOND {
                h[jj] = from_fn(|l| term.d2[l]);
            }
        } else {
            for l in 0..L {
                s[l] += term.sign[l] * z[l];
                g[j][l] += term.sign[l] * ((2.0 * y[l]) * term.m[l]);
                if SECOND {
                    h[jj][l] += term.sign[l] * term.d2[l];
                }
                marks[l] += mark(s[l]);
            }
        }
    }
    let steps = &program.lane_steps[group.then as usize..(group.then + group.then_len) as usize];
    for step in steps {
        // `shaped_scalar`, lane by lane.
        let (m, a) = (&step.m, &step.a);
        let y: [f64; L] = from_fn(|l| (s[l] * m[0][l] + a[0][l]) * m[1][l] + a[1][l]);
        let (v, f1, f2): ([f64; L], [f64; L], [f64; L]) = match step.u {
            LaneFunction::DivConst { c, inverse } => {
                (from_fn(|l| y[l] / c[l]), from_fn(|l| inverse[l]), [0.0; L])
            }
            LaneFunction::Exp => {
                let v = from_fn(|l| call::<f64, SECOND>(Func::Exp, y[l]).0);
                (v, v, v)
            }
            LaneFunction::Each(u) => {
                let f: [(f64, f64, f64); L] = from_fn(|l| u[l].eval::<SECOND>(y[l]));
                (
                    from_fn(|l| f[l].0),
                    from_fn(|l| f[l].1),
                    from_fn(|l| f[l].2),
                )
            }
        };
        let z: [f64; L] = from_fn(|l| (v[l] * m[2][l] + a[2][l]) * m[3][l] + a[3][l]);
        let d1: [f64; L] = from_fn(|l| step.post_d[l] * f1[l] * step.pre_d[l]);
        let d2: [f64; L] = from_fn(|l| step.post_d[l] * f2[l] * step.pre_d[l] * step.pre_d[l]);
        for l in 0..L {
            marks[l] += mark(s[l]) + mark(y[l]) + mark(z[l]);
        }
        // `chain_rule`, lane by lane: the Hessian from the gradient before it is scaled.
        if SECOND {
            for (t, &(p, q)) in pairs.iter().enumerate() {
                for l in 0..L {
                    h[t][l] = d1[l] * h[t][l] + d2[l] * (g[p][l] * g[q][l]);
                }
            }
        } else {
            h = [[0.0; L]; T];
        }
        for gp in &mut g {
            for l in 0..L {
                gp[l] *= d1[l];
            }
        }
        s = z;
    }
    for l in 0..L {
        marks[l] += mark(s[l]);
        let k = group.out[l] as usize;
        vg[k] = from_fn(|p| if p == 0 { s[l] } else { g[p - 1][l] });
        if SECOND {
            hes[k] = from_fn(|t| h[t][l]);
        }
    }
    marks.iter().sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_steps_are_exactly_times_one_plus_minus_zero() {
        assert!(is_identity((1.0, -0.0)));
        // `v + 0` turns −0 into +0; `v·(−1)` and `v·1 + c` change v.
        assert!(!is_identity((1.0, 0.0)));
        assert!(!is_identity((-1.0, -0.0)));
        assert!(!is_identity((1.0, 0.44)));
        assert!(!is_identity((f64::NAN, -0.0)));
    }

    /// Which shaped terms become squares, and with which step.
    #[test]
    fn only_a_square_of_one_affine_step_becomes_a_square_term() {
        let id = (1.0, -0.0);
        let shape = |pre: [(f64, f64); 2], post: [(f64, f64); 2]| Shape {
            a: 7,
            pre,
            post,
            out: 9,
        };
        let general = |pre, post, u| Term::OfVariable {
            shape: shape(pre, post),
            u,
            j: 2,
            sign: -1.0,
        };
        let square = |pre, post, u| match general(pre, post, u).squared() {
            Term::SquareOfVariable {
                a,
                m,
                c,
                d2,
                j,
                sign,
            } => {
                assert_eq!((a, j, sign), (7, 2, -1.0));
                assert_eq!(d2.to_bits(), ((2.0 * m) * m).to_bits());
                Some((m, c))
            }
            _ => None,
        };
        assert_eq!(
            square([id, (1.0, 0.44)], [id, id], Un::Square),
            Some((1.0, 0.44))
        );
        assert_eq!(
            square([(3.0, -0.0), id], [id, id], Un::Square),
            Some((3.0, -0.0))
        );
        assert_eq!(square([id, id], [id, id], Un::Square), Some(id));
        // Two real steps before, one after, `v + 0` before, or another function: general.
        assert_eq!(
            square([(2.0, -0.0), (1.0, -1.0)], [id, id], Un::Square),
            None
        );
        assert_eq!(
            square([id, (1.0, 0.5)], [id, (2.0, -0.0)], Un::Square),
            None
        );
        assert_eq!(square([(1.0, 0.0), (1.0, 0.5)], [id, id], Un::Square), None);
        let exp = Un::Call(Func::Exp);
        assert_eq!(square([id, (1.0, 0.5)], [id, id], exp), None);
        // A slot term stays what it is.
        assert_eq!(Term::Slot(3, -1.0).squared(), Term::Slot(3, -1.0));
    }
}
