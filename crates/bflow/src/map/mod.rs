//! Equilibrium maps: find, classify and certify every equilibrium of a problem in its region,
//! and say how complete the map is.
//!
//! [`map_equilibria`] runs, from each start in `problem.region`:
//!
//! 1. **Starts.** Point `i` is the Halton point `i + 1` (bases 2, 3, 5, …, one prime per
//!    parameter), shifted modulo 1 by per-coordinate offsets drawn from `seed`
//!    (Cranley–Patterson rotation), scaled into the box ([`start_point`]).
//! 2. **Searches** ([`Searcher`]), each through the flow driver: a trust-region Newton
//!    search on `s(θ) = 0` (independent of how `Σ L` is split, K = 1 included), B-flow with
//!    Armijo steps (on the objectives' additive terms where they split:
//!    [`Objectives::additive_terms`]), loss-flow and ascent; the last three end in a Newton
//!    polish. Each search ends as an
//!    equilibrium, a spurious point (a positive minimum of B), an escape, a divergence or
//!    unresolved ([`Outcome`]).
//! 3. **Accumulation in start order** ([`Accumulator`]): an end point within `√ε · scale` of
//!    an earlier equilibrium is that equilibrium (scale: the region's largest side); hits are
//!    counted per searcher. Memory grows with the equilibria found, not with the starts.
//! 4. **Rounds.** With a fixed number of starts (`starts: Some(N)`) the map runs starts
//!    `0..N`. By default it runs rounds ending at `N_k = F, 2F, 2.5F, 3F, 3.5F, 4F, 5F, 6F,
//!    7F, 8F, 10F, …` (`F = first_round`; from `2F` on four rounds per doubling) and stops at
//!    the end of a round when `N_k ≥ 2F`, the last half of its starts (`N_k/2 .. N_k`) found
//!    no new equilibrium, the estimate of equilibria still unfound ([`estimate_unfound`])
//!    is below ½ and its 95 % upper bound below the number found (the missing mass, the
//!    chance that the next hit is a new equilibrium, is below ½ at 95 % confidence: a map
//!    whose searches rarely end at an equilibrium has seen too few hits to say) — or when
//!    `max_starts` is reached. So an adaptive map that stopped after `N_k` starts ran the
//!    starts of the fixed map with `starts: Some(N_k)`; its searches, run in blocks
//!    ([`known_block`]), end where they enter the certified box of an equilibrium an
//!    earlier block found, where the fixed map's run to their ends (on the 742 maps of
//!    docs/MAPPING.md the same equilibria either way). The evidence is the same at every
//!    round end — half of the starts found nothing new — and the closer the ends, the
//!    closer the stop comes to twice the start of the last discovery: E4 stops at 2560
//!    where doubling rounds ran to 4096.
//! 5. **Mode starts** ([`ModeSearch`], when [`MapParams::mode_starts`]): Newton from each
//!    nondegenerate equilibrium found, displaced along each eigenvector of its Hessian that
//!    leads to a saddle, and from the equilibria that finds; what no start reached is added
//!    after the starts' equilibria ([`Equilibrium::found_by_modes`]).
//! 6. **Assembly**: classification ([`classify`]: eigenvalues of the Hessian of `Σ L`, the
//!    Morse index), the common-stationary test, `Σ L` at each point, the Krawczyk certificate
//!    ([`certify`]) and basin shares; then which minima each index-1 saddle joins
//!    ([`connect`]: steepest descent along both sides of its unstable eigenvector), with the
//!    barriers.
//!
//! The result is a pure function of the problem, the parameters and the records, so it does
//! not depend on the thread count, and shards of the starts merge into exactly the
//! unsharded map ([`merge`]).
//!
//! **Common stationary.** An equilibrium is *common stationary* when every `g_i` vanishes
//! there: `max_i ‖g_i‖ ≤ √ε · G`, where `G` is the problem's gradient scale, the largest
//! `Σ‖g_i‖` over the first 16 unshifted Halton points of the region. B is 0/0 there, so the
//! test never uses B.
//!
//! **Sharding.** Shard `I/N` maps the starts whose index `i` has `i mod N = I` (round-robin,
//! so every shard samples the whole region evenly); it needs a fixed number of starts.
//!
//! **Stopping and resuming.** [`Mapper::run`] runs the starts in batches (sized to about a
//! second each, at most 16 384 starts, an adaptive map's within one [`known_block`] of
//! starts); every start checks the time limit before it begins, and the records go to the
//! accumulator and to [`MapControl::on_record`] in start order, so a stopped map covers a
//! prefix of its starts. [`Mapper::feed`] takes such a prefix back (closing the rounds it
//! completes), and the map then run to its end is the uninterrupted one; [`checkpoint`]
//! stores the records as JSON Lines.

mod assemble;
mod certify;
pub mod checkpoint;
pub mod completeness;
mod connections;
mod estimate;
mod json;
mod modes;
mod parallel;
mod search;
mod starts;

pub use assemble::{Accumulator, Cluster, OutcomeCounts, SpuriousPoint};
pub use certify::{
    Certificate, Classification, Kind, certificate_radii, certify, classify, degenerate_tolerance,
    krawczyk,
};
pub use connections::{Connection, ConnectionParams, PathEnd, connect, displacement};
pub use estimate::{UnfoundEstimate, estimate_unfound};
pub use json::shard_from_json;
pub use modes::{MODE_LATER_PASSES_BUDGET, MODE_PASSES, MODE_STEPS, ModeSearch};
pub use search::{Outcome, SearchRecord, Searcher, StartRecord};
pub use starts::{MAX_MAP_DIM, Shard, region_of, scale_of, start_point};

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::objectives::{Evaluator, Objectives};
use crate::problems::Problem;
use search::{Evaluators, KnownEquilibria, SearchContext};

/// The most starts a map accepts: every start's index must fit the Halton sequence and the
/// counts; memory does not grow with the starts (only with the equilibria found), so the
/// bound is on time, which `max_time` controls.
pub const MAX_STARTS: usize = 1 << 48;

/// The most starts whose records a map keeps in memory when asked to
/// ([`MapControl::keep_records`], `--per-start`): 65536 (about 4 KB of peak memory each
/// where they are written out as JSON, built as a tree first); beyond, a checkpoint keeps
/// every start's record on disk instead.
pub const MAX_KEPT_RECORDS: usize = 1 << 16;

/// The largest step budget of one search (`bflow_steps`, `newton_steps`, `lossflow_steps`):
/// a search that has not converged in a million steps will not, and a budget read from a
/// shard file must not make a merge run without end.
pub const MAX_SEARCH_STEPS: usize = 1_000_000;

/// The settings of a map. Build with [`Default`] and struct update syntax; checked when the
/// map starts. Two maps with equal parameters (shard aside) of the same problem have the same
/// starts, so their shards merge.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MapParams {
    /// A fixed number of starts N; `None` (the default): rounds until the map looks complete.
    pub starts: Option<usize>,
    /// The first round's starts when `starts` is `None`; `None` (the default): by the
    /// dimension n, [`default_first_round`] (128, 512, 2048, 8192 for n ≤ 3, 4, 5, ≥ 6;
    /// without mode starts [`default_first_round_without_mode_starts`], 256 for n = 3), since
    /// the number of equilibria, and of starts needed to see the rare ones, grows with n.
    pub first_round: Option<usize>,
    /// The most starts an adaptive map runs (default 65 536).
    pub max_starts: usize,
    /// Seed of the Halton shift (default 0).
    pub seed: u64,
    /// Map only this slice of the starts (default: all; needs `starts`).
    pub shard: Option<Shard>,
    /// The searches run from every start, in order; the first is the primary (basin shares
    /// are its). Default: Newton, B-flow, loss-flow and ascent — each finds equilibria the
    /// others miss (B-flow saddles outside Newton's basins, loss-flow minima and ascent
    /// maxima behind local minima of `‖s‖`).
    pub searchers: Vec<Searcher>,
    /// B-flow step budget per search (default 200).
    pub bflow_steps: usize,
    /// Newton step budget per search and per polish (default 100).
    pub newton_steps: usize,
    /// Loss-flow step budget per search (default 3000).
    pub lossflow_steps: usize,
    /// Once the starts are done, Newton from each nondegenerate equilibrium found, displaced
    /// along each eigenvector of its Hessian that leads to a saddle ([`modes`](ModeSearch);
    /// default `true`). Skipped when
    /// the map stopped at its time limit or was interrupted.
    #[serde(default = "mode_starts_default")]
    pub mode_starts: bool,
}

