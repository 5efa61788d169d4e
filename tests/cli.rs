//! The `bflow` binary end to end.

use std::process::Command;

fn bflow() -> Command {
    Command::new(env!("CARGO_BIN_EXE_bflow"))
}

fn temp_path(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("bflow-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn reproduce_prints_the_table_and_writes_json() {
    let json_path = temp_path("reproduce.json");
    let out = bflow()
        .args(["reproduce", "--json"])
        .arg(&json_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "E1",
        "E2",
        "E3",
        "E4",
        "DISAGREES",
        "≈-0.498",
        "-0.500000000000000",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    let exps = v["experiments"].as_array().unwrap();
    assert_eq!(exps.len(), 4);
    let e3 = &exps[2];
    assert_eq!(e3["id"], "E3");
    for run in ["bflow", "lossflow", "bflow_exact"] {
        for field in ["distance", "B", "I", "total_loss", "steps"] {
            assert!(!e3[run][field].is_null(), "E3 {run}.{field} is null");
        }
    }
    let d = e3["lossflow"]["distance"].as_f64().unwrap();
    assert!((d / 3.29e-4 - 1.0).abs() < 0.01);
    // The budget is 500 steps; a run that reaches a fixed point in floating point stops there
    // and says so (every further step would leave θ unchanged).
    let steps = e3["bflow"]["steps"].as_u64().unwrap();
    assert!(steps <= 500);
    if steps < 500 {
        assert_eq!(e3["bflow"]["stop"], "fixed-point");
    }
    assert_eq!(e3["settings"]["bflow"]["steps"], 500);
    // E4 has no known equilibrium: distance is null, not a number.
    assert!(exps[3]["bflow"]["distance"].is_null());
}

#[test]
fn bad_flag_exits_2_with_one_line() {
    let out = bflow().args(["reproduce", "--jsn", "x"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("--jsn"), "{err}");
}

#[test]
fn unwritable_json_path_names_the_file() {
    let out = bflow()
        .args(["reproduce", "--json", "/nonexistent-dir/x.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.starts_with("bflow: error: /nonexistent-dir/x.json"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1);
}

#[test]
fn problems_lists_the_catalog() {
    let out = bflow().arg("problems").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for name in ["e1", "e2", "e3", "e4"] {
        assert!(text.lines().any(|l| l.starts_with(name)), "{name} missing");
    }
}

#[test]
fn compare_one_problem_writes_json_markdown_and_plot() {
    let json_path = temp_path("compare.json");
    let md_path = temp_path("compare.md");
    let svg_path = temp_path("compare.svg");
    let out = bflow()
        .args(["compare", "e3", "--budget", "2000", "--json"])
        .arg(&json_path)
        .arg("--markdown")
        .arg(&md_path)
        .arg("--plot")
        .arg(&svg_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    for needle in ["newton-lm", "B-flow/lbfgs", "claim 5", "verdict:"] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    assert_eq!(v["runs"].as_array().unwrap().len(), 10);
    assert_eq!(v["budget"], 2000);
    let md = std::fs::read_to_string(&md_path).unwrap();
    assert!(md.contains("### Verdicts on the seed's claims"));
    assert!(
        std::fs::read_to_string(&svg_path)
            .unwrap()
            .starts_with("<svg")
    );
}

#[test]
fn compare_rejects_bad_input_with_one_line_naming_the_flag() {
    let out = bflow().args(["compare", "nope"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.starts_with("bflow: error: PROBLEM: `nope` is not in the suite"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1);
    let out = bflow()
        .args(["compare", "e1", "--budget", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("--budget: must be ≥ 1")
    );
}
