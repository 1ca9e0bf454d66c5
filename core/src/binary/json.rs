//! Serde support for [`Node`]: the JSON shape documented on [`Node`].

use std::fmt;

use bytes::Bytes;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, SerializeStruct};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::jid::Jid;
use super::node::{Attrs, Content, Node, Value};
use super::str::Str;

impl Serialize for Node {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Node", 3)?;
        s.serialize_field("tag", self.tag.as_str())?;
        s.serialize_field("attrs", &self.attrs)?;
        s.serialize_field("content", &self.content)?;
        s.end()
    }
}

impl Serialize for Attrs {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for attr in self.iter() {
            map.serialize_entry(attr.key.as_str(), &attr.value)?;
        }
        map.end()
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Str(s) => serializer.serialize_str(s),
            Value::Jid(j) => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("jid", j)?;
                map.end()
            }
        }
    }
}

impl Serialize for Content {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Content::None => serializer.serialize_none(),
            Content::Bytes(b) => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("bytes_hex", &to_hex(b))?;
                map.end()
            }
            Content::Text(s) => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("text", s.as_str())?;
                map.end()
            }
            Content::Nodes(children) => {
                let mut seq = serializer.serialize_seq(Some(children.len()))?;
                for child in children {
                    seq.serialize_element(child)?;
                }
                seq.end()
            }
        }
    }
}

fn to_hex(b: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for &byte in b {
        s.push(DIGITS[(byte >> 4) as usize] as char);
        s.push(DIGITS[(byte & 0x0F) as usize] as char);
    }
    s
}

fn from_hex(s: &str) -> Option<Vec<u8>> {
    fn digit(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    b.chunks_exact(2)
        .map(|p| Some((digit(p[0])? << 4) | digit(p[1])?))
        .collect()
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Node, D::Error> {
        struct NodeVisitor;
        impl<'de> Visitor<'de> for NodeVisitor {
            type Value = Node;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a node object {\"tag\", \"attrs\", \"content\"}")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
                let mut tag: Option<String> = None;
                let mut attrs: Option<Attrs> = None;
                let mut content: Option<Content> = None;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "tag" if tag.is_none() => tag = Some(map.next_value()?),
                        "attrs" if attrs.is_none() => attrs = Some(map.next_value()?),
                        "content" if content.is_none() => content = Some(map.next_value()?),
                        "tag" | "attrs" | "content" => {
                            return Err(de::Error::custom(format!("duplicate field `{key}`")));
                        }
                        other => {
                            return Err(de::Error::unknown_field(
                                other,
                                &["tag", "attrs", "content"],
                            ));
                        }
                    }
                }
                let tag = tag.ok_or_else(|| de::Error::missing_field("tag"))?;
                Ok(Node {
                    tag: Str::from(tag),
                    attrs: attrs.unwrap_or_default(),
                    content: content.unwrap_or_default(),
                })
            }
        }
        deserializer.deserialize_map(NodeVisitor)
    }
}

impl<'de> Deserialize<'de> for Attrs {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Attrs, D::Error> {
        struct AttrsVisitor;
        impl<'de> Visitor<'de> for AttrsVisitor {
            type Value = Attrs;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an attribute object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Attrs, A::Error> {
                let mut attrs = Attrs::with_capacity(map.size_hint().unwrap_or(0).min(64));
                while let Some((key, value)) = map.next_entry::<String, Value>()? {
                    attrs.push(key, value);
                }
                Ok(attrs)
            }
        }
        deserializer.deserialize_map(AttrsVisitor)
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Value, D::Error> {
        struct ValueVisitor;
        impl<'de> Visitor<'de> for ValueVisitor {
            type Value = Value;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or {\"jid\": \"…\"}")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
                Ok(Value::Str(Str::new(v)))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
                let Some(key) = map.next_key::<String>()? else {
                    return Err(de::Error::missing_field("jid"));
                };
                if key != "jid" {
                    return Err(de::Error::unknown_field(&key, &["jid"]));
                }
                let jid: Jid = map.next_value()?;
                if map.next_key::<String>()?.is_some() {
                    return Err(de::Error::custom("a jid value has exactly one key, `jid`"));
                }
                Ok(Value::Jid(jid))
            }
        }
        deserializer.deserialize_any(ValueVisitor)
    }
}

impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Content, D::Error> {
        struct ContentVisitor;
        impl<'de> Visitor<'de> for ContentVisitor {
            type Value = Content;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("null, {\"bytes_hex\": …}, {\"text\": …} or a list of nodes")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Content, E> {
                Ok(Content::None)
            }
            fn visit_none<E: de::Error>(self) -> Result<Content, E> {
                Ok(Content::None)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Content, D::Error> {
                d.deserialize_any(ContentVisitor)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Content, A::Error> {
                let mut children = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(256));
                while let Some(child) = seq.next_element::<Node>()? {
                    children.push(child);
                }
                Ok(Content::Nodes(children))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Content, A::Error> {
                let Some(key) = map.next_key::<String>()? else {
                    return Err(de::Error::custom("empty content object"));
                };
                let content = match key.as_str() {
                    "bytes_hex" => {
                        let hex: String = map.next_value()?;
                        let bytes = from_hex(&hex)
                            .ok_or_else(|| de::Error::custom("bytes_hex is not valid hex"))?;
                        Content::Bytes(Bytes::from(bytes))
                    }
                    "text" => Content::Text(Str::from(map.next_value::<String>()?)),
                    other => return Err(de::Error::unknown_field(other, &["bytes_hex", "text"])),
                };
                if map.next_key::<String>()?.is_some() {
                    return Err(de::Error::custom("a content object has exactly one key"));
                }
                Ok(content)
            }
        }
        deserializer.deserialize_any(ContentVisitor)
    }
}
