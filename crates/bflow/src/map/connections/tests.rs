use proptest::prelude::*;

use super::*;
use crate::map::tests::e4_roots;
use crate::map::{EquilibriumMap, MapParams, map_equilibria};
use crate::objectives::problem_file::{load_problem, parse_problem};
use crate::problems::{Problem, builtin};

fn example_text(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/problems")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn example(name: &str) -> Problem<f64> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/problems")
        .join(name);
    load_problem(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn mapped(p: &Problem<f64>, starts: usize) -> EquilibriumMap {
    map_equilibria(
        p,
        &MapParams {
            starts: Some(starts),
            ..MapParams::default()
        },
    )
    .unwrap()
}

/// `Σ L_i` at `theta`, summed here (not by the map).
fn loss_sum(p: &Problem<f64>, theta: &[f64]) -> f64 {
    (0..p.num_objectives())
        .map(|i| p.objectives.loss(i, theta))
        .sum()
}

/// The index of the map's equilibrium within `tol` of `at` (exactly one).
fn at(map: &EquilibriumMap, at: &[f64], tol: f64) -> usize {
    let near: Vec<usize> = (0..map.equilibria.len())
        .filter(|&k| distance(&map.equilibria[k].point, at) < tol)
        .collect();
    assert_eq!(near.len(), 1, "{at:?}: {near:?} in {:#?}", map.equilibria);
    near[0]
}

fn connection_of(map: &EquilibriumMap, saddle: usize) -> &Connection {
    map.connections
        .iter()
        .find(|c| c.saddle == saddle)
        .unwrap_or_else(|| panic!("no connection for saddle {saddle}"))
}

/// Every connection's barriers are `Σ L(saddle) − Σ L(minimum)`, the ends are the minima, and
/// the minima lie below the saddle.
fn check_barriers(p: &Problem<f64>, map: &EquilibriumMap) {
    for c in &map.connections {
        let s = &map.equilibria[c.saddle];
        let ls = loss_sum(p, &s.point);
        for side in 0..2 {
            let (Some(m), Some(b)) = (c.minima[side], c.barriers[side]) else {
                assert!(
                    c.minima[side].is_none() && c.barriers[side].is_none(),
                    "{c:?}"
                );
                continue;
            };
            let e = &map.equilibria[m];
            assert_eq!(e.classification.kind, Kind::Minimum);
            let expect = ls - loss_sum(p, &e.point);
            assert!(
                (b - expect).abs() <= 1e-12 * ls.abs().max(1.0),
                "barrier {b} vs {expect}"
            );
            assert!(b > 0.0, "{c:?}");
            let end = c.ends[side].as_ref().unwrap();
            assert!(distance(end, &e.point) <= 1e-7 * map.scale, "{c:?}");
            assert_eq!(c.outcomes[side], PathEnd::Minimum);
            assert!(c.notes[side].is_none());
        }
        assert!(c.eigenvalue < 0.0 && c.delta > 0.0, "{c:?}");
    }
}

/// Müller–Brown: S1 (−0.822, 0.624) joins A (−0.558, 1.442) and C (−0.050, 0.467); S2
/// (0.212, 0.293) joins C and B (0.623, 0.028): the minimum-energy path A – S1 – C – S2 – B
/// (Müller & Brown 1979). Barriers from the values there: S1 − A ≈ 106.03, S1 − C ≈ 40.10,
/// S2 − C ≈ 8.52, S2 − B ≈ 35.92.
#[test]
fn muller_brown_saddles_join_the_minima_of_its_reaction_path() {
    let p = example("muller-brown.toml");
    let map = mapped(&p, 256);
    assert_eq!(map.morse_counts(), vec![3, 2, 0], "{:#?}", map.equilibria);
    let tol = 2e-3;
    let a = at(&map, &[-0.558, 1.442], tol);
    let b = at(&map, &[0.623, 0.028], tol);
    let c = at(&map, &[-0.050, 0.467], tol);
    let s1 = at(&map, &[-0.822, 0.624], tol);
    let s2 = at(&map, &[0.212, 0.293], tol);
    for (k, v) in [
        (a, -146.70),
        (b, -108.17),
        (c, -80.77),
        (s1, -40.66),
        (s2, -72.25),
    ] {
        assert!((map.equilibria[k].loss_sum - v).abs() < 0.01, "{k}: {v}");
    }
    assert_eq!(map.connections.len(), 2);
    let c1 = connection_of(&map, s1);
    let c2 = connection_of(&map, s2);
    assert!(c1.joins(a, c), "S1: {c1:?}");
    assert!(c2.joins(c, b), "S2: {c2:?}");
    let barrier = |conn: &Connection, m: usize| {
        let side = conn.minima.iter().position(|&x| x == Some(m)).unwrap();
        conn.barriers[side].unwrap()
    };
    for (got, lit) in [
        (barrier(c1, a), 106.03),
        (barrier(c1, c), 40.10),
        (barrier(c2, c), 8.52),
        (barrier(c2, b), 35.92),
    ] {
        assert!((got - lit).abs() < 0.01, "{got} vs {lit}");
    }
    check_barriers(&p, &map);
}

/// E4 is separable with a diagonal Hessian: an index-1 saddle is a 1-D maximum root `x_j` of
/// one coordinate times a 1-D minimum root of the other, its unstable direction is that axis,
/// and the descent stays on the line, so it joins the minima at the neighbouring roots
/// `x_{j−1}`, `x_{j+1}` (increasing crossings of `s_d`) with the other coordinate kept.
#[test]
fn e4_saddles_join_their_neighbours_along_the_unstable_axis() {
    let roots = [e4_roots(0), e4_roots(1)];
    let p = builtin::<f64>("e4").unwrap();
    let map = mapped(&p, 2560);
    let saddles: Vec<usize> = (0..map.equilibria.len())
        .filter(|&k| map.equilibria[k].classification.morse_index == 1)
        .collect();
    assert!(saddles.len() >= 200, "{}", saddles.len());
    assert_eq!(map.connections.len(), saddles.len());
    let mut checked = 0;
    for &k in &saddles {
        let s = &map.equilibria[k].point;
        // The axis whose root is a decreasing crossing (a 1-D maximum).
        let position = |d: usize| {
            roots[d]
                .iter()
                .position(|r| (r.0 - s[d]).abs() < 1e-9)
                .unwrap_or_else(|| panic!("{s:?} is not a product of roots"))
        };
        let (j0, j1) = (position(0), position(1));
        let axis = if roots[0][j0].1 { 0 } else { 1 };
        let j = [j0, j1][axis];
        assert!(roots[axis][j].1 && !roots[1 - axis][[j0, j1][1 - axis]].1);
        let neighbour = |jj: usize| {
            let mut q = s.clone();
            q[axis] = roots[axis][jj].0;
            assert!(
                !roots[axis][jj].1,
                "neighbours of a maximum root are minimum roots"
            );
            q
        };
        let (lo, hi) = (neighbour(j - 1), neighbour(j + 1));
        let find = |q: &[f64]| {
            (0..map.equilibria.len()).find(|&m| distance(&map.equilibria[m].point, q) < 1e-9)
        };
        let conn = connection_of(&map, k);
        match (find(&lo), find(&hi)) {
            (Some(a), Some(b)) => {
                assert!(conn.joins(a, b), "{s:?}: {conn:?}");
                checked += 1;
            }
            // A neighbour the map missed: that side must not claim another minimum.
            (a, b) => {
                for m in conn.minima.iter().flatten() {
                    assert!(Some(*m) == a || Some(*m) == b, "{s:?}: {conn:?}");
                }
            }
        }
    }
    assert!(checked >= 200, "{checked}");
    check_barriers(&p, &map);
}

/// Himmelblau: four saddles, each joining two of the four minima; every minimum is joined by
/// two saddles (the minima form a cycle), and each saddle joins the two minima nearest it.
#[test]
fn himmelblau_saddles_join_the_four_minima_in_a_cycle() {
    let p = example("himmelblau-split.toml");
    let map = mapped(&p, 96);
    assert_eq!(map.morse_counts(), vec![4, 4, 1]);
    assert_eq!(map.connections.len(), 4);
    let minima: Vec<usize> = (0..map.equilibria.len())
        .filter(|&k| map.equilibria[k].classification.kind == Kind::Minimum)
        .collect();
    let mut degree = vec![0; map.equilibria.len()];
    for c in &map.connections {
        let [Some(a), Some(b)] = c.minima else {
            panic!("{c:?}")
        };
        assert_ne!(a, b);
        degree[a] += 1;
        degree[b] += 1;
        let s = &map.equilibria[c.saddle].point;
        let mut by_distance = minima.clone();
        by_distance.sort_by(|&x, &y| {
            distance(&map.equilibria[x].point, s).total_cmp(&distance(&map.equilibria[y].point, s))
        });
        assert!(c.joins(by_distance[0], by_distance[1]), "{c:?}");
    }
    for &m in &minima {
        assert_eq!(degree[m], 2);
    }
    check_barriers(&p, &map);
}

/// Müller–Brown cut off at x ≤ 0.3, y ≥ 0.1: minimum B (0.623, 0.028) lies outside, so S2's
/// side towards B has no minimum (its polished end is outside the region), S2's other side
/// still reaches C, and S1 still joins A and C.
#[test]
fn a_side_whose_minimum_lies_outside_the_region_is_null() {
    let text = example_text("muller-brown.toml").replace(
        "x = [-1.5, 1.2]\ny = [-0.5, 2.0]",
        "x = [-1.5, 0.3]\ny = [0.1, 2.0]",
    );
    let p = parse_problem(&text, "muller-brown-cut").unwrap();
    assert_eq!(p.region, Some(vec![(-1.5, 0.3), (0.1, 2.0)]));
    let map = mapped(&p, 256);
    assert_eq!(map.morse_counts(), vec![2, 2, 0], "{:#?}", map.equilibria);
    let (a, c) = (
        at(&map, &[-0.558, 1.442], 2e-3),
        at(&map, &[-0.050, 0.467], 2e-3),
    );
    let (s1, s2) = (
        at(&map, &[-0.822, 0.624], 2e-3),
        at(&map, &[0.212, 0.293], 2e-3),
    );
    assert!(connection_of(&map, s1).joins(a, c));
    let c2 = connection_of(&map, s2);
    let side = c2
        .minima
        .iter()
        .position(Option::is_none)
        .expect("a null side");
    assert_eq!(c2.minima[1 - side], Some(c), "{c2:?}");
    assert_eq!(c2.outcomes[side], PathEnd::LeftRegion);
    assert!(c2.barriers[side].is_none());
    assert!(
        c2.notes[side]
            .as_deref()
            .unwrap()
            .contains("outside the region"),
        "{c2:?}"
    );
    // The path ended at B, outside the region.
    let end = c2.ends[side].as_ref().unwrap();
    assert!(distance(end, &[0.623_499_404_930_876_5, 0.028_037_758_528_685_67]) < 1e-6);
    check_barriers(&p, &map);
}

/// A 1-D double well `Σ L = (x² − 1)²` on [−0.4, 1.5]: the maximum at 0 has Morse index 1
/// (n = 1) and joins the minimum at 1 on one side; on the other the descent leaves the
/// region (grown by a quarter) on its way to −1.
#[test]
fn a_descent_that_leaves_the_region_is_null() {
    let text = r#"
name = "well"
vars = ["x"]
[[objective]]
expr = "x^4"
[[objective]]
expr = "1 - 2*x^2"
[start]
x = 0.5
[region]
x = [-0.4, 1.5]
"#;
    let p = parse_problem(text, "well").unwrap();
    let map = mapped(&p, 16);
    assert_eq!(map.equilibria.len(), 2, "{:#?}", map.equilibria);
    let top = at(&map, &[0.0], 1e-9);
    let bottom = at(&map, &[1.0], 1e-9);
    assert_eq!(map.equilibria[top].classification.kind, Kind::Maximum);
    let c = connection_of(&map, top);
    // v = (1): side 0 goes right, to the minimum at 1 with barrier 1.
    assert_eq!(c.minima, [Some(bottom), None]);
    assert!((c.barriers[0].unwrap() - 1.0).abs() < 1e-12);
    assert_eq!(c.outcomes[1], PathEnd::LeftRegion);
    assert!(c.notes[1].as_deref().unwrap().contains("left the region"));
    assert!(c.ends[1].as_ref().unwrap()[0] < -0.4 - 0.25 * 1.9);
    // δ: ½|λ|δ² = √ε Σ|L_i| with λ = −4 and Σ|L_i| = 1 at 0.
    assert!((c.delta - (f64::EPSILON.sqrt() / 2.0).sqrt()).abs() < 1e-15);
    assert!((c.eigenvalue + 4.0).abs() < 1e-12);
}

/// A minimum left out of the equilibria a saddle is connected against: the side that reaches
/// it says the map does not list it; a saddle left in the list is never an end.
#[test]
fn a_minimum_missing_from_the_map_is_reported_as_unmapped() {
    let p = example("muller-brown.toml");
    let map = mapped(&p, 256);
    let b = at(&map, &[0.623, 0.028], 2e-3);
    let s2 = at(&map, &[0.212, 0.293], 2e-3);
    let c = at(&map, &[-0.050, 0.467], 2e-3);
    let kept: Vec<Equilibrium> = map
        .equilibria
        .iter()
        .enumerate()
        .filter(|&(k, _)| k != b)
        .map(|(_, e)| e.clone())
        .collect();
    let region = p.region.clone().unwrap();
    let conns = connect(&*p.objectives, &region, &kept, &ConnectionParams::default());
    let shift = |k: usize| if k > b { k - 1 } else { k };
    let c2 = conns.iter().find(|x| x.saddle == shift(s2)).unwrap();
    let side = c2.minima.iter().position(Option::is_none).unwrap();
    assert_eq!(c2.minima[1 - side], Some(shift(c)));
    assert_eq!(c2.outcomes[side], PathEnd::Unmapped);
    let note = c2.notes[side].as_deref().unwrap();
    assert!(note.contains("minimum the map does not list"), "{note}");
}

/// The connections depend on the equilibria only: a map assembled from shards has exactly
/// the unsharded map's connections, and the same with one thread as with two.
#[test]
fn connections_are_deterministic_and_survive_a_merge() {
    let p = example("muller-brown.toml");
    let map = mapped(&p, 64);
    let parts: Vec<_> = (0..3)
        .map(|i| {
            map_equilibria(
                &p,
                &MapParams {
                    starts: Some(64),
                    shard: Some(crate::map::Shard { index: i, count: 3 }),
                    ..MapParams::default()
                },
            )
            .unwrap()
            .shard_data()
        })
        .collect();
    let merged = crate::map::merge(&p, &parts).unwrap();
    assert_eq!(merged.connections, map.connections);
    let region = p.region.clone().unwrap();
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| {
            connect(
                &*p.objectives,
                &region,
                &map.equilibria,
                &ConnectionParams::default(),
            )
        });
    assert_eq!(one, map.connections);
}

