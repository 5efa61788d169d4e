use std::ops::ControlFlow;

use super::*;
use crate::error::Error;
use crate::objectives::{AdObjectives, AutoDiff, EvalCounts};
use crate::problems::{Targets, builtin};
use num_dual::DualNum;

fn problem_from<O: crate::objectives::Objectives<f64> + 'static>(
    o: O,
    start: Vec<f64>,
) -> Problem<f64> {
    Problem {
        name: "test".into(),
        description: String::new(),
        objectives: Box::new(o),
        start,
        region: None,
        equilibria: Vec::new(),
    }
}

/// The seed's fixed B-flow step.
fn bflow() -> Method<f64> {
    Method::BFlow(StepRule::fixed(0.5))
}

fn steps(max_steps: usize) -> Limits<f64> {
    Limits {
        max_steps,
        ..Limits::default()
    }
}

/// Records B per iterate.
fn b_trace(r: &mut Vec<Option<f64>>) -> impl FnMut(&Observation<'_, f64>) -> ControlFlow<()> + '_ {
    |at| {
        r.push(at.stats.b());
        ControlFlow::Continue(())
    }
}

#[test]
fn degenerate_point_is_reported_not_treated_as_balanced() {
    // Both objectives are minimised at θ = 1: there every gradient vanishes, Q = 0.
    let t = Targets::quadratic(vec![vec![1.0], vec![1.0]]);
    let p = problem_from(t, vec![1.0]);
    let r = run(&p, &[1.0], &bflow(), &Limits::default()).unwrap();
    assert_eq!(r.stop, StopReason::Degenerate);
    assert_eq!(r.b, None);
    assert_eq!(r.abs_i_plus_half, None);
    assert_eq!(r.steps, 0);
    let l = run(
        &p,
        &[1.0],
        &Method::LossFlow(StepRule::fixed(0.01)),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(l.stop, StopReason::FixedPoint);
}

/// L1 = x⁴, L2 = −3x: from x = 2 a large step overflows within a few steps. Shared by the
/// flow tests that need a run to become non-finite.
pub(crate) struct Blowup;
impl AdObjectives for Blowup {
    fn num_objectives(&self) -> usize {
        2
    }
    fn dim(&self) -> usize {
        1
    }
    fn loss<D: DualNum<Primitive = f64>>(&self, i: usize, theta: &[D]) -> D {
        let x = theta[0].clone();
        if i == 0 { x.powi(4) } else { -x * 3.0 }
    }
}

#[test]
fn non_finite_stops_and_keeps_the_last_finite_iterate() {
    let p = problem_from(AutoDiff(Blowup), vec![0.0]);
    // x = 2 → −27 → 78708 → … the quartic overflows within a few steps.
    let r = run(
        &p,
        &[2.0],
        &Method::LossFlow(StepRule::fixed(1.0)),
        &steps(50),
    )
    .unwrap();
    assert_eq!(r.stop, StopReason::NonFinite);
    assert!(r.steps >= 3 && r.steps < 10, "{} steps", r.steps);
    assert!(!r.stop.is_success());
    assert!(r.theta[0].is_finite());
    assert!(r.total_loss.is_finite());
    assert!(r.b.is_some());
    // The kept iterate is exactly the last accepted one: a huge B-flow step from x = 2 is
    // refused and θ stays 2, bit for bit.
    let r = run(
        &p,
        &[2.0],
        &Method::BFlow(StepRule::fixed(1e300)),
        &steps(10),
    )
    .unwrap();
    assert_eq!(
        (r.stop, r.theta.as_slice()),
        (StopReason::NonFinite, &[2.0][..])
    );
}

#[test]
fn stagnation_stops_at_the_floor() {
    let p = builtin::<f64>("e3").unwrap();
    let limits = Limits {
        max_steps: 100_000,
        stagnation_steps: Some(10),
        ..Limits::default()
    };
    let r = run(&p, &p.start, &bflow(), &limits).unwrap();
    assert!(
        matches!(
            r.stop,
            StopReason::Stagnated | StopReason::ExactEquilibrium | StopReason::FixedPoint
        ),
        "{:?}",
        r.stop
    );
    assert!(r.steps < 1000, "took {} steps", r.steps);
    assert!(r.floor_reached);
}

#[test]
fn two_phase_switches_then_reaches_the_floor() {
    let p = builtin::<f64>("e3").unwrap();
    let method = Method::TwoPhase {
        loss: StepRule::fixed(0.05 / 3.0),
        balance: StepRule::fixed(0.5),
        eps_switch: 1e-2,
    };
    let mut bs = Vec::new();
    let r = run_observed(&p, &p.start, &method, &steps(300), &mut b_trace(&mut bs)).unwrap();
    let k = r.switched_at.expect("never switched");
    assert!(k > 0);
    // Before the switch, B/2 ≥ ε_switch; from it on, below.
    assert!(bs[k - 1].unwrap() / 2.0 >= 1e-2);
    assert!(bs[k].unwrap() / 2.0 < 1e-2);
    assert!(r.floor_reached, "||s|| = {:e}", r.sum_norm);
    assert!(r.distance.unwrap() < 4e-15);
}

#[test]
fn f32_bflow_reaches_the_f32_floor() {
    let p = builtin::<f32>("e3").unwrap();
    let r = run(
        &p,
        &p.start,
        &Method::BFlow(StepRule::fixed(0.5)),
        &Limits {
            max_steps: 200,
            ..Limits::default()
        },
    )
    .unwrap();
    assert!(
        r.floor_reached,
        "||s|| = {:e}, floor {:e}",
        r.sum_norm, r.floor
    );
    let d = r.distance.unwrap();
    assert!(d < 8.0 * f32::EPSILON, "f32 distance {d:e}");
    assert!(d > 0.0 || r.stop == StopReason::ExactEquilibrium);
}

#[test]
fn time_limit_stops_and_observer_sees_every_step() {
    let p = builtin::<f64>("e3").unwrap();
    let zero = Limits {
        max_time: Some(std::time::Duration::ZERO),
        ..Limits::default()
    };
    let r = run(&p, &p.start, &bflow(), &zero).unwrap();
    assert_eq!((r.stop, r.steps), (StopReason::TimeLimit, 0));
    let mut seen = Vec::new();
    let r = run_observed(
        &p,
        &p.start,
        &bflow(),
        &steps(25),
        &mut |at: &Observation<'_, f64>| {
            seen.push((at.step, at.stats.sum_norm));
            ControlFlow::Continue(())
        },
    )
    .unwrap();
    assert_eq!(seen.len(), r.steps + 1);
    assert_eq!(seen.last().unwrap().0, 25);
    assert_eq!(seen.last().unwrap().1, r.sum_norm);
    // An observer may stop the run.
    let r = run_observed(
        &p,
        &p.start,
        &bflow(),
        &steps(25),
        &mut |at: &Observation<'_, f64>| {
            if at.step == 3 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        },
    )
    .unwrap();
    assert_eq!((r.stop, r.steps), (StopReason::Interrupted, 3));
}

