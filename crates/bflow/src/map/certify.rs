//! Classification by the Hessian of `Σ L` and the Krawczyk certificate of a zero of `s`.

use crate::interval::Interval;
use crate::linalg::SymmetricEigen;
use crate::objectives::{Objectives, sum_hessian};
use crate::real::distance;

/// What kind of stationary point of `Σ L` an equilibrium is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Every Hessian eigenvalue positive.
    Minimum,
    /// Some negative, some positive eigenvalues (the Morse index counts the negative ones).
    Saddle,
    /// Every eigenvalue negative.
    Maximum,
    /// Some eigenvalue is zero within the tolerance [`degenerate_tolerance`]: the second-order
    /// test cannot decide.
    Degenerate,
}

impl Kind {
    /// `"minimum"`, `"saddle"`, `"maximum"` or `"degenerate"`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Minimum => "minimum",
            Kind::Saddle => "saddle",
            Kind::Maximum => "maximum",
            Kind::Degenerate => "degenerate",
        }
    }
}

/// The relative tolerance below which an eigenvalue counts as zero:
/// `|λ| ≤ √ε · max_j |λ_j|` (with `ε` the `f64` machine epsilon), or every eigenvalue is 0.
pub fn degenerate_tolerance() -> f64 {
    f64::EPSILON.sqrt()
}

/// Classification of a point by the eigenvalues of the Hessian of `Σ L`.
#[derive(Debug, Clone, PartialEq)]
pub struct Classification {
    /// The kind.
    pub kind: Kind,
    /// Number of negative eigenvalues (those below `−tolerance`, for a degenerate point).
    pub morse_index: usize,
    /// The eigenvalues, ascending.
    pub eigenvalues: Vec<f64>,
}

/// Classifies `point` by the eigenvalues of the dense Hessian of `Σ L`
/// ([`symmetric_eigen`](crate::linalg::symmetric_eigen)). Returns `None` when the Hessian is not finite.
pub fn classify(objectives: &dyn Objectives<f64>, point: &[f64]) -> Option<Classification> {
    classify_with_modes(objectives, point).map(|(c, _)| c)
}

/// [`classify`], with the Hessian's eigendecomposition (its modes) it was made from.
pub(crate) fn classify_with_modes(
    objectives: &dyn Objectives<f64>,
    point: &[f64],
) -> Option<(Classification, SymmetricEigen)> {
    let n = point.len();
    let h = sum_hessian(objectives, point);
    if h.iter().any(|x| !x.is_finite()) {
        return None;
    }
    let eigen = crate::linalg::symmetric_eigen(&h, n)?;
    let eigenvalues = eigen.values.clone();
    let scale = eigenvalues.iter().fold(0.0_f64, |a, l| a.max(l.abs()));
    let tol = degenerate_tolerance() * scale;
    let negative = eigenvalues.iter().filter(|&&l| l < -tol).count();
    let zero = scale == 0.0 || eigenvalues.iter().any(|l| l.abs() <= tol);
    let kind = if zero {
        Kind::Degenerate
    } else if negative == 0 {
        Kind::Minimum
    } else if negative == n {
        Kind::Maximum
    } else {
        Kind::Saddle
    };
    Some((
        Classification {
            kind,
            morse_index: negative,
            eigenvalues,
        },
        eigen,
    ))
}

/// The outcome of the Krawczyk test at one point.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Certificate {
    /// The smallest radius `r` (∞-norm: the box `x̃ + [−r, r]ⁿ`) at which the test proved that
    /// the box holds exactly one zero of `s`: the half-width of the box actually tested,
    /// rounded up (outward rounding of its ends can add an ulp of x̃ to the radius tried);
    /// `None` when no radius was certified.
    pub radius: Option<f64>,
    /// The largest radius tried that was certified: the zero is unique in that larger box.
    pub unique_radius: Option<f64>,
    /// Why no radius was certified (`None` when one was).
    pub reason: Option<String>,
}

/// The radii tried, as multiples of the problem's scale: `10^-12, 10^-11, …, 10^-3`.
pub fn certificate_radii(scale: f64) -> Vec<f64> {
    (0..10).map(|k| scale * 10f64.powi(k - 12)).collect()
}

