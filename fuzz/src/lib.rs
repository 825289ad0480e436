//! The workbench modules the fuzz targets exercise, compiled from the main crate's sources.
//!
//! Only the log, the scenario parser and what they use are pulled in, by path, so building the
//! fuzzers instruments a few thousand lines rather than the whole crate with polars.
#![allow(dead_code, unused_imports)]

#[path = "../../src/hll.rs"]
pub mod hll;
#[path = "../../src/log/mod.rs"]
pub mod log;
#[path = "../../src/scenario/mod.rs"]
pub mod scenario;
