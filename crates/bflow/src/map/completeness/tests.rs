use super::*;
use crate::interval::Interval;
use crate::map::{MapParams, map_equilibria};
use crate::objectives::problem_file::load_problem;
use crate::problems::Problem;

fn example(name: &str) -> Problem<f64> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/problems")
        .join(name);
    load_problem(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn mapped(p: &Problem<f64>, starts: usize) -> Vec<Vec<f64>> {
    let map = map_equilibria(
        p,
        &MapParams {
            starts: Some(starts),
            ..MapParams::default()
        },
    )
    .unwrap();
    map.equilibria.iter().map(|e| e.point.clone()).collect()
}

fn region(p: &Problem<f64>) -> Vec<(f64, f64)> {
    p.region.clone().expect("example problems have a region")
}

fn dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .fold(0.0_f64, |m, (x, y)| m.max((x - y).abs()))
}

/// Every point of `a` is within `tol` of exactly one point of `b`, and the sizes agree.
fn same_points(a: &[Vec<f64>], b: &[Vec<f64>], tol: f64) {
    assert_eq!(a.len(), b.len(), "{a:?}\nvs\n{b:?}");
    for p in a {
        let near = b.iter().filter(|q| dist(p, q) < tol).count();
        assert_eq!(near, 1, "{p:?} matches {near} points of {b:?}");
    }
}

fn sign_det_sum(p: &Problem<f64>, points: &[Vec<f64>]) -> i64 {
    points
        .iter()
        .map(|q| {
            let c = crate::map::classify(&*p.objectives, q).unwrap();
            assert_ne!(c.kind, crate::map::Kind::Degenerate);
            if c.morse_index.is_multiple_of(2) {
                1
            } else {
                -1
            }
        })
        .sum()
}

#[test]
fn himmelblau_map_is_proven_complete_and_its_degree_agrees() {
    let p = example("himmelblau-split.toml");
    let found = mapped(&p, 256);
    assert_eq!(found.len(), 9);
    let r = prove(&*p.objectives, &region(&p), &found, &ProofParams::default()).unwrap();
    assert_eq!(r.status, ProofStatus::Proven, "{r:#?}");
    assert!(r.map_complete() && r.missed.is_empty());
    assert_eq!((r.zeros_in_region, r.found_verified), (9, 9));
    assert!(r.found_unverified.is_empty() && r.found_duplicates.is_empty());
    assert_eq!((r.boxes_unresolved, r.unresolved_volume_fraction), (0, 0.0));
    assert!(r.boxes_excluded > 0 && r.gradient_enclosures > 0);
    let d = degree_check(
        &*p.objectives,
        &region(&p),
        &found,
        &DegreeParams::default(),
    )
    .unwrap();
    // 4 minima + 1 maximum − 4 saddles.
    assert_eq!((d.boundary, d.sum_sign_det, d.degenerate), (1, 1, 0));
    assert!(!d.proves_incomplete());
}

#[test]
fn the_proof_alone_finds_every_zero_of_himmelblau() {
    let p = example("himmelblau-split.toml");
    let r = prove(&*p.objectives, &region(&p), &[], &ProofParams::default()).unwrap();
    assert_eq!(r.status, ProofStatus::Proven, "{r:#?}");
    assert!(!r.map_complete());
    // The file lists all nine stationary points (four of them exactly rounded).
    same_points(&r.missed, &p.equilibria, 1e-9);
    assert_eq!(r.zeros_in_region, 9);
}

#[test]
fn the_adaptive_camel_map_is_the_set_the_proof_finds_alone() {
    // Three competing terms whose sum is the six-hump camel: the default map (self-stopping)
    // against the interval proof run without any found points.
    let p = example("six-hump-camel.toml");
    let map = map_equilibria(&p, &MapParams::default()).unwrap();
    assert_eq!(map.completeness.stopped, "complete");
    let found: Vec<Vec<f64>> = map.equilibria.iter().map(|e| e.point.clone()).collect();
    let r = prove(&*p.objectives, &region(&p), &[], &ProofParams::default()).unwrap();
    assert_eq!(r.status, ProofStatus::Proven, "{r:#?}");
    same_points(&found, &r.missed, 1e-9);
    let count = |k: crate::map::Kind| {
        map.equilibria
            .iter()
            .filter(|e| e.classification.kind == k)
            .count()
    };
    use crate::map::Kind;
    assert_eq!(
        (
            count(Kind::Minimum),
            count(Kind::Saddle),
            count(Kind::Maximum)
        ),
        (6, 7, 2)
    );
    // Only at the origin does every g_i vanish.
    let common: Vec<&Vec<f64>> = map
        .equilibria
        .iter()
        .filter(|e| e.common_stationary)
        .map(|e| &e.point)
        .collect();
    assert_eq!(common.len(), 1);
    assert!(dist(common[0], &[0.0, 0.0]) < 1e-12, "{common:?}");
    // Two global minima, ±(0.0898, −0.7126), at Σ L = −1.0316.
    let lowest = map
        .equilibria
        .iter()
        .map(|e| e.loss_sum)
        .fold(f64::INFINITY, f64::min);
    assert!((lowest + 1.031_628).abs() < 1e-6, "{lowest}");
}