/// The Krawczyk test on the box `X = x̃ + [−r, r]ⁿ`:
///
/// ```text
/// K(X) = x̃ − C s([x̃]) + (I − C J(X)) (X − x̃),   C ≈ J(x̃)⁻¹ (floating point),
/// ```
///
/// with `s` and `J` (the Hessian of `Σ L`) enclosed in interval arithmetic. If
/// `K(X) ⊂ interior(X)`, `X` contains exactly one zero of `s` (Krawczyk 1969; Moore's form of
/// the uniqueness statement). `C` needs no rigour: any matrix works, a good inverse makes the
/// test succeed.
///
/// `Ok(true)`: certified; `Ok(false)`: the test failed at this radius; `Err(reason)`: it
/// cannot be run (no enclosures, singular or non-finite Jacobian at `x̃`).
pub fn krawczyk(
    objectives: &dyn Objectives<f64>,
    point: &[f64],
    radius: f64,
) -> Result<bool, String> {
    let c = preconditioner(objectives, point)?;
    krawczyk_with(objectives, point, radius, &c).map(|r| r.is_some())
}

/// A floating-point inverse of the Hessian of `Σ L` at the point, row-major.
fn preconditioner(objectives: &dyn Objectives<f64>, point: &[f64]) -> Result<Vec<f64>, String> {
    let n = point.len();
    let h = sum_hessian(objectives, point);
    if h.iter().any(|x| !x.is_finite()) {
        return Err("the Hessian of Σ L is not finite at the point".into());
    }
    let inv = crate::linalg::inverse(&h, n).ok_or_else(|| {
        "the Hessian of Σ L is singular at the point: Krawczyk needs an invertible Jacobian"
            .to_string()
    })?;
    Ok(inv)
}

fn krawczyk_with(
    objectives: &dyn Objectives<f64>,
    point: &[f64],
    radius: f64,
    c: &[f64],
) -> Result<Option<f64>, String> {
    let s = enclose_sum_at(objectives, point)?;
    krawczyk_box(objectives, point, radius, c, &s)
}

/// `s([x̃])`, the enclosure of `s` at the point itself (the same for every radius).
fn enclose_sum_at(
    objectives: &dyn Objectives<f64>,
    point: &[f64],
) -> Result<Vec<Interval>, String> {
    let xp: Vec<Interval> = point.iter().map(|&x| Interval::point(x)).collect();
    objectives
        .enclose_sum_gradient(&xp)
        .ok_or_else(no_enclosures)
}

fn no_enclosures() -> String {
    "the problem has no interval enclosures of its derivatives".to_string()
}

/// The Krawczyk test at one radius given `s([x̃])`: the half-width proved, `None` when the
/// test failed.
fn krawczyk_box(
    objectives: &dyn Objectives<f64>,
    point: &[f64],
    radius: f64,
    c: &[f64],
    s: &[Interval],
) -> Result<Option<f64>, String> {
    let n = point.len();
    let boxx: Vec<Interval> = point
        .iter()
        .map(|&x| Interval::centered(x, radius))
        .collect();
    let j = objectives
        .enclose_sum_hessian(&boxx)
        .ok_or_else(no_enclosures)?;
    let delta: Vec<Interval> = boxx
        .iter()
        .zip(point)
        .map(|(&b, &x)| b - Interval::point(x))
        .collect();
    for r in 0..n {
        let mut k = Interval::point(point[r]);
        for l in 0..n {
            k = k - Interval::point(c[r * n + l]) * s[l];
        }
        for col in 0..n {
            let mut m = Interval::point(if r == col { 1.0 } else { 0.0 });
            for l in 0..n {
                m = m - Interval::point(c[r * n + l]) * j[l * n + col];
            }
            k = k + m * delta[col];
        }
        if !k.interior_of(boxx[r]) {
            return Ok(None);
        }
    }
    // The box actually proved: `centered` rounds each end outward, so its half-width can
    // exceed `radius` by an ulp of x̃. Report that half-width, rounded up.
    let half_width = boxx.iter().zip(point).fold(0.0_f64, |m, (b, &x)| {
        m.max((x - b.lo()).next_up()).max((b.hi() - x).next_up())
    });
    Ok(Some(half_width.max(radius)))
}

