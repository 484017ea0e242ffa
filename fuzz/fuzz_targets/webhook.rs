//! Webhook v4 messages: parse, emit and re-parse to the same message.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| alertkit_core::testing::fuzz::webhook(data));
