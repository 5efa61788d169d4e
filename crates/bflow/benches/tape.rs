//! The seed's E4 three ways: as a problem file on the compiled tape (what problem files run
//! on), as the same file on the num-dual interpreter (`AutoDiff<ExprObjectives>`), and as
//! the built-in closed form (`problems::builtin("e4")`). Per point: all K losses and
//! gradients (`losses_and_gradients`), one HVP per objective (`hvp`), and the dense
//! Hessian of Σ L (`sum_hessian`) — what the mapping hot loop calls.
//!
//! Run: `cargo bench -p bflow --bench tape`. Each benchmark evaluates 64 points spread over
//! E4's region, so the medians are per 64 points.

use std::hint::black_box;

use bflow::objectives::problem_file::{CompiledObjectives, load_problem_file};
use bflow::objectives::{AutoDiff, Objectives};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

const POINTS: usize = 64;

fn points() -> Vec<[f64; 2]> {
    (0..POINTS)
        .map(|k| {
            let t = k as f64 / POINTS as f64;
            [-5.0 + 10.0 * t, 4.9 - 9.7 * ((7.0 * t) % 1.0)]
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/problems/e4.toml"
    );
    let file = load_problem_file(std::path::Path::new(path)).expect("e4.toml parses");
    let tape = CompiledObjectives::new(&file.objectives).expect("e4.toml compiles");
    let interpreter = AutoDiff(file.objectives.clone());
    let closed = bflow::problems::builtin::<f64>("e4").expect("e4 is built in");
    let backends: [(&str, &dyn Objectives<f64>); 3] = [
        ("tape", &tape),
        ("num_dual", &interpreter),
        ("closed_form", closed.objectives.as_ref()),
    ];
    let pts = points();
    let (k, n) = (3, 2);

    let mut group = c.benchmark_group("e4_losses_and_gradients");
    group.throughput(Throughput::Elements(POINTS as u64));
    for (name, obj) in backends {
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            let (mut losses, mut grads) = (vec![0.0; k], vec![0.0; k * n]);
            b.iter(|| {
                for p in &pts {
                    obj.losses_and_gradients(black_box(p), &mut losses, &mut grads);
                    black_box((&losses, &grads));
                }
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("e4_hvp");
    group.throughput(Throughput::Elements((POINTS * k) as u64));
    for (name, obj) in backends {
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            let (v, mut hv) = ([0.6, -0.8], vec![0.0; n]);
            b.iter(|| {
                for p in &pts {
                    for i in 0..k {
                        obj.hvp(i, black_box(p), &v, &mut hv);
                        black_box(&hv);
                    }
                }
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("e4_sum_hessian");
    group.throughput(Throughput::Elements(POINTS as u64));
    for (name, obj) in backends {
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            let mut h = vec![0.0; n * n];
            b.iter(|| {
                for p in &pts {
                    obj.sum_hessian(black_box(p), &mut h);
                    black_box(&h);
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