/// Runs the Krawczyk test over the radii of [`certificate_radii`] and reports the smallest
/// and largest certified ones, or why none was: upwards from the smallest radius to the first
/// success, then downwards from the largest to the first success (at most every radius once;
/// typically two tests instead of ten).
pub fn certify(objectives: &dyn Objectives<f64>, point: &[f64], scale: f64) -> Certificate {
    let failed = |reason: String| Certificate {
        radius: None,
        unique_radius: None,
        reason: Some(reason),
    };
    let c = match preconditioner(objectives, point) {
        Ok(c) => c,
        Err(reason) => return failed(reason),
    };
    let s = match enclose_sum_at(objectives, point) {
        Ok(s) => s,
        Err(reason) => return failed(reason),
    };
    let radii = certificate_radii(scale);
    let test = |r: f64| krawczyk_box(objectives, point, r, &c, &s);
    let mut smallest = None;
    for (i, &r) in radii.iter().enumerate() {
        match test(r) {
            Ok(Some(proved)) => {
                smallest = Some((i, proved));
                break;
            }
            Ok(None) => {}
            Err(reason) => return failed(reason),
        }
    }
    let mut largest = None;
    if let Some((lowest, proved)) = smallest {
        largest = Some(proved);
        for &r in radii[lowest + 1..].iter().rev() {
            match test(r) {
                Ok(Some(p)) => {
                    largest = Some(p);
                    break;
                }
                Ok(None) => {}
                Err(reason) => return failed(reason),
            }
        }
    }
    match (smallest.map(|(_, p)| p), largest) {
        (Some(lo), Some(hi)) => Certificate {
            radius: Some(lo),
            unique_radius: Some(hi),
            reason: None,
        },
        _ => failed(format!(
            "the Krawczyk test failed at every radius from {:e} to {:e}",
            scale * 1e-12,
            scale * 1e-3
        )),
    }
}

/// Certified uniqueness boxes (a centre and an ∞-norm radius, [`Certificate`]'s
/// `unique_radius`), sorted by their centre's first coordinate, so that a point is tested
/// only against those whose first coordinate lies within the largest radius of its own —
/// a search watching every iterate against hundreds of equilibria (E4 has 441) would
/// otherwise spend more on the watching than on some of its steps.
#[derive(Debug, Default)]
pub(crate) struct CertifiedBoxes {
    /// `(first coordinate, equilibrium index, radius, centre)`, ascending in the first.
    boxes: Vec<(f64, usize, f64, Vec<f64>)>,
    /// The largest radius.
    reach: f64,
}

impl CertifiedBoxes {
    /// The boxes of `(equilibrium index, centre, radius)`; those with a radius that is not
    /// finite and positive, or a centre whose first coordinate is not finite, are left out.
    pub(crate) fn new<'p>(boxes: impl Iterator<Item = (usize, &'p [f64], f64)>) -> Self {
        let mut boxes: Vec<(f64, usize, f64, Vec<f64>)> = boxes
            .filter_map(|(k, centre, r)| {
                let x = *centre.first()?;
                (x.is_finite() && r.is_finite() && r > 0.0).then(|| (x, k, r, centre.to_vec()))
            })
            .collect();
        boxes.sort_by(|a, b| a.0.total_cmp(&b.0));
        let reach = boxes.iter().fold(0.0f64, |m, b| m.max(b.2));
        Self { boxes, reach }
    }

    /// The boxes that may hold `theta`: those whose first coordinate is within the largest
    /// radius of `theta`'s.
    fn near<'s>(&'s self, theta: &[f64]) -> impl Iterator<Item = &'s (f64, usize, f64, Vec<f64>)> {
        let x = theta.first().copied().unwrap_or(f64::NAN);
        let from = self.boxes.partition_point(|b| b.0 < x - self.reach);
        self.boxes[from..]
            .iter()
            .take_while(move |b| b.0 <= x + self.reach)
    }

    /// The centre of the first box (by first coordinate) that holds `theta` (every
    /// coordinate within its radius of the centre's).
    pub(crate) fn centre_holding(&self, theta: &[f64]) -> Option<&[f64]> {
        self.near(theta)
            .find(|(_, _, r, centre)| theta.iter().zip(centre).all(|(x, c)| (x - c).abs() <= *r))
            .map(|b| b.3.as_slice())
    }

    /// True when there is no box.
    pub(crate) fn is_empty(&self) -> bool {
        self.boxes.is_empty()
    }

    /// The equilibrium index of the first box (by first coordinate) whose inscribed ball
    /// holds `theta` (at most its radius from the centre).
    pub(crate) fn ball_holding(&self, theta: &[f64]) -> Option<usize> {
        self.near(theta)
            .find(|(_, _, r, centre)| distance(theta, centre) <= *r)
            .map(|b| b.1)
    }
}
