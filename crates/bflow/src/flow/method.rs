//! What to run: the [`Method`] (which objective, which solver) with the parameters each one
//! uses, as enums that carry their own settings.

use crate::error::{Error, Result};
use crate::linalg::MinresParams;
use crate::real::Real;

/// Which flow or solver a run uses, with its own parameters. Checked by
/// [`Method::validate`] when the run starts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Method<F> {
    /// Descent on `Σ L_i` (gradient `s = Σ g_i`).
    LossFlow(StepRule<F>),
    /// Descent on the balance residual B with its exact gradient
    /// `∇B = (2/Q) Σ_i H_i (s − B g_i)` (K gradients and K HVPs per step).
    BFlow(StepRule<F>),
    /// Descent on B with ∇B by central differences of B (`2n` evaluations of B per step): the
    /// seed's B-flow, kept so its runs can be repeated exactly.
    BFlowCentral {
        /// How each step is sized.
        rule: StepRule<F>,
        /// The difference step per coordinate (the seed's is `1e-4`).
        h: F,
    },
    /// Loss-flow until `|I + ½| = B/2 < eps_switch`, then B-flow.
    TwoPhase {
        /// The loss-flow phase's step rule.
        loss: StepRule<F>,
        /// The B-flow phase's step rule.
        balance: StepRule<F>,
        /// The switch threshold on `|I + ½|`.
        eps_switch: F,
    },
    /// A trust-region Newton method on `s(θ) = 0` (see [`super::newton`]).
    Newton(NewtonParams<F>),
}

impl<F: Real> Method<F> {
    /// The method's name, as on the command line and in reports: `"loss-flow"`, `"B-flow"`,
    /// `"B-flow (central differences)"`, `"two-phase"`, `"newton"`.
    pub fn name(&self) -> &'static str {
        match self {
            Method::LossFlow(_) => "loss-flow",
            Method::BFlow(_) => "B-flow",
            Method::BFlowCentral { .. } => "B-flow (central differences)",
            Method::TwoPhase { .. } => "two-phase",
            Method::Newton(_) => "newton",
        }
    }

    /// The step rule's name: `"fixed"`, `"armijo"`, `"lbfgs"` (two-phase: its loss phase's),
    /// or `"trust-region"` for Newton.
    pub fn rule_name(&self) -> &'static str {
        match self {
            Method::LossFlow(r)
            | Method::BFlow(r)
            | Method::BFlowCentral { rule: r, .. }
            | Method::TwoPhase { loss: r, .. } => r.name(),
            Method::Newton(_) => "trust-region",
        }
    }

    /// Checks that the method can move on `k` objectives: with one objective B ≡ 1 has no
    /// gradient, so the methods that descend B (B-flow, its central-difference form and
    /// two-phase, whose second phase is B-flow) cannot.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`method`) for a B-flow method and `k = 1`.
    pub fn check_objectives(&self, k: usize) -> Result<()> {
        let descends_balance = matches!(
            self,
            Method::BFlow(_) | Method::BFlowCentral { .. } | Method::TwoPhase { .. }
        );
        if k == 1 && descends_balance {
            return Err(invalid(
                "method".into(),
                "with one objective B ≡ 1 has no gradient, so B-flow cannot move".into(),
            ));
        }
        Ok(())
    }

    /// Checks every parameter's range.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the first parameter out of range.
    pub fn validate(&self) -> Result<()> {
        match self {
            Method::LossFlow(r) | Method::BFlow(r) => r.validate(""),
            Method::BFlowCentral { rule, h } => {
                positive("h", *h)?;
                rule.validate("")
            }
            Method::TwoPhase {
                loss,
                balance,
                eps_switch,
            } => {
                positive("eps_switch", *eps_switch)?;
                loss.validate("loss.")?;
                balance.validate("balance.")
            }
            Method::Newton(p) => p.validate(),
        }
    }
}

impl<F: Real> std::fmt::Display for Method<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

fn invalid(name: String, reason: String) -> Error {
    Error::InvalidParameter { name, reason }
}

fn positive<F: Real>(name: &str, x: F) -> Result<()> {
    if x.is_finite() && x > F::zero() {
        Ok(())
    } else {
        Err(invalid(
            name.to_string(),
            format!("must be finite and > 0, got {x}"),
        ))
    }
}

