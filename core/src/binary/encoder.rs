//! Node → bytes (docs/protocol.md §4.2–§4.6).
//!
//! Choices where the reference implementations disagree (docs/protocol.md §8), and why:
//!
//! - **JID-looking strings (row 13)**: a string is always written as a string (token,
//!   packed or raw); only a value typed as [`Value::Jid`] is written as a JID. This is
//!   whatsmeow's rule. whatsapp-rust and Baileys instead try to parse every string
//!   containing `@` as a JID, which silently rewrites values such as
//!   `"foo:bar@s.whatsapp.net"` or `"hello_world@s.whatsapp.net"` (they disagree on
//!   those) and costs a parse per string. Typed values make the wire form a decision of
//!   the caller and keep `decode(encode(n)) == n`. A JID in an attribute decodes as a
//!   typed [`Value::Jid`], so re-encoding a received node reproduces its attribute JID
//!   tokens; a JID in content position decodes as text (content has no JID type), so it
//!   is re-encoded as a plain string, not as the JID token it arrived in (and reads back
//!   as byte content).
//! - **AD_JID (row 14)**: written only for a device above 0 on `s.whatsapp.net`, `lid`,
//!   `hosted` or `hosted.lid` (whatsapp-rust and Baileys; whatsmeow also uses it for
//!   hosted device 0). A device-0 hosted JID is a JID_PAIR, which loses nothing.
//! - **msgr / interop (row 15)**: a `msgr` JID with a device is written as FB_JID and an
//!   `interop` JID with a device or integrator as INTEROP_JID **with** its trailing
//!   server, because every reader (whatsapp-rust, whatsmeow, Baileys, and ours) expects
//!   that server; without a device/integrator both are a plain JID_PAIR
//!   (whatsapp-rust's choice).
//! - A JID that no JID token can carry exactly (a device on `g.us`/`bot`/…, an agent
//!   on a server that shows it, a device above 255 on an AD server) is written as its
//!   text form, a plain string, rather than silently dropping the extra part.

use bytes::Bytes;

use super::jid::{Jid, Server};
use super::node::{Content, Node, Value};
use super::str::{Repr, Str};
use super::token::{self, tag};

/// The deepest nesting the encoder writes and the decoder accepts (the root is level 1).
pub const MAX_DEPTH: usize = 128;

/// The longest string that may be packed (docs/protocol.md §4.4).
pub const PACKED_MAX: usize = 127;

/// Why a node cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A node has an empty tag.
    #[error("empty tag")]
    EmptyTag,
    /// A node has more attributes than a LIST_16 can count.
    #[error("<{tag}> has too many attributes ({count})")]
    TooManyAttrs {
        /// The node's tag.
        tag: String,
        /// The number of attributes.
        count: usize,
    },
    /// A node has more than 65535 children.
    #[error("<{tag}> has too many children ({count})")]
    TooManyChildren {
        /// The node's tag.
        tag: String,
        /// The number of children.
        count: usize,
    },
    /// A string or byte content is longer than a BINARY_32 can carry.
    #[error("value too long ({len} bytes)")]
    TooLong {
        /// Its length.
        len: usize,
    },
    /// Nodes nest deeper than [`MAX_DEPTH`].
    #[error("nesting deeper than {MAX_DEPTH}")]
    TooDeep,
}

/// Appends the binary form of `node` to `out` (without the frame flags byte).
///
/// On error `out` is restored to its previous length.
pub fn encode_node(node: &Node, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let start = out.len();
    out.reserve(size_hint(node, 0));
    let result = write_node(out, node, 1);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// The frame plaintext for `node`: the flags byte `0x00` (uncompressed, which is what
/// clients always send, docs/protocol.md §4.1) followed by the node.
pub fn marshal(node: &Node) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(1 + size_hint(node, 0));
    out.push(0);
    write_node(&mut out, node, 1)?;
    Ok(out)
}

/// A cheap over-estimate of the encoded size, so the output grows at most once.
fn size_hint(node: &Node, depth: usize) -> usize {
    let mut n = 4 + node.tag.len();
    for a in node.attrs.iter() {
        n += 2 + a.key.len();
        n += match &a.value {
            Value::Str(s) => 4 + s.len(),
            Value::Jid(j) => 8 + j.user().len() + j.server().as_str().len(),
        };
    }
    n + match &node.content {
        Content::None => 0,
        Content::Bytes(b) => 5 + b.len(),
        Content::Text(s) => 5 + s.len(),
        // Depth is bounded here too, so a pathological tree cannot recurse forever.
        Content::Nodes(children) if depth < MAX_DEPTH => {
            3 + children
                .iter()
                .map(|c| size_hint(c, depth + 1))
                .sum::<usize>()
        }
        Content::Nodes(_) => 0,
    }
}

