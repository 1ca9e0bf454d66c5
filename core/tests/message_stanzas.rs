//! The messaging stanzas and IQs: builders and parsers agree, malformed input is
//! a typed error, and the phash matches published values.

use bytes::Bytes;
use prost::Message as _;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use wa_core::binary::{Jid, Node, decode_frame, marshal};
use wa_core::message::iq::{self, BundleResult};
use wa_core::message::stanza::{
    Enc, EncType, IncomingMessage, Recipient, RetryKeys, RetryReceipt, ServerAck, outgoing_message,
    phash,
};
use wa_core::message::{Message, StanzaError, pad, unpad};
use wa_core::signal::{IdentityKeyPair, PreKeyRecord, SignedPreKeyRecord};

/// Through the wire codec and back, as the peer would see it.
fn wire(node: &Node) -> Node {
    decode_frame(&Bytes::from(marshal(node).expect("encode"))).expect("decode")
}

#[test]
fn phash_matches_published_values() {
    // Values from whatsapp-rust's cross-check test (equal to whatsmeow and WA Web).
    assert_eq!(
        phash(&[Jid::pn("5511999999999").with_device(3)]),
        "2:5s+YxCff"
    );
    assert_eq!(phash(&[Jid::pn("5511999999999")]), "2:RJWVxcMQ");
    let multi = [
        Jid::pn("7469250125917").with_device(21),
        Jid::pn("5511988887777").with_device(14),
    ];
    assert_eq!(phash(&multi), "2:AAv/hwhn");
}

#[test]
fn incoming_message_parses_and_is_answered_with_its_addressing() {
    let node = Node::new("message")
        .with_attr("id", "3EB0AA")
        .with_attr("from", Jid::pn("15550001").with_device(2))
        .with_attr("t", "1767225600")
        .with_attr("notify", "Ann")
        .with_attr("type", "text")
        .with_attr("sender_lid", Jid::lid("9988"))
        .with_attr("offline", "1")
        .with_children([
            Node::new("enc")
                .with_attr("v", "2")
                .with_attr("type", "pkmsg")
                .with_bytes(vec![1, 2, 3]),
            Node::new("enc")
                .with_attr("v", "2")
                .with_attr("type", "skmsg")
                .with_bytes(vec![4]),
        ]);
    let msg = IncomingMessage::parse(&wire(&node)).expect("parse");
    assert_eq!(msg.id, "3EB0AA");
    assert_eq!(msg.sender(), &Jid::pn("15550001").with_device(2));
    assert_eq!(msg.chat(), Jid::pn("15550001"));
    assert_eq!(msg.sender_alt, Some(Jid::lid("9988")));
    assert_eq!(msg.timestamp, 1_767_225_600);
    assert_eq!(msg.push_name.as_deref(), Some("Ann"));
    assert!(msg.offline);
    assert_eq!(msg.encs.len(), 2);
    assert_eq!(msg.encs[0].kind, EncType::PreKey);
    assert_eq!(msg.encs[0].ciphertext, Bytes::from_static(&[1, 2, 3]));

    let receipt = wire(&msg.delivery_receipt(false));
    assert_eq!(receipt.tag, "receipt");
    assert_eq!(receipt.attr_str("id"), Some("3EB0AA"));
    assert_eq!(
        receipt.attr_jid("to").expect("to"),
        Jid::pn("15550001").with_device(2)
    );
    assert!(receipt.attr("type").is_none());
    assert_eq!(
        wire(&msg.delivery_receipt(true)).attr_str("type"),
        Some("sender")
    );
    let ack = wire(&msg.ack());
    assert_eq!(
        (ack.tag.as_str(), ack.attr_str("class")),
        ("ack", Some("message"))
    );
}

#[test]
fn group_and_own_device_messages_name_the_right_chat() {
    let group = Node::new("message")
        .with_attr("id", "1")
        .with_attr("from", Jid::group("120363000000000001"))
        .with_attr("participant", Jid::lid("77").with_device(1))
        .with_children([Node::new("enc")
            .with_attr("type", "skmsg")
            .with_bytes(vec![0])]);
    let msg = IncomingMessage::parse(&group).expect("group");
    assert_eq!(msg.chat(), Jid::group("120363000000000001"));
    assert_eq!(msg.sender(), &Jid::lid("77").with_device(1));
    let receipt = msg.delivery_receipt(false);
    assert_eq!(
        receipt.attr_jid("participant").expect("participant"),
        Jid::lid("77").with_device(1)
    );

    let own = Node::new("message")
        .with_attr("id", "2")
        .with_attr("from", Jid::pn("1000").with_device(3))
        .with_attr("recipient", Jid::pn("2000"))
        .with_children([Node::new("enc")
            .with_attr("type", "msg")
            .with_bytes(vec![0])]);
    let msg = IncomingMessage::parse(&own).expect("own");
    assert_eq!(msg.chat(), Jid::pn("2000"));
    assert_eq!(
        msg.delivery_receipt(true)
            .attr_jid("recipient")
            .expect("recipient"),
        Jid::pn("2000")
    );
}

