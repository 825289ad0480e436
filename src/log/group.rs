//! Consumer-group offsets, persisted as one small append-only file per group.
//!
//! `DIR/__consumer_offsets/<group>.offsets` is a sequence of entries, each
//! `[len: u32 LE][crc32c(payload): u32 LE][payload]`, where the payload is the group's whole
//! committed state as JSON, `{"<topic>": {"<partition>": offset}}`. A commit appends one entry
//! (and `fdatasync`s it unless the log's fsync policy is `never`); the last valid entry is the
//! group's state. This is Kafka's design in miniature — its `__consumer_offsets` is a compacted
//! log, not a file rewritten in place — and it matters for cost: a stream job commits every few
//! seconds, and rewriting a file by create-and-rename each time made ext4 spend a quarter of a
//! simulated day's run allocating inodes.
//!
//! **Crash safety.** An append that a crash tears leaves a short or mismatched entry at the
//! end. Opening stops at the first entry that does not check and truncates the file there: that
//! commit was never acknowledged, and the previous one stands. (A bit flip in the middle of the
//! file would also stop the scan there; the group then resumes from an *earlier* commit and
//! re-reads records — at-least-once, never a skipped record.)
//!
//! **Compaction.** When a file passes [`COMPACT_BYTES`], the next commit rewrites it as a single
//! entry atomically (temporary file, fsync, rename, fsync directory). The same rewrite follows a
//! failed append or fsync, so an entry whose durability is unknown is never built upon (the
//! PostgreSQL fsync lesson: after a failed fsync, do not trust the page cache).
//!
//! Logs written before this format kept `<group>.json` (the same JSON, rewritten per commit);
//! they are still read, and the first commit migrates them. The directory name starts with `__`,
//! which topic names may not, so it is never mistaken for a topic.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::Offset;
use super::error::{LogError, Result};
use super::fsutil::{io_err, sync_dir, validate_name, write_atomic};

/// Name of the directory holding the group files.
pub(crate) const OFFSETS_DIR: &str = "__consumer_offsets";

/// Extension of the append-only offsets files.
const EXT: &str = "offsets";

/// Extension of the files of the earlier format (one JSON document, replaced per commit).
const LEGACY_EXT: &str = "json";

/// A file longer than this is rewritten as one entry at its next commit.
pub(crate) const COMPACT_BYTES: u64 = 64 * 1024;

/// Bytes before each entry's payload: length and CRC.
const HEADER: usize = 8;

/// Committed offsets of one group: topic → partition → next offset to read.
type GroupOffsets = BTreeMap<String, BTreeMap<u32, Offset>>;

/// One group's state and its open file.
#[derive(Debug, Default)]
struct Group {
    offsets: GroupOffsets,
    /// Open for appending, once the group has committed in this process.
    file: Option<File>,
    /// Bytes of the file that hold valid entries.
    len: u64,
    /// The next commit must rewrite the file (too long, a failed write, or a legacy file).
    rewrite: bool,
}

/// All groups' committed offsets, cached in memory and written through to disk.
#[derive(Debug)]
pub(crate) struct GroupStore {
    dir: PathBuf,
    groups: BTreeMap<String, Group>,
    /// Whether commits are fsynced (not with `FsyncPolicy::Never`, like the segments).
    sync: bool,
}

/// Encodes one entry: header and payload.
fn entry(offsets: &GroupOffsets, path: &Path) -> Result<Vec<u8>> {
    let json = serde_json::to_vec(offsets).map_err(|e| LogError::Io {
        op: "serialize",
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    })?;
    let mut out = Vec::with_capacity(HEADER + json.len());
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(&json).to_le_bytes());
    out.extend_from_slice(&json);
    Ok(out)
}

