//! Compiled objectives: a problem file's K expression trees compiled once into a flat
//! instruction tape, evaluated without allocation for values, gradients, Hessians and
//! Hessian-vector products, and in interval arithmetic for certificates.
//!
//! **The tape.** [`CompiledObjectives::new`] walks every tree once and emits one
//! instruction per distinct subtree, in SSA form over `f64` slots: identical subtrees, in
//! one objective or across objectives, share one slot (hash-consing), a constant operand of
//! `+ − × ÷` rides in its instruction, integer powers stay `powi`, and nothing is folded
//! beyond what the trees already folded exactly (see [`Expr`](crate::objectives::Expr)). Each objective keeps its
//! *cone*, the slots its value depends on, so one objective's derivatives touch only its
//! own part of the tape.
//!
//! **The sweeps.** Two ways to get `f64` derivatives from the tape, chosen by n:
//!
//! * up to [`FORWARD_MODE_MAX_N`] parameters for gradients ([`FORWARD_HESSIAN_MAX_N`] for
//!   the dense Hessian, [`FORWARD_HVP_MAX_N`] for HVPs; maps have 2–6), *forward mode* (module
//!   `jet`): one sweep carries every slot's value, gradient and (on request) Hessian, with n
//!   a compile-time constant so the per-slot work is straight-line code; all K objectives'
//!   gradients, or the Hessian of `Σ L_i`, come out of that one sweep. The sweep runs a
//!   *program* derived from the tape in which runs of single-use unary instructions are
//!   fused (`c·sin(a·x + b) + d` is one step, evaluated in registers, its derivative by the
//!   chain rule on the composed function), single-use sums are fused, and independent work
//!   is scheduled side by side (by level), because on small problems the cost is in
//!   dispatch and memory round trips, not arithmetic;
//! * beyond that, *reverse mode* (module `sweep`), whose memory does not grow with n: a
//!   forward sweep stores every slot's value and local derivatives (`cos x` for `sin x`,
//!   …); a reverse sweep per objective over its cone gives its gradient; a tangent sweep and
//!   a second-order reverse sweep (forward over reverse) give Hessian-vector products; the
//!   dense Hessian of `Σ L_i` is the same with the n unit vectors as tangents, in blocks of
//!   [`HESSIAN_BLOCK`] directions, so scratch memory stays `O(instructions × HESSIAN_BLOCK)`.
//!
//! Both are tested against num-dual (`AutoDiff<ExprObjectives>`) and against each other.
//!
//! **No allocation.** The `f64` sweeps run in a per-thread scratch buffer that grows to
//! the largest tape the thread has evaluated and is then reused.
//!
//! **Domain honesty.** Where the value of any slot in an objective's cone is NaN or
//! infinite (`ln x` at `x < 0`, `sqrt` of a negative, an overflow, a NaN parameter), that
//! objective's gradient, HVP and its share of the Hessian are NaN, even when the
//! arithmetic of the sweeps would have produced finite numbers: a loss that is undefined at
//! a point has no derivative there, and nothing downstream may step or stand on one.
//!
//! **Enclosures.** The same sweeps run in [`Interval`] arithmetic over a box give rigorous
//! enclosures of `s = Σ ∇L_i` and of the Hessian of `Σ L_i`: every rule is an expression
//! in `+ − × ÷` and elementary functions, each rounded outward. When any slot's value or
//! local derivative is unbounded over the box (a function leaves its domain there:
//! `ln`/`sqrt`/`powf` of an interval reaching non-positive values, a division by an
//! interval containing 0, `tan` across a pole, an overflow), every entry of the enclosure
//! is [`Interval::ENTIRE`], so no certificate can rest on that box. Objectives that call
//! `abs` or `sign` have no enclosures (`None`): `s` is not differentiable everywhere.
//!
//! ```
//! use bflow::objectives::problem_file::{CompiledObjectives, ExprObjectives};
//! use bflow::objectives::{Expr, Objectives};
//!
//! let vars = ["x", "y"];
//! let exprs = ["(x - 3)^2 + sin(y)", "(x + 2)^2 + sin(y)"]
//!     .map(|t| Expr::parse(t, &vars, &[]).unwrap());
//! let source = ExprObjectives::new(
//!     vars.map(String::from).to_vec(),
//!     vec!["L1".into(), "L2".into()],
//!     exprs.to_vec(),
//! );
//! let compiled = CompiledObjectives::new(&source).unwrap();
//! // sin(y) is shared by both objectives: one instruction.
//! assert_eq!(compiled.num_instructions(), 9);
//! let (mut losses, mut grads) = ([0.0; 2], [0.0; 4]);
//! compiled.losses_and_gradients(&[1.0, 0.0], &mut losses, &mut grads);
//! assert_eq!(losses, [4.0, 9.0]);
//! assert_eq!(grads, [-4.0, 1.0, 6.0, 1.0]);
//! let mut h = [0.0; 4];
//! compiled.sum_hessian(&[1.0, 0.0], &mut h);
//! assert_eq!(h, [4.0, 0.0, 0.0, 0.0]);
//! ```