/// The default of [`MapParams::mode_starts`] for maps written before it existed.
fn mode_starts_default() -> bool {
    true
}

impl Default for MapParams {
    fn default() -> Self {
        Self {
            starts: None,
            first_round: None,
            max_starts: 1 << 16,
            seed: 0,
            shard: None,
            searchers: vec![
                Searcher::Newton,
                Searcher::Bflow,
                Searcher::Lossflow,
                Searcher::Ascent,
            ],
            bflow_steps: 200,
            newton_steps: 100,
            lossflow_steps: 3000,
            mode_starts: true,
        }
    }
}

impl MapParams {
    /// The most starts this map (or shard) may run: its slice of `starts`, or `max_starts`
    /// for an adaptive map.
    pub fn most_starts(&self) -> usize {
        match (self.starts, self.shard) {
            (Some(n), Some(s)) => n.saturating_sub(s.index).div_ceil(s.count.max(1)),
            (Some(n), None) => n,
            (None, _) => self.max_starts,
        }
    }

    /// The parameters a map of `k` objectives runs with: with one objective B ≡ 1 has no
    /// gradient, so B-flow is dropped from the searchers (the map then works on `s = ∇L`
    /// alone; [`Mapper::new`] does this, and the map's `params` show it).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`searchers`) when B-flow is the only searcher and
    /// `k = 1`.
    pub fn for_objectives(&self, k: usize) -> Result<Self> {
        let mut params = self.clone();
        if k == 1 {
            params.searchers.retain(|&s| s != Searcher::Bflow);
            if params.searchers.is_empty() {
                return Err(Error::InvalidParameter {
                    name: "searchers".into(),
                    reason: "with one objective B ≡ 1 has no gradient: B-flow finds nothing; \
                             use newton, lossflow or ascent"
                        .into(),
                });
            }
        }
        Ok(params)
    }

    /// Checks every parameter's range.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the parameter.
    pub fn validate(&self) -> Result<()> {
        let bad = |name: &str, reason: String| {
            Err(Error::InvalidParameter {
                name: name.into(),
                reason,
            })
        };
        match self.starts {
            Some(0) => return bad("starts", "must be ≥ 1".into()),
            Some(n) if n > MAX_STARTS => {
                return bad("starts", format!("must be at most {MAX_STARTS}, got {n}"));
            }
            _ => {}
        }
        if let Some(f) = self.first_round.filter(|&f| f == 0 || f > MAX_STARTS) {
            return bad(
                "first_round",
                format!("must be in 1..={MAX_STARTS}, got {f}"),
            );
        }
        if self.max_starts == 0 || self.max_starts > MAX_STARTS {
            return bad(
                "max_starts",
                format!("must be in 1..={MAX_STARTS}, got {}", self.max_starts),
            );
        }
        if let Some(s) = self.shard {
            if s.count == 0 || s.index >= s.count {
                return bad(
                    "shard",
                    format!("must be I/N with 0 ≤ I < N, got {}/{}", s.index, s.count),
                );
            }
            match self.starts {
                None => {
                    return bad(
                        "shard",
                        "needs a fixed number of starts: an adaptive map decides when to stop \
                         from all starts together"
                            .into(),
                    );
                }
                // `merge` refuses such shards: at most one shard per start.
                Some(starts) if s.count > starts => {
                    return bad(
                        "shard",
                        format!(
                            "{}/{}: more shards than the {starts} starts (at most one shard per \
                             start)",
                            s.index, s.count
                        ),
                    );
                }
                Some(_) => {}
            }
        }
        if self.searchers.is_empty() {
            return bad("searchers", "at least one searcher is needed".into());
        }
        for (k, s) in self.searchers.iter().enumerate() {
            if self.searchers[..k].contains(s) {
                return bad("searchers", format!("`{s}` is listed twice"));
            }
        }
        for (name, v) in [
            ("bflow_steps", self.bflow_steps),
            ("newton_steps", self.newton_steps),
            ("lossflow_steps", self.lossflow_steps),
        ] {
            if v == 0 || v > MAX_SEARCH_STEPS {
                return bad(name, format!("must be in 1..={MAX_SEARCH_STEPS}, got {v}"));
            }
        }
        Ok(())
    }

    /// The first round of an adaptive map of `n` parameters.
    fn first_round_for(&self, n: usize) -> usize {
        self.first_round.unwrap_or_else(|| {
            if self.mode_starts {
                default_first_round(n)
            } else {
                default_first_round_without_mode_starts(n)
            }
        })
    }

    /// The end of round `k` (exclusive start index) of an adaptive map of `n` parameters
    /// (`F` the first round): `F`, then `2F`, `2.5F`, `3F`, `3.5F`, `4F`, `5F`, … — from
    /// `2F` on, four rounds per doubling, each a quarter of the last power of two longer.
    /// A map can stop only from `2F` on, and it stops at the first round end `N` that has
    /// nothing new in `N/2..N`: the closer the ends, the closer `N` comes to twice the start
    /// of the last discovery.
    fn round_end(&self, k: u32, n: usize) -> usize {
        let first = self.first_round_for(n);
        let end = match k.checked_sub(1) {
            None => first,
            Some(j) => {
                let whole = first
                    .saturating_mul(2)
                    .saturating_mul(1usize.checked_shl(j / 4).unwrap_or(usize::MAX));
                whole.saturating_add((whole / 4).saturating_mul((j % 4) as usize))
            }
        };
        end.min(self.max_starts)
    }
}

/// The first round of an adaptive map of `n` parameters when [`MapParams::first_round`] is
/// `None` and the map runs its mode starts (the default): 2 · 4ⁿ, at least 128 and at most
/// 8192 — 128 for n ≤ 3, 512 for n = 4, 2048 for n = 5, 8192 from n = 6. Without mode
/// starts, [`default_first_round_without_mode_starts`].
///
/// Beyond n = 4 the rare equilibria grow rarer faster than 32 · 2ⁿ (the rule up to 4-D
/// before): measured on Gaussian-well problems whose sets `--prove` established
/// (docs/MAPPING.md, "How often the statistical stop is wrong"), with 32 · 2ⁿ 2 of 42 maps of
/// three 5-D instances and 3 of 28 of two 6-D ones called themselves complete one saddle
/// short; with 2 · 4ⁿ none of 84 and none of 28 did. In 3-D 2 · 4ⁿ is 128 where 32 · 2ⁿ gave
/// 256. That held on 52 proven 3-D Gaussian-well sets (0 of 1456 maps short) but not on the
/// cosine lattice (`examples/problems/cosines-3d.toml`: 4 of 84 maps one saddle short) until
/// the mode starts ran from saddles too and the stop asked for enough hits (the missing-mass
/// bound below ½): then, on 88 proven 3-D sets of eight kinds at 28–84 seeds each (3500
/// maps), 59 maps stopped short against 85 with 256 and the mode starts from extrema only,
/// in 0.62× the starts — 55 of the 59 (51 of the 85) without one nearly degenerate saddle
/// (eigenvalues −5·10⁻⁵ and 11) that a 2048-start map missed too (docs/MAPPING.md, "A first
/// round of 128 in 3-D").
pub fn default_first_round(n: usize) -> usize {
    let n = u32::try_from(n).unwrap_or(u32::MAX).min(7);
    (2usize << (2 * n)).clamp(128, 8192)
}

/// The first round of an adaptive map of `n` parameters when [`MapParams::first_round`] is
/// `None` and the map runs no mode starts: the larger of 32 · 2ⁿ and [`default_first_round`]
/// — 256 in 3-D instead of 128 (without them 3 of 728 maps of the 3-D Gaussian-well sets
/// stopped an index-2 saddle short at 128), the same from n = 4 on.
pub fn default_first_round_without_mode_starts(n: usize) -> usize {
    let k = u32::try_from(n).unwrap_or(u32::MAX).min(7);
    (32usize << k).max(default_first_round(n))
}

