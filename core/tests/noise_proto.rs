//! The hand-written protobuf messages: field numbers and enum values from
//! docs/protocol.md §2.6 and §3, checked on the exact bytes they encode to.

mod noise_support;

use noise_support::*;
use prost::Message;
use wa_core::proto::client_payload::{
    self, ConnectReason, ConnectType, DevicePairingRegistrationData, Product, UserAgent, WebInfo,
    user_agent, web_info,
};
use wa_core::proto::device_props::{self, HistorySyncConfig, PlatformType};
use wa_core::proto::handshake_message::{ClientFinish, ClientHello, ServerHello};
use wa_core::proto::{
    AdvDeviceIdentity, AdvEncryptionType, AdvKeyIndexList, AdvSignedDeviceIdentity,
    AdvSignedDeviceIdentityHmac, CertChain, ClientPairingProps, ClientPayload, DeviceProps,
    HandshakeMessage,
};

#[test]
fn client_hello_check_value() {
    // docs/protocol.md §1.4: HandshakeMessage field 2 (len 34) holding ClientHello
    // field 1 (len 32).
    let e = [0x5Au8; 32];
    let msg = HandshakeMessage {
        client_hello: Some(ClientHello {
            ephemeral: Some(e.to_vec()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let bytes = msg.encode_to_vec();
    let mut expected = vec![0x12, 0x22, 0x0A, 0x20];
    expected.extend_from_slice(&e);
    assert_eq!(bytes, expected);

    // The first WebSocket message: header, 3-byte length 0x24, then the above.
    let mut wire = Vec::new();
    wa_core::frame::FrameEncoder::new()
        .encode(&bytes, &mut wire)
        .unwrap();
    assert_eq!(wire.len(), 43);
    assert_eq!(&wire[..7], &[0x57, 0x41, 0x06, 0x03, 0x00, 0x00, 0x24]);
    assert_eq!(&wire[7..], &expected[..]);
}

#[test]
fn server_hello_and_client_finish_field_numbers() {
    let sh = HandshakeMessage {
        server_hello: Some(ServerHello {
            ephemeral: Some(vec![1]),
            r#static: Some(vec![2]),
            payload: Some(vec![3]),
        }),
        ..Default::default()
    };
    // field 3 (0x1A) len 9: {1: [1], 2: [2], 3: [3]}
    assert_eq!(
        sh.encode_to_vec(),
        [0x1A, 9, 0x0A, 1, 1, 0x12, 1, 2, 0x1A, 1, 3]
    );
    let cf = HandshakeMessage {
        client_finish: Some(ClientFinish {
            r#static: Some(vec![4]),
            payload: Some(vec![5]),
        }),
        ..Default::default()
    };
    // field 4 (0x22) len 6: {1: [4], 2: [5]}
    assert_eq!(cf.encode_to_vec(), [0x22, 6, 0x0A, 1, 4, 0x12, 1, 5]);
    assert_eq!(
        HandshakeMessage::decode(&cf.encode_to_vec()[..]).unwrap(),
        cf
    );
}

#[test]
fn unknown_post_quantum_fields_are_skipped() {
    // ClientHello with pqMode (field 9, varint 4) and extendedEphemeral (field
    // 10, bytes) that this schema leaves out.
    let mut inner = vec![0x0A, 1, 7];
    inner.extend_from_slice(&[0x48, 4]); // field 9, varint
    inner.extend_from_slice(&[0x52, 2, 0xAA, 0xBB]); // field 10, bytes
    let mut bytes = vec![0x12, inner.len() as u8];
    bytes.extend_from_slice(&inner);
    let msg = HandshakeMessage::decode(&bytes[..]).unwrap();
    assert_eq!(msg.client_hello.unwrap().ephemeral, Some(vec![7]));
}

#[test]
fn real_cert_chain_decodes_to_the_documented_values() {
    let bytes = real_chain();
    let chain = CertChain::decode(&bytes[..]).unwrap();
    assert_eq!(chain.encode_to_vec(), bytes, "re-encodes byte for byte");
    use wa_core::proto::cert_chain::noise_certificate::Details;
    let leaf = Details::decode(chain.leaf.as_ref().unwrap().details.as_deref().unwrap()).unwrap();
    assert_eq!(leaf.serial, Some(329));
    assert_eq!(leaf.issuer_serial, Some(3));
    assert_eq!(leaf.key.as_deref(), Some(&real_server_static()[..]));
    assert_eq!(leaf.not_before, Some(LEAF_NOT_BEFORE));
    assert_eq!(leaf.not_after, Some(LEAF_NOT_AFTER));
    let inter = Details::decode(
        chain
            .intermediate
            .as_ref()
            .unwrap()
            .details
            .as_deref()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(inter.serial, Some(3));
    // The intermediate's issuerSerial is encoded explicitly as 0 here.
    assert_eq!(inter.issuer_serial, Some(0));
    assert_eq!(inter.not_before, Some(INTERMEDIATE_NOT_BEFORE));
    assert_eq!(chain.leaf.unwrap().signature.unwrap().len(), 64);
}

#[test]
fn client_payload_field_numbers() {
    // One field at a time, compared with the tag computed from §3.2's number.
    fn tag(field: u32, wire_type: u32) -> Vec<u8> {
        let mut v = (field << 3) | wire_type;
        let mut out = Vec::new();
        loop {
            let byte = (v & 0x7F) as u8;
            v >>= 7;
            if v == 0 {
                out.push(byte);
                return out;
            }
            out.push(byte | 0x80);
        }
    }
    let varint_one = |field: u32, msg: ClientPayload| {
        let mut expected = tag(field, 0);
        expected.push(1);
        assert_eq!(msg.encode_to_vec(), expected, "field {field}");
    };
    let d = ClientPayload::default;
    varint_one(
        1,
        ClientPayload {
            username: Some(1),
            ..d()
        },
    );
    varint_one(
        3,
        ClientPayload {
            passive: Some(true),
            ..d()
        },
    );
    varint_one(
        10,
        ClientPayload {
            short_connect: Some(true),
            ..d()
        },
    );
    varint_one(
        12,
        ClientPayload {
            connect_type: Some(ConnectType::WifiUnknown as i32),
            ..d()
        },
    );
    varint_one(
        13,
        ClientPayload {
            connect_reason: Some(ConnectReason::UserActivated as i32),
            ..d()
        },
    );
    varint_one(
        16,
        ClientPayload {
            connect_attempt_count: Some(1),
            ..d()
        },
    );
    varint_one(
        18,
        ClientPayload {
            device: Some(1),
            ..d()
        },
    );
    varint_one(
        20,
        ClientPayload {
            product: Some(Product::Messenger as i32),
            ..d()
        },
    );
    varint_one(
        23,
        ClientPayload {
            oc: Some(true),
            ..d()
        },
    );
    varint_one(24, ClientPayload { lc: Some(1), ..d() });
    varint_one(
        33,
        ClientPayload {
            pull: Some(true),
            ..d()
        },
    );
    varint_one(
        40,
        ClientPayload {
            traffic_anonymization: Some(1),
            ..d()
        },
    );
    varint_one(
        41,
        ClientPayload {
            lid_db_migrated: Some(true),
            ..d()
        },
    );
    varint_one(
        42,
        ClientPayload {
            account_type: Some(1),
            ..d()
        },
    );
    varint_one(
        44,
        ClientPayload {
            paa_link: Some(true),
            ..d()
        },
    );
    varint_one(
        45,
        ClientPayload {
            preacks_count: Some(1),
            ..d()
        },
    );
    varint_one(
        46,
        ClientPayload {
            processing_queue_size: Some(1),
            ..d()
        },
    );
    varint_one(
        36,
        ClientPayload {
            year_class: Some(1),
            ..d()
        },
    );
    varint_one(
        37,
        ClientPayload {
            mem_class: Some(1),
            ..d()
        },
    );
    varint_one(
        30,
        ClientPayload {
            ios_app_extension: Some(1),
            ..d()
        },
    );
    varint_one(
        31,
        ClientPayload {
            fb_app_id: Some(1),
            ..d()
        },
    );
    varint_one(
        14,
        ClientPayload {
            shards: vec![1],
            ..d()
        },
    );

    let empty_len = |field: u32, msg: ClientPayload| {
        let mut expected = tag(field, 2);
        expected.push(0);
        assert_eq!(msg.encode_to_vec(), expected, "field {field}");
    };
    empty_len(
        5,
        ClientPayload {
            user_agent: Some(UserAgent::default()),
            ..d()
        },
    );
    empty_len(
        6,
        ClientPayload {
            web_info: Some(WebInfo::default()),
            ..d()
        },
    );
    empty_len(
        7,
        ClientPayload {
            push_name: Some(String::new()),
            ..d()
        },
    );
    empty_len(
        15,
        ClientPayload {
            dns_source: Some(client_payload::DnsSource::default()),
            ..d()
        },
    );
    empty_len(
        19,
        ClientPayload {
            device_pairing_data: Some(DevicePairingRegistrationData::default()),
            ..d()
        },
    );
    empty_len(
        21,
        ClientPayload {
            fb_cat: Some(vec![]),
            ..d()
        },
    );
    empty_len(
        22,
        ClientPayload {
            fb_user_agent: Some(vec![]),
            ..d()
        },
    );
    empty_len(
        32,
        ClientPayload {
            fb_device_id: Some(vec![]),
            ..d()
        },
    );
    empty_len(
        34,
        ClientPayload {
            padding_bytes: Some(vec![]),
            ..d()
        },
    );
    empty_len(
        47,
        ClientPayload {
            paired_peripherals: vec![String::new()],
            ..d()
        },
    );
    empty_len(
        48,
        ClientPayload {
            test_isolation_id: Some(vec![]),
            ..d()
        },
    );

    // sfixed32 (wire type 5).
    let mut expected = tag(9, 5);
    expected.extend_from_slice(&[1, 0, 0, 0]);
    assert_eq!(
        ClientPayload {
            session_id: Some(1),
            ..d()
        }
        .encode_to_vec(),
        expected
    );
    let mut expected = tag(43, 5);
    expected.extend_from_slice(&[1, 0, 0, 0]);
    assert_eq!(
        ClientPayload {
            connection_sequence_info: Some(1),
            ..d()
        }
        .encode_to_vec(),
        expected
    );

    // Nested: UserAgent fields 1, 2 (AppVersion 1..5), 7, 10, 11, 12; WebInfo 4.
    let ua = UserAgent {
        platform: Some(user_agent::Platform::Web as i32),
        app_version: Some(user_agent::AppVersion {
            primary: Some(2),
            secondary: Some(1),
            tertiary: Some(1),
            quaternary: Some(1),
            quinary: Some(1),
        }),
        device: Some("D".into()),
        release_channel: Some(user_agent::ReleaseChannel::Beta as i32),
        locale_language_iso6391: Some("e".into()),
        locale_country_iso31661_alpha2: Some("U".into()),
        device_type: Some(user_agent::DeviceType::Desktop as i32),
        distribution_channel: Some(user_agent::DistributionChannel::Website as i32),
        ..Default::default()
    };
    assert_eq!(
        ua.encode_to_vec(),
        [
            0x08, 14, // platform = WEB
            0x12, 10, 0x08, 2, 0x10, 1, 0x18, 1, 0x20, 1, 0x28, 1, // appVersion
            0x3A, 1, b'D', // device = 7
            0x50, 1, // releaseChannel = 10
            0x5A, 1, b'e', // 11
            0x62, 1, b'U', // 12
            0x78, 2, // deviceType = 15
            0x88, 0x01, 1, // distributionChannel = 17
        ]
    );
    let wi = WebInfo {
        web_sub_platform: Some(web_info::WebSubPlatform::Darwin as i32),
        ..Default::default()
    };
    assert_eq!(wi.encode_to_vec(), [0x20, 3]);
}

#[test]
fn device_pairing_registration_data_fields_are_one_to_eight() {
    let data = DevicePairingRegistrationData {
        e_regid: Some(vec![1]),
        e_keytype: Some(vec![2]),
        e_ident: Some(vec![3]),
        e_skey_id: Some(vec![4]),
        e_skey_val: Some(vec![5]),
        e_skey_sig: Some(vec![6]),
        build_hash: Some(vec![7]),
        device_props: Some(vec![8]),
    };
    let expected: Vec<u8> = (1u8..=8).flat_map(|f| [(f << 3) | 2, 1, f]).collect();
    assert_eq!(data.encode_to_vec(), expected);
}

#[test]
fn device_props_and_history_sync_config_field_numbers() {
    let props = DeviceProps {
        os: Some("o".into()),
        version: Some(device_props::AppVersion {
            primary: Some(0),
            ..Default::default()
        }),
        platform_type: Some(PlatformType::Chrome as i32),
        require_full_sync: Some(true),
        history_sync_config: Some(HistorySyncConfig {
            storage_quota_mb: Some(5),
            thumbnail_sync_days_limit: Some(6),
            support_newsletter: Some(true),
            supported_bot_channel_fbids: vec!["b".into()],
            ..Default::default()
        }),
    };
    assert_eq!(
        props.encode_to_vec(),
        [
            0x0A, 1, b'o', // os = 1
            0x12, 2, 0x08, 0, // version = 2 {primary = 0}
            0x18, 1, // platformType = 3
            0x20, 1, // requireFullSync = 4
            0x2A, 12, // historySyncConfig = 5
            0x18, 5, // storageQuotaMb = 3
            0x98, 0x01, 6, // thumbnailSyncDaysLimit = 19
            0xBA, 0x01, 1, b'b', // supportedBotChannelFbids = 23
            0xC8, 0x01, 1, // supportNewsletter = 25
        ]
    );
    assert_eq!(
        DeviceProps::decode(&props.encode_to_vec()[..]).unwrap(),
        props
    );
}

#[test]
fn enum_values() {
    use user_agent::Platform;
    assert_eq!(Platform::Android as i32, 0);
    assert_eq!(Platform::SmbAndroid as i32, 10);
    assert_eq!(Platform::SmbIos as i32, 12);
    assert_eq!(Platform::Windows as i32, 13);
    assert_eq!(Platform::Web as i32, 14);
    assert_eq!(Platform::Macos as i32, 24);
    assert_eq!(Platform::Wail as i32, 38);
    assert_eq!(user_agent::ReleaseChannel::Release as i32, 0);
    assert_eq!(user_agent::ReleaseChannel::Debug as i32, 3);
    assert_eq!(user_agent::DeviceType::Vr as i32, 4);
    assert_eq!(web_info::WebSubPlatform::WebBrowser as i32, 0);
    assert_eq!(web_info::WebSubPlatform::WinHybrid as i32, 5);
    assert_eq!(ConnectType::WifiUnknown as i32, 1);
    assert_eq!(ConnectType::CellularEdge as i32, 100);
    assert_eq!(ConnectType::CellularHspap as i32, 112);
    assert_eq!(ConnectReason::UserActivated as i32, 1);
    assert_eq!(ConnectReason::Unknown as i32, 6);
    assert_eq!(Product::WhatsappLid as i32, 4);
    assert_eq!(PlatformType::Unknown as i32, 0);
    assert_eq!(PlatformType::Chrome as i32, 1);
    assert_eq!(PlatformType::Desktop as i32, 7);
    assert_eq!(PlatformType::IosPhone as i32, 14);
    assert_eq!(PlatformType::Wail as i32, 25);
    assert_eq!(AdvEncryptionType::E2ee as i32, 0);
    assert_eq!(AdvEncryptionType::Hosted as i32, 1);
    assert_eq!(AdvEncryptionType::NonE2ee as i32, 2);
    // prost getters map unknown values to the default and known ones to the enum.
    let ua = UserAgent {
        platform: Some(14),
        ..Default::default()
    };
    assert_eq!(ua.platform(), Platform::Web);
    assert_eq!(Platform::try_from(99).ok(), None);
}

#[test]
fn adv_messages_field_numbers() {
    let hmac = AdvSignedDeviceIdentityHmac {
        details: Some(vec![1]),
        hmac: Some(vec![2]),
        account_type: Some(AdvEncryptionType::Hosted as i32),
    };
    assert_eq!(hmac.encode_to_vec(), [0x0A, 1, 1, 0x12, 1, 2, 0x18, 1]);

    let signed = AdvSignedDeviceIdentity {
        details: Some(vec![1]),
        account_signature_key: Some(vec![2]),
        account_signature: Some(vec![3]),
        device_signature: Some(vec![4]),
    };
    assert_eq!(
        signed.encode_to_vec(),
        [0x0A, 1, 1, 0x12, 1, 2, 0x1A, 1, 3, 0x22, 1, 4]
    );

    let identity = AdvDeviceIdentity {
        raw_id: Some(1),
        timestamp: Some(2),
        key_index: Some(3),
        account_type: Some(1),
        device_type: Some(2),
    };
    assert_eq!(
        identity.encode_to_vec(),
        [0x08, 1, 0x10, 2, 0x18, 3, 0x20, 1, 0x28, 2]
    );

    let list = AdvKeyIndexList {
        raw_id: Some(1),
        timestamp: Some(2),
        current_index: Some(3),
        valid_indexes: vec![4, 5],
        account_type: Some(0),
    };
    // validIndexes is packed: one length-delimited field 4.
    assert_eq!(
        list.encode_to_vec(),
        [0x08, 1, 0x10, 2, 0x18, 3, 0x22, 2, 4, 5, 0x28, 0]
    );

    let props = ClientPairingProps {
        is_chat_db_lid_migrated: Some(true),
        is_syncd_pure_lid_session: Some(true),
        is_syncd_snapshot_recovery_enabled: Some(false),
        is_hs_thumbnail_sync_enabled: Some(true),
        subscription_sync_payload: Some(vec![9]),
    };
    assert_eq!(
        props.encode_to_vec(),
        [0x08, 1, 0x10, 1, 0x18, 0, 0x20, 1, 0x2A, 1, 9]
    );
}
