//! Mapping throughput on the seed's E4: starts per second of `map_equilibria` with a fixed
//! number of starts (the default searches per start, then de-duplication, classification,
//! certificates, connections); and the connections alone: both steepest-descent paths from
//! every index-1 saddle of a complete map, polished and matched.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use bflow::map::{ConnectionParams, MapParams, connect, map_equilibria};

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

fn bench_connect(c: &mut Criterion) {
    let muller_brown = bflow::objectives::problem_file::load_problem(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/problems/muller-brown.toml"),
    )
    .expect("the example file loads");
    let e4 = bflow::problems::builtin::<f64>("e4").expect("e4 is built in");
    let mut group = c.benchmark_group("connect");
    group.sample_size(10);
    for (name, problem, starts) in [
        ("e4_256", &e4, 256),
        ("e4_2560", &e4, 2560),
        ("muller_brown_256", &muller_brown, 256),
    ] {
        let map = map_equilibria(
            problem,
            &MapParams {
                starts: Some(starts),
                ..MapParams::default()
            },
        )
        .expect("the problem has a region");
        let region = problem.region.clone().expect("checked by the map");
        group.throughput(Throughput::Elements(map.connections.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                connect(
                    problem.objectives.as_ref(),
                    &region,
                    &map.equilibria,
                    &ConnectionParams::default(),
                )
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_map, bench_connect);
criterion_main!(benches);