mod compile;
mod jet;
mod sweep;

use std::array::from_fn;
use std::cell::RefCell;

pub use compile::MAX_TAPE_INSTRUCTIONS;

use compile::{CompileError, Tape};
use jet::jet;
use sweep::{forward, reverse, reverse_tangent, tangent, values};

use super::ExprObjectives;
use crate::error::{Error, Result};
use crate::interval::Interval;
use crate::objectives::{Objectives, hvps_add_per_objective, symmetrize};

/// Up to this many parameters, gradients come from one forward-mode sweep that carries
/// every slot's gradient along; beyond it, from a forward sweep and reverse sweeps (whose
/// memory does not grow with n). Measured on K = 4 coupled objectives (docs/DESIGN.md):
/// forward mode takes 0.45–0.75 of the reverse sweeps' time for n = 2–8.
pub const FORWARD_MODE_MAX_N: usize = 8;

/// Up to this many parameters, the dense Hessian of `Σ L_i` comes from a forward-mode
/// sweep carrying every slot's n × n Hessian (O(n²) per instruction); beyond it, from the
/// reverse sweeps. Measured as above: 0.4–0.8 of the reverse sweeps' time for n ≤ 6,
/// 1.2 at n = 8.
pub const FORWARD_HESSIAN_MAX_N: usize = 6;

/// Up to this many parameters, a Hessian-vector product comes from the forward-mode
/// Hessian of the objective's cone (and the K products of ∇B from one sweep over the whole
/// tape); beyond it, from forward-over-reverse sweeps (O(1) work per instruction and
/// direction). Measured as above, with full Hessians per slot: 0.4–0.5 of the reverse
/// sweeps' time for n ≤ 4, 1.7 at n = 6. With the packed triangles (n(n+1)/2 entries per
/// slot) forward mode won at n = 5 and 6 too: default maps of a 5-D and a 6-D Gaussian-well
/// problem (K = 11 and 13) took 0.81× and 0.85× the wall time (whole process, medians of 7
/// and 5 pairs) and 0.79× and 0.82× the instructions, with the same equilibria.
pub const FORWARD_HVP_MAX_N: usize = 6;

/// Directions per tangent sweep when forming a dense Hessian: scratch memory is
/// `2 × instructions × HESSIAN_BLOCK` numbers at most, whatever n is.
pub const HESSIAN_BLOCK: usize = 8;

/// K objectives compiled into one instruction tape (see the module docs): an
/// [`Objectives<f64>`] with exact derivatives that are fast enough for mapping, and
/// rigorous interval enclosures for certificates.
#[derive(Debug, Clone, PartialEq)]
pub struct CompiledObjectives {
    vars: Vec<String>,
    names: Vec<String>,
    tape: Tape,
    /// The objectives' additive terms, compiled ([`with_additive_terms`](Self::with_additive_terms)).
    terms: Option<Box<CompiledObjectives>>,
}

/// The most objectives [`CompiledObjectives::with_additive_terms`] splits a problem into.
pub const MAX_ADDITIVE_TERMS: usize = 256;

impl CompiledObjectives {
    /// Compiles `objectives`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when a tree refers to a variable beyond
    /// `objectives.vars`, or the tape would exceed [`MAX_TAPE_INSTRUCTIONS`] (problem files
    /// are far below it: their trees hold at most
    /// [`MAX_NODES`](crate::objectives::expr::MAX_NODES) nodes in all).
    pub fn new(objectives: &ExprObjectives) -> Result<Self> {
        let tape =
            Tape::compile(&objectives.exprs, objectives.vars.len()).map_err(|e| match e {
                CompileError::TooLarge => Error::InvalidParameter {
                    name: "objectives".into(),
                    reason: format!(
                        "the compiled tape would exceed {MAX_TAPE_INSTRUCTIONS} instructions"
                    ),
                },
                CompileError::VariableOutOfRange(j) => Error::InvalidParameter {
                    name: "objectives".into(),
                    reason: format!(
                        "an expression uses variable {j}, there are {} vars",
                        objectives.vars.len()
                    ),
                },
            })?;
        Ok(Self {
            vars: objectives.vars.clone(),
            names: objectives.names.clone(),
            tape,
            terms: None,
        })
    }

