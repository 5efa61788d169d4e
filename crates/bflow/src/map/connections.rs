//! Which minima each index-1 saddle joins: the two ends of its steepest-descent path, and
//! the barriers `Σ L(saddle) − Σ L(minimum)`.
//!
//! An index-1 saddle of `Σ L` (a transition state) has one unstable direction, the
//! eigenvector `v` of the one negative eigenvalue `λ` of the Hessian `H` of `Σ L`. Its
//! unstable manifold is the pair of steepest-descent paths that leave it along `±v`; each
//! ends, generically, at a minimum, and the two minima are the ones the saddle joins (the
//! minimum-energy path through the saddle; Fukui's intrinsic reaction coordinate in
//! chemistry, Wales, *Energy Landscapes*, 2003, §4). [`connect`] follows both paths:
//!
//! 1. **Direction.** `v` and `λ` from [`symmetric_eigen`](crate::linalg::symmetric_eigen) of
//!    the dense Hessian ([`sum_hessian`]). Its sign is fixed so that its largest component
//!    (the first, on ties) is positive: side 0 is `+v`, side 1 is `−v`.
//! 2. **Displacement.** Both paths start at `θ* ± δ v`. `Σ L` there is
//!    `Σ L(θ*) − ½|λ|δ² + O(δ³)`, and `Σ L` is rounded at about `ε R`, `R = Σ_i |L_i(θ*)|`.
//!    [`displacement`] takes `δ` with `½|λ|δ² = √ε R`, a drop of `1/√ε ≈ 7·10⁷` rounding
//!    units, clamped to `[10⁻⁶, 10⁻³] · scale` (the region's largest side): the start is well
//!    inside the quadratic neighbourhood of the saddle (no feature the map resolves is that
//!    close), and its gradient `|λ|δ` stays far above the descent's gradient tolerance.
//! 3. **Descent.** Loss-flow (steepest descent on `Σ L` with Armijo steps; the trial step
//!    grows by 1.5 after an accepted one) through the flow driver, each step at most
//!    `step_cap · scale` (default 1 %) so that the discrete path follows the continuous one
//!    instead of jumping across a ridge into another basin (L-BFGS converges faster but
//!    does not follow the path); stopped by a gradient tolerance `10⁻¹⁰ G` (G: the map's
//!    gradient scale), the step budget, or an escape from the region grown by a quarter of
//!    each side (as the map's searches). A descent that ends with `‖s‖ > 10⁻⁶ G` did not
//!    settle. A path that comes within `r` (Euclidean) of one of the map's minima `p`
//!    whose certified uniqueness box has half-width `r` ends there, at `p`: the Krawczyk
//!    test proved `J = H` nonsingular over the box, and it is positive definite at `p`, so
//!    it is positive definite over the box (its eigenvalues cannot cross zero), and along
//!    the descent flow `d/dt ½‖θ − p‖² = −(θ − p)ᵀ H̄ (θ − p) < 0` (`H̄` the mean of `H` on
//!    the segment, inside the ball): the flow stays in the ball and converges to `p`. The
//!    slow, linear tail of steepest descent to `10⁻¹⁰ G` (a third to a half of a path's
//!    steps) and the polish are then skipped.
//! 4. **Polish and match.** Newton on `s = 0` through the driver (floor stop, step tolerance
//!    `10⁻¹² · scale`, as the map polishes), then the end is matched to the map's
//!    equilibria: within the de-duplication tolerance `√ε · scale`, or inside an
//!    equilibrium's certified uniqueness box (`certified_unique_radius`, ∞-norm). A match
//!    with a minimum gives the connection and its barrier.
//!
//! A side that leaves the region, diverges, does not settle, or ends at an equilibrium that
//! is not one of the map's minima has no minimum (`None`); [`PathEnd`] says which, and the
//! note says more. Every saddle costs two descents, each polished unless it ended in a
//! minimum's ball; the paths run in parallel and are collected in saddle order, so the
//! result does not depend on the thread count, and
//! it depends on the equilibria only (not on the starts that found them): a merged map
//! recomputes exactly the connections of the unsharded one.

