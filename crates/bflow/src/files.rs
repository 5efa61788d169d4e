//! Reading user files safely: regular files only, each kind under a size cap.
//!
//! Every file bflow reads on a user's behalf (problem files, gradient and Gram files, shard
//! JSON) goes through [`open_regular`] or [`read_text`], so that
//!
//! * a FIFO, a character or block device (`/dev/zero`, `/dev/urandom`), a directory or a
//!   socket is refused with "not a regular file (…)" *before* it is opened — opening a FIFO
//!   for reading blocks until a writer appears, and a device never ends. Symbolic links are
//!   followed: the target's type decides;
//! * a file larger than the cap of its kind ([`FileKind::max_bytes`]) is refused with both
//!   figures, and reading stops at the cap even if the file grows after the check;
//! * "no such file" is said only when nothing exists at the path (a dangling symbolic link
//!   says so).
//!
//! The type is checked with `metadata` before opening and again on the open handle
//! (`fstat`), so a file swapped for a directory or a device between the two is still
//! refused. (A regular file swapped for a FIFO in that window would make the open itself
//! wait; closing that window needs `O_NONBLOCK`, which the standard library does not
//! expose portably.)

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};

/// A kind of input file and the largest size bflow reads for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileKind {
    /// What the file is, for messages (`"problem file"`).
    pub name: &'static str,
    /// The cap in bytes; a larger file is refused.
    pub max_bytes: u64,
}

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// TOML problem files: 1 MiB (a problem with a thousand long objectives fits in a tenth).
pub const PROBLEM_FILE: FileKind = FileKind {
    name: "problem file",
    max_bytes: MIB,
};

/// Shard JSON written by `bflow map --json`, read by `bflow merge`: 1 GiB (a few million
/// per-start records); it is parsed into a JSON tree of a few times its size.
pub const SHARD_JSON: FileKind = FileKind {
    name: "shard JSON file",
    max_bytes: GIB,
};

/// Per-task gradient files (CSV or `.npy`): 64 GiB. The values are held in memory once
/// (8 bytes per CSV or float64 value, 4 per float32 value), so the machine's memory is the
/// real limit below this cap.
pub const GRADIENTS_FILE: FileKind = FileKind {
    name: "gradients file",
    max_bytes: 64 * GIB,
};

/// Gram matrix files (K×K or T×K×K, CSV or `.npy`): 4 GiB.
pub const GRAM_FILE: FileKind = FileKind {
    name: "Gram file",
    max_bytes: 4 * GIB,
};

/// A byte count for messages: `"1.0 MiB"`, `"64.0 GiB"`, `"312 bytes"`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

fn refuse(path: &Path, message: impl Into<String>) -> Error {
    Error::FileRead {
        file: path.display().to_string(),
        message: message.into(),
    }
}

/// The I/O error's text without the trailing `" (os error N)"`.
fn io_text(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// What a non-regular file is, for the message.
fn describe_type(t: std::fs::FileType) -> &'static str {
    if t.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    "not a file"
}

fn check_metadata(path: &Path, meta: &std::fs::Metadata, kind: FileKind) -> Result<u64> {
    if !meta.is_file() {
        return Err(refuse(
            path,
            format!("not a regular file ({})", describe_type(meta.file_type())),
        ));
    }
    let size = meta.len();
    if size > kind.max_bytes {
        return Err(refuse(
            path,
            format!(
                "{} is too large: {} ({size} bytes), the cap for a {} is {}",
                kind.name,
                human_bytes(size),
                kind.name,
                human_bytes(kind.max_bytes)
            ),
        ));
    }
    Ok(size)
}

/// Opens `path` for reading if it is a regular file (symbolic links followed) no larger
/// than `kind.max_bytes`; returns the file and its size. Never blocks on a FIFO: the type
/// is checked before the open.
///
/// # Errors
/// [`Error::FileRead`]: "no such file", "broken symbolic link …", "not a regular file
/// (a FIFO)" (or a directory, a character or block device, a socket), "… is too large: …,
/// the cap for a … is …", or the I/O error (permission denied, …).
pub fn open_regular(path: &Path, kind: FileKind) -> Result<(File, u64)> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // Something may exist at the path itself: a link whose target does not.
            return Err(match std::fs::symlink_metadata(path) {
                Ok(m) if m.file_type().is_symlink() => {
                    refuse(path, "broken symbolic link (its target does not exist)")
                }
                _ => refuse(path, "no such file"),
            });
        }
        Err(e) => return Err(refuse(path, format!("cannot read: {}", io_text(&e)))),
    };
    check_metadata(path, &meta, kind)?;
    let file =
        File::open(path).map_err(|e| refuse(path, format!("cannot read: {}", io_text(&e))))?;
    // The same checks on the open handle: the path may have changed since.
    let meta = file
        .metadata()
        .map_err(|e| refuse(path, format!("cannot read: {}", io_text(&e))))?;
    let size = check_metadata(path, &meta, kind)?;
    Ok((file, size))
}