    /// These objectives with their additive terms compiled beside them
    /// ([`Objectives::additive_terms`]): each of `objectives`' trees split at its top-level
    /// `+`, `−` and negation ([`Expr::additive_terms`](crate::objectives::expr::Expr::additive_terms)),
    /// terms without a variable dropped (their gradient is 0), named `NAME[1]`, `NAME[2]`, ….
    /// Nothing is attached when no objective splits into two or more terms with a variable,
    /// when there would be more than [`MAX_ADDITIVE_TERMS`], or when the terms do not
    /// compile.
    pub fn with_additive_terms(mut self, objectives: &ExprObjectives) -> Self {
        let mut names = Vec::new();
        let mut exprs = Vec::new();
        let mut any_split = false;
        for (name, e) in objectives.names.iter().zip(&objectives.exprs) {
            let terms: Vec<_> = e
                .additive_terms()
                .into_iter()
                .filter(|t| t.has_var())
                .collect();
            let split = terms.len() > 1;
            any_split |= split;
            for (j, t) in terms.into_iter().enumerate() {
                names.push(if split {
                    format!("{name}[{}]", j + 1)
                } else {
                    name.clone()
                });
                exprs.push(t);
            }
            if exprs.len() > MAX_ADDITIVE_TERMS {
                return self;
            }
        }
        if any_split {
            let terms = ExprObjectives::new(objectives.vars.clone(), names, exprs);
            self.terms = CompiledObjectives::new(&terms).ok().map(Box::new);
        }
        self
    }

    /// The parameter names, in order.
    pub fn vars(&self) -> &[String] {
        &self.vars
    }

    /// The objectives' names.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The number of instructions on the tape (distinct subtrees of all objectives).
    pub fn num_instructions(&self) -> usize {
        self.tape.ops.len()
    }

    /// True when no objective calls `abs` or `sign`, so interval enclosures of the
    /// derivatives exist.
    pub fn is_smooth(&self) -> bool {
        self.tape.smooth
    }
}

/// Reusable per-thread buffers for the `f64` sweeps.
#[derive(Default)]
struct Scratch {
    val: Vec<f64>,
    d1: Vec<f64>,
    d2: Vec<f64>,
    adj: Vec<f64>,
    tan: Vec<f64>,
    adot: Vec<f64>,
    seed: Vec<f64>,
    grad: Vec<f64>,
    hv: Vec<f64>,
    /// Forward mode: per slot, its value and gradient (1 + n) and Hessian (n × n).
    vg: Vec<f64>,
    hes: Vec<f64>,
    /// The whole-program forward sweep `vg` (and `hes`) hold, if they hold one.
    held: Option<HeldSweep>,
}

/// What a thread's forward-mode buffers hold: the sweep of tape `tape` over the whole program
/// at `theta` (bit for bit), with Hessians when `second`, and the sweep's finiteness result.
/// A request for the same sweep (or a first-order one where a second-order sweep is held) is
/// answered from the buffers: the same numbers, as the sweep is a pure function of the tape
/// and θ (and the value and gradient rules do not depend on whether Hessians ride along).
#[derive(Debug, Clone, Copy)]
struct HeldSweep {
    tape: u64,
    theta: [f64; FORWARD_MODE_MAX_N],
    second: bool,
    regular: bool,
}

impl HeldSweep {
    fn answers(&self, tape: u64, theta: &[f64], second: bool) -> bool {
        self.tape == tape
            && (self.second || !second)
            && self
                .theta
                .iter()
                .zip(theta)
                .all(|(a, b)| a.to_bits() == b.to_bits())
    }
}

impl Scratch {
    /// Grows the buffers for `slots` slots, `w` lanes and `n` parameters (never shrinks).
    fn fit(&mut self, slots: usize, w: usize, n: usize) {
        let grow = |v: &mut Vec<f64>, len: usize| {
            if v.len() < len {
                v.resize(len, 0.0);
            }
        };
        grow(&mut self.val, slots);
        grow(&mut self.d1, slots);
        grow(&mut self.d2, slots);
        grow(&mut self.adj, slots);
        grow(&mut self.tan, slots * w);
        grow(&mut self.adot, slots * w);
        grow(&mut self.seed, n * w);
        grow(&mut self.grad, n);
        grow(&mut self.hv, n * w);
    }

    /// Grows the forward-mode buffers for `slots` slots and `n` parameters.
    fn fit_jet(&mut self, slots: usize, n: usize, second: bool) {
        let grow = |v: &mut Vec<f64>, len: usize| {
            if v.len() < len {
                v.resize(len, 0.0);
            }
        };
        grow(&mut self.vg, slots * (n + 1));
        if second {
            grow(&mut self.hes, slots * (n * (n + 1) / 2));
        }
    }
}

