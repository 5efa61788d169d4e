//! Completeness of an equilibrium map: a rigorous account of every zero of `s = Σ_i ∇L_i`
//! in the region, by interval branch-and-prune ([`prove`]), and the topological degree of
//! `s` on the region's boundary compared with the found equilibria ([`degree_check`]).
//!
//! Both layers rest only on [`Objectives::enclose_sum_gradient`] and
//! [`Objectives::enclose_sum_hessian`]: rigorous interval enclosures of `s` and of its
//! Jacobian `J` (the Hessian of `Σ L`) over a box. The region `R = Π [a_j, b_j]` is a
//! **closed** box.
//!
//! # The proof ([`prove`])
//!
//! Interval branch-and-prune (Moore 1966; Krawczyk 1969; Neumaier, *Interval Methods for
//! Systems of Equations*, 1990, ch. 5; Kearfott, *Rigorous Global Search*, 1996). With
//! `X` a box, `c = mid X`, `C = (mid J(X))⁻¹` (any matrix works; this one makes the test
//! succeed) and
//!
//! ```text
//! K(X) = c − C s([c]) + (I − C J(X)) (X − c)        (Krawczyk's operator)
//! ```
//!
//! every zero of `s` in `X` lies in `K(X)`, and `K(X) ⊂ int X` proves that `X` holds
//! exactly one zero, which lies in `int X` (Krawczyk 1969; uniqueness: Moore 1977).
//!
//! 1. **Found equilibria first.** Each found point `p` is tested on boxes
//!    `p + [−r, r]ⁿ`, `C = (mid J([p]))⁻¹`: the first `r` of `10⁻¹², 10⁻⁹, 10⁻⁶` (× the
//!    region's largest side) that verifies gives a tight enclosure `Z = K(X) ∩ X` of the
//!    zero; `r` is then multiplied by 4 (and once by 2 at the end) while the test holds, and
//!    the largest verified box `U` is kept: the zero is the only one in `U`.
//! 2. **Matching.** A zero with enclosure `Z` is the zero of a recorded unique box `U` when
//!    `Z ⊂ U` (uniqueness in `U`); it is a new zero when `Z` is disjoint from every recorded
//!    `U`; otherwise (never seen in practice: `Z` is a few ulps wide and a zero lies in the
//!    interior of its `U`) the match is ambiguous and nothing is recorded. So a zero touched
//!    from several sides, or found twice, is counted once: a found point whose zero is
//!    already recorded is a *duplicate*.
//! 3. **Search.** A queue of boxes starts with `R`; it is worked depth first among the
//!    boxes of the coarsest size class present (largest side ≥ 1% of the region's, then
//!    ≥ 0.01%, …), so a budget that runs out leaves small boxes around the hard parts.
//!    For a box `X`:
//!    - *covered*: `X ⊂ U` for a recorded unique box: its only possible zero is recorded;
//!    - *excluded*: `0 ∉ s_i(X)` for some `i`, with `s(X)` the natural enclosure intersected
//!      with the mean-value form `s([c]) + J(X)(X − c)`; or, for a component monotone in
//!      every variable (`0 ∉ J_ij(X)` for all `j`), its exact range from the two extreme
//!      corners excludes 0; or `K(X) ∩ X = ∅`;
//!    - *subtracted*: when `X` meets the interior of a recorded `U` and no side of `X` is
//!      more than 4 times the matching side of `U` (or 64 minimum widths, for a tiny `U`),
//!      `X ∖ U` is split into at most `2n` boxes (which meet `U` only on its faces, where
//!      no recorded zero lies) and queued;
//!    - *verified*: `K(X) ⊂ int X`; its zero, enclosed by iterating `X ← K(X) ∩ X`, is
//!      matched as in 2; a new one is an equilibrium the map **missed**;
//!    - *pruned*: otherwise `X ← X ∩ K(X)` (no zero is lost), processed again when a side
//!      shrank by at least 10%;
//!    - *Newton*: when `‖I − C J(X)‖∞ ≤ ½` (so `X` holds at most one zero) and the box is
//!      not resolved, Newton's method (floating point) from `c` is run and its end point
//!      tested as in 1; a new zero is recorded with its box. This catches zeros on a
//!      bisection plane or on the region's boundary, which no sub-box can verify (a
//!      verified zero lies in the *interior* of its box). Done once per line of descent;
//!    - *bisected* otherwise, in the dimension of largest smear `max_i |J_ij(X)| · w(X_j)`
//!      (Kearfott 1996, §4.3.2) among those wider than `min_width` × the region's side,
//!      at the fraction 0.5048 (off-centre, so that zeros at "round" points such as the
//!      origin do not sit on the plane); a box with no side left to split is
//!      **unresolved**.
//! 4. **Status.** [`ProofStatus::Proven`] when the queue empties with no unresolved box:
//!    then every zero of `s` in `R` is one of the recorded zeros, each isolated in its
//!    verified box, so *the zeros of `s` in `R` are exactly the verified found equilibria
//!    plus [`ProofReport::missed`]* (and the map was complete iff `missed` is empty:
//!    [`ProofReport::map_complete`]). Otherwise [`ProofStatus::NotProven`] with the
//!    unresolved boxes' count and volume fraction. [`ProofStatus::NotRun`] when the
//!    objectives have no enclosures or `n` exceeds [`MAX_PROOF_DIM`].
//!
//! **Boundary.** A recorded zero is *in* `R` when its tight enclosure lies in `R`, *out*
//! when it misses `R`; a zero whose tight enclosure (a few ulps) straddles a face of `R` is
//! counted in [`ProofReport::on_boundary`] and, when not a found one, listed in `missed`:
//! whether it belongs to the closed region is then undecided. A zero on a face of `R` is
//! verified only through step 3's Newton test (with a box reaching outside `R`); when that
//! fails (a singular Jacobian there) the boxes around it stay unresolved.
//!
//! A found point that cannot be verified (a degenerate zero, a singular Jacobian, or not a
//! zero) is listed in [`ProofReport::found_unverified`], unless the search later verifies
//! a zero whose box contains it. When the proof is complete, an unverified found point
//! is not a zero in `R`.
//!
//! # The degree ([`degree_check`])
//!
//! See [`degree`](degree_check): for n = 2 the winding number of `s` along `∂R`, from
//! boundary pieces whose enclosures exclude 0, compared with `Σ sign det J` over the found
//! equilibria inside `R` (the degree formula `deg(s, R, 0) = Σ_{s(θ)=0} sign det J(θ)` for
//! nondegenerate zeros, none on `∂R`). A mismatch proves that the found list is not the set
//! of zeros of `s` in `R`.

