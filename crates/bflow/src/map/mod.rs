//! Equilibrium maps: find, classify and certify every equilibrium of a problem in its region.
//!
//! [`map_equilibria`] runs, from each of N starts in `problem.region`:
//!
//! 1. **Starts.** Point `i` is the Halton point `i + 1` (bases 2, 3, 5, …, one prime per
//!    parameter), shifted modulo 1 by a per-coordinate offset drawn from `seed`
//!    (Cranley–Patterson rotation), scaled into the box.
//! 2. **B-flow** with the exact `∇B` and an Armijo backtracking step on B (sufficient decrease
//!    `B(θ − t∇B) ≤ B − 10⁻⁴ t ||∇B||²`, step halved up to 60 times, doubled after each
//!    success, each move capped at 5% of the region's scale). A fixed step is fragile here:
//!    E4's fixed-step B-flow is chaotic. The descent lives in this module so that it does not
//!    depend on the flow module's step rules; it uses the same [`BalanceEvaluator`].
//! 3. **Newton polish** on `s(θ) = 0` with the dense Hessian of `Σ L`
//!    ([`sum_hessian`]) solved by SVD (singular values below `√ε σ_max` dropped), damped by
//!    halving until `||s||` decreases. Converged when `||s|| ≤ 4 ε Σ||g_i||` (the floor),
//!    when the full Newton step is below `10⁻¹²·scale`, or when every component of the step
//!    is within 4 ulps of its coordinate.
//! 4. **Outcome** of the start: `equilibrium` (polished, inside the region),
//!    `spurious` (Newton failed and B > √ε at the B-flow end: a minimum of B that is not an
//!    equilibrium), `escaped` (the B-flow or the polish left the region), `diverged` (a value
//!    became NaN or infinite), `unresolved` (Newton failed although B ≤ √ε).
//! 5. **Loss-flow** from the same start (Armijo descent on `Σ L`, same step rule); its end
//!    point, when it stalls at a stationary point inside the region, is Newton-polished and
//!    marks the equilibrium it reached. An equilibrium that only loss-flow reached is still
//!    reported (`found_by_bflow: false`, basin share 0): near a point where every `g_i`
//!    vanishes B tends to a direction-dependent limit, not 0, so B-flow rarely ends there.
//!
//! Then the per-start records are assembled **in start order** (never completion order):
//! de-duplication (an end point within `√ε · scale` of an earlier equilibrium is that
//! equilibrium), classification ([`classify`]), the common-stationary test, the Krawczyk
//! certificate ([`certify`]), basin shares and loss-flow reach. `scale` is the largest side of
//! the region. The result is a pure function of the problem, the parameters and the records,
//! so it does not depend on the thread count, and shards can be merged exactly ([`merge`]).
//!
//! **Common stationary.** An equilibrium is *common stationary* when every `g_i` vanishes
//! there: `max_i ||g_i|| ≤ √ε · G`, where `G` is the problem's gradient scale, the largest
//! `Σ||g_i||` over the first 16 unshifted Halton points of the region. B is 0/0 there, so the
//! test never uses B.
//!
//! **Sharding.** Shard `I/N` maps the starts whose index `i` has `i mod N = I` (round-robin,
//! so every shard samples the whole region evenly).

mod certify;
pub mod completeness;

pub use certify::{
    Certificate, Classification, Kind, certificate_radii, certify, classify, degenerate_tolerance,
    krawczyk,
};

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use nalgebra::{DMatrix, DVector};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::flow::is_at_floor;
use crate::objectives::{BalanceEvaluator, Objectives, Undefined, sum_hessian};
use crate::problems::{Problem, SplitMix64};
use crate::real::{all_finite, distance, norm_l2};

/// One slice of the starts: those with `index mod count == index_of_shard`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    /// Which slice, `0 ≤ index < count`.
    pub index: usize,
    /// How many slices.
    pub count: usize,
}

