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
    /// The passes after the first ran into their budget ([`MODE_LATER_PASSES_BUDGET`]): the
    /// mode starts found so many equilibria that the map's starts had missed a large part of
    /// the set, and the searches past the budget were not run.
    pub budget_spent: bool,
}

/// The passes after the first run at most this many times the first pass's searches, all
/// together. The first pass — `2n · 3` searches at most from each equilibrium the starts
/// found — grows with the map; the later ones, from the equilibria the mode starts found,
/// would grow with those in turn: on a 10-D sum of double wells (3¹⁰ equilibria) a map of
/// 256 starts found 484, and three unbounded passes ran 903 216 Newton searches from them
/// for minutes. A map whose later passes keep finding equilibria missed much of the set,
/// which more starts (or `--prove`) address better. On the maps of docs/MAPPING.md the later
/// passes run a few searches or none (nothing new to start from).
pub const MODE_LATER_PASSES_BUDGET: usize = 1;

/// The equilibria whose mode starts are built and run at a time: a pass's starts are never
/// all held at once (from 10⁵ equilibria in 16-D they would take gigabytes).
const MODE_CHUNK: usize = 1024;

/// The mode starts of a map whose starts found `acc.clusters` (see the module docs).
///
/// `boxes` are the certified uniqueness boxes of equilibria the map has: a search that
/// enters one ends there ([`SearchContext::mode_newton`]). The searches and what they find
/// do not depend on [`MODE_CHUNK`] or the thread count: every search starts from a point
/// fixed by the equilibrium it leaves and watches the same boxes, and what they find is
/// taken in the order of their starts.
pub(crate) fn mode_search(
    objectives: &dyn Objectives<f64>,
    ctx: &SearchContext,
    acc: &Accumulator,
    boxes: &CertifiedBoxes,
    deadline: Option<Instant>,
) -> ModeSearch {
    mode_search_in_chunks(objectives, ctx, acc, boxes, deadline, MODE_CHUNK)
}

