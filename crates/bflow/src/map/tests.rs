use super::*;
use crate::interval::Interval;
use crate::problems::{Targets, builtin, himmelblau_split};
use crate::real::distance;

/// A 1-D, K = 2 problem given by its two gradients and Hessians in closed form.
struct OneD {
    g: fn(usize, f64) -> f64,
    h: fn(usize, f64) -> f64,
    l: fn(usize, f64) -> f64,
}

impl Objectives<f64> for OneD {
    fn num_objectives(&self) -> usize {
        2
    }
    fn dim(&self) -> usize {
        1
    }
    fn loss(&self, i: usize, t: &[f64]) -> f64 {
        (self.l)(i, t[0])
    }
    fn gradient(&self, i: usize, t: &[f64], g: &mut [f64]) {
        g[0] = (self.g)(i, t[0]);
    }
    fn hvp(&self, i: usize, t: &[f64], v: &[f64], hv: &mut [f64]) {
        hv[0] = (self.h)(i, t[0]) * v[0];
    }
}

fn one_d(name: &str, o: OneD, lo: f64, hi: f64) -> Problem<f64> {
    Problem {
        name: name.into(),
        description: String::new(),
        objectives: Box::new(o),
        start: vec![0.0],
        region: Some(vec![(lo, hi)]),
        equilibria: Vec::new(),
    }
}

fn count(map: &EquilibriumMap, kind: Kind) -> usize {
    map.equilibria
        .iter()
        .filter(|e| e.classification.kind == kind)
        .count()
}

#[test]
fn himmelblau_has_four_minima_four_saddles_one_maximum() {
    let p = himmelblau_split::<f64>();
    let map = map_equilibria(
        &p,
        &MapParams {
            starts: Some(96),
            ..MapParams::default()
        },
    )
    .unwrap();
    assert_eq!(map.equilibria.len(), 9, "{:#?}", map.equilibria);
    assert_eq!(count(&map, Kind::Minimum), 4);
    assert_eq!(count(&map, Kind::Saddle), 4);
    assert_eq!(count(&map, Kind::Maximum), 1);
    for e in &map.equilibria {
        let expect = match e.classification.kind {
            Kind::Minimum => 0,
            Kind::Saddle => 1,
            _ => 2,
        };
        assert_eq!(e.classification.morse_index, expect);
        // Both squares vanish at the minima only: B is 0/0 there.
        assert_eq!(
            e.common_stationary,
            e.classification.kind == Kind::Minimum,
            "{e:?}"
        );
        let r = e
            .certificate
            .radius
            .expect("every Himmelblau equilibrium is regular");
        assert!(r <= 1e-9 * map.scale, "{r}");
    }
    let max = map
        .equilibria
        .iter()
        .find(|e| e.classification.kind == Kind::Maximum)
        .unwrap();
    assert!((max.point[0] + 0.270845).abs() < 1e-5 && (max.point[1] + 0.923039).abs() < 1e-5);
    assert!(
        map.equilibria
            .iter()
            .any(|e| distance(&e.point, &[3.0, 2.0]) < 1e-13)
    );
    // Newton finds every one of them; (3, 2) is common stationary: B tends to a
    // direction-dependent limit there, so B-flow does not end at it.
    for e in &map.equilibria {
        assert!(e.hits_by(Searcher::Newton) > 0, "{e:?}");
    }
    let m32 = map
        .equilibria
        .iter()
        .find(|e| distance(&e.point, &[3.0, 2.0]) < 1e-13)
        .unwrap();
    assert!(m32.common_stationary && m32.loss_sum.abs() < 1e-20);
    // Every primary (Newton) search is accounted for.
    let total: usize = map.equilibria.iter().map(|e| e.basin_starts).sum();
    let o = map.outcomes[&Searcher::Newton];
    assert_eq!(
        total as u64 + o.escaped + o.diverged + o.unresolved + o.spurious,
        96
    );
    assert_eq!(o.equilibrium, total as u64);
}

#[test]
fn deduplication_merges_points_closer_than_the_tolerance() {
    let rec = |index: usize, dx: f64| StartRecord {
        index,
        start: vec![0.0, 0.0],
        searches: vec![SearchRecord {
            searcher: Searcher::Newton,
            outcome: Outcome::Equilibrium,
            point: Some(vec![1.0 + dx, 2.0]),
            b: Some(0.0),
            steps: 1,
            polish_steps: 0,
        }],
    };
    // Scale 6: tolerance √ε·6 ≈ 8.9e-8.
    let mut acc = Accumulator::new(f64::EPSILON.sqrt() * 6.0, 6e-4, Searcher::Newton);
    for r in [rec(0, 0.0), rec(1, 5e-8), rec(2, 2e-7)] {
        acc.add(&r);
    }
    assert_eq!(acc.clusters.len(), 2);
    assert_eq!(acc.clusters[0].point, vec![1.0, 2.0]); // from start 0, the lowest index
    assert_eq!(acc.clusters[0].basin_starts, 2);
    assert_eq!(acc.clusters[1].basin_starts, 1);
    // Merging two halves gives the same accumulator as adding in order.
    let (mut a, mut b) = (acc.clone(), acc.clone());
    a = Accumulator::new(a.dedup_tolerance, a.spurious_tolerance, a.primary);
    b = Accumulator::new(b.dedup_tolerance, b.spurious_tolerance, b.primary);
    a.add(&rec(1, 5e-8));
    b.add(&rec(0, 0.0));
    b.add(&rec(2, 2e-7));
    a.merge(&b);
    assert_eq!(a, acc);
}

#[test]
fn result_does_not_depend_on_the_thread_count() {
    let p = builtin::<f64>("e4").unwrap();
    let params = MapParams {
        starts: Some(48),
        seed: 7,
        ..MapParams::default()
    };
    let run = |k: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(k)
            .build()
            .unwrap();
        let mut m = pool.install(|| map_equilibria(&p, &params)).unwrap();
        m.seconds = 0.0;
        m
    };
    let one = run(1);
    let two = run(2);
    assert!(!one.equilibria.is_empty());
    assert_eq!(one, two);
}

