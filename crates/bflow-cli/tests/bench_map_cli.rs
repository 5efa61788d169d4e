//! `bflow bench map`: bflow's time to the complete set, and scipy's with --peers.

mod common;

use common::{bflow, read_json, temp_path};

const HIMMELBLAU: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/problems/himmelblau-split.toml"
);

/// The numbers on the `bflow` line: seconds, starts, equilibria, stop reason, starts/s.
fn bflow_line(stdout: &str) -> (f64, usize, usize, String, f64) {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("bflow  adaptive default map:"))
        .unwrap_or_else(|| panic!("no bflow line in:\n{stdout}"));
    let fields: Vec<&str> = line
        .trim_start_matches("bflow  adaptive default map:")
        .split(',')
        .map(str::trim)
        .collect();
    let word = |i: usize, suffix: &str| -> String {
        fields[i]
            .strip_suffix(suffix)
            .unwrap_or_else(|| panic!("field {i} of `{line}` does not end in `{suffix}`"))
            .trim()
            .to_string()
    };
    let seconds: f64 = word(0, "s").parse().unwrap();
    let starts: usize = word(1, "starts").parse().unwrap();
    let found: usize = word(2, "equilibria").parse().unwrap();
    let stop = fields[3].strip_prefix("stop ").unwrap().to_string();
    let rate: f64 = fields[4]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    (seconds, starts, found, stop, rate)
}

/// `bflow bench map HIMMELBLAU EXTRA… --repeats 1 --json JSON`, which must succeed; its stdout.
fn bench_himmelblau(extra: &[&str], json: &std::path::Path) -> String {
    let out = bflow()
        .args(["bench", "map", HIMMELBLAU])
        .args(extra)
        .args(["--repeats", "1", "--json"])
        .arg(json)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn himmelblau_map_is_timed_to_its_nine_equilibria() {
    let json = temp_path("bench-map.json");
    let stdout = bench_himmelblau(&[], &json);
    assert!(
        stdout.starts_with("bench map himmelblau-split (n = 2, K = 2)"),
        "{stdout}"
    );
    let (seconds, starts, found, stop, rate) = bflow_line(&stdout);
    assert_eq!(found, 9, "{stdout}");
    assert_eq!(stop, "complete", "{stdout}");
    assert!(seconds > 0.0 && starts >= 64, "{stdout}");
    assert!(!stdout.contains("scipy"), "{stdout}");
    let v = read_json(&json);
    // starts/s is the median starts over the median seconds; the line prints it rounded.
    let exact = v["bflow"]["starts_per_second"].as_f64().unwrap();
    let median_seconds = v["bflow"]["seconds"].as_f64().unwrap();
    assert!((exact - starts as f64 / median_seconds).abs() <= 1e-9 * exact);
    assert!((rate - exact).abs() <= 0.5 + 1e-9, "{rate} vs {exact}");
    assert!((seconds - median_seconds).abs() <= 0.0005 + 1e-12);
    assert_eq!(v["bflow"]["found"], 9);
    assert_eq!(v["bflow"]["stopped"], "complete");
    assert_eq!(v["bflow"]["starts"].as_u64().unwrap() as usize, starts);
    assert_eq!(v["bflow"]["runs"].as_array().unwrap().len(), 1);
    assert!(v["scipy"].is_null());
}

#[test]
fn bad_input_is_refused_with_exit_code_2() {
    let out = bflow()
        .args(["bench", "map", HIMMELBLAU, "--repeats", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    // A built-in problem has no expressions for scipy.
    let out = bflow()
        .args(["bench", "map", "e4", "--peers", "--repeats", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--peers") && err.contains("problem file"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn peers_reach_the_same_nine_equilibria() {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import numpy, scipy, sympy"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("skipped: python3 with numpy, scipy and sympy is not available");
        return;
    }
    let json = temp_path("bench-map-peers.json");
    let stdout = bench_himmelblau(&["--peers"], &json);
    assert!(
        stdout.contains("scipy  root(hybr) multi-start:"),
        "{stdout}"
    );
    assert!(
        stdout.contains("complete set reached in 1/1 repeats"),
        "{stdout}"
    );
    assert!(stdout.contains("ratio  scipy s / bflow s = "), "{stdout}");
    let v = read_json(&json);
    let run = &v["scipy"]["runs"][0];
    assert_eq!(run["stop"], "complete");
    assert!(
        run["found"].as_u64().unwrap() >= 9 && run["matched"] == 9,
        "{run}"
    );
    assert!(v["scipy"]["ratio"].as_f64().unwrap() > 0.0);
}
