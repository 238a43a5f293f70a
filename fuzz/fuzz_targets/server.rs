//! `cargo fuzz run server`: see `ocipull_fuzz_targets::server` for the input format and properties.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ocipull_fuzz_targets::server::run(data));
