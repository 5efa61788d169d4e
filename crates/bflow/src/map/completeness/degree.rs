//! The topological degree of `s` on the region's boundary, computed rigorously, against
//! `Σ sign det J` over the found equilibria.
//!
//! **Degree formula.** When `s` does not vanish on `∂R` and its zeros in `R` are
//! nondegenerate, `deg(s, R, 0) = Σ_{θ ∈ R, s(θ) = 0} sign det J(θ)`; for `J` the Hessian of
//! `Σ L`, `sign det J = (−1)^(Morse index)`. So when the boundary degree differs from the sum
//! over the found equilibria (all nondegenerate), the found list is not the zero set: some
//! zero is missing (or a found point is not a zero). Equal values prove nothing: a missed
//! minimum and a missed saddle cancel.
//!
//! **n = 2** (Kearfott 1979, "An efficient degree-computation method for a generalized
//! method of bisection"; here in its simplest, half-plane form). The boundary is walked
//! counter-clockwise and cut into pieces; each piece `P` (a segment: one coordinate a float
//! end of the region, the other an interval) is refined by halving until the enclosure
//! `S(P) = s(P)` — the natural enclosure intersected with the mean-value form
//! `s(m) + J(P)(P − m)` — excludes 0. Then `S(P)` lies in one of the open half-planes
//! `s₁ > 0, s₂ > 0, s₁ < 0, s₂ < 0` (labels 0, 1, 2, 3, the first that holds; the half-plane
//! of label `L` is the set of angles within `π/2` of `L·π/2`). Along `P` a continuous angle
//! of `s` stays within `π/2` of `L·π/2 + 2πk` for one integer `k`; two consecutive pieces
//! share an end point, whose image lies in both half-planes, so their lifted centres differ
//! by less than `π`, hence by `0` or `±π/2`: the labels differ by 0 or ±1 (mod 4), never
//! by 2. Summing those steps around the loop gives `4 · deg` exactly, with no rounding
//! involved: the degree is an integer sum of rigorously chosen labels.
//!
//! **n = 1**: `deg = (sign s(b) − sign s(a)) / 2`, the signs from thin enclosures.
//!
//! **n ≥ 3**: not implemented (a rigorous formula over the faces, Stenger's or
//! Kearfott's, would be needed): [`NoDegree`] says so; no estimate is ever returned.

use super::{Enclosures, IBox, check_inputs, point_box};
use crate::interval::Interval;
use crate::map::{Kind, classify};
use crate::objectives::Objectives;

/// Budgets of the boundary degree.
#[derive(Debug, Clone, PartialEq)]
pub struct DegreeParams {
    /// Most boundary pieces examined (default 200 000).
    pub max_pieces: usize,
    /// A piece shorter than `min_width` × its side of the region (default `1e-12`) that
    /// still cannot exclude 0 means `s` may vanish on the boundary there.
    pub min_width: f64,
}

impl Default for DegreeParams {
    fn default() -> Self {
        Self {
            max_pieces: 200_000,
            min_width: 1e-12,
        }
    }
}

/// Why no degree was computed (a zero may lie on the boundary, the budget ran out, the
/// objectives have no enclosures, `n ≥ 3`, or the input does not fit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoDegree {
    /// The reason, one line.
    pub reason: String,
}

impl std::fmt::Display for NoDegree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for NoDegree {}

fn no(reason: impl Into<String>) -> NoDegree {
    NoDegree {
        reason: reason.into(),
    }
}

/// The degree of `s` on the boundary against the found equilibria.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DegreeCheck {
    /// `deg(s, R, 0)`, computed rigorously on `∂R`.
    pub boundary: i64,
    /// `Σ (−1)^(Morse index)` over the found points in the (closed) region that are not
    /// degenerate, from their floating-point classification ([`classify`]).
    pub sum_sign_det: i64,
    /// Found points in the region that are degenerate (a zero Hessian eigenvalue within
    /// the classification's tolerance, or a non-finite Hessian): they have no sign.
    pub degenerate: usize,
    /// Found points outside the region, not counted.
    pub outside: usize,
    /// Boundary pieces whose enclosures decided the degree.
    pub boundary_pieces: usize,
}

