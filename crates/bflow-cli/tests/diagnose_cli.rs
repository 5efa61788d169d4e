//! `bflow diagnose` end to end: gradient and Gram files, trajectories, and hostile input.

mod common;

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use bflow::gradients::{NpyValues, write_npy};
use common::{bflow, read_json, run, temp_path};

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

fn npy(name: &str, shape: &[usize], values: &[f64]) -> std::path::PathBuf {
    let path = temp_path(name);
    let mut bytes = Vec::new();
    write_npy(&mut bytes, shape, NpyValues::F64(values), false, false).unwrap();
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn space_delimited_rows_keep_the_first_and_a_header_is_reported() {
    // numpy.savetxt(path, g): no header, one space between fields.
    let path = temp_path("savetxt.txt");
    std::fs::write(
        &path,
        "1.000000000000000000e+00 2.000000000000000000e+00\n-1.000000000000000000e+00 -2.000000000000000000e+00\n3.000000000000000000e+00 0.000000000000000000e+00\n",
    )
    .unwrap();
    let json = temp_path("savetxt.json");
    let (code, text, err) = run(&[
        os("diagnose"),
        os("--gradients"),
        path.as_os_str(),
        os("--json"),
        json.as_os_str(),
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(text.starts_with("K = 3 objectives, n = 2"), "{text}");
    assert!(!err.contains("header"), "{err}");
    let v = read_json(&json);
    assert_eq!(v["gradient_norms"].as_array().unwrap().len(), 3);
    // B = ||(3, 0)||² / (5 + 5 + 9).
    assert!((v["B"].as_f64().unwrap() - 9.0 / 19.0).abs() < 1e-15);

    let headed = temp_path("headed.csv");
    std::fs::write(&headed, "task_a,task_b\n1,2\n-1,-2\n").unwrap();
    let (code, _, err) = run(&[os("diagnose"), os("--gradients"), headed.as_os_str()]);
    assert_eq!(code, Some(0));
    assert_eq!(
        err,
        format!(
            "bflow: note: {}:1: skipped the header row `task_a,task_b`\n",
            headed.display()
        )
    );
}

#[test]
fn a_tall_file_is_warned_as_transposed_and_the_output_stays_bounded() {
    // 20 000 rows × 5 columns: one column per task, most likely.
    let path = temp_path("tall.csv");
    let mut text = String::new();
    for i in 0..20_000 {
        let x = i as f64;
        text.push_str(&format!(
            "{},{},{},{},{}\n",
            x.sin(),
            x.cos(),
            0.1,
            0.0,
            x * 1e-5
        ));
    }
    std::fs::write(&path, text).unwrap();
    let json = temp_path("tall.json");
    let (code, out, err) = run(&[
        os("diagnose"),
        os("--gradients"),
        path.as_os_str(),
        os("--json"),
        json.as_os_str(),
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("warning") && err.contains("transposed"),
        "{err}"
    );
    assert!(out.len() < 2000, "{} bytes of text", out.len());
    assert!(out.contains("K = 20000 objectives, n = 5"), "{out}");
    assert!(out.contains("median"), "{out}");
    assert!(out.contains("most conflicting pairs"), "{out}");
    let v = read_json(&json);
    assert!(
        v.get("cosine").is_none(),
        "the K×K matrix is only written on request"
    );
    assert_eq!(v["conflicts"].as_array().unwrap().len(), 5);
    // Asking for the full matrix above its cap is refused with the figure.
    let (code, _, err) = run(&[
        os("diagnose"),
        os("--gradients"),
        path.as_os_str(),
        os("--full-cosines"),
        os("--json"),
        json.as_os_str(),
    ]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains(
            "--full-cosines: the 20000×20000 cosine matrix needs 9600000000 bytes (8.9 GiB)"
        ),
        "{err}"
    );
}

#[test]
fn a_problem_with_ten_thousand_objectives_prints_a_summary() {
    let (code, out, err) = run(&[os("diagnose"), os("multitask:n=8,k=10000")]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("K = 10000 objectives"), "{out}");
    assert!(out.lines().count() < 20, "{out}");
    assert!(!err.contains("transposed"), "{err}");
}

fn assert_refused_quickly(args: &[&OsStr], needle: &str) {
    let start = Instant::now();
    let mut child = bflow()
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert_eq!(status.code(), Some(2));
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
            assert!(err.contains(needle), "{err}");
            return;
        }
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("{args:?} still running after 20 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(unix)]
#[test]
fn fifos_and_devices_are_refused_quickly() {
    let fifo = temp_path("fifo");
    let _ = std::fs::remove_file(&fifo);
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success());
    if made {
        for flag in ["--gradients", "--gram"] {
            assert_refused_quickly(
                &[os("diagnose"), os(flag), fifo.as_os_str()],
                "not a regular file (a FIFO)",
            );
        }
        assert_refused_quickly(
            &[os("run"), fifo.as_os_str()],
            "not a regular file (a FIFO)",
        );
        assert_refused_quickly(
            &[os("merge"), fifo.as_os_str()],
            "not a regular file (a FIFO)",
        );
    }
    for dev in ["/dev/zero", "/dev/urandom"] {
        assert_refused_quickly(
            &[os("diagnose"), os("--gradients"), os(dev)],
            "not a regular file (a character device)",
        );
        assert_refused_quickly(&[os("diagnose"), os(dev)], "not a regular file");
    }
    let dir = temp_path("a-directory.csv");
    std::fs::create_dir_all(&dir).unwrap();
    assert_refused_quickly(
        &[os("diagnose"), os("--gradients"), dir.as_os_str()],
        "not a regular file (a directory)",
    );
    assert_refused_quickly(
        &[os("diagnose"), os("--gradients"), os("/nonexistent/g.csv")],
        "/nonexistent/g.csv: no such file",
    );
}

#[test]
fn oversize_problem_files_and_shards_are_refused_with_the_figure() {
    let big = temp_path("big.toml");
    std::fs::write(&big, vec![b'#'; 2 << 20]).unwrap();
    let (code, _, err) = run(&[os("run"), big.as_os_str()]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("problem file is too large: 2.0 MiB (2097152 bytes), the cap for a problem file is 1.0 MiB"),
        "{err}"
    );
}

#[test]
fn extreme_scales_give_the_right_b() {
    // Near the largest float: the old reader printed B = inf.
    let huge = temp_path("huge.csv");
    std::fs::write(&huge, "1.7e308,-1e308,5e307\n-1.6e308,1e308,1e307\n").unwrap();
    let json = temp_path("huge.json");
    let (code, _, err) = run(&[
        os("diagnose"),
        os("--gradients"),
        huge.as_os_str(),
        os("--json"),
        json.as_os_str(),
    ]);
    assert_eq!(code, Some(0), "{err}");
    let b = read_json(&json)["B"].as_f64().unwrap();
    let reference =
        (0.1f64 * 0.1 + 0.6 * 0.6) / (1.7f64 * 1.7 + 1.0 + 0.25 + 1.6 * 1.6 + 1.0 + 0.01);
    assert!(
        (b - reference).abs() < 1e-15,
        "B = {b}, expected {reference}"
    );
    // Subnormal entries: the old reader gave B = 2.001 > K = 2.
    let tiny = temp_path("tiny.csv");
    std::fs::write(&tiny, "1e-320,2e-320\n1e-320,2e-320\n").unwrap();
    let (code, _, _) = run(&[
        os("diagnose"),
        os("--gradients"),
        tiny.as_os_str(),
        os("--json"),
        json.as_os_str(),
    ]);
    assert_eq!(code, Some(0));
    assert_eq!(read_json(&json)["B"].as_f64().unwrap(), 2.0);
}

#[test]
fn gradients_with_at_is_refused() {
    let path = temp_path("at.csv");
    std::fs::write(&path, "1,2\n3,4\n").unwrap();
    let (code, out, err) = run(&[
        os("diagnose"),
        os("--gradients"),
        path.as_os_str(),
        os("--at"),
        os("1,2"),
    ]);
    assert_eq!(code, Some(2));
    assert!(out.is_empty());
    assert!(err.contains("cannot be used with"), "{err}");
}

#[test]
fn a_trajectory_of_files_writes_json_csv_and_a_plot() {
    // Step 0 from CSV, steps 1–3 from a T×K×n .npy; K = 3, n = 2.
    let first = temp_path("step0.csv");
    std::fs::write(&first, "1,0\n0,1\n-1,-1\n").unwrap();
    let traj = npy(
        "steps.npy",
        &[3, 3, 2],
        &[
            1.0, 0.0, -1.0, 0.1, 0.0, 0.0, // step 1
            2.0, 1.0, -2.0, -1.0, 0.5, 0.0, // step 2
            1.0, 1.0, 1.0, 1.0, 1.0, 1.0, // step 3
        ],
    );
    let (json, csv, svg) = (
        temp_path("traj.json"),
        temp_path("traj.csv"),
        temp_path("traj.svg"),
    );
    let (code, out, err) = run(&[
        os("diagnose"),
        os("--gradients"),
        first.as_os_str(),
        traj.as_os_str(),
        os("--json"),
        json.as_os_str(),
        os("--csv"),
        csv.as_os_str(),
        os("--plot"),
        svg.as_os_str(),
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("4 steps, K = 3 objectives, n = 2"), "{out}");
    assert!(
        out.contains("B             first 0.000e0 (step 0), last 3.000e0 (step 3)"),
        "{out}"
    );
    let v = read_json(&json);
    let steps = v["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 4);
    assert_eq!(steps[3]["step"], 3);
    assert_eq!(steps[3]["B"], 3.0);
    assert_eq!(steps[0]["norms"].as_array().unwrap().len(), 3);
    assert!(steps[2]["cosines"][0][1].as_f64().unwrap() < -1.0 + 1e-12);
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "step,B,I,abs_I_plus_half,sum_norm,norm_1,norm_2,norm_3,cos_1_2,cos_1_3,cos_2_3"
    );
    assert_eq!(lines.count(), 4);
    let svg = std::fs::read_to_string(&svg).unwrap();
    for label in ["step", "cosine", "|I + 1/2|", "cos(g1, g2)"] {
        assert!(svg.contains(label), "{label} missing from the plot");
    }
}

#[test]
fn gram_input_with_weights_matches_the_gradients() {
    // g1 = (1, 2), g2 = (−1, −1): G = [[5, −3], [−3, 2]]; weights (2, 3): W G W.
    let gram = temp_path("gram.csv");
    std::fs::write(&gram, "5,-3\n-3,2\n").unwrap();
    let grads = temp_path("gw.csv");
    std::fs::write(&grads, "2,4\n-3,-3\n").unwrap();
    let (j1, j2) = (temp_path("gram.json"), temp_path("gw.json"));
    let (code, out, err) = run(&[
        os("diagnose"),
        os("--gram"),
        gram.as_os_str(),
        os("--weights"),
        os("2,3"),
        os("--json"),
        j1.as_os_str(),
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("from a Gram matrix"), "{out}");
    let (code, _, _) = run(&[
        os("diagnose"),
        os("--gradients"),
        grads.as_os_str(),
        os("--json"),
        j2.as_os_str(),
    ]);
    assert_eq!(code, Some(0));
    let (a, b) = (read_json(&j1), read_json(&j2));
    assert!((a["B"].as_f64().unwrap() - b["B"].as_f64().unwrap()).abs() < 1e-15);
    assert!(a["n"].is_null());
    // A T×K×K .npy is a trajectory of Gram matrices.
    let t = npy(
        "grams.npy",
        &[2, 2, 2],
        &[5.0, -3.0, -3.0, 2.0, 1.0, 0.0, 0.0, 1.0],
    );
    let (code, out, err) = run(&[os("diagnose"), os("--gram"), t.as_os_str()]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.starts_with("2 steps, K = 2 objectives, from Gram matrices"),
        "{out}"
    );
    // Bad weights and a non-Gram matrix name what is wrong.
    let (code, _, err) = run(&[
        os("diagnose"),
        os("--gram"),
        gram.as_os_str(),
        os("--weights"),
        os("1,2,3"),
    ]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("--weights: 3 weights given for K = 2"),
        "{err}"
    );
    std::fs::write(&gram, "1,0.9\n0.2,1\n").unwrap();
    let (code, _, err) = run(&[os("diagnose"), os("--gram"), gram.as_os_str()]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("not a Gram matrix: not symmetric: G[1,2]"),
        "{err}"
    );
}

#[test]
fn a_closed_stdout_ends_the_program_quietly() {
    // A long output: one CSV row per step of a 20 000-step trajectory, to stdout.
    let (t, k, n) = (20_000, 3, 4);
    let values: Vec<f64> = (0..t * k * n)
        .map(|i| ((i * 37) % 11) as f64 - 5.0)
        .collect();
    let path = npy("long.npy", &[t, k, n], &values);
    let mut child = bflow()
        .args([
            os("diagnose"),
            os("--gradients"),
            path.as_os_str(),
            os("--csv"),
            os("-"),
        ])
        .env("RUST_BACKTRACE", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("step,B,I"), "{line}");
    drop(reader); // close the pipe, as `head -1` does
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.is_empty(), "{err}");
    assert_eq!(out.status.code(), Some(0));
    // Every command writes through the same function: a short one with no reader at all.
    let mut child = bflow()
        .arg("problems")
        .env("RUST_BACKTRACE", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0));
}
