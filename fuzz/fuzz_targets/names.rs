//! `cargo fuzz run names`: see `ocipull_fuzz_targets::names` for the input format and properties.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ocipull_fuzz_targets::names::run(data));