impl Scratch {
    /// Empty buffers (a `const fn`, so the thread-local needs no lazy initialisation).
    const fn new() -> Self {
        Scratch {
            val: Vec::new(),
            d1: Vec::new(),
            d2: Vec::new(),
            adj: Vec::new(),
            tan: Vec::new(),
            adot: Vec::new(),
            seed: Vec::new(),
            grad: Vec::new(),
            hv: Vec::new(),
            vg: Vec::new(),
            hes: Vec::new(),
            held: None,
        }
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = const { RefCell::new(Scratch::new()) };
}

/// `Σ_i H_i` into `out` (n × n, row by row) from the roots' Hessians after a second-order jet
/// sweep over the whole program: the packed upper triangles are summed, then mirrored (the
/// sum of exactly symmetric matrices is exactly symmetric, so this is the entrywise sum of
/// the full matrices, bit for bit).
fn sum_root_hessians(t: &Tape, s: &Scratch, n: usize, out: &mut [f64]) {
    // n known at compile time for the small n of maps, so the sums unroll (the same order).
    match n {
        2 => return sum_root_hessians_n::<2, 3>(t, s, out),
        3 => return sum_root_hessians_n::<3, 6>(t, s, out),
        4 => return sum_root_hessians_n::<4, 10>(t, s, out),
        5 => return sum_root_hessians_n::<5, 15>(t, s, out),
        6 => return sum_root_hessians_n::<6, 21>(t, s, out),
        _ => {}
    }
    let tri = n * (n + 1) / 2;
    let mut sum = [0.0; MAX_TRIANGLE];
    let sum = &mut sum[..tri];
    for &root in &t.roots {
        let h = &s.hes[root as usize * tri..(root as usize + 1) * tri];
        for (o, &x) in sum.iter_mut().zip(h) {
            *o += x;
        }
    }
    unpack_upper(sum, n, out);
}

/// `f(p, (H v)_p)` for each row `p` of the symmetric `N × N` matrix `H` whose packed upper
/// triangle is `h` (`T = N(N+1)/2`): row p's products `H_pq v_q` summed in order of q, as
/// the unpacked row gives them.
#[inline(always)]
fn hvp_of_packed<const N: usize, const T: usize>(
    h: &[f64],
    v: &[f64],
    f: &mut impl FnMut(usize, f64),
) {
    let at: [[usize; N]; N] = const { jet::packed_positions::<N, T>() };
    debug_assert!(h.len() == T && v.len() == N);
    let (Some(h), Some(v)) = (h.first_chunk::<T>(), v.first_chunk::<N>()) else {
        return;
    };
    for (p, row) in at.iter().enumerate() {
        f(p, row.iter().zip(v).map(|(&t, &b)| h[t] * b).sum());
    }
}

/// [`sum_root_hessians`] for `n = N` (`T = N(N+1)/2`).
#[inline(always)]
fn sum_root_hessians_n<const N: usize, const T: usize>(t: &Tape, s: &Scratch, out: &mut [f64]) {
    let (packed, _) = s.hes.as_chunks::<T>();
    let mut sum = [0.0; T];
    for &root in &t.roots {
        let h = &packed[root as usize];
        sum = std::array::from_fn(|e| sum[e] + h[e]);
    }
    unpack_upper(&sum, N, out);
}

/// The most entries of a packed upper triangle a forward-mode sweep stores (n ≤
/// [`FORWARD_MODE_MAX_N`]).
const MAX_TRIANGLE: usize = FORWARD_MODE_MAX_N * (FORWARD_MODE_MAX_N + 1) / 2;

/// The symmetric n × n matrix (row by row, into `out`) whose packed upper triangle (row by
/// row: `(0, 0), (0, 1), …, (n−1, n−1)`) is `tri`.
fn unpack_upper(tri: &[f64], n: usize, out: &mut [f64]) {
    let mut entries = tri.iter();
    for p in 0..n {
        for (q, &x) in (p..n).zip(&mut entries) {
            out[p * n + q] = x;
            out[q * n + p] = x;
        }
    }
}

/// Runs `f` with this thread's scratch (with a fresh one in the case, impossible today,
/// that it is already borrowed: nothing here calls back into user code).
fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut s) => f(&mut s),
        Err(_) => f(&mut Scratch::default()),
    })
}

impl Tape {
    /// Whether every slot of objective `i`'s cone (`None`: of the whole tape) holds a
    /// finite value after a sweep over it, and every constant in it was finite all the way.
    /// Branch-free, so it vectorises: this is the domain rule's cost on the fast path.
    fn finite_over(&self, i: Option<usize>, val: &[f64]) -> bool {
        self.finite_by(i, |k| val[k])
    }

    /// [`finite_over`](Self::finite_over) with the value of slot `k` read by `value(k)`.
    fn finite_by(&self, i: Option<usize>, value: impl Fn(usize) -> f64) -> bool {
        match i {
            None => {
                self.consts_finite
                    && !(0..self.ops.len()).fold(false, |bad, k| bad | !value(k).is_finite())
            }
            Some(i) => {
                self.cone_consts_finite[i]
                    && !self.cones[i]
                        .iter()
                        .fold(false, |bad, &k| bad | !value(k as usize).is_finite())
            }
        }
    }

    /// Gradient of objective `i` into `grad` (n entries) after a forward sweep that covered
    /// its cone; NaN everywhere when a value in the cone is not finite.
    fn gradient_after_forward(&self, i: usize, s: &mut Scratch, regular: bool, grad: &mut [f64]) {
        let cone = &self.cones[i];
        if !regular && !self.finite_over(Some(i), &s.val) {
            grad.fill(f64::NAN);
            return;
        }
        for &k in cone {
            s.adj[k as usize] = 0.0;
        }
        s.adj[self.roots[i] as usize] = 1.0;
        grad.fill(0.0);
        reverse(&self.ops, cone, &s.val, &s.d1, &mut s.adj, grad);
    }

