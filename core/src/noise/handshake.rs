//! The WhatsApp XX handshake: protobuf-framed messages on top of [`super::xx`],
//! with the server certificate chain checked before the client says anything
//! about itself (docs/protocol.md §2.3, §2.6, §3.1).

use prost::Message as _;

use super::xx::{self, HandshakeOutput};
use super::{KeyPair, NOISE_XX_PROTOCOL_NAME, NoiseError};
use crate::cert::{self, VerifiedChain};
use crate::proto::HandshakeMessage;
use crate::proto::handshake_message::{ClientFinish, ClientHello, ServerHello};

use super::transport::NoiseTransport;

fn required<'a>(field: &'a Option<Vec<u8>>, name: &'static str) -> Result<&'a [u8], NoiseError> {
    field.as_deref().ok_or(NoiseError::MissingField(name))
}

fn forbidden(field: &Option<Vec<u8>>, name: &'static str) -> Result<(), NoiseError> {
    match field {
        Some(_) => Err(NoiseError::UnexpectedField(name)),
        None => Ok(()),
    }
}

// ------------------------------------------------------------------- client

/// Entry point of the client (initiator) side of the WhatsApp XX handshake.
///
/// ```text
/// ClientHandshake::start ──ClientHello──▶ ExpectServerHello
///   ::read_server_hello (decrypts rs and the cert chain, verifies the chain)
///   ──▶ SendClientFinish ::write_client_finish ──ClientFinish──▶ NoiseTransport
/// ```
///
/// The messages are serialized [`HandshakeMessage`]s without framing; the frame
/// codec ([`crate::frame`]) adds the length prefix (and the `WA 06 03` header on
/// the ClientHello).
///
/// ```
/// use wa_core::cert::{build_cert_chain, CertDetails};
/// use wa_core::frame::NOISE_PROLOGUE;
/// use wa_core::noise::{ClientHandshake, KeyPair, ServerHandshake};
/// use rand_chacha::ChaCha20Rng;
/// use rand_core::SeedableRng;
///
/// let mut rng = ChaCha20Rng::from_seed([7; 32]);
/// // A test server whose chain is signed by a test root, valid for [0, 2000).
/// let root = KeyPair::generate(&mut rng);
/// let intermediate = KeyPair::generate(&mut rng);
/// let server_static = KeyPair::generate(&mut rng);
/// let inter = CertDetails { serial: 1, issuer_serial: 0, key: *intermediate.public_key(), not_before: 0, not_after: 2000 };
/// let leaf = CertDetails { serial: 2, issuer_serial: 1, key: *server_static.public_key(), not_before: 0, not_after: 2000 };
/// let chain = build_cert_chain(root.private_key(), &inter, intermediate.private_key(), &leaf, &mut rng);
/// let server = ServerHandshake::start(server_static, KeyPair::generate(&mut rng), chain, &NOISE_PROLOGUE);
///
/// let client_static = KeyPair::generate(&mut rng);
/// let (client, client_hello) =
///     ClientHandshake::start(client_static.clone(), KeyPair::generate(&mut rng), &NOISE_PROLOGUE);
/// let (server, server_hello) = server.read_client_hello(&client_hello)?;
/// let (client, _chain) = client.read_server_hello(&server_hello, root.public_key(), 1000)?;
/// let (client_finish, mut client_transport) = client.write_client_finish(b"client payload")?;
/// let finished = server.read_client_finish(&client_finish)?;
/// assert_eq!(&finished.client_static, client_static.public_key());
/// assert_eq!(finished.client_payload, b"client payload");
///
/// let mut server_transport = finished.transport;
/// let frame = client_transport.encrypt(b"<iq/>")?;
/// assert_eq!(server_transport.decrypt(&frame)?, b"<iq/>");
/// # Ok::<(), wa_core::noise::NoiseError>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct ClientHandshake;