#[test]
fn shards_merge_into_the_unsharded_map() {
    let p = builtin::<f64>("branin-split").unwrap();
    let params = MapParams {
        starts: Some(30),
        seed: 3,
        ..MapParams::default()
    };
    let mut whole = map_equilibria(&p, &params).unwrap();
    let parts: Vec<ShardData> = (0..3)
        .map(|i| {
            let m = map_equilibria(
                &p,
                &MapParams {
                    shard: Some(Shard { index: i, count: 3 }),
                    ..params.clone()
                },
            )
            .unwrap();
            assert_eq!(m.starts_mapped, 10);
            m.shard_data()
        })
        .collect();
    let mut merged = merge(&p, &parts).unwrap();
    whole.seconds = 0.0;
    merged.seconds = 0.0;
    assert_eq!(merged, whole);
    assert_eq!(whole.equilibria.len(), 5);
    assert_eq!(count(&whole, Kind::Minimum), 3);
    assert_eq!(count(&whole, Kind::Saddle), 2);
    let err = merge(&p, &parts[..2]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot merge shards: slice 2/3 is in no shard"
    );
}

#[test]
fn a_positive_minimum_of_b_is_spurious_not_an_equilibrium() {
    // g1 = 1 + x², g2 = −x: s = x² − x + 1 > 0 everywhere, so there is no equilibrium, and
    // B = s²/(g1² + g2²) has a positive minimum.
    let p = one_d(
        "no-root",
        OneD {
            l: |i, x| {
                if i == 0 {
                    x + x * x * x / 3.0
                } else {
                    -x * x / 2.0
                }
            },
            g: |i, x| if i == 0 { 1.0 + x * x } else { -x },
            h: |i, x| if i == 0 { 2.0 * x } else { -1.0 },
        },
        -3.0,
        3.0,
    );
    let map = map_equilibria(
        &p,
        &MapParams {
            starts: Some(16),
            ..MapParams::default()
        },
    )
    .unwrap();
    assert!(map.equilibria.is_empty());
    assert!(!map.spurious.is_empty());
    let total: usize = map.spurious.iter().map(|s| s.starts).sum();
    assert!(total >= 8, "{map:#?}");
    // B = (x²−x+1)²/((1+x²)² + x²) has its minimum 1/5 at x = 1 (B' = (2·5 − 1·10)/25 = 0).
    for s in &map.spurious {
        assert!(
            (s.point[0] - 1.0).abs() < 1e-5 && (s.b - 0.2).abs() < 1e-9,
            "{s:?}"
        );
    }
}

#[test]
fn common_stationary_is_decided_from_the_gradients() {
    // L1 = (x−1)², L2 = (x−1)⁴: both gradients vanish at 1; B is 0/0 there.
    let p = one_d(
        "common",
        OneD {
            l: |i, x| {
                if i == 0 {
                    (x - 1.0).powi(2)
                } else {
                    (x - 1.0).powi(4)
                }
            },
            g: |i, x| {
                if i == 0 {
                    2.0 * (x - 1.0)
                } else {
                    4.0 * (x - 1.0).powi(3)
                }
            },
            h: |i, x| {
                if i == 0 {
                    2.0
                } else {
                    12.0 * (x - 1.0).powi(2)
                }
            },
        },
        -2.0,
        3.0,
    );
    let map = map_equilibria(
        &p,
        &MapParams {
            starts: Some(8),
            ..MapParams::default()
        },
    )
    .unwrap();
    assert_eq!(map.equilibria.len(), 1);
    let e = &map.equilibria[0];
    assert!((e.point[0] - 1.0).abs() < 1e-12);
    assert!(e.common_stationary);
    assert_eq!(e.classification.kind, Kind::Minimum);
    // No enclosures on this hand-written problem: honest "could not certify".
    assert_eq!(e.certificate.radius, None);
    assert!(
        e.certificate
            .reason
            .as_deref()
            .unwrap()
            .contains("no interval enclosures")
    );
}

#[test]
fn certificate_fails_at_a_double_root_and_at_a_too_large_radius() {
    // s = x²: a double root at 0, singular Jacobian.
    let p = one_d(
        "double",
        OneD {
            l: |i, x| if i == 0 { x * x * x / 3.0 + x } else { -x },
            g: |i, x| if i == 0 { x * x + 1.0 } else { -1.0 },
            h: |i, x| if i == 0 { 2.0 * x } else { 0.0 },
        },
        -1.0,
        1.0,
    );
    let c = certify(p.objectives.as_ref(), &[0.0], 2.0);
    assert_eq!(c.radius, None);
    assert!(c.reason.unwrap().contains("singular"));
    let class = classify(p.objectives.as_ref(), &[0.0]).unwrap();
    assert_eq!(class.kind, Kind::Degenerate);

    // E4 along one axis has a root every half unit or so: a box of radius 1 holds several.
    let e4 = builtin::<f64>("e4").unwrap();
    let map = map_equilibria(
        &e4,
        &MapParams {
            starts: Some(8),
            ..MapParams::default()
        },
    )
    .unwrap();
    let e = &map.equilibria[0];
    assert_eq!(krawczyk(e4.objectives.as_ref(), &e.point, 1e-10), Ok(true));
    assert_eq!(krawczyk(e4.objectives.as_ref(), &e.point, 1.0), Ok(false));
}

#[test]
fn missing_region_is_an_error_naming_region() {
    let p = builtin::<f64>("e3").unwrap();
    let err = map_equilibria(&p, &MapParams::default()).unwrap_err();
    assert!(err.to_string().contains("`region`"), "{err}");
    let e2 = builtin::<f64>("e2").unwrap();
    let bad = MapParams {
        shard: Some(Shard { index: 3, count: 3 }),
        ..MapParams::default()
    };
    assert!(
        matches!(map_equilibria(&e2, &bad), Err(Error::InvalidParameter { name, .. }) if name == "shard")
    );
}