/// The settings of a map. Build with [`Default`] and struct update syntax; checked when the
/// map starts.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MapParams {
    /// Number of starts N (default 256).
    pub starts: usize,
    /// Seed of the Halton shift (default 0).
    pub seed: u64,
    /// Map only this slice of the starts (default: all).
    pub shard: Option<Shard>,
    /// B-flow step budget per start (default 500).
    pub bflow_steps: usize,
    /// Newton step budget per start (default 100).
    pub newton_steps: usize,
    /// Loss-flow step budget per start (default 3000).
    pub lossflow_steps: usize,
}

impl Default for MapParams {
    fn default() -> Self {
        Self {
            starts: 256,
            seed: 0,
            shard: None,
            bflow_steps: 500,
            newton_steps: 100,
            lossflow_steps: 3000,
        }
    }
}

impl MapParams {
    /// Checks the parameters.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `starts`, `shard`, `bflow_steps` or `newton_steps`.
    pub fn validate(&self) -> Result<()> {
        let bad = |name: &str, reason: String| {
            Err(Error::InvalidParameter {
                name: name.into(),
                reason,
            })
        };
        if self.starts == 0 {
            return bad("starts", "must be ≥ 1".into());
        }
        if let Some(s) = self.shard
            && (s.count == 0 || s.index >= s.count)
        {
            return bad(
                "shard",
                format!("must be I/N with 0 ≤ I < N, got {}/{}", s.index, s.count),
            );
        }
        if self.bflow_steps == 0 {
            return bad("bflow_steps", "must be ≥ 1".into());
        }
        if self.newton_steps == 0 {
            return bad("newton_steps", "must be ≥ 1".into());
        }
        Ok(())
    }

    /// The start indices this map covers, ascending.
    pub fn indices(&self) -> Vec<usize> {
        match self.shard {
            None => (0..self.starts).collect(),
            Some(s) => (s.index..self.starts).step_by(s.count).collect(),
        }
    }
}

/// What became of one start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// B-flow and Newton reached an equilibrium inside the region.
    Equilibrium,
    /// Newton failed from a B-flow end point with `B > √ε`: a minimum of B, not an equilibrium.
    Spurious,
    /// The B-flow or the Newton polish left the region.
    Escaped,
    /// A value became NaN or infinite.
    Diverged,
    /// Newton failed although `B ≤ √ε` (or B was undefined) at the B-flow end.
    Unresolved,
}

/// Everything one start produced; enough to rebuild a map from the records alone.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StartRecord {
    /// The start's index in the full sequence.
    pub index: usize,
    /// The start point.
    pub start: Vec<f64>,
    /// What became of it.
    pub outcome: Outcome,
    /// The end point: the polished equilibrium, or the B-flow end point (finite values only).
    pub point: Option<Vec<f64>>,
    /// B at the B-flow end point (`None` where undefined).
    #[serde(rename = "B")]
    pub b: Option<f64>,
    /// `||∇B||` at the B-flow end point.
    pub grad_b_norm: Option<f64>,
    /// B-flow steps taken.
    pub bflow_steps: usize,
    /// Newton steps taken.
    pub newton_steps: usize,
    /// Where loss-flow from this start stalled at a stationary point inside the region,
    /// Newton-polished (`None` when it escaped, diverged, did not converge or the polish
    /// failed).
    pub lossflow_end: Option<Vec<f64>>,
}

/// A distinct equilibrium found by the map.
#[derive(Debug, Clone, PartialEq)]
pub struct Equilibrium {
    /// The polished point (from the lowest-index start that reached it).
    pub point: Vec<f64>,
    /// Its classification.
    pub classification: Classification,
    /// Every `g_i` vanishes there (B is 0/0).
    pub common_stationary: bool,
    /// B there (`None` where Q = 0 or the point is common-stationary: 0/0 either way).
    pub b: Option<f64>,
    /// `||s||` there.
    pub grad_norm: f64,
    /// Krawczyk certificate.
    pub certificate: Certificate,
    /// How many starts' B-flow ended here.
    pub basin_starts: usize,
    /// `basin_starts` / starts mapped.
    pub basin_share: f64,
    /// How many loss-flow runs (from the same starts) ended here.
    pub lossflow_starts: usize,
    /// False when only loss-flow end points (polished) found it: B-flow from these starts
    /// never ended there (common-stationary minima, where B does not vanish, are the case).
    pub found_by_bflow: bool,
}

