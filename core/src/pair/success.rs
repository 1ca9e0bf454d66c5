//! `<pair-success>`: verification, our device signature, and the replies
//! (docs/protocol.md §6.1 steps 7–10, §6.2).

use bytes::Bytes;
use hmac::{Hmac, KeyInit as _, Mac as _};
use prost::Message as _;
use sha2::Sha256;

use crate::binary::{Jid, Node, Server};
use crate::proto::{
    AdvDeviceIdentity, AdvEncryptionType, AdvSignedDeviceIdentity, AdvSignedDeviceIdentityHmac,
    ClientPairingProps,
};
use crate::store::Device;
use crate::xeddsa;

use super::PairError;

/// Prefix of the account signature (docs/protocol.md §6.2).
pub const ADV_ACCOUNT_SIGNATURE_PREFIX: [u8; 2] = [0x06, 0x00];
/// Prefix of the device signature.
pub const ADV_DEVICE_SIGNATURE_PREFIX: [u8; 2] = [0x06, 0x01];
/// Prefix of a hosted account's signature, and of the HMAC input when the
/// HMAC container says the account is hosted.
pub const ADV_HOSTED_ACCOUNT_SIGNATURE_PREFIX: [u8; 2] = [0x06, 0x05];
/// Prefix whatsapp-rust uses for a hosted device signature. Not used here:
/// the device signature always takes [`ADV_DEVICE_SIGNATURE_PREFIX`]
/// (docs/protocol.md §8 row 10, whatsmeow and Baileys).
pub const ADV_HOSTED_DEVICE_SIGNATURE_PREFIX: [u8; 2] = [0x06, 0x06];

type HmacSha256 = Hmac<Sha256>;

/// What a `<pair-success>` says, decoded (docs/protocol.md §6.1 step 7).
///
/// Only the parts a companion uses are read; siblings such as
/// `<encryption-metadata>` are ignored.
#[derive(Debug, Clone, PartialEq)]
pub struct PairSuccess {
    /// The `<device-identity>` bytes: a serialized
    /// [`AdvSignedDeviceIdentityHmac`].
    pub device_identity: Bytes,
    /// Our new phone-number JID, `<phone>:<device>@s.whatsapp.net`.
    pub pn: Jid,
    /// Our LID, `<lid>:<device>@lid`, when sent.
    pub lid: Option<Jid>,
    /// `<biz name>`, for business accounts.
    pub business_name: Option<String>,
    /// `<platform name>`: the primary device's platform.
    pub platform: Option<String>,
    /// `<client-props>`, when present and decodable.
    pub client_props: Option<ClientPairingProps>,
}

impl PairSuccess {
    /// Reads a `<pair-success>` node (the child of the server's `<iq>`).
    ///
    /// Refused ([`PairError::Malformed`]): no `<device-identity>` bytes, no
    /// `<device jid>`, a `jid` that is not a phone-number JID with a non-zero
    /// device, a `lid` that is not a LID JID. Undecodable `<client-props>` are
    /// ignored (they only carry hints).
    pub fn from_node(pair_success: &Node) -> Result<PairSuccess, PairError> {
        let device_identity = pair_success
            .child("device-identity")
            .and_then(Node::content_bytes)
            .cloned()
            .ok_or(PairError::Malformed("device-identity"))?;
        let device = pair_success
            .child("device")
            .ok_or(PairError::Malformed("device"))?;
        let pn = device
            .attr_jid("jid")
            .ok()
            .filter(|jid| jid.server() == Server::Pn && jid.device() != 0 && !jid.user().is_empty())
            .ok_or(PairError::Malformed("device jid"))?;
        let lid = match device.attr_jid_opt("lid") {
            Ok(None) => None,
            Ok(Some(lid)) if lid.server() == Server::Lid && !lid.user().is_empty() => Some(lid),
            _ => return Err(PairError::Malformed("device lid")),
        };
        let name_of = |tag: &str| {
            pair_success
                .child(tag)
                .and_then(|n| n.attr("name"))
                .map(|v| v.to_text().into_owned())
        };
        let client_props = pair_success
            .child("client-props")
            .and_then(Node::content_bytes)
            .and_then(|b| ClientPairingProps::decode(&b[..]).ok());
        Ok(PairSuccess {
            device_identity,
            business_name: name_of("biz"),
            platform: name_of("platform"),
            pn,
            lid,
            client_props,
        })
    }
}

/// The result of a verified pair-success: what to send back and what to
/// persist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedDeviceIdentity {
    /// `ADVDeviceIdentity.keyIndex` (0 when absent): the `key-index` of the
    /// reply.
    pub key_index: u32,
    /// The serialized `ADVSignedDeviceIdentity` with our device signature and
    /// the account signature key: what the device persists as its account.
    pub account: Vec<u8>,
    /// The same with `accountSignatureKey` stripped: what the reply carries
    /// (docs/protocol.md §8 row 11).
    pub reply: Vec<u8>,
    /// The primary's account signature key.
    pub account_signature_key: [u8; 32],
}

