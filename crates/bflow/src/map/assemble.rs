//! From search records to distinct equilibria: de-duplication in start order, hit counts,
//! spurious points and outcome counts, in memory bounded by what was found (not by the
//! number of starts); and the merge of accumulators from disjoint sets of starts.

use std::collections::BTreeMap;

use super::search::{Outcome, Searcher, StartRecord};
use crate::real::distance;

/// A distinct equilibrium while the map runs.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Cluster {
    /// The polished point of the lowest-index start that reached it.
    pub point: Vec<f64>,
    /// That start's index.
    pub first_start: usize,
    /// Which of that start's searches (its position in the map's searcher list) reached it
    /// first: equilibria are ordered by `(first_start, first_search)`.
    pub first_search: usize,
    /// Searches that ended here, per searcher.
    pub hits: BTreeMap<Searcher, u64>,
    /// Starts whose primary searcher (the first of the map's searchers) ended here.
    pub basin_starts: usize,
}

/// A distinct positive minimum of B where the polish failed.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SpuriousPoint {
    /// The B-flow end point of the lowest-index start.
    pub point: Vec<f64>,
    /// B there.
    #[serde(rename = "B")]
    pub b: f64,
    /// How many searches ended here.
    pub starts: usize,
    /// The lowest start index.
    pub first_start: usize,
    /// The position of that start's search (see [`Cluster::first_search`]).
    pub first_search: usize,
}

/// How many searches of one searcher ended each way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OutcomeCounts {
    /// Ended at an equilibrium.
    pub equilibrium: u64,
    /// Ended at a positive minimum of B.
    pub spurious: u64,
    /// Left the region.
    pub escaped: u64,
    /// Became non-finite.
    pub diverged: u64,
    /// Ended elsewhere without converging.
    pub unresolved: u64,
}

impl OutcomeCounts {
    /// Searches counted, every outcome together (in `u128`: a shard's counts are claims,
    /// and their sum must not wrap).
    pub fn total(&self) -> u128 {
        [
            self.equilibrium,
            self.spurious,
            self.escaped,
            self.diverged,
            self.unresolved,
        ]
        .iter()
        .map(|&x| u128::from(x))
        .sum()
    }

    fn add(&mut self, o: Outcome) {
        match o {
            Outcome::Equilibrium => self.equilibrium += 1,
            Outcome::Spurious => self.spurious += 1,
            Outcome::Escaped => self.escaped += 1,
            Outcome::Diverged => self.diverged += 1,
            Outcome::Unresolved => self.unresolved += 1,
        }
    }

    fn merge(&mut self, o: &OutcomeCounts) {
        self.equilibrium += o.equilibrium;
        self.spurious += o.spurious;
        self.escaped += o.escaped;
        self.diverged += o.diverged;
        self.unresolved += o.unresolved;
    }
}

/// Everything a map keeps while it runs (see the module docs). Records must be added in
/// increasing start index; accumulators of disjoint start sets merge into the accumulator of
/// their union.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Accumulator {
    /// Two equilibria closer than this are one.
    pub dedup_tolerance: f64,
    /// Two spurious points closer than this are one.
    pub spurious_tolerance: f64,
    /// The primary searcher (basin shares count its searches).
    pub primary: Searcher,
    /// Distinct equilibria, in order of their first start.
    pub clusters: Vec<Cluster>,
    /// Distinct spurious points, in order of their first start.
    pub spurious: Vec<SpuriousPoint>,
    /// Outcomes per searcher.
    pub outcomes: BTreeMap<Searcher, OutcomeCounts>,
    /// Starts added.
    pub starts: usize,
    /// `(first coordinate, cluster index)` sorted, to find candidates within the tolerance.
    #[serde(skip)]
    index: Vec<(f64, usize)>,
}

impl Accumulator {
    /// An empty accumulator.
    pub fn new(dedup_tolerance: f64, spurious_tolerance: f64, primary: Searcher) -> Self {
        Self {
            dedup_tolerance,
            spurious_tolerance,
            primary,
            clusters: Vec::new(),
            spurious: Vec::new(),
            outcomes: BTreeMap::new(),
            starts: 0,
            index: Vec::new(),
        }
    }

