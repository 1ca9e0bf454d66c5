//! Bytes → node (docs/protocol.md §4.1–§4.6).
//!
//! The decoder never panics and never trusts a length: every count and length is
//! checked against the bytes that are left before anything is allocated, nesting is
//! capped at [`MAX_DEPTH`], trailing bytes are an error, and inflation is capped at
//! [`MAX_INFLATED_LEN`]. Every failure is a [`DecodeError`] carrying the offset where
//! it was found.
//!
//! Binary content is a zero-copy [`Bytes`] slice of the input; tokens decode to
//! `&'static str` without allocating; other strings up to 23 bytes are stored inline.
//!
//! Choices where the reference implementations disagree (docs/protocol.md §8):
//! - **Unknown AD_JID domain byte (row 16)**: 0, 1, 128 and 129 as documented; any other
//!   even value with bit 7 set is `hosted` (whatsapp-rust, which mirrors WA Web's own
//!   reader); everything else is [`DecodeError::InvalidDomainType`]. whatsmeow and
//!   Baileys map unknown values to `s.whatsapp.net`, which could misaddress a reply.
//! - **JID_PAIR with an unknown server**: whatsapp-rust rejects the whole stanza; we
//!   keep the value as the string `user@server` (a [`Value::Str`]), so the stanza is
//!   still usable and [`Node::attr_jid`](super::Node::attr_jid) reports the bad
//!   attribute by name.
//! - **INTEROP_JID / FB_JID** must end with the server `interop` / `msgr` (every
//!   reader agrees).
//! - A JID inside a JID (e.g. a JID_PAIR whose user is a JID) is rejected rather than
//!   flattened, so a hostile input cannot recurse without bound.
//! - A NIBBLE_8 pad nibble (15) is accepted only as the last nibble of an odd-length
//!   value; whatsmeow and whatsapp-rust turn a stray 15 into a NUL character.
//! - The null value (byte 0) as an attribute value decodes as `""` (whatsapp-rust).

use bytes::Bytes;
use flate2::{Decompress, FlushDecompress, Status};
use smol_str::SmolStr;

use super::encoder::MAX_DEPTH;
use super::jid::{Jid, Server};
use super::node::{Attr, Attrs, Content, Node, Value};
use super::str::Str;
use super::token::{TokenId, tag};

/// The largest inflated frame accepted (docs/protocol.md §4.1).
pub const MAX_INFLATED_LEN: usize = 16 << 20;

/// The frame flags bit that says the rest of the frame is a zlib stream.
pub const FLAG_COMPRESSED: u8 = 0x02;

