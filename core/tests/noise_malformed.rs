//! Malformed peer input never panics: every truncation and single-byte mutation
//! of a real ServerHello (and of a ClientFinish, on the server side) gives a typed
//! error, checked under `catch_unwind`; random bytes do the same at every entry
//! point that takes peer data.

mod noise_support;

use std::panic::{AssertUnwindSafe, catch_unwind};

use noise_support::*;
use proptest::prelude::*;
use prost::Message;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use wa_core::cert::{CertDetails, WA_ROOT_PUBLIC_KEY, build_cert_chain, verify_server_cert_chain};
use wa_core::noise::xx::{Message1, Message2, Message3};
use wa_core::noise::{ClientHandshake, ExpectClientFinish, KeyPair, NoiseError, ServerHandshake};
use wa_core::proto::HandshakeMessage;
use wa_core::proto::handshake_message::ServerHello;

const PROLOGUE: [u8; 4] = wa_core::frame::NOISE_PROLOGUE;

/// The ServerHello of the captured WhatsApp transcript, as the server sent it.
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

/// Feeds `message` to a fresh client state of the captured transcript, under
/// `catch_unwind`. A panic fails the test; the handshake result is returned.
fn client_reads(message: &[u8]) -> Result<(), NoiseError> {
    let eph = KeyPair::from_private_key(hex32(&wa_flow(), "client_eph_priv"));
    catch_unwind(AssertUnwindSafe(|| {
        let (client, _) =
            ClientHandshake::start(KeyPair::from_private_key([9; 32]), eph, &PROLOGUE);
        client
            .read_server_hello(message, &WA_ROOT_PUBLIC_KEY, INSIDE)
            .map(|_| ())
    }))
    .unwrap_or_else(|_| panic!("panicked on a {}-byte ServerHello", message.len()))
}

/// Positions of the bytes that are protobuf framing (tags and lengths) rather
/// than field contents.
fn framing_positions(message: &[u8]) -> Vec<usize> {
    let v = wa_flow();
    let mut content = vec![false; message.len()];
    for field in [
        "server_eph_pub",
        "ciphertext_for_decrypt_1",
        "ciphertext_for_decrypt_2",
    ] {
        let bytes = hex_field(&v, field);
        let at = message
            .windows(bytes.len())
            .position(|w| w == &bytes[..])
            .unwrap();
        content[at..at + bytes.len()]
            .iter_mut()
            .for_each(|c| *c = true);
    }
    (0..message.len()).filter(|&i| !content[i]).collect()
}

#[test]
fn the_unaltered_captured_server_hello_is_accepted() {
    // Otherwise the sweeps below would prove nothing.
    assert_eq!(client_reads(&captured_server_hello()), Ok(()));
}

#[test]
fn every_truncation_of_the_server_hello_is_a_typed_error() {
    let message = captured_server_hello();
    for len in 0..message.len() {
        let result = client_reads(&message[..len]);
        assert!(result.is_err(), "truncation to {len} accepted");
    }
}

#[test]
fn every_single_byte_mutation_of_the_server_hello_is_a_typed_error() {
    let message = captured_server_hello();
    let framing = framing_positions(&message);
    // 3 fields + the outer field: each with a tag and a length.
    assert!(framing.len() >= 8, "{framing:?}");
    let mut tried = 0;
    for pos in 0..message.len() {
        // Framing bytes get every other value; content bytes (under the AEAD or
        // fed to DH, where any change has the same kind of effect) get every
        // single-bit flip plus 0x00 and 0xFF.
        let replacements: Vec<u8> = if framing.contains(&pos) {
            (0..=255).collect()
        } else {
            let b = message[pos];
            (0..8)
                .map(|bit| b ^ (1 << bit))
                .chain([0x00, 0xFF])
                .collect()
        };
        for value in replacements {
            if value == message[pos] {
                continue;
            }
            let mut bad = message.clone();
            bad[pos] = value;
            let result = client_reads(&bad);
            assert!(result.is_err(), "byte {pos} = {value:#04x} accepted");
            tried += 1;
        }
    }
    assert!(tried > message.len() * 8, "{tried}");
}

#[test]
fn mutation_errors_name_their_cause() {
    let message = captured_server_hello();
    let v = wa_flow();
    let static_ct = hex_field(&v, "ciphertext_for_decrypt_1");
    let at = message
        .windows(static_ct.len())
        .position(|w| w == &static_ct[..])
        .unwrap();
    let mut bad = message.clone();
    bad[at + 5] ^= 1;
    assert_eq!(client_reads(&bad), Err(NoiseError::HandshakeDecrypt));
    assert!(matches!(
        client_reads(&message[..message.len() - 1]),
        Err(NoiseError::Malformed(_))
    ));
    assert!(matches!(
        client_reads(&[]),
        Err(NoiseError::UnexpectedMessage { .. })
    ));
}