#[test]
fn malformed_messages_are_typed_errors() {
    let no_id = Node::new("message").with_attr("from", Jid::pn("1"));
    assert!(matches!(
        IncomingMessage::parse(&no_id),
        Err(StanzaError::Node(_))
    ));
    let bad_enc = Node::new("message")
        .with_attr("id", "x")
        .with_attr("from", Jid::pn("1"))
        .with_children([Node::new("enc")
            .with_attr("type", "weird")
            .with_bytes(vec![1])]);
    assert_eq!(
        IncomingMessage::parse(&bad_enc),
        Err(StanzaError::Invalid("enc type"))
    );
    let no_content = Node::new("message")
        .with_attr("id", "x")
        .with_attr("from", Jid::pn("1"))
        .with_children([Node::new("enc").with_attr("type", "msg")]);
    assert_eq!(
        IncomingMessage::parse(&no_content),
        Err(StanzaError::Invalid("enc content"))
    );
    assert!(IncomingMessage::parse(&Node::new("receipt")).is_err());
}

#[test]
fn outgoing_message_carries_device_identity_only_with_a_pkmsg() {
    let to = Jid::pn("2000");
    let enc = |kind| Enc {
        kind,
        ciphertext: Bytes::from_static(b"ct"),
        media_type: None,
    };
    let recipients = [
        Recipient {
            device: to.clone(),
            enc: enc(EncType::Message),
        },
        Recipient {
            device: to.clone().with_device(4),
            enc: enc(EncType::PreKey),
        },
    ];
    let node = wire(&outgoing_message("ID1", &to, &recipients, Some(b"adv")));
    let tos: Vec<_> = node
        .child("participants")
        .expect("participants")
        .children_by_tag("to")
        .collect();
    assert_eq!(tos.len(), 2);
    assert_eq!(
        tos[1].attr_jid("jid").expect("jid"),
        to.clone().with_device(4)
    );
    assert_eq!(
        tos[1].child("enc").and_then(|e| e.attr_str("type")),
        Some("pkmsg")
    );
    assert_eq!(
        node.child("device-identity")
            .and_then(|d| d.content_bytes())
            .map(|b| b.to_vec()),
        Some(b"adv".to_vec())
    );
    let without = outgoing_message("ID2", &to, &recipients[..1], Some(b"adv"));
    assert!(without.child("device-identity").is_none());
}

#[test]
fn retry_receipts_round_trip_with_and_without_keys() {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let identity = IdentityKeyPair::generate(&mut rng);
    let signed = SignedPreKeyRecord::generate(5, &identity, 0, &mut rng);
    let pre_key = PreKeyRecord::generate(0x01_02_03, &mut rng);
    let incoming = IncomingMessage::parse(
        &Node::new("message")
            .with_attr("id", "M1")
            .with_attr("from", Jid::pn("1000").with_device(1))
            .with_attr("t", "5")
            .with_children([Node::new("enc")
                .with_attr("type", "msg")
                .with_bytes(vec![0])]),
    )
    .expect("incoming");
    let keys = RetryKeys {
        identity: *identity.public_key().raw(),
        pre_key: (pre_key.id(), *pre_key.public_key().raw()),
        signed_pre_key: (signed.id(), *signed.public_key().raw(), *signed.signature()),
        device_identity: vec![9, 9],
    };
    for (count, keys) in [(1, None), (2, Some(keys))] {
        // The server delivers our receipt to the sender with `from` set to us.
        let mut node = wire(&incoming.retry_receipt(count, 0xABCD, keys.clone()));
        node.attrs.insert("from", Jid::pn("3000").with_device(2));
        let parsed = RetryReceipt::parse(&node).expect("retry");
        assert_eq!(parsed.message_id, "M1");
        assert_eq!(parsed.count, count);
        assert_eq!(parsed.registration_id, 0xABCD);
        assert_eq!(parsed.keys, keys);
    }
}

#[test]
fn usync_request_and_answer() {
    let req = wire(&iq::usync_devices(
        &[Jid::pn("1").with_device(3), Jid::lid("2")],
        "sid1",
    ));
    let users: Vec<_> = req
        .child("usync")
        .and_then(|u| u.child("list"))
        .expect("list")
        .children_by_tag("user")
        .collect();
    assert_eq!(users[0].attr_jid("jid").expect("jid"), Jid::pn("1"));
    let answer = Node::new("iq")
        .with_attr("type", "result")
        .with_children([
            Node::new("usync").with_children([Node::new("list").with_children([
                Node::new("user")
                    .with_attr("jid", Jid::pn("1"))
                    .with_children([Node::new("devices").with_children([Node::new(
                        "device-list",
                    )
                    .with_children([
                        Node::new("device").with_attr("id", "0"),
                        Node::new("device").with_attr("id", "7"),
                        Node::new("device").with_attr("id", "7"),
                    ])])]),
                Node::new("user").with_attr("jid", Jid::lid("2")),
            ])]),
        ]);
    let parsed = iq::parse_usync_devices(&wire(&answer)).expect("usync");
    assert_eq!(parsed.len(), 1);
    assert_eq!(parsed[0].devices, [0, 7]);
    assert_eq!(
        parsed[0].jids().collect::<Vec<_>>(),
        [Jid::pn("1"), Jid::pn("1").with_device(7)]
    );
}

