//! The seed's experiments under its exact settings, and the exact ∇B against central
//! differences on the seed's problems.

use bflow::objectives::{Evaluator, balance_gradient_at};
use bflow::problems::builtin;
use bflow::real::norm_l2;
use bflow_cli::experiment::{SEED_EXPERIMENTS, reproduce};

#[test]
fn seed_bflow_reaches_the_floor_on_e1_to_e3() {
    let rep = reproduce().unwrap();
    for e in &rep.experiments[..3] {
        let d = e.bflow.distance.unwrap();
        println!("{} seed B-flow distance {d:.4e}", e.setting.id);
        assert!(d <= 4e-15, "{}: B-flow distance {d:e}", e.setting.id);
        assert!(e.bflow.floor_reached, "{}", e.setting.id);
        let d_exact = e.bflow_exact.distance.unwrap();
        assert!(
            d_exact <= 4e-15,
            "{}: exact B-flow distance {d_exact:e}",
            e.setting.id
        );
        // I at convergence is −0.5 to 15 decimals.
        assert_eq!(
            format!("{:.15}", e.bflow.interaction.unwrap()),
            "-0.500000000000000"
        );
    }
}

#[test]
fn seed_lossflow_distances_match_the_rerun() {
    let rep = reproduce().unwrap();
    let e3 = &rep.experiments[2];
    let d = e3.lossflow.distance.unwrap();
    assert!(
        (d / 3.29e-4 - 1.0).abs() < 0.01,
        "E3 loss-flow distance {d:e}"
    );
    assert!(!e3.lossflow.floor_reached);
    // The seed's "I ≈ −0.498" is not what loss-flow gives: |I + ½| is about 8e-9.
    let h = e3.lossflow.abs_i_plus_half.unwrap();
    assert!(h > 1e-9 && h < 1e-7, "E3 loss-flow |I+1/2| = {h:e}");
    let e1 = &rep.experiments[0];
    let d1 = e1.lossflow.distance.unwrap();
    assert!(
        (d1 / 9.96e-4 - 1.0).abs() < 0.01,
        "E1 loss-flow distance {d1:e}"
    );
    let e2 = &rep.experiments[1];
    let d2 = e2.lossflow.distance.unwrap();
    assert!(
        (d2 / 2.32e-4 - 1.0).abs() < 0.01,
        "E2 loss-flow distance {d2:e}"
    );
}

#[test]
fn seed_e4_end_points_are_told_apart() {
    let rep = reproduce().unwrap();
    let e4 = &rep.experiments[3];
    assert_eq!(e4.setting.id, "E4");
    // Loss-flow ends at an equilibrium near (2.9731, 2.9765) with total loss 54.62.
    assert!((e4.lossflow.theta[0] - 2.9731).abs() < 1e-3);
    assert!((e4.lossflow.theta[1] - 2.9765).abs() < 1e-3);
    assert!((e4.lossflow.total_loss - 54.62).abs() < 0.01);
    assert!(e4.lossflow.b.unwrap() < 1e-20);
    // Fixed-step B-flow does not end at an equilibrium: B stays far above 0.
    assert!(e4.bflow.b.unwrap() > 0.5, "B = {:?}", e4.bflow.b);
    assert!(e4.bflow_exact.b.unwrap() > 0.5);
    assert!(e4.bflow.distance.is_none());
}

#[test]
fn exact_balance_gradient_matches_central_differences() {
    for name in ["e2", "e4"] {
        let p = builtin::<f64>(name).unwrap();
        for theta in [[-3.0, -3.0], [0.37, 1.91], [2.2, -0.4]] {
            let exact = balance_gradient_at(p.objectives.as_ref(), &theta).unwrap();
            let mut eval = Evaluator::new(p.objectives.as_ref());
            let mut fd = vec![0.0; 2];
            eval.balance_gradient_central(&theta, 1e-6, &mut fd)
                .unwrap();
            let diff: Vec<f64> = exact.iter().zip(&fd).map(|(a, b)| a - b).collect();
            let rel = norm_l2(&diff) / norm_l2(&exact).max(1e-12);
            assert!(
                rel < 1e-6,
                "{name} at {theta:?}: exact {exact:?} vs FD {fd:?}"
            );
        }
    }
}

#[test]
fn exact_balance_gradient_costs_k_gradients_and_k_hvps() {
    let p = builtin::<f64>("e3").unwrap();
    let mut eval = Evaluator::new(p.objectives.as_ref());
    let (_, id) = eval.evaluate(&p.start).unwrap();
    let mut g = vec![0.0; 4];
    eval.balance_gradient(&p.start, id, &mut g).unwrap();
    let c = eval.counts();
    assert_eq!((c.gradients, c.hvps), (3, 3));
    assert_eq!(c.gradient_equivalents(), 9);
}

#[test]
fn settings_are_the_seeds() {
    let e3 = SEED_EXPERIMENTS[2];
    assert_eq!((e3.bflow_steps, e3.bflow_step_size), (500, 0.5));
    assert_eq!(
        (
            e3.lossflow_steps,
            e3.lossflow_step_size,
            e3.lossflow_divisor
        ),
        (500, 0.01, 3.0)
    );
}