mod degree;
#[cfg(test)]
mod tests;

pub use degree::{
    BoundaryDegree, DegreeCheck, DegreeParams, NoDegree, boundary_degree, degree_check,
};

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use nalgebra::{DMatrix, DVector};

use crate::error::{Error, Result, within_cap};
use crate::interval::Interval;
use crate::objectives::{Objectives, sum_hessian};

/// A box: one interval per parameter.
type IBox = Vec<Interval>;

/// The largest `n` [`prove`] runs for: box subdivision cannot resolve a region of higher
/// dimension within any reasonable budget (the boxes needed grow like `(width ratio)ⁿ`).
pub const MAX_PROOF_DIM: usize = 12;

/// The fraction at which a box is bisected: `0.5 + 2⁻⁷ · 0.618…`, off-centre so that zeros
/// at round coordinates (the origin, ±1, a region's centre) do not sit on the cut.
const SPLIT: f64 = 0.5 + 0.618_033_988_749_894_8 / 128.0;

/// The most memory [`ProofParams::max_boxes`] may let the proof's boxes take: 4 GiB
/// ([`ProofParams::bytes_for`]).
pub const PROOF_BOXES_MAX_BYTES: u64 = 4 << 30;

/// Budgets and tolerances of [`prove`]. Build with [`Default`] and struct update syntax.
#[derive(Debug, Clone, PartialEq)]
pub struct ProofParams {
    /// Most boxes processed, and most boxes waiting in the queue (default 1 000 000). Each
    /// box holds `n` intervals; the waiting boxes and the unresolved ones take at most
    /// [`bytes_for`](Self::bytes_for)`(n)`, which may not exceed
    /// [`PROOF_BOXES_MAX_BYTES`].
    pub max_boxes: usize,
    /// Wall-clock budget (default 30 s).
    pub max_time: Duration,
    /// A box is not split along a side narrower than `min_width` × the region's side
    /// (default `1e-9`); a box with no side left to split stays unresolved.
    pub min_width: f64,
}

impl Default for ProofParams {
    fn default() -> Self {
        Self {
            max_boxes: 1_000_000,
            max_time: Duration::from_secs(30),
            min_width: 1e-9,
        }
    }
}

impl ProofParams {
    /// Checks the parameters.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `max_boxes` (0) or `min_width` (not in `(0, 1)`).
    pub fn validate(&self) -> Result<()> {
        if self.max_boxes == 0 {
            return Err(Error::InvalidParameter {
                name: "max_boxes".into(),
                reason: "must be ≥ 1".into(),
            });
        }
        if !(self.min_width > 0.0 && self.min_width < 1.0) {
            return Err(Error::InvalidParameter {
                name: "min_width".into(),
                reason: format!("must be in (0, 1), got {}", self.min_width),
            });
        }
        Ok(())
    }

    /// The most memory the proof's boxes may take over `n` parameters: `max_boxes` waiting
    /// and as many unresolved, each `n` intervals of 16 bytes plus 64 bytes of bookkeeping
    /// (its vector, its place in the queue, the allocator's header).
    pub fn bytes_for(&self, n: usize) -> u64 {
        (self.max_boxes as u64).saturating_mul(box_pair_bytes(n))
    }

    /// [`validate`](Self::validate), and that the boxes of a proof over `n` parameters fit
    /// [`PROOF_BOXES_MAX_BYTES`].
    ///
    /// # Errors
    /// As [`validate`](Self::validate); [`Error::TooLarge`] when
    /// [`bytes_for`](Self::bytes_for)`(n)` exceeds the cap and `n ≤` [`MAX_PROOF_DIM`]
    /// (beyond it the proof does not run, so no box is made).
    pub fn validate_for(&self, n: usize) -> Result<()> {
        self.validate()?;
        if n > MAX_PROOF_DIM {
            // No box is made: `prove` does not run there.
            return Ok(());
        }
        within_cap(
            self.bytes_for(n),
            PROOF_BOXES_MAX_BYTES,
            || {
                format!(
                    "a proof over {n} parameters with a budget of {} boxes",
                    self.max_boxes
                )
            },
            &format!(
                "; at most {} boxes in {n} dimensions",
                PROOF_BOXES_MAX_BYTES / box_pair_bytes(n)
            ),
        )
    }
}

/// The bytes one box of the budget may cost over `n` parameters ([`ProofParams::bytes_for`]):
/// one waiting and one unresolved, each `n` intervals of 16 bytes plus 64 of bookkeeping.
fn box_pair_bytes(n: usize) -> u64 {
    (n as u64)
        .saturating_mul(16)
        .saturating_add(64)
        .saturating_mul(2)
}

/// The verdict of [`prove`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ProofStatus {
    /// Every box of the region was resolved: the zeros of `s` in the region are exactly the
    /// verified found equilibria plus the missed ones.
    #[serde(rename = "proven")]
    Proven,
    /// Some boxes were left unresolved (budget, or a zero that cannot be verified).
    #[serde(rename = "not proven")]
    NotProven,
    /// The proof could not run (no enclosures, or too many parameters).
    #[serde(rename = "not run")]
    NotRun,
}

impl ProofStatus {
    /// `"proven"`, `"not proven"` or `"not run"`.
    pub fn name(self) -> &'static str {
        match self {
            ProofStatus::Proven => "proven",
            ProofStatus::NotProven => "not proven",
            ProofStatus::NotRun => "not run",
        }
    }
}