/// Scans an offsets file: the state of its last valid entry (if any) and the bytes up to the end
/// of that entry. Whatever follows the first entry that does not check is a torn tail.
fn scan(bytes: &[u8]) -> (Option<GroupOffsets>, u64) {
    let mut pos = 0usize;
    let mut last = None;
    while let Some(header) = bytes.get(pos..pos + HEADER) {
        let len = u32::from_le_bytes(header[..4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(header[4..].try_into().expect("4 bytes"));
        let Some(payload) = bytes.get(pos + HEADER..pos + HEADER + len) else { break };
        if crc32c::crc32c(payload) != crc {
            break;
        }
        let Ok(offsets) = serde_json::from_slice::<GroupOffsets>(payload) else { break };
        last = Some(offsets);
        pos += HEADER + len;
    }
    (last, pos as u64)
}

impl GroupStore {
    /// Loads every group file under `log_dir/__consumer_offsets`, truncating torn tails.
    pub fn open(log_dir: &Path, sync: bool) -> Result<Self> {
        let dir = log_dir.join(OFFSETS_DIR);
        let mut groups: BTreeMap<String, Group> = BTreeMap::new();
        if dir.is_dir() {
            let mut legacy = Vec::new();
            for entry in std::fs::read_dir(&dir).map_err(io_err("list", &dir))? {
                let entry = entry.map_err(io_err("list", &dir))?;
                let path = entry.path();
                let Some(name) = path.file_name().and_then(|n| n.to_str()) else { continue };
                // Leftover `.tmp` files are rewrites that never happened.
                if let Some(stem) = name.strip_suffix(&format!(".{EXT}")) {
                    let bytes = std::fs::read(&path).map_err(io_err("read", &path))?;
                    let (offsets, len) = scan(&bytes);
                    if len < bytes.len() as u64 {
                        // A torn append: never acknowledged, so drop it before appending after it.
                        let f = OpenOptions::new()
                            .write(true)
                            .open(&path)
                            .map_err(io_err("open", &path))?;
                        f.set_len(len).map_err(io_err("truncate", &path))?;
                        if sync {
                            f.sync_all().map_err(io_err("fsync", &path))?;
                        }
                    }
                    let group = Group {
                        offsets: offsets.unwrap_or_default(),
                        file: None,
                        len,
                        // A file past `COMPACT_BYTES` is rewritten by the length check.
                        rewrite: false,
                    };
                    groups.insert(stem.to_owned(), group);
                } else if let Some(group) = name.strip_suffix(&format!(".{LEGACY_EXT}")) {
                    legacy.push((group.to_owned(), path));
                }
            }
            for (group, path) in legacy {
                // The append-only file, if both exist, was written after the legacy one.
                if groups.contains_key(&group) {
                    continue;
                }
                let bytes = std::fs::read(&path).map_err(io_err("read", &path))?;
                let offsets: GroupOffsets =
                    serde_json::from_slice(&bytes).map_err(|e| LogError::Corrupt {
                        file: path.clone(),
                        position: e.column() as u64,
                        reason: format!("bad group offsets: {e}"),
                    })?;
                groups.insert(group, Group { offsets, file: None, len: 0, rewrite: true });
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
        let path = self.dir.join(format!("{group}.{EXT}"));
        let sync = self.sync;
        let g = self.groups.entry(group.to_owned()).or_default();
        let mut updated = g.offsets.clone();
        let t = updated.entry(topic.to_owned()).or_default();
        for &(p, o) in offsets {
            t.insert(p, o);
        }
        let bytes = entry(&updated, &path)?;
        if g.rewrite || g.len + bytes.len() as u64 > COMPACT_BYTES {
            // One entry, replacing the file atomically; the old handle points at the old inode.
            g.file = None;
            g.rewrite = true;
            write_atomic(&path, &bytes)?;
            g.len = bytes.len() as u64;
            g.rewrite = false;
            let legacy = self.dir.join(format!("{group}.{LEGACY_EXT}"));
            if legacy.exists() {
                std::fs::remove_file(&legacy).map_err(io_err("remove", &legacy))?;
            }
        } else {
            if g.file.is_none() {
                let existed = path.exists();
                let f = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .map_err(io_err("open", &path))?;
                if !existed && sync {
                    // The new file's directory entry must be as durable as its first entry.
                    sync_dir(&self.dir)?;
                }
                g.file = Some(f);
            }
            let f = g.file.as_mut().expect("opened above");
            let written = f.write_all(&bytes).map_err(io_err("write", &path)).and_then(|()| {
                if sync { f.sync_data().map_err(io_err("fsync", &path)) } else { Ok(()) }
            });
            if let Err(e) = written {
                // The entry may be partly on disk, or in a page cache that a failed fsync
                // dropped: the next commit rewrites the file rather than append after it.
                g.rewrite = true;
                g.file = None;
                return Err(e);
            }
            g.len += bytes.len() as u64;
        }
        // Only what is on disk is visible.
        g.offsets = updated;
        Ok(())
    }

    /// The committed offset of `group` for a partition, if any.
    pub fn get(&self, group: &str, topic: &str, partition: u32) -> Result<Option<Offset>> {
        validate_name(group)?;
        Ok(self
            .groups
            .get(group)
            .and_then(|g| g.offsets.get(topic))
            .and_then(|t| t.get(&partition))
            .copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn committed(dir: &Path, group: &str, partition: u32) -> Option<Offset> {
        GroupStore::open(dir, true).unwrap().get(group, "t", partition).unwrap()
    }

    #[test]
    fn commits_survive_a_reopen_and_the_last_wins() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = GroupStore::open(dir.path(), true).unwrap();
        s.commit("g", "t", &[(0, 5), (1, 7)]).unwrap();
        s.commit("g", "t", &[(0, 9)]).unwrap();
        s.commit("h", "t", &[(0, 1)]).unwrap();
        assert_eq!(committed(dir.path(), "g", 0), Some(9));
        assert_eq!(committed(dir.path(), "g", 1), Some(7));
        assert_eq!(committed(dir.path(), "h", 0), Some(1));
        assert_eq!(committed(dir.path(), "h", 1), None);
    }

    #[test]
    fn a_torn_last_entry_is_dropped_and_appending_continues_after_the_good_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = GroupStore::open(dir.path(), true).unwrap();
        s.commit("g", "t", &[(0, 5)]).unwrap();
        let path = dir.path().join(OFFSETS_DIR).join("g.offsets");
        let first_end = std::fs::metadata(&path).unwrap().len() as usize;
        s.commit("g", "t", &[(0, 6)]).unwrap();
        drop(s);
        let full = std::fs::read(&path).unwrap();
        // Every possible tear of the second entry leaves the first commit.
        assert!(first_end > 0 && first_end < full.len());
        for cut in first_end..full.len() {
            std::fs::write(&path, &full[..cut]).unwrap();
            assert_eq!(committed(dir.path(), "g", 0), Some(5), "cut at {cut}");
            assert_eq!(std::fs::metadata(&path).unwrap().len() as usize, first_end);
        }
        // A flipped bit in the last entry's payload is a torn entry too.
        let mut flipped = full.clone();
        *flipped.last_mut().unwrap() ^= 0x10;
        std::fs::write(&path, &flipped).unwrap();
        let mut s = GroupStore::open(dir.path(), true).unwrap();
        assert_eq!(s.get("g", "t", 0).unwrap(), Some(5));
        s.commit("g", "t", &[(0, 8)]).unwrap();
        assert_eq!(committed(dir.path(), "g", 0), Some(8));
    }

    #[test]
    fn long_files_are_compacted_to_one_entry() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = GroupStore::open(dir.path(), false).unwrap();
        for i in 0..5_000u64 {
            s.commit("g", "t", &[((i % 3) as u32, i)]).unwrap();
        }
        let path = dir.path().join(OFFSETS_DIR).join("g.offsets");
        assert!(std::fs::metadata(&path).unwrap().len() <= COMPACT_BYTES);
        assert_eq!(committed(dir.path(), "g", 0), Some(4_998));
        assert_eq!(committed(dir.path(), "g", 1), Some(4_999));
        assert_eq!(committed(dir.path(), "g", 2), Some(4_997));
    }

    #[test]
    fn legacy_json_files_are_read_and_migrated_by_the_first_commit() {
        let dir = tempfile::tempdir().unwrap();
        let offsets = dir.path().join(OFFSETS_DIR);
        std::fs::create_dir_all(&offsets).unwrap();
        std::fs::write(offsets.join("g.json"), br#"{"t": {"0": 12, "1": 3}}"#).unwrap();
        assert_eq!(committed(dir.path(), "g", 0), Some(12));
        let mut s = GroupStore::open(dir.path(), true).unwrap();
        s.commit("g", "t", &[(1, 4)]).unwrap();
        assert!(!offsets.join("g.json").exists());
        assert_eq!(committed(dir.path(), "g", 0), Some(12));
        assert_eq!(committed(dir.path(), "g", 1), Some(4));
    }

    #[test]
    fn a_corrupt_legacy_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let offsets = dir.path().join(OFFSETS_DIR);
        std::fs::create_dir_all(&offsets).unwrap();
        std::fs::write(offsets.join("g.json"), b"{not json").unwrap();
        let err = GroupStore::open(dir.path(), true).unwrap_err().to_string();
        assert!(err.contains("g.json"), "{err}");
    }
}
