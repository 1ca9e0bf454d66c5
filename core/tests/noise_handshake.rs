//! Client ↔ server round trips of the WhatsApp handshake, and the ways each side
//! refuses a wrong peer.

mod noise_support;

use prost::Message;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use wa_core::cert::{CertDetails, CertError, CertRole, build_cert_chain};
use wa_core::noise::xx::Initiator;
use wa_core::noise::{
    ClientHandshake, ExpectClientHello, ExpectServerHello, KeyPair, NOISE_XX_PROTOCOL_NAME,
    NoiseError, ServerHandshake,
};
use wa_core::proto::client_payload::{ConnectReason, ConnectType, UserAgent, user_agent};
use wa_core::proto::handshake_message::{ClientFinish, ClientHello};
use wa_core::proto::{ClientPayload, HandshakeMessage};

const PROLOGUE: [u8; 4] = wa_core::frame::NOISE_PROLOGUE;
const NOW: u64 = 1_000_000;

/// A deterministic test server and the root that signed its chain.
struct TestPki {
    root: KeyPair,
    server_static: KeyPair,
    chain: Vec<u8>,
}

fn pki(rng: &mut ChaCha20Rng) -> TestPki {
    let root = KeyPair::generate(rng);
    let intermediate = KeyPair::generate(rng);
    let server_static = KeyPair::generate(rng);
    let inter = CertDetails {
        serial: 10,
        issuer_serial: 0,
        key: *intermediate.public_key(),
        not_before: NOW - 100,
        not_after: NOW + 100,
    };
    let leaf = CertDetails {
        serial: 11,
        issuer_serial: 10,
        key: *server_static.public_key(),
        not_before: NOW - 50,
        not_after: NOW + 50,
    };
    let chain = build_cert_chain(
        root.private_key(),
        &inter,
        intermediate.private_key(),
        &leaf,
        rng,
    );
    TestPki {
        root,
        server_static,
        chain,
    }
}

fn server(pki: &TestPki, rng: &mut ChaCha20Rng) -> ExpectClientHello {
    ServerHandshake::start(
        pki.server_static.clone(),
        KeyPair::generate(rng),
        pki.chain.clone(),
        &PROLOGUE,
    )
}

fn client(static_key: &KeyPair, rng: &mut ChaCha20Rng) -> (ExpectServerHello, Vec<u8>) {
    ClientHandshake::start(static_key.clone(), KeyPair::generate(rng), &PROLOGUE)
}

