//! A fair comparison: every flow × step rule under one work budget, on a suite of problem
//! classes, with a verdict on each of the seed's claims computed from the measurements.
//!
//! **Work** is counted in gradient-equivalents (one gradient of one objective = 1, one HVP
//! = 2; every line-search trial counts). Every configuration gets the same budget
//! ([`CompareParams::budget`]) and stops early once `||s||` has sat at the floating-point
//! floor (`FLOOR_FACTOR · ε Σ||g_i||`) for [`CompareParams::floor_steps`] iterates.
//!
//! **The suite** ([`suite`]): the seed's E1–E4; random convex split quadratics for
//! K ∈ {2, 4, 8}, n ∈ {10, 100}, κ ∈ {1e1, 1e2, 1e3, 1e4}
//! ([`random_quadratic`](bflow::problems::suite::random_quadratic)); a split whose
//! equilibrium is a saddle of `Σ L_i`; and a Rosenbrock split.
//!
//! **Verdicts** ([`verdicts`]) follow explicit rules on the measured runs; each rule is
//! documented on its function and tested on synthetic data.

use std::time::Instant;

use serde_json::{Value, json};

use bflow::balance::interaction_ratio;
use bflow::error::{Error, Result};
use bflow::flow::{Limits, Method, NewtonParams, Observation, StepRule, StopReason, run_observed};
use bflow::objectives::Evaluator;
use bflow::problems::suite::{
    quadratic_problem, random_quadratic_data, rosenbrock_split, saddle_data,
};
use bflow::problems::{Problem, builtin};
use std::ops::ControlFlow;

/// What kind of stationary point of `Σ L_i` the equilibrium is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EquilibriumKind {
    /// A minimum of `Σ L_i` (loss-flow can converge to it).
    Minimum,
    /// A saddle of `Σ L_i` (loss-flow is repelled along negative curvature).
    Saddle,
    /// Not known in closed form (E4: many equilibria).
    Unknown,
}

/// The formulas of a suite problem as data, so that peers (`benches/peers/peers.py`) can
/// evaluate the same objectives without duplicating problem code.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "class", rename_all = "kebab-case")]
pub enum ProblemSpec {
    /// `L_i = ½ (θ − t_i)ᵀ A_i (θ − t_i)`, `A_i` row-major.
    Quadratic {
        /// `A_i`.
        matrices: Vec<Vec<f64>>,
        /// `t_i`.
        targets: Vec<Vec<f64>>,
    },
    /// `L_i = w ||θ − t_i||² + A Σ_d (1 − cos 2π' (θ_d − t_id))` with `π' = pi`.
    Targets {
        /// `t_i`.
        targets: Vec<Vec<f64>>,
        /// `w`.
        weight: f64,
        /// `A`.
        amplitude: f64,
        /// The π used.
        pi: f64,
    },
    /// `L_1 = (1 − x)²`, `L_2 = 100 (y − x²)²`.
    Rosenbrock,
    /// Objectives known only to bflow (a problem file, or a built-in problem outside the
    /// suite): peers skip it.
    Opaque,
}

/// One problem of the suite, with what the verdicts need to know about it.
#[derive(Debug)]
pub struct SuiteProblem {
    /// The problem (name, objectives, start, known equilibrium).
    pub problem: Problem<f64>,
    /// The class label used to group verdicts (`"seed convex"`, `"quadratic κ=1e3"`, …).
    pub class: String,
    /// The condition number of `Σ A_i` where known.
    pub kappa: Option<f64>,
    /// What the equilibrium is for `Σ L_i`.
    pub kind: EquilibriumKind,
    /// The formulas, for peers.
    pub spec: ProblemSpec,
}

/// A problem from outside the suite (a built-in name or a problem file) made comparable:
/// class `"user"`, the kind of its first known equilibrium from the eigenvalues of the
/// Hessian of Σ L there (unknown without one), no κ, and no formulas for peers.
pub fn user_problem(problem: Problem<f64>) -> SuiteProblem {
    let kind = problem
        .equilibria
        .first()
        .and_then(|e| bflow::map::classify(problem.objectives.as_ref(), e))
        .map_or(EquilibriumKind::Unknown, |c| match c.kind {
            bflow::map::Kind::Minimum => EquilibriumKind::Minimum,
            bflow::map::Kind::Saddle => EquilibriumKind::Saddle,
            _ => EquilibriumKind::Unknown,
        });
    SuiteProblem {
        problem,
        class: "user".into(),
        kappa: None,
        kind,
        spec: ProblemSpec::Opaque,
    }
}

/// How much of the suite to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuiteSize {
    /// Everything (E1–E4, 24 quadratics, saddle, Rosenbrock).
    Full,
    /// E1, E3, E4, two quadratics (K = 2, n = 10, κ ∈ {1e1, 1e3}), saddle, Rosenbrock: for
    /// tests.
    Reduced,
}

/// The seed of the random quadratics (the suite is the same on every machine).
pub const SUITE_SEED: u64 = 2024;

fn seed_problem(name: &str, class: &str, kind: EquilibriumKind) -> Result<SuiteProblem> {
    let problem = builtin::<f64>(name)?;
    let spec = match name {
        "e4" => ProblemSpec::Targets {
            targets: vec![vec![2.0, 1.0], vec![-1.0, 3.0], vec![0.0, -2.0]],
            weight: 1.0,
            amplitude: 5.0,
            pi: bflow::problems::SEED_PI,
        },
        _ => ProblemSpec::Targets {
            targets: seed_targets(name),
            weight: 1.0,
            amplitude: 0.0,
            pi: std::f64::consts::PI,
        },
    };
    Ok(SuiteProblem {
        problem,
        class: class.into(),
        kappa: (kind == EquilibriumKind::Minimum).then_some(1.0),
        kind,
        spec,
    })
}

fn seed_targets(name: &str) -> Vec<Vec<f64>> {
    match name {
        "e1" => vec![vec![3.0], vec![-2.0]],
        "e2" => vec![vec![3.0, 1.0], vec![-1.0, 4.0], vec![1.0, -2.0]],
        _ => vec![
            vec![3.0, 1.0, -2.0, 4.0],
            vec![-1.0, 3.0, 2.0, -3.0],
            vec![0.0, -1.0, 4.0, 2.0],
        ],
    }
}