proptest! {
    /// δ is in `[10⁻⁶, 10⁻³] · scale`, and where the clamp is not active the drop
    /// `½|λ|δ²` equals `√ε R`.
    #[test]
    fn displacement_drops_sigma_l_by_root_eps_of_its_magnitude(
        log_lambda in -6.0f64..6.0,
        log_r in -6.0f64..6.0,
        log_scale in -3.0f64..3.0,
    ) {
        let (lambda, r, scale) =
            (-(10f64.powf(log_lambda)), 10f64.powf(log_r), 10f64.powf(log_scale));
        let d = displacement(lambda, r, scale);
        prop_assert!(d >= 1e-6 * scale && d <= 1e-3 * scale);
        if d > 1e-6 * scale && d < 1e-3 * scale {
            let drop = 0.5 * lambda.abs() * d * d;
            let want = f64::EPSILON.sqrt() * r;
            prop_assert!((drop - want).abs() <= 1e-12 * want, "{} vs {}", drop, want);
        }
    }
}

#[test]
fn displacement_without_a_negative_eigenvalue_is_the_smallest() {
    assert_eq!(displacement(0.0, 1.0, 2.0), 2e-6);
    assert_eq!(displacement(3.0, 1.0, 2.0), 2e-6);
    assert_eq!(displacement(-3.0, 0.0, 2.0), 2e-6);
    assert_eq!(displacement(f64::NAN, 1.0, 2.0), 2e-6);
}