/// How a descent method sizes each step along the negative gradient of its objective `f`
/// (`Σ L_i` or B).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StepRule<F> {
    /// `θ ← θ − η ∇f` with a fixed η (the seed's rule).
    Fixed {
        /// η.
        step: F,
    },
    /// Backtracking (Armijo) line search along `−∇f`; for `Σ L` it switches to Hager and
    /// Zhang's approximate Wolfe test below the loss's resolution.
    Armijo(ArmijoParams<F>),
    /// Limited-memory BFGS direction with the same line search.
    Lbfgs(LbfgsParams<F>),
}

impl<F: Real> StepRule<F> {
    /// A fixed step η.
    pub fn fixed(step: F) -> Self {
        StepRule::Fixed { step }
    }

    /// Armijo with default parameters.
    pub fn armijo() -> Self {
        StepRule::Armijo(ArmijoParams::default())
    }

    /// L-BFGS with default parameters.
    pub fn lbfgs() -> Self {
        StepRule::Lbfgs(LbfgsParams::default())
    }

    /// `"fixed"`, `"armijo"` or `"lbfgs"`.
    pub fn name(&self) -> &'static str {
        match self {
            StepRule::Fixed { .. } => "fixed",
            StepRule::Armijo(_) => "armijo",
            StepRule::Lbfgs(_) => "lbfgs",
        }
    }

    fn validate(&self, prefix: &str) -> Result<()> {
        match self {
            StepRule::Fixed { step } => positive(&format!("{prefix}step"), *step),
            StepRule::Armijo(a) => a.validate(&format!("{prefix}armijo")),
            StepRule::Lbfgs(l) => l.validate(&format!("{prefix}lbfgs")),
        }
    }
}

/// Backtracking line search parameters: the sufficient-decrease (Armijo) condition
/// `f(θ + αd) ≤ f(θ) + c₁ α ∇f(θ)ᵀd`, trying `α, ρα, ρ²α, …`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ArmijoParams<F> {
    /// The first trial α of the run (default 1).
    pub initial: F,
    /// The backtracking factor ρ ∈ (0, 1) (default 0.5).
    pub shrink: F,
    /// After an accepted step the next search starts from `grow · α` (default 2; 1 = start
    /// each search at the last accepted α). L-BFGS starts every search after the first at
    /// α = 1.
    pub grow: F,
    /// The sufficient-decrease constant c₁ ∈ (0, 1) (default 1e-4).
    pub c1: F,
    /// Trial points per step before the search gives up (default 30).
    pub max_trials: usize,
    /// After a rejected trial whose value is defined, try the minimiser of the quadratic
    /// through `f(θ)`, the slope `∇f(θ)ᵀd` and `f(θ + αd)`, kept within `[α/10, ρα]`
    /// (Nocedal & Wright, *Numerical Optimization*, §3.5), instead of `ρα` (default `false`:
    /// `α, ρα, ρ²α, …` as above). Where `Σ L` changes by less than its rounding and the
    /// approximate Wolfe test decides, the next trial is `ρα` either way.
    pub interpolate: bool,
}

impl<F: Real> Default for ArmijoParams<F> {
    fn default() -> Self {
        Self {
            initial: F::one(),
            shrink: F::lit(0.5),
            grow: F::lit(2.0),
            c1: F::lit(1e-4),
            max_trials: 30,
            interpolate: false,
        }
    }
}

impl<F: Real> ArmijoParams<F> {
    fn validate(&self, prefix: &str) -> Result<()> {
        let open01 = |x: F| x.is_finite() && x > F::zero() && x < F::one();
        positive(&format!("{prefix}.initial"), self.initial)?;
        if !open01(self.shrink) {
            return Err(invalid(
                format!("{prefix}.shrink"),
                format!("must be in (0, 1), got {}", self.shrink),
            ));
        }
        if !(self.grow.is_finite() && self.grow >= F::one()) {
            return Err(invalid(
                format!("{prefix}.grow"),
                format!("must be finite and ≥ 1, got {}", self.grow),
            ));
        }
        if !open01(self.c1) {
            return Err(invalid(
                format!("{prefix}.c1"),
                format!("must be in (0, 1), got {}", self.c1),
            ));
        }
        if self.max_trials == 0 {
            return Err(invalid(
                format!("{prefix}.max_trials"),
                "must be ≥ 1".into(),
            ));
        }
        Ok(())
    }
}

