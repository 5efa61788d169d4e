//! Compiling expression trees into one flat instruction list (SSA over slots), with common
//! subexpressions shared across all objectives.

use std::collections::HashMap;

use super::sweep::TapeScalar;
use crate::interval::Interval;
use crate::objectives::expr::{Expr, Func};

/// One instruction. Instruction `k` writes slot `k`; operands are earlier slots, so the list
/// is in topological order (SSA). A literal constant that is one operand of `+ − × ÷` is
/// carried in the instruction (`AddConst`, …) instead of taking a slot: `a − c` becomes
/// `a + (−c)`, which is the same IEEE operation. Nothing is reassociated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Op {
    /// `θ_j`.
    Var(u32),
    /// Entry `i` of the tape's constant table: a subtree without variables, evaluated once
    /// at compile time (in `f64` exactly as the tree evaluates, and as a rigorous interval).
    Const(u32),
    /// `−a`.
    Neg(u32),
    /// `a + b`.
    Add(u32, u32),
    /// `a − b`.
    Sub(u32, u32),
    /// `a × b`.
    Mul(u32, u32),
    /// `a ÷ b`.
    Div(u32, u32),
    /// `a + c`, `c` a literal.
    AddConst(u32, f64),
    /// `a × c`.
    MulConst(u32, f64),
    /// `c − a`.
    ConstSub(f64, u32),
    /// `a ÷ c`.
    DivConst(u32, f64),
    /// `c ÷ a`.
    ConstDiv(f64, u32),
    /// `aⁿ`.
    PowI(u32, i32),
    /// `aᵖ`, real `p`.
    PowF(u32, f64),
    /// `f(a)`.
    Call(Func, u32),
}

/// A subtree without variables, evaluated once: its `f64` value (bitwise what evaluating
/// the tree gives) and whether every node on the way was finite, and its interval enclosure
/// and whether every interval on the way was bounded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Constant {
    pub(crate) value: f64,
    pub(crate) finite: bool,
    pub(crate) enclosure: Interval,
    pub(crate) bounded: bool,
}

impl Constant {
    fn literal(c: f64) -> Self {
        Constant {
            value: c,
            finite: c.is_finite(),
            enclosure: Interval::point(c),
            bounded: c.is_finite(),
        }
    }

    /// `e`'s operation applied to constant operands.
    fn apply(e: &Expr, args: &[Constant]) -> Self {
        let value = node_value(e, &args.iter().map(|a| a.value).collect::<Vec<_>>());
        let enclosure = node_value(e, &args.iter().map(|a| a.enclosure).collect::<Vec<_>>());
        Constant {
            value,
            finite: value.is_finite() && args.iter().all(|a| a.finite),
            enclosure,
            bounded: enclosure.is_bounded() && args.iter().all(|a| a.bounded),
        }
    }
}

/// The value of `e`'s own operation on `args` (its children's values), as the tree and the
/// forward sweep evaluate it.
fn node_value<S: TapeScalar>(e: &Expr, args: &[S]) -> S {
    let a = args.first().copied().unwrap_or(S::cst(f64::NAN));
    let b = args.get(1).copied().unwrap_or(S::cst(f64::NAN));
    match e {
        Expr::Const(c) => S::cst(*c),
        Expr::Var(_) => S::cst(f64::NAN),
        Expr::Neg(_) => -a,
        Expr::Add(..) => a + b,
        Expr::Sub(..) => a - b,
        Expr::Mul(..) => a * b,
        Expr::Div(..) => a / b,
        Expr::PowI(_, n) => a.powi(*n),
        Expr::PowF(_, p) => a.powf(S::cst(*p)),
        Expr::Call(f, _) => a.apply(*f),
    }
}

/// The hash-consing key of an instruction: its kind, operand slots and immediate bits.
/// `+` and `×` are commutative in IEEE arithmetic and in interval arithmetic, so their
/// operands are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key(u8, u32, u64);

