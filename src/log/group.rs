//! Consumer-group offsets, persisted as one small JSON file per group.
//!
//! `DIR/__consumer_offsets/<group>.json` holds `{"<topic>": {"<partition>": offset}}`. Every
//! commit rewrites the group's file atomically (temporary file, fsync, rename, fsync directory),
//! so a crash leaves the previous or the new commit, never a torn file. The directory name starts
//! with `__`, which topic names may not, so it is never mistaken for a topic.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::Offset;
use super::error::{LogError, Result};
use super::fsutil::{io_err, sync_dir, validate_name, write_atomic};

/// Name of the directory holding the group files.
pub(crate) const OFFSETS_DIR: &str = "__consumer_offsets";

/// Committed offsets of one group: topic → partition → next offset to read.
type GroupOffsets = BTreeMap<String, BTreeMap<u32, Offset>>;

/// All groups' committed offsets, cached in memory and written through to disk.
#[derive(Debug)]
pub(crate) struct GroupStore {
    dir: PathBuf,
    groups: BTreeMap<String, GroupOffsets>,
    /// Whether commits are fsynced (not with `FsyncPolicy::Never`, like the segments).
    sync: bool,
}

impl GroupStore {
    /// Loads every group file under `log_dir/__consumer_offsets`.
    pub fn open(log_dir: &Path, sync: bool) -> Result<Self> {
        let dir = log_dir.join(OFFSETS_DIR);
        let mut groups = BTreeMap::new();
        if dir.is_dir() {
            for entry in std::fs::read_dir(&dir).map_err(io_err("list", &dir))? {
                let entry = entry.map_err(io_err("list", &dir))?;
                let path = entry.path();
                let Some(name) = path.file_name().and_then(|n| n.to_str()) else { continue };
                // Leftover `.json.tmp` files are commits that never happened.
                let Some(group) = name.strip_suffix(".json") else { continue };
                let bytes = std::fs::read(&path).map_err(io_err("read", &path))?;
                let offsets: GroupOffsets =
                    serde_json::from_slice(&bytes).map_err(|e| LogError::Corrupt {
                        file: path.clone(),
                        position: e.column() as u64,
                        reason: format!("bad group offsets: {e}"),
                    })?;
                groups.insert(group.to_owned(), offsets);
            }
        }
        Ok(GroupStore { dir, groups, sync })
    }

    /// Stores `offsets` (partition, offset) of `topic` for `group`, durably.
    pub fn commit(&mut self, group: &str, topic: &str, offsets: &[(u32, Offset)]) -> Result<()> {
        validate_name(group)?;
        if !self.dir.is_dir() {
            std::fs::create_dir_all(&self.dir).map_err(io_err("create dir", &self.dir))?;
            if let Some(parent) = self.dir.parent() {
                sync_dir(parent)?;
            }
        }
        let mut updated = self.groups.get(group).cloned().unwrap_or_default();
        let t = updated.entry(topic.to_owned()).or_default();
        for &(p, o) in offsets {
            t.insert(p, o);
        }
        let json = serde_json::to_vec_pretty(&updated).map_err(|e| LogError::Io {
            op: "serialize",
            path: self.dir.clone(),
            source: std::io::Error::other(e),
        })?;
        let path = self.dir.join(format!("{group}.json"));
        if self.sync {
            write_atomic(&path, &json)?;
        } else {
            // Still atomic against a process crash (rename), just not fsynced.
            let tmp = self.dir.join(format!("{group}.json.tmp"));
            std::fs::write(&tmp, &json).map_err(io_err("write", &tmp))?;
            std::fs::rename(&tmp, &path).map_err(io_err("rename", &path))?;
        }
        // Only what is on disk is visible.
        self.groups.insert(group.to_owned(), updated);
        Ok(())
    }

    /// The committed offset of `group` for a partition, if any.
    pub fn get(&self, group: &str, topic: &str, partition: u32) -> Result<Option<Offset>> {
        validate_name(group)?;
        Ok(self
            .groups
            .get(group)
            .and_then(|g| g.get(topic))
            .and_then(|t| t.get(&partition))
            .copied())
    }
}
