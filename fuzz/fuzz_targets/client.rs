//! `cargo fuzz run client`: see `ocipull_fuzz_targets::client` for the input format and properties.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ocipull_fuzz_targets::client::run(data));
