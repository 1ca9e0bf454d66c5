//! The binary node codec (WAP), JIDs and token dictionaries (docs/protocol.md §4).
//!
//! A decrypted frame is one flags byte and a node; `flags & 0x02` means the node is a
//! zlib stream ([`unpack`], [`decode_frame`]). A node is a list of its tag, its
//! attributes and optional content, with strings compressed through two token
//! dictionaries ([`token`]) and two 4-bit packings.
//!
//! ```
//! use bytes::Bytes;
//! use wa_core::binary::{decode_frame, marshal, Jid, Node, Server};
//!
//! let ping = Node::new("iq")
//!     .with_attr("id", "12.34-5")
//!     .with_attr("xmlns", "w:p")
//!     .with_attr("type", "get")
//!     .with_attr("to", Jid::server_jid(Server::Pn));
//! let plaintext = marshal(&ping).unwrap();
//! assert_eq!(plaintext, [0x00, 0xF8, 0x09, 0x19, 0x08, 0xFF, 0x84, 0x12, 0xB3, 0x4A, 0x5F,
//!                        0x16, 0x57, 0x04, 0x29, 0x11, 0xFA, 0x00, 0x03]);
//! let back = decode_frame(&Bytes::from(plaintext)).unwrap();
//! assert_eq!(back, ping);
//! assert_eq!(back.to_string(),
//!            r#"<iq id="12.34-5" xmlns="w:p" type="get" to="s.whatsapp.net"/>"#);
//! ```
//!
//! Where the reference implementations disagree (docs/protocol.md §8 rows 13–16), the
//! choices and their reasons are documented on the [`encoder`] and [`decoder`]
//! modules. In short: only values typed as [`Jid`] are written as JIDs; AD_JID only for
//! devices above 0 on the four AD servers; FB_JID / INTEROP_JID (with their server)
//! only when a device or integrator needs them; unknown AD domain bytes are rejected
//! except the even bit-7 values WA Web reads as `hosted`.
//!
//! Speed: strings are [`Str`] — a token index or an inline/shared small string — so
//! decoding tokens allocates nothing and building a node resolves its tokens once;
//! attributes are a small `Vec`; binary content is a zero-copy [`bytes::Bytes`] slice;
//! the encoder writes into a caller's `Vec<u8>`.

pub mod decoder;
mod display;
pub mod encoder;
mod jid;
mod json;
mod node;
mod str;
pub mod token;

pub use decoder::{
    DecodeError, FLAG_COMPRESSED, MAX_INFLATED_LEN, decode_frame, decode_node, unpack,
};
pub use display::{MAX_SHOWN_BYTES, MAX_SHOWN_CHARS};
pub use encoder::{EncodeError, MAX_DEPTH, PACKED_MAX, encode_node, marshal};
pub use jid::{Jid, JidError, STATUS_BROADCAST_USER, Server};
pub use node::{Attr, Attrs, Content, Node, NodeError, Value};
pub use str::Str;
pub use token::Token;
