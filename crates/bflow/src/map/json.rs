//! The JSON form of a map, and reading one back as a shard.
//!
//! `bflow map --json` writes [`EquilibriumMap`]'s serialisation; its fields:
//!
//! * `problem`, `fingerprint` (Σ L at three points of the region: shards of one map must
//!   share it bit for bit), `starts` (starts run), `starts_mapped`, `seed`, `shard`
//!   (`"I/N"` or null), `scale` (the region's largest side), `params`, `seconds`;
//! * `equilibria`: one object per distinct equilibrium — `point`, `kind`
//!   (`minimum`/`saddle`/`maximum`/`degenerate`), `morse_index`, `eigenvalues`,
//!   `common_stationary`, `B` (null where 0/0), `grad_norm` (`‖s‖`), `loss_sum` (`Σ L_i`),
//!   `certified_radius`, `certified_unique_radius`, `certificate_note`, `basin_share`,
//!   `basin_starts`, `first_start`, `first_search`, `hits` (per searcher), `found_by` (searcher names),
//!   `reached_by_lossflow`, `lossflow_starts`, `found_by_bflow`;
//! * `connections`: one object per nondegenerate equilibrium of Morse index 1 (an index-1
//!   saddle; a maximum when n = 1), in the order of `equilibria` — `saddle` (its index in
//!   `equilibria`, from 0), `minima` (`[a, b]`: the indices of the minima its two
//!   steepest-descent paths reach, side 0 along `+v` and side 1 along `−v`; null for a side
//!   that leaves the region or reaches no mapped minimum), `barriers`
//!   (`[ΣL(saddle) − ΣL(a), ΣL(saddle) − ΣL(b)]` from the `loss_sum`s; null with the
//!   minimum), `outcomes` (per side: `minimum`, `left-region`, `diverged`, `unresolved`,
//!   `not-a-minimum`, `unmapped`), `notes` (per side: why there is no minimum, or null),
//!   `ends` (per side: the polished end point, or the descent's last finite iterate),
//!   `steps` (descent steps per side), `eigenvalue` (the negative Hessian eigenvalue λ) and
//!   `delta` (the displacement δ along `±v`). [`shard_from_json`] ignores them: a merge
//!   recomputes them from the merged equilibria;
//! * `morse_counts` (equilibria per Morse index), `spurious` (`point`, `B`, `starts`,
//!   `first_start`, `first_search`), `outcomes` (per searcher: `equilibrium`, `spurious`, `escaped`,
//!   `diverged`, `unresolved`), `escaped`, `diverged`, `unresolved` (the primary searcher's);
//! * `completeness`: `estimate_unfound`, `estimate_unfound_upper`, `chao1_unfound`, `found`,
//!   `hits`, `singletons`, `doubletons`, `rounds`, `starts_used`, `stopped`;
//! * `per_start`: every start's record, when the map kept them.
//!
//! Numbers are `f64`; a value that is not finite is `null`.

use serde::ser::{Serialize, SerializeStruct, Serializer};

use super::{
    Accumulator, Cluster, Connection, Equilibrium, EquilibriumMap, MapParams, OutcomeCounts,
    PathEnd, Searcher, ShardData, SpuriousPoint,
};
use crate::error::{Error, Result};

impl Serialize for Equilibrium {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Equilibrium", 22)?;
        s.serialize_field("point", &self.point)?;
        s.serialize_field("kind", self.classification.kind.name())?;
        s.serialize_field("morse_index", &self.classification.morse_index)?;
        s.serialize_field("eigenvalues", &self.classification.eigenvalues)?;
        s.serialize_field("common_stationary", &self.common_stationary)?;
        s.serialize_field("B", &self.b)?;
        s.serialize_field("grad_norm", &self.grad_norm)?;
        s.serialize_field("loss_sum", &self.loss_sum)?;
        s.serialize_field("certified_radius", &self.certificate.radius)?;
        s.serialize_field("certified_unique_radius", &self.certificate.unique_radius)?;
        s.serialize_field("certificate_note", &self.certificate.reason)?;
        s.serialize_field("basin_share", &self.basin_share)?;
        s.serialize_field("basin_starts", &self.basin_starts)?;
        s.serialize_field("first_start", &self.first_start)?;
        s.serialize_field("first_search", &self.first_search)?;
        s.serialize_field("hits", &self.hits)?;
        s.serialize_field("found_by", &self.found_by())?;
        let lossflow = self.hits_by(Searcher::Lossflow);
        s.serialize_field("reached_by_lossflow", &(lossflow > 0))?;
        s.serialize_field("lossflow_starts", &lossflow)?;
        s.serialize_field("found_by_bflow", &(self.hits_by(Searcher::Bflow) > 0))?;
        s.serialize_field("found_by_proof", &self.found_by_proof)?;
        s.serialize_field("found_by_modes", &self.found_by_modes)?;
        s.end()
    }
}