/// The 4-D example wells with their eight wells lumped into one objective beside the
/// confining quadratic: the same Σ L, so the same 15 equilibria. B-flow searches on the
/// objectives' additive terms, which here are the example file's nine objectives again, so
/// the default map finds all 15 — at seed 0, where B-flow on the two lumped objectives
/// stopped one index-3 saddle short.
#[test]
fn lumping_the_wells_into_one_objective_changes_nothing_the_map_finds() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/problems/gaussian-wells-4d.toml"),
    )
    .unwrap();
    let exprs: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("expr = \"")?.strip_suffix('"'))
        .collect();
    let (wells, confine) = exprs.split_at(exprs.len() - 1);
    let region = &text[text.find("[region]").unwrap()..];
    let lumped = format!(
        "name = \"lumped\"\nvars = [\"x\", \"y\", \"z\", \"w\"]\n\
         [[objective]]\nexpr = \"{}\"\n[[objective]]\nexpr = \"{}\"\n{region}",
        wells.join(" + "),
        confine[0]
    );
    let p = crate::objectives::problem_file::parse_problem(&lumped, "lumped").unwrap();
    assert_eq!(p.num_objectives(), 2);
    let terms = p
        .objectives
        .additive_terms()
        .expect("the wells' sum splits");
    assert_eq!(terms.num_objectives(), 9);
    let map = map_equilibria(&p, &MapParams::default()).unwrap();
    let original =
        map_equilibria(&example("gaussian-wells-4d.toml"), &MapParams::default()).unwrap();
    let points = |m: &crate::map::EquilibriumMap| -> Vec<Vec<f64>> {
        m.equilibria.iter().map(|e| e.point.clone()).collect()
    };
    assert_eq!(map.equilibria.len(), 15);
    same_points(&points(&map), &points(&original), 1e-9);
}

#[test]
fn branin_minima_alone_leave_the_two_saddles_missed() {
    // The file lists the three minima; Σ L also has saddles at x = 0 and x = 2π, on the
    // valley floor y = b x² − c x + r.
    let p = example("branin-split.toml");
    let listed = p.equilibria.clone();
    assert_eq!(listed.len(), 3);
    let r = prove(
        &*p.objectives,
        &region(&p),
        &listed,
        &ProofParams::default(),
    )
    .unwrap();
    assert_eq!(r.status, ProofStatus::Proven, "{r:#?}");
    assert_eq!((r.found_verified, r.zeros_in_region), (3, 5));
    let pi = std::f64::consts::PI;
    let floor = |x: f64| 5.1 / (4.0 * pi * pi) * x * x - 5.0 / pi * x + 6.0;
    same_points(
        &r.missed,
        &[vec![0.0, floor(0.0)], vec![2.0 * pi, floor(2.0 * pi)]],
        1e-9,
    );
    assert_eq!(sign_det_sum(&p, &r.missed), -2);
    let d = degree_check(
        &*p.objectives,
        &region(&p),
        &listed,
        &DegreeParams::default(),
    )
    .unwrap();
    assert_eq!((d.boundary, d.sum_sign_det), (1, 3));
    assert!(d.proves_incomplete());
    let mut all = listed.clone();
    all.extend(r.missed.iter().cloned());
    let d = degree_check(&*p.objectives, &region(&p), &all, &DegreeParams::default()).unwrap();
    assert_eq!((d.boundary, d.sum_sign_det), (1, 1));
}

#[test]
fn saddle_is_proven_and_its_degree_is_minus_one() {
    let p = example("saddle.toml");
    let found = mapped(&p, 64);
    assert_eq!(found.len(), 1);
    let r = prove(&*p.objectives, &region(&p), &found, &ProofParams::default()).unwrap();
    assert!(r.map_complete(), "{r:#?}");
    let d = degree_check(
        &*p.objectives,
        &region(&p),
        &found,
        &DegreeParams::default(),
    )
    .unwrap();
    assert_eq!((d.boundary, d.sum_sign_det), (-1, -1));
}

/// The E4 map (2560 starts, the same function as `examples/problems/e4.toml`) is proven
/// complete on the file's enclosures; the proof alone recovers the same 441 points; a
/// truncated map is caught by both layers.
#[test]
fn e4_map_is_proven_complete_and_truncation_is_caught() {
    let p = example("e4.toml");
    let builtin = crate::problems::builtin::<f64>("e4").unwrap();
    assert_eq!(builtin.region, p.region);
    let found = mapped(&builtin, 2560);
    assert_eq!(found.len(), 441);
    let reg = region(&p);
    let r = prove(&*p.objectives, &reg, &found, &ProofParams::default()).unwrap();
    assert!(r.map_complete(), "{r:#?}");
    assert_eq!((r.zeros_in_region, r.found_verified), (441, 441));
    let d = degree_check(&*p.objectives, &reg, &found, &DegreeParams::default()).unwrap();
    // 121 minima − 220 saddles + 100 maxima.
    assert_eq!((d.boundary, d.sum_sign_det), (1, 1));

    let alone = prove(&*p.objectives, &reg, &[], &ProofParams::default()).unwrap();
    assert_eq!(alone.status, ProofStatus::Proven);
    same_points(&alone.missed, &found, 1e-9);

    // Drop every 50th point (9 of them).
    let dropped: Vec<Vec<f64>> = found.iter().step_by(50).cloned().collect();
    let kept: Vec<Vec<f64>> = found
        .iter()
        .enumerate()
        .filter(|(k, _)| k % 50 != 0)
        .map(|(_, q)| q.clone())
        .collect();
    let r = prove(&*p.objectives, &reg, &kept, &ProofParams::default()).unwrap();
    assert_eq!(r.status, ProofStatus::Proven);
    assert!(!r.map_complete());
    same_points(&r.missed, &dropped, 1e-9);
    let d = degree_check(&*p.objectives, &reg, &kept, &DegreeParams::default()).unwrap();
    let expected = 1 - sign_det_sum(&p, &dropped);
    assert_eq!((d.boundary, d.sum_sign_det), (1, expected));
    assert_ne!(expected, 1, "the dropped points' signs cancel: pick others");
    assert!(d.proves_incomplete());
}