/// A deterministic test server (test-root chain) and the root that signed it.
fn test_server(seed: u8) -> (wa_core::noise::ExpectClientHello, KeyPair) {
    let mut rng = ChaCha20Rng::from_seed([seed; 32]);
    let root = KeyPair::generate(&mut rng);
    let inter = KeyPair::generate(&mut rng);
    let server_static = KeyPair::generate(&mut rng);
    let d = |serial, issuer_serial, key: &KeyPair| CertDetails {
        serial,
        issuer_serial,
        key: *key.public_key(),
        not_before: 0,
        not_after: 100,
    };
    let chain = build_cert_chain(
        root.private_key(),
        &d(1, 0, &inter),
        inter.private_key(),
        &d(2, 1, &server_static),
        &mut rng,
    );
    let server =
        ServerHandshake::start(server_static, KeyPair::generate(&mut rng), chain, &PROLOGUE);
    (server, root)
}

/// A real ClientHello and the ClientFinish a client sent after the server's
/// answer. Replaying the same ClientHello to `test_server(seed)` recreates the
/// exact server state that expects this ClientFinish (everything is seeded), so
/// a sweep pays for the client's certificate check only once.
fn client_messages(seed: u8) -> (Vec<u8>, Vec<u8>) {
    let (server, root) = test_server(seed);
    let mut rng = ChaCha20Rng::from_seed([seed ^ 0xFF; 32]);
    let (client, hello) = ClientHandshake::start(
        KeyPair::generate(&mut rng),
        KeyPair::generate(&mut rng),
        &PROLOGUE,
    );
    let (_, server_hello) = server.read_client_hello(&hello).unwrap();
    let (client, _) = client
        .read_server_hello(&server_hello, root.public_key(), 50)
        .unwrap();
    let (finish, _) = client.write_client_finish(b"a client payload").unwrap();
    (hello, finish)
}

fn server_expecting_finish(seed: u8, hello: &[u8]) -> ExpectClientFinish {
    test_server(seed).0.read_client_hello(hello).unwrap().0
}

#[test]
fn every_truncation_and_byte_mutation_of_a_client_finish_is_a_typed_error() {
    let (hello, finish) = client_messages(1);
    let server_reads = |message: &[u8]| {
        let server = server_expecting_finish(1, &hello);
        catch_unwind(AssertUnwindSafe(|| {
            server.read_client_finish(message).map(|_| ())
        }))
        .unwrap_or_else(|_| panic!("server panicked"))
    };
    assert_eq!(server_reads(&finish), Ok(()));
    for len in 0..finish.len() {
        assert!(server_reads(&finish[..len]).is_err(), "truncation to {len}");
    }
    for pos in 0..finish.len() {
        for value in [finish[pos] ^ 0x01, finish[pos] ^ 0x80, 0x00, 0xFF] {
            if value == finish[pos] {
                continue;
            }
            let mut bad = finish.clone();
            bad[pos] = value;
            assert!(server_reads(&bad).is_err(), "byte {pos} = {value:#04x}");
        }
    }
}

fn no_panic<T>(f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).expect("no panic on peer input")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn random_server_hellos_are_refused(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        prop_assert!(client_reads(&data).is_err());
    }

    #[test]
    fn random_client_hellos_never_panic(data in proptest::collection::vec(any::<u8>(), 0..80)) {
        // Any 32 bytes are a valid ephemeral, so some random input could be
        // accepted; the point is that none panics.
        no_panic(|| {
            let server = ServerHandshake::start(
                KeyPair::from_private_key([1; 32]),
                KeyPair::from_private_key([2; 32]),
                vec![0; 10],
                &PROLOGUE,
            );
            let _ = server.read_client_hello(&data);
        });
    }

    #[test]
    fn random_client_finishes_are_refused(data in proptest::collection::vec(any::<u8>(), 0..120)) {
        static HELLO: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        let hello = HELLO.get_or_init(|| client_messages(2).0);
        let server = server_expecting_finish(2, hello);
        prop_assert!(no_panic(|| server.read_client_finish(&data)).is_err());
    }

    #[test]
    fn random_cert_chains_are_refused(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let result = no_panic(|| verify_server_cert_chain(&data, &[1; 32], &WA_ROOT_PUBLIC_KEY, INSIDE));
        prop_assert!(result.is_err());
    }

    #[test]
    fn random_standard_messages_parse_or_fail_cleanly(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        no_panic(|| {
            let _ = Message1::parse(&data);
            let _ = Message2::parse(&data);
            let _ = Message3::parse(&data);
        });
    }
}
