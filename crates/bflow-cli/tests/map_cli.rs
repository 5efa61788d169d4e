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
    let dir = common::temp_dir("shards");
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

fn temp_dir(name: &str) -> std::path::PathBuf {
    common::temp_dir(&format!("map-{name}"))
}

fn bflow_ok(args: &[&str]) -> String {
    let out = common::bflow().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The text of every `<text>` element of an SVG written by plotters (`<text …>\nTEXT\n</text>`).
fn svg_texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| {
            let body = &t[t.find('>')? + 1..t.find("</text>")?];
            Some(body.trim().to_string())
        })
        .collect()
}

#[test]
fn e4_plot_is_a_small_svg_with_named_axes_a_colour_bar_and_a_disconnectivity_graph() {
    let dir = temp_dir("e4-plot");
    let svg_path = dir.join("e4.svg");
    bflow_ok(&[
        "map",
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/problems/e4.toml"
        ),
        "--starts",
        "64",
        "--plot",
        svg_path.to_str().unwrap(),
    ]);
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert!(svg.len() < 1_000_000, "{} bytes", svg.len());
    // The contour layer is one embedded PNG, not a rectangle per cell.
    assert_eq!(svg.matches("data:image/png;base64,").count(), 1);
    // Markers are rects too (two per minimum: 121 at 64 starts); a rect per raster cell
    // would be tens of thousands.
    let rects = svg.matches("<rect").count();
    assert!(rects < 1000, "{rects} rects");
    let texts = svg_texts(&svg);
    for needed in ["x", "y", "Σ L", "(log scale)"] {
        assert!(texts.iter().any(|t| t == needed), "no text `{needed}`");
    }
    assert!(texts.iter().any(|t| t.contains("index-1 saddle (")));
    assert!(texts.iter().any(|t| t.contains("minimum (")));
    let dgraph = std::fs::read_to_string(dir.join("e4-disconnectivity.svg")).unwrap();
    let texts = svg_texts(&dgraph);
    assert!(
        texts
            .iter()
            .any(|t| t.contains("disconnectivity graph of Σ L"))
    );
    assert!(texts.iter().any(|t| t == "Σ L"));
    assert!(
        texts
            .iter()
            .any(|t| t.contains("groups join at the Σ L of the lowest index-1 saddle"))
    );
    assert!(!texts.iter().any(|t| t.contains("no index-1 saddle found")));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn plot_axes_carry_the_problem_files_variable_names_and_png_works() {
    let dir = temp_dir("names");
    let problem = dir.join("bowl.toml");
    std::fs::write(
        &problem,
        "vars = [\"alpha\", \"beta\"]\n\
         [[objective]]\nexpr = \"(alpha - 1)^2 + beta^2\"\n\
         [[objective]]\nexpr = \"alpha^2 + (beta + 1)^2\"\n\
         [region]\nalpha = [-2.0, 2.0]\nbeta = [-2.0, 2.0]\n",
    )
    .unwrap();
    let svg_path = dir.join("bowl.svg");
    let text = bflow_ok(&[
        "map",
        problem.to_str().unwrap(),
        "--starts",
        "16",
        "--plot",
        svg_path.to_str().unwrap(),
    ]);
    assert!(text.contains("point (alpha, beta)"), "{text}");
    assert!(text.contains("1 equilibrium: 1 minimum, 0 index-1 saddles, 0 maxima"));
    let texts = svg_texts(&std::fs::read_to_string(&svg_path).unwrap());
    assert!(texts.iter().any(|t| t == "alpha") && texts.iter().any(|t| t == "beta"));
    let png_path = dir.join("bowl.png");
    bflow_ok(&[
        "map",
        problem.to_str().unwrap(),
        "--starts",
        "16",
        "--plot",
        png_path.to_str().unwrap(),
    ]);
    for p in [png_path, dir.join("bowl-disconnectivity.png")] {
        let bytes = std::fs::read(&p).unwrap();
        assert_eq!(&bytes[1..4], b"PNG", "{}", p.display());
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn csv_has_one_row_per_equilibrium_with_named_columns() {
    let dir = temp_dir("csv");
    let (csv_path, json_path) = (dir.join("e4.csv"), dir.join("e4.json"));
    bflow_ok(&[
        "map",
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/problems/e4.toml"
        ),
        "--starts",
        "48",
        "--csv",
        csv_path.to_str().unwrap(),
        "--json",
        json_path.to_str().unwrap(),
    ]);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    let equilibria = json["equilibria"].as_array().unwrap();
    assert!(equilibria.len() > 5);
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(
        header,
        [
            "equilibrium",
            "x",
            "y",
            "loss_sum",
            "morse_index",
            "kind",
            "eig_1",
            "eig_2",
            "certified_radius",
            "basin_share"
        ]
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), equilibria.len());
    for (k, (row, eq)) in rows.iter().zip(equilibria).enumerate() {
        assert_eq!(row.len(), header.len());
        assert_eq!(row[0], (k + 1).to_string());
        for j in 0..2 {
            let x: f64 = row[1 + j].parse().unwrap();
            assert_eq!(x, eq["point"][j].as_f64().unwrap());
        }
        assert!(row[3].parse::<f64>().unwrap().is_finite());
        assert_eq!(row[4], eq["morse_index"].to_string());
        assert_eq!(row[5], eq["kind"].as_str().unwrap());
        let eig: Vec<f64> = row[6..8].iter().map(|v| v.parse().unwrap()).collect();
        assert!(eig[0] <= eig[1]);
        let negative = eig.iter().filter(|&&l| l < 0.0).count();
        assert_eq!(negative.to_string(), row[4]);
        let share: f64 = row[9].parse().unwrap();
        assert_eq!(share, eq["basin_share"].as_f64().unwrap());
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn summary_counts_every_morse_index_in_words() {
    let text = bflow_ok(&[
        "map",
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/problems/himmelblau-split.toml"
        ),
        "--starts",
        "96",
    ]);
    assert!(
        text.contains(": 4 minima, 4 index-1 saddles, 1 maximum, 0 degenerate"),
        "{text}"
    );
    assert!(text.contains("9 equilibria"));
    assert!(!text.contains("1 maxima"));
    for column in ["ΣL", "‖s‖", "cert r", "basin", "lossflow", "columns:"] {
        assert!(text.contains(column), "{column}");
    }
    let text = bflow_ok(&[
        "map",
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/problems/saddle.toml"
        ),
        "--starts",
        "16",
    ]);
    assert!(
        text.contains("1 equilibrium: 0 minima, 1 index-1 saddle, 0 maxima"),
        "{text}"
    );
}