#[test]
fn double_well_3d_has_27_stationary_points_and_the_origin_is_one() {
    let p = example("double-well-3d.toml");
    let r = prove(
        &*p.objectives,
        &region(&p),
        &p.equilibria,
        &ProofParams::default(),
    )
    .unwrap();
    assert_eq!(r.status, ProofStatus::Proven, "{r:#?}");
    assert_eq!((r.zeros_in_region, r.found_verified), (27, 1));
    assert_eq!(r.missed.len(), 26);
    // 14 with det J > 0, 13 with det J < 0 (counted independently by Newton from a grid).
    let mut all = r.missed.clone();
    all.push(vec![0.0; 3]);
    assert_eq!(sign_det_sum(&p, &all), 1);
    for q in &all {
        let s = super::sum_gradient(&*p.objectives, q);
        assert!(s.iter().all(|v| v.abs() < 1e-12), "{q:?}: {s:?}");
    }
    let d = degree_check(&*p.objectives, &region(&p), &all, &DegreeParams::default());
    assert!(d.unwrap_err().reason.contains("n ≤ 2"));
}

#[test]
fn a_zero_on_the_boundary_is_flagged_and_has_no_degree() {
    // saddle.toml's only equilibrium (0, −4), on the top face of this region.
    let p = example("saddle.toml");
    let reg = [(-3.0, 3.0), (-8.0, -4.0)];
    let r = prove(&*p.objectives, &reg, &[], &ProofParams::default()).unwrap();
    assert_eq!(r.status, ProofStatus::Proven, "{r:#?}");
    assert_eq!((r.zeros_in_region, r.on_boundary), (0, 1));
    same_points(&r.missed, &[vec![0.0, -4.0]], 1e-12);
    let r = prove(
        &*p.objectives,
        &reg,
        &[vec![0.0, -4.0]],
        &ProofParams::default(),
    )
    .unwrap();
    assert!(r.map_complete() && r.on_boundary == 1 && r.found_verified == 1);
    let err = degree_check(&*p.objectives, &reg, &[], &DegreeParams::default()).unwrap_err();
    assert!(err.reason.contains("on the boundary near (") && err.reason.ends_with(", -4)"));
}

#[test]
fn a_degenerate_zero_is_left_unresolved_in_a_tiny_volume() {
    // s = (x³, y): the zero at the origin has a singular Jacobian.
    let text = "vars = [\"x\", \"y\"]\n[[objective]]\nexpr = \"x^4/4\"\n[[objective]]\n\
                expr = \"y^2/2\"\n[region]\nx = [-1.0, 1.3]\ny = [-1.0, 1.3]\n";
    let p = crate::objectives::problem_file::parse_problem(text, "cubic.toml").unwrap();
    let r = prove(
        &*p.objectives,
        &region(&p),
        &[vec![0.0, 0.0]],
        &ProofParams::default(),
    )
    .unwrap();
    assert_eq!(r.status, ProofStatus::NotProven, "{r:#?}");
    assert_eq!(r.found_unverified, vec![0]);
    assert!(
        r.boxes_unresolved >= 1 && r.unresolved_volume_fraction < 1e-12,
        "{r:#?}"
    );
    assert!(r.reason.as_deref().unwrap().contains("minimum width"));
    assert!(r.missed.is_empty());
    // The degree is still defined (x³ has degree 1), but the point has no sign.
    let d = degree_check(
        &*p.objectives,
        &region(&p),
        &[vec![0.0, 0.0]],
        &DegreeParams::default(),
    )
    .unwrap();
    assert_eq!((d.boundary, d.sum_sign_det, d.degenerate), (1, 0, 1));
    assert!(!d.proves_incomplete());
}

#[test]
fn duplicate_spurious_and_outside_found_points_are_reported() {
    let p = example("himmelblau-split.toml");
    let mut found = p.equilibria.clone();
    let mut twin = found[4].clone();
    twin[0] += 1e-12;
    found.push(twin); // 9: the same zero as 4
    found.push(vec![1.0, 1.0]); // 10: not a zero
    let reg = [(-6.0, 0.0), (-6.0, 6.0)]; // the left half: 4 of the 9 zeros
    let r = prove(&*p.objectives, &reg, &found, &ProofParams::default()).unwrap();
    assert_eq!(r.status, ProofStatus::Proven, "{r:#?}");
    assert_eq!(r.found_duplicates, vec![9]);
    assert_eq!(r.found_unverified, vec![10]);
    let outside: Vec<usize> = (0..9).filter(|&k| p.equilibria[k][0] > 0.0).collect();
    assert_eq!(r.found_outside, outside);
    assert_eq!(r.zeros_in_region, 9 - outside.len());
    assert!(r.map_complete());
}

