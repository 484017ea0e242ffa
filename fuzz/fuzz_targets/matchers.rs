//! Matcher sets: parse, display and re-parse to the same matchers.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| alertkit_core::testing::fuzz::matchers(data));