/// Verifies the `<device-identity>` bytes of a pair-success against
/// `device` and signs them (docs/protocol.md §6.2). `random` hides the XEdDSA
/// nonce (64 fresh random bytes).
///
/// 1. Decode the `ADVSignedDeviceIdentityHmac`; check HMAC-SHA256 keyed with
///    the ADV secret over `[06 05 if accountType == HOSTED] ‖ details`, in
///    constant time → else [`PairError::HmacMismatch`].
/// 2. Decode `details` as `ADVSignedDeviceIdentity` and its `details` as
///    `ADVDeviceIdentity`.
/// 3. Verify the account signature with `accountSignatureKey` over
///    `prefix ‖ details ‖ identity.pub`; the prefix is `06 05` when the signed
///    `ADVDeviceIdentity.deviceType` is HOSTED (whatsmeow and Baileys;
///    docs/protocol.md §8 row 9: this field is covered by the account signature,
///    the container's is not), `06 00` otherwise → else
///    [`PairError::SignatureMismatch`] (a missing or wrong-length key or
///    signature included).
/// 4. Sign `06 01 ‖ details ‖ identity.pub ‖ accountSignatureKey` with the
///    identity key (always `06 01`, row 10).
///
/// A part that does not decode is [`PairError::Malformed`].
pub fn verify_device_identity(
    device: &Device,
    device_identity: &[u8],
    random: &[u8; 64],
) -> Result<SignedDeviceIdentity, PairError> {
    let container = AdvSignedDeviceIdentityHmac::decode(device_identity)
        .map_err(|_| PairError::Malformed("device identity"))?;
    let details = container
        .details
        .as_deref()
        .ok_or(PairError::Malformed("device identity details"))?;
    let hmac = container
        .hmac
        .as_deref()
        .ok_or(PairError::Malformed("device identity hmac"))?;
    let hosted_container = container.account_type == Some(AdvEncryptionType::Hosted as i32);
    if !hmac_verifies(&device.adv_secret_key, hosted_container, details, hmac) {
        return Err(PairError::HmacMismatch);
    }

    let mut account = AdvSignedDeviceIdentity::decode(details)
        .map_err(|_| PairError::Malformed("signed device identity"))?;
    let inner_bytes = account
        .details
        .clone()
        .ok_or(PairError::Malformed("signed device identity details"))?;
    let inner = AdvDeviceIdentity::decode(&inner_bytes[..])
        .map_err(|_| PairError::Malformed("device identity details"))?;
    let account_key: [u8; 32] = account
        .account_signature_key
        .as_deref()
        .and_then(|k| k.try_into().ok())
        .ok_or(PairError::SignatureMismatch)?;
    let account_signature: [u8; 64] = account
        .account_signature
        .as_deref()
        .and_then(|s| s.try_into().ok())
        .ok_or(PairError::SignatureMismatch)?;
    let identity_public = device.identity_key.public;
    let hosted_device = inner.device_type == Some(AdvEncryptionType::Hosted as i32);
    let prefix = if hosted_device {
        ADV_HOSTED_ACCOUNT_SIGNATURE_PREFIX
    } else {
        ADV_ACCOUNT_SIGNATURE_PREFIX
    };
    xeddsa::verify_parts(
        &account_key,
        &[&prefix, &inner_bytes, &identity_public],
        &account_signature,
    )
    .map_err(|_| PairError::SignatureMismatch)?;

    let device_signature = xeddsa::sign_parts(
        &device.identity_key.private,
        &[
            &ADV_DEVICE_SIGNATURE_PREFIX,
            &inner_bytes,
            &identity_public,
            &account_key,
        ],
        random,
    );
    account.device_signature = Some(device_signature.to_vec());
    let persisted = account.encode_to_vec();
    account.account_signature_key = None;
    let reply = account.encode_to_vec();
    Ok(SignedDeviceIdentity {
        key_index: inner.key_index.unwrap_or(0),
        account: persisted,
        reply,
        account_signature_key: account_key,
    })
}

/// HMAC-SHA256(adv_secret, [06 05] ‖ details) compared with `tag` in constant
/// time (the `digest` crate's `verify_slice`, which also refuses a tag of the
/// wrong length).
fn hmac_verifies(adv_secret: &[u8; 32], hosted: bool, details: &[u8], tag: &[u8]) -> bool {
    let mut mac = device_identity_mac(adv_secret, hosted);
    mac.update(details);
    mac.verify_slice(tag).is_ok()
}

fn device_identity_mac(adv_secret: &[u8; 32], hosted: bool) -> HmacSha256 {
    // Hmac::new_from_slice accepts a key of any length, so this never fails.
    let mut mac = match HmacSha256::new_from_slice(adv_secret) {
        Ok(mac) => mac,
        Err(_) => unreachable!("hmac takes keys of any length"),
    };
    if hosted {
        mac.update(&ADV_HOSTED_ACCOUNT_SIGNATURE_PREFIX);
    }
    mac
}

