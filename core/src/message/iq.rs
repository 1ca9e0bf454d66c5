//! The IQs of messaging: device lists (usync), prekey upload and count, and
//! prekey bundles. Builders return the `<iq>` without an id (the connection
//! assigns one); parsers take the result stanza.

use super::StanzaError;
use super::stanza::{fixed, key_id, key_node, signed_key};
use crate::binary::{Jid, Node, Server};
use crate::signal::{PreKeyBundle, PreKeyRecord, PublicKey, SignedPreKeyRecord};

/// Most users one usync answer may list (and most devices per user) that are
/// read; more is refused.
const MAX_USERS: usize = 1024;
const MAX_DEVICES: usize = 64;

/// `<iq xmlns="usync" type="get">` asking for the device lists of `users`.
pub fn usync_devices(users: &[Jid], sid: &str) -> Node {
    let list = Node::new("list").with_children(
        users
            .iter()
            .map(|u| Node::new("user").with_attr("jid", u.to_non_ad())),
    );
    let usync = Node::new("usync")
        .with_attr("sid", sid)
        .with_attr("mode", "query")
        .with_attr("last", "true")
        .with_attr("index", "0")
        .with_attr("context", "message")
        .with_children([
            Node::new("query").with_children([Node::new("devices").with_attr("version", "2")]),
            list,
        ]);
    Node::new("iq")
        .with_attr("xmlns", "usync")
        .with_attr("type", "get")
        .with_attr("to", Jid::server_jid(Server::Pn))
        .with_children([usync])
}

/// One user's devices in a usync answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserDevices {
    /// The user (no device part).
    pub user: Jid,
    /// Their device numbers (0 is the phone), ascending, without duplicates.
    pub devices: Vec<u16>,
}

impl UserDevices {
    /// The device JIDs.
    pub fn jids(&self) -> impl Iterator<Item = Jid> + '_ {
        self.devices
            .iter()
            .map(|d| self.user.clone().with_device(*d))
    }
}

/// Parses a usync result: the device list of every user it names.
pub fn parse_usync_devices(iq: &Node) -> Result<Vec<UserDevices>, StanzaError> {
    let list = iq
        .child("usync")
        .and_then(|u| u.child("list"))
        .ok_or(StanzaError::Invalid("usync list"))?;
    let mut out = Vec::new();
    for user in list.children_by_tag("user") {
        if out.len() == MAX_USERS {
            return Err(StanzaError::Invalid("too many users"));
        }
        let jid = user.attr_jid("jid")?.to_non_ad();
        let Some(device_list) = user.child("devices").and_then(|d| d.child("device-list")) else {
            continue;
        };
        let mut devices = Vec::new();
        for device in device_list.children_by_tag("device") {
            if devices.len() == MAX_DEVICES {
                return Err(StanzaError::Invalid("too many devices"));
            }
            let id: u16 = device.attr_parse("id")?;
            devices.push(id);
        }
        devices.sort_unstable();
        devices.dedup();
        out.push(UserDevices { user: jid, devices });
    }
    Ok(out)
}

/// `<iq xmlns="encrypt" type="set">` uploading our registration id, identity,
/// `pre_keys` and signed prekey.
pub fn upload_prekeys(
    registration_id: u32,
    identity: &PublicKey,
    pre_keys: &[PreKeyRecord],
    signed: &SignedPreKeyRecord,
) -> Node {
    let list = Node::new("list").with_children(
        pre_keys
            .iter()
            .map(|k| key_node("key", k.id(), k.public_key().raw(), None)),
    );
    Node::new("iq")
        .with_attr("xmlns", "encrypt")
        .with_attr("type", "set")
        .with_attr("to", Jid::server_jid(Server::Pn))
        .with_children([
            Node::new("registration").with_bytes(registration_id.to_be_bytes().to_vec()),
            Node::new("type").with_bytes(vec![crate::keys::DJB_KEY_TYPE]),
            Node::new("identity").with_bytes(identity.raw().to_vec()),
            list,
            key_node(
                "skey",
                signed.id(),
                signed.public_key().raw(),
                Some(signed.signature()),
            ),
        ])
}

/// `<iq xmlns="encrypt" type="get"><count/></iq>`: how many prekeys the server
/// holds for us.
pub fn prekey_count() -> Node {
    Node::new("iq")
        .with_attr("xmlns", "encrypt")
        .with_attr("type", "get")
        .with_attr("to", Jid::server_jid(Server::Pn))
        .with_children([Node::new("count")])
}