fn quadratic(k: usize, n: usize, kappa: f64) -> Result<SuiteProblem> {
    let (matrices, targets, start) = random_quadratic_data(k, n, kappa, SUITE_SEED)?;
    let problem = quadratic_problem(
        &format!("quad-k{k}-n{n}-c{kappa:.0e}"),
        &format!("random convex split quadratic, K={k}, n={n}, κ={kappa:.0e}"),
        matrices.clone(),
        targets.clone(),
        start,
    )?;
    Ok(SuiteProblem {
        problem,
        class: format!("quadratic κ={kappa:.0e}"),
        kappa: Some(kappa),
        kind: EquilibriumKind::Minimum,
        spec: ProblemSpec::Quadratic { matrices, targets },
    })
}

/// The comparison suite (see the module docs).
///
/// # Errors
/// Only if a generator rejects its own sizes (a bug); kept as a `Result` for safety.
pub fn suite(size: SuiteSize) -> Result<Vec<SuiteProblem>> {
    let mut out = vec![
        seed_problem("e1", "seed convex", EquilibriumKind::Minimum)?,
        seed_problem("e3", "seed convex", EquilibriumKind::Minimum)?,
    ];
    if size == SuiteSize::Full {
        out.insert(
            1,
            seed_problem("e2", "seed convex", EquilibriumKind::Minimum)?,
        );
    }
    out.push(seed_problem(
        "e4",
        "seed non-convex",
        EquilibriumKind::Unknown,
    )?);
    match size {
        SuiteSize::Full => {
            for k in [2, 4, 8] {
                for n in [10, 100] {
                    for kappa in [1e1, 1e2, 1e3, 1e4] {
                        out.push(quadratic(k, n, kappa)?);
                    }
                }
            }
        }
        SuiteSize::Reduced => {
            out.push(quadratic(2, 10, 1e1)?);
            out.push(quadratic(2, 10, 1e3)?);
        }
    }
    let (matrices, targets, start) = saddle_data();
    out.push(SuiteProblem {
        problem: quadratic_problem(
            "saddle-split",
            "split quadratic whose equilibrium (1/3, −1) is a saddle of Σ L",
            matrices.clone(),
            targets.clone(),
            start,
        )?,
        class: "saddle of Σ L".into(),
        kappa: Some(1.5),
        kind: EquilibriumKind::Saddle,
        spec: ProblemSpec::Quadratic { matrices, targets },
    });
    out.push(SuiteProblem {
        problem: rosenbrock_split(),
        class: "rosenbrock split".into(),
        kappa: None,
        kind: EquilibriumKind::Minimum,
        spec: ProblemSpec::Rosenbrock,
    });
    Ok(out)
}

/// One configuration compared: a flow and a step rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `"B-flow/lbfgs"`, `"newton"`, ….
    pub label: String,
    /// The method, with the seed's fixed steps (η_B = 0.5, η_L = 0.01 before the divisor
    /// `c`; [`Config::method_for`] applies `c`).
    pub method: Method<f64>,
}

impl Config {
    /// The method for a problem with K objectives: the seed's loss-flow step is η_L / c with
    /// c = 1 for K = 2 and c = K (the mean gradient) otherwise.
    pub fn method_for(&self, k: usize) -> Method<f64> {
        let c = loss_divisor(k);
        let scale = |r: StepRule<f64>| match r {
            StepRule::Fixed { step } => StepRule::fixed(step / c),
            other => other,
        };
        match self.method {
            Method::LossFlow(r) => Method::LossFlow(scale(r)),
            Method::TwoPhase {
                loss,
                balance,
                eps_switch,
            } => Method::TwoPhase {
                loss: scale(loss),
                balance,
                eps_switch,
            },
            other => other,
        }
    }
}

/// Every flow × step rule: loss-flow, B-flow and two-phase with the fixed (seed) step,
/// Armijo and L-BFGS, and the trust-region Newton method on s = 0.
pub fn configs() -> Vec<Config> {
    let mut v = Vec::new();
    let rules = |fixed: f64| {
        [
            StepRule::fixed(fixed),
            StepRule::armijo(),
            StepRule::lbfgs(),
        ]
    };
    for (loss, balance) in rules(0.01).into_iter().zip(rules(0.5)) {
        for method in [
            Method::LossFlow(loss),
            Method::BFlow(balance),
            Method::TwoPhase {
                loss,
                balance,
                eps_switch: 1e-3,
            },
        ] {
            v.push(Config {
                label: format!("{}/{}", method.name(), method.rule_name()),
                method,
            });
        }
    }
    // Order by flow, then rule, as the tables show them.
    let order = |c: &Config| {
        ["loss-flow", "B-flow", "two-phase"]
            .iter()
            .position(|m| *m == c.method.name())
    };
    v.sort_by_key(|c| order(c));
    v.push(Config {
        label: "newton".into(),
        method: Method::Newton(NewtonParams::default()),
    });
    v
}

/// The largest work budget per run a comparison takes, in gradient-equivalents: 10⁸, about
/// ten seconds of runs per problem on E4 (2 · 10⁷ took 2 s with `--floor-steps` so large
/// that every run spends its budget), against the default 20 000. A comparison's time grows
/// with its budget; above this it would run for hours.
pub const MAX_BUDGET: u64 = 100_000_000;

/// Settings of a comparison.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CompareParams {
    /// Work budget per run in gradient-equivalents (default 20 000, at most
    /// [`MAX_BUDGET`]).
    pub budget: u64,
    /// Iterates at the floor before a run stops (default 3).
    pub floor_steps: usize,
    /// Keep a (thinned) trace of `||s||` and distance against work (default false).
    pub trace: bool,
}

impl Default for CompareParams {
    fn default() -> Self {
        Self {
            budget: 20_000,
            floor_steps: 3,
            trace: false,
        }
    }
}

impl CompareParams {
    /// # Errors
    /// [`Error::InvalidParameter`] naming `budget` (zero or above [`MAX_BUDGET`]) or
    /// `floor_steps` (zero).
    pub fn validate(&self) -> Result<()> {
        if self.budget == 0 || self.budget > MAX_BUDGET {
            return Err(Error::InvalidParameter {
                name: "budget".into(),
                reason: format!(
                    "must be from 1 to {MAX_BUDGET} gradient-equivalents per run (the \
                     comparison's time grows with it), got {}",
                    self.budget
                ),
            });
        }
        if self.floor_steps == 0 {
            return Err(Error::InvalidParameter {
                name: "floor_steps".into(),
                reason: "must be ≥ 1".into(),
            });
        }
        Ok(())
    }
}

/// One point of a run's precision curve.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct TracePoint {
    /// Work so far (gradient-equivalents).
    pub grad_equivalents: u64,
    /// `||s||`.
    pub sum_norm: f64,
    /// Distance to the known equilibrium.
    pub distance: Option<f64>,
}

