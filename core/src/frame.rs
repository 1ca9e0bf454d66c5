//! The frame codec: 3-byte big-endian length-prefixed frames, the `WA 06 03`
//! connection header and the optional edge-routing pre-intro (docs/protocol.md §1.2–1.4).
//!
//! # Wire format
//!
//! Every frame is a 3-byte big-endian payload length followed by the payload.
//! The client prepends the connection intro to its **first** frame only (the
//! ClientHello); the server never sends one:
//!
//! ```text
//! first client frame:  [45 44 00 01 | LL LL LL | routing_info]  57 41 06 03 | LL LL LL | payload
//!                       ^ optional edge-routing pre-intro ^      ^ header ^
//! every later frame:   LL LL LL | payload
//! ```
//!
//! A payload is at most [`MAX_PAYLOAD_LEN`] (`0xFFFFFF`) bytes: [`FRAME_MAX_SIZE`]
//! (16 MiB) and above are refused by the sender, and a 3-byte length cannot say more.
//!
//! # Encoding
//!
//! [`FrameEncoder`] appends frames to any [`BufMut`] (`Vec<u8>`, `BytesMut`), so
//! several frames can leave in one transport write. [`FrameEncoder::begin_frame`]
//! writes only the prefix, for callers that produce the payload (e.g. ciphertext)
//! straight into the output buffer.
//!
//! # Decoding and its memory bound
//!
//! [`FrameDecoder`] takes the byte stream split anywhere (one byte at a time, many
//! frames per chunk) and hands every complete frame to a callback as it finds it.
//! Because frames are delivered while the input is consumed, the decoder itself
//! never holds more than **one incomplete frame**: at most 3 header bytes (kept
//! inline) plus one payload buffer of at most the configured limit, allocated once,
//! exactly, and only after the length has been checked against that limit. Frames
//! that lie wholly inside an input chunk are never copied into that buffer:
//! [`FrameDecoder::decode_bytes`] hands them out as zero-copy slices of the chunk
//! ([`FrameDecoder::decode`] copies each one once, since it borrows its input).
//!
//! ```
//! use wa_core::frame::{FrameDecoder, FrameEncoder, CONN_HEADER};
//!
//! let mut encoder = FrameEncoder::new();
//! let mut wire = Vec::new();
//! encoder.encode(b"hello", &mut wire)?;
//! encoder.encode(b"world", &mut wire)?;
//! assert_eq!(&wire[..4], &CONN_HEADER); // the header rides on the first frame only
//!
//! // The server side never sees a header; skip it like a server would.
//! let mut decoder = FrameDecoder::new();
//! let mut frames = Vec::new();
//! for chunk in wire[4..].chunks(2) {
//!     decoder.decode(chunk, |frame| frames.push(frame))?;
//! }
//! assert_eq!(frames, [&b"hello"[..], &b"world"[..]]);
//! assert_eq!(decoder.buffered_len(), 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::ops::Range;

use bytes::{BufMut, Bytes, BytesMut};

/// The 4-byte connection header `57 41 06 03`: ASCII "WA", magic value 6, token
/// dictionary version 3 (docs/protocol.md §1.2).
pub const CONN_HEADER: [u8; 4] = [b'W', b'A', 6, 3];

/// The Noise prologue: the 4-byte [`CONN_HEADER`] only. The edge-routing pre-intro,
/// although sent before the header, is **not** part of it (docs/protocol.md §1.2).
pub const NOISE_PROLOGUE: [u8; 4] = CONN_HEADER;

/// The magic that opens the optional edge-routing pre-intro: ASCII "ED", then
/// bytes 0 and 1 (docs/protocol.md §1.3).
pub const EDGE_ROUTING_MAGIC: [u8; 4] = [b'E', b'D', 0, 1];

/// The largest routing-info blob a pre-intro can carry (its length is 3 bytes).
pub const MAX_EDGE_ROUTING_LEN: usize = 0xFF_FFFF;

/// `FRAME_MAX_SIZE = 1 << 24` (docs/protocol.md §1.4). A payload of this size or more
/// is refused.
pub const FRAME_MAX_SIZE: usize = 1 << 24;

