//! The searches run from each start, all through the flow driver ([`crate::flow::solve_with`]):
//! a trust-region Newton search on `s = 0`, B-flow (Armijo), loss-flow and ascent (L-BFGS on
//! ±Σ L), the last three ending in a Newton polish.

use std::ops::ControlFlow;

use super::certify::{CertifiedBoxes, Kind};
use crate::flow::{
    ArmijoParams, Descent, LbfgsParams, Limits, Newton, NewtonParams, NoObserver, Objective,
    Observation, Observer, StepRule, StopReason, solve_with,
};
use crate::objectives::{Evaluator, Objectives};
use crate::real::all_finite;

/// A thread's evaluators for searching: one over the problem's objectives, and one over
/// their additive terms ([`Objectives::additive_terms`]) where they split, which B-flow
/// descends on. Everything else — Newton, loss-flow, ascent and every polish — needs only
/// `Σ g_i` and `Σ H_i`, which do not depend on the split. With them the thread's solvers,
/// reused from search to search (each run starts them afresh: [`Solver::init`]), so that a
/// search allocates no buffers of its own.
pub(crate) struct Evaluators<'o> {
    objectives: Evaluator<'o, f64>,
    terms: Option<Evaluator<'o, f64>>,
    newton: Newton<f64>,
    /// B-flow, loss-flow and ascent, each made on its first search.
    descents: [Option<Descent<f64>>; 3],
}

impl<'o> Evaluators<'o> {
    pub(crate) fn new(objectives: &'o dyn Objectives<f64>) -> Self {
        Self {
            objectives: Evaluator::new(objectives),
            terms: objectives.additive_terms().map(Evaluator::new),
            newton: Newton::new(NewtonParams::default()),
            descents: [None, None, None],
        }
    }
}

/// The limits of a map's searches, made once per map (they hold the regions).
pub(crate) struct SearchLimits {
    /// Newton searches and polishes: steps up to [`NEWTON_MAX_STEP`] of the scale.
    newton: Limits<f64>,
    /// Mode starts' Newton searches: steps up to [`MODE_MAX_STEP`] of the scale.
    mode: Limits<f64>,
    bflow: Limits<f64>,
    /// Loss-flow and ascent.
    lossflow: Limits<f64>,
}

/// Steps without a [`NEWTON_STAGNATION_DECREASE`] gain in `‖s‖` after which a map's Newton
/// search (or polish) gives up.
const NEWTON_STAGNATION_STEPS: usize = 10;

/// The relative gain in `‖s‖` that counts as progress for a map's Newton search: 10 %
/// within [`NEWTON_STAGNATION_STEPS`] steps. Near a simple zero Newton gains far more than that
/// in one step; a search that gains less over ten is crawling into a local minimum of
/// `‖s‖` that is not a zero. With 1 % (the rule before) such crawls took 20–30 steps: on the
/// 4-D Gaussian wells of seed 11, 847 of 1024 Newton searches, 40 % of the map's steps;
/// with 10 % the same equilibrium sets as with 1 % on 266 problem/seed maps (docs/MAPPING.md,
/// 264 of them the proven set). The price:
/// a few searches that crawl and then find a zero after all now end unresolved (3-D wells
/// of seed 1: 324 of 512 Newton searches reach an equilibrium, 384 with 1 %; the saddle they
/// lost keeps 238 Newton hits of 298).
const NEWTON_STAGNATION_DECREASE: f64 = 0.1;

/// The balance at which a map's B-flow search hands over to its Newton polish. B-flow's
/// Armijo steps converge linearly while Newton converges quadratically once ‖s‖ is a tenth
/// of the gradients' size (B = 1e-2); running B-flow on to B = 1e-14 only delayed the
/// polish. Measured on the example problems and nine Gaussian-well problems (2-D to 5-D)
/// at four seeds each: the same complete maps, in 0.36–0.77× the time (docs/MAPPING.md).
const BFLOW_HANDOFF_B: f64 = 1e-2;

