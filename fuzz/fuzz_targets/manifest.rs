//! `cargo fuzz run manifest`: see `ocipull_fuzz_targets::manifest` for the input format and properties.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ocipull_fuzz_targets::manifest::run(data));