/// Parses the answer to [`prekey_count`].
pub fn parse_prekey_count(iq: &Node) -> Result<u32, StanzaError> {
    let count = iq.child("count").ok_or(StanzaError::Invalid("count"))?;
    Ok(count.attr_parse("value")?)
}

/// `<iq xmlns="encrypt" type="get"><key><user jid=…/>…</key></iq>`: prekey
/// bundles of `devices`.
pub fn fetch_bundles(devices: &[Jid]) -> Node {
    let key = Node::new("key").with_children(
        devices
            .iter()
            .map(|d| Node::new("user").with_attr("jid", d)),
    );
    Node::new("iq")
        .with_attr("xmlns", "encrypt")
        .with_attr("type", "get")
        .with_attr("to", Jid::server_jid(Server::Pn))
        .with_children([key])
}

/// One device's answer in a bundle result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BundleResult {
    /// The device's bundle.
    Bundle {
        /// The device.
        device: Jid,
        /// Its keys.
        bundle: PreKeyBundle,
    },
    /// The server had no bundle (`<error code="406">` and the like).
    Error {
        /// The device.
        device: Jid,
        /// The error code.
        code: String,
    },
}

/// Parses the answer to [`fetch_bundles`].
pub fn parse_bundles(iq: &Node) -> Result<Vec<BundleResult>, StanzaError> {
    let list = iq
        .child("list")
        .ok_or(StanzaError::Invalid("bundle list"))?;
    let mut out = Vec::new();
    for user in list.children_by_tag("user").take(MAX_USERS) {
        let device = user.attr_jid("jid")?;
        if let Some(error) = user.child("error") {
            let code = error.attr_str("code").unwrap_or("").to_owned();
            out.push(BundleResult::Error { device, code });
            continue;
        }
        let registration = u32::from_be_bytes(fixed::<4>(user, "registration")?);
        let identity = PublicKey::from_raw(fixed::<32>(user, "identity")?);
        let skey = user.child("skey").ok_or(StanzaError::Invalid("skey"))?;
        let pre_key = match user.child("key") {
            Some(key) => Some((
                key_id(key)?,
                PublicKey::from_raw(fixed::<32>(key, "value")?),
            )),
            None => None,
        };
        let (signed_id, signed_key, signature) = signed_key(skey)?;
        let bundle = PreKeyBundle {
            registration_id: registration,
            device_id: u32::from(device.device()),
            pre_key,
            signed_pre_key_id: signed_id,
            signed_pre_key: PublicKey::from_raw(signed_key),
            signed_pre_key_signature: signature,
            identity_key: identity,
        };
        out.push(BundleResult::Bundle { device, bundle });
    }
    Ok(out)
}

/// A device's bundle as the server sends it (what the test network answers).
pub fn bundle_node(device: &Jid, bundle: &PreKeyBundle) -> Node {
    let mut children = vec![
        Node::new("registration").with_bytes(bundle.registration_id.to_be_bytes().to_vec()),
        Node::new("type").with_bytes(vec![crate::keys::DJB_KEY_TYPE]),
        Node::new("identity").with_bytes(bundle.identity_key.raw().to_vec()),
    ];
    if let Some((id, key)) = &bundle.pre_key {
        children.push(key_node("key", *id, key.raw(), None));
    }
    children.push(key_node(
        "skey",
        bundle.signed_pre_key_id,
        bundle.signed_pre_key.raw(),
        Some(&bundle.signed_pre_key_signature),
    ));
    Node::new("user")
        .with_attr("jid", device)
        .with_children(children)
}

/// `<iq xmlns="passive" type="set"><active/></iq>`: tells the server this
/// device is ready for messages (sent once per login, after the prekey check).
pub fn set_active() -> Node {
    Node::new("iq")
        .with_attr("xmlns", "passive")
        .with_attr("type", "set")
        .with_attr("to", Jid::server_jid(Server::Pn))
        .with_children([Node::new("active")])
}

/// Whether a `<notification>` is the server's "your one-time prekeys run
/// low" (`type="encrypt"` with a `<count>`).
pub fn is_prekey_low_notification(node: &Node) -> bool {
    node.tag == "notification"
        && node.attr_str("type") == Some("encrypt")
        && node.child("count").is_some()
}

/// Most participants of one group that are read (more is refused).
const MAX_PARTICIPANTS: usize = 4096;