/// The statistical and rigorous evidence that a map is complete (see
/// [`completeness`] for the degree and the proof).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Completeness {
    /// The statistical estimate from the hit counts.
    #[serde(flatten)]
    pub estimate: UnfoundEstimate,
    /// Rounds run (1 for a fixed number of starts).
    pub rounds: usize,
    /// Starts run.
    pub starts_used: usize,
    /// Why the map stopped: `"complete"` ([`UnfoundEstimate::looks_complete`] and the last
    /// half of the starts found nothing new), `"max-starts"`, `"time-limit"` (during the starts, or
    /// during the mode starts after every start ran), `"fixed"` (a fixed number of starts),
    /// `"interrupted"`.
    pub stopped: String,
    /// The topological check: the degree of s on the region's boundary against
    /// `Σ sign det J` over the equilibria found (`None` where it could not be computed
    /// rigorously; `degree_note` says why).
    pub degree: Option<completeness::DegreeCheck>,
    /// Why there is no degree.
    pub degree_note: Option<String>,
    /// The interval proof ([`EquilibriumMap::prove`]); `"not run"` unless asked for.
    pub proof: completeness::ProofReport,
    /// Newton searches of the mode starts ([`ModeSearch`]; 0 when they were off).
    #[serde(default)]
    pub mode_searches: usize,
    /// Equilibria the mode starts found that no start reached (for an adaptive map: the
    /// statistical stop had called it complete without them).
    #[serde(default)]
    pub mode_found: usize,
    /// The mode starts' passes after the first reached their budget
    /// ([`MODE_LATER_PASSES_BUDGET`]): the first pass found equilibria the starts had missed,
    /// the passes from those had more starts than the budget, and the searches past it were
    /// not run — a sign that the starts missed much of the set.
    #[serde(default)]
    pub mode_budget_spent: bool,
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
    /// `‖s‖` there.
    pub grad_norm: f64,
    /// `Σ L_i` there.
    pub loss_sum: f64,
    /// Krawczyk certificate.
    pub certificate: Certificate,
    /// The lowest start index whose search ended here.
    pub first_start: usize,
    /// Which of that start's searches reached it first (position in the searcher list).
    pub first_search: usize,
    /// Searches that ended here, per searcher.
    pub hits: BTreeMap<Searcher, u64>,
    /// Starts whose primary search ended here.
    pub basin_starts: usize,
    /// `basin_starts` / starts mapped.
    pub basin_share: f64,
    /// Found by the interval proof, which no search reached.
    pub found_by_proof: bool,
    /// Found by the mode starts ([`ModeSearch`]), which no start reached.
    pub found_by_modes: bool,
}

impl Equilibrium {
    /// What found it: the searchers' names, `"modes"` for the mode starts and `"proof"` for
    /// the interval proof.
    pub fn found_by(&self) -> Vec<&'static str> {
        let mut by: Vec<&'static str> = self
            .hits
            .iter()
            .filter(|&(_, &h)| h > 0)
            .map(|(s, _)| s.name())
            .collect();
        if self.found_by_modes {
            by.push("modes");
        }
        if self.found_by_proof {
            by.push("proof");
        }
        by
    }

    /// How many searches of `searcher` ended here.
    pub fn hits_by(&self, searcher: Searcher) -> u64 {
        self.hits.get(&searcher).copied().unwrap_or(0)
    }
}

/// The result of a map.
#[derive(Debug, Clone, PartialEq)]
pub struct EquilibriumMap {
    /// The problem's name.
    pub problem: String,
    /// A fingerprint of the problem's objectives ([`problem_fingerprint`]).
    pub fingerprint: Vec<f64>,
    /// The settings.
    pub params: MapParams,
    /// Distinct equilibria, in order of first discovery (start index).
    pub equilibria: Vec<Equilibrium>,
    /// The minima each index-1 saddle of `equilibria` joins ([`connect`]), in saddle order.
    pub connections: Vec<Connection>,
    /// Distinct spurious end points.
    pub spurious: Vec<SpuriousPoint>,
    /// Outcomes per searcher.
    pub outcomes: BTreeMap<Searcher, OutcomeCounts>,
    /// Starts mapped (all of them, or this shard's).
    pub starts_mapped: usize,
    /// Completeness evidence.
    pub completeness: Completeness,
    /// The per-start records, when the map kept them.
    pub records: Option<Vec<StartRecord>>,
    /// The region's scale (largest side).
    pub scale: f64,
    /// Wall-clock seconds, the assembly (mode starts, classification, certificates,
    /// connections) included (after a merge: the shards' seconds summed).
    pub seconds: f64,
}

impl EquilibriumMap {
    /// Searches of the primary searcher that left the region.
    pub fn escaped(&self) -> u64 {
        self.primary_outcomes().escaped
    }

    /// Searches of the primary searcher that diverged.
    pub fn diverged(&self) -> u64 {
        self.primary_outcomes().diverged
    }

    /// Searches of the primary searcher that ended unresolved.
    pub fn unresolved(&self) -> u64 {
        self.primary_outcomes().unresolved
    }

    fn primary_outcomes(&self) -> OutcomeCounts {
        self.params
            .searchers
            .first()
            .and_then(|s| self.outcomes.get(s))
            .copied()
            .unwrap_or_default()
    }

    /// The number of equilibria of each Morse index, `counts[k]` for index k (degenerate
    /// points excluded).
    pub fn morse_counts(&self) -> Vec<usize> {
        let n = self.equilibria.first().map_or(0, |e| e.point.len());
        let mut counts = vec![0; n + 1];
        for e in &self.equilibria {
            if e.classification.kind != Kind::Degenerate {
                counts[e.classification.morse_index] += 1;
            }
        }
        counts
    }
}

/// How a map is run, beyond what decides its result: a time limit, whether to keep the
/// per-start records, progress and a record sink (a checkpoint).
pub struct MapControl<'a> {
    /// Stop after this long (the starts mapped so far form a complete prefix; the map says
    /// how many).
    pub max_time: Option<Duration>,
    /// Keep every start's record in [`EquilibriumMap::records`] (memory grows with the
    /// starts).
    pub keep_records: bool,
    /// Called as `(done, target)` after each start (from worker threads).
    pub progress: &'a (dyn Fn(usize, usize) + Sync),
    /// Called with every record in start order once its batch is done; `Break` stops the map
    /// (an I/O error in a checkpoint, say).
    pub on_record: &'a mut dyn FnMut(&StartRecord) -> ControlFlow<()>,
    /// Called at the end of every batch, after its records went to `on_record` (flush a
    /// checkpoint here); `Break` stops the map.
    pub on_batch: &'a mut dyn FnMut(&MapProgress) -> ControlFlow<()>,
}

/// Where a map stands at the end of a batch of starts ([`MapControl::on_batch`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapProgress {
    /// Starts mapped so far (this shard's), records fed from a checkpoint included.
    pub starts_mapped: usize,
    /// This shard's starts up to the end of the current round (all of them for a fixed
    /// number of starts).
    pub round_starts: usize,
    /// Distinct equilibria found so far.
    pub equilibria: usize,
}

/// Batches of starts run in parallel; their records then go in start order to the
/// accumulator and [`MapControl::on_record`]. A batch is sized to take about
/// [`BATCH_SECONDS`], between one start per thread and this many starts (which bounds the
/// records in flight), and an adaptive map's ends with its block of starts
/// ([`known_block`]).
const MAX_BATCH: usize = 1 << 14;

/// The duration a batch aims at: a checkpoint is flushed at every batch end, so a killed
/// map loses about this much work (or one start, when a start takes longer).
const BATCH_SECONDS: f64 = 1.0;