/// The true equilibria of E4, independently: `s_d(x) = Σ_i 2(x − t_id) + 10π sin(2π(x − t_id))`
/// depends on `x_d` only, so the equilibria are the products of the 1-D roots. Roots are
/// found rigorously: the region is cut into cells; a cell where the enclosure of `s_d`
/// excludes 0 has no root; one where the enclosure of `s_d'` excludes 0 is monotone and
/// has a root iff the (rigorous) signs at its ends differ; otherwise it is split.
pub(crate) fn e4_roots(d: usize) -> Vec<(f64, bool)> {
    let t = Targets {
        targets: vec![vec![2.0, 1.0], vec![-1.0, 3.0], vec![0.0, -2.0]],
        weight: 1.0,
        amplitude: 5.0,
        pi: crate::problems::SEED_PI,
    };
    let enc = |x: Interval, deriv: bool| {
        let mut b = vec![Interval::point(0.0); 2];
        b[d] = x;
        if deriv {
            t.enclose_sum_hessian(&b).unwrap()[d * 2 + d]
        } else {
            t.enclose_sum_gradient(&b).unwrap()[d]
        }
    };
    let mut roots = Vec::new();
    let mut stack = vec![(-5.12, 5.12)];
    while let Some((a, b)) = stack.pop() {
        let x = Interval::new(a, b).unwrap();
        if !enc(x, false).contains(0.0) {
            continue;
        }
        let ds = enc(x, true);
        if !ds.contains(0.0) {
            let (sa, sb) = (
                enc(Interval::point(a), false),
                enc(Interval::point(b), false),
            );
            let sign = |v: Interval| {
                if v.lo() > 0.0 {
                    1
                } else if v.hi() < 0.0 {
                    -1
                } else {
                    0
                }
            };
            assert!(sign(sa) != 0 && sign(sb) != 0, "root at a cell end {a} {b}");
            if sign(sa) != sign(sb) {
                let (mut lo, mut hi) = (a, b);
                for _ in 0..80 {
                    let m = 0.5 * (lo + hi);
                    if sign(enc(Interval::point(m), false)) == sign(sa) {
                        lo = m
                    } else {
                        hi = m
                    }
                }
                roots.push((0.5 * (lo + hi), ds.hi() < 0.0));
            }
            continue;
        }
        assert!(b - a > 1e-9, "cannot separate roots near {a}");
        let m = 0.5 * (a + b);
        stack.push((a, m));
        stack.push((m, b));
    }
    roots.sort_by(|x, y| x.0.total_cmp(&y.0));
    roots
}

#[test]
fn e4_true_equilibria_are_products_of_one_dimensional_roots() {
    let (r1, r2) = (e4_roots(0), e4_roots(1));
    // Roots alternate between increasing and decreasing crossings of s_d.
    for w in r1.windows(2).chain(r2.windows(2)) {
        assert_ne!(w[0].1, w[1].1);
    }
    let total = r1.len() * r2.len();
    let by_index = |k: usize| {
        r1.iter()
            .flat_map(|a| r2.iter().map(move |b| usize::from(a.1) + usize::from(b.1)))
            .filter(|&m| m == k)
            .count()
    };
    assert_eq!(by_index(0) + by_index(1) + by_index(2), total);
    assert!(total > 100, "{} × {}", r1.len(), r2.len());
}

/// The map of E4 finds exactly the true set (products of the rigorous 1-D roots), each with
/// its Morse index (the number of coordinates where `s_d' < 0`), and certifies every one.
#[test]
fn e4_map_finds_and_certifies_every_true_equilibrium() {
    let (r1, r2) = (e4_roots(0), e4_roots(1));
    let truth: Vec<([f64; 2], usize)> = r1
        .iter()
        .flat_map(|a| {
            r2.iter()
                .map(move |b| ([a.0, b.0], usize::from(a.1) + usize::from(b.1)))
        })
        .collect();
    let p = builtin::<f64>("e4").unwrap();
    let map = map_equilibria(
        &p,
        &MapParams {
            starts: Some(4096),
            ..MapParams::default()
        },
    )
    .unwrap();
    assert_eq!(map.equilibria.len(), truth.len());
    for (t, morse) in &truth {
        let e = map
            .equilibria
            .iter()
            .find(|e| distance(&e.point, t) < 1e-9)
            .unwrap_or_else(|| panic!("true equilibrium {t:?} not found"));
        assert_eq!(e.classification.morse_index, *morse, "{t:?}");
        assert!(e.certificate.radius.is_some(), "{t:?}");
        assert!(!e.common_stationary);
    }
    assert!(map.spurious.is_empty() && map.diverged() == 0);
}

/// The adaptive stop: E4's default map finds its last equilibrium at start 1201, so the round
/// ending at 2048 found something new in its last half; the round ending at 2560 (2048 + ¼ ·
/// 2048) is the first whose last half (starts 1280..2560) found nothing, and the map stops
/// there, complete, where rounds of doubling size ran to 4096 and rounds at 1.5× to 3072.
#[test]
fn an_adaptive_map_stops_once_the_last_half_of_its_starts_found_nothing_new() {
    let p = builtin::<f64>("e4").unwrap();
    let params = MapParams::default();
    let map = map_equilibria(&p, &params).unwrap();
    let c = &map.completeness;
    assert_eq!(
        (c.stopped.as_str(), map.equilibria.len()),
        ("complete", 441)
    );
    let first = default_first_round(2);
    let n = c.starts_used;
    // n is a round end (F, then 2F·2^j·(1 + i/4), i = 0..3) of at least 2F starts.
    let ends: Vec<usize> = (0..20).map(|k| params.round_end(k, 2)).collect();
    assert!(ends.contains(&n) && n >= 2 * first, "{n} not in {ends:?}");
    let last_found = map.equilibria.iter().map(|e| e.first_start).max().unwrap();
    assert!(last_found < n / 2, "found at {last_found}, stopped at {n}");
    // The round end before n had found something new in its last half.
    let before = ends.iter().copied().filter(|&e| e < n).max().unwrap();
    assert!(last_found >= before / 2, "{last_found} < {before}/2");
    // Here: stopped a quarter past a power of two, which neither doubling rounds nor rounds
    // at 1.5× could do.
    assert_eq!(n, 20 * first, "stopped at {n}");
    // The adaptive map that stopped after n starts is the fixed map of n starts.
    let fixed = map_equilibria(
        &p,
        &MapParams {
            starts: Some(n),
            ..MapParams::default()
        },
    )
    .unwrap();
    let points = |m: &EquilibriumMap| -> Vec<Vec<f64>> {
        m.equilibria.iter().map(|e| e.point.clone()).collect()
    };
    assert_eq!(points(&fixed), points(&map));
}

#[test]
fn the_first_round_grows_with_the_dimension() {
    let firsts: Vec<usize> = (0..=9).map(default_first_round).collect();
    assert_eq!(
        firsts,
        [128, 128, 128, 128, 512, 2048, 8192, 8192, 8192, 8192]
    );
    assert_eq!(default_first_round(usize::MAX), 8192);
    // Without mode starts a 3-D map keeps its first round of 256, nothing else changes.
    let without: Vec<usize> = (0..=9)
        .map(default_first_round_without_mode_starts)
        .collect();
    assert_eq!(
        without,
        [128, 128, 128, 256, 512, 2048, 8192, 8192, 8192, 8192]
    );
    assert_eq!(default_first_round_without_mode_starts(usize::MAX), 8192);
}