/// `<iq xmlns="w:g2" type="get" to=group><query request="interactive"/></iq>`:
/// a group's metadata (participants, addressing mode).
pub fn group_info(group: &Jid) -> Node {
    Node::new("iq")
        .with_attr("xmlns", "w:g2")
        .with_attr("type", "get")
        .with_attr("to", group)
        .with_children([Node::new("query").with_attr("request", "interactive")])
}

/// A group's participants (user JIDs, device parts dropped) from the answer
/// to [`group_info`]: `<group …><participant jid=…/>…</group>`.
pub fn parse_group_participants(iq: &Node) -> Result<Vec<Jid>, StanzaError> {
    let group = iq.child("group").ok_or(StanzaError::Invalid("group"))?;
    let mut users = Vec::new();
    for p in group.children_by_tag("participant") {
        if users.len() == MAX_PARTICIPANTS {
            return Err(StanzaError::Invalid("too many participants"));
        }
        users.push(p.attr_jid("jid")?.to_non_ad());
    }
    users.sort_unstable();
    users.dedup();
    Ok(users)
}

/// `<iq xmlns="encrypt" type="set"><rotate><skey>…</skey></rotate></iq>`:
/// replaces the signed prekey the server hands out.
pub fn rotate_signed_prekey(signed: &SignedPreKeyRecord) -> Node {
    Node::new("iq")
        .with_attr("xmlns", "encrypt")
        .with_attr("type", "set")
        .with_attr("to", Jid::server_jid(Server::Pn))
        .with_children([Node::new("rotate").with_children([key_node(
            "skey",
            signed.id(),
            signed.public_key().raw(),
            Some(signed.signature()),
        )])])
}

/// `<iq xmlns="encrypt" type="get"><digest/></iq>`: what the server holds of
/// our keys, to check against ours.
pub fn prekey_digest() -> Node {
    Node::new("iq")
        .with_attr("xmlns", "encrypt")
        .with_attr("type", "get")
        .with_attr("to", Jid::server_jid(Server::Pn))
        .with_children([Node::new("digest")])
}

/// Most one-time prekey ids one digest answer may list that are read.
const MAX_DIGEST_IDS: usize = 2048;

/// The server's digest of our keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreKeyDigest {
    /// The registration id it holds.
    pub registration_id: u32,
    /// The one-time prekeys it still holds, in its order.
    pub prekey_ids: Vec<u32>,
    /// SHA-1 over identity, signed prekey, its signature and those prekeys.
    pub hash: [u8; 20],
}

/// Parses the answer to [`prekey_digest`]. The `<list>` children are `<id>`
/// elements (each child's content is read, whatever its tag).
pub fn parse_prekey_digest(iq: &Node) -> Result<PreKeyDigest, StanzaError> {
    let digest = iq.child("digest").ok_or(StanzaError::Invalid("digest"))?;
    let registration = fixed::<4>(digest, "registration")?;
    let hash = fixed::<20>(digest, "hash")?;
    let mut prekey_ids = Vec::new();
    if let Some(list) = digest.child("list") {
        for id in list.children() {
            if prekey_ids.len() == MAX_DIGEST_IDS {
                return Err(StanzaError::Invalid("too many digest ids"));
            }
            match id.content_bytes().as_ref().map(|b| b.as_ref()) {
                Some([a, b, c]) => prekey_ids.push(u32::from_be_bytes([0, *a, *b, *c])),
                _ => return Err(StanzaError::Invalid("digest id")),
            }
        }
    }
    Ok(PreKeyDigest {
        registration_id: u32::from_be_bytes(registration),
        prekey_ids,
        hash,
    })
}

/// The digest hash of a key bundle: SHA-1 over the identity key, the signed
/// prekey and its signature, then each one-time prekey in the given order
/// (raw 32-byte keys).
pub fn prekey_digest_hash<'a>(
    identity: &[u8; 32],
    signed: &SignedPreKeyRecord,
    prekeys: impl IntoIterator<Item = &'a [u8; 32]>,
) -> [u8; 20] {
    use sha1::Digest as _;
    let mut hasher = sha1::Sha1::new();
    hasher.update(identity);
    hasher.update(signed.public_key().raw());
    hasher.update(signed.signature());
    for key in prekeys {
        hasher.update(key);
    }
    hasher.finalize().into()
}

/// The `code` of an `<iq type="error">`'s `<error>`, if it is one.
pub fn error_code(iq: &Node) -> Option<u16> {
    if iq.attr_str("type") != Some("error") {
        return None;
    }
    iq.child("error")?.attr_str("code")?.parse().ok()
}
