//! [`SimulatedPhone`]: the primary device's side of pairing, played through a
//! [`TestServer`].

use std::fmt;

use hmac::{Hmac, KeyInit as _, Mac as _};
use prost::Message as _;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng as _, SeedableRng};
use sha2::Sha256;

use crate::binary::{Jid, Node, Server};
use crate::noise::KeyPair;
use crate::pair::{
    self, ADV_ACCOUNT_SIGNATURE_PREFIX, ADV_DEVICE_SIGNATURE_PREFIX,
    ADV_HOSTED_ACCOUNT_SIGNATURE_PREFIX, QrData, QrParseError,
};
use crate::proto::{
    AdvDeviceIdentity, AdvEncryptionType, AdvSignedDeviceIdentity, AdvSignedDeviceIdentityHmac,
    ClientPairingProps,
};
use crate::xeddsa;

use super::{IqReply, TEST_UNIX_TIME, TestServer};

/// Which `<pair-success>` the phone sends: the valid one, or one broken in a
/// single way. A correct client accepts exactly [`Valid`](Self::Valid),
/// [`HostedDevice`](Self::HostedDevice) and
/// [`HostedContainer`](Self::HostedContainer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PairSuccessVariant {
    /// Everything right.
    Valid,
    /// A valid identity whose inner `deviceType` is HOSTED, account-signed
    /// with the hosted prefix `06 05`.
    HostedDevice,
    /// A valid identity whose HMAC container says HOSTED, so the HMAC input
    /// starts with `06 05`.
    HostedContainer,
    /// The HMAC is keyed with another secret (→ 401 hmac-mismatch).
    BadHmac,
    /// The HMAC container says HOSTED but the HMAC lacks the `06 05` prefix
    /// (→ 401 hmac-mismatch).
    HostedContainerWithoutPrefix,
    /// Signed by another key than the declared `accountSignatureKey`
    /// (→ 401 signature-mismatch).
    BadAccountSignature,
    /// Account-signed with the device prefix `06 01` instead of `06 00`
    /// (→ 401 signature-mismatch).
    WrongPrefix,
    /// Account-signed over another companion identity (→ 401
    /// signature-mismatch).
    WrongIdentity,
    /// No `accountSignatureKey` (→ 401 signature-mismatch).
    MissingAccountKey,
    /// No `<device-identity>` child (→ 500 internal-error).
    MissingDeviceIdentity,
    /// No `<device>` child (→ 500 internal-error).
    MissingDevice,
    /// `<device jid>` is a LID (→ 500 internal-error).
    NonPnJid,
    /// `<device-identity>` bytes that are not a protobuf (→ 500
    /// internal-error).
    GarbageIdentity,
}

impl PairSuccessVariant {
    /// Every variant.
    pub const ALL: [PairSuccessVariant; 13] = [
        PairSuccessVariant::Valid,
        PairSuccessVariant::HostedDevice,
        PairSuccessVariant::HostedContainer,
        PairSuccessVariant::BadHmac,
        PairSuccessVariant::HostedContainerWithoutPrefix,
        PairSuccessVariant::BadAccountSignature,
        PairSuccessVariant::WrongPrefix,
        PairSuccessVariant::WrongIdentity,
        PairSuccessVariant::MissingAccountKey,
        PairSuccessVariant::MissingDeviceIdentity,
        PairSuccessVariant::MissingDevice,
        PairSuccessVariant::NonPnJid,
        PairSuccessVariant::GarbageIdentity,
    ];

    /// The `(code, text)` a correct client answers with, `None` for the
    /// variants it accepts.
    pub fn expected_error(self) -> Option<(u16, &'static str)> {
        use PairSuccessVariant as V;
        match self {
            V::Valid | V::HostedDevice | V::HostedContainer => None,
            V::BadHmac | V::HostedContainerWithoutPrefix => Some((401, "hmac-mismatch")),
            V::BadAccountSignature | V::WrongPrefix | V::WrongIdentity | V::MissingAccountKey => {
                Some((401, "signature-mismatch"))
            }
            V::MissingDeviceIdentity | V::MissingDevice | V::NonPnJid | V::GarbageIdentity => {
                Some((500, "internal-error"))
            }
        }
    }
}