/// What [`prove`] established.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProofReport {
    /// The verdict.
    pub status: ProofStatus,
    /// Why the status is not `proven` (`None` when it is).
    pub reason: Option<String>,
    /// Boxes processed (a box pruned and processed again counts again).
    pub boxes_processed: usize,
    /// Boxes shown to hold no zero.
    pub boxes_excluded: usize,
    /// Boxes shown by the Krawczyk test to hold exactly one zero.
    pub boxes_verified: usize,
    /// Boxes (or remainders of subtracted boxes) inside the verified box of a recorded zero.
    pub boxes_covered: usize,
    /// Boxes left unresolved.
    pub boxes_unresolved: usize,
    /// Their total volume over the region's volume.
    pub unresolved_volume_fraction: f64,
    /// Distinct zeros of `s` verified with enclosures inside the region.
    pub zeros_in_region: usize,
    /// Distinct verified zeros whose enclosure straddles the region's boundary (membership
    /// undecided; also counted in `missed` when not found).
    pub on_boundary: usize,
    /// Distinct found equilibria verified (duplicates and those outside the region apart).
    pub found_verified: usize,
    /// Indices of found points that are the same zero as an earlier found point.
    pub found_duplicates: Vec<usize>,
    /// Indices of found points verified as zeros lying outside the region.
    pub found_outside: Vec<usize>,
    /// Indices of found points the Krawczyk test could not verify.
    pub found_unverified: Vec<usize>,
    /// Zeros in the region (or on its boundary) that are not among the found points:
    /// approximate locations (the midpoint of a tight enclosure, after Newton's method).
    pub missed: Vec<Vec<f64>>,
    /// Interval enclosures of `s` computed (over boxes and points).
    pub gradient_enclosures: u64,
    /// Interval enclosures of the Jacobian computed.
    pub hessian_enclosures: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
}

impl ProofReport {
    /// True when the proof is complete and found nothing missing: the found points include
    /// every zero of `s` in the region.
    pub fn map_complete(&self) -> bool {
        self.status == ProofStatus::Proven && self.missed.is_empty()
    }

    /// A report for a proof that did not run, saying why.
    pub fn not_run(reason: String, seconds: f64) -> Self {
        Self {
            status: ProofStatus::NotRun,
            reason: Some(reason),
            boxes_processed: 0,
            boxes_excluded: 0,
            boxes_verified: 0,
            boxes_covered: 0,
            boxes_unresolved: 0,
            unresolved_volume_fraction: 1.0,
            zeros_in_region: 0,
            on_boundary: 0,
            found_verified: 0,
            found_duplicates: Vec::new(),
            found_outside: Vec::new(),
            found_unverified: Vec::new(),
            missed: Vec::new(),
            gradient_enclosures: 0,
            hessian_enclosures: 0,
            seconds,
        }
    }
}

/// Checks the region and the found points against the objectives' dimension.
///
/// # Errors
/// [`Error::DimensionMismatch`] for a region or point of the wrong length;
/// [`Error::InvalidParameter`] for a side that is not finite with `lo < hi`, or a point
/// that is not finite.
pub(crate) fn check_inputs(n: usize, region: &[(f64, f64)], found: &[Vec<f64>]) -> Result<()> {
    if n == 0 {
        return Err(Error::InvalidParameter {
            name: "region".into(),
            reason: "the problem has no parameters".into(),
        });
    }
    if region.len() != n {
        return Err(Error::DimensionMismatch {
            what: "region".into(),
            found: region.len(),
            expected: n,
        });
    }
    for (j, &(lo, hi)) in region.iter().enumerate() {
        if !(lo.is_finite() && hi.is_finite() && lo < hi) {
            return Err(Error::InvalidParameter {
                name: "region".into(),
                reason: format!("side {} is [{lo}, {hi}]: need finite lo < hi", j + 1),
            });
        }
    }
    for (k, p) in found.iter().enumerate() {
        if p.len() != n {
            return Err(Error::DimensionMismatch {
                what: format!("found point {}", k + 1),
                found: p.len(),
                expected: n,
            });
        }
        if p.iter().any(|x| !x.is_finite()) {
            return Err(Error::InvalidParameter {
                name: "found".into(),
                reason: format!("point {} is not finite", k + 1),
            });
        }
    }
    Ok(())
}

/// The enclosures, counted.
pub(crate) struct Enclosures<'a> {
    objectives: &'a dyn Objectives<f64>,
    n: usize,
    gradient_calls: u64,
    hessian_calls: u64,
}

impl<'a> Enclosures<'a> {
    pub(crate) fn new(objectives: &'a dyn Objectives<f64>) -> Self {
        Self {
            objectives,
            n: objectives.dim(),
            gradient_calls: 0,
            hessian_calls: 0,
        }
    }

    /// `s` over `x`; `None` when unavailable or of the wrong length.
    pub(crate) fn s(&mut self, x: &[Interval]) -> Option<IBox> {
        self.gradient_calls += 1;
        let v = self.objectives.enclose_sum_gradient(x)?;
        (v.len() == self.n).then_some(v)
    }

    /// `J` over `x`, row-major.
    pub(crate) fn j(&mut self, x: &[Interval]) -> Option<IBox> {
        self.hessian_calls += 1;
        let v = self.objectives.enclose_sum_hessian(x)?;
        (v.len() == self.n * self.n).then_some(v)
    }
}

fn point_box(p: &[f64]) -> IBox {
    p.iter().map(|&x| Interval::point(x)).collect()
}

fn mid(x: &[Interval]) -> Vec<f64> {
    x.iter().map(|i| i.mid()).collect()
}

fn subset(a: &[Interval], b: &[Interval]) -> bool {
    a.iter().zip(b).all(|(x, y)| x.subset_of(*y))
}

/// Closed boxes meet.
fn meet(a: &[Interval], b: &[Interval]) -> bool {
    a.iter()
        .zip(b)
        .all(|(x, y)| x.lo() <= y.hi() && y.lo() <= x.hi())
}

/// The interiors meet.
fn interiors_meet(a: &[Interval], b: &[Interval]) -> bool {
    a.iter()
        .zip(b)
        .all(|(x, y)| x.lo() < y.hi() && y.lo() < x.hi())
}

fn intersect(a: &[Interval], b: &[Interval]) -> Option<IBox> {
    a.iter().zip(b).map(|(x, y)| x.intersect(*y)).collect()
}

