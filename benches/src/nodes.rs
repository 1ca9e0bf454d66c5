//! The nodes of docs/performance.md ("the shapes a WhatsApp client really produces"), described
//! once in a library-neutral tree.
//!
//! Each codec under test gets a converter from [`Spec`] to its own node type and back, so
//! the benchmark feeds every encoder an identical node and checks, before timing anything,
//! that each library's output decodes (with either decoder) to the original [`Spec`].

use std::fmt::Write as _;

use wa_core::binary::{Content, Jid, Node, Server, Value};

/// A node: tag, attributes in wire order, content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// The tag.
    pub tag: String,
    /// The attributes, in wire order.
    pub attrs: Vec<(String, SpecValue)>,
    /// The content.
    pub content: SpecContent,
}

/// An attribute value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpecValue {
    /// A string (written as a token, packed or raw string by both encoders).
    Str(String),
    /// A JID (written as a JID token by both encoders).
    Jid(SpecJid),
}

/// A JID, by parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecJid {
    /// The user part (empty for a server JID).
    pub user: String,
    /// The server's text form, e.g. `s.whatsapp.net`.
    pub server: String,
    /// The agent.
    pub agent: u8,
    /// The device.
    pub device: u16,
    /// The integrator.
    pub integrator: u16,
}

/// A node's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpecContent {
    /// None.
    None,
    /// Raw bytes.
    Bytes(Vec<u8>),
    /// A string.
    Text(String),
    /// Children (never empty in a fixture: an empty list is written as no content).
    Nodes(Vec<Spec>),
}

impl Spec {
    /// A node with no attributes and no content.
    pub fn new(tag: &str) -> Spec {
        Spec {
            tag: tag.to_owned(),
            attrs: Vec::new(),
            content: SpecContent::None,
        }
    }

    /// Adds a string attribute.
    pub fn with_attr(mut self, key: &str, value: &str) -> Spec {
        self.attrs
            .push((key.to_owned(), SpecValue::Str(value.to_owned())));
        self
    }

    /// Adds a JID attribute.
    pub fn with_jid(mut self, key: &str, user: &str, server: &str, device: u16) -> Spec {
        self.attrs.push((
            key.to_owned(),
            SpecValue::Jid(SpecJid {
                user: user.to_owned(),
                server: server.to_owned(),
                agent: 0,
                device,
                integrator: 0,
            }),
        ));
        self
    }

    /// Sets byte content.
    pub fn with_bytes(mut self, bytes: Vec<u8>) -> Spec {
        self.content = SpecContent::Bytes(bytes);
        self
    }

    /// Sets child nodes.
    pub fn with_children(mut self, children: Vec<Spec>) -> Spec {
        self.content = SpecContent::Nodes(children);
        self
    }
}

/// One benchmarked stanza.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// Its short name, used in benchmark ids (`message`, `fanout`, `keepalive`, `success`).
    pub name: &'static str,
    /// The node.
    pub spec: Spec,
}

/// The four stanzas of docs/performance.md, with random bytes from a generator seeded with `seed`:
///
/// - `message`: a one-to-one `<message>` with an `<enc>` of 256 random bytes (≈300 bytes);
/// - `fanout`: a group `<message>` whose `<participants>` holds 8 `<to jid=…><enc>`
///   children of 256 random bytes each (≈2.3 KiB);
/// - `keepalive`: the keepalive IQ of docs/protocol.md §5.3;
/// - `success`: a `<success>` stanza as the server sends it after a login (§5.1).
pub fn fixtures(seed: u64) -> Vec<Fixture> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut random = |n: usize| -> Vec<u8> { (0..n).map(|_| rng.u8(..)).collect() };
    let message_id = |bytes: Vec<u8>| -> String {
        let mut id = String::from("3EB0");
        for b in bytes {
            let _ = write!(id, "{b:02X}");
        }
        id
    };

    let message = Spec::new("message")
        .with_jid("to", "5511987650001", "s.whatsapp.net", 0)
        .with_attr("id", &message_id(random(8)))
        .with_attr("type", "text")
        .with_children(vec![
            Spec::new("enc")
                .with_attr("v", "2")
                .with_attr("type", "msg")
                .with_bytes(random(256)),
        ]);

    let recipients = (0..8u16)
        .map(|i| {
            // Four participants with two devices each, as a small group looks.
            let user = format!("55119876500{:02}", 10 + i / 2);
            Spec::new("to")
                .with_jid("jid", &user, "s.whatsapp.net", i % 2 * 23)
                .with_children(vec![
                    Spec::new("enc")
                        .with_attr("v", "2")
                        .with_attr("type", "pkmsg")
                        .with_bytes(random(256)),
                ])
        })
        .collect();
    let fanout = Spec::new("message")
        .with_jid("to", "120363041234567890", "g.us", 0)
        .with_attr("id", &message_id(random(8)))
        .with_attr("type", "text")
        .with_children(vec![Spec::new("participants").with_children(recipients)]);

    let keepalive = Spec::new("iq")
        .with_attr("id", "12.34-5")
        .with_attr("xmlns", "w:p")
        .with_attr("type", "get")
        .with_jid("to", "", "s.whatsapp.net", 0);

    let success = Spec::new("success")
        .with_attr("t", "1763769600")
        .with_attr("props", "6532")
        .with_attr("abprops", "19")
        .with_attr("location", "frc")
        .with_jid("lid", "100000012345678", "lid", 7)
        .with_attr("creation", "1700000000");

    vec![
        Fixture {
            name: "message",
            spec: message,
        },
        Fixture {
            name: "fanout",
            spec: fanout,
        },
        Fixture {
            name: "keepalive",
            spec: keepalive,
        },
        Fixture {
            name: "success",
            spec: success,
        },
    ]
}