/// Why bytes are not a valid node (or frame plaintext).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended early.
    #[error("unexpected end of input at offset {offset}")]
    UnexpectedEof {
        /// Where more input was needed.
        offset: usize,
    },
    /// A count or length promises more than the bytes that are left.
    #[error("length {len} at offset {offset} exceeds the {left} bytes left")]
    LengthTooLarge {
        /// The offset of the count or length.
        offset: usize,
        /// The declared count or length.
        len: usize,
        /// Bytes left after it.
        left: usize,
    },
    /// Bytes follow the root node.
    #[error("{count} trailing bytes at offset {offset}")]
    TrailingBytes {
        /// Where the root node ended.
        offset: usize,
        /// How many bytes follow it.
        count: usize,
    },
    /// A tag byte that means nothing (240..=244).
    #[error("unknown tag byte {tag} at offset {offset}")]
    UnknownTag {
        /// The offset of the tag byte.
        offset: usize,
        /// The tag byte.
        tag: u8,
    },
    /// A valid tag byte in a place where it is not allowed (e.g. a list where a string
    /// is expected).
    #[error("tag byte {tag} at offset {offset} where {expected} was expected")]
    UnexpectedTag {
        /// The offset of the tag byte.
        offset: usize,
        /// The tag byte.
        tag: u8,
        /// What was expected there.
        expected: &'static str,
    },
    /// A node list of size 0.
    #[error("empty node at offset {offset}")]
    EmptyNode {
        /// The offset of the list.
        offset: usize,
    },
    /// A node whose tag is null or the empty string.
    #[error("empty tag at offset {offset}")]
    EmptyTag {
        /// The offset of the tag.
        offset: usize,
    },
    /// A packed string with an invalid nibble (12, 13, 14, or a misplaced pad).
    #[error("invalid nibble {value} at offset {offset}")]
    InvalidNibble {
        /// The offset of the byte holding it.
        offset: usize,
        /// The nibble.
        value: u8,
    },
    /// A packed string whose length byte is "odd" with no data.
    #[error("invalid packed length at offset {offset}")]
    InvalidPackedLength {
        /// The offset of the length byte.
        offset: usize,
    },
    /// A raw string (tag, key, value) that is not UTF-8.
    #[error("invalid utf-8 at offset {offset}")]
    InvalidUtf8 {
        /// The offset of the first invalid byte.
        offset: usize,
    },
    /// An AD_JID domain type that names no server.
    #[error("invalid jid domain type {value} at offset {offset}")]
    InvalidDomainType {
        /// The offset of the domain byte.
        offset: usize,
        /// The domain byte.
        value: u8,
    },
    /// An FB_JID or INTEROP_JID whose server is not `msgr` / `interop`.
    #[error("invalid jid server at offset {offset}, expected {expected}")]
    InvalidJidServer {
        /// The offset of the server string.
        offset: usize,
        /// The server that was required.
        expected: &'static str,
    },
    /// Nodes nest deeper than [`MAX_DEPTH`].
    #[error("nesting deeper than {MAX_DEPTH} at offset {offset}")]
    TooDeep {
        /// The offset of the list that would go too deep.
        offset: usize,
    },
    /// A frame plaintext with no flags byte.
    #[error("empty frame")]
    EmptyFrame,
    /// The zlib stream is corrupt.
    #[error("invalid zlib data at offset {offset}")]
    InvalidCompressed {
        /// Offset in the frame plaintext where inflation stopped.
        offset: usize,
    },
    /// The zlib stream ends early.
    #[error("truncated zlib data")]
    TruncatedCompressed,
    /// The zlib stream inflates beyond [`MAX_INFLATED_LEN`].
    #[error("inflated frame exceeds {limit} bytes")]
    InflatedTooLarge {
        /// The limit.
        limit: usize,
    },
    /// Bytes follow the end of the zlib stream.
    #[error("{count} trailing bytes after the zlib stream")]
    TrailingCompressed {
        /// How many.
        count: usize,
    },
}

impl DecodeError {
    /// The offset the error was found at, when it has one.
    pub fn offset(&self) -> Option<usize> {
        use DecodeError::*;
        match *self {
            UnexpectedEof { offset }
            | LengthTooLarge { offset, .. }
            | TrailingBytes { offset, .. }
            | UnknownTag { offset, .. }
            | UnexpectedTag { offset, .. }
            | EmptyNode { offset }
            | EmptyTag { offset }
            | InvalidNibble { offset, .. }
            | InvalidPackedLength { offset }
            | InvalidUtf8 { offset }
            | InvalidDomainType { offset, .. }
            | InvalidJidServer { offset, .. }
            | TooDeep { offset }
            | InvalidCompressed { offset } => Some(offset),
            EmptyFrame
            | TruncatedCompressed
            | InflatedTooLarge { .. }
            | TrailingCompressed { .. } => None,
        }
    }
}

type Result<T> = std::result::Result<T, DecodeError>;

/// Handles the frame flags byte (docs/protocol.md §4.1): returns the node bytes, inflating
/// them when `flags & 0x02` is set. Uncompressed frames are returned as a zero-copy
/// slice. Other flag bits are ignored, as every reference implementation does.
pub fn unpack(plaintext: &Bytes) -> Result<Bytes> {
    let Some(&flags) = plaintext.first() else {
        return Err(DecodeError::EmptyFrame);
    };
    if flags & FLAG_COMPRESSED != 0 {
        inflate_bounded(&plaintext[1..], MAX_INFLATED_LEN).map(Bytes::from)
    } else {
        Ok(plaintext.slice(1..))
    }
}