fn write_list_start(out: &mut Vec<u8>, n: usize) {
    // Callers have checked n <= u16::MAX.
    if n == 0 {
        out.push(tag::LIST_EMPTY);
    } else if n < 256 {
        out.extend_from_slice(&[tag::LIST_8, n as u8]);
    } else {
        let [hi, lo] = (n as u16).to_be_bytes();
        out.extend_from_slice(&[tag::LIST_16, hi, lo]);
    }
}

fn write_node(out: &mut Vec<u8>, node: &Node, depth: usize) -> Result<(), EncodeError> {
    if depth > MAX_DEPTH {
        return Err(EncodeError::TooDeep);
    }
    if node.tag.is_empty() {
        return Err(EncodeError::EmptyTag);
    }
    let has_content = match &node.content {
        Content::None => false,
        Content::Nodes(children) => !children.is_empty(),
        Content::Bytes(_) | Content::Text(_) => true,
    };
    let size = 1 + 2 * node.attrs.len() + usize::from(has_content);
    if size > u16::MAX as usize {
        return Err(EncodeError::TooManyAttrs {
            tag: node.tag.to_string(),
            count: node.attrs.len(),
        });
    }
    write_list_start(out, size);
    write_str(out, &node.tag)?;
    for attr in node.attrs.iter() {
        write_str(out, &attr.key)?;
        match &attr.value {
            Value::Str(s) => write_str(out, s)?,
            Value::Jid(j) => write_jid(out, j)?,
        }
    }
    match &node.content {
        Content::None => {}
        Content::Bytes(b) => write_bytes(out, b)?,
        Content::Text(s) => write_str(out, s)?,
        Content::Nodes(children) => {
            if children.is_empty() {
                return Ok(());
            }
            if children.len() > u16::MAX as usize {
                return Err(EncodeError::TooManyChildren {
                    tag: node.tag.to_string(),
                    count: children.len(),
                });
            }
            write_list_start(out, children.len());
            for child in children {
                write_node(out, child, depth + 1)?;
            }
        }
    }
    Ok(())
}

#[inline]
fn write_bytes(out: &mut Vec<u8>, b: &Bytes) -> Result<(), EncodeError> {
    write_binary(out, b)
}

/// BINARY_8 / BINARY_20 / BINARY_32 by length (docs/protocol.md §4.2).
fn write_binary(out: &mut Vec<u8>, b: &[u8]) -> Result<(), EncodeError> {
    let len = b.len();
    if len < 256 {
        out.extend_from_slice(&[tag::BINARY_8, len as u8]);
    } else if len < 1 << 20 {
        out.extend_from_slice(&[
            tag::BINARY_20,
            (len >> 16) as u8,
            (len >> 8) as u8,
            len as u8,
        ]);
    } else {
        let len32 = u32::try_from(len).map_err(|_| EncodeError::TooLong { len })?;
        out.push(tag::BINARY_32);
        out.extend_from_slice(&len32.to_be_bytes());
    }
    out.extend_from_slice(b);
    Ok(())
}

/// A [`Str`]: a token is written from its index; any other string was checked against
/// the dictionaries when it was built (or arrived in this form), so it goes straight to
/// packing.
#[inline]
fn write_str(out: &mut Vec<u8>, s: &Str) -> Result<(), EncodeError> {
    match &s.0 {
        Repr::Token(id) => {
            id.write(out);
            Ok(())
        }
        Repr::Text(s) => write_non_token(out, s.as_bytes()),
    }
}

/// Every token made only of NIBBLE_8 characters is at most this long (checked by a
/// test against the tables), so a longer such string needs no dictionary lookup. JID
/// users, mostly phone numbers and LIDs, take this path.
pub(crate) const MAX_NIBBLE_TOKEN_LEN: usize = 4;

/// A plain `&str` (a JID user or a JID's text form), in the full choice order of
/// docs/protocol.md §4.4: dictionaries first, then packing, then raw.
fn write_any_str(out: &mut Vec<u8>, s: &str) -> Result<(), EncodeError> {
    let b = s.as_bytes();
    if b.len() > MAX_NIBBLE_TOKEN_LEN
        && b.len() <= PACKED_MAX
        && b.iter().all(|&c| CLASS[c as usize] & NIBBLE_OK != 0)
    {
        write_packed(out, tag::NIBBLE_8, b);
        return Ok(());
    }
    match token::lookup_id(b) {
        Some(id) => {
            id.write(out);
            Ok(())
        }
        None => write_non_token(out, b),
    }
}

const NIBBLE_OK: u8 = 1;
const HEX_OK: u8 = 2;

/// Which packed alphabets each byte belongs to.
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = b'0';
    while c <= b'9' {
        t[c as usize] = NIBBLE_OK | HEX_OK;
        c += 1;
    }
    t[b'-' as usize] = NIBBLE_OK;
    t[b'.' as usize] = NIBBLE_OK;
    let mut c = b'A';
    while c <= b'F' {
        t[c as usize] = HEX_OK;
        c += 1;
    }
    t
};