/// What one run measured.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunRecord {
    /// Problem name.
    pub problem: String,
    /// Problem class label.
    pub class: String,
    /// Equilibrium kind for `Σ L_i`.
    pub kind: EquilibriumKind,
    /// K.
    pub k: usize,
    /// n.
    pub n: usize,
    /// κ of `Σ A_i` where known.
    pub kappa: Option<f64>,
    /// Configuration label.
    pub config: String,
    /// Flow name.
    pub method: String,
    /// Step rule name.
    pub rule: String,
    /// Stop reason code.
    pub stop: String,
    /// Final `||s||`.
    pub sum_norm: f64,
    /// Final B (`None`: degenerate).
    pub b: Option<f64>,
    /// Final distance to the known equilibrium.
    pub distance: Option<f64>,
    /// Floor estimate `ε Σ||g_i||` at the end.
    pub floor: f64,
    /// `||s|| ≤ FLOOR_FACTOR · floor` at the end.
    pub floor_reached: bool,
    /// Gradient-equivalents when the floor was first reached.
    pub evaluations_to_floor: Option<u64>,
    /// Gradient-equivalents used.
    pub evaluations: u64,
    /// Wall time of the run, seconds.
    pub seconds: f64,
    /// `|B − (1 + 2 I)|` at the end, with I from its definition `Σ_{i<j} g_i·g_j / Q`.
    pub identity_error: Option<f64>,
    /// `Q = Σ||g_i||²` at the known equilibrium (0: B undefined there).
    pub q_at_equilibrium: Option<f64>,
    /// Thinned trace (empty unless asked for).
    pub trace: Vec<TracePoint>,
}

impl RunRecord {
    /// True when the configuration is one of the B-flow family (B-flow with any rule).
    pub fn is_bflow(&self) -> bool {
        self.method == "B-flow"
    }

    /// True for loss-flow with any rule.
    pub fn is_lossflow(&self) -> bool {
        self.method == "loss-flow"
    }

    /// True for two-phase with any rule.
    pub fn is_two_phase(&self) -> bool {
        self.method == "two-phase"
    }
}

fn loss_divisor(k: usize) -> f64 {
    // The seed's c: 1 for K = 2, the mean gradient (c = K) otherwise.
    if k == 2 { 1.0 } else { k as f64 }
}

/// Runs one configuration on one problem and records what it measured.
///
/// # Errors
/// As [`run_observed`] (bad parameters, a start where an objective is not finite).
pub fn run_one(sp: &SuiteProblem, config: &Config, params: &CompareParams) -> Result<RunRecord> {
    let p = &sp.problem;
    let k = p.num_objectives();
    let method = config.method_for(k);
    let limits = Limits {
        max_steps: usize::MAX,
        max_evaluations: Some(params.budget),
        floor_steps: Some(params.floor_steps),
        ..Limits::default()
    };
    let started = Instant::now();
    // A thinned precision curve: every iterate at first, every other one once 800 are kept.
    let mut trace = Vec::new();
    let mut every = 1;
    let mut observe = |at: &Observation<'_, f64>| {
        if params.trace && at.step.is_multiple_of(every) {
            trace.push(TracePoint {
                grad_equivalents: at.counts.gradient_equivalents(),
                sum_norm: at.stats.sum_norm,
                distance: p.distance_to_equilibrium(at.theta),
            });
            if trace.len() >= 800 {
                let mut k = 0;
                trace.retain(|_| {
                    k += 1;
                    k % 2 == 1
                });
                every *= 2;
            }
        }
        ControlFlow::Continue(())
    };
    let report = run_observed(p, &p.start, &method, &limits, &mut observe)?;
    if params.trace
        && trace
            .last()
            .is_none_or(|t| t.grad_equivalents != report.counts.gradient_equivalents())
    {
        trace.push(TracePoint {
            grad_equivalents: report.counts.gradient_equivalents(),
            sum_norm: report.sum_norm,
            distance: report.distance,
        });
    }
    let seconds = started.elapsed().as_secs_f64();
    let mut eval = Evaluator::new(p.objectives.as_ref());
    let identity_error = eval.evaluate(&report.theta).ok().and_then(|(at, _)| {
        // I is invariant under scaling every g_i by one factor: scale by the largest entry
        // so the unscaled Gram sums cannot overflow at diverged iterates.
        let n = p.dim();
        let scale = at.gradient_scale;
        let scaled: Vec<Vec<f64>> = eval
            .gradients()?
            .chunks_exact(n)
            .map(|g| g.iter().map(|x| x / scale).collect())
            .collect();
        let i = interaction_ratio(&scaled).ok().flatten()?;
        Some((at.b()? - (1.0 + 2.0 * i)).abs())
    });
    let q_at_equilibrium = p
        .equilibria
        .first()
        .and_then(|e| eval.evaluate(e).ok())
        .map(|(at, _)| at.scaled_sq_norm * at.gradient_scale * at.gradient_scale);
    Ok(RunRecord {
        problem: p.name.clone(),
        class: sp.class.clone(),
        kind: sp.kind,
        k,
        n: p.dim(),
        kappa: sp.kappa,
        config: config.label.clone(),
        method: method.name().into(),
        rule: method.rule_name().into(),
        stop: report.stop.code().into(),
        sum_norm: report.sum_norm,
        b: report.b,
        distance: report.distance,
        floor: report.floor,
        floor_reached: report.floor_reached,
        evaluations_to_floor: report.evaluations_to_floor,
        evaluations: report.counts.gradient_equivalents(),
        seconds,
        identity_error,
        q_at_equilibrium,
        trace,
    })
}

/// The verdict on one claim.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "verdict", content = "condition", rename_all = "kebab-case")]
pub enum Verdict {
    /// The measurements support the claim as stated.
    Holds,
    /// It holds only under the stated condition.
    HoldsOnlyWhen(String),
    /// The measurements contradict it.
    DoesNotHold,
    /// The suite has no run that can test it.
    NotTested,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::Holds => f.write_str("holds"),
            Verdict::HoldsOnlyWhen(c) => write!(f, "holds only when {c}"),
            Verdict::DoesNotHold => f.write_str("does not hold"),
            Verdict::NotTested => f.write_str("not tested"),
        }
    }
}

/// A claim of the seed, its verdict and the numbers behind it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ClaimVerdict {
    /// 1–5, as numbered in the seed notes.
    pub id: u8,
    /// The claim as the seed states it.
    pub claim: &'static str,
    /// The verdict.
    pub verdict: Verdict,
    /// The measured facts the rule used, in one or two sentences.
    pub evidence: String,
}

