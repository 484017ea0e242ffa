//! API v2 `POST /api/v2/alerts` bodies: parse and check the accepted alerts and error paths.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| alertkit_core::testing::fuzz::api_v2(data));
