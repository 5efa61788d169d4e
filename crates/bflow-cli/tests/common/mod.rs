//! What the CLI tests share: spawning the `bflow` binary, temporary paths, reading JSON.
#![allow(dead_code)] // each test crate uses a part

use std::path::{Path, PathBuf};
use std::process::Command;

/// A command for the `bflow` binary built for these tests.
pub fn bflow() -> Command {
    Command::new(env!("CARGO_BIN_EXE_bflow"))
}

/// A path in this test process's own temporary directory (created on first use).
pub fn temp_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bflow-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
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
