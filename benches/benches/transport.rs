//! Transport, pipeline and handshake benchmarks (docs/performance.md; results in
//! `benches/RESULTS.md`, "Connection" section).
//!
//! - `transport_encrypt_frame_<size>`: one plaintext of 256 B / 1 KiB / 1500 B / 64 KiB
//!   turned into a wire frame (3-byte length ‖ AES-256-GCM ciphertext ‖ tag) in a reused
//!   output buffer. `wa`: [`FrameEncoder::begin_frame`] + plaintext copy +
//!   [`NoiseTransport::encrypt_in_place_from`]. Peers: `aes_gcm_raw` — aes-gcm 0.11
//!   `encrypt_in_place_detached` over a buffer of the same size, no copy, no framing (the
//!   limit; called as `AeadInOut::encrypt_inout_detached`, which the deprecated
//!   `encrypt_in_place_detached` of aead 0.6 forwards to unchanged); `aes_gcm_copy` — the same after copying the plaintext into the buffer and
//!   appending the tag (the least any framer that borrows its plaintext does);
//!   `wacore_noise` — wacore-noise 0.7's `append_frame_header_into` + in-place
//!   `NoiseCipher::encrypt_in_place_with_counter` behind the prefix (its inline send path).
//! - `pipeline_message`: the docs/performance.md message node → wire → node: encode, encrypt,
//!   frame ([`StanzaCodec::write_node`]), deframe ([`FrameDecoder::decode`]), decrypt,
//!   decode ([`StanzaCodec::read_frame`]). One stanza per iteration.
//! - `handshake`: `client_noise` — the client's XX work with certificate-chain
//!   verification (ephemeral key derivation, ClientHello, ServerHello + chain, ClientFinish)
//!   against a ServerHello recorded once (the client's keys are fixed, so the server's
//!   answer is the same every time and no server work is timed); `client_connection` — the
//!   same through `Connection` (ClientPayload building, framing, state machine) up to the
//!   queued ClientFinish; `server_noise` — the responder's side alone; `pair_noise` — both
//!   sides, as a cross-check (≈ client_noise + server_noise).
//! - `handshake_primitives`: one XEdDSA verification, one X25519 DH (x25519-dalek, the
//!   curve25519-dalek ladder wa-core uses too), one base-point multiplication — the parts
//!   the client's handshake cost is made of.
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::Nonce;
use aes_gcm::aead::{AeadInOut, KeyInit};
use bytes::Bytes;
use criterion::{BatchSize, Criterion};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use wa_benches::nodes::{fixtures, from_wa, to_wa};
use wa_benches::report::{Row, load, render};
use wa_core::cert::{CertDetails, build_cert_chain};
use wa_core::connection::{Connection, StanzaCodec};
use wa_core::frame::{FrameDecoder, FrameEncoder, NOISE_PROLOGUE};
use wa_core::noise::{ClientHandshake, KeyPair, NoiseTransport, ServerHandshake, TAG_LEN};
use wa_core::testing::{TEST_UNIX_TIME, TestServer, config_for, registered_device};
use wa_core::time::Instant;
use wacore_libsignal::crypto::GcmInPlaceBuffer;
use wacore_noise::NoiseCipher;

const SIZES: &[(usize, &str)] = &[(256, "256"), (1024, "1k"), (1500, "1500"), (65536, "64k")];

/// The keys and chain of one deterministic handshake.
struct Setup {
    root: KeyPair,
    server_static: KeyPair,
    server_ephemeral: [u8; 32],
    chain: Vec<u8>,
    client_static: [u8; 32],
    client_ephemeral: [u8; 32],
    payload: Vec<u8>,
}

fn setup() -> Setup {
    let mut rng = ChaCha20Rng::from_seed([7; 32]);
    let root = KeyPair::generate(&mut rng);
    let inter_key = KeyPair::generate(&mut rng);
    let server_static = KeyPair::generate(&mut rng);
    let t = TEST_UNIX_TIME;
    let inter = CertDetails {
        serial: 1,
        issuer_serial: 0,
        key: *inter_key.public_key(),
        not_before: t - 86_400,
        not_after: t + 86_400,
    };
    let leaf = CertDetails {
        serial: 2,
        issuer_serial: 1,
        key: *server_static.public_key(),
        not_before: t - 86_400,
        not_after: t + 86_400,
    };
    let chain = build_cert_chain(
        root.private_key(),
        &inter,
        inter_key.private_key(),
        &leaf,
        &mut rng,
    );
    let key = |rng: &mut ChaCha20Rng| *KeyPair::generate(rng).private_key();
    Setup {
        server_ephemeral: key(&mut rng),
        client_static: key(&mut rng),
        client_ephemeral: key(&mut rng),
        root,
        server_static,
        chain,
        // About the size of a login ClientPayload.
        payload: vec![0x5a; 200],
    }
}