impl Serialize for Connection {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Connection", 9)?;
        s.serialize_field("saddle", &self.saddle)?;
        s.serialize_field("minima", &self.minima)?;
        s.serialize_field("barriers", &self.barriers)?;
        s.serialize_field("outcomes", &self.outcomes.map(PathEnd::code))?;
        s.serialize_field("notes", &self.notes)?;
        s.serialize_field("ends", &self.ends)?;
        s.serialize_field("steps", &self.steps)?;
        let finite = |x: f64| x.is_finite().then_some(x);
        s.serialize_field("eigenvalue", &finite(self.eigenvalue))?;
        s.serialize_field("delta", &finite(self.delta))?;
        s.end()
    }
}

impl Serialize for EquilibriumMap {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("EquilibriumMap", 21)?;
        s.serialize_field("problem", &self.problem)?;
        s.serialize_field("fingerprint", &self.fingerprint)?;
        s.serialize_field("starts", &self.completeness.starts_used)?;
        s.serialize_field("starts_mapped", &self.starts_mapped)?;
        s.serialize_field("seed", &self.params.seed)?;
        s.serialize_field(
            "shard",
            &self
                .params
                .shard
                .map(|sh| format!("{}/{}", sh.index, sh.count)),
        )?;
        s.serialize_field("scale", &self.scale)?;
        s.serialize_field("equilibria", &self.equilibria)?;
        s.serialize_field("connections", &self.connections)?;
        s.serialize_field("morse_counts", &self.morse_counts())?;
        s.serialize_field("spurious", &self.spurious)?;
        s.serialize_field("outcomes", &self.outcomes)?;
        s.serialize_field("escaped", &self.escaped())?;
        s.serialize_field("diverged", &self.diverged())?;
        s.serialize_field("unresolved", &self.unresolved())?;
        s.serialize_field("completeness", &self.completeness)?;
        s.serialize_field("params", &self.params)?;
        if let Some(records) = &self.records {
            s.serialize_field("per_start", records)?;
        }
        s.serialize_field("seconds", &self.seconds)?;
        s.end()
    }
}

/// What [`shard_from_json`] reads of each equilibrium.
#[derive(serde::Deserialize)]
struct ClaimedEquilibrium {
    #[serde(default)]
    found_by_proof: bool,
    #[serde(default)]
    found_by_modes: bool,
    point: Vec<f64>,
    first_start: usize,
    first_search: usize,
    hits: std::collections::BTreeMap<Searcher, u64>,
    basin_starts: usize,
}

/// What [`shard_from_json`] reads of a map.
#[derive(serde::Deserialize)]
struct ShardJson {
    problem: String,
    fingerprint: Vec<Option<f64>>,
    params: MapParams,
    starts_mapped: usize,
    scale: f64,
    equilibria: Vec<ClaimedEquilibrium>,
    spurious: Vec<SpuriousJson>,
    outcomes: std::collections::BTreeMap<Searcher, OutcomeCounts>,
    seconds: f64,
}

#[derive(serde::Deserialize)]
struct SpuriousJson {
    point: Vec<f64>,
    #[serde(rename = "B")]
    b: Option<f64>,
    starts: usize,
    first_start: usize,
    first_search: usize,
}

/// Reads a `bflow map --json` output back as a shard for [`merge`](super::merge). What it
/// claims is checked there (every equilibrium is polished again).
///
/// # Errors
/// [`Error::ShardMismatch`] naming what is missing or malformed.
pub fn shard_from_json(text: &str) -> Result<ShardData> {
    let v: ShardJson = serde_json::from_str(text).map_err(|e| Error::ShardMismatch {
        reason: format!("not a `bflow map --json` output: {e}"),
    })?;
    if !(v.scale.is_finite() && v.scale > 0.0) {
        return Err(Error::ShardMismatch {
            reason: format!("field `scale` must be finite and > 0, got {}", v.scale),
        });
    }
    if !(v.seconds.is_finite() && v.seconds >= 0.0) {
        return Err(Error::ShardMismatch {
            reason: format!(
                "field `seconds` must be finite and ≥ 0, got {:e}",
                v.seconds
            ),
        });
    }
    let primary = *v
        .params
        .searchers
        .first()
        .ok_or_else(|| Error::ShardMismatch {
            reason: "field `params.searchers` is empty".into(),
        })?;
    let mut acc = Accumulator::new(f64::EPSILON.sqrt() * v.scale, 1e-4 * v.scale, primary);
    acc.starts = v.starts_mapped;
    acc.outcomes = v.outcomes;
    acc.clusters = v
        .equilibria
        .into_iter()
        .filter(|e| !e.found_by_proof && !e.found_by_modes)
        .map(|e| Cluster {
            point: e.point,
            first_start: e.first_start,
            first_search: e.first_search,
            hits: e.hits,
            basin_starts: e.basin_starts,
        })
        .collect();
    acc.spurious = v
        .spurious
        .into_iter()
        .map(|s| SpuriousPoint {
            point: s.point,
            b: s.b.unwrap_or(f64::NAN),
            starts: s.starts,
            first_start: s.first_start,
            first_search: s.first_search,
        })
        .collect();
    acc.reindex();
    Ok(ShardData {
        problem: v.problem,
        fingerprint: v
            .fingerprint
            .into_iter()
            .map(|x| x.unwrap_or(f64::NAN))
            .collect(),
        params: v.params,
        accumulator: acc,
        seconds: v.seconds,
    })
}