/// The block of starts of an adaptive map whose first round is `first_round` starts: a
/// quarter of it (32 starts for n ≤ 3, 128 in 4-D, 512 in 5-D), at least 8. The map runs
/// its starts in blocks (by index; a batch never spans two), and a search of a block ends
/// where it enters the certified uniqueness box of an equilibrium first found in an earlier
/// block: a Newton search or polish in any such box, loss-flow in a minimum's, ascent in a
/// maximum's, B-flow's descent in none (the search's record then holds that equilibrium's
/// point). The blocks are fixed by the start indices, never by timing or threads, so a
/// start's record is the same whatever the thread count and however the run is interrupted
/// and resumed; a block as wide as a quarter of the first round keeps a machine of many
/// cores busy where the maps are large. A map with a fixed number of starts
/// (and its shards, which do not see each other's equilibria) runs every search to its end.
/// On 742 maps of 53 problems (2-D to 6-D): the same equilibria, starts, stops and
/// connections; 707 maps identical to the bit, 35 (E4, two Morse surfaces) with 1–45 more hits —
/// searches that entered a proven box and then stalled, unresolved before. The 3-D example
/// wells in 0.90× the instructions, E4 in 0.76× (docs/MAPPING.md).
pub fn known_block(first_round: usize) -> usize {
    (first_round / 4).max(8)
}

/// An equilibrium's Krawczyk certificate and classification, made once: while an adaptive
/// map runs (for its [`KnownEquilibria`]), then used again by the assembly.
#[derive(Debug, Clone)]
struct Described {
    certificate: Certificate,
    classification: Option<Classification>,
}

impl Described {
    fn at(obj: &dyn Objectives<f64>, point: &[f64], scale: f64) -> Self {
        Self {
            certificate: certify(obj, point, scale),
            classification: classify(obj, point),
        }
    }
}

/// A map in progress: feed it records from a checkpoint, run it, finish it.
pub struct Mapper<'p> {
    problem: &'p Problem<f64>,
    params: MapParams,
    region: Vec<(f64, f64)>,
    scale: f64,
    gscale: f64,
    acc: Accumulator,
    records: Vec<StartRecord>,
    /// The next start index to run (every index below it that belongs to the shard is done).
    next: usize,
    /// Rounds completed.
    rounds: usize,
    /// Why the map is done, once it is: `"fixed"`, `"complete"` or `"max-starts"`.
    finished: Option<&'static str>,
    stopped: String,
    seconds: f64,
    /// The last run's time limit, as an instant: the mode starts of [`Mapper::finish`] stop
    /// there too.
    deadline: Option<Instant>,
    /// The first clusters' certificates and classifications (an adaptive map's, those of the
    /// blocks before the current one).
    described: Vec<Described>,
    /// Their boxes.
    known: KnownEquilibria,
}

impl<'p> Mapper<'p> {
    /// A map of `problem` with `params`, nothing run yet.
    ///
    /// # Errors
    /// As [`map_equilibria`].
    pub fn new(problem: &'p Problem<f64>, params: &MapParams) -> Result<Self> {
        params.validate()?;
        let params = &params.for_objectives(problem.objectives.num_objectives())?;
        let region = region_of(problem)?;
        let scale = scale_of(&region);
        let primary = params.searchers[0];
        Ok(Self {
            problem,
            gscale: gradient_scale(problem.objectives.as_ref(), &region),
            params: params.clone(),
            region,
            scale,
            acc: Accumulator::new(f64::EPSILON.sqrt() * scale, 1e-4 * scale, primary),
            records: Vec::new(),
            next: 0,
            rounds: 0,
            finished: None,
            stopped: String::new(),
            seconds: 0.0,
            deadline: None,
            described: Vec::new(),
            known: KnownEquilibria::default(),
        })
    }

    fn context(&self) -> SearchContext {
        search_context(&self.region, self.scale, self.gscale, &self.params)
    }

    /// Starts run so far (this shard's).
    pub fn starts_mapped(&self) -> usize {
        self.acc.starts
    }

    /// The next start index to run.
    pub fn next_start(&self) -> usize {
        self.next
    }

    /// Distinct equilibria found so far.
    pub fn equilibria_found(&self) -> usize {
        self.acc.clusters.len()
    }

    /// The first start index `≥ i` of this map's slice (`usize::MAX` when there is none).
    fn next_owned(&self, i: usize) -> usize {
        match self.params.shard {
            None => i,
            Some(s) => {
                let r = i % s.count;
                let ahead = if r <= s.index {
                    s.index - r
                } else {
                    s.count - r + s.index
                };
                i.saturating_add(ahead)
            }
        }
    }

    /// How many start indices below `end` belong to this map's slice.
    fn owned_below(&self, end: usize) -> usize {
        match self.params.shard {
            None => end,
            Some(s) => end.saturating_sub(s.index).div_ceil(s.count),
        }
    }

    /// The end (exclusive start index) of the round that start `next` belongs to.
    fn round_end(&self) -> usize {
        match self.params.starts {
            Some(n) => n,
            None => (0..256)
                .map(|k| self.params.round_end(k, self.problem.dim()))
                .find(|&end| end > self.next)
                .unwrap_or(self.params.max_starts),
        }
    }

    /// Counts the round that just ended at `next` and decides whether the map is done: an
    /// adaptive map is complete once it has run at least two first rounds, no equilibrium was
    /// first found in the last half of its starts, the estimate of unfound ones is below ½ and
    /// its 95 % upper bound is below the number found.
    fn close_round(&mut self) {
        self.rounds += 1;
        let half = self.next / 2;
        // Starts run in index order, so an equilibrium's first start is where it was found.
        let found_new = self.acc.clusters.iter().any(|c| c.first_start >= half);
        let first = self.params.first_round_for(self.problem.dim());
        self.finished = match self.params.starts {
            Some(_) => Some("fixed"),
            None if self.next >= first.saturating_mul(2)
                && !found_new
                && self.estimate().looks_complete() =>
            {
                Some("complete")
            }
            None if self.next >= self.params.max_starts => Some("max-starts"),
            None => None,
        };
    }

    /// Adds a record made earlier with the same problem and parameters (a checkpoint): it must
    /// be the next start of this map's sequence. Rounds that the records complete are closed
    /// as [`run`](Self::run) closes them, so feeding a prefix of a map's records and running
    /// the rest gives the map of an uninterrupted run.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`checkpoint`) when the record is not the next start (or
    /// the map is already done), has points of the wrong length or other searchers, a start
    /// that is not the start of its index, or a point it calls an equilibrium that is none
    /// (not finite, outside the region, or `‖s‖` above what a converged search leaves).
    pub fn feed(&mut self, record: StartRecord, keep: bool) -> Result<()> {
        let end = self.round_end();
        let expected = self.next_owned(self.next);
        let n = self.problem.dim();
        let lengths_ok = record.start.len() == n
            && record
                .searches
                .iter()
                .all(|s| s.point.as_ref().is_none_or(|p| p.len() == n))
            && record.searches.len() == self.params.searchers.len()
            && record
                .searches
                .iter()
                .zip(&self.params.searchers)
                .all(|(s, &t)| s.searcher == t);
        if let Some(reason) = self.finished {
            return Err(Error::InvalidParameter {
                name: "checkpoint".into(),
                reason: format!(
                    "record {} comes after the end of the map (stopped: {reason})",
                    record.index
                ),
            });
        }
        if record.index != expected || expected >= end || !lengths_ok {
            return Err(Error::InvalidParameter {
                name: "checkpoint".into(),
                reason: format!(
                    "record {} does not continue this map (expected start {expected} with {} \
                     searches of {n} parameters)",
                    record.index,
                    self.params.searchers.len()
                ),
            });
        }
        if let Some(reason) = self.foreign_claim(&record) {
            return Err(Error::InvalidParameter {
                name: "checkpoint".into(),
                reason: format!("record {}: {reason}", record.index),
            });
        }
        self.acc.add(&record);
        self.next = record.index + 1;
        if keep {
            self.records.push(record);
        }
        // As `run` does at the end of a round: the round is complete when no start of this
        // slice is left before its end.
        if self.next_owned(self.next) >= end {
            self.next = end;
            self.close_round();
        }
        Ok(())
    }

    /// The statistical estimate now.
    pub fn estimate(&self) -> UnfoundEstimate {
        estimate_unfound(&self.acc.hit_counts())
    }

