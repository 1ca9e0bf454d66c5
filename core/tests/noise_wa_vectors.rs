//! Reproduces the captured WhatsApp handshake values in
//! `tests/data/noise_xx.json` → `wa_vectors` (a live transcript captured from
//! whatsmeow, published in whatsapp-rust's tests), both step by step with the
//! generic [`SymmetricState`] and through the client handshake states.
//! The chaining-key values (`salt_after_mix_*`) are checked by unit tests inside
//! `noise/symmetric.rs`, since the chaining key is not public.

mod noise_support;

use noise_support::*;
use prost::Message;
use sha2::{Digest, Sha256};
use wa_core::cert::WA_ROOT_PUBLIC_KEY;
use wa_core::noise::{
    ClientHandshake, KeyPair, NOISE_XX_PROTOCOL_NAME, NoiseError, SymmetricState,
};
use wa_core::proto::HandshakeMessage;
use wa_core::proto::handshake_message::ServerHello;

const PROLOGUE: [u8; 4] = [0x57, 0x41, 0x06, 0x03];

#[test]
fn protocol_name_and_prologue_match_the_vector() {
    let wa = &vectors()["wa_vectors"];
    assert_eq!(
        NOISE_XX_PROTOCOL_NAME.to_vec(),
        hex_field(wa, "pattern_name_hex")
    );
    assert_eq!(PROLOGUE.to_vec(), hex_field(wa, "prologue_hex"));
    assert_eq!(wa_core::frame::NOISE_PROLOGUE, PROLOGUE);
}

#[test]
fn h0_is_the_padded_name_not_its_hash() {
    // `test_initial_pattern_hash.expected_hash` is SHA-256 of the padded name: what
    // h₀ would be if the name were hashed. A 32-byte name is used as-is, and the
    // chaining key starts equal to it (`expected_salt`).
    let wa = &vectors()["wa_vectors"];
    let hashed = hex32(&wa["test_initial_pattern_hash"], "expected_hash");
    assert_eq!(
        <[u8; 32]>::from(Sha256::digest(NOISE_XX_PROTOCOL_NAME)),
        hashed
    );

    let state = SymmetricState::new(&NOISE_XX_PROTOCOL_NAME);
    assert_eq!(state.handshake_hash(), &NOISE_XX_PROTOCOL_NAME);
    assert_ne!(state.handshake_hash(), &hashed);
    let init = &wa["test_xx_h_after_init_matches_known_vector"];
    assert_eq!(state.handshake_hash(), &hex32(init, "expected_salt"));
    // The unpadded 28-byte name pads to the same h₀ (Noise §5.2).
    assert_eq!(
        SymmetricState::new(b"Noise_XX_25519_AESGCM_SHA256").handshake_hash(),
        &NOISE_XX_PROTOCOL_NAME
    );
}

#[test]
fn h_after_prologue() {
    let init = &vectors()["wa_vectors"]["test_xx_h_after_init_matches_known_vector"];
    let mut state = SymmetricState::new(&NOISE_XX_PROTOCOL_NAME);
    state.mix_hash(&PROLOGUE);
    assert_eq!(
        state.handshake_hash(),
        &hex32(init, "expected_h_after_init")
    );
    // docs/protocol.md §2.2 lists the same value.
    assert_eq!(
        state.handshake_hash(),
        &h32("ffff0c9267310966f1311170c04b38c79504285bf5edf763e5c946492a50a755")
    );
}