#[test]
fn an_exhausted_budget_reports_the_unresolved_volume() {
    let p = example("e4.toml");
    let params = ProofParams {
        max_boxes: 200,
        ..ProofParams::default()
    };
    let r = prove(&*p.objectives, &region(&p), &[], &params).unwrap();
    assert_eq!(r.status, ProofStatus::NotProven);
    assert_eq!(r.boxes_processed, 200);
    assert!(r.boxes_unresolved > 0);
    assert!(
        r.unresolved_volume_fraction > 0.0 && r.unresolved_volume_fraction < 1.0,
        "{}",
        r.unresolved_volume_fraction
    );
    assert!(r.reason.as_deref().unwrap().contains("box budget"));
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["status"], "not proven");
    assert_eq!(json["boxes_unresolved"], r.boxes_unresolved);
    let back: ProofReport = serde_json::from_value(json).unwrap();
    assert_eq!(back, r);
}

/// A 2-D problem with no enclosures.
struct Opaque;

impl Objectives<f64> for Opaque {
    fn num_objectives(&self) -> usize {
        2
    }
    fn dim(&self) -> usize {
        2
    }
    fn loss(&self, _: usize, t: &[f64]) -> f64 {
        t[0] * t[0] + t[1] * t[1]
    }
    fn gradient(&self, _: usize, t: &[f64], g: &mut [f64]) {
        g[0] = 2.0 * t[0];
        g[1] = 2.0 * t[1];
    }
    fn hvp(&self, _: usize, _: &[f64], v: &[f64], hv: &mut [f64]) {
        hv[0] = 2.0 * v[0];
        hv[1] = 2.0 * v[1];
    }
}

#[test]
fn no_enclosures_means_not_run_and_bad_input_is_an_error() {
    let reg = [(-1.0, 1.0), (-1.0, 1.0)];
    let r = prove(&Opaque, &reg, &[], &ProofParams::default()).unwrap();
    assert_eq!(r.status, ProofStatus::NotRun);
    assert_eq!(serde_json::to_value(r.status).unwrap(), "not run");
    assert!(degree_check(&Opaque, &reg, &[], &DegreeParams::default()).is_err());
    let params = ProofParams::default();
    assert!(prove(&Opaque, &reg[..1], &[], &params).is_err());
    assert!(prove(&Opaque, &[(1.0, 1.0), (0.0, 1.0)], &[], &params).is_err());
    assert!(prove(&Opaque, &[(0.0, f64::INFINITY), (0.0, 1.0)], &[], &params).is_err());
    assert!(prove(&Opaque, &reg, &[vec![f64::NAN, 0.0]], &params).is_err());
    assert!(prove(&Opaque, &reg, &[vec![0.0]], &params).is_err());
    let bad = ProofParams {
        min_width: 0.0,
        ..ProofParams::default()
    };
    assert!(prove(&Opaque, &reg, &[], &bad).is_err());
    let err = degree_check(&Opaque, &reg[..1], &[], &DegreeParams::default()).unwrap_err();
    assert!(err.reason.contains("region"), "{err}");
}

#[test]
fn one_dimensional_degree_and_proof() {
    // s = (t − 1)(t − 2)(t − 4) on [0, 3]: roots 1 (s' > 0) and 2 (s' < 0), degree 0.
    let text = "vars = [\"t\"]\n[[objective]]\nexpr = \"t^4/4 - 7*t^3/3\"\n[[objective]]\n\
                expr = \"7*t^2 - 8*t\"\n[region]\nt = [0.0, 3.0]\n";
    let p = crate::objectives::problem_file::parse_problem(text, "cubic.toml").unwrap();
    let d = degree_check(
        &*p.objectives,
        &region(&p),
        &[vec![1.0]],
        &DegreeParams::default(),
    )
    .unwrap();
    assert_eq!((d.boundary, d.sum_sign_det), (0, 1));
    assert!(d.proves_incomplete());
    let r = prove(
        &*p.objectives,
        &region(&p),
        &[vec![1.0]],
        &ProofParams::default(),
    )
    .unwrap();
    assert_eq!(r.status, ProofStatus::Proven);
    same_points(&r.missed, &[vec![2.0]], 1e-12);
    let wide = [(0.0, 5.0)];
    let d = boundary_degree(&*p.objectives, &wide, &DegreeParams::default()).unwrap();
    assert_eq!(d.degree, 1);
}

/// `Σ L = ½ (θ − c)ᵀ A (θ − c)` split in two, with closed-form enclosures: one zero, at `c`,
/// with `sign det J = sign det A`.
struct Quadratic {
    a: [f64; 3],
    c: [f64; 2],
}

impl Quadratic {
    fn parts<T>(&self, u: T, v: T) -> [[T; 2]; 2]
    where
        T: Copy + std::ops::Add<Output = T> + std::ops::Mul<f64, Output = T>,
    {
        let [a11, a12, a22] = self.a;
        [[u * a11 + v * a12, u * a12], [u * 0.0, v * a22]]
    }
}