#[test]
fn a_three_parameter_plot_is_a_disconnectivity_graph() {
    let dir = temp_dir("three");
    let problem = dir.join("wells.toml");
    std::fs::write(
        &problem,
        "vars = [\"x\", \"y\", \"z\"]\n\
         [[objective]]\nexpr = \"(x^2 - 1)^2 + 0.3*x + z^2/2 + x*y/4\"\n\
         [[objective]]\nexpr = \"(y^2 - 1)^2 + 0.2*y + (z - x/2)^2/2\"\n\
         [region]\nx = [-2.0, 2.0]\ny = [-2.0, 2.0]\nz = [-2.0, 2.0]\n",
    )
    .unwrap();
    let svg_path = dir.join("wells.svg");
    let text = bflow_ok(&[
        "map",
        problem.to_str().unwrap(),
        "--starts",
        "64",
        "--plot",
        svg_path.to_str().unwrap(),
    ]);
    assert!(text.contains("index-2 saddle"), "{text}");
    let texts = svg_texts(&std::fs::read_to_string(&svg_path).unwrap());
    let minima = text.lines().filter(|l| l.contains(" minimum ")).count();
    assert!(minima >= 2, "{text}");
    assert!(
        texts
            .iter()
            .any(|t| t.contains(&format!("disconnectivity graph of Σ L ({minima} minima)"))),
        "{texts:?}"
    );
    assert!(!dir.join("wells-disconnectivity.svg").exists());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn outputs_that_cannot_be_written_are_refused_before_any_work() {
    let dir = temp_dir("refuse");
    let missing = dir.join("no-such-dir").join("out.csv");
    for flag in ["--csv", "--json", "--plot", "--connections-csv"] {
        let path = if flag == "--plot" {
            missing.with_extension("png")
        } else {
            missing.clone()
        };
        let out = common::bflow()
            .args(["map", "e4", flag])
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{flag}");
        assert!(out.stdout.is_empty(), "{flag} did work before refusing");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(flag) && err.contains("cannot write"), "{err}");
    }
    // A directory is no file either; an existing file is left as it was until the map is done.
    let out = common::bflow()
        .args(["map", "e4", "--csv"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).ok();
}

/// Müller–Brown: the JSON names, for each index-1 saddle, the two minima of the literature's
/// reaction path A – S1 – C – S2 – B, with barriers `ΣL(saddle) − ΣL(minimum)` from the
/// JSON's own `loss_sum`s; the text lists them, and `--connections-csv` has one row each.
#[test]
fn muller_brown_json_names_the_minima_each_saddle_joins() {
    let dir = temp_dir("muller-brown");
    let (json, csv) = (dir.join("mb.json"), dir.join("conn.csv"));
    let text = bflow_ok(&[
        "map",
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/problems/muller-brown.toml"
        ),
        "--starts",
        "256",
        "--json",
        json.to_str().unwrap(),
        "--connections-csv",
        csv.to_str().unwrap(),
    ]);
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let eq = v["equilibria"].as_array().unwrap();
    assert_eq!(eq.len(), 5, "{text}");
    let find = |x: f64, y: f64| {
        let hits: Vec<usize> = (0..eq.len())
            .filter(|&k| {
                let p = eq[k]["point"].as_array().unwrap();
                (p[0].as_f64().unwrap() - x).abs() < 2e-3
                    && (p[1].as_f64().unwrap() - y).abs() < 2e-3
            })
            .collect();
        assert_eq!(hits.len(), 1, "({x}, {y}) in {eq:?}");
        hits[0]
    };
    let (a, b, c) = (find(-0.558, 1.442), find(0.623, 0.028), find(-0.050, 0.467));
    let (s1, s2) = (find(-0.822, 0.624), find(0.212, 0.293));
    let loss = |k: usize| eq[k]["loss_sum"].as_f64().unwrap();
    let conns = v["connections"].as_array().unwrap();
    assert_eq!(conns.len(), 2);
    for (saddle, want) in [(s1, [a, c]), (s2, [c, b])] {
        let conn = conns
            .iter()
            .find(|x| x["saddle"].as_u64() == Some(saddle as u64))
            .unwrap();
        let minima: Vec<usize> = conn["minima"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_u64().unwrap() as usize)
            .collect();
        let mut sorted = minima.clone();
        sorted.sort();
        let mut expect = want.to_vec();
        expect.sort();
        assert_eq!(sorted, expect, "saddle {saddle}: {conn}");
        for (side, &m) in minima.iter().enumerate() {
            let barrier = conn["barriers"][side].as_f64().unwrap();
            assert_eq!(barrier, loss(saddle) - loss(m));
            assert_eq!(conn["outcomes"][side], "minimum");
        }
        // The line in the text, numbered as the table.
        let line = format!("saddle #{} (ΣL ", saddle + 1);
        let row = text
            .lines()
            .find(|l| l.contains(&line))
            .unwrap_or_else(|| panic!("{text}"));
        assert!(
            row.contains(&format!("#{} and #{}", minima[0] + 1, minima[1] + 1)),
            "{row}"
        );
    }
    // The literature's barriers (Müller & Brown 1979 values at the points).
    let barrier = |s: usize, m: usize| loss(s) - loss(m);
    for (got, lit) in [
        (barrier(s1, a), 106.03),
        (barrier(s1, c), 40.10),
        (barrier(s2, c), 8.52),
        (barrier(s2, b), 35.92),
    ] {
        assert!((got - lit).abs() < 0.01, "{got} vs {lit}");
    }
    let csv = std::fs::read_to_string(&csv).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(
        rows[0],
        "saddle,minimum_1,minimum_2,barrier_1,barrier_2,outcome_1,outcome_2"
    );
    assert_eq!(rows.len(), 3);
    assert!(rows[1..].iter().all(|r| r.ends_with(",minimum,minimum")));
    std::fs::remove_dir_all(&dir).ok();
}