impl Op {
    fn key(self) -> Key {
        let ordered = |a: u32, b: u32| (a.min(b), u64::from(a.max(b)));
        match self {
            Op::Var(j) => Key(0, j, 0),
            Op::Const(i) => Key(1, i, 0),
            Op::Neg(a) => Key(2, a, 0),
            Op::Add(a, b) => {
                let (a, b) = ordered(a, b);
                Key(3, a, b)
            }
            Op::Sub(a, b) => Key(4, a, u64::from(b)),
            Op::Mul(a, b) => {
                let (a, b) = ordered(a, b);
                Key(5, a, b)
            }
            Op::Div(a, b) => Key(6, a, u64::from(b)),
            Op::AddConst(a, c) => Key(7, a, c.to_bits()),
            Op::MulConst(a, c) => Key(8, a, c.to_bits()),
            Op::ConstSub(c, a) => Key(9, a, c.to_bits()),
            Op::DivConst(a, c) => Key(10, a, c.to_bits()),
            Op::ConstDiv(c, a) => Key(11, a, c.to_bits()),
            // The exponent's bits as an unsigned number (the key only needs to be injective).
            Op::PowI(a, n) => Key(12, a, u64::from(n.cast_unsigned())),
            Op::PowF(a, p) => Key(13, a, p.to_bits()),
            Op::Call(f, a) => Key(14, a, f as u64),
        }
    }

    /// The operand slots (0, 1 or 2 of them).
    pub(crate) fn operands(self) -> ([u32; 2], usize) {
        match self {
            Op::Var(_) | Op::Const(_) => ([0, 0], 0),
            Op::Neg(a)
            | Op::AddConst(a, _)
            | Op::MulConst(a, _)
            | Op::ConstSub(_, a)
            | Op::DivConst(a, _)
            | Op::ConstDiv(_, a)
            | Op::PowI(a, _)
            | Op::PowF(a, _)
            | Op::Call(_, a) => ([a, 0], 1),
            Op::Add(a, b) | Op::Sub(a, b) | Op::Mul(a, b) | Op::Div(a, b) => ([a, b], 2),
        }
    }
}

/// Most instructions a tape may hold (slots are `u32`).
pub const MAX_TAPE_INSTRUCTIONS: usize = 1 << 31;

/// A compiled set of K objectives over n parameters.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Tape {
    /// The instructions, in evaluation order.
    pub(crate) ops: Vec<Op>,
    /// The constants `Op::Const` refers to.
    pub(crate) consts: Vec<Constant>,
    /// The slot holding each objective's value.
    pub(crate) roots: Vec<u32>,
    /// Per objective, the ascending slots its value depends on (its cone, root included).
    pub(crate) cones: Vec<Vec<u32>>,
    /// Every slot, ascending (the cone of `Σ L_i`).
    pub(crate) all: Vec<u32>,
    /// n.
    pub(crate) dim: usize,
    /// True when no instruction calls `abs` or `sign`.
    pub(crate) smooth: bool,
    /// Whether every constant was finite all the way (see [`Constant::finite`]): of the
    /// whole tape, and per cone.
    pub(crate) consts_finite: bool,
    pub(crate) cone_consts_finite: Vec<bool>,
    /// The forward-mode program (chains of unary instructions fused).
    pub(crate) jet: super::jet::JetProgram,
    /// The largest n for forward-mode `f64` derivatives (`FORWARD_MODE_MAX_N`; tests lower
    /// it to check the reverse sweeps on the same problems).
    pub(crate) forward_mode_max_n: usize,
    /// Names the tape for the thread-local record of the sweep held (see [`SweepId`]).
    pub(crate) sweep_id: SweepId,
}

/// What a finished subtree is to its parent while compiling.
#[derive(Debug, Clone, Copy)]
enum Operand {
    /// A literal number of the tree (exact).
    Literal(f64),
    /// A subtree without variables, evaluated.
    Constant(Constant),
    /// A slot.
    Slot(u32),
}

impl Operand {
    fn constant(self) -> Option<Constant> {
        match self {
            Operand::Literal(c) => Some(Constant::literal(c)),
            Operand::Constant(c) => Some(c),
            Operand::Slot(_) => None,
        }
    }
}

/// The children of `e`, in order.
fn children(e: &Expr) -> ([Option<&Expr>; 2], usize) {
    match e {
        Expr::Const(_) | Expr::Var(_) => ([None, None], 0),
        Expr::Neg(a) | Expr::PowI(a, _) | Expr::PowF(a, _) | Expr::Call(_, a) => {
            ([Some(a), None], 1)
        }
        Expr::Add(a, b) | Expr::Sub(a, b) | Expr::Mul(a, b) | Expr::Div(a, b) => {
            ([Some(a), Some(b)], 2)
        }
    }
}

/// Why a set of trees could not be compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CompileError {
    /// More than [`MAX_TAPE_INSTRUCTIONS`] distinct instructions or constants, or more
    /// parameters than a slot index can name.
    TooLarge,
    /// A tree refers to `θ_j` with `j ≥ n`.
    VariableOutOfRange(usize),
}

