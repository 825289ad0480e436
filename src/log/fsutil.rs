//! Small file-system helpers that attach the path to every I/O error and make metadata changes
//! durable.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use super::error::{LogError, Result};

/// Wraps an `io::Error` with what was being done and to which path.
pub(crate) fn io_err(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> LogError {
    let path = path.to_path_buf();
    move |source| LogError::Io { op, path, source }
}

/// `fsync`s a directory, so that file creations, renames and deletions in it survive a power
/// failure (a file's own fsync does not cover its directory entry).
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_err("fsync dir", dir))
}

/// Replaces `path` with `bytes` atomically: write a temporary file, fsync it, rename it over the
/// target, fsync the directory. A crash leaves either the old or the new content, never a mix.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let mut f = File::create(&tmp).map_err(io_err("create", &tmp))?;
    f.write_all(bytes).map_err(io_err("write", &tmp))?;
    f.sync_all().map_err(io_err("fsync", &tmp))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io_err("rename", path))?;
    sync_dir(dir)
}

/// Checks a topic or group name: it becomes a directory or file name, so it must not be able to
/// escape the log directory or collide with the log's own files.
pub(crate) fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && !name.starts_with("__")
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok { Ok(()) } else { Err(LogError::InvalidName(name.to_owned())) }
}