/// A path ends as it enters the ball inscribed in a minimum's certified box: the same minima
/// and barriers as the paths without the boxes (which descend to the gradient tolerance and
/// polish), in fewer steps on every side, and the end is the map's point itself.
#[test]
fn a_path_that_enters_a_minimums_certified_ball_ends_there() {
    for name in ["muller-brown.toml", "gaussian-wells-3d.toml"] {
        let p = example(name);
        let map = mapped(&p, 256);
        let region = p.region.clone().unwrap();
        let with = connect(
            &*p.objectives,
            &region,
            &map.equilibria,
            &ConnectionParams::default(),
        );
        let mut bare = map.equilibria.clone();
        bare.iter_mut()
            .for_each(|e| e.certificate.unique_radius = None);
        let without = connect(&*p.objectives, &region, &bare, &ConnectionParams::default());
        assert!(!with.is_empty(), "{name}");
        for (a, b) in with.iter().zip(&without) {
            assert_eq!(a.minima, b.minima, "{name}");
            assert_eq!(a.outcomes, [PathEnd::Minimum; 2], "{name}");
            assert_eq!(a.barriers, b.barriers, "{name}");
            for side in 0..2 {
                assert!(
                    a.steps[side] < b.steps[side],
                    "{name}: {:?} {:?}",
                    a.steps,
                    b.steps
                );
                let m = a.minima[side].unwrap();
                assert_eq!(
                    a.ends[side].as_deref(),
                    Some(map.equilibria[m].point.as_slice())
                );
            }
        }
    }
}