/// The largest L-BFGS memory accepted: each pair costs 2n floats, allocated at the start.
pub const MAX_LBFGS_MEMORY: usize = 1000;

/// L-BFGS parameters (Nocedal & Wright, *Numerical Optimization*, Algorithms 7.4 and 7.5).
/// A pair `(Δθ, Δ∇f)` is stored only when `Δθᵀ Δ∇f > 0`; a direction that is not a descent
/// direction resets the memory.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LbfgsParams<F> {
    /// How many pairs are kept (default 7).
    pub memory: usize,
    /// The backtracking search; its `initial` is used only for the first step.
    pub line_search: ArmijoParams<F>,
}

impl<F: Real> Default for LbfgsParams<F> {
    fn default() -> Self {
        Self {
            memory: 7,
            line_search: ArmijoParams::default(),
        }
    }
}

impl<F: Real> LbfgsParams<F> {
    fn validate(&self, prefix: &str) -> Result<()> {
        if self.memory == 0 || self.memory > MAX_LBFGS_MEMORY {
            return Err(invalid(
                format!("{prefix}.memory"),
                format!("must be in 1..={MAX_LBFGS_MEMORY}, got {}", self.memory),
            ));
        }
        self.line_search.validate(&format!("{prefix}.line_search"))
    }
}

/// How the Newton step's linear algebra is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinearSolver {
    /// Dense (the Hessian of `Σ L` from n HVP sweeps, an eigendecomposition) up to
    /// `dense_max_n`, matrix-free above (the default).
    Auto,
    /// Always dense.
    Dense,
    /// Always matrix-free (truncated MINRES over HVPs).
    MatrixFree,
}

/// Parameters of the trust-region Newton method on `s(θ) = 0` ([`super::newton`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NewtonParams<F> {
    /// The first trust radius; `None` (the default): the length of the first full Newton
    /// step, capped by the run's step cap.
    pub initial_radius: Option<F>,
    /// A trial is accepted when the achieved reduction of `‖s‖²` is at least this fraction
    /// of the reduction the linear model predicts (default 1e-4).
    pub accept_ratio: F,
    /// Trials (radius reductions) per step before giving up (default 30).
    pub max_trials: usize,
    /// Dense or matrix-free linear algebra (default [`LinearSolver::Auto`]).
    pub linear_solver: LinearSolver,
    /// The largest n for dense linear algebra under [`LinearSolver::Auto`] (default 200).
    pub dense_max_n: usize,
    /// Eigenvalues with `|λ| ≤ singular_tolerance · max|λ|` are treated as zero in the dense
    /// Newton step (a pseudo-inverse; default `√ε`).
    pub singular_tolerance: F,
    /// The matrix-free solve.
    pub minres: MinresParams<F>,
}

impl<F: Real> Default for NewtonParams<F> {
    fn default() -> Self {
        Self {
            initial_radius: None,
            accept_ratio: F::lit(1e-4),
            max_trials: 30,
            linear_solver: LinearSolver::Auto,
            dense_max_n: 200,
            singular_tolerance: F::epsilon().sqrt(),
            minres: MinresParams::default(),
        }
    }
}

impl<F: Real> NewtonParams<F> {
    fn validate(&self) -> Result<()> {
        if let Some(r) = self.initial_radius {
            positive("newton.initial_radius", r)?;
        }
        let open01 = |x: F| x.is_finite() && x > F::zero() && x < F::one();
        if !open01(self.accept_ratio) {
            return Err(invalid(
                "newton.accept_ratio".into(),
                format!("must be in (0, 1), got {}", self.accept_ratio),
            ));
        }
        if !open01(self.singular_tolerance) {
            return Err(invalid(
                "newton.singular_tolerance".into(),
                format!("must be in (0, 1), got {}", self.singular_tolerance),
            ));
        }
        if self.max_trials == 0 {
            return Err(invalid("newton.max_trials".into(), "must be ≥ 1".into()));
        }
        self.minres.validate("newton.minres")
    }

    /// True when a problem of dimension n gets the dense linear algebra.
    pub fn dense_for(&self, n: usize) -> bool {
        match self.linear_solver {
            LinearSolver::Auto => n <= self.dense_max_n,
            LinearSolver::Dense => true,
            LinearSolver::MatrixFree => false,
        }
    }
}
