//! The seed's experiments E1–E4 as data, and [`reproduce`], which reruns them.
//!
//! Settings come from the seed's experiment files (restated in the project's reference
//! notes): B-flow with ∇B by central differences of B (`h = 1e-4`) and loss-flow
//! `θ ← θ − η s / c`, each for a fixed number of fixed-size steps. The figures the seed
//! *reported* are kept as the strings it printed, so that agreement can be judged to the
//! precision the seed gave and no more.

use bflow::error::Result;
use bflow::flow::{Limits, Method, RunReport, StepRule, run};
use bflow::objectives::balance_gradient_at;
use bflow::problems::{Problem, builtin};
use bflow::real::{distance, norm_l2};

/// The next `f64` above `x` (for finite `x`).
fn next_up(x: f64) -> f64 {
    x.next_up()
}

/// One figure the seed printed, as printed (`"3.3e-4"`, `"-0.498"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedFigure(pub &'static str);

impl SeedFigure {
    /// The value printed.
    pub fn value(self) -> f64 {
        self.0
            .trim_start_matches('≈')
            .trim()
            .parse()
            .unwrap_or(f64::NAN)
    }

    /// Half a unit in the last digit printed: the figure's own precision. A printed `0` is
    /// an exact claim (the seed said "θ = 0.5 exactly"), so its half unit is 0.
    pub fn half_unit(self) -> f64 {
        if self.value() == 0.0 {
            return 0.0;
        }
        let s = self.0.trim_start_matches('≈').trim().to_ascii_lowercase();
        let (mantissa, exponent) = match s.split_once('e') {
            Some((m, e)) => (m.to_string(), e.parse::<i32>().unwrap_or(0)),
            None => (s.clone(), 0),
        };
        let decimals = mantissa.split_once('.').map_or(0, |(_, d)| d.len() as i32);
        0.5 * 10f64.powi(exponent - decimals)
    }
}

/// One of the seed's experiments: problem and settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeedExperiment {
    /// `"E1"` … `"E4"`.
    pub id: &'static str,
    /// The built-in problem name.
    pub problem: &'static str,
    /// B-flow steps and step size.
    pub bflow_steps: usize,
    /// B-flow η.
    pub bflow_step_size: f64,
    /// Loss-flow steps.
    pub lossflow_steps: usize,
    /// Loss-flow η.
    pub lossflow_step_size: f64,
    /// Loss-flow divisor c (`θ ← θ − η s / c`).
    pub lossflow_divisor: f64,
    /// What the seed reported for B-flow's final distance.
    pub reported_bflow_distance: Option<SeedFigure>,
    /// What the seed reported for loss-flow's final distance.
    pub reported_lossflow_distance: Option<SeedFigure>,
    /// The seed's I at convergence, B-flow.
    pub reported_bflow_interaction: Option<SeedFigure>,
    /// The seed's I at convergence, loss-flow.
    pub reported_lossflow_interaction: Option<SeedFigure>,
    /// The seed's B at B-flow's end.
    pub reported_bflow_b: Option<SeedFigure>,
    /// The seed's total loss at B-flow's end.
    pub reported_bflow_total_loss: Option<SeedFigure>,
    /// The seed's total loss at loss-flow's end.
    pub reported_lossflow_total_loss: Option<SeedFigure>,
    /// The seed's precision ratio (loss-flow distance / B-flow distance).
    pub reported_ratio: Option<SeedFigure>,
}

const NONE: SeedExperiment = SeedExperiment {
    id: "",
    problem: "",
    bflow_steps: 0,
    bflow_step_size: 0.0,
    lossflow_steps: 0,
    lossflow_step_size: 0.0,
    lossflow_divisor: 1.0,
    reported_bflow_distance: None,
    reported_lossflow_distance: None,
    reported_bflow_interaction: None,
    reported_lossflow_interaction: None,
    reported_bflow_b: None,
    reported_bflow_total_loss: None,
    reported_lossflow_total_loss: None,
    reported_ratio: None,
};