#[test]
fn full_flow_step_by_step_with_the_symmetric_state() {
    let v = wa_flow();
    let client_eph = KeyPair::from_private_key(hex32(&v, "client_eph_priv"));
    assert_eq!(client_eph.public_key(), &hex32(&v, "client_eph_pub"));
    let server_eph = hex32(&v, "server_eph_pub");

    let mut state = SymmetricState::new(&NOISE_XX_PROTOCOL_NAME);
    state.mix_hash(&PROLOGUE);
    assert_eq!(state.handshake_hash(), &hex32(&v, "hash_after_prologue"));

    state.mix_hash(client_eph.public_key());
    assert_eq!(
        state.handshake_hash(),
        &hex32(&v, "hash_after_auth_client_eph")
    );

    // §2.3a: no MixHash("") here.
    state.mix_hash(&server_eph);
    assert_eq!(
        state.handshake_hash(),
        &hex32(&v, "hash_after_auth_server_eph")
    );
    assert_eq!(
        state.handshake_hash(),
        &h32("9fd7bf2736e1e5b48b2759fd5806225ccb6822d557579d725459795cdd0885d3")
    );
    assert_eq!(state.handshake_hash(), &hex32(&v, "aad_for_decrypt_1"));

    state.mix_key(&x25519_dalek::x25519(
        hex32(&v, "client_eph_priv"),
        server_eph,
    ));
    let server_static = state
        .decrypt_and_hash(&hex_field(&v, "ciphertext_for_decrypt_1"))
        .expect("server static decrypts");
    assert_eq!(server_static, hex_field(&v, "plaintext_from_decrypt_1"));
    assert_eq!(state.handshake_hash(), &hex32(&v, "hash_after_decrypt_1"));
    assert_eq!(state.handshake_hash(), &hex32(&v, "aad_for_decrypt_2"));

    let server_static: [u8; 32] = server_static.try_into().unwrap();
    state.mix_key(&x25519_dalek::x25519(
        hex32(&v, "client_eph_priv"),
        server_static,
    ));
    let cert = state
        .decrypt_and_hash(&hex_field(&v, "ciphertext_for_decrypt_2"))
        .expect("cert chain decrypts");
    assert_eq!(cert, hex_field(&v, "plaintext_from_decrypt_2"));
    assert_eq!(cert.len(), 241);
    assert_eq!(state.handshake_hash(), &hex32(&v, "hash_after_decrypt_2"));
}

#[test]
fn standard_noise_would_diverge_after_message_1() {
    // With a standard MixHash("") after the ClientHello, h after the server
    // ephemeral is the value in the vector notes, not the captured one.
    let v = wa_flow();
    let mut state = SymmetricState::new(&NOISE_XX_PROTOCOL_NAME);
    state.mix_hash(&PROLOGUE);
    state.mix_hash(&hex32(&v, "client_eph_pub"));
    state.mix_hash(&[]);
    state.mix_hash(&hex32(&v, "server_eph_pub"));
    assert_eq!(
        state.handshake_hash(),
        &h32("abf5f086547858eba95d3c46d27faaf3f4c701f5fe1109754505eba101520707")
    );
    assert_ne!(
        state.handshake_hash(),
        &hex32(&v, "hash_after_auth_server_eph")
    );
}

#[test]
fn server_static_decryption_vector() {
    // wa_vectors.test_server_static_key_decryption_with_go_values: the AAD is h
    // after prologue, client ephemeral (derived from its private key) and server
    // ephemeral — one more confirmation of the §2.3a deviation.
    let t = &vectors()["wa_vectors"]["test_server_static_key_decryption_with_go_values"];
    let client_eph = KeyPair::from_private_key(hex32(t, "client_eph_priv"));
    let server_eph = hex32(t, "server_eph_pub");

    let mut state = SymmetricState::new(&hex_field(t, "salt_before_mix"));
    state.mix_hash(&PROLOGUE);
    state.mix_hash(client_eph.public_key());
    state.mix_hash(&server_eph);
    assert_eq!(state.handshake_hash(), &hex32(t, "aad_for_decrypt"));
    state.mix_key(&x25519_dalek::x25519(
        hex32(t, "client_eph_priv"),
        server_eph,
    ));
    let plain = state.decrypt_and_hash(&hex_field(t, "ciphertext")).unwrap();
    assert_eq!(plain, hex_field(t, "expected_plaintext"));
}