/// What the phone knows about the companion it links.
#[derive(Clone)]
struct Companion {
    identity: [u8; 32],
    adv_secret: [u8; 32],
}

/// The phone's half of a pair-code exchange.
struct CodeExchange {
    code: String,
    pairing_ref: Vec<u8>,
    primary_ephemeral: KeyPair,
    companion_ephemeral: [u8; 32],
}

/// The primary device (the phone) for pairing tests. It drives a
/// [`TestServer`] through its public API, as the real server relays between
/// the phone and the companion:
///
/// - **QR**: [`scan`](Self::scan) reads a QR string (takes the identity and
///   ADV secret from it), then [`send_pair_success`](Self::send_pair_success)
///   sends a pair-success signed by the phone's account key, valid or broken
///   in one way ([`PairSuccessVariant`]);
///   [`check_pair_device_sign`](Self::check_pair_device_sign) checks the
///   client's answer.
/// - **Pair code**: [`serve_pair_code`](Self::serve_pair_code) makes the
///   server answer `companion_hello` with a ref;
///   [`enter_pair_code`](Self::enter_pair_code) is the user typing the code
///   (the phone unwraps the companion's key and sends `primary_hello`);
///   [`finish_pair_code`](Self::finish_pair_code) opens the client's
///   `companion_finish` bundle and derives the same ADV secret, after which
///   `send_pair_success` works as for a scan.
///
/// The account key is an X25519 key used with XEdDSA, as on a real phone.
pub struct SimulatedPhone {
    rng: ChaCha20Rng,
    account: KeyPair,
    other: KeyPair,
    pn: Jid,
    lid: Jid,
    key_index: u32,
    business_name: Option<String>,
    platform: String,
    lid_migrated: bool,
    companion: Option<Companion>,
    code: Option<CodeExchange>,
    next_id: u64,
}

impl SimulatedPhone {
    /// A phone whose keys derive from `seed`: account `1555111<seed>`,
    /// assigning the companion device id 12 (`1555111<seed>:12@s.whatsapp.net`,
    /// `87654<seed>:12@lid`), key index 3, platform `"android"`.
    pub fn new(seed: u8) -> SimulatedPhone {
        let mut rng = ChaCha20Rng::from_seed([seed ^ 0x5A; 32]);
        let account = KeyPair::generate(&mut rng);
        let other = KeyPair::generate(&mut rng);
        SimulatedPhone {
            rng,
            account,
            other,
            pn: Jid::pn(&format!("1555111{seed:04}")).with_device(12),
            lid: Jid::lid(&format!("87654{seed:04}")).with_device(12),
            key_index: 3,
            business_name: None,
            platform: "android".to_owned(),
            lid_migrated: false,
            companion: None,
            code: None,
            next_id: 1,
        }
    }

    /// Sends `<biz name>` in the pair-success.
    pub fn set_business_name(&mut self, name: Option<&str>) {
        self.business_name = name.map(str::to_owned);
    }

    /// Reports `isChatDbLidMigrated` in `<client-props>`.
    pub fn set_lid_migrated(&mut self, migrated: bool) {
        self.lid_migrated = migrated;
    }

    /// The account's public key (`accountSignatureKey`).
    pub fn account_public(&self) -> [u8; 32] {
        *self.account.public_key()
    }

    /// The companion's JID this phone assigns.
    pub fn companion_pn(&self) -> &Jid {
        &self.pn
    }

    /// The companion's LID this phone assigns.
    pub fn companion_lid(&self) -> &Jid {
        &self.lid
    }

    /// The key index this phone assigns.
    pub fn key_index(&self) -> u32 {
        self.key_index
    }