/// A distinct spurious end point: a minimum of B with B > 0 where Newton failed.
#[derive(Debug, Clone, PartialEq)]
pub struct SpuriousPoint {
    /// The B-flow end point (from the lowest-index start).
    pub point: Vec<f64>,
    /// B there.
    pub b: f64,
    /// `||∇B||` there.
    pub grad_b_norm: Option<f64>,
    /// How many starts ended here.
    pub starts: usize,
}

/// The result of a map.
#[derive(Debug, Clone, PartialEq)]
pub struct EquilibriumMap {
    /// The problem's name.
    pub problem: String,
    /// The settings.
    pub params: MapParams,
    /// Distinct equilibria, in order of first discovery (start index).
    pub equilibria: Vec<Equilibrium>,
    /// Distinct spurious end points.
    pub spurious: Vec<SpuriousPoint>,
    /// Starts whose flow or polish left the region.
    pub escaped: usize,
    /// Starts that diverged (non-finite values).
    pub diverged: usize,
    /// Starts that ended unresolved.
    pub unresolved: usize,
    /// The per-start records, by index.
    pub records: Vec<StartRecord>,
    /// The region's scale (largest side).
    pub scale: f64,
    /// Wall-clock seconds (summed over shards after a merge).
    pub seconds: f64,
}

impl EquilibriumMap {
    /// Number of starts mapped (all of them, or this shard's).
    pub fn starts_mapped(&self) -> usize {
        self.records.len()
    }
}

/// The region's box, its scale, checked.
fn region_of(problem: &Problem<f64>) -> Result<Vec<(f64, f64)>> {
    let region = problem.region.clone().ok_or_else(|| Error::MissingRegion {
        problem: problem.name.clone(),
    })?;
    problem.check_point("region", &region.iter().map(|r| r.0).collect::<Vec<_>>())?;
    if let Some(j) = region
        .iter()
        .position(|&(lo, hi)| !(lo.is_finite() && hi.is_finite() && lo < hi))
    {
        return Err(Error::InvalidParameter {
            name: "region".into(),
            reason: format!("side {} must be finite with lo < hi", j + 1),
        });
    }
    Ok(region)
}

fn scale_of(region: &[(f64, f64)]) -> f64 {
    region.iter().fold(0.0, |m, &(lo, hi)| f64::max(m, hi - lo))
}

const PRIMES: [u64; 32] = [
    2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97,
    101, 103, 107, 109, 113, 127, 131,
];

fn radical_inverse(mut i: u64, base: u64) -> f64 {
    let inv = 1.0 / base as f64;
    let mut f = inv;
    let mut r = 0.0;
    while i > 0 {
        r += f * (i % base) as f64;
        i /= base;
        f *= inv;
    }
    r
}

/// Start point `index` of the Halton sequence (bases 2, 3, 5, …) in `region`, shifted by
/// `seed` when `shifted` (at most 32 parameters).
pub fn start_point(region: &[(f64, f64)], seed: u64, index: usize, shifted: bool) -> Vec<f64> {
    region
        .iter()
        .enumerate()
        .map(|(j, &(lo, hi))| {
            let mut u = radical_inverse(index as u64 + 1, PRIMES[j]);
            if shifted {
                let shift = SplitMix64(seed ^ SplitMix64(j as u64).next_u64()).uniform();
                u = (u + shift).fract();
            }
            lo + u * (hi - lo)
        })
        .collect()
}

/// The problem's gradient scale `G`: the largest `Σ||g_i||` over the first 16 unshifted
/// Halton points of the region (1 when they are all zero or not finite).
fn gradient_scale(objectives: &dyn Objectives<f64>, region: &[(f64, f64)]) -> f64 {
    let mut eval = BalanceEvaluator::new(objectives);
    let g = (0..16)
        .filter_map(|i| eval.point(&start_point(region, 0, i, false)))
        .map(|p| p.balance.gradient_norm_sum())
        .fold(0.0, f64::max);
    if g > 0.0 && g.is_finite() { g } else { 1.0 }
}