/// The largest payload a frame can carry: `FRAME_MAX_SIZE - 1 = 0xFFFFFF`, which
/// is also the largest value a 3-byte length can express.
pub const MAX_PAYLOAD_LEN: usize = FRAME_MAX_SIZE - 1;

/// Size of the big-endian length prefix in front of every payload.
pub const LENGTH_PREFIX_LEN: usize = 3;

/// A caller asked the [`FrameEncoder`] for something the wire format cannot carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameEncodeError {
    /// The payload is 16 MiB ([`FRAME_MAX_SIZE`]) or larger.
    #[error("frame payload too large: {len} bytes (max {MAX_PAYLOAD_LEN})")]
    PayloadTooLarge {
        /// The refused payload length.
        len: usize,
    },
    /// The edge-routing info does not fit a 3-byte length.
    #[error("edge routing info too large: {len} bytes (max {MAX_EDGE_ROUTING_LEN})")]
    RoutingInfoTooLarge {
        /// The refused routing-info length.
        len: usize,
    },
    /// The output buffer cannot grow to hold the frame (a fixed-size `BufMut`).
    #[error("output buffer too small: need {needed} bytes, {remaining} left")]
    BufferTooSmall {
        /// Bytes the frame needs.
        needed: usize,
        /// Bytes the buffer can still take.
        remaining: usize,
    },
}

/// The peer sent a byte stream that is not a valid frame sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameDecodeError {
    /// A frame announced a payload longer than the decoder's limit.
    #[error("frame too large: {len} bytes (limit {max})")]
    FrameTooLarge {
        /// The announced payload length.
        len: usize,
        /// The decoder's configured limit.
        max: usize,
    },
}

/// Writes frames: the length prefix on every frame, and the connection intro
/// (optional pre-intro, then [`CONN_HEADER`]) in front of the first one.
///
/// Every method that fails writes nothing and leaves the encoder as it was, so a
/// refused first frame still gets the header when the caller retries.
#[derive(Clone)]
pub struct FrameEncoder {
    /// `[pre-intro] CONN_HEADER`, written before the first frame.
    intro: Vec<u8>,
    intro_sent: bool,
}

impl FrameEncoder {
    /// An encoder whose first frame carries the bare [`CONN_HEADER`].
    pub fn new() -> Self {
        Self {
            intro: CONN_HEADER.to_vec(),
            intro_sent: false,
        }
    }

    /// An encoder whose first frame carries the edge-routing pre-intro
    /// (`45 44 00 01`, 3-byte length, `routing_info`) and then [`CONN_HEADER`]
    /// (docs/protocol.md §1.3). An empty `routing_info` gives a pre-intro of length 0;
    /// use [`FrameEncoder::new`] when there is no routing info.
    ///
    /// Routing info longer than [`MAX_EDGE_ROUTING_LEN`] is refused with
    /// [`FrameEncodeError::RoutingInfoTooLarge`]. (WhatsApp-Rust silently falls back to
    /// the bare header instead; a typed error leaves that choice to the caller, who
    /// can log it and use [`FrameEncoder::new`], rather than hiding a bad stored
    /// value.)
    pub fn with_edge_routing(routing_info: &[u8]) -> Result<Self, FrameEncodeError> {
        let len = routing_info.len();
        if len > MAX_EDGE_ROUTING_LEN {
            return Err(FrameEncodeError::RoutingInfoTooLarge { len });
        }
        let mut intro = Vec::with_capacity(
            EDGE_ROUTING_MAGIC.len() + LENGTH_PREFIX_LEN + len + CONN_HEADER.len(),
        );
        intro.extend_from_slice(&EDGE_ROUTING_MAGIC);
        intro.extend_from_slice(&u24_be(len));
        intro.extend_from_slice(routing_info);
        intro.extend_from_slice(&CONN_HEADER);
        Ok(Self {
            intro,
            intro_sent: false,
        })
    }