    /// Scans a QR string: parses it and remembers the companion's identity
    /// key and ADV secret.
    pub fn scan(&mut self, qr: &str) -> Result<QrData, QrParseError> {
        let data = QrData::parse(qr)?;
        self.companion = Some(Companion {
            identity: data.identity_public,
            adv_secret: data.adv_secret,
        });
        Ok(data)
    }

    fn next_id(&mut self) -> String {
        let id = format!("phone-{}", self.next_id);
        self.next_id += 1;
        id
    }

    /// Sends `<iq type="set" from="s.whatsapp.net"><pair-success>…` for the
    /// scanned or code-linked companion and returns its id, or `None` when
    /// there is no companion yet.
    pub fn send_pair_success(
        &mut self,
        server: &mut TestServer,
        variant: PairSuccessVariant,
    ) -> Option<String> {
        let iq = self.pair_success_iq(variant)?;
        let id = iq.attr_str("id").map(str::to_owned);
        server.send_node(&iq);
        id
    }

    /// The pair-success `<iq>` [`send_pair_success`](Self::send_pair_success)
    /// sends.
    pub fn pair_success_iq(&mut self, variant: PairSuccessVariant) -> Option<Node> {
        use PairSuccessVariant as V;
        let companion = self.companion.clone()?;
        let mut random = [0u8; 64];
        self.rng.fill_bytes(&mut random);
        let hosted_device = variant == V::HostedDevice;
        let details = AdvDeviceIdentity {
            raw_id: Some(0x0102_0304),
            timestamp: Some(TEST_UNIX_TIME),
            key_index: Some(self.key_index),
            account_type: Some(AdvEncryptionType::E2ee as i32),
            device_type: Some(if hosted_device {
                AdvEncryptionType::Hosted
            } else {
                AdvEncryptionType::E2ee
            } as i32),
        }
        .encode_to_vec();
        let prefix = match variant {
            V::HostedDevice => ADV_HOSTED_ACCOUNT_SIGNATURE_PREFIX,
            V::WrongPrefix => ADV_DEVICE_SIGNATURE_PREFIX,
            _ => ADV_ACCOUNT_SIGNATURE_PREFIX,
        };
        let signer = if variant == V::BadAccountSignature {
            &self.other
        } else {
            &self.account
        };
        let signed_identity = if variant == V::WrongIdentity {
            *self.other.public_key()
        } else {
            companion.identity
        };
        let account_signature = xeddsa::sign_parts(
            signer.private_key(),
            &[&prefix, &details, &signed_identity],
            &random,
        );
        let signed = AdvSignedDeviceIdentity {
            details: Some(details),
            account_signature_key: (variant != V::MissingAccountKey)
                .then(|| self.account.public_key().to_vec()),
            account_signature: Some(account_signature.to_vec()),
            device_signature: None,
        }
        .encode_to_vec();
        let hosted_container = matches!(
            variant,
            V::HostedContainer | V::HostedContainerWithoutPrefix
        );
        let mut hmac_key = companion.adv_secret;
        if variant == V::BadHmac {
            hmac_key[0] ^= 0x01;
        }
        let mut mac = match Hmac::<Sha256>::new_from_slice(&hmac_key) {
            Ok(mac) => mac,
            Err(_) => unreachable!("hmac takes keys of any length"),
        };
        if variant == V::HostedContainer {
            mac.update(&ADV_HOSTED_ACCOUNT_SIGNATURE_PREFIX);
        }
        mac.update(&signed);
        let container = AdvSignedDeviceIdentityHmac {
            details: Some(signed),
            hmac: Some(mac.finalize().into_bytes().to_vec()),
            account_type: hosted_container.then_some(AdvEncryptionType::Hosted as i32),
        };
        let identity_bytes = if variant == V::GarbageIdentity {
            vec![0xFF; 7]
        } else {
            container.encode_to_vec()
        };

        let mut children = Vec::new();
        if variant != V::MissingDeviceIdentity {
            children.push(Node::new("device-identity").with_bytes(identity_bytes));
        }
        if variant != V::MissingDevice {
            let jid = if variant == V::NonPnJid {
                self.lid.clone()
            } else {
                self.pn.clone()
            };
            children.push(
                Node::new("device")
                    .with_attr("jid", jid)
                    .with_attr("lid", self.lid.clone()),
            );
        }
        if let Some(name) = &self.business_name {
            children.push(Node::new("biz").with_attr("name", name.as_str()));
        }
        children.push(Node::new("platform").with_attr("name", self.platform.as_str()));
        let props = ClientPairingProps {
            is_chat_db_lid_migrated: Some(self.lid_migrated),
            ..Default::default()
        };
        children.push(Node::new("client-props").with_bytes(props.encode_to_vec()));
        Some(
            Node::new("iq")
                .with_attr("from", Jid::server_jid(Server::Pn))
                .with_attr("type", "set")
                .with_attr("id", self.next_id())
                .with_attr("t", TEST_UNIX_TIME.to_string())
                .with_children([Node::new("pair-success").with_children(children)]),
        )
    }