/// Each byte's 4-bit code in its alphabet (the two alphabets only share the digits).
static NIBBLE_VALUE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = b'0';
    while c <= b'9' {
        t[c as usize] = c - b'0';
        c += 1;
    }
    t[b'-' as usize] = 10;
    t[b'.' as usize] = 11;
    let mut c = b'A';
    while c <= b'F' {
        t[c as usize] = c - b'A' + 10;
        c += 1;
    }
    t
};

/// Steps 3–5 of the string choice order (docs/protocol.md §4.4): NIBBLE_8, HEX_8, raw.
fn write_non_token(out: &mut Vec<u8>, b: &[u8]) -> Result<(), EncodeError> {
    if !b.is_empty() && b.len() <= PACKED_MAX {
        let mut class = NIBBLE_OK | HEX_OK;
        for &c in b {
            class &= CLASS[c as usize];
            if class == 0 {
                break;
            }
        }
        if class & NIBBLE_OK != 0 {
            write_packed(out, tag::NIBBLE_8, b);
            return Ok(());
        }
        if class & HEX_OK != 0 {
            write_packed(out, tag::HEX_8, b);
            return Ok(());
        }
    }
    // Includes "" → BINARY_8 00 (docs/protocol.md §4.4).
    write_binary(out, b)
}

fn write_packed(out: &mut Vec<u8>, packed_tag: u8, b: &[u8]) {
    let odd = b.len() % 2;
    let half = b.len() / 2 + odd;
    out.reserve(2 + half);
    out.push(packed_tag);
    out.push(half as u8 | if odd == 1 { 0x80 } else { 0 });
    let mut pairs = b.chunks_exact(2);
    for pair in &mut pairs {
        out.push((NIBBLE_VALUE[pair[0] as usize] << 4) | NIBBLE_VALUE[pair[1] as usize]);
    }
    if let [last] = pairs.remainder() {
        out.push((NIBBLE_VALUE[*last as usize] << 4) | 0x0F);
    }
}

fn write_server(out: &mut Vec<u8>, server: Server) -> Result<(), EncodeError> {
    match server.token_id() {
        Some(id) => {
            id.write(out);
            Ok(())
        }
        None => write_non_token(out, server.as_str().as_bytes()),
    }
}

/// Picks the JID wire form (see the module docs for the rules and their reasons).
fn write_jid(out: &mut Vec<u8>, jid: &Jid) -> Result<(), EncodeError> {
    let server = jid.server();
    let device = jid.device();
    let user = jid.user();
    if user.is_empty() && device == 0 && jid.integrator() == 0 {
        // A server-only JID.
        out.extend_from_slice(&[tag::JID_PAIR, tag::LIST_EMPTY]);
        return write_server(out, server);
    }
    let agent_shown = jid.agent() > 0 && server.renders_agent();
    if let Some(domain) = server.domain_type() {
        if device == 0 {
            return write_jid_pair(out, user, server);
        }
        if let Ok(device) = u8::try_from(device) {
            out.extend_from_slice(&[tag::AD_JID, domain, device]);
            return write_any_str(out, user);
        }
        return write_any_str(out, &jid.to_string());
    }
    match server {
        _ if agent_shown => write_any_str(out, &jid.to_string()),
        Server::Msgr if device > 0 => {
            out.push(tag::FB_JID);
            write_any_str(out, user)?;
            out.extend_from_slice(&device.to_be_bytes());
            write_server(out, server)
        }
        Server::Interop if device > 0 || jid.integrator() > 0 => {
            out.push(tag::INTEROP_JID);
            write_any_str(out, user)?;
            out.extend_from_slice(&device.to_be_bytes());
            out.extend_from_slice(&jid.integrator().to_be_bytes());
            write_server(out, server)
        }
        _ if device > 0 => write_any_str(out, &jid.to_string()),
        _ => write_jid_pair(out, user, server),
    }
}

fn write_jid_pair(out: &mut Vec<u8>, user: &str, server: Server) -> Result<(), EncodeError> {
    out.push(tag::JID_PAIR);
    write_any_str(out, user)?;
    write_server(out, server)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nibble_only_tokens_are_short() {
        // `write_any_str` skips the dictionary for longer nibble-only strings.
        let all = token::SINGLE_BYTE
            .iter()
            .skip(1)
            .chain(token::DOUBLE_BYTE.iter().flatten());
        let mut longest = 0;
        for s in all {
            if s.bytes().all(|c| CLASS[c as usize] & NIBBLE_OK != 0) {
                longest = longest.max(s.len());
            }
        }
        assert_eq!(longest, MAX_NIBBLE_TOKEN_LEN);
    }

    #[test]
    fn jid_users_use_tokens_when_they_are_tokens() {
        // "1724" is D3[0]: a short nibble-only user still goes through the dictionary.
        let mut out = Vec::new();
        write_any_str(&mut out, "1724").unwrap();
        assert_eq!(out, [tag::DICTIONARY_0 + 3, 0]);
        out.clear();
        write_any_str(&mut out, "17245").unwrap();
        assert_eq!(out, [tag::NIBBLE_8, 0x83, 0x17, 0x24, 0x5F]);
    }
}
