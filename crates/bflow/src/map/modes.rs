//! Mode starts: Newton on `s = 0` from each found minimum and maximum of `Σ L`, displaced
//! along each eigenvector (mode) of its Hessian, both ways, by a few fixed fractions of the
//! region's scale.
//!
//! The random starts reach most equilibria through wide basins, but not all: in four and
//! more dimensions saddles of index n − 1 — the passes between two maxima, as index-1
//! saddles are between two minima — can have basins so small that a map of a thousand starts
//! hits them once or not at all (measured on proven 4-D and 5-D Gaussian-well sets: 3 of 224
//! default maps stopped one such saddle short). Such a saddle lies along a soft mode of the
//! maxima it joins, and the Newton flow from a point past the fold between them, where one
//! eigenvalue of `J` changes sign, converges to it (the searches take short trust-region
//! steps, [`SearchContext::mode_newton`], to keep near that flow). Mode starts cost `2n` Newton searches
//! per step fraction per extremum — a few hundred on those problems, against thousands of
//! searches from the random starts — and run once the starts are done (for an adaptive map,
//! once the statistical stop has spoken), from the equilibria found, again from the extrema
//! they find, and so on (at most [`MODE_PASSES`] passes): a pure function of the equilibria
//! found, so a sharded, resumed or adaptive map gets the same ones as the uninterrupted
//! fixed map with the same equilibria. A map's time limit stops them too
//! ([`ModeSearch::cut_short`]); a map stopped by its time limit or interrupted before they
//! began runs none.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use rayon::prelude::*;

use super::assemble::Accumulator;
use super::certify::{Kind, classify_with_modes};
use super::search::{Evaluators, SearchContext};
use crate::objectives::Objectives;

/// The displacements along each mode, as fractions of the region's scale (its largest side).
pub const MODE_STEPS: [f64; 3] = [0.03, 0.07, 0.15];

/// Passes at most: the first from the equilibria the starts found, each next one from the
/// extrema the last one found.
pub const MODE_PASSES: usize = 3;

/// What the mode starts did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModeSearch {
    /// Newton searches run.
    pub searches: usize,
    /// Equilibria found that the map did not have, in the order found.
    pub found: Vec<Vec<f64>>,
    /// The map's time limit came first: the searches after it were not run.
    pub cut_short: bool,
}

/// The mode starts of a map whose starts found `acc.clusters` (see the module docs).
pub(crate) fn mode_search(
    objectives: &dyn Objectives<f64>,
    ctx: &SearchContext,
    acc: &Accumulator,
    deadline: Option<Instant>,
) -> ModeSearch {
    let late = AtomicBool::new(false);
    let n = ctx.region.len();
    let mut known = acc.clone();
    let mut report = ModeSearch::default();
    let mut frontier: Vec<Vec<f64>> = acc.clusters.iter().map(|c| c.point.clone()).collect();
    for _ in 0..MODE_PASSES {
        let starts: Vec<Vec<f64>> = frontier
            .iter()
            .flat_map(|p| mode_starts(objectives, ctx, p, n))
            .collect();
        if starts.is_empty() {
            break;
        }
        // Per start: whether it ran (not past the deadline), and the equilibrium it reached.
        let ends: Vec<(bool, Option<Vec<f64>>)> = starts
            .par_iter()
            .map_init(
                || Evaluators::new(objectives),
                |evals, start| {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        late.store(true, Ordering::Relaxed);
                        return (false, None);
                    }
                    (true, ctx.mode_newton(evals, start))
                },
            )
            .collect();
        report.searches += ends.iter().filter(|(ran, _)| *ran).count();
        frontier.clear();
        for p in ends.into_iter().filter_map(|(_, p)| p) {
            if known.find(&p).is_none() {
                known.insert(super::assemble::Cluster {
                    point: p.clone(),
                    first_start: usize::MAX,
                    first_search: 0,
                    hits: Default::default(),
                    basin_starts: 0,
                });
                report.found.push(p.clone());
                frontier.push(p);
            }
        }
        if late.load(Ordering::Relaxed) {
            report.cut_short = true;
            break;
        }
        if frontier.is_empty() {
            break;
        }
    }
    report
}

/// The starts around `p` when it is a nondegenerate minimum or maximum of `Σ L`: `p ± h ·
/// scale · v_k` for each eigenvector `v_k` of the Hessian and each `h` of [`MODE_STEPS`],
/// those inside the region; none for a saddle.
fn mode_starts(
    objectives: &dyn Objectives<f64>,
    ctx: &SearchContext,
    p: &[f64],
    n: usize,
) -> Vec<Vec<f64>> {
    let Some((class, eigen)) = classify_with_modes(objectives, p) else {
        return Vec::new();
    };
    if !matches!(class.kind, Kind::Minimum | Kind::Maximum) {
        return Vec::new();
    }
    let mut starts = Vec::with_capacity(2 * n * MODE_STEPS.len());
    for k in 0..n {
        let v = eigen.vector(k);
        for step in MODE_STEPS {
            for sign in [1.0, -1.0] {
                let start: Vec<f64> = p
                    .iter()
                    .zip(&v)
                    .map(|(&x, &d)| x + sign * step * ctx.scale * d)
                    .collect();
                if ctx.inside(&start, 0.0) {
                    starts.push(start);
                }
            }
        }
    }
    starts
}