/// Everything a comparison measured.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CompareReport {
    /// Work budget per run (gradient-equivalents).
    pub budget: u64,
    /// Iterates at the floor before stopping.
    pub floor_steps: usize,
    /// Every run.
    pub runs: Vec<RunRecord>,
    /// The verdicts on the seed's claims.
    pub verdicts: Vec<ClaimVerdict>,
}

/// Runs every configuration on every problem, sequentially (wall times are not disturbed by
/// sibling threads), and computes the verdicts.
///
/// # Errors
/// [`Error::InvalidParameter`] from [`CompareParams::validate`]; errors of [`run_observed`].
pub fn compare(
    problems: &[SuiteProblem],
    configs: &[Config],
    params: &CompareParams,
) -> Result<CompareReport> {
    params.validate()?;
    let mut runs = Vec::with_capacity(problems.len() * configs.len());
    for sp in problems {
        for c in configs {
            runs.push(run_one(sp, c, params)?);
        }
    }
    Ok(CompareReport {
        budget: params.budget,
        floor_steps: params.floor_steps,
        verdicts: verdicts(&runs),
        runs,
    })
}

/// The seed's claims, as numbered in its notes.
pub const CLAIMS: [&str; 5] = [
    "B = 0 iff Σ g_i = 0",
    "B = 1 + 2I",
    "B-flow converges to equilibrium with precision bounded only by machine epsilon",
    "Loss-flow \"stalls at a saddle\"; B-flow \"reaches equilibrium\"",
    "Two-phase (loss-flow, then B-flow once |I + ½| < ε_switch) is the optimal strategy",
];

/// A verdict rule: measured runs in, verdict and evidence out.
pub type VerdictRule = fn(&[RunRecord]) -> (Verdict, String);

/// All five verdicts (rules on [`verdict_b_zero`], [`verdict_identity`],
/// [`verdict_bflow_precision`], [`verdict_saddle`], [`verdict_two_phase`]).
pub fn verdicts(runs: &[RunRecord]) -> Vec<ClaimVerdict> {
    let rules: [VerdictRule; 5] = [
        verdict_b_zero,
        verdict_identity,
        verdict_bflow_precision,
        verdict_saddle,
        verdict_two_phase,
    ];
    rules
        .iter()
        .enumerate()
        .map(|(i, rule)| {
            let (verdict, evidence) = rule(runs);
            ClaimVerdict {
                id: i as u8 + 1,
                claim: CLAIMS[i],
                verdict,
                evidence,
            }
        })
        .collect()
}

fn unique<'a>(it: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut v: Vec<&str> = Vec::new();
    for x in it {
        if !v.contains(&x) {
            v.push(x);
        }
    }
    v
}

/// Claim 1. Rule: *does not hold* if any end point has `B = 0` with `s ≠ 0` or `s = 0` with
/// `B ≠ 0`; otherwise *holds only when Q > 0* if some problem's equilibrium has `Q = 0`
/// (every `g_i` vanishes, so B is 0/0 exactly where `s = 0`) or a run stopped degenerate;
/// otherwise *holds*.
pub fn verdict_b_zero(runs: &[RunRecord]) -> (Verdict, String) {
    let violations = runs
        .iter()
        .filter(|r| r.b.is_some_and(|b| (b == 0.0) != (r.sum_norm == 0.0)))
        .count();
    let exact = runs.iter().filter(|r| r.sum_norm == 0.0).count();
    let degenerate = unique(
        runs.iter()
            .filter(|r| r.q_at_equilibrium == Some(0.0) || r.stop == "degenerate")
            .map(|r| r.problem.as_str()),
    );
    let evidence = format!(
        "{} end points, {exact} with s = 0 exactly, {violations} where B = 0 and s = 0 disagree \
         (B is computed from s, so they can only disagree through underflow: this checks the \
         arithmetic, the condition below is the mathematics); B undefined (Q = 0) at the \
         equilibrium of: {}",
        runs.len(),
        if degenerate.is_empty() {
            "none".to_string()
        } else {
            degenerate.join(", ")
        }
    );
    let verdict = if violations > 0 {
        Verdict::DoesNotHold
    } else if !degenerate.is_empty() {
        Verdict::HoldsOnlyWhen(format!(
            "some g_i ≠ 0 (Q > 0): at the equilibrium of {} every g_i vanishes and B = 0/0",
            degenerate.join(", ")
        ))
    } else {
        Verdict::Holds
    };
    (verdict, evidence)
}

/// Claim 2. Rule: with I from its definition, the identity holds at every end point when
/// `|B − (1 + 2I)| ≤ 16 K ε` (rounding of the Gram sums); *does not hold* otherwise.
/// Because `1 + 2I` cannot resolve B below ε, the verdict is *holds only when B is computed
/// as ||s||²/Q, not as 1 + 2I* whenever a run measured `B < ε`.
pub fn verdict_identity(runs: &[RunRecord]) -> (Verdict, String) {
    let eps = f64::EPSILON;
    let checked: Vec<&RunRecord> = runs.iter().filter(|r| r.identity_error.is_some()).collect();
    if checked.is_empty() {
        return (Verdict::NotTested, "no end point with B defined".into());
    }
    let worst = checked
        .iter()
        .map(|r| r.identity_error.unwrap_or(0.0) / (16.0 * r.k as f64 * eps))
        .fold(0.0, f64::max);
    let max_err = checked
        .iter()
        .filter_map(|r| r.identity_error)
        .fold(0.0, f64::max);
    let min_b = runs
        .iter()
        .filter_map(|r| r.b)
        .filter(|&b| b > 0.0)
        .fold(f64::INFINITY, f64::min);
    let evidence = format!(
        "max |B − (1 + 2I)| = {max_err:.1e} over {} end points ({worst:.2} of the 16Kε \
         allowance); smallest B measured {min_b:.1e}",
        checked.len()
    );
    let verdict = if worst > 1.0 {
        Verdict::DoesNotHold
    } else if min_b < eps {
        Verdict::HoldsOnlyWhen(format!(
            "read as an identity: evaluated as 1 + 2I it cannot resolve B below ε = {eps:.1e}, \
             while B itself was measured down to {min_b:.1e}"
        ))
    } else {
        Verdict::Holds
    };
    (verdict, evidence)
}

