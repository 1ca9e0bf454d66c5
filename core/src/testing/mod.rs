//! Test support (feature `testing`): a sans-IO fake WhatsApp server and a
//! harness that runs a [`Connection`](crate::connection::Connection) against it
//! on virtual time.
//!
//! - [`TestServer`]: a Noise responder with its own test root and certificate
//!   chain, scriptable login (success, failure, pair-device, silence), pings,
//!   IQ answers, stream errors and garbage. It decodes what the client sends,
//!   ClientPayload included, so tests can check it.
//! - [`SimulatedPhone`]: the phone's side of pairing (scans a QR, signs and
//!   sends pair-success, plays the pair-code exchange), through a
//!   `TestServer`.
//! - [`Harness`]: moves bytes between a `Connection` and a `TestServer` on a
//!   virtual clock, with hooks that drop, delay, duplicate, split or alter the
//!   bytes in either direction. An hour of keepalive runs in milliseconds.
//! - Fixtures ([`fixtures`]): [`fresh_device`], [`registered_device`],
//!   [`patterned_device`], [`secs`], [`config_for`],
//!   [`TEST_UNIX_TIME`].
//!
//! Everything here is deterministic: keys come from seeds, time from the
//! harness. Nothing reads a clock or the OS random source.
//!
//! ```
//! use std::time::Duration;
//! use wa_core::connection::Event;
//! use wa_core::testing::{Harness, TestServer, registered_device};
//!
//! let mut pair = Harness::new(TestServer::new([1; 32]), &registered_device(1), [2; 32]);
//! pair.drive();
//! assert!(matches!(
//!     pair.take_events()[..],
//!     [Event::DeviceChanged { .. }, Event::LoggedIn { .. }]
//! ));
//! pair.advance(Duration::from_secs(600)); // ten minutes of keepalive
//! assert!(pair.take_events().is_empty());
//! assert!(pair.server.pings_answered() >= 20);
//! ```

pub mod fixtures;
pub mod fuzz;
mod harness;
pub mod messaging_fuzz;
pub mod network;
mod phone;
mod server;
pub mod signal_fuzz;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::connection::Config;

pub use fixtures::{fresh_device, patterned_device, registered_device, secs};
pub use harness::{Direction, Fate, Harness, Segment};
pub use phone::{PairSuccessVariant, SimulatedPhone};
pub use server::{
    ChainFault, IqReply, LoginReply, ServerOptions, TestServer, TestServerError, lid_user_of,
};

/// The wall-clock time the fixtures live at: 2026-01-01T00:00:00Z. The test
/// server's certificates are valid around it and [`config_for`] starts the
/// client's wall clock there.
pub const TEST_UNIX_TIME: u64 = 1_767_225_600;

/// [`TEST_UNIX_TIME`] as a `SystemTime`.
pub fn test_wall_clock() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(TEST_UNIX_TIME)
}

/// A client configuration that trusts `server`'s test root, with the given
/// RNG seed and the wall clock at [`TEST_UNIX_TIME`].
pub fn config_for(server: &TestServer, rng_seed: [u8; 32]) -> Config {
    let mut config = Config::new(rng_seed, test_wall_clock());
    config.trusted_root = server.root_public_key();
    config
}

/// The pairing crypto and stanza shapes the simulated phone runs (the other
/// side of linking), for known-answer tests. Inside the crate these are
/// internals of [`crate::pair`].
pub mod pair_crypto {
    pub use crate::pair::code::{
        ADV_SECRET_INFO, KEY_BUNDLE_INFO, KEY_BUNDLE_LEN, KeyBundle, PrimaryHello,
        WRAPPED_KEY_BUNDLE_LEN, WRAPPED_KEY_LEN, companion_finish_iq, companion_hello_iq,
        decrypt_key_bundle, derive_adv_secret, encode_pair_code, encrypt_key_bundle,
        generate_pair_code, normalize_phone_number, pair_code_key, primary_hello_notification,
        unwrap_key, wrap_key, x25519,
    };
    pub use crate::pair::success::{
        apply_pair_success, pair_device_sign, pair_error_reply, primary_device_identity,
    };
}