    /// `H_i v` (or the Hessian of `Σ L_i` along `w` directions when `i` is `None`) after a
    /// second-order forward sweep over the cone, with the directions in `s.seed`
    /// (`seed[j·w + l]`); the result is in `s.hv` (`hv[j·w + l]`). The caller has checked
    /// that the cone's values are finite.
    fn hessian_lanes(&self, i: Option<usize>, s: &mut Scratch, w: usize) {
        let n = self.dim;
        let order = match i {
            Some(i) => &self.cones[i],
            None => &self.all,
        };
        for &k in order {
            s.adj[k as usize] = 0.0;
        }
        match i {
            Some(i) => s.adj[self.roots[i] as usize] = 1.0,
            None => {
                for &r in &self.roots {
                    s.adj[r as usize] += 1.0;
                }
            }
        }
        let Scratch {
            val,
            d1,
            d2,
            adj,
            tan,
            adot,
            seed,
            grad,
            hv,
            ..
        } = s;
        reverse(&self.ops, order, val, d1, adj, &mut grad[..n]);
        tangent(&self.ops, order, val, d1, &seed[..n * w], w, tan);
        for &k in order {
            let k = k as usize * w;
            adot[k..k + w].fill(0.0);
        }
        hv[..n * w].fill(0.0);
        reverse_tangent(
            &self.ops,
            order,
            val,
            d1,
            d2,
            adj,
            tan,
            w,
            adot,
            &mut hv[..n * w],
        );
    }

    /// The interval sweeps over the box `x`: `(s, J)` enclosures, `J` only when `hessian`.
    /// `None` when the tape is not smooth; every entry `ENTIRE` when a slot is unbounded.
    fn enclose(&self, x: &[Interval], hessian: bool) -> Option<(Vec<Interval>, Vec<Interval>)> {
        if !self.smooth {
            return None;
        }
        Some(self.enclose_any(x, hessian))
    }

    /// [`enclose`](Self::enclose) without the smoothness check: with `abs` or `sign` the
    /// results enclose the derivatives only on boxes where their argument keeps one sign
    /// (elsewhere `sign` is `ENTIRE` anyway, but the rule "`sign′ = 0`" is wrong at a jump).
    fn enclose_any(&self, x: &[Interval], hessian: bool) -> (Vec<Interval>, Vec<Interval>) {
        let n = self.dim;
        let slots = self.ops.len();
        let zero = Interval::point(0.0);
        let entire = || {
            (
                vec![Interval::ENTIRE; n],
                vec![Interval::ENTIRE; if hessian { n * n } else { 0 }],
            )
        };
        if x.len() != n {
            return entire();
        }
        let mut val = vec![zero; slots];
        let mut d1 = vec![zero; slots];
        let mut d2 = vec![zero; slots];
        let regular = if hessian {
            forward::<Interval, true>(
                &self.ops,
                &self.consts,
                &self.all,
                x,
                &mut val,
                &mut d1,
                &mut d2,
            )
        } else {
            forward::<Interval, false>(
                &self.ops,
                &self.consts,
                &self.all,
                x,
                &mut val,
                &mut d1,
                &mut d2,
            )
        };
        if !regular {
            return entire();
        }
        let mut adj = vec![zero; slots];
        for &r in &self.roots {
            adj[r as usize] = adj[r as usize] + Interval::point(1.0);
        }
        let mut s = vec![zero; n];
        reverse(&self.ops, &self.all, &val, &d1, &mut adj, &mut s);
        if !hessian {
            return (s, Vec::new());
        }
        let mut h = vec![zero; n * n];
        let w_max = HESSIAN_BLOCK.min(n.max(1));
        let mut tan = vec![zero; slots * w_max];
        let mut adot = vec![zero; slots * w_max];
        let mut seed = vec![zero; n * w_max];
        let mut hv = vec![zero; n * w_max];
        for start in (0..n).step_by(w_max) {
            let w = w_max.min(n - start);
            unit_seeds(&mut seed[..n * w], start, w, zero, Interval::point(1.0));
            tangent(&self.ops, &self.all, &val, &d1, &seed[..n * w], w, &mut tan);
            adot.fill(zero);
            hv.fill(zero);
            reverse_tangent(
                &self.ops,
                &self.all,
                &val,
                &d1,
                &d2,
                &adj,
                &tan,
                w,
                &mut adot,
                &mut hv[..n * w],
            );
            for r in 0..n {
                for l in 0..w {
                    h[r * n + start + l] = hv[r * w + l];
                }
            }
        }
        (s, h)
    }
}

/// `seed[j·w + l] = 1` when `j = start + l`, else 0: the unit vectors `e_start … e_{start+w−1}`.
fn unit_seeds<S: Copy>(seed: &mut [S], start: usize, w: usize, zero: S, one: S) {
    seed.fill(zero);
    for l in 0..w {
        seed[(start + l) * w + l] = one;
    }
}

impl Tape {
    /// True when gradients use forward mode ([`FORWARD_MODE_MAX_N`]).
    fn forward_mode(&self) -> bool {
        self.forward_up_to(FORWARD_MODE_MAX_N)
    }

