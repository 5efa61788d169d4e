//! When a run stops: the [`Limits`] the driver enforces, and the [`StopReason`] it reports.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::real::Real;

/// Why a run stopped. Stopping is never an error; whether the end is *good* is in the report
/// ([`super::RunReport::floor_reached`]). [`StopReason::is_success`] is false only where the
/// run was forced to stop by a value it could not use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum StopReason {
    /// The step budget was used.
    MaxSteps,
    /// `B ≤ target_b`.
    TargetReached,
    /// `s = Σ g_i` is exactly zero in floating point: nothing further can be gained.
    ExactEquilibrium,
    /// A step left θ unchanged: the iteration is at a fixed point in floating point.
    FixedPoint,
    /// `‖s‖` did not reach a new minimum for `stagnation_steps` steps.
    Stagnated,
    /// `‖s‖` stayed within `FLOOR_FACTOR · ε Σ‖g_i‖` for `floor_steps` iterates, or a line
    /// search found no decrease at such an iterate: no further progress is possible.
    FloorReached,
    /// The work budget `max_evaluations` was used.
    MaxEvaluations,
    /// The wall-clock limit `max_time` was reached.
    TimeLimit,
    /// A line search (or the trust region) found no acceptable trial point above the floor:
    /// the direction is not a usable descent direction, or the objective's own rounding
    /// hides the decrease.
    LineSearchFailed,
    /// The gradient of the objective descended fell below `gradient_tolerance`: a stationary
    /// point of that objective (for B-flow, a minimum of B that may or may not be an
    /// equilibrium).
    GradientTolerance,
    /// The next Newton step is below `step_tolerance` (or within a few ulps of every
    /// coordinate): converged as far as θ can resolve.
    StepTolerance,
    /// The iterate left the region.
    Escaped,
    /// An observer asked the run to stop.
    Interrupted,
    /// The next iterate, a gradient, an HVP or a loss was NaN or infinite; the report keeps
    /// the last finite iterate.
    NonFinite,
    /// Every gradient vanishes (`Q = 0`) at the iterate or a probe: B is 0/0 and B-flow has
    /// no direction. Such a point is stationary for every objective at once.
    Degenerate,
}

impl StopReason {
    /// Every reason, in declaration order.
    pub const ALL: [StopReason; 15] = [
        StopReason::MaxSteps,
        StopReason::TargetReached,
        StopReason::ExactEquilibrium,
        StopReason::FixedPoint,
        StopReason::Stagnated,
        StopReason::FloorReached,
        StopReason::MaxEvaluations,
        StopReason::TimeLimit,
        StopReason::LineSearchFailed,
        StopReason::GradientTolerance,
        StopReason::StepTolerance,
        StopReason::Escaped,
        StopReason::Interrupted,
        StopReason::NonFinite,
        StopReason::Degenerate,
    ];

    /// True unless the run was forced to stop by a non-finite or degenerate value.
    pub fn is_success(self) -> bool {
        !matches!(self, StopReason::NonFinite | StopReason::Degenerate)
    }

    /// The reason's short name, as in JSON (`"max-steps"`, `"fixed-point"`, …).
    pub fn code(self) -> &'static str {
        match self {
            StopReason::MaxSteps => "max-steps",
            StopReason::TargetReached => "target-reached",
            StopReason::ExactEquilibrium => "exact-equilibrium",
            StopReason::FixedPoint => "fixed-point",
            StopReason::Stagnated => "stagnated",
            StopReason::FloorReached => "floor-reached",
            StopReason::MaxEvaluations => "max-evaluations",
            StopReason::TimeLimit => "time-limit",
            StopReason::LineSearchFailed => "line-search-failed",
            StopReason::GradientTolerance => "gradient-tolerance",
            StopReason::StepTolerance => "step-tolerance",
            StopReason::Escaped => "escaped",
            StopReason::Interrupted => "interrupted",
            StopReason::NonFinite => "non-finite",
            StopReason::Degenerate => "degenerate",
        }
    }

    /// The reason in words.
    pub fn describe(self) -> &'static str {
        match self {
            StopReason::MaxSteps => "step budget used",
            StopReason::TargetReached => "target B reached",
            StopReason::ExactEquilibrium => "s = Σ g_i is exactly zero",
            StopReason::FixedPoint => "a step no longer changes θ",
            StopReason::Stagnated => "||s|| stagnated",
            StopReason::FloorReached => "||s|| at the floating-point floor: no further progress",
            StopReason::MaxEvaluations => "work budget (gradient-equivalents) used",
            StopReason::TimeLimit => "time limit reached",
            StopReason::LineSearchFailed => "line search found no decrease",
            StopReason::GradientTolerance => "the objective's gradient is below its tolerance",
            StopReason::StepTolerance => "the Newton step is below its tolerance",
            StopReason::Escaped => "the iterate left the region",
            StopReason::Interrupted => "stopped by an observer",
            StopReason::NonFinite => "a value became non-finite (last finite iterate kept)",
            StopReason::Degenerate => "every gradient vanishes (Q = 0): B undefined",
        }
    }
}

impl From<crate::objectives::Undefined> for StopReason {
    /// Why a flow cannot take its step: B or ∇B is 0/0, or a value is not finite.
    fn from(u: crate::objectives::Undefined) -> Self {
        match u {
            crate::objectives::Undefined::Degenerate => StopReason::Degenerate,
            crate::objectives::Undefined::NonFinite => StopReason::NonFinite,
        }
    }
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.describe())
    }
}