#[test]
fn an_observation_reads_the_time_since_its_run_started() {
    let p = builtin::<f64>("e3").unwrap();
    let mut elapsed = Vec::new();
    run_observed(
        &p,
        &p.start,
        &bflow(),
        &steps(3),
        &mut |at: &Observation<'_, f64>| {
            // The clock is read when asked: a time taken before the question counts.
            std::thread::sleep(std::time::Duration::from_millis(2));
            elapsed.push(at.elapsed());
            ControlFlow::Continue(())
        },
    )
    .unwrap();
    assert_eq!(elapsed.len(), 4);
    for (k, t) in elapsed.iter().enumerate() {
        let slept = std::time::Duration::from_millis(2 * (k as u64 + 1));
        assert!(
            *t >= slept,
            "observation {k}: {t:?} since the start, {slept:?} slept"
        );
    }
}

#[test]
fn target_b_and_counts() {
    let p = builtin::<f64>("e2").unwrap();
    let limits = Limits {
        target_b: Some(1e-10),
        ..Limits::default()
    };
    let mut bs = Vec::new();
    let r = run_observed(&p, &p.start, &bflow(), &limits, &mut b_trace(&mut bs)).unwrap();
    assert_eq!(r.stop, StopReason::TargetReached);
    assert!(r.b.unwrap() <= 1e-10);
    assert_eq!(bs.len(), r.steps + 1);
    assert_eq!(r.counts.gradients, 3 * (r.steps as u64 + 1));
    assert_eq!(r.counts.hvps, 3 * r.steps as u64);
}