    /// True when n ≥ 1 is at most `limit` (and the test override).
    fn forward_up_to(&self, limit: usize) -> bool {
        (1..=self.forward_mode_max_n.min(limit)).contains(&self.dim)
    }

    /// The forward-mode sweep over one objective's cone (`Some(i)`) or the whole tape, with
    /// n as a compile-time constant (`1 ≤ n ≤ FORWARD_MODE_MAX_N = 8`). Returns whether every
    /// value is finite (`false`, without evaluating, when n is beyond the forward-mode range).
    fn jet_over<const SECOND: bool>(
        &self,
        i: Option<usize>,
        theta: &[f64],
        s: &mut Scratch,
    ) -> bool {
        self.jet_and_read::<SECOND>(i, theta, s, None)
    }

    /// [`jet_over`](Self::jet_over), then (when `read` is given) every objective's value
    /// and gradient read off its root into `read = (losses, gradients)`, with n known at
    /// compile time so the copies are a few moves, not library calls.
    fn jet_and_read<const SECOND: bool>(
        &self,
        i: Option<usize>,
        theta: &[f64],
        s: &mut Scratch,
        read: Option<(&mut [f64], &mut [f64])>,
    ) -> bool {
        let n = self.dim;
        if !(1..=FORWARD_MODE_MAX_N).contains(&n) {
            return false;
        }
        // The buffers already hold this sweep (a Newton polish starting where a search
        // ended, B-flow's HVPs at the point it just evaluated): read it off again.
        let held = match s.held {
            Some(h) if i.is_none() && h.answers(self.sweep_id.0, theta, SECOND) => Some(h.regular),
            _ => None,
        };
        if held.is_none() {
            s.fit_jet(self.ops.len(), n, SECOND);
        }
        let regular = match n {
            1 => self.jet_n::<1, 2, 1, SECOND>(i, theta, s, read, held),
            2 => self.jet_n::<2, 3, 3, SECOND>(i, theta, s, read, held),
            3 => self.jet_n::<3, 4, 6, SECOND>(i, theta, s, read, held),
            4 => self.jet_n::<4, 5, 10, SECOND>(i, theta, s, read, held),
            5 => self.jet_n::<5, 6, 15, SECOND>(i, theta, s, read, held),
            6 => self.jet_n::<6, 7, 21, SECOND>(i, theta, s, read, held),
            7 => self.jet_n::<7, 8, 28, SECOND>(i, theta, s, read, held),
            _ => self.jet_n::<8, 9, 36, SECOND>(i, theta, s, read, held),
        };
        if held.is_none() {
            // A sweep over one cone leaves the other slots as they were: it holds nothing.
            s.held = i.is_none().then(|| {
                let mut at = [0.0; FORWARD_MODE_MAX_N];
                at[..n].copy_from_slice(theta);
                HeldSweep {
                    tape: self.sweep_id.0,
                    theta: at,
                    second: SECOND,
                    regular,
                }
            });
        }
        regular
    }

    /// The sweep (unless `held` gives its finiteness result: the buffers hold it already),
    /// then the read.
    fn jet_n<const N: usize, const W: usize, const T: usize, const SECOND: bool>(
        &self,
        i: Option<usize>,
        theta: &[f64],
        s: &mut Scratch,
        read: Option<(&mut [f64], &mut [f64])>,
        held: Option<bool>,
    ) -> bool {
        let Scratch { vg, hes, .. } = s;
        let (vg, _) = vg.as_chunks_mut::<W>();
        let (hes, _) = hes.as_chunks_mut::<T>();
        let (consts, program) = (&self.consts, &self.jet);
        let regular = match (held, i) {
            (Some(regular), _) => regular,
            (None, Some(i)) => {
                let order = program.cones[i].iter().map(|&k| &program.ops[k as usize]);
                let vars = &program.cone_vars[i];
                jet::<N, W, T, SECOND>(program, consts, vars, order, theta, vg, hes)
                    && self.cone_consts_finite[i]
            }
            // The whole-program schedule in order (alike sums side by side), no index list.
            (None, None) => {
                let order = program.full.iter();
                let vars = &program.vars;
                jet::<N, W, T, SECOND>(program, consts, vars, order, theta, vg, hes)
                    && self.consts_finite
            }
        };
        if let Some((losses, gradients)) = read {
            let (rows, _) = gradients.as_chunks_mut::<N>();
            for ((loss, row), &root) in losses.iter_mut().zip(rows).zip(&self.roots) {
                let slot = vg[root as usize];
                *loss = slot[0];
                *row = from_fn(|p| slot[p + 1]);
            }
        }
        regular
    }

