//! `bflow bench multitask`: the cost of one exact B-flow step against the K gradients, and
//! the memory it adds, on the large multi-task regression class.
//!
//! Measured in one process: generate the problem; reset the kernel's peak-RSS counter
//! (`/proc/self/clear_refs`, Linux) so the peak measures only what comes after the data;
//! then, `repeats` times, time the K losses and gradients at the current iterate through the
//! library's [`Evaluator`] and right after them one fixed-step B-flow step from there through
//! the flow driver — K HVPs along `s − B g_i`, the update and the K losses and gradients, s
//! and B at the new point — and report the medians of the times and of the pairs' ratios;
//! then a Newton run to the floor (quadratic loss).
//!
//! Before generating anything the memory the run needs is estimated (problem data plus the
//! evaluator's `(K + 1 + C)·n` floats, `C = min(K, 4)`, plus the start, θ, the trial point
//! and the solver's two vectors) and a run that does not fit the machine's available memory is refused
//! with the figure.

use std::time::Instant;

use std::ops::ControlFlow;

use bflow::error::Result;
use bflow::flow::{Limits, Method, NewtonParams, Observation, StepRule, solve_with};
use bflow::objectives::evaluator::HVP_CHUNKS;
use bflow::objectives::{Evaluator, Objectives, Undefined};
use bflow::problems::{Loss, MultiTask, MultiTaskParams};

/// What one `bench multitask` run measured.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MultiTaskBench {
    /// n.
    pub n: usize,
    /// K.
    pub k: usize,
    /// Nonzeros per row.
    pub nnz_per_row: usize,
    /// rayon worker threads.
    pub threads: usize,
    /// Median time for the K losses and gradients at an iterate (parallel over objectives),
    /// seconds.
    pub gradient_seconds: f64,
    /// Median time for one exact B-flow step (∇B, the update, the K losses and gradients at
    /// the new point), seconds.
    pub bflow_step_seconds: f64,
    /// The median over repeats of each step's time over the gradient time measured just
    /// before it at the same iterate (target ≤ 2).
    pub step_over_gradients: f64,
    /// Peak resident memory of the process, bytes (`VmHWM`; null where not available).
    pub peak_rss_bytes: Option<u64>,
    /// Bytes of problem data (CSR arrays and targets).
    pub data_bytes: usize,
    /// Peak RSS after the data were generated minus RSS right after it: what the B-flow
    /// steps and the Newton–CG run added, including θ (null where the peak counter could not
    /// be reset).
    pub added_peak_bytes: Option<u64>,
    /// The budget for `added_peak_bytes`: `(K + 1 + C + 5)·n·8 + 1 MiB` — the evaluator's
    /// buffers (`C = min(K, 4)` HVP accumulators), five n-vectors (the driver's θ and trial
    /// point, up to two of the solver — fixed-step B-flow: ∇B; Newton: the step d and J d —
    /// and the bench's start or iterate) and 1 MiB for the rest of the process (thread
    /// stacks, allocator).
    pub memory_budget_bytes: usize,
    /// Bytes of the evaluator's buffers, `(K + 1 + C)·n·8`.
    pub workspace_bytes: usize,
    /// B at the start and after the timed steps (B-flow must be descending).
    pub b_first: f64,
    /// B after the timed steps.
    pub b_last: f64,
    /// Timed pairs (gradients, step).
    pub repeats: usize,
    /// The matrix-free Newton–CG run to the floor (quadratic loss only; null otherwise).
    pub newton: Option<NewtonBench>,
}

/// A Newton run (matrix-free: truncated MINRES over HVPs) from θ = 0 on the quadratic
/// multi-task problem.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct NewtonBench {
    /// Why it stopped.
    pub stop: &'static str,
    /// Newton steps.
    pub steps: usize,
    /// MINRES iterations over all steps.
    pub linear_iterations: usize,
    /// `||s||` at the end.
    pub sum_norm: f64,
    /// The floor estimate `ε Σ ||g_i||` there.
    pub floor: f64,
    /// Whether `||s|| ≤ 4 · floor`.
    pub floor_reached: bool,
    /// Gradient-equivalents used.
    pub gradient_equivalents: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
}

pub(crate) fn proc_status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Resets `VmHWM` to the current RSS (Linux ≥ 4.0); false where that is not possible.
pub(crate) fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn undefined(what: &str, u: Undefined) -> bflow::Error {
    bflow::Error::InvalidParameter {
        name: what.to_string(),
        reason: format!("the generated problem gave {u:?} values"),
    }
}

/// The memory a `bench multitask` run needs, in bytes: the problem data and the run's
/// vectors (see the module docs).
///
/// # Errors
/// As [`MultiTaskParams::validate`].
pub fn estimated_bytes(params: &MultiTaskParams) -> Result<u64> {
    params.validate()?;
    let data = params.data_bytes::<f64>()? as u64;
    let (n, k) = (params.n as u64, params.k as u64);
    let vectors = (k + 1 + k.clamp(1, HVP_CHUNKS as u64) + 5).saturating_mul(n);
    Ok(data.saturating_add(vectors.saturating_mul(8)))
}

/// The median of `values` (the mean of the middle two for an even count); NaN when empty.
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let m = values.len();
    match m {
        0 => f64::NAN,
        _ if m % 2 == 1 => values[m / 2],
        _ => 0.5 * (values[m / 2 - 1] + values[m / 2]),
    }
}