impl Setup {
    fn server(&self) -> wa_core::noise::ExpectClientHello {
        ServerHandshake::start(
            self.server_static.clone(),
            KeyPair::from_private_key(self.server_ephemeral),
            self.chain.clone(),
            &NOISE_PROLOGUE,
        )
    }

    /// Runs the client side against `server_hello`; returns the ClientFinish and the
    /// client's transport.
    fn client(&self, server_hello: &[u8]) -> (Vec<u8>, NoiseTransport) {
        let (client, _hello) = ClientHandshake::start(
            KeyPair::from_private_key(self.client_static),
            KeyPair::from_private_key(self.client_ephemeral),
            &NOISE_PROLOGUE,
        );
        let (client, _chain) = client
            .read_server_hello(server_hello, self.root.public_key(), TEST_UNIX_TIME)
            .expect("valid server hello");
        client
            .write_client_finish(&self.payload)
            .expect("client finish")
    }

    /// The whole handshake once: (ClientHello, ServerHello, ClientFinish, client
    /// transport, server transport).
    fn run(&self) -> (Vec<u8>, Vec<u8>, Vec<u8>, NoiseTransport, NoiseTransport) {
        let (_, hello) = ClientHandshake::start(
            KeyPair::from_private_key(self.client_static),
            KeyPair::from_private_key(self.client_ephemeral),
            &NOISE_PROLOGUE,
        );
        let (server, server_hello) = self.server().read_client_hello(&hello).unwrap();
        let (finish, client_transport) = self.client(&server_hello);
        let server_transport = server.read_client_finish(&finish).unwrap().transport;
        (
            hello,
            server_hello,
            finish,
            client_transport,
            server_transport,
        )
    }
}

/// A `GcmInPlaceBuffer` over the tail of a Vec (everything from `base`), so that
/// wacore-noise can encrypt a frame body in place right behind its length prefix.
struct Tail<'a> {
    out: &'a mut Vec<u8>,
    base: usize,
}

impl GcmInPlaceBuffer for Tail<'_> {
    fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.out[self.base..]
    }
    fn as_slice(&self) -> &[u8] {
        &self.out[self.base..]
    }
    fn resize(&mut self, new_len: usize, value: u8) {
        self.out.resize(self.base + new_len, value);
    }
    fn truncate(&mut self, len: usize) {
        self.out.truncate(self.base + len);
    }
}

fn nonce(counter: u32) -> Nonce<Aes256Gcm> {
    let mut n = [0u8; 12];
    n[8..].copy_from_slice(&counter.to_be_bytes());
    n.into()
}

fn transport(c: &mut Criterion) {
    let s = setup();
    // The same key for the peers (any 32 bytes do: the cost does not depend on the key).
    let key = [0x42u8; 32];
    let raw = Aes256Gcm::new(&key.into());
    let peer = NoiseCipher::new(&key).expect("key");

    let mut rng = fastrand::Rng::with_seed(5);
    for &(size, name) in SIZES {
        let plaintext: Vec<u8> = (0..size).map(|_| rng.u8(..)).collect();
        let mut group = c.benchmark_group(format!("transport_encrypt_frame_{name}"));
        let (_, _, _, mut ours, mut ours_reader) = s.run();

        // Ours: prefix, plaintext, encrypt in place behind the prefix, tag.
        let mut encoder = FrameEncoder::new();
        let mut out = Vec::with_capacity(size + 64);
        encoder.begin_frame(0, &mut out).unwrap(); // the intro goes out once, before
        out.clear();
        // Check once that the frame is right: it decrypts to the plaintext.
        encoder.begin_frame(size + TAG_LEN, &mut out).unwrap();
        out.extend_from_slice(&plaintext);
        ours.encrypt_in_place_from(&mut out, 3).unwrap();
        assert_eq!(out.len(), 3 + size + TAG_LEN);
        assert_eq!(ours_reader.decrypt(&out[3..]).unwrap(), plaintext);
        group.bench_function("wa", |b| {
            b.iter(|| {
                out.clear();
                encoder.begin_frame(size + TAG_LEN, &mut out).unwrap();
                out.extend_from_slice(black_box(&plaintext));
                ours.encrypt_in_place_from(&mut out, 3).unwrap();
                black_box(&out);
            })
        });

        let mut counter = 0u32;
        let mut buf = plaintext.clone();
        group.bench_function("aes_gcm_raw", |b| {
            b.iter(|| {
                counter = counter.wrapping_add(1);
                let tag = raw
                    .encrypt_inout_detached(&nonce(counter), &[], black_box(&mut buf[..]).into())
                    .unwrap();
                black_box(tag);
            })
        });

        let mut buf = Vec::with_capacity(size + TAG_LEN);
        group.bench_function("aes_gcm_copy", |b| {
            b.iter(|| {
                counter = counter.wrapping_add(1);
                buf.clear();
                buf.extend_from_slice(black_box(&plaintext));
                let tag = raw
                    .encrypt_inout_detached(&nonce(counter), &[], (&mut buf[..]).into())
                    .unwrap();
                buf.extend_from_slice(&tag);
                black_box(&buf);
            })
        });

        let mut out = Vec::with_capacity(size + 64);
        group.bench_function("wacore_noise", |b| {
            b.iter(|| {
                counter = counter.wrapping_add(1);
                out.clear();
                wacore_noise::framing::append_frame_header_into(size + TAG_LEN, None, &mut out)
                    .unwrap();
                let base = out.len();
                out.extend_from_slice(black_box(&plaintext));
                peer.encrypt_in_place_with_counter(
                    counter,
                    &mut Tail {
                        out: &mut out,
                        base,
                    },
                )
                .unwrap();
                black_box(&out);
            })
        });
        group.finish();
    }
}

