//! Small file-system helpers that attach the path to every I/O error and make metadata changes
//! durable.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};

use super::error::{LogError, Result};
use super::storage::StorageFile;

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

/// A thread that runs the `fdatasync`s handed to it, one after another: the fsyncs of group
/// commit (see `Partition::append_encoded_behind`) without starting a thread per batch. On a
/// loaded 2-core machine a thread start cost 1–2 ms before its `fdatasync` even began (strace,
/// session 4) — a third of the baseline's whole per-MiB cycle. One worker per partition that
/// syncs behind, started on its first such sync; it ends when dropped (after the job in hand).
pub(crate) struct SyncWorker {
    jobs: Option<std::sync::mpsc::Sender<SyncJob>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for SyncWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncWorker").finish_non_exhaustive()
    }
}

/// One fsync handed to a [`SyncWorker`].
struct SyncJob {
    file: Arc<dyn StorageFile>,
    ticket: TicketFiller,
}

/// Fills its ticket when dropped if the job did not: a job lost with the worker (a panic, a
/// worker shut down with work queued) ends as an error, never as a wait that does not end.
struct TicketFiller(Arc<SyncTicket>);

impl TicketFiller {
    fn fill(&self, result: std::io::Result<()>) {
        let mut slot = self.0.result.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(result);
            self.0.done.notify_all();
        }
    }
}

impl Drop for TicketFiller {
    fn drop(&mut self) {
        self.fill(Err(std::io::Error::other("the fsync thread stopped before this fsync ran")));
    }
}

/// The outcome of one fsync handed to a [`SyncWorker`], once it is known.
#[derive(Debug, Default)]
pub(crate) struct SyncTicket {
    result: Mutex<Option<std::io::Result<()>>>,
    done: Condvar,
}

impl SyncTicket {
    /// Whether the fsync has finished (so [`SyncTicket::wait`] will not block).
    pub fn is_done(&self) -> bool {
        self.result.lock().unwrap_or_else(|e| e.into_inner()).is_some()
    }

    /// Waits for the fsync and takes its result (a second call gets an error: a result is
    /// handed out once, as a thread's join is).
    pub fn wait(&self) -> std::io::Result<()> {
        let mut slot = self.result.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(r) = slot.take() {
                // Leave a result behind so `is_done` stays true and a second wait does not hang.
                *slot = Some(Err(std::io::Error::other("this fsync's result was already taken")));
                return r;
            }
            slot = self.done.wait(slot).unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl SyncWorker {
    /// Starts the worker thread (named `name`).
    pub fn start(name: &str) -> std::io::Result<Self> {
        let (tx, rx) = std::sync::mpsc::channel::<SyncJob>();
        let thread = std::thread::Builder::new().name(name.to_owned()).spawn(move || {
            for job in rx {
                let r = job.file.sync_data();
                job.ticket.fill(r);
            }
        })?;
        Ok(SyncWorker { jobs: Some(tx), thread: Some(thread) })
    }

    /// Hands `file`'s `fdatasync` to the worker; the ticket gives its result.
    pub fn submit(&self, file: Arc<dyn StorageFile>) -> std::io::Result<Arc<SyncTicket>> {
        let ticket = Arc::new(SyncTicket::default());
        let job = SyncJob { file, ticket: TicketFiller(ticket.clone()) };
        match self.jobs.as_ref().map(|tx| tx.send(job)) {
            Some(Ok(())) => Ok(ticket),
            // The job (and its filler) came back: the worker is gone.
            _ => Err(std::io::Error::other("the fsync thread is gone")),
        }
    }
}

impl Drop for SyncWorker {
    fn drop(&mut self) {
        // Closing the channel ends the worker's loop once the job in hand is done.
        self.jobs = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::storage::{FaultConfig, FaultyStorage, Storage};

    fn file(storage: &FaultyStorage, dir: &Path) -> Arc<dyn StorageFile> {
        Arc::from(storage.open_append(&dir.join("f.log"), false).unwrap())
    }

    #[test]
    fn the_sync_worker_reports_each_fsync_once_and_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let storage = FaultyStorage::new(FaultConfig { real_sync: false, ..FaultConfig::none(1) });
        let f = file(&storage, dir.path());
        let worker = SyncWorker::start("test-fsync").unwrap();
        storage.hold_syncs(true);
        let first = worker.submit(f.clone()).unwrap();
        storage.set_config(FaultConfig {
            fsync_eio: 1.0,
            real_sync: false,
            ..FaultConfig::none(1)
        });
        let second = worker.submit(f.clone()).unwrap();
        // Held: neither has run (no result yet, so `is_done` must say so).
        assert!(!first.is_done() && !second.is_done());
        storage.hold_syncs(false);
        // Both ran on the worker with the config of the moment they ran: failed.
        assert!(first.wait().is_err());
        assert!(second.wait().is_err());
        storage.set_config(FaultConfig { real_sync: false, ..FaultConfig::none(1) });
        let third = worker.submit(f).unwrap();
        third.wait().unwrap();
        assert!(third.is_done());
        // A result is handed out once.
        assert!(third.wait().is_err());
    }

    #[test]
    fn a_job_lost_with_its_worker_ends_in_an_error_not_a_hang() {
        let dir = tempfile::tempdir().unwrap();
        let storage = FaultyStorage::new(FaultConfig { real_sync: false, ..FaultConfig::none(2) });
        let f = file(&storage, dir.path());
        let (tx, rx) = std::sync::mpsc::channel::<SyncJob>();
        // A "worker" that drops its jobs unrun.
        let worker = SyncWorker { jobs: Some(tx), thread: None };
        let ticket = worker.submit(f).unwrap();
        drop(rx);
        let err = ticket.wait().unwrap_err();
        assert!(err.to_string().contains("stopped"), "{err}");
        drop(worker);
    }
}
