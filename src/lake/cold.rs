//! The cold tier: immutable Parquet files in an object store (the local file system by default).
//!
//! Every file holds the events of one closed log segment, named after the segment's base offset
//! like the segment itself, so a file's name says which offsets it covers:
//! `<topic>/<partition>/<base_offset:020>.parquet`. Files are written once and never changed,
//! which is what lets the lake cache their partial aggregates.
//!
//! object_store is async; the lake is driven by a synchronous simulated clock, so the store
//! keeps a small current-thread tokio runtime and blocks on each call.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, PutPayload};
use polars::prelude::*;

use crate::arch::ArchError;
use crate::log::Offset;

/// The layer name in errors.
const LAYER: &str = "lake";

fn store_error(e: impl std::fmt::Display) -> ArchError {
    ArchError::Engine { layer: LAYER, message: e.to_string() }
}

/// Parquet files in a local directory, reached through object_store.
#[derive(Debug)]
pub struct ColdStore {
    root: PathBuf,
    store: LocalFileSystem,
    runtime: tokio::runtime::Runtime,
}

impl ColdStore {
    /// A store rooted at `root` (created if absent).
    pub fn open(root: &Path) -> Result<Self, ArchError> {
        std::fs::create_dir_all(root)
            .map_err(|e| store_error(format!("create {}: {e}", root.display())))?;
        // object_store wants an absolute prefix; the cold tier may be configured relative.
        let root = std::path::absolute(root)
            .map_err(|e| store_error(format!("resolve {}: {e}", root.display())))?;
        let store = LocalFileSystem::new_with_prefix(&root).map_err(store_error)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(|e| store_error(format!("start the object store runtime: {e}")))?;
        Ok(ColdStore { root, store, runtime })
    }

    /// The directory the store writes under.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The object name of the segment of `topic`/`partition` starting at `base_offset`.
    pub fn object_name(topic: &str, partition: u32, base_offset: Offset) -> String {
        format!("{topic}/{partition}/{base_offset:020}.parquet")
    }

    /// Where the object `name` lives on the local file system (for polars' file scans).
    pub fn local_path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Writes `bytes` as the object `name`, replacing any previous one.
    pub fn put(&self, name: &str, bytes: Vec<u8>) -> Result<(), ArchError> {
        let path = ObjectPath::parse(name).map_err(store_error)?;
        self.runtime
            .block_on(self.store.put(&path, PutPayload::from(bytes)))
            .map_err(store_error)?;
        Ok(())
    }

    /// Reads the whole object `name`.
    pub fn get(&self, name: &str) -> Result<Vec<u8>, ArchError> {
        let path = ObjectPath::parse(name).map_err(store_error)?;
        let bytes = self
            .runtime
            .block_on(async { self.store.get(&path).await?.bytes().await })
            .map_err(store_error)?;
        Ok(bytes.to_vec())
    }

    /// Reads the Parquet object `name` back into a DataFrame.
    pub fn read_frame(&self, name: &str) -> Result<DataFrame, ArchError> {
        decode_parquet(self.get(name)?).map_err(|e| store_error(format!("{name}: {e}")))
    }
}

/// `df` as Parquet bytes. The writer is configured so the same frame always gives the same
/// bytes: one row group, no parallel column encoding, zstd at a fixed level; polars writes no
/// timestamps into the file.
pub fn encode_parquet(df: &mut DataFrame) -> PolarsResult<Vec<u8>> {
    let mut out = Vec::new();
    ParquetWriter::new(&mut out)
        .with_compression(ParquetCompression::Zstd(None))
        .with_row_group_size(Some(df.height().max(1)))
        .set_parallel(false)
        .finish(df)?;
    Ok(out)
}

/// Parquet bytes back into a DataFrame.
pub fn decode_parquet(bytes: Vec<u8>) -> PolarsResult<DataFrame> {
    ParquetReader::new(Cursor::new(bytes)).finish()
}