#[test]
fn prekey_upload_and_bundles_round_trip() {
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let identity = IdentityKeyPair::generate(&mut rng);
    let signed = SignedPreKeyRecord::generate(1, &identity, 0, &mut rng);
    let keys: Vec<_> = (1..=3)
        .map(|id| PreKeyRecord::generate(id, &mut rng))
        .collect();
    let upload = wire(&iq::upload_prekeys(
        77,
        identity.public_key(),
        &keys,
        &signed,
    ));
    let list: Vec<_> = upload
        .child("list")
        .expect("list")
        .children_by_tag("key")
        .collect();
    assert_eq!(list.len(), 3);
    assert_eq!(
        list[2]
            .child("id")
            .and_then(|i| i.content_bytes())
            .map(|b| b.to_vec()),
        Some(vec![0, 0, 3])
    );

    let device = Jid::pn("555").with_device(2);
    let bundle = wa_core::signal::PreKeyBundle {
        registration_id: 77,
        device_id: 2,
        pre_key: Some((keys[1].id(), *keys[1].public_key())),
        signed_pre_key_id: 1,
        signed_pre_key: *signed.public_key(),
        signed_pre_key_signature: *signed.signature(),
        identity_key: *identity.public_key(),
    };
    let answer = Node::new("iq").with_children([Node::new("list").with_children([
        iq::bundle_node(&device, &bundle),
        Node::new("user")
            .with_attr("jid", Jid::pn("556"))
            .with_children([Node::new("error").with_attr("code", "406")]),
    ])]);
    let parsed = iq::parse_bundles(&wire(&answer)).expect("bundles");
    assert_eq!(parsed[0], BundleResult::Bundle { device, bundle });
    assert_eq!(
        parsed[1],
        BundleResult::Error {
            device: Jid::pn("556"),
            code: "406".into()
        }
    );
    let count = Node::new("iq").with_children([Node::new("count").with_attr("value", "12")]);
    assert_eq!(iq::parse_prekey_count(&count).expect("count"), 12);
}

#[test]
fn padding_round_trips_and_bad_padding_is_refused() {
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    for _ in 0..100 {
        let text = Message::text("padded").encode_to_vec();
        let padded = pad(text.clone(), &mut rng);
        let n = padded.len() - text.len();
        assert!((1..=15).contains(&n));
        assert_eq!(unpad(&padded).expect("unpad"), &text[..]);
    }
    assert!(unpad(&[]).is_err());
    assert!(unpad(&[1, 2, 0]).is_err());
    assert!(unpad(&[5, 5]).is_err());
}

#[test]
fn message_protobuf_subset_round_trips_nested_messages() {
    use wa_core::message::proto::*;
    let inner = Message::text("original");
    let msg = Message {
        extended_text_message: Some(ExtendedTextMessage {
            text: Some("reply".into()),
            context_info: Some(Box::new(ContextInfo {
                stanza_id: Some("Q1".into()),
                participant: Some("1@s.whatsapp.net".into()),
                quoted_message: Some(Box::new(inner)),
                ..Default::default()
            })),
        }),
        ..Default::default()
    };
    let wrapped = Message {
        device_sent_message: Some(Box::new(DeviceSentMessage {
            destination_jid: Some("2@s.whatsapp.net".into()),
            message: Some(Box::new(msg.clone())),
            phash: None,
        })),
        ..Default::default()
    };
    let back = Message::decode(&wrapped.encode_to_vec()[..]).expect("decode");
    let unwrapped = back
        .device_sent_message
        .and_then(|d| d.message)
        .expect("inner");
    assert_eq!(*unwrapped, msg);
    assert_eq!(unwrapped.text_content(), Some("reply"));
    // Unknown fields (an image message, 3) are skipped.
    let mut with_unknown = Message::text("t").encode_to_vec();
    with_unknown.extend_from_slice(&[0x1A, 0x02, 0x08, 0x01]);
    assert_eq!(
        Message::decode(&with_unknown[..])
            .expect("decode")
            .text_content(),
        Some("t")
    );
}

#[test]
fn server_ack_parses_only_message_acks() {
    let ack = Node::new("ack")
        .with_attr("class", "message")
        .with_attr("id", "X")
        .with_attr("t", "9")
        .with_attr("phash", "2:abc");
    let parsed = ServerAck::parse(&wire(&ack)).expect("ack");
    assert_eq!(parsed.phash.as_deref(), Some("2:abc"));
    assert_eq!(parsed.timestamp, Some(9));
    assert!(
        ServerAck::parse(
            &Node::new("ack")
                .with_attr("class", "receipt")
                .with_attr("id", "X")
        )
        .is_none()
    );
}
