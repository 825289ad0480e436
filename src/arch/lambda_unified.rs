//! `lambda-unified`: Summingbird's answer to Lambda's duplicated logic. Each query is written
//! once, as a monoid aggregation (`query/unified/definitions.rs`); a rayon batch runner and a streaming
//! runner execute that one definition, and the same serving layer merges their views.

use std::sync::Arc;

use super::lambda::LambdaArch;
use super::{ArchContext, ArchError, Architecture};
use crate::batch::BatchCompute;
use crate::log::Log;
use crate::query::unified::{MonoidBatch, MonoidStream};
use crate::speed::StreamCompute;

/// Builds `lambda-unified`.
pub fn build(ctx: &ArchContext<'_>, log: &Log) -> Result<Box<dyn Architecture>, ArchError> {
    // One definition, two runners: a logic change rebuilds both from the same definitions.
    // The batch runner reads the run's master dataset in columns, decoded once per segment
    // for every batch layer of the run.
    let cache = ctx.column_cache.clone();
    let arch = LambdaArch::with_factories(
        "lambda-unified",
        ctx,
        log,
        Arc::new(move |_| {
            Arc::new(MonoidBatch::with_cache(cache.clone())) as Arc<dyn BatchCompute>
        }),
        Arc::new(|q| Arc::new(MonoidStream::new(q)) as Arc<dyn StreamCompute>),
    )?;
    Ok(Box::new(arch))
}