/// The best run (first to the floor, else smallest `||s||/floor`) among `runs` for one
/// problem.
fn best<'a>(runs: impl Iterator<Item = &'a RunRecord>) -> Option<&'a RunRecord> {
    runs.min_by(|a, b| {
        let key = |r: &RunRecord| {
            (
                !r.floor_reached,
                r.evaluations_to_floor.unwrap_or(u64::MAX),
                r.sum_norm / r.floor.max(f64::MIN_POSITIVE),
            )
        };
        let (ka, kb) = (key(a), key(b));
        ka.0.cmp(&kb.0)
            .then(ka.1.cmp(&kb.1))
            .then(ka.2.total_cmp(&kb.2))
    })
}

fn problems_of(runs: &[RunRecord]) -> Vec<&str> {
    unique(runs.iter().map(|r| r.problem.as_str()))
}

/// Claim 3. Rule: over problems with a known equilibrium where `Q > 0`, take B-flow's best
/// step rule per problem. *Holds* if it reached the floor on every one, *does not hold* if
/// on none, else *holds only when* the problem is in one of the classes where it reached
/// the floor on every member; the condition is stated as `κ < (smallest κ missed)` only when
/// κ alone separates the outcomes (every miss has a known κ and no problem at or above that
/// κ reached the floor). The evidence says how many misses used the whole budget.
pub fn verdict_bflow_precision(runs: &[RunRecord]) -> (Verdict, String) {
    let mut reached_classes: Vec<&str> = Vec::new();
    let mut failed_classes: Vec<&str> = Vec::new();
    let mut failures = Vec::new();
    let mut failed_kappas: Vec<Option<f64>> = Vec::new();
    let mut reached_kappas: Vec<Option<f64>> = Vec::new();
    let mut failed_stops: Vec<String> = Vec::new();
    let mut tested = 0;
    for name in problems_of(runs) {
        let of = || runs.iter().filter(move |r| r.problem == name);
        let Some(first) = of().next() else { continue };
        if first.distance.is_none() || first.q_at_equilibrium.is_none_or(|q| q == 0.0) {
            continue;
        }
        let Some(b) = best(of().filter(|r| r.is_bflow())) else {
            continue;
        };
        tested += 1;
        if b.floor_reached {
            if !reached_classes.contains(&first.class.as_str()) {
                reached_classes.push(&first.class);
            }
            reached_kappas.push(first.kappa);
        } else {
            failed_stops.push(b.stop.clone());
            if !failed_classes.contains(&first.class.as_str()) {
                failed_classes.push(&first.class);
            }
            failed_kappas.push(first.kappa);
            failures.push((
                first.class.clone(),
                b.sum_norm / b.floor.max(f64::MIN_POSITIVE),
            ));
        }
    }
    let only: Vec<&str> = reached_classes
        .iter()
        .copied()
        .filter(|c| !failed_classes.contains(c))
        .collect();
    let evidence = format!(
        "B-flow (best of fixed/Armijo/L-BFGS) reached the floor on {} of {tested} problems with a \
         known equilibrium and Q > 0{}",
        tested - failures.len(),
        if failures.is_empty() {
            String::new()
        } else {
            let per_class: Vec<String> = failed_classes
                .iter()
                .map(|c| {
                    let ratios: Vec<f64> = failures
                        .iter()
                        .filter(|(k, _)| k == c)
                        .map(|(_, r)| *r)
                        .collect();
                    let worst = ratios.iter().copied().fold(0.0, f64::max);
                    format!(
                        "{c}: {} (final ||s|| up to {worst:.0e}× the floor)",
                        ratios.len()
                    )
                })
                .collect();
            let budget_used = failed_stops
                .iter()
                .filter(|s| *s == "max-evaluations" || *s == "max-steps")
                .count();
            format!(
                "; missed on {} ({budget_used} of the {} misses used the whole budget; stop \
                 reasons: {})",
                per_class.join(", "),
                failures.len(),
                unique(failed_stops.iter().map(String::as_str)).join(", ")
            )
        }
    );
    // A κ threshold is stated only when κ alone separates the outcomes: every miss has a
    // known κ, and no problem at or above the smallest κ missed reached the floor.
    let missed_kappa: Option<Vec<f64>> = failed_kappas.iter().copied().collect();
    let threshold = missed_kappa
        .filter(|k| !k.is_empty())
        .map(|k| k.iter().copied().fold(f64::INFINITY, f64::min))
        .filter(|&t| !reached_kappas.iter().any(|k| k.is_some_and(|k| k >= t)));
    let verdict = if tested == 0 {
        Verdict::NotTested
    } else if failures.is_empty() {
        Verdict::Holds
    } else if only.is_empty() {
        Verdict::DoesNotHold
    } else if let Some(t) = threshold {
        Verdict::HoldsOnlyWhen(format!(
            "κ(Σ H_i) < {t:.0e} (every problem below it reached the floor; {} at or above it did \
             not within the budget — minimising B squares κ)",
            failures.len()
        ))
    } else {
        Verdict::HoldsOnlyWhen(format!(
            "the problem is in one of the classes {} (missed on some problems of: {}; no single \
             condition number separates the misses from the problems reached)",
            only.join(", "),
            failed_classes.join(", ")
        ))
    };
    (verdict, evidence)
}

