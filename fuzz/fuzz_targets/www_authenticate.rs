//! `cargo fuzz run www_authenticate`: see `ocipull_fuzz_targets::www_authenticate` for the input format and properties.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ocipull_fuzz_targets::www_authenticate::run(data));
