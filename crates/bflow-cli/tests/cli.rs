//! The `bflow` binary end to end.

mod common;

use common::{bflow, read_json, temp_path};

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
    let v = read_json(&json_path);
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
fn unwritable_outputs_are_refused_before_any_work_naming_the_flag() {
    // Every command checks its output paths first: exit 2, one line naming the flag and the
    // file, nothing on stdout (no work done), whatever the command.
    let cases: [&[&str]; 10] = [
        &["reproduce", "--json"],
        &["precision", "--json"],
        &["diagnose", "e3", "--json"],
        &["diagnose", "e3", "--csv"],
        &["run", "e3", "--json"],
        &["run", "e3", "--plot"],
        &["compare", "e3", "--budget", "10", "--markdown"],
        &["bench", "multitask", "--n", "10", "--k", "2", "--json"],
        &["bench", "diagnose", "--n", "10", "--k", "2", "--json"],
        &["map", "himmelblau-split", "--json"],
    ];
    for args in cases {
        let flag = args[args.len() - 1];
        let path = if flag == "--plot" {
            "/nonexistent-dir/x.svg"
        } else {
            "/nonexistent-dir/x.json"
        };
        let out = bflow().args(args).arg(path).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?} did work before refusing");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(
            err.starts_with(&format!("bflow: error: {flag}: {path}: cannot write")),
            "{args:?}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
        // `-` is no file and, but for `diagnose --csv -`, no way to ask for stdout either:
        // refused the same way, and no file named `-` appears (a plot path must end in
        // .svg or .png: refused for that first).
        if (args[..2] == ["diagnose", "e3"] && flag == "--csv") || flag == "--plot" {
            continue;
        }
        let dir = common::temp_dir(&format!("dash-{}", args.join("-")));
        let out = bflow()
            .args(args)
            .arg("-")
            .current_dir(&dir)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?} -");
        assert!(out.stdout.is_empty(), "{args:?} - did work before refusing");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(
            err.starts_with(&format!(
                "bflow: error: {flag}: `-` (standard output) is not supported"
            )),
            "{args:?}: {err}"
        );
        assert!(!dir.join("-").exists(), "{args:?} wrote a file named -");
        std::fs::remove_dir_all(&dir).ok();
    }
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
fn run_prints_report_and_writes_json_and_csv() {
    let json_path = temp_path("run.json");
    let csv_path = temp_path("run.csv");
    let out = bflow()
        .args(["run", "e3", "--method", "bflow", "--steps", "400", "--json"])
        .arg(&json_path)
        .arg("--csv")
        .arg(&csv_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("reached"), "{text}");
    let v = read_json(&json_path);
    assert!(v["distance"].as_f64().unwrap() < 4e-15);
    assert_eq!(v["floor_reached"], true);
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "step,theta_1,theta_2,theta_3,theta_4,B,sum_norm,total_loss,gradient_equivalents"
    );
    let steps = v["steps"].as_u64().unwrap() as usize;
    assert_eq!(lines.count(), steps + 1);
}

#[test]
fn run_bad_inputs_exit_2_naming_the_flag() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["run", "e2", "--start", "1,x"],
            "--start: entry 2 `x` is not a number",
        ),
        (
            &["run", "e2", "--start", "1,2,3"],
            "--start: 3 values given, the problem has 2",
        ),
        (
            &["run", "e2", "--step-size", "-1"],
            "--step-size: must be finite and > 0",
        ),
        (
            &["run", "e2", "--eps-switch", "0"],
            "--eps-switch: must be finite and > 0",
        ),
        (&["run", "nosuch"], "unknown problem `nosuch`"),
    ];
    for (args, needle) in cases {
        let out = bflow().args(*args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains(needle), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    }
}