#[test]
fn bad_parameters_and_start_are_errors() {
    let p = builtin::<f64>("e2").unwrap();
    assert!(matches!(
        run(&p, &p.start, &Method::BFlow(StepRule::fixed(-1.0)), &Limits::default()),
        Err(Error::InvalidParameter { ref name, .. }) if name == "step"
    ));
    assert!(matches!(
        run(&p, &[1.0], &bflow(), &Limits::default()),
        Err(Error::DimensionMismatch {
            expected: 2,
            found: 1,
            ..
        })
    ));
    assert!(matches!(
        run(&p, &[f64::NAN, 0.0], &bflow(), &Limits::default()),
        Err(Error::NonFiniteStart { .. })
    ));
}

fn methods() -> Vec<Method<f64>> {
    let mut v = Vec::new();
    for rule in [StepRule::armijo(), StepRule::lbfgs()] {
        v.push(Method::LossFlow(rule));
        v.push(Method::BFlow(rule));
    }
    v.push(Method::Newton(NewtonParams::default()));
    v
}

fn floor_limits() -> Limits<f64> {
    Limits {
        max_steps: 20_000,
        floor_steps: Some(3),
        ..Limits::default()
    }
}

#[test]
fn every_method_reaches_the_floor_on_convex_quadratics() {
    let e3 = builtin::<f64>("e3").unwrap();
    let quad = crate::problems::suite::random_quadratic::<f64>(4, 10, 100.0, 11).unwrap();
    for (p, dist_tol) in [(&e3, 4e-15), (&quad, 1e-11)] {
        let mut cases = methods();
        // The fixed rule with a step that is stable for each problem.
        let lmax = if p.name == "e3" { 6.0 } else { 4.0 * 100.0 };
        cases.push(Method::LossFlow(StepRule::fixed(1.0 / lmax)));
        for method in cases {
            if p.name != "e3" && method == Method::BFlow(StepRule::armijo()) {
                // Steepest descent on B sees κ² = 1e4 (B ≈ ‖J e‖²/Q): it needs ~1e5 steps
                // here. Measured, not assumed: still far from the floor at 20 000.
                let r = run(p, &p.start, &method, &floor_limits()).unwrap();
                assert!(!r.floor_reached && r.sum_norm > 1e-6, "{:e}", r.sum_norm);
                continue;
            }
            let r = run(p, &p.start, &method, &floor_limits()).unwrap();
            let what = format!(
                "{} {} {} ({:?})",
                p.name,
                method,
                method.rule_name(),
                r.stop
            );
            assert!(
                r.floor_reached,
                "{what}: ||s|| {:e} floor {:e}",
                r.sum_norm, r.floor
            );
            assert!(
                matches!(
                    r.stop,
                    StopReason::FloorReached | StopReason::ExactEquilibrium
                ),
                "{what}"
            );
            assert!(
                r.distance.unwrap() < dist_tol,
                "{what}: {:e}",
                r.distance.unwrap()
            );
            let to_floor = r.evaluations_to_floor.expect("floor reached");
            assert!(to_floor <= r.counts.gradient_equivalents(), "{what}");
            assert_eq!(r.rule_name(), method.rule_name());
        }
    }
    // B-flow with its fixed step reaches the floor on E3 (the seed's setting).
    let r = run(&e3, &e3.start, &bflow(), &floor_limits()).unwrap();
    assert!(
        r.floor_reached && r.stop == StopReason::FloorReached,
        "{:?}",
        r.stop
    );
}

