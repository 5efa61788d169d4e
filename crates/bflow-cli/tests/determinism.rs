//! Same seed, same result, whatever the thread count: every command's JSON is identical with
//! one and with two rayon threads (timing fields aside), including large-n runs, where the
//! evaluator works in parallel.

mod common;

/// Removes every field whose name mentions seconds (wall-clock timings), recursively.
fn without_timing(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            map.retain(|k, _| !k.contains("seconds"));
            map.values_mut().for_each(without_timing);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(without_timing),
        _ => {}
    }
}

/// The JSON `bflow ARGS --json PATH` writes with `threads` rayon threads.
fn json_with_threads(args: &[&str], threads: usize, tag: &str) -> serde_json::Value {
    let path = common::temp_path(&format!("det-{tag}-{threads}.json"));
    let out = common::bflow()
        .args(args)
        .arg("--json")
        .arg(&path)
        .env("RAYON_NUM_THREADS", threads.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut v = common::read_json(&path);
    without_timing(&mut v);
    v
}

fn same_for_one_and_two_threads(args: &[&str], tag: &str) {
    let one = json_with_threads(args, 1, tag);
    let two = json_with_threads(args, 2, tag);
    assert_eq!(one, two, "{args:?} differs between 1 and 2 threads");
}

#[test]
fn run_is_identical_for_every_rule() {
    for (k, rule) in ["fixed", "armijo", "lbfgs", "newton"].iter().enumerate() {
        same_for_one_and_two_threads(
            &["run", "e4", "--rule", rule, "--steps", "200"],
            &format!("run-e4-{k}"),
        );
    }
    for (k, method) in ["loss", "two-phase", "bflow-central"].iter().enumerate() {
        same_for_one_and_two_threads(
            &[
                "run", "e3", "--method", method, "--rule", "armijo", "--steps", "200",
            ],
            &format!("run-e3-{k}"),
        );
    }
}

#[test]
fn large_n_runs_are_identical() {
    // n = 20 000 is above the evaluator's parallel threshold: gradients, s and HVPs run in
    // parallel, with fixed chunks and reduction orders.
    let problem = "multitask:n=20000,k=8";
    for (k, extra) in [
        &["--rule", "fixed", "--steps", "5"][..],
        &["--rule", "lbfgs", "--steps", "5"][..],
        &["--rule", "newton", "--steps", "3"][..],
        &["--rule", "newton", "--matrix-free", "--steps", "3"][..],
    ]
    .iter()
    .enumerate()
    {
        let mut args = vec!["run", problem];
        args.extend_from_slice(extra);
        same_for_one_and_two_threads(&args, &format!("large-{k}"));
    }
}

#[test]
fn map_and_compare_are_identical() {
    same_for_one_and_two_threads(&["map", "e4", "--starts", "256"], "map-e4");
    same_for_one_and_two_threads(&["map", "himmelblau-split"], "map-himmelblau");
    same_for_one_and_two_threads(&["compare", "e3", "--budget", "2000"], "compare-e3");
}
