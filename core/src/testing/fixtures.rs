//! Fixtures the tests share: devices from a seed and small helpers. Every
//! value derives from its arguments; nothing reads a clock or the OS random
//! source.

use std::time::Duration;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use crate::binary::Jid;
use crate::keys::KeyPair;
use crate::store::{Device, DeviceKeys};

/// Seconds as a `Duration`.
pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// A fresh, unregistered device whose keys all derive from `seed`: noise and
/// identity keys, registration id, signed prekey (id 1) with a valid XEdDSA
/// signature over `0x05 ‖ spk.pub`, and an ADV secret.
pub fn fresh_device(seed: u8) -> Device {
    Device::generate(&mut ChaCha20Rng::from_seed([seed; 32]))
}

/// [`fresh_device`] linked to a phone: `pn = 1555000<seed as 4 digits>:7@s.whatsapp.net`,
/// a LID, a push name and login counter 3.
pub fn registered_device(seed: u8) -> Device {
    let mut device = fresh_device(seed);
    device.pn = Some(Jid::pn(&format!("1555000{seed:04}")).with_device(7));
    device.lid = Some(Jid::lid(&format!("98765{seed:04}")).with_device(7));
    device.push_name = "Test".to_owned();
    device.login_counter = 3;
    // A stand-in for the account-signed device identity the phone would
    // sign at linking (messages carry it as `<device-identity>`).
    device.account = Some(format!("device-identity:1555000{seed:04}").into_bytes());
    device
}

/// A device with recognisable key material and no cryptography behind it
/// (the public keys do not match the private ones; fast to build, for store
/// tests): key pairs `[b; 32]` / `[b ^ 0x5a; 32]` from `seed`, registration id
/// `1000 + seed`, `pn = 55119876500<seed as 2 digits>:7@s.whatsapp.net` and
/// push name `device <seed>`.
pub fn patterned_device(seed: u8) -> Device {
    let kp = |b: u8| KeyPair {
        private: [b; 32],
        public: [b ^ 0x5a; 32],
    };
    let mut d = Device::from_keys(DeviceKeys {
        noise_key: kp(seed),
        identity_key: kp(seed.wrapping_add(1)),
        registration_id: 1000 + u32::from(seed),
        signed_pre_key: kp(seed.wrapping_add(2)),
        signed_pre_key_id: 1,
        signed_pre_key_signature: [seed; 64],
        adv_secret_key: [seed.wrapping_add(3); 32],
    });
    d.pn = Some(Jid::pn(&format!("55119876500{seed:02}")).with_device(7));
    d.push_name = format!("device {seed}");
    d
}
