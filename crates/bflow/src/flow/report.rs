//! What a run returns, whatever its stop reason.

use serde::ser::{Serialize, SerializeStruct, Serializer};

use super::method::Method;
use super::stop::StopReason;
use crate::objectives::EvalCounts;
use crate::real::Real;

/// What a run did and where it ended. Every run returns one, whatever its stop reason.
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport<F: Real> {
    /// The method run (`None` for a custom [`Solver`](super::Solver) run through
    /// [`solve`](super::solve)).
    pub method: Option<Method<F>>,
    /// Why it stopped.
    pub stop: StopReason,
    /// Steps taken (accepted updates of θ).
    pub steps: usize,
    /// Derivative evaluations used (every trial point included).
    pub counts: EvalCounts,
    /// Points evaluated after the start (accepted steps plus rejected trials).
    pub trial_points: usize,
    /// Gradient-equivalents spent when `‖s‖` first came within `FLOOR_FACTOR` of the floor
    /// (`None`: never).
    pub evaluations_to_floor: Option<u64>,
    /// Inner linear-solver iterations (the matrix-free Newton step's MINRES products; 0
    /// otherwise).
    pub linear_iterations: usize,
    /// The last finite iterate.
    pub theta: Vec<F>,
    /// B there (`None` where degenerate).
    pub b: Option<F>,
    /// I there, `(B − 1)/2`.
    pub interaction: Option<F>,
    /// `|I + ½|`, computed as `B/2`.
    pub abs_i_plus_half: Option<F>,
    /// `‖s‖` there.
    pub sum_norm: F,
    /// `Σ L_i` there.
    pub total_loss: F,
    /// The floor estimate `ε Σ ‖g_i‖` there.
    pub floor: F,
    /// True when `‖s‖ ≤ FLOOR_FACTOR · floor`.
    pub floor_reached: bool,
    /// `Σ_i ‖g_i‖` there.
    pub gradient_norm_sum: F,
    /// `max_i ‖g_i‖` there.
    pub max_gradient_norm: F,
    /// Distance to the nearest known equilibrium, where the problem knows one.
    pub distance: Option<F>,
    /// For two-phase: the step at which B-flow took over, if it did.
    pub switched_at: Option<usize>,
    /// Wall-clock seconds.
    pub seconds: f64,
}

impl<F: Real> RunReport<F> {
    /// The method's name (`"custom"` for a custom solver).
    pub fn method_name(&self) -> &'static str {
        self.method.as_ref().map_or("custom", Method::name)
    }

    /// The step rule's name (`"custom"` for a custom solver).
    pub fn rule_name(&self) -> &'static str {
        self.method.as_ref().map_or("custom", Method::rule_name)
    }

    /// `B ≤ √ε`: the end point balances its objectives to within `√ε` relatively, so it is an
    /// equilibrium up to the flow's own tolerance. A minimum of B with `B > 0` sits orders of
    /// magnitude above this.
    pub fn is_equilibrium(&self) -> bool {
        self.b.is_some_and(|b| b <= F::epsilon().sqrt())
    }
}

/// A float as JSON: `null` where not finite.
fn num<F: Real>(x: F) -> Option<f64> {
    let v = x.to_f64_lossy();
    v.is_finite().then_some(v)
}

/// The JSON form of [`EvalCounts`] with its gradient-equivalents.
#[derive(serde::Serialize)]
struct Counts {
    losses: u64,
    gradients: u64,
    hvps: u64,
    gradient_equivalents: u64,
}

impl<F: Real> Serialize for RunReport<F> {
    /// The run as JSON: `method`, `step_rule`, `float`, `stop` (code), `stop_reason` (words),
    /// `steps`, `distance`, `B`, `I`, `abs_I_plus_half`, `sum_norm`, `total_loss`, `floor`,
    /// `floor_reached`, `evaluations_to_floor`, `trial_points`, `equilibrium`, `switched_at`,
    /// `linear_iterations`, `seconds`, `theta`, `evaluations` {losses, gradients, hvps,
    /// gradient_equivalents}. Numbers are `f64`; a non-finite or undefined value is `null`.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("RunReport", 21)?;
        s.serialize_field("method", self.method_name())?;
        s.serialize_field("step_rule", self.rule_name())?;
        s.serialize_field("float", F::NAME)?;
        s.serialize_field("stop", &self.stop)?;
        s.serialize_field("stop_reason", self.stop.describe())?;
        s.serialize_field("steps", &self.steps)?;
        s.serialize_field("distance", &self.distance.and_then(num))?;
        s.serialize_field("B", &self.b.and_then(num))?;
        s.serialize_field("I", &self.interaction.and_then(num))?;
        s.serialize_field("abs_I_plus_half", &self.abs_i_plus_half.and_then(num))?;
        s.serialize_field("sum_norm", &num(self.sum_norm))?;
        s.serialize_field("total_loss", &num(self.total_loss))?;
        s.serialize_field("floor", &num(self.floor))?;
        s.serialize_field("floor_reached", &self.floor_reached)?;
        s.serialize_field("evaluations_to_floor", &self.evaluations_to_floor)?;
        s.serialize_field("trial_points", &self.trial_points)?;
        s.serialize_field("equilibrium", &self.is_equilibrium())?;
        s.serialize_field("switched_at", &self.switched_at)?;
        s.serialize_field("linear_iterations", &self.linear_iterations)?;
        s.serialize_field("seconds", &self.seconds)?;
        let theta: Vec<Option<f64>> = self.theta.iter().map(|&x| num(x)).collect();
        s.serialize_field("theta", &theta)?;
        s.serialize_field(
            "evaluations",
            &Counts {
                losses: self.counts.losses,
                gradients: self.counts.gradients,
                hvps: self.counts.hvps,
                gradient_equivalents: self.counts.gradient_equivalents(),
            },
        )?;
        s.end()
    }
}
