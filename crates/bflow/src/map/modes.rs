//! Mode starts: Newton on `s = 0` from each nondegenerate equilibrium found — minimum,
//! saddle or maximum of `Σ L` — displaced along each eigenvector (mode) of its Hessian whose
//! neighbour is a saddle ([`leads_to_saddle`]), both ways, by a few fixed fractions of the
//! region's scale.
//!
//! The random starts reach most equilibria through wide basins, but not all: in four and
//! more dimensions saddles of index n − 1 — the passes between two maxima, as index-1
//! saddles are between two minima — can have basins so small that a map of a thousand starts
//! hits them once or not at all (measured on proven 4-D and 5-D Gaussian-well sets: 3 of 224
//! default maps stopped one such saddle short). Such a saddle lies along a soft mode of the
//! maxima it joins, and the Newton flow from a point past the fold between them, where one
//! eigenvalue of `J` changes sign, converges to it (the searches take short trust-region
//! steps, [`SearchContext::mode_newton`], to keep near that flow).
//!
//! The same holds between saddles: an equilibrium's neighbour along one of its modes is an
//! equilibrium whose Morse index differs by one there, and it can be a saddle with a small
//! basin next to another saddle, with no extremum beside it inside the region — a saddle near
//! a corner of a lattice of equilibria whose other neighbours lie outside. On proven 3-D
//! surfaces other than Gaussian wells — the cosine lattice (`examples/problems/cosines-3d.toml`),
//! random Fourier modes, Morse shells — 8 of 812 maps with a first round of 128 stopped a
//! saddle short when their mode starts ran from the extrema only; run from every
//! equilibrium, they found it in all 8 (docs/MAPPING.md).
//!
//! Mode starts cost `2n` Newton searches per step fraction per equilibrium, each a few steps
//! long, against four searches per random start; they run once the starts are done (for an
//! adaptive map, once the statistical stop has spoken), from the equilibria found, again from
//! the equilibria they find, and so on (at most [`MODE_PASSES`] passes): a pure function of
//! the equilibria found, so a sharded, resumed or adaptive map gets the same ones as the
//! uninterrupted fixed map with the same equilibria. A map's time limit stops them too
//! ([`ModeSearch::cut_short`]); a map stopped by its time limit or interrupted before they
//! began runs none.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use rayon::prelude::*;

use super::assemble::Accumulator;
use super::certify::{CertifiedBoxes, Kind, classify_with_modes};
use super::search::{Evaluators, SearchContext};
use crate::objectives::Objectives;

/// The displacements along each mode, as fractions of the region's scale (its largest side).
pub const MODE_STEPS: [f64; 3] = [0.03, 0.07, 0.15];

/// Passes at most: the first from the equilibria the starts found, each next one from the
/// equilibria the last one found.
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
///
/// `boxes` are the certified uniqueness boxes of equilibria the map has: a search that
/// enters one ends there ([`SearchContext::mode_newton`]).
pub(crate) fn mode_search(
    objectives: &dyn Objectives<f64>,
    ctx: &SearchContext,
    acc: &Accumulator,
    boxes: &CertifiedBoxes,
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
                    (true, ctx.mode_newton(evals, start, boxes))
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

/// The starts around `p` when it is a nondegenerate equilibrium of `Σ L` with Morse index
/// `m`: `p ± h · scale · v_k` for each eigenvector `v_k` of the Hessian whose neighbour is a
/// saddle ([`leads_to_saddle`]) and each `h` of [`MODE_STEPS`], those inside the region; none
/// for a degenerate one, whose modes include a direction along which nothing is known.
fn mode_starts(
    objectives: &dyn Objectives<f64>,
    ctx: &SearchContext,
    p: &[f64],
    n: usize,
) -> Vec<Vec<f64>> {
    let Some((class, eigen)) = classify_with_modes(objectives, p) else {
        return Vec::new();
    };
    if class.kind == Kind::Degenerate {
        return Vec::new();
    }
    let mut starts = Vec::with_capacity(2 * n * MODE_STEPS.len());
    for k in 0..n {
        let negative = class.eigenvalues[k] < 0.0;
        if !leads_to_saddle(class.morse_index, negative, n) {
            continue;
        }
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

/// Whether the neighbour of an equilibrium of Morse index `m` along a mode is a saddle: past
/// the fold along a mode whose eigenvalue is negative that eigenvalue turns positive, so the
/// neighbour has index `m − 1`; along a positive one, `m + 1`. A saddle is an index from 1 to
/// `n − 1`. Minima and maxima are the searches' to find (loss-flow and ascent reach them from
/// wide basins); the mode starts aim at saddles. From a minimum or a maximum (n ≥ 2) that is
/// every mode; from a saddle in 2-D none (its neighbours are extrema); from an index-1 saddle
/// in 3-D its two positive modes.
fn leads_to_saddle(m: usize, negative: bool, n: usize) -> bool {
    let next = if negative {
        m.checked_sub(1)
    } else {
        Some(m + 1)
    };
    next.is_some_and(|i| i >= 1 && i < n)
}

#[cfg(test)]
mod tests {
    use super::leads_to_saddle;

    #[test]
    fn the_modes_that_lead_to_saddles() {
        // A minimum (index 0): every mode is positive and leads to an index-1 saddle, for n ≥ 2.
        assert!(leads_to_saddle(0, false, 2) && leads_to_saddle(0, false, 5));
        assert!(!leads_to_saddle(0, false, 1));
        // A maximum of 3-D (index 3): its negative modes lead to index-2 saddles.
        assert!(leads_to_saddle(3, true, 3));
        // A 2-D saddle's neighbours are a minimum and a maximum: none.
        assert!(!leads_to_saddle(1, true, 2) && !leads_to_saddle(1, false, 2));
        // 3-D: index 1 → index 2 along positive modes, not to the minimum along its negative one;
        // index 2 → index 1 along negative modes, not to the maximum.
        assert!(leads_to_saddle(1, false, 3) && !leads_to_saddle(1, true, 3));
        assert!(leads_to_saddle(2, true, 3) && !leads_to_saddle(2, false, 3));
        // A negative mode at index 0 cannot occur; it leads nowhere.
        assert!(!leads_to_saddle(0, true, 3));
    }
}
