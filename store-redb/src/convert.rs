//! Conversions between wa-core's domain types and the frozen v1 record shapes.
//!
//! The core types may gain fields; the v1 shapes never change. Constructing
//! the core types with struct literals here (all but `Device`, which is
//! `#[non_exhaustive]`) makes a new core field a compile error in this crate,
//! and a test pins `Device`'s field list, so no field is silently dropped.

use wa_core::binary::Jid;
use wa_core::store::{
    AppStateSyncKey, AppVersion, CachedNoiseCert, CachedServerCertChain, Device, DeviceInfo,
    DeviceKeys, DeviceListRecord, HashState, KeyPair, LidPnMappingEntry, StoreError, TcTokenEntry,
};

use crate::schema::{
    Blob, CertChainV1, CertV1, DeviceInfoV1, DeviceListV1, DeviceV1, HashStateV1, LidMappingV1,
    SyncKeyV1, TcTokenV1, encode,
};

fn key_pair(b: Blob<'_>, what: &str) -> Result<KeyPair, String> {
    Ok(KeyPair::from_bytes(&b.fixed::<64>(what)?))
}

fn cert_to_v1(c: &CachedNoiseCert) -> CertV1<'_> {
    CertV1 {
        key: Blob(&c.key),
        not_before: c.not_before,
        not_after: c.not_after,
    }
}

fn cert_from_v1(c: &CertV1<'_>) -> Result<CachedNoiseCert, String> {
    Ok(CachedNoiseCert {
        key: c.key.fixed::<32>("certificate key")?,
        not_before: c.not_before,
        not_after: c.not_after,
    })
}

/// Encodes a device as a v1 envelope.
pub(crate) fn encode_device(d: &Device) -> Result<Vec<u8>, StoreError> {
    let noise = d.noise_key.to_bytes();
    let identity = d.identity_key.to_bytes();
    let signed = d.signed_pre_key.to_bytes();
    // The JIDs are stored as their text form.
    let pn = d.pn.as_ref().map(ToString::to_string);
    let lid = d.lid.as_ref().map(ToString::to_string);
    let v1 = DeviceV1 {
        noise_key: Blob(&noise),
        identity_key: Blob(&identity),
        registration_id: d.registration_id,
        signed_pre_key: Blob(&signed),
        signed_pre_key_id: d.signed_pre_key_id,
        signed_pre_key_signature: Blob(&d.signed_pre_key_signature),
        adv_secret_key: Blob(&d.adv_secret_key),
        account: d.account.as_deref().map(Blob),
        pn: pn.as_deref(),
        lid: lid.as_deref(),
        push_name: &d.push_name,
        business_name: d.business_name.as_deref(),
        platform: d.platform.as_deref(),
        edge_routing_info: d.edge_routing_info.as_deref().map(Blob),
        server_cert_chain: d.server_cert_chain.as_ref().map(|c| CertChainV1 {
            intermediate: cert_to_v1(&c.intermediate),
            leaf: cert_to_v1(&c.leaf),
        }),
        login_counter: d.login_counter,
        lid_migrated: d.lid_migrated,
        app_version: d.app_version.map(|v| (v.primary, v.secondary, v.tertiary)),
        app_version_last_fetched_ms: d.app_version_last_fetched_ms,
        props_hash: d.props_hash.as_deref(),
        next_pre_key_id: d.next_pre_key_id,
        first_unupload_pre_key_id: d.first_unupload_pre_key_id,
        server_has_prekeys: d.server_has_prekeys,
        last_signed_pre_key_rotation_ms: d.last_signed_pre_key_rotation_ms,
    };
    encode(&v1)
}

/// A stored JID's text form, parsed.
fn jid(text: &str, what: &str) -> Result<Jid, String> {
    text.parse()
        .map_err(|e| format!("{what} {text:?} is not a jid: {e}"))
}