#[test]
fn a_3d_map_without_mode_starts_runs_a_first_round_of_256() {
    let p = crate::objectives::problem_file::parse_problem(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/problems/gaussian-wells-3d.toml"
        ))
        .unwrap(),
        "gaussian-wells-3d.toml",
    )
    .unwrap();
    let with = map_equilibria(&p, &MapParams::default()).unwrap();
    let without = map_equilibria(
        &p,
        &MapParams {
            mode_starts: false,
            ..MapParams::default()
        },
    )
    .unwrap();
    for (m, first) in [(&with, 128), (&without, 256)] {
        let c = &m.completeness;
        assert_eq!(c.stopped, "complete");
        assert!(c.starts_used >= 2 * first, "{} < 2·{first}", c.starts_used);
        assert_eq!(m.equilibria.len(), 11);
    }
    assert!(with.completeness.starts_used < 2 * 256);
}

/// Two shards of a Branin map, and the whole map.
fn branin_shards() -> (Problem<f64>, Vec<ShardData>) {
    let p = builtin::<f64>("branin-split").unwrap();
    let parts = (0..2)
        .map(|i| {
            map_equilibria(
                &p,
                &MapParams {
                    starts: Some(24),
                    seed: 1,
                    shard: Some(Shard { index: i, count: 2 }),
                    ..MapParams::default()
                },
            )
            .unwrap()
            .shard_data()
        })
        .collect();
    (p, parts)
}

fn merge_error(p: &Problem<f64>, parts: &[ShardData]) -> String {
    merge(p, parts).unwrap_err().to_string()
}

#[test]
fn merge_refuses_edited_claims() {
    let (p, parts) = branin_shards();
    assert!(merge(&p, &parts).is_ok());
    let edited = |f: &dyn Fn(&mut ShardData)| {
        let mut parts = parts.clone();
        f(&mut parts[0]);
        parts
    };
    // Every equilibrium moved to one point of the region: each is searched for again.
    let moved = edited(&|s| {
        for c in &mut s.accumulator.clusters {
            c.point = vec![5.0, 5.0];
        }
    });
    let m = merge_error(&p, &moved);
    assert!(
        m.contains("shard 1 claims an equilibrium at [5.0, 5.0]"),
        "{m}"
    );
    // A claim moved by less than the region's scale but more than the tolerance.
    let nudged = edited(&|s| s.accumulator.clusters[0].point[0] += 1e-5);
    assert!(merge_error(&p, &nudged).contains("does not reach"));
    // Another start of the slice named as the finder.
    let other_start = edited(&|s| s.accumulator.clusters[0].first_start += 2);
    let m = merge_error(&p, &other_start);
    assert!(
        m.contains("does not reach") || m.contains("found two"),
        "{m}"
    );
    // A start of another slice, a start past the end, a search the map did not run.
    let wrong_slice = edited(&|s| s.accumulator.clusters[0].first_start += 1);
    assert!(merge_error(&p, &wrong_slice).contains("not a start of its slice 0/2"));
    let past_end = edited(&|s| s.accumulator.clusters[0].first_start = 1 << 40);
    assert!(merge_error(&p, &past_end).contains("not a start of its slice"));
    let search = edited(&|s| s.accumulator.clusters[0].first_search = 7);
    assert!(merge_error(&p, &search).contains("the map runs 4 searches"));
    // Hits and basins that do not add up.
    let hits = edited(&|s| {
        s.accumulator.clusters[0]
            .hits
            .insert(Searcher::Newton, 1_000_000);
    });
    assert!(merge_error(&p, &hits).contains("hits of `newton`"));
    let basin = edited(&|s| s.accumulator.clusters[0].basin_starts += 1);
    assert!(merge_error(&p, &basin).contains("basin starts"));
    let outcomes = edited(&|s| {
        s.accumulator
            .outcomes
            .get_mut(&Searcher::Newton)
            .unwrap()
            .escaped += 1;
    });
    assert!(merge_error(&p, &outcomes).contains("outcomes of `newton` for 12 starts"));
    // A claim repeated (as a huge array of copies would be).
    let twice = edited(&|s| {
        let c = s.accumulator.clusters[0].clone();
        s.accumulator.clusters.push(c);
    });
    let m = merge_error(&p, &twice);
    assert!(m.contains("hits of") || m.contains("found two"), "{m}");
    // An invented spurious point.
    let spurious = edited(&|s| {
        s.accumulator.spurious.push(SpuriousPoint {
            point: vec![5.0, 5.0],
            b: 0.5,
            starts: 1,
            first_start: 0,
            first_search: 1,
        });
    });
    assert!(merge_error(&p, &spurious).contains("spurious"));
    // A slice count that would need a huge table, and one larger than the starts.
    let mut huge = parts.clone();
    for s in &mut huge {
        s.params.shard = Some(Shard {
            index: 0,
            count: 1 << 62,
        });
    }
    assert!(merge_error(&p, &huge[..1]).contains("invalid slice"));
    // Budgets beyond the cap (a merge searches again with them).
    let mut long = parts.clone();
    for s in &mut long {
        s.params.bflow_steps = MAX_SEARCH_STEPS + 1;
    }
    assert!(merge_error(&p, &long).contains("bflow_steps"));
}

/// A problem of two quadratics times `c`: the equilibrium (0, 1/4) at any scale.
fn scaled_quadratics(c: f64) -> Problem<f64> {
    let text = format!(
        "vars = [\"x\", \"y\"]\n[[objective]]\nexpr = \"{c:e}*(x-1)^2 + {c:e}*y^2\"\n\
         [[objective]]\nexpr = \"{c:e}*(x+1)^2 + {c:e}*(y-0.5)^2\"\n\
         [region]\nx = [-2, 2]\ny = [-2, 2]\n"
    );
    crate::objectives::problem_file::parse_problem(&text, "scaled.toml").unwrap()
}