/// The seed's experiments with its exact settings and what it reported.
pub const SEED_EXPERIMENTS: [SeedExperiment; 4] = [
    SeedExperiment {
        id: "E1",
        problem: "e1",
        bflow_steps: 200,
        bflow_step_size: 0.5,
        lossflow_steps: 200,
        lossflow_step_size: 0.01,
        lossflow_divisor: 1.0,
        reported_bflow_distance: Some(SeedFigure("0")),
        reported_lossflow_distance: Some(SeedFigure("0.001")),
        ..NONE
    },
    SeedExperiment {
        id: "E2",
        problem: "e2",
        bflow_steps: 500,
        bflow_step_size: 0.5,
        lossflow_steps: 500,
        lossflow_step_size: 0.01,
        lossflow_divisor: 3.0,
        reported_bflow_b: Some(SeedFigure("4.7e-34")),
        reported_lossflow_distance: Some(SeedFigure("0.00023")),
        ..NONE
    },
    SeedExperiment {
        id: "E3",
        problem: "e3",
        bflow_steps: 500,
        bflow_step_size: 0.5,
        lossflow_steps: 500,
        lossflow_step_size: 0.01,
        lossflow_divisor: 3.0,
        reported_bflow_distance: Some(SeedFigure("8.8e-16")),
        reported_lossflow_distance: Some(SeedFigure("3.3e-4")),
        reported_bflow_interaction: Some(SeedFigure("-0.500000000000000")),
        reported_lossflow_interaction: Some(SeedFigure("≈-0.498")),
        reported_ratio: Some(SeedFigure("3.75e11")),
        ..NONE
    },
    SeedExperiment {
        id: "E4",
        problem: "e4",
        bflow_steps: 1000,
        bflow_step_size: 0.01,
        lossflow_steps: 1000,
        lossflow_step_size: 0.001,
        lossflow_divisor: 3.0,
        reported_bflow_total_loss: Some(SeedFigure("135.6")),
        reported_lossflow_total_loss: Some(SeedFigure("54.6")),
        ..NONE
    },
];

/// How a measured figure stands against the seed's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Agreement {
    /// Equal to within half a unit of the seed's last printed digit.
    Agrees,
    /// Both figures are at the floating-point floor, where the last digits depend on the
    /// order of summation: not a disagreement.
    BothAtFloor,
    /// Different beyond the seed's printed precision.
    Disagrees,
}

/// Compares a measured value with the seed's figure. `at_floor` says the measured run
/// reached the floating-point floor; a seed figure below `1e-13` is then taken as the floor
/// too, since only rounding separates such values.
pub fn compare_figure(measured: f64, seed: SeedFigure, at_floor: bool) -> Agreement {
    let v = seed.value();
    if (measured - v).abs() <= seed.half_unit() * (1.0 + 1e-12) {
        Agreement::Agrees
    } else if at_floor && v.abs() < 1e-13 && measured.abs() < 1e-13 {
        Agreement::BothAtFloor
    } else {
        Agreement::Disagrees
    }
}

/// The three runs of one experiment.
#[derive(Debug, Clone)]
pub struct ExperimentRun {
    /// The experiment's settings and the seed's figures.
    pub setting: SeedExperiment,
    /// B-flow as the seed ran it (∇B by central differences).
    pub bflow: RunReport<f64>,
    /// Loss-flow as the seed ran it.
    pub lossflow: RunReport<f64>,
    /// B-flow with the same steps but the exact ∇B.
    pub bflow_exact: RunReport<f64>,
    /// How far the seed B-flow's end point moves when the start moves by one ulp in its
    /// first coordinate: ~1e-16 for a stable flow, O(1) for a chaotic one.
    pub bflow_ulp_sensitivity: f64,
    /// `||∇B||` (exact) at each end point, in the order B-flow, loss-flow, exact B-flow;
    /// `None` where B is degenerate. A small value with `B > 0` marks a spurious minimum of B.
    pub end_grad_b_norms: [Option<f64>; 3],
}

impl ExperimentRun {
    /// Loss-flow's final distance over B-flow's; `None` when either is unknown or B-flow's
    /// distance is exactly 0.
    pub fn ratio(&self) -> Option<f64> {
        match (self.lossflow.distance, self.bflow.distance) {
            (Some(l), Some(b)) if b > 0.0 => Some(l / b),
            _ => None,
        }
    }
}

/// One figure set beside the seed's, with the verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct FigureVerdict {
    /// What the figure is (`"B-flow final distance"`).
    pub figure: &'static str,
    /// What the seed printed.
    pub seed: SeedFigure,
    /// What this run measured.
    pub measured: f64,
    /// How they compare.
    pub agreement: Agreement,
}