    /// Runs starts (rounds, for an adaptive map) until the map is done or `control` stops it.
    /// Every start checks the time limit before it begins, so the map stops within one
    /// start's time of it; the records before the first start not run form the map.
    ///
    /// # Errors
    /// None yet; the signature leaves room for I/O-backed controls.
    pub fn run(&mut self, control: &mut MapControl<'_>) -> Result<()> {
        let clock = Instant::now();
        let deadline = control.max_time.map(|t| clock + t);
        self.deadline = deadline;
        let ctx = self.context();
        let done = AtomicUsize::new(self.acc.starts);
        let threads = rayon::current_num_threads().max(1);
        let step = self.params.shard.map_or(1, |s| s.count);
        // The first batch is small: it measures how long a start takes.
        let mut batch = (4 * threads).min(MAX_BATCH);
        'map: while self.finished.is_none() {
            let target = self.round_end();
            let total = self.owned_below(target);
            while self.next < target {
                let first = self.next_owned(self.next).min(target);
                // An adaptive map's batch ends with its block of starts.
                let stop = match self.known_block() {
                    Some(block) => target.min((first / block + 1) * block),
                    None => target,
                };
                let indices: Vec<usize> = (first..stop).step_by(step).take(batch).collect();
                let hi = match indices.last() {
                    Some(&last) if self.next_owned(last + 1) < stop => last + 1,
                    _ => stop,
                };
                self.update_known(first);
                let known = &self.known;
                let objectives = self.problem.objectives.as_ref();
                let (region, seed, searchers) =
                    (&self.region, self.params.seed, &self.params.searchers);
                let batch_clock = Instant::now();
                let results: Vec<Option<StartRecord>> = parallel::broadcast_map(
                    &indices,
                    || Evaluators::new(objectives),
                    |evals, &i| {
                        if deadline.is_some_and(|d| Instant::now() >= d) {
                            return None;
                        }
                        let start = start_point(region, seed, i, true);
                        let searches = searchers
                            .iter()
                            .map(|&s| ctx.search(evals, s, &start, known))
                            .collect();
                        (control.progress)(done.fetch_add(1, Ordering::Relaxed) + 1, total);
                        Some(StartRecord {
                            index: i,
                            start,
                            searches,
                        })
                    },
                );
                let batch_seconds = batch_clock.elapsed().as_secs_f64();
                for r in results {
                    let Some(r) = r else {
                        self.stopped = "time-limit".into();
                        break 'map;
                    };
                    let stop = (control.on_record)(&r).is_break();
                    self.acc.add(&r);
                    self.next = r.index + 1;
                    if control.keep_records {
                        self.records.push(r);
                    }
                    if stop {
                        self.stopped = "interrupted".into();
                        break 'map;
                    }
                }
                self.next = hi;
                let progress = MapProgress {
                    starts_mapped: self.acc.starts,
                    round_starts: total,
                    equilibria: self.acc.clusters.len(),
                };
                if (control.on_batch)(&progress).is_break() {
                    self.stopped = "interrupted".into();
                    break 'map;
                }
                // The next batch takes about BATCH_SECONDS at this batch's rate.
                let rate = indices.len() as f64 / batch_seconds.max(1e-6);
                batch = ((rate * BATCH_SECONDS) as usize).clamp(threads, MAX_BATCH);
            }
            self.close_round();
        }
        if let Some(reason) = self.finished {
            self.stopped = reason.into();
        }
        self.seconds += clock.elapsed().as_secs_f64();
        Ok(())
    }

    /// Why `record` cannot be this map's (`None` when it can): its start is not the start
    /// of its index, or a point it says a search ended at as an equilibrium is not one — not
    /// finite, outside the region (beyond the slack a search's Newton accepts), or with
    /// `‖s‖` above what a converged search leaves (`√ε` of the gradient scale, or `4ε Σ‖g_i‖`
    /// where that is larger). A record edited by hand, or of another map, would otherwise put
    /// a false equilibrium on the map; this costs one evaluation per equilibrium claimed.
    fn foreign_claim(&self, record: &StartRecord) -> Option<String> {
        let start = start_point(&self.region, self.params.seed, record.index, true);
        if record
            .start
            .iter()
            .zip(&start)
            .any(|(a, b)| a.to_bits() != b.to_bits())
        {
            return Some(format!(
                "its start {:?} is not start {} of this map, {start:?}",
                record.start, record.index
            ));
        }
        let slack = search::INSIDE_SLACK * self.scale;
        let mut eval = Evaluator::new(self.problem.objectives.as_ref());
        for s in &record.searches {
            let (Outcome::Equilibrium, Some(p)) = (s.outcome, &s.point) else {
                continue;
            };
            let converged = search::inside_region(&self.region, p, slack)
                && eval.evaluate(p).is_ok_and(|(stats, _)| {
                    stats.sum_norm <= (f64::EPSILON.sqrt() * self.gscale).max(4.0 * stats.floor())
                });
            if !converged {
                return Some(format!(
                    "its `{}` search ends at {p:?}, which is no equilibrium inside the region",
                    s.searcher
                ));
            }
        }
        None
    }

    /// The block of starts ([`known_block`]) of an adaptive, unsharded map, whose searches
    /// watch for known equilibria; `None` for other maps.
    fn known_block(&self) -> Option<usize> {
        (self.params.starts.is_none() && self.params.shard.is_none())
            .then(|| known_block(self.params.first_round_for(self.problem.dim())))
    }

    /// Describes (certifies and classifies) the clusters first found before the block of
    /// start `first`, and makes their boxes the known ones.
    fn update_known(&mut self, first: usize) {
        let Some(block) = self.known_block() else {
            return;
        };
        let block = first / block * block;
        let have = self.described.len();
        let new = self.acc.clusters[have..].partition_point(|c| c.first_start < block);
        if new == 0 {
            return;
        }
        let (obj, scale) = (self.problem.objectives.as_ref(), self.scale);
        let described: Vec<Described> = parallel::broadcast_map(
            &self.acc.clusters[have..have + new],
            || (),
            |_, c| Described::at(obj, &c.point, scale),
        );
        self.described.extend(described);
        let boxes: Vec<_> = self
            .acc
            .clusters
            .iter()
            .zip(&self.described)
            .enumerate()
            .filter_map(|(k, (cluster, d))| {
                let kind = d.classification.as_ref().map(|class| class.kind);
                Some((
                    k,
                    cluster.point.as_slice(),
                    d.certificate.unique_radius?,
                    kind,
                ))
            })
            .collect();
        self.known = KnownEquilibria::new(&boxes);
    }

    /// The map of what has been run.
    ///
    /// # Errors
    /// As [`map_equilibria`] for the region.
    pub fn finish(self) -> Result<EquilibriumMap> {
        let Mapper {
            problem,
            params,
            acc,
            records,
            rounds,
            finished,
            stopped,
            seconds,
            deadline,
            described,
            ..
        } = self;
        let clock = Instant::now();
        let stopped = finished.map_or(stopped, String::from);
        let keep = !records.is_empty() || acc.starts == 0;
        let mut map = assemble_map(problem, params, acc, &described, rounds, stopped, deadline)?;
        map.records = keep.then_some(records);
        map.seconds = seconds + clock.elapsed().as_secs_f64();
        Ok(map)
    }
}

/// The problem's gradient scale `G`: the largest `Σ‖g_i‖` over the first 16 unshifted
/// Halton points of the region (1 when they are all zero or not finite).
fn gradient_scale(objectives: &dyn Objectives<f64>, region: &[(f64, f64)]) -> f64 {
    let mut eval = Evaluator::new(objectives);
    let g = (0..16)
        .filter_map(|i| eval.evaluate(&start_point(region, 0, i, false)).ok())
        .map(|(p, _)| p.gradient_norm_sum)
        .fold(0.0, f64::max);
    if g > 0.0 && g.is_finite() { g } else { 1.0 }
}

/// What every search of a map over `region` shares.
fn search_context(
    region: &[(f64, f64)],
    scale: f64,
    gscale: f64,
    params: &MapParams,
) -> SearchContext {
    let grow = |&(lo, hi): &(f64, f64)| {
        let w = 0.25 * (hi - lo);
        (lo - w, hi + w)
    };
    SearchContext::new(
        region.to_vec(),
        region.iter().map(grow).collect(),
        (scale, gscale),
        params.bflow_steps,
        params.newton_steps,
        params.lossflow_steps,
    )
}