    /// Checks the client's answer to a valid pair-success: `<iq type="result"
    /// id><pair-device-sign><device-identity key-index>` whose bytes are our
    /// signed identity without `accountSignatureKey`, with a device signature
    /// by the companion's identity key over `06 01 ‖ details ‖ identity ‖
    /// account key`. Returns the description of the first problem.
    pub fn check_pair_device_sign(&self, reply: &Node, iq_id: &str) -> Result<(), String> {
        let companion = self.companion.as_ref().ok_or("no companion")?;
        if reply.tag != "iq"
            || reply.attr_str("type") != Some("result")
            || reply.attr("id").map(|v| v.to_text()).as_deref() != Some(iq_id)
        {
            return Err(format!("not the result for {iq_id}: {reply}"));
        }
        let identity = reply
            .child("pair-device-sign")
            .and_then(|s| s.child("device-identity"))
            .ok_or("no pair-device-sign/device-identity")?;
        if identity.attr_str("key-index") != Some(&self.key_index.to_string()) {
            return Err(format!("key-index {:?}", identity.attr("key-index")));
        }
        let bytes = identity.content_bytes().ok_or("no identity bytes")?;
        let signed = AdvSignedDeviceIdentity::decode(&bytes[..]).map_err(|e| e.to_string())?;
        if signed.account_signature_key.is_some() {
            return Err("accountSignatureKey not stripped".to_owned());
        }
        let details = signed.details.ok_or("no details")?;
        let device_signature: [u8; 64] = signed
            .device_signature
            .as_deref()
            .and_then(|s| s.try_into().ok())
            .ok_or("no 64-byte device signature")?;
        xeddsa::verify_parts(
            &companion.identity,
            &[
                &ADV_DEVICE_SIGNATURE_PREFIX,
                &details,
                &companion.identity,
                self.account.public_key(),
            ],
            &device_signature,
        )
        .map_err(|e| format!("device signature: {e}"))
    }

