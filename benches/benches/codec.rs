//! Node encode / decode: wa-core's binary codec against wacore-binary 0.7 (docs/performance.md
//! "Codec" peer) on the four docs/performance.md stanzas.
//!
//! Both libraries are handed the same node (built from one [`Spec`]). Before anything is
//! timed, every encoding is decoded by both decoders and compared with the spec, so a row
//! never compares two different pieces of work.
//!
//! Groups (see `wa_benches::report::CODEC_ROWS`):
//! - `codec_encode_<node>`: a node to a new `Vec` with the flags byte: our `marshal`;
//!   wacore's `marshal` and `marshal_auto` (the strategy its docs name for the send path).
//! - `codec_encode_reuse_<node>`: into a cleared, reused `Vec`: our `encode_node` after
//!   pushing the flags byte; wacore's `marshal_to_vec` (which writes the flags byte itself).
//! - `codec_decode_<node>`: node bytes (flags byte stripped) to an owned node: our
//!   `decode_node`; wacore's `unmarshal_ref(..).to_owned()`; and, for reference, wacore's
//!   borrowed `unmarshal_ref` alone. Each decoded node is dropped inside the timing.

use std::borrow::Cow;
use std::hint::black_box;

use bytes::Bytes;
use criterion::Criterion;
use wa_benches::nodes::{Spec, SpecContent, SpecJid, SpecValue, fixtures, from_wa, to_wa};
use wa_core::binary::{decode_node, encode_node, marshal};
use wacore_binary::marshal::unmarshal_ref;
use wacore_binary::{Attrs, NodeContent, NodeValue};

/// The same seed every run, so every run encodes the same bytes.
const SEED: u64 = 0x5eed_c0de;

/// wacore keys and tags are `Cow<'static, str>`; a real caller passes string literals, so
/// the bench gives it `'static` strings too (leaked once, at setup).
fn leak(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

fn to_wacore(spec: &Spec) -> wacore_binary::Node {
    let mut attrs = Attrs::with_capacity(spec.attrs.len());
    for (key, value) in &spec.attrs {
        let value = match value {
            SpecValue::Str(s) => NodeValue::String(s.as_str().into()),
            SpecValue::Jid(j) => NodeValue::Jid(wacore_binary::Jid {
                user: j.user.as_str().into(),
                server: wacore_binary::Server::parse_known(&j.server).expect("a known server"),
                agent: j.agent,
                device: j.device,
                integrator: j.integrator,
            }),
        };
        attrs.push(Cow::Borrowed(leak(key)), value);
    }
    let content = match &spec.content {
        SpecContent::None => None,
        SpecContent::Bytes(b) => Some(NodeContent::Bytes(b.clone())),
        SpecContent::Text(t) => Some(NodeContent::String(t.as_str().into())),
        SpecContent::Nodes(children) => {
            Some(NodeContent::Nodes(children.iter().map(to_wacore).collect()))
        }
    };
    wacore_binary::Node::new(leak(&spec.tag), attrs, content)
}

fn from_wacore(node: &wacore_binary::Node) -> Spec {
    Spec {
        tag: node.tag.to_string(),
        attrs: node
            .attrs
            .iter()
            .map(|(key, value)| {
                let value = match value {
                    NodeValue::String(s) => SpecValue::Str(s.to_string()),
                    NodeValue::Jid(j) => SpecValue::Jid(SpecJid {
                        user: j.user.to_string(),
                        server: j.server.as_str().to_owned(),
                        agent: j.agent,
                        device: j.device,
                        integrator: j.integrator,
                    }),
                };
                (key.to_string(), value)
            })
            .collect(),
        content: match &node.content {
            None => SpecContent::None,
            Some(NodeContent::Bytes(b)) => SpecContent::Bytes(b.clone()),
            Some(NodeContent::String(s)) => SpecContent::Text(s.to_string()),
            Some(NodeContent::Nodes(children)) => {
                SpecContent::Nodes(children.iter().map(from_wacore).collect())
            }
        },
    }
}

/// Checks that both encoders wrote the spec's node and both decoders read it back, from
/// either library's bytes. Returns the frame plaintext (flags byte + node) to decode.
fn verify(name: &str, spec: &Spec) -> Vec<u8> {
    let ours = marshal(&to_wa(spec)).expect("our encoder");
    let theirs = wacore_binary::marshal(&to_wacore(spec)).expect("wacore encoder");
    for (who, wire) in [("wa", &ours), ("wacore", &theirs)] {
        let by_us = decode_node(&Bytes::copy_from_slice(&wire[1..])).expect("our decoder");
        assert_eq!(&from_wa(&by_us), spec, "{name}: {who} bytes, decoded by wa");
        let by_them = unmarshal_ref(&wire[1..])
            .expect("wacore decoder")
            .to_owned();
        assert_eq!(
            &from_wacore(&by_them),
            spec,
            "{name}: {who} bytes, decoded by wacore"
        );
    }
    // Not required for a fair comparison (the check above is), but worth knowing.
    println!(
        "{name}: {} bytes encoded by wa, {} by wacore, {}",
        ours.len(),
        theirs.len(),
        if ours == theirs {
            "identical"
        } else {
            "different"
        }
    );
    ours
}

fn codec(c: &mut Criterion) {
    for fixture in fixtures(SEED) {
        let name = fixture.name;
        let frame = verify(name, &fixture.spec);
        let ours = to_wa(&fixture.spec);
        let theirs = to_wacore(&fixture.spec);

        let mut g = c.benchmark_group(format!("codec_encode_{name}"));
        g.bench_function("wa", |b| b.iter(|| marshal(black_box(&ours)).unwrap()));
        g.bench_function("wacore_marshal", |b| {
            b.iter(|| wacore_binary::marshal(black_box(&theirs)).unwrap())
        });
        g.bench_function("wacore_marshal_auto", |b| {
            b.iter(|| wacore_binary::marshal_auto(black_box(&theirs)).unwrap())
        });
        g.finish();

        let mut g = c.benchmark_group(format!("codec_encode_reuse_{name}"));
        let mut buf = Vec::with_capacity(64 << 10);
        g.bench_function("wa", |b| {
            b.iter(|| {
                buf.clear();
                buf.push(0);
                encode_node(black_box(&ours), &mut buf).unwrap();
                black_box(buf.len())
            })
        });
        g.bench_function("wacore", |b| {
            b.iter(|| {
                buf.clear();
                wacore_binary::marshal_to_vec(black_box(&theirs), &mut buf).unwrap();
                black_box(buf.len())
            })
        });
        g.finish();

        // Both decoders read the same bytes: the node part of our frame (`verify` showed
        // that both read both encodings correctly).
        let body = Bytes::copy_from_slice(&frame[1..]);
        let body_slice: &[u8] = &body;
        let mut g = c.benchmark_group(format!("codec_decode_{name}"));
        g.bench_function("wa", |b| b.iter(|| decode_node(black_box(&body)).unwrap()));
        g.bench_function("wacore_owned", |b| {
            b.iter(|| unmarshal_ref(black_box(body_slice)).unwrap().to_owned())
        });
        g.bench_function("wacore_borrowed", |b| {
            b.iter(|| unmarshal_ref(black_box(body_slice)).unwrap())
        });
        g.finish();
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    codec(&mut c);
    c.final_summary();
}