/// The polished point `p` described as an equilibrium no start reached: classified (a
/// failed classification is `degenerate`), certified, with B, `‖s‖` and `Σ L` there (NaN
/// where the objectives are undefined), the common-stationary test against the gradient
/// scale `gscale`, and no hits. The map's starts add their hits and basins to it.
fn equilibrium_at(
    obj: &dyn Objectives<f64>,
    eval: &mut Evaluator<'_, f64>,
    scales: (f64, f64),
    p: &[f64],
) -> Equilibrium {
    described_equilibrium(eval, scales.1, p, Described::at(obj, p, scales.0))
}

/// [`equilibrium_at`] with the point's certificate and classification made already.
fn described_equilibrium(
    eval: &mut Evaluator<'_, f64>,
    gscale: f64,
    p: &[f64],
    described: Described,
) -> Equilibrium {
    let (b, grad_norm, common, loss_sum) = match eval.evaluate(p) {
        Ok((stats, _)) => (
            stats.b(),
            stats.sum_norm,
            stats.max_gradient_norm <= f64::EPSILON.sqrt() * gscale,
            stats.total_loss,
        ),
        Err(_) => (None, f64::NAN, false, f64::NAN),
    };
    Equilibrium {
        certificate: described.certificate,
        classification: described.classification.unwrap_or(Classification {
            kind: Kind::Degenerate,
            morse_index: 0,
            eigenvalues: Vec::new(),
        }),
        point: p.to_vec(),
        common_stationary: common,
        // Where every g_i vanishes the computed B is a ratio of rounding errors (0/0): report
        // it as undefined, not as the number rounding happened to give.
        b: if common { None } else { b },
        grad_norm,
        loss_sum,
        first_start: usize::MAX,
        first_search: 0,
        hits: BTreeMap::new(),
        basin_starts: 0,
        basin_share: 0.0,
        found_by_proof: false,
        found_by_modes: false,
    }
}

/// [`equilibrium_at`] for an equilibrium no start reached (found by the mode starts or the
/// interval proof); `None` farther than `slack` outside the region or where the objectives
/// are undefined.
fn unreached_equilibrium(
    obj: &dyn Objectives<f64>,
    eval: &mut Evaluator<'_, f64>,
    region: &[(f64, f64)],
    (scale, gscale, slack): (f64, f64, f64),
    p: &[f64],
) -> Option<Equilibrium> {
    if !search::inside_region(region, p, slack) {
        return None;
    }
    let e = equilibrium_at(obj, eval, (scale, gscale), p);
    // `evaluate` refuses non-finite values, so a NaN ‖s‖ is an undefined point.
    (!e.grad_norm.is_nan()).then_some(e)
}

/// Classifies, certifies and describes the accumulated equilibria, after the mode starts
/// from them (a pure function of its inputs).
fn assemble_map(
    problem: &Problem<f64>,
    params: MapParams,
    acc: Accumulator,
    described: &[Described],
    rounds: usize,
    mut stopped: String,
    deadline: Option<Instant>,
) -> Result<EquilibriumMap> {
    let region = region_of(problem)?;
    let scale = scale_of(&region);
    let obj = problem.objectives.as_ref();
    let gscale = gradient_scale(obj, &region);
    let mapped = acc.starts.max(1) as f64;
    let estimate = estimate_unfound(&acc.hit_counts());
    debug_assert!(described.len() <= acc.clusters.len());
    // Each equilibrium is classified and certified on its own (in parallel, collected in
    // order: the result does not depend on the thread count).
    let mut equilibria = parallel::broadcast_map(
        &acc.clusters.iter().enumerate().collect::<Vec<_>>(),
        || Evaluator::new(obj),
        |eval, &(k, c)| {
            let described = match described.get(k) {
                Some(d) => d.clone(),
                None => Described::at(obj, &c.point, scale),
            };
            Equilibrium {
                first_start: c.first_start,
                first_search: c.first_search,
                hits: c.hits.clone(),
                basin_starts: c.basin_starts,
                basin_share: c.basin_starts as f64 / mapped,
                ..described_equilibrium(eval, gscale, &c.point, described)
            }
        },
    );
    // Mode starts from the equilibria the starts found; what they find is added after them.
    // Not after a time limit or an interruption: such a map covers the starts run so far,
    // and gets its mode starts when it is resumed to its end.
    let cut_short = matches!(stopped.as_str(), "time-limit" | "interrupted");
    let modes =
        if params.mode_starts && !cut_short {
            let ctx = search_context(&region, scale, gscale, &params);
            let boxes =
                certify::CertifiedBoxes::new(equilibria.iter().enumerate().filter_map(|(k, e)| {
                    Some((k, e.point.as_slice(), e.certificate.unique_radius?))
                }));
            modes::mode_search(obj, &ctx, &acc, &boxes, deadline)
        } else {
            ModeSearch::default()
        };
    if modes.cut_short {
        // The time limit came during the mode starts: the map keeps what they found.
        stopped = "time-limit".into();
    }
    let mut eval = Evaluator::new(obj);
    for p in &modes.found {
        // Within the slack a search's Newton accepts (the starts' equilibria have it too).
        let scales = (scale, gscale, search::INSIDE_SLACK * scale);
        if let Some(e) = unreached_equilibrium(obj, &mut eval, &region, scales, p) {
            equilibria.push(Equilibrium {
                found_by_modes: true,
                ..e
            });
        }
    }
    let (degree, degree_note) = degree_of(obj, &region, &equilibria);
    let connections = connect(
        obj,
        &region,
        &equilibria,
        &ConnectionParams {
            newton_steps: params.newton_steps,
            ..ConnectionParams::default()
        },
    );
    Ok(EquilibriumMap {
        problem: problem.name.clone(),
        fingerprint: problem_fingerprint(problem)?,
        completeness: Completeness {
            estimate,
            rounds,
            starts_used: acc.starts,
            stopped,
            degree,
            degree_note,
            proof: completeness::ProofReport::not_run("the proof was not requested".into(), 0.0),
            mode_searches: modes.searches,
            mode_found: equilibria.len() - acc.clusters.len(),
            mode_budget_spent: modes.budget_spent,
        },
        params,
        equilibria,
        connections,
        spurious: acc.spurious,
        outcomes: acc.outcomes,
        starts_mapped: acc.starts,
        records: None,
        scale,
        seconds: 0.0,
    })
}

/// The degree check over the equilibria found, or why there is none.
fn degree_of(
    objectives: &dyn Objectives<f64>,
    region: &[(f64, f64)],
    equilibria: &[Equilibrium],
) -> (Option<completeness::DegreeCheck>, Option<String>) {
    let points: Vec<Vec<f64>> = equilibria.iter().map(|e| e.point.clone()).collect();
    match completeness::degree_check(
        objectives,
        region,
        &points,
        &completeness::DegreeParams::default(),
    ) {
        Ok(d) => (Some(d), None),
        Err(e) => (None, Some(e.reason)),
    }
}

impl EquilibriumMap {
    /// Runs the interval proof ([`completeness::prove`]) over the region: every equilibrium
    /// the proof finds that the map missed is polished, classified, certified and added
    /// (`found_by: ["proof"]`), and the degree check and the connections are redone with
    /// them.
    ///
    /// # Errors
    /// As [`completeness::prove`] and [`region_of`].
    pub fn prove(
        &mut self,
        problem: &Problem<f64>,
        params: &completeness::ProofParams,
    ) -> Result<()> {
        self.prove_with(problem, params, &mut || ControlFlow::Continue(()))
    }