    /// The bytes written in front of the first frame: the optional pre-intro, then
    /// [`CONN_HEADER`]. Still available after they were sent. For the Noise
    /// prologue use [`NOISE_PROLOGUE`], not this.
    pub fn intro(&self) -> &[u8] {
        &self.intro
    }

    /// True once a frame (and so the intro) has been written.
    pub fn intro_sent(&self) -> bool {
        self.intro_sent
    }

    /// How many bytes the next frame with a `payload_len`-byte payload takes on the
    /// wire, intro included if it is still due.
    pub fn encoded_len(&self, payload_len: usize) -> usize {
        let intro = if self.intro_sent { 0 } else { self.intro.len() };
        intro + LENGTH_PREFIX_LEN + payload_len
    }

    /// Appends one frame carrying `payload` to `out` (preceded by the intro if this
    /// is the first frame). To grow a `Vec` once, reserve
    /// [`encoded_len`](Self::encoded_len) bytes first.
    pub fn encode<B: BufMut>(
        &mut self,
        payload: &[u8],
        out: &mut B,
    ) -> Result<(), FrameEncodeError> {
        self.check(payload.len(), self.encoded_len(payload.len()), out)?;
        self.put_prefix(payload.len(), out);
        out.put_slice(payload);
        Ok(())
    }

    /// Appends the intro (if due) and the length prefix of a frame whose
    /// `payload_len` bytes the caller appends to `out` right after, for example by
    /// encrypting in place. Appending any other number of bytes corrupts the stream.
    pub fn begin_frame<B: BufMut>(
        &mut self,
        payload_len: usize,
        out: &mut B,
    ) -> Result<(), FrameEncodeError> {
        let needed = self.encoded_len(payload_len) - payload_len;
        self.check(payload_len, needed, out)?;
        self.put_prefix(payload_len, out);
        Ok(())
    }

    fn check<B: BufMut>(
        &self,
        payload_len: usize,
        needed: usize,
        out: &B,
    ) -> Result<(), FrameEncodeError> {
        if payload_len > MAX_PAYLOAD_LEN {
            return Err(FrameEncodeError::PayloadTooLarge { len: payload_len });
        }
        let remaining = out.remaining_mut();
        if remaining < needed {
            return Err(FrameEncodeError::BufferTooSmall { needed, remaining });
        }
        Ok(())
    }

    /// Writes the intro (first frame only) and the prefix; the caller has checked
    /// the length and the room.
    fn put_prefix<B: BufMut>(&mut self, payload_len: usize, out: &mut B) {
        if !self.intro_sent {
            out.put_slice(&self.intro);
            self.intro_sent = true;
        }
        out.put_slice(&u24_be(payload_len));
    }
}

impl Default for FrameEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for FrameEncoder {
    // The routing info is an opaque server token; print its size, not its bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameEncoder")
            .field("intro_len", &self.intro.len())
            .field("intro_sent", &self.intro_sent)
            .finish()
    }
}

/// Reassembles frames from a byte stream split anywhere.
///
/// Feed each received chunk to [`decode`](Self::decode) or
/// [`decode_bytes`](Self::decode_bytes); every frame completed by the chunk is
/// passed to the callback, in order, before the call returns. The decoder keeps
/// only the incomplete tail: at most 3 header bytes plus one payload buffer of at
/// most [`max_frame_len`](Self::max_frame_len) bytes (see the [module docs](self)).
///
/// A length above the limit is rejected before anything is allocated. After an
/// error the decoder is poisoned: every later call returns the same error and
/// yields nothing.
pub struct FrameDecoder {
    max_frame_len: usize,
    state: State,
    /// The partial payload while `state` is `Payload`; empty (capacity 0) otherwise.
    payload: BytesMut,
    error: Option<FrameDecodeError>,
}

#[derive(Debug, Clone, Copy)]
enum State {
    /// Reading the length prefix; `got` of its 3 bytes are in `buf`.
    Header {
        buf: [u8; LENGTH_PREFIX_LEN],
        got: usize,
    },
    /// Reading a payload of `len` bytes into `FrameDecoder::payload`.
    Payload { len: usize },
}