    /// Checks the account a paired `device` persisted: an
    /// `ADVSignedDeviceIdentity` that keeps this phone's
    /// `accountSignatureKey`, whose account signature by that key covers
    /// `prefix ‖ details ‖ device identity` (`06 05` when the details say
    /// HOSTED, else `06 00`), and whose device signature by the device's
    /// identity key covers `06 01 ‖ details ‖ identity ‖ account key`.
    pub fn check_account(&self, device: &crate::store::Device) -> Result<(), String> {
        let bytes = device.account.as_deref().ok_or("no account")?;
        let account = AdvSignedDeviceIdentity::decode(bytes).map_err(|e| e.to_string())?;
        if account.account_signature_key.as_deref() != Some(&self.account.public_key()[..]) {
            return Err("account signature key is not the phone's".to_owned());
        }
        let details = account.details.ok_or("no details")?;
        let inner = AdvDeviceIdentity::decode(&details[..]).map_err(|e| e.to_string())?;
        let prefix = if inner.device_type == Some(AdvEncryptionType::Hosted as i32) {
            ADV_HOSTED_ACCOUNT_SIGNATURE_PREFIX
        } else {
            ADV_ACCOUNT_SIGNATURE_PREFIX
        };
        let signature = |s: Option<Vec<u8>>, what: &str| -> Result<[u8; 64], String> {
            s.as_deref()
                .and_then(|s| s.try_into().ok())
                .ok_or_else(|| format!("no 64-byte {what}"))
        };
        let identity = device.identity_key.public;
        xeddsa::verify_parts(
            self.account.public_key(),
            &[&prefix, &details, &identity],
            &signature(account.account_signature, "account signature")?,
        )
        .map_err(|e| format!("account signature: {e}"))?;
        xeddsa::verify_parts(
            &identity,
            &[
                &ADV_DEVICE_SIGNATURE_PREFIX,
                &details,
                &identity,
                self.account.public_key(),
            ],
            &signature(account.device_signature, "device signature")?,
        )
        .map_err(|e| format!("device signature: {e}"))
    }

    /// Whether `device_identity` (the bytes of a `<device-identity>`) is an
    /// HMAC container whose HMAC verifies under `adv_secret` — computed here,
    /// on the phone's side, independently of the client's check.
    pub fn authenticates(adv_secret: &[u8; 32], device_identity: &[u8]) -> bool {
        let Ok(container) = AdvSignedDeviceIdentityHmac::decode(device_identity) else {
            return false;
        };
        let (Some(details), Some(tag)) = (container.details, container.hmac) else {
            return false;
        };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(adv_secret) else {
            return false;
        };
        if container.account_type == Some(AdvEncryptionType::Hosted as i32) {
            mac.update(&ADV_HOSTED_ACCOUNT_SIGNATURE_PREFIX);
        }
        mac.update(&details);
        mac.verify_slice(&tag).is_ok()
    }

    // ------------------------------------------------------------ pair code