/// The tape under construction: instructions, constants and the hash-consing index.
#[derive(Default)]
struct Builder {
    ops: Vec<Op>,
    consts: Vec<Constant>,
    index: HashMap<Key, u32>,
    const_index: HashMap<[u64; 3], u32>,
}

impl Builder {
    /// The slot of `op`, appending it unless an identical instruction exists.
    fn intern(&mut self, op: Op) -> Result<u32, CompileError> {
        if let Some(&slot) = self.index.get(&op.key()) {
            return Ok(slot);
        }
        let slot = u32::try_from(self.ops.len()).map_err(|_| CompileError::TooLarge)?;
        if self.ops.len() >= MAX_TAPE_INSTRUCTIONS {
            return Err(CompileError::TooLarge);
        }
        self.ops.push(op);
        self.index.insert(op.key(), slot);
        Ok(slot)
    }

    /// The slot holding a constant.
    fn constant_slot(&mut self, c: Constant) -> Result<u32, CompileError> {
        let key = [
            c.value.to_bits(),
            c.enclosure.lo().to_bits(),
            c.enclosure.hi().to_bits() ^ u64::from(c.finite) ^ (u64::from(c.bounded) << 1),
        ];
        let i = match self.const_index.get(&key) {
            Some(&i) => i,
            None => {
                let i = u32::try_from(self.consts.len()).map_err(|_| CompileError::TooLarge)?;
                self.consts.push(c);
                self.const_index.insert(key, i);
                i
            }
        };
        self.intern(Op::Const(i))
    }

    /// The slot of an operand (a constant gets a `Const` slot).
    fn slot(&mut self, o: Operand) -> Result<u32, CompileError> {
        match o {
            Operand::Slot(s) => Ok(s),
            Operand::Literal(c) => self.constant_slot(Constant::literal(c)),
            Operand::Constant(c) => self.constant_slot(c),
        }
    }

    /// The operand `e` becomes, given its children's operands.
    fn lower(&mut self, e: &Expr, args: &[Operand]) -> Result<Operand, CompileError> {
        match e {
            Expr::Const(c) => return Ok(Operand::Literal(*c)),
            Expr::Var(j) => {
                let j = u32::try_from(*j).map_err(|_| CompileError::TooLarge)?;
                return self.intern(Op::Var(j)).map(Operand::Slot);
            }
            _ => {}
        }
        // A subtree without variables is evaluated now.
        let constants: Option<Vec<Constant>> = args.iter().map(|a| a.constant()).collect();
        if let Some(constants) = constants {
            return Ok(Operand::Constant(Constant::apply(e, &constants)));
        }
        let literal = |o: &Operand| match o {
            Operand::Literal(c) => Some(*c),
            _ => None,
        };
        let (a, b) = (args[0], args.get(1).copied());
        let op = match (e, b) {
            (Expr::Neg(_), _) => Op::Neg(self.slot(a)?),
            (Expr::PowI(_, n), _) => Op::PowI(self.slot(a)?, *n),
            (Expr::PowF(_, p), _) => Op::PowF(self.slot(a)?, *p),
            (Expr::Call(f, _), _) => Op::Call(*f, self.slot(a)?),
            (Expr::Add(..), Some(b)) => match (literal(&a), literal(&b)) {
                (_, Some(c)) => Op::AddConst(self.slot(a)?, c),
                (Some(c), None) => Op::AddConst(self.slot(b)?, c),
                (None, None) => Op::Add(self.slot(a)?, self.slot(b)?),
            },
            (Expr::Sub(..), Some(b)) => match (literal(&a), literal(&b)) {
                (_, Some(c)) => Op::AddConst(self.slot(a)?, -c),
                (Some(c), None) => Op::ConstSub(c, self.slot(b)?),
                (None, None) => Op::Sub(self.slot(a)?, self.slot(b)?),
            },
            (Expr::Mul(..), Some(b)) => match (literal(&a), literal(&b)) {
                (_, Some(c)) => Op::MulConst(self.slot(a)?, c),
                (Some(c), None) => Op::MulConst(self.slot(b)?, c),
                (None, None) => Op::Mul(self.slot(a)?, self.slot(b)?),
            },
            (Expr::Div(..), Some(b)) => match (literal(&a), literal(&b)) {
                (_, Some(c)) => Op::DivConst(self.slot(a)?, c),
                (Some(c), None) => Op::ConstDiv(c, self.slot(b)?),
                (None, None) => Op::Div(self.slot(a)?, self.slot(b)?),
            },
            // Leaves were handled above, and binary nodes always have two operands.
            (Expr::Const(_) | Expr::Var(_), _) | (_, None) => return Err(CompileError::TooLarge),
        };
        self.intern(op).map(Operand::Slot)
    }
}