/// Builds a device from its v1 record, checking every fixed length.
pub(crate) fn device_from_v1(v: &DeviceV1<'_>) -> Result<Device, String> {
    let mut d = Device::from_keys(DeviceKeys {
        noise_key: key_pair(v.noise_key, "noise key")?,
        identity_key: key_pair(v.identity_key, "identity key")?,
        registration_id: v.registration_id,
        signed_pre_key: key_pair(v.signed_pre_key, "signed prekey")?,
        signed_pre_key_id: v.signed_pre_key_id,
        signed_pre_key_signature: v
            .signed_pre_key_signature
            .fixed::<64>("signed prekey signature")?,
        adv_secret_key: v.adv_secret_key.fixed::<32>("adv secret")?,
    });
    d.account = v.account.map(|b| b.0.to_vec());
    d.pn = v.pn.map(|s| jid(s, "pn")).transpose()?;
    d.lid = v.lid.map(|s| jid(s, "lid")).transpose()?;
    d.push_name = v.push_name.to_owned();
    d.business_name = v.business_name.map(str::to_owned);
    d.platform = v.platform.map(str::to_owned);
    d.edge_routing_info = v.edge_routing_info.map(|b| b.0.to_vec());
    d.server_cert_chain = match &v.server_cert_chain {
        Some(c) => Some(CachedServerCertChain {
            intermediate: cert_from_v1(&c.intermediate)?,
            leaf: cert_from_v1(&c.leaf)?,
        }),
        None => None,
    };
    d.login_counter = v.login_counter;
    d.lid_migrated = v.lid_migrated;
    d.app_version = v
        .app_version
        .map(|(primary, secondary, tertiary)| AppVersion {
            primary,
            secondary,
            tertiary,
        });
    d.app_version_last_fetched_ms = v.app_version_last_fetched_ms;
    d.props_hash = v.props_hash.map(str::to_owned);
    d.next_pre_key_id = v.next_pre_key_id;
    d.first_unupload_pre_key_id = v.first_unupload_pre_key_id;
    d.server_has_prekeys = v.server_has_prekeys;
    d.last_signed_pre_key_rotation_ms = v.last_signed_pre_key_rotation_ms;
    Ok(d)
}

/// The field names of `Device` that [`encode_device`] stores, in order.
/// A test compares them with what `Device` serializes, so a field added to
/// the core type fails the build's tests until a v2 record stores it.
#[cfg(test)]
pub(crate) const DEVICE_V1_FIELDS: &[&str] = &[
    "noise_key",
    "identity_key",
    "registration_id",
    "signed_pre_key",
    "signed_pre_key_id",
    "signed_pre_key_signature",
    "adv_secret_key",
    "account",
    "pn",
    "lid",
    "push_name",
    "business_name",
    "platform",
    "edge_routing_info",
    "server_cert_chain",
    "login_counter",
    "lid_migrated",
    "app_version",
    "app_version_last_fetched_ms",
    "props_hash",
    "next_pre_key_id",
    "first_unupload_pre_key_id",
    "server_has_prekeys",
    "last_signed_pre_key_rotation_ms",
];

pub(crate) fn encode_sync_key(k: &AppStateSyncKey) -> Result<Vec<u8>, StoreError> {
    encode(&SyncKeyV1 {
        key_data: Blob(&k.key_data),
        fingerprint: Blob(&k.fingerprint),
        timestamp: k.timestamp,
    })
}

pub(crate) fn sync_key_from_v1(v: &SyncKeyV1<'_>) -> AppStateSyncKey {
    AppStateSyncKey {
        key_data: v.key_data.0.to_vec(),
        fingerprint: v.fingerprint.0.to_vec(),
        timestamp: v.timestamp,
    }
}

pub(crate) fn encode_hash_state(h: &HashState) -> Result<Vec<u8>, StoreError> {
    encode(&HashStateV1 {
        version: h.version,
        hash: Blob(&h.hash),
    })
}

pub(crate) fn hash_state_from_v1(v: &HashStateV1<'_>) -> Result<HashState, String> {
    Ok(HashState {
        version: v.version,
        hash: v.hash.fixed::<128>("hash")?,
    })
}

pub(crate) fn encode_lid_mapping(m: &LidPnMappingEntry) -> Result<Vec<u8>, StoreError> {
    encode(&LidMappingV1 {
        lid: &m.lid,
        phone_number: &m.phone_number,
        created_at: m.created_at,
        updated_at: m.updated_at,
        learning_source: &m.learning_source,
    })
}

pub(crate) fn lid_mapping_from_v1(v: &LidMappingV1<'_>) -> LidPnMappingEntry {
    LidPnMappingEntry {
        lid: v.lid.to_owned(),
        phone_number: v.phone_number.to_owned(),
        created_at: v.created_at,
        updated_at: v.updated_at,
        learning_source: v.learning_source.to_owned(),
    }
}

pub(crate) fn encode_device_list(r: &DeviceListRecord) -> Result<Vec<u8>, StoreError> {
    encode(&DeviceListV1 {
        user: &r.user,
        devices: r
            .devices
            .iter()
            .map(|d| DeviceInfoV1 {
                device_id: d.device_id,
                key_index: d.key_index,
                is_hosted: d.is_hosted,
            })
            .collect(),
        timestamp: r.timestamp,
        phash: r.phash.as_deref(),
        raw_id: r.raw_id,
    })
}