    /// The lowest-index cluster within the tolerance of `p`.
    pub(crate) fn find(&self, p: &[f64]) -> Option<usize> {
        let key = p.first().copied().unwrap_or(0.0);
        let tol = self.dedup_tolerance;
        let lo = self.index.partition_point(|&(x, _)| x < key - tol);
        self.index[lo..]
            .iter()
            .take_while(|&&(x, _)| x <= key + tol)
            .map(|&(_, k)| k)
            .filter(|&k| distance(&self.clusters[k].point, p) <= tol)
            .min()
    }

    pub(crate) fn insert(&mut self, cluster: Cluster) -> usize {
        let k = self.clusters.len();
        let key = cluster.point.first().copied().unwrap_or(0.0);
        let at = self.index.partition_point(|&(x, _)| x < key);
        self.index.insert(at, (key, k));
        self.clusters.push(cluster);
        k
    }

    /// Rebuilds the search index (after deserialising).
    pub fn reindex(&mut self) {
        self.index = self
            .clusters
            .iter()
            .enumerate()
            .map(|(k, c)| (c.point.first().copied().unwrap_or(0.0), k))
            .collect();
        self.index
            .sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    }

    /// Adds one start's searches.
    pub fn add(&mut self, record: &StartRecord) {
        self.starts += 1;
        for (j, s) in record.searches.iter().enumerate() {
            self.outcomes.entry(s.searcher).or_default().add(s.outcome);
            let primary = j == 0 && s.searcher == self.primary;
            match (s.outcome, &s.point) {
                (Outcome::Equilibrium, Some(p)) => {
                    let k = match self.find(p) {
                        Some(k) => k,
                        None => self.insert(Cluster {
                            point: p.clone(),
                            first_start: record.index,
                            first_search: j,
                            hits: BTreeMap::new(),
                            basin_starts: 0,
                        }),
                    };
                    *self.clusters[k].hits.entry(s.searcher).or_insert(0) += 1;
                    if primary {
                        self.clusters[k].basin_starts += 1;
                    }
                }
                (Outcome::Spurious, Some(p)) => {
                    let tol = self.spurious_tolerance;
                    match self
                        .spurious
                        .iter()
                        .position(|q| distance(p, &q.point) <= tol)
                    {
                        Some(k) => self.spurious[k].starts += 1,
                        None => self.spurious.push(SpuriousPoint {
                            point: p.clone(),
                            b: s.b.unwrap_or(f64::NAN),
                            starts: 1,
                            first_start: record.index,
                            first_search: j,
                        }),
                    }
                }
                _ => {}
            }
        }
    }

    /// Merges the accumulator of a disjoint set of starts: the result is what adding all the
    /// records in start order would give (clusters keep the point of their lowest start;
    /// counts add), provided no point lies within the tolerance of two distinct clusters.
    pub fn merge(&mut self, other: &Accumulator) {
        self.starts += other.starts;
        for (s, c) in &other.outcomes {
            self.outcomes.entry(*s).or_default().merge(c);
        }
        for c in &other.clusters {
            match self.find(&c.point) {
                Some(k) => {
                    let mine = &mut self.clusters[k];
                    if (c.first_start, c.first_search) < (mine.first_start, mine.first_search) {
                        mine.first_start = c.first_start;
                        mine.first_search = c.first_search;
                        mine.point.clone_from(&c.point);
                    }
                    for (s, h) in &c.hits {
                        *mine.hits.entry(*s).or_insert(0) += h;
                    }
                    mine.basin_starts += c.basin_starts;
                }
                None => {
                    self.insert(c.clone());
                }
            }
        }
        for sp in &other.spurious {
            let tol = self.spurious_tolerance;
            match self
                .spurious
                .iter()
                .position(|q| distance(&sp.point, &q.point) <= tol)
            {
                Some(k) => {
                    let mine = &mut self.spurious[k];
                    mine.starts += sp.starts;
                    if (sp.first_start, sp.first_search) < (mine.first_start, mine.first_search) {
                        mine.first_start = sp.first_start;
                        mine.first_search = sp.first_search;
                        mine.point.clone_from(&sp.point);
                        mine.b = sp.b;
                    }
                }
                None => self.spurious.push(sp.clone()),
            }
        }
        self.clusters
            .sort_by_key(|c| (c.first_start, c.first_search));
        self.spurious
            .sort_by_key(|s| (s.first_start, s.first_search));
        self.reindex();
    }

    /// Hits per cluster, in cluster order.
    pub fn hit_counts(&self) -> Vec<u64> {
        self.clusters
            .iter()
            .map(|c| c.hits.values().sum())
            .collect()
    }
}