/// [`unpack`] then [`decode_node`]: a decrypted frame plaintext to a node.
pub fn decode_frame(plaintext: &Bytes) -> Result<Node> {
    decode_node(&unpack(plaintext)?)
}

/// Decodes exactly one node from `input` (no flags byte); trailing bytes are an error.
pub fn decode_node(input: &Bytes) -> Result<Node> {
    let mut d = Decoder {
        src: input,
        data: input,
        pos: 0,
        error: None,
    };
    let node = match d.read_node(1) {
        Ok(node) => node,
        Err(Fail) => return Err(d.take_error()),
    };
    if d.pos < d.data.len() {
        return Err(DecodeError::TrailingBytes {
            offset: d.pos,
            count: d.data.len() - d.pos,
        });
    }
    Ok(node)
}

/// Inflates a zlib stream, never holding more than `limit + 1` bytes of output: the
/// declared or apparent size is never trusted, and the output buffer grows by doubling
/// only while the stream keeps producing.
pub(crate) fn inflate_bounded(input: &[u8], limit: usize) -> Result<Vec<u8>> {
    let max_capacity = limit.saturating_add(1);
    let mut out = Vec::with_capacity(input.len().saturating_mul(4).clamp(64, max_capacity));
    let mut z = Decompress::new(true);
    loop {
        let consumed = z.total_in() as usize;
        let produced = z.total_out();
        let status = z
            .decompress_vec(&input[consumed..], &mut out, FlushDecompress::None)
            .map_err(|_| DecodeError::InvalidCompressed {
                offset: 1 + z.total_in() as usize,
            })?;
        if out.len() > limit {
            return Err(DecodeError::InflatedTooLarge { limit });
        }
        if status == Status::StreamEnd {
            break;
        }
        if out.len() == out.capacity() {
            // Full: grow (doubling), but never past limit + 1.
            let grow = out.capacity().min(max_capacity - out.capacity()).max(1);
            out.reserve_exact(grow);
            continue;
        }
        let progressed = z.total_in() as usize != consumed || z.total_out() != produced;
        if !progressed {
            // Room to write and nothing happened: the input is exhausted mid-stream.
            return Err(DecodeError::TruncatedCompressed);
        }
    }
    let consumed = z.total_in() as usize;
    if consumed < input.len() {
        return Err(DecodeError::TrailingCompressed {
            count: input.len() - consumed,
        });
    }
    Ok(out)
}

struct Decoder<'a> {
    src: &'a Bytes,
    data: &'a [u8],
    pos: usize,
    /// The error behind the first [`Fail`]; the hot paths pass only the zero-sized
    /// `Fail`, so their results stay small (a `Result<Str, Fail>` is a `Str`).
    error: Option<DecodeError>,
}

/// "Decoding failed; the error is in `Decoder::error`."
struct Fail;

type R<T> = std::result::Result<T, Fail>;

/// Upper-case hex digits for HEX_8.
const HEX_DIGITS: &[u8; 16] = b"0123456789ABCDEF";

/// NIBBLE_8 characters; 0 marks the invalid values 12, 13, 14 and the pad 15.
const NIBBLE_CHARS: &[u8; 16] = b"0123456789-.\0\0\0\0";

impl<'a> Decoder<'a> {
    #[inline]
    fn left(&self) -> usize {
        self.data.len() - self.pos
    }

