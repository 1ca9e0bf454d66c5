//! A fresh companion identity (docs/protocol.md §3.6, §7): [`Device::generate`].

use rand_core::CryptoRng;

use crate::keys::{DJB_KEY_TYPE, KeyPair};
use crate::store::{Device, DeviceKeys};
use crate::xeddsa::{self, XeddsaError};

/// The signed-prekey id every reference client uses (docs/protocol.md §3.6).
const SIGNED_PRE_KEY_ID: u32 = 1;

/// The largest registration id: whatsapp-rust draws from `1..=2³¹−1`
/// (docs/protocol.md §8 row 20). whatsmeow allows any u32 and Baileys only 14 bits;
/// the 31-bit range is what libsignal's own generator produces and fits every
/// signed-int column a peer might store it in.
const MAX_REGISTRATION_ID: u32 = 0x7FFF_FFFF;

impl DeviceKeys {
    /// Fresh key material from `rng`: X25519 Noise static, identity and
    /// signed-prekey pairs (clamped private keys, as libsignal stores them), a
    /// registration id uniform in `1..=2³¹−1`, signed-prekey id 1 with the
    /// identity key's XEdDSA signature over `0x05 ‖ spk.pub`, and a 32-byte ADV
    /// secret.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> DeviceKeys {
        let noise_key = KeyPair::generate(rng);
        let identity_key = KeyPair::generate(rng);
        let signed_pre_key = KeyPair::generate(rng);
        let signed_pre_key_signature = xeddsa::sign_parts(
            &identity_key.private,
            &[&[DJB_KEY_TYPE], &signed_pre_key.public],
            &random_64(rng),
        );
        let registration_id = loop {
            // Rejection sampling keeps the draw uniform; a zero comes up once
            // in 2³¹ draws.
            let id = rng.next_u32() & MAX_REGISTRATION_ID;
            if id != 0 {
                break id;
            }
        };
        let mut adv_secret_key = [0u8; 32];
        rng.fill_bytes(&mut adv_secret_key);
        DeviceKeys {
            noise_key,
            identity_key,
            registration_id,
            signed_pre_key,
            signed_pre_key_id: SIGNED_PRE_KEY_ID,
            signed_pre_key_signature,
            adv_secret_key,
        }
    }
}

fn random_64<R: CryptoRng + ?Sized>(rng: &mut R) -> [u8; 64] {
    let mut random = [0u8; 64];
    rng.fill_bytes(&mut random);
    random
}

impl Device {
    /// A fresh, unregistered companion device with keys from `rng`
    /// ([`DeviceKeys::generate`]). The driver passes a CSPRNG seeded from the
    /// OS; tests pass a seeded one.
    ///
    /// ```
    /// use rand_chacha::ChaCha20Rng;
    /// use rand_core::SeedableRng;
    /// use wa_core::store::Device;
    ///
    /// let device = Device::generate(&mut ChaCha20Rng::from_seed([7; 32]));
    /// assert!(!device.is_registered());
    /// assert_eq!(device.signed_pre_key_id, 1);
    /// assert_eq!(device.verify_signed_pre_key(), Ok(()));
    /// ```
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Device {
        Device::from_keys(DeviceKeys::generate(rng))
    }

    /// Checks the signed-prekey signature: the identity key's XEdDSA
    /// signature over `0x05 ‖ signed_pre_key.public` (what the server checks
    /// on `eSkeySig`, docs/protocol.md §3.2).
    pub fn verify_signed_pre_key(&self) -> Result<(), XeddsaError> {
        xeddsa::verify_parts(
            &self.identity_key.public,
            &[&[DJB_KEY_TYPE], &self.signed_pre_key.public],
            &self.signed_pre_key_signature,
        )
    }

    /// Replaces the ADV secret with 32 fresh bytes from `rng` (what a
    /// `companion_reg_refresh` notification asks for, docs/protocol.md §6.1).
    pub fn rotate_adv_secret<R: CryptoRng + ?Sized>(&mut self, rng: &mut R) {
        rng.fill_bytes(&mut self.adv_secret_key);
    }
}