/// The longest step of a B-flow, loss-flow or ascent search (and their line searches' first
/// trial), as a fraction of the scale.
const DESCENT_MAX_STEP: f64 = 0.05;

/// The longest Newton step of a search, as a fraction of the scale.
const NEWTON_MAX_STEP: f64 = 0.25;

/// The trust radius cap of a mode start's Newton search ([`SearchContext::mode_newton`]), as
/// a fraction of the scale: on a fresh 4-D Gaussian-well instance (`gaussian_wells.py 4 8
/// 55`, map seed 2) Newton with steps up to ¼ of the scale from its maxima's mode starts
/// missed an index-3 saddle that steps of 1/20 reach.
pub(crate) const MODE_MAX_STEP: f64 = 0.05;

/// How far outside the region, as a fraction of its scale, a converged Newton search's end
/// still counts as inside: an equilibrium on the boundary polishes to either side of it.
pub(crate) const INSIDE_SLACK: f64 = 1e-9;

/// Steps without a [`BFLOW_STAGNATION_DECREASE`] gain in `‖s‖` after which a map's B-flow
/// search stops (and is polished, or reported spurious). On the 4-D Gaussian wells 224 of 1024
/// B-flow searches settled at a positive minimum of B and spent 200 steps each there, 86 % of
/// all B-flow steps; with this rule the same complete maps on 154 problem/seed cases, the 4-D
/// map in 0.54× the time.
const BFLOW_STAGNATION_STEPS: usize = 20;

/// The relative gain in `‖s‖` that counts as progress for a map's B-flow search: 10 % within
/// [`BFLOW_STAGNATION_STEPS`] steps. A B-flow that gains less crawls along a valley of B: into
/// a positive minimum of B (spurious) or, slowly, towards the hand-off; the polish then starts
/// from where it is (on the 3-D wells of seed 1, polishes from B = 0.012–0.021 converged). With 1 %
/// (the rule before) such crawls ran 100–200 steps; on the 3-D Gaussian wells of seed 1 B-flow
/// took 25 640 steps, with 10 % 16 008, its outcomes and hits unchanged.
const BFLOW_STAGNATION_DECREASE: f64 = 0.1;

/// A way of searching for an equilibrium from one start.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Searcher {
    /// Trust-region Newton on `s(θ) = 0` with the exact `J = Σ H_i`: converges to any
    /// nondegenerate zero of s — minimum, saddle or maximum of `Σ L`, whether or not every
    /// `g_i` vanishes there — and does not depend on how `Σ L` is split into objectives.
    Newton,
    /// B-flow (exact ∇B, Armijo steps), then a Newton polish: reaches equilibria where some
    /// `g_i ≠ 0`; near a point where every `g_i` vanishes B tends to a direction-dependent
    /// limit, not 0, so B-flow rarely ends there. Its B is that of the objectives' additive
    /// terms where they split ([`Objectives::additive_terms`]: a problem file's objectives
    /// split at their top-level `+` and `−`), so how the same terms are grouped into
    /// objectives does not change where it goes.
    Bflow,
    /// Loss-flow (L-BFGS on `Σ L`), then a Newton polish (none when it ends in a known
    /// minimum's box, [`known_block`](super::known_block)): reaches minima of `Σ L` only.
    Lossflow,
    /// Ascent on `Σ L` (loss-flow on `−Σ L`), then a Newton polish (none when it ends in a
    /// known maximum's box): reaches maxima of `Σ L`
    /// only.
    Ascent,
}

impl Searcher {
    /// `"newton"`, `"bflow"`, `"lossflow"` or `"ascent"`.
    pub fn name(self) -> &'static str {
        match self {
            Searcher::Newton => "newton",
            Searcher::Bflow => "bflow",
            Searcher::Lossflow => "lossflow",
            Searcher::Ascent => "ascent",
        }
    }

    /// Parses a name as [`name`](Self::name) gives it.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "newton" => Some(Searcher::Newton),
            "bflow" => Some(Searcher::Bflow),
            "lossflow" => Some(Searcher::Lossflow),
            "ascent" => Some(Searcher::Ascent),
            _ => None,
        }
    }
}