fn inside(region: &[(f64, f64)], theta: &[f64], slack: f64) -> bool {
    theta
        .iter()
        .zip(region)
        .all(|(&x, &(lo, hi))| x >= lo - slack && x <= hi + slack)
}

/// Context shared by every start.
struct Ctx<'a> {
    objectives: &'a dyn Objectives<f64>,
    region: Vec<(f64, f64)>,
    scale: f64,
    gscale: f64,
    params: &'a MapParams,
}

/// An Armijo backtracking step along `−grad` on a function `f`; `None` when no step of the
/// 60 halvings decreases `f` enough. Returns the new point, its value and the step used.
fn armijo(
    theta: &[f64],
    f0: f64,
    grad: &[f64],
    t_init: f64,
    mut f: impl FnMut(&[f64]) -> Option<f64>,
) -> Option<(Vec<f64>, f64, f64)> {
    let gn2 = grad.iter().map(|g| g * g).sum::<f64>();
    let mut t = t_init;
    for _ in 0..60 {
        let trial: Vec<f64> = theta.iter().zip(grad).map(|(&x, &g)| x - t * g).collect();
        if trial.as_slice() == theta {
            return None;
        }
        if let Some(v) = f(&trial)
            && v <= f0 - 1e-4 * t * gn2
        {
            return Some((trial, v, t));
        }
        t *= 0.5;
    }
    None
}

enum Descent {
    /// Ended at this point (B there, ||∇B||, steps).
    End(Vec<f64>, Option<f64>, Option<f64>, usize),
    Escaped(Vec<f64>, usize),
    Diverged(usize),
}

/// B-flow with Armijo steps from `start`.
fn bflow(ctx: &Ctx<'_>, start: &[f64]) -> Descent {
    let mut eval = BalanceEvaluator::new(ctx.objectives);
    let mut theta = start.to_vec();
    let mut t_prev = f64::INFINITY;
    let cap = 0.05 * ctx.scale;
    let mut steps = 0;
    loop {
        let Some(at) = eval.point(&theta) else {
            return Descent::Diverged(steps);
        };
        let Some(b) = at.balance.b() else {
            return Descent::End(theta, None, None, steps);
        };
        if b <= 1e-14 {
            return Descent::End(theta, Some(b), None, steps);
        }
        let grad_b = match eval.balance_gradient(&theta, &at) {
            Ok(g) => g,
            Err(Undefined::Degenerate) => return Descent::End(theta, None, None, steps),
            Err(Undefined::NonFinite) => return Descent::Diverged(steps),
        };
        let gn = norm_l2(&grad_b);
        // B is O(1) away from equilibria: ||∇B||·scale ≤ 1e-10 is a stationary point of B.
        if gn * ctx.scale <= 1e-10 || steps >= ctx.params.bflow_steps {
            return Descent::End(theta, Some(b), Some(gn), steps);
        }
        let t0 = (2.0 * t_prev).min(cap / gn);
        let mut probe = BalanceEvaluator::new(ctx.objectives);
        // A trial where B is undefined (Q = 0: every g_i vanishes) counts as B = 0.
        let step = armijo(&theta, b, &grad_b, t0, |x| {
            all_finite(x)
                .then(|| probe.point(x))
                .flatten()
                .map(|p| p.balance.b().unwrap_or(0.0))
        });
        let Some((next, _, t)) = step else {
            return Descent::End(theta, Some(b), Some(gn), steps);
        };
        steps += 1;
        t_prev = t;
        theta = next;
        if !inside(&ctx.region, &theta, 0.0) {
            return Descent::Escaped(theta, steps);
        }
    }
}