#[test]
fn matrix_free_newton_agrees_with_dense_newton() {
    let quad = crate::problems::suite::random_quadratic::<f64>(3, 12, 100.0, 5).unwrap();
    let newton = |linear_solver| {
        Method::Newton(NewtonParams {
            linear_solver,
            ..NewtonParams::default()
        })
    };
    let mf = run(
        &quad,
        &quad.start,
        &newton(LinearSolver::MatrixFree),
        &floor_limits(),
    )
    .unwrap();
    let dense = run(
        &quad,
        &quad.start,
        &newton(LinearSolver::Dense),
        &floor_limits(),
    )
    .unwrap();
    for r in [&mf, &dense] {
        assert!(r.floor_reached, "||s|| {:e}", r.sum_norm);
        assert!(r.distance.unwrap() < 1e-11);
        // A quadratic: one full Newton step lands at the floor (plus the floor_steps).
        assert!(r.steps <= 5, "{} steps", r.steps);
    }
    // Matrix-free: HVPs come only in sweeps over the K = 3 objectives, never as an n·K
    // Hessian; the dense path takes n·K = 36 per Jacobian.
    assert_eq!(mf.counts.hvps % 3, 0);
    assert!(mf.linear_iterations > 0 && mf.linear_iterations <= 13 * mf.steps);
    assert_eq!(dense.counts.hvps % 36, 0);
    assert_eq!(dense.linear_iterations, 0);
}

#[test]
fn newton_reaches_saddles_maxima_and_common_stationary_points() {
    // Himmelblau split into its two squares: every one of its nine stationary points is an
    // equilibrium; at the four minima both gradients vanish (B is 0/0 there), at the
    // maximum and the saddles they do not. Newton on s = 0 converges to each from nearby.
    let p = builtin::<f64>("himmelblau-split").unwrap();
    let cases = [
        ([3.1, 1.9], [3.0, 2.0]),
        ([-0.3, -0.9], [-0.270845, -0.923039]),
        ([0.1, 2.9], [-0.127961, -1.953715]),
    ];
    let limits = Limits {
        max_steps: 100,
        floor_steps: Some(1),
        step_tolerance: Some(1e-14),
        ..Limits::default()
    };
    let method = Method::Newton(NewtonParams::default());
    let r = run(&p, &cases[0].0, &method, &limits).unwrap();
    assert!(
        (r.theta[0] - 3.0).abs() < 1e-12 && (r.theta[1] - 2.0).abs() < 1e-12,
        "{:?}",
        r.theta
    );
    assert!(r.max_gradient_norm < 1e-10, "common stationary");
    let r = run(&p, &cases[1].0, &method, &limits).unwrap();
    assert!(
        (r.theta[0] - cases[1].1[0]).abs() < 1e-5 && (r.theta[1] - cases[1].1[1]).abs() < 1e-5,
        "maximum: {:?}",
        r.theta
    );
    assert!(r.floor_reached);
}