impl DegreeCheck {
    /// True when the degree proves the found list incomplete (or wrong): every found point
    /// in the region is nondegenerate, yet the sum differs from the boundary degree.
    pub fn proves_incomplete(&self) -> bool {
        self.degenerate == 0 && self.boundary != self.sum_sign_det
    }
}

/// The boundary degree and how many pieces decided it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoundaryDegree {
    /// `deg(s, R, 0)`.
    pub degree: i64,
    /// Boundary pieces used.
    pub pieces: usize,
}

/// The rigorous degree of `s` on the boundary of `region` (see the module docs), for
/// n = 1 and n = 2.
///
/// # Errors
/// [`NoDegree`] when `s` may vanish on the boundary (a piece narrower than
/// `min_width` × its side still cannot exclude 0), the piece budget runs out, the
/// objectives have no enclosures, `n ≥ 3`, or `region` does not fit the objectives.
pub fn boundary_degree(
    objectives: &dyn Objectives<f64>,
    region: &[(f64, f64)],
    params: &DegreeParams,
) -> Result<BoundaryDegree, NoDegree> {
    let n = objectives.dim();
    check_inputs(n, region, &[]).map_err(|e| no(e.to_string()))?;
    if !(params.min_width > 0.0 && params.min_width < 1.0) || params.max_pieces == 0 {
        return Err(no(format!(
            "invalid degree parameters: min_width {} must be in (0, 1), max_pieces {} ≥ 1",
            params.min_width, params.max_pieces
        )));
    }
    let mut enc = Enclosures::new(objectives);
    match n {
        1 => degree_1d(&mut enc, region[0]),
        2 => degree_2d(&mut enc, region, params),
        _ => Err(no(format!(
            "a rigorous degree is implemented for n ≤ 2 (n = {n})"
        ))),
    }
}

/// The sign of `s` (n = 1) at `t`, rigorous.
fn sign_at(enc: &mut Enclosures, t: f64) -> Result<i64, NoDegree> {
    let s = enc
        .s(&[Interval::point(t)])
        .ok_or_else(|| no("the objectives have no interval enclosures of s"))?;
    if s[0].lo() > 0.0 {
        Ok(1)
    } else if s[0].hi() < 0.0 {
        Ok(-1)
    } else {
        Err(no(format!("s may vanish on the boundary, at {t}")))
    }
}

fn degree_1d(enc: &mut Enclosures, (a, b): (f64, f64)) -> Result<BoundaryDegree, NoDegree> {
    let sa = sign_at(enc, a)?;
    let sb = sign_at(enc, b)?;
    Ok(BoundaryDegree {
        degree: (sb - sa) / 2,
        pieces: 2,
    })
}

/// The half-plane label of an enclosure `(s₁, s₂)`, `None` when it contains 0.
fn label(s: &[Interval]) -> Option<u8> {
    if s[0].lo() > 0.0 {
        Some(0)
    } else if s[1].lo() > 0.0 {
        Some(1)
    } else if s[0].hi() < 0.0 {
        Some(2)
    } else if s[1].hi() < 0.0 {
        Some(3)
    } else {
        None
    }
}