impl std::fmt::Display for Searcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What became of one search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The search and the polish reached an equilibrium inside the region (or the search
    /// entered the certified box of an equilibrium the map knows:
    /// [`known_block`](super::known_block)).
    Equilibrium,
    /// The polish failed from a B-flow end point with `B > √ε`: a minimum of B, not an
    /// equilibrium.
    Spurious,
    /// The search or the polish left the region.
    Escaped,
    /// A value became NaN or infinite.
    Diverged,
    /// The search ended without reaching an equilibrium for another reason (a stationary
    /// point of `‖s‖` that is not a zero, a polish that did not converge, a loss-flow run that
    /// did not settle).
    Unresolved,
}

/// One search from one start.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SearchRecord {
    /// Which search.
    pub searcher: Searcher,
    /// What became of it.
    pub outcome: Outcome,
    /// The polished equilibrium — or, for a search that ended in the certified box of a
    /// known equilibrium ([`known_block`](super::known_block)), that equilibrium's point —
    /// or the search's end point (finite values only).
    pub point: Option<Vec<f64>>,
    /// B at the search's end point (before the polish, or where it entered a known
    /// equilibrium's box; `None` where undefined); for B-flow,
    /// B of the split it descended (see [`Searcher::Bflow`]).
    #[serde(rename = "B")]
    pub b: Option<f64>,
    /// Steps of the search.
    pub steps: usize,
    /// Steps of the Newton polish.
    pub polish_steps: usize,
}

/// Every search from one start; enough to rebuild a map from the records alone.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StartRecord {
    /// The start's index in the full sequence.
    pub index: usize,
    /// The start point.
    pub start: Vec<f64>,
    /// One record per searcher, in the map's searcher order.
    pub searches: Vec<SearchRecord>,
}

/// The certified uniqueness boxes of the equilibria a map found in earlier blocks of starts
/// ([`Certificate`]'s `unique_radius`): the Krawczyk test proved that such a box holds
/// exactly one equilibrium, and that the Newton operator preconditioned at its centre maps
/// the box into itself. A Newton search or polish whose iterate enters one ends there, at
/// that equilibrium, instead of polishing it for its last two to four steps; loss-flow ends
/// in the box of a minimum and ascent in that of a maximum, the equilibria they descend to,
/// and skip their polish. B-flow's descent watches none (it hands over to its polish far
/// outside any box); its polish, like every polish, watches every box. For Newton the box
/// is where the proven operator contracts; for loss-flow and ascent, whose line searches may
/// step farther than a box is wide, ending there is a heuristic — on the 742 maps of
/// docs/MAPPING.md none ended elsewhere for it. A search that would have stalled after
/// entering a box (Newton's steps, unlike the proven operator's, use the Jacobian at each
/// iterate) now ends at the box's equilibrium instead of `Unresolved`; one whose iterate
/// entered, just outside the region, the box of an equilibrium on its boundary ends there
/// instead of `Escaped`.
///
/// [`Certificate`]: super::certify::Certificate
#[derive(Debug, Default)]
pub(crate) struct KnownEquilibria {
    any: CertifiedBoxes,
    minima: CertifiedBoxes,
    maxima: CertifiedBoxes,
}

impl KnownEquilibria {
    /// The boxes of `(index, centre, radius, kind)`; those without a finite positive radius
    /// are left out.
    pub(crate) fn new(boxes: &[(usize, &[f64], f64, Option<Kind>)]) -> Self {
        let of = |kind: Option<Kind>| {
            CertifiedBoxes::new(
                boxes
                    .iter()
                    .filter(|b| kind.is_none() || b.3 == kind)
                    .map(|&(k, centre, r, _)| (k, centre, r)),
            )
        };
        Self {
            any: of(None),
            minima: of(Some(Kind::Minimum)),
            maxima: of(Some(Kind::Maximum)),
        }
    }
}