/// Damped Newton on `s(θ) = 0`. Returns the point and steps when converged.
fn newton(ctx: &Ctx<'_>, start: &[f64]) -> (Option<Vec<f64>>, usize) {
    let n = start.len();
    let mut eval = BalanceEvaluator::new(ctx.objectives);
    let mut theta = start.to_vec();
    for k in 0..ctx.params.newton_steps {
        let Some(at) = eval.point(&theta) else {
            return (None, k);
        };
        let sn = at.balance.sum_norm;
        if is_at_floor(sn, at.balance.gradient_norm_sum()) {
            return (Some(theta), k);
        }
        let h = sum_hessian(ctx.objectives, &theta);
        if !all_finite(&h) {
            return (None, k);
        }
        let svd = DMatrix::from_row_slice(n, n, &h).svd(true, true);
        let smax = svd.singular_values.max();
        let rhs = DVector::from_iterator(n, at.balance.sum.iter().map(|&x| -x));
        let Ok(delta) = svd.solve(&rhs, f64::EPSILON.sqrt() * smax) else {
            return (None, k);
        };
        let delta: Vec<f64> = delta.iter().copied().collect();
        let dn = norm_l2(&delta);
        if !dn.is_finite() {
            return (None, k);
        }
        // Converged when the step is below the region's resolution or below what θ itself
        // can resolve: a few ulps of each coordinate (far from the origin, ulp(θ) dominates).
        let below_ulps = delta
            .iter()
            .zip(&theta)
            .all(|(&d, &x)| d.abs() <= 4.0 * f64::EPSILON * x.abs());
        if dn <= 1e-12 * ctx.scale || below_ulps {
            return (Some(theta), k);
        }
        let mut t = 1.0;
        let mut accepted = false;
        for _ in 0..30 {
            let trial: Vec<f64> = theta.iter().zip(&delta).map(|(&x, &d)| x + t * d).collect();
            if let Some(p) = eval.point(&trial)
                && p.balance.sum_norm < sn
            {
                theta = trial;
                accepted = true;
                break;
            }
            t *= 0.5;
        }
        if !accepted {
            return (None, k);
        }
    }
    (None, ctx.params.newton_steps)
}

/// Loss-flow (Armijo descent on `Σ L`) from `start`; the end point when it stalls at a
/// stationary point inside the region.
fn lossflow(ctx: &Ctx<'_>, start: &[f64]) -> Option<Vec<f64>> {
    let mut eval = BalanceEvaluator::new(ctx.objectives);
    let mut theta = start.to_vec();
    let mut t_prev = f64::INFINITY;
    let cap = 0.05 * ctx.scale;
    let tol = 1e-10 * ctx.gscale;
    for _ in 0..ctx.params.lossflow_steps {
        let at = eval.point(&theta)?;
        let s = at.balance.sum.clone();
        let sn = at.balance.sum_norm;
        if sn <= tol {
            return Some(theta);
        }
        let f0 = eval.total_loss(&theta);
        if !f0.is_finite() {
            return None;
        }
        let t0 = (2.0 * t_prev).min(cap / sn);
        let mut probe = BalanceEvaluator::new(ctx.objectives);
        let (next, _, t) = match armijo(&theta, f0, &s, t0, |x| {
            let v = probe.total_loss(x);
            v.is_finite().then_some(v)
        }) {
            Some(step) => step,
            // No decrease possible: at a stationary point up to rounding.
            None => return (sn <= 1e-6 * ctx.gscale).then_some(theta),
        };
        t_prev = t;
        theta = next;
        if !inside(&ctx.region, &theta, 0.0) {
            return None;
        }
    }
    let at = eval.point(&theta)?;
    (at.balance.sum_norm <= 1e-6 * ctx.gscale).then_some(theta)
}

fn finite_point(p: Vec<f64>) -> Option<Vec<f64>> {
    all_finite(&p).then_some(p)
}

