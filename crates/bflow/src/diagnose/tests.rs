use super::*;
use crate::balance::{balance, gram_matrix};
use proptest::prelude::*;

fn rows(g: &[Vec<f64>]) -> Vec<f64> {
    g.concat()
}

fn diag(g: &[Vec<f64>]) -> Diagnosis {
    let data = rows(g);
    diagnose_gradients(
        &MatrixView::row_major(&data, g.len(), g[0].len()).unwrap(),
        &DiagnoseParams::default(),
    )
    .unwrap()
}

fn diag_gram(g: &[Vec<f64>]) -> Diagnosis {
    let gram = gram_matrix(g).unwrap().concat();
    let k = g.len();
    diagnose_gram(
        &MatrixView::row_major(&gram, k, k).unwrap(),
        &DiagnoseParams::default(),
    )
    .unwrap()
}

fn gradient_sets() -> impl Strategy<Value = Vec<Vec<f64>>> {
    (2usize..7, 1usize..8).prop_flat_map(|(k, n)| {
        prop::collection::vec(prop::collection::vec(-1.0e3..1.0e3_f64, n), k)
    })
}

proptest! {
    #[test]
    fn gram_route_equals_gradient_route(g in gradient_sets()) {
        let a = diag(&g);
        let b = diag_gram(&g);
        let k = g.len() as f64;
        prop_assume!(!a.degenerate);
        let (ba, bb) = (a.b.unwrap(), b.b.unwrap());
        // The Gram route cancels in 1ᵀG1: agreement to a few K²ε of B's range [0, K].
        prop_assert!((ba - bb).abs() <= 64.0 * k * k * f64::EPSILON, "{ba} vs {bb}");
        // And both agree with the library's direct balance.
        let direct = balance(&g).unwrap().b().unwrap();
        prop_assert!((ba - direct).abs() <= 64.0 * k * f64::EPSILON * (1.0 + direct), "{ba} vs {direct}");
        for (x, y) in a.gradient_norms.iter().zip(&b.gradient_norms) {
            prop_assert!((x - y).abs() <= 1e-12 * x.max(1e-300), "{x} vs {y}");
        }
        let (ca, cb) = (a.cosines.unwrap(), b.cosines.unwrap());
        for (ra, rb) in ca.iter().zip(&cb) {
            for (x, y) in ra.iter().zip(rb) {
                match (x, y) {
                    (Some(x), Some(y)) => prop_assert!((x - y).abs() <= 1e-10, "{x} vs {y}"),
                    (None, None) => {}
                    _ => prop_assert!(false, "a cosine is defined by one route only"),
                }
            }
        }
    }

    #[test]
    fn identities_and_bounds_on_both_routes(g in gradient_sets()) {
        let k = g.len() as f64;
        for d in [diag(&g), diag_gram(&g)] {
            if d.degenerate { continue; }
            let b = d.b.unwrap();
            let i = d.interaction.unwrap();
            prop_assert!((b - (1.0 + 2.0 * i)).abs() <= 4.0 * f64::EPSILON * k, "{b} vs 1 + 2I");
            prop_assert_eq!(d.abs_i_plus_half.unwrap(), b / 2.0);
            prop_assert!(b >= 0.0 && b <= k * (1.0 + 16.0 * k * f64::EPSILON), "B = {b}, K = {k}");
        }
    }

    #[test]
    fn weights_equal_scaling_the_gradients(g in gradient_sets(), w in prop::collection::vec(-4.0..4.0_f64, 7)) {
        let k = g.len();
        let w = w[..k].to_vec();
        let scaled: Vec<Vec<f64>> = g.iter().zip(&w).map(|(v, &wi)| v.iter().map(|x| wi * x).collect()).collect();
        let direct = diag(&scaled);
        let data = rows(&g);
        let params = DiagnoseParams { weights: Some(w.clone()), ..DiagnoseParams::default() };
        let weighted = diagnose_gradients(&MatrixView::row_major(&data, k, g[0].len()).unwrap(), &params).unwrap();
        let gram = gram_matrix(&g).unwrap().concat();
        let weighted_gram = diagnose_gram(&MatrixView::row_major(&gram, k, k).unwrap(), &params).unwrap();
        prop_assert_eq!(direct.degenerate, weighted.degenerate);
        if let (Some(a), Some(b), Some(c)) = (direct.b, weighted.b, weighted_gram.b) {
            let kf = k as f64;
            prop_assert!((a - b).abs() <= 64.0 * kf * kf * f64::EPSILON, "{a} vs {b}");
            prop_assert!((a - c).abs() <= 256.0 * kf * kf * f64::EPSILON, "{a} vs {c}");
        }
    }
}

