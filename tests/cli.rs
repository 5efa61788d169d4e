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