fn map_start(ctx: &Ctx<'_>, index: usize) -> StartRecord {
    let start = start_point(&ctx.region, ctx.params.seed, index, true);
    let lossflow_end = lossflow(ctx, &start)
        .and_then(|end| newton(ctx, &end).0)
        .filter(|q| inside(&ctx.region, q, 1e-9 * ctx.scale));
    let mut record = StartRecord {
        index,
        start: start.clone(),
        outcome: Outcome::Diverged,
        point: None,
        b: None,
        grad_b_norm: None,
        bflow_steps: 0,
        newton_steps: 0,
        lossflow_end,
    };
    match bflow(ctx, &start) {
        Descent::Diverged(steps) => record.bflow_steps = steps,
        Descent::Escaped(p, steps) => {
            record.outcome = Outcome::Escaped;
            record.point = finite_point(p);
            record.bflow_steps = steps;
        }
        Descent::End(p, b, gb, steps) => {
            record.bflow_steps = steps;
            record.b = b;
            record.grad_b_norm = gb;
            let (polished, nsteps) = newton(ctx, &p);
            record.newton_steps = nsteps;
            match polished {
                Some(q) if inside(&ctx.region, &q, 1e-9 * ctx.scale) => {
                    record.outcome = Outcome::Equilibrium;
                    record.point = Some(q);
                }
                Some(q) => {
                    record.outcome = Outcome::Escaped;
                    record.point = Some(q);
                }
                None => {
                    record.outcome = match b {
                        Some(b) if b > f64::EPSILON.sqrt() => Outcome::Spurious,
                        _ => Outcome::Unresolved,
                    };
                    record.point = Some(p);
                }
            }
        }
    }
    record
}

/// Maps the equilibria of `problem` in its region (see the module docs).
///
/// # Errors
/// [`Error::MissingRegion`] when the problem has no region, [`Error::InvalidParameter`] for
/// parameters out of range or a region with an empty side, and for more than 32 parameters
/// (`region`).
///
/// ```
/// use bflow::map::{map_equilibria, Kind, MapParams};
/// let problem = bflow::problems::builtin::<f64>("saddle")?;
/// let map = map_equilibria(&problem, &MapParams { starts: 8, ..MapParams::default() })?;
/// assert_eq!(map.equilibria.len(), 1);
/// let e = &map.equilibria[0];
/// assert_eq!(e.classification.kind, Kind::Saddle);
/// assert!((e.point[0] - 1.0).abs() < 1e-12 && (e.point[1] - 2.0).abs() < 1e-12);
/// assert!(e.certificate.radius.is_some());
/// assert_eq!(e.lossflow_starts, 0); // loss-flow runs off along y: it never reaches the saddle
/// # Ok::<(), bflow::Error>(())
/// ```
pub fn map_equilibria(problem: &Problem<f64>, params: &MapParams) -> Result<EquilibriumMap> {
    map_equilibria_observed(problem, params, &|_, _| {})
}

/// [`map_equilibria`] with a progress observer, called as `observer(done, total)` after each
/// start finishes (from worker threads, in completion order; the result never depends on it).
///
/// # Errors
/// As [`map_equilibria`].
pub fn map_equilibria_observed(
    problem: &Problem<f64>,
    params: &MapParams,
    observer: &(dyn Fn(usize, usize) + Sync),
) -> Result<EquilibriumMap> {
    params.validate()?;
    let region = region_of(problem)?;
    if region.len() > PRIMES.len() {
        return Err(Error::InvalidParameter {
            name: "region".into(),
            reason: format!("mapping supports up to {} parameters", PRIMES.len()),
        });
    }
    let clock = Instant::now();
    let ctx = Ctx {
        objectives: problem.objectives.as_ref(),
        scale: scale_of(&region),
        gscale: gradient_scale(problem.objectives.as_ref(), &region),
        region,
        params,
    };
    let indices = params.indices();
    let total = indices.len();
    let done = AtomicUsize::new(0);
    let records: Vec<StartRecord> = indices
        .par_iter()
        .map(|&i| {
            let r = map_start(&ctx, i);
            observer(done.fetch_add(1, Ordering::Relaxed) + 1, total);
            r
        })
        .collect();
    let mut map = assemble(problem, params.clone(), records)?;
    map.seconds = clock.elapsed().as_secs_f64();
    Ok(map)
}

