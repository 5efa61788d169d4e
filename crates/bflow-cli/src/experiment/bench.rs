//! `bflow bench multitask`: the cost of one exact B-flow step against the K gradients, and
//! the memory it adds, on the large multi-task regression class.
//!
//! Measured in one process: generate the problem; reset the kernel's peak-RSS counter
//! (`/proc/self/clear_refs`, Linux) so the peak measures only what comes after the data;
//! allocate a [`BalanceWorkspace`]; time the K gradients alone and one full exact B-flow step
//! (K HVPs along `s − B g_i`, the update, and the K gradients, s and B at the new point)
//! `repeats` times each, keeping the fastest (least disturbed) of each.

use std::time::Instant;

use bflow::error::Result;
use bflow::flow::matrix_free::{MatrixFreeParams, run_matrix_free};
use bflow::objectives::{BalanceWorkspace, Objectives, Undefined};
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
    /// Fastest time for the K gradients (parallel over objectives), seconds.
    pub gradient_seconds: f64,
    /// Fastest time for one exact B-flow step (B and ∇B), seconds.
    pub bflow_step_seconds: f64,
    /// `bflow_step_seconds / gradient_seconds` (target ≤ 3).
    pub step_over_gradients: f64,
    /// Peak resident memory of the process, bytes (`VmHWM`; null where not available).
    pub peak_rss_bytes: Option<u64>,
    /// Bytes of problem data (CSR arrays and targets).
    pub data_bytes: usize,
    /// Peak RSS after the data were generated minus RSS right after it: what the B-flow
    /// steps and the Newton–CG run added, including θ (null where the peak counter could not
    /// be reset).
    pub added_peak_bytes: Option<u64>,
    /// The target for `added_peak_bytes`: `(K + 6)·n·8`.
    pub memory_budget_bytes: usize,
    /// Bytes of the workspace buffers, `(K + 1 + T)·n·8`.
    pub workspace_bytes: usize,
    /// B at the start and after the timed steps (B-flow must be descending).
    pub b_first: f64,
    /// B after the timed steps.
    pub b_last: f64,
    /// Repeats of each timing.
    pub repeats: usize,
    /// The matrix-free Newton–CG run to the floor (quadratic loss only; null otherwise).
    pub newton: Option<NewtonBench>,
}

/// A matrix-free Newton–CG run from θ = 0 on the quadratic multi-task problem.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct NewtonBench {
    /// Why it stopped.
    pub stop: &'static str,
    /// Newton steps.
    pub steps: usize,
    /// CG iterations over all steps.
    pub cg_iterations: usize,
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
    let mut ws = BalanceWorkspace::new(&mt);
    let mut theta = vec![0.0; n];
    let first = ws
        .evaluate(&mt, &theta)
        .map_err(|u| undefined("start", u))?;
    let mut gradient_seconds = f64::INFINITY;
    for _ in 0..repeats {
        let t = Instant::now();
        ws.evaluate(&mt, &theta)
            .map_err(|u| undefined("start", u))?;
        gradient_seconds = gradient_seconds.min(t.elapsed().as_secs_f64());
    }
    let workspace_bytes = ws.buffer_bytes();
    let mut bflow_step_seconds = f64::INFINITY;
    let mut last = first;
    for _ in 0..repeats {
        let t = Instant::now();
        last = ws
            .bflow_step(&mt, &mut theta, step)
            .map_err(|u| undefined("step", u))?;
        bflow_step_seconds = bflow_step_seconds.min(t.elapsed().as_secs_f64());
    }
    drop(ws);
    let newton = match params.loss {
        Loss::Quadratic => {
            let mut theta = vec![0.0; n];
            let r = run_matrix_free(&mt, &mut theta, &MatrixFreeParams::default())?;
            Some(NewtonBench {
                stop: r.stop.code(),
                steps: r.steps,
                cg_iterations: r.cg_iterations,
                sum_norm: r.sum_norm,
                floor: r.floor,
                floor_reached: r.floor_reached,
                gradient_equivalents: r.counts.gradient_equivalents(),
                seconds: r.seconds,
            })
        }
        Loss::Logistic => None,
    };
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
        gradient_seconds,
        bflow_step_seconds,
        step_over_gradients: bflow_step_seconds / gradient_seconds,
        peak_rss_bytes: peak_kib.map(|p| p * 1024),
        data_bytes,
        added_peak_bytes,
        memory_budget_bytes: (k + 6) * n * 8,
        workspace_bytes,
        b_first: first.b,
        b_last: last.b,
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
        // The workspace plus θ stays within the (K + 6)·n·8 budget on any machine (at most 4
        // accumulators); the measured peak is reported by the bench, not asserted here, since
        // other tests share this process's memory.
        let t = rayon::current_num_threads().clamp(1, 4);
        assert_eq!(r.workspace_bytes, (4 + 1 + t) * 2000 * 8);
        assert!(r.workspace_bytes + 2000 * 8 <= r.memory_budget_bytes);
    }
}
