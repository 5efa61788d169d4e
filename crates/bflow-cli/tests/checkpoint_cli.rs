//! `bflow map --checkpoint`: a map stopped (by `--max-time` or a kill that leaves a partial
//! line) and rerun with the same checkpoint gives the uninterrupted map; a checkpoint of
//! another map is refused and left alone; huge or malformed `--starts` are refused before
//! any work.

mod common;

use std::path::{Path, PathBuf};

/// A 40-start e4 map checkpointed to `c.jsonl` in the working directory.
const E4_CHECKPOINTED: [&str; 8] = [
    "map",
    "e4",
    "--starts",
    "40",
    "--seed",
    "5",
    "--checkpoint",
    "c.jsonl",
];

fn temp_dir(name: &str) -> PathBuf {
    common::temp_dir(&format!("ckpt-{name}"))
}

/// Runs `bflow` and returns its stderr, asserting success.
fn ok(args: &[&str], dir: &Path) -> String {
    let out = common::bflow()
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{args:?}: {err}");
    err
}

/// The map's JSON without its timing field.
fn untimed(path: &Path) -> serde_json::Value {
    let mut v = common::read_json(path);
    v.as_object_mut().unwrap().remove("seconds");
    v
}

#[test]
fn a_killed_map_resumed_from_its_checkpoint_equals_the_uninterrupted_one() {
    let dir = temp_dir("killed");
    let map = ["map", "e4", "--starts", "300", "--seed", "5"];
    let with = |extra: &[&'static str]| [&map[..], extra].concat();
    // Uninterrupted, without a checkpoint: nothing on a non-terminal stderr for a short map.
    let err = ok(&with(&["--json", "whole.json"]), &dir);
    assert!(err.is_empty(), "{err}");
    // With a checkpoint, run to its end: the same map, and every start on disk.
    let err = ok(
        &with(&["--json", "a.json", "--checkpoint", "c.jsonl"]),
        &dir,
    );
    assert!(err.is_empty(), "{err}");
    assert_eq!(
        untimed(&dir.join("a.json")),
        untimed(&dir.join("whole.json"))
    );
    let full = std::fs::read_to_string(dir.join("c.jsonl")).unwrap();
    let lines: Vec<&str> = full.lines().collect();
    assert_eq!(lines.len(), 301);
    assert!(lines[0].starts_with(r#"{"format":"bflow-map-checkpoint","version":4,"problem":"e4""#));
    assert!(
        lines[1].starts_with(r#"{"index":0,"start":["#),
        "{}",
        lines[1]
    );

    // Killed after 120 starts, half way through writing the 121st.
    let mut cut: String = lines[..121].iter().map(|l| format!("{l}\n")).collect();
    cut.push_str(&lines[121][..lines[121].len() / 2]);
    std::fs::write(dir.join("c.jsonl"), &cut).unwrap();
    let err = ok(
        &with(&["--json", "b.json", "--checkpoint", "c.jsonl"]),
        &dir,
    );
    assert!(
        err.starts_with(
            "bflow: resuming from c.jsonl: 120 starts mapped before (a partial last line of"
        ),
        "{err}"
    );
    assert_eq!(
        untimed(&dir.join("b.json")),
        untimed(&dir.join("whole.json"))
    );
    // The partial line was cut and the rest appended: the file an uninterrupted run writes.
    assert_eq!(std::fs::read_to_string(dir.join("c.jsonl")).unwrap(), full);

    // Resumed again from a complete checkpoint: nothing left to run, the same map.
    ok(
        &with(&["--json", "b.json", "--checkpoint", "c.jsonl"]),
        &dir,
    );
    assert_eq!(
        untimed(&dir.join("b.json")),
        untimed(&dir.join("whole.json"))
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_map_stopped_by_its_time_limit_resumes_to_the_uninterrupted_one() {
    let dir = temp_dir("time");
    // An adaptive map (rounds of doubling size) stopped before its first start.
    let map = [
        "map",
        "himmelblau-split",
        "--seed",
        "2",
        "--max-starts",
        "2048",
    ];
    let with = |extra: &[&'static str]| [&map[..], extra].concat();
    ok(&with(&["--json", "whole.json"]), &dir);
    ok(
        &with(&[
            "--max-time",
            "0",
            "--json",
            "s.json",
            "--checkpoint",
            "c.jsonl",
        ]),
        &dir,
    );
    let stopped = common::read_json(&dir.join("s.json"));
    assert_eq!(stopped["starts_mapped"], 0);
    assert_eq!(stopped["completeness"]["stopped"], "time-limit");
    assert_eq!(
        std::fs::read_to_string(dir.join("c.jsonl"))
            .unwrap()
            .lines()
            .count(),
        1
    );
    ok(
        &with(&["--json", "r.json", "--checkpoint", "c.jsonl"]),
        &dir,
    );
    let whole = untimed(&dir.join("whole.json"));
    assert_eq!(untimed(&dir.join("r.json")), whole);
    assert!(
        whole["completeness"]["rounds"].as_u64().unwrap() >= 2,
        "{whole}"
    );

    // Cut inside a later round: the rounds the records complete are closed as before.
    let text = std::fs::read_to_string(dir.join("c.jsonl")).unwrap();
    let starts = whole["starts_mapped"].as_u64().unwrap() as usize;
    assert_eq!(text.lines().count(), starts + 1);
    for keep in [128, 200, starts - 1] {
        let cut: String = text
            .lines()
            .take(keep + 1)
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(dir.join("cut.jsonl"), cut).unwrap();
        ok(
            &with(&["--json", "k.json", "--checkpoint", "cut.jsonl"]),
            &dir,
        );
        assert_eq!(
            untimed(&dir.join("k.json")),
            whole,
            "cut after {keep} starts"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_checkpoint_of_another_map_is_refused_and_left_alone() {
    let dir = temp_dir("other");
    ok(&E4_CHECKPOINTED, &dir);
    let before = std::fs::read(dir.join("c.jsonl")).unwrap();
    for (args, needle) in [
        (
            &["map", "e4", "--starts", "40", "--seed", "6"][..],
            "the checkpoint is of another map: seed 5 in the checkpoint, 6 now",
        ),
        (
            &["map", "e4", "--starts", "41", "--seed", "5"][..],
            "starts 40 in the checkpoint, 41 now",
        ),
        (
            &["map", "e2", "--starts", "40", "--seed", "5"][..],
            "problem \"e4\" in the checkpoint, \"e2\" now",
        ),
    ] {
        let out = common::bflow()
            .args(args)
            .args(["--checkpoint", "c.jsonl", "--json", "x.json"])
            .current_dir(&dir)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(out.stdout.is_empty());
        assert!(!dir.join("x.json").exists());
        assert_eq!(std::fs::read(dir.join("c.jsonl")).unwrap(), before);
    }
    // Some other file is no checkpoint, and is not overwritten either.
    std::fs::write(dir.join("notes.txt"), "{\"my\": \"notes\"}").unwrap();
    let out = common::bflow()
        .args(["map", "e4", "--starts", "40", "--checkpoint", "notes.txt"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a bflow map checkpoint"));
    assert_eq!(
        std::fs::read_to_string(dir.join("notes.txt")).unwrap(),
        "{\"my\": \"notes\"}"
    );
    // A damaged record in the middle names its line.
    let mut text = String::from_utf8(before).unwrap();
    let third = text.match_indices('\n').nth(2).unwrap().0;
    text.insert_str(third + 1, "{\"index\": 2, oops\n");
    std::fs::write(dir.join("c.jsonl"), text).unwrap();
    let out = common::bflow()
        .args(E4_CHECKPOINTED)
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("c.jsonl:4: not a start record"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn huge_or_malformed_starts_are_refused_before_any_work() {
    for (args, needle) in [
        (
            &["--starts", "18446744073709551615"][..],
            "from 1 to 281474976710656",
        ),
        (
            &["--starts", "281474976710657"][..],
            "from 1 to 281474976710656",
        ),
        (&["--starts", "1e9"][..], "digits only"),
        (&["--starts", "0"][..], "from 1 to"),
        (&["--max-starts", "1e6"][..], "digits only"),
        (
            &["--starts", "100000", "--per-start"][..],
            "at most 65536 starts",
        ),
        (
            &["--per-start", "--max-starts", "100000"][..],
            "this map may run 100000",
        ),
    ] {
        let out = common::bflow()
            .args(["map", "e4"])
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?} did work before refusing");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    // A shard's share is what --per-start keeps: 100000 starts over 2 shards fit.
    let dir = temp_dir("share");
    ok(
        &[
            "map",
            "e4",
            "--starts",
            "100000",
            "--shard",
            "0/2",
            "--per-start",
            "--max-time",
            "0",
        ],
        &dir,
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_plot_keeps_records_for_its_panel_but_the_json_has_them_only_with_per_start() {
    let dir = temp_dir("plot");
    ok(
        &[
            "map", "e2", "--starts", "64", "--plot", "p.svg", "--json", "a.json",
        ],
        &dir,
    );
    assert!(
        common::read_json(&dir.join("a.json"))
            .get("per_start")
            .is_none()
    );
    ok(
        &[
            "map",
            "e2",
            "--starts",
            "64",
            "--plot",
            "p.svg",
            "--per-start",
            "--json",
            "b.json",
        ],
        &dir,
    );
    let b = common::read_json(&dir.join("b.json"));
    assert_eq!(b["per_start"].as_array().unwrap().len(), 64);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_checkpoint_named_dash_is_refused_not_written() {
    // `-` is no file: refused naming the flag, and no file named `-` appears.
    let dir = temp_dir("dash");
    let out = common::bflow()
        .args([
            "map",
            "himmelblau-split",
            "--starts",
            "8",
            "--checkpoint",
            "-",
        ])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("bflow: error: --checkpoint: `-` (standard output) is not supported"),
        "{err}"
    );
    assert!(!dir.join("-").exists());
}
