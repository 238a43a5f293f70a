//! `cargo fuzz run reference`: see `ocipull_fuzz_targets::reference` for the input format and properties.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ocipull_fuzz_targets::reference::run(data));