/// Runs `run` with an observer that stops it when an iterate enters one of `boxes`; the
/// run's result and the centre of the box entered, if one was.
fn watching<R>(
    boxes: &CertifiedBoxes,
    run: impl FnOnce(&mut dyn Observer<f64>) -> R,
) -> (R, Option<Vec<f64>>) {
    if boxes.is_empty() {
        return (run(&mut NoObserver), None);
    }
    let mut entered = None;
    let mut arrived = |at: &Observation<'_, f64>| match boxes.centre_holding(at.theta) {
        Some(centre) => {
            entered = Some(centre.to_vec());
            ControlFlow::Break(())
        }
        None => ControlFlow::Continue(()),
    };
    let result = run(&mut arrived);
    (result, entered)
}

/// Whether every coordinate of `theta` lies in its side of `region`, grown by `slack` at
/// both ends.
pub(crate) fn inside_region(region: &[(f64, f64)], theta: &[f64], slack: f64) -> bool {
    theta
        .iter()
        .zip(region)
        .all(|(&x, &(lo, hi))| x >= lo - slack && x <= hi + slack)
}

/// What every search of one map shares.
pub(crate) struct SearchContext {
    pub region: Vec<(f64, f64)>,
    pub scale: f64,
    /// The problem's gradient scale (largest `Σ‖g_i‖` over 16 points of the region).
    pub gscale: f64,
    limits: SearchLimits,
}

impl SearchContext {
    /// The context of a map over `region` whose Newton searches may roam `search_region` (the
    /// region grown by a quarter of each side: they may leave the region for a while), with
    /// the region's `scale`, the problem's gradient scale `gscale` and the searches' step
    /// budgets.
    pub(crate) fn new(
        region: Vec<(f64, f64)>,
        search_region: Vec<(f64, f64)>,
        (scale, gscale): (f64, f64),
        bflow_steps: usize,
        newton_steps: usize,
        lossflow_steps: usize,
    ) -> Self {
        let newton_limits = |max_step: f64| Limits {
            max_steps: newton_steps,
            floor_steps: Some(1),
            // Newton's steps shrink ‖s‖ fast near a zero; 10 steps that never get 10 % below
            // the best ‖s‖ so far are a crawl into a local minimum of ‖s‖, which no budget
            // turns into a zero.
            stagnation_steps: Some(NEWTON_STAGNATION_STEPS),
            stagnation_decrease: NEWTON_STAGNATION_DECREASE,
            step_tolerance: Some(1e-12 * scale),
            region: Some(search_region.clone()),
            max_step: Some(max_step * scale),
            ..Limits::default()
        };
        let cap = DESCENT_MAX_STEP * scale;
        let limits = SearchLimits {
            newton: newton_limits(NEWTON_MAX_STEP),
            mode: newton_limits(MODE_MAX_STEP),
            bflow: Limits {
                max_steps: bflow_steps,
                target_b: Some(BFLOW_HANDOFF_B),
                // A B-flow that settles at a positive minimum of B (spurious) would spend
                // its whole budget there.
                stagnation_steps: Some(BFLOW_STAGNATION_STEPS),
                stagnation_decrease: BFLOW_STAGNATION_DECREASE,
                // B is O(1) away from equilibria: ‖∇B‖·scale ≤ 1e-10 is a stationary
                // point of B.
                gradient_tolerance: Some(1e-10 / scale),
                region: Some(region.clone()),
                max_step: Some(cap),
                ..Limits::default()
            },
            lossflow: Limits {
                max_steps: lossflow_steps,
                gradient_tolerance: Some(1e-4 * gscale),
                region: Some(region.clone()),
                max_step: Some(cap),
                ..Limits::default()
            },
        };
        Self {
            region,
            scale,
            gscale,
            limits,
        }
    }

    pub(crate) fn inside(&self, theta: &[f64], slack: f64) -> bool {
        inside_region(&self.region, theta, slack)
    }

    /// The largest `‖s‖` a polished point may have: `√ε` of the problem's gradient scale.
    /// Newton stops at the floor `4ε Σ‖g_i‖`; this guards its step-size stop (a step below
    /// the resolution of θ), which could otherwise accept a point where `s` lies in the
    /// null space of J.
    fn residual_tolerance(&self) -> f64 {
        f64::EPSILON.sqrt() * self.gscale
    }