/// `Π w(x_j) / w(r_j)`: the fraction of the region's volume.
fn volume_fraction(x: &[Interval], region: &[Interval]) -> f64 {
    x.iter()
        .zip(region)
        .map(|(a, r)| (a.hi() - a.lo()) / (r.hi() - r.lo()))
        .product()
}

/// `0 ∉ v_i` for some `i`.
fn excludes_zero(v: &[Interval]) -> bool {
    v.iter().any(|i| !i.contains(0.0))
}

/// The floating-point inverse of the midpoint matrix of `j` (`n × n`, row-major); `None`
/// when an entry is unbounded or the midpoint matrix is singular.
pub(crate) fn inverse_of_mid(j: &[Interval], n: usize) -> Option<DMatrix<f64>> {
    if j.iter().any(|x| !x.is_bounded()) {
        return None;
    }
    DMatrix::from_row_slice(n, n, &mid(j))
        .try_inverse()
        .filter(|m| m.iter().all(|x| x.is_finite()))
}

/// Krawczyk's operator `K(X) = c − C s([c]) + (I − C J(X))(X − c)` and `‖I − C J(X)‖∞`
/// (the largest row sum of magnitudes, rounded up by interval arithmetic).
fn krawczyk_operator(
    x: &[Interval],
    c: &[f64],
    sc: &[Interval],
    jx: &[Interval],
    pre: &DMatrix<f64>,
) -> (IBox, f64) {
    let n = x.len();
    let delta: Vec<Interval> = x
        .iter()
        .zip(c)
        .map(|(&xi, &ci)| xi - Interval::point(ci))
        .collect();
    let mut k = Vec::with_capacity(n);
    let mut norm = 0.0_f64;
    for r in 0..n {
        let mut kr = Interval::point(c[r]);
        for l in 0..n {
            kr = kr - Interval::point(pre[(r, l)]) * sc[l];
        }
        let mut row = Interval::point(0.0);
        for col in 0..n {
            let mut m = Interval::point(if r == col { 1.0 } else { 0.0 });
            for l in 0..n {
                m = m - Interval::point(pre[(r, l)]) * jx[l * n + col];
            }
            row = row + m.abs();
            kr = kr + m * delta[col];
        }
        norm = norm.max(row.hi());
        k.push(kr);
    }
    (k, norm)
}

/// `s` in floating point: `Σ_i g_i(θ)`.
fn sum_gradient(objectives: &dyn Objectives<f64>, theta: &[f64]) -> Vec<f64> {
    let n = theta.len();
    let mut s = vec![0.0; n];
    let mut g = vec![0.0; n];
    for i in 0..objectives.num_objectives() {
        objectives.gradient(i, theta, &mut g);
        for (a, b) in s.iter_mut().zip(&g) {
            *a += b;
        }
    }
    s
}

fn norm2(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// Damped Newton's method on `s = 0` in floating point from `start` (at most 60 steps,
/// each halved up to 30 times until `‖s‖` decreases). Returns the last point, or `None`
/// when a value is not finite, the Jacobian is singular, or the iterate leaves `limits`.
fn newton(
    objectives: &dyn Objectives<f64>,
    start: &[f64],
    limits: &[(f64, f64)],
) -> Option<Vec<f64>> {
    let n = start.len();
    let mut x = start.to_vec();
    let mut s = sum_gradient(objectives, &x);
    let mut norm = norm2(&s);
    for _ in 0..60 {
        if !norm.is_finite() {
            return None;
        }
        if norm == 0.0 {
            break;
        }
        let h = sum_hessian(objectives, &x);
        let step = DMatrix::from_row_slice(n, n, &h)
            .lu()
            .solve(&DVector::from_column_slice(&s))?;
        if step.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let mut t = 1.0;
        let mut accepted = false;
        for _ in 0..30 {
            let trial: Vec<f64> = x.iter().zip(step.iter()).map(|(a, d)| a - t * d).collect();
            let st = sum_gradient(objectives, &trial);
            let nt = norm2(&st);
            if nt.is_finite() && nt < norm {
                let tiny = trial
                    .iter()
                    .zip(&x)
                    .all(|(a, b)| (a - b).abs() <= 4.0 * f64::EPSILON * a.abs().max(b.abs()));
                x = trial;
                s = st;
                norm = nt;
                accepted = !tiny;
                break;
            }
            t *= 0.5;
        }
        if !accepted {
            break;
        }
        if x.iter()
            .zip(limits)
            .any(|(v, &(lo, hi))| *v < lo || *v > hi)
        {
            return None;
        }
    }
    Some(x)
}

/// How a zero's tight enclosure relates to the recorded unique boxes.
enum Match {
    /// It is the zero of this record.
    Same(usize),
    /// Disjoint from every recorded box: a new zero.
    New,
    /// Neither.
    Ambiguous,
}

/// A distinct zero of `s`.
struct Zero {
    /// A tight enclosure.
    tight: IBox,
    /// The found point it is, if any.
    found: Option<usize>,
}

/// A box holding exactly one zero.
struct UniqueBox {
    bx: IBox,
    zero: usize,
}

/// A box waiting in the queue.
struct Work {
    bx: IBox,
    /// Newton's method was already tried in this box or an ancestor.
    newton_tried: bool,
}

/// A queued box with its priority: the coarsest size class first (see [`size_class`]),
/// then the latest pushed (depth first within a class). A total order: the search is
/// deterministic.
struct Queued {
    class: u8,
    seq: u64,
    work: Work,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}

impl Eq for Queued {}

impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Queued {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.class.cmp(&self.class).then(self.seq.cmp(&other.seq))
    }
}

/// `⌊−log₁₀(largest relative side) / 2⌋`, at most 5: class 0 holds boxes with a side of
/// at least 1% of the region's, class 1 down to 0.01%, and so on.
fn size_class(x: &[Interval], region: &[Interval]) -> u8 {
    let largest = x.iter().zip(region).fold(0.0_f64, |m, (a, r)| {
        m.max((a.hi() - a.lo()) / (r.hi() - r.lo()))
    });
    if largest > 0.0 {
        // In [0, 5] before the cast.
        (-largest.log10() / 2.0).floor().clamp(0.0, 5.0) as u8
    } else {
        5
    }
}

