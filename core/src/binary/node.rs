//! [`Node`]: one binary XML-like stanza (docs/protocol.md §4.5).

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use bytes::Bytes;

use super::jid::{Jid, JidError};
use super::str::Str;

/// One stanza: a tag, attributes and optional content.
///
/// Building:
/// ```
/// use wa_core::binary::{Jid, Node, Server};
/// let iq = Node::new("iq")
///     .with_attr("id", "12.34-5")
///     .with_attr("xmlns", "w:p")
///     .with_attr("type", "get")
///     .with_attr("to", Jid::server_jid(Server::Pn))
///     .with_children([Node::new("ping")]);
/// assert_eq!(iq.attr_str("type"), Some("get"));
/// assert_eq!(iq.require_attr_str("type").unwrap(), "get");
/// assert_eq!(iq.attr_jid("to").unwrap().to_string(), "s.whatsapp.net");
/// assert!(iq.child("ping").is_some());
/// ```
///
/// Builders start with `with_` (`with_attr`, `with_children`, `with_bytes`,
/// `with_text`) and consume the node. Readers are named after what they return:
/// `attr` and `attr_str` (`None` when absent), `require_attr_str`, `attr_jid`,
/// `attr_jid_opt`, `attr_u64` and `attr_parse` (typed, with errors naming the tag and
/// attribute), `child`, `require_child`, `children`, `children_by_tag`,
/// `content_bytes` and `content_text`.
///
/// # Text form (`Display`)
///
/// XML-like, for logs and tools: `{}` renders one line, `{:#}` indents children by two
/// spaces per level. Attribute values and text are XML-escaped, a JID value shows its
/// text form, byte content is lower-case hex. Byte content longer than
/// [`MAX_SHOWN_BYTES`](super::MAX_SHOWN_BYTES) and text longer than
/// [`MAX_SHOWN_CHARS`](super::MAX_SHOWN_CHARS) are cut and followed by the full length:
/// `<enc type="msg">0a1b…(256 bytes)</enc>`.
///
/// # JSON form (serde)
///
/// The shape a `wa-node` tool reads and writes:
///
/// ```json
/// {
///   "tag": "iq",
///   "attrs": { "id": "12.34-5", "type": "get", "to": { "jid": "s.whatsapp.net" } },
///   "content": null
/// }
/// ```
///
/// - `tag`: string (required).
/// - `attrs`: object in wire order (optional when reading; default `{}`). A string is a
///   string attribute; `{"jid": "<jid text>"}` is a JID attribute, written as a JID
///   token on the wire (a plain string never is).
/// - `content` (optional when reading; default `null`): `null` for none;
///   `{"bytes_hex": "0a1b…"}` for bytes (lower-case hex, upper case accepted);
///   `{"text": "…"}` for a string; `[node, …]` for children.
///
/// Unknown keys are rejected, so a typo cannot silently drop data.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Node {
    /// The tag, e.g. `iq`.
    pub tag: Str,
    /// The attributes, in wire order.
    pub attrs: Attrs,
    /// The content.
    pub content: Content,
}

/// A node's content.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Content {
    /// No content.
    #[default]
    None,
    /// Raw bytes (protobufs, ciphertext); a zero-copy slice of the decoded input.
    Bytes(Bytes),
    /// A string (a token, a packed value or, when encoded, any string). Note that a
    /// string that is not a token and cannot be packed is written as raw bytes, so it
    /// decodes as [`Content::Bytes`]; [`Node::content_text`] reads both.
    Text(Str),
    /// Child nodes. An empty list is written as no content.
    Nodes(Vec<Node>),
}

/// One attribute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attr {
    /// The key.
    pub key: Str,
    /// The value.
    pub value: Value,
}

/// An attribute value: a string or a JID.
///
/// Only values typed as [`Value::Jid`] are written as JIDs on the wire; a string that
/// looks like a JID is written as a string (see the encoder docs for why).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// A string.
    Str(Str),
    /// A JID.
    Jid(Jid),
}

impl Value {
    /// The string, if this is a string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s.as_str()),
            Value::Jid(_) => None,
        }
    }

    /// The JID, if this is a JID value.
    pub fn as_jid(&self) -> Option<&Jid> {
        match self {
            Value::Jid(j) => Some(j),
            Value::Str(_) => None,
        }
    }

    /// The value as text: the string, or the JID's text form.
    pub fn to_text(&self) -> Cow<'_, str> {
        match self {
            Value::Str(s) => Cow::Borrowed(s.as_str()),
            Value::Jid(j) => Cow::Owned(j.to_string()),
        }
    }

    /// The value as a JID: a JID value, or a string parsed as one.
    pub fn to_jid(&self) -> Result<Jid, JidError> {
        match self {
            Value::Jid(j) => Ok(j.clone()),
            Value::Str(s) => s.parse(),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => f.write_str(s),
            Value::Jid(j) => fmt::Display::fmt(j, f),
        }
    }
}