    /// [`prove`](Self::prove), asking `poll` as the proof goes whether to go on
    /// ([`completeness::prove_with`]): `Break` ends the proof there, not proven; the
    /// equilibria it had already proven missing are added as by [`prove`](Self::prove).
    ///
    /// # Errors
    /// As [`prove`](Self::prove).
    pub fn prove_with(
        &mut self,
        problem: &Problem<f64>,
        params: &completeness::ProofParams,
        poll: &mut dyn FnMut() -> ControlFlow<()>,
    ) -> Result<()> {
        let region = region_of(problem)?;
        let obj = problem.objectives.as_ref();
        let points: Vec<Vec<f64>> = self.equilibria.iter().map(|e| e.point.clone()).collect();
        let report = completeness::prove_with(obj, &region, &points, params, poll)?;
        let gscale = gradient_scale(obj, &region);
        let mut eval = Evaluator::new(obj);
        for p in &report.missed {
            // The proof's zeros lie in the closed region.
            let scales = (self.scale, gscale, 0.0);
            if let Some(e) = unreached_equilibrium(obj, &mut eval, &region, scales, p) {
                self.equilibria.push(Equilibrium {
                    found_by_proof: true,
                    ..e
                });
            }
        }
        let (degree, degree_note) = degree_of(obj, &region, &self.equilibria);
        self.connections = connect(
            obj,
            &region,
            &self.equilibria,
            &ConnectionParams {
                newton_steps: self.params.newton_steps,
                ..ConnectionParams::default()
            },
        );
        self.completeness.degree = degree;
        self.completeness.degree_note = degree_note;
        self.completeness.proof = report;
        Ok(())
    }
}

/// Maps the equilibria of `problem` in its region (see the module docs).
///
/// # Errors
/// [`Error::MissingRegion`] when the problem has no region, [`Error::InvalidParameter`] for
/// parameters out of range, a region with an empty, infinite or overflowing side, and more
/// than [`MAX_MAP_DIM`] parameters (`region`).
///
/// ```
/// use bflow::map::{map_equilibria, Kind, MapParams};
/// let problem = bflow::problems::builtin::<f64>("saddle")?;
/// let map = map_equilibria(&problem, &MapParams { starts: Some(8), ..MapParams::default() })?;
/// assert_eq!(map.equilibria.len(), 1);
/// let e = &map.equilibria[0];
/// assert_eq!(e.classification.kind, Kind::Saddle);
/// assert!((e.point[0] - 1.0).abs() < 1e-12 && (e.point[1] - 2.0).abs() < 1e-12);
/// assert!(e.certificate.radius.is_some());
/// # Ok::<(), bflow::Error>(())
/// ```
pub fn map_equilibria(problem: &Problem<f64>, params: &MapParams) -> Result<EquilibriumMap> {
    let mut mapper = Mapper::new(problem, params)?;
    let mut on_record = |_: &StartRecord| ControlFlow::Continue(());
    let mut on_batch = |_: &MapProgress| ControlFlow::Continue(());
    mapper.run(&mut MapControl {
        max_time: None,
        keep_records: false,
        progress: &|_, _| {},
        on_record: &mut on_record,
        on_batch: &mut on_batch,
    })?;
    mapper.finish()
}

/// One shard's map as read back from its JSON: what [`merge`] needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardData {
    /// The problem's name.
    pub problem: String,
    /// The problem's fingerprint.
    pub fingerprint: Vec<f64>,
    /// The settings the shard ran with.
    pub params: MapParams,
    /// Its accumulated equilibria, spurious points and outcome counts.
    pub accumulator: Accumulator,
    /// Its wall-clock seconds.
    pub seconds: f64,
}

impl EquilibriumMap {
    /// What [`merge`] needs of this map, as a shard.
    pub fn shard_data(&self) -> ShardData {
        let mut acc = Accumulator::new(
            f64::EPSILON.sqrt() * self.scale,
            1e-4 * self.scale,
            self.params.searchers[0],
        );
        acc.starts = self.starts_mapped;
        acc.outcomes = self.outcomes.clone();
        acc.spurious = self.spurious.clone();
        acc.clusters = self
            .equilibria
            .iter()
            .filter(|e| !e.found_by_proof && !e.found_by_modes)
            .map(|e| Cluster {
                point: e.point.clone(),
                first_start: e.first_start,
                first_search: e.first_search,
                hits: e.hits.clone(),
                basin_starts: e.basin_starts,
            })
            .collect();
        acc.reindex();
        ShardData {
            problem: self.problem.clone(),
            fingerprint: self.fingerprint.clone(),
            params: self.params.clone(),
            accumulator: acc,
            seconds: self.seconds,
        }
    }
}

/// A name read from a file, for a one-line message: control characters escaped, and cut to
/// 80 characters (a shard's JSON may hold a name of any length).
fn name_for_message(name: &str) -> String {
    const MAX: usize = 80;
    match name.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", crate::error::printable(&name[..cut])),
        None => crate::error::printable(name),
    }
}

/// Merges shard outputs into the map one unsharded run with the same settings gives.
///
/// Nothing a shard file says is taken on trust beyond what cannot be checked without
/// mapping again:
///
/// * its problem (name and fingerprint) and settings must be the first shard's, its slice
///   must be one of the same set (each once), and it must have mapped exactly its slice's
///   starts;
/// * its counts must add up: every searcher's outcomes to the starts mapped, the hits of
///   each searcher on the equilibria to its `equilibrium` outcomes, the basin starts to the
///   primary searcher's, the spurious points' starts to the `spurious` outcomes;
/// * every equilibrium and spurious point it claims is searched for again from the start and
///   with the search it names (`first_start`, `first_search`; searches are deterministic),
///   and must end where the shard says, as what it says — so an edited point, start or
///   search is refused. Two claims of one point are refused too.
///
/// How the remaining hits are spread over the equilibria is taken as counted (checking it
/// means mapping every start again). Merging costs one search per claim.
///
/// # Errors
/// [`Error::ShardMismatch`] naming the shard (1-based) and what is wrong.
pub fn merge(problem: &Problem<f64>, parts: &[ShardData]) -> Result<EquilibriumMap> {
    let mismatch = |reason: String| Error::ShardMismatch { reason };
    let first = parts
        .first()
        .ok_or_else(|| mismatch("no shard given".into()))?;
    let base = MapParams {
        shard: None,
        ..first.params.clone()
    };
    base.validate()?;
    let total = base
        .starts
        .ok_or_else(|| mismatch("shards need a fixed number of starts".into()))?;
    let fingerprint = problem_fingerprint(problem)?;
    let mut mapper = Mapper::new(problem, &base)?;
    let ctx = mapper.context();
    let mut evals = Evaluators::new(problem.objectives.as_ref());
    let mut acc = Accumulator::new(
        mapper.acc.dedup_tolerance,
        mapper.acc.spurious_tolerance,
        base.searchers[0],
    );
    let mut seen = std::collections::BTreeSet::new();
    let mut slices = None;
    let mut seconds = 0.0;
    for (k, part) in parts.iter().enumerate() {
        let which = k + 1;
        if part.problem != problem.name {
            return Err(mismatch(format!(
                "shard {which} is of problem `{}`, not `{}`",
                name_for_message(&part.problem),
                name_for_message(&problem.name)
            )));
        }
        let same = part.fingerprint.len() == fingerprint.len()
            && part
                .fingerprint
                .iter()
                .zip(&fingerprint)
                .all(|(a, b)| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()));
        if !same {
            return Err(mismatch(format!(
                "shard {which} was made from different objectives than `{}` (fingerprints differ)",
                problem.name
            )));
        }
        let p = MapParams {
            shard: None,
            ..part.params.clone()
        };
        if p != base {
            return Err(mismatch(format!(
                "shard {which} was run with other settings (starts, seed, searchers, budgets or \
                 mode starts)"
            )));
        }
        let shard = part.params.shard.unwrap_or(Shard { index: 0, count: 1 });
        if shard.count == 0 || shard.index >= shard.count || shard.count > total {
            return Err(mismatch(format!(
                "shard {which} has an invalid slice {}/{} of {total} starts",
                shard.index, shard.count
            )));
        }
        let count = *slices.get_or_insert(shard.count);
        if count != shard.count {
            return Err(mismatch(format!(
                "shard {which} is one of {} slices, shard 1 one of {count}",
                shard.count
            )));
        }
        if !seen.insert(shard.index) {
            return Err(mismatch(format!(
                "slice {}/{} appears in more than one shard",
                shard.index, shard.count
            )));
        }
        // Starts i < total with i mod count = index.
        let expected = (total - 1 - shard.index) / shard.count + 1;
        if part.accumulator.starts != expected {
            return Err(mismatch(format!(
                "shard {which} mapped {} starts, its slice {}/{} has {expected}",
                part.accumulator.starts, shard.index, shard.count
            )));
        }
        let verified = verify_shard(problem, &base, &ctx, &mut evals, &acc, part, shard, total)
            .map_err(|reason| mismatch(format!("shard {which} {reason}")))?;
        acc.merge(&verified);
        seconds += part.seconds;
    }
    let count = slices.unwrap_or(1);
    if seen.len() != count {
        let missing = (0..count).find(|i| !seen.contains(i)).unwrap_or(0);
        return Err(mismatch(format!("slice {missing}/{count} is in no shard")));
    }
    mapper.acc = acc;
    mapper.next = total;
    mapper.rounds = 1;
    mapper.stopped = "fixed".into();
    let mut map = mapper.finish()?;
    map.records = None;
    map.seconds = seconds;
    Ok(map)
}

