//! Where searches start: Halton points in the region, shifted by the seed, and the slices of
//! them that shards take.

use crate::error::{Error, Result};
use crate::problems::{Problem, SplitMix64};

/// The most parameters a map samples (one Halton base, a prime, per parameter).
pub const MAX_MAP_DIM: usize = PRIMES.len();

const PRIMES: [u64; 32] = [
    2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97,
    101, 103, 107, 109, 113, 127, 131,
];

/// One slice of the starts: those with `index mod count == index_of_shard`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    /// Which slice, `0 ≤ index < count`.
    pub index: usize,
    /// How many slices.
    pub count: usize,
}

impl Shard {
    /// True when start `i` belongs to this slice.
    pub fn contains(&self, i: usize) -> bool {
        i % self.count == self.index
    }
}

/// The problem's region, checked: finite sides with `lo < hi` whose widths are finite too,
/// one per parameter, at most [`MAX_MAP_DIM`] of them.
///
/// # Errors
/// [`Error::MissingRegion`] when the problem has none; [`Error::InvalidParameter`]
/// (`region`) for a side that is not finite, empty, or too wide to represent
/// (`hi − lo` overflows), or for more than [`MAX_MAP_DIM`] parameters.
pub fn region_of(problem: &Problem<f64>) -> Result<Vec<(f64, f64)>> {
    let region = problem.region.clone().ok_or_else(|| Error::MissingRegion {
        problem: problem.name.clone(),
    })?;
    problem.check_point("region", &region.iter().map(|r| r.0).collect::<Vec<_>>())?;
    if region.len() > MAX_MAP_DIM {
        return Err(Error::InvalidParameter {
            name: "region".into(),
            reason: format!(
                "mapping supports up to {MAX_MAP_DIM} parameters, the problem has {}",
                region.len()
            ),
        });
    }
    if let Some(j) = region
        .iter()
        .position(|&(lo, hi)| !(lo.is_finite() && hi.is_finite() && lo < hi))
    {
        return Err(Error::InvalidParameter {
            name: "region".into(),
            reason: format!("side {} must be finite with lo < hi", j + 1),
        });
    }
    if let Some(j) = region.iter().position(|&(lo, hi)| !(hi - lo).is_finite()) {
        return Err(Error::InvalidParameter {
            name: "region".into(),
            reason: format!(
                "side {} is [{:e}, {:e}]: its width overflows (at most {:e})",
                j + 1,
                region[j].0,
                region[j].1,
                f64::MAX
            ),
        });
    }
    Ok(region)
}

/// The region's scale: its largest side.
pub fn scale_of(region: &[(f64, f64)]) -> f64 {
    region.iter().fold(0.0, |m, &(lo, hi)| f64::max(m, hi - lo))
}

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

/// Start point `index` of the Halton sequence (bases 2, 3, 5, …) in `region`, shifted modulo
/// 1 by per-coordinate offsets drawn from `seed` when `shifted` (a Cranley–Patterson
/// rotation).
///
/// # Panics
/// For more than [`MAX_MAP_DIM`] parameters ([`region_of`] refuses those first).
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