/// Reads the whole of a UTF-8 text file through [`open_regular`], never more than the cap.
///
/// # Errors
/// As [`open_regular`]; also when the file grew past the cap while being read, or is not
/// UTF-8.
pub fn read_text(path: &Path, kind: FileKind) -> Result<String> {
    let (file, size) = open_regular(path, kind)?;
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(kind.max_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| refuse(path, format!("cannot read: {}", io_text(&e))))?;
    if bytes.len() as u64 > kind.max_bytes {
        return Err(refuse(
            path,
            format!(
                "{} grew past the cap of {} while being read",
                kind.name,
                human_bytes(kind.max_bytes)
            ),
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        refuse(
            path,
            format!("not UTF-8 text (invalid byte at offset {at})"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh temporary directory, removed when dropped (at the end of the test, or as
    /// its panic unwinds).
    fn scratch() -> tempfile::TempDir {
        tempfile::Builder::new()
            .prefix("bflow-files-")
            .tempdir()
            .unwrap()
    }

    fn message(r: Result<String>) -> String {
        match r {
            Err(Error::FileRead { message, .. }) => message,
            other => panic!("expected FileRead, got {other:?}"),
        }
    }

    #[test]
    fn regular_files_read_and_missing_ones_say_so() {
        let tmp = scratch();
        let dir = tmp.path();
        let path = dir.join("a.txt");
        std::fs::write(&path, "hello").unwrap();
        assert_eq!(read_text(&path, PROBLEM_FILE).unwrap(), "hello");
        assert_eq!(
            message(read_text(&dir.join("missing.txt"), PROBLEM_FILE)),
            "no such file"
        );
        let m = message(read_text(dir, PROBLEM_FILE));
        assert_eq!(m, "not a regular file (a directory)");
    }

    #[test]
    fn oversize_files_are_refused_with_both_figures() {
        let tmp = scratch();
        let dir = tmp.path();
        let path = dir.join("big.toml");
        std::fs::write(&path, vec![b'#'; (MIB + 1) as usize]).unwrap();
        let m = message(read_text(&path, PROBLEM_FILE));
        assert_eq!(
            m,
            "problem file is too large: 1.0 MiB (1048577 bytes), the cap for a problem file is 1.0 MiB"
        );
    }

    #[cfg(unix)]
    #[test]
    fn devices_and_fifos_are_refused_without_blocking() {
        let m = message(read_text(Path::new("/dev/zero"), GRADIENTS_FILE));
        assert_eq!(m, "not a regular file (a character device)");
        let tmp = scratch();
        let dir = tmp.path();
        let fifo = dir.join("pipe");
        let _ = std::fs::remove_file(&fifo);
        // mkfifo(1) is POSIX; without it the FIFO case cannot be set up here.
        if std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .is_ok_and(|s| s.success())
        {
            let m = message(read_text(&fifo, PROBLEM_FILE));
            assert_eq!(m, "not a regular file (a FIFO)");
            // Through a symbolic link, the target's type decides.
            let link = dir.join("link");
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(&fifo, &link).unwrap();
            assert_eq!(
                message(read_text(&link, PROBLEM_FILE)),
                "not a regular file (a FIFO)"
            );
        }
        let dangling = dir.join("dangling");
        let _ = std::fs::remove_file(&dangling);
        std::os::unix::fs::symlink(dir.join("nowhere"), &dangling).unwrap();
        assert_eq!(
            message(read_text(&dangling, PROBLEM_FILE)),
            "broken symbolic link (its target does not exist)"
        );
    }

    #[test]
    fn human_bytes_picks_a_unit() {
        assert_eq!(human_bytes(312), "312 bytes");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(64 * GIB), "64.0 GiB");
    }
}
