//! `cargo fuzz run rules`: see `ocipull_fuzz_targets::rules` for the input format and properties.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ocipull_fuzz_targets::rules::run(data));