/// A map whose region cuts a saddle's path off: that side is null in the JSON and the text
/// says the path leaves the region.
#[test]
fn a_side_that_leaves_the_region_is_null_in_the_json() {
    let dir = temp_dir("mb-cut");
    let source = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/problems/muller-brown.toml"
    ))
    .unwrap()
    .replace(
        "x = [-1.5, 1.2]\ny = [-0.5, 2.0]",
        "x = [-1.5, 0.3]\ny = [0.1, 2.0]",
    );
    let problem = dir.join("cut.toml");
    std::fs::write(&problem, source).unwrap();
    let json = dir.join("cut.json");
    let text = bflow_ok(&[
        "map",
        problem.to_str().unwrap(),
        "--starts",
        "256",
        "--json",
        json.to_str().unwrap(),
    ]);
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let conns = v["connections"].as_array().unwrap();
    assert_eq!(conns.len(), 2, "{text}");
    let open: Vec<&serde_json::Value> = conns
        .iter()
        .filter(|c| c["minima"].as_array().unwrap().iter().any(|m| m.is_null()))
        .collect();
    assert_eq!(open.len(), 1, "{conns:?}");
    let side = open[0]["minima"]
        .as_array()
        .unwrap()
        .iter()
        .position(|m| m.is_null())
        .unwrap();
    assert!(open[0]["barriers"][side].is_null());
    assert_eq!(open[0]["outcomes"][side], "left-region");
    assert!(open[0]["minima"][1 - side].is_u64());
    assert!(
        text.contains("(the other path leaves the region)"),
        "{text}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// One objective (K = 1): B ≡ 1, so the map drops B-flow, says so, and still finds all nine
/// stationary points of Himmelblau's function; `run` refuses B-flow with its flag named.
#[test]
fn one_objective_maps_without_bflow_and_run_refuses_bflow() {
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/problems/himmelblau.toml"
    );
    let json = common::temp_path("k1-map.json");
    let out = common::bflow()
        .args(["map", file, "--json", json.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("B-flow is not run"), "{stderr}");
    let m = common::read_json(&json);
    assert_eq!(m["equilibria"].as_array().unwrap().len(), 9);
    assert_eq!(m["morse_counts"], serde_json::json!([4, 4, 1]));
    assert_eq!(
        m["params"]["searchers"],
        serde_json::json!(["newton", "lossflow", "ascent"])
    );
    let out = common::bflow().args(["run", file]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("bflow: error: --method:"), "{stderr}");
    let text = bflow_ok(&["run", file, "--rule", "newton", "--start=0.5,-1"]);
    assert!(text.contains("stopped"), "{text}");
}

#[test]
fn a_proof_box_budget_beyond_the_memory_cap_is_refused_before_any_work() {
    // 2 · 10¹² boxes of 3 intervals: hundreds of TiB. Refused with the figures and the
    // largest budget that fits, before the map runs (nothing on stdout).
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/problems/gaussian-wells-3d.toml"
    );
    let out = common::bflow()
        .args(["map", file, "--prove", "--prove-boxes", "1000000000000"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "the map ran before refusing");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--prove-boxes")
            && err.contains("TiB")
            && err.contains("at most 19173961 boxes"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn a_problem_undefined_over_its_region_maps_with_a_warning() {
    // √(−1 − x²) is NaN everywhere: every search diverges. The map (no equilibria, every
    // search counted as diverged) is printed, and stderr says why in one line.
    let dir = temp_dir("undefined");
    let file = dir.join("undefined.toml");
    std::fs::write(
        &file,
        "vars = [\"x\", \"y\"]\n[[objective]]\nexpr = \"sqrt(-1 - x^2) + y^2\"\n\
         [[objective]]\nexpr = \"x^2\"\n[region]\nx = [-1, 1]\ny = [-1, 1]\n",
    )
    .unwrap();
    let out = common::bflow()
        .args(["map", file.to_str().unwrap(), "--starts", "16"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("0 equilibria") && text.contains("diverged 16"),
        "{text}"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("bflow: warning: every one of the 64 searches diverged"),
        "{err}"
    );
    // A defined problem gets no such line.
    let out = common::bflow()
        .args(["map", "himmelblau-split", "--starts", "16"])
        .output()
        .unwrap();
    assert!(out.stderr.is_empty());
    std::fs::remove_dir_all(&dir).ok();
}