use super::certify::CertifiedBoxes;
use super::{Equilibrium, Kind, classify, gradient_scale, scale_of};
use std::ops::ControlFlow;

use crate::flow::{
    ArmijoParams, Limits, Method, NewtonParams, NoObserver, Observation, RunReport, StepRule,
    StopReason, solve_with,
};
use crate::objectives::{Evaluator, Objectives, sum_hessian};
use crate::real::{all_finite, distance};

/// How a steepest-descent path from a saddle ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PathEnd {
    /// At one of the map's minima.
    Minimum,
    /// The descent, or its polished end, left the region.
    LeftRegion,
    /// A value became NaN or infinite (or the saddle's Hessian was not finite).
    Diverged,
    /// The descent did not settle at a stationary point within its budget, or the Newton
    /// polish did not converge.
    Unresolved,
    /// At an equilibrium of the map that is not a minimum (the path ran into another saddle).
    NotAMinimum,
    /// At an equilibrium inside the region that the map does not list.
    Unmapped,
}

impl PathEnd {
    /// `"minimum"`, `"left-region"`, `"diverged"`, `"unresolved"`, `"not-a-minimum"`,
    /// `"unmapped"`.
    pub fn code(self) -> &'static str {
        match self {
            PathEnd::Minimum => "minimum",
            PathEnd::LeftRegion => "left-region",
            PathEnd::Diverged => "diverged",
            PathEnd::Unresolved => "unresolved",
            PathEnd::NotAMinimum => "not-a-minimum",
            PathEnd::Unmapped => "unmapped",
        }
    }
}

/// An index-1 saddle and where its two descent paths end. Indices are into the map's
/// `equilibria`; side 0 leaves along `+v`, side 1 along `−v` (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct Connection {
    /// The saddle's index.
    pub saddle: usize,
    /// The minimum each side reaches (`None`: see `outcomes` and `notes`).
    pub minima: [Option<usize>; 2],
    /// `Σ L(saddle) − Σ L(minimum)` with the map's `loss_sum`s, per side (`None` without a
    /// minimum or where a `Σ L` is not finite).
    pub barriers: [Option<f64>; 2],
    /// Where each side ended: the polished point, or the descent's last finite iterate when
    /// the polish failed (`None` when there is none).
    pub ends: [Option<Vec<f64>>; 2],
    /// How each side ended.
    pub outcomes: [PathEnd; 2],
    /// Why a side reached no minimum (`None` for a side that did).
    pub notes: [Option<String>; 2],
    /// Descent steps per side.
    pub steps: [usize; 2],
    /// The unstable eigenvalue `λ < 0` of the Hessian of `Σ L` at the saddle (NaN when it
    /// could not be computed).
    pub eigenvalue: f64,
    /// The displacement `δ` along `±v` where both descents started.
    pub delta: f64,
}

impl Connection {
    /// True when the two sides reach minima `a` and `b` (in either order).
    pub fn joins(&self, a: usize, b: usize) -> bool {
        self.minima == [Some(a), Some(b)] || self.minima == [Some(b), Some(a)]
    }
}

/// The settings of [`connect`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConnectionParams {
    /// Descent step budget per side (default 10 000).
    pub max_steps: usize,
    /// Newton step budget for the polish (default 100, as the map's).
    pub newton_steps: usize,
    /// The longest descent step as a fraction of the region's scale (default 0.01).
    pub step_cap: f64,
    /// The descent stops once `‖s‖ ≤ gradient_tolerance · G`, G the map's gradient scale
    /// (default 10⁻¹⁰); the Newton polish takes it from there.
    pub gradient_tolerance: f64,
}

impl Default for ConnectionParams {
    fn default() -> Self {
        Self {
            max_steps: 10_000,
            newton_steps: 100,
            step_cap: 0.01,
            gradient_tolerance: 1e-10,
        }
    }
}

