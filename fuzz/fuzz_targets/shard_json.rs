//! Fuzzes reading shard JSON (`bflow map --json` output) and merging it: any text must
//! read or fail with an error, and any shard read must merge into a map of a small problem
//! or be refused with an error — never panic. A merged map's equilibria must be ones the
//! merge verified: inside the region, with a small ‖s‖.
#![no_main]

use bflow::map::{merge, shard_from_json};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let shard = match shard_from_json(text) {
        Ok(s) => s,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let problem = bflow::problems::builtin::<f64>("himmelblau-split").expect("built in");
    match merge(&problem, std::slice::from_ref(&shard)) {
        Ok(map) => {
            let region = problem.region.clone().expect("has a region");
            for e in &map.equilibria {
                assert!(
                    e.point
                        .iter()
                        .zip(&region)
                        .all(|(&x, &(lo, hi))| x >= lo && x <= hi),
                    "{:?} outside the region",
                    e.point
                );
                assert!(e.grad_norm < 1e-6, "‖s‖ = {} at {:?}", e.grad_norm, e.point);
            }
            assert!(map.starts_mapped <= map.params.starts.unwrap_or(0));
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