#[test]
fn floor_stop_triggers_and_records_the_work_to_the_floor() {
    let p = builtin::<f64>("e3").unwrap();
    let limits = Limits {
        max_steps: 100_000,
        floor_steps: Some(4),
        ..Limits::default()
    };
    let mut rows = Vec::new();
    let r = run_observed(&p, &p.start, &bflow(), &limits, &mut |at: &Observation<
        '_,
        f64,
    >| {
        rows.push((at.counts.gradient_equivalents(), at.stats.sum_norm));
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(r.stop, StopReason::FloorReached);
    assert!(r.stop.is_success());
    let first = rows
        .iter()
        .position(|row| row.0 == r.evaluations_to_floor.unwrap())
        .expect("the iterate where the floor was first reached");
    // The run ended 4 iterates later, all at the floor.
    assert_eq!(first + 3, r.steps);
    assert!(rows[first].1 <= FLOOR_FACTOR * 1e-13);
    assert!(r.steps < 1000, "{} steps", r.steps);
    // B's floor is (ε Σ‖g_i‖)²/Q, far below ε.
    assert!(r.b.unwrap() < 1e-28, "B = {:e}", r.b.unwrap());
}

#[test]
fn interpolated_backtracking_lands_on_a_quadratics_minimiser() {
    // E1 from −3 (as below): halving tries θ = 11, 4 and 0.5. Interpolating, the quadratic
    // through Σ L(−3) = 37, the slope −196 and Σ L(11) = 233 has its minimum at α = 196/784
    // = ¼, within [α/10, α/2]: the second trial is θ = 0.5, where s = 0 exactly.
    let p = builtin::<f64>("e1").unwrap();
    let rule = |interpolate| {
        Method::LossFlow(StepRule::Armijo(ArmijoParams {
            interpolate,
            ..ArmijoParams::default()
        }))
    };
    let r = run(&p, &p.start, &rule(true), &floor_limits()).unwrap();
    assert_eq!(r.stop, StopReason::ExactEquilibrium);
    assert_eq!((r.steps, r.trial_points), (1, 2));
    assert_eq!(r.theta, [0.5]);
    let halving = run(&p, &p.start, &rule(false), &floor_limits()).unwrap();
    assert_eq!((halving.steps, halving.trial_points), (1, 3));
    assert_eq!(halving.theta, [0.5]);
}

#[test]
fn line_search_trials_are_counted_exactly() {
    // E1 from −3: s = 4θ − 2 = −14, Σ L = 37. Armijo from α = 1 tries θ = 11 (Σ L = 233),
    // θ = 4 (Σ L = 37, not a sufficient decrease) and θ = 0.5, where s = 0 exactly.
    let p = builtin::<f64>("e1").unwrap();
    let r = run(
        &p,
        &p.start,
        &Method::LossFlow(StepRule::armijo()),
        &floor_limits(),
    )
    .unwrap();
    assert_eq!(r.stop, StopReason::ExactEquilibrium);
    assert_eq!(r.steps, 1);
    assert_eq!(r.trial_points, 3);
    assert_eq!(
        r.counts,
        EvalCounts {
            losses: 8,
            gradients: 8,
            hvps: 0
        }
    );
    assert_eq!(r.counts.gradient_equivalents(), 8);
    assert_eq!(r.evaluations_to_floor, Some(8));
    // B-flow: K gradients per evaluated point, K HVPs per ∇B (one per step begun).
    let e3 = builtin::<f64>("e3").unwrap();
    for rule in [StepRule::armijo(), StepRule::lbfgs()] {
        let r = run(&e3, &e3.start, &Method::BFlow(rule), &floor_limits()).unwrap();
        assert_eq!(r.counts.gradients, 3 * (1 + r.trial_points as u64));
        let begun = r.steps as u64
            + u64::from(r.stop != StopReason::FloorReached || r.trial_points > r.steps);
        assert!(
            r.counts.hvps == 3 * r.steps as u64 || r.counts.hvps == 3 * begun,
            "{} hvps, {} steps",
            r.counts.hvps,
            r.steps
        );
        assert!(r.trial_points >= r.steps);
    }
    // Newton (dense, n = 4, K = 3): 12 HVPs per Jacobian.
    let r = run(
        &e3,
        &e3.start,
        &Method::Newton(NewtonParams::default()),
        &floor_limits(),
    )
    .unwrap();
    assert_eq!(r.counts.hvps % 12, 0);
    assert!(r.counts.hvps >= 12 * r.steps as u64);
    assert_eq!(r.counts.gradients, 3 * (1 + r.trial_points as u64));
}

#[test]
fn a_budget_in_gradient_equivalents_stops_the_run() {
    let p = builtin::<f64>("e3").unwrap();
    let limits = Limits {
        max_evaluations: Some(100),
        max_steps: 100_000,
        ..Limits::default()
    };
    let r = run(&p, &p.start, &bflow(), &limits).unwrap();
    assert_eq!(r.stop, StopReason::MaxEvaluations);
    // 3 at the start, 9 per step: the first count ≥ 100 is 3 + 9·11 = 102.
    assert_eq!(r.counts.gradient_equivalents(), 102);
    assert_eq!(r.steps, 11);
}

#[test]
fn at_a_saddle_of_the_total_loss_only_balance_methods_converge() {
    let p = crate::problems::suite::saddle_split::<f64>();
    for method in methods() {
        let limits = Limits {
            max_evaluations: Some(20_000),
            ..floor_limits()
        };
        let r = run(&p, &p.start, &method, &limits).unwrap();
        let converged = r.floor_reached && r.distance.unwrap() < 1e-14;
        let expect = !matches!(method, Method::LossFlow(_));
        assert_eq!(
            converged,
            expect,
            "{method} {}: {:?} d = {:e}",
            method.rule_name(),
            r.stop,
            r.distance.unwrap()
        );
    }
}

#[test]
fn region_step_cap_and_gradient_tolerance() {
    // Loss-flow on E2 from (−3, −3) with a step cap never moves farther than the cap, and a
    // region that excludes the equilibrium ends the run as escaped.
    let p = builtin::<f64>("e2").unwrap();
    let mut moves = Vec::new();
    let mut last = p.start.clone();
    let limits = Limits {
        max_step: Some(0.1),
        region: Some(vec![(-4.0, 0.0), (-4.0, 0.0)]),
        ..Limits::default()
    };
    let r = run_observed(
        &p,
        &p.start,
        &Method::LossFlow(StepRule::armijo()),
        &limits,
        &mut |at: &Observation<'_, f64>| {
            moves.push(crate::real::distance(at.theta, &last));
            last = at.theta.to_vec();
            ControlFlow::Continue(())
        },
    )
    .unwrap();
    assert_eq!(r.stop, StopReason::Escaped);
    assert!(moves.iter().all(|&m| m <= 0.1 * (1.0 + 1e-12)), "{moves:?}");
    // B-flow stops where ‖∇B‖ falls below the tolerance.
    let limits = Limits {
        gradient_tolerance: Some(1e-6),
        max_steps: 10_000,
        ..Limits::default()
    };
    let r = run(&p, &p.start, &Method::BFlow(StepRule::armijo()), &limits).unwrap();
    assert!(
        matches!(
            r.stop,
            StopReason::GradientTolerance | StopReason::ExactEquilibrium
        ),
        "{:?}",
        r.stop
    );
}

#[test]
fn parameters_are_checked_by_name() {
    let p = builtin::<f64>("e2").unwrap();
    let cases: Vec<(Method<f64>, &str)> = vec![
        (
            Method::BFlow(StepRule::Armijo(ArmijoParams {
                shrink: 1.0,
                ..ArmijoParams::default()
            })),
            "armijo.shrink",
        ),
        (
            Method::LossFlow(StepRule::Lbfgs(LbfgsParams {
                memory: 0,
                ..LbfgsParams::default()
            })),
            "lbfgs.memory",
        ),
        (
            Method::Newton(NewtonParams {
                accept_ratio: 1.5,
                ..NewtonParams::default()
            }),
            "newton.accept_ratio",
        ),
        (
            Method::TwoPhase {
                loss: StepRule::fixed(0.01),
                balance: StepRule::fixed(0.0),
                eps_switch: 1e-3,
            },
            "balance.step",
        ),
    ];
    for (method, expect) in cases {
        match run(&p, &p.start, &method, &Limits::default()) {
            Err(Error::InvalidParameter { name, .. }) => assert_eq!(name, expect),
            other => panic!("{expect}: {other:?}"),
        }
    }
    let limits = Limits {
        floor_steps: Some(0),
        ..Limits::default()
    };
    assert!(matches!(
        run(&p, &p.start, &bflow(), &limits),
        Err(Error::InvalidParameter { ref name, .. }) if name == "floor_steps"
    ));
}

#[test]
fn the_trace_streams_and_the_series_stays_bounded() {
    let p = builtin::<f64>("e3").unwrap();
    let mut buffer = Vec::new();
    let mut trace = TraceCsv::new(&mut buffer);
    let mut series = Series::new(16);
    let r = run_observed(
        &p,
        &p.start,
        &bflow(),
        &steps(200),
        &mut Observers(vec![&mut trace, &mut series]),
    )
    .unwrap();
    assert_eq!(trace.finish().unwrap(), 201);
    let text = String::from_utf8(buffer).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 202);
    assert!(lines[0].starts_with("step,theta_1,theta_2,theta_3,theta_4,B,sum_norm"));
    assert!(lines[201].starts_with("200,"));
    let points = series.points();
    assert!(points.len() <= 17 && points.len() >= 8, "{}", points.len());
    assert_eq!(points.last().unwrap().step, r.steps);
    assert_eq!(points[0].step, 0);
    assert!(points.windows(2).all(|w| w[0].step < w[1].step));
}