    /// Slot `k`'s value and gradient after a forward-mode sweep.
    fn jet_slot<'s>(&self, s: &'s Scratch, k: u32) -> (f64, &'s [f64]) {
        let w = self.dim + 1;
        let at = k as usize * w;
        (s.vg[at], &s.vg[at + 1..at + w])
    }

    /// `H_i v` after a second-order forward-mode sweep over objective `i`'s cone: `f(p, h)`
    /// receives each component.
    fn jet_hvp(&self, i: usize, v: &[f64], s: &Scratch, mut f: impl FnMut(usize, f64)) {
        let n = self.dim;
        let tri = n * (n + 1) / 2;
        let root = self.roots[i] as usize;
        let h = &s.hes[root * tri..(root + 1) * tri];
        // n known at compile time in the forward-mode HVP range (n ≤ FORWARD_HVP_MAX_N, which
        // the callers check), so the rows unroll; the same products in the same order.
        match n {
            1 => hvp_of_packed::<1, 1>(h, v, &mut f),
            2 => hvp_of_packed::<2, 3>(h, v, &mut f),
            3 => hvp_of_packed::<3, 6>(h, v, &mut f),
            4 => hvp_of_packed::<4, 10>(h, v, &mut f),
            5 => hvp_of_packed::<5, 15>(h, v, &mut f),
            6 => hvp_of_packed::<6, 21>(h, v, &mut f),
            _ => {
                // Row p of the symmetric matrix read off the packed upper triangle (entry
                // (p, q) is at `start(min) + max − min`, `start(r)` the offset of row r): the
                // products and their order are those of the unpacked row.
                let start = |r: usize| r * n - r * r.saturating_sub(1) / 2;
                for p in 0..n {
                    let entry = |q: usize| {
                        let (lo, hi) = if p <= q { (p, q) } else { (q, p) };
                        h[start(lo) + hi - lo]
                    };
                    f(p, v.iter().enumerate().map(|(q, &b)| entry(q) * b).sum());
                }
            }
        }
    }

    /// The forward sweep with second derivatives, then the HVP of objective `i` along `v`
    /// in `s.hv[..n]`; `false` (and nothing computed) when a value in the cone is not
    /// finite.
    fn hvp_into(&self, i: usize, theta: &[f64], v: &[f64], s: &mut Scratch) -> bool {
        let n = self.dim;
        if self.forward_up_to(FORWARD_HVP_MAX_N) {
            if !self.jet_over::<true>(Some(i), theta, s) {
                return false;
            }
            s.fit(0, 1, n);
            let mut out = std::mem::take(&mut s.hv);
            self.jet_hvp(i, v, s, |p, x| out[p] = x);
            s.hv = out;
            return true;
        }
        s.fit(self.ops.len(), 1, n);
        let regular = {
            let Scratch { val, d1, d2, .. } = &mut *s;
            forward::<f64, true>(&self.ops, &self.consts, &self.cones[i], theta, val, d1, d2)
        };
        if !regular && !self.finite_over(Some(i), &s.val) {
            return false;
        }
        s.seed[..n].copy_from_slice(v);
        self.hessian_lanes(Some(i), s, 1);
        true
    }
}

impl Objectives<f64> for CompiledObjectives {
    fn num_objectives(&self) -> usize {
        self.tape.roots.len()
    }

    fn dim(&self) -> usize {
        self.tape.dim
    }

    fn loss(&self, i: usize, theta: &[f64]) -> f64 {
        let t = &self.tape;
        with_scratch(|s| {
            s.fit(t.ops.len(), 0, t.dim);
            values(&t.ops, &t.consts, &t.cones[i], theta, &mut s.val);
            s.val[t.roots[i] as usize]
        })
    }

    fn gradient(&self, i: usize, theta: &[f64], grad: &mut [f64]) {
        let t = &self.tape;
        let n = t.dim;
        with_scratch(|s| {
            if t.forward_mode() {
                if t.jet_over::<false>(Some(i), theta, s) {
                    grad.copy_from_slice(t.jet_slot(s, t.roots[i]).1);
                } else {
                    grad.fill(f64::NAN);
                }
                return;
            }
            s.fit(t.ops.len(), 0, n);
            let regular = {
                let Scratch { val, d1, d2, .. } = &mut *s;
                forward::<f64, false>(&t.ops, &t.consts, &t.cones[i], theta, val, d1, d2)
            };
            t.gradient_after_forward(i, s, regular, grad);
        });
    }

    fn hvp(&self, i: usize, theta: &[f64], v: &[f64], hvp: &mut [f64]) {
        let t = &self.tape;
        with_scratch(|s| {
            if t.hvp_into(i, theta, v, s) {
                hvp.copy_from_slice(&s.hv[..t.dim]);
            } else {
                hvp.fill(f64::NAN);
            }
        });
    }

    fn hvp_add(&self, i: usize, theta: &[f64], v: &[f64], scale: f64, out: &mut [f64]) {
        let t = &self.tape;
        with_scratch(|s| {
            if t.hvp_into(i, theta, v, s) {
                for (o, &h) in out.iter_mut().zip(&s.hv[..t.dim]) {
                    *o += scale * h;
                }
            } else {
                out.fill(f64::NAN);
            }
        });
    }

