//! `streaming-lake`: no serving layer; queries read cold Parquet + the hot log tail. STUB.

use super::{ArchContext, ArchError, Architecture};
use crate::log::Log;

/// Builds `streaming-lake`.
pub fn build(_ctx: &ArchContext<'_>, _log: &Log) -> Result<Box<dyn Architecture>, ArchError> {
    Err(ArchError::Engine { layer: "lake", message: "streaming-lake not built yet".into() })
}