fn pipeline(c: &mut Criterion) {
    let s = setup();
    let (_, _, _, client, server) = s.run();
    let mut writer = StanzaCodec::new(client);
    let mut reader = StanzaCodec::new(server);
    let fixture = fixtures(1)
        .into_iter()
        .find(|f| f.name == "message")
        .unwrap();
    let node = to_wa(&fixture.spec);
    let mut decoder = FrameDecoder::new();
    let mut wire = Vec::with_capacity(512);

    // Once, checked: the node comes back equal.
    writer.write_node(&node, &mut wire).unwrap();
    let mut back = None;
    decoder
        .decode(&wire, |frame| back = Some(reader.read_frame(frame)))
        .unwrap();
    assert_eq!(from_wa(&back.unwrap().unwrap()), fixture.spec);
    println!("pipeline_message: {} bytes on the wire", wire.len());

    let mut group = c.benchmark_group("pipeline_message");
    group.bench_function("wa", |b| {
        b.iter(|| {
            wire.clear();
            writer.write_node(black_box(&node), &mut wire).unwrap();
            let mut out = None;
            decoder
                .decode(&wire, |frame| out = Some(reader.read_frame(frame)))
                .unwrap();
            black_box(out.unwrap().unwrap());
        })
    });
    group.finish();
}

