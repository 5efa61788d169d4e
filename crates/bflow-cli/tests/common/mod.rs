//! What the CLI tests share: spawning the `bflow` binary, temporary paths, reading JSON.
#![allow(dead_code)] // each test crate uses a part

use std::path::{Path, PathBuf};
use std::process::Command;

/// A command for the `bflow` binary built for these tests.
pub fn bflow() -> Command {
    Command::new(env!("CARGO_BIN_EXE_bflow"))
}

/// This test binary's scratch directory: `<test binary>` under the directory Cargo keeps
/// for integration tests (`target/tmp`), emptied once per process on first use — so a run
/// starts clean and leaves one directory per test binary behind, not one per run.
pub fn scratch_dir() -> &'static Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let exe = std::env::current_exe().unwrap();
        let stem = exe.file_stem().unwrap().to_string_lossy().into_owned();
        // `map_cli-<hash>`: the hash changes with every build; the test's name does not.
        let name = stem
            .rsplit_once('-')
            .map_or(stem.as_str(), |(name, _)| name);
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    })
}

/// A path in this test binary's [`scratch_dir`].
pub fn temp_path(name: &str) -> PathBuf {
    scratch_dir().join(name)
}

/// A fresh, empty directory `name` in this test binary's [`scratch_dir`].
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = temp_path(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Parses a JSON file.
pub fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Runs `bflow` with `args`; returns (exit code, stdout, stderr).
pub fn run(args: &[&std::ffi::OsStr]) -> (Option<i32>, String, String) {
    let out = bflow().args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