/// Two quadratics times `c` with the equilibrium (0, 1/4): B-flow's path does not depend on
/// `c`, so it must run the same at `c = 1e−310` (subnormal gradients, whose largest entry's
/// inverse overflows) as at `c = 1`, and at `c = 1e307`.
#[test]
fn bflow_and_newton_are_scale_free_down_to_subnormal_gradients() {
    let reference = |c: f64, method: &Method<f64>| {
        let text = format!(
            "vars = [\"x\", \"y\"]\n[[objective]]\nexpr = \"{c:e}*(x-1)^2 + {c:e}*y^2\"\n\
             [[objective]]\nexpr = \"{c:e}*(x+1)^2 + {c:e}*(y-0.5)^2\"\n"
        );
        let p = crate::objectives::problem_file::parse_problem(&text, "c.toml").unwrap();
        let limits = Limits {
            max_steps: 60,
            ..Limits::default()
        };
        run(&p, &[0.3, 0.2], method, &limits).unwrap()
    };
    let bflow = Method::BFlow(StepRule::fixed(0.5));
    let one = reference(1.0, &bflow);
    for c in [1e-310, 1e-300, 1e300, 1e307] {
        let r = reference(c, &bflow);
        assert_ne!(r.stop, StopReason::NonFinite, "c = {c:e}");
        assert_eq!(r.steps, one.steps, "c = {c:e}");
        let b = r.b.unwrap();
        assert!((0.0..=2.0).contains(&b), "c = {c:e}: B = {b}");
        // Subnormal gradients carry fewer digits: the path agrees to what they hold.
        let tol = if c < 1e-300 { 1e-4 } else { 1e-12 };
        assert!(
            r.theta
                .iter()
                .zip(&one.theta)
                .all(|(a, b)| (a - b).abs() <= tol),
            "c = {c:e}: {:?} vs {:?}",
            r.theta,
            one.theta
        );
        let newton = reference(c, &Method::Newton(NewtonParams::default()));
        assert!(newton.stop.is_success(), "c = {c:e}: {:?}", newton.stop);
        assert!(
            (newton.theta[0]).abs() < 1e-9 && (newton.theta[1] - 0.25).abs() < 1e-9,
            "c = {c:e}: {:?}",
            newton.theta
        );
    }
}