/// `device` updated with a verified pair-success: `pn`, `lid`, `account`
/// (the full signed identity), `business_name`, `platform`, and
/// `lid_migrated` set when the phone reports `isChatDbLidMigrated` (it never
/// reverts). The keys and the ADV secret are unchanged. This is what the
/// caller persists before reconnecting (docs/protocol.md §6.1 step 10, §7).
pub fn apply_pair_success(
    device: &Device,
    success: &PairSuccess,
    signed: &SignedDeviceIdentity,
) -> Device {
    let mut updated = device.clone();
    updated.pn = Some(success.pn.clone());
    updated.lid.clone_from(&success.lid);
    updated.account = Some(signed.account.clone());
    updated.business_name = success.business_name.clone();
    updated.platform = success.platform.clone();
    if success
        .client_props
        .as_ref()
        .and_then(|p| p.is_chat_db_lid_migrated)
        == Some(true)
    {
        updated.lid_migrated = true;
    }
    updated
}

/// The answer to a verified pair-success:
/// `<iq to="s.whatsapp.net" type="result" id><pair-device-sign><device-identity
/// key-index>SIGNED</device-identity></pair-device-sign></iq>`.
pub fn pair_device_sign(iq_id: &str, signed: &SignedDeviceIdentity) -> Node {
    Node::new("iq")
        .with_attr("to", Jid::server_jid(Server::Pn))
        .with_attr("type", "result")
        .with_attr("id", iq_id)
        .with_children([Node::new("pair-device-sign").with_children([Node::new(
            "device-identity",
        )
        .with_attr("key-index", signed.key_index.to_string())
        .with_bytes(signed.reply.clone())])])
}

/// The answer to a refused pair-success:
/// `<iq to="s.whatsapp.net" type="error" id><error code text/></iq>` with
/// [`PairError::error_reply`].
pub fn pair_error_reply(iq_id: &str, error: &PairError) -> Node {
    let (code, text) = error.error_reply();
    Node::new("iq")
        .with_attr("to", Jid::server_jid(Server::Pn))
        .with_attr("type", "error")
        .with_attr("id", iq_id)
        .with_children([Node::new("error")
            .with_attr("code", code.to_string())
            .with_attr("text", text)])
}

// ------------------------------------------------------------ primary side

/// The primary's (phone's) half of §6.2, for test servers and simulated
/// phones: signs a companion's identity with the account key and wraps it in
/// the HMAC container keyed with the companion's ADV secret.
///
/// `account_private` is the account's X25519 identity private key; its public
/// key becomes `accountSignatureKey`. The account signature covers
/// `prefix ‖ details ‖ companion_identity`, with `prefix` `06 05` when
/// `details.deviceType` is HOSTED, `06 00` otherwise. The HMAC covers
/// `[06 05 if hosted_container] ‖ signed identity`. Returns the
/// `<device-identity>` bytes.
#[cfg(feature = "testing")]
pub fn primary_device_identity(
    account_private: &[u8; 32],
    details: &AdvDeviceIdentity,
    companion_identity: &[u8; 32],
    adv_secret: &[u8; 32],
    hosted_container: bool,
    random: &[u8; 64],
) -> Vec<u8> {
    let details_bytes = details.encode_to_vec();
    let account_public =
        curve25519_dalek::MontgomeryPoint::mul_base_clamped(*account_private).to_bytes();
    let prefix = if details.device_type == Some(AdvEncryptionType::Hosted as i32) {
        ADV_HOSTED_ACCOUNT_SIGNATURE_PREFIX
    } else {
        ADV_ACCOUNT_SIGNATURE_PREFIX
    };
    let account_signature = xeddsa::sign_parts(
        account_private,
        &[&prefix, &details_bytes, companion_identity],
        random,
    );
    let signed = AdvSignedDeviceIdentity {
        details: Some(details_bytes),
        account_signature_key: Some(account_public.to_vec()),
        account_signature: Some(account_signature.to_vec()),
        device_signature: None,
    }
    .encode_to_vec();
    let mut mac = device_identity_mac(adv_secret, hosted_container);
    mac.update(&signed);
    AdvSignedDeviceIdentityHmac {
        details: Some(signed),
        hmac: Some(mac.finalize().into_bytes().to_vec()),
        account_type: hosted_container.then_some(AdvEncryptionType::Hosted as i32),
    }
    .encode_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_replies_match_the_protocol_codes() {
        assert_eq!(
            PairError::HmacMismatch.error_reply(),
            (401, "hmac-mismatch")
        );
        assert_eq!(
            PairError::SignatureMismatch.error_reply(),
            (401, "signature-mismatch")
        );
        assert_eq!(
            PairError::Malformed("x").error_reply(),
            (500, "internal-error")
        );
        let node = pair_error_reply("id-1", &PairError::HmacMismatch);
        assert_eq!(node.attr_str("type"), Some("error"));
        let error = node.child("error").expect("error child");
        assert_eq!(error.attr_str("code"), Some("401"));
        assert_eq!(error.attr_str("text"), Some("hmac-mismatch"));
    }
}