/// Compares the value's text form (a JID by its `Display` form).
impl PartialEq<str> for Value {
    fn eq(&self, other: &str) -> bool {
        match self {
            Value::Str(s) => s.as_str() == other,
            Value::Jid(j) => j.to_string() == other,
        }
    }
}

impl PartialEq<&str> for Value {
    fn eq(&self, other: &&str) -> bool {
        self == *other
    }
}

impl From<Str> for Value {
    fn from(s: Str) -> Value {
        Value::Str(s)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Str(Str::new(s))
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Str(Str::from(s))
    }
}

impl From<&String> for Value {
    fn from(s: &String) -> Value {
        Value::Str(Str::new(s))
    }
}

impl From<Jid> for Value {
    fn from(j: Jid) -> Value {
        Value::Jid(j)
    }
}

impl From<&Jid> for Value {
    fn from(j: &Jid) -> Value {
        Value::Jid(j.clone())
    }
}

macro_rules! value_from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(n: $t) -> Value {
                use smol_str::ToSmolStr;
                Value::Str(Str::from_smol(n.to_smolstr()))
            }
        }
    )*};
}
value_from_int!(u8, u16, u32, u64, i32, i64);

/// A node's attributes, in wire order.
///
/// A small `Vec`: nodes carry a handful of attributes, and a linear scan of a few
/// entries is faster than any map.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Attrs(pub(crate) Vec<Attr>);

impl Attrs {
    /// No attributes.
    pub const fn new() -> Attrs {
        Attrs(Vec::new())
    }

    /// Room for `n` attributes.
    pub fn with_capacity(n: usize) -> Attrs {
        Attrs(Vec::with_capacity(n))
    }

    /// The value of the first attribute named `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|a| a.key == key).map(|a| &a.value)
    }

    /// Sets `key` to `value`, replacing an existing attribute of that name in place.
    pub fn insert(&mut self, key: impl Into<Str>, value: impl Into<Value>) {
        let key = key.into();
        let value = value.into();
        match self.0.iter_mut().find(|a| a.key == key) {
            Some(a) => a.value = value,
            None => self.0.push(Attr { key, value }),
        }
    }

    /// Appends an attribute without looking for an existing one of that name.
    pub fn push(&mut self, key: impl Into<Str>, value: impl Into<Value>) {
        self.0.push(Attr {
            key: key.into(),
            value: value.into(),
        });
    }

    /// Removes every attribute named `key` and returns the first one's value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let pos = self.0.iter().position(|a| a.key == key)?;
        let value = self.0.remove(pos).value;
        self.0.retain(|a| a.key != key);
        Some(value)
    }

    /// The number of attributes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The attributes in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Attr> {
        self.0.iter()
    }

    /// The attributes as a slice.
    pub fn as_slice(&self) -> &[Attr] {
        &self.0
    }
}

impl<'a> IntoIterator for &'a Attrs {
    type Item = &'a Attr;
    type IntoIter = std::slice::Iter<'a, Attr>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<K: Into<Str>, V: Into<Value>> FromIterator<(K, V)> for Attrs {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Attrs {
        let mut attrs = Attrs::new();
        for (k, v) in iter {
            attrs.insert(k, v);
        }
        attrs
    }
}

/// A required attribute or child is missing or malformed.
///
/// Every variant names the node's tag and the attribute or child, so the error is
/// useful in a log without the node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// The attribute is absent.
    #[error("<{tag}> has no attribute {key:?}")]
    MissingAttr {
        /// The node's tag.
        tag: String,
        /// The attribute.
        key: String,
    },
    /// The attribute is present but not what was asked for.
    #[error("<{tag}> attribute {key:?} is not a valid {expected}: {value:?}")]
    InvalidAttr {
        /// The node's tag.
        tag: String,
        /// The attribute.
        key: String,
        /// What the caller asked for, e.g. `"u64"` or `"jid"`.
        expected: &'static str,
        /// The value's text form.
        value: String,
    },
    /// The child is absent.
    #[error("<{tag}> has no child <{child}>")]
    MissingChild {
        /// The node's tag.
        tag: String,
        /// The child's tag.
        child: String,
    },
}

impl Node {
    /// A node with this tag, no attributes and no content.
    pub fn new(tag: impl Into<Str>) -> Node {
        Node {
            tag: tag.into(),
            attrs: Attrs::new(),
            content: Content::None,
        }
    }

    // ---- building -------------------------------------------------------------------

    /// Sets an attribute (replacing one of the same name). Strings stay strings on the
    /// wire; pass a [`Jid`] to write a JID.
    #[must_use]
    pub fn with_attr(mut self, key: impl Into<Str>, value: impl Into<Value>) -> Node {
        self.attrs.insert(key, value);
        self
    }

