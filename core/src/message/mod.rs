//! Messaging on top of [`crate::signal`]: the `Message` protobuf subset, the
//! padding, Signal addresses of devices, and the stanzas and IQs that carry
//! messages, receipts, device lists and prekeys. Everything here is a pure
//! function of its inputs (`docs/messaging.md` describes the shapes).
//!
//! ```
//! use rand_core::SeedableRng;
//! use wa_core::binary::Jid;
//! use wa_core::message::{Message, SignalAddress, pad, unpad};
//! use prost::Message as _;
//!
//! let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
//! let bytes = pad(Message::text("hi").encode_to_vec(), &mut rng);
//! let back = Message::decode(unpad(&bytes)?).unwrap();
//! assert_eq!(back.text_content(), Some("hi"));
//! assert_eq!(SignalAddress::of(&Jid::pn("15550001").with_device(2)).as_str(), "15550001:2@c.us.0");
//! # Ok::<(), wa_core::message::StanzaError>(())
//! ```

mod address;
mod id;
pub mod iq;
mod padding;
pub mod proto;
pub mod stanza;

pub use address::SignalAddress;
pub use id::MessageId;
pub use padding::{pad, unpad};
pub use proto::Message;

use crate::binary::NodeError;

/// A stanza or plaintext that does not have the expected shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StanzaError {
    /// An attribute or child is missing or malformed.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// A part is missing or has the wrong size or value.
    #[error("invalid {0}")]
    Invalid(&'static str),
}