/// Builds the map from per-start records (in index order): de-duplication, classification,
/// certificates, basin shares and loss-flow reach. A pure function of its inputs.
///
/// # Errors
/// As [`map_equilibria`] for the region.
pub fn assemble(
    problem: &Problem<f64>,
    params: MapParams,
    mut records: Vec<StartRecord>,
) -> Result<EquilibriumMap> {
    records.sort_by_key(|r| r.index);
    let region = region_of(problem)?;
    let scale = scale_of(&region);
    let obj = problem.objectives.as_ref();
    let gscale = gradient_scale(obj, &region);
    let dedup_tol = f64::EPSILON.sqrt() * scale;
    let mut points: Vec<Vec<f64>> = Vec::new();
    let mut basin: Vec<usize> = Vec::new();
    let mut spurious: Vec<SpuriousPoint> = Vec::new();
    let (mut escaped, mut diverged, mut unresolved) = (0, 0, 0);
    for r in &records {
        match (r.outcome, &r.point) {
            (Outcome::Equilibrium, Some(p)) => {
                match points.iter().position(|q| distance(p, q) <= dedup_tol) {
                    Some(k) => basin[k] += 1,
                    None => {
                        points.push(p.clone());
                        basin.push(1);
                    }
                }
            }
            (Outcome::Spurious, Some(p)) => {
                match spurious
                    .iter()
                    .position(|q| distance(p, &q.point) <= 1e-4 * scale)
                {
                    Some(k) => spurious[k].starts += 1,
                    None => spurious.push(SpuriousPoint {
                        point: p.clone(),
                        b: r.b.unwrap_or(f64::NAN),
                        grad_b_norm: r.grad_b_norm,
                        starts: 1,
                    }),
                }
            }
            (Outcome::Escaped, _) => escaped += 1,
            (Outcome::Diverged, _) => diverged += 1,
            _ => unresolved += 1,
        }
    }
    // Equilibria only loss-flow reached (B-flow's basin of them is empty): still found.
    let bflow_found = points.len();
    for r in &records {
        if let Some(p) = &r.lossflow_end
            && !points.iter().any(|q| distance(p, q) <= dedup_tol)
        {
            points.push(p.clone());
            basin.push(0);
        }
    }
    let mapped = records.len().max(1) as f64;
    let mut eval = BalanceEvaluator::new(obj);
    let mut equilibria = Vec::with_capacity(points.len());
    for (k, (point, starts)) in points.into_iter().zip(basin).enumerate() {
        let classification = classify(obj, &point).unwrap_or(Classification {
            kind: Kind::Degenerate,
            morse_index: 0,
            eigenvalues: Vec::new(),
        });
        let at = eval.point(&point);
        let (b, grad_norm, common) = match &at {
            Some(at) => {
                let gmax = at
                    .balance
                    .gradient_norms
                    .iter()
                    .fold(0.0, |m: f64, &g| m.max(g));
                (
                    at.balance.b(),
                    at.balance.sum_norm,
                    gmax <= f64::EPSILON.sqrt() * gscale,
                )
            }
            None => (None, f64::NAN, false),
        };
        let lossflow_starts = records
            .iter()
            .filter_map(|r| r.lossflow_end.as_ref())
            .filter(|e| distance(e, &point) <= dedup_tol)
            .count();
        equilibria.push(Equilibrium {
            certificate: certify(obj, &point, scale),
            point,
            classification,
            common_stationary: common,
            // Where every g_i vanishes the computed B is a ratio of rounding errors (0/0):
            // report it as undefined, not as the number that rounding happened to give.
            b: if common { None } else { b },
            grad_norm,
            basin_starts: starts,
            basin_share: starts as f64 / mapped,
            lossflow_starts,
            found_by_bflow: k < bflow_found,
        });
    }
    Ok(EquilibriumMap {
        problem: problem.name.clone(),
        params,
        equilibria,
        spurious,
        escaped,
        diverged,
        unresolved,
        records,
        scale,
        seconds: 0.0,
    })
}

/// One shard's output, as read back from its JSON: what [`merge`] needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardData {
    /// The problem's name.
    pub problem: String,
    /// The settings the shard ran with.
    pub params: MapParams,
    /// Its per-start records.
    pub records: Vec<StartRecord>,
    /// Its wall-clock seconds.
    pub seconds: f64,
}