/// The boxes waiting: depth first among boxes of the coarsest size class present, so a
/// part of the region that needs tiny boxes (a curve of zeros, a degenerate zero) is only
/// refined further once every coarser box elsewhere is done. When a budget runs out the
/// unresolved boxes are then small ones around the hard parts, not a large untouched part
/// of the region (as plain depth-first order would leave).
struct Queue {
    heap: std::collections::BinaryHeap<Queued>,
    region: IBox,
    seq: u64,
}

impl Queue {
    fn push(&mut self, work: Work) {
        let class = size_class(&work.bx, &self.region);
        self.seq += 1;
        self.heap.push(Queued {
            class,
            seq: self.seq,
            work,
        });
    }

    fn pop(&mut self) -> Option<Work> {
        self.heap.pop().map(|q| q.work)
    }

    fn len(&self) -> usize {
        self.heap.len()
    }
}

struct Prover<'a> {
    enc: Enclosures<'a>,
    objectives: &'a dyn Objectives<f64>,
    n: usize,
    region: IBox,
    /// The region inflated by its scale on every side: Newton stops outside.
    newton_limits: Vec<(f64, f64)>,
    scale: f64,
    min_width: Vec<f64>,
    zeros: Vec<Zero>,
    unique: Vec<UniqueBox>,
}

impl Prover<'_> {
    /// Krawczyk's test on the boxes `p + [−r, r]ⁿ`: a tight enclosure of the zero and the
    /// largest verified box (see the module docs, step 1).
    fn verify_point(&mut self, p: &[f64]) -> Option<(IBox, IBox)> {
        let n = self.n;
        let pt = point_box(p);
        let sp = self.enc.s(&pt)?;
        let jp = self.enc.j(&pt)?;
        let pre = inverse_of_mid(&jp, n)?;
        let test = |r: f64, enc: &mut Enclosures| -> Option<(IBox, IBox)> {
            let bx: IBox = p.iter().map(|&x| Interval::centered(x, r)).collect();
            let jx = enc.j(&bx)?;
            let (k, _) = krawczyk_operator(&bx, p, &sp, &jx, &pre);
            k.iter()
                .zip(&bx)
                .all(|(a, b)| a.interior_of(*b))
                .then_some((bx, k))
        };
        let mut first = None;
        for r in [1e-12, 1e-9, 1e-6] {
            let r = r * self.scale;
            if let Some((bx, k)) = test(r, &mut self.enc) {
                first = Some((r, bx, k));
                break;
            }
        }
        let (mut r, mut best, k) = first?;
        let tight = intersect(&k, &best)?;
        while 4.0 * r <= self.scale {
            if let Some((bx, _)) = test(4.0 * r, &mut self.enc) {
                best = bx;
                r *= 4.0;
            } else {
                if let Some((bx, _)) = test(2.0 * r, &mut self.enc) {
                    best = bx;
                }
                break;
            }
        }
        Some((best, tight))
    }

    fn match_zero(&self, tight: &[Interval]) -> Match {
        let mut ambiguous = false;
        for u in &self.unique {
            if subset(tight, &u.bx) {
                return Match::Same(u.zero);
            }
            if meet(tight, &u.bx) {
                ambiguous = true;
            }
        }
        if ambiguous {
            Match::Ambiguous
        } else {
            Match::New
        }
    }

    /// Records a verified zero with its unique box; returns the match.
    fn record(&mut self, unique: IBox, tight: IBox, found: Option<usize>) -> Match {
        let m = self.match_zero(&tight);
        match m {
            Match::Same(z) => self.unique.push(UniqueBox {
                bx: unique,
                zero: z,
            }),
            Match::New => {
                self.zeros.push(Zero { tight, found });
                self.unique.push(UniqueBox {
                    bx: unique,
                    zero: self.zeros.len() - 1,
                });
            }
            Match::Ambiguous => {}
        }
        m
    }

    /// A tight enclosure of the unique zero of a verified box, by iterating
    /// `X ← K(X) ∩ X` (at most 8 times, until the width stops halving).
    fn tighten(&mut self, mut x: IBox) -> IBox {
        let width = |b: &[Interval]| b.iter().fold(0.0_f64, |m, i| m.max(i.width()));
        for _ in 0..8 {
            let c = mid(&x);
            let (Some(sc), Some(jx)) = (self.enc.s(&point_box(&c)), self.enc.j(&x)) else {
                break;
            };
            let Some(pre) = inverse_of_mid(&jx, self.n) else {
                break;
            };
            let (k, _) = krawczyk_operator(&x, &c, &sc, &jx, &pre);
            let Some(next) = intersect(&k, &x) else {
                break;
            };
            let shrank = width(&next) < 0.5 * width(&x);
            x = next;
            if !shrank {
                break;
            }
        }
        x
    }
}

/// Both layers' results, as the map's JSON carries them:
/// `{"degree": {"boundary": d, "sum_sign_det": s, …} | null, "degree_note": "…" | null,
/// "proof": {"status": "proven" | "not proven" | "not run", …}}`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Completeness {
    /// The degree check, `None` when it could not be computed.
    pub degree: Option<DegreeCheck>,
    /// Why there is no degree (`None` when there is one).
    pub degree_note: Option<String>,
    /// The proof.
    pub proof: ProofReport,
}

/// Runs [`degree_check`] (with [`DegreeParams::default`]) and, when `proof` is given,
/// [`prove`]; without it the proof's status is `not run`.
///
/// # Errors
/// As [`prove`] (also checked when the proof is not run).
pub fn check(
    objectives: &dyn Objectives<f64>,
    region: &[(f64, f64)],
    found: &[Vec<f64>],
    proof: Option<&ProofParams>,
) -> Result<Completeness> {
    check_inputs(objectives.dim(), region, found)?;
    let (degree, degree_note) =
        match degree_check(objectives, region, found, &DegreeParams::default()) {
            Ok(d) => (Some(d), None),
            Err(e) => (None, Some(e.reason)),
        };
    let proof = match proof {
        Some(params) => prove(objectives, region, found, params)?,
        None => ProofReport::not_run("the proof was not requested".into(), 0.0),
    };
    Ok(Completeness {
        degree,
        degree_note,
        proof,
    })
}