impl ClientHandshake {
    /// Starts a handshake with the client's persisted static key (the "noise
    /// key"), a fresh ephemeral key and the prologue
    /// ([`crate::frame::NOISE_PROLOGUE`], `57 41 06 03`).
    ///
    /// Returns the state expecting the ServerHello and the serialized
    /// `HandshakeMessage{clientHello{ephemeral}}`. Following docs/protocol.md §2.3a, only
    /// `e.pub` is mixed into the handshake hash: no `MixHash` of an empty payload.
    pub fn start(
        static_key: KeyPair,
        ephemeral: KeyPair,
        prologue: &[u8],
    ) -> (ExpectServerHello, Vec<u8>) {
        let initiator =
            xx::Initiator::new(&NOISE_XX_PROTOCOL_NAME, prologue, static_key, ephemeral);
        let (next, ephemeral_pub) = initiator.write_message_1_without_payload();
        let message = HandshakeMessage {
            client_hello: Some(ClientHello {
                ephemeral: Some(ephemeral_pub.to_vec()),
                ..Default::default()
            }),
            ..Default::default()
        };
        (ExpectServerHello { inner: next }, message.encode_to_vec())
    }
}

/// The client has sent its ClientHello and expects the ServerHello.
#[derive(Debug)]
pub struct ExpectServerHello {
    inner: xx::ExpectMessage2,
}

impl ExpectServerHello {
    /// The handshake hash so far.
    pub fn handshake_hash(&self) -> &[u8; 32] {
        self.inner.handshake_hash()
    }

    /// Reads a serialized `HandshakeMessage{serverHello}`: checks that `ephemeral`
    /// (32 bytes), `static` (48 bytes) and `payload` are present, decrypts the
    /// server static key `rs` and the certificate chain, and verifies the chain
    /// against `trusted_root` at `now_unix_secs` (all checks of
    /// [`cert::verify_server_cert_chain`], the leaf key bound to `rs`).
    ///
    /// `trusted_root` is normally [`cert::WA_ROOT_PUBLIC_KEY`]; a test server uses
    /// its own root. There is deliberately no way to skip the verification.
    pub fn read_server_hello(
        self,
        message: &[u8],
        trusted_root: &[u8; 32],
        now_unix_secs: u64,
    ) -> Result<(SendClientFinish, VerifiedChain), NoiseError> {
        let message = HandshakeMessage::decode(message)?;
        let hello = message.server_hello.ok_or(NoiseError::UnexpectedMessage {
            expected: "server hello",
        })?;
        self.read_server_hello_message(&hello, trusted_root, now_unix_secs)
    }

    /// [`read_server_hello`](Self::read_server_hello) for an already decoded
    /// ServerHello.
    pub fn read_server_hello_message(
        self,
        hello: &ServerHello,
        trusted_root: &[u8; 32],
        now_unix_secs: u64,
    ) -> Result<(SendClientFinish, VerifiedChain), NoiseError> {
        let ephemeral = required(&hello.ephemeral, "server hello ephemeral")?;
        let encrypted_static = required(&hello.r#static, "server hello static")?;
        let encrypted_payload = required(&hello.payload, "server hello payload")?;
        let (next, server_static, chain_bytes) =
            self.inner
                .read_message_2(ephemeral, encrypted_static, encrypted_payload)?;
        let chain = cert::verify_server_cert_chain(
            &chain_bytes,
            &server_static,
            trusted_root,
            now_unix_secs,
        )?;
        Ok((SendClientFinish { inner: next }, chain))
    }
}

/// The server is authenticated; the client's next and last step is to send
/// the ClientFinish, which carries its static key and its ClientPayload.
#[derive(Debug)]
pub struct SendClientFinish {
    inner: xx::SendMessage3,
}

impl SendClientFinish {
    /// The handshake hash so far.
    pub fn handshake_hash(&self) -> &[u8; 32] {
        self.inner.handshake_hash()
    }

    /// The server static key, which the verified leaf certificate carries.
    pub fn server_static(&self) -> &[u8; 32] {
        self.inner.remote_static()
    }