#[test]
fn diagnose_a_problem_point_and_a_gradients_file() {
    let json_path = temp_path("diag.json");
    let out = bflow()
        .args(["diagnose", "e2", "--at", "1.5,0.5", "--json"])
        .arg(&json_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = read_json(&json_path);
    assert!((v["I"].as_f64().unwrap() + 0.418181818181818).abs() < 1e-12);
    assert_eq!(v["degenerate"], false);
    assert_eq!(v["losses"].as_array().unwrap().len(), 3);
    assert_eq!(v["cosine"][1][1], 1.0);

    let grads = temp_path("grads.csv");
    std::fs::write(&grads, "task_a,task_b\n0,0\n0,0\n").unwrap();
    let json2 = temp_path("diag2.json");
    let out = bflow()
        .args(["diagnose", "--gradients"])
        .arg(&grads)
        .arg("--json")
        .arg(&json2)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8(out.stdout).unwrap().contains("undefined"));
    let v = read_json(&json2);
    assert_eq!(v["degenerate"], true);
    assert!(v["B"].is_null());
    assert!(v.get("losses").is_none());
}

#[test]
fn diagnose_bad_gradients_files_exit_2_with_position() {
    let cases = [
        ("empty.csv", "", "empty.csv:1:1: no gradient rows"),
        ("ragged.csv", "1,2\n3\n", "ragged.csv:2:1: row has 1 values"),
        (
            "text.csv",
            "1,2\n3,abc\n",
            "text.csv:2:3: `abc` is not a number",
        ),
        ("one.csv", "1,2\n", "only one gradient row"),
    ];
    for (name, content, needle) in cases {
        let path = temp_path(name);
        std::fs::write(&path, content).unwrap();
        let out = bflow()
            .args(["diagnose", "--gradients"])
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains(needle), "{name}: {err}");
        assert_eq!(err.lines().count(), 1);
    }
    let out = bflow()
        .args(["diagnose", "--gradients", "/nonexistent/g.csv"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn every_example_problem_file_runs() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/problems");
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let mut out = bflow()
                .args(["run", "--steps", "300"])
                .arg(&path)
                .output()
                .unwrap();
            // One objective: B-flow (the default) is refused, loss-flow runs.
            if String::from_utf8_lossy(&out.stderr).contains("with one objective B ≡ 1") {
                assert_eq!(out.status.code(), Some(2));
                out = bflow()
                    .args(["run", "--steps", "300", "--method", "loss"])
                    .arg(&path)
                    .output()
                    .unwrap();
            }
            assert!(
                out.status.success(),
                "{}: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            count += 1;
        }
    }
    assert!(count >= 6, "only {count} example files");
}

