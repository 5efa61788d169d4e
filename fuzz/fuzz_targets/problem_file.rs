//! Fuzzes the TOML problem-file parser: any text must load or fail with an error, never
//! panic. A loaded problem must evaluate its gradients at its start, and a short run from
//! there must either run or be refused with an error (a start is checked when it is used,
//! not when the file is read).
#![no_main]

use bflow::flow::{Limits, Method, StepRule, run};
use bflow::objectives::problem_file::parse_problem;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_problem(text, "fuzz.toml") {
        Ok(p) => {
            let mut g = vec![0.0; p.dim()];
            for i in 0..p.num_objectives() {
                p.objectives.gradient(i, &p.start, &mut g);
            }
            let method = Method::BFlow(StepRule::fixed(0.5));
            let limits = Limits {
                max_steps: 3,
                ..Limits::default()
            };
            match run(&p, &p.start, &method, &limits) {
                Ok(report) => assert!(report.theta.iter().all(|x| x.is_finite())),
                Err(e) => {
                    let _ = e.to_string();
                }
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