#[test]
fn maps_find_the_equilibrium_at_extreme_gradient_scales() {
    for c in [1e-310, 1e-300, 1.0, 1e300, 1e307] {
        let p = scaled_quadratics(c);
        let map = map_equilibria(
            &p,
            &MapParams {
                starts: Some(8),
                ..MapParams::default()
            },
        )
        .unwrap();
        assert_eq!(map.equilibria.len(), 1, "c = {c:e}: {map:#?}");
        let e = &map.equilibria[0];
        assert!(
            distance(&e.point, &[0.0, 0.25]) < 1e-9,
            "c = {c:e}: {:?}",
            e.point
        );
        assert_eq!(e.classification.kind, Kind::Minimum, "c = {c:e}");
        assert_eq!(map.diverged(), 0, "c = {c:e}");
        if let Some(b) = e.b {
            assert!((0.0..=2.0).contains(&b), "c = {c:e}: B = {b}");
        }
    }
}

/// Runs `mapper` to its end, every record in start order to `on_record`.
fn run_to_end(
    mut mapper: Mapper<'_>,
    on_record: &mut dyn FnMut(&StartRecord) -> ControlFlow<()>,
) -> EquilibriumMap {
    let mut on_batch = |_: &MapProgress| ControlFlow::Continue(());
    mapper
        .run(&mut MapControl {
            max_time: None,
            keep_records: false,
            progress: &|_, _| {},
            on_record,
            on_batch: &mut on_batch,
        })
        .unwrap();
    mapper.finish().unwrap()
}

/// Runs a map to its end; the map and every record in start order.
pub(crate) fn run_with_records(
    p: &Problem<f64>,
    params: &MapParams,
) -> (EquilibriumMap, Vec<StartRecord>) {
    let mut records = Vec::new();
    let map = run_to_end(Mapper::new(p, params).unwrap(), &mut |r| {
        records.push(r.clone());
        ControlFlow::Continue(())
    });
    (map, records)
}

/// The map's JSON without its timing.
pub(crate) fn untimed(map: &EquilibriumMap) -> String {
    let mut m = map.clone();
    m.seconds = 0.0;
    serde_json::to_string(&m).unwrap()
}

/// The map made by feeding `prefix` and running the rest.
fn resumed_map(p: &Problem<f64>, params: &MapParams, prefix: &[StartRecord]) -> EquilibriumMap {
    let mut mapper = Mapper::new(p, params).unwrap();
    for r in prefix {
        mapper.feed(r.clone(), false).unwrap();
    }
    assert_eq!(mapper.starts_mapped(), prefix.len());
    map_run(mapper)
}

/// Runs `mapper` to its end.
pub(crate) fn map_run(mapper: Mapper<'_>) -> EquilibriumMap {
    run_to_end(mapper, &mut |_| ControlFlow::Continue(()))
}

#[test]
fn an_adaptive_map_resumed_from_any_prefix_equals_the_uninterrupted_one() {
    let p = himmelblau_split::<f64>();
    for params in [
        // Stops as complete after a few rounds.
        MapParams {
            first_round: Some(8),
            max_starts: 4096,
            ..MapParams::default()
        },
        // Stops at max-starts in the middle of a round.
        MapParams {
            first_round: Some(3),
            max_starts: 40,
            seed: 2,
            ..MapParams::default()
        },
    ] {
        let (whole, records) = run_with_records(&p, &params);
        let n = records.len();
        assert_eq!(whole.starts_mapped, n);
        assert!(whole.completeness.rounds >= 3, "{:?}", whole.completeness);
        let first = params.first_round.unwrap();
        // Every cut: at round ends (first, 2·first, 2.5·first, 3·first, …), inside rounds,
        // none, all.
        let mut cuts = vec![
            0,
            1,
            first - 1,
            first,
            first + 1,
            2 * first,
            2 * first + first / 2,
            3 * first,
            n - 1,
            n,
        ];
        cuts.retain(|&m| m <= n);
        for m in cuts {
            let again = resumed_map(&p, &params, &records[..m]);
            assert_eq!(
                untimed(&again),
                untimed(&whole),
                "cut after {m} of {n} starts"
            );
        }
    }
}

#[test]
fn a_sharded_map_resumed_equals_the_uninterrupted_shard() {
    let p = builtin::<f64>("branin-split").unwrap();
    let params = MapParams {
        starts: Some(31),
        seed: 3,
        shard: Some(Shard { index: 2, count: 4 }),
        ..MapParams::default()
    };
    let (whole, records) = run_with_records(&p, &params);
    // Starts 2, 6, …, 30.
    assert_eq!(records.len(), 8);
    assert!(records.iter().all(|r| r.index % 4 == 2));
    for m in 0..=records.len() {
        let again = resumed_map(&p, &params, &records[..m]);
        assert_eq!(untimed(&again), untimed(&whole), "cut after {m}");
        assert_eq!(again.completeness.rounds, 1);
        assert_eq!(again.completeness.stopped, "fixed");
    }
    // A record out of order, or one past the end, is refused.
    let mut mapper = Mapper::new(&p, &params).unwrap();
    let err = mapper.feed(records[1].clone(), false).unwrap_err();
    assert!(err.to_string().contains("expected start 2"), "{err}");
    for r in &records {
        mapper.feed(r.clone(), false).unwrap();
    }
    let err = mapper.feed(records[0].clone(), false).unwrap_err();
    assert!(err.to_string().contains("after the end"), "{err}");
}

#[test]
fn a_map_stopped_by_its_batch_callback_covers_a_prefix_and_resumes() {
    let p = himmelblau_split::<f64>();
    let params = MapParams {
        starts: Some(200),
        ..MapParams::default()
    };
    let (whole, all) = run_with_records(&p, &params);
    let mut mapper = Mapper::new(&p, &params).unwrap();
    let mut seen = Vec::new();
    let mut batches = Vec::new();
    let mut on_record = |r: &StartRecord| {
        seen.push(r.index);
        ControlFlow::Continue(())
    };
    let mut on_batch = |b: &MapProgress| {
        batches.push(*b);
        ControlFlow::Break(())
    };
    mapper
        .run(&mut MapControl {
            max_time: None,
            keep_records: false,
            progress: &|_, _| {},
            on_record: &mut on_record,
            on_batch: &mut on_batch,
        })
        .unwrap();
    let k = seen.len();
    assert!((1..200).contains(&k), "{k}");
    assert_eq!(seen, (0..k).collect::<Vec<_>>());
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].starts_mapped, k);
    assert_eq!(batches[0].round_starts, 200);
    let stopped = mapper.finish().unwrap();
    assert_eq!(stopped.completeness.stopped, "interrupted");
    assert_eq!(stopped.starts_mapped, k);
    let again = resumed_map(&p, &params, &all[..k]);
    assert_eq!(untimed(&again), untimed(&whole));
}

