//! Reads and time lookups through damaged index files (see `log::fuzzing::index_lookup`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| lambda_workbench_fuzz::log::fuzzing::index_lookup(data));