    /// The ref the server hands out for `companion_hello`.
    pub fn pairing_ref(&self) -> &'static [u8] {
        b"2@simulated-pairing-ref"
    }

    /// Makes `server` answer `companion_hello` with
    /// [`pairing_ref`](Self::pairing_ref) and every other IQ with an empty
    /// result (replacing its IQ handler).
    pub fn serve_pair_code(&self, server: &mut TestServer) {
        server.set_iq_handler(self.pair_code_handler());
    }

    /// The IQ handler of [`serve_pair_code`](Self::serve_pair_code), for a
    /// server that combines it with its own.
    pub fn pair_code_handler(&self) -> impl FnMut(&Node) -> IqReply + Send + use<> {
        let pairing_ref = self.pairing_ref().to_vec();
        move |iq| {
            let stage = iq
                .child("link_code_companion_reg")
                .and_then(|r| r.attr_str("stage"));
            if stage == Some("companion_hello") {
                IqReply::Result(vec![Node::new("link_code_companion_reg").with_children([
                    Node::new("link_code_pairing_ref").with_bytes(pairing_ref.clone()),
                ])])
            } else {
                IqReply::Result(Vec::new())
            }
        }
    }

    /// The user types `code` on the phone: the phone takes the latest
    /// `companion_hello` the server received, unwraps the companion's
    /// ephemeral key with the code, and sends `primary_hello` with its own
    /// wrapped ephemeral key and its identity (the account key).
    pub fn enter_pair_code(&mut self, server: &mut TestServer, code: &str) -> Result<(), String> {
        let hello = latest_registration(server, "companion_hello")?;
        let wrapped = child_bytes(&hello, "link_code_pairing_wrapped_companion_ephemeral_pub")?;
        let companion_ephemeral = pair::unwrap_key(code, &wrapped).map_err(|e| e.to_string())?;
        let primary_ephemeral = KeyPair::generate(&mut self.rng);
        let mut salt = [0u8; 32];
        let mut iv = [0u8; 16];
        self.rng.fill_bytes(&mut salt);
        self.rng.fill_bytes(&mut iv);
        let wrapped_primary = pair::wrap_key(code, primary_ephemeral.public_key(), &salt, &iv);
        let id = self.next_id();
        server.send_node(&super::pair_crypto::primary_hello_notification(
            &id,
            self.pairing_ref(),
            &wrapped_primary,
            self.account.public_key(),
        ));
        self.code = Some(CodeExchange {
            code: code.to_owned(),
            pairing_ref: self.pairing_ref().to_vec(),
            primary_ephemeral,
            companion_ephemeral,
        });
        Ok(())
    }

    /// Opens the client's `companion_finish`: checks the ref, decrypts the key
    /// bundle, checks both identities in it, and derives the ADV secret the
    /// pair-success will be keyed with.
    pub fn finish_pair_code(&mut self, server: &TestServer) -> Result<(), String> {
        let exchange = self.code.as_ref().ok_or("no code entered")?;
        let finish = latest_registration(server, "companion_finish")?;
        if child_bytes(&finish, "link_code_pairing_ref")? != exchange.pairing_ref {
            return Err("pairing ref mismatch".to_owned());
        }
        let companion_identity: [u8; 32] = child_bytes(&finish, "companion_identity_public")?
            .try_into()
            .map_err(|_| "companion identity is not 32 bytes")?;
        let ephemeral_shared = pair::x25519(
            exchange.primary_ephemeral.private_key(),
            &exchange.companion_ephemeral,
        )
        .map_err(|e| e.to_string())?;
        let bundle = super::pair_crypto::decrypt_key_bundle(
            &ephemeral_shared,
            &child_bytes(&finish, "link_code_pairing_wrapped_key_bundle")?,
        )
        .map_err(|e| e.to_string())?;
        if bundle.companion_identity != companion_identity {
            return Err("bundle names another companion identity".to_owned());
        }
        if bundle.primary_identity != *self.account.public_key() {
            return Err("bundle names another primary identity".to_owned());
        }
        let identity_shared = pair::x25519(self.account.private_key(), &companion_identity)
            .map_err(|e| e.to_string())?;
        self.companion = Some(Companion {
            identity: companion_identity,
            adv_secret: pair::derive_adv_secret(
                &ephemeral_shared,
                &identity_shared,
                &bundle.random,
            ),
        });
        Ok(())
    }

    /// The ADV secret the phone keys pair-success HMACs with: from the last
    /// scanned QR, or derived by [`finish_pair_code`](Self::finish_pair_code).
    pub fn companion_adv_secret(&self) -> Option<[u8; 32]> {
        self.companion.as_ref().map(|c| c.adv_secret)
    }

    /// The code the phone was given, once entered.
    pub fn entered_code(&self) -> Option<&str> {
        self.code.as_ref().map(|c| c.code.as_str())
    }
}

/// The `<link_code_companion_reg stage>` of the latest such IQ the server
/// received.
fn latest_registration(server: &TestServer, stage: &str) -> Result<Node, String> {
    server
        .received()
        .iter()
        .rev()
        .filter(|n| n.tag == "iq")
        .filter_map(|n| n.child("link_code_companion_reg"))
        .find(|r| r.attr_str("stage") == Some(stage))
        .cloned()
        .ok_or_else(|| format!("no {stage} received"))
}

fn child_bytes(node: &Node, tag: &str) -> Result<Vec<u8>, String> {
    node.child(tag)
        .and_then(Node::content_bytes)
        .map(|b| b.to_vec())
        .ok_or_else(|| format!("no {tag}"))
}

impl fmt::Debug for SimulatedPhone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimulatedPhone")
            .field("pn", &self.pn)
            .field("lid", &self.lid)
            .field("account", &self.account)
            .field("linked", &self.companion.is_some())
            .finish()
    }
}