/// The displacement `δ` from a saddle along its unstable eigenvector (see the module docs):
/// `½|λ|δ² = √ε R` with `R = Σ_i |L_i|` at the saddle, clamped to `[10⁻⁶, 10⁻³] · scale`
/// (`10⁻⁶ · scale` when `λ` is not negative or `R` is 0 or not finite).
///
/// ```
/// // |λ| = 2, R = 1: ½·2·δ² = √ε, δ = ε^¼ ≈ 1.2e-4 (inside [1e-6, 1e-3] for scale 1).
/// let d = bflow::map::displacement(-2.0, 1.0, 1.0);
/// assert!((d - f64::EPSILON.powf(0.25)).abs() < 1e-18);
/// assert_eq!(bflow::map::displacement(-2.0, 1e30, 1.0), 1e-3);
/// ```
pub fn displacement(eigenvalue: f64, loss_magnitude: f64, scale: f64) -> f64 {
    let (lo, hi) = (1e-6 * scale, 1e-3 * scale);
    let d = (2.0 * f64::EPSILON.sqrt() * loss_magnitude / -eigenvalue).sqrt();
    if d.is_finite() && eigenvalue < 0.0 {
        d.clamp(lo, hi)
    } else {
        lo
    }
}

/// What every descent of one [`connect`] call shares.
struct Context<'a> {
    objectives: &'a dyn Objectives<f64>,
    region: &'a [(f64, f64)],
    /// The region grown by a quarter of each side: a path may leave the region for a while.
    search_region: Vec<(f64, f64)>,
    scale: f64,
    gscale: f64,
    params: ConnectionParams,
    equilibria: &'a [Equilibrium],
    /// The minima's certified boxes: a path ends in the ball inscribed in one.
    balls: CertifiedBoxes,
}

/// One side's result.
struct Side {
    minimum: Option<usize>,
    barrier: Option<f64>,
    end: Option<Vec<f64>>,
    outcome: PathEnd,
    note: Option<String>,
    steps: usize,
}

impl Side {
    fn failed(outcome: PathEnd, end: Option<Vec<f64>>, steps: usize, note: String) -> Self {
        Self {
            minimum: None,
            barrier: None,
            end,
            outcome,
            note: Some(note),
            steps,
        }
    }
}