/// Claim 4. Rule: on problems whose equilibrium is a saddle of `Σ L_i`, the claim needs
/// loss-flow (every rule) to miss the floor and B-flow (best rule) to reach it. When
/// loss-flow runs end more than 1e-3 from the saddle they were repelled, not stalled, and the
/// verdict says so (*holds only when* read as "cannot reach"); otherwise *holds* when
/// loss-flow also misses on the minimum-kind problems, else *holds only when the equilibrium
/// is a saddle of Σ L* (where it is a minimum, loss-flow with a line search reached it). *Does not hold* if loss-flow reaches the floor at a
/// saddle or B-flow misses it; *not tested* without saddle problems.
pub fn verdict_saddle(runs: &[RunRecord]) -> (Verdict, String) {
    let saddles = unique(
        runs.iter()
            .filter(|r| r.kind == EquilibriumKind::Saddle)
            .map(|r| r.problem.as_str()),
    );
    if saddles.is_empty() {
        return (Verdict::NotTested, "no saddle problem in the suite".into());
    }
    let loss_at_saddle = saddles.iter().any(|p| {
        runs.iter()
            .any(|r| r.problem == *p && r.is_lossflow() && r.floor_reached)
    });
    // "Stalls at a saddle" means ending near it. Loss-flow is repelled along the negative
    // curvature instead: it ends far away (or diverges). Count the loss-flow runs on saddle
    // problems that ended within 1e-3 of the saddle.
    let loss_runs_at_saddles: Vec<&RunRecord> = runs
        .iter()
        .filter(|r| saddles.contains(&r.problem.as_str()) && r.is_lossflow())
        .collect();
    let stalled_near = loss_runs_at_saddles
        .iter()
        .filter(|r| r.distance.is_some_and(|d| d <= 1e-3))
        .count();
    let farthest = loss_runs_at_saddles
        .iter()
        .filter_map(|r| r.distance)
        .fold(0.0_f64, |m, d| {
            if d.is_finite() {
                m.max(d)
            } else {
                f64::INFINITY
            }
        });
    let b_at_saddle = saddles.iter().all(|p| {
        best(runs.iter().filter(|r| r.problem == *p && r.is_bflow()))
            .is_some_and(|r| r.floor_reached)
    });
    let minima: Vec<&str> = unique(
        runs.iter()
            .filter(|r| {
                r.kind == EquilibriumKind::Minimum && r.q_at_equilibrium.is_some_and(|q| q > 0.0)
            })
            .map(|r| r.problem.as_str()),
    );
    let loss_at_minima = minima
        .iter()
        .filter(|p| {
            runs.iter()
                .any(|r| r.problem == **p && r.is_lossflow() && r.floor_reached)
        })
        .count();
    let loss_fixed_e3 = runs
        .iter()
        .find(|r| r.problem == "e3" && r.config == "loss-flow/fixed")
        .map(|r| r.distance.unwrap_or(f64::NAN));
    let loss_ls_e3 = best(runs.iter().filter(|r| r.problem == "e3" && r.is_lossflow()))
        .filter(|r| r.floor_reached)
        .map(|r| (r.config.clone(), r.distance.unwrap_or(f64::NAN)));
    let mut evidence = format!(
        "saddle problems ({}): loss-flow reached the floor: {}; loss-flow runs ending within \
         1e-3 of the saddle: {stalled_near} of {} (farthest end point {farthest:.1e} away); \
         B-flow reached the floor: {}. Minimum-kind problems: loss-flow reached the floor on \
         {loss_at_minima} of {}",
        saddles.join(", "),
        if loss_at_saddle { "yes" } else { "no" },
        loss_runs_at_saddles.len(),
        if b_at_saddle { "yes" } else { "no" },
        minima.len()
    );
    if let (Some(fixed), Some((cfg, d))) = (loss_fixed_e3, loss_ls_e3) {
        evidence.push_str(&format!(
            "; on E3 (a minimum, no saddle) loss-flow ends {fixed:.1e} away with the seed's fixed \
             step but {d:.1e} with {cfg}"
        ));
    }
    let verdict = if loss_at_saddle || !b_at_saddle {
        Verdict::DoesNotHold
    } else if stalled_near < loss_runs_at_saddles.len() {
        // B-flow reaches the saddle and loss-flow does not — but not by stalling there.
        Verdict::HoldsOnlyWhen(
            "read as \"loss-flow cannot reach an equilibrium that is a saddle of Σ L, B-flow \
             can\": loss-flow does not stall at the saddle, it is repelled from it; where the \
             equilibrium is a minimum, loss-flow with a line search reaches the floor too (the \
             seed's E3 \"stall\" is its fixed step)"
                .into(),
        )
    } else if loss_at_minima == 0 {
        Verdict::Holds
    } else {
        Verdict::HoldsOnlyWhen(
            "the equilibrium is a saddle of Σ L; where it is a minimum, loss-flow with a line \
             search reaches the floor too (the seed's E3 \"stall\" is its fixed step)"
                .into(),
        )
    };
    (verdict, evidence)
}