/// Checks one shard's counts and claims (see [`merge`]); returns its accumulator with the
/// points as the searches run again gave them. `merged` is what the shards before it gave
/// (tolerances from it). The error completes "shard N …".
#[allow(clippy::too_many_arguments)]
fn verify_shard(
    problem: &Problem<f64>,
    params: &MapParams,
    ctx: &SearchContext,
    evals: &mut Evaluators<'_>,
    merged: &Accumulator,
    part: &ShardData,
    shard: Shard,
    total: usize,
) -> std::result::Result<Accumulator, String> {
    let claimed = &part.accumulator;
    let searchers = &params.searchers;
    let primary = searchers[0];
    let n = problem.dim();
    // The counts.
    if let Some(s) = claimed.outcomes.keys().find(|s| !searchers.contains(s)) {
        return Err(format!(
            "counts outcomes of `{s}`, which the map did not run"
        ));
    }
    let outcome = |s: &Searcher| claimed.outcomes.get(s).copied().unwrap_or_default();
    for s in searchers {
        let o = outcome(s);
        let sum = o.total();
        if sum != claimed.starts as u128 {
            return Err(format!(
                "counts {sum} outcomes of `{s}` for {} starts",
                claimed.starts
            ));
        }
        let hits: u128 = claimed
            .clusters
            .iter()
            .map(|c| u128::from(c.hits.get(s).copied().unwrap_or(0)))
            .sum();
        if hits != u128::from(o.equilibrium) {
            return Err(format!(
                "counts {hits} hits of `{s}` on its equilibria, but {} searches of `{s}` ending at one",
                o.equilibrium
            ));
        }
    }
    let basin: u128 = claimed
        .clusters
        .iter()
        .map(|c| c.basin_starts as u128)
        .sum();
    if basin != u128::from(outcome(&primary).equilibrium) {
        return Err(format!(
            "counts {basin} basin starts, but {} searches of `{primary}` ending at an equilibrium",
            outcome(&primary).equilibrium
        ));
    }
    let spurious_starts: u128 = claimed.spurious.iter().map(|p| p.starts as u128).sum();
    let spurious_outcomes: u128 = searchers
        .iter()
        .map(|s| u128::from(outcome(s).spurious))
        .sum();
    if spurious_starts != spurious_outcomes {
        return Err(format!(
            "counts {spurious_starts} starts at its spurious points, but {spurious_outcomes} spurious outcomes"
        ));
    }
    // Each claim names a start of this slice and one of its searches, which found it.
    let names_its_search = |first_start: usize, first_search: usize, what: &str| {
        if first_start >= total || !shard.contains(first_start) {
            return Err(format!(
                "says start {first_start} found {what}, which is not a start of its slice {}/{} of {total}",
                shard.index, shard.count
            ));
        }
        if first_search >= searchers.len() {
            return Err(format!(
                "says search {first_search} of a start found {what}; the map runs {} searches",
                searchers.len()
            ));
        }
        Ok(())
    };
    for c in &claimed.clusters {
        let at = format!("the equilibrium at {:?}", c.point);
        names_its_search(c.first_start, c.first_search, &at)?;
        if c.point.len() != n {
            return Err(format!(
                "has a point of {} coordinates, the problem has {n}",
                c.point.len()
            ));
        }
        let finder = searchers[c.first_search];
        if c.hits.get(&finder).copied().unwrap_or(0) == 0
            || c.basin_starts as u64 > c.hits.get(&primary).copied().unwrap_or(0)
        {
            return Err(format!("counts hits on {at} that do not fit who found it"));
        }
    }
    for sp in &claimed.spurious {
        let at = format!("the spurious point at {:?}", sp.point);
        names_its_search(sp.first_start, sp.first_search, &at)?;
        if sp.point.len() != n || sp.starts == 0 {
            return Err(format!("has a malformed entry for {at}"));
        }
    }
    let mut keys: Vec<(usize, usize)> = claimed
        .clusters
        .iter()
        .map(|c| (c.first_start, c.first_search))
        .chain(
            claimed
                .spurious
                .iter()
                .map(|p| (p.first_start, p.first_search)),
        )
        .collect();
    keys.sort_unstable();
    if let Some(w) = keys.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!(
            "says search {} of start {} found two different points",
            w[0].1, w[0].0
        ));
    }
    // Every claim searched for again.
    let region = &ctx.region;
    let mut out = Accumulator::new(merged.dedup_tolerance, merged.spurious_tolerance, primary);
    out.starts = claimed.starts;
    out.outcomes = claimed.outcomes.clone();
    // Shards have fixed starts, whose searches watch no known equilibria.
    let no_known = KnownEquilibria::default();
    for c in &claimed.clusters {
        let start = start_point(region, params.seed, c.first_start, true);
        let found = ctx.search(evals, searchers[c.first_search], &start, &no_known);
        let same = found.outcome == Outcome::Equilibrium
            && found
                .point
                .as_deref()
                .is_some_and(|p| crate::real::distance(p, &c.point) <= out.dedup_tolerance);
        if !same {
            return Err(format!(
                "claims an equilibrium at {:?} that its start {} does not reach (searched again, `{}` ends {})",
                c.point,
                c.first_start,
                searchers[c.first_search],
                match (&found.outcome, &found.point) {
                    (Outcome::Equilibrium, Some(p)) => format!("at {p:?}"),
                    (o, _) => format!("{o:?}").to_lowercase(),
                }
            ));
        }
        let point = found.point.unwrap_or_default();
        if out.find(&point).is_some() {
            return Err(format!("claims the equilibrium at {point:?} twice"));
        }
        out.insert(Cluster { point, ..c.clone() });
    }
    for sp in &claimed.spurious {
        let start = start_point(region, params.seed, sp.first_start, true);
        let found = ctx.search(evals, searchers[sp.first_search], &start, &no_known);
        let point = match (found.outcome, found.point) {
            (Outcome::Spurious, Some(p))
                if crate::real::distance(&p, &sp.point) <= out.spurious_tolerance =>
            {
                p
            }
            _ => {
                return Err(format!(
                    "claims a spurious point at {:?} that its start {} does not reach",
                    sp.point, sp.first_start
                ));
            }
        };
        let tol = out.spurious_tolerance;
        if out
            .spurious
            .iter()
            .any(|q| crate::real::distance(&q.point, &point) <= tol)
        {
            return Err(format!("claims the spurious point at {point:?} twice"));
        }
        out.spurious.push(SpuriousPoint {
            point,
            b: found.b.unwrap_or(f64::NAN),
            ..sp.clone()
        });
    }
    out.spurious
        .sort_by_key(|p| (p.first_start, p.first_search));
    Ok(out)
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
    let mut eval = Evaluator::new(problem.objectives.as_ref());
    let mut out = Vec::with_capacity(nx * ny);
    for j in 0..ny {
        let y = region[1].0 + (j as f64 + 0.5) / ny as f64 * (region[1].1 - region[1].0);
        for i in 0..nx {
            let x = region[0].0 + (i as f64 + 0.5) / nx as f64 * (region[0].1 - region[0].0);
            let b = eval.evaluate(&[x, y]).ok().and_then(|(p, _)| p.b());
            out.push(b.filter(|&b| b > 0.0).map(f64::log10));
        }
    }
    Ok(out)
}

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

#[cfg(test)]
mod tests;