/// Follows both steepest-descent paths from every nondegenerate equilibrium of Morse index 1
/// among `equilibria` (a saddle, or a maximum when n = 1) and says which of the equilibria
/// (minima) they reach (see the module docs). Connections are in the order of their saddles.
///
/// ```
/// use bflow::map::{ConnectionParams, PathEnd, connect, map_equilibria, MapParams};
/// let problem = bflow::problems::builtin::<f64>("himmelblau-split")?;
/// let map = map_equilibria(&problem, &MapParams { starts: Some(64), ..MapParams::default() })?;
/// let region = problem.region.clone().unwrap();
/// let c = connect(&*problem.objectives, &region, &map.equilibria, &ConnectionParams::default());
/// assert_eq!(c.len(), 4); // four saddles, each joining two of the four minima
/// assert!(c.iter().all(|c| c.outcomes == [PathEnd::Minimum; 2]));
/// assert_eq!(c, map.connections); // the map computes them as it assembles
/// # Ok::<(), bflow::Error>(())
/// ```
pub fn connect(
    objectives: &dyn Objectives<f64>,
    region: &[(f64, f64)],
    equilibria: &[Equilibrium],
    params: &ConnectionParams,
) -> Vec<Connection> {
    let grow = |&(lo, hi): &(f64, f64)| {
        let w = 0.25 * (hi - lo);
        (lo - w, hi + w)
    };
    let ctx = Context {
        objectives,
        region,
        search_region: region.iter().map(grow).collect(),
        scale: scale_of(region),
        gscale: gradient_scale(objectives, region),
        params: *params,
        equilibria,
        balls: CertifiedBoxes::new(
            equilibria
                .iter()
                .enumerate()
                .filter(|(_, e)| e.classification.kind == Kind::Minimum)
                .filter_map(|(k, e)| Some((k, e.point.as_slice(), e.certificate.unique_radius?))),
        ),
    };
    let saddles: Vec<usize> = equilibria
        .iter()
        .enumerate()
        .filter(|(_, e)| {
            e.classification.morse_index == 1 && e.classification.kind != Kind::Degenerate
        })
        .map(|(k, _)| k)
        .collect();
    // Each saddle's unstable direction once, then its two descents as two tasks: the threads
    // share out the paths one by one rather than a saddle's pair at a time.
    let directions: Vec<Option<Unstable>> = saddles.iter().map(|&k| ctx.unstable(k)).collect();
    let paths: Vec<(usize, f64)> = (0..saddles.len())
        .flat_map(|s| [(s, 1.0), (s, -1.0)])
        .collect();
    let mut sides = super::parallel::broadcast_map(
        &paths,
        || Evaluator::new(objectives),
        |eval, &(s, sign)| match &directions[s] {
            Some(u) => ctx.side(eval, saddles[s], u, sign),
            None => {
                let note = "the Hessian of Σ L at the saddle is not finite or has no \
                            negative eigenvalue: no unstable direction to descend along";
                Side::failed(PathEnd::Diverged, None, 0, note.into())
            }
        },
    )
    .into_iter();
    saddles
        .iter()
        .zip(&directions)
        .filter_map(|(&k, u)| {
            let pair = [sides.next()?, sides.next()?];
            let (lambda, delta) = u
                .as_ref()
                .map_or((f64::NAN, f64::NAN), |u| (u.lambda, u.delta));
            Some(assemble(k, pair, lambda, delta))
        })
        .collect()
}

/// A saddle's unstable direction: the eigenvalue `lambda < 0` of the Hessian of `Σ L`, its
/// eigenvector `v` (the largest component, the first on ties, positive) and the displacement
/// `delta` along it at which the descents start.
struct Unstable {
    lambda: f64,
    v: Vec<f64>,
    delta: f64,
}