/// Runs the benchmark (see the module docs). `step` is the B-flow step size used for the
/// timed steps.
///
/// # Errors
/// As [`MultiTask::generate`] for bad sizes; [`bflow::Error::InvalidParameter`] when the
/// generated problem gives non-finite or degenerate values.
pub fn bench_multitask(
    params: &MultiTaskParams,
    repeats: usize,
    step: f64,
) -> Result<MultiTaskBench> {
    let repeats = repeats.max(1);
    let mt = MultiTask::<f64>::generate(params)?;
    let data_bytes = mt.data_bytes();
    let n = mt.dim();
    let k = mt.num_objectives();
    let can_reset = reset_peak_rss();
    let baseline_kib = proc_status_kib("VmRSS:");
    let mut theta = vec![0.0; n];
    let mut eval = Evaluator::new(&mt);
    let (first, _) = eval.evaluate(&theta).map_err(|u| undefined("start", u))?;
    // Each repeat times the K gradients at the current iterate, then one B-flow step from
    // there through the driver (the gap between its first two observations: ∇B, the update
    // and the K gradients at the new point), and keeps the pair's ratio. The medians are
    // reported: a disturbance on a shared machine moves one pair, not the figure.
    let mut gradient_times = Vec::with_capacity(repeats);
    let mut step_times = Vec::with_capacity(repeats);
    let mut ratios = Vec::with_capacity(repeats);
    let mut b_last = first.b().unwrap_or(f64::NAN);
    let limits = Limits {
        max_steps: 1,
        ..Limits::default()
    };
    for _ in 0..repeats {
        let t = Instant::now();
        eval.evaluate(&theta).map_err(|u| undefined("iterate", u))?;
        let gradients = t.elapsed().as_secs_f64();
        let mut step_time = None;
        let mut last_seen: Option<Instant> = None;
        let mut observe = |at: &Observation<'_, f64>| {
            let now = Instant::now();
            if let Some(t) = last_seen {
                step_time = Some((now - t).as_secs_f64());
            }
            b_last = at.stats.b().unwrap_or(f64::NAN);
            last_seen = Some(Instant::now());
            ControlFlow::Continue(())
        };
        // The solver's vectors live for this step only: they are not part of the Newton
        // run's memory below.
        let mut solver = Method::BFlow(StepRule::fixed(step)).solver();
        let report = solve_with(&mut eval, &theta, solver.as_mut(), &limits, &mut observe)?;
        drop(solver);
        let Some(step_seconds) = step_time else {
            return Err(bflow::Error::InvalidParameter {
                name: "step".to_string(),
                reason: format!("the B-flow step did not complete ({})", report.stop.code()),
            });
        };
        theta = report.theta;
        gradient_times.push(gradients);
        step_times.push(step_seconds);
        ratios.push(step_seconds / gradients);
    }
    drop(theta);
    let workspace_bytes = eval.buffer_bytes();
    let newton = match params.loss {
        Loss::Quadratic => {
            let mut solver = Method::Newton(NewtonParams::default()).solver();
            let limits = Limits {
                max_steps: 50,
                floor_steps: Some(1),
                ..Limits::default()
            };
            let start = vec![0.0; n];
            let r = solve_with(
                &mut eval,
                &start,
                solver.as_mut(),
                &limits,
                &mut bflow::flow::NoObserver,
            )?;
            Some(NewtonBench {
                stop: r.stop.code(),
                steps: r.steps,
                linear_iterations: r.linear_iterations,
                sum_norm: r.sum_norm,
                floor: r.floor,
                floor_reached: r.floor_reached,
                gradient_equivalents: r.counts.gradient_equivalents(),
                seconds: r.seconds,
            })
        }
        Loss::Logistic => None,
    };
    drop(eval);
    let peak_kib = proc_status_kib("VmHWM:");
    let added_peak_bytes = match (can_reset, peak_kib, baseline_kib) {
        (true, Some(p), Some(b)) => Some(p.saturating_sub(b) * 1024),
        _ => None,
    };
    Ok(MultiTaskBench {
        n,
        k,
        nnz_per_row: params.nnz_per_row,
        threads: rayon::current_num_threads(),
        gradient_seconds: median(&mut gradient_times),
        bflow_step_seconds: median(&mut step_times),
        step_over_gradients: median(&mut ratios),
        peak_rss_bytes: peak_kib.map(|p| p * 1024),
        data_bytes,
        added_peak_bytes,
        memory_budget_bytes: (k + 1 + k.clamp(1, HVP_CHUNKS) + 5) * n * 8 + (1 << 20),
        workspace_bytes,
        b_first: first.b().unwrap_or(f64::NAN),
        b_last,
        repeats,
        newton,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_bench_measures_and_descends() {
        let params = MultiTaskParams {
            n: 2000,
            k: 4,
            ..MultiTaskParams::default()
        };
        let r = bench_multitask(&params, 2, 0.05).unwrap();
        assert_eq!((r.n, r.k), (2000, 4));
        assert!(r.gradient_seconds > 0.0 && r.bflow_step_seconds > 0.0);
        assert!(r.b_last < r.b_first, "B {} → {}", r.b_first, r.b_last);
        let newton = r.newton.unwrap();
        assert!(newton.floor_reached, "{newton:?}");
        // The evaluator holds (K + 1 + C)·n floats, C = min(K, 4) accumulators, whatever the
        // thread count; the measured peak is reported by the bench, not asserted here, since
        // other tests share this process's memory. n = 2000 is below the parallel threshold,
        // so a single accumulator serves.
        assert_eq!(r.workspace_bytes, (4 + 1 + 1) * 2000 * 8);
        assert!(r.workspace_bytes + 3 * 2000 * 8 <= r.memory_budget_bytes);
        let est = estimated_bytes(&params).unwrap();
        assert!(est >= (r.data_bytes + r.workspace_bytes) as u64);
    }
}