/// Proves (or fails to prove, within budget) that `found` holds every zero of
/// `s = Σ_i ∇L_i` in the closed box `region`, by interval branch-and-prune with Krawczyk's
/// operator (see the [module docs](self) for the algorithm and what `proven` means).
///
/// `found` are approximate zeros (the map's equilibria); they need not be verified,
/// distinct or inside the region. The result is deterministic (sequential, no randomness)
/// apart from where the time budget cuts it.
///
/// ```
/// use bflow::map::completeness::{ProofParams, ProofStatus, prove};
/// use bflow::objectives::problem_file::parse_problem;
///
/// // Σ L = (x² − 1)² + y²: zeros of s at (−1, 0), (0, 0) and (1, 0).
/// let text = "vars = [\"x\", \"y\"]\n[[objective]]\nexpr = \"(x^2 - 1)^2\"\n\
///             [[objective]]\nexpr = \"y^2\"\n";
/// let p = parse_problem(text, "wells.toml").unwrap();
/// let region = [(-2.0, 2.0), (-1.0, 1.0)];
/// let found = vec![vec![-1.0, 0.0], vec![1.0, 0.0]];
/// let r = prove(&*p.objectives, &region, &found, &ProofParams::default()).unwrap();
/// assert_eq!(r.status, ProofStatus::Proven);
/// assert_eq!(r.zeros_in_region, 3);
/// assert!(!r.map_complete());
/// assert!(r.missed[0].iter().all(|v| v.abs() < 1e-12)); // the maximum in x at the origin
/// ```
///
/// # Errors
/// As [`ProofParams::validate_for`] (a box budget beyond [`PROOF_BOXES_MAX_BYTES`] is
/// [`Error::TooLarge`]); [`Error::DimensionMismatch`] or
/// [`Error::InvalidParameter`] when `region` or a found point does not fit the objectives
/// (a side must be finite with `lo < hi`).
pub fn prove(
    objectives: &dyn Objectives<f64>,
    region: &[(f64, f64)],
    found: &[Vec<f64>],
    params: &ProofParams,
) -> Result<ProofReport> {
    prove_with(objectives, region, found, params, &mut || {
        ControlFlow::Continue(())
    })
}