fn handshake(c: &mut Criterion) {
    let s = setup();
    let (hello, server_hello, finish, _, _) = s.run();
    let mut group = c.benchmark_group("handshake");

    group.bench_function("client_noise", |b| {
        b.iter(|| black_box(s.client(black_box(&server_hello))))
    });

    // Through Connection: record the server's first transmit for this client once.
    let test_server = TestServer::new([3; 32]);
    let config = config_for(&test_server, [4; 32]);
    let device = registered_device(1);
    let mut recorder = test_server;
    let mut conn = Connection::new(config.clone(), &device, Instant::ZERO).unwrap();
    let client_hello = conn.poll_transmit().unwrap();
    recorder.handle_input(&client_hello);
    let server_first: Bytes = recorder.poll_transmit().expect("server hello");
    conn.handle_input(Instant::ZERO, &server_first);
    let client_finish = conn.poll_transmit().expect("client finish");
    recorder.handle_input(&client_finish);
    assert!(
        recorder.is_established() && recorder.error().is_none(),
        "the recorded handshake completes"
    );
    assert!(conn.disconnect_reason().is_none());
    group.bench_function("client_connection", |b| {
        b.iter_batched(
            || config.clone(),
            |config| {
                let mut conn = Connection::new(config, &device, Instant::ZERO).unwrap();
                black_box(conn.poll_transmit());
                conn.handle_input(Instant::ZERO, black_box(&server_first));
                let finish = conn.poll_transmit().unwrap();
                debug_assert!(conn.disconnect_reason().is_none());
                black_box(finish);
                conn
            },
            BatchSize::SmallInput,
        )
    });

    group.bench_function("server_noise", |b| {
        b.iter_batched(
            || (s.server_static.clone(), s.chain.clone()),
            |(server_static, chain)| {
                let server = ServerHandshake::start(
                    server_static,
                    KeyPair::from_private_key(s.server_ephemeral),
                    chain,
                    &NOISE_PROLOGUE,
                );
                let (server, _) = server.read_client_hello(black_box(&hello)).unwrap();
                black_box(server.read_client_finish(black_box(&finish)).unwrap());
            },
            BatchSize::SmallInput,
        )
    });

    group.bench_function("pair_noise", |b| b.iter(|| black_box(s.run())));
    group.finish();

    // The primitives the client's side is made of, to see where its time goes: 3 X25519
    // DH (ee, es, se), 2 XEdDSA verifications (intermediate, leaf), 2 base-point
    // multiplications (ephemeral key; static public key recomputed from the private).
    let mut group = c.benchmark_group("handshake_primitives");
    let signature: [u8; 64] =
        wa_core::xeddsa::sign(s.root.private_key(), b"certificate details", &[9; 64]);
    wa_core::xeddsa::verify(s.root.public_key(), b"certificate details", &signature).unwrap();
    group.bench_function("xeddsa_verify", |b| {
        b.iter(|| {
            wa_core::xeddsa::verify(
                black_box(s.root.public_key()),
                b"certificate details",
                black_box(&signature),
            )
        })
    });
    group.bench_function("x25519_dh", |b| {
        b.iter(|| {
            x25519_dalek::x25519(
                black_box(s.client_ephemeral),
                black_box(*s.server_static.public_key()),
            )
        })
    });
    group.bench_function("x25519_base", |b| {
        b.iter(|| KeyPair::from_private_key(black_box(s.client_ephemeral)))
    });
    group.finish();
}

fn main() {
    // Modest defaults (shared 2-core machine); command-line flags still override them.
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    transport(&mut c);
    pipeline(&mut c);
    handshake(&mut c);
    c.final_summary();
    // The RESULTS.md table, from criterion's files (this run's medians).
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| PathBuf::from("target"), PathBuf::from)
        .join("criterion");
    match load(&dir) {
        Ok(estimates) => println!("\n{}", render(TRANSPORT_ROWS, &estimates)),
        Err(e) => eprintln!("no table: {e}"),
    }
}

const fn row(
    label: &'static str,
    group: &'static str,
    peers: &'static [&'static str],
    budget: Option<f64>,
) -> Row {
    Row {
        label,
        group,
        ours: "wa",
        peers,
        budget,
    }
}

/// Ratio = peer time ÷ our time = our throughput ÷ the peer's.
#[rustfmt::skip]
const TRANSPORT_ROWS: &[Row] = &[
    row("encrypt + frame 1 KiB vs raw aes-gcm (in place, no copy)", "transport_encrypt_frame_1k", &["aes_gcm_raw"], Some(0.9)),
    row("encrypt + frame 1 KiB vs aes-gcm after a copy in (reference)", "transport_encrypt_frame_1k", &["aes_gcm_copy"], None),
    row("encrypt + frame 1 KiB vs wacore-noise 0.7", "transport_encrypt_frame_1k", &["wacore_noise"], None),
    row("encrypt + frame 256 B vs raw aes-gcm", "transport_encrypt_frame_256", &["aes_gcm_raw"], None),
    row("encrypt + frame 256 B vs aes-gcm after a copy in", "transport_encrypt_frame_256", &["aes_gcm_copy"], None),
    row("encrypt + frame 256 B vs wacore-noise 0.7", "transport_encrypt_frame_256", &["wacore_noise"], None),
    row("encrypt + frame 1500 B vs raw aes-gcm", "transport_encrypt_frame_1500", &["aes_gcm_raw"], None),
    row("encrypt + frame 1500 B vs aes-gcm after a copy in", "transport_encrypt_frame_1500", &["aes_gcm_copy"], None),
    row("encrypt + frame 1500 B vs wacore-noise 0.7", "transport_encrypt_frame_1500", &["wacore_noise"], None),
    row("encrypt + frame 64 KiB vs raw aes-gcm", "transport_encrypt_frame_64k", &["aes_gcm_raw"], None),
    row("encrypt + frame 64 KiB vs aes-gcm after a copy in", "transport_encrypt_frame_64k", &["aes_gcm_copy"], None),
    row("encrypt + frame 64 KiB vs wacore-noise 0.7", "transport_encrypt_frame_64k", &["wacore_noise"], None),
];