/// Runs `mapper` with no progress output and no records kept, under `max_time`, and
/// interrupted after its first batch when `interrupt`.
fn run_quietly(mapper: &mut Mapper<'_>, max_time: Option<std::time::Duration>, interrupt: bool) {
    let mut on_record = |_: &StartRecord| ControlFlow::Continue(());
    let mut on_batch = |_: &MapProgress| {
        if interrupt {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    };
    mapper
        .run(&mut MapControl {
            max_time,
            keep_records: false,
            progress: &|_, _| {},
            on_record: &mut on_record,
            on_batch: &mut on_batch,
        })
        .unwrap();
}

#[test]
fn a_zero_time_limit_maps_nothing_and_says_so() {
    let p = himmelblau_split::<f64>();
    let mut mapper = Mapper::new(
        &p,
        &MapParams {
            starts: Some(50),
            ..MapParams::default()
        },
    )
    .unwrap();
    run_quietly(&mut mapper, Some(std::time::Duration::ZERO), false);
    let map = mapper.finish().unwrap();
    assert_eq!(map.starts_mapped, 0);
    assert_eq!(map.completeness.stopped, "time-limit");
    assert_eq!(map.completeness.rounds, 0);
}

#[test]
fn an_interrupted_map_runs_no_mode_starts_until_it_is_resumed_to_its_end() {
    // Interrupted after its first batch, a map covers the starts run so far: no mode starts
    // (they would run past the interruption). The same map run to its end has them.
    let p = himmelblau_split::<f64>();
    let params = MapParams::default();
    let mut mapper = Mapper::new(&p, &params).unwrap();
    run_quietly(&mut mapper, None, true);
    let cut = mapper.finish().unwrap();
    assert_eq!(cut.completeness.stopped, "interrupted");
    assert!(cut.starts_mapped > 0 && !cut.equilibria.is_empty());
    assert_eq!(cut.completeness.mode_searches, 0);
    let whole = map_equilibria(&p, &params).unwrap();
    assert_eq!(whole.completeness.stopped, "complete");
    // 4 minima and 1 maximum, 2n = 4 directions, 3 steps each (those inside the region); none
    // from the 2-D saddles, whose neighbours along their modes are extrema.
    assert!(whole.completeness.mode_searches > 0 && whole.completeness.mode_searches <= 60);
    assert_eq!(whole.completeness.mode_found, 0);
}

#[test]
fn a_time_limit_reached_during_the_mode_starts_cuts_them_short_and_says_so() {
    // Every start run, then a deadline already past when the mode starts begin: none run,
    // the map keeps every start's equilibria and says time-limit.
    let p = himmelblau_split::<f64>();
    let params = MapParams {
        starts: Some(64),
        ..MapParams::default()
    };
    let whole = map_equilibria(&p, &params).unwrap();
    assert_eq!(whole.completeness.stopped, "fixed");
    assert!(whole.completeness.mode_searches > 0);
    let mut mapper = Mapper::new(&p, &params).unwrap();
    run_quietly(&mut mapper, None, false);
    mapper.deadline = Some(Instant::now());
    let cut = mapper.finish().unwrap();
    assert_eq!(cut.completeness.stopped, "time-limit");
    assert_eq!(cut.completeness.mode_searches, 0);
    assert_eq!(cut.starts_mapped, 64);
    let points = |m: &EquilibriumMap| -> Vec<Vec<f64>> {
        m.equilibria.iter().map(|e| e.point.clone()).collect()
    };
    assert_eq!(points(&cut), points(&whole));
}

/// The fixed map of 64 starts of the split Himmelblau problem.
fn himmelblau_split_of_64_starts() -> (Problem<f64>, EquilibriumMap) {
    let problem = himmelblau_split::<f64>();
    let params = MapParams {
        starts: Some(64),
        ..MapParams::default()
    };
    let map = map_equilibria(&problem, &params).unwrap();
    (problem, map)
}

/// The context a map of `problem` with `params` gives its searches, and the region's scale.
fn searches_of(problem: &Problem<f64>, params: &MapParams) -> (SearchContext, f64) {
    let region = problem.region.clone().unwrap();
    let obj = problem.objectives.as_ref();
    let (scale, gscale) = (scale_of(&region), gradient_scale(obj, &region));
    (search_context(&region, scale, gscale, params), scale)
}

/// A mode start's Newton search ends as soon as it enters a certified uniqueness box of an
/// equilibrium the map has: from inside the box it reports nothing (the map has that
/// equilibrium), without the box it polishes to the same equilibrium, and a search that
/// never enters the box still reaches its own.
#[test]
fn a_mode_search_that_enters_a_known_certified_box_ends_there() {
    let (problem, map) = himmelblau_split_of_64_starts();
    let (ctx, scale) = searches_of(&problem, &MapParams::default());
    let mut evals = search::Evaluators::new(problem.objectives.as_ref());
    let e = map
        .equilibria
        .iter()
        .find(|e| e.classification.kind == Kind::Minimum)
        .unwrap();
    let r = e.certificate.unique_radius.unwrap();
    let boxes = certify::CertifiedBoxes::new([(0, e.point.as_slice(), r)].into_iter());
    let no_boxes = certify::CertifiedBoxes::new(std::iter::empty());
    let inside: Vec<f64> = e.point.iter().map(|x| x + 0.5 * r).collect();
    assert_eq!(ctx.mode_newton(&mut evals, &inside, &boxes), None);
    let reached = ctx.mode_newton(&mut evals, &inside, &no_boxes).unwrap();
    assert!(distance(&reached, &e.point) < 1e-9 * scale, "{reached:?}");
    // Another equilibrium's neighbourhood: its search never comes near the box.
    let other = map
        .equilibria
        .iter()
        .find(|o| distance(&o.point, &e.point) > 0.2 * scale)
        .unwrap();
    let near: Vec<f64> = other.point.iter().map(|x| x + 1e-3 * scale).collect();
    let got = ctx.mode_newton(&mut evals, &near, &boxes).unwrap();
    assert!(distance(&got, &other.point) < 1e-9 * scale, "{got:?}");
}

/// An adaptive map's searches end where they enter the certified box of an equilibrium an
/// earlier block of starts found: the first block's records are those of the fixed map of
/// the same starts bit for bit, every later search ends the same way at the same
/// equilibrium in no more steps (fewer in all), and the maps' equilibria — points, hits,
/// basins, certificates — and connections are equal. The records do not depend on the
/// thread count.
#[test]
fn an_adaptive_maps_searches_end_at_known_equilibria_as_the_fixed_maps_do_without() {
    let p = himmelblau_split::<f64>();
    let run = |params: &MapParams, threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| run_with_records(&p, params))
    };
    let adaptive_params = MapParams::default();
    let block = known_block(default_first_round(2));
    let (adaptive, records) = run(&adaptive_params, 2);
    let n = records.len();
    assert!(n >= 8 * block, "{n} starts");
    let (again, records_one_thread) = run(&adaptive_params, 1);
    assert_eq!(untimed(&again), untimed(&adaptive));
    let json = |r: &[StartRecord]| serde_json::to_string(r).unwrap();
    assert_eq!(json(&records_one_thread), json(&records));
    let (fixed, fixed_records) = run(
        &MapParams {
            starts: Some(n),
            ..MapParams::default()
        },
        2,
    );
    assert_eq!(adaptive.equilibria, fixed.equilibria);
    assert_eq!(adaptive.connections, fixed.connections);
    let tol = f64::EPSILON.sqrt() * adaptive.scale;
    let steps = |s: &SearchRecord| s.steps + s.polish_steps;
    let (mut total, mut fixed_total, mut ended_early) = (0, 0, 0);
    for (a, f) in records.iter().zip(&fixed_records) {
        assert_eq!(a.index, f.index);
        if a.index < block {
            assert_eq!(json(std::slice::from_ref(a)), json(std::slice::from_ref(f)));
        }
        for (sa, sf) in a.searches.iter().zip(&f.searches) {
            assert_eq!(
                (sa.searcher, sa.outcome),
                (sf.searcher, sf.outcome),
                "start {}",
                a.index
            );
            if sa.outcome == Outcome::Equilibrium {
                let (pa, pf) = (sa.point.as_ref().unwrap(), sf.point.as_ref().unwrap());
                assert!(distance(pa, pf) <= tol, "start {}: {pa:?} {pf:?}", a.index);
            }
            assert!(steps(sa) <= steps(sf), "start {}: {sa:?} {sf:?}", a.index);
            ended_early += usize::from(steps(sa) < steps(sf));
            total += steps(sa);
            fixed_total += steps(sf);
        }
    }
    assert!(ended_early > n, "{ended_early} of {} searches", 4 * n);
    assert!(total < fixed_total, "{total} steps against {fixed_total}");
}