impl Objectives<f64> for Quadratic {
    fn num_objectives(&self) -> usize {
        2
    }
    fn dim(&self) -> usize {
        2
    }
    fn loss(&self, i: usize, t: &[f64]) -> f64 {
        let (u, v) = (t[0] - self.c[0], t[1] - self.c[1]);
        let [a11, a12, a22] = self.a;
        if i == 0 {
            0.5 * a11 * u * u + a12 * u * v
        } else {
            0.5 * a22 * v * v
        }
    }
    fn gradient(&self, i: usize, t: &[f64], g: &mut [f64]) {
        g.copy_from_slice(&self.parts(t[0] - self.c[0], t[1] - self.c[1])[i]);
    }
    fn hvp(&self, i: usize, _: &[f64], v: &[f64], hv: &mut [f64]) {
        let [a11, a12, a22] = self.a;
        if i == 0 {
            hv[0] = a11 * v[0] + a12 * v[1];
            hv[1] = a12 * v[0];
        } else {
            hv[0] = 0.0;
            hv[1] = a22 * v[1];
        }
    }
    fn enclose_sum_gradient(&self, x: &[Interval]) -> Option<Vec<Interval>> {
        let u = x[0] - Interval::point(self.c[0]);
        let v = x[1] - Interval::point(self.c[1]);
        let [g1, g2] = self.parts(u, v);
        Some(vec![g1[0] + g2[0], g1[1] + g2[1]])
    }
    fn enclose_sum_hessian(&self, _: &[Interval]) -> Option<Vec<Interval>> {
        let [a11, a12, a22] = self.a.map(Interval::point);
        Some(vec![a11, a12, a12, a22])
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
    /// The boundary degree is `sign det A` when the zero is inside, 0 when outside; the
    /// proof finds the zero exactly when it is inside.
    #[test]
    fn quadratic_degree_and_proof_locate_the_single_zero(
        a11 in -3.0..3.0f64, a12 in -3.0..3.0f64, a22 in -3.0..3.0f64,
        c0 in -2.0..2.0f64, c1 in -2.0..2.0f64,
    ) {
        let det = a11 * a22 - a12 * a12;
        proptest::prop_assume!(det.abs() > 0.05);
        let inside = c0.abs() < 0.99 && c1.abs() < 0.99;
        let outside = c0.abs() > 1.01 || c1.abs() > 1.01;
        proptest::prop_assume!(inside || outside);
        let q = Quadratic { a: [a11, a12, a22], c: [c0, c1] };
        let reg = [(-1.0, 1.0), (-1.0, 1.0)];
        let d = boundary_degree(&q, &reg, &DegreeParams::default()).unwrap();
        let expected = if inside { det.signum() as i64 } else { 0 };
        proptest::prop_assert_eq!(d.degree, expected);
        let r = prove(&q, &reg, &[], &ProofParams::default()).unwrap();
        proptest::prop_assert_eq!(r.status, ProofStatus::Proven);
        if inside {
            proptest::prop_assert_eq!(r.missed.len(), 1);
            proptest::prop_assert!(dist(&r.missed[0], &[c0, c1]) < 1e-12);
        } else {
            proptest::prop_assert!(r.missed.is_empty());
        }
    }
}

/// n coupled double wells: `Σ (x_i² − 1)² + c Σ_{i<j} x_i x_j` on [−2, 2]ⁿ.
fn wells(n: usize, c: f64) -> Problem<f64> {
    let vars: Vec<String> = (1..=n).map(|i| format!("\"x{i}\"")).collect();
    let mut text = format!("vars = [{}]\n", vars.join(", "));
    for i in 1..=n {
        text += &format!("[[objective]]\nexpr = \"(x{i}^2 - 1)^2\"\n");
    }
    let mut pairs = Vec::new();
    for i in 1..=n {
        for j in i + 1..=n {
            pairs.push(format!("x{i}*x{j}"));
        }
    }
    text += &format!(
        "[[objective]]\nexpr = \"{c}*({})\"\n[region]\n",
        pairs.join(" + ")
    );
    for i in 1..=n {
        text += &format!("x{i} = [-2.0, 2.0]\n");
    }
    crate::objectives::problem_file::parse_problem(&text, "wells.toml").unwrap()
}

/// 3⁴ = 81 stationary points, all found by the proof alone.
#[test]
fn four_coupled_wells_have_81_stationary_points() {
    let p = wells(4, 0.1);
    let r = prove(&*p.objectives, &region(&p), &[], &ProofParams::default()).unwrap();
    assert_eq!(r.status, ProofStatus::Proven, "{r:#?}");
    assert_eq!((r.zeros_in_region, r.missed.len()), (81, 81));
    // Each coordinate near −1, 0 or 1: every combination once.
    let mut cells: Vec<Vec<i64>> = r
        .missed
        .iter()
        .map(|q| q.iter().map(|v| v.round() as i64).collect())
        .collect();
    cells.sort();
    cells.dedup();
    assert_eq!(cells.len(), 81);
    assert_eq!(sign_det_sum(&p, &r.missed), 1);
}

#[test]
fn a_circle_of_zeros_exhausts_the_budget_honestly() {
    // Σ L = (x² + y² − 1)²: s vanishes on the whole unit circle (and at the origin).
    let text = "vars = [\"x\", \"y\"]\n[[objective]]\nexpr = \"(x^2 + y^2 - 1)^2/2\"\n\
                [[objective]]\nexpr = \"(x^2 + y^2 - 1)^2/2\"\n[region]\nx = [-2.0, 2.0]\n\
                y = [-2.0, 2.0]\n";
    let p = crate::objectives::problem_file::parse_problem(text, "ring.toml").unwrap();
    let params = ProofParams {
        max_boxes: 20_000,
        ..ProofParams::default()
    };
    let r = prove(&*p.objectives, &region(&p), &[], &params).unwrap();
    assert_eq!(r.status, ProofStatus::NotProven, "{r:#?}");
    assert!(r.reason.as_deref().unwrap().contains("box budget"));
    // The unresolved boxes hug the circle: a ring of boxes of side ~1% of the region's
    // (≈ 1.3% of its area; depth-first order left 87% of the region untouched).
    assert!(
        r.unresolved_volume_fraction > 0.0 && r.unresolved_volume_fraction < 0.05,
        "{}",
        r.unresolved_volume_fraction
    );
    // The origin (a simple zero: J = −4 I there) is still verified.
    assert!(
        r.missed.iter().any(|q| dist(q, &[0.0, 0.0]) < 1e-12),
        "{:?}",
        r.missed
    );
    let d = degree_check(&*p.objectives, &region(&p), &[], &DegreeParams::default()).unwrap();
    // s points outward on the boundary: degree 1 (the maximum at 0 gives +1, the circle 0).
    assert_eq!(d.boundary, 1);
}

#[test]
fn the_combined_check_serialises_as_the_map_carries_it() {
    let p = example("saddle.toml");
    let c = check(
        &*p.objectives,
        &region(&p),
        &p.equilibria,
        Some(&ProofParams::default()),
    )
    .unwrap();
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(json["degree"]["boundary"], -1);
    assert_eq!(json["degree"]["sum_sign_det"], -1);
    assert!(json["degree_note"].is_null());
    assert_eq!(json["proof"]["status"], "proven");
    assert_eq!(json["proof"]["boxes_unresolved"], 0);
    assert_eq!(json["proof"]["unresolved_volume_fraction"], 0.0);
    assert_eq!(json["proof"]["missed"], serde_json::json!([]));
    let back: Completeness = serde_json::from_value(json).unwrap();
    assert_eq!(back, c);

    let p = example("double-well-3d.toml");
    let c = check(&*p.objectives, &region(&p), &[], None).unwrap();
    let json = serde_json::to_value(&c).unwrap();
    assert!(json["degree"].is_null());
    assert!(json["degree_note"].as_str().unwrap().contains("n ≤ 2"));
    assert_eq!(json["proof"]["status"], "not run");
    assert!(check(&*p.objectives, &[(0.0, 1.0)], &[], None).is_err());
}

/// A 4-D problem in the form `examples/problems/gaussian_wells.py` writes: a well or bump
/// `A · exp(−‖θ − c‖² / w)` per row `(A, c, w)`, and the confining `0.25 ‖θ‖²`, on [−2.5, 2.5]⁴.
fn wells_4d(name: &str, wells: &[(f64, [f64; 4], f64)]) -> Problem<f64> {
    let mut text = format!("name = \"{name}\"\nvars = [\"x\", \"y\", \"z\", \"w\"]\n");
    for (a, c, w) in wells {
        let terms: Vec<String> = ["x", "y", "z", "w"]
            .iter()
            .zip(c)
            .map(|(v, ci)| format!("({v} - ({ci}))^2"))
            .collect();
        text += &format!(
            "[[objective]]\nexpr = \"{a} * exp(-({}) / {w})\"\n",
            terms.join(" + ")
        );
    }
    text += "[[objective]]\nexpr = \"0.5 * (x^2 + y^2 + z^2 + w^2) / 2\"\n[region]\n";
    for v in ["x", "y", "z", "w"] {
        text += &format!("{v} = [-2.5, 2.5]\n");
    }
    crate::objectives::problem_file::parse_problem(&text, name).unwrap()
}

/// `gaussian_wells.py 4 8 40`: one of its index-3 saddles has a basin so small that the
/// default map at seed 5 stops without it.
const WELLS_40: [(f64, [f64; 4], f64); 8] = [
    (2.16, [0.08, -0.82, 0.53, 0.44], 0.5408),
    (-1.55, [0.78, 1.02, 0.09, 0.76], 0.4418),
    (-2.24, [-0.13, 1.48, -1.04, 0.34], 0.4802),
    (-1.29, [0.04, 1.06, 1.23, -1.29], 1.1552),
    (-2.46, [-0.53, 0.76, -0.61, 0.07], 0.9522),
    (-1.92, [1.56, 1.26, -0.93, -0.21], 0.4418),
    (-2.22, [0.27, -1.32, 0.36, -1.24], 1.0952),
    (1.91, [-0.09, 0.44, 1.19, 0.39], 0.7442),
];

/// `gaussian_wells.py 4 8 55`: the default map at seed 2 stops without an index-3 saddle
/// that Newton from its maxima's mode starts reaches only with short steps.
const WELLS_55: [(f64, [f64; 4], f64); 8] = [
    (-2.98, [-0.97, 1.6, -0.63, -1.35], 0.5202),
    (-1.7, [0.71, 1.49, 0.52, 0.13], 0.6962),
    (1.64, [1.45, 1.57, 0.87, -1.47], 0.5832),
    (-2.03, [-1.55, -0.11, -0.88, -0.39], 0.4608),
    (1.39, [0.85, -0.29, -0.62, 1.05], 0.4802),
    (1.62, [-0.44, -0.95, -0.1, 1.1], 0.5618),
    (-1.88, [-0.63, -1.18, 0.63, -0.27], 0.7442),
    (-1.8, [0.5, -1.35, -1.42, 0.64], 0.5832),
];

/// Maps `p` at `seed` without and with the mode starts: without them the map stops with
/// `starts_found` equilibria; with them (the default) the same ones come first, then one more,
/// an index-3 saddle no start reached, found by the modes and certified — and the interval
/// proof finds nothing beyond them.
fn mode_starts_add_one_saddle(p: &Problem<f64>, seed: u64, starts_found: usize) {
    let params = |mode_starts| MapParams {
        seed,
        mode_starts,
        ..MapParams::default()
    };
    let starts_only = map_equilibria(p, &params(false)).unwrap();
    assert_eq!(starts_only.completeness.stopped, "complete");
    assert_eq!(starts_only.equilibria.len(), starts_found);
    assert_eq!(starts_only.completeness.mode_searches, 0);
    let mut map = map_equilibria(p, &params(true)).unwrap();
    assert_eq!(
        (map.equilibria.len(), map.completeness.mode_found),
        (starts_found + 1, 1)
    );
    assert!(map.completeness.mode_searches > 0);
    let added = &map.equilibria[starts_found];
    assert_eq!(added.found_by(), ["modes"]);
    assert_eq!(
        (added.classification.kind, added.classification.morse_index),
        (crate::map::Kind::Saddle, 3)
    );
    assert!(added.certificate.radius.is_some());
    let points = |m: &crate::map::EquilibriumMap| -> Vec<Vec<f64>> {
        m.equilibria.iter().map(|e| e.point.clone()).collect()
    };
    assert_eq!(points(&map)[..starts_found], points(&starts_only));
    map.prove(p, &ProofParams::default()).unwrap();
    assert_eq!(map.completeness.proof.status, ProofStatus::Proven);
    assert!(map.completeness.proof.missed.is_empty());
}

#[test]
fn mode_starts_find_the_saddle_the_statistical_stop_missed() {
    // The default map at seed 5 calls itself complete with 14 equilibria; the 15th is an
    // index-3 saddle whose basin the starts missed.
    mode_starts_add_one_saddle(&wells_4d("w4-40", &WELLS_40), 5, 14);
}

#[test]
fn shards_of_a_map_whose_mode_starts_add_a_saddle_merge_into_the_unsharded_map() {
    // The 1024-start fixed map of the rare-saddle wells at seed 5 is the adaptive map above:
    // its mode starts add the index-3 saddle. Two shards, whose own maps' mode starts add
    // equilibria too, merge into exactly that map — each shard passed once as data and once
    // read back from its JSON, both of which leave out what mode starts found: the merge's
    // own mode starts find the saddle again, from the same equilibria.
    let p = wells_4d("w4-40", &WELLS_40);
    let params = MapParams {
        starts: Some(1024),
        seed: 5,
        ..MapParams::default()
    };
    let mut whole = map_equilibria(&p, &params).unwrap();
    assert_eq!(whole.completeness.mode_found, 1);
    let shard = |index| {
        map_equilibria(
            &p,
            &MapParams {
                shard: Some(crate::map::Shard { index, count: 2 }),
                ..params.clone()
            },
        )
        .unwrap()
    };
    let (first, second) = (shard(0), shard(1));
    let by_modes =
        |m: &crate::map::EquilibriumMap| m.equilibria.iter().filter(|e| e.found_by_modes).count();
    assert!(by_modes(&first) > 0 && by_modes(&second) > 0);
    let json = |m: &crate::map::EquilibriumMap| {
        crate::map::shard_from_json(&serde_json::to_string(m).unwrap()).unwrap()
    };
    whole.seconds = 0.0;
    for parts in [
        [first.shard_data(), json(&second)],
        [json(&first), second.shard_data()],
    ] {
        let mut merged = crate::map::merge(&p, &parts).unwrap();
        assert_eq!(merged.completeness.mode_found, 1);
        merged.seconds = 0.0;
        assert_eq!(merged, whole);
    }
}

#[test]
fn mode_starts_take_short_newton_steps_to_reach_a_saddle_past_the_fold() {
    // Here the saddle lies past the fold from two maxima along their stiffest mode; Newton
    // with the searches' long steps from those mode starts jumps elsewhere, short ones
    // follow the Newton flow to it.
    mode_starts_add_one_saddle(&wells_4d("w4-55", &WELLS_55), 2, 16);
}

#[test]
fn the_mode_starts_from_saddles_complete_the_3d_map_of_the_cosines() {
    // The cosine lattice has 52 equilibria in its region (proven). At seeds 20 and 25 the
    // default map's starts (a first round of 128) see 51: an index-1 saddle near a corner,
    // which 24 of the 8192 searches of a 2048-start map reach, has no extremum beside it in
    // the region, and mode starts from the extrema alone left the map one short. From the
    // index-2 saddles beside it, along their negative modes, Newton reaches it.
    let p = example("cosines-3d.toml");
    assert_eq!(crate::map::default_first_round(3), 128);
    for seed in [20, 25] {
        let mut map = map_equilibria(
            &p,
            &MapParams {
                seed,
                ..MapParams::default()
            },
        )
        .unwrap();
        assert_eq!(map.completeness.stopped, "complete");
        assert_eq!(map.equilibria.len(), 52, "seed {seed}");
        assert_eq!(map.completeness.mode_found, 1, "seed {seed}");
        let added = map.equilibria.iter().find(|e| e.found_by_modes).unwrap();
        assert_eq!(added.classification.morse_index, 1);
        map.prove(&p, &ProofParams::default()).unwrap();
        assert_eq!(map.completeness.proof.status, ProofStatus::Proven);
        assert!(map.completeness.proof.missed.is_empty());
    }
}

#[test]
fn a_map_whose_searches_seldom_end_at_an_equilibrium_runs_on_until_it_has_seen_enough_hits() {
    // Tanh-gated linear terms in 3-D, 4 equilibria (proven): most searches leave the region,
    // so 256 starts give 105 hits. At seed 48 those 105 fall on 3 equilibria, none hit once
    // or twice — the point estimate of unfound ones is 0 — but the fourth, an index-1 saddle
    // that 19 of the 8192 searches of a 2048-start map reach, is not among them. The
    // missing-mass bound of 105 hits is 0.9, not below ½, so the map does not stop there.
    let text = r#"name = "tanh-gates"
description = "tanh-gated linear terms with a trigonometric coupling"
vars = ["x", "y", "z"]

[[objective]]
name = "o1"
expr = "1.048 * tanh(-1.092 * x + -1.951 * y + -1.202 * z + 0.840) * (-0.191 * x + -0.312 * y + 0.695 * z)"

[[objective]]
name = "o2"
expr = "1.229 * tanh(-0.587 * x + 1.639 * y + 0.637 * z + 0.218) * (-0.233 * x + 0.714 * y + 0.909 * z)"

[[objective]]
name = "o3"
expr = "0.705 * tanh(1.754 * x + 0.050 * y + -1.483 * z + 0.555) * (0.899 * x + -0.038 * y + -0.271 * z)"

[[objective]]
name = "o4"
expr = "0.914 * tanh(0.218 * x + 1.764 * y + -0.346 * z + 0.627) * (-0.997 * x + 0.080 * y + 0.573 * z)"

[[objective]]
name = "o5"
expr = "0.15 * (x^2 + y^2 + z^2) + 0.3 * sin(x * y) + 0.3 * cos(y * z)"

[region]
x = [-3, 3]
y = [-3, 3]
z = [-3, 3]"#;
    let p = crate::objectives::problem_file::parse_problem(text, "tanh-gates.toml").unwrap();
    let params = |starts| MapParams {
        seed: 48,
        starts,
        ..MapParams::default()
    };
    let short = map_equilibria(&p, &params(Some(256))).unwrap();
    let e = short.completeness.estimate;
    assert_eq!((e.found, e.hits, e.singletons), (3, 105, 0));
    assert_eq!(e.estimate_unfound, 0.0);
    assert!(!e.looks_complete() && e.estimate_unfound_upper > 20.0);
    let mut map = map_equilibria(&p, &params(None)).unwrap();
    assert_eq!(map.completeness.stopped, "complete");
    assert!(map.completeness.starts_used > 256);
    assert!(map.completeness.estimate.hits >= 341);
    assert_eq!(map.equilibria.len(), 4);
    map.prove(&p, &ProofParams::default()).unwrap();
    assert_eq!(map.completeness.proof.status, ProofStatus::Proven);
    assert!(map.completeness.proof.missed.is_empty());
}

#[test]
fn a_box_budget_is_refused_where_its_boxes_would_not_fit_the_memory_cap() {
    // 2 · max_boxes · (16 n + 64) bytes: 1 000 000 boxes in 3-D take 224 MB.
    let defaults = ProofParams::default();
    assert_eq!(defaults.bytes_for(3), 224_000_000);
    assert!(defaults.validate_for(12).is_ok());
    // The largest budget the message offers fits; one more box does not.
    let most = PROOF_BOXES_MAX_BYTES / (2 * (16 * 3 + 64));
    let at = |max_boxes: u64| ProofParams {
        max_boxes: max_boxes as usize,
        ..ProofParams::default()
    };
    assert!(at(most).validate_for(3).is_ok());
    match at(most + 1).validate_for(3) {
        Err(Error::TooLarge {
            needed_bytes,
            cap_bytes,
            hint,
            ..
        }) => {
            assert_eq!(cap_bytes, PROOF_BOXES_MAX_BYTES);
            assert!(needed_bytes > cap_bytes);
            assert!(hint.contains(&format!("at most {most} boxes")), "{hint}");
        }
        other => panic!("{other:?}"),
    }
    // No overflow at the largest budget; prove refuses it without starting. Above
    // MAX_PROOF_DIM no box is made (the proof reports itself not run), so nothing to refuse.
    assert_eq!(at(u64::MAX).bytes_for(12), u64::MAX);
    assert!(at(u64::MAX).validate_for(MAX_PROOF_DIM).is_err());
    assert!(at(u64::MAX).validate_for(MAX_PROOF_DIM + 1).is_ok());
    let text = "vars = [\"x\"]\n[[objective]]\nexpr = \"x^2\"\n";
    let p = crate::objectives::problem_file::parse_problem(text, "x.toml").unwrap();
    assert!(matches!(
        prove(&*p.objectives, &[(-1.0, 1.0)], &[], &at(u64::MAX)),
        Err(Error::TooLarge { .. })
    ));
}

#[test]
fn a_proof_asked_to_stop_ends_there_not_proven() {
    // The 3-D example wells prove complete; a poll that says stop after its third call ends
    // the proof in the verification of the found points or among the first boxes.
    let p = example("gaussian-wells-3d.toml");
    let region = p.region.clone().unwrap();
    let map = map_equilibria(&p, &MapParams::default()).unwrap();
    let found: Vec<Vec<f64>> = map.equilibria.iter().map(|e| e.point.clone()).collect();
    let params = ProofParams::default();
    let whole = prove(&*p.objectives, &region, &found, &params).unwrap();
    assert_eq!(whole.status, ProofStatus::Proven);
    let mut calls = 0;
    let mut poll = || {
        calls += 1;
        if calls > 3 {
            std::ops::ControlFlow::Break(())
        } else {
            std::ops::ControlFlow::Continue(())
        }
    };
    let cut = prove_with(&*p.objectives, &region, &found, &params, &mut poll).unwrap();
    assert_eq!(cut.status, ProofStatus::NotProven);
    let reason = cut.reason.clone().unwrap_or_default();
    assert!(
        reason.starts_with("interrupted while verifying the found points (3 of 11)"),
        "{reason}"
    );
    assert_eq!(calls, 4);
}