/// The rules the driver stops a run by, whatever the method. Build with [`Default`] and
/// struct update syntax; checked by [`Limits::validate`] when the run starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits<F> {
    /// Step budget (default 1000).
    pub max_steps: usize,
    /// Work budget in gradient-equivalents (gradients + 2 × HVPs, every trial point
    /// included; default: none). Checked before each step, so the last step may overrun it
    /// by one step's work.
    pub max_evaluations: Option<u64>,
    /// Wall-clock limit (default: none), checked before each step and inside long steps
    /// (each line-search trial, each Krylov iteration).
    pub max_time: Option<Duration>,
    /// Stop with [`StopReason::FloorReached`] once `‖s‖ ≤ FLOOR_FACTOR · ε Σ‖g_i‖` has held
    /// at this many consecutive iterates (default: none, so a seed-setting run takes exactly
    /// its budget).
    pub floor_steps: Option<usize>,
    /// Stop when `‖s‖` has not reached a new minimum for this many steps (default: none).
    pub stagnation_steps: Option<usize>,
    /// How much lower than the best so far `‖s‖` must be to count as a new minimum for
    /// `stagnation_steps`, relative: a new minimum is `‖s‖ < (1 − stagnation_decrease) ·
    /// best`. In `[0, 1)`; default 0 (any decrease counts). A positive value stops a search
    /// crawling into a local minimum of `‖s‖` that is not a zero.
    pub stagnation_decrease: F,
    /// Stop once `B ≤ target_b` (default: none).
    pub target_b: Option<F>,
    /// Stop with [`StopReason::GradientTolerance`] once the gradient of the objective
    /// descended (`s` for loss-flow, ∇B for B-flow) has norm ≤ this (default: none).
    pub gradient_tolerance: Option<F>,
    /// Stop with [`StopReason::StepTolerance`] once a Newton step has norm ≤ this or is
    /// within 4 ulps of every coordinate (default: none).
    pub step_tolerance: Option<F>,
    /// A box `[lo_j, hi_j]`: an iterate outside it ends the run with
    /// [`StopReason::Escaped`] (default: none).
    pub region: Option<Vec<(F, F)>>,
    /// The longest step any method may take, `‖Δθ‖ ≤ max_step` (default: none).
    pub max_step: Option<F>,
}

impl<F: Real> Default for Limits<F> {
    fn default() -> Self {
        Self {
            max_steps: 1000,
            max_evaluations: None,
            max_time: None,
            floor_steps: None,
            stagnation_steps: None,
            stagnation_decrease: F::zero(),
            target_b: None,
            gradient_tolerance: None,
            step_tolerance: None,
            region: None,
            max_step: None,
        }
    }
}

impl<F: Real> Limits<F> {
    /// The limits of a user's run as `bflow run` and Python's `bflow.run` take them: the step
    /// budget, the floor window and the stagnation window (0 turns either off) and an
    /// optional time limit; everything else at its default. Always valid
    /// ([`validate`](Self::validate) has nothing to refuse in it).
    pub fn for_run(
        max_steps: usize,
        floor_steps: usize,
        stagnation_steps: usize,
        max_time: Option<Duration>,
    ) -> Self {
        Self {
            max_steps,
            floor_steps: (floor_steps > 0).then_some(floor_steps),
            stagnation_steps: (stagnation_steps > 0).then_some(stagnation_steps),
            max_time,
            ..Self::default()
        }
    }

    /// Checks every limit's range.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the first limit out of range.
    pub fn validate(&self, n: usize) -> Result<()> {
        let at_least_one = |name: &str, v: Option<u64>| {
            if v == Some(0) {
                Err(Error::InvalidParameter {
                    name: name.into(),
                    reason: "must be ≥ 1".into(),
                })
            } else {
                Ok(())
            }
        };
        at_least_one("floor_steps", self.floor_steps.map(|v| v as u64))?;
        at_least_one("stagnation_steps", self.stagnation_steps.map(|v| v as u64))?;
        at_least_one("max_evaluations", self.max_evaluations)?;
        let d = self.stagnation_decrease;
        if d.is_nan() || d < F::zero() || d >= F::one() {
            return Err(Error::InvalidParameter {
                name: "stagnation_decrease".into(),
                reason: format!("must be in [0, 1), got {d}"),
            });
        }
        let non_negative = |name: &str, v: Option<F>| match v {
            Some(t) if t.is_nan() || t < F::zero() => Err(Error::InvalidParameter {
                name: name.into(),
                reason: format!("must be ≥ 0, got {t}"),
            }),
            _ => Ok(()),
        };
        non_negative("target_b", self.target_b)?;
        non_negative("gradient_tolerance", self.gradient_tolerance)?;
        non_negative("step_tolerance", self.step_tolerance)?;
        if let Some(m) = self.max_step
            && !(m.is_finite() && m > F::zero())
        {
            return Err(Error::InvalidParameter {
                name: "max_step".into(),
                reason: format!("must be finite and > 0, got {m}"),
            });
        }
        if let Some(region) = &self.region {
            if region.len() != n {
                return Err(Error::DimensionMismatch {
                    what: "region".into(),
                    expected: n,
                    found: region.len(),
                });
            }
            if let Some(j) = region
                .iter()
                .position(|&(lo, hi)| !(lo.is_finite() && hi.is_finite() && lo < hi))
            {
                return Err(Error::InvalidParameter {
                    name: "region".into(),
                    reason: format!("side {} must be finite with lo < hi", j + 1),
                });
            }
        }
        Ok(())
    }

    /// True when `theta` lies in the region (or there is none).
    pub fn inside(&self, theta: &[F]) -> bool {
        self.region.as_ref().is_none_or(|r| {
            theta
                .iter()
                .zip(r)
                .all(|(&x, &(lo, hi))| x >= lo && x <= hi)
        })
    }
}
