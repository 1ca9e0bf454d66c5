//! `wa_core::testing::messaging_fuzz::inbound`: see its docs for what is checked.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = wa_core::testing::messaging_fuzz::inbound(data);
});