    #[inline]
    fn u8(&mut self) -> R<u8> {
        match self.data.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Ok(b)
            }
            None => Err(self.fail(DecodeError::UnexpectedEof { offset: self.pos })),
        }
    }

    #[inline]
    fn take(&mut self, n: usize) -> R<&'a [u8]> {
        if n > self.left() {
            return Err(self.fail(DecodeError::UnexpectedEof {
                offset: self.data.len(),
            }));
        }
        let data: &'a [u8] = self.data;
        let s = &data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    #[inline]
    fn u16(&mut self) -> R<u16> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// A byte length for BINARY_8/20/32 (the tag byte already read), checked against
    /// the bytes left.
    #[inline]
    fn binary_len(&mut self, t: u8) -> R<usize> {
        let at = self.pos;
        let len = match t {
            tag::BINARY_8 => self.u8()? as usize,
            tag::BINARY_20 => {
                let b = self.take(3)?;
                (((b[0] & 0x0F) as usize) << 16) | ((b[1] as usize) << 8) | b[2] as usize
            }
            _ => {
                let b = self.take(4)?;
                u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
            }
        };
        if len > self.left() {
            return Err(self.fail(DecodeError::LengthTooLarge {
                offset: at,
                len,
                left: self.left(),
            }));
        }
        Ok(len)
    }

    /// A list count for LIST_8/16 (the tag byte already read).
    #[inline]
    fn list_len(&mut self, t: u8) -> R<usize> {
        Ok(if t == tag::LIST_8 {
            self.u8()? as usize
        } else {
            self.u16()? as usize
        })
    }

    fn read_node(&mut self, depth: usize) -> R<Node> {
        let at = self.pos;
        let t = self.u8()?;
        let size = match t {
            tag::LIST_8 | tag::LIST_16 => self.list_len(t)?,
            tag::LIST_EMPTY => 0,
            _ => return Err(self.unexpected(at, t, "a node list")),
        };
        if size == 0 {
            return Err(self.fail(DecodeError::EmptyNode { offset: at }));
        }

        let tag_at = self.pos;
        let tt = self.u8()?;
        if tt == tag::LIST_EMPTY {
            return Err(self.fail(DecodeError::EmptyTag { offset: tag_at }));
        }
        let node_tag = self.read_string(tt, tag_at)?;
        if node_tag.is_empty() {
            return Err(self.fail(DecodeError::EmptyTag { offset: tag_at }));
        }

        let n_attrs = (size - 1) / 2;
        // Each attribute takes at least two bytes: refuse before allocating.
        if n_attrs * 2 > self.left() {
            return Err(self.fail(DecodeError::LengthTooLarge {
                offset: at,
                len: size,
                left: self.left(),
            }));
        }
        let mut attrs = Vec::with_capacity(n_attrs);
        for _ in 0..n_attrs {
            let key_at = self.pos;
            let kt = self.u8()?;
            if kt == tag::LIST_EMPTY {
                return Err(self.unexpected(key_at, kt, "an attribute key"));
            }
            let key = self.read_string(kt, key_at)?;
            let value = self.read_value()?;
            attrs.push(Attr { key, value });
        }

        let content = if size % 2 == 0 {
            self.read_content(depth)?
        } else {
            Content::None
        };
        Ok(Node {
            tag: node_tag,
            attrs: Attrs(attrs),
            content,
        })
    }

    fn read_content(&mut self, depth: usize) -> R<Content> {
        let at = self.pos;
        let t = self.u8()?;
        Ok(match t {
            tag::LIST_EMPTY => Content::None,
            tag::LIST_8 | tag::LIST_16 => {
                let count = self.list_len(t)?;
                if depth >= MAX_DEPTH {
                    return Err(self.fail(DecodeError::TooDeep { offset: at }));
                }
                // Each child takes at least three bytes (list, size, tag).
                if count.saturating_mul(3) > self.left() {
                    return Err(self.fail(DecodeError::LengthTooLarge {
                        offset: at,
                        len: count,
                        left: self.left(),
                    }));
                }
                let mut children = Vec::with_capacity(count);
                for _ in 0..count {
                    children.push(self.read_node(depth + 1)?);
                }
                Content::Nodes(children)
            }
            tag::BINARY_8 | tag::BINARY_20 | tag::BINARY_32 => {
                let len = self.binary_len(t)?;
                let start = self.pos;
                self.pos += len;
                Content::Bytes(self.src.slice(start..start + len))
            }
            tag::JID_PAIR | tag::AD_JID | tag::FB_JID | tag::INTEROP_JID => {
                Content::Text(match self.read_jid(t)? {
                    Value::Str(s) => s,
                    Value::Jid(j) => Str::from(j.to_string()),
                })
            }
            _ => Content::Text(self.read_string(t, at)?),
        })
    }

    #[inline(always)]
    fn read_value(&mut self) -> R<Value> {
        let at = self.pos;
        let t = self.u8()?;
        match t {
            tag::LIST_EMPTY => Ok(Value::Str(Str::empty())),
            tag::JID_PAIR | tag::AD_JID | tag::FB_JID | tag::INTEROP_JID => self.read_jid(t),
            _ => self.read_string(t, at).map(Value::Str),
        }
    }

    /// A string in any non-JID form: a token, a packed value or raw UTF-8. Tokens,
    /// the common case, are decoded inline.
    #[inline(always)]
    fn read_string(&mut self, t: u8, at: usize) -> R<Str> {
        match t {
            1..=235 => Ok(Str::token_id(TokenId::single(t))),
            tag::DICTIONARY_0..=tag::DICTIONARY_3 => {
                let index = self.u8()?;
                Ok(Str::token_id(TokenId::double(t - tag::DICTIONARY_0, index)))
            }
            _ => self.read_non_token_string(t, at),
        }
    }

    #[inline(never)]
    fn read_non_token_string(&mut self, t: u8, at: usize) -> R<Str> {
        match t {
            tag::BINARY_8 | tag::BINARY_20 | tag::BINARY_32 => {
                let len = self.binary_len(t)?;
                let start = self.pos;
                let raw = self.take(len)?;
                match std::str::from_utf8(raw) {
                    Ok(s) => Ok(Str::decoded(SmolStr::new(s))),
                    Err(e) => Err(self.fail(DecodeError::InvalidUtf8 {
                        offset: start + e.valid_up_to(),
                    })),
                }
            }
            tag::NIBBLE_8 | tag::HEX_8 => self.read_packed(t),
            240..=244 => Err(self.fail(DecodeError::UnknownTag { offset: at, tag: t })),
            _ => Err(self.unexpected(at, t, "a string")),
        }
    }

    /// A string that must be present (not the null byte).
    fn read_required_string(&mut self) -> R<Str> {
        let at = self.pos;
        let t = self.u8()?;
        self.read_string(t, at)
    }

    fn read_packed(&mut self, t: u8) -> R<Str> {
        let len_at = self.pos;
        let len_byte = self.u8()?;
        let half = (len_byte & 0x7F) as usize;
        let odd = len_byte & 0x80 != 0;
        if half == 0 {
            return if odd {
                Err(self.fail(DecodeError::InvalidPackedLength { offset: len_at }))
            } else {
                Ok(Str::empty())
            };
        }
        let data_at = self.pos;
        let packed = self.take(half)?;
        let mut buf = [0u8; 2 * 127];
        let n = 2 * half - usize::from(odd);
        if t == tag::HEX_8 {
            for (i, &b) in packed.iter().enumerate() {
                buf[2 * i] = HEX_DIGITS[(b >> 4) as usize];
                buf[2 * i + 1] = HEX_DIGITS[(b & 0x0F) as usize];
            }
        } else {
            for (i, &b) in packed.iter().enumerate() {
                let (hi, lo) = (b >> 4, b & 0x0F);
                let c_hi = NIBBLE_CHARS[hi as usize];
                if c_hi == 0 {
                    return Err(self.fail(DecodeError::InvalidNibble {
                        offset: data_at + i,
                        value: hi,
                    }));
                }
                let c_lo = NIBBLE_CHARS[lo as usize];
                let is_pad = odd && i == half - 1;
                // The pad (15) is allowed only as the dropped last nibble of an odd value.
                if c_lo == 0 && !(is_pad && lo == 0x0F) {
                    return Err(self.fail(DecodeError::InvalidNibble {
                        offset: data_at + i,
                        value: lo,
                    }));
                }
                buf[2 * i] = c_hi;
                buf[2 * i + 1] = c_lo;
            }
        }
        // Only ASCII was written, so this cannot fail; no panic path either way.
        let s = std::str::from_utf8(&buf[..n])
            .map_err(|_| self.fail(DecodeError::InvalidPackedLength { offset: len_at }))?;
        Ok(Str::decoded(SmolStr::new(s)))
    }

    fn read_jid(&mut self, t: u8) -> R<Value> {
        match t {
            tag::JID_PAIR => {
                let user_at = self.pos;
                let ut = self.u8()?;
                let user = if ut == tag::LIST_EMPTY {
                    Str::empty()
                } else {
                    self.read_string(ut, user_at)?
                };
                let server = self.read_required_string()?;
                Ok(match Server::from_name(&server) {
                    Some(server) => Value::Jid(Jid::from_parts(user.into_smol(), server)),
                    // Unknown server: keep the text (see the module docs).
                    None if user.is_empty() => Value::Str(server),
                    None => Value::Str(Str::from(format!("{user}@{server}"))),
                })
            }
            tag::AD_JID => {
                let domain_at = self.pos;
                let domain = self.u8()?;
                let device = self.u8()?;
                let user = self.read_required_string()?;
                let server = match domain {
                    0 => Server::Pn,
                    1 => Server::Lid,
                    129 => Server::HostedLid,
                    d if d & 0x80 != 0 && d & 1 == 0 => Server::Hosted,
                    value => {
                        return Err(self.fail(DecodeError::InvalidDomainType {
                            offset: domain_at,
                            value,
                        }));
                    }
                };
                Ok(Value::Jid(
                    Jid::from_parts(user.into_smol(), server).with_device(device.into()),
                ))
            }
            tag::FB_JID => {
                let user = self.read_required_string()?;
                let device = self.u16()?;
                let server_at = self.pos;
                let server = self.read_required_string()?;
                if server != Server::Msgr.as_str() {
                    return Err(self.fail(DecodeError::InvalidJidServer {
                        offset: server_at,
                        expected: "msgr",
                    }));
                }
                Ok(Value::Jid(
                    Jid::from_parts(user.into_smol(), Server::Msgr).with_device(device),
                ))
            }
            _ => {
                debug_assert_eq!(t, tag::INTEROP_JID);
                let user = self.read_required_string()?;
                let device = self.u16()?;
                let integrator = self.u16()?;
                let server_at = self.pos;
                let server = self.read_required_string()?;
                if server != Server::Interop.as_str() {
                    return Err(self.fail(DecodeError::InvalidJidServer {
                        offset: server_at,
                        expected: "interop",
                    }));
                }
                Ok(Value::Jid(
                    Jid::from_parts(user.into_smol(), Server::Interop)
                        .with_device(device)
                        .with_integrator(integrator),
                ))
            }
        }
    }

    /// Records `e` and returns the marker the hot paths propagate.
    #[cold]
    #[inline(never)]
    fn fail(&mut self, e: DecodeError) -> Fail {
        self.error.get_or_insert(e);
        Fail
    }

    fn take_error(&mut self) -> DecodeError {
        // Every `Fail` is created by `fail`, which stores the error first.
        self.error
            .take()
            .unwrap_or(DecodeError::UnexpectedEof { offset: self.pos })
    }

    #[cold]
    fn unexpected(&mut self, offset: usize, tag: u8, expected: &'static str) -> Fail {
        let e = if (240..=244).contains(&tag) {
            DecodeError::UnknownTag { offset, tag }
        } else {
            DecodeError::UnexpectedTag {
                offset,
                tag,
                expected,
            }
        };
        self.fail(e)
    }
}