    /// Newton on `s = 0` from `start` under `limits` (the searches' or the mode starts'),
    /// watched by `observer` (a run it stops is `Unresolved`): the converged point and the
    /// steps taken, or why not.
    fn newton_under(
        &self,
        eval: &mut Evaluator<'_, f64>,
        solver: &mut Newton<f64>,
        start: &[f64],
        limits: &Limits<f64>,
        observer: &mut dyn Observer<f64>,
    ) -> (Result<Vec<f64>, Outcome>, usize) {
        let Some(r) = solve_with(eval, start, solver, limits, observer).ok() else {
            return (Err(Outcome::Diverged), 0);
        };
        let converged = matches!(
            r.stop,
            StopReason::FloorReached | StopReason::ExactEquilibrium
        ) || (r.stop == StopReason::StepTolerance
            && r.sum_norm <= self.residual_tolerance());
        let result = match r.stop {
            _ if converged && self.inside(&r.theta, INSIDE_SLACK * self.scale) => Ok(r.theta),
            _ if converged => Err(Outcome::Escaped),
            StopReason::Escaped => Err(Outcome::Escaped),
            StopReason::NonFinite => Err(Outcome::Diverged),
            _ => Err(Outcome::Unresolved),
        };
        (result, r.steps)
    }

    /// [`newton_under`](Self::newton_under) ended where an iterate enters one of the `known`
    /// boxes, at that box's equilibrium.
    fn newton_until_known(
        &self,
        eval: &mut Evaluator<'_, f64>,
        solver: &mut Newton<f64>,
        start: &[f64],
        known: &KnownEquilibria,
    ) -> (Result<Vec<f64>, Outcome>, usize) {
        let limits = &self.limits.newton;
        match watching(&known.any, |o| {
            self.newton_under(eval, solver, start, limits, o)
        }) {
            ((_, steps), Some(centre)) => (Ok(centre), steps),
            (run, None) => run,
        }
    }

    /// A mode start's search: trust-region Newton with a radius of at most [`MODE_MAX_STEP`]
    /// of the scale (a Levenberg–Marquardt step where the Newton step is longer), short steps
    /// that keep near the Newton flow `θ' = −J⁻¹ s`, whose basins are bounded by the folds
    /// where `J` is singular — so a start past the fold between an extremum and a saddle
    /// tends to the saddle, where long steps can jump anywhere. The equilibrium reached, if
    /// any; `None` also when an iterate enters one of the `known` boxes (equilibria's
    /// certified uniqueness boxes, [`Certificate`]'s `unique_radius`), where the Krawczyk test proved the Newton operator a contraction
    /// with that equilibrium its only zero: the search would end there, at an equilibrium
    /// the map has, and its last steps (two or three of a mode search's eight or so) would
    /// only polish it.
    ///
    /// [`Certificate`]: super::certify::Certificate
    pub(crate) fn mode_newton(
        &self,
        evals: &mut Evaluators<'_>,
        start: &[f64],
        known: &CertifiedBoxes,
    ) -> Option<Vec<f64>> {
        let (eval, solver, limits) = (&mut evals.objectives, &mut evals.newton, &self.limits.mode);
        match watching(known, |o| self.newton_under(eval, solver, start, limits, o)) {
            ((result, _), None) => result.ok(),
            (_, Some(_)) => None,
        }
    }