    /// Sets the content to these child nodes.
    #[must_use]
    pub fn with_children(mut self, children: impl IntoIterator<Item = Node>) -> Node {
        self.content = Content::Nodes(children.into_iter().collect());
        self
    }

    /// Sets the content to raw bytes.
    #[must_use]
    pub fn with_bytes(mut self, bytes: impl Into<Bytes>) -> Node {
        self.content = Content::Bytes(bytes.into());
        self
    }

    /// Sets the content to a string.
    #[must_use]
    pub fn with_text(mut self, text: impl Into<Str>) -> Node {
        self.content = Content::Text(text.into());
        self
    }

    // ---- reading attributes ---------------------------------------------------------

    /// The value of attribute `key`.
    pub fn attr(&self, key: &str) -> Option<&Value> {
        self.attrs.get(key)
    }

    /// The value of attribute `key` if it is a string value.
    pub fn attr_str(&self, key: &str) -> Option<&str> {
        self.attrs.get(key).and_then(Value::as_str)
    }

    fn missing(&self, key: &str) -> NodeError {
        NodeError::MissingAttr {
            tag: self.tag.to_string(),
            key: key.to_owned(),
        }
    }

    fn invalid(&self, key: &str, expected: &'static str, value: &Value) -> NodeError {
        NodeError::InvalidAttr {
            tag: self.tag.to_string(),
            key: key.to_owned(),
            expected,
            value: value.to_text().into_owned(),
        }
    }

    /// The required string attribute `key`. A JID value is an error (`expected
    /// "string"`): use [`Node::attr_jid`] or [`Value::to_text`] for those.
    pub fn require_attr_str(&self, key: &str) -> Result<&str, NodeError> {
        let value = self.attrs.get(key).ok_or_else(|| self.missing(key))?;
        value
            .as_str()
            .ok_or_else(|| self.invalid(key, "string", value))
    }

    /// The required JID attribute `key`: a JID value, or a string that parses as one.
    pub fn attr_jid(&self, key: &str) -> Result<Jid, NodeError> {
        let value = self.attrs.get(key).ok_or_else(|| self.missing(key))?;
        value.to_jid().map_err(|_| self.invalid(key, "jid", value))
    }

    /// The optional JID attribute `key`: `Ok(None)` when absent, an error when present
    /// but not a JID.
    pub fn attr_jid_opt(&self, key: &str) -> Result<Option<Jid>, NodeError> {
        match self.attrs.get(key) {
            None => Ok(None),
            Some(value) => value
                .to_jid()
                .map(Some)
                .map_err(|_| self.invalid(key, "jid", value)),
        }
    }

    /// The required unsigned integer attribute `key` (e.g. `t`).
    pub fn attr_u64(&self, key: &str) -> Result<u64, NodeError> {
        self.attr_parse_named(key, "u64")
    }

    /// The required attribute `key` parsed with `FromStr`.
    pub fn attr_parse<T: FromStr>(&self, key: &str) -> Result<T, NodeError> {
        self.attr_parse_named(key, std::any::type_name::<T>())
    }

    fn attr_parse_named<T: FromStr>(
        &self,
        key: &str,
        expected: &'static str,
    ) -> Result<T, NodeError> {
        let value = self.attrs.get(key).ok_or_else(|| self.missing(key))?;
        value
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| self.invalid(key, expected, value))
    }

    // ---- reading content ------------------------------------------------------------

    /// The child nodes (empty unless the content is [`Content::Nodes`]).
    pub fn children(&self) -> &[Node] {
        match &self.content {
            Content::Nodes(nodes) => nodes,
            _ => &[],
        }
    }

    /// The first child with this tag.
    pub fn child(&self, tag: &str) -> Option<&Node> {
        self.children().iter().find(|n| n.tag == tag)
    }

    /// The first child with this tag, or an error naming both tags.
    pub fn require_child(&self, tag: &str) -> Result<&Node, NodeError> {
        self.child(tag).ok_or_else(|| NodeError::MissingChild {
            tag: self.tag.to_string(),
            child: tag.to_owned(),
        })
    }

    /// Every child with this tag, in order.
    pub fn children_by_tag<'a>(&'a self, tag: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children().iter().filter(move |n| n.tag == tag)
    }

    /// The content bytes, if the content is [`Content::Bytes`].
    pub fn content_bytes(&self) -> Option<&Bytes> {
        match &self.content {
            Content::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The content as text: [`Content::Text`], or [`Content::Bytes`] that are valid
    /// UTF-8 (a non-token string travels as raw bytes).
    pub fn content_text(&self) -> Option<&str> {
        match &self.content {
            Content::Text(s) => Some(s.as_str()),
            Content::Bytes(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }
}
