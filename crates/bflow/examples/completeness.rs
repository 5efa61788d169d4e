//! Maps problem files and checks the maps' completeness: the boundary degree against
//! `Σ sign det J`, and the interval branch-and-prune proof, given the map's equilibria and
//! given none. Prints one block per file with the measured seconds.
//!
//! `cargo run --release -p bflow --example completeness -- [--starts N] FILE.toml…`
//! (default 2560 starts). `--wells N` instead proves, from no found points, the n-D coupled
//! double wells `Σ (x_i² − 1)² + 0.1 Σ_{i<j} x_i x_j` on `[−2, 2]ⁿ` (`3ⁿ` stationary
//! points) for n = 2..N.

use std::path::Path;
use std::time::Instant;

use bflow::map::completeness::{DegreeParams, ProofParams, ProofReport, degree_check, prove};
use bflow::map::{MapParams, map_equilibria};
use bflow::objectives::problem_file::{load_problem, parse_problem};

fn summary(r: &ProofReport) -> String {
    format!(
        "{:<10} {:>8.3} s  zeros {:>4}  missed {:>4}  boxes {:>7} (excluded {}, verified {}, \
         covered {}, unresolved {} = {:.2e} of the volume)  enclosures s {} J {}",
        r.status.name(),
        r.seconds,
        r.zeros_in_region,
        r.missed.len(),
        r.boxes_processed,
        r.boxes_excluded,
        r.boxes_verified,
        r.boxes_covered,
        r.boxes_unresolved,
        r.unresolved_volume_fraction,
        r.gradient_enclosures,
        r.hessian_enclosures,
    )
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut starts = 2560;
    if let Some(k) = args.iter().position(|a| a == "--starts") {
        starts = args.get(k + 1).ok_or("--starts needs a number")?.parse()?;
        args.drain(k..k + 2);
    }
    if let Some(k) = args.iter().position(|a| a == "--wells") {
        let max_n: usize = args.get(k + 1).ok_or("--wells needs a number")?.parse()?;
        for n in 2..=max_n {
            let problem = parse_problem(&wells(n), "wells.toml")?;
            let region = problem.region.clone().ok_or("no region")?;
            let r = prove(&*problem.objectives, &region, &[], &ProofParams::default())?;
            println!("wells n = {n}: proof alone {}", summary(&r));
        }
        return Ok(());
    }
    if args.is_empty() {
        return Err("usage: completeness [--starts N] FILE.toml…".into());
    }
    for file in &args {
        let problem = load_problem(Path::new(file))?;
        let region = problem.region.clone().ok_or("the file has no [region]")?;
        let t = Instant::now();
        let map = map_equilibria(
            &problem,
            &MapParams {
                starts: Some(starts),
                ..MapParams::default()
            },
        )?;
        let map_seconds = t.elapsed().as_secs_f64();
        let found: Vec<Vec<f64>> = map.equilibria.iter().map(|e| e.point.clone()).collect();
        println!(
            "{file}: map of {starts} starts found {} in {map_seconds:.2} s",
            found.len()
        );
        let t = Instant::now();
        match degree_check(
            &*problem.objectives,
            &region,
            &found,
            &DegreeParams::default(),
        ) {
            Ok(d) => println!(
                "  degree     {:>8.3} s  boundary {}  Σ sign det J {}  ({} pieces){}",
                t.elapsed().as_secs_f64(),
                d.boundary,
                d.sum_sign_det,
                d.boundary_pieces,
                if d.proves_incomplete() {
                    "  → the map is incomplete"
                } else {
                    ""
                }
            ),
            Err(e) => println!("  degree     none: {e}"),
        }
        let params = ProofParams::default();
        let with_map = prove(&*problem.objectives, &region, &found, &params)?;
        println!("  proof, map  {}", summary(&with_map));
        for q in &with_map.missed {
            println!("    missed {q:?}");
        }
        let alone = prove(&*problem.objectives, &region, &[], &params)?;
        println!("  proof alone {}", summary(&alone));
    }
    Ok(())
}

/// The problem file of the n-D coupled double wells.
fn wells(n: usize) -> String {
    let vars: Vec<String> = (1..=n).map(|i| format!("\"x{i}\"")).collect();
    let mut text = format!("vars = [{}]\n", vars.join(", "));
    for i in 1..=n {
        text += &format!("[[objective]]\nexpr = \"(x{i}^2 - 1)^2\"\n");
    }
    let mut pairs = Vec::new();
    for i in 1..=n {
        for j in i + 1..=n {
            pairs.push(format!("x{i}*x{j}"));
        }
    }
    text += &format!(
        "[[objective]]\nexpr = \"0.1*({})\"\n[region]\n",
        pairs.join(" + ")
    );
    for i in 1..=n {
        text += &format!("x{i} = [-2.0, 2.0]\n");
    }
    text
}