    /// Up to [`FORWARD_HVP_MAX_N`] parameters one second-order sweep over the whole tape
    /// gives every objective's Hessian at its root, the same numbers the K sweeps over the
    /// cones give; a value that is not finite anywhere makes some objective's HVP, and so
    /// the sum, NaN in both. Beyond it, per objective.
    fn hvps_add(&self, theta: &[f64], directions: &[f64], scale: f64, out: &mut [f64]) {
        let t = &self.tape;
        let n = t.dim;
        if !t.forward_up_to(FORWARD_HVP_MAX_N) {
            hvps_add_per_objective(self, theta, directions, scale, out);
            return;
        }
        with_scratch(|s| {
            if !t.jet_over::<true>(None, theta, s) {
                out.fill(f64::NAN);
                return;
            }
            for (i, v) in directions.chunks_exact(n).enumerate() {
                t.jet_hvp(i, v, s, |p, x| out[p] += scale * x);
            }
        });
    }

    fn losses_and_gradients(&self, theta: &[f64], losses: &mut [f64], gradients: &mut [f64]) {
        let t = &self.tape;
        let n = t.dim;
        with_scratch(|s| {
            if t.forward_mode() {
                if t.jet_and_read::<false>(None, theta, s, Some((losses, gradients))) {
                    return;
                }
                // Some value is not finite: find in whose cones, from a value sweep (rare).
                s.fit(t.ops.len(), 0, n);
                values(&t.ops, &t.consts, &t.all, theta, &mut s.val);
                for (i, grad) in gradients.chunks_exact_mut(n.max(1)).enumerate() {
                    if !t.finite_over(Some(i), &s.val) {
                        grad.fill(f64::NAN);
                    }
                }
                return;
            }
            s.fit(t.ops.len(), 0, n);
            let regular = {
                let Scratch { val, d1, d2, .. } = &mut *s;
                forward::<f64, false>(&t.ops, &t.consts, &t.all, theta, val, d1, d2)
            };
            for (i, loss) in losses.iter_mut().enumerate() {
                *loss = s.val[t.roots[i] as usize];
                let grad = &mut gradients[i * n..(i + 1) * n];
                t.gradient_after_forward(i, s, regular, grad);
            }
        });
    }

    fn fuses_sum_hessian(&self) -> bool {
        self.tape.forward_mode() && self.tape.forward_up_to(FORWARD_HESSIAN_MAX_N)
    }

    fn additive_terms(&self) -> Option<&dyn Objectives<f64>> {
        self.terms.as_deref().map(|t| t as &dyn Objectives<f64>)
    }

    fn losses_gradients_and_sum_hessian(
        &self,
        theta: &[f64],
        losses: &mut [f64],
        gradients: &mut [f64],
        hessian: &mut [f64],
    ) {
        let t = &self.tape;
        let n = t.dim;
        // One second-order sweep gives all three where the Hessian comes from the forward
        // mode (the value and gradient rules do not depend on whether Hessians ride along,
        // so they are the first-order sweep's bits). A sweep that met a non-finite value, and
        // the other back-ends, take the two calls: the NaN rules stay theirs.
        let fused = self.fuses_sum_hessian()
            && with_scratch(|s| {
                if !t.jet_and_read::<true>(None, theta, s, Some((&mut *losses, &mut *gradients))) {
                    return false;
                }
                sum_root_hessians(t, s, n, hessian);
                true
            });
        if !fused {
            self.losses_and_gradients(theta, losses, gradients);
            self.sum_hessian(theta, hessian);
        }
    }

    fn sum_hessian(&self, theta: &[f64], out: &mut [f64]) {
        let t = &self.tape;
        let n = t.dim;
        with_scratch(|s| {
            if t.forward_up_to(FORWARD_HESSIAN_MAX_N) {
                if !t.jet_over::<true>(None, theta, s) {
                    out.fill(f64::NAN);
                    return;
                }
                sum_root_hessians(t, s, n, out);
                return;
            }
            let w_max = HESSIAN_BLOCK.min(n.max(1));
            s.fit(t.ops.len(), w_max, n);
            let regular = {
                let Scratch { val, d1, d2, .. } = &mut *s;
                forward::<f64, true>(&t.ops, &t.consts, &t.all, theta, val, d1, d2)
            };
            if !regular {
                out.fill(f64::NAN);
                return;
            }
            for start in (0..n).step_by(w_max) {
                let w = w_max.min(n - start);
                unit_seeds(&mut s.seed[..n * w], start, w, 0.0, 1.0);
                t.hessian_lanes(None, s, w);
                for r in 0..n {
                    for l in 0..w {
                        out[r * n + start + l] = s.hv[r * w + l];
                    }
                }
            }
            symmetrize(out, n);
        });
    }

    fn enclose_sum_gradient(&self, x: &[Interval]) -> Option<Vec<Interval>> {
        self.tape.enclose(x, false).map(|(s, _)| s)
    }

    fn enclose_sum_hessian(&self, x: &[Interval]) -> Option<Vec<Interval>> {
        self.tape.enclose(x, true).map(|(_, h)| h)
    }
}

#[cfg(test)]
mod tests;