#[test]
fn huge_gradients_give_a_finite_b() {
    // Entries near the largest float: the plain sums overflow.
    let g = vec![
        vec![1.7e308, -1.0e308, 5e307],
        vec![-1.6e308, 1.0e308, 1e307],
    ];
    let d = diag(&g);
    let unit: Vec<Vec<f64>> = g
        .iter()
        .map(|v| v.iter().map(|x| x * 2f64.powi(-1000)).collect())
        .collect();
    let reference = diag(&unit).b.unwrap();
    let b = d.b.unwrap();
    assert!(b.is_finite() && b <= 2.0);
    assert_eq!(b, reference, "scaling by a power of two is exact");
    assert!((d.sum_norm / (norm(&[0.1e308, 0.0, 6e307])) - 1.0).abs() < 1e-12);
    // The library's balance() agrees (its ||s|| no longer overflows).
    let direct = balance(&g).unwrap();
    assert!((direct.b().unwrap() - b).abs() < 1e-15, "{direct:?} vs {b}");
    assert!(direct.sum_norm.is_finite());
    // The Gram route: G itself overflows for these, so scale it first — entries near
    // 1e308 in G are handled too.
    let gram = [1.5e308, -1.0e308, -1.0e308, 1.2e308];
    let dg = diagnose_gram(
        &MatrixView::row_major(&gram, 2, 2).unwrap(),
        &DiagnoseParams::default(),
    )
    .unwrap();
    let scaled = [1.5, -1.0, -1.0, 1.2];
    let ds = diagnose_gram(
        &MatrixView::row_major(&scaled, 2, 2).unwrap(),
        &DiagnoseParams::default(),
    )
    .unwrap();
    assert!((dg.b.unwrap() - ds.b.unwrap()).abs() < 1e-15);
    assert!((dg.b.unwrap() - 0.7 / 2.7).abs() < 1e-15);
}

fn norm(v: &[f64]) -> f64 {
    crate::real::norm_l2(v)
}

#[test]
fn subnormal_gradients_give_the_b_of_their_exact_values() {
    // Subnormal floats are integer multiples of 2^-1074: B of those integers is the truth.
    let g = vec![
        vec![1e-320, -3e-321, 2.5e-320],
        vec![-1e-320, 4e-321, 1e-321],
    ];
    let ints: Vec<Vec<f64>> = g
        .iter()
        .map(|v| {
            v.iter()
                .map(|&x: &f64| x.signum() * x.abs().to_bits() as f64)
                .collect()
        })
        .collect();
    let b = diag(&g).b.unwrap();
    let truth = diag(&ints).b.unwrap();
    assert!(b <= 2.0, "B = {b} > K");
    assert_eq!(b, truth);
    // And the K = 2 bound holds at the smallest subnormal.
    let tiny = vec![vec![5e-324, 5e-324], vec![5e-324, 5e-324]];
    assert_eq!(diag(&tiny).b, Some(2.0));
}

#[test]
fn column_major_and_strided_views_equal_row_major() {
    let g = vec![
        vec![1.0, -2.0, 0.5, 3.0],
        vec![0.25, 1.0, -1.0, 2.0],
        vec![-1.0, 0.0, 1.0, -4.0],
    ];
    let a = diag(&g);
    let mut col = vec![0.0; 12];
    for i in 0..3 {
        for j in 0..4 {
            col[i + 3 * j] = g[i][j];
        }
    }
    let b = diagnose_gradients(
        &MatrixView::column_major(&col, 3, 4).unwrap(),
        &DiagnoseParams::default(),
    )
    .unwrap();
    assert_eq!(a, b);
    // A strided view: every other column of a 3×8 array.
    let mut wide = vec![9.0; 24];
    for i in 0..3 {
        for j in 0..4 {
            wide[i * 8 + 2 * j] = g[i][j];
        }
    }
    let c = diagnose_gradients(
        &MatrixView::new(&wide, 3, 4, 0, 8, 2).unwrap(),
        &DiagnoseParams::default(),
    )
    .unwrap();
    assert_eq!(a, c);
    assert!(MatrixView::new(&wide, 3, 4, 1, 8, 2).is_ok());
    assert!(MatrixView::new(&wide, 3, 5, 0, 8, 2).is_err());
}