pub(crate) fn device_list_from_v1(v: &DeviceListV1<'_>) -> DeviceListRecord {
    DeviceListRecord {
        user: v.user.to_owned(),
        devices: v
            .devices
            .iter()
            .map(|d| DeviceInfo {
                device_id: d.device_id,
                key_index: d.key_index,
                is_hosted: d.is_hosted,
            })
            .collect(),
        timestamp: v.timestamp,
        phash: v.phash.map(str::to_owned),
        raw_id: v.raw_id,
    }
}

pub(crate) fn encode_tc_token(t: &TcTokenEntry) -> Result<Vec<u8>, StoreError> {
    encode(&TcTokenV1 {
        token: Blob(&t.token),
        token_timestamp: t.token_timestamp,
        sender_timestamp: t.sender_timestamp,
    })
}

pub(crate) fn tc_token_from_v1(v: &TcTokenV1<'_>) -> TcTokenEntry {
    TcTokenEntry {
        token: v.token.0.to_vec(),
        token_timestamp: v.token_timestamp,
        sender_timestamp: v.sender_timestamp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::decode;

    fn kp(b: u8) -> KeyPair {
        KeyPair {
            private: [b; 32],
            public: [b ^ 0xff; 32],
        }
    }

    fn full_device() -> Device {
        let mut d = Device::from_keys(DeviceKeys {
            noise_key: kp(1),
            identity_key: kp(2),
            registration_id: 77,
            signed_pre_key: kp(3),
            signed_pre_key_id: 9,
            signed_pre_key_signature: std::array::from_fn(|i| i as u8),
            adv_secret_key: [5; 32],
        });
        d.account = Some(vec![1, 2, 3]);
        d.pn = Some("5511987650001:7@s.whatsapp.net".parse().unwrap());
        d.lid = Some("100000012345678:7@lid".parse().unwrap());
        d.push_name = "Zoë".into();
        d.business_name = Some("Shop".into());
        d.platform = Some("android".into());
        d.edge_routing_info = Some(vec![8; 9]);
        d.server_cert_chain = Some(CachedServerCertChain {
            intermediate: CachedNoiseCert {
                key: [6; 32],
                not_before: -1,
                not_after: 2,
            },
            leaf: CachedNoiseCert {
                key: [7; 32],
                not_before: 3,
                not_after: i64::MAX,
            },
        });
        d.login_counter = -4;
        d.lid_migrated = true;
        d.app_version = Some(AppVersion {
            primary: 2,
            secondary: 3000,
            tertiary: 1_045_368_834,
        });
        d.app_version_last_fetched_ms = 11;
        d.props_hash = Some("h".into());
        d.next_pre_key_id = 813;
        d.first_unupload_pre_key_id = 800;
        d.server_has_prekeys = true;
        d.last_signed_pre_key_rotation_ms = 12;
        d
    }

    #[test]
    fn device_round_trips_through_v1() {
        for d in [full_device(), {
            let f = full_device();
            Device::from_keys(DeviceKeys {
                noise_key: f.noise_key,
                identity_key: f.identity_key,
                registration_id: 1,
                signed_pre_key: f.signed_pre_key,
                signed_pre_key_id: 1,
                signed_pre_key_signature: [0; 64],
                adv_secret_key: [0; 32],
            })
        }] {
            let bytes = encode_device(&d).unwrap();
            let back = device_from_v1(&decode::<DeviceV1<'_>>(&bytes).unwrap()).unwrap();
            assert_eq!(back, d);
        }
    }

    /// Fails when wa-core's `Device` gains, loses or reorders a field: the v1
    /// record would then drop data silently. Add a v2 record when it fires.
    #[test]
    fn device_v1_covers_every_device_field() {
        let json = serde_json::to_value(full_device()).unwrap();
        let fields: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut want: Vec<&str> = DEVICE_V1_FIELDS.to_vec();
        let mut got = fields.clone();
        want.sort_unstable();
        got.sort_unstable();
        assert_eq!(got, want, "Device's fields changed: add a v2 device record");
    }

    #[test]
    fn wrong_lengths_are_errors() {
        let v = HashStateV1 {
            version: 1,
            hash: Blob(&[0; 127]),
        };
        assert!(hash_state_from_v1(&v).unwrap_err().contains("127"));
        let c = CertV1 {
            key: Blob(&[0; 31]),
            not_before: 0,
            not_after: 0,
        };
        assert!(cert_from_v1(&c).is_err());
    }
}