const FRAME_START: State = State::Header {
    buf: [0; LENGTH_PREFIX_LEN],
    got: 0,
};

impl FrameDecoder {
    /// A decoder accepting payloads up to [`MAX_PAYLOAD_LEN`].
    pub fn new() -> Self {
        Self::with_max_frame_len(MAX_PAYLOAD_LEN)
    }

    /// A decoder accepting payloads up to `max_frame_len` bytes (clamped to
    /// [`MAX_PAYLOAD_LEN`]); a longer one is a [`FrameDecodeError::FrameTooLarge`].
    pub fn with_max_frame_len(max_frame_len: usize) -> Self {
        Self {
            max_frame_len: max_frame_len.min(MAX_PAYLOAD_LEN),
            state: FRAME_START,
            payload: BytesMut::new(),
            error: None,
        }
    }

    /// The largest payload this decoder accepts.
    pub fn max_frame_len(&self) -> usize {
        self.max_frame_len
    }

    /// Bytes of the incomplete frame held so far (length-prefix bytes included).
    /// Zero means the stream so far ended exactly on a frame boundary.
    pub fn buffered_len(&self) -> usize {
        match self.state {
            State::Header { got, .. } => got,
            State::Payload { .. } => LENGTH_PREFIX_LEN + self.payload.len(),
        }
    }

    /// Capacity of the payload buffer: 0 between frames, the announced length
    /// (never above [`max_frame_len`](Self::max_frame_len)) while a frame that
    /// spans chunks is being assembled.
    pub fn buffer_capacity(&self) -> usize {
        self.payload.capacity()
    }

    /// The error that poisoned this decoder, if any.
    pub fn error(&self) -> Option<FrameDecodeError> {
        self.error
    }

    /// Consumes `data` and calls `on_frame` with every frame it completes, in
    /// order. Frames wholly inside `data` are copied once into their own `Bytes`;
    /// use [`decode_bytes`](Self::decode_bytes) to avoid that copy.
    ///
    /// On error, frames before the bad length have already been delivered, the
    /// rest of `data` is dropped and the decoder is poisoned.
    pub fn decode<F>(&mut self, data: &[u8], on_frame: F) -> Result<(), FrameDecodeError>
    where
        F: FnMut(Bytes),
    {
        self.run(data, |range| Bytes::copy_from_slice(&data[range]), on_frame)
    }

    /// Like [`decode`](Self::decode), but frames wholly inside `data` are
    /// zero-copy slices of it (they keep the chunk's allocation alive).
    pub fn decode_bytes<F>(&mut self, data: Bytes, on_frame: F) -> Result<(), FrameDecodeError>
    where
        F: FnMut(Bytes),
    {
        self.run(&data, |range| data.slice(range), on_frame)
    }

    fn run<W, F>(&mut self, data: &[u8], whole: W, mut on_frame: F) -> Result<(), FrameDecodeError>
    where
        W: Fn(Range<usize>) -> Bytes,
        F: FnMut(Bytes),
    {
        if let Some(error) = self.error {
            return Err(error);
        }
        let mut pos = 0;
        while pos < data.len() {
            let rest = &data[pos..];
            match &mut self.state {
                State::Header { buf, got } => {
                    let take = (LENGTH_PREFIX_LEN - *got).min(rest.len());
                    buf[*got..*got + take].copy_from_slice(&rest[..take]);
                    *got += take;
                    pos += take;
                    if *got < LENGTH_PREFIX_LEN {
                        break;
                    }
                    let len =
                        usize::from(buf[0]) << 16 | usize::from(buf[1]) << 8 | usize::from(buf[2]);
                    if len > self.max_frame_len {
                        let error = FrameDecodeError::FrameTooLarge {
                            len,
                            max: self.max_frame_len,
                        };
                        self.error = Some(error);
                        self.state = FRAME_START;
                        return Err(error);
                    }
                    let available = data.len() - pos;
                    if len <= available {
                        // The whole payload is in this chunk: no buffering.
                        self.state = FRAME_START;
                        on_frame(if len == 0 {
                            Bytes::new()
                        } else {
                            whole(pos..pos + len)
                        });
                        pos += len;
                    } else {
                        // The length is within the limit: allocate it exactly, once.
                        self.payload = BytesMut::with_capacity(len);
                        self.payload.extend_from_slice(&data[pos..]);
                        self.state = State::Payload { len };
                        pos = data.len();
                    }
                }
                State::Payload { len } => {
                    let take = (*len - self.payload.len()).min(rest.len());
                    self.payload.extend_from_slice(&rest[..take]);
                    pos += take;
                    if self.payload.len() == *len {
                        self.state = FRAME_START;
                        on_frame(std::mem::take(&mut self.payload).freeze());
                    }
                }
            }
        }
        Ok(())
    }
}