#[test]
fn strided_trajectories_equal_their_contiguous_copies() {
    // Every other step and every other column of a 4×2×6 C-order buffer, from offset 1.
    let (t, k, n) = (2, 2, 3);
    let data: Vec<f64> = (0..48).map(|x| ((x * 37) % 11) as f64 - 5.0).collect();
    let v = TrajectoryView::new(&data, [t, k, n], 1, [24, 6, 2]).unwrap();
    let mut c = Vec::new();
    for s in 0..t {
        for i in 0..k {
            for j in 0..n {
                c.push(data[1 + 24 * s + 6 * i + 2 * j]);
            }
        }
    }
    let p = DiagnoseParams::default();
    assert_eq!(
        diagnose_gradient_trajectory(&v, &p).unwrap(),
        diagnose_gradient_trajectory(&TrajectoryView::c_order(&c, [t, k, n]).unwrap(), &p).unwrap()
    );
    // The last entry is 1 + 24 + 6 + 4 = 35; one more value than the buffer holds is refused.
    assert!(TrajectoryView::new(&data[..36], [t, k, n], 1, [24, 6, 2]).is_ok());
    assert!(TrajectoryView::new(&data[..35], [t, k, n], 1, [24, 6, 2]).is_err());
    assert!(TrajectoryView::new(&data, [t, 0, n], 0, [1, 1, 1]).is_err());
    assert!(TrajectoryView::new(&data, [t, k, n], 0, [usize::MAX, 1, 1]).is_err());
}

#[test]
fn trajectories_in_c_and_fortran_order_agree() {
    let (t, k, n) = (3, 2, 4);
    let c: Vec<f64> = (0..t * k * n)
        .map(|x| ((x * 7919) % 13) as f64 - 6.0)
        .collect();
    let mut f = vec![0.0; c.len()];
    for s in 0..t {
        for i in 0..k {
            for j in 0..n {
                f[s + t * i + t * k * j] = c[s * k * n + i * n + j];
            }
        }
    }
    let p = DiagnoseParams::default();
    let a =
        diagnose_gradient_trajectory(&TrajectoryView::c_order(&c, [t, k, n]).unwrap(), &p).unwrap();
    let b =
        diagnose_gradient_trajectory(&TrajectoryView::fortran_order(&f, [t, k, n]).unwrap(), &p)
            .unwrap();
    assert_eq!(a.len(), 3);
    assert_eq!(a, b);
    let step1 = diag(&[c[8..12].to_vec(), c[12..16].to_vec()]);
    assert_eq!(a[1], step1);
    // A bad step is named.
    let mut bad = c.clone();
    bad[2 * k * n + 1] = f64::NAN;
    let e = diagnose_gradient_trajectory(&TrajectoryView::c_order(&bad, [t, k, n]).unwrap(), &p)
        .unwrap_err();
    assert!(matches!(e, Error::AtStep { step: 2, .. }), "{e}");
    assert_eq!(
        e.to_string(),
        "step 2: gradient 0 component 1 is not finite (NaN)"
    );
}

#[test]
fn many_objectives_give_pairs_not_a_matrix() {
    // K = 40 > 16: no cosine matrix unless asked, and the planted most conflicting pair found.
    let (k, n) = (40, 6);
    let mut g: Vec<Vec<f64>> = (0..k)
        .map(|i| {
            (0..n)
                .map(|j| 1.0 + ((i * 31 + j * 17) % 7) as f64 * 0.1)
                .collect()
        })
        .collect();
    g[11] = vec![1.0, 2.0, 0.0, 0.0, 0.0, 0.0];
    g[29] = vec![-1.0, -2.0, 0.0, 0.0, 0.0, 1e-3];
    let d = diag(&g);
    assert!(d.cosines.is_none());
    let pairs = d.conflicts.as_ref().unwrap();
    assert_eq!((pairs[0].i, pairs[0].j), (12, 30));
    assert!(pairs[0].cosine < -0.9999);
    assert!(pairs.len() <= 5);
    assert!(pairs.windows(2).all(|w| w[0].cosine <= w[1].cosine));
    let data = rows(&g);
    let full = diagnose_gradients(
        &MatrixView::row_major(&data, k, n).unwrap(),
        &DiagnoseParams {
            full_cosines: true,
            ..DiagnoseParams::default()
        },
    )
    .unwrap();
    let cos = full.cosines.unwrap();
    assert_eq!(cos.len(), k);
    assert!((cos[11][29].unwrap() - pairs[0].cosine).abs() < 1e-15);
}

