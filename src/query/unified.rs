//! lambda-unified: each query written once as a monoid aggregation. STUB: being written.

use std::sync::Arc;

use crate::arch::ArchError;
use crate::batch::BatchCompute;
use crate::log::{Log, Offset};
use crate::query::{Agg, Cell, QuerySet, View};
use crate::speed::StreamCompute;
use crate::workload::EventFields;

/// The batch runner over the monoid definitions.
#[derive(Debug, Default)]
pub struct MonoidBatch;

impl MonoidBatch {
    /// The runner.
    pub fn new() -> Self {
        MonoidBatch
    }
}

impl BatchCompute for MonoidBatch {
    fn compute(
        &self,
        _log: &Log,
        _topic: &str,
        _cutoff: &[Offset],
        _queries: &QuerySet,
    ) -> Result<(View, u64), ArchError> {
        Err(ArchError::Engine {
            layer: "batch",
            message: "monoid batch runner not built yet".into(),
        })
    }
}

/// The streaming runner over the monoid definitions.
#[derive(Debug)]
pub struct MonoidStream {
    _queries: Arc<QuerySet>,
}

impl MonoidStream {
    /// The runner for `queries`.
    pub fn new(queries: Arc<QuerySet>) -> Self {
        MonoidStream { _queries: queries }
    }
}

impl StreamCompute for MonoidStream {
    fn contributions(&self, _event: &EventFields, _out: &mut Vec<(Cell, Agg)>) {}
}