/// Claim 5. Rule: per problem where any configuration reached the floor, the winner is the
/// configuration with the fewest gradient-equivalents to the floor (ties count for every
/// tied configuration, except that a two-phase run tied with loss-flow under the same step
/// rule counts as loss-flow: its B phase brought nothing). *Holds* if two-phase wins every such problem, *holds only when*
/// the problem is one it won (named) if it wins some, *does not hold* if none.
pub fn verdict_two_phase(runs: &[RunRecord]) -> (Verdict, String) {
    let mut tally: Vec<(String, usize)> = Vec::new();
    let mut won: Vec<&str> = Vec::new();
    let mut tied: Vec<&str> = Vec::new();
    let mut decided = 0;
    for name in problems_of(runs) {
        let reached: Vec<&RunRecord> = runs
            .iter()
            .filter(|r| r.problem == name && r.evaluations_to_floor.is_some())
            .collect();
        let Some(min) = reached.iter().filter_map(|r| r.evaluations_to_floor).min() else {
            continue;
        };
        decided += 1;
        let winners: Vec<&&RunRecord> = reached
            .iter()
            .filter(|r| r.evaluations_to_floor == Some(min))
            .collect();
        // A two-phase run tied with loss-flow under the same rule never used its B phase
        // before the floor: that is loss-flow winning, not two-phase.
        let twin_tie = |t: &RunRecord| winners.iter().any(|r| r.is_lossflow() && r.rule == t.rule);
        if winners.iter().any(|r| r.is_two_phase() && !twin_tie(r)) {
            won.push(name);
        } else if winners.iter().any(|r| r.is_two_phase()) {
            tied.push(name);
        }
        let label = winners
            .iter()
            .map(|r| r.config.as_str())
            .collect::<Vec<_>>()
            .join(" = ");
        match tally.iter_mut().find(|(l, _)| *l == label) {
            Some((_, c)) => *c += 1,
            None => tally.push((label, 1)),
        }
    }
    tally.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut evidence = format!(
        "fewest gradient-equivalents to the floor, per problem ({decided} decided): {}",
        tally
            .iter()
            .map(|(l, c)| format!("{l} ×{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if !tied.is_empty() {
        evidence.push_str(&format!(
            "; two-phase only tied with its own loss-flow phase (no gain from switching) on {}",
            tied.join(", ")
        ));
    }
    let verdict = if decided == 0 {
        Verdict::NotTested
    } else if won.len() == decided {
        Verdict::Holds
    } else if won.is_empty() {
        Verdict::DoesNotHold
    } else {
        Verdict::HoldsOnlyWhen(format!("the problem is one of: {}", won.join(", ")))
    };
    (verdict, evidence)
}

/// The suite's problem definitions as JSON for `benches/peers/peers.py`: per problem its
/// name, K, n, formulas ([`ProblemSpec`]), start and known equilibrium.
pub fn peers_input(problems: &[SuiteProblem]) -> Value {
    Value::Array(
        problems
            .iter()
            .filter(|sp| sp.spec != ProblemSpec::Opaque)
            .map(|sp| {
                json!({
                    "name": sp.problem.name,
                    "k": sp.problem.num_objectives(),
                    "n": sp.problem.dim(),
                    "spec": sp.spec,
                    "start": sp.problem.start,
                    "equilibrium": sp.problem.equilibria.first(),
                })
            })
            .collect(),
    )
}

/// One peer run, as `peers.py` reports it.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
pub struct PeerRun {
    /// Problem name.
    pub problem: String,
    /// `"scipy root hybr"`, `"scipy BFGS"`, `"scipy trust-exact"`.
    pub method: String,
    /// Final `||s||`.
    pub sum_norm: Option<f64>,
    /// Final distance to the known equilibrium.
    pub distance: Option<f64>,
    /// `||s|| ≤ FLOOR_FACTOR · ε Σ||g_i||` at the end.
    pub floor_reached: bool,
    /// Calls of the function (loss or s).
    pub nfev: u64,
    /// Calls of the gradient / Jacobian.
    pub njev: u64,
    /// Calls of the Hessian.
    pub nhev: u64,
    /// Work in gradient-equivalents (see `peers.py`).
    pub grad_equivalents: u64,
    /// Wall time, seconds.
    pub seconds: f64,
}

/// Parses `peers.py`'s output.
///
/// # Errors
/// [`Error::InvalidParameter`] (`"peers"`) when the JSON does not have the documented shape.
pub fn parse_peers(text: &str) -> Result<Vec<PeerRun>> {
    serde_json::from_str(text).map_err(|e| Error::InvalidParameter {
        name: "peers".into(),
        reason: format!("peers.py output is not the expected JSON: {e}"),
    })
}

/// One line of the peer comparison: bflow's best configuration against one peer on one
/// problem.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PeerRatio {
    /// Problem name.
    pub problem: String,
    /// bflow's fastest configuration to the floor (or best by `||s||`).
    pub bflow_config: String,
    /// The peer.
    pub peer: String,
    /// Did each reach the floor: (bflow, peer).
    pub floor_reached: (bool, bool),
    /// Peer work / bflow work (gradient-equivalents; bflow's to the floor when reached).
    pub work_ratio: f64,
    /// Peer time / bflow time.
    pub time_ratio: f64,
}

/// Ratios of work and wall time, peer over bflow's best configuration, per problem and peer.
pub fn peer_ratios(runs: &[RunRecord], peers: &[PeerRun]) -> Vec<PeerRatio> {
    peers
        .iter()
        .filter_map(|p| {
            let b = best(runs.iter().filter(|r| r.problem == p.problem))?;
            let work = b.evaluations_to_floor.unwrap_or(b.evaluations).max(1) as f64;
            Some(PeerRatio {
                problem: p.problem.clone(),
                bflow_config: b.config.clone(),
                peer: p.method.clone(),
                floor_reached: (b.floor_reached, p.floor_reached),
                work_ratio: p.grad_equivalents as f64 / work,
                time_ratio: p.seconds / b.seconds.max(1e-9),
            })
        })
        .collect()
}

/// `StopReason` codes, for readers of [`RunRecord::stop`].
pub fn stop_codes() -> [&'static str; 10] {
    [
        StopReason::MaxSteps,
        StopReason::TargetReached,
        StopReason::ExactEquilibrium,
        StopReason::FixedPoint,
        StopReason::Stagnated,
        StopReason::FloorReached,
        StopReason::MaxEvaluations,
        StopReason::LineSearchFailed,
        StopReason::NonFinite,
        StopReason::Degenerate,
    ]
    .map(StopReason::code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(problem: &str, config: &str, reached: bool, to_floor: Option<u64>) -> RunRecord {
        let (method, rule) = config.split_once('/').unwrap_or((config, "trust-region"));
        RunRecord {
            problem: problem.into(),
            class: if problem == "saddle" {
                "saddle of Σ L".into()
            } else {
                format!("class-{problem}")
            },
            kind: if problem == "saddle" {
                EquilibriumKind::Saddle
            } else {
                EquilibriumKind::Minimum
            },
            k: 2,
            n: 2,
            kappa: None,
            config: config.into(),
            method: method.into(),
            rule: rule.into(),
            stop: "floor-reached".into(),
            sum_norm: if reached { 1e-16 } else { 1e-3 },
            b: Some(if reached { 1e-32 } else { 1e-6 }),
            distance: Some(if reached { 1e-16 } else { 1e-3 }),
            floor: 1e-16,
            floor_reached: reached,
            evaluations_to_floor: to_floor,
            evaluations: 1000,
            seconds: 0.01,
            identity_error: Some(1e-17),
            q_at_equilibrium: Some(1.0),
            trace: Vec::new(),
        }
    }

    fn synthetic() -> Vec<RunRecord> {
        vec![
            rec("a", "loss-flow/armijo", true, Some(100)),
            rec("a", "B-flow/lbfgs", true, Some(300)),
            rec("a", "two-phase/lbfgs", true, Some(200)),
            rec("saddle", "loss-flow/armijo", false, None),
            rec("saddle", "B-flow/lbfgs", true, Some(90)),
            rec("saddle", "two-phase/lbfgs", true, Some(90)),
            rec("saddle", "newton", true, Some(40)),
        ]
    }

    #[test]
    fn claim_1_rule() {
        let mut runs = synthetic();
        assert_eq!(verdict_b_zero(&runs).0, Verdict::Holds);
        runs[0].q_at_equilibrium = Some(0.0);
        assert!(
            matches!(verdict_b_zero(&runs).0, Verdict::HoldsOnlyWhen(ref c) if c.contains("a"))
        );
        runs[1].b = Some(0.0); // B = 0 while s ≠ 0
        assert_eq!(verdict_b_zero(&runs).0, Verdict::DoesNotHold);
    }

    #[test]
    fn claim_2_rule() {
        let mut runs = synthetic();
        assert!(matches!(
            verdict_identity(&runs).0,
            Verdict::HoldsOnlyWhen(_)
        ));
        for r in &mut runs {
            r.b = Some(0.5);
        }
        assert_eq!(verdict_identity(&runs).0, Verdict::Holds);
        runs[2].identity_error = Some(1e-10);
        assert_eq!(verdict_identity(&runs).0, Verdict::DoesNotHold);
    }

    #[test]
    fn claim_3_rule() {
        let mut runs = synthetic();
        assert_eq!(verdict_bflow_precision(&runs).0, Verdict::Holds);
        runs[1].floor_reached = false;
        runs[1].evaluations_to_floor = None;
        let (v, evidence) = verdict_bflow_precision(&runs);
        assert!(
            matches!(v, Verdict::HoldsOnlyWhen(ref c) if c.contains("saddle of Σ L")),
            "{v}"
        );
        assert!(
            evidence.contains("1 of 2") && evidence.contains("class-a: 1"),
            "{evidence}"
        );
        let mut with_kappa = runs.clone();
        for r in with_kappa.iter_mut().filter(|r| r.problem == "a") {
            r.kappa = Some(1e3);
        }
        let (v, _) = verdict_bflow_precision(&with_kappa);
        assert!(
            matches!(v, Verdict::HoldsOnlyWhen(ref c) if c.starts_with("κ(Σ H_i) < 1e3")),
            "{v}"
        );
        // A problem reached at a larger κ than the one missed: κ does not separate them, so
        // no κ threshold may be stated.
        for r in with_kappa.iter_mut().filter(|r| r.problem == "saddle") {
            r.kappa = Some(1e4);
        }
        let (v, _) = verdict_bflow_precision(&with_kappa);
        assert!(
            matches!(v, Verdict::HoldsOnlyWhen(ref c) if !c.contains("κ(Σ H_i) <")
                && c.contains("no single condition number")),
            "{v}"
        );
        runs[4].floor_reached = false;
        assert_eq!(verdict_bflow_precision(&runs).0, Verdict::DoesNotHold);
    }

    #[test]
    fn claim_4_rule() {
        let mut runs = synthetic();
        // Loss-flow reaches the floor at the minimum "a": holds only at saddles.
        assert!(matches!(verdict_saddle(&runs).0, Verdict::HoldsOnlyWhen(_)));
        runs[0].floor_reached = false;
        assert_eq!(verdict_saddle(&runs).0, Verdict::Holds);
        // Loss-flow ending far from the saddle was repelled, not stalled: said so.
        let mut repelled = runs.clone();
        for r in repelled
            .iter_mut()
            .filter(|r| r.problem == "saddle" && r.is_lossflow())
        {
            r.distance = Some(1e80);
        }
        let (v, evidence) = verdict_saddle(&repelled);
        assert!(
            matches!(v, Verdict::HoldsOnlyWhen(ref c) if c.contains("repelled")),
            "{v}"
        );
        assert!(evidence.contains("1.0e80 away"), "{evidence}");
        runs[3].floor_reached = true;
        assert_eq!(verdict_saddle(&runs).0, Verdict::DoesNotHold);
        let no_saddle: Vec<RunRecord> = synthetic().into_iter().take(3).collect();
        assert_eq!(verdict_saddle(&no_saddle).0, Verdict::NotTested);
    }

    #[test]
    fn claim_5_rule() {
        let mut runs = synthetic();
        // Loss-flow wins "a", newton wins "saddle": two-phase never fastest.
        let (v, evidence) = verdict_two_phase(&runs);
        assert_eq!(v, Verdict::DoesNotHold);
        assert!(evidence.contains("newton ×1") && evidence.contains("loss-flow/armijo ×1"));
        runs[2].evaluations_to_floor = Some(100); // tie on "a"
        assert!(
            matches!(verdict_two_phase(&runs).0, Verdict::HoldsOnlyWhen(ref c) if c == "the problem is one of: a")
        );
        // A tie with loss-flow under the same rule is loss-flow's win.
        let mut twin = runs.clone();
        twin[0].config = "loss-flow/lbfgs".into();
        twin[0].rule = "lbfgs".into();
        let (v, evidence) = verdict_two_phase(&twin);
        assert_eq!(v, Verdict::DoesNotHold);
        assert!(
            evidence.contains("only tied with its own loss-flow phase"),
            "{evidence}"
        );
        runs[6].evaluations_to_floor = Some(95);
        runs[5].evaluations_to_floor = Some(80);
        assert_eq!(verdict_two_phase(&runs).0, Verdict::Holds);
    }

    #[test]
    fn reduced_suite_runs_and_measures() {
        let problems = suite(SuiteSize::Reduced).unwrap();
        let params = CompareParams {
            budget: 3000,
            trace: true,
            ..CompareParams::default()
        };
        let cfgs = configs();
        assert_eq!(cfgs.len(), 10);
        let rep = compare(&problems, &cfgs, &params).unwrap();
        assert_eq!(rep.runs.len(), problems.len() * 10);
        for r in &rep.runs {
            // Equal budgets: no run exceeds the budget by more than one step's work.
            assert!(
                r.evaluations < 3000 + 2 * 2 * 10 * 8 + 400,
                "{} {}",
                r.problem,
                r.evaluations
            );
            assert!(!r.trace.is_empty());
        }
        let get = |p: &str, c: &str| {
            rep.runs
                .iter()
                .find(|r| r.problem == p && r.config == c)
                .unwrap()
        };
        // Newton reaches the floor on the saddle; loss-flow does not.
        assert!(get("saddle-split", "newton").floor_reached);
        assert!(!get("saddle-split", "loss-flow/lbfgs").floor_reached);
        assert!(get("e3", "loss-flow/lbfgs").floor_reached);
        // The seed's fixed loss-flow step does not reach the floor on E3 within 3000.
        assert!(!get("e3", "loss-flow/fixed").floor_reached);
        assert_eq!(rep.verdicts.len(), 5);
        // Rosenbrock's equilibrium has Q = 0: claim 1 holds only when Q > 0.
        assert!(
            matches!(rep.verdicts[0].verdict, Verdict::HoldsOnlyWhen(ref c) if c.contains("rosenbrock"))
        );
        let peers = peers_input(&problems);
        assert_eq!(peers.as_array().unwrap().len(), problems.len());
        assert_eq!(peers[0]["spec"]["class"], "targets");
    }

    #[test]
    fn peers_output_is_parsed_and_ratioed() {
        let runs = synthetic();
        let text = r#"[{"problem": "a", "method": "scipy BFGS", "sum_norm": 1e-9, "distance": 1e-9,
            "floor_reached": false, "nfev": 20, "njev": 20, "nhev": 0, "grad_equivalents": 40,
            "seconds": 0.02}]"#;
        let peers = parse_peers(text).unwrap();
        let ratios = peer_ratios(&runs, &peers);
        assert_eq!(ratios.len(), 1);
        assert_eq!(ratios[0].bflow_config, "loss-flow/armijo");
        assert!((ratios[0].work_ratio - 0.4).abs() < 1e-12);
        assert!((ratios[0].time_ratio - 2.0).abs() < 1e-12);
        assert!(
            matches!(parse_peers("{"), Err(Error::InvalidParameter { ref name, .. }) if name == "peers")
        );
    }
}
