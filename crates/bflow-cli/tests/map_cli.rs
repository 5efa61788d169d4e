//! `bflow map --shard` ×3 then `bflow merge` gives the unsharded map, byte for byte once the
//! timing field is removed.

mod common;

fn without_timing(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v.as_object_mut().unwrap().remove("seconds");
    serde_json::to_string_pretty(&v).unwrap()
}

#[test]
fn three_shards_merged_equal_the_unsharded_run() {
    let dir = std::env::temp_dir().join(format!("bflow-map-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let run = |args: &[&str]| {
        let out = common::bflow().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let whole = dir.join("whole.json");
    run(&[
        "map",
        "e4",
        "--starts",
        "60",
        "--seed",
        "5",
        "--json",
        whole.to_str().unwrap(),
    ]);
    let mut parts = Vec::new();
    for i in 0..3 {
        let p = dir.join(format!("s{i}.json"));
        let shard = format!("{i}/3");
        run(&[
            "map",
            "e4",
            "--starts",
            "60",
            "--seed",
            "5",
            "--shard",
            &shard,
            "--json",
            p.to_str().unwrap(),
        ]);
        parts.push(p.to_str().unwrap().to_string());
    }
    let merged = dir.join("merged.json");
    let mut args = vec!["merge".to_string()];
    args.extend(parts);
    args.extend(["--json".to_string(), merged.to_str().unwrap().to_string()]);
    let out = common::bflow().args(&args).output().unwrap();
    assert!(out.status.success());
    let (a, b) = (without_timing(&whole), without_timing(&merged));
    assert!(a.contains("\"equilibria\""));
    assert_eq!(a, b);
    let bad = common::bflow().args(["map", "e3"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("region"));
    std::fs::remove_dir_all(&dir).ok();
}