/// The labels of the pieces of one side, in increasing order of the free coordinate.
/// `fixed` is the index of the coordinate held at `value`.
fn side_labels(
    enc: &mut Enclosures,
    fixed: usize,
    value: f64,
    (t0, t1): (f64, f64),
    min_width: f64,
    budget: &mut usize,
) -> Result<Vec<u8>, NoDegree> {
    let free = 1 - fixed;
    let mut labels = Vec::new();
    let mut stack = vec![(t0, t1)];
    let unavailable = || no("the objectives have no interval enclosures of s and J");
    while let Some((a, b)) = stack.pop() {
        if *budget == 0 {
            return Err(no(
                "the boundary-piece budget ran out before every piece excluded 0",
            ));
        }
        *budget -= 1;
        let mut piece: IBox = vec![Interval::point(value); 2];
        piece[free] = Interval::new(a, b).ok_or_else(unavailable)?;
        let natural = enc.s(&piece).ok_or_else(unavailable)?;
        if let Some(l) = label(&natural) {
            labels.push(l);
            continue;
        }
        let m = piece[free].mid();
        let mut centre = [value; 2];
        centre[free] = m;
        let sm = enc.s(&point_box(&centre)).ok_or_else(unavailable)?;
        let j = enc.j(&piece).ok_or_else(unavailable)?;
        let offset = piece[free] - Interval::point(m);
        let mean_value: Option<Vec<Interval>> = (0..2)
            .map(|i| (sm[i] + j[i * 2 + free] * offset).intersect(natural[i]))
            .collect();
        let Some(mean_value) = mean_value else {
            // Disjoint enclosures cannot both hold: the enclosures are broken.
            return Err(no("inconsistent enclosures of s on the boundary"));
        };
        if let Some(l) = label(&mean_value) {
            labels.push(l);
            continue;
        }
        let cut = 0.5 * a + 0.5 * b;
        if b - a <= min_width || !(a < cut && cut < b) {
            let mut at = [value; 2];
            at[free] = cut;
            return Err(no(format!(
                "s may vanish on the boundary near ({}, {})",
                at[0], at[1]
            )));
        }
        stack.push((cut, b));
        stack.push((a, cut));
    }
    Ok(labels)
}

fn degree_2d(
    enc: &mut Enclosures,
    region: &[(f64, f64)],
    params: &DegreeParams,
) -> Result<BoundaryDegree, NoDegree> {
    let (x, y) = (region[0], region[1]);
    let (wx, wy) = (
        params.min_width * (x.1 - x.0),
        params.min_width * (y.1 - y.0),
    );
    let mut budget = params.max_pieces;
    // Counter-clockwise: bottom (x up), right (y up), top (x down), left (y down).
    let mut labels = side_labels(enc, 1, y.0, x, wx, &mut budget)?;
    labels.extend(side_labels(enc, 0, x.1, y, wy, &mut budget)?);
    let mut top = side_labels(enc, 1, y.1, x, wx, &mut budget)?;
    top.reverse();
    labels.extend(top);
    let mut left = side_labels(enc, 0, x.0, y, wy, &mut budget)?;
    left.reverse();
    labels.extend(left);
    let mut quarter_turns: i64 = 0;
    for (k, &a) in labels.iter().enumerate() {
        let b = labels[(k + 1) % labels.len()];
        quarter_turns += match (4 + b - a) % 4 {
            0 => 0,
            1 => 1,
            3 => -1,
            _ => {
                return Err(no(
                    "adjacent boundary pieces in opposite half-planes: the enclosures are broken",
                ));
            }
        };
    }
    if quarter_turns % 4 != 0 {
        return Err(no(
            "the quarter turns do not close: the enclosures are broken",
        ));
    }
    Ok(BoundaryDegree {
        degree: quarter_turns / 4,
        pieces: labels.len(),
    })
}

/// The boundary degree of `s` on `region` against `Σ (−1)^(Morse index)` over the found
/// points in the closed region (see the module docs). `found` are the map's equilibria.
///
/// # Errors
/// As [`boundary_degree`]; also [`NoDegree`] when a found point does not fit.
pub fn degree_check(
    objectives: &dyn Objectives<f64>,
    region: &[(f64, f64)],
    found: &[Vec<f64>],
    params: &DegreeParams,
) -> Result<DegreeCheck, NoDegree> {
    check_inputs(objectives.dim(), region, found).map_err(|e| no(e.to_string()))?;
    let boundary = boundary_degree(objectives, region, params)?;
    let mut check = DegreeCheck {
        boundary: boundary.degree,
        sum_sign_det: 0,
        degenerate: 0,
        outside: 0,
        boundary_pieces: boundary.pieces,
    };
    for p in found {
        let inside = p
            .iter()
            .zip(region)
            .all(|(&v, &(lo, hi))| lo <= v && v <= hi);
        if !inside {
            check.outside += 1;
            continue;
        }
        match classify(objectives, p) {
            Some(c) if c.kind != Kind::Degenerate => {
                check.sum_sign_det += if c.morse_index.is_multiple_of(2) {
                    1
                } else {
                    -1
                };
            }
            _ => check.degenerate += 1,
        }
    }
    Ok(check)
}