#[test]
fn one_objective_refuses_the_bflow_methods_and_runs_the_others() {
    let problem = crate::objectives::parse_problem(
        "vars = [\"x\"]\n[[objective]]\nexpr = \"(x - 1)^2\"\n",
        "p.toml",
    )
    .unwrap();
    let limits = Limits::default();
    for method in [
        Method::BFlow(StepRule::fixed(0.5)),
        Method::BFlowCentral {
            rule: StepRule::fixed(0.5),
            h: 1e-4,
        },
        Method::TwoPhase {
            loss: StepRule::fixed(0.1),
            balance: StepRule::fixed(0.5),
            eps_switch: 1e-3,
        },
    ] {
        let e = run(&problem, &[3.0], &method, &limits).unwrap_err();
        assert!(
            matches!(&e, Error::InvalidParameter { name, .. } if name == "method"),
            "{e}"
        );
    }
    let newton = Method::Newton(NewtonParams::default());
    let r = run(&problem, &[3.0], &newton, &limits).unwrap();
    assert!((r.theta[0] - 1.0).abs() < 1e-12, "{:?}", r.theta);
}

#[test]
fn limits_for_run_turn_zero_windows_off() {
    let off: Limits<f64> = Limits::for_run(50, 0, 0, None);
    assert_eq!(
        (off.max_steps, off.floor_steps, off.stagnation_steps),
        (50, None, None)
    );
    assert_eq!(
        off,
        Limits {
            max_steps: 50,
            ..Limits::default()
        }
    );
    let on: Limits<f64> = Limits::for_run(7, 3, 20, Some(std::time::Duration::from_secs(2)));
    assert_eq!((on.floor_steps, on.stagnation_steps), (Some(3), Some(20)));
    assert_eq!(on.max_time, Some(std::time::Duration::from_secs(2)));
    on.validate(0).unwrap();
}