impl fmt::Debug for FrameDecoder {
    // A partial payload can be megabytes of ciphertext: print sizes, not bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameDecoder")
            .field("max_frame_len", &self.max_frame_len)
            .field("buffered_len", &self.buffered_len())
            .field("buffer_capacity", &self.buffer_capacity())
            .field("error", &self.error)
            .finish()
    }
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

/// `len` as a 3-byte big-endian integer; the caller has checked `len <= 0xFFFFFF`.
fn u24_be(len: usize) -> [u8; LENGTH_PREFIX_LEN] {
    let [_, _, _, _, _, a, b, c] = (len as u64).to_be_bytes();
    [a, b, c]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u24_is_big_endian() {
        assert_eq!(u24_be(0), [0, 0, 0]);
        assert_eq!(u24_be(0x24), [0, 0, 0x24]);
        assert_eq!(u24_be(0x01_02_03), [1, 2, 3]);
        assert_eq!(u24_be(MAX_PAYLOAD_LEN), [0xFF, 0xFF, 0xFF]);
    }

    #[test]
    fn constants_match_protocol() {
        assert_eq!(&CONN_HEADER, b"WA\x06\x03");
        assert_eq!(&EDGE_ROUTING_MAGIC, b"ED\x00\x01");
        assert_eq!(NOISE_PROLOGUE, CONN_HEADER);
        assert_eq!(FRAME_MAX_SIZE, 16_777_216);
        assert_eq!(MAX_PAYLOAD_LEN, 0xFF_FFFF);
        assert_eq!(MAX_EDGE_ROUTING_LEN, 0xFF_FFFF);
    }

    #[test]
    fn header_state_survives_split_prefix() {
        let mut decoder = FrameDecoder::new();
        let mut frames = Vec::new();
        decoder.decode(&[0, 0], |f| frames.push(f)).unwrap();
        assert_eq!(decoder.buffered_len(), 2);
        assert_eq!(decoder.buffer_capacity(), 0);
        decoder.decode(&[2, b'a'], |f| frames.push(f)).unwrap();
        assert_eq!(decoder.buffered_len(), 4);
        assert_eq!(decoder.buffer_capacity(), 2);
        decoder.decode(b"b", |f| frames.push(f)).unwrap();
        assert_eq!(frames, [&b"ab"[..]]);
        assert_eq!(decoder.buffered_len(), 0);
        assert_eq!(decoder.buffer_capacity(), 0);
    }

    #[test]
    fn frame_inside_bytes_chunk_is_zero_copy() {
        let chunk = Bytes::from_static(b"\x00\x00\x03abc");
        let mut decoder = FrameDecoder::new();
        let mut frames = Vec::new();
        decoder
            .decode_bytes(chunk.clone(), |f| frames.push(f))
            .unwrap();
        assert_eq!(frames.len(), 1);
        // Same memory as the input chunk: a slice, not a copy.
        assert_eq!(frames[0].as_ptr(), chunk[3..].as_ptr());
    }

    #[test]
    fn debug_hides_routing_info() {
        let encoder = FrameEncoder::with_edge_routing(b"secret-routing").unwrap();
        let shown = format!("{encoder:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("intro_len: 25"), "{shown}");
    }
}