    /// The descent solver of `searcher` (B-flow, loss-flow or ascent), steps capped at
    /// [`DESCENT_MAX_STEP`] of the scale.
    fn descent(&self, searcher: Searcher) -> Descent<f64> {
        // Interpolated backtracking (`ArmijoParams::interpolate`): 3–5 % fewer instructions
        // than halving on the maps of E4 and the example wells, the same equilibria on every
        // map of the proven suite (docs/MAPPING.md).
        let line_search = ArmijoParams {
            initial: DESCENT_MAX_STEP * self.scale,
            interpolate: true,
            ..ArmijoParams::default()
        };
        // Loss-flow and ascent descend a smooth function to a minimum: L-BFGS gets there in
        // a fraction of the Armijo steps. B-flow keeps Armijo steps: B is flat far from
        // equilibria and L-BFGS's curvature pairs mislead it there.
        let lbfgs = StepRule::Lbfgs(LbfgsParams {
            line_search,
            ..LbfgsParams::default()
        });
        match searcher {
            Searcher::Bflow => Descent::new(Objective::Balance, StepRule::Armijo(line_search)),
            Searcher::Ascent => Descent::new(Objective::NegatedTotalLoss, lbfgs),
            _ => Descent::new(Objective::TotalLoss, lbfgs),
        }
    }

    /// Runs `searcher` from `start`; it ends early where it enters a `known` box.
    pub(crate) fn search(
        &self,
        evals: &mut Evaluators<'_>,
        searcher: Searcher,
        start: &[f64],
        known: &KnownEquilibria,
    ) -> SearchRecord {
        let Evaluators {
            objectives: eval,
            terms,
            newton,
            descents,
        } = evals;
        let mut record = SearchRecord {
            searcher,
            outcome: Outcome::Diverged,
            point: None,
            b: None,
            steps: 0,
            polish_steps: 0,
        };
        if searcher == Searcher::Newton {
            let (result, steps) = self.newton_until_known(eval, newton, start, known);
            record.steps = steps;
            match result {
                Ok(p) => {
                    record.outcome = Outcome::Equilibrium;
                    record.point = Some(p);
                }
                Err(o) => record.outcome = o,
            }
            return record;
        }
        let (slot, limits) = match searcher {
            Searcher::Bflow => (0, &self.limits.bflow),
            Searcher::Lossflow => (1, &self.limits.lossflow),
            _ => (2, &self.limits.lossflow),
        };
        let solver = descents[slot].get_or_insert_with(|| self.descent(searcher));
        let descent_eval = match (searcher, terms.as_mut()) {
            (Searcher::Bflow, Some(terms)) => terms,
            _ => &mut *eval,
        };
        let boxes = match searcher {
            Searcher::Lossflow => &known.minima,
            Searcher::Ascent => &known.maxima,
            _ => &CertifiedBoxes::default(),
        };
        let (run, entered) = watching(boxes, |o| {
            solve_with(descent_eval, start, solver, limits, o).ok()
        });
        let Some(r) = run else {
            return record;
        };
        record.steps = r.steps;
        record.b = r.b;
        if let Some(centre) = entered {
            record.outcome = Outcome::Equilibrium;
            record.point = Some(centre);
            return record;
        }
        let end = all_finite(&r.theta).then(|| r.theta.clone());
        match r.stop {
            StopReason::Escaped => {
                record.outcome = Outcome::Escaped;
                record.point = end;
                return record;
            }
            StopReason::NonFinite => return record,
            _ => {}
        }
        // Loss-flow and ascent only end near an equilibrium when they settled at a
        // stationary point.
        if searcher != Searcher::Bflow && r.sum_norm > 1e-3 * self.gscale {
            record.outcome = Outcome::Unresolved;
            record.point = end;
            return record;
        }
        let (polished, steps) = self.newton_until_known(eval, newton, &r.theta, known);
        record.polish_steps = steps;
        match polished {
            Ok(p) => {
                record.outcome = Outcome::Equilibrium;
                record.point = Some(p);
            }
            Err(Outcome::Escaped) => {
                record.outcome = Outcome::Escaped;
                record.point = end;
            }
            Err(_) => {
                // Spurious: B-flow settled at a positive minimum of B. A polish that failed
                // after B-flow handed over at BFLOW_HANDOFF_B is not that.
                let settled = r.stop != StopReason::TargetReached;
                record.outcome = match (searcher, r.b) {
                    (Searcher::Bflow, Some(b)) if settled && b > f64::EPSILON.sqrt() => {
                        Outcome::Spurious
                    }
                    _ => Outcome::Unresolved,
                };
                record.point = end;
            }
        }
        record
    }
}
