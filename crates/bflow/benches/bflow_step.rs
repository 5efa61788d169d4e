//! One exact B-flow step (K gradients + K HVPs + the update) against K gradient
//! evaluations alone, on the multi-task quadratic class at n = 10, 1000, 100 000 (K = 4).
//!
//! Run: `cargo bench --bench bflow_step`. The ratio of the two times is the real cost of a
//! B-flow step in gradient-equivalents (bflow counts it as 3K: one HVP = two gradients).

use std::hint::black_box;

use bflow::objectives::Evaluator;
use bflow::problems::{MultiTaskParams, multitask_problem};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("bflow_step");
    for n in [10usize, 1000, 100_000] {
        let params = MultiTaskParams {
            n,
            k: 4,
            ..MultiTaskParams::default()
        };
        let problem = multitask_problem::<f64>(&params).expect("valid sizes");
        let theta: Vec<f64> = (0..n).map(|j| 0.01 * (j % 17) as f64 - 0.08).collect();
        if n >= 100_000 {
            group.sample_size(20);
        }
        group.bench_with_input(BenchmarkId::new("k_gradients", n), &n, |b, _| {
            let mut eval = Evaluator::new(problem.objectives.as_ref());
            b.iter(|| black_box(eval.evaluate(black_box(&theta)).map(|r| r.0)))
        });
        group.bench_with_input(BenchmarkId::new("exact_bflow_step", n), &n, |b, _| {
            let mut eval = Evaluator::new(problem.objectives.as_ref());
            let mut g = vec![0.0; n];
            let mut next = vec![0.0; n];
            b.iter(|| {
                let (_, id) = eval.evaluate(black_box(&theta)).expect("finite");
                eval.balance_gradient(&theta, id, &mut g).expect("defined");
                for ((x, t), d) in next.iter_mut().zip(&theta).zip(&g) {
                    *x = t - 0.5 * d;
                }
                black_box(&next);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
