//! Mapping throughput on the seed's E4: starts per second of `map_equilibria`
//! (B-flow, Newton polish and loss-flow per start, then de-dup, classification, certificates).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use bflow::map::{MapParams, map_equilibria};

fn bench_map(c: &mut Criterion) {
    let problem = bflow::problems::builtin::<f64>("e4").expect("e4 is built in");
    let params = MapParams {
        starts: 256,
        ..MapParams::default()
    };
    let mut group = c.benchmark_group("map");
    group.sample_size(10);
    group.throughput(Throughput::Elements(params.starts as u64));
    group.bench_function("e4_256_starts", |b| {
        b.iter(|| map_equilibria(&problem, &params).expect("e4 has a region"))
    });
    group.finish();
}

criterion_group!(benches, bench_map);
criterion_main!(benches);