/// Every record of an adaptive map is what its searches give with the boxes of exactly the
/// equilibria first found before its block: none from its own block (whatever the batches),
/// each searcher watching the kinds it should. Checked by searching every start again.
#[test]
fn each_start_of_an_adaptive_map_knows_the_equilibria_of_the_blocks_before_its_own() {
    let p = builtin::<f64>("e4").unwrap();
    let params = MapParams {
        max_starts: 320,
        ..MapParams::default()
    };
    let (map, records) = run_with_records(&p, &params);
    let block = known_block(default_first_round(2));
    assert_eq!((records.len(), block), (320, 32));
    let (ctx, _) = searches_of(&p, &params);
    let mut evals = search::Evaluators::new(p.objectives.as_ref());
    let mut ended_in_a_box = 0;
    for r in &records {
        let before = r.index / block * block;
        let boxes: Vec<_> = map
            .equilibria
            .iter()
            .enumerate()
            .filter(|(_, e)| e.first_start < before)
            .filter_map(|(k, e)| {
                let radius = e.certificate.unique_radius?;
                Some((k, e.point.as_slice(), radius, Some(e.classification.kind)))
            })
            .collect();
        let known = KnownEquilibria::new(&boxes);
        for (got, &searcher) in r.searches.iter().zip(&params.searchers) {
            let again = ctx.search(&mut evals, searcher, &r.start, &known);
            assert_eq!(*got, again, "start {}", r.index);
            let at_known = got
                .point
                .as_deref()
                .is_some_and(|q| boxes.iter().any(|b| b.1 == q) && got.polish_steps == 0);
            ended_in_a_box += usize::from(at_known && searcher != Searcher::Newton);
        }
    }
    // Loss-flow and ascent ended in boxes often enough for the check to mean something.
    assert!(ended_in_a_box > 100, "{ended_in_a_box}");
    // A run that goes on in the middle of a block (after a checkpoint's records, or a batch
    // that ended there) knows the equilibria of the blocks before, not those its own block
    // found so far.
    let mut mapper = Mapper::new(&p, &params).unwrap();
    for r in &records[..45] {
        mapper.feed(r.clone(), false).unwrap();
    }
    mapper.update_known(45);
    let found_before = |end: usize| {
        map.equilibria
            .iter()
            .filter(|e| e.first_start < end)
            .count()
    };
    assert_eq!(mapper.described.len(), found_before(32));
    assert!(found_before(45) > found_before(32));
}

