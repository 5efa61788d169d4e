//! Mapping throughput on the seed's E4: starts per second of `map_equilibria` with a fixed
//! number of starts (the default searches per start, then de-duplication, classification,
//! certificates).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use bflow::map::{MapParams, map_equilibria};

fn bench_map(c: &mut Criterion) {
    let problem = bflow::problems::builtin::<f64>("e4").expect("e4 is built in");
    let params = MapParams {
        starts: Some(256),
        ..MapParams::default()
    };
    let mut group = c.benchmark_group("map");
    group.sample_size(10);
    group.throughput(Throughput::Elements(256));
    group.bench_function("e4_256_starts", |b| {
        b.iter(|| map_equilibria(&problem, &params).expect("e4 has a region"))
    });
    group.finish();
}

criterion_group!(benches, bench_map);
criterion_main!(benches);
