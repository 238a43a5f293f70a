//! `cargo fuzz run layout`: see `ocipull_fuzz_targets::layout` for the input format and properties.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ocipull_fuzz_targets::layout::run(data));