/// Loss-flow ends in the box of a known minimum and ascent in that of a known maximum; a
/// Newton search ends in any known box; a saddle's box does not end a loss-flow.
#[test]
fn a_search_ends_in_the_known_boxes_of_the_equilibria_it_seeks() {
    let (problem, map) = himmelblau_split_of_64_starts();
    let (ctx, scale) = searches_of(&problem, &MapParams::default());
    let mut evals = search::Evaluators::new(problem.objectives.as_ref());
    let of_kind = |kind: Kind| {
        map.equilibria
            .iter()
            .find(|e| e.classification.kind == kind)
            .unwrap()
    };
    let known = |e: &Equilibrium| {
        KnownEquilibria::new(&[(
            0,
            e.point.as_slice(),
            e.certificate.unique_radius.unwrap(),
            Some(e.classification.kind),
        )])
    };
    let near = |e: &Equilibrium| -> Vec<f64> {
        let r = e.certificate.unique_radius.unwrap();
        e.point.iter().map(|x| x + 2.0 * r).collect()
    };
    let none = KnownEquilibria::default();
    for (kind, searcher) in [
        (Kind::Minimum, Searcher::Lossflow),
        (Kind::Maximum, Searcher::Ascent),
        (Kind::Saddle, Searcher::Newton),
        (Kind::Minimum, Searcher::Newton),
    ] {
        let e = of_kind(kind);
        let start = near(e);
        let watched = ctx.search(&mut evals, searcher, &start, &known(e));
        let unwatched = ctx.search(&mut evals, searcher, &start, &none);
        assert_eq!(
            watched.outcome,
            Outcome::Equilibrium,
            "{kind:?} {searcher:?}"
        );
        assert_eq!(watched.point.as_deref(), Some(e.point.as_slice()));
        assert_eq!(watched.polish_steps, 0);
        if searcher != Searcher::Newton {
            // The descent itself ends in a box, not only its polish: with a box of a twentieth
            // of the scale it stops well before its own tolerance.
            let wide = KnownEquilibria::new(&[(0, e.point.as_slice(), 0.05 * scale, Some(kind))]);
            let far: Vec<f64> = e.point.iter().map(|x| x + 0.1 * scale).collect();
            let early = ctx.search(&mut evals, searcher, &far, &wide);
            let full = ctx.search(&mut evals, searcher, &far, &none);
            assert_eq!(early.point.as_deref(), Some(e.point.as_slice()));
            assert!(early.steps < full.steps, "{early:?} {full:?}");
        }
        let reached = unwatched.point.as_deref().unwrap();
        assert!(distance(reached, &e.point) < 1e-9 * scale, "{reached:?}");
        assert!(
            watched.steps + watched.polish_steps < unwatched.steps + unwatched.polish_steps,
            "{kind:?} {searcher:?}: {watched:?} {unwatched:?}"
        );
    }
    // Loss-flow passes by the boxes of a saddle and a maximum, ascent those of a saddle and
    // a minimum, started inside them: the same records as with no box known, ending
    // elsewhere. Newton started in the same boxes ends in them at once.
    for (kind, searcher) in [
        (Kind::Saddle, Searcher::Lossflow),
        (Kind::Maximum, Searcher::Lossflow),
        (Kind::Saddle, Searcher::Ascent),
        (Kind::Minimum, Searcher::Ascent),
    ] {
        let e = of_kind(kind);
        let r = e.certificate.unique_radius.unwrap();
        let inside: Vec<f64> = e.point.iter().map(|x| x + 0.5 * r).collect();
        let watched = ctx.search(&mut evals, searcher, &inside, &known(e));
        let unwatched = ctx.search(&mut evals, searcher, &inside, &none);
        assert_eq!(watched, unwatched, "{kind:?} {searcher:?}");
        assert_ne!(watched.point.as_deref(), Some(e.point.as_slice()));
        let newton = ctx.search(&mut evals, Searcher::Newton, &inside, &known(e));
        assert_eq!(
            (newton.point.as_deref(), newton.steps),
            (Some(e.point.as_slice()), 0)
        );
    }
}

/// The sorted boxes answer as testing every box would: a box that holds a point (its
/// centre) whenever one does, and a ball that holds it whenever one does — for random boxes
/// of random sizes, points near and far, in 1 to 4 dimensions.
#[test]
fn certified_boxes_find_what_testing_every_box_finds() {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let (mut held, mut balls) = (0, 0);
    for n in 1..=4 {
        let boxes: Vec<(Vec<f64>, f64)> = (0..60)
            .map(|_| {
                let centre = (0..n).map(|_| 10.0 * next() - 5.0).collect();
                (centre, 0.01 + next() * next() * 2.0)
            })
            .collect();
        let sorted = certify::CertifiedBoxes::new(
            boxes
                .iter()
                .enumerate()
                .map(|(k, (c, r))| (k, c.as_slice(), *r)),
        );
        for _ in 0..2000 {
            let theta: Vec<f64> = (0..n).map(|_| 12.0 * next() - 6.0).collect();
            let in_box =
                |(c, r): &(Vec<f64>, f64)| theta.iter().zip(c).all(|(x, y)| (x - y).abs() <= *r);
            let in_ball = |(c, r): &(Vec<f64>, f64)| distance(&theta, c) <= *r;
            match sorted.centre_holding(&theta) {
                Some(centre) => assert!(
                    boxes.iter().any(|b| b.0 == centre && in_box(b)),
                    "{theta:?}: {centre:?}"
                ),
                None => assert!(!boxes.iter().any(in_box), "{theta:?}"),
            }
            match sorted.ball_holding(&theta) {
                Some(k) => assert!(in_ball(&boxes[k]), "{theta:?}: {k}"),
                None => assert!(!boxes.iter().any(in_ball), "{theta:?}"),
            }
            held += usize::from(sorted.centre_holding(&theta).is_some());
            balls += usize::from(sorted.ball_holding(&theta).is_some());
        }
    }
    // Both answers occur often enough to mean something.
    assert!(held > 500 && balls > 300 && held < 7500, "{held} {balls}");
}

#[test]
fn a_shard_slice_counts_its_starts_and_more_shards_than_starts_are_refused() {
    let with = |starts: Option<usize>, shard: Option<(usize, usize)>| MapParams {
        starts,
        shard: shard.map(|(index, count)| Shard { index, count }),
        ..MapParams::default()
    };
    // 10 starts in 3 shards: indices 0, 3, 6, 9 / 1, 4, 7 / 2, 5, 8.
    assert_eq!(with(Some(10), Some((0, 3))).most_starts(), 4);
    assert_eq!(with(Some(10), Some((1, 3))).most_starts(), 3);
    assert_eq!(with(Some(10), Some((2, 3))).most_starts(), 3);
    assert_eq!(with(Some(10), None).most_starts(), 10);
    assert_eq!(
        with(None, None).most_starts(),
        MapParams::default().max_starts
    );
    // One shard per start is the most: merge refuses more, so the map does too.
    assert!(with(Some(8), Some((7, 8))).validate().is_ok());
    match with(Some(8), Some((3, 10))).validate() {
        Err(Error::InvalidParameter { name, reason }) => {
            assert_eq!(name, "shard");
            assert!(reason.contains("more shards than the 8 starts"), "{reason}");
        }
        other => panic!("expected InvalidParameter, got {other:?}"),
    }
}

#[test]
fn names_from_files_are_cut_and_escaped_in_messages() {
    assert_eq!(name_for_message("wells"), "wells");
    assert_eq!(name_for_message("a\u{1b}[2J\nb"), "a\\u{1b}[2J\\nb");
    let long = "A".repeat(1 << 20);
    let shown = name_for_message(&long);
    assert_eq!(shown.chars().count(), 81);
    assert!(shown.ends_with("A…"));
}
