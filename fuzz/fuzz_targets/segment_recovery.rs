//! Segment recovery on arbitrary segment files (see `log::fuzzing::segment_recovery`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    lambda_workbench_fuzz::log::fuzzing::segment_recovery(data)
});
