//! The record-batch decoder on arbitrary bodies (see `log::fuzzing::batch_decode`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| lambda_workbench_fuzz::log::fuzzing::batch_decode(data));