fn captured_server_hello() -> Vec<u8> {
    let v = wa_flow();
    HandshakeMessage {
        server_hello: Some(ServerHello {
            ephemeral: Some(hex_field(&v, "server_eph_pub")),
            r#static: Some(hex_field(&v, "ciphertext_for_decrypt_1")),
            payload: Some(hex_field(&v, "ciphertext_for_decrypt_2")),
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

fn start_captured_client() -> (wa_core::noise::ExpectServerHello, Vec<u8>) {
    let v = wa_flow();
    let ephemeral = KeyPair::from_private_key(hex32(&v, "client_eph_priv"));
    // The client static is not part of the captured values; any key will do up to
    // the ServerHello.
    ClientHandshake::start(KeyPair::from_private_key([9; 32]), ephemeral, &PROLOGUE)
}

#[test]
fn client_handshake_reproduces_the_transcript() {
    let v = wa_flow();
    let (client, client_hello) = start_captured_client();

    // The ClientHello is HandshakeMessage{clientHello{ephemeral}}: 12 22 0A 20 <e>.
    let mut expected = vec![0x12, 0x22, 0x0A, 0x20];
    expected.extend_from_slice(&hex_field(&v, "client_eph_pub"));
    assert_eq!(client_hello, expected);
    assert_eq!(
        client.handshake_hash(),
        &hex32(&v, "hash_after_auth_client_eph")
    );

    let (client, chain) = client
        .read_server_hello(&captured_server_hello(), &WA_ROOT_PUBLIC_KEY, INSIDE)
        .expect("the captured ServerHello is accepted with the real root");
    assert_eq!(client.handshake_hash(), &hex32(&v, "hash_after_decrypt_2"));
    assert_eq!(
        client.server_static(),
        &hex32(&v, "plaintext_from_decrypt_1")
    );
    assert_eq!(chain.leaf.key, hex32(&v, "plaintext_from_decrypt_1"));
    assert_eq!(chain.leaf.serial, 329);
    assert_eq!(chain.intermediate.serial, 3);

    // The ClientFinish can be written; its static part is 48 bytes and the payload
    // is the plaintext plus a tag.
    let (finish, transport) = client.write_client_finish(b"payload").unwrap();
    let finish = HandshakeMessage::decode(&finish[..])
        .unwrap()
        .client_finish
        .unwrap();
    assert_eq!(finish.r#static.unwrap().len(), 48);
    assert_eq!(finish.payload.unwrap().len(), 7 + 16);
    assert_eq!(
        (transport.write_counter(), transport.read_counter()),
        (0, 0)
    );
}

#[test]
fn captured_server_hello_is_refused_outside_the_validity_window() {
    for now in [LEAF_NOT_BEFORE - 1, LEAF_NOT_AFTER + 1] {
        let (client, _) = start_captured_client();
        let err = client
            .read_server_hello(&captured_server_hello(), &WA_ROOT_PUBLIC_KEY, now)
            .unwrap_err();
        assert!(matches!(err, NoiseError::Cert(_)), "{err:?}");
    }
}

#[test]
fn captured_server_hello_is_refused_with_another_root() {
    let (client, _) = start_captured_client();
    let other_root = *KeyPair::from_private_key([3; 32]).public_key();
    let err = client
        .read_server_hello(&captured_server_hello(), &other_root, INSIDE)
        .unwrap_err();
    assert!(matches!(err, NoiseError::Cert(_)), "{err:?}");
}

#[test]
fn captured_server_hello_with_another_client_ephemeral_fails_to_decrypt() {
    let (client, _) = ClientHandshake::start(
        KeyPair::from_private_key([9; 32]),
        KeyPair::from_private_key([8; 32]),
        &PROLOGUE,
    );
    let err = client
        .read_server_hello(&captured_server_hello(), &WA_ROOT_PUBLIC_KEY, INSIDE)
        .unwrap_err();
    assert_eq!(err, NoiseError::HandshakeDecrypt);
}

#[test]
fn ik_and_xxfallback_initial_hashes() {
    // docs/protocol.md §2.2: the IK name is padded like XX; the 36-byte XXfallback name
    // is longer than a hash, so h₀ = SHA-256(name).
    let mut ik = SymmetricState::new(b"Noise_IK_25519_AESGCM_SHA256\0\0\0\0");
    ik.mix_hash(&PROLOGUE);
    assert_eq!(
        ik.handshake_hash(),
        &h32("79eca0f8a583e558e3219b22fb5483c3f82f82ef2d5aa21bb1828021c3780501")
    );
    let name = b"Noise_XXfallback_25519_AESGCM_SHA256";
    assert_eq!(name.len(), 36);
    let mut fallback = SymmetricState::new(name);
    assert_eq!(
        fallback.handshake_hash(),
        &<[u8; 32]>::from(Sha256::digest(name))
    );
    assert_eq!(&fallback.handshake_hash()[..2], &[0x0a, 0xd4]);
    fallback.mix_hash(&PROLOGUE);
    assert_eq!(
        fallback.handshake_hash(),
        &h32("413766ac503c04676506bebddd691cfd5fe1087956a1150b2d235c16bd23512c")
    );
}