impl ExperimentRun {
    /// Each figure the seed reported for this experiment beside this run's.
    pub fn verdicts(&self) -> Vec<FigureVerdict> {
        let s = &self.setting;
        let b_floor = self.bflow.floor_reached;
        let l_floor = self.lossflow.floor_reached;
        let mut out = Vec::new();
        let mut push = |figure, seed: Option<SeedFigure>, measured: Option<f64>, floor| {
            if let (Some(seed), Some(measured)) = (seed, measured) {
                out.push(FigureVerdict {
                    figure,
                    seed,
                    measured,
                    agreement: compare_figure(measured, seed, floor),
                });
            }
        };
        push(
            "B-flow final distance",
            s.reported_bflow_distance,
            self.bflow.distance,
            b_floor,
        );
        push(
            "loss-flow final distance",
            s.reported_lossflow_distance,
            self.lossflow.distance,
            l_floor,
        );
        push("B-flow final B", s.reported_bflow_b, self.bflow.b, b_floor);
        push(
            "I at convergence, B-flow",
            s.reported_bflow_interaction,
            self.bflow.interaction,
            false,
        );
        push(
            "I at convergence, loss-flow",
            s.reported_lossflow_interaction,
            self.lossflow.interaction,
            false,
        );
        push(
            "total loss, B-flow",
            s.reported_bflow_total_loss,
            Some(self.bflow.total_loss),
            false,
        );
        push(
            "total loss, loss-flow",
            s.reported_lossflow_total_loss,
            Some(self.lossflow.total_loss),
            false,
        );
        if let (Some(seed), Some(measured)) = (s.reported_ratio, self.ratio()) {
            // The ratio divides by a distance at the floor, so its digits are the floor's.
            let agreement = match compare_figure(measured, seed, false) {
                Agreement::Disagrees if b_floor => Agreement::BothAtFloor,
                a => a,
            };
            out.push(FigureVerdict {
                figure: "precision ratio (loss-flow / B-flow distance)",
                seed,
                measured,
                agreement,
            });
        }
        out
    }
}

/// Every experiment rerun.
#[derive(Debug, Clone)]
pub struct ReproduceReport {
    /// E1–E4 in order.
    pub experiments: Vec<ExperimentRun>,
}

/// Reruns one experiment: seed B-flow, seed loss-flow and exact B-flow from the
/// problem's start.
///
/// # Errors
/// Only if the catalog lost the problem (a bug), as [`bflow::Error::UnknownProblem`].
pub fn run_experiment(setting: &SeedExperiment) -> Result<ExperimentRun> {
    let problem: Problem<f64> = builtin(setting.problem)?;
    let b_rule = StepRule::fixed(setting.bflow_step_size);
    let central = Method::BFlowCentral {
        rule: b_rule,
        h: 1e-4,
    };
    let loss = Method::LossFlow(StepRule::fixed(
        setting.lossflow_step_size / setting.lossflow_divisor,
    ));
    let steps = |max_steps| Limits {
        max_steps,
        ..Limits::default()
    };
    let bflow = run(
        &problem,
        &problem.start,
        &central,
        &steps(setting.bflow_steps),
    )?;
    let lossflow = run(
        &problem,
        &problem.start,
        &loss,
        &steps(setting.lossflow_steps),
    )?;
    let bflow_exact = run(
        &problem,
        &problem.start,
        &Method::BFlow(b_rule),
        &steps(setting.bflow_steps),
    )?;
    let mut nudged = problem.start.clone();
    nudged[0] = next_up(nudged[0]);
    let bflow_nudged = run(&problem, &nudged, &central, &steps(setting.bflow_steps))?;
    let bflow_ulp_sensitivity = distance(&bflow.theta, &bflow_nudged.theta);
    let end_grad_b_norms = [&bflow, &lossflow, &bflow_exact].map(|r| {
        balance_gradient_at(problem.objectives.as_ref(), &r.theta)
            .ok()
            .map(|g| norm_l2(&g))
    });
    Ok(ExperimentRun {
        setting: *setting,
        bflow,
        lossflow,
        bflow_exact,
        bflow_ulp_sensitivity,
        end_grad_b_norms,
    })
}

/// Reruns E1–E4 under the seed's exact settings.
///
/// # Errors
/// As [`run_experiment`].
pub fn reproduce() -> Result<ReproduceReport> {
    let experiments = SEED_EXPERIMENTS
        .iter()
        .map(run_experiment)
        .collect::<Result<Vec<_>>>()?;
    Ok(ReproduceReport { experiments })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_precision() {
        assert_eq!(SeedFigure("3.3e-4").value(), 3.3e-4);
        assert!((SeedFigure("3.3e-4").half_unit() - 0.05e-4).abs() < 1e-20);
        assert!((SeedFigure("≈-0.498").half_unit() - 0.0005).abs() < 1e-15);
        assert_eq!(SeedFigure("0").half_unit(), 0.0);
        assert_eq!(SeedFigure("0.001").half_unit(), 0.0005);
        assert_eq!(
            compare_figure(3.2876e-4, SeedFigure("3.3e-4"), false),
            Agreement::Agrees
        );
        assert_eq!(
            compare_figure(-0.49999999207, SeedFigure("≈-0.498"), false),
            Agreement::Disagrees
        );
        assert_eq!(
            compare_figure(6.7e-16, SeedFigure("8.8e-16"), true),
            Agreement::BothAtFloor
        );
        assert_eq!(
            compare_figure(6.7e-16, SeedFigure("8.8e-16"), false),
            Agreement::Disagrees
        );
    }
}