    /// Encrypts the client static key (nonce 1 of the `es` key, docs/protocol.md §2.3
    /// step 3.1), mixes `se`, encrypts the serialized
    /// [`ClientPayload`](crate::proto::ClientPayload) and splits.
    ///
    /// Returns the serialized `HandshakeMessage{clientFinish}` (sent in a frame
    /// without the header) and the transport cipher.
    pub fn write_client_finish(
        self,
        client_payload: &[u8],
    ) -> Result<(Vec<u8>, NoiseTransport), NoiseError> {
        let (message, output) = self.inner.write_message_3(client_payload)?;
        let finish = HandshakeMessage {
            client_finish: Some(ClientFinish {
                r#static: Some(message.encrypted_static),
                payload: Some(message.encrypted_payload),
            }),
            ..Default::default()
        };
        Ok((finish.encode_to_vec(), output.transport))
    }
}

// ------------------------------------------------------------------- server

/// Entry point of the server (responder) side, for test servers: it speaks the
/// same WhatsApp XX variant and serves a certificate chain given as bytes (see
/// [`cert::build_cert_chain`]).
///
/// ```text
/// ServerHandshake::start ──▶ ExpectClientHello ::read_client_hello ──ServerHello──▶
///   ExpectClientFinish ::read_client_finish ──▶ ClientFinished { client_static, client_payload, transport }
/// ```
///
/// The server does not support IK: a ClientHello carrying `static` or `payload`
/// is refused with [`NoiseError::UnexpectedField`].
#[derive(Debug)]
#[non_exhaustive]
pub struct ServerHandshake;

impl ServerHandshake {
    /// Starts the server side with its static key (the one the leaf certificate
    /// names), a fresh ephemeral key, the serialized
    /// [`CertChain`](crate::proto::CertChain) to send and the prologue.
    pub fn start(
        static_key: KeyPair,
        ephemeral: KeyPair,
        cert_chain: Vec<u8>,
        prologue: &[u8],
    ) -> ExpectClientHello {
        ExpectClientHello {
            inner: xx::Responder::new(&NOISE_XX_PROTOCOL_NAME, prologue, static_key, ephemeral),
            cert_chain,
        }
    }
}

/// The server waits for the ClientHello.
#[derive(Debug)]
pub struct ExpectClientHello {
    inner: xx::Responder,
    cert_chain: Vec<u8>,
}

impl ExpectClientHello {
    /// Reads a serialized `HandshakeMessage{clientHello}` and returns the next
    /// state with the serialized `HandshakeMessage{serverHello}` to send.
    pub fn read_client_hello(
        self,
        message: &[u8],
    ) -> Result<(ExpectClientFinish, Vec<u8>), NoiseError> {
        let message = HandshakeMessage::decode(message)?;
        let hello = message.client_hello.ok_or(NoiseError::UnexpectedMessage {
            expected: "client hello",
        })?;
        let ephemeral = required(&hello.ephemeral, "client hello ephemeral")?;
        forbidden(&hello.r#static, "client hello static")?;
        forbidden(&hello.payload, "client hello payload")?;
        let next = self.inner.read_message_1_without_payload(ephemeral)?;
        let (next, message) = next.write_message_2(&self.cert_chain)?;
        let hello = HandshakeMessage {
            server_hello: Some(ServerHello {
                ephemeral: Some(message.ephemeral.to_vec()),
                r#static: Some(message.encrypted_static),
                payload: Some(message.encrypted_payload),
            }),
            ..Default::default()
        };
        Ok((ExpectClientFinish { inner: next }, hello.encode_to_vec()))
    }
}

/// The server has sent its ServerHello and waits for the ClientFinish.
#[derive(Debug)]
pub struct ExpectClientFinish {
    inner: xx::ExpectMessage3,
}

/// What the server learns from a completed handshake.
#[derive(Debug)]
pub struct ClientFinished {
    /// The client's static public key (its "noise key").
    pub client_static: [u8; 32],
    /// The decrypted, still serialized [`ClientPayload`](crate::proto::ClientPayload).
    pub client_payload: Vec<u8>,
    /// The final handshake hash.
    pub handshake_hash: [u8; 32],
    /// The server's transport cipher.
    pub transport: NoiseTransport,
}

impl ExpectClientFinish {
    /// The handshake hash so far.
    pub fn handshake_hash(&self) -> &[u8; 32] {
        self.inner.handshake_hash()
    }

    /// Reads a serialized `HandshakeMessage{clientFinish}`, decrypts the client
    /// static key and the ClientPayload, and splits.
    pub fn read_client_finish(self, message: &[u8]) -> Result<ClientFinished, NoiseError> {
        let message = HandshakeMessage::decode(message)?;
        let finish = message.client_finish.ok_or(NoiseError::UnexpectedMessage {
            expected: "client finish",
        })?;
        let encrypted_static = required(&finish.r#static, "client finish static")?;
        let encrypted_payload = required(&finish.payload, "client finish payload")?;
        let (output, client_payload): (HandshakeOutput, _) = self
            .inner
            .read_message_3(encrypted_static, encrypted_payload)?;
        Ok(ClientFinished {
            client_static: output.remote_static,
            client_payload,
            handshake_hash: output.handshake_hash,
            transport: output.transport,
        })
    }
}