#[test]
fn asking_for_more_conflicts_than_pairs_gives_every_conflicting_pair() {
    // Three gradients: pairs (1,2) and (1,3) conflict, (2,3) does not. Any count asked for,
    // up to usize::MAX, keeps (and allocates for) at most the K(K − 1)/2 = 3 pairs.
    let g = vec![vec![1.0, 0.0], vec![-1.0, 0.2], vec![-0.5, -1.0]];
    let data = rows(&g);
    let gram = gram_matrix(&g).unwrap().concat();
    for m in [3, 4, 1 << 32, usize::MAX - 1, usize::MAX] {
        let params = DiagnoseParams {
            conflicts: m,
            ..DiagnoseParams::default()
        };
        let from_rows =
            diagnose_gradients(&MatrixView::row_major(&data, 3, 2).unwrap(), &params).unwrap();
        let from_gram =
            diagnose_gram(&MatrixView::row_major(&gram, 3, 3).unwrap(), &params).unwrap();
        for d in [from_rows, from_gram] {
            let pairs = d.conflicts.unwrap();
            let ij: Vec<(usize, usize)> = pairs.iter().map(|p| (p.i, p.j)).collect();
            assert_eq!(ij, [(1, 2), (1, 3)], "m = {m}");
        }
    }
}

#[test]
fn oversize_gram_copies_and_trajectory_results_are_refused_with_the_figure() {
    // A broadcast 30000×30000 Gram matrix (one stored value): its scaled copy would take
    // 7.2 GB, above the 4 GiB cap — refused before anything is allocated or read.
    let one = [1.0f32];
    let gram = MatrixView::new(&one, 30_000, 30_000, 0, 0, 0).unwrap();
    match diagnose_gram(&gram, &DiagnoseParams::default()) {
        Err(Error::TooLarge {
            needed_bytes,
            cap_bytes,
            ..
        }) => {
            assert_eq!(needed_bytes, 30_000 * 30_000 * 8);
            assert_eq!(cap_bytes, GRAM_COPY_MAX_BYTES);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    // Ten million steps of K = 2 gradients (broadcast): about 540 bytes of results a step.
    let data = [1.0f64, 0.0, -1.0, 0.5];
    let steps = 10_000_000;
    let v = TrajectoryView::new(&data, [steps, 2, 2], 0, [0, 2, 1]).unwrap();
    match diagnose_gradient_trajectory(&v, &DiagnoseParams::default()) {
        Err(Error::TooLarge {
            needed_bytes,
            cap_bytes,
            ..
        }) => {
            assert!(
                needed_bytes > TRAJECTORY_RESULTS_MAX_BYTES,
                "{needed_bytes}"
            );
            assert_eq!(cap_bytes, TRAJECTORY_RESULTS_MAX_BYTES);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    // 10⁸ gradients of one parameter (a transposed file): about 5.6 GB of working memory,
    // refused with the figure and the likely cause.
    let one = [1.0f64];
    let tall = MatrixView::new(&one, 100_000_000, 1, 0, 0, 0).unwrap();
    match diagnose_gradients(&tall, &DiagnoseParams::default()) {
        Err(e @ Error::TooLarge { .. }) => {
            let m = e.to_string();
            assert!(m.contains("K = 100000000 gradients of n = 1"), "{m}");
            assert!(m.contains("transposed"), "{m}");
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    // A thousand steps are far below the cap, and each is diagnosed.
    let v = TrajectoryView::new(&data, [1000, 2, 2], 0, [0, 2, 1]).unwrap();
    let d = diagnose_gradient_trajectory(&v, &DiagnoseParams::default()).unwrap();
    assert_eq!(d.len(), 1000);
    assert_eq!(d[999].b, d[0].b);
}

#[test]
fn tall_inputs_use_the_row_pair_search_and_warn() {
    // K = 3000 > 2896 rows of n = 2: the pair search runs over normalised rows.
    let (k, n) = (3000, 2);
    let mut data = Vec::with_capacity(k * n);
    for i in 0..k {
        let a = i as f64 * 0.001;
        data.extend([a.cos(), a.sin()]);
    }
    // Row 5 points opposite row 2000.
    let a = 2000.0_f64 * 0.001;
    data[10] = -a.cos();
    data[11] = -a.sin();
    let d = diagnose_gradients(
        &MatrixView::row_major(&data, k, n).unwrap(),
        &DiagnoseParams::default(),
    )
    .unwrap();
    let p = d.conflicts.as_ref().unwrap()[0];
    assert_eq!((p.i, p.j), (6, 2001));
    assert!(d.warnings.iter().any(|s| s.contains("transposed")));
    assert!(d.cosines.is_none());
}

#[test]
fn a_full_cosine_matrix_beyond_the_cap_is_refused_with_the_figure() {
    let k = 5000;
    let data = vec![1.0; k * 2];
    let e = diagnose_gradients(
        &MatrixView::row_major(&data, k, 2).unwrap(),
        &DiagnoseParams {
            full_cosines: true,
            ..DiagnoseParams::default()
        },
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "the 5000×5000 cosine matrix needs 600000000 bytes (572.2 MiB), above the cap of 536870912 bytes (512.0 MiB); the most conflicting pairs are listed without it"
    );
}

#[test]
fn invalid_gram_matrices_are_refused_naming_the_entry() {
    let e = |g: &[f64]| {
        diagnose_gram(
            &MatrixView::row_major(g, 2, 2).unwrap(),
            &DiagnoseParams::default(),
        )
        .unwrap_err()
        .to_string()
    };
    assert!(e(&[1.0, 0.5, 0.4, 1.0]).contains("not symmetric: G[1,2]"));
    assert!(e(&[-1.0, 0.0, 0.0, 1.0]).contains("G[1,1] = -1e0 is negative"));
    assert!(e(&[1.0, f64::NAN, f64::NAN, 1.0]).contains("G[1,2] = NaN is not finite"));
    assert!(e(&[1.0, 3.0, 3.0, 1.0]).contains("Cauchy–Schwarz"));
    // Rounding-level asymmetry is accepted (and averaged).
    let ok = diagnose_gram(
        &MatrixView::row_major(&[1.0, -0.5, -0.5 + 1e-12, 2.0], 2, 2).unwrap(),
        &DiagnoseParams::default(),
    )
    .unwrap();
    assert!((ok.b.unwrap() - 2.0 / 3.0).abs() < 1e-11);
    // float32 Gram matrices get a wider tolerance.
    let f: [f32; 4] = [1.0, -0.5, -0.5001, 2.0];
    assert!(
        diagnose_gram(
            &MatrixView::row_major(&f, 2, 2).unwrap(),
            &DiagnoseParams::default()
        )
        .is_ok()
    );
}

#[test]
fn a_gram_equilibrium_says_what_it_cannot_resolve() {
    let g = vec![vec![1.0, 2.0], vec![-1.0, -2.0]];
    let d = diag_gram(&g);
    assert_eq!(d.b, Some(0.0));
    assert!(d.notes[0].contains("below what a Gram matrix resolves"));
    let r = d.b_resolution.unwrap();
    assert!(r > 0.0 && r < 1e-5);
}

#[test]
fn degenerate_states_are_not_b_zero() {
    let d = diag(&[vec![0.0, 0.0], vec![0.0, -0.0]]);
    assert!(d.degenerate);
    assert_eq!(d.b, None);
    assert!(d.cosines.unwrap().iter().flatten().all(Option::is_none));
    let g = diagnose_gram(
        &MatrixView::row_major(&[0.0; 4], 2, 2).unwrap(),
        &DiagnoseParams::default(),
    )
    .unwrap();
    assert!(g.degenerate);
    // One zero gradient is not degenerate, its cosines are undefined.
    let d = diag(&[vec![0.0, 0.0], vec![3.0, 4.0]]);
    assert_eq!(d.b, Some(1.0));
    assert_eq!(d.cosines.as_ref().unwrap()[0][1], None);
    assert_eq!(d.gradient_norms, vec![0.0, 5.0]);
}

#[test]
fn at_point_gives_the_seed_e2_interaction_and_losses() {
    let problem = crate::problems::builtin::<f64>("e2").unwrap();
    let d = diagnose_at_point(
        problem.objectives.as_ref(),
        &[1.5, 0.5],
        &DiagnoseParams::default(),
    )
    .unwrap();
    assert!((d.interaction.unwrap() + 0.418181818181818).abs() < 1e-12);
    assert_eq!(d.losses.as_ref().unwrap().len(), 3);
    let json = serde_json::to_value(&d).unwrap();
    for key in [
        "B",
        "I",
        "abs_I_plus_half",
        "degenerate",
        "gradient_norms",
        "sum_norm",
        "cosine",
        "losses",
    ] {
        assert!(json.get(key).is_some(), "{key} missing from {json}");
    }
    assert_eq!(json["cosine"][1][1], 1.0);
}