/// [`prove`], asking `poll` before each found point it verifies and every 64 boxes whether
/// to go on (a caller's Ctrl-C, say): `Break` ends the proof there, not proven, its reason
/// `"interrupted while verifying the found points (k of N)"` or `"interrupted after N
/// boxes"`. `poll` runs on the calling thread.
///
/// # Errors
/// As [`prove`].
pub fn prove_with(
    objectives: &dyn Objectives<f64>,
    region: &[(f64, f64)],
    found: &[Vec<f64>],
    params: &ProofParams,
    poll: &mut dyn FnMut() -> ControlFlow<()>,
) -> Result<ProofReport> {
    let n = objectives.dim();
    params.validate_for(n)?;
    check_inputs(n, region, found)?;
    let started = Instant::now();
    if n > MAX_PROOF_DIM {
        return Ok(ProofReport::not_run(
            format!("n = {n} parameters: box subdivision runs for n ≤ {MAX_PROOF_DIM}"),
            started.elapsed().as_secs_f64(),
        ));
    }
    let region_box: IBox = region
        .iter()
        .map(|&(lo, hi)| Interval::new(lo, hi).unwrap_or(Interval::ENTIRE))
        .collect();
    let scale = region.iter().fold(0.0_f64, |m, &(lo, hi)| m.max(hi - lo));
    let mut prover = Prover {
        enc: Enclosures::new(objectives),
        objectives,
        n,
        newton_limits: region
            .iter()
            .map(|&(lo, hi)| (lo - scale, hi + scale))
            .collect(),
        min_width: region
            .iter()
            .map(|&(lo, hi)| params.min_width * (hi - lo))
            .collect(),
        region: region_box.clone(),
        scale,
        zeros: Vec::new(),
        unique: Vec::new(),
    };
    if prover.enc.s(&region_box).is_none() || prover.enc.j(&region_box).is_none() {
        return Ok(ProofReport::not_run(
            "the objectives have no interval enclosures of s and its Jacobian".into(),
            started.elapsed().as_secs_f64(),
        ));
    }

    // 1–2: the found points.
    let mut found_duplicates = Vec::new();
    let mut found_unverified = Vec::new();
    let mut budget_reason = None;
    for (k, p) in found.iter().enumerate() {
        if poll().is_break() {
            budget_reason = Some(format!(
                "interrupted while verifying the found points ({k} of {})",
                found.len()
            ));
            found_unverified.extend(k..found.len());
            break;
        }
        if started.elapsed() > params.max_time {
            budget_reason = Some(format!(
                "time budget of {:.1} s reached while verifying the found points ({k} of {})",
                params.max_time.as_secs_f64(),
                found.len()
            ));
            found_unverified.extend(k..found.len());
            break;
        }
        match prover.verify_point(p) {
            Some((unique, tight)) => match prover.record(unique, tight, Some(k)) {
                Match::New => {}
                Match::Same(_) => found_duplicates.push(k),
                Match::Ambiguous => found_unverified.push(k),
            },
            None => found_unverified.push(k),
        }
    }

    // 3: the search.
    let mut report = ProofReport::not_run(String::new(), 0.0);
    let mut queue = Queue {
        heap: std::collections::BinaryHeap::new(),
        region: region_box.clone(),
        seq: 0,
    };
    queue.push(Work {
        bx: region_box.clone(),
        newton_tried: false,
    });
    let mut unresolved: Vec<IBox> = Vec::new();
    while let Some(work) = queue.pop() {
        if budget_reason.is_some() {
            queue.push(work);
            break;
        }
        if report.boxes_processed >= params.max_boxes || queue.len() >= params.max_boxes {
            queue.push(work);
            budget_reason = Some(format!(
                "box budget reached ({} boxes processed, {} waiting)",
                report.boxes_processed,
                queue.len()
            ));
            break;
        }
        if report.boxes_processed.is_multiple_of(64) {
            if poll().is_break() {
                queue.push(work);
                budget_reason = Some(format!(
                    "interrupted after {} boxes",
                    report.boxes_processed
                ));
                break;
            }
            if started.elapsed() > params.max_time {
                queue.push(work);
                budget_reason = Some(format!(
                    "time budget of {:.1} s reached after {} boxes",
                    params.max_time.as_secs_f64(),
                    report.boxes_processed
                ));
                break;
            }
        }
        report.boxes_processed += 1;
        prover.step(work, &mut queue, &mut unresolved, &mut report);
    }

    // An unverified found point within √ε · scale of a recorded zero, inside one of its
    // unique boxes, is that zero: the one the search recorded (then not missed), or a
    // duplicate of the found point it already is.
    let near = f64::EPSILON.sqrt() * scale;
    found_unverified.retain(|&k| {
        let p = point_box(&found[k]);
        let owner = prover
            .unique
            .iter()
            .find(|u| {
                subset(&p, &u.bx)
                    && prover.zeros[u.zero]
                        .tight
                        .iter()
                        .zip(&found[k])
                        .all(|(z, &v)| (z.mid() - v).abs() <= near)
            })
            .map(|u| u.zero);
        match owner.map(|z| (z, prover.zeros[z].found)) {
            Some((z, None)) => {
                prover.zeros[z].found = Some(k);
                false
            }
            Some((_, Some(_))) => {
                found_duplicates.push(k);
                false
            }
            None => true,
        }
    });
    found_duplicates.sort_unstable();

    // 4: the verdict.
    let mut found_outside = Vec::new();
    for z in &prover.zeros {
        let inside = subset(&z.tight, &region_box);
        let outside = !meet(&z.tight, &region_box);
        if inside {
            report.zeros_in_region += 1;
        } else if !outside {
            report.on_boundary += 1;
        }
        match z.found {
            Some(k) if outside => found_outside.push(k),
            Some(_) => report.found_verified += 1,
            None if !outside => {
                let approx = mid(&z.tight);
                let polished = newton(objectives, &approx, &prover.newton_limits)
                    .filter(|q| subset(&point_box(q), &z.tight))
                    .unwrap_or(approx);
                report.missed.push(polished);
            }
            None => {}
        }
    }
    found_outside.sort_unstable();
    let leftover: Vec<&IBox> = unresolved
        .iter()
        .chain(queue.heap.iter().map(|q| &q.work.bx))
        .collect();
    report.boxes_unresolved = leftover.len();
    report.unresolved_volume_fraction = leftover
        .iter()
        .fold(0.0, |v, b| v + volume_fraction(b, &region_box))
        .min(1.0);
    report.status = if leftover.is_empty() {
        ProofStatus::Proven
    } else {
        ProofStatus::NotProven
    };
    report.reason = match (budget_reason, unresolved.is_empty()) {
        (None, true) => None,
        (budget, _) => {
            let mut parts = Vec::new();
            if let Some(b) = budget {
                parts.push(b);
            }
            if !unresolved.is_empty() {
                parts.push(format!(
                    "{} boxes reached the minimum width unresolved (a degenerate zero, a zero \
                     on the region's boundary, or enclosures too wide), e.g. near {:?}",
                    unresolved.len(),
                    mid(&unresolved[0])
                ));
            }
            Some(parts.join("; "))
        }
    };
    report.found_duplicates = found_duplicates;
    report.found_outside = found_outside;
    report.found_unverified = found_unverified;
    report.gradient_enclosures = prover.enc.gradient_calls;
    report.hessian_enclosures = prover.enc.hessian_calls;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

impl Prover<'_> {
    /// Processes one box of the search (step 3 of the module docs).
    fn step(
        &mut self,
        work: Work,
        queue: &mut Queue,
        unresolved: &mut Vec<IBox>,
        report: &mut ProofReport,
    ) {
        let n = self.n;
        let x = work.bx;
        if self.unique.iter().any(|u| subset(&x, &u.bx)) {
            report.boxes_covered += 1;
            return;
        }
        let Some(natural) = self.enc.s(&x) else {
            unresolved.push(x);
            return;
        };
        if excludes_zero(&natural) {
            report.boxes_excluded += 1;
            return;
        }
        if let Some(u) = self.subtrahend(&x) {
            let pieces = subtract(&x, &u);
            report.boxes_covered += 1;
            for bx in pieces {
                queue.push(Work {
                    bx,
                    newton_tried: work.newton_tried,
                });
            }
            return;
        }
        let c = mid(&x);
        let (Some(sc), Some(jx)) = (self.enc.s(&point_box(&c)), self.enc.j(&x)) else {
            unresolved.push(x);
            return;
        };
        // The mean-value form, intersected with the natural enclosure.
        let mean_value: Vec<Option<Interval>> = (0..n)
            .map(|i| {
                let mut v = sc[i];
                for j in 0..n {
                    v = v + jx[i * n + j] * (x[j] - Interval::point(c[j]));
                }
                v.intersect(natural[i])
            })
            .collect();
        if mean_value
            .iter()
            .any(|v| v.is_none_or(|v| !v.contains(0.0)))
        {
            report.boxes_excluded += 1;
            return;
        }
        if self.monotone_excludes(&x, &jx) {
            report.boxes_excluded += 1;
            return;
        }
        let mut next = x.clone();
        let mut newton_tried = work.newton_tried;
        if let Some(pre) = inverse_of_mid(&jx, n) {
            let (k, contraction) = krawczyk_operator(&x, &c, &sc, &jx, &pre);
            let Some(pruned) = intersect(&k, &x) else {
                report.boxes_excluded += 1;
                return;
            };
            if k.iter().zip(&x).all(|(a, b)| a.interior_of(*b)) {
                let tight = self.tighten(pruned.clone());
                match self.record(x.clone(), tight, None) {
                    Match::Same(_) | Match::New => {
                        report.boxes_verified += 1;
                        return;
                    }
                    Match::Ambiguous => {}
                }
            }
            if contraction <= 0.5 && !newton_tried {
                newton_tried = true;
                if let Some(q) = newton(self.objectives, &c, &self.newton_limits)
                    && let Some((unique, tight)) = self.verify_point(&q)
                    && let Match::New | Match::Same(_) = self.record(unique, tight, None)
                    && self
                        .unique
                        .last()
                        .is_some_and(|u| interiors_meet(&u.bx, &x))
                {
                    // The new box meets this one: process it again (it will be
                    // subtracted or covered).
                    queue.push(Work {
                        bx: pruned,
                        newton_tried,
                    });
                    return;
                }
            }
            // Processed again when a side shrank by 10% and is still wider than the
            // minimum (so pruning cannot loop down to ulps).
            let shrank = pruned
                .iter()
                .zip(&x)
                .zip(&self.min_width)
                .any(|((a, b), &m)| a.width() < 0.9 * b.width() && a.width() > m);
            next = pruned;
            if shrank {
                queue.push(Work {
                    bx: next,
                    newton_tried,
                });
                return;
            }
        }
        match self.bisect(&next, &jx) {
            Some((a, b)) => {
                queue.push(Work {
                    bx: b,
                    newton_tried,
                });
                queue.push(Work {
                    bx: a,
                    newton_tried,
                });
            }
            None => unresolved.push(next),
        }
    }

    /// The recorded unique box to subtract from `x`: the one whose interior meets `x`'s with
    /// the largest overlap, among those no side of which is less than a quarter of `x`'s.
    fn subtrahend(&self, x: &[Interval]) -> Option<IBox> {
        let mut best: Option<(f64, &IBox)> = None;
        for u in &self.unique {
            if !interiors_meet(x, &u.bx) {
                continue;
            }
            // A tiny unique box (an ill-conditioned zero) is still subtracted once the
            // box is within 64 minimum widths.
            let comparable = x
                .iter()
                .zip(&u.bx)
                .zip(&self.min_width)
                .all(|((a, b), &m)| a.hi() - a.lo() <= 4.0 * (b.hi() - b.lo()).max(64.0 * m));
            if !comparable {
                continue;
            }
            let overlap: f64 = x
                .iter()
                .zip(&u.bx)
                .map(|(a, b)| a.hi().min(b.hi()) - a.lo().max(b.lo()))
                .product();
            if best.is_none_or(|(v, _)| overlap > v) {
                best = Some((overlap, &u.bx));
            }
        }
        best.map(|(_, b)| b.clone())
    }

    /// For each component `s_i` monotone in every variable over `x` (`0 ∉ J_ij(x)` for all
    /// `j`), the range is spanned by two corners: true when such a range excludes 0.
    fn monotone_excludes(&mut self, x: &[Interval], jx: &[Interval]) -> bool {
        let n = self.n;
        for i in 0..n {
            let row = &jx[i * n..(i + 1) * n];
            if row.iter().any(|d| d.contains(0.0)) {
                continue;
            }
            let low: Vec<f64> = row
                .iter()
                .zip(x)
                .map(|(d, xi)| if d.lo() > 0.0 { xi.lo() } else { xi.hi() })
                .collect();
            let high: Vec<f64> = row
                .iter()
                .zip(x)
                .map(|(d, xi)| if d.lo() > 0.0 { xi.hi() } else { xi.lo() })
                .collect();
            let (Some(sl), Some(sh)) =
                (self.enc.s(&point_box(&low)), self.enc.s(&point_box(&high)))
            else {
                return false;
            };
            // s_i(low) ≤ s_i(θ) ≤ s_i(high) on x.
            if sl[i].lo() > 0.0 || sh[i].hi() < 0.0 {
                return true;
            }
        }
        false
    }

    /// Splits `x` at [`SPLIT`] of the side of largest smear `max_i |J_ij| w_j` among those
    /// wider than `min_width`; `None` when no side can be split.
    fn bisect(&self, x: &[Interval], jx: &[Interval]) -> Option<(IBox, IBox)> {
        let n = self.n;
        // Candidate sides: (index, smear, relative width).
        let mut candidates = Vec::new();
        for j in 0..n {
            let (lo, hi) = (x[j].lo(), x[j].hi());
            let w = hi - lo;
            let cut = lo + SPLIT * w;
            if !(w > self.min_width[j] && lo < cut && cut < hi) {
                continue;
            }
            let mag = (0..n).fold(0.0_f64, |m, i| m.max(jx[i * n + j].mag()));
            let relative = w / (self.region[j].hi() - self.region[j].lo());
            candidates.push((j, mag * w, relative));
        }
        // The smear where every one is finite and positive, else the relative width.
        let use_smear = candidates
            .iter()
            .all(|&(_, smear, _)| smear.is_finite() && smear > 0.0);
        let key = |&(_, smear, relative): &(usize, f64, f64)| {
            if use_smear { smear } else { relative }
        };
        let best = candidates
            .iter()
            .copied()
            .reduce(|a, b| if key(&b) > key(&a) { b } else { a });
        let (j, _, _) = best?;
        let cut = x[j].lo() + SPLIT * (x[j].hi() - x[j].lo());
        let mut a = x.to_vec();
        let mut b = x.to_vec();
        a[j] = Interval::new(x[j].lo(), cut)?;
        b[j] = Interval::new(cut, x[j].hi())?;
        Some((a, b))
    }
}

/// `x ∖ int(u)` as at most `2n` boxes (slabs cut off dimension by dimension); the part of
/// `x` inside `u` is dropped.
fn subtract(x: &[Interval], u: &[Interval]) -> Vec<IBox> {
    let mut rest = x.to_vec();
    let mut pieces = Vec::new();
    for j in 0..x.len() {
        let (lo, hi) = (rest[j].lo(), rest[j].hi());
        if lo < u[j].lo() {
            let mut p = rest.clone();
            p[j] = Interval::new(lo, u[j].lo()).unwrap_or(rest[j]);
            pieces.push(p);
            rest[j] = Interval::new(u[j].lo(), hi).unwrap_or(rest[j]);
        }
        let (lo, hi) = (rest[j].lo(), rest[j].hi());
        if u[j].hi() < hi {
            let mut p = rest.clone();
            p[j] = Interval::new(u[j].hi(), hi).unwrap_or(rest[j]);
            pieces.push(p);
            rest[j] = Interval::new(lo, u[j].hi()).unwrap_or(rest[j]);
        }
    }
    pieces
}
