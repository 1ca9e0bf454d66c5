//! Fuzz target: the body is [`wa_core::testing::fuzz::frame_decode`], type-checked
//! and run over this target's seed corpus with the core's tests.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| wa_core::testing::fuzz::frame_decode::run(data));
