//! The checkpoint file of `bflow map --checkpoint PATH` (the format is the library's,
//! [`bflow::map::checkpoint`]): opened, read back into the mapper, cut after its last complete
//! line, then appended to as the map runs.
//!
//! Durability: the records of a batch are written and flushed to the operating system when
//! the batch ends (about every second), so a killed process (SIGKILL, a preempted job, the
//! OOM killer) loses at most the batch in flight; the file is also `fsync`ed at a batch end
//! when [`SYNC_INTERVAL`] has passed since the last `fsync`, and when the map stops, so a
//! crash of the machine loses at most that much more. The file is locked while the map runs
//! (an advisory lock where the file system has them): a second `bflow map` on the same
//! checkpoint is refused.

use std::fs::File;
use std::io::{BufReader, BufWriter, Seek, SeekFrom, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bflow::map::checkpoint::{CheckpointHeader, Resumed, record_line, resume};
use bflow::map::{Mapper, StartRecord};

use crate::cli::CliError;

/// The longest time between two `fsync`s of a running map's checkpoint.
pub const SYNC_INTERVAL: Duration = Duration::from_secs(10);

/// A checkpoint open for appending.
pub struct CheckpointFile {
    path: PathBuf,
    writer: BufWriter<File>,
    last_sync: Instant,
    /// The first write failure; the map stops at it.
    error: Option<String>,
}

impl CheckpointFile {
    /// Opens `path` (creating it when missing), feeds the records it holds to `mapper`
    /// (`seen` sees each; `keep` keeps them in the map), cuts a partial last line, and writes
    /// the header when the file had none.
    ///
    /// # Errors
    /// Exit 2 for a file of another map or not a checkpoint (naming what differs or the
    /// line), a path that is not a regular file, or a checkpoint another process holds;
    /// exit 1 for a failure to read, cut or write it.
    pub fn open(
        path: &Path,
        header: &CheckpointHeader,
        mapper: &mut Mapper<'_>,
        keep: bool,
        seen: &mut dyn FnMut(&StartRecord),
    ) -> Result<(Self, Resumed), CliError> {
        crate::cli::refuse_dash("--checkpoint", path)?;
        let shown = path.display();
        if path.exists() && !path.is_file() {
            return Err(CliError::input(format!(
                "--checkpoint: {shown}: not a regular file"
            )));
        }
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| CliError::input(format!("--checkpoint: {shown}: cannot open: {e}")))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(CliError::input(format!(
                    "--checkpoint: {shown}: in use by another running map"
                )));
            }
            // No locks on this file system: go on without.
            Err(std::fs::TryLockError::Error(_)) => {}
        }
        let resumed =
            resume(BufReader::new(&file), header, mapper, keep, seen).map_err(|e| match e {
                bflow::Error::Checkpoint { line: 1, reason } => CliError::input(format!(
                    "--checkpoint: {shown}: {reason} (it is left as it is: remove it or give \
                     another path)"
                )),
                bflow::Error::Checkpoint { line, reason } => {
                    CliError::input(format!("{shown}:{line}: {reason}"))
                }
                other => CliError::input(format!("{shown}: {other}")),
            })?;
        let fail = |what: &str, e: std::io::Error| {
            CliError::failure(format!("--checkpoint: {shown}: cannot {what}: {e}"))
        };
        file.set_len(resumed.valid_bytes)
            .map_err(|e| fail("cut the partial last line", e))?;
        file.seek(SeekFrom::Start(resumed.valid_bytes))
            .map_err(|e| fail("seek", e))?;
        let mut writer = BufWriter::with_capacity(1 << 16, file);
        if !resumed.header {
            writer
                .write_all(header.to_line().as_bytes())
                .map_err(|e| fail("write", e))?;
        }
        writer.flush().map_err(|e| fail("write", e))?;
        writer.get_ref().sync_data().map_err(|e| fail("sync", e))?;
        Ok((
            Self {
                path: path.to_path_buf(),
                writer,
                last_sync: Instant::now(),
                error: None,
            },
            resumed,
        ))
    }

    /// Appends one record (buffered); `Break` after a write failure.
    pub fn record(&mut self, record: &StartRecord) -> ControlFlow<()> {
        if self.error.is_none()
            && let Err(e) = self.writer.write_all(record_line(record).as_bytes())
        {
            self.error = Some(format!("cannot write: {e}"));
        }
        self.status()
    }

    /// Flushes the batch's records, and `fsync`s when [`SYNC_INTERVAL`] has passed.
    pub fn batch_end(&mut self) -> ControlFlow<()> {
        if self.error.is_none() {
            if let Err(e) = self.writer.flush() {
                self.error = Some(format!("cannot write: {e}"));
            } else if self.last_sync.elapsed() >= SYNC_INTERVAL {
                if let Err(e) = self.writer.get_ref().sync_data() {
                    self.error = Some(format!("cannot sync: {e}"));
                }
                self.last_sync = Instant::now();
            }
        }
        self.status()
    }

    fn status(&self) -> ControlFlow<()> {
        if self.error.is_some() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }

    /// Flushes and `fsync`s what is left; the first write failure, if any (exit 1).
    pub fn close(mut self) -> Result<(), CliError> {
        if self.error.is_none() {
            if let Err(e) = self.writer.flush() {
                self.error = Some(format!("cannot write: {e}"));
            } else if let Err(e) = self.writer.get_ref().sync_data() {
                self.error = Some(format!("cannot sync: {e}"));
            }
        }
        match self.error {
            None => Ok(()),
            Some(e) => Err(CliError::failure(format!(
                "--checkpoint: {}: {e}",
                self.path.display()
            ))),
        }
    }
}