#[test]
fn problem_file_errors_exit_2_with_file_line_column() {
    let path = temp_path("bad.toml");
    std::fs::write(
        &path,
        "vars = [\"x\", \"y\"]\n[[objective]]\nexpr = \"(x - 1)^2\"\n[[objective]]\nexpr = \"(x + y * )^2\"\n",
    )
    .unwrap();
    let out = bflow().args(["run"]).arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    let prefix = format!("bflow: error: {}:5:", path.display());
    assert!(err.starts_with(&prefix), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");

    let typo = temp_path("typo.toml");
    std::fs::write(
        &typo,
        "vars = [\"x\"]\n[[objective]]\nexpr = \"x^2\"\n[[objective]]\nexpresion = \"x\"\n",
    )
    .unwrap();
    let out = bflow().args(["diagnose"]).arg(&typo).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("expresion"), "{err}");

    let out = bflow().args(["run", "missing.toml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("missing.toml")
    );
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
    for needle in ["newton", "B-flow/lbfgs", "claim 5", "verdict:"] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    let v = read_json(&json_path);
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
        err.starts_with("bflow: error: PROBLEM: unknown problem `nope`"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1);
    // A budget of 0, or one whose runs would take hours, is refused naming the flag, the
    // range and the value.
    for (budget, shown) in [("0", "got 0"), ("100000001", "got 100000001")] {
        let out = bflow()
            .args(["compare", "e1", "--budget", budget])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(
            err.contains("--budget: must be from 1 to 100000000") && err.contains(shown),
            "{err}"
        );
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn run_plots_svg_and_png() {
    for ext in ["svg", "png"] {
        let path = temp_path(&format!("run-plot.{ext}"));
        let out = bflow()
            .args(["run", "e2", "--steps", "200", "--plot"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let bytes = std::fs::read(&path).unwrap();
        match ext {
            "svg" => assert!(String::from_utf8_lossy(&bytes).contains("<svg")),
            _ => assert_eq!(&bytes[1..4], b"PNG"),
        }
    }
    let out = bflow()
        .args(["run", "e2", "--plot", "x.pdf"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "ran before rejecting the plot path");
}

#[test]
fn compare_accepts_problem_files_and_builtins_outside_the_suite() {
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/problems/saddle.toml"
    );
    let json_path = temp_path("compare-user.json");
    let out = bflow()
        .args(["compare", file, "--budget", "3000", "--json"])
        .arg(&json_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = read_json(&json_path);
    assert!(v.to_string().contains("\"user\""), "class user missing");
    let out = bflow()
        .args(["compare", "himmelblau-split", "--budget", "2000", "--peers"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("peers: skipped"));
    let out = bflow().args(["compare", "nosuch"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nosuch"));
}

#[test]
fn shards_of_a_problem_file_merge_and_foreign_shards_are_refused() {
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/problems/himmelblau-split.toml"
    );
    let (a, b, whole) = (
        temp_path("hf0.json"),
        temp_path("hf1.json"),
        temp_path("hf.json"),
    );
    for (shard, out) in [("0/2", &a), ("1/2", &b)] {
        let st = bflow()
            .args(["map", file, "--starts", "64", "--shard", shard, "--json"])
            .arg(out)
            .output()
            .unwrap();
        assert!(
            st.status.success(),
            "{}",
            String::from_utf8_lossy(&st.stderr)
        );
    }
    let st = bflow()
        .args(["map", file, "--starts", "64", "--json"])
        .arg(&whole)
        .output()
        .unwrap();
    assert!(st.status.success());
    let merged = temp_path("hf-merged.json");
    let st = bflow()
        .arg("merge")
        .arg(&a)
        .arg(&b)
        .arg("--json")
        .arg(&merged)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let strip = |mut v: serde_json::Value| {
        v.as_object_mut().unwrap().remove("seconds");
        v
    };
    assert_eq!(strip(read_json(&merged)), strip(read_json(&whole)));

    // A shard whose objectives differ (same name, other expression) is refused.
    let mut foreign = read_json(&b);
    foreign["fingerprint"] = serde_json::json!([1.0, 2.0, 3.0]);
    let fb = temp_path("hf-foreign.json");
    std::fs::write(&fb, foreign.to_string()).unwrap();
    let st = bflow().arg("merge").arg(&a).arg(&fb).output().unwrap();
    assert_eq!(st.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&st.stderr).contains("different objectives"));
}

#[test]
fn bad_flags_are_refused_before_any_work() {
    for (args, needle) in [
        (&["run", "e3", "--max-time", "1e300"][..], "--max-time"),
        (&["map", "e4", "--plot", "x.pdf"][..], "--plot"),
        (&["compare", "e3", "--plot", "x.png"][..], "--plot"),
    ] {
        let out = bflow().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?} did work before refusing");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(needle),
            "{args:?}"
        );
    }
}

#[test]
fn run_matrix_free_newton_reaches_the_floor_on_a_multitask_problem() {
    let json = temp_path("mf.json");
    let out = bflow()
        .args([
            "run",
            "multitask:n=3000,k=4,seed=2",
            "--matrix-free",
            "--rule",
            "newton",
            "--json",
        ])
        .arg(&json)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = read_json(&json);
    assert_eq!(v["floor_reached"], true);
    assert!(v["linear_iterations"].as_u64().unwrap() > 0);
    let out = bflow()
        .args(["run", "e3", "--matrix-free", "--method", "loss"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn bench_repeats_outside_1_to_1000_are_refused_before_anything_is_allocated() {
    // u64::MAX repeats once made `bench diagnose` and `bench multitask` panic (capacity
    // overflow); 0 was taken as 1.
    for bench in [
        &["bench", "diagnose", "--k", "3", "--n", "10"][..],
        &["bench", "multitask", "--n", "100"],
        &["bench", "map", "himmelblau-split"],
    ] {
        for repeats in ["0", "1001", "18446744073709551615"] {
            let out = bflow()
                .args(bench)
                .args(["--repeats", repeats])
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(2), "{bench:?} {repeats}");
            let err = String::from_utf8(out.stderr).unwrap();
            assert_eq!(
                err,
                format!("bflow: error: --repeats: must be from 1 to 1000, got {repeats}\n")
            );
        }
    }
}