/// Forwards everything but `losses_gradients_and_sum_hessian`, which keeps the trait's
/// default (two calls).
struct Unfused(Box<dyn crate::objectives::Objectives<f64>>);

impl crate::objectives::Objectives<f64> for Unfused {
    fn num_objectives(&self) -> usize {
        self.0.num_objectives()
    }
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn loss(&self, i: usize, theta: &[f64]) -> f64 {
        self.0.loss(i, theta)
    }
    fn gradient(&self, i: usize, theta: &[f64], grad: &mut [f64]) {
        self.0.gradient(i, theta, grad)
    }
    fn hvp(&self, i: usize, theta: &[f64], v: &[f64], hvp: &mut [f64]) {
        self.0.hvp(i, theta, v, hvp)
    }
    fn losses_and_gradients(&self, theta: &[f64], losses: &mut [f64], gradients: &mut [f64]) {
        self.0.losses_and_gradients(theta, losses, gradients)
    }
    fn sum_hessian(&self, theta: &[f64], out: &mut [f64]) {
        self.0.sum_hessian(theta, out)
    }
}

#[test]
fn newton_trials_that_bring_their_hessian_change_no_iterate() {
    // A dense Newton step takes the Hessian at θ from the accepted trial that made θ (one
    // fused sweep of the compiled tape) instead of a sweep of its own: the same iterates to
    // the bit as with the two calls, and the same Hessians counted per step or more (a
    // rejected trial's Hessian is evaluated too).
    let text = "vars = [\"x\", \"y\", \"z\"]\n\
        [[objective]]\nexpr = \"-1.2 * exp(-((x - 0.4)^2 + (y + 1)^2 + z^2) / 1.1)\"\n\
        [[objective]]\nexpr = \"2.6 * exp(-((x - 1.1)^2 + y^2 + (z + 0.4)^2) / 1.2)\"\n\
        [[objective]]\nexpr = \"0.25 * (x^2 + y^2 + z^2) + sin(x * y)\"\n";
    let fused = crate::objectives::parse_problem(text, "p.toml").unwrap();
    let mut unfused = crate::objectives::parse_problem(text, "p.toml").unwrap();
    unfused.objectives = Box::new(Unfused(unfused.objectives));
    let method = Method::Newton(NewtonParams::default());
    let mut converged = 0;
    for start in [
        [0.3, -0.2, 0.1],
        [2.0, 1.5, -1.0],
        [-1.0, 0.5, 2.0],
        [1.0, -1.0, -0.5],
    ] {
        let a = run(&fused, &start, &method, &Limits::default()).unwrap();
        let b = run(&unfused, &start, &method, &Limits::default()).unwrap();
        assert_eq!(
            (a.stop, a.steps, a.trial_points),
            (b.stop, b.steps, b.trial_points)
        );
        let bits = |t: &[f64]| t.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&a.theta), bits(&b.theta), "from {start:?}");
        assert_eq!(a.counts.gradients, b.counts.gradients);
        assert!(a.counts.hvps >= b.counts.hvps && a.counts.hvps % 9 == 0);
        // A Hessian from the wrong point (a stale one) stalls the search short of the zero.
        let at_zero = matches!(
            a.stop,
            StopReason::FloorReached | StopReason::FixedPoint | StopReason::StepTolerance
        ) && a.sum_norm <= 1e-12;
        converged += usize::from(at_zero);
    }
    assert!(converged >= 2, "{converged} of 4 runs reached a zero");
}
