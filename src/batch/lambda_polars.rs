//! Lambda's batch layer written as DataFrame code (polars). STUB: being written.

use crate::arch::ArchError;
use crate::log::{Log, Offset};
use crate::query::{QuerySet, View};

use super::BatchCompute;

/// Every query as polars DataFrame code over the events of a log prefix.
#[derive(Debug, Default)]
pub struct PolarsBatch;

impl PolarsBatch {
    /// The batch computation.
    pub fn new() -> Self {
        PolarsBatch
    }
}

impl BatchCompute for PolarsBatch {
    fn compute(
        &self,
        _log: &Log,
        _topic: &str,
        _cutoff: &[Offset],
        _queries: &QuerySet,
    ) -> Result<(View, u64), ArchError> {
        Err(ArchError::Engine {
            layer: "batch",
            message: "polars batch layer not built yet".into(),
        })
    }
}
