//! `wa_core::testing::signal_fuzz::decrypt_one`: see its docs for what is checked.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = wa_core::testing::signal_fuzz::decrypt_one(data);
});