impl Context<'_> {
    /// The unstable direction of saddle `k`, or `None` when its Hessian is not finite or
    /// has no negative eigenvalue.
    fn unstable(&self, k: usize) -> Option<Unstable> {
        let p = &self.equilibria[k].point;
        let n = p.len();
        let eig = Some(sum_hessian(self.objectives, p))
            .filter(|h| all_finite(h))
            .and_then(|h| crate::linalg::symmetric_eigen(&h, n));
        let (lambda, mut v) = eig
            .as_ref()
            .and_then(|e| e.values.first().map(|&l| (l, e.vector(0))))
            .filter(|(l, _)| *l < 0.0)?;
        let big = v
            .iter()
            .enumerate()
            .fold(0, |b, (j, x)| if x.abs() > v[b].abs() { j } else { b });
        if v[big] < 0.0 {
            v.iter_mut().for_each(|x| *x = -*x);
        }
        let magnitude: f64 = (0..self.objectives.num_objectives())
            .map(|i| self.objectives.loss(i, p).abs())
            .sum();
        let delta = displacement(lambda, magnitude, self.scale);
        Some(Unstable { lambda, v, delta })
    }

    /// The descent from saddle `k` displaced by `sign · delta` along its unstable direction.
    fn side(&self, eval: &mut Evaluator<'_, f64>, k: usize, u: &Unstable, sign: f64) -> Side {
        let saddle = &self.equilibria[k];
        let start: Vec<f64> = saddle
            .point
            .iter()
            .zip(&u.v)
            .map(|(x, d)| x + sign * u.delta * d)
            .collect();
        self.descend(eval, saddle, &start)
    }

    /// Descends from `start`, polishes, and matches the end.
    fn descend(&self, eval: &mut Evaluator<'_, f64>, saddle: &Equilibrium, start: &[f64]) -> Side {
        let cap = self.params.step_cap * self.scale;
        // Growth 1.5 after an accepted step, not the default 2: with halving, 2 brings the
        // search back to the very α it accepted, which can lock at α|λ| just below 2 for a
        // curvature λ, where that component contracts by |1 − α|λ|| ≈ 1 per step (thousands
        // of steps on E4); 1.5 and ½ do not commute back, so α keeps moving.
        let mut solver = Method::LossFlow(StepRule::Armijo(ArmijoParams {
            initial: cap,
            grow: 1.5,
            ..ArmijoParams::default()
        }))
        .solver();
        let limits = Limits {
            max_steps: self.params.max_steps,
            gradient_tolerance: Some(self.params.gradient_tolerance * self.gscale),
            region: Some(self.search_region.clone()),
            max_step: Some(cap),
            ..Limits::default()
        };
        // The path stops on entering a minimum's ball (see the module docs, step 3).
        let mut arrived_at = None;
        let mut arrival = |at: &Observation<'_, f64>| match self.balls.ball_holding(at.theta) {
            Some(k) => {
                arrived_at = Some(self.equilibria[k].point.clone());
                ControlFlow::Break(())
            }
            None => ControlFlow::Continue(()),
        };
        let run = solve_with(eval, start, solver.as_mut(), &limits, &mut arrival);
        if let (Some(p), Ok(r)) = (arrived_at, &run) {
            return self.classify_end(saddle, p, r.steps);
        }
        let r = match run {
            Ok(r) => r,
            Err(e) => {
                return Side::failed(
                    PathEnd::Diverged,
                    None,
                    0,
                    format!("the descent could not start at {start:?}: {e}"),
                );
            }
        };
        let end = all_finite(&r.theta).then(|| r.theta.clone());
        match r.stop {
            StopReason::Escaped => {
                return Side::failed(
                    PathEnd::LeftRegion,
                    end,
                    r.steps,
                    format!(
                        "the descent left the region (grown by a quarter of each side) after \
                         {} steps",
                        r.steps
                    ),
                );
            }
            StopReason::NonFinite => {
                return Side::failed(
                    PathEnd::Diverged,
                    end,
                    r.steps,
                    format!(
                        "Σ L or its gradient became non-finite after {} steps",
                        r.steps
                    ),
                );
            }
            _ => {}
        }
        if r.sum_norm > 1e-6 * self.gscale {
            return Side::failed(
                PathEnd::Unresolved,
                end,
                r.steps,
                format!(
                    "the descent did not settle: ‖s‖ = {:.3e} after {} steps ({})",
                    r.sum_norm, r.steps, r.stop
                ),
            );
        }
        let polished = match self.polish(eval, &r.theta) {
            Ok(p) => p,
            Err((outcome, why)) => return Side::failed(outcome, end, r.steps, why),
        };
        self.classify_end(saddle, polished, r.steps)
    }

    /// Newton on `s = 0` from `start`, as the map polishes: converged at the floor, or when the
    /// step is below `10⁻¹² · scale` with `‖s‖ ≤ √ε G`; inside the region (slack
    /// `10⁻⁹ · scale`).
    fn polish(
        &self,
        eval: &mut Evaluator<'_, f64>,
        start: &[f64],
    ) -> Result<Vec<f64>, (PathEnd, String)> {
        let limits = Limits {
            max_steps: self.params.newton_steps,
            floor_steps: Some(1),
            step_tolerance: Some(1e-12 * self.scale),
            region: Some(self.search_region.clone()),
            max_step: Some(0.25 * self.scale),
            ..Limits::default()
        };
        let mut solver = Method::Newton(NewtonParams::default()).solver();
        let r: RunReport<f64> = solve_with(eval, start, solver.as_mut(), &limits, &mut NoObserver)
            .map_err(|e| {
                (
                    PathEnd::Diverged,
                    format!("the Newton polish could not start: {e}"),
                )
            })?;
        let converged = matches!(
            r.stop,
            StopReason::FloorReached | StopReason::ExactEquilibrium
        ) || (r.stop == StopReason::StepTolerance
            && r.sum_norm <= f64::EPSILON.sqrt() * self.gscale);
        let slack = 1e-9 * self.scale;
        let inside = r
            .theta
            .iter()
            .zip(self.region)
            .all(|(&x, &(lo, hi))| x >= lo - slack && x <= hi + slack);
        match r.stop {
            _ if converged && inside => Ok(r.theta),
            _ if converged => Err((
                PathEnd::LeftRegion,
                format!(
                    "the path ends at an equilibrium outside the region, {:?}",
                    r.theta
                ),
            )),
            StopReason::Escaped => Err((
                PathEnd::LeftRegion,
                "the Newton polish of the descent's end left the region".into(),
            )),
            StopReason::NonFinite => Err((
                PathEnd::Diverged,
                "the Newton polish of the descent's end became non-finite".into(),
            )),
            stop => Err((
                PathEnd::Unresolved,
                format!(
                    "the Newton polish of the descent's end did not converge ({stop}; ‖s‖ = \
                     {:.3e})",
                    r.sum_norm
                ),
            )),
        }
    }

    /// Matches a polished end to the map's equilibria: within `√ε · scale`, or inside a
    /// certified uniqueness box; the nearest such equilibrium.
    fn classify_end(&self, saddle: &Equilibrium, end: Vec<f64>, steps: usize) -> Side {
        let tol = f64::EPSILON.sqrt() * self.scale;
        let within = |e: &Equilibrium| {
            if e.point.len() != end.len() {
                return false;
            }
            // Both tests fail when one coordinate differs by more than both bounds (the
            // distance is at least every coordinate's difference): most equilibria end here.
            let bound = e.certificate.unique_radius.map_or(tol, |r| r.max(tol));
            if !e
                .point
                .iter()
                .zip(&end)
                .all(|(a, b)| (a - b).abs() <= bound)
            {
                return false;
            }
            distance(&e.point, &end) <= tol
                || e.certificate.unique_radius.is_some_and(|r| {
                    // ‖e − end‖∞ ≤ r (NaN: no match).
                    e.point.iter().zip(&end).all(|(a, b)| (a - b).abs() <= r)
                })
        };
        let matched = self
            .equilibria
            .iter()
            .enumerate()
            .filter(|(_, e)| within(e))
            .min_by(|(_, a), (_, b)| distance(&a.point, &end).total_cmp(&distance(&b.point, &end)));
        match matched {
            Some((j, e)) if e.classification.kind == Kind::Minimum => {
                let barrier = saddle.loss_sum - e.loss_sum;
                Side {
                    minimum: Some(j),
                    barrier: barrier.is_finite().then_some(barrier),
                    end: Some(end),
                    outcome: PathEnd::Minimum,
                    note: None,
                    steps,
                }
            }
            Some((_, e)) => {
                let note = format!(
                    "the path ends at the map's equilibrium {:?}, a {} of Morse index {}, not a \
                     minimum",
                    e.point,
                    e.classification.kind.name(),
                    e.classification.morse_index
                );
                Side::failed(PathEnd::NotAMinimum, Some(end), steps, note)
            }
            None => {
                let kind =
                    classify(self.objectives, &end).map_or("stationary point", |c| c.kind.name());
                let note = format!("the path ends at a {kind} the map does not list, {end:?}");
                Side::failed(PathEnd::Unmapped, Some(end), steps, note)
            }
        }
    }
}

fn assemble(saddle: usize, sides: [Side; 2], eigenvalue: f64, delta: f64) -> Connection {
    let [a, b] = sides;
    Connection {
        saddle,
        minima: [a.minimum, b.minimum],
        barriers: [a.barrier, b.barrier],
        outcomes: [a.outcome, b.outcome],
        steps: [a.steps, b.steps],
        ends: [a.end, b.end],
        notes: [a.note, b.note],
        eigenvalue,
        delta,
    }
}

#[cfg(test)]
mod tests;
