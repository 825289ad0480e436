//! `lambda-unified`: Summingbird's answer to Lambda's duplicated logic. Each query is written
//! once, as a monoid aggregation (`query/unified/definitions.rs`); a rayon batch runner and a streaming
//! runner execute that one definition, and the same serving layer merges their views.

use std::sync::Arc;

use super::lambda::LambdaArch;
use super::{ArchContext, ArchError, Architecture};
use crate::log::Log;
use crate::query::unified::{MonoidBatch, MonoidStream};

/// Builds `lambda-unified`.
pub fn build(ctx: &ArchContext<'_>, log: &Log) -> Result<Box<dyn Architecture>, ArchError> {
    let batch = Arc::new(MonoidBatch::new());
    let speed = Arc::new(MonoidStream::new(ctx.queries.clone()));
    Ok(Box::new(LambdaArch::new("lambda-unified", ctx, log, batch, speed, 0)?))
}