/// [`mode_search`], building and running the starts of `chunk` equilibria at a time.
fn mode_search_in_chunks(
    objectives: &dyn Objectives<f64>,
    ctx: &SearchContext,
    acc: &Accumulator,
    boxes: &CertifiedBoxes,
    deadline: Option<Instant>,
    chunk: usize,
) -> ModeSearch {
    let late = AtomicBool::new(false);
    let n = ctx.region.len();
    let mut known = acc.clone();
    let mut report = ModeSearch::default();
    let mut frontier: Vec<Vec<f64>> = acc.clusters.iter().map(|c| c.point.clone()).collect();
    // Searches the later passes may still run (none set during the first pass).
    let mut left: Option<usize> = None;
    for _ in 0..MODE_PASSES {
        let mut next = Vec::new();
        for chunk in frontier.chunks(chunk.max(1)) {
            let mut starts: Vec<Vec<f64>> = super::parallel::broadcast_map(
                chunk,
                || (),
                |_, p| mode_starts(objectives, ctx, p, n),
            )
            .into_iter()
            .flatten()
            .collect();
            if let Some(left) = left
                && starts.len() > left
            {
                starts.truncate(left);
                report.budget_spent = true;
            }
            // Per start: whether it ran (not past the deadline), and the equilibrium it
            // reached.
            let ends: Vec<(bool, Option<Vec<f64>>)> = super::parallel::broadcast_map(
                &starts,
                || Evaluators::new(objectives),
                |evals, start| {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        late.store(true, Ordering::Relaxed);
                        return (false, None);
                    }
                    (true, ctx.mode_newton(evals, start, boxes))
                },
            );
            let ran = ends.iter().filter(|(ran, _)| *ran).count();
            report.searches += ran;
            if let Some(left) = left.as_mut() {
                *left -= ran.min(*left);
            }
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
                    next.push(p);
                }
            }
            if late.load(Ordering::Relaxed) {
                report.cut_short = true;
                return report;
            }
            if report.budget_spent {
                return report;
            }
        }
        if left.is_none() {
            left = Some(report.searches.saturating_mul(MODE_LATER_PASSES_BUDGET));
        }
        if next.is_empty() {
            break;
        }
        frontier = next;
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
    use super::*;
    use crate::map::search::Searcher;
    use crate::map::{MapParams, map_equilibria};
    use crate::objectives::problem_file::parse_problem;
    use crate::problems::Problem;

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

    /// Σ (x_j² − 1)² over `n` parameters in [−1.6, 1.6]ⁿ: 3ⁿ equilibria, a lattice along
    /// whose modes every equilibrium leads to others.
    fn double_wells(n: usize) -> Problem<f64> {
        let vars: Vec<String> = (0..n).map(|j| format!("\"x{j}\"")).collect();
        let mut text = format!("vars = [{}]\n", vars.join(", "));
        for j in 0..n {
            text += &format!("[[objective]]\nexpr = \"(x{j}^2 - 1)^2\"\n");
        }
        text += "[region]\n";
        for j in 0..n {
            text += &format!("x{j} = [-1.6, 1.6]\n");
        }
        parse_problem(&text, "double-wells.toml").unwrap()
    }

    #[test]
    fn the_later_passes_stop_at_their_budget_on_a_map_that_missed_most_of_the_set() {
        // 16 starts find a few of the 3⁵ = 243 equilibria; the mode starts from those find
        // more, and from those more again. Unbounded, the three passes ran 5 × 1452 searches.
        let p = double_wells(5);
        let sparse = map_equilibria(
            &p,
            &MapParams {
                starts: Some(16),
                ..MapParams::default()
            },
        )
        .unwrap();
        let c = &sparse.completeness;
        assert!(c.mode_budget_spent);
        // The first pass runs at most 2n · 3 = 30 searches from each equilibrium the starts
        // found; the later ones at most as many again, all together.
        let from_starts = sparse.equilibria.len() - c.mode_found;
        let first_at_most = 30 * from_starts;
        assert!(
            c.mode_searches <= (1 + MODE_LATER_PASSES_BUDGET) * first_at_most,
            "{} mode searches from {from_starts} equilibria",
            c.mode_searches
        );
        assert!(c.mode_found > 0 && sparse.equilibria.len() < 243);
        // The adaptive map finds the whole lattice with its starts; its mode starts find
        // nothing new and never reach the budget.
        let adaptive = map_equilibria(&double_wells(4), &MapParams::default()).unwrap();
        assert_eq!(adaptive.equilibria.len(), 81);
        assert!(!adaptive.completeness.mode_budget_spent);
        assert_eq!(adaptive.completeness.mode_found, 0);
    }

    #[test]
    fn the_mode_starts_do_not_depend_on_how_many_equilibria_run_at_a_time() {
        let p = double_wells(4);
        let region = p.region.clone().unwrap();
        let scale = super::super::starts::scale_of(&region);
        let gscale = super::super::gradient_scale(&*p.objectives, &region);
        let params = MapParams::default();
        let ctx = super::super::search_context(&region, scale, gscale, &params);
        // Three equilibria of the lattice, as a map's starts might have found them.
        let mut acc = Accumulator::new(1e-8 * scale, 1e-8, Searcher::Newton);
        for point in [[1.0, 1.0, 1.0, 1.0], [0.0, 1.0, -1.0, 0.0], [0.0; 4]] {
            acc.insert(super::super::assemble::Cluster {
                point: point.to_vec(),
                first_start: 0,
                first_search: 0,
                hits: Default::default(),
                basin_starts: 1,
            });
        }
        let boxes = CertifiedBoxes::default();
        let whole = mode_search_in_chunks(&*p.objectives, &ctx, &acc, &boxes, None, MODE_CHUNK);
        assert!(whole.found.len() > 10, "{} found", whole.found.len());
        for chunk in [1, 2, 7] {
            let parts = mode_search_in_chunks(&*p.objectives, &ctx, &acc, &boxes, None, chunk);
            assert_eq!(parts, whole, "chunks of {chunk}");
        }
    }
}