/// Merges shard outputs into the map one unsharded run with the same settings gives.
///
/// # Errors
/// [`Error::ShardMismatch`] when the shards are of different problems or settings, or do not
/// cover every start exactly once.
pub fn merge(problem: &Problem<f64>, parts: &[ShardData]) -> Result<EquilibriumMap> {
    if problem.dim() > PRIMES.len() {
        return Err(Error::InvalidParameter {
            name: "region".into(),
            reason: format!("mapping supports at most {} parameters", PRIMES.len()),
        });
    }
    let first = parts.first().ok_or_else(|| Error::ShardMismatch {
        reason: "no shard given".into(),
    })?;
    let base = MapParams {
        shard: None,
        ..first.params.clone()
    };
    let mut records = Vec::new();
    let mut seconds = 0.0;
    for (k, part) in parts.iter().enumerate() {
        if part.problem != problem.name {
            return Err(Error::ShardMismatch {
                reason: format!(
                    "shard {} is of problem `{}`, not `{}`",
                    k + 1,
                    part.problem,
                    problem.name
                ),
            });
        }
        let p = MapParams {
            shard: None,
            ..part.params.clone()
        };
        if p != base {
            return Err(Error::ShardMismatch {
                reason: format!(
                    "shard {} was run with other settings (starts, seed or budgets)",
                    k + 1
                ),
            });
        }
        for r in &part.records {
            let lengths_ok = r.start.len() == problem.dim()
                && r.point.as_ref().is_none_or(|p| p.len() == problem.dim())
                && r.lossflow_end
                    .as_ref()
                    .is_none_or(|p| p.len() == problem.dim());
            if !lengths_ok {
                return Err(Error::ShardMismatch {
                    reason: format!(
                        "shard {}: start {} has points of the wrong length for a problem with {} parameters",
                        k + 1,
                        r.index,
                        problem.dim()
                    ),
                });
            }
        }
        records.extend(part.records.iter().cloned());
        seconds += part.seconds;
    }
    records.sort_by_key(|r| r.index);
    let mut expected = 0;
    for r in &records {
        if r.index != expected {
            return Err(Error::ShardMismatch {
                reason: if r.index < expected {
                    format!("start {} appears in more than one shard", r.index)
                } else {
                    format!("start {expected} is in no shard")
                },
            });
        }
        expected += 1;
    }
    if expected != base.starts {
        return Err(Error::ShardMismatch {
            reason: format!("start {expected} is in no shard"),
        });
    }
    let mut map = assemble(problem, base, records)?;
    map.seconds = seconds;
    Ok(map)
}

/// `log10 B` on an `nx × ny` grid of cell centres over the region (row-major, `y` rows from
/// the bottom), for heat maps of two-parameter problems; `None` where B is undefined or
/// zero.
///
/// # Errors
/// [`Error::MissingRegion`]; [`Error::InvalidParameter`] (`region`) unless n = 2.
pub fn log_balance_grid(problem: &Problem<f64>, nx: usize, ny: usize) -> Result<Vec<Option<f64>>> {
    let region = region_of(problem)?;
    if region.len() != 2 {
        return Err(Error::InvalidParameter {
            name: "region".into(),
            reason: "a B landscape needs a two-parameter problem".into(),
        });
    }
    let mut eval = BalanceEvaluator::new(problem.objectives.as_ref());
    let mut out = Vec::with_capacity(nx * ny);
    for j in 0..ny {
        let y = region[1].0 + (j as f64 + 0.5) / ny as f64 * (region[1].1 - region[1].0);
        for i in 0..nx {
            let x = region[0].0 + (i as f64 + 0.5) / nx as f64 * (region[0].1 - region[0].0);
            let b = eval.point(&[x, y]).and_then(|p| p.balance.b());
            out.push(b.filter(|&b| b > 0.0).map(f64::log10));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;

/// A fingerprint of a problem for shard files: `Σ L_i` at the first three unshifted start
/// points of its region. Shards of one map must come from the same objectives, not only
/// from problems with the same name; `bflow merge` compares fingerprints bit for bit.
///
/// # Errors
/// [`Error::MissingRegion`] when the problem has no region.
pub fn problem_fingerprint(problem: &Problem<f64>) -> Result<Vec<f64>> {
    let region = region_of(problem)?;
    let obj = problem.objectives.as_ref();
    Ok((0..3)
        .map(|i| {
            let p = start_point(&region, 0, i, false);
            (0..obj.num_objectives()).map(|k| obj.loss(k, &p)).sum()
        })
        .collect())
}
