//! The scenario parser and validator on arbitrary text: an error or a scenario, never a panic
//! (and, with libFuzzer's `-timeout`, never a hang).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = lambda_workbench_fuzz::scenario::Scenario::parse(
            text,
            std::path::Path::new("fuzz.toml"),
        );
    }
});