fn login_payload() -> Vec<u8> {
    ClientPayload {
        username: Some(5_511_987_650_001),
        device: Some(3),
        passive: Some(false),
        pull: Some(true),
        connect_type: Some(ConnectType::WifiUnknown as i32),
        connect_reason: Some(ConnectReason::UserActivated as i32),
        user_agent: Some(UserAgent {
            platform: Some(user_agent::Platform::Web as i32),
            app_version: Some(user_agent::AppVersion {
                primary: Some(2),
                secondary: Some(3000),
                tertiary: Some(1_045_368_834),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

#[test]
fn round_trip_and_transport_in_both_directions() {
    let mut rng = ChaCha20Rng::from_seed([1; 32]);
    let pki = pki(&mut rng);
    let client_static = KeyPair::generate(&mut rng);

    let (client, hello) = client(&client_static, &mut rng);
    assert_eq!(hello.len(), 36);
    let (server, server_hello) = server(&pki, &mut rng).read_client_hello(&hello).unwrap();
    assert_eq!(client.handshake_hash().len(), 32);

    let (client, chain) = client
        .read_server_hello(&server_hello, pki.root.public_key(), NOW)
        .unwrap();
    assert_eq!(&chain.leaf.key, pki.server_static.public_key());
    assert_eq!(client.server_static(), pki.server_static.public_key());
    assert_eq!(client.handshake_hash(), server.handshake_hash());

    let payload = login_payload();
    let (finish, mut client_t) = client.write_client_finish(&payload).unwrap();
    let finished = server.read_client_finish(&finish).unwrap();
    assert_eq!(&finished.client_static, client_static.public_key());
    assert_eq!(finished.client_payload, payload);
    let decoded = ClientPayload::decode(&finished.client_payload[..]).unwrap();
    assert_eq!(decoded.username, Some(5_511_987_650_001));
    assert_eq!(
        decoded.user_agent.unwrap().platform(),
        user_agent::Platform::Web
    );

    let mut server_t = finished.transport;
    for i in 0..20u8 {
        let up = vec![i; usize::from(i) * 7];
        assert_eq!(
            server_t.decrypt(&client_t.encrypt(&up).unwrap()).unwrap(),
            up
        );
        let down = vec![!i; 3 + usize::from(i)];
        assert_eq!(
            client_t.decrypt(&server_t.encrypt(&down).unwrap()).unwrap(),
            down
        );
    }
    assert_eq!(
        (client_t.write_counter(), client_t.read_counter()),
        (20, 20)
    );
    assert_eq!(
        (server_t.write_counter(), server_t.read_counter()),
        (20, 20)
    );
}

#[test]
fn same_seed_same_bytes() {
    let transcript = |seed: u8| {
        let mut rng = ChaCha20Rng::from_seed([seed; 32]);
        let pki = pki(&mut rng);
        let client_static = KeyPair::generate(&mut rng);
        let (client, hello) = client(&client_static, &mut rng);
        let (server, server_hello) = server(&pki, &mut rng).read_client_hello(&hello).unwrap();
        let (client, _) = client
            .read_server_hello(&server_hello, pki.root.public_key(), NOW)
            .unwrap();
        let (finish, mut t) = client.write_client_finish(b"x").unwrap();
        server.read_client_finish(&finish).unwrap();
        [hello, server_hello, finish, t.encrypt(b"frame").unwrap()]
    };
    assert_eq!(transcript(5), transcript(5));
    assert_ne!(transcript(5), transcript(6));
}

#[test]
fn client_finish_matches_a_manual_replay_of_the_spec_steps() {
    // Replays docs/protocol.md §2.3 by hand with the generic symmetric state and raw
    // X25519, and compares the ClientFinish byte for byte. In particular the
    // client static is encrypted with the es key at nonce 1 (step 3.1), right
    // after that key decrypted the certificate chain at nonce 0.
    use wa_core::noise::SymmetricState;
    let mut rng = ChaCha20Rng::from_seed([2; 32]);
    let pki = pki(&mut rng);
    let (s_priv, e_priv, re_priv) = ([0x21; 32], [0x22; 32], [0x23; 32]);
    let client_static = KeyPair::from_private_key(s_priv);
    let (c, hello) = ClientHandshake::start(
        client_static.clone(),
        KeyPair::from_private_key(e_priv),
        &PROLOGUE,
    );
    let srv = ServerHandshake::start(
        pki.server_static.clone(),
        KeyPair::from_private_key(re_priv),
        pki.chain.clone(),
        &PROLOGUE,
    );
    let (srv, server_hello) = srv.read_client_hello(&hello).unwrap();
    let (c, _) = c
        .read_server_hello(&server_hello, pki.root.public_key(), NOW)
        .unwrap();
    let (finish, mut client_t) = c.write_client_finish(b"login").unwrap();

    let sh = HandshakeMessage::decode(&server_hello[..])
        .unwrap()
        .server_hello
        .unwrap();
    let e_pub = *KeyPair::from_private_key(e_priv).public_key();
    let re = *KeyPair::from_private_key(re_priv).public_key();
    assert_eq!(sh.ephemeral.as_deref(), Some(&re[..]));
    let mut st = SymmetricState::new(&NOISE_XX_PROTOCOL_NAME);
    st.mix_hash(&PROLOGUE);
    st.mix_hash(&e_pub);
    st.mix_hash(&re);
    st.mix_key(&x25519_dalek::x25519(e_priv, re));
    let rs: [u8; 32] = st
        .decrypt_and_hash(sh.r#static.as_deref().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    assert_eq!(&rs, pki.server_static.public_key());
    st.mix_key(&x25519_dalek::x25519(e_priv, rs));
    assert_eq!(
        st.decrypt_and_hash(sh.payload.as_deref().unwrap()).unwrap(),
        pki.chain
    );
    let c_s = st.encrypt_and_hash(client_static.public_key()).unwrap();
    st.mix_key(&x25519_dalek::x25519(s_priv, re));
    let c_p = st.encrypt_and_hash(b"login").unwrap();

    let cf = HandshakeMessage::decode(&finish[..])
        .unwrap()
        .client_finish
        .unwrap();
    assert_eq!(cf.r#static.as_deref(), Some(&c_s[..]));
    assert_eq!(cf.payload.as_deref(), Some(&c_p[..]));
    assert_eq!(c_s.len(), 48);

    // Split: the replayed state as initiator writes what the client writes.
    let mut replay_t = st.split(wa_core::noise::Role::Initiator);
    assert_eq!(
        replay_t.encrypt(b"frame").unwrap(),
        client_t.encrypt(b"frame").unwrap()
    );
    let mut server_t = srv.read_client_finish(&finish).unwrap().transport;
    let down = server_t.encrypt(b"down").unwrap();
    assert_eq!(replay_t.decrypt(&down).unwrap(), b"down");
}

#[test]
fn a_standard_noise_initiator_cannot_talk_to_the_whatsapp_server() {
    // Standard Noise mixes the empty message-1 payload; the WhatsApp server does
    // not, so the hashes differ and the ServerHello does not decrypt (§2.3a).
    let mut rng = ChaCha20Rng::from_seed([3; 32]);
    let pki = pki(&mut rng);
    let initiator = Initiator::new(
        &NOISE_XX_PROTOCOL_NAME,
        &PROLOGUE,
        KeyPair::generate(&mut rng),
        KeyPair::generate(&mut rng),
    );
    let (initiator, m1) = initiator.write_message_1(&[]).unwrap();
    let hello = HandshakeMessage {
        client_hello: Some(ClientHello {
            ephemeral: Some(m1.ephemeral.to_vec()),
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec();
    let (_, server_hello) = server(&pki, &mut rng).read_client_hello(&hello).unwrap();
    let sh = HandshakeMessage::decode(&server_hello[..])
        .unwrap()
        .server_hello
        .unwrap();
    let err = initiator
        .read_message_2(
            &sh.ephemeral.unwrap(),
            &sh.r#static.unwrap(),
            &sh.payload.unwrap(),
        )
        .unwrap_err();
    assert_eq!(err, NoiseError::HandshakeDecrypt);
}

#[test]
fn wrong_root_expired_chain_and_foreign_leaf_are_refused() {
    let mut rng = ChaCha20Rng::from_seed([4; 32]);
    let pki = pki(&mut rng);
    let client_static = KeyPair::generate(&mut rng);

    let attempt = |root: &[u8; 32], now: u64, srv: ExpectClientHello, rng: &mut ChaCha20Rng| {
        let (client, hello) = client(&client_static, rng);
        let (_, server_hello) = srv.read_client_hello(&hello).unwrap();
        client
            .read_server_hello(&server_hello, root, now)
            .map(|_| ())
    };

    let other_root = KeyPair::generate(&mut rng);
    let err = attempt(
        other_root.public_key(),
        NOW,
        server(&pki, &mut rng),
        &mut rng,
    )
    .unwrap_err();
    assert!(matches!(
        err,
        NoiseError::Cert(CertError::BadSignature {
            role: CertRole::Intermediate,
            ..
        })
    ));

    let err = attempt(
        pki.root.public_key(),
        NOW + 51,
        server(&pki, &mut rng),
        &mut rng,
    )
    .unwrap_err();
    assert_eq!(
        err,
        NoiseError::Cert(CertError::Expired {
            role: CertRole::Leaf,
            not_after: NOW + 50
        })
    );

    // A server that presents a valid chain for a different static key.
    let impostor = ServerHandshake::start(
        KeyPair::generate(&mut rng),
        KeyPair::generate(&mut rng),
        pki.chain.clone(),
        &PROLOGUE,
    );
    let err = attempt(pki.root.public_key(), NOW, impostor, &mut rng).unwrap_err();
    assert_eq!(err, NoiseError::Cert(CertError::LeafKeyMismatch));

    assert!(attempt(pki.root.public_key(), NOW, server(&pki, &mut rng), &mut rng).is_ok());
}

#[test]
fn prologue_mismatch_fails_the_handshake() {
    let mut rng = ChaCha20Rng::from_seed([5; 32]);
    let pki = pki(&mut rng);
    let (client, hello) = ClientHandshake::start(
        KeyPair::generate(&mut rng),
        KeyPair::generate(&mut rng),
        &[0x57, 0x41, 0x06, 0x02],
    );
    let (_, server_hello) = server(&pki, &mut rng).read_client_hello(&hello).unwrap();
    let err = client
        .read_server_hello(&server_hello, pki.root.public_key(), NOW)
        .unwrap_err();
    assert_eq!(err, NoiseError::HandshakeDecrypt);
}

#[test]
fn server_refuses_ik_and_wrong_messages() {
    let mut rng = ChaCha20Rng::from_seed([6; 32]);
    let pki = pki(&mut rng);
    let e = KeyPair::generate(&mut rng);

    let ik_hello = HandshakeMessage {
        client_hello: Some(ClientHello {
            ephemeral: Some(e.public_key().to_vec()),
            r#static: Some(vec![0; 48]),
            payload: Some(vec![0; 20]),
        }),
        ..Default::default()
    }
    .encode_to_vec();
    let err = server(&pki, &mut rng)
        .read_client_hello(&ik_hello)
        .unwrap_err();
    assert_eq!(err, NoiseError::UnexpectedField("client hello static"));

    let finish_instead = HandshakeMessage {
        client_finish: Some(ClientFinish {
            r#static: Some(vec![0; 48]),
            payload: Some(vec![0; 16]),
        }),
        ..Default::default()
    }
    .encode_to_vec();
    let err = server(&pki, &mut rng)
        .read_client_hello(&finish_instead)
        .unwrap_err();
    assert_eq!(
        err,
        NoiseError::UnexpectedMessage {
            expected: "client hello"
        }
    );

    let short_e = HandshakeMessage {
        client_hello: Some(ClientHello {
            ephemeral: Some(vec![1; 31]),
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec();
    let err = server(&pki, &mut rng)
        .read_client_hello(&short_e)
        .unwrap_err();
    assert_eq!(
        err,
        NoiseError::InvalidLength {
            field: "ephemeral",
            expected: 32,
            actual: 31
        }
    );

    let err = server(&pki, &mut rng)
        .read_client_hello(&[0xFF, 0xFF])
        .unwrap_err();
    assert!(matches!(err, NoiseError::Malformed(_)));
}

#[test]
fn client_refuses_a_server_hello_with_missing_parts_or_low_order_ephemeral() {
    let mut rng = ChaCha20Rng::from_seed([7; 32]);
    let pki = pki(&mut rng);
    let client_static = KeyPair::generate(&mut rng);
    let (c, hello) = client(&client_static, &mut rng);
    let (_, server_hello) = server(&pki, &mut rng).read_client_hello(&hello).unwrap();
    let good = HandshakeMessage::decode(&server_hello[..])
        .unwrap()
        .server_hello
        .unwrap();
    drop(c);

    let mut no_payload = good.clone();
    no_payload.payload = None;
    let mut no_static = good.clone();
    no_static.r#static = None;
    let mut no_e = good.clone();
    no_e.ephemeral = None;
    let mut long_static = good.clone();
    long_static.r#static.as_mut().unwrap().push(0);
    let mut zero_e = good.clone();
    zero_e.ephemeral = Some(vec![0; 32]); // a low-order point: DH is all zeros

    let cases = [
        (no_payload, NoiseError::MissingField("server hello payload")),
        (no_static, NoiseError::MissingField("server hello static")),
        (no_e, NoiseError::MissingField("server hello ephemeral")),
        (
            long_static,
            NoiseError::InvalidLength {
                field: "static",
                expected: 48,
                actual: 49,
            },
        ),
        (zero_e, NoiseError::LowOrderKey),
    ];
    for (hello_msg, expected) in cases {
        let (c, _) = client(&client_static, &mut rng);
        let err = c
            .read_server_hello_message(&hello_msg, pki.root.public_key(), NOW)
            .unwrap_err();
        assert_eq!(err, expected);
    }

    let (c, _) = client(&client_static, &mut rng);
    let wrong = HandshakeMessage {
        client_hello: Some(ClientHello::default()),
        ..Default::default()
    }
    .encode_to_vec();
    assert_eq!(
        c.read_server_hello(&wrong, pki.root.public_key(), NOW)
            .unwrap_err(),
        NoiseError::UnexpectedMessage {
            expected: "server hello"
        }
    );
}

#[test]
fn tampered_client_finish_is_refused() {
    let mut rng = ChaCha20Rng::from_seed([8; 32]);
    let pki = pki(&mut rng);
    let client_static = KeyPair::generate(&mut rng);
    let (c, hello) = client(&client_static, &mut rng);
    let (s, server_hello) = server(&pki, &mut rng).read_client_hello(&hello).unwrap();
    let (c, _) = c
        .read_server_hello(&server_hello, pki.root.public_key(), NOW)
        .unwrap();
    let (finish, _) = c.write_client_finish(b"payload").unwrap();
    let mut msg = HandshakeMessage::decode(&finish[..]).unwrap();
    msg.client_finish
        .as_mut()
        .unwrap()
        .payload
        .as_mut()
        .unwrap()[0] ^= 1;
    assert_eq!(
        s.read_client_finish(&msg.encode_to_vec()).unwrap_err(),
        NoiseError::HandshakeDecrypt
    );
}

#[test]
fn debug_output_never_shows_private_keys() {
    let mut rng = ChaCha20Rng::from_seed([9; 32]);
    let pki = pki(&mut rng);
    let client_static = KeyPair::from_private_key([0xAB; 32]);
    let (c, hello) = ClientHandshake::start(
        client_static.clone(),
        KeyPair::from_private_key([0xCD; 32]),
        &PROLOGUE,
    );
    let (s, server_hello) = server(&pki, &mut rng).read_client_hello(&hello).unwrap();
    let (c, _) = c
        .read_server_hello(&server_hello, pki.root.public_key(), NOW)
        .unwrap();
    let shown = format!("{c:?} {s:?} {client_static:?}");
    assert!(
        !shown.contains("abab") && !shown.contains("cdcd"),
        "{shown}"
    );
    let server_private: String = pki
        .server_static
        .private_key()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(!shown.contains(&server_private));
    assert!(shown.contains("redacted"));
    let (_, t) = c.write_client_finish(b"").unwrap();
    assert_eq!(
        format!("{t:?}"),
        "NoiseTransport { write_counter: 0, read_counter: 0, keys: \"<redacted>\" }"
    );
}

#[test]
fn key_pair_derivation_matches_libsignal_vectors() {
    // libsignal rust/core/src/curve/curve25519.rs `test_agreement`: fixed private
    // keys and their public keys.
    use noise_support::h32;
    let alice = KeyPair::from_private_key(h32(
        "c806439dc9d2c476ffed8f2580c0888d58ab406bf7ae3698879021b96bb4bf59",
    ));
    assert_eq!(
        alice.public_key(),
        &h32("1bb75966f2e93a3691dfff942bb2a466a1c08b8d78ca3f4d6df8b8bfa2e4ee28")
    );
    let bob = KeyPair::from_private_key(h32(
        "b03b34c33a1c44f225b662d2bf4859b8135411fa7b0386d45fb75dc5b91b4466",
    ));
    assert_eq!(
        bob.public_key(),
        &h32("653614993d2b15ee9e5fd3d86ce719ef4ec1daae1886a87b3f5fa9565a27a22f")
    );
}