impl Tape {
    /// Compiles `exprs` over `dim` parameters. Every tree is walked once without recursion
    /// (an explicit stack), so any depth is fine; identical subtrees, within one objective
    /// or across objectives, share one instruction, and subtrees without variables become
    /// one constant each.
    pub(crate) fn compile(exprs: &[Expr], dim: usize) -> Result<Tape, CompileError> {
        if u32::try_from(dim).is_err() {
            return Err(CompileError::TooLarge);
        }
        let mut builder = Builder::default();
        let mut roots = Vec::with_capacity(exprs.len());
        enum Visit<'a> {
            Enter(&'a Expr),
            Exit(&'a Expr),
        }
        let mut stack: Vec<Visit<'_>> = Vec::new();
        let mut done: Vec<Operand> = Vec::new();
        for root in exprs {
            stack.push(Visit::Enter(root));
            while let Some(visit) = stack.pop() {
                match visit {
                    Visit::Enter(e) => {
                        if let Expr::Var(j) = e
                            && *j >= dim
                        {
                            return Err(CompileError::VariableOutOfRange(*j));
                        }
                        stack.push(Visit::Exit(e));
                        let (kids, count) = children(e);
                        for c in kids[..count].iter().rev().flatten() {
                            stack.push(Visit::Enter(c));
                        }
                    }
                    Visit::Exit(e) => {
                        let (_, count) = children(e);
                        let at = done.len() - count;
                        let operand = builder.lower(e, &done[at..])?;
                        done.truncate(at);
                        done.push(operand);
                    }
                }
            }
            let top = done.pop().unwrap_or(Operand::Literal(f64::NAN));
            roots.push(builder.slot(top)?);
        }
        let ops = builder.ops;
        let cones = cones(&ops, &roots);
        let smooth = !ops
            .iter()
            .any(|op| matches!(op, Op::Call(Func::Abs | Func::Sign, _)));
        let all = (0..ops.len() as u32).collect();
        let consts = builder.consts;
        let finite_const = |k: u32| match ops[k as usize] {
            Op::Const(i) => consts[i as usize].finite,
            _ => true,
        };
        let consts_finite = consts.iter().all(|c| c.finite);
        let cone_consts_finite = cones
            .iter()
            .map(|cone: &Vec<u32>| cone.iter().all(|&k| finite_const(k)))
            .collect();
        let jet = super::jet::JetProgram::new(&ops, &roots, &cones);
        Ok(Tape {
            jet,
            ops,
            consts,
            consts_finite,
            cone_consts_finite,
            roots,
            cones,
            all,
            dim,
            smooth,
            forward_mode_max_n: super::FORWARD_MODE_MAX_N,
            sweep_id: SweepId::next(),
        })
    }
}

/// A number no other compiled tape has (a clone keeps it: its sweeps are the same), which
/// names the tape in a thread's record of the forward sweep its buffers hold. Not part of
/// the tape's value: any two ids compare equal.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SweepId(pub(crate) u64);

impl SweepId {
    fn next() -> Self {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        SweepId(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }
}

impl PartialEq for SweepId {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// Per root, the ascending slots it depends on, itself included: a depth-first walk from
/// the root (`stamp` marks what this root's walk has seen), then a sort — O(|cone| log
/// |cone|) per objective, whatever the tape's length.
fn cones(ops: &[Op], roots: &[u32]) -> Vec<Vec<u32>> {
    let mut stamp = vec![0u32; ops.len()];
    let mut stack = Vec::new();
    let mut out = Vec::with_capacity(roots.len());
    for (i, &root) in roots.iter().enumerate() {
        let mark = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let mut cone = Vec::new();
        if mark == u32::MAX {
            // More than 4·10⁹ objectives cannot be held in memory anyway; a cone of every
            // slot up to the root is still a correct (superset) cone.
            out.push((0..=root).collect());
            continue;
        }
        stamp[root as usize] = mark;
        stack.push(root);
        while let Some(k) = stack.pop() {
            cone.push(k);
            let (operands, count) = ops[k as usize].operands();
            for &a in &operands[..count] {
                if stamp[a as usize] != mark {
                    stamp[a as usize] = mark;
                    stack.push(a);
                }
            }
        }
        cone.sort_unstable();
        out.push(cone);
    }
    out
}
