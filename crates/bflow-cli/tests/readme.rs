//! Every command in the README's `sh` blocks runs and succeeds, so the README cannot drift
//! from the tool: lines starting `bflow ` run the built binary, `cargo run --release -- ARGS`
//! runs it with ARGS, lines starting `BFLOW=target/release/bflow ` run the script named with
//! that binary; `cargo test` lines (this test's own run) and `cargo fuzz` lines (minutes each,
//! and cargo-fuzz; docs/FUZZING.md) are skipped. Commands run in a
//! fresh directory holding a link to the repository's `examples/` and the `grads.npy` the
//! diagnose workflow reads; the README's Python block is run by the Python tests.

mod common;

use std::path::{Path, PathBuf};

use bflow::gradients::NpyValues;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The lines of the README's ```sh blocks, comments stripped.
fn sh_lines(readme: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut inside = false;
    for line in readme.lines() {
        let t = line.trim();
        if t.starts_with("```") {
            inside = !inside && t == "```sh";
            continue;
        }
        if inside {
            let command = t.split(" #").next().unwrap_or("").trim();
            if !command.is_empty() && !command.starts_with('#') {
                lines.push(command.to_string());
            }
        }
    }
    lines
}

/// A T×K×n float32 `.npy` of per-task gradients whose tasks drift into conflict.
fn write_gradients_npy(path: &Path, t: usize, k: usize, n: usize) {
    let mut values = Vec::with_capacity(t * k * n);
    for step in 0..t {
        for task in 0..k {
            for j in 0..n {
                let shared = ((j * 7919 % 1000) as f32 / 500.0) - 1.0;
                let other = ((j * 104_729 % 997) as f32 / 498.5) - 1.0;
                let drift = step as f32 / t as f32;
                values.push(match task {
                    0 => shared + 0.2 * other,
                    1 => shared - (0.2 + 2.0 * drift) * other,
                    _ => 0.5 * shared,
                });
            }
        }
    }
    let file = std::fs::File::create(path).unwrap();
    bflow::gradients::write_npy(file, &[t, k, n], NpyValues::F32(&values), false, false).unwrap();
}

#[test]
fn every_readme_command_runs() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let lines = sh_lines(&readme);
    assert!(lines.len() >= 5, "{lines:?}");
    let dir = common::temp_path("readme-commands");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(repo().join("examples"), dir.join("examples")).unwrap();
    write_gradients_npy(&dir.join("grads.npy"), 6, 3, 200);
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_bflow"));
    let mut ran = 0;
    for line in &lines {
        let words: Vec<&str> = line.split_whitespace().collect();
        let (mut command, args, cwd) = match words.as_slice() {
            // This test's own run; fuzzing takes minutes and cargo-fuzz (docs/FUZZING.md).
            ["cargo", "test", ..] | [_, "cargo", "fuzz", ..] => continue,
            ["cargo", "run", "--release", "--", rest @ ..] => (
                std::process::Command::new(&binary),
                rest.to_vec(),
                dir.clone(),
            ),
            ["bflow", rest @ ..] => (
                std::process::Command::new(&binary),
                rest.to_vec(),
                dir.clone(),
            ),
            [env, script, rest @ ..] if env.starts_with("BFLOW=") => {
                let mut c = std::process::Command::new("bash");
                c.arg(repo().join(script)).env("BFLOW", &binary);
                (c, rest.to_vec(), repo())
            }
            _ => panic!("the README's sh blocks hold a command this test cannot run: `{line}`"),
        };
        let out = command.args(&args).current_dir(&cwd).output().unwrap();
        assert!(
            out.status.success(),
            "`{line}` failed ({:?}): {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        ran += 1;
    }
    assert!(ran >= 4, "only {ran} commands ran");
    // What the commands wrote is what the README says they write.
    for file in [
        "muller-brown.png",
        "map.json",
        "trajectory.png",
        "trajectory.json",
    ] {
        assert!(dir.join(file).is_file(), "{file} was not written");
    }
    let map = common::read_json(&dir.join("map.json"));
    assert_eq!(map["equilibria"].as_array().unwrap().len(), 5);
    assert_eq!(map["completeness"]["proof"]["status"], "proven");
}

/// The README's library example is `examples/quickstart.rs`'s body, verbatim.
#[test]
fn readme_library_example_is_the_quickstart_example() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let start = readme.find("```rust\n").unwrap() + 8;
    let end = start + readme[start..].find("```").unwrap();
    let example =
        std::fs::read_to_string(repo().join("crates/bflow/examples/quickstart.rs")).unwrap();
    for line in readme[start..end].lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            example.contains(line.trim()),
            "README line not in examples/quickstart.rs: {line}"
        );
    }
}