/// Builds our node from a spec.
///
/// # Panics
/// On a server name wa-core does not know (fixtures use known ones only).
pub fn to_wa(spec: &Spec) -> Node {
    let mut node = Node::new(spec.tag.as_str());
    for (key, value) in &spec.attrs {
        node = match value {
            SpecValue::Str(s) => node.with_attr(key.as_str(), s.as_str()),
            SpecValue::Jid(j) => {
                let server = Server::from_name(&j.server).expect("a known server");
                let jid = Jid::new(&j.user, server)
                    .with_agent(j.agent)
                    .with_device(j.device)
                    .with_integrator(j.integrator);
                node.with_attr(key.as_str(), jid)
            }
        };
    }
    match &spec.content {
        SpecContent::None => node,
        SpecContent::Bytes(b) => node.with_bytes(b.clone()),
        SpecContent::Text(t) => node.with_text(t.as_str()),
        SpecContent::Nodes(children) => node.with_children(children.iter().map(to_wa)),
    }
}

/// Describes one of our nodes (e.g. a decoded one) as a spec.
pub fn from_wa(node: &Node) -> Spec {
    Spec {
        tag: node.tag.as_str().to_owned(),
        attrs: node
            .attrs
            .iter()
            .map(|a| {
                let value = match &a.value {
                    Value::Str(s) => SpecValue::Str(s.as_str().to_owned()),
                    Value::Jid(j) => SpecValue::Jid(SpecJid {
                        user: j.user().to_owned(),
                        server: j.server().as_str().to_owned(),
                        agent: j.agent(),
                        device: j.device(),
                        integrator: j.integrator(),
                    }),
                };
                (a.key.as_str().to_owned(), value)
            })
            .collect(),
        content: match &node.content {
            Content::None => SpecContent::None,
            Content::Bytes(b) => SpecContent::Bytes(b.to_vec()),
            Content::Text(t) => SpecContent::Text(t.as_str().to_owned()),
            Content::Nodes(children) => SpecContent::Nodes(children.iter().map(from_wa).collect()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use wa_core::binary::{decode_frame, marshal};

    #[test]
    fn fixtures_round_trip_through_our_codec() {
        for f in fixtures(7) {
            let node = to_wa(&f.spec);
            assert_eq!(from_wa(&node), f.spec, "{}: spec → node → spec", f.name);
            let wire = marshal(&node).unwrap();
            let back = decode_frame(&Bytes::from(wire)).unwrap();
            assert_eq!(from_wa(&back), f.spec, "{}: encode → decode", f.name);
        }
    }

    #[test]
    fn fixtures_have_the_documented_sizes() {
        let sizes: Vec<(&str, usize)> = fixtures(7)
            .iter()
            .map(|f| (f.name, marshal(&to_wa(&f.spec)).unwrap().len()))
            .collect();
        let size = |name| sizes.iter().find(|(n, _)| *n == name).unwrap().1;
        // docs/performance.md: the message node is ≈300 bytes, the fan-out ≈2.3 KiB.
        assert!((280..=330).contains(&size("message")), "{sizes:?}");
        assert!((2200..=2450).contains(&size("fanout")), "{sizes:?}");
        // The keepalive is docs/protocol.md's worked example: 19 bytes with the flags byte.
        assert_eq!(size("keepalive"), 19, "{sizes:?}");
    }

    #[test]
    fn fixtures_depend_on_the_seed_only() {
        let a = fixtures(1);
        let b = fixtures(1);
        let c = fixtures(2);
        assert_eq!(a[0].spec, b[0].spec);
        assert_ne!(a[0].spec, c[0].spec);
    }
}
