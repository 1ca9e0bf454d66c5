//! Node ⇄ transport frame, after the handshake: encode, encrypt, frame; and
//! decrypt, flags byte, inflate, decode (docs/protocol.md §2.5, §4.1).

use bytes::{Bytes, BytesMut};

use crate::binary::{self, Node};
use crate::frame::{LENGTH_PREFIX_LEN, MAX_PAYLOAD_LEN};
use crate::noise::{NoiseError, NoiseTransport, TAG_LEN};

use super::error::{CodecError, ConnectionError};

/// The transport-phase stanza pipeline over a [`NoiseTransport`], without
/// the state machine around it. [`Connection`](super::Connection) uses it, the
/// test server uses it, and a benchmark can drive it alone.
///
/// Writing appends a complete frame to a caller's buffer with no allocation
/// of its own: the 3-byte length, then `AES-GCM(0x00 ‖ node) ‖ tag` encrypted
/// in place. Reading takes one frame payload (as the
/// [`FrameDecoder`](crate::frame::FrameDecoder) yields it), decrypts it in
/// place when the buffer is not shared, and decodes the node; byte contents of
/// the node are zero-copy slices of that buffer.
///
/// ```
/// use wa_core::binary::Node;
/// use wa_core::connection::StanzaCodec;
/// # use wa_core::cert::{build_cert_chain, CertDetails};
/// # use wa_core::frame::{FrameDecoder, NOISE_PROLOGUE};
/// # use wa_core::noise::{ClientHandshake, KeyPair, ServerHandshake};
/// # use rand_chacha::ChaCha20Rng;
/// # use rand_core::SeedableRng;
/// # let mut rng = ChaCha20Rng::from_seed([7; 32]);
/// # let (root, inter_key, server_static) =
/// #     (KeyPair::generate(&mut rng), KeyPair::generate(&mut rng), KeyPair::generate(&mut rng));
/// # let inter = CertDetails { serial: 1, issuer_serial: 0, key: *inter_key.public_key(), not_before: 0, not_after: 9 };
/// # let leaf = CertDetails { serial: 2, issuer_serial: 1, key: *server_static.public_key(), not_before: 0, not_after: 9 };
/// # let chain = build_cert_chain(root.private_key(), &inter, inter_key.private_key(), &leaf, &mut rng);
/// # let server = ServerHandshake::start(server_static, KeyPair::generate(&mut rng), chain, &NOISE_PROLOGUE);
/// # let (client, hello) = ClientHandshake::start(KeyPair::generate(&mut rng), KeyPair::generate(&mut rng), &NOISE_PROLOGUE);
/// # let (server, server_hello) = server.read_client_hello(&hello)?;
/// # let (client, _) = client.read_server_hello(&server_hello, root.public_key(), 5)?;
/// # let (finish, client_transport) = client.write_client_finish(b"payload")?;
/// # let server_transport = server.read_client_finish(&finish)?.transport;
/// // `client_transport` / `server_transport`: the two ends of a finished handshake.
/// let mut client = StanzaCodec::new(client_transport);
/// let mut server = StanzaCodec::new(server_transport);
///
/// let mut wire = Vec::new();
/// client.write_node(&Node::new("presence").with_attr("type", "available"), &mut wire)?;
///
/// let mut decoder = FrameDecoder::new();
/// let mut nodes = Vec::new();
/// decoder.decode(&wire, |frame| nodes.push(server.read_frame(frame)))?;
/// assert_eq!(nodes.pop().unwrap()?.require_attr_str("type")?, "available");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct StanzaCodec {
    transport: NoiseTransport,
}

impl StanzaCodec {
    /// A codec over a transport cipher from a completed handshake.
    pub fn new(transport: NoiseTransport) -> StanzaCodec {
        StanzaCodec { transport }
    }

    /// The transport cipher (its counters).
    pub fn transport(&self) -> &NoiseTransport {
        &self.transport
    }

    /// The transport cipher, mutably (e.g. for
    /// [`NoiseTransport::set_counters_for_testing`]).
    pub fn transport_mut(&mut self) -> &mut NoiseTransport {
        &mut self.transport
    }

    /// Appends one frame carrying `node` to `out`: length prefix, then the
    /// encrypted `0x00 ‖ node` and its tag. On error `out` is left as it was
    /// and, unless the error is [`CodecError::Noise`] from an exhausted counter,
    /// the codec too.
    pub fn write_node(&mut self, node: &Node, out: &mut Vec<u8>) -> Result<(), CodecError> {
        let start = out.len();
        // Length prefix placeholder, then the flags byte (clients send 0x00).
        out.extend_from_slice(&[0, 0, 0, 0]);
        if let Err(e) = binary::encode_node(node, out) {
            out.truncate(start);
            return Err(e.into());
        }
        let body = start + LENGTH_PREFIX_LEN;
        let payload_len = out.len() - body + TAG_LEN;
        if payload_len > MAX_PAYLOAD_LEN {
            out.truncate(start);
            return Err(CodecError::TooLarge { len: payload_len });
        }
        out.reserve(TAG_LEN);
        if let Err(e) = self.transport.encrypt_in_place_from(out, body) {
            out.truncate(start);
            return Err(e.into());
        }
        let [_, _, _, _, _, a, b, c] = (payload_len as u64).to_be_bytes();
        out[start..body].copy_from_slice(&[a, b, c]);
        Ok(())
    }

    /// Decrypts one frame payload (`ciphertext ‖ tag`) and decodes its node.
    /// The buffer is decrypted in place when `frame` is its only owner, copied
    /// once otherwise.
    ///
    /// Errors: [`ConnectionError::NonceExhausted`] when the read counter is used
    /// up, [`ConnectionError::Decrypt`] when the frame does not authenticate,
    /// [`ConnectionError::Decode`] when the plaintext is not a node.
    pub fn read_frame(&mut self, frame: Bytes) -> Result<Node, ConnectionError> {
        let buf = frame
            .try_into_mut()
            .unwrap_or_else(|shared| BytesMut::from(&shared[..]));
        self.read_frame_mut(buf)
    }

    /// [`read_frame`](Self::read_frame) for a buffer the caller owns.
    pub fn read_frame_mut(&mut self, mut frame: BytesMut) -> Result<Node, ConnectionError> {
        self.transport
            .decrypt_in_place(&mut frame)
            .map_err(|error| match error {
                NoiseError::CounterExhausted => ConnectionError::NonceExhausted,
                other => ConnectionError::Decrypt(other),
            })?;
        Ok(binary::decode_frame(&frame.freeze())?)
    }
}
